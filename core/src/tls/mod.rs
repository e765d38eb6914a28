//! TLS: the vocabulary (options, versions, client authentication, session
//! info, the failure record), immutable configs that connections share, and
//! a sans-I/O session per connection (docs/design.md, "TLS").
//!
//! Every rustls call lives in this module (`config` and `session`): rustls
//! 0.24 reshapes its API, and the rest of the core sees only the types
//! defined here. In a build without the `tls` feature the types exist and
//! every constructor fails with `EOPNOTSUPP`, so the C ABI and the bindings
//! compile the same either way.

use std::path::Path;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::names::named_enum;

#[cfg(feature = "tls")]
mod config;
#[cfg(feature = "tls")]
mod session;
#[cfg(feature = "tls")]
pub use session::Session;
#[cfg(not(feature = "tls"))]
mod unsupported;
#[cfg(not(feature = "tls"))]
pub use unsupported::Session;

#[cfg(all(feature = "tls", not(any(feature = "ring", feature = "aws-lc-rs"))))]
compile_error!("the `tls` feature needs a crypto provider: enable `ring` (the default) or `aws-lc-rs`");

/// How long a handshake may take unless configured otherwise (the connect
/// timeout, when shorter, still bounds an outgoing connection).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Most ALPN protocols in one list (a ClientHello has room for many more;
/// this only bounds what a config copies).
pub const MAX_ALPN_PROTOCOLS: usize = 64;

/// Whether this build speaks TLS (the `tls` cargo feature).
pub const fn supported() -> bool {
    cfg!(feature = "tls")
}

/// Checks a client's server name as [`crate::Loop::start_tls_client`] will
/// (a DNS name or an IP address, an IPv6 one possibly in brackets), so that
/// a binding can refuse a bad one before it opens the connection: `EINVAL`
/// (`server_name`); `EOPNOTSUPP` in a build without TLS.
#[cfg_attr(not(feature = "tls"), allow(unused_variables))]
pub fn check_server_name(server_name: &str) -> Result<()> {
    #[cfg(feature = "tls")]
    return session::parse_server_name(server_name).map(drop);
    #[cfg(not(feature = "tls"))]
    return Err(Error::EOPNOTSUPP);
}

/// Where PEM text comes from: a file (read when the config is built) or
/// memory.
#[derive(Copy, Clone, Debug)]
pub enum Pem<'a> {
    /// A file holding PEM text.
    File(&'a Path),
    /// PEM text in memory.
    Memory(&'a [u8]),
}

named_enum! {
    argument: "min_version";
    /// A TLS protocol version. The numeric values are part of the C ABI.
    pub enum TlsVersion {
        /// TLS 1.2.
        Tls12 = 12, "tls1_2";
        /// TLS 1.3.
        Tls13 = 13, "tls1_3";
    }
}

impl TlsVersion {
    /// The name OpenSSL, Python's `ssl` and Node's `tls` print for it
    /// (`"TLSv1.3"`), for connection info.
    pub const fn protocol(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

named_enum! {
    argument: "client_auth";
    /// Whether a server asks its clients for a certificate. The numeric
    /// values are part of the C ABI.
    pub enum ClientAuth {
        /// No client certificate is asked for.
        None = 0, "none";
        /// A client certificate is asked for and verified if sent; a client
        /// without one is accepted (its session says `peer_verified: false`).
        Optional = 1, "optional";
        /// A client without a valid certificate is refused.
        Required = 2, "required";
    }
}

named_enum! {
    argument: "verify_server";
    /// How much of the server's certificate a client checks. The numeric
    /// values are part of the C ABI. The handshake's signatures are always
    /// checked (the server holds the key of the certificate it sent).
    pub enum VerifyServer {
        /// The chain up to a trusted root, the dates and the name (the
        /// default; anything less is for tests and private networks).
        Full = 0, "full";
        /// The chain and the dates, not the name (Python's
        /// `check_hostname=False`).
        SkipName = 1, "skip_name";
        /// Nothing: any certificate is accepted, and the session says
        /// `peer_verified: false` (Node's `rejectUnauthorized: false`,
        /// Python's `CERT_NONE`). No trust roots are needed.
        Off = 2, "off";
    }
}

/// Which authorities a client trusts: the system's store, a CA bundle, or
/// both (at least one).
#[derive(Copy, Clone, Debug)]
pub struct Roots<'a> {
    /// The system's trust store (loaded once per process; `SSL_CERT_FILE`
    /// and `SSL_CERT_DIR` are honoured).
    pub system: bool,
    /// A PEM bundle of CA certificates (e.g. a test CA).
    pub ca: Option<Pem<'a>>,
}

impl Default for Roots<'_> {
    /// The system store alone.
    fn default() -> Self {
        Roots { system: true, ca: None }
    }
}

/// What a server config is built from. [`ServerOptions::new`] gives the
/// defaults: TLS 1.2 and up, no ALPN, no client authentication, 30 s
/// handshake timeout.
#[derive(Copy, Clone, Debug)]
pub struct ServerOptions<'a> {
    /// The certificate chain, leaf first.
    pub cert_chain: Pem<'a>,
    /// The leaf certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Pem<'a>,
    /// ALPN protocols in order of preference; when set, a client offering
    /// none of them is refused (alert 120). Empty: no ALPN.
    pub alpn: &'a [&'a [u8]],
    /// The oldest version accepted.
    pub min_version: TlsVersion,
    /// Whether clients are asked for a certificate.
    pub client_auth: ClientAuth,
    /// The authorities client certificates are verified with (needed unless
    /// `client_auth` is `None`).
    pub client_ca: Option<Pem<'a>>,
    /// How long a handshake may take ([`crate::MAX_DURATION`] and beyond:
    /// no limit).
    pub handshake_timeout: Duration,
}

