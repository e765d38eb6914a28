//! Fuzz target `fuzz_c_api`: random sequences of C API calls with random
//! arguments, through the `extern "C"` functions themselves, against a live
//! loop with loopback peers (a listener, connections to it, a UDP socket,
//! timers) and a second, foreign loop.
//!
//! Handles are live, closing (closed by us, until the poll after the one
//! that delivered its `NC_EV_CLOSED`), stale (after that), foreign (the
//! other loop's) or junk; pointers NULL or valid; lengths 0, small and huge (never longer
//! than the buffer passed); durations 0, short and huge. Invariants:
//! - no call panics (`NC_EPANIC`) or crashes, and every error it returns
//!   has a name (`nc_errname`);
//! - a stale, foreign or junk handle is refused (`NC_EBADHANDLE`, or
//!   `NC_EINVAL` for a bad argument checked first) and acts on nothing;
//!   a closing handle gets `NC_ECLOSED` from every call but
//!   `nc_handle_kind` and `nc_get/set_userdata` (and `nc_close_reset`
//!   while a graceful close still flushes a connection); a handle whose `NC_EV_CLOSED`
//!   was not yet polled is never `NC_EBADHANDLE`; another loop refuses all
//!   of ours;
//! - a refused call on a live handle changes nothing we can read back (its
//!   kind, user data and options);
//! - every event names a handle the API handed out, `NC_EV_CLOSED` arrives
//!   exactly once per handle and nothing follows it, no `NC_EV_DATA` follows
//!   `nc_close_reset`; new handles are unique, positive and below 2^53;
//! - once everything is reset (and the other loop freed), every handle's
//!   `NC_EV_CLOSED` arrives.
//!
//! Only loopback addresses are ever sent to, and a name is only resolved
//! when it ends in `.invalid` (which fails without asking any server) or is
//! mapped by `nc_set_host_addresses`. `NETCORE_FUZZ_CASES` sets the number
//! of sequences (see `core/tests/common/fuzz.rs`).

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt::Debug;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use netcore::*;
use netcore_core::{Error, SockOption};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

#[path = "../../core/tests/common/fuzz.rs"]
mod fuzz;

/// Codes that mean "refused as asked": such a call must have changed nothing.
const REFUSALS: [Error; 9] = [
    Error::EINVAL,
    Error::EWRONGKIND,
    Error::EAGAIN,
    Error::EMSGSIZE,
    Error::ENOBUFS,
    Error::ENOTCONN,
    Error::ECLOSED,
    Error::EPIPE,
    Error::EBADHANDLE,
];
/// Calls that still answer on a closing handle: its kind and user data stay
/// readable (and the user data settable) until its `NC_EV_CLOSED` is delivered.
const IDENTITY_WHILE_CLOSING: [&str; 3] = ["nc_handle_kind", "nc_get_userdata", "nc_set_userdata"];
/// A code as the fuzz target compares return values (handles are `i64`).
fn code(error: Error) -> i64 {
    error.code() as i64
}
/// Largest handle value a JavaScript number holds exactly.
const MAX_EXACT: i64 = 1 << 53;
/// The largest buffer a call is given.
const HUGE: usize = (4 << 20) + 1;
const KIND_LISTENER: c_int = nc_kind::NC_KIND_TCP_LISTENER as c_int;
const KIND_TCP: c_int = nc_kind::NC_KIND_TCP_CONNECTION as c_int;
const KIND_UDP: c_int = nc_kind::NC_KIND_UDP as c_int;
const KIND_TIMER: c_int = nc_kind::NC_KIND_TIMER as c_int;
const EV_ACCEPTED: c_int = nc_event_kind::NC_EV_ACCEPTED as c_int;
const EV_CONNECTED: c_int = nc_event_kind::NC_EV_CONNECTED as c_int;
const EV_DATA: c_int = nc_event_kind::NC_EV_DATA as c_int;
const EV_CLOSED: c_int = nc_event_kind::NC_EV_CLOSED as c_int;
/// The name `nc_set_host_addresses` maps to loopback; under `.invalid`, so
/// that once unmapped it fails at once instead of asking a name server.
const PEER_NAME: &str = "peer.invalid";

// ---------------------------------------------------------------- arguments

/// Which handle a call gets.
#[derive(Debug, Clone)]
enum Target {
    Live(Index),
    Closing(Index),
    Stale(Index),
    Foreign(Index),
    /// 0, negative, beyond 2^53, or random.
    Junk(i64),
}

fn target() -> impl Strategy<Value = Target> {
    let junk = prop_oneof![
        Just(0i64),
        Just(-1i64),
        Just(i64::MIN),
        Just(i64::MAX),
        Just(MAX_EXACT),
        Just(MAX_EXACT + 1),
        -3010i64..0,
        any::<i64>()
    ];
    prop_oneof![
        8 => any::<Index>().prop_map(Target::Live),
        2 => any::<Index>().prop_map(Target::Closing),
        2 => any::<Index>().prop_map(Target::Stale),
        2 => any::<Index>().prop_map(Target::Foreign),
        2 => junk.prop_map(Target::Junk),
    ]
}

/// A byte buffer argument: NULL with a length, or a real buffer of `len` bytes.
#[derive(Debug, Clone, Copy)]
enum Bytes {
    Null(usize),
    Buf(usize),
}

fn bytes() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        1 => prop_oneof![Just(0usize), Just(1), Just(usize::MAX), any::<usize>()].prop_map(Bytes::Null),
        2 => Just(Bytes::Buf(0)),
        6 => (1usize..2048).prop_map(Bytes::Buf),
        2 => (2048usize..=1 << 20).prop_map(Bytes::Buf),
        1 => Just(Bytes::Buf(HUGE)),
    ]
}

/// A string argument as C sees it.
#[derive(Clone)]
enum Text {
    Null,
    /// The bytes before the NUL (never containing one).
    Bytes(Vec<u8>),
}

impl Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Text::Null => f.write_str("NULL"),
            Text::Bytes(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
        }
    }
}

impl Text {
    fn of(s: &str) -> Text {
        Text::Bytes(s.bytes().filter(|&b| b != 0).collect())
    }
}

/// Keeps a [`Text`]'s C string alive while a call runs.
struct CText(Option<CString>);

impl CText {
    fn new(text: &Text) -> CText {
        CText(match text {
            Text::Null => None,
            Text::Bytes(b) => Some(CString::new(b.clone()).expect("no NUL inside")),
        })
    }

    fn ptr(&self) -> *const c_char {
        self.0.as_ref().map_or(null(), |s| s.as_ptr())
    }
}

/// Hosts for calls that never resolve names (bind, listen, send_to,
/// udp_connect): loopback literals, and text that is no literal at all.
fn literal_host() -> impl Strategy<Value = Text> {
    prop_oneof![
        4 => prop_oneof![Just("127.0.0.1"), Just("localhost"), Just("LocalHost"), Just("::1"), Just("[::1]")]
            .prop_map(Text::of),
        2 => garbage_host(),
        1 => Just(Text::Null),
    ]
}

