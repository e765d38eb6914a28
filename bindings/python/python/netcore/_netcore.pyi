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
# (name, constant, lowest, highest, is_bool); errors as (code, name, message).
EVENT_KINDS: Final[list[str]]
HANDLE_KINDS: Final[list[str]]
FRAMING_MODES: Final[list[str]]
FAMILIES: Final[list[str]]
OPTIONS: Final[list[tuple[str, int, int, int, bool]]]
ERROR_CODES: Final[list[tuple[int, str, str]]]

def parse_address(host: str, port: SupportsIndex) -> Address:
    """``(host, port)`` parsed as the loop parses it and returned in the
    form the loop reports addresses (``("fe80::1%1", 9)`` for
    ``("[fe80::1%lo]", 9)``); InvalidArgumentError for anything but an IP
    literal (or "localhost") and a port 0 to 65535."""

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
    def open(self, lp: Loop, handle: int, context: Any, /) -> _AioStream:
        """A connection's short ways (closed until set), registered until forget()."""
    def forget(self, handle: int, /) -> None: ...

@final
class _AioStream:
    """Private (netcore.aio): one connection's short ways."""
    def set(self, reader: Callable[[bytes], object] | None, write_limit: int, /) -> None:
        """Data straight to ``reader`` (None: through the transport); writes
        up to ``write_limit`` bytes straight to netcore (0: none)."""

def _install_aio_write(transport_type: type, /) -> None:
    """Private (netcore.aio): the native write in front of ``transport_type.write``."""

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
]

FramingMode: TypeAlias = Literal["stream", "delimited", "fixed", "length_prefixed"]

HandleKind: TypeAlias = Literal["tcp_listener", "tcp_connection", "udp", "timer"]
"""What ``Loop.kind`` returns."""

Family: TypeAlias = Literal["any", "ipv4", "ipv6"]

