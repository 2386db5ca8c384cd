//! A fresh certificate authority per bed: serving certificate for 127.0.0.1/localhost and an
//! admin client certificate (`O=system:masters`). Generates in memory; `write` puts the PEM
//! files in the bed's directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::BedError;

/// One certificate and its key, in PEM and DER.
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl Pair {
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

pub struct Pki {
    pub ca: Pair,
    pub server: Pair,
    pub admin: Pair,
    /// Key pair for service-account tokens (only a full kube-apiserver needs it).
    pub sa_key_pem: String,
    pub sa_pub_pem: String,
}

/// Paths of the written files.
pub struct PkiFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
}

fn err(e: rcgen::Error) -> BedError {
    BedError::Pki(e.to_string())
}

fn dn(cn: &str, org: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    if let Some(org) = org {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

impl Pki {
    pub fn generate() -> Result<Pki, BedError> {
        let ca_key = KeyPair::generate().map_err(err)?;
        let ca_key_pem = ca_key.serialize_pem();
        let ca_key_der = ca_key.serialize_der();
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = dn("testbed-ca", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;

        let server_key = KeyPair::generate().map_err(err)?;
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_string()]).map_err(err)?;
        server_params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        server_params.distinguished_name = dn("localhost", None);
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params.signed_by(&server_key, &ca).map_err(err)?;

        let admin_key = KeyPair::generate().map_err(err)?;
        let mut admin_params = CertificateParams::default();
        admin_params.distinguished_name = dn("admin", Some("system:masters"));
        admin_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin_params.signed_by(&admin_key, &ca).map_err(err)?;

        let sa_key = KeyPair::generate().map_err(err)?;

        Ok(Pki {
            ca: Pair {
                cert_pem: ca.pem(),
                key_pem: ca_key_pem,
                cert_der: ca.der().clone(),
                key_der: ca_key_der,
            },
            server: Pair {
                cert_pem: server_cert.pem(),
                key_pem: server_key.serialize_pem(),
                cert_der: server_cert.der().clone(),
                key_der: server_key.serialize_der(),
            },
            admin: Pair {
                cert_pem: admin_cert.pem(),
                key_pem: admin_key.serialize_pem(),
                cert_der: admin_cert.der().clone(),
                key_der: admin_key.serialize_der(),
            },
            sa_key_pem: sa_key.serialize_pem(),
            sa_pub_pem: sa_key.public_key_pem(),
        })
    }

    pub fn write(&self, dir: &Path) -> Result<PkiFiles, BedError> {
        let files = PkiFiles {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
        };
        for (path, text) in [
            (&files.ca, &self.ca.cert_pem),
            (&files.server_cert, &self.server.cert_pem),
            (&files.server_key, &self.server.key_pem),
            (&files.admin_cert, &self.admin.cert_pem),
            (&files.admin_key, &self.admin.key_pem),
            (&files.sa_key, &self.sa_key_pem),
            (&files.sa_pub, &self.sa_pub_pem),
        ] {
            std::fs::write(path, text).map_err(|e| BedError::io("writing PKI", path, e))?;
        }
        Ok(files)
    }
}
