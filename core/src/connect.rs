//! Establishing outgoing connections: resolution off the loop thread, Happy
//! Eyeballs (RFC 8305) attempts, connect timeout, auto-reconnect.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use crate::addr;
use crate::dialer::interleave;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::handle::Handle;
use crate::state::{Entry, State};
use crate::timer::{later, Due};

/// Default delay between staggered attempts (RFC 8305 "Connection Attempt Delay").
pub const DEFAULT_ATTEMPT_DELAY: Duration = Duration::from_millis(250);
/// Most delays in an auto-reconnect schedule.
pub const MAX_BACKOFF_STEPS: usize = 8;

/// Which address families a connection may use.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Family {
    /// Both, IPv6 first when the resolver says so (Happy Eyeballs).
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

/// How to make an outgoing connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Give up (`ETIMEDOUT`) if not connected within this time, resolution
    /// and every attempt included (beyond [`crate::MAX_DURATION`]: never).
    pub timeout: Option<Duration>,
    /// Address families allowed.
    pub family: Family,
    /// Bind the client socket to this local address first.
    pub local_addr: Option<SocketAddr>,
    /// Delay before starting the next attempt while earlier ones are still
    /// in flight (default 250 ms).
    pub attempt_delay: Option<Duration>,
    /// Auto-reconnect delays: empty = off; up to 8, the last repeats, the
    /// index resets after a successful connection. A delay beyond
    /// [`crate::MAX_DURATION`] never ends: the connection stays reconnecting
    /// until it is closed.
    pub reconnect: Vec<Duration>,
}

impl ConnectOptions {
    pub(crate) fn check(&self) -> Result<()> {
        let delay_ok = self.attempt_delay.is_none_or(|d| d <= Duration::from_secs(60));
        if self.reconnect.len() > MAX_BACKOFF_STEPS || !delay_ok || self.timeout == Some(Duration::ZERO) {
            return Err(Error::EINVAL);
        }
        let family_ok = match (self.family, self.local_addr) {
            (Family::V4, Some(a)) => a.is_ipv4(),
            (Family::V6, Some(a)) => a.is_ipv6(),
            _ => true,
        };
        family_ok.then_some(()).ok_or(Error::EINVAL)
    }

    pub(crate) fn allows(&self, addr: &SocketAddr) -> bool {
        let family_ok = match self.family {
            Family::Any => true,
            Family::V4 => addr.is_ipv4(),
            Family::V6 => addr.is_ipv6(),
        };
        family_ok && self.local_addr.is_none_or(|local| local.is_ipv4() == addr.is_ipv4())
    }
}

/// What an outgoing connection was asked for; kept for reconnects.
pub(crate) struct Dial {
    pub host: String,
    pub port: u16,
    pub opts: ConnectOptions,
    /// Tags the deadlines of the current connect cycle or backoff.
    pub epoch: u32,
    /// Next index into the reconnect schedule.
    pub backoff: usize,
    /// Reconnect attempts since the last success.
    pub attempt: u32,
}

/// One connect cycle in progress.
pub(crate) struct Connecting {
    /// Addresses to try, families interleaved (RFC 8305 §4).
    pub addrs: Vec<SocketAddr>,
    /// Index of the next address to try.
    pub next: usize,
    /// Why the last attempt failed (reported if every attempt fails).
    pub last_error: Error,
    /// Attempts in flight (internal `Entry::Attempt` handles).
    pub attempts: Vec<Handle>,
}

/// One socket racing to connect on behalf of a connection.
pub(crate) struct Attempt {
    pub owner: Handle,
    pub sock: TcpStream,
    pub queued: bool,
}

fn start_socket(addr: SocketAddr, local: Option<SocketAddr>) -> Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    if let Some(local) = local {
        sock.bind(&local.into())?;
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(TcpStream::from_std(sock.into()))
}

impl State {
    fn dial(&mut self, handle: Handle) -> Option<(&mut Dial, Option<&mut Connecting>)> {
        let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else {
            return None;
        };
        let dial = conn.dial.as_deref_mut()?;
        Some((dial, conn.connecting.as_deref_mut()))
    }

    /// Starts a connect cycle: resolve (literal at once, names on a helper
    /// thread), arm the timeout, start the first attempt.
    pub(crate) fn begin_connect(&mut self, handle: Handle, events: &mut Vec<Event>) -> Result<()> {
        let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else {
            return Err(Error::EBADHANDLE);
        };
        let Some(dial) = conn.dial.as_deref_mut() else {
            return Err(Error::EINVAL);
        };
        dial.epoch = dial.epoch.wrapping_add(1);
        let (epoch, port, timeout) = (dial.epoch, dial.port, dial.opts.timeout);
        let literal = addr::ip_literal(&dial.host).filter(|_| !dial.host.eq_ignore_ascii_case("localhost"));
        let host = dial.host.clone();
        conn.connecting =
            Some(Box::new(Connecting { addrs: Vec::new(), next: 0, last_error: Error::EDNS, attempts: Vec::new() }));
        if let Some(timeout) = timeout {
            self.arm(later(Instant::now(), timeout), handle, Due::ConnectTimeout, epoch);
        }
        let known = literal.map(|ip| vec![ip]).or_else(|| self.static_hosts.get(&host.to_ascii_lowercase()).cloned());
        match known {
            Some(ips) => {
                let addrs = ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect();
                self.resolved_addrs(handle, Ok(addrs), events)
            }
            None if addr::is_reserved_invalid(&host) => self.resolved_addrs(handle, Err(Error::EDNS), events),
            None => self.spawn_resolver(handle, epoch, host, port)?,
        }
        Ok(())
    }