/// Text that can never be an IP literal: any string behind an `x`, invalid
/// UTF-8, empty, or longer than any host name.
fn garbage_host() -> impl Strategy<Value = Text> {
    prop_oneof![
        any::<String>().prop_map(|s| Text::of(&format!("x{s}"))),
        proptest::collection::vec(0x80u8..=0xff, 1..8).prop_map(Text::Bytes),
        Just(Text::of("")),
        (256usize..4096).prop_map(|n| Text::of(&"a".repeat(n))),
    ]
}

/// Hosts for connects: loopback, the mapped name, or names under
/// `.invalid`, which fail at once — no name server is ever asked.
fn connect_host() -> impl Strategy<Value = Text> {
    prop_oneof![
        4 => prop_oneof![Just("127.0.0.1"), Just("localhost"), Just("::1"), Just(PEER_NAME)].prop_map(Text::of),
        1 => any::<String>().prop_map(|s| Text::of(&format!("x{s}.invalid"))),
        1 => proptest::collection::vec(0x80u8..=0xff, 1..8).prop_map(Text::Bytes),
        1 => Just(Text::of("")),
        1 => Just(Text::Null),
    ]
}

/// A port: one of the world's own, or out of range. Never a random port
/// in range, which could be another program's.
#[derive(Debug, Clone, Copy)]
enum Port {
    Listener,
    Udp,
    Closed,
    ForeignListener,
    Zero,
    Bad(c_int),
}

fn port() -> impl Strategy<Value = Port> {
    let bad =
        prop_oneof![Just(-1), Just(65536), Just(c_int::MIN), Just(c_int::MAX), (65536..=c_int::MAX), (c_int::MIN..0)];
    prop_oneof![
        Just(Port::Listener),
        Just(Port::Udp),
        Just(Port::Closed),
        Just(Port::ForeignListener),
        Just(Port::Zero),
        bad.prop_map(Port::Bad),
    ]
}

/// Milliseconds: 0, short, at and beyond the longest honoured duration.
fn millis() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        1u64..=50,
        Just(NC_MAX_DURATION_MS),
        Just(NC_MAX_DURATION_MS + 1),
        Just(u64::MAX),
        any::<u64>()
    ]
}

/// Sizes around framing and read-size limits, and anywhere in `usize`.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..=16, Just(1 << 30), Just((1 << 30) + 1), Just(usize::MAX), 4096usize..=1 << 23, any::<usize>()]
}

#[derive(Debug, Clone)]
enum Frame {
    Stream,
    Delimited(Bytes, usize),
    Fixed(usize),
    LengthPrefixed(c_int, usize),
}

fn frame() -> impl Strategy<Value = Frame> {
    let delimiter = prop_oneof![(0usize..=10).prop_map(Bytes::Buf), Just(Bytes::Null(0)), Just(Bytes::Null(1))];
    prop_oneof![
        Just(Frame::Stream),
        (delimiter, size()).prop_map(|(d, max)| Frame::Delimited(d, max)),
        size().prop_map(Frame::Fixed),
        (prop_oneof![-1..=6, any::<c_int>()], size()).prop_map(|(h, max)| Frame::LengthPrefixed(h, max)),
    ]
}

/// Connect options as C fills them in.
#[derive(Debug, Clone)]
struct ConnectOpts {
    timeout_ms: u32,
    family: c_int,
    local_host: Text,
    local_port: Port,
    attempt_delay_ms: u32,
    reconnect: Vec<u32>,
    /// Pass NULL for `reconnect_ms` (with the count of `reconnect`).
    reconnect_null: bool,
}

fn connect_opts() -> impl Strategy<Value = Option<ConnectOpts>> {
    let u32s = || prop_oneof![Just(0u32), 1u32..100, Just(60_000), Just(60_001), Just(u32::MAX), any::<u32>()];
    let family = prop_oneof![Just(NC_FAMILY_ANY), Just(NC_FAMILY_IPV4), Just(NC_FAMILY_IPV6), any::<c_int>()];
    let local = prop_oneof![3 => Just(Text::Null), 1 => literal_host()];
    let local_port = prop_oneof![Just(Port::Zero), port()];
    let reconnect = proptest::collection::vec(u32s(), 0..=10);
    proptest::option::of(
        (u32s(), family, local, local_port, u32s(), reconnect, proptest::bool::weighted(0.1)).prop_map(
            |(timeout_ms, family, local_host, local_port, attempt_delay_ms, reconnect, reconnect_null)| ConnectOpts {
                timeout_ms,
                family,
                local_host,
                local_port,
                attempt_delay_ms,
                reconnect,
                reconnect_null,
            },
        ),
    )
}

/// A raw socket option: a few real ones and some that exist nowhere.
fn raw_option() -> impl Strategy<Value = (c_int, c_int)> {
    prop_oneof![
        Just((libc::SOL_SOCKET, libc::SO_RCVBUF)),
        Just((libc::SOL_SOCKET, libc::SO_KEEPALIVE)),
        Just((libc::SOL_SOCKET, libc::SO_ERROR)),
        Just((libc::IPPROTO_TCP, libc::TCP_NODELAY)),
        Just((-1, -1)),
        Just((12345, 1)),
        Just((libc::SOL_SOCKET, 99999)),
    ]
}

// ---------------------------------------------------------------- calls

/// One C API call (or a short fixed group of them).
#[derive(Debug, Clone)]
enum Call {
    Poll(usize),
    PollBadArgs(u8),
    /// `nc_run` until the first event (a 0 ms timer guarantees one).
    Run,
    Wake,
    LoopQueries,
    NullLoop,
    Listen {
        host: Text,
        port: Port,
        backlog: c_int,
        flags: u32,
    },
    UdpBind {
        host: Text,
        port: Port,
        flags: u32,
    },
    Connect {
        host: Text,
        port: Port,
        opts: Option<ConnectOpts>,
    },
    Timer {
        delay: u64,
        repeat: u64,
    },
    Send(Target, Bytes),
    Sendv(Target, Vec<Bytes>, Option<usize>, Option<u64>),
    SendTo(Target, Text, Port, Bytes),
    SendToAddr(Target, u16, Port, Bytes),
    UdpConnect(Target, Text, Port),
    Close(Target),
    CloseReset(Target),
    Shutdown(Target),
    Pause(Target),
    Resume(Target),
    Frame(Target, Frame),
    SetOpt(Target, c_int, i64),
    GetOpt(Target, c_int, bool),
    Addr(Target, bool, bool),
    AddrFormat(u16, [u8; 16], u32, u16, Option<usize>),
    SetUserdata(Target, usize),
    GetUserdata(Target, bool),
    Kind(Target),
    IdleTimeout(Target, u64),
    MaxConnections(Target, usize),
    ShutdownServer(Target, u64),
    ReadSize(usize),
    HostAddresses(Text, Vec<Text>, Option<usize>),
    Multicast(Target, Text, Text, c_int),
    SetSockOpt(Target, (c_int, c_int), Bytes),
    GetSockOpt(Target, (c_int, c_int), Bytes, bool),
    Fd(Target),
    Names(c_int),
    /// An operation on the other loop with one of this loop's handles.
    OnOtherLoop(Target, u8),
}

