//! What tests do to a simulator: set up jobs and datafeeds, set durations, inject faults, force
//! job states. Touches shared state only.

use super::*;

impl Control {
    pub(super) fn now(&self) -> crate::state::Now {
        self.shared.now()
    }

    pub(super) fn changed<T>(&self, r: T) -> T {
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
}
