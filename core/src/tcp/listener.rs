//! A listener (TCP or Unix): bound with the options the user asked for, or
//! adopted from a descriptor the program already had.

use std::io;
use std::net::SocketAddr;

use mio::net::{TcpListener, UnixListener};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{invalid, Error, Result};
use crate::tcp::stream::{ListenSock, Stream};
use crate::tls::ServerConfig;
use crate::unix;

/// The listen backlog when none is given (a `backlog` of `None` or 0).
pub const DEFAULT_BACKLOG: i32 = 1024;

/// Options for binding a listener or a UDP socket (the default: backlog
/// [`DEFAULT_BACKLOG`], no flags).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// Listen backlog (listeners only): 1 to 65535, or `None` (or 0, as C
    /// spells it) for [`DEFAULT_BACKLOG`]. Bindings pass what the user gave.
    pub backlog: Option<i32>,
    /// Set SO_REUSEPORT so several sockets can share the port.
    pub reuse_port: bool,
    /// For an IPv6 address: accept IPv6 only (no IPv4-mapped peers).
    pub ipv6_only: bool,
    /// Listeners only: the cap on open connections from the start, as
    /// [`crate::Loop::set_max_connections`] sets it later (0: no cap).
    pub max_connections: usize,
}

impl BindOptions {
    /// The options a binding was given, each left out (`None`) the default.
    pub fn given(
        backlog: Option<i32>,
        reuse_port: Option<bool>,
        ipv6_only: Option<bool>,
        max_connections: Option<usize>,
    ) -> BindOptions {
        let defaults = BindOptions::default();
        BindOptions {
            backlog: backlog.or(defaults.backlog),
            reuse_port: reuse_port.unwrap_or(defaults.reuse_port),
            ipv6_only: ipv6_only.unwrap_or(defaults.ipv6_only),
            max_connections: max_connections.unwrap_or(defaults.max_connections),
        }
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

/// What one accept brought.
pub(crate) enum Accepted {
    /// A connection (TCP: `TCP_NODELAY` set) from this peer (TCP only).
    Conn(Stream, Option<SocketAddr>),
    /// Nothing more now: the backlog is empty, the cap is reached, the
    /// retry after a shortage is not due yet, or the listener is draining.
    Stop,
    /// The peer gave up before it was accepted: try the next one.
    Skip,
    /// Out of descriptors or memory: accepting waits for a retry, which the
    /// caller arms; the error is `Some` for the first failure of a shortage
    /// (one shortage is one `Error` event).
    Starved(Option<Error>),
}

/// What a graceful shutdown leaves to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Drain {
    /// No connection is open: the shutdown is complete.
    Complete,
    /// Connections are open: close them and wait for them (or the drain timeout).
    Waiting,
}

/// What the loop does after a connection of a listener closed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Gone {
    Nothing,
    /// Connections wait in the backlog and the cap may allow one more.
    Resume,
    /// That was the last connection of a graceful shutdown.
    ShutdownComplete,
}

/// A listening socket and its state in the loop: accepting, the connection
/// cap, descriptor shortages and graceful shutdown, without the loop.
pub(crate) struct Listener {
    /// `None` once a graceful shutdown has stopped accepting.
    sock: Option<ListenSock>,
    userdata: u64,
    /// The kernel may have connections for us.
    readable: bool,
    /// In the loop's ready queue (the reactor's flag).
    queued: bool,
    /// An accept failed for lack of descriptors and was reported; cleared by
    /// the next success, so one shortage is one `Error` event.
    starved: bool,
    /// Most connections open at once (0 = no cap); at the cap, accepting
    /// pauses and clients wait in the kernel backlog.
    max_connections: usize,
    /// Connections accepted here and not yet closed.
    active: usize,
    /// A graceful shutdown is in progress.
    draining: bool,
    /// An accept failed for lack of descriptors and a retry is armed:
    /// accepting waits for it (readiness alone does not retry), so a starved
    /// listener has one retry timer, not one per connection arriving.
    retry_armed: bool,
    /// The TLS config of connections accepted from now on (boxed: a
    /// plaintext listener carries one null pointer).
    tls: Option<Box<ServerConfig>>,
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM | libc::ENETDOWN | libc::EHOSTUNREACH)
    )
}

/// The backlog `opts` asks for.
fn backlog(opts: &BindOptions) -> Result<i32> {
    match opts.backlog {
        None | Some(0) => Ok(DEFAULT_BACKLOG),
        Some(n) if (1..=65535).contains(&n) => Ok(n),
        _ => Err(invalid!("backlog", "0 (the default, 1024) or 1 to 65535")),
    }
}

/// Largest cap on a listener's open connections (`EINVAL` beyond).
pub const MAX_CONNECTIONS: usize = u32::MAX as usize;
/// [`MAX_CONNECTIONS`]'s range, as errors word it.
pub(crate) const MAX_CONNECTIONS_RANGE: &str = "0 (no cap) to 4294967295";

/// The cap `opts` gives a new listener.
fn cap(opts: &BindOptions) -> Result<usize> {
    match opts.max_connections {
        max @ 0..=MAX_CONNECTIONS => Ok(max),
        _ => Err(invalid!("max_connections", "0 (no cap) to 4294967295")),
    }
}

