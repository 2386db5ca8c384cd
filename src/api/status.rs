//! The status of a `JobReset`: where its run is (`Phase`), what it did and saw, its
//! conditions. Pure types; every field's doc comment is what `kubectl explain` shows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::fanout::{DryRunJob, FanOutStatus};

/// Where a run is. `Completed` and `Failed` are final.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Phase {
    /// Accepted, not started yet (waiting for a Secret or for another JobReset of the same job).
    #[default]
    Pending,
    /// Closing the job.
    Closing,
    /// The reset was requested or is running.
    Resetting,
    /// The reset succeeded; the job is being opened and its datafeed started again
    /// (`spec.restore.state: Previous`).
    Restoring,
    /// Elasticsearch reported the reset done and the job is no longer blocked.
    Completed,
    /// The run ended without a reset; see reason and message.
    Failed,
}

impl Phase {
    /// Whether the run is over (no more Elasticsearch calls).
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Completed | Phase::Failed)
    }

    /// The phase as written in status.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Closing => "Closing",
            Phase::Resetting => "Resetting",
            Phase::Restoring => "Restoring",
            Phase::Completed => "Completed",
            Phase::Failed => "Failed",
        }
    }
}

/// What the operator saw and did.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobResetStatus {
    /// Where the run is: Pending, Closing, Resetting, Restoring, Completed or Failed.
    #[serde(default)]
    pub phase: Phase,

    /// The id of the reset task (`<node>:<number>`), written right after the reset request
    /// returned. For an adopted reset (one already running when this JobReset started) it is
    /// the task named in the job's `blocked.task_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,

    /// kstatus conditions: Ready, Reconciling and Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// When the operator first picked the JobReset up (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,

    /// When the run reached Completed or Failed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,

    /// A stable CamelCase word saying why the run is where it is (e.g. ResetCompleted,
    /// DeadlineExceeded, JobNotFound, `WaitingFor/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// A human-readable explanation of the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// How many transient faults (unreachable cluster, timeouts, 5xx, 429) were retried.
    #[serde(default)]
    pub attempts: u32,

    /// The job's state before the operator touched it (opened, closed, failed, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_state_before: Option<String>,

    /// The job's datafeed (with `spec.restore`), as the job names it before the close
    /// (Elasticsearch 8.0 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datafeed_id: Option<String>,

    /// The datafeed's state before the close (started, stopped, ...; `none` when the job has
    /// no datafeed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datafeed_state_before: Option<String>,

    /// The job's state the restore left, as Elasticsearch confirmed it (`opened`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_state_after: Option<String>,

    /// This run's key in the job's ledger (`spec.runKey`, or `<namespace>/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_key: Option<String>,

    /// What the job's ledger holds for this run, as last read back: `started`,
    /// `succeeded`, `failed`, `unrecorded` (a write failed; see the Events), or `recording`
    /// while a write is under way. A cache of the job's record, never the only one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_state: Option<String>,

    /// The reason a failed run ends with, held while its `failed` outcome is written into
    /// the job's ledger (so that a JobReset created again under the same key can tell the
    /// reset did not happen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_reason: Option<String>,

    /// The datafeed's state the restore left, as Elasticsearch confirmed it (`started`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datafeed_state_after: Option<String>,

    /// The Elasticsearch version, read once per run from `GET _ml/info` (`unknown` when the
    /// cluster does not say; the run then goes by Elasticsearch's answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elasticsearch_version: Option<String>,

    /// What the job held just before the reset was requested. A reset clears it, which lets
    /// the operator tell, after losing a reset's answer, whether that reset happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_fingerprint: Option<JobFingerprint>,

    /// When the operator last decided to send the reset request (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_requested_time: Option<String>,

    /// How many reset requests this JobReset has sent, retries after transient faults (429,
    /// 5xx, lost connections) included. Elasticsearch accepts more than one only when it lost
    /// a reset task and the job had to be reset again.
    #[serde(default)]
    pub reset_requests: u32,

    /// True when the operator found a reset already running and followed it instead of
    /// starting another.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,

    /// For `spec.jobs`: the frozen targets, the jobs skipped and why, and the children's
    /// outcomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<FanOutStatus>,

    /// For a dry run: what would be reset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub would_reset: Vec<DryRunJob>,
}

impl JobResetStatus {
    /// The condition of the given type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// The job data a reset clears: model snapshot id, processed record count, latest record time.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobFingerprint {
    /// The job's `model_snapshot_id` (absent when the job has no snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_snapshot_id: Option<String>,

    /// `data_counts.processed_record_count`.
    #[serde(default)]
    pub processed_record_count: u64,

    /// `data_counts.latest_record_timestamp` in epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_record_time_ms: Option<i64>,
}

impl JobFingerprint {
    /// True when there is nothing for a reset to clear.
    pub fn is_empty(&self) -> bool {
        self.model_snapshot_id.is_none()
            && self.processed_record_count == 0
            && self.latest_record_time_ms.is_none()
    }
}

/// A status condition in the shape of `metav1.Condition`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type: Ready, Reconciling or Stalled.
    #[serde(rename = "type")]
    pub type_: String,

    /// True, False or Unknown.
    pub status: String,

    /// The `metadata.generation` the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// When the condition last changed status (RFC 3339).
    pub last_transition_time: String,

    /// A CamelCase reason for the last transition.
    pub reason: String,

    /// A human-readable message.
    #[serde(default)]
    pub message: String,
}
