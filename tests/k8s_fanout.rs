//! Many jobs in one JobReset (`spec.jobs`) and dry runs, end to end on the shared test bed
//! and a simulator per test: the expression is resolved once and frozen, each target is reset
//! by a child JobReset, and the simulator's log shows what was touched. Does I/O (Kubernetes,
//! loopback HTTP, processes, kubectl).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Operator, World, job_body, seed, track_max_in_phase};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::{JobReset, Phase};
use jobreset_operator::controller::Options;
use kube::api::ListParams;
use serde_json::json;

const PARENT_LABEL: &str = "ml.jobreset.io/parent";

/// A closed job with data in `groups`.
fn job_in(w: &World, id: &str, groups: &[&str]) {
    let mut s = seed(id, "closed", false);
    let mut config = job_body();
    config["groups"] = json!(groups);
    s.jobs[0].config = Some(config);
    w.ctl().apply_seed(&s).expect("seed job");
}

async fn children(w: &World, parent: &str) -> Vec<JobReset> {
    let lp = ListParams::default().labels(&format!("{PARENT_LABEL}={parent}"));
    w.api.list(&lp).await.expect("list children").items
}

fn job_ids(children: &[JobReset]) -> BTreeSet<String> {
    children.iter().map(|c| c.spec.job_id.clone()).collect()
}

