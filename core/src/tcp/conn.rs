//! A TCP connection as a state machine: its [`Phase`], send queue, framing
//! remainder and readiness, changed only through its methods. It does no
//! bookkeeping of the loop (no slab, no registry): servicing writes events
//! to an [`Out`] and returns a [`Step`] for the reactor to carry out.
//!
//! All socket I/O goes through two methods, [`Conn::transmit`] (bytes out)
//! and `Conn::recv` (bytes in), or, on a TLS connection, their counterparts
//! in `secure`, between the socket and the send queue / framing
//! (docs/design.md, "TLS").

mod secure;

pub(crate) use secure::{input_after_upgrade_point, Role};

use std::collections::VecDeque;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::framing::{Framing, Next};
use crate::handle::Handle;
use crate::out::{readiness, Out, Step};
use crate::sendq::SendQueue;
use crate::sys;
use crate::tcp::attempt::Dialing;
use crate::tcp::stream::Stream;
use crate::timer::IdleTimeout;

/// Default of the most bytes one `recv` asks for (large reads: fewer system
/// calls in bulk transfers; the arena is loop-wide, so idle connections do
/// not pay for it). See [`crate::Loop::set_read_size`].
pub const DEFAULT_READ_SIZE: usize = 256 << 10;
/// Most reads from one connection in one turn: connections with input
/// waiting take turns (round-robin), and a `pause` takes effect within one
/// read. A lone fast sender is read again in the same poll until the arena's
/// budget; reading it once per poll instead was measured and kept out
/// (bench/NOTES.md).
const READS_PER_TURN: u32 = 1;
/// A kept incomplete frame up to this size is copied in front of the next
/// read into the arena, where frames are then cut without a copy. A larger
/// one takes its reads into its own buffer until it is complete, so a frame
/// spanning many reads is copied once, not once per read.
const COPY_BACK_LIMIT: usize = 64 << 10;
/// Most bytes a connection defers at once ([`Conn::defer`]): copying them
/// must cost well under the system call that coalescing saves (~2.5 µs on
/// loopback; 4 KiB is copied in ~0.2 µs). A send past it goes at once.
const DEFER_MAX: usize = 4 << 10;

/// Input kept on a connection between polls: frames handed back
/// undelivered because the user paused the connection ([`Conn::hold`]),
/// then frames the last batch had no room for, then the start of an
/// incomplete frame.
#[derive(Default)]
struct Kept {
    held: VecDeque<Box<[u8]>>,
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already delivered.
    start: usize,
    /// Bytes after `start` a delimiter search already covered.
    scanned: usize,
}

/// Where a connection is in its life. Whether its socket exists yet (an
/// outgoing connection resolving, connecting or waiting to reconnect) is
/// not part of the phase: what the user asks meanwhile (sends, a shutdown,
/// a close) is recorded here and carried out once it is connected.
///
/// ```text
///  Open ──shutdown──▶ FinQueued ──flushed: FIN──▶ HalfClosedLocal ──EOF──▶ Done
///  Open ──close─────▶ Closing ───flushed: FIN──▶ Lingering(Armed) ──EOF──▶ Finished
///  (peer's EOF first: PeerClosed, FinQueuedPeerClosed, ClosingPeerClosed,
///   whose flushed queue leads to Done or Finished without a FIN of our own)
///  close after shutdown: FinQueued* → Closing*, HalfClosedLocal → Lingering,
///  Done → Finished
/// ```
///
/// Each discriminant is the set of facts that hold ([`PEER_EOF`], [`FIN`],
/// [`CLOSING`], [`FIN_SENT`], [`ARMED`]), so the questions servicing asks on
/// every turn are one bit test each.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    /// Both directions open.
    Open = 0,
    /// The peer's EOF was read; we may still send.
    PeerClosed = PEER_EOF,
    /// `shutdown` asked for our FIN: it goes once the queue is flushed
    /// (reading goes on).
    FinQueued = FIN,
    /// [`Phase::FinQueued`] after the peer's EOF.
    FinQueuedPeerClosed = FIN | PEER_EOF,
    /// Our FIN is sent after `shutdown`; reading goes on.
    HalfClosedLocal = FIN | FIN_SENT,
    /// Both directions are closed without a `close`: kept input is
    /// delivered (a pause holds it), then the connection ends.
    Done = FIN | FIN_SENT | PEER_EOF,
    /// `close` was called: sends are refused and input discarded; the
    /// queue is flushed, then our FIN goes.
    Closing = FIN | CLOSING,
    /// [`Phase::Closing`] after the peer's EOF.
    ClosingPeerClosed = FIN | CLOSING | PEER_EOF,
    /// `close`: our FIN is sent; input is discarded until the peer's EOF, so
    /// that the kernel never answers late input with a reset.
    Lingering = FIN | CLOSING | FIN_SENT,
    /// [`Phase::Lingering`] once the reactor armed its deadline (the wait
    /// for the peer's EOF is bounded).
    LingeringArmed = FIN | CLOSING | FIN_SENT | ARMED,
    /// `close`: both directions are closed; the connection ends now.
    Finished = FIN | CLOSING | FIN_SENT | PEER_EOF,
}

