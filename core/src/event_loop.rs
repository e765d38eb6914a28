//! The loop: owns sockets and timers, turns readiness into events, and is
//! safe to use from any thread.
//!
//! Two locks: `poller` is held by whoever is polling (and by the batch it
//! returns, which keeps event bytes in place); `state` is held briefly by every
//! operation. Operations never wait for a poll: they take `state`, act on the
//! socket directly, and wake the poller only when they queued an event for it.

use std::ffi::CStr;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Poll, Token, Waker};
use parking_lot::{Mutex, MutexGuard};
use socket2::SockRef;

use crate::addr;
use crate::batch::{Batch, Poller};
use crate::connect_options::ConnectOptions;
use crate::dialer::Dialer;
use crate::error::{invalid, Error, Result};
use crate::event::{Event, EventKind, HandleKind};
use crate::framing::Framing;
use crate::handle::{Handle, LoopTag};
use crate::options::SockOption;
use crate::out::{reset_arena, Out};
use crate::state::{Entry, State};
use crate::tcp::attempt::Dialing;
use crate::tcp::conn::{input_after_upgrade_point, Conn, Role, Sent};
use crate::tcp::listener::{BindOptions, Listener, MAX_CONNECTIONS};
use crate::tcp::stream::Stream;
use crate::timer::{later, Due, IdleTimeout, Timer};
use crate::tls::{ClientConfig, Failure as TlsFailure, ServerConfig, TlsInfo};
use crate::udp::{self, DatagramToSend, Udp};
use crate::unix::{self, PeerCredentials, Want};

const WAKER: Token = Token(usize::MAX);
/// Bounds of [`Loop::set_read_size`].
const MIN_READ_SIZE: usize = 4 << 10;
const MAX_READ_SIZE: usize = 4 << 20;
/// Largest raw option value [`Loop::raw_option`] reads (as Python's
/// `socket.getsockopt`; no socket option is larger).
pub const MAX_RAW_OPTION_SIZE: usize = 1024;
/// Events a poll returns at most when the host leaves the number to
/// netcore (the default of the bindings' `poll`).
pub const DEFAULT_MAX_EVENTS: usize = 1024;
/// Events handed to one callback round of [`Loop::run`] (and of the
/// bindings' `run`, by default).
pub const RUN_MAX_EVENTS: usize = 256;

struct Shared {
    state: Arc<Mutex<State>>,
    poller: Mutex<Poller>,
    fd: RawFd,
    stop: AtomicBool,
    /// `wake` was called: the current or next poll returns.
    woken: AtomicBool,
    /// Counts the user's closes and STARTTLS upgrades, so that
    /// [`Loop::run`] screens events only after a callback made one.
    interventions: AtomicUsize,
    /// [`Loop::close_loop`] was called (set under the state lock).
    closed: AtomicBool,
}

/// An event loop. Cheap to clone (clones share the loop); `Send + Sync`.
#[derive(Clone)]
pub struct Loop {
    shared: Arc<Shared>,
}

/// The socket a kernel-level option is set on: `EWRONGKIND` unless the
/// option applies to the handle's kind.
fn option_sock(entry: &mut Entry, option: SockOption) -> Result<SockRef<'_>> {
    if !entry.kind().is_some_and(|kind| option.applies_to(kind)) {
        return Err(Error::EWRONGKIND);
    }
    sock_ref(entry)
}

/// A socket behind a handle, for option calls.
fn sock_ref(entry: &mut Entry) -> Result<SockRef<'_>> {
    match entry {
        Entry::Listener(l) => l.sock().map(SockRef::from).ok_or(Error::ECLOSED),
        Entry::Conn(c) => c.sock().map(SockRef::from).ok_or(Error::ENOTCONN),
        Entry::Udp(u) => Ok(SockRef::from(u.sock())),
        Entry::Timer(_) | Entry::Attempt(_) => Err(Error::EWRONGKIND),
        Entry::Closed(_) => Err(Error::ECLOSED),
    }
}

impl Loop {
    /// Creates a loop. At most [`crate::MAX_LOOPS`] (1024) loops may be alive
    /// in a process at once (each has its own handle tag): creating one more
    /// fails with `EMFILE` until one is dropped.
    pub fn new() -> Result<Loop> {
        let tag = LoopTag::take()?;
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let fd = poll.as_raw_fd();
        let state = Arc::new_cyclic(|me| Mutex::new(State::new(tag, registry, waker, me.clone())));
        let poller = Poller {
            poll,
            events: mio::Events::with_capacity(1024),
            arena: Vec::new(),
            batch: Vec::new(),
            datagrams: None,
            woken: false,
        };
        Ok(Loop {
            shared: Arc::new(Shared {
                state,
                poller: Mutex::new(poller),
                fd,
                stop: AtomicBool::new(false),
                woken: AtomicBool::new(false),
                interventions: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The state, for operations: `ECLOSED` once the loop is closed.
    fn state(&self) -> Result<MutexGuard<'_, State>> {
        let state = self.lock();
        if self.is_closed() {
            return Err(Error::ECLOSED);
        }
        Ok(state)
    }

    /// The state, closed or not.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock()
    }

    /// The range of a poll's `max`: at least 1 (`EINVAL` otherwise). Hosts
    /// that poll later (an embedding driver) check their count up front.
    pub fn check_max_events(max: usize) -> Result<()> {
        if max == 0 {
            return Err(invalid!("max_events", "at least 1"));
        }
        Ok(())
    }

    /// Whether [`Loop::close_loop`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Closes the loop, from any thread, at once: every socket closes (queued
    /// data is dropped), nothing queued is delivered, and a poll or run that
    /// is waiting, or starts later, returns `ECLOSED`, as does every later
    /// operation. Idempotent. It never waits for a poller (only for the
    /// short-held state lock, never held while user code runs), so it is
    /// safe from a callback or a signal handler's host-language code. The
    /// loop's memory and descriptor go when the last clone is dropped.
    pub fn close_loop(&self) {
        let mut state = self.lock();
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        state.close_all();
        self.shared.interventions.fetch_add(1, Ordering::Relaxed);
        // A failed wake means the eventfd is saturated: a wake is pending anyway.
        let _ = state.waker.wake();
    }

    /// Waits up to `timeout` (`None` = forever, zero = not at all) and returns
    /// up to `max` events (at least 1). `EBUSY` if another caller is polling,
    /// `ECLOSED` once the loop is closed ([`Loop::close_loop`]; also ends a wait).
    /// A signal interrupting the wait returns an empty batch. Events handed
    /// back with [`Batch::keep_from`] come first, in a batch of their own.
    pub fn poll(&self, max: usize, timeout: Option<Duration>) -> Result<Batch<'_>> {
        Self::check_max_events(max)?;
        if self.is_closed() {
            return Err(Error::ECLOSED);
        }
        let mut guard = self.shared.poller.try_lock().ok_or(Error::EBUSY)?;
        let start = timeout.filter(|t| !t.is_zero()).map(|_| Instant::now());
        let mut wait = timeout;
        // Readiness that yields no event (a first writable edge, a stale
        // deadline) must not end the wait: go round until an event, the
        // timeout, a signal or an explicit wake.
        loop {
            let interrupted = self.poll_once(&mut guard, max, wait)?;
            let woken = self.shared.woken.swap(false, Ordering::AcqRel);
            guard.woken = woken;
            if !guard.batch.is_empty() || interrupted || woken || timeout == Some(Duration::ZERO) {
                return Ok(Batch { guard, state: &self.shared.state });
            }
            if let (Some(timeout), Some(start)) = (timeout, start) {
                match timeout.checked_sub(start.elapsed()) {
                    Some(left) if !left.is_zero() => wait = Some(left),
                    _ => return Ok(Batch { guard, state: &self.shared.state }),
                }
            }
        }
    }

    /// One wait of at most `wait` and one round of servicing. Returns
    /// whether a signal interrupted the wait.
    fn poll_once(&self, poller: &mut Poller, max: usize, wait: Option<Duration>) -> Result<bool> {
        reset_arena(&mut poller.arena);
        poller.batch.clear();
        if let Some(receiver) = &mut poller.datagrams {
            receiver.clear();
        }
        let (wait, kept) = {
            let mut state = self.state()?;
            state.notified = false;
            state.flush_deferred();
            state.release_delivered();
            state.closed_by_user.clear();
            state.upgraded_by_user.clear();
            (state.poll_timeout(wait), !state.kept.is_empty())
        };
        // Events a host handed back go out alone, before anything new:
        // readiness waits in mio's poll until they are delivered.
        let interrupted = !kept
            && match poller.poll.poll(&mut poller.events, wait) {
                Ok(()) => false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                    poller.events.clear();
                    true
                }
                Err(e) => return Err(e.into()),
            };
        let mut state = self.state()?;
        let read_size = state.read_size;
        let mut out = Out {
            arena: &mut poller.arena,
            events: &mut poller.batch,
            datagrams: &mut poller.datagrams,
            cap: max,
            read_size,
        };
        if kept {
            state.take_kept(&mut out);
        } else {
            // Oldest first: events of operations, resolver results, deadlines,
            // work left from earlier polls, then the new readiness.
            if !state.pending.is_empty() {
                let from_pending = state.pending.len().min(max);
                out.events.extend(state.pending.drain(..from_pending));
            }
            state.take_resolved(out.events);
            state.fire_deadlines(out.events);
            while !out.full() {
                let Some(handle) = state.ready.pop_front() else {
                    break;
                };
                state.service(handle, &mut out);
            }
            for event in poller.events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                state.on_readiness(event, &mut out);
            }
        }
        if out.events.len() > max {
            // Overflow is newer than anything still pending, and carries no
            // bytes (data events are only added below `max`).
            let overflow = out.events.split_off(max);
            debug_assert!(overflow.iter().all(|e| e.data_len() == 0));
            state.pending.extend(overflow);
        }
        state.note_delivered(out.events);
        // Left-over work must keep the embed fd readable.
        if state.has_work() {
            state.notify();
        }
        Ok(interrupted)
    }

