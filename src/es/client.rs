//! HTTP client for Elasticsearch: one reqwest client per connection setting, auth,
//! TLS (ring provider), `X-Opaque-Id` on every request. Does network I/O.

use std::time::Duration;

use super::{ClusterInfo, EsError, Job, TaskPoll};

/// Credentials; `Debug` never prints the secret parts.
#[derive(Clone)]
pub enum Auth {
    Basic { username: String, password: String },
    /// The encoded API key (base64 of `id:key`), sent as `Authorization: ApiKey <value>`.
    ApiKey(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Auth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct EsConfig {
    /// Base URL, e.g. `https://es.example:9200`.
    pub url: String,
    pub auth: Option<Auth>,
    /// PEM bundle of CAs to trust instead of the system roots.
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_verify: bool,
    /// Sent as `X-Opaque-Id` on every request (e.g. `jobreset/<ns>/<name>/<uid>`).
    pub opaque_id: Option<String>,
    /// Per-request timeout for ordinary calls (long-polls add their own wait on top).
    pub request_timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct EsClient {
    cfg: EsConfig,
}

impl EsClient {
    pub fn new(cfg: EsConfig) -> Result<EsClient, EsError> {
        Ok(EsClient { cfg })
    }

    /// `GET /`.
    pub async fn info(&self) -> Result<ClusterInfo, EsError> {
        Err(self.unimplemented("GET /"))
    }

    /// `GET _ml/anomaly_detectors/<id>` + `GET .../_stats`, merged.
    pub async fn job(&self, job_id: &str) -> Result<Job, EsError> {
        Err(self.unimplemented(job_id))
    }

    /// `POST .../_close?force=&timeout=` (no body). An already closed job is Ok.
    pub async fn close_job(&self, job_id: &str, force: bool, timeout: &str) -> Result<(), EsError> {
        let _ = (force, timeout);
        Err(self.unimplemented(job_id))
    }

    /// `POST .../_reset?wait_for_completion=false[&delete_user_annotations=true]`; returns the task id.
    pub async fn reset_job(&self, job_id: &str, delete_user_annotations: bool) -> Result<String, EsError> {
        let _ = delete_user_annotations;
        Err(self.unimplemented(job_id))
    }

    /// `GET _tasks/<id>?wait_for_completion=true&timeout=<wait>`; a timeout answer is `StillRunning`,
    /// a 404 is `NotFound`.
    pub async fn wait_task(&self, task_id: &str, wait: Duration) -> Result<TaskPoll, EsError> {
        let _ = wait;
        Err(self.unimplemented(task_id))
    }

    fn unimplemented(&self, what: &str) -> EsError {
        EsError::Config(format!("client not implemented yet ({what}, {})", self.cfg.url))
    }
}
