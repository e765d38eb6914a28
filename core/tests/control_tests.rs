//! Timers, timeouts, resilience and server control, on real loopback sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use netcore_core::{BindOptions, ConnectOptions, Error, EventKind, Family, Handle, Loop, SockOption};

mod common;
use common::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn count(got: &[Got], kind: EventKind, handle: Handle) -> usize {
    got.iter().filter(|g| g.kind == kind && g.handle == handle).count()
}

#[test]
fn timers_fire_in_order_repeat_and_cancel() {
    let lp = Loop::new().unwrap();
    let started = Instant::now();
    let late = lp.timer_start(ms(60), None, 2).unwrap();
    let early = lp.timer_start(ms(20), None, 1).unwrap();
    // Deadlines count from each start: only a stall of 40 ms between the two
    // starts could make `late` due first, and then either order is right.
    let starts_apart = started.elapsed();
    let repeating = lp.timer_start(ms(10), Some(ms(10)), 3).unwrap();
    let cancelled = lp.timer_start(ms(30), None, 4).unwrap();
    lp.close(cancelled).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, late) && count(g, EventKind::Timer, repeating) >= 5);
    let fired: Vec<Handle> =
        got.iter().filter(|g| g.kind == EventKind::Timer && g.handle != repeating).map(|g| g.handle).collect();
    if starts_apart < ms(40) {
        assert_eq!(fired, [early, late]);
    } else {
        assert!(fired == [early, late] || fired == [late, early], "{fired:?}");
    }
    assert_eq!(count(&got, EventKind::Timer, cancelled), 0);
    assert_eq!(count(&got, EventKind::Closed, cancelled), 1);
    assert_eq!(count(&got, EventKind::Closed, early), 1, "one-shot timers close after firing");
    lp.close(repeating).unwrap();
}

/// How late a timer fires is the machine's business; early is a bug.
#[test]
fn ten_thousand_timers_all_fire_none_early() {
    let lp = Loop::new().unwrap();
    let start = Instant::now();
    let n = 10_000u64;
    for i in 0..n {
        lp.timer_start(ms(i % 200), None, i).unwrap();
    }
    let mut fired = 0;
    let deadline = start + Duration::from_secs(60); // hang guard
    while fired < n {
        assert!(Instant::now() < deadline, "only {fired} fired");
        let batch = lp.poll(1024, Some(ms(50))).unwrap();
        for e in batch.events().iter().filter(|e| e.kind == EventKind::Timer) {
            let due = start + ms(e.userdata % 200);
            assert!(Instant::now() >= due, "timer {} fired before its delay", e.userdata);
            fired += 1;
        }
    }
}

#[test]
fn idle_timeout_fires_on_silence_and_not_on_traffic() {
    let lp = Loop::new().unwrap();
    let (_l, port) = listen(&lp);
    let mut busy_peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _silent_peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let got = poll_until(&lp, |g| g.iter().filter(|e| e.kind == EventKind::Accepted).count() == 2);
    let accepted: Vec<Handle> = got.iter().filter(|e| e.kind == EventKind::Accepted).map(|e| e.handle).collect();
    let busy_port = busy_peer.local_addr().unwrap().port();
    let (busy, silent) = if lp.peer_addr(accepted[0]).unwrap().port() == busy_port {
        (accepted[0], accepted[1])
    } else {
        (accepted[1], accepted[0])
    };
    for h in [busy, silent] {
        lp.set_idle_timeout(h, Some(ms(150))).unwrap();
    }
    let start = Instant::now();
    let mut seen = Vec::new();
    // Traffic every ~30 ms; a loaded machine may leave a longer gap, after
    // which an idle event on the busy connection would be right.
    let (mut longest_gap, mut last_io) = (Duration::ZERO, start);
    // At least 500 ms, and on until the silent connection fired twice (a
    // loaded machine may deliver late; 60 s is only a hang guard).
    while (start.elapsed() < ms(500) || count(&seen, EventKind::Idle, silent) < 2) && start.elapsed() < ms(60_000) {
        busy_peer.write_all(b"x").unwrap();
        let batch = lp.poll(64, Some(ms(30))).unwrap();
        for e in batch.events() {
            seen.push(Got {
                kind: e.kind,
                handle: e.handle,
                error: e.error,
                data: vec![],
                path: None,
                event: e.clone(),
            });
        }
        longest_gap = longest_gap.max(last_io.elapsed());
        last_io = Instant::now();
    }
    assert!(count(&seen, EventKind::Idle, silent) >= 2, "idle re-arms: {:?}", kinds(&seen));
    assert!(
        count(&seen, EventKind::Idle, busy) == 0 || longest_gap >= ms(150),
        "idle events on a connection with traffic every {longest_gap:?} at most"
    );
}

