"""Private to :mod:`netcore.aio`: asyncio's TCP shapes (``create_server``,
``create_connection``, a Transport, a Server) over netcore handles.

Every asyncio loop that uses them gets one netcore loop (a :class:`_Hub`),
attached with :func:`netcore.aio.attach`, that routes each event to the
object owning its handle; the hub closes itself once nothing of it is open.

How asyncio's write buffering maps onto netcore's whole-or-reject sends: the
transport's water marks *are* the connection's netcore marks (options
``HIGH_WATER``/``LOW_WATER``). ``write()`` hands the bytes to netcore while
it accepts them; a refused message (the queue would pass the high mark, so
asyncio's buffer would be above it too) goes to a Python overflow queue and
``pause_writing()`` is called at once, inside ``write()``. Every later write
joins the overflow, in order. netcore's ``writable`` (its queue fell to the
low mark) moves the overflow back into netcore; once it is empty
``resume_writing()`` is called. A single message larger than the high mark
(netcore takes it whole into an empty queue) is sent with a token and
pauses the protocol until its ``sent`` event. ``get_write_buffer_size()``
is the overflow plus netcore's own queue (``Loop.queued_bytes``): every byte
written and not yet taken by the kernel, as asyncio counts its buffer.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import errno
import logging
import os
import socket
import stat
import sys
import weakref
from asyncio.trsock import TransportSocket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from ssl import SSLSocket
from typing import TYPE_CHECKING, Any, TypeAlias

from netcore._errors import ClosedError, Error, InvalidArgumentError
from netcore._netcore import (
    DEFAULT_LOW_WATER,
    Event,
    Loop,
    TLSContext,
    _AioStream,
    _AioStreams,
    _install_aio_transport,
    parse_address,
)

if TYPE_CHECKING:
    from netcore._netcore import Family
    from netcore.aio import AsyncioDriver

__all__ = [
    "Server",
    "Transport",
    "create_connection",
    "create_server",
    "create_unix_connection",
    "create_unix_server",
    "open_connection",
    "open_unix_connection",
    "start_server",
    "start_unix_server",
]

# asyncio's defaults (selector_events / transports).
_DEFAULT_HIGH = 64 * 1024
_DEFAULT_LOW = _DEFAULT_HIGH // 4
# Overflow chunks grow up to this size, so that a flush is few sends.
_CHUNK = 64 * 1024
# As asyncio's: warn once this many writes were dropped after the loss.
_LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5
# asyncio's Server.wait_closed waits for the connections only since 3.12.1.
_WAIT_FOR_CONNECTIONS = sys.version_info >= (3, 12, 1)

# Held after the data and EOF a paused protocol has still to read, when
# netcore closed the connection meanwhile (both directions were done).
_LOST = object()
#: The token of the "sent" event close() waits for (big writes count theirs up from 1).
_FLUSHED = 2**64 - 1

# asyncio's message for an exception from data_received.
_DATA_RECEIVED_FAILED = "Fatal error: protocol.data_received() call failed."

# asyncio's logger: its transports' warnings go there.
_logger = logging.getLogger("asyncio")

# A Unix socket address as asyncio takes it.
_UnixPath: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]

_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()


class _Hub:
    """The netcore loop of one asyncio loop, and who owns each handle."""

    def __init__(self, aloop: asyncio.AbstractEventLoop) -> None:
        self.aloop = aloop
        self.nc = Loop()
        self.owners: dict[int, _Endpoint | Server] = {}
        self.closed = False
        # Imported here: netcore.aio imports this module.
        from netcore.aio import attach

        self.driver: AsyncioDriver = attach(self.nc, self._on_event, loop=aloop)
        # Stream data without an Event object, natively to the protocol
        # while it reads (see Transport._sync): the echo's hot path.
        self.streams = _AioStreams(self._on_data, self._on_read_error)
        # Events straight to _on_event, without the driver's per-event
        # exception wrapper: the transports report their protocols'
        # exceptions themselves, and anything else (a bug here) goes to
        # asyncio's handler with the rest of the batch kept for next time.
        self.driver._route(self._on_event, self.streams)

    def _on_data(self, handle: int, data: bytes) -> None:
        """Stream data that goes through the transport (not read now)."""
        owner = self.owners.get(handle)
        # Stream data: only a Transport's handle has it.
        if isinstance(owner, Transport):
            owner._context.run(owner._data, data)

    def _on_read_error(self, handle: int, exc: BaseException) -> None:
        """The protocol's data_received raised ``exc`` (not SystemExit or
        KeyboardInterrupt, which propagate)."""
        owner = self.owners.get(handle)
        if isinstance(owner, Transport):
            owner._context.run(owner._fatal_error, exc, _DATA_RECEIVED_FAILED)

    def _on_event(self, ev: Event) -> None:
        # Each owner's callbacks run in its own context, as asyncio's do.
        # (A Transport's events come to its _event natively, see
        # Transport.__init__, and a Server's connections to its _accept,
        # see Server._add_listener: these are the other events.)
        owner = self.owners.get(ev.handle)
        if owner is not None:
            owner._context.run(owner._event, ev)
        elif ev.kind == "accepted":
            # A new handle: its listener's server takes it.
            server = self.owners.get(ev.listener or 0)
            if isinstance(server, Server):
                server._context.run(server._accept, ev.handle, ev.addr)
            else:
                self.reset(ev.handle)

    def reset(self, handle: int) -> None:
        """Closes ``handle`` at once unless it is closing already."""
        try:
            self.nc.close_reset(handle)
        except Error:
            pass

    def forget(self, handle: int) -> None:
        """``handle`` is gone (its "closed" event came)."""
        del self.owners[handle]
        self.streams.forget(handle)
        self.release_soon()

    def release_soon(self) -> None:
        """Closes the netcore loop on the next turn if nothing of it is open
        by then."""
        if not self.owners:
            self.aloop.call_soon(self.release)

    def release(self, force: bool = False) -> None:
        """Closes the netcore loop if nothing of it is open (or, with
        ``force``, closes whatever is open at once)."""
        if (self.owners and not force) or self.closed:
            return
        self.closed = True
        if _hubs.get(self.aloop) is self:
            del _hubs[self.aloop]
        self.driver.close()
        self.nc.close()
        # sock= objects of what was still open go with it.
        for owner in set(self.owners.values()):
            owner._close_adopted()


def _hub() -> _Hub:
    """The running asyncio loop's hub (made on first use)."""
    aloop = asyncio.get_running_loop()
    hub = _hubs.get(aloop)
    if hub is None:
        hub = _hubs[aloop] = _Hub(aloop)
    return hub


def _sockaddr(addr: tuple[str, int]) -> tuple[Any, ...]:
    """netcore's ``(host, port)`` as the socket module gives it: a 4-tuple
    (host, port, flowinfo, scope_id) for IPv6."""
    if ":" not in addr[0]:
        return addr
    host, port = addr
    host, _, zone = host.partition("%")
    return (host, port, 0, int(zone) if zone.isdigit() else 0)


def _unix_address(path: str | None) -> str | bytes:
    """A Unix address as the socket module gives it: the path, ``""`` when
    unnamed, ``b"\\0name"`` for netcore's ``"@name"`` (the abstract
    namespace)."""
    if path is None:
        return ""
    if path.startswith("@"):
        return b"\0" + os.fsencode(path[1:])
    return path


