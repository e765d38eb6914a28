"""Handle lifetimes: handles belong to their loop, what a count of handles
counts, closing a loop that is being waited on."""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import socket
import threading
from collections.abc import Callable

import pytest

import netcore
import netcore.aio
from conftest import Pump, listen_local


def one_of_each(loop: netcore.Loop) -> list[int]:
    """A listener, both ends of a connection, a UDP socket and a timer."""
    pump = Pump(loop)
    listener, port = listen_local(loop)
    client = loop.connect("127.0.0.1", port)
    pump.until(lambda: "connected" in pump.kinds(client) and bool(pump.of_kind("accepted")))
    server = pump.of_kind("accepted")[0].handle
    return [listener, client, server, loop.udp_bind("127.0.0.1", 0), loop.timer(3600)]


def every_operation(loop: netcore.Loop) -> dict[str, Callable[[int], object]]:
    """Every Loop method that takes a handle, called with one."""
    keepalive = (socket.SOL_SOCKET, socket.SO_KEEPALIVE)
    return {
        "send": lambda h: loop.send(h, b"x"),
        "send token": lambda h: loop.send(h, b"x", token=1),
        "sendv": lambda h: loop.sendv(h, [b"x", b"y"]),
        "send_to": lambda h: loop.send_to(h, b"x", ("127.0.0.1", 9)),
        "udp_connect": lambda h: loop.udp_connect(h, "127.0.0.1", 9),
        "add_membership": lambda h: loop.add_membership(h, "239.1.2.3"),
        "drop_membership": lambda h: loop.drop_membership(h, "239.1.2.3"),
        "set_multicast_interface": lambda h: loop.set_multicast_interface(h, "127.0.0.1"),
        "udp_disconnect": loop.udp_disconnect,
        "pause": loop.pause,
        "resume": loop.resume,
        "shutdown": loop.shutdown,
        "set_framing": lambda h: loop.set_framing(h, "fixed", size=4),
        "frame_delimited": lambda h: loop.frame_delimited(h, b"\n"),
        "frame_fixed": lambda h: loop.frame_fixed(h, 4),
        "frame_length_prefixed": lambda h: loop.frame_length_prefixed(h, 2),
        "set_idle_timeout": lambda h: loop.set_idle_timeout(h, 60),
        "set_max_connections": lambda h: loop.set_max_connections(h, 3),
        "shutdown_server": lambda h: loop.shutdown_server(h, 1),
        "set_option": lambda h: loop.set_option(h, netcore.NODELAY, 0),
        "get_option": lambda h: loop.get_option(h, netcore.NODELAY),
        "set_raw_option": lambda h: loop.set_raw_option(h, *keepalive, 1),
        "get_raw_option": lambda h: loop.get_raw_option(h, *keepalive),
        "raw_fd": loop.raw_fd,
        "local_address": loop.local_address,
        "peer_address": loop.peer_address,
        "kind": loop.kind,
        "set_userdata": lambda h: loop.set_userdata(h, "theirs"),
        "get_userdata": loop.get_userdata,
        "close": loop.close,
        "close_reset": loop.close_reset,
        "close_abort": loop.close_abort,
        "closing": loop.closing,
    }


def test_a_handle_of_another_loop_is_bad_for_every_operation_and_changes_nothing() -> None:
    with netcore.Loop() as a, netcore.Loop() as b:
        on_a = one_of_each(a)
        on_b = one_of_each(b)
        for h in on_b:
            b.set_userdata(h, "mine")
        before = [(b.kind(h), b.get_userdata(h)) for h in on_b]
        for ha in on_a:
            assert 0 < ha < 2**53 and ha not in on_b
            for name, op in every_operation(b).items():
                with pytest.raises(netcore.BadHandleError):
                    op(ha)
                    pytest.fail(f"{name} took loop A's handle {ha} on loop B")
        assert [(b.kind(h), b.get_userdata(h)) for h in on_b] == before
        assert [e for e in b.poll(0) if e.kind == "closed"] == [], "nothing of loop B closed"
        assert a.handle_count() == b.handle_count() == 5
        # Both loops still work with their own handles.
        for lp, (_, client, server, _, _) in ((a, on_a), (b, on_b)):
            pump = Pump(lp)
            lp.send(client, b"ok")
            pump.until(lambda: pump.received[server] == b"ok")


