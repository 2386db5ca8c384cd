//! Faults end to end (real API server, in-process controller, ES ML simulator per test): the
//! reset's asynchronous error, task-id reuse after a node restart, long-poll timeouts in the
//! 8.x (500) and 9.x (429) modes, a vanished task before and from 8.13, adopting a reset already
//! running, Elasticsearch down (before and during the reset) then back, 429/503 bursts, wrong
//! credentials, a Secret created late, two JobResets for one job, the deadline; also a job
//! deleted mid-reset, a slow close, an unstoppable datafeed, old versions, blocked jobs and a
//! node restart that fails the reset task; a finished reset recorded while a hanging call holds
//! every slot. Waits are watches with deadlines, never sleeps.
//! Does I/O (Kubernetes, loopback HTTP).

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{World, security, track_max_in_phase};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::Phase;
use jobreset_operator::controller::Options;
use jobreset_operator::es::{EsClient, EsConfig};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::json;

fn version(v: &str) -> SimConfig {
    SimConfig {
        version: v.to_owned(),
        ..Default::default()
    }
}

/// A client of the simulator for the test's own calls (e.g. a reset someone else starts).
fn es(w: &World) -> EsClient {
    EsClient::new(EsConfig {
        url: w.sim.url(),
        auth: None,
        ca_pem: None,
        insecure_skip_verify: false,
        opaque_id: Some("someone-else".to_owned()),
        request_timeout: Duration::from_secs(10),
    })
    .expect("client")
}

