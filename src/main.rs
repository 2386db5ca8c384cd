//! Command line entry point: parses arguments and dispatches to the controller, the CRD
//! printer or the standalone reset. Does I/O only through the modules it calls (plus logging
//! setup and signal handling).

use std::{io::IsTerminal, pin::Pin, process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use jobreset_operator::{
    api::Phase,
    cli::{Cli, Command, ResetArgs, RunArgs},
    controller::{self, Options, Shared},
    k8s::leader,
    k8s::metrics::{self, Readiness},
    standalone,
};
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match jobreset_operator::crds_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("jobreset-operator: cannot render the CRD: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => with_runtime(run(args)),
        Command::Reset(args) => with_runtime(reset(args)),
    }
}

fn with_runtime(fut: impl Future<Output = ExitCode>) -> ExitCode {
    // One crypto provider (ring) for every TLS client in the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            eprintln!("jobreset-operator: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(default: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run(args: RunArgs) -> ExitCode {
    // One listener for the whole run (see `shutdown_signal`).
    let mut shutdown = std::pin::pin!(shutdown_signal());
    init_logging("info", args.log_json);
    let opts = Options {
        namespace: args.namespace,
        concurrency: args.concurrency.max(1),
        task_poll_timeout: args.task_poll_timeout,
        backoff_base: args.backoff_base,
        backoff_cap: args.backoff_cap,
        eck_url_template: args.eck_url_template,
        max_task_follows: args.max_task_follows.max(1),
        max_task_follows_per_namespace: args.max_task_follows_per_namespace.max(1),
        kube_requests: args.kube_requests,
        allowed_refs: args.allow_cross_namespace_ref,
        ..Options::default()
    };
    if opts.namespace.is_none() && opts.max_task_follows_per_namespace >= opts.max_task_follows {
        warn!(
            per_namespace = opts.max_task_follows_per_namespace,
            all = opts.max_task_follows,
            "--max-task-follows-per-namespace is not below --max-task-follows: one namespace's \
             JobResets may hold every background call"
        );
    }
    if let Err(e) =
        jobreset_operator::controller::jobreset::connect::check_template(&opts.eck_url_template)
    {
        error!("{e}");
        return ExitCode::from(2);
    }
    if opts.eck_url_template.starts_with("http://") {
        warn!(template = %opts.eck_url_template, "ECK clusters are reached over plain http (--eck-url-template): credentials travel unencrypted");
    }
    let shared = Shared::default();
    // Probes first, on every replica: a standby must answer its liveness probe too.
    if let Some(addr) = args.metrics_addr {
        let listener = match metrics::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                error!(%addr, error = %e, "cannot serve metrics and probes (--metrics-addr)");
                return ExitCode::FAILURE;
            }
        };
        info!(bound = %listener.local_addr().unwrap_or(addr), "serving /metrics, /healthz and /readyz");
        let m = Arc::clone(&shared.metrics);
        tokio::spawn(async move {
            if let Err(e) = metrics::serve(listener, m).await {
                warn!(error = %e, "metrics server stopped");
            }
        });
    }
    let client = match jobreset_operator::k8s::client::build().await {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "cannot build a Kubernetes client (KUBECONFIG or in-cluster config)");
            return ExitCode::FAILURE;
        }
    };
    let lease = args.leader_elect.then(|| leader::LeaseConfig {
        namespace: args
            .leader_election_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string()),
        name: args.leader_election_id.clone(),
        identity: identity(),
        duration: args.lease_duration,
        renew_deadline: args.renew_deadline,
        retry_period: args.retry_period,
    });
    if let Some(Err(e)) = lease.as_ref().map(leader::LeaseConfig::check) {
        error!("invalid leader election settings: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = controller::preflight(&client, &opts).await {
        error!(reason = e.reason(), error = %e, "cannot start");
        return ExitCode::FAILURE;
    }
    // Held until the controller stops; losing it stops the process first.
    let mut held = match lease {
        None => None,
        Some(cfg) => {
            shared.metrics.set_leader(&cfg.name, false);
            shared.metrics.set_readiness(Readiness::Standby);
            tokio::select! {
                held = leader::acquire(client.clone(), cfg.clone()) => {
                    shared.metrics.set_leader(&cfg.name, true);
                    Some(held)
                }
                () = &mut shutdown => {
                    shared.metrics.set_readiness(Readiness::Stopping);
                    // The stop may have cut off a Lease write that landed.
                    leader::release_if_held(client, cfg).await;
                    return ExitCode::SUCCESS;
                }
            }
        }
    };
    let code = {
        let lost = std::pin::pin!(async {
            match held.as_mut() {
                Some(h) => h.keep().await,
                None => std::future::pending().await,
            }
        });
        lead(client, opts, shared, args.shutdown_grace, shutdown, lost).await
    };
    if let (Some(code), Some(h)) = (code, held) {
        h.release().await;
        return code;
    }
    code.unwrap_or(ExitCode::FAILURE)
}

