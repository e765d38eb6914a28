//! loadgen — the benchmark suite's load generator.
//!
//! Drives any echo server over TCP (it knows nothing of netcore) and checks
//! every echoed byte: each connection sends a byte stream derived from its own
//! seed, and everything that comes back must be exactly that stream, in order.
//! One line of JSON on stdout reports the run; the exit status is 1 when any
//! error was seen (byte mismatch, early close, reset, timeout), 2 on bad usage.
//!
//! Modes:
//!   pingpong  N connections, each with one message of S bytes in flight
//!   pipeline  N connections, each with up to --depth messages in flight
//!   bulk      N (normally 1) connections streaming writes of S bytes, at most
//!             --window unechoed bytes in flight; counts bytes echoed back
//!   churn     --conns workers, each in a loop: connect, send 1 byte, read the
//!             echo, close; counts connections per second
//!   udp       datagram echo over UDP (see udp.rs)
//!   idle      opens --conns connections (--concurrency connects at a time),
//!             each echoes S bytes once; prints an "established" line, then
//!             holds them open until stdin reaches EOF (or --hold-max seconds)
//!             and checks that none was closed meanwhile
//!   openloop  N connections sending --rate messages per second in all on a
//!             fixed schedule, latency from each message's due time
//!             (openloop.rs)
//!   many      opens --conns connections as idle does, then --active of them
//!             have a message in flight at a time, in turn (many.rs)
//!
//! With --sources A-B,C every connection comes from one of those local
//! addresses in turn (sources.rs), so TIME_WAIT spreads over them.
//!
//! Percentiles come from an HdrHistogram (latency.rs): within 0.1 %.
//!
//! A run lasts --duration seconds (after --warmup seconds that are not
//! counted) or, for pingpong and pipeline, until --messages messages in total
//! have been echoed. Every wait is bounded by --timeout.
//!
//! With --tls CAFILE every connection speaks TLS 1.3 (rustls, ring provider)
//! to a server whose certificate chains to CAFILE, with one cipher suite
//! (TLS13_AES_128_GCM_SHA256) and one key-exchange group (--tls-group), so
//! every server is measured with the same choice; a connection counts as
//! connected once its handshake is complete, and the checks apply to the
//! plaintext. In churn mode each connection is then one handshake: full ones
//! with --resumption off, resumed ones (session tickets kept by rustls's
//! client session cache) with --resumption on; the report counts both kinds.

mod latency;
mod many;
mod openloop;
mod sources;
mod udp;

use latency::Latencies;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Period of the byte pattern: a prime, so message boundaries drift across it
/// and a message echoed twice, dropped or swapped with another is caught.
const PERIOD: usize = 251;
/// Size of the read buffer (and the largest read checked at once).
const READ_BUF: usize = 64 * 1024;

const USAGE: &str = "\
usage: loadgen --addr HOST:PORT [--mode pingpong|pipeline|bulk|churn|idle|openloop|many]
               [--conns N] [--size BYTES] [--depth D] [--window BYTES]
               [--rate PER_SECOND]  (openloop)  [--active N]  (many)
               [--sources A[-B][,...]]
               [--duration SECS | --messages COUNT] [--warmup SECS]
               [--concurrency N] [--hold-max SECS] [--timeout SECS]
               [--idle-conns N]   (idle mode: same as --conns)
               [--tls CAFILE [--tls-name NAME] [--tls-group x25519|p256]
                [--resumption on|off]]";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    PingPong,
    Pipeline,
    Bulk,
    Churn,
    Idle,
    OpenLoop,
    Many,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::PingPong => "pingpong",
            Mode::Pipeline => "pipeline",
            Mode::Bulk => "bulk",
            Mode::Churn => "churn",
            Mode::Idle => "idle",
            Mode::OpenLoop => "openloop",
            Mode::Many => "many",
        }
    }
}

/// The key-exchange group a TLS client offers (the only one it offers).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Group {
    X25519,
    P256,
}

/// --tls and its companions.
#[derive(Clone, Debug)]
struct TlsOpts {
    /// PEM file of the CA certificate(s) trusted, and nothing else.
    ca: PathBuf,
    /// Server name sent (SNI) and verified.
    name: String,
    group: Group,
    /// Whether connections offer a session ticket from earlier ones.
    resumption: bool,
}

