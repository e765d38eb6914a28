#!/usr/bin/env python3
"""asyncio_echo_server: the echo server, driven by asyncio through netcore.aio.

    usage: asyncio_echo_server.py [HOST:]PORT [--stats SECONDS]

Same contract as echo_server.py: prints "listening on HOST:PORT" (with the
real port), echoes raw bytes on every connection, exits 0 on SIGINT or
SIGTERM after closing its handles gracefully; a second signal closes
everything at once.

The netcore loop is attached to the running asyncio loop (add_reader on its
descriptor, no extra thread), so ordinary asyncio code runs alongside: here a
periodic task that reports the traffic on stderr every --stats seconds
(default 5), and the shutdown itself, which awaits an asyncio.Future that the
netcore callback resolves.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import netcore
import netcore.aio
from _common import SHUTDOWN_SECONDS, format_addr, parse_host_port
from echo_server import EchoServer

PROG = "asyncio_echo_server"


class Echo(EchoServer):
    """echo_server.py's echo (flow control included) as a netcore.aio
    callback, counting what it serves and resolving `closed` when the
    listener is closed."""

    prog = PROG

    def __init__(self, loop: netcore.Loop, listener: int, closed: asyncio.Future[None]) -> None:
        super().__init__(loop, listener)
        self.closed = closed
        self.connections = 0
        self.bytes_echoed = 0  # taken to echo: sent, or kept until "writable"

    def __call__(self, ev: netcore.Event) -> None:
        if ev.kind == netcore.ACCEPTED:
            self.connections += 1
        elif ev.kind == netcore.CLOSED and ev.handle != self.listener:
            self.connections -= 1
        self.on_event(ev)
        if self.listener_closed and not self.closed.done():
            self.closed.set_result(None)

    def echo(self, h: int, data: bytes) -> None:
        self.bytes_echoed += len(data)
        super().echo(h, data)


async def report(echo: Echo, every: float) -> None:
    """Ordinary asyncio code, running alongside netcore in the same thread."""
    while True:
        await asyncio.sleep(every)
        print(f"{PROG}: {echo.connections} connections, {echo.bytes_echoed} bytes echoed", file=sys.stderr)


async def serve(host: str, port: int, stats: float) -> int:
    aloop = asyncio.get_running_loop()
    stop = asyncio.Event()  # the first SIGINT/SIGTERM: shut down gracefully
    forced: asyncio.Future[None] = aloop.create_future()  # the second: stop waiting

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
        elif not forced.done():
            forced.set_result(None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        aloop.add_signal_handler(sig, on_signal)
    with netcore.Loop() as nc:
        try:
            listener = nc.listen(host, port)
        except OSError as e:
            print(f"{PROG}: cannot listen on {host}:{port}: {e}", file=sys.stderr)
            return 1
        listener_closed: asyncio.Future[None] = aloop.create_future()
        echo = Echo(nc, listener, listener_closed)
        with netcore.aio.attach(nc, echo):
            print(f"listening on {format_addr(nc.local_address(listener))}", flush=True)
            reporter = asyncio.create_task(report(echo, stats))
            await stop.wait()
            reporter.cancel()
            # Graceful: stop accepting, flush and close every connection
            # (reset after SHUTDOWN_SECONDS), then the listener's "closed".
            nc.shutdown_server(listener, SHUTDOWN_SECONDS)
            await asyncio.wait([listener_closed, forced], timeout=SHUTDOWN_SECONDS + 2,
                               return_when=asyncio.FIRST_COMPLETED)
            if forced.done():
                print(f"{PROG}: second signal, not waiting any longer", file=sys.stderr)
            elif not listener_closed.done():
                print(f"{PROG}: shutdown did not finish in time", file=sys.stderr)
        # Leaving the `with` blocks closes whatever is still open, at once.
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="netcore echo server on asyncio")
    parser.add_argument("address", metavar="[HOST:]PORT")
    parser.add_argument("--stats", type=float, default=5.0, metavar="SECONDS", help="report interval")
    args = parser.parse_args(argv[1:])
    try:
        host, port = parse_host_port(args.address, "127.0.0.1")
    except ValueError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    return asyncio.run(serve(host, port, args.stats))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
