//! A real cluster stores `events.k8s.io/v1` and core/v1 Events as one resource, so an event an
//! operator publishes with kube's `Recorder` shows in `kubectl describe`. Here they are two
//! CRDs: every successful write of an `events.k8s.io` Event through the front is mirrored as
//! the equivalent core Event (server-side apply), and deletes follow. HTTP to the apiserver.

use serde_json::{Map, Value, json};

use super::Ctx;
use super::core::GROUP;

const MANAGER: &str = "testbed-events-mirror";

/// The core/v1 form of an `events.k8s.io/v1` Event (the field mapping Kubernetes uses).
pub fn to_core(ev: &Value) -> Option<(String, String, Value)> {
    let name = ev.pointer("/metadata/name")?.as_str()?.to_string();
    let ns = ev.pointer("/metadata/namespace")?.as_str()?.to_string();
    let get = |k: &str| ev.get(k).cloned().unwrap_or(Value::Null);
    let mut meta = Map::new();
    meta.insert("name".into(), json!(name));
    meta.insert("namespace".into(), json!(ns));
    for k in ["labels", "annotations"] {
        if let Some(v) = ev.pointer(&format!("/metadata/{k}")) {
            meta.insert(k.into(), v.clone());
        }
    }
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
    let mut core = json!({
        "apiVersion": format!("{GROUP}/v1"),
        "kind": "Event",
        "metadata": meta,
        "involvedObject": ev.get("regarding").cloned().unwrap_or_else(|| json!({})),
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
        "firstTimestamp": ev.get("deprecatedFirstTimestamp").cloned().unwrap_or_else(|| get("eventTime")),
        "lastTimestamp": last,
        "count": count,
    });
    if let Value::Object(m) = &mut core {
        m.retain(|_, v| !v.is_null());
    }
    Some((ns, name, core))
}

fn url(ctx: &Ctx, ns: &str, name: &str) -> String {
    format!(
        "{}/apis/{GROUP}/v1/namespaces/{ns}/events/{name}",
        ctx.up.base
    )
}

/// Mirrors the Event the apiserver answered with (after create, update or patch).
pub async fn mirror_write(ctx: &Ctx, answer: &[u8]) {
    let Ok(ev) = serde_json::from_slice::<Value>(answer) else {
        return;
    };
    let Some((ns, name, core)) = to_core(&ev) else {
        return;
    };
    let result = ctx
        .up
        .http
        .patch(format!(
            "{}?fieldManager={MANAGER}&force=true",
            url(ctx, &ns, &name)
        ))
        .header("content-type", "application/apply-patch+yaml")
        .body(core.to_string())
        .send()
        .await;
    match result {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(status = %r.status(), "front: mirroring an event"),
        Err(e) => tracing::warn!(error = %e, "front: mirroring an event"),
    }
}

pub async fn mirror_delete(ctx: &Ctx, ns: &str, name: &str) {
    if let Err(e) = ctx.up.http.delete(url(ctx, ns, name)).send().await {
        tracing::warn!(error = %e, "front: mirroring an event deletion");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_fields_kubectl_describe_shows() {
        let ev = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "w.1", "namespace": "ns"},
            "eventTime": "2026-01-01T00:00:00.000001Z",
            "regarding": {"kind": "Widget", "name": "w", "namespace": "ns"},
            "reason": "Reset", "note": "job reset", "type": "Normal", "action": "Reset",
            "reportingController": "ctl", "reportingInstance": "i1",
            "series": {"count": 3, "lastObservedTime": "2026-01-01T00:01:00.000001Z"}
        });
        let (ns, name, core) = to_core(&ev).unwrap();
        assert_eq!((ns.as_str(), name.as_str()), ("ns", "w.1"));
        assert_eq!(core["involvedObject"]["name"], "w");
        assert_eq!(core["message"], "job reset");
        assert_eq!(core["source"]["component"], "ctl");
        assert_eq!(core["count"], 3);
        assert_eq!(core["lastTimestamp"], "2026-01-01T00:01:00.000001Z");
        assert!(core.get("related").is_none());
    }
}
