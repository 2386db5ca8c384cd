//! Prometheus metrics and health endpoints, served from process start on every replica.
//! `Metrics` holds the counters, the readiness and the leader gauge the process updates
//! (pure, no I/O); `serve` answers `GET /metrics` (text exposition format), `/healthz` (the
//! process runs) and `/readyz` (see `Readiness`) on the `--metrics-addr` socket (I/O: one
//! HTTP listener).

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// What `/readyz` reports. A standby replica is ready as a standby: it runs, reaches the API
/// server and found the CRDs, and takes over when the leader goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Checking that the API server answers and the CRDs are installed.
    Starting,
    /// Waiting for the Lease.
    Standby,
    /// Leading; the caches are not synced yet.
    Syncing,
    /// Leading with synced caches (or running without leader election).
    Ready,
    /// Stopping: in-flight work finishes, nothing new starts.
    Stopping,
}

impl Readiness {
    const ALL: [Readiness; 5] = [
        Readiness::Starting,
        Readiness::Standby,
        Readiness::Syncing,
        Readiness::Ready,
        Readiness::Stopping,
    ];

    fn is_ready(self) -> bool {
        matches!(self, Readiness::Standby | Readiness::Ready)
    }

    fn describe(self) -> &'static str {
        match self {
            Readiness::Starting => "starting: checking the API server and the CRDs",
            Readiness::Standby => "ready (standby: another replica holds the Lease)",
            Readiness::Syncing => "leading; the caches are not synced yet",
            Readiness::Ready => "ready",
            Readiness::Stopping => "stopping",
        }
    }
}

