//! Tests of the ledger in the run: a whole walk against a cluster that keeps the job's
//! `custom_settings`, a re-created JobReset, a lost write, and `Required`. Pure, no I/O.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::api::{ElasticsearchSpec, JobResetSpec, LedgerMode};
use crate::es::{Blocked, ErrorCause, JobConfigView, UpdatedJob};
use crate::run::ledger as book;

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

#[test]
fn the_reset_is_recorded_and_a_re_created_jobreset_does_nothing() {
    let spec = spec(LedgerMode::BestEffort);
    let mut c = Cluster::new();
    let s = walk(&spec, "jobreset/obs/reset-x/uid-1", &mut c);
    assert_eq!(s.phase, Phase::Completed, "{:?}", s.message);
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"));
    assert_eq!(s.ledger_key.as_deref(), Some("obs/reset-x"));
    // started before the reset, the outcome after; Kibana's keys untouched. Two reads: the
    // first (a closed job is not closed again) and the one confirming the reset; each
    // write is read back from its own answer.
    assert_eq!(
        c.log,
        vec!["read", "update", "reset", "read", "update"],
        "{:?}",
        c.log
    );
    assert_eq!(c.settings["created_by"], "ml-module");
    assert_eq!(c.settings["custom_urls"][0]["url_name"], "dash");
    let runs = book::entries(Some(&c.settings));
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].state.as_str(), runs[0].task.as_deref()),
        ("succeeded", Some("n1:39"))
    );

    // The same manifest applied again (new uid, same name): nothing is touched.
    c.log.clear();
    c.reset = false;
    let s = walk(&spec, "jobreset/obs/reset-x/uid-2", &mut c);
    assert_eq!(s.phase, Phase::Completed);
    assert_eq!(s.reason.as_deref(), Some(reason::ALREADY_APPLIED));
    assert!(c.writes().is_empty(), "{:?}", c.log);
    // A new runKey resets again on purpose.
    let mut again = spec.clone();
    again.run_key = Some("obs/reset-x@2".into());
    let s = walk(&again, "jobreset/obs/reset-x/uid-3", &mut c);
    assert_eq!(s.reason.as_deref(), Some(reason::RESET_COMPLETED));
    assert!(c.log.contains(&"reset"));
}

#[test]
fn a_lost_or_refused_write_is_a_warning_unless_required() {
    for (lose, refuse) in [(true, false), (false, true)] {
        let mut c = Cluster::new();
        c.lose_writes = lose;
        c.refuse_writes = refuse;
        let s = walk(&spec(LedgerMode::BestEffort), "jobreset/obs/r/u1", &mut c);
        assert_eq!(
            s.phase,
            Phase::Completed,
            "{lose} {refuse}: {:?}",
            s.message
        );
        assert_eq!(s.ledger_state.as_deref(), Some("unrecorded"));
        assert_eq!(c.log.iter().filter(|l| **l == "reset").count(), 1);

        let mut c = Cluster::new();
        c.lose_writes = lose;
        c.refuse_writes = refuse;
        let s = walk(&spec(LedgerMode::Required), "jobreset/obs/r/u1", &mut c);
        assert_eq!(s.phase, Phase::Failed);
        assert_eq!(s.reason.as_deref(), Some(reason::LEDGER_WRITE_FAILED));
        assert!(!c.log.contains(&"reset"), "{:?}", c.log);
    }
}

#[test]
fn disabled_neither_reads_nor_writes() {
    let mut c = Cluster::new();
    let done = book::Entry {
        key: "obs/reset-x".into(),
        uid: "old".into(),
        attempt: 1,
        task: None,
        state: "succeeded".into(),
        reason: None,
        at: "2026-01-01T00:00:00Z".into(),
    };
    c.settings = book::with_entry(Some(&c.settings), &done);
    let s = walk(
        &spec(LedgerMode::Disabled),
        "jobreset/obs/reset-x/uid-1",
        &mut c,
    );
    assert_eq!(s.reason.as_deref(), Some(reason::RESET_COMPLETED));
    // The first read and the reset: the task's acknowledgement is the evidence, and with no
    // entry to write the job's settings are not needed again.
    assert_eq!(c.log, vec!["read", "reset"], "{:?}", c.log);
}