#[derive(Clone, Debug)]
struct Opts {
    addr: SocketAddr,
    mode: Mode,
    conns: usize,
    size: usize,
    depth: usize,
    window: usize,
    duration: Option<f64>,
    messages: Option<u64>,
    warmup: f64,
    concurrency: usize,
    hold_max: f64,
    timeout: f64,
    tls: Option<TlsOpts>,
    /// openloop: messages per second over all connections
    rate: f64,
    /// many: connections with a message in flight at a time
    active: usize,
    /// local addresses the connections come from, in turn (empty: any)
    sources: Vec<Ipv4Addr>,
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut addr = None;
    let mut mode = Mode::PingPong;
    let mut conns = None;
    let mut size = None;
    let mut depth = None;
    let mut window = 4 << 20;
    let mut duration = None;
    let mut messages = None;
    let mut warmup = 0.0;
    let mut concurrency = 64;
    let mut hold_max = 600.0;
    let mut timeout = None;
    let mut tls_ca = None;
    let mut tls_name = "localhost".to_string();
    let mut tls_group = Group::X25519;
    let mut resumption = true;
    let mut rate = None;
    let mut active = 1;
    let mut sources = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i).cloned().ok_or_else(|| format!("{name} needs a value"))?
            }
        };
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
            v.parse().map_err(|_| format!("{name}: bad number '{v}'"))
        }
        match name {
            "--addr" => {
                let a = value
                    .to_socket_addrs()
                    .map_err(|e| format!("--addr {value}: {e}"))?
                    .next()
                    .ok_or_else(|| format!("--addr {value}: no address"))?;
                addr = Some(a);
            }
            "--mode" => {
                mode = match value.as_str() {
                    "pingpong" => Mode::PingPong,
                    "pipeline" => Mode::Pipeline,
                    "bulk" => Mode::Bulk,
                    "churn" => Mode::Churn,
                    "idle" => Mode::Idle,
                    "openloop" => Mode::OpenLoop,
                    "many" => Mode::Many,
                    _ => return Err(format!("--mode: unknown mode '{value}'")),
                }
            }
            "--conns" | "--idle-conns" => conns = Some(num::<usize>(name, &value)?),
            "--size" => size = Some(num::<usize>(name, &value)?),
            "--depth" => depth = Some(num::<usize>(name, &value)?),
            "--window" => window = num(name, &value)?,
            "--duration" => duration = Some(num::<f64>(name, &value)?),
            "--messages" => messages = Some(num::<u64>(name, &value)?),
            "--warmup" => warmup = num(name, &value)?,
            "--concurrency" => concurrency = num(name, &value)?,
            "--hold-max" => hold_max = num(name, &value)?,
            "--timeout" => timeout = Some(num::<f64>(name, &value)?),
            "--rate" => rate = Some(num::<f64>(name, &value)?),
            "--active" => active = num(name, &value)?,
            "--sources" => sources = sources::parse(&value)?,
            "--tls" => tls_ca = Some(PathBuf::from(value)),
            "--tls-name" => tls_name = value,
            "--tls-group" => {
                tls_group = match value.as_str() {
                    "x25519" => Group::X25519,
                    "p256" => Group::P256,
                    _ => return Err(format!("--tls-group: unknown group '{value}' (x25519 or p256)")),
                }
            }
            "--resumption" => {
                resumption = match value.as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--resumption: '{value}' is not on or off")),
                }
            }
            _ => return Err(format!("unknown option '{name}'")),
        }
        i += 1;
    }
    let addr = addr.ok_or("--addr is required")?;
    let conns = conns.unwrap_or(1);
    let size = size.unwrap_or(match mode {
        Mode::Bulk => 256 * 1024,
        Mode::Churn => 1,
        _ => 64,
    });
    let depth = match mode {
        Mode::PingPong => 1,
        Mode::Pipeline => depth.unwrap_or(16),
        Mode::OpenLoop => depth.unwrap_or(64),
        _ => 1,
    };
    let rate = match (mode, rate) {
        (Mode::OpenLoop, Some(r)) if r.is_finite() && r > 0.0 => r,
        (Mode::OpenLoop, _) => return Err("openloop needs --rate, a positive number of messages per second".into()),
        (_, None) => 0.0,
        (_, Some(_)) => return Err("--rate is for openloop".into()),
    };
    if active == 0 {
        return Err("--active must be positive".into());
    }
    if conns == 0 || size == 0 || depth == 0 || window == 0 || concurrency == 0 {
        return Err("--conns, --size, --depth, --window and --concurrency must be positive".into());
    }
    if size > 16 << 20 {
        return Err("--size: at most 16 MiB".into());
    }
    if duration.is_some() && messages.is_some() {
        return Err("give --duration or --messages, not both".into());
    }
    if messages.is_some() && !matches!(mode, Mode::PingPong | Mode::Pipeline) {
        return Err("--messages is for pingpong and pipeline; the other modes take --duration".into());
    }
    for (n, v) in [("--duration", duration.unwrap_or(1.0)), ("--warmup", warmup + 1.0), ("--hold-max", hold_max)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(format!("{n}: must be a positive number of seconds"));
        }
    }
    if mode != Mode::Idle && duration.is_none() && messages.is_none() {
        duration = Some(5.0);
    }
    let timeout = timeout.unwrap_or(match (duration, mode) {
        (_, Mode::Idle) => 120.0,
        (Some(d), Mode::Many) => warmup + d + 150.0,
        (Some(d), _) => warmup + d + 30.0,
        (None, _) => 300.0,
    });
    let tls = tls_ca.map(|ca| TlsOpts { ca, name: tls_name, group: tls_group, resumption });
    Ok(Opts {
        addr,
        mode,
        conns,
        size,
        depth,
        window,
        duration,
        messages,
        warmup,
        concurrency,
        hold_max,
        timeout,
        tls,
        rate,
        active,
        sources,
    })
}

