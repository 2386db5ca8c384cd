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
        BlockReason, Blocked, ClusterInfo, EsError, Job, JobState, Privileges, TIMEOUT,
        TRANSIENT_REASONS, TaskInfo, TaskOutcome, TaskPoll, UNKNOWN_VERSION, UNREACHABLE,
        attempt_opaque_id,
    },
    run::conditions,
    run::evidence::{self, Evidence},
};

pub use crate::es::RESET_ACTION;
pub use ledger::success_written_unannounced;
pub use refusal::task_error_reason;

// The steps, by what they decide on; each is pure.
mod edits;
mod errors;
mod ledger;
mod recovery;
mod refusal;
mod restore;
mod task;
mod types;

use edits::*;
pub use edits::{backoff_delay, deadline_left, fingerprint, parse_version};
use errors::*;
use recovery::*;
use task::*;
pub use types::*;

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
    pub const JOB_PROTECTED: &str = "JobProtected";
    pub const RESTORING: &str = "Restoring";
    pub const ALREADY_APPLIED: &str = "AlreadyApplied";
    pub const LEDGER_WRITE_FAILED: &str = "LedgerWriteFailed";
    pub const RECORDING_OUTCOME: &str = "RecordingOutcome";
    pub const STARTING_DATAFEED: &str = "StartingDatafeed";
    pub const RESTORE_FAILED: &str = "RestoreFailed";
    pub const EXPIRED: &str = "Expired";
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
            | Observation::Confirmed(_)
            | Observation::Job {
                read: JobRead::ConfirmAck | JobRead::TaskGone,
                ..
            }
    );
    // Recording a known outcome finishes past the deadline too: the reset is done.
    let recording = ledger::outcome_known(old);
    let late = deadline_passed(input, old) && !recording;
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
    if late && !s.phase.is_terminal() && !settling && !ledger::outcome_known(&s) {
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
    if let Some(record) = ledger::hold_failure(input, old, &mut s) {
        action = record;
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
            if s.phase == Phase::Pending
                && s.start_time.is_none()
                && let Some(action) = expired(input, s)
            {
                return action;
            }
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
        Observation::Privileges(p) => on_privileges(input, s, &p),
        Observation::Job { job, read } => on_job(input, s, job, read),
        Observation::Confirmed(view) => {
            if let Some(refused) = refuse_blocked(input, s, view.blocked.as_ref()) {
                return refused;
            }
            confirm(
                input,
                s,
                view.blocked.as_ref(),
                view.custom_settings.as_ref(),
            )
        }
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
        Observation::DatafeedState(state) => restore::on_datafeed_state(input, s, state),
        Observation::Opened => restore::on_opened(input, s),
        Observation::DatafeedStarted => restore::on_started(input, s),
        Observation::LedgerWritten { after } => ledger::on_written(input, s, after.as_ref()),
        Observation::EsFailed { op, error } => on_error(input, s, op, error),
    }
}

