//! Container environment: `env` entries validated (plain values and `valueFrom.fieldRef`; other
//! sources are refused) and resolved for one pod (the downward API). No I/O.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;

/// What the runner reports for `status.podIP`/`status.hostIP`: pods share the host network.
pub(crate) const POD_IP: &str = "127.0.0.1";

/// Where an environment variable's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum EnvSource {
    Value(String),
    Field(FieldPath),
}

/// The `fieldRef.fieldPath`s the runner knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FieldPath {
    Name,
    Namespace,
    Uid,
    NodeName,
    ServiceAccount,
    PodIp,
    HostIp,
    Label(String),
    Annotation(String),
}

fn parse_field(path: &str) -> Result<FieldPath, String> {
    let key = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_string)
    };
    Ok(match path {
        "metadata.name" => FieldPath::Name,
        "metadata.namespace" => FieldPath::Namespace,
        "metadata.uid" => FieldPath::Uid,
        "spec.nodeName" => FieldPath::NodeName,
        "spec.serviceAccountName" => FieldPath::ServiceAccount,
        "status.podIP" | "status.podIPs" => FieldPath::PodIp,
        "status.hostIP" | "status.hostIPs" => FieldPath::HostIp,
        _ => {
            if let Some(k) = key("metadata.labels['") {
                FieldPath::Label(k)
            } else if let Some(k) = key("metadata.annotations['") {
                FieldPath::Annotation(k)
            } else {
                return Err(format!("fieldRef.fieldPath {path:?} is not supported"));
            }
        }
    })
}

/// Validates a container's `env`; `Err` names the variable and the problem.
pub(crate) fn parse_env(vars: &[EnvVar]) -> Result<Vec<(String, EnvSource)>, String> {
    let mut out = Vec::with_capacity(vars.len());
    for v in vars {
        if v.name.is_empty() || v.name.contains('=') || v.name.contains('\0') {
            return Err(format!("env name {:?} is invalid", v.name));
        }
        let src = match (&v.value, &v.value_from) {
            (_, None) => EnvSource::Value(v.value.clone().unwrap_or_default()),
            (Some(_), Some(_)) => {
                return Err(format!("env {}: value and valueFrom are exclusive", v.name));
            }
            (None, Some(from)) => {
                let Some(f) = &from.field_ref else {
                    return Err(format!(
                        "env {}: only valueFrom.fieldRef is supported (no secretKeyRef, \
                         configMapKeyRef or resourceFieldRef)",
                        v.name
                    ));
                };
                if f.api_version.as_deref().is_some_and(|a| a != "v1") {
                    return Err(format!(
                        "env {}: fieldRef.apiVersion {:?} (only v1)",
                        v.name, f.api_version
                    ));
                }
                EnvSource::Field(
                    parse_field(&f.field_path).map_err(|e| format!("env {}: {e}", v.name))?,
                )
            }
        };
        if let EnvSource::Value(s) = &src
            && s.contains('\0')
        {
            return Err(format!("env {}: value contains a NUL byte", v.name));
        }
        out.push((v.name.clone(), src));
    }
    Ok(out)
}

/// What the downward API can tell about a pod.
pub(crate) struct PodFacts<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    pub node_name: &'a str,
    pub service_account: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
}

/// The value of one variable in a pod (a missing label or annotation is empty, as in
/// Kubernetes).
pub(crate) fn resolve(src: &EnvSource, pod: &PodFacts<'_>) -> String {
    let f = match src {
        EnvSource::Value(v) => return v.clone(),
        EnvSource::Field(f) => f,
    };
    match f {
        FieldPath::Name => pod.name.to_string(),
        FieldPath::Namespace => pod.namespace.to_string(),
        FieldPath::Uid => pod.uid.to_string(),
        FieldPath::NodeName => pod.node_name.to_string(),
        FieldPath::ServiceAccount => pod.service_account.to_string(),
        FieldPath::PodIp | FieldPath::HostIp => POD_IP.to_string(),
        FieldPath::Label(k) => pod.labels.get(k).cloned().unwrap_or_default(),
        FieldPath::Annotation(k) => pod.annotations.get(k).cloned().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EnvVarSource, ObjectFieldSelector, SecretKeySelector};

    fn field(name: &str, path: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: path.into(),
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn resolves_field_refs() {
        let vars = vec![
            EnvVar {
                name: "PLAIN".into(),
                value: Some("v".into()),
                value_from: None,
            },
            field("N", "metadata.name"),
            field("NS", "metadata.namespace"),
            field("NODE", "spec.nodeName"),
            field("IP", "status.podIP"),
            field("SA", "spec.serviceAccountName"),
            field("L", "metadata.labels['app']"),
            field("A", "metadata.annotations['missing']"),
        ];
        let parsed = parse_env(&vars).unwrap();
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let facts = PodFacts {
            name: "p",
            namespace: "ns",
            uid: "u",
            node_name: "node",
            service_account: "sa",
            labels: &labels,
            annotations: &BTreeMap::new(),
        };
        let got: Vec<String> = parsed.iter().map(|(_, s)| resolve(s, &facts)).collect();
        assert_eq!(got, ["v", "p", "ns", "node", POD_IP, "sa", "web", ""]);
    }

    #[test]
    fn refuses_other_sources() {
        let mut v = field("S", "metadata.name");
        v.value_from = Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                key: "k".into(),
                name: "s".into(),
                optional: None,
            }),
            ..Default::default()
        });
        assert!(parse_env(&[v]).unwrap_err().contains("env S"));
        assert!(
            parse_env(&[field("X", "spec.hostname")])
                .unwrap_err()
                .contains("spec.hostname")
        );
    }
}
