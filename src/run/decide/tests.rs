//! Table tests for `decide`: phase × observation (job state, block, task answer, error).
//! Pure, no I/O.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::{
    api::{ElasticsearchSpec, JobFingerprint, JobResetSpec, JobResetStatus, Phase},
    es::{Blocked, ErrorCause},
    run::conditions::{READY, RECONCILING, STALLED},
};

const JOB: &str = "total-requests";
const T0: i64 = 1_700_000_000;

fn spec() -> JobResetSpec {
    let es = ElasticsearchSpec {
        url: Some("https://es.example:9200".into()),
        ..Default::default()
    };
    JobResetSpec {
        // The ledger has its own tests (ledger_tests.rs); these tables are about the reset.
        ledger: crate::api::LedgerMode::Disabled,
        ..JobResetSpec::for_job(JOB, es)
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(T0 + secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn input(spec: &JobResetSpec, secs: i64) -> Input<'_> {
    Input {
        spec,
        generation: Some(1),
        now: at(secs),
        backoff_base: Duration::from_secs(1),
        backoff_cap: Duration::from_secs(60),
        opaque_id: OPAQUE,
        known_unsent: false,
    }
}

/// The run's `X-Opaque-Id` in these tests.
const OPAQUE: &str = "jobreset/ns/r/uid-1";

fn st(phase: Phase) -> JobResetStatus {
    JobResetStatus {
        phase,
        elasticsearch_version: Some("8.15.0".into()),
        start_time: Some(conditions::format_time(at(0))),
        ..Default::default()
    }
}

fn with_task(mut s: JobResetStatus, task: &str) -> JobResetStatus {
    s.task_id = Some(task.into());
    s.reset_requests = 1;
    s.job_fingerprint = Some(full_fp());
    s
}

fn full_fp() -> JobFingerprint {
    JobFingerprint {
        model_snapshot_id: Some("1700".into()),
        processed_record_count: 1000,
        latest_record_time_ms: Some(1_699_999_000_000),
    }
}

fn job(state: JobState, block: Option<(BlockReason, Option<&str>)>, data: bool) -> Job {
    Job {
        id: JOB.into(),
        state,
        blocked: block.map(|(reason, t)| Blocked {
            reason,
            task_id: t.map(String::from),
        }),
        model_snapshot_id: data.then(|| "1700".into()),
        processed_record_count: if data { 1000 } else { 0 },
        latest_record_time_ms: data.then_some(1_699_999_000_000),
        protected: false,
        datafeed_id: None,
        custom_settings: None,
    }
}

fn task(ours: bool) -> TaskInfo {
    TaskInfo {
        node: "n1".into(),
        id: 39,
        action: if ours {
            RESET_ACTION.into()
        } else {
            "indices:data/write/bulk".into()
        },
        description: if ours {
            format!("job-{JOB}")
        } else {
            "requests[1]".into()
        },
        start_time_ms: at(0).as_millisecond(),
        opaque_id: Some(format!("{OPAQUE}/1")),
        parent: None,
    }
}

fn api(status: u16, kind: &str, reason: &str) -> EsError {
    EsError::Api {
        what: "test".into(),
        status,
        kind: kind.into(),
        reason: reason.into(),
    }
}

fn connect_err() -> EsError {
    EsError::Connect {
        url: "https://es.example:9200".into(),
        detail: "connection refused".into(),
    }
}

fn closed_ok(job: Job, read: JobRead) -> Observation {
    Observation::Job { job, read }
}

struct Case {
    name: &'static str,
    status: JobResetStatus,
    obs: Observation,
    action: Action,
    phase: Phase,
    reason: &'static str,
}

fn case(
    name: &'static str,
    status: JobResetStatus,
    obs: Observation,
    action: Action,
    phase: Phase,
    reason: &'static str,
) -> Case {
    Case {
        name,
        status,
        obs,
        action,
        phase,
        reason,
    }
}

fn follow(t: &str) -> Action {
    Action::FollowTask { task_id: t.into() }
}

fn run_table(spec: &JobResetSpec, secs: i64, cases: Vec<Case>) {
    let inp = input(spec, secs);
    for c in cases {
        let (action, s) = decide(&inp, &c.status, c.obs);
        assert_eq!(action, c.action, "{}: action", c.name);
        assert_eq!(s.phase, c.phase, "{}: phase", c.name);
        assert_eq!(
            s.reason.as_deref(),
            Some(c.reason),
            "{}: reason (message {:?})",
            c.name,
            s.message
        );
        assert_eq!(s.conditions.len(), 3, "{}: kstatus conditions", c.name);
        assert_eq!(
            s.observed_generation,
            Some(1),
            "{}: observedGeneration",
            c.name
        );
        if s.phase.is_terminal() {
            assert!(s.completion_time.is_some(), "{}: completionTime", c.name);
        }
    }
}

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

impl Case {
    /// For cells that keep the status's reason: give the input status that reason.
    fn with_reason_from_status(mut self) -> Case {
        self.status.reason = Some(self.reason.to_string());
        self
    }
}

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

#[test]
fn resetting_job_cells() {
    use BlockReason::*;
    use JobState::*;
    let spec = spec();
    let r = Phase::Resetting;
    let t = with_task(st(Phase::Resetting), "n1:39");
    let mut old_es = t.clone();
    old_es.elasticsearch_version = Some("8.12.2".into());
    let mut intent = st(Phase::Resetting);
    intent.job_fingerprint = Some(full_fp());
    intent.reset_requests = 1;
    let mut empty_intent = intent.clone();
    empty_intent.job_fingerprint = Some(JobFingerprint::default());
    let mut adopted = st(Phase::Resetting);
    adopted.adopted = true;
    adopted.task_id = Some("m:7".into());
    // What the job held when the run began to wait for the other reset.
    adopted.job_fingerprint = Some(full_fp());
    let gone = JobRead::TaskGone;
    let cases = vec![
        case(
            "ack and unblocked: done",
            t.clone(),
            closed_ok(job(Closed, None, false), JobRead::ConfirmAck),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "ack but still blocked: wait",
            t.clone(),
            closed_ok(
                job(Closed, Some((Reset, Some("m:1"))), false),
                JobRead::ConfirmAck,
            ),
            Action::Requeue(Duration::from_secs(5)),
            r,
            "ConfirmingReset",
        ),
        case(
            "gone, unblocked, data cleared: done",
            t.clone(),
            closed_ok(job(Closed, None, false), gone),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "gone, unblocked, data untouched: reset never ran, reset",
            t.clone(),
            closed_ok(job(Closed, None, true), gone),
            Action::PostReset,
            r,
            "ResetRequested",
        ),
        case(
            "gone, the block names another task (the reset's master-side half): follow it",
            t.clone(),
            closed_ok(job(Closed, Some((Reset, Some("m:1"))), false), gone),
            follow("m:1"),
            r,
            "ResetRunning",
        ),
        case(
            "gone, and the block's own task too, 8.13+: re-issue",
            t.clone(),
            closed_ok(job(Closed, Some((Reset, Some("n1:39"))), false), gone),
            Action::PostReset,
            r,
            "ResetRequested",
        ),
        case(
            "gone, and the block's own task too, before 8.13: stuck",
            old_es,
            closed_ok(job(Closed, Some((Reset, Some("n1:39"))), false), gone),
            Action::Done,
            Phase::Failed,
            "StuckReset",
        ),
        case(
            "gone, delete under way",
            t.clone(),
            closed_ok(job(Closed, Some((Delete, None)), false), gone),
            Action::Done,
            Phase::Failed,
            "JobBeingDeleted",
        ),
        case(
            "lost answer, job blocked on reset: adopt",
            intent.clone(),
            closed_ok(
                job(Closed, Some((Reset, Some("m:9"))), false),
                JobRead::Recover,
            ),
            follow("m:9"),
            r,
            "Adopted",
        ),
        case(
            "lost answer, data cleared: done without a second POST",
            intent.clone(),
            closed_ok(job(Closed, None, false), JobRead::Recover),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "lost answer, data unchanged: first effective reset",
            intent.clone(),
            closed_ok(job(Closed, None, true), JobRead::Recover),
            Action::PostReset,
            r,
            "ResetRequested",
        ),
        case(
            "lost answer, nothing to clear: reset again harmlessly",
            empty_intent,
            closed_ok(job(Closed, None, false), JobRead::Recover),
            Action::PostReset,
            r,
            "ResetRequested",
        ),
        case(
            "lost answer, job reopened: close first",
            intent.clone(),
            closed_ok(job(Opened, None, true), JobRead::Recover),
            Action::Close { force: false },
            r,
            "ResetRequested",
        )
        .with_reason_from_status(),
        case(
            "closed during recovery: read again",
            intent.clone(),
            Observation::Closed,
            Action::ReadJob(JobRead::Recover),
            r,
            "ResetRequested",
        )
        .with_reason_from_status(),
        case(
            "lost answer, delete under way",
            intent,
            closed_ok(job(Closed, Some((Delete, None)), false), JobRead::Recover),
            Action::Done,
            Phase::Failed,
            "JobBeingDeleted",
        ),
        case(
            "adopted reset finished and cleared the job",
            adopted.clone(),
            closed_ok(job(Closed, None, false), JobRead::AdoptWait),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "adopted task gone, unblocked, cleared: done",
            adopted.clone(),
            closed_ok(job(Closed, None, false), gone),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "adopted reset ended without clearing (aborted): our own reset",
            adopted.clone(),
            closed_ok(job(Closed, None, true), JobRead::AdoptWait),
            Action::PostReset,
            r,
            "ResetRequested",
        ),
        case(
            "adopted reset ended, the job fed anew: cannot tell",
            adopted,
            closed_ok(
                Job {
                    processed_record_count: 5000,
                    model_snapshot_id: Some("1800".into()),
                    latest_record_time_ms: Some(1_700_000_500_000),
                    ..job(Closed, None, true)
                },
                gone,
            ),
            Action::Done,
            Phase::Failed,
            "Ambiguous",
        ),
    ];
    run_table(&spec, 10, cases);
}

#[test]
fn job_deleted_while_following() {
    let spec = spec();
    let inp = input(&spec, 10);
    let t = with_task(st(Phase::Resetting), "n1:39");
    let gone = || {
        api(
            404,
            "resource_not_found_exception",
            "No known job with id 'total-requests'",
        )
    };
    let (a, s) = decide(
        &inp,
        &t,
        Observation::EsFailed {
            op: Op::ReadJob(JobRead::ConfirmAck),
            error: gone(),
        },
    );
    assert_eq!((a, s.phase), (Action::Done, Phase::Completed));
    assert!(
        s.message.as_deref().is_some_and(|m| m.contains("deleted")),
        "{:?}",
        s.message
    );
    let (a, s) = decide(
        &inp,
        &t,
        Observation::EsFailed {
            op: Op::ReadJob(JobRead::TaskGone),
            error: gone(),
        },
    );
    assert_eq!((a, s.phase), (Action::Done, Phase::Failed));
    assert!(
        s.message.as_deref().is_some_and(|m| m.contains("unknown")),
        "{:?}",
        s.message
    );
}

#[test]
fn a_retry_keeps_its_fault_as_the_reason() {
    let spec = spec();
    let inp = input(&spec, 10);
    let (_, failed_once) = decide(
        &inp,
        &JobResetStatus::default(),
        Observation::EsFailed {
            op: Op::Info,
            error: connect_err(),
        },
    );
    let (action, again) = decide(&inp, &failed_once, Observation::Start);
    assert_eq!(action, Action::ReadInfo);
    assert_eq!(again, failed_once, "no status write just for starting over");
}

#[test]
fn terminal_phases_do_nothing() {
    let spec = spec();
    let inp = input(&spec, 10);
    for phase in [Phase::Completed, Phase::Failed] {
        let s = st(phase);
        let observations = vec![
            Observation::Start,
            Observation::Closed,
            Observation::Task(TaskPoll::NotFound),
            Observation::Job {
                job: job(JobState::Opened, None, true),
                read: JobRead::Initial,
            },
        ];
        for obs in observations {
            let (action, out) = decide(&inp, &s, obs);
            assert_eq!(action, Action::Done);
            assert_eq!(out, s, "terminal status unchanged");
        }
    }
}

#[test]
fn deadline_cells() {
    let spec = spec();
    let late = 3601 + 10;
    let closing = st(Phase::Closing);
    let t = with_task(st(Phase::Resetting), "n1:39");
    let mut intent = st(Phase::Resetting);
    intent.job_fingerprint = Some(full_fp());
    intent.reset_requests = 1;
    let cases = vec![
        case(
            "closing past deadline",
            closing.clone(),
            Observation::Start,
            Action::Done,
            Phase::Failed,
            "DeadlineExceeded",
        ),
        case(
            "following past deadline",
            t.clone(),
            Observation::Start,
            Action::Done,
            Phase::Failed,
            "DeadlineExceeded",
        ),
        case(
            "answer past deadline is recorded",
            intent.clone(),
            Observation::ResetPosted {
                task_id: "n1:40".into(),
            },
            Action::Done,
            Phase::Failed,
            "DeadlineExceeded",
        ),
        case(
            "success past deadline completes",
            t.clone(),
            Observation::Task(TaskPoll::Completed {
                task: task(true),
                outcome: TaskOutcome::Acknowledged,
            }),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "confirmation past deadline completes",
            t.clone(),
            closed_ok(job(JobState::Closed, None, false), JobRead::ConfirmAck),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "re-issue past deadline is not sent",
            t.clone(),
            closed_ok(
                job(JobState::Closed, Some((BlockReason::Reset, None)), false),
                JobRead::TaskGone,
            ),
            Action::Done,
            Phase::Failed,
            "DeadlineExceeded",
        ),
    ];
    run_table(&spec, late, cases);

    let inp = input(&spec, late);
    let (_, s) = decide(
        &inp,
        &intent,
        Observation::ResetPosted {
            task_id: "n1:40".into(),
        },
    );
    assert_eq!(s.task_id.as_deref(), Some("n1:40"));
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("left to finish")),
        "{:?}",
        s.message
    );
    let (_, s) = decide(&inp, &closing, Observation::Start);
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("no reset was started")),
        "{:?}",
        s.message
    );
    let (_, s) = decide(
        &inp,
        &t,
        closed_ok(
            job(JobState::Closed, Some((BlockReason::Reset, None)), false),
            JobRead::TaskGone,
        ),
    );
    assert_eq!(s.reset_requests, 1, "a reset not sent is not counted");
}

