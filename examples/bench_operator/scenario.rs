//! One scenario: N JobResets reset by the release operator against the test bed and a fresh
//! simulator, created before the operator starts (backlog), while it runs (live), or one
//! after the other on an idle operator (lag). Collects rate, lags, memory, CPU and the
//! requests and writes per reset from the simulator's and the front's records. Does I/O.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    time::{Duration, Instant},
};

use es_ml_sim::{Seed, SimConfig, config::SeedJob};
use futures::{StreamExt, TryStreamExt};
use jobreset_operator::api::JobReset;
use kube::{Api, Client, api::PostParams};
use serde_json::{Value, json};
use testbed::TestBed;

use crate::lag::{Parts, lag_parts};
use crate::process::{Operator, Sampler};
use crate::{
    procfs::{self, Cpu},
    watch::Watch,
};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What every scenario shares.
pub struct Env {
    pub bed: TestBed,
    pub client: Client,
    pub operator: PathBuf,
    pub reset_ms: u64,
    /// etcd and the apiserver.
    pub server_pids: Vec<u32>,
}

impl Env {
    /// etcd's process (the first of `server_pids`), for its share of the server's CPU.
    pub fn etcd_pids(&self) -> &[u32] {
        self.server_pids.get(..1).unwrap_or(&[])
    }

    /// CPU used so far: the server, etcd, this process and the whole machine.
    pub fn cpu(&self) -> Cpu {
        Cpu::now(&self.server_pids, self.etcd_pids())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Backlog,
    Live,
    /// One at a time, each created once the one before is done.
    Sequential,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Backlog => "backlog",
            Mode::Live => "live",
            Mode::Sequential => "one at a time",
        }
    }
}

/// What creating a scenario's JobResets took, no operator running.
#[derive(Clone, Copy, Debug)]
pub struct Creates {
    pub seconds: f64,
    pub cpu: Cpu,
}

/// One scenario's figures.
#[derive(Clone, Debug)]
pub struct Figures {
    pub mode: Mode,
    pub n: usize,
    pub concurrency: u16,
    pub seconds: f64,
    pub completed: usize,
    pub terminal: usize,
    pub lags_ms: Vec<f64>,
    pub rss_idle: Option<f64>,
    pub rss_steady: Option<f64>,
    pub rss_peak: Option<f64>,
    pub cpu_operator: f64,
    /// CPU used while the operator ran: from its start (backlog) or the first create (live)
    /// until all were terminal.
    pub cpu: Cpu,
    /// The backlog's creates, made before the operator started (live makes them during its
    /// run, inside `cpu`).
    pub creates: Option<Creates>,
    /// Elasticsearch requests by call.
    pub es_calls: BTreeMap<String, usize>,
    /// The operator's Kubernetes writes by verb and resource.
    pub writes: BTreeMap<String, usize>,
    /// Its other Kubernetes requests (reads, lists, watches) by verb and resource.
    pub reads: BTreeMap<String, usize>,
    /// One Completed status as the operator wrote it (the capacity probe's template).
    pub sample_status: Option<Value>,
    /// Medians of where the lag goes, in ms: task end to the confirming read answered, to
    /// the outcome's ledger write answered, to Completed seen.
    pub lag_parts: Option<Parts>,
    /// How long one GET of a JobReset took at the API server while the scenario ran, in ms
    /// (sorted): what each of the operator's requests waits there.
    pub api_get_ms: Vec<f64>,
    /// The capacity probe run just before this scenario (the API server slows as etcd
    /// fills, so each scenario is measured against its neighbour).
    pub bound: Option<f64>,
    /// The probe just before, and the same probe right after the scenario among its own
    /// JobResets (its objects and Events still stored): the API server's capacity at the
    /// scenario's size.
    pub probes: Option<(crate::probe::Capacity, crate::probe::Capacity)>,
    /// Where its JobResets are: the namespace and their names' prefix.
    pub ns: String,
    pub prefix: String,
}
impl Figures {
    pub fn rate(&self) -> f64 {
        self.n as f64 / self.seconds.max(1e-9)
    }
    pub fn per_reset(&self, count: usize) -> f64 {
        count as f64 / self.n.max(1) as f64
    }
}

