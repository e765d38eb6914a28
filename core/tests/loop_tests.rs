//! The core through its Rust API, on real loopback sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use netcore_core::{Batch, BindOptions, Error, EventKind, Framing, Handle, HandleKind, Loop, SockOption};

mod common;
use common::*;

#[test]
fn echo_between_a_std_client_and_the_loop() {
    let lp = Loop::new().unwrap();
    let (listener, port) = listen(&lp);
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let got = poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Accepted));
    let accepted = got.iter().find(|e| e.kind == EventKind::Accepted).unwrap();
    assert_eq!(accepted.event.listener, Some(listener));
    assert_eq!(accepted.event.userdata, 7, "inherits the listener's userdata");
    let conn = accepted.handle;
    client.write_all(b"hello").unwrap();
    let got = poll_until(&lp, |g| g.iter().map(|e| e.data.len()).sum::<usize>() >= 5);
    assert_eq!(got.iter().flat_map(|e| e.data.clone()).collect::<Vec<u8>>(), b"hello");
    lp.send(conn, b"world").unwrap();
    let mut buf = [0; 5];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"world");
    drop(client);
    poll_until(&lp, |g| has(g, EventKind::Eof, conn));
    lp.close(conn).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, conn));
    assert_eq!(got.iter().filter(|e| e.kind == EventKind::Closed).count(), 1);
    assert_eq!(lp.send(conn, b"x"), Err(Error::ECLOSED), "until the next poll");
    drop(lp.poll(1, Some(Duration::ZERO)).unwrap());
    assert_eq!(lp.send(conn, b"x"), Err(Error::EBADHANDLE));
}

#[test]
fn loop_to_loop_connect_send_close() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = listen(&lp);
    let client = lp.tcp_connect("127.0.0.1", port as i64, 1).unwrap();
    lp.send(client, b"queued before connect").unwrap();
    let got = poll_until(&lp, |g| {
        has(g, EventKind::Connected, client)
            && has(g, EventKind::Data, g.iter().find(|e| e.kind == EventKind::Accepted).map_or(client, |e| e.handle))
    });
    let server = got.iter().find(|e| e.kind == EventKind::Accepted).unwrap().handle;
    let data: Vec<u8> = got.iter().filter(|e| e.handle == server).flat_map(|e| e.data.clone()).collect();
    assert_eq!(data, b"queued before connect");
    // Both ends start with TCP_NODELAY: a small echo must not wait for an ACK (Nagle).
    assert_eq!(lp.get_option(client, SockOption::NoDelay), Ok(1));
    assert_eq!(lp.get_option(server, SockOption::NoDelay), Ok(1));
    lp.close(client).unwrap();
    assert_eq!(lp.close(client), Err(Error::ECLOSED));
    let got = poll_until(&lp, |g| has(g, EventKind::Eof, server) && has(g, EventKind::Closed, client));
    assert_eq!(got.iter().filter(|e| e.kind == EventKind::Closed && e.handle == client).count(), 1);
    lp.close(server).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, server));
    assert!(got.iter().all(|e| e.error.is_none()), "{:?}", kinds(&got));
}

#[test]
fn connect_refused_and_dns_failure() {
    let lp = Loop::new().unwrap();
    let (listener, port) = listen(&lp);
    lp.close(listener).unwrap();
    let refused = lp.tcp_connect("127.0.0.1", port as i64, 0).unwrap();
    let dns = lp.tcp_connect("no-such-host.invalid", 80, 0).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, refused) && has(g, EventKind::Closed, dns));
    let failed = |h| got.iter().find(|e| e.kind == EventKind::ConnectFailed && e.handle == h).map(|e| e.error);
    assert_eq!(failed(refused), Some(Some(Error::ECONNREFUSED)));
    assert_eq!(failed(dns), Some(Some(Error::EDNS)));
    assert!(has(&got, EventKind::Closed, listener));
}

