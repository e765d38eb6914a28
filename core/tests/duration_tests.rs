//! Durations and deadlines: the one rule for durations beyond
//! `MAX_DURATION` ("never", accepted, no panic) and for a zero period or
//! idle timeout (none), on real loopback sockets.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use netcore_core::{ConnectOptions, EventKind, Loop, MAX_DURATION};

mod common;
use common::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Polls without waiting until no work is left (bounded).
fn settle(lp: &Loop) {
    for _ in 0..100 {
        if lp.poll(64, Some(Duration::ZERO)).unwrap().events().is_empty() && lp.next_timeout() != Some(Duration::ZERO) {
            return;
        }
    }
    panic!("the loop kept producing events");
}

fn has_kind(got: &[Got], kind: EventKind) -> bool {
    got.iter().any(|g| g.kind == kind)
}

/// Durations just beyond the maximum, as large as a binding can pass
/// (`sys.maxsize` seconds), and the largest `Duration`.
fn huge() -> [Duration; 3] {
    [MAX_DURATION + Duration::from_nanos(1), Duration::from_secs(i64::MAX as u64), Duration::MAX]
}

#[test]
fn a_timer_delay_beyond_the_maximum_never_fires_and_can_still_be_closed() {
    let at_max = Loop::new().unwrap();
    at_max.timer_start(MAX_DURATION, None, 0).unwrap();
    let left = at_max.next_timeout();
    assert!(left.is_some_and(|t| t > MAX_DURATION - Duration::from_secs(60)), "the maximum is honoured: {left:?}");
    let lp = Loop::new().unwrap();
    for huge in huge() {
        let never = lp.timer_start(huge, None, 1).unwrap();
        let soon = lp.timer_start(ms(5), None, 2).unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::Closed, soon));
        assert!(!has(&got, EventKind::Timer, never), "{huge:?} never fires");
        assert_eq!(lp.next_timeout(), None, "no deadline for a timer that never fires");
        lp.close(never).unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::Closed, never));
        assert!(!has(&got, EventKind::Timer, never));
    }
    assert_eq!(lp.handle_count(), 0);
}

#[test]
fn a_timer_period_beyond_the_maximum_fires_once_and_stays_open() {
    let lp = Loop::new().unwrap();
    for huge in huge() {
        let t = lp.timer_start(ms(1), Some(huge), 1).unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::Timer, t));
        assert!(!has(&got, EventKind::Closed, t), "a repeating timer does not close by itself");
        assert_eq!(lp.next_timeout(), None, "its next expiry is never");
        assert_eq!(lp.handle_count(), 1);
        lp.close(t).unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::Closed, t));
        assert!(!has(&got, EventKind::Timer, t));
    }
}

#[test]
fn an_idle_timeout_beyond_the_maximum_never_fires() {
    let lp = Loop::new().unwrap();
    let (client, server) = connected_pair(&lp);
    for huge in huge() {
        lp.set_idle_timeout(client, Some(huge)).unwrap();
        settle(&lp);
        assert_eq!(lp.next_timeout(), None, "{huge:?}: no idle deadline");
    }
    // A real timeout still works after a huge one (the old one is replaced).
    lp.set_idle_timeout(server, Some(ms(5))).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Idle, server));
    assert!(!has(&got, EventKind::Idle, client));
}

#[test]
fn a_connect_timeout_beyond_the_maximum_is_no_timeout() {
    let lp = Loop::new().unwrap();
    let (_listener, port) = listen(&lp);
    for huge in huge() {
        let opts = ConnectOptions { timeout: Some(huge), ..Default::default() };
        let client = lp.tcp_connect_with("127.0.0.1", port as i64, &opts, 0).unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::Connected, client) && has_kind(g, EventKind::Accepted));
        let server = got.iter().find(|g| g.kind == EventKind::Accepted).unwrap().handle;
        assert_eq!(lp.handle_count(), 3, "listener, client and server side: nothing leaked");
        lp.close_reset(client).unwrap();
        lp.close_reset(server).unwrap();
        poll_until(&lp, |g| has(g, EventKind::Closed, server));
    }
}

#[test]
fn a_reconnect_delay_beyond_the_maximum_waits_until_closed() {
    let lp = Loop::new().unwrap();
    let (listener, port) = listen(&lp);
    for huge in huge() {
        let opts = ConnectOptions { reconnect: vec![huge], ..Default::default() };
        let client = lp.tcp_connect_with("127.0.0.1", port as i64, &opts, 0).unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::Connected, client) && has_kind(g, EventKind::Accepted));
        let server = got.iter().find(|g| g.kind == EventKind::Accepted).unwrap().handle;
        lp.close_reset(server).unwrap();
        poll_until(&lp, |g| has(g, EventKind::Reconnecting, client));
        settle(&lp);
        assert_eq!(lp.next_timeout(), None, "{huge:?}: the redial is never due");
        lp.close(client).unwrap();
        let got = poll_until(&lp, |g| has(g, EventKind::Closed, client));
        assert!(!has(&got, EventKind::Connected, client));
        assert_eq!(lp.handle_count(), 1, "only the listener is left");
    }
    lp.close(listener).unwrap();
}

