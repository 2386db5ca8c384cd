//! The fault campaign's rounds: a seeded, randomised round of JobResets (some on the same
//! job) under operator SIGKILLs (one replica, or two with leader election), Elasticsearch
//! faults (5xx, 429, latency, connections closed before and after an action took effect,
//! node restarts that lose tasks and reuse task numbers) and API-server faults (status
//! writes failing, lost, conflicting); then, faults cleared, every JobReset must end, and the
//! simulator's record of reset work must match what status says. Does I/O: the shared test
//! bed, a simulator, operator processes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::{JobResetStatus, Phase};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use serde_json::json;
use testbed::RequestMatch;

use crate::common::{Operator, World, security};

/// What one round saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub kills: u32,
    pub resets: u32,
    pub lost: u32,
    pub doubled: u32,
    pub stuck: u32,
    pub unexplained: u32,
    /// Runs on a job with nothing to clear whose request's fate a crash made unknowable
    /// (killed between the intent and the answer): Completed by the job's state, without a
    /// second request. Not counted as lost: no evidence can tell them apart.
    pub by_state: u32,
    /// What went wrong, one line each.
    pub findings: Vec<String>,
}

const AGENT: &str = concat!("jobreset-operator/", env!("CARGO_PKG_VERSION"));
const USER: &str = "chaos";

/// Reasons a run may end Failed with in a campaign: none. Faults stop before the end, so
/// every run can finish; a Failed one is a finding.
fn acceptable_failure(_s: &JobResetStatus) -> bool {
    false
}

/// The operator's replicas; each log is read when its process is killed (a restart writes
/// a new one).
struct Replicas {
    ops: Vec<Option<Operator>>,
    args: Vec<String>,
}

impl Replicas {
    async fn start(w: &World, n: usize) -> Replicas {
        let mut args: Vec<String> = vec![];
        if n > 1 {
            args.extend(
                [
                    "--leader-elect",
                    "--leader-election-namespace",
                    &w.ns,
                    "--lease-duration",
                    "3s",
                    "--renew-deadline",
                    "2s",
                    "--retry-period",
                    "300ms",
                ]
                .map(String::from),
            );
        }
        let mut r = Replicas {
            ops: (0..n).map(|_| None).collect(),
            args,
        };
        for i in 0..n {
            r.restart(w, i).await;
        }
        r
    }

    async fn restart(&mut self, w: &World, i: usize) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let op = Operator::spawn_with(w.bed, &w.ns, &format!("r{i}"), &args).await;
        self.ops[i] = Some(op);
    }

    /// SIGKILL; returns what the process logged.
    async fn kill(&mut self, i: usize) -> String {
        match self.ops[i].take() {
            Some(mut op) => {
                op.kill().await;
                op.log_text()
            }
            None => String::new(),
        }
    }
}

