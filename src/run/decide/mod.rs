//! The run's state machine: `decide(input, status, observation) -> (action, new status)`.
//! Pure: no I/O, no clock (the time comes in `Input::now`), so every cell of
//! phase × job state × task state is table-tested in `tests.rs`.
//!
//! The driver (`steps.rs`) performs the returned action, turns its result into the next
//! observation and calls `decide` again; it writes the status whenever `decide` changed it.

use std::time::Duration;

use jiff::Timestamp;

use crate::{
    api::{JobFingerprint, JobResetSpec, JobResetStatus, Phase},
    es::{
        BlockReason, ClusterInfo, EsError, Job, JobState, TIMEOUT, TRANSIENT_REASONS, TaskInfo,
        TaskOutcome, TaskPoll, UNKNOWN_VERSION, UNREACHABLE, attempt_opaque_id,
    },
    run::conditions,
    run::evidence::{self, Evidence},
};

pub use crate::es::RESET_ACTION;
pub use refusal::task_error_reason;

/// Stable `status.reason` values (CamelCase; `WaitingFor/<name>` is the one exception).
pub mod reason {
    pub const ACCEPTED: &str = "Accepted";
    pub const CLOSING_JOB: &str = "ClosingJob";
    pub const RESET_REQUESTED: &str = "ResetRequested";
    pub const RESET_STARTED: &str = "ResetStarted";
    pub const RESET_RUNNING: &str = "ResetRunning";
    pub const ADOPTED: &str = "Adopted";
    pub const CONFIRMING: &str = "ConfirmingReset";
    pub const RESET_COMPLETED: &str = "ResetCompleted";
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    pub const JOB_NOT_FOUND: &str = "JobNotFound";
    pub const JOB_BEING_DELETED: &str = "JobBeingDeleted";
    pub const JOB_BEING_REVERTED: &str = "JobBeingReverted";
    pub const JOB_NOT_CLOSED: &str = "JobNotClosed";
    pub const UNAUTHORIZED: &str = "Unauthorized";
    pub const MISSING_PRIVILEGE: &str = "MissingPrivilege";
    pub const UNSUPPORTED_VERSION: &str = "UnsupportedVersion";
    pub const CANCELLED: &str = "Cancelled";
    pub const STUCK_RESET: &str = "StuckReset";
    pub const AMBIGUOUS: &str = "Ambiguous";
    pub const RESET_TIMED_OUT: &str = "ResetTimedOut";
    pub const RESET_REJECTED: &str = "ResetRejected";
    pub const RESET_FAILED: &str = "ResetFailed";
    pub const CLOSE_FAILED: &str = "CloseFailed";
    pub const UPGRADE_IN_PROGRESS: &str = "UpgradeInProgress";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const WAITING_FOR_PREFIX: &str = "WaitingFor/";
    pub const WAITING_FOR_OTHER_NAMESPACE: &str = "WaitingForOtherNamespace";
}

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
}

/// An Elasticsearch call, named in error handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Info,
    ReadJob(JobRead),
    Close { force: bool },
    PostReset,
    FollowTask,
    FindOwnTask,
    CheckUpgradeMode,
}

impl Op {
    fn describe(self) -> &'static str {
        match self {
            Op::Info => "reading the cluster version (GET _ml/info)",
            Op::ReadJob(_) => "reading the job",
            Op::Close { .. } => "closing the job",
            Op::PostReset => "requesting the reset",
            Op::FollowTask => "following the reset task",
            Op::FindOwnTask => "looking for this run's reset task (GET _tasks)",
            Op::CheckUpgradeMode => "reading ML's upgrade mode (GET _ml/info)",
        }
    }

    /// The privilege a 403 on this call is missing.
    fn privilege(self) -> &'static str {
        match self {
            Op::Info => "manage_ml (or monitor_ml)",
            Op::ReadJob(_) => "monitor_ml (or manage_ml)",
            Op::Close { .. } | Op::PostReset => "manage_ml",
            Op::FollowTask => "cluster:monitor/task/get (or monitor)",
            Op::FindOwnTask => "cluster:monitor/tasks/lists (or monitor)",
            Op::CheckUpgradeMode => "manage_ml (or monitor_ml)",
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
    Job {
        job: Job,
        read: JobRead,
    },
    Closed,
    ResetPosted {
        task_id: String,
    },
    Task(TaskPoll),
    /// The reset tasks running now.
    ResetTasks(Vec<TaskInfo>),
    /// Whether ML is in upgrade mode.
    UpgradeMode(bool),
    EsFailed {
        op: Op,
        error: EsError,
    },
}

/// The next step for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    ReadInfo,
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
    /// Stop this reconcile and come back after the delay (watch events may come sooner).
    Requeue(Duration),
    /// Nothing left to do.
    Done,
}

