#!/usr/bin/env python3
"""echo_server: echoes raw bytes on every connection.

    usage: echo_server.py [HOST:]PORT    (HOST defaults to 127.0.0.1; PORT 0
                                          picks a free port; IPv6 as [::1]:PORT)

Prints "listening on HOST:PORT" (with the real port) once it accepts
connections, then serves until SIGINT or SIGTERM, closes every handle
gracefully (queued bytes are flushed, connections left after 5 s are reset)
and exits 0. A second signal stops waiting: everything is closed at once.

Flow control: send() never blocks. When a connection's send queue is above its
high-water mark, send() raises BlockingIOError (EAGAIN): the server keeps the
unsent bytes, pauses reading from that connection (so a client that does not
read cannot make it buffer without bound), and on the connection's "writable"
event sends them and resumes reading.

This example consumes events with Loop.run(callback, on_data=...): "data"
events come as on_data(handle, bytes), without an Event object; see
chat_server.py for Loop.poll() and asyncio_echo_server.py for the asyncio
integration.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import netcore
from _common import SHUTDOWN_SECONDS, die, format_addr, on_stop_signals, server_address

PROG = "echo_server"
DATA, WRITABLE, EOF, ERROR, CLOSED = netcore.DATA, netcore.WRITABLE, netcore.EOF, netcore.ERROR, netcore.CLOSED


class EchoServer:
    """Serves the connections of `listener` (multicore_echo_server.py runs
    one per process, each with its own loop)."""

    def __init__(self, loop: netcore.Loop, listener: int) -> None:
        self.loop = loop
        self.listener = listener
        # Bytes refused with EAGAIN, per connection, waiting for "writable".
        self.unsent: dict[int, list[bytes]] = {}
        # Connections whose peer sent EOF while bytes were still unsent.
        self.eof: set[int] = set()
        self.listener_closed = False
        self.signals = 0  # SIGINT/SIGTERM received so far

    def on_signal(self) -> None:
        """First signal: run() returns and shutdown() starts. Second: shutdown()
        stops waiting (leaving the `with` block then closes everything)."""
        self.signals += 1
        self.loop.stop()

    def on_event(self, ev: netcore.Event) -> None:
        """Every event but "data" while run() serves; every event during shutdown()."""
        h = ev.handle
        kind = ev.kind
        if kind == EOF:
            # The client is done sending: close once everything is echoed.
            if h in self.unsent:
                self.eof.add(h)
            else:
                self.close(h)
        elif kind == CLOSED:
            self.unsent.pop(h, None)
            self.eof.discard(h)
            if h == self.listener:
                self.listener_closed = True
        elif kind == WRITABLE:
            self.flush(h)
        elif kind == DATA:
            data = ev.data
            if data is not None:
                self.echo(h, data)
        elif kind == ERROR and ev.error is not None:
            print(f"{PROG}: handle {h}: {ev.error}", file=sys.stderr)

    def echo(self, h: int, data: bytes) -> None:
        """run()'s on_data: echoes, or keeps the bytes while h waits for "writable"."""
        if self.unsent:  # some connection waits for "writable"
            queue = self.unsent.get(h)
            if queue is not None:  # this one: keep the order
                queue.append(data)
                return
        try:
            self.loop.send(h, data)
        except BlockingIOError:
            self.unsent[h] = [data]
            self.loop.pause(h)
        except netcore.Error:
            pass  # the connection is closing or gone: its "closed" follows

    def flush(self, h: int) -> None:
        queue = self.unsent.get(h)
        if queue is None:
            return
        while queue:
            try:
                self.loop.send(h, queue[0])
            except BlockingIOError:
                return  # still full: another "writable" will come
            except netcore.Error:
                break
            queue.pop(0)
        del self.unsent[h]
        if h in self.eof:
            self.eof.discard(h)
            self.close(h)
        else:
            try:
                self.loop.resume(h)
            except netcore.Error:
                pass

    def close(self, h: int) -> None:
        try:
            self.loop.close(h)
        except netcore.Error:
            pass  # already closing or gone

    def serve(self) -> None:
        """Serves until on_signal() (SIGINT/SIGTERM), then shuts down."""
        self.loop.run(self.on_event, on_data=self.echo)  # until on_signal calls loop.stop()
        self.shutdown()

    def shutdown(self) -> None:
        """Stops accepting, closes every connection gracefully (reset after
        SHUTDOWN_SECONDS) and waits for the listener's "closed"."""
        self.loop.shutdown_server(self.listener, SHUTDOWN_SECONDS)
        deadline = time.monotonic() + SHUTDOWN_SECONDS + 2
        while not self.listener_closed and self.signals < 2 and time.monotonic() < deadline:
            for ev in self.loop.poll(0.1):
                self.on_event(ev)
        if self.signals >= 2:
            print(f"{PROG}: second signal, not waiting any longer", file=sys.stderr)


def listen(loop: netcore.Loop, host: str, port: int) -> EchoServer:
    return EchoServer(loop, loop.listen(host, port))


def main(argv: list[str], prog: str = PROG, make: Callable[[netcore.Loop, str, int], EchoServer] = listen) -> int:
    """Serves until a signal; `make` opens the listener and builds the
    server (tls_echo_server.py's is this one over TLS)."""
    host, port = server_address(prog, argv)
    with netcore.Loop() as loop:
        try:
            server = make(loop, host, port)
        except OSError as e:
            die(prog, f"cannot listen on {argv[1]}: {e}")
        on_stop_signals(server.on_signal)
        print(f"listening on {format_addr(loop.local_address(server.listener))}", flush=True)
        server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
