//! Where servicing a socket writes its events (the poll's batch and the
//! arena their bytes live in), and what it asks of the reactor afterwards.
//! Every per-socket state machine writes here; none knows the loop.

use crate::error::Error;
use crate::event::{DataAt, Event};

/// Arena bytes after which a poll stops reading (the rest waits for the next
/// poll), so one busy loop never holds more than this much input at once.
pub(crate) const ARENA_BUDGET: usize = 4 << 20;

/// Where servicing writes events: the poll's batch, its arena, its capacity.
pub(crate) struct Out<'a> {
    pub arena: &'a mut Vec<u8>,
    pub events: &'a mut Vec<Event>,
    /// The loop's datagram receiver (none until a datagram socket needs it).
    pub datagrams: &'a mut Option<Box<crate::sys::Datagrams>>,
    pub cap: usize,
    /// Most bytes one read asks for.
    pub read_size: usize,
}

impl Out<'_> {
    /// No room for another data event (the caller's array or the arena is full).
    pub fn full(&self) -> bool {
        self.events.len() >= self.cap || self.arena.len() >= ARENA_BUDGET
    }

    /// Whether a frame of `len` bytes kept on a connection may be copied in:
    /// it must fit the budget, except that any frame may go into an empty
    /// arena (so a frame larger than the budget is delivered alone).
    pub fn fits(&self, len: usize) -> bool {
        self.events.len() < self.cap && (self.arena.is_empty() || self.arena.len() + len <= ARENA_BUDGET)
    }

    /// Takes no more data events this poll: a kept frame that did not fit
    /// waits for the next poll's empty arena, and nothing overtakes it.
    pub fn stop_data(&mut self) {
        self.cap = self.cap.min(self.events.len());
    }

    /// Adds an event without data. It may pass `cap`: the loop moves such
    /// overflow to the next poll, which is safe because it carries no bytes.
    pub fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Adds an event with a copy of `bytes` (kept on a connection, or kept
    /// by the host: then a datagram's sender path follows its data) at the
    /// end of the arena. Callers check [`Out::fits`] first.
    pub fn push_copy(&mut self, event: Event, bytes: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        let len = bytes.len().saturating_sub(usize::from(event.path_len));
        self.push_data(event, start, len);
    }

    /// Adds an event whose bytes are `arena[start..start + len]`. Callers
    /// check [`Out::full`] first.
    pub fn push_data(&mut self, event: Event, start: usize, len: usize) {
        self.events.push(event.with_data(DataAt::Arena(start), len));
    }
}

/// Empties the arena for a new poll. Memory a frame larger than the budget
/// left behind is given back, so one big frame does not stay the loop's
/// footprint.
pub(crate) fn reset_arena(arena: &mut Vec<u8>) {
    arena.clear();
    if arena.capacity() > ARENA_KEEP {
        *arena = Vec::new();
    }
}

/// The arena capacity kept between polls: the budget plus the largest read
/// (4 MiB), with room for the allocator's doubling.
const ARENA_KEEP: usize = 4 * ARENA_BUDGET;

/// What a poller event says of a socket: (readable, writable). An error or
/// a hang-up counts as both, so that the next read or write reports it.
#[inline(always)]
pub(crate) fn readiness(event: &mio::event::Event) -> (bool, bool) {
    let error = event.is_error();
    (event.is_readable() || event.is_read_closed() || error, event.is_writable() || event.is_write_closed() || error)
}

/// What the reactor must do with a socket after servicing it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing more until the next readiness event.
    Idle,
    /// Work is left (input waits, or the batch filled up): service it again
    /// after the handles already queued, in this poll while the batch and
    /// the arena have room, else in the next.
    Requeue,
    /// A kept frame waits for an empty arena: service it first next poll.
    RequeueFirst,
    /// The socket is finished: drop it and report `Closed` with this reason.
    Finish(Option<Error>),
}
