//! Datagram sockets (UDP or Unix): datagrams in and out, with
//! backpressure reported as `EAGAIN`.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::AsRawFd;

use mio::net::{UdpSocket, UnixDatagram};
use socket2::{SockAddr, SockRef, Socket, Type};

use crate::error::{invalid, Error, Result};
use crate::event::{DataAt, Event, EventKind};
use crate::handle::Handle;
use crate::out::{readiness, Out, Step};
use crate::sys;
use crate::tcp::listener::{bound_socket, BindOptions};
use crate::tcp::stream::delegate_socket;
use crate::unix::{self, SocketFile};

/// Room for the largest UDP payload (a larger Unix datagram is reported as
/// `EMSGSIZE`).
const MAX_DATAGRAM: usize = 64 << 10;

/// Datagrams one poll receives at most, each in its own slot of the loop's
/// receiver ([`sys::Datagrams`]), where its event's bytes stay until the
/// next poll: 128 slots reserve 8 MiB of address space, but the kernel
/// touches only the pages the datagrams fill.
const POLL_SLOTS: usize = 128;

/// The room after a datagram in its slot for a Unix sender's path: at most
/// 255 bytes with its NUL (see `deliver`).
const PATH_ROOM: usize = 255;

/// One datagram of a batched send ([`crate::Loop::send_batch`]): its bytes
/// and where it goes (`None`: the socket's connected peer).
#[derive(Clone, Copy, Debug)]
pub struct DatagramToSend<'a> {
    pub data: &'a [u8],
    pub to: Option<SocketAddr>,
}

/// Refuses port 0 as a destination (the kernel would answer `EINVAL` with
/// no word on why).
pub(crate) fn check_destination(to: &SocketAddr) -> Result<()> {
    match to.port() {
        0 => Err(invalid!("port", "1 to 65535")),
        _ => Ok(()),
    }
}

/// A datagram socket. A Unix one that bound its path keeps the socket
/// file, removed when it closes.
pub(crate) enum DgramSock {
    Udp(UdpSocket),
    Unix(UnixDatagram, #[allow(dead_code)] Option<SocketFile>),
}

delegate_socket!(DgramSock { Udp, Unix });

/// A bound datagram socket and its state in the loop.
pub(crate) struct Udp {
    sock: DgramSock,
    userdata: u64,
    /// The kernel may have datagrams (or an error) for us.
    readable: bool,
    /// The kernel signalled send space.
    write_ready: bool,
    /// In the loop's ready queue (the reactor's flag).
    queued: bool,
    /// A send was refused with `EAGAIN`: report `Writable` once the kernel has room.
    want_writable: bool,
}

impl Udp {
    pub fn bind(addr: SocketAddr, opts: &BindOptions, userdata: u64) -> Result<Udp> {
        let sock = bound_socket(addr, Type::DGRAM, opts)?;
        Ok(Udp::new(DgramSock::Udp(UdpSocket::from_std(sock.into())), userdata))
    }

    /// A Unix datagram socket bound on `path` (see [`unix::sockaddr`]); the
    /// socket file it creates is removed when it closes.
    pub fn bind_unix(path: &str, userdata: u64) -> Result<Udp> {
        let (sock, file) = unix::bound(path, Type::DGRAM)?;
        Ok(Udp::new(DgramSock::Unix(UnixDatagram::from_std(sock.into()), file), userdata))
    }

    /// A datagram socket on an adopted descriptor (UDP or Unix).
    pub fn adopted(sock: Socket, is_unix: bool, userdata: u64) -> Udp {
        let sock = match is_unix {
            true => DgramSock::Unix(UnixDatagram::from_std(sock.into()), None),
            false => DgramSock::Udp(UdpSocket::from_std(sock.into())),
        };
        Udp::new(sock, userdata)
    }

    fn new(sock: DgramSock, userdata: u64) -> Udp {
        Udp { sock, userdata, readable: false, write_ready: false, queued: false, want_writable: false }
    }

    /// The socket (for options, `connect` and multicast membership).
    pub fn sock(&self) -> &DgramSock {
        &self.sock
    }