def _unix_path(path: _UnixPath) -> str:
    """A Unix address as asyncio takes it (str, bytes or path-like; a
    leading NUL is the abstract namespace) written as netcore reads it
    (``"@name"`` for the abstract namespace)."""
    text = os.fsdecode(path)
    return "@" + text[1:] if text.startswith("\0") else text


def _address(nc: Loop, handle: int, *, peer: bool) -> Any:
    """A handle's peer (or local) address as the socket module gives it:
    an IP tuple (see :func:`_sockaddr`) or a Unix address (see
    :func:`_unix_address`)."""
    try:
        return _sockaddr(nc.peer_address(handle) if peer else nc.local_address(handle))
    except Error as exc:
        if exc.errno != errno.EAFNOSUPPORT:
            raise
    return _unix_address(nc.peer_path(handle) if peer else nc.local_path(handle))


def _family(address: Any) -> int:
    """The socket family of an address as :func:`_address` gives it."""
    if isinstance(address, (str, bytes)):
        return socket.AF_UNIX
    return socket.AF_INET6 if len(address) == 4 else socket.AF_INET


class _TransportSocket:
    """What ``get_extra_info('socket')`` and ``Server.sockets`` return, as
    asyncio's TransportSocket: the socket's addresses and options, without
    the calls that would take it from netcore (netcore owns it)."""

    __slots__ = ("_nc", "_handle", "_family", "_type")

    def __init__(self, nc: Loop, handle: int, family: int, type: int = socket.SOCK_STREAM) -> None:
        self._nc = nc
        self._handle = handle
        self._family = family
        self._type = type

    @property
    def family(self) -> int:
        return self._family

    @property
    def type(self) -> int:
        return self._type

    @property
    def proto(self) -> int:
        if self._family == socket.AF_UNIX:
            return 0
        return socket.IPPROTO_TCP if self._type == socket.SOCK_STREAM else socket.IPPROTO_UDP

    def fileno(self) -> int:
        return self._nc.raw_fd(self._handle)

    def getpeername(self) -> Any:
        return _address(self._nc, self._handle, peer=True)

    def getsockname(self) -> Any:
        return _address(self._nc, self._handle, peer=False)

    def getsockopt(self, level: int, name: int, buflen: int = 0) -> int | bytes:
        return self._nc.get_raw_option(self._handle, level, name, buflen)

    def setsockopt(self, level: int, name: int, value: int | bytes) -> None:
        self._nc.set_raw_option(self._handle, level, name, value)

    def __repr__(self) -> str:
        return f"<netcore.aio socket handle={self._handle} family={self._family}>"


