//! The API server misbehaving under the operator, through the test bed's fault rules: each
//! status write of a run failing (500), failing after it landed (a lost answer) or
//! conflicting (409); the watch dropped mid-run; the API server restarted while a reset is
//! followed. Every run still ends Completed with exactly one reset sent and counted. Does
//! I/O: the test bed (its fault API), a simulator, the operator process.

mod common;

use std::time::Duration;

use std::sync::atomic::Ordering;

use common::{Operator, World, security, track_max_in_phase};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::Phase;
use serde_json::json;
use testbed::{FaultRule, RequestMatch, WatchEnd};

const AGENT: &str = concat!("jobreset-operator/", env!("CARGO_PKG_VERSION"));

fn status_writes(w: &World, name: &str) -> RequestMatch {
    RequestMatch::any()
        .verb("patch")
        .group("ml.jobreset.io")
        .resource("jobresets")
        .subresource("status")
        .namespace(&w.ns)
        .name(name)
        .user_agent(AGENT)
}

/// How many status writes a run without faults makes, counted by the front.
async fn writes_of_a_clean_run(w: &World) -> u32 {
    w.job_with_data("clean-job", "opened");
    w.create("clean", json!({"jobId": "clean-job"})).await;
    w.completed("clean").await;
    let m = status_writes(w, "clean");
    let n = w.bed.requests().iter().filter(|r| m.matches(r)).count();
    u32::try_from(n).expect("a few writes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_write_may_fail_and_the_run_still_resets_once() {
    let w = World::bare("apifault-writes", SimConfig::default()).await;
    let mut op = Operator::spawn(w.bed, &w.ns, None, "op").await;
    let writes = writes_of_a_clean_run(&w).await;
    assert!(
        writes >= 4,
        "Accepted, Closing, intent, task id, Completed: {writes}"
    );
    type Fault = fn(RequestMatch) -> FaultRule;
    let kinds: [(&str, Fault); 3] = [
        ("fail", |m| m.fail(500)),
        ("lost", |m| m.lost_answer()),
        ("conflict", |m| m.fail(409)),
    ];
    let mut runs = Vec::new();
    let mut rules = Vec::new();
    for (kind, fault) in kinds {
        for n in 1..=writes {
            let name = format!("{kind}-{n}");
            let job = format!("job-{kind}-{n}");
            w.job_with_data(&job, "opened");
            let rule = fault(status_writes(&w, &name)).nth(n);
            rules.push(w.bed.faults().scoped(rule).expect("fault rule"));
            w.create(&name, json!({"jobId": job})).await;
            runs.push((name, job));
        }
    }
    for (name, job) in &runs {
        let s = w.completed(name).await;
        assert_eq!(
            (s.reset_requests, w.accepted_resets(job)),
            (1, 1),
            "{name}: one reset sent, one counted: {s:#?}"
        );
        assert!(s.task_id.is_some(), "{name}: {s:#?}");
    }
    for rule in &rules {
        let state = rule.state().expect("rule state");
        assert!(
            state.as_ref().is_some_and(|s| s.fired >= 1),
            "every fault fired: {state:?}"
        );
    }
    op.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_mid_run_changes_nothing() {
    let w = World::bare("apifault-watch", SimConfig::default()).await;
    w.job_with_data("watched-job", "opened");
    w.ctl()
        .set_reset_duration(Some("watched-job"), Duration::from_secs(3600));
    let mut op = Operator::spawn(w.bed, &w.ns, None, "op").await;
    w.create("watched", json!({"jobId": "watched-job"})).await;
    w.wait("watched", "the task followed", |s| s.task_id.is_some())
        .await;
    let dropped = w.bed.drop_watches().expect("drop the watches");
    assert!(dropped > 0, "the operator's watches were open");
    w.ctl().finish_reset("watched-job");
    let s = w.completed("watched").await;
    assert_eq!((s.reset_requests, w.accepted_resets("watched-job")), (1, 1));
    op.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_mid_follow_changes_nothing() {
    // A restart takes the bed with it: a bed of the test's own.
    let w = World::private("apifault-restart", SimConfig::default()).await;
    w.job_with_data("followed-job", "opened");
    w.ctl()
        .set_reset_duration(Some("followed-job"), Duration::from_secs(3600));
    let mut op = Operator::spawn(w.bed, &w.ns, None, "op").await;
    w.create("followed", json!({"jobId": "followed-job"})).await;
    w.wait("followed", "the task followed", |s| s.task_id.is_some())
        .await;
    w.bed
        .restart_apiserver()
        .await
        .expect("restart the API server");
    w.ctl().finish_reset("followed-job");
    let s = w.completed("followed").await;
    assert_eq!(
        (s.reset_requests, w.accepted_resets("followed-job")),
        (1, 1)
    );
    op.kill().await;
}

/// The operator's cache of JobResets stands still (its watch ended, the next list or watch
/// held at the front) while a later run of the job starts; a run mended meanwhile sees, read
/// fresh, that the other is under way (its cache still shows it waiting, and later), and
/// waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_mended_while_the_cache_lags_waits_for_the_run_under_way() {
    let sim = SimConfig {
        security: Some(security()),
        ..Default::default()
    };
    let w = World::bare("apifault-stale", sim).await;
    let ctl = w.ctl();
    w.job_with_data("stale-job", "closed");
    ctl.set_reset_duration(Some("stale-job"), Duration::from_secs(3));
    let (max_resetting, monitor) = track_max_in_phase(w.api.clone(), Phase::Resetting);
    let creds: &[(&str, &[u8])] = &[("username", b"elastic"), ("password", b"elastic-pw-1")];
    w.secret("ready-creds", creds).await;
    let mut op = Operator::spawn(w.bed, &w.ns, None, "op").await;

    w.create("reset-early", json!({"jobId": "stale-job", "elasticsearch": {"credentialsSecret": {"name": "late-creds"}}}))
        .await;
    w.wait("reset-early", "SecretNotFound", |s| {
        s.reason.as_deref() == Some("SecretNotFound")
    })
    .await;
    ctl.set_latency(Endpoint::JobGet, Duration::from_secs(2));
    w.create("reset-later", json!({"jobId": "stale-job", "elasticsearch": {"credentialsSecret": {"name": "ready-creds"}}}))
        .await;
    assert!(
        ctl.wait_for(|c| c.count(Endpoint::JobGet) >= 1, Duration::from_secs(30))
            .await,
        "the later run reads the job"
    );
    // From here the operator's cache shows the later run waiting.
    let mut held = Vec::new();
    for verb in ["watch", "list"] {
        let m = RequestMatch::any()
            .verb(verb)
            .group("ml.jobreset.io")
            .resource("jobresets")
            .user_agent(AGENT);
        held.push(
            w.bed
                .faults()
                .scoped(m.delay(Duration::from_secs(30)).forever())
                .expect("hold the operator's JobReset watch"),
        );
    }
    let watches = RequestMatch::any()
        .verb("watch")
        .group("ml.jobreset.io")
        .resource("jobresets")
        .user_agent(AGENT);
    let dropped = w
        .bed
        .drop_watches_matching(Some(&watches), WatchEnd::Close)
        .expect("end the operator's JobReset watch");
    assert!(dropped > 0, "the operator watched its JobResets");
    w.wait("reset-later", "its reset under way", |s| {
        s.phase == Phase::Resetting
    })
    .await;
    ctl.set_latency(Endpoint::JobGet, Duration::ZERO);
    w.secret("late-creds", creds).await;

    let early = w.completed("reset-early").await;
    let later = w.completed("reset-later").await;
    monitor.abort();
    drop(held);
    assert_ne!(early.task_id, later.task_id);
    assert_eq!(w.accepted_resets("stale-job"), 2, "each ran its own reset");
    assert_eq!(
        max_resetting.load(Ordering::SeqCst),
        1,
        "the two runs were never resetting at the same time"
    );
    op.kill().await;
}
