//! Task API: the reference's section 6 shapes and errors, long-polls, cancel, restarts.

mod common;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test]
async fn task_errors() {
    for (version, timeout_status, reason) in [
        ("7.17.0", 500u16, None),
        (
            "8.15.0",
            500,
            Some("Timed out waiting for completion of task"),
        ),
        (
            "9.1.0",
            429,
            Some("Timed out waiting for completion of task"),
        ),
    ] {
        let (sim, c) = sim_with(version, 60_000).await;
        let u = sim.url();
        let a = call(&c, "GET", format!("{u}/_tasks/not-a-task"), None).await;
        assert_error(&a, 400, "illegal_argument_exception");
        assert_eq!(a.reason(), "malformed task id not-a-task");
        let a = call(&c, "GET", format!("{u}/_tasks/{}:x", sim.node_id()), None).await;
        assert_error(&a, 400, "illegal_argument_exception");
        let a = call(&c, "GET", format!("{u}/_tasks/{}:999", sim.node_id()), None).await;
        assert_error(&a, 404, "resource_not_found_exception");
        assert_eq!(
            a.reason(),
            format!(
                "task [{}:999] isn't running and hasn't stored its results",
                sim.node_id()
            )
        );
        let a = call(
            &c,
            "GET",
            format!("{u}/_tasks/otherNodeAAAAAAAAAAAAA:5"),
            None,
        )
        .await;
        assert_error(&a, 404, "resource_not_found_exception");
        assert_eq!(
            a.reason(),
            "task [otherNodeAAAAAAAAAAAAA:5] belongs to the node [otherNodeAAAAAAAAAAAAA] which isn't part of the cluster and there is no record of the task"
        );
        put_job(&sim, &c, "j").await;
        let t = async_reset(&sim, &c, "j").await;
        let a = call(
            &c,
            "GET",
            format!("{u}/_tasks/{t}?wait_for_completion=true&timeout=20ms"),
            None,
        )
        .await;
        assert_error(&a, timeout_status, "timeout_exception");
        match reason {
            Some(r) => assert_eq!(a.reason(), r),
            None => assert_eq!(
                a.reason(),
                format!("Timed out waiting for completion of [{t}]")
            ),
        }
        // The wait did not cancel the task.
        let r = call(&c, "GET", format!("{u}/_tasks/{t}"), None).await;
        assert_eq!(r.body["completed"], false);
        let a = call(
            &c,
            "GET",
            format!("{u}/_tasks/{t}?wait_for_completion=maybe"),
            None,
        )
        .await;
        assert_error(&a, 400, "illegal_argument_exception");
        let a = call(&c, "GET", format!("{u}/_tasks/{t}?foo=1"), None).await;
        assert_error(&a, 400, "illegal_argument_exception");
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn long_poll_returns_on_completion() {
    let (sim, c) = sim_with("8.15.0", 200).await;
    put_job(&sim, &c, "j").await;
    let t = async_reset(&sim, &c, "j").await;
    let r = follow(&sim, &c, &t).await;
    assert_eq!(r.body["completed"], true);
    assert_eq!(r.body["response"]["acknowledged"], true);
    assert!(r.body["task"]["running_time_in_nanos"].as_u64().unwrap() > 0);
    assert!(r.body["task"].get("running_time").is_none());
    let h = call(&c, "GET", format!("{}/_tasks/{t}?human", sim.url()), None).await;
    assert!(h.body["task"]["running_time"].is_string());
}

#[tokio::test]
async fn sync_reset_task_completes_without_stored_result() {
    let (sim, c) = sim_with("8.15.0", 1500).await;
    let ctl = sim.control();
    put_job(&sim, &c, "j").await;
    let c2 = c.clone();
    let u = sim.url();
    let sync = tokio::spawn(async move {
        call(
            &c2,
            "POST",
            format!("{u}/_ml/anomaly_detectors/j/_reset"),
            None,
        )
        .await
    });
    assert!(
        ctl.wait_for(|c| c.resets_started("j") == 1, Duration::from_secs(5))
            .await
    );
    let t = format!("{}:1", sim.node_id());
    let r = follow(&sim, &c, &t).await;
    assert_eq!(r.body["completed"], true);
    assert!(
        r.body.get("response").is_none() && r.body.get("error").is_none(),
        "{}",
        r.body
    );
    assert_eq!(sync.await.unwrap().body, json!({"acknowledged": true}));
    let gone = call(&c, "GET", format!("{}/_tasks/{t}", sim.url()), None).await;
    assert_error(&gone, 404, "resource_not_found_exception");
}

#[tokio::test]
async fn cancel_ends_reset_with_ack_false() {
    let (sim, c) = sim_with("8.15.0", 60_000).await;
    let t = started_reset(&sim, &c, "j").await;
    let a = call(
        &c,
        "POST",
        format!("{}/_tasks/{t}/_cancel", sim.url()),
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body["nodes"][sim.node_id()]["tasks"][&t]["cancelled"],
        true
    );
    let r = follow(&sim, &c, &t).await;
    assert_eq!(r.body["response"], json!({"acknowledged": false}));
    let missing = call(
        &c,
        "POST",
        format!("{}/_tasks/{}:4242/_cancel", sim.url(), sim.node_id()),
        None,
    )
    .await;
    assert_eq!(
        missing.body["node_failures"][0]["caused_by"]["type"],
        "resource_not_found_exception"
    );
}

#[tokio::test]
async fn restart_makes_waiters_lose_connection_and_reuses_ids() {
    let (sim, c) = sim_with("8.15.0", 60_000).await;
    let ctl = sim.control();
    put_job(&sim, &c, "j").await;
    let t = async_reset(&sim, &c, "j").await;
    let url = format!(
        "{}/_tasks/{t}?wait_for_completion=true&timeout=30s",
        sim.url()
    );
    let c2 = c.clone();
    let poll = tokio::spawn(async move { c2.get(url).send().await });
    assert!(
        ctl.wait_for(
            |c| c.count(es_ml_sim::Endpoint::TaskGet) == 1,
            Duration::from_secs(5)
        )
        .await
    );
    let started = Instant::now();
    ctl.restart_node(true);
    assert!(
        poll.await.unwrap().is_err(),
        "the long-poll's connection is closed"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    let a = call(&c, "GET", format!("{}/_tasks/{t}", sim.url()), None).await;
    assert_error(&a, 404, "resource_not_found_exception");
    assert_eq!(
        async_reset(&sim, &c, "j").await,
        format!("{}:1", sim.node_id())
    );
}

#[tokio::test]
async fn list_tasks_filters_by_action() {
    let (sim, c) = sim_with("8.15.0", 60_000).await;
    put_job(&sim, &c, "j").await;
    let _t = async_reset(&sim, &c, "j").await;
    assert!(
        sim.control()
            .wait_for(|c| c.running_tasks() == 2, Duration::from_secs(5))
            .await
    );
    let a = call(
        &c,
        "GET",
        format!(
            "{}/_tasks?actions=cluster:admin/xpack/ml/job/reset&detailed",
            sim.url()
        ),
        None,
    )
    .await;
    let tasks = a.body["nodes"][sim.node_id()]["tasks"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(tasks.len(), 2);
    assert!(tasks.values().all(|t| t["description"] == "job-j"));
}
