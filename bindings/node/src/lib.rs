//! netcore for Node: the native half of `require('netcore')`.
//!
//! This crate is deliberately thin. It owns one netcore [`Loop`] per
//! `NativeLoop`, a thread that polls it, and the translation between netcore's
//! handles and the numbers JavaScript sees. Everything Node-flavoured (the
//! EventEmitter, argument checking, `Error` objects with `.code`, Promises,
//! ref counting of open handles) lives in the hand-written `index.js`.
//!
//! # How events reach JavaScript (and why this way)
//!
//! Each loop gets a dedicated thread that blocks in `Loop::poll(MAX, None)`
//! and hands every non-empty batch to JavaScript through ONE threadsafe
//! function call (not one call per event). The alternative, watching the
//! loop's embed fd from Node's own libuv loop, would avoid the thread hop, but
//! Node-API has no way to register a file descriptor with libuv (a `uv_poll_t`
//! needs the `uv_loop_t*`, which `napi_get_uv_event_loop` exposes only as an
//! opaque pointer with no ABI guarantee, and it breaks under worker threads and
//! Electron). The thread is also faster where it matters: polling, reading and
//! framing run on the second core while JavaScript handles the previous
//! batch, and the JS thread pays one `uv_async` wake-up per batch, not per
//! event. Node's event loop never waits on netcore: every call it makes
//! (`send`, `close`, ...) takes the loop's short operation lock only.
//!
//! Measured on the 2-core development machine (64-byte ping-pong echo,
//! client and server in one process): with 100 connections netcore moved
//! about 82k messages/s against 77k for Node's `net`, with ~80% of the CPU
//! time in the kernel's TCP stack and ~15% in node, the addon and JIT code
//! together. The price of the thread hop shows on a single connection's
//! round trip (about 14k messages/s against 73k): each message crosses two
//! threads. The embed-fd design would avoid that hop and is the way to go if
//! Node-API ever exposes fd watching.
//!
//! Flow control: at most [`IN_FLIGHT`] batches may be queued for JavaScript
//! at once; the poll thread waits for JavaScript to finish one before polling
//! again, so a slow consumer slows reading (and the kernel's windows do the
//! rest) instead of growing an unbounded queue.
//!
//! Data: each event's bytes are copied once out of the loop's arena (which is
//! reused by the next poll) into memory that becomes the Buffer's backing store
//! without a further copy. Small payloads share 64 KiB slabs (JavaScript sees
//! `subarray` views, as Node's pooled Buffers are); payloads of 16 KiB and
//! more get a Buffer of their own so a retained chunk never pins its neighbours.
//!
//! # Handles
//!
//! netcore's handles pack a slot index and a 31-bit generation into 63 bits,
//! more than a JavaScript number holds exactly. JavaScript therefore sees
//! small ids of its own, allocated from a counter that never repeats (2^53
//! would take centuries to exhaust), mapped here to the core's handles. The id
//! is also stored as the core handle's user value, so events name their id
//! without a lookup. An id leaves the map when its `Closed` event is
//! converted; any later use is `EBADHANDLE`.

#![deny(clippy::all)]

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use netcore_core::{
  BindOptions, ConnectOptions, Error as NcError, EventKind, Family, Framing, Handle, Loop, SockOption,
};
use parking_lot::{Condvar, Mutex};

/// Most events one poll returns (and one JavaScript call receives).
const MAX_EVENTS: usize = 1024;
/// Batches that may wait for JavaScript at once (see the module docs).
const IN_FLIGHT: usize = 2;
/// Numbers per event in the `meta` array handed to JavaScript.
const STRIDE: usize = 11;
/// Payloads at least this large get a Buffer of their own.
const OWN_BUFFER: usize = 16 << 10;
/// Size of the slabs small payloads are packed into.
const SLAB: usize = 64 << 10;
/// Largest id JavaScript can hold exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Identity hashing for the id map: ids are sequential integers.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
  fn finish(&self) -> u64 {
    self.0
  }
  fn write(&mut self, bytes: &[u8]) {
    for &b in bytes {
      self.0 = (self.0 << 8) | u64::from(b);
    }
  }
  fn write_u64(&mut self, n: u64) {
    // Spread sequential ids over the table (Fibonacci hashing).
    self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
  }
}

type IdMap = HashMap<u64, Handle, BuildHasherDefault<IdHasher>>;

