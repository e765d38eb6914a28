//! The reactor: a loop's mutable state (the slab of sockets and timers, the
//! registry, the ready queue, the deadlines) and the servicing that turns
//! readiness into calls on the per-socket state machines and carries out the
//! [`Step`]s they return. `connect.rs` (outgoing connections) and `server.rs`
//! (listeners) extend it. See docs/design.md, "Layers".

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use mio::{Interest, Registry, Token, Waker};
use parking_lot::Mutex;

use crate::deferred::Deferred;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind, HandleKind};
use crate::handle::{Handle, LoopTag, Slab};
use crate::out::{Out, Step};
use crate::resolver::{self, Resolved};
use crate::tcp::attempt::Attempt;
use crate::tcp::conn::{Conn, DEFAULT_READ_SIZE};
use crate::tcp::listener::Listener;
use crate::timer::{later, next_expiry, Deadline, Deadlines, Due, Timer};
use crate::tls::Failure as TlsFailure;
use crate::udp::Udp;

/// How long a graceful close waits for the peer's EOF after our FIN before
/// closing anyway (reading and discarding meanwhile, so the kernel never
/// answers late input with a reset that could destroy data still in flight).
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// What a handle names.
pub(crate) enum Entry {
    Listener(Listener),
    Conn(Conn),
    Udp(Udp),
    Timer(Timer),
    /// An internal socket racing to connect for a `Conn` (never seen by users).
    Attempt(Attempt),
    /// A closed handle whose `Closed` event has not been handed out yet.
    Closed(Tombstone),
}

/// What is left of a closed handle until a poll has handed out its `Closed`
/// event: the handle stays reserved (operations get `ECLOSED`, not
/// `EBADHANDLE`) and still answers its kind and user value. No socket.
pub(crate) struct Tombstone {
    userdata: u64,
    kind: HandleKind,
    queued: bool,
    /// Why TLS failed, for [`crate::Loop::tls_failure`] until `Closed` is delivered.
    tls_failure: Option<Box<TlsFailure>>,
}

impl Tombstone {
    /// Why the connection's TLS failed, if it did.
    pub fn tls_failure(&self) -> Option<&TlsFailure> {
        self.tls_failure.as_deref()
    }
}

impl Entry {
    fn queued(&mut self) -> &mut bool {
        match self {
            Entry::Listener(l) => l.queued_mut(),
            Entry::Conn(c) => c.queued_mut(),
            Entry::Udp(u) => u.queued_mut(),
            Entry::Timer(t) => &mut t.queued,
            Entry::Attempt(a) => &mut a.queued,
            Entry::Closed(t) => &mut t.queued,
        }
    }

    /// What the user sees this handle as (attempts are not the user's).
    pub fn kind(&self) -> Option<HandleKind> {
        Some(match self {
            Entry::Listener(_) => HandleKind::TcpListener,
            Entry::Conn(_) => HandleKind::TcpConnection,
            Entry::Udp(_) => HandleKind::Udp,
            Entry::Timer(_) => HandleKind::Timer,
            Entry::Closed(t) => t.kind,
            Entry::Attempt(_) => return None,
        })
    }

    /// The user value (attempts have none of their own).
    pub fn userdata(&mut self) -> Option<&mut u64> {
        match self {
            Entry::Listener(l) => Some(l.userdata_mut()),
            Entry::Conn(c) => Some(c.userdata_mut()),
            Entry::Udp(u) => Some(u.userdata_mut()),
            Entry::Timer(t) => Some(&mut t.userdata),
            Entry::Closed(t) => Some(&mut t.userdata),
            Entry::Attempt(_) => None,
        }
    }

    fn deregister(&mut self, registry: &Registry) {
        // Dropping the socket removes it from epoll anyway; this is belt and braces.
        let _ = match self {
            Entry::Listener(l) => l.sock_mut().map_or(Ok(()), |s| registry.deregister(s)),
            Entry::Conn(c) => c.sock_mut().map_or(Ok(()), |s| registry.deregister(s)),
            Entry::Udp(u) => registry.deregister(u.sock_mut()),
            Entry::Attempt(a) => registry.deregister(&mut a.sock),
            Entry::Timer(_) | Entry::Closed(_) => Ok(()),
        };
    }

