//! A client and a server session talking in memory (no sockets: the
//! sessions do no I/O), on a fake clock, with certificates made by
//! `tests/tls/make-certs.sh`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::*;
use crate::tls::{ClientAuth, ClientOptions, Pem, Roots, ServerOptions};

#[path = "../../../tests/common/certs.rs"]
mod certs;

/// The PEM files the script makes, read into memory once (the temporary
/// directory is removed at once).
fn pem(name: &str) -> &'static [u8] {
    static FILES: OnceLock<HashMap<String, Vec<u8>>> = OnceLock::new();
    let files = FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("netcore-tls-session-{}", std::process::id()));
        let files = certs::make(&dir);
        std::fs::remove_dir_all(&dir).expect("the directory is removed");
        files
    });
    files.get(name).unwrap_or_else(|| panic!("make-certs.sh made no {name}"))
}

fn server_options(name: &'static str) -> ServerOptions<'static> {
    let (cert, key) = match name {
        "server" => (pem("server.pem"), pem("server.key")),
        "expired" => (pem("expired.pem"), pem("expired.key")),
        "wrongname" => (pem("wrongname.pem"), pem("wrongname.key")),
        "untrusted" => (pem("untrusted.pem"), pem("untrusted.key")),
        _ => panic!("no server certificate {name}"),
    };
    ServerOptions::new(Pem::Memory(cert), Pem::Memory(key))
}

fn client_options() -> ClientOptions<'static> {
    ClientOptions { roots: Roots { system: false, ca: Some(Pem::Memory(pem("ca.pem"))) }, ..ClientOptions::default() }
}

/// Both ends of one connection, and the plaintext each received.
struct Pair {
    client: Session,
    server: Session,
    to_client: Vec<u8>,
    to_server: Vec<u8>,
    now: Instant,
}

impl Pair {
    fn new(server: ServerOptions<'_>, client: ClientOptions<'_>, name: &str) -> Pair {
        let now = Instant::now();
        let server = Session::server(&ServerConfig::new(&server).expect("server config"), now).expect("server");
        let client = Session::client(&ClientConfig::new(&client).expect("client config"), name, now).expect("client");
        Pair { client, server, to_client: Vec::new(), to_server: Vec::new(), now }
    }

    /// Moves records both ways until neither side has anything to write
    /// (bounded); returns each side's first input error.
    fn pump(&mut self) -> (Result<()>, Result<()>) {
        let (mut client_result, mut server_result) = (Ok(()), Ok(()));
        for _ in 0..16 {
            if !self.client.wants_write() && !self.server.wants_write() {
                break;
            }
            let mut wire = Vec::new();
            self.client.write_tls(&mut wire).expect("memory takes everything");
            if !wire.is_empty() {
                server_result = server_result.and(self.server.handle_input(&wire, &mut self.to_server));
            }
            let mut wire = Vec::new();
            self.server.write_tls(&mut wire).expect("memory takes everything");
            if !wire.is_empty() {
                client_result = client_result.and(self.client.handle_input(&wire, &mut self.to_client));
            }
        }
        (client_result, server_result)
    }
}

/// Runs a handshake that must fail; returns both ends' events.
fn failing(server: ServerOptions<'_>, client: ClientOptions<'_>, name: &str) -> Pair {
    let mut pair = Pair::new(server, client, name);
    let (client, server) = pair.pump();
    assert!(client.is_err() || server.is_err(), "the handshake failed");
    pair
}

fn alert_of(session: &Session) -> Option<u8> {
    session.failure().and_then(|f| f.alert)
}

