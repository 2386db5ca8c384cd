//! The contents of the Secrets runs read, kept while a run that read them goes on and until
//! the Secret changes, so that each reconcile does not read them again. The Secret watch the
//! controller keeps anyway (metadata only) tells of every change. No I/O.
//!
//! A read that raced a change is not kept: every watch event bumps one count, and contents
//! are kept only if no Secret changed while they were read (Secret changes are rare). A missing Secret
//! is never kept (its creation is read at once). Credentials are held no longer than a run
//! that uses them: an entry goes with its last user.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Mutex, MutexGuard},
};

use super::connect::{SecretData, SecretId};

#[derive(Default)]
struct Inner {
    kept: BTreeMap<SecretId, Kept>,
    /// Secret watch events seen.
    changes: u64,
}

struct Kept {
    data: SecretData,
    /// The uids of the runs that read it.
    users: BTreeSet<String>,
}

#[derive(Default)]
pub struct SecretCache(Mutex<Inner>);

/// Where a read started, for `keep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadStart(u64);

impl SecretCache {
    /// The kept contents, and `uid` counted as a user.
    pub fn get(&self, id: &SecretId, uid: &str) -> Option<SecretData> {
        let mut inner = self.lock();
        let kept = inner.kept.get_mut(id)?;
        kept.users.insert(uid.to_owned());
        Some(kept.data.clone())
    }

    /// Call before reading the Secret.
    pub fn start_read(&self) -> ReadStart {
        ReadStart(self.lock().changes)
    }

    /// Keeps what was read, unless the Secret changed since `start`.
    pub fn keep(&self, id: &SecretId, start: ReadStart, data: &SecretData, uid: &str) {
        let mut inner = self.lock();
        if inner.changes != start.0 {
            return;
        }
        let kept = inner.kept.entry(id.clone()).or_insert_with(|| Kept {
            data: data.clone(),
            users: BTreeSet::new(),
        });
        kept.data = data.clone();
        kept.users.insert(uid.to_owned());
    }

    /// The watch saw the Secret change (or appear, or go).
    pub fn changed(&self, id: &SecretId) {
        let mut inner = self.lock();
        inner.changes = inner.changes.wrapping_add(1);
        inner.kept.remove(id);
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
    fn held(&self) -> usize {
        self.lock().kept.len()
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

    #[test]
    fn kept_until_the_secret_changes() {
        let cache = SecretCache::default();
        assert_eq!(cache.get(&id("creds"), "a"), None);
        let start = cache.start_read();
        cache.keep(&id("creds"), start, &data("one"), "a");
        assert_eq!(cache.get(&id("creds"), "b"), Some(data("one")));
        cache.changed(&id("creds"));
        assert_eq!(
            cache.get(&id("creds"), "a"),
            None,
            "read again after a change"
        );
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = SecretCache::default();
        let start = cache.start_read();
        cache.changed(&id("other"));
        cache.keep(&id("creds"), start, &data("old"), "a");
        assert_eq!(cache.get(&id("creds"), "a"), None);
        // The next read starts after the change and is kept.
        let start = cache.start_read();
        cache.keep(&id("creds"), start, &data("new"), "a");
        assert_eq!(cache.get(&id("creds"), "a"), Some(data("new")));
    }

    #[test]
    fn credentials_go_with_their_last_user() {
        let cache = SecretCache::default();
        let start = cache.start_read();
        cache.keep(&id("creds"), start, &data("one"), "a");
        assert!(cache.get(&id("creds"), "b").is_some());
        cache.forget("a");
        assert_eq!(cache.held(), 1, "b still uses it");
        cache.forget("b");
        assert_eq!(cache.held(), 0);
    }
}
