"""Type stubs for netcore's native module (re-exported by ``netcore``)."""

import socket
import ssl
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Final, Literal, Self, SupportsIndex, TypeAlias, TypedDict, final, overload

from _typeshed import StrPath
from typing_extensions import Buffer

__version__: Final[str]

__all__ = [
    "Loop",
    "Event",
    "Closing",
    "parse_address",
    "TLSContext",
    "TLS_SUPPORTED",
    "DEFAULT_HANDSHAKE_TIMEOUT",
    "MAX_ALPN_PROTOCOLS",
    "TLS_VERSIONS",
    "CLIENT_AUTH_MODES",
    "ACCEPTED",
    "CONNECTED",
    "CONNECT_FAILED",
    "DATA",
    "EOF",
    "WRITABLE",
    "CLOSED",
    "DATAGRAM",
    "ERROR",
    "TIMER",
    "IDLE",
    "SENT",
    "RECONNECTING",
    "SHUTDOWN_COMPLETE",
    "TLS_READY",
    "TLS_FAILED",
    "NODELAY",
    "KEEPALIVE",
    "RCVBUF",
    "SNDBUF",
    "HIGH_WATER",
    "LOW_WATER",
    "BROADCAST",
    "LINGER",
    "MULTICAST_LOOP",
    "MULTICAST_TTL",
    "TTL",
    "DEFAULT_HIGH_WATER",
    "DEFAULT_LOW_WATER",
    "DEFAULT_BACKLOG",
    "DEFAULT_MAX_FRAME",
    "DEFAULT_DELIMITER",
    "DEFAULT_LENGTH_HEADER",
    "MAX_FRAME_LIMIT",
    "MAX_DELIMITER",
    "MAX_BACKOFF_STEPS",
    "MAX_RAW_OPTION_SIZE",
    "MAX_UNIX_PATH",
    "MAX_DURATION",
    "DEFAULT_ATTEMPT_DELAY",
    "MAX_ATTEMPT_DELAY",
]

# Event kinds: the values of Event.kind.
ACCEPTED: Final[EventKind]
CONNECTED: Final[EventKind]
CONNECT_FAILED: Final[EventKind]
DATA: Final[EventKind]
EOF: Final[EventKind]
WRITABLE: Final[EventKind]
CLOSED: Final[EventKind]
DATAGRAM: Final[EventKind]
ERROR: Final[EventKind]
TIMER: Final[EventKind]
IDLE: Final[EventKind]
SENT: Final[EventKind]
RECONNECTING: Final[EventKind]
SHUTDOWN_COMPLETE: Final[EventKind]
TLS_READY: Final[EventKind]
TLS_FAILED: Final[EventKind]

# Options for set_option/get_option (the core's numbers).
NODELAY: Final[int]
KEEPALIVE: Final[int]
RCVBUF: Final[int]
SNDBUF: Final[int]
HIGH_WATER: Final[int]
LOW_WATER: Final[int]
BROADCAST: Final[int]
LINGER: Final[int]
MULTICAST_LOOP: Final[int]
MULTICAST_TTL: Final[int]
TTL: Final[int]

# The core's defaults and limits.
DEFAULT_HIGH_WATER: Final[int]
DEFAULT_LOW_WATER: Final[int]
#: The listen backlog when none (or 0) is given.
DEFAULT_BACKLOG: Final[int]
#: Largest frame of delimited and length-prefixed framing when none is given.
DEFAULT_MAX_FRAME: Final[int]
#: Delimiter of delimited framing when none is given.
DEFAULT_DELIMITER: Final[bytes]
#: Length-header size (bytes) of length-prefixed framing when none is given.
DEFAULT_LENGTH_HEADER: Final[int]
MAX_FRAME_LIMIT: Final[int]
MAX_DELIMITER: Final[int]
#: Most delays in connect()'s reconnect schedule.
MAX_BACKOFF_STEPS: Final[int]
MAX_RAW_OPTION_SIZE: Final[int]
MAX_UNIX_PATH: Final[int]
#: Longest duration honoured, in seconds (100 years): every longer delay,
#: period or timeout (``math.inf`` included) means "never".
MAX_DURATION: Final[float]
#: Seconds between Happy Eyeballs attempts when connect() gets no attempt_delay.
DEFAULT_ATTEMPT_DELAY: Final[float]
#: Longest attempt_delay connect() takes, in seconds.
MAX_ATTEMPT_DELAY: Final[float]

# TLS (see TLSContext): whether this build has it, the handshake timeout
# when none is given (seconds), the most ALPN names a context takes, the
# versions (as ssl prints them) and a server's client_auth modes.
TLS_SUPPORTED: Final[bool]
DEFAULT_HANDSHAKE_TIMEOUT: Final[float]
MAX_ALPN_PROTOCOLS: Final[int]
TLS_VERSIONS: Final[list[str]]
CLIENT_AUTH_MODES: Final[list[str]]

