//! core/v1 on top of the apiserver: Namespaces, Secrets and ConfigMaps are stored as custom
//! resources of a private group, so resourceVersions, watch, conflicts, selectors and
//! server-side apply are the real server's; Events are the events.k8s.io ones
//! (`core_events`). This module maps paths and bodies both ways (no I/O of its own besides
//! forwarding through `forward`).

use base64::Engine;
use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde_json::Value;

use super::protobuf;
use super::reqinfo::RecordedRequest;
use super::{Body, Ctx, forward, list_crds, not_found, status};

/// The private group holding the core kinds.
pub const GROUP: &str = "core.testbed.internal";

#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub plural: &'static str,
    /// The private CRD's plural.
    pub stored_as: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short: &'static str,
}

pub const KINDS: [Kind; 4] = [
    Kind {
        plural: "namespaces",
        stored_as: "corenamespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short: "ns",
    },
    Kind {
        plural: "secrets",
        stored_as: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short: "",
    },
    Kind {
        plural: "configmaps",
        stored_as: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short: "cm",
    },
    Kind {
        plural: "events",
        stored_as: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short: "ev",
    },
];

pub(super) fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Apiserver answer → what a real server says for core/v1 (apiVersion, Status details and
/// messages such as `secrets "x" not found`).
pub fn to_core(body: &[u8]) -> Vec<u8> {
    let b = replace_all(body, b"\"core.testbed.internal/v1\"", b"\"v1\"");
    let b = replace_all(
        &b,
        b"\"group\":\"core.testbed.internal\"",
        b"\"group\":\"\"",
    );
    let b = replace_all(
        &b,
        b"\"kind\":\"corenamespaces\"",
        b"\"kind\":\"namespaces\"",
    );
    let b = replace_all(&b, b"corenamespaces.core.testbed.internal", b"namespaces");
    replace_all(&b, b".core.testbed.internal", b"")
}

fn private_api_version() -> Value {
    Value::String(format!("{GROUP}/v1"))
}

/// Strategic-merge directives (`$patch`, `$setElementOrder/…`, `$retainKeys`) have no
/// meaning for a JSON merge patch; the core kinds served here have no merge-keyed lists.
pub(super) fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// Secrets: `stringData` is write-only and merged into `data`, as a real server does.
fn fold_string_data(obj: &mut serde_json::Map<String, Value>) {
    let Some(Value::Object(strings)) = obj.remove("stringData") else {
        return;
    };
    let data = obj
        .entry("data")
        .or_insert_with(|| Value::Object(Default::default()));
    if !data.is_object() {
        *data = Value::Object(Default::default());
    }
    if let Value::Object(data) = data {
        for (k, v) in strings {
            if let Value::String(s) = v {
                let enc = base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
                data.insert(k, Value::String(enc));
            }
        }
    }
}

/// Why a request body could not be translated.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("the test bed accepts protobuf bodies on create and update only")]
    ProtobufPatch,
    #[error("the request body is not valid: {0}")]
    Body(String),
}

impl TranslateError {
    fn response(&self) -> Response<Body> {
        match self {
            TranslateError::ProtobufPatch => status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                &self.to_string(),
            ),
            TranslateError::Body(_) => {
                status(StatusCode::BAD_REQUEST, "BadRequest", &self.to_string())
            }
        }
    }
}

struct Translated {
    body: Bytes,
    content_type: Option<&'static str>,
}

