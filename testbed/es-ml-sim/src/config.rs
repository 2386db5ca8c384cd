//! Simulator configuration (library and binary), the users file and the seed file formats.
//! Parsing only; reading files is done by the caller (the binary).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

/// How to run one simulator instance.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Elasticsearch version to imitate (`--version`), e.g. `8.15.0`.
    pub version: String,
    /// How long a reset's work takes once it begins.
    pub reset_duration: Duration,
    /// Serve `/_sim/...` (the control API). The library defaults to on, the binary to off.
    pub enable_control: bool,
    /// Security on (`Some`) or off (`None`, the default).
    pub security: Option<Security>,
    /// Serve HTTPS with this certificate chain and key.
    pub tls: Option<TlsPem>,
    /// 22-character node id; a random-looking one is made when unset.
    pub node_id: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            version: "8.15.0".to_string(),
            reset_duration: Duration::from_millis(200),
            enable_control: true,
            security: None,
            tls: None,
            node_id: None,
        }
    }
}

/// PEM text of a certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct TlsPem {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Users, API keys, bearer tokens and roles (role name -> cluster privileges). Also the format
/// of the `--users` file (YAML or JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    #[serde(default)]
    pub tokens: Vec<Token>,
    #[serde(default)]
    pub roles: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish()
    }
}

/// An API key; clients send `Authorization: ApiKey base64("id:key")`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl ApiKey {
    /// The encoded form clients put after `ApiKey `.
    pub fn encoded(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.id, self.key))
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("roles", &self.roles)
            .finish()
    }
}

/// A bearer token (`Authorization: Bearer <token>`) acting as `username`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub token: String,
    pub username: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish()
    }
}

/// The `--seed` file: jobs and datafeeds created at start (YAML or JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub jobs: Vec<SeedJob>,
    #[serde(default)]
    pub datafeeds: Vec<SeedDatafeed>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedJob {
    pub job_id: String,
    /// Same body as `PUT _ml/anomaly_detectors/<id>`; defaults to one `count` detector.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    /// `closed` (default), `opened` or `failed`.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub model_snapshot_id: Option<String>,
    #[serde(default)]
    pub processed_record_count: Option<u64>,
    #[serde(default)]
    pub user_annotations: usize,
    #[serde(default)]
    pub auto_annotations: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedDatafeed {
    pub datafeed_id: String,
    pub job_id: String,
    /// Start the datafeed (opens the job first when needed).
    #[serde(default)]
    pub started: bool,
}

/// Parse YAML or JSON (JSON is YAML) text.
pub fn parse_yaml_or_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
}

/// Errors of the simulator's library API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid version {0:?}")]
    Version(String),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("invalid node id {0:?}: must be 22 characters of [A-Za-z0-9_-]")]
    NodeId(String),
    #[error("{status} {kind}: {reason}")]
    Es {
        status: u16,
        kind: String,
        reason: String,
    },
}

impl From<crate::errors::EsError> for SimError {
    fn from(e: crate::errors::EsError) -> Self {
        SimError::Es {
            status: e.status,
            kind: e.kind,
            reason: e.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_file_parses_yaml() {
        let s: Security = parse_yaml_or_json(
            "users:\n  - {username: op, password: pw, roles: [resetter]}\nroles:\n  resetter: [manage_ml, monitor]\n",
        )
        .unwrap();
        assert_eq!(s.users[0].username, "op");
        assert_eq!(s.roles["resetter"], vec!["manage_ml", "monitor"]);
        assert!(!format!("{:?}", s.users[0]).contains("pw"));
    }

    #[test]
    fn seed_parses_json() {
        let s: Seed = parse_yaml_or_json(r#"{"jobs":[{"job_id":"a","state":"opened"}],"datafeeds":[{"datafeed_id":"d","job_id":"a","started":true}]}"#).unwrap();
        assert_eq!(s.jobs[0].job_id, "a");
        assert!(s.datafeeds[0].started);
    }
}
