//! netcore for Node: the native half of `require('netcore')`. It owns one
//! netcore [`Loop`] per `NativeLoop`, drives it from Node's own event loop
//! (a libuv poll handle on the core's fd and a timer for its deadlines, no
//! thread) and converts between the core's types and JavaScript's; the
//! hand-written `index.js` does everything Node-flavoured. How and why:
//! `docs/design.md`, section 6.

#![deny(clippy::all)]

use std::cell::Cell;
use std::ffi::c_void;
use std::net::SocketAddr;
use std::os::raw::c_int;
use std::ptr;
use std::rc::Rc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::sys;
use napi::JsValue;
use napi_derive::napi;
use netcore_core::{
  addr_host, ArgKind, DatagramToSend, Detail, Error as NcError, EventKind, Handle, Loop, Output, Value, OPERATIONS,
};

mod tls;

/// Most events one poll returns (and one JavaScript call receives).
const MAX_EVENTS: usize = 1024;
/// Numbers per event in the `meta` array JavaScript reads.
const STRIDE: usize = 11;
/// Bytes of the `meta` array the driver writes.
const META_BYTES: usize = MAX_EVENTS * STRIDE * std::mem::size_of::<f64>();
/// Payloads at least this large get a Buffer of their own.
const OWN_BUFFER: usize = 32 << 10;
/// How long the driver waits before polling again after the core failed to poll.
const BACKOFF_MS: u64 = 50;
/// How many of a batch's last distinct peer addresses an event's is compared with.
const RECENT_PEERS: usize = 8;
/// Largest id JavaScript can hold exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The part of libuv's API the driver uses. Node exports these symbols; they
/// resolve against the running `node` when the addon is loaded.
mod uv {
  use std::ffi::c_void;
  use std::os::raw::c_int;

  /// `UV_POLL` and `UV_TIMER` in `uv_handle_type` (stable across libuv 1.x).
  pub const POLL: c_int = 8;
  pub const TIMER: c_int = 13;
  /// `UV_READABLE` in `uv_poll_event`.
  pub const READABLE: c_int = 1;

  pub type PollCb = unsafe extern "C" fn(*mut c_void, c_int, c_int);
  pub type TimerCb = unsafe extern "C" fn(*mut c_void);
  pub type CloseCb = unsafe extern "C" fn(*mut c_void);

  extern "C" {
    pub fn uv_handle_size(kind: c_int) -> usize;
    pub fn uv_poll_init(event_loop: *mut c_void, handle: *mut c_void, fd: c_int) -> c_int;
    pub fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
    pub fn uv_poll_stop(handle: *mut c_void) -> c_int;
    pub fn uv_timer_init(event_loop: *mut c_void, handle: *mut c_void) -> c_int;
    pub fn uv_timer_start(handle: *mut c_void, cb: TimerCb, timeout: u64, repeat: u64) -> c_int;
    pub fn uv_timer_stop(handle: *mut c_void) -> c_int;
    pub fn uv_close(handle: *mut c_void, cb: Option<CloseCb>);
    pub fn uv_ref(handle: *mut c_void);
    pub fn uv_unref(handle: *mut c_void);
    /// A handle's `data` field: the driver's address.
    pub fn uv_handle_set_data(handle: *mut c_void, data: *mut c_void);
    pub fn uv_handle_get_data(handle: *const c_void) -> *mut c_void;
    pub fn malloc(size: usize) -> *mut c_void;
    pub fn free(ptr: *mut c_void);
  }
}

/// Runs `f`, turning a panic (a bug) into `EPANIC`: no panic unwinds into V8 or libuv.
fn guarded<T>(f: impl FnOnce() -> netcore_core::Result<T>) -> netcore_core::Result<T> {
  std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(Err(NcError::EPANIC))
}

thread_local! {
  /// The detail of the last code [`fail`] returned (cleared if none), read once by [`error_detail`].
  static DETAIL: Cell<Option<&'static Detail>> = const { Cell::new(None) };
}

/// An error's code, for JavaScript; its detail (or none) is kept for [`error_detail`].
fn fail(e: NcError) -> i32 {
  DETAIL.with(|d| d.set(e.detail()));
  e.code()
}

/// 0, or a negative code (see [`fail`]).
fn code_of<T>(result: netcore_core::Result<T>) -> i32 {
  result.map_or_else(fail, |_| 0)
}

/// A value for JavaScript, or a negative code (see [`fail`]).
fn either<T, U>(result: netcore_core::Result<T>, f: impl FnOnce(T) -> U) -> Either<U, i32> {
  result.map_or_else(|e| Either::B(fail(e)), |v| Either::A(f(v)))
}

/// An integer from JavaScript; anything else becomes a value out of every
/// range the core accepts (-1 would not do: linger -1 means off).
fn to_i64(value: f64) -> i64 {
  if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15 {
    value as i64
  } else {
    i64::MIN
  }
}

/// Milliseconds from JavaScript (index.js checks they are not negative);
/// beyond `MAX_DURATION` (Infinity included), the longest `Duration`: never.
fn millis(ms: f64) -> Duration {
  Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX)
}

fn napi_error(what: &str) -> Error {
  Error::new(Status::GenericFailure, format!("netcore: {what}"))
}

/// Runs the body of a napi-rs function, turning a panic (a bug) into an `EPANIC` error.
fn napi_guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
  guarded(|| Ok(f())).unwrap_or_else(|e| Err(napi_error(e.name())))
}

/// Where one batch's values go while it is converted.
struct BatchOut {
  /// The event numbers' memory (MAX_EVENTS * STRIDE numbers).
  meta: *mut f64,
  /// The pool's memory and length, checked for this batch, and its buffer
  /// index: 0 for the one the batch started with, k for `extra[k - 1]`.
  pool: Option<(*mut u8, usize)>,
  pool_index: f64,
  /// Buffers 1.. of the batch: payloads with a Buffer of their own, and
  /// pools made in mid-batch.
  extra: Vec<sys::napi_value>,
  /// The batch's address strings, and the IP addresses (port 0) among them
  /// with each one's index.
  addrs: Vec<sys::napi_value>,
  hosts: Vec<(SocketAddr, f64)>,
  /// What `newPool()` threw, rethrown once the batch is delivered.
  exception: Option<sys::napi_value>,
}

