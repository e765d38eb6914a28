//! The few raw socket calls std and mio do not offer in the form needed here
//! (Unix only): gather sends that never raise SIGPIPE, and reads straight into
//! a vector's spare capacity.

use std::io;
use std::os::fd::RawFd;

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