#[test]
fn upgrade_mode_refusing_the_write_is_waited_out_in_place() {
    let spec = spec(LedgerMode::Required);
    let inp = input(&spec, "jobreset/obs/r/u1");
    let s = JobResetStatus {
        phase: Phase::Closing,
        elasticsearch_version: Some("8.15.0".into()),
        ledger_state: Some("recording".into()),
        ..Default::default()
    };
    let refused = EsError::Api {
        what: "POST _update".into(),
        status: 429,
        kind: "status_exception".into(),
        reason:
            "Cannot perform cluster:admin/xpack/ml/job/update action while upgrade mode is enabled"
                .into(),
    };
    let (action, s) = decide(
        &inp,
        &s,
        Observation::EsFailed {
            op: Op::WriteLedger,
            error: refused,
        },
    );
    assert!(matches!(action, Action::Requeue(_)), "{action:?}");
    assert_eq!(
        (s.phase, s.reason.as_deref()),
        (Phase::Closing, Some(reason::UPGRADE_IN_PROGRESS))
    );
    assert_eq!(
        s.ledger_state, None,
        "written again next time, not taken as lost"
    );
}

#[test]
fn an_earlier_jobreset_whose_outcome_was_never_written_is_not_guessed_at() {
    // reset-x (uid u1) wrote `started`, then was deleted and created again as uid u2.
    let mut c = Cluster::new();
    let started = book::Entry {
        key: "obs/reset-x".into(),
        uid: "u1".into(),
        attempt: 1,
        task: None,
        state: "started".into(),
        reason: None,
        at: "2026-05-01T10:00:00Z".into(),
    };
    c.settings = book::with_entry(Some(&c.settings), &started);
    let s = walk(
        &spec(LedgerMode::BestEffort),
        "jobreset/obs/reset-x/u2",
        &mut c,
    );
    assert_eq!(s.phase, Phase::Failed);
    assert_eq!(s.reason.as_deref(), Some(reason::AMBIGUOUS));
    assert!(c.writes().is_empty(), "nothing touched: {:?}", c.log);
    // The job holds nothing a reset would clear (the earlier reset ran): a repeat is
    // harmless, and the run goes on.
    c.reset = true;
    let s = walk(
        &spec(LedgerMode::BestEffort),
        "jobreset/obs/reset-x/u3",
        &mut c,
    );
    assert_eq!(s.phase, Phase::Completed, "{:?}", s.message);
    c.reset = false;
    c.log.clear();
    c.settings = book::with_entry(Some(&c.settings), &started);
    // Its own entry (a crash of this very JobReset) goes on.
    let s = walk(
        &spec(LedgerMode::BestEffort),
        "jobreset/obs/reset-x/u1",
        &mut c,
    );
    assert_eq!(s.phase, Phase::Completed, "{:?}", s.message);
    assert_eq!(c.log.iter().filter(|l| **l == "reset").count(), 1);
}

fn at_deadline<'a>(spec: &'a JobResetSpec, opaque: &'a str) -> Input<'a> {
    Input {
        now: Timestamp::from_second(1_700_000_000 + 7200).unwrap_or(Timestamp::UNIX_EPOCH),
        ..input(spec, opaque)
    }
}