/// A loop and everything the JavaScript thread drives it with. Shared (`Rc`)
/// by the `NativeLoop`, both libuv handles (until their close callbacks) and
/// the environment cleanup hook (until the loop is closed).
struct Driver {
  env: sys::napi_env,
  core: Loop,
  /// `uv_poll_t` on the core's embed fd, `uv_timer_t` for its deadlines
  /// (memory from `malloc`, freed by their close callbacks).
  poll: *mut c_void,
  timer: *mut c_void,
  /// The batch callback (also the receiver and async resource of each call).
  /// Weak while the loop has no open handle: it reaches the JavaScript Loop,
  /// so a strong reference would keep a dropped loop (and this driver) alive.
  callback: Cell<sys::napi_ref>,
  /// Whether `callback` is strong (see [`Driver::hold`]).
  held: Cell<bool>,
  async_context: Cell<sys::napi_async_context>,
  /// The ArrayBuffer of the `Float64Array` events are described in, and
  /// where in it the array starts.
  meta_ref: Cell<sys::napi_ref>,
  meta_offset: usize,
  /// The ArrayBuffer of the pool Buffer small payloads are copied into,
  /// where in it the Buffer starts and its length, and the bytes handed out.
  pool: Cell<sys::napi_ref>,
  pool_span: Cell<(usize, usize)>,
  pool_used: Cell<usize>,
  /// JavaScript's `newPool()`, called for each pool (weak: the JavaScript
  /// Loop keeps it alive, as it does the batch callback).
  pool_maker: Cell<sys::napi_ref>,
  /// The `Rc` the cleanup hook holds (null once removed).
  hook: Cell<*const Driver>,
  closed: Cell<bool>,
  referenced: Cell<bool>,
  /// Polling failed: the fd watch is stopped until the timer restarts it.
  backoff: Cell<bool>,
}

impl Driver {
  /// The core handle `id` names: EBADHANDLE for anything but a positive
  /// integer JavaScript holds exactly.
  fn handle(&self, id: f64) -> netcore_core::Result<Handle> {
    let exact = (1.0..=MAX_SAFE_INTEGER).contains(&id) && id.fract() == 0.0;
    exact.then(|| Handle::from_raw(id as i64)).ok_or(NcError::EBADHANDLE)
  }

  /// Runs `op` with the core handle `id` names (EBADHANDLE if none); a panic
  /// (a bug) becomes EPANIC.
  fn on<T>(&self, id: f64, op: impl FnOnce(Handle) -> netcore_core::Result<T>) -> netcore_core::Result<T> {
    guarded(|| self.handle(id).and_then(op))
  }

  /// Runs `op`, which cannot fail but for a panic (a bug): 0 or EPANIC.
  fn run(&self, op: impl FnOnce(&Self)) -> i32 {
    code_of(guarded(|| {
      op(self);
      Ok(())
    }))
  }

  /// One turn: polls the core without waiting, hands the batch to
  /// JavaScript, re-arms the deadline timer. Called from libuv callbacks only.
  fn drive(&self) {
    if self.closed.get() {
      return;
    }
    let Some(_scope) = HandleScope::open(self.env) else { return };
    let Some(meta) = self.meta_array() else {
      // Only JavaScript detaching the private meta array gets here: poll
      // nothing (no event is lost) and do not spin on the fd either.
      return self.back_off();
    };
    let mut out = BatchOut {
      meta,
      pool: self.pool_memory(),
      pool_index: 0.0,
      extra: Vec::new(),
      addrs: Vec::new(),
      hosts: Vec::new(),
      exception: None,
    };
    let count = match self.core.poll(MAX_EVENTS, Some(Duration::ZERO)) {
      Ok(batch) => {
        let count = self.convert(&batch, &mut out);
        if count < batch.events().len() {
          batch.keep_from(count);
        }
        count
      }
      Err(e) => {
        // Only a broken epoll instance gets here: report it, and stop
        // watching the fd for a while instead of spinning on it.
        let code = f64::from(e.code());
        let error = [f64::from(EventKind::Error as i32), 0.0, 0.0, code, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0];
        write_meta(&out, 0, &error);
        self.back_off();
        1
      }
    };
    if count > 0 && !self.closed.get() {
      self.deliver(count, &out);
    }
    if let Some(err) = out.exception {
      // SAFETY: on the JavaScript thread inside a handle scope.
      unsafe { sys::napi_fatal_exception(self.env, err) };
    }
    if !self.closed.get() && !self.backoff.get() {
      self.arm_timer();
    }
  }

  /// Stops watching the fd; the timer restarts it after [`BACKOFF_MS`].
  fn back_off(&self) {
    self.backoff.set(true);
    // SAFETY: live handles (the loop is not closed).
    unsafe {
      uv::uv_poll_stop(self.poll);
      uv::uv_timer_start(self.timer, on_timer, BACKOFF_MS, 0);
    }
  }

  /// The memory of the meta array, checked again for every batch (an
  /// ArrayBuffer can be detached from JavaScript).
  fn meta_array(&self) -> Option<*mut f64> {
    let end = self.meta_offset + META_BYTES;
    // SAFETY: on the JavaScript thread inside a handle scope, with a live
    // reference; the ArrayBuffer holds `end` bytes, and the offset of a
    // Float64Array is a multiple of 8.
    unsafe { Some(buffer_memory(self.env, self.meta_ref.get(), end)?.add(self.meta_offset).cast()) }
  }

