//! TLS for QUIC on both ends: the hub's server config (a configured
//! certificate, or a self-signed one for development) and the client's
//! (trust a given certificate, or, on loopback only, any certificate).
//! TLS 1.3 only, ring as the crypto provider, ALPN `tongguan/1`. And the
//! HTTPS config of the HTTP port ([`https_config`]): the same certificate
//! machinery, TLS 1.2 and 1.3 (browsers), ALPN `http/1.1`.

use crate::wire::ALPN;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why TLS could not be set up. Each variant names what failed and holds
/// why as its source (`{:#}` prints both).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or parsed.
    #[error("{path}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file holds no certificate.
    #[error("{path}: no certificate in the file")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// rustls, rcgen or quinn refused the configuration.
    #[error("TLS setup failed")]
    Setup(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Asked to trust any certificate for a hub that is not on loopback.
    #[error(
        "hub {0} is not on loopback: give the hub's certificate (--ca FILE) instead of trusting any"
    )]
    InsecureOffLoopback(SocketAddr),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn setup<E: Into<Box<dyn std::error::Error + Send + Sync>>>(e: E) -> TlsError {
    TlsError::Setup(e.into())
}

/// A file that could not be read or parsed.
fn file_err(path: &Path) -> impl FnOnce(rustls::pki_types::pem::Error) -> TlsError + '_ {
    move |source| TlsError::File {
        path: path.display().to_string(),
        source,
    }
}

/// A certificate file without a certificate.
fn no_certificate(path: &Path) -> TlsError {
    TlsError::NoCertificate {
        path: path.display().to_string(),
    }
}

/// A certificate chain and its key: the hub's, or a device's for mutual
/// TLS.
pub struct Identity {
    /// Certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// Whether it was generated at start (development).
    pub self_signed: bool,
    /// The chain as PEM, for clients to trust.
    pub pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.chain.len())
            .field("self_signed", &self.self_signed)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads a PEM certificate chain and key.
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let pem = std::fs::read_to_string(cert)
            .map_err(|e| file_err(cert)(rustls::pki_types::pem::Error::Io(e)))?;
        let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(file_err(cert))?;
        if chain.is_empty() {
            return Err(no_certificate(cert));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(file_err(key))?;
        Ok(Identity {
            chain,
            key,
            self_signed: false,
            pem,
        })
    }

    /// A self-signed certificate for localhost, 127.0.0.1 and ::1.
    pub fn self_signed() -> Result<Identity, TlsError> {
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let ck = rcgen::generate_simple_self_signed(names).map_err(setup)?;
        let key = PrivateKeyDer::try_from(ck.signing_key.serialize_der()).map_err(setup)?;
        Ok(Identity {
            chain: vec![ck.cert.der().clone()],
            key,
            self_signed: true,
            pem: ck.cert.pem(),
        })
    }
}

/// Receive window of a stream: room for large batches in flight.
pub const STREAM_WINDOW: u32 = 8 << 20;

/// Transport settings shared by both ends: room for large batches in
/// flight, one bidirectional stream per connection.
fn transport(
    idle: Duration,
    server: bool,
    stream_window: u32,
) -> Result<quinn::TransportConfig, TlsError> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(idle.try_into().map_err(setup)?));
    t.keep_alive_interval(Some(idle / 3));
    t.stream_receive_window(stream_window.into());
    t.receive_window((16u32 << 20).into());
    t.send_window(16 << 20);
    if server {
        t.max_concurrent_bidi_streams(1u32.into());
        t.max_concurrent_uni_streams(0u32.into());
    } else {
        t.max_concurrent_bidi_streams(0u32.into());
        t.max_concurrent_uni_streams(0u32.into());
    }
    Ok(t)
}

