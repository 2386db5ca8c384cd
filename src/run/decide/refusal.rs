//! Refusals decided on structure, not on the English of Elasticsearch's messages: a refused
//! close or reset (409 `status_exception`, the same type for every cause) and a reset task
//! that ended with `resource_not_found_exception` are followed by a look at the job (its
//! state and block) and, for a reset, at ML's upgrade mode (`GET _ml/info`); the cause is
//! what those show. Elasticsearch's own text is kept in the message. Pure, like the rest of
//! `decide`.

use super::*;

/// Close without force answered 409: a failed job (which needs force) or a datafeed that
/// could not be stopped look the same; the job's state tells them apart.
pub(super) fn close_refused(input: &Input, s: &mut JobResetStatus, error: &EsError) -> Action {
    let msg = format!("closing job {} was refused: {error}", input.spec.job_id);
    let phase = s.phase;
    set(s, phase, reason::CLOSING_JOB, msg);
    Action::ReadJob(JobRead::CloseRefused)
}

pub(super) fn after_close_refused(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    if job.state == JobState::Failed {
        let msg = format!("job {} is failed; closing it with force", input.spec.job_id);
        let phase = s.phase;
        set(s, phase, reason::CLOSING_JOB, msg);
        return Action::Close { force: true };
    }
    let msg = s.message.clone().unwrap_or_default();
    fail(s, reason::CLOSE_FAILED, msg)
}

/// The reset was refused (409 on the request, or `status_exception` in the task's result):
/// `what` is Elasticsearch's answer, for the message.
pub(super) fn reset_refused(input: &Input, s: &mut JobResetStatus, what: String) -> Action {
    let msg = format!(
        "Elasticsearch refused the reset of job {}: {what}",
        input.spec.job_id
    );
    set(s, Phase::Resetting, reason::RESET_REJECTED, msg);
    s.task_id = None;
    Action::ReadJob(JobRead::ResetRefused)
}

/// After a refusal: a block of delete or revert was failed already (`on_job`); a reset block
/// is someone else's reset; a job not closed explains the refusal; else it is ML's upgrade
/// mode or a cause of its own.
pub(super) fn after_reset_refused(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    if let Some(b) = job
        .blocked
        .as_ref()
        .filter(|b| b.reason == BlockReason::Reset)
    {
        return adopt(input, s, job, b.task_id.clone());
    }
    if job.state != JobState::Closed {
        let msg = format!(
            "{} (job state {})",
            s.message.clone().unwrap_or_default(),
            job.state.as_str()
        );
        return fail(s, reason::JOB_NOT_CLOSED, msg);
    }
    Action::CheckUpgradeMode
}

pub(super) fn on_upgrade_mode(input: &Input, s: &mut JobResetStatus, on: bool) -> Action {
    if on {
        return wait_for_upgrade(input, s);
    }
    let msg = s.message.clone().unwrap_or_default();
    fail(s, reason::RESET_REJECTED, msg)
}

/// The reset task ended with `resource_not_found_exception`: either the job is gone, or
/// (before 8.13) the reset it waited for vanished and the job is stuck on its block.
pub(super) fn task_not_found(s: &mut JobResetStatus, what: String) -> Action {
    let phase = s.phase;
    set(s, phase, reason::RESET_FAILED, what);
    Action::ReadJob(JobRead::AfterTaskNotFound)
}

pub(super) fn after_task_not_found(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    let msg = s.message.clone().unwrap_or_default();
    if job
        .blocked
        .as_ref()
        .is_some_and(|b| b.reason == BlockReason::Reset)
    {
        let msg = format!("{msg}; {}", stuck_way_out(&input.spec.job_id));
        return fail(s, reason::STUCK_RESET, msg);
    }
    fail(s, reason::RESET_FAILED, msg)
}

/// A stable reason for an error stored in a reset task's result, by its type alone (the
/// types `status_exception` and `resource_not_found_exception` need a look at the job, see
/// above).
pub fn task_error_reason(kind: &str) -> &'static str {
    match kind {
        "security_exception" => reason::MISSING_PRIVILEGE,
        "task_cancelled_exception" => reason::CANCELLED,
        "timeout_exception" => reason::RESET_TIMED_OUT,
        "status_exception" => reason::RESET_REJECTED,
        _ => reason::RESET_FAILED,
    }
}
