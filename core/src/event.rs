//! Events: every I/O result a loop reports, in order per handle.

use std::net::SocketAddr;

use crate::error::Error;
use crate::handle::Handle;

/// What happened. The numeric values are part of the C ABI.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(i32)]
pub enum EventKind {
    /// A listener accepted a connection: `handle` is the new connection,
    /// `listener` the listener, `addr` the peer.
    Accepted = 1,
    /// An outgoing connection is established; `addr` is the peer.
    Connected = 2,
    /// An outgoing connection failed for good (every address was tried);
    /// `error` says why. A `Closed` event follows.
    ConnectFailed = 3,
    /// Bytes arrived: one chunk in stream mode, one whole frame otherwise.
    Data = 4,
    /// The peer half-closed its side: no more data will arrive.
    Eof = 5,
    /// The send queue fell to the low-water mark after a send was refused with `EAGAIN`.
    Writable = 6,
    /// The handle is gone (exactly once per handle); `error` is set when the
    /// end was abnormal (reset, oversized frame, ...).
    Closed = 7,
    /// A UDP datagram arrived; `addr` is the sender.
    Datagram = 8,
    /// A non-fatal or about-to-be-fatal error on the handle (e.g. `EMSGSIZE`
    /// before the connection is closed).
    Error = 9,
}

/// One event. Its bytes, if any, are read with [`crate::Batch::data`].
#[derive(Clone, Debug)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The handle it happened to.
    pub handle: Handle,
    /// For `Accepted`: the listener. Otherwise `None`.
    pub listener: Option<Handle>,
    /// The error, for `ConnectFailed`, `Error` and abnormal `Closed`.
    pub error: Option<Error>,
    /// The handle's user value.
    pub userdata: u64,
    /// Peer (`Accepted`, `Connected`) or sender (`Datagram`) address.
    pub addr: Option<SocketAddr>,
    pub(crate) data_start: usize,
    pub(crate) data_len: usize,
}

impl Event {
    pub(crate) fn new(kind: EventKind, handle: Handle, userdata: u64) -> Event {
        Event {
            kind,
            handle,
            listener: None,
            error: None,
            userdata,
            addr: None,
            data_start: 0,
            data_len: 0,
        }
    }

    pub(crate) fn with_error(mut self, error: Option<Error>) -> Event {
        self.error = error;
        self
    }

    pub(crate) fn with_addr(mut self, addr: Option<SocketAddr>) -> Event {
        self.addr = addr;
        self
    }

    /// Number of data bytes the event carries.
    pub fn data_len(&self) -> usize {
        self.data_len
    }
}
