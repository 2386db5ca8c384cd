//! Tests of `wire` (no I/O unless a test says so).

use super::*;
use crate::es::{ErrorCause, TaskInfo, TaskOutcome, TaskPoll};

#[test]
fn error_object_form() {
    let body = br#"{"error":{"root_cause":[{"type":"status_exception","reason":"Can only reset a job when it is closed."}],
        "type":"status_exception","reason":"Can only reset a job when it is closed."},"status":409}"#;
    assert_eq!(
        error_body(409, body),
        (
            "status_exception".to_owned(),
            "Can only reset a job when it is closed.".to_owned()
        )
    );
}

#[test]
fn error_caused_by_is_kept() {
    let body = br#"{"error":{"type":"exception","reason":"reset failed","caused_by":{"type":"io_exception","reason":"disk"}},"status":500}"#;
    let (kind, reason) = error_body(500, body);
    assert_eq!(kind, "exception");
    assert_eq!(reason, "reset failed (caused by io_exception: disk)");
}

#[test]
fn error_only_root_cause() {
    let body = br#"{"error":{"root_cause":[{"type":"security_exception","reason":"missing authentication credentials"}]},"status":401}"#;
    assert_eq!(
        error_body(401, body),
        (
            "security_exception".to_owned(),
            "missing authentication credentials".to_owned()
        )
    );
}

#[test]
fn error_string_form_before_7_14() {
    let body = br#"{"error":"no handler found for uri [/_ml/anomaly_detectors/x/_reset] and method [POST]","status":400}"#;
    let (kind, reason) = error_body(400, body);
    assert_eq!(kind, ROUTE_ERROR);
    assert!(reason.starts_with("no handler found for uri"));
}

#[test]
fn error_non_json_is_summarised() {
    let (kind, reason) = error_body(502, b"<html>\n <body>Bad   gateway</body></html>");
    assert_eq!(kind, UNTYPED_ERROR);
    assert_eq!(
        reason,
        "Bad Gateway: <html> <body>Bad gateway</body></html>"
    );
    assert_eq!(error_body(503, b"").1, "Service Unavailable");
}

#[test]
fn error_reason_is_truncated() {
    let long = "é".repeat(2000);
    let body =
        serde_json::to_vec(&serde_json::json!({"error": {"type": "x", "reason": long}})).unwrap();
    let (_, reason) = error_body(500, &body);
    assert!(reason.len() <= MAX_REASON + '…'.len_utf8());
    assert!(reason.ends_with('…'));
}

#[test]
fn an_error_answer_too_large_is_described_not_parsed() {
    // Shaped like Elasticsearch's, but far larger than any it sends: a hostile server's,
    // whose JSON tree would take many times its size.
    let pad = "x".repeat(MAX_ERROR_BODY);
    let big = |kind: &str| {
        serde_json::to_vec(&serde_json::json!({"error": {"type": kind, "reason": pad}}))
            .unwrap_or_default()
    };
    let (kind, reason) = error_body(500, &big("status_exception"));
    assert_eq!(kind, UNTYPED_ERROR);
    assert_eq!(
        reason,
        "Internal Server Error: an answer of more than 64 KiB, too large for an Elasticsearch error"
    );
    assert!(!is_poll_timeout(500, &big("timeout_exception")));
    assert!(!is_es_error_body(&big("resource_not_found_exception")));
    // Not JSON, under the limit: only what the reason holds of it is looked at.
    let words = "word ".repeat(MAX_ERROR_BODY / 5);
    let (kind, reason) = error_body(502, words.as_bytes());
    assert_eq!(kind, UNTYPED_ERROR);
    assert!(reason.starts_with("Bad Gateway: word word"), "{reason}");
    assert!(reason.len() <= MAX_REASON + '…'.len_utf8());
}

