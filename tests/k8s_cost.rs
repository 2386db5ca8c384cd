//! What one ordinary reset costs, counted from the simulator's and the test bed front's
//! request records: the Elasticsearch calls by endpoint and the status writes and Events in
//! the JobReset's namespace. A closed job is not closed again, each ledger write is read
//! back from its own answer, a Pending run's reads go out with its first write, a run goes
//! on from its own last status write without reading it back, and the echoes of the
//! operator's own status writes wake no reconcile. Counts,
//! never timings. Does I/O (Kubernetes, loopback HTTP).

mod common;

use common::World;
use es_ml_sim::{Endpoint, SimConfig};
use serde_json::json;

/// GETs of one object of `resource` in the world's namespace, from the front's records.
fn reads_of(w: &World, resource: &str, name: &str) -> usize {
    w.bed
        .requests()
        .into_iter()
        .filter(|r| r.namespace.as_deref() == Some(w.ns.as_str()))
        .filter(|r| r.verb == "get" && r.resource == resource)
        .filter(|r| r.name.as_deref() == Some(name))
        .count()
}

/// The status writes and Events in the world's namespace (the JobReset's creation left
/// out), from the front's records.
fn writes_in(w: &World) -> Vec<String> {
    w.bed
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
        .collect()
}

/// The Elasticsearch calls about `job` and every task read, sorted (reads made side by side
/// come in either order).
fn es_calls(w: &World, job: &str) -> Vec<String> {
    let mut calls: Vec<String> = w
        .ctl()
        .requests()
        .iter()
        .filter(|r| r.endpoint != Endpoint::Control)
        .filter(|r| r.path.contains(job) || r.endpoint == Endpoint::TaskGet)
        .map(|r| format!("{:?}", r.endpoint))
        .collect();
    calls.sort();
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_job_costs_seven_requests_three_status_writes_one_event_and_one_read() {
    let w = World::new("cost", SimConfig::default()).await;
    w.job_with_data("cost-job", "closed");
    // The reset runs until the reconcile that started it has written the task id (its last
    // step), so another reconcile records its end.
    w.ctl()
        .set_reset_duration(Some("cost-job"), std::time::Duration::from_secs(3600));
    w.create("reset-cost", json!({"jobId": "cost-job"})).await;
    w.wait("reset-cost", "the task id", |s| s.task_id.is_some())
        .await;
    w.ctl().finish_reset("cost-job");
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

    let writes = writes_in(&w);
    let count = |what: &str| writes.iter().filter(|w| w.as_str() == what).count();
    // The intent, the task id, Completed (the success's entry on the job is written with no
    // status write announcing it).
    assert_eq!(count("patch jobresets/status"), 3, "{writes:?}");
    // Completed alone: it names the task; the first write is already the intent, and the
    // reset ended before the first long-poll did.
    assert_eq!(count("create events"), 1, "{writes:?}");

    // The reconcile for its creation reads the JobReset fresh; the one for the long-poll's
    // answer goes on from the object as the task id's write left it (the cache holds that
    // write). The echoes of the operator's own status writes wake none.
    let reads = reads_of(&w, "jobresets", "reset-cost");
    assert_eq!(reads, 1, "fresh reads of the JobReset");
}

/// Without the ledger a closed job costs four requests: the first read (configuration and
/// stats), the reset and one long-poll. The task's acknowledgement is the evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_job_without_the_ledger_costs_four_requests() {
    let w = World::new("cost-noledger", SimConfig::default()).await;
    w.job_with_data("bare-job", "closed");
    w.create(
        "reset-bare",
        json!({"jobId": "bare-job", "ledger": "Disabled"}),
    )
    .await;
    w.completed("reset-bare").await;
    w.assert_job_reset("bare-job");
    let calls = es_calls(&w, "bare-job");
    // The configuration and the stats are read side by side.
    assert_eq!(
        calls,
        ["JobGet", "JobReset", "JobStats", "TaskGet"],
        "{calls:?}"
    );
}

