//! The loop: owns sockets, turns readiness into events, and is safe to use
//! from any thread.
//!
//! Two locks: `poller` is held by whoever is polling (and by the batch it
//! returns, which keeps event bytes in place); `state` is held briefly by every
//! operation. Operations never wait for a poll: they take `state`, act on the
//! socket directly, and wake the poller only when they queued an event for it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Poll, Registry, Token, Waker};
use parking_lot::{Mutex, MutexGuard};
use socket2::SockRef;

use crate::addr;
use crate::batch::{Batch, Out};
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::framing::Framing;
use crate::handle::{Handle, Slab};
use crate::options::SockOption;
use crate::tcp::conn::{Conn, Connecting, Step};
use crate::tcp::listener::{BindOptions, Listener};
use crate::udp::Udp;

const WAKER: Token = Token(usize::MAX);
/// How long a graceful close waits for the peer's EOF after our FIN before
/// closing anyway (reading and discarding meanwhile, so the kernel never
/// answers late input with a reset that could destroy data still in flight).
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// How long a listener out of descriptors waits before accepting again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Events handed to one callback round of [`Loop::run`].
const RUN_BATCH: usize = 256;

enum Entry {
    Listener(Listener),
    Conn(Conn),
    Udp(Udp),
}

impl Entry {
    fn queued(&mut self) -> &mut bool {
        match self {
            Entry::Listener(l) => &mut l.queued,
            Entry::Conn(c) => &mut c.queued,
            Entry::Udp(u) => &mut u.queued,
        }
    }

    fn userdata(&mut self) -> &mut u64 {
        match self {
            Entry::Listener(l) => &mut l.userdata,
            Entry::Conn(c) => &mut c.userdata,
            Entry::Udp(u) => &mut u.userdata,
        }
    }

    fn deregister(&mut self, registry: &Registry) {
        // Dropping the socket removes it from epoll anyway; this is belt and braces.
        let _ = match self {
            Entry::Listener(l) => registry.deregister(&mut l.sock),
            Entry::Conn(c) => match c.sock.as_mut() {
                Some(sock) => registry.deregister(sock),
                None => Ok(()),
            },
            Entry::Udp(u) => registry.deregister(&mut u.sock),
        };
    }
}

/// Everything operations touch, behind one short-held lock.
struct State {
    slab: Slab<Entry>,
    registry: Registry,
    waker: Arc<Waker>,
    /// Events produced outside a poll (by operations), delivered by the next poll.
    pending: Vec<Event>,
    /// Handles with work to do, serviced in order by the next poll.
    ready: VecDeque<Handle>,
    /// Close lingers and accept retries.
    deadlines: BinaryHeap<Reverse<(Instant, Handle)>>,
    /// Results from resolver threads.
    resolved: Vec<(Handle, Result<Vec<SocketAddr>>)>,
    /// The waker has fired since the last poll began.
    notified: bool,
}

/// What only the polling caller touches: mio's poll, the batch and its arena.
pub(crate) struct Poller {
    poll: Poll,
    events: mio::Events,
    pub(crate) arena: Vec<u8>,
    pub(crate) batch: Vec<Event>,
}

struct Shared {
    state: Mutex<State>,
    poller: Mutex<Poller>,
    fd: RawFd,
    stop: AtomicBool,
}

/// An event loop. Cheap to clone (clones share the loop); `Send + Sync`.
#[derive(Clone)]
pub struct Loop {
    shared: Arc<Shared>,
}

fn token(handle: Handle) -> Token {
    Token(handle.index().unwrap_or(usize::MAX - 1))
}

impl State {
    fn notify(&mut self) {
        if !self.notified {
            self.notified = true;
            // A failed wake means the eventfd is saturated: a wake is pending anyway.
            let _ = self.waker.wake();
        }
    }

    fn has_work(&self) -> bool {
        !self.pending.is_empty() || !self.ready.is_empty() || !self.resolved.is_empty()
    }

