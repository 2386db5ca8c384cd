//! A CA and server certificate for 127.0.0.1, and a simulator with security on. Pure but for
//! the simulator it starts.

/// A CA and a server certificate for 127.0.0.1 signed by it.
pub struct Pki {
    pub ca_pem: String,
    pub server: es_ml_sim::TlsPem,
}

pub fn pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa,
        KeyPair,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "jobreset test CA");
    ca_params.distinguished_name = dn;
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("server key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server certificate");
    Pki {
        ca_pem: ca.pem(),
        server: es_ml_sim::TlsPem {
            cert_pem: leaf.pem(),
            key_pem: key.serialize_pem(),
        },
    }
}

/// Simulator security. Users: `resetter` (manage_ml + monitor), `minimal` (exactly what the
/// CRD documents: manage_ml + cluster:monitor/task/get), `elastic` (superuser), `closer` (may
/// read and close but not reset). An API key `k-id` with the `resetter` role.
pub fn security() -> es_ml_sim::Security {
    let mut s = es_ml_sim::Security::default();
    let user = |u: &str, p: &str, r: &str| es_ml_sim::User {
        username: u.into(),
        password: p.into(),
        roles: vec![r.into()],
    };
    s.users.push(user("resetter", "resetter-pw-1", "resetter"));
    s.users.push(user("minimal", "minimal-pw-1", "minimal"));
    s.users.push(user("elastic", "elastic-pw-1", "superuser"));
    s.users.push(user("closer", "closer-pw-1", "closer"));
    s.users
        .push(user("mladmin", "mladmin-pw-1", "machine_learning_admin"));
    s.api_keys.push(es_ml_sim::ApiKey {
        id: "k-id".into(),
        key: "k-secret-1".into(),
        roles: vec!["resetter".into()],
    });
    s.roles.insert(
        "resetter".into(),
        vec!["manage_ml".into(), "monitor".into()],
    );
    s.roles.insert(
        "minimal".into(),
        vec!["manage_ml".into(), "cluster:monitor/task/get".into()],
    );
    s.roles.insert(
        "closer".into(),
        vec![
            "monitor".into(),
            "cluster:admin/xpack/ml/job/close".into(),
            "cluster:admin/xpack/ml/datafeed/stop".into(),
        ],
    );
    s
}