fn translate_request(
    kind: &Kind,
    method: &Method,
    content_type: &str,
    body: &Bytes,
) -> Result<Translated, TranslateError> {
    let unchanged = Translated {
        body: body.clone(),
        content_type: None,
    };
    if body.is_empty() || *method == Method::DELETE || *method == Method::GET {
        return Ok(unchanged);
    }
    if content_type.contains("protobuf") && *method == Method::PATCH {
        return Err(TranslateError::ProtobufPatch);
    }
    if content_type.starts_with("application/json-patch+json") {
        return Ok(unchanged);
    }
    let apply = content_type.starts_with("application/apply-patch+yaml");
    let smp = content_type.starts_with("application/strategic-merge-patch+json");
    let parsed: Result<Value, String> = if content_type.contains("protobuf") {
        protobuf::decode(body).map_err(|e| e.to_string())
    } else if apply || content_type.contains("yaml") {
        serde_yaml_ng::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    let mut value = parsed.map_err(TranslateError::Body)?;
    if smp {
        strip_directives(&mut value);
    }
    let is_patch = *method == Method::PATCH;
    if let Value::Object(obj) = &mut value {
        match obj.get("apiVersion").and_then(Value::as_str) {
            Some("v1") => {
                obj.insert("apiVersion".into(), private_api_version());
            }
            None if !is_patch => {
                obj.insert("apiVersion".into(), private_api_version());
            }
            _ => {}
        }
        if !is_patch && !obj.contains_key("kind") {
            obj.insert("kind".into(), Value::String(kind.kind.into()));
        }
        if let Some(Value::Array(fields)) = obj
            .get_mut("metadata")
            .and_then(|m| m.get_mut("managedFields"))
        {
            for f in fields {
                if f.get("apiVersion").and_then(Value::as_str) == Some("v1") {
                    f["apiVersion"] = private_api_version();
                }
            }
        }
        if kind.kind == "Secret" {
            fold_string_data(obj);
            // An empty type means Opaque on a real server (typed clients send "" explicitly).
            let empty = obj.get("type").and_then(Value::as_str) == Some("");
            if empty || (!is_patch && !obj.contains_key("type")) {
                obj.insert("type".into(), Value::String("Opaque".into()));
            }
        }
    }
    // Patches keep their type (a strategic one becomes a merge patch); the JSON written here
    // is also valid YAML for apply patches. Creates and updates are now JSON.
    let content_type = match (is_patch, smp) {
        (true, true) => Some("application/merge-patch+json"),
        (true, false) => None,
        (false, _) => Some("application/json"),
    };
    Ok(Translated {
        body: Bytes::from(value.to_string()),
        content_type,
    })
}

/// Keeps `as=Table` and other JSON media types; protobuf is not served for custom resources.
fn json_accept(headers: &mut HeaderMap) {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let kept: Vec<&str> = accept
        .split(',')
        .map(str::trim)
        .filter(|m| !m.contains("protobuf"))
        .collect();
    let value = if kept.is_empty() {
        "application/json".to_string()
    } else {
        kept.join(", ")
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::ACCEPT, v);
    }
}

