//! Leader election with real operator processes: of two replicas only the Lease holder acts;
//! when it is killed (SIGKILL, no hand-over) the other takes the Lease once it expires and
//! carries on, and every JobReset is still reset exactly once. Does I/O: the test bed, a
//! simulator, two operator processes.

mod common;

use common::{Operator, World, lease_holder, wait_lease};
use es_ml_sim::SimConfig;
use serde_json::json;

const LEASE: &str = "jobreset-operator";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_acts_and_the_other_takes_over() {
    let w = World::bare("leader", SimConfig::default()).await;
    w.job_with_data("first-job", "opened");
    w.job_with_data("second-job", "opened");
    let args = [
        "--leader-elect",
        "--leader-election-namespace",
        &w.ns,
        "--lease-duration",
        "5s",
        "--renew-deadline",
        "3s",
        "--retry-period",
        "300ms",
    ];
    let mut a = Operator::spawn_with(w.bed, &w.ns, "a", &args).await;
    let leader_a = format!("{}-a", w.ns);
    wait_lease(&w, LEASE, "held by a", |l| {
        l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(leader_a.as_str())
    })
    .await;
    let mut b = Operator::spawn_with(w.bed, &w.ns, "b", &args).await;

    w.create("reset-first", json!({"jobId": "first-job"})).await;
    w.completed("reset-first").await;
    assert_eq!(lease_holder(&w, LEASE).await, Some(leader_a.clone()));
    assert!(
        !b.log_text().contains("acquired leadership"),
        "b must not lead while a renews:\n{}",
        b.log_text()
    );

    a.kill().await;
    let leader_b = format!("{}-b", w.ns);
    let lease = wait_lease(&w, LEASE, "taken over by b", |l| {
        l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(leader_b.as_str())
    })
    .await;
    assert!(
        lease.spec.and_then(|s| s.lease_transitions).unwrap_or(0) >= 1,
        "a take-over counts as a transition"
    );
    w.create("reset-second", json!({"jobId": "second-job"}))
        .await;
    w.completed("reset-second").await;
    b.kill().await;

    assert_eq!(w.accepted_resets("first-job"), 1);
    assert_eq!(w.accepted_resets("second-job"), 1);
    w.assert_job_reset("first-job");
    w.assert_job_reset("second-job");
}

/// Starts replica "a" with an hour-long Lease and waits until it holds it; returns the
/// replica's arguments for a second one, the replica and its identity.
async fn first_leader(w: &World) -> (Vec<String>, Operator, String) {
    let args: Vec<String> = [
        "--leader-elect",
        "--leader-election-namespace",
        &w.ns,
        "--lease-duration",
        "1h",
    ]
    .map(String::from)
    .into();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = Operator::spawn_with(w.bed, &w.ns, "a", &refs).await;
    let leader_a = format!("{}-a", w.ns);
    wait_lease(w, LEASE, "held by a", |l| {
        l.spec.as_ref().and_then(|s| s.holder_identity.as_deref()) == Some(leader_a.as_str())
    })
    .await;
    (args, a, leader_a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_gives_the_lease_up() {
    // A rolling update stops the leader with SIGTERM: it releases the Lease so the next
    // replica need not wait for it to expire.
    let w = World::bare("leader-stop", SimConfig::default()).await;
    let (_, mut a, _) = first_leader(&w).await;

    let status = a.terminate().await;
    assert!(
        status.success(),
        "graceful stop exits 0: {status:?}\n{}",
        a.log_text()
    );
    assert_eq!(lease_holder(&w, LEASE).await, None, "{}", a.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_waiting_replica_leaves_the_leaders_lease_alone() {
    // The stop may cut off a Lease write of its own, so a stopping replica releases the
    // Lease if it turns out to hold it; it must not touch one that another replica holds.
    let w = World::bare("leader-wait", SimConfig::default()).await;
    let (args, mut a, leader_a) = first_leader(&w).await;
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut b = Operator::spawn_with(w.bed, &w.ns, "b", &refs).await;
    b.wait_log("waiting for leadership").await;

    let status = b.terminate().await;
    assert!(status.success(), "{status:?}\n{}", b.log_text());
    assert_eq!(lease_holder(&w, LEASE).await, Some(leader_a));
    a.kill().await;
}
