//! Test objects: a simulator seed, a JobReset, a watch that tracks how many runs are in a phase
//! at once, a watch stream that backs off on errors. Builds values; `track_max_in_phase` and
//! `applied` watch the API server.

use super::*;
/// A seed with one job (snapshot + 1234 records) and optionally its started datafeed.
pub fn seed(id: &str, state: &str, datafeed: bool) -> es_ml_sim::Seed {
    use es_ml_sim::config::{SeedDatafeed, SeedJob};
    es_ml_sim::Seed {
        jobs: vec![SeedJob {
            job_id: id.to_owned(),
            config: Some(job_body()),
            state: Some(state.to_owned()),
            model_snapshot_id: Some("1700000000".to_owned()),
            processed_record_count: Some(1234),
            user_annotations: 0,
            auto_annotations: 0,
        }],
        datafeeds: if datafeed {
            vec![SeedDatafeed {
                datafeed_id: format!("datafeed-{id}"),
                job_id: id.to_owned(),
                started: true,
            }]
        } else {
            vec![]
        },
    }
}

/// A typed JobReset from a JSON spec.
pub fn jobreset(name: &str, spec: Value) -> JobReset {
    serde_json::from_value(json!({
        "apiVersion": "ml.jobreset.io/v1alpha1",
        "kind": "JobReset",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("JobReset from JSON")
}

/// Watches the namespace's JobResets and records the largest number seen in `phase` at the
/// same time (every update is an event, so no overlap can slip between two looks).
pub fn track_max_in_phase(
    api: Api<JobReset>,
    phase: Phase,
) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    use futures::StreamExt;
    let max = Arc::new(AtomicUsize::new(0));
    let seen = max.clone();
    let handle = tokio::spawn(async move {
        let mut phases: BTreeMap<String, Phase> = BTreeMap::new();
        let mut stream = std::pin::pin!(applied(api));
        while let Some(obj) = stream.next().await {
            let name = obj.metadata.name.clone().unwrap_or_default();
            phases.insert(name, obj.status.map(|s| s.phase).unwrap_or_default());
            let n = phases.values().filter(|p| **p == phase).count();
            seen.fetch_max(n, Ordering::SeqCst);
        }
    });
    (max, handle)
}

/// The objects a watch of `api` delivers, across its restarts. Its errors are retried after
/// kube's default backoff: without a pause, a client that fails at once (as every client does
/// while its runtime shuts down) keeps the task in one endless poll, which no abort, timeout or
/// shutdown can end.
pub fn applied<K>(api: Api<K>) -> impl futures::Stream<Item = K> + Send
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .filter_map(|item| std::future::ready(item.ok()))
}
