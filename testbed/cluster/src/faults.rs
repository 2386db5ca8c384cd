//! The Kubernetes-side fault API of `TestBed`: rules that make the front answer errors, lose
//! answers, delay, hang or drop connections; ending open watches; restarting the apiserver on
//! the same etcd data. On a bed this process started it acts on the front in-process; on an
//! attached bed it goes through the front's `/testbed/` endpoints (HTTP; the synchronous calls
//! block for the round trip, on a thread of their own).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::attach;
use crate::bed::TestBed;
use crate::error::BedError;
pub use crate::front::faultset::RuleState;
pub use crate::front::rules::{FaultAction, FaultRule, RequestMatch};
pub use crate::front::watches::{OpenWatch, WatchEnd};

/// The fault rules of a bed (`TestBed::faults`).
pub struct Faults<'a> {
    bed: &'a TestBed,
}

/// A rule removed when this guard is dropped (also when the test panics).
pub struct ScopedRule<'a> {
    faults: Faults<'a>,
    id: u64,
}

impl ScopedRule<'_> {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The rule's counters now.
    pub fn state(&self) -> Result<Option<RuleState>, BedError> {
        self.faults.rule(self.id)
    }

    /// `Faults::wait_fired` for this rule.
    pub async fn wait_fired(&self, n: u64, deadline: Duration) -> Result<RuleState, BedError> {
        self.faults.wait_fired(self.id, n, deadline).await
    }
}

impl Drop for ScopedRule<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.faults.remove(self.id) {
            tracing::warn!(error = %e, id = self.id, "removing a fault rule");
        }
    }
}

fn decode<T: DeserializeOwned>(v: Value, what: &str) -> Result<T, BedError> {
    serde_json::from_value(v).map_err(|e| BedError::Runtime(format!("decoding {what}: {e}")))
}

impl TestBed {
    /// The fault rules of this bed.
    pub fn faults(&self) -> Faults<'_> {
        Faults { bed: self }
    }

    fn control(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, BedError> {
        attach::control(&self.front_url, &self.ca_pem, method, path, body)
    }

    /// Ends every open watch stream now (cleanly: clients re-watch). Returns how many.
    pub fn drop_watches(&self) -> Result<usize, BedError> {
        self.drop_watches_matching(None, WatchEnd::Close)
    }

    /// Ends the open watches `matching` selects (all with `None`), the way `end` says.
    pub fn drop_watches_matching(
        &self,
        matching: Option<&RequestMatch>,
        end: WatchEnd,
    ) -> Result<usize, BedError> {
        if let Some(o) = &self.owned {
            return Ok(o.injector.watches.drop_matching(matching, end));
        }
        let body = json!({"match": matching, "end": end});
        let answer = self.control(Method::POST, "watches/drop", Some(body))?;
        Ok(answer
            .get("dropped")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0))
    }

    /// The watch streams the front is relaying now.
    pub fn open_watches(&self) -> Result<Vec<OpenWatch>, BedError> {
        match &self.owned {
            Some(o) => Ok(o.injector.watches.list()),
            None => decode(self.control(Method::GET, "watches", None)?, "open watches"),
        }
    }

    /// Stops the apiserver and starts it again on the same port with the same flags,
    /// certificates and etcd data; returns once it is ready. Meanwhile the front closes
    /// every API connection unanswered and aborts the open watches; afterwards the objects
    /// and resourceVersions are the same. (Attached: `POST /testbed/apiserver/restart`.)
    pub async fn restart_apiserver(&self) -> Result<(), BedError> {
        match &self.owned {
            Some(o) => o.injector.restart_apiserver().await.map(|_| ()),
            None => attach::control_async(
                &self.front_url,
                &self.ca_pem,
                Method::POST,
                "apiserver/restart",
                None,
            )
            .await
            .map(|_| ()),
        }
    }
}

impl<'a> Faults<'a> {
    /// Installs a rule; returns its id.
    pub fn add(&self, rule: FaultRule) -> Result<u64, BedError> {
        if let Some(o) = &self.bed.owned {
            return Ok(o.injector.rules.add(rule).id);
        }
        let body = serde_json::to_value(&rule)
            .map_err(|e| BedError::Runtime(format!("encoding a fault rule: {e}")))?;
        let state: RuleState = decode(
            self.bed.control(Method::POST, "faults", Some(body))?,
            "the installed rule",
        )?;
        Ok(state.id)
    }

    /// Installs a rule removed when the returned guard is dropped.
    pub fn scoped(&self, rule: FaultRule) -> Result<ScopedRule<'a>, BedError> {
        let id = self.add(rule)?;
        Ok(ScopedRule {
            faults: Faults { bed: self.bed },
            id,
        })
    }

    /// Shorthand: answer `status` (with a `Status` body) to the first request `matching`
    /// selects.
    pub fn fail(&self, matching: RequestMatch, status: u16) -> Result<u64, BedError> {
        self.add(matching.fail(status))
    }

    /// Every rule installed (expired ones too), in the order added.
    pub fn rules(&self) -> Result<Vec<RuleState>, BedError> {
        match &self.bed.owned {
            Some(o) => Ok(o.injector.rules.list()),
            None => decode(
                self.bed.control(Method::GET, "faults", None)?,
                "fault rules",
            ),
        }
    }

    pub fn rule(&self, id: u64) -> Result<Option<RuleState>, BedError> {
        if let Some(o) = &self.bed.owned {
            return Ok(o.injector.rules.get(id));
        }
        match self.bed.control(Method::GET, &format!("faults/{id}"), None) {
            Ok(v) => decode(v, "a fault rule").map(Some),
            Err(BedError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes a rule (a request it holds hanging is released by closing its connection).
    pub fn remove(&self, id: u64) -> Result<bool, BedError> {
        if let Some(o) = &self.bed.owned {
            return Ok(o.injector.remove(id));
        }
        match self
            .bed
            .control(Method::DELETE, &format!("faults/{id}"), None)
        {
            Ok(_) => Ok(true),
            Err(BedError::Api { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes every rule, also other tests' on a shared bed; returns how many there were.
    pub fn clear(&self) -> Result<usize, BedError> {
        if let Some(o) = &self.bed.owned {
            return Ok(o.injector.clear());
        }
        let answer = self.bed.control(Method::DELETE, "faults", None)?;
        Ok(answer
            .get("removed")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0))
    }

    /// Waits until rule `id` has fired `n` times (polling); its state then.
    pub async fn wait_fired(
        &self,
        id: u64,
        n: u64,
        deadline: Duration,
    ) -> Result<RuleState, BedError> {
        let end = Instant::now() + deadline;
        loop {
            let state = self.rule(id)?.ok_or_else(|| BedError::Timeout {
                what: format!("fault rule {id}, which is not installed"),
                after: Duration::ZERO,
            })?;
            if state.fired >= n {
                return Ok(state);
            }
            if Instant::now() >= end {
                return Err(BedError::Timeout {
                    what: format!(
                        "fault rule {id} to fire {n} times (fired {}, matched {})",
                        state.fired, state.matched
                    ),
                    after: deadline,
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
