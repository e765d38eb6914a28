"""netcore's exception classes (re-exported by :mod:`netcore`).

Every error netcore raises, or reports in an event's ``error`` attribute, is a
:class:`netcore.Error`, itself an :class:`OSError`. Errors the operating system
also knows are *also* instances of the matching builtin class, so code written
for :mod:`socket` or :mod:`asyncio` catches them as usual::

    netcore.ConnectionRefusedError  -> builtins.ConnectionRefusedError
    netcore.ConnectionResetError    -> builtins.ConnectionResetError
    netcore.TimeoutError            -> builtins.TimeoutError
    netcore.BrokenPipeError         -> builtins.BrokenPipeError
    netcore.BlockingIOError         -> builtins.BlockingIOError  (EAGAIN)
    netcore.InvalidArgumentError    -> builtins.ValueError        (EINVAL)

Attributes of every instance:

``errno``
    the OS ``errno`` (e.g. ``errno.ECONNREFUSED``) for codes the OS knows; the
    negative netcore code (e.g. -3001) for netcore-only codes.
``strerror``
    a short description, plus what was wrong when netcore knows it.
``name`` / ``code``
    the errno-style name, e.g. ``"ECONNREFUSED"`` or ``"EBADHANDLE"``
    (``code`` mirrors Node's ``err.code``).
``netcore_code``
    the negative netcore code shared with the C API (``-errno`` for OS codes).
"""

from __future__ import annotations

import builtins

from netcore._netcore import ERROR_CODES

# The classes named like builtins (TimeoutError, ...) are left out, so that
# a star import never shadows the builtins.
__all__ = [
    "Error",
    "error_class",
    "InvalidArgumentError",
    "AddressInUseError",
    "AddressNotAvailableError",
    "HostUnreachableError",
    "NetworkUnreachableError",
    "NotConnectedError",
    "MessageTooLongError",
    "ResourceError",
    "BusyError",
    "BadHandleError",
    "DNSError",
    "ClosedError",
    "WrongKindError",
    "InternalError",
]

#: The class of each code that has one, filled in as the classes are defined.
_BY_NAME: dict[str, type[Error]] = {}


class Error(OSError):
    """Base class of every netcore error (an :class:`OSError`)."""

    #: The errno-style name, e.g. ``"ECONNREFUSED"``.
    name: str = "EUNKNOWN"
    #: Same as :attr:`name` (Node-style ``err.code``).
    code: str = "EUNKNOWN"
    #: The negative netcore code shared with the C API.
    netcore_code: int = 0
    #: The codes (errno-style names) raised as this class.
    codes: tuple[str, ...] = ()

    def __init_subclass__(cls, codes: tuple[str, ...] = (), **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.codes = codes
        _BY_NAME.update(dict.fromkeys(codes, cls))


class InvalidArgumentError(Error, ValueError, codes=("EINVAL",)):
    """EINVAL: an argument is out of range or unparsable (also a ValueError)."""


class BlockingIOError(Error, builtins.BlockingIOError, codes=("EAGAIN",)):
    """EAGAIN: the send queue is full; wait for the handle's "writable" event."""


class BrokenPipeError(Error, builtins.BrokenPipeError, codes=("EPIPE",)):
    """EPIPE: our side is shut down, or the peer is gone."""


class ConnectionAbortedError(Error, builtins.ConnectionAbortedError, codes=("ECONNABORTED",)):
    """ECONNABORTED: the connection was aborted."""


class ConnectionRefusedError(Error, builtins.ConnectionRefusedError, codes=("ECONNREFUSED",)):
    """ECONNREFUSED: nothing listens at the address."""


class ConnectionResetError(Error, builtins.ConnectionResetError, codes=("ECONNRESET",)):
    """ECONNRESET: the peer reset the connection."""


class TimeoutError(Error, builtins.TimeoutError, codes=("ETIMEDOUT",)):
    """ETIMEDOUT: the operation timed out."""


class InterruptedError(Error, builtins.InterruptedError, codes=("EINTR",)):
    """EINTR: interrupted by a signal."""


class PermissionError(Error, builtins.PermissionError, codes=("EACCES", "EPERM")):
    """EACCES / EPERM: not permitted (e.g. a privileged port)."""


class AddressInUseError(Error, codes=("EADDRINUSE",)):
    """EADDRINUSE: the address is already in use (errno.EADDRINUSE)."""


class AddressNotAvailableError(Error, codes=("EADDRNOTAVAIL",)):
    """EADDRNOTAVAIL: the address does not belong to this machine."""


class HostUnreachableError(Error, codes=("EHOSTUNREACH",)):
    """EHOSTUNREACH: no route to the host."""


class NetworkUnreachableError(Error, codes=("ENETUNREACH",)):
    """ENETUNREACH: the network is unreachable."""


class NotConnectedError(Error, codes=("ENOTCONN",)):
    """ENOTCONN: the socket is not connected (yet)."""


class MessageTooLongError(Error, codes=("EMSGSIZE",)):
    """EMSGSIZE: a frame or datagram is larger than allowed."""


class ResourceError(Error, codes=("EMFILE", "ENFILE", "ENOMEM", "ENOBUFS")):
    """EMFILE / ENFILE / ENOMEM / ENOBUFS: out of descriptors or memory."""


class BusyError(Error, codes=("EBUSY",)):
    """EBUSY: another thread is polling this loop."""


class BadHandleError(Error, codes=("EBADHANDLE",)):
    """EBADHANDLE: the handle is unknown, of another loop, or gone (from the
    poll after the one that delivered its "closed" event)."""


class DNSError(Error, codes=("EDNS",)):
    """EDNS: the host name could not be resolved."""


class ClosedError(Error, codes=("ECLOSED",)):
    """ECLOSED: the handle is closing or closed and its "closed" event is not
    delivered yet (or the loop is closed)."""


class WrongKindError(Error, codes=("EWRONGKIND",)):
    """EWRONGKIND: the handle is of the wrong kind for this operation."""


class InternalError(Error, codes=("EPANIC",)):
    """EPANIC: an internal bug was caught at the API boundary."""


# A code the core does not define (a class that drifted from the core) fails the import.
_UNKNOWN = _BY_NAME.keys() - {name for _, name, _ in ERROR_CODES}
if _UNKNOWN:
    raise ImportError(f"netcore: error classes for unknown codes {sorted(_UNKNOWN)}")


def error_class(name: str) -> type[Error]:
    """The exception class for an errno-style name (``Error`` if none is specific)."""
    return _BY_NAME.get(name, Error)


def _make(code: int, name: str, message: str, errno: int, detail: str | None) -> Error:
    """Called by the native module: the exception for a netcore code, its
    message the core's, with the core's detail (which argument, what was
    expected) when it has one."""
    strerror = message if not detail else f"{message} ({detail})"
    exc = error_class(name)(errno, strerror)
    exc.name = name
    exc.code = name
    exc.netcore_code = code
    return exc