#[test]
fn delimiter_framing_and_oversized_frames() {
    let lp = Loop::new().unwrap();
    let (_l, port) = listen(&lp);
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let got = poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Accepted));
    let conn = got[0].handle;
    lp.set_framing(conn, Framing::delimited(b"\n", 8).unwrap()).unwrap();
    client.write_all(b"one\ntwo\nthr").unwrap();
    client.flush().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    client.write_all(b"ee\n0123456789abc").unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, conn));
    let frames: Vec<&[u8]> = got.iter().filter(|e| e.kind == EventKind::Data).map(|e| e.data.as_slice()).collect();
    assert_eq!(frames, [&b"one"[..], b"two", b"three"]);
    let error = got.iter().find(|e| e.kind == EventKind::Error).map(|e| e.error);
    assert_eq!(error, Some(Some(Error::EMSGSIZE)));
    let closed = got.iter().find(|e| e.kind == EventKind::Closed).unwrap();
    assert_eq!(closed.error, Some(Error::EMSGSIZE));
}

#[test]
fn backpressure_eagain_then_writable() {
    let lp = Loop::new().unwrap();
    let (_l, port) = listen(&lp);
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let got = poll_until(&lp, |g| g.iter().any(|e| e.kind == EventKind::Accepted));
    let conn = got[0].handle;
    lp.set_option(conn, SockOption::HighWater, 256 << 10).unwrap();
    lp.set_option(conn, SockOption::LowWater, 64 << 10).unwrap();
    let chunk: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut sent = 0usize;
    let refused = loop {
        match lp.send(conn, &chunk) {
            Ok(()) => sent += chunk.len(),
            Err(e) => break e,
        }
        assert!(sent < 64 << 20, "never refused");
    };
    assert_eq!(refused, Error::EAGAIN);
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0; sent];
        client.read_exact(&mut buf).unwrap();
        buf
    });
    poll_until(&lp, |g| has(g, EventKind::Writable, conn));
    let received = reader.join().unwrap();
    assert!(received.chunks(65536).all(|c| c == &chunk[..]));
}

#[test]
fn deferred_sends_wait_for_the_flush_or_the_next_poll_and_leave_in_order() {
    let lp = Loop::new().unwrap();
    let (mut client, conn) = framed_pair(&lp, Framing::Stream);
    assert_eq!(lp.send_deferred(conn, b"head "), Ok(true), "the loop's first deferred send");
    assert_eq!(lp.send_deferred(conn, b"body"), Ok(false));
    assert_eq!(lp.queued_bytes(conn), Ok(9));
    let mut buf = [0; 16];
    assert_eq!(client.read(&mut buf).map_err(|e| e.kind()), Err(std::io::ErrorKind::WouldBlock), "nothing sent yet");
    lp.flush_deferred().unwrap();
    assert_eq!(lp.queued_bytes(conn), Ok(0));
    client.set_nonblocking(false).unwrap();
    client.read_exact(&mut buf[..9]).unwrap();
    assert_eq!(&buf[..9], b"head body");

    assert_eq!(lp.send_deferred(conn, b"head "), Ok(true), "the flush emptied the loop's list");
    lp.send(conn, b"now").unwrap();
    assert_eq!(lp.queued_bytes(conn), Ok(0), "an ordinary send goes at once, the deferred bytes first");
    client.read_exact(&mut buf[..8]).unwrap();
    assert_eq!(&buf[..8], b"head now");

    assert_eq!(lp.send_deferred(conn, b"polled"), Ok(false), "only a flush or a poll empties the loop's list");
    drop(lp.poll(1, Some(Duration::ZERO)).unwrap());
    client.read_exact(&mut buf[..6]).unwrap();
    assert_eq!(&buf[..6], b"polled", "a poll flushes first");

    let big: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    assert_eq!(lp.send_deferred(conn, &big), Ok(false), "over 4 KiB is an ordinary send");
    assert_eq!(lp.queued_bytes(conn), Ok(0));
    let mut got = vec![0; big.len()];
    client.read_exact(&mut got).unwrap();
    assert_eq!(got, big);
    assert_eq!(lp.send_deferred(conn, b""), Err(Error::EINVAL), "an empty send is refused as send refuses it");
}

