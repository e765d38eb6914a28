//! TLS for Python: `netcore.TLSContext` (the core's immutable client and
//! server configs, built with the `ssl` module's vocabulary), the loop's TLS
//! methods (`start_tls`, `set_listener_tls`, `tls_info`, `peer_certificate`)
//! and the `tls=` hook of `listen`/`connect`. The options, their defaults and
//! their validation are the core's (`nc::ClientOptions`,
//! `nc::ServerOptions`); what is here converts Python objects and renders
//! the core's answers (a TLS failure record becomes attributes of the
//! exception, as `ssl` errors carry theirs).

use std::path::PathBuf;

use netcore_core as nc;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::args::{items, must_be, type_name, BytesArg, Hd, Secs, Text};
use crate::errors::{error_value, guard, invalid, IntoPyResult};
use crate::event_loop::PyLoop;

/// A PEM source argument: a path (`str` or `os.PathLike`: read by the core
/// when the context is built) or, for `cadata`, `certdata` and `keydata`,
/// the text itself.
enum Source {
    File(PathBuf),
    Memory(Vec<u8>),
}

impl Source {
    fn pem(&self) -> nc::Pem<'_> {
        match self {
            Source::File(path) => nc::Pem::File(path),
            Source::Memory(text) => nc::Pem::Memory(text),
        }
    }
}

/// A file name argument: anything `open()` takes as a path.
struct File(Source);

impl FromPyObject<'_, '_> for File {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let path = obj.extract::<PathBuf>().map_err(|_| must_be("a path (str or os.PathLike)", &obj))?;
        Ok(File(Source::File(path)))
    }
}

/// PEM text in memory: `str` or a bytes-like object (as `cadata` in `ssl`).
struct Data(Source);

impl FromPyObject<'_, '_> for Data {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let text = match obj.cast::<PyString>() {
            Ok(s) => s.to_str()?.as_bytes().to_vec(),
            Err(_) => obj.extract::<BytesArg>()?.as_slice().to_vec(),
        };
        Ok(Data(Source::Memory(text)))
    }
}

/// An ALPN protocol name: `str` (encoded as ASCII, as `ssl` does) or bytes.
struct Protocol(Vec<u8>);

impl FromPyObject<'_, '_> for Protocol {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        match obj.cast::<PyString>() {
            Ok(s) => Ok(Protocol(s.to_str()?.as_bytes().to_vec())),
            Err(_) => obj.extract::<BytesArg>().map(|b| Protocol(b.as_slice().to_vec())),
        }
    }
}

/// A `str` argument, or the name of an enum member of the `ssl` module
/// (`ssl.TLSVersion.TLSv1_3` is "TLSv1_3"); TypeError saying `what` else.
fn str_or_member(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_str()?.to_owned()),
        Err(_) => obj.getattr("name").and_then(|n| n.extract()).map_err(|_| must_be(what, obj)),
    }
}

/// A minimum version: the core's name (`"tls1_3"`), the name `ssl` prints
/// (`"TLSv1.3"`), or an `ssl.TLSVersion` (`ssl.TLSVersion.TLSv1_3`).
struct Version(nc::TlsVersion);

impl FromPyObject<'_, '_> for Version {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let name = str_or_member(&obj, "a TLS version (\"TLSv1.3\", ssl.TLSVersion.TLSv1_3 or \"tls1_3\")")?;
        let by_protocol = nc::TlsVersion::ALL
            .iter()
            .copied()
            .find(|v| [v.protocol().to_owned(), v.protocol().replace('.', "_")].contains(&name));
        match by_protocol {
            Some(v) => Ok(Version(v)),
            None => nc::TlsVersion::parse(&name).py_err(obj.py()).map(Version),
        }
    }
}

/// Who a server asks for a certificate: the core's name (`"none"`,
/// `"optional"`, `"required"`) or `ssl.CERT_NONE` / `CERT_OPTIONAL` /
/// `CERT_REQUIRED`, which name the same three.
struct Auth(nc::ClientAuth);

