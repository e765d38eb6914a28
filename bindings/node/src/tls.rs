//! TLS for Node, the native half of `secure.js`: the core's server and client
//! configs as JavaScript objects, and the loop's TLS operations and queries
//! (docs/design.md, "TLS"). Like the rest of the crate it converts and
//! decides nothing: `secure.js` maps Node's option names onto [`TlsOptions`],
//! the core validates them and names what is wrong (an error code, its
//! detail kept for `errorDetail()`).

use napi::bindgen_prelude::*;
use napi_derive::napi;
use netcore_core::{
  ClientAuth, ClientConfig, ClientOptions, Pem, Roots, ServerConfig, ServerOptions, TlsVersion, VerifyServer,
  DEFAULT_HANDSHAKE_TIMEOUT,
};

use crate::{code_of, either, guarded, millis, NativeLoop};

/// What a config is built from, in the core's vocabulary (PEM text in
/// memory; `secure.js` joins Node's arrays of PEM blocks).
#[napi(object)]
pub struct TlsOptions {
  /// The certificate chain, leaf first (a server's, or a client's for mutual TLS).
  pub cert: Option<Buffer>,
  /// The private key of the chain's leaf.
  pub key: Option<Buffer>,
  /// CA certificates: a client's trust roots (none: the system's store),
  /// or the authorities a server verifies client certificates with.
  pub ca: Option<Buffer>,
  /// ALPN protocols in order of preference.
  pub alpn: Vec<Buffer>,
  /// The oldest version: a [`TlsVersion`] name or its protocol name (`TLSv1.2`); none: the core's default.
  pub min_version: Option<String>,
  /// A [`ClientAuth`] name (servers only); none: the core's default.
  pub client_auth: Option<String>,
  /// Milliseconds; none: [`DEFAULT_HANDSHAKE_TIMEOUT`].
  pub handshake_timeout: Option<f64>,
  /// A [`VerifyServer`] name (clients only); none: the core's default.
  pub verify_server: Option<String>,
}

/// A version by the core's name (`tls1_3`) or the protocol name Node uses (`TLSv1.3`).
fn version(name: &str) -> netcore_core::Result<TlsVersion> {
  TlsVersion::ALL.iter().copied().find(|v| v.protocol() == name).map_or_else(|| TlsVersion::parse(name), Ok)
}

/// The parts every config takes: ALPN slices, minimum version, handshake timeout.
type CommonParts<'a> = (Vec<&'a [u8]>, Option<TlsVersion>, std::time::Duration);

/// Reads [`CommonParts`] from the options.
fn common(options: &TlsOptions) -> netcore_core::Result<CommonParts<'_>> {
  let min_version = options.min_version.as_deref().map(version).transpose()?;
  let timeout = options.handshake_timeout.map_or(DEFAULT_HANDSHAKE_TIMEOUT, millis);
  Ok((options.alpn.iter().map(|p| &p[..]).collect(), min_version, timeout))
}

/// A server's TLS config (the core's [`ServerConfig`]), shared by every
/// listener and connection it is given to.
#[napi]
pub struct ServerTls {
  config: ServerConfig,
}

/// A client's TLS config (the core's [`ClientConfig`]), shared by every
/// connection it is given to (and their resumption cache).
#[napi]
pub struct ClientTls {
  config: ClientConfig,
}

fn pem(bytes: &Option<Buffer>) -> Option<Pem<'_>> {
  bytes.as_deref().map(Pem::Memory)
}

/// Builds a server config (`cert` and `key` needed): the config, or a
/// negative code (with the core's detail).
#[napi]
pub fn server_tls(options: TlsOptions) -> Either<ServerTls, i32> {
  either(
    guarded(|| {
      let (alpn, min_version, handshake_timeout) = common(&options)?;
      let empty = Pem::Memory(b"");
      let mut opts = ServerOptions::new(pem(&options.cert).unwrap_or(empty), pem(&options.key).unwrap_or(empty));
      opts.alpn = &alpn;
      opts.min_version = min_version.unwrap_or(opts.min_version);
      opts.handshake_timeout = handshake_timeout;
      opts.client_ca = pem(&options.ca);
      if let Some(auth) = options.client_auth.as_deref() {
        opts.client_auth = ClientAuth::parse(auth)?;
      }
      ServerConfig::new(&opts)
    }),
    |config| ServerTls { config },
  )
}

