//! Unix domain sockets (stream and datagram, filesystem paths and the
//! abstract namespace, peer credentials, the socket file's lifetime) and
//! adopted descriptors (listeners, connections, datagram sockets; one
//! listener shared by two loops), on real local sockets.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{has, poll_until, Got};
use netcore_core::{BindOptions, Error, EventKind, Handle, Loop, MAX_UNIX_PATH};

/// A fresh path in the test's temporary directory (nothing there yet).
fn temp_path(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

fn accepted(got: &[Got]) -> Option<Handle> {
    got.iter().find(|g| g.kind == EventKind::Accepted).map(|g| g.handle)
}

fn data_of(got: &[Got], handle: Handle) -> Vec<u8> {
    got.iter().filter(|g| g.kind == EventKind::Data && g.handle == handle).flat_map(|g| g.data.clone()).collect()
}

/// Connects to `path` with the loop, returns (client, server side) once
/// both ends saw the connection.
fn unix_pair(lp: &Loop, path: &str) -> (Handle, Handle) {
    let client = lp.unix_connect(path, 1).unwrap();
    let got = poll_until(lp, |g| has(g, EventKind::Connected, client) && accepted(g).is_some());
    let accept = got.iter().find(|g| g.kind == EventKind::Accepted).unwrap();
    assert_eq!(accept.event.addr, None, "a Unix peer has no IP address");
    (client, accept.handle)
}

fn echo_once(lp: &Loop, client: Handle, server: Handle, message: &[u8]) {
    lp.send(client, message).unwrap();
    let got = poll_until(lp, |g| data_of(g, server).len() >= message.len());
    assert_eq!(data_of(&got, server), message);
    lp.send(server, message).unwrap();
    let got = poll_until(lp, |g| data_of(g, client).len() >= message.len());
    assert_eq!(data_of(&got, client), message);
}

fn closed(lp: &Loop, handle: Handle) {
    lp.close(handle).unwrap();
    poll_until(lp, |g| has(g, EventKind::Closed, handle));
}

#[test]
fn a_unix_listener_on_a_path_echoes_reports_credentials_and_removes_its_file() {
    let lp = Loop::new().unwrap();
    let path = temp_path("echo.sock");
    let text = path.to_str().unwrap();
    let listener = lp.unix_listen(text, &BindOptions::default(), 0).unwrap();
    assert!(path.exists(), "the socket file is created");
    assert_eq!(lp.local_path(listener).unwrap().as_deref(), Some(text));
    assert_eq!(lp.local_addr(listener), Err(Error::EAFNOSUPPORT));
    let (client, server) = unix_pair(&lp, text);
    echo_once(&lp, client, server, b"over a unix socket");
    let creds = lp.peer_credentials(server).unwrap();
    // SAFETY: plain getters.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!((creds.pid, creds.uid, creds.gid), (std::process::id() as i32, uid, gid));
    assert_eq!(lp.peer_path(client).unwrap().as_deref(), Some(text));
    assert_eq!(lp.peer_path(server).unwrap(), None, "the client is unnamed");
    assert_eq!(
        lp.unix_listen(text, &BindOptions::default(), 0).unwrap_err(),
        Error::EADDRINUSE,
        "the file is in use while the listener lives"
    );
    closed(&lp, listener);
    assert!(!path.exists(), "the listener that created the file removed it");
}

#[test]
fn the_abstract_namespace_needs_no_file_and_graceful_close_works_as_over_tcp() {
    let lp = Loop::new().unwrap();
    let name = format!("@netcore-test-{}", std::process::id());
    let listener = lp.unix_listen(&name, &BindOptions::default(), 0).unwrap();
    assert_eq!(lp.local_path(listener).unwrap(), Some(name.clone()));
    let (client, server) = unix_pair(&lp, &name);
    lp.set_option(server, netcore_core::SockOption::LowWater, 32).unwrap();
    lp.set_option(server, netcore_core::SockOption::HighWater, 64).unwrap();
    let big = vec![7u8; 1 << 20];
    lp.send(server, &big).unwrap();
    assert_eq!(lp.send(server, b"more").unwrap_err(), Error::EAGAIN, "water marks apply");
    lp.close(server).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Eof, client));
    assert_eq!(data_of(&got, client).len(), big.len(), "a graceful close delivers everything queued");
    closed(&lp, client);
    poll_until(&lp, |g| has(g, EventKind::Closed, server));
}