/// [`Phase`] fact: the peer's EOF was read.
const PEER_EOF: u8 = 1;
/// [`Phase`] fact: our FIN was asked for (`shutdown` or `close`): sends are refused.
const FIN: u8 = 2;
/// [`Phase`] fact: the user closed the handle.
const CLOSING: u8 = 4;
/// [`Phase`] fact: our FIN is sent (or our side is done with the socket).
const FIN_SENT: u8 = 8;
/// [`Phase`] fact: the linger deadline is armed.
const ARMED: u8 = 16;

impl Phase {
    #[inline(always)]
    fn has(self, fact: u8) -> bool {
        self as u8 & fact != 0
    }
}

/// How [`Conn::send`] took a message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Straight to the kernel, whole: nothing queued, no event, no failure.
    AtOnce,
    /// Queued (maybe in part), with a token, or on a slower path.
    Other,
    /// Not taken: the connection's deferred bytes must go first.
    AfterDeferred,
}

/// What one read brought.
enum Recv {
    Bytes(usize),
    /// Nothing to read now (`EAGAIN`).
    Drained,
    /// The peer's EOF.
    Eof,
    Failed(Error),
}

/// A connection's framing: `None` for stream framing, the default (boxed
/// otherwise: an idle stream connection carries one null pointer).
struct FramingSlot(Option<Box<Framing>>);

impl FramingSlot {
    fn new(framing: Framing) -> FramingSlot {
        FramingSlot((framing != Framing::Stream).then(|| Box::new(framing)))
    }

    fn get(&self) -> &Framing {
        self.0.as_deref().unwrap_or(&Framing::Stream)
    }

    fn is_stream(&self) -> bool {
        self.0.is_none()
    }
}

/// One stream connection, TCP or Unix (accepted, outgoing or adopted).
pub(crate) struct Conn {
    sock: Option<Stream>,
    userdata: u64,
    framing: FramingSlot,
    /// An outgoing connection's dialer (connects and reconnects).
    pub dialing: Option<Box<Dialing>>,
    /// The listener that accepted this connection, or a handle of raw value
    /// 0, which names nothing (8 bytes where an `Option` takes 16).
    listener: Handle,
    idle: Option<Box<IdleTimeout>>,
    /// Input kept between reads (boxed: an idle connection carries one
    /// pointer, and none while nothing is kept).
    kept: Option<Box<Kept>>,
    /// What the kernel has not taken yet.
    sendq: SendQueue,
    phase: Phase,
    /// Why the connection is closing, reported in `Closed`.
    close_reason: Option<Error>,
    /// The kernel may have bytes (or an EOF or error) for us.
    readable: bool,
    /// The kernel signalled send space (or a connect result).
    write_ready: bool,
    /// The peer's FIN was signalled: read until 0 even after short reads.
    read_closed: bool,
    /// The kernel flagged an error (e.g. a reset) on the socket.
    error_seen: bool,
    /// The user paused reading.
    paused: bool,
    /// Connected, [`Phase::Open`], plaintext, stream framing, not paused,
    /// nothing deferred: what the fast send and read paths need besides
    /// per-turn facts, in one test. Kept by [`Conn::refresh_plain`] wherever
    /// one of them changes.
    plain: bool,
    /// In the loop's ready queue (the reactor's bookkeeping).
    queued: bool,
    /// A send failed for good (reset, broken pipe): close with this reason.
    failed: Option<Error>,
    /// The TLS session of a connection that speaks TLS (boxed: a plaintext
    /// connection carries one null pointer).
    tls: Option<Box<secure::Secure>>,
}

impl Conn {
    /// A connection accepted by `listener`.
    pub fn accepted(sock: Stream, userdata: u64, listener: Handle) -> Conn {
        Conn { listener, ..Conn::new(Some(sock), userdata) }
    }

    /// A connection on a socket that is already connected (a Unix connect,
    /// an adopted descriptor).
    pub fn established(sock: Stream, userdata: u64) -> Conn {
        Conn::new(Some(sock), userdata)
    }

    /// An outgoing connection, with no socket until its dialer connects it.
    pub fn dialing(dialing: Box<Dialing>, userdata: u64) -> Conn {
        Conn { dialing: Some(dialing), ..Conn::new(None, userdata) }
    }

    fn new(sock: Option<Stream>, userdata: u64) -> Conn {
        Conn {
            plain: sock.is_some(),
            sock,
            userdata,
            framing: FramingSlot(None),
            dialing: None,
            listener: Handle::NONE,
            idle: None,
            kept: None,
            sendq: SendQueue::new(),
            phase: Phase::Open,
            close_reason: None,
            readable: false,
            write_ready: false,
            read_closed: false,
            error_seen: false,
            paused: false,
            queued: false,
            failed: None,
            tls: None,
        }
    }

    /// The socket (none while an outgoing connection is not connected).
    pub fn sock(&self) -> Option<&Stream> {
        self.sock.as_ref()
    }

    /// The socket, to register or deregister it.
    pub fn sock_mut(&mut self) -> Option<&mut Stream> {
        self.sock.as_mut()
    }

    /// The dialer connected the connection on `sock`: it is serviced as if
    /// readable and writable (input may already wait, and what was sent,
    /// shut down or closed meanwhile is carried out).
    pub fn connected(&mut self, sock: Stream) {
        self.sock = Some(sock);
        self.refresh_plain();
        self.write_ready = true;
        self.readable = true;
    }

