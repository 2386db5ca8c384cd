//! The JobResets of the cache indexed by job id and by controller, so that finding the runs
//! of one job (the per-job queue, asked on every Pending reconcile) or the children of one
//! parent (counted on each child's change) costs those runs, not every JobReset the operator
//! watches. Fed from the same watch events as the reflector's store;
//! no I/O.
//!
//! The index only names candidates: a caller looks each one up in the store, which stays the
//! truth. So it may hold more than the store (an object whose deletion it has not seen yet)
//! but never less, and a re-list drops whatever the new list no longer holds.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, MutexGuard},
};

use kube::runtime::{reflector::ObjectRef, watcher};

use crate::api::JobReset;

type Refs = HashMap<String, HashSet<ObjectRef<JobReset>>>;

/// What an object was indexed under when last seen.
#[derive(PartialEq)]
struct Keys {
    job: String,
    /// The uid of its controller (a fan-out parent or a schedule).
    owner: Option<String>,
}

impl Keys {
    fn of(o: &JobReset) -> Keys {
        Keys {
            job: o.spec.job_id.clone(),
            owner: o
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|r| r.controller == Some(true))
                .map(|r| r.uid.clone()),
        }
    }
}

#[derive(Default)]
struct Inner {
    by_job: Refs,
    by_owner: Refs,
    /// Each object's keys and the list it was last seen in.
    of: HashMap<ObjectRef<JobReset>, (Keys, u64)>,
    /// Counts the lists (initial and after a watch restart).
    list: u64,
}

/// Cheap to clone; all clones share one index.
#[derive(Clone, Default)]
pub struct JobIndex(Arc<Mutex<Inner>>);

impl JobIndex {
    /// Follows one watch event (before or after the store applied it: the index only names
    /// candidates).
    pub fn apply(&self, event: &watcher::Event<JobReset>) {
        let mut inner = self.lock();
        match event {
            watcher::Event::Init => inner.list += 1,
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => inner.insert(o),
            watcher::Event::Delete(o) => inner.remove(&ObjectRef::from_obj(o)),
            watcher::Event::InitDone => {
                // Whatever the new list did not hold was deleted while the watch was down.
                let list = inner.list;
                let gone: Vec<_> = inner
                    .of
                    .iter()
                    .filter(|(_, (_, seen))| *seen < list)
                    .map(|(r, _)| r.clone())
                    .collect();
                for r in gone {
                    inner.remove(&r);
                }
            }
        }
    }

    /// The objects that named `job_id` when last seen.
    pub fn of_job(&self, job_id: &str) -> Vec<ObjectRef<JobReset>> {
        refs(&self.lock().by_job, job_id)
    }

