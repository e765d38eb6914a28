//! TLS on real sockets (loopback): a netcore listener with a server config,
//! netcore clients with a client config, the OpenSSL command line as a peer
//! nobody here wrote, and the failures a peer can cause. Certificates come
//! from tests/tls/make-certs.sh.
#![cfg(feature = "tls")]

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{has, kinds, listen, poll_into, poll_until, Got};
use netcore_core::{
    ClientAuth, ClientConfig, ClientOptions, ConnectOptions, ConnectParams, Error, EventKind, Framing, Handle, Loop,
    Pem, Roots, ServerConfig, ServerOptions, TlsSession, TlsVersion, VerifyServer,
};

/// The directory of the test certificates (made once per test process)
/// and their contents.
fn certs() -> &'static (std::path::PathBuf, HashMap<String, Vec<u8>>) {
    static CERTS: OnceLock<(std::path::PathBuf, HashMap<String, Vec<u8>>)> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{}", std::process::id()));
        let files = common::certs::make(&dir);
        (dir, files)
    })
}

fn pem(name: &str) -> &'static [u8] {
    certs().1.get(name).unwrap_or_else(|| panic!("no {name}"))
}

fn server_config(alpn: &[&[u8]], timeout: Duration) -> ServerConfig {
    let options = ServerOptions {
        alpn,
        handshake_timeout: timeout,
        ..ServerOptions::new(Pem::Memory(pem("server.pem")), Pem::Memory(pem("server.key")))
    };
    ServerConfig::new(&options).expect("server config")
}

fn client_config(ca: &str, alpn: &[&[u8]]) -> ClientConfig {
    let options = ClientOptions {
        roots: Roots { system: false, ca: Some(Pem::Memory(pem(ca))) },
        alpn,
        ..ClientOptions::default()
    };
    ClientConfig::new(&options).expect("client config")
}

/// A TLS listener on 127.0.0.1.
fn tls_listener(lp: &Loop, config: ServerConfig) -> (Handle, u16) {
    let (listener, port) = listen(lp);
    lp.set_listener_tls(listener, Some(config)).expect("a TLS listener");
    (listener, port)
}

fn accepted(got: &[Got]) -> Option<Handle> {
    got.iter().find(|e| e.kind == EventKind::Accepted).map(|e| e.handle)
}

fn event(got: &[Got], kind: EventKind, handle: Handle) -> Option<&Got> {
    got.iter().find(|e| e.kind == kind && e.handle == handle)
}

/// Sends `data` on `handle`, or keeps it in `backlog` until `Writable`.
fn send_or_keep(lp: &Loop, handle: Handle, data: &[u8], backlog: &mut Vec<u8>) {
    if backlog.is_empty() {
        match lp.send(handle, data) {
            Ok(()) => return,
            Err(e) if e == Error::EAGAIN => {}
            Err(e) => panic!("send: {e}"),
        }
    }
    backlog.extend_from_slice(data);
}

#[test]
fn a_tls_client_and_server_echo_every_byte_keep_tokens_and_close_with_close_notify() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server_config(&[b"echo/1"], Duration::from_secs(30)));
    let client = lp.tcp_connect("localhost", port as i64, 1).unwrap();
    lp.start_tls_client(client, &client_config("ca.pem", &[b"echo/1"]), "localhost").unwrap();
    // Sent before the handshake (even before the connection): it waits.
    let message: Vec<u8> = [1usize, 16383, 16384, 16385, 1 << 20]
        .iter()
        .flat_map(|&n| (0..n).map(move |i| (i % 251) as u8 ^ (n as u8)))
        .collect();
    lp.send_with_token(client, &[&message], Some(42)).unwrap();
    let mut server = None;
    let (mut echoed, mut backlog, mut seen) = (Vec::new(), Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    while echoed.len() < message.len() {
        assert!(Instant::now() < deadline, "echo stalled at {} bytes: {:?}", echoed.len(), kinds(&seen));
        let start = seen.len();
        poll_into(&lp, 64, Some(Duration::from_millis(50)), &mut seen);
        for got in &seen[start..] {
            match got.kind {
                EventKind::Accepted => server = Some(got.handle),
                EventKind::Data if Some(got.handle) == server => send_or_keep(&lp, got.handle, &got.data, &mut backlog),
                EventKind::Data if got.handle == client => echoed.extend_from_slice(&got.data),
                EventKind::Writable if Some(got.handle) == server => {
                    let pending = std::mem::take(&mut backlog);
                    send_or_keep(&lp, got.handle, &pending, &mut backlog);
                }
                EventKind::Closed | EventKind::TlsFailed => panic!("{:?}", kinds(&seen)),
                _ => {}
            }
        }
    }
    assert!(echoed == message, "every byte came back in order");
    let server = server.expect("accepted");
    for handle in [client, server] {
        assert_eq!(seen.iter().filter(|e| e.kind == EventKind::TlsReady && e.handle == handle).count(), 1);
        let info = lp.tls_info(handle).unwrap().expect("ready");
        assert_eq!(info.version, TlsVersion::Tls13);
        assert_eq!(info.alpn.as_deref(), Some(&b"echo/1"[..]));
    }
    let ready = seen.iter().position(|e| e.kind == EventKind::TlsReady && e.handle == server).unwrap();
    let first_data = seen.iter().position(|e| e.kind == EventKind::Data && e.handle == server).unwrap();
    assert!(ready < first_data, "TlsReady comes before the data");
    assert!(seen.iter().any(|e| e.kind == EventKind::Sent && e.handle == client && e.event.value == 42));
    assert_eq!(lp.tls_peer_certificates(client).unwrap().len(), 1, "the server's leaf");
    assert!(lp.tls_peer_certificates(server).unwrap().is_empty(), "no client certificate");
    // Graceful close: close_notify then FIN; the server sees a clean EOF.
    lp.close(client).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Eof, server));
    assert!(!got.iter().any(|e| e.error.is_some()), "{:?}", kinds(&got));
    lp.close(server).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, server) && has(g, EventKind::Closed, client));
    assert_eq!(event(&got, EventKind::Closed, server).unwrap().error, None);
    assert_eq!(event(&got, EventKind::Closed, client).unwrap().error, None);
}

/// What one end of a failed handshake saw: its `TlsReady` (if any), its
/// `TlsFailed` and `Closed` errors, and its failure record (read when the
/// event that reports it is handled: it stays readable until the poll
/// after the one that delivered `Closed`).
#[derive(Debug, PartialEq)]
struct End {
    ready: bool,
    failed: Option<Error>,
    closed: Option<Error>,
    alert: Option<u8>,
}

