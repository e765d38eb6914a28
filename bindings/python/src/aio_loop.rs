//! netcore.aio's event loop core in native code: `call_soon` makes a native
//! [`AioHandle`] (asyncio.Handle's behaviour, no Python frame to make or
//! run it), `call_at` / `call_later` a native [`AioTimerHandle`] on
//! asyncio's own timer heap; `create_task`, `time` and `get_debug` skip
//! asyncio's Python frames; `_run_once`, the loop's turn, checks and runs
//! netcore's handles and orders its timers without Python attribute lookups,
//! and waits on asyncio's epoll selector without its Python frames.
//! asyncio's methods keep every case these do not take: debug mode (its
//! checks and source tracebacks), a closed loop (its error), keywords other
//! than `context=`, a deadline or delay of another type.

use netcore_core as nc;
use parking_lot::Mutex;
use pyo3::exceptions::{PyIndexError, PyInterruptedError, PyKeyboardInterrupt, PyRuntimeError, PySystemExit};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use pyo3::pyclass::CompareOp;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::{ffi, intern, PyTraverseError, PyVisit};

use crate::errors::guard;
use crate::fastcall::{fast_method, install_fast_method, vectorcall, VECTORCALL_ARGUMENTS_OFFSET};

/// Any Python object.
type Obj<'py> = Bound<'py, PyAny>;

/// Calls `callable` with `slots[1..]`: `nargs` positional arguments, then
/// one value per name in `kwnames`; `slots[0]` is the scratch slot
/// vectorcall's offset flag lends to the callee.
///
/// # Safety
/// `slots[1..]` are live objects, borrowed for the call.
unsafe fn call_in_place<'py>(
    callable: &Obj<'py>,
    slots: &[*mut ffi::PyObject],
    nargs: usize,
    kwnames: Option<&Bound<'py, PyTuple>>,
) -> PyResult<Obj<'py>> {
    let kwnames = kwnames.map_or(std::ptr::null_mut(), |k| k.as_ptr());
    let result = vectorcall(callable.as_ptr(), slots[1..].as_ptr(), nargs | VECTORCALL_ARGUMENTS_OFFSET, kwnames);
    // SAFETY: a new reference, or NULL with an exception set.
    Bound::from_owned_ptr_or_err(callable.py(), result)
}

/// `obj.<name>(*args)` without a bound method object or an argument tuple
/// (`PyObject_VectorcallMethod`).
fn call_method<'py, const N: usize>(
    obj: &Obj<'py>,
    name: &Bound<'py, PyString>,
    args: [&Obj<'py>; N],
) -> PyResult<Obj<'py>> {
    const { assert!(N <= 3) };
    let mut slots = [obj.as_ptr(); 4];
    for (slot, arg) in slots[1..].iter_mut().zip(args) {
        *slot = arg.as_ptr();
    }
    // SAFETY: `obj` and the arguments, live for the call; a new reference,
    // or NULL with an exception set.
    unsafe {
        let result = vectorcall_method(name.as_ptr(), slots.as_ptr(), 1 + N, std::ptr::null_mut());
        Bound::from_owned_ptr_or_err(obj.py(), result)
    }
}

extern "C" {
    /// `PyObject_VectorcallMethod`: public (and exported) since CPython
    /// 3.9, in the limited API from 3.12, as [`vectorcall`].
    #[link_name = "PyObject_VectorcallMethod"]
    fn vectorcall_method(
        name: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargsf: usize,
        kwnames: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
}

/// Private (netcore.aio): what `EventLoop.call_soon` returns, an
/// `asyncio.Handle` in all but its type: `cancel()`, `cancelled()`,
/// `get_context()`, and `_run()` / `_cancelled` for asyncio's `_run_once`.
#[pyclass(frozen, subclass, module = "netcore", name = "_Handle")]
pub struct AioHandle {
    /// The callback and its arguments; None once cancelled (as asyncio
    /// drops them, so they are freed at once).
    call: Mutex<Option<(Py<PyAny>, Py<PyTuple>)>>,
    context: Py<PyAny>,
    aloop: Py<PyAny>,
}

/// `contextvars.Context.run`, called with the context first.
fn context_run(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static RUN: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RUN.get_or_try_init(py, || Ok::<_, PyErr>(py.import("contextvars")?.getattr("Context")?.getattr("run")?.unbind()))
        .map(|run| run.bind(py))
}

/// asyncio's own text for a callback and its arguments
/// (`format_helpers._format_callback_source`), as its Handle shows it.
fn callback_source(callback: &Obj<'_>, args: &Bound<'_, PyTuple>) -> PyResult<String> {
    static FORMAT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let py = callback.py();
    let format = FORMAT.import(py, "asyncio.format_helpers", "_format_callback_source")?;
    format.call1((callback, args))?.extract()
}

#[pymethods]
impl AioHandle {
    fn cancel(&self) {
        let call = self.call.lock().take();
        drop(call);
    }

    fn cancelled(&self) -> bool {
        self.call.lock().is_none()
    }

    /// What asyncio's `_run_once` checks before `_run()`.
    #[getter]
    fn _cancelled(&self) -> bool {
        self.cancelled()
    }

    fn get_context(&self, py: Python<'_>) -> Py<PyAny> {
        self.context.clone_ref(py)
    }

    /// The callback (None once cancelled), as asyncio's debug mode reads
    /// it (`_format_handle`).
    #[getter]
    fn _callback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.call.lock().as_ref().map(|(callback, _)| callback.clone_ref(py))
    }

    /// Runs the callback in its context; as asyncio's Handle, SystemExit
    /// and KeyboardInterrupt propagate, any other exception goes to the
    /// loop's exception handler (`message`, `exception`, `handle`).
    fn _run(slf: &Bound<'_, Self>) -> PyResult<()> {
        AioHandle::run(slf)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        self.repr(py, "Handle", None)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.context)?;
        visit.call(&self.aloop)?;
        if let Some(call) = self.call.try_lock() {
            if let Some((callback, args)) = call.as_ref() {
                visit.call(callback)?;
                visit.call(args)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.cancel();
    }
}

impl AioHandle {
    /// asyncio's repr of a Handle (`name`) or, with `when`, a TimerHandle.
    fn repr(&self, py: Python<'_>, name: &str, when: Option<f64>) -> PyResult<String> {
        let call = self.call.lock().as_ref().map(|(c, a)| (c.bind(py).clone(), a.bind(py).clone()));
        let mut info = vec![name.to_owned()];
        if call.is_none() {
            info.push("cancelled".to_owned());
        }
        if let Some(when) = when {
            info.push(format!("when={}", PyFloat::new(py, when).repr()?));
        }
        if let Some((callback, args)) = call {
            info.push(callback_source(&callback, &args)?);
        }
        Ok(format!("<{}>", info.join(" ")))
    }

    /// [`AioHandle::_run`].
    fn run(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        // Bound, not Py: called from a fast method, where PyO3 would defer
        // a Py's release to its pool (it does not count such a call as
        // attached), at a cost per callback.
        let call = this.call.lock().as_ref().map(|(c, a)| (c.bind(py).clone(), a.bind(py).clone()));
        let Some((callback, args)) = call else {
            return Ok(());
        };
        let run = context_run(py)?;
        // On the stack for the usual few arguments: no allocation per callback.
        let mut on_stack = [std::ptr::null_mut(); 6];
        let mut on_heap = Vec::new();
        let slots = match on_stack.get_mut(..3 + args.len()) {
            Some(slots) => slots,
            None => {
                on_heap.resize(3 + args.len(), std::ptr::null_mut());
                &mut on_heap[..]
            }
        };
        slots[1] = this.context.as_ptr();
        slots[2] = callback.as_ptr();
        for (slot, arg) in slots[3..].iter_mut().zip(args.iter_borrowed()) {
            *slot = arg.as_ptr();
        }
        // SAFETY: the context, the callback and its arguments, held above for the call.
        let result = unsafe { call_in_place(run, slots, slots.len() - 1, None) };
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_instance_of::<PySystemExit>(py) || e.is_instance_of::<PyKeyboardInterrupt>(py) => Err(e),
            Err(e) => {
                let context = PyDict::new(py);
                context.set_item("message", format!("Exception in callback {}", callback_source(&callback, &args)?))?;
                context.set_item("exception", e.into_value(py))?;
                context.set_item("handle", slf)?;
                this.aloop.call_method1(py, intern!(py, "call_exception_handler"), (context,)).map(drop)
            }
        }
    }
}

