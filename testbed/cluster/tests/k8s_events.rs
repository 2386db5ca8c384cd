//! core/v1 Events as the view of events.k8s.io Events the front serves (reads converted, core
//! writes stored as events.k8s.io Events), and its namespace check across a namespace deleted
//! and created again. Probed through the front with kube-rs and kubectl (needs the
//! provisioned apiserver: hence the `k8s_` name).

mod common;

use common::{DEADLINE, api_code, bed, create_widget, widgets};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Namespace, ObjectReference};
use k8s_openapi::api::events::v1::Event as EventsEvent;
use kube::api::{
    Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::json;

fn core_event(name: &str, about: &str, message: &str) -> CoreEvent {
    CoreEvent {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            kind: Some("ConfigMap".into()),
            name: Some(about.into()),
            ..Default::default()
        },
        reason: Some("Tested".into()),
        message: Some(message.into()),
        type_: Some("Normal".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_published_event_reads_as_one_core_event() {
    let ns = bed().namespace("evview").await.unwrap();
    let client = bed().client().await.unwrap();
    let w = create_widget(&widgets(&ns).await, "w", "job-a").await;
    let uid = w.metadata.uid.clone().unwrap_or_default();
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "testbed-tests".into(),
            instance: None,
        },
    );
    let reference = ObjectReference {
        api_version: Some("test.jobreset.io/v1".into()),
        kind: Some("Widget".into()),
        name: Some("w".into()),
        namespace: Some(ns.clone()),
        uid: Some(uid.clone()),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Warning,
        reason: "Reset".into(),
        note: Some("job reset".into()),
        action: "Reset".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), &ns);
    // The selector `kubectl describe` sends.
    let selector = format!(
        "involvedObject.name=w,involvedObject.namespace={ns},involvedObject.kind=Widget,involvedObject.uid={uid}"
    );
    let found = core
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1, "{found:?}");
    let item = &found.items[0];
    assert_eq!(item.message.as_deref(), Some("job reset"));
    assert_eq!(item.type_.as_deref(), Some("Warning"));
    assert_eq!(item.involved_object.uid.as_deref(), Some(uid.as_str()));
    assert_eq!(
        item.source.as_ref().and_then(|s| s.component.as_deref()),
        Some("testbed-tests")
    );
    let other = core
        .list(&ListParams::default().fields("involvedObject.name=other"))
        .await
        .unwrap();
    assert!(other.items.is_empty());
    // One object: the core read carries the events.k8s.io Event's identity.
    let name = item.metadata.name.clone().unwrap_or_default();
    let stored: Api<EventsEvent> = Api::namespaced(client.clone(), &ns);
    let original = stored.get(&name).await.unwrap();
    let got = core.get(&name).await.unwrap();
    assert_eq!(got.metadata.uid, original.metadata.uid);
    assert_eq!(
        got.metadata.resource_version,
        original.metadata.resource_version
    );
    assert_eq!(
        stored
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let out = std::process::Command::new("kubectl")
        .args(["get", "events", "--namespace", &ns])
        .env("KUBECONFIG", bed().kubeconfig_path())
        .output()
        .expect("running kubectl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Reset") && text.contains("job reset"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn core_event_writes_are_stored_as_events_k8s_io_events() {
    let ns = bed().namespace("evwrite").await.unwrap();
    let client = bed().client().await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(client.clone(), &ns);
    let stored: Api<EventsEvent> = Api::namespaced(client.clone(), &ns);
    let list = core.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap_or_default();
    let mut watch = core
        .watch(&WatchParams::default().fields("involvedObject.name=a"), &rv)
        .await
        .unwrap()
        .boxed();
    let created = core
        .create(&PostParams::default(), &core_event("e1", "a", "core event"))
        .await
        .unwrap();
    assert_eq!(created.message.as_deref(), Some("core event"));
    let as_events = stored.get("e1").await.unwrap();
    assert_eq!(as_events.note.as_deref(), Some("core event"));
    assert_eq!(
        as_events.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("a")
    );
    let seen = tokio::time::timeout(DEADLINE, async {
        while let Some(ev) = watch.try_next().await.unwrap() {
            if let WatchEvent::Added(e) = ev {
                return e;
            }
        }
        panic!("the watch ended");
    })
    .await
    .expect("the core watch to see the event");
    assert_eq!(seen.message.as_deref(), Some("core event"));
    let patched = core
        .patch(
            "e1",
            &PatchParams::default(),
            &Patch::Merge(json!({"count": 4, "message": "again"})),
        )
        .await
        .unwrap();
    assert_eq!(patched.count, Some(4));
    assert_eq!(patched.message.as_deref(), Some("again"));
    assert_eq!(stored.get("e1").await.unwrap().deprecated_count, Some(4));
    core.delete("e1", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_code(stored.get("e1").await), 404);
    match core.get("e1").await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 404);
            assert_eq!(s.message, "events \"e1\" not found");
        }
        other => panic!("expected 404, got {other:?}"),
    }
}

#[tokio::test]
async fn a_namespace_deleted_and_created_again_takes_creates_again() {
    let ns = bed().namespace("again").await.unwrap();
    let client = bed().client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = |name: &str| ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm("c1")).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    match cms.create(&PostParams::default(), &cm("c2")).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 404);
            assert_eq!(s.message, format!("namespaces \"{ns}\" not found"));
        }
        other => panic!("expected 404, got {other:?}"),
    }
    let again = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces
        .create(&PostParams::default(), &again)
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("c3")).await.unwrap();
}
