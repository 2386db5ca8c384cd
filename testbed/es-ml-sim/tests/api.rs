//! General API behaviour: info and headers, job and datafeed CRUD, expansions, data counts,
//! bad input (unknown parameters, bad JSON, wrong methods, unknown routes).

mod common;
use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test]
async fn info_and_product_headers() {
    let (sim, c) = sim().await;
    let a = call(&c, "GET", format!("{}/", sim.url()), None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["version"]["number"], "8.15.0");
    assert_eq!(a.body["tagline"], "You Know, for Search");
    assert!(a.body["cluster_uuid"].is_string() && a.body["cluster_name"].is_string());
    assert_eq!(a.headers["x-elastic-product"], "Elasticsearch");
    assert_eq!(a.headers["content-type"], "application/json");
    let r = c
        .get(format!("{}/_ml/anomaly_detectors", sim.url()))
        .header(
            "accept",
            "application/vnd.elasticsearch+json; compatible-with=8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.elasticsearch+json;compatible-with=8"
    );
    // Error answers carry the product header too.
    let e = call(&c, "GET", format!("{}/_tasks/bad", sim.url()), None).await;
    assert_eq!(e.headers["x-elastic-product"], "Elasticsearch");
}

#[tokio::test]
async fn job_crud_and_expansion() {
    let (sim, c) = sim().await;
    let u = sim.url();
    let mut body = job_body();
    body["groups"] = json!(["web"]);
    body["custom_settings"] = json!({"owner": "team-a"});
    body["description"] = json!("d1");
    let a = call(
        &c,
        "PUT",
        format!("{u}/_ml/anomaly_detectors/web-1"),
        Some(body),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["groups"], json!(["web"]));
    assert!(a.body["create_time"].is_i64());
    put_job(&sim, &c, "other").await;
    let a = call(
        &c,
        "PUT",
        format!("{u}/_ml/anomaly_detectors/other"),
        Some(job_body()),
    )
    .await;
    assert_error(&a, 400, "resource_already_exists_exception");
    assert_eq!(
        a.reason(),
        "The job cannot be created with the Id 'other'. The Id is already used."
    );
    for (expr, n) in [
        ("web", 1),
        ("web-1,other", 2),
        ("_all", 2),
        ("*", 2),
        ("w*", 1),
        ("zz*", 0),
    ] {
        let g = call(&c, "GET", format!("{u}/_ml/anomaly_detectors/{expr}"), None).await;
        assert_eq!(g.body["count"], n, "{expr}");
    }
    let g = call(
        &c,
        "GET",
        format!("{u}/_ml/anomaly_detectors/zz*?allow_no_match=false"),
        None,
    )
    .await;
    assert_error(&g, 404, "resource_not_found_exception");
    let g = call(&c, "GET", format!("{u}/_ml/anomaly_detectors/nope"), None).await;
    assert_error(&g, 404, "resource_not_found_exception");
    let up = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/web-1/_update"),
        Some(json!({"description": "d2", "groups": ["api"], "custom_settings": {"x": 1}})),
    )
    .await;
    assert_eq!(up.status, 200);
    assert_eq!(
        (up.body["description"].clone(), up.body["groups"].clone()),
        (json!("d2"), json!(["api"]))
    );
    let up = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/web-1/_update"),
        Some(json!({"bogus": 1})),
    )
    .await;
    assert_error(&up, 400, "x_content_parse_exception");
    assert_eq!(up.reason(), "[1:2] [job_update] unknown field [bogus]");
    let s = call(
        &c,
        "GET",
        format!("{u}/_ml/anomaly_detectors/web-1/_stats"),
        None,
    )
    .await;
    assert_eq!(s.body["jobs"][0]["state"], "closed");
    assert_eq!(
        s.body["jobs"][0]["data_counts"]["processed_record_count"],
        0
    );
    assert!(s.body["jobs"][0]["model_size_stats"].is_object());
    let o = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/web-1/_open"),
        None,
    )
    .await;
    assert_eq!(o.body["opened"], true);
    let o = call(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/web-1/_open"),
        None,
    )
    .await;
    assert_error(&o, 409, "status_exception");
    let d = call(
        &c,
        "DELETE",
        format!("{u}/_ml/anomaly_detectors/web-1"),
        None,
    )
    .await;
    assert_error(&d, 409, "status_exception");
    let d = call(
        &c,
        "DELETE",
        format!("{u}/_ml/anomaly_detectors/web-1?force=true"),
        None,
    )
    .await;
    assert_eq!(d.body, json!({"acknowledged": true}));
}

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

#[tokio::test]
async fn seed_file_formats_apply() {
    let (sim, c) = sim().await;
    let seed: es_ml_sim::Seed = es_ml_sim::config::parse_yaml_or_json(
        "jobs:\n  - job_id: a\n    state: opened\n    model_snapshot_id: '17'\n  - job_id: b\n    state: failed\ndatafeeds:\n  - {datafeed_id: df-a, job_id: a, started: true}\n",
    )
    .unwrap();
    sim.control().apply_seed(&seed).unwrap();
    let s = call(
        &c,
        "GET",
        format!("{}/_ml/anomaly_detectors/_stats", sim.url()),
        None,
    )
    .await;
    assert_eq!(s.body["jobs"][0]["state"], "opened");
    assert_eq!(s.body["jobs"][1]["state"], "failed");
    assert!(sim.control().job("a").unwrap().processed_record_count > 0);
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
