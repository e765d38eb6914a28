"""netcore.aio's asyncio shapes: the Transport contract item by item, the
Server, and asyncio's streams over them (real loopback sockets; peers are
plain asyncio or the socket module)."""

from __future__ import annotations

import asyncio
import contextvars
import errno
import socket
import struct
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

import netcore.aio
from conftest import WAIT, exception_contexts, free_port

T = TypeVar("T")


def run(
    main: Callable[[], Coroutine[Any, Any, T]],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Runs ``main()`` in a fresh asyncio loop (asyncio's own, or one from
    ``loop_factory``), bounded by WAIT (a hang guard), and checks that
    netcore's hub let go of everything it opened."""
    import netcore._aio_net as net

    async def bounded() -> T:
        result = await asyncio.wait_for(main(), WAIT)
        # The hub closes itself once its last handle's "closed" came.
        for _ in range(1000):
            if asyncio.get_running_loop() not in net._hubs:
                break
            await asyncio.sleep(0.01)
        assert asyncio.get_running_loop() not in net._hubs, "netcore handles left open"
        return result

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(bounded())


def kernel_buffers() -> int:
    """The most a loopback connection's kernel buffers can hold: the
    largest send buffer plus the largest receive buffer (tcp_wmem, tcp_rmem)."""
    total = 0
    for name in ("tcp_wmem", "tcp_rmem"):
        try:
            total += int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])
        except (OSError, ValueError, IndexError):
            total += 32 << 20
    return total


