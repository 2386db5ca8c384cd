//! The reference's table 4.4 per version, sync and async, and the reset route's absence
//! before 7.14.

use super::*;

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
