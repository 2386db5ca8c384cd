//! testbed-fake-pod: a stand-in container for the pod runner's self-tests. Serves `/healthz`
//! (liveness), `/readyz` (readiness) and `/startupz` on `--listen` (all three failing for the
//! first `--start-after-ms`), prints its pid, arguments and
//! environment at start, exits 0 on SIGTERM (unless `--ignore-sigterm`), and is steered over
//! HTTP (state is per process, so a restarted container starts healthy):
//!
//! - `/control/fail-liveness`, `/control/fail-readiness`: the probe answers 500/503 from now on;
//! - `/control/heal`: both answer 200 again;
//! - `/control/exit/<code>`: exits with that code (shortly after answering);
//! - `/env`: the environment as JSON; `/args`: the arguments as JSON.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use clap::Parser;

#[derive(Parser)]
#[command(about = "A fake container for the test bed's pod runner")]
struct Args {
    /// Address to serve the probes on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: String,
    /// Ignore SIGTERM (only SIGKILL ends it).
    #[arg(long)]
    ignore_sigterm: bool,
    /// Start failing liveness at once (until `/control/heal`).
    #[arg(long)]
    fail_liveness: bool,
    /// Every probe endpoint fails for this long after the start (a slow starter).
    #[arg(long, default_value_t = 0)]
    start_after_ms: u64,
    /// Anything else is accepted and printed (like an operator's own flags).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

struct Health {
    live_fails: AtomicBool,
    ready_fails: AtomicBool,
    started_at: Instant,
}

impl Health {
    fn status(&self, fails: &AtomicBool, bad: StatusCode) -> (StatusCode, &'static str) {
        if Instant::now() < self.started_at {
            (bad, "starting\n")
        } else if fails.load(Ordering::SeqCst) {
            (bad, "failing\n")
        } else {
            (StatusCode::OK, "ok\n")
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.ignore_sigterm {
        // SAFETY: setting a signal's disposition to SIG_IGN, before any other thread runs code
        // that depends on it.
        unsafe {
            libc::signal(libc::SIGTERM, libc::SIG_IGN);
        }
    }
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-pod: binding {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    println!(
        "fake-pod: pid {} listening on {}",
        std::process::id(),
        args.listen
    );
    println!(
        "fake-pod: args {:?}",
        std::env::args().skip(1).collect::<Vec<_>>()
    );
    let env: BTreeMap<String, String> = std::env::vars().collect();
    for (k, v) in &env {
        println!("fake-pod: env {k}={v}");
    }
    let health = Arc::new(Health {
        live_fails: AtomicBool::new(args.fail_liveness),
        ready_fails: AtomicBool::new(false),
        started_at: Instant::now() + Duration::from_millis(args.start_after_ms),
    });
    let app = Router::new()
        .route(
            "/healthz",
            get(|State(h): State<Arc<Health>>| async move {
                h.status(&h.live_fails, StatusCode::INTERNAL_SERVER_ERROR)
            }),
        )
        .route(
            "/readyz",
            get(|State(h): State<Arc<Health>>| async move {
                h.status(&h.ready_fails, StatusCode::SERVICE_UNAVAILABLE)
            }),
        )
        .route(
            "/startupz",
            get(|State(h): State<Arc<Health>>| async move {
                h.status(&AtomicBool::new(false), StatusCode::SERVICE_UNAVAILABLE)
            }),
        )
        .route(
            "/control/fail-liveness",
            get(|State(h): State<Arc<Health>>| async move {
                println!("fake-pod: liveness will fail");
                h.live_fails.store(true, Ordering::SeqCst);
                "ok\n"
            }),
        )
        .route(
            "/control/fail-readiness",
            get(|State(h): State<Arc<Health>>| async move {
                println!("fake-pod: readiness will fail");
                h.ready_fails.store(true, Ordering::SeqCst);
                "ok\n"
            }),
        )
        .route(
            "/control/heal",
            get(|State(h): State<Arc<Health>>| async move {
                println!("fake-pod: healed");
                h.live_fails.store(false, Ordering::SeqCst);
                h.ready_fails.store(false, Ordering::SeqCst);
                "ok\n"
            }),
        )
        .route(
            "/control/exit/{code}",
            get(|Path(code): Path<u8>| async move {
                println!("fake-pod: exiting with {code} as asked");
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    std::process::exit(i32::from(code));
                });
                "ok\n"
            }),
        )
        .route("/env", get(move || async move { axum::Json(env) }))
        .route(
            "/args",
            get(|| async { axum::Json(std::env::args().skip(1).collect::<Vec<_>>()) }),
        )
        .with_state(health);
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fake-pod: installing the SIGTERM handler: {e}");
            return ExitCode::from(2);
        }
    };
    let ignore = args.ignore_sigterm;
    let sigterm = async move {
        if ignore {
            std::future::pending::<()>().await;
        }
        term.recv().await;
    };
    tokio::select! {
        r = axum::serve(listener, app) => {
            eprintln!("fake-pod: server ended: {r:?}");
            ExitCode::from(1)
        }
        () = sigterm => {
            println!("fake-pod: SIGTERM, exiting");
            ExitCode::SUCCESS
        }
    }
}