  /// Describes a poll's events in `meta` and copies their bytes out of the
  /// core's arena. Returns the number of events.
  fn convert(&self, batch: &netcore_core::Batch<'_>, out: &mut BatchOut) -> usize {
    let events = batch.events();
    for (index, event) in events.iter().enumerate().take(MAX_EVENTS) {
      let listener = event.listener.map_or(0, Handle::raw);
      let mut error = event.error.map_or(0, |e| e.code());
      let data = batch.data(event);
      let (buf, offset) = if data.is_empty() {
        (-1.0, 0.0)
      } else if data.len() >= OWN_BUFFER {
        match self.own_buffer(data, out) {
          Some(buf) => (buf as f64, 0.0),
          None => {
            error = NcError::ENOMEM.code();
            (-1.0, 0.0)
          }
        }
      } else {
        match self.pooled(data, out).or_else(|| self.roll_pool(out).and_then(|()| self.pooled(data, out))) {
          Some(offset) => (out.pool_index, offset as f64),
          // No pool came: this event and the rest wait for the next poll.
          None => return index,
        }
      };
      // The peer: an IP address (family 4 or 6), or the path a Unix
      // datagram came from (family 0).
      let (addr, port, family) = match (event.addr, batch.path(event)) {
        (Some(a), _) => (self.peer_host(a, out), f64::from(a.port()), if a.is_ipv4() { 4.0 } else { 6.0 }),
        (None, Some(path)) => (self.address_string(path, out), 0.0, 0.0),
        (None, None) => (-1.0, 0.0, 0.0),
      };
      write_meta(
        out,
        index,
        &[
          f64::from(event.kind as i32),
          event.handle.raw() as f64,
          listener as f64,
          f64::from(error),
          buf,
          offset,
          data.len() as f64,
          addr,
          port,
          family,
          event.value as f64,
        ],
      );
    }
    events.len().min(MAX_EVENTS)
  }

  /// The index in `out.addrs` of the string of `peer`'s IP address: the one
  /// of an earlier event of this batch from the same address (a batch's
  /// datagrams come from few peers), else a new one. -1 for none.
  fn peer_host(&self, peer: SocketAddr, out: &mut BatchOut) -> f64 {
    let mut host = peer;
    host.set_port(0);
    let recent = out.hosts.len().saturating_sub(RECENT_PEERS);
    if let Some(&(_, index)) = out.hosts[recent..].iter().rev().find(|(h, _)| *h == host) {
      return index;
    }
    let index = self.address_string(&addr_host(&peer), out);
    if index >= 0.0 {
      out.hosts.push((host, index));
    }
    index
  }

  /// Appends `text` to `out.addrs`: its index, or -1 if no string could be made.
  fn address_string(&self, text: &str, out: &mut BatchOut) -> f64 {
    // SAFETY: on the JavaScript thread inside a handle scope.
    match unsafe { string(self.env, text) } {
      Some(s) => {
        out.addrs.push(s);
        (out.addrs.len() - 1) as f64
      }
      None => -1.0,
    }
  }

  /// Copies a payload into a Buffer of its own: its buffer index, or `None`
  /// if no Buffer could be made (out of memory).
  fn own_buffer(&self, data: &[u8], out: &mut BatchOut) -> Option<usize> {
    // SAFETY: on the JavaScript thread inside a handle scope; `data` is valid.
    let copy =
      |v| unsafe { sys::napi_create_buffer_copy(self.env, data.len(), data.as_ptr().cast(), ptr::null_mut(), v) };
    out.extra.push(unsafe { written(copy)? });
    Some(out.extra.len())
  }

