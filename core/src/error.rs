//! The error taxonomy shared by every surface (docs/design.md, "Errors").
//!
//! Codes are negative integers. Errors that the operating system also knows
//! carry the negated Linux `errno` value (as libuv does), so `-code` is a valid
//! `errno` for them; codes that only netcore knows live below -3000.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::sync::OnceLock;

/// A netcore error: one negative code from the shared taxonomy, and for a
/// refused argument (`EINVAL`) the detail of which one and what was
/// expected. Errors compare and hash by code alone.
///
/// One machine word, so that results and events stay as small as a bare
/// code keeps them (the echo path returns and stores errors everywhere): an
/// odd word is a code (`-code << 1 | 1`); an even word is the address of a
/// `'static` [`Detail`] (aligned, so even), and the error is `EINVAL`.
#[derive(Copy, Clone)]
pub struct Error(NonZeroUsize);

/// What was wrong with an argument: its name (as the C API, Python and Node
/// all spell it) and what it must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detail {
    /// The argument or option, e.g. `"port"`.
    pub argument: &'static str,
    /// What it must be, e.g. `"0 to 65535"`.
    pub expected: &'static str,
}

/// `argument: expected ...`, as every surface shows it (`port: expected 0 to 65535`).
impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: expected {}", self.argument, self.expected)
    }
}

/// `EINVAL` with a static [`Detail`]: `invalid!("port", "0 to 65535")`.
/// Exported so that the C layer and the bindings refuse their own
/// arguments (a pointer, a buffer) in the same words and the same shape.
#[macro_export]
macro_rules! invalid {
    ($argument:expr, $expected:expr) => {{
        static DETAIL: $crate::Detail = $crate::Detail { argument: $argument, expected: $expected };
        $crate::Error::invalid(&DETAIL)
    }};
}
pub(crate) use invalid;

impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        self.code() == other.code()
    }
}

impl Eq for Error {}

