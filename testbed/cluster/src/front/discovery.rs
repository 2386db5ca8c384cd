//! Legacy discovery documents: `/api`, `/api/v1` (the core kinds the front serves) and `/apis`
//! (apiextensions plus every CRD group). `/apis` reads the CRDs from the apiserver.

use std::collections::BTreeMap;

use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use super::{Body, Ctx, core, forward, list_crds};

pub fn api(ctx: &Ctx) -> Response<Body> {
    forward::json(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ctx.addr.to_string()}],
        }),
    )
}

pub fn core_v1() -> Response<Body> {
    let mut resources = Vec::new();
    for kind in core::KINDS {
        let mut verbs = vec![
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        if kind.namespaced {
            verbs.insert(1, "deletecollection");
        }
        let mut r = json!({
            "name": kind.plural,
            "singularName": kind.singular,
            "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": verbs,
        });
        if !kind.short.is_empty() {
            r["shortNames"] = json!([kind.short]);
        }
        resources.push(r);
        if kind.plural == "namespaces" {
            resources.push(json!({"name": "namespaces/status", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["get", "patch", "update"]}));
            resources.push(json!({"name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]}));
        }
    }
    forward::json(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}),
    )
}

/// Kubernetes version order: GA before beta before alpha, higher numbers first.
pub fn version_rank(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, minor) = if let Some(n) = tail.strip_prefix("beta") {
        (1, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (0, n.parse().unwrap_or(0))
    } else if tail.is_empty() {
        (2, 0)
    } else {
        return (0, 0, 0);
    };
    (stage, major, minor)
}

/// Served versions per group, best first.
pub fn groups(crds: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for crd in crds {
        let Some(group) = crd.pointer("/spec/group").and_then(Value::as_str) else {
            continue;
        };
        if group == core::GROUP {
            continue;
        }
        let versions = out.entry(group.to_string()).or_default();
        for v in crate::crds::served_versions(crd) {
            if let Some(name) = v.get("name").and_then(Value::as_str)
                && !versions.iter().any(|x| x == name)
            {
                versions.push(name.to_string());
            }
        }
    }
    for versions in out.values_mut() {
        versions.sort_by_key(|v| std::cmp::Reverse(version_rank(v)));
    }
    out.retain(|_, v| !v.is_empty());
    out
}

fn group_entry(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs.first().cloned().unwrap_or(Value::Null)})
}

pub async fn apis(ctx: &Ctx) -> Response<Body> {
    let crds = match list_crds(&ctx.up).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut list = vec![group_entry("apiextensions.k8s.io", &["v1".to_string()])];
    for (name, versions) in groups(&crds) {
        list.push(group_entry(&name, &versions));
    }
    forward::json(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_like_kubernetes() {
        let mut v = vec!["v1alpha1", "v2beta1", "v1", "v1beta2", "v2"];
        v.sort_by_key(|v| std::cmp::Reverse(version_rank(v)));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1alpha1"]);
    }
}
