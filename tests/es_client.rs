//! Integration tests of the typed Elasticsearch client (`jobreset_operator::es`) against the
//! in-process ES ML simulator: every call, both long-poll timeout modes, auth, TLS, faults.
//! Network I/O on loopback only; no Kubernetes needed. Waits are conditions with deadlines.

mod common;

use std::time::Duration;

use common::{job_body, pki};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::es::{
    Auth, BlockReason, EsClient, EsConfig, EsError, JobState, TaskOutcome, TaskPoll,
};
use serde_json::json;

const RESET_ACTION: &str = "cluster:admin/xpack/ml/job/reset";
const DEADLINE: Duration = Duration::from_secs(20);

fn config(url: String) -> EsConfig {
    EsConfig {
        url,
        auth: None,
        ca_pem: None,
        insecure_skip_verify: false,
        opaque_id: Some("jobreset/test/es-client/uid-1".to_owned()),
        request_timeout: Duration::from_secs(10),
    }
}

async fn sim(version: &str) -> es_ml_sim::Sim {
    es_ml_sim::start(SimConfig {
        version: version.to_owned(),
        ..Default::default()
    })
    .await
    .expect("simulator starts")
}

fn client(sim: &es_ml_sim::Sim) -> EsClient {
    EsClient::new(config(sim.url())).expect("client builds")
}

/// Follows a task to its end with long-polls of `wait`, counting "still running" answers.
async fn follow(es: &EsClient, task: &str, wait: Duration) -> (TaskPoll, u32) {
    let mut still = 0;
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        assert!(
            tokio::time::Instant::now() < end,
            "task {task} did not finish in time"
        );
        match es.wait_task(task, wait).await.expect("task poll") {
            TaskPoll::StillRunning => still += 1,
            TaskPoll::Running(_) => {}
            done => return (done, still),
        }
    }
}

#[tokio::test]
async fn info_reports_the_version_from_ml_info() {
    let sim = sim("8.15.0").await;
    let info = client(&sim).info().await.expect("info");
    assert_eq!(info.version, "8.15.0");
    assert_eq!(
        sim.control().count(Endpoint::Info),
        0,
        "GET / needs more than manage_ml"
    );
}

#[tokio::test]
async fn job_merges_config_and_stats() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-merge", job_body()).unwrap();
    ctl.set_model_snapshot_id("j-merge", Some("1700000000"));
    ctl.open_job("j-merge").unwrap();
    let es = client(&sim);

    let job = es.job("j-merge").await.expect("job");
    assert_eq!(job.id, "j-merge");
    assert_eq!(job.state, JobState::Opened);
    assert_eq!(job.blocked, None);
    assert_eq!(job.model_snapshot_id.as_deref(), Some("1700000000"));

    ctl.set_blocked("j-merge", Some("reset"), Some("master:7"));
    let job = es.job("j-merge").await.expect("job");
    let blocked = job.blocked.expect("blocked");
    assert_eq!(blocked.reason, BlockReason::Reset);
    assert_eq!(blocked.task_id.as_deref(), Some("master:7"));
}

#[tokio::test]
async fn missing_job_is_not_found() {
    let sim = sim("8.15.0").await;
    let err = client(&sim).job("no-such-job").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.kind(), Some("resource_not_found_exception"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn close_sends_query_parameters_and_no_body() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-close", job_body()).unwrap();
    ctl.open_job("j-close").unwrap();
    let es = client(&sim);

    es.close_job("j-close", false, "30s").await.expect("close");
    assert_eq!(es.job("j-close").await.unwrap().state, JobState::Closed);
    // Closing a closed job is not an error.
    es.close_job("j-close", false, "30s")
        .await
        .expect("close again");

    let closes: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobClose)
        .collect();
    assert_eq!(closes.len(), 2);
    assert_eq!(closes[0].method, "POST");
    assert!(
        closes[0].query.contains("force=false"),
        "{}",
        closes[0].query
    );
    assert!(
        closes[0].query.contains("timeout=30s"),
        "{}",
        closes[0].query
    );
}