/// A reset right after another on the same cluster asks it nothing the first one learned:
/// the version and the privilege check are kept with the connection a while after the run
/// that made them ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_after_another_asks_the_cluster_nothing_again() {
    let w = World::new("cost-again", SimConfig::default()).await;
    w.job_with_data("first-job", "closed");
    w.job_with_data("next-job", "closed");
    w.create("reset-first", json!({"jobId": "first-job"})).await;
    w.completed("reset-first").await;
    let ctl = w.ctl();
    let asked =
        || [Endpoint::MlInfo, Endpoint::HasPrivileges, Endpoint::Other].map(|e| ctl.count(e));
    let after_first = asked();
    assert_eq!(after_first[0], 1, "the version asked once");
    w.create("reset-next", json!({"jobId": "next-job"})).await;
    w.completed("reset-next").await;
    w.assert_job_reset("next-job");
    assert_eq!(asked(), after_first, "nothing asked again");
}

/// A run's reconciles read its credentials Secret once, not once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_secret_is_read_once() {
    let w = World::new("cost-secret", SimConfig::default()).await;
    w.job_with_data("creds-job", "closed");
    w.secret("creds", &[("username", b"u"), ("password", b"p")])
        .await;
    // Two reconciles at least: the reset runs on after the one that started it has ended
    // (its last step, the task id's write, is done), and its end is recorded by another.
    w.ctl()
        .set_reset_duration(Some("creds-job"), std::time::Duration::from_secs(3600));
    w.create(
        "reset-creds",
        json!({"jobId": "creds-job", "elasticsearch": {"credentialsSecret": {"name": "creds"}}}),
    )
    .await;
    w.wait("reset-creds", "the task id", |s| s.task_id.is_some())
        .await;
    w.ctl().finish_reset("creds-job");
    w.completed("reset-creds").await;
    // Its ADDED event may reach the controller after the run started, and wake a reconcile
    // of its own; it reports the version already read, so nothing is read again.
    assert_eq!(reads_of(&w, "secrets", "creds"), 1, "the Secret read once");
}

/// Someone else changes the JobReset while its reset runs: the run no longer goes on from
/// its own last write. Whether the change reached the operator's cache first (the run reads
/// the object) or not (its next status write, conditional on its own version, fails with 409
/// and the retry reads the object), the end is recorded from a read, and once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_changed_by_someone_else_meanwhile_is_read_again() {
    let w = World::new("cost-moved", SimConfig::default()).await;
    w.job_with_data("moved-job", "closed");
    w.ctl()
        .set_reset_duration(Some("moved-job"), std::time::Duration::from_secs(3600));
    w.create("reset-moved", json!({"jobId": "moved-job"})).await;
    w.wait("reset-moved", "the task id", |s| s.task_id.is_some())
        .await;
    let label = json!({"metadata": {"labels": {"team": "search"}}});
    w.api
        .patch(
            "reset-moved",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&label),
        )
        .await
        .expect("label the JobReset");
    w.ctl().finish_reset("moved-job");
    let s = w.completed("reset-moved").await;
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"), "{s:#?}");
    w.assert_job_reset("moved-job");
    assert_eq!(w.accepted_resets("moved-job"), 1, "one reset");
    let events = w.wait_event("reset-moved", "Completed").await;
    let completed: Vec<_> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Completed"))
        .collect();
    assert_eq!(completed.len(), 1, "recorded once: {completed:?}");
    assert!(
        completed[0].series.is_none(),
        "recorded once: {completed:?}"
    );
    let reads = reads_of(&w, "jobresets", "reset-moved");
    assert_eq!(reads, 2, "the creation's read and the one after the change");
}