#[test]
fn past_the_deferral_limit_a_send_goes_at_once_after_the_deferred_bytes() {
    let lp = Loop::new().unwrap();
    let (mut client, conn) = framed_pair(&lp, Framing::Stream);
    client.set_nonblocking(false).unwrap();
    let mut buf = [0; 4100];
    lp.set_option(conn, SockOption::LowWater, 0).unwrap();
    lp.set_option(conn, SockOption::HighWater, 16).unwrap();
    assert_eq!(lp.send_deferred(conn, b"0123456789"), Ok(true));
    assert_eq!(lp.send_deferred(conn, b"abcdefghij"), Ok(false), "10 + 10 is past the high-water mark");
    assert_eq!(lp.queued_bytes(conn), Ok(0));
    client.read_exact(&mut buf[..20]).unwrap();
    assert_eq!(&buf[..20], b"0123456789abcdefghij");

    lp.set_option(conn, SockOption::HighWater, 1 << 20).unwrap();
    let page = [b'p'; 4096];
    assert_eq!(lp.send_deferred(conn, &page), Ok(false), "the loop's list is emptied by a flush or a poll only");
    assert_eq!(lp.queued_bytes(conn), Ok(4096), "4 KiB deferred");
    assert_eq!(lp.send_deferred(conn, b"more"), Ok(false));
    assert_eq!(lp.queued_bytes(conn), Ok(0), "past 4 KiB in all: sent at once, after the deferred page");
    client.read_exact(&mut buf).unwrap();
    assert!(buf[..4096].iter().all(|&b| b == b'p') && &buf[4096..] == b"more");
}

#[test]
fn a_close_sends_the_deferred_bytes_before_its_fin_and_a_reset_drops_them() {
    let lp = Loop::new().unwrap();
    let (mut client, conn) = framed_pair(&lp, Framing::Stream);
    client.set_nonblocking(false).unwrap();
    assert_eq!(lp.send_deferred(conn, b"last words"), Ok(true));
    lp.close(conn).unwrap();
    let mut got = [0; 10];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"last words", "sent by close itself, before any poll");
    drop(client);
    poll_until(&lp, |g| has(g, EventKind::Closed, conn));

    let (mut client, conn) = framed_pair(&lp, Framing::Stream);
    client.set_nonblocking(false).unwrap();
    lp.send_deferred(conn, b"dropped").unwrap();
    lp.close_reset(conn).unwrap();
    lp.flush_deferred().unwrap();
    let mut got = Vec::new();
    assert!(client.read_to_end(&mut got).is_err() || got.is_empty(), "nothing of it arrived: {got:?}");
}

#[test]
fn close_abort_ends_with_a_fin_after_what_the_kernel_took_or_with_a_reset_if_it_dropped_bytes() {
    let lp = Loop::new().unwrap();
    // Nothing the kernel refused: the deferred bytes too reach the peer, then a clean end.
    let (mut client, conn) = framed_pair(&lp, Framing::Stream);
    lp.send(conn, b"last ").unwrap();
    lp.send_deferred(conn, b"words").unwrap();
    lp.close_abort(conn).unwrap();
    assert_eq!(lp.close_abort(conn), Err(Error::ECLOSED));
    let batch = lp.poll(16, Some(Duration::ZERO)).unwrap();
    assert!(batch.events().iter().any(|e| e.kind == EventKind::Closed && e.handle == conn), "closed at once");
    drop(batch);
    client.set_nonblocking(false).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"last words");

    // A peer that reads nothing: what the kernel refused is dropped, and the peer is reset.
    let (mut client, conn) = framed_pair(&lp, Framing::Stream);
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..256 {
        if lp.send(conn, &chunk) == Err(Error::EAGAIN) {
            break;
        }
    }
    assert!(lp.queued_bytes(conn).unwrap() > 0);
    lp.close_abort(conn).unwrap();
    poll_until(&lp, |g| has(g, EventKind::Closed, conn));
    client.set_nonblocking(false).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let read = client.read_to_end(&mut Vec::new());
    assert_eq!(read.map_err(|e| e.kind()).err(), Some(std::io::ErrorKind::ConnectionReset));
}