    /// Polls and calls `f` for each event, until [`Loop::stop`] is called.
    /// Operations on this loop may be called from `f`; polling may not (`EBUSY`).
    /// Once `close` or `close_reset` of a handle returned, `f` gets no more
    /// events of it but its `Closed` (the rest of the batch is skipped).
    pub fn run(&self, mut f: impl FnMut(&Event, &[u8])) -> Result<()> {
        self.run_with_paths(|event, data, _| f(event, data))
    }

    /// [`Loop::run`], also handing `f` a Unix datagram's sender path
    /// ([`Batch::path_cstr`]).
    pub fn run_with_paths(&self, mut f: impl FnMut(&Event, &[u8], Option<&CStr>)) -> Result<()> {
        while !self.take_stop() {
            let batch = self.poll(RUN_MAX_EVENTS, None)?;
            self.deliver_with_paths(batch, |event, data, path| {
                f(event, data, path);
                true
            })?;
        }
        Ok(())
    }

    /// Calls `f` for each event of `batch` as [`Loop::run`] does, for hosts
    /// that poll themselves: events are screened by [`Loop::skips`] (those
    /// of a handle the user closed since the poll but its `Closed`; input
    /// after a STARTTLS upgrade point), and `ECLOSED` ends the delivery
    /// once the loop is closed (by `f` or anyone). When `f` returns `false`
    /// (a host's callback raised), the events after that one are kept for
    /// the next poll ([`Batch::keep_from`]). Returns how many events `f` got.
    pub fn deliver(&self, batch: Batch<'_>, mut f: impl FnMut(&Event, &[u8]) -> bool) -> Result<usize> {
        self.deliver_with_paths(batch, |event, data, _| f(event, data))
    }

    /// [`Loop::deliver`], also handing `f` a Unix datagram's sender path
    /// ([`Batch::path_cstr`]).
    pub fn deliver_with_paths(
        &self,
        batch: Batch<'_>,
        mut f: impl FnMut(&Event, &[u8], Option<&CStr>) -> bool,
    ) -> Result<usize> {
        let interventions = self.interventions();
        let mut count = 0;
        for (i, event) in batch.events().iter().enumerate() {
            // One atomic load per event unless something was closed or upgraded.
            if self.interventions() != interventions {
                if self.is_closed() {
                    return Err(Error::ECLOSED);
                }
                if self.skips(event, batch.data(event), interventions) {
                    continue;
                }
            }
            count += 1;
            if !f(event, batch.data(event), batch.path_cstr(event)) {
                batch.keep_from(i + 1);
                break;
            }
        }
        // The last callback closed the loop.
        if self.interventions() != interventions && self.is_closed() {
            return Err(Error::ECLOSED);
        }
        Ok(count)
    }

    /// Records a close by the user, for [`Loop::run`].
    fn closed_by_user(&self, state: &mut State, handle: Handle) {
        state.note_closed_by_user(handle);
        self.shared.interventions.fetch_add(1, Ordering::Relaxed);
    }

    /// Makes the current (or next) [`Loop::run`] return after its current batch.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// Consumes a [`Loop::stop`]: whether one was pending. Hosts that run
    /// their own loop (the Python binding's `run`) return when it is.
    pub fn take_stop(&self) -> bool {
        self.shared.stop.swap(false, Ordering::AcqRel)
    }

    /// For hosts that deliver a batch themselves without
    /// [`Loop::deliver`]: the count of the user's closes and STARTTLS
    /// upgrades so far, taken when the batch was polled.
    pub fn interventions(&self) -> usize {
        self.shared.interventions.load(Ordering::Relaxed)
    }

    /// Whether the host skips `event` of a batch polled when
    /// [`Loop::interventions`] was `interventions`. The rules: every event
    /// but `Closed` of a handle whose [`Loop::close`] or
    /// [`Loop::close_reset`] succeeded since the batch was polled; and a
    /// `Data` event of a connection upgraded to TLS since then
    /// ([`Loop::start_tls_server`] on a live connection): plaintext that
    /// came after the upgrade point, which closes the connection
    /// (`TlsFailed`, then `Closed` with `ETLSPROTOCOL`); and a `Data` or
    /// `Eof` event of a connection paused since then, which the connection
    /// keeps, its bytes (`data`) included, and delivers again once resumed
    /// ([`Loop::hold`]). A host that makes every close, upgrade and pause
    /// itself may keep those sets of handles instead and ask only about
    /// theirs (the Node binding does). Costs one atomic load unless
    /// something was closed, upgraded or paused.
    pub fn skips(&self, event: &Event, data: &[u8], interventions: usize) -> bool {
        self.interventions() != interventions && self.lock().screen(event, data)
    }

