//! TLS in the C ABI (docs/design.md, "TLS"): configs built from growable
//! option structs, TLS on listeners and connections, and what a handshake
//! negotiated or why it failed, copied out into the caller's memory.
//!
//! The core decides every name, default, range and check; this module only
//! converts C types (a PEM source, a list of ALPN strings, 0 for "the
//! default") and copies results out. A build without the `tls` feature has
//! every function, and each answers `NC_EOPNOTSUPP`.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use netcore_core::{
    tls_supported, ClientAuth, ClientConfig, ClientOptions, Error, Pem, Roots, ServerConfig, ServerOptions, TlsVersion,
    VerifyServer, MAX_ALPN_PROTOCOLS,
};

use crate::boundary::{
    boundary, handle_arg, invalid, sized_arg, slice_arg, slice_mut_arg, struct_size, try_loop, try_mut, try_ref,
    try_slice, try_str, A_STRING, NOT_NULL,
};
use crate::types::{nc_handle, nc_loop};

/// A server's TLS config, made by `nc_tls_server_config_new`: immutable,
/// shared by every listener and connection given it, on any loop and any
/// thread at once. Free it with `nc_tls_server_config_free` whenever the
/// program no longer needs it: listeners and connections that use it keep
/// their own reference.
pub struct nc_tls_server_config {
    inner: ServerConfig,
}

/// A client's TLS config, made by `nc_tls_client_config_new`: immutable,
/// shared by every connection given it, on any loop and any thread at once
/// (connections made with it share its session-resumption cache). Free it
/// with `nc_tls_client_config_free` whenever the program no longer needs it:
/// connections that use it keep their own reference.
pub struct nc_tls_client_config {
    inner: ClientConfig,
}

/// Where PEM text comes from: a file or memory (set one of them; both NULL
/// means none). Only read while the config is built.
#[repr(C)]
pub struct nc_tls_pem {
    /// A file holding PEM text, read when the config is built (NULL: none).
    pub file: *const c_char,
    /// PEM text in memory (NULL: none).
    pub data: *const c_void,
    /// Bytes at `data`.
    pub len: usize,
}

/// `nc_tls_server_opts.min_version`, `nc_tls_client_opts.min_version`,
/// `nc_tls_session_info.version`: a TLS protocol version.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum nc_tls_version {
    /// TLS 1.2.
    NC_TLS1_2 = 12,
    /// TLS 1.3.
    NC_TLS1_3 = 13,
}

/// `nc_tls_client_opts.verify_server`: how much of the server's
/// certificate a client checks. The handshake's signatures are always
/// checked (the server holds the key of the certificate it sent).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum nc_tls_verify_server {
    /// The chain up to a trusted root, the dates and the name (the default;
    /// anything less is for tests and private networks).
    NC_TLS_VERIFY_FULL = 0,
    /// The chain and the dates, not the name.
    NC_TLS_VERIFY_SKIP_NAME = 1,
    /// Nothing: any certificate is accepted; no trust roots are needed, and
    /// `nc_tls_session_info.peer_verified` is 0.
    NC_TLS_VERIFY_OFF = 2,
}

/// `nc_tls_server_opts.client_auth`: whether a server asks its clients for
/// a certificate.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum nc_tls_client_auth {
    /// No client certificate is asked for (the default).
    NC_TLS_CLIENT_AUTH_NONE = 0,
    /// A client certificate is asked for and verified if sent; a client
    /// without one is accepted (`nc_tls_session_info.peer_verified` is 0).
    NC_TLS_CLIENT_AUTH_OPTIONAL = 1,
    /// A client without a valid certificate is refused.
    NC_TLS_CLIENT_AUTH_REQUIRED = 2,
}