#[test]
fn bad_paths_are_refused_with_a_detail_and_a_missing_one_fails_at_once() {
    let lp = Loop::new().unwrap();
    let long = "/tmp/".to_owned() + &"x".repeat(MAX_UNIX_PATH);
    for bad in [long.as_str(), "", "@", "a\0b"] {
        let e = lp.unix_listen(bad, &BindOptions::default(), 0).unwrap_err();
        assert_eq!(e.detail().map(|d| d.argument), Some("path"), "{bad:?}");
        assert_eq!(lp.unix_connect(bad, 0).unwrap_err(), Error::EINVAL);
        assert_eq!(lp.unix_dgram_bind(bad, 0).unwrap_err(), Error::EINVAL);
    }
    let missing = temp_path("missing.sock");
    assert_eq!(lp.unix_connect(missing.to_str().unwrap(), 0).unwrap_err().code(), -libc::ENOENT);
    assert_eq!(lp.handle_count(), 0, "a refused call creates nothing");
}

#[test]
fn unix_datagrams_carry_the_senders_path_and_are_answered_there() {
    let lp = Loop::new().unwrap();
    let (a_path, b_path) = (temp_path("a.dgram"), temp_path("b.dgram"));
    let (a_text, b_text) = (a_path.to_str().unwrap(), b_path.to_str().unwrap());
    let a = lp.unix_dgram_bind(a_text, 0).unwrap();
    let b = lp.unix_dgram_bind(b_text, 0).unwrap();
    lp.unix_send_to(a, b_text, b"ping").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Datagram, b));
    let ping = got.iter().find(|g| g.kind == EventKind::Datagram).unwrap();
    assert_eq!((ping.data.as_slice(), ping.path.as_deref(), ping.event.addr), (&b"ping"[..], Some(a_text), None));
    lp.unix_send_to(b, ping.path.as_deref().unwrap(), b"pong").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Datagram, a));
    assert_eq!(got.iter().find(|g| g.kind == EventKind::Datagram).unwrap().data, b"pong");

    let unnamed = UnixDatagram::unbound().unwrap();
    unnamed.send_to(b"anon", &b_path).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Datagram, b));
    assert_eq!(got.iter().find(|g| g.kind == EventKind::Datagram).unwrap().path, None);

    // A datagram handed back undelivered keeps its sender's path.
    lp.unix_send_to(a, b_text, b"kept").unwrap();
    let mut batch = lp.poll(8, Some(Duration::from_millis(50))).unwrap();
    for _ in 0..1000 {
        if !batch.events().is_empty() {
            break;
        }
        drop(batch);
        batch = lp.poll(8, Some(Duration::from_millis(50))).unwrap();
    }
    assert_eq!(batch.path(&batch.events()[0]), Some(a_text));
    batch.keep_from(0);
    let got = poll_until(&lp, |g| has(g, EventKind::Datagram, b));
    let kept = got.iter().find(|g| g.kind == EventKind::Datagram).unwrap();
    assert_eq!((kept.data.as_slice(), kept.path.as_deref()), (&b"kept"[..], Some(a_text)));

    lp.unix_dgram_connect(a, b_text).unwrap();
    lp.send(a, b"connected").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Datagram, b));
    assert_eq!(got.iter().find(|g| g.kind == EventKind::Datagram).unwrap().data, b"connected");
    lp.udp_disconnect(a).unwrap();
    assert_eq!(lp.send(a, b"where to?"), Err(Error::ENOTCONN), "no default peer any more");
    lp.unix_dgram_connect(a, b_text).unwrap();
    assert_eq!(lp.send_to(a, "127.0.0.1", 9, b"x").unwrap_err(), Error::EWRONGKIND, "no IP address on a Unix socket");
    assert_eq!(lp.udp_connect(a, "127.0.0.1", 9).unwrap_err(), Error::EWRONGKIND);
    let udp = lp.udp_bind("127.0.0.1", 0, &BindOptions::default(), 0).unwrap();
    assert_eq!(lp.unix_send_to(udp, b_text, b"x").unwrap_err(), Error::EWRONGKIND, "no path on a UDP socket");
    closed(&lp, a);
    closed(&lp, b);
    assert!(!a_path.exists() && !b_path.exists(), "closing removes the files the sockets created");
}

