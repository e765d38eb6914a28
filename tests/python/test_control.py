"""Timers, timeouts, resilience and server control through the Python API.

Timers (order, repeat, cancel, 10,000 at once), idle timeout, connect timeout
against a full accept backlog, Happy Eyeballs (static host entries), family
forcing and local bind address, auto-reconnect, the connection cap, EMFILE (in
a child process with a lowered RLIMIT_NOFILE), graceful server shutdown, send
tokens, raw options and the raw fd, SO_LINGER, SO_REUSEPORT across two loops in
two threads, and UDP multicast on loopback.

Loopback only; every wait is bounded. Linux only (descriptors are counted in
/proc/self/fd, as the C suite does).
"""

from __future__ import annotations

import contextlib
import errno
import gc
import itertools
import json
import os
import select
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import netcore
from conftest import WAIT, Pump, has_ipv6, listen_local, run_env

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc/self/fd (Linux)"
)

# Linux's IP_MULTICAST_ALL (not in Python's socket module before 3.12).
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)


# ----------------------------------------------------------------- helpers


class Log:
    """Records (monotonic time, event) for everything a Pump sees."""

    def __init__(self, pump: Pump) -> None:
        self.entries: list[tuple[float, netcore.Event]] = []
        pump.hooks.append(self._on)

    def _on(self, ev: netcore.Event) -> None:
        self.entries.append((time.monotonic(), ev))

    def of(self, handle: int, kind: str) -> list[tuple[float, netcore.Event]]:
        return [(t, e) for t, e in self.entries if e.handle == handle and e.kind == kind]

    def times(self, handle: int, kind: str) -> list[float]:
        return [t for t, _ in self.of(handle, kind)]

    def index(self, handle: int, kind: str) -> int:
        for i, (_, e) in enumerate(self.entries):
            if e.handle == handle and e.kind == kind:
                return i
        raise AssertionError(f"no {kind!r} event for handle {handle}")


def count_fds() -> int:
    """Open descriptors of this process (not counting the listing's own)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd")) - 1


def count(pump: Pump, handle: int, kind: str) -> int:
    return pump.kinds(handle).count(kind)


def accepted_on(pump: Pump, listener: int) -> list[netcore.Event]:
    return [e for e in pump.of_kind("accepted") if e.listener == listener]


def conn_for(pump: Pump, listener: int, client: socket.socket) -> int:
    """The accepted handle whose peer is the POSIX socket `client`."""
    port = client.getsockname()[1]
    for e in accepted_on(pump, listener):
        if e.addr is not None and e.addr[1] == port:
            return e.handle
    raise AssertionError(f"no accepted connection has peer port {port}")


def close_on_eof(pump: Pump) -> None:
    """Accepted connections close (gracefully) once their peer half-closes."""
    lp = pump.loop

    def hook(ev: netcore.Event) -> None:
        if ev.kind == "eof" and ev.handle in {a.handle for a in pump.of_kind("accepted")}:
            with contextlib.suppress(netcore.ClosedError, netcore.BadHandleError):
                lp.close(ev.handle)

    pump.hooks.append(hook)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    """POSIX sockets a test opens; all closed at teardown."""
    held: list[socket.socket] = []
    yield held
    for s in held:
        s.close()


def posix_connect(held: list[socket.socket], port: int, host: str = "127.0.0.1", rcvbuf: int = 0) -> socket.socket:
    """A blocking POSIX client (completes in the kernel backlog)."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    held.append(s)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(WAIT)
    s.connect((host, port))
    return s


@contextlib.contextmanager
def stalled_listener(host: str, port: int = 0, ipv6_only: bool = False) -> Iterator[int]:
    """A netcore listener with backlog 1 on a loop that is never polled, its
    accept queue filled by connects: further SYNs to it go unanswered.
    Yields its port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    fillers: list[socket.socket] = []
    with netcore.Loop() as unpolled:
        listener = unpolled.listen(host, port, backlog=1, ipv6_only=ipv6_only)
        port = unpolled.local_address(listener)[1]
        try:
            for _ in range(16):
                s = socket.socket(family, socket.SOCK_STREAM)
                fillers.append(s)
                s.setblocking(False)
                rc = s.connect_ex((host, port))
                if rc == 0:
                    continue
                assert rc == errno.EINPROGRESS, os.strerror(rc)
                _, writable, _ = select.select([], [s], [], 0.2)
                if not writable:
                    break  # this one stalls: the queue is full
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                assert err == 0, f"filler connect failed: {os.strerror(err)}"
            else:
                raise AssertionError(f"the backlog of {host}:{port} never filled")
            yield port
        finally:
            for s in fillers:
                s.close()


class Reader(threading.Thread):
    """Reads a POSIX socket (bounded) until EOF or `want` bytes; answers the
    peer's FIN with its own."""

    def __init__(self, sock: socket.socket, want: int = 0, timeout: float = 20.0) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.want = want
        self.timeout = timeout
        self.data = bytearray()
        self.got = 0
        self.eof = False
        self.error: OSError | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        self.sock.setblocking(False)
        while time.monotonic() < deadline and (not self.want or self.got < self.want):
            readable, _, _ = select.select([self.sock], [], [], 0.05)
            if not readable:
                continue
            room = 65536 if not self.want else min(65536, self.want - self.got)
            try:
                chunk = self.sock.recv(room)
            except BlockingIOError:
                continue
            except OSError as e:
                self.error = e
                return
            if not chunk:
                self.eof = True
                self.sock.shutdown(socket.SHUT_WR)
                return
            self.data += chunk
            self.got += len(chunk)


def so_linger(loop: netcore.Loop, handle: int) -> tuple[int, int]:
    """(l_onoff, l_linger) of a handle's socket, read with get_raw_option."""
    raw = loop.get_raw_option(handle, socket.SOL_SOCKET, socket.SO_LINGER, 8)
    assert isinstance(raw, bytes) and len(raw) == 8, raw
    onoff, secs = struct.unpack("ii", raw)
    return onoff, secs


