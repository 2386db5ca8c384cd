//! Turns `spec.elasticsearch` and the Secrets it references into an `EsConfig`.
//! `plan` (which URL, which Secrets and keys) and `assemble` (Secret data to settings) are
//! pure and tested; `resolve` reads the Secrets from Kubernetes (I/O: GETs).
//!
//! Credentials go into `EsConfig` only: errors name Secrets and keys, never values.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use super::access::{CROSS_NAMESPACE_REF_DENIED, Target};
use crate::{
    api::{
        DEFAULT_CA_KEY, ElasticsearchRef, ElasticsearchSpec,
        names::{is_dns1035_label, is_dns1123_label, is_eck_name},
    },
    es::{Auth, EsConfig, INVALID_CONNECTION},
    run::decide::reason::INVALID_SPEC,
};

pub use crate::es::REQUEST_TIMEOUT;

/// Why connection settings cannot be built (yet).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid elasticsearch settings: {0}")]
    InvalidSpec(String),
    /// ECK's `elastic` user with a CA or `insecureSkipVerify` the JobReset's author chose.
    #[error(
        "elasticsearchRef without credentialsSecret logs in as ECK's elastic superuser, which \
         only trusts ECK's own CA ({ca}): remove tls.caSecret and tls.insecureSkipVerify, or \
         give a credentialsSecret of your own"
    )]
    EckCredentialsWithCustomTls { ca: String },
    #[error("Secret {namespace}/{name} not found")]
    SecretNotFound { namespace: String, name: String },
    #[error("Secret {namespace}/{name} has no key {keys}")]
    SecretKeyMissing {
        namespace: String,
        name: String,
        keys: String,
    },
    #[error("key {key} of Secret {namespace}/{name} is not UTF-8 text")]
    SecretNotText {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("cannot read Secret {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

impl ConnectError {
    /// Stable reason for status and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            ConnectError::InvalidSpec(_) => INVALID_SPEC,
            ConnectError::EckCredentialsWithCustomTls { .. } => ECK_CREDENTIALS_WITH_CUSTOM_TLS,
            ConnectError::SecretNotFound { .. } => SECRET_NOT_FOUND,
            ConnectError::SecretKeyMissing { .. } => SECRET_KEY_MISSING,
            ConnectError::SecretNotText { .. } => INVALID_SECRET,
            ConnectError::Kube { .. } => SECRET_UNREADABLE,
        }
    }
}

const SECRET_NOT_FOUND: &str = "SecretNotFound";
/// Reason of `ConnectError::EckCredentialsWithCustomTls`.
pub const ECK_CREDENTIALS_WITH_CUSTOM_TLS: &str = "EckCredentialsWithCustomTls";
const SECRET_KEY_MISSING: &str = "SecretKeyMissing";
const INVALID_SECRET: &str = "InvalidSecret";
const SECRET_UNREADABLE: &str = "SecretUnreadable";

/// The reasons a run shows while its connection cannot be built yet: every
/// `ConnectError::reason`, and the client's own refusal of the settings.
pub const UNAVAILABLE_REASONS: [&str; 7] = [
    INVALID_SPEC,
    CROSS_NAMESPACE_REF_DENIED,
    SECRET_NOT_FOUND,
    SECRET_KEY_MISSING,
    INVALID_SECRET,
    SECRET_UNREADABLE,
    INVALID_CONNECTION,
];

/// A Secret by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretId {
    pub namespace: String,
    pub name: String,
}

/// Where the credentials come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    None,
    /// `username` + `password`, or `apiKey`.
    Secret(SecretId),
    /// ECK's `<name>-es-elastic-user` Secret: user `elastic`, password under key `elastic`.
    EckElasticUser(SecretId),
}

/// What to connect to and which Secrets to read, before reading them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub url: String,
    pub credentials: Credentials,
    /// The CA Secret and key, if the connection needs one.
    pub ca: Option<(SecretId, String)>,
    pub insecure_skip_verify: bool,
    /// The ECK cluster `elasticsearchRef` names (for the cross-namespace check).
    pub target: Option<Target>,
}

impl Plan {
    /// Every Secret the plan reads (for watching them).
    pub fn secrets(&self) -> Vec<SecretId> {
        let mut out = vec![];
        match &self.credentials {
            Credentials::Secret(id) | Credentials::EckElasticUser(id) => out.push(id.clone()),
            Credentials::None => {}
        }
        if let Some((id, _)) = &self.ca {
            out.push(id.clone());
        }
        out
    }
}