/// A JobReset of `job`; with `ledger` false it keeps no entry in the job's ledger.
pub fn jobreset(name: &str, job: &str, url: &str, ledger: bool) -> Result<JobReset, BoxError> {
    let mut spec = json!({"jobId": job, "elasticsearch": {"url": url}});
    if !ledger {
        spec["ledger"] = json!("Disabled");
    }
    Ok(serde_json::from_value(json!({
        "apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
        "metadata": {"name": name},
        "spec": spec,
    }))?)
}

/// What a scenario's jobs are like, and whether their JobResets keep a ledger entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jobs {
    pub ledger: bool,
    /// Opened jobs (the operator closes each first) rather than closed ones.
    pub opened: bool,
}

impl Jobs {
    /// Closed jobs with data, the ledger on: the bench's ordinary reset.
    pub const CLOSED: Jobs = Jobs {
        ledger: true,
        opened: false,
    };
}

/// A fresh simulator holding `n` jobs with data, named `{prefix}-{i}`.
pub async fn simulator(
    prefix: &str,
    n: usize,
    reset_ms: u64,
    opened: bool,
) -> Result<es_ml_sim::Sim, BoxError> {
    let sim = es_ml_sim::start(SimConfig {
        reset_duration: Duration::from_millis(reset_ms),
        ..Default::default()
    })
    .await?;
    let jobs = (0..n)
        .map(|i| SeedJob {
            job_id: format!("{prefix}-{i}"),
            config: None,
            state: Some(if opened { "opened" } else { "closed" }.into()),
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
    Ok(sim)
}

/// Creates `{prefix}-{from..to}`, 16 at a time.
pub async fn create(
    api: &Api<JobReset>,
    prefix: &str,
    range: std::ops::Range<usize>,
    url: &str,
    ledger: bool,
) -> Result<(), BoxError> {
    futures::stream::iter(range)
        .map(|i| {
            let (api, name) = (api.clone(), format!("{prefix}-{i}"));
            async move {
                api.create(
                    &PostParams::default(),
                    &jobreset(&name, &name, url, ledger)?,
                )
                .await?;
                Ok::<_, BoxError>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Runs `n` resets of `jobs` in `mode`.
pub async fn run(
    env: &Env,
    n: usize,
    mode: Mode,
    concurrency: u16,
    jobs: Jobs,
) -> Result<Figures, BoxError> {
    let Jobs { ledger, opened } = jobs;
    let prefix = format!(
        "{}-{n}-c{concurrency}{}{}",
        mode.as_str().replace(' ', ""),
        if ledger { "" } else { "-noledger" },
        if opened { "-opened" } else { "" }
    );
    let sim = simulator(&prefix, n, env.reset_ms, opened).await?;
    let ns = env.bed.namespace(&prefix).await?;
    let api: Api<JobReset> = Api::namespaced(env.client.clone(), &ns);
    let mut watch = Watch::start(api.clone(), sim.control()).await;
    let url = sim.url();
    let mut rss_idle = None;
    let mut creates = None;
    let (operator, start, mark) = match mode {
        Mode::Backlog => {
            let (made, before) = (Instant::now(), env.cpu());
            create(&api, &prefix, 0..n, &url, ledger).await?;
            let mark = env.cpu();
            creates = Some(Creates {
                seconds: made.elapsed().as_secs_f64(),
                cpu: mark.since(before),
            });
            let op = Operator::spawn(env, &ns, concurrency)?;
            (op, Instant::now(), mark)
        }
        Mode::Live | Mode::Sequential => {
            let op = Operator::spawn(env, &ns, concurrency)?;
            op.ready().await?;
            // Let start-up allocations settle before reading the idle figure.
            tokio::time::sleep(Duration::from_secs(1)).await;
            rss_idle = procfs::rss_mib(op.pid);
            if let Some(rss) = rss_idle {
                let rollup = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", op.pid))
                    .unwrap_or_default();
                let parts: Vec<&str> = rollup
                    .lines()
                    .filter(|l| {
                        l.starts_with("Pss_")
                            || l.starts_with("Private_")
                            || l.starts_with("Shared_")
                    })
                    .collect();
                eprintln!("   idle RSS {rss:.1} MiB; {}", parts.join("; "));
            }
            let (start, mark) = (Instant::now(), env.cpu());
            if mode == Mode::Live {
                create(&api, &prefix, 0..n, &url, ledger).await?;
            } else {
                for i in 0..n {
                    create(&api, &prefix, i..i + 1, &url, ledger).await?;
                    watch.until(i + 1, Duration::from_secs(60)).await;
                }
            }
            (op, start, mark)
        }
    };
    let sampler = Sampler::start(api.clone(), format!("{prefix}-0"));
    // Fifteen seconds of the API server's work, past the operator's start-up.
    let profiled = (mode == Mode::Backlog).then(|| {
        let (client, name) = (env.client.clone(), prefix.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            crate::pprof::start(&client, &name, 15).await
        })
    });
    let terminal = watch.until(n, Duration::from_secs(1800)).await;
    let seconds = start.elapsed().as_secs_f64();
    let cpu = env.cpu().since(mark);
    // What the operator holds once the work is done, not while its last writes are freed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut operator = operator;
    let (rss_steady, rss_peak) = (
        procfs::rss_mib(operator.pid),
        procfs::peak_rss_mib(operator.pid),
    );
    let cpu_operator = procfs::cpu_seconds(operator.pid).unwrap_or(0.0);
    let _ = operator.child.kill().await;

    let seen = watch.seen();
    let mut lags_ms: Vec<f64> = seen.iter().filter_map(|s| s.lag_ms).collect();
    lags_ms.sort_by(f64::total_cmp);
    let mut es_calls = BTreeMap::new();
    for r in sim.control().requests() {
        *es_calls.entry(r.endpoint.as_str().to_owned()).or_default() += 1;
    }
    let mut writes = BTreeMap::new();
    let mut reads = BTreeMap::new();
    for r in env.bed.requests() {
        if r.namespace.as_deref() != Some(ns.as_str())
            || !r.user_agent.starts_with("jobreset-operator")
        {
            continue;
        }
        let what = match &r.subresource {
            Some(sub) => format!("{} {}/{sub}", r.verb, r.resource),
            None => format!("{} {}", r.verb, r.resource),
        };
        let write = matches!(r.verb.as_str(), "create" | "update" | "patch" | "delete");
        *if write { &mut writes } else { &mut reads }
            .entry(what)
            .or_default() += 1;
    }
    let (parts, slowest) = lag_parts(&sim.control(), &seen);
    for (name, [read, write, done]) in &slowest {
        eprintln!(
            "   slow: {name}: confirming read +{read:.1} ms, ledger write +{write:.1} ms, seen +{done:.1} ms"
        );
    }
    if mode != Mode::Sequential
        && let Some([read, write, done]) = parts
    {
        eprintln!(
            "   lag medians: confirming read {read:.1} ms, ledger write +{write:.1} ms, seen +{done:.1} ms"
        );
    }
    if let Some(p) = profiled {
        let _ = p.await;
    }
    let mut api_get_ms = sampler.stop().await;
    api_get_ms.sort_by(f64::total_cmp);
    if !api_get_ms.is_empty() {
        eprintln!(
            "   one GET at the API server meanwhile: p50 {:.1} ms, p99 {:.1} ms",
            crate::report::percentile(&api_get_ms, 0.5),
            crate::report::percentile(&api_get_ms, 0.99)
        );
    }
    let sample_status = api
        .get_opt(&format!("{prefix}-0"))
        .await?
        .and_then(|o| o.status)
        .and_then(|s| serde_json::to_value(s).ok());
    Ok(Figures {
        mode,
        n,
        concurrency,
        seconds,
        completed: seen.iter().filter(|s| s.phase == "Completed").count(),
        terminal,
        lags_ms,
        rss_idle,
        rss_steady,
        rss_peak,
        cpu_operator,
        cpu,
        creates,
        es_calls,
        writes,
        reads,
        sample_status,
        lag_parts: parts,
        api_get_ms,
        bound: None,
        probes: None,
        ns,
        prefix,
    })
}
