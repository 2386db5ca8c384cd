//! What one ordinary reset costs, counted from the simulator's and the test bed front's
//! request records: the Elasticsearch calls by endpoint and the status writes and Events in
//! the JobReset's namespace. A closed job is not closed again, each ledger write is read
//! back from its own answer, a Pending run's reads go out with its first write, and the
//! echoes of the operator's own status writes wake no reconcile. Counts,
//! never timings. Does I/O (Kubernetes, loopback HTTP).

mod common;

use common::World;
use es_ml_sim::{Endpoint, SimConfig};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_job_costs_seven_requests_four_status_writes_two_events_and_two_reads() {
    let w = World::new("cost", SimConfig::default()).await;
    w.job_with_data("cost-job", "closed");
    w.create("reset-cost", json!({"jobId": "cost-job"})).await;
    let s = w.completed("reset-cost").await;
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"), "{s:#?}");
    w.wait_event("reset-cost", "Completed").await;

    let ctl = w.ctl();
    let on_the_job = |e: Endpoint| {
        ctl.requests()
            .iter()
            .filter(|r| r.endpoint == e && r.path.contains("cost-job"))
            .count()
    };
    let calls = [
        ("job_get", on_the_job(Endpoint::JobGet)),
        ("job_stats", on_the_job(Endpoint::JobStats)),
        ("job_close", on_the_job(Endpoint::JobClose)),
        ("job_update", on_the_job(Endpoint::JobUpdate)),
        ("job_reset", on_the_job(Endpoint::JobReset)),
    ];
    // The first read and the one confirming the reset (the configuration only); the
    // `started` entry and the outcome.
    assert_eq!(
        calls,
        [
            ("job_get", 2),
            ("job_stats", 1),
            ("job_close", 0),
            ("job_update", 2),
            ("job_reset", 1)
        ]
    );
    assert_eq!(ctl.count(Endpoint::TaskGet), 1, "one long-poll");

    let writes: Vec<String> = w
        .bed
        .requests()
        .into_iter()
        .filter(|r| r.namespace.as_deref() == Some(w.ns.as_str()))
        .filter(|r| matches!(r.verb.as_str(), "create" | "update" | "patch"))
        .map(|r| {
            format!(
                "{} {}{}",
                r.verb,
                r.resource,
                r.subresource.map(|s| format!("/{s}")).unwrap_or_default()
            )
        })
        .filter(|w| w != "create jobresets")
        .collect();
    let count = |what: &str| writes.iter().filter(|w| w.as_str() == what).count();
    // The intent, the task id, the outcome about to be recorded, Completed.
    assert_eq!(count("patch jobresets/status"), 4, "{writes:?}");
    // ResetStarted, Completed (the first write is already the intent).
    assert_eq!(count("create events"), 2, "{writes:?}");

    // Each reconcile reads the JobReset fresh: one for its creation, one for the answer of
    // the task long-poll. The echoes of the operator's own status writes wake none.
    let reads = w
        .bed
        .requests()
        .into_iter()
        .filter(|r| r.namespace.as_deref() == Some(w.ns.as_str()))
        .filter(|r| r.verb == "get" && r.resource == "jobresets")
        .filter(|r| r.name.as_deref() == Some("reset-cost"))
        .count();
    assert_eq!(reads, 2, "fresh reads of the JobReset");
}

/// A run's reconciles read its credentials Secret once, not once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_secret_is_read_once() {
    let w = World::new("cost-secret", SimConfig::default()).await;
    w.job_with_data("creds-job", "closed");
    w.secret("creds", &[("username", b"u"), ("password", b"p")])
        .await;
    w.create(
        "reset-creds",
        json!({"jobId": "creds-job", "elasticsearch": {"credentialsSecret": {"name": "creds"}}}),
    )
    .await;
    w.completed("reset-creds").await;
    let reads = |what: &str, name: &str| {
        w.bed
            .requests()
            .into_iter()
            .filter(|r| r.namespace.as_deref() == Some(w.ns.as_str()))
            .filter(|r| r.verb == "get" && r.resource == what)
            .filter(|r| r.name.as_deref() == Some(name))
            .count()
    };
    // Its ADDED event may reach the controller after the run started, and wake a reconcile
    // of its own; it reports the version already read, so nothing is read again.
    assert!(
        reads("jobresets", "reset-creds") >= 2,
        "two reconciles at least"
    );
    assert_eq!(reads("secrets", "creds"), 1, "the Secret read once");
}