/// The pure transition function. Terminal phases are returned unchanged with `Done`.
pub fn decide(input: &Input, old: &JobResetStatus, obs: Observation) -> (Action, JobResetStatus) {
    if old.phase.is_terminal() {
        return (Action::Done, old.clone());
    }
    let mut s = old.clone();
    // Answers that carry a task id or an outcome are recorded even past the deadline, so the
    // status never loses what Elasticsearch said.
    let carries_answer = matches!(
        obs,
        Observation::ResetPosted { .. }
            | Observation::Task(_)
            | Observation::Job {
                read: JobRead::ConfirmAck | JobRead::TaskGone,
                ..
            }
    );
    let late = deadline_passed(input, old);
    let mut action = if late && !carries_answer {
        Action::Done
    } else {
        apply(input, &mut s, obs)
    };
    // Past the deadline one more job read may settle a reported outcome; nothing else runs.
    let settling = matches!(
        action,
        Action::ReadJob(JobRead::ConfirmAck | JobRead::TaskGone)
    );
    if late && !s.phase.is_terminal() && !settling {
        if action == Action::PostReset {
            // The reset is not sent after all: keep the bookkeeping of the last real request.
            s.reset_requests = old.reset_requests;
            s.reset_requested_time = old.reset_requested_time.clone();
            s.job_fingerprint = old.job_fingerprint.clone();
            s.task_id = old.task_id.clone();
        }
        fail_deadline(input, &mut s);
        action = Action::Done;
    }
    finalize(input, old, &mut s);
    (action, s)
}

fn apply(input: &Input, s: &mut JobResetStatus, obs: Observation) -> Action {
    match obs {
        Observation::Start => {
            // A retry keeps its fault as the reason until the run makes progress.
            let retrying = s
                .reason
                .as_deref()
                .is_some_and(|r| TRANSIENT_REASONS.contains(&r));
            if s.phase == Phase::Pending && !retrying {
                set(
                    s,
                    Phase::Pending,
                    reason::ACCEPTED,
                    "starting the reset run".into(),
                );
            }
            start_action(input, s)
        }
        Observation::WaitingFor { name } => {
            if s.phase != Phase::Pending {
                return start_action(input, s);
            }
            let (r, msg) = match name {
                Some(name) => (
                    format!("{}{name}", reason::WAITING_FOR_PREFIX),
                    format!(
                        "waiting for JobReset {name} (same job, same cluster) to finish before \
                         starting"
                    ),
                ),
                None => (
                    reason::WAITING_FOR_OTHER_NAMESPACE.to_owned(),
                    "waiting for a JobReset of another namespace (same job, same cluster) to \
                     finish before starting"
                        .to_owned(),
                ),
            };
            set(s, Phase::Pending, &r, msg);
            Action::Requeue(Duration::from_secs(30))
        }
        Observation::ConnectionUnavailable { reason, message } => {
            let phase = s.phase;
            set(s, phase, &reason, message);
            // The Secret watch brings the run back when a Secret appears; this is a fallback.
            Action::Requeue(input.backoff_cap.min(Duration::from_secs(30)))
        }
        Observation::InvalidSpec { reason, message } => fail(s, &reason, message),
        Observation::Info(info) => on_info(input, s, info),
        Observation::Job { job, read } => on_job(input, s, job, read),
        Observation::Closed => match s.phase {
            Phase::Closing => Action::ReadJob(JobRead::PreReset),
            Phase::Resetting => Action::ReadJob(JobRead::Recover),
            _ => start_action(input, s),
        },
        Observation::ResetPosted { task_id } => {
            let msg = format!("reset task {task_id} started for job {}", input.spec.job_id);
            s.task_id = Some(task_id.clone());
            set(s, Phase::Resetting, reason::RESET_STARTED, msg);
            Action::FollowTask { task_id }
        }
        Observation::Task(poll) => on_task(input, s, poll),
        Observation::ResetTasks(tasks) => on_reset_tasks(input, s, &tasks),
        Observation::UpgradeMode(on) => refusal::on_upgrade_mode(input, s, on),
        Observation::EsFailed { op, error } => on_error(input, s, op, error),
    }
}

/// Where a run continues from its status alone (start of a reconcile).
fn start_action(input: &Input, s: &JobResetStatus) -> Action {
    if s.elasticsearch_version.is_none() {
        return Action::ReadInfo;
    }
    match s.phase {
        Phase::Pending => Action::ReadJob(JobRead::Initial),
        Phase::Closing => Action::Close {
            force: close_force(input, s, None),
        },
        Phase::Resetting => match (&s.task_id, s.adopted) {
            (Some(task_id), _) => Action::FollowTask {
                task_id: task_id.clone(),
            },
            (None, true) => Action::ReadJob(JobRead::AdoptWait),
            // A request went out and its answer is not in status: if its task still runs,
            // its X-Opaque-Id finds it before the job's block could be taken for someone
            // else's reset.
            (None, false) if s.reset_requests > 0 && answer_may_be_lost(s) => Action::FindOwnTask,
            (None, false) => Action::ReadJob(JobRead::Recover),
        },
        Phase::Completed | Phase::Failed => Action::Done,
    }
}

