//! Fuzz target `fuzz_parsing`: random strings, bytes and numbers into the
//! core's public parsers and checks — addresses (`socket_addr`,
//! `ip_literal`, `check_port`), options (`SockOption`, values on live
//! sockets), framing constructors and connect options. Nothing panics, every
//! refusal is `EINVAL` (or the documented code) and changes nothing, and
//! every valid literal round-trips. `NETCORE_FUZZ_CASES` sets the number of
//! inputs (see `common/fuzz.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use netcore_core::{
    check_port, ip_literal, socket_addr, BindOptions, ConnectOptions, Error, EventKind, Family, Framing, Handle,
    HandleKind, LocalBind, Loop, SockOption, MAX_BACKOFF_STEPS, MAX_DELIMITER, MAX_DURATION, MAX_FRAME_LIMIT,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

mod common;
#[path = "common/fuzz.rs"]
mod fuzz;
use common::{has, poll_until};

/// A host string and, when it is a valid literal, the address it names
/// (with its IPv6 zone as a number when the zone is numeric).
#[derive(Debug, Clone)]
struct Host {
    text: String,
    ip: Option<IpAddr>,
    scope: Option<u32>,
}

fn bracket(text: String, brackets: bool) -> String {
    if brackets {
        format!("[{text}]")
    } else {
        text
    }
}

fn valid_v4() -> impl Strategy<Value = Host> {
    (any::<u32>(), any::<bool>()).prop_map(|(bits, brackets)| {
        let ip = Ipv4Addr::from(bits);
        Host { text: bracket(ip.to_string(), brackets), ip: Some(IpAddr::V4(ip)), scope: None }
    })
}

fn valid_v6() -> impl Strategy<Value = Host> {
    (any::<u128>(), any::<bool>(), proptest::option::of(any::<u32>())).prop_map(|(bits, brackets, zone)| {
        let ip = Ipv6Addr::from(bits);
        let text = match zone {
            Some(zone) => format!("{ip}%{zone}"),
            None => ip.to_string(),
        };
        Host { text: bracket(text, brackets), ip: Some(IpAddr::V6(ip)), scope: zone }
    })
}

/// Strings that are no valid literal, or only by chance: arbitrary Unicode,
/// bytes (lossily decoded), embedded NULs, IPv6 zones that name no
/// interface, a huge string, and valid literals with one character changed.
fn garbage() -> impl Strategy<Value = Host> {
    let unknown = |text: String| Host { text, ip: None, scope: None };
    prop_oneof![
        any::<String>().prop_map(unknown),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(move |b| unknown(String::from_utf8_lossy(&b).into())),
        (any::<String>(), any::<String>()).prop_map(move |(a, b)| unknown(format!("{a}\0{b}"))),
        (any::<u128>(), any::<String>())
            .prop_map(move |(bits, zone)| unknown(format!("{}%{zone}", Ipv6Addr::from(bits)))),
        (1usize..200_000, any::<char>()).prop_map(move |(n, c)| unknown(c.to_string().repeat(n))),
        (prop_oneof![valid_v4(), valid_v6()], any::<prop::sample::Index>(), any::<char>()).prop_map(
            move |(host, at, c)| {
                let mut chars: Vec<char> = host.text.chars().collect();
                let at = at.index(chars.len());
                chars[at] = c;
                unknown(chars.into_iter().collect())
            }
        ),
        Just(unknown("localhost".into())),
        Just(unknown("LocalHost".into())),
        Just(unknown("fe80::1%lo".into())),
    ]
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![valid_v4(), valid_v6(), garbage()]
}

/// Ports: in range, at its edges, and far outside it.
fn port() -> impl Strategy<Value = i64> {
    prop_oneof![0i64..=65535, Just(-1i64), Just(65536i64), Just(i64::MIN), Just(i64::MAX), any::<i64>()]
}

fn port_is_valid(port: i64) -> bool {
    (0..=65535).contains(&port)
}

