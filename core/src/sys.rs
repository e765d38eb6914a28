//! The few raw socket calls std and mio do not offer in the form needed here
//! (Unix only): gather sends that never raise SIGPIPE, reads straight into
//! a vector's spare capacity, and datagrams received and sent many per call.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use socket2::{SockAddr, SockAddrStorage};

/// Most buffers handed to one `sendmsg`.
pub const MAX_IOV: usize = 64;

fn check(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Runs a system call until a signal does not interrupt it.
#[inline(always)]
fn retrying(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        match check(call()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Sends the buffers in one `sendmsg` (at most [`MAX_IOV`] of them are used).
/// `MSG_NOSIGNAL` keeps a closed peer from killing a C host with SIGPIPE.
pub fn send_vectored(fd: RawFd, bufs: &[&[u8]]) -> io::Result<usize> {
    if let [one] = bufs {
        return send(fd, one);
    }
    let count = bufs.len().min(MAX_IOV);
    // Only the first `count` entries are initialised and handed to the kernel.
    let mut iov = [const { std::mem::MaybeUninit::<libc::iovec>::uninit() }; MAX_IOV];
    for (slot, buf) in iov.iter_mut().zip(&bufs[..count]) {
        slot.write(libc::iovec { iov_base: buf.as_ptr() as *mut libc::c_void, iov_len: buf.len() });
    }
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr() as *mut libc::iovec;
    msg.msg_iovlen = count as _;
    // SAFETY: the first `count` iovecs are initialised and point into live
    // slices of `bufs`, which the kernel only reads.
    retrying(|| unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) })
}

/// Sends one buffer (`MSG_NOSIGNAL`, as [`send_vectored`]).
#[inline]
pub fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel reads `buf.len()` bytes of a live slice.
    retrying(|| unsafe { libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), libc::MSG_NOSIGNAL) })
}

