//! What the controller keeps per JobReset between reconciles: its background long-poll, its
//! Elasticsearch client (credentials inside), its count of Kubernetes-side failures. Keyed
//! by the object's uid, so a JobReset deleted and re-created under the same name starts
//! afresh, and dropped when the run ends or the object is deleted. No I/O.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
};

use kube::{ResourceExt, runtime::reflector::ObjectRef};

use crate::{api::JobReset, clients::Clients, follow::Followers};

/// One JobReset object: its uid (what identifies it) and where it lives (to wake it).
#[derive(Clone, Debug)]
pub struct RunKey {
    pub uid: String,
    pub obj: ObjectRef<JobReset>,
}

impl RunKey {
    pub fn of(o: &JobReset) -> RunKey {
        RunKey {
            uid: o.uid().unwrap_or_default(),
            obj: ObjectRef::from_obj(o),
        }
    }
}

impl PartialEq for RunKey {
    fn eq(&self, other: &Self) -> bool {
        self.uid == other.uid
    }
}

impl Eq for RunKey {}

impl Hash for RunKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.uid.hash(state);
    }
}

pub struct Memory {
    pub followers: Arc<Followers>,
    pub clients: Clients,
    failures: Mutex<HashMap<RunKey, u32>>,
}

impl Memory {
    pub fn new(followers: Arc<Followers>) -> Memory {
        Memory {
            followers,
            clients: Clients::default(),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Drops everything kept for a run that ended or an object that is gone.
    pub fn forget(&self, key: &RunKey) {
        self.followers.forget(key);
        self.clients.forget(key);
        self.succeeded(key);
    }

    /// One more consecutive Kubernetes-side failure; returns the count.
    pub fn failed(&self, key: &RunKey) -> u32 {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let n = f.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// A reconcile went through: the failure count starts again.
    pub fn succeeded(&self, key: &RunKey) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Runs something is kept for (for tests of the forgetting).
    pub fn kept(&self) -> usize {
        let failures = self.failures.lock().map(|f| f.len()).unwrap_or(0);
        self.followers.kept() + self.clients.kept() + failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_by_uid_not_by_name() {
        let key = |uid: &str| RunKey {
            uid: uid.into(),
            obj: ObjectRef::new("same-name").within("ns"),
        };
        assert_ne!(
            key("uid-1"),
            key("uid-2"),
            "a re-created object is another run"
        );
        assert_eq!(key("uid-1"), key("uid-1"));
    }
}
