"""Instructions per accepted connection (issue 13, accept+close churn) of
an echo server under callgrind: wall clock on a shared machine says
little, instruction counts stay comparable.

    usage: python bench/churn_callgrind.py SERVER   (an anchor: netcore_aio_echo.py, uvloop_echo.py, ...)

Two runs of bench/anchors/SERVER under valgrind, each serving 4 client
threads that connect, send 1 byte, read it back and close (the churn
benchmark's loop), 400 connections and 2,400: (instructions of the long
run - of the short one) / 2,000, so start-up and shutdown cancel out. The
interpreter is the benchmark's (build/venv-bench, as bench/run.py sets it
up). Prints one line: "SERVER: N instructions/connection".
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

from run import VENV_PY, callgrind_per_unit

ANCHORS = Path(__file__).resolve().parent / "anchors"
WORKERS = 4
SHORT, LONG = 400, 2400


def churn(port: int, connections: int, failures: list[BaseException]) -> None:
    """One client worker: `connections` connect / 1-byte echo / close."""
    try:
        for _ in range(connections):
            with socket.create_connection(("127.0.0.1", port)) as conn:
                conn.sendall(b"x")
                if conn.recv(1) != b"x":
                    raise RuntimeError("no echo")
    except BaseException as exc:  # noqa: BLE001 - reported by the caller
        failures.append(exc)


def drive(port: int, connections: int) -> None:
    """`connections` churned connections, spread over WORKERS threads."""
    failures: list[BaseException] = []
    workers = [threading.Thread(target=churn, args=(port, connections // WORKERS, failures))
               for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(repr(failures[0]))


def main() -> None:
    server = sys.argv[1]
    per = callgrind_per_unit(f"churn.{server}", lambda port: [VENV_PY, ANCHORS / server, f"127.0.0.1:{port}"],
                             drive, SHORT, LONG, 18771, ANCHORS)
    print(f"{server}: {per:.0f} instructions/connection")


if __name__ == "__main__":
    main()
