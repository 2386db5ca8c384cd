//! Reset API: sync and async, the reference's table 4.4 per version, in-flight resets, delete races.

mod common;
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

/// Table 4.4, for each error row: sync body and async stored task error (inner object only).
#[tokio::test]
async fn error_table_sync_and_async() {
    for version in ["8.6.0", "8.12.0", "8.15.0", "9.0.0"] {
        let (sim, c) = sim_with(version, 20).await;
        let ctl = sim.control();
        for id in ["open", "failed", "del", "rev", "up"] {
            put_job(&sim, &c, id).await;
        }
        ctl.open_job("open").unwrap();
        ctl.fail_job("failed");
        ctl.set_blocked("del", Some("delete"), None);
        ctl.set_blocked("rev", Some("revert"), None);
        let rows: Vec<(&str, u16, &str, String)> = vec![
            (
                "missing",
                404,
                "resource_not_found_exception",
                "No known job with id 'missing'".into(),
            ),
            (
                "open",
                409,
                "status_exception",
                "Can only reset a job when it is closed.".into(),
            ),
            (
                "failed",
                409,
                "status_exception",
                "Can only reset a job when it is closed.".into(),
            ),
            (
                "del",
                409,
                "status_exception",
                "cannot reset job while it is blocked with [delete]".into(),
            ),
            (
                "rev",
                409,
                "status_exception",
                "cannot reset job while it is blocked with [revert]".into(),
            ),
        ];
        for (id, status, etype, reason) in &rows {
            let a = call(
                &c,
                "POST",
                format!("{}/_ml/anomaly_detectors/{id}/_reset", sim.url()),
                None,
            )
            .await;
            assert_error(&a, *status, etype);
            assert_eq!(a.reason(), reason, "{version} {id}");
            let task = async_reset(&sim, &c, id).await;
            let t = follow(&sim, &c, &task).await;
            assert_eq!(t.status, 200);
            assert_eq!(t.body["completed"], true);
            assert_eq!(
                t.body["error"],
                json!({"type": etype, "reason": reason}),
                "{version} {id}"
            );
        }
        ctl.set_upgrade_mode(true);
        let a = call(
            &c,
            "POST",
            format!("{}/_ml/anomaly_detectors/up/_reset", sim.url()),
            None,
        )
        .await;
        assert_error(&a, 409, "status_exception");
        assert_eq!(
            a.reason(),
            "cannot reset job while indices are being upgraded"
        );
        let task = async_reset(&sim, &c, "up").await;
        assert_eq!(
            follow(&sim, &c, &task).await.body["error"]["reason"],
            "cannot reset job while indices are being upgraded"
        );
        ctl.set_upgrade_mode(false);
        // Unknown parameter; delete_user_annotations only from 8.7; no force on reset.
        let a = call(
            &c,
            "POST",
            format!("{}/_ml/anomaly_detectors/up/_reset?force=true", sim.url()),
            None,
        )
        .await;
        assert_error(&a, 400, "illegal_argument_exception");
        assert_eq!(
            a.reason(),
            "request [/_ml/anomaly_detectors/up/_reset] contains unrecognized parameter: [force]"
        );
        let a = call(
            &c,
            "POST",
            format!(
                "{}/_ml/anomaly_detectors/up/_reset?delete_user_annotations=true",
                sim.url()
            ),
            None,
        )
        .await;
        if version == "8.6.0" {
            assert_error(&a, 400, "illegal_argument_exception");
            assert!(
                a.reason()
                    .contains("unrecognized parameter: [delete_user_annotations]")
            );
        } else {
            assert_eq!(a.status, 200);
        }
        // A body is refused.
        let a = call(
            &c,
            "POST",
            format!("{}/_ml/anomaly_detectors/up/_reset", sim.url()),
            Some(json!({"x": 1})),
        )
        .await;
        assert_error(&a, 400, "illegal_argument_exception");
        assert_eq!(
            a.reason(),
            "request [POST /_ml/anomaly_detectors/up/_reset] does not support having a body"
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn no_reset_route_before_7_14() {
    let (sim, c) = sim_with("7.13.4", 20).await;
    put_job(&sim, &c, "j").await;
    let a = call(
        &c,
        "POST",
        format!(
            "{}/_ml/anomaly_detectors/j/_reset?wait_for_completion=false",
            sim.url()
        ),
        None,
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body,
        json!({"error": "no handler found for uri [/_ml/anomaly_detectors/j/_reset?wait_for_completion=false] and method [POST]", "status": 400})
    );
    assert!(
        a.headers.get("x-elastic-product").is_none(),
        "the product header came with 7.14"
    );
    let (sim, c) = sim_with("7.14.0", 20).await;
    put_job(&sim, &c, "j").await;
    let a = call(
        &c,
        "POST",
        format!("{}/_ml/anomaly_detectors/j/_reset", sim.url()),
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["x-elastic-product"], "Elasticsearch");
}

#[tokio::test]
async fn second_reset_waits_for_the_first() {
    let (sim, c) = sim_with("8.15.0", 1500).await;
    let ctl = sim.control();
    let t1 = started_reset(&sim, &c, "j").await;
    let t2 = async_reset(&sim, &c, "j").await;
    let r2 = follow(&sim, &c, &t2).await;
    assert_eq!(r2.body["response"]["acknowledged"], true);
    assert_eq!(
        follow(&sim, &c, &t1).await.body["response"]["acknowledged"],
        true
    );
    assert_eq!(
        ctl.resets_started("j"),
        1,
        "the second reset did no work of its own"
    );
}

#[tokio::test]
async fn second_reset_times_out_500_before_9_and_429_from_9() {
    for (version, status) in [("8.15.0", 500u16), ("9.0.0", 429)] {
        let (sim, c) = sim_with(version, 60_000).await;
        let _t1 = started_reset(&sim, &c, "j").await;
        let a = call(
            &c,
            "POST",
            format!("{}/_ml/anomaly_detectors/j/_reset?timeout=50ms", sim.url()),
            None,
        )
        .await;
        assert_error(&a, status, "timeout_exception");
        assert_eq!(a.reason(), "Timed out waiting for completion of task");
        let t2 = call(
            &c,
            "POST",
            format!(
                "{}/_ml/anomaly_detectors/j/_reset?timeout=50ms&wait_for_completion=false",
                sim.url()
            ),
            None,
        )
        .await;
        let r = follow(&sim, &c, t2.body["task"].as_str().unwrap()).await;
        assert_eq!(r.body["error"]["type"], "timeout_exception");
        assert!(r.body["error"].get("status").is_none());
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn lost_reset_task_404_before_8_13_and_retries_from_8_13() {
    for (version, stuck) in [("8.12.0", true), ("8.13.0", false), ("7.17.0", true)] {
        let (sim, c) = sim_with(version, 60_000).await;
        let ctl = sim.control();
        let t1 = started_reset(&sim, &c, "j").await;
        ctl.restart_node(true);
        let lost = call(&c, "GET", format!("{}/_tasks/{t1}", sim.url()), None).await;
        assert_error(&lost, 404, "resource_not_found_exception");
        assert_eq!(
            lost.reason(),
            format!("task [{t1}] isn't running and hasn't stored its results")
        );
        let job = ctl.job("j").unwrap();
        assert_eq!(job.blocked_reason.as_deref(), Some("reset"));
        let master = job.blocked_task_id.unwrap();
        ctl.set_reset_duration(None, Duration::from_millis(20));
        let a = call(
            &c,
            "POST",
            format!("{}/_ml/anomaly_detectors/j/_reset", sim.url()),
            None,
        )
        .await;
        if stuck {
            assert_error(&a, 404, "resource_not_found_exception");
            assert_eq!(
                a.reason(),
                format!("task [{master}] isn't running and hasn't stored its results")
            );
            assert_eq!(
                ctl.job("j").unwrap().blocked_reason.as_deref(),
                Some("reset")
            );
            let o = call(
                &c,
                "POST",
                format!("{}/_ml/anomaly_detectors/j/_open", sim.url()),
                None,
            )
            .await;
            assert_error(&o, 409, "status_exception");
            assert_eq!(
                o.reason(),
                "Cannot open job [j] because it is executing [reset]"
            );
        } else {
            assert_eq!(a.body, json!({"acknowledged": true}));
            assert_eq!(ctl.job("j").unwrap().blocked_reason, None);
            assert_eq!(ctl.resets_started("j"), 2);
        }
    }
}

#[tokio::test]
async fn delete_during_reset_cancels_it() {
    let (sim, c) = sim_with("8.15.0", 60_000).await;
    let t = started_reset(&sim, &c, "j").await;
    let d = call(
        &c,
        "DELETE",
        format!("{}/_ml/anomaly_detectors/j", sim.url()),
        None,
    )
    .await;
    assert_eq!(d.body, json!({"acknowledged": true}));
    let r = follow(&sim, &c, &t).await;
    assert_eq!(r.body["response"], json!({"acknowledged": false}));
    let again = call(
        &c,
        "POST",
        format!("{}/_ml/anomaly_detectors/j/_reset", sim.url()),
        None,
    )
    .await;
    assert_error(&again, 404, "resource_not_found_exception");
}

#[tokio::test]
async fn internal_reset_blocks_without_a_known_task() {
    let (sim, c) = sim_with("8.15.0", 1000).await;
    let ctl = sim.control();
    put_job(&sim, &c, "j").await;
    ctl.internal_reset("j");
    let job = ctl.job("j").unwrap();
    assert_eq!(job.blocked_reason.as_deref(), Some("reset"));
    // A reset now waits for the internal one and then succeeds without work of its own.
    let a = call(
        &c,
        "POST",
        format!("{}/_ml/anomaly_detectors/j/_reset", sim.url()),
        None,
    )
    .await;
    assert_eq!(a.body, json!({"acknowledged": true}));
    assert_eq!(ctl.job("j").unwrap().blocked_reason, None);
    assert_eq!(ctl.resets_started("j"), 1);
}

#[tokio::test]
async fn restart_without_losing_results_stores_an_error() {
    let (sim, c) = sim_with("8.15.0", 60_000).await;
    let ctl = sim.control();
    let t = started_reset(&sim, &c, "j").await;
    ctl.restart_node(false);
    let r = call(&c, "GET", format!("{}/_tasks/{t}", sim.url()), None).await;
    assert_eq!(r.body["completed"], true);
    assert_eq!(r.body["error"]["type"], "node_closed_exception");
    // Numbers are reused after the restart; the new task overrides the stored one while running.
    put_job(&sim, &c, "k").await;
    let t2 = async_reset(&sim, &c, "k").await;
    assert_eq!(t2, t);
    let running = call(&c, "GET", format!("{}/_tasks/{t2}", sim.url()), None).await;
    assert_eq!(running.body["task"]["description"], "job-k");
}

#[tokio::test]
async fn no_master_gives_503_for_reset_and_close() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    put_job(&sim, &c, "j").await;
    ctl.set_master_available(false);
    let a = call(
        &c,
        "POST",
        format!(
            "{}/_ml/anomaly_detectors/j/_reset?master_timeout=20ms",
            sim.url()
        ),
        None,
    )
    .await;
    assert_error(&a, 503, "master_not_discovered_exception");
    assert!(a.body["error"]["reason"].is_null());
    let t = call(
        &c,
        "POST",
        format!(
            "{}/_ml/anomaly_detectors/j/_reset?master_timeout=20ms&wait_for_completion=false",
            sim.url()
        ),
        None,
    )
    .await;
    let r = follow(&sim, &c, t.body["task"].as_str().unwrap()).await;
    assert_eq!(r.body["error"]["type"], "master_not_discovered_exception");
    let a = call(
        &c,
        "POST",
        format!("{}/_ml/anomaly_detectors/j/_close", sim.url()),
        None,
    )
    .await;
    assert_error(&a, 503, "master_not_discovered_exception");
    // The master coming back within master_timeout lets the reset proceed.
    let c2 = c.clone();
    let u = sim.url();
    let pending = tokio::spawn(async move {
        call(
            &c2,
            "POST",
            format!("{u}/_ml/anomaly_detectors/j/_reset?master_timeout=30s"),
            None,
        )
        .await
    });
    assert!(
        ctl.wait_for(
            |c| c.count(es_ml_sim::Endpoint::JobReset) == 3,
            Duration::from_secs(5)
        )
        .await
    );
    ctl.set_master_available(true);
    assert_eq!(pending.await.unwrap().body, json!({"acknowledged": true}));
}

#[tokio::test]
async fn maintenance_reruns_stale_resets_from_8_13() {
    for (version, fixed) in [("8.12.0", false), ("8.13.0", true)] {
        let (sim, c) = sim_with(version, 60_000).await;
        let ctl = sim.control();
        let _t = started_reset(&sim, &c, "j").await;
        ctl.restart_node(true);
        ctl.set_reset_duration(None, Duration::from_millis(10));
        let rerun = ctl.run_maintenance();
        assert_eq!(rerun.len(), usize::from(fixed));
        let cleared = ctl
            .wait_for(
                |c| c.job("j").unwrap().blocked_reason.is_none(),
                Duration::from_millis(if fixed { 10_000 } else { 50 }),
            )
            .await;
        assert_eq!(cleared, fixed, "{version}");
    }
}

#[tokio::test]
async fn finish_reset_ends_a_running_reset_as_completed() {
    // An hour-long reset, started by a caller and by ML itself, each ended on demand.
    let (sim, c) = sim_with("8.15.0", 3_600_000).await;
    let ctl = sim.control();
    let task = started_reset(&sim, &c, "j").await;
    ctl.finish_reset("j");
    let done = follow(&sim, &c, &task).await;
    assert_eq!(done.body["completed"], true, "{}", done.body);
    assert_eq!(done.body["response"]["acknowledged"], true, "{}", done.body);
    assert_eq!(ctl.job("j").and_then(|j| j.blocked_reason), None);

    put_job(&sim, &c, "k").await;
    ctl.internal_reset("k");
    assert_eq!(
        ctl.job("k").and_then(|j| j.blocked_reason).as_deref(),
        Some("reset")
    );
    ctl.finish_reset("k");
    assert!(
        ctl.wait_for(
            |c| c.job("k").is_some_and(|j| j.blocked_reason.is_none()),
            Duration::from_secs(10)
        )
        .await,
        "the internal reset did not end"
    );
}
