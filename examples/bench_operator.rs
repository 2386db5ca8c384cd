//! `make bench`, operator part: N JobResets end to end. Starts its own test bed (real API
//! server) and an in-process simulator with N jobs, runs the release operator binary against
//! them, creates the N JobResets at once and waits until all are terminal. Prints wall time,
//! resets per second, creation-to-completion latency percentiles, Elasticsearch requests per
//! reset and the operator's peak resident memory. Figures only; nothing is asserted.
//!
//! `cargo run --release --example bench_operator -- --resets 500 [--reset-ms 50]
//!  [--concurrency 8] [--operator target/release/jobreset-operator]`

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use es_ml_sim::{Endpoint, Seed, SimConfig, config::SeedJob};
use futures::{StreamExt, TryStreamExt};
use jobreset_operator::api::JobReset;
use kube::{
    Api,
    api::PostParams,
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;
use testbed::{Options, TestBed};

struct Args {
    resets: usize,
    reset_ms: u64,
    concurrency: u16,
    operator: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        resets: 500,
        reset_ms: 50,
        concurrency: 8,
        operator: PathBuf::from("target/release/jobreset-operator"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--resets" => a.resets = value.parse().unwrap_or(a.resets),
            "--reset-ms" => a.reset_ms = value.parse().unwrap_or(a.reset_ms),
            "--concurrency" => a.concurrency = value.parse().unwrap_or(a.concurrency),
            "--operator" => a.operator = PathBuf::from(value),
            other => eprintln!("ignoring unknown flag {other}"),
        }
    }
    a
}

/// Peak resident set size of a process, from /proc (Linux).
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = args();
    let bed = TestBed::start(Options {
        crds_dir: testbed::workspace_crds_dir(),
        state_dir: None,
        with_es: None,
    })
    .await?;
    let sim = es_ml_sim::start(SimConfig {
        reset_duration: Duration::from_millis(a.reset_ms),
        ..Default::default()
    })
    .await?;
    let jobs: Vec<SeedJob> = (0..a.resets)
        .map(|i| SeedJob {
            job_id: format!("bench-{i}"),
            config: None,
            state: Some("closed".into()),
            model_snapshot_id: Some("1700000000".into()),
            processed_record_count: Some(1000),
            user_annotations: 0,
            auto_annotations: 0,
        })
        .collect();
    sim.control().apply_seed(&Seed {
        jobs,
        datafeeds: vec![],
    })?;
    let client = bed.client().await?;
    let ns = bed.namespace("bench").await?;

    let mut operator = tokio::process::Command::new(&a.operator)
        .args(["run", "--namespace", &ns, "--concurrency"])
        .arg(a.concurrency.to_string())
        .env("KUBECONFIG", bed.kubeconfig_path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = operator.id().unwrap_or(0);

    let api: Api<JobReset> = Api::namespaced(client, &ns);
    let start = Instant::now();
    let creates = futures::stream::iter(0..a.resets)
        .map(|i| {
            let api = api.clone();
            let url = sim.url();
            async move {
                let jr: JobReset = serde_json::from_value(json!({
                    "apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
                    "metadata": {"name": format!("bench-{i}")},
                    "spec": {"jobId": format!("bench-{i}"), "elasticsearch": {"url": url}}
                }))?;
                api.create(&PostParams::default(), &jr).await?;
                Ok::<_, Box<dyn std::error::Error>>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>();
    creates.await?;
    let created = start.elapsed();

    let mut done = std::collections::BTreeMap::new();
    let mut events = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    let deadline = tokio::time::sleep(Duration::from_secs(600));
    tokio::pin!(deadline);
    while done.len() < a.resets {
        tokio::select! {
            ev = events.try_next() => match ev? {
                Some(jr) => {
                    if let Some(s) = jr.status.as_ref().filter(|s| s.phase.is_terminal()) {
                        let latency = match (&jr.metadata.creation_timestamp, &s.completion_time) {
                            (Some(c), Some(t)) => t.parse::<jiff::Timestamp>().ok()
                                .map(|t| (t.as_millisecond() - c.0.as_millisecond()) as f64 / 1000.0),
                            _ => None,
                        };
                        done.insert(jr.metadata.name.clone().unwrap_or_default(), (s.phase, latency));
                    }
                }
                None => break,
            },
            () = &mut deadline => {
                eprintln!("gave up after 600s with {} of {} terminal", done.len(), a.resets);
                break;
            }
        }
    }
    let wall = start.elapsed();
    let rss = peak_rss_mib(pid);
    let _ = operator.kill().await;

    let completed = done
        .values()
        .filter(|(p, _)| p.as_str() == "Completed")
        .count();
    let mut lat: Vec<f64> = done.values().filter_map(|(_, l)| *l).collect();
    lat.sort_by(f64::total_cmp);
    let ctl = sim.control();
    let es_requests = ctl.requests().len();
    println!(
        "resets: {} ({} Completed), simulated reset duration {} ms, operator concurrency {}",
        a.resets, completed, a.reset_ms, a.concurrency
    );
    println!(
        "created in {:.2}s; all terminal after {:.2}s: {:.1} resets/s",
        created.as_secs_f64(),
        wall.as_secs_f64(),
        a.resets as f64 / wall.as_secs_f64()
    );
    println!(
        "creation -> completionTime (1 s resolution): p50 {:.0}s, p90 {:.0}s, max {:.0}s",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 1.0)
    );
    println!(
        "Elasticsearch requests: {} ({:.1} per reset; {} reset POSTs)",
        es_requests,
        es_requests as f64 / a.resets.max(1) as f64,
        ctl.count(Endpoint::JobReset)
    );
    let per = |n: usize| n as f64 / a.resets.max(1) as f64;
    let mut by_call: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in ctl.requests() {
        *by_call.entry(r.endpoint.as_str()).or_default() += 1;
    }
    let calls: Vec<String> = by_call
        .iter()
        .map(|(k, n)| format!("{k} {:.2}", per(*n)))
        .collect();
    println!("  per reset by call: {}", calls.join(", "));
    // The operator's own writes (its user agent), as the test bed's front recorded them.
    let mut writes: std::collections::BTreeMap<String, usize> = Default::default();
    for r in bed.requests() {
        let write = matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete");
        if write && r.user_agent.starts_with("jobreset-operator") {
            let what = match &r.subresource {
                Some(sub) => format!("{} {}/{sub}", r.verb, r.resource),
                None => format!("{} {}", r.verb, r.resource),
            };
            *writes.entry(what).or_default() += 1;
        }
    }
    let total: usize = writes.values().sum();
    let writes: Vec<String> = writes
        .iter()
        .map(|(k, n)| format!("{k} {:.2}", per(*n)))
        .collect();
    println!(
        "Kubernetes writes by the operator: {total} ({:.1} per reset): {}",
        per(total),
        writes.join(", ")
    );
    match rss {
        Some(mib) => println!("operator peak RSS: {mib:.1} MiB"),
        None => println!("operator peak RSS: unavailable"),
    }
    bed.stop();
    Ok(())
}
