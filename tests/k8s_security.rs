//! The attacks a tenant could try with `elasticsearchRef`, each closed: a reference into
//! another namespace without that namespace's consent is refused before anything there is
//! read; a JobResetGrant (or the admin's allow-list) opens exactly what it names; ECK's
//! `elastic` password never shows in logs, Events or status. Runs the operator binary
//! watching every namespace, so each test has a test bed of its own. Does I/O: the test bed,
//! a simulator, the operator process.

mod common;

use common::{Operator, World, security};
use es_ml_sim::SimConfig;
use jobreset_operator::api::JobResetGrant;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

const ELASTIC_PW: &str = "elastic-pw-1";
const AGENT: &str = concat!("jobreset-operator/", env!("CARGO_PKG_VERSION"));

/// A namespace holding what ECK creates for Elasticsearch `quickstart` (the simulator stands
/// in for its Service through `--eck-url-template`).
async fn eck_namespace(w: &World) -> String {
    let api: Api<Namespace> = Api::all(w.client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            generate_name: Some("elastic-".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let ns = api
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the ECK namespace")
        .metadata
        .name
        .expect("generated name");
    w.secret_in(
        &ns,
        "quickstart-es-elastic-user",
        &[("elastic", ELASTIC_PW.as_bytes())],
    )
    .await;
    ns
}

async fn grant(w: &World, ns: &str, from: &str, elastic_user: bool) {
    let api: Api<JobResetGrant> = Api::namespaced(w.client.clone(), ns);
    let body = json!({
        "apiVersion": "ml.jobreset.io/v1alpha1",
        "kind": "JobResetGrant",
        "metadata": {"name": "tenants"},
        "spec": {"from": [{"namespace": from}], "to": [{"name": "quickstart"}], "allowElasticUser": elastic_user},
    });
    api.patch(
        "tenants",
        &PatchParams::apply("test").force(),
        &Patch::Apply(&body),
    )
    .await
    .expect("apply the JobResetGrant");
}

/// Requests of the operator that read a Secret in `ns`.
fn secret_reads_in(w: &World, ns: &str) -> Vec<String> {
    w.bed
        .requests()
        .into_iter()
        .filter(|r| r.user_agent == AGENT && r.resource == "secrets")
        .filter(|r| r.namespace.as_deref() == Some(ns) && r.verb == "get")
        .map(|r| format!("{} {:?}", r.verb, r.name))
        .collect()
}

/// Everything the operator wrote or said about the run must be free of the password.
async fn assert_no_password(w: &World, op: &Operator, name: &str) {
    let log = op.log_text();
    assert!(
        !log.contains(ELASTIC_PW),
        "the password is in the log:\n{log}"
    );
    let status = w.api.get(name).await.expect("JobReset").status;
    let status = serde_json::to_string(&status).unwrap_or_default();
    assert!(
        !status.contains(ELASTIC_PW),
        "the password is in status: {status}"
    );
    let events: Api<Event> = Api::namespaced(w.client.clone(), &w.ns);
    let events = events.list(&Default::default()).await.expect("Events");
    let events = serde_json::to_string(&events.items).unwrap_or_default();
    assert!(!events.contains(ELASTIC_PW), "the password is in an Event");
}

async fn eck_world(prefix: &str) -> World {
    let w = World::private(
        prefix,
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("eck-job", "opened");
    w
}

fn eck_ref(ns: &str) -> serde_json::Value {
    json!({"jobId": "eck-job", "elasticsearch": {"elasticsearchRef": {"name": "quickstart", "namespace": ns}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cross_namespace_ref_needs_the_target_namespaces_grant() {
    let w = eck_world("sec-grant").await;
    let eck = eck_namespace(&w).await;
    let template = w.sim.url();
    let mut op =
        Operator::spawn_cluster_wide(w.bed, &w.ns, "op", &["--eck-url-template", &template]).await;

    w.create("borrow", eck_ref(&eck)).await;
    let s = w
        .wait("borrow", "CrossNamespaceRefDenied", |s| {
            s.reason.as_deref() == Some("CrossNamespaceRefDenied")
        })
        .await;
    let msg = s.message.unwrap_or_default();
    assert!(
        msg.contains(&format!("JobResetGrant in namespace {eck}")),
        "{msg}"
    );
    w.wait_event("borrow", "CrossNamespaceRefDenied").await;
    assert_eq!(
        secret_reads_in(&w, &eck),
        Vec::<String>::new(),
        "a refused reference must read nothing in {eck}"
    );

    // A grant without allowElasticUser does not lend the superuser.
    grant(&w, &eck, &w.ns, false).await;
    let s = w
        .wait("borrow", "the superuser refusal", |s| {
            s.message
                .as_deref()
                .is_some_and(|m| m.contains("allowElasticUser: true"))
        })
        .await;
    assert_eq!(s.phase, jobreset_operator::api::Phase::Pending, "{s:#?}");
    assert_eq!(secret_reads_in(&w, &eck), Vec::<String>::new());
    assert_eq!(w.accepted_resets("eck-job"), 0);

    // The namespace's owner lends it: the waiting run goes on.
    grant(&w, &eck, &w.ns, true).await;
    w.completed("borrow").await;
    assert_eq!(w.accepted_resets("eck-job"), 1);
    assert!(
        !secret_reads_in(&w, &eck).is_empty(),
        "read after the grant"
    );
    assert_no_password(&w, &op, "borrow").await;
    op.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_for_another_namespace_opens_nothing() {
    let w = eck_world("sec-other").await;
    let eck = eck_namespace(&w).await;
    grant(&w, &eck, "someone-else", true).await;
    let template = w.sim.url();
    let mut op =
        Operator::spawn_cluster_wide(w.bed, &w.ns, "op", &["--eck-url-template", &template]).await;
    w.create("borrow", eck_ref(&eck)).await;
    w.wait_event("borrow", "CrossNamespaceRefDenied").await;
    assert_eq!(secret_reads_in(&w, &eck), Vec::<String>::new());
    assert_eq!(w.accepted_resets("eck-job"), 0);
    assert_no_password(&w, &op, "borrow").await;
    op.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admins_allow_list_opens_a_namespace_pair() {
    let w = eck_world("sec-admin").await;
    let eck = eck_namespace(&w).await;
    let template = w.sim.url();
    let allow = format!("{}={eck}", w.ns);
    let mut op = Operator::spawn_cluster_wide(
        w.bed,
        &w.ns,
        "op",
        &[
            "--eck-url-template",
            &template,
            "--allow-cross-namespace-ref",
            &allow,
        ],
    )
    .await;
    w.create("borrow", eck_ref(&eck)).await;
    w.completed("borrow").await;
    assert_eq!(w.accepted_resets("eck-job"), 1);
    assert_no_password(&w, &op, "borrow").await;
    op.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_in_place_at_start_is_never_taken_for_a_refusal() {
    // An empty grant cache at start (or after a leader change) is not a refusal: the run
    // must not be told CrossNamespaceRefDenied while the first list is still on its way.
    let w = eck_world("sec-start").await;
    let eck = eck_namespace(&w).await;
    grant(&w, &eck, &w.ns, true).await;
    w.create("borrow", eck_ref(&eck)).await;
    let template = w.sim.url();
    let mut op =
        Operator::spawn_cluster_wide(w.bed, &w.ns, "op", &["--eck-url-template", &template]).await;
    w.completed("borrow").await;
    let events: Api<Event> = Api::namespaced(w.client.clone(), &w.ns);
    let denied: Vec<_> = events
        .list(&Default::default())
        .await
        .expect("Events")
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("CrossNamespaceRefDenied"))
        .collect();
    assert!(denied.is_empty(), "{denied:?}\n{}", op.log_text());
    op.kill().await;
}