impl<'a> ServerOptions<'a> {
    /// The defaults, with this certificate chain and key.
    pub fn new(cert_chain: Pem<'a>, key: Pem<'a>) -> Self {
        ServerOptions {
            cert_chain,
            key,
            alpn: &[],
            min_version: TlsVersion::Tls12,
            client_auth: ClientAuth::None,
            client_ca: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

/// What a client config is built from. The default: the system's trust
/// store, no client certificate, TLS 1.2 and up, no ALPN, 30 s handshake
/// timeout.
#[derive(Copy, Clone, Debug)]
pub struct ClientOptions<'a> {
    /// The authorities the server's certificate is verified with.
    pub roots: Roots<'a>,
    /// A certificate chain for mutual TLS (with `key`), leaf first.
    pub cert_chain: Option<Pem<'a>>,
    /// The private key of `cert_chain`'s leaf.
    pub key: Option<Pem<'a>>,
    /// ALPN protocols to offer, in order of preference. Empty: no ALPN.
    pub alpn: &'a [&'a [u8]],
    /// The oldest version accepted.
    pub min_version: TlsVersion,
    /// How long a handshake may take ([`crate::MAX_DURATION`] and beyond:
    /// no limit).
    pub handshake_timeout: Duration,
    /// How much of the server's certificate is checked.
    pub verify_server: VerifyServer,
}

impl Default for ClientOptions<'_> {
    fn default() -> Self {
        ClientOptions {
            roots: Roots::default(),
            cert_chain: None,
            key: None,
            alpn: &[],
            min_version: TlsVersion::Tls12,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            verify_server: VerifyServer::Full,
        }
    }
}

/// A server's TLS config: immutable, cheap to clone (shared), usable from
/// any loop and thread. Changing certificates means building a new one.
#[derive(Clone)]
pub struct ServerConfig {
    #[cfg(feature = "tls")]
    inner: Arc<rustls::ServerConfig>,
    handshake_timeout: Duration,
}

/// A client's TLS config: immutable, cheap to clone (shared), usable from
/// any loop and thread. Its resumption cache is shared by the connections
/// made with it.
#[derive(Clone)]
pub struct ClientConfig {
    #[cfg(feature = "tls")]
    inner: Arc<rustls::ClientConfig>,
    handshake_timeout: Duration,
    verify_server: VerifyServer,
}

