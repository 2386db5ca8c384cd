//! After a successful reset, `spec.restore.state: Previous` puts the job back: reopen it if
//! it was opened, restart its datafeed if it was started (from `datafeedStart`). Each step is
//! idempotent after a crash: a 409 from open or start is followed by a read, and a job
//! already opened (a datafeed already started) counts as done. A failure here leaves the
//! reset recorded as done and the run Failed with RestoreFailed. Pure.

use super::*;
use crate::api::RestoreState;

fn restoring(input: &Input) -> bool {
    input.spec.restore.state == RestoreState::Previous
}

/// The job ran before the operator closed it (a `failed` job is never reopened).
pub(super) fn wants_job(input: &Input, s: &JobResetStatus) -> bool {
    restoring(input) && matches!(s.job_state_before.as_deref(), Some("opened" | "opening"))
}

fn wants_datafeed(input: &Input, s: &JobResetStatus) -> bool {
    wants_job(input, s)
        && s.datafeed_id.is_some()
        && matches!(
            s.datafeed_state_before.as_deref(),
            Some("started" | "starting")
        )
}

/// Before the close: whether the datafeed's state must be read first (only when it may
/// have to be restarted, and only once).
pub(super) fn read_datafeed_first(input: &Input, s: &JobResetStatus, job: &Job) -> Option<Action> {
    let id = job.datafeed_id.clone()?;
    if !restoring(input) || s.datafeed_state_before.is_some() {
        return None;
    }
    Some(Action::ReadDatafeed { datafeed_id: id })
}

/// The reset is done: record it in the job's ledger (from the `custom_settings` of a read
/// just made, when there was one), then complete, or put the job back first.
pub(super) fn reset_done(
    input: &Input,
    s: &mut JobResetStatus,
    msg: String,
    just_read: Option<Option<&serde_json::Value>>,
) -> Action {
    if s.phase != Phase::Restoring
        && let Some(record) = ledger::record_outcome(input, s, &msg, just_read)
    {
        return record;
    }
    if s.phase != Phase::Restoring && wants_job(input, s) {
        let m = format!("{msg}; opening job {} again", input.spec.job_id);
        set(s, Phase::Restoring, reason::RESTORING, m);
        return next_step(input, s);
    }
    if s.phase == Phase::Restoring {
        return next_step(input, s);
    }
    complete(s, msg)
}

/// The next restore step, or the end of the run.
pub(super) fn next_step(input: &Input, s: &mut JobResetStatus) -> Action {
    if wants_job(input, s) && s.job_state_after.is_none() {
        return Action::OpenJob;
    }
    if wants_datafeed(input, s) && s.datafeed_state_after.is_none() {
        let datafeed_id = s.datafeed_id.clone().unwrap_or_default();
        let msg = format!(
            "job {} was reset and opened again; starting datafeed {datafeed_id}",
            input.spec.job_id
        );
        set(s, Phase::Restoring, reason::STARTING_DATAFEED, msg);
        return Action::StartDatafeed {
            datafeed_id,
            start: input.spec.restore.start_param(),
            end: input.spec.restore.datafeed_end.clone(),
        };
    }
    let mut msg = completed_message(input, s);
    if s.job_state_after.is_some() {
        msg.push_str("; opened again");
    }
    if let (Some(d), Some(_)) = (&s.datafeed_id, &s.datafeed_state_after) {
        let from = match input.spec.restore.start_param().as_str() {
            "0" => "the earliest data".to_owned(),
            "now" => "now".to_owned(),
            t => t.to_owned(),
        };
        msg.push_str(&format!(", datafeed {d} started from {from}"));
    }
    complete(s, msg)
}

/// The datafeed's state: before the close it is recorded; while restoring (after a 409 on
/// start) it says whether the start had happened.
pub(super) fn on_datafeed_state(
    input: &Input,
    s: &mut JobResetStatus,
    state: Option<String>,
) -> Action {
    if s.phase == Phase::Restoring {
        return match state.as_deref() {
            Some("started" | "starting") => {
                s.datafeed_state_after = Some("started".to_owned());
                next_step(input, s)
            }
            other => restore_failed(
                input,
                s,
                format!(
                    "datafeed {} could not be started again (it is {})",
                    s.datafeed_id.clone().unwrap_or_default(),
                    other.unwrap_or("gone")
                ),
            ),
        };
    }
    s.datafeed_state_before = Some(state.unwrap_or_else(|| "none".to_owned()));
    let force = close_force(
        input,
        s,
        s.job_state_before.as_deref().and_then(JobState::from_es),
    );
    let state = s.job_state_before.clone().unwrap_or_default();
    let msg = format!(
        "closing job {} (state {state}, force {force})",
        input.spec.job_id
    );
    set(s, Phase::Closing, reason::CLOSING_JOB, msg);
    Action::Close { force }
}

pub(super) fn on_opened(input: &Input, s: &mut JobResetStatus) -> Action {
    s.job_state_after = Some("opened".to_owned());
    next_step(input, s)
}

pub(super) fn on_started(input: &Input, s: &mut JobResetStatus) -> Action {
    s.datafeed_state_after = Some("started".to_owned());
    next_step(input, s)
}

/// After a 409 on open: an opened job counts as done.
pub(super) fn after_open_refused(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    match job.state {
        JobState::Opened | JobState::Opening => on_opened(input, s),
        other => restore_failed(
            input,
            s,
            format!(
                "job {} could not be opened again (it is {})",
                input.spec.job_id,
                other.as_str()
            ),
        ),
    }
}

/// An error while restoring; `None` leaves a transient one to the usual retry.
pub(super) fn on_restore_error(
    input: &Input,
    s: &mut JobResetStatus,
    op: Op,
    error: &EsError,
) -> Option<Action> {
    if s.phase != Phase::Restoring || error.is_transient() {
        return None;
    }
    Some(match (op, error.status_code()) {
        (Op::OpenJob, Some(409)) => Action::ReadJob(JobRead::RestoreCheck),
        (Op::StartDatafeed, Some(409)) => Action::ReadDatafeed {
            datafeed_id: s.datafeed_id.clone().unwrap_or_default(),
        },
        _ => {
            let what = op.describe();
            restore_failed(input, s, format!("{what} failed: {error}"))
        }
    })
}

pub(super) fn restore_failed(input: &Input, s: &mut JobResetStatus, why: String) -> Action {
    let msg = format!(
        "{} (the reset itself succeeded), but putting the job back failed: {why}; open the job and start its datafeed by hand",
        completed_message(input, s)
    );
    fail(s, reason::RESTORE_FAILED, msg)
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