/// Options of `nc_tls_server_config_new`. Initialise it with
/// `NC_TLS_SERVER_OPTS_INIT` (every field but `size` 0, the default), then
/// set the certificate and key and what else you need. The struct may gain
/// fields at its end in later versions; `size` tells the library which
/// version the program was built with.
#[repr(C)]
pub struct nc_tls_server_opts {
    /// `sizeof(struct nc_tls_server_opts)` as the program sees it (set by
    /// `NC_TLS_SERVER_OPTS_INIT`); checked as `nc_connect_opts.size`.
    pub size: usize,
    /// The certificate chain, leaf first (required).
    pub cert: nc_tls_pem,
    /// The leaf certificate's private key, PKCS#8, PKCS#1 or SEC1 (required).
    pub key: nc_tls_pem,
    /// ALPN protocol names (NUL-terminated), in order of preference; when
    /// set, a client offering none of them is refused (alert 120). NULL/0:
    /// no ALPN. At most 64 names of 1 to 255 bytes.
    pub alpn: *const *const c_char,
    /// Number of names at `alpn`.
    pub alpn_count: usize,
    /// The oldest version accepted: `NC_TLS1_2` or `NC_TLS1_3` (0: TLS 1.2).
    pub min_version: c_int,
    /// `NC_TLS_CLIENT_AUTH_*` (0: none).
    pub client_auth: c_int,
    /// The CA bundle client certificates are verified with (required unless
    /// `client_auth` is none).
    pub client_ca: nc_tls_pem,
    /// How long a handshake may take, in milliseconds (0: 30 s; beyond
    /// `NC_MAX_DURATION_MS`: no limit).
    pub handshake_timeout_ms: u64,
}

/// Options of `nc_tls_client_config_new`. Initialise it with
/// `NC_TLS_CLIENT_OPTS_INIT` (the system's trust store, every other field 0,
/// the default), then set what you need. The struct may gain fields at its
/// end in later versions; `size` tells the library which version the
/// program was built with.
#[repr(C)]
pub struct nc_tls_client_opts {
    /// `sizeof(struct nc_tls_client_opts)` as the program sees it (set by
    /// `NC_TLS_CLIENT_OPTS_INIT`); checked as `nc_connect_opts.size`.
    pub size: usize,
    /// 1: trust the system's store (loaded once per process; `SSL_CERT_FILE`
    /// and `SSL_CERT_DIR` are honoured), as `NC_TLS_CLIENT_OPTS_INIT` sets
    /// it; 0: trust `ca` alone. At least one of the two is needed.
    pub system_roots: c_int,
    /// A CA bundle to trust (e.g. a private CA).
    pub ca: nc_tls_pem,
    /// A certificate chain for mutual TLS, leaf first (with `key`, or none).
    pub cert: nc_tls_pem,
    /// The private key of `cert`'s leaf.
    pub key: nc_tls_pem,
    /// ALPN protocol names (NUL-terminated) to offer, in order of
    /// preference. NULL/0: no ALPN. At most 64 names of 1 to 255 bytes.
    pub alpn: *const *const c_char,
    /// Number of names at `alpn`.
    pub alpn_count: usize,
    /// The oldest version accepted: `NC_TLS1_2` or `NC_TLS1_3` (0: TLS 1.2).
    pub min_version: c_int,
    /// How long a handshake may take, in milliseconds, counted from the
    /// connection (0: 30 s; beyond `NC_MAX_DURATION_MS`: no limit).
    pub handshake_timeout_ms: u64,
    /// How much of the server's certificate is checked: an
    /// `nc_tls_verify_server` (0: `NC_TLS_VERIFY_FULL`, the default).
    pub verify_server: c_int,
}

/// What a connection's handshake negotiated, copied by `nc_tls_info`.
/// Initialise it with `NC_TLS_SESSION_INFO_INIT`; the struct may gain fields at its
/// end in later versions (`size` says which the program has; the library
/// writes only those).
#[repr(C)]
pub struct nc_tls_session_info {
    /// `sizeof(struct nc_tls_session_info)` as the program sees it (set by
    /// `NC_TLS_SESSION_INFO_INIT`); at least the size in this header, at most 4096.
    pub size: usize,
    /// The protocol version: `NC_TLS1_2` or `NC_TLS1_3`.
    pub version: c_int,
    /// The version as OpenSSL, Python and Node print it, e.g. `"TLSv1.3"`.
    pub protocol: [c_char; 16],
    /// The cipher suite's name, e.g. `"TLS13_AES_128_GCM_SHA256"`.
    pub cipher: [c_char; 64],
    /// The ALPN protocol agreed on (`alpn_len` bytes, then a NUL); empty
    /// when none was.
    pub alpn: [c_char; 256],
    /// Bytes at `alpn` (0: no ALPN protocol agreed on).
    pub alpn_len: usize,
    /// 1 if the session was resumed (no full handshake), else 0.
    pub resumed: c_int,
    /// 1 if the peer presented a certificate that was verified (a client's
    /// view of its server always; a server's, whether its client sent
    /// one), else 0.
    pub peer_verified: c_int,
}

