//! Fuzz target for the framers. Random frames in every mode (stream,
//! delimited, fixed, length-prefixed) and limit, sometimes followed by a frame
//! one byte over the limit, are laid end to end and cut at random points into
//! reads, then fed (1) to `Framing::next` directly, as a connection does, and
//! (2) through a live loop over a loopback socket pair, with random read
//! sizes and batch sizes. Either every frame comes out whole and in order, or
//! the oversized one ends it with a clean `EMSGSIZE` (then `Closed`).
//!
//! `NETCORE_FUZZ_CASES` sets the number of cases (default 1000), about one in
//! sixteen of them live. The run prints `fuzz framing: <N> executions, 0
//! failures` (see it with `--nocapture`).

use std::net::Shutdown;
use std::time::{Duration, Instant};

use netcore_core::{Error, EventKind, Framing, Loop, Next};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

mod common;
use common::*;
#[path = "common/fuzz.rs"]
mod fuzz;

/// One case in this many goes through a live loop.
const LIVE_SHARE: u32 = 16;

/// One generated input: a framing, the frames, and how the wire is cut.
#[derive(Clone)]
struct Case {
    framing: Framing,
    frames: Vec<Vec<u8>>,
    /// A frame one byte over the limit follows the frames.
    oversized: bool,
    wire: Vec<u8>,
    /// Sizes of successive reads (direct) or writes (live), cycled.
    cuts: Vec<usize>,
    read_size: usize,
    max_events: usize,
}

/// A failing case is reported by its shape (the bytes follow from it).
impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case")
            .field("framing", &self.framing)
            .field("frame_lengths", &self.frames.iter().map(Vec::len).collect::<Vec<_>>())
            .field("oversized", &self.oversized)
            .field("wire_length", &self.wire.len())
            .field("cuts", &self.cuts)
            .field("read_size", &self.read_size)
            .field("max_events", &self.max_events)
            .finish()
    }
}

/// Limits: small ones, the header boundaries, and the largest allowed.
fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 1usize..=64,
        2 => 65usize..=5000,
        1 => prop::sample::select(vec![255, 256, 65535, 65536, 1 << 20, netcore_core::MAX_FRAME_LIMIT]),
    ]
}

/// Every mode; delimiters from a small alphabet, so payloads hold look-alikes
/// and delimiters overlap themselves ("aa", "abab").
fn framing(big: bool) -> impl Strategy<Value = Framing> {
    let size = if big { 1usize..=150_000 } else { 1usize..=300 };
    prop_oneof![
        Just(Framing::Stream),
        (prop::collection::vec(prop::sample::select(b"ab\r\n".to_vec()), 1..=8), limit())
            .prop_map(|(delimiter, max)| Framing::delimited(&delimiter, max).unwrap()),
        size.prop_map(|size| Framing::fixed(size).unwrap()),
        (prop::sample::select(vec![1usize, 2, 4]), limit())
            .prop_map(|(header, max)| Framing::length_prefixed(header, max).unwrap()),
    ]
}

/// Deterministic bytes from a seed (xorshift), so large payloads cost no
/// generator work and a failing case shrinks by its seed and length.
fn bytes(seed: u64, len: usize, mut pick: impl FnMut(u64) -> u8) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pick(x)
        })
        .collect()
}

fn header_value(header: usize, len: usize) -> Vec<u8> {
    (len as u64).to_be_bytes()[8 - header..].to_vec()
}

/// A delimited payload whose first delimiter is the one that ends it.
fn delimited_payload(delimiter: &[u8], seed: u64, len: usize) -> Vec<u8> {
    let look_alikes = len <= 300;
    let mut payload = bytes(seed, len, |x| match x as u8 {
        b if look_alikes && x % 3 == 0 => delimiter[(b as usize) % delimiter.len()],
        b if b == delimiter[0] => b.wrapping_add(1),
        b => b,
    });
    while let Some(at) = memfind(&[&payload[..], delimiter].concat(), delimiter).filter(|&at| at < payload.len()) {
        payload.remove(at);
    }
    payload
}

