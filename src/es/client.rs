//! The Elasticsearch API calls the operator makes (cluster info, privileges, jobs, close,
//! reset, tasks, datafeeds, the ledger's update), each decoded from its answer; the client
//! itself (one pool per connection setting, shared by every run that uses it, `for_run`
//! giving each run its own `X-Opaque-Id`) is in `transport`. Does network I/O.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use super::transport::{EsClient, attempt_opaque_id};
use super::wire::{self, JobDecode};
use super::{
    ClusterInfo, EsError, Job, JobConfigView, JobSummary, Privileges, RESET_ACTION, TaskInfo,
    TaskPoll, UpdatedJob,
};

/// The close call can wait this long when its timeout is `-1` (no limit in Elasticsearch).
const UNBOUNDED_WAIT: Duration = Duration::from_secs(24 * 3600);

impl EsClient {
    /// `GET _ml/info`, or its answer from the last minute on these connection settings.
    pub async fn version(&self) -> Result<ClusterInfo, EsError> {
        if let Some(info) = self.memo.version(Instant::now()) {
            return Ok(info);
        }
        let info = self.info().await?;
        self.memo.keep_version(Instant::now(), &info);
        Ok(info)
    }

    /// `GET _ml/info`: the cluster's version, readable with `manage_ml` alone.
    pub async fn info(&self) -> Result<ClusterInfo, EsError> {
        let call = self.call(Method::GET, &["_ml", "info"], &[]);
        let body = self.send_ok(&call, None).await?;
        wire::cluster_info(&body).map_err(|detail| call.decode(detail))
    }

    /// `POST _security/user/_has_privileges` for these cluster privileges. Security turned
    /// off answers it with a 500 `exception` (or, without the security plugin, 400 "no
    /// handler"), which a server fault can look like too: then `GET _xpack` decides, on its
    /// structured `features.security.enabled`.
    /// A granted answer (or security off) is reused for a minute on these connection
    /// settings; a missing privilege is asked about again every time.
    pub async fn privileges(&self, cluster: &[&str]) -> Result<Privileges, EsError> {
        if let Some(p) = self.memo.privileges(Instant::now(), cluster) {
            return Ok(p);
        }
        let p = self.ask_privileges(cluster).await?;
        self.memo.keep_privileges(Instant::now(), cluster, &p);
        Ok(p)
    }

    async fn ask_privileges(&self, cluster: &[&str]) -> Result<Privileges, EsError> {
        let mut call = self.call(Method::POST, &["_security", "user", "_has_privileges"], &[]);
        let body = serde_json::json!({ "cluster": cluster });
        call.body = serde_json::to_vec(&body).ok();
        let (status, answer) = self.send(&call, None).await?;
        if status.is_success() {
            return wire::privileges(cluster, &answer).map_err(|detail| call.decode(detail));
        }
        let refused = self.api_error(&call, status, &answer);
        let maybe_off = matches!(&refused, EsError::Api { status: 500, kind, .. } if kind == "exception")
            || matches!(&refused, EsError::Api { status: 400, .. });
        if !maybe_off {
            return Err(refused);
        }
        let xpack = self.call(Method::GET, &["_xpack"], &[("categories", "features")]);
        match self.send_ok(&xpack, None).await {
            Ok(body) => match wire::security_enabled(&body) {
                Ok(Some(false)) => Ok(Privileges::SecurityOff),
                _ => Err(refused),
            },
            Err(_) => Err(refused),
        }
    }

    /// `GET _ml/anomaly_detectors/<id>` + `GET .../_stats`, merged.
    pub async fn job(&self, job_id: &str) -> Result<Job, EsError> {
        let config = self
            .call(Method::GET, &["_ml", "anomaly_detectors", job_id], &[])
            .job_answer();
        let stats = self
            .call(
                Method::GET,
                &["_ml", "anomaly_detectors", job_id, "_stats"],
                &[],
            )
            .job_answer();
        let (config_body, stats_body) =
            tokio::try_join!(self.send_ok(&config, None), self.send_ok(&stats, None))?;
        match wire::job(job_id, &config_body, &stats_body)
            .map_err(|detail| config.decode(detail))?
        {
            JobDecode::Found(job) => Ok(job),
            JobDecode::Missing => Err(EsError::Api {
                what: config.what.clone(),
                status: 404,
                kind: "resource_not_found_exception".to_owned(),
                reason: format!("No known job with id '{job_id}' (the answer listed no such job)"),
            }),
        }
    }

