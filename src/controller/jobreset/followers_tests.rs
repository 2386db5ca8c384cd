//! Tests of `followers` (loopback I/O: the simulator, a server that never answers).

use futures::StreamExt;
use kube::runtime::reflector::ObjectRef;

use super::*;
use crate::es::{EsConfig, TaskPoll};

/// Waits until `free` permits are free (the calls holding the others ended), or fails
/// after a deadline.
async fn until_idle(followers: &Followers, free: u32) {
    let all_free = followers.limit.acquire_many(free);
    let got = tokio::time::timeout(Duration::from_secs(30), all_free).await;
    assert!(matches!(got, Ok(Ok(_))), "the calls did not end");
}

/// A long-poll started afresh for the same task id (as after a new reset request: task
/// numbers are reused after a node restart) is the only one whose answer is kept.
#[tokio::test]
async fn only_the_latest_call_is_answered() {
    let sim = es_ml_sim::start(es_ml_sim::SimConfig::default())
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    let ctl = sim.control();
    let seed = es_ml_sim::Seed {
        jobs: vec![es_ml_sim::config::SeedJob {
            job_id: "j".into(),
            config: None,
            state: Some("closed".into()),
            model_snapshot_id: None,
            processed_record_count: None,
            user_annotations: 0,
            auto_annotations: 0,
        }],
        datafeeds: vec![],
    };
    ctl.apply_seed(&seed)
        .unwrap_or_else(|e| panic!("seed: {e}"));
    ctl.set_reset_duration(Some("j"), Duration::from_secs(3600));
    let es = EsClient::new(EsConfig {
        url: sim.url(),
        auth: None,
        ca_pem: None,
        insecure_skip_verify: false,
        opaque_id: None,
        request_timeout: Duration::from_secs(30),
    })
    .unwrap_or_else(|e| panic!("client: {e}"));
    let task = es
        .reset_job("j", false, 1)
        .await
        .unwrap_or_else(|e| panic!("reset: {e}"));

    let (wake, mut woken) = futures::channel::mpsc::unbounded();
    let followers = Followers::new(4, 4, wake, Gauge::default());
    let key = RunKey {
        uid: "uid-1".into(),
        obj: ObjectRef::new("r").within("ns"),
    };
    let follow = |wait: Duration| Call::Follow {
        task_id: task.clone(),
        wait,
    };
    // The earlier call times out (still running) while the later one waits on.
    assert!(
        followers
            .take_or_start(&key, &es, follow(Duration::from_secs(1)))
            .is_none()
    );
    // Under way before it is replaced (a call replaced while it waits is never made).
    let under_way = tokio::time::timeout(Duration::from_secs(30), async {
        while followers.limit.available_permits() == 4 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(under_way.is_ok(), "the earlier call never started");
    followers.start(&key, &es, follow(Duration::from_secs(60)));
    let ctl_done = ctl.clone();
    let timed_out = ctl
        .wait_for(
            move |_| {
                ctl_done
                    .requests()
                    .iter()
                    .any(|r| r.endpoint == es_ml_sim::Endpoint::TaskGet && r.status >= 400)
            },
            Duration::from_secs(30),
        )
        .await;
    assert!(timed_out, "the earlier long-poll timed out");
    until_idle(&followers, 3).await;
    assert!(
        !followers.answered(&key),
        "the earlier call's answer is not kept"
    );

    ctl.finish_reset("j");
    until_idle(&followers, 4).await;
    assert!(followers.answered(&key), "the latest call's answer is kept");
    let answer = followers.take_or_start(&key, &es, follow(Duration::from_secs(60)));
    assert!(
        matches!(answer, Some(Answer::Task(Ok(TaskPoll::Completed { .. })))),
        "{answer:?}"
    );
    drop(followers);
    let wakes: Vec<RunKey> = woken.by_ref().collect().await;
    assert_eq!(wakes.len(), 1, "one wake, for the latest call");
}

/// A server that takes connections and never answers (a tenant's own `url`).
async fn silent_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    format!("http://{addr}")
}

fn client(url: String) -> EsClient {
    EsClient::new(EsConfig {
        url,
        auth: None,
        ca_pem: None,
        insecure_skip_verify: false,
        opaque_id: None,
        request_timeout: Duration::from_secs(3600),
    })
    .unwrap_or_else(|e| panic!("client: {e}"))
}

/// One namespace's calls that never end take at most its share of the places: another
/// namespace's call still runs at once, and a namespace's entry goes with its last call.
#[tokio::test]
async fn no_namespace_takes_every_place() {
    let silent = client(silent_server().await);
    let sim = es_ml_sim::start(es_ml_sim::SimConfig::default())
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"));
    let answering = client(sim.url());
    let (wake, mut woken) = futures::channel::mpsc::unbounded();
    let followers = Followers::new(4, 2, wake, Gauge::default());
    let follow = |task: &str| Call::Follow {
        task_id: task.to_owned(),
        wait: Duration::from_secs(3600),
    };
    let key = |ns: &str, name: &str| RunKey {
        uid: format!("uid-{ns}-{name}"),
        obj: ObjectRef::new(name).within(ns),
    };
    for i in 0..4 {
        let k = key("evil", &format!("r{i}"));
        assert!(
            followers
                .take_or_start(&k, &silent, follow("n:1"))
                .is_none()
        );
    }
    let good = key("good", "r");
    assert!(
        followers
            .take_or_start(&good, &answering, follow("n:2"))
            .is_none()
    );
    let first = tokio::time::timeout(Duration::from_secs(30), woken.next()).await;
    assert_eq!(
        first.ok().flatten(),
        Some(good.clone()),
        "the other namespace's call ran"
    );
    assert!(followers.answered(&good));
    let took = followers.take_or_start(&good, &answering, follow("n:2"));
    assert!(took.is_some(), "{took:?}");
    // "good" has no call left; "evil" still has four, two of them waiting.
    let left = tokio::time::timeout(Duration::from_secs(30), async {
        while followers.namespaces_held() != 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        left.is_ok(),
        "the entry of a namespace without calls is dropped"
    );
}
