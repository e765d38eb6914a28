//! A connection's TLS: the session between the socket and the send queue /
//! framing (docs/design.md, "TLS"). Plaintext waits in the send queue until
//! the handshake is over, then the session takes it as its records leave;
//! it stays counted in the queue (water marks, queued bytes) until its
//! records are written, and its tokens fire then. The queue counts it as
//! the records it makes on the wire: the session cuts each message into
//! its own records, so the overhead is known when it is queued (TLS 1.3's
//! until the handshake chose the cipher suite). Input is read as
//! ciphertext into a per-thread buffer and decrypted into the arena, where
//! framing cuts it as usual.

use std::cell::RefCell;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::{report_sent, Conn, Recv};
use crate::error::{invalid, Error, Result};
use crate::event::{Event, EventKind};
use crate::handle::Handle;
use crate::out::{Out, Step};
use crate::sys;
use crate::tcp::stream::Stream;
use crate::tls::{ClientConfig, Failure, ServerConfig, Session, TlsEvent, TlsInfo};

thread_local! {
    /// Ciphertext of one read, before it is decrypted into the arena: one
    /// buffer per thread that services TLS connections, at most a read's
    /// size (`Loop::set_read_size`), so idle connections hold none.
    static CIPHERTEXT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// How a connection starts TLS.
pub(crate) enum Role<'a> {
    /// As a client verifying the server against this name.
    Client(&'a ClientConfig, &'a str),
    /// As a server.
    Server(&'a ServerConfig),
}

/// The TLS state of a connection.
pub(crate) struct Secure {
    session: Session,
    /// Bytes at the front of the send queue that the session took but
    /// whose records are not all written yet: they stay queued (so the
    /// water marks see them) and leave, firing their tokens, once they are.
    in_session: usize,
    /// close_notify is queued: no more plaintext goes in.
    closing: bool,
    /// A client's config and server name, for the fresh session a
    /// reconnect needs.
    client: Option<(ClientConfig, String)>,
}

/// Why STARTTLS is refused while input the user has not seen is kept:
/// it arrived after the upgrade point, so it must not pass for protected data.
pub(crate) fn input_after_upgrade_point() -> Error {
    invalid!("handle", "a connection with no undelivered input (bytes after the upgrade point are already buffered)")
}

impl Conn {
    /// Starts TLS on this connection (accepted by a TLS listener, connecting
    /// with TLS, or STARTTLS on a live one) and returns the handshake
    /// deadline for the reactor to arm. Refused if the connection already
    /// speaks TLS, is shutting down, or keeps input not yet delivered
    /// (plaintext that came after the upgrade point must not be taken for
    /// protected data). Bytes queued before go first, as plaintext (e.g. the
    /// "220 ready" an SMTP server sends before its STARTTLS).
    pub fn start_tls(&mut self, role: Role<'_>, now: Instant) -> Result<Option<Instant>> {
        if self.tls.is_some() {
            return Err(invalid!("handle", "a connection that does not speak TLS yet"));
        }
        if self.fin_requested() {
            return Err(Error::EPIPE);
        }
        if self.kept.is_some() {
            return Err(input_after_upgrade_point());
        }
        let (mut session, client) = match role {
            Role::Client(config, name) => {
                (Session::client(config, name, now)?, Some((config.clone(), name.to_owned())))
            }
            Role::Server(config) => (Session::server(config, now)?, None),
        };
        if !self.is_connected() {
            // Still dialing: the handshake is timed from the connection
            // ([`Conn::tls_connected`]), not through resolution and attempts.
            session.set_deadline(None);
        }
        let deadline = session.poll_timeout();
        self.sendq.set_record_layout(session.record_layout());
        self.tls = Some(Box::new(Secure { session, in_session: 0, closing: false, client }));
        self.refresh_plain();
        // The ClientHello (a client's) goes at the next service.
        self.write_ready = true;
        Ok(deadline)
    }

    /// Refuses plaintext the peer sent after the STARTTLS upgrade point
    /// (read, and cut into events of the batch being handled, before the
    /// upgrade): the session fails with `ETLSPROTOCOL` (`TlsFailed` is
    /// pushed) and the connection is reset. Returns the error to close with.
    pub fn refuse_plaintext_after_upgrade(&mut self, handle: Handle, events: &mut Vec<Event>) -> Error {
        if let Some(secure) = self.tls.as_deref_mut() {
            secure.session.refuse("plaintext arrived after the STARTTLS upgrade point");
        }
        self.tls_events(handle, events);
        self.reset();
        Error::ETLSPROTOCOL
    }

    /// The dialer connected this connection: a client's handshake is timed
    /// from now, and must also end by `connect_deadline` (the connect
    /// timeout covers the handshake). Returns the deadline for the reactor
    /// to arm.
    pub fn tls_connected(&mut self, now: Instant, connect_deadline: Option<Instant>) -> Option<Instant> {
        let secure = self.tls.as_deref_mut()?;
        let timeout = secure.client.as_ref()?.0.handshake_timeout();
        let own = crate::timer::later(now, timeout);
        secure.session.set_deadline(own.into_iter().chain(connect_deadline).min());
        secure.session.poll_timeout()
    }

    /// A reconnect starts a fresh client session (resumption may shorten
    /// it), timed from its connection ([`Conn::tls_connected`]).
    pub(super) fn restart_tls(&mut self) {
        let Some(secure) = self.tls.as_deref_mut() else {
            return;
        };
        // The config and name made a session before, so they make one
        // again; were that to fail, the old session stays (never plaintext).
        let fresh =
            secure.client.as_ref().and_then(|(config, name)| Session::client(config, name, Instant::now()).ok());
        if let Some(mut session) = fresh {
            // Timed from its connection: no deadline through the backoff.
            session.set_deadline(None);
            self.sendq.set_record_layout(session.record_layout());
            secure.session = session;
            secure.in_session = 0;
            secure.closing = false;
        }
    }

    /// The handshake deadline, while one is pending.
    pub fn tls_deadline(&self) -> Option<Instant> {
        self.tls.as_ref().and_then(|t| t.session.poll_timeout())
    }

    /// The handshake deadline passed: the error to close with (after
    /// pushing `TlsFailed`), if the handshake is indeed late.
    pub fn tls_timeout(&mut self, handle: Handle, now: Instant, events: &mut Vec<Event>) -> Option<Error> {
        let secure = self.tls.as_deref_mut()?;
        secure.session.handle_timeout(now);
        self.tls_events(handle, events);
        self.tls.as_ref().and_then(|t| t.session.failure()).map(|f| f.error)
    }

    /// The connection is closing with `error` (the peer's reset, an idle
    /// timeout…): a handshake under way on it is over too, so it owes its
    /// one `TlsFailed`, with that error (the failure record stays empty: the
    /// error is not TLS's).
    pub fn tls_interrupted(&mut self, handle: Handle, error: Error, events: &mut Vec<Event>) {
        let handshaking = self.tls.as_ref().is_some_and(|t| !t.session.is_ready() && t.session.failure().is_none());
        if handshaking && self.is_connected() {
            events.push(Event::new(EventKind::TlsFailed, handle, self.userdata).with_error(Some(error)));
        }
    }

    /// What the handshake negotiated (`None` before it is over, or without TLS).
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.tls.as_ref().and_then(|t| t.session.info())
    }

    /// The peer's certificate chain, copied (empty without one).
    pub fn tls_peer_certificates(&self) -> Vec<Vec<u8>> {
        self.tls.as_ref().map_or_else(Vec::new, |t| t.session.peer_certificates())
    }

    /// Why TLS failed, if it did.
    pub fn tls_failure(&self) -> Option<Failure> {
        self.tls.as_ref().and_then(|t| t.session.failure()).cloned()
    }

    /// Pushes the session's `TlsReady` or `TlsFailed`, if one is due.
    pub(super) fn tls_events(&mut self, handle: Handle, events: &mut Vec<Event>) {
        let Some(secure) = self.tls.as_deref_mut() else {
            return;
        };
        let Some(event) = secure.session.poll_event() else {
            return;
        };
        events.push(match event {
            TlsEvent::Ready => {
                // The cipher suite is known: queued bytes count its overhead.
                self.sendq.set_record_layout(secure.session.record_layout());
                Event::new(EventKind::TlsReady, handle, self.userdata)
            }
            TlsEvent::Failed(e) => Event::new(EventKind::TlsFailed, handle, self.userdata).with_error(Some(e)),
        });
    }

    /// After reading: the session's event, then its answer (handshake
    /// records) and the plaintext that waited for the handshake, then the
    /// shutdown or close under way.
    pub(super) fn after_tls_input(&mut self, handle: Handle, step: Step, out: &mut Out<'_>) -> Step {
        self.tls_events(handle, out.events);
        if step != Step::Idle {
            return step;
        }
        if let Err(e) = self.flush(handle, out.events) {
            return Step::Finish(Some(e));
        }
        if self.sendq.writable_due() && !self.is_closing() {
            out.push(Event::new(EventKind::Writable, handle, self.userdata));
        }
        if self.phase.has(super::FIN) {
            return self.advance_fin();
        }
        Step::Idle
    }

    /// Writes the session's records, and hands it queued plaintext once the
    /// handshake is over, until the kernel would block or nothing is left.
    /// Tokens fire once the records of their messages are written.
    /// After our FIN nothing can be written: records the session makes
    /// then (a TLS 1.3 server's session tickets, when a close came during
    /// its handshake) are not sent.
    pub(super) fn flush_tls(&mut self, handle: Handle, events: &mut Vec<Event>) -> Result<()> {
        let (Some(sock), Some(secure)) = (&self.sock, self.tls.as_deref_mut()) else {
            return Ok(());
        };
        if self.phase.has(super::FIN_SENT) {
            return Ok(());
        }
        let mut writer: &Stream = sock;
        let mut wrote = false;
        // Bytes queued before TLS started (STARTTLS) go first, as plaintext.
        while self.sendq.unframed() > 0 {
            let mut slices: [&[u8]; sys::MAX_IOV] = [&[]; sys::MAX_IOV];
            let count = self.sendq.slices(&mut slices);
            let count = truncate(&mut slices[..count], self.sendq.unframed());
            match Conn::transmit(sock.as_raw_fd(), &slices[..count]) {
                Ok(n) => {
                    wrote |= n > 0;
                    report_sent(events, handle, self.userdata, self.sendq.consume(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        let result = loop {
            if self.sendq.unframed() > 0 {
                break Ok(());
            }
            if secure.session.wants_write() {
                match secure.session.write_tls(&mut writer) {
                    Ok(n) => wrote |= n > 0,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                    Err(e) => break Err(Error::from(e)),
                }
                if secure.session.wants_write() {
                    break Ok(());
                }
            }
            if secure.in_session > 0 {
                report_sent(events, handle, self.userdata, self.sendq.consume(std::mem::take(&mut secure.in_session)));
            }
            if self.sendq.len() == 0 || !secure.session.is_ready() || secure.closing {
                break Ok(());
            }
            let mut slices: [&[u8]; sys::MAX_IOV] = [&[]; sys::MAX_IOV];
            let count = self.sendq.slices(&mut slices);
            secure.in_session = match secure.session.write_plaintext(&slices[..count]) {
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            if secure.in_session == 0 {
                break Ok(());
            }
        };
        if wrote {
            self.touch();
        }
        result
    }

    /// For a shutdown or close: queues close_notify once the data is
    /// written, and says whether it is written too (then the FIN may go).
    /// A failed session sends none; a socket error gives up on it.
    pub(super) fn tls_close_flushed(&mut self) -> bool {
        let (Some(sock), Some(secure)) = (&self.sock, self.tls.as_deref_mut()) else {
            return true;
        };
        if !secure.closing {
            if secure.session.wants_write() {
                // flush_tls finishes the data (and fires its tokens) first.
                return false;
            }
            secure.closing = true;
            secure.session.close();
        }
        let mut writer: &Stream = sock;
        match secure.session.write_tls(&mut writer) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => true,
            _ => !secure.session.wants_write(),
        }
    }

    /// One read of ciphertext, decrypted onto the end of `buf` (framing
    /// cuts it there): `Bytes(0)` when the records held no data (handshake,
    /// alerts). The peer's close_notify is `Eof` (on the call after the one
    /// that read it); its EOF without close_notify is `ETLSTRUNCATED`,
    /// unless we sent close_notify or closed first. A failure writes the
    /// alert rustls queued, once, so the peer learns why.
    pub(super) fn recv_tls(&mut self, fd: std::os::fd::RawFd, buf: &mut Vec<u8>, size: usize) -> Recv {
        let before = buf.len();
        let Some(secure) = self.tls.as_deref_mut() else {
            return Recv::Drained;
        };
        // Nothing after the peer's close_notify counts: it is the EOF, even
        // while the peer keeps its socket open for our close_notify (as
        // asyncio does before its FIN).
        if secure.session.received_close_notify() {
            self.readable = false;
            self.on_peer_eof();
            return Recv::Eof;
        }
        let (read, input) = CIPHERTEXT.with_borrow_mut(|ciphertext| {
            ciphertext.clear();
            let read = sys::recv_append(fd, ciphertext, size);
            let input = match read {
                Ok(n) if n > 0 => secure.session.handle_input(ciphertext, buf),
                _ => Ok(()),
            };
            (read, input)
        });
        match (read, input) {
            (Ok(0), _) => {
                self.readable = false;
                let closing = self.is_closing();
                let clean = self
                    .tls
                    .as_deref_mut()
                    .is_none_or(|secure| secure.closing || closing || secure.session.handle_eof().is_ok());
                if !clean {
                    return Recv::Failed(Error::ETLSTRUNCATED);
                }
                self.on_peer_eof();
                Recv::Eof
            }
            (Ok(n), Ok(())) => {
                self.touch();
                // A close_notify read now is reported by the next call.
                let notified = self.tls.as_deref().is_some_and(|secure| secure.session.received_close_notify());
                if n < size && !self.read_closed && !notified {
                    self.readable = false;
                }
                Recv::Bytes(buf.len() - before)
            }
            (Ok(_), Err(e)) => {
                if let (Some(sock), Some(secure)) = (&self.sock, self.tls.as_deref_mut()) {
                    let mut writer: &Stream = sock;
                    let _ = secure.session.write_tls(&mut writer);
                }
                Recv::Failed(e)
            }
            (Err(e), _) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Recv::Drained
            }
            (Err(e), _) => Recv::Failed(e.into()),
        }
    }
}

/// Shortens `slices` to their first `budget` bytes; returns how many are left.
fn truncate(slices: &mut [&[u8]], mut budget: usize) -> usize {
    for (i, slice) in slices.iter_mut().enumerate() {
        if slice.len() >= budget {
            *slice = &slice[..budget];
            return i + 1;
        }
        budget -= slice.len();
    }
    slices.len()
}
