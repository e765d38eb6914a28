//! Batched datagram sends (`Loop::send_batch`, one `sendmmsg` for many
//! datagrams) on real loopback sockets: contents and destinations, the
//! count when a datagram in the middle cannot go, and the empty batch.

use std::net::{SocketAddr, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr as UnixAddr;
use std::time::Duration;

use netcore_core::{BindOptions, DatagramToSend, Error, Handle, Loop, Result};

/// A std socket that receives what the batch sends (it never blocks long).
fn receiver(ip: &str) -> (UdpSocket, SocketAddr) {
    let sock = UdpSocket::bind((ip, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let addr = sock.local_addr().unwrap();
    (sock, addr)
}

/// The next datagram `sock` receives, with its sender.
fn recv(sock: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0; 70_000];
    let (n, from) = sock.recv_from(&mut buf).unwrap();
    buf.truncate(n);
    (buf, from)
}

/// Whether `sock` has no datagram waiting.
fn nothing_waiting(sock: &UdpSocket) -> bool {
    sock.set_nonblocking(true).unwrap();
    let empty = sock.recv_from(&mut [0; 16]).is_err();
    sock.set_nonblocking(false).unwrap();
    empty
}

fn bound(lp: &Loop, ip: &str) -> (Handle, SocketAddr) {
    let sock = lp.udp_bind(ip, 0, &BindOptions::default(), 0).unwrap();
    (sock, lp.local_addr(sock).unwrap())
}

fn all_ok<'a>(datagrams: &[DatagramToSend<'a>]) -> Vec<Result<DatagramToSend<'a>>> {
    datagrams.iter().copied().map(Ok).collect()
}

#[test]
fn a_batch_larger_than_one_system_call_arrives_whole_in_order_at_each_destination() {
    let lp = Loop::new().unwrap();
    let (sock, from) = bound(&lp, "127.0.0.1");
    let receivers = [receiver("127.0.0.1"), receiver("127.0.0.1")];
    // 150 datagrams (more than two sendmmsg calls' worth), 0..=1,490 bytes,
    // alternating between the two receivers.
    let payloads: Vec<Vec<u8>> = (0..150).map(|i| (0..i * 10).map(|b| (b ^ i) as u8).collect()).collect();
    let datagrams: Vec<DatagramToSend> =
        payloads.iter().enumerate().map(|(i, p)| DatagramToSend { data: p, to: Some(receivers[i % 2].1) }).collect();
    assert_eq!(lp.send_batch(sock, all_ok(&datagrams)), Ok(150));
    for (i, payload) in payloads.iter().enumerate() {
        let (data, sender) = recv(&receivers[i % 2].0);
        assert_eq!((data.len(), sender), (payload.len(), from), "datagram {i}");
        assert!(&data == payload, "the bytes of datagram {i}");
    }
    assert!(receivers.iter().all(|(r, _)| nothing_waiting(r)));
}

#[test]
fn ipv6_destinations_and_the_connected_peer() {
    let lp = Loop::new().unwrap();
    let (sock, from) = bound(&lp, "::1");
    let (r, to) = receiver("::1");
    let datagrams = [DatagramToSend { data: b"to ::1", to: Some(to) }];
    assert_eq!(lp.send_batch(sock, all_ok(&datagrams)), Ok(1));
    assert_eq!(recv(&r), (b"to ::1".to_vec(), from));
    // Without a destination a datagram goes to the connected peer; on a
    // socket with none the kernel refuses it (nothing was sent).
    let no_peer = [DatagramToSend { data: b"nowhere", to: None }];
    assert_eq!(lp.send_batch(sock, all_ok(&no_peer)), Err(Error::ENOTCONN));
    lp.udp_connect(sock, "::1", to.port().into()).unwrap();
    let peer = [DatagramToSend { data: b"a", to: None }, DatagramToSend { data: b"", to: None }];
    assert_eq!(lp.send_batch(sock, all_ok(&peer)), Ok(2));
    assert_eq!((recv(&r).0, recv(&r).0), (b"a".to_vec(), vec![]));
}

#[test]
fn an_empty_batch_sends_nothing_but_the_handle_is_still_checked() {
    let lp = Loop::new().unwrap();
    let (sock, _) = bound(&lp, "127.0.0.1");
    assert_eq!(lp.send_batch(sock, []), Ok(0));
    let timer = lp.timer_start(Duration::from_secs(60), None, 0).unwrap();
    assert_eq!(lp.send_batch(timer, []), Err(Error::EWRONGKIND));
    lp.close(sock).unwrap();
    assert_eq!(lp.send_batch(sock, []), Err(Error::ECLOSED));
}

