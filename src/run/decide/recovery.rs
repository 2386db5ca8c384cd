//! After a lost answer or a vanished task: what the job's data and block show about whether
//! the reset ran, and what to do next (complete, ask again, follow the block's task, or
//! fail as ambiguous). Pure, like the rest of `decide`.

use super::*;

/// No answer in status says how the reset request ended (it was lost, or the task ended
/// waiting for another reset): the job's data says whether a reset ran (no block: none runs
/// any more).
pub(super) fn after_lost_answer(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
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
            restore::reset_done(input, s, msg, Some(job.custom_settings.as_ref()))
        }
        Evidence::Unchanged if before.is_empty() && answer_may_be_lost(s) => {
            let msg = format!(
                "the answer to the reset request was lost; job {jid} holds nothing a reset would \
                 clear and no reset is running, which is how a reset leaves it ({})",
                requests_sent(s)
            );
            restore::reset_done(input, s, msg, Some(job.custom_settings.as_ref()))
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
pub(super) fn block_gone(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    let now = fingerprint(job);
    // Every run records one before it sends or adopts; a status written by an older version
    // may lack it, and then only an empty job says the reset ran.
    let Some(before) = s.job_fingerprint.clone() else {
        if now.is_empty() {
            return restore::reset_done(
                input,
                s,
                completed_message(input, s),
                Some(job.custom_settings.as_ref()),
            );
        }
        return ambiguous(input, s, &now, &now);
    };
    match evidence::compare(&before, &now) {
        Evidence::Cleared => restore::reset_done(
            input,
            s,
            completed_message(input, s),
            Some(job.custom_settings.as_ref()),
        ),
        Evidence::Unchanged if before.is_empty() => restore::reset_done(
            input,
            s,
            completed_message(input, s),
            Some(job.custom_settings.as_ref()),
        ),
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
pub(super) fn ambiguous(
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
pub(super) fn requests_sent(s: &JobResetStatus) -> String {
    match s.reset_requests {
        0 => "no reset request was sent".into(),
        1 => "one reset request was sent".into(),
        n => format!("{n} reset requests were sent"),
    }
}

/// The request may have gone out and been acted on, with nothing of its answer in status:
/// the intent is the last record, or the request ended in a lost connection or a timeout
/// (an answer from Elasticsearch, even an error, says it did not act; so does a refused
/// certificate, which sends nothing).
pub(super) fn answer_may_be_lost(s: &JobResetStatus) -> bool {
    s.reason
        .as_deref()
        .is_some_and(|r| r == reason::RESET_REQUESTED || r == UNREACHABLE || r == TIMEOUT)
}

/// The reset task vanished: the job's `blocked` field and data say what happened.
pub(super) fn on_task_gone(
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