#[test]
fn a_handshake_reports_ready_once_with_what_was_negotiated_and_the_peers_chain() {
    let alpn: &[&[u8]] = &[b"h2", b"http/1.1"];
    let server = ServerOptions { alpn, ..server_options("server") };
    let client = ClientOptions { alpn: &[b"http/1.1"], ..client_options() };
    let mut pair = Pair::new(server, client, "localhost");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    for session in [&mut pair.client, &mut pair.server] {
        assert_eq!(session.poll_event(), Some(TlsEvent::Ready));
        assert_eq!(session.poll_event(), None, "one event per handshake");
        assert_eq!(session.poll_timeout(), None, "no deadline once ready");
    }
    let info = pair.client.info().expect("client info");
    assert_eq!(info.version, TlsVersion::Tls13);
    assert_eq!(info.version.protocol(), "TLSv1.3");
    assert!(info.cipher.starts_with("TLS13_"), "{}", info.cipher);
    assert_eq!(info.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert!(!info.resumed);
    assert!(info.peer_verified, "the client verified the server");
    let server_info = pair.server.info().expect("server info");
    assert_eq!(server_info.alpn, info.alpn);
    assert!(!server_info.peer_verified, "the client sent no certificate");
    let chain = pair.client.peer_certificates();
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0], der(pem("server.pem")), "the leaf, copied out in DER");
    assert!(pair.server.peer_certificates().is_empty());
}

/// The DER of the first certificate of a PEM text.
fn der(pem: &[u8]) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_slice(pem).expect("a certificate").to_vec()
}

/// A client session that offers TLS 1.2 alone (no option makes one: the
/// configs have a minimum version, not a maximum), trusting the test CA.
fn tls12_client() -> Session {
    tls12_client_offering(|_| true)
}

/// A TLS 1.2 client offering only the cipher suites whose names `offer` keeps.
fn tls12_client_offering(offer: fn(&str) -> bool) -> Session {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(pem("ca.pem")).into()).expect("the test CA");
    let mut provider = (*crate::tls::config::provider()).clone();
    provider.cipher_suites.retain(|s| offer(s.suite().as_str().unwrap_or("")));
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .expect("TLS 1.2")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("a name");
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("a client");
    Session::new(conn.into(), None, true)
}

#[test]
fn every_byte_arrives_both_ways_at_record_boundaries_and_in_one_large_input() {
    let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    for size in [1, 16383, 16384, 16385, 1 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
        // Bounded by rustls' unsent buffer: write in pieces, moving records
        // across in one `handle_input` each (many records per input).
        let mut sent = 0;
        for _ in 0..1000 {
            if sent == data.len() {
                break;
            }
            sent += pair.client.write_plaintext(&[&data[sent..]]).expect("write");
            assert_eq!(pair.pump(), (Ok(()), Ok(())));
        }
        assert_eq!(std::mem::take(&mut pair.to_server), data, "{size} B client to server");
        let (head, tail) = data.split_at(size / 2);
        let mut sent = 0;
        for _ in 0..1000 {
            if sent == data.len() {
                break;
            }
            let (a, b) = (head.get(sent..).unwrap_or(&[]), &tail[sent.saturating_sub(head.len())..]);
            sent += pair.server.write_plaintext(&[a, b]).expect("gather write");
            assert_eq!(pair.pump(), (Ok(()), Ok(())));
        }
        assert_eq!(std::mem::take(&mut pair.to_client), data, "{size} B server to client (gathered)");
    }
}

