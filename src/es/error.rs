//! The client's one error enum and its classification (transient vs permanent, stable
//! reason strings). Pure, no I/O.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("invalid Elasticsearch connection settings: {0}")]
    Config(String),
    #[error("cannot reach Elasticsearch at {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("Elasticsearch did not answer {what} within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("Elasticsearch answered {what} with HTTP {status} {kind}: {reason}")]
    Api { what: String, status: u16, kind: String, reason: String },
    #[error("unexpected answer to {what}: {detail}")]
    Decode { what: String, detail: String },
}

impl EsError {
    /// Whether retrying the same call later may succeed (connect errors, timeouts, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            EsError::Connect { .. } | EsError::Timeout { .. } => true,
            EsError::Api { status, .. } => *status == 429 || *status >= 500,
            EsError::Config(_) | EsError::Decode { .. } => false,
        }
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self, EsError::Api { status: 404, .. })
    }
    pub fn is_conflict(&self) -> bool {
        matches!(self, EsError::Api { status: 409, .. })
    }
    /// Stable CamelCase reason for status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            EsError::Config(_) => "InvalidConnection",
            EsError::Connect { .. } => "ElasticsearchUnreachable",
            EsError::Timeout { .. } => "ElasticsearchTimeout",
            EsError::Api { status: 401, .. } => "Unauthorized",
            EsError::Api { status: 403, .. } => "Forbidden",
            EsError::Api { status: 404, .. } => "NotFound",
            EsError::Api { status: 409, .. } => "Conflict",
            EsError::Api { status: 429, .. } => "TooManyRequests",
            EsError::Api { status, .. } if *status >= 500 => "ElasticsearchError",
            EsError::Api { .. } => "BadRequest",
            EsError::Decode { .. } => "UnexpectedResponse",
        }
    }
}
