"""netcore.aio.EventLoop's Unix stream sockets and ``sock=`` as asyncio's
loop methods take them: unmodified asyncio code (asyncio.start_unix_server,
asyncio.open_unix_connection, loop.create_server(sock=...)...), the
addresses get_extra_info gives compared with what plain asyncio gives, and
what asyncio refuses refused alike. Real sockets only: Unix paths in a
temporary directory, abstract names unique per test, loopback for IP."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import stat
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

import netcore.aio
from conftest import WAIT
from test_aio_transport import run
from test_aio_udp import Datagrams
from test_unix import Collect, Upper


def abstract_name(test: str) -> str:
    """A name in Linux's abstract namespace, spelled as asyncio takes it (a
    leading NUL), that no other test or run uses."""
    return f"\0netcore-{test}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


async def unix_echo_session(path: str) -> dict[str, Any]:
    """asyncio code as anyone writes it: a Unix stream echo server and one
    client. Returns what it saw: the echo and what each side's transport
    says of its addresses."""
    seen: dict[str, Any] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["server peername"] = writer.get_extra_info("peername")
        seen["server sockname"] = writer.get_extra_info("sockname")
        seen["server socket"] = writer.get_extra_info("socket").family
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_unix_server(handle, path)
    async with server:
        seen["listening on"] = server.sockets[0].getsockname()
        reader, writer = await asyncio.open_unix_connection(path)
        seen["client peername"] = writer.get_extra_info("peername")
        seen["client sockname"] = writer.get_extra_info("sockname")
        seen["client socket"] = writer.get_extra_info("socket").family
        writer.write(b"over unix\n")
        seen["echo"] = await reader.readline()
        seen["then"] = await reader.read()
        seen["on netcore"] = isinstance(server, netcore.aio.Server) and isinstance(
            writer.transport, netcore.aio.Transport
        )
        writer.close()
        await writer.wait_closed()
    return seen


@pytest.mark.parametrize("where", ["path", "abstract"])
def test_unmodified_unix_stream_code_sees_what_asyncio_shows(tmp_path: Path, where: str) -> None:
    def address(run: str) -> str:
        if where == "path":
            return str(tmp_path / f"{run}.sock")
        return abstract_name(f"session-{run}")

    def as_given(name: str) -> str | bytes:
        """How the socket module gives an address back: an abstract name as bytes."""
        return name.encode() if name.startswith("\0") else name

    plain_path, path = address("asyncio"), address("netcore")
    plain = run(lambda: unix_echo_session(plain_path), asyncio.new_event_loop)
    ours = run(lambda: unix_echo_session(path), netcore.aio.new_event_loop)
    assert plain["on netcore"] is False and ours["on netcore"] is True
    assert ours["echo"] == b"over unix\n" and ours["then"] == b""
    # Each run has its own address; everything else is as asyncio has it.
    named = ("listening on", "server sockname", "client peername")
    assert [plain[key] for key in named] == [as_given(plain_path)] * 3
    assert [ours[key] for key in named] == [as_given(path)] * 3
    assert {k: v for k, v in ours.items() if k not in named} == {
        **{k: v for k, v in plain.items() if k not in named},
        "on netcore": True,
    }
    assert (ours["server peername"], ours["client sockname"], ours["client socket"]) == ("", "", socket.AF_UNIX)
    if where == "path":
        assert not os.path.exists(path), "the server removed the file it created"


def test_netcore_at_names_are_the_abstract_namespace_asyncio_reaches() -> None:
    name = abstract_name("at")

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        server = await netcore.aio.create_unix_server(Upper, "@" + name[1:])
        assert server.sockets[0].getsockname() == name.encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as plain:
            plain.setblocking(False)
            await loop.sock_connect(plain, name)
            await loop.sock_sendall(plain, b"abstract")
            got = b""
            while len(got) < 8:
                chunk = await loop.sock_recv(plain, 8)
                assert chunk, "closed early"
                got += chunk
        server.close()
        await server.wait_closed()
        return got

    assert run(main, netcore.aio.new_event_loop) == b"ABSTRACT"


def test_a_stale_socket_file_is_replaced_as_asyncio_does(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
        gone.bind(str(path))  # closed without removing its file
    assert path.exists()

    async def main() -> bytes:
        server = await asyncio.start_unix_server(lambda r, w: w.close(), path)  # a PathLike, as asyncio takes
        assert isinstance(server, netcore.aio.Server)
        reader, writer = await asyncio.open_unix_connection(path)
        got = await reader.read()
        writer.close()
        server.close()
        await server.wait_closed()
        return got

    assert run(main, netcore.aio.new_event_loop) == b""
    assert not path.exists()


def test_cleanup_socket_as_python_3_13_has_it(tmp_path: Path) -> None:
    kept, replaced = tmp_path / "kept.sock", tmp_path / "replaced.sock"

    async def serve_and_close(path: Path, **kwds: Any) -> bytes:
        server = await netcore.aio.create_unix_server(Upper, str(path), **kwds)
        transport, proto = await asyncio.get_running_loop().create_unix_connection(lambda: Collect(4), str(path))
        assert isinstance(transport, netcore.aio.Transport) and isinstance(proto, Collect)
        return await exchange(transport, proto, b"kept", server)

    assert run(lambda: serve_and_close(kept, cleanup_socket=False), netcore.aio.new_event_loop) == b"KEPT"
    assert stat.S_ISSOCK(kept.stat().st_mode), "cleanup_socket=False: the file stays"
    assert run(lambda: serve_and_close(kept), netcore.aio.new_event_loop) == b"KEPT"
    assert not kept.exists(), "the stale file was replaced, and the new one removed on close"

    async def adopt_and_close(**kwds: Any) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(kept))
        server = await netcore.aio.create_unix_server(Upper, sock=listener, **kwds)
        server.close()
        await server.wait_closed()

    run(lambda: adopt_and_close(cleanup_socket=False), netcore.aio.new_event_loop)
    assert stat.S_ISSOCK(kept.stat().st_mode), "an adopted socket's file stays with cleanup_socket=False"
    kept.unlink()
    run(adopt_and_close, netcore.aio.new_event_loop)
    assert not kept.exists(), "and is removed by default"

    async def replace_the_file_then_close(adopted: bool) -> None:
        if adopted:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(replaced))
            server = await netcore.aio.create_unix_server(Upper, sock=listener)
        else:
            server = await netcore.aio.create_unix_server(Upper, str(replaced))
        # Another socket's file takes the path (bound first, so it cannot
        # reuse the inode of the server's file).
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
            other.bind(str(tmp_path / "other.sock"))
            os.replace(tmp_path / "other.sock", replaced)
        server.close()
        await server.wait_closed()

    for adopted in (False, True):
        run(lambda: replace_the_file_then_close(adopted), netcore.aio.new_event_loop)
        assert stat.S_ISSOCK(replaced.stat().st_mode), f"adopted={adopted}: a file no longer the server's stays"
        replaced.unlink()


async def exchange(transport: asyncio.Transport, proto: Collect, data: bytes, server: asyncio.AbstractServer) -> bytes:
    """Writes ``data`` and waits for the answer; then closes the
    connection and the server."""
    transport.write(data)
    got = await proto.done
    transport.close()
    server.close()
    await server.wait_closed()
    return got


def test_sock_for_create_server_and_create_connection() -> None:
    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))  # bound only: create_server listens, as asyncio does
        port = listener.getsockname()[1]
        server = await loop.create_server(Upper, sock=listener)
        assert isinstance(server, netcore.aio.Server)
        # As asyncio's: the object stays usable, and server.sockets shows it.
        assert server.sockets[0].fileno() == listener.fileno() >= 0
        assert server.sockets[0].getsockname() == listener.getsockname() == ("127.0.0.1", port)

        client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        client_name = client.getsockname()
        transport, proto = await loop.create_connection(lambda: Collect(7), sock=client)
        assert isinstance(transport, netcore.aio.Transport) and isinstance(proto, Collect)
        assert transport.get_extra_info("socket").fileno() == client.fileno() >= 0
        with pytest.raises(RuntimeError, match="is used by transport"):
            loop.add_reader(client, lambda: None)  # as asyncio refuses a transport's descriptor
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        assert transport.get_extra_info("sockname") == client_name
        sock = transport.get_extra_info("socket")
        assert (sock.family, sock.getpeername()) == (socket.AF_INET, ("127.0.0.1", port))
        clients.append(client)
        got = await exchange(transport, proto, b"adopted", server)
        assert listener.fileno() == -1, "closed with the server"
        return got

    clients: list[socket.socket] = []
    assert run(main, netcore.aio.new_event_loop) == b"ADOPTED"
    assert clients[0].fileno() == -1, "closed with the connection"


def test_an_adopted_connection_ends_when_its_transport_does() -> None:
    """The object netcore adopted a duplicate of closes with the transport,
    so the peer sees the end whoever ends first: our close (netcore sends the
    FIN), the peer's EOF (the FIN goes when the last descriptor closes) and
    an abort (the reset, likewise)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with socket.create_server(("127.0.0.1", 0)) as listener:
            for ending in ("close", "peer's eof", "abort"):
                client = socket.create_connection(listener.getsockname(), timeout=WAIT)
                peer, _ = listener.accept()
                peer.settimeout(WAIT)
                with peer:
                    transport, _ = await loop.create_connection(asyncio.Protocol, sock=client)
                    if ending == "peer's eof":
                        peer.shutdown(socket.SHUT_WR)  # eof_received returns None: the transport closes
                    elif ending == "close":
                        transport.close()
                    else:
                        transport.abort()
                    try:
                        assert await asyncio.to_thread(peer.recv, 10) == b"", ending
                    except ConnectionResetError:
                        assert ending == "abort"
                for _ in range(1000):
                    if client.fileno() == -1:
                        break
                    await asyncio.sleep(0.005)
                assert client.fileno() == -1, ending

    run(main, netcore.aio.new_event_loop)