#[test]
fn a_known_outcome_is_recorded_and_completed_past_the_deadline() {
    let spec = spec(LedgerMode::BestEffort);
    let opaque = "jobreset/obs/r/u1";
    let inp = at_deadline(&spec, opaque);
    let c = Cluster::new();
    let s = JobResetStatus {
        phase: Phase::Resetting,
        start_time: Some("2023-11-14T22:13:20Z".into()),
        elasticsearch_version: Some("8.15.0".into()),
        task_id: Some("n1:39".into()),
        reset_requests: 1,
        ledger_state: Some("started".into()),
        ..Default::default()
    };
    let confirmed = Observation::Job {
        job: Job {
            model_snapshot_id: None,
            processed_record_count: 0,
            latest_record_time_ms: None,
            ..c.job()
        },
        read: JobRead::ConfirmAck,
    };
    // The confirming read is the one the outcome's write starts from.
    let (action, s) = decide(&inp, &s, confirmed);
    assert!(matches!(action, Action::WriteLedger { .. }), "{action:?}");
    assert_eq!(s.reason.as_deref(), Some(reason::RECORDING_OUTCOME));
    // The write is refused for a while (Elasticsearch restarting): the outcome stays in
    // status, which is written now, with the fault.
    let unavailable = Observation::EsFailed {
        op: Op::WriteLedger,
        error: EsError::Api {
            what: "POST _update".into(),
            status: 503,
            kind: "unavailable_shards_exception".into(),
            reason: "primary shard is not active".into(),
        },
    };
    let (action, s) = decide(&inp, &s, unavailable);
    assert!(matches!(action, Action::Requeue(_)), "{action:?}");
    assert_eq!(
        s.reason.as_deref(),
        Some(reason::RECORDING_OUTCOME),
        "{s:#?}"
    );
    assert_eq!(s.ledger_state.as_deref(), Some("started"));
    // A restart, still past the deadline: it goes on recording, never "deadline exceeded".
    let (action, s) = decide(&inp, &s, Observation::Start);
    assert_eq!(action, Action::ReadJob(JobRead::LedgerDone));
    let (action, s) = decide(
        &inp,
        &s,
        Observation::Job {
            job: c.job(),
            read: JobRead::LedgerDone,
        },
    );
    let Action::WriteLedger { custom_settings } = action else {
        panic!("{action:?}");
    };
    // The answer (the job's configuration after the update) shows the entry: no read back.
    let written = Observation::LedgerWritten {
        after: Some(UpdatedJob {
            custom_settings: Some(custom_settings),
            blocked: false,
            protected: false,
        }),
    };
    let (action, s) = decide(&inp, &s, written);
    assert_eq!(action, Action::Done, "{:?}", s.message);
    assert_eq!(s.phase, Phase::Completed, "{:?}", s.message);
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"));
    // An answer without them: the job is read back.
    let mut again = s.clone();
    again.phase = Phase::Resetting;
    again.reason = Some(reason::RECORDING_OUTCOME.into());
    again.ledger_state = Some("recording".into());
    let (action, _) = decide(&inp, &again, Observation::LedgerWritten { after: None });
    assert_eq!(action, Action::ReadJob(JobRead::LedgerDone));
}

#[test]
fn a_write_announced_but_never_sent_is_written_again_not_taken_as_lost() {
    // The status said `recording`, then the process died before the `_update` went out.
    let spec = spec(LedgerMode::Required);
    let opaque = "jobreset/obs/r/u1";
    let inp = input(&spec, opaque);
    let c = Cluster::new();
    let s = JobResetStatus {
        phase: Phase::Closing,
        elasticsearch_version: Some("8.15.0".into()),
        ledger_state: Some("recording".into()),
        ..Default::default()
    };
    let (action, s) = decide(
        &inp,
        &s,
        Observation::Job {
            job: c.job(),
            read: JobRead::PreReset,
        },
    );
    assert!(matches!(action, Action::WriteLedger { .. }), "{action:?}");
    assert_ne!(s.phase, Phase::Failed);
}

#[test]
fn a_reset_requested_after_an_adopted_one_aborted_is_recorded_first() {
    // The adopted reset went away without clearing the data: this run asks for its own,
    // and under Required only after its `started` entry.
    let spec = spec(LedgerMode::Required);
    let inp = input(&spec, "jobreset/obs/r/u1");
    let c = Cluster::new();
    let s = JobResetStatus {
        phase: Phase::Resetting,
        elasticsearch_version: Some("8.15.0".into()),
        adopted: true,
        job_fingerprint: Some(crate::run::decide::fingerprint(&c.job())),
        ..Default::default()
    };
    let (action, _) = decide(
        &inp,
        &s,
        Observation::Job {
            job: c.job(),
            read: JobRead::AdoptWait,
        },
    );
    assert!(matches!(action, Action::WriteLedger { .. }), "{action:?}");
}

#[test]
fn a_failed_reset_is_recorded_failed_and_a_re_created_jobreset_resets() {
    let spec = spec(LedgerMode::BestEffort);
    let mut c = Cluster::new();
    c.task_error = Some("illegal_state_exception");
    let s = walk(&spec, "jobreset/obs/reset-x/uid-1", &mut c);
    assert_eq!(s.phase, Phase::Failed, "{:?}", s.message);
    assert_eq!(s.reason.as_deref(), Some(reason::RESET_FAILED));
    assert!(
        s.message.as_deref().is_some_and(|m| m.contains("boom")),
        "{:?}",
        s.message
    );
    assert_eq!(s.ledger_state.as_deref(), Some("failed"));
    assert_eq!(s.outcome_reason, None);
    assert_eq!(c.writes(), vec!["update", "reset", "update"], "{:?}", c.log);
    let runs = book::entries(Some(&c.settings));
    assert_eq!(
        (runs[0].state.as_str(), runs[0].reason.as_deref()),
        ("failed", Some(reason::RESET_FAILED))
    );
    assert_eq!(c.settings["created_by"], "ml-module");

    // Created again under the same key: the failed run is no reason to refuse, nor Ambiguous.
    c.task_error = None;
    c.log.clear();
    let s = walk(&spec, "jobreset/obs/reset-x/uid-2", &mut c);
    assert_eq!(
        s.reason.as_deref(),
        Some(reason::RESET_COMPLETED),
        "{:?}",
        s.message
    );
    assert_eq!(c.log.iter().filter(|l| **l == "reset").count(), 1);
}

