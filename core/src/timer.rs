//! Deadlines (one binary heap for every timed thing in a loop: O(log n) per
//! timer) and user timers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::handle::Handle;

/// The longest duration netcore honours: 100 years of 365 days. This is the
/// one rule for every duration an operation takes (timer delay and period,
/// idle timeout, connect timeout, attempt and reconnect delays, shutdown
/// drain): a longer one means "never" — a timer that never fires, no idle
/// event, no connect timeout, a reconnect that never starts, a drain that is
/// never forced. Such a duration is accepted (the operation otherwise works as
/// usual), so a host may pass "practically infinite" without an error.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `delay` after `from`, or `None` (never) for a delay beyond [`MAX_DURATION`].
/// Every deadline is computed here: no `Instant + Duration` can overflow.
pub(crate) fn later(from: Instant, delay: Duration) -> Option<Instant> {
    if delay > MAX_DURATION {
        return None;
    }
    from.checked_add(delay)
}

/// Why a deadline was set. Firing checks that the reason still holds: a
/// cancelled or re-armed deadline is not searched for and removed, it goes
/// stale (its owner is gone or its `epoch` no longer matches) and is dropped
/// when it reaches the head of the heap or when the heap is compacted.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Due {
    /// A user timer expires.
    Timer,
    /// A connection's idle timeout may have passed.
    Idle,
    /// A graceful close has waited long enough for the peer's EOF.
    Linger,
    /// A listener out of descriptors may accept again.
    AcceptRetry,
    /// A connection's dialer has something due: the connect timeout, the
    /// next staggered attempt, or the end of a reconnect backoff.
    Dial,
    /// Graceful server shutdown: force-close what is left.
    Drain,
    /// A connection's TLS handshake may be late.
    Handshake,
}

/// One deadline: when, whose, why, and the owner's epoch when it was set.
pub(crate) type Deadline = (Instant, Handle, Due, u32);

/// Below this many deadlines the heap is never compacted.
const MIN_COMPACT: usize = 64;

/// The deadline heap. Stale deadlines are dropped lazily, but never pile up:
/// the heap holds at most about twice the live deadlines (plus
/// `MIN_COMPACT`), whatever the number of cancellations and their timeouts.
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<Deadline>>,
    /// The size after the last compaction (or pruning): compacting again
    /// only once the heap has doubled keeps the cost amortised O(1) per push.
    compacted: usize,
}

impl Deadlines {
    pub fn new() -> Self {
        Deadlines { heap: BinaryHeap::new(), compacted: 0 }
    }

    /// Deadlines held, live or stale.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drops stale deadlines from the head, so that [`Deadlines::next`] is a
    /// live one (a cancelled timer's expiry is not reported as a deadline).
    pub fn prune(&mut self, mut live: impl FnMut(&Deadline) -> bool) {
        let before = self.heap.len();
        while self.heap.peek().is_some_and(|Reverse(d)| !live(d)) {
            self.heap.pop();
        }
        if self.heap.len() < before {
            self.compacted = self.compacted.min(self.heap.len());
            self.fit();
        }
    }

    /// Keeps only live deadlines, once the heap has doubled since the last
    /// compaction.
    pub fn compact(&mut self, mut live: impl FnMut(&Deadline) -> bool) {
        if self.heap.len() < 2 * self.compacted.max(MIN_COMPACT) {
            return;
        }
        self.heap.retain(|Reverse(d)| live(d));
        self.compacted = self.heap.len();
        self.fit();
    }

    /// Returns memory a burst of deadlines left behind.
    fn fit(&mut self) {
        let room = 2 * self.heap.len().max(MIN_COMPACT);
        if self.heap.capacity() > 2 * room {
            self.heap.shrink_to(room);
        }
    }

    /// Adds a deadline for `handle`, tagged with the owner's current `epoch`;
    /// nothing when `when` is never.
    pub fn push(&mut self, when: Option<Instant>, handle: Handle, due: Due, epoch: u32) {
        if let Some(when) = when {
            self.heap.push(Reverse((when, handle, due, epoch)));
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((when, ..))| *when)
    }

    /// Removes and returns a deadline that is due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Deadline> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(item)| item)
    }
}

/// A user timer: one-shot or repeating.
pub(crate) struct Timer {
    pub userdata: u64,
    /// The period of a repeating timer.
    pub repeat: Option<Duration>,
    /// Bumped when the timer is re-armed, so earlier deadlines go stale.
    pub epoch: u32,
    pub queued: bool,
}

/// The next expiry of a repeating timer with `period` after one at `fired`:
/// one period later, or one period from `now` if the loop fell behind (no
/// bursts of catch-up events); never for a period beyond [`MAX_DURATION`].
pub(crate) fn next_expiry(fired: Instant, now: Instant, period: Duration) -> Option<Instant> {
    let next = later(fired, period)?;
    if next > now {
        Some(next)
    } else {
        later(now, period)
    }
}

