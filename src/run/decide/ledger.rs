//! The job's ledger in the run: a key recorded `succeeded` ends the run at once
//! (AlreadyApplied, nothing touched); a `started` entry is written and read back before the
//! reset request, and the outcome after it. `BestEffort` turns a failed write into a
//! Warning (`ledgerState: unrecorded`); `Required` sends no reset without the `started`
//! entry. A run that fails after its `started` entry was recorded writes `failed` before it
//! ends (terminal phases do no I/O), so a JobReset created again under the same key knows no
//! reset of its own is in doubt. A success is written with no status write before it, and a
//! later read that finds it recorded ends the run by it. Pure.

use super::*;
use crate::api::LedgerMode;
use crate::es::UpdatedJob;
use crate::run::ledger::{self as book, Entry};
use serde_json::Value;

const STARTED: &str = "started";
const SUCCEEDED: &str = "succeeded";
const FAILED: &str = "failed";
/// A write was announced and is not yet read back.
const RECORDING: &str = "recording";
/// The same, for the second (and last) attempt.
const RETRYING: &str = "recording-again";
const UNRECORDED: &str = "unrecorded";

fn identity(input: &Input) -> Option<(String, String)> {
    if input.spec.ledger == LedgerMode::Disabled {
        return None;
    }
    book::identity(input.opaque_id, input.spec.run_key.as_deref())
}

/// Whether an outcome entry is still to be written (it starts from the job's settings as
/// they are then, so the job is read first).
pub(super) fn outcome_to_write(input: &Input, s: &JobResetStatus) -> bool {
    let done = matches!(
        s.ledger_state.as_deref(),
        Some(SUCCEEDED | FAILED | UNRECORDED)
    );
    identity(input).is_some() && !done
}

fn entry(input: &Input, s: &JobResetStatus, key: String, uid: String, state: &str) -> Entry {
    Entry {
        key,
        uid,
        attempt: s.reset_requests.max(1),
        task: s.task_id.clone(),
        state: state.to_owned(),
        reason: (state == FAILED)
            .then(|| s.outcome_reason.clone())
            .flatten(),
        at: conditions::format_time(input.now),
    }
}

/// The outcome this run records: `failed` while a failure reason is held.
fn outcome(s: &JobResetStatus) -> &'static str {
    if s.outcome_reason.is_some() {
        FAILED
    } else {
        SUCCEEDED
    }
}

/// A run that just failed with its `started` entry on the job records `failed` first: the
/// failure is held in `outcomeReason` and the run stays in Resetting until the write is read
/// back (or given up on), then fails with it.
pub(super) fn hold_failure(
    input: &Input,
    old: &JobResetStatus,
    s: &mut JobResetStatus,
) -> Option<Action> {
    if old.phase.is_terminal()
        || s.phase != Phase::Failed
        || s.ledger_state.as_deref() != Some(STARTED)
        || identity(input).is_none()
    {
        return None;
    }
    s.outcome_reason = s.reason.take();
    let msg = s.message.take().unwrap_or_default();
    set(s, Phase::Resetting, reason::RECORDING_OUTCOME, msg);
    Some(Action::ReadJob(JobRead::LedgerDone))
}

/// The outcome is recorded (or given up on): fail with the held reason, or go on as a
/// successful reset does.
fn finish(input: &Input, s: &mut JobResetStatus, msg: String) -> Action {
    match s.outcome_reason.take() {
        Some(r) => fail(s, &r, msg),
        None => restore::reset_done(input, s, msg, None),
    }
}

