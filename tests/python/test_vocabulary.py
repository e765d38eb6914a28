"""The Python surface against the core's vocabulary: the native module
exports the core's full lists (event kinds, handle kinds, options with their
ranges, framing modes, families, defaults, error codes, the loop's
operations), and every name in them is what Python accepts, returns and
declares; IPv6 zones round-trip."""

from __future__ import annotations

import ast
import errno
import inspect
import socket
from pathlib import Path

import pytest

import netcore
from netcore import _errors, _netcore
from conftest import Pump, has_ipv6, listen_local

STUB = Path(_netcore.__file__).with_name("_netcore.pyi")


def stub_literals(alias: str) -> list[str]:
    """The strings of a `Name: TypeAlias = Literal[...]` in the stub."""
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == alias:
            assert isinstance(node.value, ast.Subscript)
            return [ast.literal_eval(e) for e in ast.walk(node.value.slice) if isinstance(e, ast.Constant)]
    raise AssertionError(f"{alias} is not in {STUB}")


def stub_all(stub: Path = STUB) -> list[str]:
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError(f"__all__ is not in {stub}")


def test_the_core_lists_are_complete() -> None:
    assert len(_netcore.EVENT_KINDS) == 16 and "tls_failed" in _netcore.EVENT_KINDS
    assert _netcore.HANDLE_KINDS == ["tcp_listener", "tcp_connection", "udp", "timer"]
    assert _netcore.FRAMING_MODES == ["stream", "delimited", "fixed", "length_prefixed"]
    assert _netcore.FAMILIES == ["any", "ipv4", "ipv6"]
    assert len(_netcore.OPTIONS) == 11


def test_every_event_kind_is_a_constant_and_in_the_stub() -> None:
    assert stub_literals("EventKind") == _netcore.EVENT_KINDS
    for kind in _netcore.EVENT_KINDS:
        assert getattr(netcore, kind.upper()) == kind
        assert kind.upper() in netcore.__all__