/// Works out the URL and the Secrets for a JobReset in `namespace`.
pub fn plan(
    es: &ElasticsearchSpec,
    namespace: &str,
    eck_url_template: &str,
) -> Result<Plan, ConnectError> {
    let here = |name: &str| SecretId {
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let insecure_skip_verify = es.tls.as_ref().is_some_and(|t| t.insecure_skip_verify);
    let ca_override = es.tls.as_ref().and_then(|t| t.ca_secret.as_ref()).map(|c| {
        (
            here(&c.name),
            c.key.clone().unwrap_or_else(|| DEFAULT_CA_KEY.to_string()),
        )
    });
    let credentials = es
        .credentials_secret
        .as_ref()
        .map(|c| Credentials::Secret(here(&c.name)));
    match (&es.url, &es.elasticsearch_ref) {
        (Some(url), None) => {
            let url = check_url(url)?;
            Ok(Plan {
                url,
                credentials: credentials.unwrap_or(Credentials::None),
                ca: ca_override,
                insecure_skip_verify,
                target: None,
            })
        }
        (None, Some(r)) => {
            check_ref(r)?;
            let ns = r.namespace.clone().unwrap_or_else(|| namespace.to_string());
            let service = r
                .service_name
                .clone()
                .unwrap_or_else(|| format!("{}-es-http", r.name));
            // Every part is a DNS label (checked above), so the result names exactly the
            // Service's host: nothing can add a path, a port or another host.
            let url = eck_url_template
                .replace("{service}", &service)
                .replace("{namespace}", &ns)
                .replace("{name}", &r.name);
            let url = check_url(&url)?;
            let eck = |name: String| SecretId {
                namespace: ns.clone(),
                name,
            };
            let eck_ca = format!("{}-es-http-certs-public", r.name);
            let elastic_user = credentials.is_none();
            if elastic_user && (ca_override.is_some() || insecure_skip_verify) {
                return Err(ConnectError::EckCredentialsWithCustomTls {
                    ca: format!("Secret {ns}/{eck_ca}"),
                });
            }
            let ca = match ca_override {
                Some(ca) => Some(ca),
                // Only an https endpoint needs ECK's CA (the test override may be plain http).
                None if url.starts_with("https://") => {
                    Some((eck(eck_ca), DEFAULT_CA_KEY.to_string()))
                }
                None => None,
            };
            let credentials = credentials.unwrap_or_else(|| {
                Credentials::EckElasticUser(eck(format!("{}-es-elastic-user", r.name)))
            });
            Ok(Plan {
                url,
                credentials,
                ca,
                insecure_skip_verify,
                target: Some(Target {
                    namespace: ns.clone(),
                    name: r.name.clone(),
                    elastic_user,
                    custom_service: r
                        .service_name
                        .clone()
                        .filter(|s| *s != format!("{}-es-http", r.name)),
                }),
            })
        }
        _ => Err(ConnectError::InvalidSpec(
            "set exactly one of elasticsearch.url and elasticsearch.elasticsearchRef".into(),
        )),
    }
}

/// Checks `--eck-url-template`: a Service name means nothing without its namespace (without
/// `{namespace}`, namespace X's superuser password would go to a Service of that name in
/// whatever namespace the host name resolves in).
pub fn check_template(template: &str) -> Result<(), String> {
    if template.contains("{service}") && !template.contains("{namespace}") {
        return Err(format!(
            "--eck-url-template {template:?} names {{service}} without {{namespace}}"
        ));
    }
    crate::es::base_url(
        &template
            .replace("{service}", "s")
            .replace("{namespace}", "n")
            .replace("{name}", "x"),
    )
    .map(|_| ())
    .map_err(|e| format!("--eck-url-template {template:?}: {e}"))
}

/// The schema's rules for `elasticsearchRef`, checked again before use: an object written
/// before the rules existed must not splice another host into the URL.
fn check_ref(r: &ElasticsearchRef) -> Result<(), ConnectError> {
    let bad = |field: &str, rule: &str| {
        Err(ConnectError::InvalidSpec(format!(
            "elasticsearchRef.{field} must be a {rule}"
        )))
    };
    if !is_eck_name(&r.name) {
        return bad("name", "DNS-1035 label of at most 55 characters");
    }
    if r.namespace.as_deref().is_some_and(|n| !is_dns1123_label(n)) {
        return bad("namespace", "DNS-1123 label");
    }
    if r.service_name
        .as_deref()
        .is_some_and(|n| !is_dns1035_label(n))
    {
        return bad("serviceName", "DNS-1035 label");
    }
    Ok(())
}

/// The identity of the target cluster: two JobResets with the same identity and job id must
/// not run at the same time.
pub fn cluster_identity(es: &ElasticsearchSpec, namespace: &str, eck_url_template: &str) -> String {
    match plan(es, namespace, eck_url_template) {
        Ok(p) => p.url.to_ascii_lowercase(),
        Err(_) => format!("invalid:{namespace}"),
    }
}

/// Rejects URLs the operator cannot use safely (the checks the client makes, so that a bad
/// URL fails the run as InvalidSpec instead of being retried); returns the URL without a
/// trailing `/`.
fn check_url(url: &str) -> Result<String, ConnectError> {
    let url = url.trim().trim_end_matches('/');
    crate::es::base_url(url).map_err(ConnectError::InvalidSpec)?;
    Ok(url.to_string())
}

/// Secret contents by Secret; `None` = the Secret does not exist.
pub type SecretData = BTreeMap<String, Vec<u8>>;

/// Builds the client settings from the plan and the Secrets it names.
pub fn assemble(
    plan: &Plan,
    secrets: &BTreeMap<SecretId, Option<SecretData>>,
    opaque_id: String,
) -> Result<EsConfig, ConnectError> {
    let auth = match &plan.credentials {
        Credentials::None => None,
        Credentials::Secret(id) => {
            let data = found(secrets, id)?;
            if data.contains_key("apiKey") {
                Some(Auth::ApiKey(text(id, data, "apiKey")?))
            } else if data.contains_key("username") || data.contains_key("password") {
                let username = text(id, data, "username")?;
                let password = text(id, data, "password")?;
                Some(Auth::Basic { username, password })
            } else {
                return Err(missing(id, "username+password or apiKey"));
            }
        }
        Credentials::EckElasticUser(id) => {
            let data = found(secrets, id)?;
            Some(Auth::Basic {
                username: "elastic".into(),
                password: text(id, data, "elastic")?,
            })
        }
    };
    let ca_pem = match &plan.ca {
        Some((id, key)) => {
            let data = found(secrets, id)?;
            Some(data.get(key).cloned().ok_or_else(|| missing(id, key))?)
        }
        None => None,
    };
    Ok(EsConfig {
        url: plan.url.clone(),
        auth,
        ca_pem,
        insecure_skip_verify: plan.insecure_skip_verify,
        opaque_id: Some(opaque_id),
        request_timeout: REQUEST_TIMEOUT,
    })
}

fn found<'a>(
    secrets: &'a BTreeMap<SecretId, Option<SecretData>>,
    id: &SecretId,
) -> Result<&'a SecretData, ConnectError> {
    secrets
        .get(id)
        .and_then(Option::as_ref)
        .ok_or_else(|| ConnectError::SecretNotFound {
            namespace: id.namespace.clone(),
            name: id.name.clone(),
        })
}

