//! Handle lifetimes: loop-scoped handles, the time between a close and its
//! `Closed`, and closing a loop.

use std::time::Duration;

use netcore_core::{BindOptions, Error, EventKind, Framing, Handle, Loop, SockOption};

mod common;
use common::*;

/// One of each kind of handle on a loop: listener, both ends of a
/// connection, a UDP socket, a timer.
fn one_of_each(lp: &Loop) -> Vec<Handle> {
    let (listener, port) = listen(lp);
    let client = lp.tcp_connect("127.0.0.1", port as i64, 0).unwrap();
    let got =
        poll_until(lp, |g| has(g, EventKind::Connected, client) && g.iter().any(|e| e.kind == EventKind::Accepted));
    let server = got.iter().find(|e| e.kind == EventKind::Accepted).unwrap().handle;
    let udp = lp.udp_bind("127.0.0.1", 0, &BindOptions::default(), 3).unwrap();
    let timer = lp.timer_start(Duration::from_secs(3600), None, 4).unwrap();
    vec![listener, client, server, udp, timer]
}

/// Every operation that takes a handle, each returning its error (if any).
fn every_operation(lp: &Loop, h: Handle) -> Vec<(&'static str, Option<Error>)> {
    let mut buf = [0u8; 4];
    vec![
        ("send", lp.send(h, b"x").err()),
        ("send_with_token", lp.send_with_token(h, &[b"x"], Some(1)).err()),
        ("send_to", lp.send_to(h, "127.0.0.1", 9, b"x").err()),
        ("udp_connect", lp.udp_connect(h, "127.0.0.1", 9).err()),
        ("udp_disconnect", lp.udp_disconnect(h).err()),
        ("udp_multicast", lp.udp_multicast(h, "239.1.2.3", "0.0.0.0", true).err()),
        ("udp_multicast_interface", lp.udp_multicast_interface(h, "").err()),
        ("pause", lp.pause(h).err()),
        ("resume", lp.resume(h).err()),
        ("shutdown", lp.shutdown(h).err()),
        ("set_framing", lp.set_framing(h, Framing::fixed(4).unwrap()).err()),
        ("set_idle_timeout", lp.set_idle_timeout(h, Some(Duration::from_secs(60))).err()),
        ("set_max_connections", lp.set_max_connections(h, 3).err()),
        ("shutdown_server", lp.shutdown_server(h, Duration::from_secs(1)).err()),
        ("set_option", lp.set_option(h, SockOption::NoDelay, 0).err()),
        ("get_option", lp.get_option(h, SockOption::NoDelay).err()),
        ("set_raw_option", lp.set_raw_option(h, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &1i32.to_ne_bytes()).err()),
        ("get_raw_option", lp.get_raw_option(h, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &mut buf).err()),
        ("raw_fd", lp.raw_fd(h).err()),
        ("local_addr", lp.local_addr(h).err()),
        ("peer_addr", lp.peer_addr(h).err()),
        ("set_userdata", lp.set_userdata(h, 99).err()),
        ("userdata", lp.userdata(h).err()),
        ("kind", lp.kind(h).err()),
        ("close", lp.close(h).err()),
        ("close_reset", lp.close_reset(h).err()),
        ("close_abort", lp.close_abort(h).err()),
    ]
}

#[test]
fn a_handle_of_another_loop_is_rejected_by_every_operation_and_changes_nothing() {
    let (a, b) = (Loop::new().unwrap(), Loop::new().unwrap());
    let on_a = one_of_each(&a);
    let on_b = one_of_each(&b);
    for (&ha, &hb) in on_a.iter().zip(&on_b) {
        assert_eq!(ha.raw() & 0x3f_ffff, hb.raw() & 0x3f_ffff, "same slot in both loops");
        assert_ne!(ha, hb, "but different handles");
    }
    let kinds_before: Vec<_> = on_b.iter().map(|&h| (b.kind(h), b.userdata(h))).collect();
    for &ha in &on_a {
        assert!(ha.raw() > 0 && ha.raw() < 1 << 53, "{}", ha.raw());
        for (op, error) in every_operation(&b, ha) {
            assert_eq!(error, Some(Error::EBADHANDLE), "{op} with loop A's handle {} on loop B", ha.raw());
        }
    }
    assert_eq!(b.handle_count(), 5);
    let kinds_after: Vec<_> = on_b.iter().map(|&h| (b.kind(h), b.userdata(h))).collect();
    assert_eq!(kinds_before, kinds_after, "loop B is unchanged");
    let none_closed = b.poll(64, Some(Duration::ZERO)).unwrap().events().iter().all(|e| e.kind != EventKind::Closed);
    assert!(none_closed, "nothing of loop B closed");
    // Loop B's own handles still work.
    b.send(on_b[1], b"ok").unwrap();
    poll_until(&b, |g| has(g, EventKind::Data, on_b[2]));
    // And so do loop A's, on loop A.
    assert_eq!(a.handle_count(), 5);
    a.send(on_a[2], b"ok").unwrap();
    poll_until(&a, |g| has(g, EventKind::Data, on_a[1]));
}