/// The send queue counts its messages as the bytes their records take on
/// the wire, exactly: every time the session takes queued messages and
/// writes their records, the queue's wire length falls by the bytes
/// written. Messages of 1 B to several records, with TLS 1.3 (22 B a
/// record), TLS 1.2 AES-GCM (29 B) and TLS 1.2 ChaCha20-Poly1305 (21 B).
#[test]
fn the_send_queue_counts_exactly_the_bytes_the_records_take_on_the_wire() {
    let gcm: fn(&str) -> bool = |name| name.contains("_GCM_");
    let chacha: fn(&str) -> bool = |name| name.contains("CHACHA20");
    for (tls12, overhead) in [(None, 22), (Some(gcm), 29), (Some(chacha), 21)] {
        let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
        if let Some(offer) = tls12 {
            pair.client = tls12_client_offering(offer);
        }
        assert_eq!(pair.client.record_layout().overhead, 22, "TLS 1.3's figure until the handshake ends");
        assert_eq!(pair.pump(), (Ok(()), Ok(())));
        let layout = pair.client.record_layout();
        assert_eq!((layout.max_plaintext, layout.overhead), (16_384, overhead), "{:?}", pair.client.info());
        let mut queue = crate::sendq::SendQueue::new();
        queue.set_record_layout(layout);
        let sizes: [usize; 7] = [1, 16_383, 16_384, 16_385, 100_000, 3, 70_000];
        let messages: Vec<Vec<u8>> = sizes.iter().map(|&n| (0..n).map(|i| (i % 253) as u8).collect()).collect();
        for message in &messages {
            queue.admit(message.len()).expect("an empty queue admits");
            queue.push(&[message], 0, None);
        }
        let records: usize = sizes.iter().map(|&n| n.div_ceil(16_384)).sum();
        assert_eq!(queue.wire_len(), sizes.iter().sum::<usize>() + records * overhead);
        for _ in 0..100 {
            if queue.len() == 0 {
                break;
            }
            let mut slices: [&[u8]; 4] = [&[]; 4];
            let count = queue.slices(&mut slices);
            let taken = pair.client.write_plaintext(&slices[..count]).expect("write");
            let mut wire = Vec::new();
            pair.client.write_tls(&mut wire).expect("memory takes everything");
            let before = queue.wire_len();
            queue.consume(taken).count();
            assert_eq!(before - queue.wire_len(), wire.len(), "took {taken} B");
            pair.server.handle_input(&wire, &mut pair.to_server).expect("records");
        }
        assert_eq!((queue.len(), queue.wire_len()), (0, 0));
        assert_eq!(pair.to_server, messages.concat(), "every byte, in order");
    }
}

#[test]
fn plaintext_written_before_the_handshake_is_sent_after_it() {
    let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
    assert_eq!(pair.client.write_plaintext(&[b"early"]), Ok(5));
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    assert_eq!(pair.to_server, b"early");
}

#[test]
fn a_second_session_of_the_same_client_config_resumes() {
    let server = ServerConfig::new(&server_options("server")).expect("server config");
    let client = ClientConfig::new(&client_options()).expect("client config");
    let now = Instant::now();
    let mut resumed = Vec::new();
    for _ in 0..2 {
        let mut pair = Pair {
            client: Session::client(&client, "localhost", now).expect("client"),
            server: Session::server(&server, now).expect("server"),
            to_client: Vec::new(),
            to_server: Vec::new(),
            now,
        };
        assert_eq!(pair.pump(), (Ok(()), Ok(())));
        // TLS 1.3 tickets arrive after the handshake: a little data carries them.
        pair.server.write_plaintext(&[b"x"]).expect("write");
        assert_eq!(pair.pump(), (Ok(()), Ok(())));
        resumed.push(pair.client.info().expect("ready").resumed);
    }
    assert_eq!(resumed, [false, true]);
}

#[test]
fn a_tls12_peer_is_served_by_default_and_refused_by_min_version_tls13() {
    let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
    pair.client = tls12_client();
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    let info = pair.server.info().expect("ready");
    assert_eq!((info.version, info.version.protocol()), (TlsVersion::Tls12, "TLSv1.2"));
    assert!(info.cipher.starts_with("TLS_ECDHE_ECDSA_"), "{}", info.cipher);
    let strict = ServerOptions { min_version: TlsVersion::Tls13, ..server_options("server") };
    let mut pair = Pair::new(strict, client_options(), "localhost");
    pair.client = tls12_client();
    let (client, server) = pair.pump();
    assert_eq!(server, Err(Error::ETLSNOSHARED));
    assert_eq!(client, Err(Error::ETLSALERT));
    assert_eq!(alert_of(&pair.client), Some(70), "protocol_version");
}

