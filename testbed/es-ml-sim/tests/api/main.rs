//! General API behaviour: info and headers, job and datafeed CRUD, expansions, data counts,
//! bad input (unknown parameters, bad JSON, wrong methods, unknown routes).
//! CRUD and headers are here; `lifecycle` covers jobs and datafeeds over time, `bad_input` the
//! 400 bodies.

mod bad_input;
#[path = "../common/mod.rs"]
mod common;
mod lifecycle;

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
