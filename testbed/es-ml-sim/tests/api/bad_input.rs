//! Bad input: the 400 bodies Elasticsearch gives for each kind of malformed request.

use super::*;

#[tokio::test]
async fn bad_input_gets_400_bodies() {
    let (sim, c) = sim().await;
    let u = sim.url();
    let send = |m: &str, path: &str, body: &'static str| {
        let c = c.clone();
        let url = format!("{u}{path}");
        let m = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
        async move {
            let r = c
                .request(m, url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s, b) = send("PUT", "/_ml/anomaly_detectors/j", "{not json").await;
    assert_eq!(
        (s, b["error"]["type"].as_str().unwrap()),
        (400, "x_content_parse_exception")
    );
    let (s, b) = send("PUT", "/_ml/anomaly_detectors/j", "[1,2]").await;
    assert_eq!(
        (s, b["error"]["type"].as_str().unwrap()),
        (400, "x_content_parse_exception")
    );
    let (s, b) = send("PUT", "/_ml/anomaly_detectors/j", "").await;
    assert_eq!(
        (s, b["error"]["reason"].as_str().unwrap()),
        (400, "request body is required")
    );
    let (s, b) = send(
        "PUT",
        "/_ml/anomaly_detectors/Bad-Id",
        r#"{"analysis_config":{"detectors":[{"function":"count"}]},"data_description":{}}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        b["error"]["reason"],
        "Invalid job_id; 'Bad-Id' can contain lowercase alphanumeric (a-z and 0-9), hyphens or underscores; must start and end with alphanumeric"
    );
    let (s, b) = send(
        "PUT",
        "/_ml/anomaly_detectors/j",
        r#"{"data_description":{}}"#,
    )
    .await;
    assert_eq!(
        (s, b["error"]["reason"].as_str().unwrap()),
        (400, "An analysis_config must be set")
    );
    let (s, b) = send("PUT", "/_ml/anomaly_detectors/j", r#"{"job_id":"k","analysis_config":{"detectors":[{"function":"count"}]},"data_description":{}}"#).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = send(
        "PUT",
        "/_ml/anomaly_detectors/j",
        "{\n  \"analysis_config\": {\"detectors\": [{\"function\": \"count\"}]},\n  \"bogus\": 1}",
    )
    .await;
    assert_eq!(
        (s, b["error"]["reason"].as_str().unwrap()),
        (400, "[3:3] [job_details] unknown field [bogus]")
    );
    let a = call(
        &c,
        "GET",
        format!("{u}/_ml/anomaly_detectors?allow_no_macth=true"),
        None,
    )
    .await;
    assert_error(&a, 400, "illegal_argument_exception");
    assert_eq!(
        a.reason(),
        "request [/_ml/anomaly_detectors] contains unrecognized parameter: [allow_no_macth] -> did you mean [allow_no_match]?"
    );
    let a = call(&c, "GET", format!("{u}/_ml/anomaly_detectors?b=1&a=2&pretty&filter_path=jobs&human&error_trace=false&format=json"), None).await;
    assert_eq!(
        a.reason(),
        "request [/_ml/anomaly_detectors] contains unrecognized parameters: [a], [b]"
    );
    let a = call(&c, "GET", format!("{u}/_ml/nothing_here"), None).await;
    assert_eq!(
        a.body,
        json!({"error": "no handler found for uri [/_ml/nothing_here] and method [GET]", "status": 400})
    );
    let a = call(
        &c,
        "DELETE",
        format!("{u}/_ml/anomaly_detectors/j/_close"),
        None,
    )
    .await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "POST");
    let a = call(&c, "GET", format!("{u}/_tasks/x?error_trace=true"), None).await;
    assert!(a.body["error"]["stack_trace"].is_string());
    let r = c
        .put(format!("{u}/_ml/anomaly_detectors/j"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 406);
    assert_eq!(sim.control().count(es_ml_sim::Endpoint::JobPut), 8);
}
