//! Whole walks against a cluster that keeps custom_settings: a re-created JobReset, lost and
//! refused writes, `Disabled`, upgrade mode, an earlier outcome never written. Pure, no I/O.

use super::*;

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
