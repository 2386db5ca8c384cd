//! Resets in flight: a second reset waiting for the first, lost tasks, deletes during a reset,
//! internal resets, restarts, no master, maintenance, a reset finished by hand.

use super::*;

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
