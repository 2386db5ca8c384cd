//! The bed's Kubernetes-side fault API, exercised with kube-rs clients through the front:
//! injected `Status` answers that fire on the Nth match and expire, lost answers, 429 with
//! Retry-After, delays, hangs, dropped connections, User-Agent filtering, dropped watches and
//! an apiserver restart keeping objects and resourceVersions (needs the apiserver: `k8s_`).

mod common;

use std::time::Duration;

use common::faults::{
    UpBed, client, configmap, eventually, set_value, value_of, wait_for_name, watch_names,
    watch_requests,
};
use common::{DEADLINE, bed, create_widget, widgets};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use testbed::{RequestMatch, TestBed, WatchEnd};

#[tokio::test]
async fn a_500_on_the_second_status_patch_fires_once_then_expires() {
    let ns = bed().namespace("fail-nth").await.unwrap();
    let api = widgets(&ns).await;
    create_widget(&api, "w", "job-a").await;
    let rule = bed()
        .faults()
        .scoped(
            RequestMatch::any()
                .verb("patch")
                .group("test.jobreset.io")
                .resource("widgets")
                .subresource("status")
                .namespace(&ns)
                .name("w")
                .fail(500)
                .nth(2),
        )
        .unwrap();
    let patch = |phase: &str| Patch::Merge(json!({"status": {"phase": phase}}));
    let pp = PatchParams::default();
    api.patch_status("w", &pp, &patch("one")).await.unwrap();
    // A spec patch and a get are other requests: not counted.
    api.patch("w", &pp, &Patch::Merge(json!({"spec": {"size": 2}})))
        .await
        .unwrap();
    api.get("w").await.unwrap();
    match api.patch_status("w", &pp, &patch("two")).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"), "{s:?}");
        }
        other => panic!("expected the injected 500, got {other:?}"),
    }
    let w = api.patch_status("w", &pp, &patch("three")).await.unwrap();
    assert_eq!(w.data["status"]["phase"], "three");
    let state = rule.state().unwrap().unwrap();
    assert_eq!((state.fired, state.matched, state.expired), (1, 2, true));
}

#[tokio::test]
async fn a_lost_answer_applies_the_write_but_the_client_gets_an_error() {
    let ns = bed().namespace("lost").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(bed().client().await.unwrap(), &ns);
    cms.create(&PostParams::default(), &configmap("c", "before"))
        .await
        .unwrap();
    let on_patch = || {
        RequestMatch::any()
            .verb("patch")
            .resource("configmaps")
            .namespace(&ns)
    };
    let dropped = bed().faults().scoped(on_patch().lost_answer()).unwrap();
    let err = cms
        .patch("c", &PatchParams::default(), &set_value("dropped"))
        .await
        .expect_err("the connection is closed instead of answering");
    assert!(!matches!(err, kube::Error::Api(_)), "{err:?}");
    assert_eq!(dropped.state().unwrap().unwrap().fired, 1);
    assert_eq!(value_of(&cms, "c").await, "dropped", "the write landed");

    let _failed = bed()
        .faults()
        .scoped(on_patch().lost_answer_then(500))
        .unwrap();
    let err = cms
        .patch("c", &PatchParams::default(), &set_value("failed"))
        .await
        .expect_err("the answer is replaced by a 500");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 500),
        "{err:?}"
    );
    assert_eq!(value_of(&cms, "c").await, "failed", "the write landed");
}

#[tokio::test]
async fn a_429_carries_retry_after_and_kube_retries_it() {
    let ns = bed().namespace("throttle").await.unwrap();
    let plain = client(bed(), None, false).await;
    let cms: Api<ConfigMap> = Api::namespaced(plain.clone(), &ns);
    cms.create(&PostParams::default(), &configmap("c", "v"))
        .await
        .unwrap();
    let get_c = || {
        RequestMatch::any()
            .verb("get")
            .resource("configmaps")
            .namespace(&ns)
            .name("c")
    };
    let _rule = bed().faults().scoped(get_c().too_many_requests(1)).unwrap();
    let req = hyper::Request::get(format!("/api/v1/namespaces/{ns}/configmaps/c"))
        .body(kube::client::Body::empty())
        .unwrap();
    let resp = plain.send(req).await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "TooManyRequests");
    assert_eq!(status["details"]["retryAfterSeconds"], 1);

    // kube's default client retries a 429 after Retry-After: the caller sees success.
    let rule = bed().faults().scoped(get_c().too_many_requests(1)).unwrap();
    let retrying: Api<ConfigMap> = Api::namespaced(client(bed(), None, true).await, &ns);
    retrying.get("c").await.unwrap();
    assert_eq!(rule.state().unwrap().unwrap().fired, 1);
}

