//! Faults and control: fail/drop/hang the next requests, latency, stop/resume listening,
//! the request log, and the /_sim/ HTTP control API.

mod common;
use std::time::Duration;

use common::*;
use es_ml_sim::Endpoint;
use serde_json::json;

#[tokio::test]
async fn fail_drop_hang_next() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    put_job(&sim, &c, "j").await;
    ctl.fail_next(Endpoint::JobReset, 2, 503, json!({"error": "busy"}));
    for _ in 0..2 {
        let a = call(
            &c,
            "POST",
            format!("{}/_ml/anomaly_detectors/j/_reset", sim.url()),
            None,
        )
        .await;
        assert_eq!((a.status, a.body.clone()), (503, json!({"error": "busy"})));
    }
    assert_eq!(ctl.resets_started("j"), 0);
    ctl.drop_next(Endpoint::TaskGet, 1);
    let r = c.get(format!("{}/_tasks/x:1", sim.url())).send().await;
    assert!(r.is_err(), "dropped connection");
    ctl.hang_next(Endpoint::JobStats, 1);
    let hung = c
        .get(format!("{}/_ml/anomaly_detectors/j/_stats", sim.url()))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung.unwrap_err().is_timeout());
    ctl.set_latency(Endpoint::JobGet, Duration::from_millis(5));
    let a = call(
        &c,
        "GET",
        format!("{}/_ml/anomaly_detectors/j", sim.url()),
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    let a = call(
        &c,
        "POST",
        format!("{}/_ml/anomaly_detectors/j/_reset", sim.url()),
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(ctl.count(Endpoint::JobReset), 3);
    assert_eq!(ctl.resets_started("j"), 1);
    let log = ctl.requests();
    assert!(
        log.iter()
            .any(|r| r.endpoint == Endpoint::TaskGet && r.status == 0)
    );
    assert!(
        log.iter()
            .any(|r| r.endpoint == Endpoint::JobReset && r.status == 503)
    );
}

#[tokio::test]
async fn stop_and_resume_listening_keeps_state() {
    let (sim, c) = sim().await;
    put_job(&sim, &c, "j").await;
    sim.stop_listening().await;
    assert!(c.get(format!("{}/", sim.url())).send().await.is_err());
    sim.resume_listening().await.unwrap();
    let a = call(
        &c,
        "GET",
        format!("{}/_ml/anomaly_detectors/j", sim.url()),
        None,
    )
    .await;
    assert_eq!(a.body["count"], 1);
}

#[tokio::test]
async fn control_http_api() {
    let (sim, c) = sim().await;
    let u = sim.url();
    let ok = json!({"acknowledged": true});
    assert_eq!(
        call(&c, "PUT", format!("{u}/_sim/jobs/j"), Some(json!({})))
            .await
            .body,
        ok
    );
    assert_eq!(
        call(
            &c,
            "PUT",
            format!("{u}/_sim/datafeeds/df"),
            Some(json!({"job_id": "j"}))
        )
        .await
        .body,
        ok
    );
    assert_eq!(
        call(
            &c,
            "POST",
            format!("{u}/_sim/jobs/j/_memory_status"),
            Some(json!({"status": "hard_limit"}))
        )
        .await
        .body,
        ok
    );
    let stats = call(
        &c,
        "GET",
        format!("{u}/_ml/anomaly_detectors/j/_stats"),
        None,
    )
    .await;
    assert_eq!(
        stats.body["jobs"][0]["model_size_stats"]["memory_status"], "hard_limit",
        "{}",
        stats.body
    );
    let refused = call(
        &c,
        "POST",
        format!("{u}/_sim/jobs/j/_memory_status"),
        Some(json!({"status": "full"})),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(
        call(
            &c,
            "POST",
            format!("{u}/_sim/reset_duration"),
            Some(json!({"ms": 10, "job": "j"}))
        )
        .await
        .body,
        ok
    );
    assert_eq!(
        call(
            &c,
            "POST",
            format!("{u}/_sim/fail_next"),
            Some(json!({"endpoint": "job_get", "n": 1, "status": 502, "body": {"x": 1}}))
        )
        .await
        .body,
        ok
    );
    assert_eq!(
        call(&c, "GET", format!("{u}/_ml/anomaly_detectors/j"), None)
            .await
            .status,
        502
    );
    assert_eq!(
        call(
            &c,
            "POST",
            format!("{u}/_sim/fail_next"),
            Some(json!({"endpoint": "nope"}))
        )
        .await
        .status,
        400
    );
    assert_eq!(
        call(&c, "POST", format!("{u}/_sim/jobs/j/_fail"), None)
            .await
            .body,
        ok
    );
    assert_eq!(
        call(&c, "GET", format!("{u}/_sim/jobs/j"), None).await.body["state"],
        "failed"
    );
    assert_eq!(
        call(&c, "GET", format!("{u}/_sim/counts"), None).await.body["job_get"],
        1
    );
    assert_eq!(
        call(
            &c,
            "POST",
            format!("{u}/_sim/restart_node"),
            Some(json!({"lose_results": true}))
        )
        .await
        .body,
        ok
    );
    assert!(
        call(&c, "GET", format!("{u}/_sim/requests"), None)
            .await
            .body["requests"]
            .as_array()
            .unwrap()
            .len()
            > 3
    );
    assert_eq!(
        call(&c, "GET", format!("{u}/_sim/nope"), None).await.status,
        404
    );

    let cfg = es_ml_sim::SimConfig {
        enable_control: false,
        ..Default::default()
    };
    let off = es_ml_sim::start(cfg).await.unwrap();
    assert_eq!(
        call(&c, "GET", format!("{}/_sim/counts", off.url()), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_lost_answer_still_does_the_work() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    put_job(&sim, &c, "j").await;
    ctl.drop_after_next(Endpoint::JobReset, 1);
    let r = c
        .post(format!(
            "{}/_ml/anomaly_detectors/j/_reset?wait_for_completion=false",
            sim.url()
        ))
        .send()
        .await;
    assert!(r.is_err(), "no answer");
    let done = ctl
        .wait_for(|c| c.resets_completed("j") == 1, Duration::from_secs(30))
        .await;
    assert!(done, "the reset ran although its answer was lost");
    let logged = ctl.requests();
    assert!(
        logged
            .iter()
            .any(|r| r.endpoint == Endpoint::JobReset && r.status == 200),
        "{logged:?}"
    );
}
