//! The RBAC rules in deploy/rbac.yaml against what the operator really does: runs the
//! operator binary through a whole reset (credentials Secret, status writes, Events), then
//! checks every Kubernetes request it made, as the test bed's front recorded them, against
//! the ClusterRole. Does I/O: the test bed, a simulator, the operator process.

mod common;

use std::collections::BTreeSet;

use common::{Operator, World};
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
        if doc["kind"] != "ClusterRole" {
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
    let mut op = Operator::spawn(w.bed, &w.ns, None, "rbac").await;
    w.create(
        "reset-rbac",
        json!({"jobId": "rbac-job", "elasticsearch": {"credentialsSecret": {"name": "es-creds"}}}),
    )
    .await;
    w.completed("reset-rbac").await;
    w.wait_event("reset-rbac", "Completed").await;
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
