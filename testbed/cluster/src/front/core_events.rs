//! core/v1 Events served from the `events.k8s.io/v1` Events, their only storage, as one
//! resource is in a real cluster: reads (get, list, watch, tables) are converted to the core
//! form, core writes (create, update, patch, delete) are converted to events.k8s.io and stored
//! there. One apiserver request per client request. HTTP to the apiserver.

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::core::{replace_all, strip_directives};
use super::event_convert::{
    field_selector_from_core, from_core, json_patch_from_core, patch_from_core, table_cells,
    table_columns, to_core,
};
use super::reqinfo::RecordedRequest;
use super::{Body, Ctx, forward, status};

/// How a reader wants its answer: plain objects, or a Table and what its rows carry.
#[derive(Clone, Copy)]
enum Shape {
    Objects,
    Table(RowObject),
}

#[derive(Clone, Copy)]
enum RowObject {
    None,
    Metadata,
    Object,
}

fn shape(headers: &HeaderMap, include_object: Option<&str>) -> Shape {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accept.contains("as=Table") {
        return Shape::Objects;
    }
    Shape::Table(match include_object {
        Some("None") => RowObject::None,
        Some("Object") => RowObject::Object,
        _ => RowObject::Metadata,
    })
}

/// The query for the events.k8s.io request (field selector renamed) and `includeObject`,
/// which the front applies itself.
fn translate_query(query: &str, watch: bool) -> (String, Option<String>) {
    let mut include_object = None;
    let mut out = form_urlencoded::Serializer::new(String::new());
    let mut has_watch = false;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "includeObject" => include_object = Some(v.into_owned()),
            "fieldSelector" => {
                out.append_pair("fieldSelector", &field_selector_from_core(&v));
            }
            other => {
                has_watch |= other == "watch";
                out.append_pair(other, &v);
            }
        }
    }
    if watch && !has_watch {
        out.append_pair("watch", "true");
    }
    (out.finish(), include_object)
}

fn path(info: &RecordedRequest) -> String {
    let mut p = String::from("/apis/events.k8s.io/v1");
    if let Some(ns) = &info.namespace {
        p.push_str(&format!("/namespaces/{ns}"));
    }
    p.push_str("/events");
    if let Some(name) = &info.name {
        p.push('/');
        p.push_str(name);
    }
    p
}

/// A `Status` of the events.k8s.io resource as the core resource's (`events "x" not found`).
fn status_to_core(body: &[u8]) -> Vec<u8> {
    let b = replace_all(body, b"events.events.k8s.io", b"events");
    let b = replace_all(&b, b"\"group\":\"events.k8s.io\"", b"\"group\":\"\"");
    replace_all(&b, b"\"events.k8s.io/v1\"", b"\"v1\"")
}

fn now_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// An events.k8s.io answer (Event, EventList, Status) in the core form the reader asked for.
fn answer_to_core(v: &Value, shape: Shape) -> Value {
    match v.get("kind").and_then(Value::as_str) {
        Some("Event") => match shape {
            Shape::Objects => to_core(v),
            Shape::Table(o) => table(&[to_core(v)], &json!({}), o, true),
        },
        Some("EventList") => {
            let items: Vec<Value> = v
                .get("items")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(to_core).collect())
                .unwrap_or_default();
            let meta = v.get("metadata").cloned().unwrap_or_else(|| json!({}));
            match shape {
                Shape::Objects => {
                    json!({"kind": "EventList", "apiVersion": "v1", "metadata": meta, "items": items})
                }
                Shape::Table(o) => table(&items, &meta, o, true),
            }
        }
        _ => serde_json::from_slice(&status_to_core(v.to_string().as_bytes()))
            .unwrap_or_else(|_| v.clone()),
    }
}

fn table(items: &[Value], meta: &Value, object: RowObject, headers: bool) -> Value {
    let now = now_seconds();
    let rows: Vec<Value> = items
        .iter()
        .map(|core| {
            let mut row = json!({"cells": table_cells(core, now)});
            match object {
                RowObject::None => {}
                RowObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": core.get("metadata").cloned().unwrap_or_else(|| json!({})),
                    });
                }
                RowObject::Object => row["object"] = core.clone(),
            }
            row
        })
        .collect();
    let mut t =
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "rows": rows});
    if headers {
        t["columnDefinitions"] = table_columns();
    }
    t
}

/// One watch event line in core form; a Table watch sends column definitions once.
fn watch_line(line: &[u8], shape: Shape, first: &mut bool) -> Vec<u8> {
    let Ok(mut ev) = serde_json::from_slice::<Value>(line) else {
        return line.to_vec();
    };
    let kind = ev
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(obj) = ev.get("object") else {
        return line.to_vec();
    };
    let converted = match (kind.as_str(), shape) {
        ("BOOKMARK", _) => {
            let mut o = obj.clone();
            o["apiVersion"] = json!("v1");
            o
        }
        ("ERROR", _) => answer_to_core(obj, Shape::Objects),
        (_, Shape::Objects) => to_core(obj),
        (_, Shape::Table(o)) => {
            let t = table(&[to_core(obj)], &json!({}), o, *first);
            *first = false;
            t
        }
    };
    ev["object"] = converted;
    let mut out = ev.to_string().into_bytes();
    out.push(b'\n');
    out
}

