//! The job's own record of the resets done to it, in `custom_settings.jobreset_k8s_io`:
//! `{"v": 1, "runs": [{"key", "uid", "attempt", "task", "state", "reason", "at"}, …]}`, the last 10
//! runs. Reading it and computing the object to write back (every other key kept: Kibana's
//! `custom_urls`, `created_by`, `job_tags` live there too) is pure; no I/O.

use serde_json::{Map, Value, json};

/// The key under `custom_settings` that belongs to the operator.
pub const SETTINGS_KEY: &str = "jobreset_k8s_io";
/// Entries kept per job.
pub const KEEP: usize = 10;

/// One run as the job records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub uid: String,
    pub attempt: u32,
    pub task: Option<String>,
    /// `started`, `succeeded` or `failed`.
    pub state: String,
    /// Why a `failed` run failed (its `status.reason`).
    pub reason: Option<String>,
    pub at: String,
}

impl Entry {
    fn to_json(&self) -> Value {
        let mut v = json!({
            "key": self.key,
            "uid": self.uid,
            "attempt": self.attempt,
            "state": self.state,
            "at": self.at,
        });
        if let Some(o) = v.as_object_mut() {
            if let Some(t) = &self.task {
                o.insert("task".into(), json!(t));
            }
            if let Some(r) = &self.reason {
                o.insert("reason".into(), json!(r));
            }
        }
        v
    }

    fn from_json(v: &Value) -> Option<Entry> {
        Some(Entry {
            key: v.get("key")?.as_str()?.to_owned(),
            uid: v
                .get("uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            attempt: v
                .get("attempt")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            task: v.get("task").and_then(Value::as_str).map(str::to_owned),
            reason: v.get("reason").and_then(Value::as_str).map(str::to_owned),
            state: v.get("state")?.as_str()?.to_owned(),
            at: v
                .get("at")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

/// The runs the job records, oldest first (anything unreadable is skipped, never fatal).
pub fn entries(custom_settings: Option<&Value>) -> Vec<Entry> {
    custom_settings
        .and_then(|c| c.get(SETTINGS_KEY))
        .and_then(|l| l.get("runs"))
        .and_then(Value::as_array)
        .map(|runs| runs.iter().filter_map(Entry::from_json).collect())
        .unwrap_or_default()
}

/// The latest entry for `key`.
pub fn latest<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Entry> {
    entries.iter().rev().find(|e| e.key == key)
}

/// `custom_settings` with `entry` recorded: an entry of the same key and uid is replaced,
/// the oldest beyond `KEEP` dropped, every other key of `custom_settings` kept as it was.
pub fn with_entry(custom_settings: Option<&Value>, entry: &Entry) -> Value {
    let mut settings: Map<String, Value> = custom_settings
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut runs: Vec<Entry> = entries(custom_settings)
        .into_iter()
        .filter(|e| !(e.key == entry.key && e.uid == entry.uid))
        .collect();
    runs.push(entry.clone());
    let skip = runs.len().saturating_sub(KEEP);
    let runs: Vec<Value> = runs.iter().skip(skip).map(Entry::to_json).collect();
    // Other keys of the operator's own object (the owner's `protected`) stay as well.
    let mut own: Map<String, Value> = settings
        .get(SETTINGS_KEY)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    own.insert("v".to_owned(), json!(1));
    own.insert("runs".to_owned(), Value::Array(runs));
    settings.insert(SETTINGS_KEY.to_owned(), Value::Object(own));
    Value::Object(settings)
}

/// The run key and the JobReset uid from the run's `X-Opaque-Id`
/// (`jobreset/<namespace>/<name>/<uid>`); `run_key` overrides the key.
pub fn identity(opaque_id: &str, run_key: Option<&str>) -> Option<(String, String)> {
    let mut parts = opaque_id.strip_prefix("jobreset/")?.split('/');
    let (ns, name, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if ns.is_empty() || name.is_empty() {
        return None;
    }
    let key = run_key.map_or_else(|| format!("{ns}/{name}"), str::to_owned);
    Some((key, uid.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, uid: &str, state: &str) -> Entry {
        Entry {
            key: key.into(),
            uid: uid.into(),
            attempt: 1,
            task: Some("n1:39".into()),
            state: state.into(),
            reason: None,
            at: "2026-05-01T10:00:00Z".into(),
        }
    }

    #[test]
    fn every_other_key_survives_and_the_entry_replaces_its_own() {
        let kibana = json!({"custom_urls": [{"url_name": "x"}], "created_by": "ml-module", "job_tags": {"a": "b"}});
        let started = with_entry(Some(&kibana), &entry("ns/r", "u1", "started"));
        let done = with_entry(Some(&started), &entry("ns/r", "u1", "succeeded"));
        for k in ["custom_urls", "created_by", "job_tags"] {
            assert_eq!(done[k], kibana[k], "{k}");
        }
        let runs = entries(Some(&done));
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(
            latest(&runs, "ns/r").map(|e| e.state.as_str()),
            Some("succeeded")
        );
    }

    #[test]
    fn the_owners_protected_flag_survives() {
        let s = json!({SETTINGS_KEY: {"protected": true}});
        let s = with_entry(Some(&s), &entry("ns/r", "u1", "started"));
        assert_eq!(s[SETTINGS_KEY]["protected"], true, "{s}");
        assert_eq!(entries(Some(&s)).len(), 1);
    }

    #[test]
    fn keeps_the_last_ten() {
        let mut s = json!({});
        for i in 0..12 {
            s = with_entry(Some(&s), &entry(&format!("ns/r{i}"), "u", "succeeded"));
        }
        let runs = entries(Some(&s));
        assert_eq!(runs.len(), KEEP);
        assert_eq!(runs[0].key, "ns/r2");
        // Unreadable entries are skipped, not fatal.
        let odd = json!({SETTINGS_KEY: {"runs": [{"nokey": 1}, 7]}});
        assert!(entries(Some(&odd)).is_empty());
    }

    #[test]
    fn identity_from_the_opaque_id() {
        assert_eq!(
            identity("jobreset/obs/reset-x/uid-1", None),
            Some(("obs/reset-x".into(), "uid-1".into()))
        );
        assert_eq!(
            identity("jobreset/obs/reset-x/uid-1", Some("nightly@2026")),
            Some(("nightly@2026".into(), "uid-1".into()))
        );
        assert_eq!(identity("", None), None);
        assert_eq!(identity("other/obs/x/u", None), None);
    }
}
