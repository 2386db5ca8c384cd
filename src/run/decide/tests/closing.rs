//! Table cells of a Closing run: the close's answers and the read after it. Pure, no I/O.

use super::*;

#[test]
fn closing_cells() {
    use BlockReason::*;
    use JobState::*;
    let spec = spec();
    let c = st(Phase::Closing);
    let mut was_failed = st(Phase::Closing);
    was_failed.job_state_before = Some("failed".into());
    let mut no_version = st(Phase::Closing);
    no_version.elasticsearch_version = None;
    let cl = Phase::Closing;
    let r = Phase::Resetting;
    let cases = vec![
        case(
            "restart closes again",
            c.clone(),
            Observation::Start,
            Action::Close { force: false },
            cl,
            "ClosingJob",
        )
        .with_reason_from_status(),
        case(
            "restart of a failed job force-closes",
            was_failed,
            Observation::Start,
            Action::Close { force: true },
            cl,
            "ClosingJob",
        )
        .with_reason_from_status(),
        case(
            "restart without version reads it",
            no_version,
            Observation::Start,
            Action::ReadInfo,
            cl,
            "ClosingJob",
        )
        .with_reason_from_status(),
        case(
            "closed: read before reset",
            c.clone(),
            Observation::Closed,
            Action::ReadJob(JobRead::PreReset),
            cl,
            "ClosingJob",
        )
        .with_reason_from_status(),
        case(
            "closed and clear: intent then reset",
            c.clone(),
            closed_ok(job(Closed, None, true), JobRead::PreReset),
            Action::PostReset,
            r,
            "ResetRequested",
        ),
        case(
            "empty job still reset",
            c.clone(),
            closed_ok(job(Closed, None, false), JobRead::PreReset),
            Action::PostReset,
            r,
            "ResetRequested",
        ),
        case(
            "reset under way with task: adopt",
            c.clone(),
            closed_ok(
                job(Closed, Some((Reset, Some("m:7"))), true),
                JobRead::PreReset,
            ),
            follow("m:7"),
            r,
            "Adopted",
        ),
        case(
            "reset under way without task: adopt and poll",
            c.clone(),
            closed_ok(job(Closed, Some((Reset, None)), true), JobRead::PreReset),
            Action::Requeue(Duration::from_secs(5)),
            r,
            "Adopted",
        ),
        case(
            "delete under way fails",
            c.clone(),
            closed_ok(job(Closed, Some((Delete, None)), true), JobRead::PreReset),
            Action::Done,
            Phase::Failed,
            "JobBeingDeleted",
        ),
        case(
            "reopened job closes again",
            c.clone(),
            closed_ok(job(Opened, None, true), JobRead::PreReset),
            Action::Close { force: false },
            cl,
            "ClosingJob",
        )
        .with_reason_from_status(),
        case(
            "failed job closes with force",
            c.clone(),
            Observation::EsFailed {
                op: Op::Close { force: false },
                error: api(
                    409,
                    "status_exception",
                    "cannot close job [x] because it failed, use force close",
                ),
            },
            Action::ReadJob(JobRead::CloseRefused),
            cl,
            "ClosingJob",
        ),
        case(
            "forced close conflict fails",
            c.clone(),
            Observation::EsFailed {
                op: Op::Close { force: true },
                error: api(409, "status_exception", "datafeeds could not be stopped"),
            },
            Action::Done,
            Phase::Failed,
            "CloseFailed",
        ),
        case(
            "close forbidden",
            c.clone(),
            Observation::EsFailed {
                op: Op::Close { force: false },
                error: api(
                    403,
                    "security_exception",
                    "action [cluster:admin/xpack/ml/job/close] is unauthorized",
                ),
            },
            Action::Done,
            Phase::Failed,
            "MissingPrivilege",
        ),
        case(
            "close job missing",
            c.clone(),
            Observation::EsFailed {
                op: Op::Close { force: false },
                error: api(404, "resource_not_found_exception", "No known job"),
            },
            Action::Done,
            Phase::Failed,
            "JobNotFound",
        ),
        case(
            "close timeout retries",
            c.clone(),
            Observation::EsFailed {
                op: Op::Close { force: false },
                error: api(
                    500,
                    "illegal_state_exception",
                    "Timed out when waiting for persistent tasks",
                ),
            },
            Action::Requeue(Duration::from_secs(1)),
            cl,
            "ElasticsearchError",
        ),
        case(
            "close unreachable retries",
            c,
            Observation::EsFailed {
                op: Op::Close { force: false },
                error: connect_err(),
            },
            Action::Requeue(Duration::from_secs(1)),
            cl,
            "ElasticsearchUnreachable",
        ),
    ];
    run_table(&spec, 10, cases);
}
