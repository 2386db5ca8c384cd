//! Faults: injected 503 and 429, dropped connections, hanging requests, Elasticsearch down then
//! back, an endless answer.

use super::*;

#[tokio::test]
async fn injected_503_and_429_are_transient_api_errors() {
    let sim = sim("8.15.0").await;
    let ctl = sim.control();
    ctl.put_job("j-burst", job_body()).unwrap();
    let es = client(&sim);
    ctl.fail_next(
        Endpoint::JobReset,
        1,
        503,
        json!({"error": {"type": "master_not_discovered_exception", "reason": "no master"}, "status": 503}),
    );
    ctl.fail_next(
        Endpoint::JobReset,
        1,
        429,
        json!({"error": {"type": "es_rejected_execution_exception", "reason": "rejected execution"}, "status": 429}),
    );
    let e1 = es.reset_job("j-burst", false, 1).await.unwrap_err();
    assert!(e1.is_transient());
    assert_eq!(e1.kind(), Some("master_not_discovered_exception"));
    assert_eq!(e1.reason(), "ElasticsearchError");
    let e2 = es.reset_job("j-burst", false, 1).await.unwrap_err();
    assert!(e2.is_transient());
    assert_eq!(e2.reason(), "TooManyRequests");
    es.reset_job("j-burst", false, 1)
        .await
        .expect("third attempt goes through");
    assert_eq!(ctl.resets_started("j-burst"), 1);
}

#[tokio::test]
async fn dropped_connection_is_a_connect_error() {
    let sim = sim("8.15.0").await;
    sim.control().drop_next(Endpoint::MlInfo, 1);
    let err = client(&sim).info().await.unwrap_err();
    assert!(matches!(err, EsError::Connect { .. }), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn hanging_request_times_out() {
    let sim = sim("8.15.0").await;
    sim.control().hang_next(Endpoint::MlInfo, 1);
    let mut cfg = config(sim.url());
    cfg.request_timeout = Duration::from_millis(300);
    let err = EsClient::new(cfg).unwrap().info().await.unwrap_err();
    assert!(matches!(err, EsError::Timeout { .. }), "{err}");
    assert_eq!(err.reason(), "ElasticsearchTimeout");
}

#[tokio::test]
async fn es_down_then_back() {
    let sim = sim("8.15.0").await;
    let es = client(&sim);
    sim.stop_listening().await;
    let err = es.info().await.unwrap_err();
    eprintln!("ES down: {err}");
    assert!(matches!(err, EsError::Connect { .. }), "{err}");
    assert!(err.is_transient());
    sim.resume_listening().await.unwrap();
    es.info().await.expect("answers again");
}

#[tokio::test]
async fn an_endless_answer_is_cut_off() {
    // A server behind a tenant's `url` that sends an answer without end: the operator must
    // not buffer it (its memory limit is 256 MiB).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if conn.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 1 << 16, " ".repeat(1 << 16));
                while conn.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    let es = EsClient::new(config(format!("http://{addr}"))).expect("client builds");
    let err = es
        .info()
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("larger than 16 MiB"), "{err}");
}