#[test]
fn ip_addresses_are_verified_against_the_certificate() {
    for name in ["127.0.0.1", "::1", "[::1]"] {
        let mut pair = Pair::new(server_options("server"), client_options(), name);
        assert_eq!(pair.pump(), (Ok(()), Ok(())), "{name}");
    }
    let pair = failing(server_options("server"), client_options(), "127.0.0.2");
    assert_eq!(pair.client.failure().map(|f| f.error), Some(Error::ETLSBADNAME));
}

#[test]
fn an_unknown_ca_fails_the_client_and_the_server_hears_the_alert() {
    let mut pair = failing(server_options("untrusted"), client_options(), "localhost");
    assert_eq!(pair.client.poll_event(), Some(TlsEvent::Failed(Error::ETLSUNKNOWNCA)));
    assert_eq!(pair.client.poll_event(), None);
    assert_eq!(pair.server.poll_event(), Some(TlsEvent::Failed(Error::ETLSALERT)));
    assert_eq!(alert_of(&pair.server), Some(48), "unknown_ca reached the server: the last write after the error");
    assert!(!pair.client.failure().expect("a failure").reason.is_empty());
}

#[test]
fn a_wrong_name_and_an_expired_certificate_have_their_own_errors_and_alerts() {
    let pair = failing(server_options("wrongname"), client_options(), "localhost");
    assert_eq!(pair.client.failure().map(|f| f.error), Some(Error::ETLSBADNAME));
    assert_eq!(alert_of(&pair.server), Some(42), "bad_certificate");
    let pair = failing(server_options("expired"), client_options(), "localhost");
    assert_eq!(pair.client.failure().map(|f| f.error), Some(Error::ETLSEXPIRED));
    assert_eq!(alert_of(&pair.server), Some(45), "certificate_expired");
}

#[test]
fn no_alpn_protocol_in_common_is_refused_by_the_server_with_alert_120() {
    let server = ServerOptions { alpn: &[b"h2"], ..server_options("server") };
    let client = ClientOptions { alpn: &[b"http/1.1"], ..client_options() };
    let pair = failing(server, client, "localhost");
    assert_eq!(pair.server.failure().map(|f| f.error), Some(Error::ETLSNOSHARED));
    assert_eq!(pair.client.failure().map(|f| f.error), Some(Error::ETLSALERT));
    assert_eq!(alert_of(&pair.client), Some(120), "no_application_protocol");
}

#[test]
fn bytes_that_are_not_tls_are_named_so_on_both_sides() {
    let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
    let mut plain = Vec::new();
    assert_eq!(pair.server.handle_input(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &mut plain), Err(Error::ETLSNOTTLS));
    assert_eq!(pair.server.poll_event(), Some(TlsEvent::Failed(Error::ETLSNOTTLS)));
    assert!(plain.is_empty());
    let mut hello = Vec::new();
    pair.client.write_tls(&mut hello).expect("the ClientHello");
    assert_eq!(pair.client.handle_input(b"220 mail.example ESMTP\r\n", &mut plain), Err(Error::ETLSNOTTLS));
    assert_eq!(pair.server.handle_input(b"more", &mut plain), Err(Error::ETLSNOTTLS), "a failed session stays failed");
    assert_eq!(pair.server.poll_event(), None, "and reports it once");
}

#[test]
fn a_flipped_byte_in_a_record_is_bad_record_mac() {
    let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    pair.client.write_plaintext(&[b"hello, world"]).expect("write");
    let mut wire = Vec::new();
    pair.client.write_tls(&mut wire).expect("a record");
    let last = wire.len() - 1;
    wire[last] ^= 1;
    assert_eq!(pair.server.handle_input(&wire, &mut pair.to_server), Err(Error::ETLSPROTOCOL));
    assert!(pair.to_server.is_empty(), "nothing of a forged record is delivered");
    assert!(pair.server.wants_write(), "the alert waits to be written");
    assert_eq!(pair.pump().0, Err(Error::ETLSALERT));
    assert_eq!(alert_of(&pair.client), Some(20), "bad_record_mac");
}

