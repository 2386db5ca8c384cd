//! Closing and opening jobs, waiting for a state change, and datafeeds' ingest ticks. Spawns
//! tokio tasks; no network I/O.

use super::*;

impl Shared {
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
