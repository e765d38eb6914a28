"""Python's own edges: star imports, __index__ integers, Loop subclasses,
ResourceWarning for a loop never closed, buffers another thread changes."""

from __future__ import annotations

import builtins
import errno
import gc
import socket
import threading
import warnings
from pathlib import Path

import pytest

import netcore
from conftest import Pump, free_port, listen_local

# netcore's classes named like builtins: each is a subclass of the builtin.
BUILTIN_NAMED = [
    "BlockingIOError",
    "BrokenPipeError",
    "ConnectionAbortedError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "FileNotFoundError",
    "InterruptedError",
    "NotADirectoryError",
    "PermissionError",
    "TimeoutError",
]


class Index:
    """An integer only through __index__ (as numpy integers are)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


def test_star_import_shadows_no_builtin() -> None:
    namespace: dict[str, object] = {}
    exec("from netcore import *", namespace)
    shadowed = sorted(n for n in namespace if n != "__builtins__" and hasattr(builtins, n))
    assert shadowed == []
    assert "Loop" in namespace and "BadHandleError" in namespace


def test_errors_named_like_builtins_are_attributes_and_subclasses_of_the_builtins(
    loop: netcore.Loop, tmp_path: Path
) -> None:
    for name in BUILTIN_NAMED:
        cls = getattr(netcore, name)
        assert issubclass(cls, getattr(builtins, name)) and issubclass(cls, netcore.Error), name
        assert name not in netcore.__all__
    pump = Pump(loop)
    c = loop.connect("127.0.0.1", free_port())
    pump.until(lambda: c in pump.closed)
    err = pump.first(c, "connect_failed").error
    assert isinstance(err, netcore.ConnectionRefusedError) and isinstance(err, builtins.ConnectionRefusedError)
    assert err.errno == errno.ECONNREFUSED
    # A Unix socket's path: as socket.connect raises it (and asyncio's create_unix_connection).
    with pytest.raises(builtins.FileNotFoundError) as missing:
        loop.connect_unix(str(tmp_path / "nobody.sock"))
    assert isinstance(missing.value, netcore.FileNotFoundError) and missing.value.errno == errno.ENOENT
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(builtins.NotADirectoryError) as not_dir:
        loop.connect_unix(str(tmp_path / "file" / "x.sock"))
    assert isinstance(not_dir.value, netcore.NotADirectoryError) and not_dir.value.errno == errno.ENOTDIR


def test_integer_arguments_take_any_object_with_index(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", Index(0), backlog=Index(16))
    loop.set_max_connections(listener, Index(4))
    port = loop.local_address(listener)[1]
    c = loop.connect("127.0.0.1", Index(port))
    pump.until(lambda: "connected" in pump.kinds(c) and bool(pump.of_kind("accepted")))
    server = pump.of_kind("accepted")[0].handle
    loop.frame_fixed(server, Index(2))
    loop.set_option(Index(c), netcore.NODELAY, Index(0))  # type: ignore[arg-type]
    assert loop.get_option(c, netcore.NODELAY) == 0
    loop.set_raw_option(c, Index(socket.SOL_SOCKET), Index(socket.SO_KEEPALIVE), Index(1))
    assert loop.get_raw_option(c, socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    loop.send(Index(c), b"abcd", token=Index(7))  # type: ignore[arg-type]
    pump.until(lambda: len(pump.of_kind("data")) == 2 and bool(pump.of_kind("sent")))
    assert [e.data for e in pump.of_kind("data")] == [b"ab", b"cd"]
    assert pump.first(c, "sent").value == 7
    assert loop.poll(0, Index(8)) == []
    u = loop.udp_bind("127.0.0.1", Index(0))
    loop.send_to(u, b"dgram", ("127.0.0.1", Index(loop.local_address(u)[1])))
    pump.until(lambda: bool(pump.of_kind("datagram")))
    assert pump.first(u, "datagram").data == b"dgram"
    # bool is an int to Python's socket module too: port False is port 0.
    assert loop.local_address(loop.udp_bind("127.0.0.1", False))[1] != 0
    # Ranges still hold, and non-integers are still refused.
    with pytest.raises(netcore.InvalidArgumentError):
        loop.listen("127.0.0.1", Index(70000))
    with pytest.raises(TypeError):
        loop.listen("127.0.0.1", 1.0)  # type: ignore[arg-type]


def test_a_loop_subclass_takes_its_own_init_arguments() -> None:
    class NamedLoop(netcore.Loop):
        def __init__(self, name: str, *, ticks: int = 1) -> None:
            super().__init__()
            self.name = name
            self.ticks = ticks

    with NamedLoop("main", ticks=3) as lp:
        assert isinstance(lp, netcore.Loop) and (lp.name, lp.ticks) == ("main", 3)
        t = lp.timer(0)
        assert [(e.kind, e.handle) for e in lp.poll(5)][:1] == [("timer", t)]
    assert lp.closed

    class PlainLoop(netcore.Loop):
        pass

    for make in (lambda: netcore.Loop(1), lambda: netcore.Loop(x=1), lambda: PlainLoop(1)):  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="takes no arguments"):
            make()  # type: ignore[no-untyped-call]


def test_a_loop_collected_while_open_warns_and_closes() -> None:
    lp = netcore.Loop()
    _listener, port = listen_local(lp)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del lp
        gc.collect()
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(unclosed) == 1 and "unclosed netcore.Loop" in str(unclosed[0].message)
    # Closed: its listener is gone.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        closed = netcore.Loop()
        closed.close()
        del closed
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_view_of_a_bytearray_is_sent_as_it_was_at_the_send_call(loop: netcore.Loop) -> None:
    # Large enough for a send that releases the GIL (the rule for bytes).
    size = 256 * 1024
    pump = Pump(loop)
    _listener, port = listen_local(loop)
    c = loop.connect("127.0.0.1", port)
    pump.until(lambda: "connected" in pump.kinds(c) and bool(pump.of_kind("accepted")))
    server = pump.of_kind("accepted")[0].handle
    loop.frame_fixed(server, size)
    buf = bytearray(size)
    view = memoryview(buf).toreadonly()
    fills = [bytes([v]) * size for v in range(1, 9)]
    stop = threading.Event()

    def mutate() -> None:
        # Each assignment fills the whole buffer with one value, holding
        # the GIL: a send that holds it too sees one value only.
        while not stop.is_set():
            for f in fills:
                buf[:] = f

    mutator = threading.Thread(target=mutate)
    mutator.start()
    try:
        for i in range(1, 101):
            loop.send(c, view)
            pump.until(lambda: len(pump.of_kind("data")) == i, what=f"frame {i}")
    finally:
        stop.set()
        mutator.join()
    frames = [e.data for e in pump.of_kind("data") if e.data is not None]
    mixed = [i for i, f in enumerate(frames) if f.count(f[:1]) != size]
    assert len(frames) == 100 and mixed == [], f"frames with bytes of several sends: {mixed}"
