//! The operator's Event recorder against the real API server: a repeat of the same Event
//! about the same object counts into the first one (its `series`), another note or object
//! gets its own Event, and an object the recorder forgot starts afresh. Does I/O (Kubernetes).

mod common;

use common::World;
use es_ml_sim::SimConfig;
use jobreset_operator::k8s::events::{EventType, Recorder, Reporter};
use k8s_openapi::api::{core::v1::ObjectReference, events::v1::Event};
use kube::Api;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_event_is_counted_not_created_again() {
    let w = World::bare("events", SimConfig::default()).await;
    let recorder = Recorder::new(
        w.client.clone(),
        Reporter {
            controller: "jobreset-operator".into(),
            instance: None,
        },
    );
    let about = |name: &str| ObjectReference {
        api_version: Some("ml.jobreset.io/v1alpha1".into()),
        kind: Some("JobReset".into()),
        namespace: Some(w.ns.clone()),
        name: Some(name.into()),
        uid: Some(format!("uid-{name}")),
        ..Default::default()
    };
    let say = |name: &'static str, note: &'static str| {
        let r = about(name);
        let recorder = &recorder;
        async move {
            recorder
                .publish(&r, "Retrying", EventType::Warning, note.into())
                .await
        }
    };
    say("a", "timeout").await;
    say("a", "timeout").await;
    say("a", "timeout").await;
    say("a", "refused").await;
    say("b", "timeout").await;
    recorder.forget("uid-a");
    say("a", "timeout").await;

    let api: Api<Event> = Api::namespaced(w.client.clone(), &w.ns);
    let events = api
        .list(&Default::default())
        .await
        .expect("list Events")
        .items;
    let mut seen: Vec<(String, String, i32)> = events
        .iter()
        .map(|e| {
            (
                e.regarding
                    .as_ref()
                    .and_then(|r| r.name.clone())
                    .unwrap_or_default(),
                e.note.clone().unwrap_or_default(),
                e.series.as_ref().map_or(1, |s| s.count),
            )
        })
        .collect();
    seen.sort();
    let want = [
        ("a", "refused", 1),
        ("a", "timeout", 1),
        ("a", "timeout", 3),
        ("b", "timeout", 1),
    ]
    .map(|(n, note, c)| (n.to_owned(), note.to_owned(), c));
    assert_eq!(seen, want, "{events:#?}");
    let first = events
        .iter()
        .find(|e| e.series.is_some())
        .expect("the repeated Event");
    assert_eq!(first.type_.as_deref(), Some("Warning"));
    assert_eq!(first.reason.as_deref(), Some("Retrying"));
    assert_eq!(
        first.reporting_controller.as_deref(),
        Some("jobreset-operator")
    );
}