/// The one client configuration every TLS connection of a run shares (so
/// rustls's session cache in it serves resumption): TLS 1.3 only,
/// TLS13_AES_128_GCM_SHA256 only, the chosen group only, trusting only the CA
/// file. The ring provider is passed explicitly, never installed as a
/// process default.
fn tls_config(t: &TlsOpts) -> Result<Arc<ClientConfig>, String> {
    use rustls::crypto::ring as provider;
    let file = t.ca.display();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&t.ca).map_err(|e| format!("--tls {file}: {e}"))? {
        let cert = cert.map_err(|e| format!("--tls {file}: {e}"))?;
        roots.add(cert).map_err(|e| format!("--tls {file}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("--tls {file}: no certificate in the file"));
    }
    let group = match t.group {
        Group::X25519 => provider::kx_group::X25519,
        Group::P256 => provider::kx_group::SECP256R1,
    };
    let chosen = rustls::crypto::CryptoProvider {
        cipher_suites: vec![provider::cipher_suite::TLS13_AES_128_GCM_SHA256],
        kx_groups: vec![group],
        ..provider::default_provider()
    };
    let mut config = ClientConfig::builder_with_provider(Arc::new(chosen))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !t.resumption {
        config.resumption = Resumption::disabled();
    }
    Ok(Arc::new(config))
}

/// A TLS connection's record traffic: writes what rustls has queued and
/// reads and processes what the socket holds, until the socket would block.
/// Returns Ok(true) when the server closed the TCP connection.
fn tls_pump(tls: &mut ClientConnection, stream: &mut TcpStream) -> Result<bool, String> {
    loop {
        tls_write(tls, stream)?;
        match tls.read_tls(stream) {
            Ok(0) => return Ok(true),
            Ok(_) => tls_process(tls, stream)?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Writes queued records until none is left or the socket would block.
fn tls_write(tls: &mut ClientConnection, stream: &mut TcpStream) -> Result<(), String> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("write: {e}")),
        }
    }
    Ok(())
}

/// Processes the records read; on an error the alert rustls queued is sent
/// (once, best effort) so the server learns why.
fn tls_process(tls: &mut ClientConnection, stream: &mut TcpStream) -> Result<(), String> {
    tls.process_new_packets().map(drop).map_err(|e| {
        let _ = tls.write_tls(stream);
        format!("TLS: {e}")
    })
}

/// The pattern repeated far enough that any send or check of up to `max`
/// bytes at any phase is one slice of it.
struct Pattern {
    rep: Vec<u8>,
}

impl Pattern {
    fn new(max: usize) -> Pattern {
        let table: Vec<u8> = (0..PERIOD).map(|i| ((i * 89 + 17) % 256) as u8).collect();
        let rep = (0..PERIOD + max).map(|i| table[i % PERIOD]).collect();
        Pattern { rep }
    }

    /// The `len` bytes of a connection's stream starting at offset `off`.
    fn slice(&self, seed: usize, off: u64, len: usize) -> &[u8] {
        let start = (seed + (off % PERIOD as u64) as usize) % PERIOD;
        &self.rep[start..start + len]
    }
}

fn seed_of(id: u64) -> usize {
    ((id * 37 + 11) % PERIOD as u64) as usize
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum State {
    Connecting,
    Open,
    /// idle mode: echoed once, now held open
    Held,
    Done,
}

struct Conn {
    stream: TcpStream,
    /// The TLS session over `stream` (--tls).
    tls: Option<Box<ClientConnection>>,
    /// TCP connected (with TLS, the handshake may still be running).
    tcp_up: bool,
    generation: usize,
    seed: usize,
    state: State,
    born: Instant,
    sent: u64,
    recvd: u64,
    /// bytes we mean to have sent so far (ends of the messages started)
    send_limit: u64,
    /// (end offset, start time) of messages in flight, oldest first
    inflight: VecDeque<(u64, Instant)>,
    started: u64,
    target: u64,
}

#[derive(Default)]
struct Stats {
    /// messages completed inside the measured window
    completed: u64,
    /// messages completed at any time (warmup and drain included)
    total: u64,
    bytes: u64,
    latencies: Latencies,
    errors: u64,
    first_error: Option<String>,
    /// TLS handshakes completed, full and resumed
    tls_full: u64,
    tls_resumed: u64,
    /// what the first TLS handshake negotiated: version, cipher suite, group
    tls_params: Option<String>,
}

impl Stats {
    fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(msg);
        }
    }
}

struct Gen {
    o: Opts,
    /// the TLS client configuration and server name (--tls)
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    poll: Poll,
    pat: Pattern,
    buf: Vec<u8>,
    slots: Vec<Option<Conn>>,
    generation: usize,
    next_id: u64,
    stats: Stats,
    /// start of the counted window (after warmup) and its end
    measure_from: Instant,
    measure_until: Option<Instant>,
    stopping: bool,
    /// connect phase: no messages start yet (but connections are not done)
    holding: bool,
    /// openloop: when each message is due
    schedule: Option<openloop::Schedule>,
}

const SLOT_BITS: u32 = 24;

impl Gen {
    fn new(o: Opts) -> io::Result<Gen> {
        let max = o.size.max(READ_BUF);
        let now = Instant::now();
        let tls = match &o.tls {
            Some(t) => {
                let config = tls_config(t).map_err(io::Error::other)?;
                let name = ServerName::try_from(t.name.clone())
                    .map_err(|e| io::Error::other(format!("--tls-name {}: {e}", t.name)))?;
                Some((config, name))
            }
            None => None,
        };
        let poll = Poll::new()?;
        let schedule = match o.mode {
            Mode::OpenLoop => Some(openloop::Schedule::new(o.rate, o.conns, poll.registry())?),
            _ => None,
        };
        Ok(Gen {
            tls,
            poll,
            schedule,
            pat: Pattern::new(max),
            buf: vec![0; READ_BUF],
            slots: Vec::new(),
            generation: 0,
            next_id: 0,
            stats: Stats::default(),
            measure_from: now,
            measure_until: None,
            stopping: false,
            holding: false,
            o,
        })
    }

