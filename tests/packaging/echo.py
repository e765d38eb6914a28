"""One loopback echo with an installed netcore wheel (tests/packaging/install.sh):
through the raw Loop, then through netcore.aio (asyncio's streams)."""

import asyncio

import netcore
import netcore.aio

with netcore.Loop() as loop:
    listener = loop.listen("127.0.0.1", 0)
    client = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    loop.send(client, b"ping")
    echoed = b""
    # Bounded: at most 400 polls of at most 50 ms each.
    for _ in range(400):
        for ev in loop.poll(timeout=0.05):
            if ev.kind == netcore.DATA and ev.handle == client:
                echoed += ev.data
            elif ev.kind == netcore.DATA:
                loop.send(ev.handle, ev.data)
        if echoed == b"ping":
            break
    assert echoed == b"ping", f"echoed {echoed!r}"


async def aio_echo() -> bytes:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await netcore.aio.start_server(echo, "127.0.0.1", 0)
    async with server:
        reader, writer = await netcore.aio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(b"aio ping\n")
        line = await reader.readline()
        writer.close()
        await writer.wait_closed()
    return line


# Bounded by wait_for: a hang fails the check instead of stalling it.
aio_echoed = asyncio.run(asyncio.wait_for(aio_echo(), 30))
assert aio_echoed == b"aio ping\n", f"aio echoed {aio_echoed!r}"
print(f"python: netcore {netcore.__version__} from {netcore.__file__}: echo and netcore.aio echo ok")
