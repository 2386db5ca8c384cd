//! The many-jobs form of a JobReset (`spec.jobs`): an Elasticsearch job expression resolved
//! once into a frozen list of targets, each reset by a child JobReset; and what the parent's
//! status keeps of it. Pure types, no I/O.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default for `jobs.maxJobs`.
pub const DEFAULT_MAX_JOBS: u32 = 50;

/// The jobs to reset: resolved once, when the JobReset starts, and frozen into its status;
/// each is then reset by a child JobReset of its own.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobSelector {
    /// An Elasticsearch job expression, as `GET _ml/anomaly_detectors/<expression>` takes it:
    /// job ids, group names, wildcards (`*`) and comma-separated lists of them.
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9*][a-z0-9_*,-]*$')").message(
        "jobs.expression takes job ids, group names, wildcards (*) and commas: lowercase letters, digits, '-', '_', '*' and ','"
    ))]
    pub expression: String,

    /// An expression of the same kind whose jobs are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("self.matches('^[a-z0-9*][a-z0-9_*,-]*$')").message(
        "jobs.exclude takes job ids, group names, wildcards (*) and commas"
    ))]
    pub exclude: Option<String>,

    /// Conditions every job must meet to be reset; a job that misses one is skipped, and the
    /// status says which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<JobConditions>,

    /// At most this many jobs (1 to 1000). If more match, nothing is reset and the JobReset
    /// fails with reason TooManyJobs naming the count. Defaults to 50.
    #[serde(default = "default_max_jobs")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_jobs: u32,

    /// How many jobs are reset at the same time. Defaults to 1.
    #[serde(default = "default_parallelism")]
    #[schemars(range(min = 1, max = 100))]
    pub parallelism: u32,

    /// `Continue` (the default) resets every job whatever happens to the others; `Stop`
    /// starts no further reset after the first failure.
    #[serde(default)]
    pub failure_policy: FailurePolicy,

    /// When nothing matches: true ends the JobReset Completed, false (the default) Failed,
    /// both with reason NoJobsMatched.
    #[serde(default)]
    pub allow_no_match: bool,
}

fn default_max_jobs() -> u32 {
    DEFAULT_MAX_JOBS
}

fn default_parallelism() -> u32 {
    1
}

/// What happens after one job's reset fails.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FailurePolicy {
    /// Reset every job.
    #[default]
    Continue,
    /// Start no further reset; those running finish.
    Stop,
}

/// Conditions on each job's config and stats; all that are set must hold.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobConditions {
    /// The job's state is one of these (`opened`, `closed`, `failed`, `opening`, `closing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    #[x_kube(validation = Rule::new("self.all(s, s in ['opened', 'closed', 'failed', 'opening', 'closing'])").message(
        "conditions.jobState takes opened, closed, failed, opening and closing, in lowercase as Elasticsearch reports them"
    ))]
    pub job_state: Vec<String>,

    /// The model's memory status is one of these (`ok`, `soft_limit`, `hard_limit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    #[x_kube(validation = Rule::new("self.all(s, s in ['ok', 'soft_limit', 'hard_limit'])").message(
        "conditions.memoryStatus takes ok, soft_limit and hard_limit, in lowercase as Elasticsearch reports them"
    ))]
    pub memory_status: Vec<String>,

    /// The job has processed at least this many records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_processed_records: Option<u64>,

    /// The job's latest record is older than this (e.g. `7d`, `12h`, `30m`), or it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(d|h|m|s)$"), length(max = 20))]
    pub latest_record_older_than: Option<String>,

    /// The job was created before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("timestamp(self) > timestamp('1970-01-01T00:00:00Z')").message(
        "conditions.createdBefore is an RFC 3339 time, e.g. 2026-01-31T00:00:00Z"
    ))]
    pub created_before: Option<String>,
}

/// What a fan-out JobReset resolved and how its children fare.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct FanOutStatus {
    /// The jobs to reset, frozen when the JobReset started (never resolved again).
    #[serde(default)]
    pub targets: Vec<String>,

    /// Jobs the expression matched and the JobReset leaves alone, each with why: the first
    /// 100 in job id order (`skippedCount` counts them all), so that the status stays well
    /// within what the API server stores however many jobs the expression matches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedJob>,

    /// How many matched jobs the JobReset leaves alone, listed in `skipped` or not.
    #[serde(default, skip_serializing_if = "super::is_zero")]
    pub skipped_count: u32,

    /// Targets whose child completed. Recorded once seen, so that a child deleted
    /// afterwards is never created (and its job reset) again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub succeeded_jobs: Vec<String>,

    /// Targets whose child failed (recorded the same way).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_jobs: Vec<String>,

    /// Children (one per target) that completed.
    #[serde(default)]
    pub succeeded: u32,

    /// Children that failed.
    #[serde(default)]
    pub failed: u32,

    /// Children not yet finished.
    #[serde(default)]
    pub running: u32,

    /// Targets whose child is not created yet (parallelism, or a Stop after a failure).
    #[serde(default)]
    pub waiting: u32,
}

/// A matched job that is not reset.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SkippedJob {
    /// The job's id.
    pub job_id: String,
    /// Why: the condition it misses, or that `exclude` names it.
    pub reason: String,
}

/// What a dry run would reset.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DryRunJob {
    /// The job's id.
    pub job_id: String,
    /// Its state now (a reset closes it first).
    pub state: String,
    /// Processed records a reset would delete the results of.
    pub processed_record_count: u64,
    /// Whether a model snapshot would be deleted.
    pub has_model_snapshot: bool,
    /// The job's datafeed, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datafeed: Option<String>,
    /// The datafeed's state now; closing the job stops a started datafeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datafeed_state: Option<String>,
}
