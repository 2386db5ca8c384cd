//! The job's ledger end to end on the shared test bed: a JobReset deleted after it finished
//! and created again from the same manifest ends AlreadyApplied with no write to the job,
//! Kibana's keys in `custom_settings` survive every write, and a SIGKILL between the
//! `started` entry and the reset request ends with exactly one reset. Does I/O (Kubernetes,
//! loopback HTTP, processes).

mod common;

use common::{DEADLINE, Operator, World, job_body};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::Phase;
use kube::api::DeleteParams;
use kube::runtime::wait::{await_condition, conditions::is_deleted};
use serde_json::{Value, json};

fn kibana_keys() -> Value {
    json!({"custom_urls": [{"url_name": "Dashboard", "url_value": "dashboards#/view/x"}],
           "created_by": "ml-module-sample", "job_tags": {"team": "web"}})
}

/// The job's `custom_settings`, read through the Elasticsearch API as any client would.
async fn custom_settings(w: &World, job: &str) -> Value {
    let url = format!("{}/_ml/anomaly_detectors/{job}", w.sim.url());
    let body: Value = reqwest::get(url)
        .await
        .expect("GET job")
        .json()
        .await
        .expect("JSON");
    body["jobs"][0]["custom_settings"].clone()
}

fn writes_to(w: &World, job: &str) -> Vec<String> {
    w.ctl()
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains(&format!("/{job}/")))
        .filter(|r| r.endpoint != Endpoint::Control)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobreset_created_again_finds_its_reset_in_the_ledger() {
    let w = World::new("ledger", SimConfig::default()).await;
    let mut body = job_body();
    body["custom_settings"] = kibana_keys();
    w.ctl().put_job("book-job", body).expect("put job");
    let first = w.create("reset-book", json!({"jobId": "book-job"})).await;
    let s = w.completed("reset-book").await;
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"), "{s:#?}");
    let settings = custom_settings(&w, "book-job").await;
    for key in ["custom_urls", "created_by", "job_tags"] {
        assert_eq!(
            settings[key],
            kibana_keys()[key],
            "{key} survived: {settings}"
        );
    }
    let runs = &settings["jobreset_k8s_io"]["runs"];
    assert_eq!(runs[0]["key"], format!("{}/reset-book", w.ns), "{settings}");
    assert_eq!(runs[0]["state"], "succeeded", "{settings}");
    assert_eq!(runs[0]["task"].as_str(), s.task_id.as_deref());

    // Deleted (a prune, a namespace restored without status) and applied again.
    let uid = first.metadata.uid.clone().unwrap_or_default();
    w.api
        .delete("reset-book", &DeleteParams::default())
        .await
        .expect("delete");
    let gone = tokio::time::timeout(
        DEADLINE,
        await_condition(w.api.clone(), "reset-book", is_deleted(&uid)),
    )
    .await;
    assert!(matches!(gone, Ok(Ok(_))), "{gone:?}");
    let before = writes_to(&w, "book-job").len();
    w.create("reset-book", json!({"jobId": "book-job"})).await;
    let s = w.terminal("reset-book").await;
    assert_eq!(s.phase, Phase::Completed, "{s:#?}");
    assert_eq!(s.reason.as_deref(), Some("AlreadyApplied"), "{s:#?}");
    let after = writes_to(&w, "book-job");
    assert_eq!(
        after.len(),
        before,
        "writes to the job: {:?}",
        &after[before..]
    );
    assert_eq!(w.accepted_resets("book-job"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn a_sigkill_between_the_started_entry_and_the_reset_resets_once() {
    let w = World::bare("ledger-crash", SimConfig::default()).await;
    w.job_with_data("crash-book", "closed");
    w.create("reset-crash-book", json!({"jobId": "crash-book"}))
        .await;
    let mut first = Operator::spawn(w.bed, &w.ns, Some("after-ledger-write"), "first").await;
    let exit = first.exited().await;
    assert!(!exit.success(), "log:\n{}", first.log_text());
    assert_eq!(
        w.accepted_resets("crash-book"),
        0,
        "it died before the reset"
    );
    let settings = custom_settings(&w, "crash-book").await;
    assert_eq!(
        settings["jobreset_k8s_io"]["runs"][0]["state"], "started",
        "{settings}"
    );

    let mut second = Operator::spawn(w.bed, &w.ns, None, "second").await;
    let s = w.completed("reset-crash-book").await;
    second.kill().await;
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"), "{s:#?}");
    assert_eq!(w.accepted_resets("crash-book"), 1);
    let settings = custom_settings(&w, "crash-book").await;
    let runs = settings["jobreset_k8s_io"]["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(runs.len(), 1, "{settings}");
    assert_eq!(runs[0]["state"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn a_sigkill_between_the_recorded_success_and_its_status_ends_as_recorded() {
    // A success is written to the job with no status write before it: the entry is the
    // run's record, and the operator restarted past the run's deadline (which would fail it
    // with DeadlineExceeded) ends the run by it, without writing again.
    let w = World::bare("ledger-done-crash", SimConfig::default()).await;
    w.job_with_data("done-book", "closed");
    // Long enough for the first run to reach its end, even on a busy machine.
    let deadline = 60;
    w.create(
        "reset-done-book",
        json!({"jobId": "done-book", "deadlineSeconds": deadline}),
    )
    .await;
    let mut first = Operator::spawn(
        w.bed,
        &w.ns,
        Some("after-completion-before-status"),
        "first",
    )
    .await;
    let exit = first.exited().await;
    assert!(!exit.success(), "log:\n{}", first.log_text());
    let before = w
        .api
        .get("reset-done-book")
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    // Status as the task id's write left it: no write announced the outcome.
    assert_eq!(
        (before.phase, before.reason.as_deref()),
        (Phase::Resetting, Some("ResetStarted")),
        "{before:#?}"
    );
    let settings = custom_settings(&w, "done-book").await;
    assert_eq!(
        settings["jobreset_k8s_io"]["runs"][0]["state"], "succeeded",
        "{settings}"
    );
    let updates = w.ctl().count(Endpoint::JobUpdate);
    // The condition under test is the clock past the deadline: the status is made to say
    // the run started longer ago than that, rather than waiting for it.
    let long_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(deadline + 60);
    let started = json!({"status": {"startTime": long_ago.to_string()}});
    w.api
        .patch_status(
            "reset-done-book",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&started),
        )
        .await
        .expect("move the start time back");

    let mut second = Operator::spawn(w.bed, &w.ns, None, "second").await;
    let s = w.completed("reset-done-book").await;
    second.kill().await;
    assert_eq!(s.ledger_state.as_deref(), Some("succeeded"), "{s:#?}");
    assert!(
        s.message
            .as_deref()
            .is_some_and(|m| m.contains("as the job's ledger recorded at")),
        "{s:#?}"
    );
    assert_eq!(w.accepted_resets("done-book"), 1);
    assert_eq!(
        w.ctl().count(Endpoint::JobUpdate),
        updates,
        "the recorded outcome is not written again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_ledger_write_warns_or_with_required_stops_before_the_reset() {
    let w = World::new("ledger-refused", SimConfig::default()).await;
    w.job_with_data("warn-book", "closed");
    w.job_with_data("strict-book", "closed");
    let refused = json!({"error": {"type": "illegal_argument_exception", "reason": "custom_settings rejected"}, "status": 400});
    w.ctl().fail_next(Endpoint::JobUpdate, 1000, 400, refused);
    w.create("reset-warn", json!({"jobId": "warn-book"})).await;
    let s = w.completed("reset-warn").await;
    assert_eq!(s.ledger_state.as_deref(), Some("unrecorded"), "{s:#?}");
    let recorded = s.condition("Recorded").expect("Recorded condition");
    assert_eq!(
        (recorded.status.as_str(), recorded.reason.as_str()),
        ("False", "LedgerWriteFailed")
    );
    w.wait_event("reset-warn", "LedgerWriteFailed").await;
    assert_eq!(w.accepted_resets("warn-book"), 1);

    w.create(
        "reset-strict",
        json!({"jobId": "strict-book", "ledger": "Required"}),
    )
    .await;
    let s = w.failed("reset-strict", "LedgerWriteFailed").await;
    assert!(s.message.unwrap_or_default().contains("nothing was reset"));
    assert_eq!(w.accepted_resets("strict-book"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reset_is_recorded_failed_and_the_same_manifest_then_resets() {
    let w = World::new("ledger-failed", SimConfig::default()).await;
    w.job_with_data("refused-job", "closed");
    let refused = json!({"error": {"type": "illegal_argument_exception",
        "reason": "request [/_ml/anomaly_detectors/refused-job/_reset] contains unrecognized parameter"},
        "status": 400});
    w.ctl().fail_next(Endpoint::JobReset, 1000, 400, refused);
    let first = w
        .create("reset-refused", json!({"jobId": "refused-job"}))
        .await;
    let s = w.terminal("reset-refused").await;
    assert_eq!(s.phase, Phase::Failed, "{s:#?}");
    assert_eq!(s.ledger_state.as_deref(), Some("failed"), "{s:#?}");
    let settings = custom_settings(&w, "refused-job").await;
    let runs = &settings["jobreset_k8s_io"]["runs"];
    assert_eq!(runs[0]["state"], "failed", "{settings}");
    assert_eq!(
        runs[0]["reason"].as_str(),
        s.reason.as_deref(),
        "{settings}"
    );

    // The cause fixed, the JobReset deleted and applied again: the failed run is no reason
    // to refuse (a `started` entry left behind would have made it Ambiguous).
    w.ctl().clear_faults();
    let uid = first.metadata.uid.clone().unwrap_or_default();
    w.api
        .delete("reset-refused", &DeleteParams::default())
        .await
        .expect("delete");
    let gone = tokio::time::timeout(
        DEADLINE,
        await_condition(w.api.clone(), "reset-refused", is_deleted(&uid)),
    )
    .await;
    assert!(matches!(gone, Ok(Ok(_))), "{gone:?}");
    w.create("reset-refused", json!({"jobId": "refused-job"}))
        .await;
    let s = w.completed("reset-refused").await;
    assert_eq!(s.reason.as_deref(), Some("ResetCompleted"), "{s:#?}");
    assert_eq!(w.accepted_resets("refused-job"), 1);
    w.assert_job_reset("refused-job");
}
