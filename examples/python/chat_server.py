#!/usr/bin/env python3
"""chat_server: a line-based chat room.

    usage: chat_server.py [HOST:]PORT    (HOST defaults to 127.0.0.1; PORT 0
                                          picks a free port; IPv6 as [::1]:PORT)

Prints "listening on HOST:PORT" once it accepts connections. Every line a
client sends (cut by netcore's delimiter framing, "\\n", at most 64 KiB) is sent
to every OTHER connected client as "<peer-addr>: <line>\\n", in one gather send
(sendv). Joins and leaves are logged on stderr. On SIGINT or SIGTERM it closes
every handle gracefully and exits 0; a second signal closes everything at once.

A client whose send queue is full (it does not read what it is sent) is
disconnected rather than allowed to make the server buffer without bound.

This example consumes events with Loop.poll().
"""

from __future__ import annotations

import sys
import time

import netcore
from _common import SHUTDOWN_SECONDS, die, format_addr, on_stop_signals, server_address

PROG = "chat_server"
MAX_LINE = 64 * 1024


class Room:
    def __init__(self, loop: netcore.Loop, host: str, port: int) -> None:
        self.loop = loop
        self.listener = loop.listen(host, port)
        self.names: dict[int, bytes] = {}  # connection -> "ip:port"
        self.listener_closed = False
        self.stopping = False
        self.forced = False  # a second signal: stop waiting for the shutdown

    def on_event(self, ev: netcore.Event) -> None:
        h = ev.handle
        if ev.kind == netcore.ACCEPTED and ev.addr is not None:
            name = format_addr(ev.addr)
            self.names[h] = name.encode()
            self.loop.frame_delimited(h, b"\n", MAX_LINE)
            print(f"{PROG}: {name} joined ({len(self.names)} online)", file=sys.stderr)
        elif ev.kind == netcore.DATA and ev.data is not None and h in self.names:
            self.broadcast(h, ev.data)
        elif ev.kind == netcore.EOF:
            self.close(h)
        elif ev.kind == netcore.ERROR and ev.error is not None:
            print(f"{PROG}: {self.name(h)}: {ev.error}", file=sys.stderr)
        elif ev.kind == netcore.CLOSED:
            if h == self.listener:
                self.listener_closed = True
            elif h in self.names:
                name = self.names.pop(h).decode()
                print(f"{PROG}: {name} left ({len(self.names)} online)", file=sys.stderr)

    def name(self, h: int) -> str:
        return self.names.get(h, b"?").decode()

    def broadcast(self, sender: int, line: bytes) -> None:
        prefix = self.names[sender] + b": "
        for h in list(self.names):
            if h == sender:
                continue
            try:
                self.loop.sendv(h, [prefix, line, b"\n"])
            except BlockingIOError:
                print(f"{PROG}: {self.name(h)} is not reading: disconnecting", file=sys.stderr)
                self.close(h)
            except netcore.Error:
                pass  # closing or gone: its "closed" follows

    def close(self, h: int) -> None:
        try:
            self.loop.close(h)
        except netcore.Error:
            pass

    def serve(self) -> None:
        while not self.stopping:
            for ev in self.loop.poll():  # wake() from the signal handler returns []
                self.on_event(ev)

    def stop(self) -> None:
        self.forced = self.stopping
        self.stopping = True
        self.loop.wake()

    def shutdown(self) -> None:
        self.loop.shutdown_server(self.listener, SHUTDOWN_SECONDS)
        deadline = time.monotonic() + SHUTDOWN_SECONDS + 2
        while not self.listener_closed and not self.forced and time.monotonic() < deadline:
            for ev in self.loop.poll(0.1):
                self.on_event(ev)
        if self.forced:
            print(f"{PROG}: second signal, not waiting any longer", file=sys.stderr)


def main(argv: list[str]) -> int:
    host, port = server_address(PROG, argv)
    with netcore.Loop() as loop:
        try:
            room = Room(loop, host, port)
        except OSError as e:
            die(PROG, f"cannot listen on {argv[1]}: {e}")
        on_stop_signals(room.stop)
        print(f"listening on {format_addr(loop.local_address(room.listener))}", flush=True)
        room.serve()
        room.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
