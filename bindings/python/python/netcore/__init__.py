"""netcore: event-driven TCP/UDP networking with integer handles and events.

netcore's engine is Rust (on mio); this package maps the same model the C
library has into Python. The model in brief (each method's docstring, e.g.
``help(netcore.Loop.send)``, has the details; ``help(netcore.Error)`` and
``help(netcore.aio)`` the errors and the asyncio driver):

Loop
    A :class:`Loop` owns sockets and timers; many may exist in one process.
    It never blocks except inside ``poll`` or ``run``. Use it as a context
    manager or call ``loop.close()``. Every method may be called from any
    thread; one thread at a time polls (another gets :class:`BusyError`).
    The GIL is released while netcore waits, and Ctrl+C interrupts a waiting
    ``poll``/``run`` within 50 ms. netcore starts no thread of its own but a
    short-lived one per host *name* given to ``connect``.

Handles
    Every socket and timer is a positive ``int`` handle (``listen``,
    ``connect``, ``udp_bind``, ``timer``; accepted connections arrive in
    events), never reused. From its close to its ``"closed"`` event every
    operation on it raises :class:`ClosedError`, then :class:`BadHandleError`.
    ``userdata=`` (or ``set_userdata``) attaches any object, returned as
    ``event.userdata``. Durations are in seconds; addresses are ``(host,
    port)`` tuples with an IP literal as host (see ``parse_address``).

Events
    Every I/O result is an :class:`Event`, in order per handle. Its ``kind``
    is one of these (also module constants: ``netcore.DATA == "data"``):

    ================  ========================================================
    ``accepted``      a listener accepted ``handle``; ``listener``, ``addr``
    ``connected``     an outgoing connection is up; ``addr`` is the peer
    ``connect_failed`` it failed for good (``error``); ``closed`` follows
    ``data``          bytes: a raw chunk, or one whole frame (``set_framing``)
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
    ``tls_ready``     a TLS handshake finished (``loop.tls_info(handle)``)
    ``tls_failed``    a TLS handshake failed (``error``); ``closed`` follows
    ================  ========================================================

    TLS: ``tls=`` a :class:`TLSContext` on ``listen``/``connect``, or
    ``start_tls`` on a live connection; TLS errors are ``ssl.SSLError``\ s.

    Three ways to consume them: ``loop.poll(timeout)`` returns a list;
    ``loop.run(callback, on_data=fn)`` calls back until ``loop.stop()``
    (``on_data(handle, data)`` is the fast path for stream servers); and
    ``fileno()`` with ``next_timeout()`` let another loop drive this one
    (:mod:`netcore.aio` does it for asyncio).

Example::

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