#[test]
fn intent_is_recorded_before_the_post() {
    let spec = spec();
    let inp = input(&spec, 10);
    let (action, s) = decide(
        &inp,
        &st(Phase::Closing),
        closed_ok(job(JobState::Closed, None, true), JobRead::PreReset),
    );
    assert_eq!(action, Action::PostReset);
    assert_eq!(s.job_fingerprint, Some(full_fp()));
    assert_eq!(s.reset_requests, 1);
    assert!(s.reset_requested_time.is_some());
    assert!(s.task_id.is_none());
}

#[test]
fn job_state_before_is_kept_from_the_first_read() {
    let spec = spec();
    let inp = input(&spec, 10);
    let (_, s) = decide(
        &inp,
        &st(Phase::Pending),
        closed_ok(job(JobState::Opened, None, true), JobRead::Initial),
    );
    assert_eq!(s.job_state_before.as_deref(), Some("opened"));
    let (_, s2) = decide(
        &inp,
        &s,
        closed_ok(job(JobState::Closed, None, true), JobRead::Initial),
    );
    assert_eq!(s2.job_state_before.as_deref(), Some("opened"));
}

#[test]
fn conditions_follow_kstatus() {
    let spec = spec();
    let inp = input(&spec, 10);
    let cond = |s: &JobResetStatus, t: &str| s.condition(t).map(|c| c.status.clone());
    let (_, first) = decide(&inp, &JobResetStatus::default(), Observation::Start);
    assert_eq!(cond(&first, READY).as_deref(), Some("False"));
    assert_eq!(cond(&first, RECONCILING).as_deref(), Some("True"));
    assert!(first.start_time.is_some());
    let t = with_task(st(Phase::Resetting), "n1:39");
    let (_, done) = decide(
        &inp,
        &t,
        closed_ok(job(JobState::Closed, None, false), JobRead::ConfirmAck),
    );
    assert_eq!(cond(&done, READY).as_deref(), Some("True"));
    assert_eq!(cond(&done, STALLED).as_deref(), Some("False"));
    let (_, failed) = decide(
        &inp,
        &t,
        Observation::Task(TaskPoll::Completed {
            task: task(true),
            outcome: TaskOutcome::NotAcknowledged,
        }),
    );
    assert_eq!(cond(&failed, STALLED).as_deref(), Some("True"));
    assert_eq!(cond(&failed, READY).as_deref(), Some("False"));
    let (_, waiting) = decide(
        &inp,
        &st(Phase::Pending),
        Observation::WaitingFor {
            name: Some("a".into()),
        },
    );
    assert_eq!(
        waiting.condition(READY).map(|c| c.reason.as_str()),
        Some("WaitingForOtherReset")
    );
}

