#!/usr/bin/env python3
"""multicore_echo_server: echo_server.py with one loop per core: WORKERS
processes, each running echo_server.py's EchoServer on its own netcore loop,
all serving one port. (Processes, not threads: one interpreter runs Python
code on one core at a time.)

    usage: multicore_echo_server.py [-w WORKERS] [-m reuseport|shared] [-c CAP] [HOST:]PORT

-w WORKERS    processes (default: one per CPU this process may run on)
-m reuseport  (default) every worker opens its own listener on the port with
              SO_REUSEPORT (listen(reuse_port=True)): the kernel gives each
              its own backlog and spreads new connections over them by a
              hash of the addresses.
-m shared     this process opens one listening socket; every worker inherits
              it (fork) and adopts it (adopt_listener) and accepts from the
              one backlog: whichever worker is free takes the next connection.
-c CAP        each worker keeps at most CAP connections open at once
              (set_max_connections); with a shared listener, a worker at its
              cap leaves new connections to the others.

Prints "listening on HOST:PORT" once every worker accepts connections, then
serves. SIGINT/SIGTERM is passed on to the workers, which shut down
gracefully as echo_server.py does, each printing "worker N: K connections"
on stderr; exits 0 once all have exited 0.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import sys
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType

import netcore
from _common import die, format_addr, on_stop_signals, parse_host_port
from echo_server import EchoServer

PROG = "multicore_echo_server"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class CountingEchoServer(EchoServer):
    """EchoServer that counts the connections it accepted."""

    def __init__(self, loop: netcore.Loop, listener: int) -> None:
        super().__init__(loop, listener)
        self.accepted = 0

    def on_event(self, ev: netcore.Event) -> None:
        if ev.kind == netcore.ACCEPTED:
            self.accepted += 1
        super().on_event(ev)


def worker(index: int, host: str, port: int, shared: socket.socket | None, cap: int, ready: Connection) -> None:
    """One process, one loop: serves until SIGINT/SIGTERM. Sends the port it
    listens on (or an error message) through `ready` first."""
    # A process group of its own: a terminal's Ctrl-C reaches the main
    # process only, which passes it on once (twice would mean "now").
    os.setpgid(0, 0)
    with netcore.Loop() as loop:
        try:
            listener = loop.adopt_listener(shared) if shared is not None else loop.listen(host, port, reuse_port=True)
            if cap:
                loop.set_max_connections(listener, cap)
        except OSError as e:
            ready.send(f"worker {index}: cannot listen on {host}:{port}: {e}")
            sys.exit(1)
        server = CountingEchoServer(loop, listener)
        on_stop_signals(server.on_signal)
        # Blocked since the fork (see main): one that came meanwhile stops it now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        ready.send(loop.local_address(listener)[1])
        server.serve()
    # One write(2) per line: the workers share stderr, and print() may write
    # the text and its newline apart, letting another worker's line in between.
    os.write(sys.stderr.fileno(), f"{PROG}: worker {index}: {server.accepted} connections\n".encode())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="netcore echo server, one loop per core")
    parser.add_argument("-w", "--workers", type=int, default=len(os.sched_getaffinity(0)), metavar="WORKERS")
    parser.add_argument("-m", "--mode", choices=["reuseport", "shared"], default="reuseport")
    parser.add_argument("-c", "--cap", type=int, default=0, metavar="CAP")
    parser.add_argument("address", metavar="[HOST:]PORT")
    args = parser.parse_args(argv[1:])
    if args.workers < 1 or args.cap < 0:
        parser.error("WORKERS must be at least 1 and CAP at least 0")
    try:
        host, port = parse_host_port(args.address, "127.0.0.1")
    except ValueError as e:
        die(PROG, str(e))
    shared = None
    if args.mode == "shared":
        try:
            shared = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                          backlog=1024)
        except OSError as e:
            die(PROG, f"cannot listen on {args.address}: {e}")
    # A signal from now on stops whatever workers have started.
    workers: list[BaseProcess] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        for p in workers:
            if p.pid is not None and p.exitcode is None:
                os.kill(p.pid, signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    # fork: the workers inherit the shared socket (and this module's state).
    context = multiprocessing.get_context("fork")
    status = 0
    for index in range(args.workers):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=worker, args=(index, host, port, shared, args.cap, send))
        # The worker starts with this process's handler (forward): signals
        # wait, blocked, until it has its own.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        process.start()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        workers.append(process)
        send.close()
        answer = receive.recv() if receive.poll(30) else f"worker {index} did not start"
        receive.close()
        if isinstance(answer, str):
            print(f"{PROG}: {answer}", file=sys.stderr)
            status = 1
            forward(signal.SIGTERM, None)
            break
        # Worker 0 may have picked the port (PORT 0); the others join it.
        port = answer
    if shared is not None:
        shared.close()  # the workers hold their own
    if status == 0:
        print(f"listening on {format_addr((host, port))}", flush=True)
    for p in workers:
        p.join()
        if p.exitcode != 0:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