#[test]
fn connect_timeout_against_a_full_backlog() {
    let lp = Loop::new().unwrap();
    // Listening on a loop that is never polled: nothing is ever accepted.
    let unpolled = Loop::new().unwrap();
    let opts = BindOptions { backlog: Some(1), ..Default::default() };
    let listener = unpolled.tcp_listen("127.0.0.1", 0, &opts, 0).unwrap();
    let port = unpolled.local_addr(listener).unwrap().port();
    let _fillers = fill_backlog(unpolled.local_addr(listener).unwrap());
    let opts = ConnectOptions { timeout: Some(ms(300)), ..Default::default() };
    let start = Instant::now();
    let client = lp.tcp_connect_with("127.0.0.1", port as i64, &opts, 0).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, client));
    let failed = got.iter().find(|g| g.kind == EventKind::ConnectFailed).map(|g| g.error);
    assert_eq!(failed, Some(Some(Error::ETIMEDOUT)));
    assert!(start.elapsed() >= ms(300), "timed out before its timeout");
    assert_eq!(lp.handle_count(), 0, "no attempt leaked");
}

/// Fills a listener's accept backlog so further SYNs go unanswered.
fn fill_backlog(addr: std::net::SocketAddr) -> Vec<TcpStream> {
    (0..8).filter_map(|_| TcpStream::connect_timeout(&addr, ms(200)).ok()).collect()
}

#[test]
fn happy_eyeballs_first_success_wins_and_losers_close() {
    let lp = Loop::new().unwrap();
    let v4 = lp.tcp_listen("127.0.0.1", 0, &BindOptions::default(), 0).unwrap();
    let port = lp.local_addr(v4).unwrap().port();
    // ::1 on the same port accepts nothing: its SYNs go unanswered.
    // (on a loop that is never polled, so nothing is ever accepted).
    let unpolled = Loop::new().unwrap();
    let stalled = BindOptions { backlog: Some(1), ipv6_only: true, ..Default::default() };
    let v6 = unpolled.tcp_listen("::1", port as i64, &stalled, 0).unwrap();
    let _fillers = fill_backlog(unpolled.local_addr(v6).unwrap());
    lp.set_host_addresses("dual.test", &["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()]).unwrap();
    let opts = ConnectOptions { attempt_delay: Some(ms(100)), ..Default::default() };
    let start = Instant::now();
    let client = lp.tcp_connect_with("dual.test", port as i64, &opts, 0).unwrap();
    let got =
        poll_until(&lp, |g| has(g, EventKind::Connected, client) && g.iter().any(|e| e.kind == EventKind::Accepted));
    let connected = got.iter().find(|g| g.kind == EventKind::Connected).unwrap();
    assert_eq!(connected.event.addr.unwrap().to_string(), format!("127.0.0.1:{port}"));
    assert!(start.elapsed() >= ms(100), "IPv4 started only after the stagger delay");
    // The listener, the client and its server side: the stalled attempt is gone.
    assert_eq!(lp.handle_count(), 3);
    // Forced IPv6 only ever tries the stalled address.
    let v6_only = ConnectOptions { family: Family::V6, timeout: Some(ms(300)), ..Default::default() };
    let client6 = lp.tcp_connect_with("dual.test", port as i64, &v6_only, 0).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, client6));
    assert_eq!(got.iter().find(|g| g.kind == EventKind::ConnectFailed).map(|g| g.error), Some(Some(Error::ETIMEDOUT)));
    // Forced IPv4 with a local bind address.
    let local = ConnectOptions::default().with_family(Family::V4).with_local_address("127.0.0.1", 0).unwrap();
    let bound = lp.tcp_connect_with("dual.test", port as i64, &local, 0).unwrap();
    poll_until(&lp, |g| has(g, EventKind::Connected, bound));
    assert_eq!(lp.local_addr(bound).unwrap().ip().to_string(), "127.0.0.1");
}

