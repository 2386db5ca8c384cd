//! Following the reset task: a task id reused after a node restart, long-poll timeouts (500 in
//! 8.x, 429 in 9.x), a vanished task before and from 8.13, a reset already running adopted.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_id_reused_after_node_restart_is_not_mistaken_for_ours() {
    let w = World::new("fault-reuse", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("reuse-a", "closed");
    w.job_with_data("reuse-b", "closed");
    ctl.set_reset_duration(Some("reuse-a"), Duration::from_secs(3600));
    // Short enough that reuse-b's master-side task (which reuses the number in reuse-a's
    // stale `blocked.task_id`) ends, so the re-issued reset of reuse-a is not held up by it.
    ctl.set_reset_duration(Some("reuse-b"), Duration::from_secs(1));

    w.create("reset-a", json!({"jobId": "reuse-a"})).await;
    let s = w
        .wait("reset-a", "a task id", |s| s.task_id.is_some())
        .await;
    let first = s.task_id.unwrap();
    // A fresh simulator: the run's reset is the first task.
    assert!(first.ends_with(":1"), "{first}");
    ctl.set_reset_duration(Some("reuse-a"), Duration::from_millis(200));

    // The node restarts: reuse-a's task is lost (the job stays blocked on reset), task
    // numbers start again, and someone resets reuse-b, which gets reuse-a's old task id. The
    // operator's polls are slowed so that it asks only after that.
    ctl.set_latency(Endpoint::TaskGet, Duration::from_millis(500));
    ctl.restart_node(true);
    let other = es(&w)
        .reset_job("reuse-b", false, 1)
        .await
        .expect("other reset");
    ctl.set_latency(Endpoint::TaskGet, Duration::ZERO);
    assert_eq!(
        other, first,
        "the simulator reuses task numbers after a restart"
    );

    let s = w.completed("reset-a").await;
    assert_eq!(
        s.reset_requests, 2,
        "the lost reset was re-issued once: {s:#?}"
    );
    assert_ne!(s.task_id.as_deref(), Some(first.as_str()), "{s:#?}");
    assert_eq!(w.accepted_resets("reuse-a"), 2);
    w.assert_job_reset("reuse-a");
    // reuse-b's reset (someone else's) was left alone: one request, ended by itself.
    assert_eq!(w.accepted_resets("reuse-b"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_timeout_500_in_8x_means_still_running() {
    long_poll_timeouts_then_complete("8.15.0", 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_timeout_429_in_9x_means_still_running() {
    long_poll_timeouts_then_complete("9.1.0", 429).await;
}

/// The reset takes longer than several long-polls; each timeout (500 or 429) keeps the run in
/// Resetting without counting a fault, and the run completes when the reset does.
async fn long_poll_timeouts_then_complete(v: &str, status: u16) {
    let mut w = World::bare(&format!("fault-poll-{status}"), version(v)).await;
    let opts = Options {
        task_poll_timeout: Duration::from_millis(500),
        ..common::options(&w.ns)
    };
    w.start_controller(opts);
    let ctl = w.ctl();
    w.job_with_data("slow-job", "closed");
    // Long enough for several 500 ms long-polls to time out.
    ctl.set_reset_duration(Some("slow-job"), Duration::from_secs(3));

    w.create("reset-slow", json!({"jobId": "slow-job"})).await;
    let s = w.completed("reset-slow").await;
    let timeouts = ctl
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::TaskGet && r.status == status)
        .count();
    assert!(
        timeouts >= 2,
        "expected long-poll timeouts answered with HTTP {status}, saw {timeouts}"
    );
    assert_eq!(s.attempts, 0, "timeouts are not faults: {s:#?}");
    assert_eq!(s.reset_requests, 1);
    assert_eq!(w.accepted_resets("slow-job"), 1);
    w.assert_job_reset("slow-job");
}

/// The reset task vanishes with its node (no stored result): the job stays blocked on reset.
async fn vanished_task(v: &str) -> (World, jobreset_operator::api::JobResetStatus) {
    let w = World::new(&format!("fault-404-{}", v.replace('.', "-")), version(v)).await;
    let ctl = w.ctl();
    w.job_with_data("lost-job", "closed");
    ctl.set_reset_duration(Some("lost-job"), Duration::from_secs(3600));
    w.create("reset-lost", json!({"jobId": "lost-job"})).await;
    w.wait("reset-lost", "a task id", |s| s.task_id.is_some())
        .await;
    ctl.set_reset_duration(Some("lost-job"), Duration::from_millis(100));
    ctl.restart_node(true);
    let s = w.terminal("reset-lost").await;
    (w, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_task_before_8_13_is_a_stuck_reset() {
    let (w, s) = vanished_task("8.12.2").await;
    assert_eq!(s.phase, Phase::Failed, "{s:#?}");
    assert_eq!(s.reason.as_deref(), Some("StuckReset"), "{s:#?}");
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("8.13"),
        "the message says how to get out: {msg}"
    );
    // No second reset: before 8.13 it would 404 anyway.
    assert_eq!(w.accepted_resets("lost-job"), 1);
    assert_eq!(
        w.ctl().job("lost-job").unwrap().blocked_reason.as_deref(),
        Some("reset")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_task_from_8_13_is_reset_again() {
    let (w, s) = vanished_task("8.13.0").await;
    assert_eq!(s.phase, Phase::Completed, "{s:#?}");
    assert_eq!(s.reset_requests, 2, "{s:#?}");
    assert_eq!(w.accepted_resets("lost-job"), 2);
    w.assert_job_reset("lost-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_already_in_flight_is_adopted_and_followed_to_its_end() {
    let w = World::new("fault-adopt", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("busy-job", "closed");
    // A reset ML started by itself, running until the run has adopted it.
    ctl.set_reset_duration(Some("busy-job"), Duration::from_secs(3600));
    ctl.internal_reset("busy-job");
    let blocked_task = ctl
        .job("busy-job")
        .unwrap()
        .blocked_task_id
        .expect("internal reset blocks the job");

    w.create("reset-busy", json!({"jobId": "busy-job"})).await;
    w.wait("reset-busy", "adoption", |s| s.adopted).await;
    ctl.finish_reset("busy-job");
    let s = w.completed("reset-busy").await;
    assert!(s.adopted, "{s:#?}");
    assert_eq!(s.task_id.as_deref(), Some(blocked_task.as_str()));
    assert_eq!(s.reset_requests, 0, "{s:#?}");
    assert!(s.message.unwrap_or_default().contains("adopted"));
    // Following it sent no reset of our own.
    assert_eq!(ctl.count(Endpoint::JobReset), 0);
    assert_eq!(ctl.resets_started("busy-job"), 1);
    w.assert_job_reset("busy-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopted_reset_that_dies_with_its_node_is_taken_over() {
    let w = World::new("fault-adopt", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("busy-job", "closed");
    ctl.set_reset_duration(Some("busy-job"), Duration::from_secs(3600));
    ctl.internal_reset("busy-job");
    let blocked_task = ctl
        .job("busy-job")
        .unwrap()
        .blocked_task_id
        .expect("internal reset blocks the job");

    w.create("reset-busy", json!({"jobId": "busy-job"})).await;
    let s = w.wait("reset-busy", "adoption", |s| s.adopted).await;
    assert_eq!(s.phase, Phase::Resetting);
    assert_eq!(s.reason.as_deref(), Some("Adopted"), "{s:#?}");
    assert_eq!(s.task_id.as_deref(), Some(blocked_task.as_str()));

    // Following it sent no reset of our own.
    assert_eq!(ctl.count(Endpoint::JobReset), 0);
    assert_eq!(ctl.resets_started("busy-job"), 1);

    // The adopted reset dies with its node (its master-side task stores nothing): on 8.13+
    // the run resets the still-blocked job itself. The restart reuses task numbers, so the
    // first reset sent gets the very number the stale block names and waits on itself until
    // timeout_exception (as real Elasticsearch would); the run must see the block as stale
    // and ask once more, and that second request is the one that does the work.
    ctl.set_reset_duration(Some("busy-job"), Duration::from_millis(100));
    ctl.restart_node(false);
    let s = w.completed("reset-busy").await;
    assert_eq!(s.reset_requests, 2, "{s:#?}");
    assert_eq!(w.accepted_resets("busy-job"), 2);
    assert_eq!(
        ctl.resets_started("busy-job"),
        2,
        "the internal reset and ours"
    );
    w.assert_job_reset("busy-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restart_failing_the_reset_task_is_recovered() {
    // The node restarts under a running reset and the task stores a node_closed_exception:
    // the reset did not happen and the job stays blocked on reset. On 8.13+ a new reset clears
    // it; the run should get there rather than give up on an infrastructure fault.
    let w = World::new("fault-node-closed", version("8.15.0")).await;
    let ctl = w.ctl();
    w.job_with_data("nc-job", "closed");
    ctl.set_reset_duration(Some("nc-job"), Duration::from_secs(3600));
    w.create("reset-nc", json!({"jobId": "nc-job"})).await;
    w.wait("reset-nc", "a task id", |s| s.task_id.is_some())
        .await;
    ctl.set_reset_duration(Some("nc-job"), Duration::from_millis(100));
    ctl.restart_node(false);

    let s = w.completed("reset-nc").await;
    assert_eq!(s.reset_requests, 2, "{s:#?}");
    assert_eq!(w.accepted_resets("nc-job"), 2);
    w.assert_job_reset("nc-job");
}