impl FromPyObject<'_, '_> for Auth {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let name = str_or_member(&obj, "\"none\", \"optional\", \"required\" or an ssl.VerifyMode")?;
        let name = name.strip_prefix("CERT_").map_or(name.clone(), str::to_ascii_lowercase);
        nc::ClientAuth::parse(&name).py_err(obj.py()).map(Auth)
    }
}

/// One PEM source given as a file or as text in memory (`cafile` or
/// `cadata`, as `ssl` names them; `certfile` or `certdata`; `keyfile` or
/// `keydata`): one of the two at most, since the core takes one of each.
fn source(py: Python<'_>, names: [&str; 2], file: Option<File>, data: Option<Data>) -> PyResult<Option<Source>> {
    let [file_name, data_name] = names;
    match (file, data) {
        (Some(_), Some(_)) => Err(invalid(py, &format!("{data_name}: give {file_name} or {data_name}, not both"))),
        (file, data) => Ok(file.map(|f| f.0).or(data.map(|d| d.0))),
    }
}

/// The names of an `alpn_protocols` argument (None: none).
fn protocol_list(protocols: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Protocol>> {
    protocols.map_or(Ok(Vec::new()), |p| items(p, "an iterable of str or bytes"))
}

/// The core's config of either side.
enum Config {
    Client(nc::ClientConfig),
    Server(nc::ServerConfig),
}

/// TLS settings for connections: immutable, shareable between loops and
/// threads. Build one with `TLSContext.client(...)` or
/// `TLSContext.server(certfile, keyfile, ...)` and pass it as `tls=` to
/// `Loop.listen` / `Loop.connect`, or to `Loop.start_tls`. An
/// `ssl.SSLContext` is not accepted in its place.
#[pyclass(frozen, module = "netcore", name = "TLSContext")]
pub struct TlsContext {
    config: Config,
}

#[pymethods]
impl TlsContext {
    /// A client context (what `ssl.create_default_context()` makes):
    /// the server's certificate is verified against the system's trust
    /// store, or against `cafile` / `cadata` (PEM) when given
    /// (`load_default_certs=True` keeps the system store too), and its name
    /// against `server_hostname`. `certfile`/`keyfile`: a client
    /// certificate chain and its key (the key may be in `certfile`), or
    /// `certdata`/`keydata`: the same PEM text in memory (`str` or bytes).
    /// `alpn_protocols`: names to offer, in order; `minimum_version`:
    /// "TLSv1.2" (default) or "TLSv1.3" (or an ssl.TLSVersion);
    /// `handshake_timeout` in seconds (default DEFAULT_HANDSHAKE_TIMEOUT).
    /// Bad files or values raise InvalidArgumentError naming the argument
    /// (an unreadable file is the OS's error, errno ENOENT...). As in
    /// `ssl`, `check_hostname=False` verifies the chain but not the name,
    /// and `verify_mode=ssl.CERT_NONE` (with `check_hostname=False`)
    /// nothing: for tests and private networks only.
    #[staticmethod]
    #[pyo3(signature = (*, cafile=None, cadata=None, certfile=None, keyfile=None, certdata=None, keydata=None,
        check_hostname=true, verify_mode=None, alpn_protocols=None, minimum_version=None, load_default_certs=None,
        handshake_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn client(
        py: Python<'_>,
        cafile: Option<File>,
        cadata: Option<Data>,
        certfile: Option<File>,
        keyfile: Option<File>,
        certdata: Option<Data>,
        keydata: Option<Data>,
        check_hostname: bool,
        verify_mode: Option<Auth>,
        alpn_protocols: Option<&Bound<'_, PyAny>>,
        minimum_version: Option<Version>,
        load_default_certs: Option<bool>,
        handshake_timeout: Option<Secs>,
    ) -> PyResult<TlsContext> {
        let verify_server = match (verify_mode, check_hostname) {
            (Some(Auth(nc::ClientAuth::None)), true) => {
                return Err(invalid(py, "verify_mode: CERT_NONE needs check_hostname=False, as in ssl"));
            }
            (Some(Auth(nc::ClientAuth::None)), false) => nc::VerifyServer::Off,
            (_, false) => nc::VerifyServer::SkipName,
            (_, true) => nc::VerifyServer::Full,
        };
        let ca = source(py, ["cafile", "cadata"], cafile, cadata)?;
        let cert = source(py, ["certfile", "certdata"], certfile, certdata)?;
        let key = source(py, ["keyfile", "keydata"], keyfile, keydata)?;
        let protocols = protocol_list(alpn_protocols)?;
        let alpn: Vec<&[u8]> = protocols.iter().map(|p| p.0.as_slice()).collect();
        let defaults = nc::ClientOptions::default();
        let options = nc::ClientOptions {
            roots: nc::Roots { system: load_default_certs.unwrap_or(ca.is_none()), ca: ca.as_ref().map(Source::pem) },
            cert_chain: cert.as_ref().map(Source::pem),
            key: key.as_ref().or(cert.as_ref()).map(Source::pem),
            alpn: &alpn,
            min_version: minimum_version.map_or(defaults.min_version, |v| v.0),
            handshake_timeout: handshake_timeout.map_or(defaults.handshake_timeout, |t| t.0),
            verify_server,
        };
        let config = py.detach(|| guard(|| nc::ClientConfig::new(&options))).py_err(py)?;
        Ok(TlsContext { config: Config::Client(config) })
    }

    /// A server context: `certfile` holds the certificate chain (leaf
    /// first), `keyfile` its private key (default: the key is in
    /// `certfile`); or `certdata`/`keydata`, the same PEM text in memory
    /// (`str` or bytes; the key may be in `certdata`). `client_auth` ("none" by default, "optional",
    /// "required", or ssl.CERT_NONE/CERT_OPTIONAL/CERT_REQUIRED) asks
    /// clients for a certificate, verified against `cafile` / `cadata`.
    /// `alpn_protocols`: names accepted, in order of preference (a client
    /// offering none of them is refused); `minimum_version` and
    /// `handshake_timeout` as for client(). Errors as for client() (a key
    /// that does not match the certificate is InvalidArgumentError).
    #[staticmethod]
    #[pyo3(signature = (certfile=None, keyfile=None, *, certdata=None, keydata=None, cafile=None, cadata=None,
        client_auth=None, alpn_protocols=None, minimum_version=None, handshake_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn server(
        py: Python<'_>,
        certfile: Option<File>,
        keyfile: Option<File>,
        certdata: Option<Data>,
        keydata: Option<Data>,
        cafile: Option<File>,
        cadata: Option<Data>,
        client_auth: Option<Auth>,
        alpn_protocols: Option<&Bound<'_, PyAny>>,
        minimum_version: Option<Version>,
        handshake_timeout: Option<Secs>,
    ) -> PyResult<TlsContext> {
        let cert = source(py, ["certfile", "certdata"], certfile, certdata)?.ok_or_else(|| {
            PyTypeError::new_err("TLSContext.server() needs certfile or certdata (the certificate chain, PEM)")
        })?;
        let key = source(py, ["keyfile", "keydata"], keyfile, keydata)?;
        let ca = source(py, ["cafile", "cadata"], cafile, cadata)?;
        let protocols = protocol_list(alpn_protocols)?;
        let alpn: Vec<&[u8]> = protocols.iter().map(|p| p.0.as_slice()).collect();
        let defaults = nc::ServerOptions::new(cert.pem(), key.as_ref().unwrap_or(&cert).pem());
        let options = nc::ServerOptions {
            alpn: &alpn,
            min_version: minimum_version.map_or(defaults.min_version, |v| v.0),
            client_auth: client_auth.map_or(defaults.client_auth, |a| a.0),
            client_ca: ca.as_ref().map(Source::pem),
            handshake_timeout: handshake_timeout.map_or(defaults.handshake_timeout, |t| t.0),
            ..defaults
        };
        let config = py.detach(|| guard(|| nc::ServerConfig::new(&options))).py_err(py)?;
        Ok(TlsContext { config: Config::Server(config) })
    }

    /// True for a server context.
    #[getter]
    fn server_side(&self) -> bool {
        matches!(self.config, Config::Server(_))
    }

    /// How long a handshake may take, in seconds.
    #[getter]
    fn handshake_timeout(&self) -> f64 {
        match &self.config {
            Config::Client(c) => c.handshake_timeout(),
            Config::Server(s) => s.handshake_timeout(),
        }
        .as_secs_f64()
    }

    fn __repr__(&self) -> String {
        let side = if self.server_side() { "server" } else { "client" };
        format!("<netcore.TLSContext {side} handshake_timeout={}>", self.handshake_timeout())
    }
}

/// A `tls=` / context argument: a `netcore.TLSContext`; an
/// `ssl.SSLContext` (the usual mistake) gets a TypeError saying what to
/// use instead.
pub struct Context<'py>(Bound<'py, TlsContext>);