/// Runs round `seed`; returns its tally.
pub async fn round(seed: u64, chaos_for: Duration) -> Tally {
    let mut rng = fastrand::Rng::with_seed(seed);
    let password = format!("chaos-pw-{seed}");
    let mut sec = security();
    sec.users.push(es_ml_sim::User {
        username: USER.into(),
        password: password.clone(),
        roles: vec!["resetter".into()],
    });
    let sim = SimConfig {
        reset_duration: Duration::from_millis(rng.u64(20..600)),
        security: Some(sec),
        ..Default::default()
    };
    let w = World::bare(&format!("chaos-{seed}"), sim).await;
    w.secret(
        "es",
        &[
            ("username", USER.as_bytes()),
            ("password", password.as_bytes()),
        ],
    )
    .await;
    let ctl = w.ctl();
    let mut tally = Tally::default();

    // Jobs of every kind, one or two JobResets each.
    let mut runs: BTreeMap<String, String> = BTreeMap::new();
    for j in 0..rng.usize(3..8) {
        let job = format!("job-{j}");
        match rng.u8(0..5) {
            0 => w.job_with_data(&job, "closed"),
            1 => w.job_with_data(&job, "opened"),
            2 => w.job_with_data(&job, "failed"),
            3 => ctl
                .put_job(&job, crate::common::job_body())
                .expect("empty job"),
            _ => ctl
                .apply_seed(&crate::common::seed(&job, "opened", true))
                .expect("seed"),
        }
        for r in 0..rng.usize(1..3) {
            runs.insert(format!("reset-{j}-{r}"), job.clone());
        }
    }
    let n = if rng.bool() { 2 } else { 1 };
    let mut replicas = Replicas::start(&w, n).await;
    let mut logs = String::new();
    for (name, job) in &runs {
        // Half keep no ledger: their end is taken from the task's answer alone.
        let ledger = if rng.bool() { "BestEffort" } else { "Disabled" };
        w.create(
            name,
            json!({"jobId": job, "deadlineSeconds": 600, "ledger": ledger,
                   "elasticsearch": {"credentialsSecret": {"name": "es"}}}),
        )
        .await;
        tally.resets += 1;
    }

    // Chaos.
    let end = Instant::now() + chaos_for;
    let endpoints = [
        Endpoint::JobGet,
        Endpoint::JobStats,
        Endpoint::JobClose,
        Endpoint::JobReset,
        Endpoint::TaskGet,
        Endpoint::MlInfo,
    ];
    let mut rules = vec![];
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(rng.u64(100..900))).await;
        match rng.u8(0..10) {
            0..=2 => {
                let i = rng.usize(0..n);
                logs.push_str(&replicas.kill(i).await);
                tally.kills += 1;
                tokio::time::sleep(Duration::from_millis(rng.u64(0..400))).await;
                replicas.restart(&w, i).await;
            }
            3 => {
                let ep = endpoints[rng.usize(0..endpoints.len())];
                let status = [500, 503, 429][rng.usize(0..3)];
                ctl.fail_next(
                    ep,
                    rng.u32(1..3),
                    status,
                    json!({"error": "chaos", "status": status}),
                );
            }
            4 => ctl.drop_next(endpoints[rng.usize(0..endpoints.len())], 1),
            5 => ctl.drop_after_next([Endpoint::JobReset, Endpoint::JobClose][rng.usize(0..2)], 1),
            6 => ctl.set_latency(
                endpoints[rng.usize(0..endpoints.len())],
                Duration::from_millis(rng.u64(0..300)),
            ),
            7 => ctl.restart_node(rng.bool()),
            _ => {
                let m = RequestMatch::any()
                    .verb("patch")
                    .group("ml.jobreset.io")
                    .resource("jobresets")
                    .subresource("status")
                    .namespace(&w.ns)
                    .user_agent(AGENT);
                let rule = match rng.u8(0..3) {
                    0 => m.fail(500),
                    1 => m.lost_answer(),
                    _ => m.fail(409),
                }
                .nth(rng.u32(1..4));
                if let Ok(r) = w.bed.faults().scoped(rule) {
                    rules.push(r);
                }
            }
        }
    }

    // Settle: no more faults; every replica running; every run must end.
    rules.clear();
    ctl.clear_faults();
    for ep in endpoints {
        ctl.set_latency(ep, Duration::ZERO);
    }
    for i in 0..n {
        if replicas.ops[i].is_none() {
            replicas.restart(&w, i).await;
        }
    }
    let mut finals: BTreeMap<String, JobResetStatus> = BTreeMap::new();
    let settle_by = Instant::now() + Duration::from_secs(120);
    for name in runs.keys() {
        let s = settle(&w, name, settle_by).await;
        finals.insert(name.clone(), s);
    }
    for i in 0..n {
        logs.push_str(&replicas.kill(i).await);
    }

    judge(&w, &runs, &finals, &logs, &password, &mut tally).await;
    tally
}