/// A netcore client with `client` connects to a netcore listener with
/// `server`, verifying `name`; returns what each end saw once both closed,
/// client first. Each end gets at most one TLS event.
fn handshake_between(server: ServerConfig, client: &ClientConfig, name: &str) -> (End, End) {
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server);
    let client_handle = lp.tcp_connect("127.0.0.1", port as i64, 1).unwrap();
    lp.start_tls_client(client_handle, client, name).unwrap();
    let (mut got, mut failures) = (Vec::new(), HashMap::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    let both_closed = |got: &[Got]| {
        has(got, EventKind::Closed, client_handle) && accepted(got).is_some_and(|s| has(got, EventKind::Closed, s))
    };
    while !both_closed(&got) {
        assert!(Instant::now() < deadline, "{:?}", kinds(&got));
        let start = got.len();
        poll_into(&lp, 64, Some(Duration::from_millis(50)), &mut got);
        for e in &got[start..] {
            if matches!(e.kind, EventKind::TlsFailed | EventKind::Closed) {
                if let Some(failure) = lp.tls_failure(e.handle).unwrap() {
                    assert!(!failure.reason.is_empty());
                    failures.entry(e.handle).or_insert(failure);
                }
            }
        }
    }
    let end = |handle: Handle| {
        let tls_events =
            got.iter().filter(|e| e.handle == handle && matches!(e.kind, EventKind::TlsReady | EventKind::TlsFailed));
        assert!(tls_events.count() <= 1, "one TLS event per handshake: {:?}", kinds(&got));
        End {
            ready: has(&got, EventKind::TlsReady, handle),
            failed: event(&got, EventKind::TlsFailed, handle).and_then(|e| e.error),
            closed: event(&got, EventKind::Closed, handle).and_then(|e| e.error),
            alert: failures.get(&handle).and_then(|f| f.alert),
        }
    };
    let server_handle = accepted(&got).unwrap();
    poll_into(&lp, 64, Some(Duration::ZERO), &mut Vec::new());
    assert_eq!(lp.tls_failure(server_handle).err(), Some(Error::EBADHANDLE), "released after Closed was delivered");
    (end(client_handle), end(server_handle))
}

fn failed(error: Error, alert: Option<u8>) -> End {
    End { ready: false, failed: Some(error), closed: Some(error), alert }
}

fn server_with(cert: &str, alpn: &[&[u8]], client_auth: ClientAuth) -> ServerConfig {
    let options = ServerOptions {
        alpn,
        client_auth,
        client_ca: Some(Pem::Memory(pem("ca.pem"))),
        ..ServerOptions::new(Pem::Memory(pem(&format!("{cert}.pem"))), Pem::Memory(pem(&format!("{cert}.key"))))
    };
    ServerConfig::new(&options).expect("server config")
}

/// The failure table, netcore against netcore: each end's exact error, the
/// alert the other end sent, one TLS event per end, and both handles closed
/// and released. (A TLS 1.3 client learns only after its Finished that the
/// server wanted its certificate: ready, then closed by alert 116.)
#[test]
fn failed_handshakes_report_the_exact_error_and_alert_at_both_ends() {
    let none = ClientAuth::None;
    let ca = client_config("ca.pem", &[]);
    let cases = [
        ("unknown CA", server_with("server", &[], none), client_config("other-ca.pem", &[]), Error::ETLSUNKNOWNCA, 48),
        ("expired", server_with("expired", &[], none), ca.clone(), Error::ETLSEXPIRED, 45),
        ("wrong name", server_with("wrongname", &[], none), ca.clone(), Error::ETLSBADNAME, 42),
    ];
    for (what, server, client, error, alert) in cases {
        let ends = handshake_between(server, &client, "localhost");
        assert_eq!(ends, (failed(error, None), failed(Error::ETLSALERT, Some(alert))), "{what}");
    }
    let alpn =
        handshake_between(server_with("server", &[b"h2"], none), &client_config("ca.pem", &[b"http/1.1"]), "localhost");
    assert_eq!(
        alpn,
        (failed(Error::ETLSALERT, Some(120)), failed(Error::ETLSNOSHARED, None)),
        "no_application_protocol"
    );
    let (client, server) = handshake_between(server_with("server", &[], ClientAuth::Required), &ca, "localhost");
    assert_eq!(client, End { ready: true, failed: None, closed: Some(Error::ETLSALERT), alert: Some(116) });
    assert_eq!(server, failed(Error::ETLSBADCERT, None), "no client certificate");
}

/// A client that checks less (`VerifyServer`): `SkipName` forgives a wrong
/// name but not an unknown CA; `Off` takes any certificate, and its session
/// says the peer was not verified.
#[test]
fn a_client_checks_the_server_as_much_as_verify_server_says() {
    let outcome = |cert: &str, verify_server: VerifyServer| {
        let lp = Loop::new().unwrap();
        let (_listener, port) = tls_listener(&lp, server_with(cert, &[], ClientAuth::None));
        let options = ClientOptions {
            roots: Roots { system: false, ca: Some(Pem::Memory(pem("ca.pem"))) },
            verify_server,
            ..ClientOptions::default()
        };
        let client = lp.tcp_connect("127.0.0.1", port as i64, 1).unwrap();
        lp.start_tls_client(client, &ClientConfig::new(&options).unwrap(), "localhost").unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::TlsReady, client) || has(g, EventKind::TlsFailed, client));
        match event(&got, EventKind::TlsFailed, client) {
            Some(failed) => Err(failed.error.unwrap()),
            None => Ok(lp.tls_info(client).unwrap().expect("ready").peer_verified),
        }
    };
    assert_eq!(outcome("wrongname", VerifyServer::Full), Err(Error::ETLSBADNAME));
    assert_eq!(outcome("wrongname", VerifyServer::SkipName), Ok(true));
    assert_eq!(outcome("untrusted", VerifyServer::SkipName), Err(Error::ETLSUNKNOWNCA));
    assert_eq!(outcome("expired", VerifyServer::SkipName), Err(Error::ETLSEXPIRED));
    assert_eq!(outcome("untrusted", VerifyServer::Off), Ok(false));
    assert_eq!(outcome("expired", VerifyServer::Off), Ok(false));
    let no_roots = ClientOptions { roots: Roots { system: false, ca: None }, ..ClientOptions::default() };
    let refused = ClientConfig::new(&no_roots).err().map(|e| e.detail().map(|d| d.argument));
    assert_eq!(refused, Some(Some("ca")), "trust roots are needed unless nothing is checked");
    ClientConfig::new(&ClientOptions { verify_server: VerifyServer::Off, ..no_roots }).expect("no roots needed");
}

#[test]
fn plaintext_to_a_tls_port_is_etlsnottls_and_the_connection_closes() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server_config(&[], Duration::from_secs(30)));
    let mut peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    peer.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let got = poll_until(&lp, |g| accepted(g).is_some_and(|s| has(g, EventKind::Closed, s)));
    let server = accepted(&got).unwrap();
    assert_eq!(event(&got, EventKind::TlsFailed, server).unwrap().error, Some(Error::ETLSNOTTLS));
    assert_eq!(event(&got, EventKind::Closed, server).unwrap().error, Some(Error::ETLSNOTTLS));
    assert!(!has(&got, EventKind::Data, server), "nothing of it is delivered");
}