/// Private (netcore.aio): what `EventLoop.call_at` / `call_later` return,
/// an `asyncio.TimerHandle` in all but its type (and `==`, which is
/// identity): `when()`, `cancel()` counted for asyncio's heap sweep, and
/// `_when` / `_scheduled` / ordering by deadline for asyncio's `_run_once`.
#[pyclass(frozen, extends = AioHandle, module = "netcore", name = "_TimerHandle")]
pub struct AioTimerHandle {
    when: f64,
    /// In the loop's `_scheduled` heap (asyncio's `_scheduled`).
    scheduled: AtomicBool,
}

#[pymethods]
impl AioTimerHandle {
    fn when(&self) -> f64 {
        self.when
    }

    #[getter]
    fn _when(&self) -> f64 {
        self.when
    }

    #[getter]
    fn _scheduled(&self) -> bool {
        self.scheduled.load(Ordering::Relaxed)
    }

    #[setter(_scheduled)]
    fn set_scheduled(&self, scheduled: bool) {
        self.scheduled.store(scheduled, Ordering::Relaxed);
    }

    /// As asyncio's: a timer still in the heap is counted (the loop's
    /// `_timer_handle_cancelled`), so `_run_once` sweeps the heap once
    /// cancelled timers are most of it.
    fn cancel(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let handle = slf.as_super().get();
        if !handle.cancelled() && slf.get()._scheduled() {
            let aloop = handle.aloop.bind(py);
            let count: isize = aloop.getattr(intern!(py, "_timer_cancelled_count"))?.extract()?;
            aloop.setattr(intern!(py, "_timer_cancelled_count"), count + 1)?;
        }
        handle.cancel();
        Ok(())
    }

    /// Ordered by deadline, against any timer with a `_when` (asyncio's own
    /// TimerHandle too); `==` is identity.
    fn __richcmp__(&self, other: &Obj<'_>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let other = match other.cast::<AioTimerHandle>() {
            Ok(timer) => timer.get().when,
            Err(_) => match other.getattr(intern!(py, "_when")).and_then(|w| w.extract::<f64>()) {
                Ok(when) => when,
                Err(_) => return Ok(py.NotImplemented()),
            },
        };
        let ordered = match op {
            CompareOp::Lt => self.when < other,
            CompareOp::Le => self.when <= other,
            CompareOp::Gt => self.when > other,
            CompareOp::Ge => self.when >= other,
            CompareOp::Eq | CompareOp::Ne => return Ok(py.NotImplemented()),
        };
        Ok(PyBool::new(py, ordered).to_owned().into_any().unbind())
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        slf.as_super().get().repr(slf.py(), "TimerHandle", Some(slf.get().when))
    }
}

fast_method! {
    /// `EventLoop.call_soon(callback, *args, context=None)` on an open loop
    /// out of debug mode; any other call goes to asyncio's (CALL_SOON).
    call_soon_fast, CALL_SOON, |py, slf, args, kwnames| {
        let aloop = Borrowed::from_ptr(py, slf);
        let reads = LoopReads::new(&aloop);
        let (&callback, args, context) = fast_call(&reads, args, kwnames)?;
        let ready = reads.held(|turn| turn.ready, intern!(py, "_ready")).ok()?;
        let handle = new_handle(&aloop, callback, args, context).and_then(|h| Bound::new(py, h));
        Some(handle.and_then(|handle| {
            call_method(&ready, intern!(py, "append"), [handle.as_any()])?;
            Ok(handle.into_ptr())
        }))
    }
}

