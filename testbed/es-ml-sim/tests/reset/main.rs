//! Reset API: sync and async, the reference's table 4.4 per version, in-flight resets, delete races.
//! The plain calls are here; `table` holds the per-version error table, `races` resets in flight.

#[path = "../common/mod.rs"]
mod common;
mod races;
mod table;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn async_reset_clears_job_and_stores_result() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    put_job(&sim, &c, "j").await;
    ctl.set_model_snapshot_id("j", Some("1700000000"));
    ctl.add_user_annotation("j");
    ctl.add_auto_annotation("j");
    ctl.set_reset_duration(Some("j"), Duration::from_millis(1500));
    let task = async_reset(&sim, &c, "j").await;
    assert!(task.starts_with(&format!("{}:", sim.node_id())));
    assert!(
        ctl.wait_for(
            |c| c.job("j").and_then(|j| j.blocked_reason).is_some(),
            Duration::from_secs(5)
        )
        .await
    );
    let job = ctl.job("j").unwrap();
    assert_eq!(job.blocked_reason.as_deref(), Some("reset"));
    assert_ne!(
        job.blocked_task_id.as_deref(),
        Some(task.as_str()),
        "master-side id differs"
    );
    // The job API shows the block while it runs.
    let g = call(
        &c,
        "GET",
        format!("{}/_ml/anomaly_detectors/j", sim.url()),
        None,
    )
    .await;
    assert_eq!(g.body["jobs"][0]["blocked"]["reason"], "reset");
    let running = call(&c, "GET", format!("{}/_tasks/{task}", sim.url()), None).await;
    assert_eq!(running.body["completed"], false);
    assert_eq!(running.body["task"]["cancelled"], false);
    assert_eq!(
        running.body["task"]["action"],
        "cluster:admin/xpack/ml/job/reset"
    );
    assert_eq!(running.body["task"]["description"], "job-j");
    let done = call(
        &c,
        "GET",
        format!(
            "{}/_tasks/{task}?wait_for_completion=true&timeout=60s",
            sim.url()
        ),
        None,
    )
    .await;
    assert_eq!(done.status, 200);
    assert_eq!(done.body["completed"], true);
    assert_eq!(done.body["response"]["acknowledged"], true);
    assert!(done.body["task"].get("cancelled").is_none());
    let job = ctl.job("j").unwrap();
    assert_eq!(job.blocked_reason, None);
    assert_eq!(job.model_snapshot_id, None);
    assert_eq!((job.user_annotations, job.auto_annotations), (1, 0));
    assert_eq!(ctl.resets_started("j"), 1);
    // Stored results stay after completion.
    let again = call(&c, "GET", format!("{}/_tasks/{task}", sim.url()), None).await;
    assert_eq!(again.body["response"]["acknowledged"], true);
    // The master-side task stored nothing.
    let m = call(
        &c,
        "GET",
        format!("{}/_tasks/{}", sim.url(), job_master(&g)),
        None,
    )
    .await;
    assert_error(&m, 404, "resource_not_found_exception");
}

fn job_master(g: &Answer) -> String {
    g.body["jobs"][0]["blocked"]["task_id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn sync_reset_and_user_annotations_flag() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    put_job(&sim, &c, "j").await;
    ctl.add_user_annotation("j");
    let a = call(
        &c,
        "POST",
        format!(
            "{}/_ml/anomaly_detectors/j/_reset?delete_user_annotations=true",
            sim.url()
        ),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.body.clone()),
        (200, json!({"acknowledged": true}))
    );
    assert_eq!(ctl.job("j").unwrap().user_annotations, 0);
}

#[tokio::test]
async fn opaque_id_is_echoed_and_kept_in_task_headers() {
    let (sim, c) = sim().await;
    put_job(&sim, &c, "j").await;
    let r = c
        .post(format!(
            "{}/_ml/anomaly_detectors/j/_reset?wait_for_completion=false",
            sim.url()
        ))
        .header("X-Opaque-Id", "op-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-opaque-id"], "op-123");
    let task = r.json::<serde_json::Value>().await.unwrap()["task"]
        .as_str()
        .unwrap()
        .to_string();
    let done = follow(&sim, &c, &task).await;
    assert_eq!(done.body["task"]["headers"]["X-Opaque-Id"], "op-123");
    assert_eq!(
        sim.control()
            .requests()
            .iter()
            .filter(|r| r.opaque_id.as_deref() == Some("op-123"))
            .count(),
        1
    );
}