#[test]
fn a_silent_peer_is_etlstimedout_after_the_handshake_timeout() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server_config(&[], Duration::from_millis(200)));
    let _peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let got = poll_until(&lp, |g| accepted(g).is_some_and(|s| has(g, EventKind::Closed, s)));
    let server = accepted(&got).unwrap();
    assert_eq!(event(&got, EventKind::TlsFailed, server).unwrap().error, Some(Error::ETLSTIMEDOUT));
    assert_eq!(event(&got, EventKind::Closed, server).unwrap().error, Some(Error::ETLSTIMEDOUT));
}

/// A silent server: the client's handshake fails ETLSTIMEDOUT after its
/// handshake timeout, or sooner when the connect timeout ends first (it
/// covers the handshake; an hour-long handshake timeout would outlast the
/// test's guard).
#[test]
fn a_client_whose_server_stays_silent_is_etlstimedout_by_its_handshake_or_connect_timeout() {
    let lp = Loop::new().unwrap();
    // A plain TCP server that accepts (in the kernel's backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let short = Duration::from_millis(200);
    for (handshake_timeout, connect_timeout) in [(short, None), (Duration::from_secs(3600), Some(short))] {
        let options = ClientOptions {
            roots: Roots { system: false, ca: Some(Pem::Memory(pem("ca.pem"))) },
            handshake_timeout,
            ..ClientOptions::default()
        };
        let connect = ConnectOptions::build(ConnectParams { timeout: connect_timeout, ..Default::default() }).unwrap();
        let client = lp.tcp_connect_with("127.0.0.1", port as i64, &connect, 1).unwrap();
        lp.start_tls_client(client, &ClientConfig::new(&options).unwrap(), "localhost").unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::Closed, client));
        assert!(has(&got, EventKind::Connected, client), "{:?}", kinds(&got));
        assert_eq!(event(&got, EventKind::TlsFailed, client).unwrap().error, Some(Error::ETLSTIMEDOUT));
        assert_eq!(event(&got, EventKind::Closed, client).unwrap().error, Some(Error::ETLSTIMEDOUT));
    }
}

/// Drives a sans-I/O client session over a blocking std socket with a short
/// read timeout, polling the loop between steps, until `done` (bounded).
fn drive(
    lp: &Loop,
    stream: &mut TcpStream,
    session: &mut TlsSession,
    seen: &mut Vec<Got>,
    done: impl Fn(&TlsSession, &[Got]) -> bool,
) -> Vec<u8> {
    let mut plaintext = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    stream.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    while !done(session, seen) {
        assert!(Instant::now() < deadline, "stalled: {:?}", kinds(seen));
        session.write_tls(stream).unwrap();
        let mut buf = [0u8; 65536];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => session.handle_input(&buf[..n], &mut plaintext).unwrap(),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
        poll_into(lp, 64, Some(Duration::from_millis(5)), seen);
    }
    plaintext
}

#[test]
fn a_fin_without_close_notify_after_data_closes_with_etlstruncated() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server_config(&[], Duration::from_secs(30)));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let config = client_config("ca.pem", &[]);
    let mut session = TlsSession::client(&config, "localhost", Instant::now()).unwrap();
    session.write_plaintext(&[b"some data"]).unwrap();
    let mut seen = Vec::new();
    drive(&lp, &mut stream, &mut session, &mut seen, |_, g| g.iter().any(|e| e.kind == EventKind::Data));
    let server = accepted(&seen).unwrap();
    assert_eq!(event(&seen, EventKind::Data, server).unwrap().data, b"some data");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, server));
    assert_eq!(event(&got, EventKind::Closed, server).unwrap().error, Some(Error::ETLSTRUNCATED));
    assert!(!has(&got, EventKind::TlsFailed, server), "the handshake had succeeded: one TlsReady, no TlsFailed");
    assert!(!has(&got, EventKind::Eof, server), "a truncated stream is no clean EOF");
}

/// A raw TCP client with its own TLS session, handshaken with a netcore TLS
/// listener on `lp`: the stream, the session and the server's handle.
fn handshaken_raw_client(lp: &Loop) -> (TcpStream, TlsSession, Handle) {
    let (_listener, port) = tls_listener(lp, server_config(&[], Duration::from_secs(30)));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut session = TlsSession::client(&client_config("ca.pem", &[]), "localhost", Instant::now()).unwrap();
    let mut seen = Vec::new();
    drive(lp, &mut stream, &mut session, &mut seen, |s, g| {
        s.is_ready() && g.iter().any(|e| e.kind == EventKind::TlsReady)
    });
    (stream, session, accepted(&seen).unwrap())
}

/// The first bytes a TLS client sends: its ClientHello.
fn client_hello() -> Vec<u8> {
    let mut session = TlsSession::client(&client_config("ca.pem", &[]), "localhost", Instant::now()).unwrap();
    let mut hello = Vec::new();
    session.write_tls(&mut hello).unwrap();
    hello
}

/// A raw peer's failures at a netcore TLS server, and a netcore client at a
/// plaintext server: the exact `TlsFailed` and `Closed` errors.
#[test]
fn raw_peers_that_break_the_handshake_get_the_exact_error() {
    let hello = client_hello();
    let half = &hello[..hello.len() / 2];
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server_config(&[], Duration::from_secs(30)));
    let outcome = |peer: &dyn Fn(TcpStream)| {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let got = poll_until(&lp, |g| accepted(g).is_some());
        let server = accepted(&got).unwrap();
        peer(stream);
        let got = poll_until(&lp, |g| has(g, EventKind::Closed, server));
        let error = |kind| event(&got, kind, server).and_then(|e| e.error);
        (error(EventKind::TlsFailed), error(EventKind::Closed))
    };
    let half_then_fin = outcome(&|mut s| {
        s.write_all(half).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
    });
    assert_eq!(half_then_fin, (Some(Error::ETLSTRUNCATED), Some(Error::ETLSTRUNCATED)));
    let half_then_rst = outcome(&|mut s| {
        s.write_all(half).unwrap();
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
    });
    assert_eq!(half_then_rst, (Some(Error::ECONNRESET), Some(Error::ECONNRESET)), "the handshake's one TlsFailed");

    // A TLS client reaching a plaintext server that greets first.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    let client = lp.tcp_connect("127.0.0.1", plain_port as i64, 1).unwrap();
    lp.start_tls_client(client, &client_config("ca.pem", &[]), "localhost").unwrap();
    let (mut greeter, _) = plain.accept().unwrap();
    greeter.write_all(b"220 smtp.localhost ESMTP ready\r\n").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, client));
    assert_eq!(event(&got, EventKind::TlsFailed, client).unwrap().error, Some(Error::ETLSNOTTLS));
    assert_eq!(event(&got, EventKind::Closed, client).unwrap().error, Some(Error::ETLSNOTTLS));
}