/// Runs the controller while leading. On a stop signal no new work starts, in-flight
/// reconciles get `grace` to finish, and a reset between its request and the write of its
/// task id gets up to `CRITICAL_SECTION_BOUND` more. `None` when the Lease was lost: the
/// process must stop acting at once (even there), without releasing.
async fn lead(
    client: kube::Client,
    opts: Options,
    shared: Shared,
    grace: Duration,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
    mut lost: Pin<&mut impl Future<Output = leader::LeaderError>>,
) -> Option<ExitCode> {
    let (stop, stopped) = futures::channel::oneshot::channel::<()>();
    let gate = Arc::clone(&shared.gate);
    let metrics = Arc::clone(&shared.metrics);
    let stopped = async move {
        let _ = stopped.await;
    };
    let mut controller = std::pin::pin!(controller::run_until(client, opts, shared, stopped));
    let outcome = |res: Result<(), jobreset_operator::controller::error::Error>| match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(reason = e.reason(), error = %e, "controller stopped");
            ExitCode::FAILURE
        }
    };
    let lost_lease = |e: leader::LeaderError| {
        error!(reason = e.reason(), error = %e, "stopping: another replica may act from now on");
        None
    };
    tokio::select! {
        res = &mut controller => return Some(outcome(res)),
        e = &mut lost => return lost_lease(e),
        () = &mut shutdown => {}
    }
    info!(
        ?grace,
        "stopping: no new work; waiting for in-flight reconciles"
    );
    gate.close();
    metrics.set_readiness(Readiness::Stopping);
    let _ = stop.send(());
    tokio::select! {
        res = &mut controller => return Some(outcome(res)),
        e = &mut lost => return lost_lease(e),
        () = tokio::time::sleep(grace) => {}
    }
    warn!(
        "in-flight reconciles did not finish within the grace period; waiting only for resets whose task id is not written yet"
    );
    tokio::select! {
        _ = &mut controller => {}
        () = gate.wait_idle() => {}
        e = &mut lost => return lost_lease(e),
        () = tokio::time::sleep(CRITICAL_SECTION_BOUND) => {
            warn!("a reset request did not finish within {CRITICAL_SECTION_BOUND:?}; the next leader recovers it");
        }
    }
    Some(ExitCode::SUCCESS)
}

/// How long a stop waits, after the grace period, for a reset between its request and the
/// write of its task id: the Elasticsearch request timeout (30 s) leaves time for the writes.
/// `--shutdown-grace` (20 s) plus this must stay under the Pod's
/// `terminationGracePeriodSeconds` (60 s in deploy/), or the kubelet's SIGKILL comes first.
const CRITICAL_SECTION_BOUND: Duration = Duration::from_secs(30);

/// This replica's Lease identity: the pod name in a cluster, else host name and pid.
fn identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}

/// Resolves on SIGINT or SIGTERM. The listeners are registered when this is called, not when
/// first polled: once tokio handles a signal the default action (exit) is gone, so a signal
/// arriving while no listener exists would be lost and the process would not stop.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let listeners = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let (int, term) = listeners;
            tokio::select! {
                () = wait(int) => {},
                () = wait(term) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Exit codes: 0 Completed, 1 Failed (the JSON says why), 2 could not run.
async fn reset(args: ResetArgs) -> ExitCode {
    init_logging("warn", false);
    match standalone::run(&args).await {
        Ok(result) => {
            match serde_json::to_string_pretty(&result) {
                Ok(json) => println!("{json}"),
                Err(e) => eprintln!("jobreset-operator: cannot print the result: {e}"),
            }
            if result.status.phase == Phase::Completed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("jobreset-operator: {e}");
            ExitCode::from(2)
        }
    }
}
