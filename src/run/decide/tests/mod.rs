//! Table tests for `decide`: phase × observation (job state, block, task answer, error),
//! one file per phase or theme; this one holds the fixtures and the table runner they share.
//! Pure, no I/O.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::{
    api::{ElasticsearchSpec, JobFingerprint, JobResetSpec, JobResetStatus, Phase},
    es::{Blocked, ErrorCause},
    run::conditions::{READY, RECONCILING, STALLED},
};

mod answers;
mod closing;
mod evidence;
mod invariants;
mod job_cells;
mod pending;
mod runs;
mod task_cells;

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

impl Case {
    /// For cells that keep the status's reason: give the input status that reason.
    fn with_reason_from_status(mut self) -> Case {
        self.status.reason = Some(self.reason.to_string());
        self
    }
}