/// One flipped byte in a record after the handshake: the server closes
/// ETLSPROTOCOL (no `TlsFailed`: its handshake had succeeded) and tells the
/// peer with alert 20, bad_record_mac.
#[test]
fn a_flipped_byte_in_a_record_closes_with_etlsprotocol_and_bad_record_mac() {
    let lp = Loop::new().unwrap();
    let (mut stream, mut session, server) = handshaken_raw_client(&lp);
    session.write_plaintext(&[b"a record that will not decrypt"]).unwrap();
    let mut record = Vec::new();
    session.write_tls(&mut record).unwrap();
    let middle = record.len() / 2;
    record[middle] ^= 0x01;
    stream.write_all(&record).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, server));
    assert_eq!(event(&got, EventKind::Closed, server).unwrap().error, Some(Error::ETLSPROTOCOL));
    assert!(!has(&got, EventKind::Data, server) && !has(&got, EventKind::TlsFailed, server), "{:?}", kinds(&got));
    let mut alert = Vec::new();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.read_to_end(&mut alert).unwrap();
    assert_eq!(session.handle_input(&alert, &mut Vec::new()), Err(Error::ETLSALERT));
    assert_eq!(session.failure().unwrap().alert, Some(20), "bad_record_mac");
}

/// `openssl s_client` against a netcore server that greets and closes:
/// OpenSSL gets the bytes and no "unexpected eof" (close_notify was sent).
#[test]
fn openssl_s_client_reads_the_greeting_and_sees_close_notify_with_tls12_and_tls13() {
    let ca = certs().0.join("ca.pem");
    for version in ["-tls1_2", "-tls1_3"] {
        let lp = Loop::new().unwrap();
        let (_listener, port) = tls_listener(&lp, server_config(&[b"x-netcore"], Duration::from_secs(30)));
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
            .args(["-verify_return_error", "-brief", "-ign_eof", "-alpn", "x-netcore", version, "-CAfile"])
            .arg(&ca)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl runs");
        let mut server = None;
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            assert!(Instant::now() < deadline, "s_client did not finish: {:?}", kinds(&seen));
            let start = seen.len();
            poll_into(&lp, 64, Some(Duration::from_millis(20)), &mut seen);
            for got in &seen[start..] {
                match got.kind {
                    EventKind::Accepted => server = Some(got.handle),
                    EventKind::TlsReady => {
                        lp.send(got.handle, b"hello from netcore\n").unwrap();
                        lp.close(got.handle).unwrap();
                    }
                    _ => {}
                }
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
        };
        let mut out = String::new();
        let mut err = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert!(status.success(), "{version}: {err}");
        assert!(out.contains("hello from netcore"), "{version}: {out} / {err}");
        assert!(!err.to_lowercase().contains("unexpected eof"), "{version}: close_notify was missing: {err}");
        let protocol = if version == "-tls1_2" { "TLSv1.2" } else { "TLSv1.3" };
        assert!(err.contains(protocol), "{version}: {err}");
        let server = server.expect("accepted");
        let got = poll_until(&lp, |g| has(g, EventKind::Closed, server) || has(&seen, EventKind::Closed, server));
        let closed = event(&got, EventKind::Closed, server).or(event(&seen, EventKind::Closed, server)).unwrap();
        assert_eq!(closed.error, None, "{version}");
    }
}

/// OpenSSL speaking only TLS 1.1 (allowed at security level 0) or offering
/// an ALPN protocol the server does not have: the server refuses with
/// ETLSNOSHARED and OpenSSL reports the alert it got (by number: its words
/// differ between OpenSSL versions).
#[test]
fn openssl_s_client_with_tls11_only_or_an_alpn_mismatch_is_etlsnoshared() {
    for (args, alert) in [
        (&["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"][..], "SSL alert number 40"),
        (&["-tls1_3", "-alpn", "h2"][..], "SSL alert number 120"),
    ] {
        let lp = Loop::new().unwrap();
        let (_listener, port) = tls_listener(&lp, server_config(&[b"x-netcore"], Duration::from_secs(30)));
        let child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", "localhost"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl runs");
        let got = poll_until(&lp, |g| accepted(g).is_some_and(|s| has(g, EventKind::Closed, s)));
        let server = accepted(&got).unwrap();
        assert_eq!(event(&got, EventKind::TlsFailed, server).unwrap().error, Some(Error::ETLSNOSHARED), "{args:?}");
        assert_eq!(event(&got, EventKind::Closed, server).unwrap().error, Some(Error::ETLSNOSHARED), "{args:?}");
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(alert), "{args:?}: {err}");
    }
}

/// STARTTLS (SMTP-style): plaintext lines, then both ends upgrade the live
/// connection; what follows is protected. A server keeping input after the
/// command (plaintext after the upgrade point) is refused the upgrade.
#[test]
fn starttls_upgrades_a_live_connection_and_is_refused_over_buffered_plaintext() {
    let lp = Loop::new().unwrap();
    let (client, server) = common::connected_pair(&lp);
    lp.set_framing(server, Framing::delimited(b"\n", 1024).unwrap()).unwrap();
    lp.send(client, b"STARTTLS\n").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Data, server));
    assert_eq!(event(&got, EventKind::Data, server).unwrap().data, b"STARTTLS");
    lp.send(server, b"220 go ahead\n").unwrap();
    lp.start_tls_server(server, &server_config(&[], Duration::from_secs(30))).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Data, client));
    assert_eq!(
        event(&got, EventKind::Data, client).unwrap().data,
        b"220 go ahead\n",
        "sent before the upgrade: plaintext"
    );
    lp.start_tls_client(client, &client_config("ca.pem", &[]), "localhost").unwrap();
    lp.send(client, b"AUTH secret\n").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Data, server));
    assert!(has(&got, EventKind::TlsReady, server) && has(&got, EventKind::TlsReady, client), "{:?}", kinds(&got));
    assert_eq!(event(&got, EventKind::Data, server).unwrap().data, b"AUTH secret");
    assert!(lp.tls_info(server).unwrap().is_some());
    let again = lp.start_tls_server(server, &server_config(&[], Duration::from_secs(30))).err();
    assert_eq!(again, Some(Error::EINVAL), "already TLS");

    // "STARTTLS\npartial" in one write: the start of the next line is kept.
    let (client, server) = common::connected_pair(&lp);
    lp.set_framing(server, Framing::delimited(b"\n", 1024).unwrap()).unwrap();
    lp.send(client, b"STARTTLS\nINJECTED").unwrap();
    poll_until(&lp, |g| has(g, EventKind::Data, server));
    let refused = lp.start_tls_server(server, &server_config(&[], Duration::from_secs(30))).unwrap_err();
    assert_eq!(refused, Error::EINVAL);
    assert!(refused.detail().expect("a detail").expected.contains("already buffered"), "{refused}");
    assert_eq!(lp.tls_info(server).unwrap(), None, "still plaintext");
}

