"""Echo through a netcore server and netcore clients: sizes, many connections, IPv6."""

from __future__ import annotations

import os

import pytest

import netcore
from conftest import EchoServer, Pump, has_ipv6, raise_nofile


@pytest.mark.parametrize("size", [1, 1024, 64 * 1024, 16 * 1024 * 1024], ids=["1B", "1KiB", "64KiB", "16MiB"])
def test_echo_sizes(loop: netcore.Loop, size: int) -> None:
    pump = Pump(loop)
    server = EchoServer(pump)
    client = loop.connect("127.0.0.1", server.port)
    payload = os.urandom(size)
    loop.send(client, payload)  # queued before "connected": sent once connected
    pump.until(lambda: len(pump.received[client]) >= size, timeout=60, what=f"{size} echoed bytes")
    assert bytes(pump.received[client]) == payload
    assert pump.first(client, "connected").addr == ("127.0.0.1", server.port)
    loop.close(client)
    pump.until(lambda: client in pump.closed, what="client closed")
    assert pump.closed[client].error is None


def test_echo_memoryview_and_bytearray(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server = EchoServer(pump)
    client = loop.connect("127.0.0.1", server.port)
    pump.until(lambda: "connected" in pump.kinds(client))
    buf = bytearray(b"0123456789")
    loop.send(client, buf)
    loop.send(client, memoryview(b"xxabcxx")[2:5])
    loop.sendv(client, [b"-", bytearray(b"gather"), memoryview(b"-send")])
    expected = b"0123456789abc-gather-send"
    pump.until(lambda: len(pump.received[client]) >= len(expected))
    assert bytes(pump.received[client]) == expected


def test_thousand_connections(loop: netcore.Loop) -> None:
    n = 1000
    raise_nofile(2 * n + 100)
    pump = Pump(loop)
    server = EchoServer(pump)
    clients = {loop.connect("127.0.0.1", server.port): f"message {i}\n".encode() * 4 for i in range(n)}
    for h, msg in clients.items():
        loop.send(h, msg)
    pump.until(
        lambda: all(len(pump.received[h]) >= len(m) for h, m in clients.items()),
        timeout=60,
        what="1000 echoes",
    )
    for h, msg in clients.items():
        assert bytes(pump.received[h]) == msg
    assert len(pump.of_kind("accepted")) == n
    assert loop.handle_count() == 2 * n + 1
    for h in clients:
        loop.close(h)
    pump.until(lambda: all(h in pump.closed for h in clients), timeout=60, what="1000 closes")
    pump.until(lambda: loop.handle_count() == 1, what="server side closes")


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback on this machine")
def test_ipv6_echo(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server = EchoServer(pump, host="::1")
    assert loop.local_address(server.listener) == ("::1", server.port)
    client = loop.connect("::1", server.port)
    loop.send(client, b"over ipv6")
    pump.until(lambda: len(pump.received[client]) >= 9)
    assert bytes(pump.received[client]) == b"over ipv6"
    assert pump.first(client, "connected").addr == ("::1", server.port)
    accepted = pump.of_kind("accepted")[0]
    assert accepted.addr is not None and accepted.addr[0] == "::1"
    assert loop.peer_address(client) == ("::1", server.port)


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback on this machine")
def test_ipv6_bracketed_and_v6only(loop: netcore.Loop) -> None:
    listener = loop.listen("[::1]", 0, ipv6_only=True)
    assert loop.local_address(listener)[0] == "::1"


def test_local_and_peer_addresses(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server = EchoServer(pump)
    client = loop.connect("localhost", server.port)
    pump.until(lambda: "connected" in pump.kinds(client))
    pump.until(lambda: len(pump.of_kind("accepted")) == 1)
    accepted = pump.of_kind("accepted")[0]
    assert accepted.listener == server.listener
    assert loop.peer_address(client) == ("127.0.0.1", server.port)
    assert loop.local_address(client) == accepted.addr
    assert loop.peer_address(accepted.handle) == loop.local_address(client)
    assert loop.kind(server.listener) == "tcp_listener"
    assert loop.kind(client) == "tcp_connection"