impl<'py> FromPyObject<'_, 'py> for Context<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(ctx) = obj.cast::<TlsContext>() {
            return Ok(Context(ctx.to_owned()));
        }
        static SSL_CONTEXT: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let ssl_context = SSL_CONTEXT.import(obj.py(), "ssl", "SSLContext")?;
        if obj.is_instance(ssl_context)? {
            return Err(PyTypeError::new_err(
                "expected a netcore.TLSContext, not an ssl.SSLContext: netcore does TLS itself (rustls); build one \
                 with netcore.TLSContext.client(cafile=...) or netcore.TLSContext.server(certfile, keyfile)",
            ));
        }
        Err(PyTypeError::new_err(format!("expected a netcore.TLSContext, not {}", type_name(&obj))))
    }
}

impl Context<'_> {
    /// The server config, or EINVAL with `wrong` (which argument, what was expected).
    pub fn server(&self, wrong: &'static nc::Detail) -> nc::Result<&nc::ServerConfig> {
        match &self.0.get().config {
            Config::Server(s) => Ok(s),
            Config::Client(_) => Err(nc::Error::invalid(wrong)),
        }
    }
}

/// What a client context given where a server one is needed gets.
const NOT_SERVER: &str = "a server context (netcore.TLSContext.server)";

/// `Loop.listen(tls=...)`: `listen()` makes a listener, whose accepts speak TLS.
pub fn listen(
    lp: &nc::Loop,
    tls: Option<&Context<'_>>,
    listen: impl FnOnce() -> nc::Result<nc::Handle>,
) -> nc::Result<nc::Handle> {
    static WRONG: nc::Detail = nc::Detail { argument: "tls", expected: NOT_SERVER };
    let config = tls.map(|t| t.server(&WRONG)).transpose()?;
    let listener = listen()?;
    if let Some(config) = config {
        lp.set_listener_tls(listener, Some(config.clone()))?;
    }
    Ok(listener)
}

