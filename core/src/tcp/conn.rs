//! A TCP connection: its send queue, framing remainder and life cycle.

use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;

use mio::net::TcpStream;

use crate::batch::Out;
use crate::error::{Error, Result};
use crate::event::{Event, EventKind};
use crate::framing::{Framing, Next};
use crate::handle::Handle;
use crate::sys;

/// Default high-water mark of the send queue.
pub const DEFAULT_HIGH_WATER: u32 = 1 << 20;
/// Default low-water mark: `Writable` fires once the queue is back at or below it.
pub const DEFAULT_LOW_WATER: u32 = 256 << 10;
/// Most bytes one `recv` asks for.
pub const READ_CHUNK: usize = 64 << 10;

/// Where an outgoing connection stands before it is established.
pub(crate) struct Connecting {
    /// Addresses still to try, in resolver order.
    pub addrs: Vec<SocketAddr>,
    /// Index of the next address to try.
    pub next: usize,
    /// Why the last attempt failed (reported if every attempt fails).
    pub last_error: Error,
}

/// What the loop must do with a connection after servicing it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing more until the next readiness event.
    Idle,
    /// Work is left (the batch filled up): service it again next poll.
    Requeue,
    /// The connection is finished: drop it and report `Closed` with this reason.
    Finish(Option<Error>),
}

/// One TCP connection (accepted or outgoing).
pub(crate) struct Conn {
    pub sock: Option<TcpStream>,
    pub userdata: u64,
    pub framing: Framing,
    /// Set while resolving or connecting.
    pub connecting: Option<Box<Connecting>>,
    /// Unframed bytes kept between reads: a partial frame, or frames the
    /// last batch had no room for. Empty (unallocated) when idle.
    rem: Vec<u8>,
    out: VecDeque<Vec<u8>>,
    /// Bytes of `out.front()` already sent.
    out_offset: usize,
    out_bytes: usize,
    pub high_water: u32,
    pub low_water: u32,
    /// Why the connection is closing, reported in `Closed`.
    close_reason: Option<Error>,
    /// The kernel may have bytes (or an EOF or error) for us.
    pub readable: bool,
    /// The kernel signalled send space (or a connect result).
    pub write_ready: bool,
    /// The peer's FIN was signalled: read until 0 even after short reads.
    pub read_closed: bool,
    /// The peer's EOF was read.
    pub peer_eof: bool,
    pub paused: bool,
    /// In the loop's ready queue.
    pub queued: bool,
    /// A send was refused with `EAGAIN`: report `Writable` when the queue drains.
    want_writable: bool,
    /// Shut our side down once the queue is flushed.
    shut_requested: bool,
    /// Our FIN is sent.
    shut_done: bool,
    /// The user closed the handle: sends are refused and input is discarded.
    pub closing: bool,
    /// The deadline for the peer's EOF after a graceful close is set.
    pub linger_armed: bool,
}

impl Conn {
    pub fn new(sock: Option<TcpStream>, userdata: u64) -> Conn {
        Conn {
            sock,
            userdata,
            framing: Framing::Stream,
            connecting: None,
            rem: Vec::new(),
            out: VecDeque::new(),
            out_offset: 0,
            out_bytes: 0,
            high_water: DEFAULT_HIGH_WATER,
            low_water: DEFAULT_LOW_WATER,
            close_reason: None,
            readable: false,
            write_ready: false,
            read_closed: false,
            peer_eof: false,
            paused: false,
            queued: false,
            want_writable: false,
            shut_requested: false,
            shut_done: false,
            closing: false,
            linger_armed: false,
        }
    }

    /// Established (not resolving or connecting).
    pub fn is_connected(&self) -> bool {
        self.connecting.is_none() && self.sock.is_some()
    }

    /// Bytes waiting in the send queue.
    pub fn queued_bytes(&self) -> usize {
        self.out_bytes
    }

    /// Whether servicing could make progress without a new readiness event.
    pub fn has_buffered_work(&self) -> bool {
        !self.rem.is_empty() || self.readable
    }