/// A retry after a fault reads the JobReset again: it may act on the job with its status
/// unchanged, and the object may be gone meanwhile. Only the finishing lane goes on from the
/// operator's own last write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_fault_reads_the_jobreset_again() {
    let w = World::new("cost-retry", SimConfig::default()).await;
    w.job_with_data("retry-job", "closed");
    w.ctl().fail_next(
        Endpoint::JobReset,
        1,
        503,
        json!({"error": {"type": "unavailable_shards_exception", "reason": "try again"}, "status": 503}),
    );
    w.create("reset-retry", json!({"jobId": "retry-job"})).await;
    w.completed("reset-retry").await;
    assert_eq!(w.accepted_resets("retry-job"), 1, "one reset");
    let reads = reads_of(&w, "jobresets", "reset-retry");
    assert_eq!(reads, 2, "the creation's read and the retry's");
}

/// A reset outlasting the first long-poll is told once more while it runs: the status says
/// the task is running, and so does one Event. A quick one (above) is told by its outcome's
/// Event alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_outlasting_the_first_long_poll_is_told_by_one_more_event() {
    let w = World::new("cost-long", SimConfig::default()).await;
    w.job_with_data("long-job", "closed");
    w.ctl()
        .set_reset_duration(Some("long-job"), std::time::Duration::from_secs(3600));
    w.create("reset-long", json!({"jobId": "long-job"})).await;
    let running = w.wait_event("reset-long", "ResetRunning").await;
    let s = w.api.get("reset-long").await.expect("reset-long").status;
    let note = running
        .iter()
        .find(|e| e.reason.as_deref() == Some("ResetRunning"))
        .and_then(|e| e.note.clone());
    assert_eq!(note, s.and_then(|s| s.message), "{running:?}");
    w.ctl().finish_reset("long-job");
    w.completed("reset-long").await;
    let events = w.wait_event("reset-long", "Completed").await;
    let mut reasons: Vec<String> = events.iter().filter_map(|e| e.reason.clone()).collect();
    reasons.sort();
    assert_eq!(reasons, ["Completed", "ResetRunning"], "{events:?}");
}

/// An opened job adds its close, the read confirming it and one status write (`Closing`,
/// which records the state it was in), but no Event: the outcome's Event says the job was
/// closed first, and the `started` entry booked after the close goes out with the intent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opened_job_adds_its_close_a_read_and_one_status_write_but_no_event() {
    let w = World::new("cost-opened", SimConfig::default()).await;
    w.job_with_data("opened-job", "opened");
    w.ctl()
        .set_reset_duration(Some("opened-job"), std::time::Duration::from_secs(3600));
    w.create("reset-opened", json!({"jobId": "opened-job"}))
        .await;
    w.wait("reset-opened", "the task id", |s| s.task_id.is_some())
        .await;
    w.ctl().finish_reset("opened-job");
    let s = w.completed("reset-opened").await;
    assert_eq!(s.job_state_before.as_deref(), Some("opened"), "{s:#?}");
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"), "{s:#?}");
    let events = w.wait_event("reset-opened", "Completed").await;

    let calls = es_calls(&w, "opened-job");
    // Two more than a closed job: the close and the read confirming it (configuration
    // and stats side by side).
    assert_eq!(
        calls,
        [
            "JobClose",
            "JobGet",
            "JobGet",
            "JobGet",
            "JobReset",
            "JobStats",
            "JobStats",
            "JobUpdate",
            "JobUpdate",
            "TaskGet"
        ],
        "{calls:?}"
    );

    let writes = writes_in(&w);
    let count = |what: &str| writes.iter().filter(|w| w.as_str() == what).count();
    // Closing, the intent (with the `started` entry), the task id, Completed.
    assert_eq!(count("patch jobresets/status"), 4, "{writes:?}");
    assert_eq!(count("create events"), 1, "{writes:?}");
    let reasons: Vec<_> = events.iter().filter_map(|e| e.reason.clone()).collect();
    assert_eq!(reasons, ["Completed"], "{events:?}");
    let note = events[0].note.clone().unwrap_or_default();
    assert!(
        note.contains("it was opened and was closed first"),
        "{note}"
    );
}
