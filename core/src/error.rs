//! The error taxonomy shared by every surface (SPEC §3).
//!
//! Codes are negative integers. Errors that the operating system also knows
//! carry the negated Linux `errno` value (as libuv does), so `-code` is a valid
//! `errno` for them; codes that only netcore knows live below -3000.

use std::ffi::CStr;
use std::fmt;
use std::io;

/// A netcore error: one negative code from the shared taxonomy.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Error(i32);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $message:literal;)*) => {
        impl Error {
            $($(#[$doc])* pub const $name: Error = Error($value);)*

            /// The errno-style name, e.g. `"ECONNREFUSED"`, NUL-terminated
            /// for the C API.
            pub fn name_cstr(self) -> &'static CStr {
                let text: &'static str = match self {
                    $(Error::$name => concat!(stringify!($name), "\0"),)*
                    _ => "EUNKNOWN\0",
                };
                CStr::from_bytes_with_nul(text.as_bytes()).unwrap_or(c"EUNKNOWN")
            }

            /// A short human-readable description, NUL-terminated for the C API.
            pub fn message_cstr(self) -> &'static CStr {
                let text: &'static str = match self {
                    $(Error::$name => concat!($message, "\0"),)*
                    _ => "unknown error\0",
                };
                CStr::from_bytes_with_nul(text.as_bytes()).unwrap_or(c"unknown error")
            }

            /// Every code this library defines, for tables in tests and bindings.
            pub const ALL: &'static [Error] = &[$(Error::$name),*];
        }
    };
}

codes! {
    /// Operation not permitted.
    EPERM = -libc::EPERM, "operation not permitted";
    /// Interrupted by a signal.
    EINTR = -libc::EINTR, "interrupted by a signal";
    /// Out of memory or a resource limit.
    ENOMEM = -libc::ENOMEM, "out of memory";
    /// Permission denied.
    EACCES = -libc::EACCES, "permission denied";
    /// Busy: another thread is already polling this loop.
    EBUSY = -libc::EBUSY, "resource busy (the loop is being polled by another caller)";
    /// An argument is invalid (null pointer, out-of-range value, unparsable address).
    EINVAL = -libc::EINVAL, "invalid argument";
    /// The system-wide file table is full.
    ENFILE = -libc::ENFILE, "file table overflow";
    /// The process is out of file descriptors.
    EMFILE = -libc::EMFILE, "too many open files";
    /// Would block: the send queue is above its high-water mark, or the kernel refused a datagram.
    EAGAIN = -libc::EAGAIN, "resource temporarily unavailable (queue full)";
    /// Broken pipe: the peer is gone or our side is shut down.
    EPIPE = -libc::EPIPE, "broken pipe";
    /// A message or frame is larger than allowed.
    EMSGSIZE = -libc::EMSGSIZE, "message too long";
    /// Address family not supported.
    EAFNOSUPPORT = -libc::EAFNOSUPPORT, "address family not supported";
    /// The address is already in use.
    EADDRINUSE = -libc::EADDRINUSE, "address already in use";
    /// The address is not available on this machine.
    EADDRNOTAVAIL = -libc::EADDRNOTAVAIL, "address not available";
    /// The network is unreachable.
    ENETUNREACH = -libc::ENETUNREACH, "network is unreachable";
    /// The connection was aborted.
    ECONNABORTED = -libc::ECONNABORTED, "connection aborted";
    /// The connection was reset by the peer.
    ECONNRESET = -libc::ECONNRESET, "connection reset by peer";
    /// No buffer space available.
    ENOBUFS = -libc::ENOBUFS, "no buffer space available";
    /// The socket is not connected.
    ENOTCONN = -libc::ENOTCONN, "socket is not connected";
    /// The operation timed out.
    ETIMEDOUT = -libc::ETIMEDOUT, "connection timed out";
    /// The peer refused the connection.
    ECONNREFUSED = -libc::ECONNREFUSED, "connection refused";
    /// The host is unreachable.
    EHOSTUNREACH = -libc::EHOSTUNREACH, "host is unreachable";
    /// The handle is unknown, closed or stale (from a previous use of its slot).
    EBADHANDLE = -3001, "bad handle (unknown, closed or stale)";
    /// Name resolution failed.
    EDNS = -3002, "name resolution failed";
    /// The handle is closing: no more operations are accepted on it.
    ECLOSED = -3003, "handle is closing";
    /// The handle is of the wrong kind for this operation (e.g. send on a listener).
    EWRONGKIND = -3004, "wrong kind of handle for this operation";
    /// An internal bug was caught at the API boundary.
    EPANIC = -3005, "internal error (a panic was caught at the API boundary)";
}

impl Error {
    /// The errno-style name, e.g. `"ECONNREFUSED"`.
    pub fn name(self) -> &'static str {
        self.name_cstr().to_str().unwrap_or("EUNKNOWN")
    }

    /// A short human-readable description.
    pub fn message(self) -> &'static str {
        self.message_cstr().to_str().unwrap_or("unknown error")
    }

    /// The negative code.
    pub fn code(self) -> i32 {
        self.0
    }

    /// The error for a code, if the code is negative (any negative code is kept
    /// as is, so unknown OS errors survive the round trip).
    pub fn from_code(code: i32) -> Option<Error> {
        (code < 0).then_some(Error(code))
    }

    /// The `errno` value for errors the operating system also knows, `None`
    /// for netcore-only codes.
    pub fn errno(self) -> Option<i32> {
        (self.0 > -3000).then_some(-self.0)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.raw_os_error() {
            // A UDP send without a destination: "not connected" in netcore's terms.
            Some(libc::EDESTADDRREQ) => Error::ENOTCONN,
            Some(errno) if errno > 0 => Error(-errno),
            _ => match e.kind() {
                io::ErrorKind::WouldBlock => Error::EAGAIN,
                io::ErrorKind::InvalidInput => Error::EINVAL,
                io::ErrorKind::OutOfMemory => Error::ENOMEM,
                io::ErrorKind::TimedOut => Error::ETIMEDOUT,
                _ => Error::EINVAL,
            },
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.message())
    }
}

impl std::error::Error for Error {}

/// Result type of every fallible core operation.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for &e in Error::ALL {
            assert!(e.code() < 0);
            assert_eq!(Error::from_code(e.code()), Some(e));
            assert!(e.name().starts_with('E'));
            assert_ne!(e.message(), "unknown error");
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error(-9999).name(), "EUNKNOWN");
    }

    #[test]
    fn io_errors_map_to_errno_codes() {
        let e: Error = io::Error::from_raw_os_error(libc::ECONNREFUSED).into();
        assert_eq!(e, Error::ECONNREFUSED);
        assert_eq!(e.errno(), Some(libc::ECONNREFUSED));
        assert_eq!(Error::EDNS.errno(), None);
    }
}
