//! Reset work: the REST-side and master-side tasks, their timers, the end of the work, and
//! maintenance's internal resets. Spawns tokio tasks; no network I/O.

use super::*;

impl Shared {
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

    pub(super) async fn reset_work(
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
    pub(super) async fn run_reset_timer(
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

    pub(super) fn end_master_reset(
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
}