#[test]
fn a_unix_datagram_larger_than_64_kib_is_reported_as_emsgsize_and_the_next_one_arrives() {
    let lp = Loop::new().unwrap();
    let path = temp_path("big.dgram");
    let server = lp.unix_dgram_bind(path.to_str().unwrap(), 0).unwrap();
    let sender_path = temp_path("big-sender.dgram");
    let sender = UnixDatagram::bind(&sender_path).unwrap();
    sender.send_to(&vec![7u8; 70_000], &path).unwrap();
    sender.send_to(b"after", &path).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Datagram, server));
    let seen: Vec<(EventKind, Option<Error>)> = got.iter().map(|g| (g.kind, g.error)).collect();
    assert_eq!(seen, [(EventKind::Error, Some(Error::EMSGSIZE)), (EventKind::Datagram, None)]);
    assert_eq!((got[1].data.as_slice(), got[1].path.as_deref()), (&b"after"[..], sender_path.to_str()));
    std::fs::remove_file(&sender_path).unwrap();
}

#[test]
fn peer_credentials_are_for_unix_connections_only() {
    let lp = Loop::new().unwrap();
    let (client, server) = common::connected_pair(&lp);
    assert_eq!(lp.peer_credentials(client).unwrap_err(), Error::EWRONGKIND);
    assert_eq!(lp.peer_path(server).unwrap_err(), Error::EAFNOSUPPORT);
    let udp = lp.udp_bind("127.0.0.1", 0, &BindOptions::default(), 0).unwrap();
    assert_eq!(lp.peer_credentials(udp).unwrap_err(), Error::EWRONGKIND);
}

fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

fn is_blocking(fd: RawFd) -> bool {
    // SAFETY: as above.
    unsafe { libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK == 0 }
}

#[test]
fn an_adopted_tcp_listener_accepts_and_an_adopted_connection_and_udp_socket_work() {
    let lp = Loop::new().unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let fd = std_listener.into_raw_fd();
    let listener = lp.adopt_listener(fd, 5).unwrap();
    assert_eq!(lp.local_addr(listener).unwrap().port(), port);
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let got = poll_until(&lp, |g| accepted(g).is_some());
    let server = accepted(&got).unwrap();
    client.write_all(b"hello").unwrap();
    let got = poll_until(&lp, |g| data_of(g, server).len() >= 5);
    assert_eq!(data_of(&got, server), b"hello");

    // A connected socket made elsewhere: both its ends.
    let (mut ours, theirs) = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (c, l.accept().unwrap().0)
    };
    let conn = lp.adopt_connection(theirs.into_raw_fd(), 6).unwrap();
    ours.write_all(b"adopted").unwrap();
    let got = poll_until(&lp, |g| data_of(g, conn).len() >= 7);
    assert_eq!(data_of(&got, conn), b"adopted");
    lp.send(conn, b"back").unwrap();
    let mut reply = [0u8; 4];
    ours.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"back");

    let udp_std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_addr = udp_std.local_addr().unwrap();
    let udp = lp.adopt_udp(udp_std.into_raw_fd(), 7).unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"dgram", udp_addr).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Datagram, udp));
    let dgram = got.iter().find(|g| g.kind == EventKind::Datagram).unwrap();
    assert_eq!((dgram.data.as_slice(), dgram.event.addr), (&b"dgram"[..], Some(sender.local_addr().unwrap())));
}

