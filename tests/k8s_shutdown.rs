//! Two replicas as deployed, seen from their probes and their stop: a standby answers
//! `/healthz` and `/readyz` from start and reports `leader_election_master_status 0`; a
//! leader stopped with SIGTERM starts no new reset, lets a reset request in flight reach its
//! task id write, then releases the Lease. Does I/O: the test bed, a simulator, operator
//! processes.

mod common;

use std::time::Duration;

use common::{Operator, World, free_addr, lease_holder, wait_http_ok, wait_lease};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::Phase;
use serde_json::json;

const LEASE: &str = "jobreset-operator";

fn replica_args(w: &World, metrics: std::net::SocketAddr) -> Vec<String> {
    [
        "--leader-elect",
        "--leader-election-namespace",
        &w.ns,
        "--metrics-addr",
        &metrics.to_string(),
    ]
    .map(String::from)
    .into()
}

async fn replica(w: &World, tag: &str, metrics: std::net::SocketAddr) -> Operator {
    let args = replica_args(w, metrics);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Operator::spawn_with(w.bed, &w.ns, tag, &refs).await
}

async fn held_by(w: &World, tag: &str) {
    let me = format!("{}-{tag}", w.ns);
    wait_lease(w, LEASE, "held", |l| {
        l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(me.as_str())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_answers_its_probes_as_a_standby() {
    let w = World::bare("probe-standby", SimConfig::default()).await;
    let (ma, mb) = (free_addr(), free_addr());
    let mut a = replica(&w, "a", ma).await;
    held_by(&w, "a").await;
    let mut b = replica(&w, "b", mb).await;
    b.wait_log("waiting for leadership").await;

    wait_http_ok(mb, "/healthz").await;
    let ready = wait_http_ok(mb, "/readyz").await;
    assert!(ready.contains("standby"), "{ready}");
    let metrics = wait_http_ok(mb, "/metrics").await;
    assert!(
        metrics.contains("leader_election_master_status{name=\"jobreset-operator\"} 0"),
        "{metrics}"
    );
    let metrics = wait_http_ok(ma, "/metrics").await;
    assert!(
        metrics.contains("leader_election_master_status{name=\"jobreset-operator\"} 1"),
        "{metrics}"
    );
    let ready = wait_http_ok(ma, "/readyz").await;
    assert_eq!(ready, "ready");
    a.kill().await;
    b.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_a_reset_request_in_flight_record_its_task_id() {
    let w = World::bare("stop-inflight", SimConfig::default()).await;
    w.job_with_data("slow-post", "closed");
    // The reset request takes 5 s to answer: the stop comes while it is in flight.
    w.ctl()
        .set_latency(Endpoint::JobReset, Duration::from_secs(5));
    let mut a = replica(&w, "a", free_addr()).await;
    held_by(&w, "a").await;
    w.create("in-flight", json!({"jobId": "slow-post"})).await;
    w.wait("in-flight", "the reset intent", |s| {
        s.reason.as_deref() == Some("ResetRequested")
    })
    .await;

    let exit = a.terminate().await;
    assert!(exit.success(), "{exit:?}\n{}", a.log_text());
    let s = w
        .api
        .get("in-flight")
        .await
        .expect("JobReset")
        .status
        .unwrap_or_default();
    assert!(
        s.task_id.is_some(),
        "the task id must be written before the stop: {s:#?}\n{}",
        a.log_text()
    );
    assert_eq!(
        lease_holder(&w, LEASE).await,
        None,
        "released after the write"
    );
    assert_eq!(w.accepted_resets("slow-post"), 1);

    // The next leader follows the recorded task instead of resetting again.
    w.ctl().set_latency(Endpoint::JobReset, Duration::ZERO);
    let mut b = replica(&w, "b", free_addr()).await;
    let done = w.completed("in-flight").await;
    assert_eq!(
        (done.reset_requests, w.accepted_resets("slow-post")),
        (1, 1)
    );
    b.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_leader_starts_no_new_reset() {
    let w = World::bare("stop-nonew", SimConfig::default()).await;
    w.job_with_data("slow-close", "opened");
    // The close takes 3 s: the stop comes before the reset would be requested.
    w.ctl().set_close_duration(Duration::from_secs(3));
    let mut a = replica(&w, "a", free_addr()).await;
    held_by(&w, "a").await;
    w.create("closing", json!({"jobId": "slow-close"})).await;
    w.wait("closing", "Closing", |s| s.phase == Phase::Closing)
        .await;

    let exit = a.terminate().await;
    assert!(exit.success(), "{exit:?}\n{}", a.log_text());
    let s = w
        .api
        .get("closing")
        .await
        .expect("JobReset")
        .status
        .unwrap_or_default();
    assert_eq!(
        (s.reset_requests, w.accepted_resets("slow-close")),
        (0, 0),
        "no reset after the stop: {s:#?}\n{}",
        a.log_text()
    );

    let mut b = replica(&w, "b", free_addr()).await;
    let done = w.completed("closing").await;
    assert_eq!(
        (done.reset_requests, w.accepted_resets("slow-close")),
        (1, 1)
    );
    b.kill().await;
}
