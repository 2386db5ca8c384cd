//! What tests read back: the request log, counts of resets, running tasks; waiting on a
//! condition; applying a seed. Touches shared state only.

use super::*;

impl Control {
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
