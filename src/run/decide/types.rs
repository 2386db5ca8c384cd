//! What `decide` reads and returns: its inputs besides the status, the observations the
//! driver feeds it, the actions it asks for. Pure data.

use std::time::Duration;

use jiff::Timestamp;

use crate::{
    api::JobResetSpec,
    es::{ClusterInfo, EsError, Job, JobConfigView, Privileges, TaskInfo, TaskPoll, UpdatedJob},
};

/// What `decide` needs besides the status and the observation.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub spec: &'a JobResetSpec,
    /// `metadata.generation`, copied into `observedGeneration`.
    pub generation: Option<i64>,
    pub now: Timestamp,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The run's `X-Opaque-Id` (`jobreset/<ns>/<name>/<uid>`); each reset request carries it
    /// with the request's number appended, and its task keeps it.
    pub opaque_id: &'a str,
    /// The recorded request (number `reset_requests`) is known never to have gone out: this
    /// process recorded it and did not send it.
    pub known_unsent: bool,
}

/// Why the job is read; the same job answer means different things at different points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobRead {
    /// First read (Pending): record the state before, check for blocks, start closing.
    Initial,
    /// After the close: adopt a running reset, or record the intent and reset.
    PreReset,
    /// Resetting without a task id: a previous run may have lost the reset's answer.
    Recover,
    /// The task reported success: confirm the job is no longer blocked.
    ConfirmAck,
    /// The task is gone (404, reused id, no stored result): the job tells what happened.
    TaskGone,
    /// Following an adopted reset that has no task id: wait for the block to clear.
    AdoptWait,
    /// A close without force was refused: the state says why.
    CloseRefused,
    /// The reset was refused: the state and block say why.
    ResetRefused,
    /// The reset task ended with `resource_not_found_exception`.
    AfterTaskNotFound,
    /// Opening the job again was refused: an opened job counts as done.
    RestoreCheck,
    /// The reset is done: its outcome goes into the job's ledger.
    LedgerDone,
}

/// An Elasticsearch call, named in error handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Info,
    CheckPrivileges,
    ReadJob(JobRead),
    Close { force: bool },
    PostReset,
    FollowTask,
    FindOwnTask,
    CheckUpgradeMode,
    ReadDatafeed,
    OpenJob,
    StartDatafeed,
    WriteLedger,
}

impl Op {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Op::Info => "reading the cluster version (GET _ml/info)",
            Op::CheckPrivileges => "checking this user's privileges (_has_privileges)",
            Op::ReadJob(_) => "reading the job",
            Op::Close { .. } => "closing the job",
            Op::PostReset => "requesting the reset",
            Op::FollowTask => "following the reset task",
            Op::FindOwnTask => "looking for this run's reset task (GET _tasks)",
            Op::CheckUpgradeMode => "reading ML's upgrade mode (GET _ml/info)",
            Op::ReadDatafeed => "reading the datafeed's state",
            Op::OpenJob => "opening the job again",
            Op::StartDatafeed => "starting the datafeed again",
            Op::WriteLedger => "writing the job's ledger (custom_settings)",
        }
    }

    /// The privilege a 403 on this call is missing.
    pub(super) fn privilege(self) -> &'static str {
        match self {
            Op::Info => "manage_ml (or monitor_ml)",
            Op::CheckPrivileges => "none (every user may check its own privileges)",
            Op::ReadJob(_) => "monitor_ml (or manage_ml)",
            Op::Close { .. } | Op::PostReset => "manage_ml",
            Op::FollowTask => "cluster:monitor/task/get (or monitor)",
            Op::FindOwnTask => "cluster:monitor/tasks/lists (or monitor)",
            Op::CheckUpgradeMode => "manage_ml (or monitor_ml)",
            Op::ReadDatafeed => "monitor_ml (or manage_ml)",
            Op::OpenJob | Op::StartDatafeed | Op::WriteLedger => "manage_ml",
        }
    }
}

/// What the driver saw: the situation at the start of a reconcile, or the result of the
/// last action.
#[derive(Debug)]
pub enum Observation {
    /// Start of a reconcile, nothing read from Elasticsearch yet.
    Start,
    /// Another JobReset for the same job and cluster goes first (only matters in Pending).
    /// Names the JobReset only when it is in the same namespace.
    WaitingFor {
        name: Option<String>,
    },
    /// The connection settings cannot be built yet (Secret or key missing, unreadable).
    ConnectionUnavailable {
        reason: String,
        message: String,
    },
    /// The spec cannot work (only possible when the schema's rules were bypassed); the spec
    /// is immutable, so this is final. `reason` names the rule broken.
    InvalidSpec {
        reason: String,
        message: String,
    },
    Info(ClusterInfo),
    /// What `_has_privileges` said about the privileges a run needs.
    Privileges(Privileges),
    Job {
        job: Job,
        read: JobRead,
    },
    Closed,
    /// The job's configuration, read to confirm a reset its task reported done.
    Confirmed(JobConfigView),
    ResetPosted {
        task_id: String,
    },
    Task(TaskPoll),
    /// The reset tasks running now.
    ResetTasks(Vec<TaskInfo>),
    /// Whether ML is in upgrade mode.
    UpgradeMode(bool),
    /// The datafeed's state (`None`: it does not exist).
    DatafeedState(Option<String>),
    /// The job was opened again.
    Opened,
    /// The datafeed was started again.
    DatafeedStarted,
    /// The ledger write was accepted, and what its answer (the job's configuration after
    /// the update) shows, when it is that shape.
    LedgerWritten {
        after: Option<UpdatedJob>,
    },
    EsFailed {
        op: Op,
        error: EsError,
    },
}

/// The next step for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    ReadInfo,
    /// Check the privileges a run needs, before its first write to the job.
    CheckPrivileges,
    ReadJob(JobRead),
    Close {
        force: bool,
    },
    PostReset,
    FollowTask {
        task_id: String,
    },
    /// List the running reset tasks, to find the one this run's request started.
    FindOwnTask,
    /// Read whether ML is in upgrade mode (after a refused reset).
    CheckUpgradeMode,
    /// Read the datafeed's state (before the close, or after a refused start).
    ReadDatafeed {
        datafeed_id: String,
    },
    /// Open the job again (restore).
    OpenJob,
    /// Write the job's `custom_settings` (the ledger, every other key as it was).
    WriteLedger {
        custom_settings: serde_json::Value,
    },
    /// Start the datafeed again (restore), from `start` (Elasticsearch's parameter).
    StartDatafeed {
        datafeed_id: String,
        start: String,
        end: Option<String>,
    },
    /// Stop this reconcile and come back after the delay (watch events may come sooner).
    Requeue(Duration),
    /// Nothing left to do.
    Done,
}
