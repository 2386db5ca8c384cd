//! A real cluster stores `events.k8s.io/v1` and core/v1 Events as one resource. Here the
//! events.k8s.io CRD is the only storage and core/v1 Events are a view of it: this module maps
//! objects, patches and field selectors between the two forms (the field mapping Kubernetes
//! uses) and renders the core Event table. No I/O.

use serde_json::{Map, Value, json};

/// core/v1 field → events.k8s.io/v1 field, for the fields whose names differ.
const RENAMES: [(&str, &str); 7] = [
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("count", "deprecatedCount"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("reportingComponent", "reportingController"),
];

fn to_events_name(core: &str) -> &str {
    RENAMES
        .iter()
        .find(|(c, _)| *c == core)
        .map_or(core, |(_, e)| e)
}

/// The core/v1 form of an `events.k8s.io/v1` Event. What an events.k8s.io writer leaves out
/// (`source`, `count`, the timestamps) is derived as kube-apiserver's conversion and
/// `kubectl describe` expect.
pub fn to_core(ev: &Value) -> Value {
    let get = |k: &str| ev.get(k).cloned().unwrap_or(Value::Null);
    let source = match ev.get("deprecatedSource") {
        Some(s) if s.is_object() => s.clone(),
        _ => json!({"component": get("reportingController")}),
    };
    let count = match ev.get("deprecatedCount") {
        Some(c) if c.is_number() => c.clone(),
        _ => ev.pointer("/series/count").cloned().unwrap_or(json!(1)),
    };
    let last = match ev.get("deprecatedLastTimestamp") {
        Some(t) if t.is_string() => t.clone(),
        _ => ev
            .pointer("/series/lastObservedTime")
            .cloned()
            .unwrap_or_else(|| get("eventTime")),
    };
    let first = match ev.get("deprecatedFirstTimestamp") {
        Some(t) if t.is_string() => t.clone(),
        _ => get("eventTime"),
    };
    let mut core = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": ev.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "involvedObject": ev.get("regarding").cloned().filter(Value::is_object).unwrap_or_else(|| json!({})),
        "related": get("related"),
        "reason": get("reason"),
        "message": get("note"),
        "type": get("type"),
        "action": get("action"),
        "eventTime": get("eventTime"),
        "series": get("series"),
        "reportingComponent": get("reportingController"),
        "reportingInstance": get("reportingInstance"),
        "source": source,
        "firstTimestamp": first,
        "lastTimestamp": last,
        "count": count,
    });
    if let Value::Object(m) = &mut core {
        m.retain(|_, v| !v.is_null());
    }
    core
}

/// The events.k8s.io form of a core Event a client writes (create or update): fields renamed,
/// and an `eventTime` (required by events.k8s.io) taken from the core timestamps, or `now`,
/// when the writer set none, as old core-Event clients do.
pub fn from_core(core: &Value, now: &str) -> Value {
    let Value::Object(fields) = core else {
        return core.clone();
    };
    let mut out = rename_keys(fields);
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    if out.get("eventTime").is_none_or(Value::is_null) {
        let t = ["deprecatedFirstTimestamp", "deprecatedLastTimestamp"]
            .iter()
            .find_map(|k| out.get(*k).filter(|v| v.is_string()).cloned())
            .unwrap_or_else(|| json!(now));
        out.insert("eventTime".into(), t);
    }
    Value::Object(out)
}

fn rename_keys(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| (to_events_name(k).to_string(), v.clone()))
        .collect()
}

/// A merge (or strategic merge) patch or apply body in core field names, in events.k8s.io
/// ones: the renamed fields are all top-level, and their contents have the same shape.
pub fn patch_from_core(patch: &Value) -> Value {
    let Value::Object(fields) = patch else {
        return patch.clone();
    };
    let mut out = rename_keys(fields);
    if out.get("apiVersion").and_then(Value::as_str) == Some("v1") {
        out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    }
    Value::Object(out)
}

/// A JSON patch's paths (`/message`, `/involvedObject/name`, …) in events.k8s.io names.
pub fn json_patch_from_core(patch: &Value) -> Value {
    let Value::Array(ops) = patch else {
        return patch.clone();
    };
    let path = |p: &str| -> String {
        let rest = p.strip_prefix('/').unwrap_or(p);
        match rest.split_once('/') {
            Some((head, tail)) => format!("/{}/{tail}", to_events_name(head)),
            None => format!("/{}", to_events_name(rest)),
        }
    };
    let ops = ops
        .iter()
        .map(|op| {
            let mut op = op.clone();
            for k in ["path", "from"] {
                if let Some(p) = op.get(k).and_then(Value::as_str).map(path) {
                    op[k] = json!(p);
                }
            }
            op
        })
        .collect();
    Value::Array(ops)
}

/// A core Event field selector in events.k8s.io field names (`involvedObject.name=w` →
/// `regarding.name=w`). Escaped characters in values (`\,`, `\=`) are kept as they are.
pub fn field_selector_from_core(sel: &str) -> String {
    let mut out = String::with_capacity(sel.len());
    let mut term_start = true;
    let mut chars = sel.chars().peekable();
    while let Some(c) = chars.next() {
        if term_start {
            term_start = false;
            let mut key = String::from(c);
            while let Some(&n) = chars.peek() {
                if matches!(n, '=' | '!' | ',') {
                    break;
                }
                key.push(n);
                chars.next();
            }
            out.push_str(&field_from_core(&key));
            continue;
        }
        out.push(c);
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            ',' => term_start = true,
            _ => {}
        }
    }
    out
}