    /// The pause rule of [`Loop::skips`] for a host that delivers a batch
    /// itself and knows which connections it paused since the batch was
    /// polled (the Node binding): hands back a `Data` event's bytes
    /// (`Some`) or an `Eof` (`None`) of `handle`. `true`: the connection
    /// keeps it, and delivers it again, in order, once resumed (kept are
    /// data while paused and, to keep the order, while earlier data is
    /// kept; an `Eof` behind kept data, reported again after it).
    pub fn hold(&self, handle: Handle, data: Option<&[u8]>) -> bool {
        self.lock().hold(handle, data)
    }

    /// [`Loop::skips`] for a host that keeps no events but knows which
    /// connections it upgraded with [`Loop::start_tls_server`] or
    /// [`Loop::start_tls_client`] since the batch was polled (the Node
    /// binding): whether that batch's `Data` event of `handle` is skipped
    /// (plaintext after the upgrade point, which closes the connection:
    /// `TlsFailed`, then `Closed` with `ETLSPROTOCOL`).
    pub fn skips_upgraded_data(&self, handle: Handle) -> bool {
        let mut state = self.lock();
        state.upgraded_by_user.contains(&handle) && state.screen(&Event::new(EventKind::Data, handle, 0), &[])
    }

    /// Interrupts a blocking poll from any thread: it returns, with no
    /// events if none are ready.
    pub fn wake(&self) {
        self.shared.woken.store(true, Ordering::Release);
        // Forced: the poller may be asleep even with `notified` set by an
        // operation whose wake it already consumed.
        let state = self.lock();
        let _ = state.waker.wake();
    }

    /// A descriptor that is readable while events are pending (for embedding
    /// the loop in another one). Poll with a zero timeout when it is.
    pub fn fd(&self) -> RawFd {
        self.shared.fd
    }