#[test]
fn internal_connection_attempts_are_not_counted_as_handles() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = listen(&lp);
    let client = lp.tcp_connect("127.0.0.1", port as i64, 0).unwrap();
    assert_eq!(lp.handle_count(), 2, "the listener and the connection, not its attempt");
    let got =
        poll_until(&lp, |g| has(g, EventKind::Connected, client) && g.iter().any(|e| e.kind == EventKind::Accepted));
    assert!(got.iter().any(|e| e.kind == EventKind::Accepted));
    assert_eq!(lp.handle_count(), 3);
}

/// Every operation of a closed handle whose `Closed` is not yet handed out
/// (or is in the batch being handled) returns `ECLOSED`; its kind and user
/// value still answer.
fn assert_closing(lp: &Loop, h: Handle) {
    let kind = lp.kind(h);
    assert!(kind.is_ok(), "kind of a closing handle: {kind:?}");
    let userdata = lp.userdata(h).unwrap();
    for (op, error) in every_operation(lp, h) {
        match op {
            "kind" | "userdata" | "set_userdata" => assert_eq!(error, None, "{op}"),
            _ => assert_eq!(error, Some(Error::ECLOSED), "{op} on closed handle {}", h.raw()),
        }
    }
    lp.set_userdata(h, userdata).unwrap();
}

/// Polls until every handle of `hs` is closed, checking that each reports
/// `ECLOSED` while the batch with its `Closed` is handled and `EBADHANDLE`
/// from the next poll on, and that `Closed` came exactly once. Returns the
/// events seen.
fn closes_once(lp: &Loop, hs: &[Handle]) -> Vec<Got> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (mut got, mut delivered) = (Vec::new(), Vec::new());
    let mut polls_after = 0;
    while polls_after < 3 {
        assert!(std::time::Instant::now() < deadline, "timed out; events so far: {:?}", kinds(&got));
        let batch = lp.poll(64, Some(Duration::from_millis(10))).unwrap();
        let new: Vec<Got> = batch
            .events()
            .iter()
            .map(|e| Got {
                kind: e.kind,
                handle: e.handle,
                error: e.error,
                data: Vec::new(),
                path: None,
                event: e.clone(),
            })
            .collect();
        drop(batch);
        for &h in &delivered {
            for (op, error) in every_operation(lp, h) {
                assert_eq!(error, Some(Error::EBADHANDLE), "{op} after Closed was delivered");
            }
        }
        for e in new.iter().filter(|e| e.kind == EventKind::Closed && hs.contains(&e.handle)) {
            assert_closing(lp, e.handle);
            delivered.push(e.handle);
        }
        got.extend(new);
        if hs.iter().all(|&h| has(&got, EventKind::Closed, h)) {
            polls_after += 1;
        }
    }
    for &h in hs {
        let closed = got.iter().filter(|e| e.kind == EventKind::Closed && e.handle == h).count();
        assert_eq!(closed, 1, "Closed exactly once: {:?}", kinds(&got));
    }
    got
}

#[test]
fn close_reset_keeps_the_handle_closed_not_stale_until_closed_is_delivered() {
    let lp = Loop::new().unwrap();
    let (client, _server) = connected_pair(&lp);
    lp.close_reset(client).unwrap();
    assert_closing(&lp, client);
    let got = closes_once(&lp, &[client]);
    assert!(!got.iter().any(|e| e.handle == client && e.kind != EventKind::Closed), "{:?}", kinds(&got));
}

#[test]
fn a_graceful_close_reports_eclosed_until_closed_is_delivered() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    lp.close(client).unwrap();
    for (op, error) in [
        ("send", lp.send(client, b"x").err()),
        ("pause", lp.pause(client).err()),
        ("shutdown", lp.shutdown(client).err()),
        ("close", lp.close(client).err()),
    ] {
        assert_eq!(error, Some(Error::ECLOSED), "{op} while closing");
    }
    poll_until(&lp, |g| has(g, EventKind::Eof, server));
    lp.close(server).unwrap();
    closes_once(&lp, &[client, server]);
}

