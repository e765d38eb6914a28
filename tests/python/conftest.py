"""Shared helpers for the netcore Python tests (real loopback sockets only)."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any
from pathlib import Path

import pytest

import netcore

# A run started in the background by a shell without job control inherits
# SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the
# Ctrl+C tests would wait forever for an interrupt that never comes.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "python"
C_EXAMPLES = ROOT / "build" / "examples"

# Every wait in this suite is bounded by this many seconds (big transfers
# get more).
# Every wait in the tests is for an event; this bound is only a hang guard,
# long enough for a loaded 2-core machine, and never part of what is asserted.
WAIT = 60.0


@pytest.fixture
def loop() -> Iterator[netcore.Loop]:
    with netcore.Loop() as lp:
        yield lp


def has_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def listen_local(loop: netcore.Loop) -> tuple[int, int]:
    """A listener on 127.0.0.1 with a free port: (handle, port)."""
    listener = loop.listen("127.0.0.1", 0)
    return listener, loop.local_address(listener)[1]


def exception_contexts() -> list[dict[str, Any]]:
    """The contexts the running loop's exception handler gets from now on."""
    contexts: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: contexts.append(ctx))
    return contexts


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        pytest.skip(f"needs {needed} descriptors, ulimit -n is {soft}")


class Pump:
    """Polls a loop, records every event, and waits for conditions.

    ``on_event`` hooks (per kind or for all) run for each event as it arrives.
    """

    def __init__(self, lp: netcore.Loop) -> None:
        self.loop = lp
        self.events: list[netcore.Event] = []
        self.by_handle: dict[int, list[netcore.Event]] = defaultdict(list)
        self.received: dict[int, bytearray] = defaultdict(bytearray)
        self.closed: dict[int, netcore.Event] = {}
        self.hooks: list[Callable[[netcore.Event], None]] = []

    def kinds(self, handle: int) -> list[str]:
        return [e.kind for e in self.by_handle[handle]]

    def first(self, handle: int, kind: str) -> netcore.Event:
        for e in self.by_handle[handle]:
            if e.kind == kind:
                return e
        raise AssertionError(f"no {kind!r} event for handle {handle}: {self.kinds(handle)}")

    def of_kind(self, kind: str) -> list[netcore.Event]:
        return [e for e in self.events if e.kind == kind]

    def step(self, timeout: float = 0.05) -> list[netcore.Event]:
        batch = self.loop.poll(timeout)
        for ev in batch:
            self.events.append(ev)
            self.by_handle[ev.handle].append(ev)
            if ev.kind == "data" and ev.data is not None:
                self.received[ev.handle] += ev.data
            elif ev.kind == "closed":
                assert ev.handle not in self.closed, "closed reported twice"
                self.closed[ev.handle] = ev
            for hook in self.hooks:
                hook(ev)
        return batch

    def until(self, cond: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
        """Polls until cond() holds. `timeout` is a hang guard: never less than
        WAIT, so a slow machine cannot fail a test by being slow."""
        timeout = max(timeout, WAIT)
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            self.step(0.05)

    def settle(self, seconds: float) -> None:
        """Keeps polling for a while (e.g. to prove nothing else arrives)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.step(0.02)


class EchoServer:
    """An echo server on a loop driven by a Pump: handles EAGAIN by pausing
    the connection, keeping the unsent bytes and resending on "writable"."""

    def __init__(self, pump: Pump, host: str = "127.0.0.1") -> None:
        self.pump = pump
        lp = pump.loop
        self.listener = lp.listen(host, 0)
        self.port = lp.local_address(self.listener)[1]
        self.conns: set[int] = set()
        self.pending: dict[int, list[bytes]] = {}
        self.eof_seen: set[int] = set()
        pump.hooks.append(self.on_event)

    def on_event(self, ev: netcore.Event) -> None:
        lp = self.pump.loop
        h = ev.handle
        if ev.kind == "accepted" and ev.listener == self.listener:
            self.conns.add(h)
        elif h not in self.conns:
            return
        elif ev.kind == "data" and ev.data is not None:
            if h in self.pending:
                self.pending[h].append(ev.data)
                return
            try:
                lp.send(h, ev.data)
            except BlockingIOError:
                self.pending[h] = [ev.data]
                lp.pause(h)
        elif ev.kind == "writable":
            queue = self.pending.get(h, [])
            while queue:
                try:
                    lp.send(h, queue[0])
                except BlockingIOError:
                    return
                queue.pop(0)
            self.pending.pop(h, None)
            if h in self.eof_seen:
                lp.close(h)
            else:
                lp.resume(h)
        elif ev.kind == "eof":
            self.eof_seen.add(h)
            if h not in self.pending:
                lp.close(h)
        elif ev.kind == "closed":
            self.conns.discard(h)
            self.pending.pop(h, None)
            self.eof_seen.discard(h)


def run_env() -> dict[str, str]:
    """Environment for example subprocesses: unbuffered, this interpreter's paths."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env