fn call() -> impl Strategy<Value = Call> {
    let t = target;
    // Option numbers: mostly real ones; values: mostly in some option's range.
    let last = SockOption::ALL.len() as c_int;
    let opt = move || prop_oneof![4 => 1..=last, 1 => -1..=last + 2, 1 => any::<c_int>()];
    let value = prop_oneof![
        4 => -1i64..=2,
        2 => 1i64..=1 << 20,
        1 => prop_oneof![Just(255i64), Just(256), Just(1 << 30), Just((1 << 30) + 1), Just(i64::MIN), Just(i64::MAX)],
        1 => any::<i64>()
    ];
    let multicast_group = prop_oneof![
        Just(Text::of("239.255.0.1")),
        Just(Text::of("ff02::1")),
        Just(Text::of("127.0.0.1")),
        garbage_host(),
        Just(Text::Null)
    ];
    // Loopback only ("1" is lo's index): a join never reaches a real network.
    let multicast_iface =
        prop_oneof![Just(Text::of("127.0.0.1")), Just(Text::of("1")), garbage_host(), Just(Text::Null)];
    // A count that does not match the array: 0, or above the limit (the
    // array then really has that many entries).
    let bad_count = proptest::option::weighted(0.1, prop_oneof![Just(0usize), Just(1025)]);
    let host_name = prop_oneof![3 => Just(Text::of(PEER_NAME)), 1 => garbage_host(), 1 => Just(Text::Null)];
    let host_address = prop_oneof![
        3 => prop_oneof![Just("127.0.0.1"), Just("::1"), Just("localhost")].prop_map(Text::of),
        1 => garbage_host(),
        1 => Just(Text::Null)
    ];
    let huge_count = prop_oneof![Just(65usize), Just(usize::MAX)];
    let set_value = prop_oneof![(0usize..=16).prop_map(Bytes::Buf), Just(Bytes::Null(0)), Just(Bytes::Null(4))];
    let get_room = prop_oneof![(0usize..=64).prop_map(Bytes::Buf), Just(Bytes::Null(8))];
    prop_oneof![
        8 => (1usize..=64).prop_map(Call::Poll),
        1 => any::<u8>().prop_map(Call::PollBadArgs),
        1 => Just(Call::Run),
        1 => Just(Call::Wake),
        1 => Just(Call::LoopQueries),
        1 => Just(Call::NullLoop),
        1 => (literal_host(), port(), prop_oneof![Just(0), Just(-1), any::<c_int>()], any::<u32>())
            .prop_map(|(host, port, backlog, flags)| Call::Listen { host, port, backlog, flags: flags & 7 }),
        1 => (literal_host(), port(), any::<u32>())
            .prop_map(|(host, port, flags)| Call::UdpBind { host, port, flags: flags & 7 }),
        3 => (connect_host(), port(), connect_opts()).prop_map(|(host, port, opts)| Call::Connect { host, port, opts }),
        2 => (millis(), millis()).prop_map(|(delay, repeat)| Call::Timer { delay, repeat }),
        6 => (t(), bytes()).prop_map(|(h, b)| Call::Send(h, b)),
        2 => (t(), proptest::collection::vec(bytes(), 0..4), bad_count, proptest::option::of(any::<u64>()))
            .prop_map(|(h, bufs, count, token)| Call::Sendv(h, bufs, count, token)),
        2 => (t(), literal_host(), port(), bytes()).prop_map(|(h, host, p, b)| Call::SendTo(h, host, p, b)),
        1 => (t(), prop_oneof![Just(0u16), Just(4), Just(6), any::<u16>()], port(), bytes())
            .prop_map(|(h, f, p, b)| Call::SendToAddr(h, f, p, b)),
        1 => (t(), literal_host(), port()).prop_map(|(h, host, p)| Call::UdpConnect(h, host, p)),
        3 => t().prop_map(Call::Close),
        2 => t().prop_map(Call::CloseReset),
        2 => t().prop_map(Call::Shutdown),
        2 => t().prop_map(Call::Pause),
        2 => t().prop_map(Call::Resume),
        2 => (t(), frame()).prop_map(|(h, f)| Call::Frame(h, f)),
        3 => (t(), opt(), value).prop_map(|(h, o, v)| Call::SetOpt(h, o, v)),
        2 => (t(), opt(), proptest::bool::weighted(0.1))
            .prop_map(|(h, o, null)| Call::GetOpt(h, o, null)),
        2 => (t(), any::<bool>(), proptest::bool::weighted(0.1)).prop_map(|(h, peer, null)| Call::Addr(h, peer, null)),
        1 => (any::<u16>(), any::<[u8; 16]>(), any::<u32>(), any::<u16>(), proptest::option::of(0usize..=80))
            .prop_map(|(f, ip, scope, p, size)| Call::AddrFormat(f, ip, scope, p, size)),
        1 => (t(), any::<usize>()).prop_map(|(h, u)| Call::SetUserdata(h, u)),
        1 => (t(), proptest::bool::weighted(0.1)).prop_map(|(h, null)| Call::GetUserdata(h, null)),
        2 => t().prop_map(Call::Kind),
        1 => (t(), millis()).prop_map(|(h, ms)| Call::IdleTimeout(h, ms)),
        1 => (t(), prop_oneof![Just(0usize), Just(1), Just(usize::MAX), any::<usize>()])
            .prop_map(|(h, max)| Call::MaxConnections(h, max)),
        1 => (t(), millis()).prop_map(|(h, ms)| Call::ShutdownServer(h, ms)),
        1 => size().prop_map(Call::ReadSize),
        1 => (host_name, proptest::collection::vec(host_address, 0..4), proptest::option::weighted(0.1, huge_count))
            .prop_map(|(name, addrs, count)| Call::HostAddresses(name, addrs, count)),
        1 => (t(), multicast_group, multicast_iface, any::<c_int>())
            .prop_map(|(h, g, i, j)| Call::Multicast(h, g, i, j)),
        1 => (t(), raw_option(), set_value)
            .prop_map(|(h, o, b)| Call::SetSockOpt(h, o, b)),
        1 => (t(), raw_option(), get_room, proptest::bool::weighted(0.1))
            .prop_map(|(h, o, b, null)| Call::GetSockOpt(h, o, b, null)),
        1 => t().prop_map(Call::Fd),
        1 => any::<c_int>().prop_map(Call::Names),
        2 => (t(), any::<u8>()).prop_map(|(h, a)| Call::OnOtherLoop(h, a)),
    ]
}

// ---------------------------------------------------------------- the world

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Life {
    Live,
    /// Closed by us; `NC_EV_CLOSED` not polled yet. `reset`: by `nc_close_reset`.
    Closing {
        reset: bool,
    },
    /// `NC_EV_CLOSED` polled: the handle is stale.
    Closed,
}

#[derive(Debug)]
struct Known {
    kind: c_int,
    life: Life,
}