/// What the poll thread and the JavaScript thread share.
struct Shared {
  core: Loop,
  ids: Mutex<IdMap>,
  next_id: AtomicU64,
  stop: AtomicBool,
  in_flight: Mutex<usize>,
  drained: Condvar,
}

impl Shared {
  fn alloc_id(&self) -> u64 {
    self.next_id.fetch_add(1, Ordering::Relaxed)
  }

  fn handle(&self, id: f64) -> std::result::Result<Handle, NcError> {
    if !((1.0..=MAX_SAFE_INTEGER).contains(&id) && id.fract() == 0.0) {
      return Err(NcError::EBADHANDLE);
    }
    self.ids.lock().get(&(id as u64)).copied().ok_or(NcError::EBADHANDLE)
  }

  /// Creates a handle under the map lock, so its `Closed` event (which the
  /// poll thread may see at once, e.g. for a connect that fails at the first
  /// attempt) cannot be converted before the id is in the map.
  fn create(&self, make: impl FnOnce(u64) -> netcore_core::Result<Handle>) -> f64 {
    let mut ids = self.ids.lock();
    let id = self.alloc_id();
    match make(id) {
      Ok(handle) => {
        ids.insert(id, handle);
        id as f64
      }
      Err(e) => f64::from(e.code()),
    }
  }
}

/// Releases one in-flight slot when JavaScript is done with a batch (or the
/// batch is dropped undelivered).
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
  fn drop(&mut self) {
    let mut n = self.0.in_flight.lock();
    *n = n.saturating_sub(1);
    self.0.drained.notify_all();
  }
}

/// One poll's events, ready to cross to the JavaScript thread.
struct RawBatch {
  /// `STRIDE` numbers per event: kind, id, listener id, error code, buffer
  /// index (-1 = no data), offset, length, address index (-1 = none), port,
  /// address family (4 or 6), value (send token or reconnect attempt).
  meta: Vec<f64>,
  bufs: Vec<Vec<u8>>,
  addrs: Vec<String>,
}

type BatchArgs = FnArgs<(Float64Array, Vec<Buffer>, Vec<String>)>;
type BatchFn = ThreadsafeFunction<RawBatch, Unknown<'static>, BatchArgs, Status, false>;

fn code_of(result: netcore_core::Result<()>) -> i32 {
  match result {
    Ok(()) => 0,
    Err(e) => e.code(),
  }
}

fn to_i64(value: f64) -> i64 {
  // Callers pass integers checked in JavaScript; anything else becomes an
  // out-of-range value the core rejects with EINVAL.
  if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15 {
    value as i64
  } else {
    -1
  }
}

/// Milliseconds from JavaScript; negative (or not finite) means "none".
fn millis(ms: f64) -> Option<Duration> {
  (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms.min(1.0e12) / 1000.0))
}

fn to_usize(value: f64) -> usize {
  if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value < 9.0e15 {
    value as usize
  } else {
    usize::MAX
  }
}

impl RawBatch {
  /// Copies a poll's events out of the loop's arena (which the next poll
  /// reuses) and maps handles to ids.
  fn convert(shared: &Shared, batch: &netcore_core::Batch<'_>) -> RawBatch {
    let events = batch.events();
    let mut out = RawBatch { meta: Vec::with_capacity(events.len() * STRIDE), bufs: Vec::new(), addrs: Vec::new() };
    let mut slab: Option<usize> = None;
    // Small-payload bytes not yet packed: sizes each slab no larger than needed.
    let mut small_left: usize = events.iter().map(|e| e.data_len()).filter(|&n| n < OWN_BUFFER).sum();
    for event in events {
      let mut id = event.userdata;
      let mut listener = 0u64;
      match event.kind {
        EventKind::Accepted => {
          // The new connection inherited the listener's user value (its id).
          listener = id;
          let mut ids = shared.ids.lock();
          id = shared.alloc_id();
          ids.insert(id, event.handle);
          let _ = shared.core.set_userdata(event.handle, id);
        }
        EventKind::Closed => {
          let mut ids = shared.ids.lock();
          if ids.get(&id) == Some(&event.handle) {
            ids.remove(&id);
          }
        }
        _ => {}
      }
      let data = batch.data(event);
      let (buf, offset) = if data.is_empty() {
        (-1.0, 0.0)
      } else if data.len() >= OWN_BUFFER {
        out.bufs.push(data.to_vec());
        ((out.bufs.len() - 1) as f64, 0.0)
      } else {
        let index = match slab {
          Some(i) if out.bufs[i].len() + data.len() <= SLAB => i,
          _ => {
            out.bufs.push(Vec::with_capacity(SLAB.min(small_left)));
            out.bufs.len() - 1
          }
        };
        slab = Some(index);
        let offset = out.bufs[index].len();
        out.bufs[index].extend_from_slice(data);
        small_left -= data.len();
        (index as f64, offset as f64)
      };
      let (addr, port, family) = match event.addr {
        Some(a) => {
          out.addrs.push(a.ip().to_string());
          ((out.addrs.len() - 1) as f64, f64::from(a.port()), if a.is_ipv4() { 4.0 } else { 6.0 })
        }
        None => (-1.0, 0.0, 0.0),
      };
      out.meta.extend_from_slice(&[
        f64::from(event.kind as i32),
        id as f64,
        listener as f64,
        f64::from(event.error.map_or(0, |e| e.code())),
        buf,
        offset,
        data.len() as f64,
        addr,
        port,
        family,
        event.value as f64,
      ]);
    }
    out
  }
}

