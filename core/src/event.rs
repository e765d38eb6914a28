//! Events: every I/O result a loop reports, in order per handle.

use std::net::SocketAddr;

use crate::error::Error;
use crate::handle::Handle;
use crate::names::named_enum;

named_enum! {
    argument: "event";
    /// What happened. The numeric values are part of the C ABI.
    pub enum EventKind {
        /// A listener accepted a connection: `handle` is the new connection,
        /// `listener` the listener, `addr` the peer.
        Accepted = 1, "accepted";
        /// An outgoing connection is established; `addr` is the peer.
        Connected = 2, "connected";
        /// An outgoing connection failed for good (every address was tried);
        /// `error` says why. A `Closed` event follows.
        ConnectFailed = 3, "connect_failed";
        /// Bytes arrived: one chunk in stream mode, one whole frame otherwise.
        Data = 4, "data";
        /// The peer half-closed its side: no more data will arrive.
        Eof = 5, "eof";
        /// The send queue fell to the low-water mark after a send was refused with `EAGAIN`.
        Writable = 6, "writable";
        /// The handle is gone (exactly once per handle); `error` is set when the
        /// end was abnormal (reset, oversized frame, ...).
        Closed = 7, "closed";
        /// A datagram arrived; `addr` (UDP) or `path` (Unix) is the sender.
        Datagram = 8, "datagram";
        /// A non-fatal or about-to-be-fatal error on the handle (e.g. `EMSGSIZE`
        /// before the connection is closed).
        Error = 9, "error";
        /// A timer expired. A one-shot timer's `Closed` follows.
        Timer = 10, "timer";
        /// A connection saw no successful read or write for its idle timeout.
        Idle = 11, "idle";
        /// The bytes of a send made with a token reached the kernel; `value` is the token.
        Sent = 12, "sent";
        /// An auto-reconnecting connection was lost (or an attempt failed) and
        /// will try again; `value` is the attempt number (1, 2, ...), `error` why.
        Reconnecting = 13, "reconnecting";
        /// A listener's graceful shutdown is over (every connection is closed);
        /// its `Closed` follows.
        ShutdownComplete = 14, "shutdown_complete";
        /// A connection's TLS handshake finished (exactly one `TlsReady` or
        /// `TlsFailed` per handshake); what it negotiated is read with
        /// [`crate::Loop::tls_info`]. Data sent before it went after it.
        TlsReady = 15, "tls_ready";
        /// A connection's TLS handshake failed; `error` says why (an `ETLS*`
        /// code; the peer's alert number and a description are read with
        /// [`crate::Loop::tls_failure`]). A `Closed` follows.
        TlsFailed = 16, "tls_failed";
    }
}

named_enum! {
    argument: "kind";
    /// What a handle names. The numeric values are part of the C ABI.
    pub enum HandleKind {
        /// A listener: TCP, or a Unix stream one.
        TcpListener = 1, "tcp_listener";
        /// A stream connection (accepted, outgoing or adopted): TCP, or
        /// Unix.
        TcpConnection = 2, "tcp_connection";
        /// A datagram socket: UDP, or Unix.
        Udp = 3, "udp";
        /// A timer.
        Timer = 4, "timer";
    }
}

/// Where an event's bytes are. A poll puts them in one of two stores, each
/// with its own kind of index, so one is never read as the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataAt {
    /// At this offset in the poll's arena: stream data, frames, and any
    /// event a host kept (copied back by the next poll).
    Arena(usize),
    /// At the start of this slot of the loop's datagram receiver: a
    /// datagram this poll received (no copy).
    Slot(usize),
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
    /// Peer (`Accepted`, `Connected`) or sender (`Datagram`) address, on
    /// IP sockets. A Unix datagram's sender is read with
    /// [`crate::Batch::path`].
    pub addr: Option<SocketAddr>,
    /// The token (`Sent`) or attempt number (`Reconnecting`); 0 otherwise.
    pub value: u64,
    /// Bytes of the sender's path and its NUL, in the arena right after the
    /// data (a Unix `Datagram`; 0 otherwise): no allocation, and nothing to
    /// drop.
    pub(crate) path_len: u8,
    /// Where the bytes are, read and written only as a [`DataAt`]
    /// ([`Event::data_at`], [`Event::with_data`]): slot `data_index` of the
    /// datagram receiver if `in_slot`, else offset `data_index` of the
    /// arena. Two fields private to this module rather than one `DataAt`,
    /// whose tag would take a word of its own (8 bytes more per event),
    /// while `in_slot` fits in the padding after `kind`.
    in_slot: bool,
    data_index: usize,
    data_len: usize,
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
            path_len: 0,
            in_slot: false,
            value: 0,
            data_index: 0,
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

    pub(crate) fn with_value(mut self, value: u64) -> Event {
        self.value = value;
        self
    }

    /// The event with `len` bytes at `at`.
    #[inline]
    pub(crate) fn with_data(mut self, at: DataAt, len: usize) -> Event {
        (self.in_slot, self.data_index) = match at {
            DataAt::Arena(offset) => (false, offset),
            DataAt::Slot(slot) => (true, slot),
        };
        self.data_len = len;
        self
    }

    /// Where the bytes are.
    #[inline]
    pub(crate) fn data_at(&self) -> DataAt {
        match self.in_slot {
            true => DataAt::Slot(self.data_index),
            false => DataAt::Arena(self.data_index),
        }
    }

    /// Number of data bytes the event carries.
    pub fn data_len(&self) -> usize {
        self.data_len
    }
}