impl std::hash::Hash for Error {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.code().hash(state);
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $message:literal;)*) => {
        impl Error {
            $($(#[$doc])* pub const $name: Error = Error::raw($value);)*

            /// The errno-style name, e.g. `"ECONNREFUSED"` (any Linux
            /// errno value has its name), NUL-terminated for the C API.
            pub fn name_cstr(self) -> &'static CStr {
                let text: &'static str = match self.code() {
                    $(code if code == $value => concat!(stringify!($name), "\0"),)*
                    _ => os_errno(self.code()).map_or("EUNKNOWN\0", |(_, name)| name),
                };
                CStr::from_bytes_with_nul(text.as_bytes()).unwrap_or(c"EUNKNOWN")
            }

            /// A short human-readable description (the C library's for a
            /// Linux errno value outside the taxonomy), NUL-terminated for
            /// the C API.
            pub fn message_cstr(self) -> &'static CStr {
                let text: &'static str = match self.code() {
                    $(code if code == $value => concat!($message, "\0"),)*
                    _ => return os_message(self.code()).unwrap_or(c"unknown error"),
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
    /// Not supported: e.g. a TLS operation in a build without TLS.
    EOPNOTSUPP = -libc::EOPNOTSUPP, "operation not supported (e.g. TLS in a build without it)";
    /// TLS: the peer's certificate is not issued by a trusted authority.
    ETLSUNKNOWNCA = -3101, "TLS: the peer's certificate is not issued by a trusted authority";
    /// TLS: the peer's certificate has expired or is not valid yet.
    ETLSEXPIRED = -3102, "TLS: the peer's certificate has expired or is not valid yet";
    /// TLS: the peer's certificate is not valid for the server name asked for.
    ETLSBADNAME = -3103, "TLS: the peer's certificate is not valid for the name asked for";
    /// TLS: another certificate problem (bad signature or encoding, revoked,
    /// wrong usage, unsupported, or none when one is required).
    ETLSBADCERT = -3104, "TLS: the peer's certificate is unacceptable";
    /// TLS: the peer sent a fatal alert (its number is in the connection's
    /// TLS failure record).
    ETLSALERT = -3105, "TLS: the peer sent a fatal alert";
    /// TLS: no protocol version, cipher suite, key exchange group or ALPN
    /// protocol in common with the peer.
    ETLSNOSHARED = -3106, "TLS: no version, cipher suite or ALPN protocol in common with the peer";
    /// TLS: the peer does not speak TLS (e.g. plaintext to a TLS port).
    ETLSNOTTLS = -3107, "TLS: the peer does not speak TLS";
    /// TLS: the peer closed the connection without close_notify (the
    /// handshake or the data may be cut short).
    ETLSTRUNCATED = -3108, "TLS: the peer closed without close_notify (truncated)";
    /// TLS: the handshake did not finish within its timeout.
    ETLSTIMEDOUT = -3109, "TLS: the handshake timed out";
    /// TLS: the peer broke the protocol (a record that does not decrypt, an
    /// unexpected or malformed message).
    ETLSPROTOCOL = -3110, "TLS: protocol error (bad record or unexpected message)";
}

/// Lists Linux errno constants by their libc names, as (value, "NAME\0").
macro_rules! os_errnos {
    ($($name:ident),* $(,)?) => {
        &[$((libc::$name, concat!(stringify!($name), "\0"))),*]
    };
}

/// Every Linux errno value outside the taxonomy above (aliases such as
/// EWOULDBLOCK left out). The library passes OS errors through as negated
/// errno values (raw socket options return whatever the kernel says), so
/// each of them needs a name and a description too.
const OS_ERRNOS: &[(i32, &str)] = os_errnos![
    ENOENT,
    ESRCH,
    EIO,
    ENXIO,
    E2BIG,
    ENOEXEC,
    EBADF,
    ECHILD,
    EFAULT,
    ENOTBLK,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    ENOTTY,
    ETXTBSY,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    EDOM,
    ERANGE,
    EDEADLK,
    ENAMETOOLONG,
    ENOLCK,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    ENOMSG,
    EIDRM,
    ECHRNG,
    EL2NSYNC,
    EL3HLT,
    EL3RST,
    ELNRNG,
    EUNATCH,
    ENOCSI,
    EL2HLT,
    EBADE,
    EBADR,
    EXFULL,
    ENOANO,
    EBADRQC,
    EBADSLT,
    EBFONT,
    ENOSTR,
    ENODATA,
    ETIME,
    ENOSR,
    ENONET,
    ENOPKG,
    EREMOTE,
    ENOLINK,
    EADV,
    ESRMNT,
    ECOMM,
    EPROTO,
    EMULTIHOP,
    EDOTDOT,
    EBADMSG,
    EOVERFLOW,
    ENOTUNIQ,
    EBADFD,
    EREMCHG,
    ELIBACC,
    ELIBBAD,
    ELIBSCN,
    ELIBMAX,
    ELIBEXEC,
    EILSEQ,
    ERESTART,
    ESTRPIPE,
    EUSERS,
    ENOTSOCK,
    EDESTADDRREQ,
    EPROTOTYPE,
    ENOPROTOOPT,
    EPROTONOSUPPORT,
    ESOCKTNOSUPPORT,
    EPFNOSUPPORT,
    ENETDOWN,
    ENETRESET,
    EISCONN,
    ESHUTDOWN,
    ETOOMANYREFS,
    EHOSTDOWN,
    EALREADY,
    EINPROGRESS,
    ESTALE,
    EUCLEAN,
    ENOTNAM,
    ENAVAIL,
    EISNAM,
    EREMOTEIO,
    EDQUOT,
    ENOMEDIUM,
    EMEDIUMTYPE,
    ECANCELED,
    ENOKEY,
    EKEYEXPIRED,
    EKEYREVOKED,
    EKEYREJECTED,
    EOWNERDEAD,
    ENOTRECOVERABLE,
    ERFKILL,
    EHWPOISON,
];

/// The [`OS_ERRNOS`] entry of a (negative) code.
fn os_errno(code: i32) -> Option<(i32, &'static str)> {
    OS_ERRNOS.iter().copied().find(|&(errno, _)| -errno == code)
}

/// The C library's description of an [`OS_ERRNOS`] code, made once for all
/// of them (strerror_r is thread-safe; the strings then live as long as the
/// process), its first letter lowercased like the taxonomy's messages.
fn os_message(code: i32) -> Option<&'static CStr> {
    static MESSAGES: OnceLock<Vec<(i32, CString)>> = OnceLock::new();
    let messages = MESSAGES.get_or_init(|| {
        OS_ERRNOS
            .iter()
            .map(|&(errno, _)| {
                let mut buf = [0 as libc::c_char; 256];
                // SAFETY: `buf` is writable for its length; the XSI
                // strerror_r NUL-terminates it when it returns 0.
                let ok = unsafe { libc::strerror_r(errno, buf.as_mut_ptr(), buf.len()) } == 0;
                // SAFETY: NUL-terminated (above), or untouched zeros.
                let mut text =
                    if ok { unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes().to_vec() } else { Vec::new() };
                if text.get(1).is_some_and(u8::is_ascii_lowercase) {
                    text[0] = text[0].to_ascii_lowercase();
                }
                (-errno, CString::new(text).unwrap_or_default())
            })
            .collect()
    });
    messages.iter().find(|(c, text)| *c == code && !text.is_empty()).map(|(_, text)| text.as_c_str())
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

    /// The error of a (negative) code.
    const fn raw(code: i32) -> Error {
        let word = ((-(code as i64)) as usize) << 1 | 1;
        match NonZeroUsize::new(word) {
            Some(word) => Error(word),
            None => panic!("an odd word is never zero"),
        }
    }

    /// The negative code.
    #[inline]
    pub fn code(self) -> i32 {
        match self.detail() {
            Some(_) => -libc::EINVAL,
            None => -((self.0.get() >> 1) as i64) as i32,
        }
    }

    /// Which argument was refused and what it must be, when known.
    #[inline]
    pub fn detail(self) -> Option<&'static Detail> {
        let word = self.0.get();
        if word & 1 == 1 {
            return None;
        }
        // SAFETY: an even word is only ever made by `Error::invalid` from a
        // `&'static Detail`, whose provenance it exposed.
        Some(unsafe { &*std::ptr::with_exposed_provenance::<Detail>(word) })
    }

    /// `EINVAL` with `detail`: which argument was refused, and why.
    pub fn invalid(detail: &'static Detail) -> Error {
        let word = (detail as *const Detail).expose_provenance();
        debug_assert!(word & 1 == 0, "a Detail is aligned");
        match NonZeroUsize::new(word) {
            Some(word) => Error(word),
            None => Error::EINVAL,
        }
    }

    /// The error for a code, if the code is negative (any negative code is kept
    /// as is, so unknown OS errors survive the round trip).
    pub fn from_code(code: i32) -> Option<Error> {
        (code < 0).then_some(Error::raw(code))
    }

    /// The `errno` value for errors the operating system also knows, `None`
    /// for netcore-only codes.
    pub fn errno(self) -> Option<i32> {
        let code = self.code();
        (code > -3000).then_some(-code)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.raw_os_error() {
            // A UDP send without a destination: "not connected" in netcore's terms.
            Some(libc::EDESTADDRREQ) => Error::ENOTCONN,
            Some(errno) if errno > 0 => Error::raw(-errno),
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
        write!(f, "{}({})", self.name(), self.code())?;
        match self.detail() {
            Some(d) => write!(f, "[{}: {}]", d.argument, d.expected),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.message())?;
        match self.detail() {
            Some(d) => write!(f, " ({d})"),
            None => Ok(()),
        }
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
        assert_eq!(Error::raw(-9999).name(), "EUNKNOWN");
    }

    #[test]
    fn every_linux_errno_has_a_name_and_a_description() {
        // Linux numbers errno values 1..=133, leaving 41 and 58 unused.
        for errno in (1..=libc::EHWPOISON).filter(|e| ![41, 58].contains(e)) {
            let e = Error::raw(-errno);
            assert_ne!(e.name(), "EUNKNOWN", "errno {errno}");
            assert_ne!(e.message(), "unknown error", "errno {errno} ({})", e.name());
            assert_eq!(e.errno(), Some(errno));
        }
        assert_eq!(Error::raw(-libc::ENOPROTOOPT).name(), "ENOPROTOOPT");
        assert_eq!(Error::raw(-libc::ENOPROTOOPT).message(), "protocol not available");
        // each value once, none of them a taxonomy code
        for (i, &(errno, _)) in OS_ERRNOS.iter().enumerate() {
            assert!(OS_ERRNOS[..i].iter().all(|&(other, _)| other != errno), "errno {errno} twice");
            assert!(Error::ALL.iter().all(|e| e.errno() != Some(errno)), "errno {errno} in the taxonomy");
        }
        for unused in [0, 41, 58, 134, 2999, 9999] {
            assert_eq!(Error::raw(-unused).name(), "EUNKNOWN");
            assert_eq!(Error::raw(-unused).message(), "unknown error");
        }
    }

    #[test]
    fn an_error_is_one_word_and_an_optional_one_too() {
        use std::mem::size_of;
        assert_eq!(size_of::<Error>(), size_of::<usize>());
        assert_eq!(size_of::<Option<Error>>(), size_of::<usize>());
        assert_eq!(size_of::<std::result::Result<(), Error>>(), size_of::<usize>());
        for code in [-1, -libc::EINVAL, -3005, i32::MIN, -9999] {
            assert_eq!(Error::raw(code).code(), code);
            assert_eq!(Error::raw(code).detail(), None);
        }
    }

    #[test]
    fn a_detail_names_the_argument_and_leaves_the_code_alone() {
        let e = invalid!("port", "0 to 65535");
        assert_eq!(e, Error::EINVAL);
        assert_eq!(e.detail(), Some(&Detail { argument: "port", expected: "0 to 65535" }));
        assert_eq!(e.to_string(), "EINVAL: invalid argument (port: expected 0 to 65535)");
        assert_eq!(Error::EINVAL.detail(), None);
    }

    #[test]
    fn io_errors_map_to_errno_codes() {
        let e: Error = io::Error::from_raw_os_error(libc::ECONNREFUSED).into();
        assert_eq!(e, Error::ECONNREFUSED);
        assert_eq!(e.errno(), Some(libc::ECONNREFUSED));
        assert_eq!(Error::EDNS.errno(), None);
    }
}