fn on_info(input: &Input, s: &mut JobResetStatus, info: ClusterInfo) -> Action {
    let version = info.version.clone();
    s.elasticsearch_version = Some(version.clone());
    match parse_version(&version) {
        Some(v) if v >= (7, 14) => {}
        None if version == UNKNOWN_VERSION => {}
        _ => {
            let msg = format!(
                "Elasticsearch {version} has no reset API: resetting a job needs 7.14 or later"
            );
            return fail(s, reason::UNSUPPORTED_VERSION, msg);
        }
    }
    // An unknown version is left to Elasticsearch: before 8.7 it rejects the parameter.
    if input.spec.delete_user_annotations && parse_version(&version).is_some_and(|v| v < (8, 7)) {
        let msg = format!(
            "deleteUserAnnotations needs Elasticsearch 8.7 or later; the cluster runs {version}"
        );
        return fail(s, reason::UNSUPPORTED_VERSION, msg);
    }
    start_action(input, s)
}

fn on_job(input: &Input, s: &mut JobResetStatus, job: Job, read: JobRead) -> Action {
    let jid = &input.spec.job_id;
    if read == JobRead::Initial && s.job_state_before.is_none() {
        s.job_state_before = Some(job.state.as_str().to_string());
    }
    if let Some(b) = &job.blocked {
        match b.reason {
            BlockReason::Delete => {
                return fail(
                    s,
                    reason::JOB_BEING_DELETED,
                    format!("job {jid} is being deleted"),
                );
            }
            BlockReason::Revert => {
                let msg =
                    format!("job {jid} is being reverted to a model snapshot; cannot reset it");
                return fail(s, reason::JOB_BEING_REVERTED, msg);
            }
            BlockReason::Reset => {}
        }
    }
    let reset_block = job
        .blocked
        .as_ref()
        .filter(|b| b.reason == BlockReason::Reset);
    match read {
        JobRead::Initial => {
            let force = close_force(input, s, Some(job.state));
            let msg = format!(
                "closing job {jid} (state {}, force {force})",
                job.state.as_str()
            );
            set(s, Phase::Closing, reason::CLOSING_JOB, msg);
            Action::Close { force }
        }
        JobRead::PreReset | JobRead::Recover => {
            if let Some(b) = reset_block {
                // A block naming the task we just saw finish is stale: after a node restart
                // task numbers are reused, and a reset can end up waiting on its own number
                // (timeout_exception) while the block stays. Adopting it again would loop.
                if read == JobRead::Recover && b.task_id.is_some() && b.task_id == s.task_id {
                    return on_task_gone(input, s, &job, Some(b.task_id.clone()));
                }
                return adopt(input, s, &job, b.task_id.clone());
            }
            if read == JobRead::Recover && !s.adopted {
                return after_lost_answer(input, s, &job);
            }
            if let Some(close) = close_first(input, s, &job) {
                return close;
            }
            intend_reset(input, s, &job)
        }
        JobRead::ConfirmAck => match reset_block {
            None => complete(s, completed_message(input, s)),
            Some(_) => {
                let msg = format!(
                    "reset task reported success but job {jid} is still blocked on reset; waiting"
                );
                set(s, Phase::Resetting, reason::CONFIRMING, msg);
                Action::Requeue(poll_interval(input))
            }
        },
        JobRead::TaskGone => on_task_gone(input, s, &job, reset_block.map(|b| b.task_id.clone())),
        JobRead::AdoptWait => match reset_block {
            None => block_gone(input, s, &job),
            Some(b) => adopt(input, s, &job, b.task_id.clone()),
        },
        JobRead::CloseRefused => refusal::after_close_refused(input, s, &job),
        JobRead::ResetRefused => refusal::after_reset_refused(input, s, &job),
        JobRead::AfterTaskNotFound => refusal::after_task_not_found(input, s, &job),
    }
}

