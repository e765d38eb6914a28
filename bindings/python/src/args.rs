//! Argument conversion: wrong types are `TypeError`, bad values are
//! `netcore.InvalidArgumentError` (a `ValueError`), handles that cannot name
//! anything are `netcore.BadHandleError`.

use netcore_core as nc;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString, PyTuple};

use crate::errors::{invalid, to_pyerr_detail};

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// An integer argument with `operator.index` semantics: an `int`, a `bool`
/// (as Python's socket module takes it) or any object with `__index__` (a
/// numpy integer, say). `None` if it does not fit in `T`.
pub fn index_arg<'py, T>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Option<T>>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    match obj.extract::<T>() {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => Ok(None),
        Err(e) if e.is_instance_of::<PyTypeError>(obj.py()) => {
            Err(PyTypeError::new_err(format!("{what} must be an int, not {}", type_name(obj))))
        }
        Err(e) => Err(e),
    }
}

/// Whether an object is an integer for `operator.index` (has `__index__`).
pub fn is_index(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: PyIndex_Check only reads the type's slots of a live object.
    unsafe { pyo3::ffi::PyIndex_Check(obj.as_ptr()) != 0 }
}

fn int_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Option<i64>> {
    index_arg(obj, what)
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

/// An option value: an `int` or a `bool` (or anything with `__index__`).
pub fn option_value_arg(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
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

/// Bytes borrowed from a Python object without a copy: an exact `bytes`
/// directly, anything else through the buffer protocol (bytearray,
/// memoryview, array, mmap, numpy arrays, bytes subclasses...), which must
/// be C-contiguous.
pub enum BytesArg<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buffer(PyUntypedBuffer),
}

impl<'py> BytesArg<'py> {
    pub fn new(obj: &Bound<'py, PyAny>) -> PyResult<BytesArg<'py>> {
        if let Ok(b) = obj.cast_exact::<PyBytes>() {
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

    /// Whether the bytes cannot change while we read them without the GIL:
    /// only an exact `bytes`. A read-only buffer promises nothing about its
    /// memory (a read-only memoryview of a bytearray changes with the
    /// bytearray), so any other buffer is read with the GIL held.
    pub fn immutable(&self) -> bool {
        matches!(self, BytesArg::Bytes(_))
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
