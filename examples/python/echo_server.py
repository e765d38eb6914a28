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

import netcore
from _common import Server, serve_main

PROG = "echo_server"
DATA, WRITABLE, EOF, ERROR, CLOSED = netcore.DATA, netcore.WRITABLE, netcore.EOF, netcore.ERROR, netcore.CLOSED


class EchoServer(Server):
    """Serves the connections of `listener` (multicore_echo_server.py runs
    one per process, each with its own loop)."""

    prog = PROG

    def __init__(self, loop: netcore.Loop, listener: int) -> None:
        super().__init__(loop, listener)
        # Bytes refused with EAGAIN, per connection, waiting for "writable".
        self.unsent: dict[int, list[bytes]] = {}
        # Connections whose peer sent EOF while bytes were still unsent.
        self.eof: set[int] = set()

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
            super().on_event(ev)
        elif kind == WRITABLE:
            self.flush(h)
        elif kind == DATA:
            data = ev.data
            if data is not None:
                self.echo(h, data)
        elif kind == ERROR:
            self.report(h, ev.error)

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

    def serve(self) -> None:
        """Serves until on_signal() (SIGINT/SIGTERM), then shuts down."""
        self.loop.run(self.on_event, on_data=self.echo)  # until on_signal calls loop.stop()
        self.shutdown()


def listen(loop: netcore.Loop, host: str, port: int) -> EchoServer:
    return EchoServer(loop, loop.listen(host, port))


def main(argv: list[str]) -> int:
    return serve_main(argv, PROG, listen)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