#[test]
fn a_deferred_send_that_fails_when_flushed_closes_the_connection_with_its_error() {
    let lp = Loop::new().unwrap();
    let (client, conn) = framed_pair(&lp, Framing::Stream);
    // A reset from the peer that the loop has not polled for yet.
    socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO)).unwrap();
    drop(client);
    assert_eq!(lp.send_deferred(conn, b"lost"), Ok(true));
    lp.flush_deferred().unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, conn));
    let closed = got.iter().find(|e| e.kind == EventKind::Closed).unwrap();
    assert!([Some(Error::ECONNRESET), Some(Error::EPIPE)].contains(&closed.error), "{:?}", closed.error);
    lp.close_loop();
    assert_eq!(lp.flush_deferred(), Err(Error::ECLOSED));
}

#[test]
fn a_paused_connection_still_notices_the_peer_closing() {
    let lp = Loop::new().unwrap();
    let (_l, port) = listen(&lp);
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let conn = poll_until(&lp, |g| !g.is_empty())[0].handle;
    lp.pause(conn).unwrap();
    drop(client);
    let got = poll_until(&lp, |g| has(g, EventKind::Eof, conn));
    assert!(!has(&got, EventKind::Data, conn));
}

#[test]
fn a_reset_after_eof_is_still_reported() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    lp.shutdown(server).unwrap();
    poll_until(&lp, |g| has(g, EventKind::Eof, client));
    lp.close_reset(server).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, client));
    let closed = got.iter().find(|e| e.kind == EventKind::Closed && e.handle == client).unwrap();
    assert_eq!(closed.error, Some(Error::ECONNRESET));
}

#[test]
fn a_connect_from_another_thread_wakes_a_poll_waiting_forever() {
    let lp = Loop::new().unwrap();
    let other = lp.clone();
    let connector = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        other.tcp_connect("nosuchhost.invalid", 80, 0).unwrap()
    });
    let mut seen = Vec::new();
    for _ in 0..10 {
        if seen.contains(&EventKind::Closed) {
            break;
        }
        // A long wait: only a wake from the connecting thread ends it early.
        let wait = Duration::from_secs(60);
        let start = std::time::Instant::now();
        let batch = lp.poll(16, Some(wait)).unwrap();
        assert!(start.elapsed() < wait, "the poll was not woken");
        seen.extend(batch.events().iter().map(|e| e.kind));
    }
    connector.join().unwrap();
    assert_eq!(seen, [EventKind::ConnectFailed, EventKind::Closed]);
}

#[test]
fn a_paused_connection_with_unread_bytes_still_notices_a_reset() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    lp.pause(client).unwrap();
    lp.send(server, b"unread").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    lp.close_reset(server).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, client));
    assert!(!has(&got, EventKind::Data, client));
    let closed = got.iter().find(|e| e.kind == EventKind::Closed && e.handle == client).unwrap();
    assert_eq!(closed.error, Some(Error::ECONNRESET));
}

#[test]
fn the_read_size_bounds_every_data_chunk() {
    let lp = Loop::new().unwrap();
    for bad in [0, 4095, (4 << 20) + 1] {
        assert_eq!(lp.set_read_size(bad), Err(Error::EINVAL), "{bad}");
    }
    lp.set_read_size(4096).unwrap();
    let (client, server) = connected_pair(&lp);
    let sent: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    lp.send(client, &sent).unwrap();
    let got =
        poll_until(&lp, |g| g.iter().filter(|e| e.handle == server).map(|e| e.data.len()).sum::<usize>() >= sent.len());
    let chunks: Vec<&Got> = got.iter().filter(|e| e.kind == EventKind::Data && e.handle == server).collect();
    assert!(chunks.iter().all(|e| e.data.len() <= 4096), "a chunk above the read size");
    assert!(chunks.len() >= sent.len() / 4096, "{} chunks", chunks.len());
    let received: Vec<u8> = chunks.iter().flat_map(|e| e.data.iter().copied()).collect();
    assert_eq!(received, sent);
}