fn field_from_core(key: &str) -> String {
    let trimmed = key.trim();
    if let Some(rest) = trimmed.strip_prefix("involvedObject.") {
        return format!("regarding.{rest}");
    }
    match trimmed {
        "reportingComponent" => "reportingController".into(),
        _ => key.to_string(),
    }
}

/// The columns kube-apiserver's CRD tables gave the core Event kind here (Name first).
pub fn table_columns() -> Value {
    let col = |name: &str, ty: &str, format: &str, desc: &str| json!({"name": name, "type": ty, "format": format, "description": desc, "priority": 0});
    json!([
        col(
            "Name",
            "string",
            "name",
            "Name must be unique within a namespace."
        ),
        col(
            "Last Seen",
            "date",
            "",
            "The time at which the most recent occurrence of this event was recorded."
        ),
        col(
            "Type",
            "string",
            "",
            "Type of this event (Normal, Warning), new types could be added in the future"
        ),
        col(
            "Reason",
            "string",
            "",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."
        ),
        col("Object", "string", "", "Name of the referent."),
        col(
            "Message",
            "string",
            "",
            "A human-readable description of the status of this operation."
        ),
    ])
}

/// The cells of one core Event's table row; `now` in Unix seconds ages "Last Seen".
pub fn table_cells(core: &Value, now: i64) -> Value {
    let s = |p: &str| core.pointer(p).cloned().unwrap_or(Value::Null);
    let last = core
        .get("lastTimestamp")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or(Value::Null, |t| {
            json!(human_duration(now.saturating_sub(t.as_second())))
        });
    json!([
        s("/metadata/name"),
        last,
        s("/type"),
        s("/reason"),
        s("/involvedObject/name"),
        s("/message")
    ])
}

/// apimachinery's `duration.HumanDuration` (what `date` table cells show), on whole seconds.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    let with = |big: i64, unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{unit}")
        } else {
            format!("{big}{unit}{small}{small_unit}")
        }
    };
    if minutes < 10 {
        return with(minutes, "m", secs % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        return with(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if hours < 24 * 8 {
        return with(days, "d", hours % 24, "h");
    }
    if hours < 24 * 365 * 2 {
        return format!("{days}d");
    }
    if hours < 24 * 365 * 8 {
        return with(days / 365, "y", days % 365, "d");
    }
    format!("{}y", days / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_fields_kubectl_describe_shows() {
        let ev = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "w.1", "namespace": "ns", "resourceVersion": "7", "uid": "u"},
            "eventTime": "2026-01-01T00:00:00.000001Z",
            "regarding": {"kind": "Widget", "name": "w", "namespace": "ns"},
            "reason": "Reset", "note": "job reset", "type": "Normal", "action": "Reset",
            "reportingController": "ctl", "reportingInstance": "i1",
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:01:00.000001Z"}
        });
        let core = to_core(&ev);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["metadata"]["resourceVersion"], "7");
        assert_eq!(core["involvedObject"]["name"], "w");
        assert_eq!(core["message"], "job reset");
        assert_eq!(core["source"]["component"], "ctl");
        assert_eq!(core["count"], 3);
        assert_eq!(core["firstTimestamp"], "2026-01-01T00:00:00.000001Z");
        assert_eq!(core["lastTimestamp"], "2026-01-01T00:01:00.000001Z");
        assert!(core.get("related").is_none());
    }

    #[test]
    fn a_core_event_written_reads_back_the_same() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": "ns"},
            "involvedObject": {"kind": "ConfigMap", "name": "a"},
            "reason": "Tested", "message": "core event", "type": "Normal",
            "source": {"component": "me"}, "count": 2,
            "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:05:00Z"
        });
        let ev = from_core(&core, "2026-02-02T00:00:00.000000Z");
        assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
        assert_eq!(ev["regarding"]["name"], "a");
        assert_eq!(ev["note"], "core event");
        assert_eq!(ev["deprecatedCount"], 2);
        assert_eq!(ev["eventTime"], "2026-01-01T00:00:00Z");
        let back = to_core(&ev);
        for k in [
            "involvedObject",
            "reason",
            "message",
            "type",
            "source",
            "count",
            "firstTimestamp",
            "lastTimestamp",
        ] {
            assert_eq!(back[k], core[k], "{k}");
        }
        let bare = from_core(&json!({"metadata": {"name": "x"}}), "2026-02-02T00:00:00Z");
        assert_eq!(bare["eventTime"], "2026-02-02T00:00:00Z");
    }

    #[test]
    fn patches_and_selectors_use_events_names() {
        let p = patch_from_core(&json!({"count": 3, "message": "m", "metadata": {"labels": {}}}));
        assert_eq!(
            p,
            json!({"deprecatedCount": 3, "note": "m", "metadata": {"labels": {}}})
        );
        let j = json_patch_from_core(&json!([
            {"op": "replace", "path": "/involvedObject/name", "value": "b"},
            {"op": "replace", "path": "/count", "value": 2},
            {"op": "move", "from": "/message", "path": "/reason"}
        ]));
        assert_eq!(j[0]["path"], "/regarding/name");
        assert_eq!(j[1]["path"], "/deprecatedCount");
        assert_eq!(j[2]["from"], "/note");
        assert_eq!(j[2]["path"], "/reason");
        assert_eq!(
            field_selector_from_core(
                "involvedObject.name=w,involvedObject.uid!=x\\,y,reportingComponent==c,type=Normal"
            ),
            "regarding.name=w,regarding.uid!=x\\,y,reportingController==c,type=Normal"
        );
    }

    #[test]
    fn ages_read_as_kubectl_shows_them() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(600), "10m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(10 * 3600), "10h");
        assert_eq!(human_duration(3 * 86400), "3d");
        assert_eq!(human_duration(30 * 86400), "30d");
    }
}