    /// Runs `f` with the pending-event queue as its sink, waking the poller
    /// if it queued anything.
    fn with_pending<R>(&mut self, f: impl FnOnce(&mut State, &mut Vec<Event>) -> R) -> R {
        let mut pending = std::mem::take(&mut self.pending);
        let before = pending.len();
        let result = f(self, &mut pending);
        let added = pending.len() > before;
        self.pending = pending;
        if added {
            self.notify();
        }
        result
    }

    /// Puts a handle in the ready queue (once).
    fn requeue(&mut self, handle: Handle) {
        if let Ok(entry) = self.slab.get_mut(handle) {
            if !std::mem::replace(entry.queued(), true) {
                self.ready.push_back(handle);
            }
        }
    }

    /// Queues a handle from an operation, waking the poller.
    fn schedule(&mut self, handle: Handle) {
        self.requeue(handle);
        self.notify();
    }

    fn register(&mut self, handle: Handle) -> Result<()> {
        let interest = Interest::READABLE | Interest::WRITABLE;
        let registry = &self.registry;
        let result = match self.slab.get_mut(handle)? {
            Entry::Listener(l) => registry.register(&mut l.sock, token(handle), Interest::READABLE),
            Entry::Conn(c) => match c.sock.as_mut() {
                Some(sock) => registry.register(sock, token(handle), interest),
                None => Ok(()),
            },
            Entry::Udp(u) => registry.register(&mut u.sock, token(handle), interest),
        };
        result.map_err(Error::from)
    }

    /// Inserts and registers a new entry.
    fn add(&mut self, entry: Entry) -> Result<Handle> {
        let handle = self.slab.insert(entry)?;
        if let Err(e) = self.register(handle) {
            let _ = self.slab.remove(handle);
            return Err(e);
        }
        Ok(handle)
    }

    /// Removes a handle and reports its one `Closed` event.
    fn finish(&mut self, handle: Handle, reason: Option<Error>, events: &mut Vec<Event>) {
        if let Ok(mut entry) = self.slab.remove(handle) {
            entry.deregister(&self.registry);
            let userdata = *entry.userdata();
            events.push(Event::new(EventKind::Closed, handle, userdata).with_error(reason));
        }
    }

    fn conn(&mut self, handle: Handle) -> Result<&mut Conn> {
        match self.slab.get_mut(handle)? {
            Entry::Conn(c) if c.closing => Err(Error::ECLOSED),
            Entry::Conn(c) => Ok(c),
            _ => Err(Error::EWRONGKIND),
        }
    }

    /// Starts the next connection attempt; reports `ConnectFailed` and
    /// `Closed` once no address is left.
    fn start_attempt(&mut self, handle: Handle, events: &mut Vec<Event>) {
        loop {
            let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else { return };
            let Some(connecting) = conn.connecting.as_mut() else { return };
            let Some(&addr) = connecting.addrs.get(connecting.next) else {
                let error = connecting.last_error;
                events.push(Event::new(EventKind::ConnectFailed, handle, conn.userdata).with_error(Some(error)));
                self.finish(handle, Some(error), events);
                return;
            };
            connecting.next += 1;
            match TcpStream::connect(addr) {
                Ok(sock) => {
                    conn.sock = Some(sock);
                    match self.register(handle) {
                        Ok(()) => return,
                        Err(e) => self.attempt_failed(handle, e),
                    }
                }
                Err(e) => self.attempt_failed(handle, e.into()),
            }
        }
    }