# The core's full lists (not in __all__): names in numeric order; options as
# (name, constant, lowest, highest, is_bool); errors as (code, name, message);
# the loop's operations as (name, on a handle, argument names, option names).
EVENT_KINDS: Final[list[str]]
HANDLE_KINDS: Final[list[str]]
FRAMING_MODES: Final[list[str]]
FAMILIES: Final[list[str]]
OPTIONS: Final[list[tuple[str, int, int, int, bool]]]
ERROR_CODES: Final[list[tuple[int, str, str]]]
OPERATIONS: Final[list[tuple[str, bool, list[str], list[str]]]]

def parse_address(host: str, port: SupportsIndex) -> Address:
    """``(host, port)`` parsed as the loop parses it and returned in the
    form the loop reports addresses: ``("::1", 80)`` for ``("[::1]", 80)``,
    ``("fe80::1%1", 9)`` for ``("[fe80::1%lo]", 9)`` (an IPv6 zone as its
    interface index, so a reply to a link-local peer leaves by the right
    interface), ``("127.0.0.1", 1)`` for ``("localhost", 1)``. Like
    ``socket.getaddrinfo``'s normal form, without resolving names:
    InvalidArgumentError for anything but an IP literal (or "localhost") and
    a port 0 to 65535."""

@final
class _AioDispatcher:
    """Private (netcore.aio): AsyncioDriver's dispatch, native."""
    def __init__(
        self,
        lp: Loop,
        max_events: SupportsIndex,
        deliver: Callable[[Event], object],
        schedule: Callable[[float], object],
        closed: Callable[[], object],
        aloop: Any,
        /,
    ) -> None: ...
    def route(self, deliver: Callable[[Event], object], on_data: Callable[[int, bytes], object] | _AioStreams | None, /) -> None:
        """Events to ``deliver``, stream data to ``on_data`` from now on."""
    def __call__(self) -> int:
        """One poll(0) batch delivered; returns how many events."""

@final
class _AioStreams:
    """Private (netcore.aio): the stream connections of one loop, by handle."""
    def __init__(
        self, through: Callable[[int, bytes], object], failed: Callable[[int, BaseException], object], /
    ) -> None: ...
    def open(self, lp: Loop, handle: int, context: Any, on_event: Callable[[Event], object], /) -> _AioStream:
        """A connection's short ways (closed until set), registered until
        forget(); its other events go to ``on_event`` (in ``context``)."""
    def listen(self, handle: int, context: Any, accept: Callable[[int, tuple[str, int] | None], object], /) -> None:
        """The connections listener ``handle`` accepts go to ``accept(handle, addr)`` (in ``context``)."""
    def forget(self, handle: int, /) -> None: ...

@final
class _AioStream:
    """Private (netcore.aio): one connection's short ways."""
    def set(self, reader: Callable[[bytes], object] | None, write_limit: int, /) -> None:
        """Data straight to ``reader`` (None: through the transport); writes
        up to ``write_limit`` bytes straight to netcore (0: none)."""
    def set_marks(self, high: int, low: int, old_low: int, /) -> None:
        """The connection's water marks in netcore (within its range; ``old_low``: its low mark now)."""

def _install_aio_transport(transport_type: type, /) -> None:
    """Private (netcore.aio): the native ``write`` and ``is_closing`` in front of ``transport_type``'s."""

class _Handle:
    """Private (netcore.aio): what ``EventLoop.call_soon`` returns out of
    debug mode, an ``asyncio.Handle`` in behaviour but not in type."""
    def cancel(self) -> None: ...
    def cancelled(self) -> bool: ...
    def get_context(self) -> Any: ...
    @property
    def _cancelled(self) -> bool: ...
    @property
    def _callback(self) -> Any: ...
    def _run(self) -> None:
        """Runs the callback in its context; exceptions (but SystemExit and
        KeyboardInterrupt) go to the loop's exception handler."""

@final
class _TimerHandle(_Handle):
    """Private (netcore.aio): what ``EventLoop.call_at`` and ``call_later``
    return out of debug mode, an ``asyncio.TimerHandle`` in behaviour but
    not in type (and ``==`` is identity); ordered by deadline."""
    def when(self) -> float: ...
    @property
    def _when(self) -> float: ...
    @property
    def _scheduled(self) -> bool: ...
    @_scheduled.setter
    def _scheduled(self, scheduled: bool) -> None: ...
    def __lt__(self, other: Any) -> bool: ...
    def __le__(self, other: Any) -> bool: ...
    def __gt__(self, other: Any) -> bool: ...
    def __ge__(self, other: Any) -> bool: ...