/// `EOPNOTSUPP` in a build without TLS: every TLS function starts here.
fn supported() -> Result<(), Error> {
    if tls_supported() {
        Ok(())
    } else {
        Err(Error::EOPNOTSUPP)
    }
}

fn millis_or(ms: u64, default: Duration) -> Duration {
    if ms == 0 {
        default
    } else {
        Duration::from_millis(ms)
    }
}

/// 0 is the default version, anything else one of the core's numbers.
fn version_or(raw: c_int, default: TlsVersion) -> Result<TlsVersion, Error> {
    if raw == 0 {
        Ok(default)
    } else {
        TlsVersion::parse_raw(raw)
    }
}

/// A PEM source: a file, memory, or none (both NULL); `refused` when both
/// are set or `data` is NULL with a length.
///
/// # Safety
/// `pem.file` is NULL or a NUL-terminated string, `pem.data` NULL or valid
/// for `pem.len` bytes, for `'a`.
unsafe fn pem_arg<'a>(pem: &'a nc_tls_pem, refused: Error) -> Result<Option<Pem<'a>>, Error> {
    match (pem.file.is_null(), pem.data.is_null()) {
        (true, true) if pem.len == 0 => Ok(None),
        (false, true) if pem.len == 0 => {
            // SAFETY: non-null and NUL-terminated per the contract.
            let name = unsafe { CStr::from_ptr(pem.file) };
            Ok(Some(Pem::File(Path::new(OsStr::from_bytes(name.to_bytes())))))
        }
        // SAFETY: `len` readable bytes per the contract.
        (true, false) => Ok(Some(Pem::Memory(unsafe { slice_arg(pem.data.cast::<u8>(), pem.len) }.ok_or(refused)?))),
        _ => Err(refused),
    }
}

/// The ALPN names of an options struct, as bytes.
///
/// # Safety
/// `names` is NULL or points to `count` pointers, each NULL or a
/// NUL-terminated string, for `'a`.
unsafe fn alpn_arg<'a>(names: *const *const c_char, count: usize) -> Result<Vec<&'a [u8]>, Error> {
    // Checked before the array is read: `count` bounds the reading.
    if count > MAX_ALPN_PROTOCOLS {
        const _: () = assert!(MAX_ALPN_PROTOCOLS == 64, "the detail below says so");
        return Err(invalid!("opts.alpn_count", "0 to 64"));
    }
    try_slice!(names, count, "opts.alpn")
        .iter()
        .map(|&name| match name.is_null() {
            true => Err(invalid!("opts.alpn", A_STRING)),
            // SAFETY: a NUL-terminated string per the contract.
            false => Ok(unsafe { CStr::from_ptr(name) }.to_bytes()),
        })
        .collect()
}

