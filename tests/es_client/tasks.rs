//! Following a task: long-poll timeouts in both modes, unknown and malformed task ids, a task
//! number reused after a node restart, a long-poll longer than the request timeout.

use super::*;

async fn long_poll_times_out(version: &str, status: u16) {
    let sim = sim(version).await;
    let ctl = sim.control();
    ctl.put_job("j-slow", job_body()).unwrap();
    ctl.set_reset_duration(Some("j-slow"), Duration::from_secs(3));
    let es = client(&sim);

    let task = es.reset_job("j-slow", false, 1).await.expect("reset");
    // A 100 ms wait ends long before the 3 s reset: ES answers `timeout_exception`.
    let (done, still) = follow(&es, &task, Duration::from_millis(100)).await;
    assert!(still >= 1, "no timeout answer seen");
    assert!(
        matches!(
            done,
            TaskPoll::Completed {
                outcome: TaskOutcome::Acknowledged,
                ..
            }
        ),
        "{done:?}"
    );
    let timeouts = ctl
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::TaskGet && r.status == status)
        .count();
    assert_eq!(
        timeouts as u32, still,
        "every StillRunning came from an HTTP {status}"
    );
    let poll = ctl
        .requests()
        .into_iter()
        .find(|r| r.endpoint == Endpoint::TaskGet)
        .unwrap();
    assert!(
        poll.query.contains("wait_for_completion=true"),
        "{}",
        poll.query
    );
    assert!(poll.query.contains("timeout=100ms"), "{}", poll.query);
}

#[tokio::test]
async fn long_poll_timeout_is_500_in_8x_and_still_running() {
    long_poll_times_out("8.15.0", 500).await;
}

#[tokio::test]
async fn long_poll_timeout_is_429_in_9x_and_still_running() {
    long_poll_times_out("9.1.0", 429).await;
}

#[tokio::test]
async fn unknown_task_is_not_found() {
    let sim = sim("8.15.0").await;
    let es = client(&sim);
    let own = format!("{}:4242", sim.node_id());
    assert_eq!(
        es.wait_task(&own, Duration::from_secs(1)).await.unwrap(),
        TaskPoll::NotFound
    );
    // A node that is not in the cluster: also 404.
    assert_eq!(
        es.wait_task("AAAAAAAAAAAAAAAAAAAAAA:1", Duration::from_secs(1))
            .await
            .unwrap(),
        TaskPoll::NotFound
    );
}

#[tokio::test]
async fn malformed_task_id_is_a_bad_request() {
    let sim = sim("8.15.0").await;
    let err = client(&sim)
        .wait_task("not-a-task", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.status_code(), Some(400), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn task_number_reused_after_node_restart_shows_another_job() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-first", job_body()).unwrap();
    ctl.put_job("j-second", job_body()).unwrap();
    ctl.set_reset_duration(None, Duration::from_secs(30));
    let es = client(&sim);

    let first = es.reset_job("j-first", false, 1).await.unwrap();
    ctl.restart_node(true);
    let second = es.reset_job("j-second", false, 1).await.unwrap();
    assert_eq!(
        first, second,
        "the simulator restarts task numbers after a node restart"
    );
    // The recorded id now names the other job's task; only the task's description tells.
    let TaskPoll::Running(info) = es.task(&first).await.unwrap() else {
        panic!("running")
    };
    assert_eq!(info.action, RESET_ACTION);
    assert_eq!(info.description, "job-j-second");
    assert_eq!(
        es.wait_task(&first, Duration::from_millis(50))
            .await
            .unwrap(),
        TaskPoll::StillRunning
    );
}

#[tokio::test]
async fn long_poll_outlives_the_request_timeout() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-long", job_body()).unwrap();
    ctl.set_reset_duration(Some("j-long"), Duration::from_millis(800));
    let mut cfg = config(sim.url());
    // Shorter than the reset: the long-poll must use wait + request timeout, not this alone.
    cfg.request_timeout = Duration::from_millis(300);
    let es = EsClient::new(cfg).unwrap();
    let task = es.reset_job("j-long", false, 1).await.unwrap();
    let poll = es
        .wait_task(&task, Duration::from_secs(10))
        .await
        .expect("no client timeout");
    assert!(
        matches!(
            poll,
            TaskPoll::Completed {
                outcome: TaskOutcome::Acknowledged,
                ..
            }
        ),
        "{poll:?}"
    );
}
