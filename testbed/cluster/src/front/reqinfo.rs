//! Parses a Kubernetes API request path into verb/group/version/resource/… (the way the API
//! server's request-info resolver does) and records it. No I/O.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// One API request as the front saw it: enough to check RBAC rules against real behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub user_agent: String,
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// "" for the core group.
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

fn query_flag(query: &str, key: &str) -> bool {
    query.split('&').any(|kv| {
        let mut it = kv.splitn(2, '=');
        it.next() == Some(key) && matches!(it.next(), Some("1" | "true" | "True"))
    })
}

/// What a resource request names, from whom; `None` for non-resource paths (discovery,
/// /openapi, /healthz…).
pub fn parse(method: &str, path: &str, query: &str, user_agent: &str) -> Option<RecordedRequest> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, mut rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => (String::new(), (*v).to_string(), rest),
        ["apis", g, v, rest @ ..] => ((*g).to_string(), (*v).to_string(), rest),
        _ => return None,
    };
    if rest.is_empty() {
        return None;
    }
    let mut watch_path = false;
    if rest.first() == Some(&"watch") {
        watch_path = true;
        rest = &rest[1..];
    }
    let mut namespace = None;
    // `/namespaces/{name}/status|finalize` address the namespace itself, as in the apiserver.
    if rest.first() == Some(&"namespaces")
        && rest.len() >= 3
        && !matches!(rest[2], "status" | "finalize")
    {
        namespace = Some(rest[1].to_string());
        rest = &rest[2..];
    }
    let resource = rest.first()?.to_string();
    let name = rest.get(1).map(|s| s.to_string());
    let subresource = rest.get(2).map(|s| s.to_string());
    let verb = match method {
        "GET" | "HEAD" => {
            if watch_path || query_flag(query, "watch") {
                "watch"
            } else if name.is_some() {
                "get"
            } else {
                "list"
            }
        }
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => {
            if name.is_some() {
                "delete"
            } else {
                "deletecollection"
            }
        }
        other => &other.to_lowercase(),
    };
    Some(RecordedRequest {
        user_agent: user_agent.to_owned(),
        verb: verb.to_owned(),
        group,
        version,
        resource,
        subresource,
        namespace,
        name,
    })
}

/// All requests seen, in arrival order.
#[derive(Default)]
pub struct Recorder {
    entries: Mutex<Vec<RecordedRequest>>,
}

impl Recorder {
    pub fn record(&self, request: &RecordedRequest) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request.clone());
    }

    pub fn snapshot(&self) -> Vec<RecordedRequest> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_item_with_subresource() {
        let i = parse(
            "PUT",
            "/apis/ml.jobreset.io/v1alpha1/namespaces/a/jobresets/x/status",
            "",
            "",
        )
        .unwrap();
        assert_eq!(i.verb, "update");
        assert_eq!(i.group, "ml.jobreset.io");
        assert_eq!(i.resource, "jobresets");
        assert_eq!(i.namespace.as_deref(), Some("a"));
        assert_eq!(i.name.as_deref(), Some("x"));
        assert_eq!(i.subresource.as_deref(), Some("status"));
    }

    #[test]
    fn namespace_itself_and_watch() {
        let i = parse("GET", "/api/v1/namespaces/foo", "", "").unwrap();
        assert_eq!(
            (i.verb.as_str(), i.resource.as_str()),
            ("get", "namespaces")
        );
        assert_eq!(i.name.as_deref(), Some("foo"));
        assert_eq!(i.namespace, None);
        let i = parse("GET", "/api/v1/namespaces/foo/status", "", "").unwrap();
        assert_eq!(i.name.as_deref(), Some("foo"));
        assert_eq!(i.subresource.as_deref(), Some("status"));
        let i = parse("GET", "/api/v1/namespaces/a/secrets", "watch=true&rv=1", "").unwrap();
        assert_eq!((i.verb.as_str(), i.resource.as_str()), ("watch", "secrets"));
        let i = parse("GET", "/api/v1/watch/namespaces/a/secrets", "", "").unwrap();
        assert_eq!(i.verb, "watch");
        assert_eq!(i.namespace.as_deref(), Some("a"));
        let i = parse("DELETE", "/api/v1/namespaces/a/secrets", "", "").unwrap();
        assert_eq!(i.verb, "deletecollection");
    }

    #[test]
    fn discovery_is_not_a_resource() {
        assert!(parse("GET", "/api/v1", "", "").is_none());
        assert!(parse("GET", "/apis", "", "").is_none());
        assert!(parse("GET", "/openapi/v3", "", "").is_none());
    }
}
