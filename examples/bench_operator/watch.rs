//! Watches one namespace's JobResets from the bench's side and notes, for each, the moment
//! a watch first showed it terminal, and the lag from its Elasticsearch task's end (the
//! simulator runs in this process, so both instants are on one clock). Does I/O.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt;
use jobreset_operator::api::JobReset;
use kube::{
    Api,
    runtime::{WatchStreamExt, watcher},
};

/// What the watch saw of one JobReset.
#[derive(Clone, Debug)]
pub struct Seen {
    pub name: String,
    pub phase: String,
    /// Task end to terminal status seen, in milliseconds (none when the task did not end).
    pub lag_ms: Option<f64>,
}

pub struct Watch {
    seen: Arc<Mutex<HashMap<String, Seen>>>,
    count: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watch {
    /// Starts watching and returns once the watch has listed (nothing created after this
    /// call is missed).
    pub async fn start(api: Api<JobReset>, sim: es_ml_sim::Control) -> Watch {
        let seen: Arc<Mutex<HashMap<String, Seen>>> = Arc::default();
        let (tx, count) = tokio::sync::watch::channel(0usize);
        let (listed, is_listed) = tokio::sync::oneshot::channel();
        let into = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut listed = Some(listed);
            // Backed off: errors that come at once (the bench's runtime ending) must not spin.
            let mut events = watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(ev) = events.next().await {
                let o = match ev {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(l) = listed.take() {
                            let _ = l.send(());
                        }
                        continue;
                    }
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => o,
                    _ => continue,
                };
                let now = Instant::now();
                let Some(s) = o.status.as_ref().filter(|s| s.phase.is_terminal()) else {
                    continue;
                };
                let name = o.metadata.name.clone().unwrap_or_default();
                let mut seen = into.lock().unwrap_or_else(|e| e.into_inner());
                if seen.contains_key(&name) {
                    continue;
                }
                let lag_ms = sim
                    .last_reset_done(&o.spec.job_id)
                    .map(|done| now.saturating_duration_since(done).as_secs_f64() * 1000.0);
                seen.insert(
                    name.clone(),
                    Seen {
                        name,
                        phase: s.phase.as_str().to_owned(),
                        lag_ms,
                    },
                );
                let _ = tx.send(seen.len());
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(60), is_listed).await;
        Watch { seen, count, task }
    }

    /// Waits until `n` JobResets were seen terminal, or the deadline passes; returns how
    /// many were.
    pub async fn until(&mut self, n: usize, deadline: Duration) -> usize {
        let reached = self.count.wait_for(|c| *c >= n);
        let _ = tokio::time::timeout(deadline, reached).await;
        *self.count.borrow()
    }

    pub fn seen(&self) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.values().cloned().collect()
    }
}
