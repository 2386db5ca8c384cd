//! The deployment contract of the operator binary: the RBAC rules of each install
//! (`deploy/` for every namespace, `deploy/namespaced/` for one) against what the operator
//! really does, and its metrics and probe endpoints. RBAC: renders the install with `kubectl
//! kustomize`, runs it on the test bed's pod runner (as shipped: its args, leader election,
//! its own bed) through a whole reset (credentials Secret, status writes, Events, the Lease),
//! then checks every Kubernetes request the operator made, as the front recorded them,
//! against the Roles and ClusterRoles of that install, namespace by namespace, and that
//! every rule is used. Does I/O: test beds, a simulator, operator processes.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use common::{DEADLINE, Operator, World, http_get};
use es_ml_sim::SimConfig;
use jobreset_operator::api::JobResetSchedule;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::wait::{await_condition, conditions::is_deleted};
use serde::Deserialize;
use serde_json::{Value, json};
use testbed::pods::render_kustomize;
use testbed::{PodRunner, RunnerOptions};

/// One grant: (namespace of the Role, or None for a ClusterRole; apiGroup;
/// resource[/subresource]; verb).
type Grant = (Option<String>, String, String, String);

/// What the install's Roles and ClusterRoles grant.
fn grants(manifests: &str) -> BTreeSet<Grant> {
    let mut out = BTreeSet::new();
    for doc in serde_yaml_ng::Deserializer::from_str(manifests) {
        let doc = Value::deserialize(doc).expect("yaml document");
        let scope = match doc["kind"].as_str() {
            Some("ClusterRole") => None,
            Some("Role") => doc["metadata"]["namespace"].as_str().map(String::from),
            _ => continue,
        };
        for rule in doc["rules"].as_array().expect("rules") {
            let list = |k: &str| -> Vec<String> {
                rule[k]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            for g in list("apiGroups") {
                for r in list("resources") {
                    for v in list("verbs") {
                        out.insert((scope.clone(), g.clone(), r.clone(), v));
                    }
                }
            }
        }
    }
    out
}

/// Runs the install in `dir` on a bed of its own through one reset of a JobReset in `ns`
/// (created when missing); returns the install's grants and the operator's requests.
async fn exercise(dir: &str, ns: Option<&str>) -> (BTreeSet<Grant>, Vec<testbed::RecordedRequest>) {
    let w = World::private("rbac", SimConfig::default()).await;
    let ns = match ns {
        Some(ns) => {
            let api: Api<Namespace> = Api::all(w.client.clone());
            let obj = Namespace {
                metadata: ObjectMeta {
                    name: Some(ns.to_owned()),
                    ..Default::default()
                },
                ..Default::default()
            };
            api.create(&PostParams::default(), &obj)
                .await
                .expect("namespace");
            ns.to_owned()
        }
        None => w.ns.clone(),
    };
    let manifests =
        render_kustomize(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).expect("kustomize");
    let runner = PodRunner::start(
        w.bed,
        RunnerOptions {
            manifests: manifests.clone(),
            images: HashMap::from([(
                "jobreset-operator:0.1.0".to_owned(),
                PathBuf::from(env!("CARGO_BIN_EXE_jobreset-operator")),
            )]),
            ..Default::default()
        },
    )
    .await
    .expect("run the install");
    runner
        .wait_ready("jobreset-operator", 2, DEADLINE)
        .await
        .expect("both replicas Ready");
    w.job_with_data("rbac-job", "opened");
    w.secret_in(&ns, "es-creds", &[("username", b"u"), ("password", b"p")])
        .await;
    let mut here = w;
    here.api = Api::namespaced(here.client.clone(), &ns);
    here.ns = ns;
    here.create(
        "reset-rbac",
        json!({"jobId": "rbac-job", "elasticsearch": {"credentialsSecret": {"name": "es-creds"}}}),
    )
    .await;
    here.completed("reset-rbac").await;
    here.wait_event("reset-rbac", "Completed").await;
    // A reset of many jobs: the operator creates a child JobReset per job.
    here.job_with_data("rbac-fan-1", "closed");
    here.create(
        "fan-rbac",
        json!({"jobs": {"expression": "rbac-fan-*"}, "elasticsearch": {"credentialsSecret": {"name": "es-creds"}}}),
    )
    .await;
    here.completed("fan-rbac").await;
    // A finished JobReset past its TTL is deleted.
    let ttl = here
        .create(
            "ttl-rbac",
            json!({"jobId": "rbac-job", "ttlSecondsAfterFinished": 0, "elasticsearch": {"credentialsSecret": {"name": "es-creds"}}}),
        )
        .await;
    let uid = ttl.metadata.uid.clone().unwrap_or_default();
    let deleted = tokio::time::timeout(
        DEADLINE,
        await_condition(here.api.clone(), "ttl-rbac", is_deleted(&uid)),
    )
    .await;
    assert!(
        matches!(deleted, Ok(Ok(_))),
        "ttl-rbac was not deleted: {deleted:?}"
    );
    // A schedule: watched, and its status written (the next slot) at once.
    let schedules: Api<JobResetSchedule> = Api::namespaced(here.client.clone(), &here.ns);
    let schedule: JobResetSchedule = serde_json::from_value(json!({
        "apiVersion": "ml.jobreset.io/v1alpha1",
        "kind": "JobResetSchedule",
        "metadata": {"name": "yearly-rbac"},
        "spec": {"schedule": "@yearly", "jobResetTemplate": {"spec": {"jobId": "rbac-job",
                 "elasticsearch": {"url": here.sim.url(), "credentialsSecret": {"name": "es-creds"}}}}},
    }))
    .expect("schedule");
    schedules
        .create(&PostParams::default(), &schedule)
        .await
        .expect("create schedule");
    let scheduled = |o: Option<&JobResetSchedule>| {
        o.and_then(|o| o.status.as_ref())
            .is_some_and(|s| s.next_schedule_time.is_some())
    };
    let seen = tokio::time::timeout(
        DEADLINE,
        await_condition(schedules, "yearly-rbac", scheduled),
    )
    .await;
    assert!(
        matches!(seen, Ok(Ok(Some(_)))),
        "no schedule status: {seen:?}"
    );
    // Past one renewal of the Lease, then a graceful stop (its release).
    let leases: Api<Lease> = Api::namespaced(here.client.clone(), "jobreset-system");
    let renewed = |l: Option<&Lease>| {
        let spec = l.and_then(|l| l.spec.as_ref());
        let acquired = spec.and_then(|s| s.acquire_time.as_ref()).map(|t| t.0);
        let renewed = spec.and_then(|s| s.renew_time.as_ref()).map(|t| t.0);
        matches!((acquired, renewed), (Some(a), Some(r)) if r > a)
    };
    let seen = tokio::time::timeout(
        DEADLINE,
        await_condition(leases, "jobreset-operator", renewed),
    )
    .await;
    assert!(
        matches!(seen, Ok(Ok(Some(_)))),
        "the Lease was never renewed: {seen:?}"
    );
    runner.stop();
    let agent = concat!("jobreset-operator/", env!("CARGO_PKG_VERSION"));
    let used = here
        .bed
        .requests()
        .into_iter()
        .filter(|r| r.user_agent == agent)
        .collect();
    (grants(&manifests), used)
}

/// Checks each request against the grants (a Role counts in its own namespace only) and
/// that every grant was used; `patch` on Events is exempt (kube's Recorder patches only an
/// Event that repeats, which a single reset never does).
fn check(grants: &BTreeSet<Grant>, used: &[testbed::RecordedRequest]) {
    assert!(
        !used.is_empty(),
        "the front recorded no request from the operator"
    );
    let mut hit = BTreeSet::new();
    let mut denied = Vec::new();
    for r in used {
        let resource = match &r.subresource {
            Some(sub) => format!("{}/{sub}", r.resource),
            None => r.resource.clone(),
        };
        let by = |scope: Option<String>| (scope, r.group.clone(), resource.clone(), r.verb.clone());
        let cluster = by(None);
        let role = r.namespace.clone().map(|ns| by(Some(ns)));
        match (
            grants.contains(&cluster),
            role.filter(|g| grants.contains(g)),
        ) {
            (true, _) => {
                hit.insert(cluster);
            }
            (false, Some(g)) => {
                hit.insert(g);
            }
            (false, None) => denied.push(format!("{} {resource} in {:?}", r.verb, r.namespace)),
        }
    }
    assert!(
        denied.is_empty(),
        "requests the install does not allow: {denied:?}"
    );
    let unused: Vec<_> = grants
        .difference(&hit)
        .filter(|(_, g, r, v)| !(g == "events.k8s.io" && r == "events" && v == "patch"))
        .collect();
    assert!(
        unused.is_empty(),
        "grants the operator never used: {unused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_wide_install_grants_what_is_used_and_nothing_more() {
    let (grants, used) = exercise("deploy", None).await;
    assert!(
        grants.iter().any(|g| g.0.is_none() && g.2 == "secrets"),
        "deploy/ reads Secrets through a ClusterRole"
    );
    check(&grants, &used);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespaced_install_grants_what_is_used_and_nothing_more() {
    let (grants, used) = exercise("deploy/namespaced", Some("observability")).await;
    assert!(
        grants.iter().all(|g| g.0.is_some()),
        "deploy/namespaced/ has no ClusterRole: {grants:?}"
    );
    check(&grants, &used);
    let outside: Vec<_> = used
        .iter()
        .filter(|r| {
            !matches!(
                r.namespace.as_deref(),
                Some("observability" | "jobreset-system")
            )
        })
        .map(|r| format!("{} {} {:?}", r.verb, r.resource, r.namespace))
        .collect();
    assert!(
        outside.is_empty(),
        "requests outside the install's namespaces: {outside:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_probes_report_the_run() {
    let w = World::bare("metrics", SimConfig::default()).await;
    w.job_with_data("metrics-job", "closed");
    let addr = common::free_addr();
    let mut op = Operator::spawn_with(
        w.bed,
        &w.ns,
        "metrics",
        &["--metrics-addr", &addr.to_string()],
    )
    .await;
    w.create("reset-metrics", json!({"jobId": "metrics-job"}))
        .await;
    w.completed("reset-metrics").await;
    // The run is counted right after its last status write and before its Completed Event:
    // once the Event is there, so is the count.
    w.wait_event("reset-metrics", "Completed").await;

    let (status, body) = http_get(addr, "/healthz").await;
    assert!(status.contains(" 200 "), "{status} {body}");
    let (status, body) = http_get(addr, "/readyz").await;
    assert!(status.contains(" 200 "), "{status} {body}");
    let (status, body) = http_get(addr, "/metrics").await;
    op.kill().await;
    assert!(status.contains(" 200 "), "{status}");
    for line in [
        "jobreset_runs_finished_total{phase=\"Completed\",reason=\"ResetCompleted\"} 1",
        "jobreset_task_follows 0",
    ] {
        assert!(body.contains(line), "missing {line:?} in:\n{body}");
    }
    assert!(
        body.contains("jobreset_reconcile_total{result=\"ok\"}"),
        "{body}"
    );
}
