//! netcore.aio's per-message path in native code: a connection's data goes
//! straight to its protocol's `data_received` (in the transport's context),
//! and `Transport.write` straight to the core's send, with no Python frame
//! of netcore's in between. The rules stay with the Python Transport
//! (netcore/_aio_net.py): after every change of its state it tells its
//! [`AioStream`] which short ways are open, and every case they do not
//! take goes through it, as before.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use netcore_core as nc;
use parking_lot::Mutex;
use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyType};
use pyo3::{ffi, intern, PyTraverseError, PyVisit};

use crate::aio_loop::send_at_turn_end;
use crate::args::{Hd, Int};
use crate::errors::{to_pyerr, IntoPyResult};
use crate::event::addr_tuple;
use crate::event_loop::{PyLoop, DETACH_SEND};
use crate::fastcall::{fast_method, install_fast_method, split_method, Callee};

/// Any Python object.
type Obj<'py> = Bound<'py, PyAny>;

/// Where a poll's stream data goes: run()'s `on_data(handle, data)`, or
/// netcore.aio's connections.
pub enum DataSink<'py> {
    Call(Callee<'py>),
    Streams(Bound<'py, AioStreams>),
}

impl<'py> DataSink<'py> {
    /// `f` as it is: netcore.aio's [`AioStreams`], or a callable.
    pub fn whole(f: &Obj<'py>) -> Self {
        match f.cast::<AioStreams>() {
            Ok(streams) => DataSink::Streams(streams.clone()),
            Err(_) => DataSink::Call(Callee::whole(f)),
        }
    }

    /// Gives one "data" event's bytes to the sink.
    pub fn deliver(&self, py: Python<'py>, handle: i64, data: &[u8]) -> PyResult<()> {
        match self {
            DataSink::Call(f) => {
                let Ok(handle) = handle.into_pyobject(py);
                f.call([handle.as_any(), PyBytes::new(py, data).as_any()])
            }
            DataSink::Streams(streams) => streams.get().deliver(py, handle, data),
        }
    }

    /// Gives a connection accepted by one of netcore.aio's servers
    /// straight to the server's `accept(handle, addr)`, in its context, as
    /// the hub's `_on_event` would, without an Event and that frame; None
    /// if `ev` is no such event (it goes to the callback).
    pub fn accept(&self, py: Python<'py>, ev: &nc::Event) -> Option<PyResult<()>> {
        let (DataSink::Streams(streams), nc::EventKind::Accepted, Some(listener)) = (self, ev.kind, ev.listener) else {
            return None;
        };
        let (run, accept) =
            streams.get().listeners.lock().get(&listener.raw()).map(|(r, a)| (r.clone_ref(py), a.clone_ref(py)))?;
        let Ok(handle) = ev.handle.raw().into_pyobject(py);
        Some(ev.addr.map(|a| addr_tuple(py, a)).transpose().and_then(|addr| {
            let addr = addr.map_or_else(|| py.None().into_bound(py), Bound::into_any);
            Callee::whole(run.bind(py)).call([accept.bind(py), handle.as_any(), &addr])
        }))
    }

    /// Gives any other event of one of netcore.aio's connections straight
    /// to its transport's `_event`, in the transport's context, as the
    /// hub's `_on_event` would (one Python frame less per event); None if
    /// `handle` is none of them (the event goes to the callback).
    pub fn event(&self, py: Python<'py>, handle: i64, event: &Obj<'py>) -> Option<PyResult<()>> {
        let DataSink::Streams(streams) = self else { return None };
        let (stream, (func, slf)) = streams
            .get()
            .streams
            .lock()
            .get(&handle)
            .map(|(s, on_event)| (s.clone_ref(py), clone_reader(py, on_event)))?;
        let run = Callee::whole(stream.get().run.bind(py));
        Some(match &slf {
            Some(slf) => run.call([func.bind(py), slf.bind(py), event]),
            None => run.call([func.bind(py), event]),
        })
    }
}

/// Private (netcore.aio): the work of `AsyncioDriver.dispatch`, native,
/// and what the asyncio loop calls whenever the netcore loop's descriptor
/// is readable: one poll(0) batch delivered, then `schedule(delay)` if
/// netcore wants a poll again without new I/O (events kept, a timer), or
/// `closed()` once the netcore loop is closed.
#[pyclass(frozen, module = "netcore", name = "_AioDispatcher")]
pub struct AioDispatcher {
    lp: Py<PyLoop>,
    max_events: usize,
    /// `deliver(event)` for every event but stream data, and where stream
    /// data goes (None: to `deliver` too).
    route: Mutex<(Py<PyAny>, Option<Py<PyAny>>)>,
    schedule: Py<PyAny>,
    closed: Py<PyAny>,
    /// Dispatching now: a dispatch from a callback is a no-op.
    busy: AtomicBool,
    /// The asyncio loop and its ready queue, when it is asyncio's own
    /// (BaseEventLoop: `_ready`, `_scheduled`, `_stopping`): while it has
    /// nothing else to do, a dispatch takes further batches at once.
    host: Option<(Py<PyAny>, Py<PyAny>)>,
}

/// Batches one dispatch takes at most while the asyncio loop has nothing
/// else to do (what it would do in as many turns, without them), so its
/// other descriptors wait at most this long.
const MAX_ROUNDS: usize = 16;

#[pymethods]
impl AioDispatcher {
    #[new]
    fn new(
        lp: Py<PyLoop>,
        max_events: Int<usize>,
        deliver: Py<PyAny>,
        schedule: Py<PyAny>,
        closed: Py<PyAny>,
        aloop: &Obj<'_>,
    ) -> Self {
        let py = aloop.py();
        let own = aloop.hasattr(intern!(py, "_scheduled")).unwrap_or(false)
            && aloop.hasattr(intern!(py, "_stopping")).unwrap_or(false);
        let ready = aloop.getattr(intern!(py, "_ready")).ok().filter(|_| own);
        AioDispatcher {
            lp,
            max_events: max_events.0,
            route: Mutex::new((deliver, None)),
            schedule,
            closed,
            busy: AtomicBool::new(false),
            host: ready.map(|r| (aloop.clone().unbind(), r.unbind())),
        }
    }

    /// Events go to `deliver(event)` from now on, stream data to `on_data`
    /// (`on_data(handle, data)`, or netcore.aio's streams; None: `deliver`).
    fn route(&self, deliver: Py<PyAny>, on_data: Option<Py<PyAny>>) {
        let old = std::mem::replace(&mut *self.route.lock(), (deliver, on_data));
        drop(old);
    }

    /// Dispatches one batch; returns how many events were delivered.
    fn __call__(&self, py: Python<'_>) -> PyResult<usize> {
        if self.busy.swap(true, Ordering::Acquire) {
            return Ok(0);
        }
        let (deliver, on_data) = {
            let route = self.route.lock();
            (route.0.clone_ref(py), route.1.as_ref().map(|o| o.clone_ref(py)))
        };
        let lp = self.lp.get();
        let on_data = on_data.as_ref().map(|o| DataSink::whole(o.bind(py)));
        let deliver = Callee::whole(deliver.bind(py));
        let mut delivered = 0;
        let mut result = Ok(());
        for _ in 0..MAX_ROUNDS {
            match lp.dispatch_once(py, &deliver, self.max_events, on_data.as_ref()) {
                Ok(n) => delivered += n,
                Err(e) => result = Err(e),
            }
            if result.is_err() || delivered == 0 || lp.closed() || !self.host_idle(py) {
                break;
            }
        }
        let delivered = result.map(|()| delivered);
        self.busy.store(false, Ordering::Release);
        // Closed before or while delivering (its ClosedError is the news).
        if lp.closed() {
            self.closed.call0(py)?;
            return Ok(0);
        }
        // Kept by an exception, pending, or a timer: dispatch again then.
        match lp.next_timeout(py) {
            Ok(Some(delay)) => drop(self.schedule.call1(py, (delay,))?),
            Ok(None) => {}
            // Closed by another thread meanwhile.
            Err(_) => {
                self.closed.call0(py)?;
                return Ok(0);
            }
        }
        delivered
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some((aloop, ready)) = &self.host {
            visit.call(aloop)?;
            visit.call(ready)?;
        }
        visit.call(&self.lp)?;
        visit.call(&self.schedule)?;
        visit.call(&self.closed)?;
        if let Some(route) = self.route.try_lock() {
            visit.call(&route.0)?;
            visit.call(route.1.as_ref())?;
        }
        Ok(())
    }
}

impl AioDispatcher {
    /// Whether the asyncio loop (asyncio's own) has nothing to do but this
    /// dispatch: no callback ready (the protocols scheduled none), no timer
    /// due, not stopping. Then the next batch comes now, as it would on the
    /// loop's next turn. Anything unexpected: not idle.
    fn host_idle(&self, py: Python<'_>) -> bool {
        let Some((aloop, ready)) = &self.host else { return false };
        let aloop = aloop.bind(py);
        let idle = || -> PyResult<bool> {
            if ready.bind(py).len()? != 0 || aloop.getattr(intern!(py, "_stopping"))?.is_truthy()? {
                return Ok(false);
            }
            let timers = aloop.getattr(intern!(py, "_scheduled"))?;
            if timers.len()? == 0 {
                return Ok(true);
            }
            // asyncio's timers are a heap: the first is the earliest.
            let first: f64 = timers.get_item(0)?.getattr(intern!(py, "_when"))?.extract()?;
            Ok(first > aloop.call_method0(intern!(py, "time"))?.extract::<f64>()?)
        };
        idle().unwrap_or(false)
    }
}

/// Hashes a handle (a small integer) with one multiplication: SipHash
/// would cost more than the rest of the lookup, once per "data" event.
#[derive(Default)]
struct HandleHasher(u64);

impl Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

/// Private (netcore.aio): the stream connections of one netcore loop, by
/// handle; `Loop._dispatch` takes it as its `on_data`.
#[pyclass(frozen, module = "netcore", name = "_AioStreams")]
pub struct AioStreams {
    streams: Mutex<HashMap<i64, Connection, BuildHasherDefault<HandleHasher>>>,
    /// The servers' listeners, by handle: the server's context's `run` and
    /// its `accept(handle, addr)`.
    listeners: Mutex<HashMap<i64, (Py<PyAny>, Py<PyAny>), BuildHasherDefault<HandleHasher>>>,
    /// `through(handle, data)`: data the protocol does not take now (or of
    /// no connection here) goes to the transport.
    through: Py<PyAny>,
    /// `failed(handle, exception)`: `data_received` raised.
    failed: Py<PyAny>,
}

impl AioStreams {
    fn deliver(&self, py: Python<'_>, handle: i64, data: &[u8]) -> PyResult<()> {
        let stream = self.streams.lock().get(&handle).map(|(s, _)| s.clone_ref(py));
        let data = PyBytes::new(py, data);
        let reader =
            stream.as_ref().and_then(|s| s.get().reader.lock().as_ref().map(|reader| clone_reader(py, reader)));
        let (Some(stream), Some((func, slf))) = (stream, reader) else {
            let Ok(handle) = handle.into_pyobject(py);
            return Callee::whole(self.through.bind(py)).call([handle.as_any(), data.as_any()]);
        };
        // As asyncio's transports: KeyboardInterrupt and SystemExit
        // propagate, anything else is the connection's fatal error.
        let run = Callee::whole(stream.get().run.bind(py));
        let called = match &slf {
            Some(slf) => run.call([func.bind(py), slf.bind(py), data.as_any()]),
            None => run.call([func.bind(py), data.as_any()]),
        };
        match called {
            Err(e) if !e.is_instance_of::<PySystemExit>(py) && !e.is_instance_of::<PyKeyboardInterrupt>(py) => {
                let Ok(handle) = handle.into_pyobject(py);
                // With its traceback, as the exception handler shows it.
                Callee::whole(self.failed.bind(py)).call([handle.as_any(), e.into_value(py).bind(py).as_any()])
            }
            other => other,
        }
    }
}

#[pymethods]
impl AioStreams {
    #[new]
    fn new(through: Py<PyAny>, failed: Py<PyAny>) -> Self {
        AioStreams {
            streams: Mutex::new(HashMap::default()),
            listeners: Mutex::new(HashMap::default()),
            through,
            failed,
        }
    }

    /// The short ways of connection `handle` of `lp`, whose protocol's
    /// callbacks run in `context` (closed until set) and whose other
    /// events go to `on_event(event)` (in `context` too); registered here
    /// until `forget(handle)`.
    fn open(&self, lp: Py<PyLoop>, handle: Hd, context: &Obj<'_>, on_event: &Obj<'_>) -> PyResult<Py<AioStream>> {
        let py = context.py();
        let (func, slf) = split_method(on_event)?;
        let stream = AioStream {
            lp,
            handle: handle.0,
            run: context.getattr(intern!(py, "run"))?.unbind(),
            reader: Mutex::new(None),
            write_limit: AtomicUsize::new(0),
        };
        let stream = Py::new(py, stream)?;
        // on_event is held here, not by the stream (which its transport
        // holds): no reference cycle, the transport goes with its last
        // reference.
        let on_event = (func.unbind(), slf.map(Bound::unbind));
        let old = self.streams.lock().insert(handle.0.raw(), (stream.clone_ref(py), on_event));
        drop(old);
        Ok(stream)
    }

    /// The connections listener `handle` accepts go to `accept(handle,
    /// addr)`, called in `context`, until `forget(handle)`.
    fn listen(&self, handle: Hd, context: &Obj<'_>, accept: Py<PyAny>) -> PyResult<()> {
        let run = context.getattr(intern!(context.py(), "run"))?.unbind();
        let old = self.listeners.lock().insert(handle.0.raw(), (run, accept));
        drop(old);
        Ok(())
    }

    /// The connection or listener `handle` is gone (a no-op for any other handle).
    fn forget(&self, handle: i64) {
        let old = self.streams.lock().remove(&handle);
        let listener = self.listeners.lock().remove(&handle);
        drop((old, listener));
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.through)?;
        visit.call(&self.failed)?;
        // Under-reporting is safe for the collector; never block here.
        if let Some(streams) = self.streams.try_lock() {
            for (s, (func, slf)) in streams.values() {
                visit.call(s)?;
                visit.call(func)?;
                visit.call(slf.as_ref())?;
            }
        }
        if let Some(listeners) = self.listeners.try_lock() {
            for (run, accept) in listeners.values() {
                visit.call(run)?;
                visit.call(accept)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let streams = std::mem::take(&mut *self.streams.lock());
        let listeners = std::mem::take(&mut *self.listeners.lock());
        drop((streams, listeners));
    }
}

/// A `data_received` (or a transport's `_event`): the function and, for a
/// bound method, its `self` (no method object made per call).
type Reader = (Py<PyAny>, Option<Py<PyAny>>);

/// A new reference to `reader`'s objects (to call it after a lock is released).
fn clone_reader(py: Python<'_>, (func, slf): &Reader) -> Reader {
    (func.clone_ref(py), slf.as_ref().map(|o| o.clone_ref(py)))
}

/// A connection of [`AioStreams`]: its short ways and its transport's `_event`.
type Connection = (Py<AioStream>, Reader);

/// Private (netcore.aio): one connection's short ways (its Transport's
/// `_stream`), opened and closed by the transport.
#[pyclass(frozen, module = "netcore", name = "_AioStream")]
pub struct AioStream {
    lp: Py<PyLoop>,
    handle: nc::Handle,
    /// The transport's context's `run`.
    run: Py<PyAny>,
    /// The protocol's `data_received` while data goes straight to it, taken
    /// when the transport gets the protocol, as uvloop does.
    reader: Mutex<Option<Reader>>,
    /// The longest write sent straight to the core (0: none).
    write_limit: AtomicUsize,
}

#[pymethods]
impl AioStream {
    /// Data goes straight to `reader` (None: through the transport); writes
    /// of up to `write_limit` bytes go straight to the core (0: none).
    fn set(&self, reader: Option<&Obj<'_>>, write_limit: usize) -> PyResult<()> {
        let reader = reader.map(split_method).transpose()?.map(|(f, s)| (f.unbind(), s.map(Bound::unbind)));
        self.write_limit.store(write_limit, Ordering::Relaxed);
        let old = std::mem::replace(&mut *self.reader.lock(), reader);
        drop(old);
        Ok(())
    }

    /// Sets the connection's water marks in netcore, within its range, in
    /// the order that keeps low <= high at every step (`old_low`: its low
    /// mark now); refused (the connection or the loop is gone): nothing to
    /// set. One native call per new connection.
    fn set_marks(&self, py: Python<'_>, high: Int<i64>, low: Int<i64>, old_low: Int<i64>) {
        let range = nc::SockOption::HighWater.range();
        let high = high.0.clamp(*range.start(), *range.end());
        let low = (nc::SockOption::LowWater, low.0.min(high));
        let high = (nc::SockOption::HighWater, high);
        let steps = if high.1 >= old_low.0 { [high, low] } else { [low, high] };
        let set =
            |lp: &nc::Loop| steps.into_iter().try_for_each(|(option, value)| lp.set_option(self.handle, option, value));
        drop(self.lp.get().core_result(py, set));
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.lp)?;
        visit.call(&self.run)?;
        if let Some(reader) = self.reader.try_lock() {
            if let Some((func, slf)) = reader.as_ref() {
                visit.call(func)?;
                visit.call(slf.as_ref())?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.write_limit.store(0, Ordering::Relaxed);
        let old = self.reader.lock().take();
        drop(old);
    }
}

fast_method! {
    /// `Transport.write(data)` for a `bytes` the connection's short way is
    /// open for (see [`AioStream::set`]); any other call goes to the Python
    /// method (WRITE).
    write_fast, WRITE, |py, slf, args| {
        let &[data] = args else { return None };
        write_now(&Borrowed::from_ptr(py, slf), &Borrowed::from_ptr(py, data))
    }
}

/// Sends `data` straight to the core if the transport's short way is open
/// for it; `None` if not (the Python write takes it).
fn write_now(transport: &Obj<'_>, data: &Obj<'_>) -> Option<PyResult<*mut ffi::PyObject>> {
    let py = transport.py();
    let bytes = data.cast_exact::<PyBytes>().ok()?.as_bytes();
    if bytes.len() >= DETACH_SEND {
        return None;
    }
    let stream = transport.getattr(intern!(py, "_stream")).ok()?;
    let stream = stream.cast::<AioStream>().ok()?.get();
    let limit = stream.write_limit.load(Ordering::Relaxed);
    if limit == 0 || bytes.len() > limit {
        return None;
    }
    if bytes.is_empty() {
        // Nothing to send, as the Python write decides: an open short way
        // means no write_eof yet. (uvicorn's h11 protocol writes the b""
        // that ends each response with a content-length.)
        return Some(Ok(py.None().into_ptr()));
    }
    let send =
        |lp: &nc::Loop| send_at_turn_end(lp, stream.handle, bytes).unwrap_or_else(|| lp.send(stream.handle, bytes));
    match stream.lp.get().core_result(py, send).ok()? {
        Ok(()) => Some(Ok(py.None().into_ptr())),
        // Refused (queue full, connection failed): the transport's to handle,
        // as a refusal of its own send.
        Err(e) => {
            let exc = to_pyerr(py, e).into_value(py);
            Some(transport.call_method1(intern!(py, "_write_failed"), (data, exc)).map(Bound::into_ptr))
        }
    }
}

fast_method! {
    /// `Transport.is_closing()` (uvicorn asks it once per request), without
    /// a Python frame (IS_CLOSING).
    is_closing_fast, IS_CLOSING, |py, slf, args| {
        if !args.is_empty() {
            return None;
        }
        Some(Borrowed::from_ptr(py, slf).getattr(intern!(py, "_closing")).map(Bound::into_ptr))
    }
}

/// Private (netcore.aio): puts the native `write` and `is_closing` in
/// front of `transport_type`'s.
#[pyfunction]
fn _install_aio_transport(transport_type: &Bound<'_, PyType>) -> PyResult<()> {
    install_fast_method(transport_type, c"write", "($self, data, /)", write_fast, &WRITE)?;
    install_fast_method(transport_type, c"is_closing", "($self, /)", is_closing_fast, &IS_CLOSING)
}

/// Private (netcore.aio): `max_events` checked as a poll checks it.
#[pyfunction]
fn _check_max_events(py: Python<'_>, max_events: Int<usize>) -> PyResult<usize> {
    nc::Loop::check_max_events(max_events.0).py_err(py)?;
    Ok(max_events.0)
}

impl PyLoop {
    /// One round of run() without waiting (the dispatcher's): one poll(0)
    /// batch delivered as [`PyLoop::deliver`] does; returns how many.
    fn dispatch_once(
        &self,
        py: Python<'_>,
        callback: &Callee<'_>,
        max: usize,
        on_data: Option<&DataSink<'_>>,
    ) -> PyResult<usize> {
        let lp = self.owned(py)?;
        let delivered = match Self::wait(py, &lp, max, Some(Instant::now()), true)? {
            Some(batch) => self.deliver(py, &lp, batch, |e| callback.call([e.as_any()]), on_data),
            None => Ok(0),
        };
        delivered
    }
}

#[pymethods]
impl PyLoop {
    /// Private (netcore.aio): `hook()` runs when the loop closes, before its descriptor does.
    fn _add_close_hook(&self, py: Python<'_>, hook: &Obj<'_>) -> PyResult<()> {
        if self.closed() {
            return Err(Self::closed_error(py));
        }
        self.close_hooks.lock().push(hook.clone().unbind());
        Ok(())
    }

    /// Private (netcore.aio): the bytes `handle` has queued once the sends
    /// deferred to the end of the turn went (a closing transport's check).
    fn _queued_after_flush(&self, py: Python<'_>, handle: Hd) -> PyResult<usize> {
        self.core(py, |lp| lp.flush_deferred().and_then(|()| lp.queued_bytes(handle.0)))
    }

    /// Private (netcore.aio): forgets a hook given to _add_close_hook (the same object).
    fn _remove_close_hook(&self, hook: &Obj<'_>) {
        // Dropped under the lock: the caller's `hook` keeps the object alive,
        // so no destructor runs.
        self.close_hooks.lock().retain(|h| !h.is(hook));
    }
}

/// Adds netcore.aio's private native parts to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.setattr("_AioDispatcher", m.py().get_type::<AioDispatcher>())?;
    m.setattr("_AioStreams", m.py().get_type::<AioStreams>())?;
    m.setattr("_AioStream", m.py().get_type::<AioStream>())?;
    m.setattr("_install_aio_transport", wrap_pyfunction!(_install_aio_transport, m)?)?;
    m.setattr("_check_max_events", wrap_pyfunction!(_check_max_events, m)?)
}