#[test]
fn a_local_port_alone_is_bound_on_the_any_address_of_the_peer_s_family() {
    let lp = Loop::new().unwrap();
    for host in ["127.0.0.1", "::1"] {
        let listener = lp.tcp_listen(host, 0, &BindOptions::default(), 0).unwrap();
        let port = lp.local_addr(listener).unwrap().port();
        // A port free a moment ago (loopback, this family).
        let local_port = std::net::TcpListener::bind((host, 0)).unwrap().local_addr().unwrap().port();
        let opts = ConnectOptions::default().with_local_port(i64::from(local_port)).unwrap();
        let client = lp.tcp_connect_with(host, port as i64, &opts, 0).unwrap();
        let got = poll_until(&lp, |g| {
            has(g, EventKind::Connected, client) && g.iter().any(|e| e.kind == EventKind::Accepted)
        });
        let accepted = got.iter().find(|g| g.kind == EventKind::Accepted).unwrap();
        assert_eq!(accepted.event.addr.map(|a| a.port()), Some(local_port), "{host}: the peer sees the port");
        assert_eq!(lp.local_addr(client).unwrap().ip().to_string(), host);
    }
}

#[test]
fn reconnects_after_the_server_comes_back() {
    let lp = Loop::new().unwrap();
    let (listener, port) = listen(&lp);
    let opts = ConnectOptions { reconnect: vec![ms(50), ms(100)], ..Default::default() };
    let client = lp.tcp_connect_with("127.0.0.1", port as i64, &opts, 0).unwrap();
    let got = poll_until(&lp, |g| {
        has(g, EventKind::Connected, client)
            && has(
                g,
                EventKind::Accepted,
                g.iter().find(|e| e.kind == EventKind::Accepted).map_or(client, |e| e.handle),
            )
    });
    let server_side = got.iter().find(|e| e.kind == EventKind::Accepted).unwrap().handle;
    // The server goes away.
    lp.close_reset(server_side).unwrap();
    lp.close(listener).unwrap();
    let got = poll_until(&lp, |g| g.iter().filter(|e| e.kind == EventKind::Reconnecting).count() >= 2);
    let attempts: Vec<u64> = got.iter().filter(|e| e.kind == EventKind::Reconnecting).map(|e| e.event.value).collect();
    assert_eq!(&attempts[..2], [1, 2]);
    // It comes back on the same port; the client finds it by itself.
    let listener = lp.tcp_listen("127.0.0.1", port as i64, &BindOptions::default(), 0).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Connected, client));
    let accepted = got.iter().find(|e| e.kind == EventKind::Accepted && e.event.listener == Some(listener));
    let server_side = match accepted {
        Some(e) => e.handle,
        None => poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Accepted))[0].handle,
    };
    lp.send(client, b"again").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Data, server_side));
    assert_eq!(got.iter().find(|e| e.kind == EventKind::Data).unwrap().data, b"again");
    // Closing during backoff stops it for good.
    lp.close_reset(server_side).unwrap();
    lp.close(listener).unwrap();
    poll_until(&lp, |g| has(g, EventKind::Reconnecting, client));
    lp.close(client).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, client));
    assert_eq!(count(&got, EventKind::Closed, client), 1);
    std::thread::sleep(ms(200));
    let batch = lp.poll(64, Some(ms(10))).unwrap();
    assert!(batch.events().iter().all(|e| e.handle != client), "nothing after Closed");
}

#[test]
fn connection_cap_holds_the_eleventh_client() {
    let lp = Loop::new().unwrap();
    let (listener, port) = listen(&lp);
    lp.set_max_connections(listener, 10).unwrap();
    let clients: Vec<TcpStream> = (0..11).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    let got = poll_until(&lp, |g| g.iter().filter(|e| e.kind == EventKind::Accepted).count() >= 10);
    std::thread::sleep(ms(100));
    let batch = lp.poll(64, Some(ms(50))).unwrap();
    assert!(batch.events().iter().all(|e| e.kind != EventKind::Accepted), "the 11th waits");
    drop(batch);
    let first = got.iter().find(|e| e.kind == EventKind::Accepted).unwrap().handle;
    lp.close(first).unwrap();
    poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Accepted));
    drop(clients);
}

