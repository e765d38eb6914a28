"""netcore.aio's native loop core (call_soon's handles) behaves as asyncio's
selector loop does: the same scenarios run on both and must agree."""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import threading
from collections.abc import Callable
from typing import Any

import pytest

import netcore
import netcore.aio

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "netcore": netcore.aio.new_event_loop,
    "asyncio": asyncio.SelectorEventLoop,
}

current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="unset")


@pytest.fixture(params=sorted(LOOPS))
def loop(request: pytest.FixtureRequest) -> Any:
    lp = LOOPS[request.param]()
    yield lp
    lp.close()


def test_handles_are_native_out_of_debug_mode() -> None:
    lp = netcore.aio.new_event_loop()
    try:
        assert isinstance(lp.call_soon(print), netcore._netcore._Handle)
        assert isinstance(lp.call_later(1, print), netcore._netcore._TimerHandle)
        assert isinstance(lp.call_at(lp.time(), print), netcore._netcore._TimerHandle)
        # Debug mode keeps asyncio's own methods (their checks, their handles).
        lp.set_debug(True)
        assert isinstance(lp.call_soon(print), asyncio.Handle)
        assert isinstance(lp.call_later(1, print), asyncio.TimerHandle)
    finally:
        lp.close()


def test_native_and_asyncio_timers_share_the_heap() -> None:
    lp = netcore.aio.new_event_loop()
    ran: list[str] = []
    try:
        now = lp.time()
        lp.call_at(now + 0.02, ran.append, "native 2")
        lp.set_debug(True)
        lp.call_at(now + 0.01, ran.append, "asyncio 1")
        lp.call_at(now + 0.03, ran.append, "asyncio 3")
        lp.set_debug(False)
        lp.call_at(now + 0.005, ran.append, "native 0")
        lp.call_at(now + 0.04, lp.stop)
        lp.run_forever()
        assert ran == ["native 0", "asyncio 1", "native 2", "asyncio 3"]
    finally:
        lp.close()


def test_timer_repr_and_when(loop: asyncio.AbstractEventLoop) -> None:
    timer = loop.call_at(12.5, print, "x")
    assert timer.when() == 12.5
    assert repr(timer) == "<TimerHandle when=12.5 print('x')>"
    timer.cancel()
    assert repr(timer) == "<TimerHandle cancelled when=12.5>"


def test_cancelled_timers_are_counted_and_swept(loop: asyncio.AbstractEventLoop) -> None:
    timers = [loop.call_later(3600, print) for _ in range(300)]
    for timer in timers[:200]:
        timer.cancel()
        timer.cancel()
    assert getattr(loop, "_timer_cancelled_count") == 200
    loop.call_soon(loop.stop)
    loop.run_forever()
    # asyncio's sweep: most of the heap was cancelled, so all of them went.
    assert len(getattr(loop, "_scheduled")) == 100
    assert getattr(loop, "_timer_cancelled_count") == 0
    assert not any(t.cancelled() for t in getattr(loop, "_scheduled"))


