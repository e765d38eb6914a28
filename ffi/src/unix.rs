//! Unix domain sockets and adopted descriptors.

use std::ffi::{c_char, c_int, c_void};

use netcore_core::{BindOptions, Error, PeerCredentials};

use crate::boundary::{boundary, handle_arg, try_bytes, try_loop, try_mut, try_slice_mut, try_str, userdata_arg};
use crate::types::*;

/// Most bytes of a Unix socket path (without the NUL; an abstract name is
/// counted without its `@`). A buffer of `NC_UNIX_PATHSTRLEN` bytes holds
/// any path `nc_local_path` / `nc_peer_path` write.
pub const NC_UNIX_PATH_MAX: usize = 107;
/// Buffer size that fits any Unix path with its `@` and NUL.
pub const NC_UNIX_PATHSTRLEN: usize = 109;

/// The process, user and group of a Unix connection's peer (`SO_PEERCRED`).
#[repr(C)]
#[derive(Copy, Clone, Default)]
pub struct nc_credentials {
    /// Process id (of the process that connected, or listened, as of then).
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// Listens for stream connections on the Unix socket `path`: a filesystem
/// path (the socket file it creates is removed when the listener closes;
/// `NC_EADDRINUSE` if the file exists), or `"@name"` for `name` in Linux's
/// abstract namespace (no file). At most `NC_UNIX_PATH_MAX` bytes (the `@`
/// not counted), else `NC_EINVAL` (`nc_last_error_detail`: `path`).
/// `backlog` as for `nc_tcp_listen`. Connections arrive as `NC_EV_ACCEPTED`
/// (no address) and behave as TCP ones: framing, water marks, TLS
/// (`nc_listener_set_tls`, `nc_start_tls_*`), graceful close. Handle kinds
/// are those of TCP (`NC_KIND_TCP_LISTENER`, `NC_KIND_TCP_CONNECTION`).
/// `path` is only read during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_unix_listen(
    r#loop: *mut nc_loop,
    path: *const c_char,
    backlog: c_int,
    userdata: *mut c_void,
) -> nc_handle {
    boundary! {
        let (lp, path) = (try_loop!(r#loop), try_str!(path));
        lp.unix_listen(path, &BindOptions { backlog: Some(backlog), ..BindOptions::default() }, userdata_arg(userdata))
    }
}

/// Connects to the Unix socket `path` (as `nc_unix_listen` writes it). A
/// local connect succeeds or fails at once: a failure is returned here
/// (`NC_EINVAL`, `-ENOENT`, `NC_ECONNREFUSED`, `NC_EAGAIN` when the
/// listener's backlog is full), a success is a connection handle whose
/// `NC_EV_CONNECTED` (no address) comes with the next poll. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_unix_connect(
    r#loop: *mut nc_loop,
    path: *const c_char,
    userdata: *mut c_void,
) -> nc_handle {
    boundary! { try_loop!(r#loop).unix_connect(try_str!(path), userdata_arg(userdata)) }
}

/// Binds a Unix datagram socket on `path` (as `nc_unix_listen` writes it;
/// the socket file is removed when it closes). Datagrams arrive as
/// `NC_EV_DATAGRAM` with the sender's path in `nc_event.path` (NULL for an
/// unnamed sender). Send with `nc_unix_send_to`, or `nc_send` after
/// `nc_unix_dgram_connect`. Handle kind `NC_KIND_UDP`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_unix_dgram_bind(
    r#loop: *mut nc_loop,
    path: *const c_char,
    userdata: *mut c_void,
) -> nc_handle {
    boundary! { try_loop!(r#loop).unix_dgram_bind(try_str!(path), userdata_arg(userdata)) }
}

/// Sends one datagram from a Unix datagram socket to `path`. Returns 0,
/// `NC_EAGAIN` (retry after `NC_EV_WRITABLE`), `NC_EWRONGKIND` (a UDP
/// socket), `NC_EINVAL`, `-ENOENT`, `NC_ECONNREFUSED` (nobody bound
/// there), ... Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_unix_send_to(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    path: *const c_char,
    data: *const c_void,
    len: usize,
) -> c_int {
    boundary! {
        let (lp, path, data) = (try_loop!(r#loop), try_str!(path), try_bytes!(data, len));
        lp.unix_send_to(handle_arg(handle), path, data)
    }
}

/// Sets a Unix datagram socket's default peer (then `nc_send` sends
/// there). Returns 0, `NC_EWRONGKIND` (a UDP socket), `NC_EINVAL`, ...
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_unix_dgram_connect(r#loop: *mut nc_loop, handle: nc_handle, path: *const c_char) -> c_int {
    boundary! { try_loop!(r#loop).unix_dgram_connect(handle_arg(handle), try_str!(path)) }
}

/// Stores a Unix connection's peer credentials in `*out`. Returns 0,
/// `NC_EWRONGKIND` (not a Unix stream connection), `NC_EINVAL`,
/// `NC_EBADHANDLE`, ... Writes `*out` only on success. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_peer_credentials(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    out: *mut nc_credentials,
) -> c_int {
    boundary! {
        let (lp, out) = (try_loop!(r#loop), try_mut!(out));
        let PeerCredentials { pid, uid, gid } = lp.peer_credentials(handle_arg(handle))?;
        *out = nc_credentials { pid, uid, gid };
        Ok(())
    }
}

/// Writes `text` and a NUL into `out`: its length, or `NC_ENOBUFS` (too
/// small; nothing written).
pub(crate) fn write_text(text: &str, out: &mut [u8]) -> Result<c_int, Error> {
    if text.len() >= out.len() {
        return Err(Error::ENOBUFS);
    }
    out[..text.len()].copy_from_slice(text.as_bytes());
    out[text.len()] = 0;
    Ok(text.len() as c_int)
}

/// Writes the Unix path of a socket's own end into `buf` (`size` bytes,
/// NUL-terminated; `NC_UNIX_PATHSTRLEN` always suffices): `"@name"` in the
/// abstract namespace, `""` when unnamed. Returns the length without the
/// NUL, `NC_EAFNOSUPPORT` (an IP socket), `NC_ENOBUFS`, `NC_EINVAL`, ...
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_local_path(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    buf: *mut c_char,
    size: usize,
) -> c_int {
    boundary! {
        let (lp, out) = (try_loop!(r#loop), try_slice_mut!(buf, size));
        write_text(lp.local_path(handle_arg(handle))?.as_deref().unwrap_or(""), out)
    }
}

/// `nc_local_path` for the peer of a Unix connection (or connected Unix
/// datagram socket).
#[no_mangle]
pub unsafe extern "C" fn nc_peer_path(r#loop: *mut nc_loop, handle: nc_handle, buf: *mut c_char, size: usize) -> c_int {
    boundary! {
        let (lp, out) = (try_loop!(r#loop), try_slice_mut!(buf, size));
        write_text(lp.peer_path(handle_arg(handle))?.as_deref().unwrap_or(""), out)
    }
}

/// Adopts a listening socket the program already has — TCP or Unix: an
/// inherited descriptor, systemd's `LISTEN_FDS` (the first is 3), a socket
/// from another library — and returns its listener handle. On success the
/// loop owns the socket: `fd` itself is closed (the loop keeps a
/// non-blocking duplicate, which `nc_fd` returns), and a socket file
/// it names is never removed. On failure `fd` is left as it was: `NC_EINVAL`
/// (`nc_last_error_detail`: `fd`) if it is not a listening stream socket of
/// family IPv4, IPv6 or Unix.
///
/// One listener shared by several loops (threads) or processes: give each
/// loop its own `dup(fd)` to adopt; each accepts from the same backlog, and
/// the kernel hands every connection to one of them. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_adopt_listener(r#loop: *mut nc_loop, fd: c_int, userdata: *mut c_void) -> nc_handle {
    boundary! { try_loop!(r#loop).adopt_listener(fd, userdata_arg(userdata)) }
}

/// Adopts a connected stream socket (TCP or Unix) as `nc_adopt_listener`
/// does (`NC_EINVAL` unless it is a stream socket that is not listening).
/// No event announces it: the connection handle is live at once.
#[no_mangle]
pub unsafe extern "C" fn nc_adopt_connection(r#loop: *mut nc_loop, fd: c_int, userdata: *mut c_void) -> nc_handle {
    boundary! { try_loop!(r#loop).adopt_connection(fd, userdata_arg(userdata)) }
}

/// Adopts a datagram socket (UDP or Unix) as `nc_adopt_listener` does
/// (`NC_EINVAL` unless it is a datagram socket).
#[no_mangle]
pub unsafe extern "C" fn nc_adopt_udp(r#loop: *mut nc_loop, fd: c_int, userdata: *mut c_void) -> nc_handle {
    boundary! { try_loop!(r#loop).adopt_udp(fd, userdata_arg(userdata)) }
}
