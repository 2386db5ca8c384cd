//! The deployment contract of the operator binary: the RBAC rules in deploy/rbac.yaml against
//! what the operator really does, and its metrics and probe endpoints. RBAC: runs the
//! operator binary through a whole reset (credentials Secret, status writes, Events), then
//! checks every Kubernetes request it made, as the test bed's front recorded them, against
//! the ClusterRole. Does I/O: the test bed, a simulator, the operator process.

mod common;

use std::collections::BTreeSet;

use common::{Operator, World, http_get};
use es_ml_sim::SimConfig;
use serde::Deserialize;
use serde_json::{Value, json};

/// (apiGroup, resource[/subresource], verb) triples the ClusterRole grants.
fn granted() -> BTreeSet<(String, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml");
    let text = std::fs::read_to_string(path).expect("deploy/rbac.yaml");
    let mut out = BTreeSet::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let doc = Value::deserialize(doc).expect("yaml document");
        if doc["kind"] != "ClusterRole" && doc["kind"] != "Role" {
            continue;
        }
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
                        out.insert((g.clone(), r.clone(), v));
                    }
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_role_covers_every_request_and_nothing_unused() {
    let w = World::bare("rbac", SimConfig::default()).await;
    w.job_with_data("rbac-job", "opened");
    w.secret("es-creds", &[("username", b"u"), ("password", b"p")])
        .await;
    // As deployed: with leader election (its Lease in the test's namespace, renewed often so
    // the renewal shows up in the request log).
    let args = [
        "--leader-elect",
        "--leader-election-namespace",
        &w.ns,
        "--retry-period",
        "200ms",
    ];
    let mut op = Operator::spawn_with(w.bed, &w.ns, "rbac", &args).await;
    w.create(
        "reset-rbac",
        json!({"jobId": "rbac-job", "elasticsearch": {"credentialsSecret": {"name": "es-creds"}}}),
    )
    .await;
    w.completed("reset-rbac").await;
    w.wait_event("reset-rbac", "Completed").await;
    common::wait_lease_renewed(&w, "jobreset-operator").await;
    op.kill().await;

    let agent = concat!("jobreset-operator/", env!("CARGO_PKG_VERSION"));
    let used: BTreeSet<(String, String, String)> = w
        .bed
        .requests()
        .into_iter()
        .filter(|r| r.user_agent == agent)
        .filter(|r| r.namespace.is_none() || r.namespace.as_deref() == Some(w.ns.as_str()))
        .map(|r| {
            let resource = match &r.subresource {
                Some(sub) => format!("{}/{sub}", r.resource),
                None => r.resource.clone(),
            };
            (r.group, resource, r.verb)
        })
        .collect();
    assert!(
        !used.is_empty(),
        "the front recorded no request from {agent}"
    );
    let granted = granted();
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "requests the ClusterRole does not allow: {missing:?}"
    );
    for needed in [
        ("coordination.k8s.io", "leases", "update"),
        ("ml.jobreset.io", "jobresets", "watch"),
        ("ml.jobreset.io", "jobresets/status", "patch"),
        ("", "secrets", "get"),
        ("events.k8s.io", "events", "create"),
    ] {
        let t = (
            needed.0.to_string(),
            needed.1.to_string(),
            needed.2.to_string(),
        );
        assert!(
            used.contains(&t),
            "expected the operator to use {t:?}; used {used:?}"
        );
    }
    // Every grant is used, except `patch` on Events: kube's Recorder only patches an Event
    // when the same one repeats, which a single reset never does.
    let unused: Vec<_> = granted
        .difference(&used)
        .filter(|(g, r, v)| !(g == "events.k8s.io" && r == "events" && v == "patch"))
        .collect();
    assert!(
        unused.is_empty(),
        "grants the operator never used: {unused:?}"
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
