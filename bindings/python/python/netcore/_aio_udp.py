"""Private to :mod:`netcore.aio`: asyncio's ``create_datagram_endpoint``
over a netcore UDP handle, with a ``DatagramTransport`` that behaves as
asyncio's: ``sendto`` never loses a datagram to a full kernel buffer (it is
queued and sent on netcore's ``writable``, ``pause_writing`` past the high
mark), OS errors go to ``error_received``."""

from __future__ import annotations

import asyncio
import collections
import socket
from collections.abc import Callable
from typing import Any

from netcore._aio_net import (
    _DEFAULT_HIGH,
    _DEFAULT_LOW,
    _check_socket,
    _Endpoint,
    _Hub,
    _hub,
    _literals,
    _sockaddr,
    _TransportSocket,
)
from netcore._errors import Error
from netcore._netcore import BROADCAST, Event

__all__ = ["DatagramTransport", "create_datagram_endpoint"]

_Addr = tuple[Any, ...]


class DatagramTransport(_Endpoint, asyncio.DatagramTransport):
    """A UDP socket as asyncio's ``DatagramTransport``: what
    :func:`create_datagram_endpoint` hands to the protocol."""

    __slots__ = ("_address", "_held", "_buffer", "_buffer_size")

    def __init__(self, hub: _Hub, handle: int, remote: tuple[str, int] | None) -> None:
        super().__init__(hub, handle)
        self._address = _sockaddr(remote) if remote is not None else None
        # Datagrams that came before the protocol reads.
        self._held: list[tuple[bytes, _Addr]] | None = []
        # Datagrams the kernel had no room for yet, with their address.
        self._buffer: collections.deque[tuple[bytes, _Addr | None]] = collections.deque()
        self._buffer_size = 0

    def __repr__(self) -> str:
        state = " closing" if self._closing else ""
        return f"<netcore.aio.DatagramTransport handle={self._handle}{state}>"

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``peername`` (None unless connected), ``sockname`` and ``socket``."""
        try:
            if name == "peername":
                return self._address
            if name == "sockname":
                return _sockaddr(self._nc.local_address(self._handle))
            if name == "socket":
                local = self._nc.local_address(self._handle)
                family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
                return _TransportSocket(self._nc, self._handle, family, socket.SOCK_DGRAM)
        except (Error, OSError):
            return default
        return default

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def sendto(self, data: Any, addr: Any = None) -> None:
        """Sends one datagram to ``addr`` (an IP literal and port), or to
        the remote address when connected (``addr`` None or that address,
        else ValueError)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if not data:
            return
        if self._address is not None:
            if addr is not None and tuple(addr[:2]) != self._address[:2]:
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = None
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

    def _send(self, data: bytes | bytearray | memoryview, addr: _Addr | None) -> bool:
        """Sends now; False if the kernel has no room (then it is queued)."""
        try:
            if addr is None:
                self._nc.send(self._handle, data)
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
            assert ev.data is not None and ev.addr is not None
            if self._reading:
                if not self._closing:
                    self._call_protocol("datagram_received", ev.data, _sockaddr(ev.addr))
            elif self._held is not None:
                self._held.append((ev.data, _sockaddr(ev.addr)))
        elif kind == "writable":
            self._flush()
        elif kind == "error":
            if ev.error is not None and not self._closing:
                self._call_protocol("error_received", ev.error)
        elif kind == "closed":
            self._nc_closed = True
            self._hub.forget(self._handle)
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
    local_addr: tuple[str, int] | None = None,
    remote_addr: tuple[str, int] | None = None,
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
    protocol_factory())`` once ``connection_made`` ran. With ``sock`` (a
    bound or connected UDP ``socket.socket``) netcore adopts it, as
    ``create_server`` does: netcore takes its descriptor, the object is
    detached and ``get_extra_info("socket")`` stands for it; a connected
    one's peer is the transport's ``peername``. Not supported yet: Unix
    datagram sockets."""
    if sock is not None:
        _check_socket(sock, socket.SOCK_DGRAM)
        modifiers = dict(local_addr=local_addr, remote_addr=remote_addr, family=family, proto=proto, flags=flags,
                         reuse_port=reuse_port, allow_broadcast=allow_broadcast)
        problems = ", ".join(f"{k}={v}" for k, v in modifiers.items() if v)
        if problems:
            raise ValueError(f"socket modifier keyword arguments can not be used when sock is specified. ({problems})")
        if sock.family == socket.AF_UNIX:
            raise NotImplementedError("netcore.aio: Unix datagram sockets are not supported yet")
    elif reuse_address:
        raise ValueError(
            "Passing `reuse_address=True` is no longer supported, as the usage of "
            "SO_REUSEPORT in UDP poses a significant security concern."
        )
    elif local_addr is None and remote_addr is None and family == 0:
        raise ValueError("unexpected address family")
    hub = _hub()
    try:
        if sock is not None:
            handle = hub.nc.adopt_udp(sock)
            remote = _connected_peer(hub, handle)
        else:
            handle, remote = await _bind(hub, local_addr, remote_addr, family, flags, bool(reuse_port))
    except BaseException:
        hub.release_soon()
        raise
    transport = DatagramTransport(hub, handle, remote)
    try:
        if allow_broadcast:
            hub.nc.set_option(handle, BROADCAST, 1)
        if remote is not None and sock is None:
            hub.nc.udp_connect(handle, remote[0], remote[1])
        protocol = protocol_factory()
        ready: asyncio.Future[None] = hub.aloop.create_future()
        transport._start(protocol, ready)
        await ready
    except BaseException:
        transport.abort()
        raise
    return transport, protocol


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
        hosts = await _literals(hub, remote_addr[0], remote_addr[1], family, socket.SOCK_DGRAM, flags)
        remote = (hosts[0], remote_addr[1])
    if local_addr is not None:
        hosts = await _literals(hub, local_addr[0], local_addr[1], family, socket.SOCK_DGRAM, flags)
        local = (hosts[0], local_addr[1])
    else:
        v6 = family == socket.AF_INET6 or (remote is not None and ":" in remote[0])
        local = ("::" if v6 else "0.0.0.0", 0)
    return hub.nc.udp_bind(local[0], local[1], reuse_port=reuse_port), remote


def _connected_peer(hub: _Hub, handle: int) -> tuple[str, int] | None:
    """The peer an adopted UDP socket is connected to (None if it is not)."""
    try:
        return hub.nc.peer_address(handle)
    except Error:
        return None
