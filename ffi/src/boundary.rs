//! The boundary every exported function goes through, and the argument
//! checks it shares (docs/design.md, "The C boundary").
//!
//! Every `extern "C"` function's body is one [`boundary!`] block (a test in
//! `ffi/tests/boundary.rs` reads the sources and fails otherwise). Inside
//! it the body returns `Result<T, Error>` and uses `?`; the boundary turns
//! `Ok` into the C return value ([`IntoC`]), an error into its C form
//! ([`CReturn`]), and a panic into `NC_EPANIC` (or NULL, or `"EPANIC"`), so
//! no panic crosses into C.
//!
//! An error also records its detail (which argument, what it must be) for
//! `nc_last_error_detail`, per thread; a success costs nothing and records
//! nothing.
//!
//! The argument macros (`try_loop!`, `try_ref!`, `try_mut!`, `try_str!`,
//! `try_bytes!`, `try_slice!`, `try_slice_mut!`) turn a raw pointer into a
//! reference or slice, NULL into `EINVAL` whose detail names the argument as
//! the header spells it. They expand to
//! calls of `unsafe fn`s without an `unsafe` block, on purpose: they compile
//! only in the body of an `unsafe extern "C" fn`, whose documented contract
//! (every pointer is NULL or valid for what its documentation says) is what
//! makes them sound. A safe function cannot use them.

use std::cell::{Cell, RefCell};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use netcore_core::{Detail, Error, Handle, Loop};

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
    // The conversion happens inside the unwind guard, so only the small C
    // value (not the `Result`) crosses it.
    let guarded = AssertUnwindSafe(|| match body() {
        Ok(value) => value.into_c(),
        Err(error) => fail(error),
    });
    catch_unwind(guarded).unwrap_or_else(|_| fail(Error::EPANIC))
}

/// The failure path of [`run`]: records the error's detail, kept out of
/// line so the success path stays as small as it was.
#[cold]
#[inline(never)]
fn fail<R: CReturn>(error: Error) -> R {
    LAST_DETAIL.with(|last| last.set(error.detail()));
    R::from_error(error)
}

thread_local! {
    /// The detail of the last error an `nc_*` call returned on this thread.
    static LAST_DETAIL: Cell<Option<&'static Detail>> = const { Cell::new(None) };
    /// `nc_last_error_detail`'s text, kept until its next call on this thread.
    static DETAIL_TEXT: RefCell<CString> = RefCell::new(CString::default());
}

/// The detail of the last error returned on this thread, as
/// `"argument: expected ..."` (empty if it had none), NUL-terminated and
/// valid until the next call on this thread.
pub(crate) fn last_error_detail() -> *const c_char {
    let text = LAST_DETAIL.with(Cell::get).map_or_else(String::new, Detail::to_string);
    DETAIL_TEXT.with(|slot| {
        // Core details are static text without NUL bytes.
        *slot.borrow_mut() = CString::new(text).unwrap_or_default();
        slot.borrow().as_ptr()
    })
}

/// The body of every exported function: a block that returns
/// `Result<T, Error>` (and may use `?` and `return Err(..)`), run by [`run`].
macro_rules! boundary {
    ($($body:tt)*) => {
        $crate::boundary::run(move || -> ::std::result::Result<_, ::netcore_core::Error> { $($body)* })
    };
}
pub(crate) use boundary;

pub(crate) use netcore_core::invalid;

