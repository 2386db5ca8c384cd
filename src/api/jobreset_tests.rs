//! Tests of `jobreset` (no I/O unless a test says so).

use super::*;
use crate::api::Phase;
use kube::CustomResourceExt;

#[test]
fn schema_carries_the_rules() {
    let crd = serde_json::to_string(&JobReset::crd()).unwrap_or_default();
    assert!(crd.contains(r#""rule":"self.spec == oldSelf.spec""#));
    assert!(crd.contains("create a new JobReset"));
    assert!(crd.contains(r#""rule":"has(self.url) != has(self.elasticsearchRef)""#));
    assert!(crd.contains(r#""maxLength":64"#));
    assert!(crd.contains(r#""x-kubernetes-list-type":"map""#));
    assert!(crd.contains(r#""shortNames":["jr"]"#));
    assert!(crd.contains(r#""categories":["ml"]"#));
}

#[test]
fn every_schema_property_has_a_description() {
    fn walk(path: &str, v: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
            for (k, p) in props {
                let here = format!("{path}.{k}");
                let skip = path.ends_with(".metadata")
                    || here.ends_with(".apiVersion")
                    || here.ends_with(".kind")
                    || here == ".metadata";
                if !skip && p.get("description").is_none() {
                    missing.push(here.clone());
                }
                walk(&here, p, missing);
                if let Some(items) = p.get("items") {
                    walk(&format!("{here}[]"), items, missing);
                }
            }
        }
    }
    let crd = serde_json::to_value(JobReset::crd()).unwrap_or_default();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut missing = vec![];
    walk("", schema, &mut missing);
    assert!(
        missing.is_empty(),
        "fields without a doc comment: {missing:?}"
    );
}

#[test]
fn status_round_trips_in_camel_case() {
    let s = JobResetStatus {
        phase: Phase::Resetting,
        task_id: Some("n:1".into()),
        job_state_before: Some("opened".into()),
        ..Default::default()
    };
    let v = serde_json::to_value(&s).unwrap_or_default();
    assert_eq!(v["phase"], "Resetting");
    assert_eq!(v["taskId"], "n:1");
    assert_eq!(v["jobStateBefore"], "opened");
    assert!(v.get("adopted").is_none(), "false flags are left out");
    let back: JobResetStatus = serde_json::from_value(v).unwrap_or_default();
    assert_eq!(back, s);
}
