//! A success written unannounced: what a restart finds on the job and in status. Pure, no I/O.

use super::*;

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
