//! Prometheus metrics and health endpoints. `Metrics` holds the counters the controller
//! updates (pure, no I/O); `serve` answers `GET /metrics` (text exposition format),
//! `/healthz` (the process runs) and `/readyz` (JobResets could be listed at start) on the
//! `--metrics-addr` socket (I/O: one HTTP listener).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::follow::Followers;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabel {
    phase: &'static str,
    reason: String,
}

/// The operator's metrics (names prefixed `jobreset_`).
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    reconcile_errors: Family<ReasonLabel, Counter>,
    reconcile_seconds: Histogram,
    runs: Family<RunLabel, Counter>,
    task_follows: Gauge,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("jobreset");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconcile",
            "Reconciles of JobResets, by result (ok or error)",
            reconciles.clone(),
        );
        let reconcile_errors = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed reconciles (Kubernetes-side errors), by stable reason",
            reconcile_errors.clone(),
        );
        // 1 ms .. ~65 s: a reconcile is a few API calls, or a close that waits for the job.
        let reconcile_seconds = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 17),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            reconcile_seconds.clone(),
        );
        let runs = Family::<RunLabel, Counter>::default();
        registry.register(
            "runs_finished",
            "JobResets that reached Completed or Failed, by phase and reason",
            runs.clone(),
        );
        let task_follows = Gauge::default();
        registry.register(
            "task_follows",
            "Reset tasks being long-polled, or answered and not yet recorded",
            task_follows.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_seconds,
            runs,
            task_follows,
            ready: AtomicBool::new(false),
        }
    }
}

impl Metrics {
    /// One reconcile ended after `took`.
    pub fn reconciled(&self, ok: bool, took: Duration) {
        let result = if ok { "ok" } else { "error" };
        self.reconciles.get_or_create(&ResultLabel { result }).inc();
        self.reconcile_seconds.observe(took.as_secs_f64());
    }

    /// A reconcile failed with this stable reason.
    pub fn reconcile_error(&self, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A run reached a terminal phase.
    pub fn run_finished(&self, phase: &'static str, reason: &str) {
        self.runs
            .get_or_create(&RunLabel {
                phase,
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// JobResets could be listed: `/readyz` answers 200 from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// The text exposition of every metric.
    pub fn render(&self, follows: usize) -> String {
        self.task_follows
            .set(i64::try_from(follows).unwrap_or(i64::MAX));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

struct Served {
    metrics: Arc<Metrics>,
    followers: Arc<Followers>,
}

/// Serves `/metrics`, `/healthz` and `/readyz` on an already bound listener until the
/// process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    followers: Arc<Followers>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(Arc::new(Served { metrics, followers }));
    axum::serve(listener, app).await
}

/// Binds the metrics socket (failing early on a taken port beats a silent lack of probes).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

async fn render(State(s): State<Arc<Served>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(s.followers.len()),
    )
}

async fn ready(State(s): State<Arc<Served>>) -> impl IntoResponse {
    if s.metrics.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the JobReset watch has not synced yet",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_counters_it_was_given() {
        let m = Metrics::default();
        m.reconciled(true, Duration::from_millis(3));
        m.reconciled(false, Duration::from_millis(5));
        m.reconcile_error("WriteStatus");
        m.run_finished("Completed", "ResetCompleted");
        m.run_finished("Completed", "ResetCompleted");
        m.run_finished("Failed", "JobNotFound");
        let text = m.render(3);
        for line in [
            "jobreset_reconcile_total{result=\"ok\"} 1",
            "jobreset_reconcile_total{result=\"error\"} 1",
            "jobreset_reconcile_errors_total{reason=\"WriteStatus\"} 1",
            "jobreset_runs_finished_total{phase=\"Completed\",reason=\"ResetCompleted\"} 2",
            "jobreset_runs_finished_total{phase=\"Failed\",reason=\"JobNotFound\"} 1",
            "jobreset_task_follows 3",
            "jobreset_reconcile_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }
}
