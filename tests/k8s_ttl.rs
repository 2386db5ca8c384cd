//! `spec.ttlSecondsAfterFinished` end to end on the shared test bed: a finished JobReset is
//! deleted (the Event says so), one that Argo CD tracks is kept with a Warning (deleted, it
//! would be created again and reset its job again), and one within its TTL is kept. Does I/O (Kubernetes, loopback HTTP).

mod common;

use common::{DEADLINE, World};
use es_ml_sim::SimConfig;
use jobreset_operator::api::JobReset;
use kube::{
    Api, ResourceExt,
    api::PostParams,
    runtime::wait::{await_condition, conditions::is_deleted},
};
use serde_json::json;

async fn gone(api: &Api<JobReset>, obj: &JobReset) {
    let uid = obj.uid().unwrap_or_default();
    let deleted = tokio::time::timeout(
        DEADLINE,
        await_condition(api.clone(), &obj.name_any(), is_deleted(&uid)),
    )
    .await;
    assert!(
        matches!(deleted, Ok(Ok(_))),
        "{} was not deleted: {deleted:?}",
        obj.name_any()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_jobreset_is_deleted_after_its_ttl() {
    let w = World::new("ttl", SimConfig::default()).await;
    w.job_with_data("ttl-job", "closed");
    w.job_with_data("kept-job", "closed");
    let short = w
        .create(
            "short",
            json!({"jobId": "ttl-job", "ttlSecondsAfterFinished": 0}),
        )
        .await;
    let kept = w
        .create(
            "kept",
            json!({"jobId": "kept-job", "ttlSecondsAfterFinished": 86400}),
        )
        .await;
    gone(&w.api, &short).await;
    let events = w.wait_event("short", "Expired").await;
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("Completed")),
        "it finished before it went: {events:?}"
    );
    w.completed("kept").await;
    assert_eq!(
        w.api.get("kept").await.ok().and_then(|o| o.uid()),
        kept.uid(),
        "a day's TTL keeps it"
    );
    assert_eq!(w.ctl().resets_started("ttl-job"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_argo_cd_tracks_is_kept_with_a_warning() {
    let w = World::new("ttl-argo", SimConfig::default()).await;
    w.job_with_data("argo-job", "closed");
    let obj: JobReset = serde_json::from_value(json!({
        "apiVersion": "ml.jobreset.io/v1alpha1",
        "kind": "JobReset",
        "metadata": {"name": "synced", "annotations": {
            "argocd.argoproj.io/tracking-id": "ml:ml.jobreset.io/JobReset:ns/synced"}},
        "spec": {"jobId": "argo-job", "ttlSecondsAfterFinished": 0,
                 "elasticsearch": {"url": w.sim.url()}},
    }))
    .expect("JobReset");
    let created = w
        .api
        .create(&PostParams::default(), &obj)
        .await
        .expect("create");
    let events = w.wait_event("synced", "ExpiredButManaged").await;
    assert_eq!(
        w.api.get("synced").await.ok().and_then(|o| o.uid()),
        created.uid(),
        "kept"
    );
    let warning = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("ExpiredButManaged"))
        .expect("the Warning");
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.clone().unwrap_or_default();
    assert!(note.contains("Argo CD"), "{note}");
}