#[test]
fn an_eof_without_close_notify_is_truncation_during_the_handshake_and_after_data() {
    // half a ClientHello, then the peer's FIN
    let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
    let mut hello = Vec::new();
    pair.client.write_tls(&mut hello).expect("the ClientHello");
    assert_eq!(pair.server.handle_input(&hello[..hello.len() / 2], &mut pair.to_server), Ok(()));
    assert_eq!(pair.server.handle_eof(), Err(Error::ETLSTRUNCATED));
    assert_eq!(pair.server.poll_event(), Some(TlsEvent::Failed(Error::ETLSTRUNCATED)));
    // data, then the FIN without close_notify
    let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    pair.client.write_plaintext(&[b"data"]).expect("write");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    assert_eq!(pair.to_server, b"data");
    assert_eq!(pair.server.handle_eof(), Err(Error::ETLSTRUNCATED));
}

#[test]
fn close_notify_after_data_makes_the_eof_clean() {
    let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    pair.client.write_plaintext(&[b"last words"]).expect("write");
    pair.client.close();
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    assert_eq!(pair.to_server, b"last words", "data queued before close_notify arrives first");
    assert!(pair.server.received_close_notify());
    assert_eq!(pair.server.handle_eof(), Ok(()));
    assert!(!pair.client.received_close_notify(), "the server has not closed");
}

