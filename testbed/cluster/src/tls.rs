//! rustls configurations (ring provider only) for the apiserver client and the front's server.
//! No I/O.

use std::sync::Arc;

use crate::error::BedError;
use crate::pki::{Pair, Pki};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Client config trusting the bed's CA and presenting `client` (the admin certificate).
pub fn client_config(pki: &Pki, client: &Pair) -> Result<rustls::ClientConfig, BedError> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki.ca.cert_der.clone())
        .map_err(|e| BedError::Tls(format!("adding the CA: {e}")))?;
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| BedError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![client.cert_der.clone()], client.key_der())
        .map_err(|e| BedError::Tls(format!("client certificate: {e}")))
}

/// Server config for the front: HTTP/1.1 only, no client certificates asked for.
pub fn server_config(pki: &Pki) -> Result<rustls::ServerConfig, BedError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| BedError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![pki.server.cert_der.clone()], pki.server.key_der())
        .map_err(|e| BedError::Tls(format!("server certificate: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// reqwest client for the apiserver (admin identity), with no proxy and no overall timeout
/// (watches are long-lived).
pub fn apiserver_http(pki: &Pki) -> Result<reqwest::Client, BedError> {
    let cfg = client_config(pki, &pki.admin)?;
    http_client(cfg, "building the apiserver client")
}

/// reqwest client trusting only the PEM CA `ca_pem`, no client certificate (for the front).
pub fn ca_only_http(ca_pem: &str) -> Result<reqwest::Client, BedError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| BedError::Tls(format!("reading the CA: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| BedError::Tls(format!("adding the CA: {e}")))?;
    }
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| BedError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    http_client(cfg, "building the front client")
}

/// A loopback reqwest client over `cfg`: no proxy, no overall timeout, TCP_NODELAY.
fn http_client(cfg: rustls::ClientConfig, context: &str) -> Result<reqwest::Client, BedError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(cfg)
        .no_proxy()
        .tcp_nodelay(true)
        .build()
        .map_err(|source| BedError::Http {
            context: context.into(),
            source,
        })
}
