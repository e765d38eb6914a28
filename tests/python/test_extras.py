"""User data, context managers, timers, tokens, idle timeouts, connection caps,
server shutdown, static hosts and raw options."""

from __future__ import annotations

import gc
import socket
import time
import weakref

import pytest

import netcore
from conftest import Pump, free_port, listen_local
from test_framing import connected_pair


class Tag:
    def __init__(self, name: str) -> None:
        self.name = name


def test_userdata_round_trip_inherit_and_drop(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server_tag = Tag("server")
    listener = loop.listen("127.0.0.1", 0, userdata=server_tag)
    assert loop.get_userdata(listener) is server_tag
    client_tag = Tag("client")
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1], userdata=client_tag)
    pump.until(lambda: len(pump.of_kind("accepted")) == 1 and "connected" in pump.kinds(c))
    accepted = pump.of_kind("accepted")[0]
    assert accepted.userdata is server_tag  # a connection starts with its listener's
    assert loop.get_userdata(accepted.handle) is server_tag
    assert pump.first(c, "connected").userdata is client_tag
    conn_tag = Tag("conn")
    loop.set_userdata(accepted.handle, conn_tag)
    loop.send(c, b"x")
    pump.until(lambda: len(pump.received[accepted.handle]) == 1)
    assert pump.first(accepted.handle, "data").userdata is conn_tag
    # dropped after "closed" (the closed event still carries it)
    ref = weakref.ref(client_tag)
    del client_tag
    loop.close(c)
    pump.until(lambda: "eof" in pump.kinds(accepted.handle))
    loop.close(accepted.handle)
    pump.until(lambda: c in pump.closed)
    assert pump.closed[c].userdata is ref()
    pump.events.clear()
    pump.by_handle.clear()
    pump.closed.clear()
    gc.collect()
    assert ref() is None, "user data kept after the handle closed"
    loop.set_userdata(listener, None)
    assert loop.get_userdata(listener) is None


def test_userdata_cycle_is_collected() -> None:
    lp = netcore.Loop()
    h = lp.udp_bind("127.0.0.1", 0)

    class Holder:
        pass

    holder = Holder()
    holder.loop = lp  # type: ignore[attr-defined]
    lp.set_userdata(h, holder)
    ref = weakref.ref(lp)
    del lp, holder
    gc.collect()
    assert ref() is None, "the loop <-> user data cycle was not collected"


def test_loop_and_handle_context_managers() -> None:
    with netcore.Loop() as lp:
        pump = Pump(lp)
        with lp.closing(lp.udp_bind("127.0.0.1", 0)) as u:
            assert lp.kind(u) == "udp"
        pump.until(lambda: u in pump.closed)
    assert lp.closed