fn memfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Builds the frames (their lengths drawn from `lens`), the wire, and the
/// oversized frame where the mode and limit allow one.
fn build(framing: &Framing, specs: &[(u64, u32)], big: bool, want_oversized: bool) -> (Vec<Vec<u8>>, bool, Vec<u8>) {
    let most = if big { 200_000 } else { 300 };
    let length = |cap: usize, r: u32| r as usize % (cap.min(most) + 1);
    let mut frames = Vec::new();
    let mut wire = Vec::new();
    let mut oversized = false;
    match *framing {
        Framing::Stream => {
            for &(seed, r) in specs {
                let payload = bytes(seed, length(most, r).max(1), |x| x as u8);
                wire.extend_from_slice(&payload);
                frames.push(payload);
            }
        }
        Framing::Delimited { delimiter, delimiter_len, max } => {
            let delimiter = &delimiter[..delimiter_len as usize];
            for &(seed, r) in specs {
                let payload = delimited_payload(delimiter, seed, length(max as usize, r));
                wire.extend_from_slice(&payload);
                wire.extend_from_slice(delimiter);
                frames.push(payload);
            }
            if want_oversized && max as usize <= 100_000 {
                oversized = true;
                wire.extend(bytes(
                    7,
                    max as usize + 1,
                    |x| if x as u8 == delimiter[0] { !delimiter[0] } else { x as u8 },
                ));
                wire.extend_from_slice(delimiter);
            }
        }
        Framing::Fixed { size } => {
            for &(seed, _) in specs {
                let payload = bytes(seed, size as usize, |x| x as u8);
                wire.extend_from_slice(&payload);
                frames.push(payload);
            }
        }
        Framing::LengthPrefixed { header, max } => {
            let header = header as usize;
            let cap = (max as usize).min((1usize << (8 * header)) - 1);
            for &(seed, r) in specs {
                let payload = bytes(seed, length(cap, r), |x| x as u8);
                wire.extend(header_value(header, payload.len()));
                wire.extend_from_slice(&payload);
                frames.push(payload);
            }
            if want_oversized && cap == max as usize && cap < (1usize << (8 * header)) - 1 {
                oversized = true;
                wire.extend(header_value(header, max as usize + 1));
                wire.extend_from_slice(b"some of it");
            }
        }
    }
    (frames, oversized, wire)
}

fn case(big: bool) -> impl Strategy<Value = Case> {
    // Live cases write larger frames: mostly larger pieces, for a fast run.
    let (cut, small) = if big { (1usize..=300_000, 1) } else { (1usize..=5000, 3) };
    (
        framing(big),
        prop::collection::vec((any::<u64>(), any::<u32>()), 0..12),
        any::<bool>(),
        prop::collection::vec(prop_oneof![small => 1usize..=64, 1 => cut], 1..8),
        prop::sample::select(vec![4096usize, 65536, 262144]),
        prop::sample::select(vec![1usize, 2, 3, 64]),
    )
        .prop_map(move |(framing, specs, want_oversized, cuts, read_size, max_events)| {
            let (frames, oversized, wire) = build(&framing, &specs, big, want_oversized);
            Case { framing, frames, oversized, wire, cuts, read_size, max_events }
        })
}

/// Most bytes a connection may hold back while a frame is incomplete.
fn kept_bound(framing: &Framing) -> usize {
    match *framing {
        Framing::Stream => 0,
        Framing::Delimited { delimiter_len, max, .. } => max as usize + delimiter_len as usize - 1,
        Framing::Fixed { size } => size as usize - 1,
        Framing::LengthPrefixed { header, max } => header as usize + max as usize - 1,
    }
}

