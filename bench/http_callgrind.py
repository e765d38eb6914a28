"""Instructions per HTTP request (issue 13) of bench/anchors/uvicorn_hello.py
on one event loop, under callgrind: wall clock on a shared machine says
little, instruction counts stay comparable.

    usage: python bench/http_callgrind.py LOOP PROTOCOL   (netcore|uvloop|asyncio, httptools|h11)

Two runs of the server under valgrind, each answering keep-alive GETs on
16 connections (each round: one request on every connection, then every
answer), 320 requests and 4,320: (instructions of the long run - of the
short one) / 4,000, so start-up and shutdown cancel out. The interpreter
is the benchmark's (build/venv-bench, as bench/run.py sets it up). Prints
one line: "LOOP PROTOCOL: N instructions/request".
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from run import VENV_PY, callgrind_per_unit

ANCHORS = Path(__file__).resolve().parent / "anchors"
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
BODY = b"Hello, world!\n"
CONNECTIONS = 16
SHORT, LONG = 320, 4320


def drive(port: int, requests: int) -> None:
    """`requests` keep-alive GETs, in rounds of one per connection."""
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS)]
    for _ in range(requests // CONNECTIONS):
        for conn in conns:
            conn.sendall(REQUEST)
        for conn in conns:
            answer = b""
            while not answer.endswith(BODY):
                chunk = conn.recv(4096)
                if not chunk:
                    raise RuntimeError("the server closed a connection")
                answer += chunk
    for conn in conns:
        conn.close()


def main() -> None:
    loop, protocol = sys.argv[1:3]
    per = callgrind_per_unit(
        f"http.{loop}.{protocol}",
        lambda port: [VENV_PY, ANCHORS / "uvicorn_hello.py", "--loop", loop, "--http", protocol, f"127.0.0.1:{port}"],
        drive, SHORT, LONG, 18761, ANCHORS)
    print(f"{loop} {protocol}: {per:.0f} instructions/request")


if __name__ == "__main__":
    main()
