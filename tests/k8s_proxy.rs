//! Corporate proxies: with `HTTPS_PROXY`/`HTTP_PROXY` set, the operator starts, reaches the
//! API server and Elasticsearch through the proxy, and keeps what `NO_PROXY` lists direct
//! (one set of variables, the same meaning for both clients). Does I/O: the test bed, a
//! simulator, a forward proxy on loopback, the operator process.

mod common;

use common::proxy::Proxy;
use common::{Operator, World};
use es_ml_sim::SimConfig;
use serde_json::json;

/// `host:port` of the API server the kubeconfig points at.
fn api_server(w: &World) -> String {
    let text = std::fs::read_to_string(w.bed.kubeconfig_path()).expect("kubeconfig");
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .expect("a server line")
        .trim()
        .trim_matches('"');
    server.trim_start_matches("https://").to_owned()
}

fn sim_authority(w: &World) -> String {
    w.sim.url().trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_go_through_the_proxy() {
    let w = World::bare("proxy-all", SimConfig::default()).await;
    w.job_with_data("proxied-job", "closed");
    let proxy = Proxy::start().await;
    // A proxy that wants credentials (Basic jr:s3cret-pw).
    let url = proxy.url().replace("http://", "http://jr:s3cret-pw@");
    let mut op = Operator::spawn_env(
        w.bed,
        &w.ns,
        "op",
        &[
            ("HTTPS_PROXY", &url),
            ("HTTP_PROXY", &url),
            ("NO_PROXY", ""),
        ],
    )
    .await;
    w.create("via-proxy", json!({"jobId": "proxied-job"})).await;
    w.completed("via-proxy").await;
    op.kill().await;

    let seen = proxy.seen();
    let auth = " auth=Basic anI6czNjcmV0LXB3";
    let tunnel = format!("CONNECT {}{auth}", api_server(&w));
    assert!(
        seen.contains(&tunnel),
        "the API server was not reached through the proxy with its credentials: {seen:?}\n{}",
        op.log_text()
    );
    let es = format!("http://{}/", sim_authority(&w));
    assert!(
        seen.iter().any(|s| s.contains(&es) && s.ends_with(auth)),
        "Elasticsearch was not reached through the proxy with its credentials: {seen:?}"
    );
    assert!(!op.log_text().contains("s3cret-pw"), "{}", op.log_text());
}

/// One reset through a proxy with `NO_PROXY` set to `no_proxy`, Elasticsearch reached by the
/// name `localhost`; returns what the proxy saw.
async fn reset_with_no_proxy(prefix: &str, no_proxy: &str) -> Vec<String> {
    let w = World::bare(prefix, SimConfig::default()).await;
    w.job_with_data("proxy-job", "closed");
    let proxy = Proxy::start().await;
    let url = proxy.url();
    let mut op = Operator::spawn_env(
        w.bed,
        &w.ns,
        "op",
        &[
            ("HTTPS_PROXY", &url),
            ("HTTP_PROXY", &url),
            ("NO_PROXY", no_proxy),
        ],
    )
    .await;
    let es_by_name = w.sim.url().replace("127.0.0.1", "localhost");
    w.create(
        "through",
        json!({"jobId": "proxy-job", "elasticsearch": {"url": es_by_name}}),
    )
    .await;
    w.completed("through").await;
    op.kill().await;
    proxy.seen()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_keeps_the_hosts_it_lists_direct() {
    // Elasticsearch by name, listed in NO_PROXY as an in-cluster Service suffix would be;
    // the API server by IP, not listed.
    let seen = reset_with_no_proxy("proxy-none", "localhost,.svc").await;
    assert!(
        seen.iter().any(|s| s.starts_with("CONNECT 127.0.0.1")),
        "the API server (not in NO_PROXY) goes through the proxy: {seen:?}"
    );
    assert!(
        seen.iter().all(|s| !s.contains("localhost")),
        "Elasticsearch (in NO_PROXY) must be reached directly: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_can_name_the_api_server() {
    let seen = reset_with_no_proxy("proxy-api", "127.0.0.1").await;
    assert!(
        seen.iter().all(|s| !s.starts_with("CONNECT 127.0.0.1")),
        "the API server (in NO_PROXY) must be reached directly: {seen:?}"
    );
    assert!(
        seen.iter().any(|s| s.contains("http://localhost:")),
        "Elasticsearch (not in NO_PROXY) goes through the proxy: {seen:?}"
    );
}
