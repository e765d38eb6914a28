//! The C-visible types and constants.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void, CStr};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use netcore_core::{Error, Event, EventKind, HandleKind, Loop, SockOption};

use crate::boundary::invalid;

/// A handle: a positive integer naming a socket of one loop, below 2^53 (exact
/// in a double or a JavaScript number). Functions that create handles return
/// a negative `NC_E*` code instead on failure. A closed handle is never
/// reused for another socket, and a handle of one loop names nothing in
/// another while both are alive: both get `NC_EBADHANDLE`.
pub type nc_handle = i64;

/// An event loop. Created by `nc_loop_new`, destroyed by `nc_loop_free`.
pub struct nc_loop {
    pub(crate) inner: Loop,
}

/// No address (`nc_addr.family`).
pub const NC_AF_NONE: u16 = 0;
/// An IPv4 address (`nc_addr.family`): `ip[0..4]` holds it.
pub const NC_AF_INET: u16 = 4;
/// An IPv6 address (`nc_addr.family`): `ip` holds all 16 bytes.
pub const NC_AF_INET6: u16 = 6;
/// Buffer size that fits any address formatted by `nc_addr_format`, NUL included.
pub const NC_ADDRSTRLEN: usize = 64;

/// A socket address, plain data.
#[repr(C)]
#[derive(Copy, Clone, Default)]
pub struct nc_addr {
    /// `NC_AF_NONE`, `NC_AF_INET` or `NC_AF_INET6`.
    pub family: u16,
    /// Port in host byte order.
    pub port: u16,
    /// IPv6 scope id (0 for IPv4).
    pub scope_id: u32,
    /// Address bytes in network order (IPv4 uses the first 4).
    pub ip: [u8; 16],
}

impl nc_addr {
    /// `addr` in the C form (`NC_AF_NONE` for none).
    pub(crate) fn from_socket_addr(addr: Option<SocketAddr>) -> nc_addr {
        let mut out = nc_addr::default();
        if let Some(addr) = addr {
            out.fill(&addr);
        }
        out
    }

    /// Writes `addr` into this address, which is empty (`NC_AF_NONE`, all
    /// zero): in place, as a poll fills an event's, without building the
    /// address aside and copying it in. Kept out of line: most events carry
    /// no address, and converting one inline made every event of a poll pay
    /// for reading it.
    #[cold]
    #[inline(never)]
    pub(crate) fn fill(&mut self, addr: &SocketAddr) {
        match addr {
            SocketAddr::V4(a) => {
                self.family = NC_AF_INET;
                self.ip[..4].copy_from_slice(&a.ip().octets());
                self.port = a.port();
            }
            SocketAddr::V6(a) => {
                self.family = NC_AF_INET6;
                self.ip = a.ip().octets();
                self.port = a.port();
                self.scope_id = a.scope_id();
            }
        }
    }

    pub(crate) fn to_socket_addr(self) -> Result<SocketAddr, Error> {
        match self.family {
            NC_AF_INET => {
                let ip = Ipv4Addr::new(self.ip[0], self.ip[1], self.ip[2], self.ip[3]);
                Ok(SocketAddr::new(IpAddr::V4(ip), self.port))
            }
            NC_AF_INET6 => {
                let ip = Ipv6Addr::from(self.ip);
                Ok(SocketAddr::V6(SocketAddrV6::new(ip, self.port, 0, self.scope_id)))
            }
            _ => Err(invalid!("addr.family", "NC_AF_INET or NC_AF_INET6")),
        }
    }
}

/// One buffer of a gather send (`nc_sendv`).
#[repr(C)]
pub struct nc_buf {
    /// The bytes (may be NULL only when `len` is 0).
    pub data: *const c_void,
    /// Their number.
    pub len: usize,
}

/// One datagram of a batched send (`nc_send_batch`).
#[repr(C)]
pub struct nc_datagram {
    /// The bytes (may be NULL only when `len` is 0).
    pub data: *const c_void,
    /// Their number (0 sends an empty datagram).
    pub len: usize,
    /// The destination, e.g. a `NC_EV_DATAGRAM` event's `&ev->addr`; NULL:
    /// the socket's connected peer.
    pub to: *const nc_addr,
}

