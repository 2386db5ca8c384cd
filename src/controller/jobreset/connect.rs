//! Turns `spec.elasticsearch` and the Secrets it references into an `EsConfig`.
//! `plan` (which URL, which Secrets and keys) and `assemble` (Secret data to settings) are
//! pure and tested; `resolve` reads the Secrets from Kubernetes (I/O: GETs).
//!
//! Credentials go into `EsConfig` only: errors name Secrets and keys, never values.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use super::{
    access::{CROSS_NAMESPACE_REF_DENIED, Target},
    secrets::SecretCache,
};
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
/// not run at the same time. It is where the client connects (scheme, host, port, path), so
/// that spellings of one URL (a query or fragment, the default port, case) share a queue;
/// merging two is harmless (they only wait for each other), splitting one is not.
pub fn cluster_identity(es: &ElasticsearchSpec, namespace: &str, eck_url_template: &str) -> String {
    let Ok(p) = plan(es, namespace, eck_url_template) else {
        return format!("invalid:{namespace}");
    };
    match crate::es::base_url(&p.url) {
        Ok(u) => format!(
            "{}://{}:{}{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or_default(),
            u.path().trim_end_matches('/')
        )
        .to_ascii_lowercase(),
        Err(_) => p.url.to_ascii_lowercase(),
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

/// Reads the plan's Secrets (those not kept since they last changed) and builds the
/// settings for the run `uid` (I/O: one GET per Secret read).
pub async fn resolve(
    client: &Client,
    kept: &SecretCache,
    uid: &str,
    plan: &Plan,
    opaque_id: String,
) -> Result<EsConfig, ConnectError> {
    let mut secrets = BTreeMap::new();
    for id in plan.secrets() {
        if secrets.contains_key(&id) {
            continue;
        }
        if let Some(data) = kept.get(&id, uid) {
            secrets.insert(id, Some(data));
            continue;
        }
        let read = kept.start_read(&id);
        let api: Api<Secret> = Api::namespaced(client.clone(), &id.namespace);
        let secret = api
            .get_opt(&id.name)
            .await
            .map_err(|source| ConnectError::Kube {
                namespace: id.namespace.clone(),
                name: id.name.clone(),
                source,
            })?;
        let version = secret
            .as_ref()
            .and_then(|s| s.metadata.resource_version.clone())
            .unwrap_or_default();
        let data = secret.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect::<SecretData>()
        });
        if let Some(data) = &data {
            read.keep(&version, data, uid);
        }
        secrets.insert(id, data);
    }
    assemble(plan, &secrets, opaque_id)
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