    /// `GET _ml/anomaly_detectors/<id>` alone.
    pub async fn job_config(&self, job_id: &str) -> Result<JobConfigView, EsError> {
        let call = self
            .call(Method::GET, &["_ml", "anomaly_detectors", job_id], &[])
            .job_answer();
        let body = self.send_ok(&call, None).await?;
        match wire::job_config(job_id, &body).map_err(|detail| call.decode(detail))? {
            Some(view) => Ok(view),
            None => Err(EsError::Api {
                what: call.what.clone(),
                status: 404,
                kind: "resource_not_found_exception".to_owned(),
                reason: format!("No known job with id '{job_id}' (the answer listed no such job)"),
            }),
        }
    }

    /// `GET _ml/anomaly_detectors/<expression>` and its `_stats` (`allow_no_match=true`): a
    /// summary of every job the expression names (ids, groups, wildcards, comma lists).
    pub async fn jobs(&self, expression: &str) -> Result<Vec<JobSummary>, EsError> {
        let q = [("allow_no_match", "true")];
        let config = self
            .call(Method::GET, &["_ml", "anomaly_detectors", expression], &q)
            .listing();
        let stats = self
            .call(
                Method::GET,
                &["_ml", "anomaly_detectors", expression, "_stats"],
                &q,
            )
            .listing();
        let (config_body, stats_body) =
            tokio::try_join!(self.send_ok(&config, None), self.send_ok(&stats, None))?;
        super::jobs::summaries(&config_body, &stats_body).map_err(|detail| config.decode(detail))
    }