async def until(cond: Callable[[], bool], what: str) -> None:
    """Waits (bounded by WAIT, in loop turns) for ``cond()``."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class Recorder(asyncio.Protocol):
    """Records every callback in order; ``lost`` completes on
    connection_lost."""

    def __init__(self, eof_result: bool | None = None) -> None:
        self.calls: list[str] = []
        self.data = bytearray()
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self.eof_result = eof_result
        self.reading_paused = False
        self.in_write = False
        self.pause_in_write: list[bool] = []

    @property
    def tr(self) -> asyncio.Transport:
        """The transport (once connection_made ran)."""
        assert self.transport is not None
        return self.transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.calls.append("made")

    def data_received(self, data: bytes) -> None:
        assert not self.reading_paused, "data_received while reading is paused"
        assert "eof" not in self.calls, "data after eof"
        if not self.calls or self.calls[-1] != "data":
            self.calls.append("data")
        self.data += data

    def eof_received(self) -> bool | None:
        self.calls.append("eof")
        return self.eof_result

    def pause_writing(self) -> None:
        self.calls.append("pause")
        self.pause_in_write.append(self.in_write)

    def resume_writing(self) -> None:
        self.calls.append("resume")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.calls.append("lost")
        assert not self.lost.done(), "connection_lost twice"
        self.lost.set_result(exc)


async def serve(factory: Callable[[], asyncio.BaseProtocol], **kwds: Any) -> tuple[netcore.aio.Server, int]:
    server = await netcore.aio.create_server(factory, "127.0.0.1", 0, **kwds)
    port = server.sockets[0].getsockname()[1]
    return server, port


async def one_connection(
    make: Callable[[], Recorder] = Recorder,
) -> tuple[netcore.aio.Server, Recorder, asyncio.StreamReader, asyncio.StreamWriter]:
    """A netcore server with one connection from a plain asyncio client:
    (server, the server side's Recorder, client reader, client writer)."""
    protocols: list[Recorder] = []

    def factory() -> Recorder:
        protocols.append(make())
        return protocols[-1]

    server, port = await serve(factory)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await until(lambda: bool(protocols) and protocols[0].transport is not None, "connection_made")
    return server, protocols[0], reader, writer


async def shut(server: asyncio.AbstractServer) -> None:
    server.close()
    await server.wait_closed()


async def read_end(reader: asyncio.StreamReader) -> None:
    """Reads the end of a connection the other side closed or reset."""
    try:
        assert await reader.read() == b""
    except ConnectionResetError:
        pass


async def close_all(server: netcore.aio.Server, writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    await shut(server)


# ---- the protocol's callbacks ------------------------------------------------


def test_callbacks_come_in_asyncio_order_and_eof_closes_by_default() -> None:
    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        writer.write(b"hello")
        writer.write_eof()
        assert await proto.lost is None
        assert proto.calls == ["made", "data", "eof", "lost"]
        assert bytes(proto.data) == b"hello"
        # eof_received returned None: the transport closed itself.
        assert await reader.read() == b""
        await close_all(server, writer)

    run(main)


def test_eof_received_true_keeps_the_transport_open_for_writing() -> None:
    async def main() -> None:
        server, proto, reader, writer = await one_connection(lambda: Recorder(eof_result=True))
        writer.write_eof()
        await until(lambda: "eof" in proto.calls, "eof_received")
        assert proto.transport is not None and not proto.transport.is_closing()
        proto.transport.write(b"after eof")
        proto.transport.close()
        assert await reader.read() == b"after eof"
        assert await proto.lost is None
        await close_all(server, writer)

    run(main)


def test_eof_comes_after_the_tasks_data_received_started() -> None:
    """Request and FIN in one batch: a task started by data_received still
    answers before eof_received closes the transport (asyncio sees EOF on a
    later turn)."""

    class Answerer(Recorder):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            asyncio.get_running_loop().create_task(self.answer())

        async def answer(self) -> None:
            assert self.transport is not None
            self.transport.write(b"answer")

    async def main() -> None:
        server, port = await serve(Answerer)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"question")
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
            got = b""
            while True:
                chunk = await asyncio.get_running_loop().sock_recv(sock, 1024)
                if not chunk:
                    break
                got += chunk
        assert got == b"answer"
        await shut(server)

    run(main)


def test_no_data_received_while_reading_is_paused() -> None:
    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        transport = proto.tr
        transport.pause_reading()
        transport.pause_reading()  # idempotent
        proto.reading_paused = True
        assert not transport.is_reading()
        writer.write(b"x" * 100_000)
        writer.write_eof()
        await writer.drain()
        # Give netcore every chance to deliver (the assertion is in
        # data_received): the client's bytes are sent by now.
        for _ in range(20):
            await asyncio.sleep(0)
        assert proto.calls == ["made"]
        proto.reading_paused = False
        transport.resume_reading()
        assert await proto.lost is None
        assert bytes(proto.data) == b"x" * 100_000
        assert proto.calls == ["made", "data", "eof", "lost"]
        await close_all(server, writer)

    run(main)


def test_an_exception_in_data_received_is_reported_and_closes() -> None:
    class Failing(Recorder):
        def data_received(self, data: bytes) -> None:
            raise ValueError("boom")

    async def main() -> None:
        contexts = exception_contexts()
        server, proto, reader, writer = await one_connection(Failing)
        writer.write(b"hi")
        exc = await proto.lost
        assert isinstance(exc, ValueError)
        assert len(contexts) == 1 and contexts[0]["exception"] is exc
        assert "data_received" in contexts[0]["message"]
        # The transport was reset: the client sees the end.
        await read_end(reader)
        await close_all(server, writer)

    run(main)


def test_an_exception_in_connection_made_is_reported_and_reading_starts() -> None:
    """As asyncio (connection_made and the start of reading are callbacks
    in a row): the exception goes to the loop's handler and the protocol
    still gets the data."""

    class Failing(Recorder):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            raise ValueError("boom")

    async def main() -> None:
        contexts = exception_contexts()
        server, proto, reader, writer = await one_connection(Failing)
        writer.write(b"hi")
        await until(lambda: bytes(proto.data) == b"hi", "data_received")
        assert len(contexts) == 1 and isinstance(contexts[0]["exception"], ValueError)
        assert proto.calls == ["made", "data"]
        await close_all(server, writer)
        assert await proto.lost is None

    run(main)


def test_set_protocol_in_data_received_sends_the_next_data_to_the_new_protocol() -> None:
    """The transport reads into the protocol it has now, as asyncio's
    (netcore's native read path follows set_protocol at once)."""

    class Handing(Recorder):
        successor: Recorder | None = None

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            assert self.successor is not None
            self.tr.set_protocol(self.successor)

    async def main() -> None:
        successor = Recorder()

        def make() -> Recorder:
            first = Handing()
            first.successor = successor
            return first

        server, proto, reader, writer = await one_connection(make)
        writer.write(b"first")
        await until(lambda: bytes(proto.data) == b"first", "the first data")
        for part in (b"second", b"third"):
            writer.write(part)
            await writer.drain()
        await until(lambda: bytes(successor.data) == b"secondthird", "the rest, on the new protocol")
        assert bytes(proto.data) == b"first"
        writer.write_eof()
        assert await successor.lost is None
        assert successor.calls == ["data", "eof", "lost"] and proto.calls == ["made", "data"]
        await close_all(server, writer)

    run(main)


def test_pause_reading_in_data_received_holds_the_rest_until_resumed() -> None:
    """Paused from data_received, a protocol gets nothing more (the Recorder
    asserts it) until resume_reading; every byte comes, in order."""

    class Pausing(Recorder):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.tr.pause_reading()
            self.reading_paused = True

    async def main() -> None:
        server, proto, reader, writer = await one_connection(Pausing)
        sent = b"".join(bytes([i]) * 1000 for i in range(200))
        for i in range(0, len(sent), 5000):
            writer.write(sent[i : i + 5000])
        await writer.drain()
        resumes = 0
        while len(proto.data) < len(sent):
            await until(lambda: proto.reading_paused, "data_received (which pauses)")
            for _ in range(3):
                await asyncio.sleep(0)
            assert proto.reading_paused and not proto.tr.is_reading()
            proto.reading_paused = False
            proto.tr.resume_reading()
            resumes += 1
            assert resumes <= len(sent)
        assert bytes(proto.data) == sent
        await close_all(server, writer)
        assert await proto.lost is None

    run(main)


def test_no_data_received_after_close_while_writes_are_buffered() -> None:
    """close() stops reading at once, as asyncio's (which removes its
    reader), also while the buffered writes keep the connection open."""

    class Closing(Recorder):
        def data_received(self, data: bytes) -> None:
            assert not self.tr.is_closing(), "data_received after close()"
            super().data_received(data)

    async def main() -> None:
        server, proto, reader, writer = await one_connection(Closing)
        transport = proto.tr
        sent = bytearray()
        chunk = bytes(range(256)) * 200
        # The client does not read yet: the writes end up buffered.
        while "pause" not in proto.calls:
            transport.write(chunk)
            sent += chunk
            assert len(sent) < 1 << 30
        transport.close()
        writer.write(b"too late")
        await writer.drain()
        for _ in range(20):
            await asyncio.sleep(0)
        assert await reader.readexactly(len(sent)) == bytes(sent)
        assert await reader.read() == b""
        writer.close()
        assert await proto.lost is None
        assert proto.data == b""
        await close_all(server, writer)

    run(main)


def test_callbacks_scheduled_by_data_received_run_before_its_next_data() -> None:
    """As in asyncio, a callback data_received schedules with call_soon
    runs before the next data_received of the connection: netcore.aio takes
    further batches in one loop turn only while the asyncio loop has nothing
    else to do."""

    class Scheduling(Recorder):
        pending = False

        def data_received(self, data: bytes) -> None:
            assert not self.pending, "data_received before the callback it scheduled"
            super().data_received(data)
            self.pending = True
            asyncio.get_running_loop().call_soon(self.ran)

        def ran(self) -> None:
            self.pending = False

    async def main() -> None:
        server, proto, reader, writer = await one_connection(Scheduling)
        sent = b"".join(b"%05d" % i for i in range(2000))
        for i in range(0, len(sent), 5):
            writer.write(sent[i : i + 5])
            if i % 500 == 0:
                await writer.drain()
        await writer.drain()
        await until(lambda: len(proto.data) == len(sent), "every byte")
        assert bytes(proto.data) == sent
        await close_all(server, writer)
        assert await proto.lost is None

    run(main)


def test_a_protocol_factory_that_raises_leaks_nothing() -> None:
    def factory() -> asyncio.Protocol:
        raise RuntimeError("no protocol")

    async def main() -> None:
        contexts = exception_contexts()
        server, port = await serve(factory)
        # The connection is reset: the client sees it while connecting or
        # while reading.
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await reader.read() == b""
            writer.close()
        except ConnectionResetError:
            pass
        await until(lambda: bool(contexts), "the report")
        assert [type(c["exception"]) for c in contexts] == [RuntimeError]
        await shut(server)

        # The client side: the connection is closed, the error propagates.
        server, port = await serve(Recorder)
        with pytest.raises(RuntimeError, match="no protocol"):
            await netcore.aio.create_connection(factory, "127.0.0.1", port)
        await shut(server)

    run(main)


def test_a_buffered_protocol_reads_into_its_own_buffer() -> None:
    class Buffered(asyncio.BufferedProtocol):
        """Reads into a 7-byte buffer; echoes what it got at EOF."""

        def __init__(self) -> None:
            self.buffer = bytearray(7)
            self.got = bytearray()
            self.transport: asyncio.Transport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def get_buffer(self, sizehint: int) -> bytearray:
            assert sizehint > 0
            return self.buffer

        def buffer_updated(self, nbytes: int) -> None:
            self.got += self.buffer[:nbytes]

        def eof_received(self) -> None:
            assert self.transport is not None
            self.transport.write(self.got)

    async def main() -> None:
        server, port = await serve(Buffered)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = bytes(range(256)) * 400
        writer.write(sent)
        writer.write_eof()
        assert await reader.read() == sent
        await close_all(server, writer)

    run(main)


# ---- writing ---------------------------------------------------------------


def test_write_buffers_pauses_inside_write_and_never_loses_bytes() -> None:
    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        transport = proto.tr
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        sent = bytearray()
        chunk = bytes(range(256)) * 255  # below the high mark with its prefix
        # The client does not read yet: the kernel's buffers, then netcore's
        # queue fill, then write() buffers and pauses the protocol.
        for i in range(4096):
            piece = bytes([i % 251]) + chunk
            proto.in_write = True
            transport.write(piece)
            proto.in_write = False
            sent += piece
            if "pause" in proto.calls:
                break
        assert proto.calls[-1] == "pause" and proto.pause_in_write == [True]
        assert transport.get_write_buffer_size() > 0
        # write() keeps taking bytes while paused.
        for _ in range(3):
            transport.write(chunk)
            sent += chunk
        transport.close()
        got = await reader.readexactly(len(sent))
        assert got == bytes(sent)
        assert await reader.read() == b""
        # (netcore ends its close when the peer's FIN comes.)
        writer.close()
        assert await proto.lost is None
        assert proto.calls == ["made", "pause", "resume", "lost"]
        assert transport.get_write_buffer_size() == 0
        await close_all(server, writer)

    run(main)


def test_a_write_larger_than_the_high_mark_pauses_until_the_kernel_has_it() -> None:
    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        transport = proto.tr
        big = bytes(range(256)) * ((kernel_buffers() + (1 << 20)) // 256)  # more than the kernel takes at once
        proto.in_write = True
        transport.write(big)
        proto.in_write = False
        assert proto.calls == ["made", "pause"] and proto.pause_in_write == [True]
        # As asyncio's: what the kernel did not take yet is counted.
        assert 0 < transport.get_write_buffer_size() <= len(big)
        assert await reader.readexactly(len(big)) == big
        await until(lambda: "resume" in proto.calls, "resume_writing")
        assert transport.get_write_buffer_size() == 0
        transport.write(b"small")  # below the mark: no pause
        assert await reader.readexactly(5) == b"small"
        assert proto.calls == ["made", "pause", "resume"]
        await close_all(server, writer)
        assert await proto.lost is None

    run(main)


def test_write_after_write_eof_raises_and_after_close_is_dropped() -> None:
    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        transport = proto.tr
        assert transport.can_write_eof()
        transport.write(b"")  # nothing to send: no error (the native write's short cut)
        transport.writelines([b"one ", bytearray(b"two "), memoryview(b"three")])
        transport.write_eof()
        with pytest.raises(RuntimeError):
            transport.write(b"x")
        with pytest.raises(RuntimeError):
            transport.write(b"")  # empty too, as asyncio's
        assert await reader.read() == b"one two three"
        transport.close()
        transport.close()  # idempotent
        assert transport.is_closing()
        writer.close()
        assert await proto.lost is None
        await close_all(server, writer)

    run(main)


def test_close_with_bytes_queued_calls_connection_lost_once_the_kernel_has_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """As asyncio's transport: connection_lost comes once what was written
    is flushed, not when netcore's graceful close ends: that lingers for
    the peer's FIN, which this peer sends only after connection_lost."""
    import netcore._aio_net as net

    handled = net.Transport._event

    def noting_closed(transport: Any, ev: Any) -> None:
        # Noted while the protocol has not had its connection_lost.
        if ev.kind == "closed" and transport._protocol is not None:
            transport._protocol.calls.append("netcore closed")
        handled(transport, ev)

    monkeypatch.setattr(net.Transport, "_event", noting_closed)
    # More than both ends' kernel buffers can hold while the peer reads nothing.
    big = bytes(range(256)) * ((kernel_buffers() + (1 << 20)) // 256)
    received = bytearray()
    reading, lost_seen = threading.Event(), threading.Event()

    def peer(sock: socket.socket) -> None:
        with sock:
            reading.wait(WAIT)
            while chunk := sock.recv(1 << 20):
                received.extend(chunk)
            lost_seen.wait(WAIT)

    async def main() -> None:
        protocols: list[Recorder] = []
        server, port = await serve(lambda: protocols.append(Recorder()) or protocols[-1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        reader = threading.Thread(target=peer, args=(sock,), daemon=True)  # a failed assertion leaves it waiting
        reader.start()
        await until(lambda: bool(protocols) and protocols[0].transport is not None, "connection_made")
        proto = protocols[0]
        proto.tr.write(big)
        assert proto.tr.get_write_buffer_size() > 0
        reading.set()
        proto.tr.close()
        assert await proto.lost is None
        lost_seen.set()
        await asyncio.to_thread(reader.join, WAIT)
        assert received == big
        assert "lost" in proto.calls and "netcore closed" not in proto.calls, "connection_lost waited for netcore's close"
        await shut(server)

    run(main)


def test_close_with_nothing_to_send_calls_connection_lost_on_the_next_turn() -> None:
    """As asyncio's transport: nothing buffered, connection_lost comes one
    turn after close(), so a StreamWriter's drain() after close() raises
    (it yields once for the loss), as CPython's test_streams checks; with
    bytes still queued it waits for them (see the test above)."""

    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        transport = proto.tr
        transport.close()
        assert proto.calls == ["made"]
        await asyncio.sleep(0)
        assert proto.calls == ["made", "lost"] and await proto.lost is None
        assert await reader.read() == b"", "the FIN went out"

        client_reader, client_writer = await netcore.aio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        client_writer.close()
        with pytest.raises(ConnectionResetError):
            client_writer.write(b"data")
            await client_writer.drain()
        await client_writer.wait_closed()
        await close_all(server, writer)

    run(main)


@pytest.mark.parametrize("on_netcore_loop", [True, False])
def test_small_writes_of_one_turn_leave_together_at_its_end_on_netcore_aio_loop(on_netcore_loop: bool) -> None:
    """On netcore.aio's own loop, a transport's small writes of one turn
    wait in netcore's queue until the turn's callbacks are done, then
    leave in one system call (uvicorn writes an answer's head and body
    apart); on another loop they go at once. Either way the peer gets them
    in order, and a close() sends them first."""

    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        transport = proto.tr
        transport.write(b"head ")
        transport.write(b"body")
        assert transport.get_write_buffer_size() == (9 if on_netcore_loop else 0)
        assert await reader.readexactly(9) == b"head body"
        assert transport.get_write_buffer_size() == 0
        transport.write(b"last")
        transport.close()
        assert await reader.read() == b"last"
        await proto.lost
        await close_all(server, writer)

    run(main, netcore.aio.new_event_loop if on_netcore_loop else None)


def test_a_write_in_the_turn_that_stops_netcore_aio_loop_still_leaves() -> None:
    """The turn's end sends what it deferred even when the loop stops
    after it (run_until_complete returns) and never runs again."""
    loop = netcore.aio.new_event_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        transport, _ = loop.run_until_complete(
            loop.create_connection(asyncio.Protocol, *listener.getsockname()))
        peer, _ = listener.accept()

        async def write() -> None:
            transport.write(b"in the last turn")

        loop.run_until_complete(write())
        peer.settimeout(WAIT)
        assert peer.recv(64) == b"in the last turn"
        peer.close()
    finally:
        loop.close()
        listener.close()


def test_abort_drops_the_buffer_and_calls_connection_lost_once() -> None:
    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        transport = proto.tr
        transport.abort()
        transport.abort()
        transport.close()
        assert transport.is_closing()
        assert await proto.lost is None
        assert proto.calls == ["made", "lost"]
        transport.write(b"dropped")  # after the loss: dropped, no error
        with pytest.raises(TypeError):
            transport.write("text")  # type: ignore[arg-type]
        await read_end(reader)
        await close_all(server, writer)

    run(main)


def test_peers_that_reset_mid_stream_lose_their_connections_with_the_resets_error_not_closed_error() -> None:
    """netcore closes a connection on its own once it reads a reset, while
    the data it read before is still being delivered: an echo's write then
    meets a closing handle. connection_lost still gets the reset's error
    (ConnectionResetError, or BrokenPipeError for a send after it), as
    asyncio's transports give it, not netcore's ClosedError. When that
    happens is timing: 400 connections, in rounds of 10 that write without
    reading, then reset."""
    losses: list[BaseException | None] = []

    class Echo(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data)  # type: ignore[attr-defined]

        def connection_lost(self, exc: BaseException | None) -> None:
            losses.append(exc)

    def resetting_clients(port: int) -> None:
        for round_ in range(40):
            socks = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(10)]
            for s in socks:
                s.setblocking(False)
            for _ in range(1 + round_ % 8):  # fill both ends' buffers a while
                for s in socks:
                    try:
                        s.send(b"x" * 65536)
                    except BlockingIOError:
                        pass
            for s in socks:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()

    async def main() -> None:
        server, port = await serve(Echo)
        await asyncio.get_running_loop().run_in_executor(None, resetting_clients, port)
        await until(lambda: len(losses) == 400, "every connection_lost")
        assert all(isinstance(exc, (ConnectionResetError, BrokenPipeError)) for exc in losses), {type(exc) for exc in losses}
        await shut(server)

    run(main)


def test_write_buffer_limits_and_protocol() -> None:
    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        transport = proto.tr
        assert isinstance(transport, netcore.aio.Transport)
        transport.set_write_buffer_limits(high=1000)
        assert transport.get_write_buffer_limits() == (250, 1000)
        transport.set_write_buffer_limits(low=100)
        assert transport.get_write_buffer_limits() == (100, 400)
        transport.set_write_buffer_limits()
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=10, low=20)
        other = Recorder()
        transport.set_protocol(other)
        assert transport.get_protocol() is other
        transport.set_protocol(proto)
        await close_all(server, writer)
        assert await proto.lost is None

    run(main)


def test_extra_info_names_both_ends() -> None:
    async def main() -> None:
        server, proto, reader, writer = await one_connection()
        transport = proto.tr
        client_name = writer.get_extra_info("sockname")
        assert transport.get_extra_info("peername") == client_name
        assert transport.get_extra_info("sockname") == writer.get_extra_info("peername")
        sock = transport.get_extra_info("socket")
        assert sock.getpeername() == client_name
        assert sock.family == socket.AF_INET
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert transport.get_extra_info("sslcontext") is None
        assert transport.get_extra_info("nothing", 42) == 42
        await close_all(server, writer)
        assert await proto.lost is None

    run(main)


# ---- connecting ------------------------------------------------------------


def test_create_connection_talks_to_an_asyncio_server() -> None:
    async def main() -> None:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.read())
            writer.close()

        plain = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = plain.sockets[0].getsockname()[1]
        transport, proto = await netcore.aio.create_connection(Recorder, "127.0.0.1", port)
        assert isinstance(proto, Recorder) and proto.calls == ["made"]
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        transport.write(b"ping")
        transport.write_eof()
        assert await proto.lost is None
        assert bytes(proto.data) == b"ping"
        assert proto.calls == ["made", "data", "eof", "lost"]
        await shut(plain)

    run(main)


def test_bind_failures_name_the_address_as_asyncio_does() -> None:
    """create_server, create_connection's local_addr and create_unix_server
    word a failed bind as asyncio does: the class and errno stay, the
    message names the address."""

    async def main() -> None:
        taken = await netcore.aio.create_server(Recorder, "127.0.0.1", 0)
        port = taken.sockets[0].getsockname()[1]
        with pytest.raises(OSError) as bound:
            await netcore.aio.create_server(Recorder, "127.0.0.1", port, reuse_port=False)
        assert isinstance(bound.value, netcore.AddressInUseError) and bound.value.errno == errno.EADDRINUSE
        assert f"error while attempting to bind on address ('127.0.0.1', {port}): address already in use" in str(
            bound.value
        )
        with pytest.raises(OSError) as local:
            await netcore.aio.create_connection(Recorder, "127.0.0.1", port, local_addr=("127.0.0.1", port))
        assert local.value.errno == errno.EADDRINUSE and f"('127.0.0.1', {port})" in str(local.value.strerror)
        await shut(taken)

    run(main)


def test_create_unix_server_on_a_file_names_the_path(tmp_path: Path) -> None:
    not_a_socket = tmp_path / "file"
    not_a_socket.write_bytes(b"")

    async def main() -> None:
        with pytest.raises(OSError, match=r"Address .*file' is already in use") as in_use:
            await netcore.aio.create_unix_server(Recorder, str(not_a_socket))
        assert in_use.value.errno == errno.EADDRINUSE

    run(main)
    assert not_a_socket.read_bytes() == b"", "the file is left as it was"


def test_a_port_may_be_a_string_of_digits_as_asyncio_takes_it() -> None:
    """asyncio resolves (host, port) with getaddrinfo, which takes "8080" as
    well as 8080 (socket.getnameinfo gives ports as strings)."""

    async def main() -> None:
        server = await netcore.aio.create_server(Recorder, "127.0.0.1", "0")
        port = server.sockets[0].getsockname()[1]
        transport, proto = await netcore.aio.create_connection(Recorder, "127.0.0.1", str(port))
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        transport.close()
        udp, _ = await netcore.aio.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", "0"), remote_addr=("127.0.0.1", str(port))
        )
        assert udp.get_extra_info("peername") == ("127.0.0.1", port)
        udp.close()
        await shut(server)

    run(main)


def test_create_connection_refused() -> None:
    async def main() -> None:
        with pytest.raises(ConnectionRefusedError):
            await netcore.aio.create_connection(Recorder, "127.0.0.1", free_port())

    run(main)


def test_tls_arguments_without_ssl_are_asyncio_s_errors() -> None:
    async def main() -> None:
        aloop = asyncio.get_running_loop()
        calls: list[tuple[str, dict[str, Any]]] = [
            ("create_connection", {"server_hostname": "example"}),
            ("create_connection", {"ssl_handshake_timeout": 1.0}),
            ("create_connection", {"ssl_shutdown_timeout": 1.0}),
            ("create_server", {"ssl_handshake_timeout": 1.0}),
            ("create_server", {"ssl_shutdown_timeout": 1.0}),
            ("create_server", {"ssl": True}),
        ]
        for name, kwargs in calls:
            errors = []
            for create in (getattr(aloop, name), getattr(netcore.aio, name)):
                with pytest.raises((ValueError, TypeError)) as info:
                    await create(asyncio.Protocol, "127.0.0.1", free_port(), **kwargs)
                errors.append((type(info.value), str(info.value)))
            assert errors[1] == errors[0], (name, kwargs)

    run(main)


def test_a_name_that_does_not_resolve_raises_socket_gaierror_as_asyncio() -> None:
    async def main() -> None:
        # A reserved name (RFC 6761): netcore refuses it without asking a resolver.
        with pytest.raises(socket.gaierror):
            await netcore.aio.open_connection("no-such-host.invalid", 80)

    run(main)


def test_cancelled_create_connection_closes_the_connection() -> None:
    async def main() -> None:
        server_side: list[Recorder] = []

        def factory() -> Recorder:
            server_side.append(Recorder())
            return server_side[-1]

        server, port = await serve(factory)
        for _ in range(3):
            task = asyncio.ensure_future(netcore.aio.create_connection(Recorder, "127.0.0.1", port))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        # Whatever the server accepted ends.
        for proto in server_side:
            await proto.lost
        await shut(server)

    run(main)


# ---- the server ----------------------------------------------------------------


def test_server_lifecycle() -> None:
    async def main() -> None:
        server, port = await serve(Recorder, start_serving=False)
        assert not server.is_serving()
        assert server.get_loop() is asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with server:
            await server.start_serving()
            assert server.is_serving()
            writer.write(b"x")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        assert not server.is_serving() and server.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)

        server, port = await serve(Recorder)
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await server.serve_forever()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()

    run(main)


