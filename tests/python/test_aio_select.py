"""netcore.aio's turn waits on asyncio's own EpollSelector and processes its
events natively (aio_loop.rs, ``select_and_process``): a copy of
``EpollSelector.select`` and ``BaseSelectorEventLoop._process_events``. Here
the copy and asyncio's own run on the same registered sockets and must agree:
the timeout epoll is given, the callbacks made ready (in order) and the
descriptors of cancelled handles unregistered. The copy runs only on the
CPython versions it was checked against; anything else takes asyncio's path."""

from __future__ import annotations

import asyncio
import select
import selectors
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import netcore.aio

# aio_loop.rs's SELECT_CHECKED_ON: where the native copy runs.
CHECKED_ON = {(3, 11), (3, 12), (3, 13)}
NATIVE = sys.version_info[:2] in CHECKED_ON

# Every wait here is for an event; this bound is only a hang guard.
WAIT = 60.0

# The clock every turn here sees (time.monotonic patched): the timeouts are
# exact, the timers due or not by their deadline alone.
NOW = 1000.0

ASYNCIO_SELECT = selectors.EpollSelector.select.__code__


@dataclass
class Poll:
    """One ``epoll.poll(timeout, max_events)`` call and what it returned."""

    timeout: float
    max_events: int
    by_asyncio: bool  # made by asyncio's Python EpollSelector.select
    events: list[tuple[int, int]]


class RecordingEpoll:
    """Stands in for an EpollSelector's ``select.epoll``: passes everything
    on and records each ``poll()``; with ``replay`` set, returns it in place
    of what epoll returned (once they are the same events, in any order), so
    that two loops process the same events in the same order."""

    def __init__(self, epoll: select.epoll) -> None:
        self.epoll = epoll
        self.polls: list[Poll] = []
        self.replay: list[tuple[int, int]] | None = None

    def poll(self, timeout: float, max_events: int) -> list[tuple[int, int]]:
        events = self.epoll.poll(timeout, max_events)
        caller = sys._getframe(1).f_code
        self.polls.append(Poll(timeout, max_events, caller is ASYNCIO_SELECT, events))
        if self.replay is None:
            return events
        assert sorted(events) == sorted(self.replay)
        return self.replay

    def __getattr__(self, name: str) -> Any:
        return getattr(self.epoll, name)


# The sockets registered (name: reader's and writer's callback name, or
# None); the readers' sockets have data waiting but "idle"'s.
REGISTERED: dict[str, tuple[str | None, str | None]] = {
    "readable": ("readable", None),
    "readable tcp": ("readable tcp", None),
    "writable": (None, "writable"),
    "both": ("both: read", "both: write"),
    "idle": ("idle", None),
    "cancelled reader": ("cancelled reader", None),
    "cancelled reader, live writer": ("never", "live writer"),
    "cancelled writer": (None, "cancelled writer"),
    "removed": ("removed", None),
}
# Handles cancelled while registered (socket, 0: reader, 1: writer): skipped
# when ready, and that side of the socket unregistered.
CANCELLED = [("cancelled reader", 0), ("cancelled reader, live writer", 0), ("cancelled writer", 1)]
# What every turn here makes ready (in epoll's order, "both: read" first).
IO_READY = ["readable", "readable tcp", "writable", "both: read", "both: write", "live writer"]


@pytest.fixture
def sockets() -> Iterator[dict[str, socket.socket]]:
    """The sockets of REGISTERED (the ends the loops watch), connected
    pairs over loopback: data sent to each reader's but "idle"'s, and
    waited for, so that it is there when the loops look."""
    ends: list[socket.socket] = []
    watched: dict[str, socket.socket] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    ends += [client, server]
    watched["readable tcp"] = server
    for name in REGISTERED.keys() - {"readable tcp"}:
        ours, peer = socket.socketpair()
        ends += [ours, peer]
        watched[name] = ours
        if REGISTERED[name][0] is not None and name != "idle":
            peer.send(b"x")
    client.send(b"x")
    try:
        for name, sock in watched.items():
            if REGISTERED[name][0] is not None and name != "idle":
                assert select.select([sock], [], [], WAIT)[0] == [sock]
        yield watched
    finally:
        for end in ends:
            end.close()


def register(loop: asyncio.AbstractEventLoop, sockets: dict[str, socket.socket], ran: list[str]) -> None:
    """REGISTERED on `loop`, each callback appending its name to `ran`,
    CANCELLED cancelled and "removed" removed."""
    for name, (reader, writer) in REGISTERED.items():
        if reader is not None:
            loop.add_reader(sockets[name], ran.append, reader)
        if writer is not None:
            loop.add_writer(sockets[name], ran.append, writer)
    for name, side in CANCELLED:
        getattr(loop, "_selector").get_key(sockets[name]).data[side].cancel()
    loop.remove_reader(sockets["removed"])


def registered(loop: asyncio.AbstractEventLoop, sockets: dict[str, socket.socket]) -> dict[str, int]:
    """The events each socket is registered for on `loop` (0: none)."""
    keys = getattr(loop, "_selector").get_map()
    return {name: keys[sock.fileno()].events if sock.fileno() in keys else 0 for name, sock in sockets.items()}


@dataclass
class Turn:
    poll: Poll
    ran: list[str]
    registered: dict[str, int]


def one_turn(
    loop: asyncio.AbstractEventLoop,
    sockets: dict[str, socket.socket],
    arrange: Callable[[asyncio.AbstractEventLoop, list[str]], None],
    replay: list[tuple[int, int]] | None = None,
) -> Turn:
    """One turn of `loop` (closed after it) with REGISTERED and what
    `arrange` adds: its poll, the callbacks it ran, what stays registered."""
    ran: list[str] = []
    try:
        register(loop, sockets, ran)
        arrange(loop, ran)
        selector = getattr(loop, "_selector")
        epoll = selector._selector = RecordingEpoll(selector._selector)
        epoll.replay = replay
        getattr(loop, "_run_once")()
        [poll] = epoll.polls
        return Turn(poll, ran, registered(loop, sockets))
    finally:
        loop.close()


