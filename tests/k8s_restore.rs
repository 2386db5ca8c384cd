//! `spec.restore` end to end on the shared test bed: an opened job with a started datafeed
//! is reset and put back (the simulator's log shows the datafeed's start parameter), a
//! SIGKILL right after the reopen restores it exactly once, a job caught `opening` with its
//! datafeed `starting` is put back too, and a failed reset restores nothing. Does I/O (Kubernetes, loopback HTTP, processes).

mod common;

use common::{Operator, World};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::Phase;
use serde_json::json;
use std::time::Duration;

/// The successful calls of `endpoint` the simulator logged, with their query strings.
fn calls(w: &World, endpoint: Endpoint) -> Vec<String> {
    w.ctl()
        .requests()
        .iter()
        .filter(|r| r.endpoint == endpoint && r.status == 200)
        .map(|r| r.query.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opened_job_and_its_datafeed_are_put_back_after_the_reset() {
    let w = World::new("restore", SimConfig::default()).await;
    w.job_with_running_datafeed("live-job").await;
    w.create(
        "reset-live",
        json!({"jobId": "live-job", "restore": {"state": "Previous"}}),
    )
    .await;
    let s = w.completed("reset-live").await;
    assert_eq!(
        (
            s.job_state_before.as_deref(),
            s.datafeed_state_before.as_deref()
        ),
        (Some("opened"), Some("started")),
        "{s:#?}"
    );
    assert_eq!(
        (
            s.job_state_after.as_deref(),
            s.datafeed_state_after.as_deref()
        ),
        (Some("opened"), Some("started")),
        "{s:#?}"
    );
    assert_eq!(w.accepted_resets("live-job"), 1);
    let job = w.ctl().job("live-job").expect("job");
    assert_eq!(job.state, "opened");
    // From the earliest data, the default: a reset job analyses its data again.
    assert_eq!(
        calls(&w, Endpoint::DatafeedStart)
            .last()
            .map(String::as_str),
        Some("start=0")
    );
    w.wait_event("reset-live", "Restoring").await;

    // `Now`, and by default nothing is restored.
    w.job_with_running_datafeed("now-job").await;
    w.job_with_running_datafeed("left-job").await;
    w.create(
        "reset-now",
        json!({"jobId": "now-job", "restore": {"state": "Previous", "datafeedStart": "Now"}}),
    )
    .await;
    w.create("reset-left", json!({"jobId": "left-job"})).await;
    w.completed("reset-now").await;
    let s = w.completed("reset-left").await;
    assert_eq!(s.job_state_after, None);
    assert_eq!(
        w.ctl().job("left-job").map(|j| j.state).as_deref(),
        Some("closed")
    );
    let starts = calls(&w, Endpoint::DatafeedStart);
    assert!(starts.iter().any(|q| q == "start=now"), "{starts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reset_restores_nothing() {
    let w = World::new("restore-failed", SimConfig::default()).await;
    w.job_with_running_datafeed("refused-job").await;
    // Elasticsearch refuses the reset for good, after the close.
    let refused = json!({"error": {"type": "illegal_argument_exception",
        "reason": "request [/_ml/anomaly_detectors/refused-job/_reset] contains unrecognized parameter"},
        "status": 400});
    w.ctl().fail_next(Endpoint::JobReset, 1000, 400, refused);
    w.create(
        "reset-refused",
        json!({"jobId": "refused-job", "restore": {"state": "Previous"}}),
    )
    .await;
    let s = w.terminal("reset-refused").await;
    assert_eq!(s.phase, Phase::Failed, "{s:#?}");
    assert_eq!(s.job_state_after, None);
    assert!(calls(&w, Endpoint::JobOpen).is_empty());
    assert!(calls(&w, Endpoint::DatafeedStart).is_empty());
    assert_eq!(
        w.ctl().job("refused-job").map(|j| j.state).as_deref(),
        Some("closed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs --features crash-points"
)]
async fn a_sigkill_right_after_the_reopen_restores_exactly_once() {
    let w = World::bare("restore-crash", SimConfig::default()).await;
    w.job_with_running_datafeed("kill-job").await;
    w.create(
        "reset-kill",
        json!({"jobId": "kill-job", "restore": {"state": "Previous"}}),
    )
    .await;
    let mut first = Operator::spawn(w.bed, &w.ns, Some("after-reopen"), "first").await;
    let exit = first.exited().await;
    assert!(!exit.success(), "log:\n{}", first.log_text());
    let before = w
        .api
        .get("reset-kill")
        .await
        .expect("get")
        .status
        .unwrap_or_default();
    assert_eq!(before.phase, Phase::Restoring, "{before:#?}");
    assert_eq!(before.job_state_after, None, "the reopen was not recorded");

    let mut second = Operator::spawn(w.bed, &w.ns, None, "second").await;
    let s = w.completed("reset-kill").await;
    second.kill().await;
    assert_eq!(s.datafeed_state_after.as_deref(), Some("started"), "{s:#?}");
    assert_eq!(w.accepted_resets("kill-job"), 1);
    assert_eq!(calls(&w, Endpoint::JobOpen).len(), 1, "opened once");
    assert_eq!(calls(&w, Endpoint::DatafeedStart).len(), 1, "started once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_caught_opening_with_its_datafeed_starting_is_put_back_too() {
    let w = World::new("restore-opening", SimConfig::default()).await;
    let ctl = w.ctl();
    let mut seed = common::seed("rising-job", "closed", true);
    for d in &mut seed.datafeeds {
        d.started = false;
    }
    ctl.apply_seed(&seed).expect("seed job");
    // Someone opened the job and started its datafeed a moment ago; both are on their way.
    ctl.set_open_duration(Duration::from_secs(60));
    ctl.set_start_duration(Duration::from_secs(60));
    let es = w.sim.url();
    let http = reqwest::Client::new();
    let open = http
        .post(format!("{es}/_ml/anomaly_detectors/rising-job/_open"))
        .send();
    // Left running: it answers when its minute is up, long after the run.
    tokio::spawn(open);
    let opening = ctl
        .wait_for(
            |c| c.job("rising-job").is_some_and(|j| j.state == "opening"),
            common::DEADLINE,
        )
        .await;
    assert!(opening, "the job never showed opening");
    tokio::spawn(
        http.post(format!("{es}/_ml/datafeeds/datafeed-rising-job/_start"))
            .send(),
    );
    let stats = format!("{es}/_ml/datafeeds/datafeed-rising-job/_stats");
    let starting = tokio::time::timeout(common::DEADLINE, async {
        loop {
            let body: serde_json::Value = match http.get(&stats).send().await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => serde_json::Value::Null,
            };
            if body["datafeeds"][0]["state"] == "starting" {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(starting.is_ok(), "the datafeed never showed starting");
    w.create(
        "reset-rising",
        json!({"jobId": "rising-job", "restore": {"state": "Previous"}}),
    )
    .await;
    w.wait("reset-rising", "the state before", |s| {
        s.datafeed_state_before.is_some()
    })
    .await;
    // The operator's own open and start need not wait the minute.
    ctl.set_open_duration(Duration::ZERO);
    ctl.set_start_duration(Duration::ZERO);
    let s = w.completed("reset-rising").await;
    assert_eq!(s.job_state_before.as_deref(), Some("opening"), "{s:#?}");
    assert_eq!(
        s.datafeed_state_before.as_deref(),
        Some("starting"),
        "{s:#?}"
    );
    assert_eq!(
        (
            s.job_state_after.as_deref(),
            s.datafeed_state_after.as_deref()
        ),
        (Some("opened"), Some("started")),
        "{s:#?}"
    );
    assert_eq!(w.accepted_resets("rising-job"), 1);
    assert_eq!(
        ctl.job("rising-job").map(|j| j.state).as_deref(),
        Some("opened")
    );
    // Each ledger write shows in the job's messages, as Kibana would list them.
    let updates = ctl
        .job_messages("rising-job")
        .iter()
        .filter(|m| *m == "Job updated: [custom_settings]")
        .count();
    assert_eq!(updates, 2, "{:?}", ctl.job_messages("rising-job"));
}
