//! The library API (`start`, `Sim`, `Control`) and the same operations as JSON routes under
//! `/_sim/`. Starting binds a socket; the rest only touches shared state.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Method;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::{Seed, SimConfig, SimError};
use crate::endpoint::Endpoint;
use crate::engine::{Durations, LoggedRequest, RequestLog, Shared, lock, random_node_id};
use crate::errors::EsError;
use crate::errors::string_error;
use crate::faults::{Fault, Faults};
use crate::state::{Blocked, JobState, Signal, State, default_job_body};
use crate::versions::Version;

/// What tests see of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub state: String,
    pub blocked_reason: Option<String>,
    pub blocked_task_id: Option<String>,
    pub model_snapshot_id: Option<String>,
    pub processed_record_count: u64,
    pub latest_record_timestamp: Option<i64>,
    pub user_annotations: usize,
    pub auto_annotations: usize,
}

impl JobView {
    pub fn to_json(&self) -> Value {
        json!({
            "state": self.state,
            "blocked_reason": self.blocked_reason,
            "blocked_task_id": self.blocked_task_id,
            "model_snapshot_id": self.model_snapshot_id,
            "processed_record_count": self.processed_record_count,
            "latest_record_timestamp": self.latest_record_timestamp,
            "user_annotations": self.user_annotations,
            "auto_annotations": self.auto_annotations,
        })
    }
}

/// Handle on a running simulator's state and faults. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

struct Listening {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A running simulator.
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    listening: tokio::sync::Mutex<Option<Listening>>,
}

fn valid_node_id(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Start a simulator: bind, serve, return the handle.
pub async fn start(cfg: SimConfig) -> Result<Sim, SimError> {
    let version =
        Version::parse(&cfg.version).ok_or_else(|| SimError::Version(cfg.version.clone()))?;
    let node_id = match cfg.node_id {
        Some(n) if valid_node_id(&n) => n,
        Some(n) => return Err(SimError::NodeId(n)),
        None => random_node_id(),
    };
    let tls = match &cfg.tls {
        Some(pem) => Some(crate::tls::acceptor(pem)?),
        None => None,
    };
    let (changes, _) = watch::channel(0u64);
    let cluster_uuid = random_node_id();
    let shared = Arc::new(Shared {
        state: Mutex::new(State::new(version, node_id)),
        changes,
        faults: Mutex::new(Faults::default()),
        log: Mutex::new(RequestLog::default()),
        durations: Mutex::new(Durations {
            reset: cfg.reset_duration,
            reset_per_job: HashMap::new(),
            close: Duration::ZERO,
            open: Duration::ZERO,
            start: Duration::ZERO,
        }),
        rt: tokio::runtime::Handle::current(),
        base: Instant::now(),
        version,
        security: cfg.security,
        enable_control: cfg.enable_control,
        cluster_uuid,
    });
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let sim = Sim {
        shared,
        addr,
        tls,
        listening: tokio::sync::Mutex::new(None),
    };
    sim.spawn_listener(listener).await;
    Ok(sim)
}

impl Sim {
    async fn spawn_listener(&self, listener: TcpListener) {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(crate::http::serve(
            self.shared.clone(),
            listener,
            self.tls.clone(),
            rx,
        ));
        *self.listening.lock().await = Some(Listening { stop, task });
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn node_id(&self) -> String {
        self.shared.state().node_id.clone()
    }

    pub fn control(&self) -> Control {
        Control {
            shared: self.shared.clone(),
        }
    }

    /// Elasticsearch "down": close the listener and every open connection; keep all state.
    pub async fn stop_listening(&self) {
        if let Some(l) = self.listening.lock().await.take() {
            let _ = l.stop.send(true);
            let _ = l.task.await;
        }
    }

    /// Listen again on the same port.
    pub async fn resume_listening(&self) -> Result<(), SimError> {
        if self.listening.lock().await.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: self.addr,
                source,
            })?;
        self.spawn_listener(listener).await;
        Ok(())
    }

    pub async fn shutdown(self) {
        self.stop_listening().await;
        let mut st = self.shared.state();
        for df in st.datafeeds.values_mut() {
            df.state = crate::state::DatafeedState::Stopped;
        }
    }
}

