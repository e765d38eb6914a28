//! Helpers shared by the core's integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use netcore_core::{BindOptions, Error, Event, EventKind, Handle, Loop};

/// An owned copy of an event with its bytes.
#[derive(Debug, Clone)]
pub struct Got {
    pub kind: EventKind,
    pub handle: Handle,
    pub error: Option<Error>,
    pub data: Vec<u8>,
    pub event: Event,
}

/// Polls until `done` says so; returns every event seen. The 60 s limit is
/// only a hang guard: no test may rely on it passing or not.
pub fn poll_until(lp: &Loop, mut done: impl FnMut(&[Got]) -> bool) -> Vec<Got> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !done(&seen) {
        assert!(Instant::now() < deadline, "timed out; events so far: {:?}", kinds(&seen));
        let batch = lp.poll(64, Some(Duration::from_millis(50))).unwrap();
        for e in batch.events() {
            seen.push(Got {
                kind: e.kind,
                handle: e.handle,
                error: e.error,
                data: batch.data(e).to_vec(),
                event: e.clone(),
            });
        }
    }
    seen
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