/// The poll thread: waits for room, polls, converts, hands the batch over.
fn poll_thread(shared: Arc<Shared>, tsfn: Arc<BatchFn>) {
  loop {
    {
      let mut n = shared.in_flight.lock();
      while *n >= IN_FLIGHT && !shared.stop.load(Ordering::Acquire) {
        shared.drained.wait_for(&mut n, Duration::from_millis(200));
        if tsfn.aborted() {
          return;
        }
      }
    }
    if shared.stop.load(Ordering::Acquire) {
      return;
    }
    let raw = match shared.core.poll(MAX_EVENTS, None) {
      Ok(batch) => RawBatch::convert(&shared, &batch),
      Err(e) => {
        // Only a broken epoll instance gets here; report it and back off.
        std::thread::sleep(Duration::from_millis(50));
        RawBatch {
          meta: vec![
            f64::from(EventKind::Error as i32),
            0.0,
            0.0,
            f64::from(e.code()),
            -1.0,
            0.0,
            0.0,
            -1.0,
            0.0,
            0.0,
            0.0,
          ],
          bufs: Vec::new(),
          addrs: Vec::new(),
        }
      }
    };
    if shared.stop.load(Ordering::Acquire) {
      return;
    }
    if raw.meta.is_empty() {
      continue;
    }
    *shared.in_flight.lock() += 1;
    let slot = InFlight(shared.clone());
    let status = tsfn.call_with_return_value(raw, ThreadsafeFunctionCallMode::NonBlocking, move |_, _| {
      drop(slot);
      Ok(())
    });
    if status != Status::Ok {
      // The environment is going away (process exit or worker teardown).
      return;
    }
  }
}

/// The address of a socket, as JavaScript sees it.
#[napi(object)]
pub struct AddressInfo {
  pub address: String,
  pub port: u32,
  pub family: String,
}

fn address_info(addr: SocketAddr) -> AddressInfo {
  AddressInfo {
    address: addr.ip().to_string(),
    port: u32::from(addr.port()),
    family: if addr.is_ipv4() { "IPv4" } else { "IPv6" }.to_owned(),
  }
}

/// One entry of the error table (`errorTable()`).
#[napi(object)]
pub struct ErrorInfo {
  pub code: i32,
  pub name: String,
  pub message: String,
}

/// Every error code netcore defines, with its name and description.
#[napi]
pub fn error_table() -> Vec<ErrorInfo> {
  NcError::ALL
    .iter()
    .map(|e| ErrorInfo { code: e.code(), name: e.name().to_owned(), message: e.message().to_owned() })
    .collect()
}

/// Limits the JavaScript layer checks arguments against.
#[napi(object)]
pub struct Limits {
  pub max_delimiter: u32,
  pub max_frame: f64,
  pub default_high_water: u32,
  pub default_low_water: u32,
}

#[napi]
pub fn limits() -> Limits {
  Limits {
    max_delimiter: netcore_core::MAX_DELIMITER as u32,
    max_frame: netcore_core::MAX_FRAME_LIMIT as f64,
    default_high_water: netcore_core::DEFAULT_HIGH_WATER,
    default_low_water: netcore_core::DEFAULT_LOW_WATER,
  }
}