/// The cap given as a bind option holds from the first accept, on TCP and
/// Unix listeners alike.
#[test]
fn connection_cap_as_a_listen_option() {
    let lp = Loop::new().unwrap();
    let opts = BindOptions { max_connections: 1, ..BindOptions::default() };
    let tcp = lp.tcp_listen("127.0.0.1", 0, &opts, 0).unwrap();
    let port = lp.local_addr(tcp).unwrap().port();
    let path = format!("@netcore-cap-option-{}", std::process::id());
    let unix = lp.unix_listen(&path, &opts, 0).unwrap();
    let _tcp_clients: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    let _unix_clients: Vec<_> = (0..2).map(|_| lp.unix_connect(&path, 0).unwrap()).collect();
    let accepted_by = |g: &[Got], l: Handle| {
        g.iter().filter(|e| e.kind == EventKind::Accepted && e.event.listener == Some(l)).count()
    };
    let mut got = poll_until(&lp, |g| accepted_by(g, tcp) >= 1 && accepted_by(g, unix) >= 1);
    std::thread::sleep(ms(100));
    got.extend(poll_until(&lp, |_| true));
    assert_eq!((accepted_by(&got, tcp), accepted_by(&got, unix)), (1, 1), "the second client of each waits");
}

/// A cap beyond `MAX_CONNECTIONS` (the vocabulary's range) is `EINVAL`,
/// as a listen option and set later alike.
#[test]
fn connection_cap_beyond_its_range_is_einval() {
    let lp = Loop::new().unwrap();
    let too_many = BindOptions { max_connections: netcore_core::MAX_CONNECTIONS + 1, ..BindOptions::default() };
    assert_eq!(lp.tcp_listen("127.0.0.1", 0, &too_many, 0).unwrap_err(), Error::EINVAL);
    let l = lp.tcp_listen("127.0.0.1", 0, &BindOptions::default(), 0).unwrap();
    assert_eq!(lp.set_max_connections(l, netcore_core::MAX_CONNECTIONS + 1).unwrap_err(), Error::EINVAL);
    lp.set_max_connections(l, netcore_core::MAX_CONNECTIONS).unwrap();
}

/// A listener and one accepted connection with `len` bytes queued toward its
/// client (whose socket is returned): (listener, port, client, server side).
fn server_with_queued_client(lp: &Loop, len: usize) -> (Handle, u16, TcpStream, Handle) {
    let (listener, port) = listen(lp);
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let conn = poll_until(lp, |g| g.iter().any(|e| e.kind == EventKind::Accepted))[0].handle;
    lp.set_option(conn, SockOption::HighWater, 8 << 20).unwrap();
    lp.send(conn, &vec![7u8; len]).unwrap();
    (listener, port, client, conn)
}

/// Accepting stops at once; a reading client gets all 4 MiB queued for it
/// and its connection closes cleanly, then the shutdown completes. The drain
/// (an hour) plays no part: the test does not race it.
#[test]
fn graceful_server_shutdown_flushes_readers() {
    let lp = Loop::new().unwrap();
    let (listener, port, mut reader, to_reader) = server_with_queued_client(&lp, 4 << 20);
    lp.shutdown_server(listener, Duration::from_secs(3600)).unwrap();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "no longer accepting");
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).unwrap();
        all.len()
    });
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, listener));
    assert_eq!(drain.join().unwrap(), 4 << 20, "the reading client got everything");
    assert!(has(&got, EventKind::ShutdownComplete, listener));
    let closed = got.iter().find(|e| e.kind == EventKind::Closed && e.handle == to_reader).unwrap();
    assert_eq!(closed.error, None, "the reader's connection closed cleanly");
}

