//! Performs one decided action against Elasticsearch and turns the answer into the next
//! observation, for `steps::drive`; the long calls go through a `Follow`. Also the waits
//! the deadline cuts short (the close's timeout, a long-poll's wait). Does I/O (the
//! Elasticsearch calls).

use std::time::Duration;

use jiff::Timestamp;

use crate::{
    api::{JobResetSpec, JobResetStatus},
    es::{Elasticsearch, TaskPoll},
    run::crash::{self, CrashPoint},
    run::decide::{Action, JobRead, NEEDED_PRIVILEGES, Observation, Op},
    run::follow::{Answer, Call, Follow},
    run::steps::StepConfig,
};

/// Performs one action; `None` when the answer is a background long-poll's, not ready yet.
pub(super) async fn act<E: Elasticsearch, F: Follow<E> + Sync>(
    es: &E,
    spec: &JobResetSpec,
    status: &JobResetStatus,
    action: Action,
    cfg: &StepConfig,
    now: Timestamp,
    follow: &F,
) -> Option<Observation> {
    let job_id = spec.job_id.as_str();
    Some(match action {
        Action::ReadInfo => match es.version().await {
            Ok(info) => Observation::Info(info),
            Err(error) => Observation::EsFailed {
                op: Op::Info,
                error,
            },
        },
        Action::CheckPrivileges => match es.privileges(&NEEDED_PRIVILEGES).await {
            Ok(p) => Observation::Privileges(p),
            Err(error) => Observation::EsFailed {
                op: Op::CheckPrivileges,
                error,
            },
        },
        // Confirming a reset needs the block and the ledger only: the config, no stats.
        Action::ReadJob(JobRead::ConfirmAck) => match es.job_config(job_id).await {
            Ok(view) => Observation::Confirmed(view),
            Err(error) => Observation::EsFailed {
                op: Op::ReadJob(JobRead::ConfirmAck),
                error,
            },
        },
        Action::ReadJob(read) => match es.job(job_id).await {
            Ok(job) => Observation::Job { job, read },
            Err(error) => Observation::EsFailed {
                op: Op::ReadJob(read),
                error,
            },
        },
        Action::Close { force } => {
            let call = Call::Close {
                job_id: job_id.to_owned(),
                force,
                timeout: close_timeout(spec, status, now),
            };
            match follow.answer(es, call).await? {
                Answer::Closed(Ok(())) => {
                    crash::at(CrashPoint::AfterClose);
                    Observation::Closed
                }
                Answer::Closed(Err(error)) => Observation::EsFailed {
                    op: Op::Close { force },
                    error,
                },
                Answer::Task(_) => return None,
            }
        }
        Action::PostReset => match es
            .reset_job(job_id, spec.delete_user_annotations, status.reset_requests)
            .await
        {
            Ok(task_id) => {
                crash::at(CrashPoint::AfterResetPost);
                // The long-poll goes out while the task id is written (a read; its answer is
                // taken only once the id is in status): a short reset ends in this reconcile.
                follow.prefetch_task(es, &task_id, follow_wait(cfg, spec, status, now));
                Observation::ResetPosted { task_id }
            }
            Err(error) => Observation::EsFailed {
                op: Op::PostReset,
                error,
            },
        },
        Action::ReadDatafeed { datafeed_id } => match es.datafeed_state(&datafeed_id).await {
            Ok(state) => Observation::DatafeedState(state),
            Err(error) => Observation::EsFailed {
                op: Op::ReadDatafeed,
                error,
            },
        },
        Action::WriteLedger { custom_settings } => {
            match es.update_custom_settings(job_id, &custom_settings).await {
                Ok(after) => {
                    crash::at(CrashPoint::AfterLedgerWrite);
                    Observation::LedgerWritten { after }
                }
                Err(error) => Observation::EsFailed {
                    op: Op::WriteLedger,
                    error,
                },
            }
        }
        Action::OpenJob => match es.open_job(job_id).await {
            Ok(()) => {
                crash::at(CrashPoint::AfterReopen);
                Observation::Opened
            }
            Err(error) => Observation::EsFailed {
                op: Op::OpenJob,
                error,
            },
        },
        Action::StartDatafeed {
            datafeed_id,
            start,
            end,
        } => match es
            .start_datafeed(&datafeed_id, &start, end.as_deref())
            .await
        {
            Ok(()) => Observation::DatafeedStarted,
            Err(error) => Observation::EsFailed {
                op: Op::StartDatafeed,
                error,
            },
        },
        Action::CheckUpgradeMode => match es.info().await {
            Ok(info) => Observation::UpgradeMode(info.upgrade_mode),
            Err(error) => Observation::EsFailed {
                op: Op::CheckUpgradeMode,
                error,
            },
        },
        Action::FindOwnTask => match es.reset_tasks().await {
            Ok(tasks) => Observation::ResetTasks(tasks),
            Err(error) => Observation::EsFailed {
                op: Op::FindOwnTask,
                error,
            },
        },
        Action::FollowTask { task_id } => {
            let wait = follow_wait(cfg, spec, status, now);
            let call = Call::Follow {
                task_id: task_id.clone(),
                wait,
            };
            let Answer::Task(answer) = follow.answer(es, call).await? else {
                return None;
            };
            crash::at(CrashPoint::MidFollow);
            match answer {
                // A timed-out long-poll names no task; task numbers are reused after a node
                // restart, so look at what the id names now before waiting again.
                Ok(TaskPoll::StillRunning) => match es.task(&task_id).await {
                    Ok(poll) => Observation::Task(poll),
                    Err(error) => Observation::EsFailed {
                        op: Op::FollowTask,
                        error,
                    },
                },
                Ok(poll) => Observation::Task(poll),
                Err(error) => Observation::EsFailed {
                    op: Op::FollowTask,
                    error,
                },
            }
        }
        // Not reached: `drive` returns on these before acting.
        Action::Requeue(_) | Action::Done => Observation::Start,
    })
}

