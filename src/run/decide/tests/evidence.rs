//! Lost answers, whose task it is, refusals, privileges, notAfter and protection: judged on
//! evidence. Pure, no I/O.

use super::*;

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
    // So does a refused certificate: the handshake failed before anything was sent.
    empty.reason = Some("ElasticsearchCertificateNotTrusted".into());
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
