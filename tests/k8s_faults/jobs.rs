//! The job under the reset: deleted mid-reset, a slow close, a datafeed that cannot be stopped,
//! jobs blocked by delete or revert.

use super::*;

/// A raw HTTP/1.1 request to the (plain http) simulator, as another Elasticsearch user would
/// make it; returns the status line.
async fn raw_request(w: &World, method: &str, path_and_query: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(w.sim.addr())
        .await
        .expect("connect");
    let req = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("read");
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_deleted_during_the_reset_is_reported_cancelled() {
    let w = World::new("fault-deleted", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("doomed-job", "closed");
    ctl.set_reset_duration(Some("doomed-job"), Duration::from_secs(3600));
    w.create("reset-doomed", json!({"jobId": "doomed-job"}))
        .await;
    w.wait("reset-doomed", "a task id", |s| s.task_id.is_some())
        .await;

    // Someone deletes the job: the delete cancels the running reset.
    let status = raw_request(&w, "DELETE", "/_ml/anomaly_detectors/doomed-job?force=true").await;
    assert!(status.contains(" 200 "), "{status}");

    let s = w.failed("reset-doomed", "Cancelled").await;
    assert!(s.message.unwrap_or_default().contains("cancelled"));
    assert_eq!(w.accepted_resets("doomed-job"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_past_its_timeout_is_retried() {
    let w = World::new("fault-slow-close", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("slow-close", "opened");
    // Closing takes longer than the close timeout: ES answers 500 while the job keeps closing.
    ctl.set_close_duration(Duration::from_secs(3));
    w.create(
        "reset-slow-close",
        json!({"jobId": "slow-close", "closeJob": {"timeout": "1s"}}),
    )
    .await;

    let s = w.completed("reset-slow-close").await;
    assert!(s.attempts >= 1, "{s:#?}");
    let closes: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobClose)
        .collect();
    assert!(closes.iter().any(|r| r.status == 500), "{closes:?}");
    assert!(
        closes
            .iter()
            .all(|r| r.query.contains("force=false") && r.query.contains("timeout=1s")),
        "{closes:?}"
    );
    assert_eq!(w.accepted_resets("slow-close"), 1);
    w.assert_job_reset("slow-close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datafeed_that_cannot_be_stopped_is_not_force_closed() {
    // A 409 from a datafeed that would not stop is not the "job failed, use force" 409: the
    // operator must not escalate to a force close it was not asked for.
    let w = World::new("fault-datafeed", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_running_datafeed("stuck-feed").await;
    ctl.set_datafeed_unstoppable("datafeed-stuck-feed", true);
    w.create("reset-stuck-feed", json!({"jobId": "stuck-feed"}))
        .await;

    let s = w.failed("reset-stuck-feed", "CloseFailed").await;
    assert!(s.message.unwrap_or_default().contains("datafeed"));
    let closes: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobClose)
        .collect();
    assert!(
        closes.iter().all(|r| r.query.contains("force=false")),
        "{closes:?}"
    );
    assert_eq!(ctl.count(Endpoint::JobReset), 0);
    assert_eq!(ctl.job("stuck-feed").unwrap().state, "opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_blocked_by_delete_or_revert_is_left_alone() {
    let w = World::new("fault-blocked", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("del-job", "closed");
    w.job_with_data("rev-job", "closed");
    ctl.set_blocked("del-job", Some("delete"), Some("node:1"));
    ctl.set_blocked("rev-job", Some("revert"), None);
    w.create("reset-del", json!({"jobId": "del-job"})).await;
    w.create("reset-rev", json!({"jobId": "rev-job"})).await;
    w.failed("reset-del", "JobBeingDeleted").await;
    w.failed("reset-rev", "JobBeingReverted").await;
    assert_eq!(ctl.count(Endpoint::JobReset), 0);
}
