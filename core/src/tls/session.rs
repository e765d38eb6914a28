//! One connection's TLS session, sans I/O (in the style of quinn-proto): the
//! caller feeds it the bytes it read (`handle_input`), the peer's EOF
//! (`handle_eof`) and the time (`handle_timeout`), hands it plaintext to
//! send (`write_plaintext`), and takes out what to write to the socket
//! (`write_tls`), the handshake deadline (`poll_timeout`) and the one event
//! of the handshake (`poll_event`). It never touches a socket or a clock, so
//! it is tested with two sessions talking in memory on a fake clock.
//!
//! The pitfalls other projects met with rustls' buffered API are handled
//! here: the plaintext is drained after every `process_new_packets` (or
//! rustls stops with "received plaintext buffer full"); a large read is fed
//! to `read_tls` in slices (it takes at most a record's worth per call);
//! reading never waits on writing (a caller that cannot write still feeds
//! input); after a failure `wants_write` stays true until the alert rustls
//! queued has been written, so the peer learns why.

use std::io::{self, Read, Write};
use std::time::Instant;

use rustls::{CertificateError, Connection, HandshakeKind, InvalidMessage};
use rustls_pki_types::ServerName;

use super::{ClientConfig, Failure, ServerConfig, TlsEvent, TlsInfo, TlsVersion, VerifyServer};
use crate::error::{invalid, Error, Result};
use crate::sendq::RecordLayout;
use crate::timer;

/// Most plaintext bytes in one record (rustls' and the protocol's limit).
const MAX_RECORD_PLAINTEXT: usize = 16_384;
/// Record header (type, version, length) and AEAD tag, in every version.
const RECORD_HEADER: usize = 5;
const AEAD_TAG: usize = 16;
/// Most plaintext one `write_plaintext` takes: four full records (what
/// rustls would buffer by default), so a large message is not all
/// encrypted ahead of the socket.
const TAKE_BUDGET: usize = 4 * MAX_RECORD_PLAINTEXT;

/// A client's server name: a DNS name or an IP address (an IPv6 one may
/// be in brackets).
pub(super) fn parse_server_name(server_name: &str) -> Result<ServerName<'static>> {
    let name = server_name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(server_name);
    ServerName::try_from(name.to_owned()).map_err(|_| invalid!("server_name", "a DNS name or an IP address"))
}

/// Where the session is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    Handshaking,
    Ready,
    Failed,
}

/// A TLS session (client or server) without I/O.
pub struct Session {
    conn: Connection,
    state: State,
    /// When the handshake must have finished (`None`: no limit).
    deadline: Option<Instant>,
    /// The event owed to the user, if any.
    event: Option<TlsEvent>,
    failure: Option<Box<Failure>>,
    /// The peer sent close_notify.
    close_notify: bool,
    /// A certificate the peer sends is verified (not for a client with
    /// [`VerifyServer::Off`]).
    verifies_peer: bool,
}

impl Session {
    /// A client session that verifies the server's certificate against
    /// `server_name` (a DNS name, sent as SNI, or an IP address, which is
    /// verified but not sent), starting at `now`.
    pub fn client(config: &ClientConfig, server_name: &str, now: Instant) -> Result<Session> {
        let conn = rustls::ClientConnection::new(config.rustls().clone(), parse_server_name(server_name)?)
            .map_err(|_| invalid!("server_name", "a DNS name or an IP address"))?;
        let verifies_peer = config.verify_server() != VerifyServer::Off;
        Ok(Session::new(conn.into(), timer::later(now, config.handshake_timeout()), verifies_peer))
    }

    /// A server session, starting at `now`.
    pub fn server(config: &ServerConfig, now: Instant) -> Result<Session> {
        // rustls fails here only on a config it cannot use; the config was
        // checked when it was built.
        let conn = rustls::ServerConnection::new(config.rustls().clone()).map_err(|_| Error::ETLSPROTOCOL)?;
        Ok(Session::new(conn.into(), timer::later(now, config.handshake_timeout()), true))
    }

    fn new(mut conn: Connection, deadline: Option<Instant>, verifies_peer: bool) -> Session {
        // `write_plaintext` bounds what it hands over itself, cutting only
        // at record boundaries: rustls' own limit would cut anywhere.
        conn.set_buffer_limit(None);
        let (event, failure, close_notify) = (None, None, false);
        Session { conn, state: State::Handshaking, deadline, event, failure, close_notify, verifies_peer }
    }

