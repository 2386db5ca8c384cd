//! Table cells of a Pending run: what the first reads (version, privileges, job) decide. Pure,
//! no I/O.

use super::*;

#[test]
fn pending_cells() {
    use BlockReason::*;
    use JobState::*;
    let spec = spec();
    let fresh = JobResetStatus::default();
    let mut pending_v = st(Phase::Pending);
    pending_v.reason = Some("Accepted".into());
    let mut old_version = pending_v.clone();
    old_version.elasticsearch_version = None;
    let p = Phase::Pending;
    let cases = vec![
        case(
            "first run reads version",
            fresh.clone(),
            Observation::Start,
            Action::ReadInfo,
            p,
            "Accepted",
        ),
        case(
            "known version checks privileges first",
            pending_v.clone(),
            Observation::Start,
            Action::CheckPrivileges,
            p,
            "Accepted",
        ),
        case(
            "version ok",
            old_version.clone(),
            Observation::Info(ClusterInfo {
                version: "8.15.0".into(),
                upgrade_mode: false,
            }),
            Action::CheckPrivileges,
            p,
            "Accepted",
        ),
        case(
            "privileges held: reads the job",
            pending_v.clone(),
            Observation::Privileges(Privileges::Held(vec![
                ("manage_ml".into(), true),
                ("cluster:monitor/task/get".into(), true),
            ])),
            Action::ReadJob(JobRead::Initial),
            p,
            "Accepted",
        ),
        case(
            "security off: reads the job",
            pending_v.clone(),
            Observation::Privileges(Privileges::SecurityOff),
            Action::ReadJob(JobRead::Initial),
            p,
            "Accepted",
        ),
        case(
            "task privilege missing: fails before any write",
            pending_v.clone(),
            Observation::Privileges(Privileges::Held(vec![
                ("manage_ml".into(), true),
                ("cluster:monitor/task/get".into(), false),
            ])),
            Action::Done,
            Phase::Failed,
            reason::MISSING_PRIVILEGE,
        ),
        case(
            "version too old",
            old_version.clone(),
            Observation::Info(ClusterInfo {
                version: "7.10.2".into(),
                upgrade_mode: false,
            }),
            Action::Done,
            Phase::Failed,
            "UnsupportedVersion",
        ),
        case(
            "version garbage",
            old_version,
            Observation::Info(ClusterInfo {
                version: "banana".into(),
                upgrade_mode: false,
            }),
            Action::Done,
            Phase::Failed,
            "UnsupportedVersion",
        ),
        case(
            "opened job closes",
            pending_v.clone(),
            closed_ok(job(Opened, None, true), JobRead::Initial),
            Action::Close { force: false },
            Phase::Closing,
            "ClosingJob",
        ),
        case(
            "failed job force-closes",
            pending_v.clone(),
            closed_ok(job(Failed, None, true), JobRead::Initial),
            Action::Close { force: true },
            Phase::Closing,
            "ClosingJob",
        ),
        case(
            "closed job is not closed again: its first read is the look before the reset",
            pending_v.clone(),
            closed_ok(job(Closed, None, true), JobRead::Initial),
            Action::PostReset,
            Phase::Resetting,
            "ResetRequested",
        ),
        case(
            "opening job closes",
            pending_v.clone(),
            closed_ok(job(Opening, None, true), JobRead::Initial),
            Action::Close { force: false },
            Phase::Closing,
            "ClosingJob",
        ),
        case(
            "closing job closes",
            pending_v.clone(),
            closed_ok(job(Closing, None, true), JobRead::Initial),
            Action::Close { force: false },
            Phase::Closing,
            "ClosingJob",
        ),
        case(
            "reset-blocked job still closes (adopted later)",
            pending_v.clone(),
            closed_ok(
                job(Closed, Some((Reset, Some("m:1"))), true),
                JobRead::Initial,
            ),
            Action::Close { force: false },
            Phase::Closing,
            "ClosingJob",
        ),
        case(
            "delete-blocked job fails",
            pending_v.clone(),
            closed_ok(job(Closed, Some((Delete, None)), true), JobRead::Initial),
            Action::Done,
            Phase::Failed,
            "JobBeingDeleted",
        ),
        case(
            "revert-blocked job fails",
            pending_v.clone(),
            closed_ok(job(Opened, Some((Revert, None)), true), JobRead::Initial),
            Action::Done,
            Phase::Failed,
            "JobBeingReverted",
        ),
        case(
            "another reset goes first",
            pending_v.clone(),
            Observation::WaitingFor {
                name: Some("older".into()),
            },
            Action::Requeue(Duration::from_secs(30)),
            p,
            "WaitingFor/older",
        ),
        case(
            "another namespace's reset goes first, unnamed",
            pending_v.clone(),
            Observation::WaitingFor { name: None },
            Action::Requeue(Duration::from_secs(30)),
            p,
            "WaitingForOtherNamespace",
        ),
        case(
            "secret missing waits",
            pending_v.clone(),
            Observation::ConnectionUnavailable {
                reason: "SecretNotFound".into(),
                message: "Secret x not found".into(),
            },
            Action::Requeue(Duration::from_secs(30)),
            p,
            "SecretNotFound",
        ),
        case(
            "impossible spec fails",
            pending_v.clone(),
            Observation::InvalidSpec {
                reason: "InvalidSpec".into(),
                message: "both url and ref".into(),
            },
            Action::Done,
            Phase::Failed,
            "InvalidSpec",
        ),
        case(
            "version read unreachable retries",
            fresh.clone(),
            Observation::EsFailed {
                op: Op::Info,
                error: connect_err(),
            },
            Action::Requeue(Duration::from_secs(1)),
            p,
            "ElasticsearchUnreachable",
        ),
        case(
            "job missing fails",
            pending_v.clone(),
            Observation::EsFailed {
                op: Op::ReadJob(JobRead::Initial),
                error: api(
                    404,
                    "resource_not_found_exception",
                    "No known job with id 'total-requests'",
                ),
            },
            Action::Done,
            Phase::Failed,
            "JobNotFound",
        ),
        case(
            "bad credentials fail",
            pending_v.clone(),
            Observation::EsFailed {
                op: Op::Info,
                error: api(401, "security_exception", "unable to authenticate"),
            },
            Action::Done,
            Phase::Failed,
            "Unauthorized",
        ),
        case(
            "job read 5xx retries",
            pending_v,
            Observation::EsFailed {
                op: Op::ReadJob(JobRead::Initial),
                error: api(503, "unavailable", "x"),
            },
            Action::Requeue(Duration::from_secs(1)),
            p,
            "ElasticsearchError",
        ),
    ];
    run_table(&spec, 10, cases);
}