/// A connection's idle timeout.
pub(crate) struct IdleTimeout {
    pub timeout: Duration,
    /// The last successful read or write (or when the timeout was set).
    pub last_io: Instant,
    /// The last time `Idle` fired: it re-arms from there.
    pub last_fired: Option<Instant>,
    pub epoch: u32,
}

impl IdleTimeout {
    /// When the timeout expires next (never beyond [`MAX_DURATION`]).
    pub fn expiry(&self) -> Option<Instant> {
        later(self.last_io.max(self.last_fired.unwrap_or(self.last_io)), self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_pop_in_time_order() {
        let mut d = Deadlines::new();
        let t0 = Instant::now();
        let h = Handle::from_raw(1 << 32 | 1);
        d.push(Some(t0 + Duration::from_millis(20)), h, Due::Timer, 0);
        d.push(Some(t0 + Duration::from_millis(10)), h, Due::Idle, 0);
        d.push(None, h, Due::Drain, 0);
        assert_eq!(d.next(), Some(t0 + Duration::from_millis(10)));
        assert!(d.pop_due(t0).is_none());
        assert_eq!(d.pop_due(t0 + Duration::from_millis(15)).map(|x| x.2), Some(Due::Idle));
        assert_eq!(d.pop_due(t0 + Duration::from_millis(30)).map(|x| x.2), Some(Due::Timer));
        assert!(d.pop_due(t0 + Duration::from_secs(1)).is_none());
        assert_eq!(d.next(), None, "a deadline that is never is not kept");
    }

    /// Start-and-cancel churn: one live deadline among many cancelled ones.
    #[test]
    fn cancelled_deadlines_do_not_pile_up() {
        let mut d = Deadlines::new();
        let t0 = Instant::now();
        let hour = Duration::from_secs(3600);
        let live = Handle::from_raw(1);
        d.push(Some(t0 + hour), live, Due::Timer, 0);
        for i in 0..200_000u32 {
            // Each push is a timer cancelled at once: only `live` stays live.
            d.push(Some(t0 + hour + Duration::from_nanos(i as u64)), Handle::from_raw(2), Due::Timer, i);
            d.compact(|&(_, h, ..)| h == live);
            assert!(d.len() <= 2 * MIN_COMPACT, "{} deadlines held after {i} cancellations", d.len());
        }
        assert!(d.heap.capacity() <= 8 * MIN_COMPACT, "capacity {} after the churn", d.heap.capacity());
        d.prune(|&(_, h, ..)| h == live);
        assert_eq!(d.next(), Some(t0 + hour), "the live deadline is kept");
        d.prune(|_| false);
        assert_eq!((d.next(), d.len()), (None, 0), "nothing live: nothing reported");
    }

    /// Compaction runs once per doubling of the heap: amortised O(1) per push.
    #[test]
    fn live_deadlines_survive_compaction_in_order() {
        let mut d = Deadlines::new();
        let t0 = Instant::now();
        let mut checked = 0;
        for i in (0..10_000u64).rev() {
            d.push(Some(t0 + Duration::from_millis(i)), Handle::from_raw(1), Due::Timer, i as u32);
            d.compact(|_| {
                checked += 1;
                true
            });
        }
        assert!(checked <= 2 * 10_000, "compaction checked {checked} deadlines for 10,000 pushes");
        for i in 0..10_000u64 {
            assert_eq!(d.pop_due(t0 + Duration::from_secs(60)).map(|x| x.3), Some(i as u32));
        }
    }

    #[test]
    fn repeating_timers_do_not_burst_after_a_stall() {
        let t0 = Instant::now();
        let period = Duration::from_millis(10);
        assert_eq!(next_expiry(t0, t0, period), Some(t0 + period));
        let late = t0 + Duration::from_millis(100);
        assert_eq!(next_expiry(t0 + period, late, period), Some(late + period));
    }

    #[test]
    fn durations_beyond_the_maximum_are_never_and_never_overflow() {
        let t0 = Instant::now();
        assert_eq!(later(t0, MAX_DURATION), t0.checked_add(MAX_DURATION));
        assert!(later(t0, MAX_DURATION).is_some(), "the maximum itself is honoured");
        for huge in [MAX_DURATION + Duration::from_nanos(1), Duration::from_secs(i64::MAX as u64), Duration::MAX] {
            assert_eq!(later(t0, huge), None);
            assert_eq!(next_expiry(t0, t0, huge), None);
            let idle = IdleTimeout { timeout: huge, last_io: t0, last_fired: Some(t0), epoch: 0 };
            assert_eq!(idle.expiry(), None);
        }
    }
}