#[test]
fn shutdown_server_drain_keeps_handles_closed_not_stale_until_closed_is_delivered() {
    let lp = Loop::new().unwrap();
    let (listener, port) = listen(&lp);
    // A peer that never closes: the drain timeout resets the connection.
    let _peer = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let got = poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Accepted));
    let conn = got.iter().find(|e| e.kind == EventKind::Accepted).unwrap().handle;
    lp.shutdown_server(listener, Duration::from_millis(50)).unwrap();
    let got = closes_once(&lp, &[conn, listener]);
    let of = |h| got.iter().filter(|e| e.handle == h).map(|e| (e.kind, e.error)).collect::<Vec<_>>();
    assert_eq!(of(conn), [(EventKind::Closed, Some(Error::ETIMEDOUT))]);
    assert_eq!(of(listener), [(EventKind::ShutdownComplete, None), (EventKind::Closed, None)]);
}

#[test]
fn after_a_half_close_and_the_peers_eof_the_handle_is_closed_not_stale() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    lp.shutdown(client).unwrap();
    poll_until(&lp, |g| has(g, EventKind::Eof, server));
    lp.close(server).unwrap();
    let got = closes_once(&lp, &[client, server]);
    let order: Vec<EventKind> = got.iter().filter(|e| e.handle == client).map(|e| e.kind).collect();
    assert_eq!(order, [EventKind::Eof, EventKind::Closed]);
}

#[test]
fn a_fired_one_shot_timer_is_closed_not_stale_until_closed_is_delivered() {
    let lp = Loop::new().unwrap();
    let timer = lp.timer_start(Duration::from_millis(1), None, 5).unwrap();
    let got = closes_once(&lp, &[timer]);
    let order: Vec<EventKind> = got.iter().filter(|e| e.handle == timer).map(|e| e.kind).collect();
    assert_eq!(order, [EventKind::Timer, EventKind::Closed]);
}

#[test]
fn run_delivers_nothing_but_closed_for_a_handle_after_close_reset_or_close_abort_returned() {
    let closes: [(&str, fn(&Loop, Handle) -> netcore_core::Result<()>); 2] =
        [("close_reset", Loop::close_reset), ("close_abort", Loop::close_abort)];
    for (name, close) in closes {
        let lp = Loop::new().unwrap();
        let (listener, port) = listen(&lp);
        let mut peer = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let got = poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Accepted));
        let conn = got.iter().find(|e| e.kind == EventKind::Accepted).unwrap().handle;
        lp.set_framing(conn, Framing::fixed(1).unwrap()).unwrap();
        // Three one-byte frames from one read: three Data events in one batch.
        std::io::Write::write_all(&mut peer, b"abc").unwrap();
        let guard = lp.timer_start(Duration::from_secs(10), None, 0).unwrap();
        let mut seen = Vec::new();
        lp.run(|e, _| {
            seen.push((e.kind, e.handle));
            if e.handle == conn && e.kind == EventKind::Data {
                close(&lp, conn).unwrap();
            }
            if (e.handle == conn && e.kind == EventKind::Closed) || e.handle == guard {
                lp.stop();
            }
        })
        .unwrap();
        let of_conn: Vec<EventKind> = seen.iter().filter(|(_, h)| *h == conn).map(|(k, _)| *k).collect();
        assert_eq!(of_conn, [EventKind::Data, EventKind::Closed], "{name}: all events: {seen:?}");
        let _ = listener;
    }
}

/// Closes `lp` from another thread once `waiter` is about to wait on it, and
/// returns what the waiter returned.
fn close_from_another_thread<T: Send>(lp: &Loop, waiter: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        let waiting = s.spawn(move || {
            tx.send(()).unwrap();
            waiter()
        });
        rx.recv().unwrap();
        // Most likely asleep in its wait by now; either way it must end.
        std::thread::sleep(Duration::from_millis(20));
        lp.close_loop();
        waiting.join().unwrap()
    })
}

#[test]
fn a_poll_waiting_forever_returns_eclosed_when_another_thread_closes_the_loop() {
    let lp = Loop::new().unwrap();
    let result = close_from_another_thread(&lp, || lp.poll(16, None).map(|b| b.events().len()));
    assert_eq!(result.err(), Some(Error::ECLOSED));
    assert_eq!(lp.poll(16, Some(Duration::ZERO)).err(), Some(Error::ECLOSED), "and every poll after");
}

