//! Stream sockets (TCP or Unix): listeners and connections.

pub(crate) mod attempt;
pub(crate) mod conn;
pub(crate) mod listener;
pub(crate) mod stream;
