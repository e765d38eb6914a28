//! The events of one poll, handed to the caller with the lock that keeps
//! their bytes in place.

use mio::{Events, Poll};
use parking_lot::{Mutex, MutexGuard};

use crate::event::{DataAt, Event};
use crate::state::State;

/// What only the polling caller touches: mio's poll, the batch and its arena.
pub(crate) struct Poller {
    pub poll: Poll,
    pub events: Events,
    pub arena: Vec<u8>,
    pub batch: Vec<Event>,
    /// The datagram receiver, made by the first datagram socket serviced.
    pub datagrams: Option<Box<crate::sys::Datagrams>>,
    /// The poll that made this batch returned for a [`crate::Loop::wake`].
    pub woken: bool,
}

/// The events one poll returned. Holding a batch keeps other callers from
/// polling this loop (they get `EBUSY`); every other operation stays available.
pub struct Batch<'a> {
    pub(crate) guard: MutexGuard<'a, Poller>,
    pub(crate) state: &'a Mutex<State>,
}

impl Batch<'_> {
    /// The events, in order per handle.
    pub fn events(&self) -> &[Event] {
        &self.guard.batch
    }

    /// Whether a [`crate::Loop::wake`] (or [`crate::Loop::stop`]) ended the
    /// poll, for hosts that poll in slices and must tell a wake from a
    /// slice's end.
    pub fn woken(&self) -> bool {
        self.guard.woken
    }

    /// The bytes of an event of this batch (empty for events without data).
    /// They stay in place, at the same address, until the next poll of this
    /// loop: the C API hands that pointer out.
    pub fn data(&self, event: &Event) -> &[u8] {
        self.span(event, event.data_len()).unwrap_or(&[])
    }

    /// Where [`Batch::data`]'s [`Event::data_len`] bytes start, without
    /// `data`'s range check (a C poll copies every event): the batch placed
    /// the bytes itself.
    #[inline]
    pub fn data_ptr(&self, event: &Event) -> *const u8 {
        debug_assert!(self.span(event, event.data_len()).is_some());
        match (event.data_at(), &self.guard.datagrams) {
            (DataAt::Arena(offset), _) => self.guard.arena.as_ptr().wrapping_add(offset),
            (DataAt::Slot(slot), Some(receiver)) => receiver.slot_ptr(slot),
            // Never: the batch of a received datagram has the receiver.
            (DataAt::Slot(_), None) => std::ptr::null(),
        }
    }

    /// The first `len` bytes where the event's data starts: in the arena or
    /// in a received datagram's slot.
    #[inline]
    fn span(&self, event: &Event, len: usize) -> Option<&[u8]> {
        match (event.data_at(), &self.guard.datagrams) {
            (DataAt::Arena(offset), _) => self.guard.arena.get(offset..offset + len),
            (DataAt::Slot(slot), Some(receiver)) => receiver.bytes(slot, len),
            (DataAt::Slot(_), None) => None,
        }
    }

    /// The sender's path of a `Datagram` on a Unix datagram socket (`@name`
    /// in the abstract namespace), valid as long as [`Batch::data`]; `None`
    /// for an unnamed sender (which cannot be answered) and every other
    /// event.
    pub fn path(&self, event: &Event) -> Option<&str> {
        self.path_cstr(event)?.to_str().ok()
    }

    /// [`Batch::path`] with its NUL, as a C host hands it out.
    #[inline]
    pub fn path_cstr(&self, event: &Event) -> Option<&std::ffi::CStr> {
        if event.path_len == 0 {
            return None;
        }
        let bytes = self.span(event, event.data_len() + usize::from(event.path_len))?;
        std::ffi::CStr::from_bytes_with_nul(&bytes[event.data_len()..]).ok()
    }

    /// The bytes of an event with its sender's path after them, to keep.
    fn bytes_with_path(&self, event: &Event) -> &[u8] {
        self.span(event, event.data_len() + usize::from(event.path_len)).unwrap_or(&[])
    }

    /// Hands the events from index `from` on back to the loop, undelivered,
    /// for a host whose consumer stopped mid-batch (a callback raised): the
    /// next poll returns them first and alone, bytes included (copied out of
    /// the arena that poll reuses; at most one batch's worth is ever kept).
    /// The close rule holds throughout: an event of a handle the user closed
    /// since the poll, or closes while it waits, is dropped (never its
    /// `Closed`, which counts as undelivered: the handle answers `ECLOSED`
    /// until a poll hands it out again). Nothing is kept once the loop is
    /// closed.
    pub fn keep_from(self, from: usize) {
        let rest = self.guard.batch.get(from..).unwrap_or(&[]);
        self.state.lock().keep(rest.iter().map(|e| (e, self.bytes_with_path(e))));
    }
}
