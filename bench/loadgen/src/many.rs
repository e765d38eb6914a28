//! Many-connections mode (--mode many --conns N --active A): N connections
//! open at once, A of them with a message in flight at any time. Each
//! connection first echoes --size bytes once (as in idle mode; an
//! "established" line is printed when all N are open, so a driver can read
//! the server's memory at N), then A workers ping-pong, each message on the
//! next connection in turn: a worker whose echo came back starts its next
//! message on the next idle connection of the cycle, so every connection is
//! used in turn and the server serves many connections of which few are busy.
//! Reports messages per second and latency (ping-pong, closed loop).

use crate::{secs, Gen, Report, State};
use mio::Events;
use std::io::{self, Write};
use std::time::Instant;

impl Gen {
    pub(crate) fn run_many(&mut self) -> io::Result<Report> {
        let n = self.o.conns;
        let active = self.o.active.min(n);
        let start = Instant::now();
        let hard_deadline = start + secs(self.o.timeout);
        let mut events = Events::with_capacity(1024);
        // Nothing of the connect phase is measured.
        self.measure_from = hard_deadline;
        let established = self.establish_held(&mut events, hard_deadline)?;
        println!(
            "{{\"event\":\"established\",\"mode\":\"many\",\"conns\":{established},\"elapsed_s\":{:.3},\"errors\":{}}}",
            start.elapsed().as_secs_f64(),
            self.stats.errors
        );
        let _ = io::stdout().flush();
        if established < n {
            return Ok(self.report(0.0));
        }
        self.measure_from = Instant::now() + secs(self.o.warmup);
        let until = self.measure_from + secs(self.o.duration.unwrap_or(5.0));
        self.measure_until = Some(until);
        let mut cursor = 0;
        let mut busy = 0;
        for _ in 0..active {
            busy += self.start_next(&mut cursor);
        }
        while busy > 0 {
            let now = Instant::now();
            if now >= hard_deadline {
                self.stats.error(format!("timeout: {busy} messages not echoed back"));
                break;
            }
            self.stopping = now >= until;
            let wake = if self.stopping { hard_deadline } else { until };
            for (_, before, after) in self.poll_once(&mut events, wake)? {
                if before != State::Open || after == Some(State::Open) {
                    continue;
                }
                // An echo came back (Held) or its connection failed (None):
                // that worker moves on to the next connection.
                busy -= 1;
                if !self.stopping {
                    busy += self.start_next(&mut cursor);
                }
            }
        }
        Ok(self.report(until.saturating_duration_since(self.measure_from).as_secs_f64()))
    }

    /// Starts one message on the next held connection from `cursor` on.
    /// Returns 1, or 0 when every connection is busy or gone.
    fn start_next(&mut self, cursor: &mut usize) -> usize {
        let n = self.slots.len();
        for _ in 0..n {
            let slot = *cursor;
            *cursor = (*cursor + 1) % n;
            let Some(c) = self.slots[slot].as_mut() else { continue };
            if c.state != State::Held {
                continue;
            }
            c.state = State::Open;
            c.target = c.started + 1;
            if self.service(slot, false) == Some(State::Open) {
                return 1;
            }
        }
        0
    }
}