#[tokio::test]
async fn failed_job_needs_force() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-failed", job_body()).unwrap();
    ctl.open_job("j-failed").unwrap();
    ctl.fail_job("j-failed");
    let es = client(&sim);
    assert_eq!(es.job("j-failed").await.unwrap().state, JobState::Failed);

    let err = es.close_job("j-failed", false, "30s").await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(err.to_string().contains("use force close"), "{err}");

    es.close_job("j-failed", true, "30s")
        .await
        .expect("force close");
    assert_eq!(es.job("j-failed").await.unwrap().state, JobState::Closed);
}

#[tokio::test]
async fn invalid_close_timeout_is_refused_before_any_request() {
    let sim = sim("8.15.0").await;
    let err = client(&sim)
        .close_job("j", false, "soon")
        .await
        .unwrap_err();
    assert!(matches!(err, EsError::Config(_)), "{err}");
    assert_eq!(sim.control().count(Endpoint::JobClose), 0);
}

#[tokio::test]
async fn reset_returns_task_and_follow_reports_acknowledged() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-reset", job_body()).unwrap();
    ctl.set_model_snapshot_id("j-reset", Some("snap-1"));
    let es = client(&sim);

    let task = es.reset_job("j-reset", false, 1).await.expect("reset");
    assert!(task.starts_with(&format!("{}:", sim.node_id())), "{task}");
    let (done, _) = follow(&es, &task, Duration::from_secs(5)).await;
    let TaskPoll::Completed {
        task: info,
        outcome,
    } = done
    else {
        panic!("{done:?}")
    };
    assert_eq!(outcome, TaskOutcome::Acknowledged);
    assert_eq!(info.action, RESET_ACTION);
    assert_eq!(info.description, "job-j-reset");
    assert!(info.start_time_ms > 0);

    let job = es.job("j-reset").await.unwrap();
    assert_eq!(job.blocked, None);
    assert_eq!(job.model_snapshot_id, None);
    assert_eq!(ctl.resets_started("j-reset"), 1);

    let resets: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobReset)
        .collect();
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].query, "wait_for_completion=false");
}

#[tokio::test]
async fn opaque_id_is_sent_on_every_request() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-opaque", job_body()).unwrap();
    let es = client(&sim);
    es.info().await.unwrap();
    es.job("j-opaque").await.unwrap();
    es.close_job("j-opaque", false, "1m").await.unwrap();
    let task = es.reset_job("j-opaque", false, 3).await.unwrap();
    let (poll, _) = follow(&es, &task, Duration::from_secs(5)).await;

    let reqs: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint != Endpoint::Control)
        .collect();
    assert!(reqs.len() >= 6, "{reqs:?}");
    for r in &reqs {
        // The reset request is numbered: its task keeps the id, and tells it from any other.
        let want = if r.endpoint == Endpoint::JobReset {
            "jobreset/test/es-client/uid-1/3"
        } else {
            "jobreset/test/es-client/uid-1"
        };
        assert_eq!(r.opaque_id.as_deref(), Some(want), "{r:?}");
    }
    let kept = match poll {
        TaskPoll::Completed { task, .. } => task.opaque_id,
        other => panic!("{other:?}"),
    };
    assert_eq!(kept.as_deref(), Some("jobreset/test/es-client/uid-1/3"));
}

#[tokio::test]
async fn reset_of_an_open_job_fails_in_the_task() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-open", job_body()).unwrap();
    ctl.open_job("j-open").unwrap();
    let es = client(&sim);

    // The async POST is accepted; the validation error arrives as the task's stored error.
    let task = es
        .reset_job("j-open", false, 1)
        .await
        .expect("reset accepted");
    let (done, _) = follow(&es, &task, Duration::from_secs(5)).await;
    let TaskPoll::Completed {
        outcome: TaskOutcome::Failed(cause),
        ..
    } = done
    else {
        panic!("{done:?}")
    };
    assert_eq!(cause.kind, "status_exception");
    assert_eq!(cause.reason, "Can only reset a job when it is closed.");
}