fn check_addresses(host: Host, port: i64) -> Result<(), TestCaseError> {
    prop_assert_eq!(check_port(port), u16::try_from(port).map_err(|_| Error::EINVAL));

    let literal = ip_literal(&host.text);
    if host.scope.is_none() {
        if let Some(ip) = host.ip {
            prop_assert_eq!(literal, Some(ip), "a valid literal parses to its address");
        }
    }
    if let Some(ip) = literal {
        // Whatever parses is `localhost` or exactly what std parses.
        let bare = host.text.trim_start_matches('[').trim_end_matches(']');
        let expected = if host.text.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            bare.parse::<IpAddr>().map_err(|e| TestCaseError::fail(format!("{:?} accepted but {e}", host.text)))?
        };
        prop_assert_eq!(ip, expected);
    }

    let parsed = socket_addr(&host.text, port);
    if let Err(e) = parsed {
        prop_assert_eq!(e, Error::EINVAL, "every refusal is EINVAL");
    }
    if !port_is_valid(port) {
        prop_assert!(parsed.is_err(), "port {} is out of range", port);
    }
    if let (Some(ip), true) = (host.ip, port_is_valid(port)) {
        let addr = parsed.map_err(|e| TestCaseError::fail(format!("{:?}:{port} refused: {e:?}", host.text)))?;
        prop_assert_eq!(addr.ip(), ip);
        prop_assert_eq!(addr.port() as i64, port);
        if let SocketAddr::V6(v6) = addr {
            prop_assert_eq!(v6.scope_id(), host.scope.unwrap_or(0));
        }
    }
    if let Ok(addr) = parsed {
        // Round trip through the text `nc_addr_format` writes: "[ip%zone]:port".
        let text = addr.to_string();
        let (host_part, port_part) = text.rsplit_once(':').expect("a formatted address has a port");
        let port_number: i64 = port_part.parse().expect("a formatted port is a number");
        prop_assert_eq!(socket_addr(host_part, port_number), Ok(addr), "{} round-trips", text);
    }
    Ok(())
}

/// Sizes around the limits and anywhere in `usize`.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..=16,
        Just(MAX_FRAME_LIMIT),
        Just(MAX_FRAME_LIMIT + 1),
        Just(usize::MAX),
        1usize..=MAX_FRAME_LIMIT,
        any::<usize>()
    ]
}

fn size_is_valid(size: usize) -> bool {
    (1..=MAX_FRAME_LIMIT).contains(&size)
}

fn check_framing(delimiter: Vec<u8>, header: usize, a: usize, b: usize) -> Result<(), TestCaseError> {
    let delimited = Framing::delimited(&delimiter, a);
    let valid = (1..=MAX_DELIMITER).contains(&delimiter.len()) && size_is_valid(a);
    match delimited {
        Ok(Framing::Delimited { delimiter: bytes, delimiter_len, max }) => {
            prop_assert!(valid);
            prop_assert_eq!(&bytes[..delimiter_len as usize], &delimiter[..]);
            prop_assert_eq!(max as usize, a);
        }
        Ok(other) => return Err(TestCaseError::fail(format!("delimited made {other:?}"))),
        Err(e) => prop_assert!(!valid && e == Error::EINVAL, "{:?}", e),
    }
    match Framing::fixed(b) {
        Ok(framing) => prop_assert_eq!(framing, Framing::Fixed { size: b as u32 }),
        Err(e) => prop_assert!(!size_is_valid(b) && e == Error::EINVAL, "{:?}", e),
    }
    let valid = matches!(header, 1 | 2 | 4) && size_is_valid(a);
    match Framing::length_prefixed(header, a) {
        Ok(framing) => {
            prop_assert!(valid);
            prop_assert_eq!(framing, Framing::LengthPrefixed { header: header as u8, max: a as u32 });
        }
        Err(e) => prop_assert!(!valid && e == Error::EINVAL, "{:?}", e),
    }
    Ok(())
}

