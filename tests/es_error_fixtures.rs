//! Every refusal in `tests/fixtures/es-errors.json` (Elasticsearch's exact answers, per
//! version), served by a loopback server to the real client, then through `decide` with the
//! look at the job (and at ML's upgrade mode) that the fixture describes: each ends where
//! the fixture says. Decisions rest on status, type and the job; the strings are kept so a
//! change in them shows. Does I/O: a loopback HTTP server per case.

use std::time::Duration;

use jobreset_operator::api::{
    ElasticsearchSpec, JobFingerprint, JobResetSpec, JobResetStatus, Phase,
};
use jobreset_operator::es::{
    BlockReason, Blocked, EsClient, EsConfig, EsError, Job, JobState, TaskPoll,
};
use jobreset_operator::run::decide::{Action, Input, JobRead, Observation, Op, decide};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OPAQUE: &str = "jobreset/ns/r/uid-1";

/// Answers every request with `status` and `body`.
async fn server(status: u16, body: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = conn.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn error_body(case: &Value) -> Value {
    match case.get("plain").and_then(Value::as_str) {
        Some(text) => json!({"error": text, "status": case["status"]}),
        None => {
            let e = &case["error"];
            json!({"error": {"root_cause": [e], "type": e["type"], "reason": e["reason"]},
                   "status": case["status"]})
        }
    }
}

fn task_answer(case: &Value) -> Value {
    let mut a = json!({
        "completed": true,
        "task": {"node": "n1", "id": 39, "type": "transport",
                 "action": "cluster:admin/xpack/ml/job/reset", "description": "job-j",
                 "start_time_in_millis": 1_700_000_000_000i64, "running_time_in_nanos": 1,
                 "cancellable": true, "headers": {"X-Opaque-Id": format!("{OPAQUE}/1")}},
    });
    match case.get("acknowledged") {
        Some(ack) => a["response"] = json!({"acknowledged": ack}),
        None => a["error"] = case["error"].clone(),
    }
    a
}

fn job_of(case: &Value) -> Option<Job> {
    let j = case.get("job")?.as_object()?;
    let state = match j.get("state").and_then(Value::as_str) {
        Some("failed") => JobState::Failed,
        Some("opened") => JobState::Opened,
        Some("opening") => JobState::Opening,
        _ => JobState::Closed,
    };
    let blocked = j.get("blocked").and_then(Value::as_str).map(|r| Blocked {
        reason: match r {
            "delete" => BlockReason::Delete,
            "revert" => BlockReason::Revert,
            _ => BlockReason::Reset,
        },
        task_id: Some("m:1".into()),
    });
    Some(Job {
        id: "j".into(),
        state,
        blocked,
        model_snapshot_id: Some("1700".into()),
        processed_record_count: 1000,
        latest_record_time_ms: Some(1_699_999_000_000),
        protected: false,
        datafeed_id: None,
        custom_settings: None,
    })
}

#[tokio::test]
async fn every_recorded_answer_ends_where_it_should() {
    let text = include_str!("fixtures/es-errors.json");
    let fixtures: Value = serde_json::from_str(text).expect("fixtures parse");
    let cases = fixtures["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20);
    for case in cases {
        let name = format!(
            "{} (Elasticsearch {})",
            case["name"].as_str().unwrap(),
            case["versions"]
        );
        let call = case["call"].as_str().unwrap();
        let (status, body) = match call {
            "task" => (200, task_answer(case)),
            _ => (case["status"].as_u64().unwrap() as u16, error_body(case)),
        };
        let url = server(status, body.to_string()).await;
        let es = EsClient::new(EsConfig {
            url,
            auth: None,
            ca_pem: None,
            insecure_skip_verify: false,
            opaque_id: Some(OPAQUE.into()),
            request_timeout: Duration::from_secs(10),
        })
        .unwrap();
        let spec = JobResetSpec {
            delete_user_annotations: call == "reset_dua",
            ..JobResetSpec::for_job("j", ElasticsearchSpec::default())
        };
        let now = jiff::Timestamp::from_second(1_700_000_010).unwrap();
        let inp = Input {
            spec: &spec,
            generation: Some(1),
            now,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            opaque_id: OPAQUE,
            known_unsent: false,
        };
        let mut s = JobResetStatus {
            phase: Phase::Resetting,
            elasticsearch_version: Some("8.15.0".into()),
            start_time: Some("2023-11-14T22:13:20Z".into()),
            reset_requests: 1,
            job_fingerprint: Some(JobFingerprint {
                model_snapshot_id: Some("1700".into()),
                processed_record_count: 1000,
                latest_record_time_ms: Some(1_699_999_000_000),
            }),
            reset_requested_time: Some("2023-11-14T22:13:20Z".into()),
            ..Default::default()
        };
        let obs = match call {
            "close" => {
                s.phase = Phase::Closing;
                let error = es.close_job("j", false, "30m").await.unwrap_err();
                Observation::EsFailed {
                    op: Op::Close { force: false },
                    error,
                }
            }
            "reset" | "reset_dua" => {
                let error = es.reset_job("j", call == "reset_dua", 1).await.unwrap_err();
                Observation::EsFailed {
                    op: Op::PostReset,
                    error,
                }
            }
            _ => {
                s.task_id = Some("n1:39".into());
                let poll = es.wait_task("n1:39", Duration::from_secs(1)).await;
                if case["expect"] == "still running" {
                    assert!(
                        matches!(poll, Ok(TaskPoll::StillRunning)),
                        "{name}: {poll:?}"
                    );
                    continue;
                }
                Observation::Task(poll.unwrap_or_else(|e| panic!("{name}: {e}")))
            }
        };
        // Follow the looks at the job and at upgrade mode the refusal asks for.
        let (mut action, mut next) = decide(&inp, &s, obs);
        for _ in 0..4 {
            let obs = match &action {
                Action::ReadJob(
                    read @ (JobRead::CloseRefused
                    | JobRead::ResetRefused
                    | JobRead::AfterTaskNotFound),
                ) => match job_of(case) {
                    Some(job) => Observation::Job { job, read: *read },
                    // The job is gone: what the job read then answers.
                    None => Observation::EsFailed {
                        op: Op::ReadJob(*read),
                        error: EsError::Api {
                            what: "GET /_ml/anomaly_detectors/j".into(),
                            status: 404,
                            kind: "resource_not_found_exception".into(),
                            reason: "No known job with id 'j'".into(),
                        },
                    },
                },
                Action::CheckUpgradeMode => {
                    Observation::UpgradeMode(case["upgrade_mode"].as_bool().unwrap_or(false))
                }
                _ => break,
            };
            (action, next) = decide(&inp, &next, obs);
        }
        let expect = case["expect"].as_str().unwrap();
        match expect {
            "close with force" => assert_eq!(action, Action::Close { force: true }, "{name}"),
            "retry" => {
                assert!(matches!(action, Action::Requeue(_)), "{name}: {action:?}");
                assert_eq!((next.phase, next.attempts), (s.phase, 1), "{name}");
            }
            "read the job" => assert_eq!(action, Action::ReadJob(JobRead::Recover), "{name}"),
            reason => {
                assert_eq!(next.reason.as_deref(), Some(reason), "{name}: {next:#?}");
                let phase = if reason == "UpgradeInProgress" {
                    Phase::Resetting
                } else {
                    Phase::Failed
                };
                assert_eq!(next.phase, phase, "{name}");
            }
        }
    }
}
