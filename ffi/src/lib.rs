//! The C ABI of netcore (`libnetcore.so`, `libnetcore.a`, `include/netcore.h`).
//!
//! Thin plumbing over `netcore-core`: every exported function checks its
//! pointers, converts its arguments, calls the core inside a panic boundary
//! and maps the result to a negative `NC_E*` code. The header is generated
//! from this crate by `tools/gen-header` and documents every function.

// Every exported function dereferences caller pointers under the contract its
// documentation states; the `# Safety` sections live in the header docs.
#![allow(clippy::missing_safety_doc)]

mod boundary;
mod control;
mod tls;
mod types;
mod unix;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::time::Duration;

use netcore_core::{BindOptions, Error, EventKind, Framing, HandleKind, Loop, SockOption};

use boundary::{
    boundary, handle_arg, invalid, slice_arg, try_bytes, try_loop, try_mut, try_ref, try_slice, try_slice_mut, try_str,
    userdata_arg, A_BUFFER, NOT_NULL,
};
pub use control::*;
pub use tls::*;
pub use types::*;
pub use unix::*;

/// The major version of this header. Releases with the same major version
/// are compatible: a program built against one runs with a later one.
pub const NC_VERSION_MAJOR: u32 = 0;
/// The minor version of this header (0..255).
pub const NC_VERSION_MINOR: u32 = 1;
/// The patch version of this header (0..255).
pub const NC_VERSION_PATCH: u32 = 0;
/// The version of this header as one number, `(major << 16) | (minor << 8) |
/// patch`: compare it with `nc_version_hex()`, the library's.
pub const NC_VERSION_HEX: u32 = (NC_VERSION_MAJOR << 16) | (NC_VERSION_MINOR << 8) | NC_VERSION_PATCH;

/// A decimal version component of Cargo's package version, at compile time.
const fn version_part(digits: &str) -> u32 {
    match u32::from_str_radix(digits, 10) {
        Ok(value) => value,
        Err(_) => panic!("a version component is decimal"),
    }
}

// The header's constants are literals (cbindgen copies them), and the crate
// version is the one truth: building fails when they disagree.
const _: () = assert!(NC_VERSION_MAJOR == version_part(env!("CARGO_PKG_VERSION_MAJOR")));
const _: () = assert!(NC_VERSION_MINOR == version_part(env!("CARGO_PKG_VERSION_MINOR")));
const _: () = assert!(NC_VERSION_PATCH == version_part(env!("CARGO_PKG_VERSION_PATCH")));
const _: () = assert!(NC_VERSION_MINOR < 256 && NC_VERSION_PATCH < 256, "NC_VERSION_HEX packs them in a byte each");

/// The version of the library that is running, as `NC_VERSION_HEX` packs
/// it: a program compares it with the `NC_VERSION_HEX` it was built
/// against (e.g. refusing another major version). Any thread.
#[no_mangle]
pub extern "C" fn nc_version_hex() -> u32 {
    boundary! { Ok(NC_VERSION_HEX) }
}

/// The library version, e.g. `"0.1.0"`. Returns a static string (never
/// free it). Any thread.
#[no_mangle]
pub extern "C" fn nc_version() -> *const c_char {
    boundary! { Ok(concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char) }
}

/// Creates an event loop. Returns NULL if the system is out of descriptors or
/// memory, or if 1024 loops are already alive in the process (each live loop
/// has its own handle tag; freeing a loop releases its tag). The caller owns
/// the loop and destroys it with `nc_loop_free`. Any thread.
#[no_mangle]
pub extern "C" fn nc_loop_new() -> *mut nc_loop {
    boundary! { Ok(Box::into_raw(Box::new(nc_loop { inner: Loop::new()? }))) }
}

