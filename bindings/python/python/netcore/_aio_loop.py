"""Private to :mod:`netcore.aio`: an asyncio event loop whose TCP, UDP and
Unix endpoints are netcore's, for code that calls the loop's own
methods."""

from __future__ import annotations

import asyncio
from asyncio.base_events import _format_handle  # type: ignore[attr-defined]
from asyncio.log import logger
from collections.abc import Coroutine
from typing import Any, TypeVar

from netcore._aio_net import (
    Transport,
    _hubs,
    create_connection,
    create_server,
    create_unix_connection,
    create_unix_server,
)
from netcore._netcore import TLSContext, _aio_loop_changed, _install_aio_loop_core
from netcore._aio_udp import create_datagram_endpoint

__all__ = ["EventLoop", "EventLoopPolicy", "new_event_loop", "run"]

_T = TypeVar("_T")


def _foreign_ssl(kwds: dict[str, Any]) -> bool:
    """``ssl=`` that only asyncio's own TLS takes (an ``ssl.SSLContext``,
    or True): this loop leaves the call to asyncio."""
    return kwds.get("ssl") not in (None, False) and not isinstance(kwds.get("ssl"), TLSContext)


class EventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector event loop with netcore's TCP, UDP and Unix
    (stream and datagram) sockets: ``loop.create_server``, ``loop.create_connection``,
    ``loop.create_unix_server``, ``loop.create_unix_connection`` (and so
    ``asyncio.start_server``, ``asyncio.open_connection`` and their Unix
    twins) and ``loop.create_datagram_endpoint`` are netcore.aio's, ``sock=``
    included (netcore adopts a duplicate of the socket); what those do not
    support (``ssl=`` with anything but a netcore.TLSContext,
    ``reuse_address=False``) and everything else is asyncio's own."""

    async def create_server(self, protocol_factory: Any, host: Any = None, port: Any = None, **kwds: Any) -> Any:
        if _foreign_ssl(kwds) or kwds.get("reuse_address") is False:
            return await super().create_server(protocol_factory, host, port, **kwds)
        return await create_server(protocol_factory, host, port, **kwds)

    async def create_connection(self, protocol_factory: Any, host: Any = None, port: Any = None, **kwds: Any) -> Any:
        if _foreign_ssl(kwds):
            return await super().create_connection(protocol_factory, host, port, **kwds)
        return await create_connection(protocol_factory, host, port, **kwds)

    async def sendfile(
        self, transport: Any, file: Any, offset: int = 0, count: int | None = None, *, fallback: bool = True
    ) -> int:
        """asyncio's, and for netcore's transports (no sendfile(2) path) what
        asyncio falls back to: the file read in blocks and written with
        the transport's flow control (``fallback=False``: RuntimeError)."""
        if not isinstance(transport, Transport):
            return await super().sendfile(transport, file, offset, count, fallback=fallback)
        if transport.is_closing():
            raise RuntimeError("Transport is closing")
        if not fallback:
            raise RuntimeError(f"fallback is disabled and native sendfile is not supported for transport {transport!r}")
        return await transport._sendfile(file, offset, count)

    async def create_unix_server(self, protocol_factory: Any, path: Any = None, **kwds: Any) -> Any:
        if _foreign_ssl(kwds):
            return await super().create_unix_server(protocol_factory, path, **kwds)
        return await create_unix_server(protocol_factory, path, **kwds)

    async def create_unix_connection(self, protocol_factory: Any, path: Any = None, **kwds: Any) -> Any:
        if _foreign_ssl(kwds):
            return await super().create_unix_connection(protocol_factory, path, **kwds)
        return await create_unix_connection(protocol_factory, path, **kwds)

    async def start_tls(
        self,
        transport: Any,
        protocol: Any,
        sslcontext: Any,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> Any:
        """With a netcore.TLSContext (whose side must be ``server_side``'s),
        netcore upgrades its own transport (the same one is returned, as
        ``StreamWriter.start_tls`` needs); anything else is asyncio's."""
        if not isinstance(sslcontext, TLSContext):
            return await super().start_tls(
                transport, protocol, sslcontext, server_side=server_side, server_hostname=server_hostname,
                ssl_handshake_timeout=ssl_handshake_timeout, ssl_shutdown_timeout=ssl_shutdown_timeout,
            )
        if not isinstance(transport, Transport):
            raise TypeError("a netcore.TLSContext upgrades a netcore.aio transport only")
        if sslcontext.server_side != server_side:
            raise ValueError(f"server_side={server_side} with a {'server' if sslcontext.server_side else 'client'} "
                             "netcore.TLSContext")
        return await transport._start_tls(sslcontext, server_hostname)

    async def create_datagram_endpoint(
        self, protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None, **kwds: Any
    ) -> Any:
        return await create_datagram_endpoint(protocol_factory, local_addr, remote_addr, **kwds)

    def set_debug(self, enabled: bool) -> None:
        super().set_debug(enabled)
        # The native turn's copy of it (read once a turn) is read again.
        _aio_loop_changed()

    def set_task_factory(self, factory: Any) -> None:
        super().set_task_factory(factory)
        _aio_loop_changed()

    def close(self) -> None:
        """Closes netcore's side too: whatever this loop still has open
        there is closed at once (connections reset), as a closed selector
        loop leaves no socket to serve."""
        hub = _hubs.get(self)
        if hub is not None:
            hub.release(force=True)
        super().close()


def _run_in_debug(loop: EventLoop, handle: Any) -> None:
    """One callback of the native ``_run_once`` in debug mode, as asyncio's
    ``_run_once`` runs it: the loop's current handle, a warning if slow."""
    try:
        loop._current_handle = handle  # type: ignore[attr-defined]
        t0 = loop.time()
        handle._run()
        dt = loop.time() - t0
        if dt >= loop.slow_callback_duration:
            logger.warning("Executing %s took %.3f seconds", _format_handle(handle), dt)
    finally:
        loop._current_handle = None  # type: ignore[attr-defined]


# call_soon, call_at, call_later, time, get_debug, create_task and _run_once native, as
# uvloop's: the handles are netcore._Handle / _TimerHandle objects, asyncio's Handle /
# TimerHandle in behaviour but not in type. Debug mode keeps asyncio's.
_install_aio_loop_core(EventLoop, _run_in_debug)


def new_event_loop() -> EventLoop:
    """A new :class:`EventLoop` (for ``asyncio.Runner(loop_factory=...)``,
    uvicorn's ``loop=`` setting, ...)."""
    return EventLoop()


class EventLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """The default policy with :class:`EventLoop` as its loop:
    ``asyncio.set_event_loop_policy(netcore.aio.EventLoopPolicy())`` makes
    ``asyncio.run`` use netcore's sockets."""

    def new_event_loop(self) -> EventLoop:
        return EventLoop()


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """``asyncio.run`` on a new :class:`EventLoop`: ``netcore.aio.run(main())``
    in place of ``asyncio.run(main())`` runs a whole program's TCP, Unix
    stream and UDP sockets on netcore."""
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)
