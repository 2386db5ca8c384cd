//! The simulated cluster state: jobs, datafeeds, running tasks and stored task results, and the
//! rules that change them. No I/O and no clocks: callers pass the time in (`Now`). Timers,
//! waiting and notifications live in `engine`.
//!
//! `bodies` checks request bodies and ids, `jobs` and `datafeeds` change them, `tasks` runs
//! the task registry and reset's checks, `views` renders what GET answers.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::Value;
use tokio::sync::watch;

pub use crate::catalog::{Blocked, Datafeed, Datafeeds, Job, Jobs};
use crate::errors::EsError;
use crate::versions::Version;

mod bodies;
mod datafeeds;
mod jobs;
mod tasks;
#[cfg(test)]
mod tests;
mod views;

pub use bodies::{
    default_job_body, location_of, object_body, parse_job_body, simple_match, valid_id, validate_id,
};
pub use tasks::ResetCheck;

pub const RESET_ACTION: &str = "cluster:admin/xpack/ml/job/reset";
pub const DELETE_ACTION: &str = "cluster:admin/xpack/ml/job/delete";
/// Records one datafeed tick ingests.
pub const RECORDS_PER_TICK: u64 = 100;
const ID_LENGTH_LIMIT: usize = 64;
/// Stored task results kept; the oldest go first beyond this (memory bound for long benches).
pub const STORED_CAPACITY: usize = 200_000;

/// Wall-clock milliseconds and a monotonic nanosecond reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Now {
    pub wall_ms: i64,
    pub mono_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Closing,
    Closed,
    Opened,
    Failed,
    Opening,
}

impl JobState {
    pub fn as_str(&self) -> &'static str {
        match self {
            JobState::Closing => "closing",
            JobState::Closed => "closed",
            JobState::Opened => "opened",
            JobState::Failed => "failed",
            JobState::Opening => "opening",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "closing" => JobState::Closing,
            "closed" => JobState::Closed,
            "opened" => JobState::Opened,
            "failed" => JobState::Failed,
            "opening" => JobState::Opening,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct DataCounts {
    pub processed_record_count: u64,
    pub bucket_count: u64,
    pub earliest_record_timestamp: Option<i64>,
    pub latest_record_timestamp: Option<i64>,
    pub last_data_time: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatafeedState {
    /// Between `_start` and the first search (the start's own wait).
    Starting,
    Started,
    Stopped,
}

impl DatafeedState {
    pub fn as_str(&self) -> &'static str {
        match self {
            DatafeedState::Starting => "starting",
            DatafeedState::Started => "started",
            DatafeedState::Stopped => "stopped",
        }
    }

    /// Started or on its way: a close stops it, a second start is refused.
    pub fn is_running(&self) -> bool {
        matches!(self, DatafeedState::Starting | DatafeedState::Started)
    }
}

/// What a waiter or runner is told about a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    None,
    /// `_cancel` or a job delete.
    Cancel,
    /// The node restarted: the task vanished.
    Kill,
    /// The control API ends a running reset's work now, as if its duration had passed.
    Finish,
}

#[derive(Debug, Clone)]
pub struct TaskInfo {
    pub number: u64,
    pub action: String,
    pub description: String,
    pub start_ms: i64,
    pub start_mono_ns: u64,
    pub cancellable: bool,
    pub cancelled: bool,
    pub headers: BTreeMap<String, String>,
    pub parent: Option<String>,
    /// Store the result in `.tasks` when it ends (only async REST tasks do).
    pub store_result: bool,
    pub job_id: Option<String>,
}

pub struct RunningTask {
    pub info: TaskInfo,
    /// Turns true when the task unregisters.
    pub done: watch::Sender<bool>,
    pub signal: watch::Sender<Signal>,
}

/// What to register as a running task.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub action: &'static str,
    pub description: String,
    pub headers: BTreeMap<String, String>,
    pub parent: Option<String>,
    /// Store the outcome in `.tasks` (async REST tasks only).
    pub store_result: bool,
    pub job_id: Option<String>,
}

impl NewTask {
    pub fn reset(job_id: &str, parent: Option<String>, store_result: bool) -> Self {
        NewTask {
            action: RESET_ACTION,
            description: format!("job-{job_id}"),
            headers: BTreeMap::new(),
            parent,
            store_result,
            job_id: Some(job_id.to_string()),
        }
    }
}

/// How a finished task ended, as stored.
pub type Outcome = Result<Value, EsError>;

pub struct State {
    pub version: Version,
    pub node_id: String,
    pub node_name: String,
    next_task: u64,
    pub jobs: Jobs,
    pub datafeeds: Datafeeds,
    pub running: HashMap<u64, RunningTask>,
    /// `.tasks`: full task id -> stored GET-task body.
    pub stored: HashMap<String, Value>,
    /// Insertion order of `stored`, to bound memory (real `.tasks` keeps everything).
    stored_order: VecDeque<String>,
    pub upgrade_mode: bool,
    pub resets_started: HashMap<String, u64>,
    /// Resets whose work ran to the end, by job.
    pub resets_completed: HashMap<String, u64>,
    /// When each job's last reset finished (the task ends in the same step), for lag figures.
    pub last_reset_done: HashMap<String, std::time::Instant>,
    /// The most jobs ever blocked by a reset at the same time.
    pub resets_running_peak: usize,
    /// Bumped on every node restart; work begun in an older epoch must not touch tasks.
    pub epoch: u64,
    /// False: no elected master (close and reset fail with 503).
    pub master_available: bool,
}

impl State {
    pub fn new(version: Version, node_id: String) -> Self {
        State {
            version,
            node_name: format!("es-ml-sim-{}", &node_id[..6.min(node_id.len())]),
            node_id,
            next_task: 1,
            jobs: Jobs::default(),
            datafeeds: Datafeeds::default(),
            running: HashMap::new(),
            stored: HashMap::new(),
            stored_order: VecDeque::new(),
            upgrade_mode: false,
            resets_started: HashMap::new(),
            resets_completed: HashMap::new(),
            last_reset_done: HashMap::new(),
            resets_running_peak: 0,
            epoch: 0,
            master_available: true,
        }
    }

    /// Full scans of the jobs or datafeeds so far: per-id calls make none.
    pub fn full_scans(&self) -> u64 {
        crate::catalog::full_scans(&self.jobs, &self.datafeeds)
    }

    pub fn task_id(&self, n: u64) -> String {
        format!("{}:{}", self.node_id, n)
    }
}