/// At the first read: this key already recorded `succeeded` means the reset was done; a
/// `started` entry of an earlier JobReset of this key (deleted and created again before its
/// outcome was written) may have reset the job: with no reset running and data on the job,
/// that cannot be told, and the run refuses rather than risk a second reset (a job that
/// holds nothing is reset again: harmless).
pub(super) fn already_applied(input: &Input, s: &mut JobResetStatus, job: &Job) -> Option<Action> {
    let (key, uid) = identity(input)?;
    s.ledger_key = Some(key.clone());
    let runs = book::entries(job.custom_settings.as_ref());
    let latest = book::latest(&runs, &key)?;
    let reset_running = job
        .blocked
        .as_ref()
        .is_some_and(|b| b.reason == BlockReason::Reset);
    // A closed job that holds nothing a reset would clear: resetting it again is harmless.
    let empty = job.state == JobState::Closed
        && job.processed_record_count == 0
        && job.model_snapshot_id.is_none();
    if latest.state == STARTED && latest.uid != uid && !reset_running && !empty {
        let msg = format!(
            "job {} records a reset under key {key} started at {} by an earlier JobReset (uid {}) whose outcome was never written; whether it ran cannot be told, so nothing was done: check the job, then use a new name or spec.runKey to reset it",
            input.spec.job_id, latest.at, latest.uid
        );
        return Some(fail(s, reason::AMBIGUOUS, msg));
    }
    let done = Some(latest).filter(|e| e.state == SUCCEEDED)?;
    s.ledger_state = Some(SUCCEEDED.to_owned());
    let msg = format!(
        "job {} already records run {key} as succeeded ({}{}): nothing was done; to reset it again, use a new name or spec.runKey",
        input.spec.job_id,
        done.at,
        done.task
            .as_deref()
            .map(|t| format!(", task {t}"))
            .unwrap_or_default()
    );
    set(s, Phase::Completed, reason::ALREADY_APPLIED, msg);
    Some(Action::Done)
}

/// The write after a read back that did not find the entry: one more (a crash can come
/// between the status write that announces a write and the write itself), then give up.
fn next_attempt(s: &JobResetStatus) -> Option<&'static str> {
    match s.ledger_state.as_deref() {
        Some(RECORDING) => Some(RETRYING),
        Some(RETRYING) => None,
        _ => Some(RECORDING),
    }
}

/// A write that did not land counts for nothing: step the attempt back.
fn step_back(s: &mut JobResetStatus) {
    s.ledger_state = match s.ledger_state.as_deref() {
        Some(RETRYING) => Some(RECORDING.to_owned()),
        Some(RECORDING) if outcome_known(s) => Some(STARTED.to_owned()),
        Some(RECORDING) => None,
        _ => s.ledger_state.take(),
    };
}

/// The write of a success goes out without the status write that announces it: the entry
/// itself is the run's record (`adopt_recorded`), so the announcement would only add a
/// status write, and its wait, to every reset. A failure is still announced first: its
/// reason is in status before the job records it.
pub fn success_written_unannounced(
    recorded: &JobResetStatus,
    new: &JobResetStatus,
    action: &Action,
) -> bool {
    matches!(action, Action::WriteLedger { .. })
        && outcome_known(new)
        && new.outcome_reason.is_none()
        && !outcome_known(recorded)
        && new.phase == recorded.phase
        && new.reset_requests == recorded.reset_requests
        && own_request(new)
}

/// The run sent the reset it is recording (not one it adopted): only then does its entry
/// stand for the outcome, unannounced and after a restart alike.
fn own_request(s: &JobResetStatus) -> bool {
    s.reset_requests > 0 && !s.adopted
}

/// The reset's outcome is known and being recorded: nothing may send a reset now.
pub(super) fn outcome_known(s: &JobResetStatus) -> bool {
    s.reason.as_deref() == Some(reason::RECORDING_OUTCOME)
}

/// Before any reset request of this run: write `started`, then read it back (PreReset).
pub(super) fn before_post(input: &Input, s: &mut JobResetStatus, job: &Job) -> Option<Action> {
    let (key, uid) = identity(input)?;
    if let Some(STARTED | UNRECORDED) = s.ledger_state.as_deref() {
        return None;
    }
    let runs = book::entries(job.custom_settings.as_ref());
    if book::latest(&runs, &key).is_some_and(|e| e.uid == uid && e.state == STARTED) {
        s.ledger_state = Some(STARTED.to_owned());
        return None;
    }
    let Some(attempt) = next_attempt(s) else {
        let why = "the entry was not on the job when read back, twice (another writer replaced custom_settings)";
        return Some(unrecorded(input, s, why));
    };
    s.ledger_state = Some(attempt.to_owned());
    // What the job holds now: the update's answer does not carry it, and the job is closed.
    s.job_fingerprint = Some(fingerprint(job));
    let e = entry(input, s, key, uid, STARTED);
    Some(Action::WriteLedger {
        custom_settings: book::with_entry(job.custom_settings.as_ref(), &e),
    })
}

