//! Whole-run rules: retries, terminal phases, deadlines, the intent before the post,
//! conditions, messages, versions. Pure, no I/O.

use super::*;

#[test]
fn a_retry_keeps_its_fault_as_the_reason() {
    let spec = spec();
    let inp = input(&spec, 10);
    let (_, failed_once) = decide(
        &inp,
        &JobResetStatus::default(),
        Observation::EsFailed {
            op: Op::Info,
            error: connect_err(),
        },
    );
    let (action, again) = decide(&inp, &failed_once, Observation::Start);
    assert_eq!(action, Action::ReadInfo);
    assert_eq!(again, failed_once, "no status write just for starting over");
}

#[test]
fn terminal_phases_do_nothing() {
    let spec = spec();
    let inp = input(&spec, 10);
    for phase in [Phase::Completed, Phase::Failed] {
        let s = st(phase);
        let observations = vec![
            Observation::Start,
            Observation::Closed,
            Observation::Task(TaskPoll::NotFound),
            Observation::Job {
                job: job(JobState::Opened, None, true),
                read: JobRead::Initial,
            },
        ];
        for obs in observations {
            let (action, out) = decide(&inp, &s, obs);
            assert_eq!(action, Action::Done);
            assert_eq!(out, s, "terminal status unchanged");
        }
    }
}

#[test]
fn deadline_cells() {
    let spec = spec();
    let late = 3601 + 10;
    let closing = st(Phase::Closing);
    let t = with_task(st(Phase::Resetting), "n1:39");
    let mut intent = st(Phase::Resetting);
    intent.job_fingerprint = Some(full_fp());
    intent.reset_requests = 1;
    let cases = vec![
        case(
            "closing past deadline",
            closing.clone(),
            Observation::Start,
            Action::Done,
            Phase::Failed,
            "DeadlineExceeded",
        ),
        case(
            "following past deadline",
            t.clone(),
            Observation::Start,
            Action::Done,
            Phase::Failed,
            "DeadlineExceeded",
        ),
        case(
            "answer past deadline is recorded",
            intent.clone(),
            Observation::ResetPosted {
                task_id: "n1:40".into(),
            },
            Action::Done,
            Phase::Failed,
            "DeadlineExceeded",
        ),
        case(
            "success past deadline completes",
            t.clone(),
            Observation::Task(TaskPoll::Completed {
                task: task(true),
                outcome: TaskOutcome::Acknowledged,
            }),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "confirmation past deadline completes",
            t.clone(),
            closed_ok(job(JobState::Closed, None, false), JobRead::ConfirmAck),
            Action::Done,
            Phase::Completed,
            "ResetCompleted",
        ),
        case(
            "re-issue past deadline is not sent",
            t.clone(),
            closed_ok(
                job(JobState::Closed, Some((BlockReason::Reset, None)), false),
                JobRead::TaskGone,
            ),
            Action::Done,
            Phase::Failed,
            "DeadlineExceeded",
        ),
    ];
    run_table(&spec, late, cases);

    let inp = input(&spec, late);
    let (_, s) = decide(
        &inp,
        &intent,
        Observation::ResetPosted {
            task_id: "n1:40".into(),
        },
    );
    assert_eq!(s.task_id.as_deref(), Some("n1:40"));
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("left to finish")),
        "{:?}",
        s.message
    );
    let (_, s) = decide(&inp, &closing, Observation::Start);
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("no reset was started")),
        "{:?}",
        s.message
    );
    let (_, s) = decide(
        &inp,
        &t,
        closed_ok(
            job(JobState::Closed, Some((BlockReason::Reset, None)), false),
            JobRead::TaskGone,
        ),
    );
    assert_eq!(s.reset_requests, 1, "a reset not sent is not counted");
}

#[test]
fn intent_is_recorded_before_the_post() {
    let spec = spec();
    let inp = input(&spec, 10);
    let (action, s) = decide(
        &inp,
        &st(Phase::Closing),
        closed_ok(job(JobState::Closed, None, true), JobRead::PreReset),
    );
    assert_eq!(action, Action::PostReset);
    assert_eq!(s.job_fingerprint, Some(full_fp()));
    assert_eq!(s.reset_requests, 1);
    assert!(s.reset_requested_time.is_some());
    assert!(s.task_id.is_none());
}

#[test]
fn job_state_before_is_kept_from_the_first_read() {
    let spec = spec();
    let inp = input(&spec, 10);
    let (_, s) = decide(
        &inp,
        &st(Phase::Pending),
        closed_ok(job(JobState::Opened, None, true), JobRead::Initial),
    );
    assert_eq!(s.job_state_before.as_deref(), Some("opened"));
    let (_, s2) = decide(
        &inp,
        &s,
        closed_ok(job(JobState::Closed, None, true), JobRead::Initial),
    );
    assert_eq!(s2.job_state_before.as_deref(), Some("opened"));
}

#[test]
fn conditions_follow_kstatus() {
    let spec = spec();
    let inp = input(&spec, 10);
    let cond = |s: &JobResetStatus, t: &str| s.condition(t).map(|c| c.status.clone());
    let (_, first) = decide(&inp, &JobResetStatus::default(), Observation::Start);
    assert_eq!(cond(&first, READY).as_deref(), Some("False"));
    assert_eq!(cond(&first, RECONCILING).as_deref(), Some("True"));
    assert!(first.start_time.is_some());
    let t = with_task(st(Phase::Resetting), "n1:39");
    let (_, done) = decide(
        &inp,
        &t,
        closed_ok(job(JobState::Closed, None, false), JobRead::ConfirmAck),
    );
    assert_eq!(cond(&done, READY).as_deref(), Some("True"));
    assert_eq!(cond(&done, STALLED).as_deref(), Some("False"));
    let (_, failed) = decide(
        &inp,
        &t,
        Observation::Task(TaskPoll::Completed {
            task: task(true),
            outcome: TaskOutcome::NotAcknowledged,
        }),
    );
    assert_eq!(cond(&failed, STALLED).as_deref(), Some("True"));
    assert_eq!(cond(&failed, READY).as_deref(), Some("False"));
    let (_, waiting) = decide(
        &inp,
        &st(Phase::Pending),
        Observation::WaitingFor {
            name: Some("a".into()),
        },
    );
    assert_eq!(
        waiting.condition(READY).map(|c| c.reason.as_str()),
        Some("WaitingForOtherReset")
    );
}