#[test]
fn transient_faults_count_and_back_off() {
    let spec = spec();
    let inp = input(&spec, 10);
    let mut s = st(Phase::Closing);
    let mut delays = vec![];
    for _ in 0..8 {
        let (action, next) = decide(
            &inp,
            &s,
            Observation::EsFailed {
                op: Op::Close { force: false },
                error: connect_err(),
            },
        );
        let Action::Requeue(d) = action else {
            panic!("transient fault requeues, got {action:?}")
        };
        delays.push(d.as_secs());
        assert_eq!(next.phase, Phase::Closing);
        s = next;
    }
    assert_eq!(s.attempts, 8);
    assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60]);
}

#[test]
fn forbidden_messages_name_the_privilege() {
    let spec = spec();
    let inp = input(&spec, 10);
    let t = with_task(st(Phase::Resetting), "n1:39");
    let (_, s) = decide(
        &inp,
        &t,
        Observation::EsFailed {
            op: Op::FollowTask,
            error: api(403, "security_exception", "no"),
        },
    );
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("cluster:monitor/task/get")),
        "{:?}",
        s.message
    );
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("left to finish")),
        "{:?}",
        s.message
    );
    let (_, s) = decide(
        &inp,
        &st(Phase::Closing),
        Observation::EsFailed {
            op: Op::Close { force: false },
            error: api(403, "security_exception", "no"),
        },
    );
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("manage_ml")),
        "{:?}",
        s.message
    );
}