fast_method! {
    /// `EventLoop.call_at(when, callback, *args, context=None)` with a
    /// float `when`, as [`call_soon_fast`]; any other call goes to asyncio's
    /// (CALL_AT).
    call_at_fast, CALL_AT, |py, slf, args, kwnames| {
        let aloop = Borrowed::from_ptr(py, slf);
        let reads = LoopReads::new(&aloop);
        let (&when, args, context) = fast_call(&reads, args, kwnames)?;
        let when = Borrowed::from_ptr(py, when).cast_exact::<PyFloat>().ok()?.value();
        let (&callback, args) = args.split_first()?;
        let timers = reads.held(|turn| turn.timers, intern!(py, "_scheduled")).ok()?;
        Some(schedule(&aloop, &timers, when, callback, args, context))
    }
}

fast_method! {
    /// `EventLoop.call_later(delay, callback, *args, context=None)` with a
    /// float or int `delay`, as [`call_at_fast`] at `time() + delay`; any
    /// other call goes to asyncio's (CALL_LATER).
    call_later_fast, CALL_LATER, |py, slf, args, kwnames| {
        let aloop = Borrowed::from_ptr(py, slf);
        let reads = LoopReads::new(&aloop);
        let (&delay, args, context) = fast_call(&reads, args, kwnames)?;
        let delay = Borrowed::from_ptr(py, delay);
        let delay = match delay.cast_exact::<PyFloat>() {
            Ok(delay) => delay.value(),
            Err(_) => delay.cast_exact::<PyInt>().ok()?.extract::<f64>().ok()?,
        };
        let now: f64 = call_method(&aloop, intern!(py, "time"), []).ok()?.extract().ok()?;
        let (&callback, args) = args.split_first()?;
        let timers = reads.held(|turn| turn.timers, intern!(py, "_scheduled")).ok()?;
        Some(schedule(&aloop, &timers, now + delay, callback, args, context))
    }
}

/// A call the fast methods take: on an open loop out of debug mode, with
/// at least one positional argument and no keyword but `context=`; its
/// first argument, the rest and the context. `None` for the others.
fn fast_call<'a>(
    reads: &LoopReads<'_, '_>,
    args: &'a [*mut ffi::PyObject],
    kwnames: Option<&Borrowed<'_, '_, PyTuple>>,
) -> Option<(&'a *mut ffi::PyObject, &'a [*mut ffi::PyObject], Option<*mut ffi::PyObject>)> {
    let py = reads.aloop.py();
    let (positional, context) = match kwnames {
        None => (args, None),
        Some(names) if names.len() == 1 && is_name(&names.get_item(0).ok()?, intern!(py, "context")) => {
            let (&context, positional) = args.split_last()?;
            (positional, Some(context))
        }
        Some(_) => return None,
    };
    if !reads.open_out_of_debug()? {
        return None;
    }
    let (first, rest) = positional.split_first()?;
    Some((first, rest, context))
}

/// Whether keyword `given` is `name`: the same interned string, as a
/// call's keywords usually are, or a str of the same text, as CPython
/// matches keywords (on 3.11 `_asyncio`'s `context=` is a static string,
/// not the interned one; its text compared without `==`'s ~170
/// instructions).
fn is_name(given: &Obj<'_>, name: &Bound<'_, PyString>) -> bool {
    // SAFETY: two live str objects (PyUnicode_Compare fails only for others).
    given.is(name)
        || (given.is_instance_of::<PyString>() && unsafe { ffi::PyUnicode_Compare(given.as_ptr(), name.as_ptr()) } == 0)
}

/// The loop whose callbacks [`run_once`] runs on this thread now, if it is
/// running (`run_forever`'s) and open, and what the fast methods its
/// callbacks call read of it, read once a turn instead of once a call (a
/// read of the loop's attribute costs ~190 instructions; bench/NOTES.md):
/// `close()` refuses to close a running loop, so they need not read its
/// `_closed`; asyncio replaces `_ready` and `_scheduled` only between
/// turns; `_debug` and `_task_factory` are read again after any
/// `set_debug` or `set_task_factory` ([`SETTINGS_CHANGES`]; a write to
/// `_debug` itself is seen from the next turn).
struct Turn {
    aloop: *mut ffi::PyObject,
    /// Its `_ready` and `_scheduled`, held by [`run_once`] for the turn.
    ready: *mut ffi::PyObject,
    timers: *mut ffi::PyObject,
    /// Its `_debug` if a bool (None: another object); None until read.
    debug: Cell<Option<Option<bool>>>,
    /// Whether it has a `_task_factory`; None until read.
    task_factory: Cell<Option<bool>>,
    /// [`SETTINGS_CHANGES`] when `debug` and `task_factory` were read.
    read_at: Cell<u64>,
    /// The core loops this turn's callbacks deferred sends on
    /// ([`send_at_turn_end`]), flushed when the turn ends.
    deferred: RefCell<Vec<nc::Loop>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        // A loop closed meanwhile has nothing left to send.
        for lp in self.deferred.get_mut().drain(..) {
            drop(guard(|| lp.flush_deferred()));
        }
    }
}

/// Sends `data` on `handle` when this turn's callbacks are done, with the
/// connection's other sends of the turn in one system call (an HTTP
/// server's head and body; [`nc::Loop::send_deferred`]), if a turn of
/// netcore.aio's loop runs callbacks on this thread; `None` if not.
pub(crate) fn send_at_turn_end(lp: &nc::Loop, handle: nc::Handle, data: &[u8]) -> Option<nc::Result<()>> {
    // SAFETY: RUNNING points to the live turn of run_once on this thread
    // as it runs callbacks (RunningTurn); this call is one of theirs.
    let turn = unsafe { RUNNING.get().as_ref() }?;
    Some(lp.send_deferred(handle, data).map(|first| {
        if first {
            turn.deferred.borrow_mut().push(lp.clone());
        }
    }))
}

/// How many times `set_debug` or `set_task_factory` was called on one of
/// netcore.aio's loops ([`_aio_loop_changed`]).
static SETTINGS_CHANGES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The [`Turn`] [`run_once`] runs on this thread now (null: none).
    static RUNNING: Cell<*const Turn> = const { Cell::new(std::ptr::null()) };
}