#[tokio::test]
async fn delete_user_annotations_only_when_asked() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-ann", job_body()).unwrap();
    ctl.add_user_annotation("j-ann");
    ctl.add_auto_annotation("j-ann");
    let es = client(&sim);

    let task = es.reset_job("j-ann", true, 1).await.expect("reset");
    let (done, _) = follow(&es, &task, Duration::from_secs(5)).await;
    assert!(
        matches!(
            done,
            TaskPoll::Completed {
                outcome: TaskOutcome::Acknowledged,
                ..
            }
        ),
        "{done:?}"
    );
    let view = ctl.job("j-ann").unwrap();
    assert_eq!((view.user_annotations, view.auto_annotations), (0, 0));
    let reset = ctl
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::JobReset)
        .unwrap();
    assert!(
        reset.query.contains("delete_user_annotations=true"),
        "{}",
        reset.query
    );
}

#[tokio::test]
async fn delete_user_annotations_before_8_7_is_an_unrecognized_parameter() {
    let sim = sim("8.6.2").await;
    sim.control().put_job("j-old", job_body()).unwrap();
    let es = client(&sim);
    let err = es.reset_job("j-old", true, 1).await.unwrap_err();
    assert!(err.is_illegal_argument(), "{err}");
    assert!(!err.is_transient());
    // Without the flag the same version resets.
    let task = es.reset_job("j-old", false, 1).await.expect("reset");
    let (done, _) = follow(&es, &task, Duration::from_secs(5)).await;
    assert!(
        matches!(
            done,
            TaskPoll::Completed {
                outcome: TaskOutcome::Acknowledged,
                ..
            }
        ),
        "{done:?}"
    );
}

#[tokio::test]
async fn no_reset_api_before_7_14() {
    let sim = sim("7.13.4").await;
    sim.control().put_job("j-713", job_body()).unwrap();
    let err = client(&sim).reset_job("j-713", false, 1).await.unwrap_err();
    assert!(err.is_unsupported_api(), "{err}");
    assert_eq!(err.status_code(), Some(400));
}

async fn long_poll_times_out(version: &str, status: u16) {
    let sim = sim(version).await;
    let ctl = sim.control();
    ctl.put_job("j-slow", job_body()).unwrap();
    ctl.set_reset_duration(Some("j-slow"), Duration::from_secs(3));
    let es = client(&sim);

    let task = es.reset_job("j-slow", false, 1).await.expect("reset");
    // A 100 ms wait ends long before the 3 s reset: ES answers `timeout_exception`.
    let (done, still) = follow(&es, &task, Duration::from_millis(100)).await;
    assert!(still >= 1, "no timeout answer seen");
    assert!(
        matches!(
            done,
            TaskPoll::Completed {
                outcome: TaskOutcome::Acknowledged,
                ..
            }
        ),
        "{done:?}"
    );
    let timeouts = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::TaskGet && r.status == status)
        .count();
    assert_eq!(
        timeouts as u32, still,
        "every StillRunning came from an HTTP {status}"
    );
    let poll = ctl
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::TaskGet)
        .unwrap();
    assert!(
        poll.query.contains("wait_for_completion=true"),
        "{}",
        poll.query
    );
    assert!(poll.query.contains("timeout=100ms"), "{}", poll.query);
}

#[tokio::test]
async fn long_poll_timeout_is_500_in_8x_and_still_running() {
    long_poll_times_out("8.15.0", 500).await;
}

#[tokio::test]
async fn long_poll_timeout_is_429_in_9x_and_still_running() {
    long_poll_times_out("9.1.0", 429).await;
}

#[tokio::test]
async fn unknown_task_is_not_found() {
    let sim = sim("8.15.0").await;
    let es = client(&sim);
    let own = format!("{}:4242", sim.node_id());
    assert_eq!(
        es.wait_task(&own, Duration::from_secs(1)).await.unwrap(),
        TaskPoll::NotFound
    );
    // A node that is not in the cluster: also 404.
    assert_eq!(
        es.wait_task("AAAAAAAAAAAAAAAAAAAAAA:1", Duration::from_secs(1))
            .await
            .unwrap(),
        TaskPoll::NotFound
    );
}