/// A netcore loop and its poll thread. Methods return 0 or a negative netcore
/// error code (handle-creating ones a positive id or a negative code): the
/// JavaScript layer turns codes into `Error`s with `.code`, so no exception is
/// built on the hot path.
#[napi]
pub struct NativeLoop {
  shared: Arc<Shared>,
  tsfn: Arc<BatchFn>,
  thread: Option<JoinHandle<()>>,
  referenced: bool,
}

#[napi]
impl NativeLoop {
  /// Creates the loop and starts its poll thread. `on_batch(meta, buffers,
  /// addresses)` is called on the JavaScript thread once per batch. The loop
  /// starts unreferenced: it keeps the process alive only after `setRef(true)`.
  #[napi(constructor)]
  pub fn new(
    env: Env,
    #[napi(ts_arg_type = "(meta: Float64Array, buffers: Buffer[], addresses: string[]) => void")] on_batch: Function<
      'static,
      BatchArgs,
      Unknown<'static>,
    >,
  ) -> Result<Self> {
    let core = Loop::new().map_err(|e| Error::new(Status::GenericFailure, format!("netcore: {e}")))?;
    let tsfn: BatchFn =
      on_batch.build_threadsafe_function::<RawBatch>().callee_handled::<false>().build_callback(|ctx| {
        let RawBatch { meta, bufs, addrs } = ctx.value;
        let bufs = bufs.into_iter().map(Buffer::from).collect();
        Ok(FnArgs::from((Float64Array::new(meta), bufs, addrs)))
      })?;
    // SAFETY: on the JavaScript thread, with a live threadsafe function.
    unsafe { sys::napi_unref_threadsafe_function(env.raw(), tsfn.raw()) };
    let tsfn = Arc::new(tsfn);
    let shared = Arc::new(Shared {
      core,
      ids: Mutex::new(IdMap::default()),
      next_id: AtomicU64::new(1),
      stop: AtomicBool::new(false),
      in_flight: Mutex::new(0),
      drained: Condvar::new(),
    });
    let thread = {
      let shared = shared.clone();
      let tsfn = tsfn.clone();
      std::thread::Builder::new()
        .name("netcore-poll".into())
        .spawn(move || poll_thread(shared, tsfn))
        .map_err(|e| Error::new(Status::GenericFailure, format!("netcore: cannot start the poll thread: {e}")))?
    };
    Ok(NativeLoop { shared, tsfn, thread: Some(thread), referenced: false })
  }

  /// Keeps (true) or stops keeping (false) the process alive for this loop.
  #[napi]
  pub fn set_ref(&mut self, env: Env, referenced: bool) {
    if referenced == self.referenced || self.thread.is_none() {
      return;
    }
    self.referenced = referenced;
    // SAFETY: on the JavaScript thread; the function lives while `self.tsfn` does.
    unsafe {
      if referenced {
        sys::napi_ref_threadsafe_function(env.raw(), self.tsfn.raw());
      } else {
        sys::napi_unref_threadsafe_function(env.raw(), self.tsfn.raw());
      }
    }
  }

  /// Stops and joins the poll thread and closes every handle at once (reset).
  #[napi]
  pub fn close(&mut self, env: Env) {
    self.set_ref(env, false);
    self.shutdown();
  }

  fn shutdown(&mut self) {
    let Some(thread) = self.thread.take() else { return };
    self.shared.stop.store(true, Ordering::Release);
    {
      let _n = self.shared.in_flight.lock();
      self.shared.drained.notify_all();
    }
    self.shared.core.wake();
    let _ = thread.join();
    let handles: Vec<Handle> = self.shared.ids.lock().drain().map(|(_, h)| h).collect();
    for handle in handles {
      let _ = self.shared.core.close_reset(handle);
    }
  }

  #[napi]
  pub fn listen(&self, host: String, port: f64, backlog: i32, reuse_port: bool, ipv6_only: bool) -> f64 {
    let opts = BindOptions { backlog, reuse_port, ipv6_only };
    self.shared.create(|id| self.shared.core.tcp_listen(&host, to_i64(port), &opts, id))
  }

