//! Frames larger than a poll's arena (4 MiB): delivered whole, at linear
//! cost, without the loop spinning while a frame is incomplete.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netcore_core::{Error, EventKind, Framing, Handle, Loop};

mod common;
use common::*;

const MIB: usize = 1 << 20;

/// Payload bytes that never contain the `\n` delimiter.
fn payload(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7 + seed * 131) % 251) as u8).map(|b| if b == b'\n' { b'.' } else { b }).collect()
}

fn length_prefixed(payload: &[u8]) -> Vec<u8> {
    let mut wire = (payload.len() as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(payload);
    wire
}

fn delimited(payload: &[u8]) -> Vec<u8> {
    let mut wire = payload.to_vec();
    wire.push(b'\n');
    wire
}

/// The `Data` events of `conn`.
fn frames(seen: &[Got], conn: Handle) -> Vec<&[u8]> {
    seen.iter().filter(|g| g.kind == EventKind::Data && g.handle == conn).map(|g| g.data.as_slice()).collect()
}

/// Polls until `done`, with a hang guard far above what a loaded machine needs.
fn poll_while(lp: &Loop, seen: &mut Vec<Got>, mut done: impl FnMut(&[Got]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(seen) {
        assert!(Instant::now() < deadline, "timed out; events so far: {:?}", kinds(seen));
        poll_into(lp, 64, Some(Duration::from_millis(50)), seen);
    }
}

/// Sends each payload's wire form as one frame; each must arrive as one
/// `Data` event with exactly its bytes.
fn frames_arrive_whole(framing: impl Fn(usize) -> Framing, wire: impl Fn(&[u8]) -> Vec<u8>) {
    for (seed, size) in [6 * MIB, 20 * MIB].into_iter().enumerate() {
        let lp = Loop::new().unwrap();
        let (mut client, conn) = framed_pair(&lp, framing(size));
        let sent = payload(size, seed);
        let mut seen = Vec::new();
        write_polling(&lp, &mut client, &wire(&sent), &[usize::MAX], 64, &mut seen);
        poll_while(&lp, &mut seen, |g| has(g, EventKind::Data, conn));
        let got = frames(&seen, conn);
        assert_eq!(got.len(), 1, "{size} bytes came as {} frames", got.len());
        assert!(got[0] == sent.as_slice(), "the {size}-byte frame differs ({} bytes arrived)", got[0].len());
        assert!(!has(&seen, EventKind::Error, conn));
    }
}

#[test]
fn length_prefixed_frames_of_6_and_20_mib_arrive_whole() {
    frames_arrive_whole(|_| Framing::length_prefixed(4, 24 * MIB).unwrap(), length_prefixed);
}

#[test]
fn delimited_frames_of_6_and_20_mib_arrive_whole() {
    frames_arrive_whole(|_| Framing::delimited(b"\n", 24 * MIB).unwrap(), delimited);
}

#[test]
fn fixed_frames_of_6_and_20_mib_arrive_whole() {
    frames_arrive_whole(|size| Framing::fixed(size).unwrap(), <[u8]>::to_vec);
}

/// Bytes waiting in a socket's receive queue (`FIONREAD`) or send queue (`TIOCOUTQ`).
fn queued(fd: i32, request: libc::c_ulong) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: both requests write one int.
    assert_eq!(unsafe { libc::ioctl(fd, request, &mut n) }, 0);
    n as usize
}

/// The peer sends 5 MiB of an 8 MiB frame (more than a poll's arena) and
/// stops: once the loop has read all of it, it has nothing to do until new
/// input (no spinning on the kept half frame), and then the rest completes
/// the frame.
#[test]
fn the_loop_is_idle_while_a_large_frame_waits_for_its_rest() {
    let lp = Loop::new().unwrap();
    let (mut client, conn) = framed_pair(&lp, Framing::length_prefixed(4, 16 * MIB).unwrap());
    let sent = payload(8 * MIB, 3);
    let wire = length_prefixed(&sent);
    let (first, rest) = wire.split_at(4 + 5 * MIB);
    let mut seen = Vec::new();
    write_polling(&lp, &mut client, first, &[usize::MAX], 64, &mut seen);
    // Wait (bounded in polls) until every byte sent is in the loop's hands
    // and nothing is left to do.
    let server_fd = lp.raw_fd(conn).unwrap();
    let mut polls = 0;
    while queued(client.as_raw_fd(), libc::TIOCOUTQ) > 0
        || queued(server_fd, libc::FIONREAD) > 0
        || lp.next_timeout().is_some()
    {
        polls += 1;
        assert!(
            polls < 2000,
            "still busy after {polls} polls: next timeout {:?}, events {:?}",
            lp.next_timeout(),
            kinds(&seen)
        );
        poll_into(&lp, 64, Some(Duration::from_millis(20)), &mut seen);
    }
    for _ in 0..50 {
        assert_eq!(poll_into(&lp, 64, Some(Duration::ZERO), &mut seen), 0, "events: {:?}", kinds(&seen));
        assert_eq!(lp.next_timeout(), None, "the loop has work while only waiting for input");
    }
    assert!(frames(&seen, conn).is_empty());
    write_polling(&lp, &mut client, rest, &[usize::MAX], 64, &mut seen);
    poll_while(&lp, &mut seen, |g| has(g, EventKind::Data, conn));
    let got = frames(&seen, conn);
    assert_eq!(got.len(), 1);
    assert!(got[0] == sent.as_slice(), "the frame differs ({} bytes arrived)", got[0].len());
}

/// One byte over the limit is refused (`Error` then `Closed`, both
/// `EMSGSIZE`) and nothing of the frame is delivered.
fn one_byte_over_the_limit_closes(framing: Framing, wire: Vec<u8>) {
    let lp = Loop::new().unwrap();
    let (mut client, conn) = framed_pair(&lp, framing);
    let mut seen = Vec::new();
    // The loop may stop reading (and close) before all of it is sent.
    let mut sent = 0;
    while !has(&seen, EventKind::Error, conn) && sent < wire.len() {
        let end = wire.len().min(sent + MIB);
        write_polling(&lp, &mut client, &wire[sent..end], &[usize::MAX], 64, &mut seen);
        sent = end;
    }
    poll_while(&lp, &mut seen, |g| has(g, EventKind::Error, conn));
    drop(client);
    poll_while(&lp, &mut seen, |g| has(g, EventKind::Closed, conn));
    let error = seen.iter().find(|g| g.kind == EventKind::Error).map(|g| g.error);
    assert_eq!(error, Some(Some(Error::EMSGSIZE)));
    let closed = seen.iter().find(|g| g.kind == EventKind::Closed && g.handle == conn).unwrap();
    assert_eq!(closed.error, Some(Error::EMSGSIZE));
    assert!(frames(&seen, conn).is_empty());
}

#[test]
fn a_length_prefixed_frame_one_byte_over_the_limit_is_emsgsize_then_closed() {
    let mut wire = ((6 * MIB + 1) as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(&payload(16, 0));
    one_byte_over_the_limit_closes(Framing::length_prefixed(4, 6 * MIB).unwrap(), wire);
}

#[test]
fn a_delimited_frame_one_byte_over_the_limit_is_emsgsize_then_closed() {
    one_byte_over_the_limit_closes(Framing::delimited(b"\n", 6 * MIB).unwrap(), delimited(&payload(6 * MIB + 1, 0)));
}

/// A frame larger than the arena still arrives while another connection
/// keeps every poll's arena busy: it is served first in the next poll.
#[test]
fn a_large_frame_is_not_starved_by_a_busy_connection() {
    let lp = Loop::new().unwrap();
    let (mut bulk, bulk_conn) = framed_pair(&lp, Framing::Stream);
    let (mut client, conn) = framed_pair(&lp, Framing::length_prefixed(4, 16 * MIB).unwrap());
    let sent = payload(6 * MIB, 5);
    let wire = length_prefixed(&sent);
    let chunk = payload(MIB, 9);
    let mut seen = Vec::new();
    // Alternate 1 MiB of the frame with 2 MiB of bulk input, then keep the
    // bulk going until the frame arrives (bounded).
    for piece in wire.chunks(MIB) {
        write_polling(&lp, &mut client, piece, &[usize::MAX], 64, &mut seen);
        write_polling(&lp, &mut bulk, &chunk, &[usize::MAX], 64, &mut seen);
        write_polling(&lp, &mut bulk, &chunk, &[usize::MAX], 64, &mut seen);
    }
    for _ in 0..200 {
        if has(&seen, EventKind::Data, conn) {
            break;
        }
        write_polling(&lp, &mut bulk, &chunk, &[usize::MAX], 64, &mut seen);
    }
    let got = frames(&seen, conn);
    assert_eq!(got.len(), 1, "the frame did not arrive while the other connection was busy");
    assert!(got[0] == sent.as_slice());
    assert!(has(&seen, EventKind::Data, bulk_conn));
}