def test_server_close_clients_and_abort_clients() -> None:
    async def main() -> None:
        protocols: list[Recorder] = []

        def factory() -> Recorder:
            protocols.append(Recorder())
            return protocols[-1]

        server, port = await serve(factory)
        clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        await until(lambda: len(protocols) == 4 and all(p.transport for p in protocols), "4 connections")
        waiter = asyncio.ensure_future(server.wait_closed())
        server.close()
        server.close_clients()
        for reader, writer in clients[:2]:
            assert await reader.read() == b""
            writer.close()
        server.abort_clients()
        for reader, writer in clients[2:]:
            await read_end(reader)
            writer.close()
        for proto in protocols:
            assert await proto.lost is None
        await waiter

    run(main)


def test_server_on_every_interface_and_ipv6() -> None:
    async def main() -> None:
        server = await netcore.aio.create_server(Recorder, None, 0, family=socket.AF_INET)
        assert server.sockets[0].getsockname()[0] == "0.0.0.0"
        server.close()
        try:
            server6 = await netcore.aio.create_server(Recorder, "::1", 0)
        except OSError:
            pytest.skip("no IPv6 loopback")
        name = server6.sockets[0].getsockname()
        assert server6.sockets[0].family == socket.AF_INET6 and name[0] == "::1" and len(name) == 4
        transport, proto = await netcore.aio.create_connection(Recorder, "::1", name[1])
        assert len(transport.get_extra_info("peername")) == 4
        transport.close()
        assert await proto.lost is None  # type: ignore[attr-defined]
        await shut(server6)

    run(main)


