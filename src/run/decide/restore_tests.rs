//! Tests of the restore after a reset: the whole walk as the driver makes it, and each
//! step's refusals and crashes. Pure, no I/O.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::api::{ElasticsearchSpec, JobResetSpec, RestoreSpec, RestoreState};

const JOB: &str = "total-requests";
const OPAQUE: &str = "jobreset/ns/r/uid-1";

fn spec(state: RestoreState, start: Option<&str>) -> JobResetSpec {
    let es = ElasticsearchSpec {
        url: Some("https://es.example:9200".into()),
        ..Default::default()
    };
    JobResetSpec {
        ledger: crate::api::LedgerMode::Disabled,
        restore: RestoreSpec {
            state,
            datafeed_start: start.map(str::to_owned),
            datafeed_end: None,
        },
        ..JobResetSpec::for_job(JOB, es)
    }
}

fn input(spec: &JobResetSpec) -> Input<'_> {
    Input {
        spec,
        generation: Some(1),
        now: Timestamp::from_second(1_700_000_010).unwrap_or(Timestamp::UNIX_EPOCH),
        backoff_base: Duration::from_secs(1),
        backoff_cap: Duration::from_secs(60),
        opaque_id: OPAQUE,
        known_unsent: false,
    }
}

fn job(state: JobState, blocked: bool, data: bool) -> Job {
    Job {
        id: JOB.into(),
        state,
        blocked: blocked.then(|| crate::es::Blocked {
            reason: BlockReason::Reset,
            task_id: Some("n1:39".into()),
        }),
        model_snapshot_id: data.then(|| "1700".into()),
        processed_record_count: if data { 1000 } else { 0 },
        latest_record_time_ms: data.then_some(1_699_999_000_000),
        protected: false,
        datafeed_id: Some("datafeed-total-requests".into()),
        custom_settings: None,
    }
}

fn task() -> TaskInfo {
    TaskInfo {
        node: "n1".into(),
        id: 39,
        action: RESET_ACTION.into(),
        description: format!("job-{JOB}"),
        start_time_ms: 1_700_000_000_000,
        opaque_id: Some(format!("{OPAQUE}/1")),
        parent: None,
    }
}

/// What a cluster answers, with the job `before` (opened or failed) and its datafeed
/// `feed`; `refuse` makes one action fail once with this error.
struct Cluster {
    before: JobState,
    feed: &'static str,
    refuse: Option<(&'static str, EsError)>,
    opened: bool,
    started: bool,
    log: Vec<Action>,
}

impl Cluster {
    fn answer(&mut self, action: &Action) -> Option<Observation> {
        self.log.push(action.clone());
        let key = match action {
            Action::OpenJob => "open",
            Action::StartDatafeed { .. } => "start",
            _ => "",
        };
        if let Some((k, e)) = self.refuse.take_if(|(k, _)| *k == key) {
            let op = if k == "open" {
                Op::OpenJob
            } else {
                Op::StartDatafeed
            };
            return Some(Observation::EsFailed { op, error: e });
        }
        Some(match action {
            Action::ReadInfo => Observation::Info(ClusterInfo {
                version: "8.15.0".into(),
                upgrade_mode: false,
            }),
            Action::CheckPrivileges => Observation::Privileges(Privileges::SecurityOff),
            Action::ReadJob(read @ JobRead::Initial) => Observation::Job {
                job: job(self.before, false, true),
                read: *read,
            },
            Action::ReadJob(read @ JobRead::PreReset) => Observation::Job {
                job: job(JobState::Closed, false, true),
                read: *read,
            },
            Action::ReadJob(read) => {
                let state = if self.opened {
                    JobState::Opened
                } else {
                    JobState::Closed
                };
                Observation::Job {
                    job: job(state, false, false),
                    read: *read,
                }
            }
            Action::ReadDatafeed { .. } => {
                let state = if self.started { "started" } else { self.feed };
                Observation::DatafeedState(Some(state.into()))
            }
            Action::Close { .. } => Observation::Closed,
            Action::PostReset => Observation::ResetPosted {
                task_id: "n1:39".into(),
            },
            Action::FollowTask { .. } => Observation::Task(TaskPoll::Completed {
                task: task(),
                outcome: TaskOutcome::Acknowledged,
            }),
            Action::OpenJob => {
                self.opened = true;
                Observation::Opened
            }
            Action::StartDatafeed { .. } => {
                self.started = true;
                Observation::DatafeedStarted
            }
            _ => return None,
        })
    }
}

fn cluster(before: JobState, feed: &'static str) -> Cluster {
    Cluster {
        before,
        feed,
        refuse: None,
        opened: false,
        started: false,
        log: vec![],
    }
}

/// Runs decide against the cluster until the run stops; returns the last status.
fn walk(spec: &JobResetSpec, c: &mut Cluster, mut s: JobResetStatus) -> JobResetStatus {
    let inp = input(spec);
    let mut obs = Observation::Start;
    for _ in 0..40 {
        let (action, next) = decide(&inp, &s, obs);
        s = next;
        match c.answer(&action) {
            Some(o) => obs = o,
            None => break,
        }
    }
    s
}

fn count(c: &Cluster, f: impl Fn(&Action) -> bool) -> usize {
    c.log.iter().filter(|a| f(a)).count()
}

#[test]
fn an_opened_job_with_a_started_datafeed_is_put_back_from_the_earliest_data() {
    let spec = spec(RestoreState::Previous, None);
    let mut c = cluster(JobState::Opened, "started");
    let s = walk(&spec, &mut c, JobResetStatus::default());
    assert_eq!(s.phase, Phase::Completed, "{:?}", s.message);
    assert_eq!(s.reason.as_deref(), Some(reason::RESET_COMPLETED));
    assert_eq!(
        (
            s.job_state_before.as_deref(),
            s.datafeed_state_before.as_deref()
        ),
        (Some("opened"), Some("started"))
    );
    assert_eq!(
        (
            s.job_state_after.as_deref(),
            s.datafeed_state_after.as_deref()
        ),
        (Some("opened"), Some("started"))
    );
    assert!(
        c.log.contains(&Action::StartDatafeed {
            datafeed_id: "datafeed-total-requests".into(),
            start: "0".into(),
            end: None,
        }),
        "{:?}",
        c.log
    );
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("opened again") && msg.contains("earliest data"),
        "{msg}"
    );
    assert_eq!(count(&c, |a| *a == Action::PostReset), 1);
    // The open comes after the reset, never before.
    let post = c.log.iter().position(|a| *a == Action::PostReset);
    let open = c.log.iter().position(|a| *a == Action::OpenJob);
    assert!(post < open, "{:?}", c.log);
}