    fn attempt_failed(&mut self, handle: Handle, error: Error) {
        if let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) {
            if let Some(mut sock) = conn.sock.take() {
                let _ = self.registry.deregister(&mut sock);
            }
            if let Some(connecting) = conn.connecting.as_mut() {
                connecting.last_error = error;
            }
        }
    }

    /// Checks an attempt in progress after a readiness event. Returns whether
    /// the connection is established.
    fn progress_connect(&mut self, handle: Handle, events: &mut Vec<Event>) -> bool {
        let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else { return false };
        let Some(sock) = conn.sock.as_ref() else { return false };
        let outcome = match sock.take_error() {
            Ok(Some(e)) | Err(e) => Err(Error::from(e)),
            Ok(None) => match sock.peer_addr() {
                Ok(peer) => Ok(Some(peer)),
                Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(None),
                Err(e) => Err(e.into()),
            },
        };
        match outcome {
            Ok(None) => false,
            Ok(Some(peer)) => {
                let _ = sock.set_nodelay(true);
                conn.connecting = None;
                conn.write_ready = true;
                events.push(Event::new(EventKind::Connected, handle, conn.userdata).with_addr(Some(peer)));
                true
            }
            Err(e) => {
                self.attempt_failed(handle, e);
                self.start_attempt(handle, events);
                false
            }
        }
    }

    /// Records readiness from mio and queues the handle.
    fn on_readiness(&mut self, event: &mio::event::Event) {
        let Some(handle) = self.slab.handle_at(event.token().0) else { return };
        let Ok(entry) = self.slab.get_mut(handle) else { return };
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        let writable = event.is_writable() || event.is_write_closed() || event.is_error();
        match entry {
            Entry::Listener(l) => l.readable = true,
            Entry::Conn(c) => {
                c.readable |= readable;
                c.read_closed |= event.is_read_closed();
                c.write_ready |= writable;
            }
            Entry::Udp(u) => {
                u.readable |= readable;
                u.write_ready |= writable;
            }
        }
        self.requeue(handle);
    }

    fn service(&mut self, handle: Handle, out: &mut Out<'_>) {
        let Ok(entry) = self.slab.get_mut(handle) else { return };
        *entry.queued() = false;
        let step = match entry {
            Entry::Listener(_) => return self.accept(handle, out),
            Entry::Udp(u) => u.service(handle, out),
            Entry::Conn(c) => {
                if c.connecting.is_some() && !self.progress_connect(handle, out.events) {
                    return;
                }
                let Ok(Entry::Conn(c)) = self.slab.get_mut(handle) else { return };
                let step = c.service(handle, out);
                if step == Step::Idle && c.lingering() && !c.linger_armed {
                    c.linger_armed = true;
                    self.deadlines.push(Reverse((Instant::now() + CLOSE_LINGER, handle)));
                }
                step
            }
        };
        match step {
            Step::Idle => {}
            Step::Requeue => self.requeue(handle),
            Step::Finish(reason) => self.finish(handle, reason, out.events),
        }
    }

    fn accept(&mut self, listener: Handle, out: &mut Out<'_>) {
        loop {
            if out.full() {
                return self.requeue(listener);
            }
            let Ok(Entry::Listener(l)) = self.slab.get_mut(listener) else { return };
            let userdata = l.userdata;
            match l.sock.accept() {
                Ok((sock, peer)) => {
                    l.starved = false;
                    let _ = sock.set_nodelay(true);
                    if let Ok(handle) = self.add(Entry::Conn(Conn::new(Some(sock), userdata))) {
                        let mut event = Event::new(EventKind::Accepted, handle, userdata).with_addr(Some(peer));
                        event.listener = Some(listener);
                        out.push(event);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    l.readable = false;
                    return;
                }
                Err(e) if is_transient_accept_error(&e) => {}
                Err(e) => {
                    // Out of descriptors or memory: try again shortly instead
                    // of spinning on a backlog we cannot drain.
                    if !std::mem::replace(&mut l.starved, true) {
                        out.push(Event::new(EventKind::Error, listener, userdata).with_error(Some(e.into())));
                    }
                    self.deadlines.push(Reverse((Instant::now() + ACCEPT_RETRY, listener)));
                    return;
                }
            }
        }
    }

    fn fire_deadlines(&mut self, events: &mut Vec<Event>) {
        let now = Instant::now();
        while let Some(&Reverse((when, handle))) = self.deadlines.peek() {
            if when > now {
                break;
            }
            self.deadlines.pop();
            match self.slab.get_mut(handle) {
                Ok(Entry::Conn(c)) if c.lingering() => {
                    let reason = c.close_reason();
                    self.finish(handle, reason, events);
                }
                Ok(Entry::Listener(_)) => self.requeue(handle),
                _ => {}
            }
        }
    }

    fn take_resolved(&mut self, events: &mut Vec<Event>) {
        for (handle, result) in std::mem::take(&mut self.resolved) {
            let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else { continue };
            let Some(connecting) = conn.connecting.as_mut() else { continue };
            match result {
                Ok(addrs) => connecting.addrs = addrs,
                Err(e) => connecting.last_error = e,
            }
            self.start_attempt(handle, events);
        }
    }

    fn poll_timeout(&self, requested: Option<Duration>) -> Option<Duration> {
        if self.has_work() {
            return Some(Duration::ZERO);
        }
        let next_deadline = self
            .deadlines
            .peek()
            .map(|Reverse((when, _))| when.saturating_duration_since(Instant::now()));
        match (requested, next_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn is_transient_accept_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM | libc::ENETDOWN | libc::EHOSTUNREACH)
    )
}

