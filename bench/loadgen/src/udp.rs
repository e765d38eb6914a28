//! `--mode udp`: datagram echo. `--sockets` connected UDP sockets each keep
//! up to `--depth` datagrams of `--size` bytes in flight (sent with
//! `sendmmsg`, received with `recvmmsg`, so the load generator stays cheaper
//! per datagram than the servers it drives). Every datagram carries its
//! socket's number and a sequence number, and the rest of its bytes derive
//! from both: an echo must come back byte for byte, on the socket that sent
//! it, and only once. UDP may drop: a datagram not echoed within
//! `--loss-timeout` seconds counts as lost (its slot is reused; a late echo
//! is counted, not an error). The JSON line reports datagrams echoed per
//! second in the measured window, round-trip p50/p99, and how many were
//! lost or came late.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

/// Most datagrams one `sendmmsg` / `recvmmsg` moves.
const BATCH: usize = 32;
/// The header every datagram starts with: socket number (u16) and sequence number (u64).
const HEADER: usize = 10;
/// The largest UDP payload over IPv4.
const MAX_SIZE: usize = 65_507;

pub const USAGE: &str = "\
       loadgen --addr HOST:PORT --mode udp [--sockets N] [--size BYTES] [--depth D]
               [--duration SECS | --messages COUNT] [--warmup SECS]
               [--loss-timeout SECS] [--timeout SECS]";

/// Whether the arguments ask for this mode.
pub fn wanted(args: &[String]) -> bool {
    args.iter().zip(args.iter().skip(1)).any(|(flag, value)| flag == "--mode" && value == "udp")
        || args.iter().any(|a| a == "--mode=udp")
}

#[derive(Debug, Clone)]
struct Opts {
    addr: SocketAddr,
    sockets: usize,
    size: usize,
    depth: usize,
    duration: Option<f64>,
    messages: Option<u64>,
    warmup: f64,
    loss_timeout: f64,
    timeout: f64,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let (mut addr, mut sockets, mut size, mut depth) = (None, 4, 64, 16);
    let (mut duration, mut messages, mut warmup, mut loss_timeout, mut timeout) = (None, None, 0.0, 0.2, None);
    let mut i = 0;
    while i < args.len() {
        let (name, value) = match args[i].split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                i += 1;
                (args[i - 1].clone(), args.get(i).cloned().ok_or_else(|| format!("{} needs a value", args[i - 1]))?)
            }
        };
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, String> {
            v.parse().map_err(|_| format!("{name}: bad number '{v}'"))
        }
        match name.as_str() {
            "--addr" => {
                let resolved = value.to_socket_addrs().map_err(|e| format!("--addr {value}: {e}"))?.next();
                addr = Some(resolved.ok_or_else(|| format!("--addr {value}: no address"))?);
            }
            "--mode" => {}
            "--sockets" | "--conns" => sockets = num(&name, &value)?,
            "--size" => size = num(&name, &value)?,
            "--depth" => depth = num(&name, &value)?,
            "--duration" => duration = Some(num::<f64>(&name, &value)?),
            "--messages" => messages = Some(num::<u64>(&name, &value)?),
            "--warmup" => warmup = num(&name, &value)?,
            "--loss-timeout" => loss_timeout = num(&name, &value)?,
            "--timeout" => timeout = Some(num::<f64>(&name, &value)?),
            _ => return Err(format!("unknown option '{name}' for --mode udp")),
        }
        i += 1;
    }
    let addr = addr.ok_or("--addr is required")?;
    if sockets == 0 || sockets > u16::MAX as usize || depth == 0 || !(HEADER..=MAX_SIZE).contains(&size) {
        return Err(format!("--sockets 1..65535, --depth >= 1 and --size {HEADER}..{MAX_SIZE}"));
    }
    if duration.is_some() && messages.is_some() {
        return Err("give --duration or --messages, not both".into());
    }
    for (n, v) in
        [("--duration", duration.unwrap_or(1.0)), ("--warmup", warmup + 1.0), ("--loss-timeout", loss_timeout)]
    {
        if !(v.is_finite() && v > 0.0) {
            return Err(format!("{n}: must be a positive number of seconds"));
        }
    }
    if messages.is_none() && duration.is_none() {
        duration = Some(5.0);
    }
    let timeout = timeout.unwrap_or(warmup + duration.unwrap_or(0.0) + 300.0);
    Ok(Opts { addr, sockets, size, depth, duration, messages, warmup, loss_timeout, timeout })
}

