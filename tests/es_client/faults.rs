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

/// A server (a tenant's `url`) that answers every request with `head` and then `body`
/// (`None`: chunks of spaces without end).
async fn serving(status: u16, body: Option<Vec<u8>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = std::sync::Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let framing = match body.as_ref() {
                    Some(b) => format!("content-length: {}", b.len()),
                    None => "transfer-encoding: chunked".to_owned(),
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
                );
                if conn.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                if let Some(b) = body.as_ref() {
                    let _ = conn.write_all(b).await;
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 1 << 16, " ".repeat(1 << 16));
                while conn.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_endless_answer_is_cut_off() {
    // A server behind a tenant's `url` that sends an answer without end: the operator must
    // not buffer it (its memory limit is 256 MiB).
    let es = EsClient::new(config(serving(200, None).await)).expect("client builds");
    let err = es
        .info()
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("larger than 64 KiB"), "{err}");
}

#[tokio::test]
async fn only_answers_about_jobs_may_be_large() {
    // 5 MiB of padding around an empty listing: within a listing's limit, past one job's (a
    // job's configuration may embed a datafeed query of many terms), far past a task's.
    let pad = " ".repeat(5 << 20);
    let body = format!(r#"{{"count":0,{pad}"jobs":[]}}"#).into_bytes();
    let es = EsClient::new(config(serving(200, Some(body)).await)).expect("client builds");
    assert_eq!(es.jobs("web-*").await.map(|j| j.len()).ok(), Some(0));
    let err = es.job_config("web-1").await.err().map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(err.contains("larger than 4 MiB"), "{err}");
    let err = es.task("n:1").await.err().map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(err.contains("larger than 64 KiB"), "{err}");
}

#[tokio::test]
async fn a_large_error_answer_is_its_status() {
    // A proxy's page of 2 MiB with a 503: the status decides (tried again), the page is
    // neither kept nor parsed.
    let page = format!("<html>{}</html>", "busy ".repeat(400_000));
    let es = EsClient::new(config(serving(503, Some(page.into_bytes())).await)).unwrap();
    let err = es.info().await.err();
    assert_eq!(
        err.as_ref().map(EsError::reason),
        Some("ElasticsearchError")
    );
    assert!(err.as_ref().is_some_and(EsError::is_transient), "{err:?}");
    let err = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("more than 64 KiB"), "{err}");
}

#[tokio::test]
async fn a_huge_error_answer_is_not_parsed() {
    // Half a million numbers: as a JSON tree, 16 MiB. Only its beginning is read.
    let zeros = vec!["0"; 500_000].join(",");
    let body = format!(r#"{{"error":{{"type":"status_exception","reason":[{zeros}]}}}}"#);
    let es = EsClient::new(config(serving(500, Some(body.into_bytes())).await)).unwrap();
    let err = es.info().await.err();
    assert_eq!(
        err.as_ref().and_then(EsError::kind),
        Some("untyped_error"),
        "{err:?}"
    );
    let err = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("too large for an Elasticsearch error"),
        "{err}"
    );
}