/// What `Loop.connect(tls=..., server_hostname=...)` starts TLS with.
pub struct ClientTls<'a> {
    config: &'a nc::ClientConfig,
    server_name: String,
}

/// Checks `connect`'s TLS arguments before the connection exists (a bad
/// one changes nothing): the context must be a client one, and the server
/// name (default: the host) one the core takes.
pub fn client_tls<'a>(
    py: Python<'_>,
    tls: Option<&'a Context<'_>>,
    server_hostname: Option<Text>,
    host: &str,
) -> PyResult<Option<ClientTls<'a>>> {
    let Some(tls) = tls else {
        return match server_hostname {
            Some(_) => Err(invalid(py, "server_hostname: only with tls=")),
            None => Ok(None),
        };
    };
    let Config::Client(config) = &tls.0.get().config else {
        return Err(invalid(py, "tls: expected a client context (netcore.TLSContext.client)"));
    };
    let server_name = server_hostname.map_or_else(|| host.to_owned(), |s| s.0);
    nc::check_server_name(&server_name).py_err(py)?;
    Ok(Some(ClientTls { config, server_name }))
}

/// `Loop.connect` with TLS: the handshake follows the connection.
pub fn connect(lp: &nc::Loop, conn: nc::Result<nc::Handle>, tls: Option<&ClientTls<'_>>) -> nc::Result<nc::Handle> {
    let conn = conn?;
    if let Some(tls) = tls {
        // The name was checked: only a connection that cannot exist fails.
        if let Err(e) = lp.start_tls_client(conn, tls.config, &tls.server_name) {
            let _ = lp.close_reset(conn);
            return Err(e);
        }
    }
    Ok(conn)
}

