//! Jobs and datafeeds over time: ingest grows the counts and reset clears them, open and start
//! answer once done and show opening and starting meanwhile, every update is audited.

use super::*;

#[tokio::test]
async fn datafeed_grows_counts_and_reset_clears_them() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    let u = sim.url();
    put_job(&sim, &c, "j").await;
    put_datafeed(&sim, &c, "j").await;
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/datafeeds/datafeed-j/_start"),
        None,
    )
    .await;
    assert_error(&a, 409, "status_exception");
    call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/j/_open"),
        None,
    )
    .await;
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/datafeeds/datafeed-j/_start"),
        Some(json!({"start": "2024-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(a.body["started"], true);
    assert!(
        ctl.wait_for(
            |c| c.job("j").unwrap().processed_record_count > 100,
            Duration::from_secs(10)
        )
        .await
    );
    let g = call(&c, "GET", format!("{u}/_ml/anomaly_detectors/j"), None).await;
    assert_eq!(
        g.body["jobs"][0]["datafeed_config"]["datafeed_id"],
        "datafeed-j"
    );
    let s = call(
        &c,
        "GET",
        format!("{u}/_ml/datafeeds/datafeed-j/_stats"),
        None,
    )
    .await;
    assert_eq!(s.body["datafeeds"][0]["state"], "started");
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/j/_reset"),
        None,
    )
    .await;
    assert_error(&a, 409, "status_exception");
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/j/_close"),
        None,
    )
    .await;
    assert_eq!(a.body["closed"], true);
    let j = ctl.job("j").unwrap();
    assert!(j.processed_record_count > 0 && j.model_snapshot_id.is_some());
    let t = async_reset(&sim, &c, "j").await;
    assert_eq!(
        follow(&sim, &c, &t).await.body["response"]["acknowledged"],
        true
    );
    let s = call(
        &c,
        "GET",
        format!("{u}/_ml/anomaly_detectors/j/_stats"),
        None,
    )
    .await;
    assert_eq!(
        s.body["jobs"][0]["data_counts"]["processed_record_count"],
        0
    );
    let j = ctl.job("j").unwrap();
    assert_eq!(
        (
            j.processed_record_count,
            j.model_snapshot_id,
            j.latest_record_timestamp
        ),
        (0, None, None)
    );
    let a = call(
        &c,
        "POST",
        format!("{u}/_ml/datafeeds/datafeed-j/_stop?force=true"),
        None,
    )
    .await;
    assert_eq!(a.body["stopped"], true);
    let d = call(&c, "DELETE", format!("{u}/_ml/anomaly_detectors/j"), None).await;
    assert_error(&d, 409, "status_exception");
    assert_eq!(
        d.reason(),
        "Cannot delete job [j] because datafeed [datafeed-j] refers to it"
    );
    let d = call(&c, "DELETE", format!("{u}/_ml/datafeeds/datafeed-j"), None).await;
    assert_eq!(d.body["acknowledged"], true);
    let d = call(&c, "GET", format!("{u}/_ml/datafeeds/datafeed-j"), None).await;
    assert_error(&d, 404, "resource_not_found_exception");
}

/// A POST left to answer while the test looks elsewhere.
fn in_background(c: &reqwest::Client, url: String) -> tokio::task::JoinHandle<Answer> {
    let c = c.clone();
    tokio::spawn(async move { call(&c, "POST", url, None).await })
}

/// Polls `url` until `field` of its first entry under `list` is `want`, within 10 s.
async fn until_state(c: &reqwest::Client, url: String, list: &str, want: &str) -> bool {
    let look = async {
        loop {
            let s = call(c, "GET", url.clone(), None).await;
            if s.body[list][0]["state"] == want {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), look)
        .await
        .is_ok()
}

#[tokio::test]
async fn open_and_start_answer_once_done_and_show_opening_and_starting_meanwhile() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    let u = sim.url();
    put_job(&sim, &c, "j").await;
    put_datafeed(&sim, &c, "j").await;
    ctl.set_open_duration(Duration::from_millis(400));
    ctl.set_start_duration(Duration::from_millis(400));
    let open = in_background(&c, format!("{u}/_ml/anomaly_detectors/j/_open"));
    let stats = format!("{u}/_ml/anomaly_detectors/j/_stats");
    assert!(until_state(&c, stats.clone(), "jobs", "opening").await);
    // A datafeed may start while its job opens; a second open is refused meanwhile.
    let again = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/j/_open"),
        None,
    )
    .await;
    assert_error(&again, 409, "status_exception");
    let o = open.await.expect("open task");
    assert_eq!(o.body["opened"], true, "{}", o.body);
    assert_eq!(ctl.job("j").map(|j| j.state).as_deref(), Some("opened"));

    let start = in_background(&c, format!("{u}/_ml/datafeeds/datafeed-j/_start"));
    let dstats = format!("{u}/_ml/datafeeds/datafeed-j/_stats");
    assert!(until_state(&c, dstats.clone(), "datafeeds", "starting").await);
    let again = call(
        &c,
        "POST",
        format!("{u}/_ml/datafeeds/datafeed-j/_start"),
        None,
    )
    .await;
    assert_error(&again, 409, "status_exception");
    let s = start.await.expect("start task");
    assert_eq!(s.body["started"], true, "{}", s.body);
    let now = call(&c, "GET", dstats, None).await;
    assert_eq!(now.body["datafeeds"][0]["state"], "started");
}

#[tokio::test]
async fn every_update_is_audited_in_the_jobs_messages() {
    let (sim, c) = sim().await;
    let u = sim.url();
    put_job(&sim, &c, "j").await;
    let up = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/j/_update"),
        Some(json!({"custom_settings": {"a": 1}})),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let m = call(&c, "GET", format!("{u}/_sim/jobs/j/messages"), None).await;
    assert_eq!(
        m.body["messages"],
        json!(["Job created", "Job updated: [custom_settings]"])
    );
}