/// No answer in status says how the reset request ended (it was lost, or the task ended
/// waiting for another reset): the job's data says whether a reset ran (no block: none runs
/// any more).
fn after_lost_answer(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    let jid = &input.spec.job_id;
    let before = s.job_fingerprint.clone().unwrap_or_default();
    let now = fingerprint(job);
    if input.known_unsent && s.reason.as_deref() == Some(reason::RESET_REQUESTED) {
        // It never went out: whatever the job shows is not its doing.
        if let Some(close) = close_first(input, s, job) {
            return close;
        }
        return request_again(input, s);
    }
    match evidence::compare(&before, &now) {
        Evidence::Cleared => {
            let msg = format!(
                "job {jid}'s data was cleared ({}) and no reset is running: the reset ran ({})",
                evidence::describe(&before, &now),
                requests_sent(s)
            );
            complete(s, msg)
        }
        Evidence::Unchanged if before.is_empty() && answer_may_be_lost(s) => {
            let msg = format!(
                "the answer to the reset request was lost; job {jid} holds nothing a reset would \
                 clear and no reset is running, which is how a reset leaves it ({})",
                requests_sent(s)
            );
            complete(s, msg)
        }
        Evidence::Unchanged => {
            if let Some(close) = close_first(input, s, job) {
                return close;
            }
            if s.reason.as_deref() == Some(reason::RESET_REQUESTED) {
                // The last thing recorded is the intent, and nothing shows the request was
                // ever acted on (a crash or a lost status answer before it went out): the same
                // request again, under the same count.
                request_again(input, s)
            } else {
                intend_reset(input, s, job)
            }
        }
        Evidence::Gained | Evidence::Mixed => ambiguous(input, s, &before, &now),
    }
}

/// A reset ended without an answer of its own (its task vanished, or it was someone else's):
/// the job's data says whether it cleared the job.
fn block_gone(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    let now = fingerprint(job);
    // Every run records one before it sends or adopts; a status written by an older version
    // may lack it, and then only an empty job says the reset ran.
    let Some(before) = s.job_fingerprint.clone() else {
        if now.is_empty() {
            return complete(s, completed_message(input, s));
        }
        return ambiguous(input, s, &now, &now);
    };
    match evidence::compare(&before, &now) {
        Evidence::Cleared => complete(s, completed_message(input, s)),
        Evidence::Unchanged if before.is_empty() => complete(s, completed_message(input, s)),
        Evidence::Unchanged => {
            // That reset did not clear the data (it aborted): this run asks for its own.
            if let Some(close) = close_first(input, s, job) {
                return close;
            }
            s.task_id = None;
            s.adopted = false;
            intend_reset(input, s, job)
        }
        Evidence::Gained | Evidence::Mixed => ambiguous(input, s, &before, &now),
    }
}

/// The job both lost and gained data, or only gained: whether the reset ran cannot be told.
fn ambiguous(
    input: &Input,
    s: &mut JobResetStatus,
    before: &JobFingerprint,
    now: &JobFingerprint,
) -> Action {
    let jid = &input.spec.job_id;
    let msg = format!(
        "cannot tell whether the reset of job {jid} ran: its answer was lost and the job changed \
         since ({}), as new data would change it too; check the job, and create a new JobReset \
         if it must be reset ({})",
        evidence::describe(before, now),
        requests_sent(s)
    );
    fail(s, reason::AMBIGUOUS, msg)
}

/// How many reset requests went out, for messages that must not say less.
fn requests_sent(s: &JobResetStatus) -> String {
    match s.reset_requests {
        0 => "no reset request was sent".into(),
        1 => "one reset request was sent".into(),
        n => format!("{n} reset requests were sent"),
    }
}

/// The request may have gone out and been acted on, with nothing of its answer in status:
/// the intent is the last record, or the request ended in a lost connection or a timeout
/// (an answer from Elasticsearch, even an error, says it did not act).
fn answer_may_be_lost(s: &JobResetStatus) -> bool {
    s.reason
        .as_deref()
        .is_some_and(|r| r == reason::RESET_REQUESTED || r == UNREACHABLE || r == TIMEOUT)
}

