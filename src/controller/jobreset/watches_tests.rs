//! Tests of `watches` (no I/O).

use super::*;
use crate::api::{
    ElasticsearchRef, ElasticsearchSpec, JobResetSpec, JobResetStatus, Phase, SecretName,
};
use crate::controller::DEFAULT_ECK_URL_TEMPLATE;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::store;

fn jr(name: &str, es: ElasticsearchSpec, phase: Phase) -> JobReset {
    let mut o = JobReset::new(
        name,
        JobResetSpec {
            deadline_seconds: 60,
            ..JobResetSpec::for_job("j", es)
        },
    );
    o.metadata.namespace = Some("obs".into());
    o.metadata.uid = Some(format!("uid-{name}"));
    o.status = Some(JobResetStatus {
        phase,
        ..Default::default()
    });
    o
}

fn secret(ns: &str, name: &str) -> Secret {
    let mut s = Secret::default();
    s.metadata.namespace = Some(ns.into());
    s.metadata.name = Some(name.into());
    s
}

#[test]
fn secrets_map_to_the_runs_that_read_them() {
    let (reader, mut writer) = store::<JobReset>();
    let with_creds = ElasticsearchSpec {
        url: Some("https://es:9200".into()),
        credentials_secret: Some(SecretName {
            name: "creds".into(),
        }),
        ..Default::default()
    };
    let eck = ElasticsearchSpec {
        elasticsearch_ref: Some(ElasticsearchRef {
            name: "qs".into(),
            namespace: Some("elastic".into()),
            service_name: None,
        }),
        ..Default::default()
    };
    for o in [
        jr("a", with_creds.clone(), Phase::Pending),
        jr("done", with_creds, Phase::Completed),
        jr("eck", eck, Phase::Resetting),
    ] {
        writer.apply_watcher_event(&watcher::Event::Apply(o));
    }
    let names = |s: &Secret| {
        let mut v: Vec<String> = referencing(&reader, &s.metadata, DEFAULT_ECK_URL_TEMPLATE)
            .into_iter()
            .map(|r| r.name)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&secret("obs", "creds")), vec!["a"]);
    assert_eq!(names(&secret("other", "creds")), Vec::<String>::new());
    assert_eq!(names(&secret("elastic", "qs-es-elastic-user")), vec!["eck"]);
    assert_eq!(
        names(&secret("elastic", "qs-es-http-certs-public")),
        vec!["eck"]
    );
}

#[test]
fn the_cache_keeps_neither_field_owners_nor_the_last_applied_manifest() {
    let mut o = jr("a", ElasticsearchSpec::default(), Phase::Pending);
    o.metadata.managed_fields = Some(vec![Default::default()]);
    o.metadata.annotations = Some(
        [
            (LAST_APPLIED.to_owned(), "{...}".to_owned()),
            (
                "argocd.argoproj.io/tracking-id".to_owned(),
                "app".to_owned(),
            ),
        ]
        .into(),
    );
    slim(&mut o);
    assert_eq!(o.metadata.managed_fields, None);
    let kept: Vec<_> = o.annotations().keys().cloned().collect();
    assert_eq!(kept, ["argocd.argoproj.io/tracking-id"]);
}

#[test]
fn the_cache_keeps_of_a_finished_run_what_its_ttl_schedule_and_parent_read() {
    let full = JobResetStatus {
        phase: Phase::Completed,
        reason: Some("ResetCompleted".into()),
        message: Some("reset".into()),
        start_time: Some("2026-01-01T00:00:00Z".into()),
        completion_time: Some("2026-01-01T00:00:01Z".into()),
        task_id: Some("node:1".into()),
        ledger_state: Some("succeeded".into()),
        ..Default::default()
    };
    let mut o = jr("a", ElasticsearchSpec::default(), Phase::Completed);
    o.status = Some(full.clone());
    slim(&mut o);
    let kept = o.status.clone().unwrap_or_default();
    assert_eq!(
        (
            kept.phase,
            kept.reason,
            kept.start_time,
            kept.completion_time
        ),
        (
            full.phase,
            full.reason.clone(),
            full.start_time.clone(),
            full.completion_time.clone()
        )
    );
    assert_eq!(
        (kept.message, kept.task_id, kept.ledger_state),
        (None, None, None)
    );
    // A run under way keeps everything: its reconcile and the per-job queue read it.
    let running = JobResetStatus {
        phase: Phase::Resetting,
        ..full
    };
    o.status = Some(running.clone());
    slim(&mut o);
    assert_eq!(o.status, Some(running));
}
