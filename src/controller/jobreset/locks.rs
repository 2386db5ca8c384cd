//! One lock per JobReset name, so that the controller's queue and the finishing lane
//! (`finish`) never reconcile the same object at the same time. kube serialises its own
//! reconciles of an object, not reconciles started beside it. By name, not uid: a reconcile
//! reads the object fresh (or goes on from its own last write to the same uid), and a
//! JobReset re-created under the same name is what both would read. An entry lives only
//! while its lock is held or awaited. No I/O.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use kube::runtime::reflector::ObjectRef;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::api::JobReset;

type Name = (Option<String>, String);

/// The locks of the objects being reconciled.
#[derive(Default)]
pub struct ObjectLocks {
    held: Mutex<HashMap<Name, Arc<AsyncMutex<()>>>>,
}

/// The lock of one object, held until dropped.
pub struct Held<'a> {
    locks: &'a ObjectLocks,
    name: Name,
    /// Ours; let go of under the map's lock only (see `drop`).
    mutex: Option<Arc<AsyncMutex<()>>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl ObjectLocks {
    /// Waits until no one else holds the object's lock, and holds it.
    pub async fn lock(&self, obj: &ObjectRef<JobReset>) -> Held<'_> {
        let name = (obj.namespace.clone(), obj.name.clone());
        let mutex = Arc::clone(self.map().entry(name.clone()).or_default());
        // Built before the wait, so that a wait given up on still removes the entry.
        let mut held = Held {
            locks: self,
            name,
            mutex: Some(Arc::clone(&mutex)),
            guard: None,
        };
        held.guard = Some(mutex.lock_owned().await);
        held
    }

    /// Objects whose lock is held or awaited.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn map(&self) -> MutexGuard<'_, HashMap<Name, Arc<AsyncMutex<()>>>> {
        // Every change is one insert or remove: a poisoned map is still consistent.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Every other reference belongs to a holder or waiter whose own drop comes after:
        // whoever lets go of the last one under the map's lock sees only the map's left.
        drop(self.guard.take());
        let mut map = self.locks.map();
        drop(self.mutex.take());
        if map
            .get(&self.name)
            .is_some_and(|m| Arc::strong_count(m) == 1)
        {
            map.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn obj(name: &str) -> ObjectRef<JobReset> {
        ObjectRef::new(name).within("ns")
    }

    #[tokio::test]
    async fn one_holder_per_object_and_nothing_kept_after() {
        let locks = ObjectLocks::default();
        let name = obj("a");
        let a = locks.lock(&name).await;
        // Another object is not held up.
        let b = locks.lock(&obj("b")).await;
        assert_eq!(locks.len(), 2);
        drop(b);
        {
            let second = locks.lock(&name);
            tokio::pin!(second);
            assert!(
                futures::poll!(second.as_mut()).is_pending(),
                "a second holder waits"
            );
            drop(a);
            let again = tokio::time::timeout(Duration::from_secs(10), second).await;
            assert!(
                again.is_ok(),
                "the waiter gets the lock once it is released"
            );
        }
        assert!(locks.is_empty(), "no entry outlives its holders");
    }

    #[tokio::test]
    async fn a_wait_given_up_on_leaves_nothing_behind() {
        let locks = ObjectLocks::default();
        let name = obj("a");
        // Given up on while the lock is held; and once released and woken, before it ran.
        for released_first in [false, true] {
            let a = locks.lock(&name).await;
            let still_held = {
                let waiting = locks.lock(&name);
                tokio::pin!(waiting);
                assert!(futures::poll!(waiting.as_mut()).is_pending());
                // The waiter goes at the end of this block, after or before the release.
                (!released_first).then_some(a)
            };
            drop(still_held);
            assert!(locks.is_empty(), "released first: {released_first}");
        }
    }
}
