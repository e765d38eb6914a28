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


class InvalidArgumentError(Error, ValueError):
    """EINVAL: an argument is out of range or unparsable (also a ValueError)."""

    codes = ("EINVAL",)


class BlockingIOError(Error, builtins.BlockingIOError):
    """EAGAIN: the send queue is full; wait for the handle's "writable" event."""

    codes = ("EAGAIN",)


class BrokenPipeError(Error, builtins.BrokenPipeError):
    """EPIPE: our side is shut down, or the peer is gone."""

    codes = ("EPIPE",)


class ConnectionAbortedError(Error, builtins.ConnectionAbortedError):
    """ECONNABORTED: the connection was aborted."""

    codes = ("ECONNABORTED",)


class ConnectionRefusedError(Error, builtins.ConnectionRefusedError):
    """ECONNREFUSED: nothing listens at the address."""

    codes = ("ECONNREFUSED",)


class ConnectionResetError(Error, builtins.ConnectionResetError):
    """ECONNRESET: the peer reset the connection."""

    codes = ("ECONNRESET",)


class TimeoutError(Error, builtins.TimeoutError):
    """ETIMEDOUT: the operation timed out."""

    codes = ("ETIMEDOUT",)


class InterruptedError(Error, builtins.InterruptedError):
    """EINTR: interrupted by a signal."""

    codes = ("EINTR",)


class PermissionError(Error, builtins.PermissionError):
    """EACCES / EPERM: not permitted (e.g. a privileged port)."""

    codes = ("EACCES", "EPERM")


class AddressInUseError(Error):
    """EADDRINUSE: the address is already in use (errno.EADDRINUSE)."""

    codes = ("EADDRINUSE",)


class AddressNotAvailableError(Error):
    """EADDRNOTAVAIL: the address does not belong to this machine."""

    codes = ("EADDRNOTAVAIL",)


class HostUnreachableError(Error):
    """EHOSTUNREACH: no route to the host."""

    codes = ("EHOSTUNREACH",)


class NetworkUnreachableError(Error):
    """ENETUNREACH: the network is unreachable."""

    codes = ("ENETUNREACH",)


class NotConnectedError(Error):
    """ENOTCONN: the socket is not connected (yet)."""

    codes = ("ENOTCONN",)


class MessageTooLongError(Error):
    """EMSGSIZE: a frame or datagram is larger than allowed."""

    codes = ("EMSGSIZE",)


class ResourceError(Error):
    """EMFILE / ENFILE / ENOMEM / ENOBUFS: out of descriptors or memory."""

    codes = ("EMFILE", "ENFILE", "ENOMEM", "ENOBUFS")


class BusyError(Error):
    """EBUSY: another thread is polling this loop."""

    codes = ("EBUSY",)


class BadHandleError(Error):
    """EBADHANDLE: the handle is unknown, of another loop, or gone (from the
    poll after the one that delivered its "closed" event)."""

    codes = ("EBADHANDLE",)


class DNSError(Error):
    """EDNS: the host name could not be resolved."""

    codes = ("EDNS",)


class ClosedError(Error):
    """ECLOSED: the handle is closing or closed and its "closed" event is not
    delivered yet (or the loop is closed)."""

    codes = ("ECLOSED",)


class WrongKindError(Error):
    """EWRONGKIND: the handle is of the wrong kind for this operation."""

    codes = ("EWRONGKIND",)


class InternalError(Error):
    """EPANIC: an internal bug was caught at the API boundary."""

    codes = ("EPANIC",)


def _by_name() -> dict[str, type[Error]]:
    """Each code's class, from the classes' ``codes``; a code the core does
    not define (a class that drifted from the core) fails the import."""
    from netcore._netcore import ERROR_CODES

    known = {name for _, name, _ in ERROR_CODES}
    table = {name: cls for cls in Error.__subclasses__() for name in cls.codes}
    if not table.keys() <= known:
        raise ImportError(f"netcore: error classes for unknown codes {sorted(table.keys() - known)}")
    return table


_BY_NAME = _by_name()


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
