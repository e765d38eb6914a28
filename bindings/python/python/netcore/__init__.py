"""netcore: event-driven TCP/UDP networking with integer handles and events.

netcore's engine is Rust (on mio); this package maps the model the C library
has into Python. A :class:`Loop` owns sockets and timers, each named by an
``int`` handle; every I/O result is an :class:`Event` whose ``kind`` is one of
the module's constants (``netcore.DATA == "data"``). The model, the event
kinds and an example are in the package's README ("The model"); each method's
full documentation is in the type stubs, which editors show. ``help(netcore.Error)``
and ``help(netcore.aio)`` cover the errors and the asyncio driver.
"""

from __future__ import annotations

# The exception classes. The ten named like builtins (TimeoutError, ...)
# are subclasses of those builtins: attributes (netcore.TimeoutError) but not
# in __all__, so that `from netcore import *` does not shadow the builtins.
# The `X as X` form marks them as re-exported for type checkers.
from netcore._errors import *  # noqa: F403
from netcore._errors import (
    BlockingIOError as BlockingIOError, BrokenPipeError as BrokenPipeError,
    ConnectionAbortedError as ConnectionAbortedError, ConnectionRefusedError as ConnectionRefusedError,
    ConnectionResetError as ConnectionResetError, InterruptedError as InterruptedError,
    PermissionError as PermissionError, TimeoutError as TimeoutError, FileNotFoundError as FileNotFoundError,
    NotADirectoryError as NotADirectoryError, __all__ as _error_names,
)

# Loop, Event, parse_address, the event kinds (netcore.DATA == "data"), the
# options (netcore.NODELAY) and the core's defaults and limits: the native
# module sets them from the core's tables.
from netcore._netcore import *  # noqa: F403
from netcore._netcore import __all__ as _native_names, __version__ as __version__

__all__ = ["__version__", *_native_names, *_error_names]