    /// Takes bytes read from the peer: decrypts them, appending the
    /// plaintext to `plaintext` (never more bytes than `ciphertext` holds).
    /// An error is the session's failure (reported once by `poll_event`);
    /// the alert it queued still wants writing.
    pub fn handle_input(&mut self, mut ciphertext: &[u8], plaintext: &mut Vec<u8>) -> Result<()> {
        if let Some(failure) = &self.failure {
            return Err(failure.error);
        }
        while !ciphertext.is_empty() {
            // `&[u8]` reads advance the slice: rustls takes what fits.
            if let Err(e) = self.conn.read_tls(&mut ciphertext) {
                return Err(self.fail(Error::ETLSPROTOCOL, None, e.to_string()));
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    let (error, alert) = classify(&e, self.state);
                    return Err(self.fail(error, alert, e.to_string()));
                }
            };
            self.close_notify |= state.peer_has_closed();
            let start = plaintext.len();
            let n = state.plaintext_bytes_to_read();
            plaintext.resize(start + n, 0);
            // rustls said it holds `n` bytes: reading them cannot fail.
            if self.conn.reader().read_exact(&mut plaintext[start..]).is_err() {
                plaintext.truncate(start);
            }
            if self.state == State::Handshaking && !self.conn.is_handshaking() {
                self.state = State::Ready;
                self.deadline = None;
                self.event = Some(TlsEvent::Ready);
            }
        }
        Ok(())
    }

    /// The peer's EOF: fine after its close_notify, otherwise the session
    /// fails with `ETLSTRUNCATED` (a handshake cut short, or data that may
    /// have been truncated by an attacker).
    pub fn handle_eof(&mut self) -> Result<()> {
        if let Some(failure) = &self.failure {
            return Err(failure.error);
        }
        if self.received_close_notify() {
            return Ok(());
        }
        Err(self.fail(Error::ETLSTRUNCATED, None, "the peer closed the connection without close_notify".into()))
    }

    /// The time is `now`: a handshake past its deadline fails with
    /// `ETLSTIMEDOUT`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Handshaking && self.deadline.is_some_and(|d| now >= d) {
            self.fail(Error::ETLSTIMEDOUT, None, "the handshake did not finish in time".into());
        }
    }

    /// Moves the handshake deadline (`None`: no deadline yet), while
    /// handshaking: a client's handshake is timed from its connection, not
    /// from when its session was made (a reconnect's fresh session waits
    /// through the backoff and the connect first).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        if self.state == State::Handshaking {
            self.deadline = deadline;
        }
    }

    /// When [`Session::handle_timeout`] must be called next: the handshake
    /// deadline while handshaking, otherwise never.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Handshaking => self.deadline,
            State::Ready | State::Failed => None,
        }
    }

    /// The event owed to the user, once: exactly one `Ready` or `Failed`
    /// per handshake. A failure after `Ready` (a TLS 1.3 client learns only
    /// after its Finished that the server refused its certificate) is no
    /// event: it is the error `handle_input` or `handle_eof` returns, and
    /// [`Session::failure`] has it.
    pub fn poll_event(&mut self) -> Option<TlsEvent> {
        self.event.take()
    }

    /// Takes plaintext to send, each buffer (one queued message, or its
    /// rest from a record boundary) cut into its own records of
    /// [`Session::record_layout`]: returns how many bytes it took, at most
    /// 64 KiB, stopping at a record boundary inside a buffer.
    /// Taken before the handshake ends, they are sent once it does.
    pub fn write_plaintext(&mut self, bufs: &[&[u8]]) -> Result<usize> {
        if let Some(failure) = &self.failure {
            return Err(failure.error);
        }
        let mut taken = 0;
        for buf in bufs.iter().filter(|b| !b.is_empty()) {
            let budget = TAKE_BUDGET - taken;
            let want = if buf.len() <= budget { buf.len() } else { budget - budget % MAX_RECORD_PLAINTEXT };
            if want == 0 {
                break;
            }
            // rustls' writer never fails, and with no buffer limit it takes
            // everything (a write that would need new keys first stops
            // early, at a record boundary).
            let n = self.conn.writer().write(&buf[..want]).unwrap_or(0);
            taken += n;
            if n < buf.len() {
                break;
            }
        }
        Ok(taken)
    }

    /// How messages handed to [`Session::write_plaintext`] are cut into
    /// records: the negotiated cipher suite's overhead, or TLS 1.3's (the
    /// usual case) until the handshake chose one.
    pub fn record_layout(&self) -> RecordLayout {
        let per_record = match self.conn.negotiated_cipher_suite() {
            // TLS 1.2 AEADs: an explicit nonce (8 B for AES-GCM, none for
            // ChaCha20-Poly1305) and the tag.
            Some(rustls::SupportedCipherSuite::Tls12(suite)) => {
                suite.aead_alg.key_block_shape().explicit_nonce_len + AEAD_TAG
            }
            // TLS 1.3: the inner content type byte and the tag.
            _ => 1 + AEAD_TAG,
        };
        RecordLayout { max_plaintext: MAX_RECORD_PLAINTEXT, overhead: RECORD_HEADER + per_record }
    }

    /// Whether records (or an alert) wait to be written.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes waiting records to `out` (the socket, or memory), as much as it
    /// takes; `WouldBlock` passes through. Called after a failure too, so the
    /// alert reaches the peer.
    pub fn write_tls(&mut self, out: &mut dyn Write) -> io::Result<usize> {
        let mut total = 0;
        while self.conn.wants_write() {
            match self.conn.write_tls(out) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && total > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(total)
    }

    /// Queues close_notify (after what was written before it): a graceful
    /// close writes it, then the FIN. Does nothing after a failure.
    pub fn close(&mut self) {
        if self.failure.is_none() {
            self.conn.send_close_notify();
        }
    }

    /// The connection refuses the session for a reason of its own (the
    /// peer sent plaintext after the STARTTLS upgrade point): it fails with
    /// `ETLSPROTOCOL` and that reason, as if the peer had broken the protocol.
    pub fn refuse(&mut self, reason: &str) {
        self.fail(Error::ETLSPROTOCOL, None, reason.to_owned());
    }

    /// Whether the peer sent close_notify.
    pub fn received_close_notify(&self) -> bool {
        self.close_notify
    }

    /// Whether the handshake is over (successfully).
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// What the handshake negotiated, once it is over.
    pub fn info(&self) -> Option<TlsInfo> {
        if self.state != State::Ready {
            return None;
        }
        let version = match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => TlsVersion::Tls12,
            _ => TlsVersion::Tls13,
        };
        let cipher = self.conn.negotiated_cipher_suite()?.suite().as_str().unwrap_or("unknown");
        Some(TlsInfo {
            version,
            cipher,
            alpn: self.conn.alpn_protocol().map(<[u8]>::to_vec),
            resumed: self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
            peer_verified: self.verifies_peer && self.conn.peer_certificates().is_some_and(|c| !c.is_empty()),
        })
    }

    /// The peer's certificate chain (DER, leaf first), copied: empty when
    /// the peer sent none or the handshake is not over.
    pub fn peer_certificates(&self) -> Vec<Vec<u8>> {
        match (self.state, self.conn.peer_certificates()) {
            (State::Ready, Some(chain)) => chain.iter().map(|c| c.as_ref().to_vec()).collect(),
            _ => Vec::new(),
        }
    }

    /// Why the session failed, once it has.
    pub fn failure(&self) -> Option<&Failure> {
        self.failure.as_deref()
    }

    /// Records the failure (the first one only) and owes its event.
    fn fail(&mut self, error: Error, alert: Option<u8>, reason: String) -> Error {
        if let Some(failure) = &self.failure {
            return failure.error;
        }
        if self.state == State::Handshaking {
            self.event = Some(TlsEvent::Failed(error));
        }
        self.state = State::Failed;
        self.deadline = None;
        self.failure = Some(Box::new(Failure { error, alert, reason }));
        error
    }
}

/// The netcore error (and the peer's alert number) for a rustls error.
/// Bytes that are not TLS at all while nothing else was received (plaintext
/// to a TLS port, a TLS client reaching a plaintext server) say so.
fn classify(error: &rustls::Error, state: State) -> (Error, Option<u8>) {
    use rustls::Error as E;
    let code = match error {
        E::AlertReceived(alert) => return (Error::ETLSALERT, Some(u8::from(*alert))),
        E::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => Error::ETLSUNKNOWNCA,
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => Error::ETLSEXPIRED,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => Error::ETLSBADNAME,
            _ => Error::ETLSBADCERT,
        },
        E::NoCertificatesPresented | E::UnsupportedNameType => Error::ETLSBADCERT,
        E::PeerIncompatible(_) | E::NoApplicationProtocol => Error::ETLSNOSHARED,
        E::InvalidMessage(InvalidMessage::InvalidContentType | InvalidMessage::UnknownProtocolVersion)
            if state == State::Handshaking =>
        {
            Error::ETLSNOTTLS
        }
        _ => Error::ETLSPROTOCOL,
    };
    (code, None)
}

#[cfg(test)]
mod tests;
