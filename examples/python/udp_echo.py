#!/usr/bin/env python3
"""udp_echo: sends every datagram back to its sender.

    usage: udp_echo.py [HOST:]PORT    (HOST defaults to 127.0.0.1; PORT 0
                                       picks a free port; IPv6 as [::1]:PORT)

Prints "listening on HOST:PORT" once bound, echoes until SIGINT or SIGTERM,
then closes the socket and exits 0.

Each "datagram" event carries the bytes and the sender's (host, port), which
send_to() takes back as it is. When the kernel has no room for a reply,
send_to() raises BlockingIOError: the reply is kept, with the ones after it,
and sent on the socket's "writable" event. That backlog is bounded (UDP may
drop, but this program says when it does). The benchmark suite
(bench/run.py) measures this program against asyncio and uvloop.
"""

from __future__ import annotations

import sys
from collections import deque

import netcore
from _common import die, format_addr, on_stop_signals, server_address

PROG = "udp_echo"
DATAGRAM, WRITABLE, ERROR = netcore.DATAGRAM, netcore.WRITABLE, netcore.ERROR
BACKLOG_MAX = 1024  # replies kept while the kernel has no room


class UdpEcho:
    def __init__(self, loop: netcore.Loop, host: str, port: int) -> None:
        self.loop = loop
        self.sock = loop.udp_bind(host, port)
        self.backlog: deque[tuple[bytes, tuple[str, int]]] = deque()
        self.dropped = 0

    def on_event(self, ev: netcore.Event) -> None:
        kind = ev.kind
        if kind == DATAGRAM:
            data, addr = ev.data, ev.addr
            if data is not None and addr is not None:
                self.echo(data, addr)
        elif kind == WRITABLE:
            self.flush()
        elif kind == ERROR and ev.error is not None:
            # e.g. an ICMP error for an earlier reply: harmless
            print(f"{PROG}: {ev.error}", file=sys.stderr)

    def echo(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.backlog:
            try:
                self.loop.send_to(self.sock, data, addr)
                return
            except BlockingIOError:
                pass
        self.keep(data, addr)

    def keep(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(self.backlog) < BACKLOG_MAX:
            self.backlog.append((data, addr))
            return
        if self.dropped % 1000 == 0:
            print(f"{PROG}: reply backlog full, dropped {self.dropped + 1} datagram(s)", file=sys.stderr)
        self.dropped += 1

    def flush(self) -> None:
        """Sends kept replies, oldest first, until the kernel has no room again."""
        while self.backlog:
            data, addr = self.backlog[0]
            try:
                self.loop.send_to(self.sock, data, addr)
            except BlockingIOError:
                return
            except netcore.Error as e:
                print(f"{PROG}: reply to {format_addr(addr)}: {e}", file=sys.stderr)
            self.backlog.popleft()


def main(argv: list[str]) -> int:
    host, port = server_address(PROG, argv)
    with netcore.Loop() as loop:
        try:
            server = UdpEcho(loop, host, port)
        except OSError as e:
            die(PROG, f"cannot bind {argv[1]}: {e}")
        on_stop_signals(loop.stop)
        print(f"listening on {format_addr(loop.local_address(server.sock))}", flush=True)
        loop.run(server.on_event)  # until SIGINT/SIGTERM calls loop.stop()
        if server.backlog:
            print(f"{PROG}: {len(server.backlog)} queued replies not sent", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
