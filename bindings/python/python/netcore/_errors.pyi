"""Type stubs for netcore._errors, which builds its classes from a table."""

import builtins
from socket import gaierror
from ssl import SSLCertVerificationError, SSLEOFError, SSLError

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
    "NotSupportedError",
    "TLSError",
    "TLSCertificateError",
    "TLSEOFError",
    "TLSTimeoutError",
]

class Error(OSError):
    """Base class of every error netcore raises, or reports in an event's
    ``error``: an :class:`OSError`. Errors the operating system also knows are
    *also* instances of the matching builtin class, so code written for
    :mod:`socket` or :mod:`asyncio` catches them as usual::

        netcore.ConnectionRefusedError  -> builtins.ConnectionRefusedError
        netcore.ConnectionResetError    -> builtins.ConnectionResetError
        netcore.TimeoutError            -> builtins.TimeoutError
        netcore.BrokenPipeError         -> builtins.BrokenPipeError
        netcore.BlockingIOError         -> builtins.BlockingIOError  (EAGAIN)
        netcore.InvalidArgumentError    -> builtins.ValueError        (EINVAL)

    The classes named like a builtin are attributes of :mod:`netcore` but not in
    its ``__all__``: ``from netcore import *`` never shadows a builtin. A code
    without a class of its own (see ``error_class``) is raised as ``Error``.
    Wrong argument types raise ``TypeError``; a value the core refuses raises
    ``InvalidArgumentError`` naming the argument and what it must be (``port:
    expected 0 to 65535``).

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

    name: str
    code: str
    netcore_code: int
    codes: tuple[str, ...]

class InvalidArgumentError(Error, ValueError): ...
class BlockingIOError(Error, builtins.BlockingIOError): ...
class BrokenPipeError(Error, builtins.BrokenPipeError): ...
class ConnectionAbortedError(Error, builtins.ConnectionAbortedError): ...
class ConnectionRefusedError(Error, builtins.ConnectionRefusedError): ...
class ConnectionResetError(Error, builtins.ConnectionResetError): ...
class TimeoutError(Error, builtins.TimeoutError): ...
class InterruptedError(Error, builtins.InterruptedError): ...
class PermissionError(Error, builtins.PermissionError): ...
class FileNotFoundError(Error, builtins.FileNotFoundError): ...
class NotADirectoryError(Error, builtins.NotADirectoryError): ...
class AddressInUseError(Error): ...
class AddressNotAvailableError(Error): ...
class HostUnreachableError(Error): ...
class NetworkUnreachableError(Error): ...
class NotConnectedError(Error): ...
class MessageTooLongError(Error): ...
class ResourceError(Error): ...
class BusyError(Error): ...
class BadHandleError(Error): ...
class DNSError(Error, gaierror): ...
class ClosedError(Error): ...
class WrongKindError(Error): ...
class InternalError(Error): ...
class NotSupportedError(Error): ...
# The TLS classes carry the failure record of an event's TLS error: the
# alert the peer sent (or None), library "rustls", reason its words.
class TLSError(Error, SSLError):
    alert: int | None
class TLSCertificateError(Error, SSLCertVerificationError):
    alert: int | None
class TLSEOFError(Error, SSLEOFError):
    alert: int | None
class TLSTimeoutError(Error, SSLError, builtins.TimeoutError):
    alert: int | None

def error_class(name: str) -> type[Error]: ...
def _make(code: int, name: str, message: str, errno: int, detail: str | None) -> Error: ...
