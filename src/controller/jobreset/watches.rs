//! What the controller does with what it watches besides JobResets: the grant watch (and
//! the runs it wakes), the runs a Secret's change concerns, and the slimming of each cached
//! JobReset. The grant watch does I/O (a watch); the rest is pure.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{
    Api, ResourceExt,
    runtime::{
        WatchStreamExt,
        reflector::{self, ObjectRef, Store, reflector},
        watcher,
    },
};
use tracing::warn;

use super::connect;
use crate::api::{JobReset, JobResetGrant, JobResetStatus};

/// What the cache never reads goes before it is kept: the field owners and kubectl's copy
/// of the last applied manifest are most of a JobReset's bytes, and of a finished run only
/// what its TTL, its schedule and its fan-out parent read stays (finished runs are most of
/// the cache). Nothing writes a cached object back (status goes out by server-side apply
/// of its own fields, conditional on the version decided from), so nothing is lost.
pub fn slim(o: &mut JobReset) {
    o.metadata.managed_fields = None;
    if let Some(a) = o.metadata.annotations.as_mut() {
        a.remove(LAST_APPLIED);
    }
    if let Some(s) = o.status.as_mut().filter(|s| s.phase.is_terminal()) {
        *s = JobResetStatus {
            phase: s.phase,
            reason: s.reason.take(),
            start_time: s.start_time.take(),
            completion_time: s.completion_time.take(),
            ..Default::default()
        };
    }
}

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Keeps the grant cache; marks it synced after the first list; wakes the runs that refer
/// into a namespace whose grants changed (a new grant lets a waiting run go on at once), and
/// after the first list every run that refers into another namespace.
pub async fn watch_grants(
    api: Api<JobResetGrant>,
    writer: reflector::store::Writer<JobResetGrant>,
    synced: Arc<AtomicBool>,
    runs: Store<JobReset>,
    wake: futures::channel::mpsc::UnboundedSender<ObjectRef<JobReset>>,
) {
    // The reflector has applied each event to the cache before it reaches us, except the
    // initial list's objects, which it keeps until `InitDone`.
    let wake_into = |namespace: Option<&str>| {
        for run in runs
            .state()
            .into_iter()
            .filter(|o| refers_into(o, namespace))
        {
            let _ = wake.unbounded_send(ObjectRef::from_obj(run.as_ref()));
        }
    };
    reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    )
    .for_each(|event| {
        match event {
            Ok(watcher::Event::Apply(g) | watcher::Event::Delete(g)) => {
                wake_into(Some(&g.namespace().unwrap_or_default()));
            }
            Ok(watcher::Event::InitDone) => {
                synced.store(true, Ordering::SeqCst);
                wake_into(None);
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "watching JobResetGrants"),
        }
        std::future::ready(())
    })
    .await;
}

/// A run that is not over and names an ECK cluster in `namespace` (any other namespace
/// than its own for `None`).
pub fn refers_into(o: &JobReset, namespace: Option<&str>) -> bool {
    let target = o
        .spec
        .elasticsearch
        .elasticsearch_ref
        .as_ref()
        .and_then(|r| r.namespace.as_deref());
    let own = o.metadata.namespace.as_deref();
    !o.status.as_ref().is_some_and(|s| s.phase.is_terminal())
        && target.is_some()
        && match namespace {
            Some(ns) => target == Some(ns),
            None => target != own,
        }
}

/// The non-terminal JobResets that read this Secret (they may be waiting for it).
pub fn referencing(
    store: &Store<JobReset>,
    secret: &ObjectMeta,
    template: &str,
) -> Vec<ObjectRef<JobReset>> {
    let id = connect::SecretId {
        namespace: secret.namespace.clone().unwrap_or_default(),
        name: secret.name.clone().unwrap_or_default(),
    };
    store
        .state()
        .into_iter()
        .filter(|o| !o.status.as_ref().is_some_and(|s| s.phase.is_terminal()))
        .filter(|o| {
            let ns = o.namespace().unwrap_or_default();
            connect::plan(&o.spec.elasticsearch, &ns, template)
                .is_ok_and(|p| p.secrets().contains(&id))
        })
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

#[cfg(test)]
#[path = "watches_tests.rs"]
mod tests;
