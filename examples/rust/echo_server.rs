//! echo_server — netcore's engine used directly from Rust: echoes every
//! byte it receives, on every connection.
//!
//!     cargo run --release -p netcore-core --example echo_server -- [HOST:]PORT
//!
//! HOST defaults to 127.0.0.1 (IPv6 as `[::1]:PORT`); PORT 0 picks a free
//! port. Prints `listening on HOST:PORT`, then serves. The first SIGINT or
//! SIGTERM stops accepting and closes every connection once what it was
//! sent is echoed (those still open after 5 s are reset), then exits 0.
//!
//! Flow control: `send` never blocks; when a connection's send queue is
//! above its high-water mark it refuses the bytes whole (`EAGAIN`). The
//! server then keeps them, stops reading that connection (`pause`, so TCP
//! slows the peer down) and sends them again on its `Writable` event. No
//! byte is dropped.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use netcore_core::{BindOptions, Error, EventKind, Handle, Loop};

/// Set by the signal handler (strictly async-signal-safe). A signal also
/// cuts a poll short; the loop looks at the flag at least every [`TICK`].
static STOP: AtomicBool = AtomicBool::new(false);
const TICK: Duration = Duration::from_millis(100);
/// How long the shutdown waits for connections to flush before resetting them.
const DRAIN: Duration = Duration::from_secs(5);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// `[HOST:]PORT` as (host, port); `[::1]:80` is IPv6.
fn parse_address(arg: &str) -> Option<(String, i64)> {
    let (host, port) = arg.rsplit_once(':').unwrap_or(("127.0.0.1", arg));
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_owned(), port.parse().ok()?))
}

/// One connection: bytes its send queue refused, and whether it is to
/// close once they are sent.
#[derive(Default)]
struct Conn {
    held: Vec<u8>,
    closing: bool,
}

/// Sends `data` on `h`, keeping what the queue refuses in `conn` (and
/// pausing the connection) until its `Writable` event.
fn echo(lp: &Loop, h: Handle, conn: &mut Conn, data: &[u8]) -> Result<(), Error> {
    if conn.held.is_empty() {
        match lp.send(h, data) {
            Err(e) if e == Error::EAGAIN => lp.pause(h)?,
            other => return other,
        }
    }
    conn.held.extend_from_slice(data);
    Ok(())
}

/// Handles one event of a connection. An error here ends only that
/// connection (its `Closed` event follows), never the server.
fn on_event(lp: &Loop, kind: EventKind, h: Handle, data: &[u8], conn: &mut Conn) -> Result<(), Error> {
    match kind {
        EventKind::Data => echo(lp, h, conn, data),
        EventKind::Writable if !conn.held.is_empty() => {
            lp.send(h, &conn.held)?;
            conn.held.clear();
            if conn.closing {
                lp.close(h)
            } else {
                lp.resume(h)
            }
        }
        EventKind::Eof if conn.held.is_empty() => lp.close(h),
        EventKind::Eof => {
            conn.closing = true;
            Ok(())
        }
        _ => Ok(()),
    }
}

fn serve(host: &str, port: i64) -> Result<(), Error> {
    let lp = Loop::new()?;
    let listener = lp.tcp_listen(host, port, &BindOptions::default(), 0)?;
    let local = lp.local_addr(listener)?;
    println!("listening on {}:{}", netcore_core::addr_host(&local), local.port());
    let mut conns: HashMap<Handle, Conn> = HashMap::new();
    let mut stopping = false;
    while !(stopping && conns.is_empty()) {
        if STOP.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            lp.close(listener)?;
            lp.timer_start(DRAIN, None, 0)?;
            for (&h, conn) in conns.iter_mut() {
                conn.closing = true;
                if conn.held.is_empty() {
                    let _ = lp.close(h); // already closing: nothing to do
                }
            }
        }
        let batch = lp.poll(256, Some(TICK))?;
        for ev in batch.events() {
            let h = ev.handle;
            match ev.kind {
                EventKind::Accepted if stopping => lp.close_reset(h)?,
                EventKind::Accepted => drop(conns.insert(h, Conn::default())),
                EventKind::Closed => drop(conns.remove(&h)),
                // The drain is over: reset what is left.
                EventKind::Timer => conns.keys().for_each(|&h| {
                    let _ = lp.close_reset(h); // closing already: its Closed is on the way
                }),
                kind => {
                    if let Some(conn) = conns.get_mut(&h) {
                        // A failing connection closes by itself.
                        let _ = on_event(&lp, kind, h, batch.data(ev), conn);
                    }
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "0".into());
    let Some((host, port)) = parse_address(&arg) else {
        eprintln!("usage: echo_server [HOST:]PORT");
        return ExitCode::from(2);
    };
    let handler = on_signal as extern "C" fn(libc::c_int) as *const () as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    match serve(&host, port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}