/// A line-framed server connection whose peer wrote "STARTTLS\nINJECTED\n"
/// in one write, and the config to upgrade it with.
fn starttls_then_injected_line(lp: &Loop) -> (Handle, ServerConfig) {
    let (client, server) = common::connected_pair(lp);
    lp.set_framing(server, Framing::delimited(b"\n", 1024).unwrap()).unwrap();
    lp.send(client, b"STARTTLS\nINJECTED\n").unwrap();
    (server, server_config(&[], Duration::from_secs(30)))
}

/// "STARTTLS\nINJECTED\n" in one write: both lines are events of one
/// batch, and the second came after the upgrade point in plaintext (the
/// CVE-2021-23222 class). Upgrading while handling the first, the host
/// never gets the second: the connection fails ETLSPROTOCOL instead.
#[test]
fn starttls_refuses_plaintext_cut_into_the_same_batch_after_the_upgrade_point() {
    let lp = Loop::new().unwrap();
    let (server, config) = starttls_then_injected_line(&lp);
    let mut delivered = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !delivered.iter().any(|(kind, handle, _, _)| *kind == EventKind::Closed && *handle == server) {
        assert!(Instant::now() < deadline, "timed out: {delivered:?}");
        let batch = lp.poll(64, Some(Duration::from_millis(50))).unwrap();
        lp.deliver(batch, |event, data| {
            if event.kind == EventKind::Data && data == b"STARTTLS" {
                lp.start_tls_server(server, &config).unwrap();
            }
            delivered.push((event.kind, event.handle, event.error, data.to_vec()));
            true
        })
        .unwrap();
    }
    let of_server: Vec<_> = delivered.iter().filter(|e| e.1 == server).map(|e| (e.0, e.2, &e.3[..])).collect();
    assert_eq!(
        of_server,
        [
            (EventKind::Data, None, &b"STARTTLS"[..]),
            (EventKind::TlsFailed, Some(Error::ETLSPROTOCOL), &b""[..]),
            (EventKind::Closed, Some(Error::ETLSPROTOCOL), &b""[..]),
        ]
    );
    let failure = lp.tls_failure(server).unwrap().expect("a failure record");
    assert!(failure.reason.contains("upgrade point"), "{failure:?}");
}

/// The same injection for a host that delivers batches itself and asks
/// only about the connections it upgraded (the Node binding):
/// `skips_upgraded_data` refuses the second line.
#[test]
fn a_host_asking_about_its_upgraded_handles_never_gets_the_injected_line() {
    let lp = Loop::new().unwrap();
    let (server, config) = starttls_then_injected_line(&lp);
    let mut delivered = Vec::new();
    let mut upgraded = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !delivered.iter().any(|(kind, handle, _)| *kind == EventKind::Closed && *handle == server) {
        assert!(Instant::now() < deadline, "timed out: {delivered:?}");
        let batch = lp.poll(64, Some(Duration::from_millis(50))).unwrap();
        let events: Vec<_> = batch.events().iter().map(|e| (e.clone(), batch.data(e).to_vec())).collect();
        drop(batch);
        for (event, data) in events {
            if event.kind == EventKind::Data && upgraded && lp.skips_upgraded_data(event.handle) {
                upgraded = false;
                continue;
            }
            if event.kind == EventKind::Data && data == b"STARTTLS" {
                lp.start_tls_server(server, &config).unwrap();
                upgraded = true;
            }
            delivered.push((event.kind, event.handle, event.error));
        }
    }
    let of_server: Vec<_> = delivered.iter().filter(|e| e.1 == server).map(|e| (e.0, e.2)).collect();
    assert_eq!(
        of_server,
        [
            (EventKind::Data, None),
            (EventKind::TlsFailed, Some(Error::ETLSPROTOCOL)),
            (EventKind::Closed, Some(Error::ETLSPROTOCOL))
        ]
    );
}

