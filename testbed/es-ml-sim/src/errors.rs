//! Elasticsearch error bodies: the REST shape (`error` object with `root_cause`, plus `status`) and
//! the inner shape stored in task results. Pure data, no I/O.

use serde_json::{Map, Value, json};

/// One Elasticsearch exception as the REST layer would render it.
#[derive(Debug, Clone, PartialEq)]
pub struct EsError {
    /// HTTP status of the exception.
    pub status: u16,
    /// snake_case exception name (`status_exception`, `resource_not_found_exception`, ...).
    pub kind: String,
    pub reason: String,
    /// Extra metadata keys shown next to `type` and `reason` (for example `header`).
    pub extra: Map<String, Value>,
    pub caused_by: Option<Box<EsError>>,
}

impl EsError {
    pub fn new(status: u16, kind: &str, reason: impl Into<String>) -> Self {
        EsError {
            status,
            kind: kind.to_string(),
            reason: reason.into(),
            extra: Map::new(),
            caused_by: None,
        }
    }

    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    pub fn with_cause(mut self, cause: EsError) -> Self {
        self.caused_by = Some(Box::new(cause));
        self
    }

    /// `ExceptionsHelper.missingJobException`.
    pub fn missing_job(id: &str) -> Self {
        Self::new(
            404,
            "resource_not_found_exception",
            format!("No known job with id '{id}'"),
        )
    }

    pub fn missing_datafeed(id: &str) -> Self {
        Self::new(
            404,
            "resource_not_found_exception",
            format!("No datafeed with id [{id}] exists"),
        )
    }

    /// `ExceptionsHelper.conflictStatusException`.
    pub fn conflict(reason: impl Into<String>) -> Self {
        Self::new(409, "status_exception", reason)
    }

    /// `ExceptionsHelper.badRequestException`.
    /// An action ML's upgrade-mode filter refuses (open, update, datafeed start, ...):
    /// `status_exception`, 429 (`MlUpgradeModeActionFilter`).
    pub fn upgrade_mode(action: &str) -> Self {
        Self::new(
            429,
            "status_exception",
            format!("Cannot perform {action} action while upgrade mode is enabled"),
        )
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(400, "status_exception", reason)
    }

    pub fn illegal_argument(reason: impl Into<String>) -> Self {
        Self::new(400, "illegal_argument_exception", reason)
    }

    /// A security API on a cluster with security off: `ElasticsearchException`, so type
    /// `exception` and status 500 (SecurityActionFilter; the answer users post).
    pub fn security_disabled() -> Self {
        Self::new(
            500,
            "exception",
            "Security must be explicitly enabled when using a [basic] license. Enable security by setting [xpack.security.enabled] to [true] in the elasticsearch.yml file and restart the node.",
        )
    }

    pub fn parse(reason: impl Into<String>) -> Self {
        Self::new(400, "x_content_parse_exception", reason)
    }

    /// `ElasticsearchTimeoutException`: 500 up to 8.x, 429 from 9.0 (ES PR #116026).
    pub fn timeout(reason: impl Into<String>, status: u16) -> Self {
        Self::new(status, "timeout_exception", reason)
    }

    /// No elected master within `master_timeout`. Built without a message, so the reason is
    /// `null` (as seen in real answers; inferred).
    pub fn master_not_discovered() -> Self {
        Self::new(503, "master_not_discovered_exception", "")
    }

    pub fn task_not_stored(task: &str) -> Self {
        Self::new(
            404,
            "resource_not_found_exception",
            format!("task [{task}] isn't running and hasn't stored its results"),
        )
    }

    /// The inner object (`type`, `reason`, extra keys, optional `caused_by`): what a task result
    /// stores and what `root_cause` entries hold (those without `caused_by`).
    pub fn inner(&self) -> Value {
        let mut m = self.own_fields();
        if let Some(c) = &self.caused_by {
            m.insert("caused_by".into(), c.inner());
        }
        Value::Object(m)
    }

    /// `guessRootCauses`: only wrapper exceptions (transport-level) are unwrapped, so for the
    /// simulator's errors the root cause is the exception itself, without `caused_by`.
    fn root_cause(&self) -> Value {
        Value::Object(self.own_fields())
    }

    /// `type`, `reason` and the extra fields: the exception without its cause.
    fn own_fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.kind));
        m.insert("reason".into(), self.reason_json());
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        m
    }

    /// An exception without a message renders `"reason": null`.
    fn reason_json(&self) -> Value {
        if self.reason.is_empty() {
            Value::Null
        } else {
            json!(self.reason)
        }
    }

    /// The full REST body: `{"error": {"root_cause": [...], "type", "reason", ...}, "status": N}`.
    pub fn body(&self) -> Value {
        let mut inner = Map::new();
        inner.insert("root_cause".into(), json!([self.root_cause()]));
        if let Value::Object(rest) = self.inner() {
            inner.extend(rest);
        }
        json!({ "error": Value::Object(inner), "status": self.status })
    }
}

/// Routing failures render `error` as a plain string (`RestController.handleBadRequest`).
pub fn string_error(status: u16, reason: &str) -> Value {
    json!({ "error": reason, "status": status })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_body_has_root_cause_and_status() {
        let b = EsError::conflict("Can only reset a job when it is closed.").body();
        assert_eq!(b["status"], 409);
        assert_eq!(b["error"]["type"], "status_exception");
        assert_eq!(
            b["error"]["root_cause"][0]["reason"],
            "Can only reset a job when it is closed."
        );
    }

    #[test]
    fn inner_has_no_root_cause_or_status() {
        let v = EsError::missing_job("x").inner();
        assert!(v.get("root_cause").is_none());
        assert!(v.get("status").is_none());
        assert_eq!(v["reason"], "No known job with id 'x'");
    }

    #[test]
    fn root_cause_is_the_exception_without_caused_by() {
        let e = EsError::new(500, "exception", "outer").with_cause(EsError::new(
            500,
            "io_exception",
            "inner",
        ));
        let b = e.body();
        assert_eq!(b["error"]["root_cause"][0]["type"], "exception");
        assert!(b["error"]["root_cause"][0].get("caused_by").is_none());
        assert_eq!(b["error"]["caused_by"]["type"], "io_exception");
    }
}
