//! What the controller keeps per JobReset between reconciles: its background long-poll, its
//! Elasticsearch client (credentials inside), its count of Kubernetes-side failures, the
//! object as the API server last answered (a status write it accepted, a read; so a reconcile
//! can go on from the cache). Keyed by the object's uid, so a JobReset deleted and re-created
//! under the same name starts afresh, and dropped when the run ends or the object is deleted.
//! No I/O.

use std::{
    collections::HashMap,
    hash::{Hash, Hasher},
    sync::{Arc, Mutex},
};

use kube::{ResourceExt, runtime::reflector::ObjectRef};

use super::{clients::Clients, followers::Followers, secrets::SecretCache};
use crate::api::{JobReset, JobResetStatus, Phase};
use crate::k8s::events::Recorder;

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

/// Status writes remembered per run for telling echoes.
const WRITTEN_KEPT: usize = 8;

pub struct Memory {
    pub followers: Arc<Followers>,
    pub clients: Clients,
    /// The contents of the Secrets the runs read.
    pub secrets: SecretCache,
    /// Its memory of the Events sent about each run (for counting repeats).
    events: Arc<Recorder>,
    failures: Mutex<HashMap<RunKey, u32>>,
    /// Task ids Elasticsearch returned whose status write failed.
    unwritten: Mutex<HashMap<RunKey, String>>,
    /// The last reset request this process recorded as intended, and whether it went out.
    requests: Mutex<HashMap<RunKey, (u32, bool)>>,
    /// By uid: the statuses this process wrote (or is writing), while the run goes on.
    written: Mutex<HashMap<String, Vec<JobResetStatus>>>,
    /// By uid: the object as the API server last answered (a write or a read), while the run
    /// is past Pending.
    last: Mutex<HashMap<String, Known>>,
}

/// The object as the API server last answered this process (a status write it accepted, or
/// a read): the resourceVersion a write was conditional on (a read's own), the one answered,
/// and the status in the answer.
#[derive(Clone, Debug)]
struct Known {
    base: String,
    version: String,
    status: JobResetStatus,
}