/// Bytes queued before STARTTLS (the kernel was full) still go first, as
/// plaintext; the handshake and the protected data follow them.
#[test]
fn bytes_queued_before_starttls_go_first_as_plaintext() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = listen(&lp);
    let mut peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let got = poll_until(&lp, |g| accepted(g).is_some());
    let server = accepted(&got).unwrap();
    // Fill the kernel until a send is refused: the rest waits in the queue.
    let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 253) as u8).collect();
    let (mut plaintext, mut refused) = (Vec::new(), false);
    for _ in 0..4096 {
        match lp.send(server, &chunk) {
            Ok(()) => plaintext.extend_from_slice(&chunk),
            Err(e) if e == Error::EAGAIN => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(refused, "the queue filled (above its high-water mark, so bytes are queued)");
    lp.start_tls_server(server, &server_config(&[], Duration::from_secs(30))).unwrap();
    // The peer reads it all as plaintext (the loop flushes as room comes).
    let mut received = vec![0u8; plaintext.len()];
    let mut seen = Vec::new();
    let mut filled = 0;
    peer.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while filled < received.len() {
        assert!(Instant::now() < deadline, "plaintext stalled at {filled}");
        match peer.read(&mut received[filled..]) {
            Ok(0) => panic!("EOF"),
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
        poll_into(&lp, 64, Some(Duration::ZERO), &mut seen);
    }
    assert!(received == plaintext, "the queued bytes, unencrypted and in order");
    // Then TLS: the peer's client session handshakes with the server.
    let config = client_config("ca.pem", &[]);
    let mut session = TlsSession::client(&config, "localhost", Instant::now()).unwrap();
    session.write_plaintext(&[b"after"]).unwrap();
    drive(&lp, &mut peer, &mut session, &mut seen, |_, g| has(g, EventKind::Data, server));
    assert!(has(&seen, EventKind::TlsReady, server));
    assert_eq!(event(&seen, EventKind::Data, server).unwrap().data, b"after");
}

/// A netcore client with a client certificate against `openssl s_server`
/// requiring one (`-Verify 1`), in its line-reversing mode.
#[test]
fn a_netcore_client_with_a_certificate_talks_to_openssl_s_server() {
    let dir = &certs().0;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new("openssl")
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-naccept", "1", "-rev", "-Verify", "1"])
        .arg("-cert")
        .arg(dir.join("server.pem"))
        .arg("-key")
        .arg(dir.join("server.key"))
        .arg("-CAfile")
        .arg(dir.join("ca.pem"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs");
    // s_server prints ACCEPT once it listens.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rx.recv_timeout(Duration::from_secs(60)).expect("s_server starts").contains("ACCEPT") {
        assert!(Instant::now() < deadline, "s_server did not listen");
    }
    let options = ClientOptions {
        roots: Roots { system: false, ca: Some(Pem::Memory(pem("ca.pem"))) },
        cert_chain: Some(Pem::Memory(pem("client.pem"))),
        key: Some(Pem::Memory(pem("client.key"))),
        ..ClientOptions::default()
    };
    let lp = Loop::new().unwrap();
    let client = lp.tcp_connect("127.0.0.1", port as i64, 1).unwrap();
    lp.start_tls_client(client, &ClientConfig::new(&options).unwrap(), "127.0.0.1").unwrap();
    lp.set_framing(client, Framing::delimited(b"\n", 1024).unwrap()).unwrap();
    lp.send(client, b"netcore\n").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Data, client) || has(g, EventKind::Closed, client));
    assert!(has(&got, EventKind::TlsReady, client), "{:?}", kinds(&got));
    assert_eq!(event(&got, EventKind::Data, client).unwrap().data, b"erocten", "s_server reversed the line");
    lp.close(client).unwrap();
    poll_until(&lp, |g| has(g, EventKind::Closed, client));
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "s_server did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    reader.join().unwrap();
}

/// A TLS pair of the loop: (client, server side), both ready.
fn tls_pair(lp: &Loop) -> (Handle, Handle) {
    let (_listener, port) = tls_listener(lp, server_config(&[], Duration::from_secs(30)));
    let client = lp.tcp_connect("127.0.0.1", port as i64, 1).unwrap();
    lp.start_tls_client(client, &client_config("ca.pem", &[]), "localhost").unwrap();
    let got = poll_until(lp, |g| {
        has(g, EventKind::TlsReady, client) && accepted(g).is_some_and(|s| has(g, EventKind::TlsReady, s))
    });
    (client, accepted(&got).unwrap())
}

/// The connection cap and a graceful server shutdown under TLS: a capped
/// listener's second client waits (no handshake) until the first closes;
/// the shutdown closes the server's TLS connection with close_notify, then
/// FIN (the client sees a clean `Eof`, not ETLSTRUNCATED), then reports
/// `ShutdownComplete`.
#[test]
fn a_capped_tls_server_accepts_in_turn_and_shuts_down_with_close_notify() {
    let lp = Loop::new().unwrap();
    let (listener, port) = tls_listener(&lp, server_config(&[], Duration::from_secs(30)));
    lp.set_max_connections(listener, 1).unwrap();
    let config = client_config("ca.pem", &[]);
    let [first, second] = [1, 2].map(|userdata| {
        let client = lp.tcp_connect("127.0.0.1", port as i64, userdata).unwrap();
        lp.start_tls_client(client, &config, "localhost").unwrap();
        client
    });
    let mut got = poll_until(&lp, |g| has(g, EventKind::TlsReady, first) && accepted(g).is_some());
    for _ in 0..5 {
        poll_into(&lp, 64, Some(Duration::from_millis(20)), &mut got);
    }
    assert!(!has(&got, EventKind::TlsReady, second), "at the cap: {:?}", kinds(&got));
    lp.close(first).unwrap();
    // The server closes its end on the first client's clean Eof.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !has(&seen, EventKind::TlsReady, second) {
        assert!(Instant::now() < deadline, "{:?}", kinds(&seen));
        let start = seen.len();
        poll_into(&lp, 64, Some(Duration::from_millis(50)), &mut seen);
        for e in seen[start..].iter().filter(|e| e.kind == EventKind::Eof) {
            assert_eq!(e.error, None);
            lp.close(e.handle).unwrap();
        }
    }
    lp.shutdown_server(listener, Duration::from_secs(3600)).unwrap();
    let server = accepted(&seen[seen.iter().rposition(|e| e.kind == EventKind::Accepted).unwrap()..]).unwrap();
    let mut got = poll_until(&lp, |g| has(g, EventKind::Eof, second));
    assert_eq!(event(&got, EventKind::Eof, second).unwrap().error, None, "close_notify came first");
    lp.close(second).unwrap();
    let listener_closed = has(&got, EventKind::Closed, listener);
    got.extend(poll_until(&lp, |g| {
        has(g, EventKind::Closed, second) && (listener_closed || has(g, EventKind::Closed, listener))
    }));
    let closed = |handle| event(&got, EventKind::Closed, handle).map(|e| e.error);
    assert_eq!((closed(server), closed(second)), (Some(None), Some(None)), "{:?}", kinds(&got));
    assert!(has(&got, EventKind::ShutdownComplete, listener), "{:?}", kinds(&got));
}

/// Backpressure under TLS: while the server is paused, the client's sends
/// are refused whole with EAGAIN once its queue passes the high-water mark;
/// `Writable` follows the resume; tokens fire in order; every line arrives
/// intact and in order. Polling one event at a time leaves frames waiting
/// on the connection: a pause holds them, a resume delivers them.
#[test]
fn backpressure_tokens_and_pause_resume_hold_under_tls() {
    let lp = Loop::new().unwrap();
    let (client, server) = tls_pair(&lp);
    lp.set_framing(server, Framing::delimited(b"\n", 1 << 20).unwrap()).unwrap();
    lp.pause(server).unwrap();
    let line = |i: u64| format!("{i:08} {}\n", "x".repeat(1000)).into_bytes();
    let (mut sent, mut refused) = (0u64, false);
    for _ in 0..100_000 {
        match lp.send_with_token(client, &[&line(sent)], Some(sent)) {
            Ok(()) => sent += 1,
            Err(e) if e == Error::EAGAIN => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
        poll_into(&lp, 64, Some(Duration::ZERO), &mut Vec::new());
    }
    assert!(refused, "a paused peer fills the queue to its high-water mark");
    lp.resume(server).unwrap();
    let (mut seen, mut lines, mut next) = (Vec::new(), 0u64, sent);
    let mut paused_once = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines < next || next < sent + 200 {
        assert!(
            Instant::now() < deadline,
            "stalled at {lines} of {next}: {:?}",
            kinds(&seen[seen.len().saturating_sub(5)..])
        );
        let start = seen.len();
        // One event per poll: frames of one read wait on the connection.
        poll_into(&lp, 1, Some(Duration::from_millis(20)), &mut seen);
        for got in seen[start..].to_vec() {
            match got.kind {
                EventKind::Data if got.handle == server => {
                    assert_eq!(got.data, &line(lines)[..line(lines).len() - 1], "line {lines} intact, in order");
                    lines += 1;
                    if !paused_once && lines == 10 {
                        // Pause with frames waiting, resume: they come without new input.
                        paused_once = true;
                        lp.pause(server).unwrap();
                        let mut quiet = Vec::new();
                        poll_into(&lp, 64, Some(Duration::from_millis(20)), &mut quiet);
                        assert!(!has(&quiet, EventKind::Data, server), "paused: nothing delivered");
                        seen.extend(quiet);
                        lp.resume(server).unwrap();
                    }
                }
                EventKind::Writable if got.handle == client => {
                    while next < sent + 200 && lp.send_with_token(client, &[&line(next)], Some(next)).is_ok() {
                        next += 1;
                    }
                }
                EventKind::Closed | EventKind::TlsFailed => panic!("{:?}", kinds(&seen)),
                _ => {}
            }
        }
    }
    let tokens: Vec<u64> =
        seen.iter().filter(|e| e.kind == EventKind::Sent && e.handle == client).map(|e| e.event.value).collect();
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "tokens fire in order");
    assert!(has(&seen, EventKind::Writable, client), "Writable after the refusal");
}

