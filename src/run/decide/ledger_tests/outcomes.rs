//! Recording outcomes: past the deadline, announced writes never sent, failures, the started
//! write's answer, the confirming read. Pure, no I/O.

use super::*;

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