  /// Copies a small payload into the pool: its offset, or `None` if the
  /// pool has no room for it.
  fn pooled(&self, data: &[u8], out: &mut BatchOut) -> Option<usize> {
    let (memory, length) = out.pool?;
    let offset = self.pool_used.get();
    let end = offset + data.len();
    if end > length {
      return None;
    }
    // SAFETY: `memory` is the pool's, checked for this batch (JavaScript
    // does not run during a conversion), `length` bytes long, and this region
    // was never handed out.
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), memory.add(offset), data.len()) };
    self.pool_used.set(end);
    Some(offset)
  }

  /// Takes a new pool from JavaScript's `newPool()` (which runs no other
  /// JavaScript) in mid-batch, rather than keeping the rest of the batch for
  /// the next poll; it goes into the batch's buffers, where JavaScript finds
  /// its payloads. `None` if no pool came.
  fn roll_pool(&self, out: &mut BatchOut) -> Option<()> {
    let env = self.env;
    // SAFETY: on the JavaScript thread inside a handle scope, with live
    // references; the old pool's is ours (views of it keep it alive).
    unsafe {
      let maker = reference_value(env, self.pool_maker.get())?;
      let pool = written(|v| sys::napi_call_function(env, undefined(env), maker, 0, ptr::null(), v));
      let Some(pool) = pool else {
        out.exception = take_exception(env);
        return None;
      };
      let Some((sys::TypedarrayType::uint8_array, length, buffer, offset)) = typed_array(env, pool) else {
        return None;
      };
      sys::napi_delete_reference(env, self.pool.replace(reference(env, buffer, 1)));
      self.pool_span.set((offset, length));
      self.pool_used.set(0);
      out.pool = Some(self.pool_memory()?);
      out.extra.push(pool);
    }
    out.pool_index = out.extra.len() as f64;
    Some(())
  }

  /// The pool's memory and length, looked up for every batch (through its
  /// ArrayBuffer, cheaper than the Buffer): `None` for none (yet) or one detached.
  fn pool_memory(&self) -> Option<(*mut u8, usize)> {
    let (offset, length) = self.pool_span.get();
    // SAFETY: on the JavaScript thread inside a handle scope, with a live
    // reference; the ArrayBuffer holds `offset + length` bytes.
    unsafe { Some((buffer_memory(self.env, self.pool.get(), offset + length)?.add(offset), length)) }
  }

  /// An array of `items`, or `undefined` for none.
  fn array(&self, items: &[sys::napi_value]) -> sys::napi_value {
    // SAFETY: on the JavaScript thread inside a handle scope.
    unsafe {
      let array =
        (!items.is_empty()).then(|| written(|a| sys::napi_create_array_with_length(self.env, items.len(), a)));
      let Some(array) = array.flatten() else { return undefined(self.env) };
      for (i, &item) in items.iter().enumerate() {
        sys::napi_set_element(self.env, array, i as u32, item);
      }
      array
    }
  }

  /// Calls `onBatch(count, extra, addresses)` in a callback scope. An
  /// exception it lets through becomes an uncaught exception, as one thrown
  /// by any Node I/O callback does.
  fn deliver(&self, count: usize, out: &BatchOut) {
    let env = self.env;
    // SAFETY: on the JavaScript thread inside a handle scope, with live references.
    unsafe {
      let Some(func) = reference_value(env, self.callback.get()) else { return };
      let n = written(|v| sys::napi_create_uint32(env, count as u32, v)).unwrap_or_else(|| undefined(env));
      let argv = [n, self.array(&out.extra), self.array(&out.addrs)];
      let context = self.async_context.get();
      let called = written(|r| sys::napi_make_callback(env, context, func, func, argv.len(), argv.as_ptr(), r));
      if let Some(err) = called.is_none().then(|| take_exception(env)).flatten() {
        sys::napi_fatal_exception(env, err);
      }
    }
  }

  /// Arms the timer to the core's next deadline (which the core rounds up to
  /// whole milliseconds), or stops it when there is none.
  fn arm_timer(&self) {
    // SAFETY: a live handle (the loop is not closed).
    unsafe {
      match self.core.next_timeout() {
        Some(d) => {
          let ms = d.as_millis().min(u128::from(u32::MAX)) as u64;
          uv::uv_timer_start(self.timer, on_timer, ms, 0);
        }
        None => {
          uv::uv_timer_stop(self.timer);
        }
      }
    }
  }

  /// Makes the batch callback's reference strong (`true`: the loop has open
  /// handles, whose events must reach it) or weak (`false`: an unreferenced
  /// loop may be collected, which closes it).
  fn hold(&self, held: bool) {
    if !self.closed.get() && self.held.replace(held) != held {
      let change = if held { sys::napi_reference_ref } else { sys::napi_reference_unref };
      // SAFETY: on the JavaScript thread, with a live reference (not closed).
      unsafe { change(self.env, self.callback.get(), &mut 0) };
    }
  }

  fn set_ref(&self, referenced: bool) {
    if !self.closed.get() && self.referenced.replace(referenced) != referenced {
      let change = if referenced { uv::uv_ref } else { uv::uv_unref };
      // SAFETY: live handles (the loop is not closed).
      unsafe { [self.poll, self.timer].into_iter().for_each(|handle| change(handle)) };
    }
  }

  /// Closes the core loop (every socket at once, nothing more is delivered),
  /// the libuv handles and the JavaScript references (the core loop's memory
  /// goes with the last `Rc`). Idempotent; safe from inside a batch callback.
  fn close(&self) {
    if self.closed.replace(true) {
      return;
    }
    self.core.close_loop();
    let env = self.env;
    // SAFETY: on the JavaScript thread; each handle and reference is
    // released exactly once (guarded by `closed`).
    unsafe {
      uv::uv_close(self.poll, Some(on_closed));
      uv::uv_close(self.timer, Some(on_closed));
      let hook = self.hook.replace(ptr::null());
      if !hook.is_null() {
        sys::napi_remove_env_cleanup_hook(env, Some(cleanup_hook), hook as *mut c_void);
        drop(Rc::from_raw(hook));
      }
      for reference in [&self.callback, &self.meta_ref, &self.pool, &self.pool_maker] {
        sys::napi_delete_reference(env, reference.replace(ptr::null_mut()));
      }
      sys::napi_async_destroy(env, self.async_context.replace(ptr::null_mut()));
    }
  }
}

/// A handle scope, closed when dropped (also while a panic unwinds).
struct HandleScope {
  env: sys::napi_env,
  scope: sys::napi_handle_scope,
}

impl HandleScope {
  fn open(env: sys::napi_env) -> Option<Self> {
    // SAFETY: on the JavaScript thread, outside any other N-API call.
    unsafe { written(|scope| sys::napi_open_handle_scope(env, scope)) }.map(|scope| HandleScope { env, scope })
  }
}

impl Drop for HandleScope {
  fn drop(&mut self) {
    // SAFETY: the scope opened in `open`, innermost (scopes nest with the calls).
    unsafe { sys::napi_close_handle_scope(self.env, self.scope) };
  }
}

/// Writes the numbers of event `index` (< MAX_EVENTS) of a batch.
fn write_meta(out: &BatchOut, index: usize, values: &[f64; STRIDE]) {
  debug_assert!(index < MAX_EVENTS);
  // SAFETY: `out.meta` holds MAX_EVENTS * STRIDE numbers, checked at the
  // start of this batch (JavaScript does not run during a conversion).
  unsafe { ptr::copy_nonoverlapping(values.as_ptr(), out.meta.add(index * STRIDE), STRIDE) };
}

// N-API helpers. Safety, for each: called on the JavaScript thread, inside a
// handle scope (but `reference` and `take_exception`), with live values and
// references (`buffer_memory`'s may be null).

/// A type an N-API call writes through an out-parameter, for which all-zero
/// bits are a valid value (0, false, null): `written` starts from zero, so a
/// call that reports success without writing yields no uninitialised memory.
trait NapiOut: Copy {}
impl NapiOut for bool {}
impl NapiOut for f64 {}
impl<P> NapiOut for *mut P {}

/// What an N-API call wrote through its last pointer, if it succeeded.
#[inline]
unsafe fn written<T: NapiOut>(call: impl FnOnce(*mut T) -> sys::napi_status) -> Option<T> {
  let mut value = std::mem::MaybeUninit::<T>::zeroed();
  (call(value.as_mut_ptr()) == sys::Status::napi_ok).then(|| value.assume_init())
}

