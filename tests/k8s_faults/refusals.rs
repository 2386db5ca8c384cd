//! Runs refused before the job is touched: a missing privilege, a protected job, an expired
//! JobReset, upgrade mode waited out, versions the operator does not support.

use super::*;

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
