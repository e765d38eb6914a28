//! The boundary every exported function goes through, and the argument
//! checks it shares.
//!
//! Every `extern "C"` function's body is one [`boundary!`] block (a test in
//! `ffi/tests/boundary.rs` reads the sources and fails otherwise). Inside
//! it the body returns `Result<T, Error>` and uses `?`; the boundary turns
//! `Ok` into the C return value ([`IntoC`]), an error into its C form
//! ([`CReturn`]), and a panic into `NC_EPANIC` (or NULL, or `"EPANIC"`), so
//! no panic crosses into C.
//!
//! The argument macros (`try_loop!`, `try_ref!`, `try_mut!`, `try_str!`,
//! `try_bytes!`, `try_slice!`, `try_slice_mut!`) turn a raw pointer into a
//! reference or slice, NULL into `EINVAL` naming the argument. They expand to
//! calls of `unsafe fn`s without an `unsafe` block, on purpose: they compile
//! only in the body of an `unsafe extern "C" fn`, whose documented contract
//! (every pointer is NULL or valid for what its documentation says) is what
//! makes them sound. A safe function cannot use them.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use netcore_core::{Error, Handle, Loop};

use crate::types::{nc_handle, nc_loop};

/// A C return type, and what a failed call returns in it.
pub(crate) trait CReturn {
    /// The value a call returns for `error` (a caught panic is `EPANIC`).
    fn from_error(error: Error) -> Self;
}

impl CReturn for c_int {
    fn from_error(error: Error) -> Self {
        error.code()
    }
}

impl CReturn for nc_handle {
    fn from_error(error: Error) -> Self {
        error.code() as nc_handle
    }
}

/// The library version number: infallible, so only a panic would use this.
impl CReturn for u32 {
    fn from_error(_: Error) -> Self {
        0
    }
}

impl<T> CReturn for *mut T {
    fn from_error(_: Error) -> Self {
        std::ptr::null_mut()
    }
}

/// A static string: the error's name (`"EPANIC"` for a panic).
impl CReturn for *const c_char {
    fn from_error(error: Error) -> Self {
        error.name_cstr().as_ptr()
    }
}

impl CReturn for () {
    fn from_error(_: Error) -> Self {}
}

/// A success value, and the C return value it becomes.
pub(crate) trait IntoC<R> {
    /// The C return value.
    fn into_c(self) -> R;
}

/// A value already in its C form.
impl<R: CReturn> IntoC<R> for R {
    fn into_c(self) -> R {
        self
    }
}

/// Success as a status: 0.
impl IntoC<c_int> for () {
    fn into_c(self) -> c_int {
        0
    }
}

/// A new handle: its positive number.
impl IntoC<nc_handle> for Handle {
    fn into_c(self) -> nc_handle {
        self.raw()
    }
}

/// Runs an exported function's body: see the module documentation.
#[inline(always)]
pub(crate) fn run<T: IntoC<R>, R: CReturn>(body: impl FnOnce() -> Result<T, Error>) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value.into_c(),
        Ok(Err(error)) => R::from_error(error),
        Err(_) => R::from_error(Error::EPANIC),
    }
}

/// The body of every exported function: a block that returns
/// `Result<T, Error>` (and may use `?` and `return Err(..)`), run by [`run`].
macro_rules! boundary {
    ($($body:tt)*) => {
        $crate::boundary::run(move || -> ::std::result::Result<_, ::netcore_core::Error> { $($body)* })
    };
}
pub(crate) use boundary;

/// The error for a NULL or otherwise unusable pointer argument `name`.
pub(crate) fn null_arg(name: &'static str) -> Error {
    let _ = name;
    Error::EINVAL
}

/// `&Loop` from a `*mut nc_loop` argument; NULL is `EINVAL`.
macro_rules! try_loop {
    ($ptr:expr) => {
        $crate::boundary::loop_arg($ptr, stringify!($ptr))?
    };
}
pub(crate) use try_loop;

/// `&T` from a `*const T` argument; NULL is `EINVAL`.
macro_rules! try_ref {
    ($ptr:expr) => {
        $crate::boundary::ref_arg($ptr, stringify!($ptr))?
    };
}
pub(crate) use try_ref;

