//! The baseline for completion lag: a naive controller that starts each reset and polls
//! every outstanding task on one 5-second tick (a `requeue_after(5s)` design), then writes
//! Completed. Its resets start at random moments across ten seconds, as a user's would, so
//! its lags spread over the tick. Runs against its own simulator and namespace, seen by the
//! same watch as the operator's. Does I/O.

use std::time::Duration;

use jobreset_operator::api::JobReset;
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

use crate::{
    scenario::{BoxError, Env, create, simulator},
    watch::Watch,
};

const TICK: Duration = Duration::from_secs(5);

/// The naive controller's lags (task end to Completed seen), in milliseconds, sorted.
pub async fn lags(env: &Env, k: usize) -> Result<Vec<f64>, BoxError> {
    let sim = simulator("naive", k, env.reset_ms, false).await?;
    let ns = env.bed.namespace("naive").await?;
    let api: Api<JobReset> = Api::namespaced(env.client.clone(), &ns);
    let mut watch = Watch::start(api.clone(), sim.control()).await;
    create(&api, "naive", 0..k, "http://127.0.0.1:9", true).await?;
    let http = reqwest::Client::new();
    let url = sim.url();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    let starter = {
        let (http, url) = (http.clone(), url.clone());
        let mut rng = fastrand::Rng::with_seed(11);
        let mut offsets: Vec<(u64, usize)> = (0..k).map(|i| (rng.u64(0..10_000), i)).collect();
        offsets.sort();
        tokio::spawn(async move {
            let begin = tokio::time::Instant::now();
            for (ms, i) in offsets {
                tokio::time::sleep_until(begin + Duration::from_millis(ms)).await;
                let job = format!("naive-{i}");
                let started: Result<Value, reqwest::Error> = async {
                    http.post(format!(
                        "{url}/_ml/anomaly_detectors/{job}/_reset?wait_for_completion=false"
                    ))
                    .send()
                    .await?
                    .json()
                    .await
                }
                .await;
                if let Some(task) = started
                    .ok()
                    .and_then(|v| v["task"].as_str().map(String::from))
                {
                    let _ = tx.send((job, task));
                }
            }
        })
    };
    let apply = PatchParams::apply("naive-poller").force();
    let mut outstanding: Vec<(String, String)> = Vec::new();
    let mut done = 0;
    let mut tick = tokio::time::interval(TICK);
    while done < k {
        tick.tick().await;
        while let Ok(started) = rx.try_recv() {
            outstanding.push(started);
        }
        let mut still = Vec::new();
        for (job, task) in outstanding.drain(..) {
            let status: Option<Value> = match http.get(format!("{url}/_tasks/{task}")).send().await
            {
                Ok(r) => r.json().await.ok(),
                Err(_) => None,
            };
            if status.is_some_and(|s| s["completed"] == json!(true)) {
                let body = json!({
                    "apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
                    "metadata": {"name": job}, "status": {"phase": "Completed"},
                });
                api.patch_status(&job, &apply, &Patch::Apply(&body)).await?;
                done += 1;
            } else {
                still.push((job, task));
            }
        }
        outstanding = still;
        if starter.is_finished() && outstanding.is_empty() && rx.is_empty() && done < k {
            return Err(format!("naive poller: {done} of {k} resets started and done").into());
        }
    }
    watch.until(k, Duration::from_secs(60)).await;
    let mut lags: Vec<f64> = watch.seen().iter().filter_map(|s| s.lag_ms).collect();
    lags.sort_by(f64::total_cmp);
    Ok(lags)
}