#[test]
fn a_bad_datagram_in_the_middle_stops_the_batch_there_and_a_call_from_it_says_why() {
    let lp = Loop::new().unwrap();
    let (sock, _) = bound(&lp, "127.0.0.1");
    let (r, to) = receiver("127.0.0.1");
    let port_zero = SocketAddr::new(to.ip(), 0);
    let good = |data: &'static [u8]| DatagramToSend { data, to: Some(to) };
    // Port 0 at index 2, and again at index 70 (in the second system call's share).
    let mut datagrams = vec![good(b"0"), good(b"1"), DatagramToSend { data: b"bad", to: Some(port_zero) }, good(b"3")];
    assert_eq!(lp.send_batch(sock, all_ok(&datagrams)), Ok(2), "the two before it went");
    let why = lp.send_batch(sock, all_ok(&datagrams[2..])).unwrap_err();
    assert_eq!(why.detail().map(|d| d.to_string()).as_deref(), Some("port: expected 1 to 65535"));
    assert_eq!((recv(&r).0, recv(&r).0), (b"0".to_vec(), b"1".to_vec()));
    assert!(nothing_waiting(&r), "neither the bad datagram nor the one after it went");
    datagrams = (0..80).map(|_| good(b"x")).collect();
    datagrams[70].to = Some(port_zero);
    assert_eq!(lp.send_batch(sock, all_ok(&datagrams)), Ok(70));
    (0..70).for_each(|_| assert_eq!(recv(&r).0, b"x"));
    assert!(nothing_waiting(&r));
    // A caller's own refusal (an `Err` item) stops the batch the same way.
    let items = [Ok(good(b"first")), Err(Error::EINVAL), Ok(good(b"never"))];
    assert_eq!(lp.send_batch(sock, items), Ok(1));
    assert_eq!(lp.send_batch(sock, [Err(Error::EINVAL), Ok(good(b"never"))]), Err(Error::EINVAL));
    assert_eq!(recv(&r).0, b"first");
    assert!(nothing_waiting(&r));
}

#[test]
fn an_oversize_datagram_is_emsgsize_and_the_largest_one_goes() {
    let lp = Loop::new().unwrap();
    let (sock, _) = bound(&lp, "127.0.0.1");
    let (r, to) = receiver("127.0.0.1");
    let largest = vec![7u8; 65_507];
    let oversize = vec![8u8; 65_508];
    let datagrams = [
        DatagramToSend { data: &largest, to: Some(to) },
        DatagramToSend { data: &oversize, to: Some(to) },
        DatagramToSend { data: b"after", to: Some(to) },
    ];
    assert_eq!(lp.send_batch(sock, all_ok(&datagrams)), Ok(1));
    assert_eq!(lp.send_batch(sock, all_ok(&datagrams[1..])), Err(Error::EMSGSIZE));
    assert!(recv(&r).0 == largest);
    assert!(nothing_waiting(&r));
}

#[test]
fn a_unix_datagram_socket_sends_a_batch_to_its_connected_peer_but_refuses_ip_destinations() {
    let lp = Loop::new().unwrap();
    let name = format!("@netcore-batch-{}", std::process::id());
    let abstract_name = UnixAddr::from_abstract_name(&name.as_bytes()[1..]).unwrap();
    let peer = std::os::unix::net::UnixDatagram::bind_addr(&abstract_name).unwrap();
    let sock = lp.unix_dgram_bind(&format!("{name}-sender"), 0).unwrap();
    lp.unix_dgram_connect(sock, &name).unwrap();
    let datagrams = [DatagramToSend { data: b"one", to: None }, DatagramToSend { data: b"two", to: None }];
    assert_eq!(lp.send_batch(sock, all_ok(&datagrams)), Ok(2));
    let mut buf = [0; 16];
    let mut next = || {
        let n = peer.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    };
    let got = [next(), next()];
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
    let ip = [DatagramToSend { data: b"x", to: Some("127.0.0.1:9".parse().unwrap()) }];
    assert_eq!(lp.send_batch(sock, all_ok(&ip)), Err(Error::EWRONGKIND));
}

#[test]
fn more_datagrams_than_one_poll_receives_arrive_over_several_polls_whole_in_order() {
    let lp = Loop::new().unwrap();
    let sockets = [bound(&lp, "127.0.0.1"), bound(&lp, "127.0.0.1")];
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    // 150 each: together more than a poll's 128 receiver slots, each
    // socket's within its default receive buffer.
    for i in 0..300u32 {
        sender.send_to(&i.to_be_bytes(), sockets[(i % 2) as usize].1).unwrap();
    }
    let mut got: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    let mut polls = 0;
    while got[0].len() + got[1].len() < 300 {
        polls += 1;
        assert!(polls < 100, "datagrams stopped arriving: {} of 300", got[0].len() + got[1].len());
        let batch = lp.poll(1024, Some(Duration::from_secs(5))).unwrap();
        for event in batch.events() {
            let which = sockets.iter().position(|s| s.0 == event.handle).unwrap();
            got[which].push(u32::from_be_bytes(batch.data(event).try_into().unwrap()));
        }
    }
    assert!(polls > 1, "one poll took all 300 datagrams");
    assert_eq!(got[0], (0..300).filter(|i| i % 2 == 0).collect::<Vec<_>>());
    assert_eq!(got[1], (0..300).filter(|i| i % 2 == 1).collect::<Vec<_>>());
}
