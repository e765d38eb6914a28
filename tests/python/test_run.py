"""Loop.run(callback, on_data=...): "data" events as on_data(handle, bytes)."""

from __future__ import annotations

import time

import pytest

import netcore
from conftest import WAIT, Pump


def connected_pair(loop: netcore.Loop) -> tuple[int, int]:
    """(server side, client side) of a loopback connection, both up."""
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    pump = Pump(loop)
    pump.until(lambda: bool(pump.of_kind("accepted")) and "connected" in pump.kinds(c))
    return pump.of_kind("accepted")[0].handle, c


def test_on_data_gets_data_in_order_and_callback_the_rest(loop: netcore.Loop) -> None:
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    loop.frame_delimited(c, b"\n")
    lines = [f"line {i}".encode() for i in range(200)]
    for line in lines:
        loop.send(c, line + b"\n")
    kinds: list[str] = []
    echoed: list[bytes] = []
    server_side: set[int] = set()
    deadline = time.monotonic() + WAIT

    def on_event(ev: netcore.Event) -> None:
        kinds.append(ev.kind)
        if ev.kind == netcore.ACCEPTED:
            server_side.add(ev.handle)
        if time.monotonic() > deadline:
            loop.stop()

    def on_data(h: int, data: bytes) -> None:
        assert type(data) is bytes
        if h in server_side:
            loop.send(h, data)  # echo: the client cuts it back into lines
        else:
            assert h == c
            echoed.append(data)
            if len(echoed) == len(lines):
                loop.stop()

    loop.run(on_event, on_data=on_data)
    assert echoed == lines
    assert "accepted" in kinds and "connected" in kinds
    assert "data" not in kinds


def test_on_data_exception_stops_run_and_keeps_the_rest(loop: netcore.Loop) -> None:
    s, c = connected_pair(loop)
    loop.frame_fixed(c, 1)
    loop.send(s, b"abcdef")  # one read on c: six one-byte frames in one batch
    time.sleep(0.05)
    seen: list[bytes] = []

    def boom(h: int, data: bytes) -> None:
        seen.append(data)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        loop.run(lambda ev: None, on_data=boom)
    assert seen == [b"a"]

    # The kept events come first, to on_data again...
    def collect(h: int, data: bytes) -> None:
        assert h == c
        seen.append(data)
        if data == b"c":
            raise ValueError("c")

    with pytest.raises(ValueError, match="c"):
        loop.run(lambda ev: None, on_data=collect)
    assert seen == [b"a", b"b", b"c"]

    # ... or as Events to the callback when run() has no on_data...
    events: list[netcore.Event] = []

    def on_event(ev: netcore.Event) -> None:
        events.append(ev)
        raise ValueError("d")

    with pytest.raises(ValueError, match="d"):
        loop.run(on_event)
    assert [(e.kind, e.handle, e.data) for e in events] == [("data", c, b"d")]
    # ... and to poll().
    rest = [(e.kind, e.handle, e.data) for e in loop.poll(0)]
    assert rest == [("data", c, b"e"), ("data", c, b"f")]


def test_callback_exception_with_on_data_keeps_the_rest(loop: netcore.Loop) -> None:
    s, c = connected_pair(loop)
    loop.send(s, b"last words")
    loop.close(s)
    time.sleep(0.05)
    got: list[bytes] = []

    def on_event(ev: netcore.Event) -> None:
        raise RuntimeError(ev.kind)

    with pytest.raises(RuntimeError, match="eof"):
        loop.run(on_event, on_data=lambda h, data: got.append(data))
    assert got == [b"last words"]
    pump = Pump(loop)
    loop.close(c)
    pump.until(lambda: c in pump.closed)
    assert "eof" not in pump.kinds(c)  # delivered (and raised) once only


def test_on_data_none_delivers_data_events(loop: netcore.Loop) -> None:
    s, c = connected_pair(loop)
    loop.send(s, b"hi")
    got: list[netcore.Event] = []

    def on_event(ev: netcore.Event) -> None:
        got.append(ev)
        loop.stop()

    loop.run(on_event, on_data=None)
    assert [(e.kind, e.handle, e.data) for e in got] == [("data", c, b"hi")]


def test_on_data_must_be_callable(loop: netcore.Loop) -> None:
    with pytest.raises(TypeError, match="on_data"):
        loop.run(lambda ev: None, on_data=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        loop.run(lambda ev: None, 256, lambda h, d: None)  # type: ignore[call-arg]


def test_accepted_address_is_read_lazily(loop: netcore.Loop) -> None:
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    pump = Pump(loop)
    pump.until(lambda: bool(pump.of_kind("accepted")) and "connected" in pump.kinds(c))
    accepted = pump.of_kind("accepted")[0]
    assert accepted.addr == loop.local_address(c)
    assert accepted.addr == loop.peer_address(accepted.handle)
    assert "addr=('127.0.0.1', " in repr(accepted)
    assert pump.first(c, "connected").addr == loop.local_address(listener)


def test_on_data_may_keep_its_arguments(loop: netcore.Loop) -> None:
    """The argument tuple is reused between calls only when nothing kept it."""
    s, c = connected_pair(loop)
    loop.frame_fixed(c, 1)
    loop.send(s, b"xyz")
    time.sleep(0.05)
    kept: list[tuple[object, ...]] = []

    def on_data(*args: object) -> None:
        kept.append(args)
        if len(kept) == 3:
            loop.stop()

    loop.run(lambda ev: None, on_data=on_data)
    assert kept == [(c, b"x"), (c, b"y"), (c, b"z")]
    assert len({id(a) for a in kept}) == 3


def test_poll_from_a_run_callback_is_busy(loop: netcore.Loop) -> None:
    loop.timer(0)
    errors: list[BaseException] = []

    def on_event(ev: netcore.Event) -> None:
        try:
            loop.poll(0)
        except netcore.BusyError as e:
            errors.append(e)
        loop.stop()

    loop.run(on_event)
    assert errors  # "timer", and the one-shot timer's "closed" in the same batch