    /// The listener that accepted a connection.
    fn conn_listener(&self) -> Option<Handle> {
        match self {
            Entry::Conn(c) => c.listener(),
            _ => None,
        }
    }
}

/// The poll token of a handle: its slab index.
pub(crate) fn token(handle: Handle) -> Token {
    Token(handle.index().unwrap_or(usize::MAX - 1))
}

/// What servicing a handle asks of the state once the entry is released.
enum Work {
    Accept,
    Attempt,
    /// Carry out what a connection's dialer has queued.
    Dial,
    Done(Step),
}

/// Everything operations touch, behind one short-held lock.
pub(crate) struct State {
    pub slab: Slab<Entry>,
    pub registry: Registry,
    pub waker: Arc<Waker>,
    /// Itself, for resolver threads to report back (weak: they never keep a loop alive).
    pub me: Weak<Mutex<State>>,
    /// Events produced outside a poll (by operations), delivered by the next poll.
    pub pending: Vec<Event>,
    /// Handles with work to do, serviced in order by the next poll.
    pub ready: VecDeque<Handle>,
    pub deadlines: Deadlines,
    /// Results from resolver threads.
    pub resolved: Vec<Resolved>,
    /// The waker has fired since the last poll began.
    pub notified: bool,
    /// Names answered without the system resolver (lower-case name → addresses).
    pub static_hosts: HashMap<String, Vec<IpAddr>>,
    /// Most bytes one TCP read asks for ([`crate::Loop::set_read_size`]).
    pub read_size: usize,
    /// Internal connection attempts in the slab (not counted as user handles).
    pub attempts: usize,
    /// The last idle-timeout epoch handed out: loop-wide, so a timeout
    /// turned off and on again never shares an epoch with its old deadline.
    pub idle_epoch: u32,
    /// Handles the user closed since the last poll (see [`crate::Loop::run`]).
    pub closed_by_user: Vec<Handle>,
    /// Live connections the user upgraded to TLS (STARTTLS) since the last
    /// poll: their later `Data` events in the batch are refused ([`State::screen`]).
    pub upgraded_by_user: Vec<Handle>,
    /// The bytes of deferred sends ([`crate::Loop::send_deferred`]) until
    /// [`State::flush_deferred`].
    pub deferred: Deferred,
    /// Events a host handed back undelivered, oldest first, with their bytes
    /// ([`crate::Batch::keep_from`]): the next poll returns them alone.
    pub kept: VecDeque<(Event, Box<[u8]>)>,
    /// The datagram sender, made by the first batched send.
    pub sender: Option<Box<crate::sys::Outgoing>>,
    /// Tombstones whose `Closed` event no poll has handed out yet.
    undelivered_closes: usize,
    /// Tombstones whose `Closed` the last poll handed out: freed by the next.
    delivered_closes: Vec<Handle>,
}

/// Whether a deadline still matters: its owner exists and is still waiting
/// for it (the same checks firing makes, so dropping a stale one early
/// changes nothing but memory).
fn deadline_is_live(slab: &mut Slab<Entry>, &(_, handle, due, epoch): &Deadline) -> bool {
    match (slab.get_mut(handle), due) {
        (Ok(Entry::Timer(t)), Due::Timer) => t.epoch == epoch,
        (Ok(Entry::Conn(c)), Due::Idle) => c.idle_mut().is_some_and(|i| i.epoch == epoch),
        (Ok(Entry::Conn(c)), Due::Linger) => c.lingering(),
        (Ok(Entry::Conn(c)), Due::Dial) => c.dialing.as_ref().is_some_and(|d| d.dialer.epoch() == epoch),
        (Ok(Entry::Listener(l)), Due::AcceptRetry) => l.retry_armed(),
        (Ok(Entry::Listener(l)), Due::Drain) => l.is_draining(),
        (Ok(Entry::Conn(c)), Due::Handshake) => c.tls_deadline().is_some(),
        _ => false,
    }
}