/// Builds a server's TLS config from `opts` (see `nc_tls_server_opts`;
/// required: the certificate chain and key) and stores it in `*config`.
/// Returns 0; `NC_EINVAL` for bad options, with `nc_last_error_detail`
/// naming the field and the reason (e.g. `"key: expected the private key of
/// the certificate (this key does not match it)"`); an unreadable file's OS
/// error (e.g. `-ENOENT`, which `nc_errname` names, or `NC_EACCES`);
/// `NC_EOPNOTSUPP` in a build without TLS. Writes `*config` only on
/// success. `opts`, its strings and PEM data are only read during the call.
/// The caller owns the config (free it with `nc_tls_server_config_free`) and
/// may use it on any loop and thread, also at once. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_tls_server_config_new(
    opts: *const nc_tls_server_opts,
    config: *mut *mut nc_tls_server_config,
) -> c_int {
    boundary! {
        supported()?;
        let out = try_mut!(config);
        let bad_size = invalid!("opts.size", "sizeof(struct nc_tls_server_opts), as NC_TLS_SERVER_OPTS_INIT sets it");
        // SAFETY: NULL or valid for its size, per the contract.
        let opts = unsafe { sized_arg(opts, bad_size) }?.ok_or(invalid!("opts", NOT_NULL))?;
        const PEM: &str = "a PEM file name or PEM data and its length, not both";
        // SAFETY (the four blocks below): the pointers inside `opts` are valid per the contract.
        let cert = unsafe { pem_arg(&opts.cert, invalid!("opts.cert", PEM)) }?;
        let key = unsafe { pem_arg(&opts.key, invalid!("opts.key", PEM)) }?;
        let client_ca = unsafe { pem_arg(&opts.client_ca, invalid!("opts.client_ca", PEM)) }?;
        let alpn = unsafe { alpn_arg(opts.alpn, opts.alpn_count) }?;
        let (Some(cert), Some(key)) = (cert, key) else {
            return Err(invalid!("opts.cert", "a certificate chain and its key (opts.cert and opts.key)"));
        };
        let defaults = ServerOptions::new(cert, key);
        let options = ServerOptions {
            alpn: &alpn,
            min_version: version_or(opts.min_version, defaults.min_version)?,
            client_auth: ClientAuth::parse_raw(opts.client_auth)?,
            client_ca,
            handshake_timeout: millis_or(opts.handshake_timeout_ms, defaults.handshake_timeout),
            ..defaults
        };
        let config = nc_tls_server_config { inner: ServerConfig::new(&options)? };
        *out = Box::into_raw(Box::new(config));
        Ok(())
    }
}

/// Builds a client's TLS config from `opts` (see `nc_tls_client_opts`; NULL:
/// the defaults, i.e. the system's trust store) and stores it in
/// `*config`. Returns 0; `NC_EINVAL` for bad options (detail as for
/// `nc_tls_server_config_new`; also when the system's store is asked for
/// and none loads); an unreadable file's OS error; `NC_EOPNOTSUPP` in a
/// build without TLS. Writes `*config` only on success. `opts`, its strings
/// and PEM data are only read during the call. The caller owns the config
/// (free it with `nc_tls_client_config_free`) and may use it on any loop and
/// thread, also at once. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_tls_client_config_new(
    opts: *const nc_tls_client_opts,
    config: *mut *mut nc_tls_client_config,
) -> c_int {
    boundary! {
        supported()?;
        let out = try_mut!(config);
        let bad_size = invalid!("opts.size", "sizeof(struct nc_tls_client_opts), as NC_TLS_CLIENT_OPTS_INIT sets it");
        let defaults = ClientOptions::default();
        // SAFETY: NULL or valid for its size, per the contract.
        let config = match unsafe { sized_arg(opts, bad_size) }? {
            None => ClientConfig::new(&defaults)?,
            Some(opts) => {
                const PEM: &str = "a PEM file name or PEM data and its length, not both";
                // SAFETY (the four blocks below): the pointers inside `opts` are valid per the contract.
                let ca = unsafe { pem_arg(&opts.ca, invalid!("opts.ca", PEM)) }?;
                let cert_chain = unsafe { pem_arg(&opts.cert, invalid!("opts.cert", PEM)) }?;
                let key = unsafe { pem_arg(&opts.key, invalid!("opts.key", PEM)) }?;
                let alpn = unsafe { alpn_arg(opts.alpn, opts.alpn_count) }?;
                let system = match opts.system_roots {
                    0 => false,
                    1 => true,
                    _ => return Err(invalid!("opts.system_roots", "0 or 1")),
                };
                ClientConfig::new(&ClientOptions {
                    roots: Roots { system, ca },
                    cert_chain,
                    key,
                    alpn: &alpn,
                    min_version: version_or(opts.min_version, defaults.min_version)?,
                    handshake_timeout: millis_or(opts.handshake_timeout_ms, defaults.handshake_timeout),
                    verify_server: VerifyServer::parse_raw(opts.verify_server)?,
                })?
            }
        };
        *out = Box::into_raw(Box::new(nc_tls_client_config { inner: config }));
        Ok(())
    }
}

