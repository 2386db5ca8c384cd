//! Scale: 10,000 jobs and 1,000 concurrent long-polls that all complete (no timing assertion).

mod common;
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_jobs_and_a_thousand_long_polls() {
    let (sim, _) = sim_with("8.15.0", 500).await;
    let ctl = sim.control();
    for i in 0..10_000 {
        ctl.put_job(&format!("job-{i}"), job_body()).unwrap();
    }
    let c = reqwest::Client::builder()
        .pool_max_idle_per_host(1_100)
        .build()
        .unwrap();
    let g = call(
        &c,
        "GET",
        format!("{}/_ml/anomaly_detectors/job-999*", sim.url()),
        None,
    )
    .await;
    assert_eq!(g.body["count"], 11);
    // 1,000 async resets, then 1,000 concurrent long-polls on their tasks.
    let mut tasks = Vec::new();
    for i in 0..1_000 {
        tasks.push(async_reset(&sim, &c, &format!("job-{i}")).await);
    }
    let mut polls = tokio::task::JoinSet::new();
    for t in tasks {
        let c = c.clone();
        let url = format!(
            "{}/_tasks/{t}?wait_for_completion=true&timeout=120s",
            sim.url()
        );
        polls.spawn(async move {
            let r = c.get(url).send().await.expect("answered");
            r.json::<serde_json::Value>().await.expect("json")
        });
    }
    let mut acked = 0;
    while let Some(r) = polls.join_next().await {
        if r.unwrap()["response"]["acknowledged"] == true {
            acked += 1;
        }
    }
    assert_eq!(acked, 1_000);
    assert!(
        ctl.wait_for(|c| c.running_tasks() == 0, Duration::from_secs(30))
            .await
    );
    assert_eq!(ctl.job("job-0").unwrap().blocked_reason, None);
}

/// The calls the operator makes about one job (read, stats, update, datafeed stats, close,
/// reset, task poll) look it up by id: none scans the other jobs or datafeeds. Counted, not
/// timed.
#[tokio::test]
async fn per_job_calls_scan_no_other_job() {
    let (sim, c) = sim().await;
    let ctl = sim.control();
    for i in 0..2_000 {
        ctl.put_job(&format!("job-{i}"), job_body()).unwrap();
    }
    for i in 0..50 {
        ctl.put_datafeed(&format!("datafeed-job-{i}"), &format!("job-{i}"))
            .unwrap();
    }
    ctl.open_job("job-7").unwrap();
    ctl.start_datafeed("datafeed-job-7").unwrap();
    let base = sim.url();
    let before = ctl.full_scans();
    let mut answers = vec![
        call(
            &c,
            "GET",
            format!("{base}/_ml/anomaly_detectors/job-7"),
            None,
        )
        .await,
        call(
            &c,
            "GET",
            format!("{base}/_ml/anomaly_detectors/job-7/_stats"),
            None,
        )
        .await,
        call(
            &c,
            "GET",
            format!("{base}/_ml/datafeeds/datafeed-job-7/_stats?allow_no_match=true"),
            None,
        )
        .await,
        call(
            &c,
            "POST",
            format!("{base}/_ml/anomaly_detectors/job-7/_update"),
            Some(serde_json::json!({"custom_settings": {"k": "v"}})),
        )
        .await,
        call(
            &c,
            "POST",
            format!("{base}/_ml/anomaly_detectors/job-7/_close"),
            None,
        )
        .await,
    ];
    let task = async_reset(&sim, &c, "job-7").await;
    answers.push(follow(&sim, &c, &task).await);
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert_eq!(answers[5].body["response"]["acknowledged"], true);
    assert_eq!(ctl.full_scans(), before, "a per-job call scanned every job");
    // Expressions still see every job.
    let g = call(
        &c,
        "GET",
        format!("{base}/_ml/anomaly_detectors/job-1*"),
        None,
    )
    .await;
    assert_eq!(g.body["count"], 1_111);
    assert!(ctl.full_scans() > before);
}
