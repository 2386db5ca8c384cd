//! One start at a time per job and cluster: from before a waiting run's fresh read and
//! queue check (`queue::blocker`) to the end of that reconcile (by then its first status
//! write past Pending, if any, is in), no other run of the same target is reconciled from
//! Pending. The queue check reads the other runs fresh, but two runs checking at the same
//! moment would each see the other still Pending: a run that waited for its Secret, mended
//! just as a later one passed its check (the stuck run held nobody up), or one the cache did
//! not show yet, would start beside it. Only the leader reconciles, so this in-memory turn
//! is enough. A run that finds the turn taken is woken when it is given back; it holds no
//! reconcile slot meanwhile. No I/O.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::ObjectRef;

use super::connect;
use crate::api::JobReset;

/// A job on a cluster: the cluster's identity (`connect::cluster_identity`) and the job id.
pub type Target = (String, String);

/// The target of a run that touches a job (fan-out parents and dry runs touch none).
pub fn target_of(obj: &JobReset, namespace: &str, eck_url_template: &str) -> Option<Target> {
    let touches = obj.spec.jobs.is_none() && !obj.spec.dry_run;
    touches.then(|| {
        (
            connect::cluster_identity(&obj.spec.elasticsearch, namespace, eck_url_template),
            obj.spec.job_id.clone(),
        )
    })
}

/// The targets whose turn is taken, each with the runs that asked for it meanwhile.
pub struct Starts {
    taken: Mutex<HashMap<Target, Vec<ObjectRef<JobReset>>>>,
    wake: UnboundedSender<ObjectRef<JobReset>>,
}

/// A target's turn, given back (and its waiters woken) when dropped.
pub struct Turn<'a> {
    starts: &'a Starts,
    target: Target,
}

impl Starts {
    pub fn new(wake: UnboundedSender<ObjectRef<JobReset>>) -> Self {
        Self {
            taken: Mutex::default(),
            wake,
        }
    }

    /// The target's turn for `me`, or `None` when another run has it (`me` is then woken
    /// once it is given back).
    pub fn take(&self, target: Target, me: ObjectRef<JobReset>) -> Option<Turn<'_>> {
        let mut taken = self.map();
        if let Some(waiters) = taken.get_mut(&target) {
            if !waiters.contains(&me) {
                waiters.push(me);
            }
            return None;
        }
        taken.insert(target.clone(), Vec::new());
        Some(Turn {
            starts: self,
            target,
        })
    }

    /// Targets whose turn is taken.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&self) -> MutexGuard<'_, HashMap<Target, Vec<ObjectRef<JobReset>>>> {
        // Every change is one insert, push or remove: a poisoned map is still consistent.
        self.taken.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Turn<'_> {
    pub fn target(&self) -> &Target {
        &self.target
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let waiters = self.starts.map().remove(&self.target).unwrap_or_default();
        for waiter in waiters {
            // Closed only when the controller stops: nobody is left to wake.
            let _ = self.starts.wake.unbounded_send(waiter);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn run(name: &str) -> ObjectRef<JobReset> {
        ObjectRef::new(name).within("ns")
    }

    fn target(job: &str) -> Target {
        ("https://es:9200".to_owned(), job.to_owned())
    }

    #[tokio::test]
    async fn one_turn_per_target_and_its_waiters_woken_once_when_given_back() {
        let (wake, mut woken) = futures::channel::mpsc::unbounded();
        let starts = Starts::new(wake);
        let first = starts.take(target("j"), run("a"));
        assert!(first.is_some());
        // Another job, or the same job on another cluster, is not held up.
        let other = starts.take(target("k"), run("c"));
        assert!(other.is_some());
        let elsewhere = starts.take(("https://other:9200".into(), "j".into()), run("d"));
        assert!(elsewhere.is_some());
        drop((other, elsewhere));
        // Asked twice while taken: woken once.
        assert!(starts.take(target("j"), run("b")).is_none());
        assert!(starts.take(target("j"), run("b")).is_none());
        assert_eq!(starts.len(), 1);
        drop(first);
        assert!(starts.is_empty(), "nothing is kept once the turn is back");
        drop(starts);
        let sent: Vec<_> = woken.by_ref().collect().await;
        assert_eq!(sent, vec![run("b")]);
    }

    #[test]
    fn a_turn_given_back_can_be_taken_again() {
        let (wake, _woken) = futures::channel::mpsc::unbounded();
        let starts = Starts::new(wake);
        drop(starts.take(target("j"), run("a")));
        assert!(starts.take(target("j"), run("b")).is_some());
    }
}