@final
class Event:
    """One event from a netcore loop (read-only)."""

    __match_args__: Final = ("kind", "handle", "data")
    @property
    def kind(self) -> EventKind:
        """What happened."""
    @property
    def handle(self) -> int:
        """The handle it happened to."""
    @property
    def listener(self) -> int | None:
        """For "accepted": the listener that accepted the connection."""
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
        "closed": the exception (a netcore.Error), not raised."""
    @property
    def userdata(self) -> Any:
        """The handle's user data, or None."""
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

    def __init__(self) -> None: ...
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
        0 = not at all) and returns up to ``max_events`` events. Returns [] on
        timeout or after wake(). KeyboardInterrupt arrives within 50 ms.
        ClosedError if the loop is closed, also while this waits."""
    def run(
        self,
        callback: Callable[[Event], object],
        max_events: SupportsIndex = 256,
        *,
        on_data: Callable[[int, bytes], object] | None = None,
    ) -> None:
        """Calls ``callback(event)`` for every event until stop(). With
        ``on_data``, every "data" event comes as ``on_data(handle, data)``
        instead (no Event object: the fast path for stream servers). An
        exception from either stops run() and propagates; the batch's other
        events are kept for the next poll()/run(). poll() from the callbacks
        raises BusyError. Closing the loop (from a callback, another thread or
        a signal handler) ends run() with ClosedError."""
    def stop(self) -> None:
        """Makes the current (or next) run() return after its current batch."""
    def wake(self) -> None:
        """Interrupts a blocking poll() from any thread."""
    def fileno(self) -> int:
        """A descriptor that is readable while events are pending."""
    def next_timeout(self) -> float | None:
        """Seconds until poll(0) is due even without I/O, rounded up to whole
        milliseconds (0.0 = now; None = never)."""
    def handle_count(self) -> int:
        """Number of open handles."""
    def _add_close_hook(self, hook: Callable[[], object], /) -> None:
        """Private (netcore.aio): ``hook()`` runs when the loop closes."""
    def _remove_close_hook(self, hook: Callable[[], object], /) -> None:
        """Private (netcore.aio): forgets a hook (the same object)."""

    # ---- closing ------------------------------------------------------------
    @overload
    def close(self) -> None:
        """Closes the loop and every handle on it at once (a connection that
        still had bytes queued is reset, so its peer sees the loss); a poll()
        or run() waiting in another thread raises ClosedError."""
    @overload
    def close(self, handle: int, /) -> None:
        """Closes a handle gracefully (flush, then FIN); "closed" follows."""
    def close_reset(self, handle: int) -> None:
        """Closes a handle at once; a connection resets (RST). run() and
        netcore.aio deliver no more events of it but "closed"."""
    def shutdown(self, handle: int) -> None:
        """Half-closes a connection (FIN once the queue is sent)."""
    def closing(self, handle: int) -> Closing:
        """A context manager that closes ``handle`` gracefully on exit."""

    # ---- creating handles -----------------------------------------------
    def listen(
        self,
        host: str,
        port: SupportsIndex,
        *,
        backlog: SupportsIndex | None = None,
        reuse_port: bool = False,
        ipv6_only: bool = False,
        userdata: object = None,
        tls: TLSContext | None = None,
    ) -> int:
        """Listens for TCP connections; returns the listener handle. backlog
        None or 0 is DEFAULT_BACKLOG. With ``tls`` (a server context) every
        accepted connection starts a handshake: "tls_ready" or "tls_failed"
        follows its "accepted"."""
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
        """Starts a TCP connection; returns its handle at once. A timeout or
        reconnect delay beyond MAX_DURATION means never. With ``tls`` (a
        client context) a handshake follows the connection, verifying the
        server's certificate against ``server_hostname`` (default: host)."""
    def set_host_addresses(self, name: str, addresses: Iterable[str]) -> None:
        """Answers ``name`` with these IP addresses for connect() (no resolver)."""
    def timer(self, delay: float, repeat: float | None = None, *, userdata: object = None) -> int:
        """Starts a timer ("timer" events); cancel it with close(handle). A
        repeat of None or 0 fires once; a delay or repeat beyond MAX_DURATION
        means never (the timer stays open)."""
    def set_idle_timeout(self, handle: int, timeout: float | None) -> None:
        """"idle" events after ``timeout`` seconds without I/O (None or 0 = off;
        beyond MAX_DURATION: never)."""
    def set_max_connections(self, listener: int, max: SupportsIndex) -> None:
        """Caps a listener's open connections (0 = no cap)."""
    def shutdown_server(self, listener: int, drain: float) -> None:
        """Graceful server shutdown; "shutdown_complete" then "closed". A
        ``drain`` beyond MAX_DURATION is never forced."""
    def udp_bind(
        self,
        host: str,
        port: SupportsIndex,
        *,
        reuse_port: bool = False,
        ipv6_only: bool = False,
        userdata: object = None,
    ) -> int:
        """Binds a UDP socket; returns its handle."""
    def udp_connect(self, handle: int, host: str, port: SupportsIndex) -> None:
        """Sets a UDP socket's default peer."""
    def listen_unix(
        self,
        path: str,
        *,
        backlog: SupportsIndex | None = None,
        userdata: object = None,
        tls: TLSContext | None = None,
    ) -> int:
        """Listens on a Unix socket path ("@name": abstract namespace); the
        file it creates is removed when the listener closes."""
    def connect_unix(self, path: str, *, userdata: object = None) -> int:
        """Connects to a Unix socket path; failures raise at once."""
    def udp_bind_unix(self, path: str, *, userdata: object = None) -> int:
        """Binds a Unix datagram socket; datagrams carry Event.path."""
    def send_to_unix(self, handle: int, data: Buffer, path: str) -> None:
        """Sends one datagram from a Unix datagram socket to ``path``."""
    def udp_connect_unix(self, handle: int, path: str) -> None:
        """Sets a Unix datagram socket's default peer."""
    def peer_credentials(self, handle: int) -> tuple[int, int, int]:
        """(pid, uid, gid) of a Unix connection's peer (SO_PEERCRED)."""
    def local_path(self, handle: int) -> str | None:
        """The Unix path of the socket's own end (None when unnamed)."""
    def peer_path(self, handle: int) -> str | None:
        """The Unix path of the peer (None when unnamed)."""
    def adopt_listener(self, sock: socket.socket | SupportsIndex, *, userdata: object = None) -> int:
        """Adopts a listening socket (detached) or descriptor (handed over)."""
    def adopt_connection(self, sock: socket.socket | SupportsIndex, *, userdata: object = None) -> int:
        """Adopts a connected stream socket or descriptor."""
    def adopt_udp(self, sock: socket.socket | SupportsIndex, *, userdata: object = None) -> int:
        """Adopts a datagram socket or descriptor."""

    # ---- data ---------------------------------------------------------------
    def send(self, handle: int, data: Buffer, token: SupportsIndex | None = None) -> None:
        """Queues data whole or raises BlockingIOError (EAGAIN)."""
    def sendv(self, handle: int, buffers: Iterable[Buffer], token: SupportsIndex | None = None) -> None:
        """Sends several buffers as one message (writev)."""
    def send_to(self, handle: int, data: Buffer, addr: tuple[str, SupportsIndex]) -> None:
        """Sends one UDP datagram to ``(host, port)``."""
    def send_batch(
        self, handle: int, datagrams: Iterable[tuple[Buffer, tuple[str, SupportsIndex] | None]]
    ) -> int:
        """Sends ``(data, (host, port) or None)`` datagrams, many per system
        call; returns how many went, from the first (fewer: the next one
        failed, and a call from it raises why). Raises if none went."""
    def pause(self, handle: int) -> None:
        """Stops reading from a connection."""
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
        """Sets how a connection's input is cut into "data" events."""
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
        """Sets an option (range-checked)."""
    def get_option(self, handle: int, option: int | OptionName) -> int:
        """Reads an option back."""
    def udp_join(self, handle: int, group: str, interface: str | int | None = None) -> None:
        """Joins a multicast group."""
    def udp_leave(self, handle: int, group: str, interface: str | int | None = None) -> None:
        """Leaves a multicast group."""
    def set_raw_option(
        self, handle: int, level: SupportsIndex, name: SupportsIndex, value: SupportsIndex | Buffer
    ) -> None:
        """setsockopt on the handle's socket."""
    @overload
    def get_raw_option(self, handle: int, level: int, name: int) -> int:
        """getsockopt returning a C int."""
    @overload
    def get_raw_option(self, handle: int, level: int, name: int, buflen: int) -> int | bytes:
        """getsockopt returning up to ``buflen`` bytes (an int when 0)."""
    def raw_fd(self, handle: int) -> int:
        """The socket descriptor behind a handle (netcore owns it)."""
    def queued_bytes(self, handle: int) -> int:
        """Bytes sent on a connection that the kernel has not taken yet
        (what HIGH_WATER and LOW_WATER are compared with)."""
    def local_address(self, handle: int) -> Address:
        """The local (host, port)."""
    def peer_address(self, handle: int) -> Address:
        """The peer's (host, port)."""
    def kind(self, handle: int) -> HandleKind:
        """"tcp_listener", "tcp_connection", "udp" or "timer"."""

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
        """Attaches any object to a handle (None removes it)."""
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
