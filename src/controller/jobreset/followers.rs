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
    /// The `task_follows` metric: entries in `slots`.
    gauge: Gauge,
    /// The number of the next call.
    calls: AtomicU64,
}

impl Followers {
    pub fn new(max_calls: usize, wake: UnboundedSender<RunKey>, gauge: Gauge) -> Arc<Followers> {
        Arc::new(Followers {
            slots: Mutex::new(HashMap::new()),
            wake,
            limit: Semaphore::new(max_calls.max(1)),
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
        // The map stays consistent even if a holder panicked: every change is one insert or
        // remove.
        self.slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
            let _permit = this.limit.acquire().await.ok();
            let answer = call.make(&es).await;
            {
                let mut slots = this.slots();
                let still_wanted = matches!(slots.get(&key), Some(Slot::Calling(_, m)) if *m == n);
                if !still_wanted {
                    return;
                }
                slots.insert(key.clone(), Slot::Answered(call, answer));
            }
            let _ = this.wake.unbounded_send(key);
        });
    }
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
mod tests {
    use futures::StreamExt;
    use kube::runtime::reflector::ObjectRef;

    use super::*;
    use crate::es::{EsConfig, TaskPoll};

    /// Waits until `free` permits are free (the calls holding the others ended), or fails
    /// after a deadline.
    async fn until_idle(followers: &Followers, free: u32) {
        let all_free = followers.limit.acquire_many(free);
        let got = tokio::time::timeout(Duration::from_secs(30), all_free).await;
        assert!(matches!(got, Ok(Ok(_))), "the calls did not end");
    }

    /// A long-poll started afresh for the same task id (as after a new reset request: task
    /// numbers are reused after a node restart) is the only one whose answer is kept.
    #[tokio::test]
    async fn only_the_latest_call_is_answered() {
        let sim = es_ml_sim::start(es_ml_sim::SimConfig::default())
            .await
            .unwrap_or_else(|e| panic!("simulator: {e}"));
        let ctl = sim.control();
        let seed = es_ml_sim::Seed {
            jobs: vec![es_ml_sim::config::SeedJob {
                job_id: "j".into(),
                config: None,
                state: Some("closed".into()),
                model_snapshot_id: None,
                processed_record_count: None,
                user_annotations: 0,
                auto_annotations: 0,
            }],
            datafeeds: vec![],
        };
        ctl.apply_seed(&seed)
            .unwrap_or_else(|e| panic!("seed: {e}"));
        ctl.set_reset_duration(Some("j"), Duration::from_secs(3600));
        let es = EsClient::new(EsConfig {
            url: sim.url(),
            auth: None,
            ca_pem: None,
            insecure_skip_verify: false,
            opaque_id: None,
            request_timeout: Duration::from_secs(30),
        })
        .unwrap_or_else(|e| panic!("client: {e}"));
        let task = es
            .reset_job("j", false, 1)
            .await
            .unwrap_or_else(|e| panic!("reset: {e}"));

        let (wake, mut woken) = futures::channel::mpsc::unbounded();
        let followers = Followers::new(4, wake, Gauge::default());
        let key = RunKey {
            uid: "uid-1".into(),
            obj: ObjectRef::new("r").within("ns"),
        };
        let follow = |wait: Duration| Call::Follow {
            task_id: task.clone(),
            wait,
        };
        // The earlier call times out (still running) while the later one waits on.
        assert!(
            followers
                .take_or_start(&key, &es, follow(Duration::from_secs(1)))
                .is_none()
        );
        followers.start(&key, &es, follow(Duration::from_secs(60)));
        let ctl_done = ctl.clone();
        let timed_out = ctl
            .wait_for(
                move |_| {
                    ctl_done
                        .requests()
                        .iter()
                        .any(|r| r.endpoint == es_ml_sim::Endpoint::TaskGet && r.status >= 400)
                },
                Duration::from_secs(30),
            )
            .await;
        assert!(timed_out, "the earlier long-poll timed out");
        until_idle(&followers, 3).await;
        assert!(
            !followers.answered(&key),
            "the earlier call's answer is not kept"
        );

        ctl.finish_reset("j");
        until_idle(&followers, 4).await;
        assert!(followers.answered(&key), "the latest call's answer is kept");
        let answer = followers.take_or_start(&key, &es, follow(Duration::from_secs(60)));
        assert!(
            matches!(answer, Some(Answer::Task(Ok(TaskPoll::Completed { .. })))),
            "{answer:?}"
        );
        drop(followers);
        let wakes: Vec<RunKey> = woken.by_ref().collect().await;
        assert_eq!(wakes.len(), 1, "one wake, for the latest call");
    }
}