/// Checks the frames (and error) that came out against the case.
fn check_output(case: &Case, out: &[Vec<u8>], error: Option<Error>) -> Result<(), TestCaseError> {
    if case.framing == Framing::Stream {
        prop_assert_eq!(out.concat(), case.wire.clone(), "stream bytes differ");
        prop_assert!(out.iter().all(|chunk| !chunk.is_empty()), "an empty stream chunk");
    } else {
        prop_assert_eq!(out.len(), case.frames.len(), "frame count");
        for (i, (got, want)) in out.iter().zip(&case.frames).enumerate() {
            prop_assert!(got == want, "frame {} differs: {} bytes, expected {}", i, got.len(), want.len());
        }
    }
    prop_assert_eq!(error, case.oversized.then_some(Error::EMSGSIZE));
    Ok(())
}

/// Feeds the cut wire to `Framing::next` as a connection does: appending
/// each read, cutting every complete frame, resuming a delimiter search
/// where the last one stopped.
fn direct(case: &Case) -> Result<(), TestCaseError> {
    let mut buf = Vec::new();
    let (mut at, mut scanned) = (0, 0);
    let mut out = Vec::new();
    let mut error = None;
    let mut rest = &case.wire[..];
    'reads: for &cut in case.cuts.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (read, after) = rest.split_at(cut.min(rest.len()));
        rest = after;
        buf.extend_from_slice(read);
        loop {
            match case.framing.next(&buf[at..], scanned) {
                Ok(Next::Frame { start, len, consumed }) => {
                    out.push(buf[at + start..at + start + len].to_vec());
                    at += consumed;
                    scanned = 0;
                }
                Ok(Next::Incomplete) => {
                    scanned = buf.len() - at;
                    break;
                }
                Err(e) => {
                    error = Some(e);
                    break 'reads;
                }
            }
        }
        prop_assert!(buf.len() - at <= kept_bound(&case.framing), "{} bytes held back", buf.len() - at);
    }
    check_output(case, &out, error)
}

/// Sends the cut wire to a live loop, then the EOF; collects its `Data`
/// events up to `Eof` (or `Error` and `Closed`).
fn live(case: &Case) -> Result<(), TestCaseError> {
    let lp = Loop::new().unwrap();
    lp.set_read_size(case.read_size).unwrap();
    let (mut client, conn) = framed_pair(&lp, case.framing.clone());
    let mut seen = Vec::new();
    write_polling(&lp, &mut client, &case.wire, &case.cuts, case.max_events, &mut seen);
    client.shutdown(Shutdown::Write).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !has(&seen, EventKind::Eof, conn) && !has(&seen, EventKind::Closed, conn) {
        prop_assert!(Instant::now() < deadline, "no end after 60 s: {:?}", kinds(&seen));
        poll_into(&lp, case.max_events, Some(Duration::from_millis(20)), &mut seen);
    }
    let mine: Vec<&Got> = seen.iter().filter(|g| g.handle == conn).collect();
    let out: Vec<Vec<u8>> = mine.iter().filter(|g| g.kind == EventKind::Data).map(|g| g.data.clone()).collect();
    let errors: Vec<Option<Error>> = mine.iter().filter(|g| g.kind == EventKind::Error).map(|g| g.error).collect();
    prop_assert!(errors.len() <= 1, "errors: {:?}", errors);
    let last = mine.last().map(|g| (g.kind, g.error));
    if case.oversized {
        prop_assert_eq!(last, Some((EventKind::Closed, Some(Error::EMSGSIZE))));
    } else {
        prop_assert_eq!(last, Some((EventKind::Eof, None)));
    }
    check_output(case, &out, errors.first().copied().flatten())
}

/// One execution: mostly a direct case; one in [`LIVE_SHARE`] goes through
/// a live loop instead (with larger frames, so kept frames span reads).
#[derive(Debug, Clone)]
enum Part {
    Direct(Case),
    Live(Case),
}

#[test]
fn framers_deliver_random_frames_whole_or_fail_with_emsgsize() {
    let part = prop_oneof![
        LIVE_SHARE - 1 => case(false).prop_map(Part::Direct),
        1 => case(true).prop_map(Part::Live),
    ];
    fuzz::run("framing", 1000, part, |part| match part {
        Part::Direct(case) => direct(&case),
        Part::Live(case) => live(&case),
    });
}
