//! Fault rules for the front: which requests a rule matches (verb, group, resource,
//! subresource, namespace, name, User-Agent prefix), what it does to them, on which match it
//! starts firing and for how many. Pure data (`faultset` counts, `inject` acts).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::reqinfo::RecordedRequest;

/// Which API requests a rule (or `drop_watches`) applies to. Every field left empty matches
/// anything; the fields set must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestMatch {
    /// get, list, watch, create, update, patch, delete, deletecollection; empty: any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verbs: Vec<String>,
    /// The API group ("" for core/v1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The plural resource, e.g. `jobresets`, `configmaps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// e.g. `status`; `Some("")` matches only requests without a subresource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name as the path carries it (a create names none: match it by namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Matches when the request's User-Agent starts with this, e.g. `jobreset-operator/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent_prefix: Option<String>,
}

impl RequestMatch {
    /// Matches every API request; narrow it with the builder methods.
    pub fn any() -> Self {
        Self::default()
    }

    /// Adds a verb (several calls: any of them).
    pub fn verb(mut self, verb: impl Into<String>) -> Self {
        self.verbs.push(verb.into());
        self
    }

    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    pub fn subresource(mut self, subresource: impl Into<String>) -> Self {
        self.subresource = Some(subresource.into());
        self
    }

    /// Only requests on the object itself, not on a subresource.
    pub fn no_subresource(mut self) -> Self {
        self.subresource = Some(String::new());
        self
    }

    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn user_agent(mut self, prefix: impl Into<String>) -> Self {
        self.user_agent_prefix = Some(prefix.into());
        self
    }

    pub fn matches(&self, r: &RecordedRequest) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        let opt = |want: &Option<String>, have: &Option<String>| {
            want.as_deref()
                .is_none_or(|w| w == have.as_deref().unwrap_or(""))
        };
        (self.verbs.is_empty() || self.verbs.contains(&r.verb))
            && eq(&self.group, &r.group)
            && eq(&self.resource, &r.resource)
            && opt(&self.subresource, &r.subresource)
            && opt(&self.namespace, &r.namespace)
            && opt(&self.name, &r.name)
            && self
                .user_agent_prefix
                .as_deref()
                .is_none_or(|p| r.user_agent.starts_with(p))
    }

    fn rule(self, action: FaultAction) -> FaultRule {
        FaultRule {
            matching: self,
            action,
            nth: 1,
            times: Some(1),
        }
    }

    /// Answer `status` with a Kubernetes `Status` body, without forwarding.
    pub fn fail(self, status: u16) -> FaultRule {
        self.rule(FaultAction::Respond {
            status,
            reason: None,
            message: None,
            retry_after_secs: None,
        })
    }

    /// 429 TooManyRequests with `Retry-After: secs`, without forwarding.
    pub fn too_many_requests(self, secs: u32) -> FaultRule {
        self.rule(FaultAction::Respond {
            status: 429,
            reason: None,
            message: None,
            retry_after_secs: Some(secs),
        })
    }

    /// Forward, discard the answer and drop the connection: the write lands, the client
    /// never learns it.
    pub fn lost_answer(self) -> FaultRule {
        self.rule(FaultAction::LostAnswer { then_status: None })
    }

    /// Forward, discard the answer and answer `status` instead (e.g. 504, 500).
    pub fn lost_answer_then(self, status: u16) -> FaultRule {
        self.rule(FaultAction::LostAnswer {
            then_status: Some(status),
        })
    }

    /// Sleep `d` before forwarding (cut short when the rule is removed).
    pub fn delay(self, d: Duration) -> FaultRule {
        let millis = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.rule(FaultAction::Delay { millis })
    }

    /// Never answer (until the client gives up; removing the rule closes the connection).
    pub fn hang(self) -> FaultRule {
        self.rule(FaultAction::Hang)
    }

    /// Close the connection without answering (nothing forwarded).
    pub fn drop_connection(self) -> FaultRule {
        self.rule(FaultAction::DropConnection)
    }
}

/// What a firing rule does to the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status and a `Status` body; nothing is forwarded. `reason` and
    /// `message` default to what the apiserver says for that code.
    Respond {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Sets `Retry-After` and `details.retryAfterSeconds`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_secs: Option<u32>,
    },
    /// Forward and wait for the whole answer, then drop the connection (`None`) or answer
    /// this status instead.
    LostAnswer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        then_status: Option<u16>,
    },
    /// Sleep before forwarding (until the rule is removed at most).
    Delay { millis: u64 },
    /// Never answer; the connection is closed when the rule is removed (or after 10 min).
    Hang,
    /// Close the connection without answering.
    DropConnection,
}

fn one() -> Option<u32> {
    Some(1)
}

fn first() -> u32 {
    1
}

/// A rule: requests it matches, its action, from which match on and how many times it fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(rename = "match", default)]
    pub matching: RequestMatch,
    pub action: FaultAction,
    /// Fires from the `nth` matching request on (the first `nth - 1` pass); 0 counts as 1.
    #[serde(default = "first")]
    pub nth: u32,
    /// How many times it fires, then it expires; `None` (JSON `null`): forever. Default 1.
    #[serde(default = "one")]
    pub times: Option<u32>,
}

impl FaultRule {
    pub fn nth(mut self, n: u32) -> Self {
        self.nth = n;
        self
    }

    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    pub fn forever(mut self) -> Self {
        self.times = None;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::reqinfo::parse;

    fn req(method: &str, path: &str, ua: &str) -> RecordedRequest {
        parse(method, path, "", ua).unwrap()
    }

    const STATUS: &str = "/apis/ml.jobreset.io/v1alpha1/namespaces/a/jobresets/x/status";

    #[test]
    fn fields_narrow_the_match() {
        let op = req("PATCH", STATUS, "jobreset-operator/0.1.0");
        let main = req(
            "PATCH",
            "/apis/ml.jobreset.io/v1alpha1/namespaces/a/jobresets/x",
            "kubectl/v1.32",
        );
        let m = RequestMatch::any().user_agent("jobreset-operator/");
        assert!(m.matches(&op) && !m.matches(&main));
        let m = RequestMatch::any().no_subresource();
        assert!(!m.matches(&op) && m.matches(&main));
        let m = RequestMatch::any()
            .namespace("a")
            .name("x")
            .verb("get")
            .verb("patch");
        assert!(m.matches(&op) && m.matches(&main));
        assert!(!RequestMatch::any().namespace("b").matches(&op));
        assert!(!RequestMatch::any().name("y").matches(&op));
        let core = req("GET", "/api/v1/namespaces/a/configmaps/c", "");
        assert!(
            RequestMatch::any()
                .group("")
                .resource("configmaps")
                .matches(&core)
        );
        assert!(!RequestMatch::any().group("").matches(&op));
    }

    #[test]
    fn rules_read_from_json_with_defaults() {
        let rule: FaultRule = serde_json::from_str(
            r#"{"match": {"verbs": ["patch"], "resource": "jobresets"},
                "action": {"kind": "respond", "status": 429, "retry_after_secs": 2}}"#,
        )
        .unwrap();
        assert_eq!(
            rule,
            RequestMatch::any()
                .verb("patch")
                .resource("jobresets")
                .too_many_requests(2)
        );
        let rule: FaultRule =
            serde_json::from_str(r#"{"action": {"kind": "lost_answer"}, "times": null}"#).unwrap();
        assert_eq!(rule, RequestMatch::any().lost_answer().forever());
        let back: FaultRule = serde_json::from_value(serde_json::to_value(&rule).unwrap()).unwrap();
        assert_eq!(back, rule);
    }
}