/// The reset task vanished: the job's `blocked` field and data say what happened.
fn on_task_gone(
    input: &Input,
    s: &mut JobResetStatus,
    job: &Job,
    reset_block: Option<Option<String>>,
) -> Action {
    let jid = &input.spec.job_id;
    let gone = s.task_id.clone().unwrap_or_else(|| "?".into());
    match reset_block {
        None => block_gone(input, s, job),
        // The task the block names is the reset's own (its master-side half): while it may
        // still run, the reset is not dead, and asking again would run a second one after it.
        Some(Some(block_task)) if s.task_id.as_deref() != Some(block_task.as_str()) => {
            let msg = format!(
                "reset task {gone} is gone; following {block_task}, the task job {jid}'s reset \
                 block names"
            );
            s.task_id = Some(block_task.clone());
            let r = if s.adopted {
                reason::ADOPTED
            } else {
                reason::RESET_RUNNING
            };
            set(s, Phase::Resetting, r, msg);
            Action::FollowTask {
                task_id: block_task,
            }
        }
        Some(_) if version_at_least(s, (8, 13)) || version_unknown(s) => {
            // Both the task and the block's own are gone: the reset died. 8.13+ resets a job
            // whose reset task died when asked again (ES #106020). With an
            // unknown version asking is still safe: before 8.13 the new task fails with the
            // "isn't running" 404, which ends the run as StuckReset.
            if let Some(close) = close_first(input, s, job) {
                return close;
            }
            s.task_id = None;
            s.adopted = false;
            intend_reset(input, s, job)
        }
        Some(_) => {
            let v = s
                .elasticsearch_version
                .clone()
                .unwrap_or_else(|| "unknown".into());
            let msg = format!(
                "job {jid} is blocked by a reset whose task ({gone}) is gone. Elasticsearch {v} \
                 (before 8.13) cannot reset it again; {}",
                stuck_way_out(jid)
            );
            fail(s, reason::STUCK_RESET, msg)
        }
    }
}

/// The run's own task among the running reset tasks, if its request started one.
fn on_reset_tasks(input: &Input, s: &mut JobResetStatus, tasks: &[TaskInfo]) -> Action {
    let mine = attempt_opaque_id(input.opaque_id, s.reset_requests);
    let jid = &input.spec.job_id;
    let ours = |t: &&TaskInfo| {
        t.action == RESET_ACTION
            && t.description == format!("job-{jid}")
            && t.opaque_id.as_deref() == Some(mine.as_str())
    };
    // The task the request registered (which stores its result) over its master-side half.
    let found = tasks
        .iter()
        .filter(ours)
        .min_by_key(|t| t.parent.is_some())
        .map(TaskInfo::task_id);
    match found {
        Some(task_id) => {
            let msg = format!(
                "found reset task {task_id}, started by this run's request (its answer had not \
                 reached status); following it"
            );
            s.task_id = Some(task_id.clone());
            set(s, Phase::Resetting, reason::RESET_RUNNING, msg);
            Action::FollowTask { task_id }
        }
        None => Action::ReadJob(JobRead::Recover),
    }
}

fn on_task(input: &Input, s: &mut JobResetStatus, poll: TaskPoll) -> Action {
    let Some(task_id) = s.task_id.clone() else {
        return start_action(input, s);
    };
    match poll {
        TaskPoll::StillRunning => {
            let msg = format!("reset task {task_id} is running");
            let r = if s.adopted {
                reason::ADOPTED
            } else {
                reason::RESET_RUNNING
            };
            set(s, Phase::Resetting, r, msg);
            Action::Requeue(Duration::ZERO)
        }
        TaskPoll::Running(task) if task_is_ours(input, s, &task) => {
            let r = if s.adopted {
                reason::ADOPTED
            } else {
                reason::RESET_RUNNING
            };
            set(
                s,
                Phase::Resetting,
                r,
                format!("reset task {task_id} is running"),
            );
            Action::Requeue(Duration::ZERO)
        }
        TaskPoll::Running(_) | TaskPoll::NotFound => Action::ReadJob(JobRead::TaskGone),
        TaskPoll::Completed { task, .. } if !task_is_ours(input, s, &task) => {
            Action::ReadJob(JobRead::TaskGone)
        }
        TaskPoll::Completed { outcome, .. } => match outcome {
            TaskOutcome::Acknowledged => Action::ReadJob(JobRead::ConfirmAck),
            TaskOutcome::NoResult => Action::ReadJob(JobRead::TaskGone),
            TaskOutcome::NotAcknowledged => {
                let msg = format!(
                    "reset task {task_id} was cancelled (acknowledged: false), e.g. by a job \
                     delete; the job may be partly reset"
                );
                fail(s, reason::CANCELLED, msg)
            }
            // The node running the task went away: the reset may not have run; the job says.
            TaskOutcome::Failed(cause) if is_node_failure(&cause.kind) => {
                Action::ReadJob(JobRead::TaskGone)
            }
            // Our reset waited for another reset of the job longer than its timeout (reference
            // 4.5): that reset is still running, so look at the job and follow it.
            TaskOutcome::Failed(cause) if cause.kind == "timeout_exception" => {
                Action::ReadJob(JobRead::Recover)
            }
            TaskOutcome::Failed(cause) if cause.kind == "status_exception" => {
                let what = format!("task {task_id} failed: {}: {}", cause.kind, cause.reason);
                refusal::reset_refused(input, s, what)
            }
            TaskOutcome::Failed(cause) if cause.kind == "resource_not_found_exception" => {
                let what = format!(
                    "reset task {task_id} failed: {}: {}",
                    cause.kind, cause.reason
                );
                refusal::task_not_found(s, what)
            }
            TaskOutcome::Failed(cause) => {
                let r = refusal::task_error_reason(&cause.kind);
                let mut msg = format!(
                    "reset task {task_id} failed: {}: {}",
                    cause.kind, cause.reason
                );
                if r == reason::MISSING_PRIVILEGE {
                    msg.push_str(" (the Elasticsearch user needs the manage_ml cluster privilege)");
                }
                fail(s, r, msg)
            }
        },
    }
}

