"""Durations and deadlines: the core's MAX_DURATION rule (a longer duration
is accepted and means "never"; negative and NaN durations are ValueError and
change nothing), and a host loop (asyncio) that does not spin before a
deadline; on real loopback sockets with bounded waits."""

from __future__ import annotations

import asyncio
import math
import socket
import sys

import pytest

import netcore
import netcore.aio
from conftest import WAIT, Pump, listen_local


def count(pump: Pump, handle: int, kind: str) -> int:
    return pump.kinds(handle).count(kind)


# Just beyond the maximum, sys.maxsize seconds (overflowed the core before),
# beyond any Duration, and infinity.
HUGE = [netcore.MAX_DURATION * 2, sys.maxsize, 1e300, math.inf]
BAD = [-1, -0.001, -math.inf, math.nan]


def settle(pump: Pump) -> None:
    """Polls without waiting until nothing is pending (bounded)."""
    for _ in range(100):
        if not pump.step(0) and pump.loop.next_timeout() != 0:
            return
    raise AssertionError("the loop kept producing events")


def connected(pump: Pump, port: int, **opts: object) -> tuple[int, int]:
    """A netcore connection to the loop's own listener: (client, server side)."""
    client = pump.loop.connect("127.0.0.1", port, **opts)  # type: ignore[arg-type]
    pump.until(lambda: "connected" in pump.kinds(client) and bool(pump.of_kind("accepted")), what="connected")
    return client, pump.of_kind("accepted")[-1].handle


def test_a_timer_beyond_max_duration_never_fires_and_closes_on_request(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    for huge in HUGE:
        never = loop.timer(huge)
        once = loop.timer(0.001, huge)
        pump.until(lambda: count(pump, once, "timer") == 1, what="the first firing")
        settle(pump)
        assert loop.next_timeout() is None, f"{huge}: neither timer has a deadline"
        assert once not in pump.closed, "a repeating timer stays open"
        loop.close(never)
        loop.close(once)
        pump.until(lambda: never in pump.closed and once in pump.closed)
        assert pump.kinds(never) == ["closed"]
        assert pump.kinds(once) == ["timer", "closed"]
    assert loop.handle_count() == 0


def test_negative_and_nan_durations_are_value_errors_that_change_nothing(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener, port = listen_local(loop)
    client, _ = connected(pump, port)
    before = loop.handle_count()
    for bad in BAD:
        calls = [
            lambda: loop.timer(bad),
            lambda: loop.timer(1, bad),
            lambda: loop.connect("127.0.0.1", port, timeout=bad),
            lambda: loop.connect("127.0.0.1", port, reconnect=[0.1, bad]),
            lambda: loop.set_idle_timeout(client, bad),
            lambda: loop.shutdown_server(listener, bad),
        ]
        for call in calls:
            with pytest.raises(ValueError):
                call()
    assert loop.handle_count() == before
    settle(pump)
    assert loop.next_timeout() is None, "no deadline was armed"
    loop.shutdown_server(listener, 1)  # the listener was not touched


def test_an_idle_timeout_beyond_max_duration_never_fires(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    _, port = listen_local(loop)
    client, server = connected(pump, port)
    for huge in HUGE:
        loop.set_idle_timeout(client, huge)
        settle(pump)
        assert loop.next_timeout() is None, f"{huge}: no idle deadline"
    loop.set_idle_timeout(server, 0.005)
    pump.until(lambda: "idle" in pump.kinds(server), what="a real idle timeout")
    assert "idle" not in pump.kinds(client)


def test_huge_connect_timeout_and_reconnect_delay_connect_then_wait_until_closed(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    _, port = listen_local(loop)
    for huge in HUGE:
        client, server = connected(pump, port, timeout=huge, reconnect=[huge])
        loop.close_reset(server)
        pump.until(lambda: "reconnecting" in pump.kinds(client), what="reconnecting")
        settle(pump)
        assert loop.next_timeout() is None, f"{huge}: the redial is never due"
        loop.close(client)
        pump.until(lambda: client in pump.closed)
        assert count(pump, client, "connected") == 1 and count(pump, client, "closed") == 1
        assert loop.handle_count() == 1, "only the listener is left"


def test_shutdown_server_with_a_drain_beyond_max_duration_completes_when_clients_close(
    loop: netcore.Loop,
) -> None:
    pump = Pump(loop)
    listener, port = listen_local(loop)
    with socket.create_connection(("127.0.0.1", port)) as peer:
        pump.until(lambda: bool(pump.of_kind("accepted")), what="accepted")
        loop.shutdown_server(listener, math.inf)
        peer.setblocking(False)

        def peer_saw_eof() -> bool:
            try:
                return peer.recv(1) == b""
            except BlockingIOError:
                return False

        pump.until(peer_saw_eof, what="the server side's FIN")
    pump.until(lambda: listener in pump.closed, what="the listener's closed")
    assert pump.kinds(listener) == ["shutdown_complete", "closed"]
    assert pump.closed[listener].error is None
    assert loop.handle_count() == 0


class CountingLoop(netcore.Loop):
    """A loop that counts the driver's polls (the asyncio driver calls poll
    through the instance)."""

    polls = 0

    def poll(self, *args: object, **kwargs: object) -> list[netcore.Event]:
        self.polls += 1
        return super().poll(*args, **kwargs)  # type: ignore[arg-type]


def test_the_asyncio_driver_polls_about_once_per_timer_tick() -> None:
    ticks, most = 40, 3 * 40 + 5

    async def main() -> tuple[int, int]:
        with CountingLoop() as nc:
            fired = 0
            done = asyncio.get_running_loop().create_future()

            def on_event(ev: netcore.Event) -> None:
                nonlocal fired
                if ev.kind == "timer":
                    fired += 1
                    if fired == ticks and not done.done():
                        done.set_result(None)

            with netcore.aio.attach(nc, on_event):
                nc.timer(0.005, 0.005)
                await asyncio.wait_for(done, WAIT)
            return fired, nc.polls

    fired, polls = asyncio.run(main())
    assert fired >= ticks
    assert polls <= most, f"{polls} polls for {ticks} ticks of a 5 ms timer"


def test_cancelled_timers_are_no_deadline_and_a_live_one_still_is(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    kept = loop.timer(7200)
    for _ in range(20_000):
        loop.close(loop.timer(3600))
        pump.step(0)
    settle(pump)
    next_timeout = loop.next_timeout()
    assert next_timeout is not None and next_timeout > 3600, "the live timer is the deadline"
    loop.close(kept)
    settle(pump)
    assert loop.next_timeout() is None, "a cancelled timer's expiry is no deadline"
    assert loop.handle_count() == 0