/// The water marks and `queued_bytes` count bytes on the wire: a message
/// queued before the handshake ends counts its TLS 1.3 record's 22 bytes
/// of overhead, so a high-water mark one byte short of three messages'
/// wire bytes refuses the third (counting plaintext would admit it); the
/// mark at exactly those bytes admits it. Once the records are written,
/// nothing is queued and every byte arrived.
#[test]
fn the_water_marks_and_queued_bytes_count_the_tls_records_overhead() {
    use netcore_core::SockOption;
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server_config(&[], Duration::from_secs(30)));
    let client = lp.tcp_connect("127.0.0.1", port as i64, 1).unwrap();
    lp.start_tls_client(client, &client_config("ca.pem", &[]), "localhost").unwrap();
    let message = |i: u8| vec![b'a' + i; 1000];
    let wire = 1000 + 22;
    lp.set_option(client, SockOption::LowWater, 0).unwrap();
    lp.set_option(client, SockOption::HighWater, 3 * wire - 1).unwrap();
    lp.send(client, &message(0)).unwrap();
    lp.send(client, &message(1)).unwrap();
    assert_eq!(lp.queued_bytes(client), Ok(2 * wire as usize));
    assert_eq!(lp.send(client, &message(2)), Err(Error::EAGAIN), "3 * 1022 B passes the mark");
    lp.set_option(client, SockOption::HighWater, 3 * wire).unwrap();
    lp.send(client, &message(2)).unwrap();
    assert_eq!(lp.queued_bytes(client), Ok(3 * wire as usize));
    let want = [message(0), message(1), message(2)].concat();
    let mut got = Vec::new();
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < want.len() {
        assert!(Instant::now() < deadline, "stalled at {} bytes: {:?}", received.len(), kinds(&got));
        let start = got.len();
        poll_into(&lp, 64, Some(Duration::from_millis(50)), &mut got);
        for e in &got[start..] {
            match e.kind {
                EventKind::Data => received.extend_from_slice(&e.data),
                EventKind::Closed | EventKind::TlsFailed => panic!("{:?}", kinds(&got)),
                _ => {}
            }
        }
    }
    assert_eq!(received, want);
    assert_eq!(lp.queued_bytes(client), Ok(0));
}

/// Half-close under TLS: `shutdown` sends close_notify then the FIN; the
/// peer sees a clean `Eof` and can still answer, and the answer arrives.
#[test]
fn a_tls_half_close_lets_the_peer_answer_after_a_clean_eof() {
    let lp = Loop::new().unwrap();
    let (client, server) = tls_pair(&lp);
    lp.send(client, b"question").unwrap();
    lp.shutdown(client).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Eof, server));
    assert_eq!(event(&got, EventKind::Data, server).unwrap().data, b"question");
    lp.send(server, b"answer").unwrap();
    lp.close(server).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, client) && has(g, EventKind::Closed, server));
    assert_eq!(event(&got, EventKind::Data, client).map(|e| e.data.clone()), Some(b"answer".to_vec()));
    assert!(has(&got, EventKind::Eof, client), "the server's close_notify and FIN: a clean EOF");
    assert_eq!(event(&got, EventKind::Closed, client).unwrap().error, None);
    assert_eq!(event(&got, EventKind::Closed, server).unwrap().error, None);
}

/// A hard close under TLS: `close_reset` sends no close_notify (the peer
/// would take it for a clean EOF before the reset): the peer closes
/// ECONNRESET, with no `Eof` and no `TlsFailed`.
#[test]
fn a_tls_hard_close_is_a_reset_without_close_notify() {
    let lp = Loop::new().unwrap();
    let (client, server) = tls_pair(&lp);
    lp.send(client, b"ping").unwrap();
    poll_until(&lp, |g| has(g, EventKind::Data, server));
    lp.close_reset(client).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, server));
    assert_eq!(event(&got, EventKind::Closed, server).unwrap().error, Some(Error::ECONNRESET));
    assert!(!has(&got, EventKind::Eof, server) && !has(&got, EventKind::TlsFailed, server), "{:?}", kinds(&got));
}

/// Certificate rotation: a new config on a live TLS listener serves the
/// connections accepted after it; an expired certificate refused the one
/// before.
#[test]
fn a_new_listener_config_serves_later_accepts() {
    let lp = Loop::new().unwrap();
    let (listener, port) = tls_listener(&lp, server_with("expired", &[], ClientAuth::None));
    let connect = || {
        let client = lp.tcp_connect("127.0.0.1", port as i64, 1).unwrap();
        lp.start_tls_client(client, &client_config("ca.pem", &[]), "localhost").unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::TlsReady, client) || has(g, EventKind::Closed, client));
        event(&got, EventKind::TlsFailed, client).and_then(|e| e.error)
    };
    assert_eq!(connect(), Some(Error::ETLSEXPIRED));
    lp.set_listener_tls(listener, Some(server_config(&[], Duration::from_secs(30)))).unwrap();
    assert_eq!(connect(), None, "the rotated certificate");
}

/// The idle timeout under TLS: an idle TLS connection gets `Idle` (its
/// handshake was its last traffic) and stays usable: protected data still
/// goes through after it.
#[test]
fn an_idle_tls_connection_gets_idle_and_stays_usable() {
    let lp = Loop::new().unwrap();
    let (client, server) = tls_pair(&lp);
    lp.set_idle_timeout(client, Some(Duration::from_millis(100))).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Idle, client));
    assert!(!has(&got, EventKind::Closed, client) && !has(&got, EventKind::TlsFailed, client), "{:?}", kinds(&got));
    lp.set_idle_timeout(client, None).unwrap();
    lp.send(client, b"after idle").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Data, server));
    assert_eq!(event(&got, EventKind::Data, server).unwrap().data, b"after idle");
}

/// The idle timeout counts handshake traffic: a peer that trickles its
/// ClientHello in pieces, for longer than the idle timeout in all but never
/// silent for long, gets no `Idle`; once it falls silent, `Idle` comes.
#[test]
fn handshake_traffic_keeps_a_tls_connection_from_going_idle() {
    let hello = client_hello();
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server_config(&[], Duration::from_secs(30)));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut got = poll_until(&lp, |g| accepted(g).is_some());
    let server = accepted(&got).unwrap();
    let idle = Duration::from_secs(2);
    lp.set_idle_timeout(server, Some(idle)).unwrap();
    // Eight pieces a quarter of the idle timeout apart: 2 s of handshake in all.
    let pieces = 8;
    for piece in hello.chunks(hello.len().div_ceil(pieces)) {
        stream.write_all(piece).unwrap();
        let until = Instant::now() + idle / 4;
        while Instant::now() < until {
            poll_into(&lp, 64, Some(Duration::from_millis(20)), &mut got);
        }
    }
    assert!(!has(&got, EventKind::Idle, server), "handshake traffic counts: {:?}", kinds(&got));
    let got = poll_until(&lp, |g| has(g, EventKind::Idle, server));
    assert!(!has(&got, EventKind::Closed, server), "{:?}", kinds(&got));
}