/// A client that never reads is reset when the drain runs out (not before),
/// then the shutdown completes.
#[test]
fn graceful_server_shutdown_resets_stuck_after_drain() {
    let lp = Loop::new().unwrap();
    let (listener, _port, _stuck, to_stuck) = server_with_queued_client(&lp, 4 << 20);
    let start = Instant::now();
    lp.shutdown_server(listener, ms(300)).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, listener));
    assert!(start.elapsed() >= ms(300), "forced before the drain ran out");
    assert!(has(&got, EventKind::ShutdownComplete, listener));
    let stuck_closed = got.iter().find(|e| e.kind == EventKind::Closed && e.handle == to_stuck).unwrap();
    assert_eq!(stuck_closed.error, Some(Error::ETIMEDOUT), "the stuck one was forced");
}

/// A connection accepted from a plain socket that reads nothing yet, its
/// high-water mark raised so that a big send is queued whole: (listener,
/// peer socket, connection).
fn queued_to_plain_peer(lp: &Loop) -> (Handle, TcpStream, Handle) {
    let (listener, port) = listen(lp);
    let peer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let conn = poll_until(lp, |g| !g.is_empty())[0].handle;
    lp.set_option(conn, SockOption::HighWater, 64 << 20).unwrap();
    (listener, peer, conn)
}

#[test]
fn send_tokens_follow_the_bytes() {
    let lp = Loop::new().unwrap();
    let (_listener, mut peer, conn) = queued_to_plain_peer(&lp);
    let big = vec![1u8; 8 << 20];
    lp.send_with_token(conn, &[b"small"], Some(1)).unwrap();
    lp.send_with_token(conn, &[&big], Some(2)).unwrap();
    lp.send_with_token(conn, &[b"tail"], Some(3)).unwrap();
    let got = poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Sent && e.event.value == 1));
    assert!(!got.iter().any(|e| e.kind == EventKind::Sent && e.event.value == 3), "tail is still queued");
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0; 5 + (8 << 20) + 4];
        peer.read_exact(&mut buf).unwrap();
    });
    let got = poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Sent && e.event.value == 3));
    let order: Vec<u64> = got.iter().filter(|e| e.kind == EventKind::Sent).map(|e| e.event.value).collect();
    assert_eq!(order, [2, 3]);
    reader.join().unwrap();
}

#[test]
fn a_notice_when_sent_comes_once_the_kernel_took_every_byte_sent_before_it() {
    let lp = Loop::new().unwrap();
    let (listener, mut peer, conn) = queued_to_plain_peer(&lp);
    let sent =
        |g: &[Got], token| g.iter().any(|e| e.kind == EventKind::Sent && e.handle == conn && e.event.value == token);
    assert_eq!(lp.notify_when_sent(listener, 1), Err(Error::EWRONGKIND));
    lp.notify_when_sent(conn, 1).unwrap();
    poll_until(&lp, |g| sent(g, 1));
    let big = vec![1u8; 8 << 20];
    lp.send(conn, &big).unwrap();
    lp.notify_when_sent(conn, 2).unwrap();
    assert!(lp.queued_bytes(conn).unwrap() > 0, "more than the kernel takes from a peer that does not read");
    let mut got = Vec::new();
    poll_into(&lp, 64, Some(ms(100)), &mut got);
    assert!(!sent(&got, 2), "bytes before the notice are still queued");
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0; 8 << 20];
        peer.read_exact(&mut buf).unwrap();
    });
    poll_until(&lp, |g| sent(g, 2));
    assert_eq!(lp.queued_bytes(conn), Ok(0));
    reader.join().unwrap();
    lp.close(conn).unwrap();
    assert_eq!(lp.notify_when_sent(conn, 3), Err(Error::ECLOSED));
}

