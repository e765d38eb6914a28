#!/usr/bin/env python3
"""streams_echo_server: the echo server as ordinary asyncio streams code,
running on netcore through netcore.aio.

    usage: streams_echo_server.py [HOST:]PORT

Same contract as echo_server.py: prints "listening on HOST:PORT" (with the
real port), echoes raw bytes on every connection, exits 0 on SIGINT or
SIGTERM after closing its connections gracefully.

It is written as any asyncio program is (flow control is ``drain()``);
``netcore.aio.start_server`` and ``netcore.aio.run`` in place of asyncio's
are the only netcore in it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import netcore.aio
from _common import format_addr, parse_host_port

PROG = "streams_echo_server"


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Echoes until the peer's EOF (or the server closes the connection)."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()  # waits while the peer does not read
    except ConnectionError:
        pass  # the peer reset: nothing more to do
    finally:
        writer.close()


async def serve(host: str, port: int) -> int:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        server = await netcore.aio.start_server(echo, host, port)
    except OSError as e:
        print(f"{PROG}: cannot listen on {host}:{port}: {e}", file=sys.stderr)
        return 1
    print(f"listening on {format_addr(server.sockets[0].getsockname()[:2])}", flush=True)
    await stop.wait()
    # Graceful: stop accepting, then flush and close every connection.
    server.close()
    server.close_clients()
    await server.wait_closed()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="echo server: asyncio streams on netcore")
    parser.add_argument("address", metavar="[HOST:]PORT")
    args = parser.parse_args(argv[1:])
    try:
        host, port = parse_host_port(args.address, "127.0.0.1")
    except ValueError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    return netcore.aio.run(serve(host, port))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
