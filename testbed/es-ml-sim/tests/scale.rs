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
