//! `netcore.Event`: one I/O result, a light immutable object.

use std::net::SocketAddr;

use netcore_core as nc;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

/// The kinds' names, interned once, indexed by the core's numeric kind.
static KIND_STRINGS: PyOnceLock<Vec<Py<PyString>>> = PyOnceLock::new();

fn kind_string(py: Python<'_>, kind: nc::EventKind) -> Py<PyString> {
    let all = KIND_STRINGS.get_or_init(py, || {
        let len = nc::EventKind::ALL.iter().map(|&k| k as i32 + 1).max().unwrap_or(0);
        let name = |raw| nc::EventKind::from_raw(raw).map_or("", nc::EventKind::name);
        (0..len).map(|raw| PyString::intern(py, name(raw)).unbind()).collect()
    });
    all[kind as usize].clone_ref(py)
}

/// How many recent address tuples are kept for reuse (a server answers the same few peers).
const RECENT_ADDRS: usize = 8;

/// Address tuples made recently on this thread, with their addresses, replaced in
/// turn; the references held keep each identity unique for [`recent_addr`].
type Recent = (usize, [Option<(SocketAddr, Py<PyTuple>)>; RECENT_ADDRS]);

thread_local! {
    static RECENT: std::cell::RefCell<Recent> = const { std::cell::RefCell::new((0, [const { None }; RECENT_ADDRS])) };
}

/// An `(host, port)` tuple, the host as the core formats it (zone kept). A
/// recent one is reused: formatting is most of an echoed datagram's address cost.
pub fn addr_tuple<'py>(py: Python<'py>, addr: SocketAddr) -> PyResult<Bound<'py, PyTuple>> {
    let found =
        RECENT.with_borrow(|(_, slots)| slots.iter().flatten().find(|(a, _)| *a == addr).map(|(_, t)| t.clone_ref(py)));
    if let Some(tuple) = found {
        return Ok(tuple.into_bound(py));
    }
    // Made outside the borrow: Python code (a finalizer) may run meanwhile.
    let tuple = (nc::addr_host(&addr), addr.port()).into_pyobject(py)?;
    let evicted = RECENT.with_borrow_mut(|(next, slots)| {
        let old = slots[*next].replace((addr, tuple.clone().unbind()));
        *next = (*next + 1) % RECENT_ADDRS;
        old
    });
    drop(evicted);
    Ok(tuple)
}

/// The address of `obj` if it is one of [`addr_tuple`]'s recent tuples (the
/// same object): a reply to an event's sender skips parsing the host back.
pub fn recent_addr(obj: &Bound<'_, PyAny>) -> Option<SocketAddr> {
    RECENT.with_borrow(|(_, slots)| slots.iter().flatten().find(|(_, t)| t.as_ptr() == obj.as_ptr()).map(|(a, _)| *a))
}

/// One event from a netcore loop (read-only): kind, handle, listener, data, addr, path, error, userdata, value.
#[pyclass(frozen, module = "netcore", name = "Event")]
pub struct Event {
    kind: nc::EventKind,
    #[pyo3(get)]
    handle: i64,
    #[pyo3(get)]
    listener: Option<i64>,
    #[pyo3(get)]
    data: Option<Py<PyBytes>>,
    /// Converted only when read: most servers never look at a peer's address.
    address: Option<SocketAddr>,
    #[pyo3(get)]
    path: Option<String>,
    #[pyo3(get)]
    error: Option<Py<PyAny>>,
    #[pyo3(get)]
    userdata: Option<Py<PyAny>>,
    #[pyo3(get)]
    value: u64,
}

impl Event {
    /// Builds the Python event for a core event and its bytes.
    pub fn build<'py>(
        py: Python<'py>,
        lp: &nc::Loop,
        ev: &nc::Event,
        bytes: &[u8],
        path: Option<&std::ffi::CStr>,
        userdata: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, Event>> {
        let data = match ev.kind {
            nc::EventKind::Data | nc::EventKind::Datagram => Some(PyBytes::new(py, bytes).unbind()),
            _ => None,
        };
        let error = ev.error.map(|e| crate::tls::event_error(py, lp, ev.handle, e).unbind());
        Bound::new(
            py,
            Event {
                kind: ev.kind,
                handle: ev.handle.raw(),
                listener: ev.listener.map(|l| l.raw()),
                data,
                address: ev.addr,
                path: path.map(|p| p.to_string_lossy().into_owned()),
                error,
                userdata,
                value: ev.value,
            },
        )
    }
}

#[pymethods]
impl Event {
    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str) {
        ("kind", "handle", "data")
    }

    /// What happened: an event kind, each also a constant (netcore.DATA == "data").
    #[getter]
    fn kind(&self, py: Python<'_>) -> Py<PyString> {
        kind_string(py, self.kind)
    }

    /// (host, port): the peer for "accepted"/"connected", the sender for "datagram"; else None.
    #[getter]
    fn addr<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.address.map(|a| addr_tuple(py, a)).transpose()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let repr = |o: &Bound<'_, PyAny>| o.repr().map(|r| r.to_string());
        let data = self.data.as_ref().map(|d| {
            let bytes = d.bind(py).as_bytes();
            let more = if bytes.len() > 32 { "..." } else { "" };
            repr(PyBytes::new(py, &bytes[..bytes.len().min(32)]).as_any())
                .map(|r| format!("{r}{more} ({} bytes)", bytes.len()))
        });
        // The fields shown when set, in this order.
        let fields = [
            ("listener", self.listener.map(|l| l.to_string())),
            ("data", data.transpose()?),
            ("addr", self.addr(py)?.map(|a| repr(a.as_any())).transpose()?),
            ("path", self.path.as_ref().map(|p| format!("{p:?}"))),
            ("error", self.error.as_ref().map(|e| repr(e.bind(py))).transpose()?),
            ("value", (self.value != 0).then(|| self.value.to_string())),
            ("userdata", self.userdata.as_ref().map(|u| repr(u.bind(py))).transpose()?),
        ];
        let mut s = format!("<netcore.Event {} handle={}", kind_string(py, self.kind).bind(py).to_str()?, self.handle);
        for (name, shown) in fields {
            if let Some(shown) = shown {
                s += &format!(" {name}={shown}");
            }
        }
        Ok(s + ">")
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.userdata)?;
        visit.call(&self.error)
    }
}