    /// How long a host loop may sleep before polling again: zero when work is
    /// pending, `None` when only new I/O can produce events. Rounded up to a
    /// whole millisecond: a host that sleeps in milliseconds then never wakes
    /// before the deadline only to find nothing due and spin until it is.
    pub fn next_timeout(&self) -> Option<Duration> {
        let wait = self.lock().poll_timeout(None)?;
        let millis = wait.as_nanos().div_ceil(1_000_000);
        Some(Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX)))
    }

    /// Sets the most bytes one read of a TCP connection asks for, and so the
    /// largest `Data` chunk in stream framing: 4 KiB to 4 MiB (`EINVAL`
    /// otherwise); default 256 KiB. Smaller reads suit hosts that copy every
    /// chunk into a fresh block of their own (below the allocator's mmap
    /// threshold, such blocks come from reused memory instead of new pages).
    pub fn set_read_size(&self, bytes: usize) -> Result<()> {
        if !(MIN_READ_SIZE..=MAX_READ_SIZE).contains(&bytes) {
            return Err(invalid!("read_size", "4096 to 4194304 bytes"));
        }
        self.state()?.read_size = bytes;
        Ok(())
    }

    /// Deadlines the loop holds, live or stale (cancelled, re-armed) and not
    /// yet dropped: at most about twice the live ones. For tests that check
    /// cancellations do not pile up.
    pub fn deadline_count(&self) -> usize {
        self.lock().deadlines.len()
    }

    /// Number of handles the user holds: those whose `Closed` has not been
    /// delivered yet (internal connection attempts are not counted).
    pub fn handle_count(&self) -> usize {
        self.lock().user_handles()
    }

    /// Listens for TCP connections on `host` (an IP literal or `localhost`) and `port` (0 = any).
    pub fn tcp_listen(&self, host: &str, port: i64, opts: &BindOptions, userdata: u64) -> Result<Handle> {
        let addr = addr::literal(host, port)?;
        let listener = Listener::bind(addr, opts, userdata)?;
        self.state()?.add(Entry::Listener(listener))
    }

    /// Starts connecting to `host` (a name or IP literal) and `port`. Names are
    /// resolved by the bounded resolver pool ([`crate::MAX_RESOLVER_THREADS`]
    /// threads per process, a FIFO queue beyond; closing cancels a queued lookup); the addresses are tried Happy-Eyeballs
    /// style. The result arrives as `Connected`, or `ConnectFailed` then `Closed`.
    pub fn tcp_connect(&self, host: &str, port: i64, userdata: u64) -> Result<Handle> {
        self.tcp_connect_with(host, port, &ConnectOptions::default(), userdata)
    }

    /// [`Loop::tcp_connect`] with options: timeout, address family, local
    /// address, attempt delay, auto-reconnect.
    pub fn tcp_connect_with(&self, host: &str, port: i64, opts: &ConnectOptions, userdata: u64) -> Result<Handle> {
        addr::check_host(host)?;
        let port = addr::port(port)?;
        if port == 0 {
            return Err(invalid!("port", "1 to 65535"));
        }
        opts.check()?;
        let conn = Conn::dialing(Dialing::new(Dialer::new(host.to_owned(), port, opts.clone())), userdata);
        let mut state = self.state()?;
        let handle = state.slab.insert(Entry::Conn(conn))?;
        state.dial_quietly(handle, |dialer, now| dialer.start(now));
        // The next poll reports what the dialer has to say: even a failure
        // known at once (an unreachable literal, a `.invalid` name) comes
        // as events of a handle that is live until then.
        state.schedule(handle);
        Ok(handle)
    }

    /// Answers `name` with `addresses` (in this order) for this loop's
    /// connections, without the system resolver — like a hosts-file entry.
    /// An empty list removes the entry.
    pub fn set_host_addresses(&self, name: &str, addresses: &[std::net::IpAddr]) -> Result<()> {
        addr::check_host(name)?;
        let mut state = self.state()?;
        let name = name.to_ascii_lowercase();
        if addresses.is_empty() {
            state.static_hosts.remove(&name);
        } else {
            state.static_hosts.insert(name, addresses.to_vec());
        }
        Ok(())
    }

    /// Binds a UDP socket on `host` (an IP literal or `localhost`) and `port` (0 = any).
    pub fn udp_bind(&self, host: &str, port: i64, opts: &BindOptions, userdata: u64) -> Result<Handle> {
        let addr = addr::literal(host, port)?;
        let udp = Udp::bind(addr, opts, userdata)?;
        self.state()?.add(Entry::Udp(udp))
    }

    /// Sets a UDP socket's default peer (then `send` works on it).
    pub fn udp_connect(&self, handle: Handle, host: &str, port: i64) -> Result<()> {
        let addr = addr::literal(host, port)?;
        match self.state()?.entry(handle)? {
            Entry::Udp(u) => Ok(u.udp()?.connect(addr)?),
            _ => Err(Error::EWRONGKIND),
        }
    }

    /// Dissolves a datagram socket's default peer ([`Loop::udp_connect`],
    /// [`Loop::unix_dgram_connect`]): `send` needs an address again, and
    /// datagrams from any sender arrive. The socket keeps its local
    /// address. `ENOTCONN` if it has no peer.
    pub fn udp_disconnect(&self, handle: Handle) -> Result<()> {
        let mut state = self.state()?;
        let Entry::Udp(u) = state.entry(handle)? else {
            return Err(Error::EWRONGKIND);
        };
        let sock = SockRef::from(u.sock());
        sock.peer_addr()?;
        let local = sock.local_addr()?;
        crate::sys::disconnect(sock.as_raw_fd())?;
        // Linux unbinds a UDP socket bound to port 0 as it disconnects: bind it again where it was.
        if sock.local_addr()?.as_socket().is_some_and(|now| now.port() == 0) {
            sock.bind(&local)?;
        }
        Ok(())
    }

    /// Joins (`join` true) or leaves a multicast group on a UDP socket.
    /// `interface` is the local IPv4 address of the interface (IPv4 groups;
    /// `0.0.0.0` = any) or an interface index as a number (IPv6 groups;
    /// `0` = any); empty is any, for either family.
    pub fn udp_multicast(&self, handle: Handle, group: &str, interface: &str, join: bool) -> Result<()> {
        let group = addr::ip_literal(group).filter(|g| g.is_multicast());
        let group = group.ok_or(invalid!("group", "a multicast IP address"))?;
        let mut state = self.state()?;
        let Entry::Udp(u) = state.entry(handle)? else {
            return Err(Error::EWRONGKIND);
        };
        let sock = u.udp()?;
        let result = match group {
            std::net::IpAddr::V4(g) if join => sock.join_multicast_v4(&g, &ipv4_interface(interface)?),
            std::net::IpAddr::V4(g) => sock.leave_multicast_v4(&g, &ipv4_interface(interface)?),
            std::net::IpAddr::V6(g) if join => sock.join_multicast_v6(&g, ipv6_interface(interface)?),
            std::net::IpAddr::V6(g) => sock.leave_multicast_v6(&g, ipv6_interface(interface)?),
        };
        Ok(result?)
    }

    /// Sets the interface a UDP socket sends multicast datagrams from, named
    /// as [`Loop::udp_multicast`] names one for the socket's family: its
    /// local IPv4 address on an IPv4 socket, its index on an IPv6 one
    /// (`0.0.0.0`, `0` or empty: the system's choice).
    pub fn udp_multicast_interface(&self, handle: Handle, interface: &str) -> Result<()> {
        let mut state = self.state()?;
        let Entry::Udp(u) = state.entry(handle)? else {
            return Err(Error::EWRONGKIND);
        };
        let sock = SockRef::from(u.udp()?);
        let result = match sock.local_addr()?.is_ipv6() {
            true => sock.set_multicast_if_v6(ipv6_interface(interface)?),
            false => sock.set_multicast_if_v4(&ipv4_interface(interface)?),
        };
        Ok(result?)
    }

    /// Listens for connections on the Unix socket `path`: a filesystem path
    /// (the socket file it creates is removed when the listener closes), or
    /// `@name` for `name` in Linux's abstract namespace. At most
    /// [`crate::MAX_UNIX_PATH`] bytes (`EINVAL` with a detail beyond);
    /// `EADDRINUSE` if the file exists. Of `opts`, the backlog and the cap apply.
    /// Connections behave as TCP ones (framing, water marks, TLS, ...);
    /// their `Accepted` carries no address.
    pub fn unix_listen(&self, path: &str, opts: &BindOptions, userdata: u64) -> Result<Handle> {
        let listener = Listener::bind_unix(path, opts, userdata)?;
        self.state()?.add(Entry::Listener(listener))
    }

    /// Connects to the Unix socket `path` (as [`Loop::unix_listen`] writes
    /// it). A local connect succeeds or fails at once: a failure is returned
    /// here (`ENOENT`, `ECONNREFUSED`, `EAGAIN` when the listener's backlog
    /// is full), a success is a live connection whose `Connected` event (no
    /// address) comes with the next poll. No reconnecting.
    pub fn unix_connect(&self, path: &str, userdata: u64) -> Result<Handle> {
        let addr = unix::sockaddr(path)?;
        let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
        sock.set_nonblocking(true)?;
        sock.connect(&addr)?;
        let conn = Conn::established(Stream::Unix(mio::net::UnixStream::from_std(sock.into())), userdata);
        let mut state = self.state()?;
        let handle = state.add(Entry::Conn(conn))?;
        state.with_pending(|_, events| events.push(Event::new(EventKind::Connected, handle, userdata)));
        Ok(handle)
    }

    /// Binds a Unix datagram socket on `path` (as [`Loop::unix_listen`]
    /// writes it; the socket file is removed when it closes). Its
    /// `Datagram` events carry the sender's path in [`Batch::path`]; send
    /// with [`Loop::unix_send_to`], or [`Loop::send`] after
    /// [`Loop::unix_dgram_connect`]. Handle kind: `Udp`.
    pub fn unix_dgram_bind(&self, path: &str, userdata: u64) -> Result<Handle> {
        let udp = Udp::bind_unix(path, userdata)?;
        self.state()?.add(Entry::Udp(udp))
    }

    /// Sends one datagram from a Unix datagram socket to `path`
    /// (`EWRONGKIND` on a UDP socket).
    pub fn unix_send_to(&self, handle: Handle, path: &str, data: &[u8]) -> Result<()> {
        let to = unix::sockaddr(path)?;
        let mut state = self.state()?;
        let Entry::Udp(u) = state.entry(handle)? else { return Err(Error::EWRONGKIND) };
        u.send(Some(to), &[data])
    }

    /// Sets a Unix datagram socket's default peer (then [`Loop::send`]
    /// works on it; `EWRONGKIND` on a UDP socket).
    pub fn unix_dgram_connect(&self, handle: Handle, path: &str) -> Result<()> {
        let to = unix::sockaddr(path)?;
        match self.state()?.entry(handle)? {
            Entry::Udp(u) if u.is_unix() => Ok(SockRef::from(u.sock()).connect(&to)?),
            _ => Err(Error::EWRONGKIND),
        }
    }

    /// The process, user and group of a Unix connection's peer
    /// (`SO_PEERCRED`, as of its connect): `EWRONGKIND` on anything but a
    /// Unix stream connection.
    pub fn peer_credentials(&self, handle: Handle) -> Result<PeerCredentials> {
        let mut state = self.state()?;
        match state.entry(handle)? {
            Entry::Conn(c) => match c.sock() {
                Some(sock) if sock.is_unix() => unix::peer_credentials(sock.as_raw_fd()),
                Some(_) => Err(Error::EWRONGKIND),
                None => Err(Error::ENOTCONN),
            },
            _ => Err(Error::EWRONGKIND),
        }
    }

    /// The Unix path of a socket's own end (`None` when unnamed; `@name` in
    /// the abstract namespace); `EAFNOSUPPORT` on an IP socket.
    pub fn local_path(&self, handle: Handle) -> Result<Option<String>> {
        let mut state = self.state()?;
        let addr = sock_ref(state.entry(handle)?)?.local_addr()?;
        Self::unix_text(&addr)
    }

    /// The Unix path of a connection's (or connected datagram socket's)
    /// peer, as [`Loop::local_path`].
    pub fn peer_path(&self, handle: Handle) -> Result<Option<String>> {
        let mut state = self.state()?;
        let addr = sock_ref(state.entry(handle)?)?.peer_addr()?;
        Self::unix_text(&addr)
    }

    fn unix_text(addr: &socket2::SockAddr) -> Result<Option<String>> {
        match addr.is_unix() {
            true => Ok(unix::text(addr)),
            false => Err(Error::EAFNOSUPPORT),
        }
    }

    /// Adopts a listening socket the program already has (TCP or Unix: an
    /// inherited descriptor, systemd's `LISTEN_FDS`, one from another
    /// library). On success the loop owns the socket: `fd` itself is closed
    /// (the loop keeps a duplicate, made non-blocking) and closing the
    /// handle closes the socket; a socket file it names is never removed.
    /// On failure `fd` is left as it was: `EINVAL` (argument `fd`) if it is
    /// not a listening stream socket of family IPv4, IPv6 or Unix.
    ///
    /// One listener shared by several loops (threads) or processes: give
    /// each loop its own duplicate (`dup(fd)`) to adopt; each accepts from
    /// the same backlog, and the kernel hands every connection to one of
    /// them.
    pub fn adopt_listener(&self, fd: RawFd, userdata: u64) -> Result<Handle> {
        self.adopt(fd, Want::Listener, |sock, is_unix| Entry::Listener(Listener::adopted(sock, is_unix, userdata)))
    }

    /// Adopts a connected stream socket (TCP or Unix) as
    /// [`Loop::adopt_listener`] does: `EINVAL` unless `fd` is a stream
    /// socket that is not listening. No event announces it: the handle is
    /// live at once, as a connection (TCP: `TCP_NODELAY` is left as it was).
    pub fn adopt_connection(&self, fd: RawFd, userdata: u64) -> Result<Handle> {
        self.adopt(fd, Want::Connection, |sock, is_unix| {
            let sock = match is_unix {
                true => Stream::Unix(mio::net::UnixStream::from_std(sock.into())),
                false => Stream::Tcp(mio::net::TcpStream::from_std(sock.into())),
            };
            Entry::Conn(Conn::established(sock, userdata))
        })
    }

    /// Adopts a datagram socket (UDP or Unix) as [`Loop::adopt_listener`]
    /// does: `EINVAL` unless `fd` is a datagram socket.
    pub fn adopt_udp(&self, fd: RawFd, userdata: u64) -> Result<Handle> {
        self.adopt(fd, Want::Datagram, |sock, is_unix| Entry::Udp(Udp::adopted(sock, is_unix, userdata)))
    }

    fn adopt(&self, fd: RawFd, want: Want, entry: impl FnOnce(socket2::Socket, bool) -> Entry) -> Result<Handle> {
        let is_unix = unix::check_adopted(fd, want)?;
        let mut state = self.state()?;
        let (sock, was_blocking) = unix::duplicate(fd)?;
        match state.add(entry(sock, is_unix)) {
            Ok(handle) => {
                // SAFETY: the caller handed `fd` over; the loop owns its duplicate.
                unsafe { libc::close(fd) };
                Ok(handle)
            }
            Err(e) => {
                if was_blocking {
                    unix::restore_blocking(fd);
                }
                Err(e)
            }
        }
    }

    /// Starts a timer: a `Timer` event after `delay`, then every `repeat` if
    /// given and not zero (a zero `repeat` is none, as 0 is in every binding:
    /// a one-shot timer, whose `Closed` follows its `Timer`). Cancel with
    /// [`Loop::close`]. A delay or period beyond [`crate::MAX_DURATION`] is
    /// never: such a timer stays open without firing (again) until closed.
    pub fn timer_start(&self, delay: Duration, repeat: Option<Duration>, userdata: u64) -> Result<Handle> {
        let repeat = repeat.filter(|r| !r.is_zero());
        let due = later(Instant::now(), delay);
        let mut state = self.state()?;
        let handle = state.slab.insert(Entry::Timer(Timer { userdata, repeat, epoch: 0, queued: false }))?;
        state.arm(due, handle, Due::Timer, 0);
        state.notify();
        Ok(handle)
    }

    /// Sends bytes on a connection (or a connected UDP socket).
    #[inline]
    pub fn send(&self, handle: Handle, data: &[u8]) -> Result<()> {
        self.send_vectored(handle, &[data])
    }

    /// Sends several buffers as one message: queued whole or refused whole.
    /// No bytes at all is `EINVAL` on a connection; on UDP, buffers that are
    /// all empty make a zero-length datagram (no buffer at all is `EINVAL`).
    #[inline]
    pub fn send_vectored(&self, handle: Handle, bufs: &[&[u8]]) -> Result<()> {
        self.send_with_token(handle, bufs, None)
    }

    /// [`Loop::send_vectored`] with an optional token: a `Sent` event
    /// carrying it follows once the last of these bytes reached the kernel
    /// (TCP only).
    pub fn send_with_token(&self, handle: Handle, bufs: &[&[u8]], token: Option<u64>) -> Result<()> {
        Self::send_locked(&mut *self.state()?, handle, bufs, token)
    }

    #[inline(always)]
    fn send_locked(state: &mut State, handle: Handle, bufs: &[&[u8]], token: Option<u64>) -> Result<()> {
        let conn = match state.slab.get_mut(handle)? {
            Entry::Conn(c) => c,
            other => return Self::send_not_conn(other, bufs, token),
        };
        let queued_events = state.pending.len();
        let result = conn.send(handle, bufs, token, &mut state.pending);
        match result {
            Ok(Sent::AtOnce) => return Ok(()),
            Ok(Sent::AfterDeferred) => return Self::send_after_deferred(state, handle, bufs, token),
            _ => {}
        }
        if conn.has_failed() {
            state.requeue(handle);
            state.notify();
        } else if state.pending.len() > queued_events {
            state.notify();
        }
        result.map(drop)
    }

    /// [`Loop::send`] for a host that sends several small messages per
    /// connection per turn (an HTTP server's head and body): on an open
    /// plaintext connection with nothing queued, up to 4 KiB (in all, and
    /// within the high-water mark) waits in the loop until
    /// [`Loop::flush_deferred`] or the next poll, and leaves with the
    /// connection's other deferred sends in one system call. Past that, or
    /// on any other handle, it is sent as [`Loop::send`] sends it, after
    /// the bytes deferred before; so are a send, close, shutdown or TLS
    /// upgrade of a connection with deferred bytes. Errors as [`Loop::send`]'s;
    /// a send that fails when flushed closes the connection with its error
    /// (`Closed`). Returns whether the loop had nothing deferred since its
    /// last flush or poll: the host then arranges one flush, after its
    /// turn's callbacks ran.
    pub fn send_deferred(&self, handle: Handle, data: &[u8]) -> Result<bool> {
        let mut guard = self.state()?;
        let state = &mut *guard;
        if let Entry::Conn(conn) = state.slab.get_mut(handle)? {
            if conn.defer(data.len()) {
                let first = state.deferred.is_empty();
                state.deferred.push(handle, data);
                return Ok(first);
            }
        }
        Self::send_locked(state, handle, &[data], None).map(|()| false)
    }

    /// Sends the bytes [`Loop::send_deferred`] left waiting (a poll does so
    /// first too). `ECLOSED` once the loop is closed.
    pub fn flush_deferred(&self) -> Result<()> {
        self.state()?.flush_deferred();
        Ok(())
    }

    /// [`Loop::send_locked`] on a connection with deferred bytes: they go first.
    #[cold]
    fn send_after_deferred(state: &mut State, handle: Handle, bufs: &[&[u8]], token: Option<u64>) -> Result<()> {
        state.flush_deferred_of(handle);
        Self::send_locked(state, handle, bufs, token)
    }

    /// [`Loop::send_with_token`] on a handle that is not a connection (kept
    /// out of line: the connection's path checks one kind).
    #[cold]
    fn send_not_conn(entry: &mut Entry, bufs: &[&[u8]], token: Option<u64>) -> Result<()> {
        match entry {
            Entry::Closed(_) => Err(Error::ECLOSED),
            Entry::Udp(u) if token.is_none() => u.send(None, bufs),
            Entry::Attempt(_) => Err(Error::EBADHANDLE),
            _ => Err(Error::EWRONGKIND),
        }
    }

    /// Bytes sent on a connection that the kernel has not taken yet (under
    /// TLS: plaintext whose records are not all written) — the figure the
    /// water marks are compared with, as libuv's `uv_stream_get_write_queue_size`.
    pub fn queued_bytes(&self, handle: Handle) -> Result<usize> {
        Ok(self.state()?.conn(handle)?.queued_bytes())
    }

    /// Sends one datagram to `host` (an IP literal or `localhost`) and `port`.
    pub fn send_to(&self, handle: Handle, host: &str, port: i64, data: &[u8]) -> Result<()> {
        self.send_to_addr(handle, addr::literal(host, port)?, data)
    }

    /// Sends one datagram to `addr` (e.g. the sender of a `Datagram` event).
    pub fn send_to_addr(&self, handle: Handle, addr: SocketAddr, data: &[u8]) -> Result<()> {
        udp::check_destination(&addr)?;
        let mut state = self.state()?;
        let Entry::Udp(u) = state.entry(handle)? else { return Err(Error::EWRONGKIND) };
        u.send(Some(addr.into()), &[data])
    }

    /// Sends datagrams from a UDP socket (or a connected Unix datagram
    /// socket), in order, as many per system call as the kernel takes
    /// (`sendmmsg`): each to its `to`, or to the connected peer. Each goes
    /// whole or not at all. Returns how many went out, counted from the
    /// first (0 for none given): all of them, or fewer when datagram `n`
    /// could not go — it and the ones after it were not sent, and a call
    /// from it sends them or reports why. An error when not even the first
    /// went: `EAGAIN` when the kernel has no room (a `Writable` event
    /// follows), `EINVAL` for port 0, `EWRONGKIND` for an IP `to` on a Unix
    /// socket, an `Err` item as it is (a caller's own conversion error),
    /// or the kernel's (`EMSGSIZE` above 65,507 bytes on IPv4). `EBADHANDLE`,
    /// `ECLOSED`, `EWRONGKIND` (not a datagram socket) refuse the whole call.
    ///
    /// ```
    /// use netcore_core::{BindOptions, DatagramToSend, Loop};
    ///
    /// let lp = Loop::new()?;
    /// let sock = lp.udp_bind("127.0.0.1", 0, &BindOptions::default(), 0)?;
    /// let to = Some(lp.local_addr(sock)?); // to itself
    /// let datagrams = [DatagramToSend { data: b"one", to }, DatagramToSend { data: b"two", to }];
    /// assert_eq!(lp.send_batch(sock, datagrams.map(Ok))?, 2);
    /// # Ok::<(), netcore_core::Error>(())
    /// ```
    pub fn send_batch<'a>(
        &self,
        handle: Handle,
        datagrams: impl IntoIterator<Item = Result<DatagramToSend<'a>>>,
    ) -> Result<usize> {
        let mut state = self.state()?;
        let mut sender = state.sender.take().unwrap_or_else(crate::sys::Outgoing::new);
        let sent = match state.entry(handle) {
            Ok(Entry::Udp(u)) => u.send_batch(&mut sender, datagrams),
            Ok(_) => Err(Error::EWRONGKIND),
            Err(e) => Err(e),
        };
        state.sender = Some(sender);
        sent
    }

    /// Closes a handle gracefully: a connection sends everything queued, then
    /// its FIN; `Closed` follows once it is done. Listeners, UDP sockets and
    /// timers close at once. `ECLOSED` if the handle is already closing or
    /// closed (until its `Closed` was delivered; `EBADHANDLE` after).
    /// Events of this batch not yet handled ([`Loop::run`]) are skipped
    /// but `Closed`, and so are the handle's kept ones ([`Batch::keep_from`]).
    pub fn close(&self, handle: Handle) -> Result<()> {
        let mut state = self.state()?;
        state.flush_deferred_of(handle);
        let conn = match state.entry(handle)? {
            Entry::Conn(_) => state.conn(handle)?,
            _ => {
                state.with_pending(|state, events| state.finish(handle, None, events));
                self.closed_by_user(&mut state, handle);
                return Ok(());
            }
        };
        conn.start_close(None);
        if !conn.is_connected() && conn.queued_bytes() == 0 {
            state.with_pending(|state, events| state.finish(handle, None, events));
        } else {
            conn.want_flush();
            state.schedule(handle);
        }
        self.closed_by_user(&mut state, handle);
        Ok(())
    }

    /// Closes a handle at once; a connection drops its queue and resets (RST),
    /// also while a graceful close is under way. `ECLOSED` once it is closed.
    pub fn close_reset(&self, handle: Handle) -> Result<()> {
        let mut state = self.state()?;
        self.close_at_once(&mut state, handle, |_| true)
    }

    /// Closes a handle at once, as asyncio's `Transport.abort()` and libuv's
    /// `uv_close` close a connection: its deferred bytes are offered to the
    /// kernel, what the kernel does not take is dropped, and the socket is
    /// closed without waiting for the peer. The kernel sends what it took,
    /// then a FIN; if bytes were dropped, a reset (RST) instead, so that the
    /// peer cannot take the lost bytes for a clean end. Also while a graceful
    /// close is under way (it ends it); other handles close as with
    /// [`Loop::close_reset`]. `ECLOSED` once it is closed.
    pub fn close_abort(&self, handle: Handle) -> Result<()> {
        let mut state = self.state()?;
        state.flush_deferred_of(handle);
        self.close_at_once(&mut state, handle, |conn| conn.queued_bytes() > 0)
    }

    /// Closes `handle` now, a connection with a reset if `reset(conn)` says
    /// so ([`Loop::close_reset`], [`Loop::close_abort`]).
    fn close_at_once(&self, state: &mut State, handle: Handle, reset: impl FnOnce(&Conn) -> bool) -> Result<()> {
        match state.identity(handle)? {
            Entry::Closed(_) => return Err(Error::ECLOSED),
            // Also a connection closing gracefully: this bounds its close.
            Entry::Conn(c) if reset(c) => c.reset(),
            _ => {}
        }
        state.with_pending(|state, events| state.finish(handle, None, events));
        self.closed_by_user(state, handle);
        Ok(())
    }

    /// Half-closes a connection: FIN once everything queued is sent; reading goes on.
    pub fn shutdown(&self, handle: Handle) -> Result<()> {
        let mut state = self.state()?;
        state.flush_deferred_of(handle);
        let conn = state.conn(handle)?;
        conn.request_shutdown()?;
        conn.want_flush();
        state.schedule(handle);
        Ok(())
    }

    /// Asks for a `Sent` event carrying `token` once the kernel has taken
    /// every byte sent on a connection so far (at the next poll if it has
    /// already): what a write callback or a shutdown's completion waits for.
    /// Bytes sent later do not hold it back. None comes if the connection
    /// is lost first (its `Closed` event says why).
    pub fn notify_when_sent(&self, handle: Handle, token: u64) -> Result<()> {
        let mut state = self.state()?;
        state.flush_deferred_of(handle);
        state.with_pending(|state, events| {
            state.conn(handle)?.notify_when_sent(handle, token, events);
            Ok(())
        })
    }

    /// Stops reading from a connection (the kernel buffers, then the peer
    /// waits). No `Data` of it is delivered after this returns: those of the
    /// batch being handled are kept and come after [`Loop::resume`]
    /// ([`Loop::deliver`], and hosts that screen with [`Loop::skips`] or
    /// [`Loop::hold`]; events a host already took out of a batch are its own).
    pub fn pause(&self, handle: Handle) -> Result<()> {
        self.state()?.conn(handle)?.set_paused(true);
        // The batch being handled may hold more of its input.
        self.shared.interventions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Resumes reading from a paused connection.
    pub fn resume(&self, handle: Handle) -> Result<()> {
        let mut state = self.state()?;
        let conn = state.conn(handle)?;
        if conn.set_paused(false) {
            state.schedule(handle);
        }
        Ok(())
    }

    /// Sets how a connection's input is cut into `Data` events.
    pub fn set_framing(&self, handle: Handle, framing: Framing) -> Result<()> {
        let mut state = self.state()?;
        let conn = state.conn(handle)?;
        conn.set_framing(framing);
        if conn.has_buffered_work() {
            state.schedule(handle);
        }
        Ok(())
    }

    /// Fires `Idle` after `timeout` without a successful read or write, and
    /// again after each further `timeout` (`None` or zero turns it off, as 0
    /// does in every binding; beyond [`crate::MAX_DURATION`] it never fires).
    pub fn set_idle_timeout(&self, handle: Handle, timeout: Option<Duration>) -> Result<()> {
        let timeout = timeout.filter(|t| !t.is_zero());
        let mut state = self.state()?;
        let epoch = state.idle_epoch.wrapping_add(1);
        let conn = state.conn(handle)?;
        conn.set_idle(
            timeout.map(|timeout| Box::new(IdleTimeout { timeout, last_io: Instant::now(), last_fired: None, epoch })),
        );
        let expiry = conn.idle_mut().and_then(|i| i.expiry());
        state.idle_epoch = epoch;
        if let Some(expiry) = expiry {
            state.arm(Some(expiry), handle, Due::Idle, epoch);
            state.notify();
        }
        Ok(())
    }

    /// Caps a listener's open connections (0 = no cap): at the cap it stops
    /// accepting (clients wait in the backlog) and resumes below it.
    /// `EINVAL` beyond [`MAX_CONNECTIONS`].
    pub fn set_max_connections(&self, listener: Handle, max: usize) -> Result<()> {
        if max > MAX_CONNECTIONS {
            return Err(invalid!("max", crate::tcp::listener::MAX_CONNECTIONS_RANGE));
        }
        let mut state = self.state()?;
        let Entry::Listener(l) = state.entry(listener)? else {
            return Err(Error::EWRONGKIND);
        };
        if l.set_max_connections(max) {
            state.schedule(listener);
        }
        Ok(())
    }

    /// Graceful server shutdown: stop accepting, close the listener's
    /// connections gracefully, reset what is left after `drain`; then
    /// `ShutdownComplete` and `Closed` for the listener. A `drain` beyond
    /// [`crate::MAX_DURATION`] is never forced: the shutdown completes when
    /// the last connection has closed.
    pub fn shutdown_server(&self, listener: Handle, drain: Duration) -> Result<()> {
        let mut state = self.state()?;
        state.with_pending(|state, events| state.shutdown_server(listener, drain, events))?;
        state.notify();
        Ok(())
    }

    /// Sets an option; the value is range-checked first.
    pub fn set_option(&self, handle: Handle, option: SockOption, value: i64) -> Result<()> {
        option.check(value)?;
        let mut state = self.state()?;
        let entry = state.entry(handle)?;
        if let Entry::Conn(c) = entry {
            // The range check above keeps both marks within u32.
            match option {
                SockOption::HighWater => return c.set_high_water(value as u32).map_err(|_| option.refused()),
                SockOption::LowWater => return c.set_low_water(value as u32).map_err(|_| option.refused()),
                _ => {}
            }
        }
        option.set_on(option_sock(entry, option)?, value)
    }

    /// Reads an option back.
    pub fn get_option(&self, handle: Handle, option: SockOption) -> Result<i64> {
        let mut state = self.state()?;
        let entry = state.entry(handle)?;
        if let Entry::Conn(c) = entry {
            match option {
                SockOption::HighWater => return Ok(c.sendq().high_water() as i64),
                SockOption::LowWater => return Ok(c.sendq().low_water() as i64),
                _ => {}
            }
        }
        option.get_from(option_sock(entry, option)?)
    }

    /// Sets a raw socket option (`setsockopt(level, name, value)`); the
    /// error is the OS's errno, negated.
    pub fn set_raw_option(&self, handle: Handle, level: i32, name: i32, value: &[u8]) -> Result<()> {
        let mut state = self.state()?;
        let fd = sock_ref(state.entry(handle)?)?.as_raw_fd();
        crate::sys::setsockopt(fd, level, name, value).map_err(Error::from)
    }

    /// Reads a raw socket option into `value`; returns the length the OS wrote.
    pub fn get_raw_option(&self, handle: Handle, level: i32, name: i32, value: &mut [u8]) -> Result<usize> {
        let mut state = self.state()?;
        let fd = sock_ref(state.entry(handle)?)?.as_raw_fd();
        crate::sys::getsockopt(fd, level, name, value).map_err(Error::from)
    }

    /// [`Loop::set_raw_option`] with a C int in the machine's byte order,
    /// the value most options take.
    pub fn set_raw_option_int(&self, handle: Handle, level: i32, name: i32, value: i32) -> Result<()> {
        self.set_raw_option(handle, level, name, &value.to_ne_bytes())
    }

    /// [`Loop::get_raw_option`] read as a C int in the machine's byte order
    /// (bytes the OS did not write are zero).
    pub fn raw_option_int(&self, handle: Handle, level: i32, name: i32) -> Result<i32> {
        let mut value = [0; 4];
        self.get_raw_option(handle, level, name, &mut value)?;
        Ok(i32::from_ne_bytes(value))
    }

    /// Reads a raw socket option of at most `size` bytes (1 to
    /// [`MAX_RAW_OPTION_SIZE`]) and returns the bytes the OS wrote: for a
    /// host that allocates the buffer itself.
    pub fn raw_option(&self, handle: Handle, level: i32, name: i32, size: usize) -> Result<Vec<u8>> {
        if !(1..=MAX_RAW_OPTION_SIZE).contains(&size) {
            const _: () = assert!(MAX_RAW_OPTION_SIZE == 1024, "the detail below says 1024");
            return Err(invalid!("size", "1 to 1024 bytes"));
        }
        let mut value = vec![0; size];
        let written = self.get_raw_option(handle, level, name, &mut value)?;
        value.truncate(written);
        Ok(value)
    }

    /// The socket's file descriptor, for calls netcore does not wrap. The
    /// loop keeps owning it: never close it, and do not read or write it.
    pub fn raw_fd(&self, handle: Handle) -> Result<RawFd> {
        let mut state = self.state()?;
        Ok(sock_ref(state.entry(handle)?)?.as_raw_fd())
    }

    /// The local address of a socket.
    pub fn local_addr(&self, handle: Handle) -> Result<SocketAddr> {
        let mut state = self.state()?;
        let addr = sock_ref(state.entry(handle)?)?.local_addr()?;
        addr.as_socket().ok_or(Error::EAFNOSUPPORT)
    }

    /// The peer address of a connection or connected UDP socket.
    pub fn peer_addr(&self, handle: Handle) -> Result<SocketAddr> {
        let mut state = self.state()?;
        let entry = state.entry(handle)?;
        if matches!(entry, Entry::Listener(_)) {
            return Err(Error::EWRONGKIND);
        }
        let addr = sock_ref(entry)?.peer_addr()?;
        addr.as_socket().ok_or(Error::EAFNOSUPPORT)
    }

    /// Sets the user value returned in the handle's events.
    pub fn set_userdata(&self, handle: Handle, userdata: u64) -> Result<()> {
        let mut state = self.state()?;
        *state.identity(handle)?.userdata().ok_or(Error::EBADHANDLE)? = userdata;
        Ok(())
    }

    /// The handle's user value.
    pub fn userdata(&self, handle: Handle) -> Result<u64> {
        let mut state = self.state()?;
        state.identity(handle)?.userdata().map(|u| *u).ok_or(Error::EBADHANDLE)
    }

    /// The handle's kind: for bindings that dispatch by kind.
    pub fn kind(&self, handle: Handle) -> Result<HandleKind> {
        self.state()?.identity(handle)?.kind().ok_or(Error::EBADHANDLE)
    }

    /// Sets (`None`: clears) the TLS config of a listener's later accepts:
    /// each connection it accepts from then on starts a TLS handshake, and
    /// reports `TlsReady` or `TlsFailed` after `Accepted`. Connections
    /// accepted before keep theirs, so setting a new config rotates the
    /// certificate for new clients. (A connection whose session rustls
    /// refuses to start is dropped without an event.)
    pub fn set_listener_tls(&self, listener: Handle, config: Option<ServerConfig>) -> Result<()> {
        let mut state = self.state()?;
        let Entry::Listener(l) = state.entry(listener)? else {
            return Err(Error::EWRONGKIND);
        };
        l.set_tls(config);
        Ok(())
    }

    /// Starts TLS as a client on a connection, verifying the server against
    /// `server_name` (a DNS name, also sent as SNI, or an IP address):
    /// right after `tcp_connect` (the handshake follows the connection) or
    /// on a live connection (STARTTLS). `TlsReady` or `TlsFailed` follows;
    /// data sent meanwhile waits for the handshake. Refused (`EINVAL`) if
    /// the connection already speaks TLS or keeps input not yet delivered
    /// (plaintext after the upgrade point), `EPIPE` after a shutdown. On a
    /// live connection, input of the batch being handled that comes after
    /// the event in which TLS was started is refused ([`Loop::skips`]).
    pub fn start_tls_client(&self, handle: Handle, config: &ClientConfig, server_name: &str) -> Result<()> {
        self.start_tls(handle, Role::Client(config, server_name))
    }

    /// Starts TLS as a server on a live connection (STARTTLS); see
    /// [`Loop::start_tls_client`].
    pub fn start_tls_server(&self, handle: Handle, config: &ServerConfig) -> Result<()> {
        self.start_tls(handle, Role::Server(config))
    }

    fn start_tls(&self, handle: Handle, role: Role<'_>) -> Result<()> {
        let mut state = self.state()?;
        if state.keeps_data(handle) {
            return Err(input_after_upgrade_point());
        }
        // Bytes sent before the upgrade leave as plaintext.
        state.flush_deferred_of(handle);
        let conn = state.conn(handle)?;
        let live = conn.is_connected();
        let deadline = conn.start_tls(role, Instant::now())?;
        state.arm(deadline, handle, Due::Handshake, 0);
        state.schedule(handle);
        if live {
            // The batch being handled may hold more of its input (STARTTLS):
            // the host's next look at it screens that out.
            state.upgraded_by_user.push(handle);
            self.shared.interventions.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// What a connection's TLS handshake negotiated: `None` before it is
    /// over, or on a connection without TLS.
    pub fn tls_info(&self, handle: Handle) -> Result<Option<TlsInfo>> {
        Ok(self.state()?.conn(handle)?.tls_info())
    }

    /// The peer's certificate chain (DER, leaf first), copied: empty when
    /// the peer sent none, before the handshake is over, or without TLS.
    pub fn tls_peer_certificates(&self, handle: Handle) -> Result<Vec<Vec<u8>>> {
        Ok(self.state()?.conn(handle)?.tls_peer_certificates())
    }

    /// Why a connection's TLS failed (the error, the peer's alert number,
    /// a description), if it did: readable from the `TlsFailed` or `Closed`
    /// event until the poll after the one that delivered `Closed`.
    pub fn tls_failure(&self, handle: Handle) -> Result<Option<TlsFailure>> {
        match self.state()?.identity(handle)? {
            Entry::Conn(c) => Ok(c.tls_failure()),
            Entry::Closed(t) => Ok(t.tls_failure().cloned()),
            _ => Err(Error::EWRONGKIND),
        }
    }
}

/// A multicast interface for IPv4, as [`Loop::udp_multicast`] takes it: its local address (empty: any).
fn ipv4_interface(interface: &str) -> Result<std::net::Ipv4Addr> {
    match interface {
        "" => Ok(std::net::Ipv4Addr::UNSPECIFIED),
        _ => interface.parse().map_err(|_| invalid!("interface", "an IPv4 address for an IPv4 group or socket")),
    }
}

/// A multicast interface for IPv6, as [`Loop::udp_multicast`] takes it: its index (empty: any).
fn ipv6_interface(interface: &str) -> Result<u32> {
    match interface {
        "" => Ok(0),
        _ => interface.parse().map_err(|_| invalid!("interface", "an interface index for an IPv6 group or socket")),
    }
}
