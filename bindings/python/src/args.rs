//! Argument conversion: Python objects to the core's types, as `#[pyfunction]`
//! argument types. A wrong type is `TypeError`; a value is the core's to judge
//! (docs/design.md §5).

use std::time::Duration;

use netcore_core as nc;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString, PyTuple};

use crate::errors::{invalid, IntoPyResult};

/// The name of an object's type, for messages.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// A `TypeError` saying what an argument must be.
pub fn must_be(what: &str, obj: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!("expected {what}, not {}", type_name(obj)))
}

/// Whether an object is an integer for `operator.index` (has `__index__`).
pub fn is_index(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: PyIndex_Check only reads the type's slots of a live object.
    unsafe { pyo3::ffi::PyIndex_Check(obj.as_ptr()) != 0 }
}

/// An integer type an [`Int`] can saturate to.
pub trait Saturating: Copy + for<'a, 'py> FromPyObject<'a, 'py, Error = PyErr> {
    /// The most negative value, `None` for an unsigned type.
    const MIN: Option<Self>;
    const MAX: Self;
}

macro_rules! saturating {
    ($($t:ty: $min:expr),*) => { $(impl Saturating for $t { const MIN: Option<Self> = $min; const MAX: Self = <$t>::MAX; })* };
}
saturating!(i32: Some(i32::MIN), i64: Some(i64::MIN), u64: None, usize: None);

/// An integer (`int`, `bool` or any `__index__`) saturated to `T`'s range; a
/// negative value for an unsigned `T` is refused (no saturation keeps its meaning).
pub struct Int<T>(pub T);

impl<'py, T: Saturating> FromPyObject<'_, 'py> for Int<T> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let saturated = || match (obj.lt(0)?, T::MIN) {
            (false, _) => Ok(T::MAX),
            (true, Some(min)) => Ok(min),
            (true, None) => Err(invalid(obj.py(), &format!("expected a non-negative integer, got {}", &*obj))),
        };
        int(&obj, saturated).map(Int)
    }
}

/// An integer `T` (a wrong type is TypeError), or `out_of_range()` for one `T` cannot hold.
pub fn int<'py, T>(obj: &Bound<'py, PyAny>, out_of_range: impl FnOnce() -> PyResult<T>) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    match obj.extract::<T>() {
        Err(e) if e.is_instance_of::<PyOverflowError>(obj.py()) => out_of_range(),
        Err(e) if e.is_instance_of::<PyTypeError>(obj.py()) => Err(must_be("an int", obj)),
        other => other,
    }
}

/// `impl FromPyObject for T` whose `extract(obj)` is `body` (`'py`: the
/// lifetime of a Python object the value keeps).
macro_rules! from_python {
    ($t:ty, |$obj:ident| $body:block) => {
        impl<'py> FromPyObject<'_, 'py> for $t {
            type Error = PyErr;

            fn extract($obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> $body
        }
    };
}

/// A send token: any `u64`, taken exactly (never saturated into another token).
pub struct Token(pub u64);

from_python!(Token, |obj| {
    int(&obj, || Err(invalid(obj.py(), &format!("expected a token from 0 to 2**64-1, got {}", &*obj)))).map(Token)
});

/// A handle argument; integers no loop hands out are the loop's to reject (BadHandleError).
pub struct Hd(pub nc::Handle);

from_python!(Hd, |obj| { Int::<i64>::extract(obj).map(|Int(raw)| Hd(nc::Handle::from_raw(raw))) });

/// A duration in seconds (int or float; NaN and negatives are ValueError).
/// Beyond `MAX_DURATION` (`inf` included) the core gets the longest `Duration`.
pub struct Secs(pub Duration);

from_python!(Secs, |obj| {
    let refused = obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyString>();
    let secs: f64 = obj.extract().ok().filter(|_| !refused).ok_or_else(|| must_be("a number of seconds", &obj))?;
    if secs.is_nan() || secs < 0.0 {
        return Err(invalid(obj.py(), &format!("expected a number of seconds >= 0, got {secs}")));
    }
    // Only an overflow is left to fail: far beyond MAX_DURATION, so never.
    Ok(Secs(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)))
});

/// A `str` argument (a host, a name).
pub struct Text(pub String);

from_python!(Text, |obj| {
    let s = obj.cast::<PyString>().map_err(|_| must_be("a str", &obj))?;
    Ok(Text(s.to_str()?.to_owned()))
});

/// A `(host, port)` address tuple.
pub struct Addr(pub String, pub i64);

