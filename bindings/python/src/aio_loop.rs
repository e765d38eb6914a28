//! netcore.aio's event loop core in native code: `call_soon` makes a native
//! [`AioHandle`] (asyncio.Handle's behaviour, no Python frame to make or
//! run it). asyncio's own `call_soon` keeps every case it does not take:
//! debug mode (its checks and source tracebacks), a closed loop (its
//! error), keywords other than `context=`.

use parking_lot::Mutex;
use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::{ffi, intern, PyTraverseError, PyVisit};

use crate::fastcall::{fast_method, install_fast_method, vectorcall};

/// Any Python object.
type Obj<'py> = Bound<'py, PyAny>;

/// Private (netcore.aio): what `EventLoop.call_soon` returns, an
/// `asyncio.Handle` in all but its type: `cancel()`, `cancelled()`,
/// `get_context()`, and `_run()` / `_cancelled` for asyncio's `_run_once`.
#[pyclass(frozen, module = "netcore", name = "_Handle")]
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
fn callback_source(py: Python<'_>, callback: &Py<PyAny>, args: &Py<PyTuple>) -> PyResult<String> {
    static FORMAT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let format = FORMAT.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio.format_helpers")?.getattr("_format_callback_source")?.unbind())
    })?;
    format.call1(py, (callback, args))?.extract(py)
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

    /// Runs the callback in its context; as asyncio's Handle, SystemExit
    /// and KeyboardInterrupt propagate, any other exception goes to the
    /// loop's exception handler (`message`, `exception`, `handle`).
    fn _run(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let Some((callback, args)) = this.call.lock().as_ref().map(|(c, a)| (c.clone_ref(py), a.clone_ref(py))) else {
            return Ok(());
        };
        let run = context_run(py)?;
        let args_bound = args.bind(py);
        let mut slots = Vec::with_capacity(3 + args_bound.len());
        slots.extend([std::ptr::null_mut(), this.context.as_ptr(), callback.as_ptr()]);
        slots.extend(args_bound.iter_borrowed().map(|a| a.as_ptr()));
        // SAFETY: `slots[1..]` are live objects borrowed for the call,
        // `slots[0]` the scratch slot the offset flag lends to the callee;
        // a new reference or NULL with an exception set.
        let result = unsafe {
            let nargsf = (slots.len() - 1) | (1 << (usize::BITS - 1));
            Bound::from_owned_ptr_or_err(
                py,
                vectorcall(run.as_ptr(), slots[1..].as_ptr(), nargsf, std::ptr::null_mut()),
            )
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_instance_of::<PySystemExit>(py) || e.is_instance_of::<PyKeyboardInterrupt>(py) => Err(e),
            Err(e) => {
                let context = PyDict::new(py);
                context
                    .set_item("message", format!("Exception in callback {}", callback_source(py, &callback, &args)?))?;
                context.set_item("exception", e.into_value(py))?;
                context.set_item("handle", slf)?;
                this.aloop.call_method1(py, intern!(py, "call_exception_handler"), (context,)).map(drop)
            }
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let call = self.call.lock().as_ref().map(|(c, a)| (c.clone_ref(py), a.clone_ref(py)));
        match call {
            Some((callback, args)) => Ok(format!("<Handle {}>", callback_source(py, &callback, &args)?)),
            None => Ok("<Handle cancelled>".to_owned()),
        }
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

fast_method! {
    /// `EventLoop.call_soon(callback, *args, context=None)` on an open loop
    /// out of debug mode; any other call goes to asyncio's (CALL_SOON).
    call_soon_fast, CALL_SOON, |py, slf, args, kwnames| {
        call_soon_now(&Borrowed::from_ptr(py, slf), args, kwnames)
    }
}

/// asyncio's `call_soon` (its `_call_soon`, `Handle(...)` and the append to
/// `_ready`) for the cases [`call_soon_fast`] takes; `None` for the others.
fn call_soon_now(
    aloop: &Obj<'_>,
    args: &[*mut ffi::PyObject],
    kwnames: Option<&Borrowed<'_, '_, PyTuple>>,
) -> Option<PyResult<*mut ffi::PyObject>> {
    let py = aloop.py();
    let (positional, context) = match kwnames {
        None => (args, None),
        Some(names) if names.len() == 1 && names.get_item(0).ok()?.eq(intern!(py, "context")).ok()? => {
            let (&context, positional) = args.split_last()?;
            (positional, Some(context))
        }
        Some(_) => return None,
    };
    let (&callback, rest) = positional.split_first()?;
    if aloop.getattr(intern!(py, "_debug")).ok()?.is_truthy().ok()?
        || aloop.getattr(intern!(py, "_closed")).ok()?.is_truthy().ok()?
    {
        return None;
    }
    Some(make_handle(aloop, callback, rest, context))
}

/// A new [`AioHandle`] appended to the loop's `_ready`.
fn make_handle(
    aloop: &Obj<'_>,
    callback: *mut ffi::PyObject,
    args: &[*mut ffi::PyObject],
    context: Option<*mut ffi::PyObject>,
) -> PyResult<*mut ffi::PyObject> {
    let py = aloop.py();
    // SAFETY: the call's arguments, live for its duration.
    let borrow = |p: *mut ffi::PyObject| unsafe { Borrowed::from_ptr(py, p) };
    let context = match context.map(borrow).filter(|c| !c.is_none()) {
        Some(context) => context.to_owned().unbind(),
        None => copy_context(py)?.call0()?.unbind(),
    };
    let call = (borrow(callback).to_owned().unbind(), PyTuple::new(py, args.iter().map(|&a| borrow(a)))?.unbind());
    let handle = Bound::new(py, AioHandle { call: Mutex::new(Some(call)), context, aloop: aloop.clone().unbind() })?;
    aloop.getattr(intern!(py, "_ready"))?.call_method1(intern!(py, "append"), (&handle,))?;
    Ok(handle.into_ptr())
}

/// `contextvars.copy_context`.
fn copy_context(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static COPY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    COPY.get_or_try_init(py, || Ok::<_, PyErr>(py.import("contextvars")?.getattr("copy_context")?.unbind()))
        .map(|copy| copy.bind(py))
}

/// Private (netcore.aio): puts the native `call_soon` in front of
/// `loop_type.call_soon` (asyncio's).
#[pyfunction]
fn _install_aio_call_soon(loop_type: &Bound<'_, PyType>) -> PyResult<()> {
    install_fast_method(loop_type, c"call_soon", "($self, callback, *args, context=None)", call_soon_fast, &CALL_SOON)
}

/// Adds netcore.aio's private native loop parts to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.setattr("_Handle", m.py().get_type::<AioHandle>())?;
    m.setattr("_install_aio_call_soon", wrap_pyfunction!(_install_aio_call_soon, m)?)
}
