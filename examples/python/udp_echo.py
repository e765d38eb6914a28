#!/usr/bin/env python3
"""udp_echo: sends every datagram back to its sender.

    usage: udp_echo.py [HOST:]PORT    (HOST defaults to 127.0.0.1; PORT 0
                                       picks a free port; IPv6 as [::1]:PORT)

Prints "listening on HOST:PORT" once bound, echoes until SIGINT or SIGTERM,
then closes the socket and exits 0.

Each "datagram" event carries the bytes and the sender's (host, port). The
replies to the datagrams of one poll() go out together with send_batch()
(one system call for many datagrams), which returns how many it sent. When
the kernel has no room, send_batch() raises BlockingIOError: the unsent
replies are kept and sent on the socket's "writable" event. That backlog is
bounded (UDP may drop, but this program says when it does). The benchmark
suite (bench/run.py) measures this program against asyncio and uvloop.
"""

from __future__ import annotations

import sys
from collections import deque

import netcore
from _common import die, format_addr, on_stop_signals, server_address

PROG = "udp_echo"
DATAGRAM, WRITABLE, ERROR = netcore.DATAGRAM, netcore.WRITABLE, netcore.ERROR
BACKLOG_MAX = 1024  # replies kept while the kernel has no room

Reply = tuple[bytes, tuple[str, int]]


class UdpEcho:
    def __init__(self, loop: netcore.Loop, host: str, port: int) -> None:
        self.loop = loop
        self.sock = loop.udp_bind(host, port)
        self.backlog: deque[Reply] = deque()
        self.dropped = 0

    def on_events(self, events: list[netcore.Event]) -> None:
        replies: list[Reply] = []
        for ev in events:
            kind = ev.kind
            if kind == DATAGRAM:
                data, addr = ev.data, ev.addr
                if data is not None and addr is not None:
                    replies.append((data, addr))
            elif kind == WRITABLE:
                self.flush()
            elif kind == ERROR and ev.error is not None:
                # e.g. an ICMP error for an earlier reply: harmless
                print(f"{PROG}: {ev.error}", file=sys.stderr)
        if replies:
            self.reply(replies)

    def reply(self, replies: list[Reply]) -> None:
        """Sends the replies in one batch (behind the backlog, if any)."""
        sent = 0
        while sent < len(replies) and not self.backlog:
            try:
                sent += self.loop.send_batch(self.sock, replies[sent:] if sent else replies)
            except BlockingIOError:
                break
            except OSError as e:  # this reply alone is refused
                print(f"{PROG}: reply to {format_addr(replies[sent][1])}: {e}", file=sys.stderr)
                sent += 1
        for data, addr in replies[sent:]:
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
        stopping = False

        def stop() -> None:
            nonlocal stopping
            stopping = True
            loop.wake()  # poll() returns []

        on_stop_signals(stop)
        print(f"listening on {format_addr(loop.local_address(server.sock))}", flush=True)
        while not stopping:
            server.on_events(loop.poll(max_events=256))
        if server.backlog:
            print(f"{PROG}: {len(server.backlog)} queued replies not sent", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