impl State {
    pub fn new(tag: LoopTag, registry: Registry, waker: Arc<Waker>, me: Weak<Mutex<State>>) -> State {
        State {
            slab: Slab::new(tag),
            registry,
            waker,
            me,
            pending: Vec::new(),
            sender: None,
            ready: VecDeque::new(),
            deadlines: Deadlines::new(),
            resolved: Vec::new(),
            notified: false,
            static_hosts: HashMap::new(),
            read_size: DEFAULT_READ_SIZE,
            attempts: 0,
            idle_epoch: 0,
            closed_by_user: Vec::new(),
            upgraded_by_user: Vec::new(),
            deferred: Deferred::default(),
            kept: VecDeque::new(),
            undelivered_closes: 0,
            delivered_closes: Vec::new(),
        }
    }

    /// Handles a user holds: every slab entry but internal attempts and
    /// closed handles whose `Closed` was handed out.
    pub fn user_handles(&self) -> usize {
        self.slab.len() - self.attempts - self.delivered_closes.len()
    }

    /// Adds a deadline (none if `when` is never), compacting the heap when
    /// stale deadlines of cancelled or re-armed owners have piled up.
    pub fn arm(&mut self, when: Option<Instant>, handle: Handle, due: Due, epoch: u32) {
        self.deadlines.push(when, handle, due, epoch);
        let slab = &mut self.slab;
        self.deadlines.compact(|d| deadline_is_live(slab, d));
    }

    /// Wakes the poller (once per poll).
    pub fn notify(&mut self) {
        if !self.notified {
            self.notified = true;
            // A failed wake means the eventfd is saturated: a wake is pending anyway.
            let _ = self.waker.wake();
        }
    }

    /// Work is waiting that needs no new readiness event.
    pub fn has_work(&self) -> bool {
        !self.pending.is_empty() || !self.ready.is_empty() || !self.resolved.is_empty() || !self.kept.is_empty()
    }

    /// Runs `f` with the pending-event queue as its sink, waking the poller
    /// if it queued anything.
    pub fn with_pending<R>(&mut self, f: impl FnOnce(&mut State, &mut Vec<Event>) -> R) -> R {
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

    /// Sends every connection's deferred bytes; a connection whose send
    /// failed is serviced (closed with the error) by the next poll.
    /// Inlined: every poll asks, and most have nothing deferred.
    #[inline(always)]
    pub fn flush_deferred(&mut self) {
        if !self.deferred.is_empty() {
            self.flush_all_deferred();
        }
    }

    #[inline(never)]
    fn flush_all_deferred(&mut self) {
        let mut deferred = std::mem::take(&mut self.deferred);
        deferred.drain(|handle, bytes| self.send_deferred(handle, bytes));
        // The emptied buffer goes back: its room serves the next turn.
        self.deferred = deferred;
    }

    /// Sends `handle`'s deferred bytes now, before anything else is done
    /// with its sending (a send that is not deferred, a close, a shutdown,
    /// a TLS upgrade).
    pub fn flush_deferred_of(&mut self, handle: Handle) {
        if !matches!(self.slab.get_mut(handle), Ok(Entry::Conn(c)) if c.has_deferred()) {
            return;
        }
        let mut deferred = std::mem::take(&mut self.deferred);
        deferred.take_runs_of(handle, |bytes| self.send_deferred(handle, bytes));
        self.deferred = deferred;
    }

    fn send_deferred(&mut self, handle: Handle, bytes: &[u8]) {
        if let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) {
            if conn.send_deferred(handle, bytes, &mut self.pending) {
                self.requeue(handle);
                self.notify();
            }
        }
    }

    /// Puts a handle in the ready queue (once).
    pub fn requeue(&mut self, handle: Handle) {
        self.enqueue(handle, false);
    }