  /// `timeout_ms` and `attempt_delay_ms` < 0 mean the default; `family` is
  /// 0 (any), 4 or 6; an empty `local_host` means no local bind.
  #[napi]
  #[allow(clippy::too_many_arguments)]
  pub fn connect(
    &self,
    host: String,
    port: f64,
    timeout_ms: f64,
    family: u32,
    local_host: String,
    local_port: f64,
    attempt_delay_ms: f64,
    reconnect_ms: Vec<f64>,
  ) -> f64 {
    let family = match family {
      0 => Family::Any,
      4 => Family::V4,
      6 => Family::V6,
      _ => return f64::from(NcError::EINVAL.code()),
    };
    let local_addr = if local_host.is_empty() {
      None
    } else {
      match netcore_core::socket_addr(&local_host, to_i64(local_port)) {
        Ok(a) => Some(a),
        Err(e) => return f64::from(e.code()),
      }
    };
    let mut reconnect = Vec::with_capacity(reconnect_ms.len());
    for ms in reconnect_ms {
      match millis(ms) {
        Some(d) => reconnect.push(d),
        None => return f64::from(NcError::EINVAL.code()),
      }
    }
    let opts = ConnectOptions {
      timeout: millis(timeout_ms),
      family,
      local_addr,
      attempt_delay: millis(attempt_delay_ms),
      reconnect,
    };
    self.shared.create(|id| self.shared.core.tcp_connect_with(&host, to_i64(port), &opts, id))
  }

  /// Answers `name` with these IP literals for this loop's connections (an
  /// empty list removes the entry).
  #[napi]
  pub fn set_host_addresses(&self, name: String, addresses: Vec<String>) -> i32 {
    let mut ips = Vec::with_capacity(addresses.len());
    for a in &addresses {
      match netcore_core::ip_literal(a) {
        Some(ip) => ips.push(ip),
        None => return NcError::EINVAL.code(),
      }
    }
    code_of(self.shared.core.set_host_addresses(&name, &ips))
  }

  /// A timer: `delay_ms`, then every `repeat_ms` if > 0.
  #[napi]
  pub fn timer(&self, delay_ms: f64, repeat_ms: f64) -> f64 {
    let Some(delay) = millis(delay_ms) else { return f64::from(NcError::EINVAL.code()) };
    let repeat = if repeat_ms > 0.0 { millis(repeat_ms) } else { None };
    self.shared.create(|id| self.shared.core.timer_start(delay, repeat, id))
  }

