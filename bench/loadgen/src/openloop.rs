//! Open-loop mode (--mode openloop --rate R): requests leave on a fixed
//! schedule whatever the server does, and each one's latency runs from the
//! time it was *due*, not from when it was written (wrk2's correction of
//! coordinated omission): a server that stalls cannot hide the queue it
//! builds, because every request scheduled during the stall counts the stall.
//!
//! The schedule: R requests per second over all connections, each connection
//! at R / conns, the connections' phases evenly staggered; request k of
//! connection c is due at origin + (k * conns + c) / R. A connection holds at
//! most --depth requests in flight; one due while it is full leaves when
//! there is room, still timed from its due time. The run reports the rate it
//! asked for and the rate it achieved; a server that cannot keep up shows as
//! an achieved rate below the target (and as messages started late).
//!
//! mio rounds poll timeouts up to whole milliseconds, which would batch the
//! sends of a 30,000/s schedule into 1 ms bursts; a timerfd (nanosecond
//! resolution, no timer slack) registered in the same poll wakes the loop at
//! each due time instead.

use crate::{Conn, Gen, State};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// The timer's token: beyond every connection slot (slot_of ignores it).
const TIMER: Token = Token(usize::MAX);
/// A request started this much after its due time counts as started late.
const LATE: Duration = Duration::from_millis(1);

pub struct Schedule {
    /// Time between two requests of the whole run, in nanoseconds.
    gap_ns: f64,
    conns: u64,
    /// Set when the first requests may leave (after every connection is up).
    origin: Option<Instant>,
    timer: Timer,
    /// Requests started more than LATE after their due time.
    pub late: u64,
}

impl Schedule {
    pub fn new(rate: f64, conns: usize, registry: &Registry) -> io::Result<Schedule> {
        Ok(Schedule { gap_ns: 1e9 / rate, conns: conns as u64, origin: None, timer: Timer::new(registry)?, late: 0 })
    }

    fn due(&self, origin: Instant, slot: usize, k: u64) -> Instant {
        origin + Duration::from_nanos(((k * self.conns + slot as u64) as f64 * self.gap_ns) as u64)
    }

    /// Starts the requests of connection `slot` that are due by now, as far
    /// as its depth allows; each carries its due time as its start time.
    pub fn start_due(&mut self, slot: usize, c: &mut Conn, size: u64, depth: usize) {
        let Some(origin) = self.origin else { return };
        let now = Instant::now();
        while c.inflight.len() < depth {
            let due = self.due(origin, slot, c.started);
            if due > now {
                break;
            }
            if now - due > LATE {
                self.late += 1;
            }
            c.send_limit += size;
            c.inflight.push_back((c.send_limit, due));
            c.started += 1;
        }
    }
}

impl Gen {
    /// Called before each poll of an open-loop run: fixes the schedule's
    /// origin on the first call, starts every due request and sets the timer
    /// for the next one. Returns true when a connection failed meanwhile.
    pub(crate) fn start_scheduled(&mut self) -> bool {
        let Some(schedule) = self.schedule.as_mut() else { return false };
        if self.stopping || self.holding {
            return false;
        }
        let origin = *schedule.origin.get_or_insert_with(Instant::now);
        let mut failed = false;
        for slot in 0..self.slots.len() {
            if matches!(&self.slots[slot], Some(c) if c.state == State::Open) {
                failed |= self.service(slot, false).is_none();
            }
        }
        let Some(schedule) = self.schedule.as_mut() else { return failed };
        let next = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, c)| c.as_ref().map(|c| (slot, c)))
            .filter(|(_, c)| c.state == State::Open && c.inflight.len() < self.o.depth)
            .map(|(slot, c)| schedule.due(origin, slot, c.started))
            .min();
        if let Some(next) = next {
            if let Err(e) = schedule.timer.set(next.saturating_duration_since(Instant::now())) {
                self.stats.error(format!("timerfd: {e}"));
                return true;
            }
        }
        failed
    }
}

/// A one-shot CLOCK_MONOTONIC timerfd registered (readable) with the poll.
struct Timer {
    fd: OwnedFd,
}

impl Timer {
    fn new(registry: &Registry) -> io::Result<Timer> {
        // SAFETY: timerfd_create returns a new descriptor or -1; OwnedFd owns it.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), TIMER, Interest::READABLE)?;
        Ok(Timer { fd })
    }

    /// Fires once, `after` from now (at once for zero: 1 ns).
    fn set(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        // SAFETY: itimerspec is plain data; all-zero is a valid value.
        let mut spec: libc::itimerspec = unsafe { mem::zeroed() };
        spec.it_value.tv_sec = after.as_secs() as libc::time_t;
        spec.it_value.tv_nsec = after.subsec_nanos() as libc::c_long;
        // Drain an expiry already counted so edge-triggered readiness fires again.
        let mut ticks = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local buffer; sets the timer
        // from a valid itimerspec on a descriptor this struct owns.
        let rc = unsafe {
            libc::read(self.fd.as_raw_fd(), ticks.as_mut_ptr().cast(), ticks.len());
            libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut())
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    #[test]
    fn requests_are_due_on_a_staggered_grid() {
        let poll = Poll::new().unwrap();
        let s = Schedule::new(1000.0, 4, poll.registry()).unwrap();
        let o = Instant::now();
        // 1,000/s over 4 connections: connection 1's requests at 1, 5, 9 ms.
        assert_eq!(s.due(o, 1, 0) - o, Duration::from_millis(1));
        assert_eq!(s.due(o, 1, 2) - o, Duration::from_millis(9));
        assert_eq!(s.due(o, 3, 1) - o, Duration::from_millis(7));
    }

    #[test]
    fn the_timer_wakes_the_poll() {
        let mut poll = Poll::new().unwrap();
        let timer = Timer::new(poll.registry()).unwrap();
        let mut events = Events::with_capacity(4);
        for _ in 0..2 {
            timer.set(Duration::from_micros(200)).unwrap();
            poll.poll(&mut events, Some(Duration::from_secs(10))).unwrap();
            assert!(events.iter().any(|e| e.token() == TIMER));
        }
    }
}