/// The hub's QUIC server config. With a client CA, clients may present a
/// certificate signed by it (devices can be required to, see
/// `hub.require_device_certificate`); without one, none is asked for.
pub fn server_config(
    id: &Identity,
    idle: Duration,
    client_ca: Option<&[CertificateDer<'static>]>,
) -> Result<quinn::ServerConfig, TlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(setup)?;
    let builder = match client_ca {
        Some(cas) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in cas {
                roots.add(c.clone()).map_err(setup)?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .allow_unauthenticated()
            .build()
            .map_err(setup)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut tls = builder
        .with_single_cert(id.chain.clone(), id.key.clone_key())
        .map_err(setup)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(setup)?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport(idle, true, STREAM_WINDOW)?));
    Ok(cfg)
}

/// The HTTP port's TLS config (HTTPS): `id`'s certificate, TLS 1.3 and
/// 1.2, HTTP/1.1 only.
pub fn https_config(id: &Identity) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(setup)?
        .with_no_client_auth()
        .with_single_cert(id.chain.clone(), id.key.clone_key())
        .map_err(setup)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// Reads every certificate in a PEM file.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(file_err(path))?;
    if certs.is_empty() {
        return Err(no_certificate(path));
    }
    Ok(certs)
}

/// What a client trusts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Exactly these certificates (the hub's own, or a CA).
    Certificates(Vec<CertificateDer<'static>>),
    /// Any certificate, for a hub on loopback in development.
    AnyOnLoopback,
}

impl Trust {
    /// Trusts the certificates in a PEM file.
    pub fn pem_file(path: &Path) -> Result<Trust, TlsError> {
        load_certificates(path).map(Trust::Certificates)
    }
}

/// A QUIC client config for a hub at `hub`.
pub fn client_config(trust: &Trust, hub: SocketAddr) -> Result<quinn::ClientConfig, TlsError> {
    client_config_with_window(trust, hub, STREAM_WINDOW)
}

/// A client config that presents `identity` (mutual TLS).
pub fn client_config_with_identity(
    trust: &Trust,
    hub: SocketAddr,
    identity: &Identity,
) -> Result<quinn::ClientConfig, TlsError> {
    client_config_full(trust, hub, STREAM_WINDOW, ALPN, Some(identity))
}

/// A client config with a given stream receive window (a small one makes
/// a client that reads slowly push back on the hub quickly).
pub fn client_config_with_window(
    trust: &Trust,
    hub: SocketAddr,
    stream_window: u32,
) -> Result<quinn::ClientConfig, TlsError> {
    client_config_custom(trust, hub, stream_window, ALPN)
}

/// A client config offering another ALPN: for testing how the hub
/// refuses strangers.
pub fn client_config_custom(
    trust: &Trust,
    hub: SocketAddr,
    stream_window: u32,
    alpn: &[u8],
) -> Result<quinn::ClientConfig, TlsError> {
    client_config_full(trust, hub, stream_window, alpn, None)
}

fn client_config_full(
    trust: &Trust,
    hub: SocketAddr,
    stream_window: u32,
    alpn: &[u8],
    identity: Option<&Identity>,
) -> Result<quinn::ClientConfig, TlsError> {
    let with_auth = |b: rustls::ConfigBuilder<
        rustls::ClientConfig,
        rustls::client::WantsClientCert,
    >| match identity {
        Some(id) => b
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(setup),
        None => Ok(b.with_no_client_auth()),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(setup)?;
    let mut tls = match trust {
        Trust::Certificates(certs) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs {
                roots.add(c.clone()).map_err(setup)?;
            }
            with_auth(builder.with_root_certificates(roots))?
        }
        Trust::AnyOnLoopback => {
            if !hub.ip().is_loopback() {
                return Err(TlsError::InsecureOffLoopback(hub));
            }
            with_auth(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider()))),
            )?
        }
    };
    tls.alpn_protocols = vec![alpn.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(setup)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport(
        Duration::from_secs(30),
        false,
        stream_window,
    )?));
    Ok(cfg)
}

/// Accepts any certificate but still checks the handshake signatures, so
/// the session is encrypted to whoever holds the key. Only ever built for
/// a loopback address.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
