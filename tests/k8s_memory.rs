//! What the operator keeps per JobReset (its background long-poll, its Elasticsearch client
//! with credentials) is keyed by the object's uid and dropped when the object is deleted,
//! not when a long-poll happens to end; a JobReset re-created under the same name is a run
//! of its own. Does I/O: the test bed, a simulator, the operator process.

mod common;

use std::time::Duration;

use common::{DEADLINE, Operator, World, free_addr, try_http_get};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::Phase;
use kube::api::DeleteParams;
use serde_json::json;

/// Waits until `/metrics` shows `line`.
async fn wait_metric(addr: std::net::SocketAddr, line: &str) {
    let found = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok((_, body)) = try_http_get(addr, "/metrics").await
                && body.lines().any(|l| l == line)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "/metrics never showed {line:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_jobreset_leaves_nothing_behind_and_its_namesake_starts_afresh() {
    let w = World::bare("memory", SimConfig::default()).await;
    w.job_with_data("held-job", "closed");
    // The reset runs for a long time; the long-poll would hold its slot for a minute.
    w.ctl()
        .set_reset_duration(Some("held-job"), Duration::from_secs(3600));
    let addr = free_addr();
    let metrics = addr.to_string();
    let mut op = Operator::spawn_with(
        w.bed,
        &w.ns,
        "op",
        &["--metrics-addr", &metrics, "--task-poll-timeout", "60s"],
    )
    .await;
    w.create("held", json!({"jobId": "held-job"})).await;
    w.wait("held", "the task followed", |s| s.task_id.is_some())
        .await;
    wait_metric(addr, "jobreset_task_follows 1").await;

    w.api
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete the JobReset");
    wait_metric(addr, "jobreset_task_follows 0").await;

    // Same name, new object: it must not inherit the old run's follow or client.
    w.ctl().set_reset_duration(Some("held-job"), Duration::ZERO);
    w.ctl().finish_reset("held-job");
    w.create("held", json!({"jobId": "held-job"})).await;
    let s = w.completed("held").await;
    assert_eq!(s.phase, Phase::Completed);
    assert_eq!(s.reset_requests, 1, "{s:#?}");
    op.kill().await;
}

/// Deleted while its reset request is out: the reset's answer and its task's long-poll come
/// after the delete was seen, and are dropped once the long-poll answers, not kept for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobreset_deleted_while_its_reset_request_is_out_leaves_nothing_behind() {
    let w = World::bare("memory-late", SimConfig::default()).await;
    w.job_with_data("late-job", "closed");
    let ctl = w.ctl();
    ctl.set_reset_duration(Some("late-job"), Duration::from_secs(3));
    ctl.set_latency(Endpoint::JobReset, Duration::from_secs(2));
    let addr = free_addr();
    let metrics = addr.to_string();
    let mut op = Operator::spawn_with(w.bed, &w.ns, "op", &["--metrics-addr", &metrics]).await;
    w.create("late", json!({"jobId": "late-job"})).await;
    let out = ctl
        .wait_for(|c| c.count(Endpoint::JobReset) > 0, DEADLINE)
        .await;
    assert!(out, "the reset request reached Elasticsearch");
    w.api
        .delete("late", &DeleteParams::default())
        .await
        .expect("delete the JobReset");
    // The answer came after the delete: its task is followed until it ends...
    wait_metric(addr, "jobreset_task_follows 1").await;
    // ...and nothing is kept once it has.
    wait_metric(addr, "jobreset_task_follows 0").await;
    op.kill().await;
}
