//! The core/v1 front: watches and their resumption after 410, Secrets written by kubectl,
//! selectors and status bodies, Leases, Events, patches of every type, the request records.

use super::*;

#[tokio::test]
async fn watch_resumes_after_410_gone() {
    let ns = bed().namespace("gone").await.unwrap();
    let api = widgets(&ns).await;
    // An RV older than the watch cache's window is "too old": 410 Gone in the stream.
    let mut old = api
        .watch(&WatchParams::default(), "1")
        .await
        .unwrap()
        .boxed();
    let first = tokio::time::timeout(DEADLINE, old.next()).await.unwrap();
    match first {
        Some(Ok(WatchEvent::Error(e))) => assert_eq!(e.code, 410),
        other => panic!("expected a 410 watch error, got {other:?}"),
    }
    // Resuming the way kube's watcher does: relist, watch from the list's RV.
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut fresh = api
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    create_widget(&api, "after-gone", "job-a").await;
    let seen = tokio::time::timeout(DEADLINE, async {
        while let Some(ev) = fresh.next().await {
            if let Ok(WatchEvent::Added(o)) = ev
                && o.metadata.name.as_deref() == Some("after-gone")
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(seen);
}

#[tokio::test]
async fn core_watch_streams_through_the_front() {
    let ns = bed().namespace("corewatch").await.unwrap();
    let client = bed().client().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client, &ns);
    let stream = watcher(secrets.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let s = Secret {
        metadata: ObjectMeta {
            name: Some("watched".into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
        ..Default::default()
    };
    let creator = async {
        secrets.create(&PostParams::default(), &s).await.unwrap();
    };
    let watch = async {
        let mut stream = stream;
        while let Some(obj) = stream.try_next().await.unwrap() {
            if obj.metadata.name.as_deref() == Some("watched") {
                return obj;
            }
        }
        panic!("watch ended");
    };
    let (_, seen) = tokio::time::timeout(DEADLINE, futures::future::join(creator, watch))
        .await
        .unwrap();
    let data = seen.data.unwrap();
    assert_eq!(data["k"].0, b"v");
}

#[tokio::test]
async fn secret_created_with_kubectl_reads_back_in_kube() {
    let ns = bed().namespace("kubectl-secret").await.unwrap();
    let out = std::process::Command::new("kubectl")
        .args([
            "create",
            "secret",
            "generic",
            "creds",
            "--from-literal=password=s3cret",
        ])
        .args(["--namespace", &ns])
        .env("KUBECONFIG", bed().kubeconfig_path())
        .output()
        .expect("running kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secrets: Api<Secret> = Api::namespaced(bed().client().await.unwrap(), &ns);
    let s = secrets.get("creds").await.unwrap();
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    assert_eq!(s.data.unwrap()["password"].0, b"s3cret");
}

#[tokio::test]
async fn core_selectors_and_status_bodies_are_real() {
    let ns = bed().namespace("selectors").await.unwrap();
    let client = bed().client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    for (name, tier) in [("a", "front"), ("b", "back")] {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(BTreeMap::from([("tier".to_string(), tier.to_string())])),
                ..Default::default()
            },
            data: Some(BTreeMap::from([("k".to_string(), "v".to_string())])),
            ..Default::default()
        };
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let back = cms
        .list(&ListParams::default().labels("tier in (back)"))
        .await
        .unwrap();
    assert_eq!(back.items.len(), 1);
    assert_eq!(back.items[0].metadata.name.as_deref(), Some("b"));
    let named = cms
        .list(&ListParams::default().fields("metadata.name=a"))
        .await
        .unwrap();
    assert_eq!(named.items.len(), 1);
    match cms.get("missing").await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 404);
            assert_eq!(s.reason, "NotFound");
            assert_eq!(s.message, "configmaps \"missing\" not found");
        }
        other => panic!("expected 404, got {other:?}"),
    }
    let events: Api<CoreEvent> = Api::namespaced(client, &ns);
    let ev = CoreEvent {
        metadata: ObjectMeta {
            name: Some("e1".into()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            kind: Some("ConfigMap".into()),
            name: Some("a".into()),
            namespace: Some(ns.clone()),
            ..Default::default()
        },
        reason: Some("Tested".into()),
        message: Some("core event".into()),
        type_: Some("Normal".into()),
        ..Default::default()
    };
    events.create(&PostParams::default(), &ev).await.unwrap();
    let found = events
        .list(&ListParams::default().fields("involvedObject.name=a,involvedObject.kind=ConfigMap"))
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
}

#[tokio::test]
async fn lease_is_created_and_renewed() {
    let ns = bed().namespace("lease").await.unwrap();
    let leases: Api<Lease> = Api::namespaced(bed().client().await.unwrap(), &ns);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("leader".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("pod-a".into()),
            lease_duration_seconds: Some(15),
            acquire_time: Some(MicroTime(Timestamp::now())),
            renew_time: Some(MicroTime(Timestamp::now())),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    };
    let created = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut renewed = created.clone();
    let later = Timestamp::now();
    if let Some(spec) = renewed.spec.as_mut() {
        spec.renew_time = Some(MicroTime(later));
    }
    let renewed = leases
        .replace("leader", &PostParams::default(), &renewed)
        .await
        .unwrap();
    assert_ne!(
        renewed.metadata.resource_version,
        created.metadata.resource_version
    );
    let got = leases.get("leader").await.unwrap();
    let renew = got.spec.and_then(|s| s.renew_time).unwrap();
    assert!(
        renew.0
            >= created
                .spec
                .as_ref()
                .and_then(|s| s.renew_time.clone())
                .unwrap()
                .0
    );
    // A second candidate renewing from the stale copy loses.
    assert_eq!(
        api_code(
            leases
                .replace("leader", &PostParams::default(), &created)
                .await
        ),
        409
    );
}

#[tokio::test]
async fn events_k8s_io_event_is_recorded() {
    let ns = bed().namespace("events").await.unwrap();
    let client = bed().client().await.unwrap();
    let api = widgets(&ns).await;
    let w = create_widget(&api, "w", "job-a").await;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "testbed-tests".into(),
            instance: Some("t1".into()),
        },
    );
    let reference = ObjectReference {
        api_version: Some("test.jobreset.io/v1".into()),
        kind: Some("Widget".into()),
        name: w.metadata.name.clone(),
        namespace: Some(ns.clone()),
        uid: w.metadata.uid.clone(),
        ..Default::default()
    };
    recorder
        .publish(
            &Event {
                type_: EventType::Normal,
                reason: "Reset".into(),
                note: Some("job reset".into()),
                action: "Reset".into(),
                secondary: None,
            },
            &reference,
        )
        .await
        .unwrap();
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, &ns);
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].reason.as_deref(), Some("Reset"));
    assert_eq!(
        list.items[0]
            .regarding
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("w")
    );
    // As in a real cluster, the same event reads as a core Event, so `kubectl describe` shows it.
    let core: Api<CoreEvent> = Api::namespaced(bed().client().await.unwrap(), &ns);
    let mirrored = core
        .list(&ListParams::default().fields("involvedObject.name=w,involvedObject.kind=Widget"))
        .await
        .unwrap();
    assert_eq!(mirrored.items.len(), 1);
    assert_eq!(mirrored.items[0].message.as_deref(), Some("job reset"));
    let out = std::process::Command::new("kubectl")
        .args(["describe", "widget", "w", "--namespace", &ns])
        .env("KUBECONFIG", bed().kubeconfig_path())
        .output()
        .expect("running kubectl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Reset") && text.contains("job reset"),
        "{text}"
    );
}

