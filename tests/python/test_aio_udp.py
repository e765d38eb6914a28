"""netcore.aio.create_datagram_endpoint: a DatagramTransport that behaves as
asyncio's (real loopback sockets; the peers are the socket module)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

import netcore
import netcore.aio
from conftest import WAIT, exception_contexts, has_ipv6
from test_aio_transport import run


class Datagrams(asyncio.DatagramProtocol):
    """Records datagrams and errors; ``lost`` completes on connection_lost."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.received: asyncio.Queue[tuple[bytes, tuple[object, ...]]] = asyncio.Queue()
        self.errors: list[Exception] = []
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.calls.append("made")

    def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
        assert "made" in self.calls and not self.lost.done()
        self.received.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append("lost")
        assert not self.lost.done(), "connection_lost twice"
        self.lost.set_result(exc)


@pytest.fixture
def peer() -> Iterator[socket.socket]:
    """A plain UDP socket on 127.0.0.1 (non-blocking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        yield sock


async def recv(sock: socket.socket) -> tuple[bytes, tuple[str, int]]:
    """The next datagram on a plain socket (bounded by WAIT)."""
    return await asyncio.wait_for(asyncio.get_running_loop().sock_recvfrom(sock, 65536), WAIT)


def test_connected_endpoint(peer: socket.socket) -> None:
    async def main() -> None:
        peer_addr = peer.getsockname()
        transport, proto = await netcore.aio.create_datagram_endpoint(Datagrams, remote_addr=peer_addr)
        assert isinstance(transport, netcore.aio.DatagramTransport) and isinstance(proto, Datagrams)
        assert proto.calls == ["made"]
        assert transport.get_extra_info("peername") == peer_addr
        local = transport.get_extra_info("sockname")
        assert transport.get_extra_info("socket").getsockname() == local
        transport.sendto(b"one")
        transport.sendto(bytearray(b"two"), peer_addr)
        assert await recv(peer) == (b"one", local)
        assert await recv(peer) == (b"two", local)
        with pytest.raises(ValueError):
            transport.sendto(b"x", ("127.0.0.1", 1))
        with pytest.raises(TypeError):
            transport.sendto("text")
        peer.sendto(b"back", local)
        assert await proto.received.get() == (b"back", peer_addr)
        transport.close()
        transport.close()
        assert transport.is_closing()
        assert await proto.lost is None
        transport.sendto(b"dropped")  # after close: dropped, no error
        assert proto.calls == ["made", "lost"]

    run(main)


def test_unconnected_endpoint_talks_to_anyone(peer: socket.socket) -> None:
    async def main() -> None:
        transport, proto = await netcore.aio.create_datagram_endpoint(Datagrams, local_addr=("127.0.0.1", 0))
        assert isinstance(proto, Datagrams)
        local = transport.get_extra_info("sockname")
        assert transport.get_extra_info("peername") is None
        for i in range(10):
            transport.sendto(b"%d" % i, peer.getsockname())
        for i in range(10):
            data, addr = await recv(peer)
            assert data == b"%d" % i and addr == local
            peer.sendto(data, addr)
        for i in range(10):
            assert await proto.received.get() == (b"%d" % i, peer.getsockname())
        transport.abort()
        assert await proto.lost is None

    run(main)


def test_an_exception_in_datagram_received_is_reported_and_reading_goes_on(peer: socket.socket) -> None:
    class Failing(Datagrams):
        def datagram_received(self, data: bytes, addr: tuple[object, ...]) -> None:
            super().datagram_received(data, addr)
            if data == b"boom":
                # netcore's own ClosedError must not be taken for the hub's
                # loop closing.
                raise netcore.ClosedError("boom")

    async def main() -> None:
        contexts = exception_contexts()
        transport, proto = await netcore.aio.create_datagram_endpoint(Failing, local_addr=("127.0.0.1", 0))
        assert isinstance(proto, Failing)
        local = transport.get_extra_info("sockname")
        peer.sendto(b"boom", local)
        assert (await proto.received.get())[0] == b"boom"
        peer.sendto(b"after", local)
        assert (await proto.received.get())[0] == b"after"
        assert [type(c["exception"]) for c in contexts] == [netcore.ClosedError]
        assert not transport.is_closing()
        transport.close()
        assert await proto.lost is None

    run(main)


def test_os_errors_go_to_error_received(peer: socket.socket) -> None:
    async def main() -> None:
        # Nothing listens there once the peer is closed: the kernel answers
        # the datagrams with ICMP port unreachable.
        gone = peer.getsockname()
        peer.close()
        transport, proto = await netcore.aio.create_datagram_endpoint(Datagrams, remote_addr=gone)
        assert isinstance(proto, Datagrams)
        for _ in range(int(WAIT / 0.01)):
            if proto.errors:
                break
            transport.sendto(b"anyone?")
            await asyncio.sleep(0.01)
        assert proto.errors and isinstance(proto.errors[0], ConnectionRefusedError)
        assert not transport.is_closing()
        transport.close()
        assert await proto.lost is None

    run(main)


def test_ipv6_and_refused_arguments() -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await netcore.aio.create_datagram_endpoint(Datagrams, reuse_address=True)
        with pytest.raises(ValueError):
            await netcore.aio.create_datagram_endpoint(Datagrams)
        if not has_ipv6():
            return
        server, sproto = await netcore.aio.create_datagram_endpoint(Datagrams, local_addr=("::1", 0))
        name = server.get_extra_info("sockname")
        assert len(name) == 4 and name[0] == "::1"
        client, cproto = await netcore.aio.create_datagram_endpoint(Datagrams, remote_addr=name[:2])
        client.sendto(b"six")
        assert isinstance(sproto, Datagrams)
        data, addr = await sproto.received.get()
        assert data == b"six" and addr == client.get_extra_info("sockname")
        client.close()
        server.close()
        await sproto.lost

    run(main)
