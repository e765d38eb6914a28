"""Every framing mode, with frames split across reads and many frames per read."""

from __future__ import annotations

import errno
import struct

import pytest

import netcore
from conftest import Pump, listen_local


def connected_pair(loop: netcore.Loop, pump: Pump) -> tuple[int, int]:
    """(server side, client side) of one connection on `loop`."""
    listener, port = listen_local(loop)
    client = loop.connect("127.0.0.1", port)
    pump.until(lambda: len(pump.of_kind("accepted")) == 1 and "connected" in pump.kinds(client))
    server = pump.of_kind("accepted")[0].handle
    return server, client


def frames(pump: Pump, handle: int) -> list[bytes]:
    return [e.data for e in pump.by_handle[handle] if e.kind == "data" and e.data is not None]


def send_in_pieces(loop: netcore.Loop, pump: Pump, handle: int, data: bytes, piece: int) -> None:
    """Sends `data` a few bytes at a time, letting the loop run between pieces
    so the receiver sees frames split across reads."""
    for i in range(0, len(data), piece):
        loop.send(handle, data[i : i + piece])
        pump.step(0.005)


def test_delimited_split_and_batched(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.frame_delimited(server, b"\r\n", 64)
    send_in_pieces(loop, pump, client, b"hello\r\nwor", 3)
    send_in_pieces(loop, pump, client, b"ld\r\n\r\n", 1)
    loop.send(client, b"a\r\nb\r\nc\r\n")  # many frames in one read
    pump.until(lambda: len(frames(pump, server)) >= 6)
    assert frames(pump, server) == [b"hello", b"world", b"", b"a", b"b", b"c"]


def test_delimited_tail_at_eof(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.set_framing(server, "delimited", delimiter=b"\n", max_frame=100)
    loop.send(client, b"one\ntwo")
    loop.shutdown(client)
    pump.until(lambda: "eof" in pump.kinds(server))
    assert frames(pump, server) == [b"one", b"two"]


def test_fixed(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.set_framing(server, "fixed", size=4)
    send_in_pieces(loop, pump, client, b"abcdefgh", 3)
    loop.send(client, b"ijklmnopqr")  # two frames and a partial one
    pump.until(lambda: len(frames(pump, server)) >= 4)
    pump.settle(0.1)
    assert frames(pump, server) == [b"abcd", b"efgh", b"ijkl", b"mnop"]


@pytest.mark.parametrize("header", [1, 2, 4])
def test_length_prefixed(loop: netcore.Loop, header: int) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.frame_length_prefixed(server, header, 1000)
    fmt = {1: ">B", 2: ">H", 4: ">I"}[header]
    payloads = [b"x", b"", b"hello world", bytes(range(200))]
    wire = b"".join(struct.pack(fmt, len(p)) + p for p in payloads)
    send_in_pieces(loop, pump, client, wire[:20], 2)
    loop.send(client, wire[20:])
    pump.until(lambda: len(frames(pump, server)) >= len(payloads))
    assert frames(pump, server) == payloads


@pytest.mark.parametrize(
    "setup, wire",
    [
        (lambda lp, h: lp.frame_delimited(h, b"\n", 8), b"123456789\n"),
        (lambda lp, h: lp.frame_length_prefixed(h, 2, 100), struct.pack(">H", 101) + b"z" * 101),
    ],
    ids=["delimited", "length_prefixed"],
)
def test_oversized_frame_is_emsgsize_then_closed(loop: netcore.Loop, setup, wire: bytes) -> None:  # type: ignore[no-untyped-def]
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    setup(loop, server)
    loop.send(client, b"ok\n" if wire.endswith(b"\n") else struct.pack(">H", 2) + b"ok")
    loop.send(client, wire)
    pump.until(lambda: server in pump.closed)
    kinds = pump.kinds(server)
    assert kinds.index("error") < kinds.index("closed")
    err = pump.first(server, "error").error
    assert isinstance(err, netcore.MessageTooLongError)
    assert isinstance(err, netcore.Error) and isinstance(err, OSError)
    assert err.errno == errno.EMSGSIZE and err.name == "EMSGSIZE"
    assert frames(pump, server) == [b"ok"]
    closed_err = pump.closed[server].error
    assert closed_err is not None and closed_err.errno == errno.EMSGSIZE
    # the peer sees the connection end
    pump.until(lambda: client in pump.closed or "eof" in pump.kinds(client))


def test_back_to_stream(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    loop.frame_fixed(server, 2)
    loop.send(client, b"abcd")
    pump.until(lambda: len(frames(pump, server)) == 2)
    loop.set_framing(server, "stream")
    loop.send(client, b"xyz")
    pump.until(lambda: b"".join(frames(pump, server)) == b"abcdxyz")


def test_bad_framing_arguments(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, _ = connected_pair(loop, pump)
    with pytest.raises(ValueError):
        loop.frame_delimited(server, b"", 10)
    with pytest.raises(ValueError):
        loop.frame_delimited(server, b"123456789", 10)
    with pytest.raises(ValueError):
        loop.frame_delimited(server, b"\n", 0)
    with pytest.raises(ValueError):
        loop.frame_fixed(server, 0)
    with pytest.raises(ValueError):
        loop.frame_fixed(server, netcore.MAX_FRAME_LIMIT + 1)
    with pytest.raises(ValueError):
        loop.frame_length_prefixed(server, 3, 10)
    with pytest.raises(ValueError):
        loop.set_framing(server, "lines")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loop.set_framing(server, "delimited")
    with pytest.raises(TypeError):
        loop.set_framing(server, "stream", size=3)
    with pytest.raises(TypeError):
        loop.frame_delimited(server, "\n", 10)  # type: ignore[arg-type]