/// Two UDP sockets on 127.0.0.1: `(a, b, b's port)`.
fn udp_pair(lp: &Loop) -> (Handle, Handle, i64) {
    let opts = BindOptions::default();
    let a = lp.udp_bind("127.0.0.1", 0, &opts, 0).unwrap();
    let b = lp.udp_bind("127.0.0.1", 0, &opts, 0).unwrap();
    (a, b, lp.local_addr(b).unwrap().port().into())
}

#[test]
fn an_empty_udp_datagram_is_sent_and_received_but_an_empty_tcp_send_is_einval() {
    let lp = Loop::new().unwrap();
    let (a, b, b_port) = udp_pair(&lp);
    lp.send_to(a, "127.0.0.1", b_port, b"").unwrap();
    lp.udp_connect(a, "127.0.0.1", b_port).unwrap();
    lp.send(a, b"").unwrap();
    lp.send_vectored(a, &[b"", b""]).unwrap();
    assert_eq!(lp.send_vectored(a, &[]), Err(Error::EINVAL), "no buffer at all is not a datagram");
    let got = poll_until(&lp, |g| g.iter().filter(|e| e.kind == EventKind::Datagram).count() >= 3);
    let datagrams: Vec<&Got> = got.iter().filter(|e| e.kind == EventKind::Datagram).collect();
    assert_eq!(datagrams.len(), 3);
    assert!(datagrams.iter().all(|d| d.handle == b && d.data.is_empty()));
    let (client, _server) = connected_pair(&lp);
    assert_eq!(lp.send(client, b""), Err(Error::EINVAL));
    assert_eq!(lp.send_vectored(client, &[b"", b""]), Err(Error::EINVAL));
}

#[test]
fn udp_disconnect_dissolves_the_default_peer() {
    let lp = Loop::new().unwrap();
    let (a, b, b_port) = udp_pair(&lp);
    assert_eq!(lp.udp_disconnect(a), Err(Error::ENOTCONN));
    lp.udp_connect(a, "127.0.0.1", b_port).unwrap();
    assert_eq!(lp.peer_addr(a).unwrap().port() as i64, b_port);
    let a_addr = lp.local_addr(a).unwrap();
    lp.udp_disconnect(a).unwrap();
    assert_eq!(lp.local_addr(a), Ok(a_addr), "still bound where it was");
    assert_eq!(lp.peer_addr(a), Err(Error::ENOTCONN));
    assert_eq!(lp.send(a, b"where to?"), Err(Error::ENOTCONN), "no default peer any more");
    lp.send_to(a, "127.0.0.1", b_port, b"addressed").unwrap();
    assert_eq!(datagrams_for(&lp, b, 16, 1)[0].data, b"addressed");
    lp.send_to(b, "127.0.0.1", a_addr.port().into(), b"to the same port").unwrap();
    assert_eq!(datagrams_for(&lp, a, 16, 1)[0].data, b"to the same port");
    let (client, _server) = connected_pair(&lp);
    assert_eq!(lp.udp_disconnect(client), Err(Error::EWRONGKIND));
}

/// The datagrams `poll_into` collected for `handle`, polling at most `max`
/// events at a time until `count` arrived.
fn datagrams_for(lp: &Loop, handle: Handle, max: usize, count: usize) -> Vec<Got> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.iter().filter(|g: &&Got| g.kind == EventKind::Datagram).count() < count {
        assert!(Instant::now() < deadline, "timed out; events so far: {:?}", kinds(&seen));
        poll_into(lp, max, Some(Duration::from_millis(50)), &mut seen);
    }
    assert!(seen.iter().all(|g| g.kind == EventKind::Datagram && g.handle == handle), "{:?}", kinds(&seen));
    seen
}

