//! Happy paths end to end: a real API server (the shared test bed), the controller in-process
//! scoped to the test's namespace, and an ES ML simulator per test. Each case creates a
//! JobReset (with kube, or with kubectl as a user would) and waits (watch with a deadline) for
//! Completed, then checks the simulator: the job's data is gone and exactly one reset was
//! accepted. Covers opened/closed/failed jobs, deleteUserAnnotations, basic auth, API key, the
//! documented minimum privileges, TLS with a CA Secret or insecureSkipVerify, elasticsearchRef,
//! Events and printer columns. Does I/O (Kubernetes, loopback HTTP, kubectl processes).
//! The job states are here; `access` covers credentials and TLS, `kubectl` the user's commands,
//! `many` several runs at once.

mod access;
#[path = "../common/mod.rs"]
mod common;
mod kubectl;
mod many;

use std::time::Duration;

use common::{Pki, World, pki, security};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::{JobResetStatus, Phase};
use jobreset_operator::controller::Options;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_job_with_started_datafeed_is_closed_and_reset() {
    let w = World::new("happy-opened", SimConfig::default()).await;
    w.job_with_running_datafeed("web-traffic").await;

    w.create("reset-web", json!({"jobId": "web-traffic"})).await;
    let s = w.completed("reset-web").await;

    assert_eq!(s.job_state_before.as_deref(), Some("opened"));
    let task = s.task_id.expect("task id recorded");
    assert!(task.starts_with(&format!("{}:", w.sim.node_id())), "{task}");
    assert_eq!(s.reset_requests, 1);
    assert!(!s.adopted);
    assert!(s.completion_time.is_some());
    assert_eq!(s.elasticsearch_version.as_deref(), Some("8.15.0"));
    w.assert_job_reset("web-traffic");
    assert_eq!(w.accepted_resets("web-traffic"), 1);
    assert_eq!(w.ctl().resets_started("web-traffic"), 1);
    // The graceful close also stopped the datafeed (close without force).
    let close = w
        .ctl()
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::JobClose)
        .expect("close sent");
    assert!(close.query.contains("force=false"), "{}", close.query);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_job_is_reset() {
    let w = World::new("happy-closed", SimConfig::default()).await;
    w.job_with_data("closed-job", "closed");

    let created = w
        .create("reset-closed", json!({"jobId": "closed-job"}))
        .await;
    let s = w.completed("reset-closed").await;

    assert_eq!(s.job_state_before.as_deref(), Some("closed"));
    assert!(s.task_id.is_some());
    w.assert_job_reset("closed-job");
    assert_eq!(w.accepted_resets("closed-job"), 1);
    // Every request carried the JobReset's identity; the reset request its number too.
    let uid = created.metadata.uid.expect("uid");
    let expected = format!("jobreset/{}/reset-closed/{uid}", w.ns);
    let reqs = w.ctl().requests();
    for r in reqs.iter().filter(|r| r.endpoint != Endpoint::Control) {
        let want = match r.endpoint {
            Endpoint::JobReset => format!("{expected}/1"),
            _ => expected.clone(),
        };
        assert_eq!(r.opaque_id.as_deref(), Some(want.as_str()), "{r:?}");
    }
    // The story is told in Events too; the last one says what the status says.
    let events = w.wait_event("reset-closed", "Completed").await;
    let done = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Completed"))
        .unwrap();
    assert_eq!(done.type_.as_deref(), Some("Normal"));
    assert_eq!(done.note, s.message, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_job_is_force_closed_and_reset() {
    let w = World::new("happy-failed", SimConfig::default()).await;
    w.job_with_data("broken-job", "failed");

    w.create("reset-broken", json!({"jobId": "broken-job"}))
        .await;
    let s = w.completed("reset-broken").await;

    assert_eq!(s.job_state_before.as_deref(), Some("failed"));
    w.assert_job_reset("broken-job");
    assert_eq!(w.accepted_resets("broken-job"), 1);
    let closes: Vec<_> = w
        .ctl()
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobClose && r.status == 200)
        .collect();
    assert!(!closes.is_empty());
    assert!(
        closes.iter().all(|r| r.query.contains("force=true")),
        "{closes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_user_annotations_removes_them_only_when_asked() {
    let w = World::new("happy-annotations", SimConfig::default()).await;
    let ctl = w.ctl();
    for job in ["ann-keep", "ann-drop"] {
        w.job_with_data(job, "closed");
        ctl.add_user_annotation(job);
        ctl.add_auto_annotation(job);
    }

    w.create("reset-keep", json!({"jobId": "ann-keep"})).await;
    w.create(
        "reset-drop",
        json!({"jobId": "ann-drop", "deleteUserAnnotations": true}),
    )
    .await;
    w.completed("reset-keep").await;
    w.completed("reset-drop").await;

    let keep = ctl.job("ann-keep").unwrap();
    assert_eq!(
        (keep.user_annotations, keep.auto_annotations),
        (1, 0),
        "{keep:?}"
    );
    let drop = ctl.job("ann-drop").unwrap();
    assert_eq!(
        (drop.user_annotations, drop.auto_annotations),
        (0, 0),
        "{drop:?}"
    );
    let resets = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobReset)
        .collect::<Vec<_>>();
    for r in &resets {
        let asked = r.path.contains("ann-drop");
        assert_eq!(
            r.query.contains("delete_user_annotations=true"),
            asked,
            "{r:?}"
        );
    }
}