def _install_aio_loop_core(loop_type: type, run_in_debug: Callable[[Any, Any], None], /) -> None:
    """Private (netcore.aio): the native ``call_soon``, ``call_at``,
    ``call_later``, ``time``, ``get_debug``, ``create_task`` and
    ``_run_once`` in front of ``loop_type``'s (asyncio's);
    ``_run_once`` runs a callback in debug mode by ``run_in_debug(loop, handle)``."""

def _aio_loop_changed() -> None:
    """Private (netcore.aio): ``set_debug`` or ``set_task_factory`` was
    called on a loop; the native turn running reads them again."""

def _check_max_events(max_events: SupportsIndex) -> int:
    """Private (netcore.aio): ``max_events`` as an int, or
    InvalidArgumentError if a poll would refuse it."""

EventKind: TypeAlias = Literal[
    "accepted",
    "connected",
    "connect_failed",
    "data",
    "eof",
    "writable",
    "closed",
    "datagram",
    "error",
    "timer",
    "idle",
    "sent",
    "reconnecting",
    "shutdown_complete",
    "tls_ready",
    "tls_failed",
]
"""The values of ``Event.kind``."""

Address: TypeAlias = tuple[str, int]
"""``(host, port)``; host is an IP literal such as ``"127.0.0.1"``, ``"::1"``
or ``"fe80::1%2"`` (an IPv6 zone as its interface index)."""

# Option names as the core spells them (set_option also takes them upper-cased).
OptionName: TypeAlias = Literal[
    "nodelay",
    "keepalive",
    "rcvbuf",
    "sndbuf",
    "high_water",
    "low_water",
    "broadcast",
    "linger",
    "multicast_loop",
    "multicast_ttl",
    "ttl",
]

FramingMode: TypeAlias = Literal["stream", "delimited", "fixed", "length_prefixed"]

HandleKind: TypeAlias = Literal["tcp_listener", "tcp_connection", "udp", "timer"]
"""What ``Loop.kind`` returns."""

Family: TypeAlias = Literal["any", "ipv4", "ipv6"]

@final
class Event:
    """One event from a netcore loop (read-only). Its fields are None (value:
    0) for the kinds they do not belong to."""

    __match_args__: Final = ("kind", "handle", "data")
    @property
    def kind(self) -> EventKind:
        """What happened: one of the event kinds, each also a module constant
        ("data" is netcore.DATA)."""
    @property
    def handle(self) -> int:
        """The handle it happened to."""
    @property
    def listener(self) -> int | None:
        """For "accepted": the listener that accepted the connection; else None."""
    @property
    def data(self) -> bytes | None:
        """For "data" and "datagram": the bytes (a frame in framed modes)."""
    @property
    def addr(self) -> Address | None:
        """Peer ("accepted", "connected") or sender ("datagram") address."""
    @property
    def path(self) -> str | None:
        """For "datagram" on a Unix datagram socket: the sender's path
        ("@name" if abstract); None for an unnamed sender."""
    @property
    def error(self) -> OSError | None:
        """For "connect_failed", "tls_failed", "error" and an abnormal
        "closed": the exception (a netcore.Error, TLS ones with ``alert`` and
        ``reason``), not raised."""
    @property
    def userdata(self) -> Any:
        """The handle's user data (see Loop.set_userdata), or None."""
    @property
    def value(self) -> int:
        """The token for "sent", the attempt number for "reconnecting"; else 0."""

@final
class Closing:
    """Context manager returned by ``Loop.closing(handle)``."""

    def __enter__(self) -> int: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

