//! Close API: the reference's table 3, body-over-query, datafeeds stopped first.

mod common;
use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn close_answers_and_error_rows() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    let u = sim.url();
    put_job(&sim, &c, "a").await;
    put_job(&sim, &c, "b").await;
    // Closing a closed job, and force-closing it, is not an error.
    for q in ["", "?force=true"] {
        let a = call(
            &c,
            "POST",
            format!("{u}/_ml/anomaly_detectors/a/_close{q}"),
            None,
        )
        .await;
        assert_eq!((a.status, a.body.clone()), (200, json!({"closed": true})));
    }
    // 404 explicit id; wildcard no match: 200 unless allow_no_match=false.
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/nope/_close"),
        None,
    )
    .await;
    assert_error(&a, 404, "resource_not_found_exception");
    assert_eq!(a.reason(), "No known job with id 'nope'");
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/zz*/_close"),
        None,
    )
    .await;
    assert_eq!(a.body, json!({"closed": true}));
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/zz*/_close?allow_no_match=false"),
        None,
    )
    .await;
    assert_error(&a, 404, "resource_not_found_exception");
    // 409 failed job needs force (one job / several).
    ctl.fail_job("a");
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close"),
        None,
    )
    .await;
    assert_error(&a, 409, "status_exception");
    assert_eq!(
        a.reason(),
        "cannot close job [a] because it failed, use force close"
    );
    ctl.fail_job("b");
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/_all/_close"),
        None,
    )
    .await;
    assert_error(&a, 409, "status_exception");
    assert_eq!(
        a.reason(),
        "one or more jobs have state failed, use force close"
    );
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a,b/_close?force=true"),
        None,
    )
    .await;
    assert_eq!(a.body, json!({"closed": true}));
    assert_eq!(ctl.job("a").unwrap().state, "closed");
}

#[tokio::test]
async fn body_overrides_query_and_query_then_is_unrecognized() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    let u = sim.url();
    put_job(&sim, &c, "a").await;
    ctl.fail_job("a");
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close"),
        Some(json!({"force": true})),
    )
    .await;
    assert_eq!(a.body, json!({"closed": true}));
    ctl.fail_job("a");
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close?force=true"),
        Some(json!({"timeout": "1m"})),
    )
    .await;
    assert_error(&a, 400, "illegal_argument_exception");
    assert_eq!(
        a.reason(),
        "request [/_ml/anomaly_detectors/a/_close] contains unrecognized parameter: [force]"
    );
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close"),
        Some(json!({"forse": true})),
    )
    .await;
    assert_error(&a, 400, "x_content_parse_exception");
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close?timeout=abc"),
        None,
    )
    .await;
    assert_error(&a, 400, "parse_exception");
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close?force=maybe"),
        None,
    )
    .await;
    assert_error(&a, 400, "illegal_argument_exception");
}

#[tokio::test]
async fn close_stops_datafeed_first_and_datafeed_errors() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    let u = sim.url();
    put_job(&sim, &c, "a").await;
    ctl.put_datafeed("df-a", "a").unwrap();
    ctl.open_job("a").unwrap();
    ctl.start_datafeed("df-a").unwrap();
    ctl.set_datafeed_unstoppable("df-a", true);
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close"),
        None,
    )
    .await;
    assert_error(&a, 409, "status_exception");
    assert!(a.reason().starts_with("failed to close jobs as one or more had started datafeeds that could not be stopped: started datafeeds [df-a]"), "{}", a.reason());
    ctl.set_datafeed_unstoppable("df-a", false);
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close"),
        None,
    )
    .await;
    assert_eq!(a.body, json!({"closed": true}));
    let s = call(&c, "GET", format!("{u}/_ml/datafeeds/df-a/_stats"), None).await;
    assert_eq!(s.body["datafeeds"][0]["state"], "stopped");
    // Data was seen, so closing persisted a model snapshot.
    assert!(ctl.job("a").unwrap().model_snapshot_id.is_some());
}

#[tokio::test]
async fn close_timeout_is_500_illegal_state() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    let u = sim.url();
    put_job(&sim, &c, "a").await;
    ctl.open_job("a").unwrap();
    // Long enough that the job is surely still closing when the first call returns.
    ctl.set_close_duration(Duration::from_millis(1500));
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close?timeout=10ms"),
        None,
    )
    .await;
    assert_error(&a, 500, "illegal_state_exception");
    assert_eq!(
        a.reason(),
        "Timed out when waiting for persistent tasks after 10ms"
    );
    assert_eq!(ctl.job("a").unwrap().state, "closing");
    // A close on a closing job waits for it.
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/a/_close"),
        None,
    )
    .await;
    assert_eq!(a.body, json!({"closed": true}));
    assert_eq!(ctl.job("a").unwrap().state, "closed");
}