#[tokio::test]
async fn malformed_task_id_is_a_bad_request() {
    let sim = sim("8.15.0").await;
    let err = client(&sim)
        .wait_task("not-a-task", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(400), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn task_number_reused_after_node_restart_shows_another_job() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-first", job_body()).unwrap();
    ctl.put_job("j-second", job_body()).unwrap();
    ctl.set_reset_duration(None, Duration::from_secs(30));
    let es = client(&sim);

    let first = es.reset_job("j-first", false, 1).await.unwrap();
    ctl.restart_node(true);
    let second = es.reset_job("j-second", false, 1).await.unwrap();
    assert_eq!(
        first, second,
        "the simulator restarts task numbers after a node restart"
    );
    // The recorded id now names the other job's task; only the task's description tells.
    let TaskPoll::Running(info) = es.task(&first).await.unwrap() else {
        panic!("running")
    };
    assert_eq!(info.action, RESET_ACTION);
    assert_eq!(info.description, "job-j-second");
    assert_eq!(
        es.wait_task(&first, Duration::from_millis(50))
            .await
            .unwrap(),
        TaskPoll::StillRunning
    );
}

#[tokio::test]
async fn injected_503_and_429_are_transient_api_errors() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-burst", job_body()).unwrap();
    let es = client(&sim);
    ctl.fail_next(
        Endpoint::JobReset,
        1,
        503,
        json!({"error": {"type": "master_not_discovered_exception", "reason": "no master"}, "status": 503}),
    );
    ctl.fail_next(
        Endpoint::JobReset,
        1,
        429,
        json!({"error": {"type": "es_rejected_execution_exception", "reason": "rejected execution"}, "status": 429}),
    );
    let e1 = es.reset_job("j-burst", false, 1).await.unwrap_err();
    assert!(e1.is_transient());
    assert_eq!(e1.kind(), Some("master_not_discovered_exception"));
    assert_eq!(e1.reason(), "ElasticsearchError");
    let e2 = es.reset_job("j-burst", false, 1).await.unwrap_err();
    assert!(e2.is_transient());
    assert_eq!(e2.reason(), "TooManyRequests");
    es.reset_job("j-burst", false, 1)
        .await
        .expect("third attempt goes through");
    assert_eq!(ctl.resets_started("j-burst"), 1);
}