    /// Queues the buffers whole or refuses them whole (`EAGAIN` above the
    /// high-water mark; a message larger than the mark is accepted only into
    /// an empty queue). Sends at once when nothing is queued.
    pub fn send(&mut self, bufs: &[&[u8]]) -> Result<()> {
        if self.shut_requested {
            return Err(Error::EPIPE);
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Err(Error::EINVAL);
        }
        if self.out_bytes > 0 && self.out_bytes + total > self.high_water as usize {
            self.want_writable = true;
            return Err(Error::EAGAIN);
        }
        let mut sent = 0;
        if self.out_bytes == 0 && self.is_connected() {
            if let Some(sock) = &self.sock {
                sent = match sys::send_vectored(sock.as_raw_fd(), bufs) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
                    Err(e) => return Err(e.into()),
                };
            }
        }
        if sent == total {
            return Ok(());
        }
        let mut rest = Vec::with_capacity(total - sent);
        let mut skip = sent;
        for buf in bufs {
            let from = skip.min(buf.len());
            rest.extend_from_slice(&buf[from..]);
            skip -= from;
        }
        self.out_bytes += rest.len();
        self.out.push_back(rest);
        // A partial send that did not hit EAGAIN (more buffers than one call
        // takes) arms no writable edge: keep sending until the kernel says so.
        if sent > 0 {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends queued bytes until the queue is empty or the kernel would block.
    fn flush(&mut self) -> Result<()> {
        let Some(sock) = &self.sock else { return Ok(()) };
        let fd = sock.as_raw_fd();
        while self.out_bytes > 0 {
            let mut slices: [&[u8]; sys::MAX_IOV] = [&[]; sys::MAX_IOV];
            let mut count = 0;
            for (slot, chunk) in slices.iter_mut().zip(&self.out) {
                *slot = chunk;
                count += 1;
            }
            slices[0] = &slices[0][self.out_offset..];
            match sys::send_vectored(fd, &slices[..count]) {
                Ok(n) => self.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        if self.out_bytes == 0 && self.out.capacity() > 0 {
            self.out = VecDeque::new();
        }
        Ok(())
    }

    fn consume(&mut self, mut n: usize) {
        self.out_bytes -= n;
        while n > 0 {
            let Some(front) = self.out.front() else { break };
            let left = front.len() - self.out_offset;
            if n < left {
                self.out_offset += n;
                break;
            }
            n -= left;
            self.out.pop_front();
            self.out_offset = 0;
        }
    }

    /// Graceful close: refuse new sends, flush, FIN, wait for the peer's EOF.
    pub fn start_close(&mut self, reason: Option<Error>) {
        self.closing = true;
        self.shut_requested = true;
        self.close_reason = self.close_reason.or(reason);
        self.rem = Vec::new();
    }

    /// Half-close: FIN once everything queued is sent.
    pub fn request_shutdown(&mut self) -> Result<()> {
        if self.shut_requested {
            return Err(Error::EPIPE);
        }
        self.shut_requested = true;
        Ok(())
    }

    /// Hard close: drop the queue and make `close` send a reset.
    pub fn reset(&mut self) {
        if let Some(sock) = &self.sock {
            // Best effort: a socket that cannot take the option just closes.
            let _ = socket2::SockRef::from(sock).set_linger(Some(std::time::Duration::ZERO));
        }
    }

    /// Why `Closed` should report the connection ended.
    pub fn close_reason(&self) -> Option<Error> {
        self.close_reason
    }

    /// Whether a graceful close is waiting only for the peer's EOF.
    pub fn lingering(&self) -> bool {
        self.closing && self.shut_done && !self.peer_eof
    }

    /// Does all the work readiness allows: sends queued bytes, reads and
    /// frames input, advances shutdown. Connection attempts are handled by the
    /// loop before this is called.
    pub fn service(&mut self, handle: Handle, out: &mut Out<'_>) -> Step {
        if self.write_ready {
            self.write_ready = false;
            if let Err(e) = self.flush() {
                return Step::Finish(Some(e));
            }
        }
        if self.want_writable && self.out_bytes <= self.low_water as usize && !self.closing {
            self.want_writable = false;
            out.push(Event::new(EventKind::Writable, handle, self.userdata));
        }
        if self.should_read() {
            let step = self.read(handle, out);
            if step != Step::Idle {
                return step;
            }
        }
        if self.out_bytes == 0 && self.shut_requested && !self.shut_done {
            if let Some(sock) = &self.sock {
                // ENOTCONN here means the peer already reset; reading reports it.
                let _ = sock.shutdown(Shutdown::Write);
            }
            self.shut_done = true;
        }
        if self.shut_done && self.peer_eof {
            return Step::Finish(self.close_reason);
        }
        Step::Idle
    }

    /// Reading goes on unless paused; a paused connection still reads when
    /// the kernel holds nothing but the peer's FIN or an error, so a peer
    /// close is noticed while paused.
    fn should_read(&self) -> bool {
        if self.peer_eof || !(self.readable || !self.rem.is_empty()) {
            return false;
        }
        if !self.paused || self.closing {
            return true;
        }
        self.read_closed
            && self.rem.is_empty()
            && self.sock.as_ref().is_some_and(|s| sys::bytes_readable(s.as_raw_fd()).ok() == Some(0))
    }

    /// Reads into the loop's arena and cuts frames there (no copy); only an
    /// unframed remainder is kept on the connection.
    fn read(&mut self, handle: Handle, out: &mut Out<'_>) -> Step {
        let Some(sock) = &self.sock else { return Step::Idle };
        let fd = sock.as_raw_fd();
        let mut pos = out.arena.len();
        out.arena.extend_from_slice(&self.rem);
        self.rem = Vec::new();
        let step = loop {
            if self.closing {
                pos = out.arena.len();
            }
            while !self.closing && !self.paused && !out.full() {
                match self.framing.next(&out.arena[pos..]) {
                    Ok(Next::Frame { start, len, consumed }) => {
                        out.push_data(Event::new(EventKind::Data, handle, self.userdata), pos + start, len);
                        pos += consumed;
                    }
                    Ok(Next::Incomplete) => break,
                    Err(e) => {
                        out.push(Event::new(EventKind::Error, handle, self.userdata).with_error(Some(e)));
                        self.start_close(Some(e));
                    }
                }
            }
            if out.full() && !self.closing {
                break Step::Requeue;
            }
            if !self.readable || (self.paused && !self.closing) {
                break Step::Idle;
            }
            match sys::recv_append(fd, out.arena, READ_CHUNK) {
                Ok(0) => {
                    self.readable = false;
                    self.peer_eof = true;
                    if !self.closing {
                        let tail = out.arena.len() - pos;
                        if tail > 0 && self.framing.delivers_tail() {
                            out.push_data(Event::new(EventKind::Data, handle, self.userdata), pos, tail);
                        }
                        out.push(Event::new(EventKind::Eof, handle, self.userdata));
                    }
                    pos = out.arena.len();
                    break Step::Idle;
                }
                // A short read drained the socket: the next byte brings a new
                // edge. After the peer's FIN, read on until 0 to see the EOF.
                Ok(n) if n < READ_CHUNK && !self.read_closed => self.readable = false,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) => break Step::Finish(Some(e.into())),
            }
        };
        if pos < out.arena.len() {
            self.rem = out.arena[pos..].to_vec();
        }
        step
    }
}
