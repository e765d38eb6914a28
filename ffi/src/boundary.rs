//! The panic boundary and the argument checks every exported function shares.

use std::ffi::{c_char, c_int, c_void, CStr};

use netcore_core::{Error, Handle, Loop};

use crate::types::{nc_handle, nc_loop};

/// What an exported function returns when a panic was caught inside it.
pub(crate) trait PanicValue {
    fn panic_value() -> Self;
}

impl PanicValue for c_int {
    fn panic_value() -> Self {
        Error::EPANIC.code()
    }
}

impl PanicValue for i64 {
    fn panic_value() -> Self {
        Error::EPANIC.code() as i64
    }
}

impl<T> PanicValue for *mut T {
    fn panic_value() -> Self {
        std::ptr::null_mut()
    }
}

impl PanicValue for *const c_char {
    fn panic_value() -> Self {
        c"EPANIC".as_ptr()
    }
}

impl PanicValue for () {
    fn panic_value() -> Self {}
}

/// Runs the body of an exported function, turning a panic into the
/// function's error value (`NC_EPANIC`, NULL, ...) so none crosses into C.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(_) => $crate::boundary::PanicValue::panic_value(),
        }
    };
}
pub(crate) use ffi_boundary;

/// The loop behind a pointer; NULL is `EINVAL`.
///
/// # Safety
/// `ptr` is NULL or a live loop from `nc_loop_new`.
pub(crate) unsafe fn loop_ref<'a>(ptr: *const nc_loop) -> Result<&'a Loop, Error> {
    // SAFETY: the caller guarantees a live loop or NULL.
    unsafe { ptr.as_ref() }.map(|l| &l.inner).ok_or(Error::EINVAL)
}

/// A NUL-terminated UTF-8 string; NULL or invalid UTF-8 is `EINVAL`.
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string that outlives the call.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::EINVAL);
    }
    // SAFETY: non-null and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|_| Error::EINVAL)
}

/// A byte buffer; NULL is allowed only with length 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes that outlive the call.
pub(crate) unsafe fn bytes_arg<'a>(ptr: *const c_void, len: usize) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return if len == 0 { Ok(&[]) } else { Err(Error::EINVAL) };
    }
    if len > isize::MAX as usize {
        return Err(Error::EINVAL);
    }
    // SAFETY: non-null, `len` readable bytes per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) })
}

/// A handle argument.
pub(crate) fn handle_arg(raw: nc_handle) -> Handle {
    Handle::from_raw(raw)
}

/// `0` or the negative error code.
pub(crate) fn status(result: Result<(), Error>) -> c_int {
    match result {
        Ok(()) => 0,
        Err(e) => e.code(),
    }
}

/// A new handle or the negative error code.
pub(crate) fn handle_status(result: Result<Handle, Error>) -> nc_handle {
    match result {
        Ok(handle) => handle.raw(),
        Err(e) => e.code() as nc_handle,
    }
}