#[test]
fn a_failure_whose_record_cannot_be_written_still_fails_with_its_reason() {
    let mut c = Cluster::new();
    c.task_error = Some("illegal_state_exception");
    c.lose_writes = true;
    let s = walk(
        &spec(LedgerMode::BestEffort),
        "jobreset/obs/reset-x/uid-1",
        &mut c,
    );
    // The started write was lost too, so nothing is held: the reset went on unrecorded.
    assert_eq!(
        (s.phase, s.reason.as_deref()),
        (Phase::Failed, Some(reason::RESET_FAILED))
    );

    // The started entry landed, the outcome write does not.
    let spec = spec(LedgerMode::Required);
    let inp = input(&spec, "jobreset/obs/r/u1");
    let s = JobResetStatus {
        phase: Phase::Resetting,
        elasticsearch_version: Some("8.15.0".into()),
        ledger_state: Some("started".into()),
        reset_requests: 1,
        task_id: Some("n1:39".into()),
        ..Default::default()
    };
    let (action, s) = decide(
        &inp,
        &s,
        Observation::Task(TaskPoll::Completed {
            task: reset_task("jobreset/obs/r/u1/1"),
            outcome: TaskOutcome::NotAcknowledged,
        }),
    );
    assert_eq!(action, Action::ReadJob(JobRead::LedgerDone));
    assert_eq!(s.phase, Phase::Resetting);
    assert_eq!(s.outcome_reason.as_deref(), Some(reason::CANCELLED));
    let gone = EsError::Api {
        what: "GET job".into(),
        status: 404,
        kind: "resource_not_found_exception".into(),
        reason: "No known job".into(),
    };
    let (action, s) = decide(
        &inp,
        &s,
        Observation::EsFailed {
            op: Op::ReadJob(JobRead::LedgerDone),
            error: gone,
        },
    );
    assert_eq!(action, Action::Done);
    assert_eq!(
        (s.phase, s.reason.as_deref()),
        (Phase::Failed, Some(reason::CANCELLED))
    );
    assert_eq!(s.ledger_state.as_deref(), Some("unrecorded"));
}

#[test]
fn a_started_write_whose_answer_shows_a_block_or_protection_is_read_back() {
    let spec = spec(LedgerMode::BestEffort);
    let opaque = "jobreset/obs/r/u1";
    let inp = input(&spec, opaque);
    let c = Cluster::new();
    let (action, s) = decide(
        &inp,
        &JobResetStatus {
            phase: Phase::Pending,
            elasticsearch_version: Some("8.15.0".into()),
            ..Default::default()
        },
        Observation::Job {
            job: c.job(),
            read: JobRead::Initial,
        },
    );
    let Action::WriteLedger { custom_settings } = action else {
        panic!("{action:?}");
    };
    assert!(
        s.job_fingerprint.is_some(),
        "taken by the read the write starts from"
    );
    let answer = |blocked, protected| Observation::LedgerWritten {
        after: Some(UpdatedJob {
            custom_settings: Some(custom_settings.clone()),
            blocked,
            protected,
        }),
    };
    let (action, ok) = decide(&inp, &s, answer(false, false));
    assert_eq!(action, Action::PostReset);
    assert_eq!(ok.ledger_state.as_deref(), Some("started"));
    for (blocked, protected) in [(true, false), (false, true)] {
        let (action, _) = decide(&inp, &s, answer(blocked, protected));
        assert_eq!(
            action,
            Action::ReadJob(JobRead::PreReset),
            "{blocked} {protected}"
        );
    }
    let (action, _) = decide(&inp, &s, Observation::LedgerWritten { after: None });
    assert_eq!(action, Action::ReadJob(JobRead::PreReset));
}

