//! Attaching to a bed another process runs (`testbed up`): reads its state directory
//! (`kubeconfig`, `env`, `ca.crt`) and reaches the front's `/testbed/` endpoints (request
//! record, faults, watches, apiserver restart) over HTTP.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde_json::Value;

use crate::bed::TestBed;
use crate::error::BedError;
use crate::front::reqinfo::RecordedRequest;
use crate::tls;

/// Names the state directory of a running `testbed up` for `TestBed::shared()` to attach to.
pub const ENV: &str = "TESTBED_STATE_DIR";

fn read(dir: &Path, name: &str) -> Result<String, BedError> {
    let path = dir.join(name);
    std::fs::read_to_string(&path).map_err(|e| BedError::io("attaching to a test bed", &path, e))
}

fn server_of(dir: &Path, name: &str) -> Result<String, BedError> {
    let text = read(dir, name)?;
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| BedError::Manifest {
            path: dir.join(name),
            detail: e.to_string(),
        })?;
    doc.get("clusters")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("cluster"))
        .and_then(|c| c.get("server"))
        .and_then(serde_yaml_ng::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| BedError::Manifest {
            path: dir.join(name),
            detail: "no clusters[0].cluster.server".into(),
        })
}

impl TestBed {
    /// A handle on the bed `testbed up --state-dir dir` runs. `stop` leaves it running.
    pub fn attach(dir: &Path) -> Result<TestBed, BedError> {
        if !dir.join("ready").exists() {
            return Err(BedError::NotReady {
                what: format!("test bed in {}", dir.display()),
                detail: "no `ready` file: run `testbed up --state-dir` on it first".into(),
            });
        }
        let es_url = read(dir, "env")?
            .lines()
            .find_map(|l| l.strip_prefix("ES_URL="))
            .map(str::to_string);
        Ok(TestBed {
            state_dir: dir.to_path_buf(),
            kubeconfig: dir.join("kubeconfig"),
            front_url: server_of(dir, "kubeconfig")?,
            es_url,
            owned: None,
            ca_pem: read(dir, "ca.crt")?,
            stopped: AtomicBool::new(false),
        })
    }
}

/// `method /testbed/<path>` on the front of an attached bed, with an optional JSON body;
/// the JSON answer. A non-2xx answer is `BedError::Api`.
pub(crate) async fn control_async(
    front_url: &str,
    ca_pem: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<serde_json::Value, BedError> {
    let context = || format!("{method} /testbed/{path} on {front_url}");
    let http = tls::ca_only_http(ca_pem)?;
    let mut req = http.request(method.clone(), format!("{front_url}/testbed/{path}"));
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req.send().await.map_err(|source| BedError::Http {
        context: context(),
        source,
    })?;
    let code = resp.status();
    let text = resp.text().await.map_err(|source| BedError::Http {
        context: context(),
        source,
    })?;
    if !code.is_success() {
        return Err(BedError::Api {
            context: context(),
            status: code.as_u16(),
            body: text,
        });
    }
    serde_json::from_str(&text).map_err(|e| BedError::Api {
        context: context(),
        status: code.as_u16(),
        body: format!("not JSON ({e}): {text}"),
    })
}

/// `control_async` from a short-lived thread and runtime, so it works from sync and async
/// callers alike (blocks the caller for the round trip).
pub(crate) fn control(
    front_url: &str,
    ca_pem: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<serde_json::Value, BedError> {
    let (url, ca, path) = (front_url.to_string(), ca_pem.to_string(), path.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BedError::Runtime(e.to_string()))?;
        rt.block_on(control_async(&url, &ca, method, &path, body.as_ref()))
    })
    .join()
    .unwrap_or_else(|_| {
        Err(BedError::Runtime(
            "the test bed control request panicked".into(),
        ))
    })
}

/// `GET /testbed/requests` on the front. Empty on failure (logged).
pub fn fetch_requests(front_url: &str, ca_pem: &str) -> Vec<RecordedRequest> {
    let fetched =
        control(front_url, ca_pem, reqwest::Method::GET, "requests", None).and_then(|v| {
            serde_json::from_value(v).map_err(|e| BedError::Runtime(format!("request record: {e}")))
        });
    fetched.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "fetching the test bed's request record");
        Vec::new()
    })
}
