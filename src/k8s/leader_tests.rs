//! Tests of `leader` (no I/O unless a test says so).

use super::*;

#[tokio::test]
async fn a_renewal_that_never_answers_loses_the_lease() {
    // An API server that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    let url: http::Uri = format!("http://{addr}").parse().unwrap();
    let client = Client::try_from(kube::Config::new(url)).unwrap();
    let cfg = LeaseConfig {
        namespace: "ns".into(),
        name: "lease".into(),
        identity: "me".into(),
        duration: Duration::from_millis(450),
        renew_deadline: Duration::from_millis(300),
        retry_period: Duration::from_millis(50),
    };
    let mut held = Held {
        api: Api::namespaced(client, "ns"),
        lease: new_lease(&cfg),
        cfg,
        sent: Instant::now(),
    };
    // Far shorter than kube's own read timeout, which would otherwise hold the renewal.
    let lost = tokio::time::timeout(Duration::from_secs(30), held.keep()).await;
    assert!(
        matches!(lost, Ok(LeaderError::Lost { .. })),
        "a hung renewal must end leadership: {lost:?}"
    );
}

#[test]
fn durations_keep_client_gos_margins() {
    let cfg = |d: u64, r: u64, p: u64| LeaseConfig {
        namespace: "ns".into(),
        name: "l".into(),
        identity: "me".into(),
        duration: Duration::from_secs(d),
        renew_deadline: Duration::from_secs(r),
        retry_period: Duration::from_secs(p),
    };
    assert!(cfg(15, 10, 2).check().is_ok());
    assert!(
        cfg(15, 15, 2).check().is_err(),
        "deadline not under the Lease"
    );
    assert!(cfg(15, 10, 9).check().is_err(), "no room for a retry");
    assert!(cfg(15, 10, 0).check().is_err());
    assert!(
        cfg(u64::MAX, 10, 2).check().is_err(),
        "no overflow later on"
    );
    let pauses: Vec<Duration> = cfg(15, 10, 2).retries().take(50).collect();
    assert!(
        pauses
            .iter()
            .all(|p| *p >= Duration::from_secs(2) && *p < Duration::from_secs(4))
    );
    assert!(pauses.windows(2).any(|w| w[0] != w[1]), "jittered");
}

#[test]
fn verdicts() {
    let d = Duration::from_secs(15);
    let short = Duration::from_secs(1);
    let long = Duration::from_secs(16);
    assert_eq!(judge(Some("me"), "me", long, d), Verdict::Renew);
    assert_eq!(judge(None, "me", short, d), Verdict::Take);
    assert_eq!(judge(Some(""), "me", short, d), Verdict::Take);
    assert_eq!(judge(Some("other"), "me", short, d), Verdict::Wait);
    assert_eq!(judge(Some("other"), "me", long, d), Verdict::Take);
}
