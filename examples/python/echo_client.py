#!/usr/bin/env python3
"""echo_client: sends lines to an echo server and prints what comes back.

    usage: echo_client.py HOST:PORT [MESSAGE...]

Connects to HOST:PORT (an IP literal, [IPV6]:PORT, or a name resolved off the
loop thread), then sends each MESSAGE followed by "\\n" (with no messages:
each line read from stdin) and prints every echoed line as it arrives, one at
a time: send, wait for the echo, print. Incoming bytes are cut into lines by
netcore's delimiter framing. Closes gracefully and exits 0; exits 1 with the
reason if the connection fails or the server stays silent for 10 s.
"""

from __future__ import annotations

import sys
import time

import netcore
from _common import die, parse_host_port

PROG = "echo_client"
MAX_LINE = 16 * 1024 * 1024
REPLY_TIMEOUT = 10.0


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(f"usage: {PROG} HOST:PORT [MESSAGE...]", file=sys.stderr)
        return 2
    try:
        host, port = parse_host_port(argv[1], None)
    except ValueError as e:
        die(PROG, str(e))
    messages = argv[2:] or [line.rstrip("\n") for line in sys.stdin]

    with netcore.Loop() as loop:
        try:
            conn = loop.connect(host, port)
        except OSError as e:
            die(PROG, f"cannot connect to {argv[1]}: {e}")
        loop.frame_delimited(conn, b"\n", MAX_LINE)
        pending = list(messages)
        waiting = False  # an echo is due
        closed = False
        status = 0
        deadline = time.monotonic() + REPLY_TIMEOUT

        def send_next() -> None:
            nonlocal waiting
            if pending:
                loop.send(conn, pending.pop(0).encode() + b"\n")
                waiting = True
            else:
                loop.close(conn)

        send_next()  # queued until "connected"
        while not closed:
            if time.monotonic() > deadline:
                die(PROG, f"no reply from {argv[1]} within {REPLY_TIMEOUT:.0f} s")
            for ev in loop.poll(0.1):
                if ev.kind == netcore.CONNECT_FAILED:
                    print(f"{PROG}: cannot connect to {argv[1]}: {ev.error}", file=sys.stderr)
                    status = 1
                elif ev.kind == netcore.DATA and ev.data is not None:
                    sys.stdout.buffer.write(ev.data + b"\n")
                    sys.stdout.flush()
                    deadline = time.monotonic() + REPLY_TIMEOUT
                    waiting = False
                    send_next()
                elif ev.kind == netcore.EOF:
                    if waiting or pending:
                        print(f"{PROG}: the server closed the connection early", file=sys.stderr)
                        status = 1
                    try:
                        loop.close(conn)
                    except netcore.ClosedError:
                        pass  # already closing
                elif ev.kind == netcore.ERROR:
                    print(f"{PROG}: connection: {ev.error}", file=sys.stderr)
                    status = 1
                elif ev.kind == netcore.CLOSED:
                    closed = True
                    if ev.error is not None:
                        print(f"{PROG}: connection: {ev.error}", file=sys.stderr)
                        status = 1
        return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
