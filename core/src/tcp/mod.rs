//! TCP: listeners and connections.

pub(crate) mod attempt;
pub(crate) mod conn;
pub(crate) mod listener;