/// The value of a reference, if it is alive.
unsafe fn reference_value(env: sys::napi_env, reference: sys::napi_ref) -> Option<sys::napi_value> {
  written(|v| sys::napi_get_reference_value(env, reference, v)).filter(|v| !v.is_null())
}

/// A typed array's kind, length, ArrayBuffer and byte offset in it.
unsafe fn typed_array(
  env: sys::napi_env,
  value: sys::napi_value,
) -> Option<(sys::napi_typedarray_type, usize, sys::napi_value, usize)> {
  let (mut kind, mut length, mut buffer, mut offset) = (sys::TypedarrayType::int8_array, 0, ptr::null_mut(), 0);
  let status =
    sys::napi_get_typedarray_info(env, value, &mut kind, &mut length, ptr::null_mut(), &mut buffer, &mut offset);
  (status == sys::Status::napi_ok).then_some((kind, length, buffer, offset))
}

/// An ArrayBuffer's memory and length (null and 0 once detached); `None`
/// for anything else (a SharedArrayBuffer included).
unsafe fn array_buffer(env: sys::napi_env, value: sys::napi_value) -> Option<(*mut u8, usize)> {
  let mut length = 0;
  let data: *mut c_void = written(|data| sys::napi_get_arraybuffer_info(env, value, data, &mut length))?;
  Some((data.cast(), length))
}

/// The memory of the ArrayBuffer `reference` holds, if it is alive and holds
/// at least `size` bytes (a detached one holds none).
unsafe fn buffer_memory(env: sys::napi_env, reference: sys::napi_ref, size: usize) -> Option<*mut u8> {
  let (data, length) = array_buffer(env, reference_value(env, reference)?)?;
  (!data.is_null() && length >= size).then_some(data)
}

/// A new string.
unsafe fn string(env: sys::napi_env, s: &str) -> Option<sys::napi_value> {
  written(|v| sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, v))
}

/// A new reference to `value` (weak for a `count` of 0), or null if none could be made.
unsafe fn reference(env: sys::napi_env, value: sys::napi_value, count: u32) -> sys::napi_ref {
  written(|r| sys::napi_create_reference(env, value, count, r)).unwrap_or(ptr::null_mut())
}

/// `undefined`.
unsafe fn undefined(env: sys::napi_env) -> sys::napi_value {
  written(|v| sys::napi_get_undefined(env, v)).unwrap_or(ptr::null_mut())
}

/// Takes the pending exception, if there is one.
unsafe fn take_exception(env: sys::napi_env) -> Option<sys::napi_value> {
  let pending = written(|p| sys::napi_is_exception_pending(env, p)) == Some(true);
  pending.then(|| written(|err| sys::napi_get_and_clear_last_exception(env, err))).flatten()
}

/// Recovers the driver of a libuv handle.
///
/// # Safety
/// `handle` is one of a driver's handles, not yet closed (its `Rc` lives).
unsafe fn driver<'a>(handle: *mut c_void) -> &'a Driver {
  &*(uv::uv_handle_get_data(handle) as *const Driver)
}

/// Runs a callback from libuv or Node, keeping a panic (a bug) from
/// unwinding into C.
fn no_unwind(f: impl FnOnce()) {
  let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

unsafe extern "C" fn on_poll(handle: *mut c_void, status: c_int, _events: c_int) {
  no_unwind(|| {
    let d = driver(handle);
    if status < 0 {
      // libuv stopped the watch (POLLERR): poll once more (a broken epoll
      // instance is reported as an error event), retry the watch later.
      d.back_off();
    }
    d.drive();
  })
}

unsafe extern "C" fn on_timer(handle: *mut c_void) {
  no_unwind(|| {
    let d = driver(handle);
    if d.backoff.replace(false) {
      uv::uv_poll_start(d.poll, uv::READABLE, on_poll);
    }
    d.drive();
  })
}

/// The close callback of both handles: releases the handle's `Rc` and memory.
unsafe extern "C" fn on_closed(handle: *mut c_void) {
  no_unwind(|| drop(Rc::from_raw(uv::uv_handle_get_data(handle) as *const Driver)));
  uv::free(handle);
}

/// The environment is going away (worker exit, process teardown) with the
/// loop still open: close it so libuv can close its own loop.
unsafe extern "C" fn cleanup_hook(arg: *mut c_void) {
  no_unwind(|| (*(arg as *const Driver)).close());
}

/// `send(id, bytes)` bound to one loop: a plain N-API function (see
/// [`NativeLoop::send_function`]). Returns true (sent), false (EAGAIN) or
/// another negative netcore code: a boolean costs no handle, a number does.
unsafe extern "C" fn raw_send(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  let code = code_of(guarded(|| send_call(env, info)));
  let boolean = code == 0 || code == NcError::EAGAIN.code();
  let result =
    written(|r| if boolean { sys::napi_get_boolean(env, code == 0, r) } else { sys::napi_create_int32(env, code, r) });
  result.unwrap_or(ptr::null_mut())
}

unsafe fn send_call(env: sys::napi_env, info: sys::napi_callback_info) -> netcore_core::Result<()> {
  let mut argc = 2usize;
  let mut argv = [ptr::null_mut(); 2];
  let mut data = ptr::null_mut();
  if sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) != sys::Status::napi_ok
    || argc < 2
    || data.is_null()
  {
    return Err(NcError::EINVAL);
  }
  // The function's own `Rc` (released by its finalizer) keeps the driver alive.
  let d = &*(data as *const Driver);
  let id = written(|id| sys::napi_get_value_double(env, argv[0], id)).ok_or(NcError::EBADHANDLE)?;
  // The bytes of any ArrayBufferView (index.js passes Uint8Arrays): cheaper
  // to ask for than a typed array's kind, length and memory.
  let (mut bytes, mut len) = (ptr::null_mut(), 0usize);
  if sys::napi_get_buffer_info(env, argv[1], &mut bytes, &mut len) != sys::Status::napi_ok {
    return Err(NcError::EINVAL);
  }
  let bytes = if len == 0 || bytes.is_null() { &[][..] } else { std::slice::from_raw_parts(bytes as *const u8, len) };
  d.handle(id).and_then(|h| d.core.send(h, bytes))
}

