//! Elasticsearch down before and during the reset, 429/503 bursts, a hanging call holding every
//! slot, two JobResets for one job, the deadline.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_down_then_back() {
    let w = World::new("fault-down", SimConfig::default()).await;
    w.job_with_data("down-job", "closed");
    w.sim.stop_listening().await;

    w.create("reset-down", json!({"jobId": "down-job"})).await;
    let s = w
        .wait("reset-down", "a retried connection fault", |s| {
            s.reason.as_deref() == Some("ElasticsearchUnreachable") && s.attempts >= 2
        })
        .await;
    assert!(!s.phase.is_terminal());
    assert!(s.message.unwrap_or_default().contains("will retry"));

    w.sim.resume_listening().await.expect("listen again");
    let s = w.completed("reset-down").await;
    assert!(s.attempts >= 2);
    assert_eq!(w.accepted_resets("down-job"), 1);
    w.assert_job_reset("down-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_429_and_503_are_retried() {
    let w = World::new("fault-burst", SimConfig::default()).await;
    let ctl = w.ctl();
    // Opened, so that the close is sent (a closed job is not closed again).
    w.job_with_data("burst-job", "opened");
    let busy = |t: &str, r: &str, st: u16| json!({"error": {"root_cause": [{"type": t, "reason": r}], "type": t, "reason": r}, "status": st});
    ctl.fail_next(
        Endpoint::JobClose,
        2,
        503,
        busy("master_not_discovered_exception", "no master", 503),
    );
    ctl.fail_next(
        Endpoint::JobReset,
        3,
        429,
        busy("es_rejected_execution_exception", "rejected execution", 429),
    );
    ctl.fail_next(
        Endpoint::TaskGet,
        2,
        503,
        busy("node_not_connected_exception", "node not connected", 503),
    );

    w.create("reset-burst", json!({"jobId": "burst-job"})).await;
    let s = w.completed("reset-burst").await;
    assert!(s.attempts >= 7, "every injected fault was retried: {s:#?}");
    // Rejected POSTs started nothing; the status counts the requests sent.
    assert_eq!(
        s.reset_requests as u64,
        ctl.count(Endpoint::JobReset),
        "{s:#?}"
    );
    assert_eq!(w.accepted_resets("burst-job"), 1);
    assert_eq!(ctl.resets_started("burst-job"), 1);
    w.assert_job_reset("burst-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_down_while_the_reset_runs() {
    let w = World::new("fault-down-mid", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("mid-job", "closed");
    ctl.set_reset_duration(Some("mid-job"), Duration::from_secs(3));
    w.create("reset-mid", json!({"jobId": "mid-job"})).await;
    let s = w
        .wait("reset-mid", "a task id", |s| s.task_id.is_some())
        .await;
    let task = s.task_id.unwrap();

    w.sim.stop_listening().await;
    w.wait("reset-mid", "a connection fault", |s| {
        s.reason.as_deref() == Some("ElasticsearchUnreachable")
    })
    .await;
    w.sim.resume_listening().await.expect("listen again");

    let s = w.completed("reset-mid").await;
    assert_eq!(
        s.task_id.as_deref(),
        Some(task.as_str()),
        "the same task was followed after the outage"
    );
    assert_eq!(s.reset_requests, 1);
    assert_eq!(w.accepted_resets("mid-job"), 1);
    w.assert_job_reset("mid-job");
}

/// A run whose Elasticsearch call hangs holds the controller's only slot; another run's reset
/// ends meanwhile and is recorded at once, not after the hang (the request timeout, 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_reset_is_recorded_while_every_slot_is_busy() {
    let mut w = World::bare("fault-lane", SimConfig::default()).await;
    w.start_controller(Options {
        concurrency: 1,
        ..common::options(&w.ns)
    });
    let ctl = w.ctl();
    w.job_with_data("quick-job", "closed");
    w.job_with_data("stuck-job", "closed");
    ctl.set_reset_duration(Some("quick-job"), Duration::from_secs(2));

    w.create("reset-quick", json!({"jobId": "quick-job"})).await;
    w.wait("reset-quick", "a task id", |s| s.task_id.is_some())
        .await;
    // The only other call that reads a job's stats is the stuck run's first read.
    let stats_before = ctl.count(Endpoint::JobStats);
    ctl.hang_next(Endpoint::JobStats, 1);
    w.create("reset-stuck", json!({"jobId": "stuck-job"})).await;
    let hanging = ctl
        .wait_for(
            |c| c.count(Endpoint::JobStats) > stats_before,
            Duration::from_secs(30),
        )
        .await;
    assert!(hanging, "the stuck run's read reached Elasticsearch");

    let quick = w
        .wait_for("reset-quick", "Completed", Duration::from_secs(20), |s| {
            s.phase == Phase::Completed
        })
        .await;
    assert_eq!(
        quick.reason.as_deref(),
        Some("ResetCompleted"),
        "{quick:#?}"
    );
    let stuck = w.api.get("reset-stuck").await.expect("reset-stuck");
    let phase = stuck.status.map(|s| s.phase).unwrap_or_default();
    assert_eq!(
        phase,
        Phase::Pending,
        "the stuck run still waits for its read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobresets_for_one_job_run_one_after_the_other() {
    let w = World::new("fault-two", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("shared-job", "closed");
    ctl.set_reset_duration(Some("shared-job"), Duration::from_millis(500));
    let (max_resetting, monitor) = track_max_in_phase(w.api.clone(), Phase::Resetting);

    w.create("reset-one", json!({"jobId": "shared-job"})).await;
    w.create("reset-two", json!({"jobId": "shared-job"})).await;
    // One of them waits for the other.
    let waiting = tokio::select! {
        s = w.wait("reset-one", "waiting", |s| s.reason.as_deref().is_some_and(|r| r.starts_with("WaitingFor/"))) => s,
        s = w.wait("reset-two", "waiting", |s| s.reason.as_deref().is_some_and(|r| r.starts_with("WaitingFor/"))) => s,
    };
    assert_eq!(waiting.phase, Phase::Pending, "{waiting:#?}");

    let one = w.completed("reset-one").await;
    let two = w.completed("reset-two").await;
    monitor.abort();
    assert_ne!(one.task_id, two.task_id);
    assert_eq!(
        w.accepted_resets("shared-job"),
        2,
        "each JobReset ran its own reset"
    );
    assert_eq!(
        max_resetting.load(Ordering::SeqCst),
        1,
        "the two runs were never resetting at the same time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_exceeded_while_elasticsearch_is_down() {
    let w = World::new("fault-deadline", SimConfig::default()).await;
    w.job_with_data("late-job", "closed");
    w.sim.stop_listening().await;
    w.create(
        "reset-deadline",
        json!({"jobId": "late-job", "deadlineSeconds": 1}),
    )
    .await;

    let s = w.failed("reset-deadline", "DeadlineExceeded").await;
    assert!(
        s.message
            .unwrap_or_default()
            .contains("no reset was started")
    );
    w.sim.resume_listening().await.unwrap();
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_exceeded_while_the_reset_runs_leaves_it_running() {
    let w = World::new("fault-deadline-run", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("long-job", "closed");
    ctl.set_reset_duration(Some("long-job"), Duration::from_secs(3600));
    w.create(
        "reset-long",
        // Long enough for the reset to be sent first, even on a busy machine.
        json!({"jobId": "long-job", "deadlineSeconds": 5}),
    )
    .await;

    let s = w.failed("reset-long", "DeadlineExceeded").await;
    assert!(s.task_id.is_some());
    assert!(s.message.unwrap_or_default().contains("left to finish"));
    assert_eq!(w.accepted_resets("long-job"), 1);
    assert_eq!(
        ctl.job("long-job").unwrap().blocked_reason.as_deref(),
        Some("reset")
    );
}