def pattern(n: int) -> bytes:
    block = bytes((i * 7 + 13) & 0xFF for i in range(4093))  # a prime period
    return (block * (n // len(block) + 1))[:n]


# ------------------------------------------------------------------ timers


def test_timers_fire_in_deadline_order_never_early(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    log = Log(pump)
    delays = [0.06, 0.02, 0.0, 0.04, 0.09]
    # each start bracketed by clock readings: a deadline is its start plus its delay
    before: list[float] = []
    after: list[float] = []
    handles: list[int] = []
    for d in delays:
        before.append(time.monotonic())
        handles.append(loop.timer(d, userdata=d))
        after.append(time.monotonic())
    for h in handles:
        assert loop.kind(h) == "timer"
    pump.until(lambda: all(h in pump.closed for h in handles), what="every timer to close")
    pump.settle(0.02)
    fired = [e.handle for _, e in log.entries if e.kind == "timer"]
    assert sorted(fired) == sorted(handles), "each timer fires once"
    # the order of two timers is checked whenever the brackets tell their
    # deadlines apart: every pair, unless the machine stalled ~20 ms between starts
    for i, j in itertools.permutations(range(len(delays)), 2):
        if after[i] + delays[i] < before[j] + delays[j]:
            assert fired.index(handles[i]) < fired.index(handles[j]), (
                f"the {delays[i]} s timer fired after the {delays[j]} s one"
            )
    for h, d, t0 in zip(handles, delays, before):
        assert pump.kinds(h) == ["timer", "closed"], f"timer {d}: {pump.kinds(h)}"
        assert pump.closed[h].error is None
        (t,) = log.times(h, "timer")
        assert t - t0 >= d - 0.001, f"the {d} s timer fired after {t - t0:.4f} s"
        # gone: the handle is stale
        with pytest.raises(netcore.BadHandleError):
            loop.close(h)
        with pytest.raises(netcore.BadHandleError):
            loop.kind(h)
    # a timer has no descriptor
    x = loop.timer(100)
    with pytest.raises(netcore.WrongKindError):
        loop.raw_fd(x)
    with pytest.raises(netcore.WrongKindError):
        loop.queued_bytes(x)  # nor a send queue
    loop.close(x)
    pump.until(lambda: x in pump.closed)
    assert pump.kinds(x) == ["closed"]


def test_repeating_timer_fires_until_closed(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    log = Log(pump)
    t0 = time.monotonic()
    r = loop.timer(0.01, 0.025)
    pump.until(lambda: count(pump, r, "timer") >= 6, what="6 firings")
    assert r not in pump.closed
    for n, t in enumerate(log.times(r, "timer")[:6]):
        due = 0.01 + 0.025 * n
        assert t - t0 >= due - 0.001, f"firing {n} after {t - t0:.4f} s, due at {due:.3f} s"
    # cancel: "closed", then nothing more
    loop.close(r)
    pump.until(lambda: r in pump.closed)
    fired = count(pump, r, "timer")
    pump.settle(0.1)
    assert count(pump, r, "timer") == fired
    assert pump.kinds(r)[-1] == "closed" and count(pump, r, "closed") == 1
    assert pump.closed[r].error is None


def test_timer_cancel_by_close(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    # the cancelled timers are due long after their close, however slow the machine
    one_shot = loop.timer(60)
    due_now = loop.timer(0)
    repeating = loop.timer(60, 0.03)
    kept = loop.timer(0.12)
    loop.close(due_now)  # due at once, cancelled before any poll
    pump.settle(0.01)
    loop.close(one_shot)
    loop.close(repeating)
    pump.until(lambda: kept in pump.closed)
    pump.settle(0.1)
    for h in (one_shot, due_now, repeating):
        assert pump.kinds(h) == ["closed"], f"a cancelled timer saw {pump.kinds(h)}"
        assert pump.closed[h].error is None
        with pytest.raises(netcore.BadHandleError):
            loop.close(h)
    assert pump.kinds(kept) == ["timer", "closed"]


def test_ten_thousand_timers_all_fire_none_early(loop: netcore.Loop) -> None:
    """How late is the machine's business: not asserted; early is a bug."""
    n = 10_000
    delays = [((i * 7919) % 201) / 1000 for i in range(n)]  # 0..200 ms, shuffled
    index: dict[int, int] = {}
    started = [0.0] * n
    t0 = time.monotonic()
    for i, d in enumerate(delays):
        started[i] = time.monotonic()
        index[loop.timer(d)] = i
    created = time.monotonic() - t0
    fired = [0] * n
    closed = [0] * n
    early: list[int] = []
    bad: list[str] = []
    nclosed = 0
    deadline = time.monotonic() + WAIT
    while nclosed < n and time.monotonic() < deadline:
        batch = loop.poll(0.05)
        now = time.monotonic()
        for ev in batch:
            i = index.get(ev.handle, -1)
            if i < 0:
                bad.append(f"event for unknown handle {ev.handle}")
            elif ev.kind == "timer":
                fired[i] += 1
                if now < started[i] + delays[i] - 0.001:
                    early.append(i)
            elif ev.kind == "closed":
                if fired[i] != 1 or closed[i]:
                    bad.append(f"timer {i}: closed after {fired[i]} firings ({closed[i]} closes)")
                closed[i] += 1
                nclosed += 1
            else:
                bad.append(f"timer {i}: {ev.kind}")
    assert sum(1 for f in fired if f) == n, f"{sum(1 for f in fired if f)} of {n} fired (creating took {created:.3f} s)"
    assert all(f == 1 for f in fired), "a timer fired twice"
    assert nclosed == n, f"{nclosed} of {n} closed"
    assert not bad, bad[:5]
    assert not early, f"{len(early)} timers fired early, e.g. {early[:5]}"
    assert loop.handle_count() == 0


# ------------------------------------------------------------ idle timeout


def test_idle_timeout_fires_on_silent_peer_not_on_busy_ones(
    loop: netcore.Loop, sockets: list[socket.socket]
) -> None:
    pump = Pump(loop)
    log = Log(pump)
    listener, port = listen_local(loop)
    silent_c = posix_connect(sockets, port)
    reading_c = posix_connect(sockets, port)  # the server reads: this client sends
    writing_c = posix_connect(sockets, port)  # the server writes
    pump.until(lambda: len(accepted_on(pump, listener)) == 3)
    silent = conn_for(pump, listener, silent_c)
    reading = conn_for(pump, listener, reading_c)
    writing = conn_for(pump, listener, writing_c)
    idle = 0.2
    t0 = time.monotonic()
    for h in (silent, reading, writing):
        loop.set_idle_timeout(h, idle)
    # I/O every ~20 ms; a loaded machine may leave a longer gap, after which
    # an idle event on a busy connection would be right
    longest_gap, last_io = 0.0, t0
    # at least 0.7 s, and on until the silent connection has fired twice (a
    # loaded machine may deliver late; WAIT is only a hang guard)
    while (time.monotonic() - t0 < 0.7 or count(pump, silent, "idle") < 2) and time.monotonic() - t0 < WAIT:
        reading_c.sendall(b"x")
        loop.send(writing, b"y")
        pump.settle(0.02)
        longest_gap, last_io = max(longest_gap, time.monotonic() - last_io), time.monotonic()
    elapsed = time.monotonic() - t0
    busy = longest_gap < idle
    assert count(pump, reading, "idle") == 0 or not busy, "a connection receiving data went idle"
    assert count(pump, writing, "idle") == 0 or not busy, "a connection sending data went idle"
    n = count(pump, silent, "idle")
    assert 2 <= n <= elapsed / idle + 1, f"{n} idle events in {elapsed:.3f} s (timeout {idle} s)"
    # each event fires a full timeout after the previous one fired, so the
    # i-th comes at least (i + 1) timeouts after t0, however late the one
    # before it was delivered
    for i, t in enumerate(log.times(silent, "idle")):
        assert t - t0 >= (i + 1) * idle - 0.001, f"idle event {i} came {t - t0:.4f} s after the timeout was set"

    assert silent not in pump.closed  # the application decides
    # any I/O resets it: the next idle event is a full timeout after the data
    pump.until(lambda: count(pump, silent, "idle") >= n + 1, timeout=2)
    pump.settle(0.1)
    sent_at = time.monotonic()
    silent_c.sendall(b"z")
    pump.until(lambda: count(pump, silent, "idle") >= n + 2, timeout=2)
    assert bytes(pump.received[silent]) == b"z"
    nxt = log.times(silent, "idle")[n + 1]
    assert nxt - sent_at >= idle - 0.001, (
        f"idle came {nxt - sent_at:.4f} s after data arrived: the data did not reset the timer"
    )
    # None turns it off
    loop.set_idle_timeout(silent, None)
    before = count(pump, silent, "idle")
    pump.settle(idle * 2 + 0.1)
    assert count(pump, silent, "idle") == before
    # a client-side connection has one too; a listener has none
    c = loop.connect("127.0.0.1", port)
    pump.until(lambda: "connected" in pump.kinds(c))
    loop.set_idle_timeout(c, 0.05)
    pump.until(lambda: count(pump, c, "idle") >= 2, timeout=2)
    with pytest.raises(netcore.WrongKindError):
        loop.set_idle_timeout(listener, 0.1)
    loop.set_idle_timeout(c, 0)  # off, as None (the core's rule, as in C and Node)


# --------------------------------------------------------- connect timeout


def test_connect_timeout_against_full_backlog(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    with stalled_listener("127.0.0.1") as port:
        fds_before = count_fds()
        t0 = time.monotonic()
        c = loop.connect("127.0.0.1", port, timeout=0.3)
        with pytest.raises(netcore.NotConnectedError):
            loop.raw_fd(c)  # still connecting: no descriptor for the caller
        pump.until(lambda: c in pump.closed, timeout=5)
        elapsed = time.monotonic() - t0
        assert pump.kinds(c) == ["connect_failed", "closed"]
        err = pump.first(c, "connect_failed").error
        assert isinstance(err, TimeoutError) and isinstance(err, netcore.TimeoutError), repr(err)
        assert err.errno == errno.ETIMEDOUT
        assert elapsed >= 0.299, f"timed out after {elapsed:.3f} s (timeout 0.3 s)"
        pump.settle(0.05)
        assert pump.kinds(c) == ["connect_failed", "closed"]
        assert count_fds() == fds_before, "a descriptor leaked from the timed-out connect"
        with pytest.raises(netcore.BadHandleError):
            loop.send(c, b"x")
    # the timeout covers connecting only: an established connection outlives it
    listener = loop.listen("127.0.0.1", 0)
    ok = loop.connect("127.0.0.1", loop.local_address(listener)[1], timeout=0.3)
    pump.until(lambda: "connected" in pump.kinds(ok))
    pump.settle(0.5)
    assert ok not in pump.closed
    loop.send(ok, b"alive")
    pump.until(lambda: any(bytes(pump.received[a.handle]) == b"alive" for a in accepted_on(pump, listener)))


# ----------------------------------------------------------- Happy Eyeballs


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback on this machine")
def test_happy_eyeballs_family_and_local_address(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener, port = listen_local(loop)
    with stalled_listener("::1", port, ipv6_only=True):
        loop.set_host_addresses("dual.test", ["::1", "127.0.0.1"])
        fds_before = count_fds()
        t0 = time.monotonic()
        c = loop.connect("dual.test", port, attempt_delay=0.1)
        pump.until(lambda: c in pump.closed or "connected" in pump.kinds(c), timeout=5)
        elapsed = time.monotonic() - t0
        assert pump.kinds(c) == ["connected"], f"{pump.kinds(c)}: {pump.closed.get(c)}"
        assert pump.first(c, "connected").addr == ("127.0.0.1", port)
        assert loop.peer_address(c) == ("127.0.0.1", port)
        assert elapsed >= 0.099, f"IPv4 connected after {elapsed:.3f} s, before the 0.1 s attempt delay"
        pump.until(lambda: len(accepted_on(pump, listener)) == 1)
        pump.settle(0.05)
        # the client socket and the accepted one; the losing IPv6 attempt is closed
        assert count_fds() == fds_before + 2, "the losing attempt's descriptor leaked"
        assert pump.kinds(c) == ["connected"]
        server = accepted_on(pump, listener)[0].handle
        loop.send(c, b"hi")
        pump.until(lambda: bytes(pump.received[server]) == b"hi")

        # IPv6 only: only the stalled address is tried
        c6 = loop.connect("dual.test", port, family="ipv6", timeout=0.3)
        pump.until(lambda: c6 in pump.closed, timeout=5)
        assert pump.kinds(c6) == ["connect_failed", "closed"]
        assert isinstance(pump.first(c6, "connect_failed").error, TimeoutError)
        assert len(accepted_on(pump, listener)) == 1
        pump.settle(0.02)
        assert count_fds() == fds_before + 2

        # IPv4 only, from a local address of our choosing (127.0.0.2 is loopback too)
        c4 = loop.connect("dual.test", port, family="ipv4", local_address=("127.0.0.2", 0))
        pump.until(lambda: c4 in pump.closed or "connected" in pump.kinds(c4), timeout=5)
        assert pump.kinds(c4) == ["connected"], f"{pump.kinds(c4)}: {pump.closed.get(c4)}"
        local = loop.local_address(c4)
        assert local[0] == "127.0.0.2"
        assert pump.first(c4, "connected").addr == ("127.0.0.1", port)
        pump.until(lambda: len(accepted_on(pump, listener)) == 2)
        assert accepted_on(pump, listener)[1].addr == local

        # an IPv4 local address cannot go with IPv6 only
        with pytest.raises(ValueError):
            loop.connect("dual.test", port, family="ipv6", local_address=("127.0.0.1", 0))

        # a port on any address ("", as socket.bind takes it): the peer's family's
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        c = loop.connect("127.0.0.1", port, local_address=("", free))
        pump.until(lambda: "connected" in pump.kinds(c) or c in pump.closed, timeout=5)
        assert loop.local_address(c) == ("127.0.0.1", free)
        with pytest.raises(netcore.InvalidArgumentError, match="local_port"):
            loop.connect("127.0.0.1", port, local_address=("", 1 << 16))


# ----------------------------------------------------------- auto-reconnect


def test_reconnect_server_goes_away_and_comes_back(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    log = Log(pump)
    close_on_eof(pump)
    listener, port = listen_local(loop)
    c = loop.connect("127.0.0.1", port, reconnect=[0.05, 0.12])
    pump.until(lambda: "connected" in pump.kinds(c) and len(accepted_on(pump, listener)) == 1)
    k1 = accepted_on(pump, listener)[0].handle
    loop.send(c, b"one")
    pump.until(lambda: bytes(pump.received[k1]) == b"one")

    # the server goes away
    t_loss = time.monotonic()
    loop.close_reset(k1)
    loop.close(listener)
    pump.until(lambda: listener in pump.closed)
    pump.until(lambda: count(pump, c, "reconnecting") >= 4, timeout=5)
    assert c not in pump.closed and "connect_failed" not in pump.kinds(c)
    rec = log.of(c, "reconnecting")
    assert [e.value for _, e in rec[:4]] == [1, 2, 3, 4]
    first_err = rec[0][1].error
    assert first_err is None or isinstance(first_err, ConnectionResetError), repr(first_err)
    for i in (1, 2, 3):
        assert isinstance(rec[i][1].error, ConnectionRefusedError), f"attempt {i + 1}: {rec[i][1].error!r}"
    # the schedule: 0.05, then 0.12 repeating. Each delay runs from the loss
    # or the failed attempt before it, so attempt i + 1 fails no earlier than
    # the sum of the delays before it after the loss, however late earlier
    # events were delivered.
    for i in (1, 2, 3):
        after = rec[i][0] - t_loss
        assert after >= 0.05 + 0.12 * (i - 1) - 0.001, f"attempt {i + 1} failed {after:.3f} s after the loss"
    # sent while reconnecting: queued for the next connection
    loop.send(c, b"queued")

    # the server comes back on the same port; the client reconnects by itself
    listener2 = loop.listen("127.0.0.1", port)
    pump.until(lambda: count(pump, c, "connected") == 2, timeout=5)
    assert c not in pump.closed
    assert loop.peer_address(c) == ("127.0.0.1", port)
    pump.until(lambda: len(accepted_on(pump, listener2)) == 1)
    k2 = accepted_on(pump, listener2)[0].handle
    pump.until(lambda: len(pump.received[k2]) >= 6)
    assert bytes(pump.received[k2]) == b"queued"
    loop.send(c, b"again")
    pump.until(lambda: len(pump.received[k2]) >= 11)
    assert bytes(pump.received[k2]) == b"queuedagain"
    loop.send(k2, b"back")
    pump.until(lambda: bytes(pump.received[c]) == b"back")

    # a second loss (the peer closes): attempts count from 1 again
    before = count(pump, c, "reconnecting")
    loop.close(k2)
    pump.until(lambda: count(pump, c, "reconnecting") == before + 1, timeout=5)
    assert log.of(c, "reconnecting")[before][1].value == 1
    pump.until(lambda: count(pump, c, "connected") == 3, timeout=5)
    pump.until(lambda: len(accepted_on(pump, listener2)) == 2)
    k3 = accepted_on(pump, listener2)[1].handle
    loop.send(c, b"third")
    pump.until(lambda: bytes(pump.received[k3]) == b"third")
    assert c not in pump.closed
    loop.close(c)
    pump.until(lambda: c in pump.closed)
    assert pump.closed[c].error is None


def test_reconnect_close_during_backoff_stops_it(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener, port = listen_local(loop)
    c = loop.connect("127.0.0.1", port, reconnect=[0.4])

    def close_on_reconnecting(ev: netcore.Event) -> None:
        # in the same batch as the event: the backoff cannot run out first
        if ev.handle == c and ev.kind == "reconnecting":
            loop.close(c)

    pump.hooks.append(close_on_reconnecting)
    pump.until(lambda: "connected" in pump.kinds(c) and len(accepted_on(pump, listener)) == 1)
    loop.close_reset(accepted_on(pump, listener)[0].handle)
    pump.until(lambda: c in pump.closed)
    pump.settle(0.7)  # well past the 0.4 s backoff
    assert count(pump, c, "closed") == 1
    assert pump.kinds(c)[-1] == "closed", f"events after closed: {pump.kinds(c)}"
    assert count(pump, c, "connected") == 1
    assert count(pump, c, "reconnecting") == 1
    assert len(accepted_on(pump, listener)) == 1, "a closed handle reconnected"
    with pytest.raises(netcore.BadHandleError):
        loop.send(c, b"x")
    with pytest.raises(netcore.BadHandleError):
        loop.close(c)
    # a connection without auto-reconnect just closes
    plain = loop.connect("127.0.0.1", port)
    pump.until(lambda: len(accepted_on(pump, listener)) == 2)
    loop.close_reset(accepted_on(pump, listener)[1].handle)
    pump.until(lambda: plain in pump.closed, timeout=5)
    assert "reconnecting" not in pump.kinds(plain)


# ---------------------------------------------------------- connection cap


def test_max_connections_eleventh_waits_until_one_closes(
    loop: netcore.Loop, sockets: list[socket.socket]
) -> None:
    pump = Pump(loop)
    close_on_eof(pump)
    listener, port = listen_local(loop)
    loop.set_max_connections(listener, 10)
    clients = [posix_connect(sockets, port) for _ in range(12)]
    pump.until(lambda: len(accepted_on(pump, listener)) == 10)
    pump.settle(0.2)
    assert len(accepted_on(pump, listener)) == 10, "accepted past the cap of 10"
    # we close one: the 11th comes in
    first = accepted_on(pump, listener)[0].handle
    loop.close(first)
    pump.until(lambda: len(accepted_on(pump, listener)) == 11, timeout=5)
    assert first in pump.closed
    pump.settle(0.1)
    assert len(accepted_on(pump, listener)) == 11
    # the peer closes one: the 12th comes in
    second = accepted_on(pump, listener)[1]
    assert second.addr is not None
    victim = next(s for s in clients if s.getsockname()[1] == second.addr[1])
    victim.close()
    pump.until(lambda: second.handle in pump.closed, timeout=5)
    pump.until(lambda: len(accepted_on(pump, listener)) == 12, timeout=5)
    # the late ones work
    last = accepted_on(pump, listener)[11]
    assert last.addr is not None
    late = next(s for s in clients if s.fileno() >= 0 and s.getsockname()[1] == last.addr[1])
    late.sendall(b"late")
    pump.until(lambda: bytes(pump.received[last.handle]) == b"late")
    # 0 lifts the cap
    loop.set_max_connections(listener, 0)
    posix_connect(sockets, port)
    pump.until(lambda: len(accepted_on(pump, listener)) == 13)
    with pytest.raises(netcore.WrongKindError):
        loop.set_max_connections(last.handle, 5)


def test_max_connections_as_a_listen_keyword(loop: netcore.Loop, sockets: list[socket.socket]) -> None:
    """The cap given to listen / listen_unix holds from the first accept."""
    pump = Pump(loop)
    tcp = loop.listen("127.0.0.1", 0, max_connections=1)
    port = loop.local_address(tcp)[1]
    path = f"@netcore-py-cap-{os.getpid()}"
    unix = loop.listen_unix(path, max_connections=1)
    for _ in range(2):
        posix_connect(sockets, port)
        loop.connect_unix(path)
    pump.until(lambda: len(accepted_on(pump, tcp)) == 1 and len(accepted_on(pump, unix)) == 1)
    pump.settle(0.2)
    assert (len(accepted_on(pump, tcp)), len(accepted_on(pump, unix))) == (1, 1), "accepted past the cap of 1"
    with pytest.raises(ValueError):
        loop.listen("127.0.0.1", 0, max_connections=-1)
    with pytest.raises(netcore.InvalidArgumentError, match="max_connections"):
        loop.listen("127.0.0.1", 0, max_connections=2**32)


# ------------------------------------------------------------------ EMFILE

# The child: an echo server whose RLIMIT_NOFILE leaves it HEADROOM spare
# descriptors. It talks to the parent through stdin (single bytes: F = the
# flood is in, D = done) and stdout (lines: PORT n, READY, REPORT {json}); its
# exit status is the failed step (0 = all well).
EMFILE_CHILD = r"""
import json, os, resource, select, sys, time
import netcore

FLOOD, HEADROOM = int(sys.argv[1]), int(sys.argv[2])
report = {"step": 0, "msg": "", "accepted": 0, "errors": 0, "error_errno": None,
          "error_type": None, "cpu": None, "wall": None, "accepted_after": 0}

def finish(step, msg=""):
    report["step"] = step
    report["msg"] = msg
    sys.stdout.write("REPORT " + json.dumps(report) + "\n")
    sys.stdout.flush()
    os._exit(step)

lp = netcore.Loop()
listener = lp.listen("127.0.0.1", 0)
port = lp.local_address(listener)[1]
st = {"accepted": 0, "closed": 0, "errors": []}
conns = set()

def pump(timeout):
    for ev in lp.poll(timeout):
        if ev.kind == "accepted":
            st["accepted"] += 1
            conns.add(ev.handle)
        elif ev.kind == "error" and ev.handle == listener:
            st["errors"].append(ev.error)
        elif ev.kind == "data":
            lp.send(ev.handle, ev.data)
        elif ev.kind == "eof":
            lp.close(ev.handle)
        elif ev.kind == "closed":
            st["closed"] += 1
            conns.discard(ev.handle)

stdin = sys.stdin.fileno()

def wait_byte(want, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pump(0.01)
        if select.select([stdin], [], [], 0)[0]:
            return os.read(stdin, 1) == want
    return False

# a few descriptors to spare, no more
open_now = len(os.listdir("/proc/self/fd")) - 1
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (open_now + HEADROOM, hard))
print("PORT", port, flush=True)

if not wait_byte(b"F", 10):
    finish(15, "no flood")
deadline = time.monotonic() + 5
while not st["errors"] and time.monotonic() < deadline:
    pump(0.02)
if not st["errors"]:
    finish(16, "no error event on the listener after %d accepts" % st["accepted"])
err = st["errors"][0]
report["error_errno"] = err.errno
report["error_type"] = type(err).__name__
if st["accepted"] >= FLOOD:
    finish(18, "all %d accepted: no shortage" % st["accepted"])
# about a second at the limit: the loop must not spin
report["accepted"] = st["accepted"]
c0, w0 = time.process_time(), time.monotonic()
while time.monotonic() - w0 < 1.0:
    pump(0.1)
report["cpu"] = time.process_time() - c0
report["wall"] = time.monotonic() - w0
report["errors"] = len(st["errors"])
if st["accepted"] != report["accepted"]:
    finish(19, "accepted %d more while out of descriptors" % (st["accepted"] - report["accepted"]))
# free descriptors: close every connection held
held = list(conns)
for h in held:
    lp.close(h)
deadline = time.monotonic() + 5
while st["closed"] < len(held) and time.monotonic() < deadline:
    pump(0.02)
if st["closed"] < len(held):
    finish(23, "%d of %d closed" % (st["closed"], len(held)))
print("READY", flush=True)
# the parent closes its flood and connects a new client, which we echo
if not wait_byte(b"D", 20):
    finish(25, "the parent's new client was not served")
report["accepted_after"] = st["accepted"] - report["accepted"]
finish(0)
"""


class LineReader:
    """Lines from a child's stdout pipe, each wait bounded."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return ""
            if select.select([self.fd], [], [], left)[0]:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    return ""
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()


def test_emfile_no_spin_and_serves_again(sockets: list[socket.socket]) -> None:
    flood_n, headroom = 14, 10
    proc = subprocess.Popen(
        [sys.executable, "-c", EMFILE_CHILD, str(flood_n), str(headroom)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=run_env(),
    )
    assert proc.stdin is not None
    lines = LineReader(proc)
    report: dict[str, object] = {}
    failure = ""
    flood: list[socket.socket] = []
    try:
        first = lines.line(WAIT)
        if not first.startswith("PORT "):
            failure = f"the child did not report its port: {first!r}"
        else:
            port = int(first.split()[1])
            for _ in range(flood_n):
                flood.append(posix_connect(sockets, port))  # complete in the kernel backlog
            proc.stdin.write(b"F")
            ready = lines.line(2 * WAIT)
            if ready.startswith("REPORT "):
                report = json.loads(ready[7:])
                failure = "the child did not get through the shortage"
            elif ready != "READY":
                failure = f"the child did not get through the shortage: {ready!r}"
            else:
                # our flood goes away too; then a new client must be served
                for s in flood:
                    s.close()
                c = posix_connect(sockets, port)
                c.sendall(b"served again")
                echoed = b""
                deadline = time.monotonic() + WAIT
                while len(echoed) < 12 and time.monotonic() < deadline:
                    chunk = c.recv(64)
                    if not chunk:
                        break
                    echoed += chunk
                if echoed != b"served again":
                    failure = f"a new client after freeing descriptors got {echoed!r}"
                proc.stdin.write(b"D")
                last = lines.line(WAIT)
                if last.startswith("REPORT "):
                    report = json.loads(last[7:])
                elif not failure:
                    failure = f"the child sent no report: {last!r}"
        try:
            rc = proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(WAIT)
            failure = failure or "the child hung (killed)"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stdin.close()
        if proc.stdout is not None:
            proc.stdout.close()
        proc.stderr.close()
    assert not report or report.get("step") == 0, f"child: {report}; stderr: {stderr[-2000:]}"
    assert not failure, f"{failure}; child report {report}; stderr: {stderr[-2000:]}"
    assert report, f"no report from the child; stderr: {stderr[-2000:]}"
    assert rc == 0, f"the child exited with {rc}; stderr: {stderr[-2000:]}"
    accepted = report["accepted"]
    assert isinstance(accepted, int) and 0 < accepted < flood_n
    assert report["errors"] == 1, f"{report['errors']} error events for one shortage"
    assert report["error_errno"] == errno.EMFILE
    assert report["error_type"] == "ResourceError"
    cpu = report["cpu"]
    assert isinstance(cpu, float) and cpu < 0.3, f"{cpu} s of CPU in {report['wall']} s at the descriptor limit"
    accepted_after = report["accepted_after"]
    assert isinstance(accepted_after, int) and accepted_after >= 1


# -------------------------------------------------------- graceful shutdown


def server_with_queued_client(
    loop: netcore.Loop, pump: Pump, sockets: list[socket.socket], data: bytes
) -> tuple[int, int, socket.socket, int]:
    """A listener and one accepted connection whose client has a 4 KiB receive
    buffer, with `data` queued toward it behind a 4 KiB send buffer (so nearly
    all of it waits in netcore's queue): (listener, port, client, connection)."""
    listener, port = listen_local(loop)
    client = posix_connect(sockets, port, rcvbuf=4096)
    pump.until(lambda: len(accepted_on(pump, listener)) == 1)
    conn = conn_for(pump, listener, client)
    loop.set_option(conn, netcore.HIGH_WATER, 16 << 20)
    loop.set_option(conn, netcore.SNDBUF, 4096)
    loop.send(conn, data)
    pump.settle(0.02)
    return listener, port, client, conn


def test_shutdown_server_flushes_readers(loop: netcore.Loop, sockets: list[socket.socket]) -> None:
    """Accepting stops at once; a reading client gets all that was queued and
    its connection closes cleanly; then shutdown_complete and closed, without
    waiting for the drain (an hour: the test does not race it)."""
    pump = Pump(loop)
    log = Log(pump)
    data = pattern(1 << 20)
    listener, port, reader_c, to_reader = server_with_queued_client(loop, pump, sockets, data)
    loop.shutdown_server(listener, 3600)
    with pytest.raises(netcore.ClosedError):
        loop.shutdown_server(listener, 3600)
    # no longer accepting: refused at once
    with pytest.raises(ConnectionRefusedError):
        posix_connect(sockets, port)
    rd = Reader(reader_c, timeout=WAIT)
    rd.start()
    pump.until(lambda: listener in pump.closed, what="the listener to close")
    rd.join(WAIT)
    assert rd.got == len(data), f"the reading client got {rd.got} of {len(data)} bytes"
    assert rd.data == data, "the reading client got different bytes"
    assert rd.eof and rd.error is None, f"the reading client: eof {rd.eof}, error {rd.error!r}"
    assert count(pump, to_reader, "closed") == 1 and pump.closed[to_reader].error is None
    # the listener: shutdown_complete then closed, after the connection closed
    assert pump.kinds(listener) == ["shutdown_complete", "closed"]
    assert pump.closed[listener].error is None
    assert log.index(listener, "shutdown_complete") > log.index(to_reader, "closed")
    pump.settle(0.02)
    assert pump.kinds(listener) == ["shutdown_complete", "closed"]
    with pytest.raises(netcore.BadHandleError):
        loop.shutdown_server(listener, 0.01)


def test_shutdown_server_resets_stuck_after_drain(
    loop: netcore.Loop, sockets: list[socket.socket]
) -> None:
    """A client that never reads is reset when the drain runs out (not
    before): closed with TimeoutError, the client sees the reset, then
    shutdown_complete and closed."""
    pump = Pump(loop)
    log = Log(pump)
    listener, _, stuck_c, to_stuck = server_with_queued_client(loop, pump, sockets, pattern(1 << 20))
    drain = 0.3
    t0 = time.monotonic()
    loop.shutdown_server(listener, drain)
    pump.until(lambda: listener in pump.closed, what="the listener to close")
    elapsed = time.monotonic() - t0
    stuck_err = pump.closed[to_stuck].error
    assert isinstance(stuck_err, TimeoutError) and stuck_err.errno == errno.ETIMEDOUT, repr(stuck_err)
    assert elapsed >= drain - 0.001, f"reset after {elapsed:.3f} s, before the {drain} s drain"
    assert pump.kinds(listener) == ["shutdown_complete", "closed"]
    assert log.index(listener, "shutdown_complete") > log.index(to_stuck, "closed")
    # the stuck client sees the reset (bounded: 4 KiB reads of at most the 1 MiB sent)
    stuck_c.settimeout(WAIT)
    reset = False
    for _ in range(1000):
        try:
            if not stuck_c.recv(65536):
                break
        except ConnectionResetError:
            reset = True
            break
    assert reset, "the stuck client was not reset"


def test_shutdown_server_with_nothing_open(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener, port = listen_local(loop)
    c = loop.connect("127.0.0.1", port)
    pump.until(lambda: "connected" in pump.kinds(c))
    with pytest.raises(netcore.WrongKindError):
        loop.shutdown_server(c, 0.01)
    loop.close(c)
    pump.until(lambda: len(accepted_on(pump, listener)) == 1)
    k = accepted_on(pump, listener)[0].handle
    pump.until(lambda: "eof" in pump.kinds(k))
    loop.close(k)
    pump.until(lambda: k in pump.closed)
    t0 = time.monotonic()
    loop.shutdown_server(listener, 60)
    pump.until(lambda: listener in pump.closed)
    assert time.monotonic() - t0 < 60, "the shutdown waited for the drain"
    assert pump.kinds(listener) == ["shutdown_complete", "closed"]
    # the port is free again
    again = loop.listen("127.0.0.1", port)
    assert loop.local_address(again)[1] == port


# --------------------------------------------------------------- send tokens


def stalled_connection(loop: netcore.Loop, sockets: list[socket.socket]) -> tuple[Pump, int, socket.socket, int]:
    """(pump, listener, client, k): the loop's connection k from a client
    socket that reads nothing yet, with small kernel buffers, so that a big
    send stays queued in netcore."""
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    client = posix_connect(sockets, loop.local_address(listener)[1], rcvbuf=4096)
    pump.until(lambda: len(accepted_on(pump, listener)) == 1)
    k = accepted_on(pump, listener)[0].handle
    loop.set_option(k, netcore.HIGH_WATER, 64 << 20)
    loop.set_option(k, netcore.SNDBUF, 65536)
    return pump, listener, client, k


def test_send_tokens_in_order_after_bytes_left(loop: netcore.Loop, sockets: list[socket.socket]) -> None:
    pump, listener, client, k = stalled_connection(loop, sockets)
    big = pattern(8 << 20)
    loop.send(k, b"small", token=1)
    loop.sendv(k, [memoryview(big)[: len(big) // 2], memoryview(big)[len(big) // 2 :]], token=2)
    loop.send(k, bytearray(b"tail"), token=3)

    def sent() -> list[int]:
        return [e.value for e in pump.by_handle[k] if e.kind == "sent"]

    pump.until(lambda: len(sent()) >= 1, timeout=5)
    pump.settle(0.3)
    assert sent() == [1], f"tokens {sent()} reported while the peer reads nothing (8 MiB queued)"
    # the peer reads everything; note how much it had read when token 2 came
    total = 5 + len(big) + 4
    rd = Reader(client, want=total, timeout=20)
    read_at: dict[int, int] = {}

    def on_sent(ev: netcore.Event) -> None:
        if ev.kind == "sent":
            read_at[ev.value] = rd.got

    pump.hooks.append(on_sent)
    rd.start()
    pump.until(lambda: len(sent()) >= 3, timeout=20, what="all 3 tokens")
    rd.join(25)
    assert sent() == [1, 2, 3]
    assert rd.got == total
    assert bytes(rd.data) == b"small" + big + b"tail"
    # when token 2 came, the peer had read all but what kernel buffers hold
    assert read_at[2] + (2 << 20) >= 5 + len(big), f"token 2 reported when the peer had read {read_at[2]} bytes"
    # tokens are for TCP connections only
    u = loop.udp_bind("127.0.0.1", 0)
    loop.udp_connect(u, "127.0.0.1", 9)
    with pytest.raises(netcore.WrongKindError):
        loop.send(u, b"x", token=9)
    with pytest.raises(netcore.WrongKindError):
        loop.send(listener, b"x", token=9)
    # a send that goes out at once is reported at the next poll
    loop.send(k, b"now", token=42)
    pump.until(lambda: len(sent()) == 4, timeout=5)
    assert sent()[-1] == 42


def test_notify_when_sent_waits_for_every_byte_sent_before(loop: netcore.Loop, sockets: list[socket.socket]) -> None:
    pump, listener, client, k = stalled_connection(loop, sockets)

    def sent() -> list[int]:
        return [e.value for e in pump.by_handle[k] if e.kind == "sent"]

    with pytest.raises(netcore.WrongKindError):
        loop.notify_when_sent(listener, 1)
    with pytest.raises(netcore.InvalidArgumentError):
        loop.notify_when_sent(k, -1)
    loop.notify_when_sent(k, 2**64 - 1)
    pump.until(lambda: sent() == [2**64 - 1], timeout=5, what="the notice with nothing queued")
    big = pattern(8 << 20)
    loop.send(k, big)
    loop.notify_when_sent(k, 7)
    pump.settle(0.3)
    assert len(sent()) == 1, "the notice came while the peer reads nothing (8 MiB queued)"
    rd = Reader(client, want=len(big), timeout=20)
    queued_at_notice: list[int] = []
    pump.hooks.append(lambda ev: ev.kind == "sent" and queued_at_notice.append(loop.queued_bytes(k)))
    rd.start()
    pump.until(lambda: len(sent()) == 2, timeout=20, what="the notice")
    rd.join(25)
    assert sent()[-1] == 7
    assert queued_at_notice == [0]
    assert bytes(rd.data) == big


# ------------------------------------------------------ raw options and fd


def test_raw_options_round_trip_and_errno(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    pump.until(lambda: "connected" in pump.kinds(c) and len(accepted_on(pump, listener)) == 1)
    u = loop.udp_bind("127.0.0.1", 0)
    for h, sock_type in ((c, socket.SOCK_STREAM), (listener, socket.SOCK_STREAM), (u, socket.SOCK_DGRAM)):
        loop.set_raw_option(h, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        assert loop.get_raw_option(h, socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        loop.set_raw_option(h, socket.SOL_SOCKET, socket.SO_KEEPALIVE, struct.pack("i", 0))
        # more room than needed: the bytes the OS wrote
        assert loop.get_raw_option(h, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 8) == struct.pack("i", 0)
        # unknown options: the OS's errno
        with pytest.raises(OSError) as set_err:
            loop.set_raw_option(h, socket.SOL_SOCKET, 9999, 1)
        assert set_err.value.errno == errno.ENOPROTOOPT
        assert isinstance(set_err.value, netcore.Error)
        with pytest.raises(OSError) as get_err:
            loop.get_raw_option(h, socket.SOL_SOCKET, 9999)
        assert get_err.value.errno == errno.ENOPROTOOPT
        # the descriptor is the socket: fstat, getsockname, getsockopt agree
        fd = loop.raw_fd(h)
        assert stat.S_ISSOCK(os.fstat(fd).st_mode)
        loop.set_raw_option(h, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s = socket.socket(fileno=fd)
        try:
            assert s.getsockname() == loop.local_address(h)
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == sock_type
        finally:
            s.detach()  # netcore owns it
    # a TCP-level option, on by default
    assert loop.get_raw_option(c, socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    # the core's one limit on a raw option's size, as socket.getsockopt's
    assert len(loop.get_raw_option(c, socket.SOL_SOCKET, socket.SO_KEEPALIVE, netcore.MAX_RAW_OPTION_SIZE)) == 4
    with pytest.raises(netcore.InvalidArgumentError, match="size: expected 1 to 1024 bytes"):
        loop.get_raw_option(c, socket.SOL_SOCKET, socket.SO_KEEPALIVE, netcore.MAX_RAW_OPTION_SIZE + 1)
    # an int value must fit a C int
    with pytest.raises(netcore.InvalidArgumentError, match="C int"):
        loop.set_raw_option(c, socket.SOL_SOCKET, socket.SO_KEEPALIVE, 2**40)
    # the connection still works
    server = accepted_on(pump, listener)[0].handle
    loop.send(c, b"ok")
    pump.until(lambda: bytes(pump.received[server]) == b"ok")


def test_linger_through_raw_so_linger(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    pump.until(lambda: "connected" in pump.kinds(c))
    for h in (c, listener):
        onoff, secs = so_linger(loop, h)
        assert onoff == 0  # off by default
        for value in (3, 0, 32767):
            loop.set_raw_option(h, socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, value))
            assert so_linger(loop, h) == (1, value)
        s = socket.socket(fileno=loop.raw_fd(h))
        try:
            assert struct.unpack("ii", s.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)) == (1, 32767)
        finally:
            s.detach()
        loop.set_raw_option(h, socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 0, 0))
        assert so_linger(loop, h)[0] == 0


def test_linger_option_get_set_range(loop: netcore.Loop) -> None:
    linger: int = getattr(netcore, "LINGER")
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    pump.until(lambda: "connected" in pump.kinds(c))
    for h in (c, listener):
        assert loop.get_option(h, linger) == -1  # off, the default
        assert loop.get_option(h, "linger") == -1  # type: ignore[arg-type]
        for value in (3, 0, 1, 32767, -1):
            loop.set_option(h, linger, value)
            assert loop.get_option(h, linger) == value
            onoff, secs = so_linger(loop, h)
            assert (onoff != 0) == (value >= 0)
            if value >= 0:
                assert secs == value
        loop.set_option(h, linger, 3)
        for bad in (-2, 32768, -100, 2**63 - 1, -(2**63)):
            with pytest.raises(ValueError):
                loop.set_option(h, linger, bad)
        assert loop.get_option(h, linger) == 3
    t = loop.timer(100)
    with pytest.raises(netcore.WrongKindError):
        loop.set_option(t, linger, 1)


def test_multicast_loop_and_ttl_options(loop: netcore.Loop) -> None:
    mc_loop: int = getattr(netcore, "MULTICAST_LOOP")
    mc_ttl: int = getattr(netcore, "MULTICAST_TTL")
    u = loop.udp_bind("127.0.0.1", 0)
    loop.set_option(u, mc_loop, 1)
    assert loop.get_option(u, mc_loop) == 1
    assert loop.get_option(u, "multicast_loop") == 1  # type: ignore[arg-type]
    loop.set_option(u, mc_ttl, 3)
    assert loop.get_option(u, mc_ttl) == 3
    assert loop.get_raw_option(u, socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 3
    with pytest.raises(ValueError):
        loop.set_option(u, mc_ttl, 256)
    with pytest.raises(ValueError):
        loop.set_option(u, mc_loop, 2)


def test_set_multicast_interface_takes_an_address_on_ipv4_and_an_index_on_ipv6(loop: netcore.Loop) -> None:
    u = loop.udp_bind("127.0.0.1", 0)
    assert loop.get_raw_option(u, socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4) == bytes(4)
    loop.set_multicast_interface(u, "127.0.0.1")
    assert loop.get_raw_option(u, socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4) == bytes([127, 0, 0, 1])
    with pytest.raises(netcore.InvalidArgumentError, match="interface"):
        loop.set_multicast_interface(u, "not an address")
    v6 = loop.udp_bind("::1", 0)
    loop.set_multicast_interface(v6, 0)
    with pytest.raises(netcore.InvalidArgumentError, match="interface"):
        loop.set_multicast_interface(v6, "127.0.0.1")
    with pytest.raises(netcore.WrongKindError):
        loop.set_multicast_interface(loop.timer(100), "127.0.0.1")


# ---------------------------------------------------------------- REUSEPORT


def test_reuse_port_two_loops_two_threads_both_accept(sockets: list[socket.socket]) -> None:
    with netcore.Loop() as la, netcore.Loop() as lb:
        a = la.listen("127.0.0.1", 0, reuse_port=True)
        port = la.local_address(a)[1]
        b = lb.listen("127.0.0.1", port, reuse_port=True)
        assert lb.local_address(b)[1] == port
        # without the flag the port is taken
        with netcore.Loop() as lc, pytest.raises(netcore.AddressInUseError):
            lc.listen("127.0.0.1", port)
        accepted = {"a": 0, "b": 0}
        errors: list[BaseException] = []
        stop = threading.Event()

        def run_b() -> None:
            try:
                while not stop.is_set():
                    for ev in lb.poll(0.02):
                        if ev.kind == "accepted" and ev.listener == b:
                            accepted["b"] += 1
            except BaseException as e:  # reported by the main thread
                errors.append(e)

        th = threading.Thread(target=run_b, daemon=True)
        th.start()
        clients = 0
        deadline = time.monotonic() + WAIT
        try:
            while (accepted["a"] == 0 or accepted["b"] == 0) and clients < 64 and time.monotonic() < deadline:
                posix_connect(sockets, port)
                clients += 1
                while accepted["a"] + accepted["b"] < clients and time.monotonic() < deadline:
                    for ev in la.poll(0.005):
                        if ev.kind == "accepted" and ev.listener == a:
                            accepted["a"] += 1
        finally:
            stop.set()
            th.join(WAIT)
        assert not th.is_alive()
        assert not errors, errors
        assert accepted["a"] > 0 and accepted["b"] > 0, f"after {clients} clients: {accepted} (both should accept)"
        assert accepted["a"] + accepted["b"] == clients


# ------------------------------------------------------------ UDP multicast


def test_udp_multicast_join_receive_leave(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    pid = os.getpid()
    group = f"239.78.{(pid >> 8) & 0xFF}.{(pid & 0xFF) | 1}"  # our own (parallel runs)
    rx = loop.udp_bind("0.0.0.0", 0)
    rport = loop.local_address(rx)[1]
    # only the groups this socket joined, not every group the host is in
    loop.set_raw_option(rx, socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    loop.add_membership(rx, group, "127.0.0.1")
    tx = loop.udp_bind("127.0.0.1", 0)
    tx_addr = loop.local_address(tx)
    loop.set_raw_option(tx, socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    assert loop.get_raw_option(tx, socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4) == socket.inet_aton("127.0.0.1")
    loop.set_raw_option(tx, socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    assert loop.get_raw_option(tx, socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP) == 1

    def datagrams(h: int) -> list[netcore.Event]:
        return [e for e in pump.by_handle[h] if e.kind == "datagram"]

    loop.send_to(tx, b"to the group", (group, rport))
    pump.until(lambda: len(datagrams(rx)) == 1, timeout=5)
    d = datagrams(rx)[0]
    assert d.data == b"to the group" and d.addr == tx_addr
    # reply to the sender's address
    assert d.addr is not None
    loop.send_to(rx, b"reply", d.addr)
    pump.until(lambda: len(datagrams(tx)) == 1, timeout=5)
    assert datagrams(tx)[0].data == b"reply" and datagrams(tx)[0].addr == ("127.0.0.1", rport)

    # leave: group datagrams stop, unicast still arrives
    loop.drop_membership(rx, group, "127.0.0.1")
    loop.send_to(tx, b"gone", (group, rport))
    pump.settle(0.3)
    assert len(datagrams(rx)) == 1, "a datagram to the group arrived after leaving it"
    loop.send_to(tx, b"unicast", ("127.0.0.1", rport))
    pump.until(lambda: len(datagrams(rx)) == 2, timeout=5)
    assert datagrams(rx)[1].data == b"unicast"
    # leaving again is the OS's error; a unicast address is no group
    with pytest.raises(OSError):
        loop.drop_membership(rx, group, "127.0.0.1")
    with pytest.raises(ValueError):
        loop.add_membership(rx, "127.0.0.1", "127.0.0.1")
    with pytest.raises(ValueError):
        loop.add_membership(rx, "not an ip", "127.0.0.1")
    assert not pump.of_kind("error")