  /// `timeout_ms` <= 0 turns the idle timeout off.
  #[napi]
  pub fn set_idle_timeout(&self, id: f64, timeout_ms: f64) -> i32 {
    let timeout = if timeout_ms > 0.0 { millis(timeout_ms) } else { None };
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.set_idle_timeout(h, timeout)))
  }

  #[napi]
  pub fn set_max_connections(&self, id: f64, max: f64) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.set_max_connections(h, to_usize(max))))
  }

  #[napi]
  pub fn shutdown_server(&self, id: f64, drain_ms: f64) -> i32 {
    let Some(drain) = millis(drain_ms) else { return NcError::EINVAL.code() };
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.shutdown_server(h, drain)))
  }

  #[napi]
  pub fn multicast(&self, id: f64, group: String, interface: String, join: bool) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.udp_multicast(h, &group, &interface, join)))
  }

  #[napi]
  pub fn set_raw_option(&self, id: f64, level: i32, name: i32, value: &[u8]) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.set_raw_option(h, level, name, value)))
  }

  /// The option's bytes, or a negative error code.
  #[napi]
  pub fn get_raw_option(&self, id: f64, level: i32, name: i32, size: u32) -> Either<Buffer, i32> {
    let mut value = vec![0u8; size.min(1 << 16) as usize];
    match self.shared.handle(id).and_then(|h| self.shared.core.get_raw_option(h, level, name, &mut value)) {
      Ok(n) => {
        value.truncate(n);
        Either::A(value.into())
      }
      Err(e) => Either::B(e.code()),
    }
  }

  /// The socket's file descriptor (>= 0) or a negative error code.
  #[napi]
  pub fn fd(&self, id: f64) -> i32 {
    match self.shared.handle(id).and_then(|h| self.shared.core.raw_fd(h)) {
      Ok(fd) => fd,
      Err(e) => e.code(),
    }
  }

  #[napi]
  pub fn udp_bind(&self, host: String, port: f64, reuse_port: bool, ipv6_only: bool) -> f64 {
    let opts = BindOptions { reuse_port, ipv6_only, ..BindOptions::default() };
    self.shared.create(|id| self.shared.core.udp_bind(&host, to_i64(port), &opts, id))
  }

  #[napi]
  pub fn udp_connect(&self, id: f64, host: String, port: f64) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.udp_connect(h, &host, to_i64(port))))
  }

  /// Sends a Buffer or Uint8Array (borrowed for the call: queued bytes are copied by the core).
  #[napi]
  pub fn send(&self, id: f64, data: &[u8]) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.send(h, data)))
  }

  /// Sends a string as UTF-8.
  #[napi]
  pub fn send_string(&self, id: f64, data: String) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.send(h, data.as_bytes())))
  }

  #[napi]
  pub fn sendv(&self, id: f64, bufs: Vec<&[u8]>) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.send_vectored(h, &bufs)))
  }

  /// Sends with a token: a `Sent` event carrying it follows once the bytes
  /// reached the kernel.
  #[napi]
  pub fn send_token(&self, id: f64, bufs: Vec<&[u8]>, token: f64) -> i32 {
    let token = to_i64(token);
    if token < 0 {
      return NcError::EINVAL.code();
    }
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.send_with_token(h, &bufs, Some(token as u64))))
  }

  #[napi]
  pub fn send_to(&self, id: f64, host: String, port: f64, data: &[u8]) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.send_to(h, &host, to_i64(port), data)))
  }

  #[napi]
  pub fn close_handle(&self, id: f64) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.close(h)))
  }

  #[napi]
  pub fn close_reset(&self, id: f64) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.close_reset(h)))
  }

  #[napi]
  pub fn shutdown_handle(&self, id: f64) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.shutdown(h)))
  }

  #[napi]
  pub fn pause(&self, id: f64) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.pause(h)))
  }

  #[napi]
  pub fn resume(&self, id: f64) -> i32 {
    code_of(self.shared.handle(id).and_then(|h| self.shared.core.resume(h)))
  }

  /// mode: 0 stream, 1 delimited, 2 fixed, 3 length-prefixed.
  #[napi]
  pub fn set_framing(&self, id: f64, mode: u32, delimiter: &[u8], size: f64, header: u32, max: f64) -> i32 {
    let framing = match mode {
      0 => Ok(Framing::Stream),
      1 => Framing::delimited(delimiter, to_usize(max)),
      2 => Framing::fixed(to_usize(size)),
      3 => Framing::length_prefixed(header as usize, to_usize(max)),
      _ => Err(NcError::EINVAL),
    };
    code_of(framing.and_then(|f| self.shared.handle(id).and_then(|h| self.shared.core.set_framing(h, f))))
  }

  #[napi]
  pub fn set_option(&self, id: f64, option: i32, value: f64) -> i32 {
    let result = SockOption::from_raw(option)
      .and_then(|o| self.shared.handle(id).and_then(|h| self.shared.core.set_option(h, o, to_i64(value))));
    code_of(result)
  }

  /// `[0, value]`, or `[code, 0]` with a negative error code (values may be
  /// negative themselves: linger -1 means off).
  #[napi]
  pub fn get_option(&self, id: f64, option: i32) -> Vec<f64> {
    let result =
      SockOption::from_raw(option).and_then(|o| self.shared.handle(id).and_then(|h| self.shared.core.get_option(h, o)));
    match result {
      Ok(v) => vec![0.0, v as f64],
      Err(e) => vec![f64::from(e.code()), 0.0],
    }
  }

  #[napi]
  pub fn local_address(&self, id: f64) -> Either<AddressInfo, i32> {
    match self.shared.handle(id).and_then(|h| self.shared.core.local_addr(h)) {
      Ok(a) => Either::A(address_info(a)),
      Err(e) => Either::B(e.code()),
    }
  }

  #[napi]
  pub fn remote_address(&self, id: f64) -> Either<AddressInfo, i32> {
    match self.shared.handle(id).and_then(|h| self.shared.core.peer_addr(h)) {
      Ok(a) => Either::A(address_info(a)),
      Err(e) => Either::B(e.code()),
    }
  }

  /// 1 listener, 2 connection, 3 UDP, 4 timer, or a negative error code.
  #[napi]
  pub fn kind(&self, id: f64) -> i32 {
    match self.shared.handle(id).and_then(|h| self.shared.core.kind(h)) {
      Ok(kind) => kind as i32,
      Err(e) => e.code(),
    }
  }

  /// Open handles, as the core counts them.
  #[napi]
  pub fn handle_count(&self) -> u32 {
    self.shared.core.handle_count() as u32
  }
}

impl Drop for NativeLoop {
  fn drop(&mut self) {
    // Reached when JavaScript garbage-collects a loop it never closed.
    self.shutdown();
  }
}
