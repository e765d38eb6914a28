//! `netcore.Loop`: the core loop with Python's edges (the GIL, signals,
//! user data as Python objects, callbacks that raise); docs/design.md §5.

use std::collections::HashMap;
use std::mem::take;
use std::time::{Duration, Instant};

use netcore_core as nc;
use netcore_core::{FramingMode, FramingParams};
use parking_lot::{Mutex, RwLock};
use pyo3::exceptions::{PyResourceWarning, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple, PyType};
use pyo3::{PyTraverseError, PyVisit};

use crate::aio::DataSink;
use crate::args::{
    int, is_index, items, Addr, BytesArg, DatagramArg, Delays, Destination, Hd, Int, Interface, Named, Opt, Secs, Text,
    Texts, Token,
};
use crate::errors::{error_value, guard, invalid, to_pyerr, IntoPyResult};
use crate::event::{addr_tuple, Event};
use crate::fastcall::{fast_method, install_fast_method, Callee};
use crate::tls;

/// Any Python object.
type Obj<'py> = Bound<'py, PyAny>;

/// Longest wait without the GIL and without looking at signals (Ctrl+C).
const SLICE: Duration = Duration::from_millis(50);
/// Sends of at least this many bytes from an exact `bytes` release the GIL.
pub(crate) const DETACH_SEND: usize = 64 << 10;

/// A poll's `max_events`, in the range the core sets.
fn max_events_arg(py: Python<'_>, max: Option<Int<usize>>, default: usize) -> PyResult<usize> {
    let max = max.map_or(default, |m| m.0);
    nc::Loop::check_max_events(max).py_err(py)?;
    Ok(max)
}

/// An event loop (the model: help(netcore)); closed on leaving a `with` block.
#[pyclass(frozen, subclass, weakref, module = "netcore", name = "Loop")]
pub struct PyLoop {
    /// `None` once closed. Locked only around core calls, never while Python
    /// code runs; work without the GIL uses a clone (docs/design.md §5).
    inner: RwLock<Option<nc::Loop>>,
    /// User data per handle; never locked while Python code could run.
    objects: Mutex<HashMap<i64, Py<PyAny>>>,
    /// Called when the loop closes, before its descriptor does (netcore.aio).
    pub(crate) close_hooks: Mutex<Vec<Py<PyAny>>>,
}

impl PyLoop {
    /// The error for any use of a closed loop.
    pub(crate) fn closed_error(py: Python<'_>) -> PyErr {
        PyErr::from_value(error_value(py, nc::Error::ECLOSED, Some("the loop is closed")))
    }

    /// A core result with ECLOSED as the closed loop's ClosedError.
    fn loop_result<T>(py: Python<'_>, result: nc::Result<T>) -> PyResult<T> {
        match result {
            Err(e) if e == nc::Error::ECLOSED => Err(Self::closed_error(py)),
            other => other.py_err(py),
        }
    }

    /// Runs one core operation on the loop (panics caught) and returns its
    /// unmapped result; `Err` only if the loop is closed.
    pub(crate) fn core_result<T>(
        &self,
        py: Python<'_>,
        op: impl FnOnce(&nc::Loop) -> nc::Result<T>,
    ) -> PyResult<nc::Result<T>> {
        // The lock is released before any error is turned into a Python
        // exception (which runs Python code).
        let result = self.inner.read().as_ref().map(|lp| guard(|| op(lp)));
        result.ok_or_else(|| Self::closed_error(py))
    }

    /// Runs one core operation on the loop: panics caught, errors raised.
    pub(crate) fn core<T>(&self, py: Python<'_>, op: impl FnOnce(&nc::Loop) -> nc::Result<T>) -> PyResult<T> {
        self.core_result(py, op)?.py_err(py)
    }

    /// A clone of the core loop, for work done without the GIL.
    pub(crate) fn owned(&self, py: Python<'_>) -> PyResult<nc::Loop> {
        let lp = self.inner.read().clone();
        lp.ok_or_else(|| Self::closed_error(py))
    }

    /// Drops the loop's Python objects (user data, close hooks) after the
    /// locks are released: their destructors may run Python code.
    fn drop_objects(&self) {
        let objects = take(&mut *self.objects.lock());
        let hooks = take(&mut *self.close_hooks.lock());
        drop((objects, hooks));
    }

    /// The user data an event carries. A handle's user data is dropped with
    /// its `closed` event; an accepted connection starts with its listener's.
    fn userdata_of(py: Python<'_>, objects: &mut HashMap<i64, Py<PyAny>>, ev: &nc::Event) -> Option<Py<PyAny>> {
        if objects.is_empty() {
            return None;
        }
        let h = ev.handle.raw();
        match ev.kind {
            nc::EventKind::Closed => objects.remove(&h),
            nc::EventKind::Accepted => {
                let inherited = ev.listener.and_then(|l| objects.get(&l.raw())).map(|o| o.clone_ref(py));
                match inherited {
                    Some(o) => Some(objects.entry(h).or_insert(o).clone_ref(py)),
                    None => objects.get(&h).map(|o| o.clone_ref(py)),
                }
            }
            _ => objects.get(&h).map(|o| o.clone_ref(py)),
        }
    }

