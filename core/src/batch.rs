//! The events of one poll, handed to the caller with the lock that keeps
//! their bytes in place.

use mio::{Events, Poll};
use parking_lot::MutexGuard;

use crate::event::Event;

/// What only the polling caller touches: mio's poll, the batch and its arena.
pub(crate) struct Poller {
    pub poll: Poll,
    pub events: Events,
    pub arena: Vec<u8>,
    pub batch: Vec<Event>,
}

/// The events one poll returned. Holding a batch keeps other callers from
/// polling this loop (they get `EBUSY`); every other operation stays available.
pub struct Batch<'a> {
    pub(crate) guard: MutexGuard<'a, Poller>,
}

impl Batch<'_> {
    /// The events, in order per handle.
    pub fn events(&self) -> &[Event] {
        &self.guard.batch
    }

    /// The bytes of an event of this batch (empty for events without data).
    /// They stay in place, at the same address, until the next poll of this
    /// loop: the C API hands that pointer out.
    pub fn data(&self, event: &Event) -> &[u8] {
        self.guard.arena.get(event.data_start..event.data_start + event.data_len).unwrap_or(&[])
    }
}