    /// Takes a resolver result and starts attempting.
    pub(crate) fn resolved_addrs(&mut self, handle: Handle, result: Result<Vec<SocketAddr>>, events: &mut Vec<Event>) {
        let Some((dial, Some(connecting))) = self.dial(handle) else {
            return;
        };
        if !connecting.addrs.is_empty() {
            return;
        }
        match result {
            Ok(addrs) => {
                let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| dial.opts.allows(a)).collect();
                if allowed.is_empty() {
                    connecting.last_error = Error::EADDRNOTAVAIL;
                }
                connecting.addrs = interleave(allowed);
            }
            Err(e) => connecting.last_error = e,
        }
        self.start_attempt(handle, events);
    }

    /// Starts the next attempt (skipping addresses that fail at once), arms
    /// the stagger delay, and fails the connection when nothing is left.
    pub(crate) fn start_attempt(&mut self, handle: Handle, events: &mut Vec<Event>) {
        loop {
            let Some((dial, Some(connecting))) = self.dial(handle) else {
                return;
            };
            let Some(&addr) = connecting.addrs.get(connecting.next) else {
                if connecting.attempts.is_empty() {
                    let error = connecting.last_error;
                    self.connect_failed(handle, error, events);
                }
                return;
            };
            connecting.next += 1;
            let more = connecting.next < connecting.addrs.len();
            let (epoch, delay, local) =
                (dial.epoch, dial.opts.attempt_delay.unwrap_or(DEFAULT_ATTEMPT_DELAY), dial.opts.local_addr);
            let started = start_socket(addr, local)
                .and_then(|sock| self.add(Entry::Attempt(Attempt { owner: handle, sock, queued: false })));
            match started {
                Ok(attempt) => {
                    self.attempts += 1;
                    if let Some((_, Some(connecting))) = self.dial(handle) {
                        connecting.attempts.push(attempt);
                    }
                    if more {
                        self.arm(later(Instant::now(), delay), handle, Due::NextAttempt, epoch);
                    }
                    return;
                }
                Err(e) => {
                    if let Some((_, Some(connecting))) = self.dial(handle) {
                        connecting.last_error = e;
                    }
                }
            }
        }
    }

    /// Checks an attempt after a readiness event: the first success wins and
    /// the others are closed; a failure starts the next attempt at once.
    pub(crate) fn attempt_ready(&mut self, attempt: Handle, events: &mut Vec<Event>) {
        let Ok(Entry::Attempt(a)) = self.slab.get_mut(attempt) else {
            return;
        };
        let owner = a.owner;
        let outcome = match a.sock.take_error() {
            Ok(Some(e)) | Err(e) => Err(Error::from(e)),
            Ok(None) => match a.sock.peer_addr() {
                Ok(peer) => Ok(peer),
                Err(e) if e.kind() == std::io::ErrorKind::NotConnected => return,
                Err(e) => Err(e.into()),
            },
        };
        match outcome {
            Ok(peer) => self.attempt_won(owner, attempt, peer, events),
            Err(e) => {
                self.drop_attempt(attempt);
                if let Some((_, Some(connecting))) = self.dial(owner) {
                    connecting.attempts.retain(|&h| h != attempt);
                    connecting.last_error = e;
                }
                self.start_attempt(owner, events);
            }
        }
    }

    fn drop_attempt(&mut self, attempt: Handle) {
        if let Ok(Entry::Attempt(mut a)) = self.slab.remove(attempt) {
            self.attempts -= 1;
            let _ = self.registry.deregister(&mut a.sock);
        }
    }

    /// Closes every attempt of a connect cycle.
    pub(crate) fn abort_attempts(&mut self, handle: Handle) {
        let attempts = match self.dial(handle) {
            Some((_, Some(connecting))) => std::mem::take(&mut connecting.attempts),
            _ => return,
        };
        for attempt in attempts {
            self.drop_attempt(attempt);
        }
    }

    fn attempt_won(&mut self, owner: Handle, attempt: Handle, peer: SocketAddr, events: &mut Vec<Event>) {
        let Ok(Entry::Attempt(mut won)) = self.slab.remove(attempt) else {
            return;
        };
        self.attempts -= 1;
        if let Some((_, Some(connecting))) = self.dial(owner) {
            connecting.attempts.retain(|&h| h != attempt);
        }
        self.abort_attempts(owner);
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if let Err(e) = self.registry.reregister(&mut won.sock, crate::state::token(owner), interest) {
            return self.connect_failed(owner, e.into(), events);
        }
        let _ = won.sock.set_nodelay(true);
        let Ok(Entry::Conn(conn)) = self.slab.get_mut(owner) else {
            return;
        };
        conn.sock = Some(won.sock);
        conn.connecting = None;
        conn.write_ready = true;
        conn.readable = true;
        if let Some(dial) = conn.dial.as_deref_mut() {
            dial.backoff = 0;
            dial.attempt = 0;
        }
        events.push(Event::new(EventKind::Connected, owner, conn.userdata).with_addr(Some(peer)));
        self.requeue(owner);
    }

    /// A connect cycle failed: reconnect later if asked to, else report
    /// `ConnectFailed` and `Closed`.
    pub(crate) fn connect_failed(&mut self, handle: Handle, error: Error, events: &mut Vec<Event>) {
        if self.defer_connect_failures {
            if let Some((dial, Some(connecting))) = self.dial(handle) {
                connecting.last_error = error;
                let epoch = dial.epoch;
                self.arm(Some(Instant::now()), handle, Due::ConnectFailed, epoch);
                return;
            }
        }
        self.abort_attempts(handle);
        if self.schedule_reconnect(handle, Some(error), events) {
            return;
        }
        if let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) {
            events.push(Event::new(EventKind::ConnectFailed, handle, conn.userdata).with_error(Some(error)));
        }
        self.finish(handle, Some(error), events);
    }

    /// If the connection auto-reconnects (and the user has not closed it):
    /// forget the lost socket, report `Reconnecting` and arm the backoff.
    pub(crate) fn schedule_reconnect(&mut self, handle: Handle, error: Option<Error>, events: &mut Vec<Event>) -> bool {
        let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else {
            return false;
        };
        let Some(dial) = conn.dial.as_deref_mut() else {
            return false;
        };
        if dial.opts.reconnect.is_empty() || conn.closing {
            return false;
        }
        let delay = dial.opts.reconnect[dial.backoff.min(dial.opts.reconnect.len() - 1)];
        dial.backoff += 1;
        dial.attempt += 1;
        dial.epoch = dial.epoch.wrapping_add(1);
        let (epoch, attempt) = (dial.epoch, dial.attempt);
        if let Some(mut sock) = conn.sock.take() {
            let _ = self.registry.deregister(&mut sock);
        }
        conn.reset_for_reconnect();
        conn.connecting = None;
        let event = Event::new(EventKind::Reconnecting, handle, conn.userdata).with_error(error);
        events.push(event.with_value(attempt as u64));
        self.arm(later(Instant::now(), delay), handle, Due::Dial, epoch);
        true
    }

    /// Whether the connection still waits for the addresses of connect
    /// cycle `epoch` (a resolver job for it is not cancelled).
    pub(crate) fn wants_resolution(&mut self, handle: Handle, epoch: u32) -> bool {
        matches!(self.dial(handle), Some((dial, Some(c))) if dial.epoch == epoch && c.addrs.is_empty())
    }

    /// Whether a deadline tagged `epoch` still belongs to the connection's
    /// current connect cycle or backoff.
    pub(crate) fn dial_epoch_is(&mut self, handle: Handle, epoch: u32) -> bool {
        self.dial(handle).is_some_and(|(dial, _)| dial.epoch == epoch)
    }

    /// Runs a connect-related deadline.
    pub(crate) fn fire_connect_deadline(&mut self, handle: Handle, due: Due, epoch: u32, events: &mut Vec<Event>) {
        if !self.dial_epoch_is(handle, epoch) {
            return;
        }
        let connecting = matches!(self.dial(handle), Some((_, Some(_))));
        match due {
            Due::ConnectTimeout if connecting => self.connect_failed(handle, Error::ETIMEDOUT, events),
            Due::NextAttempt if connecting => self.start_attempt(handle, events),
            Due::ConnectFailed if connecting => {
                let error = self.dial(handle).and_then(|(_, c)| c.map(|c| c.last_error)).unwrap_or(Error::EDNS);
                self.connect_failed(handle, error, events)
            }
            Due::Dial if !connecting => {
                if let Err(e) = self.begin_connect(handle, events) {
                    self.connect_failed(handle, e, events);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked() {
        let mut opts = ConnectOptions { reconnect: vec![Duration::from_millis(1); 9], ..Default::default() };
        assert_eq!(opts.check(), Err(Error::EINVAL));
        opts.reconnect.truncate(8);
        assert_eq!(opts.check(), Ok(()));
        opts.family = Family::V6;
        opts.local_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(opts.check(), Err(Error::EINVAL));
    }
}