def test_unsupported_arguments_are_refused() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="netcore.TLSContext"):
            await netcore.aio.create_server(Recorder, "127.0.0.1", 0, ssl=object())
        with pytest.raises(ValueError):
            await netcore.aio.create_connection(Recorder, "127.0.0.1", 1, sock=socket.socket())
        with socket.socket() as unconnected, pytest.raises(netcore.Error, match="fd"):
            await netcore.aio.create_connection(Recorder, sock=unconnected)
        with pytest.raises(ValueError):
            await netcore.aio.create_connection(Recorder)

    run(main)


# ---- streams -------------------------------------------------------------------


def test_streams_readline_readexactly_drain_wait_closed() -> None:
    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            line = await reader.readline()
            size = int(await reader.readexactly(8))
            writer.write(line.upper())
            for _ in range(size // 65536):
                writer.write(b"z" * 65536)
                await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await netcore.aio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netcore.aio.open_connection("127.0.0.1", port)
        assert isinstance(writer.transport, netcore.aio.Transport)
        size = 16 * 1024 * 1024
        writer.write(b"hello\n%08d" % size)
        await writer.drain()
        assert await reader.readline() == b"HELLO\n"
        # Read slowly at first: the server's drain() has to wait.
        await asyncio.sleep(0)
        body = await reader.read()
        assert len(body) == size and body == b"z" * size
        writer.close()
        await writer.wait_closed()
        async with server:
            pass

    run(main)


def test_a_cancelled_stream_reader_closes_cleanly() -> None:
    async def main() -> None:
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            writer.close()
            await writer.wait_closed()
            closed.set_result(None)

        server = await netcore.aio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netcore.aio.open_connection("127.0.0.1", port)
        task = asyncio.ensure_future(reader.read(10))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        writer.close()
        await writer.wait_closed()
        await closed
        await shut(server)
        with pytest.raises(ConnectionRefusedError):
            await netcore.aio.open_connection("127.0.0.1", port)

    run(main)


@pytest.mark.parametrize("aio", [netcore.aio, asyncio], ids=["netcore", "asyncio"])
def test_abort_after_a_write_the_peer_reads_it_then_eof_as_with_asyncio(aio: Any) -> None:
    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(2)
            writer.write(b"partial answer")
            writer.transport.abort()

        server = await aio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await aio.open_connection("127.0.0.1", port)
        writer.write(b"hi")
        assert await reader.read() == b"partial answer", "every byte, then EOF (not a reset)"
        writer.close()
        await shut(server)

    run(main)


def test_abort_with_bytes_still_buffered_resets_the_peer_which_cannot_take_the_loss_for_an_end() -> None:
    async def main() -> None:
        aborted = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # More than the kernel can hold for a peer that reads nothing: netcore and the transport keep the rest.
            writer.write(b"q" * (kernel_buffers() + (4 << 20)))
            assert writer.transport.get_write_buffer_size() > 0
            writer.transport.abort()
            aborted.set()

        server = await netcore.aio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netcore.aio.open_connection("127.0.0.1", port, limit=1024)
        await aborted.wait()
        with pytest.raises(ConnectionResetError):
            while await reader.read(1 << 20):
                pass
        writer.close()
        await shut(server)

    run(main)


def test_drain_raises_after_the_connection_is_lost() -> None:
    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # A reset, as an asyncio program makes one: abort() alone ends with a FIN.
            sock = writer.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

        server = await netcore.aio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await netcore.aio.open_connection("127.0.0.1", port)
        with pytest.raises(ConnectionResetError):
            await reader.read()
        await until(lambda: writer.transport.is_closing(), "the loss")
        with pytest.raises(ConnectionResetError):
            writer.write(b"x")
            await writer.drain()
        await shut(server)

    run(main)



REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_ID", default="none")


def test_callbacks_run_in_their_creators_context() -> None:
    """As asyncio: a server's connections see the context create_server was
    called in, a client's callbacks that of its create_connection caller
    (not that of whoever used netcore first)."""

    class Seer(Recorder):
        """Records the context variable in data_received; a server-side
        Seer answers with it."""

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self.calls.append(REQUEST_ID.get())
            if data == b"who?":
                self.tr.write(REQUEST_ID.get().encode())
                self.tr.close()

    async def start() -> tuple[netcore.aio.Server, int]:
        REQUEST_ID.set("server")
        return await serve(Seer)

    async def ask(name: str, port: int) -> Seer:
        REQUEST_ID.set(name)
        transport, proto = await netcore.aio.create_connection(Seer, "127.0.0.1", port)
        assert isinstance(proto, Seer)
        transport.write(b"who?")
        assert await proto.lost is None
        return proto

    async def main() -> None:
        server, port = await asyncio.ensure_future(start())
        a, b = await asyncio.gather(ask("a", port), ask("b", port))
        assert a.calls == ["made", "data", "a", "eof", "lost"] and bytes(a.data) == b"server"
        assert b.calls == ["made", "data", "b", "eof", "lost"] and bytes(b.data) == b"server"
        assert REQUEST_ID.get() == "none"
        await shut(server)

    run(main)


def test_loop_sendfile_writes_the_file_with_flow_control(tmp_path: Path) -> None:
    """loop.sendfile on a netcore transport (asyncio's fallback: netcore has
    no sendfile(2) path): every byte of the range arrives, the write pauses
    stay with sendfile (a slow reader makes them), the file's position is
    after the last byte sent, and reading resumes after."""
    content = bytes(range(256)) * (8 << 10)  # 2 MiB
    path = tmp_path / "content"
    path.write_bytes(content)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server, proto, reader, writer = await one_connection()
        await shut(server)
        transport = proto.tr
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 << 10)
        with open(path, "rb") as file:
            sending = asyncio.ensure_future(loop.sendfile(transport, file, 1000, len(content) - 2000))
            # Nothing is read yet: the buffer fills and sendfile waits.
            await until(lambda: transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1], "a pause")
            assert not sending.done()
            got = await reader.readexactly(len(content) - 2000)
            assert await sending == len(content) - 2000
            assert file.tell() == len(content) - 1000
        assert got == content[1000:-1000]
        assert "pause" not in proto.calls and "resume" not in proto.calls
        assert transport.is_reading()
        writer.write(b"after")
        await until(lambda: bytes(proto.data) == b"after", "data after sendfile")
        with open(path, "rb") as file:
            with pytest.raises(RuntimeError, match="fallback is disabled"):
                await loop.sendfile(transport, file, fallback=False)
            transport.close()
            with pytest.raises(RuntimeError, match="closing"):
                await loop.sendfile(transport, file)
        await read_end(reader)
        writer.close()

    run(main, netcore.aio.new_event_loop)
