//! The controller's background long calls (task long-polls and closes), one at most per
//! JobReset: a reconcile that would otherwise sit in one returns at once, so the controller's
//! concurrency bounds only short reconciles, slow closes stall nobody, a new JobReset starts
//! at once however many resets are running, and a finished reset is seen within
//! milliseconds. The answer is kept for the JobReset's next reconcile, which the finishing
//! lane (`finish`) runs as soon as the answer arrives, unless a reconcile under way took it.
//! Does I/O (the calls, in spawned tasks).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use futures::channel::mpsc::UnboundedSender;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Semaphore;

use super::memory::RunKey;
use crate::{
    es::EsClient,
    run::follow::{Answer, Call, Follow},
};

enum Slot {
    /// Numbered, so that only this call's answer is kept (an earlier call's, even of the same
    /// task id, is not).
    Calling(Call, u64),
    Answered(Call, Answer),
}

/// The controller's background calls, one at most per JobReset.
pub struct Followers {
    slots: Mutex<HashMap<RunKey, Slot>>,
    /// Names the JobReset whose answer arrived (for the finishing lane).
    wake: UnboundedSender<RunKey>,
    /// Caps the calls in flight (each holds one connection to Elasticsearch).
    limit: Semaphore,
    /// Caps the calls of each namespace within `limit`, so that no tenant's calls (closes
    /// its own server never answers, say) take every place; an entry lives while a call of
    /// its namespace does.
    namespaces: Mutex<HashMap<String, Arc<Semaphore>>>,
    per_namespace: usize,
    /// The `task_follows` metric: entries in `slots`.
    gauge: Gauge,
    /// The number of the next call.
    calls: AtomicU64,
}

impl Followers {
    pub fn new(
        max_calls: usize,
        per_namespace: usize,
        wake: UnboundedSender<RunKey>,
        gauge: Gauge,
    ) -> Arc<Followers> {
        let max_calls = max_calls.max(1);
        Arc::new(Followers {
            slots: Mutex::new(HashMap::new()),
            wake,
            limit: Semaphore::new(max_calls),
            namespaces: Mutex::default(),
            per_namespace: per_namespace.clamp(1, max_calls),
            gauge,
            calls: AtomicU64::new(0),
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

    /// Whether an answer for the JobReset waits to be taken.
    pub fn answered(&self, key: &RunKey) -> bool {
        matches!(self.slots().get(key), Some(Slot::Answered(..)))
    }

    fn count(&self, slots: &HashMap<RunKey, Slot>) {
        self.gauge
            .set(i64::try_from(slots.len()).unwrap_or(i64::MAX));
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<RunKey, Slot>> {
        lock(&self.slots)
    }

    #[cfg(test)]
    fn namespaces_held(&self) -> usize {
        lock(&self.namespaces).len()
    }

    /// Takes a ready answer to `call`, or starts the call unless it runs already.
    fn take_or_start(self: &Arc<Self>, key: &RunKey, es: &EsClient, call: Call) -> Option<Answer> {
        let mut slots = self.slots();
        match slots.remove(key) {
            Some(Slot::Answered(c, answer)) if c.same(&call) => {
                self.count(&slots);
                return Some(answer);
            }
            Some(Slot::Calling(c, n)) if c.same(&call) => {
                slots.insert(key.clone(), Slot::Calling(c, n));
                return None;
            }
            // Nothing yet, or a leftover of a call this run no longer makes.
            _ => {}
        }
        self.spawn(slots, key, es, call);
        None
    }

    /// Starts `call` afresh: whatever was kept for the run is from before (a task id can name
    /// another task after a node restart).
    fn start(self: &Arc<Self>, key: &RunKey, es: &EsClient, call: Call) {
        self.spawn(self.slots(), key, es, call);
    }

    fn spawn(
        self: &Arc<Self>,
        mut slots: MutexGuard<'_, HashMap<RunKey, Slot>>,
        key: &RunKey,
        es: &EsClient,
        call: Call,
    ) {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        slots.insert(key.clone(), Slot::Calling(call.clone(), n));
        self.count(&slots);
        drop(slots);
        let this = Arc::clone(self);
        let key = key.clone();
        let es = es.clone();
        tokio::spawn(async move {
            // Never closed; if it were, calling unthrottled would still be correct.
            // Held until the answer is kept or dropped (tests wait for that by the permits).
            let _turn = NamespaceTurn::take(&this, &key).await;
            let _permit = this.limit.acquire().await.ok();
            let wanted = |slots: &HashMap<RunKey, Slot>| matches!(slots.get(&key), Some(Slot::Calling(_, m)) if *m == n);
            // Replaced or forgotten while it waited for its turn: it takes no place.
            if !wanted(&this.slots()) {
                return;
            }
            let answer = call.make(&es).await;
            {
                let mut slots = this.slots();
                if !wanted(&slots) {
                    return;
                }
                slots.insert(key.clone(), Slot::Answered(call, answer));
            }
            let _ = this.wake.unbounded_send(key);
        });
    }
}

/// A place among the calls of one namespace; the namespace's entry goes with its last call
/// (or its last waiter, when the wait is given up).
struct NamespaceTurn {
    followers: Arc<Followers>,
    namespace: String,
    gate: Option<Arc<Semaphore>>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl NamespaceTurn {
    async fn take(followers: &Arc<Followers>, key: &RunKey) -> NamespaceTurn {
        let namespace = key.obj.namespace.clone().unwrap_or_default();
        let gate = {
            let mut gates = lock(&followers.namespaces);
            let gate = gates
                .entry(namespace.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(followers.per_namespace)));
            Arc::clone(gate)
        };
        // Built before the wait, so that a wait given up on lets go of the entry too.
        let mut turn = NamespaceTurn {
            followers: Arc::clone(followers),
            namespace,
            gate: Some(Arc::clone(&gate)),
            permit: None,
        };
        turn.permit = gate.acquire_owned().await.ok();
        turn
    }
}

impl Drop for NamespaceTurn {
    fn drop(&mut self) {
        // Every other reference belongs to a call that runs or waits, whose own drop comes
        // after: whoever lets go of the last one under the map's lock sees only the map's.
        drop(self.permit.take());
        let mut gates = lock(&self.followers.namespaces);
        drop(self.gate.take());
        if gates
            .get(&self.namespace)
            .is_some_and(|g| Arc::strong_count(g) == 1)
        {
            gates.remove(&self.namespace);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change is one insert or remove: consistent even if a holder panicked.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `Follow` for one JobReset of the controller.
pub struct Background {
    followers: Arc<Followers>,
    key: RunKey,
}

impl Follow<EsClient> for Background {
    async fn answer(&self, es: &EsClient, call: Call) -> Option<Answer> {
        self.followers.take_or_start(&self.key, es, call)
    }

    fn prefetch_task(&self, es: &EsClient, task_id: &str, wait: Duration) {
        let call = Call::Follow {
            task_id: task_id.to_owned(),
            wait,
        };
        self.followers.start(&self.key, es, call);
    }
}

#[cfg(test)]
#[path = "followers_tests.rs"]
mod tests;