/// OpenSSL's X509 verify code of each certificate error, as `ssl` reports
/// it in `SSLCertVerificationError.verify_code`.
const VERIFY_CODES: [(nc::Error, i32); 4] = [
    (nc::Error::ETLSEXPIRED, 10),   // X509_V_ERR_CERT_HAS_EXPIRED
    (nc::Error::ETLSUNKNOWNCA, 20), // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    (nc::Error::ETLSBADNAME, 62),   // X509_V_ERR_HOSTNAME_MISMATCH
    (nc::Error::ETLSBADCERT, 1),    // X509_V_ERR_UNSPECIFIED
];

/// The exception of an event's error: a TLS failure carries its record,
/// as `ssl` errors do: `alert` (the alert number the peer sent, or None),
/// `reason` (the TLS library's words), `library` ("rustls"), and for
/// certificate errors `verify_code` / `verify_message` (OpenSSL's X509
/// verify code, which `ssl` reports, and the reason).
pub fn event_error<'py>(py: Python<'py>, lp: &nc::Loop, handle: nc::Handle, e: nc::Error) -> Bound<'py, PyAny> {
    let failure = lp.tls_failure(handle).ok().flatten().filter(|f| f.error == e);
    let Some(failure) = failure else { return error_value(py, e, None) };
    let exc = error_value(py, e, Some(&failure.reason));
    let verify_code = VERIFY_CODES.iter().find(|(code, _)| *code == e).map(|&(_, x509)| x509);
    let set = || -> PyResult<()> {
        exc.setattr("alert", failure.alert)?;
        exc.setattr("library", "rustls")?;
        exc.setattr("reason", &failure.reason)?;
        if let Some(code) = verify_code {
            exc.setattr("verify_code", code)?;
            exc.setattr("verify_message", &failure.reason)?;
        }
        Ok(())
    };
    match set() {
        Ok(()) => exc,
        Err(broken) => broken.into_value(py).into_bound(py).into_any(),
    }
}

#[pymethods]
impl PyLoop {
    /// Starts TLS on a live connection (STARTTLS), or on one just made by
    /// connect(): with a client context, the server's certificate is
    /// verified against `server_hostname` (required; also sent as SNI);
    /// with a server context, the peer is the client. "tls_ready" or
    /// "tls_failed" follows; data sent meanwhile waits for the handshake.
    /// Bytes received but not delivered yet (sent by the peer after the
    /// upgrade point) make it InvalidArgumentError, as does a connection
    /// that already speaks TLS. Plaintext that came in the same read as the
    /// upgrade command is refused too: run() and netcore.aio skip its
    /// "data" and the connection fails (ETLSPROTOCOL); a list poll()
    /// returned is already made, so after start_tls its later events of
    /// this handle are to be dropped by the caller.
    #[pyo3(signature = (handle, context, *, server_hostname=None))]
    fn start_tls(
        &self,
        py: Python<'_>,
        handle: Hd,
        context: Context<'_>,
        server_hostname: Option<Text>,
    ) -> PyResult<()> {
        match &context.0.get().config {
            Config::Server(config) => match server_hostname {
                Some(_) => Err(invalid(py, "server_hostname: only with a client context")),
                None => self.core(py, |lp| lp.start_tls_server(handle.0, config)),
            },
            Config::Client(config) => {
                let name =
                    server_hostname.ok_or_else(|| invalid(py, "server_hostname: required with a client context"))?;
                self.core(py, |lp| lp.start_tls_client(handle.0, config, &name.0))
            }
        }
    }

