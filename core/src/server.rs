//! Server control: accepting, the per-listener connection cap, descriptor
//! shortages, and graceful shutdown.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::handle::Handle;
use crate::out::Out;
use crate::state::{Entry, State};
use crate::tcp::conn::Conn;
use crate::timer::{later, Due};

/// How long a listener out of descriptors waits before accepting again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

fn is_transient_accept_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM | libc::ENETDOWN | libc::EHOSTUNREACH)
    )
}

impl State {
    /// Accepts while the backlog, the batch and the connection cap allow.
    pub(crate) fn accept(&mut self, listener: Handle, out: &mut Out<'_>) {
        loop {
            if out.full() {
                return self.requeue(listener);
            }
            let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) else {
                return;
            };
            if (l.max_connections > 0 && l.active >= l.max_connections) || l.retry_armed {
                // `readable` stays set: accepting resumes when one closes,
                // or when the retry is due.
                return;
            }
            let Some(sock) = l.sock.as_ref() else { return };
            let userdata = l.userdata;
            match sock.accept() {
                Ok((sock, peer)) => {
                    l.starved = false;
                    let _ = sock.set_nodelay(true);
                    if let Ok(handle) = self.add(Entry::Conn(Conn::accepted(sock, userdata, listener))) {
                        if let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) {
                            l.active += 1;
                        }
                        let mut event = Event::new(EventKind::Accepted, handle, userdata).with_addr(Some(peer));
                        event.listener = Some(listener);
                        out.push(event);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    l.readable = false;
                    return;
                }
                Err(e) if is_transient_accept_error(&e) => {}
                Err(e) => {
                    // Out of descriptors or memory: try again shortly instead
                    // of spinning on a backlog we cannot drain.
                    if !std::mem::replace(&mut l.starved, true) {
                        out.push(Event::new(EventKind::Error, listener, userdata).with_error(Some(e.into())));
                    }
                    l.retry_armed = true;
                    self.arm(later(Instant::now(), ACCEPT_RETRY), listener, Due::AcceptRetry, 0);
                    return;
                }
            }
        }
    }

    /// The accept retry of a listener out of descriptors is due: accept again.
    pub(crate) fn retry_accept(&mut self, listener: Handle) {
        if let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) {
            l.retry_armed = false;
            self.requeue(listener);
        }
    }

    /// A connection accepted by `listener` closed: accept again below the
    /// cap, or finish a graceful shutdown.
    pub(crate) fn connection_gone(&mut self, listener: Handle, events: &mut Vec<Event>) {
        let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) else {
            return;
        };
        l.active = l.active.saturating_sub(1);
        if l.draining && l.active == 0 {
            let event = Event::new(EventKind::ShutdownComplete, listener, l.userdata);
            events.push(event);
            self.finish(listener, None, events);
        } else if l.readable {
            self.requeue(listener);
        }
    }

    /// Graceful server shutdown: stop accepting (the listening socket closes
    /// at once), close every connection of this listener gracefully, reset
    /// whatever is left after `drain` (never beyond [`crate::MAX_DURATION`]),
    /// then report `ShutdownComplete` and `Closed` for the listener.
    pub(crate) fn shutdown_server(&mut self, listener: Handle, drain: Duration, events: &mut Vec<Event>) -> Result<()> {
        self.entry(listener)?;
        let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) else {
            return Err(Error::EWRONGKIND);
        };
        if l.draining {
            return Err(Error::ECLOSED);
        }
        l.draining = true;
        if let Some(mut sock) = l.sock.take() {
            let _ = self.registry.deregister(&mut sock);
        }
        if l.active == 0 {
            l.active = 1;
            self.connection_gone(listener, events);
            return Ok(());
        }
        for handle in self.connections_of(listener) {
            if let Ok(Entry::Conn(c)) = self.slab.get_mut(handle) {
                if !c.is_closing() {
                    c.start_close(None);
                    c.want_flush();
                    self.requeue(handle);
                }
            }
        }
        self.arm(later(Instant::now(), drain), listener, Due::Drain, 0);
        Ok(())
    }

    /// The drain timeout of a shutdown passed: reset what is still open.
    pub(crate) fn drain_expired(&mut self, listener: Handle, events: &mut Vec<Event>) {
        for handle in self.connections_of(listener) {
            if let Ok(Entry::Conn(c)) = self.slab.get_mut(handle) {
                c.reset();
            }
            self.finish(handle, Some(Error::ETIMEDOUT), events);
        }
    }

    fn connections_of(&mut self, listener: Handle) -> Vec<Handle> {
        (0..self.slab.capacity())
            .filter_map(|i| match self.slab.at_mut(i) {
                Some((h, Entry::Conn(c))) if c.listener() == Some(listener) => Some(h),
                _ => None,
            })
            .collect()
    }
}
