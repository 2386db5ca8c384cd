//! Errors of any step, classified once: transient (retried with backoff, the phase kept),
//! upgrade mode (wait), or permanent (Failed with a stable reason), on Elasticsearch's
//! `error.type` and status code. Pure.

use super::*;

pub(super) fn on_error(input: &Input, s: &mut JobResetStatus, op: Op, error: EsError) -> Action {
    if op == Op::WriteLedger
        && let Some(action) = ledger::on_write_error(input, s, &error)
    {
        return action;
    }
    if op == Op::ReadJob(JobRead::LedgerDone) {
        if !error.is_transient() {
            return ledger::on_outcome_read_error(input, s);
        }
        if ledger::outcome_known(s) {
            return ledger::wait_to_record(input, s, "reading the job for", &error);
        }
    }
    if let Some(action) = restore::on_restore_error(input, s, op, &error) {
        return action;
    }
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

pub(super) fn classify_error(
    input: &Input,
    s: &mut JobResetStatus,
    op: Op,
    error: EsError,
) -> Action {
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
pub(super) fn wait_for_upgrade(input: &Input, s: &mut JobResetStatus) -> Action {
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