impl ServerConfig {
    /// Builds a server config. Bad input is `EINVAL` whose detail names the
    /// argument and the reason (e.g. `key`: the certificate's private key,
    /// "this one does not match it"); an unreadable file is its OS error;
    /// `EOPNOTSUPP` in a build without TLS.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    pub fn new(options: &ServerOptions<'_>) -> Result<ServerConfig> {
        #[cfg(feature = "tls")]
        return config::server(options)
            .map(|inner| ServerConfig { inner, handshake_timeout: options.handshake_timeout });
        #[cfg(not(feature = "tls"))]
        return Err(Error::EOPNOTSUPP);
    }

    /// How long a handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }
}

impl ClientConfig {
    /// Builds a client config. Bad input is `EINVAL` whose detail names the
    /// argument and the reason; an unreadable file is its OS error; no
    /// system trust store when one is asked for is `EINVAL` (`ca`);
    /// `EOPNOTSUPP` in a build without TLS.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    pub fn new(options: &ClientOptions<'_>) -> Result<ClientConfig> {
        #[cfg(feature = "tls")]
        return config::client(options).map(|inner| ClientConfig {
            inner,
            handshake_timeout: options.handshake_timeout,
            verify_server: options.verify_server,
        });
        #[cfg(not(feature = "tls"))]
        return Err(Error::EOPNOTSUPP);
    }

    /// How long a handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// How much of the server's certificate is checked.
    pub fn verify_server(&self) -> VerifyServer {
        self.verify_server
    }
}

/// What a session has to report to its connection's user, once each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsEvent {
    /// The handshake finished: [`Session::info`] says what was negotiated.
    Ready,
    /// The handshake failed: the error (an `ETLS*` code), with details in
    /// [`Session::failure`]. Nothing more is sent or delivered but the
    /// alert already queued.
    Failed(Error),
}

/// What a finished handshake negotiated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// The protocol version.
    pub version: TlsVersion,
    /// The cipher suite's IANA-style name, e.g. `"TLS13_AES_128_GCM_SHA256"`.
    pub cipher: &'static str,
    /// The ALPN protocol agreed on, if any.
    pub alpn: Option<Vec<u8>>,
    /// Whether the session was resumed (no full handshake).
    pub resumed: bool,
    /// Whether the peer presented a certificate that was verified (always
    /// for a client's view of its server; for a server, whether the client
    /// sent one).
    pub peer_verified: bool,
}

/// Why a session failed, beyond its one-word [`Error`]: the alert the peer
/// sent, and the TLS library's own words. Kept by the session (and by its
/// connection until the handle is released) for the event consumer to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The error reported (an `ETLS*` code, or `ECONNRESET`-style OS errors
    /// are not recorded here).
    pub error: Error,
    /// The alert number the peer sent (`ETLSALERT`), e.g. 42 for
    /// bad_certificate.
    pub alert: Option<u8>,
    /// A description for people, e.g. "invalid peer certificate: Expired".
    pub reason: String,
}

#[cfg(feature = "tls")]
impl ServerConfig {
    pub(crate) fn rustls(&self) -> &Arc<rustls::ServerConfig> {
        &self.inner
    }
}

#[cfg(feature = "tls")]
impl ClientConfig {
    pub(crate) fn rustls(&self) -> &Arc<rustls::ClientConfig> {
        &self.inner
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig").field("handshake_timeout", &self.handshake_timeout).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig").field("handshake_timeout", &self.handshake_timeout).finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::check_server_name;
    use crate::error::Error;

    #[test]
    fn check_server_name_takes_dns_names_and_ip_addresses_and_refuses_the_rest() {
        for good in ["localhost", "example.com", "127.0.0.1", "::1", "[::1]"] {
            assert_eq!(check_server_name(good), Ok(()), "{good}");
        }
        for bad in ["", "bad name", "[localhost", "a..b"] {
            let e = check_server_name(bad).unwrap_err();
            assert_eq!(e, Error::EINVAL, "{bad}");
            assert_eq!(e.detail().map(|d| d.argument), Some("server_name"), "{bad}");
        }
    }
}