/// Receives up to `max` bytes appended to `buf` (which grows as needed).
#[inline]
pub fn recv_append(fd: RawFd, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    buf.reserve(max);
    let spare = buf.spare_capacity_mut();
    // SAFETY: the kernel writes at most `max` bytes into spare capacity
    // reserved above; only the bytes it reports are marked initialised.
    let n = retrying(|| unsafe { libc::recv(fd, spare.as_mut_ptr() as *mut libc::c_void, max, 0) })?;
    // SAFETY: `n <= max` bytes were just written by the kernel.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

/// Bytes waiting in a socket's receive queue.
pub fn bytes_readable(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    let ret = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    check(ret as isize).map(|_| n.max(0) as usize)
}

/// Dissolves a datagram socket's default peer: `connect` to an `AF_UNSPEC` address.
pub fn disconnect(fd: RawFd) -> io::Result<()> {
    let unspecified = libc::sockaddr { sa_family: libc::AF_UNSPEC as libc::sa_family_t, sa_data: [0; 14] };
    let len = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: the kernel reads `len` bytes of a live sockaddr.
    let ret = unsafe { libc::connect(fd, &unspecified, len) };
    check(ret as isize).map(drop)
}

/// `setsockopt` with raw bytes.
pub fn setsockopt(fd: RawFd, level: i32, name: i32, value: &[u8]) -> io::Result<()> {
    let len = libc::socklen_t::try_from(value.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: the kernel reads `len` bytes from `value`.
    let ret = unsafe { libc::setsockopt(fd, level, name, value.as_ptr() as *const libc::c_void, len) };
    check(ret as isize).map(drop)
}

/// `getsockopt` into raw bytes; returns the length the kernel wrote.
pub fn getsockopt(fd: RawFd, level: i32, name: i32, value: &mut [u8]) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(value.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: the kernel writes at most `len` bytes into `value` and updates `len`.
    let ret = unsafe { libc::getsockopt(fd, level, name, value.as_mut_ptr() as *mut libc::c_void, &mut len) };
    check(ret as isize).map(|_| len as usize)
}

/// Most datagrams one [`Datagrams::recv`] receives.
pub const RECV_BATCH: usize = 32;

/// A loop's receiver of datagrams with `recvmmsg`: headers, sender
/// addresses and `slots` slots of `stride` bytes, set up once (on the heap,
/// so the headers' pointers to its own parts stay valid). The datagrams of
/// one poll fill the slots in turn and stay there, where the poll's events
/// point, until [`Datagrams::clear`] at the next poll: no copy. A slot takes
/// `room` bytes of datagram (more is cut, `MSG_TRUNC`); the rest of its
/// stride may take bytes appended after the datagram ([`Datagrams::append`]).
/// The slots reserve `slots * stride` bytes of address space, but the
/// kernel touches only the pages the datagrams fill. Only the bytes the
/// kernel (or `append`) wrote of a slot or a sender's address are read.
pub struct Datagrams {
    headers: Box<[libc::mmsghdr]>,
    iovs: Box<[libc::iovec]>,
    senders: Box<[MaybeUninit<libc::sockaddr_storage>]>,
    /// Bytes written at the start of each filled slot (datagram and appended).
    written: Box<[usize]>,
    slots: Box<[MaybeUninit<u8>]>,
    stride: usize,
    room: usize,
    /// Slots filled since the last [`Datagrams::clear`].
    used: usize,
}

// SAFETY: the raw pointers in the headers and iovecs point only into this
// value's own heap parts, which move with it to another thread; nothing else
// holds them.
unsafe impl Send for Datagrams {}

/// One datagram of a batch.
pub struct Received {
    /// Bytes written into its slot.
    pub len: usize,
    /// It was larger than its slot: the rest was discarded (`MSG_TRUNC`).
    pub truncated: bool,
}

const SENDER_ROOM: libc::socklen_t = size_of::<libc::sockaddr_storage>() as libc::socklen_t;

impl Datagrams {
    /// A receiver of `slots` slots, each holding a datagram of up to `room`
    /// bytes and `extra` bytes appended after it.
    pub fn new(slots: usize, room: usize, extra: usize) -> Box<Datagrams> {
        let stride = room + extra;
        let mut me = Box::new(Datagrams {
            // SAFETY: mmsghdr and iovec are plain data; zeroed is a valid empty value.
            headers: (0..slots).map(|_| unsafe { std::mem::zeroed() }).collect(),
            iovs: (0..slots).map(|_| unsafe { std::mem::zeroed() }).collect(),
            senders: (0..slots).map(|_| MaybeUninit::uninit()).collect(),
            written: vec![0; slots].into_boxed_slice(),
            slots: Box::new_uninit_slice(slots * stride),
            stride,
            room,
            used: 0,
        });
        let me_ref = &mut *me;
        for i in 0..slots {
            me_ref.iovs[i] =
                libc::iovec { iov_base: me_ref.slots[i * stride..].as_mut_ptr() as *mut libc::c_void, iov_len: room };
            let header = &mut me_ref.headers[i].msg_hdr;
            header.msg_name = me_ref.senders[i].as_mut_ptr() as *mut libc::c_void;
            header.msg_iov = &mut me_ref.iovs[i];
            header.msg_iovlen = 1;
        }
        me
    }

    /// Frees every slot for a new poll (the events that pointed into them
    /// are gone).
    pub fn clear(&mut self) {
        self.used = 0;
    }

    /// Slots left until [`Datagrams::clear`].
    pub fn free(&self) -> usize {
        self.headers.len() - self.used
    }

    /// Receives up to `max` datagrams (at most [`RECV_BATCH`] and the free
    /// slots) in one call, each into the next free slot, cut to the slot's
    /// room. Returns the indexes of those that arrived. An error after some
    /// datagrams arrived is returned by the next call (the kernel keeps it).
    pub fn recv(&mut self, fd: RawFd, max: usize) -> io::Result<std::ops::Range<usize>> {
        let first = self.used;
        let count = max.min(RECV_BATCH).min(self.free());
        // The kernel writes the sender's length over the room given; the
        // flags and datagram lengths it sets afresh, and reads neither.
        for header in &mut self.headers[first..first + count] {
            header.msg_hdr.msg_namelen = SENDER_ROOM;
        }
        // SAFETY: the `count` headers from `first` point at their own sender
        // storage and iovec, and each iovec at `room` bytes of its own slot;
        // all of them live in this heap value, which outlives the call and
        // has not moved since `new` set the pointers.
        let n = retrying(|| unsafe {
            libc::recvmmsg(fd, self.headers[first..].as_mut_ptr(), count as _, 0, std::ptr::null_mut()) as isize
        })?;
        self.used += n.min(count);
        for i in first..self.used {
            self.written[i] = (self.headers[i].msg_len as usize).min(self.room);
        }
        Ok(first..self.used)
    }

    /// The `i`-th header filled since the last clear.
    fn header(&self, i: usize) -> &libc::msghdr {
        assert!(i < self.used, "datagram {i} of {}", self.used);
        &self.headers[i].msg_hdr
    }

    /// The `i`-th datagram filled since the last clear.
    pub fn get(&self, i: usize) -> Received {
        let header = self.header(i);
        let len = (self.headers[i].msg_len as usize).min(self.room);
        Received { len, truncated: header.msg_flags & libc::MSG_TRUNC != 0 }
    }

    /// Where slot `i` starts (its bytes are read with [`Datagrams::bytes`]).
    #[inline]
    pub fn slot_ptr(&self, i: usize) -> *const u8 {
        self.slots.as_ptr().wrapping_add(i * self.stride) as *const u8
    }

    /// The first `len` bytes of slot `i` (filled since the last clear):
    /// `None` beyond what was written there.
    #[inline]
    pub fn bytes(&self, i: usize, len: usize) -> Option<&[u8]> {
        if i >= self.used || len > self.written[i] {
            return None;
        }
        // SAFETY: the kernel (and `append`) wrote `written[i]` bytes at the
        // start of slot `i`, within its stride.
        Some(unsafe { std::slice::from_raw_parts(self.slot_ptr(i), len) })
    }

    /// Appends `bytes` after what slot `i` (filled since the last clear)
    /// holds; false when they do not fit its stride (nothing is written then).
    pub fn append(&mut self, i: usize, bytes: &[u8]) -> bool {
        self.header(i);
        let at = self.written[i];
        let Some(dest) = self.slots[i * self.stride..][..self.stride].get_mut(at..at + bytes.len()) else {
            return false;
        };
        for (d, b) in dest.iter_mut().zip(bytes) {
            d.write(*b);
        }
        self.written[i] = at + bytes.len();
        true
    }

    /// The IP sender of the `i`-th datagram (`None` on a Unix socket), read
    /// in place: no copy of the whole address storage.
    pub fn sender_ip(&self, i: usize) -> Option<SocketAddr> {
        let len = self.header(i).msg_namelen as usize;
        let at = self.senders[i].as_ptr();
        // SAFETY: the kernel wrote `len` bytes of address at `at`; each
        // read below is of a prefix that length covers.
        unsafe {
            if len >= size_of::<libc::sockaddr_in>() && i32::from((*at).ss_family) == libc::AF_INET {
                let a = &*(at as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                return Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))));
            }
            if len >= size_of::<libc::sockaddr_in6>() && i32::from((*at).ss_family) == libc::AF_INET6 {
                let a = &*(at as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                return Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )));
            }
        }
        None
    }

    /// The sender of the `i`-th datagram as a whole address (a Unix path).
    pub fn sender(&self, i: usize) -> SockAddr {
        let len = (self.header(i).msg_namelen as usize).min(size_of::<libc::sockaddr_storage>());
        let mut storage = SockAddrStorage::zeroed();
        // SAFETY: the kernel wrote `len` bytes at the sender's storage;
        // they are copied into a zeroed storage of the same size, which
        // then holds an address of the socket's family and that length.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.senders[i].as_ptr() as *const u8,
                storage.view_as::<libc::sockaddr_storage>() as *mut libc::sockaddr_storage as *mut u8,
                len,
            );
            SockAddr::new(storage, len as libc::socklen_t)
        }
    }
}

