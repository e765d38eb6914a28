//! Generation-checked integer handles and the slab that owns what they name.
//!
//! A handle packs a slot index and the slot's generation. Freeing a slot bumps
//! its generation, so an old handle can never reach the slot's next occupant:
//! it is rejected with [`Error::EBADHANDLE`].

use crate::error::{Error, Result};

/// An integer naming a socket or timer of one loop. Always positive.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Handle(i64);

/// Generations stay below 2^31 so a handle is a positive `i64`; a slot whose
/// generation would pass that is retired rather than reused.
const MAX_GENERATION: u32 = (1 << 31) - 1;

impl Handle {
    /// The handle as the integer the C API and bindings hand out.
    pub fn raw(self) -> i64 {
        self.0
    }

    /// Reads back an integer from a user. Any value is accepted here; the slab
    /// rejects the ones that name nothing.
    pub fn from_raw(raw: i64) -> Handle {
        Handle(raw)
    }

    fn new(index: u32, generation: u32) -> Handle {
        Handle(((generation as i64) << 32) | (index as i64 + 1))
    }

    /// The slot index, or `None` for values no slab ever hands out.
    pub(crate) fn index(self) -> Option<usize> {
        let low = (self.0 & 0xffff_ffff) as u64;
        (self.0 > 0 && low > 0).then(|| (low - 1) as usize)
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Owns values addressed by [`Handle`]s; O(1) insert, lookup and remove.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Slab<T> {
    pub fn new() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }

    /// Stores `value` and returns its new handle.
    pub fn insert(&mut self, value: T) -> Result<Handle> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len()).map_err(|_| Error::ENOMEM)?;
                if index == u32::MAX {
                    return Err(Error::ENOMEM);
                }
                // Generation 0 first: a slot's first handle is just its
                // index + 1, a small integer (cheap to box in Python).
                self.slots.push(Slot { generation: 0, value: None });
                index
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.value = Some(value);
        self.len += 1;
        Ok(Handle::new(index, slot.generation))
    }

    /// The value a live handle names.
    pub fn get_mut(&mut self, handle: Handle) -> Result<&mut T> {
        // Branch-free form of `handle.index()`: index bits of 0 wrap to an
        // index no slot has, and a negative handle's generation (>= 2^31)
        // matches no slot's.
        let index = (handle.0 as u32 as usize).wrapping_sub(1);
        match self.slots.get_mut(index) {
            Some(slot) if slot.generation == handle.generation() => slot.value.as_mut().ok_or(Error::EBADHANDLE),
            _ => Err(Error::EBADHANDLE),
        }
    }

    /// The live handle stored at `index` and its value, if any (used to map
    /// poll tokens).
    pub fn at_mut(&mut self, index: usize) -> Option<(Handle, &mut T)> {
        let slot = self.slots.get_mut(index)?;
        let value = slot.value.as_mut()?;
        Some((Handle::new(index as u32, slot.generation), value))
    }

    /// Removes and returns the value; the handle is stale from now on.
    pub fn remove(&mut self, handle: Handle) -> Result<T> {
        self.get_mut(handle)?;
        let index = handle.index().ok_or(Error::EBADHANDLE)?;
        let slot = &mut self.slots[index];
        let value = slot.value.take().ok_or(Error::EBADHANDLE)?;
        self.len -= 1;
        if slot.generation < MAX_GENERATION {
            slot.generation += 1;
            self.free.push(index as u32);
        }
        Ok(value)
    }

    /// Number of slots (live or free): the bound for `at_mut` indexes.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Number of live values.
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_are_rejected_after_reuse() {
        let mut slab = Slab::new();
        let a = slab.insert("a").unwrap();
        assert!(a.raw() > 0);
        assert_eq!(slab.remove(a), Ok("a"));
        let b = slab.insert("b").unwrap();
        assert_eq!(a.index(), b.index(), "the slot is reused");
        assert_ne!(a, b);
        assert_eq!(slab.get_mut(a).err(), Some(Error::EBADHANDLE));
        assert_eq!(slab.get_mut(b).map(|v| *v), Ok("b"));
        assert_eq!(slab.len(), 1);
    }

    #[test]
    fn junk_handles_are_rejected() {
        let mut slab: Slab<u8> = Slab::new();
        slab.insert(1).unwrap();
        for raw in [0, -1, i64::MIN, i64::MAX, 1 << 32, 12345] {
            assert_eq!(slab.get_mut(Handle::from_raw(raw)).err(), Some(Error::EBADHANDLE), "{raw}");
        }
    }
}
