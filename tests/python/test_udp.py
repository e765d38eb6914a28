"""UDP: round trip with the sender address, connected UDP, options."""

from __future__ import annotations

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