def test_handle_count_ignores_internal_connection_attempts(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    _listener, port = listen_local(loop)
    client = loop.connect("127.0.0.1", port)
    assert loop.handle_count() == 2, "the listener and the connection, not its attempt"
    pump.until(lambda: "connected" in pump.kinds(client) and bool(pump.of_kind("accepted")))
    assert loop.handle_count() == 3


def closed_while_waiting(wait: Callable[[netcore.Loop], object], close_from: str) -> None:
    """Runs `wait` on a loop with a listener while the loop is closed from
    another thread or from a signal handler: it must raise ClosedError, and
    the listener must be gone (a client is refused, nothing is accepted)."""
    lp = netcore.Loop()
    _listener, port = listen_local(lp)
    if close_from == "thread":
        closer = threading.Timer(0.1, lp.close)
        previous = None
    else:
        previous = signal.signal(signal.SIGUSR1, lambda _s, _f: lp.close())
        closer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
    closer.start()
    try:
        with pytest.raises(netcore.ClosedError):
            result = wait(lp)
            pytest.fail(f"returned {result!r} after the loop closed")
    finally:
        closer.join()
        if previous is not None:
            signal.signal(signal.SIGUSR1, previous)
    assert lp.closed
    with socket.socket() as client:
        assert client.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED


@pytest.mark.parametrize("close_from", ["thread", "signal"])
def test_closing_the_loop_ends_a_waiting_poll_with_closed_error(close_from: str) -> None:
    # The 10 s timeout only guards against a hang.
    closed_while_waiting(lambda lp: lp.poll(10), close_from)


@pytest.mark.parametrize("close_from", ["thread", "signal"])
def test_closing_the_loop_ends_a_waiting_run_with_closed_error(close_from: str) -> None:
    def run(lp: netcore.Loop) -> None:
        guard = threading.Timer(10, lp.stop)  # hang guard only
        guard.start()
        try:
            lp.run(lambda ev: pytest.fail(f"event after close: {ev}"))
        finally:
            guard.cancel()

    closed_while_waiting(run, close_from)


def test_closing_the_loop_from_a_run_callback_ends_run_with_closed_error(loop: netcore.Loop) -> None:
    loop.timer(0)
    seen: list[str] = []

    def on_event(ev: netcore.Event) -> None:
        seen.append(ev.kind)
        loop.close()

    with pytest.raises(netcore.ClosedError):
        loop.run(on_event)
    assert seen == ["timer"]


def framed_bytes_pending(loop: netcore.Loop, peer: socket.socket) -> int:
    """A connection framed one byte per "data" event whose peer has sent six
    bytes at once: one read, one batch of six "data" events. Returns the
    connection's handle."""
    pump = Pump(loop)
    pump.until(lambda: bool(pump.of_kind("accepted")))
    server = pump.of_kind("accepted")[0].handle
    loop.frame_fixed(server, 1)
    peer.sendall(b"abcdef")
    return server


@pytest.mark.parametrize("consumer", ["run", "run after a raise", "netcore.aio"])
def test_no_event_of_a_handle_but_closed_after_close_reset_returned(loop: netcore.Loop, consumer: str) -> None:
    _listener, port = listen_local(loop)
    with socket.create_connection(("127.0.0.1", port)) as peer:
        server = framed_bytes_pending(loop, peer)
        seen: list[str] = []

        def on_event(ev: netcore.Event) -> None:
            if ev.handle != server:
                return
            seen.append(ev.kind)
            if ev.kind == "closed":
                loop.stop()
            elif seen == ["data"]:
                loop.close_reset(server)
                if consumer == "run after a raise":
                    raise RuntimeError("the rest of the batch is kept")

        guard = threading.Timer(10, loop.stop)  # hang guard only
        guard.start()
        try:
            if consumer == "netcore.aio":

                async def drive() -> None:
                    with netcore.aio.attach(loop, on_event):
                        for _ in range(500):
                            if "closed" in seen:
                                return
                            await asyncio.sleep(0.01)

                asyncio.run(drive())
            else:
                if consumer == "run after a raise":
                    with pytest.raises(RuntimeError):
                        loop.run(on_event)
                loop.run(on_event)
        finally:
            guard.cancel()
    assert seen == ["data", "closed"]


def test_a_handle_is_closed_error_from_close_reset_to_its_closed_event_then_bad_handle(loop: netcore.Loop) -> None:
    handles = one_of_each(loop)
    ops = every_operation(loop)
    # A closed handle still answers what it was, until it is gone.
    answering = {"kind", "get_userdata", "set_userdata", "closing"}
    for h in handles:
        loop.close_reset(h)
        for name, op in ops.items():
            if name in answering:
                op(h)
                continue
            with pytest.raises(netcore.ClosedError):
                op(h)
                pytest.fail(f"{name} took handle {h} after close_reset")
    pump = Pump(loop)
    pump.until(lambda: all(h in pump.closed for h in handles), what="every closed event")
    pump.step(0)  # the poll after the one that delivered "closed" frees the handles
    for h in handles:
        for name, op in ops.items():
            with pytest.raises(netcore.BadHandleError):
                op(h)
                pytest.fail(f"{name} took handle {h} after its closed event")
    assert loop.handle_count() == 0