impl Turn {
    /// Forgets `debug` and `task_factory` if a loop's settings changed since
    /// they were read.
    fn forget_changed(&self) {
        let changes = SETTINGS_CHANGES.load(Ordering::Relaxed);
        if self.read_at.replace(changes) != changes {
            self.debug.set(None);
            self.task_factory.set(None);
        }
    }
}

/// A loop as the fast methods read it: through what its running [`Turn`]
/// keeps, if it runs one on this thread (looked up once, for the call).
struct LoopReads<'a, 'py> {
    aloop: &'a Obj<'py>,
    turn: Option<&'a Turn>,
}

impl<'a, 'py> LoopReads<'a, 'py> {
    fn new(aloop: &'a Obj<'py>) -> Self {
        // SAFETY: null, or a Turn on run_once's stack, set there for as long
        // as it runs callbacks (RunningTurn); a call on this thread that
        // reads it is one of those callbacks' and ends before them.
        let turn = unsafe { RUNNING.get().as_ref() }.filter(|turn| turn.aloop == aloop.as_ptr());
        LoopReads { aloop, turn }
    }

    /// What `read` makes of the loop: once a turn (`slot`, until a setting
    /// changes) if it runs one, else once a call.
    fn kept<T: Copy>(
        &self,
        slot: fn(&Turn) -> &Cell<Option<T>>,
        read: impl FnOnce(&Obj<'py>) -> PyResult<T>,
    ) -> PyResult<T> {
        let Some(turn) = self.turn else {
            return read(self.aloop);
        };
        turn.forget_changed();
        if let Some(known) = slot(turn).get() {
            return Ok(known);
        }
        let value = read(self.aloop)?;
        slot(turn).set(Some(value));
        Ok(value)
    }

    /// `aloop._debug` if a bool (None: another object, which asyncio's
    /// methods take).
    fn debug(&self) -> PyResult<Option<bool>> {
        self.kept(
            |turn| &turn.debug,
            |aloop| Ok(aloop.getattr(intern!(aloop.py(), "_debug"))?.cast_exact::<PyBool>().ok().map(|d| d.is_true())),
        )
    }

    /// Whether `aloop._debug` is true.
    fn debug_on(&self) -> PyResult<bool> {
        match self.debug()? {
            Some(debug) => Ok(debug),
            None => self.aloop.getattr(intern!(self.aloop.py(), "_debug"))?.is_truthy(),
        }
    }

    /// Whether `aloop._task_factory` is set.
    fn has_task_factory(&self) -> PyResult<bool> {
        self.kept(
            |turn| &turn.task_factory,
            |aloop| Ok(!aloop.getattr(intern!(aloop.py(), "_task_factory"))?.is_none()),
        )
    }

    /// `aloop.<name>`: what its running turn holds of it (`held`), if any.
    fn held(&self, held: fn(&Turn) -> *mut ffi::PyObject, name: &Bound<'py, PyString>) -> PyResult<Obj<'py>> {
        match self.turn {
            // SAFETY: held by run_once for the turn.
            Some(turn) => Ok(unsafe { Borrowed::from_ptr(self.aloop.py(), held(turn)) }.to_owned()),
            None => self.aloop.getattr(name),
        }
    }

    /// Whether `aloop` is open and out of debug mode with a bool `_debug`
    /// (`None`: unknown, or another `_debug`).
    fn open_out_of_debug(&self) -> Option<bool> {
        let py = self.aloop.py();
        Some(
            !self.debug().ok()??
                && (self.turn.is_some() || !self.aloop.getattr(intern!(py, "_closed")).ok()?.is_truthy().ok()?),
        )
    }
}

/// [`RUNNING`] set for as long as it lives, then what it was.
struct RunningTurn(*const Turn);

impl RunningTurn {
    fn set(turn: *const Turn) -> Self {
        RunningTurn(RUNNING.replace(turn))
    }
}

impl Drop for RunningTurn {
    fn drop(&mut self) {
        RUNNING.set(self.0);
    }
}

/// Private (netcore.aio): `set_debug` or `set_task_factory` was called on
/// a loop: a running [`Turn`] reads them again.
#[pyfunction]
fn _aio_loop_changed() {
    SETTINGS_CHANGES.fetch_add(1, Ordering::Relaxed);
}

fast_method! {
    /// `EventLoop.get_debug()` (asyncio's `Task` asks it of its loop once
    /// per task), without asyncio's frame.
    get_debug_fast, GET_DEBUG, |py, slf, args| {
        if !args.is_empty() {
            return None;
        }
        let aloop = Borrowed::from_ptr(py, slf);
        // Another `_debug` than a bool: asyncio's, which returns it as it is.
        let debug = LoopReads::new(&aloop).debug().transpose()?;
        Some(debug.map(|debug| PyBool::new(py, debug).to_owned().into_ptr()))
    }
}

fast_method! {
    /// `EventLoop.time()`: asyncio's `time.monotonic()`, without its frame.
    time_fast, TIME, |py, _slf, args| {
        static TIME: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
        if !args.is_empty() {
            return None;
        }
        let time = TIME.get_or_try_init(py, || py.import("time").map(Bound::unbind));
        // Looked up per call, as asyncio does (a test may patch it).
        Some(time.and_then(|time| Ok(module_attr(time.bind(py), intern!(py, "monotonic"))?.call0()?.into_ptr())))
    }
}

fast_method! {
    /// `EventLoop.create_task(coro, *, name=None, context=None)` on an open
    /// loop out of debug mode without a task factory: asyncio's
    /// `tasks.Task(coro, loop=self, name=name, context=context)`; any other
    /// call goes to asyncio's (CREATE_TASK).
    create_task_fast, CREATE_TASK, |py, slf, args, kwnames| {
        let aloop = Borrowed::from_ptr(py, slf);
        let names: Vec<Bound<'_, PyAny>> = kwnames.map(|n| n.iter().collect()).unwrap_or_default();
        let known = [intern!(py, "name"), intern!(py, "context")];
        if args.len() != 1 + names.len()
            || names.len() > known.len()
            || !names.iter().all(|n| known.iter().any(|k| is_name(n, k)))
        {
            return None;
        }
        let reads = LoopReads::new(&aloop);
        if !reads.open_out_of_debug()? || reads.has_task_factory().ok()? {
            return None;
        }
        Some(new_task(&aloop, args, names))
    }
}

/// `tasks.Task(coro, loop=aloop, **keywords)`, `args`: the coroutine, then
/// the values of the keywords `names` (at most two: `name`, `context`).
fn new_task<'py>(
    aloop: &Obj<'py>,
    args: &[*mut ffi::PyObject],
    names: Vec<Bound<'py, PyAny>>,
) -> PyResult<*mut ffi::PyObject> {
    static TASKS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    static LOOP_ONLY: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();
    let py = aloop.py();
    let tasks = TASKS.get_or_try_init(py, || py.import("asyncio.tasks").map(Bound::unbind))?;
    // Looked up per call, as asyncio does.
    let task = module_attr(tasks.bind(py), intern!(py, "Task"))?;
    let kwnames = if names.is_empty() {
        // The usual call (no name, no context): its keywords' names made once.
        LOOP_ONLY.get_or_try_init(py, || PyTuple::new(py, [intern!(py, "loop")]).map(Bound::unbind))?.bind(py).clone()
    } else {
        let mut all_names = vec![intern!(py, "loop").clone().into_any()];
        all_names.extend(names);
        PyTuple::new(py, all_names)?
    };
    // On the stack: no allocation per task.
    let mut slots = [std::ptr::null_mut(); 5];
    let slots = slots.get_mut(..2 + args.len()).ok_or_else(|| PyRuntimeError::new_err("netcore: too many keywords"))?;
    (slots[1], slots[2]) = (args[0], aloop.as_ptr());
    slots[3..].copy_from_slice(&args[1..]);
    // SAFETY: the coroutine and the keywords' values (the fast call's
    // arguments) and the loop, live for the call.
    unsafe { call_in_place(&task, slots, 1, Some(&kwnames)) }.map(Bound::into_ptr)
}

/// asyncio's `Handle(callback, args, loop, context)`: the context given
/// (None: a copy of the current one).
fn new_handle(
    aloop: &Obj<'_>,
    callback: *mut ffi::PyObject,
    args: &[*mut ffi::PyObject],
    context: Option<*mut ffi::PyObject>,
) -> PyResult<AioHandle> {
    let py = aloop.py();
    // SAFETY: the call's arguments, live for its duration.
    let borrow = |p: *mut ffi::PyObject| unsafe { Borrowed::from_ptr(py, p) };
    let context = match context.map(borrow).filter(|c| !c.is_none()) {
        Some(context) => context.to_owned().unbind(),
        None => copy_context(py)?.call0()?.unbind(),
    };
    let call = (borrow(callback).to_owned().unbind(), PyTuple::new(py, args.iter().map(|&a| borrow(a)))?.unbind());
    Ok(AioHandle { call: Mutex::new(Some(call)), context, aloop: aloop.clone().unbind() })
}

/// A new [`AioTimerHandle`] pushed on the loop's `_scheduled` heap, `timers`.
fn schedule(
    aloop: &Obj<'_>,
    timers: &Obj<'_>,
    when: f64,
    callback: *mut ffi::PyObject,
    args: &[*mut ffi::PyObject],
    context: Option<*mut ffi::PyObject>,
) -> PyResult<*mut ffi::PyObject> {
    let py = aloop.py();
    let timers = timers.cast::<PyList>()?;
    let timer = PyClassInitializer::from(new_handle(aloop, callback, args, context)?)
        .add_subclass(AioTimerHandle { when, scheduled: AtomicBool::new(true) });
    let timer = Bound::new(py, timer)?;
    heap_push(timers, timer.as_any())?;
    Ok(timer.into_ptr())
}

fast_method! {
    /// `EventLoop._run_once()`, asyncio's turn of the loop
    /// (base_events.py), with netcore's handles checked and run and its
    /// timers ordered without Python attribute lookups, its selector's
    /// wait and events natively (see [`select_and_process`]); other handles
    /// through their `_cancelled`, `_run()`, `_when`, `_scheduled` and `<`,
    /// as asyncio's does. Debug mode (checked before each callback, as
    /// asyncio does) runs a callback as asyncio's does (RUN_IN_DEBUG).
    run_once_fast, RUN_ONCE, |py, slf, args| {
        if !args.is_empty() {
            return None;
        }
        Some(run_once(&Borrowed::from_ptr(py, slf)).map(|()| py.None().into_ptr()))
    }
}

/// `run_in_debug(loop, handle)`: one callback run as asyncio's `_run_once`
/// runs it in debug mode (netcore/_aio_loop.py).
static RUN_IN_DEBUG: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// [`run_once_fast`]: sweep cancelled timers, wait for I/O (not when
/// callbacks are ready), move due timers to the ready queue, run the
/// callbacks that were ready then.
fn run_once(aloop: &Obj<'_>) -> PyResult<()> {
    static BASE_EVENTS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let py = aloop.py();
    let base_events = BASE_EVENTS.get_or_try_init(py, || py.import("asyncio.base_events").map(Bound::unbind))?.bind(py);
    let ready = aloop.getattr(intern!(py, "_ready"))?;
    let timers = sweep_cancelled_timers(aloop, base_events)?;

    let timeout = if ready.is_truthy()? || aloop.getattr(intern!(py, "_stopping"))?.is_truthy()? {
        PyInt::new(py, 0).into_any()
    } else if !timers.is_empty() {
        // min(max(0, when - time()), MAXIMUM_SELECT_TIMEOUT), its types too.
        let wait = timer_when(&timers.get_item(0)?)? - loop_time(aloop)?;
        let longest = module_attr(base_events, intern!(py, "MAXIMUM_SELECT_TIMEOUT"))?;
        match wait > 0.0 {
            false => PyInt::new(py, 0).into_any(),
            true if longest.lt(wait)? => longest,
            true => PyFloat::new(py, wait).into_any(),
        }
    } else {
        py.None().into_bound(py)
    };
    select_and_process(aloop, &ready, &timeout)?;

    let end_time = loop_time(aloop)? + aloop.getattr(intern!(py, "_clock_resolution"))?.extract::<f64>()?;
    let timers = aloop.getattr(intern!(py, "_scheduled"))?.cast_into::<PyList>()?;
    while !timers.is_empty() {
        if timer_when(&timers.get_item(0)?)? >= end_time {
            break;
        }
        let timer = heap_pop(&timers)?;
        set_unscheduled(&timer)?;
        call_method(&ready, intern!(py, "append"), [&timer])?;
    }

    // The callbacks ready now; those they schedule run on the next turn.
    let running_open =
        !aloop.getattr(intern!(py, "_thread_id"))?.is_none() && !aloop.getattr(intern!(py, "_closed"))?.is_truthy()?;
    let turn = Turn {
        aloop: aloop.as_ptr(),
        ready: ready.as_ptr(),
        timers: timers.as_ptr(),
        debug: Cell::new(None),
        task_factory: Cell::new(None),
        read_at: Cell::new(SETTINGS_CHANGES.load(Ordering::Relaxed)),
        deferred: RefCell::new(Vec::new()),
    };
    let _running = RunningTurn::set(if running_open { &turn } else { std::ptr::null() });
    let reads = LoopReads::new(aloop);
    let ntodo = ready.len()?;
    let popleft = ready.getattr(intern!(py, "popleft"))?;
    for _ in 0..ntodo {
        let handle = popleft.call0()?;
        let own = own_handle(&handle);
        let cancelled = match own {
            Some(own) => own.get().cancelled(),
            None => handle.getattr(intern!(py, "_cancelled"))?.is_truthy()?,
        };
        if cancelled {
            continue;
        }
        if reads.debug_on()? {
            let run_in_debug = RUN_IN_DEBUG.get(py).ok_or_else(|| PyRuntimeError::new_err("netcore: no debug run"))?;
            run_in_debug.call1(py, (aloop, &handle))?;
        } else if let Some(own) = own {
            AioHandle::run(own)?;
        } else {
            call_method(&handle, intern!(py, "_run"), [])?;
        }
    }
    Ok(())
}

/// asyncio's `self._process_events(self._selector.select(timeout))`:
/// natively for asyncio's `EpollSelector` and event processing (no
/// subclass or override of either), without their Python frames (`select`,
/// `_process_events`, and per event `_key_from_fd` and `_add_callback`);
/// step for step as they do: the ready readers and writers appended to
/// `ready`, a cancelled one's descriptor unregistered. Any other selector
/// or loop, or a CPython not in [`SELECT_CHECKED_ON`], through Python.
fn select_and_process(aloop: &Obj<'_>, ready: &Obj<'_>, timeout: &Obj<'_>) -> PyResult<()> {
    // selectors' EVENT_READ / EVENT_WRITE, select's EPOLLIN / EPOLLOUT.
    const READ: u32 = 1;
    const WRITE: u32 = 2;
    const EPOLLIN: u32 = 0x001;
    const EPOLLOUT: u32 = 0x004;
    let py = aloop.py();
    let selector = aloop.getattr(intern!(py, "_selector"))?;
    if !asyncio_epoll(aloop, &selector)? {
        let events = call_method(&selector, intern!(py, "select"), [timeout])?;
        call_method(aloop, intern!(py, "_process_events"), [&events])?;
        return Ok(());
    }
    // EpollSelector.select: None waits; a timeout is rounded up to epoll's
    // millisecond, so that it waits at least that long.
    let timeout = match timeout.is_none() {
        true => -1.0,
        false => match timeout.extract::<f64>()? {
            t if t <= 0.0 => 0.0,
            t => (t * 1e3).ceil() * 1e-3,
        },
    };
    let fd_to_key = selector.getattr(intern!(py, "_fd_to_key"))?.cast_into::<PyDict>()?;
    let max_events = PyInt::new(py, fd_to_key.len().max(1));
    let epoll = selector.getattr(intern!(py, "_selector"))?;
    let fd_events = match call_method(&epoll, intern!(py, "poll"), [&PyFloat::new(py, timeout), &max_events]) {
        Ok(fd_events) => fd_events.cast_into::<PyList>()?,
        Err(e) if e.is_instance_of::<PyInterruptedError>(py) => return Ok(()),
        Err(e) => return Err(e),
    };
    for fd_event in fd_events.iter() {
        let (fd, event): (Obj<'_>, u32) = fd_event.extract()?;
        let Some(key) = fd_to_key.get_item(&fd)? else { continue };
        // SelectorKey(fileobj, fd, events, data), asyncio's data (reader, writer).
        let key = key.cast_into::<PyTuple>()?;
        let mut mask = 0;
        if event & !EPOLLIN != 0 {
            mask |= WRITE;
        }
        if event & !EPOLLOUT != 0 {
            mask |= READ;
        }
        mask &= key.get_item(2)?.extract::<u32>()?;
        let (reader, writer): (Obj<'_>, Obj<'_>) = key.get_item(3)?.extract()?;
        for (bit, handle, remove) in
            [(READ, reader, intern!(py, "_remove_reader")), (WRITE, writer, intern!(py, "_remove_writer"))]
        {
            if mask & bit == 0 || handle.is_none() {
                continue;
            }
            if is_cancelled(&handle)? {
                call_method(aloop, remove, [&key.get_item(0)?])?;
            } else {
                call_method(ready, intern!(py, "append"), [&handle])?;
            }
        }
    }
    Ok(())
}

/// The CPython versions (major, minor) whose `EpollSelector.select`,
/// `BaseSelectorEventLoop._process_events` and `_add_callback`
/// [`select_and_process`] was checked against, step for step (3.13 rewrote
/// `select`'s loop, not what it does). A copy cannot follow a later
/// version's change: on any other version asyncio's own run
/// (tests/python/test_aio_select.py compares the two).
const SELECT_CHECKED_ON: [(u8, u8); 3] = [(3, 11), (3, 12), (3, 13)];

/// Whether `selector` is asyncio's `EpollSelector` and `aloop`'s class
/// processes its events with asyncio's own `_process_events` and
/// `_add_callback`, on a version in [`SELECT_CHECKED_ON`]: what
/// [`select_and_process`] does natively.
fn asyncio_epoll(aloop: &Obj<'_>, selector: &Obj<'_>) -> PyResult<bool> {
    /// asyncio's `EpollSelector` (None where there is no epoll or the
    /// version was not checked), `_process_events` and `_add_callback`.
    static OWN: PyOnceLock<(Option<Py<PyAny>>, Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();
    let py = aloop.py();
    let (epoll, process_events, add_callback) = OWN.get_or_try_init(py, || {
        let base = py.import("asyncio.selector_events")?.getattr("BaseSelectorEventLoop")?;
        // As `sys` reports it (a test stands in an unchecked one there).
        let version = py.import("sys")?.getattr("version_info")?;
        let version: (u8, u8) = (version.get_item(0)?.extract()?, version.get_item(1)?.extract()?);
        let checked = SELECT_CHECKED_ON.contains(&version);
        Ok::<_, PyErr>((
            py.import("selectors")?.getattr("EpollSelector").ok().filter(|_| checked).map(Bound::unbind),
            base.getattr("_process_events")?.unbind(),
            base.getattr("_add_callback")?.unbind(),
        ))
    })?;
    let class = aloop.get_type();
    Ok(epoll.as_ref().is_some_and(|epoll| selector.get_type().is(epoll))
        && class.getattr(intern!(py, "_process_events"))?.is(process_events)
        && class.getattr(intern!(py, "_add_callback"))?.is(add_callback))
}

/// The start of asyncio's turn: once cancelled timers are most of a heap
/// longer than `_MIN_SCHEDULED_TIMER_HANDLES`, a new heap of the others;
/// otherwise the cancelled ones at its top popped. Returns the heap.
fn sweep_cancelled_timers<'py>(aloop: &Obj<'py>, base_events: &Bound<'py, PyModule>) -> PyResult<Bound<'py, PyList>> {
    let py = aloop.py();
    let timers = aloop.getattr(intern!(py, "_scheduled"))?.cast_into::<PyList>()?;
    let count = intern!(py, "_timer_cancelled_count");
    let many: f64 = module_attr(base_events, intern!(py, "_MIN_SCHEDULED_TIMER_HANDLES"))?.extract()?;
    let scheduled = timers.len() as f64;
    if scheduled > many {
        let fraction: f64 =
            module_attr(base_events, intern!(py, "_MIN_CANCELLED_TIMER_HANDLES_FRACTION"))?.extract()?;
        if aloop.getattr(count)?.extract::<f64>()? / scheduled > fraction {
            let kept = PyList::empty(py);
            for timer in timers.iter() {
                if is_cancelled(&timer)? {
                    set_unscheduled(&timer)?;
                } else {
                    kept.append(timer)?;
                }
            }
            heapify(&kept)?;
            aloop.setattr(intern!(py, "_scheduled"), &kept)?;
            aloop.setattr(count, 0)?;
            return Ok(kept);
        }
    }
    while !timers.is_empty() && is_cancelled(&timers.get_item(0)?)? {
        aloop.setattr(count, aloop.getattr(count)?.sub(1)?)?;
        set_unscheduled(&heap_pop(&timers)?)?;
    }
    Ok(timers)
}

/// `loop.time()`, as asyncio's turn calls it (a subclass's own too).
fn loop_time(aloop: &Obj<'_>) -> PyResult<f64> {
    call_method(aloop, intern!(aloop.py(), "time"), [])?.extract()
}

/// `handle` if it is netcore's own handle or timer (not a subclass, which
/// may run otherwise).
fn own_handle<'a, 'py>(handle: &'a Obj<'py>) -> Option<&'a Bound<'py, AioHandle>> {
    if handle.is_exact_instance_of::<AioHandle>() || handle.is_exact_instance_of::<AioTimerHandle>() {
        handle.cast::<AioHandle>().ok()
    } else {
        None
    }
}

/// `handle._cancelled`.
fn is_cancelled(handle: &Obj<'_>) -> PyResult<bool> {
    match own_handle(handle) {
        Some(own) => Ok(own.get().cancelled()),
        None => handle.getattr(intern!(handle.py(), "_cancelled"))?.is_truthy(),
    }
}

/// `timer._scheduled = False`.
fn set_unscheduled(timer: &Obj<'_>) -> PyResult<()> {
    match timer.cast_exact::<AioTimerHandle>() {
        Ok(own) => {
            own.get().set_scheduled(false);
            Ok(())
        }
        Err(_) => timer.setattr(intern!(timer.py(), "_scheduled"), false),
    }
}

/// `timer._when`.
fn timer_when(timer: &Obj<'_>) -> PyResult<f64> {
    match timer.cast_exact::<AioTimerHandle>() {
        Ok(own) => Ok(own.get().when),
        Err(_) => timer.getattr(intern!(timer.py(), "_when"))?.extract(),
    }
}

/// `heap[a] < heap[b]` in the timer heap of `size` items: netcore's timers
/// by deadline (what their `<` says), natively; anything else by Python's
/// `<`, after which the heap must still have `size` items (heapq's check).
fn timer_lt(heap: &Bound<'_, PyList>, a: usize, b: usize, size: usize) -> PyResult<bool> {
    let (item_a, item_b) = (heap_item(heap, a)?, heap_item(heap, b)?);
    if let (Ok(a), Ok(b)) = (item_a.cast_exact::<AioTimerHandle>(), item_b.cast_exact::<AioTimerHandle>()) {
        return Ok(a.get().when < b.get().when);
    }
    // Owned: Python's `<` may change the heap.
    let less = item_a.to_owned().lt(item_b.to_owned())?;
    same_size(heap, size)?;
    Ok(less)
}

/// `heap[index]`, borrowed from the heap (without a reference count's
/// two calls): for as long as no Python code runs.
fn heap_item<'a, 'py>(heap: &'a Bound<'py, PyList>, index: usize) -> PyResult<Borrowed<'a, 'py, PyAny>> {
    // SAFETY: a borrowed reference, or NULL with IndexError set.
    unsafe { Borrowed::from_ptr_or_err(heap.py(), ffi::PyList_GetItem(heap.as_ptr(), index as ffi::Py_ssize_t)) }
}

// heapq's push, pop and heapify (Modules/_heapqmodule.c, step for step, so
// a heap of netcore's and asyncio's timers keeps the order heapq gives it),
// with netcore's timers compared natively.

/// `heapq.heappush(heap, item)`.
fn heap_push(heap: &Bound<'_, PyList>, item: &Obj<'_>) -> PyResult<()> {
    heap.append(item)?;
    sift_down(heap, 0, heap.len() - 1)
}

/// `heapq.heappop(heap)`.
fn heap_pop<'py>(heap: &Bound<'py, PyList>) -> PyResult<Obj<'py>> {
    let Some(last) = heap.len().checked_sub(1) else {
        return Err(PyIndexError::new_err("index out of range"));
    };
    let last_item = heap.get_item(last)?;
    heap.del_item(last)?;
    if last == 0 {
        return Ok(last_item);
    }
    let first = heap.get_item(0)?;
    heap.set_item(0, last_item)?;
    sift_up(heap, 0)?;
    Ok(first)
}

/// `heapq.heapify(heap)`.
fn heapify(heap: &Bound<'_, PyList>) -> PyResult<()> {
    for pos in (0..heap.len() / 2).rev() {
        sift_up(heap, pos)?;
    }
    Ok(())
}

/// heapq's `_siftdown`: the item at `pos` moved up towards `start` past
/// every parent it is less than.
fn sift_down(heap: &Bound<'_, PyList>, start: usize, mut pos: usize) -> PyResult<()> {
    let size = heap.len();
    while pos > start {
        let parent = (pos - 1) >> 1;
        let less = timer_lt(heap, pos, parent, size)?;
        if !less {
            break;
        }
        swap(heap, pos, parent)?;
        pos = parent;
    }
    Ok(())
}

/// heapq's `_siftup`: the smaller child moved up until a leaf is free for
/// the item at `pos`, which then moves up as far as it must.
fn sift_up(heap: &Bound<'_, PyList>, mut pos: usize) -> PyResult<()> {
    let (start, end) = (pos, heap.len());
    while pos < end >> 1 {
        let mut child = 2 * pos + 1;
        if child + 1 < end {
            let less = timer_lt(heap, child, child + 1, end)?;
            child += usize::from(!less);
        }
        swap(heap, pos, child)?;
        pos = child;
    }
    sift_down(heap, start, pos)
}

/// heapq's error when a comparison changed the heap's size.
fn same_size(heap: &Bound<'_, PyList>, size: usize) -> PyResult<()> {
    if heap.len() != size {
        return Err(PyRuntimeError::new_err("list changed size during iteration"));
    }
    Ok(())
}

fn swap(heap: &Bound<'_, PyList>, a: usize, b: usize) -> PyResult<()> {
    let (item_a, item_b) = (heap_item(heap, a)?.to_owned(), heap_item(heap, b)?.to_owned());
    // SAFETY: both indices in the list (read above); PyList_SetItem takes
    // the new references into_ptr gives and drops the ones the slots held,
    // of items held above (nothing is freed, no Python code runs).
    unsafe {
        ffi::PyList_SetItem(heap.as_ptr(), a as ffi::Py_ssize_t, item_b.into_ptr());
        ffi::PyList_SetItem(heap.as_ptr(), b as ffi::Py_ssize_t, item_a.into_ptr());
    }
    Ok(())
}

/// `module.<name>`, from the module's dict (a module's getattr costs ~250
/// instructions, its dict ~50); what the dict lacks, by its getattr.
fn module_attr<'py>(module: &Bound<'py, PyModule>, name: &Bound<'py, PyString>) -> PyResult<Obj<'py>> {
    match module.dict().get_item(name)? {
        Some(value) => Ok(value),
        None => module.getattr(name),
    }
}

/// `contextvars.copy_context`.
fn copy_context(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static COPY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    COPY.import(py, "contextvars", "copy_context")
}

/// Private (netcore.aio): puts the native `call_soon`, `call_at`,
/// `call_later`, `time`, `get_debug`, `create_task` and `_run_once` in
/// front of `loop_type`'s (asyncio's); `_run_once` runs a callback in debug
/// mode by `run_in_debug(loop, handle)`.
#[pyfunction]
fn _install_aio_loop_core(loop_type: &Bound<'_, PyType>, run_in_debug: &Obj<'_>) -> PyResult<()> {
    let py = loop_type.py();
    if RUN_IN_DEBUG.set(py, run_in_debug.clone().unbind()).is_err() {
        return Err(PyRuntimeError::new_err("netcore: the loop core is installed once"));
    }
    install_fast_method(loop_type, c"call_soon", "($self, callback, *args, context=None)", call_soon_fast, &CALL_SOON)?;
    install_fast_method(loop_type, c"call_at", "($self, when, callback, *args, context=None)", call_at_fast, &CALL_AT)?;
    let signature = "($self, delay, callback, *args, context=None)";
    install_fast_method(loop_type, c"call_later", signature, call_later_fast, &CALL_LATER)?;
    install_fast_method(loop_type, c"time", "($self, /)", time_fast, &TIME)?;
    install_fast_method(loop_type, c"get_debug", "($self, /)", get_debug_fast, &GET_DEBUG)?;
    install_fast_method(loop_type, c"_run_once", "($self, /)", run_once_fast, &RUN_ONCE)?;
    let signature = "($self, coro, *, name=None, context=None)";
    install_fast_method(loop_type, c"create_task", signature, create_task_fast, &CREATE_TASK)
}

/// Adds netcore.aio's private native loop parts to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.setattr("_Handle", m.py().get_type::<AioHandle>())?;
    m.setattr("_TimerHandle", m.py().get_type::<AioTimerHandle>())?;
    m.setattr("_install_aio_loop_core", wrap_pyfunction!(_install_aio_loop_core, m)?)?;
    m.setattr("_aio_loop_changed", wrap_pyfunction!(_aio_loop_changed, m)?)
}