fn parse_body(content_type: &str, body: &Bytes) -> Result<Value, String> {
    if content_type.contains("yaml") {
        serde_yaml_ng::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
}

/// Why a core Event write could not be translated.
enum WriteError {
    Protobuf,
    Body(String),
}

impl WriteError {
    fn response(self) -> Response<Body> {
        match self {
            WriteError::Protobuf => status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "the test bed accepts JSON or YAML bodies for core Events",
            ),
            WriteError::Body(e) => status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("the request body is not valid: {e}"),
            ),
        }
    }
}

/// The events.k8s.io body and content type for a core write.
fn translate_write(
    method: &Method,
    content_type: &str,
    body: &Bytes,
) -> Result<(Bytes, &'static str), WriteError> {
    if body.is_empty() || *method == Method::DELETE {
        return Ok((body.clone(), "application/json"));
    }
    if content_type.contains("protobuf") {
        return Err(WriteError::Protobuf);
    }
    let mut value = parse_body(content_type, body).map_err(WriteError::Body)?;
    let (value, ct) = if *method != Method::PATCH {
        let now = jiff::Timestamp::now()
            .round(jiff::Unit::Microsecond)
            .map(|t| t.to_string())
            .unwrap_or_default();
        (from_core(&value, &now), "application/json")
    } else if content_type.starts_with("application/json-patch+json") {
        (json_patch_from_core(&value), "application/json-patch+json")
    } else if content_type.starts_with("application/apply-patch+yaml") {
        (patch_from_core(&value), "application/apply-patch+yaml")
    } else {
        // A strategic merge patch becomes a merge patch: Events have no merge-keyed lists.
        strip_directives(&mut value);
        (patch_from_core(&value), "application/merge-patch+json")
    };
    Ok((Bytes::from(value.to_string()), ct))
}

pub async fn handle(
    ctx: &Ctx,
    info: &RecordedRequest,
    method: Method,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let watch = info.verb == "watch";
    let (query, include_object) = translate_query(query, watch);
    let shape = shape(headers, include_object.as_deref());
    let mut target = path(info);
    if !query.is_empty() {
        target.push('?');
        target.push_str(&query);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    let (body, ct) = match translate_write(&method, &content_type, &body) {
        Ok(t) => t,
        Err(e) => return e.response(),
    };
    let mut out = headers.clone();
    out.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    let resp = match forward::send(&ctx.up, method, &target, &out, body).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if watch && resp.status().is_success() {
        let mut first = true;
        return forward::relay_lines(resp, move |lines| {
            lines
                .split_inclusive(|b| *b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .flat_map(|l| watch_line(l, shape, &mut first))
                .collect()
        });
    }
    let (code, _, answer) = match forward::buffered(resp).await {
        Ok(parts) => parts,
        Err(r) => return r,
    };
    match serde_json::from_slice::<Value>(&answer) {
        Ok(v) => forward::json(code, &answer_to_core(&v, shape)),
        Err(_) => {
            let mut r = Response::new(forward::full(Bytes::from(status_to_core(&answer))));
            *r.status_mut() = code;
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_events_k8s_io_fields() {
        let (q, include) = translate_query(
            "fieldSelector=involvedObject.name%3Dw%2CinvolvedObject.kind%3DWidget&includeObject=Object&limit=500",
            false,
        );
        assert_eq!(include.as_deref(), Some("Object"));
        let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (
                    "fieldSelector".into(),
                    "regarding.name=w,regarding.kind=Widget".into()
                ),
                ("limit".into(), "500".into())
            ]
        );
        let (q, _) = translate_query("resourceVersion=5", true);
        assert_eq!(q, "resourceVersion=5&watch=true");
    }

    #[test]
    fn watch_lines_read_as_core_events() {
        let line = br#"{"type":"ADDED","object":{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e","namespace":"n","resourceVersion":"9"},"eventTime":"2026-01-01T00:00:00Z","note":"hi","regarding":{"name":"w"}}}"#;
        let mut first = true;
        let out: Value =
            serde_json::from_slice(&watch_line(line, Shape::Objects, &mut first)).unwrap();
        assert_eq!(out["object"]["apiVersion"], "v1");
        assert_eq!(out["object"]["message"], "hi");
        assert_eq!(out["object"]["involvedObject"]["name"], "w");
        let t: Value = serde_json::from_slice(&watch_line(
            line,
            Shape::Table(RowObject::Metadata),
            &mut first,
        ))
        .unwrap();
        assert_eq!(t["object"]["kind"], "Table");
        assert!(t["object"]["columnDefinitions"].is_array());
        assert_eq!(t["object"]["rows"][0]["cells"][0], "e");
        let again: Value = serde_json::from_slice(&watch_line(
            line,
            Shape::Table(RowObject::Metadata),
            &mut first,
        ))
        .unwrap();
        assert!(again["object"].get("columnDefinitions").is_none());
    }

    #[test]
    fn statuses_name_the_core_resource() {
        let s = br#"{"kind":"Status","apiVersion":"v1","message":"events.events.k8s.io \"x\" not found","details":{"name":"x","group":"events.k8s.io","kind":"events"}}"#;
        let out = String::from_utf8(status_to_core(s)).unwrap();
        assert!(
            out.contains(r#""message":"events \"x\" not found""#),
            "{out}"
        );
        assert!(out.contains(r#""group":"""#), "{out}");
    }
}