/// A loop with a listener, a connection to it and a UDP socket.
struct Sockets {
    lp: Loop,
    /// The listener's port (connections go there).
    port: u16,
    tcp: Handle,
    udp: Handle,
}

impl Sockets {
    fn new() -> Sockets {
        let lp = Loop::new().expect("a loop");
        let (_listener, port) = common::listen(&lp);
        let tcp = lp.tcp_connect("127.0.0.1", port as i64, 0).expect("a connection");
        poll_until(&lp, |got| has(got, EventKind::Connected, tcp));
        let udp = lp.udp_bind("127.0.0.1", 0, &BindOptions::default(), 0).expect("a UDP socket");
        Sockets { lp, port, tcp, udp }
    }

    /// Every option's value on `handle` (the error where it has none).
    fn snapshot(&self, handle: Handle) -> Vec<Result<i64, Error>> {
        SockOption::ALL.iter().map(|&option| self.lp.get_option(handle, option)).collect()
    }
}

/// Option values: every option's range edges and anything in `i64`.
fn option_value() -> impl Strategy<Value = i64> {
    prop_oneof![
        -2i64..=2,
        prop_oneof![Just(255i64), Just(256), Just(32767), Just(32768), Just(1 << 30), Just((1 << 30) + 1)],
        Just(i64::MIN),
        Just(i64::MAX),
        any::<i64>()
    ]
}

/// Durations: zero, short, at the attempt-delay limit, and far beyond
/// anything a deadline can hold (which means "never", issue 10 item 3).
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (1u64..=2_000).prop_map(Duration::from_millis),
        Just(Duration::from_secs(60)),
        Just(Duration::from_secs(60) + Duration::from_nanos(1)),
        (0u64..=86_400_000).prop_map(Duration::from_millis),
        Just(MAX_DURATION),
        Just(MAX_DURATION + Duration::from_nanos(1)),
        Just(Duration::from_millis(u64::MAX)),
        Just(Duration::MAX),
    ]
}

/// Connect options: every field random, local addresses from the host generator.
fn connect_options() -> impl Strategy<Value = ConnectOptions> {
    let family = prop_oneof![Just(Family::Any), Just(Family::V4), Just(Family::V6)];
    let local = proptest::option::of(prop_oneof![
        Just("127.0.0.1".to_string()),
        Just("::1".to_string()),
        Just("0.0.0.0".to_string()),
        host().prop_map(|h| h.text)
    ]);
    let reconnect = proptest::collection::vec(duration(), 0..=MAX_BACKOFF_STEPS + 2);
    (proptest::option::of(duration()), family, local, proptest::option::of(duration()), reconnect).prop_map(
        |(timeout, family, local, attempt_delay, reconnect)| ConnectOptions {
            timeout,
            family,
            // Port 0 only: a client never takes a fixed port someone else may use.
            local: local.and_then(|host| socket_addr(&host, 0).ok()).map(LocalBind::Addr),
            attempt_delay,
            reconnect,
        },
    )
}

/// What the documentation promises `tcp_connect_with` checks before it starts.
fn options_are_valid(opts: &ConnectOptions) -> bool {
    let family_ok = match (opts.family, opts.local) {
        (Family::V4, Some(LocalBind::Addr(a))) => a.is_ipv4(),
        (Family::V6, Some(LocalBind::Addr(a))) => a.is_ipv6(),
        _ => true,
    };
    opts.reconnect.len() <= MAX_BACKOFF_STEPS
        && opts.attempt_delay.is_none_or(|d| d <= Duration::from_secs(60))
        && opts.timeout != Some(Duration::ZERO)
        && family_ok
}

