"""Code written for asyncio by others runs unchanged over netcore.aio: the
Python documentation's echo examples (Protocol, streams, UDP), uvicorn's h11
HTTP protocol serving an ASGI app, and websockets, each on
:class:`netcore.aio.EventLoop` (whose create_server, create_connection and
create_datagram_endpoint are netcore's)."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import netcore._aio_net
import netcore.aio
from conftest import WAIT, free_port
from unmodified import asyncio_docs, asyncio_docs_udp


@pytest.fixture
def netcore_policy() -> Iterator[None]:
    """asyncio.run uses netcore.aio.EventLoop while the test runs."""
    before = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(netcore.aio.EventLoopPolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(before)


async def serving(server_main: Callable[[], Coroutine[Any, Any, None]]) -> asyncio.Task[None]:
    """Starts ``server_main()`` and returns once netcore listens for it."""
    task = asyncio.ensure_future(server_main())
    aloop = asyncio.get_running_loop()
    for _ in range(1000):
        hub = netcore._aio_net._hubs.get(aloop)
        if task.done() or (hub is not None and hub.owners):
            break
        await asyncio.sleep(0.005)
    assert not task.done(), task
    return task


async def stop(task: asyncio.Task[None]) -> None:
    """Cancels a serve_forever() (which closes its server)."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_the_docs_protocol_echo_examples(netcore_policy: None, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio_docs.PORT = free_port()

    async def main() -> None:
        assert isinstance(asyncio.get_running_loop(), netcore.aio.EventLoop)
        server = await serving(asyncio_docs.protocol_server_main)
        for _ in range(3):
            await asyncio_docs.protocol_client_main()  # type: ignore[no-untyped-call]
        await stop(server)

    asyncio.run(asyncio.wait_for(main(), WAIT))
    out = capsys.readouterr().out
    assert out.count("Data sent: 'Hello World!'") == 3
    assert out.count("Data received: 'Hello World!'") == 6  # server and client
    assert out.count("The server closed the connection") == 3
    assert out.count("Connection from ('127.0.0.1', ") == 3