/// The Lease name the leader gauge is labelled with, as controller-runtime labels it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LeaseLabel {
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScheduleLabel {
    namespace: String,
    schedule: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
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
    schedule_runs: Family<ScheduleLabel, Counter>,
    /// The series of `schedule_runs`, so that a deleted schedule's can be removed (a
    /// tenant creating and deleting schedules must not grow the operator without end).
    schedule_series: Mutex<HashSet<ScheduleLabel>>,
    fanout_targets: Family<OutcomeLabel, Counter>,
    task_follows: Gauge,
    leader: Family<LeaseLabel, Gauge>,
    readiness: AtomicU8,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        let leader = Family::<LeaseLabel, Gauge>::default();
        // Unprefixed, under controller-runtime's name, so existing dashboards find it.
        root.register(
            "leader_election_master_status",
            "1 while this replica holds the leader-election Lease, else 0",
            leader.clone(),
        );
        let registry = root.sub_registry_with_prefix("jobreset");
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
        let schedule_runs = Family::<ScheduleLabel, Counter>::default();
        registry.register(
            "schedule_runs",
            "Slots of JobResetSchedules, by namespace, schedule and outcome (created, skipped, missed)",
            schedule_runs.clone(),
        );
        let fanout_targets = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "fanout_targets",
            "Jobs of JobResets over many jobs, by outcome (succeeded, failed, skipped)",
            fanout_targets.clone(),
        );
        let task_follows = Gauge::default();
        registry.register(
            "task_follows",
            "Reset tasks being long-polled, or answered and not yet recorded",
            task_follows.clone(),
        );
        Metrics {
            registry: root,
            reconciles,
            reconcile_errors,
            reconcile_seconds,
            runs,
            schedule_runs,
            schedule_series: Mutex::default(),
            fanout_targets,
            task_follows,
            leader,
            readiness: AtomicU8::new(0),
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

    /// `n` slots of a schedule had this outcome.
    pub fn schedule_runs(&self, namespace: &str, schedule: &str, outcome: &'static str, n: u64) {
        let label = ScheduleLabel {
            namespace: namespace.to_owned(),
            schedule: schedule.to_owned(),
            outcome,
        };
        self.schedule_runs.get_or_create(&label).inc_by(n);
        self.series().insert(label);
    }

    /// Removes the series of every schedule `exists` says is gone.
    pub fn retain_schedules(&self, exists: impl Fn(&str, &str) -> bool) {
        self.series().retain(|l| {
            let keep = exists(&l.namespace, &l.schedule);
            if !keep {
                self.schedule_runs.remove(l);
            }
            keep
        });
    }

    fn series(&self) -> std::sync::MutexGuard<'_, HashSet<ScheduleLabel>> {
        // One insert or remove per change: consistent even if a holder panicked.
        self.schedule_series
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// `n` targets of a fan-out ended with this outcome.
    pub fn fanout_targets(&self, outcome: &'static str, n: u64) {
        self.fanout_targets
            .get_or_create(&OutcomeLabel { outcome })
            .inc_by(n);
    }

    /// Moves `/readyz` on.
    pub fn set_readiness(&self, r: Readiness) {
        let i = Readiness::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.readiness
            .store(u8::try_from(i).unwrap_or(0), Ordering::Relaxed);
    }

    pub fn readiness(&self) -> Readiness {
        let i = usize::from(self.readiness.load(Ordering::Relaxed));
        Readiness::ALL
            .get(i)
            .copied()
            .unwrap_or(Readiness::Starting)
    }

    /// Whether this replica holds the Lease `name` (`leader_election_master_status`).
    pub fn set_leader(&self, name: &str, leading: bool) {
        self.leader
            .get_or_create(&LeaseLabel {
                name: name.to_owned(),
            })
            .set(i64::from(leading));
    }

    /// The gauge of long-polls in flight or answered and not yet taken (kept by `Followers`).
    pub fn task_follows(&self) -> Gauge {
        self.task_follows.clone()
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on an already bound listener until the
/// process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(metrics);
    axum::serve(listener, app).await
}

/// Binds the metrics socket (failing early on a taken port beats a silent lack of probes).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

async fn render(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}

async fn ready(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    let r = m.readiness();
    let code = if r.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, r.describe())
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
        m.task_follows().set(3);
        m.set_leader("jobreset-operator", true);
        m.schedule_runs("obs", "weekly", "created", 1);
        m.schedule_runs("obs", "weekly", "missed", 3);
        m.fanout_targets("skipped", 2);
        let text = m.render();
        for line in [
            "jobreset_reconcile_total{result=\"ok\"} 1",
            "jobreset_reconcile_total{result=\"error\"} 1",
            "jobreset_reconcile_errors_total{reason=\"WriteStatus\"} 1",
            "jobreset_runs_finished_total{phase=\"Completed\",reason=\"ResetCompleted\"} 2",
            "jobreset_runs_finished_total{phase=\"Failed\",reason=\"JobNotFound\"} 1",
            "jobreset_task_follows 3",
            "jobreset_reconcile_duration_seconds_count 2",
            "leader_election_master_status{name=\"jobreset-operator\"} 1",
            "jobreset_schedule_runs_total{namespace=\"obs\",schedule=\"weekly\",outcome=\"created\"} 1",
            "jobreset_schedule_runs_total{namespace=\"obs\",schedule=\"weekly\",outcome=\"missed\"} 3",
            "jobreset_fanout_targets_total{outcome=\"skipped\"} 2",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
    }

    #[test]
    fn a_gone_schedules_series_are_removed() {
        let m = Metrics::default();
        m.schedule_runs("obs", "weekly", "created", 1);
        m.schedule_runs("obs", "weekly", "missed", 2);
        m.schedule_runs("obs", "daily", "created", 1);
        m.retain_schedules(|ns, name| ns == "obs" && name == "daily");
        let text = m.render();
        assert!(!text.contains("schedule=\"weekly\""), "{text}");
        assert!(
            text.contains(
                "jobreset_schedule_runs_total{namespace=\"obs\",schedule=\"daily\",outcome=\"created\"} 1"
            ),
            "{text}"
        );
        assert_eq!(m.series().len(), 1);
    }

    #[test]
    fn readiness_round_trips_and_standby_is_ready() {
        let m = Metrics::default();
        assert_eq!(m.readiness(), Readiness::Starting);
        for r in Readiness::ALL {
            m.set_readiness(r);
            assert_eq!(m.readiness(), r);
        }
        let ready: Vec<bool> = Readiness::ALL.iter().map(|r| r.is_ready()).collect();
        assert_eq!(ready, [false, true, false, true, false]);
    }
}