/// What a handle value is to the loop under test.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Class {
    Live,
    Closing,
    Stale,
    Foreign,
    Unknown,
}

/// The metadata of an event (its bytes are not kept).
#[derive(Debug, Clone, Copy)]
struct Ev {
    kind: c_int,
    handle: nc_handle,
    listener: nc_handle,
}

impl Ev {
    fn of(e: &nc_event) -> Ev {
        Ev { kind: e.kind, handle: e.handle, listener: e.listener }
    }
}

fn fail<T>(message: String) -> Result<T, TestCaseError> {
    Err(TestCaseError::fail(message))
}

/// The loop under test, the foreign loop, and what we know of their handles.
struct World {
    a: *mut nc_loop,
    b: *mut nc_loop,
    known: BTreeMap<nc_handle, Known>,
    /// The other loop's handles and their kinds.
    foreign: Vec<(nc_handle, c_int)>,
    listener_port: c_int,
    udp_port: c_int,
    closed_port: c_int,
    foreign_port: c_int,
    /// Zeroed bytes that every buffer argument points into.
    zeros: Vec<u8>,
    /// Handles whose `NC_EV_CLOSED` the last poll handed out: `NC_ECLOSED`
    /// until the next poll, stale after.
    delivered: Vec<nc_handle>,
    /// Calls made (for the failure message).
    calls: usize,
}

impl Drop for World {
    fn drop(&mut self) {
        // SAFETY: both loops came from nc_loop_new and are freed once.
        unsafe {
            nc_loop_free(self.a);
            nc_loop_free(self.b);
        }
    }
}

fn local_port(lp: *mut nc_loop, handle: nc_handle) -> c_int {
    let mut addr = nc_addr::default();
    // SAFETY: a live loop and a writable address.
    assert_eq!(unsafe { nc_local_addr(lp, handle, &mut addr) }, 0, "a bound socket has an address");
    addr.port as c_int
}

/// A port nothing listens on: the kernel's pick, released at once.
fn closed_port() -> c_int {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address").port() as c_int
}

