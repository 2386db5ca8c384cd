//! Responses: the JSON and error bodies with Elasticsearch's headers, and small body helpers.
//! Builds values only, no I/O.

use super::*;
/// Per-request facts the response builder needs.
pub(super) struct Ctx {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) uri: String,
    pub(super) params: Params,
    pub(super) opaque_id: Option<String>,
    pub(super) compat: Option<String>,
    pub(super) pretty: bool,
    pub(super) error_trace: bool,
    /// `X-elastic-product` exists from 7.14 on.
    pub(super) product_header: bool,
}

impl Ctx {
    pub(super) fn json(&self, status: u16, body: &Value) -> Resp {
        let text = if self.pretty {
            serde_json::to_string_pretty(body).unwrap_or_default()
        } else {
            serde_json::to_string(body).unwrap_or_default()
        };
        let body = if self.method == Method::HEAD {
            Bytes::new()
        } else {
            Bytes::from(text)
        };
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let ct = match &self.compat {
            Some(v) => format!("application/vnd.elasticsearch+json;compatible-with={v}"),
            None => "application/json".to_string(),
        };
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&ct) {
            h.insert(hyper::header::CONTENT_TYPE, v);
        }
        if self.product_header {
            h.insert(
                HeaderName::from_static("x-elastic-product"),
                HeaderValue::from_static("Elasticsearch"),
            );
        }
        if let Some(id) = &self.opaque_id
            && let Ok(v) = HeaderValue::from_str(id)
        {
            h.insert(HeaderName::from_static("x-opaque-id"), v);
        }
        r
    }

    pub(super) fn error(&self, e: &EsError) -> Resp {
        let mut body = e.body();
        if self.error_trace
            && let Some(o) = body.get_mut("error").and_then(Value::as_object_mut)
        {
            o.insert(
                "stack_trace".into(),
                json!(format!(
                    "org.elasticsearch.{}: {}\n\tat es-ml-sim (simulated)",
                    e.kind, e.reason
                )),
            );
        }
        let mut r = self.json(e.status, &body);
        if let Some(Value::Array(ch)) = e
            .extra
            .get("header")
            .and_then(|h| h.get("WWW-Authenticate"))
        {
            for c in ch.iter().filter_map(Value::as_str) {
                if let Ok(v) = HeaderValue::from_str(c) {
                    r.headers_mut().append(hyper::header::WWW_AUTHENTICATE, v);
                }
            }
        }
        r
    }
}

pub(super) enum Reply {
    Json(u16, Value),
    Drop,
}

pub(super) fn ok(v: Value) -> Result<Reply, EsError> {
    Ok(Reply::Json(200, v))
}

/// `?human`: a readable `running_time` next to `running_time_in_nanos`.
pub(super) fn add_human_running_time(v: &mut Value) {
    let Some(task) = v.get_mut("task").and_then(Value::as_object_mut) else {
        return;
    };
    let Some(ns) = task.get("running_time_in_nanos").and_then(Value::as_u64) else {
        return;
    };
    let text = if ns >= 1_000_000_000 {
        format!("{:.1}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{:.1}micros", ns as f64 / 1e3)
    };
    task.insert("running_time".into(), json!(text));
}

pub(super) fn json_bool(b: &Map<String, Value>, key: &str, default: bool) -> Result<bool, EsError> {
    match b.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(v)) => Ok(*v),
        Some(Value::String(s)) => crate::params::parse_bool(s),
        Some(_) => Err(EsError::parse(format!(
            "[1:2] Failed to parse object: expecting token of type [VALUE_BOOLEAN] for field [{key}]"
        ))),
    }
}
