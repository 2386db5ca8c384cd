//! Typed Elasticsearch client for the calls the operator makes: the cluster version
//! (`_ml/info`), job config and stats, close, async reset, task follow. Does network I/O;
//! nothing outside this module builds a URL or parses an Elasticsearch body.
//!
//! `transport` sends the requests, `client` makes the calls; `wire` (pure) decodes bodies
//! and error answers, with `bounded`'s deserializers where a server could send much; `error`
//! classifies.

mod bounded;
mod client;
mod error;
mod jobs;
pub mod memo;
mod tls;
mod transport;
mod types;
mod units;
mod wire;
mod wire_tasks;

pub use error::{EsError, INVALID_CONNECTION, TIMEOUT, TRANSIENT_REASONS, UNREACHABLE, UNTRUSTED};
pub(crate) use transport::base_url;
pub use transport::{Auth, EsClient, EsConfig, attempt_opaque_id};
pub use types::{
    BlockReason, Blocked, ClusterInfo, ErrorCause, Job, JobConfigView, JobState, JobSummary,
    Privileges, RESET_ACTION, TaskInfo, TaskOutcome, TaskPoll, UNKNOWN_VERSION, UpdatedJob,
};
pub use wire::{es_time, parse_es_time};

use std::{future::Future, time::Duration};

/// Per-request timeout for ordinary Elasticsearch calls.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The calls a run makes, as a trait: the run (`run/`) drives Elasticsearch through it and
/// never names the HTTP client. `EsClient` is the implementation.
pub trait Elasticsearch: Sync {
    /// The `X-Opaque-Id` every request carries (empty when none).
    fn opaque_id(&self) -> &str;
    fn info(&self) -> impl Future<Output = Result<ClusterInfo, EsError>> + Send;
    /// The cluster's version, reused from another run with the same connection settings
    /// when it asked within the last minute (`info` always asks).
    fn version(&self) -> impl Future<Output = Result<ClusterInfo, EsError>> + Send;
    /// Whether the caller holds these cluster privileges (`_has_privileges`), or security
    /// is off.
    fn privileges(
        &self,
        cluster: &[&str],
    ) -> impl Future<Output = Result<Privileges, EsError>> + Send;
    fn job(&self, job_id: &str) -> impl Future<Output = Result<Job, EsError>> + Send;
    /// The job's configuration only (one request, no stats).
    fn job_config(
        &self,
        job_id: &str,
    ) -> impl Future<Output = Result<JobConfigView, EsError>> + Send;
    fn close_job(
        &self,
        job_id: &str,
        force: bool,
        timeout: &str,
    ) -> impl Future<Output = Result<(), EsError>> + Send;
    fn reset_job(
        &self,
        job_id: &str,
        delete_user_annotations: bool,
        attempt: u32,
    ) -> impl Future<Output = Result<String, EsError>> + Send;
    fn wait_task(
        &self,
        task_id: &str,
        wait: Duration,
    ) -> impl Future<Output = Result<TaskPoll, EsError>> + Send;
    fn task(&self, task_id: &str) -> impl Future<Output = Result<TaskPoll, EsError>> + Send;
    fn reset_tasks(&self) -> impl Future<Output = Result<Vec<TaskInfo>, EsError>> + Send;
    fn open_job(&self, job_id: &str) -> impl Future<Output = Result<(), EsError>> + Send;
    fn update_custom_settings(
        &self,
        job_id: &str,
        settings: &serde_json::Value,
    ) -> impl Future<Output = Result<Option<UpdatedJob>, EsError>> + Send;
    fn start_datafeed(
        &self,
        datafeed_id: &str,
        start: &str,
        end: Option<&str>,
    ) -> impl Future<Output = Result<(), EsError>> + Send;
    fn datafeed_state(
        &self,
        datafeed_id: &str,
    ) -> impl Future<Output = Result<Option<String>, EsError>> + Send;
}

impl Elasticsearch for EsClient {
    fn opaque_id(&self) -> &str {
        EsClient::opaque_id(self)
    }
    fn info(&self) -> impl Future<Output = Result<ClusterInfo, EsError>> + Send {
        EsClient::info(self)
    }
    fn version(&self) -> impl Future<Output = Result<ClusterInfo, EsError>> + Send {
        EsClient::version(self)
    }
    fn privileges(
        &self,
        cluster: &[&str],
    ) -> impl Future<Output = Result<Privileges, EsError>> + Send {
        EsClient::privileges(self, cluster)
    }
    fn job(&self, job_id: &str) -> impl Future<Output = Result<Job, EsError>> + Send {
        EsClient::job(self, job_id)
    }
    fn job_config(
        &self,
        job_id: &str,
    ) -> impl Future<Output = Result<JobConfigView, EsError>> + Send {
        EsClient::job_config(self, job_id)
    }
    fn open_job(&self, job_id: &str) -> impl Future<Output = Result<(), EsError>> + Send {
        EsClient::open_job(self, job_id)
    }
    fn update_custom_settings(
        &self,
        job_id: &str,
        settings: &serde_json::Value,
    ) -> impl Future<Output = Result<Option<UpdatedJob>, EsError>> + Send {
        EsClient::update_custom_settings(self, job_id, settings)
    }
    fn start_datafeed(
        &self,
        datafeed_id: &str,
        start: &str,
        end: Option<&str>,
    ) -> impl Future<Output = Result<(), EsError>> + Send {
        EsClient::start_datafeed(self, datafeed_id, start, end)
    }
    fn datafeed_state(
        &self,
        datafeed_id: &str,
    ) -> impl Future<Output = Result<Option<String>, EsError>> + Send {
        EsClient::datafeed_state(self, datafeed_id)
    }
    fn close_job(
        &self,
        job_id: &str,
        force: bool,
        timeout: &str,
    ) -> impl Future<Output = Result<(), EsError>> + Send {
        EsClient::close_job(self, job_id, force, timeout)
    }
    fn reset_job(
        &self,
        job_id: &str,
        delete_user_annotations: bool,
        attempt: u32,
    ) -> impl Future<Output = Result<String, EsError>> + Send {
        EsClient::reset_job(self, job_id, delete_user_annotations, attempt)
    }
    fn wait_task(
        &self,
        task_id: &str,
        wait: Duration,
    ) -> impl Future<Output = Result<TaskPoll, EsError>> + Send {
        EsClient::wait_task(self, task_id, wait)
    }
    fn task(&self, task_id: &str) -> impl Future<Output = Result<TaskPoll, EsError>> + Send {
        EsClient::task(self, task_id)
    }
    fn reset_tasks(&self) -> impl Future<Output = Result<Vec<TaskInfo>, EsError>> + Send {
        EsClient::reset_tasks(self)
    }
}
