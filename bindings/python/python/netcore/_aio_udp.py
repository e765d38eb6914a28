"""Private to :mod:`netcore.aio`: asyncio's ``create_datagram_endpoint``
over a netcore datagram handle (UDP or Unix), with a ``DatagramTransport``
that behaves as asyncio's: ``sendto`` never loses a datagram to a full
kernel buffer (it is queued and sent on netcore's ``writable``,
``pause_writing`` past the high mark), OS errors go to ``error_received``."""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Callable
from typing import Any

from netcore._aio_net import (
    _DEFAULT_HIGH,
    _DEFAULT_LOW,
    _adopt,
    _check_socket,
    _Endpoint,
    _Hub,
    _address,
    _family,
    _hub,
    _literals,
    _port,
    _remove_stale_socket,
    _sockaddr,
    _unix_address,
    _unix_path,
)
from netcore._errors import Error
from netcore._netcore import BROADCAST, Event

__all__ = ["DatagramTransport", "create_datagram_endpoint"]

class DatagramTransport(_Endpoint, asyncio.DatagramTransport, asyncio.Transport):
    """A UDP or Unix datagram socket as asyncio's ``DatagramTransport``:
    what :func:`create_datagram_endpoint` hands to the protocol (also an
    ``asyncio.Transport``, as asyncio's own datagram transport is)."""

    __slots__ = ("_address", "_peername", "_family", "_held", "_buffer", "_buffer_size")

    def __init__(self, hub: _Hub, handle: int, address: Any, peername: Any) -> None:
        """``peername``: the peer the socket is connected to, as the socket
        module gives it (None if it is not); ``address``: where ``sendto``
        without an address sends (None: nowhere), as the caller gave it."""
        super().__init__(hub, handle)
        self._address = address
        self._peername = peername
        self._family = _family(_address(hub.nc, handle, peer=False))
        # Datagrams that came before the protocol reads.
        self._held: list[tuple[bytes, Any]] | None = []
        # Datagrams the kernel had no room for yet, with their address.
        self._buffer: collections.deque[tuple[bytes, Any]] = collections.deque()
        self._buffer_size = 0

    def __repr__(self) -> str:
        state = " closing" if self._closing else ""
        return f"<netcore.aio.DatagramTransport handle={self._handle}{state}>"

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``peername`` (None unless connected), ``sockname`` and ``socket``."""
        try:
            if name == "peername":
                return self._peername
            if name == "sockname":
                return _address(self._nc, self._handle, peer=False)
            if name == "socket":
                return self._socket(socket.SOCK_DGRAM, self._family)
        except (Error, OSError):
            return default
        return default

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def sendto(self, data: Any, addr: Any = None) -> None:
        """Sends one datagram to ``addr`` (an IP literal and port; a Unix
        path), or to the remote address when there is one (``addr`` None or
        that address, else ValueError)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if not data:
            return
        if self._address is not None:
            if addr is not None and not self._is_remote(addr):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        elif addr is None:
            raise ValueError("no address given and the endpoint is not connected")
        if self._conn_lost or self._nc_closed:
            self._dropped()
            return
        if not self._buffer and self._send(data, addr):
            return
        self._buffer.append((bytes(data), addr))
        self._buffer_size += len(data)
        if not self._protocol_paused and self._buffer_size > _DEFAULT_HIGH:
            self._protocol_paused = True
            self._call_protocol("pause_writing")

    def close(self) -> None:
        """Closes once the queued datagrams are sent; ``connection_lost(None)``
        follows."""
        if self._closing:
            return
        self._closing = True
        self._held = None
        if not self._buffer:
            self._close_handle()

    def abort(self) -> None:
        """Closes at once, dropping queued datagrams."""
        self._closing = True
        self._held = None
        self._buffer.clear()
        self._buffer_size = 0
        self._close_handle()

    # ---- internals -----------------------------------------------------------

    def _is_remote(self, addr: Any) -> bool:
        """Whether ``addr`` names the remote address."""
        if self._family == socket.AF_UNIX:
            return addr in (self._address, self._peername)
        return bool(tuple(addr[:2]) == self._address[:2])

    def _send(self, data: bytes | bytearray | memoryview, addr: Any) -> bool:
        """Sends now (to the connected peer if there is one, as asyncio
        does); False if the kernel has no room (then it is queued)."""
        try:
            if self._peername is not None:
                self._nc.send(self._handle, data)
            elif self._family == socket.AF_UNIX:
                self._nc.send_to_unix(self._handle, data, _unix_path(addr))
            else:
                self._nc.send_to(self._handle, data, (addr[0], addr[1]))
        except BlockingIOError:
            return False
        except OSError as exc:
            self._call_protocol("error_received", exc)
        return True

    def _start_reading(self) -> None:
        super()._start_reading()
        held, self._held = self._held, None
        for data, addr in held or ():
            if self._closing:
                break
            self._call_protocol("datagram_received", data, addr)

    def _event(self, ev: Event) -> None:
        kind = ev.kind
        if kind == "datagram":
            assert ev.data is not None
            if ev.addr is not None:
                sender: Any = _sockaddr(ev.addr)
            else:  # Unix: None from an unnamed socket, as recvfrom gives
                sender = None if ev.path is None else _unix_address(ev.path)
            if self._reading:
                if not self._closing:
                    self._call_protocol("datagram_received", ev.data, sender)
            elif self._held is not None:
                self._held.append((ev.data, sender))
        elif kind == "writable":
            self._flush()
        elif kind == "error":
            if ev.error is not None and not self._closing:
                self._call_protocol("error_received", ev.error)
        elif kind == "closed":
            self._netcore_closed()
            self._lose(ev.error)

    def _flush(self) -> None:
        """The kernel has room again: send what is queued."""
        while self._buffer:
            data, addr = self._buffer[0]
            if not self._send(data, addr):
                return
            self._buffer.popleft()
            self._buffer_size -= len(data)
        if self._protocol_paused and self._buffer_size <= _DEFAULT_LOW:
            self._protocol_paused = False
            self._call_protocol("resume_writing")
        if self._closing:
            self._close_handle()