#[test]
fn stuck_reset_message_gives_the_way_out() {
    let spec = spec();
    let inp = input(&spec, 10);
    let mut t = with_task(st(Phase::Resetting), "n1:39");
    t.elasticsearch_version = Some("8.10.4".into());
    let blocked = job(
        JobState::Closed,
        Some((BlockReason::Reset, Some("n1:39"))),
        false,
    );
    let (_, s) = decide(&inp, &t, closed_ok(blocked, JobRead::TaskGone));
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("only deleting the job clears the block"),
        "{msg}"
    );
    assert!(msg.contains("8.13"), "{msg}");
}

#[test]
fn delete_user_annotations_needs_8_7() {
    let mut spec = spec();
    spec.delete_user_annotations = true;
    let inp = input(&spec, 10);
    let info = |v: &str| {
        Observation::Info(ClusterInfo {
            version: v.into(),
            upgrade_mode: false,
        })
    };
    let (a, s) = decide(&inp, &JobResetStatus::default(), info("8.6.2"));
    assert_eq!((a, s.phase), (Action::Done, Phase::Failed));
    let (a, _) = decide(&inp, &JobResetStatus::default(), info("8.7.0"));
    assert_eq!(a, Action::CheckPrivileges);
}

#[test]
fn versions_parse() {
    assert_eq!(parse_version("8.13.2"), Some((8, 13)));
    assert_eq!(parse_version("9.0.0-SNAPSHOT"), Some((9, 0)));
    assert_eq!(parse_version("7"), None);
}

/// Walks a whole happy run through decide, as the driver would, and checks exactly one POST.
#[test]
fn happy_run_issues_one_reset() {
    let spec = spec();
    let inp = input(&spec, 10);
    let mut s = JobResetStatus::default();
    let mut obs = Observation::Start;
    let mut posts = 0;
    for _ in 0..20 {
        let (action, next) = decide(&inp, &s, obs);
        s = next;
        obs = match action {
            Action::ReadInfo => Observation::Info(ClusterInfo {
                version: "8.15.0".into(),
                upgrade_mode: false,
            }),
            Action::CheckPrivileges => Observation::Privileges(Privileges::SecurityOff),
            Action::ReadJob(read @ JobRead::Initial) => Observation::Job {
                job: job(JobState::Opened, None, true),
                read,
            },
            Action::ReadJob(read @ JobRead::PreReset) => Observation::Job {
                job: job(JobState::Closed, None, true),
                read,
            },
            Action::ReadJob(read) => Observation::Job {
                job: job(JobState::Closed, None, false),
                read,
            },
            Action::Close { .. } => Observation::Closed,
            Action::FindOwnTask => Observation::ResetTasks(vec![]),
            Action::CheckUpgradeMode => Observation::UpgradeMode(false),
            Action::PostReset => {
                posts += 1;
                Observation::ResetPosted {
                    task_id: "n1:39".into(),
                }
            }
            Action::FollowTask { .. } => Observation::Task(TaskPoll::Completed {
                task: task(true),
                outcome: TaskOutcome::Acknowledged,
            }),
            Action::Requeue(_)
            | Action::Done
            | Action::WriteLedger { .. }
            | Action::ReadDatafeed { .. }
            | Action::OpenJob
            | Action::StartDatafeed { .. } => break,
        };
    }
    assert_eq!(s.phase, Phase::Completed, "{:?}", s.message);
    assert_eq!(posts, 1);
    assert_eq!(s.task_id.as_deref(), Some("n1:39"));
    assert_eq!(s.job_state_before.as_deref(), Some("opened"));
}