fn missing(id: &SecretId, keys: &str) -> ConnectError {
    ConnectError::SecretKeyMissing {
        namespace: id.namespace.clone(),
        name: id.name.clone(),
        keys: keys.into(),
    }
}

fn text(id: &SecretId, data: &SecretData, key: &str) -> Result<String, ConnectError> {
    let bytes = data.get(key).ok_or_else(|| missing(id, key))?;
    String::from_utf8(bytes.clone()).map_err(|_| ConnectError::SecretNotText {
        namespace: id.namespace.clone(),
        name: id.name.clone(),
        key: key.into(),
    })
}

/// Reads the plan's Secrets and builds the settings (I/O: one GET per Secret).
pub async fn resolve(
    client: &Client,
    plan: &Plan,
    opaque_id: String,
) -> Result<EsConfig, ConnectError> {
    let mut secrets = BTreeMap::new();
    for id in plan.secrets() {
        if secrets.contains_key(&id) {
            continue;
        }
        let api: Api<Secret> = Api::namespaced(client.clone(), &id.namespace);
        let secret = api
            .get_opt(&id.name)
            .await
            .map_err(|source| ConnectError::Kube {
                namespace: id.namespace.clone(),
                name: id.name.clone(),
                source,
            })?;
        let data = secret.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect::<SecretData>()
        });
        secrets.insert(id, data);
    }
    assemble(plan, &secrets, opaque_id)
}

#[cfg(test)]
mod tests {
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
}
