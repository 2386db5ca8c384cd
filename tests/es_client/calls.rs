//! Each call of the client: info, job, close, reset and its task, user annotations, versions
//! without the reset API, the request id on every request.

use super::*;

#[tokio::test]
async fn info_reports_the_version_from_ml_info() {
    let sim = sim("8.15.0").await;
    let info = client(&sim).info().await.expect("info");
    assert_eq!(info.version, "8.15.0");
    assert_eq!(
        sim.control().count(Endpoint::Info),
        0,
        "GET / needs more than manage_ml"
    );
}

#[tokio::test]
async fn job_merges_config_and_stats() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-merge", job_body()).unwrap();
    ctl.set_model_snapshot_id("j-merge", Some("1700000000"));
    ctl.open_job("j-merge").unwrap();
    let es = client(&sim);

    let job = es.job("j-merge").await.expect("job");
    assert_eq!(job.id, "j-merge");
    assert_eq!(job.state, JobState::Opened);
    assert_eq!(job.blocked, None);
    assert_eq!(job.model_snapshot_id.as_deref(), Some("1700000000"));

    ctl.set_blocked("j-merge", Some("reset"), Some("master:7"));
    let job = es.job("j-merge").await.expect("job");
    let blocked = job.blocked.expect("blocked");
    assert_eq!(blocked.reason, BlockReason::Reset);
    assert_eq!(blocked.task_id.as_deref(), Some("master:7"));
}

#[tokio::test]
async fn missing_job_is_not_found() {
    let sim = sim("8.15.0").await;
    let err = client(&sim).job("no-such-job").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.kind(), Some("resource_not_found_exception"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn close_sends_query_parameters_and_no_body() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-close", job_body()).unwrap();
    ctl.open_job("j-close").unwrap();
    let es = client(&sim);

    es.close_job("j-close", false, "30s").await.expect("close");
    assert_eq!(es.job("j-close").await.unwrap().state, JobState::Closed);
    // Closing a closed job is not an error.
    es.close_job("j-close", false, "30s")
        .await
        .expect("close again");

    let closes: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobClose)
        .collect();
    assert_eq!(closes.len(), 2);
    assert_eq!(closes[0].method, "POST");
    assert!(
        closes[0].query.contains("force=false"),
        "{}",
        closes[0].query
    );
    assert!(
        closes[0].query.contains("timeout=30s"),
        "{}",
        closes[0].query
    );
}

#[tokio::test]
async fn failed_job_needs_force() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-failed", job_body()).unwrap();
    ctl.open_job("j-failed").unwrap();
    ctl.fail_job("j-failed");
    let es = client(&sim);
    assert_eq!(es.job("j-failed").await.unwrap().state, JobState::Failed);

    let err = es.close_job("j-failed", false, "30s").await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("use force close"), "{err}");

    es.close_job("j-failed", true, "30s")
        .await
        .expect("force close");
    assert_eq!(es.job("j-failed").await.unwrap().state, JobState::Closed);
}

#[tokio::test]
async fn invalid_close_timeout_is_refused_before_any_request() {
    let sim = sim("8.15.0").await;
    let err = client(&sim)
        .close_job("j", false, "soon")
        .await
        .unwrap_err();
    assert!(matches!(err, EsError::Config(_)), "{err}");
    assert_eq!(sim.control().count(Endpoint::JobClose), 0);
}

#[tokio::test]
async fn reset_returns_task_and_follow_reports_acknowledged() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-reset", job_body()).unwrap();
    ctl.set_model_snapshot_id("j-reset", Some("snap-1"));
    let es = client(&sim);

    let task = es.reset_job("j-reset", false, 1).await.expect("reset");
    assert!(task.starts_with(&format!("{}:", sim.node_id())), "{task}");
    let (done, _) = follow(&es, &task, Duration::from_secs(5)).await;
    let TaskPoll::Completed {
        task: info,
        outcome,
    } = done
    else {
        panic!("{done:?}")
    };
    assert_eq!(outcome, TaskOutcome::Acknowledged);
    assert_eq!(info.action, RESET_ACTION);
    assert_eq!(info.description, "job-j-reset");
    assert!(info.start_time_ms > 0);

    let job = es.job("j-reset").await.unwrap();
    assert_eq!(job.blocked, None);
    assert_eq!(job.model_snapshot_id, None);
    assert_eq!(ctl.resets_started("j-reset"), 1);

    let resets: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobReset)
        .collect();
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].query, "wait_for_completion=false");
}