impl Control {
    fn now(&self) -> crate::state::Now {
        self.shared.now()
    }

    fn changed<T>(&self, r: T) -> T {
        self.shared.bump();
        r
    }

    /// Create a job with the same body as the PUT API.
    pub fn put_job(&self, id: &str, body: Value) -> Result<(), SimError> {
        let raw = body.to_string();
        let now = self.now();
        let r = self
            .shared
            .state()
            .put_job(id, &body, &raw, now)
            .map(|_| ())
            .map_err(SimError::from);
        self.changed(r)
    }

    pub fn put_datafeed(&self, id: &str, job_id: &str) -> Result<(), SimError> {
        let body = json!({"job_id": job_id, "indices": [format!("{job_id}-data")]});
        let r = self
            .shared
            .state()
            .put_datafeed(id, &body, "")
            .map(|_| ())
            .map_err(SimError::from);
        self.changed(r)
    }

    pub fn open_job(&self, id: &str) -> Result<(), SimError> {
        let now = self.now();
        let r = self
            .shared
            .state()
            .open_job(id, now, false)
            .map_err(SimError::from);
        self.changed(r)
    }

    pub fn start_datafeed(&self, id: &str) -> Result<(), SimError> {
        self.shared
            .start_datafeed(id, false)
            .map_err(SimError::from)
    }

    pub fn job(&self, id: &str) -> Option<JobView> {
        let st = self.shared.state();
        let j = st.jobs.get(id)?;
        Some(JobView {
            state: j.state.as_str().to_string(),
            blocked_reason: j.blocked().map(|b| b.reason.clone()),
            blocked_task_id: j.blocked().and_then(|b| b.task_id.clone()),
            model_snapshot_id: j.model_snapshot_id.clone(),
            processed_record_count: j.counts.processed_record_count,
            latest_record_timestamp: j.counts.latest_record_timestamp,
            user_annotations: j.user_annotations,
            auto_annotations: j.auto_annotations,
        })
    }

    /// Global reset duration (`job: None`) or one job's.
    pub fn set_reset_duration(&self, job: Option<&str>, d: Duration) {
        let mut ds = lock(&self.shared.durations);
        match job {
            Some(j) => {
                ds.reset_per_job.insert(j.to_string(), d);
            }
            None => ds.reset = d,
        }
    }

    /// How long a graceful close takes (default 0: at once). With a close `timeout` shorter
    /// than this, close answers 500 `illegal_state_exception` while the job finishes closing.
    pub fn set_close_duration(&self, d: Duration) {
        lock(&self.shared.durations).close = d;
    }

    /// How long `_open` keeps a job `opening` (default 0). `_open` answers once it is opened.
    pub fn set_open_duration(&self, d: Duration) {
        lock(&self.shared.durations).open = d;
    }

    /// How long `_start` keeps a datafeed `starting` (default 0). `_start` answers once it is
    /// started.
    pub fn set_start_duration(&self, d: Duration) {
        lock(&self.shared.durations).start = d;
    }

    /// The job's audit messages (what Kibana shows as the job's messages), oldest first.
    pub fn job_messages(&self, id: &str) -> Vec<String> {
        self.shared
            .state()
            .jobs
            .get(id)
            .map(|j| j.messages.clone())
            .unwrap_or_default()
    }

    pub fn set_latency(&self, endpoint: Endpoint, d: Duration) {
        lock(&self.shared.faults).set_latency(endpoint, d);
    }

    pub fn fail_next(&self, endpoint: Endpoint, n: u32, status: u16, body: Value) {
        lock(&self.shared.faults).push(endpoint, n, Fault::Fail { status, body });
    }