def call_soon(loop: asyncio.AbstractEventLoop, ran: list[str]) -> None:
    loop.call_soon(ran.append, "soon")


def timer_in(delay: float) -> Callable[[asyncio.AbstractEventLoop, list[str]], None]:
    def arrange(loop: asyncio.AbstractEventLoop, ran: list[str]) -> None:
        loop.call_at(NOW + delay, ran.append, "timer")

    return arrange


# What the loop holds besides the sockets, and the timeout epoll must be
# given for it (EpollSelector.select's rounding of _run_once's timeout).
TIMEOUTS: dict[str, tuple[Callable[[asyncio.AbstractEventLoop, list[str]], None], float]] = {
    # Nothing to wait for but I/O: None, epoll blocks (-1); the sockets wake it.
    "nothing else: block": (lambda loop, ran: None, -1),
    "a callback ready: poll": (call_soon, 0),
    "an overdue timer: poll": (timer_in(-1.0), 0),
    # Rounded up to epoll's whole millisecond, to wait at least that long
    # (milliseconds times 1e-3, as EpollSelector computes it).
    "a timer in 1 µs: 1 ms": (timer_in(1e-6), 1 * 1e-3),
    "a timer in 12.5 ms: 13 ms": (timer_in(0.0125), 13 * 1e-3),
    "a timer a year away: MAXIMUM_SELECT_TIMEOUT": (timer_in(365 * 86400.0), 86400_000 * 1e-3),
}


@pytest.mark.parametrize("case", list(TIMEOUTS))
def test_native_select_schedules_what_asyncio_s_does(
    case: str, sockets: dict[str, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "monotonic", lambda: NOW)
    arrange, timeout = TIMEOUTS[case]
    native = one_turn(netcore.aio.new_event_loop(), sockets, arrange)
    # asyncio's own loop on the same sockets, given the events epoll gave the native turn.
    reference = one_turn(asyncio.SelectorEventLoop(selectors.EpollSelector()), sockets, arrange, native.poll.events)

    assert native.poll.by_asyncio is not NATIVE and reference.poll.by_asyncio
    assert native.poll.timeout == reference.poll.timeout == timeout
    # One per descriptor registered: the sockets but "removed", and the loop's self-pipe.
    assert native.poll.max_events == reference.poll.max_events == len(REGISTERED)
    assert native.ran == reference.ran
    assert native.registered == reference.registered
    # What the turn checks is there: every ready callback ran once, reader
    # before writer; cancelled handles never, their side unregistered.
    extra = {"a callback ready: poll": ["soon"], "an overdue timer: poll": ["timer"]}.get(case, [])
    assert sorted(native.ran) == sorted(IO_READY + extra)
    assert native.ran.index("both: read") < native.ran.index("both: write")
    assert native.registered["cancelled reader"] == native.registered["cancelled writer"] == 0
    assert native.registered["cancelled reader, live writer"] == selectors.EVENT_WRITE
    assert native.registered["removed"] == 0
    assert native.registered["both"] == selectors.EVENT_READ | selectors.EVENT_WRITE


class SubclassedSelector(selectors.EpollSelector):
    """asyncio's EpollSelector under another class: the loop cannot know
    its select() is asyncio's, so asyncio's runs."""


class OwnProcessEvents(netcore.aio.EventLoop):
    """A loop with its own _process_events: the loop's runs."""

    processed: list[int] = []

    def _process_events(self, event_list: list[Any]) -> None:
        self.processed.append(len(event_list))
        super()._process_events(event_list)  # type: ignore[misc]


@pytest.mark.parametrize(
    "make",
    [lambda: netcore.aio.EventLoop(selector=SubclassedSelector()), OwnProcessEvents],
    ids=["subclassed selector", "own _process_events"],
)
def test_anything_but_asyncio_s_own_takes_asyncio_s_path(
    make: Callable[[], asyncio.AbstractEventLoop], sockets: dict[str, socket.socket]
) -> None:
    OwnProcessEvents.processed.clear()
    turn = one_turn(make(), sockets, lambda loop, ran: None)
    assert turn.poll.by_asyncio
    assert sorted(turn.ran) == sorted(IO_READY)
    assert turn.registered["cancelled reader, live writer"] == selectors.EVENT_WRITE
    if make is OwnProcessEvents:
        assert OwnProcessEvents.processed == [len(turn.poll.events)]


def test_a_python_version_not_checked_takes_asyncio_s_path() -> None:
    """With sys reporting a version not in CHECKED_ON at a loop's first
    turn (when netcore reads it; in a process of its own), the turn takes
    asyncio's path."""
    script = textwrap.dedent(
        f"""
        import collections, socket, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import netcore.aio
        from test_aio_select import RecordingEpoll

        Version = collections.namedtuple("version_info", "major minor micro releaselevel serial")
        sys.version_info = Version(3, {max(minor for _, minor in CHECKED_ON) + 1}, 0, "final", 0)

        loop = netcore.aio.new_event_loop()
        ours, peer = socket.socketpair()
        ran = []
        loop.add_reader(ours, ran.append, "readable")
        peer.send(b"x")
        loop._selector._selector = epoll = RecordingEpoll(loop._selector._selector)
        loop._run_once()
        print(ran, [poll.by_asyncio for poll in epoll.polls])
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n") == ["['readable'] [True]", ""]