#[tokio::test]
async fn a_delay_holds_the_request_before_forwarding() {
    let ns = bed().namespace("delay").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(bed().client().await.unwrap(), &ns);
    cms.create(&PostParams::default(), &configmap("c", "before"))
        .await
        .unwrap();
    // Far longer than the test: removing the rule ends the delay.
    let rule = bed()
        .faults()
        .scoped(
            RequestMatch::any()
                .verb("patch")
                .namespace(&ns)
                .delay(Duration::from_secs(3600)),
        )
        .unwrap();
    let patching = tokio::spawn({
        let cms = cms.clone();
        async move {
            cms.patch("c", &PatchParams::default(), &set_value("after"))
                .await
        }
    });
    rule.wait_fired(1, DEADLINE).await.unwrap();
    assert_eq!(value_of(&cms, "c").await, "before", "not forwarded yet");
    assert!(!patching.is_finished());
    drop(rule);
    let patched = tokio::time::timeout(DEADLINE, patching)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched.unwrap().data.unwrap()["k"], "after");
}

#[tokio::test]
async fn a_hang_answers_nothing_and_drop_connection_closes() {
    let ns = bed().namespace("hang").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(bed().client().await.unwrap(), &ns);
    cms.create(&PostParams::default(), &configmap("c", "v"))
        .await
        .unwrap();
    let get_c = || RequestMatch::any().verb("get").namespace(&ns).name("c");
    let hang = bed().faults().scoped(get_c().hang()).unwrap();
    let getting = tokio::spawn({
        let cms = cms.clone();
        async move { cms.get("c").await }
    });
    hang.wait_fired(1, DEADLINE).await.unwrap();
    cms.list(&Default::default()).await.unwrap();
    assert!(!getting.is_finished(), "the hung get has no answer");
    drop(hang);
    let answer = tokio::time::timeout(DEADLINE, getting)
        .await
        .unwrap()
        .unwrap();
    assert!(answer.is_err(), "removing the rule closes the connection");

    let _dropped = bed().faults().scoped(get_c().drop_connection()).unwrap();
    let err = cms.get("c").await.expect_err("connection closed");
    assert!(!matches!(err, kube::Error::Api(_)), "{err:?}");
    assert_eq!(value_of(&cms, "c").await, "v", "the next get is answered");
}

#[tokio::test]
async fn a_user_agent_prefix_targets_only_that_client() {
    let ns = bed().namespace("ua").await.unwrap();
    let op: Api<ConfigMap> = Api::namespaced(
        client(bed(), Some("jobreset-operator/test"), true).await,
        &ns,
    );
    let other: Api<ConfigMap> =
        Api::namespaced(client(bed(), Some("kubectl/v1.32"), true).await, &ns);
    other
        .create(&PostParams::default(), &configmap("c", "v"))
        .await
        .unwrap();
    let rule = bed()
        .faults()
        .scoped(
            RequestMatch::any()
                .namespace(&ns)
                .user_agent("jobreset-operator/")
                .fail(500)
                .forever(),
        )
        .unwrap();
    for _ in 0..2 {
        assert_eq!(common::api_code(op.get("c").await), 500);
        assert_eq!(value_of(&other, "c").await, "v");
    }
    let state = rule.state().unwrap().unwrap();
    assert_eq!((state.fired, state.expired), (2, false));
}