/// Most datagrams one [`Staged::send`] hands the kernel (a loop's
/// [`Outgoing`] holds headers and addresses for them: about 7 KiB).
pub const SEND_BATCH: usize = 64;

/// An IP socket address as the kernel reads it.
#[repr(C)]
#[derive(Clone, Copy)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

impl RawAddr {
    /// `addr` in the kernel's form, and its length.
    fn new(addr: &SocketAddr) -> (RawAddr, libc::socklen_t) {
        match addr {
            SocketAddr::V4(a) => {
                let v4 = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
                    sin_zero: [0; 8],
                };
                (RawAddr { v4 }, size_of::<libc::sockaddr_in>() as libc::socklen_t)
            }
            SocketAddr::V6(a) => {
                let v6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                    sin6_scope_id: a.scope_id(),
                };
                (RawAddr { v6 }, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
            }
        }
    }
}

/// A loop's sender of datagrams with `sendmmsg`: headers, iovecs and
/// destination addresses for [`SEND_BATCH`] datagrams, set up once (on the
/// heap, so the headers' pointers to its own parts stay valid), as the
/// receiver ([`Datagrams`]) is. Staging a datagram writes only its bytes'
/// place, its address and the address's length. Datagrams are staged
/// through [`Outgoing::stage`], whose borrow keeps their bytes alive until
/// they are sent.
pub struct Outgoing {
    headers: [libc::mmsghdr; SEND_BATCH],
    iovs: [libc::iovec; SEND_BATCH],
    addrs: [MaybeUninit<RawAddr>; SEND_BATCH],
}