    /// Close the connection without answering, for the next `n` requests.
    pub fn drop_next(&self, endpoint: Endpoint, n: u32) {
        lock(&self.shared.faults).push(endpoint, n, Fault::Drop);
    }

    /// Never answer the next `n` requests.
    /// Handle the next `n` requests to `endpoint`, then close their connections without an
    /// answer (the action took effect; the client never learns it).
    pub fn drop_after_next(&self, endpoint: Endpoint, n: u32) {
        lock(&self.shared.faults).push(endpoint, n, Fault::DropAfter);
    }

    pub fn hang_next(&self, endpoint: Endpoint, n: u32) {
        lock(&self.shared.faults).push(endpoint, n, Fault::Hang);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Node restart: running tasks vanish (their work stops, jobs keep `blocked.reason=reset`),
    /// the task counter restarts at 1, stored results survive, requests waiting on a task lose
    /// their connection. `lose_results`: the coordinating node is lost, so running tasks store
    /// nothing; otherwise each stores a `node_closed_exception` error.
    pub fn restart_node(&self, lose_results: bool) {
        self.shared.restart_node(lose_results);
    }

    pub fn fail_job(&self, id: &str) {
        self.shared.state().fail_job(id);
        self.shared.bump();
    }

    pub fn set_upgrade_mode(&self, on: bool) {
        self.shared.state().upgrade_mode = on;
        self.shared.bump();
    }

    /// No elected master (`false`): close answers 503 at once; reset waits `master_timeout`
    /// for one, then fails with 503 `master_not_discovered_exception`.
    pub fn set_master_available(&self, on: bool) {
        self.shared.state().master_available = on;
        self.shared.bump();
    }

    /// ML daily maintenance (8.13+): re-runs reset for jobs blocked on `reset` with no running
    /// reset task. Returns those jobs.
    pub fn run_maintenance(&self) -> Vec<String> {
        self.shared.run_maintenance()
    }

    /// A reset ML starts by itself: `blocked.reason=reset` under a master task no caller was
    /// given. It completes (clearing the block) after the job's reset duration, unless the node
    /// restarts first, which leaves the block stale with no task.
    pub fn internal_reset(&self, id: &str) {
        self.shared.internal_reset(id);
    }

    /// Ends the reset that blocks the job now, as if its duration had passed (it completes
    /// normally), so a test can hold a reset running for as long as it needs and no longer.
    /// Does nothing when no reset work is running for the job.
    pub fn finish_reset(&self, id: &str) {
        let st = self.shared.state();
        let running = st
            .jobs
            .get(id)
            .and_then(|j| j.blocked())
            .and_then(|b| b.task_id.as_deref())
            .and_then(|t| st.local_number(t))
            .and_then(|n| st.running.get(&n));
        if let Some(task) = running {
            let _ = task.signal.send(Signal::Finish);
        }
    }

    /// Set or clear the job's `blocked` field directly (`delete`, `revert`, `reset`).
    pub fn set_blocked(&self, id: &str, reason: Option<&str>, task_id: Option<&str>) {
        let blocked = reason.map(|r| Blocked {
            reason: r.to_string(),
            task_id: task_id.map(String::from),
        });
        self.shared.state().jobs.set_blocked(id, blocked);
        self.shared.bump();
    }

    /// Make stopping the datafeed fail (close without force then answers 409).
    pub fn set_datafeed_unstoppable(&self, id: &str, on: bool) {
        if let Some(d) = self.shared.state().datafeeds.get_mut(id) {
            d.unstoppable = on;
        }
        self.shared.bump();
    }

    pub fn set_model_snapshot_id(&self, job: &str, id: Option<&str>) {
        if let Some(j) = self.shared.state().jobs.get_mut(job) {
            j.model_snapshot_id = id.map(String::from);
        }
        self.shared.bump();
    }

    /// Sets the model's memory status (`ok`, `soft_limit`, `hard_limit`).
    pub fn set_memory_status(&self, job: &str, status: &str) {
        if let Some(j) = self.shared.state().jobs.get_mut(job) {
            j.memory_status = Some(status.to_owned());
        }
        self.shared.bump();
    }

    pub fn add_user_annotation(&self, job: &str) {
        if let Some(j) = self.shared.state().jobs.get_mut(job) {
            j.user_annotations += 1;
        }
        self.shared.bump();
    }

    pub fn add_auto_annotation(&self, job: &str) {
        if let Some(j) = self.shared.state().jobs.get_mut(job) {
            j.auto_annotations += 1;
        }
        self.shared.bump();
    }

    /// The request log (the newest `LOG_CAPACITY` entries).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).entries.iter().cloned().collect()
    }