    /// Puts a handle in the ready queue (once), at the front if `first`.
    fn enqueue(&mut self, handle: Handle, first: bool) {
        if let Ok(entry) = self.slab.get_mut(handle) {
            if !std::mem::replace(entry.queued(), true) {
                if first {
                    self.ready.push_front(handle);
                } else {
                    self.ready.push_back(handle);
                }
            }
        }
    }

    /// Queues a handle from an operation, waking the poller.
    pub fn schedule(&mut self, handle: Handle) {
        self.requeue(handle);
        self.notify();
    }

    fn register(&mut self, handle: Handle) -> Result<()> {
        let both = Interest::READABLE | Interest::WRITABLE;
        let registry = &self.registry;
        let result = match self.slab.get_mut(handle)? {
            Entry::Listener(l) => {
                l.sock_mut().map_or(Ok(()), |s| registry.register(s, token(handle), Interest::READABLE))
            }
            Entry::Conn(c) => c.sock_mut().map_or(Ok(()), |s| registry.register(s, token(handle), both)),
            Entry::Udp(u) => registry.register(u.sock_mut(), token(handle), both),
            Entry::Attempt(a) => registry.register(&mut a.sock, token(handle), both),
            Entry::Timer(_) | Entry::Closed(_) => Ok(()),
        };
        result.map_err(Error::from)
    }

    /// Inserts and registers a new entry.
    pub fn add(&mut self, entry: Entry) -> Result<Handle> {
        let handle = self.slab.insert(entry)?;
        if let Err(e) = self.register(handle) {
            let _ = self.slab.remove(handle);
            return Err(e);
        }
        Ok(handle)
    }

    /// Closes a handle (its socket at once) and reports its one `Closed`
    /// event. The slot stays as a [`Tombstone`] until a poll has handed that
    /// event out ([`State::release_delivered`]).
    pub fn finish(&mut self, handle: Handle, reason: Option<Error>, events: &mut Vec<Event>) {
        self.dial_quietly(handle, |dialer, _| dialer.close());
        let Ok(entry) = self.slab.get_mut(handle) else {
            return;
        };
        let (Some(kind), Some(&mut userdata)) = (entry.kind(), entry.userdata()) else {
            return;
        };
        if matches!(entry, Entry::Closed(_)) {
            return;
        }
        let queued = *entry.queued();
        let tls_failure = match entry {
            Entry::Conn(c) => {
                if let Some(error) = reason {
                    c.tls_interrupted(handle, error, events);
                }
                c.tls_failure().map(Box::new)
            }
            _ => None,
        };
        let tombstone = Tombstone { userdata, kind, queued, tls_failure };
        let mut entry = std::mem::replace(entry, Entry::Closed(tombstone));
        entry.deregister(&self.registry);
        events.push(Event::new(EventKind::Closed, handle, userdata).with_error(reason));
        self.undelivered_closes += 1;
        if let Some(listener) = entry.conn_listener() {
            self.connection_gone(listener, events);
        }
    }

    /// Closes every socket and forgets every event, deadline and result not
    /// yet delivered ([`crate::Loop::close_loop`]).
    pub fn close_all(&mut self) {
        // A connection whose queue still holds bytes is reset, not closed
        // with a FIN: its peer must not mistake the lost bytes for a clean end.
        for index in 0..self.slab.capacity() {
            if let Some((_, Entry::Conn(conn))) = self.slab.at_mut(index) {
                if conn.queued_bytes() > 0 {
                    conn.reset();
                }
            }
        }
        self.slab.clear();
        self.attempts = 0;
        self.pending = Vec::new();
        self.ready = VecDeque::new();
        self.deadlines = Deadlines::new();
        self.resolved = Vec::new();
        self.closed_by_user = Vec::new();
        self.upgraded_by_user = Vec::new();
        self.deferred = Deferred::default();
        self.kept = VecDeque::new();
        self.undelivered_closes = 0;
        self.delivered_closes = Vec::new();
    }

