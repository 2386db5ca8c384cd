//! `make bench`, operator part. Starts its own test bed (real API server and etcd) and, per
//! scenario, a fresh in-process simulator; runs the release operator binary against them.
//! Measures, side by side in one run: the API server's capacity for the operator's minimal
//! writes (the bound), backlog and live scenarios at each size, the completion lag of an
//! idle operator against a naive 5 s poller, the cost of an opened job's reset, a
//! concurrency sweep, memory and CPU. Prints the figures and writes `docs/benchmarks.md`
//! with plots. Nothing is asserted.
//!
//! `cargo run --release --example bench_operator -- --operator target/dist/jobreset-operator`
//! Environment: BENCH_SIZES (default "1000,10000"), BENCH_SWEEP (concurrencies, default
//! "4,8,16,32", run there and back; empty skips), BENCH_SWEEP_N (default 1000),
//! BENCH_RESET_MS (default 50), BENCH_MODES (default "backlog,live"), BENCH_NAIVE_N (default
//! 60), BENCH_PROBE_AFTER, BENCH_OPERATOR_ARGS (extra operator flags, for experiments).
//! With BENCH_SIZES empty, only the lag, the naive poller and the probes run. docs/ is
//! written only by a run with none of these set (`make bench`); any other prints only.

mod cores;
mod cost;
mod lag;
mod naive;
mod plots;
mod pprof;
mod probe;
mod process;
mod procfs;
mod report;
mod scenario;
mod watch;

use std::path::PathBuf;

use scenario::{BoxError, Env, Jobs, Mode};
use testbed::{Options, TestBed};