impl World {
    /// A loop with a listener, three connections to it (both ends), a UDP
    /// socket, a repeating and a one-shot timer; and a foreign loop with a
    /// listener, a UDP socket and a timer.
    fn new() -> Result<World, TestCaseError> {
        let mut w = World {
            a: nc_loop_new(),
            b: nc_loop_new(),
            known: BTreeMap::new(),
            foreign: Vec::new(),
            listener_port: 0,
            udp_port: 0,
            closed_port: closed_port(),
            foreign_port: 0,
            zeros: vec![0; HUGE],
            delivered: Vec::new(),
            calls: 0,
        };
        prop_assert!(!w.a.is_null() && !w.b.is_null(), "loops are created");
        let host = c"127.0.0.1".as_ptr();
        // SAFETY: live loops and valid strings.
        unsafe {
            let listener = nc_tcp_listen(w.a, host, 0, 0, 0, null_mut());
            w.created(listener, KIND_LISTENER)?;
            w.listener_port = local_port(w.a, listener);
            let udp = nc_udp_bind(w.a, host, 0, 0, null_mut());
            w.created(udp, KIND_UDP)?;
            w.udp_port = local_port(w.a, udp);
            w.created(nc_timer_start(w.a, 1, 7, null_mut()), KIND_TIMER)?;
            w.created(nc_timer_start(w.a, 3, 0, null_mut()), KIND_TIMER)?;
            let addrs = [c"127.0.0.1".as_ptr()];
            prop_assert_eq!(nc_set_host_addresses(w.a, c"peer.invalid".as_ptr(), addrs.as_ptr(), 1), 0);
            let clients: Vec<nc_handle> =
                (0..3).map(|_| nc_tcp_connect(w.a, host, w.listener_port, null_mut())).collect();
            for &c in &clients {
                w.created(c, KIND_TCP)?;
            }
            let foreign_listener = nc_tcp_listen(w.b, host, 0, 0, 0, null_mut());
            w.foreign_port = local_port(w.b, foreign_listener);
            w.foreign = vec![
                (foreign_listener, KIND_LISTENER),
                (nc_udp_bind(w.b, host, 0, 0, null_mut()), KIND_UDP),
                (nc_timer_start(w.b, 1, 5, null_mut()), KIND_TIMER),
            ];
            // Issue 10 item 1: a handle belongs to its loop, so the other
            // loop's handles are never numbers this loop uses too.
            for &(h, _) in &w.foreign {
                let ours = w.known.contains_key(&h);
                prop_assert!(h > 0 && !ours, "foreign handle {} is also one of ours", h);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut seen = Vec::new();
            while !clients.iter().all(|c| seen.iter().any(|e: &Ev| e.kind == EV_CONNECTED && e.handle == *c))
                || seen.iter().filter(|e| e.kind == EV_ACCEPTED).count() < clients.len()
            {
                prop_assert!(Instant::now() < deadline, "the connections are set up within 10 s: {:?}", seen);
                seen.extend(w.poll(64, 10)?);
            }
        }
        Ok(w)
    }

    fn handles(&self, class: Class) -> Vec<nc_handle> {
        self.known.iter().filter(|(h, _)| self.class(**h) == class).map(|(h, _)| *h).collect()
    }

    fn class(&self, h: nc_handle) -> Class {
        match self.known.get(&h).map(|k| k.life) {
            Some(Life::Live) => Class::Live,
            Some(Life::Closing { .. }) => Class::Closing,
            Some(Life::Closed) if self.delivered.contains(&h) => Class::Closing,
            Some(Life::Closed) => Class::Stale,
            None if self.foreign.iter().any(|(f, _)| *f == h) => Class::Foreign,
            None => Class::Unknown,
        }
    }

    /// The handle value a call gets (a junk value when the class is empty).
    fn resolve(&self, target: &Target) -> nc_handle {
        let pick = |list: Vec<nc_handle>, at: &Index| if list.is_empty() { 0 } else { list[at.index(list.len())] };
        match target {
            Target::Live(at) => pick(self.handles(Class::Live), at),
            Target::Closing(at) => pick(self.handles(Class::Closing), at),
            Target::Stale(at) => pick(self.handles(Class::Stale), at),
            Target::Foreign(at) => pick(self.foreign.iter().map(|f| f.0).collect(), at),
            Target::Junk(value) => *value,
        }
    }

    /// What can be read back about a handle without changing it: its kind,
    /// user data and every option but the buffer sizes (which the kernel
    /// retunes by itself).
    fn snapshot(&self, h: nc_handle) -> Vec<i64> {
        let mut userdata = null_mut();
        // SAFETY: a live loop and writable outputs.
        unsafe {
            let mut out = vec![nc_handle_kind(self.a, h) as i64, nc_get_userdata(self.a, h, &mut userdata) as i64];
            out.push(userdata as usize as i64);
            for opt in [1, 2, 5, 6, 7, 8, 9, 10] {
                let mut value = i64::MIN;
                out.push(nc_getopt(self.a, h, opt, &mut value) as i64);
                out.push(value);
            }
            out
        }
    }

    /// Runs `f` on handle `target` and checks the status it returns against
    /// the handle's class; a refused call on a live handle must leave the
    /// snapshot unchanged.
    fn on_handle(
        &mut self,
        what: &str,
        target: &Target,
        f: impl FnOnce(&World, nc_handle) -> i64,
    ) -> Result<(nc_handle, i64), TestCaseError> {
        let h = self.resolve(target);
        let class = self.class(h);
        let before = (class == Class::Live).then(|| self.snapshot(h));
        let flushing =
            self.known.get(&h).is_some_and(|k| k.kind == KIND_TCP && k.life == Life::Closing { reset: false });
        let foreign_before = self.foreign_kinds();
        let rc = f(self, h);
        self.calls += 1;
        let refused = REFUSALS.iter().any(|&e| code(e) == rc);
        let ok = match class {
            Class::Live => rc != code(Error::EBADHANDLE),
            // A reset still ends a graceful close that waits for its peer.
            Class::Closing if flushing && what == "nc_close_reset" => rc == 0 || rc == code(Error::ECLOSED),
            Class::Closing => {
                [code(Error::ECLOSED), code(Error::EINVAL), code(Error::EWRONGKIND)].contains(&rc)
                    || (rc >= 0 && IDENTITY_WHILE_CLOSING.contains(&what))
            }
            Class::Stale | Class::Foreign | Class::Unknown => {
                rc == code(Error::EBADHANDLE) || rc == code(Error::EINVAL)
            }
        };
        check_code(what, rc)?;
        if !ok {
            return fail(format!("{what} on {class:?} handle {h} returned {} ({rc})", name(rc)));
        }
        if let (Some(before), true) = (before, refused) {
            let after = self.snapshot(h);
            prop_assert_eq!(before, after, "{} on handle {} was refused ({}) but changed it", what, h, name(rc));
        }
        prop_assert_eq!(self.foreign_kinds(), foreign_before, "{} on handle {} changed the other loop", what, h);
        Ok((h, rc))
    }

    fn foreign_kinds(&self) -> Vec<c_int> {
        // SAFETY: a live loop.
        self.foreign.iter().map(|&(h, _)| unsafe { nc_handle_kind(self.b, h) }).collect()
    }

    /// Records a handle a call returned (`rc`), checking it is new.
    fn created(&mut self, rc: i64, kind: c_int) -> Result<(), TestCaseError> {
        self.calls += 1;
        check_code("a creating call", rc)?;
        prop_assert!(rc != 0, "a creating call returned 0");
        if rc < 0 {
            return Ok(());
        }
        prop_assert!(rc < MAX_EXACT, "handle {} is not exact in a JavaScript number", rc);
        prop_assert!(!self.known.contains_key(&rc), "handle {} was handed out twice", rc);
        // SAFETY: a live loop.
        prop_assert_eq!(unsafe { nc_handle_kind(self.a, rc) }, kind, "new handle {} has its kind", rc);
        self.known.insert(rc, Known { kind, life: Life::Live });
        Ok(())
    }

    /// Checks one delivered event against the model and updates it.
    fn take(&mut self, e: Ev) -> Result<(), TestCaseError> {
        if e.kind == EV_ACCEPTED {
            let listener = self.known.get(&e.listener).map(|k| k.kind);
            prop_assert_eq!(listener, Some(KIND_LISTENER), "accepted by {} which is no listener of ours", e.listener);
            prop_assert!(e.handle > 0 && e.handle < MAX_EXACT, "accepted handle {}", e.handle);
            prop_assert!(!self.known.contains_key(&e.handle), "accepted handle {} was handed out before", e.handle);
            self.known.insert(e.handle, Known { kind: KIND_TCP, life: Life::Live });
            return Ok(());
        }
        let Some(known) = self.known.get_mut(&e.handle) else {
            return fail(format!("event {} for handle {} that was never handed out", event_name(e.kind), e.handle));
        };
        match known.life {
            Life::Closed => {
                return fail(format!("event {} for handle {} after its closed", event_name(e.kind), e.handle))
            }
            Life::Closing { reset: true } if e.kind == EV_DATA => {
                return fail(format!("data for handle {} after nc_close_reset returned", e.handle))
            }
            _ => {}
        }
        if e.kind == EV_CLOSED {
            known.life = Life::Closed;
            self.delivered.push(e.handle);
        }
        Ok(())
    }

    fn poll(&mut self, max: usize, timeout_ms: c_int) -> Result<Vec<Ev>, TestCaseError> {
        // SAFETY: an all-zero nc_event is valid (integers and NULL pointers).
        let mut events: Vec<nc_event> = (0..max).map(|_| unsafe { std::mem::zeroed() }).collect();
        self.delivered.clear();
        // SAFETY: a live loop and room for `max` events.
        let n = unsafe { nc_poll(self.a, events.as_mut_ptr(), max, timeout_ms) };
        self.calls += 1;
        prop_assert!(n >= 0 && n as usize <= max, "nc_poll returned {}", n);
        let got: Vec<Ev> = events[..n as usize].iter().map(Ev::of).collect();
        for &e in &got {
            self.take(e)?;
        }
        Ok(got)
    }

    fn port(&self, port: Port) -> c_int {
        match port {
            Port::Listener => self.listener_port,
            Port::Udp => self.udp_port,
            Port::Closed => self.closed_port,
            Port::ForeignListener => self.foreign_port,
            Port::Zero => 0,
            Port::Bad(p) => p,
        }
    }

    /// The pointer and length a [`Bytes`] argument passes.
    fn bytes(&self, b: Bytes) -> (*const c_void, usize) {
        match b {
            Bytes::Null(len) => (null(), len),
            Bytes::Buf(len) => (self.zeros[..len].as_ptr() as *const c_void, len),
        }
    }

    /// A graceful or reset close that succeeded: the handle is closing.
    fn closing(&mut self, h: nc_handle, rc: i64, reset: bool) {
        if let Some(known) = self.known.get_mut(&h).filter(|k| rc == 0 && k.life == Life::Live) {
            known.life = Life::Closing { reset };
        }
    }

    /// Closes every handle and polls until each one's `NC_EV_CLOSED` arrived.
    /// The other loop goes first: a graceful close of a connection to its
    /// listener (which never accepts) would wait for ever to flush; gone,
    /// the listener resets them.
    fn finish(&mut self) -> Result<(), TestCaseError> {
        // SAFETY: the other loop is freed once (Drop then gets NULL).
        unsafe { nc_loop_free(std::mem::replace(&mut self.b, null_mut())) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // A graceful close waits for the peer to read everything queued;
            // two of our connections closing gracefully, each with a full
            // queue for the other, would wait for ever: reset those too.
            let graceful = self.known.iter().filter(|(_, k)| k.life == Life::Closing { reset: false });
            let open: Vec<nc_handle> = graceful.map(|(h, _)| *h).chain(self.handles(Class::Live)).collect();
            for h in open {
                // SAFETY: a live loop.
                let rc = unsafe { nc_close_reset(self.a, h) } as i64;
                self.calls += 1;
                prop_assert!(rc == 0 || rc == code(Error::ECLOSED), "resetting handle {} at the end: {}", h, name(rc));
                if rc == 0 {
                    self.known.entry(h).and_modify(|k| k.life = Life::Closing { reset: true });
                }
            }
            let open: Vec<(nc_handle, c_int)> =
                self.known.iter().filter(|(_, k)| k.life != Life::Closed).map(|(h, k)| (*h, k.kind)).collect();
            if open.is_empty() {
                return Ok(());
            }
            prop_assert!(Instant::now() < deadline, "no closed within 10 s for (handle, kind) {:?}", open);
            self.poll(64, 10)?;
        }
    }

    fn step(&mut self, call: &Call) -> Result<(), TestCaseError> {
        let (a, b) = (self.a, self.b);
        // SAFETY (every block below): live loops; every pointer is NULL or
        // valid for the length passed with it.
        match call {
            Call::Poll(max) => {
                self.poll(*max, 0)?;
            }
            Call::PollBadArgs(which) => {
                let mut event: nc_event = unsafe { std::mem::zeroed() };
                let rc = match which % 3 {
                    0 => unsafe { nc_poll(a, null_mut(), 4, 0) },
                    1 => unsafe { nc_poll(a, &mut event, 0, 0) },
                    _ => unsafe { nc_poll(a, &mut event, 1, -2) },
                };
                prop_assert_eq!(rc as i64, code(Error::EINVAL), "nc_poll with a bad argument");
            }
            Call::Run => {
                let timer = unsafe { nc_timer_start(a, 0, 0, null_mut()) };
                self.created(timer, KIND_TIMER)?;
                let mut got: Vec<Ev> = Vec::new();
                self.delivered.clear();
                let rc = unsafe { nc_run(a, Some(collect_and_stop), &mut got as *mut Vec<Ev> as *mut c_void) };
                prop_assert_eq!(rc, 0, "nc_run");
                prop_assert!(!got.is_empty(), "nc_run returned without an event");
                for e in got {
                    self.take(e)?;
                }
            }
            Call::Wake => prop_assert_eq!(unsafe { nc_wake(a) }, 0),
            Call::LoopQueries => {
                prop_assert!(unsafe { nc_loop_fd(a) } >= 0, "nc_loop_fd");
                prop_assert!(unsafe { nc_next_timeout(a) } >= -1, "nc_next_timeout");
                let version = unsafe { CStr::from_ptr(nc_version()) };
                prop_assert!(!version.is_empty(), "nc_version");
            }
            Call::NullLoop => check_null_loop()?,
            Call::Listen { host, port, backlog, flags } => {
                let host = CText::new(host);
                let rc = unsafe { nc_tcp_listen(a, host.ptr(), self.port(*port), *backlog, *flags, null_mut()) };
                self.created(rc, KIND_LISTENER)?;
            }
            Call::UdpBind { host, port, flags } => {
                let host = CText::new(host);
                let rc = unsafe { nc_udp_bind(a, host.ptr(), self.port(*port), *flags, null_mut()) };
                self.created(rc, KIND_UDP)?;
            }
            Call::Connect { host, port, opts } => {
                let host = CText::new(host);
                let port = self.port(*port);
                let rc = match opts {
                    None => unsafe { nc_tcp_connect(a, host.ptr(), port, null_mut()) },
                    Some(o) => {
                        let local = CText::new(&o.local_host);
                        let c = nc_connect_opts {
                            size: size_of::<nc_connect_opts>(),
                            timeout_ms: o.timeout_ms,
                            family: o.family,
                            local_host: local.ptr(),
                            local_port: self.port(o.local_port),
                            attempt_delay_ms: o.attempt_delay_ms,
                            reconnect_ms: if o.reconnect_null { null() } else { o.reconnect.as_ptr() },
                            reconnect_count: o.reconnect.len(),
                        };
                        unsafe { nc_tcp_connect_ex(a, host.ptr(), port, &c, null_mut()) }
                    }
                };
                self.created(rc, KIND_TCP)?;
            }
            Call::Timer { delay, repeat } => {
                let rc = unsafe { nc_timer_start(a, *delay, *repeat, null_mut()) };
                self.created(rc, KIND_TIMER)?;
            }
            Call::Send(t, data) => {
                let (p, len) = self.bytes(*data);
                self.on_handle("nc_send", t, |w, h| unsafe { nc_send(w.a, h, p, len) } as i64)?;
            }
            Call::Sendv(t, bufs, count, token) => {
                let mut list: Vec<nc_buf> = bufs
                    .iter()
                    .map(|&b| {
                        let (data, len) = self.bytes(b);
                        nc_buf { data, len }
                    })
                    .collect();
                let count = match count {
                    Some(1025) => {
                        list.resize_with(1025, || nc_buf { data: null(), len: 0 });
                        1025
                    }
                    Some(n) => *n,
                    None => list.len(),
                };
                let ptr = if list.is_empty() { null() } else { list.as_ptr() };
                self.on_handle("nc_sendv", t, |w, h| match token {
                    None => (unsafe { nc_sendv(w.a, h, ptr, count) }) as i64,
                    Some(token) => (unsafe { nc_sendv_token(w.a, h, ptr, count, *token) }) as i64,
                })?;
            }
            Call::SendTo(t, host, port, data) => {
                let (host, port, (p, len)) = (CText::new(host), self.port(*port), self.bytes(*data));
                self.on_handle("nc_send_to", t, |w, h| unsafe { nc_send_to(w.a, h, host.ptr(), port, p, len) } as i64)?;
            }
            Call::SendToAddr(t, family, port, data) => {
                let addr = loopback_addr(*family, self.port(*port));
                let (p, len) = self.bytes(*data);
                self.on_handle("nc_send_to_addr", t, |w, h| unsafe { nc_send_to_addr(w.a, h, &addr, p, len) } as i64)?;
            }
            Call::UdpConnect(t, host, port) => {
                let (host, port) = (CText::new(host), self.port(*port));
                self.on_handle("nc_udp_connect", t, |w, h| unsafe { nc_udp_connect(w.a, h, host.ptr(), port) } as i64)?;
            }
            Call::Close(t) => {
                let (h, rc) = self.on_handle("nc_close", t, |w, h| unsafe { nc_close(w.a, h) } as i64)?;
                self.closing(h, rc, false);
            }
            Call::CloseReset(t) => {
                let (h, rc) = self.on_handle("nc_close_reset", t, |w, h| unsafe { nc_close_reset(w.a, h) } as i64)?;
                self.closing(h, rc, true);
            }
            Call::Shutdown(t) => {
                self.on_handle("nc_shutdown", t, |w, h| unsafe { nc_shutdown(w.a, h) } as i64)?;
            }
            Call::Pause(t) => {
                self.on_handle("nc_pause", t, |w, h| unsafe { nc_pause(w.a, h) } as i64)?;
            }
            Call::Resume(t) => {
                self.on_handle("nc_resume", t, |w, h| unsafe { nc_resume(w.a, h) } as i64)?;
            }
            Call::Frame(t, frame) => {
                let frame = frame.clone();
                self.on_handle("nc_frame_*", t, |w, h| {
                    (match frame {
                        Frame::Stream => unsafe { nc_frame_stream(w.a, h) },
                        Frame::Delimited(d, max) => {
                            let (p, len) = w.bytes(d);
                            unsafe { nc_frame_delimited(w.a, h, p, len, max) }
                        }
                        Frame::Fixed(size) => unsafe { nc_frame_fixed(w.a, h, size) },
                        Frame::LengthPrefixed(header, max) => unsafe { nc_frame_length_prefixed(w.a, h, header, max) },
                    }) as i64
                })?;
            }
            Call::SetOpt(t, opt, value) => {
                self.on_handle("nc_setopt", t, |w, h| unsafe { nc_setopt(w.a, h, *opt, *value) } as i64)?;
            }
            Call::GetOpt(t, opt, null_out) => {
                let mut value = 0i64;
                let out = if *null_out { null_mut() } else { &mut value as *mut i64 };
                self.on_handle("nc_getopt", t, |w, h| unsafe { nc_getopt(w.a, h, *opt, out) } as i64)?;
            }
            Call::Addr(t, peer, null_out) => {
                let mut addr = nc_addr::default();
                let out = if *null_out { null_mut() } else { &mut addr as *mut nc_addr };
                let (_, rc) = self.on_handle("nc_local_addr/nc_peer_addr", t, |w, h| {
                    (if *peer { unsafe { nc_peer_addr(w.a, h, out) } } else { unsafe { nc_local_addr(w.a, h, out) } })
                        as i64
                })?;
                if rc == 0 {
                    prop_assert!(matches!(addr.family, NC_AF_INET | NC_AF_INET6), "address family {}", addr.family);
                }
            }
            Call::AddrFormat(family, ip, scope_id, port, size) => {
                let addr = nc_addr { family: *family, port: *port, scope_id: *scope_id, ip: *ip };
                check_addr_format(&addr, *size)?;
            }
            Call::SetUserdata(t, value) => {
                let value = *value as *mut c_void;
                let (h, rc) =
                    self.on_handle("nc_set_userdata", t, |w, h| unsafe { nc_set_userdata(w.a, h, value) } as i64)?;
                if rc == 0 {
                    let mut read = null_mut();
                    prop_assert_eq!(unsafe { nc_get_userdata(a, h, &mut read) }, 0);
                    prop_assert_eq!(read, value, "user data reads back");
                }
            }
            Call::GetUserdata(t, null_out) => {
                let mut value = null_mut();
                let out = if *null_out { null_mut() } else { &mut value as *mut *mut c_void };
                self.on_handle("nc_get_userdata", t, |w, h| unsafe { nc_get_userdata(w.a, h, out) } as i64)?;
            }
            Call::Kind(t) => {
                let (h, rc) = self.on_handle("nc_handle_kind", t, |w, h| unsafe { nc_handle_kind(w.a, h) } as i64)?;
                if let (Some(known), true) = (self.known.get(&h), rc > 0) {
                    prop_assert_eq!(rc, known.kind as i64, "handle {} keeps its kind", h);
                }
            }
            Call::IdleTimeout(t, ms) => {
                self.on_handle("nc_set_idle_timeout", t, |w, h| unsafe { nc_set_idle_timeout(w.a, h, *ms) } as i64)?;
            }
            Call::MaxConnections(t, max) => {
                self.on_handle("nc_set_max_connections", t, |w, h| unsafe { nc_set_max_connections(w.a, h, *max) }
                    as i64)?;
            }
            Call::ShutdownServer(t, ms) => {
                self.on_handle("nc_shutdown_server", t, |w, h| unsafe { nc_shutdown_server(w.a, h, *ms) } as i64)?;
            }
            Call::ReadSize(bytes) => {
                let rc = unsafe { nc_set_read_size(a, *bytes) } as i64;
                let valid = (4096..=4 << 20).contains(bytes);
                prop_assert_eq!(rc, if valid { 0 } else { code(Error::EINVAL) }, "nc_set_read_size({})", bytes);
            }
            Call::HostAddresses(host_name, addrs, count) => {
                let host = CText::new(host_name);
                let texts: Vec<CText> = addrs.iter().map(CText::new).collect();
                let ptrs: Vec<*const c_char> = texts.iter().map(CText::ptr).collect();
                // A count beyond the array only with a NULL array.
                let (ptr, count) = match count {
                    Some(n) => (null(), *n),
                    None => (if ptrs.is_empty() { null() } else { ptrs.as_ptr() }, ptrs.len()),
                };
                let rc = unsafe { nc_set_host_addresses(a, host.ptr(), ptr, count) } as i64;
                prop_assert!(rc == 0 || rc == code(Error::EINVAL), "nc_set_host_addresses: {}", name(rc));
            }
            Call::Multicast(t, group, iface, join) => {
                let (group, iface) = (CText::new(group), CText::new(iface));
                self.on_handle("nc_udp_multicast", t, |w, h| {
                    (unsafe { nc_udp_multicast(w.a, h, group.ptr(), iface.ptr(), *join) }) as i64
                })?;
            }
            Call::SetSockOpt(t, (level, opt), value) => {
                let (p, len) = self.bytes(*value);
                self.on_handle("nc_setsockopt", t, |w, h| unsafe { nc_setsockopt(w.a, h, *level, *opt, p, len) }
                    as i64)?;
            }
            Call::GetSockOpt(t, (level, opt), value, null_len) => {
                // Its own buffer: the call writes into it.
                let (mut buf, null_value) = match *value {
                    Bytes::Buf(len) => (vec![0u8; len], false),
                    Bytes::Null(len) => (vec![0u8; len], true),
                };
                let room = buf.len();
                let p = if null_value { null_mut() } else { buf.as_mut_ptr() as *mut c_void };
                let mut len = room;
                let len_ptr = if *null_len { null_mut() } else { &mut len as *mut usize };
                let (_, rc) = self.on_handle("nc_getsockopt", t, |w, h| {
                    (unsafe { nc_getsockopt(w.a, h, *level, *opt, p, len_ptr) }) as i64
                })?;
                if rc == 0 {
                    prop_assert!(len <= room, "nc_getsockopt wrote {} bytes into {}", len, room);
                }
            }
            Call::Fd(t) => {
                self.on_handle("nc_fd", t, |w, h| unsafe { nc_fd(w.a, h) } as i64)?;
            }
            Call::Names(code) => {
                for text in [nc_errname(*code), nc_strerror(*code), nc_event_name(*code)] {
                    prop_assert!(!text.is_null(), "a name for {}", code);
                    let text = unsafe { CStr::from_ptr(text) };
                    prop_assert!(!text.is_empty(), "a name for {}", code);
                }
            }
            Call::OnOtherLoop(t, action) => {
                let h = self.resolve(t);
                let ours = self.class(h);
                let before = self.known.get(&h).map(|_| self.snapshot(h));
                let foreign_before = self.foreign_kinds();
                let rc = match action % 4 {
                    0 => unsafe { nc_close(b, h) },
                    1 => unsafe { nc_close_reset(b, h) },
                    2 => unsafe { nc_send(b, h, self.zeros.as_ptr() as *const c_void, 1) },
                    _ => unsafe { nc_handle_kind(b, h) },
                } as i64;
                self.calls += 1;
                // Issue 10 item 1: the other loop knows none of our handles.
                if ours != Class::Foreign {
                    prop_assert_eq!(rc, code(Error::EBADHANDLE), "the other loop acted on our {:?} handle {}", ours, h);
                    prop_assert_eq!(self.foreign_kinds(), foreign_before, "the other loop's handles are unchanged");
                    if let Some(before) = before {
                        prop_assert_eq!(self.snapshot(h), before, "our handle {} is unchanged", h);
                    }
                }
            }
        }
        Ok(())
    }
}

/// `nc_run` callback: records the event and stops the run.
unsafe extern "C" fn collect_and_stop(lp: *mut nc_loop, event: *const nc_event, arg: *mut c_void) {
    // SAFETY: `arg` is the Vec<Ev> nc_run was given; `event` is valid during the call.
    unsafe {
        (*(arg as *mut Vec<Ev>)).push(Ev::of(&*event));
        nc_stop(lp);
    }
}

/// A loopback address of the given family (an unknown family keeps the
/// bytes of 127.0.0.1): datagrams never leave the machine.
fn loopback_addr(family: u16, port: c_int) -> nc_addr {
    let mut ip = [0u8; 16];
    if family == NC_AF_INET6 {
        ip[15] = 1;
    } else {
        ip[..4].copy_from_slice(&[127, 0, 0, 1]);
    }
    nc_addr { family, port: port as u16, scope_id: 0, ip }
}

/// `nc_addr_format` into a buffer of `size` bytes (None: NULL): the text
/// fits, is NUL-terminated and parses back to the address.
fn check_addr_format(addr: &nc_addr, size: Option<usize>) -> Result<(), TestCaseError> {
    let mut buf = vec![0x55u8; size.unwrap_or(0)];
    let ptr = if size.is_some() { buf.as_mut_ptr() as *mut c_char } else { null_mut() };
    // SAFETY: `buf` has `size` writable bytes.
    let rc = unsafe { nc_addr_format(addr, ptr, buf.len()) };
    let known_family = matches!(addr.family, NC_AF_INET | NC_AF_INET6);
    if size.is_none() || !known_family {
        prop_assert_eq!(rc as i64, code(Error::EINVAL), "nc_addr_format without a buffer or family");
        return Ok(());
    }
    if rc == Error::ENOBUFS.code() {
        prop_assert!(buf.iter().all(|&b| b == 0x55), "nothing written when the buffer is too small");
        return Ok(());
    }
    prop_assert!(rc >= 0 && (rc as usize) < buf.len() && buf[rc as usize] == 0, "nc_addr_format returned {}", rc);
    let text = std::str::from_utf8(&buf[..rc as usize]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let parsed: std::net::SocketAddr = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
    prop_assert_eq!(parsed.port(), addr.port);
    Ok(())
}

/// Every function that takes a loop refuses NULL with `NC_EINVAL`.
fn check_null_loop() -> Result<(), TestCaseError> {
    let lp = null_mut();
    let host = c"127.0.0.1".as_ptr();
    let mut event: nc_event = unsafe { std::mem::zeroed() };
    let mut value = 0i64;
    // SAFETY: NULL loops and valid other arguments.
    let codes: Vec<(&str, i64)> = unsafe {
        vec![
            ("nc_poll", nc_poll(lp, &mut event, 1, 0) as i64),
            ("nc_run", nc_run(lp, Some(collect_and_stop), null_mut()) as i64),
            ("nc_stop", nc_stop(lp) as i64),
            ("nc_wake", nc_wake(lp) as i64),
            ("nc_loop_fd", nc_loop_fd(lp) as i64),
            ("nc_next_timeout", nc_next_timeout(lp) as i64),
            ("nc_tcp_listen", nc_tcp_listen(lp, host, 0, 0, 0, null_mut())),
            ("nc_tcp_connect", nc_tcp_connect(lp, host, 1, null_mut())),
            ("nc_udp_bind", nc_udp_bind(lp, host, 0, 0, null_mut())),
            ("nc_timer_start", nc_timer_start(lp, 1, 0, null_mut())),
            ("nc_send", nc_send(lp, 1, host as *const c_void, 1) as i64),
            ("nc_close", nc_close(lp, 1) as i64),
            ("nc_close_reset", nc_close_reset(lp, 1) as i64),
            ("nc_close_abort", nc_close_abort(lp, 1) as i64),
            ("nc_udp_multicast_interface", nc_udp_multicast_interface(lp, 1, host) as i64),
            ("nc_udp_disconnect", nc_udp_disconnect(lp, 1) as i64),
            ("nc_getopt", nc_getopt(lp, 1, 1, &mut value) as i64),
            ("nc_handle_kind", nc_handle_kind(lp, 1) as i64),
            ("nc_set_read_size", nc_set_read_size(lp, 65536) as i64),
            ("nc_fd", nc_fd(lp, 1) as i64),
        ]
    };
    for (what, rc) in codes {
        prop_assert_eq!(rc, code(Error::EINVAL), "{} with a NULL loop", what);
    }
    // SAFETY: NULL is documented as ignored.
    unsafe { nc_loop_free(null_mut()) };
    Ok(())
}

/// No call panics, and every error it returns has a name (issue 10 item 6:
/// also the OS errors of the raw option calls).
fn check_code(what: &str, rc: i64) -> Result<(), TestCaseError> {
    prop_assert!(rc != code(Error::EPANIC), "{} panicked (NC_EPANIC)", what);
    if rc < 0 {
        prop_assert!(name(rc) != "EUNKNOWN", "{} returned {}, which nc_errname does not name", what, rc);
    }
    Ok(())
}

fn name(code: i64) -> String {
    let code = c_int::try_from(code).unwrap_or(c_int::MIN);
    // SAFETY: nc_errname returns a static string.
    unsafe { CStr::from_ptr(nc_errname(code)) }.to_string_lossy().into_owned()
}

fn event_name(kind: c_int) -> String {
    // SAFETY: nc_event_name returns a static string.
    unsafe { CStr::from_ptr(nc_event_name(kind)) }.to_string_lossy().into_owned()
}

/// Runs one random sequence on a fresh world, then closes everything.
fn run_sequence(calls: &[Call]) -> Result<(), TestCaseError> {
    let mut world = World::new()?;
    for call in calls {
        world.step(call).map_err(|e| TestCaseError::fail(format!("{e} (at {call:?}, call {})", world.calls)))?;
    }
    world.finish()
}

#[test]
fn random_c_api_call_sequences_keep_every_promise() {
    let sequence = proptest::collection::vec(call(), 1..60);
    fuzz::run("c_api", 24, sequence, |calls| run_sequence(&calls));
}