#[test]
fn a_burst_of_datagrams_arrives_whole_in_order_with_its_senders_through_small_and_large_batches() {
    let lp = Loop::new().unwrap();
    let server = lp.udp_bind("127.0.0.1", 0, &BindOptions::default(), 0).unwrap();
    let to = lp.local_addr(server).unwrap();
    let senders =
        [std::net::UdpSocket::bind("127.0.0.1:0").unwrap(), std::net::UdpSocket::bind("127.0.0.1:0").unwrap()];
    // 80 datagrams of 0..=553 bytes (well inside the default receive buffer),
    // more than one batch of 32, alternating between two senders.
    let payload = |i: usize| -> Vec<u8> { (0..i * 7).map(|b| (b + i) as u8).collect() };
    for max_events in [5, 64] {
        for i in 0..80 {
            senders[i % 2].send_to(&payload(i), to).unwrap();
        }
        let got = datagrams_for(&lp, server, max_events, 80);
        assert_eq!(got.len(), 80);
        for (i, g) in got.iter().enumerate() {
            assert_eq!(g.data, payload(i), "datagram {i} with at most {max_events} events per poll");
            assert_eq!(g.event.addr, Some(senders[i % 2].local_addr().unwrap()), "sender of datagram {i}");
        }
    }
    // The largest IPv4 payload arrives whole, and an empty one after it.
    let largest: Vec<u8> = (0..65_507u32).map(|b| (b % 251) as u8).collect();
    senders[0].send_to(&largest, to).unwrap();
    senders[1].send_to(b"", to).unwrap();
    let got = datagrams_for(&lp, server, 64, 2);
    assert_eq!((got[0].data.len(), got[1].data.len()), (largest.len(), 0));
    assert!(got[0].data == largest, "the 65,507-byte datagram's bytes");
}

/// Sends six bytes to `server`, cut into one-byte frames, and polls until
/// one batch holds several of them; passes `f` that batch and the index of
/// its first frame.
fn with_frames<T>(lp: &Loop, client: Handle, server: Handle, f: impl FnOnce(Batch<'_>, usize) -> T) -> T {
    lp.set_framing(server, Framing::fixed(1).unwrap()).unwrap();
    lp.send(client, b"abcdef").unwrap();
    // One read of the six bytes: six one-byte frames in one batch.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "no batch with several frames");
        let batch = lp.poll(64, Some(Duration::from_millis(50))).unwrap();
        let frames = batch.events().iter().filter(|e| e.handle == server && e.kind == EventKind::Data).count();
        if frames >= 2 {
            let first = batch.events().iter().position(|e| e.handle == server).unwrap();
            return f(batch, first);
        }
    }
}

/// (kind, handle, bytes) of each event of a batch.
fn owned(batch: &Batch<'_>) -> Vec<(EventKind, Handle, Vec<u8>)> {
    batch.events().iter().map(|e| (e.kind, e.handle, batch.data(e).to_vec())).collect()
}

#[test]
fn a_host_delivering_a_batch_skips_the_events_of_a_handle_closed_since_the_poll() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    with_frames(&lp, client, server, |batch, first| {
        let closes = lp.interventions();
        let frames = &batch.events()[first..];
        assert!(!lp.skips(&frames[0], batch.data(&frames[0]), closes), "nothing is closed yet");
        lp.close_reset(server).unwrap();
        assert!(frames[1..].iter().all(|e| lp.skips(e, batch.data(e), closes)), "the rest of the batch is skipped");
    });
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, server));
    let closed = got.iter().find(|e| e.kind == EventKind::Closed && e.handle == server).unwrap();
    assert!(!lp.skips(&closed.event, &[], 0), "a Closed is never skipped");
}

/// The bytes of `server`'s data events, in order.
fn data_of(got: &[Got], server: Handle) -> Vec<u8> {
    got.iter().filter(|e| e.handle == server && e.kind == EventKind::Data).flat_map(|e| e.data.clone()).collect()
}