#[tokio::test]
async fn front_records_requests_with_their_user_agent() {
    let ns = bed().namespace("record").await.unwrap();
    let kc = Kubeconfig::read_from(bed().kubeconfig_path()).unwrap();
    let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    cfg.headers.push((
        hyper::header::USER_AGENT,
        hyper::header::HeaderValue::from_static("jobreset-operator/test"),
    ));
    let client = Client::try_from(cfg).unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &common::widget_resource());
    create_widget(&api, "w", "job-a").await;
    api.patch_status(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "x"}})),
    )
    .await
    .unwrap();
    let mine: Vec<_> = bed()
        .requests()
        .into_iter()
        .filter(|r| r.namespace.as_deref() == Some(ns.as_str()))
        .collect();
    let has = |verb: &str, sub: Option<&str>| {
        mine.iter().any(|r| {
            r.verb == verb
                && r.group == "test.jobreset.io"
                && r.version == "v1"
                && r.resource == "widgets"
                && r.subresource.as_deref() == sub
        })
    };
    assert!(has("create", None), "{mine:?}");
    assert!(has("patch", Some("status")), "{mine:?}");
    assert!(
        mine.iter()
            .all(|r| r.user_agent == "jobreset-operator/test"),
        "{mine:?}"
    );
    let ns_create = bed()
        .requests()
        .into_iter()
        .any(|r| r.verb == "create" && r.group.is_empty() && r.resource == "namespaces");
    assert!(ns_create);
}

#[tokio::test]
async fn core_patches_of_every_type() {
    let ns = bed().namespace("corepatch").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(bed().client().await.unwrap(), &ns);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("c".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("a".to_string(), "1".to_string())])),
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let pp = PatchParams::default();
    let merged = cms
        .patch("c", &pp, &Patch::Merge(json!({"data": {"b": "2"}})))
        .await
        .unwrap();
    assert_eq!(merged.data.as_ref().unwrap().len(), 2);
    let strategic = cms
        .patch(
            "c",
            &pp,
            &Patch::Strategic(json!({"metadata": {"labels": {"l": "v"}}, "data": {"a": null}})),
        )
        .await
        .unwrap();
    assert_eq!(strategic.data.as_ref().unwrap().len(), 1);
    assert_eq!(strategic.metadata.labels.unwrap()["l"], "v");
    let applied = cms
        .patch(
            "c",
            &PatchParams::apply("applier").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"d": "4"}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.as_ref().unwrap()["d"], "4");
    let managers: Vec<_> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.api_version.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("applier".to_string(), "v1".to_string())),
        "{managers:?}"
    );
}