    /// The user value.
    pub fn userdata(&self) -> u64 {
        self.userdata
    }

    /// The user value, to change it.
    pub fn userdata_mut(&mut self) -> &mut u64 {
        &mut self.userdata
    }

    /// Whether the connection is in the loop's ready queue (the reactor's flag).
    #[inline]
    pub fn queued_mut(&mut self) -> &mut bool {
        &mut self.queued
    }

    /// The listener that accepted this connection.
    pub fn listener(&self) -> Option<Handle> {
        Some(self.listener).filter(|listener| listener.raw() != 0)
    }

    /// The idle timeout, if one is set.
    pub fn idle_mut(&mut self) -> Option<&mut IdleTimeout> {
        self.idle.as_deref_mut()
    }

    /// Sets or clears the idle timeout.
    pub fn set_idle(&mut self, idle: Option<Box<IdleTimeout>>) {
        self.idle = idle;
    }

    /// The send queue (its length and water marks).
    pub fn sendq(&self) -> &SendQueue {
        &self.sendq
    }

    /// Sets the send queue's high-water mark (`EINVAL` below the low one).
    pub fn set_high_water(&mut self, bytes: u32) -> Result<()> {
        self.sendq.set_high_water(bytes)
    }

    /// Sets the send queue's low-water mark (`EINVAL` above the high one).
    pub fn set_low_water(&mut self, bytes: u32) -> Result<()> {
        self.sendq.set_low_water(bytes)
    }

    /// Records readiness reported by the poller.
    #[inline(always)]
    pub fn on_readiness(&mut self, event: &mio::event::Event) {
        let (readable, writable) = readiness(event);
        self.readable |= readable;
        self.read_closed |= event.is_read_closed();
        self.error_seen |= event.is_error();
        self.write_ready |= writable;
    }

    /// Makes the next service try to flush and advance a shutdown or close
    /// even without a new writable edge.
    pub fn want_flush(&mut self) {
        self.write_ready = true;
    }

    /// Stops (`true`) or resumes reading; returns whether resuming left
    /// input to deliver without a new readiness event.
    pub fn set_paused(&mut self, paused: bool) -> bool {
        self.paused = paused;
        self.refresh_plain();
        self.has_buffered_work()
    }

    /// Takes back a `Data` event's bytes (`Some`) or an `Eof` (`None`) that
    /// the host had not delivered when the user paused the connection:
    /// `true` if kept, to be delivered again, in order, once resumed. Kept
    /// are data while paused and, to keep the order, while earlier data is
    /// held; an `Eof` behind held data (reported again after it).
    pub fn hold(&mut self, data: Option<&[u8]>) -> bool {
        let holding = self.kept.as_ref().is_some_and(|kept| !kept.held.is_empty());
        if !(self.paused || holding) || self.is_closing() {
            return false;
        }
        let Some(bytes) = data else { return holding };
        self.kept.get_or_insert_with(Box::default).held.push_back(bytes.into());
        true
    }

    /// Whether the user closed the connection (gracefully or not yet done):
    /// every operation but `close_reset` answers `ECLOSED`.
    #[inline]
    pub fn is_closing(&self) -> bool {
        self.phase.has(CLOSING)
    }

    /// Whether our FIN was asked for (`shutdown` or `close`).
    #[inline]
    fn fin_requested(&self) -> bool {
        self.phase.has(FIN)
    }

    /// Whether the peer's EOF was read.
    #[inline]
    pub fn peer_eof(&self) -> bool {
        self.phase.has(PEER_EOF)
    }

    /// The peer's EOF was read.
    fn on_peer_eof(&mut self) {
        self.set_phase(match self.phase {
            Phase::Open => Phase::PeerClosed,
            Phase::FinQueued => Phase::FinQueuedPeerClosed,
            Phase::HalfClosedLocal => Phase::Done,
            Phase::Closing => Phase::ClosingPeerClosed,
            Phase::Lingering | Phase::LingeringArmed => Phase::Finished,
            seen @ (Phase::PeerClosed
            | Phase::FinQueuedPeerClosed
            | Phase::Done
            | Phase::ClosingPeerClosed
            | Phase::Finished) => seen,
        });
    }