/// An event, filled in by `nc_poll` or passed to the `nc_run` callback.
#[repr(C)]
pub struct nc_event {
    /// What happened: one of `NC_EV_*`.
    pub kind: c_int,
    /// 0, or the negative `NC_E*` code for `NC_EV_CONNECT_FAILED`,
    /// `NC_EV_ERROR` and an abnormal `NC_EV_CLOSED`.
    pub error: c_int,
    /// The handle the event is about (for `NC_EV_ACCEPTED`: the new connection).
    pub handle: nc_handle,
    /// For `NC_EV_ACCEPTED`: the listener. Otherwise 0.
    pub listener: nc_handle,
    /// The handle's user data (an accepted connection starts with its listener's).
    pub userdata: *mut c_void,
    /// For `NC_EV_DATA` and `NC_EV_DATAGRAM`: the bytes, owned by the loop and
    /// valid until the next `nc_poll` on it (or until the `nc_run` callback
    /// returns). NULL when `len` is 0.
    pub data: *const u8,
    /// Number of bytes at `data`.
    pub len: usize,
    /// The peer (`NC_EV_ACCEPTED`, `NC_EV_CONNECTED`) or sender (`NC_EV_DATAGRAM`).
    pub addr: nc_addr,
    /// `NC_EV_SENT`: the token; `NC_EV_RECONNECTING`: the attempt number (1, 2, ...). Otherwise 0.
    pub value: u64,
    /// `NC_EV_DATAGRAM` on a Unix datagram socket: the sender's path,
    /// NUL-terminated (`"@name"` in the abstract namespace), valid as long
    /// as `data`; pass it to `nc_unix_send_to` to answer. NULL for an
    /// unnamed sender (which cannot be answered) and every other event.
    pub path: *const c_char,
}

impl nc_event {
    pub(crate) fn new(event: &Event, data: &[u8], path: Option<&CStr>) -> nc_event {
        let mut out = nc_event::without_origin(event, data.as_ptr(), data.len());
        out.set_origin(event.addr.as_ref(), path);
        out
    }

    /// The event with no address and no path: what most events are. Written
    /// whole before [`nc_event::set_origin`] adds the rare rest, so a poll
    /// copying many events keeps nothing live across that out-of-line call.
    #[inline(always)]
    pub(crate) fn without_origin(event: &Event, data: *const u8, len: usize) -> nc_event {
        nc_event {
            kind: event.kind as c_int,
            error: event.error.map_or(0, Error::code),
            handle: event.handle.raw(),
            listener: event.listener.map_or(0, |h| h.raw()),
            userdata: event.userdata as usize as *mut c_void,
            data: if len == 0 { std::ptr::null() } else { data },
            len,
            addr: nc_addr::default(),
            value: event.value,
            path: std::ptr::null(),
        }
    }

    /// Adds where the event came from: the peer's or sender's address, a
    /// Unix datagram sender's path.
    #[inline(always)]
    pub(crate) fn set_origin(&mut self, addr: Option<&SocketAddr>, path: Option<&CStr>) {
        if let Some(addr) = addr {
            self.addr.fill(addr);
        }
        if let Some(path) = path {
            self.path = path.as_ptr();
        }
    }
}

