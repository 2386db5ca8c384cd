//! es-ml-sim: runs the simulator as a standalone server until Ctrl-C / SIGTERM.
//! Reads the users, seed and TLS files named on the command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use es_ml_sim::{Security, Seed, SimConfig, TlsPem};

#[derive(Debug, Parser)]
#[command(
    name = "es-ml-sim",
    about = "Elasticsearch ML anomaly-detection simulator (close, reset, tasks)"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9200")]
    listen: SocketAddr,
    /// Elasticsearch version to imitate (selects version-specific behaviour).
    #[arg(long = "version", default_value = "8.15.0")]
    es_version: String,
    /// How long a reset's work takes (e.g. 500ms, 2s, 1m).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    reset_duration: Duration,
    /// Serve the /_sim/ control API.
    #[arg(long)]
    enable_control: bool,
    /// PEM certificate chain for HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Users/API keys/tokens/roles file (YAML or JSON); turns security on.
    #[arg(long)]
    users: Option<PathBuf>,
    /// Jobs and datafeeds to create at start (YAML or JSON).
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Fixed 22-character node id (default: random per start).
    #[arg(long)]
    node_id: Option<String>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    es_ml_sim::params::parse_time("reset-duration", s).map_err(|e| e.reason)
}

#[derive(Debug, thiserror::Error)]
enum MainError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing {path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error(transparent)]
    Sim(#[from] es_ml_sim::SimError),
}

fn read(path: &PathBuf) -> Result<String, MainError> {
    std::fs::read_to_string(path).map_err(|source| MainError::Read {
        path: path.clone(),
        source,
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &PathBuf) -> Result<T, MainError> {
    es_ml_sim::config::parse_yaml_or_json(&read(path)?).map_err(|msg| MainError::Parse {
        path: path.clone(),
        msg,
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Logs go to stderr: stdout carries only the "listening on" line that scripts read.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("es-ml-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), MainError> {
    let security: Option<Security> = match &args.users {
        Some(p) => Some(parse(p)?),
        None => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(TlsPem {
            cert_pem: read(c)?,
            key_pem: read(k)?,
        }),
        _ => None,
    };
    let seed: Option<Seed> = match &args.seed {
        Some(p) => Some(parse(p)?),
        None => None,
    };
    let cfg = SimConfig {
        listen: args.listen,
        version: args.es_version,
        reset_duration: args.reset_duration,
        enable_control: args.enable_control,
        security,
        tls,
        node_id: args.node_id,
    };
    let version = cfg.version.clone();
    let sim = es_ml_sim::start(cfg).await?;
    if let Some(seed) = &seed {
        sim.control().apply_seed(seed)?;
    }
    tracing::info!(url = %sim.url(), version = %version, node = %sim.node_id(), "es-ml-sim listening");
    // Tools that start the binary read this line to learn the port.
    println!("es-ml-sim listening on {}", sim.url());
    wait_for_signal().await;
    sim.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
