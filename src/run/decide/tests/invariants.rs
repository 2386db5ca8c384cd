//! Every job and task cell against the invariants no cell may break. Pure, no I/O.

use super::*;

/// Every phase × job state × block × read purpose × data: the safety invariants hold.
#[test]
fn exhaustive_job_cells_keep_the_invariants() {
    let spec = spec();
    let inp = input(&spec, 10);
    let phases = [
        Phase::Pending,
        Phase::Closing,
        Phase::Resetting,
        Phase::Completed,
        Phase::Failed,
    ];
    let states = [
        JobState::Closed,
        JobState::Closing,
        JobState::Opened,
        JobState::Opening,
        JobState::Failed,
    ];
    let blocks = [
        None,
        Some((BlockReason::Reset, Some("m:1"))),
        Some((BlockReason::Reset, None)),
        Some((BlockReason::Delete, None)),
        Some((BlockReason::Revert, None)),
    ];
    let reads = [
        JobRead::Initial,
        JobRead::PreReset,
        JobRead::Recover,
        JobRead::ConfirmAck,
        JobRead::TaskGone,
        JobRead::AdoptWait,
    ];
    let mut cells = 0;
    for phase in phases {
        for with_task_id in [false, true] {
            for recorded in [None, Some(JobFingerprint::default()), Some(full_fp())] {
                let mut old = st(phase);
                old.task_id = with_task_id.then(|| "n1:39".to_string());
                old.job_fingerprint = recorded.clone();
                for state in states {
                    for block in blocks {
                        for read in reads {
                            for data in [false, true] {
                                cells += 1;
                                let j = job(state, block, data);
                                let obs = Observation::Job {
                                    job: j.clone(),
                                    read,
                                };
                                let (action, new) = decide(&inp, &old, obs);
                                let cell = format!(
                                    "{phase:?} task={with_task_id} fp={recorded:?} {state:?} {block:?} {read:?} data={data}"
                                );
                                if phase.is_terminal() {
                                    assert_eq!((action, &new), (Action::Done, &old), "{cell}");
                                    continue;
                                }
                                if action == Action::PostReset {
                                    assert_eq!(
                                        j.state,
                                        JobState::Closed,
                                        "reset only a closed job: {cell}"
                                    );
                                    // The one exception: a reset whose task vanished on 8.13+, which
                                    // Elasticsearch repairs when asked again (ES #106020).
                                    let reissue = read == JobRead::TaskGone
                                        && matches!(block, Some((BlockReason::Reset, _)));
                                    assert!(
                                        j.blocked.is_none() || reissue,
                                        "never reset a blocked job blindly: {cell}"
                                    );
                                    assert_eq!(new.phase, Phase::Resetting, "{cell}");
                                    let again = old.reason.as_deref() == Some("ResetRequested");
                                    assert_eq!(
                                        new.reset_requests,
                                        old.reset_requests + u32::from(!again),
                                        "{cell}"
                                    );
                                    assert!(new.task_id.is_none(), "{cell}");
                                    assert_eq!(
                                        new.job_fingerprint,
                                        Some(fingerprint(&j)),
                                        "intent recorded: {cell}"
                                    );
                                    let cleared_since = recorded
                                        .as_ref()
                                        .is_some_and(|f| !f.is_empty() && *f != fingerprint(&j));
                                    assert!(
                                        !(cleared_since && read == JobRead::Recover),
                                        "a reset whose effect is visible is not sent again: {cell}"
                                    );
                                }
                                if matches!(
                                    block,
                                    Some((BlockReason::Delete | BlockReason::Revert, _))
                                ) {
                                    assert_eq!(new.phase, Phase::Failed, "{cell}");
                                }
                                assert_eq!(new.conditions.len(), 3, "{cell}");
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cells, 5 * 2 * 3 * 5 * 5 * 6 * 2);
}

/// Every phase × task answer: no reset is ever sent straight from a task answer (the job is
/// read first), and a foreign task is never taken for ours.
#[test]
fn exhaustive_task_cells_keep_the_invariants() {
    let spec = spec();
    let inp = input(&spec, 10);
    let outcomes = || {
        vec![
            TaskOutcome::Acknowledged,
            TaskOutcome::NotAcknowledged,
            TaskOutcome::NoResult,
            TaskOutcome::Failed(ErrorCause {
                kind: "exception".into(),
                reason: "x".into(),
            }),
        ]
    };
    for phase in [Phase::Pending, Phase::Closing, Phase::Resetting] {
        for adopted in [false, true] {
            let mut old = with_task(st(phase), "n1:39");
            old.adopted = adopted;
            let mut polls = vec![
                TaskPoll::StillRunning,
                TaskPoll::NotFound,
                TaskPoll::Running(task(true)),
                TaskPoll::Running(task(false)),
            ];
            for ours in [true, false] {
                for outcome in outcomes() {
                    polls.push(TaskPoll::Completed {
                        task: task(ours),
                        outcome,
                    });
                }
            }
            for poll in polls {
                let cell = format!("{phase:?} adopted={adopted} {poll:?}");
                let foreign = matches!(&poll, TaskPoll::Running(t) | TaskPoll::Completed { task: t, .. } if t.action != RESET_ACTION);
                let (action, new) = decide(&inp, &old, Observation::Task(poll));
                assert_ne!(action, Action::PostReset, "{cell}");
                if foreign {
                    assert_eq!(action, Action::ReadJob(JobRead::TaskGone), "{cell}");
                    assert!(!new.phase.is_terminal(), "{cell}");
                }
                assert_eq!(
                    new.task_id.as_deref(),
                    Some("n1:39"),
                    "the task id is kept: {cell}"
                );
            }
        }
    }
}
