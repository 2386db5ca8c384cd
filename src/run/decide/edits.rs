//! The status edits and small rules every step shares: adopt, intend, complete, fail,
//! deadlines, backoff, the job fingerprint, version checks. Pure.

use super::*;

/// Enters Resetting with the adopted reset's task (if the block names one).
pub(super) fn adopt(
    input: &Input,
    s: &mut JobResetStatus,
    job: &Job,
    task_id: Option<String>,
) -> Action {
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
pub(super) fn intend_reset(input: &Input, s: &mut JobResetStatus, job: &Job) -> Action {
    // Every reset request of this run is preceded by its `started` entry (spec.ledger).
    if let Some(write) = ledger::before_post(input, s, job) {
        return write;
    }
    s.job_fingerprint = Some(fingerprint(job));
    request(input, s)
}

/// The intent, with the fingerprint already in status (taken by the read the ledger's
/// `started` write started from).
pub(super) fn request(input: &Input, s: &mut JobResetStatus) -> Action {
    s.reset_requested_time = Some(conditions::format_time(input.now));
    s.reset_requests = s.reset_requests.saturating_add(1);
    s.task_id = None;
    let msg = format!("requesting the reset of job {}", input.spec.job_id);
    set(s, Phase::Resetting, reason::RESET_REQUESTED, msg);
    Action::PostReset
}

/// Sends the recorded, unanswered request once more (same count, same fingerprint).
pub(super) fn request_again(input: &Input, s: &mut JobResetStatus) -> Action {
    s.reset_requested_time = Some(conditions::format_time(input.now));
    let msg = format!(
        "requesting the reset of job {} (the earlier request left no trace in Elasticsearch)",
        input.spec.job_id
    );
    set(s, Phase::Resetting, reason::RESET_REQUESTED, msg);
    Action::PostReset
}

pub(super) fn complete(s: &mut JobResetStatus, msg: String) -> Action {
    set(s, Phase::Completed, reason::RESET_COMPLETED, msg);
    Action::Done
}

pub(super) fn fail(s: &mut JobResetStatus, r: &str, msg: String) -> Action {
    set(s, Phase::Failed, r, msg);
    Action::Done
}

pub(super) fn set(s: &mut JobResetStatus, phase: Phase, r: &str, msg: String) {
    s.phase = phase;
    s.reason = Some(r.to_string());
    s.message = Some(msg);
}

pub(super) fn completed_message(input: &Input, s: &JobResetStatus) -> String {
    let jid = &input.spec.job_id;
    let said = match (&s.task_id, s.adopted) {
        (_, true) => format!("job {jid} was reset by a reset already under way (adopted)"),
        (Some(t), false) => format!("job {jid} was reset (task {t})"),
        (None, false) => format!("job {jid} was reset"),
    };
    // No Event told the close: the outcome's says it.
    match s.job_state_before.as_deref() {
        Some(state) if state != "closed" => format!("{said}; it was {state} and was closed first"),
        _ => said,
    }
}

pub(super) fn fail_deadline(input: &Input, s: &mut JobResetStatus) {
    let secs = input.spec.deadline_seconds;
    if s.phase == Phase::Restoring {
        let why = format!("the deadline of {secs}s passed before it was back");
        restore::restore_failed(input, s, why);
        return;
    }
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

pub(super) fn deadline_passed(input: &Input, s: &JobResetStatus) -> bool {
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
pub(super) fn close_first(input: &Input, s: &JobResetStatus, job: &Job) -> Option<Action> {
    (job.state != JobState::Closed).then(|| Action::Close {
        force: close_force(input, s, Some(job.state)),
    })
}

/// Sets the bookkeeping fields every status write carries.
pub(super) fn finalize(input: &Input, old: &JobResetStatus, s: &mut JobResetStatus) {
    conditions::stamp(old, s, input.generation, input.now);
}

pub(super) fn close_force(input: &Input, s: &JobResetStatus, state: Option<JobState>) -> bool {
    input.spec.close_job.force
        || state == Some(JobState::Failed)
        || (state.is_none() && s.job_state_before.as_deref() == Some("failed"))
}

/// Delay between job reads while waiting for a reset that has no task to follow.
pub(super) fn poll_interval(input: &Input) -> Duration {
    Duration::from_secs(5).min(input.backoff_cap)
}

pub(super) fn backoff(input: &Input, attempts: u32) -> Duration {
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
pub(super) fn is_node_failure(kind: &str) -> bool {
    kind.starts_with("node_") || kind.ends_with("transport_exception")
}

/// `"8.13.2"`, `"9.0.0-SNAPSHOT"` -> `(8, 13)`.
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

pub(super) fn version_unknown(s: &JobResetStatus) -> bool {
    s.elasticsearch_version.as_deref() == Some(UNKNOWN_VERSION)
}

/// The documented way out of a reset block that Elasticsearch before 8.13 cannot clear.
pub(super) fn stuck_way_out(jid: &str) -> String {
    format!(
        "only deleting the job clears the block (DELETE _ml/anomaly_detectors/{jid}?force=true, \
         then recreate the job), or upgrade to 8.13+ and create a new JobReset"
    )
}

pub(super) fn version_at_least(s: &JobResetStatus, min: (u32, u32)) -> bool {
    s.elasticsearch_version
        .as_deref()
        .and_then(parse_version)
        .is_some_and(|v| v >= min)
}

/// A JobReset first seen after its `notAfter` does nothing (an old manifest applied again).
pub(super) fn expired(input: &Input, s: &mut JobResetStatus) -> Option<Action> {
    let raw = input.spec.not_after.as_deref()?;
    let Ok(limit) = raw.parse::<Timestamp>() else {
        let msg = format!("notAfter {raw:?} is not an RFC 3339 time");
        return Some(fail(s, reason::INVALID_SPEC, msg));
    };
    (input.now > limit).then(|| {
        let msg = format!(
            "first seen at {}, after its notAfter {raw}: nothing was done; to reset the job now, create a new JobReset",
            conditions::format_time(input.now)
        );
        fail(s, reason::EXPIRED, msg)
    })
}
