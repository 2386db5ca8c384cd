//! The task registry (running and stored tasks, a node restart) and reset's checks. No I/O.

use serde_json::json;

use super::*;

impl State {
    /// Register a running task; returns its number.
    pub fn register_task(&mut self, t: NewTask, now: Now) -> u64 {
        let NewTask {
            action,
            description,
            headers,
            parent,
            store_result,
            job_id,
        } = t;
        let n = self.next_task;
        self.next_task += 1;
        let (done, _) = watch::channel(false);
        let (signal, _) = watch::channel(Signal::None);
        self.running.insert(
            n,
            RunningTask {
                info: TaskInfo {
                    number: n,
                    action: action.to_string(),
                    description,
                    start_ms: now.wall_ms,
                    start_mono_ns: now.mono_ns,
                    cancellable: true,
                    cancelled: false,
                    headers,
                    parent,
                    store_result,
                    job_id,
                },
                done,
                signal,
            },
        );
        n
    }
}

impl State {
    /// Unregister a task; store its outcome when it asked to be stored and `store` allows.
    pub fn finish_task(&mut self, n: u64, outcome: Option<&Outcome>, now: Now) {
        let Some(rt) = self.running.remove(&n) else {
            return;
        };
        if rt.info.store_result
            && let Some(outcome) = outcome
        {
            let mut doc =
                json!({"completed": true, "task": self.task_info_json(&rt.info, now, true)});
            if let Some(o) = doc.as_object_mut() {
                match outcome {
                    Ok(v) => o.insert("response".into(), v.clone()),
                    Err(e) => o.insert("error".into(), e.inner()),
                };
            }
            let id = self.task_id(n);
            if self.stored.insert(id.clone(), doc).is_none() {
                self.stored_order.push_back(id);
            }
            while self.stored_order.len() > STORED_CAPACITY {
                if let Some(old) = self.stored_order.pop_front() {
                    self.stored.remove(&old);
                }
            }
        }
        let _ = rt.done.send(true);
    }

    /// Signal a task and its children to cancel. Returns the task's info (with `cancelled`).
    pub fn cancel_task(&mut self, n: u64) -> Option<TaskInfo> {
        let full = self.task_id(n);
        let rt = self.running.get_mut(&n)?;
        rt.info.cancelled = true;
        let _ = rt.signal.send(Signal::Cancel);
        let info = rt.info.clone();
        for child in self.running.values_mut() {
            if child.info.parent.as_deref() == Some(full.as_str()) {
                child.info.cancelled = true;
                let _ = child.signal.send(Signal::Cancel);
            }
        }
        Some(info)
    }

    /// Node restart: every running task vanishes, the counter starts again at 1.
    pub fn restart(&mut self) {
        for (_, rt) in self.running.drain() {
            let _ = rt.signal.send(Signal::Kill);
            let _ = rt.done.send(true);
        }
        self.next_task = 1;
        self.epoch += 1;
    }

    /// Reset steps 1-5: what to do before the work begins.
    pub fn reset_check(&self, job_id: &str) -> Result<ResetCheck, EsError> {
        if self.upgrade_mode {
            return Err(EsError::conflict(
                "cannot reset job while indices are being upgraded",
            ));
        }
        let Some(job) = self.jobs.get(job_id) else {
            return Err(EsError::missing_job(job_id));
        };
        // The raw persistent-task state: anything but closed (failed included) is refused.
        if job.state != JobState::Closed {
            return Err(EsError::conflict("Can only reset a job when it is closed."));
        }
        match job.blocked() {
            None => Ok(ResetCheck::Proceed),
            Some(b) if b.reason == "reset" => Ok(ResetCheck::WaitFor(b.task_id.clone())),
            Some(b) => Err(EsError::conflict(format!(
                "cannot reset job while it is blocked with [{}]",
                b.reason
            ))),
        }
    }

    /// Reset step 6: start the work under a master-side child task.
    pub fn begin_reset(
        &mut self,
        job_id: &str,
        parent: Option<String>,
        now: Now,
    ) -> Result<u64, EsError> {
        let m = self.register_task(NewTask::reset(job_id, parent, false), now);
        let task_id = self.task_id(m);
        let block = Blocked {
            reason: "reset".into(),
            task_id: Some(task_id),
        };
        if !self.jobs.set_blocked(job_id, Some(block)) {
            self.finish_task(m, None, now);
            return Err(EsError::missing_job(job_id));
        }
        *self.resets_started.entry(job_id.to_string()).or_insert(0) += 1;
        let running = self.jobs.resetting().len();
        self.resets_running_peak = self.resets_running_peak.max(running);
        Ok(m)
    }

    /// Look up a task id of this node; `None` when it is malformed or of another node.
    pub fn local_number(&self, task_id: &str) -> Option<u64> {
        let (node, n) = task_id.split_once(':')?;
        if node != self.node_id {
            return None;
        }
        n.parse().ok()
    }
}

/// What reset does after its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetCheck {
    Proceed,
    /// Another reset holds the block: wait for that (master-side) task.
    WaitFor(Option<String>),
}