    pub fn count(&self, endpoint: Endpoint) -> u64 {
        lock(&self.shared.log)
            .counts
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    /// When the last reset of `job` ran to the end (its task finished at the same moment).
    pub fn last_reset_done(&self, job: &str) -> Option<Instant> {
        self.shared.state().last_reset_done.get(job).copied()
    }

    /// Resets of `job` whose work ran to the end (the job cleared and unblocked).
    pub fn resets_completed(&self, job: &str) -> u64 {
        self.shared
            .state()
            .resets_completed
            .get(job)
            .copied()
            .unwrap_or(0)
    }

    pub fn resets_started(&self, job: &str) -> u64 {
        self.shared
            .state()
            .resets_started
            .get(job)
            .copied()
            .unwrap_or(0)
    }

    /// The most jobs ever blocked by a reset at the same time.
    pub fn resets_running_peak(&self) -> usize {
        self.shared.state().resets_running_peak
    }

    /// Full scans of the jobs or datafeeds so far (wildcards, `_all`, listings): the calls
    /// naming one job make none, so their cost does not grow with the number of jobs.
    pub fn full_scans(&self) -> u64 {
        self.shared.state().full_scans()
    }

    /// Number of tasks currently running.
    pub fn running_tasks(&self) -> usize {
        self.shared.state().running.len()
    }

    pub fn node_id(&self) -> String {
        self.shared.state().node_id.clone()
    }

    /// Wait until `pred` holds, re-checking on every state change or logged request.
    pub async fn wait_for(&self, pred: impl Fn(&Control) -> bool, deadline: Duration) -> bool {
        let me = self.clone();
        self.shared.wait_change(move |_| pred(&me), deadline).await
    }

    /// Create the seed file's jobs and datafeeds.
    pub fn apply_seed(&self, seed: &Seed) -> Result<(), SimError> {
        for j in &seed.jobs {
            self.put_job(&j.job_id, j.config.clone().unwrap_or_else(default_job_body))?;
            {
                let mut st = self.shared.state();
                if let Some(job) = st.jobs.get_mut(&j.job_id) {
                    job.model_snapshot_id = j.model_snapshot_id.clone();
                    job.user_annotations = j.user_annotations;
                    job.auto_annotations = j.auto_annotations;
                    if let Some(n) = j.processed_record_count {
                        job.counts.processed_record_count = n;
                    }
                }
            }
            match j.state.as_deref().map(|s| (s, JobState::parse(s))) {
                None | Some((_, Some(JobState::Closed))) => {}
                Some((_, Some(JobState::Opened))) => self.open_job(&j.job_id)?,
                Some((_, Some(JobState::Failed))) => self.fail_job(&j.job_id),
                Some((s, _)) => {
                    return Err(SimError::Es {
                        status: 400,
                        kind: "illegal_argument_exception".into(),
                        reason: format!(
                            "seed job [{}]: state [{s}] must be closed, opened or failed",
                            j.job_id
                        ),
                    });
                }
            }
        }
        for d in &seed.datafeeds {
            self.put_datafeed(&d.datafeed_id, &d.job_id)?;
            if d.started {
                if self.job(&d.job_id).is_some_and(|j| j.state == "closed") {
                    self.open_job(&d.job_id)?;
                }
                self.start_datafeed(&d.datafeed_id)?;
            }
        }
        Ok(())
    }
}

fn bad(msg: impl Into<String>) -> (u16, Value) {
    (400, string_error(400, &msg.into()))
}

fn res(r: Result<(), SimError>) -> (u16, Value) {
    match r {
        Ok(()) => (200, json!({"acknowledged": true})),
        Err(SimError::Es {
            status,
            kind,
            reason,
        }) => (status, EsError::new(status, &kind, reason).body()),
        Err(e) => (500, json!({"error": e.to_string(), "status": 500})),
    }
}

fn ms(body: &Value) -> Option<Duration> {
    body.get("ms")
        .and_then(Value::as_u64)
        .map(Duration::from_millis)
}

fn endpoint_of(body: &Value) -> Result<Endpoint, (u16, Value)> {
    let s = body
        .get("endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing \"endpoint\""))?;
    s.parse()
        .map_err(|e: crate::endpoint::UnknownEndpoint| bad(e.to_string()))
}