/// Every phase × job state × block × read purpose × data: the safety invariants hold.
#[test]
fn exhaustive_job_cells_keep_the_invariants() {
    let spec = spec();
    let inp = input(&spec, 10);
    let phases = [
        Phase::Pending,
        Phase::Closing,
        Phase::Resetting,
        Phase::Completed,
        Phase::Failed,
    ];
    let states = [
        JobState::Closed,
        JobState::Closing,
        JobState::Opened,
        JobState::Opening,
        JobState::Failed,
    ];
    let blocks = [
        None,
        Some((BlockReason::Reset, Some("m:1"))),
        Some((BlockReason::Reset, None)),
        Some((BlockReason::Delete, None)),
        Some((BlockReason::Revert, None)),
    ];
    let reads = [
        JobRead::Initial,
        JobRead::PreReset,
        JobRead::Recover,
        JobRead::ConfirmAck,
        JobRead::TaskGone,
        JobRead::AdoptWait,
    ];
    let mut cells = 0;
    for phase in phases {
        for with_task_id in [false, true] {
            for recorded in [None, Some(JobFingerprint::default()), Some(full_fp())] {
                let mut old = st(phase);
                old.task_id = with_task_id.then(|| "n1:39".to_string());
                old.job_fingerprint = recorded.clone();
                for state in states {
                    for block in blocks {
                        for read in reads {
                            for data in [false, true] {
                                cells += 1;
                                let j = job(state, block, data);
                                let obs = Observation::Job {
                                    job: j.clone(),
                                    read,
                                };
                                let (action, new) = decide(&inp, &old, obs);
                                let cell = format!(
                                    "{phase:?} task={with_task_id} fp={recorded:?} {state:?} {block:?} {read:?} data={data}"
                                );
                                if phase.is_terminal() {
                                    assert_eq!((action, &new), (Action::Done, &old), "{cell}");
                                    continue;
                                }
                                if action == Action::PostReset {
                                    assert_eq!(
                                        j.state,
                                        JobState::Closed,
                                        "reset only a closed job: {cell}"
                                    );
                                    // The one exception: a reset whose task vanished on 8.13+, which
                                    // Elasticsearch repairs when asked again (ES #106020).
                                    let reissue = read == JobRead::TaskGone
                                        && matches!(block, Some((BlockReason::Reset, _)));
                                    assert!(
                                        j.blocked.is_none() || reissue,
                                        "never reset a blocked job blindly: {cell}"
                                    );
                                    assert_eq!(new.phase, Phase::Resetting, "{cell}");
                                    let again = old.reason.as_deref() == Some("ResetRequested");
                                    assert_eq!(
                                        new.reset_requests,
                                        old.reset_requests + u32::from(!again),
                                        "{cell}"
                                    );
                                    assert!(new.task_id.is_none(), "{cell}");
                                    assert_eq!(
                                        new.job_fingerprint,
                                        Some(fingerprint(&j)),
                                        "intent recorded: {cell}"
                                    );
                                    let cleared_since = recorded
                                        .as_ref()
                                        .is_some_and(|f| !f.is_empty() && *f != fingerprint(&j));
                                    assert!(
                                        !(cleared_since && read == JobRead::Recover),
                                        "a reset whose effect is visible is not sent again: {cell}"
                                    );
                                }
                                if matches!(
                                    block,
                                    Some((BlockReason::Delete | BlockReason::Revert, _))
                                ) {
                                    assert_eq!(new.phase, Phase::Failed, "{cell}");
                                }
                                assert_eq!(new.conditions.len(), 3, "{cell}");
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cells, 5 * 2 * 3 * 5 * 5 * 6 * 2);
}

/// Every phase × task answer: no reset is ever sent straight from a task answer (the job is
/// read first), and a foreign task is never taken for ours.
#[test]
fn exhaustive_task_cells_keep_the_invariants() {
    let spec = spec();
    let inp = input(&spec, 10);
    let outcomes = || {
        vec![
            TaskOutcome::Acknowledged,
            TaskOutcome::NotAcknowledged,
            TaskOutcome::NoResult,
            TaskOutcome::Failed(ErrorCause {
                kind: "exception".into(),
                reason: "x".into(),
            }),
        ]
    };
    for phase in [Phase::Pending, Phase::Closing, Phase::Resetting] {
        for adopted in [false, true] {
            let mut old = with_task(st(phase), "n1:39");
            old.adopted = adopted;
            let mut polls = vec![
                TaskPoll::StillRunning,
                TaskPoll::NotFound,
                TaskPoll::Running(task(true)),
                TaskPoll::Running(task(false)),
            ];
            for ours in [true, false] {
                for outcome in outcomes() {
                    polls.push(TaskPoll::Completed {
                        task: task(ours),
                        outcome,
                    });
                }
            }
            for poll in polls {
                let cell = format!("{phase:?} adopted={adopted} {poll:?}");
                let foreign = matches!(&poll, TaskPoll::Running(t) | TaskPoll::Completed { task: t, .. } if t.action != RESET_ACTION);
                let (action, new) = decide(&inp, &old, Observation::Task(poll));
                assert_ne!(action, Action::PostReset, "{cell}");
                if foreign {
                    assert_eq!(action, Action::ReadJob(JobRead::TaskGone), "{cell}");
                    assert!(!new.phase.is_terminal(), "{cell}");
                }
                assert_eq!(
                    new.task_id.as_deref(),
                    Some("n1:39"),
                    "the task id is kept: {cell}"
                );
            }
        }
    }
}

#[test]
fn answers_that_are_not_a_refusal_of_the_reset() {
    use BlockReason::Reset;
    use JobState::*;
    let spec = spec();
    let fresh = JobResetStatus::default();
    let following = with_task(st(Phase::Resetting), "n1:1");
    let failed_task = |kind: &str, reason: &str| {
        Observation::Task(TaskPoll::Completed {
            task: task(true),
            outcome: TaskOutcome::Failed(ErrorCause {
                kind: kind.into(),
                reason: reason.into(),
            }),
        })
    };
    let mut v814 = following.clone();
    v814.elasticsearch_version = Some("8.14.0".into());
    let mut unknown = following.clone();
    unknown.elasticsearch_version = Some(UNKNOWN_VERSION.into());
    let mut unknown_v813 = unknown.clone();
    unknown_v813.task_id = Some("n1:1".into());
    let cases = vec![
        case(
            "GET / refused: continue with an unknown version",
            fresh.clone(),
            Observation::EsFailed {
                op: Op::Info,
                error: api(
                    403,
                    "security_exception",
                    "action [cluster:monitor/main] is unauthorized",
                ),
            },
            Action::CheckPrivileges,
            Phase::Pending,
            "",
        ),
        case(
            "datafeed that cannot be stopped is not force-closed",
            st(Phase::Closing),
            Observation::EsFailed {
                op: Op::Close { force: false },
                error: api(
                    409,
                    "status_exception",
                    "failed to close jobs as one or more had started datafeeds that could not be stopped",
                ),
            },
            Action::ReadJob(JobRead::CloseRefused),
            Phase::Closing,
            reason::CLOSING_JOB,
        ),
        case(
            "failed job is force-closed",
            st(Phase::Closing),
            Observation::EsFailed {
                op: Op::Close { force: false },
                error: api(
                    409,
                    "status_exception",
                    "cannot close job [j] because it failed, use force close",
                ),
            },
            Action::ReadJob(JobRead::CloseRefused),
            Phase::Closing,
            reason::CLOSING_JOB,
        ),
        case(
            "node closed under the task: ask the job",
            following.clone(),
            failed_task("node_closed_exception", "node closed"),
            Action::ReadJob(JobRead::TaskGone),
            Phase::Resetting,
            // The reason stays what it was until the job answers.
            "",
        ),
        case(
            "waited on another reset too long: ask the job",
            following.clone(),
            failed_task(
                "timeout_exception",
                "Timed out waiting for completion of task",
            ),
            Action::ReadJob(JobRead::Recover),
            Phase::Resetting,
            "",
        ),
        case(
            "block naming the finished task is stale: reset again on 8.13+",
            following.clone(),
            closed_ok(
                job(Closed, Some((Reset, Some("n1:1"))), true),
                JobRead::Recover,
            ),
            Action::PostReset,
            Phase::Resetting,
            reason::RESET_REQUESTED,
        ),
        case(
            "block naming another task: follow that one",
            following.clone(),
            closed_ok(
                job(Closed, Some((Reset, Some("n1:7"))), true),
                JobRead::Recover,
            ),
            follow("n1:7"),
            Phase::Resetting,
            reason::ADOPTED,
        ),
        case(
            "unknown version, task gone, still blocked: asking again is safe",
            unknown_v813,
            closed_ok(
                job(Closed, Some((Reset, Some("n1:1"))), true),
                JobRead::TaskGone,
            ),
            Action::PostReset,
            Phase::Resetting,
            reason::RESET_REQUESTED,
        ),
        case(
            "8.14 task gone, still blocked: reset again",
            v814,
            closed_ok(
                job(Closed, Some((Reset, Some("n1:1"))), true),
                JobRead::TaskGone,
            ),
            Action::PostReset,
            Phase::Resetting,
            reason::RESET_REQUESTED,
        ),
    ];
    // Cells whose reason is "" keep the status reason they came in with (none here).
    let inp = input(&spec, 10);
    let mut rest = Vec::new();
    for c in cases {
        if c.reason.is_empty() {
            let before = c.status.reason.clone();
            let (action, s) = decide(&inp, &c.status, c.obs);
            assert_eq!(action, c.action, "{}: action", c.name);
            assert_eq!(s.phase, c.phase, "{}: phase", c.name);
            assert_eq!(s.reason, before, "{}: reason", c.name);
        } else {
            rest.push(c);
        }
    }
    run_table(&spec, 10, rest);
}

#[test]
fn stuck_reset_task_error_gives_the_way_out() {
    let spec = spec();
    let inp = input(&spec, 10);
    let t = with_task(st(Phase::Resetting), "n1:39");
    let (_, s) = decide(
        &inp,
        &t,
        Observation::Task(TaskPoll::Completed {
            task: task(true),
            outcome: TaskOutcome::Failed(ErrorCause {
                kind: "resource_not_found_exception".into(),
                reason: "task [n1:3] isn't running and hasn't stored its results".into(),
            }),
        }),
    );
    let still_blocked = job(
        JobState::Closed,
        Some((BlockReason::Reset, Some("n1:3"))),
        false,
    );
    let (_, s) = decide(
        &inp,
        &s,
        closed_ok(still_blocked, JobRead::AfterTaskNotFound),
    );
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.reason.as_deref(), Some(reason::STUCK_RESET));
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("?force=true")),
        "{:?}",
        s.message
    );
}

#[test]
fn unknown_version_leaves_version_checks_to_elasticsearch() {
    let mut spec = spec();
    spec.delete_user_annotations = true;
    let inp = input(&spec, 10);
    let (action, s) = decide(
        &inp,
        &JobResetStatus::default(),
        Observation::Info(ClusterInfo {
            version: UNKNOWN_VERSION.into(),
            upgrade_mode: false,
        }),
    );
    assert_eq!(action, Action::CheckPrivileges);
    assert_eq!(s.elasticsearch_version.as_deref(), Some(UNKNOWN_VERSION));
    let (action, s) = decide(
        &inp,
        &JobResetStatus::default(),
        Observation::Info(ClusterInfo {
            version: "8.6.2".into(),
            upgrade_mode: false,
        }),
    );
    assert_eq!(action, Action::Done);
    assert_eq!(s.reason.as_deref(), Some(reason::UNSUPPORTED_VERSION));
}

#[test]
fn upgrade_mode_is_waited_out() {
    let spec = spec();
    let inp = input(&spec, 10);
    let t = with_task(st(Phase::Resetting), "n1:5");
    let (action, s) = decide(
        &inp,
        &t,
        Observation::Task(TaskPoll::Completed {
            task: task(true),
            outcome: TaskOutcome::Failed(ErrorCause {
                kind: "status_exception".into(),
                reason: "cannot reset job while indices are being upgraded".into(),
            }),
        }),
    );
    assert_eq!(action, Action::ReadJob(JobRead::ResetRefused));
    let (action, s) = decide(
        &inp,
        &s,
        closed_ok(job(JobState::Closed, None, true), JobRead::ResetRefused),
    );
    assert_eq!(action, Action::CheckUpgradeMode);
    let (action, s) = decide(&inp, &s, Observation::UpgradeMode(true));
    assert_eq!(action, Action::Requeue(Duration::from_secs(1)));
    assert_eq!(s.phase, Phase::Resetting);
    assert_eq!(s.reason.as_deref(), Some(reason::UPGRADE_IN_PROGRESS));
    assert_eq!((s.task_id.as_deref(), s.attempts), (None, 1));
    // The next reconcile finds no task: it looks at the job, which still holds its data.
    assert_eq!(
        start_action(&inp, &mut s.clone()),
        Action::ReadJob(JobRead::Recover)
    );
    let (action, s) = decide(
        &inp,
        &s,
        closed_ok(job(JobState::Closed, None, true), JobRead::Recover),
    );
    assert_eq!(action, Action::PostReset);
    assert_eq!(s.reset_requests, 2);
}

#[test]
fn a_deadline_while_waiting_says_what_was_missing() {
    let spec = spec();
    let mut waiting = st(Phase::Pending);
    waiting.reason = Some("CrossNamespaceRefDenied".into());
    waiting.message = Some("no JobResetGrant in namespace elastic".into());
    let (action, s) = decide(&input(&spec, 100_000), &waiting, Observation::Start);
    assert_eq!(action, Action::Done);
    assert_eq!(s.reason.as_deref(), Some(reason::DEADLINE_EXCEEDED));
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("no reset was started")
            && msg.contains("CrossNamespaceRefDenied: no JobResetGrant in namespace elastic"),
        "{msg}"
    );
}

/// After a lost answer, evidence points one way: only a cleared job says the reset ran; new
/// data never does; an unanswered request that left no trace is sent again under its count.
#[test]
fn lost_answers_are_judged_on_evidence() {
    let spec = spec();
    let inp = input(&spec, 10);
    let mut intent = st(Phase::Resetting);
    intent.job_fingerprint = Some(full_fp());
    intent.reset_requests = 1;
    intent.reason = Some(reason::RESET_REQUESTED.into());
    let recover = |j: Job| closed_ok(j, JobRead::Recover);
    let fed = Job {
        processed_record_count: 2000,
        latest_record_time_ms: Some(1_700_000_100_000),
        ..job(JobState::Closed, None, true)
    };
    let reset_then_fed = Job {
        processed_record_count: 10,
        model_snapshot_id: None,
        latest_record_time_ms: Some(1_700_000_100_000),
        ..job(JobState::Closed, None, true)
    };

    let (a, s) = decide(&inp, &intent, recover(job(JobState::Closed, None, false)));
    assert_eq!(
        (a, s.phase, s.reset_requests),
        (Action::Done, Phase::Completed, 1)
    );
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("one reset request was sent"))
    );

    let (a, s) = decide(&inp, &intent, recover(job(JobState::Closed, None, true)));
    assert_eq!(
        (a, s.reset_requests),
        (Action::PostReset, 1),
        "sent again, same count"
    );

    for (what, j) in [("fed", fed), ("reset then fed", reset_then_fed)] {
        let (a, s) = decide(&inp, &intent, recover(j));
        assert_eq!((a, s.phase), (Action::Done, Phase::Failed), "{what}");
        assert_eq!(s.reason.as_deref(), Some(reason::AMBIGUOUS), "{what}");
        assert!(
            s.message
                .as_deref()
                .is_some_and(|m| m.contains("records 1000 -> ")),
            "{what}"
        );
    }

    // An empty job: after a lost answer it is as a reset leaves it; no second request.
    let mut empty = intent.clone();
    empty.job_fingerprint = Some(JobFingerprint::default());
    let (a, s) = decide(&inp, &empty, recover(job(JobState::Closed, None, false)));
    assert_eq!(
        (a, s.phase, s.reset_requests),
        (Action::Done, Phase::Completed, 1)
    );
    // But an error answer from Elasticsearch says it did not act: ask again, counted.
    empty.reason = Some("ElasticsearchError".into());
    let (a, s) = decide(&inp, &empty, recover(job(JobState::Closed, None, false)));
    assert_eq!((a, s.reset_requests), (Action::PostReset, 2));
}

