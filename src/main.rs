//! Command line entry point: parses arguments and dispatches to the controller, the CRD
//! printer or the standalone reset. Does I/O only through the modules it calls (plus logging
//! setup and signal handling).

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use jobreset_operator::{
    api::Phase,
    cli::{Cli, Command, ResetArgs, RunArgs},
    controller::{self, Options},
    leader, standalone,
};
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
        metrics_addr: args.metrics_addr,
        allowed_refs: args.allow_cross_namespace_ref,
        ..Options::default()
    };
    let client = match jobreset_operator::k8s::client::build().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build a Kubernetes client (KUBECONFIG or in-cluster config)");
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
        renew_every: args.lease_renew,
    });
    // Held until the controller stops; losing it stops the process first.
    let mut held = match lease {
        None => None,
        Some(cfg) => tokio::select! {
            held = leader::acquire(client.clone(), cfg.clone()) => match held {
                Ok(held) => Some(held),
                Err(e) => {
                    tracing::error!(reason = e.reason(), error = %e, "leader election failed");
                    return ExitCode::FAILURE;
                }
            },
            () = &mut shutdown => {
                // The stop may have cut off a Lease write that landed.
                leader::release_if_held(client, cfg).await;
                return ExitCode::SUCCESS;
            }
        },
    };
    let lost = async {
        match held.as_mut() {
            Some(h) => h.keep().await,
            None => std::future::pending().await,
        }
    };
    let code = tokio::select! {
        res = controller::run(client, opts) => match res {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(reason = e.reason(), error = %e, "controller stopped");
                ExitCode::FAILURE
            }
        },
        e = lost => {
            tracing::error!(reason = e.reason(), error = %e, "stopping: another replica may act from now on");
            return ExitCode::FAILURE;
        }
        () = &mut shutdown => {
            tracing::info!("shutting down");
            ExitCode::SUCCESS
        }
    };
    if let Some(h) = held {
        h.release().await;
    }
    code
}

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
