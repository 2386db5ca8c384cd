//! Shared helpers for the integration tests: start a simulator, an HTTP client, small calls.
#![allow(dead_code)]

use std::time::Duration;

use es_ml_sim::{Sim, SimConfig};
use serde_json::{Value, json};

pub fn client() -> reqwest::Client {
    // reqwest is built with `rustls-no-provider`: install ring once per process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("client")
}

pub async fn sim_with(version: &str, reset_ms: u64) -> (Sim, reqwest::Client) {
    let cfg = SimConfig {
        version: version.to_string(),
        reset_duration: Duration::from_millis(reset_ms),
        ..SimConfig::default()
    };
    (es_ml_sim::start(cfg).await.expect("sim starts"), client())
}

pub async fn sim() -> (Sim, reqwest::Client) {
    sim_with("8.15.0", 50).await
}

pub fn job_body() -> Value {
    json!({"analysis_config": {"bucket_span": "15m", "detectors": [{"function": "count"}]}, "data_description": {"time_field": "timestamp"}})
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn etype(&self) -> &str {
        self.body["error"]["type"].as_str().unwrap_or("")
    }
    pub fn reason(&self) -> &str {
        self.body["error"]["reason"].as_str().unwrap_or("")
    }
}

pub async fn call(c: &reqwest::Client, method: &str, url: String, body: Option<Value>) -> Answer {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut rb = c.request(m, url);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("request answered");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON body")
    };
    Answer {
        status,
        body,
        headers,
    }
}

/// Assert an ES error answer: status, `error.type`, `status` field, root_cause.
pub fn assert_error(a: &Answer, status: u16, etype: &str) {
    assert_eq!(a.status, status, "body: {}", a.body);
    assert_eq!(a.etype(), etype, "body: {}", a.body);
    assert_eq!(a.body["status"], status, "body: {}", a.body);
    assert_eq!(
        a.body["error"]["root_cause"][0]["type"], etype,
        "body: {}",
        a.body
    );
}

pub async fn put_job(sim: &Sim, c: &reqwest::Client, id: &str) {
    let a = call(
        c,
        "PUT",
        format!("{}/_ml/anomaly_detectors/{id}", sim.url()),
        Some(job_body()),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

/// `datafeed-<job>` over `logs-*` for the job.
pub async fn put_datafeed(sim: &Sim, c: &reqwest::Client, job: &str) {
    let a = call(
        c,
        "PUT",
        format!("{}/_ml/datafeeds/datafeed-{job}", sim.url()),
        Some(serde_json::json!({"job_id": job, "indices": ["logs-*"]})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

pub async fn async_reset(sim: &Sim, c: &reqwest::Client, id: &str) -> String {
    let a = call(
        c,
        "POST",
        format!(
            "{}/_ml/anomaly_detectors/{id}/_reset?wait_for_completion=false",
            sim.url()
        ),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["task"].as_str().expect("task id").to_string()
}

/// Creates job `id`, starts an async reset of it and waits until the reset work has begun;
/// returns the task id.
pub async fn started_reset(sim: &Sim, c: &reqwest::Client, id: &str) -> String {
    put_job(sim, c, id).await;
    let task = async_reset(sim, c, id).await;
    assert!(
        sim.control()
            .wait_for(|c| c.resets_started(id) == 1, Duration::from_secs(5))
            .await,
        "the reset of {id} did not start"
    );
    task
}

pub async fn follow(sim: &Sim, c: &reqwest::Client, task: &str) -> Answer {
    call(
        c,
        "GET",
        format!(
            "{}/_tasks/{task}?wait_for_completion=true&timeout=30s",
            sim.url()
        ),
        None,
    )
    .await
}
