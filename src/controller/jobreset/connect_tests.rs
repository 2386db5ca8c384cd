//! Tests of `connect` (no I/O unless a test says so).

use super::*;
use crate::api::{ElasticsearchRef, SecretKeyRef, SecretName, TlsSpec};

const TEMPLATE: &str = "https://{service}.{namespace}.svc:9200";

fn id(ns: &str, name: &str) -> SecretId {
    SecretId {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn url_spec() -> ElasticsearchSpec {
    ElasticsearchSpec {
        url: Some("https://es.example:9200/".into()),
        credentials_secret: Some(SecretName {
            name: "creds".into(),
        }),
        tls: Some(TlsSpec {
            ca_secret: Some(SecretKeyRef {
                name: "ca".into(),
                key: None,
            }),
            insecure_skip_verify: false,
        }),
        ..Default::default()
    }
}

fn eck_spec() -> ElasticsearchSpec {
    ElasticsearchSpec {
        elasticsearch_ref: Some(ElasticsearchRef {
            name: "quickstart".into(),
            namespace: Some("elastic".into()),
            service_name: None,
        }),
        ..Default::default()
    }
}

fn data(pairs: &[(&str, &str)]) -> Option<SecretData> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
    )
}

#[test]
fn url_plan() {
    let p = plan(&url_spec(), "obs", TEMPLATE).ok();
    let expected = Plan {
        url: "https://es.example:9200".into(),
        credentials: Credentials::Secret(id("obs", "creds")),
        ca: Some((id("obs", "ca"), "ca.crt".into())),
        insecure_skip_verify: false,
        target: None,
    };
    assert_eq!(p, Some(expected));
}

#[test]
fn eck_plan_defaults() {
    let p = plan(&eck_spec(), "obs", TEMPLATE).ok();
    let expected = Plan {
        url: "https://quickstart-es-http.elastic.svc:9200".into(),
        credentials: Credentials::EckElasticUser(id("elastic", "quickstart-es-elastic-user")),
        ca: Some((
            id("elastic", "quickstart-es-http-certs-public"),
            "ca.crt".into(),
        )),
        insecure_skip_verify: false,
        target: Some(Target {
            namespace: "elastic".into(),
            name: "quickstart".into(),
            elastic_user: true,
            custom_service: None,
        }),
    };
    assert_eq!(p, Some(expected));
}

#[test]
fn eck_plan_with_overrides() {
    let mut spec = eck_spec();
    if let Some(r) = spec.elasticsearch_ref.as_mut() {
        r.namespace = None;
        r.service_name = Some("custom".into());
    }
    spec.credentials_secret = Some(SecretName {
        name: "mine".into(),
    });
    let p = plan(&spec, "obs", "http://127.0.0.1:9999").ok();
    let expected = Plan {
        url: "http://127.0.0.1:9999".into(),
        credentials: Credentials::Secret(id("obs", "mine")),
        ca: None,
        insecure_skip_verify: false,
        target: Some(Target {
            namespace: "obs".into(),
            name: "quickstart".into(),
            elastic_user: false,
            custom_service: Some("custom".into()),
        }),
    };
    assert_eq!(p, Some(expected));
    let p = plan(&spec, "obs", TEMPLATE).map(|p| p.url).ok();
    assert_eq!(p.as_deref(), Some("https://custom.obs.svc:9200"));
}

#[test]
fn bad_specs() {
    let both = ElasticsearchSpec {
        url: Some("https://a".into()),
        ..eck_spec()
    };
    assert!(matches!(
        plan(&both, "n", TEMPLATE),
        Err(ConnectError::InvalidSpec(_))
    ));
    let neither = ElasticsearchSpec::default();
    assert!(matches!(
        plan(&neither, "n", TEMPLATE),
        Err(ConnectError::InvalidSpec(_))
    ));
    let userinfo = ElasticsearchSpec {
        url: Some("https://u:hunter2@es:9200".into()),
        ..Default::default()
    };
    let err = plan(&userinfo, "n", TEMPLATE)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("credentials") && !err.contains("hunter2"),
        "{err}"
    );
    let scheme = ElasticsearchSpec {
        url: Some("ftp://es".into()),
        ..Default::default()
    };
    assert!(plan(&scheme, "n", TEMPLATE).is_err());
}