def test_event_kind_is_the_core_name(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    timer = loop.timer(0)
    pump.until(lambda: timer in pump.closed)
    assert pump.kinds(timer) == [netcore.TIMER, netcore.CLOSED] == ["timer", "closed"]


def test_every_option_is_accepted_by_name_and_constant_within_its_range(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener, port = listen_local(loop)
    conn = loop.connect("127.0.0.1", port)
    udp = loop.udp_bind("127.0.0.1", 0)
    pump.until(lambda: "connected" in pump.kinds(conn))
    for name, value, low, high, is_bool in _netcore.OPTIONS:
        assert getattr(netcore, name.upper()) == value and name.upper() in netcore.__all__
        assert is_bool == ((low, high) == (0, 1))
        # UDP-only options on the UDP socket, the rest on the connection
        handle = udp if name in ("broadcast", "multicast_loop", "multicast_ttl") else conn
        for option in (name, name.upper(), value):
            # the water marks bound each other: the high one highest, the low one lowest
            setting = {"low_water": low, "high_water": high}.get(name, high if is_bool else max(low, 1))
            loop.set_option(handle, option, setting)
            assert loop.get_option(handle, option) == setting or name in ("rcvbuf", "sndbuf"), name
        with pytest.raises(netcore.InvalidArgumentError, match=name):
            loop.set_option(handle, name, high + 1)
        with pytest.raises(netcore.InvalidArgumentError, match=name):
            loop.set_option(handle, name, low - 1)
    assert sorted(n for n in stub_literals("OptionName") if n.islower()) == sorted(o[0] for o in _netcore.OPTIONS)


def test_every_framing_mode_is_accepted_by_set_framing(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    _, port = listen_local(loop)
    conn = loop.connect("127.0.0.1", port)
    pump.until(lambda: "connected" in pump.kinds(conn))
    needs = {"fixed": {"size": 4}}
    for mode in _netcore.FRAMING_MODES:
        loop.set_framing(conn, mode, **needs.get(mode, {}))  # type: ignore[arg-type]
    assert stub_literals("FramingMode") == _netcore.FRAMING_MODES


def test_every_handle_kind_is_what_kind_returns(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    listener, port = listen_local(loop)
    conn = loop.connect("127.0.0.1", port)
    made = {
        "tcp_listener": listener,
        "tcp_connection": conn,
        "udp": loop.udp_bind("127.0.0.1", 0),
        "timer": loop.timer(60),
    }
    assert sorted(made) == sorted(_netcore.HANDLE_KINDS) == sorted(stub_literals("HandleKind"))
    for name, handle in made.items():
        assert loop.kind(handle) == name
    pump.until(lambda: "connected" in pump.kinds(conn))


def test_every_family_is_accepted_by_connect(loop: netcore.Loop) -> None:
    _, port = listen_local(loop)
    for family in _netcore.FAMILIES:
        loop.close_reset(loop.connect("localhost", port, family=family))  # type: ignore[arg-type]
    assert stub_literals("Family") == _netcore.FAMILIES


# Where Python names an operation's parameter its own way (None: a
# parameter Python folds into another, the local port into local_address's
# (host, port)). Its operations have the core's names.
PYTHON_PARAMS = {("adopt_listener", "fd"): "sock", ("adopt_connection", "fd"): "sock", ("adopt_udp", "fd"): "sock",
                 ("shutdown_server", "drain_timeout"): "drain", ("get_raw_option", "size"): "buflen",
                 ("connect", "local_port"): None}


def test_every_core_operation_is_the_loop_method_of_its_name_with_its_parameters() -> None:
    assert len(_netcore.OPERATIONS) == 40
    for name, on_handle, args, options in _netcore.OPERATIONS:
        if name == "close":  # Loop.close(handle) is Loop.close(*args), beside the loop's close()
            continue
        method = getattr(netcore.Loop, name)
        # after self and (for an operation on one) the handle; Python's own keywords aside
        params = list(inspect.signature(method).parameters.values())[1 + on_handle:]
        positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        keywords = {p.name for p in params if p.kind is p.KEYWORD_ONLY} - {"userdata", "tls", "server_hostname"}
        renamed = ([PYTHON_PARAMS.get((name, n), n) for n in names] for names in (args, options))
        python_args, python_options = ([n for n in names if n] for names in renamed)
        assert positional == python_args, name
        assert keywords == set(python_options), name


def test_the_defaults_are_the_core_s() -> None:
    assert netcore.DEFAULT_BACKLOG == 1024
    assert netcore.DEFAULT_MAX_FRAME == 1 << 20
    assert netcore.DEFAULT_DELIMITER == b"\n"
    assert netcore.DEFAULT_LENGTH_HEADER == 4
    assert netcore.MAX_BACKOFF_STEPS == 8
    assert netcore.MAX_FRAME_LIMIT == 1 << 30
    assert netcore.DEFAULT_ATTEMPT_DELAY == 0.25


def test_the_stub_declares_the_native_module_s_exports() -> None:
    assert stub_all() == _netcore.__all__
    assert set(_netcore.__all__) <= set(netcore.__all__)
    assert all(hasattr(netcore, name) for name in netcore.__all__)


def test_the_errors_stub_declares_every_class_with_its_bases() -> None:
    stub = Path(_errors.__file__).with_name("_errors.pyi")
    assert stub_all(stub) == _errors.__all__
    declared = {
        node.name: [ast.unparse(base).removeprefix("builtins.") for base in node.bases]
        for node in ast.parse(stub.read_text()).body
        if isinstance(node, ast.ClassDef)
    }
    runtime = {cls.__name__: [base.__name__ for base in cls.__bases__] for cls in netcore.Error.__subclasses__()}
    assert declared == {"Error": ["OSError"], **runtime}


def test_every_error_class_names_core_codes_and_every_code_has_a_class() -> None:
    core = {name: (code, message) for code, name, message in _netcore.ERROR_CODES}
    # A class may also name an errno the core passes through (ENOENT).
    known = core.keys() | set(errno.errorcode.values())
    for cls in netcore.Error.__subclasses__():
        assert cls.codes and set(cls.codes) <= known, cls
    generic = {name for name in core if _errors.error_class(name) is netcore.Error}
    assert generic == {"EAFNOSUPPORT"}  # no builtin or netcore class of its own
    for name, (code, message) in core.items():
        err = _errors._make(code, name, message, -code, None)
        assert err.name == name and err.netcore_code == code and err.strerror == message


def test_parse_address_keeps_the_ipv6_zone() -> None:
    for given in [("fe80::1%1", 9), ("[fe80::1%1]", 9), ("fe80::1%lo", 9)]:
        assert netcore.parse_address(*given) == ("fe80::1%1", 9), given
    assert netcore.parse_address("[::1]", 80) == ("::1", 80)
    assert netcore.parse_address("localhost", 1) == ("127.0.0.1", 1)
    with pytest.raises(netcore.InvalidArgumentError, match="port: expected 0 to 65535"):
        netcore.parse_address("::1", 70000)
    with pytest.raises(netcore.InvalidArgumentError, match="host: expected an IP address"):
        netcore.parse_address("example.test", 1)
    with pytest.raises(netcore.InvalidArgumentError, match="host: expected an IPv6 zone"):
        netcore.parse_address("fe80::1%no-such-interface", 1)


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback")
def test_event_addresses_use_the_same_conversion(loop: netcore.Loop) -> None:
    pump = Pump(loop)
    u = loop.udp_bind("::1", 0)
    port = loop.local_address(u)[1]
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        s.sendto(b"hi", ("::1", port))
        sender = s.getsockname()[1]
    pump.until(lambda: bool(pump.of_kind("datagram")))
    ev = pump.of_kind("datagram")[0]
    assert ev.addr == ("::1", sender) == netcore.parse_address("[::1]", sender)
    assert loop.local_address(u) == netcore.parse_address("::1", port)
