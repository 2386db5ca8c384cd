//! Table cells of a Resetting run reading its job: confirmations, lost tasks, blocks. Pure, no
//! I/O.

use super::*;

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
