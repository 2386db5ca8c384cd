//! Following the reset task: its outcome (done, failed, cancelled, still running, gone) and
//! whether a task found by listing is the operator's own (opaque id, start time). Pure.

use super::*;

/// How far a task's start may be from the recorded request time: clock skew between the
/// operator and the node, plus the request's own time on the way.
const START_SLACK_MS: i64 = 120_000;

/// The run's own task among the running reset tasks, if its request started one.
pub(super) fn on_reset_tasks(input: &Input, s: &mut JobResetStatus, tasks: &[TaskInfo]) -> Action {
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

pub(super) fn on_task(input: &Input, s: &mut JobResetStatus, poll: TaskPoll) -> Action {
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
        TaskPoll::Completed { outcome, task } => match outcome {
            TaskOutcome::Acknowledged => acknowledged(input, s, &task),
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

/// The run's own task acknowledged the reset. Elasticsearch answers so only after it has
/// cleared the job's reset block (reference 4.3, step 9), so that answer is the evidence. The
/// job is read once more where the outcome's ledger entry needs the job's `custom_settings`
/// as they are now (`_update` replaces the map whole: an older copy would undo an edit made
/// during the reset), or where the task is not known to be this run's alone: by its
/// `X-Opaque-Id` naming this JobReset and request. An adopted one's action and description
/// are all there is; one known by its start time alone (no opaque id kept) may be another
/// client's; and the standalone command's requests name only the job (no uid), so another
/// invocation's stored result could answer for a reused task id.
fn acknowledged(input: &Input, s: &mut JobResetStatus, task: &TaskInfo) -> Action {
    let named = crate::run::ledger::identity(input.opaque_id, None).is_some();
    let mine = attempt_opaque_id(input.opaque_id, s.reset_requests);
    let by_id = task.opaque_id.as_deref() == Some(mine.as_str());
    if s.adopted || !named || !by_id || ledger::outcome_to_write(input, s) {
        return Action::ReadJob(JobRead::ConfirmAck);
    }
    restore::reset_done(input, s, completed_message(input, s), None)
}

/// Task numbers restart at 1 when a node restarts, so an id may name someone else's task, even
/// a later reset of the same job. The run's own request is known by the `X-Opaque-Id` its task
/// keeps or, where none is kept, by a start near the recorded request time. An adopted reset
/// is someone else's: its action and description are all there is to check.
pub(super) fn task_is_ours(input: &Input, s: &JobResetStatus, task: &TaskInfo) -> bool {
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