#[test]
fn the_confirming_read_needs_the_configuration_only() {
    let spec = spec(LedgerMode::BestEffort);
    let inp = input(&spec, "jobreset/obs/r/u1");
    let c = Cluster::new();
    let s = JobResetStatus {
        phase: Phase::Resetting,
        elasticsearch_version: Some("8.15.0".into()),
        task_id: Some("n1:39".into()),
        reset_requests: 1,
        ledger_state: Some("started".into()),
        ..Default::default()
    };
    let view = |reason: Option<BlockReason>| {
        Observation::Confirmed(JobConfigView {
            blocked: reason.map(|reason| Blocked {
                reason,
                task_id: None,
            }),
            custom_settings: Some(c.settings.clone()),
        })
    };
    let (action, done) = decide(&inp, &s, view(None));
    assert!(matches!(action, Action::WriteLedger { .. }), "{action:?}");
    assert_eq!(done.reason.as_deref(), Some(reason::RECORDING_OUTCOME));
    let (action, waiting) = decide(&inp, &s, view(Some(BlockReason::Reset)));
    assert!(matches!(action, Action::Requeue(_)), "{action:?}");
    assert_eq!(waiting.reason.as_deref(), Some(reason::CONFIRMING));
    let (_, deleted) = decide(&inp, &s, view(Some(BlockReason::Delete)));
    assert_eq!(
        deleted.reason.as_deref(),
        Some(reason::RECORDING_OUTCOME),
        "its failure is recorded first"
    );
    assert_eq!(
        deleted.outcome_reason.as_deref(),
        Some(reason::JOB_BEING_DELETED)
    );
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

#[test]
fn the_write_of_a_success_is_not_announced_and_a_failure_still_is() {
    let spec = spec(LedgerMode::BestEffort);
    let opaque = "jobreset/obs/r/u1";
    let inp = input(&spec, opaque);
    let recorded = after_task_id();
    let mut cleared = Cluster::new();
    cleared.reset = true;
    let confirmed = Observation::Job {
        job: cleared.job(),
        read: JobRead::ConfirmAck,
    };
    let (action, s) = decide(&inp, &recorded, confirmed);
    assert!(matches!(action, Action::WriteLedger { .. }), "{action:?}");
    assert!(success_written_unannounced(&recorded, &s, &action));
    // A failure is held in status (read first, then written) before the job records it.
    let failed = Observation::Task(TaskPoll::Completed {
        task: reset_task("jobreset/obs/r/u1/1"),
        outcome: TaskOutcome::Failed(ErrorCause {
            kind: "illegal_state_exception".into(),
            reason: "boom".into(),
        }),
    });
    let (action, held) = decide(&inp, &recorded, failed);
    assert_eq!(action, Action::ReadJob(JobRead::LedgerDone));
    assert!(!success_written_unannounced(&recorded, &held, &action));
    let (action, s) = decide(
        &inp,
        &held,
        Observation::Job {
            job: Cluster::new().job(),
            read: JobRead::LedgerDone,
        },
    );
    assert!(matches!(action, Action::WriteLedger { .. }), "{action:?}");
    assert!(!success_written_unannounced(&held, &s, &action));
}

#[test]
fn a_success_the_job_records_is_the_runs_outcome_after_a_restart() {
    let spec = spec(LedgerMode::BestEffort);
    let opaque = "jobreset/obs/r/u1";
    // Past the deadline: the run would fail with DeadlineExceeded and record that; the job's
    // record of its success comes first, and nothing is written.
    let late = at_deadline(&spec, opaque);
    let (action, held) = decide(&late, &after_task_id(), Observation::Start);
    assert_eq!(action, Action::ReadJob(JobRead::LedgerDone), "{held:?}");
    let read = Observation::Job {
        job: recorded_job(opaque, 1, false),
        read: JobRead::LedgerDone,
    };
    let (action, s) = decide(&late, &held, read);
    assert_eq!(action, Action::Done, "{s:#?}");
    assert_eq!(s.phase, Phase::Completed, "{s:#?}");
    assert_eq!(s.reason.as_deref(), Some(reason::RESET_COMPLETED));
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"));
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("ledger recorded at 2023-11-14T22:13:25Z")),
        "{s:#?}"
    );

    // The task gone and the job fed since: that would be Ambiguous, but the run's own record
    // says it reset the job.
    let inp = input(&spec, opaque);
    let gone = |job: Job| Observation::Job {
        job,
        read: JobRead::TaskGone,
    };
    let (action, s) = decide(&inp, &after_task_id(), gone(recorded_job(opaque, 1, true)));
    assert_eq!(action, Action::Done, "{s:#?}");
    assert_eq!(s.phase, Phase::Completed, "{s:#?}");

    // Not this request's record: an earlier request's, another JobReset's (same key, other
    // uid), another task's, or a run with no request of its own (adopted, or none sent).
    let mut second = after_task_id();
    second.reset_requests = 2;
    let mut other_task = after_task_id();
    other_task.task_id = Some("n1:40".into());
    let mut adopted = after_task_id();
    adopted.adopted = true;
    let cases = [
        ("an earlier request", second, recorded_job(opaque, 1, true)),
        (
            "another uid",
            after_task_id(),
            recorded_job("jobreset/obs/r/u0", 1, true),
        ),
        ("another task", other_task, recorded_job(opaque, 1, true)),
        ("adopted", adopted, recorded_job(opaque, 1, true)),
    ];
    for (what, status, job) in cases {
        let (_, s) = decide(&inp, &status, gone(job));
        assert_ne!(s.phase, Phase::Completed, "{what}: {s:#?}");
    }
    // A refused request: its record would be someone else's writing.
    let refused = Observation::Job {
        job: recorded_job(opaque, 1, false),
        read: JobRead::ResetRefused,
    };
    let (_, s) = decide(&inp, &after_task_id(), refused);
    assert_ne!(s.reason.as_deref(), Some(reason::RESET_COMPLETED), "{s:#?}");
    // With the ledger disabled nothing on the job is the run's record.
    let off = self::spec(LedgerMode::Disabled);
    let (_, s) = decide(
        &input(&off, opaque),
        &after_task_id(),
        gone(recorded_job(opaque, 1, true)),
    );
    assert_ne!(s.phase, Phase::Completed, "{s:#?}");
}