#[test]
fn url_templates() {
    assert!(check_template(TEMPLATE).is_ok());
    assert!(
        check_template("http://127.0.0.1:9200").is_ok(),
        "a fixed test address"
    );
    assert!(check_template("https://{service}:9200").is_err());
    assert!(check_template("ftp://{service}.{namespace}").is_err());
}

#[test]
fn hostile_ref_parts_never_reach_the_url() {
    for (field, value) in [
        ("serviceName", "evil.example/#"),
        ("serviceName", "evil.example:443"),
        ("serviceName", "a@evil.example"),
        ("namespace", "elastic.evil.example"),
        ("namespace", "x/../y"),
        ("name", "q.evil.example"),
        ("name", "Quickstart"),
    ] {
        let mut spec = eck_spec();
        if let Some(r) = spec.elasticsearch_ref.as_mut() {
            match field {
                "serviceName" => r.service_name = Some(value.into()),
                "namespace" => r.namespace = Some(value.into()),
                _ => r.name = value.into(),
            }
        }
        let err = plan(&spec, "obs", TEMPLATE).err();
        assert!(
            matches!(&err, Some(ConnectError::InvalidSpec(m)) if m.contains(field)),
            "{field}={value}: {err:?}"
        );
    }
}

#[test]
fn eck_elastic_user_only_with_ecks_own_ca() {
    let tls = |ca: bool, insecure: bool| TlsSpec {
        ca_secret: ca.then(|| SecretKeyRef {
            name: "mine".into(),
            key: None,
        }),
        insecure_skip_verify: insecure,
    };
    for (ca, insecure) in [(true, false), (false, true), (true, true)] {
        let spec = ElasticsearchSpec {
            tls: Some(tls(ca, insecure)),
            ..eck_spec()
        };
        let err = plan(&spec, "obs", TEMPLATE).err();
        assert_eq!(
            err.as_ref().map(ConnectError::reason),
            Some(ECK_CREDENTIALS_WITH_CUSTOM_TLS),
            "ca {ca}, insecure {insecure}: {err:?}"
        );
    }
    // With credentials of one's own, one's own CA is fine, and ECK's Secrets are not read.
    let own = ElasticsearchSpec {
        tls: Some(tls(true, false)),
        credentials_secret: Some(SecretName {
            name: "mine".into(),
        }),
        ..eck_spec()
    };
    let p = plan(&own, "obs", TEMPLATE).ok();
    assert!(
        p.as_ref()
            .is_some_and(|p| p.secrets().iter().all(|s| s.namespace == "obs")),
        "{p:?}"
    );
    assert_eq!(
        p.and_then(|p| p.target).map(|t| t.elastic_user),
        Some(false)
    );
}

#[test]
fn basic_and_api_key_credentials() {
    let p = plan(&url_spec(), "obs", TEMPLATE)
        .ok()
        .unwrap_or_else(|| unreachable!());
    let mut secrets = BTreeMap::new();
    secrets.insert(
        id("obs", "creds"),
        data(&[("username", "u"), ("password", "hunter2")]),
    );
    secrets.insert(id("obs", "ca"), data(&[("ca.crt", "PEM")]));
    let cfg = assemble(&p, &secrets, "jobreset/obs/r/uid".into()).ok();
    let cfg = cfg.unwrap_or_else(|| unreachable!());
    assert!(
        matches!(&cfg.auth, Some(Auth::Basic { username, password }) if username == "u" && password == "hunter2")
    );
    assert_eq!(cfg.ca_pem.as_deref(), Some(&b"PEM"[..]));
    assert_eq!(cfg.opaque_id.as_deref(), Some("jobreset/obs/r/uid"));
    assert!(
        !format!("{cfg:?}").contains("hunter2"),
        "Debug never shows the password"
    );

    secrets.insert(
        id("obs", "creds"),
        data(&[("apiKey", "a2V5"), ("username", "u")]),
    );
    let cfg = assemble(&p, &secrets, String::new()).ok();
    assert!(matches!(cfg.and_then(|c| c.auth), Some(Auth::ApiKey(k)) if k == "a2V5"));
}

