//! Server control: accepting, the per-listener connection cap, descriptor
//! shortages, and graceful shutdown.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::handle::Handle;
use crate::out::Out;
use crate::state::{Entry, State};
use crate::tcp::conn::{Conn, Role};
use crate::tcp::listener::{Accepted, Drain, Gone};
use crate::timer::{later, Due};

/// How long a listener out of descriptors waits before accepting again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

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
            let userdata = l.userdata();
            match l.accept() {
                Accepted::Conn(sock, peer) => {
                    let mut conn = Conn::accepted(sock, userdata, listener);
                    // A TLS listener's connection starts its handshake at once;
                    // a session rustls refuses to start drops it unreported.
                    let tls = l.tls().map(|config| conn.start_tls(Role::Server(config), Instant::now()));
                    if let Some(Err(_)) = tls {
                        continue;
                    }
                    if let Ok(handle) = self.add(Entry::Conn(conn)) {
                        if let Some(Ok(deadline)) = tls {
                            self.arm(deadline, handle, Due::Handshake, 0);
                        }
                        if let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) {
                            l.count_connection();
                        }
                        let mut event = Event::new(EventKind::Accepted, handle, userdata).with_addr(peer);
                        event.listener = Some(listener);
                        out.push(event);
                    }
                }
                Accepted::Skip => {}
                Accepted::Stop => return,
                Accepted::Starved(error) => {
                    if let Some(error) = error {
                        out.push(Event::new(EventKind::Error, listener, userdata).with_error(Some(error)));
                    }
                    self.arm(later(Instant::now(), ACCEPT_RETRY), listener, Due::AcceptRetry, 0);
                    return;
                }
            }
        }
    }

    /// The accept retry of a listener out of descriptors is due: accept again.
    pub(crate) fn retry_accept(&mut self, listener: Handle) {
        if let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) {
            if l.retry_due() {
                self.requeue(listener);
            }
        }
    }

    /// A connection accepted by `listener` closed: accept again below the
    /// cap, or finish a graceful shutdown.
    pub(crate) fn connection_gone(&mut self, listener: Handle, events: &mut Vec<Event>) {
        let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) else {
            return;
        };
        match l.connection_gone() {
            Gone::ShutdownComplete => self.shutdown_complete(listener, events),
            Gone::Resume => self.requeue(listener),
            Gone::Nothing => {}
        }
    }

    /// Reports `ShutdownComplete`, then closes the listener.
    fn shutdown_complete(&mut self, listener: Handle, events: &mut Vec<Event>) {
        if let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) {
            events.push(Event::new(EventKind::ShutdownComplete, listener, l.userdata()));
            self.finish(listener, None, events);
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
        let (sock, left) = l.start_shutdown()?;
        if let Some(mut sock) = sock {
            let _ = self.registry.deregister(&mut sock);
        }
        if left == Drain::Complete {
            self.shutdown_complete(listener, events);
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