#[test]
fn a_run_returns_eclosed_when_another_thread_closes_the_loop() {
    let lp = Loop::new().unwrap();
    let mut events = 0;
    let result = close_from_another_thread(&lp, || lp.run(|_, _| events += 1));
    assert_eq!(result, Err(Error::ECLOSED));
    assert_eq!(events, 0);
    assert_eq!(lp.run(|_, _| ()), Err(Error::ECLOSED));
}

#[test]
fn a_closed_loop_delivers_no_accepted_for_a_pending_client_and_closes_its_sockets() {
    let lp = Loop::new().unwrap();
    let (listener, port) = listen(&lp);
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    lp.close_loop();
    assert_eq!(lp.poll(16, Some(Duration::from_millis(100))).err(), Some(Error::ECLOSED));
    assert_eq!(lp.local_addr(listener).err(), Some(Error::ECLOSED));
    // The listening socket is gone, with the client still in its backlog.
    client.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = [0u8; 1];
    let read = std::io::Read::read(&mut client, &mut buf);
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nobody listens any more");
}

#[test]
fn run_delivers_nothing_after_a_callback_closes_the_loop() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = listen(&lp);
    let _clients: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    // Let all three wait in the backlog, so one batch accepts them all.
    std::thread::sleep(Duration::from_millis(20));
    let mut seen = Vec::new();
    let result = lp.run(|e, _| {
        seen.push(e.kind);
        lp.close_loop();
    });
    assert_eq!(result, Err(Error::ECLOSED));
    assert_eq!(seen, [EventKind::Accepted]);
}

#[test]
fn every_operation_on_a_closed_loop_returns_eclosed() {
    let lp = Loop::new().unwrap();
    let handles = one_of_each(&lp);
    lp.close_loop();
    lp.close_loop();
    assert_eq!(lp.handle_count(), 0);
    assert!(lp.is_closed());
    for &h in &handles {
        for (op, error) in every_operation(&lp, h) {
            assert_eq!(error, Some(Error::ECLOSED), "{op}");
        }
    }
    let none = &BindOptions::default();
    assert_eq!(lp.tcp_listen("127.0.0.1", 0, none, 0).err(), Some(Error::ECLOSED));
    assert_eq!(lp.tcp_connect("127.0.0.1", 9, 0).err(), Some(Error::ECLOSED));
    assert_eq!(lp.udp_bind("127.0.0.1", 0, none, 0).err(), Some(Error::ECLOSED));
    assert_eq!(lp.timer_start(Duration::from_millis(1), None, 0).err(), Some(Error::ECLOSED));
    assert_eq!(lp.set_read_size(64 << 10).err(), Some(Error::ECLOSED));
    assert_eq!(lp.poll(1, Some(Duration::ZERO)).err(), Some(Error::ECLOSED));
}

#[test]
fn a_connection_closing_gracefully_refuses_everything_but_close_reset() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    lp.close(client).unwrap();
    // Before any poll the close cannot have finished: still closing.
    for (op, error) in every_operation(&lp, client) {
        match op {
            "kind" | "userdata" | "set_userdata" => assert_eq!(error, None, "{op}"),
            // Runs last: it still resets a connection closing gracefully.
            "close_reset" => assert_eq!(error, None, "close_reset while closing gracefully"),
            _ => assert_eq!(error, Some(Error::ECLOSED), "{op} while closing gracefully"),
        }
    }
    assert_eq!(lp.kind(client), Ok(netcore_core::HandleKind::TcpConnection));
    let got = closes_once(&lp, &[client]);
    assert!(got.iter().all(|e| e.handle != client || e.kind == EventKind::Closed), "{:?}", kinds(&got));
    let _ = server;
}

#[test]
fn closing_a_loop_resets_a_connection_that_still_had_bytes_queued() {
    let lp = Loop::new().unwrap();
    let (mut client, conn) = framed_pair(&lp, Framing::Stream);
    // Small buffers on both sides: most of the 4 MiB waits in netcore's queue.
    lp.set_option(conn, SockOption::SendBuffer, 4096).unwrap();
    lp.set_option(conn, SockOption::HighWater, 8 << 20).unwrap();
    lp.send(conn, &vec![7u8; 4 << 20]).unwrap();
    lp.close_loop();
    // The client reads what reached its kernel, then must see the reset,
    // not an end of stream that would pass for a complete transfer.
    client.set_nonblocking(false).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let outcome = loop {
        match std::io::Read::read(&mut client, &mut buf) {
            Ok(0) => break Ok(0),
            Ok(_) => continue,
            Err(e) => break Err(e.kind()),
        }
    };
    assert_eq!(outcome, Err(std::io::ErrorKind::ConnectionReset));
}