    /// Waits up to `deadline` (None: until events, a wake or a signal) for
    /// one batch; `None` on timeout or a wake. With `eager` the first poll
    /// neither waits nor releases the GIL (events are likely pending).
    pub(crate) fn wait<'a>(
        py: Python<'_>,
        lp: &'a nc::Loop,
        max: usize,
        deadline: Option<Instant>,
        eager: bool,
    ) -> PyResult<Option<nc::Batch<'a>>> {
        let mut blocking = !eager;
        loop {
            let polled = if blocking {
                let slice = deadline.map_or(SLICE, |d| d.saturating_duration_since(Instant::now()).min(SLICE));
                py.detach(|| guard(|| lp.poll(max, Some(slice))))
            } else {
                guard(|| lp.poll(max, Some(Duration::ZERO)))
            };
            let batch = Self::loop_result(py, polled)?;
            // Closed (another thread, a signal handler) after the core's
            // poll returned: what it gathered is dropped with the loop.
            if lp.is_closed() {
                drop(batch);
                return Err(Self::closed_error(py));
            }
            if !batch.events().is_empty() {
                return Ok(Some(batch));
            }
            if batch.woken() {
                return Ok(None);
            }
            drop(batch);
            blocking = true;
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// Adopts a descriptor given as an int (handed over) or as an object
    /// with fileno() and detach() (a socket.socket, detached once adopted).
    fn adopt(
        &self,
        py: Python<'_>,
        sock: &Obj<'_>,
        userdata: Option<&Obj<'_>>,
        op: fn(&nc::Loop, std::os::fd::RawFd, u64) -> nc::Result<nc::Handle>,
    ) -> PyResult<i64> {
        let is_socket = !is_index(sock) && sock.hasattr("detach")?;
        let fd: i32 = if is_socket { sock.call_method0("fileno")?.extract()? } else { sock.extract::<Int<i32>>()?.0 };
        let handle = self.attach(py, userdata, |lp| op(lp, fd, 1))?;
        if is_socket {
            // The loop closed this number and owns a duplicate: the object must not close it again.
            sock.call_method0("detach")?;
        }
        Ok(handle)
    }

    /// Runs `op` and stores `userdata` (None removes it) for the handle it
    /// names, atomically with respect to event delivery: a "closed"
    /// converted later finds the object and drops it.
    fn attach(
        &self,
        py: Python<'_>,
        userdata: Option<&Obj<'_>>,
        op: impl FnOnce(&nc::Loop) -> nc::Result<nc::Handle>,
    ) -> PyResult<i64> {
        // The object not kept (refused, or the one replaced) is dropped after
        // the locks are released.
        let mut value = userdata.filter(|o| !o.is_none()).map(|o| o.clone().unbind());
        let made = self.core_result(py, |lp| {
            let mut objects = self.objects.lock();
            let h = op(lp)?.raw();
            let old = match value.take() {
                Some(v) => objects.insert(h, v),
                None => objects.remove(&h),
            };
            Ok((h, old))
        })?;
        drop(value);
        let (h, old) = made.py_err(py)?;
        drop(old);
        Ok(h)
    }

    /// Sends buffers as one message; large immutable ones without the GIL.
    fn send_slices(
        &self,
        py: Python<'_>,
        handle: nc::Handle,
        slices: &[&[u8]],
        immutable: bool,
        token: Option<u64>,
    ) -> PyResult<()> {
        let total: usize = slices.iter().map(|s| s.len()).sum();
        let send = |lp: &nc::Loop| lp.send_with_token(handle, slices, token);
        let result = if total >= DETACH_SEND && immutable {
            let lp = self.owned(py)?;
            py.detach(|| guard(|| send(&lp)))
        } else {
            self.core_result(py, send)?
        };
        result.py_err(py)
    }

    /// Hands a batch's events (with their user data) to `callback`, or
    /// run()'s `on_data`, straight from the core's buffers (`nc::Loop::deliver`);
    /// returns how many. If one raises, the core keeps the rest of the batch
    /// for the next poll.
    pub(crate) fn deliver<'py>(
        &self,
        py: Python<'py>,
        lp: &nc::Loop,
        batch: nc::Batch<'_>,
        mut callback: impl FnMut(Bound<'py, Event>) -> PyResult<()>,
        on_data: Option<&DataSink<'_>>,
    ) -> PyResult<usize> {
        let mut raised = None;
        let delivered = lp.deliver_with_paths(batch, |ev, data, path| {
            let called = match on_data {
                Some(sink) if ev.kind == nc::EventKind::Data => sink.deliver(py, ev.handle.raw(), data),
                _ => {
                    let userdata = Self::userdata_of(py, &mut self.objects.lock(), ev);
                    match on_data.and_then(|sink| sink.accept(py, ev)) {
                        Some(accepted) => accepted,
                        None => Event::build(py, lp, ev, data, path, userdata).and_then(|e| {
                            match on_data.and_then(|sink| sink.event(py, ev.handle.raw(), e.as_any())) {
                                Some(called) => called,
                                None => callback(e),
                            }
                        }),
                    }
                }
            };
            called.map_err(|e| raised = Some(e)).is_ok()
        });
        match (raised, delivered) {
            (Some(e), _) => Err(e),
            (None, delivered) => Self::loop_result(py, delivered),
        }
    }
}