/// A reused task number can name a later reset of the same job: the run's own task is known
/// by its numbered `X-Opaque-Id`, or by its start near the request where none is kept.
#[test]
fn a_task_is_ours_only_by_its_opaque_id_or_start() {
    let spec = spec();
    let inp = input(&spec, 10);
    let mut t = with_task(st(Phase::Resetting), "n1:39");
    t.reset_requested_time = Some(conditions::format_time(at(0)));
    let running = |opaque: Option<String>, start_secs: i64| {
        let mut k = task(true);
        k.opaque_id = opaque;
        k.start_time_ms = at(start_secs).as_millisecond();
        Observation::Task(TaskPoll::Running(k))
    };
    let ours = |obs| decide(&inp, &t, obs).0 == Action::Requeue(Duration::ZERO);
    assert!(ours(running(Some(format!("{OPAQUE}/1")), 1)));
    assert!(
        ours(running(Some(OPAQUE.to_owned()), 1)),
        "an unnumbered id of an older version"
    );
    assert!(
        !ours(running(Some(format!("{OPAQUE}/2")), 1)),
        "another request of ours"
    );
    assert!(
        !ours(running(Some("jobreset/other/x/uid-9/1".into()), 1)),
        "someone else's"
    );
    assert!(
        ours(running(None, 30)),
        "no header kept: started right after the request"
    );
    assert!(
        !ours(running(None, 3600)),
        "no header kept: started an hour later"
    );
    assert_eq!(
        decide(&inp, &t, running(Some("kibana".into()), 1)).0,
        Action::ReadJob(JobRead::TaskGone)
    );
}