fn check_option(sockets: &Sockets, raw: i32, value: i64, on_udp: bool) -> Result<(), TestCaseError> {
    let option = SockOption::parse_raw(raw);
    prop_assert_eq!(option.is_ok(), SockOption::ALL.iter().any(|&o| o as i32 == raw));
    let Ok(option) = option else {
        prop_assert_eq!(option, Err(Error::EINVAL));
        return Ok(());
    };
    prop_assert_eq!(option as i32, raw, "an option converts back to its C value");
    let handle = if on_udp { sockets.udp } else { sockets.tcp };
    let before = sockets.snapshot(handle);
    match sockets.lp.set_option(handle, option, value) {
        Ok(()) => {
            let read = sockets.lp.get_option(handle, option);
            // The kernel may round buffer sizes; every other value reads back as set.
            if !matches!(option, SockOption::RecvBuffer | SockOption::SendBuffer) {
                prop_assert_eq!(read, Ok(value), "{:?} reads back", option);
            }
        }
        Err(e) => {
            prop_assert!([Error::EINVAL, Error::EWRONGKIND].contains(&e), "{:?} {}: {:?}", option, value, e);
            prop_assert_eq!(sockets.snapshot(handle), before, "a refused {:?} = {} changed nothing", option, value);
        }
    }
    Ok(())
}

fn check_connect(sockets: &Sockets, opts: ConnectOptions) -> Result<(), TestCaseError> {
    let lp = &sockets.lp;
    let before = lp.handle_count();
    match lp.tcp_connect_with("127.0.0.1", sockets.port as i64, &opts, 0) {
        Err(e) => {
            prop_assert!(!options_are_valid(&opts), "valid options refused with {:?}: {:?}", e, opts);
            prop_assert_eq!(e, Error::EINVAL);
            prop_assert_eq!(lp.handle_count(), before, "a refused connect leaves no handle");
        }
        Ok(client) => {
            prop_assert!(options_are_valid(&opts), "invalid options accepted: {:?}", opts);
            prop_assert_eq!(lp.kind(client), Ok(HandleKind::TcpConnection));
            // Reset: a connection may be reconnecting with long delays.
            prop_assert_eq!(lp.close_reset(client), Ok(()));
            let got = poll_until(lp, |got| {
                // The listener's side of each connection is reset as it
                // arrives (again at each look: a repeat is refused, harmlessly).
                for accepted in got.iter().filter(|g| g.kind == EventKind::Accepted) {
                    let _ = lp.close_reset(accepted.handle);
                }
                has(got, EventKind::Closed, client)
            });
            let closed = got.iter().filter(|g| g.handle == client && g.kind == EventKind::Closed).count();
            prop_assert_eq!(closed, 1, "one Closed for the connection");
        }
    }
    Ok(())
}

/// One input of the target.
#[derive(Debug, Clone)]
enum Input {
    Address(Host, i64),
    Framing { delimiter: Vec<u8>, header: usize, a: usize, b: usize },
    Option { raw: i32, value: i64, on_udp: bool },
    Connect(ConnectOptions),
}

fn input() -> impl Strategy<Value = Input> {
    let framing = (
        proptest::collection::vec(any::<u8>(), 0..=MAX_DELIMITER + 4),
        prop_oneof![0usize..=8, any::<usize>()],
        size(),
        size(),
    );
    let option = (prop_oneof![-1i32..=SockOption::ALL.len() as i32 + 2, any::<i32>()], option_value(), any::<bool>());
    prop_oneof![
        4 => (host(), port()).prop_map(|(host, port)| Input::Address(host, port)),
        2 => framing.prop_map(|(delimiter, header, a, b)| Input::Framing { delimiter, header, a, b }),
        2 => option.prop_map(|(raw, value, on_udp)| Input::Option { raw, value, on_udp }),
        1 => connect_options().prop_map(Input::Connect),
    ]
}

#[test]
fn random_addresses_options_and_framings_are_parsed_or_refused_cleanly() {
    let sockets = Sockets::new();
    fuzz::run("parsing", 1000, input(), |input| match input {
        Input::Address(host, port) => check_addresses(host, port),
        Input::Framing { delimiter, header, a, b } => check_framing(delimiter, header, a, b),
        Input::Option { raw, value, on_udp } => check_option(&sockets, raw, value, on_udp),
        Input::Connect(opts) => check_connect(&sockets, opts),
    });
}