    /// Sets the TLS context of a listener's later accepts (None: plaintext
    /// from now on). Connections accepted before keep theirs: this rotates
    /// a certificate without a restart.
    fn set_listener_tls(&self, py: Python<'_>, listener: Hd, context: Option<Context<'_>>) -> PyResult<()> {
        static WRONG: nc::Detail = nc::Detail { argument: "context", expected: NOT_SERVER };
        self.core(py, |lp| lp.set_listener_tls(listener.0, context.map(|c| c.server(&WRONG).cloned()).transpose()?))
    }

    /// What a connection's TLS handshake negotiated, as a dict (names as
    /// in `ssl.SSLObject`): `version` ("TLSv1.3"), `cipher` (the suite's
    /// name), `selected_alpn_protocol` (str or None), `session_reused`,
    /// `peer_verified` (the peer's certificate was verified; for a server,
    /// whether the client sent one). None before the handshake is over or
    /// on a connection without TLS.
    fn tls_info<'py>(&self, py: Python<'py>, handle: Hd) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(info) = self.core(py, |lp| lp.tls_info(handle.0))? else { return Ok(None) };
        let dict = PyDict::new(py);
        dict.set_item("version", info.version.protocol())?;
        dict.set_item("cipher", info.cipher)?;
        dict.set_item("selected_alpn_protocol", info.alpn.map(|a| String::from_utf8_lossy(&a).into_owned()))?;
        dict.set_item("session_reused", info.resumed)?;
        dict.set_item("peer_verified", info.peer_verified)?;
        Ok(Some(dict))
    }

    /// The peer's certificate in DER form (bytes; as
    /// `SSLSocket.getpeercert(binary_form=True)`), or None when it sent
    /// none or the handshake is not over. With `chain=True`, the list of
    /// its whole chain, leaf first. `binary_form=False` is
    /// NotSupportedError: decode the DER with a library of your choice.
    #[pyo3(signature = (handle, binary_form=true, *, chain=false))]
    fn peer_certificate(&self, py: Python<'_>, handle: Hd, binary_form: bool, chain: bool) -> PyResult<Py<PyAny>> {
        if !binary_form {
            let detail = "binary_form: netcore returns the DER bytes only (binary_form=True)";
            return Err(PyErr::from_value(error_value(py, nc::Error::EOPNOTSUPP, Some(detail))));
        }
        let certs = self.core(py, |lp| lp.tls_peer_certificates(handle.0))?;
        let mut ders = certs.iter().map(|c| PyBytes::new(py, c));
        Ok(match chain {
            true => ders.collect::<Vec<_>>().into_pyobject(py)?.into_any().unbind(),
            false => ders.next().into_pyobject(py)?.into_any().unbind(),
        })
    }
}

/// Adds `TLSContext` and the TLS constants to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TlsContext>()?;
    m.add("TLS_SUPPORTED", nc::tls_supported())?;
    m.add("DEFAULT_HANDSHAKE_TIMEOUT", nc::DEFAULT_HANDSHAKE_TIMEOUT.as_secs_f64())?;
    m.add("MAX_ALPN_PROTOCOLS", nc::MAX_ALPN_PROTOCOLS)?;
    let versions: Vec<&str> = nc::TlsVersion::ALL.iter().map(|v| v.protocol()).collect();
    m.add("TLS_VERSIONS", versions)?;
    m.add("CLIENT_AUTH_MODES", crate::names(nc::ClientAuth::ALL, nc::ClientAuth::name))?;
    Ok(())
}