/// `&mut T` from a `*mut T` argument; NULL is `EINVAL`.
macro_rules! try_mut {
    ($ptr:expr) => {
        $crate::boundary::mut_arg($ptr, stringify!($ptr))?
    };
}
pub(crate) use try_mut;

/// `&str` from a NUL-terminated `*const c_char` argument; NULL or invalid
/// UTF-8 is `EINVAL`.
macro_rules! try_str {
    ($ptr:expr) => {
        $crate::boundary::str_arg($ptr, stringify!($ptr))?
    };
}
pub(crate) use try_str;

/// `&[u8]` from a `*const c_void` and a length; NULL is allowed with length 0.
macro_rules! try_bytes {
    ($ptr:expr, $len:expr) => {
        $crate::boundary::slice_arg($ptr as *const u8, $len, stringify!($ptr))?
    };
}
pub(crate) use try_bytes;

/// `&[T]` from a `*const T` and a count; NULL is allowed with count 0.
macro_rules! try_slice {
    ($ptr:expr, $len:expr) => {
        $crate::boundary::slice_arg($ptr, $len, stringify!($ptr))?
    };
}
pub(crate) use try_slice;

/// `&mut [u8]` from a `*mut c_void` and a length; NULL is `EINVAL`.
macro_rules! try_slice_mut {
    ($ptr:expr, $len:expr) => {
        $crate::boundary::slice_mut_arg($ptr as *mut u8, $len, stringify!($ptr))?
    };
}
pub(crate) use try_slice_mut;

/// See [`try_loop!`].
///
/// # Safety
/// `ptr` is NULL or a live loop from `nc_loop_new`.
pub(crate) unsafe fn loop_arg<'a>(ptr: *const nc_loop, name: &'static str) -> Result<&'a Loop, Error> {
    // SAFETY: NULL or live, per the caller's contract.
    unsafe { ref_arg(ptr, name) }.map(|lp| &lp.inner)
}

/// See [`try_ref!`].
///
/// # Safety
/// `ptr` is NULL or valid for reads of a `T` for `'a`.
pub(crate) unsafe fn ref_arg<'a, T>(ptr: *const T, name: &'static str) -> Result<&'a T, Error> {
    // SAFETY: NULL or valid, per the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| null_arg(name))
}

/// See [`try_mut!`].
///
/// # Safety
/// `ptr` is NULL or valid for writes of a `T` for `'a`, and not aliased.
pub(crate) unsafe fn mut_arg<'a, T>(ptr: *mut T, name: &'static str) -> Result<&'a mut T, Error> {
    // SAFETY: NULL or valid, per the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| null_arg(name))
}

/// See [`try_str!`].
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &'static str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(null_arg(name));
    }
    // SAFETY: non-null and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|_| null_arg(name))
}

/// See [`try_slice!`].
///
/// # Safety
/// `ptr` is NULL or points to `len` readable `T`s that outlive `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(ptr: *const T, len: usize, name: &'static str) -> Result<&'a [T], Error> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(null_arg(name)) };
    }
    if len.checked_mul(size_of::<T>()).is_none_or(|bytes| bytes > isize::MAX as usize) {
        return Err(null_arg(name));
    }
    // SAFETY: non-null, `len` readable elements per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// See [`try_slice_mut!`].
///
/// # Safety
/// `ptr` is NULL or points to `len` writable bytes, not aliased, for `'a`.
pub(crate) unsafe fn slice_mut_arg<'a>(ptr: *mut u8, len: usize, name: &'static str) -> Result<&'a mut [u8], Error> {
    if ptr.is_null() || len > isize::MAX as usize {
        return Err(null_arg(name));
    }
    // SAFETY: non-null, `len` writable bytes per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// A handle argument.
pub(crate) fn handle_arg(raw: nc_handle) -> Handle {
    Handle::from_raw(raw)
}

/// A user-data argument, stored as the core's `u64`.
pub(crate) fn userdata_arg(ptr: *mut c_void) -> u64 {
    ptr as usize as u64
}