/// Where a run continues from its status alone (start of a reconcile).
fn start_action(input: &Input, s: &mut JobResetStatus) -> Action {
    if s.elasticsearch_version.is_none() {
        return Action::ReadInfo;
    }
    match s.phase {
        // Read-only and cheap: checked again by every reconcile that may still write first.
        Phase::Pending => Action::CheckPrivileges,
        Phase::Closing => Action::Close {
            force: close_force(input, s, None),
        },
        // The outcome is known; only its record in the job's ledger is left.
        Phase::Resetting if ledger::outcome_known(s) => Action::ReadJob(JobRead::LedgerDone),
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
        Phase::Restoring => restore::next_step(input, s),
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

/// The cluster privileges every run uses: the close and the reset (`manage_ml`) and the task
/// follow (`cluster:monitor/task/get`, which `manage_ml` does not cover).
pub const NEEDED_PRIVILEGES: [&str; 2] = ["manage_ml", "cluster:monitor/task/get"];

/// Before the first write: a missing privilege fails the run now, not after the destructive
/// request (a reset nobody can follow would run while status says Failed).
fn on_privileges(input: &Input, s: &mut JobResetStatus, p: &Privileges) -> Action {
    let missing = p.missing();
    if missing.is_empty() {
        return Action::ReadJob(JobRead::Initial);
    }
    let msg = format!(
        "the Elasticsearch user lacks the cluster privilege{} {} needed to reset job {} and follow its task; nothing was touched (grant manage_ml and monitor, or the action cluster:monitor/task/get)",
        if missing.len() == 1 { "" } else { "s" },
        missing.join(", "),
        input.spec.job_id
    );
    fail(s, reason::MISSING_PRIVILEGE, msg)
}

/// A job being deleted or reverted ends the run, whatever it was read for.
fn refuse_blocked(input: &Input, s: &mut JobResetStatus, b: Option<&Blocked>) -> Option<Action> {
    let jid = &input.spec.job_id;
    match b?.reason {
        BlockReason::Delete => Some(fail(
            s,
            reason::JOB_BEING_DELETED,
            format!("job {jid} is being deleted"),
        )),
        BlockReason::Revert => {
            let msg = format!("job {jid} is being reverted to a model snapshot; cannot reset it");
            Some(fail(s, reason::JOB_BEING_REVERTED, msg))
        }
        BlockReason::Reset => None,
    }
}

/// The task reported success: done once the job's reset block is gone (its outcome written
/// from what this read shows of the ledger).
fn confirm(
    input: &Input,
    s: &mut JobResetStatus,
    blocked: Option<&Blocked>,
    settings: Option<&serde_json::Value>,
) -> Action {
    if blocked.is_some_and(|b| b.reason == BlockReason::Reset) {
        let msg = format!(
            "reset task reported success but job {} is still blocked on reset; waiting",
            input.spec.job_id
        );
        set(s, Phase::Resetting, reason::CONFIRMING, msg);
        return Action::Requeue(poll_interval(input));
    }
    restore::reset_done(input, s, completed_message(input, s), Some(settings))
}

fn on_job(input: &Input, s: &mut JobResetStatus, job: Job, read: JobRead) -> Action {
    let jid = &input.spec.job_id;
    if read == JobRead::Initial && s.job_state_before.is_none() {
        s.job_state_before = Some(job.state.as_str().to_string());
    }
    // Where the outcome is in question; after a refusal of this very request (or before it)
    // a record of its success would be someone else's writing.
    let outcome_read = matches!(
        read,
        JobRead::ConfirmAck
            | JobRead::TaskGone
            | JobRead::Recover
            | JobRead::AdoptWait
            | JobRead::LedgerDone
    );
    if outcome_read && let Some(done) = ledger::adopt_recorded(input, s, &job) {
        return done;
    }
    if let Some(refused) = refuse_blocked(input, s, job.blocked.as_ref()) {
        return refused;
    }
    let reset_block = job
        .blocked
        .as_ref()
        .filter(|b| b.reason == BlockReason::Reset);
    match read {
        JobRead::Initial if job.protected => {
            let msg = format!(
                "job {jid} is protected by its owner (custom_settings.jobreset_k8s_io.protected: true); nothing was touched: remove the setting to allow resets"
            );
            fail(s, reason::JOB_PROTECTED, msg)
        }
        JobRead::Initial => {
            if let Some(done) = ledger::already_applied(input, s, &job) {
                return done;
            }
            if restore::wants_job(input, s) {
                s.datafeed_id = job.datafeed_id.clone();
            }
            if let Some(read) = restore::read_datafeed_first(input, s, &job) {
                return read;
            }
            // Closed already: this read is the look before the reset a close would be
            // followed by, and closing a closed job changes nothing.
            if job.state == JobState::Closed && job.blocked.is_none() {
                return intend_reset(input, s, &job);
            }
            let force = close_force(input, s, Some(job.state));
            let msg = format!(
                "closing job {jid} (state {}, force {force})",
                job.state.as_str()
            );
            set(s, Phase::Closing, reason::CLOSING_JOB, msg);
            Action::Close { force }
        }
        // Protected while it was being closed: still nothing reset.
        JobRead::PreReset if job.protected => {
            let msg = format!(
                "job {jid} was protected by its owner (custom_settings.jobreset_k8s_io.protected: true) before the reset; it was closed, nothing was reset"
            );
            fail(s, reason::JOB_PROTECTED, msg)
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
        JobRead::ConfirmAck => confirm(input, s, reset_block, job.custom_settings.as_ref()),
        JobRead::TaskGone => on_task_gone(input, s, &job, reset_block.map(|b| b.task_id.clone())),
        JobRead::AdoptWait => match reset_block {
            None => block_gone(input, s, &job),
            Some(b) => adopt(input, s, &job, b.task_id.clone()),
        },
        JobRead::CloseRefused => refusal::after_close_refused(input, s, &job),
        JobRead::ResetRefused => refusal::after_reset_refused(input, s, &job),
        JobRead::AfterTaskNotFound => refusal::after_task_not_found(input, s, &job),
        JobRead::RestoreCheck => restore::after_open_refused(input, s, &job),
        JobRead::LedgerDone => ledger::on_ledger_read(input, s, &job),
    }
}

#[cfg(test)]
mod tests;