/// Frees a config made by one of the `_new` functions (NULL: nothing).
///
/// # Safety
/// `config` is NULL or a config from the matching `_new`, freed once.
unsafe fn free_config<T>(config: *mut T) {
    if !config.is_null() {
        // SAFETY: a config from Box::into_raw, freed once, per the contract.
        drop(unsafe { Box::from_raw(config) });
    }
}

/// Frees a server config. NULL is ignored. Listeners and connections that
/// use it keep working (they hold their own reference). Any thread; the
/// pointer is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn nc_tls_server_config_free(config: *mut nc_tls_server_config) {
    boundary! {
        // SAFETY: NULL or a config from nc_tls_server_config_new, freed once, per the contract.
        unsafe { free_config(config) };
        Ok(())
    }
}

/// Frees a client config. NULL is ignored. Connections that use it keep
/// working (they hold their own reference). Any thread; the pointer is
/// invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn nc_tls_client_config_free(config: *mut nc_tls_client_config) {
    boundary! {
        // SAFETY: NULL or a config from nc_tls_client_config_new, freed once, per the contract.
        unsafe { free_config(config) };
        Ok(())
    }
}

/// Sets the TLS config of a listener's later accepts (NULL: plaintext
/// again): each connection it accepts from then on reports
/// `NC_EV_ACCEPTED`, then `NC_EV_TLS_READY` or `NC_EV_TLS_FAILED` (then
/// `NC_EV_CLOSED`); its data is plaintext. Connections accepted before keep
/// theirs, so a new config rotates the certificate for new clients only.
/// Returns 0, `NC_EINVAL`, `NC_EBADHANDLE`, `NC_ECLOSED`, `NC_EWRONGKIND`
/// (not a listener), `NC_EOPNOTSUPP` (no TLS in this build). The listener
/// keeps its own reference to `config`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_listener_set_tls(
    r#loop: *mut nc_loop,
    listener: nc_handle,
    config: *const nc_tls_server_config,
) -> c_int {
    boundary! {
        supported()?;
        let lp = try_loop!(r#loop);
        // SAFETY: NULL or a live config, per the contract.
        let config = unsafe { config.as_ref() }.map(|c| c.inner.clone());
        lp.set_listener_tls(handle_arg(listener), config)
    }
}

/// Starts TLS as a client on a connection, verifying the server's
/// certificate against `server_name` (a DNS name, also sent as SNI, or an
/// IP literal): right after `nc_tcp_connect` / `nc_tcp_connect_ex` (the
/// handshake starts once connected; the connect timeout also covers it),
/// or on a live connection (STARTTLS). `NC_EV_TLS_READY` or
/// `NC_EV_TLS_FAILED` follows; data sent meanwhile waits for the handshake,
/// and data received is plaintext. On a live connection, `NC_EV_DATA`
/// events of it later in the batch being handled hold plaintext the peer
/// sent after the upgrade point (an injection): `nc_run` does not deliver
/// them and fails the connection (`NC_EV_TLS_FAILED`, then
/// `NC_EV_CLOSED`, with `NC_ETLSPROTOCOL`); after `nc_poll`, the caller
/// must skip them in its array and close the connection itself. Returns 0, `NC_EINVAL` (NULL, a bad
/// name, a connection that already speaks TLS, or one that keeps received
/// bytes not yet delivered: plaintext after the upgrade point),
/// `NC_EPIPE` (after `nc_shutdown`), `NC_EBADHANDLE`, `NC_ECLOSED`,
/// `NC_EWRONGKIND`, `NC_EOPNOTSUPP`. `server_name` is only read during the
/// call; the connection keeps its own reference to `config`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_start_tls_client(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    config: *const nc_tls_client_config,
    server_name: *const c_char,
) -> c_int {
    boundary! {
        supported()?;
        let (lp, config, name) = (try_loop!(r#loop), try_ref!(config), try_str!(server_name));
        lp.start_tls_client(handle_arg(handle), &config.inner, name)
    }
}

/// Starts TLS as a server on a live connection (STARTTLS: e.g. after
/// sending "220 Ready to start TLS", which goes out first, as plaintext).
/// Returns as `nc_start_tls_client`. The connection keeps its own reference
/// to `config`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_start_tls_server(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    config: *const nc_tls_server_config,
) -> c_int {
    boundary! {
        supported()?;
        let (lp, config) = (try_loop!(r#loop), try_ref!(config));
        lp.start_tls_server(handle_arg(handle), &config.inner)
    }
}

/// Copies `text` into `dst` NUL-terminated, cut to fit at a UTF-8
/// character boundary. Returns the bytes copied (without the NUL).
fn copy_text(dst: &mut [c_char], text: &[u8]) -> usize {
    let Some(room) = dst.len().checked_sub(1) else { return 0 };
    let mut n = text.len().min(room);
    while n > 0 && n < text.len() && text[n] & 0xc0 == 0x80 {
        n -= 1; // `text[n]` continues a character: cut before it
    }
    for (d, &b) in dst.iter_mut().zip(&text[..n]) {
        *d = b as c_char;
    }
    dst[n] = 0;
    n
}

/// Stores what a connection's TLS handshake negotiated in `*info` (its
/// `size` set by `NC_TLS_SESSION_INFO_INIT`). Returns 1 when it did, 0 when there
/// is nothing to say yet (the handshake is not over, or the connection
/// does not speak TLS; `*info` is left as it was), or `NC_EINVAL` (NULL,
/// bad `info->size`), `NC_EBADHANDLE`, `NC_ECLOSED`, `NC_EWRONGKIND`,
/// `NC_EOPNOTSUPP`. Every string is copied into the struct: nothing in it
/// points into the library. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_tls_info(r#loop: *mut nc_loop, handle: nc_handle, info: *mut nc_tls_session_info) -> c_int {
    boundary! {
        supported()?;
        let lp = try_loop!(r#loop);
        if info.is_null() {
            return Err(invalid!("info", NOT_NULL));
        }
        // SAFETY: non-null and valid for its size, per the contract.
        unsafe { struct_size(info, invalid!("info.size", "sizeof(struct nc_tls_session_info), as NC_TLS_SESSION_INFO_INIT sets it")) }?;
        let out = try_mut!(info);
        let Some(got) = lp.tls_info(handle_arg(handle))? else { return Ok(0) };
        out.version = got.version as c_int;
        copy_text(&mut out.protocol, got.version.protocol().as_bytes());
        copy_text(&mut out.cipher, got.cipher.as_bytes());
        out.alpn_len = copy_text(&mut out.alpn, got.alpn.as_deref().unwrap_or_default());
        out.resumed = got.resumed.into();
        out.peer_verified = got.peer_verified.into();
        Ok(1)
    }
}

/// Copies certificate `index` (0: the leaf) of the chain the peer sent,
/// in DER, into `buf` (`cap` bytes) and its length into `*len`. Returns
/// the number of certificates in the chain; 0 when there are none to read
/// (the peer sent none, the handshake is not over, or no TLS; nothing is
/// written); `NC_ENOBUFS` when `cap` is too small (`*len` is then set to
/// the length needed, and nothing else is written: `buf` may be NULL with
/// `cap` 0 to ask for it); `NC_EINVAL` (NULL `len`, `index` past the
/// chain), `NC_EBADHANDLE`, `NC_ECLOSED`, `NC_EWRONGKIND`,
/// `NC_EOPNOTSUPP`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_tls_peer_certificate(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    index: usize,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
) -> c_int {
    boundary! {
        supported()?;
        let (lp, len) = (try_loop!(r#loop), try_mut!(len));
        let chain = lp.tls_peer_certificates(handle_arg(handle))?;
        if chain.is_empty() {
            return Ok(0);
        }
        let der = chain.get(index).ok_or(invalid!("index", "below the number of certificates the peer sent"))?;
        if der.len() > cap {
            *len = der.len();
            return Err(Error::ENOBUFS);
        }
        // SAFETY: `buf` is NULL or valid for `cap` bytes, per the contract.
        let out = unsafe { slice_mut_arg(buf.cast::<u8>(), cap) }.ok_or(invalid!("buf", NOT_NULL))?;
        out[..der.len()].copy_from_slice(der);
        *len = der.len();
        Ok(chain.len().min(c_int::MAX as usize) as c_int)
    }
}

/// Why a connection's TLS failed: stores the error (an `NC_ETLS*` code) in
/// `*error`, the alert number the peer sent in `*alert` (-1: none; e.g. 48
/// unknown_ca, 116 certificate_required, 120 no_application_protocol),
/// and the TLS library's description in `reason` (`reason_size` bytes,
/// NUL-terminated, cut to fit; `reason` may be NULL with size 0). Readable
/// from the `NC_EV_TLS_FAILED` or `NC_EV_CLOSED` event until the poll after
/// the one that delivered `NC_EV_CLOSED` (a failure after the handshake,
/// e.g. a truncation or a forged record, is also recorded). Returns 1 when
/// it stored a failure, 0 when there was none (nothing written), or
/// `NC_EINVAL` (NULL `error` or `alert`), `NC_EBADHANDLE`,
/// `NC_EWRONGKIND`, `NC_EOPNOTSUPP`. Any thread.
#[no_mangle]
pub unsafe extern "C" fn nc_tls_failure(
    r#loop: *mut nc_loop,
    handle: nc_handle,
    error: *mut c_int,
    alert: *mut c_int,
    reason: *mut c_char,
    reason_size: usize,
) -> c_int {
    boundary! {
        supported()?;
        let (lp, error, alert) = (try_loop!(r#loop), try_mut!(error), try_mut!(alert));
        // SAFETY: `reason` is NULL or valid for `reason_size` bytes, per the contract.
        let reason = match (reason_size, unsafe { slice_mut_arg(reason, reason_size) }) {
            (0, _) => None,
            (_, Some(reason)) => Some(reason),
            (_, None) => return Err(invalid!("reason", "a buffer of reason_size bytes (NULL only with 0)")),
        };
        let Some(failure) = lp.tls_failure(handle_arg(handle))? else { return Ok(0) };
        *error = failure.error.code();
        *alert = failure.alert.map_or(-1, c_int::from);
        if let Some(reason) = reason {
            copy_text(reason, failure.reason.as_bytes());
        }
        Ok(1)
    }
}

/// 1 if this library speaks TLS (built with its `tls` feature), else 0
/// (then every `nc_tls_*` / TLS function returns `NC_EOPNOTSUPP`). Any
/// thread; needs no loop.
#[no_mangle]
pub extern "C" fn nc_tls_supported() -> c_int {
    boundary! { Ok(c_int::from(tls_supported())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_to_fit_at_a_character_boundary_and_terminated() {
        let mut buf = [1 as c_char; 6];
        assert_eq!(copy_text(&mut buf, b"abc"), 3);
        assert_eq!(buf[..4], [b'a' as c_char, b'b' as c_char, b'c' as c_char, 0]);
        // "ab" + "é" (2 bytes) + "é": 5 bytes of room, the second é does not fit whole.
        assert_eq!(copy_text(&mut buf, "abéé".as_bytes()), 4);
        assert_eq!(buf[4], 0);
        assert_eq!(copy_text(&mut [], b"abc"), 0);
        let mut one = [1 as c_char; 1];
        assert_eq!((copy_text(&mut one, b"abc"), one[0]), (0, 0));
    }

    #[test]
    fn the_client_options_default_trusts_the_system_store_as_the_init_macro_says() {
        assert!(ClientOptions::default().roots.system);
    }
}
