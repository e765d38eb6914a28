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

import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from run import BUILD, VENV_PY, parse_callgrind_total

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


def instructions(server: str, connections: int, port: int) -> int:
    """Total instructions of one server run serving `connections` connections."""
    out = BUILD / "callgrind" / f"churn.{server}.{connections}.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", VENV_PY, ANCHORS / server,
         f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ANCHORS)
    try:
        assert proc.stdout is not None
        if not proc.stdout.readline().startswith(b"listening"):
            raise RuntimeError(f"{server}: the server did not start")
        failures: list[BaseException] = []
        workers = [threading.Thread(target=churn, args=(port, connections // WORKERS, failures))
                   for _ in range(WORKERS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if failures:
            raise RuntimeError(f"{server}: {failures[0]!r}")
        proc.send_signal(signal.SIGINT)
        proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return parse_callgrind_total(out)


def main() -> None:
    server = sys.argv[1]
    short = instructions(server, SHORT, 18771)
    long = instructions(server, LONG, 18772)
    print(f"{server}: {(long - short) / (LONG - SHORT):.0f} instructions/connection")


if __name__ == "__main__":
    main()
