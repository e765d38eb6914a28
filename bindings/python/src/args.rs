//! Argument conversion: wrong types are `TypeError`, bad values are
//! `netcore.InvalidArgumentError` (a `ValueError`), handles that cannot name
//! anything are `netcore.BadHandleError`.

use netcore_core as nc;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyString, PyTuple};

use crate::errors::{invalid, to_pyerr_detail};

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// An `int` (not a `bool`) as an `i64`; `None` if it does not fit.
fn int_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<i64>> {
    // A plain int is the common case and the cheapest check.
    if !obj.is_exact_instance_of::<PyInt>() && (!obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyBool>()) {
        return Err(PyTypeError::new_err(format!("{what} must be an int, not {}", type_name(obj))));
    }
    Ok(obj.extract::<i64>().ok())
}

/// A handle argument. Integers no loop ever hands out (0, negative, huge)
/// are accepted here; the loop rejects them with `BadHandleError`.
pub fn handle_arg(obj: &Bound<'_, PyAny>) -> PyResult<nc::Handle> {
    match int_arg(obj, "handle")? {
        Some(raw) => Ok(nc::Handle::from_raw(raw)),
        None => Err(to_pyerr_detail(obj.py(), nc::Error::EBADHANDLE, "handle out of range")),
    }
}

/// A port argument, 0 to 65535.
pub fn port_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    match int_arg(obj, "port")? {
        Some(port) if (0..=65535).contains(&port) => Ok(port),
        _ => Err(invalid(obj.py(), &format!("port {} is out of range (0 to 65535)", obj))),
    }
}

/// A non-negative size or count argument.
pub fn size_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<usize> {
    match int_arg(obj, what)? {
        Some(v) if v >= 0 => Ok(v as usize),
        _ => Err(invalid(obj.py(), &format!("{what} {obj} is out of range"))),
    }
}

/// An option value: an `int` or a `bool`.
pub fn option_value_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(b.is_true() as i64);
    }
    match int_arg(obj, "option value")? {
        Some(v) => Ok(v),
        None => Err(invalid(obj.py(), &format!("option value {obj} is out of range"))),
    }
}

/// A host argument: a `str` without NUL characters.
pub fn host_arg(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("host must be a str, not {}", type_name(obj))))?;
    let s = s.to_str()?.to_owned();
    if s.is_empty() || s.contains('\0') {
        return Err(invalid(obj.py(), &format!("bad host {s:?}")));
    }
    Ok(s)
}

/// A `(host, port)` address tuple.
pub fn addr_arg(obj: &Bound<'_, PyAny>) -> PyResult<(String, i64)> {
    let tuple = obj
        .cast::<PyTuple>()
        .map_err(|_| PyTypeError::new_err(format!("address must be a (host, port) tuple, not {}", type_name(obj))))?;
    if tuple.len() != 2 {
        return Err(PyTypeError::new_err(format!("address must be a (host, port) tuple, got {} items", tuple.len())));
    }
    Ok((host_arg(&tuple.get_item(0)?)?, port_arg(&tuple.get_item(1)?)?))
}

/// Bytes borrowed from a Python object without a copy: `bytes` directly,
/// anything else through the buffer protocol (bytearray, memoryview, array,
/// mmap, numpy arrays, ...), which must be C-contiguous.
pub enum BytesArg<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buffer(PyUntypedBuffer),
}

impl<'py> BytesArg<'py> {
    pub fn new(obj: &Bound<'py, PyAny>) -> PyResult<BytesArg<'py>> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(BytesArg::Bytes(b.clone()));
        }
        if obj.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err("data must be a bytes-like object, not str (encode it first)"));
        }
        let buf = PyUntypedBuffer::get(obj)
            .map_err(|_| PyTypeError::new_err(format!("data must be a bytes-like object, not {}", type_name(obj))))?;
        if !buf.is_c_contiguous() {
            return Err(PyTypeError::new_err("data must be a C-contiguous buffer"));
        }
        Ok(BytesArg::Buffer(buf))
    }

    /// Whether the bytes cannot change while we read them without the GIL.
    pub fn immutable(&self) -> bool {
        match self {
            BytesArg::Bytes(_) => true,
            BytesArg::Buffer(b) => b.readonly(),
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            BytesArg::Bytes(b) => b.as_bytes(),
            BytesArg::Buffer(b) => {
                let len = b.len_bytes();
                if len == 0 {
                    return &[];
                }
                // SAFETY: the buffer is C-contiguous and `len` bytes long; the
                // exporter keeps the memory alive (and unresizable) until the
                // buffer is released, which happens when `self` is dropped.
                unsafe { std::slice::from_raw_parts(b.buf_ptr() as *const u8, len) }
            }
        }
    }
}

/// A duration in seconds (int or float, >= 0; NaN and negatives are
/// ValueError). Anything beyond the core's `MAX_DURATION` (`inf` included)
/// means "never", which the core decides: it gets the longest `Duration`.
pub fn secs_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<std::time::Duration> {
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be a number of seconds, not {}", type_name(obj))));
    }
    let secs: f64 = obj
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a number of seconds, not {}", type_name(obj))))?;
    if secs.is_nan() || secs < 0.0 {
        return Err(invalid(obj.py(), &format!("{what} {secs} must be a number of seconds >= 0")));
    }
    // Only an overflow is left to fail: far beyond MAX_DURATION, so never.
    Ok(std::time::Duration::try_from_secs_f64(secs).unwrap_or(std::time::Duration::MAX))
}
