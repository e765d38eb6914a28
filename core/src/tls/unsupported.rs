//! The session of a build without TLS: a type with no values, so the
//! connection layer compiles unchanged and no session ever exists (every
//! constructor answers `EOPNOTSUPP`).

use std::io::{self, Write};
use std::time::Instant;

use super::{ClientConfig, Failure, ServerConfig, TlsEvent, TlsInfo};
use crate::error::{Error, Result};
use crate::sendq::RecordLayout;

/// No session can exist in this build.
pub enum Session {}

#[allow(missing_docs, dead_code)]
impl Session {
    pub fn client(_: &ClientConfig, _: &str, _: Instant) -> Result<Session> {
        Err(Error::EOPNOTSUPP)
    }
    pub fn server(_: &ServerConfig, _: Instant) -> Result<Session> {
        Err(Error::EOPNOTSUPP)
    }
    pub fn handle_input(&mut self, _: &[u8], _: &mut Vec<u8>) -> Result<()> {
        match *self {}
    }
    pub fn handle_eof(&mut self) -> Result<()> {
        match *self {}
    }
    pub fn handle_timeout(&mut self, _: Instant) {
        match *self {}
    }
    pub fn set_deadline(&mut self, _: Option<Instant>) {}
    pub fn poll_timeout(&self) -> Option<Instant> {
        match *self {}
    }
    pub fn poll_event(&mut self) -> Option<TlsEvent> {
        match *self {}
    }
    pub fn write_plaintext(&mut self, _: &[&[u8]]) -> Result<usize> {
        match *self {}
    }
    pub fn record_layout(&self) -> RecordLayout {
        match *self {}
    }
    pub fn wants_write(&self) -> bool {
        match *self {}
    }
    pub fn write_tls(&mut self, _: &mut dyn Write) -> io::Result<usize> {
        match *self {}
    }
    pub fn close(&mut self) {
        match *self {}
    }
    pub fn received_close_notify(&self) -> bool {
        match *self {}
    }
    pub fn refuse(&mut self, _: &str) {
        match *self {}
    }
    pub fn is_ready(&self) -> bool {
        match *self {}
    }
    pub fn info(&self) -> Option<TlsInfo> {
        match *self {}
    }
    pub fn peer_certificates(&self) -> Vec<Vec<u8>> {
        match *self {}
    }
    pub fn failure(&self) -> Option<&Failure> {
        match *self {}
    }
}
