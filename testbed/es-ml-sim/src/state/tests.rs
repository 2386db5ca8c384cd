//! The state rules, table by table: ids, bodies, reset checks, tasks, datafeeds. No I/O.

use serde_json::json;

use super::*;

fn st() -> State {
    let mut s = State::new(Version::new(8, 15, 0), "abcdefghijklmnopqrstuv".into());
    for id in ["a", "b", "web-1"] {
        let mut body = default_job_body();
        if id == "web-1" {
            body["groups"] = json!(["web"]);
        }
        s.put_job(id, &body, "", Now::default()).unwrap();
    }
    s
}

#[test]
fn ids_validate() {
    assert!(valid_id("a-b_c.1"));
    assert!(!valid_id("A"));
    assert!(!valid_id("-a"));
    assert!(!valid_id("a*"));
    assert!(validate_id("job_id", &"a".repeat(65)).is_err());
}

#[test]
fn expansion_rules() {
    let s = st();
    assert_eq!(s.expand_jobs("_all", true).unwrap().len(), 3);
    assert_eq!(s.expand_jobs("", true).unwrap().len(), 3);
    assert_eq!(s.expand_jobs("web", true).unwrap(), vec!["web-1"]);
    assert_eq!(s.expand_jobs("a,b", true).unwrap(), vec!["a", "b"]);
    assert_eq!(s.expand_jobs("w*", true).unwrap(), vec!["web-1"]);
    assert!(s.expand_jobs("z*", true).unwrap().is_empty());
    assert_eq!(s.expand_jobs("z*", false).unwrap_err().status, 404);
    assert_eq!(
        s.expand_jobs("a,zz", true).unwrap_err().reason,
        "No known job with id 'zz'"
    );
}

#[test]
fn put_job_errors() {
    let mut s = st();
    let e = s
        .put_job("a", &default_job_body(), "", Now::default())
        .unwrap_err();
    assert_eq!(e.kind, "resource_already_exists_exception");
    let e = s
        .put_job("Bad", &default_job_body(), "", Now::default())
        .unwrap_err();
    assert_eq!(e.kind, "illegal_argument_exception");
    let e = s
        .put_job("c", &json!({"data_description": {}}), "", Now::default())
        .unwrap_err();
    assert_eq!(e.reason, "An analysis_config must be set");
    let raw = r#"{"foo": 1}"#;
    let e = s
        .put_job("c", &json!({"foo": 1}), raw, Now::default())
        .unwrap_err();
    assert_eq!(e.reason, "[1:2] [job_details] unknown field [foo]");
}

#[test]
fn single_group_string_is_an_array() {
    let mut s = st();
    let mut body = default_job_body();
    body["groups"] = json!("solo");
    let v = s.put_job("c", &body, "", Now::default()).unwrap();
    assert_eq!(v["groups"], json!(["solo"]));
    let v = s.update_job("c", &json!({"groups": "other"}), "").unwrap();
    assert_eq!(v["groups"], json!(["other"]));
    assert!(s.expand_jobs("solo", true).is_err());
    assert_eq!(s.expand_jobs("other", true).unwrap(), vec!["c"]);
}

#[test]
fn reset_checks_follow_table() {
    let mut s = st();
    assert_eq!(s.reset_check("a").unwrap(), ResetCheck::Proceed);
    assert_eq!(s.reset_check("zz").unwrap_err().status, 404);
    s.open_job("a", Now::default(), false).unwrap();
    assert_eq!(
        s.reset_check("a").unwrap_err().reason,
        "Can only reset a job when it is closed."
    );
    s.fail_job("b");
    assert_eq!(s.reset_check("b").unwrap_err().status, 409);
    s.jobs.set_blocked(
        "web-1",
        Some(Blocked {
            reason: "revert".into(),
            task_id: None,
        }),
    );
    assert_eq!(
        s.reset_check("web-1").unwrap_err().reason,
        "cannot reset job while it is blocked with [revert]"
    );
    s.upgrade_mode = true;
    assert_eq!(
        s.reset_check("zz").unwrap_err().reason,
        "cannot reset job while indices are being upgraded"
    );
}

#[test]
fn begin_reset_blocks_with_master_task_and_apply_clears() {
    let mut s = st();
    let parent = s.register_task(
        crate::state::NewTask {
            action: RESET_ACTION,
            description: "job-a".into(),
            headers: BTreeMap::new(),
            parent: None,
            store_result: true,
            job_id: Some("a".into()),
        },
        Now::default(),
    );
    let m = s
        .begin_reset("a", Some(s.task_id(parent)), Now::default())
        .unwrap();
    assert_ne!(m, parent);
    let b = s.jobs.get("a").unwrap().blocked().cloned().unwrap();
    assert_eq!(b.task_id.unwrap(), s.task_id(m));
    assert_eq!(
        s.reset_check("a").unwrap(),
        ResetCheck::WaitFor(Some(s.task_id(m)))
    );
    assert!(
        s.open_job("a", Now::default(), false)
            .unwrap_err()
            .reason
            .contains("executing [reset]")
    );
    s.jobs.get_mut("a").unwrap().model_snapshot_id = Some("1".into());
    s.apply_reset("a", false);
    assert!(
        s.jobs.get("a").unwrap().blocked().is_none()
            && s.jobs.get("a").unwrap().model_snapshot_id.is_none()
    );
    assert_eq!(s.resets_started["a"], 1);
}

#[test]
fn stored_results_omit_cancelled_and_restart_reuses_numbers() {
    let mut s = st();
    let n = s.register_task(
        crate::state::NewTask {
            action: RESET_ACTION,
            description: "job-a".into(),
            headers: BTreeMap::new(),
            parent: None,
            store_result: true,
            job_id: None,
        },
        Now::default(),
    );
    s.finish_task(n, Some(&Ok(json!({"acknowledged": true}))), Now::default());
    let doc = &s.stored[&s.task_id(n)];
    assert!(doc["task"].get("cancelled").is_none());
    assert_eq!(doc["response"]["acknowledged"], true);
    let n2 = s.register_task(
        crate::state::NewTask {
            action: RESET_ACTION,
            description: "job-b".into(),
            headers: BTreeMap::new(),
            parent: None,
            store_result: true,
            job_id: None,
        },
        Now::default(),
    );
    s.restart();
    assert!(s.running.is_empty());
    let n3 = s.register_task(
        crate::state::NewTask {
            action: RESET_ACTION,
            description: "job-b".into(),
            headers: BTreeMap::new(),
            parent: None,
            store_result: true,
            job_id: None,
        },
        Now::default(),
    );
    assert_eq!(n3, 1);
    assert_eq!(n2, 2);
}

#[test]
fn ingest_needs_open_job_and_started_feed() {
    let mut s = st();
    s.put_datafeed("df", &json!({"job_id": "a", "indices": ["x"]}), "")
        .unwrap();
    assert!(s.start_datafeed("df", false).is_err());
    s.open_job("a", Now::default(), false).unwrap();
    s.start_datafeed("df", false).unwrap();
    assert!(s.ingest(
        "df",
        Now {
            wall_ms: 5,
            mono_ns: 0
        }
    ));
    assert_eq!(
        s.jobs.get("a").unwrap().counts.processed_record_count,
        RECORDS_PER_TICK
    );
    s.finish_close(
        "a",
        Now {
            wall_ms: 5000,
            mono_ns: 0,
        },
    );
    assert_eq!(
        s.jobs.get("a").unwrap().model_snapshot_id.as_deref(),
        Some("5")
    );
    assert_eq!(s.datafeeds.get("df").unwrap().state, DatafeedState::Stopped);
}