/// The calls the simulator logged that change a job (close, reset, datafeed stop).
fn touching_calls(w: &World) -> Vec<String> {
    w.ctl()
        .requests()
        .iter()
        .filter(|r| {
            matches!(
                r.endpoint,
                Endpoint::JobClose | Endpoint::JobReset | Endpoint::DatafeedStop
            )
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_privilege_fails_the_run_before_the_job_is_touched() {
    // `closer` may close and read but not reset; `mladmin` (machine_learning_admin) may reset
    // but not follow the reset task. Both are found by `_has_privileges` before the close:
    // a reset nobody may follow would otherwise run while status says Failed.
    let w = World::new(
        "fault-priv",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    for (user, pw, missing) in [
        ("closer", &b"closer-pw-1"[..], "manage_ml"),
        ("mladmin", &b"mladmin-pw-1"[..], "cluster:monitor/task/get"),
    ] {
        let job = format!("priv-{user}");
        w.job_with_data(&job, "opened");
        w.secret(user, &[("username", user.as_bytes()), ("password", pw)])
            .await;
        let name = format!("reset-{user}");
        w.create(
            &name,
            json!({"jobId": job, "elasticsearch": {"credentialsSecret": {"name": user}}}),
        )
        .await;
        let s = w.failed(&name, "MissingPrivilege").await;
        let msg = s.message.unwrap_or_default();
        assert!(
            msg.contains(missing) && msg.contains("nothing was touched"),
            "{msg}"
        );
        assert_eq!(s.task_id, None, "{user}");
    }
    let writes = touching_calls(&w);
    assert!(writes.is_empty(), "the jobs were touched: {writes:?}");
    assert_eq!(
        w.ctl().job("priv-mladmin").map(|j| j.state).as_deref(),
        Some("opened")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_job_and_an_expired_jobreset_touch_nothing() {
    let w = World::new("fault-protect", SimConfig::default()).await;
    let mut body = common::job_body();
    body["custom_settings"] =
        json!({"jobreset_k8s_io": {"protected": true}, "created_by": "ml-module"});
    w.ctl().put_job("kept-job", body).expect("put job");
    w.job_with_data("old-job", "opened");
    w.create("reset-kept", json!({"jobId": "kept-job"})).await;
    // An old manifest applied again: its notAfter has passed.
    w.create(
        "reset-old",
        json!({"jobId": "old-job", "notAfter": "2020-01-01T00:00:00Z"}),
    )
    .await;
    let s = w.failed("reset-kept", "JobProtected").await;
    assert!(
        s.message
            .unwrap_or_default()
            .contains("jobreset_k8s_io.protected"),
        "the message names the setting"
    );
    let s = w.failed("reset-old", "Expired").await;
    assert!(
        s.message
            .unwrap_or_default()
            .contains("2020-01-01T00:00:00Z")
    );
    let touched = touching_calls(&w);
    assert!(touched.is_empty(), "the jobs were touched: {touched:?}");
    let old_job_calls = w
        .ctl()
        .requests()
        .iter()
        .filter(|r| r.path.contains("old-job"))
        .count();
    assert_eq!(old_job_calls, 0, "an expired JobReset calls nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_mode_is_waited_out() {
    // ML upgrade mode refuses resets only while a cluster upgrade runs: the run keeps asking
    // (with backoff) and resets the job once the upgrade is over.
    // Without the ledger, the reset request is what upgrade mode refuses.
    let w = World::new("fault-upgrade", SimConfig::default()).await;
    w.job_with_data("upg-job", "closed");
    w.ctl().set_upgrade_mode(true);
    w.create(
        "reset-upg",
        json!({"jobId": "upg-job", "ledger": "Disabled"}),
    )
    .await;
    let s = w
        .wait("reset-upg", "a refusal in upgrade mode", |s| {
            s.reason.as_deref() == Some("UpgradeInProgress") && s.attempts >= 1
        })
        .await;
    assert_eq!(s.phase, Phase::Resetting);
    assert!(s.message.unwrap_or_default().contains("upgrade mode"));

    w.ctl().set_upgrade_mode(false);
    let s = w.completed("reset-upg").await;
    assert!(s.reset_requests >= 2, "{s:#?}");
    assert_eq!(
        w.ctl().resets_started("upg-job"),
        1,
        "only one reset did any work"
    );
    w.assert_job_reset("upg-job");

    // With it (the default), the first job write is the ledger's `started` entry: refused
    // while the upgrade runs, written once it is over, and the job reset once.
    w.job_with_data("upg-book", "closed");
    w.ctl().set_upgrade_mode(true);
    w.create("reset-upg-book", json!({"jobId": "upg-book"}))
        .await;
    let s = w
        .wait("reset-upg-book", "a refused ledger write", |s| {
            s.reason.as_deref() == Some("UpgradeInProgress") && s.attempts >= 1
        })
        .await;
    // A closed job is not closed again: nothing was written to it, the run is still Pending.
    assert_eq!((s.phase, s.reset_requests), (Phase::Pending, 0), "{s:#?}");
    w.ctl().set_upgrade_mode(false);
    let s = w.completed("reset-upg-book").await;
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"));
    assert_eq!(w.ctl().resets_started("upg-book"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_id_reused_after_node_restart_is_not_mistaken_for_ours() {
    let w = World::new("fault-reuse", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("reuse-a", "closed");
    w.job_with_data("reuse-b", "closed");
    ctl.set_reset_duration(Some("reuse-a"), Duration::from_secs(3600));
    // Short enough that reuse-b's master-side task (which reuses the number in reuse-a's
    // stale `blocked.task_id`) ends, so the re-issued reset of reuse-a is not held up by it.
    ctl.set_reset_duration(Some("reuse-b"), Duration::from_secs(1));

    w.create("reset-a", json!({"jobId": "reuse-a"})).await;
    let s = w
        .wait("reset-a", "a task id", |s| s.task_id.is_some())
        .await;
    let first = s.task_id.unwrap();
    // A fresh simulator: the run's reset is the first task.
    assert!(first.ends_with(":1"), "{first}");
    ctl.set_reset_duration(Some("reuse-a"), Duration::from_millis(200));

    // The node restarts: reuse-a's task is lost (the job stays blocked on reset), task
    // numbers start again, and someone resets reuse-b, which gets reuse-a's old task id. The
    // operator's polls are slowed so that it asks only after that.
    ctl.set_latency(Endpoint::TaskGet, Duration::from_millis(500));
    ctl.restart_node(true);
    let other = es(&w)
        .reset_job("reuse-b", false, 1)
        .await
        .expect("other reset");
    ctl.set_latency(Endpoint::TaskGet, Duration::ZERO);
    assert_eq!(
        other, first,
        "the simulator reuses task numbers after a restart"
    );

    let s = w.completed("reset-a").await;
    assert_eq!(
        s.reset_requests, 2,
        "the lost reset was re-issued once: {s:#?}"
    );
    assert_ne!(s.task_id.as_deref(), Some(first.as_str()), "{s:#?}");
    assert_eq!(w.accepted_resets("reuse-a"), 2);
    w.assert_job_reset("reuse-a");
    // reuse-b's reset (someone else's) was left alone: one request, ended by itself.
    assert_eq!(w.accepted_resets("reuse-b"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_timeout_500_in_8x_means_still_running() {
    long_poll_timeouts_then_complete("8.15.0", 500).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_timeout_429_in_9x_means_still_running() {
    long_poll_timeouts_then_complete("9.1.0", 429).await;
}

/// The reset takes longer than several long-polls; each timeout (500 or 429) keeps the run in
/// Resetting without counting a fault, and the run completes when the reset does.
async fn long_poll_timeouts_then_complete(v: &str, status: u16) {
    let mut w = World::bare(&format!("fault-poll-{status}"), version(v)).await;
    let opts = Options {
        task_poll_timeout: Duration::from_millis(500),
        ..common::options(&w.ns)
    };
    w.start_controller(opts);
    let ctl = w.ctl();
    w.job_with_data("slow-job", "closed");
    // Long enough for several 500 ms long-polls to time out.
    ctl.set_reset_duration(Some("slow-job"), Duration::from_secs(3));

    w.create("reset-slow", json!({"jobId": "slow-job"})).await;
    let s = w.completed("reset-slow").await;
    let timeouts = ctl
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::TaskGet && r.status == status)
        .count();
    assert!(
        timeouts >= 2,
        "expected long-poll timeouts answered with HTTP {status}, saw {timeouts}"
    );
    assert_eq!(s.attempts, 0, "timeouts are not faults: {s:#?}");
    assert_eq!(s.reset_requests, 1);
    assert_eq!(w.accepted_resets("slow-job"), 1);
    w.assert_job_reset("slow-job");
}

/// The reset task vanishes with its node (no stored result): the job stays blocked on reset.
async fn vanished_task(v: &str) -> (World, jobreset_operator::api::JobResetStatus) {
    let w = World::new(&format!("fault-404-{}", v.replace('.', "-")), version(v)).await;
    let ctl = w.ctl();
    w.job_with_data("lost-job", "closed");
    ctl.set_reset_duration(Some("lost-job"), Duration::from_secs(3600));
    w.create("reset-lost", json!({"jobId": "lost-job"})).await;
    w.wait("reset-lost", "a task id", |s| s.task_id.is_some())
        .await;
    ctl.set_reset_duration(Some("lost-job"), Duration::from_millis(100));
    ctl.restart_node(true);
    let s = w.terminal("reset-lost").await;
    (w, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_task_before_8_13_is_a_stuck_reset() {
    let (w, s) = vanished_task("8.12.2").await;
    assert_eq!(s.phase, Phase::Failed, "{s:#?}");
    assert_eq!(s.reason.as_deref(), Some("StuckReset"), "{s:#?}");
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("8.13"),
        "the message says how to get out: {msg}"
    );
    // No second reset: before 8.13 it would 404 anyway.
    assert_eq!(w.accepted_resets("lost-job"), 1);
    assert_eq!(
        w.ctl().job("lost-job").unwrap().blocked_reason.as_deref(),
        Some("reset")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vanished_task_from_8_13_is_reset_again() {
    let (w, s) = vanished_task("8.13.0").await;
    assert_eq!(s.phase, Phase::Completed, "{s:#?}");
    assert_eq!(s.reset_requests, 2, "{s:#?}");
    assert_eq!(w.accepted_resets("lost-job"), 2);
    w.assert_job_reset("lost-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_already_in_flight_is_adopted_and_followed_to_its_end() {
    let w = World::new("fault-adopt", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("busy-job", "closed");
    // A reset ML started by itself, running until the run has adopted it.
    ctl.set_reset_duration(Some("busy-job"), Duration::from_secs(3600));
    ctl.internal_reset("busy-job");
    let blocked_task = ctl
        .job("busy-job")
        .unwrap()
        .blocked_task_id
        .expect("internal reset blocks the job");

    w.create("reset-busy", json!({"jobId": "busy-job"})).await;
    w.wait("reset-busy", "adoption", |s| s.adopted).await;
    ctl.finish_reset("busy-job");
    let s = w.completed("reset-busy").await;
    assert!(s.adopted, "{s:#?}");
    assert_eq!(s.task_id.as_deref(), Some(blocked_task.as_str()));
    assert_eq!(s.reset_requests, 0, "{s:#?}");
    assert!(s.message.unwrap_or_default().contains("adopted"));
    // Following it sent no reset of our own.
    assert_eq!(ctl.count(Endpoint::JobReset), 0);
    assert_eq!(ctl.resets_started("busy-job"), 1);
    w.assert_job_reset("busy-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopted_reset_that_dies_with_its_node_is_taken_over() {
    let w = World::new("fault-adopt", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("busy-job", "closed");
    ctl.set_reset_duration(Some("busy-job"), Duration::from_secs(3600));
    ctl.internal_reset("busy-job");
    let blocked_task = ctl
        .job("busy-job")
        .unwrap()
        .blocked_task_id
        .expect("internal reset blocks the job");

    w.create("reset-busy", json!({"jobId": "busy-job"})).await;
    let s = w.wait("reset-busy", "adoption", |s| s.adopted).await;
    assert_eq!(s.phase, Phase::Resetting);
    assert_eq!(s.reason.as_deref(), Some("Adopted"), "{s:#?}");
    assert_eq!(s.task_id.as_deref(), Some(blocked_task.as_str()));

    // Following it sent no reset of our own.
    assert_eq!(ctl.count(Endpoint::JobReset), 0);
    assert_eq!(ctl.resets_started("busy-job"), 1);

    // The adopted reset dies with its node (its master-side task stores nothing): on 8.13+
    // the run resets the still-blocked job itself. The restart reuses task numbers, so the
    // first reset sent gets the very number the stale block names and waits on itself until
    // timeout_exception (as real Elasticsearch would); the run must see the block as stale
    // and ask once more, and that second request is the one that does the work.
    ctl.set_reset_duration(Some("busy-job"), Duration::from_millis(100));
    ctl.restart_node(false);
    let s = w.completed("reset-busy").await;
    assert_eq!(s.reset_requests, 2, "{s:#?}");
    assert_eq!(w.accepted_resets("busy-job"), 2);
    assert_eq!(
        ctl.resets_started("busy-job"),
        2,
        "the internal reset and ours"
    );
    w.assert_job_reset("busy-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_down_then_back() {
    let w = World::new("fault-down", SimConfig::default()).await;
    w.job_with_data("down-job", "closed");
    w.sim.stop_listening().await;

    w.create("reset-down", json!({"jobId": "down-job"})).await;
    let s = w
        .wait("reset-down", "a retried connection fault", |s| {
            s.reason.as_deref() == Some("ElasticsearchUnreachable") && s.attempts >= 2
        })
        .await;
    assert!(!s.phase.is_terminal());
    assert!(s.message.unwrap_or_default().contains("will retry"));

    w.sim.resume_listening().await.expect("listen again");
    let s = w.completed("reset-down").await;
    assert!(s.attempts >= 2);
    assert_eq!(w.accepted_resets("down-job"), 1);
    w.assert_job_reset("down-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_429_and_503_are_retried() {
    let w = World::new("fault-burst", SimConfig::default()).await;
    let ctl = w.ctl();
    // Opened, so that the close is sent (a closed job is not closed again).
    w.job_with_data("burst-job", "opened");
    let busy = |t: &str, r: &str, st: u16| json!({"error": {"root_cause": [{"type": t, "reason": r}], "type": t, "reason": r}, "status": st});
    ctl.fail_next(
        Endpoint::JobClose,
        2,
        503,
        busy("master_not_discovered_exception", "no master", 503),
    );
    ctl.fail_next(
        Endpoint::JobReset,
        3,
        429,
        busy("es_rejected_execution_exception", "rejected execution", 429),
    );
    ctl.fail_next(
        Endpoint::TaskGet,
        2,
        503,
        busy("node_not_connected_exception", "node not connected", 503),
    );

    w.create("reset-burst", json!({"jobId": "burst-job"})).await;
    let s = w.completed("reset-burst").await;
    assert!(s.attempts >= 7, "every injected fault was retried: {s:#?}");
    // Rejected POSTs started nothing; the status counts the requests sent.
    assert_eq!(
        s.reset_requests as u64,
        ctl.count(Endpoint::JobReset),
        "{s:#?}"
    );
    assert_eq!(w.accepted_resets("burst-job"), 1);
    assert_eq!(ctl.resets_started("burst-job"), 1);
    w.assert_job_reset("burst-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_without_leaking_them() {
    let w = World::new(
        "fault-creds",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("creds-job", "closed");
    w.secret(
        "bad-creds",
        &[
            ("username", b"resetter"),
            ("password", b"not-the-password-42"),
        ],
    )
    .await;
    w.create("reset-creds", json!({"jobId": "creds-job", "elasticsearch": {"credentialsSecret": {"name": "bad-creds"}}}))
        .await;

    let s = w.failed("reset-creds", "Unauthorized").await;
    let text = serde_json::to_string(&s).unwrap();
    assert!(!text.contains("not-the-password-42"), "{text}");
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);
    assert_eq!(
        w.ctl()
            .job("creds-job")
            .unwrap()
            .model_snapshot_id
            .as_deref(),
        Some("1700000000")
    );
    let events = w.wait_event("reset-creds", "Failed").await;
    for e in &events {
        let text = format!("{:?} {:?}", e.note, e.reason);
        assert!(!text.contains("not-the-password-42"), "{text}");
    }
    let failed = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Failed"))
        .unwrap();
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_secret_created_later() {
    let w = World::new(
        "fault-secret",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("late-job", "closed");
    w.create("reset-late", json!({"jobId": "late-job", "elasticsearch": {"credentialsSecret": {"name": "late-creds"}}}))
        .await;

    let s = w
        .wait("reset-late", "SecretNotFound", |s| {
            s.reason.as_deref() == Some("SecretNotFound")
        })
        .await;
    assert_eq!(s.phase, Phase::Pending, "{s:#?}");
    assert!(s.message.unwrap_or_default().contains("late-creds"));
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);

    w.secret(
        "late-creds",
        &[("username", b"elastic"), ("password", b"elastic-pw-1")],
    )
    .await;
    w.completed("reset-late").await;
    w.assert_job_reset("late-job");
}

/// The Secret's contents are kept between reconciles; a change to the Secret is read at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_fixed_later_is_read_again() {
    let w = World::new(
        "fault-secret-fixed",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("fixed-job", "closed");
    w.secret("fixed-creds", &[("username", b"elastic")]).await;
    w.create("reset-fixed", json!({"jobId": "fixed-job", "elasticsearch": {"credentialsSecret": {"name": "fixed-creds"}}}))
        .await;
    let s = w
        .wait("reset-fixed", "SecretKeyMissing", |s| {
            s.reason.as_deref() == Some("SecretKeyMissing")
        })
        .await;
    assert_eq!(s.phase, Phase::Pending, "{s:#?}");

    let api: Api<Secret> = Api::namespaced(w.client.clone(), &w.ns);
    let patch = json!({"data": {"password": base64_of(b"elastic-pw-1")}});
    api.patch(
        "fixed-creds",
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .expect("add the password");
    w.completed("reset-fixed").await;
    w.assert_job_reset("fixed-job");
}

fn base64_of(bytes: &[u8]) -> String {
    serde_json::to_value(ByteString(bytes.to_vec()))
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// A run whose Elasticsearch call hangs holds the controller's only slot; another run's reset
/// ends meanwhile and is recorded at once, not after the hang (the request timeout, 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_reset_is_recorded_while_every_slot_is_busy() {
    let mut w = World::bare("fault-lane", SimConfig::default()).await;
    w.start_controller(Options {
        concurrency: 1,
        ..common::options(&w.ns)
    });
    let ctl = w.ctl();
    w.job_with_data("quick-job", "closed");
    w.job_with_data("stuck-job", "closed");
    ctl.set_reset_duration(Some("quick-job"), Duration::from_secs(2));

    w.create("reset-quick", json!({"jobId": "quick-job"})).await;
    w.wait("reset-quick", "a task id", |s| s.task_id.is_some())
        .await;
    // The only other call that reads a job's stats is the stuck run's first read.
    let stats_before = ctl.count(Endpoint::JobStats);
    ctl.hang_next(Endpoint::JobStats, 1);
    w.create("reset-stuck", json!({"jobId": "stuck-job"})).await;
    let hanging = ctl
        .wait_for(
            |c| c.count(Endpoint::JobStats) > stats_before,
            Duration::from_secs(30),
        )
        .await;
    assert!(hanging, "the stuck run's read reached Elasticsearch");

    let quick = w
        .wait_for("reset-quick", "Completed", Duration::from_secs(20), |s| {
            s.phase == Phase::Completed
        })
        .await;
    assert_eq!(
        quick.reason.as_deref(),
        Some("ResetCompleted"),
        "{quick:#?}"
    );
    let stuck = w.api.get("reset-stuck").await.expect("reset-stuck");
    let phase = stuck.status.map(|s| s.phase).unwrap_or_default();
    assert_eq!(
        phase,
        Phase::Pending,
        "the stuck run still waits for its read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobresets_for_one_job_run_one_after_the_other() {
    let w = World::new("fault-two", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("shared-job", "closed");
    ctl.set_reset_duration(Some("shared-job"), Duration::from_millis(500));
    let (max_resetting, monitor) = track_max_in_phase(w.api.clone(), Phase::Resetting);

    w.create("reset-one", json!({"jobId": "shared-job"})).await;
    w.create("reset-two", json!({"jobId": "shared-job"})).await;
    // One of them waits for the other.
    let waiting = tokio::select! {
        s = w.wait("reset-one", "waiting", |s| s.reason.as_deref().is_some_and(|r| r.starts_with("WaitingFor/"))) => s,
        s = w.wait("reset-two", "waiting", |s| s.reason.as_deref().is_some_and(|r| r.starts_with("WaitingFor/"))) => s,
    };
    assert_eq!(waiting.phase, Phase::Pending, "{waiting:#?}");

    let one = w.completed("reset-one").await;
    let two = w.completed("reset-two").await;
    monitor.abort();
    assert_ne!(one.task_id, two.task_id);
    assert_eq!(
        w.accepted_resets("shared-job"),
        2,
        "each JobReset ran its own reset"
    );
    assert_eq!(
        max_resetting.load(Ordering::SeqCst),
        1,
        "the two runs were never resetting at the same time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_exceeded_while_elasticsearch_is_down() {
    let w = World::new("fault-deadline", SimConfig::default()).await;
    w.job_with_data("late-job", "closed");
    w.sim.stop_listening().await;
    w.create(
        "reset-deadline",
        json!({"jobId": "late-job", "deadlineSeconds": 1}),
    )
    .await;

    let s = w.failed("reset-deadline", "DeadlineExceeded").await;
    assert!(
        s.message
            .unwrap_or_default()
            .contains("no reset was started")
    );
    w.sim.resume_listening().await.unwrap();
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_exceeded_while_the_reset_runs_leaves_it_running() {
    let w = World::new("fault-deadline-run", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("long-job", "closed");
    ctl.set_reset_duration(Some("long-job"), Duration::from_secs(3600));
    w.create(
        "reset-long",
        // Long enough for the reset to be sent first, even on a busy machine.
        json!({"jobId": "long-job", "deadlineSeconds": 5}),
    )
    .await;

    let s = w.failed("reset-long", "DeadlineExceeded").await;
    assert!(s.task_id.is_some());
    assert!(s.message.unwrap_or_default().contains("left to finish"));
    assert_eq!(w.accepted_resets("long-job"), 1);
    assert_eq!(
        ctl.job("long-job").unwrap().blocked_reason.as_deref(),
        Some("reset")
    );
}

/// A raw HTTP/1.1 request to the (plain http) simulator, as another Elasticsearch user would
/// make it; returns the status line.
async fn raw_request(w: &World, method: &str, path_and_query: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(w.sim.addr())
        .await
        .expect("connect");
    let req = format!(
        "{method} {path_and_query} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("read");
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_deleted_during_the_reset_is_reported_cancelled() {
    let w = World::new("fault-deleted", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("doomed-job", "closed");
    ctl.set_reset_duration(Some("doomed-job"), Duration::from_secs(3600));
    w.create("reset-doomed", json!({"jobId": "doomed-job"}))
        .await;
    w.wait("reset-doomed", "a task id", |s| s.task_id.is_some())
        .await;

    // Someone deletes the job: the delete cancels the running reset.
    let status = raw_request(&w, "DELETE", "/_ml/anomaly_detectors/doomed-job?force=true").await;
    assert!(status.contains(" 200 "), "{status}");

    let s = w.failed("reset-doomed", "Cancelled").await;
    assert!(s.message.unwrap_or_default().contains("cancelled"));
    assert_eq!(w.accepted_resets("doomed-job"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_down_while_the_reset_runs() {
    let w = World::new("fault-down-mid", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("mid-job", "closed");
    ctl.set_reset_duration(Some("mid-job"), Duration::from_secs(3));
    w.create("reset-mid", json!({"jobId": "mid-job"})).await;
    let s = w
        .wait("reset-mid", "a task id", |s| s.task_id.is_some())
        .await;
    let task = s.task_id.unwrap();

    w.sim.stop_listening().await;
    w.wait("reset-mid", "a connection fault", |s| {
        s.reason.as_deref() == Some("ElasticsearchUnreachable")
    })
    .await;
    w.sim.resume_listening().await.expect("listen again");

    let s = w.completed("reset-mid").await;
    assert_eq!(
        s.task_id.as_deref(),
        Some(task.as_str()),
        "the same task was followed after the outage"
    );
    assert_eq!(s.reset_requests, 1);
    assert_eq!(w.accepted_resets("mid-job"), 1);
    w.assert_job_reset("mid-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_past_its_timeout_is_retried() {
    let w = World::new("fault-slow-close", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("slow-close", "opened");
    // Closing takes longer than the close timeout: ES answers 500 while the job keeps closing.
    ctl.set_close_duration(Duration::from_secs(3));
    w.create(
        "reset-slow-close",
        json!({"jobId": "slow-close", "closeJob": {"timeout": "1s"}}),
    )
    .await;

    let s = w.completed("reset-slow-close").await;
    assert!(s.attempts >= 1, "{s:#?}");
    let closes: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobClose)
        .collect();
    assert!(closes.iter().any(|r| r.status == 500), "{closes:?}");
    assert!(
        closes
            .iter()
            .all(|r| r.query.contains("force=false") && r.query.contains("timeout=1s")),
        "{closes:?}"
    );
    assert_eq!(w.accepted_resets("slow-close"), 1);
    w.assert_job_reset("slow-close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datafeed_that_cannot_be_stopped_is_not_force_closed() {
    // A 409 from a datafeed that would not stop is not the "job failed, use force" 409: the
    // operator must not escalate to a force close it was not asked for.
    let w = World::new("fault-datafeed", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_running_datafeed("stuck-feed").await;
    ctl.set_datafeed_unstoppable("datafeed-stuck-feed", true);
    w.create("reset-stuck-feed", json!({"jobId": "stuck-feed"}))
        .await;

    let s = w.failed("reset-stuck-feed", "CloseFailed").await;
    assert!(s.message.unwrap_or_default().contains("datafeed"));
    let closes: Vec<_> = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobClose)
        .collect();
    assert!(
        closes.iter().all(|r| r.query.contains("force=false")),
        "{closes:?}"
    );
    assert_eq!(ctl.count(Endpoint::JobReset), 0);
    assert_eq!(ctl.job("stuck-feed").unwrap().state, "opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_versions_fail_before_any_reset() {
    let w = World::new("fault-versions", version("7.13.4")).await;
    w.job_with_data("old-job", "closed");
    w.create("reset-old", json!({"jobId": "old-job"})).await;
    let s = w.failed("reset-old", "UnsupportedVersion").await;
    assert!(s.message.unwrap_or_default().contains("7.14"));
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);
    assert_eq!(
        w.ctl().count(Endpoint::JobClose),
        0,
        "the job was not even closed"
    );

    let w = World::new("fault-versions-dua", version("8.6.2")).await;
    w.job_with_data("dua-job", "opened");
    w.create(
        "reset-dua",
        json!({"jobId": "dua-job", "deleteUserAnnotations": true}),
    )
    .await;
    let s = w.failed("reset-dua", "UnsupportedVersion").await;
    assert!(s.message.unwrap_or_default().contains("8.7"));
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);
    assert_eq!(
        w.ctl().job("dua-job").unwrap().state,
        "opened",
        "the job was left running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_blocked_by_delete_or_revert_is_left_alone() {
    let w = World::new("fault-blocked", SimConfig::default()).await;
    let ctl = w.ctl();
    w.job_with_data("del-job", "closed");
    w.job_with_data("rev-job", "closed");
    ctl.set_blocked("del-job", Some("delete"), Some("node:1"));
    ctl.set_blocked("rev-job", Some("revert"), None);
    w.create("reset-del", json!({"jobId": "del-job"})).await;
    w.create("reset-rev", json!({"jobId": "rev-job"})).await;
    w.failed("reset-del", "JobBeingDeleted").await;
    w.failed("reset-rev", "JobBeingReverted").await;
    assert_eq!(ctl.count(Endpoint::JobReset), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restart_failing_the_reset_task_is_recovered() {
    // The node restarts under a running reset and the task stores a node_closed_exception:
    // the reset did not happen and the job stays blocked on reset. On 8.13+ a new reset clears
    // it; the run should get there rather than give up on an infrastructure fault.
    let w = World::new("fault-node-closed", version("8.15.0")).await;
    let ctl = w.ctl();
    w.job_with_data("nc-job", "closed");
    ctl.set_reset_duration(Some("nc-job"), Duration::from_secs(3600));
    w.create("reset-nc", json!({"jobId": "nc-job"})).await;
    w.wait("reset-nc", "a task id", |s| s.task_id.is_some())
        .await;
    ctl.set_reset_duration(Some("nc-job"), Duration::from_millis(100));
    ctl.restart_node(false);

    let s = w.completed("reset-nc").await;
    assert_eq!(s.reset_requests, 2, "{s:#?}");
    assert_eq!(w.accepted_resets("nc-job"), 2);
    w.assert_job_reset("nc-job");
}
