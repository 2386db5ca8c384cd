//! Request bodies and ids: the field lists, id rules and parsing `PUT` and `_update` bodies
//! check against. Pure functions, no I/O.

use serde_json::{Map, Value, json};

use super::ID_LENGTH_LIMIT;
use crate::errors::EsError;
pub fn valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    let ok_end = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && ok_end(b[0])
        && ok_end(b[b.len() - 1])
        && b.iter()
            .all(|&c| ok_end(c) || c == b'-' || c == b'_' || c == b'.')
}

pub fn validate_id(field: &str, id: &str) -> Result<(), EsError> {
    if !valid_id(id) {
        return Err(EsError::illegal_argument(format!(
            "Invalid {field}; '{id}' can contain lowercase alphanumeric (a-z and 0-9), hyphens or underscores; must start and end with alphanumeric"
        )));
    }
    if id.len() > ID_LENGTH_LIMIT {
        return Err(EsError::illegal_argument(format!(
            "The {field} cannot contain more than {ID_LENGTH_LIMIT} characters."
        )));
    }
    Ok(())
}

/// Simple `*` wildcard match (Elasticsearch `Regex.simpleMatch`).
pub fn simple_match(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some(&c) => s.first() == Some(&c) && go(&p[1..], &s[1..]),
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

const JOB_FIELDS: &[&str] = &[
    "job_id",
    "description",
    "groups",
    "analysis_config",
    "data_description",
    "analysis_limits",
    "custom_settings",
    "model_plot_config",
    "results_index_name",
    "allow_lazy_open",
    "background_persist_interval",
    "renormalization_window_days",
    "model_snapshot_retention_days",
    "daily_model_snapshot_retention_after_days",
    "results_retention_days",
    "datafeed_config",
    "job_type",
];

pub(super) const UPDATE_FIELDS: &[&str] = &[
    "description",
    "groups",
    "custom_settings",
    "analysis_limits",
    "model_plot_config",
    "background_persist_interval",
    "renormalization_window_days",
    "model_snapshot_retention_days",
    "daily_model_snapshot_retention_after_days",
    "results_retention_days",
    "allow_lazy_open",
    "detectors",
    "per_partition_categorization",
];

pub(super) const DATAFEED_FIELDS: &[&str] = &[
    "datafeed_id",
    "job_id",
    "indices",
    "indexes",
    "query",
    "aggregations",
    "aggs",
    "frequency",
    "query_delay",
    "scroll_size",
    "chunking_config",
    "delayed_data_check_config",
    "runtime_mappings",
    "script_fields",
    "max_empty_searches",
    "indices_options",
];

/// `[line:col]` of the first occurrence of `"key"` in the raw body, for parser-style messages.
pub fn location_of(raw: &str, key: &str) -> String {
    let needle = format!("\"{key}\"");
    let pos = raw.find(&needle).unwrap_or(0);
    let before = &raw[..pos];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    format!("[{line}:{col}]")
}

/// The request body as an object with only `allowed` fields, or the parse error
/// ObjectParser gives (`parser` names it, `raw` locates the offending field).
pub fn object_body<'a>(
    body: &'a Value,
    allowed: &[&str],
    parser: &str,
    raw: &str,
) -> Result<&'a Map<String, Value>, EsError> {
    let Some(obj) = body.as_object() else {
        return Err(EsError::parse(format!(
            "[1:1] [{parser}] Expected START_OBJECT but was not an object"
        )));
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(EsError::parse(format!(
            "{} [{parser}] unknown field [{k}]",
            location_of(raw, k)
        )));
    }
    Ok(obj)
}

/// Validate `groups` and return it as an array: like ObjectParser's string arrays, a single
/// string counts as a one-element array.
pub(super) fn validate_groups(v: &Value, raw: &str) -> Result<Value, EsError> {
    let arr = match v {
        Value::String(s) => vec![Value::String(s.clone())],
        Value::Array(a) => a.clone(),
        _ => {
            return Err(EsError::parse(format!(
                "{} [job_details] groups doesn't support values of type: VALUE_OTHER",
                location_of(raw, "groups")
            )));
        }
    };
    for g in &arr {
        let s = g.as_str().unwrap_or("");
        if !valid_id(s) || s.len() > ID_LENGTH_LIMIT {
            return Err(EsError::illegal_argument(format!(
                "Invalid group id '{s}'; must be non-empty string and may contain lowercase alphanumeric (a-z and 0-9), hyphens or underscores; must start and end with alphanumeric"
            )));
        }
    }
    Ok(Value::Array(arr))
}

/// Validate a `PUT _ml/anomaly_detectors/<id>` body and return the stored config fields.
pub fn parse_job_body(id: &str, body: &Value, raw: &str) -> Result<Map<String, Value>, EsError> {
    let obj = object_body(body, JOB_FIELDS, "job_details", raw)?;
    if let Some(body_id) = obj.get("job_id").and_then(Value::as_str)
        && body_id != id
    {
        return Err(EsError::illegal_argument(format!(
            "Inconsistent job_id; '{body_id}' specified in the body differs from '{id}' specified as a URL argument"
        )));
    }
    let Some(ac) = obj.get("analysis_config") else {
        return Err(EsError::illegal_argument("An analysis_config must be set"));
    };
    let detectors = ac.get("detectors").and_then(Value::as_array);
    if detectors.is_none_or(|d| d.is_empty()) {
        return Err(EsError::illegal_argument("No detectors configured"));
    }
    if obj.get("data_description").is_none() {
        return Err(EsError::illegal_argument("A data_description must be set"));
    }
    validate_id("job_id", id)?;
    let groups = match obj.get("groups") {
        Some(g) => Some(validate_groups(g, raw)?),
        None => None,
    };
    if let Some(cs) = obj.get("custom_settings")
        && !cs.is_object()
    {
        return Err(EsError::parse(format!(
            "{} [job_details] failed to parse field [custom_settings]",
            location_of(raw, "custom_settings")
        )));
    }
    let mut cfg = obj.clone();
    if let Some(g) = groups {
        cfg.insert("groups".into(), g);
    }
    cfg.remove("job_id");
    cfg.remove("job_type");
    cfg.remove("datafeed_config");
    Ok(cfg)
}

/// A minimal valid job body (one `count` detector) for seeds and tests.
pub fn default_job_body() -> Value {
    json!({
        "analysis_config": {"bucket_span": "15m", "detectors": [{"function": "count"}]},
        "data_description": {"time_field": "timestamp"}
    })
}
