"""Errors: connect failures with the right classes and errno, and bad inputs,
each raising its documented exception (never a crash)."""

from __future__ import annotations

import errno
import socket

import pytest

import netcore
from conftest import Pump, free_port


def test_connect_refused(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    port = free_port()
    h = loop.connect("127.0.0.1", port, userdata="who")
    pump.until(lambda: h in pump.closed)
    assert pump.kinds(h) == ["connect_failed", "closed"]
    err = pump.first(h, "connect_failed").error
    assert isinstance(err, ConnectionRefusedError)
    assert isinstance(err, netcore.ConnectionRefusedError) and isinstance(err, netcore.Error)
    assert err.errno == errno.ECONNREFUSED
    assert err.name == "ECONNREFUSED" and err.code == "ECONNREFUSED"
    assert err.netcore_code == -errno.ECONNREFUSED
    assert pump.first(h, "connect_failed").userdata == "who"
    pump.step(0)  # a handle is gone from the poll after the one that delivered "closed"
    with pytest.raises(netcore.BadHandleError):
        loop.send(h, b"x")


def test_dns_failure(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    h = loop.connect("no-such-host.invalid", 80)
    pump.until(lambda: h in pump.closed, timeout=30, what="resolution to fail")
    err = pump.first(h, "connect_failed").error
    assert isinstance(err, netcore.DNSError)
    assert isinstance(err, socket.gaierror), "caught as asyncio code catches a name that does not resolve"
    assert err.name == "EDNS" and err.errno == -3002 and err.netcore_code == -3002


def test_address_in_use(loop: netcore.Loop) -> None:
    a = loop.listen("127.0.0.1", 0)
    port = loop.local_address(a)[1]
    with pytest.raises(OSError) as info:
        loop.listen("127.0.0.1", port)
    assert isinstance(info.value, netcore.AddressInUseError)
    assert info.value.errno == errno.EADDRINUSE
    # SO_REUSEPORT on both lets two listeners share a port
    b = loop.listen("127.0.0.1", 0, reuse_port=True)
    loop.listen("127.0.0.1", loop.local_address(b)[1], reuse_port=True)
    # None (the default) is the core's default: off, so the port stays taken
    for off in (None, False):
        with pytest.raises(netcore.AddressInUseError):
            loop.listen("127.0.0.1", loop.local_address(b)[1], reuse_port=off)
    u = loop.udp_bind("127.0.0.1", 0, reuse_port=None, ipv6_only=None)
    with pytest.raises(netcore.AddressInUseError):
        loop.udp_bind("127.0.0.1", loop.local_address(u)[1], reuse_port=None)


def test_wrong_types_are_type_errors(loop: netcore.Loop) -> None:
    listener = loop.listen("127.0.0.1", 0)
    cases = [
        lambda: loop.listen(127, 0),
        lambda: loop.listen("127.0.0.1", "80"),
        lambda: loop.listen("127.0.0.1", 1.5),
        lambda: loop.connect(None, 80),
        lambda: loop.send("1", b"x"),
        lambda: loop.send(1.0, b"x"),
        lambda: loop.send(listener, "text"),
        lambda: loop.send(listener, 42),
        lambda: loop.send(listener, None),
        lambda: loop.sendv(listener, b"not a list"),
        lambda: loop.sendv(listener, [b"ok", "bad"]),
        lambda: loop.sendv(listener, 5),
        lambda: loop.send_to(listener, b"x", ["127.0.0.1", 9]),
        lambda: loop.send_to(listener, b"x", ("127.0.0.1",)),
        lambda: loop.set_option(listener, 1.5, 1),
        lambda: loop.set_option(listener, netcore.NODELAY, "yes"),
        lambda: loop.poll("soon"),
        lambda: loop.run(42),
        lambda: loop.set_userdata(listener),
        lambda: loop.close(1, 2),
        lambda: loop.close(None),
        lambda: loop.timer("1"),
    ]
    for case in cases:
        with pytest.raises(TypeError):
            case()  # type: ignore[no-untyped-call]


def test_bad_values_are_value_errors(loop: netcore.Loop) -> None:
    listener = loop.listen("127.0.0.1", 0)
    cases = [
        lambda: loop.listen("127.0.0.1", 70000),
        lambda: loop.listen("127.0.0.1", -1),
        lambda: loop.listen("127.0.0.1", 2**80),
        lambda: loop.listen("1.2.3", 0),
        lambda: loop.listen("example.invalid", 0),
        lambda: loop.listen("", 0),
        lambda: loop.listen("127.0.0.1", 0, backlog=-1),
        lambda: loop.listen("127.0.0.1", 0, backlog=70000),
        lambda: loop.udp_bind("::1::2", 0),
        lambda: loop.connect("127.0.0.1", 0),
        lambda: loop.connect("127.0.0.1", 70000),
        lambda: loop.connect("a\0b", 80),
        lambda: loop.set_option(listener, netcore.KEEPALIVE, -1),
        lambda: loop.set_option(listener, netcore.KEEPALIVE, 40000),
        lambda: loop.set_option(listener, netcore.NODELAY, 2),
        lambda: loop.set_option(listener, netcore.RCVBUF, 0),
        lambda: loop.set_option(listener, netcore.RCVBUF, 2**31),
        lambda: loop.set_option(listener, netcore.RCVBUF, 2**70),
        lambda: loop.set_option(listener, "no_such_option", 1),
        lambda: loop.set_option(listener, 99, 1),
        lambda: loop.poll(-1),
        lambda: loop.poll(float("nan")),
        lambda: loop.poll(0, 0),
        lambda: loop.timer(-1),
        lambda: loop.send(listener, b"x", token=-1),
        lambda: loop.send(listener, b"x", token=2**64),
    ]
    for case in cases:
        with pytest.raises(ValueError) as info:
            case()  # type: ignore[no-untyped-call]
        err = info.value
        assert isinstance(err, netcore.InvalidArgumentError), repr(err)
        assert isinstance(err, netcore.Error) and err.errno == errno.EINVAL and err.name == "EINVAL"
    # the message is the core's: which argument, what it must be
    with pytest.raises(ValueError, match=r"port: expected 0 to 65535"):
        loop.listen("127.0.0.1", 70000)
    with pytest.raises(ValueError, match=r"keepalive: expected 0 \(off\) or 1 to 32767 seconds"):
        loop.set_option(listener, netcore.KEEPALIVE, 40000)


def test_the_real_cause_shows(loop: netcore.Loop) -> None:
    with pytest.raises(netcore.InvalidArgumentError, match="host: expected a name or address of 1 to 255 bytes"):
        loop.connect("a" * 300 + ".test", 80)
    with pytest.raises(netcore.InvalidArgumentError, match="host: expected an IP address"):
        loop.listen("example.invalid", 0)
    with pytest.raises(netcore.InvalidArgumentError, match="attempt_delay: expected at most 60 seconds"):
        loop.connect("127.0.0.1", 9, attempt_delay=61)


def test_backlog_none_and_0_are_the_default(loop: netcore.Loop) -> None:
    assert netcore.DEFAULT_BACKLOG == 1024
    for backlog in (None, 0, 1, 65535):
        loop.close(loop.listen("127.0.0.1", 0, backlog=backlog))


def test_empty_send_is_value_error(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    pump.until(lambda: "connected" in pump.kinds(c))
    with pytest.raises(ValueError):
        loop.send(c, b"")
    with pytest.raises(ValueError):
        loop.sendv(c, [])
    with pytest.raises(ValueError):
        loop.set_option(c, netcore.HIGH_WATER, 10)  # below the low-water mark


def test_bad_handles(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    for junk in (0, -1, 12345, 2**62, 2**80):
        with pytest.raises(netcore.BadHandleError) as info:
            loop.send(junk, b"x")
        assert info.value.errno == -3001 and info.value.name == "EBADHANDLE"
        with pytest.raises(netcore.BadHandleError):
            loop.close(junk)
    # a closed handle
    u = loop.udp_bind("127.0.0.1", 0)
    loop.close(u)
    pump.until(lambda: u in pump.closed)
    pump.step(0)  # a handle is gone from the poll after the one that delivered "closed"
    for call in (
        lambda: loop.send(u, b"x"),
        lambda: loop.close(u),
        lambda: loop.close_reset(u),
        lambda: loop.local_address(u),
        lambda: loop.set_userdata(u, 1),
        lambda: loop.get_userdata(u),
        lambda: loop.set_option(u, netcore.RCVBUF, 4096),
        lambda: loop.pause(u),
    ):
        with pytest.raises(netcore.BadHandleError):
            call()  # type: ignore[no-untyped-call]
    # a stale handle: its slot is reused by a new socket, the old number stays dead
    fresh = [loop.udp_bind("127.0.0.1", 0) for _ in range(4)]
    assert u not in fresh
    with pytest.raises(netcore.BadHandleError):
        loop.send_to(u, b"x", loop.local_address(fresh[0]))
    for f in fresh:
        loop.local_address(f)  # still fine


def test_wrong_kind(loop: netcore.Loop) -> None:
    listener = loop.listen("127.0.0.1", 0)
    with pytest.raises(netcore.WrongKindError) as info:
        loop.send(listener, b"x")
    assert info.value.name == "EWRONGKIND" and info.value.errno == -3004
    with pytest.raises(netcore.WrongKindError):
        loop.frame_fixed(listener, 4)
    with pytest.raises(netcore.WrongKindError):
        loop.peer_address(listener)


def test_closing_connection(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener = loop.listen("127.0.0.1", 0)
    c = loop.connect("127.0.0.1", loop.local_address(listener)[1])
    pump.until(lambda: "connected" in pump.kinds(c))
    loop.close(c)
    with pytest.raises(netcore.ClosedError) as info:
        loop.close(c)
    assert info.value.name == "ECLOSED"


def test_closed_loop() -> None:
    lp = netcore.Loop()
    h = lp.listen("127.0.0.1", 0)
    lp.set_userdata(h, object())
    lp.close()
    assert lp.closed
    lp.close()  # idempotent
    lp.wake()  # no-ops once closed
    lp.stop()
    for call in (
        lambda: lp.poll(0),
        lambda: lp.listen("127.0.0.1", 0),
        lambda: lp.send(h, b"x"),
        lambda: lp.fileno(),
        lambda: lp.close(h),
    ):
        with pytest.raises(netcore.ClosedError):
            call()  # type: ignore[no-untyped-call]
    assert "closed" in repr(lp)


def test_error_class_table() -> None:
    from netcore._netcore import ERROR_CODES

    names = {name for _, name, _ in ERROR_CODES}
    assert {"EBADHANDLE", "EDNS", "ECLOSED", "EWRONGKIND", "EPANIC", "EAGAIN"} <= names
    assert netcore.error_class("EPANIC") is netcore.InternalError
    assert netcore.error_class("ETIMEDOUT") is netcore.TimeoutError
    assert issubclass(netcore.TimeoutError, TimeoutError)
    assert issubclass(netcore.ConnectionResetError, ConnectionResetError)
    assert issubclass(netcore.BrokenPipeError, BrokenPipeError)
    assert issubclass(netcore.Error, OSError)
    for cls in (netcore.BadHandleError, netcore.DNSError, netcore.ClosedError, netcore.WrongKindError):
        assert issubclass(cls, netcore.Error)


def test_package_exports_every_error_class() -> None:
    from netcore import _errors

    assert set(_errors.__all__) <= set(netcore.__all__)
    assert len(netcore.__all__) == len(set(netcore.__all__))
    assert all(hasattr(netcore, name) for name in netcore.__all__)
