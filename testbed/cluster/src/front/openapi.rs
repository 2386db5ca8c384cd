//! OpenAPI v3 (per group-version, with the index at `/openapi/v3`) and v2 documents built from
//! the CRDs' schemas — what kubectl needs for `apply` (field-validation support check) and
//! `explain`. Reads the CRDs (and the apiserver's own v3 index) over HTTP.

use std::collections::BTreeMap;

use bytes::Bytes;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::{Body, Ctx, core, forward, list_crds, status};

const META_REF: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

struct Res {
    group: String,
    version: String,
    kind: String,
    plural: String,
    namespaced: bool,
    status: bool,
    schema: Value,
}

fn resources(crds: &[Value]) -> Vec<Res> {
    let mut out = Vec::new();
    for crd in crds {
        let s = |p: &str| {
            crd.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let group = s("/spec/group");
        let kind = s("/spec/names/kind");
        let plural = s("/spec/names/plural");
        let namespaced = s("/spec/scope") == "Namespaced";
        for v in crate::crds::served_versions(crd) {
            let schema = v
                .pointer("/schema/openAPIV3Schema")
                .cloned()
                .unwrap_or_else(
                    || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                );
            out.push(Res {
                group: if group == core::GROUP {
                    String::new()
                } else {
                    group.clone()
                },
                version: v
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                kind: kind.clone(),
                plural: core::KINDS
                    .iter()
                    .find(|k| group == core::GROUP && k.stored_as == plural)
                    .map_or_else(|| plural.clone(), |k| k.plural.to_string()),
                namespaced,
                status: v.pointer("/subresources/status").is_some(),
                schema,
            });
        }
    }
    out
}

fn schema_name(r: &Res) -> String {
    if r.group.is_empty() {
        return format!("io.k8s.api.core.v1.{}", r.kind);
    }
    let reversed: Vec<&str> = r.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), r.version, r.kind)
}

fn doc_key(r: &Res) -> String {
    if r.group.is_empty() {
        "api/v1".to_string()
    } else {
        format!("apis/{}/{}", r.group, r.version)
    }
}

fn object_meta() -> Value {
    let s = |d: &str| json!({"type": "string", "description": d});
    json!({
        "description": "ObjectMeta is metadata that all persisted resources must have.",
        "type": "object",
        "properties": {
            "name": s("Name must be unique within a namespace."),
            "generateName": s("Optional prefix the server uses to generate a unique name."),
            "namespace": s("Namespace defines the space within which each name must be unique."),
            "uid": s("UID is the unique in time and space value for this object."),
            "resourceVersion": s("An opaque value that represents the internal version of this object."),
            "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
            "creationTimestamp": {"type": "string", "format": "date-time", "description": "Time the object was created."},
            "deletionTimestamp": {"type": "string", "format": "date-time", "description": "Time after which the object will be deleted."},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Map of string keys and values for organizing and categorizing objects."},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Unstructured key value map stored with a resource."},
            "finalizers": {"type": "array", "items": {"type": "string"}, "description": "Must be empty before the object is deleted from the registry."},
            "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "description": "Objects depended by this object."},
            "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}, "description": "Field ownership by workflow."}
        }
    })
}

fn gvk(r: &Res, kind: &str) -> Value {
    json!({"group": r.group, "version": r.version, "kind": kind})
}

fn param(name: &str, ty: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}})
}

fn op(r: &Res, action: &str, id: String, reference: &str, params: Vec<Value>, body: bool) -> Value {
    let ok = json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{reference}")}}}});
    let mut o = json!({
        "operationId": id,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(r, &r.kind),
        "parameters": params,
        "responses": {"200": ok},
    });
    if body {
        let mut content = Map::new();
        let types: &[&str] = if action == "patch" {
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/apply-patch+yaml",
                "application/strategic-merge-patch+json",
            ]
        } else {
            &["application/json", "application/yaml"]
        };
        for t in types {
            let schema = if action == "patch" {
                json!({"type": "object"})
            } else {
                json!({"$ref": format!("#/components/schemas/{reference}")})
            };
            content.insert((*t).to_string(), json!({"schema": schema}));
        }
        o["requestBody"] = json!({"content": content, "required": true});
    }
    o
}

fn write_params() -> Vec<Value> {
    vec![
        param("dryRun", "string"),
        param("fieldManager", "string"),
        param("fieldValidation", "string"),
    ]
}

fn add_paths(paths: &mut Map<String, Value>, r: &Res, name: &str) {
    let list_name = format!("{name}List");
    let prefix = if r.group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{}/{}", r.group, r.version)
    };
    let base = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let path_params = |with_name: bool| {
        let mut p = Vec::new();
        if with_name {
            p.push(json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}));
        }
        if r.namespaced {
            p.push(json!({"name": "namespace", "in": "path", "required": true, "schema": {"type": "string"}}));
        }
        Value::Array(p)
    };
    let k = &r.kind;
    let mut patch_params = write_params();
    patch_params.push(param("force", "boolean"));
    let list_params = vec![
        param("labelSelector", "string"),
        param("fieldSelector", "string"),
        param("resourceVersion", "string"),
        param("watch", "boolean"),
        param("limit", "integer"),
        param("continue", "string"),
    ];
    paths.insert(
        base.clone(),
        json!({
            "get": op(r, "list", format!("list{k}"), &list_name, list_params.clone(), false),
            "post": op(r, "post", format!("create{k}"), name, write_params(), true),
            "delete": op(r, "deletecollection", format!("deleteCollection{k}"), name, vec![], false),
            "parameters": path_params(false),
        }),
    );
    paths.insert(
        format!("{base}/{{name}}"),
        json!({
            "get": op(r, "get", format!("read{k}"), name, vec![], false),
            "put": op(r, "put", format!("replace{k}"), name, write_params(), true),
            "patch": op(r, "patch", format!("patch{k}"), name, patch_params.clone(), true),
            "delete": op(r, "delete", format!("delete{k}"), name, vec![], false),
            "parameters": path_params(true),
        }),
    );
    if r.status {
        paths.insert(
            format!("{base}/{{name}}/status"),
            json!({
                "get": op(r, "get", format!("read{k}Status"), name, vec![], false),
                "put": op(r, "put", format!("replace{k}Status"), name, write_params(), true),
                "patch": op(r, "patch", format!("patch{k}Status"), name, patch_params, true),
                "parameters": path_params(true),
            }),
        );
    }
    if r.namespaced {
        paths.insert(
            format!("{prefix}/{}", r.plural),
            json!({"get": op(r, "list", format!("list{k}ForAllNamespaces"), &list_name, list_params, false)}),
        );
    }
}

