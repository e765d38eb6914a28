//! `netcore._netcore`: the native half of the `netcore` Python package, the
//! core's model and vocabulary as Python objects (docs/design.md §5).

mod aio;
mod aio_loop;
mod args;
mod errors;
mod event;
mod event_loop;
mod fastcall;
mod tls;

use netcore_core as nc;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::args::{Int, Text};
use crate::errors::IntoPyResult;

/// `(host, port)` parsed as the loop parses it, in the form the loop reports addresses.
#[pyfunction]
fn parse_address(py: Python<'_>, host: Text, port: Int<i64>) -> PyResult<Bound<'_, PyTuple>> {
    let addr = nc::socket_addr(&host.0, port.0).py_err(py)?;
    event::addr_tuple(py, addr)
}

/// The names of a core enumeration's values, in numeric order.
fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|&v| name(v)).collect()
}

/// Native core of the netcore package; import `netcore` instead.
#[pymodule]
fn _netcore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // `add` also lists a name in `__all__`, `setattr` leaves it out.
    m.setattr("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<event_loop::PyLoop>()?;
    event_loop::install_send_fast(m.py())?;
    m.add_class::<event::Event>()?;
    m.add_class::<event_loop::Closing>()?;
    m.add_function(wrap_pyfunction!(parse_address, m)?)?;
    tls::register(m)?;
    aio::register(m)?;
    aio_loop::register(m)?;
    // Event kinds (netcore.DATA == "data") and options (netcore.NODELAY).
    for &kind in nc::EventKind::ALL {
        m.add(kind.name().to_uppercase(), kind.name())?;
    }
    for &option in nc::SockOption::ALL {
        m.add(option.name().to_uppercase(), option as i32)?;
    }
    // Defaults and limits, under the core's names.
    macro_rules! export {
        ($($name:ident $(. $convert:ident())?),*) => {$(
            m.add(stringify!($name), nc::$name$(.$convert())?)?;
        )*};
    }
    export! {
        DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER, DEFAULT_BACKLOG, DEFAULT_MAX_FRAME, DEFAULT_DELIMITER,
        DEFAULT_LENGTH_HEADER, MAX_FRAME_LIMIT, MAX_DELIMITER, MAX_BACKOFF_STEPS, MAX_RAW_OPTION_SIZE, MAX_UNIX_PATH,
        MAX_DURATION.as_secs_f64(), DEFAULT_ATTEMPT_DELAY.as_secs_f64(), MAX_ATTEMPT_DELAY.as_secs_f64()
    }
    // The core's full lists, for the vocabulary test and for tools.
    m.setattr("EVENT_KINDS", names(nc::EventKind::ALL, nc::EventKind::name))?;
    m.setattr("HANDLE_KINDS", names(nc::HandleKind::ALL, nc::HandleKind::name))?;
    m.setattr("FRAMING_MODES", names(nc::FramingMode::ALL, nc::FramingMode::name))?;
    m.setattr("FAMILIES", names(nc::Family::ALL, nc::Family::name))?;
    let options =
        nc::SockOption::ALL.iter().map(|&o| (o.name(), o as i32, *o.range().start(), *o.range().end(), o.is_bool()));
    m.setattr("OPTIONS", options.collect::<Vec<_>>())?;
    let names_of = |args: &[nc::Arg]| args.iter().map(|a| a.name).collect::<Vec<_>>();
    let operations = nc::OPERATIONS.iter().map(|op| (op.name, op.on_handle(), names_of(op.args), names_of(op.options)));
    m.setattr("OPERATIONS", operations.collect::<Vec<_>>())?;
    // The error taxonomy: (code, name, message), for the Python half's tables.
    let codes: Vec<(i32, &str, &str)> = nc::Error::ALL.iter().map(|e| (e.code(), e.name(), e.message())).collect();
    m.setattr("ERROR_CODES", codes)?;
    Ok(())
}
