"""Ctrl+C during blocking waits, wake() and other threads using a loop."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

import netcore
from conftest import EchoServer, Pump


def interrupt_after(delay: float) -> threading.Timer:
    t = threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGINT))
    t.start()
    return t


def test_keyboard_interrupt_during_blocking_poll(loop: netcore.Loop) -> None:
    loop.listen("127.0.0.1", 0)
    timer = interrupt_after(0.2)
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.poll()  # no timeout: only the interrupt can end it
    finally:
        timer.cancel()
    # the loop still works afterwards
    assert loop.poll(0) == []


def test_keyboard_interrupt_during_long_timeout(loop: netcore.Loop) -> None:
    timer = interrupt_after(0.1)
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.poll(60)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - start
    assert elapsed < 60, f"the interrupt waited for the poll's timeout ({elapsed:.3f} s)"


def test_keyboard_interrupt_during_run(loop: netcore.Loop) -> None:
    seen: list[netcore.Event] = []
    timer = interrupt_after(0.2)
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run(seen.append)  # nothing to do: only the interrupt can end it
    finally:
        timer.cancel()


def test_signal_from_other_thread_while_signal_goes_to_another_thread(loop: netcore.Loop) -> None:
    """The signal may be delivered to a thread other than the polling one:
    the 50 ms slices still notice it."""
    blocker = threading.Event()

    def busy() -> None:
        blocker.wait(2)

    t = threading.Thread(target=busy)
    t.start()
    timer = threading.Timer(0.2, lambda: signal.pthread_kill(t.ident or 0, signal.SIGINT))
    timer.start()
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.poll(5)
    finally:
        timer.cancel()
        blocker.set()
        t.join()
    assert time.monotonic() - start < 1.0


def test_wake_from_another_thread(loop: netcore.Loop) -> None:
    threading.Timer(0.2, loop.wake).start()
    start = time.monotonic()
    assert loop.poll() == []
    elapsed = time.monotonic() - start
    assert 0.15 < elapsed < 1.0
    # a wake with no poll waiting makes the next poll return at once
    loop.wake()
    start = time.monotonic()
    assert loop.poll(5) == []
    assert time.monotonic() - start < 0.5


def test_stop_run_from_another_thread(loop: netcore.Loop) -> None:
    threading.Timer(0.2, loop.stop).start()
    start = time.monotonic()
    loop.run(lambda ev: None)
    assert time.monotonic() - start < 1.0


def test_run_with_callback_and_stop(loop: netcore.Loop) -> None:
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    loop.send(c, b"hi")
    seen: list[str] = []

    def on_event(ev: netcore.Event) -> None:
        seen.append(ev.kind)
        if ev.kind == "data":
            loop.stop()

    loop.run(on_event)
    assert "accepted" in seen and "connected" in seen and seen[-1] == "data"


def test_run_callback_exception_keeps_remaining_events(loop: netcore.Loop) -> None:
    for i in range(3):
        loop.timer(0, userdata=i)
    time.sleep(0.01)
    first: list[netcore.Event] = []

    def explode(ev: netcore.Event) -> None:
        first.append(ev)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        loop.run(explode)
    assert len(first) == 1
    pump = Pump(loop)
    pump.until(lambda: len(pump.of_kind("timer")) + len([e for e in first if e.kind == "timer"]) >= 3)
    pump.until(lambda: len(pump.closed) + len([e for e in first if e.kind == "closed"]) >= 3)
    timers = [e.userdata for e in first + pump.events if e.kind == "timer"]
    assert sorted(timers) == [0, 1, 2]


def test_other_thread_sends_while_loop_polls(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    server = EchoServer(pump)
    c = loop.connect("127.0.0.1", server.port)
    pump.until(lambda: "connected" in pump.kinds(c))
    expected = b"".join(f"line {i}\n".encode() for i in range(200))

    def writer() -> None:
        for i in range(200):
            loop.send(c, f"line {i}\n".encode())
            time.sleep(0.001)

    t = threading.Thread(target=writer)
    t.start()
    pump.until(lambda: len(pump.received[c]) >= len(expected), what="echo of the other thread's sends")
    t.join()
    assert bytes(pump.received[c]) == expected


def test_second_poller_is_busy(loop: netcore.Loop) -> None:
    errors: list[BaseException] = []
    started = threading.Event()

    def poller() -> None:
        started.set()
        loop.poll(0.5)

    t = threading.Thread(target=poller)
    t.start()
    started.wait()
    time.sleep(0.1)
    try:
        loop.poll(0)
    except netcore.BusyError as e:
        errors.append(e)
    t.join()
    assert errors and isinstance(errors[0], netcore.Error)


def test_gil_released_while_polling(loop: netcore.Loop) -> None:
    counter = 0
    done = threading.Event()

    def count() -> None:
        nonlocal counter
        while not done.is_set():
            counter += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        loop.poll(0.3)
    finally:
        done.set()
        t.join()
    assert counter > 10_000