impl Memory {
    pub fn new(followers: Arc<Followers>, events: Arc<Recorder>) -> Memory {
        Memory {
            followers,
            clients: Clients::default(),
            secrets: SecretCache::default(),
            events,
            failures: Mutex::new(HashMap::new()),
            unwritten: Mutex::new(HashMap::new()),
            requests: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Drops everything kept for a run that ended or an object that is gone.
    pub fn forget(&self, key: &RunKey) {
        self.followers.forget(key);
        self.clients.forget(key);
        self.secrets.forget(&key.uid);
        self.events.forget(&key.uid);
        self.succeeded(key);
        self.task_written(key);
        lock(&self.requests).remove(key);
        lock(&self.written).remove(&key.uid);
        lock(&self.last).remove(&key.uid);
    }

    /// The API server accepted a status write conditional on `base` and answered `written`.
    /// Kept only past Pending (a Pending run may write its `started` entry before its first
    /// status write) and until the run ends.
    pub fn wrote(&self, key: &RunKey, base: &str, written: &JobReset) {
        self.know(key, Some(base), written);
    }

    /// The API server answered a read with `read`: as good a place to go on from as a write's
    /// answer (the next status write is conditional on its version), so a run whose next step
    /// comes from a background call does not read the object once more. Kept as `wrote`.
    pub fn read(&self, key: &RunKey, read: &JobReset) {
        self.know(key, None, read);
    }

    /// `base`: the version a write was conditional on (none for a read).
    fn know(&self, key: &RunKey, base: Option<&str>, answered: &JobReset) {
        let mut last = lock(&self.last);
        match (
            &answered.status,
            answered.metadata.resource_version.as_ref(),
        ) {
            (Some(status), Some(version))
                if status.phase != Phase::Pending && !status.phase.is_terminal() =>
            {
                let known = Known {
                    base: base.unwrap_or(version).to_owned(),
                    version: version.clone(),
                    status: status.clone(),
                };
                last.insert(key.uid.clone(), known);
            }
            _ => {
                last.remove(&key.uid);
            }
        }
    }

    /// A status write failed: whether it landed is unknown.
    pub fn write_unknown(&self, key: &RunKey) {
        lock(&self.last).remove(&key.uid);
    }

    /// The object as the API server has it right after this process's last status write or
    /// read, if `cached` tells it exactly: `cached` is that answer's own version, or the
    /// version a write was conditional on (the write's watch event not in yet). Anything else
    /// (another writer came between, or nothing is known) asks for a fresh read. Deciding from
    /// it is as safe as a read made at the moment of that answer for a step that only reads
    /// or writes status: every status write is conditional on its version, so any change
    /// since fails it with 409.
    pub fn as_last_known(&self, cached: &Arc<JobReset>) -> Option<Arc<JobReset>> {
        let uid = cached.metadata.uid.as_deref()?;
        let last = lock(&self.last).get(uid).cloned()?;
        after_answer(cached, &last)
    }

    /// This process is about to write the run's status.
    pub fn writing(&self, key: &RunKey, status: &JobResetStatus) {
        let mut written = lock(&self.written);
        let statuses = written.entry(key.uid.clone()).or_default();
        // A run writes a handful; an echo older than these would wake a reconcile that reads
        // the object fresh anyway.
        if statuses.len() >= WRITTEN_KEPT {
            statuses.remove(0);
        }
        statuses.push(status.clone());
    }

    /// Whether this process wrote, or tried to write, a status past Pending for the run
    /// `o` (kept until the run ends): the cache may not show it yet.
    pub fn moved_past_pending(&self, o: &JobReset) -> bool {
        let Some(uid) = o.metadata.uid.as_deref() else {
            return false;
        };
        lock(&self.written)
            .get(uid)
            .is_some_and(|w| w.iter().any(|s| s.phase != Phase::Pending))
    }

    /// Whether this object's status is one this process wrote for the run: the reconcile
    /// that wrote it already decided what comes next (a wake, a requeue), so its watch
    /// event is an echo that needs no reconcile. (The spec is immutable; a metadata change
    /// arriving with the same status wakes nothing a running run needs.)
    pub fn is_echo(&self, o: &JobReset) -> bool {
        let (Some(uid), Some(status)) = (o.metadata.uid.as_deref(), o.status.as_ref()) else {
            return false;
        };
        lock(&self.written)
            .get(uid)
            .is_some_and(|written| written.contains(status))
    }

    /// Request number `attempt` is about to be recorded as intended.
    pub fn request_intended(&self, key: &RunKey, attempt: u32) {
        lock(&self.requests).insert(key.clone(), (attempt, false));
    }

    /// Request number `attempt` is about to go out.
    pub fn request_sent(&self, key: &RunKey, attempt: u32) {
        lock(&self.requests).insert(key.clone(), (attempt, true));
    }

    /// The request this process recorded as intended and never sent, if any.
    pub fn unsent_request(&self, key: &RunKey) -> Option<u32> {
        match lock(&self.requests).get(key) {
            Some((attempt, false)) => Some(*attempt),
            _ => None,
        }
    }

    /// The reset request answered with `task`, but writing it into status failed.
    pub fn task_unwritten(&self, key: &RunKey, task: &str) {
        lock(&self.unwritten).insert(key.clone(), task.to_owned());
    }

    /// The task id is in status now.
    pub fn task_written(&self, key: &RunKey) {
        lock(&self.unwritten).remove(key);
    }

    /// A task id still to be written, if any.
    pub fn unwritten_task(&self, key: &RunKey) -> Option<String> {
        lock(&self.unwritten).get(key).cloned()
    }

    /// One more consecutive Kubernetes-side failure; returns the count.
    pub fn failed(&self, key: &RunKey) -> u32 {
        let mut f = lock(&self.failures);
        let n = f.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// A reconcile went through: the failure count starts again.
    pub fn succeeded(&self, key: &RunKey) {
        lock(&self.failures).remove(key);
    }
}

fn after_answer(cached: &Arc<JobReset>, last: &Known) -> Option<Arc<JobReset>> {
    let version = cached.metadata.resource_version.as_deref()?;
    if version == last.version {
        return Some(Arc::clone(cached));
    }
    if version != last.base {
        return None;
    }
    let mut o = JobReset::clone(cached);
    o.metadata.resource_version = Some(last.version.clone());
    o.status = Some(last.status.clone());
    Some(Arc::new(o))
}

/// Each change to these maps is one insert or remove, so a poisoned one is still consistent.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
