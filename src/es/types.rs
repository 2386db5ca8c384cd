//! Typed views of Elasticsearch responses the operator reads. Pure data, no I/O.

/// What the operator needs to know of the cluster, from `GET _ml/info` (readable with
/// `manage_ml` alone, unlike `GET /`, which needs `cluster:monitor/main`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterInfo {
    /// e.g. `8.15.0`; `unknown` when the cluster does not say.
    pub version: String,
    /// ML's upgrade mode (on while a cluster upgrade runs; resets are refused then).
    pub upgrade_mode: bool,
}

/// `ClusterInfo::version` when the cluster does not report one.
pub const UNKNOWN_VERSION: &str = "unknown";

/// Job state as `_stats` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Closed,
    Closing,
    Opened,
    Opening,
    Failed,
}

impl JobState {
    const ALL: [JobState; 5] = [
        JobState::Closed,
        JobState::Closing,
        JobState::Opened,
        JobState::Opening,
        JobState::Failed,
    ];

    /// The name Elasticsearch uses.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Closed => "closed",
            JobState::Closing => "closing",
            JobState::Opened => "opened",
            JobState::Opening => "opening",
            JobState::Failed => "failed",
        }
    }

    /// From the name Elasticsearch uses; `None` for a state this client does not know.
    pub fn from_es(name: &str) -> Option<JobState> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Why a job is blocked (`blocked.reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockReason {
    Delete,
    Reset,
    Revert,
}

impl BlockReason {
    /// From the name Elasticsearch uses; `None` for a reason this client does not know.
    pub fn from_es(name: &str) -> Option<BlockReason> {
        match name {
            "delete" => Some(BlockReason::Delete),
            "reset" => Some(BlockReason::Reset),
            "revert" => Some(BlockReason::Revert),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub reason: BlockReason,
    pub task_id: Option<String>,
}

/// One job as the operator sees it: config (`blocked`, snapshot) merged with stats (state,
/// counts). The counts and snapshot form the fingerprint a reset clears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub state: JobState,
    pub blocked: Option<Blocked>,
    pub model_snapshot_id: Option<String>,
    pub processed_record_count: u64,
    /// `data_counts.latest_record_timestamp`, epoch millis.
    pub latest_record_time_ms: Option<i64>,
    /// `custom_settings.jobreset_k8s_io.protected: true`: the job's owner forbids resets by
    /// the operator.
    pub protected: bool,
    /// The job's datafeed, as GET embeds it from 8.0 (`datafeed_config.datafeed_id`).
    pub datafeed_id: Option<String>,
    /// `custom_settings` as the job holds it (every key: `_update` replaces the object
    /// whole, so a write must carry the others back).
    pub custom_settings: Option<serde_json::Value>,
}

/// One job of a list, with what conditions over many jobs look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSummary {
    pub id: String,
    pub state: JobState,
    /// `model_size_stats.memory_status`: `ok`, `soft_limit`, `hard_limit`.
    pub memory_status: Option<String>,
    pub processed_record_count: u64,
    /// `data_counts.latest_record_timestamp`, epoch millis.
    pub latest_record_time_ms: Option<i64>,
    /// `create_time`, epoch millis.
    pub create_time_ms: Option<i64>,
    pub has_model_snapshot: bool,
    /// The job's datafeed, if it has one.
    pub datafeed_id: Option<String>,
}

/// The action name Elasticsearch gives reset tasks.
pub const RESET_ACTION: &str = "cluster:admin/xpack/ml/job/reset";

/// The `task` object of a get-task or list-tasks answer (the fields the operator checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    pub node: String,
    pub id: u64,
    pub action: String,
    pub description: String,
    pub start_time_ms: i64,
    /// The request's `X-Opaque-Id`, as the task keeps it.
    pub opaque_id: Option<String>,
    /// `<node>:<number>` of the task this one runs for (the master-side half of a request
    /// that landed on another node).
    pub parent: Option<String>,
}

impl TaskInfo {
    /// `<node>:<number>`.
    pub fn task_id(&self) -> String {
        format!("{}:{}", self.node, self.id)
    }
}

/// An error object as stored in a task result or an error body (`type`, `reason`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorCause {
    pub kind: String,
    pub reason: String,
}

/// What a completed task reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// `response.acknowledged == true`.
    Acknowledged,
    /// `response.acknowledged == false`: the reset was cancelled (e.g. a job delete raced it).
    NotAcknowledged,
    /// `error` present: the reset failed; the cause is the stored inner error.
    Failed(ErrorCause),
    /// `completed: true` with neither response nor error.
    NoResult,
}

/// One answer to `GET _tasks/<id>?wait_for_completion=true&timeout=..`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskPoll {
    /// The long-poll timed out (`timeout_exception`, 500 before 9.0, 429 from 9.0).
    StillRunning,
    /// `completed: false` (only when not waiting).
    Running(TaskInfo),
    Completed {
        task: TaskInfo,
        outcome: TaskOutcome,
    },
    /// 404: the task is not running and stored no result.
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_states_read_back_from_their_names() {
        for state in JobState::ALL {
            assert_eq!(JobState::from_es(state.as_str()), Some(state));
        }
        assert_eq!(JobState::from_es("paused"), None);
    }
}

/// What the job's configuration alone shows (`GET _ml/anomaly_detectors/<id>`, no stats):
/// enough to confirm a reset ended and to write its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobConfigView {
    pub blocked: Option<Blocked>,
    pub custom_settings: Option<serde_json::Value>,
}

/// What a job `_update` answers: the job's configuration after the update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdatedJob {
    pub custom_settings: Option<serde_json::Value>,
    /// The job is blocked (a reset, delete or revert under way).
    pub blocked: bool,
    /// Its owner protects it (`custom_settings.jobreset_k8s_io.protected: true`).
    pub protected: bool,
}

/// What the cluster says about the caller's cluster privileges (`_has_privileges`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Privileges {
    /// Security is off on the cluster: nothing is checked, every call is allowed.
    SecurityOff,
    /// Each privilege asked about, and whether the caller holds it.
    Held(Vec<(String, bool)>),
}

impl Privileges {
    /// The privileges asked about that the caller lacks (none when security is off).
    pub fn missing(&self) -> Vec<String> {
        match self {
            Privileges::SecurityOff => vec![],
            Privileges::Held(held) => held
                .iter()
                .filter(|(_, ok)| !ok)
                .map(|(p, _)| p.clone())
                .collect(),
        }
    }
}