def test_one_listening_socket_serves_two_servers() -> None:
    """Each sock= server listens on its own duplicate: the object stays the
    caller's until a server closes it, and the other server (or loop, or
    process) keeps accepting from the same socket."""

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        first = await loop.create_server(Upper, sock=listener)
        second = await loop.create_server(Upper, sock=listener)
        assert first.sockets[0].fileno() == second.sockets[0].fileno() == listener.fileno()
        first.close()
        await first.wait_closed()
        assert listener.fileno() == -1 and first.sockets == ()
        assert second.sockets[0].getsockname() == ("127.0.0.1", port), "netcore's duplicate, still listening"
        transport, proto = await loop.create_connection(lambda: Collect(5), "127.0.0.1", port)
        assert isinstance(proto, Collect)
        return await exchange(transport, proto, b"still", second)

    assert run(main, netcore.aio.new_event_loop) == b"STILL"


def test_sock_for_the_unix_server_and_connection(tmp_path: Path) -> None:
    path = str(tmp_path / "adopted.sock")

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        server = await loop.create_unix_server(Upper, sock=listener)
        assert isinstance(server, netcore.aio.Server) and server.sockets[0].fileno() == listener.fileno() >= 0
        assert (server.sockets[0].family, server.sockets[0].getsockname()) == (socket.AF_UNIX, path)

        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(path)
        transport, proto = await loop.create_unix_connection(lambda: Collect(4), sock=client)
        assert isinstance(transport, netcore.aio.Transport) and isinstance(proto, Collect)
        assert (transport.get_extra_info("peername"), transport.get_extra_info("sockname")) == (path, "")
        assert transport.get_extra_info("socket").family == socket.AF_UNIX
        got = await exchange(transport, proto, b"unix", server)
        assert listener.fileno() == -1, "closed with the server"
        return got

    assert run(main, netcore.aio.new_event_loop) == b"UNIX"
    assert not os.path.exists(path), "removed on close, as Python 3.13's cleanup_socket does"