/// The run's status once it is terminal, or the last one seen by `by`.
async fn settle(w: &World, name: &str, by: Instant) -> JobResetStatus {
    use kube::runtime::wait::await_condition;
    let done = |o: Option<&jobreset_operator::api::JobReset>| {
        o.and_then(|o| o.status.as_ref())
            .is_some_and(|s| s.phase.is_terminal())
    };
    let left = by.saturating_duration_since(Instant::now());
    let _ = tokio::time::timeout(left, await_condition(w.api.clone(), name, done)).await;
    w.api
        .get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|o| o.status)
        .unwrap_or_default()
}

async fn judge(
    w: &World,
    runs: &BTreeMap<String, String>,
    finals: &BTreeMap<String, JobResetStatus>,
    logs: &str,
    password: &str,
    t: &mut Tally,
) {
    let ctl = w.ctl();
    let mut by_job: BTreeMap<&str, Vec<(&str, &JobResetStatus)>> = BTreeMap::new();
    for (name, job) in runs {
        if let Some(s) = finals.get(name) {
            by_job.entry(job).or_default().push((name, s));
        }
    }
    for (job, list) in by_job {
        let by_state = list
            .iter()
            .filter(|(_, s)| {
                s.phase == Phase::Completed
                    && s.task_id.is_none()
                    && s.job_fingerprint.as_ref().is_some_and(|f| f.is_empty())
                    && s.message
                        .as_deref()
                        .is_some_and(|m| m.contains("how a reset leaves it"))
            })
            .count();
        t.by_state += u32::try_from(by_state).unwrap_or(u32::MAX);
        let completed = list
            .iter()
            .filter(|(_, s)| s.phase == Phase::Completed)
            .count()
            - by_state;
        let failed_after_sending = list
            .iter()
            .filter(|(_, s)| s.phase == Phase::Failed && s.reset_requests > 0)
            .count();
        let work = usize::try_from(ctl.resets_completed(job)).unwrap_or(usize::MAX);
        let story = || {
            let names: Vec<&str> = list.iter().map(|(n, _)| *n).collect();
            let lines: Vec<&str> = logs
                .lines()
                .filter(|l| {
                    names.iter().any(|n| l.contains(n))
                        || l.contains("Starting")
                        || l.contains("acquired")
                })
                .collect();
            lines.join("\n    ")
        };
        if work < completed {
            t.lost += 1;
            t.findings.push(format!(
                "lost: job {job}: {completed} Completed, {work} resets ran: {list:?}\n    {}",
                story()
            ));
        }
        if work > completed + by_state + failed_after_sending {
            t.doubled += 1;
            t.findings.push(format!(
                "doubled: job {job}: {work} resets ran for {completed} Completed: {list:?}\n    {}",
                story()
            ));
        }
        for (name, s) in &list {
            if !s.phase.is_terminal() {
                t.stuck += 1;
                t.findings.push(format!("stuck: {name}: {s:?}"));
            } else if s.phase == Phase::Failed && !acceptable_failure(s) {
                t.unexplained += 1;
                t.findings
                    .push(format!("failed: {name}: {:?}: {:?}", s.reason, s.message));
            }
            let requests_said = s.reset_requests;
            if s.phase == Phase::Completed && requests_said == 0 && !s.adopted {
                t.unexplained += 1;
                t.findings.push(format!(
                    "completed with no request sent nor adopted: {name}: {s:?}"
                ));
            }
        }
    }
    if logs.contains("panicked") {
        t.unexplained += 1;
        t.findings.push("a panic in the operator's log".into());
    }
    let events: Api<Event> = Api::namespaced(w.client.clone(), &w.ns);
    let events = events
        .list(&Default::default())
        .await
        .map(|l| serde_json::to_string(&l.items).unwrap_or_default())
        .unwrap_or_default();
    let statuses = serde_json::to_string(finals).unwrap_or_default();
    for (what, text) in [
        ("log", logs),
        ("Events", events.as_str()),
        ("status", statuses.as_str()),
    ] {
        if text.contains(password) {
            t.unexplained += 1;
            t.findings.push(format!("the password is in the {what}"));
        }
    }
}