/// Refusals come as the same type (409 `status_exception`) for every cause: the job's state
/// and block, and ML's upgrade mode, tell the causes apart; no message text is read.
#[test]
fn refusals_are_told_apart_by_the_job() {
    use JobState::*;
    let spec = spec();
    let inp = input(&spec, 10);
    let step = |s: &JobResetStatus, obs| decide(&inp, s, obs);
    let job_read = |j: Job, read| closed_ok(j, read);
    let refusal = api(409, "status_exception", "any text at all");

    // Close refused: a failed job is closed with force; any other state fails the run.
    let closing = st(Phase::Closing);
    let (a, refused) = step(
        &closing,
        Observation::EsFailed {
            op: Op::Close { force: false },
            error: api(409, "status_exception", "any text at all"),
        },
    );
    assert_eq!(a, Action::ReadJob(JobRead::CloseRefused));
    let (a, _) = step(
        &refused,
        job_read(job(Failed, None, true), JobRead::CloseRefused),
    );
    assert_eq!(a, Action::Close { force: true });
    let (a, s) = step(
        &refused,
        job_read(job(Opened, None, true), JobRead::CloseRefused),
    );
    assert_eq!(
        (a, s.reason.as_deref()),
        (Action::Done, Some(reason::CLOSE_FAILED))
    );
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("any text at all"))
    );

    // Reset refused: the job's state and block, then ML's upgrade mode.
    let mut intent = st(Phase::Resetting);
    intent.reset_requests = 1;
    intent.job_fingerprint = Some(full_fp());
    let (a, refused) = step(
        &intent,
        Observation::EsFailed {
            op: Op::PostReset,
            error: refusal,
        },
    );
    assert_eq!(a, Action::ReadJob(JobRead::ResetRefused));
    let final_reason = |j: Job| {
        let (_, s) = step(&refused, job_read(j, JobRead::ResetRefused));
        s.reason
    };
    assert_eq!(
        final_reason(job(Opened, None, true)).as_deref(),
        Some(reason::JOB_NOT_CLOSED)
    );
    assert_eq!(
        final_reason(job(Closed, Some((BlockReason::Delete, None)), true)).as_deref(),
        Some(reason::JOB_BEING_DELETED)
    );
    assert_eq!(
        final_reason(job(Closed, Some((BlockReason::Revert, None)), true)).as_deref(),
        Some(reason::JOB_BEING_REVERTED)
    );
    assert_eq!(
        final_reason(job(Closed, Some((BlockReason::Reset, Some("m:2"))), true)).as_deref(),
        Some(reason::ADOPTED)
    );
    let (a, checking) = step(
        &refused,
        job_read(job(Closed, None, true), JobRead::ResetRefused),
    );
    assert_eq!(a, Action::CheckUpgradeMode);
    let (a, s) = step(&checking, Observation::UpgradeMode(true));
    assert_eq!(
        (a, s.reason.as_deref()),
        (
            Action::Requeue(Duration::from_secs(1)),
            Some(reason::UPGRADE_IN_PROGRESS)
        )
    );
    let (a, s) = step(&checking, Observation::UpgradeMode(false));
    assert_eq!(
        (a, s.reason.as_deref()),
        (Action::Done, Some(reason::RESET_REJECTED))
    );

    // A task that ended with resource_not_found_exception: the job is gone, or stuck.
    let t = with_task(st(Phase::Resetting), "n1:39");
    let (a, nf) = step(
        &t,
        Observation::Task(TaskPoll::Completed {
            task: task(true),
            outcome: TaskOutcome::Failed(ErrorCause {
                kind: "resource_not_found_exception".into(),
                reason: "any text".into(),
            }),
        }),
    );
    assert_eq!(a, Action::ReadJob(JobRead::AfterTaskNotFound));
    let (_, s) = step(
        &nf,
        job_read(
            job(Closed, Some((BlockReason::Reset, Some("m:1"))), false),
            JobRead::AfterTaskNotFound,
        ),
    );
    assert_eq!(s.reason.as_deref(), Some(reason::STUCK_RESET));
    let (_, s) = step(
        &nf,
        Observation::EsFailed {
            op: Op::ReadJob(JobRead::AfterTaskNotFound),
            error: api(404, "resource_not_found_exception", "No known job"),
        },
    );
    assert_eq!(s.reason.as_deref(), Some(reason::JOB_NOT_FOUND));
}

