//! Credentials: wrong ones fail without leaking them, a Secret created late, a Secret fixed later.

use super::*;

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

/// A run that waited for its Secret, mended while a later run of the same job is between its
/// queue check and its first status write, does not start beside it: one of them waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_mended_while_another_starts_waits_for_it() {
    let w = World::new(
        "fault-mended",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    let ctl = w.ctl();
    w.job_with_data("mended-job", "closed");
    ctl.set_reset_duration(Some("mended-job"), Duration::from_millis(300));
    let (max_resetting, monitor) = track_max_in_phase(w.api.clone(), Phase::Resetting);
    let creds: &[(&str, &[u8])] = &[("username", b"elastic"), ("password", b"elastic-pw-1")];
    w.secret("ready-creds", creds).await;

    w.create("reset-early", json!({"jobId": "mended-job", "elasticsearch": {"credentialsSecret": {"name": "late-creds"}}}))
        .await;
    w.wait("reset-early", "SecretNotFound", |s| {
        s.reason.as_deref() == Some("SecretNotFound")
    })
    .await;
    // The later run reads the job slowly, after its queue check (the stuck run held nobody
    // up) and before it writes anything.
    ctl.set_latency(Endpoint::JobGet, Duration::from_secs(2));
    w.create("reset-later", json!({"jobId": "mended-job", "elasticsearch": {"credentialsSecret": {"name": "ready-creds"}}}))
        .await;
    assert!(
        ctl.wait_for(|c| c.count(Endpoint::JobGet) >= 1, Duration::from_secs(30))
            .await,
        "the later run reads the job"
    );
    w.secret("late-creds", creds).await;

    let early = w.completed("reset-early").await;
    let later = w.completed("reset-later").await;
    monitor.abort();
    assert_ne!(early.task_id, later.task_id);
    assert_eq!(w.accepted_resets("mended-job"), 2, "each ran its own reset");
    assert_eq!(
        max_resetting.load(Ordering::SeqCst),
        1,
        "the two runs were never resetting at the same time"
    );
}