    /// `GET _ml/datafeeds/<ids>/_stats` (`allow_no_match=true`): each datafeed's state.
    pub async fn datafeed_states(&self, ids: &[String]) -> Result<Vec<(String, String)>, EsError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let q = [("allow_no_match", "true")];
        let joined = ids.join(",");
        let req = self
            .call(Method::GET, &["_ml", "datafeeds", &joined, "_stats"], &q)
            .listing();
        let body = self.send_ok(&req, None).await?;
        super::jobs::datafeed_states(&body).map_err(|detail| req.decode(detail))
    }

    /// `POST .../_close?force=&timeout=` (no body). An already closed job is Ok.
    pub async fn close_job(&self, job_id: &str, force: bool, timeout: &str) -> Result<(), EsError> {
        let wait = match wire::parse_es_time(timeout) {
            Some(Some(d)) => d,
            Some(None) => UNBOUNDED_WAIT,
            None => {
                return Err(EsError::Config(format!(
                    "invalid close timeout {timeout:?} (use e.g. 30s, 30m)"
                )));
            }
        };
        let force = if force { "true" } else { "false" };
        let call = self.call(
            Method::POST,
            &["_ml", "anomaly_detectors", job_id, "_close"],
            &[("force", force), ("timeout", timeout.trim())],
        );
        // Elasticsearch holds the answer until the job is closed, up to `timeout`.
        let body = self
            .send_ok(&call, Some(wait.saturating_add(self.request_timeout)))
            .await?;
        wire::closed(&body).map_err(|detail| call.decode(detail))
    }

    /// `POST _ml/anomaly_detectors/<id>/_update` with the whole `custom_settings` object
    /// (Elasticsearch replaces it, it does not merge). Returns what the answer (the job's
    /// configuration after the update) shows, when it is that shape.
    pub async fn update_custom_settings(
        &self,
        job_id: &str,
        settings: &serde_json::Value,
    ) -> Result<Option<UpdatedJob>, EsError> {
        let mut call = self
            .call(
                Method::POST,
                &["_ml", "anomaly_detectors", job_id, "_update"],
                &[],
            )
            .job_answer();
        call.body = serde_json::to_vec(&serde_json::json!({ "custom_settings": settings })).ok();
        let body = self.send_ok(&call, None).await?;
        Ok(wire::updated_job(job_id, &body))
    }

    /// `POST _ml/anomaly_detectors/<id>/_open`.
    pub async fn open_job(&self, job_id: &str) -> Result<(), EsError> {
        let call = self.call(
            Method::POST,
            &["_ml", "anomaly_detectors", job_id, "_open"],
            &[],
        );
        let body = self.send_ok(&call, None).await?;
        wire::acknowledged(&body, "opened").map_err(|detail| call.decode(detail))
    }

    /// `POST _ml/datafeeds/<id>/_start?start=&end=` (no body: a body would override them).
    pub async fn start_datafeed(
        &self,
        datafeed_id: &str,
        start: &str,
        end: Option<&str>,
    ) -> Result<(), EsError> {
        let mut q = vec![("start", start)];
        if let Some(end) = end {
            q.push(("end", end));
        }
        let call = self.call(
            Method::POST,
            &["_ml", "datafeeds", datafeed_id, "_start"],
            &q,
        );
        let body = self.send_ok(&call, None).await?;
        wire::acknowledged(&body, "started").map_err(|detail| call.decode(detail))
    }

    /// The datafeed's state (`started`, `stopped`, ...), `None` when it does not exist.
    pub async fn datafeed_state(&self, datafeed_id: &str) -> Result<Option<String>, EsError> {
        let states = self.datafeed_states(&[datafeed_id.to_owned()]).await?;
        Ok(states
            .into_iter()
            .find(|(id, _)| id == datafeed_id)
            .map(|(_, state)| state))
    }

    /// The `X-Opaque-Id` every request carries (empty when none).
    pub fn opaque_id(&self) -> &str {
        &self.opaque_id
    }

    /// The answers kept for every run on these connection settings (for tests of sharing).
    #[cfg(test)]
    pub fn memo(&self) -> &super::memo::Memo {
        &self.memo
    }

    /// `POST .../_reset?wait_for_completion=false[&delete_user_annotations=true]`; returns the
    /// task id. Request number `attempt` of the run carries `X-Opaque-Id: <run id>/<attempt>`,
    /// which its task keeps: the operator can tell its own task from any other.
    pub async fn reset_job(
        &self,
        job_id: &str,
        delete_user_annotations: bool,
        attempt: u32,
    ) -> Result<String, EsError> {
        let mut query = vec![("wait_for_completion", "false")];
        // Only sent when asked: versions before 8.7 reject the unknown parameter.
        if delete_user_annotations {
            query.push(("delete_user_annotations", "true"));
        }
        let mut call = self.call(
            Method::POST,
            &["_ml", "anomaly_detectors", job_id, "_reset"],
            &query,
        );
        if !self.opaque_id.is_empty() {
            call.opaque_id = Some(attempt_opaque_id(&self.opaque_id, attempt));
        }
        let body = self.send_ok(&call, None).await?;
        wire::reset_task(&body).map_err(|detail| call.decode(detail))
    }

    /// `GET _tasks/<id>?wait_for_completion=true&timeout=<wait>`; a timeout answer is `StillRunning`,
    /// a 404 is `NotFound`.
    pub async fn wait_task(&self, task_id: &str, wait: Duration) -> Result<TaskPoll, EsError> {
        let timeout = wire::es_time(wait);
        let call = self.call(
            Method::GET,
            &["_tasks", task_id],
            &[
                ("wait_for_completion", "true"),
                ("timeout", timeout.as_str()),
            ],
        );
        let (status, body) = self
            .send(&call, Some(wait.saturating_add(self.request_timeout)))
            .await?;
        if status.is_success() {
            return wire::task(&body).map_err(|detail| call.decode(detail));
        }
        if wire::is_poll_timeout(status.as_u16(), &body) {
            return Ok(TaskPoll::StillRunning);
        }
        if status == StatusCode::NOT_FOUND && wire::is_es_error_body(&body) {
            return Ok(TaskPoll::NotFound);
        }
        Err(self.api_error(&call, status, &body))
    }

    /// `GET _tasks?actions=<reset>&detailed=true`: the reset tasks running now, each with
    /// the `X-Opaque-Id` its request carried.
    pub async fn reset_tasks(&self) -> Result<Vec<TaskInfo>, EsError> {
        let call = self
            .call(
                Method::GET,
                &["_tasks"],
                &[("actions", RESET_ACTION), ("detailed", "true")],
            )
            .job_answer();
        let body = self.send_ok(&call, None).await?;
        wire::task_list(&body).map_err(|detail| call.decode(detail))
    }

    /// `GET _tasks/<id>` without waiting: `Running(info)` while it runs (so the caller can
    /// check `action`/`description` before long-polling), `Completed` or `NotFound` otherwise.
    pub async fn task(&self, task_id: &str) -> Result<TaskPoll, EsError> {
        let call = self.call(Method::GET, &["_tasks", task_id], &[]);
        let (status, body) = self.send(&call, None).await?;
        if status.is_success() {
            return wire::task(&body).map_err(|detail| call.decode(detail));
        }
        if status == StatusCode::NOT_FOUND && wire::is_es_error_body(&body) {
            return Ok(TaskPoll::NotFound);
        }
        Err(self.api_error(&call, status, &body))
    }
}
