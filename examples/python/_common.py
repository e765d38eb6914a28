"""Helpers shared by the netcore Python examples."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

#: How long a server waits, after SIGINT/SIGTERM, for its connections to
#: finish closing gracefully before they are reset.
SHUTDOWN_SECONDS = 5.0


def parse_host_port(arg: str, default_host: str | None) -> tuple[str, int]:
    """Parses "PORT", "HOST:PORT" or "[IPV6]:PORT". Without a host,
    default_host is used (None: a host is required). Raises ValueError."""
    if arg.startswith("["):
        host, sep, rest = arg[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{arg!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
    elif ":" in arg:
        host, _, port_text = arg.rpartition(":")
        if ":" in host:
            raise ValueError(f"{arg!r}: write IPv6 addresses as [IPV6]:PORT")
    elif default_host is not None:
        host, port_text = default_host, arg
    else:
        raise ValueError(f"{arg!r}: expected HOST:PORT")
    if not host:
        raise ValueError(f"{arg!r}: empty host")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{arg!r}: port must be 0 to 65535")
    return host, int(port_text)


def server_address(prog: str, argv: list[str]) -> tuple[str, int]:
    """A server example's one argument, [HOST:]PORT (HOST defaults to
    127.0.0.1): without it, prints the usage line and exits 2; a malformed
    one exits 1 with the reason."""
    if len(argv) != 2:
        print(f"usage: {prog} [HOST:]PORT", file=sys.stderr)
        sys.exit(2)
    try:
        return parse_host_port(argv[1], "127.0.0.1")
    except ValueError as e:
        die(prog, str(e))


def format_addr(addr: tuple[str, int]) -> str:
    """ "ip:port", or "[ip6]:port"."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def on_stop_signals(callback: Callable[[], None]) -> None:
    """Calls callback (from the main thread) on SIGINT or SIGTERM."""

    def handler(signum: int, frame: FrameType | None) -> None:
        callback()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def die(prog: str, message: str) -> NoReturn:
    print(f"{prog}: {message}", file=sys.stderr)
    sys.exit(1)
