//! Tests of the ledger in the run: a whole walk against a cluster that keeps the job's
//! `custom_settings`, a re-created JobReset, a lost write, and `Required`; one file per theme,
//! this one holds the fixtures they share. Pure, no I/O.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::api::{ElasticsearchSpec, JobResetSpec, LedgerMode};
use crate::es::{Blocked, ErrorCause, JobConfigView, UpdatedJob};
use crate::run::ledger as book;

mod outcomes;
mod restarts;
mod walks;

const JOB: &str = "total-requests";

fn spec(mode: LedgerMode) -> JobResetSpec {
    let es = ElasticsearchSpec {
        url: Some("https://es.example:9200".into()),
        ..Default::default()
    };
    JobResetSpec {
        ledger: mode,
        ..JobResetSpec::for_job(JOB, es)
    }
}

fn input<'a>(spec: &'a JobResetSpec, opaque: &'a str) -> Input<'a> {
    Input {
        spec,
        generation: Some(1),
        now: Timestamp::from_second(1_700_000_010).unwrap_or(Timestamp::UNIX_EPOCH),
        backoff_base: Duration::from_secs(1),
        backoff_cap: Duration::from_secs(60),
        opaque_id: opaque,
        known_unsent: false,
    }
}

/// A closed job with data whose `custom_settings` the cluster keeps; `lose_writes` drops
/// them silently (another writer), `refuse_writes` answers 400.
struct Cluster {
    settings: Value,
    reset: bool,
    lose_writes: bool,
    refuse_writes: bool,
    /// The reset task ends with this error instead of success.
    task_error: Option<&'static str>,
    log: Vec<&'static str>,
}

impl Cluster {
    fn new() -> Cluster {
        Cluster {
            settings: json!({"custom_urls": [{"url_name": "dash"}], "created_by": "ml-module"}),
            reset: false,
            lose_writes: false,
            refuse_writes: false,
            task_error: None,
            log: vec![],
        }
    }

    fn job(&self) -> Job {
        Job {
            id: JOB.into(),
            state: JobState::Closed,
            blocked: None,
            model_snapshot_id: (!self.reset).then(|| "1700".into()),
            processed_record_count: if self.reset { 0 } else { 1000 },
            latest_record_time_ms: (!self.reset).then_some(1_699_999_000_000),
            protected: false,
            datafeed_id: None,
            custom_settings: Some(self.settings.clone()),
        }
    }

    /// What was sent to the job, reads left out.
    fn writes(&self) -> Vec<&'static str> {
        self.log.iter().copied().filter(|l| *l != "read").collect()
    }

    /// What `_update` answers: the job's configuration as it is now.
    fn updated(&self) -> UpdatedJob {
        UpdatedJob {
            custom_settings: Some(self.settings.clone()),
            blocked: false,
            protected: false,
        }
    }

    fn answer(&mut self, action: Action) -> Option<Observation> {
        Some(match action {
            Action::ReadInfo => Observation::Info(ClusterInfo {
                version: "8.15.0".into(),
                upgrade_mode: false,
            }),
            Action::CheckPrivileges => Observation::Privileges(Privileges::SecurityOff),
            Action::ReadJob(read) => {
                self.log.push("read");
                Observation::Job {
                    job: self.job(),
                    read,
                }
            }
            Action::Close { .. } => {
                self.log.push("close");
                Observation::Closed
            }
            Action::WriteLedger { custom_settings } => {
                self.log.push("update");
                if self.refuse_writes {
                    return Some(Observation::EsFailed {
                        op: Op::WriteLedger,
                        error: EsError::Api {
                            what: "POST _update".into(),
                            status: 400,
                            kind: "illegal_argument_exception".into(),
                            reason: "no".into(),
                        },
                    });
                }
                // A lost write was replaced by another writer's before it answered.
                if !self.lose_writes {
                    self.settings = custom_settings;
                }
                Observation::LedgerWritten {
                    after: Some(self.updated()),
                }
            }
            Action::PostReset => {
                self.log.push("reset");
                Observation::ResetPosted {
                    task_id: "n1:39".into(),
                }
            }
            Action::FollowTask { .. } => {
                self.reset = self.task_error.is_none();
                let outcome = match self.task_error {
                    Some(kind) => TaskOutcome::Failed(ErrorCause {
                        kind: kind.into(),
                        reason: "boom".into(),
                    }),
                    None => TaskOutcome::Acknowledged,
                };
                Observation::Task(TaskPoll::Completed {
                    task: reset_task("jobreset/obs/reset-x/uid-1/1"),
                    outcome,
                })
            }
            _ => return None,
        })
    }
}

/// The reset task of request 1, as `GET _tasks` reports it once done.
fn reset_task(opaque_id: &str) -> TaskInfo {
    TaskInfo {
        node: "n1".into(),
        id: 39,
        action: RESET_ACTION.into(),
        description: format!("job-{JOB}"),
        start_time_ms: 1_700_000_000_000,
        opaque_id: Some(opaque_id.into()),
        parent: None,
    }
}

fn walk(spec: &JobResetSpec, opaque: &str, c: &mut Cluster) -> JobResetStatus {
    let inp = input(spec, opaque);
    let mut s = JobResetStatus::default();
    let mut obs = Observation::Start;
    for _ in 0..40 {
        let (action, next) = decide(&inp, &s, obs);
        s = next;
        match c.answer(action) {
            Some(o) => obs = o,
            None => break,
        }
    }
    s
}

fn at_deadline<'a>(spec: &'a JobResetSpec, opaque: &'a str) -> Input<'a> {
    Input {
        now: Timestamp::from_second(1_700_000_000 + 7200).unwrap_or(Timestamp::UNIX_EPOCH),
        ..input(spec, opaque)
    }
}

/// What the task id's write left in status: the state a restart finds when the operator
/// stopped after writing the success to the job (that write is not announced first).
fn after_task_id() -> JobResetStatus {
    JobResetStatus {
        phase: Phase::Resetting,
        reason: Some(reason::RESET_STARTED.into()),
        start_time: Some("2023-11-14T22:13:20Z".into()),
        elasticsearch_version: Some("8.15.0".into()),
        task_id: Some("n1:39".into()),
        reset_requests: 1,
        ledger_state: Some("started".into()),
        job_fingerprint: Some(fingerprint(&Cluster::new().job())),
        ..Default::default()
    }
}

/// The job as it is once a reset is done and recorded `succeeded` by `opaque`'s run for
/// request `attempt` of task n1:39; `gained`: someone has fed it since.
fn recorded_job(opaque: &str, attempt: u32, gained: bool) -> Job {
    let mut c = Cluster::new();
    c.reset = !gained;
    let (key, uid) = book::identity(opaque, None).unwrap_or_default();
    let e = book::Entry {
        key,
        uid,
        attempt,
        task: Some("n1:39".into()),
        state: "succeeded".into(),
        reason: None,
        at: "2023-11-14T22:13:25Z".into(),
    };
    let mut job = c.job();
    if gained {
        job.processed_record_count = 5000;
    }
    job.custom_settings = Some(book::with_entry(Some(&c.settings), &e));
    job
}