/// Finalizer of a bound function: releases its `Rc` of the driver.
unsafe extern "C" fn release_driver(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  no_unwind(|| drop(Rc::from_raw(data as *const Driver)));
}

/// Allocates and initialises one libuv handle; on failure nothing is left over.
unsafe fn new_handle(kind: c_int, init: impl FnOnce(*mut c_void) -> c_int) -> Result<*mut c_void> {
  let memory = uv::malloc(uv::uv_handle_size(kind));
  if memory.is_null() {
    return Err(napi_error("out of memory"));
  }
  let rc = init(memory);
  if rc != 0 {
    uv::free(memory);
    return Err(napi_error(&format!("cannot watch the loop from libuv (error {rc})")));
  }
  Ok(memory)
}

/// The address of a socket, as JavaScript sees it (its keys in the order of `net`'s `address()`).
#[napi(object)]
pub struct AddressInfo {
  pub address: String,
  pub family: String,
  pub port: u32,
}

fn address_info(addr: SocketAddr) -> AddressInfo {
  AddressInfo {
    address: addr_host(&addr),
    family: if addr.is_ipv4() { "IPv4" } else { "IPv6" }.to_owned(),
    port: u32::from(addr.port()),
  }
}

/// The pid, uid and gid of a Unix connection's peer.
#[napi(object)]
pub struct Credentials {
  pub pid: i32,
  pub uid: u32,
  pub gid: u32,
}

/// A JavaScript value as the core takes an argument of `kind` (index.js
/// checked its type): a number is milliseconds for a duration kind, an
/// integer otherwise; an array, of durations or of strings; bytes, a Uint8Array's.
fn value(kind: ArgKind, arg: &Unknown<'_>) -> netcore_core::Result<Value> {
  let durations = matches!(kind, ArgKind::Duration | ArgKind::OptionalDuration | ArgKind::Durations);
  let number = |n: f64| if durations { Value::Duration(millis(n)) } else { Value::Int(to_i64(n)) };
  // SAFETY: each cast is to the type JavaScript reports for the value.
  let converted = unsafe {
    match arg.get_type() {
      Ok(ValueType::Undefined | ValueType::Null) => Ok(Value::Absent),
      Ok(ValueType::Boolean) => arg.cast::<bool>().map(Value::Bool),
      Ok(ValueType::Number) => arg.cast::<f64>().map(number),
      Ok(ValueType::String) => arg.cast::<String>().map(Value::Text),
      Ok(ValueType::Object) if arg.is_typedarray().unwrap_or(false) => {
        arg.cast::<&[u8]>().map(|b| Value::Bytes(b.to_vec()))
      }
      Ok(ValueType::Object) if durations => {
        arg.cast::<Vec<f64>>().map(|ms| Value::Durations(ms.into_iter().map(millis).collect()))
      }
      Ok(ValueType::Object) => arg.cast::<Vec<String>>().map(Value::Texts),
      _ => return Err(NcError::EINVAL),
    }
  };
  converted.map_err(|_| NcError::EINVAL)
}

/// An operation's result for JavaScript (see [`NativeLoop::invoke`]).
pub struct Reply(netcore_core::Result<Output>);

impl ToNapiValue for Reply {
  unsafe fn to_napi_value(env: sys::napi_env, reply: Reply) -> Result<sys::napi_value> {
    match reply.0 {
      Err(e) => i32::to_napi_value(env, fail(e)),
      Ok(Output::Nothing) => i32::to_napi_value(env, 0),
      Ok(Output::Handle(handle)) => f64::to_napi_value(env, handle.raw() as f64),
      Ok(Output::Int(n)) => Vec::to_napi_value(env, vec![n as f64]),
      Ok(Output::Bool(flag)) => bool::to_napi_value(env, flag),
      Ok(Output::Addr(addr)) => AddressInfo::to_napi_value(env, address_info(addr)),
      Ok(Output::Bytes(bytes)) => Buffer::to_napi_value(env, bytes.into()),
      Ok(Output::Name(name)) => <&str>::to_napi_value(env, name),
      Ok(Output::Path(path)) => Option::to_napi_value(env, path),
      Ok(Output::Credentials(c)) => Credentials::to_napi_value(env, Credentials { pid: c.pid, uid: c.uid, gid: c.gid }),
    }
  }
}

/// Parses an address as every method that takes one does (an IP literal,
/// IPv6 with an optional zone, or `localhost`) and formats it as every
/// address this binding returns; a negative error code if it is not one.
#[napi]
pub fn parse_address(host: String, port: f64) -> Either<AddressInfo, i32> {
  either(guarded(|| netcore_core::socket_addr(&host, to_i64(port))), address_info)
}

/// The name and description of an error code.
#[napi(object)]
pub struct ErrorInfo {
  pub code: i32,
  pub name: String,
  pub message: String,
}

/// The name and description of a negative code the vocabulary does not
/// list (an errno from the system); any other number gets EINVAL's.
#[napi]
pub fn error_info(code: i32) -> ErrorInfo {
  let e = NcError::from_code(code).unwrap_or(NcError::EINVAL);
  ErrorInfo { code: e.code(), name: e.name().to_owned(), message: e.message().to_owned() }
}

/// What was wrong with an argument (`Detail` in the core).
#[napi(object)]
pub struct DetailInfo {
  pub argument: String,
  pub expected: String,
  /// Both, as the core words them (`port: expected 0 to 65535`).
  pub text: String,
}

/// The detail of the error the last failed native call on this thread
/// returned as a code, if it has one.
#[napi]
pub fn error_detail() -> Option<DetailInfo> {
  DETAIL.with(Cell::take).map(|d| DetailInfo {
    argument: d.argument.to_owned(),
    expected: d.expected.to_owned(),
    text: d.to_string(),
  })
}

/// The core's vocabulary ([`netcore_core::vocabulary_json`]), which index.js parses once.
#[napi]
pub fn vocabulary_json() -> String {
  netcore_core::vocabulary_json()
}

