//! TLS for the Elasticsearch client (rustls, ring): the CA bundle a JobReset names, the
//! system roots through the platform verifier, or no chain check at all for
//! `insecureSkipVerify`. Builds configuration only; the system roots are read once per
//! process (the first time they are needed), not once per client.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::EsError;
use super::transport::EsConfig;

pub(super) fn tls_config(cfg: &EsConfig) -> Result<rustls::ClientConfig, EsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| EsError::Config(format!("TLS setup: {e}")))?;
    let config = if cfg.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(UncheckedChain {
                provider,
                refusal: None,
            }))
            .with_no_client_auth()
    } else if let Some(pem) = &cfg.ca_pem {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|e| EsError::Config(format!("the CA bundle is not valid PEM: {e}")))?;
            roots.add(cert).map_err(|e| {
                EsError::Config(format!("the CA bundle holds an unusable certificate: {e}"))
            })?;
        }
        if roots.is_empty() {
            return Err(EsError::Config(
                "the CA bundle holds no certificate".to_owned(),
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(system_roots(provider))
            .with_no_client_auth()
    };
    Ok(config)
}

/// The verifier of the system's CA roots, built once: loading and parsing the store costs
/// more than the rest of a client. The ring provider is the same for every client.
fn system_roots(provider: Arc<CryptoProvider>) -> Arc<dyn ServerCertVerifier> {
    static VERIFIER: OnceLock<Arc<dyn ServerCertVerifier>> = OnceLock::new();
    VERIFIER
        .get_or_init(
            || match rustls_platform_verifier::Verifier::new(provider.clone()) {
                Ok(verifier) => Arc::new(verifier),
                // No system roots (minimal images): plain http still works, https says why it cannot.
                Err(e) => Arc::new(UncheckedChain {
                    provider,
                    refusal: Some(e.to_string()),
                }),
            },
        )
        .clone()
}

/// A verifier that does not look at the certificate chain. Without `refusal` it accepts any
/// certificate and host name (`insecureSkipVerify`); with it, it refuses every certificate and
/// says why (no system CA roots and no CA bundle given, so plain http still works and https
/// explains itself). Handshake signatures are checked either way, so the peer holds the key
/// of the certificate it sent.
#[derive(Debug)]
struct UncheckedChain {
    provider: Arc<CryptoProvider>,
    refusal: Option<String>,
}

impl ServerCertVerifier for UncheckedChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.refusal {
            None => Ok(ServerCertVerified::assertion()),
            Some(why) => Err(rustls::Error::General(format!(
                "no trusted CA certificates (set a CA Secret): {why}"
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
