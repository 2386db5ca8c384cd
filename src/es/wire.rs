//! Elasticsearch wire formats: decoding of response and error bodies into the typed views
//! (time units are `units`', re-exported). Pure functions over bytes, no I/O, so every
//! answer shape (including the odd ones from old versions and proxies) is unit-tested here.

use serde::Deserialize;
use serde_json::Value;

use super::bounded;
use super::types::{
    BlockReason, Blocked, ClusterInfo, Job, JobConfigView, JobState, Privileges, UNKNOWN_VERSION,
    UpdatedJob,
};
pub use super::units::{es_time, parse_es_time};

// The task API's formats live beside these; callers find all of them here.
pub use super::wire_tasks::*;

/// Longest error reason kept; a proxy's HTML page or a huge `caused_by` chain must not end
/// up whole in a Kubernetes status.
const MAX_REASON: usize = 1000;
/// Error answers are parsed only up to this size. Elasticsearch's are a few KiB, and a JSON
/// tree takes many times its text in memory, so a larger answer is described, not parsed.
pub(super) const MAX_ERROR_BODY: usize = 64 << 10;

/// `error.type` used when Elasticsearch (or something in front of it) answered without a
/// typed error object: the string `error` form (routing failures, versions before 7.14) or a
/// body that is not an Elasticsearch error at all.
pub const UNTYPED_ERROR: &str = "untyped_error";
/// The `type` given to Elasticsearch's plain-string errors (`{"error": "...", "status": N}`),
/// which it answers only for requests no handler takes (an unknown route or method).
pub const ROUTE_ERROR: &str = "route_error";

/// Error types that mean "the long-poll ran out of time, the task goes on": the wait itself
/// (`timeout_exception`, HTTP 500 before 9.0, 429 from 9.0) or the forwarded transport
/// request racing it.
const POLL_TIMEOUT_TYPES: [&str; 2] = ["timeout_exception", "receive_timeout_transport_exception"];

/// `(kind, reason)` of an error answer. Handles the object form
/// (`{"error":{"type","reason","caused_by",..},"status":N}`), the string form
/// (`{"error":"no handler found ..."}`) and non-JSON bodies.
pub fn error_body(status: u16, body: &[u8]) -> (String, String) {
    if body.len() > MAX_ERROR_BODY {
        return (
            UNTYPED_ERROR.to_owned(),
            format!(
                "{}: an answer of more than {} KiB, too large for an Elasticsearch error",
                canonical(status),
                MAX_ERROR_BODY >> 10
            ),
        );
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (UNTYPED_ERROR.to_owned(), non_json_reason(status, body));
    };
    match value.get("error") {
        Some(Value::Object(obj)) => {
            let kind = obj
                .get("type")
                .and_then(Value::as_str)
                .or_else(|| {
                    first_root_cause(obj)
                        .and_then(|rc| rc.get("type"))
                        .and_then(Value::as_str)
                })
                .unwrap_or(UNTYPED_ERROR)
                .to_owned();
            let mut reason = obj
                .get("reason")
                .and_then(Value::as_str)
                .or_else(|| {
                    first_root_cause(obj)
                        .and_then(|rc| rc.get("reason"))
                        .and_then(Value::as_str)
                })
                .unwrap_or_default()
                .to_owned();
            reason = with_cause(reason, obj.get("caused_by"));
            if reason.is_empty() {
                reason = canonical(status).to_owned();
            }
            (kind, truncate(reason))
        }
        Some(Value::String(text)) => (ROUTE_ERROR.to_owned(), truncate(text.clone())),
        _ => (UNTYPED_ERROR.to_owned(), non_json_reason(status, body)),
    }
}

/// Whether an error answer to a get-task long-poll means "still running".
pub fn is_poll_timeout(status: u16, body: &[u8]) -> bool {
    if !matches!(status, 408 | 429 | 500 | 503 | 504) || body.len() > MAX_ERROR_BODY {
        return false;
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let Some(Value::Object(err)) = value.get("error") else {
        return false;
    };
    let top = err.get("type").and_then(Value::as_str);
    let root = first_root_cause(err)
        .and_then(|rc| rc.get("type"))
        .and_then(Value::as_str);
    [top, root]
        .into_iter()
        .flatten()
        .any(|t| POLL_TIMEOUT_TYPES.contains(&t))
}

/// Whether a 404 body is an Elasticsearch error (so the task really is unknown), rather than
/// a proxy's page for a wrong path.
pub fn is_es_error_body(body: &[u8]) -> bool {
    if body.len() > MAX_ERROR_BODY {
        return false;
    }
    serde_json::from_slice::<Value>(body)
        .map(|v| {
            matches!(
                v.get("error"),
                Some(Value::Object(_)) | Some(Value::String(_))
            )
        })
        .unwrap_or(false)
}

fn first_root_cause(err: &serde_json::Map<String, Value>) -> Option<&Value> {
    err.get("root_cause")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
}

fn non_json_reason(status: u16, body: &[u8]) -> String {
    // Only what the reason can hold is looked at.
    let text = String::from_utf8_lossy(&body[..body.len().min(4 * MAX_REASON)]);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        canonical(status).to_owned()
    } else {
        truncate(format!("{}: {text}", canonical(status)))
    }
}

