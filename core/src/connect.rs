//! Outgoing connections: the reactor's side of a [`Dialer`]. It carries out
//! the dialer's actions (resolver jobs, attempt sockets as internal
//! `Entry::Attempt` slab entries), reports its outcomes as events, and feeds
//! it what happened (resolutions, attempt outcomes, deadlines, losses).

use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use crate::addr;
use crate::dialer::{Action, DialEvent, DialId, Dialer};
use crate::error::Error;
use crate::event::{Event, EventKind};
use crate::handle::Handle;
use crate::state::{Entry, State};
use crate::tcp::attempt::{start_socket, Attempt, Dialing};
use crate::timer::Due;

impl State {
    fn dialing(&mut self, handle: Handle) -> Option<&mut Dialing> {
        match self.slab.get_mut(handle) {
            Ok(Entry::Conn(conn)) => conn.dialing.as_deref_mut(),
            _ => None,
        }
    }

    /// Feeds one input to an open connection's dialer, carries out the
    /// actions it queued, arms its deadline if that changed, and reports the
    /// outcomes it queued (those of earlier inputs first).
    pub(crate) fn dial(&mut self, handle: Handle, events: &mut Vec<Event>, input: impl FnOnce(&mut Dialer, Instant)) {
        self.dial_quietly(handle, input);
        while let Some(event) = self.dialing(handle).and_then(|d| d.dialer.poll_event()) {
            self.report(handle, event, events);
        }
    }

    /// [`State::dial`] but for the reports, which stay queued in the dialer
    /// (a user's connect call starts the I/O; the next poll reports).
    pub(crate) fn dial_quietly(&mut self, handle: Handle, input: impl FnOnce(&mut Dialer, Instant)) {
        let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else {
            return;
        };
        let closing = conn.is_closing();
        let Some(dialing) = conn.dialing.as_deref_mut() else {
            return;
        };
        if closing {
            dialing.dialer.stop_reconnecting();
        }
        let epoch = dialing.dialer.epoch();
        let now = Instant::now();
        input(&mut dialing.dialer, now);
        while let Some(action) = self.dialing(handle).and_then(|d| d.dialer.poll_action()) {
            self.carry_out(handle, action, now);
        }
        if let Some(dialer) = self.dialing(handle).map(|d| &d.dialer).filter(|d| d.epoch() != epoch) {
            let (when, epoch) = (dialer.poll_timeout(), dialer.epoch());
            self.arm(when, handle, Due::Dial, epoch);
        }
    }

    fn carry_out(&mut self, handle: Handle, action: Action, now: Instant) {
        match action {
            Action::Resolve { id, host, port } => {
                let known = self.static_hosts.get(&host.to_ascii_lowercase());
                let known = known.map(|ips| Ok(ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect()));
                let result = match known {
                    Some(result) => result,
                    None if addr::is_reserved_invalid(&host) => Err(Error::EDNS),
                    None => match self.spawn_resolver(handle, id, host, port) {
                        Ok(()) => return,
                        Err(e) => Err(e),
                    },
                };
                if let Some(d) = self.dialing(handle) {
                    d.dialer.handle_resolved(id, result, now);
                }
            }
            Action::StartAttempt { id, addr, local } => {
                let started = start_socket(addr, local)
                    .and_then(|sock| self.add(Entry::Attempt(Attempt { owner: handle, id, sock, queued: false })));
                match started {
                    Ok(attempt) => {
                        self.attempts += 1;
                        if let Some(d) = self.dialing(handle) {
                            d.add(id, attempt);
                        }
                    }
                    Err(e) => {
                        if let Some(d) = self.dialing(handle) {
                            d.dialer.handle_attempt_result(id, Err(e), now);
                        }
                    }
                }
            }
            Action::AbortAttempt { id } => {
                if let Some(mut sock) = self.take_attempt(handle, id) {
                    let _ = self.registry.deregister(&mut sock);
                }
            }
        }
    }

    fn report(&mut self, handle: Handle, event: DialEvent, events: &mut Vec<Event>) {
        match event {
            DialEvent::Connected { id, peer } => {
                let Some(sock) = self.take_attempt(handle, id) else {
                    return;
                };
                let connect_deadline = self.dialing(handle).and_then(|d| d.dialer.connect_deadline());
                let _ = sock.set_nodelay(true);
                let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else {
                    return;
                };
                conn.connected(sock.into());
                events.push(Event::new(EventKind::Connected, handle, conn.userdata()).with_addr(Some(peer)));
                // A TLS client's handshake is timed from here, within
                // what is left of the connect timeout.
                let tls_deadline = conn.tls_connected(Instant::now(), connect_deadline);
                if tls_deadline.is_some() {
                    self.arm(tls_deadline, handle, Due::Handshake, 0);
                }
                self.requeue(handle);
            }
            DialEvent::Reconnecting { attempt, error } => {
                let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else {
                    return;
                };
                if let Some(mut sock) = conn.reset_for_reconnect() {
                    let _ = self.registry.deregister(&mut sock);
                }
                let event = Event::new(EventKind::Reconnecting, handle, conn.userdata()).with_error(error);
                events.push(event.with_value(attempt as u64));
            }
            DialEvent::Failed(error) => {
                if let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) {
                    events.push(Event::new(EventKind::ConnectFailed, handle, conn.userdata()).with_error(Some(error)));
                }
                self.finish(handle, Some(error), events);
            }
            DialEvent::Closed(reason) => self.finish(handle, reason, events),
        }
    }

    /// Takes attempt `id` of a connection out of the slab, with its socket.
    fn take_attempt(&mut self, handle: Handle, id: DialId) -> Option<TcpStream> {
        let attempt = self.dialing(handle)?.take(id)?;
        let Ok(Entry::Attempt(attempt)) = self.slab.remove(attempt) else {
            return None;
        };
        self.attempts -= 1;
        Some(attempt.sock)
    }

    /// Checks an attempt after a readiness event and reports its outcome to
    /// the dialer. A connected socket is first registered for its
    /// connection, which it becomes if the dialer picks it.
    pub(crate) fn attempt_ready(&mut self, attempt: Handle, events: &mut Vec<Event>) {
        let Ok(Entry::Attempt(a)) = self.slab.get_mut(attempt) else {
            return;
        };
        let (owner, id) = (a.owner, a.id);
        let outcome = match a.sock.take_error() {
            Ok(Some(e)) | Err(e) => Err(Error::from(e)),
            Ok(None) => match a.sock.peer_addr() {
                Ok(peer) => {
                    let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
                    self.registry
                        .reregister(&mut a.sock, crate::state::token(owner), interest)
                        .map(|()| peer)
                        .map_err(Error::from)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return,
                Err(e) => Err(e.into()),
            },
        };
        self.dial(owner, events, |d, now| d.handle_attempt_result(id, outcome, now));
    }

    /// A connection ended (`reason`): an outgoing one's dialer decides
    /// whether it reconnects instead.
    pub(crate) fn lose(&mut self, handle: Handle, reason: Option<Error>, events: &mut Vec<Event>) {
        if self.dialing(handle).is_some() {
            self.dial(handle, events, |d, now| d.handle_lost(reason, now));
        } else {
            self.finish(handle, reason, events);
        }
    }

    /// Whether a connection still waits for resolution `id` (a resolver job
    /// for it is not cancelled).
    pub(crate) fn wants_resolution(&mut self, handle: Handle, id: DialId) -> bool {
        self.dialing(handle).is_some_and(|d| d.dialer.is_resolving(id))
    }
}