#[test]
fn a_missing_privilege_is_named_and_nothing_is_touched() {
    let spec = spec();
    let inp = input(&spec, 10);
    let status = JobResetStatus {
        elasticsearch_version: Some("8.15.0".into()),
        ..Default::default()
    };
    let held = Privileges::Held(vec![
        ("manage_ml".into(), false),
        ("cluster:monitor/task/get".into(), false),
    ]);
    let (action, s) = decide(&inp, &status, Observation::Privileges(held));
    assert_eq!((action, s.phase), (Action::Done, Phase::Failed));
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("privileges manage_ml, cluster:monitor/task/get")
            && msg.contains("nothing was touched"),
        "{msg}"
    );
}

#[test]
fn not_after_refuses_a_jobreset_first_seen_too_late() {
    let mut spec = spec();
    spec.not_after = Some(conditions::format_time(at(100)));
    // First seen after notAfter: Failed, no call at all.
    let (action, s) = decide(
        &input(&spec, 101),
        &JobResetStatus::default(),
        Observation::Start,
    );
    assert_eq!((action, s.phase), (Action::Done, Phase::Failed));
    assert_eq!(s.reason.as_deref(), Some(reason::EXPIRED));
    assert!(
        s.message
            .unwrap_or_default()
            .contains("create a new JobReset")
    );
    // First seen in time: it runs.
    let (action, s) = decide(
        &input(&spec, 99),
        &JobResetStatus::default(),
        Observation::Start,
    );
    assert_eq!((action, s.phase), (Action::ReadInfo, Phase::Pending));
    // Seen in time and still waiting past it (another JobReset went first): it goes on.
    let (action, later) = decide(&input(&spec, 500), &s, Observation::Start);
    assert_eq!((action, later.phase), (Action::ReadInfo, Phase::Pending));
}

#[test]
fn a_protected_job_is_refused_before_the_close() {
    let spec = spec();
    let status = JobResetStatus {
        elasticsearch_version: Some("8.15.0".into()),
        ..Default::default()
    };
    let protected = Job {
        protected: true,
        ..job(JobState::Opened, None, true)
    };
    let (action, s) = decide(
        &input(&spec, 10),
        &status,
        Observation::Job {
            job: protected,
            read: JobRead::Initial,
        },
    );
    assert_eq!((action, s.phase), (Action::Done, Phase::Failed));
    assert_eq!(s.reason.as_deref(), Some(reason::JOB_PROTECTED));
}