#[test]
fn a_shutdown_drain_beyond_the_maximum_completes_when_the_clients_close() {
    for huge in huge() {
        let lp = Loop::new().unwrap();
        let (listener, port) = listen(&lp);
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        poll_until(&lp, |g| has_kind(g, EventKind::Accepted));
        lp.shutdown_server(listener, huge).unwrap();
        // The server side closes gracefully; the client reads to its EOF and closes.
        let reader = std::thread::spawn(move || client.read_to_end(&mut Vec::new()).unwrap());
        let got = poll_until(&lp, |g| has(g, EventKind::Closed, listener));
        assert_eq!(reader.join().unwrap(), 0);
        let order: Vec<EventKind> = got.iter().filter(|g| g.handle == listener).map(|g| g.kind).collect();
        assert_eq!(order, [EventKind::ShutdownComplete, EventKind::Closed]);
        assert_eq!(lp.handle_count(), 0);
    }
}

#[test]
fn next_timeout_is_rounded_up_to_whole_milliseconds() {
    let lp = Loop::new().unwrap();
    lp.timer_start(Duration::from_micros(4_500), None, 0).unwrap();
    let wait = lp.next_timeout().unwrap();
    assert_eq!(wait.subsec_nanos() % 1_000_000, 0, "{wait:?} is whole milliseconds");
    assert!(wait >= ms(1) && wait <= ms(5), "{wait:?}: never zero before the deadline, never past it");
}

/// Drains every event there is without waiting (the `Closed` of cancelled
/// timers), so the pending queue does not grow with the test.
fn drain(lp: &Loop) {
    while !lp.poll(1024, Some(Duration::ZERO)).unwrap().events().is_empty() {}
}

#[test]
fn cancelled_timers_leave_no_deadline_behind() {
    let lp = Loop::new().unwrap();
    let hour = Duration::from_secs(3600);
    for i in 0..200_000 {
        let t = lp.timer_start(hour, None, 0).unwrap();
        lp.close(t).unwrap();
        if i % 1000 == 0 {
            drain(&lp);
            assert!(lp.deadline_count() <= 256, "{} deadlines after {i} cancellations", lp.deadline_count());
        }
    }
    drain(&lp);
    assert_eq!(lp.next_timeout(), None, "a cancelled timer's expiry is no deadline");
    assert_eq!(lp.deadline_count(), 0);
    // A live timer among cancelled ones is still the one reported.
    let kept = lp.timer_start(hour * 2, None, 0).unwrap();
    for _ in 0..1000 {
        let t = lp.timer_start(hour, None, 0).unwrap();
        lp.close(t).unwrap();
    }
    drain(&lp);
    assert!(lp.next_timeout().is_some_and(|t| t > hour), "{:?}", lp.next_timeout());
    lp.close(kept).unwrap();
    drain(&lp);
    assert_eq!(lp.next_timeout(), None);
}

#[test]
fn re_armed_idle_timeouts_leave_no_deadline_behind() {
    let lp = Loop::new().unwrap();
    let (client, _server) = connected_pair(&lp);
    settle(&lp);
    let hour = Duration::from_secs(3600);
    for i in 0..20_000u64 {
        // Re-armed, and turned off and on again: each makes the last one stale.
        let timeout = if i % 3 == 2 { None } else { Some(hour + ms(i)) };
        lp.set_idle_timeout(client, timeout).unwrap();
        assert!(lp.deadline_count() <= 256, "{} deadlines after {i} re-arms", lp.deadline_count());
    }
    lp.set_idle_timeout(client, None).unwrap();
    assert_eq!(lp.next_timeout(), None, "the idle timeout is off: no deadline");
}

#[test]
fn a_zero_repeat_is_a_one_shot_timer_and_a_zero_idle_timeout_is_off() {
    let lp = Loop::new().unwrap();
    let once = lp.timer_start(ms(1), Some(Duration::ZERO), 0).unwrap();
    let got = poll_until(&lp, |g| has(g, EventKind::Closed, once));
    assert_eq!(got.iter().filter(|g| g.kind == EventKind::Timer).count(), 1, "fired once, then closed");
    let (client, _server) = connected_pair(&lp);
    settle(&lp);
    lp.set_idle_timeout(client, Some(ms(10))).unwrap();
    assert!(lp.next_timeout().is_some(), "the idle timeout is on");
    lp.set_idle_timeout(client, Some(Duration::ZERO)).unwrap();
    assert_eq!(lp.next_timeout(), None, "a zero idle timeout is off: no deadline");
}