fn env_list(key: &str, default: &str) -> Vec<usize> {
    std::env::var(key)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

/// Whether any `BENCH_*` setting is given: such a run is partial (fewer sizes, modes or
/// rounds, other flags) and must not stand in docs/ for the full one.
fn tuned() -> bool {
    TUNING.iter().any(|k| std::env::var_os(k).is_some())
}

const TUNING: [&str; 8] = [
    "BENCH_SIZES",
    "BENCH_SWEEP",
    "BENCH_SWEEP_N",
    "BENCH_RESET_MS",
    "BENCH_MODES",
    "BENCH_NAIVE_N",
    "BENCH_PROBE_AFTER",
    "BENCH_OPERATOR_ARGS",
];

fn operator_path() -> PathBuf {
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--operator"
            && let Some(p) = it.next()
        {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("target/dist/jobreset-operator")
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let reset_ms = env_list("BENCH_RESET_MS", "50")
        .first()
        .copied()
        .unwrap_or(50) as u64;
    let sizes = env_list("BENCH_SIZES", "1000,10000");
    let sweep = env_list("BENCH_SWEEP", "4,8,16,32");
    let sweep_n = env_list("BENCH_SWEEP_N", "1000")
        .first()
        .copied()
        .unwrap_or(1000);
    let modes: Vec<Mode> = [Mode::Backlog, Mode::Live]
        .into_iter()
        .filter(|m| {
            std::env::var("BENCH_MODES")
                .unwrap_or_else(|_| "backlog,live".into())
                .split(',')
                .any(|s| s.trim() == m.as_str())
        })
        .collect();
    let default_concurrency = jobreset_operator::controller::Options::default().concurrency;

    let bed = TestBed::start(Options {
        crds_dir: testbed::workspace_crds_dir(),
        state_dir: None,
        with_es: None,
    })
    .await?;
    let client = bed.client().await?;
    let server_pids = bed
        .child_pids()
        .map(|(e, a)| vec![e, a])
        .unwrap_or_default();
    let env = Env {
        bed,
        client,
        operator: operator_path(),
        reset_ms,
        server_pids,
    };

    eprintln!("== idle operator, one reset at a time (lag; warms the API server up)");
    let idle = scenario::run(
        &env,
        100,
        Mode::Sequential,
        default_concurrency,
        Jobs::CLOSED,
    )
    .await?;
    let template = idle
        .sample_status
        .clone()
        .ok_or("the idle scenario left no Completed status to shape the probe on")?;
    eprintln!("== idle operator, one reset at a time, no ledger");
    let bare = Jobs {
        ledger: false,
        ..Jobs::CLOSED
    };
    let unledgered = scenario::run(&env, 50, Mode::Sequential, default_concurrency, bare).await?;
    eprintln!("== idle operator, one reset at a time, opened jobs");
    let opened = Jobs {
        opened: true,
        ..Jobs::CLOSED
    };
    let opened = scenario::run(&env, 50, Mode::Sequential, default_concurrency, opened).await?;
    eprintln!("== capacity probe");
    let mut probes = vec![probe::capacity(&env, &template, 1000, 16, None).await?];
    eprintln!("== naive 5 s poller");
    let naive_n = env_list("BENCH_NAIVE_N", "60")
        .first()
        .copied()
        .unwrap_or(60);
    let naive_ms = naive::lags(&env, naive_n).await?;
    // How many of a scenario's JobResets the probe after it writes to: by default all of
    // them, the scenario's own number of writes (the server slows as its store grows, so a
    // shorter probe overstates the bound at 10,000); a cap shortens the bench.
    let probe_after = env_list("BENCH_PROBE_AFTER", "")
        .first()
        .copied()
        .unwrap_or(usize::MAX);
    let mut scenarios = Vec::new();
    for &n in &sizes {
        for mode in modes.iter().copied() {
            eprintln!("== {} {n} (after a capacity probe)", mode.as_str());
            let name = format!("probe-before-{}-{n}", mode.as_str());
            let p = probe::capacity(&env, &template, 500, 16, Some(&name)).await?;
            let mut f = scenario::run(&env, n, mode, default_concurrency, Jobs::CLOSED).await?;
            f.bound = Some(p.per_second);
            probes.push(p);
            let after =
                probe::capacity_among(&env, &f.ns, &f.prefix, &template, n.min(probe_after), 16)
                    .await?;
            f.probes = Some((p, after));
            eprintln!(
                "   {:.1} resets/s against {:.1} before ({:.1} ms server CPU per reset's worth), {:.1} after among its own ({:.1} ms)",
                f.rate(),
                p.per_second,
                p.server_cpu_ms,
                after.per_second,
                after.server_cpu_ms
            );
            scenarios.push(f);
        }
    }
    let mut swept = Vec::new();
    // There and back (4, 8, ..., 8, 4), each run against a probe just before it: the server
    // slows as its store fills, so a single pass in one order favours the settings run first.
    let order: Vec<usize> = sweep.iter().chain(sweep.iter().rev()).copied().collect();
    for &c in &order {
        eprintln!("== backlog {sweep_n} at concurrency {c} (after a capacity probe)");
        let p = probe::capacity(&env, &template, 500, 16, None).await?;
        let mut f = scenario::run(&env, sweep_n, Mode::Backlog, c as u16, Jobs::CLOSED).await?;
        f.bound = Some(p.per_second);
        eprintln!(
            "   {:.1} resets/s against {:.1} before",
            f.rate(),
            p.per_second
        );
        swept.push(f);
    }
    eprintln!("== capacity probe, again");
    probes.push(probe::capacity(&env, &template, 1000, 16, None).await?);

    let report = report::Report {
        commit: procfs::commit(),
        machine: procfs::machine(),
        date: jiff::Timestamp::now()
            .strftime("%Y-%m-%d %H:%M UTC")
            .to_string(),
        reset_ms,
        probes,
        idle,
        unledgered,
        opened,
        naive_ms,
        scenarios,
        sweep: swept,
        default_concurrency,
    };
    if tuned() {
        // A tuned run prints its figures but leaves docs/ as the last full one.
        println!("{}", report.markdown());
    } else {
        report
            .write(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs"))
            .map_err(|e| e.to_string())?;
    }
    env.bed.stop();
    Ok(())
}