    /// The UDP socket: `EWRONGKIND` for a Unix one (an IP-only operation).
    pub fn udp(&self) -> Result<&UdpSocket> {
        match &self.sock {
            DgramSock::Udp(s) => Ok(s),
            DgramSock::Unix(..) => Err(Error::EWRONGKIND),
        }
    }

    /// Whether this is a Unix datagram socket.
    pub fn is_unix(&self) -> bool {
        matches!(self.sock, DgramSock::Unix(..))
    }

    /// The socket, to register or deregister it.
    pub fn sock_mut(&mut self) -> &mut DgramSock {
        &mut self.sock
    }

    /// The user value, to read or change it.
    pub fn userdata_mut(&mut self) -> &mut u64 {
        &mut self.userdata
    }

    /// Whether the socket is in the loop's ready queue (the reactor's flag).
    pub fn queued_mut(&mut self) -> &mut bool {
        &mut self.queued
    }

    /// Records readiness reported by the poller.
    pub fn on_readiness(&mut self, event: &mio::event::Event) {
        let (readable, writable) = readiness(event);
        self.readable |= readable;
        self.write_ready |= writable;
    }

    /// Sends one datagram made of `bufs`, to `to` or to the connected peer.
    /// Empty buffers make a zero-length datagram, a valid one; only a call
    /// with no buffer at all is `EINVAL`. `to` must be of the socket's
    /// family (`EWRONGKIND`: an IP address for a Unix socket or a path for
    /// a UDP one).
    pub fn send(&mut self, to: Option<SockAddr>, bufs: &[&[u8]]) -> Result<()> {
        if to.as_ref().is_some_and(|to| to.is_unix() != self.is_unix()) {
            return Err(Error::EWRONGKIND);
        }
        if bufs.is_empty() {
            return Err(invalid!("data", "at least one buffer"));
        }
        // A datagram must go out in one call: join what one call cannot take.
        let joined: Vec<u8>;
        let joined_slice: [&[u8]; 1];
        let bufs = if bufs.len() > sys::MAX_IOV || (to.is_some() && bufs.len() > 1) {
            joined = bufs.concat();
            joined_slice = [&joined];
            &joined_slice[..]
        } else {
            bufs
        };
        let result = match to {
            Some(addr) => SockRef::from(&self.sock).send_to(bufs[0], &addr).map(drop),
            None => sys::send_vectored(self.sock.as_raw_fd(), bufs).map(drop),
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.want_writable = true;
                Err(Error::EAGAIN)
            }
            other => other.map_err(Error::from),
        }
    }

