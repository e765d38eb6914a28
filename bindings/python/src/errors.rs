//! netcore error codes to Python exceptions, made by `netcore/_errors.py`'s
//! factory `_make` (docs/design.md §5).

use std::panic::{catch_unwind, AssertUnwindSafe};

use netcore_core as nc;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static FACTORY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// An exception instance (not raised) for a netcore error, with `detail` (else
/// the core's) in its message. If the package's Python half is broken, the
/// exception is what broke it.
pub fn error_value<'py>(py: Python<'py>, e: nc::Error, detail: Option<&str>) -> Bound<'py, PyAny> {
    let core_detail = e.detail().map(nc::Detail::to_string);
    let detail = detail.or(core_detail.as_deref());
    let errno = e.errno().unwrap_or(e.code());
    FACTORY
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> { Ok(py.import("netcore._errors")?.getattr("_make")?.unbind()) })
        .and_then(|f| f.bind(py).call1((e.code(), e.name(), e.message(), errno, detail)))
        .unwrap_or_else(|broken| broken.into_value(py).into_bound(py).into_any())
}

/// The exception to raise for a netcore error.
pub fn to_pyerr(py: Python<'_>, e: nc::Error) -> PyErr {
    PyErr::from_value(error_value(py, e, None))
}

/// `EINVAL` for a value no conversion can hold: raised as
/// `netcore.InvalidArgumentError`, which is also a `ValueError`.
pub fn invalid(py: Python<'_>, detail: &str) -> PyErr {
    PyErr::from_value(error_value(py, nc::Error::EINVAL, Some(detail)))
}

/// Runs a core call, turning a panic into `EPANIC` (never unwinding into Python).
pub fn guard<T>(f: impl FnOnce() -> nc::Result<T>) -> nc::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(Err(nc::Error::EPANIC))
}

/// Extension: `.py_err(py)?` on core results.
pub trait IntoPyResult<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for nc::Result<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_pyerr(py, e))
    }
}