/// The reset is done: record it before completing (or restoring). A job read that just
/// confirmed the outcome serves as the read the write starts from.
pub(super) fn record_outcome(
    input: &Input,
    s: &mut JobResetStatus,
    msg: &str,
    just_read: Option<Option<&Value>>,
) -> Option<Action> {
    identity(input)?;
    if let Some(SUCCEEDED | FAILED | UNRECORDED) = s.ledger_state.as_deref() {
        return None;
    }
    if !outcome_known(s) {
        let phase = s.phase;
        set(s, phase, reason::RECORDING_OUTCOME, msg.to_owned());
    }
    Some(match just_read {
        Some(settings) => on_outcome_settings(input, s, settings),
        None => Action::ReadJob(JobRead::LedgerDone),
    })
}

/// This run's current request is recorded `succeeded` on the job. That entry is written only
/// on the evidence of the reset's success and without a status write first, so after a
/// restart it is the run's own record: whatever is seen since (a vanished task, a passed
/// deadline, new data) cannot undo a reset that was done.
fn recorded_success(input: &Input, s: &JobResetStatus, settings: Option<&Value>) -> Option<String> {
    let (key, uid) = identity(input)?;
    if !own_request(s) {
        return None;
    }
    let runs = book::entries(settings);
    book::latest(&runs, &key)
        .filter(|e| e.uid == uid && e.state == SUCCEEDED && e.attempt == s.reset_requests)
        .filter(|e| e.task.is_none() || s.task_id.is_none() || e.task == s.task_id)
        .map(|e| e.at.clone())
}

/// A job read after this run's reset request that finds the run's success already recorded
/// (the operator stopped, or lost an answer, between that write and the status after it):
/// the run ends as recorded, before anything else the read shows is acted on.
pub(super) fn adopt_recorded(input: &Input, s: &mut JobResetStatus, job: &Job) -> Option<Action> {
    if !matches!(
        s.ledger_state.as_deref(),
        Some(STARTED | RECORDING | RETRYING)
    ) {
        return None;
    }
    let at = recorded_success(input, s, job.custom_settings.as_ref())?;
    Some(adopt_success(input, s, &at))
}

fn adopt_success(input: &Input, s: &mut JobResetStatus, at: &str) -> Action {
    s.outcome_reason = None;
    s.ledger_state = Some(SUCCEEDED.to_owned());
    let msg = format!(
        "{}, as the job's ledger recorded at {at}",
        completed_message(input, s)
    );
    finish(input, s, msg)
}

/// The read after the reset: write the outcome unless it is there.
pub(super) fn on_ledger_read(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    on_outcome_settings(input, s, job.custom_settings.as_ref())
}

fn on_outcome_settings(input: &Input, s: &mut JobResetStatus, settings: Option<&Value>) -> Action {
    let msg = s.message.clone().unwrap_or_default();
    let Some((key, uid)) = identity(input) else {
        return finish(input, s, msg);
    };
    let state = outcome(s);
    let runs = book::entries(settings);
    if book::latest(&runs, &key).is_some_and(|e| e.uid == uid && e.state == state) {
        s.ledger_state = Some(state.to_owned());
        return finish(input, s, msg);
    }
    let Some(attempt) = next_attempt(s) else {
        s.ledger_state = Some(UNRECORDED.to_owned());
        return finish(input, s, msg);
    };
    s.ledger_state = Some(attempt.to_owned());
    let e = entry(input, s, key, uid, state);
    Action::WriteLedger {
        custom_settings: book::with_entry(settings, &e),
    }
}