/// The bytes of datagram `seq` of socket `id`.
fn fill(buf: &mut [u8], id: u16, seq: u64) {
    buf[..2].copy_from_slice(&id.to_le_bytes());
    buf[2..HEADER].copy_from_slice(&seq.to_le_bytes());
    let base = (seq as usize).wrapping_mul(7).wrapping_add(id as usize);
    for (k, b) in buf[HEADER..].iter_mut().enumerate() {
        *b = (base.wrapping_add(k) % 251) as u8;
    }
}

/// A datagram in flight: its sequence number, when it left, and whether
/// its echo arrived (it stays queued until every older one is settled).
struct Flight {
    seq: u64,
    sent: Instant,
    echoed: bool,
}

struct Sock {
    sock: UdpSocket,
    id: u16,
    next_seq: u64,
    /// Oldest first, sequence numbers consecutive.
    flights: VecDeque<Flight>,
    /// Datagrams in `flights` not echoed yet.
    waiting: usize,
    /// The kernel refused a send: wait for a writable event.
    blocked: bool,
}

#[derive(Default)]
struct Tally {
    sent: u64,
    echoed: u64,
    /// Echoed inside the measured window.
    counted: u64,
    lost: u64,
    late: u64,
    latencies_ns: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, msg: String) {
        self.errors += 1;
        self.first_error.get_or_insert(msg);
    }
}