#[test]
fn frames_kept_for_a_host_that_stopped_wait_for_resume_if_paused_meanwhile() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    // The host's callback raises at the first frame: the rest is kept for the next poll.
    with_frames(&lp, client, server, |batch, _| {
        lp.deliver(batch, |e, _| !(e.handle == server && e.kind == EventKind::Data)).unwrap();
    });
    lp.pause(server).unwrap();
    let mut quiet = Vec::new();
    for _ in 0..5 {
        poll_into(&lp, 64, Some(Duration::from_millis(20)), &mut quiet);
    }
    assert!(data_of(&quiet, server).is_empty(), "paused: the kept frames wait");
    lp.resume(server).unwrap();
    let got = poll_until(&lp, |g| data_of(g, server).len() >= 5);
    assert_eq!(data_of(&got, server), b"bcdef");
}

#[test]
fn a_pause_during_delivery_keeps_the_rest_of_the_batch_s_data_until_resumed() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    // The peer's EOF right behind the bytes: kept too, behind them.
    let delivered = with_frames(&lp, client, server, |batch, _| {
        lp.shutdown(client).unwrap();
        let mut delivered = Vec::new();
        lp.deliver(batch, |e, data| {
            if e.handle == server && e.kind == EventKind::Data {
                delivered.extend_from_slice(data);
                lp.pause(server).unwrap();
            }
            true
        })
        .unwrap();
        delivered
    });
    assert_eq!(delivered, b"a", "no data after pause() returned");
    let mut quiet = Vec::new();
    for _ in 0..5 {
        poll_into(&lp, 64, Some(Duration::from_millis(20)), &mut quiet);
    }
    assert!(
        !quiet.iter().any(|e| e.handle == server && e.kind != EventKind::Writable),
        "paused: nothing, not even the EOF behind the kept data: {:?}",
        kinds(&quiet)
    );
    lp.resume(server).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Eof, server));
    assert_eq!(data_of(&got, server), b"bcdef", "the rest, in order, after resume()");
    let last_data = got.iter().rposition(|e| e.handle == server && e.kind == EventKind::Data);
    assert!(last_data < got.iter().position(|e| e.handle == server && e.kind == EventKind::Eof), "EOF after the data");
}

#[test]
fn events_kept_from_a_batch_come_back_first_alone_and_with_their_bytes() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    let rest = with_frames(&lp, client, server, |batch, first| {
        let rest = owned(&batch)[first + 1..].to_vec();
        batch.keep_from(first + 1);
        rest
    });
    assert!(rest.len() >= 1 && rest.iter().all(|(_, h, data)| *h == server && data.len() == 1));
    // New input is ready too; the kept events still come first, by themselves.
    lp.send(client, b"g").unwrap();
    assert_eq!(lp.next_timeout(), Some(Duration::ZERO), "kept events are pending");
    let batch = lp.poll(64, None).unwrap();
    assert_eq!(owned(&batch), rest);
    drop(batch);
    let got = poll_until(&lp, |g| has(g, EventKind::Data, server));
    assert_eq!(got.iter().filter(|e| e.handle == server).map(|e| e.data.clone()).collect::<Vec<_>>(), [b"g"]);
}

#[test]
fn kept_events_come_back_at_most_max_a_poll_in_order() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    let all = with_frames(&lp, client, server, |batch, first| {
        let all = owned(&batch)[first..].to_vec();
        batch.keep_from(first);
        all
    });
    let mut again = Vec::new();
    for _ in 0..all.len() {
        let batch = lp.poll(1, Some(Duration::ZERO)).unwrap();
        assert_eq!(batch.events().len(), 1);
        again.extend(owned(&batch));
    }
    assert_eq!(again, all);
    assert_eq!(lp.next_timeout(), None, "nothing kept is left");
}

