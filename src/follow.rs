//! How a reset task's long-poll (`GET _tasks/<id>?wait_for_completion=true`) is run.
//!
//! The standalone command waits inline (`Inline`). The controller hands each long-poll to a
//! background task (`Followers`): a reconcile that would otherwise sit in the long-poll for
//! up to the poll timeout returns at once, so the controller's concurrency bounds only short
//! reconciles, a new JobReset starts at once however many resets are running, and a finished
//! reset is seen within milliseconds. The answer is kept for the JobReset's next reconcile,
//! which is triggered as soon as the answer arrives; `decide` sees exactly the observation an
//! inline long-poll would have given it. Does I/O (the long-polls).

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::ObjectRef;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Semaphore;

use crate::{
    api::JobReset,
    es::{EsClient, EsError, TaskPoll},
    memory::RunKey,
};

/// A long-poll answer: what `EsClient::wait_task` returned.
pub type Answer = Result<TaskPoll, EsError>;

/// Runs task long-polls for `steps::drive`.
pub trait Follow {
    /// The long-poll answer for `task_id`, or `None` when it is being awaited elsewhere and
    /// the caller should stop and wait to be woken.
    fn answer(
        &self,
        es: &EsClient,
        task_id: &str,
        wait: Duration,
    ) -> impl Future<Output = Option<Answer>> + Send;
}

/// Waits for the answer in place (the standalone command has nothing else to do).
pub struct Inline;

impl Follow for Inline {
    async fn answer(&self, es: &EsClient, task_id: &str, wait: Duration) -> Option<Answer> {
        Some(es.wait_task(task_id, wait).await)
    }
}

enum Slot {
    Polling { task_id: String },
    Answered { task_id: String, answer: Answer },
}

/// The controller's background long-polls, one at most per JobReset.
pub struct Followers {
    slots: Mutex<HashMap<RunKey, Slot>>,
    /// Triggers a reconcile of the JobReset whose answer arrived.
    wake: UnboundedSender<ObjectRef<JobReset>>,
    /// Caps the open long-polls (each holds one connection to Elasticsearch).
    limit: Semaphore,
    /// The `task_follows` metric: entries in `slots`.
    gauge: Gauge,
}

impl Followers {
    pub fn new(
        max_polls: usize,
        wake: UnboundedSender<ObjectRef<JobReset>>,
        gauge: Gauge,
    ) -> Arc<Followers> {
        Arc::new(Followers {
            slots: Mutex::new(HashMap::new()),
            wake,
            limit: Semaphore::new(max_polls.max(1)),
            gauge,
        })
    }

    /// The follower of one JobReset, for `steps::drive`.
    pub fn of(self: &Arc<Self>, key: RunKey) -> Background {
        Background {
            followers: Arc::clone(self),
            key,
        }
    }

    /// Drops what is kept for a JobReset that is gone or finished.
    pub fn forget(&self, key: &RunKey) {
        let mut slots = self.slots();
        slots.remove(key);
        self.count(&slots);
    }

    /// Runs with a long-poll in flight or an answer not taken yet.
    pub fn kept(&self) -> usize {
        self.slots().len()
    }

    fn count(&self, slots: &HashMap<RunKey, Slot>) {
        self.gauge
            .set(i64::try_from(slots.len()).unwrap_or(i64::MAX));
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<RunKey, Slot>> {
        // The map stays consistent even if a holder panicked: every change is one insert or
        // remove.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a ready answer for `task_id`, or starts a long-poll unless one runs already.
    fn take_or_start(
        self: &Arc<Self>,
        key: &RunKey,
        es: &EsClient,
        task_id: &str,
        wait: Duration,
    ) -> Option<Answer> {
        let mut slots = self.slots();
        match slots.remove(key) {
            Some(Slot::Answered { task_id: t, answer }) if t == task_id => {
                self.count(&slots);
                return Some(answer);
            }
            Some(Slot::Polling { task_id: t }) if t == task_id => {
                slots.insert(key.clone(), Slot::Polling { task_id: t });
                return None;
            }
            // Nothing yet, or a leftover for a task this run no longer follows.
            _ => {}
        }
        slots.insert(
            key.clone(),
            Slot::Polling {
                task_id: task_id.to_owned(),
            },
        );
        self.count(&slots);
        drop(slots);
        let this = Arc::clone(self);
        let key = key.clone();
        let es = es.clone();
        let task_id = task_id.to_owned();
        tokio::spawn(async move {
            // Never closed; if it were, polling unthrottled would still be correct.
            let permit = this.limit.acquire().await.ok();
            let answer = es.wait_task(&task_id, wait).await;
            drop(permit);
            {
                let mut slots = this.slots();
                let still_wanted = matches!(
                    slots.get(&key),
                    Some(Slot::Polling { task_id: t }) if *t == task_id
                );
                if !still_wanted {
                    return;
                }
                slots.insert(key.clone(), Slot::Answered { task_id, answer });
            }
            let _ = this.wake.unbounded_send(key.obj);
        });
        None
    }
}

/// `Follow` for one JobReset of the controller.
pub struct Background {
    followers: Arc<Followers>,
    key: RunKey,
}

impl Follow for Background {
    async fn answer(&self, es: &EsClient, task_id: &str, wait: Duration) -> Option<Answer> {
        self.followers.take_or_start(&self.key, es, task_id, wait)
    }
}
