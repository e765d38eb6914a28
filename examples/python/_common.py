"""Helpers shared by the netcore Python examples."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import NoReturn

import netcore

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


def tls_server_context(prog: str, alpn_protocols: Iterable[str] | None = None) -> netcore.TLSContext:
    """The server context of a TLS example: the certificate chain (leaf
    first) and private key are PEM files named by NETCORE_TLS_CERT and
    NETCORE_TLS_KEY. Exits 1 with the reason if they are unset or unusable."""
    cert, key = os.environ.get("NETCORE_TLS_CERT"), os.environ.get("NETCORE_TLS_KEY")
    if not cert or not key:
        die(prog, "set NETCORE_TLS_CERT and NETCORE_TLS_KEY to PEM files (certificate chain, private key)")
    try:
        return netcore.TLSContext.server(cert, key, alpn_protocols=alpn_protocols)
    except OSError as e:
        die(prog, f"cannot use {cert} and {key}: {e}")


class Server:
    """A server example's lifecycle: serves one listener's connections with
    Loop.run() until SIGINT or SIGTERM, then stops accepting, closes every
    connection gracefully (reset after SHUTDOWN_SECONDS) and returns once the
    listener is closed; a second signal stops waiting. Subclasses handle
    events in on_event and pass on those they do not take ("closed" at least)."""

    #: The program name that prefixes messages on stderr.
    prog = "server"

    def __init__(self, loop: netcore.Loop, listener: int) -> None:
        self.loop = loop
        self.listener = listener
        self.listener_closed = False
        self.signals = 0  # SIGINT/SIGTERM received so far

    def on_signal(self) -> None:
        """First signal: run() returns and shutdown() starts. Second: shutdown()
        stops waiting (leaving the loop's `with` block then closes everything)."""
        self.signals += 1
        self.loop.stop()

    def on_event(self, ev: netcore.Event) -> None:
        if ev.kind == netcore.CLOSED and ev.handle == self.listener:
            self.listener_closed = True

    def serve(self) -> None:
        """Serves until on_signal(), then shuts down."""
        self.loop.run(self.on_event)  # until on_signal calls loop.stop()
        self.shutdown()

    def shutdown(self) -> None:
        self.loop.shutdown_server(self.listener, SHUTDOWN_SECONDS)
        deadline = time.monotonic() + SHUTDOWN_SECONDS + 2
        while not self.listener_closed and self.signals < 2 and time.monotonic() < deadline:
            for ev in self.loop.poll(0.1):
                self.on_event(ev)
        if self.signals >= 2:
            print(f"{self.prog}: second signal, not waiting any longer", file=sys.stderr)

    def close(self, h: int) -> None:
        try:
            self.loop.close(h)
        except netcore.Error:
            pass  # already closing or gone

    def report(self, h: int, error: BaseException | None) -> None:
        """Logs a connection's error (e.g. a failed handshake) on stderr."""
        if error is not None:
            print(f"{self.prog}: handle {h}: {error}", file=sys.stderr)


def serve_main(argv: list[str], prog: str, make: Callable[[netcore.Loop, str, int], Server]) -> int:
    """A server example's main: listens on its one argument, [HOST:]PORT
    (`make` opens the listener and builds the server), prints "listening on
    HOST:PORT" and serves until a signal (Server.serve). Returns 0."""
    host, port = server_address(prog, argv)
    with netcore.Loop() as loop:
        try:
            server = make(loop, host, port)
        except OSError as e:
            die(prog, f"cannot listen on {argv[1]}: {e}")
        on_stop_signals(server.on_signal)
        print(f"listening on {format_addr(loop.local_address(server.listener))}", flush=True)
        server.serve()
    return 0
