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
/// deadline is never removed early, it is just ignored when stale (its
/// `epoch` no longer matches its owner's).
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
    /// A connection attempt has not finished in time.
    ConnectTimeout,
    /// Happy Eyeballs: time to start the next attempt alongside the others.
    NextAttempt,
    /// Start a connect cycle: a new connection's first, or a reconnect once
    /// the backoff delay is over.
    Dial,
    /// A connect cycle failed inside the operation that started it: report it.
    ConnectFailed,
    /// Graceful server shutdown: force-close what is left.
    Drain,
}

/// The deadline heap.
pub(crate) struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, Handle, Due, u32)>>,
}

impl Deadlines {
    pub fn new() -> Self {
        Deadlines { heap: BinaryHeap::new() }
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
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Handle, Due, u32)> {
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
