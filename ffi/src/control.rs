//! Timers, timeouts, resilience, server control and low-level options.

use std::ffi::{c_char, c_int, c_void};
use std::time::Duration;

use netcore_core::{ConnectOptions, ConnectParams, DatagramToSend, Error, Family, MAX_BACKOFF_STEPS};

use crate::boundary::{
    boundary, handle_arg, invalid, sized_arg, slice_arg, str_arg, try_bytes, try_loop, try_mut, try_ref, try_slice,
    try_slice_mut, try_str, userdata_arg, A_BUFFER, A_STRING,
};
use crate::types::*;

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Starts a timer: `NC_EV_TIMER` after `delay_ms`, then every `repeat_ms`
/// if it is not 0. A one-shot timer's `NC_EV_CLOSED` follows its
/// `NC_EV_TIMER`; `nc_close` cancels a timer (then `NC_EV_CLOSED`). Timers
/// live in one heap per loop: O(log n) each. A delay or period beyond
/// `NC_MAX_DURATION_MS` is never: the timer stays open without firing
/// (again) until `nc_close`. Returns the timer handle, `NC_EINVAL` or
/// `NC_ENOMEM` (out of memory or handles). `userdata` is stored and returned
/// in events, never dereferenced. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_timer_start(
    r#loop: *mut nc_loop,
    delay_ms: u64,
    repeat_ms: u64,
    userdata: *mut c_void,
) -> nc_handle {
    boundary! {
        try_loop!(r#loop).timer_start(millis(delay_ms), Some(millis(repeat_ms)), userdata_arg(userdata))
    }
}

/// Sets a connection's idle timeout: `NC_EV_IDLE` after `timeout_ms`
/// without a successful read or write, and again after each further
/// timeout; any I/O resets it; the application decides whether to close.
/// 0 turns it off; beyond `NC_MAX_DURATION_MS` it never fires. Returns 0 or
/// a negative code. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_set_idle_timeout(r#loop: *mut nc_loop, handle: nc_handle, timeout_ms: u64) -> c_int {
    boundary! {
        try_loop!(r#loop).set_idle_timeout(handle_arg(handle), Some(millis(timeout_ms)))
    }
}

/// Converts C connect options (NULL = defaults) with the core's builder,
/// which checks each value.
///
/// # Safety
/// `opts` is NULL or valid for its `size` bytes, with valid strings and
/// arrays inside.
unsafe fn connect_options(opts: *const nc_connect_opts) -> Result<ConnectOptions, Error> {
    let bad_size = invalid!("opts.size", "sizeof(struct nc_connect_opts), as NC_CONNECT_OPTS_INIT sets it");
    // SAFETY: NULL or valid for its size, per the contract.
    let Some(opts) = (unsafe { sized_arg(opts, bad_size) })? else {
        return Ok(ConnectOptions::default());
    };
    // Checked before the array is read: `reconnect_count` bounds the reading.
    if opts.reconnect_count > MAX_BACKOFF_STEPS {
        const _: () = assert!(MAX_BACKOFF_STEPS == 8, "the detail below says so");
        return Err(invalid!("opts.reconnect_count", "0 to 8"));
    }
    let reconnect: Vec<Duration> =
        try_slice!(opts.reconnect_ms, opts.reconnect_count).iter().map(|&ms| millis(ms as u64)).collect();
    ConnectOptions::build(ConnectParams {
        // 0 leaves a value out (the core's default).
        timeout: (opts.timeout_ms > 0).then(|| millis(opts.timeout_ms as u64)),
        family: Family::parse_raw(opts.family)?,
        local_host: if opts.local_host.is_null() { None } else { Some(try_str!(opts.local_host)) },
        // 0: any port, as no port.
        local_port: (opts.local_port != 0).then_some(opts.local_port as i64),
        attempt_delay: (opts.attempt_delay_ms > 0).then(|| millis(opts.attempt_delay_ms as u64)),
        reconnect: &reconnect,
    })
}

/// `nc_tcp_connect` with options (`opts` may be NULL; see `nc_connect_opts`):
/// connect timeout, forced address family, local bind address, Happy
/// Eyeballs attempt delay, auto-reconnect. When a name has several
/// addresses, attempts start staggered by the attempt delay, families
/// alternating (RFC 8305); the first to connect wins and the others are
/// closed. Returns the connection handle, or `NC_EINVAL` or `NC_ENOMEM` as
/// `nc_tcp_connect`. `host` is only read during the call. `opts` and what it
/// points to are only read during the call. `userdata` is stored and returned
/// in events, never dereferenced. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_tcp_connect_ex(
    r#loop: *mut nc_loop,
    host: *const c_char,
    port: c_int,
    opts: *const nc_connect_opts,
    userdata: *mut c_void,
) -> nc_handle {
    boundary! {
        let (lp, host) = (try_loop!(r#loop), try_str!(host));
        // SAFETY: per the contract, `opts` is NULL or valid.
        let opts = unsafe { connect_options(opts) }?;
        lp.tcp_connect_with(host, port as i64, &opts, userdata_arg(userdata))
    }
}

/// Answers the name `host` with the `count` IP literals in `addrs` (in that
/// order) for this loop's connections, instead of the system resolver —
/// like a hosts-file entry. `count` 0 removes the entry. Returns 0 or
/// `NC_EINVAL`. The strings are copied during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_set_host_addresses(
    r#loop: *mut nc_loop,
    host: *const c_char,
    addrs: *const *const c_char,
    count: usize,
) -> c_int {
    boundary! {
        let (lp, host) = (try_loop!(r#loop), try_str!(host));
        if count > netcore_core::MAX_HOST_ADDRESSES {
            return Err(invalid!("count", "0 to 64"));
        }
        let texts = try_slice!(addrs, count)
            .iter()
            .map(|&text| {
                // SAFETY: each entry is a NUL-terminated string per the contract.
                unsafe { str_arg(text) }.ok_or_else(|| invalid!("addrs", A_STRING))
            })
            .collect::<Result<Vec<&str>, Error>>()?;
        lp.set_host_addresses(host, &netcore_core::ip_addresses(&texts)?)
    }
}

/// Sets the most bytes one read of a TCP connection of this loop asks for,
/// and so the largest `NC_EV_DATA` chunk in stream framing: 4096 to 4 MiB,
/// default 256 KiB. Hosts that copy every chunk into a fresh allocation of
/// their own may prefer 64 KiB (below glibc's mmap threshold). Any thread.
/// Returns 0, or `NC_EINVAL` (NULL `loop`, `bytes` out of range).
#[no_mangle]
pub unsafe extern "C" fn nc_set_read_size(r#loop: *mut nc_loop, bytes: usize) -> c_int {
    boundary! { try_loop!(r#loop).set_read_size(bytes) }
}

/// Caps the connections a listener keeps open at once (0 = no cap). At the
/// cap it stops accepting (clients wait in the kernel backlog) and resumes
/// when one closes. Returns 0, `NC_EINVAL` (`max` beyond 4294967295),
/// `NC_EWRONGKIND` or `NC_EBADHANDLE`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_set_max_connections(r#loop: *mut nc_loop, listener: nc_handle, max: usize) -> c_int {
    boundary! { try_loop!(r#loop).set_max_connections(handle_arg(listener), max) }
}

/// Graceful server shutdown: the listener stops accepting at once, every
/// connection it accepted is closed gracefully (queued data is delivered),
/// and whatever is still open after `drain_ms` is reset (its `NC_EV_CLOSED`
/// has `NC_ETIMEDOUT`; a `drain_ms` beyond `NC_MAX_DURATION_MS` is never
/// forced). Then `NC_EV_SHUTDOWN_COMPLETE` and `NC_EV_CLOSED` arrive for the
/// listener, once its last connection has closed. Returns 0, `NC_ECLOSED`
/// (already shutting down), `NC_EWRONGKIND` or `NC_EBADHANDLE`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_shutdown_server(r#loop: *mut nc_loop, listener: nc_handle, drain_ms: u64) -> c_int {
    boundary! { try_loop!(r#loop).shutdown_server(handle_arg(listener), millis(drain_ms)) }
}

/// `nc_sendv` with a token: once the last of these bytes is handed to the
/// kernel, `NC_EV_SENT` arrives with `value` = `token` (tokens arrive in
/// send order). TCP connections only. Returns as `nc_sendv`. The buffers are
/// only read during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_sendv_token(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    bufs: *const nc_buf,
    count: usize,
    token: u64,
) -> c_int {
    boundary! {
        let lp = try_loop!(r#loop);
        // SAFETY: per the contract, `bufs` is NULL or holds `count` valid buffers.
        lp.send_with_token(handle_arg(handle), &unsafe { crate::buf_slices(bufs, count) }?, Some(token))
    }
}

/// Asks for `NC_EV_SENT` with `value` = `token` once the kernel has taken
/// every byte sent on a connection so far (from the next `nc_poll` on if
/// it already has): what a write callback, or a shutdown's completion
/// (then the FIN follows at once), waits for. Bytes sent later do not hold
/// it back; none comes if the connection is lost first (`NC_EV_CLOSED`
/// says why). Returns 0, `NC_EBADHANDLE`, `NC_ECLOSED` or `NC_EWRONGKIND`.
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_notify_when_sent(r#loop: *mut nc_loop, handle: nc_handle, token: u64) -> c_int {
    boundary! { try_loop!(r#loop).notify_when_sent(handle_arg(handle), token) }
}

/// Sends one datagram from a UDP socket to `addr` (e.g. a `NC_EV_DATAGRAM`
/// event's sender). Returns as `nc_send_to`. `addr` and the bytes are only
/// read during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_send_to_addr(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    addr: *const nc_addr,
    data: *const c_void,
    len: usize,
) -> c_int {
    boundary! {
        let (lp, addr, data) = (try_loop!(r#loop), try_ref!(addr), try_bytes!(data, len));
        lp.send_to_addr(handle_arg(handle), addr.to_socket_addr()?, data)
    }
}

/// Sends `count` datagrams from a UDP socket (or a connected Unix datagram
/// socket) in order, as many per system call as the kernel takes
/// (`sendmmsg`), each whole or not at all: `datagrams[i].len` bytes to
/// `datagrams[i].to`, or to the connected peer where `to` is NULL.
/// Returns how many went out, counted from the first: `count` when all
/// did; fewer, `n`, when `datagrams[n]` could not go (a bad `to` or
/// `data`, or the kernel refused it) — it and the ones after it were not
/// sent; call again from `datagrams + n` to send them or to learn why.
/// Returns a negative code when not even the first went: `NC_EAGAIN` (the
/// kernel has no room: retry after `NC_EV_WRITABLE`), `NC_EINVAL` (a NULL
/// `data` with a length, a bad `to` family, port 0), `NC_EMSGSIZE` (above
/// 65,507 bytes on IPv4), `NC_ENOTCONN` (no `to` and no connected peer),
/// `NC_EWRONGKIND` (an IP `to` on a Unix socket, or not a datagram
/// socket), `NC_EBADHANDLE`, `NC_ECLOSED`, ...; and `NC_EINVAL` for a NULL
/// `datagrams` with a `count`, or `count` above `INT_MAX`. `count` 0 sends
/// nothing and returns 0. The array, the bytes and the addresses are only
/// read during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_send_batch(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    datagrams: *const nc_datagram,
    count: usize,
) -> c_int {
    boundary! {
        let (lp, datagrams) = (try_loop!(r#loop), try_slice!(datagrams, count));
        if count > c_int::MAX as usize {
            return Err(invalid!("count", "0 to INT_MAX"));
        }
        let each = datagrams.iter().map(|d| {
            // SAFETY: per the contract, `data` points to `len` readable bytes
            // and `to` is NULL or a valid address.
            let data = unsafe { slice_arg(d.data as *const u8, d.len) }.ok_or(invalid!("datagrams.data", A_BUFFER))?;
            let to = unsafe { d.to.as_ref() }.map(|to| to.to_socket_addr()).transpose()?;
            Ok(DatagramToSend { data, to })
        });
        // At most `count`, which fits a c_int.
        lp.send_batch(handle_arg(handle), each).map(|sent| sent as c_int)
    }
}

/// Joins (`join` 1) or leaves (`join` 0) the multicast group `group` (an IP
/// literal) on a UDP socket. `iface` is the local IPv4 address of the
/// interface for an IPv4 group (`"0.0.0.0"` = default) or the interface
/// index as a decimal string for an IPv6 group (`"0"` = default). Returns 0,
/// `NC_EINVAL`, `NC_EBADHANDLE`, `NC_EWRONGKIND`, or the OS error. The
/// strings are only read during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_udp_multicast(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    group: *const c_char,
    iface: *const c_char,
    join: c_int,
) -> c_int {
    boundary! {
        let (lp, group, iface) = (try_loop!(r#loop), try_str!(group), try_str!(iface));
        lp.udp_multicast(handle_arg(handle), group, iface, join != 0)
    }
}

/// Sets the interface a UDP socket sends multicast datagrams from: `iface`
/// as `nc_udp_multicast` takes it for the socket's family (an IPv4
/// socket: the interface's local IPv4 address; an IPv6 socket: its index
/// as a decimal string; `"0.0.0.0"`, `"0"` or `""`: the system's choice).
/// Returns 0, `NC_EINVAL`, `NC_EBADHANDLE`, `NC_EWRONGKIND`, or the OS
/// error. The string is only read during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_udp_multicast_interface(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    iface: *const c_char,
) -> c_int {
    boundary! {
        let (lp, iface) = (try_loop!(r#loop), try_str!(iface));
        lp.udp_multicast_interface(handle_arg(handle), iface)
    }
}

/// Raw `setsockopt(fd, level, name, value, len)` on a socket's descriptor,
/// for options netcore does not name. Returns 0 or the negated errno
/// (e.g. -ENOPROTOOPT; `nc_errname` names it), or
/// `NC_EINVAL`/`NC_EBADHANDLE`/`NC_EWRONGKIND`/`NC_ENOTCONN` (a connection
/// still connecting: it has no socket yet). `value` is only read during the
/// call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_setsockopt(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: usize,
) -> c_int {
    boundary! {
        let (lp, value) = (try_loop!(r#loop), try_bytes!(value, len));
        lp.set_raw_option(handle_arg(handle), level, name, value)
    }
}

/// Raw `getsockopt`: reads into `value` (`*len` bytes of room); `*len` is
/// set to the length the OS wrote. Returns 0 or the negated errno, or
/// `NC_EINVAL`/`NC_EBADHANDLE`/`NC_EWRONGKIND`/`NC_ENOTCONN` as
/// `nc_setsockopt`. Writes `value` and `*len` only on success. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_getsockopt(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: *mut usize,
) -> c_int {
    boundary! {
        let (lp, len) = (try_loop!(r#loop), try_mut!(len));
        let buf = try_slice_mut!(value, *len);
        *len = lp.get_raw_option(handle_arg(handle), level, name, buf)?;
        Ok(())
    }
}

/// Stores in `*bytes` how many bytes sent on connection `handle` the kernel
/// has not taken yet, counted as they go on the wire (under TLS: the
/// queued plaintext plus the overhead of the records it makes, 22 bytes a
/// record of up to 16 KiB with TLS 1.3): the figure `NC_OPT_HIGH_WATER` and `NC_OPT_LOW_WATER` are
/// compared with, as libuv's `uv_stream_get_write_queue_size`. Returns 0,
/// or `NC_EBADHANDLE`, `NC_EWRONGKIND` (not a connection), `NC_EINVAL`
/// (`bytes` NULL). Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_queued_bytes(r#loop: *mut nc_loop, handle: nc_handle, bytes: *mut usize) -> c_int {
    boundary! {
        let (lp, bytes) = (try_loop!(r#loop), try_mut!(bytes));
        *bytes = lp.queued_bytes(handle_arg(handle))?;
        Ok(())
    }
}

/// The socket's file descriptor, for system calls netcore does not wrap.
/// The loop keeps owning it: do not close it, read or write it. Returns it,
/// or `NC_EBADHANDLE`, `NC_EWRONGKIND` (a timer), `NC_ENOTCONN` (a
/// connection still connecting), `NC_EINVAL`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_fd(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { try_loop!(r#loop).raw_fd(handle_arg(handle)) }
}
