//! The contents of the Secrets runs read, kept while a run that read them goes on and until
//! the Secret's resourceVersion moves, so that each reconcile does not read them again. The
//! Secret watch the controller keeps anyway (metadata only) reports every version. No I/O.
//!
//! A read that raced a change is not kept: while a Secret is being read, the versions the
//! watch reports for it are noted, and the contents are kept only if none differs from the
//! version read. A missing Secret is never kept (its creation is read at once). Credentials
//! are held no longer than a run that uses them: an entry goes with its last user.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Mutex, MutexGuard},
};

use super::connect::{SecretData, SecretId};

#[derive(Default)]
struct Inner {
    kept: BTreeMap<SecretId, Kept>,
    reading: BTreeMap<SecretId, Reading>,
}

struct Kept {
    data: SecretData,
    version: String,
    /// The uids of the runs that read it.
    users: BTreeSet<String>,
}

#[derive(Default)]
struct Reading {
    readers: usize,
    /// Versions the watch reported meanwhile.
    seen: Vec<String>,
}

#[derive(Default)]
pub struct SecretCache(Mutex<Inner>);

/// One read of a Secret under way; dropping it without `keep` forgets the read.
pub struct Read<'a> {
    cache: &'a SecretCache,
    id: SecretId,
}

impl Drop for Read<'_> {
    fn drop(&mut self) {
        let mut inner = self.cache.lock();
        if let Some(r) = inner.reading.get_mut(&self.id) {
            r.readers = r.readers.saturating_sub(1);
            if r.readers == 0 {
                inner.reading.remove(&self.id);
            }
        }
    }
}

impl Read<'_> {
    /// Keeps what was read at `version` for the run `uid`, unless the watch reported
    /// another version while it was read.
    pub fn keep(self, version: &str, data: &SecretData, uid: &str) {
        let mut inner = self.cache.lock();
        let raced = inner
            .reading
            .get(&self.id)
            .is_some_and(|r| r.seen.iter().any(|v| v != version));
        if raced || version.is_empty() {
            return;
        }
        let mut users = inner
            .kept
            .remove(&self.id)
            .map(|k| k.users)
            .unwrap_or_default();
        users.insert(uid.to_owned());
        let kept = Kept {
            data: data.clone(),
            version: version.to_owned(),
            users,
        };
        inner.kept.insert(self.id.clone(), kept);
    }
}

impl SecretCache {
    /// The kept contents, and `uid` counted as a user.
    pub fn get(&self, id: &SecretId, uid: &str) -> Option<SecretData> {
        let mut inner = self.lock();
        let kept = inner.kept.get_mut(id)?;
        kept.users.insert(uid.to_owned());
        Some(kept.data.clone())
    }

    /// Call before reading the Secret.
    pub fn start_read(&self, id: &SecretId) -> Read<'_> {
        self.lock().reading.entry(id.clone()).or_default().readers += 1;
        Read {
            cache: self,
            id: id.clone(),
        }
    }

    /// The watch reports the Secret at `version` (or gone, with its last version).
    pub fn seen(&self, id: &SecretId, version: &str, gone: bool) {
        let mut inner = self.lock();
        if let Some(r) = inner.reading.get_mut(id) {
            r.seen.push(version.to_owned());
        }
        if gone || inner.kept.get(id).is_some_and(|k| k.version != version) {
            inner.kept.remove(id);
        }
    }

    /// The run `uid` ended or is gone: what only it used goes.
    pub fn forget(&self, uid: &str) {
        self.lock().kept.retain(|_, k| {
            k.users.remove(uid);
            !k.users.is_empty()
        });
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each change is one insert or remove: a poisoned lock still holds consistent maps.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.kept.len(), inner.reading.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> SecretId {
        SecretId {
            namespace: "team".into(),
            name: name.into(),
        }
    }

    fn data(v: &str) -> SecretData {
        [("password".to_owned(), v.as_bytes().to_vec())].into()
    }

    fn read(cache: &SecretCache, name: &str, version: &str, v: &str, uid: &str) {
        cache.start_read(&id(name)).keep(version, &data(v), uid);
    }

    #[test]
    fn kept_until_the_version_moves() {
        let cache = SecretCache::default();
        assert_eq!(cache.get(&id("creds"), "a"), None);
        read(&cache, "creds", "10", "one", "a");
        assert_eq!(cache.get(&id("creds"), "b"), Some(data("one")));
        // The watch reporting the version read (a late ADDED event) changes nothing.
        cache.seen(&id("creds"), "10", false);
        assert_eq!(cache.get(&id("creds"), "a"), Some(data("one")));
        cache.seen(&id("creds"), "11", false);
        assert_eq!(
            cache.get(&id("creds"), "a"),
            None,
            "read again after a change"
        );
        read(&cache, "creds", "11", "two", "a");
        cache.seen(&id("creds"), "11", true);
        assert_eq!(cache.get(&id("creds"), "a"), None, "gone");
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = SecretCache::default();
        let r = cache.start_read(&id("creds"));
        cache.seen(&id("creds"), "11", false);
        r.keep("10", &data("old"), "a");
        assert_eq!(cache.get(&id("creds"), "a"), None);
        // A read that saw only its own version is kept.
        let r = cache.start_read(&id("creds"));
        cache.seen(&id("creds"), "11", false);
        r.keep("11", &data("new"), "a");
        assert_eq!(cache.get(&id("creds"), "a"), Some(data("new")));
        assert_eq!(cache.held(), (1, 0), "no read left registered");
    }

    #[test]
    fn a_failed_read_leaves_nothing_behind() {
        let cache = SecretCache::default();
        drop(cache.start_read(&id("creds")));
        cache.seen(&id("creds"), "11", false);
        assert_eq!(cache.held(), (0, 0));
    }

    #[test]
    fn credentials_go_with_their_last_user() {
        let cache = SecretCache::default();
        read(&cache, "creds", "10", "one", "a");
        assert!(cache.get(&id("creds"), "b").is_some());
        cache.forget("a");
        assert_eq!(cache.held(), (1, 0), "b still uses it");
        cache.forget("b");
        assert_eq!(cache.held(), (0, 0));
    }
}
