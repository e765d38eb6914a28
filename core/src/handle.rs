//! Generation-checked, loop-scoped integer handles and the slab that owns
//! what they name.
//!
//! A handle packs, from the top, the slot's generation (21 bits), the tag of
//! the loop that made it (10 bits) and the slot index + 1 (22 bits): 53 bits,
//! so every handle is positive and exact in a JavaScript number. Freeing a
//! slot bumps its generation, so an old handle can never reach the slot's
//! next occupant, and every live loop holds its own tag, so a handle of one
//! loop names nothing in another: both are rejected with
//! [`Error::EBADHANDLE`]. The first loop of a process has tag 0, so its first
//! handles are small integers (1, 2, ...).

use parking_lot::Mutex;

use crate::error::{Error, Result};

/// An integer naming a socket or timer of one loop. Always positive.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Handle(i64);

const INDEX_BITS: u32 = 22;
const TAG_BITS: u32 = 10;
const GENERATION_BITS: u32 = 21;
/// Bits of the slot index + 1.
const INDEX_MASK: i64 = (1 << INDEX_BITS) - 1;
/// Most slots of one loop (index + 1 must fit its 22 bits).
const MAX_SLOTS: usize = INDEX_MASK as usize;
/// Most loops alive at once in a process: one tag each.
pub const MAX_LOOPS: usize = 1 << TAG_BITS;
/// A slot whose generation would pass this is retired rather than reused.
const MAX_GENERATION: u32 = (1 << GENERATION_BITS) - 1;

impl Handle {
    /// A handle of raw value 0, which names nothing (no slab hands it out).
    pub(crate) const NONE: Handle = Handle(0);

    /// The handle as the integer the C API and bindings hand out (below 2^53).
    pub fn raw(self) -> i64 {
        self.0
    }

    /// Reads back an integer from a user. Any value is accepted here; the slab
    /// rejects the ones that name nothing.
    pub fn from_raw(raw: i64) -> Handle {
        Handle(raw)
    }

    /// `stamp` is a slot's generation and its loop's tag, as [`Slot::stamp`].
    fn new(index: u32, stamp: u32) -> Handle {
        Handle(((stamp as i64) << INDEX_BITS) | (index as i64 + 1))
    }

    /// The slot index, or `None` for values no slab ever hands out.
    pub(crate) fn index(self) -> Option<usize> {
        let low = self.0 & INDEX_MASK;
        (self.0 > 0 && low > 0).then(|| (low - 1) as usize)
    }
}

/// The tag of a live loop, released for a new loop when dropped.
pub(crate) struct LoopTag(u32);

/// Which tags are taken: one bit each.
struct TagSet([u64; MAX_LOOPS / 64]);

impl TagSet {
    /// The lowest free tag; `EMFILE` when all [`MAX_LOOPS`] are taken.
    fn take(&mut self) -> Result<u32> {
        let (word, bits) = self.0.iter_mut().enumerate().find(|(_, bits)| **bits != u64::MAX).ok_or(Error::EMFILE)?;
        let bit = bits.trailing_ones();
        *bits |= 1 << bit;
        Ok(word as u32 * 64 + bit)
    }

    fn release(&mut self, tag: u32) {
        self.0[tag as usize / 64] &= !(1 << (tag % 64));
    }
}

/// The tags of the process's live loops.
static TAGS: Mutex<TagSet> = Mutex::new(TagSet([0; MAX_LOOPS / 64]));

impl LoopTag {
    /// The lowest free tag; `EMFILE` when [`MAX_LOOPS`] loops are alive.
    pub fn take() -> Result<LoopTag> {
        TAGS.lock().take().map(LoopTag)
    }
}

impl Drop for LoopTag {
    fn drop(&mut self) {
        TAGS.lock().release(self.0);
    }
}

struct Slot<T> {
    /// `generation << 10 | tag`: what the bits of a handle above its index
    /// must equal (one compare checks both).
    stamp: u32,
    value: Option<T>,
}

/// Owns values addressed by [`Handle`]s; O(1) insert, lookup and remove.
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    tag: LoopTag,
}