/// A netcore loop driven from Node's event loop. Methods return 0 or a
/// negative netcore error code (handle-creating ones a positive id or a
/// negative code): the JavaScript layer turns codes into `Error`s with
/// `.code`, so no exception is built on the hot path.
#[napi]
pub struct NativeLoop {
  d: Rc<Driver>,
}

#[napi]
impl NativeLoop {
  /// Creates the loop and starts watching it from libuv. `on_batch(count,
  /// extra, addresses)` is called on the JavaScript thread once per batch;
  /// event `i` is described by `meta[i * 11 .. i * 11 + 11]` (kind, id,
  /// listener id, error code, buffer index (-1 none, 0 the pool the batch
  /// started with, k `extra[k - 1]`: a payload's own Buffer, whole, or a
  /// pool made in mid-batch), offset, length, address index (-1 none), port,
  /// family (4 or 6; 0: the address is a path), value). `new_pool()` returns
  /// the next pool Buffer, when one fills (weakly referenced: keep it
  /// alive). `meta` must hold at least 1024 * 11 numbers and must not be
  /// detached. The loop starts unreferenced (it keeps the process alive only
  /// after `setRef(true)`) and not held (collectable once JavaScript drops
  /// it, until `hold(true)`).
  #[napi(constructor)]
  pub fn new(
    env: Env,
    #[napi(ts_arg_type = "(count: number, extra: Buffer[] | undefined, addresses: string[] | undefined) => void")]
    on_batch: Function<'_, Unknown<'_>, Unknown<'_>>,
    #[napi(ts_arg_type = "Float64Array")] meta: Unknown<'_>,
    #[napi(ts_arg_type = "() => Buffer")] new_pool: Function<'_, (), Unknown<'_>>,
  ) -> Result<Self> {
    napi_guarded(|| {
      let (raw_env, func, new_pool) = (env.raw(), on_batch.raw(), new_pool.raw());
      // SAFETY: N-API calls on the JavaScript thread with values of this call.
      unsafe {
        let meta = typed_array(raw_env, meta.raw()).filter(|&(kind, length, buffer, _)| {
          kind == sys::TypedarrayType::float64_array
            && length >= MAX_EVENTS * STRIDE
            && array_buffer(raw_env, buffer).is_some()
        });
        let Some((_, _, meta_buffer, meta_offset)) = meta else {
          let message = "netcore: meta must be a Float64Array of 1024 * 11 numbers on an ArrayBuffer";
          return Err(Error::new(Status::InvalidArg, message));
        };
        let core = Loop::new().map_err(|e| napi_error(&e.to_string()))?;
        let uv_loop = written(|l| sys::napi_get_uv_event_loop(raw_env, l)).filter(|l| !l.is_null());
        let uv_loop = uv_loop.ok_or_else(|| napi_error("no libuv loop for this environment"))?.cast::<c_void>();
        let fd = core.fd();
        let poll = new_handle(uv::POLL, |h| uv::uv_poll_init(uv_loop, h, fd))?;
        let timer = new_handle(uv::TIMER, |h| uv::uv_timer_init(uv_loop, h));
        let timer = timer.inspect_err(|_| uv::uv_close(poll, Some(uv::free)))?;
        // From here on, `Driver::close` releases everything.
        let d = Rc::new(Driver {
          env: raw_env,
          core,
          poll,
          timer,
          callback: Cell::new(ptr::null_mut()),
          held: Cell::new(false),
          async_context: Cell::new(ptr::null_mut()),
          meta_ref: Cell::new(ptr::null_mut()),
          meta_offset,
          pool: Cell::new(ptr::null_mut()),
          pool_span: Cell::new((0, 0)),
          pool_used: Cell::new(0),
          pool_maker: Cell::new(ptr::null_mut()),
          hook: Cell::new(ptr::null()),
          closed: Cell::new(false),
          referenced: Cell::new(true),
          backoff: Cell::new(false),
        });
        uv::uv_handle_set_data(poll, Rc::into_raw(d.clone()).cast_mut().cast());
        uv::uv_handle_set_data(timer, Rc::into_raw(d.clone()).cast_mut().cast());
        d.set_ref(false);
        d.callback.set(reference(raw_env, func, 0));
        d.meta_ref.set(reference(raw_env, meta_buffer, 1));
        d.pool_maker.set(reference(raw_env, new_pool, 0));
        let name = string(raw_env, "netcore.Loop");
        let context = name.and_then(|name| written(|c| sys::napi_async_init(raw_env, func, name, c)));
        d.async_context.set(context.unwrap_or(ptr::null_mut()));
        let ok = context.is_some() && [&d.callback, &d.meta_ref, &d.pool_maker].iter().all(|r| !r.get().is_null());
        let hook = Rc::into_raw(d.clone());
        d.hook.set(hook);
        let ok = ok
          && sys::napi_add_env_cleanup_hook(raw_env, Some(cleanup_hook), hook as *mut c_void) == sys::Status::napi_ok
          && uv::uv_poll_start(poll, uv::READABLE, on_poll) == 0;
        if !ok {
          d.close();
          return Err(napi_error("cannot set up the loop's driver"));
        }
        Ok(NativeLoop { d })
      }
    })
  }

  /// Keeps (true) or stops keeping (false) the process alive for this loop.
  /// Returns 0 (or EPANIC).
  #[napi]
  pub fn set_ref(&self, referenced: bool) -> i32 {
    self.d.run(|d| d.set_ref(referenced))
  }

  /// Keeps (true) the JavaScript side of the loop alive while it has open
  /// handles, or lets it be collected (false), which closes the loop.
  /// Returns 0 (or EPANIC).
  #[napi]
  pub fn hold(&self, held: bool) -> i32 {
    self.d.run(|d| d.hold(held))
  }

