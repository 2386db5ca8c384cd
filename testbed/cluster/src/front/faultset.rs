//! The installed fault rules with their counters: decides, for each API request, which rule
//! fires on it (if any) and expires rules that fired their count. Pure data behind a mutex;
//! with no rule active, `check` is one atomic load.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::reqinfo::RecordedRequest;
use super::rules::{FaultAction, FaultRule};

/// A rule as installed, with its counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    pub id: u64,
    pub rule: FaultRule,
    /// Matching requests seen while the rule was active.
    pub matched: u64,
    /// Requests it acted on.
    pub fired: u64,
    /// It fired `times` times and no longer matches anything.
    pub expired: bool,
}

/// What `check` decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    pub rule: u64,
    pub action: FaultAction,
}

/// The installed rules, in the order they were added.
#[derive(Default)]
pub struct FaultSet {
    /// Some rule is not expired; read before taking the lock.
    active: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    rules: Vec<RuleState>,
}

impl FaultSet {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refresh(&self, inner: &Inner) {
        let any = inner.rules.iter().any(|r| !r.expired);
        self.active.store(any, Ordering::Release);
    }

    pub fn add(&self, rule: FaultRule) -> RuleState {
        let mut inner = self.lock();
        inner.next_id += 1;
        let state = RuleState {
            id: inner.next_id,
            expired: rule.times == Some(0),
            rule,
            matched: 0,
            fired: 0,
        };
        inner.rules.push(state.clone());
        self.refresh(&inner);
        state
    }

    /// The action for `request`, if an active rule fires on it. Every active rule matching it
    /// counts it; the first one due fires (a later one due fires on its next match).
    pub fn check(&self, request: &RecordedRequest) -> Option<Fired> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let mut inner = self.lock();
        let mut fired = None;
        for r in inner.rules.iter_mut().filter(|r| !r.expired) {
            if !r.rule.matching.matches(request) {
                continue;
            }
            r.matched += 1;
            if fired.is_some() || r.matched < u64::from(r.rule.nth.max(1)) {
                continue;
            }
            r.fired += 1;
            r.expired = r.rule.times.is_some_and(|t| r.fired >= u64::from(t));
            fired = Some(Fired {
                rule: r.id,
                action: r.rule.action.clone(),
            });
        }
        self.refresh(&inner);
        fired
    }

    pub fn list(&self) -> Vec<RuleState> {
        self.lock().rules.clone()
    }

    pub fn get(&self, id: u64) -> Option<RuleState> {
        self.lock().rules.iter().find(|r| r.id == id).cloned()
    }

    pub fn remove(&self, id: u64) -> bool {
        let mut inner = self.lock();
        let before = inner.rules.len();
        inner.rules.retain(|r| r.id != id);
        self.refresh(&inner);
        inner.rules.len() != before
    }

    /// Removes every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut inner = self.lock();
        let n = inner.rules.len();
        inner.rules.clear();
        self.refresh(&inner);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::reqinfo::parse;
    use crate::front::rules::RequestMatch;

    fn req(method: &str, path: &str, ua: &str) -> RecordedRequest {
        parse(method, path, "", ua).unwrap()
    }

    const STATUS: &str = "/apis/ml.jobreset.io/v1alpha1/namespaces/a/jobresets/x/status";

    #[test]
    fn fires_on_the_nth_match_for_its_count_then_expires() {
        let set = FaultSet::default();
        let rule = RequestMatch::any()
            .verb("patch")
            .group("ml.jobreset.io")
            .resource("jobresets")
            .subresource("status")
            .fail(500)
            .nth(2)
            .times(2);
        let id = set.add(rule).id;
        let patch = req("PATCH", STATUS, "");
        assert_eq!(set.check(&patch), None);
        assert!(
            set.check(&req("GET", STATUS, "")).is_none(),
            "a get is no patch"
        );
        assert_eq!(set.check(&patch).map(|f| f.rule), Some(id));
        assert_eq!(set.check(&patch).map(|f| f.rule), Some(id));
        assert_eq!(set.check(&patch), None);
        let state = set.get(id).unwrap();
        assert_eq!((state.matched, state.fired, state.expired), (3, 2, true));
        assert!(
            !set.active.load(Ordering::Acquire),
            "only expired rules left"
        );
    }

    #[test]
    fn the_first_due_rule_wins_and_forever_never_expires() {
        let set = FaultSet::default();
        let a = set.add(RequestMatch::any().hang()).id;
        let b = set.add(RequestMatch::any().drop_connection().forever()).id;
        let r = req("GET", "/api/v1/namespaces/a/secrets", "");
        assert_eq!(set.check(&r).map(|f| f.rule), Some(a));
        for _ in 0..5 {
            assert_eq!(set.check(&r).map(|f| f.rule), Some(b));
        }
        assert!(!set.get(b).unwrap().expired);
        assert!(set.remove(b));
        assert_eq!(set.check(&r), None);
        assert_eq!(set.clear(), 1);
    }
}