def test_the_docs_streams_echo_examples(netcore_policy: None, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio_docs.PORT = free_port()

    async def main() -> None:
        server = await serving(asyncio_docs.streams_server_main)
        await asyncio.gather(*(asyncio_docs.tcp_echo_client(f"Hello {i}!") for i in range(5)))  # type: ignore[no-untyped-call]
        await stop(server)

    asyncio.run(asyncio.wait_for(main(), WAIT))
    out = capsys.readouterr().out
    assert f"Serving on ('127.0.0.1', {asyncio_docs.PORT})" in out
    for i in range(5):
        assert f"Received: 'Hello {i}!'" in out
        assert f"Received 'Hello {i}!' from ('127.0.0.1', " in out
    assert out.count("Close the connection") == 10


def test_netcore_aio_run_replaces_asyncio_run(capsys: pytest.CaptureFixture[str]) -> None:
    """The streams examples as a program would run them, asyncio.run
    swapped for netcore.aio.run: both ends on netcore."""
    asyncio_docs.PORT = free_port()

    async def main() -> str:
        server = await serving(asyncio_docs.streams_server_main)
        await asyncio_docs.tcp_echo_client("Hello run!")  # type: ignore[no-untyped-call]
        await stop(server)
        return type(asyncio.get_running_loop()).__name__

    assert netcore.aio.run(asyncio.wait_for(main(), WAIT)) == "EventLoop"
    assert "Received: 'Hello run!'" in capsys.readouterr().out


def test_closing_the_event_loop_closes_what_netcore_still_has_open() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> socket.socket:
        loops.append(asyncio.get_running_loop())
        server = await netcore.aio.create_server(asyncio.Protocol, "127.0.0.1", 0)
        client = socket.create_connection(("127.0.0.1", server.sockets[0].getsockname()[1]), timeout=WAIT)
        hub = netcore._aio_net._hubs[loops[0]]
        for _ in range(1000):
            if len(hub.owners) == 2:  # the listener and the accepted connection
                break
            await asyncio.sleep(0.005)
        assert len(hub.owners) == 2
        return client  # server and connection left open

    with netcore.aio.run(asyncio.wait_for(main(), WAIT)) as client:
        assert loops[0].is_closed() and loops[0] not in netcore._aio_net._hubs
        try:
            assert client.recv(1) == b""
        except ConnectionResetError:
            pass


# ---- uvicorn (h11) ------------------------------------------------------------


async def asgi_app(scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
    """One route: the request body's length and the loop that served it."""
    assert scope["type"] == "http"
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    loop = type(asyncio.get_running_loop()).__name__
    body = f"{scope['method']} {scope['path']} {size} on {loop}".encode()
    if scope["path"] == "/big":
        # Past every water mark: uvicorn waits on pause_writing/resume_writing.
        body = b"b" * (8 << 20)
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_uvicorn_h11_serves_an_asgi_app_over_netcore() -> None:
    uvicorn = pytest.importorskip("uvicorn")
    port = free_port()
    config = uvicorn.Config(
        asgi_app,
        host="127.0.0.1",
        port=port,
        http="h11",
        lifespan="off",
        log_level="warning",
        loop="netcore.aio:new_event_loop",
    )
    server = uvicorn.Server(config)
    answers: list[Any] = []

    def clients() -> None:
        try:
            for _ in range(int(WAIT * 100)):
                if server.started:
                    break
                threading.Event().wait(0.01)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
            conn.request("GET", "/hello")
            response = conn.getresponse()
            answers.append((response.status, response.read()))
            # Keep-alive, and bodies past every water mark both ways.
            conn.request("POST", "/upload", body=b"u" * (4 << 20))
            response = conn.getresponse()
            answers.append((response.status, response.read()))
            conn.request("GET", "/big")
            response = conn.getresponse()
            answers.append((response.status, response.read() == b"b" * (8 << 20)))
            conn.close()
            # A client that half-closes after its request still gets the
            # answer (the EOF must not overtake the request's task).
            with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
                sock.sendall(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.shutdown(socket.SHUT_WR)
                raw = b""
                while chunk := sock.recv(65536):
                    raw += chunk
            answers.append(raw)
            answers.append(asyncio.run(asyncio.wait_for(plain_asyncio_client(port), WAIT)))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            answers.append(exc)
        finally:
            server.should_exit = True

    thread = threading.Thread(target=clients)
    thread.start()
    server.run()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert answers[0] == (200, b"GET /hello 0 on EventLoop")
    assert answers[1] == (200, b"POST /upload 4194304 on EventLoop")
    assert answers[2] == (200, True)
    assert answers[3].startswith(b"HTTP/1.1 200 OK\r\n") and answers[3].endswith(b"GET /half 0 on EventLoop")
    assert answers[4].startswith(b"HTTP/1.1 200 OK\r\n") and answers[4].endswith(b"GET /streams 0 on EventLoop")
    assert len(answers) == 5


async def plain_asyncio_client(port: int) -> bytes:
    """asyncio's own open_connection (its own loop, in another thread)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /streams HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data


def test_the_docs_udp_echo_examples(netcore_policy: None, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio_docs_udp.PORT = free_udp_port()

    async def main() -> None:
        contexts: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: contexts.append(ctx))
        server = await serving(asyncio_docs_udp.server_main)
        for _ in range(3):
            await asyncio_docs_udp.client_main()  # type: ignore[no-untyped-call]
        await stop(server)
        # The docs' server protocol has no connection_lost: asyncio reports
        # that AttributeError when the transport closes, and so does netcore.aio.
        await until_reported(contexts)
        assert [type(c["exception"]) for c in contexts] == [AttributeError]

    asyncio.run(asyncio.wait_for(main(), WAIT))
    out = capsys.readouterr().out
    assert out.count("Send: Hello World!") == 3
    assert out.count("Received: Hello World!") == 3
    assert out.count("Received 'Hello World!' from ('127.0.0.1', ") == 3
    assert out.count("Connection closed") == 3


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def until_reported(contexts: list[dict[str, Any]]) -> None:
    for _ in range(1000):
        if contexts:
            return
        await asyncio.sleep(0.005)


# ---- websockets ----------------------------------------------------------------


def test_websockets_echo_over_netcore() -> None:
    """websockets' asyncio implementation (its Connection is an
    asyncio.Protocol; serve and connect call the loop's create_server and
    create_connection), both ends on netcore.aio.EventLoop."""
    pytest.importorskip("websockets")
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import ServerConnection, serve

    server_transports: list[object] = []

    # The echo server of websockets' documentation.
    async def echo(websocket: ServerConnection) -> None:
        server_transports.append(websocket.transport)
        async for message in websocket:
            await websocket.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}") as ws:
                await ws.send("Hello world!")
                assert await ws.recv() == "Hello world!"
                big = bytes(range(256)) * 3000  # 768 KB, past every water mark
                await ws.send(big)
                assert await ws.recv() == big
                for i in range(100):
                    await ws.send(f"message {i}")
                for i in range(100):
                    assert await ws.recv() == f"message {i}"
                assert isinstance(ws.transport, netcore.aio.Transport)
            assert ws.close_code == 1000
        assert len(server_transports) == 1 and isinstance(server_transports[0], netcore.aio.Transport)

    netcore.aio.run(asyncio.wait_for(main(), WAIT))