fast_method! {
    /// `Loop.send` for an echo's call, `send(handle, data)` with an `int` and
    /// a `bytes` below DETACH_SEND, without PyO3's argument parsing; any
    /// other call goes to the generated method (SEND), so both behave alike.
    send_fast, SEND, |py, slf, args| {
        let &[handle, data] = args else { return None };
        if ffi::PyLong_CheckExact(handle) == 0 || ffi::PyBytes_CheckExact(data) == 0 {
            return None;
        }
        let mut overflow = 0;
        let handle = nc::Handle::from_raw(ffi::PyLong_AsLongAndOverflow(handle, &mut overflow));
        let data = Borrowed::from_ptr(py, data).cast_unchecked::<PyBytes>();
        let data = data.as_bytes();
        if overflow != 0 || data.len() >= DETACH_SEND {
            return None;
        }
        let lp = Borrowed::from_ptr(py, slf).cast_unchecked::<PyLoop>();
        Some(lp.get().core(py, |lp| lp.send(handle, data)).map(|()| py.None().into_ptr()))
    }
}

/// Puts [`send_fast`] in front of the generated `Loop.send` (same signature and doc).
pub fn install_send_fast(py: Python<'_>) -> PyResult<()> {
    let ty = py.get_type::<PyLoop>();
    let signature: String = ty.getattr("send")?.getattr("__text_signature__")?.extract()?;
    install_fast_method(&ty, c"send", &signature, send_fast, &SEND)
}

#[pymethods]
impl PyLoop {
    /// Creates a loop (OSError such as EMFILE if the system is out of resources).
    #[new]
    #[classmethod]
    #[pyo3(signature = (*args, **kwargs))]
    fn new(cls: &Bound<'_, PyType>, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let py = cls.py();
        let given = !args.is_empty() || kwargs.is_some_and(|k| !k.is_empty());
        if given && cls.getattr("__init__")?.is(py.get_type::<PyAny>().getattr("__init__")?) {
            return Err(PyTypeError::new_err("Loop() takes no arguments"));
        }
        let lp = guard(nc::Loop::new).py_err(py)?;
        Ok(PyLoop { inner: RwLock::new(Some(lp)), objects: Default::default(), close_hooks: Default::default() })
    }

