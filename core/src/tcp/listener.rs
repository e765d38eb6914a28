//! A TCP listener: bound with the options the user asked for.

use std::net::SocketAddr;

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{invalid, Result};

/// The listen backlog when none is given (a `backlog` of 0).
pub const DEFAULT_BACKLOG: i32 = 1024;

/// Options for binding a listener or a UDP socket.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BindOptions {
    /// Listen backlog (TCP only): 1 to 65535, or 0 for [`DEFAULT_BACKLOG`].
    pub backlog: i32,
    /// Set SO_REUSEPORT so several sockets can share the port.
    pub reuse_port: bool,
    /// For an IPv6 address: accept IPv6 only (no IPv4-mapped peers).
    pub ipv6_only: bool,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions { backlog: 0, reuse_port: false, ipv6_only: false }
    }
}

/// Creates a non-blocking socket of `ty`, sets the options and binds it.
pub(crate) fn bound_socket(addr: SocketAddr, ty: Type, opts: &BindOptions) -> Result<Socket> {
    let protocol = if ty == Type::STREAM { Protocol::TCP } else { Protocol::UDP };
    let sock = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    sock.set_nonblocking(true)?;
    if ty == Type::STREAM {
        sock.set_reuse_address(true)?;
    }
    if opts.reuse_port {
        sock.set_reuse_port(true)?;
    }
    if addr.is_ipv6() && opts.ipv6_only {
        sock.set_only_v6(true)?;
    }
    sock.bind(&addr.into())?;
    Ok(sock)
}

/// A listening socket and its state in the loop.
pub(crate) struct Listener {
    /// `None` once a graceful shutdown has stopped accepting.
    pub sock: Option<TcpListener>,
    pub userdata: u64,
    /// The kernel may have connections for us.
    pub readable: bool,
    /// In the loop's ready queue.
    pub queued: bool,
    /// An accept failed for lack of descriptors and was reported; cleared by
    /// the next success, so one shortage is one `Error` event.
    pub starved: bool,
    /// Most connections open at once (0 = no cap); at the cap, accepting
    /// pauses and clients wait in the kernel backlog.
    pub max_connections: usize,
    /// Connections accepted here and not yet closed.
    pub active: usize,
    /// A graceful shutdown is in progress.
    pub draining: bool,
    /// An accept failed for lack of descriptors and a retry is armed:
    /// accepting waits for it (readiness alone does not retry), so a starved
    /// listener has one retry timer, not one per connection arriving.
    pub retry_armed: bool,
}

impl Listener {
    pub fn bind(addr: SocketAddr, opts: &BindOptions, userdata: u64) -> Result<Listener> {
        let backlog = match opts.backlog {
            0 => DEFAULT_BACKLOG,
            n if (1..=65535).contains(&n) => n,
            _ => return Err(invalid!("backlog", "0 (the default, 1024) or 1 to 65535")),
        };
        let sock = bound_socket(addr, Type::STREAM, opts)?;
        sock.listen(backlog)?;
        Ok(Listener {
            sock: Some(TcpListener::from_std(sock.into())),
            userdata,
            readable: false,
            queued: false,
            starved: false,
            max_connections: 0,
            active: 0,
            draining: false,
            retry_armed: false,
        })
    }
}
