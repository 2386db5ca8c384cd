//! Installs CustomResourceDefinitions (server-side apply) and waits until they are Established
//! and their resources answer. Reads manifest files and does HTTP to the apiserver.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::error::BedError;

const CRD_PATH: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const ESTABLISH_DEADLINE: Duration = Duration::from_secs(30);

/// The bed's own CRDs: core/v1 kinds in a private group, Leases and events.k8s.io Events.
pub fn builtin() -> Result<Vec<Value>, BedError> {
    let mut out = Vec::new();
    for (name, text) in [
        ("builtin/core.yaml", include_str!("builtin/core.yaml")),
        (
            "builtin/coordination.yaml",
            include_str!("builtin/coordination.yaml"),
        ),
        ("builtin/events.yaml", include_str!("builtin/events.yaml")),
    ] {
        out.extend(parse_documents(Path::new(name), text)?);
    }
    Ok(out)
}

fn parse_documents(path: &Path, text: &str) -> Result<Vec<Value>, BedError> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| BedError::Manifest {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        if value.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition") {
            out.push(value);
        }
    }
    Ok(out)
}

/// Every CRD document in `*.yaml`, `*.yml` and `*.json` files of `dir` (sorted by file name).
/// A missing or empty directory gives none.
pub fn load_dir(dir: &Path) -> Result<Vec<Value>, BedError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BedError::io("reading a CRD manifest", &path, e))?;
        out.extend(parse_documents(&path, &text)?);
    }
    Ok(out)
}

/// The versions of a CRD that are served (`spec.versions[]` with `served: true`).
pub fn served_versions(crd: &Value) -> impl Iterator<Item = &Value> {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool) == Some(true))
}

fn crd_name(crd: &Value) -> Option<&str> {
    crd.pointer("/metadata/name").and_then(Value::as_str)
}

/// Applies the CRDs and waits until each is Established and its storage version lists.
pub async fn install(http: &reqwest::Client, base: &str, crds: &[Value]) -> Result<(), BedError> {
    for crd in crds {
        let Some(name) = crd_name(crd) else {
            return Err(BedError::Manifest {
                path: "<crd>".into(),
                detail: "a CustomResourceDefinition without metadata.name".into(),
            });
        };
        let url = format!("{base}{CRD_PATH}/{name}?fieldManager=testbed&force=true");
        let resp = http
            .patch(&url)
            .header("content-type", "application/apply-patch+yaml")
            .body(crd.to_string())
            .send()
            .await
            .map_err(|source| BedError::Http {
                context: format!("applying CRD {name}"),
                source,
            })?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            return Err(BedError::Api {
                context: format!("applying CRD {name}"),
                status,
                body,
            });
        }
    }
    for crd in crds {
        wait_served(http, base, crd).await?;
    }
    Ok(())
}

async fn wait_served(http: &reqwest::Client, base: &str, crd: &Value) -> Result<(), BedError> {
    let name = crd_name(crd).unwrap_or_default();
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = crd
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = served_versions(crd)
        .next()
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let deadline = Instant::now() + ESTABLISH_DEADLINE;
    let mut last = String::from("not Established yet");
    loop {
        if established(http, base, name).await? {
            let url = format!("{base}/apis/{group}/{version}/{plural}?limit=1");
            match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("listing {plural}: HTTP {}", r.status()),
                Err(e) => last = e.to_string(),
            }
        }
        if Instant::now() > deadline {
            return Err(BedError::NotReady {
                what: format!("CRD {name}"),
                detail: last,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn established(http: &reqwest::Client, base: &str, name: &str) -> Result<bool, BedError> {
    let resp = http
        .get(format!("{base}{CRD_PATH}/{name}"))
        .send()
        .await
        .map_err(|source| BedError::Http {
            context: format!("reading CRD {name}"),
            source,
        })?;
    if !resp.status().is_success() {
        return Ok(false);
    }
    let crd: Value = resp.json().await.map_err(|source| BedError::Http {
        context: format!("reading CRD {name}"),
        source,
    })?;
    let conditions = crd
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(conditions.iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("Established")
            && c.get("status").and_then(Value::as_str) == Some("True")
    }))
}