#[tokio::test]
async fn dropped_connection_is_a_connect_error() {
    let sim = sim("8.15.0").await;
    sim.control().drop_next(Endpoint::MlInfo, 1);
    let err = client(&sim).info().await.unwrap_err();
    assert!(matches!(err, EsError::Connect { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn hanging_request_times_out() {
    let sim = sim("8.15.0").await;
    sim.control().hang_next(Endpoint::MlInfo, 1);
    let mut cfg = config(sim.url());
    cfg.request_timeout = Duration::from_millis(300);
    let err = EsClient::new(cfg).unwrap().info().await.unwrap_err();
    assert!(matches!(err, EsError::Timeout { .. }), "{err}");
    assert_eq!(err.reason(), "ElasticsearchTimeout");
}

#[tokio::test]
async fn long_poll_outlives_the_request_timeout() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-long", job_body()).unwrap();
    ctl.set_reset_duration(Some("j-long"), Duration::from_millis(800));
    let mut cfg = config(sim.url());
    // Shorter than the reset: the long-poll must use wait + request timeout, not this alone.
    cfg.request_timeout = Duration::from_millis(300);
    let es = EsClient::new(cfg).unwrap();
    let task = es.reset_job("j-long", false, 1).await.unwrap();
    let poll = es
        .wait_task(&task, Duration::from_secs(10))
        .await
        .expect("no client timeout");
    assert!(
        matches!(
            poll,
            TaskPoll::Completed {
                outcome: TaskOutcome::Acknowledged,
                ..
            }
        ),
        "{poll:?}"
    );
}

#[tokio::test]
async fn es_down_then_back() {
    let sim = sim("8.15.0").await;
    let es = client(&sim);
    sim.stop_listening().await;
    let err = es.info().await.unwrap_err();
    eprintln!("ES down: {err}");
    assert!(matches!(err, EsError::Connect { .. }), "{err}");
    assert!(err.is_transient());
    sim.resume_listening().await.unwrap();
    es.info().await.expect("answers again");
}

fn secured() -> es_ml_sim::Security {
    let mut s = es_ml_sim::Security::default();
    s.users.push(es_ml_sim::User {
        username: "resetter".into(),
        password: "pw-correct-horse".into(),
        roles: vec!["resetter".into()],
    });
    s.users.push(es_ml_sim::User {
        username: "mladmin".into(),
        password: "pw-ml-admin".into(),
        roles: vec!["machine_learning_admin".into()],
    });
    s.api_keys.push(es_ml_sim::ApiKey {
        id: "key-id".into(),
        key: "key-secret-value".into(),
        roles: vec!["resetter".into()],
    });
    s.roles.insert(
        "resetter".into(),
        vec!["manage_ml".into(), "cluster:monitor/task/get".into()],
    );
    s
}

#[tokio::test]
async fn basic_auth_and_api_key() {
    let sim = es_ml_sim::start(SimConfig {
        security: Some(secured()),
        ..Default::default()
    })
    .await
    .unwrap();
    sim.control().put_job("j-auth", job_body()).unwrap();

    let mut cfg = config(sim.url());
    cfg.auth = Some(Auth::Basic {
        username: "resetter".into(),
        password: "pw-correct-horse".into(),
    });
    let es = EsClient::new(cfg).unwrap();
    let task = es.reset_job("j-auth", false, 1).await.expect("basic auth");
    follow(&es, &task, Duration::from_secs(5)).await;

    let mut cfg = config(sim.url());
    let key = es_ml_sim::ApiKey {
        id: "key-id".into(),
        key: "key-secret-value".into(),
        roles: vec![],
    };
    cfg.auth = Some(Auth::ApiKey(key.encoded()));
    let es = EsClient::new(cfg).unwrap();
    es.job("j-auth").await.expect("api key");
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_and_never_echoed() {
    let sim = es_ml_sim::start(SimConfig {
        security: Some(secured()),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut cfg = config(sim.url());
    cfg.auth = Some(Auth::Basic {
        username: "resetter".into(),
        password: "wrong-password-123".into(),
    });
    let err = EsClient::new(cfg).unwrap().info().await.unwrap_err();
    assert_eq!(err.reason(), "Unauthorized");
    assert!(!err.is_transient());
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wrong-password-123"), "{text}");

    let mut cfg = config(sim.url());
    cfg.auth = Some(Auth::ApiKey("bm90LWEta2V5Om5vcGU=".into()));
    let err = EsClient::new(cfg).unwrap().info().await.unwrap_err();
    assert_eq!(err.reason(), "Unauthorized");
    assert!(!format!("{err} {err:?}").contains("bm90LWEta2V5Om5vcGU="));

    let err = client(&sim).info().await.unwrap_err();
    assert_eq!(err.reason(), "Unauthorized", "no credentials");
}

#[tokio::test]
async fn missing_task_privilege_is_forbidden_on_the_poll() {
    let sim = es_ml_sim::start(SimConfig {
        security: Some(secured()),
        ..Default::default()
    })
    .await
    .unwrap();
    sim.control().put_job("j-priv", job_body()).unwrap();
    let mut cfg = config(sim.url());
    cfg.auth = Some(Auth::Basic {
        username: "mladmin".into(),
        password: "pw-ml-admin".into(),
    });
    let es = EsClient::new(cfg).unwrap();
    let task = es
        .reset_job("j-priv", false, 1)
        .await
        .expect("manage_ml may reset");
    let err = es
        .wait_task(&task, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "Forbidden");
    assert!(
        err.to_string().contains("cluster:monitor/task/get"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_with_a_ca_bundle() {
    let certs = pki();
    let sim = es_ml_sim::start(SimConfig {
        tls: Some(certs.server.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(sim.url().starts_with("https://"));

    let mut cfg = config(sim.url());
    cfg.ca_pem = Some(certs.ca_pem.clone().into_bytes());
    EsClient::new(cfg)
        .unwrap()
        .info()
        .await
        .expect("trusted by the CA bundle");

    // Another CA: the handshake fails, reported as a connection problem.
    let other = pki();
    let mut cfg = config(sim.url());
    cfg.ca_pem = Some(other.ca_pem.into_bytes());
    let err = EsClient::new(cfg).unwrap().info().await.unwrap_err();
    assert!(matches!(err, EsError::Connect { .. }), "{err}");
    eprintln!("untrusted certificate: {err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    let mut cfg = config(sim.url());
    cfg.insecure_skip_verify = true;
    EsClient::new(cfg)
        .unwrap()
        .info()
        .await
        .expect("verification skipped");
}

#[tokio::test]
async fn an_endless_answer_is_cut_off() {
    // A server behind a tenant's `url` that sends an answer without end: the operator must
    // not buffer it (its memory limit is 256 MiB).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if conn.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 1 << 16, " ".repeat(1 << 16));
                while conn.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    let es = EsClient::new(config(format!("http://{addr}"))).expect("client builds");
    let err = es
        .info()
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("larger than 16 MiB"), "{err}");
}

#[tokio::test]
async fn running_reset_tasks_are_listed_with_their_request_ids() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-listed", job_body()).unwrap();
    ctl.set_reset_duration(Some("j-listed"), Duration::from_secs(3600));
    let es = client(&sim);
    let task = es.reset_job("j-listed", false, 2).await.unwrap();
    let tasks = es.reset_tasks().await.expect("list");
    let mine: Vec<_> = tasks.iter().filter(|t| t.task_id() == task).collect();
    assert_eq!(mine.len(), 1, "{tasks:?}");
    assert_eq!(mine[0].description, "job-j-listed");
    assert_eq!(
        mine[0].opaque_id.as_deref(),
        Some("jobreset/test/es-client/uid-1/2")
    );
    ctl.finish_reset("j-listed");
}

#[tokio::test]
async fn privileges_are_checked_and_security_off_is_told_apart_from_a_fault() {
    use jobreset_operator::es::Privileges;
    const NEEDED: [&str; 2] = ["manage_ml", "cluster:monitor/task/get"];
    let sim = es_ml_sim::start(SimConfig {
        security: Some(secured()),
        ..Default::default()
    })
    .await
    .unwrap();
    let as_user = |u: &str, p: &str| {
        let mut cfg = config(sim.url());
        cfg.auth = Some(Auth::Basic {
            username: u.into(),
            password: p.into(),
        });
        EsClient::new(cfg).unwrap()
    };
    let all = as_user("resetter", "pw-correct-horse")
        .privileges(&NEEDED)
        .await
        .unwrap();
    assert!(all.missing().is_empty(), "{all:?}");
    let ml = as_user("mladmin", "pw-ml-admin")
        .privileges(&NEEDED)
        .await
        .unwrap();
    assert_eq!(ml.missing(), vec!["cluster:monitor/task/get".to_owned()]);
    // A server fault that looks like "security off" is not taken for it: _xpack says on.
    sim.control().fail_next(
        Endpoint::HasPrivileges,
        1,
        500,
        serde_json::json!({"error": {"type": "exception", "reason": "boom"}, "status": 500}),
    );
    let err = as_user("resetter", "pw-correct-horse")
        .privileges(&NEEDED)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");

    let open = es_ml_sim::start(SimConfig::default()).await.unwrap();
    let off = client(&open).privileges(&NEEDED).await.unwrap();
    assert_eq!(off, Privileges::SecurityOff);
}