/// The close's server-side timeout: `closeJob.timeout`, cut short by the deadline (a close
/// must not outlive the run that asked for it).
pub fn close_timeout(spec: &JobResetSpec, status: &JobResetStatus, now: Timestamp) -> String {
    let asked = spec.close_job.timeout.trim().to_owned();
    let Some(left) = crate::run::decide::deadline_left(spec, status, now) else {
        return asked;
    };
    let left = Duration::from_secs(u64::try_from(left).unwrap_or(0).max(1));
    match crate::es::parse_es_time(&asked) {
        // `-1` (no limit) or longer than the deadline allows.
        Some(None) => crate::es::es_time(left),
        Some(Some(d)) if d > left => crate::es::es_time(left),
        _ => asked,
    }
}

/// The long-poll wait: the configured poll timeout, cut short by the deadline so a run
/// notices it in time (but not below one second, so a late poll still has a chance).
pub fn follow_wait(
    cfg: &StepConfig,
    spec: &JobResetSpec,
    status: &JobResetStatus,
    now: Timestamp,
) -> Duration {
    let remaining = crate::run::decide::deadline_left(spec, status, now)
        .map(|secs| Duration::from_secs(u64::try_from(secs).unwrap_or(0)));
    match remaining {
        Some(r) => cfg.task_poll_timeout.min(r.max(Duration::from_secs(1))),
        None => cfg.task_poll_timeout,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::ElasticsearchSpec;

    /// A spec with this deadline, a status that started at 1_700_000_000, and `at(s)`: that
    /// start plus `s` seconds.
    fn run_of(deadline_seconds: i64) -> (JobResetSpec, JobResetStatus, impl Fn(i64) -> Timestamp) {
        let spec = JobResetSpec {
            deadline_seconds,
            ..JobResetSpec::for_job("j", ElasticsearchSpec::default())
        };
        let at =
            |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap_or(Timestamp::UNIX_EPOCH);
        let status = JobResetStatus {
            start_time: Some(at(0).to_string()),
            ..Default::default()
        };
        (spec, status, at)
    }

    #[test]
    fn close_timeout_respects_the_deadline() {
        let (mut spec, status, at) = run_of(600);
        assert_eq!(
            close_timeout(&spec, &status, at(0)),
            "600s",
            "30m cut to the deadline"
        );
        assert_eq!(close_timeout(&spec, &status, at(590)), "10s");
        spec.close_job.timeout = "2m".into();
        assert_eq!(
            close_timeout(&spec, &status, at(0)),
            "2m",
            "shorter than the deadline"
        );
        spec.close_job.timeout = "-1".into();
        assert_eq!(
            close_timeout(&spec, &status, at(100)),
            "500s",
            "no limit: the deadline"
        );
        let fresh = JobResetStatus::default();
        assert_eq!(close_timeout(&spec, &fresh, at(0)), "-1");
    }

    #[test]
    fn follow_wait_respects_the_deadline() {
        let cfg = StepConfig {
            task_poll_timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            gate: Arc::default(),
            known_unsent: None,
        };
        let (spec, status, at) = run_of(100);
        assert_eq!(
            follow_wait(&cfg, &spec, &status, at(10)),
            Duration::from_secs(30)
        );
        assert_eq!(
            follow_wait(&cfg, &spec, &status, at(90)),
            Duration::from_secs(10)
        );
        assert_eq!(
            follow_wait(&cfg, &spec, &status, at(200)),
            Duration::from_secs(1)
        );
        let short = StepConfig {
            task_poll_timeout: Duration::from_millis(500),
            ..cfg.clone()
        };
        assert_eq!(
            follow_wait(&short, &spec, &status, at(10)),
            Duration::from_millis(500)
        );
        let no_start = JobResetStatus::default();
        assert_eq!(
            follow_wait(&cfg, &spec, &no_start, at(0)),
            Duration::from_secs(30)
        );
    }
}