fn component(r: &Res) -> Value {
    let mut schema = r.schema.clone();
    if let Value::Object(obj) = &mut schema {
        let props = obj
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(props) = props {
            props.entry("apiVersion").or_insert_with(|| json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
            props.entry("kind").or_insert_with(|| json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
            let meta = json!({"$ref": format!("#/components/schemas/{META_REF}"), "description": "Standard object's metadata."});
            match props.get("metadata") {
                Some(m) if m.get("properties").is_some() => {}
                _ => {
                    props.insert("metadata".into(), meta);
                }
            }
        }
        obj.insert(
            "x-kubernetes-group-version-kind".into(),
            json!([gvk(r, &r.kind)]),
        );
    }
    schema
}

/// The generated v3 documents, keyed like the index (`api/v1`, `apis/<g>/<v>`).
fn documents(crds: &[Value]) -> BTreeMap<String, Value> {
    // Per document: (paths, component schemas).
    type Parts = (Map<String, Value>, Map<String, Value>);
    let mut docs: BTreeMap<String, Parts> = BTreeMap::new();
    for r in resources(crds) {
        let (paths, schemas) = docs.entry(doc_key(&r)).or_default();
        let name = schema_name(&r);
        add_paths(paths, &r, &name);
        schemas.insert(name.clone(), component(&r));
        schemas.insert(
            format!("{name}List"),
            json!({
                "type": "object",
                "required": ["items"],
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "items": {"type": "array", "items": {"$ref": format!("#/components/schemas/{name}")}},
                    "metadata": {"type": "object"}
                },
                "x-kubernetes-group-version-kind": [gvk(&r, &format!("{}List", r.kind))],
            }),
        );
        schemas.insert(META_REF.to_string(), object_meta());
    }
    docs.into_iter()
        .map(|(k, (paths, schemas))| {
            let doc = json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": "unversioned"},
                "paths": paths,
                "components": {"schemas": schemas},
            });
            (k, doc)
        })
        .collect()
}

/// FNV-1a: only needs to change when the document does (clients cache by this URL).
fn hash(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

pub async fn index(ctx: &Ctx) -> Response<Body> {
    let crds = match list_crds(&ctx.up).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut paths = Map::new();
    // The apiserver's own entries (apiextensions.k8s.io and friends).
    if let Ok(resp) = ctx
        .up
        .http
        .get(format!("{}/openapi/v3", ctx.up.base))
        .send()
        .await
        && let Ok(Value::Object(mut upstream)) = resp.json::<Value>().await
        && let Some(Value::Object(p)) = upstream.remove("paths")
    {
        paths.extend(p);
    }
    for (key, doc) in documents(&crds) {
        let url = format!("/openapi/v3/{key}?hash={}", hash(&doc.to_string()));
        paths.insert(key, json!({"serverRelativeURL": url}));
    }
    forward::json(StatusCode::OK, &json!({"paths": paths}))
}

pub async fn document(
    ctx: &Ctx,
    path: &str,
    method: Method,
    path_q: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let key = path
        .trim_start_matches("/openapi/v3/")
        .trim_end_matches('/');
    let crds = match list_crds(&ctx.up).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match documents(&crds).remove(key) {
        Some(doc) => forward::json(StatusCode::OK, &doc),
        None => forward::pass(&ctx.up, method, path_q, headers, body).await,
    }
}

pub async fn v2(ctx: &Ctx, headers: &HeaderMap) -> Response<Body> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    if !accept.contains("json") && !accept.contains("*/*") {
        return status(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            "the test bed serves /openapi/v2 as JSON only",
        );
    }
    let crds = match list_crds(&ctx.up).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut definitions = Map::new();
    for doc in documents(&crds).into_values() {
        if let Some(Value::Object(schemas)) = doc.pointer("/components/schemas").cloned() {
            definitions.extend(schemas);
        }
    }
    let text = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": {},
        "definitions": definitions,
    })
    .to_string()
    .replace("#/components/schemas/", "#/definitions/");
    let mut r = Response::new(forward::full(Bytes::from(text)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_operation_advertises_field_validation_for_its_kind() {
        let crd = json!({
            "spec": {"group": "test.jobreset.io", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object"}}}},
                    "subresources": {"status": {}}}]}
        });
        let docs = documents(&[crd]);
        let doc = &docs["apis/test.jobreset.io/v1"];
        let patch = &doc["paths"]["/apis/test.jobreset.io/v1/namespaces/{namespace}/widgets/{name}"]
            ["patch"];
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Widget");
        let params = patch["parameters"].as_array().unwrap();
        assert!(
            params
                .iter()
                .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
        );
        let schema = &doc["components"]["schemas"]["io.jobreset.test.v1.Widget"];
        assert_eq!(
            schema["x-kubernetes-group-version-kind"][0]["group"],
            "test.jobreset.io"
        );
        assert!(schema["properties"]["spec"].is_object());
    }
}