#[test]
fn raw_options_fd_linger_and_reuseport() {
    let lp = Loop::new().unwrap();
    let opts = BindOptions { reuse_port: true, ..Default::default() };
    let a = lp.tcp_listen("127.0.0.1", 0, &opts, 0).unwrap();
    let port = lp.local_addr(a).unwrap().port();
    let other = Loop::new().unwrap();
    let b = other.tcp_listen("127.0.0.1", port as i64, &opts, 0).unwrap();
    assert!(lp.raw_fd(a).unwrap() >= 0);
    // Each loop sets a raw option on its own listener; the other keeps its own value.
    let (one, zero) = (1i32.to_ne_bytes(), 0i32.to_ne_bytes());
    lp.set_raw_option(a, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &one).unwrap();
    other.set_raw_option(b, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &zero).unwrap();
    let mut out = [0u8; 4];
    assert_eq!(lp.get_raw_option(a, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &mut out), Ok(4));
    assert_eq!(i32::from_ne_bytes(out), 1);
    assert_eq!(other.get_raw_option(b, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &mut out), Ok(4));
    assert_eq!(i32::from_ne_bytes(out), 0);
    other.set_raw_option(b, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &one).unwrap();
    assert_eq!(other.get_raw_option(b, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &mut out), Ok(4));
    assert_eq!(i32::from_ne_bytes(out), 1);
    assert_eq!(
        other.set_raw_option(b, libc::SOL_SOCKET, 9999, &one),
        Err(Error::from_code(-libc::ENOPROTOOPT).unwrap())
    );
    lp.set_option(a, SockOption::Linger, 3).unwrap();
    assert_eq!(lp.get_option(a, SockOption::Linger), Ok(3));
    assert_eq!(lp.set_option(a, SockOption::Linger, -2), Err(Error::EINVAL));
}

#[test]
fn a_raw_option_as_a_c_int_is_its_four_bytes_in_the_machines_order() {
    let lp = Loop::new().unwrap();
    let h = lp.tcp_listen("127.0.0.1", 0, &BindOptions::default(), 0).unwrap();
    for value in [1, 0] {
        lp.set_raw_option_int(h, libc::SOL_SOCKET, libc::SO_KEEPALIVE, value).unwrap();
        assert_eq!(lp.raw_option(h, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 4), Ok(value.to_ne_bytes().to_vec()));
        assert_eq!(lp.raw_option_int(h, libc::SOL_SOCKET, libc::SO_KEEPALIVE), Ok(value));
    }
    assert_eq!(lp.raw_option_int(h, libc::SOL_SOCKET, 9999), Err(Error::from_code(-libc::ENOPROTOOPT).unwrap()));
}

#[test]
fn udp_multicast_on_loopback() {
    let lp = Loop::new().unwrap();
    let rx = lp.udp_bind("0.0.0.0", 0, &BindOptions::default(), 0).unwrap();
    let port = lp.local_addr(rx).unwrap().port();
    lp.udp_multicast(rx, "239.1.2.3", "127.0.0.1", true).unwrap();
    let tx = lp.udp_bind("127.0.0.1", 0, &BindOptions::default(), 0).unwrap();
    lp.set_option(tx, SockOption::MulticastLoop, 1).unwrap();
    lp.udp_multicast_interface(tx, "127.0.0.1").unwrap();
    let mut chosen = [0u8; 4];
    lp.get_raw_option(tx, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mut chosen).unwrap();
    assert_eq!(chosen, [127, 0, 0, 1]);
    assert_eq!(lp.udp_multicast_interface(tx, "zzz"), Err(Error::EINVAL));
    lp.send_to(tx, "239.1.2.3", port as i64, b"to the group").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Datagram, rx));
    assert_eq!(got.iter().find(|e| e.kind == EventKind::Datagram).unwrap().data, b"to the group");
    lp.udp_multicast(rx, "239.1.2.3", "127.0.0.1", false).unwrap();
    assert_eq!(lp.udp_multicast(rx, "127.0.0.1", "127.0.0.1", true), Err(Error::EINVAL));
    // An empty interface is the default one (a host without a multicast
    // route may still refuse the join itself, but never the argument).
    let joined = lp.udp_multicast(rx, "239.1.2.4", "", true);
    assert_ne!(joined, Err(Error::EINVAL));
    if joined.is_ok() {
        lp.udp_multicast(rx, "239.1.2.4", "", false).unwrap();
    }
    // An IPv6 socket takes an interface index (0: the system's choice), not an address.
    let tx6 = lp.udp_bind("::1", 0, &BindOptions::default(), 0).unwrap();
    lp.udp_multicast_interface(tx6, "0").unwrap();
    assert_eq!(lp.udp_multicast_interface(tx6, "127.0.0.1"), Err(Error::EINVAL));
    let (listener, _) = listen(&lp);
    assert_eq!(lp.udp_multicast_interface(listener, "127.0.0.1"), Err(Error::EWRONGKIND));
}