class _Endpoint(asyncio.BaseTransport):
    """What the TCP and UDP transports share: their handle in the hub, the
    protocol, flow-control calls and the one ``connection_lost``. Slots
    throughout: a connection's transport costs a few hundred bytes, not a
    dict."""

    __slots__ = (
        "_hub",
        "_nc",
        "_aloop",
        "_handle",
        "_protocol",
        "_closing",
        "_conn_lost",
        "_lost_called",
        "_nc_closed",
        "_protocol_paused",
        "_reading",
        "_context",
        "_sock",
        "__weakref__",
    )

    def __init__(self, hub: _Hub, handle: int) -> None:
        # asyncio.BaseTransport.__init__'s one step, without its call.
        self._extra: dict[str, Any] = {}
        self._hub = hub
        self._nc = hub.nc
        self._aloop = hub.aloop
        self._handle = handle
        self._protocol: Any = None
        self._closing = False
        self._conn_lost = 0
        self._lost_called = False
        # netcore's close (or close_reset) was called, or "closed" came.
        self._nc_closed = False
        self._protocol_paused = False
        self._reading = False
        # A copy of the creator's context (create_connection's caller, or
        # the server's): the protocol's callbacks run in it.
        self._context = contextvars.copy_context()
        # The sock= object netcore adopted a duplicate of (see _adopt).
        self._sock: socket.socket | None = None
        hub.owners[handle] = self

    def is_closing(self) -> bool:
        return self._closing

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol

    def get_protocol(self) -> Any:
        return self._protocol

    def _event(self, ev: Event) -> None:
        raise NotImplementedError

    def _netcore_closed(self) -> None:
        """netcore's "closed" came: the handle is gone, and a sock= object
        with it (see _close_adopted)."""
        self._nc_closed = True
        self._hub.forget(self._handle)
        if self._sock is not None:
            self._sock.close()

    def _keep(self, sock: socket.socket) -> None:
        """Keeps the sock= object netcore adopted a duplicate of (see
        _adopt): it closes with the endpoint, and meanwhile asyncio's
        add_reader/add_writer refuse it, as they refuse a transport's own
        descriptor (asyncio's loop registers its transports by descriptor)."""
        self._sock = sock
        transports = getattr(self._aloop, "_transports", None)
        if transports is not None:
            transports[sock.fileno()] = self

    def _close_adopted(self) -> None:
        """Closes the sock= object, now that netcore is done with the socket."""
        if self._sock is not None:
            self._sock.close()

    def _socket(self, type: int = socket.SOCK_STREAM, family: int | None = None) -> _TransportSocket | TransportSocket:
        """``get_extra_info("socket")``: a sock= object as asyncio shows it,
        or netcore's view (of ``family`` if the caller knows it)."""
        if self._sock is not None:
            return TransportSocket(self._sock)
        if family is None:
            family = _family(_address(self._nc, self._handle, peer=False))
        return _TransportSocket(self._nc, self._handle, family, type)

    def _sync(self) -> None:
        """Called after every change of the state the native short ways
        depend on (see Transport._sync)."""

    def _start(self, protocol: asyncio.BaseProtocol, waiter: asyncio.Future[None] | None = None) -> None:
        """Gives the endpoint to ``protocol``: ``connection_made`` on the
        next turn, then reading starts, as asyncio does."""
        self.set_protocol(protocol)
        self._aloop.call_soon(self._made, protocol)
        if waiter is not None:
            self._aloop.call_soon(_set_result_unless_cancelled, waiter)

    def _made(self, protocol: asyncio.BaseProtocol) -> None:
        """``protocol.connection_made``, then reading starts: asyncio's two
        callbacks in a row, in one (a callback less per connection).
        Reading starts even if connection_made raised, as asyncio's would;
        the exception then goes to the loop's handler as this callback's."""
        try:
            protocol.connection_made(self)
        finally:
            self._start_reading()

    def _start_reading(self) -> None:
        self._reading = True

    def _dropped(self) -> None:
        """A write after the loss: dropped, and logged from the fifth on, as
        asyncio does."""
        self._conn_lost += 1
        if self._conn_lost >= _LOG_THRESHOLD_FOR_CONNLOST_WRITES:
            _logger.warning("socket.send() raised exception.")

    def _call_protocol(self, name: str, *args: Any) -> None:
        """Calls ``protocol.<name>(*args)`` (``pause_writing``,
        ``error_received``...); an exception goes to the loop's handler, as
        asyncio's."""
        try:
            getattr(self._protocol, name)(*args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._aloop.call_exception_handler(
                {
                    "message": f"protocol.{name}() failed",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )

    def _quiet(self, op: Callable[[int], object]) -> None:
        """``op(handle)``, ignoring netcore's errors (the handle is closing
        or gone: its "closed" tells the rest)."""
        try:
            op(self._handle)
        except Error:
            pass

    def _close_handle(self) -> None:
        """Graceful netcore close: "closed" (then connection_lost) follows
        once everything queued is sent."""
        if not self._nc_closed:
            self._nc_closed = True
            self._sync()
            try:
                self._nc.close(self._handle)
            except Error:
                pass

    def _lose(self, exc: BaseException | None) -> None:
        """Schedules ``connection_lost(exc)``, once."""
        if self._conn_lost:
            return
        self._conn_lost = 1
        self._closing = True
        self._sync()
        self._aloop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        if self._lost_called:
            return
        self._lost_called = True
        protocol, self._protocol = self._protocol, None
        self._sync()
        try:
            if protocol is not None:
                protocol.connection_lost(exc)
        finally:
            if protocol is not None:
                self._detached()

    def _detached(self) -> None:
        """The protocol got its connection_lost."""


class Transport(_Endpoint, asyncio.Transport):
    """A TCP connection as asyncio's ``Transport``: what ``create_server``
    and ``create_connection`` hand to the protocol. Behaves as asyncio's
    socket transport (see the module notes for write buffering)."""

    __slots__ = (
        "_peername",
        "_server",
        "_connect_waiter",
        "_held",
        "_read_stopped",
        "_paused",
        "_flush_scheduled",
        "_eof_written",
        "_overflow",
        "_overflow_size",
        "_high",
        "_low",
        "_big_token",
        "_big_size",
        "_tls_waiting",
        "_tls_context",
        "_buffered",
        "_stream",
        "_shut",
    )

    def __init__(self, hub: _Hub, handle: int, peername: tuple[str, int] | None, server: Server | None) -> None:
        # Named, not super(): no super object per connection (~500 instructions).
        _Endpoint.__init__(self, hub, handle)
        self._peername = peername
        self._server = server
        # Set by create_connection until "connected" or "connect_failed".
        self._connect_waiter: asyncio.Future[None] | None = None
        # Data (bytes), EOF (None) and _LOST, not delivered yet: before the
        # protocol reads, while reading is paused, or behind earlier items.
        self._held: collections.deque[bytes | object] | None = None
        # close(), abort() or a fatal error: nothing more is read.
        self._read_stopped = False
        self._paused = False
        self._flush_scheduled = False
        self._eof_written = False
        self._overflow: collections.deque[bytearray] | None = None
        self._overflow_size = 0
        self._high = _DEFAULT_HIGH
        self._low = _DEFAULT_LOW
        # The token of the last message larger than the high mark, and its
        # size until its "sent" came.
        self._big_token = 0
        self._big_size = 0
        # A TLS handshake is under way: the protocol (or create_connection's
        # caller) gets the connection once it is over, as asyncio's.
        self._tls_waiting = False
        # The TLSContext of a TLS connection (get_extra_info("sslcontext")).
        self._tls_context: TLSContext | None = None
        # The protocol is a BufferedProtocol (decided once, not per read).
        self._buffered = False
        # The native short ways of data and writes (see _sync): closed
        # until reading starts (_start_reading syncs), so connection_made's
        # writes take the Python write, which does the same.
        self._stream: _AioStream = hub.streams.open(hub.nc, handle, self._context, self._event)
        self._stream.set_marks(_DEFAULT_HIGH, _DEFAULT_LOW, DEFAULT_LOW_WATER)
        # The short ways are closed for good (see _sync).
        self._shut = False

    def __repr__(self) -> str:
        state = " closing" if self._closing else ""
        return f"<netcore.aio.Transport handle={self._handle}{state}>"

    # ---- asyncio.BaseTransport ---------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``peername``, ``sockname`` (as the socket module gives them: IP
        tuples; over Unix the path, ``""`` when unnamed, ``b"\\0name"`` in
        the abstract namespace), ``socket`` (an object with
        ``getpeername``/``getsockname``/``getsockopt``...) and, under TLS,
        ``sslcontext`` (the :class:`netcore.TLSContext`)."""
        if name == "sslcontext":
            return default if self._tls_context is None else self._tls_context
        try:
            if name == "peername":
                if self._peername is None:
                    # Unix, or adopted: asked of the socket.
                    return _address(self._nc, self._handle, peer=True)
                return _sockaddr(self._peername)
            if name == "sockname":
                return _address(self._nc, self._handle, peer=False)
            if name == "socket":
                return self._socket()
        except (Error, OSError):
            return default
        return default

    def close(self) -> None:
        """Stops reading, sends everything buffered, then closes;
        ``connection_lost(None)`` follows once (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self._read_stopped = True
        self._held = None
        if self._overflow is None and not self._nc_closed:
            # Nothing left to send (TLS has its close_notify): asyncio calls
            # connection_lost on the next turn, not once netcore's "closed" comes;
            # with bytes left, once the kernel took them ("sent" with _FLUSHED).
            try:
                plain = self._tls_context is None
                sent = plain and self._nc._queued_after_flush(self._handle) == 0
                if plain and not sent:
                    self._nc.notify_when_sent(self._handle, _FLUSHED)
            except Error:
                sent = False
            # Syncs the state changed here too.
            self._close_handle()
            if sent:
                self._lose(None)
            return
        self._sync()
        if self._nc_closed:
            self._lose(None)

    def set_protocol(self, protocol: Any) -> None:
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)
        # Until reading starts the short ways do not depend on the
        # protocol (a new connection's _start: no _sync).
        if self._reading:
            self._sync()

    # ---- asyncio.ReadTransport ---------------------------------------------

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        """No ``data_received`` from now until ``resume_reading()``."""
        if self._closing or self._paused:
            return
        self._paused = True
        self._sync()
        self._quiet(self._nc.pause)

    def resume_reading(self) -> None:
        """Reading goes on; held data comes on a later turn, as asyncio's."""
        if self._closing or not self._paused:
            return
        self._paused = False
        self._sync()
        self._quiet(self._nc.resume)
        if self._held:
            self._schedule_flush()

    # ---- asyncio.WriteTransport --------------------------------------------

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """As asyncio's (default high 64 KiB, low high // 4); the marks are
        also netcore's for this connection."""
        if high is None:
            high = 4 * low if low is not None else _DEFAULT_HIGH
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._stream.set_marks(high, low, self._low)
        self._high, self._low = high, low
        self._sync()
        self._maybe_pause_protocol()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low, self._high)

    def get_write_buffer_size(self) -> int:
        """Bytes written and not yet taken by the kernel: the transport's
        overflow queue plus netcore's send queue (none once it is closed)."""
        try:
            queued = self._nc.queued_bytes(self._handle)
        except Error:
            queued = 0
        return self._overflow_size + queued

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Sends ``data`` or buffers it; never loses bytes (see the module
        notes); ``pause_writing()`` is called in here when the buffer passes
        the high mark. (Native in front, see _sync: a ``bytes`` written while
        nothing is buffered goes straight to netcore.)"""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if self._eof_written:
            raise RuntimeError("Cannot call write() after write_eof()")
        if not data:
            return
        if self._conn_lost or self._nc_closed:
            self._dropped()
            return
        if self._overflow is None:
            try:
                if len(data) <= self._high:
                    self._nc.send(self._handle, data)
                else:
                    self._send_big(data)
            except (BlockingIOError, Error) as exc:
                self._write_failed(data, exc)
            return
        self._buffer(data)
        self._maybe_pause_protocol()

    def _write_failed(self, data: bytes | bytearray | memoryview, exc: BaseException) -> None:
        """netcore refused the send of ``data`` (queue empty until then):
        a full queue (BlockingIOError) starts the overflow, anything else is
        fatal."""
        if not isinstance(exc, BlockingIOError):
            self._send_failed(exc, "Fatal write error on socket transport")
            return
        self._overflow = collections.deque()
        self._sync()
        self._buffer(data)
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        """Writes the buffers in order, as one message."""
        self.write(b"".join(list_of_data))

    def write_eof(self) -> None:
        """Half-closes once everything buffered is sent."""
        if self._closing or self._eof_written:
            return
        self._eof_written = True
        self._sync()
        if self._overflow is None:
            self._shutdown()

    def can_write_eof(self) -> bool:
        return True

    def abort(self) -> None:
        """Closes at once, dropping what is buffered (see _force_close);
        ``connection_lost(None)`` follows."""
        self._force_close(None)

    # ---- events ------------------------------------------------------------

    def _data(self, data: bytes, from_held: bool = False) -> None:
        """Stream data to the protocol, or held while it does not read (or
        earlier data is held), or dropped once reading stopped for good.
        ``from_held``: ``data`` comes out of the held queue and the caller
        saw that the protocol reads. (Data the protocol reads now goes to
        data_received natively instead: see _sync.)"""
        if from_held or (self._reading and not self._paused and self._held is None and not self._read_stopped):
            try:
                if self._buffered:
                    _feed_buffered(self._protocol, data)
                else:
                    self._protocol.data_received(data)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, _DATA_RECEIVED_FAILED)
        elif not self._read_stopped:
            self._hold(data)

    def _sync(self) -> None:
        """Opens or closes the native short ways to match the state: data
        goes straight to ``data_received`` (taken now, as uvloop takes it)
        while the protocol reads and nothing is held; a ``bytes`` write of
        up to the high mark goes straight to netcore while nothing is
        buffered and the connection is writable. Everything else comes
        through the Python code here."""
        if self._shut:
            return
        protocol = self._protocol
        reads = (
            protocol is not None
            and self._reading
            and not self._paused
            and self._held is None
            and not self._read_stopped
            and not self._buffered
        )
        writes = self._overflow is None and not self._eof_written and not self._conn_lost and not self._nc_closed
        self._stream.set(getattr(protocol, "data_received", None) if reads else None, self._high if writes else 0)
        # Both final: nothing reopens them (the rest of a close syncs for nothing).
        self._shut = self._nc_closed and self._read_stopped

    def _event(self, ev: Event) -> None:
        # Stream data never comes here: the hub's streams deliver it.
        kind = ev.kind
        if kind == "eof":
            if self._reading and not self._paused and self._held is None:
                self._aloop.call_soon(self._eof_received)
            elif not self._read_stopped:
                self._hold(None)
        elif kind == "writable":
            self._flush_overflow()
        elif kind == "closed":
            self._netcore_closed()
            self._overflow = None
            waiter = self._connect_waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(ev.error or ConnectionResetError("connection closed"))
            if self._held and ev.error is None and not self._read_stopped:
                self._held.append(_LOST)
            else:
                self._held = None
                if not self._conn_lost:
                    # Syncs the state changed here too.
                    self._lose(ev.error)
                    return
            self._sync()
        elif kind == "connected":
            self._peername = ev.addr
            if not self._tls_waiting:
                self._connected()
        elif kind == "tls_ready":
            self._tls_waiting = False
            if self._server is not None and self._protocol is None:
                self._server._start_transport(self)
            else:
                self._connected()
        elif kind == "sent":
            if ev.value == _FLUSHED:
                if not self._conn_lost:
                    self._lose(None)
            elif ev.value == self._big_token:
                self._big_size = 0
                self._maybe_resume_protocol()
        elif kind == "connect_failed":
            waiter = self._connect_waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(ev.error or ConnectionError("connect failed"))

    async def _start_tls(self, context: TLSContext, server_hostname: str | None) -> Transport:
        """``loop.start_tls`` over netcore (STARTTLS): this same transport,
        its bytes protected once the handshake is over (its error raised
        if it fails)."""
        waiter: asyncio.Future[None] = self._aloop.create_future()
        self._nc.start_tls(self._handle, context, server_hostname=None if context.server_side else server_hostname)
        self._tls_context = context
        self._tls_waiting = True
        self._connect_waiter = waiter
        try:
            await waiter
        finally:
            self._connect_waiter = None
        return self

    def _connected(self) -> None:
        """create_connection's connection is up (and its TLS ready), or
        start_tls's handshake is over."""
        waiter = self._connect_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _start_reading(self) -> None:
        if self._read_stopped:
            return
        self._reading = True
        self._sync()
        if self._held and not self._paused:
            self._flush_held()

    def _eof_received(self) -> None:
        if self._read_stopped or self._lost_called:
            return
        if self._paused:
            held = self._held = self._held or collections.deque()
            held.appendleft(None)
            self._sync()
            return
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()
        elif self._held:
            self._schedule_flush()

    def _hold(self, item: bytes | object) -> None:
        if self._held is None:
            self._held = collections.deque()
            self._sync()
        self._held.append(item)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._aloop.call_soon(self._flush_held)

    def _flush_held(self) -> None:
        """Delivers held data (a held EOF on a later turn, then a held
        loss) while the protocol reads."""
        self._flush_scheduled = False
        held = self._held
        while held and self._reading and not self._paused and not self._read_stopped:
            item = held.popleft()
            if item is None:
                self._aloop.call_soon(self._eof_received)
                break
            if item is _LOST:
                self._held = None
                self._lose(None)
                return
            assert isinstance(item, bytes)
            self._data(item, from_held=True)
        if self._held is held and held is not None and not held:
            self._held = None
            self._sync()

    # ---- writing internals -------------------------------------------------

    def _buffer(self, data: bytes | bytearray | memoryview) -> None:
        overflow = self._overflow
        assert overflow is not None
        if overflow and len(overflow[-1]) + len(data) <= _CHUNK:
            overflow[-1] += data
        else:
            overflow.append(bytearray(data))
        self._overflow_size += len(data)

    def _flush_overflow(self) -> None:
        """netcore's queue fell to the low mark: hand it the overflow."""
        overflow = self._overflow
        if overflow is None:
            return
        while overflow:
            try:
                if len(overflow[0]) > self._high:
                    self._send_big(overflow[0])
                else:
                    self._nc.send(self._handle, overflow[0])
            except BlockingIOError:
                return
            except Error as exc:
                self._send_failed(exc, "Fatal write error on socket transport")
                return
            self._overflow_size -= len(overflow.popleft())
        self._overflow = None
        self._sync()
        self._maybe_resume_protocol()
        if self._closing:
            self._close_handle()
        elif self._eof_written:
            self._shutdown()

    def _send_big(self, data: bytes | bytearray | memoryview) -> None:
        """Sends a message larger than the high mark (netcore takes it into
        an empty queue) with a token, and pauses the protocol until its
        "sent": what the kernel did not take may be above the mark, where
        asyncio pauses too."""
        self._big_token += 1
        self._nc.send(self._handle, data, token=self._big_token)
        self._big_size = len(data)
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if self._protocol_paused or (self._overflow is None and not self._big_size) or self._protocol is None:
            return
        self._protocol_paused = True
        self._call_protocol("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if not self._protocol_paused or self._overflow is not None or self._big_size:
            return
        self._protocol_paused = False
        self._call_protocol("resume_writing")

    # ---- loop.sendfile ------------------------------------------------------

    async def _sendfile(self, file: Any, offset: int, count: int | None) -> int:
        """``loop.sendfile``'s work: netcore has no sendfile(2) path, so this
        is what asyncio falls back to for such a transport: the file read in
        blocks off the loop's thread (its position left after the last byte
        sent) and each block written once the buffer is below the high mark.
        Reading is paused meanwhile, and the write pauses go to a
        :class:`_FileSender`, not to the protocol, which then learns where
        writing stands."""
        if offset:
            file.seek(offset)
        sender = _FileSender(self)
        was_reading, was_paused = self.is_reading(), self._protocol_paused
        if was_paused:
            sender.pause_writing()
        self.pause_reading()
        self.set_protocol(sender)
        block = bytearray(_CHUNK)
        sent = 0
        try:
            while count is None or sent < count:
                view = memoryview(block)[: _CHUNK if count is None else min(_CHUNK, count - sent)]
                read = await self._aloop.run_in_executor(None, file.readinto, view)
                if not read:
                    break
                await sender.writable()
                if self._closing:
                    raise ConnectionError("the connection closed during sendfile")
                self.write(view[:read])
                sent += read
            return sent
        finally:
            if sent:
                file.seek(offset + sent)
            self.set_protocol(sender.protocol)
            if was_reading:
                self.resume_reading()
            if self._protocol_paused != was_paused and not self._lost_called:
                self._call_protocol("pause_writing" if self._protocol_paused else "resume_writing")

    # ---- closing internals -------------------------------------------------

    def _shutdown(self) -> None:
        try:
            self._nc.shutdown(self._handle)
        except Error as exc:
            self._send_failed(exc, "Fatal error on socket transport")

    def _send_failed(self, exc: BaseException, message: str) -> None:
        """A send or shutdown failed: fatal, but for ClosedError on an open
        loop. netcore closes a connection on its own (a reset it read, a
        failed send) while the events it polled before are still being
        delivered; its "closed" follows and brings connection_lost the cause
        (ConnectionResetError, as asyncio's transports report it)."""
        if not isinstance(exc, ClosedError) or self._nc.closed:
            self._fatal_error(exc, message)

    def _force_close(self, exc: BaseException | None) -> None:
        """As asyncio's: drops what is buffered and closes the socket at
        once. The peer gets what the kernel took, then a FIN; a reset if
        bytes were dropped (this transport's, or netcore's queue: see
        close_abort), so that it cannot take the loss for a clean end."""
        if self._conn_lost:
            return
        dropped = self._overflow_size > 0
        self._closing = True
        self._read_stopped = True
        self._held = None
        self._overflow = None
        self._overflow_size = 0
        if not self._nc_closed:
            self._nc_closed = True
            self._quiet(self._nc.close_reset if dropped else self._nc.close_abort)
        self._lose(exc)

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if not isinstance(exc, OSError):
            self._aloop.call_exception_handler(
                {"message": message, "exception": exc, "transport": self, "protocol": self._protocol}
            )
        self._force_close(exc)

    def _detached(self) -> None:
        if self._server is not None:
            self._server._detach(self)
            self._server = None


_install_aio_transport(Transport)


class _FileSender(asyncio.Protocol):
    """A transport's protocol while :meth:`Transport._sendfile` writes a
    file to it: holds the write pauses, and passes a loss on to the
    connection's protocol."""

    def __init__(self, transport: Transport) -> None:
        self.protocol = transport.get_protocol()
        self._aloop = transport._aloop
        self._ready: asyncio.Future[None] | None = None

    async def writable(self) -> None:
        """Returns once writing is not paused (raises if the connection is lost meanwhile)."""
        if self._ready is not None:
            await self._ready

    def pause_writing(self) -> None:
        if self._ready is None:
            self._ready = self._aloop.create_future()

    def resume_writing(self) -> None:
        ready, self._ready = self._ready, None
        if ready is not None and not ready.done():
            ready.set_result(None)

    def connection_lost(self, exc: BaseException | None) -> None:
        ready, self._ready = self._ready, None
        if ready is not None and not ready.done():
            ready.set_exception(exc or ConnectionResetError("the connection was lost during sendfile"))
        self.protocol.connection_lost(exc)


def _feed_buffered(protocol: asyncio.BufferedProtocol, data: bytes) -> None:
    """Gives ``data`` to a BufferedProtocol: into the buffers its
    ``get_buffer`` returns, each followed by ``buffer_updated(n)``."""
    view = memoryview(data)
    while view:
        buf = memoryview(protocol.get_buffer(len(view))).cast("B")
        if not buf:
            raise RuntimeError("get_buffer() returned an empty buffer")
        n = min(len(buf), len(view))
        buf[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


def _set_result_unless_cancelled(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Server(asyncio.AbstractServer):
    """A listening server as asyncio's ``Server``: what
    :func:`create_server` returns (``sockets``, ``close``, ``wait_closed``,
    ``is_serving``, ``start_serving``, ``serve_forever``, ``async with``)."""

    def __init__(self, hub: _Hub, protocol_factory: Callable[[], asyncio.BaseProtocol]) -> None:
        self._hub = hub
        self._aloop = hub.aloop
        self._factory = protocol_factory
        self._listeners: list[int] | None = []
        self._families: dict[int, int] = {}
        self._serving = False
        # The connections whose protocol has not had connection_lost yet.
        self._clients: set[Transport] = set()
        self._waiters: list[asyncio.Future[None]] | None = []
        self._serving_forever_fut: asyncio.Future[None] | None = None
        # Connections accepted before start_serving().
        self._waiting: list[tuple[int, tuple[str, int] | None]] = []
        # The listeners speak TLS: a connection's protocol waits for it.
        self._tls: TLSContext | None = None
        # The context of create_server's caller: each connection gets a copy.
        self._context = contextvars.copy_context()
        # An adopted Unix listener's socket file, removed on close (3.13's
        # cleanup_socket; netcore removes those it bound itself).
        self._socket_file: tuple[str, int, int] | None = None
        # The sockets given as ``sock=``, by the handle of netcore's duplicate:
        # they stay usable, as asyncio's, and close with the server.
        self._adopted: dict[int, socket.socket] = {}

    def __repr__(self) -> str:
        return f"<netcore.aio.Server sockets={self.sockets!r}>"

    def _listen(self, host: str, port: int, backlog: int, reuse_port: bool, tls: TLSContext | None) -> None:
        v6 = ":" in host
        handle = self._hub.nc.listen(host, port, backlog=backlog, reuse_port=reuse_port, ipv6_only=v6, tls=tls)
        self._add_listener(handle, socket.AF_INET6 if v6 else socket.AF_INET, tls)

    def _add_listener(self, handle: int, family: int, tls: TLSContext | None) -> None:
        """A listener of this server (bound, Unix or adopted): the server
        owns it (and closes it if this fails) before its TLS is set."""
        assert self._listeners is not None
        self._listeners.append(handle)
        self._families[handle] = family
        self._hub.owners[handle] = self
        # Its connections come to _accept natively (in this server's context).
        self._hub.streams.listen(handle, self._context, self._accept)
        if tls is not None:
            self._hub.nc.set_listener_tls(handle, tls)
        self._tls = tls

    def _event(self, ev: Event) -> None:
        if ev.kind == "closed":
            self._hub.forget(ev.handle)

    def _accept(self, handle: int, addr: tuple[str, int] | None) -> None:
        if self._listeners is None:
            self._hub.reset(handle)
            return
        if not self._serving:
            self._waiting.append((handle, addr))
            return
        transport = Transport(self._hub, handle, addr, self)
        if self._tls is not None:
            # The protocol comes with "tls_ready"; a failed handshake never
            # reaches it (its "closed" ends the transport quietly).
            transport._tls_context = self._tls
            transport._tls_waiting = True
        else:
            self._start_transport(transport)

    def _start_transport(self, transport: Transport) -> None:
        """An accepted connection (its TLS ready) gets its protocol."""
        try:
            protocol = self._factory()
        except (SystemExit, KeyboardInterrupt):
            transport._force_close(None)
            raise
        except BaseException as exc:
            transport._force_close(None)
            self._aloop.call_exception_handler(
                {"message": "Error on transport creation for incoming connection", "exception": exc}
            )
            return
        self._clients.add(transport)
        transport._start(protocol)

    def _detach(self, transport: Transport) -> None:
        self._clients.discard(transport)
        if not self._clients and self._listeners is None:
            self._wakeup()

    def close_clients(self) -> None:
        """Closes every connection gracefully (asyncio 3.13's)."""
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self) -> None:
        """Closes every connection at once (asyncio 3.13's)."""
        for transport in list(self._clients):
            transport.abort()

    def _wakeup(self) -> None:
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    @property
    def sockets(self) -> tuple[_TransportSocket | TransportSocket, ...]:
        """The listening sockets (empty once closed): a ``sock=`` given as
        asyncio shows it while it is open (another server given it may have
        closed it), the others as :class:`_TransportSocket`."""
        if self._listeners is None:
            return ()
        return tuple(self._socket(h) for h in self._listeners)

    def _close_adopted(self) -> None:
        """Closes the sock= objects (netcore listens on duplicates)."""
        adopted, self._adopted = self._adopted, {}
        for sock in adopted.values():
            sock.close()

    def _socket(self, handle: int) -> _TransportSocket | TransportSocket:
        sock = self._adopted.get(handle)
        if sock is not None and sock.fileno() != -1:
            return TransportSocket(sock)
        return _TransportSocket(self._hub.nc, handle, self._families[handle])

    def close(self) -> None:
        """Stops listening; open connections stay."""
        listeners, self._listeners = self._listeners, None
        if listeners is None:
            return
        for handle in listeners:
            try:
                self._hub.nc.close(handle)
            except Error:
                pass
        self._close_adopted()
        if self._socket_file is not None:
            _remove_socket_file(*self._socket_file)
        waiting, self._waiting = self._waiting, []
        for handle, _ in waiting:
            self._hub.reset(handle)
        self._serving = False
        if self._serving_forever_fut is not None and not self._serving_forever_fut.done():
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None
        if not self._clients:
            self._wakeup()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._aloop

    def is_serving(self) -> bool:
        return self._serving

    async def start_serving(self) -> None:
        """Hands connections to the protocol factory from now on (those
        accepted meanwhile first)."""
        if self._serving or self._listeners is None:
            return
        self._serving = True
        waiting, self._waiting = self._waiting, []
        for handle, addr in waiting:
            self._context.run(self._accept, handle, addr)

    async def serve_forever(self) -> None:
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._listeners is None:
            raise RuntimeError(f"server {self!r} is closed")
        await self.start_serving()
        self._serving_forever_fut = self._aloop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self) -> None:
        """As the running Python's asyncio: from 3.12.1 waits for close()
        and every connection to end; before, returns at once once closed."""
        if self._waiters is None:
            return
        if self._listeners is None and not _WAIT_FOR_CONNECTIONS:
            return
        waiter = self._aloop.create_future()
        self._waiters.append(waiter)
        await waiter


def _is_literal(host: str) -> bool:
    try:
        parse_address(host, 0)
    except InvalidArgumentError:
        return False
    return True


async def _listen_hosts(
    hub: _Hub, host: str | Sequence[str] | None, port: int, family: int, flags: int
) -> list[str]:
    """The IP literals to listen on for asyncio's ``host`` argument."""
    if host is None or host == "":
        if family == socket.AF_INET:
            return ["0.0.0.0"]
        if family == socket.AF_INET6:
            return ["::"]
        return ["0.0.0.0", "::"]
    hosts = [host] if isinstance(host, str) else list(host)
    out: list[str] = []
    for name in hosts:
        out += await _literals(hub, name, port, family, socket.SOCK_STREAM, flags)
    return list(dict.fromkeys(out))


async def _literals(hub: _Hub, host: str, port: int, family: int, type: int, flags: int = 0) -> list[str]:
    """``host`` as IP literals: itself if it is one, else what the
    system resolver says (off the loop thread, as asyncio resolves)."""
    if _is_literal(host):
        return [host]
    infos = await hub.aloop.getaddrinfo(host, port, family=family, type=type, flags=flags)
    return [str(info[4][0]) for info in infos]


def _port(port: int | str | bytes | None, sock_type: int = socket.SOCK_STREAM) -> int:
    """A port as asyncio takes one (getaddrinfo's service): a number, a
    string of digits, or a service name (looked up in the local services
    database); None is 0. Anything else is left to netcore to refuse."""
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    if not isinstance(port, str):
        return 0 if port is None else port
    if port.isdigit():
        return int(port)
    return socket.getservbyname(port, "udp" if sock_type == socket.SOCK_DGRAM else "tcp")


# What a failed bind() raises (netcore binds inside listen and connect).
_BIND_ERRORS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def _name_bind_address(exc: OSError, address: object) -> None:
    """Words a failed bind's ``exc`` as asyncio does, naming the address
    (its class and errno stay); any other error is left as it is."""
    if exc.errno in _BIND_ERRORS:
        exc.strerror = f"error while attempting to bind on address {address!r}: {str(exc.strerror).lower()}"


def _tls_context(ssl: Any, server_side: bool) -> Any:
    """``ssl=`` as netcore takes it: None/False for none, True for a client
    context with the system's trust store; anything else goes to netcore as
    it is (an ``ssl.SSLContext`` is its TypeError naming TLSContext)."""
    if ssl is None or ssl is False:
        return None
    if ssl is True and not server_side:
        return TLSContext.client()
    return ssl


async def create_server(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: str | Sequence[str] | None = None,
    port: int | str | None = None,
    *,
    family: int = socket.AF_UNSPEC,
    flags: int = socket.AI_PASSIVE,
    sock: socket.socket | None = None,
    backlog: int = 100,
    ssl: Any = None,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    start_serving: bool = True,
) -> Server:
    """``loop.create_server`` over netcore: listens on ``host`` (an IP
    literal, a name, a list of them, or None/"" for every interface) and
    ``port``; each connection gets ``protocol_factory()`` and a
    :class:`Transport`. ``ssl`` is a :class:`netcore.TLSContext` (a server
    one; an ``ssl.SSLContext`` is a TypeError): a connection's protocol
    comes once its handshake is over, whose timeout is the context's. Not
    supported: ``reuse_address=False`` (netcore always sets SO_REUSEADDR).
    With ``sock`` (a bound or listening TCP or Unix stream
    ``socket.socket``; listened on with ``backlog``, as asyncio does), the
    server adopts it: netcore listens on a duplicate of its descriptor, the
    object stays usable, ``sockets`` show it and it closes with the
    server."""
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    _check_ssl_options(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    if reuse_address is False:
        raise NotImplementedError("netcore.aio: netcore always sets SO_REUSEADDR")
    if sock is not None:
        _check_socket(sock, socket.SOCK_STREAM)
        if host is not None or port is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        return await _serve(protocol_factory, _adopt_listener(sock, backlog, ssl), start_serving)

    number = _port(port)

    async def listen(server: Server) -> None:
        hosts = await _listen_hosts(server._hub, host, number, family, flags)
        for name in hosts:
            try:
                server._listen(name, number, backlog, bool(reuse_port), _tls_context(ssl, server_side=True))
            except OSError as exc:
                # No IPv6 on this machine: the wildcard listens on IPv4 only.
                if host in (None, "") and name == "::" and server._listeners:
                    continue
                _name_bind_address(exc, (name, number))
                raise

    return await _serve(protocol_factory, listen, start_serving)


async def create_connection(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    host: str | None = None,
    port: int | str | None = None,
    *,
    ssl: Any = None,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    sock: socket.socket | None = None,
    local_addr: tuple[str, int] | None = None,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    happy_eyeballs_delay: float | None = None,
    interleave: int | None = None,
    all_errors: bool = False,
) -> tuple[Transport, asyncio.BaseProtocol]:
    """``loop.create_connection`` over netcore: connects to ``host`` (name
    resolution and Happy Eyeballs by netcore) and ``port``, then returns
    ``(transport, protocol_factory())`` once ``connection_made`` ran.
    Cancelled, it closes the connection. ``ssl`` is a
    :class:`netcore.TLSContext` (a client one; True: the system's trust
    store; an ``ssl.SSLContext`` is a TypeError): the connection is returned
    once its handshake is over, verified against ``server_hostname``
    (default: ``host``); a failed one raises its ``ssl.SSLError`` subclass.
    With ``sock`` (a connected TCP or Unix stream ``socket.socket``), the
    connection adopts it as :func:`create_server` does: the object stays
    usable, ``get_extra_info('socket')`` shows it and it closes with the
    transport."""
    del proto, flags, interleave, all_errors
    _check_ssl_options(ssl, ssl_handshake_timeout, ssl_shutdown_timeout, server_hostname)
    if sock is not None:
        _check_socket(sock, socket.SOCK_STREAM)
        if host is not None or port is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        return await _adopt_connection(protocol_factory, sock, ssl, server_hostname)
    if host is None or port is None:
        raise ValueError("host and port was not specified and no sock specified")
    families: dict[int, Family] = {socket.AF_INET: "ipv4", socket.AF_INET6: "ipv6"}
    fam = families.get(family)
    tls = _tls_context(ssl, server_side=False)
    target: tuple[str, int] = (host, _port(port))

    def connect(nc: Loop) -> int:
        return nc.connect(
            *target, family=fam, local_address=local_addr, attempt_delay=happy_eyeballs_delay, tls=tls,
            server_hostname=server_hostname,
        )

    try:
        return await _connect_on(protocol_factory, connect, tls_at_connect=tls)
    except OSError as exc:
        if local_addr is not None:
            _name_bind_address(exc, local_addr)
        raise


async def open_connection(
    host: str | None = None, port: int | str | None = None, *, limit: int = 2**16, **kwds: Any
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_connection`` over netcore: asyncio's own
    ``StreamReader``/``StreamWriter`` on a :class:`Transport` (``kwds`` as
    :func:`create_connection`'s)."""
    aloop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=aloop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=aloop)
    transport, _ = await create_connection(lambda: protocol, host, port, **kwds)
    writer = asyncio.StreamWriter(transport, protocol, reader, aloop)
    return reader, writer


async def start_server(
    client_connected_cb: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
    host: str | Sequence[str] | None = None,
    port: int | str | None = None,
    *,
    limit: int = 2**16,
    **kwds: Any,
) -> Server:
    """``asyncio.start_server`` over netcore: ``client_connected_cb(reader,
    writer)`` (a function or a coroutine function) per connection, with
    asyncio's own streams (``kwds`` as :func:`create_server`'s)."""
    aloop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=limit, loop=aloop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=aloop)

    return await create_server(factory, host, port, **kwds)



async def _serve(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    listen: Callable[[Server], Awaitable[None]],
    start_serving: bool,
) -> Server:
    """A server whose listeners ``listen`` adds; closed if that fails."""
    hub = _hub()
    server = Server(hub, protocol_factory)
    try:
        await listen(server)
    except BaseException:
        server.close()
        hub.release_soon()
        raise
    if start_serving:
        await server.start_serving()
    return server


async def _connect_on(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    connect: Callable[[Loop], int],
    *,
    tls_at_connect: TLSContext | None = None,
    start_tls: TLSContext | None = None,
    server_hostname: str | None = None,
    adopted: socket.socket | None = None,
) -> tuple[Transport, asyncio.BaseProtocol]:
    """A transport on the connection ``connect`` makes, once it is up:
    ``tls_at_connect`` is the context it was made with (its handshake
    follows the connection); ``start_tls`` one to start on it once
    connected (a Unix or adopted connection), verified against
    ``server_hostname``; ``adopted``: the sock= object whose descriptor
    ``connect`` adopted (connected already; it closes with the transport)."""
    if start_tls is not None and not server_hostname:
        raise ValueError("you have to pass server_hostname when using ssl")
    hub = _hub()
    try:
        handle = connect(hub.nc)
    except BaseException:
        hub.release_soon()
        raise
    transport = Transport(hub, handle, None, None)
    if adopted is not None:
        transport._keep(adopted)
    transport._tls_context = tls_at_connect
    transport._tls_waiting = tls_at_connect is not None
    try:
        if adopted is None:
            transport._connect_waiter = hub.aloop.create_future()
            await transport._connect_waiter
            transport._connect_waiter = None
        if start_tls is not None:
            await transport._start_tls(start_tls, server_hostname)
        protocol = protocol_factory()
        ready: asyncio.Future[None] = hub.aloop.create_future()
        transport._start(protocol, ready)
        await ready
    except BaseException:
        transport._force_close(None)
        raise
    return transport, protocol


def _check_socket(sock: socket.socket, sock_type: int, *, unix: bool = False) -> None:
    """Refuses a ``sock=`` as asyncio does: an ``ssl.SSLSocket`` (TypeError),
    a socket of another type or (``unix``) family (ValueError)."""
    if unix:
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
    elif sock_type == socket.SOCK_DGRAM:
        if sock.type != socket.SOCK_DGRAM:
            raise ValueError(f"A UDP Socket was expected, got {sock!r}")
    else:
        if isinstance(sock, SSLSocket):
            raise TypeError("Socket cannot be of type SSLSocket")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")


def _check_ssl_options(
    ssl: Any, handshake_timeout: float | None, shutdown_timeout: float | None, server_hostname: str | None = None
) -> None:
    """``server_hostname`` and the TLS timeouts mean something only with
    ``ssl`` (asyncio's ValueError otherwise, in asyncio's order)."""
    given = (("server_hostname", server_hostname), ("ssl_handshake_timeout", handshake_timeout),
             ("ssl_shutdown_timeout", shutdown_timeout))
    for name, value in given:
        if not ssl and value is not None:
            raise ValueError(f"{name} is only meaningful with ssl")


def _adopt(sock: socket.socket, adopt: Callable[[int], int]) -> int:
    """netcore's handle (``adopt``'s) on a duplicate of ``sock``'s
    descriptor: as in asyncio, the object stays usable (its options, its
    addresses, ``fileno()``; non-blocking now), and whoever keeps it closes
    it once netcore is done with the socket (a descriptor left open would
    keep a connection from ending)."""
    duplicate = os.dup(sock.fileno())
    try:
        return adopt(duplicate)
    except BaseException:
        os.close(duplicate)
        raise


def _adopt_listener(sock: socket.socket, backlog: int, ssl: Any) -> Callable[[Server], Awaitable[None]]:
    """A server's listen step for ``sock=``: ``sock.listen(backlog)`` as
    asyncio calls it (so a socket that is only bound will do), then netcore
    adopts a duplicate of its descriptor. Ownership moves, as in asyncio:
    the object stays usable (``getsockname()``, options, ``fileno()``; non-
    blocking now), the server's ``sockets`` show it, and closing the server
    closes it."""

    async def listen(server: Server) -> None:
        sock.listen(backlog)
        handle = _adopt(sock, server._hub.nc.adopt_listener)
        server._adopted[handle] = sock
        server._add_listener(handle, sock.family, _tls_context(ssl, server_side=True))

    return listen


async def _adopt_connection(
    protocol_factory: Callable[[], asyncio.BaseProtocol], sock: socket.socket, ssl: Any, server_hostname: str | None
) -> tuple[Transport, asyncio.BaseProtocol]:
    """A transport on the connected ``sock=``, which netcore adopts (see
    :func:`_adopt`; ``get_extra_info("socket")`` shows the object, which
    closes with the connection). With ``ssl``, a TLS handshake (verified
    against ``server_hostname``) comes first."""
    return await _connect_on(
        protocol_factory,
        lambda nc: _adopt(sock, nc.adopt_connection),
        start_tls=_tls_context(ssl, server_side=False),
        server_hostname=server_hostname,
        adopted=sock,
    )


def _unix_target(path: _UnixPath | None, sock: socket.socket | None, neither: str) -> str | socket.socket:
    """What a Unix server or connection is on: ``path`` as netcore writes
    it, or ``sock`` to adopt; refused as asyncio refuses (``neither``: its
    message when both are missing)."""
    if path is None:
        if sock is None:
            raise ValueError(neither)
        _check_socket(sock, socket.SOCK_STREAM, unix=True)
        return sock
    if sock is not None:
        raise ValueError("path and sock can not be specified at the same time")
    return _unix_path(path)


def _remove_stale_socket(path: str) -> None:
    """As asyncio's ``create_unix_server``: a socket file left at ``path``
    (by a server that did not remove it) is removed before binding."""
    if path.startswith("@"):
        return
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        # The directory may let us create the socket but not check it.
        _logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)


def _socket_file(sock: socket.socket) -> tuple[str, int, int] | None:
    """The file a Unix socket is bound to: (path, device, inode); None in
    the abstract namespace, unbound, or gone."""
    path = sock.getsockname()
    if not isinstance(path, str) or not path:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return path, st.st_dev, st.st_ino


def _remove_socket_file(path: str, device: int, inode: int) -> None:
    """Removes the socket file :func:`_socket_file` found, unless another
    file took its path since."""
    try:
        st = os.stat(path)
        if (st.st_dev, st.st_ino) == (device, inode):
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        _logger.error("Unable to clean up listening UNIX socket %r: %r", path, err)


async def create_unix_server(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    path: _UnixPath | None = None,
    *,
    sock: socket.socket | None = None,
    backlog: int = 100,
    ssl: Any = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    start_serving: bool = True,
    cleanup_socket: bool = True,
) -> Server:
    """``loop.create_unix_server`` over netcore: listens on the Unix socket
    ``path`` (as asyncio: a leading NUL names Linux's abstract namespace;
    also netcore's ``"@name"``, so a file whose name starts with ``@`` is
    written ``"./@name"``), or adopts the bound or listening Unix stream
    ``sock`` (as :func:`create_server` does). As asyncio's, a stale socket
    file at ``path`` is removed first; as in Python 3.13, the socket's
    file (also an adopted one's) is removed when the server closes, if it
    is still the same file, unless ``cleanup_socket=False``. ``ssl`` as
    for :func:`create_server`."""
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    _check_ssl_options(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
    where = _unix_target(path, sock, "path was not specified, and no sock specified")
    if isinstance(where, socket.socket):
        socket_file = _socket_file(where) if cleanup_socket else None
        server = await _serve(protocol_factory, _adopt_listener(where, backlog, ssl), start_serving)
        server._socket_file = socket_file
        return server
    _remove_stale_socket(where)
    if not cleanup_socket and not where.startswith("@"):
        # netcore removes only the socket files it bound: one bound here
        # and adopted stays.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(where)
        except BaseException:
            sock.close()
            raise
        return await _serve(protocol_factory, _adopt_listener(sock, backlog, ssl), start_serving)

    async def listen(server: Server) -> None:
        try:
            handle = server._hub.nc.listen_unix(where, backlog=backlog)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                # A file that is not a socket is there (a stale socket went above).
                exc.strerror = f"Address {where!r} is already in use"
            raise
        server._add_listener(handle, socket.AF_UNIX, _tls_context(ssl, server_side=True))

    return await _serve(protocol_factory, listen, start_serving)


async def create_unix_connection(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    path: _UnixPath | None = None,
    *,
    ssl: Any = None,
    sock: socket.socket | None = None,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> tuple[Transport, asyncio.BaseProtocol]:
    """``loop.create_unix_connection`` over netcore: connects to the Unix
    socket ``path`` (written as for :func:`create_unix_server`) or adopts
    the connected Unix stream ``sock`` (as :func:`create_connection` does);
    ``ssl`` as for :func:`create_connection`, with ``server_hostname``
    required."""
    if ssl and server_hostname is None:
        raise ValueError("you have to pass server_hostname when using ssl")
    _check_ssl_options(ssl, ssl_handshake_timeout, ssl_shutdown_timeout, server_hostname)
    where = _unix_target(path, sock, "no path and sock were specified")
    if isinstance(where, socket.socket):
        return await _adopt_connection(protocol_factory, where, ssl, server_hostname)
    return await _connect_on(
        protocol_factory,
        lambda nc: nc.connect_unix(where),
        start_tls=_tls_context(ssl, server_side=False),
        server_hostname=server_hostname,
    )


async def open_unix_connection(
    path: _UnixPath | None = None, *, limit: int = 2**16, **kwds: Any
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """``asyncio.open_unix_connection`` over netcore (``kwds`` as
    :func:`create_unix_connection`'s)."""
    aloop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=aloop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=aloop)
    transport, _ = await create_unix_connection(lambda: protocol, path, **kwds)
    return reader, asyncio.StreamWriter(transport, protocol, reader, aloop)


async def start_unix_server(
    client_connected_cb: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
    path: _UnixPath | None = None,
    *,
    limit: int = 2**16,
    **kwds: Any,
) -> Server:
    """``asyncio.start_unix_server`` over netcore (``kwds`` as
    :func:`create_unix_server`'s)."""
    aloop = asyncio.get_running_loop()

    def factory() -> asyncio.StreamReaderProtocol:
        reader = asyncio.StreamReader(limit=limit, loop=aloop)
        return asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=aloop)

    return await create_unix_server(factory, path, **kwds)