from_python!(Addr, |obj| {
    let tuple = obj.cast::<PyTuple>().ok().filter(|t| t.len() == 2);
    let tuple = tuple.ok_or_else(|| must_be("a (host, port) tuple", &obj))?;
    Ok(Addr(tuple.get_item(0)?.extract::<Text>()?.0, tuple.get_item(1)?.extract::<Int<i64>>()?.0))
});

/// A destination: an event's sender tuple as netcore made it (address known), or any other.
pub enum Destination {
    Known(std::net::SocketAddr),
    Given(Addr),
}

from_python!(Destination, |obj| {
    match crate::event::recent_addr(&obj) {
        Some(addr) => Ok(Destination::Known(addr)),
        None => Ok(Destination::Given(obj.extract()?)),
    }
});

impl Destination {
    pub fn socket_addr(&self) -> nc::Result<std::net::SocketAddr> {
        match self {
            Destination::Known(addr) => Ok(*addr),
            Destination::Given(Addr(host, port)) => nc::socket_addr(host, *port),
        }
    }
}

/// One datagram of a batched send: `(data, (host, port))`, or `(data, None)` for the peer.
pub struct DatagramArg<'py>(pub BytesArg<'py>, pub Option<Destination>);

from_python!(DatagramArg<'py>, |obj| {
    let tuple = obj.cast::<PyTuple>().ok().filter(|t| t.len() == 2);
    let tuple = tuple.ok_or_else(|| must_be("a (data, (host, port) or None) tuple", &obj))?;
    Ok(DatagramArg(tuple.get_item(0)?.extract()?, tuple.get_item(1)?.extract()?))
});

/// A list of delays in seconds (connect's `reconnect`).
pub struct Delays(pub Vec<Duration>);

from_python!(Delays, |obj| {
    let delays = items::<Secs>(&obj, "a sequence of delays in seconds")?;
    Ok(Delays(delays.into_iter().map(|d| d.0).collect()))
});

/// A list of `str` (IP address literals).
pub struct Texts(pub Vec<String>);

from_python!(Texts, |obj| {
    Ok(Texts(items::<Text>(&obj, "a list of IP address strings")?.into_iter().map(|t| t.0).collect()))
});

/// A multicast interface: its address (a str) or index (an int), as the core takes it.
pub struct Interface(pub String);

from_python!(Interface, |obj| {
    match is_index(&obj) {
        true => Ok(Interface(obj.extract::<Int<u64>>()?.0.to_string())),
        false => Ok(Interface(obj.extract::<Text>()?.0)),
    }
});

/// A socket option: a constant (`netcore.NODELAY`) or its name in either case.
pub struct Opt(pub nc::SockOption);

from_python!(Opt, |obj| {
    let parsed = match obj.cast::<PyString>() {
        Ok(name) => nc::SockOption::parse(&name.to_str()?.to_ascii_lowercase()),
        Err(_) if is_index(&obj) => nc::SockOption::parse_raw(obj.extract::<Int<i32>>()?.0),
        Err(_) => return Err(must_be("an option constant (netcore.NODELAY, ...) or its name", &obj)),
    };
    parsed.py_err(obj.py()).map(Opt)
});

/// A value of one of the core's named enumerations (a framing mode, a family).
pub struct Named<T>(pub T);

macro_rules! named {
    ($($t:ty),*) => {$(
        from_python!(Named<$t>, |obj| { <$t>::parse(&obj.extract::<Text>()?.0).py_err(obj.py()).map(Named) });
    )*};
}
named!(nc::FramingMode, nc::Family);

/// Bytes borrowed without a copy: an exact `bytes` directly, anything else
/// through the (C-contiguous) buffer protocol.
pub enum BytesArg<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buffer(PyUntypedBuffer),
}

from_python!(BytesArg<'py>, |obj| {
    if let Ok(b) = obj.cast_exact::<PyBytes>() {
        return Ok(BytesArg::Bytes(b.to_owned()));
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err("expected a bytes-like object, not str (encode it first)"));
    }
    let buf = PyUntypedBuffer::get(&obj).map_err(|_| must_be("a bytes-like object", &obj))?;
    if !buf.is_c_contiguous() {
        return Err(PyTypeError::new_err("expected a C-contiguous buffer"));
    }
    Ok(BytesArg::Buffer(buf))
});

impl BytesArg<'_> {
    /// Whether the bytes cannot change while read without the GIL: only an
    /// exact `bytes` (a read-only buffer promises nothing).
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

/// The items of an iterable argument (not a str or bytes: surely a mistake), each converted.
pub fn items<'py, T>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<T>>
where
    T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
{
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(must_be(what, obj));
    }
    obj.try_iter().map_err(|_| must_be(what, obj))?.map(|item| item?.extract()).collect()
}
