//! Many runs at once: each job reset once, a long reset or a slow close holding up no other.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_jobresets_at_once_each_reset_once() {
    let w = World::new("happy-many", SimConfig::default()).await;
    let jobs: Vec<String> = (0..20).map(|i| format!("bulk-{i:02}")).collect();
    for j in &jobs {
        w.job_with_data(j, if j.ends_with('0') { "opened" } else { "closed" });
    }
    for j in &jobs {
        w.create(&format!("reset-{j}"), json!({"jobId": j})).await;
    }
    for j in &jobs {
        let s = w.completed(&format!("reset-{j}")).await;
        assert_eq!(s.reset_requests, 1, "{j}: {s:#?}");
        assert_eq!(w.accepted_resets(j), 1, "{j}");
        w.assert_job_reset(j);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_reset_does_not_hold_up_the_others() {
    // One reconcile slot and an hour-long long-poll: if following a task held the slot, the
    // second JobReset could not even start while the first reset runs.
    let mut w = World::bare("happy-slots", SimConfig::default()).await;
    let mut opts = common::options(&w.ns);
    opts.concurrency = 1;
    opts.task_poll_timeout = Duration::from_secs(3600);
    w.start_controller(opts);
    let ctl = w.ctl();
    w.job_with_data("slow-job", "closed");
    w.job_with_data("quick-job", "closed");
    ctl.set_reset_duration(Some("slow-job"), Duration::from_secs(3600));

    w.create("reset-slow", json!({"jobId": "slow-job"})).await;
    w.wait("reset-slow", "a task id", |s| s.task_id.is_some())
        .await;
    w.create("reset-quick", json!({"jobId": "quick-job"})).await;
    w.completed("reset-quick").await;
    w.assert_job_reset("quick-job");

    let slow = w.api.get("reset-slow").await.expect("reset-slow");
    let phase = slow.status.map(|s| s.phase);
    assert_eq!(
        phase,
        Some(Phase::Resetting),
        "the slow reset is still followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_close_does_not_hold_up_the_others() {
    // One reconcile slot and a close that Elasticsearch holds for minutes: if the close held
    // the slot, no other JobReset could go on meanwhile.
    let mut w = World::bare("happy-slowclose", SimConfig::default()).await;
    let mut opts = common::options(&w.ns);
    opts.concurrency = 1;
    w.start_controller(opts);
    let ctl = w.ctl();
    w.job_with_data("slow-close-job", "opened");
    w.job_with_data("quick-job", "closed");
    ctl.set_close_duration(Duration::from_secs(3600));

    w.create("reset-slow-close", json!({"jobId": "slow-close-job"}))
        .await;
    w.wait("reset-slow-close", "Closing", |s| s.phase == Phase::Closing)
        .await;
    w.create("reset-quick", json!({"jobId": "quick-job"})).await;
    w.completed("reset-quick").await;
    let slow = w
        .api
        .get("reset-slow-close")
        .await
        .expect("reset-slow-close");
    assert_eq!(slow.status.map(|s| s.phase), Some(Phase::Closing));
    assert_eq!(w.accepted_resets("slow-close-job"), 0);
}