pub async fn handle(
    ctx: &Ctx,
    info: Option<RecordedRequest>,
    method: Method,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let Some(info) = info else {
        return not_found();
    };
    let watch = info.verb == "watch";
    let Some(kind) = KINDS.iter().find(|k| k.plural == info.resource) else {
        return not_found();
    };
    let mut path = format!("/apis/{GROUP}/v1");
    if kind.namespaced
        && let Some(ns) = &info.namespace
    {
        path.push_str(&format!("/namespaces/{ns}"));
    }
    path.push('/');
    path.push_str(kind.stored_as);
    if let Some(name) = &info.name {
        path.push('/');
        path.push_str(name);
    }
    match (&info.subresource, kind.namespaced) {
        (None, _) => {}
        // The private Namespace kind has no subresources: status/finalize write the object.
        (Some(s), false) if s == "status" || s == "finalize" => {}
        (Some(_), _) => return not_found(),
    }
    if kind.plural == "events" {
        return super::core_events::handle(ctx, &info, method, query, headers, body).await;
    }
    let mut query = query.to_string();
    if watch && !query.split('&').any(|kv| kv.starts_with("watch=")) {
        query.push_str(if query.is_empty() {
            "watch=true"
        } else {
            "&watch=true"
        });
    }
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let translated = match translate_request(kind, &method, &content_type, &body) {
        Ok(t) => t,
        Err(e) => return e.response(),
    };
    let mut headers = headers.clone();
    json_accept(&mut headers);
    if let Some(ct) = translated.content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let delete_namespace = kind.plural == "namespaces" && method == Method::DELETE;
    let resp = match forward::send(&ctx.up, method, &path, &headers, translated.body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if delete_namespace
        && resp.status().is_success()
        && let Some(ns) = info.name.clone()
    {
        empty_namespace(ctx, &ns).await;
    }
    forward::relay(resp, Some(to_core), watch).await
}

/// What the namespace controller would do: delete the namespace's objects (core kinds and
/// every namespaced custom resource; finalizers then run as usual).
async fn empty_namespace(ctx: &Ctx, ns: &str) {
    let mut collections: Vec<String> = KINDS
        .iter()
        // Core Events are stored as events.k8s.io Events, emptied with the CRDs below.
        .filter(|k| k.namespaced && k.plural != "events")
        .map(|k| format!("/apis/{GROUP}/v1/namespaces/{ns}/{}", k.stored_as))
        .collect();
    if let Ok(crds) = list_crds(&ctx.up).await {
        for crd in crds {
            let s = |p: &str| crd.pointer(p).and_then(Value::as_str).unwrap_or_default();
            let storage = crd
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .and_then(|vs| {
                    vs.iter()
                        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                })
                .and_then(|v| v.get("name"))
                .and_then(Value::as_str);
            if s("/spec/scope") != "Namespaced" || s("/spec/group") == GROUP {
                continue;
            }
            if let Some(version) = storage {
                collections.push(format!(
                    "/apis/{}/{version}/namespaces/{ns}/{}",
                    s("/spec/group"),
                    s("/spec/names/plural")
                ));
            }
        }
    }
    for path in collections {
        let url = format!("{}{path}", ctx.up.base);
        if let Err(e) = ctx.up.http.delete(url).send().await {
            tracing::warn!(namespace = ns, error = %e, "front: emptying a deleted namespace");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_core_v1() {
        let body = br#"{"kind":"Status","message":"secrets.core.testbed.internal \"x\" not found","details":{"name":"x","group":"core.testbed.internal","kind":"secrets"},"apiVersion":"core.testbed.internal/v1"}"#;
        let out = String::from_utf8(to_core(body)).unwrap();
        assert!(
            out.contains(r#""message":"secrets \"x\" not found""#),
            "{out}"
        );
        assert!(out.contains(r#""group":"""#), "{out}");
        assert!(out.contains(r#""apiVersion":"v1""#), "{out}");
    }

    #[test]
    fn secret_create_folds_string_data_and_moves_group() {
        let body = Bytes::from_static(
            br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"k":"v"},"data":{"a":"Yg=="}}"#,
        );
        let t = translate_request(&KINDS[1], &Method::POST, "application/json", &body)
            .ok()
            .unwrap();
        let v: Value = serde_json::from_slice(&t.body).unwrap();
        assert_eq!(v["apiVersion"], "core.testbed.internal/v1");
        assert_eq!(v["data"]["k"], "dg==");
        assert_eq!(v["data"]["a"], "Yg==");
        assert!(v.get("stringData").is_none());
    }

    #[test]
    fn strategic_merge_patch_becomes_merge_patch() {
        let body = Bytes::from_static(
            br#"{"metadata":{"labels":{"a":"b"},"$setElementOrder/finalizers":[]},"data":{"x":"y"}}"#,
        );
        let t = translate_request(
            &KINDS[2],
            &Method::PATCH,
            "application/strategic-merge-patch+json",
            &body,
        )
        .ok()
        .unwrap();
        assert_eq!(t.content_type, Some("application/merge-patch+json"));
        let v: Value = serde_json::from_slice(&t.body).unwrap();
        assert!(v["metadata"].get("$setElementOrder/finalizers").is_none());
        assert_eq!(v["metadata"]["labels"]["a"], "b");
    }
}
