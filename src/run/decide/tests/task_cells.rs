//! Table cells of a Resetting run following its task: each long-poll answer. Pure, no I/O.

use super::*;

#[test]
fn resetting_task_cells() {
    let spec = spec();
    let r = Phase::Resetting;
    let f = Phase::Failed;
    let mut intent = st(Phase::Resetting);
    intent.job_fingerprint = Some(full_fp());
    intent.reset_requests = 1;
    let t = with_task(st(Phase::Resetting), "n1:39");
    let mut adopted = st(Phase::Resetting);
    adopted.adopted = true;
    let done = |outcome| {
        Observation::Task(TaskPoll::Completed {
            task: task(true),
            outcome,
        })
    };
    let failed = |kind: &str, why: &str| {
        done(TaskOutcome::Failed(ErrorCause {
            kind: kind.into(),
            reason: why.into(),
        }))
    };
    let cases = vec![
        case(
            "reset posted: record the task id",
            intent.clone(),
            Observation::ResetPosted {
                task_id: "n1:39".into(),
            },
            follow("n1:39"),
            r,
            "ResetStarted",
        ),
        case(
            "restart with task id follows",
            t.clone(),
            Observation::Start,
            follow("n1:39"),
            r,
            "ResetStarted",
        )
        .with_reason_from_status(),
        case(
            "restart without task id looks for its own task first",
            intent.clone(),
            Observation::Start,
            Action::FindOwnTask,
            r,
            "ResetRequested",
        )
        .with_reason_from_status(),
        case(
            "its own task still runs: follow it, not adopted",
            intent.clone(),
            Observation::ResetTasks(vec![
                TaskInfo {
                    opaque_id: Some("kibana".into()),
                    id: 7,
                    ..task(true)
                },
                TaskInfo {
                    parent: Some("n1:39".into()),
                    id: 40,
                    node: "master".into(),
                    ..task(true)
                },
                task(true),
            ]),
            follow("n1:39"),
            r,
            "ResetRunning",
        ),
        case(
            "no task of its own runs: the job decides",
            intent.clone(),
            Observation::ResetTasks(vec![TaskInfo {
                opaque_id: Some("kibana".into()),
                ..task(true)
            }]),
            Action::ReadJob(JobRead::Recover),
            r,
            "ResetRequested",
        )
        .with_reason_from_status(),
        case(
            "listing tasks is not allowed: the job decides",
            intent.clone(),
            Observation::EsFailed {
                op: Op::FindOwnTask,
                error: api(
                    403,
                    "security_exception",
                    "action [cluster:monitor/tasks/lists] is unauthorized",
                ),
            },
            Action::ReadJob(JobRead::Recover),
            r,
            "ResetRequested",
        )
        .with_reason_from_status(),
        case(
            "restart of adopted without task waits on the job",
            adopted,
            Observation::Start,
            Action::ReadJob(JobRead::AdoptWait),
            r,
            "Adopted",
        )
        .with_reason_from_status(),
        case(
            "long-poll timed out",
            t.clone(),
            Observation::Task(TaskPoll::StillRunning),
            Action::Requeue(Duration::ZERO),
            r,
            "ResetRunning",
        ),
        case(
            "running, ours",
            t.clone(),
            Observation::Task(TaskPoll::Running(task(true))),
            Action::Requeue(Duration::ZERO),
            r,
            "ResetRunning",
        ),
        case(
            "running, someone else's task",
            t.clone(),
            Observation::Task(TaskPoll::Running(task(false))),
            Action::ReadJob(JobRead::TaskGone),
            r,
            "ResetStarted",
        )
        .with_reason_from_status(),
        // Elasticsearch acknowledges only after it cleared the reset block: with no ledger
        // entry to write, nothing is left to read.
        case(
            "success of our own task completes",
            t.clone(),
            done(TaskOutcome::Acknowledged),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "success of an adopted task: confirm on the job",
            {
                let mut a = t.clone();
                a.adopted = true;
                a
            },
            done(TaskOutcome::Acknowledged),
            Action::ReadJob(JobRead::ConfirmAck),
            r,
            "ResetStarted",
        )
        .with_reason_from_status(),
        case(
            "success of a reused id is not ours",
            t.clone(),
            Observation::Task(TaskPoll::Completed {
                task: task(false),
                outcome: TaskOutcome::Acknowledged,
            }),
            Action::ReadJob(JobRead::TaskGone),
            r,
            "ResetStarted",
        )
        .with_reason_from_status(),
        case(
            "no stored result",
            t.clone(),
            done(TaskOutcome::NoResult),
            Action::ReadJob(JobRead::TaskGone),
            r,
            "ResetStarted",
        )
        .with_reason_from_status(),
        case(
            "404",
            t.clone(),
            Observation::Task(TaskPoll::NotFound),
            Action::ReadJob(JobRead::TaskGone),
            r,
            "ResetStarted",
        )
        .with_reason_from_status(),
        case(
            "cancelled",
            t.clone(),
            done(TaskOutcome::NotAcknowledged),
            Action::Done,
            f,
            "Cancelled",
        ),
        case(
            "not closed",
            t.clone(),
            failed(
                "status_exception",
                "Can only reset a job when it is closed.",
            ),
            Action::ReadJob(JobRead::ResetRefused),
            r,
            "ResetRejected",
        ),
        case(
            "deleted meanwhile",
            t.clone(),
            failed(
                "status_exception",
                "cannot reset job while it is blocked with [delete]",
            ),
            Action::ReadJob(JobRead::ResetRefused),
            r,
            "ResetRejected",
        ),
        case(
            "job vanished",
            t.clone(),
            failed(
                "resource_not_found_exception",
                "No known job with id 'total-requests'",
            ),
            Action::ReadJob(JobRead::AfterTaskNotFound),
            r,
            "ResetFailed",
        ),
        case(
            "stuck before 8.13",
            t.clone(),
            failed(
                "resource_not_found_exception",
                "task [m:1] isn't running and hasn't stored its results",
            ),
            Action::ReadJob(JobRead::AfterTaskNotFound),
            r,
            "ResetFailed",
        ),
        case(
            "no privilege",
            t.clone(),
            failed(
                "security_exception",
                "action [cluster:admin/xpack/ml/job/reset] is unauthorized",
            ),
            Action::Done,
            f,
            "MissingPrivilege",
        ),
        case(
            "task cancelled error",
            t.clone(),
            failed("task_cancelled_exception", "task cancelled [deleting job]"),
            Action::Done,
            f,
            "Cancelled",
        ),
        case(
            "other error",
            t.clone(),
            failed("exception", "reset failed to complete"),
            Action::Done,
            f,
            "ResetFailed",
        ),
        case(
            "task read forbidden",
            t.clone(),
            Observation::EsFailed {
                op: Op::FollowTask,
                error: api(403, "security_exception", "unauthorized"),
            },
            Action::Done,
            f,
            "MissingPrivilege",
        ),
        case(
            "task read 429 retries",
            t.clone(),
            Observation::EsFailed {
                op: Op::FollowTask,
                error: api(429, "es_rejected_execution_exception", "busy"),
            },
            Action::Requeue(Duration::from_secs(1)),
            r,
            "TooManyRequests",
        ),
        case(
            "reset POST unreachable retries",
            intent.clone(),
            Observation::EsFailed {
                op: Op::PostReset,
                error: connect_err(),
            },
            Action::Requeue(Duration::from_secs(1)),
            r,
            "ElasticsearchUnreachable",
        ),
        case(
            "reset POST refused",
            intent,
            Observation::EsFailed {
                op: Op::PostReset,
                error: api(
                    409,
                    "status_exception",
                    "cannot reset job while indices are being upgraded",
                ),
            },
            // The job and ML's upgrade mode say why (refusals_are_told_apart_by_the_job).
            Action::ReadJob(JobRead::ResetRefused),
            r,
            "ResetRejected",
        ),
    ];
    run_table(&spec, 10, cases);
}