    /// Moves to `phase` (the one way the phase changes).
    fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
        self.refresh_plain();
    }

    /// Recomputes [`Conn::plain`] after a change of what it caches.
    fn refresh_plain(&mut self) {
        self.plain = self.sock.is_some()
            && self.phase == Phase::Open
            && self.tls.is_none()
            && self.framing.is_stream()
            && !self.paused
            && self.sendq.deferred == 0;
    }

    /// Established (not resolving, connecting or waiting to reconnect: the
    /// socket is set only once an attempt has won).
    pub fn is_connected(&self) -> bool {
        self.sock.is_some()
    }

    /// Bytes waiting to be sent: in the send queue, as they go on the wire
    /// (with the overhead of their TLS records), and deferred.
    pub fn queued_bytes(&self) -> usize {
        self.sendq.wire_len() + self.sendq.deferred as usize
    }

    /// Whether servicing could make progress without a new readiness event.
    pub fn has_buffered_work(&self) -> bool {
        self.kept.is_some() || self.readable
    }

    /// Sets how input is cut into frames; bytes kept so far are cut anew.
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = FramingSlot::new(framing);
        self.refresh_plain();
        if let Some(kept) = &mut self.kept {
            kept.scanned = 0;
        }
    }

    /// Queues the buffers whole or refuses them whole (`EAGAIN` above the
    /// high-water mark; a message larger than the mark is accepted only into
    /// an empty queue). Sends at once when nothing is queued. With a `token`,
    /// a `Sent` event reports when the last of these bytes reached the kernel.
    /// `Ok(Sent::AtOnce)` is the common case, which the caller need not look
    /// into further: the bytes went straight to the kernel, whole, so nothing
    /// was queued, no event added and nothing failed. `Ok(Sent::AfterDeferred)`:
    /// nothing was done; the caller sends the connection's deferred bytes
    /// ([`Conn::send_deferred`]) and asks again.
    #[inline(always)]
    pub fn send(
        &mut self,
        handle: Handle,
        bufs: &[&[u8]],
        token: Option<u64>,
        events: &mut Vec<Event>,
    ) -> Result<Sent> {
        // The common case first: one buffer into an empty queue of a plain
        // connection with nothing to account for (no tokens, no idle timer)
        // goes straight to the kernel.
        if let ([one], None, Some(sock)) = (bufs, token, &self.sock) {
            if self.plain && self.sendq.is_idle() && self.idle.is_none() && !one.is_empty() {
                let attempt = Self::transmit(sock.as_raw_fd(), bufs);
                if matches!(attempt, Ok(n) if n == one.len()) {
                    return Ok(Sent::AtOnce);
                }
                return self.after_direct_send(handle, bufs, None, attempt, events).map(|()| Sent::Other);
            }
        }
        if self.has_deferred() {
            return Ok(Sent::AfterDeferred);
        }
        self.send_general(handle, bufs, token, events).map(|()| Sent::Other)
    }

    /// A `Sent` event with `token` once the kernel took every byte queued
    /// so far (added to `events` now if it has). The caller sends the
    /// connection's deferred bytes first (they are not queued yet).
    pub fn notify_when_sent(&mut self, handle: Handle, token: u64, events: &mut Vec<Event>) {
        report_sent(events, handle, self.userdata, self.sendq.mark(token));
    }

    /// Counts `len` bytes as deferred if this connection may defer them:
    /// open, plaintext, nothing queued, and at most [`DEFER_MAX`] (and the
    /// high-water mark) deferred in all. `false`: the caller sends them
    /// as usual (after the bytes deferred before).
    pub fn defer(&mut self, len: usize) -> bool {
        let total = self.sendq.deferred as usize + len;
        let room = DEFER_MAX.min(self.sendq.high_water() as usize);
        // (Deferred bytes make a connection not `plain`, so that the fast
        // send path stays off while they wait; nothing else can change
        // meanwhile that would refuse more.)
        let deferrable = (self.plain || self.has_deferred()) && len > 0 && total <= room && self.sendq.is_idle();
        if deferrable {
            self.sendq.deferred = total as u32;
            self.refresh_plain();
        }
        deferrable
    }

    /// Bytes deferred and not sent yet.
    #[inline(always)]
    pub fn has_deferred(&self) -> bool {
        self.sendq.deferred > 0
    }

    /// Sends `bytes`, deferred before, as a send would have: straight to
    /// the kernel if nothing is queued, the rest queued. Nothing if the
    /// connection dropped its deferred bytes meanwhile (a reset). A failure
    /// is kept for the reactor to close the connection with; `true` then.
    pub fn send_deferred(&mut self, handle: Handle, bytes: &[u8], events: &mut Vec<Event>) -> bool {
        let Some(left) = (self.sendq.deferred as usize).checked_sub(bytes.len()) else {
            return false;
        };
        self.sendq.deferred = left as u32;
        self.refresh_plain();
        let attempt = match &self.sock {
            Some(sock) if self.sendq.len() == 0 => Self::transmit(sock.as_raw_fd(), &[bytes]),
            Some(_) => Ok(0),
            None => return false,
        };
        self.after_direct_send(handle, &[bytes], None, attempt, events).is_err()
    }

    fn send_general(
        &mut self,
        handle: Handle,
        bufs: &[&[u8]],
        token: Option<u64>,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        // (The fast path above is only taken while the phase is open, so
        // closing connections all come here.)
        if self.is_closing() {
            return Err(Error::ECLOSED);
        }
        if self.fin_requested() {
            return Err(Error::EPIPE);
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        self.sendq.admit(total)?;
        match &self.sock {
            Some(sock) if self.sendq.len() == 0 && self.tls.is_none() => {
                let attempt = Self::transmit(sock.as_raw_fd(), bufs);
                self.after_direct_send(handle, bufs, token, attempt, events)
            }
            // Under TLS the bytes are queued, then encrypted as the session
            // takes them (after the handshake).
            _ if self.tls.is_some() => {
                self.after_direct_send(handle, bufs, token, Ok(0), events)?;
                self.flush(handle, events)
            }
            _ => self.after_direct_send(handle, bufs, token, Ok(0), events),
        }
    }

    /// Accounts for what a direct send (if any) took and queues the rest.
    fn after_direct_send(
        &mut self,
        handle: Handle,
        bufs: &[&[u8]],
        token: Option<u64>,
        attempt: io::Result<usize>,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        let sent = match attempt {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => {
                let error = Error::from(e);
                self.failed = Some(error);
                return Err(error);
            }
        };
        if sent > 0 {
            self.touch();
        }
        report_sent(events, handle, self.userdata, self.sendq.push(bufs, sent, token));
        // A partial send that did not hit EAGAIN (more buffers than one call
        // takes) arms no writable edge: keep sending until the kernel says so.
        if sent > 0 && self.sendq.len() > 0 {
            self.flush(handle, events)?;
        }
        Ok(())
    }

    /// Notes successful I/O for the idle timeout.
    fn touch(&mut self) {
        if let Some(idle) = &mut self.idle {
            idle.last_io = Instant::now();
        }
    }

    /// Bytes out: the one place a plaintext connection writes to its socket
    /// (a TLS connection writes records in `flush_tls`).
    #[inline(always)]
    fn transmit(fd: RawFd, bufs: &[&[u8]]) -> io::Result<usize> {
        match bufs {
            [one] => sys::send(fd, one),
            _ => sys::send_vectored(fd, bufs),
        }
    }

    /// Sends queued bytes until the queue is empty or the kernel would block.
    fn flush(&mut self, handle: Handle, events: &mut Vec<Event>) -> Result<()> {
        let Some(sock) = &self.sock else {
            return Ok(());
        };
        if self.tls.is_some() {
            return self.flush_tls(handle, events);
        }
        let fd = sock.as_raw_fd();
        while self.sendq.len() > 0 {
            let mut slices: [&[u8]; sys::MAX_IOV] = [&[]; sys::MAX_IOV];
            let count = self.sendq.slices(&mut slices);
            match Self::transmit(fd, &slices[..count]) {
                Ok(n) => {
                    if n > 0 {
                        self.touch();
                    }
                    report_sent(events, handle, self.userdata, self.sendq.consume(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Graceful close: refuse new sends, flush, FIN, wait for the peer's EOF.
    pub fn start_close(&mut self, reason: Option<Error>) {
        self.close_reason = self.close_reason.or(reason);
        self.kept = None;
        self.set_phase(match self.phase {
            Phase::Open | Phase::FinQueued => Phase::Closing,
            Phase::PeerClosed | Phase::FinQueuedPeerClosed => Phase::ClosingPeerClosed,
            Phase::HalfClosedLocal => Phase::Lingering,
            Phase::Done => Phase::Finished,
            closing @ (Phase::Closing
            | Phase::ClosingPeerClosed
            | Phase::Lingering
            | Phase::LingeringArmed
            | Phase::Finished) => closing,
        });
    }

    /// Half-close: FIN once everything queued is sent (`EPIPE` if asked before).
    pub fn request_shutdown(&mut self) -> Result<()> {
        let phase = match self.phase {
            Phase::Open => Phase::FinQueued,
            Phase::PeerClosed => Phase::FinQueuedPeerClosed,
            _ => return Err(Error::EPIPE),
        };
        self.set_phase(phase);
        Ok(())
    }

    /// Hard close: drop the queue and make `close` send a reset.
    pub fn reset(&mut self) {
        self.sendq.deferred = 0;
        self.refresh_plain();
        if let Some(sock) = &self.sock {
            // Best effort: a socket that cannot take the option just closes.
            let _ = socket2::SockRef::from(sock).set_linger(Some(std::time::Duration::ZERO));
        }
    }

    /// Forgets the lost connection before a reconnect and returns its
    /// socket: unsent bytes and their tokens are dropped, the phase is open
    /// again; framing, options and user data stay.
    pub fn reset_for_reconnect(&mut self) -> Option<Stream> {
        self.restart_tls();
        self.kept = None;
        self.sendq.clear();
        self.sendq.deferred = 0;
        self.readable = false;
        self.write_ready = false;
        self.read_closed = false;
        let sock = self.sock.take();
        self.set_phase(Phase::Open);
        sock
    }

    /// Why `Closed` should report the connection ended.
    pub fn close_reason(&self) -> Option<Error> {
        self.close_reason
    }

    /// A send failed for good: the connection must be closed by the loop.
    pub fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Whether a graceful close is waiting only for the peer's EOF.
    pub fn lingering(&self) -> bool {
        matches!(self.phase, Phase::Lingering | Phase::LingeringArmed)
    }

    /// Whether a lingering close still needs its deadline: true once, and
    /// the caller arms it.
    pub fn arm_linger(&mut self) -> bool {
        let unarmed = self.phase == Phase::Lingering;
        if unarmed {
            self.set_phase(Phase::LingeringArmed);
        }
        unarmed
    }

    /// Does all the work readiness allows: sends queued bytes, reads and
    /// frames input, advances shutdown. Connection attempts are handled by the
    /// loop before this is called; `out` has room for an event (the reactor
    /// checks before it services a handle). Inlined into the reactor's two callers:
    /// its own call and frame cost ~30 instructions per echo (bench/NOTES.md).
    #[inline(always)]
    pub fn service(&mut self, handle: Handle, out: &mut Out<'_>) -> Step {
        match self.plain_read_turn() {
            Some(fd) => {
                self.write_ready = false;
                self.read_stream(fd, handle, out)
            }
            None => self.service_any(handle, out),
        }
    }

    /// The socket, when this turn is the common one, which needs only a
    /// stream read: an open plaintext connection with stream framing, input
    /// waiting, and nothing queued, kept, owed, failed, paused or flagged.
    /// [`Conn::service_any`] would do just that read (and drop the write
    /// edge, which finds nothing to flush); deciding it here in one place
    /// spares the echo path its checks and its stack frame.
    #[inline(always)]
    fn plain_read_turn(&self) -> Option<RawFd> {
        let sock = self.sock.as_ref()?;
        let plain = self.plain
            && self.readable
            && !self.error_seen
            && self.failed.is_none()
            && self.sendq.is_settled()
            && self.kept.is_none();
        plain.then(|| sock.as_raw_fd())
    }

    /// [`Conn::service`] for every turn.
    #[inline(never)]
    fn service_any(&mut self, handle: Handle, out: &mut Out<'_>) -> Step {
        if let Some(error) = self.failed.take() {
            return Step::Finish(Some(error));
        }
        // After the peer's EOF, or while paused, nothing is read, so a reset
        // shows only as an error flag: report it instead of missing it (the
        // kernel drops unread bytes on a reset anyway).
        if self.error_seen && (self.peer_eof() || (self.paused && !self.is_closing())) {
            self.error_seen = false;
            if let Some(Ok(Some(_))) = self.sock.as_ref().map(|s| s.take_error()) {
                // Linux says EPIPE for a reset after EOF; it is the peer's reset.
                return Step::Finish(Some(Error::ECONNRESET));
            }
        }
        if std::mem::take(&mut self.write_ready) && (self.sendq.len() > 0 || self.tls.is_some()) {
            if let Err(e) = self.flush(handle, out.events) {
                return Step::Finish(Some(e));
            }
        }
        // (A closing connection owes no `Writable`: it takes no more sends.)
        if self.sendq.writable_due() && !self.is_closing() {
            out.push(Event::new(EventKind::Writable, handle, self.userdata));
        }
        if self.should_read() {
            let step = self.read(handle, out);
            if self.tls.is_some() {
                return self.after_tls_input(handle, step, out);
            }
            if step != Step::Idle {
                return step;
            }
        }
        if self.phase.has(FIN) {
            return self.advance_fin();
        }
        Step::Idle
    }

    /// After `shutdown` or `close`: sends our FIN once the queue is flushed,
    /// and ends the connection once both directions are closed.
    fn advance_fin(&mut self) -> Step {
        if !self.phase.has(FIN_SENT) && self.sendq.len() == 0 {
            // Under TLS, close_notify goes before the FIN.
            if self.tls.is_some() && !self.tls_close_flushed() {
                return Step::Idle;
            }
            // After the peer's EOF the connection ends below, and closing
            // the socket sends the FIN (nothing is left unread): one
            // system call fewer per connection.
            if let (Some(sock), false) = (&self.sock, self.peer_eof()) {
                // ENOTCONN here means the peer already reset; reading reports it.
                let _ = sock.shutdown(Shutdown::Write);
            }
            self.set_phase(match self.phase {
                Phase::FinQueued => Phase::HalfClosedLocal,
                Phase::FinQueuedPeerClosed => Phase::Done,
                Phase::Closing => Phase::Lingering,
                _ => Phase::Finished,
            });
        }
        match self.phase {
            Phase::Finished => Step::Finish(self.close_reason),
            // (Kept input is delivered before the end: only a pause holds it.)
            Phase::Done if self.kept.is_none() => Step::Finish(self.close_reason),
            _ => Step::Idle,
        }
    }

    /// Reading goes on unless paused (kept input is delivered even after the
    /// peer's EOF); a paused connection still reads when the kernel holds
    /// nothing but the peer's FIN or an error, so a peer close is noticed
    /// while paused.
    fn should_read(&self) -> bool {
        if self.kept.is_none() && (!self.readable || self.peer_eof()) {
            return false;
        }
        if !self.paused || self.is_closing() {
            return true;
        }
        self.read_closed
            && self.kept.is_none()
            && self.sock.as_ref().is_some_and(|s| sys::bytes_readable(s.as_raw_fd()).ok() == Some(0))
    }

    /// Reads and cuts frames: kept frames first, then new input, read into
    /// the loop's arena and cut there (no copy), or, for a large incomplete
    /// frame, into the frame's own buffer.
    fn read(&mut self, handle: Handle, out: &mut Out<'_>) -> Step {
        let Some(sock) = &self.sock else {
            return Step::Idle;
        };
        let fd = sock.as_raw_fd();
        if self.framing.is_stream() && self.kept.is_none() && !self.paused && !self.is_closing() && self.tls.is_none() {
            return if out.full() { Step::Requeue } else { self.read_stream(fd, handle, out) };
        }
        let mut reads = 0;
        loop {
            if !self.paused && !self.is_closing() {
                if let Some(step) = self.deliver_kept(handle, out) {
                    return step;
                }
            }
            // Paused, reading goes on only to see the peer's FIN (`should_read`).
            if !self.readable || (self.paused && !self.is_closing() && (!self.read_closed || self.kept.is_some())) {
                return Step::Idle;
            }
            if reads == READS_PER_TURN {
                return Step::Requeue;
            }
            reads += 1;
            let got = match self.kept.take() {
                Some(kept) if kept.buf.len() - kept.start > COPY_BACK_LIMIT => self.read_kept(fd, kept, out.read_size),
                kept => {
                    if out.full() && !self.is_closing() {
                        self.kept = kept;
                        return Step::Requeue;
                    }
                    self.read_arena(fd, kept, handle, out)
                }
            };
            match got {
                Recv::Bytes(_) | Recv::Drained => {}
                // With input kept, `deliver_kept` reports the EOF after it.
                Recv::Eof if self.kept.is_none() && !self.is_closing() => {
                    out.push(Event::new(EventKind::Eof, handle, self.userdata));
                }
                Recv::Eof => {}
                Recv::Failed(e) => return Step::Finish(Some(e)),
            }
        }
    }

    /// Delivers the frames kept on the connection (copied into the arena, or
    /// moved there whole when the arena is empty), and after the peer's EOF
    /// the tail and `Eof`. `None` once at most the start of a frame is left;
    /// otherwise the step that waits for room in a later poll.
    fn deliver_kept(&mut self, handle: Handle, out: &mut Out<'_>) -> Option<Step> {
        let peer_eof = self.peer_eof();
        let kept = self.kept.as_deref_mut()?;
        let data = Event::new(EventKind::Data, handle, self.userdata);
        while let Some(frame) = kept.held.front() {
            if !out.fits(frame.len()) {
                out.stop_data();
                return Some(Step::RequeueFirst);
            }
            out.push_copy(data.clone(), frame);
            kept.held.pop_front();
        }
        loop {
            let rest = &kept.buf[kept.start..];
            let (start, len, consumed) = match self.framing.get().next(rest, kept.scanned) {
                Ok(Next::Frame { start, len, consumed }) => (start, len, consumed),
                Ok(Next::Incomplete) => {
                    kept.scanned = rest.len();
                    break;
                }
                Err(e) => {
                    out.push(Event::new(EventKind::Error, handle, self.userdata).with_error(Some(e)));
                    self.start_close(Some(e));
                    return None;
                }
            };
            if !out.fits(len) {
                out.stop_data();
                return Some(Step::RequeueFirst);
            }
            if out.arena.is_empty() && consumed == rest.len() {
                // The buffer holds just this frame: it becomes the arena.
                std::mem::swap(out.arena, &mut kept.buf);
                out.push_data(data.clone(), kept.start + start, len);
                kept.buf.clear();
                kept.start = 0;
            } else {
                out.push_copy(data.clone(), &rest[start..start + len]);
                kept.start += consumed;
            }
            kept.scanned = 0;
        }
        if peer_eof {
            let tail = &kept.buf[kept.start..];
            if !tail.is_empty() && self.framing.get().delivers_tail() {
                if !out.fits(tail.len()) {
                    out.stop_data();
                    return Some(Step::RequeueFirst);
                }
                out.push_copy(data, tail);
            }
            out.push(Event::new(EventKind::Eof, handle, self.userdata));
            self.kept = None;
        } else if kept.start == kept.buf.len() {
            self.kept = None;
        }
        None
    }

    /// One read into a large kept incomplete frame's own buffer, at most up
    /// to the end of the frame (bounded by the frame's maximum).
    fn read_kept(&mut self, fd: RawFd, mut kept: Box<Kept>, read_size: usize) -> Recv {
        if kept.start > 0 {
            kept.buf.drain(..kept.start);
            kept.start = 0;
        }
        let room = self.framing.get().room(&kept.buf).min(read_size);
        debug_assert!(room > 0, "only an incomplete frame is read into");
        let got = self.recv_any(fd, &mut kept.buf, room);
        self.kept = Some(kept);
        got
    }

    /// One read into the arena, after the `kept` start of a frame (small);
    /// frames are cut in place and the rest is kept. A closing connection
    /// discards what it reads.
    fn read_arena(&mut self, fd: RawFd, kept: Option<Box<Kept>>, handle: Handle, out: &mut Out<'_>) -> Recv {
        let mut pos = out.arena.len();
        let mut scanned = 0;
        if let Some(kept) = kept {
            debug_assert!(kept.held.is_empty(), "held frames are delivered before anything is read");
            out.arena.extend_from_slice(&kept.buf[kept.start..]);
            scanned = kept.scanned;
        }
        let got = self.recv_any(fd, out.arena, out.read_size);
        if self.tls.is_some() {
            // `TlsReady` before the data that came with the handshake's end.
            self.tls_events(handle, out.events);
        }
        if self.is_closing() {
            out.arena.truncate(pos);
            return got;
        }
        while !self.paused && !out.full() {
            match self.framing.get().next(&out.arena[pos..], scanned) {
                Ok(Next::Frame { start, len, consumed }) => {
                    out.push_data(Event::new(EventKind::Data, handle, self.userdata), pos + start, len);
                    pos += consumed;
                    scanned = 0;
                }
                Ok(Next::Incomplete) => {
                    scanned = out.arena.len() - pos;
                    break;
                }
                Err(e) => {
                    out.push(Event::new(EventKind::Error, handle, self.userdata).with_error(Some(e)));
                    self.start_close(Some(e));
                    out.arena.truncate(pos);
                    return got;
                }
            }
        }
        if pos < out.arena.len() {
            let buf = out.arena[pos..].to_vec();
            self.kept = Some(Box::new(Kept { buf, scanned, ..Kept::default() }));
            out.arena.truncate(pos);
        }
        got
    }

    /// [`Conn::read`] for the common case, stream framing with nothing kept
    /// back: every read is one `Data` event, straight from the arena. `out`
    /// has room for one: each caller checked (the echo path's check is the
    /// reactor's, before [`Conn::service`]; one more here cost ~4
    /// instructions per echo).
    #[inline(always)]
    fn read_stream(&mut self, fd: RawFd, handle: Handle, out: &mut Out<'_>) -> Step {
        debug_assert!(!out.full());
        for _ in 0..READS_PER_TURN {
            let pos = out.arena.len();
            match self.recv(fd, out.arena, out.read_size) {
                Recv::Bytes(n) => {
                    out.push_data(Event::new(EventKind::Data, handle, self.userdata), pos, n);
                    if !self.readable {
                        return Step::Idle;
                    }
                    if out.full() {
                        return Step::Requeue;
                    }
                }
                Recv::Drained => return Step::Idle,
                Recv::Eof => {
                    out.push(Event::new(EventKind::Eof, handle, self.userdata));
                    return Step::Idle;
                }
                Recv::Failed(e) => return Step::Finish(Some(e)),
            }
        }
        Step::Requeue
    }

    /// Bytes in, plaintext or TLS (framed input and TLS connections take
    /// this path; stream framing without TLS reads with `recv` directly).
    fn recv_any(&mut self, fd: RawFd, buf: &mut Vec<u8>, size: usize) -> Recv {
        if self.tls.is_some() {
            return self.recv_tls(fd, buf, size);
        }
        self.recv(fd, buf, size)
    }

    /// Bytes in: the one place a plaintext connection reads its socket
    /// (`recv_tls` is TLS's), keeping the readiness flags and the phase in
    /// step.
    #[inline(always)]
    fn recv(&mut self, fd: RawFd, arena: &mut Vec<u8>, read_size: usize) -> Recv {
        match sys::recv_append(fd, arena, read_size) {
            Ok(0) => {
                self.readable = false;
                self.on_peer_eof();
                Recv::Eof
            }
            // A short read drained the socket: the next byte brings a new
            // edge. After the peer's FIN, read on until 0 to see the EOF.
            Ok(n) => {
                self.touch();
                if n < read_size && !self.read_closed {
                    self.readable = false;
                }
                Recv::Bytes(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Recv::Drained
            }
            Err(e) => Recv::Failed(e.into()),
        }
    }
}

/// Adds a `Sent` event of `handle` for each of `tokens` (of the messages
/// and marks whose last byte the kernel took), in order.
fn report_sent(events: &mut Vec<Event>, handle: Handle, userdata: u64, tokens: impl IntoIterator<Item = u64>) {
    events.extend(tokens.into_iter().map(|token| Event::new(EventKind::Sent, handle, userdata).with_value(token)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(phase: Phase) -> Conn {
        Conn { phase, ..Conn::new(None, 0) }
    }

    #[test]
    fn shutdown_is_asked_once_and_remembers_the_peers_eof() {
        let mut c = conn(Phase::Open);
        assert_eq!(c.request_shutdown(), Ok(()));
        assert_eq!(c.phase, Phase::FinQueued);
        assert_eq!(c.request_shutdown(), Err(Error::EPIPE));
        c.on_peer_eof();
        assert_eq!(c.phase, Phase::FinQueuedPeerClosed);
        assert!(c.peer_eof() && !c.is_closing());
        let mut c = conn(Phase::PeerClosed);
        assert_eq!(c.request_shutdown(), Ok(()));
        assert_eq!(c.phase, Phase::FinQueuedPeerClosed);
    }

    #[test]
    fn close_from_every_phase_refuses_operations_from_then_on() {
        let cases = [
            (Phase::Open, Phase::Closing),
            (Phase::PeerClosed, Phase::ClosingPeerClosed),
            (Phase::FinQueuedPeerClosed, Phase::ClosingPeerClosed),
            (Phase::HalfClosedLocal, Phase::Lingering),
            (Phase::LingeringArmed, Phase::LingeringArmed),
            (Phase::Done, Phase::Finished),
        ];
        for (from, to) in cases {
            let mut c = conn(from);
            c.start_close(None);
            assert_eq!(c.phase, to, "close from {from:?}");
            assert!(c.is_closing(), "{from:?}");
            assert_eq!(c.request_shutdown(), Err(Error::EPIPE), "{from:?}");
        }
    }

    #[test]
    fn the_peers_eof_ends_a_lingering_close_and_a_half_closed_connection() {
        let mut c = conn(Phase::Lingering);
        assert!(c.arm_linger(), "the deadline is armed once");
        assert!(!c.arm_linger());
        c.on_peer_eof();
        assert_eq!(c.phase, Phase::Finished);
        let mut c = conn(Phase::HalfClosedLocal);
        c.on_peer_eof();
        assert_eq!(c.phase, Phase::Done);
        assert!(!c.is_closing(), "a shutdown connection is not closed by the user");
    }

    #[test]
    fn a_reconnect_reopens_the_phase_and_empties_the_queue() {
        let mut c = conn(Phase::FinQueuedPeerClosed);
        c.sendq.push(&[b"unsent"], 0, Some(1));
        assert!(c.reset_for_reconnect().is_none(), "no socket yet");
        assert_eq!(c.phase, Phase::Open);
        assert!(c.sendq().is_idle());
    }
}