#[test]
fn transient_faults_count_and_back_off() {
    let spec = spec();
    let inp = input(&spec, 10);
    let mut s = st(Phase::Closing);
    let mut delays = vec![];
    for _ in 0..8 {
        let (action, next) = decide(
            &inp,
            &s,
            Observation::EsFailed {
                op: Op::Close { force: false },
                error: connect_err(),
            },
        );
        let Action::Requeue(d) = action else {
            panic!("transient fault requeues, got {action:?}")
        };
        delays.push(d.as_secs());
        assert_eq!(next.phase, Phase::Closing);
        s = next;
    }
    assert_eq!(s.attempts, 8);
    assert_eq!(delays, vec![1, 2, 4, 8, 16, 32, 60, 60]);
}

#[test]
fn forbidden_messages_name_the_privilege() {
    let spec = spec();
    let inp = input(&spec, 10);
    let t = with_task(st(Phase::Resetting), "n1:39");
    let (_, s) = decide(
        &inp,
        &t,
        Observation::EsFailed {
            op: Op::FollowTask,
            error: api(403, "security_exception", "no"),
        },
    );
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("cluster:monitor/task/get")),
        "{:?}",
        s.message
    );
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("left to finish")),
        "{:?}",
        s.message
    );
    let (_, s) = decide(
        &inp,
        &st(Phase::Closing),
        Observation::EsFailed {
            op: Op::Close { force: false },
            error: api(403, "security_exception", "no"),
        },
    );
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("manage_ml")),
        "{:?}",
        s.message
    );
}

#[test]
fn stuck_reset_message_gives_the_way_out() {
    let spec = spec();
    let inp = input(&spec, 10);
    let mut t = with_task(st(Phase::Resetting), "n1:39");
    t.elasticsearch_version = Some("8.10.4".into());
    let blocked = job(
        JobState::Closed,
        Some((BlockReason::Reset, Some("n1:39"))),
        false,
    );
    let (_, s) = decide(&inp, &t, closed_ok(blocked, JobRead::TaskGone));
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("only deleting the job clears the block"),
        "{msg}"
    );
    assert!(msg.contains("8.13"), "{msg}");
}

#[test]
fn delete_user_annotations_needs_8_7() {
    let mut spec = spec();
    spec.delete_user_annotations = true;
    let inp = input(&spec, 10);
    let info = |v: &str| {
        Observation::Info(ClusterInfo {
            version: v.into(),
            upgrade_mode: false,
        })
    };
    let (a, s) = decide(&inp, &JobResetStatus::default(), info("8.6.2"));
    assert_eq!((a, s.phase), (Action::Done, Phase::Failed));
    let (a, _) = decide(&inp, &JobResetStatus::default(), info("8.7.0"));
    assert_eq!(a, Action::CheckPrivileges);
}

#[test]
fn versions_parse() {
    assert_eq!(parse_version("8.13.2"), Some((8, 13)));
    assert_eq!(parse_version("9.0.0-SNAPSHOT"), Some((9, 0)));
    assert_eq!(parse_version("7"), None);
}

/// Walks a whole happy run through decide, as the driver would, and checks exactly one POST.
#[test]
fn happy_run_issues_one_reset() {
    let spec = spec();
    let inp = input(&spec, 10);
    let mut s = JobResetStatus::default();
    let mut obs = Observation::Start;
    let mut posts = 0;
    for _ in 0..20 {
        let (action, next) = decide(&inp, &s, obs);
        s = next;
        obs = match action {
            Action::ReadInfo => Observation::Info(ClusterInfo {
                version: "8.15.0".into(),
                upgrade_mode: false,
            }),
            Action::CheckPrivileges => Observation::Privileges(Privileges::SecurityOff),
            Action::ReadJob(read @ JobRead::Initial) => Observation::Job {
                job: job(JobState::Opened, None, true),
                read,
            },
            Action::ReadJob(read @ JobRead::PreReset) => Observation::Job {
                job: job(JobState::Closed, None, true),
                read,
            },
            Action::ReadJob(read) => Observation::Job {
                job: job(JobState::Closed, None, false),
                read,
            },
            Action::Close { .. } => Observation::Closed,
            Action::FindOwnTask => Observation::ResetTasks(vec![]),
            Action::CheckUpgradeMode => Observation::UpgradeMode(false),
            Action::PostReset => {
                posts += 1;
                Observation::ResetPosted {
                    task_id: "n1:39".into(),
                }
            }
            Action::FollowTask { .. } => Observation::Task(TaskPoll::Completed {
                task: task(true),
                outcome: TaskOutcome::Acknowledged,
            }),
            Action::Requeue(_)
            | Action::Done
            | Action::WriteLedger { .. }
            | Action::ReadDatafeed { .. }
            | Action::OpenJob
            | Action::StartDatafeed { .. } => break,
        };
    }
    assert_eq!(s.phase, Phase::Completed, "{:?}", s.message);
    assert_eq!(posts, 1);
    assert_eq!(s.task_id.as_deref(), Some("n1:39"));
    assert_eq!(s.job_state_before.as_deref(), Some("opened"));
}
