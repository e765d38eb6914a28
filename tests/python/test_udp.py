"""UDP: round trip with the sender address, connected UDP, options."""

from __future__ import annotations

import socket

import pytest

import netcore
from conftest import Pump, has_ipv6


def test_udp_round_trip(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    a = loop.udp_bind("127.0.0.1", 0)
    b = loop.udp_bind("127.0.0.1", 0)
    a_addr = loop.local_address(a)
    b_addr = loop.local_address(b)
    assert a_addr[1] != 0 and loop.kind(a) == "udp"
    loop.send_to(a, b"ping", b_addr)
    pump.until(lambda: len([e for e in pump.by_handle[b] if e.kind == "datagram"]) == 1)
    dgram = pump.first(b, "datagram")
    assert dgram.data == b"ping" and dgram.addr == a_addr
    loop.send_to(b, memoryview(b"pong"), dgram.addr)
    pump.until(lambda: any(e.kind == "datagram" for e in pump.by_handle[a]))
    reply = pump.first(a, "datagram")
    assert reply.data == b"pong" and reply.addr == b_addr


def test_udp_datagram_boundaries_kept(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    a = loop.udp_bind("127.0.0.1", 0)
    b = loop.udp_bind("127.0.0.1", 0)
    for i in range(20):
        loop.send_to(a, bytes([i]) * (i + 1), loop.local_address(b))
    pump.until(lambda: len([e for e in pump.by_handle[b] if e.kind == "datagram"]) == 20)
    got = [e.data for e in pump.by_handle[b] if e.kind == "datagram"]
    assert got == [bytes([i]) * (i + 1) for i in range(20)]


def test_connected_udp(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    a = loop.udp_bind("127.0.0.1", 0)
    b = loop.udp_bind("127.0.0.1", 0)
    loop.udp_connect(a, *loop.local_address(b))
    assert loop.peer_address(a) == loop.local_address(b)
    loop.send(a, b"via send")
    loop.sendv(a, [b"gather", b"ed"])
    pump.until(lambda: len([e for e in pump.by_handle[b] if e.kind == "datagram"]) == 2)
    got = [e.data for e in pump.by_handle[b] if e.kind == "datagram"]
    assert got == [b"via send", b"gathered"]
    here = loop.local_address(a)
    loop.udp_disconnect(a)
    assert loop.local_address(a) == here, "still bound where it was"
    with pytest.raises(netcore.NotConnectedError):
        loop.peer_address(a)
    with pytest.raises(netcore.NotConnectedError):
        loop.udp_disconnect(a)
    c = loop.udp_bind("127.0.0.1", 0)
    loop.send_to(c, b"from anyone", here)
    pump.until(lambda: any(e.kind == "datagram" for e in pump.by_handle[a]))


def test_udp_options_and_wrong_kind(loop: netcore.Loop) -> None:
    u = loop.udp_bind("127.0.0.1", 0)
    loop.set_option(u, netcore.BROADCAST, True)
    assert loop.get_option(u, "broadcast") == 1
    loop.set_option(u, netcore.RCVBUF, 65536)
    assert loop.get_option(u, netcore.RCVBUF) >= 65536
    with pytest.raises(netcore.WrongKindError):
        loop.set_option(u, netcore.NODELAY, 1)
    with pytest.raises(ValueError):
        loop.send_to(u, b"x", ("127.0.0.1", 0))
    with pytest.raises(ValueError):
        loop.send_to(u, b"x", ("not-an-ip", 9))
    with pytest.raises(TypeError):
        loop.send_to(u, b"x", "127.0.0.1:9")  # type: ignore[arg-type]
    t = loop.listen("127.0.0.1", 0)
    with pytest.raises(netcore.WrongKindError):
        loop.send_to(t, b"x", ("127.0.0.1", 9))


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback on this machine")
def test_udp_ipv6(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    a = loop.udp_bind("::1", 0)
    b = loop.udp_bind("::1", 0)
    loop.send_to(a, b"six", loop.local_address(b))
    pump.until(lambda: any(e.kind == "datagram" for e in pump.by_handle[b]))
    d = pump.first(b, "datagram")
    assert d.data == b"six" and d.addr == loop.local_address(a)


def test_an_empty_datagram_is_sent_and_received(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    a = loop.udp_bind("127.0.0.1", 0)
    b = loop.udp_bind("127.0.0.1", 0)
    loop.send_to(a, b"", loop.local_address(b))
    loop.send_to(a, bytearray(), loop.local_address(b))
    loop.udp_connect(a, *loop.local_address(b))
    loop.send(a, b"")
    loop.sendv(a, [b"", memoryview(b"")])
    pump.until(lambda: len(pump.of_kind("datagram")) >= 4, what="four empty datagrams")
    got = pump.of_kind("datagram")
    assert [(d.handle, d.data, d.addr) for d in got] == [(b, b"", loop.local_address(a))] * 4


def _receiver(host: str = "127.0.0.1") -> socket.socket:
    """A plain socket that receives what a batch sends."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    r = socket.socket(family, socket.SOCK_DGRAM)
    r.bind((host, 0))
    r.settimeout(10)
    return r


def _nothing_waiting(r: socket.socket) -> bool:
    r.setblocking(False)
    try:
        r.recv(16)
        return False
    except BlockingIOError:
        return True
    finally:
        r.settimeout(10)


def test_send_batch_delivers_every_datagram_in_order_to_its_address(loop: netcore.Loop) -> None:
    sock = loop.udp_bind("127.0.0.1", 0)
    me = loop.local_address(sock)
    receivers = [_receiver(), _receiver()]
    addrs = [r.getsockname()[:2] for r in receivers]
    # 100 datagrams (more than one sendmmsg's worth), bytes and other buffers.
    payloads = [bytes([i]) * (i * 7) for i in range(100)]
    batch = [(p if i % 3 else bytearray(p), addrs[i % 2]) for i, p in enumerate(payloads)]
    assert loop.send_batch(sock, batch) == 100
    for i, p in enumerate(payloads):
        data, sender = receivers[i % 2].recvfrom(2048)
        assert (data, sender) == (p, me), f"datagram {i}"
    assert all(_nothing_waiting(r) for r in receivers)
    assert loop.send_batch(sock, []) == 0 and loop.send_batch(sock, iter(())) == 0


def test_send_batch_stops_at_a_bad_datagram_and_a_call_from_it_raises_why(loop: netcore.Loop) -> None:
    sock = loop.udp_bind("127.0.0.1", 0)
    r = _receiver()
    to = r.getsockname()
    batch = [(b"0", to), (b"1", to), (b"bad", ("not an ip", 9)), (b"3", to)]
    assert loop.send_batch(sock, batch) == 2
    with pytest.raises(netcore.InvalidArgumentError):
        loop.send_batch(sock, batch[2:])
    batch[2] = (b"bad", (to[0], 0))
    with pytest.raises(ValueError):
        loop.send_batch(sock, batch[2:])
    batch[2] = (b"x" * 70_000, to)
    assert loop.send_batch(sock, batch[1:]) == 1
    with pytest.raises(netcore.MessageTooLongError):
        loop.send_batch(sock, batch[2:])
    assert [r.recv(16) for _ in range(3)] == [b"0", b"1", b"1"]
    assert _nothing_waiting(r), "nothing after the refused datagram went"
    # A wrong type anywhere refuses the whole call: nothing is sent.
    for bad in ([(b"0", to), (b"1",)], [(b"0", to), ("text", to)], [(b"0", to), (b"1", "127.0.0.1:9")], b"xy"):
        with pytest.raises(TypeError):
            loop.send_batch(sock, bad)
    assert _nothing_waiting(r)


def test_send_batch_to_the_connected_peer_and_over_ipv6(loop: netcore.Loop) -> None:
    sock = loop.udp_bind("127.0.0.1", 0)
    r = _receiver()
    with pytest.raises(netcore.NotConnectedError):
        loop.send_batch(sock, [(b"nowhere", None)])
    loop.udp_connect(sock, *r.getsockname())
    assert loop.send_batch(sock, [(b"a", None), (memoryview(b""), None)]) == 2
    assert [r.recv(16), r.recv(16)] == [b"a", b""]
    if has_ipv6():
        six = loop.udp_bind("::1", 0)
        r6 = _receiver("::1")
        assert loop.send_batch(six, [(b"v6", r6.getsockname()[:2])]) == 1
        data, sender = r6.recvfrom(16)
        assert (data, sender[:2]) == (b"v6", loop.local_address(six))


def test_send_batch_replies_to_event_senders_beyond_the_recent_address_cache(loop: netcore.Loop) -> None:
    # ev.addr tuples of recent senders are reused (and recognised when sent
    # back): twelve senders, more than the eight kept, each twice.
    pump = Pump(loop)
    sock = loop.udp_bind("127.0.0.1", 0)
    to = loop.local_address(sock)
    senders = [_receiver() for _ in range(12)]
    for rnd in range(2):
        for i, s in enumerate(senders):
            s.sendto(bytes([rnd, i]), to)
    pump.until(lambda: len([e for e in pump.by_handle[sock] if e.kind == "datagram"]) == 24)
    events = [e for e in pump.by_handle[sock] if e.kind == "datagram"]
    assert [e.addr for e in events] == [s.getsockname() for s in senders] * 2
    assert loop.send_batch(sock, [(e.data, e.addr) for e in events]) == 24
    for i, s in enumerate(senders):
        assert [s.recvfrom(16) for _ in range(2)] == [(bytes([0, i]), to), (bytes([1, i]), to)]