// SAFETY: the raw pointers in the headers point only into this value's own
// heap parts, which move with it to another thread; the iovecs' pointers are
// only followed during a send, while the bytes they point at are borrowed.
unsafe impl Send for Outgoing {}

impl Outgoing {
    pub fn new() -> Box<Outgoing> {
        let mut me = Box::new(Outgoing {
            // SAFETY: mmsghdr and iovec are plain data; zeroed is a valid empty value.
            headers: unsafe { std::mem::zeroed() },
            iovs: unsafe { std::mem::zeroed() },
            addrs: [const { MaybeUninit::uninit() }; SEND_BATCH],
        });
        let me_ref = &mut *me;
        for i in 0..SEND_BATCH {
            let header = &mut me_ref.headers[i].msg_hdr;
            // With a name length of 0 the kernel ignores the name: the
            // datagram goes to the connected peer.
            header.msg_name = me_ref.addrs[i].as_mut_ptr() as *mut libc::c_void;
            header.msg_iov = &mut me_ref.iovs[i];
            header.msg_iovlen = 1;
        }
        me
    }

    /// An empty batch to stage datagrams borrowed for `'a` in.
    pub fn stage<'a>(&mut self) -> Staged<'_, 'a> {
        Staged { sender: self, len: 0, bytes: std::marker::PhantomData }
    }
}

/// Up to [`SEND_BATCH`] datagrams staged for one `sendmmsg` in a loop's
/// [`Outgoing`]: each one's bytes (borrowed for `'a`) and destination
/// (none: the connected peer).
pub struct Staged<'s, 'a> {
    sender: &'s mut Outgoing,
    len: usize,
    bytes: std::marker::PhantomData<&'a [u8]>,
}

impl<'a> Staged<'_, 'a> {
    /// How many datagrams are staged.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no more fit.
    pub fn is_full(&self) -> bool {
        self.len == SEND_BATCH
    }

    /// Stages a datagram (the batch must not be full).
    pub fn push(&mut self, data: &'a [u8], to: Option<&SocketAddr>) {
        let i = self.len;
        let sender = &mut *self.sender;
        sender.iovs[i] = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
        sender.headers[i].msg_hdr.msg_namelen = match to {
            Some(to) => {
                let (raw, len) = RawAddr::new(to);
                sender.addrs[i].write(raw);
                len
            }
            None => 0,
        };
        self.len += 1;
    }

    /// Sends the staged datagrams in one `sendmmsg` (`MSG_NOSIGNAL`) and
    /// empties the batch. Returns how many the kernel took, from the first:
    /// fewer than staged when one failed (its error is not reported: a
    /// send from it reports it), an error when not even the first went.
    pub fn send(&mut self, fd: RawFd) -> io::Result<usize> {
        let count = std::mem::take(&mut self.len);
        // SAFETY: the first `count` headers point at their own iovec, each
        // set by `push` to bytes borrowed for `'a` (alive during the call),
        // and where the name length is not 0 at an address `push` wrote;
        // the call only reads them (and writes `msg_len`).
        retrying(|| unsafe {
            libc::sendmmsg(fd, self.sender.headers.as_mut_ptr(), count as _, libc::MSG_NOSIGNAL) as isize
        })
        .map(|sent| sent.min(count))
    }
}