#[test]
fn missing_secret_and_keys() {
    let p = plan(&url_spec(), "obs", TEMPLATE)
        .ok()
        .unwrap_or_else(|| unreachable!());
    let mut secrets = BTreeMap::new();
    secrets.insert(id("obs", "creds"), None);
    secrets.insert(id("obs", "ca"), data(&[("ca.crt", "PEM")]));
    let err = assemble(&p, &secrets, String::new()).err();
    assert_eq!(
        err.as_ref().map(ConnectError::reason),
        Some("SecretNotFound")
    );

    secrets.insert(id("obs", "creds"), data(&[("username", "u")]));
    let err = assemble(&p, &secrets, String::new()).err();
    assert_eq!(
        err.as_ref().map(ConnectError::reason),
        Some("SecretKeyMissing")
    );
    assert!(
        err.map(|e| e.to_string())
            .unwrap_or_default()
            .contains("password")
    );

    secrets.insert(id("obs", "creds"), data(&[("user", "u")]));
    let err = assemble(&p, &secrets, String::new()).err();
    assert_eq!(
        err.as_ref().map(ConnectError::reason),
        Some("SecretKeyMissing")
    );

    secrets.insert(id("obs", "creds"), data(&[("apiKey", "k")]));
    secrets.insert(id("obs", "ca"), data(&[("tls.crt", "PEM")]));
    let err = assemble(&p, &secrets, String::new())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("ca.crt"), "{err}");
}

#[test]
fn eck_elastic_user() {
    let p = plan(&eck_spec(), "obs", TEMPLATE)
        .ok()
        .unwrap_or_else(|| unreachable!());
    let mut secrets = BTreeMap::new();
    secrets.insert(
        id("elastic", "quickstart-es-elastic-user"),
        data(&[("elastic", "pw")]),
    );
    secrets.insert(
        id("elastic", "quickstart-es-http-certs-public"),
        data(&[("ca.crt", "PEM")]),
    );
    let cfg = assemble(&p, &secrets, String::new()).ok();
    assert!(
        matches!(cfg.and_then(|c| c.auth), Some(Auth::Basic { username, password }) if username == "elastic" && password == "pw")
    );
}

#[test]
fn identity_ignores_case_and_trailing_slash() {
    let a = ElasticsearchSpec {
        url: Some("https://ES.example:9200/".into()),
        ..Default::default()
    };
    let b = ElasticsearchSpec {
        url: Some("https://es.example:9200".into()),
        ..Default::default()
    };
    assert_eq!(
        cluster_identity(&a, "x", TEMPLATE),
        cluster_identity(&b, "y", TEMPLATE)
    );
}

/// Spellings of one URL that reach the same cluster share its queue: otherwise two runs of
/// one job, one of them with `?x` or the default port spelled out, would run side by side.
#[test]
fn identity_is_where_the_client_connects() {
    let identity = |url: &str| {
        let es = ElasticsearchSpec {
            url: Some(url.into()),
            ..Default::default()
        };
        cluster_identity(&es, "x", TEMPLATE)
    };
    let same = [
        "https://es.example",
        "https://es.example:443",
        "https://es.example/?x=1",
        "https://es.example#a",
        "HTTPS://ES.EXAMPLE:443/",
    ];
    for url in same {
        assert_eq!(identity(url), identity(same[0]), "{url}");
    }
    let different = [
        "http://es.example",
        "https://es.example:9200",
        "https://other.example",
        "https://es.example/proxy",
    ];
    for url in different {
        assert_ne!(identity(url), identity(same[0]), "{url}");
    }
}