    /// Waits up to `timeout` seconds and returns up to `max_events` events ([] on timeout or wake()).
    #[pyo3(signature = (timeout=None, max_events=None), text_signature = "(self, /, timeout=None, max_events=1024)")]
    fn poll<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<Secs>,
        max_events: Option<Int<usize>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let max = max_events_arg(py, max_events, nc::DEFAULT_MAX_EVENTS)?;
        let nowait = timeout.as_ref().is_some_and(|t| t.0.is_zero());
        // Far-future timeouts are waits without a deadline.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t.0));
        let lp = self.owned(py)?;
        let events = PyList::empty(py);
        if let Some(batch) = Self::wait(py, &lp, max, deadline, nowait)? {
            self.deliver(py, &lp, batch, |e| events.append(e), None)?;
        }
        Ok(events)
    }

    /// Calls `callback(event)` for every event (`on_data(handle, data)` for "data") until stop().
    #[pyo3(
        signature = (callback, max_events=None, *, on_data=None),
        text_signature = "(self, /, callback, max_events=256, *, on_data=None)"
    )]
    fn run(
        &self,
        py: Python<'_>,
        callback: &Obj<'_>,
        max_events: Option<Int<usize>>,
        on_data: Option<&Obj<'_>>,
    ) -> PyResult<()> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err("callback must be callable"));
        }
        let on_data = on_data.filter(|f| !f.is_none());
        if on_data.is_some_and(|f| !f.is_callable()) {
            return Err(PyTypeError::new_err("on_data must be callable (or None)"));
        }
        let max = max_events_arg(py, max_events, nc::RUN_MAX_EVENTS)?;
        let on_data = on_data.map(|f| Callee::new(f).map(DataSink::Call)).transpose()?;
        let callback = Callee::new(callback)?;
        // The last poll returned events: more are likely pending already.
        let mut busy = false;
        loop {
            let lp = self.owned(py)?;
            if lp.take_stop() {
                return Ok(());
            }
            let batch = Self::wait(py, &lp, max, None, busy)?;
            busy = batch.is_some();
            if let Some(batch) = batch {
                self.deliver(py, &lp, batch, |e| callback.call([e.as_any()]), on_data.as_ref())?;
            }
            py.check_signals()?;
        }
    }

    /// Makes the current (or next) run() return after its current batch.
    fn stop(&self) {
        if let Some(lp) = &*self.inner.read() {
            lp.stop();
        }
    }

    /// Interrupts a blocking poll() (which returns []), from any thread.
    fn wake(&self) {
        if let Some(lp) = &*self.inner.read() {
            lp.wake();
        }
    }

    /// close(): closes the loop and every handle at once. close(handle): closes a handle gracefully.
    #[pyo3(signature = (*args))]
    fn close(&self, py: Python<'_>, args: &Bound<'_, PyTuple>) -> PyResult<()> {
        match args.len() {
            0 => {
                // The hooks run first, while the descriptor is still open.
                let hooks = take(&mut *self.close_hooks.lock());
                for hook in hooks {
                    if let Err(e) = hook.bind(py).call0() {
                        e.write_unraisable(py, Some(hook.bind(py)));
                    }
                }
                let inner = self.inner.write().take();
                // Every socket closes now; a poll waiting in another thread
                // (with its own reference) returns ECLOSED.
                if let Some(lp) = inner {
                    lp.close_loop();
                }
                self.drop_objects();
                Ok(())
            }
            1 => {
                let h = args.get_item(0)?.extract::<Hd>()?.0;
                self.core(py, |lp| lp.close(h))
            }
            n => Err(PyTypeError::new_err(format!("close() takes at most 1 argument ({n} given)"))),
        }
    }

    /// Whether close() was called.
    #[getter]
    pub(crate) fn closed(&self) -> bool {
        self.inner.read().is_none()
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py, &PyTuple::empty(py))?;
        Ok(false)
    }

    /// Starts a TCP connection to host and port; returns its handle at once ("connected" follows).
    #[pyo3(signature = (host, port, *, userdata=None, timeout=None, family=None, local_address=None, attempt_delay=None, reconnect=None, tls=None, server_hostname=None))]
    #[allow(clippy::too_many_arguments)]
    fn connect(
        &self,
        py: Python<'_>,
        host: Text,
        port: Int<i64>,
        userdata: Option<&Obj<'_>>,
        timeout: Option<Secs>,
        family: Option<Named<nc::Family>>,
        local_address: Option<Addr>,
        attempt_delay: Option<Secs>,
        reconnect: Option<Delays>,
        tls: Option<tls::Context<'_>>,
        server_hostname: Option<Text>,
    ) -> PyResult<i64> {
        let tls = tls::client_tls(py, tls.as_ref(), server_hostname, &host.0)?;
        self.attach(py, userdata, |lp| {
            let opts = nc::ConnectOptions::build(nc::ConnectParams {
                timeout: timeout.map(|t| t.0),
                family: family.map_or(nc::Family::default(), |f| f.0),
                local_host: local_address.as_ref().map(|Addr(host, _)| host.as_str()),
                local_port: local_address.as_ref().map(|&Addr(_, port)| port),
                attempt_delay: attempt_delay.map(|d| d.0),
                reconnect: reconnect.as_ref().map_or(&[], |r| &r.0),
            })?;
            tls::connect(lp, lp.tcp_connect_with(&host.0, port.0, &opts, 1), tls.as_ref())
        })
    }

    /// Adopts a listening socket (detached) or descriptor (handed over); returns the handle.
    #[pyo3(signature = (sock, *, userdata=None))]
    fn adopt_listener(&self, py: Python<'_>, sock: &Obj<'_>, userdata: Option<&Obj<'_>>) -> PyResult<i64> {
        self.adopt(py, sock, userdata, nc::Loop::adopt_listener)
    }

    /// Adopts a connected stream socket or descriptor as adopt_listener does.
    #[pyo3(signature = (sock, *, userdata=None))]
    fn adopt_connection(&self, py: Python<'_>, sock: &Obj<'_>, userdata: Option<&Obj<'_>>) -> PyResult<i64> {
        self.adopt(py, sock, userdata, nc::Loop::adopt_connection)
    }

    /// Adopts a datagram socket (UDP or Unix) as adopt_listener does.
    #[pyo3(signature = (sock, *, userdata=None))]
    fn adopt_udp(&self, py: Python<'_>, sock: &Obj<'_>, userdata: Option<&Obj<'_>>) -> PyResult<i64> {
        self.adopt(py, sock, userdata, nc::Loop::adopt_udp)
    }

    /// Queues data on a connection (or connected UDP socket) whole, or raises BlockingIOError.
    #[pyo3(signature = (handle, data, token=None))]
    fn send(&self, py: Python<'_>, handle: Hd, data: BytesArg<'_>, token: Option<Token>) -> PyResult<()> {
        self.send_slices(py, handle.0, &[data.as_slice()], data.immutable(), token.map(|t| t.0))
    }

    /// Sends several buffers as one message (writev), as send() does.
    #[pyo3(signature = (handle, buffers, token=None))]
    fn sendv(&self, py: Python<'_>, handle: Hd, buffers: &Obj<'_>, token: Option<Token>) -> PyResult<()> {
        let held = items::<BytesArg>(buffers, "an iterable of bytes-like objects")?;
        let slices: Vec<&[u8]> = held.iter().map(BytesArg::as_slice).collect();
        self.send_slices(py, handle.0, &slices, held.iter().all(BytesArg::immutable), token.map(|t| t.0))
    }

    /// Sends `(data, (host, port) or None)` datagrams, many per system call; returns how many went.
    fn send_batch(&self, py: Python<'_>, handle: Hd, datagrams: &Obj<'_>) -> PyResult<usize> {
        let held = items::<DatagramArg>(datagrams, "an iterable of (data, (host, port) or None) tuples")?;
        let each = held.iter().map(|DatagramArg(data, to)| {
            let to = to.as_ref().map(Destination::socket_addr).transpose()?;
            Ok(nc::DatagramToSend { data: data.as_slice(), to })
        });
        self.core(py, |lp| lp.send_batch(handle.0, each))
    }

    /// setsockopt(level, name, value) on a handle's socket (a C int or bytes-like value).
    fn set_raw_option(&self, py: Python<'_>, handle: Hd, level: i32, name: i32, value: &Obj<'_>) -> PyResult<()> {
        if !is_index(value) {
            let bytes = value.extract::<BytesArg>()?;
            return self.core(py, |lp| lp.set_raw_option(handle.0, level, name, bytes.as_slice()));
        }
        let value = int(value, || Err(invalid(py, "value: expected a C int")))?;
        self.core(py, |lp| lp.set_raw_option_int(handle.0, level, name, value))
    }

    /// getsockopt(level, name) on a handle's socket: a C int, or up to `buflen` bytes.
    #[pyo3(signature = (handle, level, name, buflen=0))]
    fn get_raw_option(&self, py: Python<'_>, handle: Hd, level: i32, name: i32, buflen: usize) -> PyResult<Py<PyAny>> {
        if buflen == 0 {
            let int = self.core(py, |lp| lp.raw_option_int(handle.0, level, name))?;
            return Ok(int.into_pyobject(py)?.into_any().unbind());
        }
        let value = self.core(py, |lp| lp.raw_option(handle.0, level, name, buflen))?;
        Ok(PyBytes::new(py, &value).into_any().unbind())
    }

    /// The local address of a handle as (host, port).
    fn local_address<'py>(&self, py: Python<'py>, handle: Hd) -> PyResult<Bound<'py, PyTuple>> {
        addr_tuple(py, self.core(py, |lp| lp.local_addr(handle.0))?)
    }

    /// The peer address of a connection (or connected UDP socket) as (host, port).
    fn peer_address<'py>(&self, py: Python<'py>, handle: Hd) -> PyResult<Bound<'py, PyTuple>> {
        addr_tuple(py, self.core(py, |lp| lp.peer_addr(handle.0))?)
    }

    /// Attaches any object to a handle (None removes it), returned as `event.userdata`.
    fn set_userdata(&self, py: Python<'_>, handle: Hd, obj: &Obj<'_>) -> PyResult<()> {
        self.attach(py, Some(obj), |lp| lp.kind(handle.0).map(|_| handle.0)).map(drop)
    }

    /// The object attached to a live handle, or None.
    fn get_userdata(&self, py: Python<'_>, handle: Hd) -> PyResult<Option<Py<PyAny>>> {
        self.core(py, |lp| lp.kind(handle.0))?;
        Ok(self.objects.lock().get(&handle.0.raw()).map(|o| o.clone_ref(py)))
    }

    /// A context manager that closes `handle` gracefully on exit: `with loop.closing(h) as h:`.
    fn closing(slf: Bound<'_, Self>, handle: Hd) -> PyResult<Closing> {
        slf.get().core(slf.py(), |lp| lp.kind(handle.0))?;
        Ok(Closing { lp: slf.unbind(), handle: handle.0.raw() })
    }

    fn __repr__(&self) -> String {
        match &*self.inner.read() {
            Some(lp) => format!("<netcore.Loop fd={} handles={}>", lp.fd(), lp.handle_count()),
            None => "<netcore.Loop closed>".to_owned(),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Under-reporting is safe for the collector; never block here.
        let (objects, hooks) = (self.objects.try_lock(), self.close_hooks.try_lock());
        let hooks = hooks.iter().flat_map(|h| h.iter());
        objects.iter().flat_map(|o| o.values()).chain(hooks).try_for_each(|o| visit.call(o))
    }

    fn __clear__(&self) {
        self.drop_objects();
    }
}