#[tokio::test]
async fn dropped_watches_end_and_the_watcher_rewatches() {
    let ns = bed().namespace("drop-watch").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(bed().client().await.unwrap(), &ns);
    let mut seen = watch_names(cms.clone());
    let mine = RequestMatch::any().namespace(&ns);
    eventually("the watcher's watch to open", async || {
        let open = bed().open_watches().unwrap();
        open.iter().any(|w| mine.matches(&w.request))
    })
    .await;
    for (end, name) in [
        (WatchEnd::Close, "after-close"),
        (WatchEnd::Reset, "after-reset"),
    ] {
        let before = watch_requests(bed(), &ns);
        assert_eq!(bed().drop_watches_matching(Some(&mine), end).unwrap(), 1);
        eventually("a new watch request", async || {
            watch_requests(bed(), &ns) > before
        })
        .await;
        cms.create(&PostParams::default(), &configmap(name, "v"))
            .await
            .unwrap();
        wait_for_name(&mut seen, name).await;
    }
}

/// A bed of its own: the restart would disturb the other tests of this binary.
#[tokio::test]
async fn a_restarted_apiserver_keeps_objects_and_resource_versions() {
    let own = TestBed::start(testbed::Options {
        crds_dir: common::fixtures().join("crds"),
        state_dir: None,
        with_es: None,
    })
    .await
    .unwrap();
    let ns = own.namespace("restart").await.unwrap();
    let client = own.client().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let widgets = Api::namespaced_with(client, &ns, &common::widget_resource());
    let cm = cms
        .create(&PostParams::default(), &configmap("c", "v"))
        .await
        .unwrap();
    let w = create_widget(&widgets, "w", "job-a").await;
    let mut seen = watch_names(cms.clone());
    wait_for_name(&mut seen, "c").await;
    let (_, old_pid) = own.child_pids().unwrap();

    own.restart_apiserver().await.unwrap();

    let (_, new_pid) = own.child_pids().unwrap();
    assert_ne!(old_pid, new_pid);
    let cm_after = cms.get("c").await.unwrap();
    assert_eq!(
        cm_after.metadata.resource_version,
        cm.metadata.resource_version
    );
    assert_eq!(cm_after.data, cm.data);
    let w_after = widgets.get("w").await.unwrap();
    assert_eq!(
        w_after.metadata.resource_version,
        w.metadata.resource_version
    );
    assert_eq!(w_after.metadata.uid, w.metadata.uid);
    cms.create(&PostParams::default(), &configmap("after", "v"))
        .await
        .unwrap();
    wait_for_name(&mut seen, "after").await;
    own.stop();
}

/// The same API on an attached bed goes through the front's `/testbed/` endpoints.
#[tokio::test]
async fn an_attached_bed_takes_faults_watch_drops_and_restarts_over_http() {
    let up = UpBed::up();
    let bed = TestBed::attach(&up.dir).unwrap();
    let ns = bed.namespace("attached").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(bed.client().await.unwrap(), &ns);
    let cm = cms
        .create(&PostParams::default(), &configmap("c", "v"))
        .await
        .unwrap();

    let rule = bed
        .faults()
        .scoped(RequestMatch::any().verb("get").namespace(&ns).fail(409))
        .unwrap();
    let listed = bed.faults().rules().unwrap();
    assert!(listed.iter().any(|r| r.id == rule.id()), "{listed:?}");
    match cms.get("c").await {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (409, "Conflict")),
        other => panic!("expected the injected 409, got {other:?}"),
    }
    assert!(rule.state().unwrap().unwrap().expired);
    let id = rule.id();
    drop(rule);
    assert_eq!(bed.faults().rule(id).unwrap(), None);

    let mut seen = watch_names(cms.clone());
    wait_for_name(&mut seen, "c").await;
    let mine = RequestMatch::any().namespace(&ns);
    eventually("the watcher's watch to open", async || {
        bed.open_watches()
            .unwrap()
            .iter()
            .any(|w| mine.matches(&w.request))
    })
    .await;
    assert_eq!(bed.drop_watches().unwrap(), 1);

    let old_pid = up.apiserver_pid();
    bed.restart_apiserver().await.unwrap();
    assert_ne!(up.apiserver_pid(), old_pid, "serve rewrote apiserver.pid");
    let after = cms.get("c").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        cm.metadata.resource_version
    );
    cms.create(&PostParams::default(), &configmap("after", "v"))
        .await
        .unwrap();
    wait_for_name(&mut seen, "after").await;
}