def test_call_soon_runs_in_order(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[object] = []
    for i in range(5):
        loop.call_soon(ran.append, i)
    loop.call_soon(lambda *args: ran.append(args), "a", "b", "c", "d", "e")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ran == [0, 1, 2, 3, 4, ("a", "b", "c", "d", "e")]


def test_cancel_before_run(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[int] = []
    handle = loop.call_soon(ran.append, 1)
    assert not handle.cancelled()
    assert "append" in repr(handle)
    handle.cancel()
    handle.cancel()
    assert handle.cancelled()
    assert repr(handle) == "<Handle cancelled>"
    loop.call_soon(ran.append, 2)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ran == [2]


def test_a_callback_can_cancel_a_later_one(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[int] = []
    first = loop.call_soon(lambda: second.cancel())
    second = loop.call_soon(ran.append, 2)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ran == [] and not first.cancelled() and second.cancelled()


def test_exception_reaches_the_handler_as_asyncio_reports_it(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: seen.append(context))

    def fail(x: int) -> None:
        raise ValueError(x)

    handle = loop.call_soon(fail, 7)
    ran: list[int] = []
    loop.call_soon(ran.append, 1)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ran == [1]
    assert len(seen) == 1
    context = seen[0]
    assert sorted(context) == ["exception", "handle", "message"]
    assert context["handle"] is handle
    assert isinstance(context["exception"], ValueError) and context["exception"].args == (7,)
    assert context["message"].startswith("Exception in callback ")
    assert "fail(7)" in context["message"]


def test_keyboard_interrupt_propagates(loop: asyncio.AbstractEventLoop) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()


def test_callbacks_run_in_their_context(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []
    context = contextvars.copy_context()
    context.run(current.set, "given")
    current.set("caller")
    handle = loop.call_soon(lambda: seen.append(current.get()), context=context)
    # Handle.get_context: asyncio's from Python 3.12, netcore's always.
    assert getattr(handle, "get_context", lambda: context)() is context
    # No context: a copy of the caller's, taken now.
    loop.call_soon(lambda: seen.append(current.get()))
    loop.call_soon(lambda: seen.append(current.get()), context=None)
    current.set("later")
    loop.call_soon(current.set, "changed in a copy")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["given", "caller", "caller"]
    assert current.get() == "later"


def test_call_soon_on_a_closed_loop_raises(loop: asyncio.AbstractEventLoop) -> None:
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)


def test_call_soon_threadsafe_wakes_the_loop(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[str] = []

    async def main() -> None:
        done = asyncio.Event()

        def from_thread() -> None:
            ran.append(threading.current_thread().name)
            done.set()

        thread = threading.Thread(target=lambda: loop.call_soon_threadsafe(from_thread), name="waker")
        # Waiting on nothing else: only the wakeup brings the callback in.
        loop.call_later(0.05, thread.start)
        await asyncio.wait_for(done.wait(), 5)
        thread.join()

    loop.run_until_complete(main())
    assert ran == [threading.current_thread().name]


def test_tasks_and_futures_on_native_handles(loop: asyncio.AbstractEventLoop) -> None:
    async def child(n: int) -> tuple[str, int]:
        await asyncio.sleep(0)
        return current.get(), n * 2

    async def main() -> list[tuple[str, int]]:
        current.set("task")
        return list(await asyncio.gather(*(child(n) for n in range(10))))

    assert loop.run_until_complete(main()) == [("task", n * 2) for n in range(10)]


def test_stop_from_a_callback_runs_the_ones_already_ready(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[int] = []
    loop.call_soon(loop.stop)
    loop.call_soon(ran.append, 1)
    loop.run_forever()
    assert ran == [1]
    loop.call_soon(loop.stop)
    loop.run_forever()


def test_timers_run_in_deadline_order_and_cancelled_ones_do_not(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[str] = []
    now = loop.time()
    loop.call_at(now + 0.03, ran.append, "c")
    loop.call_at(now + 0.01, ran.append, "a1")
    # Equal deadlines: in the order they were scheduled.
    loop.call_at(now + 0.01, ran.append, "a2")
    loop.call_later(0.02, ran.append, "b")
    cancelled = loop.call_later(0.015, ran.append, "never")
    cancelled.cancel()
    assert cancelled.cancelled()
    timer = loop.call_at(now + 0.04, loop.stop)
    assert timer.when() == now + 0.04
    loop.run_forever()
    assert ran == ["a1", "a2", "b", "c"]


def test_create_task_names_contexts_and_factories(loop: asyncio.AbstractEventLoop) -> None:
    async def read() -> str:
        return current.get()

    context = contextvars.copy_context()
    context.run(current.set, "task context")

    async def main() -> None:
        named = loop.create_task(read(), name="named")
        assert named.get_name() == "named"
        assert await loop.create_task(read(), context=context) == "task context"
        made: list[object] = []

        def factory(lp: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> "asyncio.Task[Any]":
            task = asyncio.Task(coro, loop=lp, **kwargs)
            made.append(task)
            return task

        loop.set_task_factory(factory)
        task = loop.create_task(read())
        assert made == [task]
        loop.set_task_factory(None)
        await asyncio.gather(named, task)

    loop.run_until_complete(main())


def test_time_is_monotonic_looked_up_per_call(loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    assert abs(loop.time() - __import__("time").monotonic()) < 1
    monkeypatch.setattr("time.monotonic", lambda: 42.0)
    assert loop.time() == 42.0


def test_run_once_is_native_out_of_debug_mode() -> None:
    assert type(netcore.aio.EventLoop._run_once).__name__ == "method_descriptor"


def test_debug_mode_turned_on_by_a_callback_times_the_next_ones(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    current_handles: list[object] = []

    def turn_debug_on() -> None:
        loop.set_debug(True)
        loop.slow_callback_duration = 0

    # Both ready in the same turn: the second one already runs in debug mode.
    loop.call_soon(turn_debug_on)
    second = loop.call_soon(lambda: current_handles.append(getattr(loop, "_current_handle")))
    loop.call_soon(loop.stop)
    with caplog.at_level("WARNING", logger="asyncio"):
        loop.run_forever()
    assert current_handles == [second]
    assert getattr(loop, "_current_handle") is None
    slow = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Executing <Handle")]
    assert len(slow) == 2 and "took" in slow[0]


def test_handles_of_asyncio_in_the_queues_run_as_asyncio_runs_them(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[str] = []
    ready: Any = getattr(loop, "_ready")
    timers: list[Any] = getattr(loop, "_scheduled")
    ready.append(asyncio.Handle(ran.append, ("plain handle",), loop))
    cancelled = asyncio.Handle(ran.append, ("never",), loop)
    cancelled.cancel()
    ready.append(cancelled)
    now = loop.time()
    loop.call_at(now + 0.02, ran.append, "loop timer")
    heapq.heappush(timers, asyncio.TimerHandle(now + 0.01, ran.append, ("plain timer",), loop))
    gone = asyncio.TimerHandle(now + 0.015, ran.append, ("never",), loop)
    heapq.heappush(timers, gone)
    gone.cancel()
    loop.call_at(now + 0.03, loop.stop)
    loop.run_forever()
    assert ran == ["plain handle", "plain timer", "loop timer"]
    assert not getattr(gone, "_scheduled")


def test_equal_deadlines_keep_asyncio_s_order() -> None:
    """The heap's order of timers with equal deadlines is heapq's on both loops."""
    orders = []
    for make in (netcore.aio.new_event_loop, asyncio.SelectorEventLoop):
        lp = make()
        ran: list[int] = []
        try:
            now = lp.time()
            timers = [lp.call_at(now + 0.001 * (n % 3), ran.append, n) for n in range(40)]
            for timer in timers[::7]:
                timer.cancel()
            lp.call_at(now + 0.01, lp.stop)
            lp.run_forever()
        finally:
            lp.close()
        orders.append(ran)
    assert orders[0] == orders[1]


def test_an_interrupted_turn_leaves_the_rest_ready(loop: asyncio.AbstractEventLoop) -> None:
    ran: list[int] = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    loop.call_soon(interrupt)
    loop.call_soon(ran.append, 1)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert ran == []
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ran == [1]


def test_a_turn_outside_run_forever_sees_a_loop_its_callback_closed(loop: asyncio.AbstractEventLoop) -> None:
    refused: list[str] = []

    def close_then_schedule() -> None:
        loop.close()
        try:
            loop.call_soon(print)
        except RuntimeError as e:
            refused.append(str(e))

    loop.call_soon(close_then_schedule)
    getattr(loop, "_run_once")()
    assert refused == ["Event loop is closed"]


def test_settings_changed_by_a_callback_hold_for_the_next_ones_in_the_turn(loop: asyncio.AbstractEventLoop) -> None:
    """netcore's turn reads _debug and _task_factory once while they are
    unchanged: set_debug and set_task_factory from a callback still reach
    the next callbacks of the same turn."""
    seen: list[object] = []
    made: list[object] = []

    def factory(lp: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> "asyncio.Task[Any]":
        made.append(coro)
        return asyncio.Task(coro, loop=lp, **kwargs)

    async def nothing() -> None:
        pass

    def create_task() -> None:
        seen.append(loop.create_task(nothing()))

    # All ready in the same turn.
    loop.call_soon(lambda: seen.append(loop.get_debug()))
    loop.call_soon(create_task)
    loop.call_soon(loop.set_task_factory, factory)
    loop.call_soon(create_task)
    loop.call_soon(loop.set_debug, True)
    loop.call_soon(lambda: seen.append((loop.get_debug(), type(loop.call_soon(print)))))
    loop.call_soon(loop.set_debug, False)
    loop.call_soon(loop.set_task_factory, None)
    loop.call_soon(lambda: seen.append((loop.get_debug(), loop.get_task_factory())))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen[0] is False
    assert len(made) == 1 and made[0] is getattr(seen[2], "get_coro")()
    assert seen[3] == (True, asyncio.Handle)
    assert seen[4] == (False, None)
    loop.run_until_complete(asyncio.gather(seen[1], seen[2]))  # type: ignore[arg-type]
