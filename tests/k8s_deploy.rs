//! The shipped `deploy/` as shipped: `kubectl kustomize deploy/` rendered and run by the test
//! bed's pod runner (the Deployment's args, env with fieldRefs, probes, rolling update), the
//! operator binary as its container. Two replicas become and stay Ready; a killed leader is
//! replaced by the standby; a rolling restart of both replicas while resets run loses none
//! and doubles none. Takeover times are printed as figures, never asserted. Does I/O: a test
//! bed of its own (the operator watches every namespace), a simulator, operator processes.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{DEADLINE, World};
use es_ml_sim::SimConfig;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;
use testbed::pods::{PodEvent, render_kustomize};
use testbed::{PodRunner, RunnerOptions};

const DEPLOYMENT: &str = "jobreset-operator";
const SYSTEM_NS: &str = "jobreset-system";

async fn run_deploy(w: &World, restart_backoff: Duration) -> PodRunner {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let manifests = render_kustomize(&dir).expect("kubectl kustomize deploy/");
    let images = HashMap::from([(
        "jobreset-operator:0.1.0".to_owned(),
        PathBuf::from(env!("CARGO_BIN_EXE_jobreset-operator")),
    )]);
    let runner = PodRunner::start(
        w.bed,
        RunnerOptions {
            manifests,
            images,
            extra_env: vec![("RUST_LOG".into(), "info".into())],
            restart_backoff,
            ..Default::default()
        },
    )
    .await
    .expect("run deploy/");
    if let Err(e) = runner.wait_ready(DEPLOYMENT, 2, DEADLINE).await {
        panic!("{e}\n{}", logs(&runner));
    }
    runner
}

fn logs(r: &PodRunner) -> String {
    r.pods()
        .iter()
        .map(|p| format!("--- {}:\n{}", p.name, r.log(&p.name).unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn holder(w: &World) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(w.client.clone(), SYSTEM_NS);
    api.get_opt(DEPLOYMENT)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

async fn wait_holder(w: &World, what: &str, cond: impl Fn(Option<&str>) -> bool) -> String {
    use kube::runtime::wait::await_condition;
    let api: Api<Lease> = Api::namespaced(w.client.clone(), SYSTEM_NS);
    let held = move |l: Option<&Lease>| {
        let h = l
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.holder_identity.as_deref());
        h.is_some() && cond(h)
    };
    match tokio::time::timeout(DEADLINE, await_condition(api, DEPLOYMENT, held)).await {
        Ok(Ok(Some(l))) => l.spec.and_then(|s| s.holder_identity).unwrap_or_default(),
        other => panic!("Lease: not {what} within {DEADLINE:?}: {other:?}"),
    }
}

fn probe_kills(r: &PodRunner) -> Vec<String> {
    r.timeline()
        .into_iter()
        .filter(|e| matches!(e.event, PodEvent::ProbeKill { .. }))
        .map(|e| format!("{:?}", e.event))
        .collect()
}

async fn jobs_and_resets(w: &World, n: usize) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..n {
        let job = format!("job-{i}");
        w.job_with_data(&job, "opened");
        let name = format!("reset-{i}");
        w.create(&name, json!({"jobId": job})).await;
        names.push(name);
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_replicas_become_ready_and_stay_ready() {
    let w = World::private("deploy-ready", SimConfig::default()).await;
    let runner = run_deploy(&w, Duration::from_secs(1)).await;
    // Three liveness periods (10 s each): any restart or lost readiness ends the wait early.
    let unstable = runner
        .wait_for(
            "a restart or a replica not Ready",
            Duration::from_secs(30),
            |pods| {
                let live: Vec<_> = pods.iter().filter(|p| !p.terminating).collect();
                (live.len() != 2 || live.iter().any(|p| p.restarts > 0 || !p.ready))
                    .then(|| format!("{live:?}"))
            },
        )
        .await;
    assert!(unstable.is_err(), "{unstable:?}\n{}", logs(&runner));
    assert_eq!(probe_kills(&runner), Vec::<String>::new());
    let leader = holder(&w).await.unwrap_or_default();
    assert!(
        runner.pods().iter().any(|p| p.name == leader),
        "the Lease names one of the pods (POD_NAME from the fieldRef): {leader}"
    );
    // And the replicas do their job.
    w.job_with_data("ready-job", "opened");
    w.create("ready-reset", json!({"jobId": "ready-job"})).await;
    w.completed("ready-reset").await;
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_from_a_killed_leader() {
    let w = World::private("deploy-kill", SimConfig::default()).await;
    // As after a node failure: the killed replica does not come back within the Lease.
    let runner = run_deploy(&w, Duration::from_secs(120)).await;
    let leader = wait_holder(&w, "held", |_| true).await;
    let killed = Instant::now();
    runner
        .kill_container(&leader, libc::SIGKILL)
        .expect("SIGKILL the leader");
    let standby = wait_holder(&w, "taken over", |h| h != Some(leader.as_str())).await;
    let took = killed.elapsed();
    w.job_with_data("after-kill", "opened");
    w.create("after-kill", json!({"jobId": "after-kill"})).await;
    w.completed("after-kill").await;
    let acted = killed.elapsed();
    eprintln!(
        "FIGURE takeover after SIGKILL of the leader: Lease held by the standby after {:.1} s, \
         a new reset Completed {:.1} s after the kill (lease duration 15 s)",
        took.as_secs_f64(),
        acted.as_secs_f64()
    );
    assert!(runner.pods().iter().any(|p| p.name == standby));
    assert_eq!(w.accepted_resets("after-kill"), 1);
    runner.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_while_resets_run_loses_and_doubles_none() {
    let w = World::private("deploy-roll", SimConfig::default()).await;
    let runner = run_deploy(&w, Duration::from_secs(1)).await;
    let first = wait_holder(&w, "held", |_| true).await;
    // Resets long enough to span the rollout.
    w.ctl().set_reset_duration(None, Duration::from_secs(3));
    let names = jobs_and_resets(&w, 20).await;
    let started = Instant::now();
    runner
        .rollout_restart(DEPLOYMENT, Duration::from_secs(180))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&runner)));
    let rolled = started.elapsed();
    for name in &names {
        w.completed(name).await;
    }
    for i in 0..names.len() {
        assert_eq!(w.accepted_resets(&format!("job-{i}")), 1, "job-{i}");
    }
    assert_eq!(
        probe_kills(&runner),
        Vec::<String>::new(),
        "{}",
        logs(&runner)
    );
    let restarts: u32 = runner.pods().iter().map(|p| p.restarts).sum();
    assert_eq!(restarts, 0, "no replica restarted");
    let last = holder(&w).await.unwrap_or_default();
    assert_ne!(first, last, "the Lease moved to a new pod");
    eprintln!(
        "FIGURE rolling restart of 2 replicas with 20 resets running: {:.1} s, all done {:.1} s after it began",
        rolled.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    runner.stop();
}
