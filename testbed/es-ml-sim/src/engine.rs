//! The running simulator's shared core: state behind a lock, change notifications, timers for
//! reset work, closing and datafeeds, task waiting, the request log. No network I/O (that is
//! `http`); it spawns tokio tasks and uses tokio timers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::Security;
use crate::endpoint::Endpoint;
use crate::errors::EsError;
use crate::faults::Faults;
use crate::state::{DatafeedState, JobState, NewTask, Now, Outcome, ResetCheck, Signal, State};
use crate::versions::Version;

/// Interval between datafeed ingest batches.
pub const DATAFEED_TICK: Duration = Duration::from_millis(100);
/// Request log entries kept (counters stay exact beyond it).
pub const LOG_CAPACITY: usize = 100_000;

/// One request as seen by the simulator.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub endpoint: Endpoint,
    pub opaque_id: Option<String>,
    pub time: SystemTime,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    pub entries: VecDeque<LoggedRequest>,
    pub counts: HashMap<Endpoint, u64>,
}

#[derive(Debug, Clone)]
pub struct Durations {
    pub reset: Duration,
    pub reset_per_job: HashMap<String, Duration>,
    /// How long a graceful close takes (0: at once).
    pub close: Duration,
    /// How long a job stays `opening` after `_open` (0: opened at once).
    pub open: Duration,
    /// How long a datafeed stays `starting` after `_start` (0: started at once).
    pub start: Duration,
}

pub struct Shared {
    pub state: Mutex<State>,
    pub changes: watch::Sender<u64>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<RequestLog>,
    pub durations: Mutex<Durations>,
    pub rt: tokio::runtime::Handle,
    pub base: Instant,
    pub version: Version,
    pub security: Option<Security>,
    pub enable_control: bool,
    pub cluster_uuid: String,
}

/// A poisoned lock means a panic elsewhere; the data is still usable for a simulator.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Result of waiting for a task.
pub enum TaskWait {
    Body(Value),
    Error(EsError),
    /// The node went away under the request: close the connection.
    Drop,
}

/// Options of one reset request.
#[derive(Debug, Clone)]
pub struct ResetOptions {
    pub job_id: String,
    pub delete_user_annotations: bool,
    pub timeout: Duration,
    pub headers: BTreeMap<String, String>,
    /// A missing privilege: the task fails with it (async reset, reference 4.2).
    pub denied: Option<EsError>,
    pub store_result: bool,
    /// How long to wait for an elected master.
    pub master_timeout: Duration,
}