async def create_datagram_endpoint(
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    local_addr: Any = None,
    remote_addr: Any = None,
    *,
    family: int = 0,
    proto: int = 0,
    flags: int = 0,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    allow_broadcast: bool | None = None,
    sock: socket.socket | None = None,
) -> tuple[DatagramTransport, asyncio.BaseProtocol]:
    """``loop.create_datagram_endpoint`` over netcore: binds ``local_addr``
    (default: the wildcard of the remote's family, any port), connects to
    ``remote_addr`` if given, and returns ``(transport,
    protocol_factory())`` once ``connection_made`` ran. With
    ``family=socket.AF_UNIX`` the addresses are Unix paths (str; a leading
    NUL or netcore's ``"@name"`` is the abstract namespace), either may be
    omitted, and as under asyncio a stale socket file at ``local_addr`` is
    removed first and the file stays after close. With ``sock`` (a bound or
    connected UDP or Unix datagram ``socket.socket``) netcore adopts it, as
    ``create_server`` does: netcore works on a duplicate of its descriptor,
    the object stays usable, ``get_extra_info("socket")`` shows it and it
    closes with the transport; a connected one's peer is the transport's
    ``peername``."""
    made_here = False  # a Unix socket made here for netcore to adopt
    unix_remote = None
    if sock is not None:
        _check_socket(sock, socket.SOCK_DGRAM)
        modifiers = dict(local_addr=local_addr, remote_addr=remote_addr, family=family, proto=proto, flags=flags,
                         reuse_port=reuse_port, allow_broadcast=allow_broadcast)
        problems = ", ".join(f"{k}={v}" for k, v in modifiers.items() if v)
        if problems:
            raise ValueError(f"socket modifier keyword arguments can not be used when sock is specified. ({problems})")
    elif reuse_address:
        raise ValueError(
            "Passing `reuse_address=True` is no longer supported, as the usage of "
            "SO_REUSEPORT in UDP poses a significant security concern."
        )
    elif local_addr is None and remote_addr is None and family == 0:
        raise ValueError("unexpected address family")
    elif family == socket.AF_UNIX:
        sock = _unix_socket(local_addr, remote_addr, proto, bool(reuse_port), bool(allow_broadcast))
        made_here = True
        unix_remote = remote_addr or None
    hub = _hub()
    remote = None
    try:
        if sock is not None:
            handle = _adopt(sock, hub.nc.adopt_udp)
            peer = _connected_peer(hub, handle)
            address = unix_remote or peer
        else:
            handle, remote = await _bind(hub, local_addr, remote_addr, family, flags, bool(reuse_port))
            peer = address = _sockaddr(remote) if remote is not None else None
    except BaseException:
        if made_here and sock is not None:
            sock.close()  # not adopted after all
        hub.release_soon()
        raise
    transport = DatagramTransport(hub, handle, address, peer)
    if sock is not None:
        if made_here:
            sock.close()  # netcore has its own duplicate
        else:
            transport._keep(sock)
    try:
        if sock is None:
            if allow_broadcast:
                hub.nc.set_option(handle, BROADCAST, 1)
            if remote is not None:
                hub.nc.udp_connect(handle, remote[0], remote[1])
        protocol = protocol_factory()
        ready: asyncio.Future[None] = hub.aloop.create_future()
        transport._start(protocol, ready)
        await ready
    except BaseException:
        transport.abort()
        raise
    return transport, protocol


