//! Benchmark: requests per second for reset + task follow against an in-process simulator.
//! `cargo run -p es-ml-sim --release --example bench -- [--seconds 5] [--concurrency 32] [--reset-ms 0] [--jobs 1000]`
//! Each iteration is one async reset POST plus one long-poll GET on its task. Bounded in time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use es_ml_sim::{Endpoint, SimConfig};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds = arg("--seconds", 5);
    let concurrency = arg("--concurrency", 32);
    let reset_ms = arg("--reset-ms", 0);
    let jobs = arg("--jobs", 1000).max(concurrency);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cfg = SimConfig {
        reset_duration: Duration::from_millis(reset_ms),
        ..SimConfig::default()
    };
    let sim = es_ml_sim::start(cfg).await?;
    let ctl = sim.control();
    for i in 0..jobs {
        ctl.put_job(&format!("bench-{i}"), es_ml_sim::state::default_job_body())?;
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency as usize)
        .build()?;
    let url = sim.url();
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (client, url, done, errors) =
            (client.clone(), url.clone(), done.clone(), errors.clone());
        // Each worker owns its own jobs so resets never wait on one another.
        let mine: Vec<String> = (0..jobs)
            .filter(|i| i % concurrency == w)
            .map(|i| format!("bench-{i}"))
            .collect();
        workers.spawn(async move {
            let mut k = 0usize;
            while Instant::now() < deadline {
                let job = &mine[k % mine.len()];
                k += 1;
                let r = client
                    .post(format!(
                        "{url}/_ml/anomaly_detectors/{job}/_reset?wait_for_completion=false"
                    ))
                    .send()
                    .await;
                let Ok(r) = r else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let Ok(v) = r.json::<serde_json::Value>().await else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let Some(task) = v["task"].as_str() else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let t = client
                    .get(format!(
                        "{url}/_tasks/{task}?wait_for_completion=true&timeout=30s"
                    ))
                    .send()
                    .await;
                match t {
                    Ok(t) if t.status().is_success() => {
                        let _ = t.bytes().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let secs = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    let requests = ctl.count(Endpoint::JobReset) + ctl.count(Endpoint::TaskGet);
    println!(
        "reset+follow: {n} iterations in {secs:.2}s = {:.0} resets/s, {:.0} requests/s (concurrency {concurrency}, reset {reset_ms} ms, errors {})",
        n as f64 / secs,
        requests as f64 / secs,
        errors.load(Ordering::Relaxed)
    );
    sim.shutdown().await;
    Ok(())
}