#[test]
fn the_handshake_deadline_fires_on_the_fake_clock_and_only_while_handshaking() {
    let server = ServerOptions { handshake_timeout: Duration::from_secs(10), ..server_options("server") };
    let mut pair = Pair::new(server, client_options(), "localhost");
    let t0 = pair.now;
    assert_eq!(pair.server.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    assert_eq!(pair.client.poll_timeout(), Some(t0 + Duration::from_secs(30)), "the default");
    pair.server.handle_timeout(t0 + Duration::from_secs(9));
    assert_eq!(pair.server.poll_event(), None);
    pair.server.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(pair.server.poll_event(), Some(TlsEvent::Failed(Error::ETLSTIMEDOUT)));
    assert_eq!(pair.server.poll_timeout(), None);
    // a finished handshake has no deadline left to miss
    let mut pair = Pair::new(server_options("server"), client_options(), "localhost");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    pair.client.handle_timeout(pair.now + Duration::from_secs(3600));
    assert_eq!(pair.client.poll_event(), Some(TlsEvent::Ready));
    // beyond MAX_DURATION: never
    let server = ServerOptions { handshake_timeout: Duration::MAX, ..server_options("server") };
    let pair = Pair::new(server, client_options(), "localhost");
    assert_eq!(pair.server.poll_timeout(), None);
}

#[test]
fn client_certificates_required_optional_and_missing() {
    let required = ServerOptions {
        client_auth: ClientAuth::Required,
        client_ca: Some(Pem::Memory(pem("ca.pem"))),
        ..server_options("server")
    };
    let with_cert = ClientOptions {
        cert_chain: Some(Pem::Memory(pem("client.pem"))),
        key: Some(Pem::Memory(pem("client.key"))),
        ..client_options()
    };
    let mut pair = Pair::new(required, with_cert, "localhost");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    assert!(pair.server.info().expect("ready").peer_verified);
    assert_eq!(pair.server.peer_certificates()[0], der(pem("client.pem")));

    let mut pair = failing(required, client_options(), "localhost");
    assert_eq!(pair.server.failure().map(|f| f.error), Some(Error::ETLSBADCERT));
    assert_eq!(alert_of(&pair.client), Some(116), "certificate_required");
    // A TLS 1.3 client finishes first: its one event is Ready; the alert
    // that follows is an error of its input, not a second event.
    assert_eq!(pair.client.poll_event(), Some(TlsEvent::Ready));
    assert_eq!(pair.client.poll_event(), None);
    assert_eq!(pair.client.failure().map(|f| f.error), Some(Error::ETLSALERT));

    let optional = ServerOptions { client_auth: ClientAuth::Optional, ..required };
    let mut pair = Pair::new(optional, client_options(), "localhost");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
    assert!(!pair.server.info().expect("ready").peer_verified);
}

fn detail(result: Result<impl Sized>) -> (&'static str, &'static str) {
    let e = result.err().expect("refused");
    let d = e.detail().unwrap_or_else(|| panic!("{e:?} has no detail"));
    (d.argument, d.expected)
}

#[test]
fn bad_configs_are_refused_with_the_argument_and_the_reason() {
    let mismatch = ServerOptions { key: Pem::Memory(pem("client.key")), ..server_options("server") };
    let (argument, expected) = detail(ServerConfig::new(&mismatch));
    assert_eq!(argument, "key");
    assert!(expected.contains("does not match"), "{expected}");
    let no_cert = ServerOptions { cert_chain: Pem::Memory(b"not PEM"), ..server_options("server") };
    assert_eq!(detail(ServerConfig::new(&no_cert)).0, "cert");
    let key_as_cert = ServerOptions { cert_chain: Pem::Memory(pem("server.key")), ..server_options("server") };
    assert_eq!(detail(ServerConfig::new(&key_as_cert)).0, "cert");
    let no_key = ServerOptions { key: Pem::Memory(pem("server.pem")), ..server_options("server") };
    assert_eq!(detail(ServerConfig::new(&no_key)).0, "key");
    let empty_alpn = ServerOptions { alpn: &[b""], ..server_options("server") };
    assert_eq!(detail(ServerConfig::new(&empty_alpn)).0, "alpn");
    let no_client_ca = ServerOptions { client_auth: ClientAuth::Required, ..server_options("server") };
    assert_eq!(detail(ServerConfig::new(&no_client_ca)).0, "client_ca");
    let missing = ServerOptions {
        cert_chain: Pem::File(std::path::Path::new("/nonexistent/netcore/cert.pem")),
        ..server_options("server")
    };
    assert_eq!(ServerConfig::new(&missing).err(), Some(Error::from_code(-libc::ENOENT).expect("a code")));

    let no_roots = ClientOptions { roots: Roots { system: false, ca: None }, ..ClientOptions::default() };
    assert_eq!(detail(ClientConfig::new(&no_roots)).0, "ca");
    let junk_ca = ClientOptions { roots: Roots { system: false, ca: Some(Pem::Memory(b"junk")) }, ..client_options() };
    assert_eq!(detail(ClientConfig::new(&junk_ca)).0, "ca");
    let half = ClientOptions { cert_chain: Some(Pem::Memory(pem("client.pem"))), ..client_options() };
    assert_eq!(detail(ClientConfig::new(&half)).0, "key");
    let config = ClientConfig::new(&client_options()).expect("client config");
    assert_eq!(detail(Session::client(&config, "not a name!", Instant::now())).0, "server_name");
}

#[test]
fn configs_read_pem_files() {
    let dir = std::env::temp_dir().join(format!("netcore-tls-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let write = |name: &str| {
        let path = dir.join(name);
        std::fs::write(&path, pem(name)).expect("written");
        path
    };
    let (cert, key, ca) = (write("server.pem"), write("server.key"), write("ca.pem"));
    let server = ServerOptions::new(Pem::File(&cert), Pem::File(&key));
    let client = ClientOptions { roots: Roots { system: false, ca: Some(Pem::File(&ca)) }, ..ClientOptions::default() };
    let mut pair = Pair::new(server, client, "localhost");
    std::fs::remove_dir_all(&dir).expect("removed");
    assert_eq!(pair.pump(), (Ok(()), Ok(())));
}

#[test]
fn configs_and_sessions_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ServerConfig>();
    send_sync::<ClientConfig>();
    fn send<T: Send>() {}
    send::<Session>();
}
