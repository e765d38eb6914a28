"""Unix domain sockets and adopted descriptors through the raw Loop: stream
listen/connect on a path and in the abstract namespace, datagrams with
sender paths, peer credentials, and adopting socket.socket objects and
descriptor numbers (a wrong kind refused, the socket left as it was)."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from pathlib import Path

import pytest

import netcore
import netcore.aio
from conftest import Pump


def test_unix_stream_echo_credentials_and_the_file(loop: netcore.Loop, tmp_path: Path) -> None:
    pump = Pump(loop)
    path = str(tmp_path / "s.sock")
    listener = loop.listen_unix(path)
    assert os.path.exists(path) and loop.local_path(listener) == path
    client = loop.connect_unix(path)
    pump.until(lambda: bool(pump.of_kind("accepted")) and "connected" in pump.kinds(client), what="connection")
    server = pump.of_kind("accepted")[0].handle
    assert pump.of_kind("accepted")[0].addr is None
    loop.send(client, b"hello unix")
    pump.until(lambda: bytes(pump.received[server]) == b"hello unix", what="data")
    assert loop.peer_credentials(server) == (os.getpid(), os.getuid(), os.getgid())
    assert loop.peer_path(client) == path
    loop.close(listener)
    pump.until(lambda: listener in pump.closed, what="listener closed")
    assert not os.path.exists(path), "the listener removed the file it created"


def test_unix_errors(loop: netcore.Loop, tmp_path: Path) -> None:
    with pytest.raises(netcore.Error) as info:
        loop.listen_unix("/tmp/" + "x" * netcore.MAX_UNIX_PATH)
    assert "path" in str(info.value)
    with pytest.raises(OSError) as missing:
        loop.connect_unix(str(tmp_path / "missing.sock"))
    assert missing.value.errno == errno.ENOENT
    lp_tcp = loop.listen("127.0.0.1", 0)
    with pytest.raises(netcore.Error):
        loop.peer_credentials(lp_tcp)


def test_unix_datagrams_carry_and_answer_the_senders_path(loop: netcore.Loop, tmp_path: Path) -> None:
    pump = Pump(loop)
    a_path, b_path = str(tmp_path / "a"), f"@netcore-py-{os.getpid()}"
    a, b = loop.udp_bind_unix(a_path), loop.udp_bind_unix(b_path)
    loop.send_to_unix(a, b"ping", b_path)
    pump.until(lambda: any(e.handle == b for e in pump.of_kind("datagram")), what="ping")
    ping = next(e for e in pump.of_kind("datagram") if e.handle == b)
    assert (ping.data, ping.path, ping.addr) == (b"ping", a_path, None)
    assert ping.path is not None
    loop.send_to_unix(b, b"pong", ping.path)
    pump.until(lambda: any(e.handle == a for e in pump.of_kind("datagram")), what="pong")
    assert next(e for e in pump.of_kind("datagram") if e.handle == a).path == b_path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unnamed:
        unnamed.sendto(b"anon", a_path)
    pump.until(lambda: len([e for e in pump.of_kind("datagram") if e.handle == a]) == 2, what="anon")
    assert [e for e in pump.of_kind("datagram") if e.handle == a][1].path is None


def test_adopt_a_listener_socket_a_connection_fd_and_a_udp_socket(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    std = socket.create_server(("127.0.0.1", 0))
    port = std.getsockname()[1]
    listener = loop.adopt_listener(std)
    assert std.fileno() == -1, "detached: the loop owns it"
    assert loop.local_address(listener) == ("127.0.0.1", port)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(b"via adopted listener")
        pump.until(lambda: bool(pump.of_kind("accepted")), what="accepted")
        server = pump.of_kind("accepted")[0].handle
        pump.until(lambda: bytes(pump.received[server]) == b"via adopted listener", what="data")

    ours, theirs = socket.socketpair()
    with ours:
        conn = loop.adopt_connection(theirs.detach())  # a plain descriptor number
        loop.send(conn, b"from the loop")
        ours.settimeout(30)
        assert ours.recv(100) == b"from the loop"
        ours.sendall(b"to the loop")
        pump.until(lambda: bytes(pump.received[conn]) == b"to the loop", what="data")

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    with pytest.raises(netcore.Error) as info:
        loop.adopt_listener(udp)
    assert "fd" in str(info.value)
    assert udp.fileno() >= 0 and udp.getblocking(), "a refused socket is left as it was"
    handle = loop.adopt_udp(udp)
    assert loop.kind(handle) == "udp"


def test_aio_unix_streams_echo_and_the_file_goes_with_the_server(tmp_path: Path) -> None:
    path = str(tmp_path / "aio.sock")

    async def main() -> bytes:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await netcore.aio.start_unix_server(echo, path)
        async with server:
            assert os.path.exists(path)
            reader, writer = await netcore.aio.open_unix_connection(path)
            writer.write(b"over unix\n")
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
        await server.wait_closed()
        return line

    assert asyncio.run(main()) == b"over unix\n"
    assert not os.path.exists(path)


class Upper(asyncio.Protocol):
    """Answers each chunk in upper case."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())


class Collect(asyncio.Protocol):
    """Collects what arrives until `want` bytes did."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.got = bytearray()
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.got += data
        if len(self.got) >= self.want and not self.done.done():
            self.done.set_result(bytes(self.got))


def test_aio_protocols_over_unix_and_over_adopted_sockets() -> None:
    name = f"@netcore-aio-{os.getpid()}"

    async def main() -> list[bytes]:
        results = []
        server = await netcore.aio.create_unix_server(Upper, name)
        transport, proto = await netcore.aio.create_unix_connection(lambda: Collect(5), name)
        transport.write(b"hello")
        results.append(await asyncio.wait_for(proto.done, 30))
        transport.close()
        server.close()

        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        adopted = await netcore.aio.create_server(Upper, sock=listener)
        assert listener.fileno() != -1, "a listener stays usable (netcore listens on a duplicate)"
        client = socket.create_connection(("127.0.0.1", port))
        transport, proto = await netcore.aio.create_connection(lambda: Collect(7), sock=client)
        assert client.fileno() != -1, "usable, as asyncio's"
        transport.write(b"adopted")
        results.append(await asyncio.wait_for(proto.done, 30))
        transport.close()
        adopted.close()
        await adopted.wait_closed()
        assert listener.fileno() == -1, "and closes with the server"
        return results

    assert asyncio.run(main()) == [b"HELLO", b"ADOPTED"]