/// An argument's name as the header prints it: `r#loop` is `loop`.
pub(crate) const fn unraw(name: &'static str) -> &'static str {
    match name.as_bytes() {
        [b'r', b'#', rest @ ..] => match std::str::from_utf8(rest) {
            Ok(bare) => bare,
            Err(_) => name,
        },
        _ => name,
    }
}

/// What a pointer argument must be, for the macros' error details.
pub(crate) const NOT_NULL: &str = "a valid pointer, not NULL";
/// What a string argument must be.
pub(crate) const A_STRING: &str = "a NUL-terminated UTF-8 string, not NULL";
/// What a buffer argument must be.
pub(crate) const A_BUFFER: &str = "a valid pointer (NULL only with a length of 0)";

/// `&Loop` from a `*mut nc_loop` argument; NULL is `EINVAL`.
macro_rules! try_loop {
    ($ptr:expr) => {
        $crate::boundary::loop_arg($ptr).ok_or_else(|| {
            $crate::boundary::invalid!($crate::boundary::unraw(stringify!($ptr)), "a loop from nc_loop_new, not NULL")
        })?
    };
}
pub(crate) use try_loop;

/// `&T` from a `*const T` argument; NULL is `EINVAL`.
macro_rules! try_ref {
    ($ptr:expr) => {
        $crate::boundary::ref_arg($ptr)
            .ok_or_else(|| $crate::boundary::invalid!(stringify!($ptr), $crate::boundary::NOT_NULL))?
    };
}
pub(crate) use try_ref;

/// `&mut T` from a `*mut T` argument; NULL is `EINVAL`.
macro_rules! try_mut {
    ($ptr:expr) => {
        $crate::boundary::mut_arg($ptr)
            .ok_or_else(|| $crate::boundary::invalid!(stringify!($ptr), $crate::boundary::NOT_NULL))?
    };
}
pub(crate) use try_mut;

/// `&str` from a NUL-terminated `*const c_char` argument; NULL or invalid
/// UTF-8 is `EINVAL`.
macro_rules! try_str {
    ($ptr:expr) => {
        $crate::boundary::str_arg($ptr)
            .ok_or_else(|| $crate::boundary::invalid!(stringify!($ptr), $crate::boundary::A_STRING))?
    };
}
pub(crate) use try_str;

/// `&[u8]` from a `*const c_void` and a length; NULL is allowed with length 0.
macro_rules! try_bytes {
    ($ptr:expr, $len:expr) => {
        $crate::boundary::try_slice!($ptr as *const u8, $len, stringify!($ptr))
    };
}
pub(crate) use try_bytes;

/// `&[T]` from a `*const T` and a count; NULL is allowed with count 0.
macro_rules! try_slice {
    ($ptr:expr, $len:expr) => {
        $crate::boundary::try_slice!($ptr, $len, stringify!($ptr))
    };
    ($ptr:expr, $len:expr, $name:expr) => {
        $crate::boundary::slice_arg($ptr, $len)
            .ok_or_else(|| $crate::boundary::invalid!($name, $crate::boundary::A_BUFFER))?
    };
}
pub(crate) use try_slice;

/// `&mut [u8]` from a `*mut c_void` and a length; NULL is `EINVAL`.
macro_rules! try_slice_mut {
    ($ptr:expr, $len:expr) => {
        $crate::boundary::slice_mut_arg($ptr as *mut u8, $len)
            .ok_or_else(|| $crate::boundary::invalid!(stringify!($ptr), $crate::boundary::NOT_NULL))?
    };
}
pub(crate) use try_slice_mut;

/// See [`try_loop!`].
///
/// # Safety
/// `ptr` is NULL or a live loop from `nc_loop_new`.
pub(crate) unsafe fn loop_arg<'a>(ptr: *const nc_loop) -> Option<&'a Loop> {
    // SAFETY: NULL or live, per the caller's contract.
    unsafe { ptr.as_ref() }.map(|lp| &lp.inner)
}

/// See [`try_ref!`].
///
/// # Safety
/// `ptr` is NULL or valid for reads of a `T` for `'a`.
pub(crate) unsafe fn ref_arg<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: NULL or valid, per the caller's contract.
    unsafe { ptr.as_ref() }
}

/// See [`try_mut!`].
///
/// # Safety
/// `ptr` is NULL or valid for writes of a `T` for `'a`, and not aliased.
pub(crate) unsafe fn mut_arg<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: NULL or valid, per the caller's contract.
    unsafe { ptr.as_mut() }
}

/// See [`try_str!`].
///
/// # Safety
/// `ptr` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char) -> Option<&'a str> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().ok()
}

/// See [`try_slice!`].
///
/// # Safety
/// `ptr` is NULL or points to `len` readable `T`s that outlive `'a`.
pub(crate) unsafe fn slice_arg<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    if ptr.is_null() {
        return (len == 0).then_some(&[]);
    }
    if len.checked_mul(size_of::<T>()).is_none_or(|bytes| bytes > isize::MAX as usize) {
        return None;
    }
    // SAFETY: non-null, `len` readable elements per the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// See [`try_slice_mut!`].
