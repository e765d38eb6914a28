//! Unix domain socket vocabulary: how a path is written (a filesystem path,
//! or `@name` for Linux's abstract namespace), the socket file a listener
//! or datagram socket created and removes again, peer credentials, and the
//! checks that tell which socket an adopted descriptor is.

use std::os::fd::{BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, SockRef, Type};

use crate::error::{invalid, Error, Result};
use crate::sys;

/// Most bytes of a Unix socket path (`sun_path` is 108 bytes: a filesystem
/// path needs its NUL; an abstract name is counted without its `@`).
pub const MAX_UNIX_PATH: usize = 107;

/// Parses a path as every surface writes it: `@name` is `name` in Linux's
/// abstract namespace (no file; gone with the last socket bound to it),
/// anything else a filesystem path. 1 to [`MAX_UNIX_PATH`] bytes (the `@`
/// not counted), no NUL.
pub fn sockaddr(path: &str) -> Result<SockAddr> {
    const _: () = assert!(MAX_UNIX_PATH == 107, "the detail below says 107");
    let refused =
        || invalid!("path", "a filesystem path of 1 to 107 bytes, or @name (abstract, 1 to 107 bytes), no NUL");
    let name = path.strip_prefix('@');
    let bytes = name.unwrap_or(path).as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_UNIX_PATH || bytes.contains(&0) {
        return Err(refused());
    }
    let raw: Vec<u8> = match name {
        // socket2 takes a leading NUL as the abstract namespace.
        Some(name) => [&[0u8][..], name.as_bytes()].concat(),
        None => bytes.to_vec(),
    };
    SockAddr::unix(std::ffi::OsStr::from_bytes(&raw)).map_err(|_| refused())
}

/// A Unix address written as [`sockaddr`] reads it: `None` for an unnamed
/// socket (or one that is not Unix). A path that is not UTF-8 is written
/// with replacement characters.
pub fn text(addr: &SockAddr) -> Option<String> {
    if let Some(path) = addr.as_pathname() {
        return Some(path.to_string_lossy().into_owned());
    }
    addr.as_abstract_namespace().map(|name| format!("@{}", String::from_utf8_lossy(name)))
}

/// The socket file a listener or datagram socket created by binding a
/// path, removed when the socket closes — unless it is no longer the file
/// we created (another socket was bound there since).
pub(crate) struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    /// The file `addr` names, if it is a filesystem path (just bound).
    pub fn created(addr: &SockAddr) -> Option<SocketFile> {
        let path = addr.as_pathname()?;
        let meta = std::fs::symlink_metadata(path).ok()?;
        Some(SocketFile { path: path.to_owned(), id: (meta.dev(), meta.ino()) })
    }

    fn is_ours(path: &Path, id: (u64, u64)) -> bool {
        std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == id)
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if Self::is_ours(&self.path, self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds a non-blocking Unix socket of `ty` on `path` (see [`sockaddr`]),
/// returning the socket file to remove when it closes.
pub(crate) fn bound(path: &str, ty: Type) -> Result<(socket2::Socket, Option<SocketFile>)> {
    let addr = sockaddr(path)?;
    let sock = socket2::Socket::new(Domain::UNIX, ty, None)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr)?;
    Ok((sock, SocketFile::created(&addr)))
}

/// The process, user and group of a Unix socket's peer (`SO_PEERCRED`):
/// those of the process that connected (or listened), as of then.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Reads `SO_PEERCRED`.
pub(crate) fn peer_credentials(fd: RawFd) -> Result<PeerCredentials> {
    let mut raw = [0u8; std::mem::size_of::<libc::ucred>()];
    let len = sys::getsockopt(fd, libc::SOL_SOCKET, libc::SO_PEERCRED, &mut raw)?;
    if len != raw.len() {
        return Err(Error::EOPNOTSUPP);
    }
    // SAFETY: `raw` holds a whole ucred the kernel wrote; read unaligned.
    let cred: libc::ucred = unsafe { std::ptr::read_unaligned(raw.as_ptr() as *const libc::ucred) };
    Ok(PeerCredentials { pid: cred.pid, uid: cred.uid, gid: cred.gid })
}

/// What an adopted descriptor must be.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// A listening stream socket.
    Listener,
    /// A stream socket that is not listening.
    Connection,
    /// A datagram socket.
    Datagram,
}

/// Checks that `fd` is an open socket of the kind wanted and of a family
/// netcore runs (IPv4, IPv6, Unix); returns whether it is Unix. Nothing
/// about the descriptor changes.
pub(crate) fn check_adopted(fd: RawFd, want: Want) -> Result<bool> {
    if fd < 0 {
        return Err(invalid!("fd", "an open socket descriptor"));
    }
    // SAFETY: only borrowed for the checks below, which fail cleanly (EBADF,
    // ENOTSOCK) if it is not an open socket.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&fd);
    let ty = sock.r#type().map_err(|_| invalid!("fd", "an open socket descriptor"))?;
    let listening = sock.is_listener().unwrap_or(false);
    let fits = match want {
        Want::Listener => ty == Type::STREAM && listening,
        Want::Connection => ty == Type::STREAM && !listening && sock.peer_addr().is_ok(),
        Want::Datagram => ty == Type::DGRAM,
    };
    if !fits {
        return Err(match want {
            Want::Listener => invalid!("fd", "a listening stream socket (TCP or Unix)"),
            Want::Connection => invalid!("fd", "a connected stream socket (TCP or Unix), not a listener"),
            Want::Datagram => invalid!("fd", "a datagram socket (UDP or Unix)"),
        });
    }
    match sock.domain() {
        Ok(d) if d == Domain::UNIX => Ok(true),
        Ok(d) if d == Domain::IPV4 || d == Domain::IPV6 => Ok(false),
        _ => Err(invalid!("fd", "a socket of family IPv4, IPv6 or Unix")),
    }
}

/// A non-blocking duplicate of a descriptor [`check_adopted`] accepted,
/// for the loop to own, and whether the descriptor was blocking before (the
/// flag is shared by both: [`restore_blocking`] undoes it if the adoption
/// fails, so that a refused adoption changes nothing).
pub(crate) fn duplicate(fd: RawFd) -> Result<(socket2::Socket, bool)> {
    // SAFETY: fcntl on a descriptor checked to be an open socket.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above; the new descriptor is owned by the Socket below.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if flags < 0 || dup < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: `dup` is a fresh descriptor nobody else owns.
    let sock = unsafe { <socket2::Socket as std::os::fd::FromRawFd>::from_raw_fd(dup) };
    sock.set_nonblocking(true)?;
    Ok((sock, flags & libc::O_NONBLOCK == 0))
}

/// Makes `fd` blocking again after a failed adoption.
pub(crate) fn restore_blocking(fd: RawFd) {
    // SAFETY: borrowed for one fcntl; the caller still owns it.
    let _ = SockRef::from(&unsafe { BorrowedFd::borrow_raw(fd) }).set_nonblocking(false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_abstract_names_are_checked_and_written_back() {
        let long = "x".repeat(MAX_UNIX_PATH);
        for ok in ["/tmp/a.sock", "rel.sock", "@name", &long, &format!("@{long}")] {
            let addr = sockaddr(ok).unwrap();
            assert_eq!(text(&addr).as_deref(), Some(ok));
        }
        let too_long = "x".repeat(MAX_UNIX_PATH + 1);
        for bad in ["", "@", "a\0b", &too_long, &format!("@{too_long}")] {
            let e = sockaddr(bad).unwrap_err();
            assert_eq!(e.detail().map(|d| d.argument), Some("path"), "{bad:?}");
        }
    }
}