#[test]
fn a_reconnect_after_a_backoff_longer_than_the_handshake_timeout_gets_a_fresh_handshake() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server_config(&[], Duration::from_secs(30)));
    let options = ClientOptions {
        roots: Roots { system: false, ca: Some(Pem::Memory(pem("ca.pem"))) },
        handshake_timeout: Duration::from_secs(1),
        ..ClientOptions::default()
    };
    let config = ClientConfig::new(&options).expect("client config");
    // The backoff (3 s) is longer than the client's handshake timeout (1 s):
    // the fresh session's handshake must be timed from its own connection.
    let opts = netcore_core::ConnectOptions { reconnect: vec![Duration::from_secs(3)], ..Default::default() };
    let client = lp.tcp_connect_with("127.0.0.1", port as i64, &opts, 1).unwrap();
    lp.start_tls_client(client, &config, "localhost").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::TlsReady, client) && accepted(g).is_some());
    let first = accepted(&got).unwrap();
    lp.close_reset(first).unwrap();
    let got = poll_until(&lp, |g| {
        has(g, EventKind::TlsReady, client) || has(g, EventKind::TlsFailed, client) || has(g, EventKind::Closed, client)
    });
    assert!(has(&got, EventKind::Reconnecting, client), "{:?}", kinds(&got));
    assert!(!has(&got, EventKind::TlsFailed, client), "the fresh handshake failed: {:?}", kinds(&got));
    assert!(has(&got, EventKind::TlsReady, client), "{:?}", kinds(&got));
}

/// The peer's close_notify is the server's `Eof` even while the peer keeps
/// its socket open waiting for ours (as asyncio does before its FIN); the
/// server's close then answers with its own close_notify.
#[test]
fn a_close_notify_without_a_fin_is_a_clean_eof_and_gets_ours() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = tls_listener(&lp, server_config(&[], Duration::from_secs(30)));
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut session = TlsSession::client(&client_config("ca.pem", &[]), "localhost", Instant::now()).unwrap();
    session.write_plaintext(&[b"bye"]).unwrap();
    let mut seen = Vec::new();
    drive(&lp, &mut stream, &mut session, &mut seen, |_, g| g.iter().any(|e| e.kind == EventKind::Data));
    let server = accepted(&seen).unwrap();
    session.close();
    session.write_tls(&mut stream).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Eof, server));
    assert!(!has(&got, EventKind::Closed, server), "the socket is still open: {:?}", kinds(&got));
    lp.close(server).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, server));
    assert_eq!(event(&got, EventKind::Closed, server).unwrap().error, None);
    let mut answer = Vec::new();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.read_to_end(&mut answer).unwrap();
    session.handle_input(&answer, &mut Vec::new()).unwrap();
    assert!(session.received_close_notify(), "the server answered with its close_notify");
}

/// TLS runs over a Unix socket as over TCP: a TLS Unix listener, and a
/// client that upgrades its live connection (STARTTLS-style) and echoes.
#[test]
fn tls_runs_over_a_unix_socket() {
    let lp = Loop::new().unwrap();
    let name = format!("@netcore-tls-{}", std::process::id());
    let listener = lp.unix_listen(&name, &netcore_core::BindOptions::default(), 0).unwrap();
    lp.set_listener_tls(listener, Some(server_config(&[], Duration::from_secs(30)))).unwrap();
    let client = lp.unix_connect(&name, 0).unwrap();
    lp.start_tls_client(client, &client_config("ca.pem", &[]), "localhost").unwrap();
    lp.send(client, b"secret over unix").unwrap();
    let got = poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Data));
    let data = got.iter().find(|e| e.kind == EventKind::Data).unwrap();
    assert_eq!(data.data, b"secret over unix");
    assert!(has(&got, EventKind::TlsReady, client), "{:?}", kinds(&got));
    assert!(lp.tls_info(data.handle).unwrap().is_some(), "the server side speaks TLS");
}

/// The whole TLS records at the start of `raw`: (content type, length).
fn records(mut raw: &[u8]) -> Vec<(u8, usize)> {
    let mut found = Vec::new();
    while raw.len() >= 5 {
        let length = usize::from(u16::from_be_bytes([raw[3], raw[4]]));
        if raw.len() < 5 + length {
            break;
        }
        found.push((raw[0], length));
        raw = &raw[5 + length..];
    }
    found
}

/// Reads from a netcore TLS server (polling its loop) until `want` bytes of
/// plaintext came; returns the records they came in.
fn records_until(lp: &Loop, stream: &mut TcpStream, session: &mut TlsSession, want: usize) -> Vec<(u8, usize)> {
    let (mut raw, mut plaintext) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    stream.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    while plaintext.len() < want {
        assert!(Instant::now() < deadline, "stalled at {} of {want} bytes", plaintext.len());
        let mut buf = [0u8; 65536];
        match stream.read(&mut buf) {
            Ok(0) => panic!("EOF at {} of {want} bytes", plaintext.len()),
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                session.handle_input(&buf[..n], &mut plaintext).unwrap();
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
        poll_into(lp, 64, Some(Duration::from_millis(5)), &mut Vec::new());
    }
    assert_eq!(plaintext.len(), want);
    records(&raw)
}

#[test]
fn a_gather_send_goes_in_one_record_where_it_fits() {
    const APPLICATION_DATA: u8 = 23;
    // TLS 1.3: the inner content type byte and the AEAD tag.
    const OVERHEAD: usize = 1 + 16;
    let lp = Loop::new().unwrap();
    let (mut stream, mut session, server) = handshaken_raw_client(&lp);
    // What the server sends after its handshake (session tickets) comes first.
    lp.send(server, b"ping").unwrap();
    records_until(&lp, &mut stream, &mut session, 4);

    let (a, b, c) = (vec![b'a'; 100], vec![b'b'; 1000], vec![b'c'; 5000]);
    lp.send_vectored(server, &[&a, &b, &c]).unwrap();
    let got = records_until(&lp, &mut stream, &mut session, 6100);
    assert_eq!(got, [(APPLICATION_DATA, 6100 + OVERHEAD)], "three buffers, one record");

    let part = vec![b'd'; 10_000];
    lp.send_vectored(server, &[&part, &part, &part]).unwrap();
    let got = records_until(&lp, &mut stream, &mut session, 30_000);
    assert_eq!(got, [(APPLICATION_DATA, 16_384 + OVERHEAD), (APPLICATION_DATA, 13_616 + OVERHEAD)], "full records");
}
