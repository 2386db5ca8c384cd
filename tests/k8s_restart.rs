//! The operator process dies mid-run and is restarted: at each of the five crash points
//! (`JOBRESET_CRASH_AT`, an abort like SIGKILL) and by SIGKILL while the reset runs. The
//! operator runs as its binary (`jobreset-operator run`) against the shared test bed; after the
//! restart every JobReset must still end Completed and the simulator's log must show exactly
//! one accepted reset per JobReset. The crash points exist only with the `crash-points`
//! feature (`make test` enables it). Does I/O (processes, Kubernetes, loopback HTTP).

mod common;

use std::time::Duration;

use common::{DEADLINE, Operator, World};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::Phase;
use serde_json::json;

/// Crash at `point` during a run on a job with data, restart, and check the run completes with
/// one reset.
async fn crash_and_recover(point: &str, sim: SimConfig) {
    let w = World::bare(&format!("crash-{point}"), sim).await;
    w.job_with_running_datafeed("crash-job").await;
    w.create("reset-crash", json!({"jobId": "crash-job"})).await;

    let mut first = Operator::spawn(w.bed, &w.ns, Some(point), "first").await;
    let status = first.exited().await;
    assert!(
        !status.success(),
        "the operator should have aborted at {point}; log:\n{}",
        first.log_text()
    );
    assert!(
        first.log_text().contains(point),
        "the operator did not stop at {point} but: {status}; log:\n{}",
        first.log_text()
    );
    let before = w
        .api
        .get("reset-crash")
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    // What the first process left behind says where it died.
    let accepted = w.accepted_resets("crash-job");
    let left_behind = match point {
        "after-close" => {
            before.phase == Phase::Closing && before.task_id.is_none() && accepted == 0
        }
        "after-reset-post" => {
            before.phase == Phase::Resetting && before.task_id.is_none() && accepted == 1
        }
        _ => before.phase == Phase::Resetting && before.task_id.is_some() && accepted == 1,
    };
    assert!(
        left_behind,
        "unexpected state after a crash at {point}: {accepted} resets, {before:#?}"
    );
    assert!(
        !before.phase.is_terminal(),
        "the crash happened before the end: {before:#?}"
    );

    let mut second = Operator::spawn(w.bed, &w.ns, None, "second").await;
    let s = w.completed("reset-crash").await;
    second.kill().await;

    assert_eq!(
        w.accepted_resets("crash-job"),
        1,
        "exactly one reset after a crash at {point}: {s:#?}"
    );
    assert_eq!(w.ctl().resets_started("crash-job"), 1);
    assert_eq!(s.reset_requests, 1, "{s:#?}");
    assert!(
        !s.adopted,
        "the run's own reset is never taken for someone else's: {s:#?}"
    );
    assert_eq!(s.job_state_before.as_deref(), Some("opened"));
    w.assert_job_reset("crash-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn crash_after_close() {
    crash_and_recover("after-close", SimConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn crash_after_reset_post() {
    crash_and_recover("after-reset-post", SimConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn crash_after_reset_post_while_the_reset_still_runs() {
    // The restarted operator finds the task of the request whose answer it lost by the
    // request's X-Opaque-Id, and follows it as its own instead of starting another (or taking
    // the job's block for someone else's reset).
    let sim = SimConfig {
        reset_duration: Duration::from_secs(4),
        ..Default::default()
    };
    crash_and_recover("after-reset-post", sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn crash_after_task_id_written() {
    crash_and_recover("after-task-id-written", SimConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn crash_mid_follow() {
    crash_and_recover("mid-follow", SimConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn crash_after_completion_before_status() {
    crash_and_recover("after-completion-before-status", SimConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_the_reset_runs() {
    let w = World::bare("crash-sigkill", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("kill-job", "opened");
    // Running until the restarted operator follows it (finished on demand below).
    ctl.set_reset_duration(Some("kill-job"), Duration::from_secs(3600));
    w.create("reset-kill", json!({"jobId": "kill-job"})).await;

    let mut first = Operator::spawn(w.bed, &w.ns, None, "first").await;
    let s = w
        .wait("reset-kill", "a task id", |s| s.task_id.is_some())
        .await;
    first.kill().await;
    assert_eq!(s.phase, Phase::Resetting, "{s:#?}");
    let task = s.task_id.clone();

    let polls = ctl.count(Endpoint::TaskGet);
    let mut second = Operator::spawn(w.bed, &w.ns, None, "second").await;
    assert!(
        ctl.wait_for(|c| c.count(Endpoint::TaskGet) > polls, DEADLINE)
            .await,
        "the restarted operator did not poll the task"
    );
    ctl.finish_reset("kill-job");
    let s = w.completed("reset-kill").await;
    second.kill().await;
    assert_eq!(
        s.task_id, task,
        "the restarted operator followed the recorded task"
    );
    assert_eq!(w.accepted_resets("kill-job"), 1);
    assert_eq!(s.reset_requests, 1);
    w.assert_job_reset("kill-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_jobresets_survive_a_kill() {
    let w = World::bare("crash-many", SimConfig::default()).await;
    let ctl = w.ctl();
    let jobs: Vec<String> = (0..4).map(|i| format!("many-{i}")).collect();
    for j in &jobs {
        w.job_with_data(j, "closed");
        ctl.set_reset_duration(Some(j), Duration::from_secs(3));
        w.create(&format!("reset-{j}"), json!({"jobId": j})).await;
    }
    let mut first = Operator::spawn(w.bed, &w.ns, None, "first").await;
    w.wait("reset-many-0", "a task id", |s| s.task_id.is_some())
        .await;
    first.kill().await;

    let mut second = Operator::spawn(w.bed, &w.ns, None, "second").await;
    for j in &jobs {
        w.completed(&format!("reset-{j}")).await;
        assert_eq!(w.accepted_resets(j), 1, "{j}");
        w.assert_job_reset(j);
    }
    second.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn crash_after_reset_post_on_a_job_without_data() {
    // Nothing for the reset to clear, so the job's data cannot tell whether the lost reset ran,
    // and the reset ends at once: by the restart the job shows no block either. The job is as
    // a reset leaves it: the run completes without a second reset, and says one was sent.
    let sim = SimConfig {
        reset_duration: Duration::ZERO,
        ..Default::default()
    };
    let w = World::bare("crash-empty", sim).await;
    w.ctl().put_job("empty-job", common::job_body()).unwrap();
    w.create("reset-empty", json!({"jobId": "empty-job"})).await;
    let mut first = Operator::spawn(w.bed, &w.ns, Some("after-reset-post"), "first").await;
    first.exited().await;
    let mut second = Operator::spawn(w.bed, &w.ns, None, "second").await;
    let s = w.completed("reset-empty").await;
    second.kill().await;
    assert_eq!(
        s.job_fingerprint.as_ref().map(|f| f.is_empty()),
        Some(true),
        "{s:#?}"
    );
    assert_eq!(s.reset_requests, 1, "never a second reset: {s:#?}");
    assert_eq!(w.accepted_resets("empty-job"), 1, "{s:#?}");
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("one reset request was sent")),
        "{s:#?}"
    );
    w.assert_job_reset("empty-job");
}
