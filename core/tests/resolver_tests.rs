//! The bounded resolver: a burst of connects to a name never runs more than
//! MAX_RESOLVER_THREADS resolver threads, every connect gets one outcome,
//! and closing a connection whose name is still queued cancels it.

use std::collections::HashMap;

use netcore_core::{EventKind, Handle, Loop, MAX_RESOLVER_THREADS};

mod common;
use common::*;

/// Resolver threads of this process now.
fn resolver_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "netcore-resolve")
        .count()
}

const BURST: usize = 200;

#[test]
fn a_burst_of_connects_to_a_name_uses_a_bounded_pool_and_each_gets_one_outcome() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = listen(&lp);
    let clients: Vec<Handle> = (0..BURST).map(|_| lp.tcp_connect("localhost", port as i64, 1).unwrap()).collect();
    let mut most = resolver_threads();
    let got = poll_until(&lp, |g| {
        most = most.max(resolver_threads());
        let outcomes = g.iter().filter(|e| matches!(e.kind, EventKind::Connected | EventKind::ConnectFailed));
        outcomes.count() >= BURST
    });
    assert!(most <= MAX_RESOLVER_THREADS, "{most} resolver threads at once");
    let mut outcomes: HashMap<Handle, Vec<EventKind>> = HashMap::new();
    for e in got.iter().filter(|e| clients.contains(&e.handle)) {
        outcomes.entry(e.handle).or_default().push(e.kind);
    }
    for h in &clients {
        assert_eq!(outcomes.get(h).map(Vec::as_slice), Some(&[EventKind::Connected][..]), "{h:?}");
    }
}

#[test]
fn closing_connects_whose_names_are_queued_cancels_them() {
    let lp = Loop::new().unwrap();
    let clients: Vec<Handle> = (0..BURST).map(|_| lp.tcp_connect("localhost", 9, 1).unwrap()).collect();
    for &h in &clients {
        lp.close(h).unwrap();
    }
    let got = poll_until(&lp, |g| g.iter().filter(|e| e.kind == EventKind::Closed).count() >= BURST);
    assert!(resolver_threads() <= MAX_RESOLVER_THREADS);
    // A little longer: no late result may bring anything else.
    let mut polls = 0;
    let later = poll_until(&lp, |_| {
        polls += 1;
        polls > 5
    });
    for h in &clients {
        let of_h: Vec<EventKind> = got.iter().chain(&later).filter(|e| e.handle == *h).map(|e| e.kind).collect();
        assert_eq!(of_h, [EventKind::Closed], "{h:?}");
    }
}
