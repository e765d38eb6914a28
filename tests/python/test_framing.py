"""Every framing mode, with frames split across reads and many frames per read."""

from __future__ import annotations

import errno
import fcntl
import socket
import struct
import termios
import time
from typing import Callable

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


def test_parameters_left_out_take_the_core_defaults(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server, client = connected_pair(loop, pump)
    assert netcore.DEFAULT_DELIMITER == b"\n" and netcore.DEFAULT_LENGTH_HEADER == 4
    loop.set_framing(server, "delimited")
    loop.send(client, b"one\ntwo\n")
    pump.until(lambda: len(frames(pump, server)) == 2)
    loop.set_framing(server, "length_prefixed")
    loop.send(client, struct.pack(">I", 3) + b"abc")
    pump.until(lambda: len(frames(pump, server)) == 3)
    assert frames(pump, server) == [b"one", b"two", b"abc"]


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
    with pytest.raises(netcore.InvalidArgumentError, match="size: expected not given"):
        loop.set_framing(server, "stream", size=3)
    with pytest.raises(netcore.InvalidArgumentError, match="delimiter: expected not given"):
        loop.set_framing(server, "fixed", size=3, delimiter=b"x")
    with pytest.raises(netcore.InvalidArgumentError, match="size: expected the frame size"):
        loop.set_framing(server, "fixed")
    with pytest.raises(netcore.InvalidArgumentError, match="mode: expected one of: stream delimited"):
        loop.set_framing(server, "lines")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loop.frame_delimited(server, "\n", 10)  # type: ignore[arg-type]


# Frames larger than a poll's arena (4 MiB) --------------------------------

MIB = 1 << 20


def raw_client(loop: netcore.Loop, pump: Pump) -> tuple[int, socket.socket]:
    """(accepted handle, non-blocking plain socket connected to it)."""
    _, port = listen_local(loop)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    pump.until(lambda: len(pump.of_kind("accepted")) == 1)
    return pump.of_kind("accepted")[0].handle, sock


def send_pumping(pump: Pump, sock: socket.socket, data: bytes) -> None:
    """Sends all of `data`, polling the loop whenever the kernel is full."""
    view = memoryview(data)
    sent = 0
    stalled_since = time.monotonic()
    while sent < len(view):
        try:
            sent += sock.send(view[sent:])
            stalled_since = time.monotonic()
        except BlockingIOError:
            assert time.monotonic() - stalled_since < 60, "the loop stopped reading"
            pump.step(0.005)


def big_payload(size: int, seed: int) -> bytes:
    """Pattern bytes without the b"\n" delimiter."""
    period = bytes((i * 31 + 7 + seed * 131) % 251 for i in range(251)).replace(b"\n", b".")
    return (period * (size // len(period) + 1))[:size]


# mode -> (set the framing for a frame of `size`, the frame's wire form)
BIG_MODES: dict[str, tuple[Callable[[netcore.Loop, int, int], None], Callable[[bytes], bytes]]] = {
    "length_prefixed": (
        lambda lp, h, size: lp.frame_length_prefixed(h, 4, 24 * MIB),
        lambda p: struct.pack(">I", len(p)) + p,
    ),
    "delimited": (lambda lp, h, size: lp.frame_delimited(h, b"\n", 24 * MIB), lambda p: p + b"\n"),
    "fixed": (lambda lp, h, size: lp.frame_fixed(h, size), lambda p: p),
}


@pytest.mark.parametrize("size", [6 * MIB, 20 * MIB], ids=["6MiB", "20MiB"])
@pytest.mark.parametrize("mode", list(BIG_MODES))
def test_frames_of_6_and_20_mib_arrive_whole(loop: netcore.Loop, mode: str, size: int) -> None:
    pump = Pump(loop)
    server, sock = raw_client(loop, pump)
    setup, wire = BIG_MODES[mode]
    setup(loop, server, size)
    sent = big_payload(size, 1)
    with sock:
        send_pumping(pump, sock, wire(sent))
        pump.until(lambda: len(frames(pump, server)) >= 1)
        pump.settle(0.05)
    got = frames(pump, server)
    assert len(got) == 1, f"{len(got)} frames"
    assert got[0] == sent
    assert "error" not in pump.kinds(server)


def queued_bytes(fd: int, request: int) -> int:
    """Bytes in a socket's receive (FIONREAD) or send (TIOCOUTQ) queue."""
    count: int = struct.unpack("i", fcntl.ioctl(fd, request, b"\0" * 4))[0]
    return count


def test_loop_is_idle_while_a_large_frame_waits_for_its_rest(loop: netcore.Loop) -> None:
    """5 MiB of an 8 MiB frame (more than a poll's arena), then a pause: once
    the loop has read it all it has nothing to do (no spinning) until the
    rest arrives and completes the frame."""
    pump = Pump(loop)
    server, sock = raw_client(loop, pump)
    loop.frame_length_prefixed(server, 4, 16 * MIB)
    sent = big_payload(8 * MIB, 2)
    wire = struct.pack(">I", len(sent)) + sent
    first = 4 + 5 * MIB
    with sock:
        send_pumping(pump, sock, wire[:first])
        polls = 0
        while (
            queued_bytes(sock.fileno(), termios.TIOCOUTQ)
            or queued_bytes(loop.raw_fd(server), termios.FIONREAD)
            or loop.next_timeout() is not None
        ):
            polls += 1
            assert polls < 2000, f"still busy after {polls} polls (next timeout {loop.next_timeout()})"
            pump.step(0.02)
        for _ in range(50):
            assert pump.step(0) == []
            assert loop.next_timeout() is None
        assert frames(pump, server) == []
        send_pumping(pump, sock, wire[first:])
        pump.until(lambda: len(frames(pump, server)) >= 1)
    assert frames(pump, server) == [sent]


@pytest.mark.parametrize(
    "setup, wire",
    [
        (lambda lp, h: lp.frame_length_prefixed(h, 4, 6 * MIB), struct.pack(">I", 6 * MIB + 1) + b"z" * 64),
        (lambda lp, h: lp.frame_delimited(h, b"\n", 6 * MIB), big_payload(6 * MIB + 1, 3) + b"\n"),
    ],
    ids=["length_prefixed", "delimited"],
)
def test_a_large_frame_one_byte_over_the_limit_is_emsgsize_then_closed(loop: netcore.Loop, setup, wire: bytes) -> None:  # type: ignore[no-untyped-def]
    pump = Pump(loop)
    server, sock = raw_client(loop, pump)
    setup(loop, server)
    with sock:
        send_pumping(pump, sock, wire)
        pump.until(lambda: "error" in pump.kinds(server))
    pump.until(lambda: server in pump.closed)
    err = pump.first(server, "error").error
    assert err is not None and err.errno == errno.EMSGSIZE
    closed_err = pump.closed[server].error
    assert closed_err is not None and closed_err.errno == errno.EMSGSIZE
    assert frames(pump, server) == []