def test_sock_for_create_datagram_endpoint() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind(("127.0.0.1", 0))
            peer.settimeout(WAIT)
            peer_addr = peer.getsockname()

            bound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            bound.bind(("127.0.0.1", 0))
            addr = bound.getsockname()
            transport, proto = await loop.create_datagram_endpoint(Datagrams, sock=bound)
            assert isinstance(transport, netcore.aio.DatagramTransport) and isinstance(proto, Datagrams)
            assert transport.get_extra_info("socket").fileno() == bound.fileno() >= 0
            assert isinstance(transport, asyncio.Transport), "as asyncio's datagram transport is"
            assert (transport.get_extra_info("sockname"), transport.get_extra_info("peername")) == (addr, None)
            peer.sendto(b"ping", addr)
            assert await proto.received.get() == (b"ping", peer_addr)
            transport.sendto(b"pong", peer_addr)
            assert await asyncio.to_thread(peer.recvfrom, 100) == (b"pong", addr)
            transport.close()

            connected = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            connected.connect(peer_addr)
            addr = connected.getsockname()
            transport, proto = await loop.create_datagram_endpoint(Datagrams, sock=connected)
            assert isinstance(proto, Datagrams)
            assert transport.get_extra_info("peername") == peer_addr
            transport.sendto(b"to the connected peer")
            assert await asyncio.to_thread(peer.recvfrom, 100) == (b"to the connected peer", addr)
            peer.sendto(b"back", addr)
            assert await proto.received.get() == (b"back", peer_addr)
            transport.close()
            await proto.lost

    run(main, netcore.aio.new_event_loop)