impl<T> Slab<T> {
    pub fn new(tag: LoopTag) -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0, tag }
    }

    /// Stores `value` and returns its new handle (`ENOMEM` past 2^22 - 1 slots).
    pub fn insert(&mut self, value: T) -> Result<Handle> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = self.slots.len();
                if index >= MAX_SLOTS {
                    return Err(Error::ENOMEM);
                }
                // Generation 0 first: with tag 0, a slot's first handle is
                // just its index + 1, a small integer (cheap to box in Python).
                self.slots.push(Slot { stamp: self.tag.0, value: None });
                index as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.value = Some(value);
        self.len += 1;
        Ok(Handle::new(index, slot.stamp))
    }

    /// The value a live handle names.
    pub fn get_mut(&mut self, handle: Handle) -> Result<&mut T> {
        // Branch-free form of `handle.index()`: index bits of 0 wrap to an
        // index no slot has; a negative handle's upper bits, or those of a
        // value of 2^53 or more, match no slot's stamp (below 2^31).
        let index = ((handle.0 & INDEX_MASK) as usize).wrapping_sub(1);
        match self.slots.get_mut(index) {
            Some(slot) if slot.stamp as i64 == handle.0 >> INDEX_BITS => slot.value.as_mut().ok_or(Error::EBADHANDLE),
            _ => Err(Error::EBADHANDLE),
        }
    }

    /// The live handle stored at `index` and its value, if any (used to map
    /// poll tokens).
    pub fn at_mut(&mut self, index: usize) -> Option<(Handle, &mut T)> {
        let slot = self.slots.get_mut(index)?;
        let value = slot.value.as_mut()?;
        Some((Handle::new(index as u32, slot.stamp), value))
    }

    /// Removes and returns the value; the handle is stale from now on.
    pub fn remove(&mut self, handle: Handle) -> Result<T> {
        self.get_mut(handle)?;
        let index = handle.index().ok_or(Error::EBADHANDLE)?;
        let slot = &mut self.slots[index];
        let value = slot.value.take().ok_or(Error::EBADHANDLE)?;
        self.len -= 1;
        if slot.stamp >> TAG_BITS < MAX_GENERATION {
            slot.stamp += 1 << TAG_BITS;
            self.free.push(index as u32);
        }
        Ok(value)
    }

    /// Drops every value at once (their handles are stale from now on).
    /// Generations restart, so only a slab that takes no more values may
    /// be cleared: a closed loop's.
    pub fn clear(&mut self) {
        self.slots = Vec::new();
        self.free = Vec::new();
        self.len = 0;
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

    fn slab<T>() -> Slab<T> {
        Slab::new(LoopTag::take().unwrap())
    }

    #[test]
    fn stale_handles_are_rejected_after_reuse() {
        let mut slab = slab();
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
        let mut slab: Slab<u8> = slab();
        let h = slab.insert(1).unwrap();
        let beyond_53_bits = h.raw() | 1 << 53;
        for raw in [0, -1, i64::MIN, i64::MAX, 1 << 32, 12345, beyond_53_bits, -h.raw()] {
            assert_eq!(slab.get_mut(Handle::from_raw(raw)).err(), Some(Error::EBADHANDLE), "{raw}");
        }
    }

    #[test]
    fn handles_of_another_slab_are_rejected_and_change_nothing() {
        let (mut a, mut b) = (slab(), slab());
        let ha = a.insert("a").unwrap();
        let hb = b.insert("b").unwrap();
        assert_eq!(ha.index(), hb.index(), "same slot index in both");
        assert_ne!(ha, hb);
        assert_eq!(b.get_mut(ha).err(), Some(Error::EBADHANDLE));
        assert_eq!(b.remove(ha).err(), Some(Error::EBADHANDLE));
        assert_eq!(a.get_mut(hb).err(), Some(Error::EBADHANDLE));
        assert_eq!((a.get_mut(ha).map(|v| *v), b.get_mut(hb).map(|v| *v)), (Ok("a"), Ok("b")));
        assert_eq!((a.len(), b.len()), (1, 1));
    }

    #[test]
    fn handles_stay_below_2_pow_53_and_retire_at_the_last_generation() {
        let mut slab = slab();
        let first = slab.insert(0).unwrap();
        slab.remove(first).unwrap();
        // Jump the slot to its last generation.
        slab.slots[0].stamp = MAX_GENERATION << TAG_BITS | slab.tag.0;
        let last = slab.insert(1).unwrap();
        assert!(last.raw() > 0 && last.raw() < 1 << 53, "{}", last.raw());
        assert_eq!(slab.remove(last), Ok(1));
        let next = slab.insert(2).unwrap();
        assert_ne!(next.index(), last.index(), "the exhausted slot is retired");
        assert_eq!(slab.get_mut(last).err(), Some(Error::EBADHANDLE));
    }

    #[test]
    fn tags_are_lowest_first_reused_after_release_and_run_out_clearly() {
        let mut set = TagSet([0; MAX_LOOPS / 64]);
        assert_eq!((set.take(), set.take(), set.take()), (Ok(0), Ok(1), Ok(2)));
        set.release(1);
        assert_eq!(set.take(), Ok(1), "the lowest free tag first");
        for want in 3..MAX_LOOPS as u32 {
            assert_eq!(set.take(), Ok(want));
        }
        assert_eq!(set.take(), Err(Error::EMFILE), "no tag left");
        set.release(700);
        assert_eq!(set.take(), Ok(700));
    }
}