def _unix_socket(
    local_addr: Any, remote_addr: Any, proto: int, reuse_port: bool, allow_broadcast: bool
) -> socket.socket:
    """A Unix datagram socket made as asyncio makes one, for netcore to
    adopt: bound to ``local_addr`` (a stale socket file there removed
    first), connected to ``remote_addr`` (unless ``allow_broadcast``), the
    socket module's own errors. netcore removes only files it bound itself,
    so the file stays after close, as under asyncio."""
    for addr in (local_addr, remote_addr):
        if addr is not None and not isinstance(addr, str):
            raise TypeError("string is expected")
    if local_addr:
        _remove_stale_socket(_unix_path(local_addr))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM, proto)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if allow_broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        if local_addr:
            sock.bind(_socket_module_path(local_addr))
        if remote_addr and not allow_broadcast:
            sock.connect(_socket_module_path(remote_addr))
    except BaseException:
        sock.close()
        raise
    return sock


def _socket_module_path(path: str) -> str:
    """A Unix path as the socket module takes it: netcore's ``"@name"`` is
    the abstract namespace's leading NUL."""
    return "\0" + path[1:] if path.startswith("@") else path


async def _bind(
    hub: _Hub,
    local_addr: tuple[str, int] | None,
    remote_addr: tuple[str, int] | None,
    family: int,
    flags: int,
    reuse_port: bool,
) -> tuple[int, tuple[str, int] | None]:
    """A new UDP handle bound to ``local_addr`` (resolved), and the
    resolved ``remote_addr`` to connect it to."""
    remote = None
    if remote_addr is not None:
        port = _port(remote_addr[1], socket.SOCK_DGRAM)
        hosts = await _literals(hub, remote_addr[0], port, family, socket.SOCK_DGRAM, flags)
        remote = (hosts[0], port)
    if local_addr is not None:
        port = _port(local_addr[1], socket.SOCK_DGRAM)
        hosts = await _literals(hub, local_addr[0], port, family, socket.SOCK_DGRAM, flags)
        local = (hosts[0], port)
    else:
        v6 = family == socket.AF_INET6 or (remote is not None and ":" in remote[0])
        local = ("::" if v6 else "0.0.0.0", 0)
    return hub.nc.udp_bind(local[0], local[1], reuse_port=reuse_port), remote


def _connected_peer(hub: _Hub, handle: int) -> Any:
    """The peer an adopted datagram socket is connected to, as the socket
    module gives it (None if it is not connected)."""
    try:
        return _address(hub.nc, handle, peer=True)
    except Error:
        return None