/// Closes a loop, from any thread (also while another thread polls or
/// runs it): every handle closes at once (queued data is dropped, and a
/// connection that still had some is reset, so its peer sees the loss; no
/// `NC_EV_CLOSED` is delivered), an `nc_poll` or `nc_run` that is waiting,
/// or starts later, returns `NC_ECLOSED`, and so does every later call on
/// the loop but `nc_loop_free`. `nc_run` delivers no event after it. The
/// memory stays until `nc_loop_free`, which is still required (and fine
/// after this). Idempotent. Returns 0 or `NC_EINVAL` (NULL).
#[no_mangle]
pub unsafe extern "C" fn nc_loop_close(r#loop: *mut nc_loop) -> c_int {
    boundary! {
        try_loop!(r#loop).close_loop();
        Ok(())
    }
}

/// Destroys a loop and closes every handle on it at once, as
/// `nc_loop_close` does (queued data is dropped: close connections and poll
/// until `NC_EV_CLOSED` first to flush them). NULL is ignored. No other
/// thread may be using the loop (stop them with `nc_loop_close` first), and
/// the pointer is invalid afterwards: using it then is the caller's bug, as
/// with `free`.
#[no_mangle]
pub unsafe extern "C" fn nc_loop_free(r#loop: *mut nc_loop) {
    boundary! {
        if !r#loop.is_null() {
            // SAFETY: a loop from nc_loop_new, freed once, per the contract.
            let lp = unsafe { Box::from_raw(r#loop) };
            lp.inner.close_loop();
        }
        Ok(())
    }
}

/// Waits up to `timeout_ms` milliseconds (-1 = forever, 0 = not at all) for
/// events and stores up to `max_events` of them in `events`. Returns the number
/// stored (0 on timeout or when a signal or `nc_wake` interrupted the wait),
/// or `NC_EINVAL` (NULL pointer, `max_events` 0, timeout below -1), `NC_EBUSY`
/// if another thread is polling this loop, `NC_ECLOSED` once the loop is
/// closed (`nc_loop_close` from any thread also ends a wait), or another
/// negative code if the system's poll failed. Event data stays valid until the next `nc_poll` or
/// `nc_run` on this loop by any thread: with several polling threads, none
/// may poll again while another still reads the previous batch. Events not
/// returned wait for the next poll.
/// A handle whose `NC_EV_CLOSED` a poll returned answers `NC_ECLOSED` until
/// the next poll (while its events are handled), `NC_EBADHANDLE` from then on.
#[no_mangle]
pub unsafe extern "C" fn nc_poll(
    r#loop: *mut nc_loop,
    events: *mut nc_event,
    max_events: usize,
    timeout_ms: c_int,
) -> c_int {
    boundary! {
        let lp = try_loop!(r#loop);
        if events.is_null() {
            return Err(invalid!("events", NOT_NULL));
        }
        if timeout_ms < -1 {
            return Err(invalid!("timeout_ms", "-1 (forever) or more"));
        }
        let timeout = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
        // The core refuses 0; the count returned must fit the return type.
        let batch = lp.poll(max_events.min(c_int::MAX as usize), timeout)?;
        for (i, event) in batch.events().iter().enumerate() {
            // SAFETY: `events` has room for `max_events` entries and i < max_events;
            // the entry is written whole before it is referenced.
            let slot = unsafe {
                events.add(i).write(nc_event::without_origin(event, batch.data_ptr(event), event.data_len()));
                &mut *events.add(i)
            };
            slot.set_origin(event.addr.as_ref(), batch.path_cstr(event));
        }
        Ok(batch.events().len() as c_int)
    }
}

/// Polls in a loop and calls `cb(loop, event, arg)` for each event until
/// `nc_stop` is called (from the callback or any thread). Returns 0 after
/// `nc_stop`, `NC_EINVAL` for NULL `loop` or `cb`, `NC_EBUSY` if another
/// thread is polling, `NC_ECLOSED` once the loop is closed (`nc_loop_close`,
/// also from a callback: no event follows), or another negative code if
/// polling failed. An
/// event's data is valid during its callback (see `nc_poll` for other
/// threads polling the same loop).
#[no_mangle]
pub unsafe extern "C" fn nc_run(r#loop: *mut nc_loop, cb: nc_event_cb, arg: *mut c_void) -> c_int {
    boundary! {
        let lp = try_loop!(r#loop);
        let Some(cb) = cb else { return Err(invalid!("cb", "a callback, not NULL")) };
        lp.run_with_paths(|event, data, path| {
            let event = nc_event::new(event, data, path);
            // SAFETY: a C callback the caller supplied, given a valid event.
            unsafe { cb(r#loop, &event, arg) };
        })
    }
}

/// Makes the current `nc_run` return after the callback batch in progress
/// (or the next `nc_run` return at once). Any thread. Returns 0 or `NC_EINVAL`.
#[no_mangle]
pub unsafe extern "C" fn nc_stop(r#loop: *mut nc_loop) -> c_int {
    boundary! {
        try_loop!(r#loop).stop();
        Ok(())
    }
}

/// Interrupts a blocking `nc_poll` (it returns 0 or the events it has). Any
/// thread. Returns 0 or `NC_EINVAL`.
#[no_mangle]
pub unsafe extern "C" fn nc_wake(r#loop: *mut nc_loop) -> c_int {
    boundary! {
        try_loop!(r#loop).wake();
        Ok(())
    }
}

/// Embedding: a descriptor that is readable while the loop has events to
/// deliver. Watch it for readability in a host loop (epoll, select, libuv,
/// asyncio) and call `nc_poll` with timeout 0 when it is; after handling
/// events, sleep at most `nc_next_timeout` milliseconds. The loop owns the
/// descriptor: do not read or close it. Returns it, or `NC_EINVAL`. Any
/// thread.
#[no_mangle]
pub unsafe extern "C" fn nc_loop_fd(r#loop: *mut nc_loop) -> c_int {
    boundary! { Ok(try_loop!(r#loop).fd()) }
}

/// Embedding: milliseconds a host loop may wait before polling again,
/// rounded up (a deadline 0.3 ms away is 1, so the host never wakes early
/// and spins). Returns 0 only if events are ready now, -1 if only new I/O
/// (signalled on `nc_loop_fd`) can produce events, at most `INT_MAX`; or
/// `NC_EINVAL` for a NULL loop. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_next_timeout(r#loop: *mut nc_loop) -> c_int {
    boundary! {
        let timeout = try_loop!(r#loop).next_timeout();
        Ok(timeout.map_or(-1, |t| t.as_millis().min(c_int::MAX as u128) as c_int))
    }
}

/// Bind options from C arguments (the core checks the backlog).
fn bind_options(backlog: c_int, flags: u32) -> Result<BindOptions, Error> {
    if flags & !(NC_REUSEPORT | NC_IPV6ONLY) != 0 {
        return Err(invalid!("flags", "0, NC_REUSEPORT, NC_IPV6ONLY or both"));
    }
    Ok(BindOptions {
        backlog: Some(backlog),
        reuse_port: flags & NC_REUSEPORT != 0,
        ipv6_only: flags & NC_IPV6ONLY != 0,
        ..BindOptions::default()
    })
}

/// Listens for TCP connections on `host` (an IPv4 or IPv6 literal such as
/// `"127.0.0.1"`, `"::1"`, `"0.0.0.0"`, or `"localhost"` = 127.0.0.1) and
/// `port` (0..65535; 0 picks a free port, read it back with
/// `nc_local_addr`). `backlog` 0 means 1024; `flags` is `NC_REUSEPORT` |
/// `NC_IPV6ONLY` or 0. SO_REUSEADDR is always set. Each connection arrives as
/// `NC_EV_ACCEPTED` and starts with this listener's `userdata`. Returns the
/// listener handle, or `NC_EINVAL` (NULL, unparsable host, port or backlog
/// out of range, unknown flag), `NC_EADDRINUSE`, `NC_EACCES`, ... `host` is
/// only read during the call. `userdata` is stored and returned in events,
/// never dereferenced. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_tcp_listen(
    r#loop: *mut nc_loop,
    host: *const c_char,
    port: c_int,
    backlog: c_int,
    flags: u32,
    userdata: *mut c_void,
) -> nc_handle {
    boundary! {
        let (lp, host) = (try_loop!(r#loop), try_str!(host));
        lp.tcp_listen(host, port as i64, &bind_options(backlog, flags)?, userdata_arg(userdata))
    }
}

/// Starts a TCP connection to `host` (an IP literal, or a name resolved by
/// a pool of at most 4 helper threads shared by the process: further names
/// wait in a queue, and closing the handle meanwhile cancels the lookup) and
/// `port` (1..65535). Never blocks. Every resolved address
/// is tried in turn; the outcome arrives as `NC_EV_CONNECTED`, or as
/// `NC_EV_CONNECT_FAILED` (`error`: `NC_EDNS`, `NC_ECONNREFUSED`,
/// `NC_ENETUNREACH`, ...) followed by `NC_EV_CLOSED`. Data sent before the
/// connection is established is queued. Returns the connection handle, or
/// `NC_EINVAL` (NULL, empty host, port out of range) or `NC_ENOMEM` (out of
/// memory, handles or resolver threads). `host` is only read during the call.
/// `userdata` is stored and returned in events, never dereferenced. Any
/// thread.
#[no_mangle]
pub unsafe extern "C" fn nc_tcp_connect(
    r#loop: *mut nc_loop,
    host: *const c_char,
    port: c_int,
    userdata: *mut c_void,
) -> nc_handle {
    boundary! { try_loop!(r#loop).tcp_connect(try_str!(host), port as i64, userdata_arg(userdata)) }
}

/// Binds a UDP socket on `host` (an IP literal or `"localhost"`) and `port`
/// (0 = any). `flags` as for `nc_tcp_listen`. Datagrams arrive as
/// `NC_EV_DATAGRAM`. Returns the handle or a negative code as for
/// `nc_tcp_listen`. `host` is only read during the call. `userdata` is stored
/// and returned in events, never dereferenced. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_udp_bind(
    r#loop: *mut nc_loop,
    host: *const c_char,
    port: c_int,
    flags: u32,
    userdata: *mut c_void,
) -> nc_handle {
    boundary! {
        let (lp, host) = (try_loop!(r#loop), try_str!(host));
        lp.udp_bind(host, port as i64, &bind_options(0, flags)?, userdata_arg(userdata))
    }
}

/// Sets a UDP socket's default peer (an IP literal and port): `nc_send` then
/// sends there and only its datagrams are received. Returns 0, `NC_EINVAL`,
/// `NC_EBADHANDLE`, `NC_EWRONGKIND`, `NC_EAFNOSUPPORT` (an IPv6 peer for an
/// IPv4 socket, or the reverse), or another OS error. `host` is only read
/// during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_udp_connect(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    host: *const c_char,
    port: c_int,
) -> c_int {
    boundary! { try_loop!(r#loop).udp_connect(handle_arg(handle), try_str!(host), port as i64) }
}

/// Dissolves a datagram socket's default peer (`nc_udp_connect`,
/// `nc_unix_dgram_connect`): `nc_send` fails with `NC_ENOTCONN` again and
/// datagrams from any sender are received. Returns 0, `NC_ENOTCONN` if it
/// has none, `NC_EBADHANDLE`, `NC_EWRONGKIND`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_udp_disconnect(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { try_loop!(r#loop).udp_disconnect(handle_arg(handle)) }
}

/// Sends `len` bytes (copied before returning when they cannot go out at
/// once). On a connection the bytes are queued whole or refused whole:
/// `NC_EAGAIN` when the queue would pass its high-water mark (nothing is
/// queued; `NC_EV_WRITABLE` follows once it drains). A message larger than
/// the mark is accepted only when the queue is empty. On a connected UDP
/// socket: one datagram (`len` 0 sends a zero-length one; `data` may then
/// be NULL). Returns 0, or `NC_EINVAL` (NULL data with a non-zero `len`;
/// `len` 0 on a connection), `NC_EBADHANDLE`, `NC_ECLOSED`, `NC_EPIPE`
/// (after `nc_shutdown`), `NC_EWRONGKIND`, `NC_ECONNRESET`, ... Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_send(r#loop: *mut nc_loop, handle: nc_handle, data: *const c_void, len: usize) -> c_int {
    boundary! { try_loop!(r#loop).send(handle_arg(handle), try_bytes!(data, len)) }
}

/// Gather send: the `count` buffers go out as one message, in one system
/// call when possible, with the same whole-or-`NC_EAGAIN` rule as `nc_send`.
/// Returns as `nc_send`; `NC_EINVAL` also for NULL `bufs`, `count` 0 or
/// above 1024, or a NULL buffer with a non-zero length. The buffers are only
/// read during the call (what cannot go out at once is copied). Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_sendv(r#loop: *mut nc_loop, handle: nc_handle, bufs: *const nc_buf, count: usize) -> c_int {
    boundary! {
        let lp = try_loop!(r#loop);
        // SAFETY: per the contract, `bufs` is NULL or holds `count` valid buffers.
        lp.send_vectored(handle_arg(handle), &unsafe { buf_slices(bufs, count) }?)
    }
}

/// The most buffers one gather send takes: the slices are collected into a
/// vector first, whose size the caller must not control unboundedly.
const MAX_BUFS: usize = 1024;

/// The byte slices of an `nc_buf` array: NULL `bufs`, `count` 0 or above
/// [`MAX_BUFS`], or a NULL buffer with a length is `EINVAL`.
///
/// # Safety
/// `bufs` is NULL or points to `count` buffers, each valid for its length.
unsafe fn buf_slices<'a>(bufs: *const nc_buf, count: usize) -> Result<Vec<&'a [u8]>, Error> {
    if count == 0 || count > MAX_BUFS {
        const _: () = assert!(MAX_BUFS == 1024, "the detail below says so");
        return Err(invalid!("count", "1 to 1024"));
    }
    try_slice!(bufs, count)
        .iter()
        // SAFETY: each buffer points to `len` readable bytes per the contract.
        .map(|b| unsafe { slice_arg(b.data as *const u8, b.len) }.ok_or_else(|| invalid!("bufs", A_BUFFER)))
        .collect()
}

/// Sends one datagram to `host` (an IP literal or `"localhost"`) and `port`
/// (1..65535) from a UDP socket; `len` 0 (`data` may then be NULL) sends a
/// zero-length datagram. Returns 0, or `NC_EAGAIN` (the kernel has
/// no room: retry after `NC_EV_WRITABLE`), `NC_EMSGSIZE`, `NC_EINVAL`,
/// `NC_EWRONGKIND`, ... `host` is only read during the call. The bytes are
/// only read during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_send_to(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    host: *const c_char,
    port: c_int,
    data: *const c_void,
    len: usize,
) -> c_int {
    boundary! {
        let (lp, host, data) = (try_loop!(r#loop), try_str!(host), try_bytes!(data, len));
        lp.send_to(handle_arg(handle), host, port as i64, data)
    }
}

/// Closes a handle gracefully. A connection stops reading, sends everything
/// queued, sends its FIN, waits briefly for the peer's, then
/// `NC_EV_CLOSED` arrives. Listeners, UDP sockets and timers close at once
/// (their `NC_EV_CLOSED` comes with the next poll). From this call until the
/// poll after the one that returns `NC_EV_CLOSED`, calls on the handle
/// return `NC_ECLOSED` (`nc_handle_kind` and the user data still answer;
/// `nc_close_reset` still resets a connection closing gracefully); later,
/// `NC_EBADHANDLE`. `nc_run` delivers no further event of the handle but
/// `NC_EV_CLOSED`; events an `nc_poll` already copied into the caller's array
/// are the caller's to skip. Returns 0, `NC_EBADHANDLE`, or `NC_ECLOSED` if
/// the handle is already closing or closed. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_close(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { try_loop!(r#loop).close(handle_arg(handle)) }
}

/// Closes a handle at once. A connection drops its queue and sends a reset
/// (RST). `NC_EV_CLOSED` comes with the next poll; until the poll after it,
/// calls on the handle return `NC_ECLOSED`, as after `nc_close` (the same
/// rules for `nc_run` and already polled events). Returns 0,
/// `NC_EBADHANDLE`, or `NC_ECLOSED` if the handle is already closed. Any
/// thread.
#[no_mangle]
pub unsafe extern "C" fn nc_close_reset(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { try_loop!(r#loop).close_reset(handle_arg(handle)) }
}

/// Closes a handle at once without a needless reset, as libuv's `uv_close`
/// and asyncio's `Transport.abort()` close a connection: what is still
/// queued in netcore (not yet taken by the kernel) is dropped, and the
/// socket is closed without waiting for the peer. The peer gets what the
/// kernel took, then a FIN; if queued bytes were dropped, a reset (RST)
/// instead, so that it cannot take the lost bytes for a clean end. Also
/// ends a graceful close under way. Other handles close as with
/// `nc_close_reset`. `NC_EV_CLOSED` comes with the next poll, with the same
/// rules as after `nc_close_reset`. Returns 0, `NC_EBADHANDLE`, or
/// `NC_ECLOSED` if the handle is already closed. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_close_abort(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { try_loop!(r#loop).close_abort(handle_arg(handle)) }
}

/// Half-closes a connection: the FIN goes out once everything queued is
/// sent; reading goes on until the peer's EOF, after which the connection
/// closes by itself (`NC_EV_EOF`, then `NC_EV_CLOSED`, in one batch: while
/// `NC_EV_EOF` is handled the handle is closed, `nc_close` returns
/// `NC_ECLOSED`). Later sends fail with `NC_EPIPE`. Returns 0, `NC_EPIPE` if already shut down,
/// `NC_EBADHANDLE`, `NC_ECLOSED` or `NC_EWRONGKIND`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_shutdown(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { try_loop!(r#loop).shutdown(handle_arg(handle)) }
}

/// Stops reading a connection: the kernel buffers, then the peer is slowed
/// by TCP flow control. A reset, or the peer's close once all its data was
/// delivered, is still reported (`NC_EV_EOF` while paused). From an
/// `nc_run` callback: no `NC_EV_DATA` of the connection follows, not even
/// the rest of the batch in progress, which the connection keeps (with an
/// `NC_EV_EOF` behind it) and delivers after `nc_resume`, in order; events
/// `nc_poll` already returned are the caller's. Returns 0 or a negative
/// code. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_pause(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { try_loop!(r#loop).pause(handle_arg(handle)) }
}

/// Resumes reading a paused connection. Returns 0 or a negative code. Any
/// thread.
#[no_mangle]
pub unsafe extern "C" fn nc_resume(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { try_loop!(r#loop).resume(handle_arg(handle)) }
}

/// Framing: deliver raw chunks as they arrive (the default). Returns 0 or a
/// negative code. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_frame_stream(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { try_loop!(r#loop).set_framing(handle_arg(handle), Framing::Stream) }
}

/// Framing: one `NC_EV_DATA` per frame ending with the `delim_len`-byte
/// delimiter (1..8 bytes, e.g. `"\n"`), delivered without it. A frame longer
/// than `max_frame` bytes (1..2^30) is `NC_EV_ERROR` with `NC_EMSGSIZE`, then
/// the connection closes. At EOF, trailing bytes without a delimiter are
/// delivered as a last frame. Returns 0 or `NC_EINVAL`, ... `delim` is copied
/// during the call. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_frame_delimited(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    delim: *const c_void,
    delim_len: usize,
    max_frame: usize,
) -> c_int {
    boundary! {
        let lp = try_loop!(r#loop);
        lp.set_framing(handle_arg(handle), Framing::delimited(try_bytes!(delim, delim_len), max_frame)?)
    }
}

/// Framing: one `NC_EV_DATA` per `size` bytes (1..2^30). Bytes of an
/// incomplete last frame at EOF are dropped. Returns 0 or a negative code.
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_frame_fixed(r#loop: *mut nc_loop, handle: nc_handle, size: usize) -> c_int {
    boundary! {
        let lp = try_loop!(r#loop);
        lp.set_framing(handle_arg(handle), Framing::fixed(size)?)
    }
}

/// Framing: each frame is a `header_bytes`-byte (1, 2 or 4) big-endian
/// length followed by that many bytes; `NC_EV_DATA` carries the payload
/// only. A length above `max_frame` (1..2^30) is `NC_EV_ERROR` with
/// `NC_EMSGSIZE`, then the connection closes (nothing of it is buffered).
/// Returns 0 or a negative code. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_frame_length_prefixed(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    header_bytes: c_int,
    max_frame: usize,
) -> c_int {
    boundary! {
        let lp = try_loop!(r#loop);
        let header_bytes = usize::try_from(header_bytes).map_err(|_| invalid!("header_bytes", "1, 2 or 4"))?;
        lp.set_framing(handle_arg(handle), Framing::length_prefixed(header_bytes, max_frame)?)
    }
}

/// Sets option `opt` (`NC_OPT_*`) to `value`, range-checked (see each
/// option). Returns 0, or `NC_EINVAL` (unknown option, value out of range),
/// `NC_EWRONGKIND` (e.g. a watermark on UDP), `NC_ENOTCONN` (a socket option
/// on a connection still connecting), `NC_EBADHANDLE`, ... Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_setopt(r#loop: *mut nc_loop, handle: nc_handle, opt: c_int, value: i64) -> c_int {
    boundary! { try_loop!(r#loop).set_option(handle_arg(handle), SockOption::parse_raw(opt)?, value) }
}

/// Reads option `opt` into `*value`. Returns 0 or a negative code as
/// `nc_setopt`. Writes `*value` only on success. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_getopt(r#loop: *mut nc_loop, handle: nc_handle, opt: c_int, value: *mut i64) -> c_int {
    boundary! {
        let (lp, out) = (try_loop!(r#loop), try_mut!(value));
        *out = lp.get_option(handle_arg(handle), SockOption::parse_raw(opt)?)?;
        Ok(())
    }
}

/// Stores a socket's local address in `*addr`. Returns 0, `NC_EINVAL`,
/// `NC_EBADHANDLE`, `NC_ENOTCONN` (a connection still resolving) or
/// `NC_EWRONGKIND` (a timer). Writes `*addr` only on success. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_local_addr(r#loop: *mut nc_loop, handle: nc_handle, addr: *mut nc_addr) -> c_int {
    boundary! {
        let (lp, out) = (try_loop!(r#loop), try_mut!(addr));
        *out = nc_addr::from_socket_addr(Some(lp.local_addr(handle_arg(handle))?));
        Ok(())
    }
}

/// Stores the peer address of a connection or connected UDP socket in
/// `*addr`. Returns 0, `NC_EINVAL`, `NC_EBADHANDLE`, `NC_ENOTCONN` or
/// `NC_EWRONGKIND` (a listener or a timer). Writes `*addr` only on success.
/// Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_peer_addr(r#loop: *mut nc_loop, handle: nc_handle, addr: *mut nc_addr) -> c_int {
    boundary! {
        let (lp, out) = (try_loop!(r#loop), try_mut!(addr));
        *out = nc_addr::from_socket_addr(Some(lp.peer_addr(handle_arg(handle))?));
        Ok(())
    }
}

/// Formats an address as `"ip:port"` or `"[ip6]:port"` into `buf` (`size`
/// bytes, NUL-terminated; `NC_ADDRSTRLEN` always suffices). An IPv6
/// address with a scope keeps it as a zone, `"[fe80::1%2]:port"`, which
/// `nc_addr_parse` and every function taking a host read back. Returns the
/// length without the NUL, `NC_EINVAL` (NULL, unknown family) or
/// `NC_ENOBUFS` (too small; nothing written). Any thread; needs no loop.
#[no_mangle]
pub unsafe extern "C" fn nc_addr_format(addr: *const nc_addr, buf: *mut c_char, size: usize) -> c_int {
    boundary! {
        let (addr, out) = (try_ref!(addr), try_slice_mut!(buf, size));
        unix::write_text(&addr.to_socket_addr()?.to_string(), out)
    }
}

/// Parses `host`, an IP literal (an IPv6 one in brackets or not, with an
/// optional zone as an interface index or name: `"fe80::1%2"`,
/// `"[fe80::1%eth0]"`) or `"localhost"`, and `port` (0..65535) into
/// `*addr`, as the functions that take a host and a port do; never
/// resolves a name. Returns 0 or `NC_EINVAL` (NULL, not a literal, unknown
/// interface, port out of range; `nc_last_error_detail` says which), and
/// then leaves `*addr` as it was. Any thread; needs no loop.
#[no_mangle]
pub unsafe extern "C" fn nc_addr_parse(host: *const c_char, port: c_int, addr: *mut nc_addr) -> c_int {
    boundary! {
        let (host, out) = (try_str!(host), try_mut!(addr));
        *out = nc_addr::from_socket_addr(Some(netcore_core::socket_addr(host, port as i64)?));
        Ok(())
    }
}

/// Sets the user data returned in the handle's events. netcore never
/// dereferences it. Returns 0 or `NC_EBADHANDLE`/`NC_EINVAL`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_set_userdata(r#loop: *mut nc_loop, handle: nc_handle, userdata: *mut c_void) -> c_int {
    boundary! { try_loop!(r#loop).set_userdata(handle_arg(handle), userdata_arg(userdata)) }
}

/// Stores the handle's user data in `*userdata`. Returns 0 or a negative
/// code. Writes `*userdata` only on success. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_get_userdata(r#loop: *mut nc_loop, handle: nc_handle, userdata: *mut *mut c_void) -> c_int {
    boundary! {
        let (lp, out) = (try_loop!(r#loop), try_mut!(userdata));
        *out = lp.userdata(handle_arg(handle))? as usize as *mut c_void;
        Ok(())
    }
}

/// Returns the kind of a live handle (`NC_KIND_*`; `nc_handle_kind_name`
/// names it), or `NC_EBADHANDLE`/`NC_EINVAL`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_handle_kind(r#loop: *mut nc_loop, handle: nc_handle) -> c_int {
    boundary! { Ok(try_loop!(r#loop).kind(handle_arg(handle))? as c_int) }
}

/// The errno-style name of a code, e.g. `"ECONNREFUSED"`, also for any
/// negated Linux errno value (e.g. `"ENOPROTOOPT"` from `nc_setsockopt`);
/// `"EUNKNOWN"` for other negative codes, `"OK"` for 0 and positive values. A static
/// string: never free it. Any thread.
#[no_mangle]
pub extern "C" fn nc_errname(code: c_int) -> *const c_char {
    boundary! { Ok(Error::from_code(code).map_or(c"OK", Error::name_cstr).as_ptr()) }
}

/// A short description of a code, e.g. `"connection refused"` (for a Linux
/// errno value netcore does not list, the C library's description, e.g.
/// `"protocol not available"`); `"unknown error"` for other negative codes.
/// A static string: never free it. Any thread.
#[no_mangle]
pub extern "C" fn nc_strerror(code: c_int) -> *const c_char {
    boundary! { Ok(Error::from_code(code).map_or(c"success", Error::message_cstr).as_ptr()) }
}

/// The name of an event kind (`NC_EV_*`), e.g. `"data"` for `NC_EV_DATA`:
/// the name Python and Node use too; `"unknown"` for any other number.
/// Returns a static string (never free it). Any thread.
#[no_mangle]
pub extern "C" fn nc_event_name(kind: c_int) -> *const c_char {
    boundary! { Ok(EventKind::from_raw(kind).map_or(UNKNOWN, EventKind::name_cstr).as_ptr()) }
}

/// The name of a handle kind (`NC_KIND_*`), e.g. `"tcp_connection"`, as
/// Python and Node name it; `"unknown"` for any other number. Returns a
/// static string (never free it). Any thread.
#[no_mangle]
pub extern "C" fn nc_handle_kind_name(kind: c_int) -> *const c_char {
    boundary! { Ok(HandleKind::from_raw(kind).map_or(UNKNOWN, HandleKind::name_cstr).as_ptr()) }
}

/// The name of an option (`NC_OPT_*`), e.g. `"nodelay"`, as Python and
/// Node name it; `"unknown"` for any other number. Returns a static string
/// (never free it). Any thread.
#[no_mangle]
pub extern "C" fn nc_option_name(opt: c_int) -> *const c_char {
    boundary! { Ok(SockOption::from_raw(opt).map_or(UNKNOWN, SockOption::name_cstr).as_ptr()) }
}

/// What the name functions return for a number no table has.
const UNKNOWN: &CStr = c"unknown";

/// The detail of the last error an `nc_*` call returned on the calling
/// thread: which argument was refused and what it must be, e.g.
/// `"port: expected 0 to 65535"`; `""` when that error carried no detail
/// (or no call failed yet). Like `errno`, a successful call leaves it as
/// it is: read it right after the call that failed. Returns a string the
/// library owns, valid until the next `nc_last_error_detail` on the same
/// thread. Any thread; each thread sees its own last error.
#[no_mangle]
pub extern "C" fn nc_last_error_detail() -> *const c_char {
    boundary! { Ok(boundary::last_error_detail()) }
}
