#!/usr/bin/env python3
"""chat_client: joins a line-based chat room (chat_server.py or the C chat_server).

    usage: chat_client.py HOST:PORT [--linger SECONDS] [--pause SECONDS] [LINE...]

Connects, sends each LINE (with no LINE: each line of stdin) followed by
"\\n", waiting --pause seconds (default 0.2) between lines, and prints every
line the room sends ("<peer>: <line>"). It stays until the room has been
silent for --linger seconds (default 1) after its last line, then closes
gracefully and exits 0; exits 1 if the connection fails or drops.
"""

from __future__ import annotations

import argparse
import sys
import time

import netcore
from _common import parse_host_port

PROG = "chat_client"
MAX_LINE = 64 * 1024


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="netcore chat client")
    parser.add_argument("address", metavar="HOST:PORT")
    parser.add_argument("lines", nargs="*", metavar="LINE")
    parser.add_argument("--linger", type=float, default=1.0, metavar="SECONDS")
    parser.add_argument("--pause", type=float, default=0.2, metavar="SECONDS")
    args = parser.parse_intermixed_args(argv[1:])
    try:
        host, port = parse_host_port(args.address, None)
    except ValueError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 1
    lines: list[str] = list(args.lines) or [line.rstrip("\n") for line in sys.stdin]

    with netcore.Loop() as loop:
        conn = loop.connect(host, port)
        loop.frame_delimited(conn, b"\n", MAX_LINE)
        connected = False
        closing = False
        next_send = 0.0
        quiet_until = time.monotonic() + 10.0  # time to connect
        while True:
            now = time.monotonic()
            if connected and lines and now >= next_send:
                loop.send(conn, lines.pop(0).encode() + b"\n")
                next_send = now + args.pause
                quiet_until = now + args.linger
            if connected and not lines and now >= quiet_until and not closing:
                loop.close(conn)
                closing = True
            for ev in loop.poll(0.05):
                if ev.kind == netcore.CONNECTED:
                    connected = True
                elif ev.kind == netcore.CONNECT_FAILED:
                    print(f"{PROG}: cannot connect to {args.address}: {ev.error}", file=sys.stderr)
                    return 1
                elif ev.kind == netcore.DATA and ev.data is not None:
                    print(ev.data.decode(errors="replace"), flush=True)
                    quiet_until = time.monotonic() + args.linger
                elif ev.kind == netcore.EOF and not closing:
                    print(f"{PROG}: the room closed the connection", file=sys.stderr)
                    return 1
                elif ev.kind == netcore.CLOSED:
                    return 0 if closing and ev.error is None else 1
            if not connected and now >= quiet_until:
                print(f"{PROG}: no connection to {args.address} within 10 s", file=sys.stderr)
                return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