/// Every request the simulator logged that is not a read (nor the test's own control calls).
fn writes(w: &World) -> Vec<String> {
    w.ctl()
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET" && r.endpoint != Endpoint::Control)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_and_a_wildcard_less_exclusions_and_misses() {
    let w = World::new("fan-group", SimConfig::default()).await;
    for id in ["web-a", "web-b", "web-c"] {
        job_in(&w, id, &["web-anomalies"]);
    }
    job_in(&w, "api-x", &[]);
    job_in(&w, "other", &[]);
    for id in ["web-a", "web-c", "api-x", "other"] {
        w.ctl().set_memory_status(id, "hard_limit");
    }
    w.create(
        "weekly",
        json!({"jobs": {
            "expression": "web-anomalies,api-*",
            "exclude": "web-c",
            "conditions": {"memoryStatus": ["hard_limit"]},
            "parallelism": 2
        }}),
    )
    .await;
    let s = w.terminal("weekly").await;
    assert_eq!(s.phase, Phase::Completed, "{s:#?}");
    assert_eq!(s.reason.as_deref(), Some("ResetCompleted"), "{s:#?}");
    let ready = s.condition("Ready").expect("Ready");
    assert_eq!(ready.status, "True", "{s:#?}");
    let fan = s.fan_out.clone().expect("fanOut status");
    assert_eq!(fan.targets, ["api-x", "web-a"], "{fan:#?}");
    assert_eq!(
        (fan.succeeded, fan.failed, fan.running, fan.waiting),
        (2, 0, 0, 0)
    );
    let skipped: Vec<(&str, &str)> = fan
        .skipped
        .iter()
        .map(|k| (k.job_id.as_str(), k.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .any(|(j, r)| *j == "web-b" && r.contains("memory status ok"))
    );
    assert!(
        skipped.contains(&("web-c", "named by jobs.exclude")),
        "{skipped:?}"
    );

    let kids = children(&w, "weekly").await;
    assert_eq!(job_ids(&kids), ["api-x", "web-a"].map(String::from).into());
    for kid in &kids {
        let owner = &kid.metadata.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("JobReset", "weekly")
        );
        assert_eq!(kid.status.as_ref().map(|s| s.phase), Some(Phase::Completed));
    }
    for (job, resets) in [
        ("web-a", 1),
        ("api-x", 1),
        ("web-b", 0),
        ("web-c", 0),
        ("other", 0),
    ] {
        assert_eq!(w.ctl().resets_started(job), resets, "{job}");
    }
    w.assert_job_reset("web-a");

    // What users type: the children by label, and a wait on the parent.
    let out = std::process::Command::new("kubectl")
        .env("KUBECONFIG", w.bed.kubeconfig_path())
        .args([
            "-n",
            &w.ns,
            "get",
            "jr",
            "-l",
            &format!("{PARENT_LABEL}=weekly"),
        ])
        .args([
            "-o",
            "custom-columns=JOB:.spec.jobId,PHASE:.status.phase",
            "--no-headers",
        ])
        .output()
        .expect("kubectl get");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("web-a") && text.contains("api-x"), "{text}");
    let wait = std::process::Command::new("kubectl")
        .env("KUBECONFIG", w.bed.kubeconfig_path())
        .args([
            "-n",
            &w.ns,
            "wait",
            "jr/weekly",
            "--for=condition=Ready",
            "--timeout=60s",
        ])
        .output()
        .expect("kubectl wait");
    assert!(
        wait.status.success(),
        "{}",
        String::from_utf8_lossy(&wait.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frozen_list_survives_a_crash_between_resolving_and_creating() {
    let w = World::bare("fan-crash", SimConfig::default()).await;
    for id in ["g-1", "g-2", "g-3"] {
        job_in(&w, id, &["nightly"]);
    }
    w.create(
        "nightly",
        json!({"jobs": {"expression": "nightly", "parallelism": 3}}),
    )
    .await;
    let mut first = Operator::spawn(w.bed, &w.ns, Some("after-targets-frozen"), "first").await;
    let exit = first.exited().await;
    assert!(!exit.success(), "no crash; log:\n{}", first.log_text());
    let frozen = w
        .api
        .get("nightly")
        .await
        .expect("parent")
        .status
        .unwrap_or_default();
    let fan = frozen.fan_out.expect("targets frozen before the crash");
    assert_eq!(fan.targets, ["g-1", "g-2", "g-3"]);
    assert!(
        children(&w, "nightly").await.is_empty(),
        "no child before the crash"
    );
    assert!(
        writes(&w).is_empty(),
        "nothing touched before the crash: {:?}",
        writes(&w)
    );

    // A job that joins the group now is not picked up: the list is never resolved again.
    job_in(&w, "g-4", &["nightly"]);
    let mut second = Operator::spawn(w.bed, &w.ns, None, "second").await;
    let s = w.terminal("nightly").await;
    second.kill().await;
    assert_eq!(s.phase, Phase::Completed, "{s:#?}");
    assert_eq!(s.fan_out.expect("fanOut").targets, ["g-1", "g-2", "g-3"]);
    let kids = children(&w, "nightly").await;
    assert_eq!(kids.len(), 3, "one child per target");
    for job in ["g-1", "g-2", "g-3"] {
        assert_eq!(w.ctl().resets_started(job), 1, "{job} reset once");
    }
    assert_eq!(w.ctl().resets_started("g-4"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_matches_than_max_jobs_resets_nothing() {
    let w = World::new("fan-max", SimConfig::default()).await;
    for id in ["m-1", "m-2", "m-3"] {
        job_in(&w, id, &[]);
    }
    w.create(
        "too-many",
        json!({"jobs": {"expression": "m-*", "maxJobs": 2}}),
    )
    .await;
    let s = w.failed("too-many", "TooManyJobs").await;
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("3 jobs") && msg.contains("maxJobs (2)"),
        "{msg}"
    );
    assert!(children(&w, "too-many").await.is_empty());
    assert!(writes(&w).is_empty(), "{:?}", writes(&w));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallelism_bounds_the_resets_running_at_once() {
    let w = World::new("fan-par", SimConfig::default()).await;
    for i in 1..=5 {
        job_in(&w, &format!("p-{i}"), &["batch"]);
    }
    // Resets long enough to overlap if the parent let them.
    w.ctl()
        .set_reset_duration(None, std::time::Duration::from_millis(400));
    let (max_resetting, watch) = track_max_in_phase(w.api.clone(), Phase::Resetting);
    w.create(
        "batch",
        json!({"jobs": {"expression": "batch", "parallelism": 2}}),
    )
    .await;
    let s = w.terminal("batch").await;
    watch.abort();
    assert_eq!(s.phase, Phase::Completed, "{s:#?}");
    assert_eq!(s.fan_out.expect("fanOut").succeeded, 5);
    let peak = w.ctl().resets_running_peak();
    assert!(peak <= 2, "{peak} resets ran at once with parallelism 2");
    // The parent itself is Resetting throughout: at most it and two children.
    let seen = max_resetting.load(std::sync::atomic::Ordering::SeqCst);
    assert!(seen <= 3, "{seen} JobResets were Resetting at once");
    for i in 1..=5 {
        assert_eq!(w.ctl().resets_started(&format!("p-{i}")), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_policy_stop_creates_no_child_after_a_failure() {
    let w = World::new("fan-stop", SimConfig::default()).await;
    for id in ["s-1", "s-2", "s-3"] {
        job_in(&w, id, &[]);
    }
    // The first reset is refused for good (a missing privilege).
    let denied = json!({"error": {"type": "security_exception", "reason": "action [cluster:admin/xpack/ml/job/reset] is unauthorized"}, "status": 403});
    w.ctl().fail_next(Endpoint::JobReset, 1, 403, denied);
    w.create(
        "stop",
        json!({"jobs": {"expression": "s-*", "failurePolicy": "Stop"}}),
    )
    .await;
    let s = w.failed("stop", "SomeResetsFailed").await;
    let fan = s.fan_out.clone().expect("fanOut");
    assert_eq!(
        (fan.succeeded, fan.failed, fan.waiting),
        (0, 1, 2),
        "{fan:#?}"
    );
    assert_eq!(fan.failed_jobs, ["s-1"]);
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("s-1") && msg.contains("left 2 jobs unreset"),
        "{msg}"
    );
    assert_eq!(
        job_ids(&children(&w, "stop").await),
        ["s-1".to_owned()].into()
    );
    assert_eq!(w.ctl().count(Endpoint::JobReset), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_only_reads() {
    let w = World::new("fan-dry", SimConfig::default()).await;
    job_in(&w, "d-1", &["dry"]);
    job_in(&w, "d-2", &["dry"]);
    w.ctl()
        .apply_seed(&seed("d-3", "opened", true))
        .expect("seed d-3");
    w.create(
        "dry",
        json!({"dryRun": true, "jobs": {"expression": "dry,d-3", "exclude": "d-2"}}),
    )
    .await;
    let s = w.terminal("dry").await;
    assert_eq!(s.phase, Phase::Completed, "{s:#?}");
    assert_eq!(s.reason.as_deref(), Some("DryRun"), "{s:#?}");
    let would: Vec<_> = s.would_reset.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(would, ["d-1", "d-3"], "{s:#?}");
    let d3 = &s.would_reset[1];
    assert_eq!(d3.state, "opened");
    // Its started datafeed keeps ingesting.
    assert!(d3.processed_record_count >= 1234, "{d3:?}");
    assert!(d3.has_model_snapshot);
    assert_eq!(d3.datafeed.as_deref(), Some("datafeed-d-3"));
    assert_eq!(d3.datafeed_state.as_deref(), Some("started"));
    assert!(children(&w, "dry").await.is_empty());

    // On one job too.
    w.create("dry-one", json!({"dryRun": true, "jobId": "d-2"}))
        .await;
    let one = w.terminal("dry-one").await;
    assert_eq!(one.reason.as_deref(), Some("DryRun"), "{one:#?}");
    assert_eq!(one.would_reset.len(), 1);
    assert!(writes(&w).is_empty(), "a dry run wrote: {:?}", writes(&w));
    for job in ["d-1", "d-2", "d-3"] {
        assert_eq!(w.ctl().resets_started(job), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_match_is_a_failure_unless_allowed() {
    let w = World::new("fan-none", SimConfig::default()).await;
    job_in(&w, "n-1", &[]);
    w.create("strict", json!({"jobs": {"expression": "nothing-*"}}))
        .await;
    let s = w.failed("strict", "NoJobsMatched").await;
    assert!(s.message.unwrap_or_default().contains("nothing-*"));
    w.create(
        "lenient",
        json!({"jobs": {"expression": "nothing-*", "allowNoMatch": true}}),
    )
    .await;
    let s = w.terminal("lenient").await;
    assert_eq!(
        (s.phase, s.reason.as_deref()),
        (Phase::Completed, Some("NoJobsMatched"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_that_cannot_resolve_its_jobs_fails_at_its_deadline() {
    // Elasticsearch down from the start: the expression is never resolved, so no job is
    // touched, and the parent gives up at deadlineSeconds as a single run does.
    let mut w = World::bare("fan-deadline", SimConfig::default()).await;
    // Its retry comes back by the deadline, not a backoff later (longer than this test waits).
    w.start_controller(Options {
        backoff_base: Duration::from_secs(120),
        backoff_cap: Duration::from_secs(300),
        ..common::options(&w.ns)
    });
    job_in(&w, "late-1", &[]);
    w.sim.stop_listening().await;
    w.create(
        "late-parent",
        json!({"jobs": {"expression": "late-*"}, "deadlineSeconds": 1}),
    )
    .await;
    let s = w.failed("late-parent", "DeadlineExceeded").await;
    // Tried again with backoff (its own status write wakes no reconcile): a handful of
    // times, not once per write's echo.
    assert!(s.attempts <= 5, "{} attempts", s.attempts);
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains("no job was touched") && msg.contains("ElasticsearchUnreachable"),
        "{msg}"
    );
    assert!(s.fan_out.is_none(), "nothing was resolved");
    assert!(children(&w, "late-parent").await.is_empty());
}
