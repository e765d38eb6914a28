//! Sends deferred to the end of the host's turn ([`crate::Loop::send_deferred`]):
//! the bytes of every connection's deferred sends, in order, in one
//! loop-wide buffer that is kept from turn to turn, so that deferring
//! allocates nothing once the buffer has grown to a turn's size. A
//! connection counts its own deferred bytes ([`crate::tcp::conn::Conn::defer`],
//! at most 4 KiB each), which bounds the buffer by the connections.

use crate::handle::Handle;

/// Room the buffer keeps from turn to turn at most: a turn that deferred
/// more (many connections) does not hold on to its peak.
const KEPT_ROOM: usize = 256 << 10;

/// The deferred bytes and whose they are.
#[derive(Default)]
pub(crate) struct Deferred {
    bytes: Vec<u8>,
    /// (connection, length) of consecutive stretches of `bytes`, in order;
    /// one connection's sends in a row make one run. A run sent early
    /// ([`Deferred::take_runs_of`]) is marked with a handle that names
    /// nothing.
    runs: Vec<(Handle, usize)>,
}

impl Deferred {
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Appends `data`, a send of `handle`'s.
    pub fn push(&mut self, handle: Handle, data: &[u8]) {
        match self.runs.last_mut() {
            Some((last, len)) if *last == handle => *len += data.len(),
            _ => self.runs.push((handle, data.len())),
        }
        self.bytes.extend_from_slice(data);
    }

    /// Calls `f` with each run, in order, and empties the buffer (keeping
    /// its room, up to [`KEPT_ROOM`]).
    pub fn drain(&mut self, mut f: impl FnMut(Handle, &[u8])) {
        let mut offset = 0;
        for &(handle, len) in &self.runs {
            if handle != Handle::NONE {
                f(handle, &self.bytes[offset..offset + len]);
            }
            offset += len;
        }
        self.runs.clear();
        self.bytes.clear();
        if self.bytes.capacity() > KEPT_ROOM {
            self.bytes.shrink_to(KEPT_ROOM);
            self.runs.shrink_to(KEPT_ROOM / 64);
        }
    }

    /// Calls `f` with each run of `handle`, in order, and marks them sent.
    pub fn take_runs_of(&mut self, handle: Handle, mut f: impl FnMut(&[u8])) {
        let mut offset = 0;
        for (owner, len) in &mut self.runs {
            if *owner == handle {
                f(&self.bytes[offset..offset + *len]);
                *owner = Handle::NONE;
            }
            offset += *len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_per_connection_in_a_row_and_come_out_in_order() {
        let (a, b) = (Handle::from_raw(1 << 32 | 1), Handle::from_raw(1 << 32 | 2));
        let mut deferred = Deferred::default();
        assert!(deferred.is_empty());
        deferred.push(a, b"head ");
        deferred.push(a, b"body");
        deferred.push(b, b"other");
        deferred.push(a, b"late");
        let mut early = Vec::new();
        deferred.take_runs_of(b, |bytes| early.push(bytes.to_vec()));
        assert_eq!(early, [b"other".to_vec()]);
        let mut runs = Vec::new();
        deferred.drain(|handle, bytes| runs.push((handle, bytes.to_vec())));
        assert_eq!(runs, [(a, b"head body".to_vec()), (a, b"late".to_vec())], "b's run went early");
        assert!(deferred.is_empty());
    }

    #[test]
    fn a_turn_that_deferred_much_does_not_keep_its_peak() {
        let mut deferred = Deferred::default();
        for raw in 1..=1000 {
            deferred.push(Handle::from_raw(1 << 32 | raw), &[0; 4096]);
        }
        deferred.drain(|_, _| {});
        assert!(deferred.bytes.capacity() <= KEPT_ROOM && deferred.runs.capacity() <= KEPT_ROOM / 64);
    }
}