fn on_error(input: &Input, s: &mut JobResetStatus, op: Op, error: EsError) -> Action {
    let may_be_running = s.phase == Phase::Resetting && op != Op::PostReset;
    let action = classify_error(input, s, op, error);
    if may_be_running && s.phase == Phase::Failed {
        // The operator stops following, but a reset it started may still be running.
        let task = s
            .task_id
            .as_deref()
            .map(|t| format!(" (task {t})"))
            .unwrap_or_default();
        if let Some(m) = s.message.as_mut() {
            m.push_str(&format!(
                "; a reset already running on the cluster{task} is left to finish"
            ));
        }
    }
    action
}

fn classify_error(input: &Input, s: &mut JobResetStatus, op: Op, error: EsError) -> Action {
    let jid = &input.spec.job_id;
    if error.is_transient() {
        s.attempts = s.attempts.saturating_add(1);
        let phase = s.phase;
        let msg = format!("{} failed, will retry: {error}", op.describe());
        // A failed read after the intent leaves the intent the last thing known of the
        // request (it says whether the request may have gone out).
        let keep = op != Op::PostReset && s.reason.as_deref() == Some(reason::RESET_REQUESTED);
        let r = if keep {
            reason::RESET_REQUESTED
        } else {
            error.reason()
        };
        set(s, phase, r, msg);
        return Action::Requeue(backoff(input, s.attempts));
    }
    if op == Op::FindOwnTask {
        // Listing tasks needs a privilege the documented role may lack: the job's block and
        // data decide instead.
        return Action::ReadJob(JobRead::Recover);
    }
    let status = error.status_code();
    if error.is_unsupported_api() {
        let msg =
            format!("the cluster has no reset API (needs Elasticsearch 7.14 or later): {error}");
        return fail(s, reason::UNSUPPORTED_VERSION, msg);
    }
    if op == Op::PostReset && input.spec.delete_user_annotations && error.is_illegal_argument() {
        let msg = format!(
            "the cluster does not support deleteUserAnnotations (needs 8.7 or later): {error}"
        );
        return fail(s, reason::UNSUPPORTED_VERSION, msg);
    }
    match (op, status) {
        (Op::Info, Some(403)) => {
            // The version only anticipates answers that Elasticsearch gives anyway (no reset
            // route, unknown parameter, stuck reset), so a user who may not read it can still
            // reset: the privilege checks that matter come with the calls that need them.
            s.elasticsearch_version = Some(UNKNOWN_VERSION.to_string());
            start_action(input, s)
        }
        (_, Some(401)) => {
            let msg = format!(
                "Elasticsearch rejected the credentials while {} (HTTP 401); check the credentials Secret",
                op.describe()
            );
            fail(s, reason::UNAUTHORIZED, msg)
        }
        (_, Some(403)) => {
            let msg = format!(
                "the Elasticsearch user lacks the {} privilege ({} was refused: {error})",
                op.privilege(),
                op.describe()
            );
            fail(s, reason::MISSING_PRIVILEGE, msg)
        }
        (Op::ReadJob(JobRead::ConfirmAck), Some(404)) => {
            let task = s.task_id.clone().unwrap_or_default();
            let msg = format!(
                "reset task {task} reported success; job {jid} has been deleted since, so the \
                 end of its block could not be confirmed"
            );
            complete(s, msg)
        }
        (Op::ReadJob(JobRead::TaskGone | JobRead::AdoptWait), Some(404)) => {
            let msg = format!(
                "job {jid} was deleted while its reset was being followed; whether the reset \
                 finished is unknown"
            );
            fail(s, reason::JOB_NOT_FOUND, msg)
        }
        (Op::ReadJob(_) | Op::Close { .. } | Op::PostReset, Some(404)) => fail(
            s,
            reason::JOB_NOT_FOUND,
            format!("job {jid} does not exist in Elasticsearch"),
        ),
        // Only the failed-job 409 asks for force: the datafeed-could-not-be-stopped 409 also
        // says "failed", and forcing there would skip the job's final model snapshot.
        // A failed job and a datafeed that could not be stopped both answer 409.
        (Op::Close { force: false }, Some(409)) => refusal::close_refused(input, s, &error),
        (Op::Close { .. }, _) => fail(
            s,
            reason::CLOSE_FAILED,
            format!("closing job {jid} failed: {error}"),
        ),
        // Not closed, blocked, upgrade mode: all 409 status_exception.
        (Op::PostReset, Some(409)) => refusal::reset_refused(input, s, error.to_string()),
        _ => {
            let msg = format!("{} failed: {error}", op.describe());
            fail(s, error.reason(), msg)
        }
    }
}