    /// Notes the `Closed` events of a batch a poll is handing out: their
    /// tombstones are freed by the next poll (while the batch is handled,
    /// operations on them still get `ECLOSED`). Free when nothing closed.
    pub fn note_delivered(&mut self, batch: &[Event]) {
        if self.undelivered_closes == 0 {
            return;
        }
        for event in batch.iter().filter(|e| e.kind == EventKind::Closed) {
            self.delivered_closes.push(event.handle);
            self.undelivered_closes -= 1;
        }
    }

    /// The close rule: the user closed `event`'s handle since the batch was
    /// polled, so the host skips the event, unless it is the `Closed`.
    pub fn skips(&self, event: &Event) -> bool {
        event.kind != EventKind::Closed && self.closed_by_user.contains(&event.handle)
    }

    /// Records a close by the user: the handle's later events of the batch,
    /// and its kept ones, are skipped but `Closed`.
    pub fn note_closed_by_user(&mut self, handle: Handle) {
        self.closed_by_user.push(handle);
        let kept = std::mem::take(&mut self.kept);
        self.kept = kept.into_iter().filter(|(event, _)| !self.skips(event)).collect();
    }

    /// Whether the host skips `event` (with its bytes, `data`) of the batch
    /// being handled: the close rule ([`State::skips`]); a `Data` event of
    /// a connection upgraded to TLS since the poll, whose bytes came after
    /// the upgrade point in plaintext (an injection, CVE-2021-23222's
    /// class), so the connection is refused: `TlsFailed`, then `Closed` with
    /// `ETLSPROTOCOL`; and the pause rule: the connection keeps a `Data` or
    /// `Eof` event of its own while paused ([`Conn::hold`]).
    pub fn screen(&mut self, event: &Event, data: &[u8]) -> bool {
        if self.skips(event) {
            return true;
        }
        let handle = event.handle;
        match event.kind {
            EventKind::Data if self.upgraded_by_user.contains(&handle) => {
                self.with_pending(|state, events| {
                    if let Ok(Entry::Conn(conn)) = state.slab.get_mut(handle) {
                        let error = conn.refuse_plaintext_after_upgrade(handle, events);
                        state.finish(handle, Some(error), events);
                    }
                });
                self.note_closed_by_user(handle);
                true
            }
            _ => self.holds(event, data),
        }
    }

    /// The pause rule for one event: whether its connection keeps it, a
    /// `Data` with its bytes or an `Eof` ([`State::hold`]).
    fn holds(&mut self, event: &Event, data: &[u8]) -> bool {
        match event.kind {
            EventKind::Data => self.hold(event.handle, Some(data)),
            EventKind::Eof => self.hold(event.handle, None),
            _ => false,
        }
    }

    /// [`Conn::hold`] on `handle`'s connection, if it is one.
    pub fn hold(&mut self, handle: Handle, data: Option<&[u8]>) -> bool {
        match self.slab.get_mut(handle) {
            Ok(Entry::Conn(conn)) => conn.hold(data),
            _ => false,
        }
    }

    /// Whether events handed back undelivered hold input of `handle`.
    pub fn keeps_data(&self, handle: Handle) -> bool {
        self.kept.iter().any(|(event, _)| event.handle == handle && event.kind == EventKind::Data)
    }

