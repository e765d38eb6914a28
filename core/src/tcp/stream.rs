//! The stream sockets connections and listeners run on: TCP or Unix. One
//! enum over mio's types, so that everything above them (framing, the send
//! queue, water marks, pause, idle timeouts, graceful close, TLS) is the
//! same for both, and a Unix descriptor is never handled as a TCP one.

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use std::io;
use std::net::{Shutdown, SocketAddr};

use crate::unix::SocketFile;

/// Implements `AsRawFd`, `AsFd` and mio's `Source` for an enum of sockets
/// by handing each call to the socket inside (the first field of each
/// variant).
macro_rules! delegate_socket {
    ($name:ident { $($variant:ident),* }) => {
        impl std::os::fd::AsRawFd for $name {
            #[inline(always)]
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                match self { $($name::$variant(s, ..) => s.as_raw_fd(),)* }
            }
        }

        impl std::os::fd::AsFd for $name {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                match self { $($name::$variant(s, ..) => s.as_fd(),)* }
            }
        }

        impl mio::event::Source for $name {
            fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> std::io::Result<()> {
                match self { $($name::$variant(s, ..) => s.register(r, t, i),)* }
            }

            fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> std::io::Result<()> {
                match self { $($name::$variant(s, ..) => s.reregister(r, t, i),)* }
            }

            fn deregister(&mut self, r: &mio::Registry) -> std::io::Result<()> {
                match self { $($name::$variant(s, ..) => s.deregister(r),)* }
            }
        }
    };
}
pub(crate) use delegate_socket;

/// A connected stream socket.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// Runs `$body` with `$s` bound to the socket inside, whichever it is.
macro_rules! either {
    ($value:expr, $s:ident => $body:expr) => {
        match $value {
            Stream::Tcp($s) => $body,
            Stream::Unix($s) => $body,
        }
    };
}

impl Stream {
    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        either!(self, s => s.shutdown(how))
    }

    /// Takes the socket's pending error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        either!(self, s => s.take_error())
    }

    /// Whether this is a Unix socket.
    pub fn is_unix(&self) -> bool {
        matches!(self, Stream::Unix(_))
    }
}

impl From<TcpStream> for Stream {
    fn from(sock: TcpStream) -> Stream {
        Stream::Tcp(sock)
    }
}

delegate_socket!(Stream { Tcp, Unix });

/// Bytes out, for TLS records (`rustls` writes into an `io::Write`).
impl io::Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        either!(*self, s => { let mut s: &_ = s; s.write(buf) })
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        either!(*self, s => { let mut s: &_ = s; s.write_vectored(bufs) })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A listening stream socket. A Unix listener that bound its path keeps
/// the socket file, removed when the listener closes.
pub(crate) enum ListenSock {
    Tcp(TcpListener),
    Unix(UnixListener, #[allow(dead_code)] Option<SocketFile>),
}

impl ListenSock {
    /// Accepts one connection: a TCP one with `TCP_NODELAY` set and its
    /// peer's address, or a Unix one (whose peer is unnamed as a rule).
    pub fn accept(&self) -> io::Result<(Stream, Option<SocketAddr>)> {
        match self {
            ListenSock::Tcp(l) => {
                let (sock, peer) = l.accept()?;
                let _ = sock.set_nodelay(true);
                Ok((Stream::Tcp(sock), Some(peer)))
            }
            ListenSock::Unix(l, _) => Ok((Stream::Unix(l.accept()?.0), None)),
        }
    }
}

delegate_socket!(ListenSock { Tcp, Unix });