/// `/_sim/...` routes (see README). `segs` excludes the leading `_sim`.
pub fn handle_http(
    shared: &Arc<Shared>,
    method: &Method,
    segs: &[String],
    body: &[u8],
) -> (u16, Value) {
    let c = Control {
        shared: shared.clone(),
    };
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return bad(format!("invalid JSON: {e}")),
        }
    };
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.as_str();
    let ack = || (200, json!({"acknowledged": true}));
    match (m, s.as_slice()) {
        ("GET", ["jobs", id]) => match c.job(id) {
            Some(v) => (200, v.to_json()),
            None => (404, string_error(404, &format!("no job [{id}]"))),
        },
        ("PUT" | "POST", ["jobs", id]) => {
            let b = if body.as_object().is_some_and(|o| o.is_empty()) {
                default_job_body()
            } else {
                body
            };
            res(c.put_job(id, b))
        }
        ("PUT" | "POST", ["datafeeds", id]) => match body.get("job_id").and_then(Value::as_str) {
            Some(job) => res(c.put_datafeed(id, job)),
            None => bad("missing \"job_id\""),
        },
        ("POST", ["jobs", id, "_open"]) => res(c.open_job(id)),
        ("POST", ["datafeeds", id, "_start"]) => res(c.start_datafeed(id)),
        ("POST", ["datafeeds", id, "_unstoppable"]) => {
            c.set_datafeed_unstoppable(
                id,
                body.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            );
            ack()
        }
        ("POST", ["jobs", id, "_fail"]) => {
            c.fail_job(id);
            ack()
        }
        ("POST", ["jobs", id, "_internal_reset"]) => {
            c.internal_reset(id);
            ack()
        }
        ("POST", ["jobs", id, "_blocked"]) => {
            c.set_blocked(
                id,
                body.get("reason").and_then(Value::as_str),
                body.get("task_id").and_then(Value::as_str),
            );
            ack()
        }
        ("POST", ["jobs", id, "_memory_status"]) => {
            match body.get("status").and_then(Value::as_str) {
                Some(status @ ("ok" | "soft_limit" | "hard_limit")) => {
                    c.set_memory_status(id, status);
                    ack()
                }
                _ => bad("\"status\" is one of ok, soft_limit, hard_limit"),
            }
        }
        ("POST", ["jobs", id, "_model_snapshot"]) => {
            c.set_model_snapshot_id(id, body.get("id").and_then(Value::as_str));
            ack()
        }
        ("POST", ["jobs", id, "_annotation"]) => {
            if body.get("user").and_then(Value::as_bool).unwrap_or(true) {
                c.add_user_annotation(id)
            } else {
                c.add_auto_annotation(id)
            }
            ack()
        }
        ("GET", ["jobs", id, "resets_started"]) => (200, json!({"count": c.resets_started(id)})),
        ("POST", ["reset_duration"]) => match ms(&body) {
            Some(d) => {
                c.set_reset_duration(body.get("job").and_then(Value::as_str), d);
                ack()
            }
            None => bad("missing \"ms\""),
        },
        ("POST", ["open_duration"]) => match ms(&body) {
            Some(d) => {
                c.set_open_duration(d);
                ack()
            }
            None => bad("missing \"ms\""),
        },
        ("POST", ["start_duration"]) => match ms(&body) {
            Some(d) => {
                c.set_start_duration(d);
                ack()
            }
            None => bad("missing \"ms\""),
        },
        ("GET", ["jobs", id, "messages"]) => (200, json!({"messages": c.job_messages(id)})),
        ("POST", ["close_duration"]) => match ms(&body) {
            Some(d) => {
                c.set_close_duration(d);
                ack()
            }
            None => bad("missing \"ms\""),
        },
        ("POST", ["latency"]) => match (endpoint_of(&body), ms(&body)) {
            (Ok(ep), Some(d)) => {
                c.set_latency(ep, d);
                ack()
            }
            (Err(e), _) => e,
            (_, None) => bad("missing \"ms\""),
        },
        ("POST", ["fail_next"]) => match endpoint_of(&body) {
            Ok(ep) => {
                let n = body.get("n").and_then(Value::as_u64).unwrap_or(1) as u32;
                let status = body.get("status").and_then(Value::as_u64).unwrap_or(500) as u16;
                let b = body.get("body").cloned().unwrap_or(json!({}));
                c.fail_next(ep, n, status, b);
                ack()
            }
            Err(e) => e,
        },
        ("POST", ["drop_next" | "hang_next"]) => match endpoint_of(&body) {
            Ok(ep) => {
                let n = body.get("n").and_then(Value::as_u64).unwrap_or(1) as u32;
                if s[0] == "drop_next" {
                    c.drop_next(ep, n)
                } else {
                    c.hang_next(ep, n)
                }
                ack()
            }
            Err(e) => e,
        },
        ("POST", ["clear_faults"]) => {
            c.clear_faults();
            ack()
        }
        ("POST", ["restart_node"]) => {
            c.restart_node(
                body.get("lose_results")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            );
            ack()
        }
        ("POST", ["master"]) => {
            c.set_master_available(
                body.get("available")
                    .and_then(Value::as_bool)
                    .unwrap_or(true),
            );
            ack()
        }
        ("POST", ["maintenance"]) => (200, json!({"reset_jobs": c.run_maintenance()})),
        ("POST", ["upgrade_mode"]) => {
            c.set_upgrade_mode(body.get("enabled").and_then(Value::as_bool).unwrap_or(true));
            ack()
        }
        ("GET", ["requests"]) => {
            let reqs: Vec<Value> = c
                .requests()
                .iter()
                .map(|r| {
                    json!({
                        "method": r.method, "path": r.path, "query": r.query, "status": r.status,
                        "endpoint": r.endpoint.as_str(), "opaque_id": r.opaque_id,
                        "time_ms": r.time.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
                    })
                })
                .collect();
            (200, json!({"requests": reqs}))
        }
        ("GET", ["counts"]) => {
            let mut m = serde_json::Map::new();
            for ep in Endpoint::ALL {
                m.insert(ep.as_str().into(), json!(c.count(ep)));
            }
            (200, Value::Object(m))
        }
        ("GET", ["node"]) => (
            200,
            json!({"node_id": c.node_id(), "running_tasks": c.running_tasks(),
            "time_ms": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)}),
        ),
        _ => (
            404,
            string_error(
                404,
                &format!("unknown control route [{m} /_sim/{}]", s.join("/")),
            ),
        ),
    }
}
