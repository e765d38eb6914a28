"""netcore's exception classes (re-exported by :mod:`netcore`; see ``netcore.Error``)."""

from __future__ import annotations

import builtins
import socket
import ssl


class Error(OSError):
    """Base class of every error netcore raises, or reports in an event's
    ``error``: an :class:`OSError`. Errors the operating system also knows are
    also instances of the matching builtin class (ConnectionRefusedError,
    TimeoutError, ...; InvalidArgumentError is a ValueError). Attributes:
    ``errno`` (the OS errno, or the negative netcore code), ``strerror``, ``name``
    and ``code`` (``"ECONNREFUSED"``), ``netcore_code``; the type stub has the
    details.
    """

    name: str = "EUNKNOWN"
    code: str = "EUNKNOWN"
    netcore_code: int = 0
    #: The codes (errno-style names) raised as this class.
    codes: tuple[str, ...] = ()


# Each class: (name, builtin base(s) or None, codes, what they mean). The stub
# _errors.pyi declares them for type checkers.
_CLASSES: list[tuple[str, type[Exception] | tuple[type[Exception], ...] | None, str, str]] = [
    ("InvalidArgumentError", ValueError, "EINVAL", "an argument is out of range or unparsable (also a ValueError)."),
    ("BlockingIOError", builtins.BlockingIOError, "EAGAIN", "the send queue is full; wait for the handle's "
     '"writable" event.'),
    ("BrokenPipeError", builtins.BrokenPipeError, "EPIPE", "our side is shut down, or the peer is gone."),
    ("ConnectionAbortedError", builtins.ConnectionAbortedError, "ECONNABORTED", "the connection was aborted."),
    ("ConnectionRefusedError", builtins.ConnectionRefusedError, "ECONNREFUSED", "nothing listens at the address."),
    ("ConnectionResetError", builtins.ConnectionResetError, "ECONNRESET", "the peer reset the connection."),
    ("TimeoutError", builtins.TimeoutError, "ETIMEDOUT", "the operation timed out."),
    ("InterruptedError", builtins.InterruptedError, "EINTR", "interrupted by a signal."),
    ("PermissionError", builtins.PermissionError, "EACCES EPERM", "not permitted (e.g. a privileged port)."),
    ("FileNotFoundError", builtins.FileNotFoundError, "ENOENT", "no such file or directory (a Unix socket's path)."),
    ("NotADirectoryError", builtins.NotADirectoryError, "ENOTDIR", "a Unix socket's path goes through a file that "
     "is not a directory."),
    ("AddressInUseError", None, "EADDRINUSE", "the address is already in use (errno.EADDRINUSE)."),
    ("AddressNotAvailableError", None, "EADDRNOTAVAIL", "the address does not belong to this machine."),
    ("HostUnreachableError", None, "EHOSTUNREACH", "no route to the host."),
    ("NetworkUnreachableError", None, "ENETUNREACH", "the network is unreachable."),
    ("NotConnectedError", None, "ENOTCONN", "the socket is not connected (yet)."),
    ("MessageTooLongError", None, "EMSGSIZE", "a frame or datagram is larger than allowed."),
    ("ResourceError", None, "EMFILE ENFILE ENOMEM ENOBUFS", "out of descriptors or memory."),
    ("BusyError", None, "EBUSY", "another thread is polling this loop."),
    ("BadHandleError", None, "EBADHANDLE", 'the handle is unknown, of another loop, or gone (from the poll after '
     'the one that delivered its "closed" event).'),
    ("DNSError", socket.gaierror, "EDNS", "the host name could not be resolved (also a socket.gaierror, as "
     "asyncio raises it)."),
    ("ClosedError", None, "ECLOSED", 'the handle is closing or closed and its "closed" event is not delivered '
     "yet (or the loop is closed)."),
    ("WrongKindError", None, "EWRONGKIND", "the handle is of the wrong kind for this operation."),
    ("InternalError", None, "EPANIC", "an internal bug was caught at the API boundary."),
    ("NotSupportedError", None, "EOPNOTSUPP", "not supported (e.g. TLS in a build without it)."),
    ("TLSError", ssl.SSLError, "ETLSALERT ETLSNOSHARED ETLSNOTTLS ETLSPROTOCOL", "the TLS handshake or session "
     "failed (also an ssl.SSLError)."),
    ("TLSCertificateError", ssl.SSLCertVerificationError, "ETLSUNKNOWNCA ETLSEXPIRED ETLSBADNAME ETLSBADCERT",
     "the peer's certificate was refused (also an ssl.SSLCertVerificationError)."),
    ("TLSEOFError", ssl.SSLEOFError, "ETLSTRUNCATED", "the peer closed without close_notify (also an "
     "ssl.SSLEOFError)."),
    ("TLSTimeoutError", (ssl.SSLError, builtins.TimeoutError), "ETLSTIMEDOUT", "the TLS handshake timed out (also "
     "an ssl.SSLError and a TimeoutError)."),
]

#: The class of each code that has one.
_BY_NAME: dict[str, type[Error]] = {}
for _name, _base, _codes, _doc in _CLASSES:
    _attrs = {"__doc__": f"{' / '.join(_codes.split())}: {_doc}", "__module__": __name__, "codes": tuple(_codes.split())}
    _bases = _base if isinstance(_base, tuple) else (_base,) if _base else ()
    globals()[_name] = _cls = type(_name, (Error, *_bases), _attrs)
    _BY_NAME.update(dict.fromkeys(_cls.codes, _cls))

__all__ = ["Error", "error_class", *(name for name, *_ in _CLASSES if not hasattr(builtins, name))]

def error_class(name: str) -> type[Error]:
    """The exception class for an errno-style name (``Error`` if none is specific)."""
    return _BY_NAME.get(name, Error)


def _make(code: int, name: str, message: str, errno: int, detail: str | None) -> Error:
    """Called by the native module: the exception for a netcore code, its
    message the core's, with the core's detail (which argument, what was
    expected) when it has one."""
    strerror = message if not detail else f"{message} ({detail})"
    exc = error_class(name)(errno, strerror)
    exc.name = exc.code = name
    exc.netcore_code = code
    return exc