/// Headers and buffers for one `sendmmsg` / `recvmmsg`.
struct Mmsg {
    bufs: Vec<Vec<u8>>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Mmsg {
    fn new(size: usize) -> Mmsg {
        // One byte more than a datagram: a longer echo shows as a wrong length.
        let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; size + 1]).collect();
        let mut iovs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec { iov_base: b.as_mut_ptr() as *mut libc::c_void, iov_len: b.len() })
            .collect();
        let hdrs = iovs
            .iter_mut()
            .map(|iov| {
                // SAFETY: both are plain data; zeroed is a valid empty header.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Mmsg { bufs, iovs, hdrs }
    }

    /// Sends the first `count` buffers, each `len` bytes long, as datagrams.
    fn send(&mut self, fd: i32, count: usize, len: usize) -> io::Result<usize> {
        for (iov, h) in self.iovs.iter_mut().zip(self.hdrs.iter_mut()).take(count) {
            iov.iov_len = len;
            h.msg_hdr.msg_flags = 0;
        }
        // SAFETY: the headers point at our iovecs, which point at our buffers.
        let n = unsafe { libc::sendmmsg(fd, self.hdrs.as_mut_ptr(), count as u32, 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Receives up to a batch of datagrams; returns how many.
    fn recv(&mut self, fd: i32) -> io::Result<usize> {
        for ((iov, h), buf) in self.iovs.iter_mut().zip(self.hdrs.iter_mut()).zip(&self.bufs) {
            iov.iov_len = buf.len();
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: as in `send`; the kernel writes at most iov_len bytes per buffer.
        let n = unsafe { libc::recvmmsg(fd, self.hdrs.as_mut_ptr(), BATCH as u32, 0, std::ptr::null_mut()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// The `i`-th datagram received by the last `recv`.
    fn received(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.hdrs[i].msg_len as usize]
    }
}

struct Run {
    o: Opts,
    socks: Vec<Sock>,
    mmsg: Mmsg,
    expected: Vec<u8>,
    tally: Tally,
    measure_from: Instant,
    /// Stop sending (the duration is over, or every datagram asked for was sent).
    draining: bool,
}

impl Run {
    fn new(o: Opts, poll: &Poll) -> io::Result<Run> {
        let local: SocketAddr = if o.addr.is_ipv4() { "127.0.0.1:0" } else { "[::1]:0" }.parse().expect("literal");
        let mut socks = Vec::with_capacity(o.sockets);
        for id in 0..o.sockets {
            let mut sock = UdpSocket::bind(local)?;
            sock.connect(o.addr)?;
            poll.registry().register(&mut sock, Token(id), Interest::READABLE | Interest::WRITABLE)?;
            let id = id as u16;
            socks.push(Sock { sock, id, next_seq: 0, flights: VecDeque::new(), waiting: 0, blocked: false });
        }
        let size = o.size;
        Ok(Run {
            o,
            socks,
            mmsg: Mmsg::new(size),
            expected: vec![0u8; size],
            tally: Tally::default(),
            measure_from: Instant::now(),
            draining: false,
        })
    }

    /// Fills socket `s`'s window (unless draining or blocked).
    fn top_up(&mut self, s: usize) {
        let limit = self.o.messages.unwrap_or(u64::MAX);
        loop {
            let sock = &mut self.socks[s];
            let room = self.o.depth.saturating_sub(sock.waiting).min(BATCH);
            let room = room.min(limit.saturating_sub(self.tally.sent) as usize);
            if self.draining || sock.blocked || room == 0 {
                return;
            }
            for k in 0..room {
                fill(&mut self.mmsg.bufs[k][..self.o.size], sock.id, sock.next_seq + k as u64);
            }
            match self.mmsg.send(sock.sock.as_raw_fd(), room, self.o.size) {
                Ok(n) => {
                    let now = Instant::now();
                    for _ in 0..n {
                        sock.flights.push_back(Flight { seq: sock.next_seq, sent: now, echoed: false });
                        sock.next_seq += 1;
                    }
                    sock.waiting += n;
                    self.tally.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => sock.blocked = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.tally.error(format!("send: {e}"));
                    return;
                }
            }
        }
    }

    /// Receives and checks everything socket `s` holds.
    fn drain(&mut self, s: usize) {
        loop {
            let fd = self.socks[s].sock.as_raw_fd();
            let n = match self.mmsg.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.tally.error(format!("receive: {e}")),
            };
            let now = Instant::now();
            for i in 0..n {
                self.check(s, i, now);
            }
        }
    }

    /// Settles the `i`-th datagram just received on socket `s`.
    fn check(&mut self, s: usize, i: usize, now: Instant) {
        let got = self.mmsg.received(i);
        let sock = &mut self.socks[s];
        if got.len() != self.o.size {
            return self.tally.error(format!("socket {s}: an echo of {} bytes, not {}", got.len(), self.o.size));
        }
        let id = u16::from_le_bytes([got[0], got[1]]);
        let seq = u64::from_le_bytes(got[2..HEADER].try_into().expect("8 bytes"));
        fill(&mut self.expected, sock.id, seq);
        if id != sock.id || got != self.expected.as_slice() {
            return self.tally.error(format!("socket {s}: datagram {seq} came back altered (mismatch)"));
        }
        let oldest = sock.flights.front().map_or(sock.next_seq, |f| f.seq);
        if seq >= sock.next_seq {
            return self.tally.error(format!("socket {s}: an echo of datagram {seq}, never sent"));
        }
        if seq < oldest {
            // Already counted as lost.
            self.tally.late += 1;
            return;
        }
        let flight = &mut sock.flights[(seq - oldest) as usize];
        if flight.echoed {
            return self.tally.error(format!("socket {s}: datagram {seq} echoed twice"));
        }
        flight.echoed = true;
        sock.waiting -= 1;
        self.tally.echoed += 1;
        if !self.draining && now >= self.measure_from {
            self.tally.counted += 1;
            self.tally.latencies_ns.push(now.duration_since(flight.sent).as_nanos() as u64);
        }
        while sock.flights.front().is_some_and(|f| f.echoed) {
            sock.flights.pop_front();
        }
    }

    /// Counts as lost what waited longer than the loss timeout.
    fn expire(&mut self, now: Instant) {
        let wait = Duration::from_secs_f64(self.o.loss_timeout);
        for sock in &mut self.socks {
            while let Some(f) = sock.flights.front() {
                if !f.echoed && now.duration_since(f.sent) < wait {
                    break;
                }
                if !f.echoed {
                    sock.waiting -= 1;
                    self.tally.lost += 1;
                }
                sock.flights.pop_front();
            }
        }
    }
}

fn run(o: Opts) -> Result<(Tally, f64), String> {
    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut run = Run::new(o.clone(), &poll).map_err(|e| format!("socket: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let hang = start + Duration::from_secs_f64(o.timeout);
    run.measure_from = start + Duration::from_secs_f64(o.warmup);
    let end = o.duration.map(|d| run.measure_from + Duration::from_secs_f64(d));
    for s in 0..run.socks.len() {
        run.top_up(s);
    }
    loop {
        let now = Instant::now();
        if now > hang {
            run.tally.error(format!("timed out after {:.0} s", o.timeout));
            break;
        }
        if end.is_some_and(|end| now >= end) || o.messages.is_some_and(|m| run.tally.sent >= m) {
            run.draining = true;
        }
        run.expire(now);
        let waiting: usize = run.socks.iter().map(|s| s.waiting).sum();
        if run.draining && (end.is_some() || waiting == 0) {
            break;
        }
        poll.poll(&mut events, Some(Duration::from_millis(10))).map_err(|e| format!("poll: {e}"))?;
        for ev in events.iter() {
            let s = ev.token().0;
            if ev.is_writable() {
                run.socks[s].blocked = false;
            }
            if ev.is_readable() {
                run.drain(s);
            }
        }
        for s in 0..run.socks.len() {
            run.top_up(s);
        }
        if run.tally.errors > 0 {
            break;
        }
    }
    let window = match end {
        Some(end) => end.min(Instant::now()).saturating_duration_since(run.measure_from),
        None => Instant::now().saturating_duration_since(run.measure_from.min(Instant::now())),
    };
    if o.messages.is_some() {
        run.tally.counted = run.tally.echoed;
    }
    Ok((run.tally, window.as_secs_f64().max(1e-9)))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[k] as f64 / 1000.0
}

/// Runs the mode and prints its JSON line.
pub fn main(args: &[String]) -> ExitCode {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}\nusage (udp mode):\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (mut t, elapsed) = run(o.clone()).unwrap_or_else(|e| {
        let mut t = Tally::default();
        t.error(e);
        (t, 1e-9)
    });
    t.latencies_ns.sort_unstable();
    let error = t.first_error.as_deref().map_or("null".to_string(), |e| format!("{e:?}"));
    println!(
        "{{\"mode\":\"udp\",\"addr\":\"{}\",\"sockets\":{},\"size\":{},\"depth\":{},\"sent\":{},\"echoed\":{},\
         \"total_messages\":{},\"elapsed_s\":{:.4},\"datagrams_per_s\":{:.1},\"requests_per_s\":{:.1},\"lost\":{},\
         \"late\":{},\"lat_p50_us\":{:.1},\"lat_p99_us\":{:.1},\"errors\":{},\"error\":{}}}",
        o.addr,
        o.sockets,
        o.size,
        o.depth,
        t.sent,
        t.echoed,
        t.counted,
        elapsed,
        t.counted as f64 / elapsed,
        t.counted as f64 / elapsed,
        t.lost,
        t.late,
        percentile(&t.latencies_ns, 0.5),
        percentile(&t.latencies_ns, 0.99),
        t.errors,
        error
    );
    if t.errors > 0 {
        eprintln!("loadgen: {} error(s); first: {}", t.errors, t.first_error.as_deref().unwrap_or("?"));
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_udp_options() {
        let a = args("--addr 127.0.0.1:9 --mode udp --sockets 2 --size 1200 --depth 8 --messages 100");
        assert!(wanted(&a));
        let o = parse(&a).unwrap();
        assert_eq!((o.sockets, o.size, o.depth, o.messages, o.duration), (2, 1200, 8, Some(100), None));
        assert!(!wanted(&args("--addr 127.0.0.1:9 --mode pingpong")));
        assert!(parse(&args("--addr 127.0.0.1:9 --size 9")).is_err(), "smaller than the header");
        assert!(parse(&args("--addr 127.0.0.1:9 --size 65508")).is_err());
        assert!(parse(&args("--addr 127.0.0.1:9 --duration 1 --messages 5")).is_err());
    }

    #[test]
    fn datagrams_differ_by_socket_and_sequence() {
        let (mut a, mut b, mut c) = (vec![0u8; 64], vec![0u8; 64], vec![0u8; 64]);
        fill(&mut a, 0, 1);
        fill(&mut b, 1, 1);
        fill(&mut c, 0, 2);
        assert!(a != b && a != c && b != c);
        assert_ne!(a[HEADER..], c[HEADER..], "the payload itself depends on the sequence number");
    }
}