class AnyDatagrams(Datagrams):
    """Datagrams on any datagram transport: asyncio's own selector one is
    not an asyncio.DatagramTransport (only duck-typed as one)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.calls.append("made")


async def unix_datagram_session(server_addr: str, client_addr: str) -> dict[str, Any]:
    """asyncio datagram code as anyone writes it, over Unix datagram
    sockets: a server endpoint, a client connected to it from its own
    address, one with no address, and a plain socket with none. Returns what
    it saw, each of the two addresses replaced by its role (and its type:
    the socket module gives an abstract name as bytes)."""
    loop = asyncio.get_running_loop()
    unix = socket.AF_UNIX

    def role(addr: object) -> object:
        for name, given in (("server", server_addr), ("client", client_addr)):
            if addr in (given, given.encode()):
                return f"{name} {type(addr).__name__}"
        return addr

    seen: dict[str, Any] = {}
    server, at_server = await loop.create_datagram_endpoint(AnyDatagrams, local_addr=server_addr, family=unix)
    client, at_client = await loop.create_datagram_endpoint(
        AnyDatagrams, local_addr=client_addr, remote_addr=server_addr, family=unix
    )
    unbound, _ = await loop.create_datagram_endpoint(AnyDatagrams, remote_addr=server_addr, family=unix)
    assert isinstance(at_server, AnyDatagrams) and isinstance(at_client, AnyDatagrams)
    seen["made"] = [at_server.calls, at_client.calls]
    for name, transport in (("server", server), ("client", client), ("unbound", unbound)):
        seen[f"{name} addresses"] = [role(transport.get_extra_info(key)) for key in ("sockname", "peername")]
        sock = transport.get_extra_info("socket")
        seen[f"{name} socket"] = (sock.family, sock.type, role(sock.getsockname()))

    client.sendto(b"ping")
    client.sendto(b"")  # nothing is sent, as asyncio does
    client.sendto(b"ping to the remote named", server_addr)
    with pytest.raises(ValueError):
        client.sendto(b"elsewhere", client_addr)
    unbound.sendto(b"from nowhere")
    with socket.socket(unix, socket.SOCK_DGRAM) as plain:
        plain.sendto(b"plain", server_addr)
    received = [await at_server.received.get() for _ in range(4)]
    seen["server received"] = [(data, role(addr)) for data, addr in received]
    server.sendto(b"pong", received[0][1])
    seen["client received"] = [(data, role(addr)) for data, addr in [await at_client.received.get()]]
    server.sendto(b"to no one", server_addr + "-missing")
    seen["server errors"] = [exc.errno for exc in at_server.errors]
    seen["on netcore"] = isinstance(server, netcore.aio.DatagramTransport)
    for transport in (server, client, unbound):
        transport.close()
    seen["lost"] = [await at_server.lost, await at_client.lost]
    return seen


@pytest.mark.parametrize("where", ["path", "abstract"])
def test_unmodified_unix_datagram_code_sees_what_asyncio_shows(tmp_path: Path, where: str) -> None:
    def addresses(run: str) -> tuple[str, str]:
        if where == "path":
            server = tmp_path / f"{run}-server.sock"
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
                gone.bind(str(server))  # a stale file, removed before binding
            return str(server), str(tmp_path / f"{run}-client.sock")
        return abstract_name(f"dgram-server-{run}"), abstract_name(f"dgram-client-{run}")

    plain_addresses, addresses_ours = addresses("asyncio"), addresses("netcore")
    plain = run(lambda: unix_datagram_session(*plain_addresses), asyncio.new_event_loop)
    ours = run(lambda: unix_datagram_session(*addresses_ours), netcore.aio.new_event_loop)
    assert plain["on netcore"] is False and ours["on netcore"] is True
    assert {**ours, "on netcore": False} == plain
    # What the sessions saw, spelled out (the same under both loops).
    named = "str" if where == "path" else "bytes"
    assert ours["server addresses"] == [f"server {named}", None]
    assert ours["client addresses"] == [f"client {named}", f"server {named}"]
    assert ours["unbound addresses"] == ["", f"server {named}"]
    assert ours["server received"] == [
        (b"ping", f"client {named}"),
        (b"ping to the remote named", f"client {named}"),
        (b"from nowhere", None),
        (b"plain", None),
    ]
    assert ours["client received"] == [(b"pong", f"server {named}")]
    assert ours["server errors"] == [errno.ENOENT if where == "path" else errno.ECONNREFUSED]
    if where == "path":
        assert all(os.path.exists(path) for path in addresses_ours), "the files stay, as under asyncio"


def test_sock_for_a_unix_datagram_endpoint(tmp_path: Path) -> None:
    path, peer_path = str(tmp_path / "adopted.dgram"), str(tmp_path / "peer.dgram")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as peer:
            peer.bind(peer_path)
            peer.setblocking(False)
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            unix.bind(path)
            unix.connect(peer_path)
            transport, proto = await loop.create_datagram_endpoint(Datagrams, sock=unix)
            assert isinstance(transport, netcore.aio.DatagramTransport) and isinstance(proto, Datagrams)
            assert transport.get_extra_info("socket").fileno() == unix.fileno() >= 0, "the caller's object, usable"
            assert [transport.get_extra_info(key) for key in ("sockname", "peername")] == [path, peer_path]
            transport.sendto(b"to the connected peer")
            assert await asyncio.wait_for(loop.sock_recvfrom(peer, 100), WAIT) == (b"to the connected peer", path)
            peer.sendto(b"back", path)
            assert await proto.received.get() == (b"back", peer_path)
            transport.close()
            assert await proto.lost is None
            assert unix.fileno() == -1, "closed with the transport"

    run(main, netcore.aio.new_event_loop)
    assert os.path.exists(path), "a socket netcore did not bind keeps its file"


async def refusals(tmp_path: Path) -> list[type[BaseException] | None]:
    """Calls asyncio refuses, each made through the running loop's methods;
    returns what each raised (None: it was not refused)."""
    loop = asyncio.get_running_loop()
    made: list[socket.socket] = []

    def sock(family: int, type: int, listening: bool = False) -> socket.socket:
        s = socket.socket(family, type)
        made.append(s)
        if listening:
            s.bind(("127.0.0.1", 0))
            s.listen()
        return s

    tcp = (socket.AF_INET, socket.SOCK_STREAM)
    udp = (socket.AF_INET, socket.SOCK_DGRAM)
    unix = (socket.AF_UNIX, socket.SOCK_STREAM)
    path = str(tmp_path / "never.sock")
    calls: list[Callable[[], Coroutine[Any, Any, Any]]] = [
        lambda: loop.create_server(Upper, "127.0.0.1", 0, sock=sock(*tcp, listening=True)),
        lambda: loop.create_server(Upper, sock=sock(*udp)),
        lambda: loop.create_connection(Upper, "127.0.0.1", 9, sock=sock(*tcp)),
        lambda: loop.create_connection(Upper, sock=sock(*udp)),
        lambda: loop.create_unix_server(Upper),
        lambda: loop.create_unix_server(Upper, sock=sock(*tcp, listening=True)),
        lambda: loop.create_unix_server(Upper, path, sock=sock(*unix)),
        lambda: loop.create_unix_server(Upper, path, ssl_handshake_timeout=1.0),
        lambda: loop.create_unix_connection(Upper),
        lambda: loop.create_unix_connection(Upper, sock=sock(*tcp)),
        lambda: loop.create_unix_connection(Upper, path, sock=sock(*unix)),
        lambda: loop.create_unix_connection(Upper, path, server_hostname="localhost"),
        lambda: loop.create_datagram_endpoint(Upper, sock=sock(*tcp)),
        lambda: loop.create_datagram_endpoint(Upper, local_addr=("127.0.0.1", 0), sock=sock(*udp)),
        lambda: loop.create_datagram_endpoint(Upper, local_addr=path.encode(), family=socket.AF_UNIX),
        lambda: loop.create_datagram_endpoint(Upper, remote_addr=("127.0.0.1", 9), family=socket.AF_UNIX),
        lambda: loop.create_datagram_endpoint(Upper, remote_addr=path, family=socket.AF_UNIX),
        lambda: loop.create_datagram_endpoint(Upper, local_addr=path + "-dir/in", family=socket.AF_UNIX),
    ]
    raised: list[type[BaseException] | None] = []
    try:
        for call in calls:
            try:
                await call()
                raised.append(None)
            except Exception as exc:  # noqa: BLE001 - what is compared
                raised.append(type(exc))
    finally:
        for s in made:
            s.close()
    assert not os.path.exists(path)
    return raised


def test_what_asyncio_refuses_is_refused_alike(tmp_path: Path) -> None:
    plain = run(lambda: refusals(tmp_path), asyncio.new_event_loop)
    ours = run(lambda: refusals(tmp_path), netcore.aio.new_event_loop)
    assert None not in plain
    assert ours == plain


def test_the_netcore_functions_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(TypeError):
            await netcore.aio.create_unix_server(Upper, str(tmp_path / "a.sock"), ssl=True)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            tcp.listen()
            with pytest.raises(ValueError):
                await netcore.aio.create_unix_server(Upper, sock=tcp)
            assert tcp.fileno() >= 0, "a refused socket is left as it was"

    run(main, netcore.aio.new_event_loop)
    assert not (tmp_path / "a.sock").exists()