/// Called by `nc_run` for each event. `event` and its data are valid only
/// during the call. The callback may call any `nc_*` function except
/// `nc_poll`/`nc_run` on the same loop (they return `NC_EBUSY`) and
/// `nc_loop_free`.
pub type nc_event_cb = Option<unsafe extern "C" fn(r#loop: *mut nc_loop, event: *const nc_event, arg: *mut c_void)>;

/// Event kinds (`nc_event.kind`).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum nc_event_kind {
    /// A listener accepted a connection (`handle`: the new one, `listener`, `addr`: the peer).
    NC_EV_ACCEPTED = 1,
    /// An outgoing connection is established (`addr`: the peer).
    NC_EV_CONNECTED = 2,
    /// An outgoing connection failed after every address was tried (`error`); `NC_EV_CLOSED` follows.
    NC_EV_CONNECT_FAILED = 3,
    /// Bytes arrived (`data`, `len`): a chunk in stream mode, a whole frame otherwise.
    NC_EV_DATA = 4,
    /// The peer half-closed: no more data will arrive.
    NC_EV_EOF = 5,
    /// The send queue fell to its low-water mark after a send returned `NC_EAGAIN`.
    NC_EV_WRITABLE = 6,
    /// The handle is gone: the last event of every handle, exactly once;
    /// `error` is set when the end was abnormal. The handle is stale from now on.
    NC_EV_CLOSED = 7,
    /// A UDP datagram arrived (`data`, `len`; `addr`: the sender).
    NC_EV_DATAGRAM = 8,
    /// An error on the handle (`error`), e.g. `NC_EMSGSIZE` before the connection
    /// closes, or a descriptor shortage on a listener (it retries by itself).
    NC_EV_ERROR = 9,
    /// A timer expired (`userdata`: the timer's). A one-shot timer's `NC_EV_CLOSED` follows.
    NC_EV_TIMER = 10,
    /// A connection saw no successful read or write for its idle timeout
    /// (`nc_set_idle_timeout`); it fires again after each further timeout.
    NC_EV_IDLE = 11,
    /// The bytes of a `nc_sendv_token` send, or every byte sent before a
    /// `nc_notify_when_sent`, reached the kernel (`value`: the token).
    NC_EV_SENT = 12,
    /// An auto-reconnecting connection was lost or failed to connect and will
    /// try again (`value`: attempt number, `error`: why).
    NC_EV_RECONNECTING = 13,
    /// A listener's `nc_shutdown_server` is over; its `NC_EV_CLOSED` follows.
    NC_EV_SHUTDOWN_COMPLETE = 14,
    /// A connection's TLS handshake finished (exactly one `NC_EV_TLS_READY`
    /// or `NC_EV_TLS_FAILED` per handshake, after `nc_listener_set_tls`,
    /// `nc_start_tls_client` or `nc_start_tls_server`); `nc_tls_info` says
    /// what it negotiated. Data that came with the handshake's end follows.
    NC_EV_TLS_READY = 15,
    /// A connection's TLS handshake failed (`error`: an `NC_ETLS*` code;
    /// `nc_tls_failure` has the peer's alert and a description);
    /// `NC_EV_CLOSED` follows with the same error.
    NC_EV_TLS_FAILED = 16,
}

/// The last event kind: kinds are numbered 1 to `NC_EV_LAST`.
pub const NC_EV_LAST: c_int = 16;
/// The last option: options are numbered 1 to `NC_OPT_LAST`.
pub const NC_OPT_LAST: c_int = 11;
/// The last handle kind: kinds are numbered 1 to `NC_KIND_LAST`.
pub const NC_KIND_LAST: c_int = 4;
// The core's tables are numbered 1 to their length; the C enums mirror them
// (ffi/tests/vocabulary.rs checks each constant both ways).
const _: () = assert!(NC_EV_LAST as usize == EventKind::ALL.len() && EventKind::ALL[0] as c_int == 1);
const _: () = assert!(NC_OPT_LAST as usize == SockOption::ALL.len() && SockOption::ALL[0] as c_int == 1);
const _: () = assert!(NC_KIND_LAST as usize == HandleKind::ALL.len() && HandleKind::ALL[0] as c_int == 1);

/// `nc_connect_opts.family`: any address family (Happy Eyeballs between them).
pub const NC_FAMILY_ANY: c_int = 0;
/// `nc_connect_opts.family`: IPv4 only.
pub const NC_FAMILY_IPV4: c_int = 4;
/// `nc_connect_opts.family`: IPv6 only.
pub const NC_FAMILY_IPV6: c_int = 6;

/// The longest duration netcore honours, in milliseconds (100 years of 365
/// days). The one rule for every duration argument (`nc_timer_start`,
/// `nc_set_idle_timeout`, `nc_shutdown_server`, `nc_connect_opts`): a longer
/// one is accepted and means "never" (a timer that never fires, no idle
/// event, no connect timeout, a reconnect that never starts, a drain that is
/// never forced).
pub const NC_MAX_DURATION_MS: u64 = 3_153_600_000_000;
const _: () = assert!(NC_MAX_DURATION_MS as u128 == netcore_core::MAX_DURATION.as_millis());