impl Shared {
    pub fn now(&self) -> Now {
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Now {
            wall_ms,
            mono_ns: self.base.elapsed().as_nanos() as u64,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Wake everything waiting for a change (`Control::wait_for`, close waits).
    pub fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Count a request when it arrives (so tests can wait for in-flight ones).
    pub fn arrived(&self, ep: Endpoint) {
        *lock(&self.log).counts.entry(ep).or_insert(0) += 1;
        self.bump();
    }

    /// Log a request when it is answered (status 0: dropped or hung).
    pub fn record(&self, r: LoggedRequest) {
        {
            let mut log = lock(&self.log);
            if log.entries.len() >= LOG_CAPACITY {
                log.entries.pop_front();
            }
            log.entries.push_back(r);
        }
        self.bump();
    }

    pub fn reset_duration(&self, job: &str) -> Duration {
        let d = lock(&self.durations);
        d.reset_per_job.get(job).copied().unwrap_or(d.reset)
    }

    // --------------------------------------------------------------- reset

    /// Register the REST-side reset task and start the work. Returns the task number and a
    /// handle yielding the outcome (`None` if the node restarted under it).
    pub fn start_reset(
        self: &Arc<Self>,
        opts: ResetOptions,
    ) -> (String, tokio::task::JoinHandle<Option<Outcome>>) {
        let now = self.now();
        let (n, id, epoch, signal) = {
            let mut st = self.state();
            let n = st.register_task(
                NewTask {
                    headers: opts.headers.clone(),
                    ..NewTask::reset(&opts.job_id, None, opts.store_result)
                },
                now,
            );
            let signal = st.running.get(&n).map(|t| t.signal.subscribe());
            (n, st.task_id(n), st.epoch, signal)
        };
        self.bump();
        let me = self.clone();
        let coord_id = id.clone();
        let handle = self.rt.spawn(async move {
            let signal = signal?;
            let outcome = me.reset_work(&opts, &coord_id, epoch, signal).await;
            let now = me.now();
            let mut st = me.state();
            if st.epoch != epoch {
                return None;
            }
            if let Some(o) = &outcome {
                st.finish_task(n, Some(o), now);
            }
            drop(st);
            me.bump();
            outcome
        });
        (id, handle)
    }

    async fn reset_work(
        &self,
        opts: &ResetOptions,
        coord_id: &str,
        epoch: u64,
        mut signal: watch::Receiver<Signal>,
    ) -> Option<Outcome> {
        if let Some(e) = &opts.denied {
            return Some(Err(e.clone()));
        }
        if !self.state().master_available {
            // A master-node action retries until `master_timeout`, then gives up.
            let master_back =
                self.wait_change(|sh| sh.state().master_available, opts.master_timeout);
            tokio::select! {
                back = master_back => if !back { return Some(Err(EsError::master_not_discovered())); },
                r = signal.changed() => {
                    let s = if r.is_ok() { *signal.borrow() } else { Signal::Kill };
                    return match s {
                        Signal::Kill => None,
                        _ => Some(Ok(json!({"acknowledged": false}))),
                    };
                }
            }
        }
        let check = self.state().reset_check(&opts.job_id);
        match check {
            Err(e) => return Some(Err(e)),
            Ok(ResetCheck::Proceed) => {}
            Ok(ResetCheck::WaitFor(task)) => {
                let task = task.unwrap_or_default();
                match self.wait_internal(&task, opts.timeout, &mut signal).await {
                    Waited::Killed => return None,
                    Waited::Cancelled => return Some(Ok(json!({"acknowledged": false}))),
                    Waited::TimedOut => {
                        return Some(Err(EsError::timeout(
                            self.version.task_wait_timeout_reason(&task),
                            self.version.timeout_status(),
                        )));
                    }
                    Waited::NotFound if !self.version.retries_lost_reset() => {
                        return Some(Err(EsError::task_not_stored(&task)));
                    }
                    Waited::NotFound => {}
                    Waited::Completed => {
                        let st = self.state();
                        let Some(job) = st.jobs.get(&opts.job_id) else {
                            return Some(Err(EsError::missing_job(&opts.job_id)));
                        };
                        match job.blocked() {
                            None => return Some(Ok(json!({"acknowledged": true}))),
                            Some(b) if b.reason == "reset" => {}
                            Some(b) => {
                                return Some(Err(EsError::conflict(format!(
                                    "cannot reset job while it is blocked with [{}]",
                                    b.reason
                                ))));
                            }
                        }
                    }
                }
            }
        }
        // Step 6: block the job under a master-side child task, then check the state again.
        let now = self.now();
        let (m, master_signal) = {
            let mut st = self.state();
            if st.epoch != epoch {
                return None;
            }
            match st.jobs.get(&opts.job_id).map(|j| j.state) {
                None => return Some(Err(EsError::missing_job(&opts.job_id))),
                Some(JobState::Closed) => {}
                Some(_) => {
                    return Some(Err(EsError::conflict(
                        "Can only reset a job when it is closed.",
                    )));
                }
            }
            let m = match st.begin_reset(&opts.job_id, Some(coord_id.to_string()), now) {
                Ok(m) => m,
                Err(e) => return Some(Err(e)),
            };
            let sig = st.running.get(&m).map(|t| t.signal.subscribe());
            (m, sig)
        };
        self.bump();
        let master_signal = master_signal?;
        let ended = self
            .run_reset_timer(&opts.job_id, master_signal, Some(signal))
            .await;
        self.end_master_reset(&opts.job_id, m, epoch, ended, opts.delete_user_annotations)
    }

    /// Sleep the reset duration unless cancelled or killed.
    async fn run_reset_timer(
        &self,
        job: &str,
        mut master: watch::Receiver<Signal>,
        coord: Option<watch::Receiver<Signal>>,
    ) -> Signal {
        let d = self.reset_duration(job);
        let sleep = tokio::time::sleep(d);
        tokio::pin!(sleep);
        let mut coord = coord;
        loop {
            let coord_changed = async {
                match coord.as_mut() {
                    Some(c) => c.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = &mut sleep => return Signal::None,
                r = master.changed() => {
                    if r.is_err() { return Signal::Kill; }
                    match *master.borrow() {
                        Signal::None => {}
                        Signal::Finish => return Signal::None,
                        s => return s,
                    }
                }
                ok = coord_changed => {
                    if !ok { return Signal::Kill; }
                    match coord.as_ref().map(|c| *c.borrow()).unwrap_or(Signal::None) {
                        Signal::None => {}
                        Signal::Finish => return Signal::None,
                        s => return s,
                    }
                }
            }
        }
    }

    fn end_master_reset(
        &self,
        job: &str,
        m: u64,
        epoch: u64,
        ended: Signal,
        dua: bool,
    ) -> Option<Outcome> {
        let now = self.now();
        let outcome = {
            let mut st = self.state();
            if st.epoch != epoch || ended == Signal::Kill {
                return None;
            }
            let master_id = st.task_id(m);
            let outcome = if ended == Signal::Cancel {
                Ok(json!({"acknowledged": false}))
            } else {
                let ours = st.jobs.get(job).and_then(|j| j.blocked()).is_some_and(|b| {
                    b.reason == "reset" && b.task_id.as_deref() == Some(master_id.as_str())
                });
                if ours {
                    st.apply_reset(job, dua);
                    Ok(json!({"acknowledged": true}))
                } else {
                    // Deleted or re-blocked meanwhile: the work was abandoned.
                    Ok(json!({"acknowledged": false}))
                }
            };
            st.finish_task(m, None, now);
            outcome
        };
        self.bump();
        Some(outcome)
    }

    /// A reset started by ML itself (job relocation without a snapshot): blocks the job on
    /// reset under a task no caller knows, and clears after the reset duration.
    pub fn internal_reset(self: &Arc<Self>, job: &str) {
        let now = self.now();
        let started = {
            let mut st = self.state();
            let epoch = st.epoch;
            st.begin_reset(job, None, now)
                .ok()
                .and_then(|m| st.running.get(&m).map(|t| (m, epoch, t.signal.subscribe())))
        };
        self.bump();
        let Some((m, epoch, sig)) = started else {
            return;
        };
        let me = self.clone();
        let job = job.to_string();
        self.rt.spawn(async move {
            let ended = me.run_reset_timer(&job, sig, None).await;
            me.end_master_reset(&job, m, epoch, ended, false);
        });
    }

    /// ML daily maintenance (8.13+): re-run reset for jobs blocked on `reset` whose reset task is
    /// not running. Returns the jobs it restarted. Does nothing before 8.13.
    pub fn run_maintenance(self: &Arc<Self>) -> Vec<String> {
        if !self.version.retries_lost_reset() {
            return Vec::new();
        }
        let stale: Vec<String> = {
            let st = self.state();
            st.jobs
                .resetting()
                .iter()
                .filter(|id| {
                    st.jobs.get(id).and_then(|j| j.blocked()).is_some_and(|b| {
                        !b.task_id
                            .as_deref()
                            .and_then(|t| st.local_number(t))
                            .is_some_and(|n| st.running.contains_key(&n))
                    })
                })
                .cloned()
                .collect()
        };
        for id in &stale {
            self.internal_reset(id);
        }
        stale
    }

    // --------------------------------------------------------------- tasks

    /// The internal get-task a second reset makes on `blocked.task_id`.
    async fn wait_internal(
        &self,
        task: &str,
        timeout: Duration,
        signal: &mut watch::Receiver<Signal>,
    ) -> Waited {
        let (mut done, epoch) = {
            let st = self.state();
            match st.local_number(task).and_then(|n| st.running.get(&n)) {
                Some(rt) => (rt.done.subscribe(), st.epoch),
                None if st.stored.contains_key(task) => return Waited::Completed,
                None => return Waited::NotFound,
            }
        };
        let wait = async {
            loop {
                tokio::select! {
                    r = done.wait_for(|d| *d) => { let _ = r; return Waited::Completed; }
                    r = signal.changed() => {
                        if r.is_err() { return Waited::Killed; }
                        match *signal.borrow() {
                            Signal::Cancel => return Waited::Cancelled,
                            Signal::Kill => return Waited::Killed,
                            Signal::None | Signal::Finish => {}
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Err(_) => Waited::TimedOut,
            Ok(Waited::Completed) if self.state().epoch != epoch => Waited::Killed,
            Ok(w) => w,
        }
    }

    /// `GET _tasks/<id>`.
    pub async fn get_task(&self, id: &str, wait: bool, timeout: Option<Duration>) -> TaskWait {
        let (node, n) = match parse_task_id(id) {
            Ok(x) => x,
            Err(e) => return TaskWait::Error(e),
        };
        let now = self.now();
        let (mut done, info, epoch) = {
            let st = self.state();
            let local = node == st.node_id;
            match st.running.get(&n).filter(|_| local) {
                Some(rt) if !wait => {
                    return TaskWait::Body(
                        json!({"completed": false, "task": st.task_info_json(&rt.info, now, false)}),
                    );
                }
                Some(rt) => (rt.done.subscribe(), rt.info.clone(), st.epoch),
                None => {
                    if let Some(doc) = st.stored.get(id) {
                        return TaskWait::Body(doc.clone());
                    }
                    if !local {
                        return TaskWait::Error(EsError::new(
                            404,
                            "resource_not_found_exception",
                            format!(
                                "task [{id}] belongs to the node [{node}] which isn't part of the cluster and there is no record of the task"
                            ),
                        ));
                    }
                    return TaskWait::Error(EsError::task_not_stored(id));
                }
            }
        };
        let t = timeout.unwrap_or(Duration::from_secs(30));
        match tokio::time::timeout(t, done.wait_for(|d| *d)).await {
            Err(_) => TaskWait::Error(EsError::timeout(
                self.version.task_wait_timeout_reason(id),
                self.version.timeout_status(),
            )),
            Ok(_) => {
                let st = self.state();
                if st.epoch != epoch {
                    return TaskWait::Drop;
                }
                if let Some(doc) = st.stored.get(id) {
                    return TaskWait::Body(doc.clone());
                }
                let now = self.now();
                TaskWait::Body(
                    json!({"completed": true, "task": st.task_info_json(&info, now, false)}),
                )
            }
        }
    }

    /// Node restart: running tasks vanish, the counter restarts at 1, stored results survive.
    /// Unless `lose_results`, running tasks that store results record a node-closed error.
    pub fn restart_node(&self, lose_results: bool) {
        let now = self.now();
        {
            let mut st = self.state();
            if !lose_results {
                let name = st.node_name.clone();
                let node = st.node_id.clone();
                let to_store: Vec<u64> = st
                    .running
                    .values()
                    .filter(|t| t.info.store_result)
                    .map(|t| t.info.number)
                    .collect();
                for n in to_store {
                    // Unconfirmed: the error a coordinating node records when the node running the
                    // work shuts down; `node_closed_exception` is the likeliest.
                    let err = EsError::new(
                        500,
                        "node_closed_exception",
                        format!("node closed {{{name}}}{{{node}}}"),
                    );
                    st.finish_task(n, Some(&Err(err)), now);
                }
            }
            st.restart();
            for df in st.datafeeds.values_mut() {
                df.state = DatafeedState::Stopped;
            }
        }
        self.bump();
    }

    // ----------------------------------------------------------- close/open

    pub async fn close_jobs(
        self: &Arc<Self>,
        expr: &str,
        force: bool,
        timeout: Duration,
        timeout_text: &str,
        allow_no_match: bool,
    ) -> Result<Value, EsError> {
        let now = self.now();
        let close_after = lock(&self.durations).close;
        let ids = {
            let mut st = self.state();
            if !st.master_available {
                // Inferred: close is routed to the master and fails when there is none.
                return Err(EsError::master_not_discovered());
            }
            let ids = st.expand_jobs(expr, allow_no_match)?;
            let failed: Vec<&String> = ids
                .iter()
                .filter(|id| st.jobs.get(id).is_some_and(|j| j.state == JobState::Failed))
                .collect();
            if !force && !failed.is_empty() {
                return Err(EsError::conflict(if failed.len() == 1 {
                    format!(
                        "cannot close job [{}] because it failed, use force close",
                        failed[0]
                    )
                } else {
                    "one or more jobs have state failed, use force close".to_string()
                }));
            }
            let mut started: Vec<(String, bool)> = ids
                .iter()
                .filter_map(|id| st.datafeeds.for_job(id))
                .filter(|d| d.state.is_running())
                .map(|d| (d.id.clone(), d.unstoppable))
                .collect();
            // In datafeed id order, as the messages list them.
            started.sort();
            let stuck: Vec<&String> = started
                .iter()
                .filter(|(_, u)| *u)
                .map(|(id, _)| id)
                .collect();
            if !stuck.is_empty() {
                let list = stuck
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(EsError::conflict(format!(
                    "failed to close jobs as one or more had started datafeeds that could not be stopped: started datafeeds [{list}], error stopping them [[{list}]: status_exception: Cannot stop datafeed [{list}]]"
                )));
            }
            for (df, _) in &started {
                if let Some(d) = st.datafeeds.get_mut(df) {
                    d.state = DatafeedState::Stopped;
                }
            }
            for id in &ids {
                let state = st.jobs.get(id).map(|j| j.state);
                match state {
                    Some(JobState::Closed) | None => {}
                    Some(_) if force || close_after.is_zero() => st.finish_close(id, now),
                    Some(JobState::Opened | JobState::Opening) => {
                        if let Some(j) = st.jobs.get_mut(id) {
                            j.state = JobState::Closing;
                        }
                        let me = self.clone();
                        let id = id.clone();
                        self.rt.spawn(async move {
                            tokio::time::sleep(close_after).await;
                            let now = me.now();
                            me.state().finish_close(&id, now);
                            me.bump();
                        });
                    }
                    Some(_) => {}
                }
            }
            ids
        };
        self.bump();
        let all_closed = |sh: &Shared| {
            let st = sh.state();
            ids.iter()
                .all(|id| st.jobs.get(id).is_none_or(|j| j.state == JobState::Closed))
        };
        if !self.wait_change(all_closed, timeout).await {
            return Err(EsError::new(
                500,
                "illegal_state_exception",
                format!("Timed out when waiting for persistent tasks after {timeout_text}"),
            ));
        }
        Ok(json!({"closed": true}))
    }

    /// Wait until `pred` holds, re-checking on every change notification.
    pub async fn wait_change(&self, pred: impl Fn(&Shared) -> bool, deadline: Duration) -> bool {
        let mut rx = self.changes.subscribe();
        let until = tokio::time::Instant::now() + deadline;
        loop {
            rx.borrow_and_update();
            if pred(self) {
                return true;
            }
            match tokio::time::timeout_at(until, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return pred(self),
            }
        }
    }

    // ------------------------------------------------------------ datafeeds

    /// Start a datafeed: one batch at once, then one per tick while it runs. With `end`, the
    /// lookback ends after the first batch: the datafeed stops and the job closes.
    pub fn start_datafeed(self: &Arc<Self>, id: &str, has_end: bool) -> Result<(), EsError> {
        let now = self.now();
        let run = {
            let mut st = self.state();
            let run = st.start_datafeed(id, false)?;
            st.ingest(id, now);
            if has_end {
                let job = st.datafeeds.get(id).map(|d| d.job_id().to_string());
                if let Some(d) = st.datafeeds.get_mut(id) {
                    d.state = DatafeedState::Stopped;
                }
                if let Some(job) = job {
                    st.finish_close(&job, now);
                }
            }
            run
        };
        self.bump();
        if has_end {
            return Ok(());
        }
        let me = self.clone();
        let id = id.to_string();
        self.rt.spawn(async move {
            let mut tick = tokio::time::interval(DATAFEED_TICK);
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = me.now();
                {
                    let mut st = me.state();
                    let live = st
                        .datafeeds
                        .get(&id)
                        .is_some_and(|d| d.run == run && d.state == DatafeedState::Started);
                    if !live || !st.ingest(&id, now) {
                        return;
                    }
                }
                me.bump();
            }
        });
        Ok(())
    }
}

enum Waited {
    Completed,
    NotFound,
    TimedOut,
    Cancelled,
    Killed,
}

/// `TaskId(String)`: `<node>:<number>`, else 400 "malformed task id <x>".
pub fn parse_task_id(id: &str) -> Result<(String, u64), EsError> {
    let malformed = || EsError::illegal_argument(format!("malformed task id {id}"));
    let parts: Vec<&str> = id.split(':').collect();
    if parts.len() != 2 || parts[0].is_empty() {
        return Err(malformed());
    }
    match parts[1].parse::<i64>() {
        Ok(n) if n >= 0 => Ok((parts[0].to_string(), n as u64)),
        Ok(_) => Err(malformed()),
        Err(_) => Err(malformed().with_cause(EsError::new(
            400,
            "number_format_exception",
            format!("For input string: \"{}\"", parts[1]),
        ))),
    }
}

/// A stable random-looking 22-character node id (16 random bytes, base64url).
pub fn random_node_id() -> String {
    use base64::Engine;
    use std::hash::{BuildHasher, Hasher};
    let mut bytes = Vec::with_capacity(16);
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        bytes.extend_from_slice(&h.finish().to_le_bytes());
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_parse() {
        assert_eq!(parse_task_id("abc:12").unwrap(), ("abc".to_string(), 12));
        let e = parse_task_id("abc").unwrap_err();
        assert_eq!(
            (e.status, e.reason.as_str()),
            (400, "malformed task id abc")
        );
        let e = parse_task_id("abc:x").unwrap_err();
        assert_eq!(e.caused_by.unwrap().kind, "number_format_exception");
        assert!(parse_task_id("a:1:2").is_err());
    }

    #[test]
    fn node_ids_are_22_chars() {
        let a = random_node_id();
        assert_eq!(a.len(), 22);
        assert_ne!(a, random_node_id());
    }
}