#[tokio::test]
async fn opaque_id_is_sent_on_every_request() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-opaque", job_body()).unwrap();
    let es = client(&sim);
    es.info().await.unwrap();
    es.job("j-opaque").await.unwrap();
    es.close_job("j-opaque", false, "1m").await.unwrap();
    let task = es.reset_job("j-opaque", false, 3).await.unwrap();
    let (poll, _) = follow(&es, &task, Duration::from_secs(5)).await;

    let reqs: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint != Endpoint::Control)
        .collect();
    assert!(reqs.len() >= 6, "{reqs:?}");
    for r in &reqs {
        // The reset request is numbered: its task keeps the id, and tells it from any other.
        let want = if r.endpoint == Endpoint::JobReset {
            "jobreset/test/es-client/uid-1/3"
        } else {
            "jobreset/test/es-client/uid-1"
        };
        assert_eq!(r.opaque_id.as_deref(), Some(want), "{r:?}");
    }
    let kept = match poll {
        TaskPoll::Completed { task, .. } => task.opaque_id,
        other => panic!("{other:?}"),
    };
    assert_eq!(kept.as_deref(), Some("jobreset/test/es-client/uid-1/3"));
}

#[tokio::test]
async fn reset_of_an_open_job_fails_in_the_task() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-open", job_body()).unwrap();
    ctl.open_job("j-open").unwrap();
    let es = client(&sim);

    // The async POST is accepted; the validation error arrives as the task's stored error.
    let task = es
        .reset_job("j-open", false, 1)
        .await
        .expect("reset accepted");
    let (done, _) = follow(&es, &task, Duration::from_secs(5)).await;
    let TaskPoll::Completed {
        outcome: TaskOutcome::Failed(cause),
        ..
    } = done
    else {
        panic!("{done:?}")
    };
    assert_eq!(cause.kind, "status_exception");
    assert_eq!(cause.reason, "Can only reset a job when it is closed.");
}

#[tokio::test]
async fn delete_user_annotations_only_when_asked() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-ann", job_body()).unwrap();
    ctl.add_user_annotation("j-ann");
    ctl.add_auto_annotation("j-ann");
    let es = client(&sim);

    let task = es.reset_job("j-ann", true, 1).await.expect("reset");
    let (done, _) = follow(&es, &task, Duration::from_secs(5)).await;
    assert!(
        matches!(
            done,
            TaskPoll::Completed {
                outcome: TaskOutcome::Acknowledged,
                ..
            }
        ),
        "{done:?}"
    );
    let view = ctl.job("j-ann").unwrap();
    assert_eq!((view.user_annotations, view.auto_annotations), (0, 0));
    let reset = ctl
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::JobReset)
        .unwrap();
    assert!(
        reset.query.contains("delete_user_annotations=true"),
        "{}",
        reset.query
    );
}

#[tokio::test]
async fn delete_user_annotations_before_8_7_is_an_unrecognized_parameter() {
    let sim = sim("8.6.2").await;
    sim.control().put_job("j-old", job_body()).unwrap();
    let es = client(&sim);
    let err = es.reset_job("j-old", true, 1).await.unwrap_err();
    assert!(err.is_illegal_argument(), "{err}");
    assert!(!err.is_transient());
    // Without the flag the same version resets.
    let task = es.reset_job("j-old", false, 1).await.expect("reset");
    let (done, _) = follow(&es, &task, Duration::from_secs(5)).await;
    assert!(
        matches!(
            done,
            TaskPoll::Completed {
                outcome: TaskOutcome::Acknowledged,
                ..
            }
        ),
        "{done:?}"
    );
}

#[tokio::test]
async fn no_reset_api_before_7_14() {
    let sim = sim("7.13.4").await;
    sim.control().put_job("j-713", job_body()).unwrap();
    let err = client(&sim).reset_job("j-713", false, 1).await.unwrap_err();
    assert!(err.is_unsupported_api(), "{err}");
    assert_eq!(err.status_code(), Some(400));
}

#[tokio::test]
async fn running_reset_tasks_are_listed_with_their_request_ids() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-listed", job_body()).unwrap();
    ctl.set_reset_duration(Some("j-listed"), Duration::from_secs(3600));
    let es = client(&sim);
    let task = es.reset_job("j-listed", false, 2).await.unwrap();
    let tasks = es.reset_tasks().await.expect("list");
    let mine: Vec<_> = tasks.iter().filter(|t| t.task_id() == task).collect();
    assert_eq!(mine.len(), 1, "{tasks:?}");
    assert_eq!(mine[0].description, "job-j-listed");
    assert_eq!(
        mine[0].opaque_id.as_deref(),
        Some("jobreset/test/es-client/uid-1/2")
    );
    ctl.finish_reset("j-listed");
}
