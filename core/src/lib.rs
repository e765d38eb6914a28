//! netcore's engine: an event-driven TCP/UDP loop on top of mio.
//!
//! The model (docs/design.md): a [`Loop`] owns sockets named by integer [`Handle`]s;
//! every I/O result is an [`Event`], delivered in order per handle by
//! [`Loop::poll`] (a batch, whose bytes stay in place until the next poll),
//! by [`Loop::run`] (a callback per event), or through the descriptor of
//! [`Loop::fd`] when another loop drives this one. Every operation is safe
//! from any thread. This crate knows nothing of C, Python or Node: the FFI
//! crate and the bindings map it into each language.
//!
//! # Example
//!
//! An echo over loopback: a listener, a client, one message and its echo
//! (a whole server: `examples/rust/echo_server.rs`).
//!
//! ```
//! use std::time::Duration;
//!
//! use netcore_core::{BindOptions, EventKind, Loop};
//!
//! let lp = Loop::new()?;
//! let listener = lp.tcp_listen("127.0.0.1", 0, &BindOptions::default(), 0)?;
//! let port = lp.local_addr(listener)?.port();
//! let client = lp.tcp_connect("127.0.0.1", port.into(), 0)?;
//! lp.send(client, b"ping")?; // queued until the connection is up
//! let mut echoed = Vec::new();
//! for _ in 0..100 {
//!     let batch = lp.poll(64, Some(Duration::from_millis(100)))?;
//!     for ev in batch.events() {
//!         match ev.kind {
//!             EventKind::Data if ev.handle == client => echoed.extend_from_slice(batch.data(ev)),
//!             EventKind::Data => lp.send(ev.handle, batch.data(ev))?, // the server's side
//!             _ => {}
//!         }
//!     }
//!     if echoed == b"ping" {
//!         break;
//!     }
//! }
//! assert_eq!(echoed, b"ping");
//! # Ok::<(), netcore_core::Error>(())
//! ```

mod addr;
mod batch;
mod connect;
mod connect_options;
mod deferred;
mod dialer;
mod error;
mod event;
mod event_loop;
mod framing;
mod handle;
mod names;
mod operation;
mod options;
mod out;
mod resolver;
mod sendq;
mod server;
mod state;
mod sys;
mod tcp;
mod timer;
mod tls;
mod udp;
mod unix;
mod vocabulary;

pub use addr::{
    host as addr_host, ip_addresses, ip_literal, literal as socket_addr, port as check_port, MAX_HOST_ADDRESSES,
};
pub use batch::Batch;
pub use connect_options::{
    ConnectOptions, ConnectParams, Family, LocalBind, DEFAULT_ATTEMPT_DELAY, MAX_ATTEMPT_DELAY, MAX_BACKOFF_STEPS,
};
pub use error::{Detail, Error, Result};
pub use event::{Event, EventKind, HandleKind};
pub use event_loop::{Loop, DEFAULT_MAX_EVENTS, MAX_RAW_OPTION_SIZE, RUN_MAX_EVENTS};
pub use framing::{
    Framing, FramingMode, FramingParams, Next, DEFAULT_DELIMITER, DEFAULT_LENGTH_HEADER, DEFAULT_MAX_FRAME,
    MAX_DELIMITER, MAX_FRAME_LIMIT,
};
pub use handle::{Handle, MAX_LOOPS};
pub use operation::{Arg, ArgKind, Operation, Output, Returns, Value, OPERATIONS};
pub use options::SockOption;
pub use resolver::MAX_RESOLVER_THREADS;
pub use sendq::{DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER};
pub use tcp::listener::{BindOptions, DEFAULT_BACKLOG, MAX_CONNECTIONS};
pub use timer::MAX_DURATION;
#[cfg(feature = "tls")]
pub use tls::Session as TlsSession;
pub use tls::TlsEvent;
pub use tls::{
    check_server_name, supported as tls_supported, ClientAuth, ClientConfig, ClientOptions, Failure as TlsFailure, Pem,
    Roots, ServerConfig, ServerOptions, TlsInfo, TlsVersion, VerifyServer, DEFAULT_HANDSHAKE_TIMEOUT,
    MAX_ALPN_PROTOCOLS,
};
pub use udp::DatagramToSend;
pub use unix::{PeerCredentials, MAX_UNIX_PATH};
pub use vocabulary::vocabulary_json;