#[test]
fn nothing_is_restored_by_default_or_for_a_failed_job() {
    for (state, before) in [
        (RestoreState::None, JobState::Opened),
        (RestoreState::Previous, JobState::Failed),
    ] {
        let spec = spec(state, None);
        let mut c = cluster(before, "started");
        let s = walk(&spec, &mut c, JobResetStatus::default());
        assert_eq!(s.phase, Phase::Completed, "{state:?} {before:?}");
        let restored = count(&c, |a| {
            matches!(a, Action::OpenJob | Action::StartDatafeed { .. })
        });
        assert_eq!(restored, 0, "{state:?} {before:?}: {:?}", c.log);
        assert_eq!(s.job_state_after, None);
    }
}

#[test]
fn a_job_opened_or_a_datafeed_started_already_counts_as_done() {
    // A crash after the open (and after the start) took effect: both answer 409 now.
    let conflict = |what: &str| EsError::Api {
        what: what.into(),
        status: 409,
        kind: "status_exception".into(),
        reason: "already".into(),
    };
    for step in ["open", "start"] {
        let spec = spec(RestoreState::Previous, Some("Now"));
        let mut c = cluster(JobState::Opened, "started");
        c.refuse = Some((step, conflict(step)));
        if step == "open" {
            c.opened = true;
        } else {
            c.started = true;
        }
        let s = walk(&spec, &mut c, JobResetStatus::default());
        assert_eq!(s.phase, Phase::Completed, "{step}: {:?}", s.message);
        assert_eq!(s.datafeed_state_after.as_deref(), Some("started"), "{step}");
        assert_eq!(count(&c, |a| *a == Action::PostReset), 1);
    }
}

#[test]
fn a_restore_that_fails_says_the_reset_succeeded() {
    let spec = spec(RestoreState::Previous, None);
    let mut c = cluster(JobState::Opened, "started");
    let refused = EsError::Api {
        what: "POST _start".into(),
        status: 400,
        kind: "parse_exception".into(),
        reason: "bad start".into(),
    };
    c.refuse = Some(("start", refused));
    let s = walk(&spec, &mut c, JobResetStatus::default());
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.reason.as_deref(), Some(reason::RESTORE_FAILED));
    let msg = s.message.unwrap_or_default();
    assert!(msg.contains("the reset itself succeeded"), "{msg}");
    assert_eq!(s.job_state_after.as_deref(), Some("opened"));
}

#[test]
fn a_crash_while_restoring_resumes_the_restore_without_a_second_reset() {
    let spec = spec(RestoreState::Previous, None);
    let inp = input(&spec);
    let mut s = JobResetStatus {
        phase: Phase::Restoring,
        reason: Some(reason::RESTORING.into()),
        elasticsearch_version: Some("8.15.0".into()),
        job_state_before: Some("opened".into()),
        datafeed_id: Some("datafeed-total-requests".into()),
        datafeed_state_before: Some("started".into()),
        task_id: Some("n1:39".into()),
        reset_requests: 1,
        ..Default::default()
    };
    let (action, next) = decide(&inp, &s, Observation::Start);
    assert_eq!(action, Action::OpenJob);
    s = next;
    s.job_state_after = Some("opened".into());
    let (action, _) = decide(&inp, &s, Observation::Start);
    assert!(matches!(action, Action::StartDatafeed { .. }), "{action:?}");
}