class Loop:
    """An event loop: owns sockets named by integer handles and reports every
    I/O result as an Event. A context manager (closed on exit). A loop
    collected while open warns (ResourceWarning) and is closed."""

    def __init__(self) -> None:
        """Creates a loop. Raises OSError (e.g. EMFILE) if the system is out of
        resources. Takes no arguments; a subclass's ``__init__`` may take its
        own (they are left to it, as ``object.__new__`` does)."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    @property
    def closed(self) -> bool:
        """Whether close() (the loop's) was called."""

    # ---- consuming events -------------------------------------------------
    def poll(self, timeout: float | None = None, max_events: SupportsIndex = 1024) -> list[Event]:
        """Waits up to ``timeout`` seconds (None = until something happens,
        0 = not at all) and returns up to ``max_events`` events, in order per
        handle. Returns [] on timeout or when wake() interrupted the wait. The
        GIL is released while waiting; a signal handler that raises (Ctrl+C:
        KeyboardInterrupt) interrupts the wait within 50 ms. ClosedError if
        the loop is closed, also while this waits."""
    def run(
        self,
        callback: Callable[[Event], object],
        max_events: SupportsIndex = 256,
        *,
        on_data: Callable[[int, bytes], object] | None = None,
    ) -> None:
        """Polls and calls ``callback(event)`` for every event until stop() is
        called (from the callback, a signal handler or another thread).
        Closing the loop (from the same places) ends it with ClosedError,
        delivering nothing more. An exception from the callback stops run()
        and propagates; the batch's remaining events are kept for the next
        poll()/run(). Ctrl+C raises KeyboardInterrupt within 50 ms.

        With ``on_data``, every "data" event is delivered as
        ``on_data(handle, data)`` instead, without an Event object (like
        asyncio's data_received: the fast path for stream servers); the other
        kinds still go to callback. Exceptions from on_data behave as the
        callback's. The callbacks run while run() holds the loop's poll:
        poll() from them raises BusyError."""
    def stop(self) -> None:
        """Makes the current (or next) run() return after its current batch.
        Safe from any thread and from signal handlers; a no-op once closed."""
    def wake(self) -> None:
        """Interrupts a blocking poll() (which returns []), from any thread. A
        wake with no poll waiting makes the next poll() return at once. A
        no-op once closed."""
    def fileno(self) -> int:
        """The loop's pollable descriptor, readable while events are pending:
        watch it (asyncio add_reader, selectors, ...) and call poll(0) when it
        is readable. Do not read or close it."""
    def next_timeout(self) -> float | None:
        """Seconds a host loop may wait before calling poll(0) again even if
        fileno() stays quiet, rounded up to whole milliseconds (a host never
        wakes early and spins): 0.0 only when events are pending, None when
        only new I/O can produce events."""
    def handle_count(self) -> int:
        """Number of open handles."""
    def _add_close_hook(self, hook: Callable[[], object], /) -> None:
        """Private (netcore.aio): ``hook()`` is called when the loop closes, in
        the closing thread, before the loop's descriptor closes (so a reader
        registered on it can be removed before the number is reused)."""
    def _remove_close_hook(self, hook: Callable[[], object], /) -> None:
        """Private (netcore.aio): forgets a hook (the same object)."""
    def _queued_after_flush(self, handle: int, /) -> int:
        """Private (netcore.aio): the bytes ``handle`` has queued once the
        sends deferred to the end of the turn went."""

    # ---- closing ------------------------------------------------------------
    @overload
    def close(self) -> None:
        """Closes the loop: every handle at once (a connection that still had
        bytes queued is reset, so its peer sees the loss) and frees the loop;
        later calls raise ClosedError. Close connections and poll until their
        "closed" events first to flush them. Idempotent. A poll() or run()
        waiting in another thread (or interrupted by the signal handler that
        closes the loop) raises ClosedError."""
    @overload
    def close(self, handle: int, /) -> None:
        """Closes a handle gracefully. A connection sends everything queued,
        then its FIN, then waits (briefly) for the peer's; "closed" follows.
        Listeners and UDP sockets close at once. Raises ClosedError if the
        handle is already closing or closed (until its "closed" event was
        delivered), BadHandleError once it is gone."""
    def close_reset(self, handle: int) -> None:
        """Closes at once: a connection drops its queue and resets (RST).
        "closed" comes with the next poll. From then on run() and netcore.aio
        deliver no event of the handle but its "closed" (a list poll()
        returned earlier is the caller's to finish); the same after
        close(handle)."""
    def close_abort(self, handle: int) -> None:
        """Closes at once without a needless reset, as asyncio's
        ``Transport.abort()`` closes a connection: what is still queued in
        netcore is dropped and the socket closed without waiting for the
        peer. The peer gets what the kernel took, then a FIN; if queued
        bytes were dropped, a reset (RST) instead, so that it cannot take
        the lost bytes for a clean end. Also ends a graceful close under
        way. "closed" comes with the next poll, as after close_reset()."""
    def shutdown(self, handle: int) -> None:
        """Half-closes a connection: FIN once everything queued is sent;
        reading goes on until the peer's EOF. Later sends raise
        BrokenPipeError."""
    def notify_when_sent(self, handle: int, token: SupportsIndex) -> None:
        """Asks for a "sent" event whose ``value`` is ``token`` (0 to 2**64-1)
        once the kernel has taken every byte sent on the connection so far
        (from the next poll on if it already has): what a write callback or
        a shutdown's completion waits for. Bytes sent later do not hold it
        back; none comes if the connection is lost first."""
    def closing(self, handle: int) -> Closing:
        """A context manager that closes ``handle`` gracefully on exit (unless
        it closed meanwhile): ``with loop.closing(loop.connect(...)) as h:``.
        The handle must be live here (BadHandleError otherwise)."""

    # ---- creating handles -----------------------------------------------
    def listen(
        self,
        host: str,
        port: SupportsIndex,
        *,
        backlog: SupportsIndex | None = None,
        reuse_port: bool | None = None,
        ipv6_only: bool | None = None,
        max_connections: SupportsIndex | None = None,
        tls: TLSContext | None = None,
        userdata: object = None,
    ) -> int:
        """Listens for TCP connections on host (an IP literal or "localhost")
        and port (0 = any; read it back with local_address). SO_REUSEADDR is
        always set; reuse_port (SO_REUSEPORT) and ipv6_only (IPV6_V6ONLY)
        only with True. backlog None or 0 is DEFAULT_BACKLOG. max_connections
        caps the open connections from the start, as set_max_connections
        (None or 0: no cap; at most 4294967295). Each connection
        arrives as an "accepted" event and starts with this listener's user
        data. With ``tls`` (a server context) every accepted connection
        starts a handshake: "tls_ready" or "tls_failed" follows its
        "accepted". Returns the listener handle."""
    def connect(
        self,
        host: str,
        port: SupportsIndex,
        *,
        userdata: object = None,
        timeout: float | None = None,
        family: Family | None = None,
        local_address: Address | None = None,
        attempt_delay: float | None = None,
        reconnect: Iterable[float] | None = None,
        tls: TLSContext | None = None,
        server_hostname: str | None = None,
    ) -> int:
        """Starts a TCP connection to host (an IP literal, or a name resolved
        off the loop thread) and port (1 to 65535). Never blocks: the result
        arrives as "connected", or "connect_failed" (error: DNSError,
        ConnectionRefusedError, TimeoutError, ...) followed by "closed". Data
        sent before "connected" is queued. Returns the connection handle.

        Options: timeout (seconds, resolution and every attempt included),
        family ("any", "ipv4", "ipv6"), local_address ((host, port) to bind
        first; host "": any address of each attempt's family), attempt_delay
        (seconds between Happy Eyeballs attempts, default
        DEFAULT_ATTEMPT_DELAY), reconnect (up to MAX_BACKOFF_STEPS
        delays in seconds: auto-reconnect on unexpected loss, the last delay
        repeating; "reconnecting" events). Durations beyond MAX_DURATION mean
        never. With ``tls`` (a client context) a handshake follows the
        connection, verifying the server's certificate against
        ``server_hostname`` (default: host)."""
    def set_host_addresses(self, name: str, addresses: Iterable[str]) -> None:
        """Answers host name ``name`` with ``addresses`` (IP literals, tried in
        this order) for this loop's connect() calls, without the system
        resolver, like a hosts-file entry. An empty list removes the entry."""
    def timer(self, delay: float, repeat: float | None = None, *, userdata: object = None) -> int:
        """Starts a timer: a "timer" event after ``delay`` seconds, then every
        ``repeat`` seconds if given (None or 0 fires once). A one-shot timer's
        "closed" follows its "timer" event; cancel any timer with
        close(handle). A delay or repeat beyond MAX_DURATION means never (the
        timer stays open). Returns its handle."""
    def set_idle_timeout(self, handle: int, timeout: float | None) -> None:
        """Fires an "idle" event after ``timeout`` seconds without a
        successful read or write on a connection, and again after each
        further timeout. None (or 0) turns it off; beyond MAX_DURATION it
        never fires."""
    def set_max_connections(self, listener: int, max: SupportsIndex) -> None:
        """Caps a listener's open connections (0 = no cap): at the cap it stops
        accepting (clients wait in the kernel backlog) and resumes below it."""
    def shutdown_server(self, listener: int, drain: float) -> None:
        """Graceful server shutdown: stop accepting, close the listener's
        connections gracefully, reset whatever is left after ``drain`` seconds
        (beyond MAX_DURATION: never); then "shutdown_complete" and "closed"
        for the listener."""
    def udp_bind(
        self,
        host: str,
        port: SupportsIndex,
        *,
        reuse_port: bool | None = None,
        ipv6_only: bool | None = None,
        userdata: object = None,
    ) -> int:
        """Binds a UDP socket on host (an IP literal or "localhost") and port
        (0 = any); reuse_port (SO_REUSEPORT) and ipv6_only (IPV6_V6ONLY) only
        with True. Datagrams arrive as "datagram" events with the sender's
        address. Returns the handle."""
    def udp_connect(self, handle: int, host: str, port: SupportsIndex) -> None:
        """Sets a UDP socket's default peer (an IP literal and port): send()
        then sends there, and only that peer's datagrams are received."""
    def udp_disconnect(self, handle: int) -> None:
        """Dissolves a datagram socket's default peer (udp_connect,
        udp_connect_unix): send() needs an address again and datagrams from
        any sender arrive; the socket keeps its own address. NotConnectedError
        if it has no peer."""
    def listen_unix(
        self,
        path: str,
        *,
        backlog: SupportsIndex | None = None,
        max_connections: SupportsIndex | None = None,
        tls: TLSContext | None = None,
        userdata: object = None,
    ) -> int:
        """Listens for stream connections on the Unix socket ``path``: a
        filesystem path (the socket file it creates is removed when the
        listener closes; OSError EADDRINUSE if it exists), or "@name" for
        Linux's abstract namespace. At most MAX_UNIX_PATH bytes. backlog
        and max_connections as listen's. Connections
        behave as TCP ones (framing, water marks, tls=...); their "accepted"
        carries no addr. Returns the handle."""
    def connect_unix(self, path: str, *, userdata: object = None) -> int:
        """Connects to the Unix socket ``path`` (as listen_unix writes it). A
        local connect succeeds or fails at once: failures raise here
        (FileNotFoundError, ConnectionRefusedError, BlockingIOError when the
        backlog is full); a success returns the handle, whose "connected" (no
        addr) comes with the next poll."""
    def udp_bind_unix(self, path: str, *, userdata: object = None) -> int:
        """Binds a Unix datagram socket on ``path`` (removed when it closes).
        "datagram" events carry the sender's path in Event.path; answer with
        send_to_unix. Kind "udp"."""
    def send_to_unix(self, handle: int, data: Buffer, path: str) -> None:
        """Sends one datagram from a Unix datagram socket to ``path``."""
    def udp_connect_unix(self, handle: int, path: str) -> None:
        """Sets a Unix datagram socket's default peer (then send() sends there)."""
    def peer_credentials(self, handle: int) -> tuple[int, int, int]:
        """(pid, uid, gid) of a Unix connection's peer (SO_PEERCRED)."""
    def local_path(self, handle: int) -> str | None:
        """The Unix path of a socket's own end ("@name" if abstract; None when
        unnamed). OSError EAFNOSUPPORT on an IP socket."""
    def peer_path(self, handle: int) -> str | None:
        """The Unix path of a connection's peer, as local_path."""
    def adopt_listener(self, sock: socket.socket | SupportsIndex, *, userdata: object = None) -> int:
        """Adopts a listening socket the program already has (TCP or Unix): a
        socket.socket (detached on success: the loop owns it) or a descriptor
        number (handed over). InvalidArgumentError (argument "fd") if it is
        not a listening stream socket; then nothing changed. Several loops
        (threads, processes) share one listener by each adopting a duplicate
        (os.dup / socket.dup()). Returns the listener handle."""
    def adopt_connection(self, sock: socket.socket | SupportsIndex, *, userdata: object = None) -> int:
        """Adopts a connected stream socket (TCP or Unix) as adopt_listener
        does; the connection handle is live at once (no event announces it)."""
    def adopt_udp(self, sock: socket.socket | SupportsIndex, *, userdata: object = None) -> int:
        """Adopts a datagram socket (UDP or Unix) as adopt_listener does."""

    # ---- data ---------------------------------------------------------------
    def send(self, handle: int, data: Buffer, token: SupportsIndex | None = None) -> None:
        """Sends data (bytes, bytearray, memoryview or any C-contiguous buffer;
        read in place, not copied unless it must be queued) on a connection or
        a connected UDP socket. The message is queued whole or refused whole:
        BlockingIOError (EAGAIN) when the send queue is above its high-water
        mark (option HIGH_WATER), and a "writable" event follows once it falls
        to LOW_WATER. Never blocks; large ``bytes`` go without the GIL.

        With ``token`` (an int, 0 to 2**64-1; TCP only), a "sent" event whose
        ``value`` is the token follows once the last of these bytes reached
        the kernel."""
    def sendv(self, handle: int, buffers: Iterable[Buffer], token: SupportsIndex | None = None) -> None:
        """Sends several buffers as one message (one writev): queued whole or
        refused whole, as send(); ``token`` as for send()."""
    def send_to(self, handle: int, data: Buffer, addr: tuple[str, SupportsIndex]) -> None:
        """Sends one UDP datagram to ``addr``, a (host, port) tuple with an IP
        literal. BlockingIOError if the kernel has no room (a "writable" event
        follows)."""
    def send_batch(
        self, handle: int, datagrams: Iterable[tuple[Buffer, tuple[str, SupportsIndex] | None]]
    ) -> int:
        """Sends datagrams from a UDP socket, in order, as many per system call
        as the kernel takes (sendmmsg): each item is (data, (host, port)), or
        (data, None) for the connected peer. Each datagram goes whole or not
        at all. Returns how many went out, counted from the first: all of
        them, or fewer, n, when datagrams[n] could not go (a bad address, or
        the kernel refused it): it and the ones after it were not sent, and
        send_batch(handle, datagrams[n:]) sends them or raises why. Raises
        when not even the first went: BlockingIOError when the kernel has no
        room (a "writable" event follows), InvalidArgumentError (a
        ValueError) for a bad address or port 0, MessageTooLongError for a
        datagram too large, NotConnectedError for None without a peer. A
        wrong type anywhere is TypeError before anything is sent. An empty
        batch sends nothing and returns 0."""
    def pause(self, handle: int) -> None:
        """Stops reading from a connection (a peer close is still noticed).
        No "data" of it follows, not even the rest of the batch being
        handled (run(), poll()'s list aside): the connection keeps that, with
        an "eof" behind it, and delivers it after resume(), in order."""
    def resume(self, handle: int) -> None:
        """Resumes reading from a paused connection."""

    # ---- framing ------------------------------------------------------------
    def set_framing(
        self,
        handle: int,
        mode: FramingMode,
        *,
        delimiter: Buffer | None = None,
        size: SupportsIndex | None = None,
        header: SupportsIndex | None = None,
        max_frame: SupportsIndex | None = None,
    ) -> None:
        """Sets how a connection's input is cut into "data" events::

            set_framing(h, "stream")                       raw chunks (default)
            set_framing(h, "delimited", delimiter=b"\\n", max_frame=1 MiB)
            set_framing(h, "fixed", size=N)
            set_framing(h, "length_prefixed", header=4, max_frame=1 MiB)

        Delimited frames are delivered without the delimiter (1 to 8 bytes;
        default DEFAULT_DELIMITER); length-prefixed frames without their
        big-endian length header (1, 2 or 4 bytes; default
        DEFAULT_LENGTH_HEADER). A frame over max_frame (1 byte to
        MAX_FRAME_LIMIT; default DEFAULT_MAX_FRAME) is an "error" event
        (MessageTooLongError, EMSGSIZE) and the connection closes. A
        parameter the mode does not take is InvalidArgumentError."""
    def frame_delimited(self, handle: int, delimiter: Buffer, max_frame: SupportsIndex | None = None) -> None:
        """Frames end with ``delimiter`` (1 to 8 bytes); max_frame defaults to DEFAULT_MAX_FRAME."""
    def frame_fixed(self, handle: int, size: SupportsIndex) -> None:
        """Frames of exactly ``size`` bytes."""
    def frame_length_prefixed(
        self, handle: int, header_bytes: Literal[1, 2, 4], max_frame: SupportsIndex | None = None
    ) -> None:
        """Frames preceded by a 1-, 2- or 4-byte big-endian length."""

    # ---- options, addresses, user data --------------------------------------
    def set_option(self, handle: int, option: int | OptionName, value: SupportsIndex) -> None:
        """Sets an option: ``option`` is a constant (netcore.NODELAY, ...) or
        its name as a str ("nodelay", ...); value is an int or bool (LINGER:
        seconds, -1 = off), range-checked (InvalidArgumentError naming the
        option and its range)."""
    def get_option(self, handle: int, option: int | OptionName) -> int:
        """Reads an option back (as set_option names it)."""
    def add_membership(self, handle: int, group: str, interface: str | int | None = None) -> None:
        """Joins a multicast group on a UDP socket. ``interface``: the local
        IPv4 address of the interface for IPv4 groups ("0.0.0.0" = any), an
        interface index (int) for IPv6 groups (0 = any)."""
    def drop_membership(self, handle: int, group: str, interface: str | int | None = None) -> None:
        """Leaves a multicast group joined with add_membership."""
    def set_multicast_interface(self, handle: int, interface: str | int) -> None:
        """Sets the interface a UDP socket sends multicast datagrams from: on
        an IPv4 socket its local address, on an IPv6 one its index
        (``"0.0.0.0"`` or 0: the system's choice)."""
    def set_raw_option(
        self, handle: int, level: SupportsIndex, name: SupportsIndex, value: SupportsIndex | Buffer
    ) -> None:
        """setsockopt(level, name, value) on a handle's socket: value is an
        int (a C int) or bytes-like. Errors are the OS's."""
    @overload
    def get_raw_option(self, handle: int, level: int, name: int) -> int:
        """getsockopt returning a C int, like socket.getsockopt."""
    @overload
    def get_raw_option(self, handle: int, level: int, name: int, buflen: int) -> int | bytes:
        """getsockopt returning up to ``buflen`` (at most MAX_RAW_OPTION_SIZE)
        bytes (an int when 0)."""
    def raw_fd(self, handle: int) -> int:
        """The socket descriptor behind a handle, for calls netcore does not
        wrap. netcore owns it: do not close it or change its blocking mode."""
    def queued_bytes(self, handle: int) -> int:
        """Bytes sent on a connection that the kernel has not taken yet
        (what HIGH_WATER and LOW_WATER are compared with)."""
    def local_address(self, handle: int) -> Address:
        """The local address of a handle as (host, port)."""
    def peer_address(self, handle: int) -> Address:
        """The peer address of a connection (or connected UDP socket) as (host, port)."""
    def kind(self, handle: int) -> HandleKind:
        """The kind of a live handle: "tcp_listener", "tcp_connection", "udp" or "timer"."""

    # ---- TLS ----------------------------------------------------------------
    def start_tls(self, handle: int, context: TLSContext, *, server_hostname: str | None = None) -> None:
        """Starts TLS on a live connection (STARTTLS); ``server_hostname`` is
        required with a client context. "tls_ready" or "tls_failed" follows.
        InvalidArgumentError if it already speaks TLS or holds undelivered
        input (bytes sent after the upgrade point). run() and netcore.aio
        refuse plaintext read with the upgrade command (the connection fails
        ETLSPROTOCOL); from a poll() list, drop the handle's later events."""
    def set_listener_tls(self, listener: int, context: TLSContext | None) -> None:
        """The server context of a listener's later accepts (None: plaintext);
        earlier connections keep theirs (certificate rotation)."""
    def tls_info(self, handle: int) -> TLSInfo | None:
        """What the handshake negotiated; None before it is over or without TLS."""
    @overload
    def peer_certificate(self, handle: int, binary_form: Literal[True] = True, *,
                         chain: Literal[False] = False) -> bytes | None:
        """The peer's certificate (DER), None if it sent none."""
    @overload
    def peer_certificate(self, handle: int, binary_form: Literal[True] = True, *,
                         chain: Literal[True]) -> list[bytes]:
        """The peer's certificate chain (DER, leaf first)."""

    def set_userdata(self, handle: int, obj: object) -> None:
        """Attaches any object to a handle (None removes it). It is returned as
        ``userdata`` in the handle's events and dropped after the handle's
        "closed" event. Connections accepted by a listener start with the
        listener's user data."""
    def get_userdata(self, handle: int) -> Any:
        """The object attached to a live handle, or None."""

class TLSInfo(TypedDict):
    """What a TLS handshake negotiated (Loop.tls_info), named as in ssl."""

    version: Literal["TLSv1.2", "TLSv1.3"]
    cipher: str
    selected_alpn_protocol: str | None
    session_reused: bool
    peer_verified: bool

@final
class TLSContext:
    """Immutable TLS settings, shareable between loops and threads: pass it as
    ``tls=`` to Loop.listen / Loop.connect, or to Loop.start_tls. Not an
    ssl.SSLContext (one passed by mistake is a TypeError)."""

    @staticmethod
    def client(
        *,
        cafile: StrPath | None = None,
        cadata: str | Buffer | None = None,
        certfile: StrPath | None = None,
        keyfile: StrPath | None = None,
        certdata: str | Buffer | None = None,
        keydata: str | Buffer | None = None,
        check_hostname: bool = True,
        verify_mode: str | ssl.VerifyMode | None = None,
        alpn_protocols: Iterable[str | Buffer] | None = None,
        minimum_version: str | ssl.TLSVersion | None = None,
        load_default_certs: bool | None = None,
        handshake_timeout: float | None = None,
    ) -> TLSContext:
        """A client context: the system trust store, or cafile/cadata (PEM);
        certfile/keyfile (or certdata/keydata: PEM in memory) for a client
        certificate."""
    @staticmethod
    def server(
        certfile: StrPath | None = None,
        keyfile: StrPath | None = None,
        *,
        certdata: str | Buffer | None = None,
        keydata: str | Buffer | None = None,
        cafile: StrPath | None = None,
        cadata: str | Buffer | None = None,
        client_auth: Literal["none", "optional", "required"] | ssl.VerifyMode | None = None,
        alpn_protocols: Iterable[str | Buffer] | None = None,
        minimum_version: str | ssl.TLSVersion | None = None,
        handshake_timeout: float | None = None,
    ) -> TLSContext:
        """A server context: certificate chain and key, PEM files (certfile,
        keyfile) or PEM in memory (certdata, keydata); client_auth with
        cafile/cadata asks clients for a certificate."""
    @property
    def server_side(self) -> bool:
        """True for a server context."""
    @property
    def handshake_timeout(self) -> float:
        """How long a handshake may take, in seconds."""