fn canonical(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unknown status")
}

pub(super) fn truncate(mut s: String) -> String {
    if s.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Why a success body could not be used; becomes `EsError::Decode`.
pub type DecodeError = String;

pub(super) fn json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))
}

/// `POST _security/user/_has_privileges`: each cluster privilege asked about, in the order
/// asked, and whether it is held (one missing from the answer counts as not held).
pub fn privileges(asked: &[&str], body: &[u8]) -> Result<Privileges, DecodeError> {
    #[derive(Deserialize)]
    struct Root {
        #[serde(default)]
        cluster: std::collections::BTreeMap<String, bool>,
    }
    let root: Root = json(body)?;
    Ok(Privileges::Held(
        asked
            .iter()
            .map(|p| {
                (
                    (*p).to_owned(),
                    root.cluster.get(*p).copied().unwrap_or(false),
                )
            })
            .collect(),
    ))
}

/// The answer of a job `_update` is the job's configuration after it (`None` when it is not
/// that job's: the caller then reads the job).
pub fn updated_job(job_id: &str, body: &[u8]) -> Option<UpdatedJob> {
    let config: JobConfig = serde_json::from_slice(body).ok()?;
    if config.job_id != job_id {
        return None;
    }
    // A block this client cannot name leaves the answer unread: the job is read instead.
    let blocked = blocked_of(config.blocked).ok()?.is_some();
    let custom_settings = config.custom_settings.filter(Value::is_object);
    Some(UpdatedJob {
        protected: is_protected(custom_settings.as_ref()),
        custom_settings,
        blocked,
    })
}