#[test]
fn adopting_the_wrong_socket_is_refused_and_leaves_the_descriptor_as_it_was() {
    let lp = Loop::new().unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = UnixStream::pair().unwrap().0;
    let (mut pipe_fds, file) = ([0; 2], std::fs::File::open("/dev/null").unwrap());
    // SAFETY: pipe writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe(pipe_fds.as_mut_ptr()) }, 0);
    let unconnected = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let cases: [(RawFd, &str); 7] = [
        (unconnected.as_raw_fd(), "connection"),
        (udp.as_raw_fd(), "listener"),
        (stream.as_raw_fd(), "listener"),
        (tcp_listener.as_raw_fd(), "connection"),
        (udp.as_raw_fd(), "connection"),
        (tcp_listener.as_raw_fd(), "udp"),
        (file.as_raw_fd(), "udp"),
    ];
    for (fd, what) in cases {
        let result = match what {
            "listener" => lp.adopt_listener(fd, 0),
            "connection" => lp.adopt_connection(fd, 0),
            _ => lp.adopt_udp(fd, 0),
        };
        let e = result.unwrap_err();
        assert_eq!(e.detail().map(|d| d.argument), Some("fd"), "{what} from fd {fd}");
        assert!(is_open(fd) && is_blocking(fd), "a refused descriptor is untouched");
    }
    for fd in [-1, pipe_fds[0], 1_000_000] {
        assert_eq!(lp.adopt_listener(fd, 0).unwrap_err(), Error::EINVAL);
    }
    assert_eq!(lp.handle_count(), 0);
}

#[test]
fn an_adopted_unix_listener_leaves_the_file_it_did_not_create() {
    let lp = Loop::new().unwrap();
    let path = temp_path("adopted.sock");
    let std_listener = UnixListener::bind(&path).unwrap();
    let listener = lp.adopt_listener(std_listener.into_raw_fd(), 0).unwrap();
    let (client, server) = unix_pair(&lp, path.to_str().unwrap());
    echo_once(&lp, client, server, b"adopted unix");
    let (ours, theirs) = UnixStream::pair().unwrap();
    let conn = lp.adopt_connection(theirs.into_raw_fd(), 0).unwrap();
    assert_eq!(lp.peer_credentials(conn).unwrap().pid, std::process::id() as i32);
    drop(ours);
    poll_until(&lp, |g| has(g, EventKind::Eof, conn));
    closed(&lp, listener);
    assert!(path.exists(), "not ours to remove");
}

fn dup(fd: RawFd) -> RawFd {
    // SAFETY: duplicates an open descriptor; the copy is handed to a loop.
    let copy = unsafe { libc::dup(fd) };
    assert!(copy >= 0);
    copy
}

/// One listener, two loops each adopting a duplicate: whichever loop polls
/// accepts the waiting connection.
#[test]
fn two_loops_share_one_listener_each_accepting() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let loops = [Loop::new().unwrap(), Loop::new().unwrap()];
    for lp in &loops {
        lp.adopt_listener(dup(std_listener.as_raw_fd()), 0).unwrap();
    }
    drop(std_listener);
    let mut clients = Vec::new();
    for lp in &loops {
        clients.push(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
        poll_until(lp, |g| accepted(g).is_some());
    }
}

/// Two loops on two threads accepting from one listener serve every client
/// between them.
#[test]
fn two_threads_accepting_from_one_listener_serve_every_client() {
    const CLIENTS: usize = 20;
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let (stop, accepted_total) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let lp = Loop::new().unwrap();
            lp.adopt_listener(dup(std_listener.as_raw_fd()), 0).unwrap();
            let (stop, accepted_total) = (stop.clone(), accepted_total.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let batch = lp.poll(64, Some(Duration::from_millis(20))).unwrap();
                    for e in batch.events() {
                        match e.kind {
                            EventKind::Accepted => drop(accepted_total.fetch_add(1, Ordering::AcqRel)),
                            EventKind::Data => lp.send(e.handle, batch.data(e)).unwrap(),
                            _ => {}
                        }
                    }
                }
            })
        })
        .collect();
    drop(std_listener);
    for i in 0..CLIENTS {
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let message = format!("client {i}");
        client.write_all(message.as_bytes()).unwrap();
        let mut echoed = vec![0; message.len()];
        client.read_exact(&mut echoed).unwrap();
        assert_eq!(echoed, message.as_bytes());
    }
    stop.store(true, Ordering::Release);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(accepted_total.load(Ordering::Acquire), CLIENTS);
}
