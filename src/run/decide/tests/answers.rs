//! Answers that look like a refusal and are not, and states to wait out (upgrade mode, a stuck
//! reset). Pure, no I/O.

use super::*;

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
