"""netcore: event-driven TCP/UDP networking with integer handles and events.

netcore's engine is Rust (on mio); this package maps the same model the C
library has into Python.

The model
---------
Loop
    A :class:`Loop` owns sockets and timers. It never blocks except inside an
    explicit ``poll`` or ``run`` call, and many loops may exist in one process.
    Use it as a context manager (``with netcore.Loop() as loop:``) or call
    ``loop.close()`` (no argument: closes the loop and every handle at once;
    ``loop.close(handle)`` closes one handle gracefully).

Handles
    Every socket and timer is a positive ``int`` handle returned by
    ``listen``, ``connect``, ``udp_bind`` or ``timer`` (accepted connections
    arrive in events); ``with loop.closing(handle):`` closes one on exit. A
    handle belongs to its loop and is never reused for another socket. From
    its close to its ``"closed"`` event every operation on it raises
    :class:`ClosedError`; once that event is delivered (from the next poll),
    and for another loop's handles, :class:`BadHandleError`. ``run()`` and
    :mod:`netcore.aio` deliver nothing of a closed handle but its
    ``"closed"``. Any Python object can ride along with a handle:
    ``set_userdata(handle, obj)`` (or ``userdata=`` at creation) and it comes
    back as ``event.userdata``; it is dropped after the handle's ``"closed"``
    event, and connections accepted by a listener start with the listener's.

Events
    Every I/O result is an :class:`Event` with ``kind`` (a ``str``), ``handle``,
    ``listener``, ``data`` (``bytes``), ``addr`` (``(host, port)``), ``error``
    (an exception instance, not raised) and ``userdata``. Kinds (also module
    constants, e.g. ``netcore.DATA == "data"``):

    ================  ========================================================
    ``accepted``      a listener accepted ``handle``; ``listener``, ``addr``
    ``connected``     an outgoing connection is up; ``addr`` is the peer
    ``connect_failed`` it failed for good (``error``); ``closed`` follows
    ``data``          bytes: a raw chunk, or one whole frame (see framing)
    ``eof``           the peer half-closed: nothing more will arrive
    ``writable``      the send queue drained after a send raised EAGAIN
    ``closed``        the handle is gone (exactly once); ``error`` if abnormal
    ``datagram``      a UDP datagram; ``addr`` is the sender
    ``error``         e.g. an oversized frame (EMSGSIZE) before the close
    ``timer``         a timer (``loop.timer(delay, repeat)``) expired
    ``idle``          no I/O for the connection's idle timeout
    ``sent``          bytes sent with ``token=`` reached the kernel (``value``)
    ``reconnecting``  an auto-reconnecting connection retries (``value``: attempt)
    ``shutdown_complete`` a listener's ``shutdown_server`` drain is over
    ================  ========================================================

    Events of one handle arrive in order. ``event.value`` carries the token of
    ``sent`` and the attempt number of ``reconnecting`` (0 otherwise).

Three ways to consume events
----------------------------
1. **poll**: ``loop.poll(timeout=None, max_events=1024) -> list[Event]``; one
   native call per batch. ``timeout`` is in seconds (None waits, 0 never does).
2. **run**: ``loop.run(callback)`` calls ``callback(event)`` for each event
   until ``loop.stop()``. With ``on_data=fn`` every ``"data"`` event comes as
   ``fn(handle, data)`` instead, without an Event object: the fast path for
   stream servers (asyncio's ``data_received``, Node's ``'data'``).
3. **embed**: ``loop.fileno()`` is readable while events are pending and
   ``loop.next_timeout()`` says how long a host loop may sleep; poll with
   timeout 0 when either fires. :mod:`netcore.aio` does this for asyncio with
   no extra thread: ``netcore.aio.attach(loop, callback)``.

Sending
-------
``send(handle, data)`` takes ``bytes``, ``bytearray``, ``memoryview`` or any
C-contiguous buffer, read in place. It never blocks and never sends part of a
message: the bytes are queued whole, or refused whole with
:class:`BlockingIOError` (EAGAIN) when the send queue is above its high-water
mark (option ``HIGH_WATER``); a ``"writable"`` event follows once it falls to
``LOW_WATER``. ``sendv(handle, [buffers])`` sends several buffers as one
message; ``send_to(handle, data, (host, port))`` sends a UDP datagram.
``close(handle)`` flushes everything queued, then sends FIN;
``close_reset(handle)`` drops the queue and resets; ``shutdown(handle)``
half-closes. ``pause``/``resume`` stop and restart reading.

Framing
-------
``set_framing(handle, mode, ...)`` with mode ``"stream"`` (raw chunks, the
default), ``"delimited"`` (``delimiter=b"\\n"``), ``"fixed"`` (``size=N``) or
``"length_prefixed"`` (``header=1|2|4``, big-endian); the shortcuts
``frame_delimited``, ``frame_fixed`` and ``frame_length_prefixed`` do the same.
A parameter left out takes the core's default (``DEFAULT_DELIMITER``,
``DEFAULT_LENGTH_HEADER``); framed modes take ``max_frame`` (default
``DEFAULT_MAX_FRAME``, 1 MiB): a larger frame is an ``"error"`` event with
:class:`MessageTooLongError` (EMSGSIZE), then ``"closed"``.

Clients, timers and servers
---------------------------
``connect(host, port, timeout=, family=, local_address=, attempt_delay=,
reconnect=[delays])`` (Happy Eyeballs; names resolved off the loop thread;
``set_host_addresses`` answers names without the resolver);
``timer(delay, repeat=None)``; ``set_idle_timeout(handle, seconds)``;
``set_max_connections(listener, n)``; ``shutdown_server(listener, drain)``;
``udp_join``/``udp_leave`` (multicast); ``set_raw_option``/``get_raw_option``
and ``raw_fd`` for everything else. Durations are in seconds (float).

Options and addresses
---------------------
``set_option(handle, netcore.NODELAY, 1)`` / ``get_option`` with ``NODELAY``,
``KEEPALIVE``, ``RCVBUF``, ``SNDBUF``, ``HIGH_WATER``, ``LOW_WATER``,
``BROADCAST``, ``LINGER`` (seconds; -1 = off), ``MULTICAST_LOOP``,
``MULTICAST_TTL`` (or their names as strings, ``"nodelay"``...).
``local_address(handle)`` / ``peer_address(handle)`` and events' ``addr``
return ``(host, port)`` with the host an IP literal; an IPv6 address with a
scope keeps its zone (``("fe80::1%2", 9)``), so a reply to a link-local peer
leaves by the right interface. ``parse_address(host, port)`` turns any
address the loop accepts without resolving (an IP literal or ``localhost``)
into that form.

Errors
------
Every error is a :class:`netcore.Error` (an :class:`OSError`) with ``errno``,
``strerror``, ``name`` (``"ECONNREFUSED"``) and ``code`` (the same name).
Errors the OS knows are also the matching builtin class:
``ConnectionRefusedError``, ``ConnectionResetError``, ``TimeoutError``,
``BrokenPipeError``, ``BlockingIOError`` (EAGAIN)... with ``errno`` set.
``netcore.TimeoutError`` and the other classes named like a builtin are
subclasses of it, reachable as attributes but left out of ``__all__``:
``from netcore import *`` never shadows a builtin.
netcore-only codes have their own classes, with ``errno`` set to the negative
netcore code: :class:`BadHandleError` (EBADHANDLE), :class:`DNSError` (EDNS),
:class:`ClosedError` (ECLOSED), :class:`WrongKindError` (EWRONGKIND),
:class:`InternalError` (EPANIC). Wrong argument types raise ``TypeError``;
bad values (port 70000, an unparsable address, an out-of-range option) raise
:class:`InvalidArgumentError`, which is also a ``ValueError``; when the core
refuses the value, its message names the argument and what it must be
(``port: expected 0 to 65535``).

Threads
-------
Every method may be called from any thread. One thread at a time polls a loop
(another gets :class:`BusyError`); ``wake()`` interrupts a blocking ``poll``
from any thread, and ``close()`` (from any thread or a signal handler) ends a
waiting ``poll``/``run`` with :class:`ClosedError`, delivering nothing more. The GIL is released while netcore waits (and during large
sends of ``bytes``; any other buffer, which another thread could change, is
read with the GIL held), and Ctrl+C interrupts a blocking ``poll``/``run``
with ``KeyboardInterrupt`` within 50 ms. netcore starts no thread of its own,
except a short-lived one per host *name* passed to ``connect`` (name
resolution); IP literals never start one.

Example
-------
::

    import netcore

    with netcore.Loop() as loop:
        server = loop.listen("127.0.0.1", 0)
        print("listening on", loop.local_address(server))
        while True:
            for ev in loop.poll():
                if ev.kind == netcore.DATA:
                    loop.send(ev.handle, ev.data)      # echo
                elif ev.kind == netcore.EOF:
                    loop.close(ev.handle)
"""

from __future__ import annotations

# The exception classes. The eight named like builtins (TimeoutError, ...)
# are subclasses of those builtins: attributes (netcore.TimeoutError) but not
# in __all__, so that `from netcore import *` does not shadow the builtins.
# The `X as X` form marks them as re-exported for type checkers.
from netcore._errors import *  # noqa: F403
from netcore._errors import BlockingIOError as BlockingIOError
from netcore._errors import BrokenPipeError as BrokenPipeError
from netcore._errors import ConnectionAbortedError as ConnectionAbortedError
from netcore._errors import ConnectionRefusedError as ConnectionRefusedError
from netcore._errors import ConnectionResetError as ConnectionResetError
from netcore._errors import InterruptedError as InterruptedError
from netcore._errors import PermissionError as PermissionError
from netcore._errors import TimeoutError as TimeoutError
from netcore._errors import __all__ as _error_names

# Loop, Event, parse_address, the event kinds (netcore.DATA == "data"), the
# options (netcore.NODELAY) and the core's defaults and limits: the native
# module sets them from the core's tables.
from netcore._netcore import *  # noqa: F403
from netcore._netcore import __all__ as _native_names
from netcore._netcore import __version__ as __version__

__all__ = ["__version__", *_native_names, *_error_names]
