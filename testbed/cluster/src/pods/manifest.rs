//! Rendering (`kubectl kustomize`, which runs a process) and parsing (no I/O) of the
//! multi-document YAML the pod runner is given: Namespaces and apps/v1 Deployments are typed,
//! every other object is kept as a `DynamicObject` for callers to inspect.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DynamicObject, ObjectMeta};
use serde::Deserialize;
use serde_json::Value;

use super::error::PodError;

/// The objects of a manifest stream, in document order within each kind.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// `v1 Namespace`: created in the bed.
    pub namespaces: Vec<Namespace>,
    /// `apps/v1 Deployment`: run by the pod runner.
    pub deployments: Vec<Deployment>,
    /// Everything else (ServiceAccount, ClusterRole, ...): not applied (the bed has no RBAC or
    /// ServiceAccount API), kept for inspection (`DynamicObject::try_parse`).
    pub others: Vec<DynamicObject>,
}

/// Runs the installed `kubectl kustomize DIR` and returns what it prints.
pub fn render_kustomize(dir: &Path) -> Result<String, PodError> {
    let fail = |detail: String| PodError::Kustomize {
        dir: dir.to_path_buf(),
        detail,
    };
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| fail(format!("running kubectl: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| fail(format!("output is not UTF-8: {e}")))
}

/// `Kind namespace/name` (or `Kind name`) of a raw object, for messages.
pub(crate) fn describe(v: &Value) -> String {
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("<no kind>");
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<no name>");
    match v.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// `Deployment namespace/name`, for messages.
pub(crate) fn describe_deployment(d: &Deployment) -> String {
    format!(
        "Deployment {}/{}",
        d.metadata.namespace.as_deref().unwrap_or("default"),
        d.metadata.name.as_deref().unwrap_or("<no name>")
    )
}

/// Parses a multi-document YAML stream (`---` separated; empty documents and `kind: List`
/// wrappers are handled).
pub fn parse_manifests(yaml: &str) -> Result<Manifests, PodError> {
    let mut out = Manifests::default();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(yaml).enumerate() {
        let n = i + 1;
        let value = Value::deserialize(doc).map_err(|e| PodError::Yaml {
            doc: n,
            detail: e.to_string(),
        })?;
        add_object(&mut out, n, value)?;
    }
    Ok(out)
}

fn add_object(out: &mut Manifests, doc: usize, value: Value) -> Result<(), PodError> {
    if value.is_null() {
        return Ok(());
    }
    if !value.is_object() {
        return Err(PodError::Yaml {
            doc,
            detail: "not a mapping".into(),
        });
    }
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    let invalid = |detail: String| PodError::Invalid {
        object: format!("document {doc}: {}", describe(&value)),
        detail,
    };
    match (api_version, kind) {
        (None, _) | (_, None) => Err(invalid("apiVersion and kind are required".into())),
        (Some("v1"), Some(k)) if k.ends_with("List") => {
            let items = match value.get("items") {
                Some(Value::Array(items)) => items.clone(),
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Err(invalid("items is not a list".into())),
            };
            for item in items {
                add_object(out, doc, item)?;
            }
            Ok(())
        }
        (Some("v1"), Some("Namespace")) => {
            let ns: Namespace =
                serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
            if ns.metadata.name.as_deref().unwrap_or("").is_empty() {
                return Err(invalid("metadata.name is required".into()));
            }
            out.namespaces.push(ns);
            Ok(())
        }
        (Some("apps/v1"), Some("Deployment")) => {
            let d: Deployment =
                serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
            if d.metadata.name.as_deref().unwrap_or("").is_empty() {
                return Err(invalid("metadata.name is required".into()));
            }
            out.deployments.push(d);
            Ok(())
        }
        _ => {
            let obj: DynamicObject =
                serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
            out.others.push(obj);
            Ok(())
        }
    }
}

impl Manifests {
    /// Moves every namespaced object into `ns`, as `kustomize edit set namespace` would: the
    /// Deployments and the objects that have a namespace get `ns`, and the Namespace objects
    /// are replaced by one named `ns`.
    pub fn set_namespace(&mut self, ns: &str) {
        for d in &mut self.deployments {
            d.metadata.namespace = Some(ns.to_string());
        }
        for o in &mut self.others {
            if o.metadata.namespace.is_some() {
                o.metadata.namespace = Some(ns.to_string());
            }
        }
        self.namespaces = vec![Namespace {
            metadata: ObjectMeta {
                name: Some(ns.to_string()),
                ..Default::default()
            },
            ..Default::default()
        }];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: ns1}
---
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa, namespace: ns1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ns1}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - {name: c, image: img:1}
---
apiVersion: v1
kind: List
items:
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata: {name: role}
"#;

    #[test]
    fn sorts_objects_by_kind() {
        let m = parse_manifests(STREAM).unwrap();
        assert_eq!(m.namespaces.len(), 1);
        assert_eq!(m.deployments.len(), 1);
        let kinds: Vec<_> = m
            .others
            .iter()
            .map(|o| o.types.as_ref().unwrap().kind.clone())
            .collect();
        assert_eq!(kinds, ["ServiceAccount", "ClusterRole"]);
    }

    #[test]
    fn namespace_override_moves_namespaced_objects() {
        let mut m = parse_manifests(STREAM).unwrap();
        m.set_namespace("other");
        assert_eq!(
            m.deployments[0].metadata.namespace.as_deref(),
            Some("other")
        );
        assert_eq!(m.others[0].metadata.namespace.as_deref(), Some("other"));
        assert_eq!(m.others[1].metadata.namespace, None);
        assert_eq!(m.namespaces[0].metadata.name.as_deref(), Some("other"));
    }

    #[test]
    fn bad_documents_are_errors_naming_them() {
        let e = parse_manifests("a: [").unwrap_err();
        assert!(matches!(e, PodError::Yaml { doc: 1, .. }), "{e}");
        let e = parse_manifests("---\nkind: Deployment\n").unwrap_err();
        assert!(e.to_string().contains("apiVersion and kind"), "{e}");
        let e = parse_manifests(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: 3\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("Deployment x"), "{e}");
        let e = parse_manifests("- 1\n").unwrap_err();
        assert!(e.to_string().contains("not a mapping"), "{e}");
    }
}