/// A write landed: it is read back from its answer (the job's configuration after the
/// update), else from the job. For the `started` entry that answer is also the last look
/// before the reset request: it shows no block and no protection, and the job was closed
/// when the write's read took its data (a job opened since refuses the reset with 409).
/// Anything else it does not show sends the run to read the job.
pub(super) fn on_written(
    input: &Input,
    s: &mut JobResetStatus,
    after: Option<&UpdatedJob>,
) -> Action {
    let settings = after.and_then(|a| a.custom_settings.as_ref());
    if outcome_known(s) {
        return match settings {
            Some(c) => on_outcome_settings(input, s, Some(c)),
            None => Action::ReadJob(JobRead::LedgerDone),
        };
    }
    let clear = after.is_some_and(|a| !a.blocked && !a.protected);
    let mine = identity(input).is_some_and(|(key, uid)| {
        let runs = book::entries(settings);
        book::latest(&runs, &key).is_some_and(|e| e.uid == uid && e.state == STARTED)
    });
    if clear && mine && s.job_fingerprint.is_some() && s.reset_requests == 0 {
        s.ledger_state = Some(STARTED.to_owned());
        return request(input, s);
    }
    Action::ReadJob(JobRead::PreReset)
}

/// A write failed. ML's upgrade mode (429 `status_exception`) is waited out in place, as a
/// refused reset is; other transient faults are retried; `Required` stops before the reset.
pub(super) fn on_write_error(
    input: &Input,
    s: &mut JobResetStatus,
    error: &EsError,
) -> Option<Action> {
    step_back(s);
    if error.status_code() == Some(429) && error.kind() == Some("status_exception") {
        s.attempts = s.attempts.saturating_add(1);
        let phase = s.phase;
        let upgrade = format!(
            "Elasticsearch ML is in upgrade mode (a cluster upgrade is running) and refused writing the ledger of job {}; it will be written again",
            input.spec.job_id
        );
        if outcome_known(s) {
            // The reason stays: the outcome is known, only its record waits.
            let msg = format!("{}; {upgrade}", s.message.clone().unwrap_or_default());
            set(s, phase, reason::RECORDING_OUTCOME, msg);
        } else {
            set(s, phase, reason::UPGRADE_IN_PROGRESS, upgrade);
        }
        return Some(Action::Requeue(backoff(input, s.attempts)));
    }
    if error.is_transient() {
        return outcome_known(s).then(|| wait_to_record(input, s, "writing", error));
    }
    let why = format!("writing the job's ledger failed: {error}");
    Some(unrecorded(input, s, &why))
}

/// A transient fault while the outcome is being recorded: retried with the outcome kept in
/// status (it is written now, with the fault), so no later look (a passed deadline, a task
/// gone meanwhile) can decide otherwise.
pub(super) fn wait_to_record(
    input: &Input,
    s: &mut JobResetStatus,
    doing: &str,
    error: &EsError,
) -> Action {
    s.attempts = s.attempts.saturating_add(1);
    let phase = s.phase;
    let base = s.message.clone().unwrap_or_default();
    let base = base
        .split("; recording it")
        .next()
        .unwrap_or_default()
        .to_owned();
    let msg =
        format!("{base}; recording it in the job's ledger: {doing} it failed, will retry: {error}");
    set(s, phase, reason::RECORDING_OUTCOME, msg);
    Action::Requeue(backoff(input, s.attempts))
}

/// The read back after the reset failed for good (the job deleted, a privilege taken away):
/// the run ends as it would have (a successful reset is done all the same).
pub(super) fn on_outcome_read_error(input: &Input, s: &mut JobResetStatus) -> Action {
    s.ledger_state = Some(UNRECORDED.to_owned());
    let msg = s.message.clone().unwrap_or_default();
    finish(input, s, msg)
}

fn unrecorded(input: &Input, s: &mut JobResetStatus, why: &str) -> Action {
    let after_reset = outcome_known(s);
    if !after_reset && input.spec.ledger == LedgerMode::Required {
        let msg = format!("{why}; nothing was reset (spec.ledger is Required)");
        return fail(s, reason::LEDGER_WRITE_FAILED, msg);
    }
    s.ledger_state = Some(UNRECORDED.to_owned());
    if after_reset {
        let msg = s.message.clone().unwrap_or_default();
        return finish(input, s, msg);
    }
    // Said once (an Event names it), then the reset goes on.
    let phase = s.phase;
    let msg = format!("{why}; the reset goes on without the ledger (spec.ledger is BestEffort)");
    set(s, phase, reason::LEDGER_WRITE_FAILED, msg);
    Action::ReadJob(JobRead::PreReset)
}

#[cfg(test)]
#[path = "ledger_tests/mod.rs"]
mod tests;