impl Loop {
    /// Creates a loop.
    pub fn new() -> Result<Loop> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let fd = poll.as_raw_fd();
        let state = State {
            slab: Slab::new(),
            registry,
            waker,
            pending: Vec::new(),
            ready: VecDeque::new(),
            deadlines: BinaryHeap::new(),
            resolved: Vec::new(),
            notified: false,
        };
        let poller = Poller { poll, events: mio::Events::with_capacity(1024), arena: Vec::new(), batch: Vec::new() };
        Ok(Loop {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                poller: Mutex::new(poller),
                fd,
                stop: AtomicBool::new(false),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock()
    }

    /// Waits up to `timeout` (`None` = forever, zero = not at all) and returns
    /// up to `max` events (at least 1). `EBUSY` if another caller is polling.
    /// A signal interrupting the wait returns an empty batch.
    pub fn poll(&self, max: usize, timeout: Option<Duration>) -> Result<Batch<'_>> {
        if max == 0 {
            return Err(Error::EINVAL);
        }
        let mut guard = self.shared.poller.try_lock().ok_or(Error::EBUSY)?;
        let poller = &mut *guard;
        poller.arena.clear();
        poller.batch.clear();
        let timeout = {
            let mut state = self.state();
            state.notified = false;
            state.poll_timeout(timeout)
        };
        if let Err(e) = poller.poll.poll(&mut poller.events, timeout) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e.into());
            }
            poller.events.clear();
        }
        let mut state = self.state();
        for event in poller.events.iter() {
            if event.token() != WAKER {
                state.on_readiness(event);
            }
        }
        let mut out = Out { arena: &mut poller.arena, events: &mut poller.batch, cap: max };
        let from_pending = state.pending.len().min(max);
        out.events.extend(state.pending.drain(..from_pending));
        state.take_resolved(out.events);
        state.fire_deadlines(out.events);
        while !out.full() {
            let Some(handle) = state.ready.pop_front() else { break };
            state.service(handle, &mut out);
        }
        if out.events.len() > max {
            // Overflow is newer than anything still pending, and carries no
            // bytes (data events are only added below `max`).
            let overflow = out.events.split_off(max);
            debug_assert!(overflow.iter().all(|e| e.data_len == 0));
            state.pending.extend(overflow);
        }
        // Left-over work must keep the embed fd readable.
        if state.has_work() {
            state.notify();
        }
        drop(state);
        Ok(Batch { guard })
    }

    /// Polls and calls `f` for each event, until [`Loop::stop`] is called.
    /// Operations on this loop may be called from `f`; polling may not (`EBUSY`).
    pub fn run(&self, mut f: impl FnMut(&Event, &[u8])) -> Result<()> {
        while !self.shared.stop.swap(false, Ordering::AcqRel) {
            let batch = self.poll(RUN_BATCH, None)?;
            for event in batch.events() {
                f(event, batch.data(event));
            }
        }
        Ok(())
    }

    /// Makes the current (or next) [`Loop::run`] return after its current batch.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// Interrupts a blocking poll from any thread.
    pub fn wake(&self) {
        // Forced: the poller may be asleep even with `notified` set by an
        // operation whose wake it already consumed.
        let state = self.state();
        let _ = state.waker.wake();
    }

    /// A descriptor that is readable while events are pending (for embedding
    /// the loop in another one). Poll with a zero timeout when it is.
    pub fn fd(&self) -> RawFd {
        self.shared.fd
    }

    /// How long a host loop may sleep before polling again: zero when work is
    /// pending, `None` when only new I/O can produce events.
    pub fn next_timeout(&self) -> Option<Duration> {
        self.state().poll_timeout(None)
    }

    /// Number of open handles.
    pub fn handle_count(&self) -> usize {
        self.state().slab.len()
    }

    /// Listens for TCP connections on `host` (an IP literal or `localhost`) and `port` (0 = any).
    pub fn tcp_listen(&self, host: &str, port: i64, opts: &BindOptions, userdata: u64) -> Result<Handle> {
        let addr = addr::literal(host, port)?;
        let listener = Listener::bind(addr, opts, userdata)?;
        self.state().add(Entry::Listener(listener))
    }

    /// Starts connecting to `host` (a name or IP literal) and `port`. Names are
    /// resolved on a helper thread; every address is tried in order. The
    /// result arrives as `Connected`, or `ConnectFailed` then `Closed`.
    pub fn tcp_connect(&self, host: &str, port: i64, userdata: u64) -> Result<Handle> {
        addr::check_host(host)?;
        let port = addr::port(port)?;
        if port == 0 {
            return Err(Error::EINVAL);
        }
        let literal = addr::ip_literal(host).filter(|_| !host.eq_ignore_ascii_case("localhost"));
        let mut conn = Conn::new(None, userdata);
        conn.connecting = Some(Box::new(Connecting {
            addrs: literal.map(|ip| vec![SocketAddr::new(ip, port)]).unwrap_or_default(),
            next: 0,
            last_error: Error::EDNS,
        }));
        let mut state = self.state();
        let handle = state.slab.insert(Entry::Conn(conn))?;
        if literal.is_some() {
            state.with_pending(|state, events| state.start_attempt(handle, events));
            return Ok(handle);
        }
        drop(state);
        let shared: Weak<Shared> = Arc::downgrade(&self.shared);
        let host = host.to_owned();
        let spawned = std::thread::Builder::new().name("netcore-resolve".into()).spawn(move || {
            let result = addr::resolve(&host, port);
            if let Some(shared) = shared.upgrade() {
                let mut state = shared.state.lock();
                state.resolved.push((handle, result));
                state.notify();
            }
        });
        if spawned.is_err() {
            let _ = self.state().slab.remove(handle);
            return Err(Error::ENOMEM);
        }
        Ok(handle)
    }

    /// Binds a UDP socket on `host` (an IP literal or `localhost`) and `port` (0 = any).
    pub fn udp_bind(&self, host: &str, port: i64, opts: &BindOptions, userdata: u64) -> Result<Handle> {
        let addr = addr::literal(host, port)?;
        let udp = Udp::bind(addr, opts, userdata)?;
        self.state().add(Entry::Udp(udp))
    }

    /// Sets a UDP socket's default peer (then `send` works on it).
    pub fn udp_connect(&self, handle: Handle, host: &str, port: i64) -> Result<()> {
        let addr = addr::literal(host, port)?;
        match self.state().slab.get_mut(handle)? {
            Entry::Udp(u) => Ok(u.sock.connect(addr)?),
            _ => Err(Error::EWRONGKIND),
        }
    }

    /// Sends bytes on a connection (or a connected UDP socket).
    pub fn send(&self, handle: Handle, data: &[u8]) -> Result<()> {
        self.send_vectored(handle, &[data])
    }

    /// Sends several buffers as one message: queued whole or refused whole.
    pub fn send_vectored(&self, handle: Handle, bufs: &[&[u8]]) -> Result<()> {
        let mut state = self.state();
        match state.slab.get_mut(handle)? {
            Entry::Udp(u) => u.send(None, bufs),
            Entry::Listener(_) => Err(Error::EWRONGKIND),
            Entry::Conn(_) => state.conn(handle)?.send(bufs),
        }
    }

    /// Sends one datagram to `host` (an IP literal or `localhost`) and `port`.
    pub fn send_to(&self, handle: Handle, host: &str, port: i64, data: &[u8]) -> Result<()> {
        let mut state = self.state();
        let Entry::Udp(u) = state.slab.get_mut(handle)? else { return Err(Error::EWRONGKIND) };
        let addr = addr::literal(host, port)?;
        if addr.port() == 0 {
            return Err(Error::EINVAL);
        }
        u.send(Some(addr), &[data])
    }

    /// Closes a handle gracefully: a connection sends everything queued, then
    /// its FIN; `Closed` follows once it is done. Listeners and UDP sockets
    /// close at once. `ECLOSED` if the connection is already closing.
    pub fn close(&self, handle: Handle) -> Result<()> {
        let mut state = self.state();
        let conn = match state.slab.get_mut(handle)? {
            Entry::Conn(_) => state.conn(handle)?,
            _ => {
                state.with_pending(|state, events| state.finish(handle, None, events));
                return Ok(());
            }
        };
        conn.start_close(None);
        if conn.connecting.is_some() && conn.queued_bytes() == 0 {
            state.with_pending(|state, events| state.finish(handle, None, events));
        } else {
            conn.write_ready = true;
            state.schedule(handle);
        }
        Ok(())
    }

    /// Closes a handle at once; a connection drops its queue and resets (RST).
    pub fn close_reset(&self, handle: Handle) -> Result<()> {
        let mut state = self.state();
        if let Entry::Conn(c) = state.slab.get_mut(handle)? {
            c.reset();
        }
        state.with_pending(|state, events| state.finish(handle, None, events));
        Ok(())
    }

    /// Half-closes a connection: FIN once everything queued is sent; reading goes on.
    pub fn shutdown(&self, handle: Handle) -> Result<()> {
        let mut state = self.state();
        let conn = state.conn(handle)?;
        conn.request_shutdown()?;
        conn.write_ready = true;
        state.schedule(handle);
        Ok(())
    }

    /// Stops reading from a connection (the kernel buffers, then the peer waits).
    pub fn pause(&self, handle: Handle) -> Result<()> {
        self.state().conn(handle)?.paused = true;
        Ok(())
    }

    /// Resumes reading from a paused connection.
    pub fn resume(&self, handle: Handle) -> Result<()> {
        let mut state = self.state();
        let conn = state.conn(handle)?;
        conn.paused = false;
        if conn.has_buffered_work() {
            state.schedule(handle);
        }
        Ok(())
    }

    /// Sets how a connection's input is cut into `Data` events.
    pub fn set_framing(&self, handle: Handle, framing: Framing) -> Result<()> {
        let mut state = self.state();
        let conn = state.conn(handle)?;
        conn.framing = framing;
        if conn.has_buffered_work() {
            state.schedule(handle);
        }
        Ok(())
    }

    /// Sets an option; the value is range-checked first.
    pub fn set_option(&self, handle: Handle, option: SockOption, value: i64) -> Result<()> {
        option.check(value)?;
        let mut state = self.state();
        match state.slab.get_mut(handle)? {
            Entry::Conn(c) => match option {
                SockOption::HighWater if (value as u64) < c.low_water as u64 => Err(Error::EINVAL),
                SockOption::HighWater => Ok(c.high_water = value as u32),
                SockOption::LowWater if value as u64 > c.high_water as u64 => Err(Error::EINVAL),
                SockOption::LowWater => Ok(c.low_water = value as u32),
                SockOption::Broadcast => Err(Error::EWRONGKIND),
                _ => option.set_on(SockRef::from(c.sock.as_ref().ok_or(Error::ENOTCONN)?), value),
            },
            Entry::Listener(l) if option != SockOption::Broadcast => option.set_on(SockRef::from(&l.sock), value),
            Entry::Udp(u) if option.applies_to_udp() => option.set_on(SockRef::from(&u.sock), value),
            _ => Err(Error::EWRONGKIND),
        }
    }

    /// Reads an option back.
    pub fn get_option(&self, handle: Handle, option: SockOption) -> Result<i64> {
        let mut state = self.state();
        match state.slab.get_mut(handle)? {
            Entry::Conn(c) => match option {
                SockOption::HighWater => Ok(c.high_water as i64),
                SockOption::LowWater => Ok(c.low_water as i64),
                SockOption::Broadcast => Err(Error::EWRONGKIND),
                _ => option.get_from(SockRef::from(c.sock.as_ref().ok_or(Error::ENOTCONN)?)),
            },
            Entry::Listener(l) if option != SockOption::Broadcast => option.get_from(SockRef::from(&l.sock)),
            Entry::Udp(u) if option.applies_to_udp() => option.get_from(SockRef::from(&u.sock)),
            _ => Err(Error::EWRONGKIND),
        }
    }

    /// The local address of a socket.
    pub fn local_addr(&self, handle: Handle) -> Result<SocketAddr> {
        let result = match self.state().slab.get_mut(handle)? {
            Entry::Listener(l) => l.sock.local_addr(),
            Entry::Conn(c) => c.sock.as_ref().ok_or(Error::ENOTCONN)?.local_addr(),
            Entry::Udp(u) => u.sock.local_addr(),
        };
        Ok(result?)
    }

    /// The peer address of a connection or connected UDP socket.
    pub fn peer_addr(&self, handle: Handle) -> Result<SocketAddr> {
        let result = match self.state().slab.get_mut(handle)? {
            Entry::Listener(_) => return Err(Error::EWRONGKIND),
            Entry::Conn(c) if c.connecting.is_some() => return Err(Error::ENOTCONN),
            Entry::Conn(c) => c.sock.as_ref().ok_or(Error::ENOTCONN)?.peer_addr(),
            Entry::Udp(u) => u.sock.peer_addr(),
        };
        Ok(result?)
    }

    /// Sets the user value returned in the handle's events.
    pub fn set_userdata(&self, handle: Handle, userdata: u64) -> Result<()> {
        *self.state().slab.get_mut(handle)?.userdata() = userdata;
        Ok(())
    }

    /// The handle's user value.
    pub fn userdata(&self, handle: Handle) -> Result<u64> {
        Ok(*self.state().slab.get_mut(handle)?.userdata())
    }

    /// The handle's kind: for bindings that dispatch by kind.
    pub fn kind(&self, handle: Handle) -> Result<HandleKind> {
        Ok(match self.state().slab.get_mut(handle)? {
            Entry::Listener(_) => HandleKind::TcpListener,
            Entry::Conn(_) => HandleKind::TcpConnection,
            Entry::Udp(_) => HandleKind::Udp,
        })
    }
}

/// What a handle names. The numeric values are part of the C ABI.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(i32)]
pub enum HandleKind {
    /// A TCP listener.
    TcpListener = 1,
    /// A TCP connection (accepted or outgoing).
    TcpConnection = 2,
    /// A UDP socket.
    Udp = 3,
}