    /// Takes back undelivered events of the batch being handled, in order and
    /// ahead of those kept earlier (which are younger: a poll that returns
    /// kept events returns nothing else). Events of a handle the user closed
    /// since that poll are dropped but its `Closed`, which counts as not
    /// handed out; so are those of a handle no longer in the slab (the loop
    /// was closed, which empties it).
    pub fn keep<'b>(&mut self, events: impl DoubleEndedIterator<Item = (&'b Event, &'b [u8])>) {
        for (event, bytes) in events.rev() {
            if self.screen(event, bytes) || self.slab.get_mut(event.handle).is_err() {
                continue;
            }
            let is_closed = event.kind == EventKind::Closed;
            if let Some(i) = self.delivered_closes.iter().position(|&h| h == event.handle).filter(|_| is_closed) {
                self.delivered_closes.swap_remove(i);
                self.undelivered_closes += 1;
            }
            self.kept.push_front((event.clone(), bytes.into()));
        }
        if !self.kept.is_empty() {
            self.notify();
        }
    }

    /// Moves kept events into a poll's batch, oldest first, as many as fit;
    /// the input of a connection paused meanwhile goes back to it instead
    /// ([`State::holds`]).
    pub fn take_kept(&mut self, out: &mut Out) {
        while !out.full() {
            let Some((event, bytes)) = self.kept.pop_front() else {
                break;
            };
            if !self.holds(&event, &bytes) {
                out.push_copy(event, &bytes);
            }
        }
    }

    /// Frees the tombstones whose `Closed` the previous poll handed out:
    /// their handles are stale (`EBADHANDLE`) from now on. (Every poll
    /// calls this and the other per-poll chores below: each is inlined down
    /// to the check that it has nothing to do.)
    #[inline]
    pub fn release_delivered(&mut self) {
        if self.delivered_closes.is_empty() {
            return;
        }
        for handle in std::mem::take(&mut self.delivered_closes) {
            if let Ok(Entry::Closed(_)) = self.slab.get_mut(handle) {
                let _ = self.slab.remove(handle);
            }
        }
    }

    /// The entry a user's handle names: `ECLOSED` from the moment it is
    /// closing (a connection's graceful close) or closed until its `Closed`
    /// is delivered; internal attempts are not reachable.
    pub fn entry(&mut self, handle: Handle) -> Result<&mut Entry> {
        match self.slab.get_mut(handle)? {
            Entry::Attempt(_) => Err(Error::EBADHANDLE),
            Entry::Closed(_) => Err(Error::ECLOSED),
            Entry::Conn(c) if c.is_closing() => Err(Error::ECLOSED),
            entry => Ok(entry),
        }
    }

    /// The entry of a user's handle, closed or not: for its kind and user
    /// value, which stay readable until its `Closed` is delivered.
    pub fn identity(&mut self, handle: Handle) -> Result<&mut Entry> {
        match self.slab.get_mut(handle)? {
            Entry::Attempt(_) => Err(Error::EBADHANDLE),
            entry => Ok(entry),
        }
    }

    /// A connection that is open and not closing.
    pub fn conn(&mut self, handle: Handle) -> Result<&mut Conn> {
        match self.entry(handle)? {
            Entry::Conn(c) => Ok(c),
            _ => Err(Error::EWRONGKIND),
        }
    }

    /// Resolves a host name in the resolver pool; the result comes back
    /// through `resolved` and a wake.
    pub fn spawn_resolver(&mut self, handle: Handle, id: u32, host: String, port: u16) -> Result<()> {
        let requester: Weak<dyn resolver::Requester> = self.me.clone();
        resolver::submit(resolver::Job { requester, handle, id, host, port })
    }

    /// Records readiness from mio and services the handle at once, unless it
    /// is already waiting in the ready queue (or the batch is full: then it
    /// joins the queue). Inlined into the poll's loop, its one caller: a
    /// call per readiness event cost ~14 instructions per echo (bench/NOTES.md).
    #[inline(always)]
    pub fn on_readiness(&mut self, event: &mio::event::Event, out: &mut Out<'_>) {
        let Some((handle, entry)) = self.slab.at_mut(event.token().0) else {
            return;
        };
        // A connection first: the common case tests its kind once.
        let work = match entry {
            Entry::Conn(c) => {
                c.on_readiness(event);
                if !Self::serve_now(c.queued_mut(), handle, out, &mut self.ready) {
                    return;
                }
                Self::conn_work(handle, c, out, &mut self.deadlines)
            }
            other => {
                Self::other_readiness(other, event);
                if !Self::serve_now(other.queued(), handle, out, &mut self.ready) {
                    return;
                }
                Self::work(handle, other, out, &mut self.deadlines)
            }
        };
        self.finish_work(handle, work, out);
    }

    /// Whether a handle with new readiness is serviced now: not while it
    /// waits in the ready queue, nor when the batch is full (then it joins
    /// the queue).
    #[inline(always)]
    fn serve_now(queued: &mut bool, handle: Handle, out: &Out<'_>, ready: &mut VecDeque<Handle>) -> bool {
        if *queued {
            return false;
        }
        if out.full() {
            *queued = true;
            ready.push_back(handle);
            return false;
        }
        true
    }

    /// [`State::on_readiness`] for a handle that is not a connection.
    #[cold]
    fn other_readiness(entry: &mut Entry, event: &mio::event::Event) {
        match entry {
            Entry::Listener(l) => l.on_readiness(),
            Entry::Udp(u) => u.on_readiness(event),
            Entry::Conn(_) | Entry::Attempt(_) | Entry::Timer(_) | Entry::Closed(_) => {}
        }
    }

    /// Does the work one handle from the ready queue allows.
    pub fn service(&mut self, handle: Handle, out: &mut Out<'_>) {
        let Ok(entry) = self.slab.get_mut(handle) else {
            return;
        };
        *entry.queued() = false;
        let work = Self::work(handle, entry, out, &mut self.deadlines);
        self.finish_work(handle, work, out);
    }

    /// The part of servicing that needs only the entry itself.
    #[inline(always)]
    fn work(handle: Handle, entry: &mut Entry, out: &mut Out<'_>, deadlines: &mut Deadlines) -> Work {
        match entry {
            Entry::Listener(_) => Work::Accept,
            Entry::Attempt(_) => Work::Attempt,
            Entry::Timer(_) | Entry::Closed(_) => Work::Done(Step::Idle),
            Entry::Udp(u) => Work::Done(u.service(handle, out)),
            Entry::Conn(c) => Self::conn_work(handle, c, out, deadlines),
        }
    }

    /// [`State::work`] for a connection.
    #[inline(always)]
    fn conn_work(handle: Handle, c: &mut Conn, out: &mut Out<'_>, deadlines: &mut Deadlines) -> Work {
        // Resolving, connecting, or waiting to reconnect: only the dialer works.
        if !c.is_connected() {
            return Work::Dial;
        }
        let step = c.service(handle, out);
        if step != Step::Idle {
            return Work::Done(step);
        }
        if c.arm_linger() {
            deadlines.push(later(Instant::now(), CLOSE_LINGER), handle, Due::Linger, 0);
        }
        // With auto-reconnect, the peer's EOF is a loss like any other.
        if c.peer_eof() && c.dialing.as_ref().is_some_and(|d| d.dialer.auto_reconnects()) {
            Work::Done(Step::Finish(None))
        } else {
            Work::Done(Step::Idle)
        }
    }

    /// The part of servicing that needs the whole state.
    #[inline(always)]
    fn finish_work(&mut self, handle: Handle, work: Work, out: &mut Out<'_>) {
        match work {
            Work::Accept => self.accept(handle, out),
            Work::Attempt => self.attempt_ready(handle, out.events),
            Work::Dial => self.dial(handle, out.events, |_, _| {}),
            Work::Done(Step::Idle) => {}
            Work::Done(Step::Requeue) => self.requeue(handle),
            Work::Done(Step::RequeueFirst) => self.enqueue(handle, true),
            Work::Done(Step::Finish(reason)) => self.lose(handle, reason, out.events),
        }
    }

    /// Runs every deadline that is due.
    #[inline]
    pub fn fire_deadlines(&mut self, events: &mut Vec<Event>) {
        if self.deadlines.next().is_some() {
            self.fire_due_deadlines(events);
        }
    }

    #[inline(never)]
    fn fire_due_deadlines(&mut self, events: &mut Vec<Event>) {
        let now = Instant::now();
        while let Some((when, handle, due, epoch)) = self.deadlines.pop_due(now) {
            match due {
                Due::Timer => self.fire_timer(handle, when, epoch, now, events),
                Due::Idle => self.fire_idle(handle, epoch, now, events),
                Due::Linger => match self.slab.get_mut(handle) {
                    Ok(Entry::Conn(c)) if c.lingering() => {
                        let reason = c.close_reason();
                        self.finish(handle, reason, events);
                    }
                    _ => {}
                },
                Due::AcceptRetry => self.retry_accept(handle),
                Due::Drain => self.drain_expired(handle, events),
                Due::Dial => self.dial(handle, events, |dialer, now| dialer.handle_timeout(now)),
                Due::Handshake => {
                    if let Ok(Entry::Conn(c)) = self.slab.get_mut(handle) {
                        if let Some(error) = c.tls_timeout(handle, now, events) {
                            self.lose(handle, Some(error), events);
                        }
                    }
                }
            }
        }
    }

    fn fire_timer(&mut self, handle: Handle, when: Instant, epoch: u32, now: Instant, events: &mut Vec<Event>) {
        let Ok(Entry::Timer(timer)) = self.slab.get_mut(handle) else {
            return;
        };
        if timer.epoch != epoch {
            return;
        }
        events.push(Event::new(EventKind::Timer, handle, timer.userdata));
        match timer.repeat {
            Some(period) => self.arm(next_expiry(when, now, period), handle, Due::Timer, epoch),
            None => self.finish(handle, None, events),
        }
    }

    fn fire_idle(&mut self, handle: Handle, epoch: u32, now: Instant, events: &mut Vec<Event>) {
        let Ok(Entry::Conn(conn)) = self.slab.get_mut(handle) else {
            return;
        };
        let userdata = conn.userdata();
        let Some(idle) = conn.idle_mut().filter(|i| i.epoch == epoch) else {
            return;
        };
        if idle.expiry().is_some_and(|expiry| now >= expiry) {
            idle.last_fired = Some(now);
            events.push(Event::new(EventKind::Idle, handle, userdata));
        }
        let next = idle.expiry();
        self.arm(next, handle, Due::Idle, epoch);
    }

    /// How long a poll may sleep: until the next live deadline (stale ones
    /// at the head are dropped first).
    pub fn poll_timeout(&mut self, requested: Option<Duration>) -> Option<Duration> {
        if self.has_work() {
            return Some(Duration::ZERO);
        }
        if self.deadlines.next().is_none() {
            return requested;
        }
        let slab = &mut self.slab;
        self.deadlines.prune(|d| deadline_is_live(slab, d));
        let next = self.deadlines.next().map(|when| when.saturating_duration_since(Instant::now()));
        match (requested, next) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Hands resolver results to their connections.
    #[inline]
    pub fn take_resolved(&mut self, events: &mut Vec<Event>) {
        if self.resolved.is_empty() {
            return;
        }
        for (handle, id, result) in std::mem::take(&mut self.resolved) {
            self.dial(handle, events, |dialer, now| dialer.handle_resolved(id, result, now));
        }
    }
}

impl resolver::Requester for Mutex<State> {
    fn wants(&self, handle: Handle, id: u32) -> bool {
        self.lock().wants_resolution(handle, id)
    }

    fn deliver(&self, handle: Handle, id: u32, result: Result<Vec<SocketAddr>>) {
        let mut state = self.lock();
        if state.wants_resolution(handle, id) {
            state.resolved.push((handle, id, result));
            state.notify();
        }
    }
}

#[cfg(test)]
mod tests {
    /// An idle connection's whole user-space state is its slab slot (no read
    /// buffer, no queue, no framing state): keep it within 128 bytes
    /// (docs/design.md, "Bounded buffers"). Release layout only: in a debug
    /// build mio gives every socket an extra field (the id of the poll it is
    /// registered with, to catch a socket moved between polls).
    #[test]
    #[cfg_attr(debug_assertions, ignore = "mio adds a debug-only field to every socket")]
    fn an_idle_connection_fits_in_a_small_slot() {
        assert!(std::mem::size_of::<Option<super::Entry>>() <= 128);
    }
}
