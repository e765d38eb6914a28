//! The sockets an outgoing connection races to connect (RFC 8305), each an
//! internal slab entry, and the connection's [`Dialer`] that decides which
//! ones to start, abort and keep.

use std::net::SocketAddr;

use mio::net::TcpStream;
use socket2::{Domain, Protocol, Socket, Type};

use crate::dialer::{DialId, Dialer};
use crate::error::Result;
use crate::handle::Handle;

/// An outgoing connection's dialer and the slab entries of its attempts.
pub(crate) struct Dialing {
    pub dialer: Dialer,
    /// The `Entry::Attempt` handle of each attempt whose socket exists.
    attempts: Vec<(DialId, Handle)>,
}

impl Dialing {
    pub fn new(dialer: Dialer) -> Box<Dialing> {
        Box::new(Dialing { dialer, attempts: Vec::new() })
    }

    /// Records the slab entry of attempt `id`.
    pub fn add(&mut self, id: DialId, attempt: Handle) {
        self.attempts.push((id, attempt));
    }

    /// Forgets attempt `id`, returning its slab entry (none if its socket
    /// could not be started).
    pub fn take(&mut self, id: DialId) -> Option<Handle> {
        let at = self.attempts.iter().position(|&(other, _)| other == id)?;
        Some(self.attempts.swap_remove(at).1)
    }
}

/// One socket racing to connect on behalf of a connection.
pub(crate) struct Attempt {
    pub owner: Handle,
    pub id: DialId,
    pub sock: TcpStream,
    pub queued: bool,
}

/// Starts a non-blocking connect to `addr`, from `local` if given.
pub(crate) fn start_socket(addr: SocketAddr, local: Option<SocketAddr>) -> Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    if let Some(local) = local {
        sock.bind(&local.into())?;
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(TcpStream::from_std(sock.into()))
}