#[test]
fn poll_timeouts_in_both_version_modes() {
    let t = br#"{"error":{"root_cause":[{"type":"timeout_exception","reason":"Timed out waiting for completion of task"}],"type":"timeout_exception","reason":"Timed out waiting for completion of task"},"status":500}"#;
    assert!(is_poll_timeout(500, t));
    assert!(is_poll_timeout(429, t));
    let rt = br#"{"error":{"type":"receive_timeout_transport_exception","reason":"[n][127.0.0.1:9300][cluster:monitor/task/get] request_id [1] timed out after [30000ms]"},"status":500}"#;
    assert!(is_poll_timeout(500, rt));
    // The same type on a 404, or another type on a 500, is not a poll timeout.
    assert!(!is_poll_timeout(404, t));
    let other = br#"{"error":{"type":"exception","reason":"boom"},"status":500}"#;
    assert!(!is_poll_timeout(500, other));
    assert!(!is_poll_timeout(
        429,
        br#"{"error":{"type":"es_rejected_execution_exception","reason":"full"},"status":429}"#
    ));
    assert!(!is_poll_timeout(500, b"not json"));
}

#[test]
fn es_error_body_detection() {
    assert!(is_es_error_body(br#"{"error":{"type":"resource_not_found_exception","reason":"task [a:1] isn't running and hasn't stored its results"},"status":404}"#));
    assert!(!is_es_error_body(b"<html>404</html>"));
    assert!(!is_es_error_body(br#"{"message":"not found"}"#));
}

const RUNNING: &str = r#"{"completed":false,"task":{"node":"n1","id":39,"type":"transport",
    "action":"cluster:admin/xpack/ml/job/reset","description":"job-total-requests",
    "start_time_in_millis":1700000000000,"running_time_in_nanos":1,"cancellable":true,"cancelled":false,"headers":{}}}"#;

fn info() -> TaskInfo {
    TaskInfo {
        node: "n1".into(),
        id: 39,
        action: "cluster:admin/xpack/ml/job/reset".into(),
        description: "job-total-requests".into(),
        start_time_ms: 1_700_000_000_000,
        opaque_id: None,
        parent: None,
    }
}

fn completed(extra: &str) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(RUNNING).unwrap();
    v["completed"] = Value::Bool(true);
    let extra: Value = serde_json::from_str(extra).unwrap();
    for (k, val) in extra.as_object().unwrap() {
        v[k] = val.clone();
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn task_running() {
    assert_eq!(task(RUNNING.as_bytes()).unwrap(), TaskPoll::Running(info()));
}

#[test]
fn task_acknowledged_and_not() {
    assert_eq!(
        task(&completed(r#"{"response":{"acknowledged":true}}"#)).unwrap(),
        TaskPoll::Completed {
            task: info(),
            outcome: TaskOutcome::Acknowledged
        }
    );
    assert_eq!(
        task(&completed(r#"{"response":{"acknowledged":false}}"#)).unwrap(),
        TaskPoll::Completed {
            task: info(),
            outcome: TaskOutcome::NotAcknowledged
        }
    );
}

#[test]
fn task_failed_with_stored_error() {
    let body = completed(
        r#"{"error":{"type":"status_exception","reason":"Can only reset a job when it is closed."}}"#,
    );
    assert_eq!(
        task(&body).unwrap(),
        TaskPoll::Completed {
            task: info(),
            outcome: TaskOutcome::Failed(ErrorCause {
                kind: "status_exception".into(),
                reason: "Can only reset a job when it is closed.".into()
            })
        }
    );
}

#[test]
fn stored_error_names_its_cause_and_skips_an_empty_one() {
    let reason = |error: &str| match task(&completed(&format!(r#"{{"error":{error}}}"#))) {
        Ok(TaskPoll::Completed {
            outcome: TaskOutcome::Failed(cause),
            ..
        }) => cause.reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reason(r#"{"type":"x","reason":"r","caused_by":{"type":"io_exception","reason":"io"}}"#),
        "r (caused by io_exception: io)"
    );
    assert_eq!(reason(r#"{"type":"x","reason":"r","caused_by":{}}"#), "r");
}

#[test]
fn task_error_wins_over_response() {
    let body = completed(r#"{"error":{"type":"x","reason":"y"},"response":{"acknowledged":true}}"#);
    assert!(matches!(
        task(&body).unwrap(),
        TaskPoll::Completed {
            outcome: TaskOutcome::Failed(_),
            ..
        }
    ));
}

#[test]
fn task_completed_without_result() {
    assert_eq!(
        task(&completed("{}")).unwrap(),
        TaskPoll::Completed {
            task: info(),
            outcome: TaskOutcome::NoResult
        }
    );
    assert_eq!(
        task(&completed(r#"{"response":{}}"#)).unwrap(),
        TaskPoll::Completed {
            task: info(),
            outcome: TaskOutcome::NoResult
        }
    );
}

#[test]
fn task_garbage_is_decode_error() {
    assert!(task(b"{}").is_err());
    assert!(task(b"nope").is_err());
}

#[test]
fn job_merge() {
    let config = br#"{"count":1,"jobs":[{"job_id":"j1","job_type":"anomaly_detector",
        "blocked":{"reason":"reset","task_id":"m:12"},"model_snapshot_id":"1700"}]}"#;
    let stats = br#"{"count":1,"jobs":[{"job_id":"j1","state":"closed",
        "data_counts":{"processed_record_count":42,"latest_record_timestamp":1700000000123}}]}"#;
    assert_eq!(
        job("j1", config, stats).unwrap(),
        JobDecode::Found(Job {
            id: "j1".into(),
            state: JobState::Closed,
            blocked: Some(Blocked {
                reason: BlockReason::Reset,
                task_id: Some("m:12".into())
            }),
            model_snapshot_id: Some("1700".into()),
            processed_record_count: 42,
            latest_record_time_ms: Some(1_700_000_000_123),
            protected: false,
            datafeed_id: None,
            custom_settings: None,
        })
    );
}

#[test]
fn job_merge_fresh_job() {
    let config = br#"{"count":1,"jobs":[{"job_id":"j1"}]}"#;
    let stats = br#"{"count":1,"jobs":[{"job_id":"j1","state":"opened","data_counts":{"processed_record_count":0}}]}"#;
    let JobDecode::Found(j) = job("j1", config, stats).unwrap() else {
        panic!("missing")
    };
    assert_eq!(j.state, JobState::Opened);
    assert_eq!(j.blocked, None);
    assert_eq!(j.model_snapshot_id, None);
    assert_eq!(j.latest_record_time_ms, None);
}

#[test]
fn job_missing_or_unknown_values() {
    let stats = br#"{"count":1,"jobs":[{"job_id":"j1","state":"closed"}]}"#;
    assert_eq!(
        job("j1", br#"{"count":0,"jobs":[]}"#, stats).unwrap(),
        JobDecode::Missing
    );
    assert_eq!(
        job("other", br#"{"jobs":[{"job_id":"j1"}]}"#, stats).unwrap(),
        JobDecode::Missing
    );
    let weird = br#"{"jobs":[{"job_id":"j1","state":"hibernating"}]}"#;
    assert!(
        job("j1", br#"{"jobs":[{"job_id":"j1"}]}"#, weird)
            .unwrap_err()
            .contains("hibernating")
    );
    let blocked = br#"{"jobs":[{"job_id":"j1","blocked":{"reason":"frozen"}}]}"#;
    assert!(job("j1", blocked, stats).is_err());
}

#[test]
fn reset_and_close_answers() {
    assert_eq!(
        reset_task(br#"{"task":"oTUltX4IQMOUUVeiohTt8A:39"}"#).unwrap(),
        "oTUltX4IQMOUUVeiohTt8A:39"
    );
    assert!(
        reset_task(br#"{"acknowledged":true}"#)
            .unwrap_err()
            .contains("synchronously")
    );
    assert!(reset_task(br#"{"task":""}"#).is_err());
    assert!(closed(br#"{"closed":true}"#).is_ok());
    assert!(closed(br#"{"closed":false}"#).is_err());
}

#[test]
fn cluster_info_answer() {
    let body = br#"{"defaults":{},"upgrade_mode":true,"native_code":{"version":"8.13.4","build_hash":"x"},"limits":{}}"#;
    assert_eq!(
        cluster_info(body).unwrap(),
        ClusterInfo {
            version: "8.13.4".into(),
            upgrade_mode: true,
        }
    );
    let no_ml_node = br#"{"defaults":{},"upgrade_mode":false,"native_code":{},"limits":{}}"#;
    assert_eq!(cluster_info(no_ml_node).unwrap().version, UNKNOWN_VERSION);
}

#[test]
fn job_protected_by_its_custom_settings() {
    let stats = br#"{"count":1,"jobs":[{"job_id":"j1","state":"closed","data_counts":{"processed_record_count":0}}]}"#;
    for (settings, want) in [
        (
            r#"{"jobreset_k8s_io":{"protected":true},"created_by":"ml-module"}"#,
            true,
        ),
        (r#"{"jobreset_k8s_io":{"protected":false}}"#, false),
        (r#"{"jobreset_k8s_io":{"protected":"yes"}}"#, false),
        (r#"{"custom_urls":[]}"#, false),
    ] {
        let config =
            format!(r#"{{"count":1,"jobs":[{{"job_id":"j1","custom_settings":{settings}}}]}}"#);
        let JobDecode::Found(j) = job("j1", config.as_bytes(), stats).unwrap() else {
            panic!("missing")
        };
        assert_eq!(j.protected, want, "{settings}");
    }
}

#[test]
fn an_update_answer_is_the_jobs_configuration_after_it() {
    let body = br#"{"job_id":"j","custom_settings":{"jobreset_k8s_io":{"protected":true}},"blocked":{"reason":"reset","task_id":"n:1"}}"#;
    let u = updated_job("j", body).expect("a job's configuration");
    assert!(u.blocked && u.protected, "{u:?}");
    assert!(u.custom_settings.is_some());
    let plain = br#"{"job_id":"j","description":"d"}"#;
    let u = updated_job("j", plain).expect("a job's configuration");
    assert!(
        !u.blocked && !u.protected && u.custom_settings.is_none(),
        "{u:?}"
    );
    // Another job's answer, or none at all, is not taken for this one's.
    assert_eq!(updated_job("other", plain), None);
    assert_eq!(updated_job("j", b"not json"), None);
}

#[test]
fn the_configuration_alone_gives_the_block_and_the_ledger() {
    let body = br#"{"count":1,"jobs":[{"job_id":"j","blocked":{"reason":"reset","task_id":"n:7"},"custom_settings":{"a":1}}]}"#;
    let v = job_config("j", body).expect("decodes").expect("the job");
    assert_eq!(
        v.blocked,
        Some(Blocked {
            reason: BlockReason::Reset,
            task_id: Some("n:7".into())
        })
    );
    assert_eq!(v.custom_settings, Some(serde_json::json!({"a": 1})));
    assert_eq!(job_config("other", body), Ok(None));
    assert!(job_config("j", b"{").is_err());
}

#[test]
fn a_job_answer_holds_no_large_tree() {
    let stats = br#"{"count":1,"jobs":[{"job_id":"j1","state":"closed"}]}"#;
    // The datafeed's query is skipped, however large; only its id is read.
    let terms = vec!["\"t\""; 200_000].join(",");
    let config = format!(
        r#"{{"jobs":[{{"job_id":"j1","datafeed_config":{{"datafeed_id":"df-1",
           "query":{{"terms":{{"f":[{terms}]}}}}}}}}]}}"#
    );
    let found = job("j1", config.as_bytes(), stats);
    assert!(
        matches!(&found, Ok(JobDecode::Found(j)) if j.datafeed_id.as_deref() == Some("df-1")),
        "{found:?}"
    );
    // custom_settings is kept, so it is bounded.
    let zeros = vec!["0"; 200_000].join(",");
    let config = format!(r#"{{"jobs":[{{"job_id":"j1","custom_settings":{{"a":[{zeros}]}}}}]}}"#);
    let err = job("j1", config.as_bytes(), stats)
        .err()
        .unwrap_or_default();
    assert!(err.contains("more than 100000 values"), "{err}");
    // A time that is a tree is refused, not held.
    let stats = br#"{"jobs":[{"job_id":"j1","state":"closed","data_counts":{"latest_record_timestamp":[1,2]}}]}"#;
    assert!(job("j1", br#"{"jobs":[{"job_id":"j1"}]}"#, stats).is_err());
}
