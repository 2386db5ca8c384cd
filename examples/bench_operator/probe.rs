//! The bound the operator is measured against: how many resets' worth of the operator's own
//! minimal writes the API server accepts per second on its own. One reset's worth is what
//! exactly-once needs: three status applies (the intent, the task id, Completed), each
//! shaped like the operator's (its field manager, the fields it writes), and the outcome's
//! Event (Completed). Writes only: the operator's reads and its watch come on top,
//! so the bound is generous. Does I/O.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use jobreset_operator::api::JobReset;
use k8s_openapi::api::events::v1::Event;
use kube::{
    Api,
    api::{Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

use crate::{
    procfs,
    scenario::{BoxError, Env, create},
};

/// What one probe measured.
#[derive(Clone, Copy, Debug)]
pub struct Capacity {
    /// Resets' worth written.
    pub resets: usize,
    /// Resets' worth of writes per second.
    pub per_second: f64,
    /// API server and etcd CPU per reset's worth, in milliseconds.
    pub server_cpu_ms: f64,
    /// etcd's share of it.
    pub etcd_cpu_ms: f64,
    /// How long it took, and the CPU used meanwhile (the server's, this process's as the
    /// probe's client, the machine's).
    pub seconds: f64,
    pub cpu: procfs::Cpu,
}

/// The three status writes of one reset, from a Completed status the operator wrote.
fn statuses(completed: &Value) -> Vec<Value> {
    let step = |phase: &str, reason: &str, task: bool| {
        let mut s = completed.clone();
        if let Some(o) = s.as_object_mut() {
            o.insert("phase".into(), json!(phase));
            o.insert("reason".into(), json!(reason));
            o.remove("completionTime");
            if !task {
                o.remove("taskId");
            }
        }
        s
    };
    vec![
        step("Resetting", "ResetRequested", false),
        step("Resetting", "ResetStarted", true),
        completed.clone(),
    ]
}

fn event(ns: &str, name: &str, reason: &str, note: &str) -> Result<Event, BoxError> {
    let now = jiff::Timestamp::now();
    Ok(serde_json::from_value(json!({
        "metadata": {"name": format!("{name}.{:x}", now.as_nanosecond()), "namespace": ns},
        "eventTime": now.to_string(),
        "action": reason, "reason": reason, "note": note, "type": "Normal",
        "regarding": {"apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
                      "namespace": ns, "name": name},
        "reportingController": "jobreset-operator",
        "reportingInstance": "jobreset-operator",
    }))?)
}

/// Writes `m` resets' worth to JobResets of a namespace of its own, `concurrency` JobResets
/// at a time (each one's writes in order, as a run makes them).
pub async fn capacity(
    env: &Env,
    completed: &Value,
    m: usize,
    concurrency: usize,
    profile: Option<&str>,
) -> Result<Capacity, BoxError> {
    let ns = env.bed.namespace("probe").await?;
    let api: Api<JobReset> = Api::namespaced(env.client.clone(), &ns);
    // Never reconciled: no operator watches this namespace.
    create(&api, "probe", 0..m, "http://127.0.0.1:9", true).await?;
    measure(env, &ns, "probe", completed, m, concurrency, profile).await
}

/// The same writes to the first `m` JobResets of a scenario that just ended (`{prefix}-{i}`
/// in `ns`, its operator stopped), while all its objects and Events are still stored: the
/// API server's capacity at the scenario's own size.
pub async fn capacity_among(
    env: &Env,
    ns: &str,
    prefix: &str,
    completed: &Value,
    m: usize,
    concurrency: usize,
) -> Result<Capacity, BoxError> {
    let name = format!("probe-after-{prefix}");
    measure(env, ns, prefix, completed, m, concurrency, Some(&name)).await
}

async fn measure(
    env: &Env,
    ns: &str,
    prefix: &str,
    completed: &Value,
    m: usize,
    concurrency: usize,
    profile: Option<&str>,
) -> Result<Capacity, BoxError> {
    let api: Api<JobReset> = Api::namespaced(env.client.clone(), ns);
    let events: Api<Event> = Api::namespaced(env.client.clone(), ns);
    let steps = statuses(completed);
    let apply = PatchParams::apply("jobreset-operator").force();
    let before = env.cpu();
    let start = Instant::now();
    // The probe takes about ten seconds: its first six.
    let profiled = profile.map(|name| crate::pprof::start(&env.client, name, 6));
    futures::stream::iter(0..m)
        .map(|i| {
            let (api, events, steps, apply) = (api.clone(), events.clone(), &steps, &apply);
            async move {
                let name = format!("{prefix}-{i}");
                for status in steps {
                    let body = json!({
                        "apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
                        "metadata": {"name": name}, "status": status,
                    });
                    api.patch_status(&name, apply, &Patch::Apply(&body)).await?;
                }
                let e = event(ns, &name, "Completed", "The reset completed")?;
                events.create(&PostParams::default(), &e).await?;
                Ok::<_, BoxError>(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let seconds = start.elapsed().as_secs_f64();
    let cpu = env.cpu().since(before);
    if let Some(p) = profiled {
        let _ = p.await;
    }
    Ok(Capacity {
        resets: m,
        per_second: m as f64 / seconds.max(1e-9),
        server_cpu_ms: cpu.server * 1000.0 / m.max(1) as f64,
        etcd_cpu_ms: cpu.etcd * 1000.0 / m.max(1) as f64,
        seconds,
        cpu,
    })
}
