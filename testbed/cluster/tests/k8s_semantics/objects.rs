//! Objects: the status subresource, generation, resourceVersion conflicts, server-side apply,
//! CEL transition rules, finalizers, namespace deletion and missing namespaces.

use super::*;

#[tokio::test]
async fn status_subresource_is_isolated_from_spec() {
    let ns = bed().namespace("status").await.unwrap();
    let api = widgets(&ns).await;
    let created = create_widget(&api, "w", "job-a").await;
    assert!(
        created.data.get("status").is_none(),
        "status is dropped on create"
    );

    let patched = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 9}, "status": {"phase": "Ready"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["phase"], "Ready");
    assert_eq!(
        patched.data["spec"]["size"], 1,
        "a /status write leaves spec alone"
    );

    let patched = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}, "status": {"phase": "Ignored"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["size"], 2);
    assert_eq!(
        patched.data["status"]["phase"], "Ready",
        "the main endpoint ignores status"
    );
}

#[tokio::test]
async fn generation_moves_on_spec_changes_only() {
    let ns = bed().namespace("generation").await.unwrap();
    let api = widgets(&ns).await;
    let created = create_widget(&api, "w", "job-a").await;
    assert_eq!(created.metadata.generation, Some(1));
    let pp = PatchParams::default();
    let s = api
        .patch_status("w", &pp, &Patch::Merge(json!({"status": {"phase": "x"}})))
        .await
        .unwrap();
    assert_eq!(s.metadata.generation, Some(1));
    let l = api
        .patch(
            "w",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await
        .unwrap();
    assert_eq!(l.metadata.generation, Some(1));
    let g = api
        .patch("w", &pp, &Patch::Merge(json!({"spec": {"size": 5}})))
        .await
        .unwrap();
    assert_eq!(g.metadata.generation, Some(2));
}

#[tokio::test]
async fn stale_resource_version_is_a_409_conflict() {
    let ns = bed().namespace("conflict").await.unwrap();
    let api = widgets(&ns).await;
    let first = create_widget(&api, "w", "job-a").await;
    let mut newer = first.clone();
    newer.data["spec"]["size"] = json!(3);
    api.replace("w", &PostParams::default(), &newer)
        .await
        .unwrap();
    let mut stale = first.clone();
    stale.data["spec"]["size"] = json!(4);
    let err = api.replace("w", &PostParams::default(), &stale).await;
    assert_eq!(api_code(err), 409);
    let mut again = first.clone();
    again.metadata.resource_version = None;
    assert_eq!(
        api_code(api.create(&PostParams::default(), &again).await),
        409,
        "AlreadyExists is a 409 too"
    );
}

#[tokio::test]
async fn server_side_apply_conflicts_between_managers() {
    let ns = bed().namespace("ssa").await.unwrap();
    let api = widgets(&ns).await;
    let doc = |size: i64| {
        json!({"apiVersion": "test.jobreset.io/v1", "kind": "Widget", "metadata": {"name": "w"},
               "spec": {"target": "job-a", "size": size}})
    };
    api.patch("w", &PatchParams::apply("manager-a"), &Patch::Apply(doc(1)))
        .await
        .unwrap();
    let err = api
        .patch("w", &PatchParams::apply("manager-b"), &Patch::Apply(doc(2)))
        .await;
    assert_eq!(api_code(err), 409);
    let forced = api
        .patch(
            "w",
            &PatchParams::apply("manager-b").force(),
            &Patch::Apply(doc(2)),
        )
        .await
        .unwrap();
    assert_eq!(forced.data["spec"]["size"], 2);
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"manager-b".to_string()), "{managers:?}");
}

#[tokio::test]
async fn cel_transition_rule_rejects_a_spec_change_with_422() {
    let ns = bed().namespace("cel").await.unwrap();
    let api = widgets(&ns).await;
    create_widget(&api, "w", "job-a").await;
    let err = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"target": "job-b"}})),
        )
        .await;
    match err {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 422);
            assert!(s.message.contains("target is immutable"), "{}", s.message);
        }
        other => panic!("expected 422, got {other:?}"),
    }
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let ns = bed().namespace("finalizer").await.unwrap();
    let api = widgets(&ns).await;
    let w = create_widget(&api, "w", "job-a").await;
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["test.jobreset.io/hold"]}})),
    )
    .await
    .unwrap();
    api.delete("w", &DeleteParams::default()).await.unwrap();
    let held = api.get("w").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let uid = w.metadata.uid.unwrap();
    tokio::time::timeout(
        DEADLINE,
        await_condition(api.clone(), "w", conditions::is_deleted(&uid)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(api_code(api.get("w").await), 404);
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_objects() {
    let ns = bed().namespace("nsdelete").await.unwrap();
    let client = bed().client().await.unwrap();
    let api = widgets(&ns).await;
    create_widget(&api, "w", "job-a").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("c".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_code(namespaces.get(&ns).await), 404);
    assert_eq!(api_code(cms.get("c").await), 404);
    assert_eq!(api_code(api.get("w").await), 404);
}

#[tokio::test]
async fn nothing_is_created_in_a_missing_namespace() {
    let api = widgets("no-such-namespace").await;
    let obj: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "test.jobreset.io/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"target": "t"}
    }))
    .unwrap();
    match api.create(&PostParams::default(), &obj).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 404);
            assert_eq!(s.message, "namespaces \"no-such-namespace\" not found");
        }
        other => panic!("expected 404, got {other:?}"),
    }
    let cms: Api<ConfigMap> = Api::namespaced(bed().client().await.unwrap(), "no-such-namespace");
    assert_eq!(
        api_code(
            cms.create(
                &PostParams::default(),
                &ConfigMap {
                    metadata: ObjectMeta {
                        name: Some("c".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                }
            )
            .await
        ),
        404
    );
}
