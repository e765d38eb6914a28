//! A listener out of descriptors: one accept retry timer, however many
//! clients arrive meanwhile. The only test in this binary (its own process):
//! it lowers RLIMIT_NOFILE for the whole process.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use netcore_core::{Error, EventKind, Loop};
use socket2::{Domain, Socket, Type};

mod common;
use common::*;

fn nofile() -> libc::rlimit {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    limit
}

fn set_nofile(limit: &libc::rlimit) {
    // SAFETY: a valid pointer to a limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) }, 0);
}

/// Takes every descriptor the process may still open under a soft limit
/// just above the highest one open now: then accept fails with EMFILE.
fn exhaust_descriptors() -> Vec<OwnedFd> {
    let highest = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    set_nofile(&libc::rlimit { rlim_cur: highest + 2, rlim_max: nofile().rlim_max });
    let mut held = Vec::new();
    loop {
        // SAFETY: dup of stdin's descriptor number; the result is owned here.
        let fd = unsafe { libc::dup(0) };
        if fd < 0 {
            assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EMFILE));
            return held;
        }
        // SAFETY: a new descriptor nobody else owns.
        held.push(unsafe { OwnedFd::from_raw_fd(fd) });
        assert!(held.len() < 4096, "the lowered limit does not hold");
    }
}

#[test]
fn a_starved_listener_arms_one_retry_however_many_clients_arrive() {
    let lp = Loop::new().unwrap();
    let (listener, port) = listen(&lp);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // The clients' sockets exist before the shortage; they connect during it.
    let clients: Vec<Socket> = (0..6).map(|_| Socket::new(Domain::IPV4, Type::STREAM, None).unwrap()).collect();
    let saved = nofile();
    let fillers = exhaust_descriptors();
    let mut errors = 0;
    for client in &clients {
        client.connect(&addr.into()).unwrap();
        // Each arrival makes the listener readable; a few polls span retries.
        for _ in 0..3 {
            let batch = lp.poll(64, Some(Duration::from_millis(40))).unwrap();
            for e in batch.events() {
                assert_eq!((e.kind, e.handle), (EventKind::Error, listener), "nothing is accepted meanwhile");
                assert_eq!(e.error, Some(Error::EMFILE));
                errors += 1;
            }
            drop(batch);
            assert!(lp.deadline_count() <= 1, "{} accept retries armed for one listener", lp.deadline_count());
        }
    }
    assert_eq!(errors, 1, "one shortage is one error event");
    assert_eq!(lp.deadline_count(), 1, "the retry stays armed while the shortage lasts");
    // Descriptors come back: the listener accepts every waiting client.
    drop(fillers);
    set_nofile(&saved);
    let got = poll_until(&lp, |g| g.iter().filter(|e| e.kind == EventKind::Accepted).count() == clients.len());
    assert!(got.iter().all(|e| e.kind == EventKind::Accepted), "{:?}", kinds(&got));
}