/// Builds a client config (trust roots: `ca`, or the system's store
/// without it): the config, or a negative code (with the core's detail).
#[napi]
pub fn client_tls(options: TlsOptions) -> Either<ClientTls, i32> {
  either(
    guarded(|| {
      let (alpn, min_version, handshake_timeout) = common(&options)?;
      let defaults = ClientOptions::default();
      let opts = ClientOptions {
        roots: Roots { system: options.ca.is_none(), ca: pem(&options.ca) },
        cert_chain: pem(&options.cert),
        key: pem(&options.key),
        alpn: &alpn,
        min_version: min_version.unwrap_or(defaults.min_version),
        handshake_timeout,
        verify_server: options
          .verify_server
          .as_deref()
          .map(VerifyServer::parse)
          .transpose()?
          .unwrap_or(defaults.verify_server),
      };
      ClientConfig::new(&opts)
    }),
    |config| ClientTls { config },
  )
}

/// 0 if the core takes `servername` as a client's server name, or a
/// negative code (with its detail): checked before a connection is made.
#[napi]
pub fn check_server_name(servername: String) -> i32 {
  code_of(guarded(|| netcore_core::check_server_name(&servername)))
}

/// What a finished handshake negotiated, in Node's words.
#[napi(object)]
pub struct TlsInfoJs {
  /// `TLSv1.2` or `TLSv1.3`.
  pub protocol: String,
  /// The cipher suite's IANA-style name.
  pub cipher: String,
  /// The ALPN protocol agreed on (as UTF-8, lossily), or `false` (Node's value for none).
  pub alpn_protocol: Either<String, bool>,
  pub resumed: bool,
  /// Whether the peer's certificate was verified (a server: whether the client sent one).
  pub authorized: bool,
}

/// Why a connection's TLS failed, from the core's failure record.
#[napi(object)]
pub struct TlsFailureJs {
  pub code: i32,
  /// The alert number the peer sent, if it sent one.
  pub alert: Option<u32>,
  /// The TLS library's description.
  pub reason: String,
}

#[napi]
impl NativeLoop {
  /// Sets (`null`: clears) the config of a listener's later accepts. 0 or a negative code.
  #[napi]
  pub fn set_listener_tls(&self, id: f64, tls: Option<&ServerTls>) -> i32 {
    let config = tls.map(|t| t.config.clone());
    code_of(self.d.on(id, |h| self.d.core.set_listener_tls(h, config)))
  }

  /// Starts TLS as a client (right after `connect`, or STARTTLS). 0 or a negative code.
  #[napi]
  pub fn start_tls_client(&self, id: f64, tls: &ClientTls, servername: String) -> i32 {
    code_of(self.d.on(id, |h| self.d.core.start_tls_client(h, &tls.config, &servername)))
  }

  /// Starts TLS as a server on a live connection (STARTTLS). 0 or a negative code.
  #[napi]
  pub fn start_tls_server(&self, id: f64, tls: &ServerTls) -> i32 {
    code_of(self.d.on(id, |h| self.d.core.start_tls_server(h, &tls.config)))
  }

  /// Whether this batch's `data` event of a connection upgraded while the
  /// batch is delivered is skipped: plaintext after the upgrade point,
  /// which the core refuses (`tls_failed`, then `closed`, `ETLSPROTOCOL`).
  #[napi]
  pub fn skips_upgraded_data(&self, id: f64) -> bool {
    self.d.on(id, |h| Ok(self.d.core.skips_upgraded_data(h))).unwrap_or(false)
  }

  /// What the handshake negotiated; `null` before it is over or without
  /// TLS; a negative code for a bad handle.
  #[napi]
  pub fn tls_info(&self, id: f64) -> Either<Option<TlsInfoJs>, i32> {
    either(self.d.on(id, |h| self.d.core.tls_info(h)), |info| {
      info.map(|i| TlsInfoJs {
        protocol: i.version.protocol().to_owned(),
        cipher: i.cipher.to_owned(),
        alpn_protocol: i.alpn.map_or(Either::B(false), |a| Either::A(String::from_utf8_lossy(&a).into_owned())),
        resumed: i.resumed,
        authorized: i.peer_verified,
      })
    })
  }

  /// The peer's certificate chain (DER, leaf first; copies), or a negative code.
  #[napi]
  pub fn tls_peer_certificates(&self, id: f64) -> Either<Vec<Buffer>, i32> {
    either(self.d.on(id, |h| self.d.core.tls_peer_certificates(h)), |chain| {
      chain.into_iter().map(Buffer::from).collect()
    })
  }

  /// The failure record of the connection's TLS, if it failed (readable
  /// while its `tls_failed` or `closed` event is delivered).
  #[napi]
  pub fn tls_failure(&self, id: f64) -> Option<TlsFailureJs> {
    let failure = self.d.on(id, |h| self.d.core.tls_failure(h)).ok().flatten()?;
    Some(TlsFailureJs { code: failure.error.code(), alert: failure.alert.map(u32::from), reason: failure.reason })
  }
}
