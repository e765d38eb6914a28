//! `netcore._netcore`: the native half of the `netcore` Python package.
//!
//! It maps the core's loop/handle/event model onto Python objects; the
//! pure-Python half (`netcore/__init__.py`, `_errors.py`, `aio.py`) adds the
//! exception classes, constants and asyncio integration.

mod args;
mod errors;
mod event;
mod event_loop;

use netcore_core as nc;
use pyo3::prelude::*;

/// Native core of the netcore package; import `netcore` instead.
#[pymodule]
fn _netcore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<event_loop::PyLoop>()?;
    m.add_class::<event::Event>()?;
    m.add_class::<event_loop::Closing>()?;
    m.add_function(wrap_pyfunction!(event_loop::_check_max_events, m)?)?;
    for (name, opt) in event_loop::OPTIONS {
        m.add(name, opt as i32)?;
    }
    m.add("DEFAULT_HIGH_WATER", nc::DEFAULT_HIGH_WATER)?;
    m.add("DEFAULT_LOW_WATER", nc::DEFAULT_LOW_WATER)?;
    m.add("MAX_FRAME_LIMIT", nc::MAX_FRAME_LIMIT)?;
    m.add("MAX_DELIMITER", nc::MAX_DELIMITER)?;
    m.add("MAX_DURATION", nc::MAX_DURATION.as_secs_f64())?;
    // The error taxonomy: (code, name, message), for the Python half's tables.
    let codes: Vec<(i32, &str, &str)> = nc::Error::ALL.iter().map(|e| (e.code(), e.name(), e.message())).collect();
    m.add("ERROR_CODES", codes)?;
    Ok(())
}
