//! Happy paths end to end: a real API server (the shared test bed), the controller in-process
//! scoped to the test's namespace, and an ES ML simulator per test. Each case creates a
//! JobReset (with kube, or with kubectl as a user would) and waits (watch with a deadline) for
//! Completed, then checks the simulator: the job's data is gone and exactly one reset was
//! accepted. Covers opened/closed/failed jobs, deleteUserAnnotations, basic auth, API key, the
//! documented minimum privileges, TLS with a CA Secret or insecureSkipVerify, elasticsearchRef,
//! Events and printer columns. Does I/O (Kubernetes, loopback HTTP, kubectl processes).

mod common;

use std::time::Duration;

use common::{World, pki, security};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::Phase;
use jobreset_operator::controller::Options;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_job_with_started_datafeed_is_closed_and_reset() {
    let w = World::new("happy-opened", SimConfig::default()).await;
    w.job_with_running_datafeed("web-traffic").await;

    w.create("reset-web", json!({"jobId": "web-traffic"})).await;
    let s = w.completed("reset-web").await;

    assert_eq!(s.job_state_before.as_deref(), Some("opened"));
    let task = s.task_id.expect("task id recorded");
    assert!(task.starts_with(&format!("{}:", w.sim.node_id())), "{task}");
    assert_eq!(s.reset_requests, 1);
    assert!(!s.adopted);
    assert!(s.completion_time.is_some());
    assert_eq!(s.elasticsearch_version.as_deref(), Some("8.15.0"));
    w.assert_job_reset("web-traffic");
    assert_eq!(w.accepted_resets("web-traffic"), 1);
    assert_eq!(w.ctl().resets_started("web-traffic"), 1);
    // The graceful close also stopped the datafeed (close without force).
    let close = w
        .ctl()
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::JobClose)
        .expect("close sent");
    assert!(close.query.contains("force=false"), "{}", close.query);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_job_is_reset() {
    let w = World::new("happy-closed", SimConfig::default()).await;
    w.job_with_data("closed-job", "closed");

    let created = w
        .create("reset-closed", json!({"jobId": "closed-job"}))
        .await;
    let s = w.completed("reset-closed").await;

    assert_eq!(s.job_state_before.as_deref(), Some("closed"));
    assert!(s.task_id.is_some());
    w.assert_job_reset("closed-job");
    assert_eq!(w.accepted_resets("closed-job"), 1);
    // Every request carried the JobReset's identity; the reset request its number too.
    let uid = created.metadata.uid.expect("uid");
    let expected = format!("jobreset/{}/reset-closed/{uid}", w.ns);
    let reqs = w.ctl().requests();
    for r in reqs.iter().filter(|r| r.endpoint != Endpoint::Control) {
        let want = match r.endpoint {
            Endpoint::JobReset => format!("{expected}/1"),
            _ => expected.clone(),
        };
        assert_eq!(r.opaque_id.as_deref(), Some(want.as_str()), "{r:?}");
    }
    // The story is told in Events too; the last one says what the status says.
    let events = w.wait_event("reset-closed", "Completed").await;
    let done = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Completed"))
        .unwrap();
    assert_eq!(done.type_.as_deref(), Some("Normal"));
    assert_eq!(done.note, s.message, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_job_is_force_closed_and_reset() {
    let w = World::new("happy-failed", SimConfig::default()).await;
    w.job_with_data("broken-job", "failed");

    w.create("reset-broken", json!({"jobId": "broken-job"}))
        .await;
    let s = w.completed("reset-broken").await;

    assert_eq!(s.job_state_before.as_deref(), Some("failed"));
    w.assert_job_reset("broken-job");
    assert_eq!(w.accepted_resets("broken-job"), 1);
    let closes: Vec<_> = w
        .ctl()
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobClose && r.status == 200)
        .collect();
    assert!(!closes.is_empty());
    assert!(
        closes.iter().all(|r| r.query.contains("force=true")),
        "{closes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_user_annotations_removes_them_only_when_asked() {
    let w = World::new("happy-annotations", SimConfig::default()).await;
    let ctl = w.ctl();
    for job in ["ann-keep", "ann-drop"] {
        w.job_with_data(job, "closed");
        ctl.add_user_annotation(job);
        ctl.add_auto_annotation(job);
    }

    w.create("reset-keep", json!({"jobId": "ann-keep"})).await;
    w.create(
        "reset-drop",
        json!({"jobId": "ann-drop", "deleteUserAnnotations": true}),
    )
    .await;
    w.completed("reset-keep").await;
    w.completed("reset-drop").await;

    let keep = ctl.job("ann-keep").unwrap();
    assert_eq!(
        (keep.user_annotations, keep.auto_annotations),
        (1, 0),
        "{keep:?}"
    );
    let drop = ctl.job("ann-drop").unwrap();
    assert_eq!(
        (drop.user_annotations, drop.auto_annotations),
        (0, 0),
        "{drop:?}"
    );
    let resets = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::JobReset)
        .collect::<Vec<_>>();
    for r in &resets {
        let asked = r.path.contains("ann-drop");
        assert_eq!(
            r.query.contains("delete_user_annotations=true"),
            asked,
            "{r:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_a_secret() {
    let w = World::new(
        "happy-basic",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("basic-job", "closed");
    w.secret(
        "es-creds",
        &[("username", b"resetter"), ("password", b"resetter-pw-1")],
    )
    .await;

    w.create(
        "reset-basic",
        json!({"jobId": "basic-job", "elasticsearch": {"credentialsSecret": {"name": "es-creds"}}}),
    )
    .await;
    w.completed("reset-basic").await;
    w.assert_job_reset("basic-job");
    // No request went out without credentials.
    assert!(w.ctl().requests().iter().all(|r| r.status != 401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_from_a_secret() {
    let w = World::new(
        "happy-apikey",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("key-job", "closed");
    let key = es_ml_sim::ApiKey {
        id: "k-id".into(),
        key: "k-secret-1".into(),
        roles: vec![],
    }
    .encoded();
    w.secret("es-key", &[("apiKey", key.as_bytes())]).await;

    w.create(
        "reset-key",
        json!({"jobId": "key-job", "elasticsearch": {"credentialsSecret": {"name": "es-key"}}}),
    )
    .await;
    w.completed("reset-key").await;
    w.assert_job_reset("key-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_secret() {
    let certs = pki();
    let w = World::new(
        "happy-tls",
        SimConfig {
            tls: Some(certs.server.clone()),
            ..Default::default()
        },
    )
    .await;
    assert!(w.sim.url().starts_with("https://"));
    w.job_with_data("tls-job", "closed");
    w.secret("es-ca", &[("ca.crt", certs.ca_pem.as_bytes())])
        .await;

    w.create(
        "reset-tls",
        json!({"jobId": "tls-job", "elasticsearch": {"tls": {"caSecret": {"name": "es-ca"}}}}),
    )
    .await;
    w.completed("reset-tls").await;
    w.assert_job_reset("tls-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_ref_uses_eck_secrets() {
    let certs = pki();
    let mut w = World::bare(
        "happy-eck",
        SimConfig {
            tls: Some(certs.server.clone()),
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    // ECK's service DNS name does not resolve here: the URL template points at the simulator.
    let opts = Options {
        eck_url_template: w.sim.url(),
        ..common::options(&w.ns)
    };
    w.start_controller(opts);
    w.job_with_data("eck-job", "closed");
    w.secret(
        "quickstart-es-elastic-user",
        &[("elastic", b"elastic-pw-1")],
    )
    .await;
    w.secret(
        "quickstart-es-http-certs-public",
        &[("ca.crt", certs.ca_pem.as_bytes())],
    )
    .await;

    w.create(
        "reset-eck",
        json!({"jobId": "eck-job", "elasticsearch": {"elasticsearchRef": {"name": "quickstart"}}}),
    )
    .await;
    w.completed("reset-eck").await;
    w.assert_job_reset("eck-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_minimum_privileges_suffice() {
    // The CRD documents manage_ml plus cluster:monitor/task/get as enough.
    let w = World::new(
        "happy-minimal",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("min-job", "closed");
    w.secret(
        "es-min",
        &[("username", b"minimal"), ("password", b"minimal-pw-1")],
    )
    .await;

    w.create(
        "reset-min",
        json!({"jobId": "min-job", "elasticsearch": {"credentialsSecret": {"name": "es-min"}}}),
    )
    .await;
    w.completed("reset-min").await;
    w.assert_job_reset("min-job");
    assert!(
        w.ctl().requests().iter().all(|r| r.status != 403),
        "no call needed more than documented"
    );
}

/// Runs kubectl against the test bed; returns (success, stdout + stderr).
async fn kubectl(w: &World, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.args(args)
        .args(["-n", &w.ns])
        .env("KUBECONFIG", w.bed.kubeconfig_path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("kubectl runs");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let out = tokio::time::timeout(common::DEADLINE, child.wait_with_output())
        .await
        .expect("kubectl finished in time")
        .expect("kubectl output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_wait_and_get() {
    let w = World::new("happy-kubectl", SimConfig::default()).await;
    w.job_with_data("kubectl-job", "opened");
    let manifest = format!(
        "apiVersion: ml.jobreset.io/v1alpha1\nkind: JobReset\nmetadata:\n  name: via-kubectl\nspec:\n  jobId: kubectl-job\n  elasticsearch:\n    url: {}\n",
        w.sim.url()
    );
    let (ok, out) = kubectl(&w, &["apply", "-f", "-"], Some(&manifest)).await;
    assert!(ok, "kubectl apply: {out}");

    let (ok, out) = kubectl(
        &w,
        &[
            "wait",
            "--for=condition=Ready",
            "jobreset/via-kubectl",
            "--timeout=90s",
        ],
        None,
    )
    .await;
    assert!(ok, "kubectl wait: {out}");
    assert!(out.contains("condition met"), "{out}");

    let (ok, out) = kubectl(&w, &["get", "jr", "via-kubectl"], None).await;
    assert!(ok, "kubectl get: {out}");
    let header = out.lines().next().unwrap_or_default();
    for column in ["NAME", "JOB", "PHASE", "TASK", "REASON", "AGE"] {
        assert!(header.contains(column), "{out}");
    }
    assert!(
        out.contains("kubectl-job") && out.contains("Completed") && out.contains("ResetCompleted"),
        "{out}"
    );
    w.assert_job_reset("kubectl-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wait_for_stalled_on_failure() {
    let w = World::new("happy-kubectl-fail", SimConfig::default()).await;
    // No such job: the run fails and says so.
    w.create("missing", json!({"jobId": "no-such-job"})).await;
    let (ok, out) = kubectl(
        &w,
        &[
            "wait",
            "--for=condition=Stalled",
            "jobreset/missing",
            "--timeout=90s",
        ],
        None,
    )
    .await;
    assert!(ok, "kubectl wait: {out}");
    let s = w.failed("missing", "JobNotFound").await;
    assert!(s.message.unwrap_or_default().contains("no-such-job"));
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_over_tls() {
    let certs = pki();
    let w = World::new(
        "happy-insecure",
        SimConfig {
            tls: Some(certs.server.clone()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("insecure-job", "closed");
    w.create(
        "reset-insecure",
        json!({"jobId": "insecure-job", "elasticsearch": {"tls": {"insecureSkipVerify": true}}}),
    )
    .await;
    w.completed("reset-insecure").await;
    w.assert_job_reset("insecure-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_is_reported_while_retried() {
    let certs = pki();
    let w = World::new(
        "happy-untrusted",
        SimConfig {
            tls: Some(certs.server.clone()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("untrusted-job", "closed");
    // No CA Secret: the system roots do not know the test CA.
    w.create(
        "reset-untrusted",
        json!({"jobId": "untrusted-job", "deadlineSeconds": 3}),
    )
    .await;
    let s = w.failed("reset-untrusted", "DeadlineExceeded").await;
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);
    // What went wrong was said while it was retried.
    let events = w.wait_event("reset-untrusted", "Retrying").await;
    let said = events
        .iter()
        .filter_map(|e| e.note.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        said.to_lowercase().contains("certificate"),
        "{said}\n{s:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_jobresets_at_once_each_reset_once() {
    let w = World::new("happy-many", SimConfig::default()).await;
    let jobs: Vec<String> = (0..20).map(|i| format!("bulk-{i:02}")).collect();
    for j in &jobs {
        w.job_with_data(j, if j.ends_with('0') { "opened" } else { "closed" });
    }
    for j in &jobs {
        w.create(&format!("reset-{j}"), json!({"jobId": j})).await;
    }
    for j in &jobs {
        let s = w.completed(&format!("reset-{j}")).await;
        assert_eq!(s.reset_requests, 1, "{j}: {s:#?}");
        assert_eq!(w.accepted_resets(j), 1, "{j}");
        w.assert_job_reset(j);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_reset_does_not_hold_up_the_others() {
    // One reconcile slot and an hour-long long-poll: if following a task held the slot, the
    // second JobReset could not even start while the first reset runs.
    let mut w = World::bare("happy-slots", SimConfig::default()).await;
    let mut opts = common::options(&w.ns);
    opts.concurrency = 1;
    opts.task_poll_timeout = Duration::from_secs(3600);
    w.start_controller(opts);
    let ctl = w.ctl();
    w.job_with_data("slow-job", "closed");
    w.job_with_data("quick-job", "closed");
    ctl.set_reset_duration(Some("slow-job"), Duration::from_secs(3600));

    w.create("reset-slow", json!({"jobId": "slow-job"})).await;
    w.wait("reset-slow", "a task id", |s| s.task_id.is_some())
        .await;
    w.create("reset-quick", json!({"jobId": "quick-job"})).await;
    w.completed("reset-quick").await;
    w.assert_job_reset("quick-job");

    let slow = w.api.get("reset-slow").await.expect("reset-slow");
    let phase = slow.status.map(|s| s.phase);
    assert_eq!(
        phase,
        Some(Phase::Resetting),
        "the slow reset is still followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_close_does_not_hold_up_the_others() {
    // One reconcile slot and a close that Elasticsearch holds for minutes: if the close held
    // the slot, no other JobReset could go on meanwhile.
    let mut w = World::bare("happy-slowclose", SimConfig::default()).await;
    let mut opts = common::options(&w.ns);
    opts.concurrency = 1;
    w.start_controller(opts);
    let ctl = w.ctl();
    w.job_with_data("slow-close-job", "opened");
    w.job_with_data("quick-job", "closed");
    ctl.set_close_duration(Duration::from_secs(3600));

    w.create("reset-slow-close", json!({"jobId": "slow-close-job"}))
        .await;
    w.wait("reset-slow-close", "Closing", |s| s.phase == Phase::Closing)
        .await;
    w.create("reset-quick", json!({"jobId": "quick-job"})).await;
    w.completed("reset-quick").await;
    let slow = w
        .api
        .get("reset-slow-close")
        .await
        .expect("reset-slow-close");
    assert_eq!(slow.status.map(|s| s.phase), Some(Phase::Closing));
    assert_eq!(w.accepted_resets("slow-close-job"), 0);
}