/// `fn name(arguments) -> T = |lp| call;` as a `Loop` method that runs
/// `call` through [`PyLoop::core`] (panics caught, errors raised); a
/// `#[pyo3(signature = ...)]` before it gives defaults.
macro_rules! core_methods {
    ($(
        $(#[$attr:meta])*
        $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = |$lp:ident| $call:expr;
    )*) => {
        #[pymethods]
        impl PyLoop {$(
            $(#[$attr])*
            #[allow(clippy::too_many_arguments)]
            $vis fn $name(&self, py: Python<'_>, $($arg: $ty),*) -> PyResult<$ret> {
                self.core(py, |$lp| $call)
            }
        )*}
    };
}

/// `fn name(arguments = default; options = default) = |lp| call;` as a
/// `Loop` method that makes a handle: the options are keyword-only, and so
/// is the `userdata` every such method takes, stored for the handle by
/// [`PyLoop::attach`] around `call`.
macro_rules! handle_methods {
    ($(
        $(#[doc = $doc:literal])*
        fn $name:ident(
            $($arg:ident: $ty:ty $(= $arg_default:tt)?),* $(; $($opt:ident: $opt_ty:ty = $opt_default:tt),*)?
        ) = |$lp:ident| $call:expr;
    )*) => {
        #[pymethods]
        impl PyLoop {$(
            $(#[doc = $doc])*
            #[pyo3(signature = ($($arg $(= $arg_default)?,)* *, $($($opt = $opt_default,)*)? userdata = None))]
            #[allow(clippy::too_many_arguments)]
            fn $name(
                &self,
                py: Python<'_>,
                $($arg: $ty,)*
                $($($opt: $opt_ty,)*)?
                userdata: Option<&Obj<'_>>,
            ) -> PyResult<i64> {
                self.attach(py, userdata, |$lp| $call)
            }
        )*}
    };
}

handle_methods! {
    /// Listens for TCP connections on host and port; returns the listener handle.
    fn listen(
        host: Text,
        port: Int<i64>;
        backlog: Option<Int<i32>> = None,
        reuse_port: Option<bool> = None,
        ipv6_only: Option<bool> = None,
        max_connections: Option<Int<usize>> = None,
        tls: Option<tls::Context<'_>> = None
    ) = |lp| {
        let max_connections = max_connections.map(|m| m.0);
        let opts = nc::BindOptions::given(backlog.map(|b| b.0), reuse_port, ipv6_only, max_connections);
        tls::listen(lp, tls.as_ref(), || lp.tcp_listen(&host.0, port.0, &opts, 1))
    };
    /// Starts a timer ("timer" events after `delay`, then every `repeat` seconds); returns its handle.
    fn timer(delay: Secs, repeat: Option<Secs> = None) = |lp| lp.timer_start(delay.0, repeat.map(|r| r.0), 1);
    /// Binds a UDP socket on host and port; returns its handle.
    fn udp_bind(host: Text, port: Int<i64>; reuse_port: Option<bool> = None, ipv6_only: Option<bool> = None) = |lp| {
        let opts = nc::BindOptions::given(None, reuse_port, ipv6_only, None);
        lp.udp_bind(&host.0, port.0, &opts, 1)
    };
    /// Listens for stream connections on the Unix socket `path`; returns the listener handle.
    fn listen_unix(
        path: Text;
        backlog: Option<Int<i32>> = None,
        max_connections: Option<Int<usize>> = None,
        tls: Option<tls::Context<'_>> = None
    ) = |lp| {
        let opts = nc::BindOptions::given(backlog.map(|b| b.0), None, None, max_connections.map(|m| m.0));
        tls::listen(lp, tls.as_ref(), || lp.unix_listen(&path.0, &opts, 1))
    };
    /// Connects to the Unix socket `path`; failures raise at once. Returns the handle.
    fn connect_unix(path: Text) = |lp| lp.unix_connect(&path.0, 1);
    /// Binds a Unix datagram socket on `path`; returns its handle.
    fn udp_bind_unix(path: Text) = |lp| lp.unix_dgram_bind(&path.0, 1);
}

// The Loop methods that are one core call each (the stub has their long docs).
core_methods! {
    /// The loop's descriptor, readable while events are pending (watch it; do not read or close it).
    fn fileno() -> i32 = |lp| Ok(lp.fd());
    /// Seconds a host loop may wait before calling poll(0) again (None: until new I/O).
    pub(crate) fn next_timeout() -> Option<f64>
        = |lp| Ok(lp.next_timeout().map(|d| d.as_secs_f64()));
    /// Number of open handles.
    fn handle_count() -> usize = |lp| Ok(lp.handle_count());
    /// Fires "idle" events after `timeout` seconds without I/O on a connection (None: off).
    fn set_idle_timeout(handle: Hd, timeout: Option<Secs>) -> ()
        = |lp| lp.set_idle_timeout(handle.0, timeout.map(|t| t.0));
    /// Caps a listener's open connections (0 = no cap).
    fn set_max_connections(listener: Hd, max: Int<usize>) -> ()
        = |lp| lp.set_max_connections(listener.0, max.0);
    /// Graceful server shutdown: "shutdown_complete" then "closed" for the listener.
    fn shutdown_server(listener: Hd, drain: Secs) -> () = |lp| lp.shutdown_server(listener.0, drain.0);
    /// Sends one datagram from a Unix datagram socket to `path`.
    fn send_to_unix(handle: Hd, data: BytesArg<'_>, path: Text) -> ()
        = |lp| lp.unix_send_to(handle.0, &path.0, data.as_slice());
    /// Sets a Unix datagram socket's default peer (then send() sends there).
    fn udp_connect_unix(handle: Hd, path: Text) -> () = |lp| lp.unix_dgram_connect(handle.0, &path.0);
    /// (pid, uid, gid) of a Unix connection's peer (SO_PEERCRED).
    fn peer_credentials(handle: Hd) -> (i32, u32, u32)
        = |lp| lp.peer_credentials(handle.0).map(|c| (c.pid, c.uid, c.gid));
    /// The Unix path of a socket's own end ("@name" if abstract; None when unnamed).
    fn local_path(handle: Hd) -> Option<String> = |lp| lp.local_path(handle.0);
    /// The Unix path of a connection's peer, as local_path.
    fn peer_path(handle: Hd) -> Option<String> = |lp| lp.peer_path(handle.0);
    /// Sets a UDP socket's default peer (an IP literal and port).
    fn udp_connect(handle: Hd, host: Text, port: Int<i64>) -> () = |lp| lp.udp_connect(handle.0, &host.0, port.0);
    /// Dissolves a datagram socket's default peer (it keeps its own address).
    fn udp_disconnect(handle: Hd) -> () = |lp| lp.udp_disconnect(handle.0);
    /// Sends one datagram to addr, a (host, port) tuple with an IP literal.
    fn send_to(handle: Hd, data: BytesArg<'_>, addr: Addr) -> ()
        = |lp| lp.send_to(handle.0, &addr.0, addr.1, data.as_slice());
    /// Closes at once: a connection drops its queue and resets (RST).
    fn close_reset(handle: Hd) -> () = |lp| lp.close_reset(handle.0);
    /// Closes at once: drops what netcore still queues (then RST), else FIN after what the kernel took.
    fn close_abort(handle: Hd) -> () = |lp| lp.close_abort(handle.0);
    /// Half-closes a connection: FIN once everything queued is sent.
    fn shutdown(handle: Hd) -> () = |lp| lp.shutdown(handle.0);
    /// A "sent" event with `token` once the kernel took every byte sent on the connection so far.
    fn notify_when_sent(handle: Hd, token: Token) -> () = |lp| lp.notify_when_sent(handle.0, token.0);
    /// Stops reading from a connection (a peer close is still noticed).
    fn pause(handle: Hd) -> () = |lp| lp.pause(handle.0);
    /// Resumes reading from a paused connection.
    fn resume(handle: Hd) -> () = |lp| lp.resume(handle.0);
    /// Answers host name `name` with these IP addresses for connect() (no resolver).
    fn set_host_addresses(name: Text, addresses: Texts) -> ()
        = |lp| lp.set_host_addresses(&name.0, &nc::ip_addresses(&addresses.0)?);
    /// Sets an option (a constant such as netcore.NODELAY, or its name), range-checked.
    fn set_option(handle: Hd, option: Opt, value: Int<i64>) -> ()
        = |lp| lp.set_option(handle.0, option.0, value.0);
    /// Reads an option back (as set_option names it).
    fn get_option(handle: Hd, option: Opt) -> i64 = |lp| lp.get_option(handle.0, option.0);
    /// The socket descriptor behind a handle (netcore owns it: do not close it).
    fn raw_fd(handle: Hd) -> i32 = |lp| lp.raw_fd(handle.0);
    /// Bytes sent on a connection that the kernel has not taken yet.
    fn queued_bytes(handle: Hd) -> usize = |lp| lp.queued_bytes(handle.0);
    /// The kind of a live handle: "tcp_listener", "tcp_connection", "udp" or "timer".
    fn kind(handle: Hd) -> &'static str = |lp| lp.kind(handle.0).map(nc::HandleKind::name);
    /// Sets how a connection's input is cut into "data" events ("stream", "delimited", ...).
    #[pyo3(signature = (handle, mode, *, delimiter=None, size=None, header=None, max_frame=None))]
    fn set_framing(
        handle: Hd,
        mode: Named<FramingMode>,
        delimiter: Option<BytesArg<'_>>,
        size: Option<Int<usize>>,
        header: Option<Int<usize>>,
        max_frame: Option<Int<usize>>
    ) -> () = |lp| {
        let delimiter = delimiter.as_ref().map(BytesArg::as_slice);
        let (size, header, max_frame) = (size.map(|s| s.0), header.map(|h| h.0), max_frame.map(|m| m.0));
        frame(lp, handle, mode.0, FramingParams { delimiter, size, header, max_frame })
    };
    /// set_framing(handle, "delimited", delimiter=delimiter, max_frame=max_frame).
    #[pyo3(signature = (handle, delimiter, max_frame=None))]
    fn frame_delimited(handle: Hd, delimiter: BytesArg<'_>, max_frame: Option<Int<usize>>) -> () = |lp| {
        let (delimiter, max_frame) = (Some(delimiter.as_slice()), max_frame.map(|m| m.0));
        frame(lp, handle, FramingMode::Delimited, FramingParams { delimiter, max_frame, ..Default::default() })
    };
    /// set_framing(handle, "fixed", size=size).
    fn frame_fixed(handle: Hd, size: Int<usize>) -> ()
        = |lp| frame(lp, handle, FramingMode::Fixed, FramingParams { size: Some(size.0), ..Default::default() });
    /// set_framing(handle, "length_prefixed", header=header_bytes, max_frame=max_frame).
    #[pyo3(signature = (handle, header_bytes, max_frame=None))]
    fn frame_length_prefixed(handle: Hd, header_bytes: Int<usize>, max_frame: Option<Int<usize>>) -> () = |lp| {
        let (header, max_frame) = (Some(header_bytes.0), max_frame.map(|m| m.0));
        frame(lp, handle, FramingMode::LengthPrefixed, FramingParams { header, max_frame, ..Default::default() })
    };
    /// Joins a multicast group on a UDP socket.
    #[pyo3(signature = (handle, group, interface=None))]
    fn add_membership(handle: Hd, group: Text, interface: Option<Interface>) -> ()
        = |lp| lp.udp_multicast(handle.0, &group.0, interface.as_ref().map_or("", |i| &i.0), true);
    /// Leaves a multicast group joined with add_membership.
    #[pyo3(signature = (handle, group, interface=None))]
    fn drop_membership(handle: Hd, group: Text, interface: Option<Interface>) -> ()
        = |lp| lp.udp_multicast(handle.0, &group.0, interface.as_ref().map_or("", |i| &i.0), false);
    /// Sets the interface a UDP socket sends multicast datagrams from (an address, or an IPv6 index).
    fn set_multicast_interface(handle: Hd, interface: Interface) -> ()
        = |lp| lp.udp_multicast_interface(handle.0, &interface.0);
}

/// Sets a connection's framing: `mode` with `params`, as the core completes and checks them.
fn frame(lp: &nc::Loop, handle: Hd, mode: FramingMode, params: FramingParams<'_>) -> nc::Result<()> {
    lp.set_framing(handle.0, nc::Framing::build(mode, params)?)
}

/// A loop collected while open warns, as asyncio's loops and sockets do, and is closed.
impl Drop for PyLoop {
    fn drop(&mut self) {
        let Some(lp) = self.inner.get_mut().take() else { return };
        let message = format!("unclosed netcore.Loop fd={} handles={}", lp.fd(), lp.handle_count());
        drop(lp);
        // Deallocation holds the GIL; at interpreter shutdown there may be
        // no one left to warn.
        Python::try_attach(|py| {
            let Ok(message) = std::ffi::CString::new(message) else { return };
            // A deallocation may happen while an exception is propagating:
            // keep it across the warning.
            let pending = PyErr::take(py);
            let category = py.get_type::<PyResourceWarning>();
            if let Err(e) = PyErr::warn(py, &category, &message, 1) {
                e.write_unraisable(py, None);
            }
            if let Some(e) = pending {
                e.restore(py);
            }
        });
    }
}

/// Returned by Loop.closing(handle).
#[pyclass(frozen, module = "netcore", name = "Closing")]
pub struct Closing {
    lp: Py<PyLoop>,
    handle: i64,
}

#[pymethods]
impl Closing {
    fn __enter__(&self) -> i64 {
        self.handle
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        let h = nc::Handle::from_raw(self.handle);
        // A closed loop, or a handle (live when the block began) closing or
        // gone since: nothing to do.
        match self.lp.get().core_result(py, |lp| lp.close(h)) {
            Ok(Err(e)) if e != nc::Error::EBADHANDLE && e != nc::Error::ECLOSED => Err(to_pyerr(py, e)),
            _ => Ok(false),
        }
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.lp)
    }
}