/// ML upgrade mode refused the reset before it started (it is on only while a cluster
/// upgrade runs): ask again later, within the deadline. The next reconcile finds no task and
/// an unchanged job, so it requests the reset again.
fn wait_for_upgrade(input: &Input, s: &mut JobResetStatus) -> Action {
    s.attempts = s.attempts.saturating_add(1);
    s.task_id = None;
    let msg = format!(
        "Elasticsearch ML is in upgrade mode (a cluster upgrade is running) and refused the reset \
         of job {}; it will be requested again",
        input.spec.job_id
    );
    set(s, Phase::Resetting, reason::UPGRADE_IN_PROGRESS, msg);
    Action::Requeue(backoff(input, s.attempts))
}

/// Enters Resetting with the adopted reset's task (if the block names one).
fn adopt(input: &Input, s: &mut JobResetStatus, job: &Job, task_id: Option<String>) -> Action {
    let jid = &input.spec.job_id;
    if !s.adopted {
        // What the job held when this run began to wait: the evidence to judge the reset by.
        s.job_fingerprint = Some(fingerprint(job));
    }
    s.adopted = true;
    s.task_id = task_id.clone();
    let msg = match &task_id {
        Some(t) => format!(
            "job {jid} is already being reset (task {t}); following it instead of starting another"
        ),
        None => {
            format!("job {jid} is already being reset; waiting for it instead of starting another")
        }
    };
    set(s, Phase::Resetting, reason::ADOPTED, msg);
    match task_id {
        Some(task_id) => Action::FollowTask { task_id },
        None => Action::Requeue(poll_interval(input)),
    }
}

/// Records the intent (phase, fingerprint, time, count) that must be in status before the
/// reset request is sent.
fn intend_reset(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    s.job_fingerprint = Some(fingerprint(job));
    s.reset_requested_time = Some(conditions::format_time(input.now));
    s.reset_requests = s.reset_requests.saturating_add(1);
    s.task_id = None;
    let msg = format!("requesting the reset of job {}", input.spec.job_id);
    set(s, Phase::Resetting, reason::RESET_REQUESTED, msg);
    Action::PostReset
}

/// Sends the recorded, unanswered request once more (same count, same fingerprint).
fn request_again(input: &Input, s: &mut JobResetStatus) -> Action {
    s.reset_requested_time = Some(conditions::format_time(input.now));
    let msg = format!(
        "requesting the reset of job {} (the earlier request left no trace in Elasticsearch)",
        input.spec.job_id
    );
    set(s, Phase::Resetting, reason::RESET_REQUESTED, msg);
    Action::PostReset
}

fn complete(s: &mut JobResetStatus, msg: String) -> Action {
    set(s, Phase::Completed, reason::RESET_COMPLETED, msg);
    Action::Done
}

fn fail(s: &mut JobResetStatus, r: &str, msg: String) -> Action {
    set(s, Phase::Failed, r, msg);
    Action::Done
}

fn set(s: &mut JobResetStatus, phase: Phase, r: &str, msg: String) {
    s.phase = phase;
    s.reason = Some(r.to_string());
    s.message = Some(msg);
}

fn completed_message(input: &Input, s: &JobResetStatus) -> String {
    let jid = &input.spec.job_id;
    match (&s.task_id, s.adopted) {
        (_, true) => format!("job {jid} was reset by a reset already under way (adopted)"),
        (Some(t), false) => format!("job {jid} was reset (task {t})"),
        (None, false) => format!("job {jid} was reset"),
    }
}

fn fail_deadline(input: &Input, s: &mut JobResetStatus) {
    let secs = input.spec.deadline_seconds;
    let running =
        s.phase == Phase::Resetting && (s.task_id.is_some() || s.adopted || s.reset_requests > 0);
    let msg = if running {
        let task = s
            .task_id
            .as_deref()
            .map(|t| format!(" (task {t})"))
            .unwrap_or_default();
        format!(
            "deadline of {secs}s exceeded while the reset was running; the reset already running \
             on the cluster{task} is left to finish: check job {} before resetting it again",
            input.spec.job_id
        )
    } else {
        // What the run was waiting for is the part a user can act on.
        let waiting = match (&s.reason, &s.message) {
            (Some(r), Some(m)) if s.phase == Phase::Pending && r != reason::ACCEPTED => {
                format!(" (it was waiting: {r}: {m})")
            }
            _ => String::new(),
        };
        format!(
            "deadline of {secs}s exceeded in phase {}; no reset was started{waiting}",
            s.phase.as_str()
        )
    };
    set(s, Phase::Failed, reason::DEADLINE_EXCEEDED, msg);
}