#[test]
fn an_acknowledged_task_is_confirmed_on_the_job_unless_it_is_the_runs_alone() {
    let running = |ledger_state: Option<&str>, adopted: bool| JobResetStatus {
        phase: Phase::Resetting,
        start_time: Some("2023-11-14T22:13:20Z".into()),
        elasticsearch_version: Some("8.15.0".into()),
        task_id: Some("n1:39".into()),
        reset_requests: 1,
        reset_requested_time: Some("2023-11-14T22:13:20Z".into()),
        ledger_state: ledger_state.map(String::from),
        adopted,
        ..Default::default()
    };
    let acked = |opaque: &str| {
        let mut task = reset_task(&format!("{opaque}/1"));
        // A task that kept no opaque id is known by its start time alone.
        if opaque.is_empty() {
            task.opaque_id = None;
        }
        Observation::Task(TaskPoll::Completed {
            task,
            outcome: TaskOutcome::Acknowledged,
        })
    };
    let run = "jobreset/obs/reset-x/uid-1";
    // The standalone command's requests name the job only: another invocation's stored
    // result could answer for the same task id.
    let cli = "jobreset/cli/total-requests";
    let cases = [
        ("no ledger", LedgerMode::Disabled, run, None, false, true),
        (
            "no ledger, adopted",
            LedgerMode::Disabled,
            run,
            None,
            true,
            false,
        ),
        ("standalone", LedgerMode::Disabled, cli, None, false, false),
        (
            "outcome to write",
            LedgerMode::BestEffort,
            run,
            Some("started"),
            false,
            false,
        ),
        (
            "ledger given up",
            LedgerMode::BestEffort,
            run,
            Some("unrecorded"),
            false,
            true,
        ),
    ];
    let cases = cases
        .into_iter()
        .map(|(name, mode, opaque, ledger, adopted, direct)| {
            (name, mode, opaque, opaque, ledger, adopted, direct)
        })
        .chain([(
            "known by its start time",
            LedgerMode::Disabled,
            run,
            "",
            None,
            false,
            false,
        )]);
    for (name, mode, opaque, task_opaque, ledger_state, adopted, direct) in cases {
        let spec = spec(mode);
        let inp = input(&spec, opaque);
        let (action, s) = decide(&inp, &running(ledger_state, adopted), acked(task_opaque));
        if direct {
            assert_eq!(action, Action::Done, "{name}");
            assert_eq!(s.phase, Phase::Completed, "{name}");
        } else {
            assert_eq!(action, Action::ReadJob(JobRead::ConfirmAck), "{name}");
        }
    }
}
