//! The admission check kube-apiserver has and the apiextensions-apiserver lacks: nothing is
//! created in a namespace that does not exist. The namespaces known to exist are cached, so a
//! create costs no extra server operation once its namespace has been seen; a miss asks the
//! apiserver (HTTP). Every namespace write through the front drops the cache, so a namespace
//! deleted (or whose last finalizer was removed) is asked about again on the next create.

use std::collections::HashSet;
use std::sync::Mutex;

use hyper::{Response, StatusCode};
use serde_json::json;

use super::reqinfo::RecordedRequest;
use super::{Body, Ctx, core, status_with_details};

/// Namespaces seen to exist since the last namespace write.
#[derive(Default)]
pub struct Namespaces {
    inner: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    names: HashSet<String>,
    /// Bumped by every namespace write: an answer read before a write finished must not
    /// repopulate the cache after that write dropped it.
    epoch: u64,
}

impl Namespaces {
    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn contains(&self, ns: &str) -> bool {
        self.lock().names.contains(ns)
    }

    /// The epoch to hand back to `learned`.
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// `ns` existed at some point after `epoch` was read.
    pub fn learned(&self, ns: &str, epoch: u64) {
        let mut k = self.lock();
        if k.epoch == epoch {
            k.names.insert(ns.to_string());
        }
    }

    /// A namespace write happened (or is about to): forget everything.
    pub fn invalidate(&self) {
        let mut k = self.lock();
        k.names.clear();
        k.epoch += 1;
    }

    /// Forgets everything now and again when the guard drops: once the write is done, or
    /// abandoned by its client while it may still land, a lookup that overlapped it may have
    /// seen the old state.
    pub fn writing(&self) -> WriteGuard<'_> {
        self.invalidate();
        WriteGuard(self)
    }
}

pub struct WriteGuard<'a>(&'a Namespaces);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.0.invalidate();
    }
}

/// Whether the request may make a Namespace disappear (a delete, or an update or patch
/// clearing the last finalizer of one being deleted), by the core path or the private
/// group's, so the cache must be dropped around it. A create cannot.
pub fn writes_namespaces(info: &RecordedRequest) -> bool {
    let namespace_kind = (info.group.is_empty() && info.resource == "namespaces")
        || (info.group == core::GROUP && info.resource == "corenamespaces");
    namespace_kind && !matches!(info.verb.as_str(), "get" | "list" | "watch" | "create")
}

/// Refuses a namespaced create whose namespace does not exist, as NamespaceLifecycle does.
pub async fn admit(ctx: &Ctx, info: &RecordedRequest) -> Option<Response<Body>> {
    let ns = info.namespace.as_deref()?;
    if info.verb != "create" || info.resource == "namespaces" || ctx.namespaces.contains(ns) {
        return None;
    }
    let epoch = ctx.namespaces.epoch();
    let url = format!(
        "{}/apis/{}/v1/corenamespaces/{ns}",
        ctx.up.base,
        core::GROUP
    );
    // An apiserver that does not answer lets the create through: the create then fails itself.
    let resp = ctx.up.http.get(url).send().await.ok()?;
    if resp.status().is_success() {
        ctx.namespaces.learned(ns, epoch);
        return None;
    }
    if resp.status() != StatusCode::NOT_FOUND {
        return None;
    }
    Some(status_with_details(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("namespaces \"{ns}\" not found"),
        json!({"name": ns, "kind": "namespaces"}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_during_a_lookup_keeps_the_answer_out() {
        let n = Namespaces::default();
        let before = n.epoch();
        n.invalidate();
        n.learned("a", before);
        assert!(!n.contains("a"));
        n.learned("a", n.epoch());
        assert!(n.contains("a"));
        n.invalidate();
        assert!(!n.contains("a"));
    }

    #[test]
    fn namespace_writes_are_recognised() {
        let req = |verb: &str, group: &str, resource: &str| RecordedRequest {
            user_agent: String::new(),
            verb: verb.into(),
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            subresource: None,
            namespace: None,
            name: Some("x".into()),
        };
        assert!(writes_namespaces(&req("delete", "", "namespaces")));
        assert!(writes_namespaces(&req("update", "", "namespaces")));
        assert!(writes_namespaces(&req(
            "patch",
            core::GROUP,
            "corenamespaces"
        )));
        assert!(!writes_namespaces(&req("get", "", "namespaces")));
        assert!(!writes_namespaces(&req("create", "", "namespaces")));
        assert!(!writes_namespaces(&req("delete", "", "secrets")));
    }
}