/// Options for `nc_tcp_connect_ex`. Initialise it with
/// `NC_CONNECT_OPTS_INIT`, which sets `size` and leaves every other field 0
/// (the default), then set what you need: `struct nc_connect_opts opts =
/// NC_CONNECT_OPTS_INIT; opts.timeout_ms = 5000;`. The struct may gain
/// fields at its end in later versions; `size` tells the library which
/// version the program was built with.
#[repr(C)]
pub struct nc_connect_opts {
    /// `sizeof(struct nc_connect_opts)` as the program sees it (set by
    /// `NC_CONNECT_OPTS_INIT`). A smaller size, or a larger one whose extra
    /// bytes (fields this library does not know) are not all 0, is
    /// `NC_EINVAL`; so is a size above 4096.
    pub size: usize,
    /// Give up with `NC_ETIMEDOUT` after this many milliseconds, resolution
    /// and every attempt included (0 = no timeout).
    pub timeout_ms: u32,
    /// `NC_FAMILY_ANY`, `NC_FAMILY_IPV4` or `NC_FAMILY_IPV6`.
    pub family: c_int,
    /// Bind the client socket to this IP literal first (NULL or "" = any
    /// address) ...
    pub local_host: *const c_char,
    /// ... and this port (0 = any). A port without a host binds on the
    /// any-address of each attempt's family.
    pub local_port: c_int,
    /// Happy Eyeballs: start the next address after this many milliseconds
    /// while earlier attempts are still in flight (0 = 250 ms; max 60000).
    pub attempt_delay_ms: u32,
    /// Auto-reconnect delays in milliseconds (NULL/0 = no auto-reconnect): up
    /// to 8; the last repeats; the index resets after a successful connection.
    /// When the connection is lost (reset, EOF) or an attempt fails,
    /// `NC_EV_RECONNECTING` is reported instead of `NC_EV_CLOSED`; bytes
    /// still queued at the loss are dropped, bytes sent while reconnecting
    /// are queued (up to the high-water mark) and go out after `NC_EV_CONNECTED`.
    /// `nc_close` stops reconnecting.
    pub reconnect_ms: *const u32,
    /// Number of entries at `reconnect_ms`.
    pub reconnect_count: usize,
}

/// `nc_tcp_listen` / `nc_udp_bind` flag: set SO_REUSEPORT.
pub const NC_REUSEPORT: u32 = 1;
/// `nc_tcp_listen` / `nc_udp_bind` flag: an IPv6 socket accepts IPv6 only.
pub const NC_IPV6ONLY: u32 = 2;

/// Options for `nc_setopt` / `nc_getopt`.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum nc_option {
    /// Option (`nc_setopt`): TCP_NODELAY, 0 or 1. On by default.
    NC_OPT_NODELAY = 1,
    /// Option: TCP keepalive, 0 = off or the idle seconds before probes (1..32767).
    NC_OPT_KEEPALIVE = 2,
    /// Option: SO_RCVBUF in bytes (1..2^30); the kernel may round it.
    NC_OPT_RCVBUF = 3,
    /// Option: SO_SNDBUF in bytes (1..2^30); the kernel may round it.
    NC_OPT_SNDBUF = 4,
    /// Option: send-queue high-water mark in bytes on the wire (TLS record overhead included; 1..2^30, >= the low-water mark). Default 1 MiB.
    NC_OPT_HIGH_WATER = 5,
    /// Option: send-queue low-water mark in bytes (0..the high-water mark). Default 256 KiB.
    NC_OPT_LOW_WATER = 6,
    /// Option: SO_BROADCAST on a UDP socket, 0 or 1.
    NC_OPT_BROADCAST = 7,
    /// Option: SO_LINGER in seconds: -1 = off (default), 0 = reset on close, 1..32767.
    NC_OPT_LINGER = 8,
    /// Option: multicast loopback on a UDP socket, 0 or 1.
    NC_OPT_MULTICAST_LOOP = 9,
    /// Option: multicast TTL / hop limit on a UDP socket, 0..255.
    NC_OPT_MULTICAST_TTL = 10,
    /// Option: unicast TTL / hop limit (IP_TTL, IPV6_UNICAST_HOPS), 1..255.
    NC_OPT_TTL = 11,
}

/// What a handle names (`nc_handle_kind`).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum nc_kind {
    /// Handle kind (`nc_handle_kind`): a TCP listener.
    NC_KIND_TCP_LISTENER = 1,
    /// Handle kind: a TCP connection (accepted or outgoing).
    NC_KIND_TCP_CONNECTION = 2,
    /// Handle kind: a UDP socket.
    NC_KIND_UDP = 3,
    /// A timer.
    NC_KIND_TIMER = 4,
}
