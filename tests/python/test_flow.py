"""Flow control and closing: EAGAIN + writable, graceful close of 32 MiB,
hard close (reset) and half close in both directions."""

from __future__ import annotations

import hashlib
import socket
import time

import pytest

import netcore
from conftest import Pump, listen_local
from test_framing import connected_pair


def test_backpressure_eagain_then_writable(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.set_option(server, netcore.HIGH_WATER, 256 * 1024)
    loop.set_option(server, "low_water", 64 * 1024)
    assert loop.get_option(server, netcore.HIGH_WATER) == 256 * 1024
    assert loop.get_option(server, netcore.LOW_WATER) == 64 * 1024
    loop.pause(client)  # the reader stops reading
    chunk = 64 * 1024
    sent = bytearray()
    counter = 0
    with pytest.raises(BlockingIOError) as info:
        while len(sent) < 512 * 1024 * 1024:
            piece = counter.to_bytes(8, "big") * (chunk // 8)
            loop.send(server, piece)
            sent += piece
            counter += 1
            pump.step(0)
    err = info.value
    assert isinstance(err, netcore.BlockingIOError) and isinstance(err, netcore.Error)
    assert err.name == "EAGAIN" and err.errno == 11
    assert "writable" not in pump.kinds(server)
    # refused: one more chunk would pass the mark, which the queue is within
    assert 256 * 1024 - chunk < loop.queued_bytes(server) <= 256 * 1024
    loop.resume(client)
    pump.until(lambda: "writable" in pump.kinds(server), what="writable")
    # after writable, sending works again; every byte arrives in order
    tail = b"the end"
    loop.send(server, tail)
    sent += tail
    pump.until(lambda: len(pump.received[client]) >= len(sent), timeout=60, what="all bytes")
    assert pump.received[client] == sent
    assert loop.queued_bytes(server) == 0


def test_graceful_close_delivers_32_mib(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    size = 32 * 1024 * 1024
    loop.set_option(server, netcore.HIGH_WATER, 64 * 1024 * 1024)
    block = hashlib.sha256(b"netcore").digest() * (1024 * 1024 // 32)
    for i in range(32):
        loop.send(server, bytes([i]) + block[1:])
    expected = b"".join(bytes([i]) + block[1:] for i in range(32))
    loop.close(server)  # right after queuing: everything must still arrive
    with pytest.raises(netcore.ClosedError):
        loop.send(server, b"late")
    pump.until(lambda: "eof" in pump.kinds(client), timeout=60, what="eof after 32 MiB")
    assert len(pump.received[client]) == size
    assert pump.received[client] == expected
    loop.close(client)
    pump.until(lambda: server in pump.closed and client in pump.closed)
    assert pump.closed[server].error is None


def test_hard_close_resets_peer(loop: netcore.Loop) -> None:
    listener, port = listen_local(loop)
    pump = Pump(loop)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as peer:
        pump.until(lambda: len(pump.of_kind("accepted")) == 1)
        conn = pump.of_kind("accepted")[0].handle
        loop.send(conn, b"x" * 1000)
        loop.close_reset(conn)
        with pytest.raises(netcore.ClosedError):
            loop.send(conn, b"until closed is delivered")
        pump.until(lambda: conn in pump.closed)
        pump.step(0)  # a handle is gone from the poll after the one that delivered "closed"
        with pytest.raises(netcore.BadHandleError):
            loop.send(conn, b"after")
        with pytest.raises(ConnectionResetError):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if not peer.recv(65536):
                    break
        assert time.monotonic() < deadline


def test_close_abort_ends_with_eof_after_what_the_kernel_took_or_resets_if_it_drops_bytes(loop: netcore.Loop) -> None:
    listener, port = listen_local(loop)
    pump = Pump(loop)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as peer:
        pump.until(lambda: len(pump.of_kind("accepted")) == 1)
        conn = pump.of_kind("accepted")[0].handle
        loop.send(conn, b"last words")
        loop.close_abort(conn)
        with pytest.raises(netcore.ClosedError):
            loop.close_abort(conn)
        assert any(e.kind == "closed" and e.handle == conn for e in loop.poll(0)), "closed at once"
        received = b""
        while chunk := peer.recv(65536):
            received += chunk
        assert received == b"last words", "every byte, then EOF (no reset)"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as peer:
        pump.until(lambda: len(pump.of_kind("accepted")) == 2)
        conn = pump.of_kind("accepted")[1].handle
        with pytest.raises(BlockingIOError):
            for _ in range(1024):
                loop.send(conn, b"q" * (1 << 20))  # the peer reads nothing: netcore queues, then refuses
        assert loop.queued_bytes(conn) > 0
        loop.close_abort(conn)
        pump.until(lambda: conn in pump.closed)
        with pytest.raises(ConnectionResetError):
            for _ in range(100_000):
                if not peer.recv(1 << 20):
                    break


def test_peer_reset_reported_in_closed(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.close_reset(client)
    pump.until(lambda: server in pump.closed, what="server side closed")
    err = pump.closed[server].error
    assert isinstance(err, ConnectionResetError)
    assert err.errno == 104 and err.name == "ECONNRESET"  # type: ignore[attr-defined]


def test_half_close_client_side(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.send(client, b"request")
    loop.shutdown(client)  # FIN after the request; we keep reading
    with pytest.raises(BrokenPipeError):
        loop.send(client, b"more")
    pump.until(lambda: "eof" in pump.kinds(server))
    assert pump.received[server] == b"request"
    loop.send(server, b"response")  # the server can still answer
    loop.close(server)
    pump.until(lambda: client in pump.closed and server in pump.closed)
    assert pump.received[client] == b"response"
    assert pump.kinds(client)[-2:] == ["eof", "closed"]


def test_half_close_server_side(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.send(server, b"banner")
    loop.shutdown(server)
    pump.until(lambda: "eof" in pump.kinds(client))
    assert pump.received[client] == b"banner"
    loop.send(client, b"still talking")
    pump.until(lambda: pump.received[server] == b"still talking")
    loop.close(client)
    pump.until(lambda: client in pump.closed and server in pump.closed)


def test_pause_still_notices_peer_close(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.pause(server)
    loop.close(client)
    pump.until(lambda: "eof" in pump.kinds(server), what="eof on the paused connection")
    assert "data" not in pump.kinds(server)
    assert server not in pump.closed, "eof, not a close: the application decides"
    loop.close(server)
    pump.until(lambda: client in pump.closed and server in pump.closed)
    assert pump.closed[server].error is None


def test_pause_from_a_callback_holds_the_rest_of_the_batch_until_resume(loop: netcore.Loop) -> None:
    """No "data" after pause() returns, even of the batch being handled; the
    rest comes after resume(), in order, as asyncio's pause_reading promises."""
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.frame_fixed(server, 1)
    loop.send(client, b"abcdef")
    guard = loop.timer(10.0)
    got = []

    def on_event(ev: netcore.Event) -> None:
        if ev.handle == server and ev.kind == "data":
            got.append(ev.data)
            loop.pause(server)
            loop.stop()
        elif ev.handle == guard:
            loop.stop()

    loop.run(on_event)
    loop.close(guard)
    assert got == [b"a"]
    for _ in range(5):
        assert not [ev for ev in loop.poll(0.02) if ev.handle == server and ev.kind == "data"], "paused"
    loop.resume(server)
    pump.until(lambda: pump.received[server] == b"bcdef", what="the rest after resume()")