#[test]
fn a_kept_event_of_a_handle_the_user_closes_is_dropped_but_its_closed() {
    for close_before_keeping in [false, true] {
        let lp = Loop::new().unwrap();
        let (client, server) = connected_pair(&lp);
        with_frames(&lp, client, server, |batch, first| {
            if close_before_keeping {
                lp.close_reset(server).unwrap();
            }
            batch.keep_from(first);
        });
        if !close_before_keeping {
            lp.close_reset(server).unwrap();
        }
        let got = poll_until(&lp, |g| has(g, EventKind::Closed, server));
        let of_server: Vec<EventKind> = got.iter().filter(|e| e.handle == server).map(|e| e.kind).collect();
        assert_eq!(of_server, [EventKind::Closed], "closed before keeping: {close_before_keeping}");
    }
}

#[test]
fn deliver_keeps_the_events_after_a_refusal_for_the_next_poll() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    let rest = with_frames(&lp, client, server, |batch, first| {
        let rest = owned(&batch)[first + 2..].to_vec();
        let mut given = 0;
        let count = lp.deliver(batch, |_, _| {
            given += 1;
            given < first + 2
        });
        assert_eq!(count, Ok(first + 2), "up to the server's second frame, refused");
        rest
    });
    assert_eq!(owned(&lp.poll(64, Some(Duration::ZERO)).unwrap()), rest);
}

#[test]
fn deliver_skips_the_rest_of_a_handle_closed_by_the_host_and_stops_when_the_loop_closes() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    with_frames(&lp, client, server, |batch, _| {
        let mut of_server = 0;
        let delivered = lp.deliver(batch, |event, _| {
            if event.handle == server {
                of_server += 1;
                lp.close_reset(server).unwrap();
            }
            true
        });
        assert!(delivered.is_ok());
        assert_eq!(of_server, 1, "the server's other frames are skipped");
    });
    let (client, server) = connected_pair(&lp);
    with_frames(&lp, client, server, |batch, _| {
        let mut given = 0;
        let delivered = lp.deliver(batch, |_, _| {
            given += 1;
            lp.close_loop();
            true
        });
        assert_eq!((delivered, given), (Err(Error::ECLOSED), 1));
    });
}

#[test]
fn a_kept_closed_leaves_its_handle_closed_until_a_poll_hands_it_out_again() {
    let lp = Loop::new().unwrap();
    let timer = lp.timer_start(Duration::ZERO, None, 0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "the timer never fired");
        let batch = lp.poll(64, Some(Duration::from_millis(50))).unwrap();
        if let Some(closed) = batch.events().iter().position(|e| e.handle == timer && e.kind == EventKind::Closed) {
            batch.keep_from(closed);
            break;
        }
    }
    assert_eq!(lp.handle_count(), 1, "its Closed is not delivered");
    let batch = lp.poll(64, Some(Duration::ZERO)).unwrap();
    assert_eq!(owned(&batch), [(EventKind::Closed, timer, Vec::new())]);
    assert_eq!(lp.kind(timer), Ok(HandleKind::Timer), "its Closed is being handled");
    drop(batch);
    drop(lp.poll(64, Some(Duration::ZERO)).unwrap());
    assert_eq!(lp.kind(timer), Err(Error::EBADHANDLE));
    assert_eq!(lp.handle_count(), 0);
}

#[test]
fn a_batch_says_whether_a_wake_ended_its_poll_and_a_stop_is_taken_once() {
    let lp = Loop::new().unwrap();
    assert!(!lp.poll(16, Some(Duration::ZERO)).unwrap().woken(), "nothing woke it");
    lp.wake();
    assert!(lp.poll(16, Some(Duration::from_secs(60))).unwrap().woken());
    assert!(!lp.poll(16, Some(Duration::from_millis(1))).unwrap().woken(), "a wake counts for one poll");
    assert!(!lp.take_stop());
    lp.stop();
    assert!(lp.poll(16, Some(Duration::from_secs(60))).unwrap().woken(), "a stop wakes a poll");
    assert!(lp.take_stop());
    assert!(!lp.take_stop(), "a stop is taken once");
}
