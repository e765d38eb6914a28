//! Calls without PyO3's per-call bookkeeping, for the per-message paths
//! ([`Callee`], [`install_fast_method`]; docs/design.md §5).

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};

/// Any Python object.
type Obj<'py> = Bound<'py, PyAny>;

/// A callback as it is called: a bound method split into its function and `self`.
pub struct Callee<'py> {
    func: Obj<'py>,
    bound_self: Option<Obj<'py>>,
}

impl<'py> Callee<'py> {
    /// `f` split if it is a bound method (worth it for many calls).
    pub fn new(f: &Obj<'py>) -> PyResult<Self> {
        let (func, bound_self) = split_method(f)?;
        Ok(Callee { func, bound_self })
    }

    /// `f` as it is.
    pub fn whole(f: &Obj<'py>) -> Self {
        Callee { func: f.clone(), bound_self: None }
    }

    /// Calls the callback with `args` (in place, with vectorcall's offset
    /// flag: the slot before them is the callee's) and drops what it returns.
    #[inline(always)]
    pub fn call<const N: usize>(&self, args: [&Obj<'py>; N]) -> PyResult<()> {
        const { assert!(N <= 3) };
        let mut slots = [std::ptr::null_mut(); 5];
        let first = 1 + usize::from(self.bound_self.is_some());
        slots[1] = self.bound_self.as_ref().map_or(std::ptr::null_mut(), |s| s.as_ptr());
        for (slot, arg) in slots[first..].iter_mut().zip(args) {
            *slot = arg.as_ptr();
        }
        let (func, args, nargsf) =
            (self.func.as_ptr(), slots[1..].as_ptr(), (first - 1 + N) | VECTORCALL_ARGUMENTS_OFFSET);
        // SAFETY: `slots[1..]` starts with the arguments, live objects
        // borrowed for the call; `slots[0]` is the scratch slot the offset
        // flag lends to the callee. The callable's own vectorcall function
        // (a Python function's) skips PyObject_Vectorcall's dispatch and its
        // check for a C callee that returns a result with an error set.
        let result = unsafe {
            match vectorcall_function(func) {
                Some(call) => call(func, args, nargsf, std::ptr::null_mut()),
                None => vectorcall(func, args, nargsf, std::ptr::null_mut()),
            }
        };
        // SAFETY: a new reference, or NULL with an exception set.
        unsafe { Bound::from_owned_ptr_or_err(self.func.py(), result) }.map(drop)
    }
}

/// A bound method as its function and `self`; anything else as it is, with None.
pub fn split_method<'py>(f: &Obj<'py>) -> PyResult<(Obj<'py>, Option<Obj<'py>>)> {
    static METHOD_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    if f.get_type().is(METHOD_TYPE.import(f.py(), "types", "MethodType")?) {
        let py = f.py();
        return Ok((f.getattr(intern!(py, "__func__"))?, Some(f.getattr(intern!(py, "__self__"))?)));
    }
    Ok((f.clone(), None))
}

/// `PY_VECTORCALL_ARGUMENTS_OFFSET`.
pub const VECTORCALL_ARGUMENTS_OFFSET: usize = 1 << (usize::BITS - 1);

