//! The client's one error enum and its classification (transient vs permanent, stable
//! reason strings, a refused certificate told by its error's type). Pure, no I/O.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("invalid Elasticsearch connection settings: {0}")]
    Config(String),
    #[error("cannot reach Elasticsearch at {url}: {detail}")]
    Connect { url: String, detail: String },
    /// The TLS handshake refused the server's certificate: nothing was sent. `fix` says
    /// what to change, by how the certificate failed.
    #[error("Elasticsearch at {url} presented a certificate that is not trusted: {detail} ({fix})")]
    Untrusted {
        url: String,
        detail: String,
        fix: &'static str,
    },
    #[error("Elasticsearch did not answer {what} within {after:?}")]
    Timeout { what: String, after: Duration },
    #[error("Elasticsearch answered {what} with HTTP {status} {kind}: {reason}")]
    Api {
        what: String,
        status: u16,
        kind: String,
        reason: String,
    },
    #[error("unexpected answer to {what}: {detail}")]
    Decode { what: String, detail: String },
}

impl EsError {
    /// Whether retrying the same call later may succeed (connect errors, timeouts, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            // A certificate may be rotated, or its CA Secret fixed: tried again, as an outage.
            EsError::Connect { .. } | EsError::Untrusted { .. } | EsError::Timeout { .. } => true,
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
    /// The HTTP status of an API error.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            EsError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// The Elasticsearch `error.type` of an API error (e.g. `status_exception`).
    pub fn kind(&self) -> Option<&str> {
        match self {
            EsError::Api { kind, .. } => Some(kind),
            _ => None,
        }
    }
    /// The cluster has no such route: the plain-string `no handler found` answer of versions
    /// before 7.14, which have no reset API.
    pub fn is_unsupported_api(&self) -> bool {
        matches!(self, EsError::Api { status: 400 | 405, kind, .. } if kind == super::wire::ROUTE_ERROR)
    }
    /// A request the cluster found invalid (400 `illegal_argument_exception`): for a reset
    /// with `delete_user_annotations`, a version before 8.7 that does not know the parameter.
    pub fn is_illegal_argument(&self) -> bool {
        matches!(self, EsError::Api { status: 400, kind, .. } if kind == "illegal_argument_exception")
    }
    /// Stable CamelCase reason for status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            EsError::Config(_) => INVALID_CONNECTION,
            EsError::Connect { .. } => UNREACHABLE,
            EsError::Untrusted { .. } => UNTRUSTED,
            EsError::Timeout { .. } => TIMEOUT,
            EsError::Api { status: 401, .. } => "Unauthorized",
            EsError::Api { status: 403, .. } => "Forbidden",
            EsError::Api { status: 404, .. } => "NotFound",
            EsError::Api { status: 409, .. } => "Conflict",
            EsError::Api { status: 429, .. } => TOO_MANY_REQUESTS,
            EsError::Api { status, .. } if *status >= 500 => SERVER_ERROR,
            EsError::Api { .. } => "BadRequest",
            EsError::Decode { .. } => "UnexpectedResponse",
        }
    }
}

/// The reason of `EsError::Config`: the connection settings cannot make a client.
pub const INVALID_CONNECTION: &str = "InvalidConnection";
pub const UNREACHABLE: &str = "ElasticsearchUnreachable";
/// The reason of `EsError::Untrusted`.
pub const UNTRUSTED: &str = "ElasticsearchCertificateNotTrusted";
pub const TIMEOUT: &str = "ElasticsearchTimeout";
const TOO_MANY_REQUESTS: &str = "TooManyRequests";
const SERVER_ERROR: &str = "ElasticsearchError";

/// The reasons `EsError::reason` gives transient errors.
pub const TRANSIENT_REASONS: [&str; 5] = [
    UNREACHABLE,
    UNTRUSTED,
    TIMEOUT,
    TOO_MANY_REQUESTS,
    SERVER_ERROR,
];

/// The error and its sources, one line.
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// What to change when the handshake refused the server's certificate (`None`: it did not):
/// rustls says so by its error's type, somewhere in the chain of sources (an `io::Error`
/// hands its inner error on only through `get_ref`).
pub(super) fn untrusted_certificate(e: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use rustls::CertificateError as C;
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(rustls::Error::InvalidCertificate(why)) = err.downcast_ref::<rustls::Error>() {
            return Some(match why {
                C::Expired
                | C::ExpiredContext { .. }
                | C::NotValidYet
                | C::NotValidYetContext { .. } => {
                    "it is outside its validity period: renew it, or check the clocks"
                }
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "it does not name this host: use a url with a name it was issued for"
                }
                _ => "name the CA that signed it in tls.caSecret",
            });
        }
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, kind: &str, reason: &str) -> EsError {
        EsError::Api {
            what: "POST /x".into(),
            status,
            kind: kind.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn classification() {
        assert!(api(429, "timeout_exception", "t").is_transient());
        assert!(api(503, "x", "y").is_transient());
        assert!(
            !api(
                409,
                "status_exception",
                "Can only reset a job when it is closed."
            )
            .is_transient()
        );
        assert!(api(409, "status_exception", "c").is_conflict());
        assert!(api(404, "resource_not_found_exception", "n").is_not_found());
        assert!(
            EsError::Timeout {
                what: "GET /".into(),
                after: Duration::from_secs(1)
            }
            .is_transient()
        );
        assert!(
            !EsError::Decode {
                what: "GET /".into(),
                detail: "d".into()
            }
            .is_transient()
        );
        assert_eq!(api(401, "security_exception", "x").reason(), "Unauthorized");
        assert_eq!(
            api(502, "untyped_error", "x").reason(),
            "ElasticsearchError"
        );
        assert_eq!(
            api(400, "illegal_argument_exception", "x").reason(),
            "BadRequest"
        );
    }

    #[test]
    fn version_gaps() {
        let old = api(
            400,
            "route_error",
            "no handler found for uri [/_ml/anomaly_detectors/j/_reset] and method [POST]",
        );
        assert!(old.is_unsupported_api());
        let param = api(
            400,
            "illegal_argument_exception",
            "request [/_ml/anomaly_detectors/j/_reset] contains unrecognized parameter: [delete_user_annotations]",
        );
        assert!(param.is_illegal_argument());
        assert!(!param.is_unsupported_api());
        assert_eq!(param.kind(), Some("illegal_argument_exception"));
    }
}
