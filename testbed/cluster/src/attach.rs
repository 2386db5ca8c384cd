//! Attaching to a bed another process runs (`testbed up`): reads its state directory
//! (`kubeconfig`, `env`, `ca.crt`) and fetches its request record
//! over HTTP.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use serde_yaml_ng::Value;

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
    let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| BedError::Manifest {
        path: dir.join(name),
        detail: e.to_string(),
    })?;
    doc.get("clusters")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("cluster"))
        .and_then(|c| c.get("server"))
        .and_then(Value::as_str)
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

/// `GET /testbed/requests` on the front, from a short-lived thread and runtime so it works
/// from sync and async callers alike. Empty on failure (logged).
pub fn fetch_requests(front_url: &str, ca_pem: &str) -> Vec<RecordedRequest> {
    let url = format!("{front_url}/testbed/requests");
    let ca = ca_pem.to_string();
    let fetched = std::thread::spawn(move || -> Result<Vec<RecordedRequest>, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let http = tls::ca_only_http(&ca).map_err(|e| e.to_string())?;
            let resp = http.get(&url).send().await.map_err(|e| e.to_string())?;
            resp.json::<Vec<RecordedRequest>>()
                .await
                .map_err(|e| e.to_string())
        })
    })
    .join();
    match fetched {
        Ok(Ok(list)) => list,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "fetching the test bed's request record");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}