extern "C" {
    /// `PyObject_Vectorcall`: public (and exported) since CPython 3.9, in
    /// the limited API from 3.12; PyO3's abi3-py311 declarations leave it
    /// out, so a call would otherwise build an argument tuple.
    #[link_name = "PyObject_Vectorcall"]
    pub fn vectorcall(
        callable: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargsf: usize,
        kwnames: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;

    /// `PyVectorcall_Function`: public since CPython 3.8, limited API from 3.12.
    #[link_name = "PyVectorcall_Function"]
    fn vectorcall_function(callable: *mut ffi::PyObject) -> Option<ffi::vectorcallfunc>;
}

/// The body of a fast method (a `PyCFunctionFastWithKeywords`): `take`
/// gets the call's arguments (the positional ones, then one value per
/// keyword) and its keywords' names (None: no keywords) and returns the
/// result if it takes the call (`None`: not its case); every call it leaves
/// goes to `general`, the method the fast one stands in front of, with
/// `self` first. Panics become PanicException.
///
/// # Safety
/// As a `PyCFunctionFastWithKeywords` called by CPython: attached, `nargs`
/// arguments and then one value per name in `kwnames` at `args`, `slf`
/// checked by the method descriptor.
pub unsafe fn call_fast(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    general: &PyOnceLock<Py<PyAny>>,
    take: impl FnOnce(
        Python<'_>,
        &[*mut ffi::PyObject],
        Option<&Borrowed<'_, '_, PyTuple>>,
    ) -> Option<PyResult<*mut ffi::PyObject>>,
) -> *mut ffi::PyObject {
    // SAFETY: see the function's contract.
    let py = unsafe { Python::assume_attached() };
    let result = catch_unwind(AssertUnwindSafe(|| unsafe {
        let names = (!kwnames.is_null()).then(|| Borrowed::from_ptr(py, kwnames).cast_unchecked::<PyTuple>());
        let given = nargs as usize + names.as_ref().map_or(0, |n| n.len());
        let all = std::slice::from_raw_parts(args, given);
        let result = match take(py, all, names.as_ref()) {
            Some(taken) => taken,
            // Left to `general(slf, *args)` (set before the fast method was
            // installed), with the call's own arguments.
            None => general.get(py).ok_or_else(|| PyTypeError::new_err("netcore: fast method not set up")).map(|f| {
                let with_self = [&[slf][..], all].concat();
                vectorcall(f.as_ptr(), with_self.as_ptr(), nargs as usize + 1, kwnames)
            }),
        };
        // The error restored in here: a PyResult carried out of catch_unwind costs its moves every call.
        result.unwrap_or_else(|e| {
            e.restore(py);
            std::ptr::null_mut()
        })
    }));
    result.unwrap_or_else(|_| {
        PanicException::new_err("netcore: a fast method panicked").restore(py);
        std::ptr::null_mut()
    })
}

/// Defines the fast method `$name` (a `PyCFunctionFastWithKeywords`,
/// see [`call_fast`]) and `$general`, where [`install_fast_method`] keeps
/// the method it stands in front of: `|py, slf, args| take` is its case
/// when there are no keywords, `|py, slf, args, kwnames| take` with them
/// (`slf` and `args`: raw pointers; unsafe code allowed).
macro_rules! fast_method {
    ($(#[$doc:meta])* $name:ident, $general:ident, |$py:ident, $slf:ident, $args:ident| $take:expr) => {
        $crate::fastcall::fast_method! {
            $(#[$doc])* $name, $general, |$py, $slf, $args, kwnames| {
                if kwnames.is_some() {
                    return None;
                }
                $take
            }
        }
    };
    ($(#[$doc:meta])* $name:ident, $general:ident, |$py:ident, $slf:ident, $args:ident, $kwnames:ident| $take:expr) => {
        static $general: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

        $(#[$doc])*
        unsafe extern "C" fn $name(
            slf: *mut pyo3::ffi::PyObject,
            args: *const *mut pyo3::ffi::PyObject,
            nargs: pyo3::ffi::Py_ssize_t,
            kwnames: *mut pyo3::ffi::PyObject,
        ) -> *mut pyo3::ffi::PyObject {
            // SAFETY: CPython's call of a fast method, `slf` checked by its
            // descriptor.
            unsafe {
                $crate::fastcall::call_fast(slf, args, nargs, kwnames, &$general, |$py, $args, $kwnames| {
                    let $slf = slf;
                    $take
                })
            }
        }
    };
}
pub(crate) use fast_method;

/// Puts the fast method `fast` in front of `ty`'s method `name` (kept in
/// `general`), with its doc and `signature` (the text signature, as
/// `"($self, data, /)"`).
pub fn install_fast_method(
    ty: &Bound<'_, PyType>,
    name: &'static CStr,
    signature: &str,
    fast: ffi::PyCFunctionFastWithKeywords,
    general: &PyOnceLock<Py<PyAny>>,
) -> PyResult<()> {
    let py = ty.py();
    let attr = name.to_str().map_err(|e| PyValueError::new_err(e.to_string()))?;
    let method = ty.getattr(attr)?;
    let doc: String = method.getattr("__doc__")?.extract::<Option<String>>()?.unwrap_or_default();
    let doc = format!("{}{signature}\n--\n\n{doc}", name.to_string_lossy());
    let doc = std::ffi::CString::new(doc).map_err(|e| PyValueError::new_err(e.to_string()))?;
    // Leaked: the type keeps using it until the process ends.
    let def = Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunctionFastWithKeywords: fast },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: doc.into_raw(),
    }));
    // SAFETY: a live type and a method definition that outlives it; a new reference or NULL.
    let descriptor = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyDescr_NewMethod(ty.as_type_ptr(), def))? };
    if general.get(py).is_some() {
        return Err(PyTypeError::new_err("netcore: fast method installed twice"));
    }
    general.get_or_init(py, || method.unbind());
    ty.setattr(attr, descriptor)
}
