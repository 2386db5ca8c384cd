//! Writes the kubeconfig that points clients at the front (CA and admin certificate inline).

use std::path::Path;

use base64::Engine;

use crate::error::BedError;
use crate::pki::Pki;

pub fn render(server: &str, pki: &Pki) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: testbed\n  cluster:\n    server: \"{server}\"\n    certificate-authority-data: {}\nusers:\n- name: testbed-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: testbed\n  context:\n    cluster: testbed\n    user: testbed-admin\n    namespace: default\ncurrent-context: testbed\n",
        b64(&pki.ca.cert_pem),
        b64(&pki.admin.cert_pem),
        b64(&pki.admin.key_pem),
    )
}

pub fn write(path: &Path, server: &str, pki: &Pki) -> Result<(), BedError> {
    std::fs::write(path, render(server, pki))
        .map_err(|e| BedError::io("writing the kubeconfig", path, e))
}