    /// Sends the datagrams in order with the loop's `sender`, up to
    /// [`sys::SEND_BATCH`] per system call (`sendmmsg`), each whole or not at all. Returns how many went
    /// out, counted from the first: fewer than given when one could not
    /// go (a refused item, a bad destination, or the kernel's error); it
    /// and the ones after it were not sent. An error only when not even
    /// the first went (`EAGAIN`: `Writable` follows once there is room).
    pub fn send_batch<'a>(
        &mut self,
        sender: &mut sys::Outgoing,
        datagrams: impl IntoIterator<Item = Result<DatagramToSend<'a>>>,
    ) -> Result<usize> {
        let mut datagrams = datagrams.into_iter();
        let mut batch = sender.stage();
        let mut sent = 0;
        loop {
            let mut refused = None;
            while !batch.is_full() {
                let Some(next) = datagrams.next() else { break };
                match next.and_then(|d| self.check_to(d.to.as_ref()).map(|()| d)) {
                    Ok(d) => batch.push(d.data, d.to.as_ref()),
                    Err(e) => {
                        refused = Some(e);
                        break;
                    }
                }
            }
            let staged = batch.len();
            let stop = match staged {
                0 => refused,
                _ => match batch.send(self.sock.as_raw_fd()) {
                    Ok(n) => {
                        sent += n;
                        // A short count: datagram `sent` failed; a later call from it says why.
                        if n < staged {
                            return Ok(sent);
                        }
                        refused
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.want_writable = true;
                        Some(Error::EAGAIN)
                    }
                    Err(e) => Some(e.into()),
                },
            };
            match stop {
                Some(e) if sent == 0 => return Err(e),
                Some(_) => return Ok(sent),
                None if staged < sys::SEND_BATCH => return Ok(sent),
                None => {}
            }
        }
    }

    /// A destination must be of the socket's family (`EWRONGKIND` for an
    /// IP address on a Unix socket) and have a port.
    fn check_to(&self, to: Option<&SocketAddr>) -> Result<()> {
        match to {
            Some(_) if self.is_unix() => Err(Error::EWRONGKIND),
            Some(to) => check_destination(to),
            None => Ok(()),
        }
    }

    /// Reports `Writable` if it is owed and receives datagrams into the arena.
    pub fn service(&mut self, handle: Handle, out: &mut Out<'_>) -> Step {
        if self.write_ready && self.want_writable {
            self.want_writable = false;
            out.push(Event::new(EventKind::Writable, handle, self.userdata));
        }
        self.write_ready = false;
        let mut batch =
            out.datagrams.take().unwrap_or_else(|| sys::Datagrams::new(POLL_SLOTS, MAX_DATAGRAM, PATH_ROOM));
        let step = self.receive(handle, &mut batch, out);
        *out.datagrams = Some(batch);
        step
    }

    /// Receives datagrams into the receiver's free slots while the kernel
    /// has some and the poll has room.
    fn receive(&mut self, handle: Handle, batch: &mut sys::Datagrams, out: &mut Out<'_>) -> Step {
        while self.readable {
            if batch.free() == 0 {
                // The slots hold this poll's datagrams: no other socket's
                // data goes in either (it would be serviced in a loop).
                out.stop_data();
            }
            let room = out.cap.saturating_sub(out.events.len()).min(batch.free());
            if out.full() || room == 0 {
                return Step::Requeue;
            }
            match batch.recv(self.sock.as_raw_fd(), room) {
                Ok(slots) => self.deliver(handle, batch, slots, out),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                // ICMP errors (e.g. port unreachable on a connected socket)
                // are reported without closing the socket.
                Err(e) => out.push(Event::new(EventKind::Error, handle, self.userdata).with_error(Some(e.into()))),
            }
        }
        Step::Idle
    }

    /// Turns the datagrams just received into events whose bytes (and a
    /// Unix sender's path after them) stay in their slots: no copy.
    fn deliver(&self, handle: Handle, batch: &mut sys::Datagrams, slots: Range<usize>, out: &mut Out<'_>) {
        for i in slots {
            let got = batch.get(i);
            if got.truncated {
                // Only a Unix datagram can outgrow a slot: it is dropped, not cut.
                let error = io::Error::from_raw_os_error(libc::EMSGSIZE);
                out.push(Event::new(EventKind::Error, handle, self.userdata).with_error(Some(error.into())));
                continue;
            }
            let (addr, path_len) =
                if self.is_unix() { (None, Self::append_path(batch, i)) } else { (batch.sender_ip(i), 0) };
            let mut event = Event::new(EventKind::Datagram, handle, self.userdata)
                .with_addr(addr)
                .with_data(DataAt::Slot(i), got.len);
            event.path_len = path_len;
            out.events.push(event);
        }
    }

    /// Appends the Unix sender's path of the `i`-th datagram and its NUL
    /// after the datagram in its slot and returns their length: at most
    /// `MAX_UNIX_PATH` bytes (and an `@`) and a NUL for C, unless
    /// replacement characters made it longer: dropped then, and 0 (the
    /// length must fit a byte), as for an unnamed sender.
    fn append_path(batch: &mut sys::Datagrams, i: usize) -> u8 {
        let Some(path) = unix::text(&batch.sender(i)) else { return 0 };
        let Ok(path_len) = u8::try_from(path.len() + 1) else { return 0 };
        let appended = batch.append(i, path.as_bytes()) && batch.append(i, &[0]);
        // Never false: a slot has PATH_ROOM (255) bytes after the datagram's room, and `path_len` fits a u8.
        debug_assert!(appended, "a path of {path_len} bytes did not fit slot {i}");
        match appended {
            true => path_len,
            false => 0,
        }
    }
}
