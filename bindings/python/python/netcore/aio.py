"""asyncio with netcore: asyncio's own socket shapes over netcore, and a driver
that runs a raw netcore :class:`~netcore.Loop` inside an asyncio loop. Both
live in the asyncio thread, with no extra thread.

asyncio's shapes, under asyncio's names, so a program switches by changing
one prefix (``asyncio.open_connection`` -> ``netcore.aio.open_connection``,
``loop.create_server`` -> ``netcore.aio.create_server``)::

    import asyncio, netcore.aio

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    async def main() -> None:
        server = await netcore.aio.start_server(handle, "127.0.0.1", 8000)
        async with server:
            await server.serve_forever()

- :func:`create_server` / :func:`create_connection`: any ``asyncio.Protocol``
  (or ``BufferedProtocol``) over a :class:`Transport` that behaves as asyncio's (``write`` never loses
  bytes, ``pause_writing``/``resume_writing`` at the water marks,
  ``pause_reading``, ``write_eof``, ``abort``, ``get_extra_info``...);
  :class:`Server` as asyncio's (``async with``, ``serve_forever``...).
  ``abort()`` ends as asyncio's and uvloop's do, with a FIN after what the
  kernel took, unless it drops bytes still buffered: then with a reset, so
  that the peer cannot take the loss for a clean end (asyncio's FIN).
- :func:`start_server` / :func:`open_connection`: asyncio's own
  ``StreamReader``/``StreamWriter`` on that transport.
- :func:`create_datagram_endpoint`: any ``asyncio.DatagramProtocol`` over a
  :class:`DatagramTransport` (``sendto`` queues what the kernel has no room
  for; OS errors go to ``error_received``), UDP or, with
  ``family=socket.AF_UNIX``, Unix datagram paths.
- :func:`create_unix_server` / :func:`create_unix_connection` /
  :func:`start_unix_server` / :func:`open_unix_connection`: the same over
  Unix stream sockets (a path; a leading NUL or netcore's ``"@name"`` is
  Linux's abstract namespace). ``get_extra_info('peername'|'sockname')``
  gives what asyncio gives: the path, ``""`` when unnamed, ``b"\\0name"``
  in the abstract namespace.
- ``sock=`` (create_server, create_connection, the Unix ones,
  create_datagram_endpoint) adopts a socket made elsewhere: ownership moves
  to netcore as it moves to asyncio. netcore works on a duplicate of its
  descriptor and the object stays usable, as asyncio's does
  (``Server.sockets`` and ``get_extra_info('socket')`` show it); it closes
  with the server or transport.
- :class:`EventLoop` (:func:`run`, :func:`new_event_loop`, :class:`EventLoopPolicy`):
  an asyncio loop whose ``create_server``/``create_connection``/
  ``create_unix_server``/``create_unix_connection``/
  ``create_datagram_endpoint`` are these, so code that calls the loop's
  methods (``asyncio.start_server``, ``asyncio.open_unix_connection``,
  uvicorn) runs unchanged; its ``sendfile`` writes a file to one of their
  transports as asyncio's fallback does (netcore has no sendfile(2) path).
  ``ssl=`` takes a :class:`netcore.TLSContext` (an ``ssl.SSLContext`` is a
  TypeError in the functions; the loop leaves it to asyncio's own TLS).

The raw model, driven from asyncio (:func:`attach`)::

    import asyncio, netcore, netcore.aio

    async def main() -> None:
        nc = netcore.Loop()
        server = nc.listen("127.0.0.1", 8000)

        def on_event(ev: netcore.Event) -> None:
            if ev.kind == "data" and ev.data is not None:
                nc.send(ev.handle, ev.data)

        with netcore.aio.attach(nc, on_event):
            await asyncio.sleep(3600)     # ordinary asyncio code runs meanwhile

How it works: the netcore loop's descriptor (``fileno()``) is registered with
``add_reader``; whenever it is readable the driver calls ``poll(0)`` and hands
every event to the callback, in order. Afterwards it asks ``next_timeout()``:
0 means more events are ready (dispatch again with ``call_soon``), a positive
number is a netcore timer (dispatch again with ``call_later``), ``None`` means
only new I/O can produce events (wait for the descriptor).

The callback runs in the asyncio thread, like any asyncio callback, and may
call every netcore method (``send``, ``close``...) and asyncio APIs
(``create_task``, ``Future.set_result``...). Its exceptions are treated as
asyncio treats those of its own callbacks: ``KeyboardInterrupt`` and
``SystemExit`` propagate (out of ``run_until_complete``/``asyncio.run``) and
the rest of the batch is kept, delivered first when the asyncio loop runs
again; any other exception, ``CancelledError`` included, is passed to the
asyncio loop's exception handler and dispatch goes on with the next event.

Closing the netcore loop detaches the driver at once (its descriptor is
unregistered before it closes, so a later socket that gets the same number is
not mistaken for it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import SupportsIndex

from netcore._netcore import Event, Loop, _AioDispatcher, _AioStreams, _check_max_events

__all__ = [
    "AsyncioDriver",
    "DatagramTransport",
    "EventLoop",
    "EventLoopPolicy",
    "Server",
    "Transport",
    "attach",
    "create_connection",
    "create_datagram_endpoint",
    "create_server",
    "create_unix_connection",
    "create_unix_server",
    "new_event_loop",
    "open_connection",
    "open_unix_connection",
    "run",
    "start_server",
    "start_unix_server",
]


class AsyncioDriver:
    """Delivers a netcore loop's events to ``callback`` from an asyncio loop.

    Created by :func:`attach`. Use it as a context manager, or call
    :meth:`close` to detach (the netcore loop itself stays open).
    """

    def __init__(
        self,
        nc_loop: Loop,
        callback: Callable[[Event], object],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        max_events: SupportsIndex = 1024,
    ) -> None:
        if not callable(callback):
            raise TypeError("callback must be callable")
        self._nc = nc_loop
        self._callback = callback
        self._aloop = loop if loop is not None else asyncio.get_running_loop()
        self._max_events = _check_max_events(max_events)
        self._fd = nc_loop.fileno()
        self._timer: asyncio.Handle | None = None
        self._closed = False
        # The dispatch itself, native: the asyncio loop calls it whenever the
        # descriptor is readable; it calls _schedule when netcore wants a
        # dispatch without new I/O, and close once the netcore loop closed.
        self._dispatcher = _AioDispatcher(
            nc_loop, self._max_events, self._deliver, self._schedule, self.close, self._aloop
        )
        # One object, so that close() can take it back.
        self._close_hook = self._loop_closed
        nc_loop._add_close_hook(self._close_hook)
        self._aloop.add_reader(self._fd, self._dispatcher)
        # Events may be pending already (e.g. sends made before attaching).
        self._schedule(0.0)

    @property
    def nc_loop(self) -> Loop:
        """The netcore loop being driven."""
        return self._nc

    @property
    def closed(self) -> bool:
        """Whether the driver is detached."""
        return self._closed

    def close(self) -> None:
        """Detaches from the asyncio loop (idempotent). Events not yet
        dispatched (the rest of a batch interrupted by KeyboardInterrupt
        included) stay in the netcore loop."""
        if self._closed:
            return
        self._closed = True
        self._cancel_timer()
        self._nc._remove_close_hook(self._close_hook)
        try:
            self._aloop.remove_reader(self._fd)
        except (OSError, ValueError, RuntimeError):
            # The asyncio loop is closed or the descriptor is already gone.
            pass

    def __enter__(self) -> AsyncioDriver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def dispatch(self) -> int:
        """Polls once without waiting and delivers the events now; returns
        how many were delivered. Called by the driver itself; call it directly
        only to flush events synchronously."""
        if self._closed:
            return 0
        if self._timer is not None:
            self._cancel_timer()
        # The loop delivers as run() does (no event of a handle closed by a
        # callback but its "closed"); an exception _deliver lets through
        # propagates and the loop keeps the rest of the batch (a dispatch is
        # scheduled for it). A dispatch from a callback is a no-op.
        return self._dispatcher()

    def _route(self, deliver: Callable[[Event], object], on_data: _AioStreams) -> None:
        """netcore.aio's hub: events straight to ``deliver`` (no exception
        wrapper: its transports report their protocols' exceptions
        themselves), stream data to its streams."""
        self._dispatcher.route(deliver, on_data)

    # ---- internals ----------------------------------------------------------

    def _deliver(self, ev: Event) -> None:
        """Calls the callback as asyncio calls its own: KeyboardInterrupt and
        SystemExit propagate (the rest of the batch waits for the next
        round); anything else goes to the exception handler."""
        try:
            self._callback(ev)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:  # noqa: BLE001 - reported, like asyncio callbacks
            self._aloop.call_exception_handler(
                {
                    "message": "exception in netcore event callback",
                    "exception": exc,
                    "event": ev,
                }
            )

    def _loop_closed(self) -> None:
        """The netcore loop is closing (its descriptor is still open): detach
        now if this thread may touch the asyncio loop, else as soon as the
        asyncio loop runs."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._aloop or not self._aloop.is_running():
            self.close()
        else:
            self._aloop.call_soon_threadsafe(self.close)

    def _on_timer(self) -> None:
        self._timer = None
        self.dispatch()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, delay: float | None) -> None:
        if self._timer is not None:
            self._cancel_timer()
        if delay is None or self._closed:
            return
        if delay <= 0:
            self._timer = self._aloop.call_soon(self._on_timer)
        else:
            self._timer = self._aloop.call_later(delay, self._on_timer)


def attach(
    nc_loop: Loop,
    callback: Callable[[Event], object],
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    max_events: SupportsIndex = 1024,
) -> AsyncioDriver:
    """Attaches ``nc_loop`` to the running asyncio loop (or ``loop``):
    ``callback(event)`` is called for each of its events from now on.
    Returns the :class:`AsyncioDriver`; close it (or leave its ``with``
    block) to detach. ``max_events`` (events per poll) must be at least 1
    (:class:`~netcore.InvalidArgumentError` otherwise)."""
    return AsyncioDriver(nc_loop, callback, loop=loop, max_events=max_events)


# Imported last: these modules use attach from here.
from netcore._aio_loop import EventLoop, EventLoopPolicy, new_event_loop, run  # noqa: E402
from netcore._aio_net import (  # noqa: E402
    Server,
    Transport,
    create_connection,
    create_server,
    create_unix_connection,
    create_unix_server,
    open_connection,
    open_unix_connection,
    start_server,
    start_unix_server,
)
from netcore._aio_udp import DatagramTransport, create_datagram_endpoint  # noqa: E402