    fn token(slot: usize, generation: usize) -> Token {
        Token(slot | (generation << SLOT_BITS))
    }

    /// Opens a connection into `slot` (which must be empty).
    fn open(&mut self, slot: usize, target: u64) -> io::Result<()> {
        let tls = match &self.tls {
            Some((config, name)) => {
                Some(Box::new(ClientConnection::new(config.clone(), name.clone()).map_err(io::Error::other)?))
            }
            None => None,
        };
        let mut stream = match self.o.sources.len() {
            0 => TcpStream::connect(self.o.addr)?,
            k => sources::connect_from(self.o.sources[(self.next_id % k as u64) as usize], self.o.addr)?,
        };
        self.generation = self.generation.wrapping_add(1) & ((1 << (usize::BITS - SLOT_BITS - 1)) - 1);
        let generation = self.generation;
        self.poll.registry().register(
            &mut stream,
            Self::token(slot, generation),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let id = self.next_id;
        self.next_id += 1;
        self.slots[slot] = Some(Conn {
            stream,
            tls,
            tcp_up: false,
            generation,
            seed: seed_of(id),
            state: State::Connecting,
            born: Instant::now(),
            sent: 0,
            recvd: 0,
            send_limit: 0,
            inflight: VecDeque::new(),
            started: 0,
            target,
        });
        Ok(())
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut c) = self.slots[slot].take() {
            if let Some(tls) = c.tls.as_mut() {
                // A polite end (best effort): servers then see close_notify
                // before the FIN, not a truncation.
                tls.send_close_notify();
                let _ = tls.write_tls(&mut c.stream);
            }
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    fn fail(&mut self, slot: usize, msg: String) {
        self.stats.error(msg);
        if let Some(c) = self.slots[slot].as_mut() {
            c.state = State::Done;
        }
        self.close(slot);
    }

    /// Starts new messages on a connection as far as the mode allows.
    fn refill(&mut self, slot: usize) {
        let (mode, size, depth, window) = (self.o.mode, self.o.size as u64, self.o.depth, self.o.window as u64);
        let stopping = self.stopping || self.holding;
        let Some(c) = self.slots[slot].as_mut() else { return };
        if c.state != State::Open {
            return;
        }
        match mode {
            Mode::OpenLoop => {
                if let Some(schedule) = self.schedule.as_mut().filter(|_| !stopping) {
                    schedule.start_due(slot, c, size, depth);
                }
            }
            Mode::PingPong | Mode::Pipeline | Mode::Many => {
                let now = Instant::now();
                while !stopping && c.inflight.len() < depth && c.started < c.target {
                    c.send_limit += size;
                    c.inflight.push_back((c.send_limit, now));
                    c.started += 1;
                }
            }
            Mode::Bulk => {
                if !stopping {
                    c.send_limit = c.recvd + window;
                }
            }
            Mode::Churn | Mode::Idle => {
                if c.started == 0 {
                    c.send_limit = size;
                    c.inflight.push_back((size, c.born));
                    c.started = 1;
                }
            }
        }
    }

    /// Writes what is due, until the socket would block.
    fn flush(&mut self, slot: usize) -> Result<(), String> {
        let chunk = self.o.size;
        let Some(c) = self.slots[slot].as_mut() else { return Ok(()) };
        if let Some(tls) = c.tls.as_mut() {
            // Plaintext into rustls only while its records leave: what it
            // holds stays bounded by what the socket refuses.
            loop {
                tls_write(tls, &mut c.stream)?;
                if tls.wants_write() || c.sent >= c.send_limit {
                    return Ok(());
                }
                let n = ((c.send_limit - c.sent) as usize).min(chunk);
                match tls.writer().write(self.pat.slice(c.seed, c.sent, n)) {
                    Ok(0) => return Ok(()),
                    Ok(k) => c.sent += k as u64,
                    Err(e) => return Err(format!("TLS write: {e}")),
                }
            }
        }
        while c.sent < c.send_limit {
            let n = ((c.send_limit - c.sent) as usize).min(chunk);
            match c.stream.write(self.pat.slice(c.seed, c.sent, n)) {
                Ok(0) => return Err("write returned 0".into()),
                Ok(k) => c.sent += k as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        Ok(())
    }

    fn in_window(&self, t: Instant) -> bool {
        t >= self.measure_from && self.measure_until.is_none_or(|u| t <= u)
    }

    /// Reads and checks everything available; completes messages.
    /// Returns Ok(true) when the server closed the connection.
    fn drain(&mut self, slot: usize) -> Result<bool, String> {
        loop {
            let Some(c) = self.slots[slot].as_mut() else { return Ok(false) };
            let got = match c.tls.as_mut() {
                // Plaintext rustls holds first; records from the socket
                // only when it holds none.
                Some(tls) => match tls.reader().read(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => match tls.read_tls(&mut c.stream) {
                        Ok(0) => return Ok(true),
                        Ok(_) => {
                            tls_process(tls, &mut c.stream)?;
                            continue;
                        }
                        Err(e) => Err(e),
                    },
                    other => other,
                },
                None => c.stream.read(&mut self.buf),
            };
            let n = match got {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("read: {e}")),
            };
            if c.recvd + n as u64 > c.sent {
                return Err(format!(
                    "server sent {} bytes more than it was sent (at offset {})",
                    c.recvd + n as u64 - c.sent,
                    c.recvd
                ));
            }
            let expect = self.pat.slice(c.seed, c.recvd, n);
            if expect != &self.buf[..n] {
                let at = expect.iter().zip(&self.buf[..n]).position(|(a, b)| a != b).unwrap_or(0);
                return Err(format!(
                    "byte mismatch at stream offset {}: expected {:#04x}, got {:#04x}",
                    c.recvd + at as u64,
                    expect[at],
                    self.buf[at]
                ));
            }
            c.recvd += n as u64;
            let all_in = c.recvd == c.sent;
            let now = Instant::now();
            let counted = self.in_window(now);
            let Some(c) = self.slots[slot].as_mut() else { return Ok(false) };
            if counted {
                self.stats.bytes += n as u64;
            }
            while let Some(&(end, t0)) = c.inflight.front() {
                if end > c.recvd {
                    break;
                }
                c.inflight.pop_front();
                self.stats.total += 1;
                if counted && t0 >= self.measure_from {
                    self.stats.completed += 1;
                    self.stats.latencies.record(now.duration_since(t0).as_nanos() as u64);
                }
            }
            // Everything sent has come back: the socket holds nothing more
            // (a well-behaved server cannot send more), so skip the extra
            // read that would only return EWOULDBLOCK; the next byte that
            // arrives raises a new edge.
            if all_in && n < self.buf.len() {
                return Ok(false);
            }
        }
    }

    /// Handles a connect completion. Returns Ok(true) once connected.
    fn check_connected(&mut self, slot: usize) -> Result<bool, String> {
        let Some(c) = self.slots[slot].as_mut() else { return Ok(false) };
        if !c.tcp_up {
            if let Ok(Some(e)) | Err(e) = c.stream.take_error() {
                return Err(format!("connect: {e}"));
            }
            match c.stream.peer_addr() {
                Ok(_) => {
                    let _ = c.stream.set_nodelay(true);
                    c.tcp_up = true;
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(false),
                Err(e) => return Err(format!("connect: {e}")),
            }
        }
        if let Some(tls) = c.tls.as_mut() {
            if tls_pump(tls, &mut c.stream)? {
                return Err("server closed the connection during the TLS handshake".into());
            }
            if tls.is_handshaking() {
                return Ok(false);
            }
            if tls.handshake_kind() == Some(HandshakeKind::Resumed) {
                self.stats.tls_resumed += 1;
            } else {
                self.stats.tls_full += 1;
            }
            if self.stats.tls_params.is_none() {
                let version = tls.protocol_version().map_or("?".into(), |v| format!("{v:?}"));
                let suite = tls.negotiated_cipher_suite().map_or("?".into(), |s| format!("{:?}", s.suite()));
                let group = tls.negotiated_key_exchange_group().map_or("?".into(), |g| format!("{:?}", g.name()));
                self.stats.tls_params = Some(format!("{version} {suite} {group}"));
            }
        }
        c.state = State::Open;
        Ok(true)
    }

    fn slot_of(&self, token: Token) -> Option<usize> {
        let slot = token.0 & ((1 << SLOT_BITS) - 1);
        let generation = token.0 >> SLOT_BITS;
        match self.slots.get(slot) {
            Some(Some(c)) if c.generation == generation => Some(slot),
            _ => None,
        }
    }

    /// One connection's readiness: connect, read, complete, refill, write.
    /// Returns the connection's state afterwards (None if it was closed).
    fn service(&mut self, slot: usize, readable: bool) -> Option<State> {
        let state = self.slots[slot].as_ref()?.state;
        if state == State::Connecting {
            match self.check_connected(slot) {
                Ok(true) => {
                    self.refill(slot);
                }
                Ok(false) => return Some(State::Connecting),
                Err(e) => {
                    self.fail(slot, e);
                    return None;
                }
            }
        }
        if readable || state == State::Connecting {
            match self.drain(slot) {
                Ok(false) => {}
                Ok(true) => {
                    let c = self.slots[slot].as_ref()?;
                    let msg = if c.state == State::Held {
                        "server closed an idle connection".to_string()
                    } else {
                        format!("server closed the connection after {} of {} bytes", c.recvd, c.sent)
                    };
                    self.fail(slot, msg);
                    return None;
                }
                Err(e) => {
                    self.fail(slot, e);
                    return None;
                }
            }
        }
        self.refill(slot);
        if let Err(e) = self.flush(slot) {
            self.fail(slot, e);
            return None;
        }
        let c = self.slots[slot].as_mut()?;
        if c.state == State::Open && c.inflight.is_empty() && c.recvd == c.sent {
            match self.o.mode {
                Mode::Churn => c.state = State::Done,
                Mode::Idle | Mode::Many => c.state = State::Held,
                Mode::PingPong | Mode::Pipeline | Mode::OpenLoop if c.started >= c.target || self.stopping => {
                    c.state = State::Done
                }
                Mode::Bulk if self.stopping => c.state = State::Done,
                _ => {}
            }
        }
        Some(c.state)
    }

    /// Waits for readiness (at most until `until`, at most 100 ms) and
    /// services every ready connection. Returns (slot, state before, state
    /// after) for each.
    fn poll_once(&mut self, events: &mut Events, until: Instant) -> io::Result<Vec<(usize, State, Option<State>)>> {
        let wait = until.saturating_duration_since(Instant::now()).min(Duration::from_millis(100));
        match self.poll.poll(events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
        let mut out = Vec::new();
        for ev in events.iter() {
            let Some(slot) = self.slot_of(ev.token()) else { continue };
            let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
            let before = self.slots[slot].as_ref().map_or(State::Done, |c| c.state);
            out.push((slot, before, self.service(slot, readable)));
        }
        Ok(out)
    }

    /// pingpong, pipeline and bulk: connect all, run, drain, report.
    fn run_echo(&mut self) -> io::Result<Report> {
        let n = self.o.conns;
        self.slots = (0..n).map(|_| None).collect();
        let hard_deadline = Instant::now() + secs(self.o.timeout);
        let mut events = Events::with_capacity(1024);
        let per = self.o.messages.map(|m| (m / n as u64, m % n as u64));
        for slot in 0..n {
            let target = match per {
                Some((q, r)) => q + u64::from((slot as u64) < r),
                None => u64::MAX,
            };
            if let Err(e) = self.open(slot, target) {
                self.stats.error(format!("connect: {e}"));
            }
        }
        // Hold every message until all connections are up: the measured
        // window starts with the full set of connections.
        self.holding = true;
        let mut connecting = self.slots.iter().filter(|s| s.is_some()).count();
        while connecting > 0 && Instant::now() < hard_deadline {
            for (_, _, st) in self.poll_once(&mut events, hard_deadline)? {
                if st != Some(State::Connecting) {
                    connecting = self.slots.iter().flatten().filter(|c| c.state == State::Connecting).count();
                }
            }
        }
        if connecting > 0 {
            self.stats.error(format!("{connecting} connections not established before the timeout"));
        }
        let start = Instant::now();
        self.measure_from = start + secs(self.o.warmup);
        self.measure_until = self.o.duration.map(|d| self.measure_from + secs(d));
        self.holding = false;
        for slot in 0..n {
            if self.slots[slot].is_some() {
                self.service(slot, false);
            }
        }
        let mut open = self.count_live();
        let mut finished_at = None;
        while open > 0 {
            let now = Instant::now();
            if now >= hard_deadline {
                let outstanding: u64 = self.slots.iter().flatten().map(|c| c.sent - c.recvd).sum();
                self.stats
                    .error(format!("timeout: {open} connections still busy, {outstanding} bytes not echoed back"));
                break;
            }
            if let Some(until) = self.measure_until {
                if !self.stopping && now >= until {
                    // Stop starting messages; let those in flight come back
                    // so that every byte sent is checked.
                    self.stopping = true;
                    for slot in 0..n {
                        if self.slots[slot].is_some() {
                            self.service(slot, false);
                        }
                    }
                    // Connections with nothing in flight are done now (an
                    // open-loop one between two due times), with no event to come.
                    open = self.count_live();
                    continue;
                }
            }
            let wake = match self.measure_until {
                Some(u) if !self.stopping => u.min(hard_deadline),
                _ => hard_deadline,
            };
            if self.start_scheduled() {
                open = self.count_live();
            }
            let changed = self.poll_once(&mut events, wake)?;
            if changed.iter().any(|(_, _, st)| *st != Some(State::Open)) {
                open = self.count_live();
                if open == 0 {
                    finished_at = Some(Instant::now());
                }
            }
        }
        let end = match (self.measure_until, finished_at) {
            (Some(u), _) => u,
            (None, Some(f)) => f,
            (None, None) => Instant::now(),
        };
        let elapsed = end.saturating_duration_since(self.measure_from).as_secs_f64();
        Ok(self.report(elapsed))
    }

    fn count_live(&self) -> usize {
        self.slots.iter().flatten().filter(|c| matches!(c.state, State::Open | State::Connecting)).count()
    }

    /// churn: each worker connects, sends a byte, reads it back, closes.
    fn run_churn(&mut self) -> io::Result<Report> {
        let n = self.o.conns;
        self.slots = (0..n).map(|_| None).collect();
        let start = Instant::now();
        self.measure_from = start + secs(self.o.warmup);
        let until = self.measure_from + secs(self.o.duration.unwrap_or(5.0));
        self.measure_until = Some(until);
        let hard_deadline = Instant::now() + secs(self.o.timeout);
        let mut events = Events::with_capacity(1024);
        let max_errors = 1000;
        for slot in 0..n {
            if let Err(e) = self.open(slot, 1) {
                self.stats.error(format!("connect: {e}"));
            }
        }
        loop {
            let now = Instant::now();
            if now >= until {
                self.stopping = true;
            }
            if now >= hard_deadline {
                self.stats.error(format!("timeout: {} connections still busy", self.count_live()));
                break;
            }
            if self.stats.errors >= max_errors {
                break;
            }
            let busy = self.count_live();
            if self.stopping && busy == 0 {
                break;
            }
            let wake = if self.stopping { hard_deadline } else { until };
            for (slot, _, st) in self.poll_once(&mut events, wake)? {
                if st == Some(State::Done) {
                    self.close(slot);
                }
                if self.slots[slot].is_none() && !self.stopping {
                    if let Err(e) = self.open(slot, 1) {
                        self.stats.error(format!("connect: {e}"));
                    }
                }
            }
            // A failed connect can leave a slot empty: refill it.
            if !self.stopping {
                for slot in 0..n {
                    if self.slots[slot].is_none() && self.stats.errors < max_errors {
                        if let Err(e) = self.open(slot, 1) {
                            self.stats.error(format!("connect: {e}"));
                        }
                    }
                }
            }
        }
        let elapsed = until.saturating_duration_since(self.measure_from).as_secs_f64();
        Ok(self.report(elapsed))
    }

    /// idle: open many connections that each echo once, then hold them.
    fn run_idle(&mut self, stop: &AtomicBool) -> io::Result<Report> {
        let start = Instant::now();
        let hard_deadline = start + secs(self.o.timeout);
        let mut events = Events::with_capacity(1024);
        let established = self.establish_held(&mut events, hard_deadline)?;
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "{{\"event\":\"established\",\"mode\":\"idle\",\"conns\":{established},\"elapsed_s\":{elapsed:.3},\"errors\":{}}}",
            self.stats.errors
        );
        let _ = io::stdout().flush();
        self.stats.completed = established as u64;
        // Hold until told to stop; any data or close now is an error.
        let hold_until = Instant::now() + secs(self.o.hold_max);
        while !stop.load(Ordering::Relaxed) && Instant::now() < hold_until {
            self.poll_once(&mut events, hold_until)?;
        }
        Ok(self.report(elapsed))
    }

    /// Opens --conns connections (--concurrency connects at a time), each
    /// echoing --size bytes once and then held. Returns how many are held;
    /// fewer than --conns is recorded as an error.
    fn establish_held(&mut self, events: &mut Events, hard_deadline: Instant) -> io::Result<usize> {
        let n = self.o.conns;
        if n >= 1 << SLOT_BITS {
            return Err(io::Error::other("too many connections"));
        }
        self.slots = (0..n).map(|_| None).collect();
        let mut next = 0;
        let mut busy = 0;
        let mut held = 0;
        while held < n && Instant::now() < hard_deadline && self.stats.errors == 0 {
            while busy < self.o.concurrency && next < n {
                match self.open(next, 1) {
                    Ok(()) => busy += 1,
                    Err(e) => self.stats.error(format!("connect #{next}: {e}")),
                }
                next += 1;
            }
            for (_, before, after) in self.poll_once(events, hard_deadline)? {
                let was_busy = matches!(before, State::Connecting | State::Open);
                match after {
                    Some(State::Held) if was_busy => {
                        held += 1;
                        busy -= 1;
                    }
                    None if was_busy => busy -= 1,
                    _ => {}
                }
            }
            if busy == 0 && next == n {
                break;
            }
        }
        let established = self.slots.iter().flatten().filter(|c| c.state == State::Held).count();
        if established < n {
            self.stats.error(format!("only {established} of {n} connections established"));
        }
        Ok(established)
    }

    fn report(&mut self, elapsed: f64) -> Report {
        let lat = &self.stats.latencies;
        Report {
            total: self.stats.total,
            completed: self.stats.completed,
            bytes: self.stats.bytes,
            elapsed,
            p50: lat.quantile_us(0.50),
            p90: lat.quantile_us(0.90),
            p99: lat.quantile_us(0.99),
            p999: lat.quantile_us(0.999),
            max: lat.max_us(),
            samples: lat.count(),
            late_starts: self.schedule.as_ref().map_or(0, |s| s.late),
            errors: self.stats.errors,
            first_error: self.stats.first_error.clone(),
            tls_full: self.stats.tls_full,
            tls_resumed: self.stats.tls_resumed,
            tls_params: self.stats.tls_params.clone(),
        }
    }
}

impl Drop for Gen {
    /// Ends what is still open (a run's connections, at its end) with
    /// close_notify under TLS, so servers see a clean close, not a truncation.
    fn drop(&mut self) {
        for slot in 0..self.slots.len() {
            self.close(slot);
        }
    }
}

#[derive(Default)]
struct Report {
    total: u64,
    completed: u64,
    bytes: u64,
    elapsed: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    /// latencies recorded (the percentiles' sample count)
    samples: u64,
    /// openloop: messages started more than 1 ms after their due time
    late_starts: u64,
    errors: u64,
    first_error: Option<String>,
    tls_full: u64,
    tls_resumed: u64,
    tls_params: Option<String>,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_json(o: &Opts, r: &Report) -> String {
    let per_s = if r.elapsed > 0.0 { r.completed as f64 / r.elapsed } else { 0.0 };
    let mib_s = if r.elapsed > 0.0 { r.bytes as f64 / r.elapsed / (1024.0 * 1024.0) } else { 0.0 };
    let err = r.first_error.as_deref().map_or("null".to_string(), json_str);
    let tls = r.tls_params.as_deref().map_or("null".to_string(), json_str);
    format!(
        "{{\"mode\":\"{}\",\"addr\":\"{}\",\"conns\":{},\"size\":{},\"depth\":{},\"messages\":{},\"total_messages\":{},\"bytes\":{},\
         \"elapsed_s\":{:.4},\"requests_per_s\":{:.1},\"mib_per_s\":{:.2},\"lat_p50_us\":{:.1},\"lat_p90_us\":{:.1},\
         \"lat_p99_us\":{:.1},\"lat_p999_us\":{:.1},\"lat_max_us\":{:.1},\"lat_samples\":{},\"rate_target\":{:.1},\
         \"late_starts\":{},\"active\":{},\"sources\":{},\"tls\":{},\"tls_full\":{},\"tls_resumed\":{},\"errors\":{},\"error\":{}}}",
        o.mode.name(),
        o.addr,
        o.conns,
        o.size,
        o.depth,
        r.completed,
        r.total,
        r.bytes,
        r.elapsed,
        per_s,
        mib_s,
        r.p50,
        r.p90,
        r.p99,
        r.p999,
        r.max,
        r.samples,
        o.rate,
        r.late_starts,
        if o.mode == Mode::Many { o.active } else { 0 },
        o.sources.len(),
        tls,
        r.tls_full,
        r.tls_resumed,
        r.errors,
        err
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if udp::wanted(&args) {
        return udp::main(&args);
    }
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("loadgen: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    if o.mode == Mode::Idle {
        // Stop holding when stdin reaches EOF (the driver closes its end).
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = [0u8; 256];
            let mut stdin = io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            stop.store(true, Ordering::Relaxed);
        });
    }
    let result = Gen::new(o.clone()).and_then(|mut g| match o.mode {
        Mode::PingPong | Mode::Pipeline | Mode::Bulk | Mode::OpenLoop => g.run_echo(),
        Mode::Churn => g.run_churn(),
        Mode::Idle => g.run_idle(&stop),
        Mode::Many => g.run_many(),
    });
    match result {
        Ok(r) => {
            println!("{}", to_json(&o, &r));
            if r.errors > 0 {
                eprintln!("loadgen: {} error(s); first: {}", r.errors, r.first_error.as_deref().unwrap_or("?"));
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            let r = Report { errors: 1, first_error: Some(e.to_string()), ..Report::default() };
            println!("{}", to_json(&o, &r));
            eprintln!("loadgen: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn pattern_slices_agree_at_every_phase() {
        let p = Pattern::new(1000);
        let seed = seed_of(5);
        let whole = p.slice(seed, 0, 900).to_vec();
        for off in [0usize, 1, 250, 251, 252, 511, 600] {
            assert_eq!(p.slice(seed, off as u64, 300), &whole[off..off + 300]);
        }
    }

    #[test]
    fn a_shifted_message_does_not_match() {
        let p = Pattern::new(2048);
        let seed = seed_of(0);
        // 512-byte messages: message 1 must differ from message 0 and 2.
        assert_ne!(p.slice(seed, 0, 512), p.slice(seed, 512, 512));
        assert_ne!(p.slice(seed, 512, 512), p.slice(seed, 1024, 512));
        assert_ne!(p.slice(seed_of(0), 0, 64), p.slice(seed_of(1), 0, 64));
    }

    #[test]
    fn parses_options() {
        let o = parse_args(&args("--addr 127.0.0.1:9 --conns 50 --size 512 --mode pipeline --messages 100")).unwrap();
        assert_eq!((o.conns, o.size, o.depth, o.mode, o.messages), (50, 512, 16, Mode::Pipeline, Some(100)));
        let o = parse_args(&args("--addr=127.0.0.1:9 --mode idle --idle-conns 8000")).unwrap();
        assert_eq!((o.conns, o.mode, o.duration), (8000, Mode::Idle, None));
        assert!(parse_args(&args("--addr 127.0.0.1:9 --duration 1 --messages 5")).is_err());
        assert!(parse_args(&args("--addr 127.0.0.1:9 --mode churn --messages 5")).is_err());
        assert!(parse_args(&args("--conns 3")).is_err());
        assert!(parse_args(&args("--addr 127.0.0.1:9 --size 0")).is_err());
    }

    #[test]
    fn parses_openloop_many_and_sources() {
        let o = parse_args(&args("--addr 127.0.0.1:9 --mode openloop --rate 2500 --conns 50")).unwrap();
        assert_eq!((o.mode, o.rate, o.depth, o.duration), (Mode::OpenLoop, 2500.0, 64, Some(5.0)));
        assert!(parse_args(&args("--addr 127.0.0.1:9 --mode openloop")).is_err());
        assert!(parse_args(&args("--addr 127.0.0.1:9 --mode openloop --rate 0")).is_err());
        assert!(parse_args(&args("--addr 127.0.0.1:9 --mode pingpong --rate 10")).is_err());
        let o =
            parse_args(&args("--addr 127.0.0.1:9 --mode many --conns 300 --active 3 --sources 127.0.0.2-127.0.0.5"))
                .unwrap();
        assert_eq!((o.mode, o.conns, o.active, o.sources.len()), (Mode::Many, 300, 3, 4));
        assert!(parse_args(&args("--addr 127.0.0.1:9 --mode many --active 0")).is_err());
    }

    #[test]
    fn parses_tls_options() {
        let o = parse_args(&args("--addr 127.0.0.1:9")).unwrap();
        assert!(o.tls.is_none());
        let o = parse_args(&args("--addr 127.0.0.1:9 --tls ca.pem --tls-group p256 --resumption off")).unwrap();
        let t = o.tls.unwrap();
        assert_eq!(
            (t.ca, t.name.as_str(), t.group, t.resumption),
            (PathBuf::from("ca.pem"), "localhost", Group::P256, false)
        );
        assert!(parse_args(&args("--addr 127.0.0.1:9 --tls ca.pem --tls-group x448")).is_err());
        assert!(parse_args(&args("--addr 127.0.0.1:9 --tls ca.pem --resumption maybe")).is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("loadgen-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let t = TlsOpts { ca: path.clone(), name: "localhost".into(), group: Group::X25519, resumption: true };
        let err = tls_config(&t).err().unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(err.contains("no certificate"), "{err}");
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }
}