impl Listener {
    pub fn bind(addr: SocketAddr, opts: &BindOptions, userdata: u64) -> Result<Listener> {
        let backlog = backlog(opts)?;
        let max_connections = cap(opts)?;
        let sock = bound_socket(addr, Type::STREAM, opts)?;
        sock.listen(backlog)?;
        Ok(Listener::new(ListenSock::Tcp(TcpListener::from_std(sock.into())), max_connections, userdata))
    }

    /// Listens on a Unix socket `path` (see [`unix::sockaddr`]); the socket
    /// file it creates is removed when the listener closes. Of the options,
    /// the backlog and the cap apply.
    pub fn bind_unix(path: &str, opts: &BindOptions, userdata: u64) -> Result<Listener> {
        let backlog = backlog(opts)?;
        let max_connections = cap(opts)?;
        let (sock, file) = unix::bound(path, Type::STREAM)?;
        sock.listen(backlog)?;
        Ok(Listener::new(ListenSock::Unix(UnixListener::from_std(sock.into()), file), max_connections, userdata))
    }

    /// A listener on an adopted listening socket (TCP or Unix; a socket
    /// file it names is left in place when it closes: it is not ours).
    pub fn adopted(sock: Socket, is_unix: bool, userdata: u64) -> Listener {
        let sock = match is_unix {
            true => ListenSock::Unix(UnixListener::from_std(sock.into()), None),
            false => ListenSock::Tcp(TcpListener::from_std(sock.into())),
        };
        Listener::new(sock, 0, userdata)
    }

    fn new(sock: ListenSock, max_connections: usize, userdata: u64) -> Listener {
        Listener {
            sock: Some(sock),
            userdata,
            readable: false,
            queued: false,
            starved: false,
            max_connections,
            active: 0,
            draining: false,
            retry_armed: false,
            tls: None,
        }
    }

    /// The listening socket (none once a shutdown stopped accepting).
    pub fn sock(&self) -> Option<&ListenSock> {
        self.sock.as_ref()
    }

    /// The listening socket, to register or deregister it.
    pub fn sock_mut(&mut self) -> Option<&mut ListenSock> {
        self.sock.as_mut()
    }

    /// The user value.
    pub fn userdata(&self) -> u64 {
        self.userdata
    }

    /// The user value, to change it.
    pub fn userdata_mut(&mut self) -> &mut u64 {
        &mut self.userdata
    }

    /// The TLS config of connections accepted from now on.
    pub fn tls(&self) -> Option<&ServerConfig> {
        self.tls.as_deref()
    }

    /// Sets (or, with `None`, clears) the TLS config of later accepts;
    /// connections accepted before keep theirs.
    pub fn set_tls(&mut self, config: Option<ServerConfig>) {
        self.tls = config.map(Box::new);
    }

    /// Whether the listener is in the loop's ready queue (the reactor's flag).
    pub fn queued_mut(&mut self) -> &mut bool {
        &mut self.queued
    }

    /// The poller reported pending connections.
    pub fn on_readiness(&mut self) {
        self.readable = true;
    }

    /// Accepts one connection if the cap and a shortage allow.
    pub fn accept(&mut self) -> Accepted {
        if (self.max_connections > 0 && self.active >= self.max_connections) || self.retry_armed {
            // `readable` stays set: accepting resumes when one closes, or
            // when the retry is due.
            return Accepted::Stop;
        }
        let Some(sock) = &self.sock else {
            return Accepted::Stop;
        };
        match sock.accept() {
            Ok((sock, peer)) => {
                self.starved = false;
                Accepted::Conn(sock, peer)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Accepted::Stop
            }
            Err(e) if is_transient_accept_error(&e) => Accepted::Skip,
            Err(e) => {
                // Out of descriptors or memory: try again shortly instead of
                // spinning on a backlog we cannot drain.
                self.retry_armed = true;
                Accepted::Starved((!std::mem::replace(&mut self.starved, true)).then(|| e.into()))
            }
        }
    }

    /// A connection accepted here was added to the loop.
    pub fn count_connection(&mut self) {
        self.active += 1;
    }

    /// Whether an accept retry is armed (its deadline is live).
    pub fn retry_armed(&self) -> bool {
        self.retry_armed
    }

    /// The accept retry is due: returns whether accepting should resume.
    pub fn retry_due(&mut self) -> bool {
        std::mem::take(&mut self.retry_armed)
    }

    /// Caps the open connections (0 = no cap); returns whether accepting
    /// should resume (connections are waiting).
    pub fn set_max_connections(&mut self, max: usize) -> bool {
        self.max_connections = max;
        self.readable
    }

    /// Whether a graceful shutdown is under way (its drain deadline is live).
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Starts a graceful shutdown: accepting stops, and the listening socket
    /// is returned to be deregistered and closed. `ECLOSED` if one is under way.
    pub fn start_shutdown(&mut self) -> Result<(Option<ListenSock>, Drain)> {
        if self.draining {
            return Err(Error::ECLOSED);
        }
        self.draining = true;
        let drain = if self.active == 0 { Drain::Complete } else { Drain::Waiting };
        Ok((self.sock.take(), drain))
    }

    /// A connection accepted here closed: what the loop should do.
    pub fn connection_gone(&mut self) -> Gone {
        self.active = self.active.saturating_sub(1);
        match (self.draining, self.active, self.readable) {
            (true, 0, _) => Gone::ShutdownComplete,
            (false, _, true) => Gone::Resume,
            _ => Gone::Nothing,
        }
    }
}