/// The owner's `custom_settings.jobreset_k8s_io.protected: true`.
fn is_protected(custom_settings: Option<&Value>) -> bool {
    custom_settings
        .and_then(|c| c.pointer("/jobreset_k8s_io/protected"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// `GET _xpack?categories=features`: whether security is enabled (`None` when the answer
/// does not say).
pub fn security_enabled(body: &[u8]) -> Result<Option<bool>, DecodeError> {
    let root: Value = json(body)?;
    Ok(root
        .pointer("/features/security/enabled")
        .and_then(Value::as_bool))
}

/// `GET /`.
pub fn cluster_info(body: &[u8]) -> Result<ClusterInfo, DecodeError> {
    // `GET _ml/info`: `native_code.version` is the version of the nodes' ML code, i.e. the
    // cluster's; it can be missing when no ML node has reported yet.
    #[derive(Deserialize)]
    struct Root {
        #[serde(default)]
        native_code: Option<NativeCode>,
        #[serde(default)]
        upgrade_mode: bool,
    }
    #[derive(Deserialize)]
    struct NativeCode {
        #[serde(default)]
        version: Option<String>,
    }
    let root: Root = json(body)?;
    let version = root
        .native_code
        .and_then(|n| n.version)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| UNKNOWN_VERSION.to_owned());
    Ok(ClusterInfo {
        version,
        upgrade_mode: root.upgrade_mode,
    })
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Jobs<T> {
    #[serde(default = "Vec::new", deserialize_with = "bounded::list")]
    jobs: Vec<T>,
}

#[derive(Deserialize)]
struct JobConfig {
    job_id: String,
    #[serde(default)]
    blocked: Option<BlockedWire>,
    #[serde(default)]
    model_snapshot_id: Option<String>,
    #[serde(default, deserialize_with = "bounded::value")]
    custom_settings: Option<Value>,
    /// Embedded by GET from 8.0 when the job has a datafeed; only its id is read.
    #[serde(default)]
    datafeed_config: Option<DatafeedRef>,
}

#[derive(Deserialize)]
struct DatafeedRef {
    datafeed_id: String,
}

#[derive(Deserialize)]
struct BlockedWire {
    reason: String,
    #[serde(default)]
    task_id: Option<String>,
}

#[derive(Deserialize)]
struct JobStats {
    job_id: String,
    state: String,
    #[serde(default)]
    data_counts: DataCounts,
}

#[derive(Default, Deserialize)]
struct DataCounts {
    #[serde(default)]
    processed_record_count: u64,
    /// Epoch millis; a string with `?human` or from some clients.
    #[serde(default, deserialize_with = "bounded::strict_millis")]
    latest_record_timestamp: Option<i64>,
}

/// Outcome of merging `GET _ml/anomaly_detectors/<id>` and its `_stats`.
#[derive(Debug, PartialEq, Eq)]
pub enum JobDecode {
    Found(Job),
    /// The answer was well formed but listed no job with this id.
    Missing,
}

fn blocked_of(wire: Option<BlockedWire>) -> Result<Option<Blocked>, DecodeError> {
    Ok(match wire {
        // `none` is never serialised, but accept it rather than fail on a future change.
        Some(b) if b.reason == "none" => None,
        Some(b) => Some(Blocked {
            reason: BlockReason::from_es(&b.reason)
                .ok_or_else(|| format!("unknown blocked.reason {:?}", b.reason))?,
            task_id: b.task_id.filter(|t| !t.is_empty()),
        }),
        None => None,
    })
}

/// The config answer alone (`None`: it lists no job with this id).
pub fn job_config(job_id: &str, body: &[u8]) -> Result<Option<JobConfigView>, DecodeError> {
    let config: Jobs<JobConfig> = json(body).map_err(|e| format!("job config: {e}"))?;
    let Some(config) = config.jobs.into_iter().find(|j| j.job_id == job_id) else {
        return Ok(None);
    };
    Ok(Some(JobConfigView {
        blocked: blocked_of(config.blocked)?,
        custom_settings: config.custom_settings,
    }))
}

/// Merges the config answer (`blocked`, `model_snapshot_id`) with the stats answer (state,
/// data counts) for `job_id`.
pub fn job(job_id: &str, config_body: &[u8], stats_body: &[u8]) -> Result<JobDecode, DecodeError> {
    let config: Jobs<JobConfig> = json(config_body).map_err(|e| format!("job config: {e}"))?;
    let stats: Jobs<JobStats> = json(stats_body).map_err(|e| format!("job stats: {e}"))?;
    let Some(config) = config.jobs.into_iter().find(|j| j.job_id == job_id) else {
        return Ok(JobDecode::Missing);
    };
    let Some(stats) = stats.jobs.into_iter().find(|j| j.job_id == job_id) else {
        return Ok(JobDecode::Missing);
    };
    let state = JobState::from_es(&stats.state)
        .ok_or_else(|| format!("unknown job state {:?}", stats.state))?;
    let blocked = blocked_of(config.blocked)?;
    let latest_record_time_ms = stats.data_counts.latest_record_timestamp;
    Ok(JobDecode::Found(Job {
        id: job_id.to_owned(),
        state,
        blocked,
        model_snapshot_id: config
            .model_snapshot_id
            .filter(|s| !s.is_empty() && s != "empty"),
        processed_record_count: stats.data_counts.processed_record_count,
        latest_record_time_ms,
        protected: is_protected(config.custom_settings.as_ref()),
        datafeed_id: config.datafeed_config.map(|d| d.datafeed_id),
        custom_settings: config.custom_settings,
    }))
}

/// `POST .../_open`: `{"opened": true}`; `POST _ml/datafeeds/<id>/_start`:
/// `{"started": true}`. `key` names the field.
pub fn acknowledged(body: &[u8], key: &str) -> Result<(), DecodeError> {
    let v: Value = json(body)?;
    match v.get(key).and_then(Value::as_bool) {
        Some(true) => Ok(()),
        _ => Err(format!("the answer did not say \"{key}\": true")),
    }
}

/// `POST .../_close`: `{"closed": true}`.
pub fn closed(body: &[u8]) -> Result<(), DecodeError> {
    #[derive(Deserialize)]
    struct Closed {
        closed: bool,
    }
    let c: Closed = json(body)?;
    if c.closed {
        Ok(())
    } else {
        Err("close answered \"closed\": false".to_owned())
    }
}

/// `reason`, followed by the `caused_by` object's type and reason when it has either.
pub(super) fn with_cause(reason: String, cause: Option<&Value>) -> String {
    let Some(Value::Object(cause)) = cause else {
        return reason;
    };
    let field = |k: &str| cause.get(k).and_then(Value::as_str).unwrap_or_default();
    let (ckind, creason) = (field("type"), field("reason"));
    if ckind.is_empty() && creason.is_empty() {
        return reason;
    }
    format!("{reason} (caused by {ckind}: {creason})")
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
