//! Helpers shared by the core's integration tests.
#![allow(dead_code)]

pub mod certs;

use std::time::{Duration, Instant};

use std::io::{ErrorKind, Write};
use std::net::TcpStream;

use netcore_core::{BindOptions, Error, Event, EventKind, Framing, Handle, Loop};

/// An owned copy of an event with its bytes.
#[derive(Debug, Clone)]
pub struct Got {
    pub kind: EventKind,
    pub handle: Handle,
    pub error: Option<Error>,
    pub data: Vec<u8>,
    /// A Unix datagram's sender path.
    pub path: Option<String>,
    pub event: Event,
}

/// Polls until `done` says so; returns every event seen. The 60 s limit is
/// only a hang guard: no test may rely on it passing or not.
pub fn poll_until(lp: &Loop, mut done: impl FnMut(&[Got]) -> bool) -> Vec<Got> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !done(&seen) {
        assert!(Instant::now() < deadline, "timed out; events so far: {:?}", kinds(&seen));
        poll_into(lp, 64, Some(Duration::from_millis(50)), &mut seen);
    }
    seen
}

/// Polls once (at most `max` events, waiting at most `wait`), appending
/// copies of the events to `seen`; returns how many came.
pub fn poll_into(lp: &Loop, max: usize, wait: Option<Duration>, seen: &mut Vec<Got>) -> usize {
    let batch = lp.poll(max, wait).unwrap();
    for e in batch.events() {
        seen.push(Got {
            kind: e.kind,
            handle: e.handle,
            error: e.error,
            data: batch.data(e).to_vec(),
            path: batch.path(e).map(str::to_owned),
            event: e.clone(),
        });
    }
    batch.events().len()
}

pub fn kinds(got: &[Got]) -> Vec<(EventKind, Option<Error>)> {
    got.iter().map(|g| (g.kind, g.error)).collect()
}

pub fn has(got: &[Got], kind: EventKind, handle: Handle) -> bool {
    got.iter().any(|g| g.kind == kind && g.handle == handle)
}

pub fn listen(lp: &Loop) -> (Handle, u16) {
    let l = lp.tcp_listen("127.0.0.1", 0, &BindOptions::default(), 7).unwrap();
    let port = lp.local_addr(l).unwrap().port();
    assert_ne!(port, 0);
    (l, port)
}

/// A connection made by the loop to its own listener: (client, server side).
pub fn connected_pair(lp: &Loop) -> (Handle, Handle) {
    let (_listener, port) = listen(lp);
    let client = lp.tcp_connect("127.0.0.1", port as i64, 0).unwrap();
    let got =
        poll_until(lp, |g| has(g, EventKind::Connected, client) && g.iter().any(|e| e.kind == EventKind::Accepted));
    (client, got.iter().find(|e| e.kind == EventKind::Accepted).unwrap().handle)
}

/// A non-blocking std client connected to a listener of `lp`, and the
/// accepted connection, whose input is cut with `framing`.
pub fn framed_pair(lp: &Loop, framing: Framing) -> (TcpStream, Handle) {
    let (_listener, port) = listen(lp);
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let got = poll_until(lp, |g| g.iter().any(|e| e.kind == EventKind::Accepted));
    let conn = got.iter().find(|e| e.kind == EventKind::Accepted).unwrap().handle;
    lp.set_framing(conn, framing).unwrap();
    client.set_nonblocking(true).unwrap();
    (client, conn)
}

/// Writes `bytes` to a non-blocking `stream` in pieces of the sizes in
/// `pieces` (cycled), polling the loop (at most `max` events a poll) after
/// each piece and whenever the kernel is full; events go to `seen`.
/// Bounded: fails after 60 s without the kernel taking a byte.
pub fn write_polling(
    lp: &Loop,
    stream: &mut TcpStream,
    bytes: &[u8],
    pieces: &[usize],
    max: usize,
    seen: &mut Vec<Got>,
) {
    let mut sent = 0;
    let mut stalled_since = Instant::now();
    for &piece in pieces.iter().cycle() {
        if sent == bytes.len() {
            break;
        }
        let end = bytes.len().min(sent + piece.max(1));
        while sent < end {
            match stream.write(&bytes[sent..end]) {
                Ok(n) => {
                    sent += n;
                    stalled_since = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(stalled_since.elapsed() < Duration::from_secs(60), "the loop stopped reading");
                    poll_into(lp, max, Some(Duration::from_millis(5)), seen);
                }
                Err(e) => panic!("write failed after {sent} bytes: {e}"),
            }
        }
        poll_into(lp, max, Some(Duration::ZERO), seen);
    }
}