def test_timers(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    start = time.monotonic()
    once = loop.timer(0.05, userdata="once")
    rep = loop.timer(0.02, 0.02)
    assert loop.kind(once) == "timer"
    nt = loop.next_timeout()
    assert nt is not None and 0 <= nt <= 0.05
    pump.until(lambda: once in pump.closed)
    assert time.monotonic() - start >= 0.045
    assert pump.kinds(once) == ["timer", "closed"]
    assert pump.first(once, "timer").userdata == "once"
    pump.until(lambda: pump.kinds(rep).count("timer") >= 3)
    loop.close(rep)
    pump.until(lambda: rep in pump.closed)
    # no live timer is left: at most a stale deadline makes one spurious wake-up
    pump.settle(0.05)
    assert loop.next_timeout() is None


def test_send_token_and_sent_event(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.send(client, b"tracked", token=42)
    loop.sendv(client, [b"a", b"b"], token=2**64 - 1)
    pump.until(lambda: len(pump.of_kind("sent")) == 2)
    assert [e.value for e in pump.of_kind("sent")] == [42, 2**64 - 1]
    with pytest.raises(ValueError):
        loop.send(client, b"x", token=-1)


def test_idle_timeout(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.set_idle_timeout(server, 0.1)
    pump.until(lambda: "idle" in pump.kinds(server), timeout=3)
    loop.set_idle_timeout(server, None)


def test_connection_cap(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    loop.set_max_connections(listener, 2)
    port = loop.local_address(listener)[1]
    clients = [loop.connect("127.0.0.1", port) for _ in range(3)]
    pump.until(lambda: len(pump.of_kind("accepted")) == 2)
    pump.settle(0.2)
    assert len(pump.of_kind("accepted")) == 2  # the third waits in the backlog
    loop.close_reset(pump.of_kind("accepted")[0].handle)
    pump.until(lambda: len(pump.of_kind("accepted")) == 3)
    pump.settle(0.05)
    for c in clients:
        if c not in pump.closed:
            loop.close(c)


def test_shutdown_server(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    pump.until(lambda: len(pump.of_kind("accepted")) == 1)
    loop.shutdown_server(listener, 1.0)
    pump.until(lambda: "eof" in pump.kinds(c))
    loop.close(c)
    pump.until(lambda: listener in pump.closed, timeout=5)
    assert pump.kinds(listener)[-2:] == ["shutdown_complete", "closed"]


def test_static_host_addresses(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    loop.set_host_addresses("my-service.test", ["127.0.0.1"])
    c = loop.connect("my-service.test", loop.local_address(listener)[1])
    pump.until(lambda: "connected" in pump.kinds(c))
    with pytest.raises(ValueError):
        loop.set_host_addresses("x.test", ["not an ip"])


def test_connect_options(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener, port = listen_local(loop)
    c = loop.connect("127.0.0.1", port, timeout=5, family="ipv4", local_address=("127.0.0.1", 0), attempt_delay=0.1)
    pump.until(lambda: "connected" in pump.kinds(c))
    with pytest.raises(ValueError):
        loop.connect("127.0.0.1", port, family="ipx")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        loop.connect("127.0.0.1", port, reconnect=[0.1] * 9)
    with pytest.raises(ValueError):
        loop.connect("127.0.0.1", port, family="ipv6", local_address=("127.0.0.1", 0))


def test_reconnect_events(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    port = free_port()
    c = loop.connect("127.0.0.1", port, reconnect=[0.05])
    pump.until(lambda: pump.kinds(c).count("reconnecting") >= 2, timeout=5)
    attempts = [e.value for e in pump.by_handle[c] if e.kind == "reconnecting"]
    assert attempts[:2] == [1, 2]
    assert isinstance(pump.first(c, "reconnecting").error, ConnectionRefusedError)
    loop.close(c)
    pump.until(lambda: c in pump.closed)


def test_raw_options_and_fd(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    assert loop.get_option(client, netcore.NODELAY) == 1
    loop.set_raw_option(client, socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
    assert loop.get_raw_option(client, socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    assert loop.get_option(client, "nodelay") == 0
    raw = loop.get_raw_option(client, socket.SOL_SOCKET, socket.SO_RCVBUF, 4)
    assert isinstance(raw, bytes) and len(raw) == 4
    fd = loop.raw_fd(client)
    s = socket.socket(fileno=fd)
    try:
        assert s.getpeername() == loop.peer_address(client)
    finally:
        s.detach()
    loop.set_option(client, netcore.KEEPALIVE, 30)
    assert loop.get_option(client, netcore.KEEPALIVE) == 30


def test_event_repr_and_match(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.send(client, b"x" * 100)
    pump.until(lambda: len(pump.received[server]) == 100)
    ev = pump.first(server, "data")
    r = repr(ev)
    assert "data" in r and "100 bytes" in r
    match ev:
        case netcore.Event("data", h, payload):
            assert h == server and payload == b"x" * 100
        case _:
            pytest.fail("pattern matching on Event")
    with pytest.raises(AttributeError):
        ev.kind = "eof"  # type: ignore[misc]
