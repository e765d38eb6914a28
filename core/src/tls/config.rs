//! Building rustls configs from [`ServerOptions`] and [`ClientOptions`]:
//! PEM parsing, trust roots (the system store loaded once per process),
//! the crypto provider (passed explicitly, never installed as the process
//! default), and a clear `EINVAL` detail for every kind of bad input.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::{ClientAuth, ClientOptions, Pem, ServerOptions, TlsVersion, VerifyServer, MAX_ALPN_PROTOCOLS};
use crate::error::{invalid, Error, Result};

/// The crypto provider of this build: aws-lc-rs when its feature is on,
/// ring otherwise. Made once; every config gets it explicitly, so a process
/// that also links another rustls user (with another provider) still works.
pub(super) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            #[cfg(feature = "aws-lc-rs")]
            let provider = rustls::crypto::aws_lc_rs::default_provider();
            #[cfg(not(feature = "aws-lc-rs"))]
            let provider = rustls::crypto::ring::default_provider();
            Arc::new(provider)
        })
        .clone()
}

/// The versions from `min` up.
fn versions(min: TlsVersion) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static FROM_TLS12: [&rustls::SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
    match min {
        TlsVersion::Tls12 => &FROM_TLS12,
        TlsVersion::Tls13 => &FROM_TLS12[..1],
    }
}

/// The PEM text of a source (a file is read whole; its OS error is kept).
fn pem_text(source: Pem<'_>) -> Result<Cow<'_, [u8]>> {
    match source {
        Pem::File(path) => std::fs::read(path).map(Cow::Owned).map_err(Error::from),
        Pem::Memory(text) => Ok(Cow::Borrowed(text)),
    }
}

/// Every certificate of a PEM source, in order; `none` when there is none
/// or the PEM text is malformed.
fn certificates(source: Pem<'_>, none: Error) -> Result<Vec<CertificateDer<'static>>> {
    let text = pem_text(source)?;
    let certs = CertificateDer::pem_slice_iter(&text).collect::<std::result::Result<Vec<_>, _>>().map_err(|_| none)?;
    if certs.is_empty() {
        return Err(none);
    }
    Ok(certs)
}

/// The first private key of a PEM source.
fn private_key(source: Pem<'_>) -> Result<PrivateKeyDer<'static>> {
    let text = pem_text(source)?;
    PrivateKeyDer::from_pem_slice(&text)
        .map_err(|_| invalid!("key", "PEM text with a private key (PKCS#8, PKCS#1 or SEC1)"))
}

/// Why a certificate and key were refused together, as an `EINVAL` detail.
fn cert_and_key_error(error: rustls::Error) -> Error {
    match error {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            invalid!("key", "the private key of the certificate (this key does not match it)")
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            invalid!("cert", "a valid X.509 certificate chain, leaf first")
        }
        _ => invalid!("key", "an RSA, ECDSA (P-256, P-384) or Ed25519 private key"),
    }
}

/// The ALPN list, checked (1 to 255 bytes per name).
fn alpn(protocols: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
    if protocols.len() > MAX_ALPN_PROTOCOLS || protocols.iter().any(|p| p.is_empty() || p.len() > 255) {
        return Err(invalid!("alpn", "at most 64 protocol names of 1 to 255 bytes each"));
    }
    Ok(protocols.iter().map(|p| p.to_vec()).collect())
}

/// The system's trust store, loaded once per process: the certificates
/// that load are kept (one bad file does not lose the rest); `None` when
/// none did.
fn system_roots() -> Option<&'static RootCertStore> {
    static SYSTEM: OnceLock<Option<RootCertStore>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            (!store.is_empty()).then_some(store)
        })
        .as_ref()
}

/// A store of the CA certificates of a PEM bundle (those webpki can use;
/// `EINVAL` on `argument` when none).
fn ca_store(store: &mut RootCertStore, source: Pem<'_>, none: Error) -> Result<()> {
    let (added, _) = store.add_parsable_certificates(certificates(source, none)?);
    if added == 0 {
        return Err(none);
    }
    Ok(())
}

/// A rustls server config from `options`.
pub(super) fn server(options: &ServerOptions<'_>) -> Result<Arc<rustls::ServerConfig>> {
    let chain = certificates(options.cert_chain, invalid!("cert", "PEM text with at least one CERTIFICATE block"))?;
    let key = private_key(options.key)?;
    let alpn = alpn(options.alpn)?;
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(options.min_version))
        .map_err(|_| invalid!("min_version", "a version the crypto provider supports"))?;
    let builder = match (options.client_auth, options.client_ca) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(invalid!("client_ca", "a CA bundle to verify client certificates (client_auth is not none)"))
        }
        (auth, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            ca_store(&mut roots, ca, invalid!("client_ca", "PEM text with at least one usable CA certificate"))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Optional { verifier.allow_unauthenticated() } else { verifier };
            let verifier = verifier
                .build()
                .map_err(|_| invalid!("client_ca", "PEM text with at least one usable CA certificate"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(cert_and_key_error)?;
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}

/// The server-certificate check of a client that asked for less than
/// [`VerifyServer::Full`]: webpki's check of the chain, with a wrong name
/// forgiven (`SkipName`), or none at all (`Off`, `chain: None`). The
/// handshake's signatures are always verified: the server must hold the
/// key of the certificate it sent.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            verdict => verdict,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The trust roots a client asked for (none needed when it checks nothing).
fn client_roots(options: &ClientOptions<'_>) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    if options.roots.system {
        let system = system_roots().ok_or(invalid!(
            "ca",
            "a system trust store with certificates (none loaded: set SSL_CERT_FILE, or pass a CA bundle)"
        ))?;
        roots.roots.extend(system.roots.iter().cloned());
    }
    match options.roots.ca {
        Some(ca) => ca_store(&mut roots, ca, invalid!("ca", "PEM text with at least one usable CA certificate"))?,
        None if !options.roots.system => {
            return Err(invalid!("ca", "trust roots: the system store, a CA bundle, or both"));
        }
        None => {}
    }
    Ok(roots)
}

/// A rustls client config from `options`.
pub(super) fn client(options: &ClientOptions<'_>) -> Result<Arc<rustls::ClientConfig>> {
    let alpn = alpn(options.alpn)?;
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(options.min_version))
        .map_err(|_| invalid!("min_version", "a version the crypto provider supports"))?;
    let builder = match options.verify_server {
        VerifyServer::Full => builder.with_root_certificates(client_roots(options)?),
        VerifyServer::SkipName => {
            let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(client_roots(options)?), provider.clone())
                .build()
                .map_err(|_| invalid!("ca", "PEM text with at least one usable CA certificate"))?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(Lenient { chain: Some(chain), provider }))
        }
        VerifyServer::Off => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(Lenient { chain: None, provider }))
        }
    };
    let mut config = match (options.cert_chain, options.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(chain), Some(key)) => {
            let chain = certificates(chain, invalid!("cert", "PEM text with at least one CERTIFICATE block"))?;
            builder.with_client_auth_cert(chain, private_key(key)?).map_err(cert_and_key_error)?
        }
        _ => return Err(invalid!("key", "a client certificate and its key together (both or neither)")),
    };
    config.alpn_protocols = alpn;
    Ok(Arc::new(config))
}