fn deadline_passed(input: &Input, s: &JobResetStatus) -> bool {
    deadline_left(input.spec, s, input.now).is_some_and(|left| left < 0)
}

/// Seconds left before `deadlineSeconds` (negative once past it); `None` before the run has
/// a start time.
pub fn deadline_left(spec: &JobResetSpec, s: &JobResetStatus, now: Timestamp) -> Option<i64> {
    let start = s.start_time.as_deref()?.parse::<Timestamp>().ok()?;
    Some(
        spec.deadline_seconds
            .saturating_sub(now.as_second().saturating_sub(start.as_second())),
    )
}

/// The close a job needs before it can be reset, if it is not closed yet.
fn close_first(input: &Input, s: &JobResetStatus, job: &Job) -> Option<Action> {
    (job.state != JobState::Closed).then(|| Action::Close {
        force: close_force(input, s, Some(job.state)),
    })
}

/// Sets the bookkeeping fields every status write carries.
fn finalize(input: &Input, old: &JobResetStatus, s: &mut JobResetStatus) {
    conditions::stamp(old, s, input.generation, input.now);
}

fn close_force(input: &Input, s: &JobResetStatus, state: Option<JobState>) -> bool {
    input.spec.close_job.force
        || state == Some(JobState::Failed)
        || (state.is_none() && s.job_state_before.as_deref() == Some("failed"))
}

/// Delay between job reads while waiting for a reset that has no task to follow.
fn poll_interval(input: &Input) -> Duration {
    Duration::from_secs(5).min(input.backoff_cap)
}

fn backoff(input: &Input, attempts: u32) -> Duration {
    backoff_delay(input.backoff_base, input.backoff_cap, attempts)
}

/// `base * 2^(attempts-1)`, capped at `cap`.
pub fn backoff_delay(base: Duration, cap: Duration, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(20);
    base.saturating_mul(1u32 << exp).min(cap)
}

pub fn fingerprint(job: &Job) -> JobFingerprint {
    JobFingerprint {
        model_snapshot_id: job.model_snapshot_id.clone(),
        processed_record_count: job.processed_record_count,
        latest_record_time_ms: job.latest_record_time_ms,
    }
}

/// Errors that say the node running the task failed, not that the reset was refused.
fn is_node_failure(kind: &str) -> bool {
    kind.starts_with("node_") || kind.ends_with("transport_exception")
}

/// How far a task's start may be from the recorded request time: clock skew between the
/// operator and the node, plus the request's own time on the way.
const START_SLACK_MS: i64 = 120_000;

/// Task numbers restart at 1 when a node restarts, so an id may name someone else's task, even
/// a later reset of the same job. The run's own request is known by the `X-Opaque-Id` its task
/// keeps or, where none is kept, by a start near the recorded request time. An adopted reset
/// is someone else's: its action and description are all there is to check.
fn task_is_ours(input: &Input, s: &JobResetStatus, task: &TaskInfo) -> bool {
    if task.action != RESET_ACTION || task.description != format!("job-{}", input.spec.job_id) {
        return false;
    }
    if s.adopted {
        return true;
    }
    if let Some(o) = &task.opaque_id {
        // The bare run id: a request sent by a version that did not number them.
        return *o == attempt_opaque_id(input.opaque_id, s.reset_requests) || o == input.opaque_id;
    }
    let requested = s
        .reset_requested_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok());
    requested.is_none_or(|r| {
        let r = r.as_millisecond();
        task.start_time_ms >= r - START_SLACK_MS && task.start_time_ms <= r + START_SLACK_MS
    })
}

/// `"8.13.2"`, `"9.0.0-SNAPSHOT"` -> `(8, 13)`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn version_unknown(s: &JobResetStatus) -> bool {
    s.elasticsearch_version.as_deref() == Some(UNKNOWN_VERSION)
}

/// The documented way out of a reset block that Elasticsearch before 8.13 cannot clear.
fn stuck_way_out(jid: &str) -> String {
    format!(
        "only deleting the job clears the block (DELETE _ml/anomaly_detectors/{jid}?force=true, \
         then recreate the job), or upgrade to 8.13+ and create a new JobReset"
    )
}

fn version_at_least(s: &JobResetStatus, min: (u32, u32)) -> bool {
    s.elasticsearch_version
        .as_deref()
        .and_then(parse_version)
        .is_some_and(|v| v >= min)
}

mod refusal;
#[cfg(test)]
mod tests;