///
/// # Safety
/// `ptr` is NULL or points to `len` writable `T`s, not aliased, for `'a`.
pub(crate) unsafe fn slice_mut_arg<'a, T>(ptr: *mut T, len: usize) -> Option<&'a mut [T]> {
    if ptr.is_null() || len.checked_mul(size_of::<T>()).is_none_or(|bytes| bytes > isize::MAX as usize) {
        return None;
    }
    // SAFETY: non-null, `len` writable elements per the caller's contract.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// The largest `size` a growable C struct may claim: none will ever grow
/// this far, so a garbage size is refused before any byte past the known
/// fields is read.
pub(crate) const MAX_STRUCT_SIZE: usize = 4096;

/// The size a growable C struct (one that starts with a `size_t size`, set
/// by its `*_INIT` macro) says it has, if this library knows every field
/// of that size: at least `size_of::<T>()` and at most [`MAX_STRUCT_SIZE`],
/// else `bad_size`.
///
/// # Safety
/// `ptr` is non-null and valid for reads of a `usize`.
pub(crate) unsafe fn struct_size<T>(ptr: *const T, bad_size: Error) -> Result<usize, Error> {
    // SAFETY: every version of the struct starts with `size`.
    let size = unsafe { ptr.cast::<usize>().read() };
    if size < size_of::<T>() || size > MAX_STRUCT_SIZE {
        return Err(bad_size);
    }
    Ok(size)
}

/// An input struct that can grow (`nc_connect_opts`, the TLS options):
/// NULL is `None`; a size out of range is `bad_size`; bytes past the fields
/// this library knows must be 0 (a newer program asking for something this
/// library cannot do is refused, not ignored).
///
/// # Safety
/// `ptr` is NULL or valid for its `size` bytes.
pub(crate) unsafe fn sized_arg<'a, T>(ptr: *const T, bad_size: Error) -> Result<Option<&'a T>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-null, valid per the caller's contract.
    let size = unsafe { struct_size(ptr, bad_size) }?;
    let known = size_of::<T>();
    // SAFETY: the program's struct has `size` bytes, per the contract.
    let unknown = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>().add(known), size - known) };
    if unknown.iter().any(|&b| b != 0) {
        return Err(invalid!("opts", "0 in every field this library version does not know"));
    }
    // SAFETY: `size` >= the struct's size: a whole, valid struct per the contract.
    Ok(Some(unsafe { &*ptr }))
}

/// A handle argument.
pub(crate) fn handle_arg(raw: nc_handle) -> Handle {
    Handle::from_raw(raw)
}

/// A user-data argument, stored as the core's `u64`.
pub(crate) fn userdata_arg(ptr: *mut c_void) -> u64 {
    ptr as usize as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_converts_results_and_catches_panics() {
        assert_eq!(run::<(), c_int>(|| Ok(())), 0);
        assert_eq!(run::<c_int, c_int>(|| Ok(7)), 7);
        assert_eq!(run::<Handle, nc_handle>(|| Ok(Handle::from_raw(42))), 42);
        assert_eq!(run::<(), c_int>(|| Err(Error::EBADHANDLE)), Error::EBADHANDLE.code());
        assert_eq!(run::<Handle, nc_handle>(|| Err(Error::EINVAL)), Error::EINVAL.code() as nc_handle);
        assert!(run::<*mut u8, *mut u8>(|| Err(Error::ENOMEM)).is_null());
        assert_eq!(run::<(), c_int>(|| panic!("a bug")), Error::EPANIC.code());
        assert!(run::<*mut u8, *mut u8>(|| panic!("a bug")).is_null());
        let name = run::<*const c_char, *const c_char>(|| panic!("a bug"));
        assert_eq!(name, Error::EPANIC.name_cstr().as_ptr());
    }

    #[test]
    fn an_error_records_its_detail_and_a_success_keeps_it() {
        let detail = || LAST_DETAIL.with(Cell::get).map(|d| d.argument);
        run::<(), c_int>(|| Err(invalid!("port", "0 to 65535")));
        assert_eq!(detail(), Some("port"));
        run::<(), c_int>(|| Ok(()));
        assert_eq!(detail(), Some("port"));
        let text = last_error_detail();
        assert_eq!(
            DETAIL_TEXT.with(|t| (t.borrow().as_ptr(), t.borrow().clone())),
            (text, c"port: expected 0 to 65535".into())
        );
        run::<(), c_int>(|| Err(Error::EBADHANDLE));
        assert_eq!(detail(), None);
        assert_eq!(unraw("r#loop"), "loop");
        assert_eq!(unraw("host"), "host");
    }
}