  /// `send(id, bytes)` for this loop as a plain function: `bytes` is a
  /// Uint8Array (any ArrayBufferView's bytes are taken); returns true (sent),
  /// false (EAGAIN) or a negative netcore code. A method's wrapper
  /// (unwrapping `this`, tracking the borrowed bytes) cost more than the send.
  #[napi(ts_return_type = "(id: number, data: Uint8Array) => boolean | number")]
  pub fn send_function(&self, env: Env) -> Result<Unknown<'static>> {
    napi_guarded(|| {
      let env = env.raw();
      let data = Rc::into_raw(self.d.clone()) as *mut c_void;
      // SAFETY: on the JavaScript thread; the function owns the `Rc` passed as
      // its data, released by its finalizer (or here if it cannot be made).
      unsafe {
        let name = c"send";
        let func = written(|f| {
          sys::napi_create_function(env, name.as_ptr(), name.count_bytes() as isize, Some(raw_send), data, f)
        });
        let finalized = |&f: &sys::napi_value| {
          sys::napi_add_finalizer(env, f, data, Some(release_driver), ptr::null_mut(), ptr::null_mut())
            == sys::Status::napi_ok
        };
        let Some(func) = func.filter(finalized) else {
          drop(Rc::from_raw(data as *const Driver));
          return Err(napi_error("cannot create the send function"));
        };
        Ok(Unknown::from_raw_unchecked(env, func))
      }
    })
  }

  /// Closes the loop: every handle at once (reset), and no further batch is
  /// delivered. Safe from inside the batch callback.
  /// Returns 0 (or EPANIC).
  #[napi]
  pub fn close(&self) -> i32 {
    self.d.run(|d| d.close())
  }

  /// Runs operation `op` (its index in the vocabulary's `operations`) on the
  /// handle `id` (ignored by an operation on none) with `args`: its
  /// arguments, then its options (undefined: the core's default), each as
  /// index.js checked it for its kind (a number is milliseconds for a
  /// duration). Returns the new handle, 0 for nothing, an integer in an
  /// array (it may be negative: linger -1), or the value (a boolean
  /// option's flag, an address, a Buffer, a name, a path or null,
  /// credentials); or a negative code.
  #[napi(ts_return_type = "number | [number] | boolean | string | Buffer | AddressInfo | Credentials | null")]
  pub fn invoke(&self, op: u32, id: f64, args: Vec<Unknown<'_>>) -> Reply {
    Reply(guarded(|| {
      let op = OPERATIONS.get(op as usize).ok_or(NcError::EINVAL)?;
      let handle = op.on_handle().then(|| self.d.handle(id)).transpose()?;
      let kinds = op.args.iter().chain(op.options).map(|arg| arg.kind);
      let values = kinds.zip(&args).map(|(kind, arg)| value(kind, arg)).collect::<netcore_core::Result<Vec<_>>>()?;
      self.d.core.invoke(op, handle, &values, 0)
    }))
  }

  /// The core's pause rule for a batch being delivered ([`Loop::hold`]):
  /// hands back a `data` event's bytes (an `eof`: none) of a connection
  /// paused since the batch was polled. True: the connection keeps it for
  /// after `resume`, and index.js skips it.
  #[napi]
  pub fn keep_paused(&self, id: f64, data: Option<&[u8]>) -> bool {
    self.d.on(id, |h| Ok(self.d.core.hold(h, data))).unwrap_or(false)
  }

  /// Sends `bufs`; with a `token`, a `Sent` event carrying it follows once
  /// the bytes reached the kernel (index.js checks it is an integer JavaScript holds exactly).
  #[napi]
  pub fn sendv(&self, id: f64, bufs: Vec<&[u8]>, token: Option<f64>) -> i32 {
    let token = token.map(|t| u64::try_from(to_i64(t)).map_err(|_| NcError::EINVAL)).transpose();
    code_of(self.d.on(id, |h| self.d.core.send_with_token(h, &bufs, token?)))
  }

  /// Sends one datagram to `host` and `port`.
  #[napi]
  pub fn send_to(&self, id: f64, data: &[u8], host: String, port: f64) -> i32 {
    code_of(self.d.on(id, |h| self.d.core.send_to(h, &host, to_i64(port), data)))
  }

  /// Sends one datagram from a Unix datagram socket to `path`.
  #[napi]
  pub fn send_to_unix(&self, id: f64, data: &[u8], path: String) -> i32 {
    code_of(self.d.on(id, |h| self.d.core.unix_send_to(h, &path, data)))
  }

  /// Sends datagram `i`, `bufs[i]`, to destination `dests[i]`: `hosts[k]`
  /// and `ports[k]` for `k = dests[i]` (no host: the connected peer), each
  /// destination parsed once. Returns how many went, from the first (see
  /// `Loop::send_batch`), or a negative code when not even the first did.
  #[napi]
  pub fn send_batch(
    &self,
    id: f64,
    bufs: Vec<&[u8]>,
    hosts: Vec<Option<String>>,
    ports: Vec<f64>,
    dests: &[u32],
  ) -> i32 {
    if ports.len() != hosts.len() || dests.len() < bufs.len() {
      return fail(NcError::EINVAL);
    }
    let parse =
      |(host, &port): (&Option<String>, &f64)| host.as_deref().map(|h| netcore_core::socket_addr(h, to_i64(port)));
    let parsed: Vec<_> = hosts.iter().zip(&ports).map(|dest| parse(dest).transpose()).collect();
    let each = bufs.iter().zip(dests).map(|(data, &k)| {
      let to = *parsed.get(k as usize).ok_or(NcError::EINVAL)?;
      Ok(DatagramToSend { data, to: to? })
    });
    // At most the length of a JavaScript array of buffers: far below 2^31.
    self.d.on(id, |h| self.d.core.send_batch(h, each)).map_or_else(fail, |sent| sent as i32)
  }
}

impl Drop for NativeLoop {
  fn drop(&mut self) {
    // Reached when JavaScript garbage-collects a loop (one with open handles
    // is held by its callback's reference; see `hold`) or at environment
    // teardown.
    no_unwind(|| self.d.close());
  }
}