    /// The objects whose controller had uid `uid` when last seen.
    pub fn owned_by(&self, uid: &str) -> Vec<ObjectRef<JobReset>> {
        refs(&self.lock().by_owner, uid)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the maps consistent (each change is
        // one insert or remove), so a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn refs(map: &Refs, key: &str) -> Vec<ObjectRef<JobReset>> {
    map.get(key)
        .map(|refs| refs.iter().cloned().collect())
        .unwrap_or_default()
}

fn link(map: &mut Refs, key: &str, r: &ObjectRef<JobReset>) {
    map.entry(key.to_owned()).or_default().insert(r.clone());
}

fn unlink(map: &mut Refs, key: &str, r: &ObjectRef<JobReset>) {
    if let Some(refs) = map.get_mut(key) {
        refs.remove(r);
        if refs.is_empty() {
            map.remove(key);
        }
    }
}

impl Inner {
    fn insert(&mut self, o: &JobReset) {
        let r = ObjectRef::from_obj(o);
        let keys = Keys::of(o);
        let list = self.list;
        if let Some((old, seen)) = self.of.get_mut(&r) {
            *seen = list;
            if *old == keys {
                return;
            }
        }
        self.remove(&r);
        link(&mut self.by_job, &keys.job, &r);
        if let Some(owner) = &keys.owner {
            link(&mut self.by_owner, owner, &r);
        }
        self.of.insert(r, (keys, list));
    }

    fn remove(&mut self, r: &ObjectRef<JobReset>) {
        if let Some((keys, _)) = self.of.remove(r) {
            unlink(&mut self.by_job, &keys.job, r);
            if let Some(owner) = &keys.owner {
                unlink(&mut self.by_owner, owner, r);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, job: &str) -> JobReset {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
            "metadata": {"name": name, "namespace": "team"},
            "spec": {"jobId": job, "elasticsearch": {"url": "https://es:9200"}},
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn sorted(refs: Vec<ObjectRef<JobReset>>) -> Vec<String> {
        let mut n: Vec<_> = refs.into_iter().map(|r| r.name).collect();
        n.sort();
        n
    }

    fn names(index: &JobIndex, job: &str) -> Vec<String> {
        sorted(index.of_job(job))
    }

    fn child(name: &str, owner: &str, controller: bool) -> JobReset {
        let mut o = run(name, "j");
        o.metadata.owner_references = Some(vec![
            serde_json::from_value(serde_json::json!({
                "apiVersion": "ml.jobreset.io/v1alpha1", "kind": "JobReset",
                "name": "parent", "uid": owner, "controller": controller,
            }))
            .unwrap_or_else(|e| panic!("{e}")),
        ]);
        o
    }

    #[test]
    fn children_by_controller_only() {
        let index = JobIndex::default();
        index.apply(&watcher::Event::Apply(child("a", "p1", true)));
        index.apply(&watcher::Event::Apply(child("b", "p1", false)));
        index.apply(&watcher::Event::Apply(child("c", "p2", true)));
        assert_eq!(sorted(index.owned_by("p1")), ["a"]);
        index.apply(&watcher::Event::Delete(child("a", "p1", true)));
        assert!(index.owned_by("p1").is_empty());
        assert_eq!(sorted(index.owned_by("p2")), ["c"]);
        assert_eq!(names(&index, "j"), ["b", "c"]);
    }

    #[test]
    fn follows_applies_and_deletes() {
        let index = JobIndex::default();
        index.apply(&watcher::Event::Apply(run("a", "j1")));
        index.apply(&watcher::Event::Apply(run("b", "j1")));
        index.apply(&watcher::Event::Apply(run("c", "j2")));
        index.apply(&watcher::Event::Apply(run("a", "j1")));
        assert_eq!(names(&index, "j1"), ["a", "b"]);
        assert_eq!(names(&index, "j2"), ["c"]);
        index.apply(&watcher::Event::Delete(run("a", "j1")));
        assert_eq!(names(&index, "j1"), ["b"]);
        assert!(names(&index, "nope").is_empty());
    }

    #[test]
    fn an_object_seen_with_another_job_moves() {
        let index = JobIndex::default();
        index.apply(&watcher::Event::Apply(run("a", "j1")));
        index.apply(&watcher::Event::Apply(run("a", "j2")));
        assert!(names(&index, "j1").is_empty());
        assert_eq!(names(&index, "j2"), ["a"]);
    }

    #[test]
    fn a_relist_drops_what_it_no_longer_holds() {
        let index = JobIndex::default();
        for e in [
            watcher::Event::Init,
            watcher::Event::InitApply(run("a", "j1")),
            watcher::Event::InitApply(run("b", "j1")),
            watcher::Event::InitDone,
        ] {
            index.apply(&e);
        }
        assert_eq!(names(&index, "j1"), ["a", "b"]);
        // The watch restarts; "a" was deleted meanwhile, "c" created.
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(run("b", "j1")));
        // Until the list is done, the old entries stay candidates.
        assert_eq!(names(&index, "j1"), ["a", "b"]);
        index.apply(&watcher::Event::InitApply(run("c", "j1")));
        index.apply(&watcher::Event::InitDone);
        assert_eq!(names(&index, "j1"), ["b", "c"]);
    }
}
