//! Elasticsearch wire formats of the task API: the reset's answer (its task id), a task's
//! state and stored result (`completed: true` with an `error` is a failure), the list of
//! reset tasks. Pure functions over bytes, no I/O (tested in `wire_tests.rs`).

use serde::Deserialize;
use serde_json::Value;

use super::types::{ErrorCause, TaskInfo, TaskOutcome, TaskPoll};
use super::wire::{DecodeError, UNTYPED_ERROR, json, truncate, with_cause};

/// `POST .../_reset?wait_for_completion=false`: `{"task": "<node>:<n>"}`.
pub fn reset_task(body: &[u8]) -> Result<String, DecodeError> {
    #[derive(Deserialize)]
    struct Started {
        #[serde(default)]
        task: Option<String>,
        #[serde(default)]
        acknowledged: Option<bool>,
    }
    let s: Started = json(body)?;
    match (s.task, s.acknowledged) {
        (Some(t), _) if !t.trim().is_empty() => Ok(t),
        // A synchronous answer means `wait_for_completion=false` was dropped on the way.
        (_, Some(_)) => Err(
            "reset answered synchronously (no task id); was wait_for_completion dropped?"
                .to_owned(),
        ),
        _ => Err("reset answer has no task id".to_owned()),
    }
}

#[derive(Deserialize)]
pub(super) struct TaskWire {
    node: String,
    id: u64,
    action: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    start_time_in_millis: i64,
    /// Copies of selected request headers (`X-Opaque-Id` among them).
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    parent_task_id: Option<String>,
}

impl TaskWire {
    pub(super) fn info(self) -> TaskInfo {
        let opaque_id = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-opaque-id"))
            .map(|(_, v)| v.clone());
        TaskInfo {
            node: self.node,
            id: self.id,
            action: self.action,
            description: self.description,
            start_time_ms: self.start_time_in_millis,
            opaque_id,
            parent: self.parent_task_id,
        }
    }
}

/// A 200 answer of `GET _tasks?detailed=true` (grouped by node, the default).
pub fn task_list(body: &[u8]) -> Result<Vec<TaskInfo>, DecodeError> {
    #[derive(Deserialize)]
    struct Node {
        #[serde(default)]
        tasks: std::collections::BTreeMap<String, TaskWire>,
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        nodes: std::collections::BTreeMap<String, Node>,
    }
    let a: Answer = json(body)?;
    Ok(a.nodes
        .into_values()
        .flat_map(|n| n.tasks.into_values().map(TaskWire::info))
        .collect())
}

/// A 200 answer of `GET _tasks/<id>`.
pub fn task(body: &[u8]) -> Result<TaskPoll, DecodeError> {
    #[derive(Deserialize)]
    struct Answer {
        completed: bool,
        task: TaskWire,
        #[serde(default)]
        response: Option<Value>,
        #[serde(default)]
        error: Option<Value>,
    }
    let a: Answer = json(body)?;
    let task = a.task.info();
    if !a.completed {
        return Ok(TaskPoll::Running(task));
    }
    let outcome = match (a.error.filter(|e| !e.is_null()), a.response) {
        (Some(err), _) => TaskOutcome::Failed(stored_error(&err)),
        (None, Some(resp)) => match resp.get("acknowledged").and_then(Value::as_bool) {
            Some(true) => TaskOutcome::Acknowledged,
            Some(false) => TaskOutcome::NotAcknowledged,
            None => TaskOutcome::NoResult,
        },
        (None, None) => TaskOutcome::NoResult,
    };
    Ok(TaskPoll::Completed { task, outcome })
}

/// A task result's `error` is the bare cause (`type`, `reason`, `caused_by`), no `status`.
fn stored_error(err: &Value) -> ErrorCause {
    match err {
        Value::String(s) => ErrorCause {
            kind: UNTYPED_ERROR.to_owned(),
            reason: truncate(s.clone()),
        },
        _ => {
            let kind = err
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or(UNTYPED_ERROR)
                .to_owned();
            let reason = err
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let reason = with_cause(reason, err.get("caused_by"));
            ErrorCause {
                kind,
                reason: truncate(reason),
            }
        }
    }
}
