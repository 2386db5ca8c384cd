//! Reaching Elasticsearch: basic auth and API keys from Secrets, the documented minimum
//! privileges, TLS with a CA Secret or insecureSkipVerify, an untrusted certificate, ECK's
//! Secrets through elasticsearchRef.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_from_a_secret() {
    let w = World::new(
        "happy-basic",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("basic-job", "closed");
    w.secret(
        "es-creds",
        &[("username", b"resetter"), ("password", b"resetter-pw-1")],
    )
    .await;

    w.create(
        "reset-basic",
        json!({"jobId": "basic-job", "elasticsearch": {"credentialsSecret": {"name": "es-creds"}}}),
    )
    .await;
    w.completed("reset-basic").await;
    w.assert_job_reset("basic-job");
    // No request went out without credentials.
    assert!(w.ctl().requests().iter().all(|r| r.status != 401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_from_a_secret() {
    let w = World::new(
        "happy-apikey",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("key-job", "closed");
    let key = es_ml_sim::ApiKey {
        id: "k-id".into(),
        key: "k-secret-1".into(),
        roles: vec![],
    }
    .encoded();
    w.secret("es-key", &[("apiKey", key.as_bytes())]).await;

    w.create(
        "reset-key",
        json!({"jobId": "key-job", "elasticsearch": {"credentialsSecret": {"name": "es-key"}}}),
    )
    .await;
    w.completed("reset-key").await;
    w.assert_job_reset("key-job");
}

/// A namespace and a simulator over TLS (its certificate signed by a CA of its own), and
/// that CA.
async fn over_tls(prefix: &str) -> (World, Pki) {
    let certs = pki();
    let w = World::new(
        prefix,
        SimConfig {
            tls: Some(certs.server.clone()),
            ..Default::default()
        },
    )
    .await;
    assert!(w.sim.url().starts_with("https://"));
    (w, certs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_ca_secret() {
    let (w, certs) = over_tls("happy-tls").await;
    w.job_with_data("tls-job", "closed");
    w.secret("es-ca", &[("ca.crt", certs.ca_pem.as_bytes())])
        .await;

    w.create(
        "reset-tls",
        json!({"jobId": "tls-job", "elasticsearch": {"tls": {"caSecret": {"name": "es-ca"}}}}),
    )
    .await;
    w.completed("reset-tls").await;
    w.assert_job_reset("tls-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_trust_the_certificate_holds_nobody_up() {
    // Anyone who knows a cluster's URL and a job's id can make such a run (a `url` without
    // the CA): created first, it must not park ahead of the resets that can run.
    let (w, certs) = over_tls("happy-untrusted").await;
    w.job_with_data("shared-tls-job", "closed");
    w.secret("es-ca", &[("ca.crt", certs.ca_pem.as_bytes())])
        .await;

    w.create("reset-untrusted", json!({"jobId": "shared-tls-job"}))
        .await;
    let untrusted =
        |s: &JobResetStatus| s.reason.as_deref() == Some("ElasticsearchCertificateNotTrusted");
    let s = w
        .wait("reset-untrusted", "its certificate refused", untrusted)
        .await;
    assert!(
        s.message.unwrap_or_default().contains("tls.caSecret"),
        "the message names the fix"
    );

    w.create(
        "reset-trusted",
        json!({"jobId": "shared-tls-job", "elasticsearch": {"tls": {"caSecret": {"name": "es-ca"}}}}),
    )
    .await;
    w.completed("reset-trusted").await;
    let s = w.wait("reset-untrusted", "still refused", untrusted).await;
    assert_eq!(s.phase, Phase::Pending);
    assert_eq!(w.accepted_resets("shared-tls-job"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_ref_uses_eck_secrets() {
    let certs = pki();
    let mut w = World::bare(
        "happy-eck",
        SimConfig {
            tls: Some(certs.server.clone()),
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    // ECK's service DNS name does not resolve here: the URL template points at the simulator.
    let opts = Options {
        eck_url_template: w.sim.url(),
        ..common::options(&w.ns)
    };
    w.start_controller(opts);
    w.job_with_data("eck-job", "closed");
    w.secret(
        "quickstart-es-elastic-user",
        &[("elastic", b"elastic-pw-1")],
    )
    .await;
    w.secret(
        "quickstart-es-http-certs-public",
        &[("ca.crt", certs.ca_pem.as_bytes())],
    )
    .await;

    w.create(
        "reset-eck",
        json!({"jobId": "eck-job", "elasticsearch": {"elasticsearchRef": {"name": "quickstart"}}}),
    )
    .await;
    w.completed("reset-eck").await;
    w.assert_job_reset("eck-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_minimum_privileges_suffice() {
    // The CRD documents manage_ml plus cluster:monitor/task/get as enough.
    let w = World::new(
        "happy-minimal",
        SimConfig {
            security: Some(security()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("min-job", "closed");
    w.secret(
        "es-min",
        &[("username", b"minimal"), ("password", b"minimal-pw-1")],
    )
    .await;

    w.create(
        "reset-min",
        json!({"jobId": "min-job", "elasticsearch": {"credentialsSecret": {"name": "es-min"}}}),
    )
    .await;
    w.completed("reset-min").await;
    w.assert_job_reset("min-job");
    assert!(
        w.ctl().requests().iter().all(|r| r.status != 403),
        "no call needed more than documented"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_over_tls() {
    let (w, _ca) = over_tls("happy-insecure").await;
    w.job_with_data("insecure-job", "closed");
    w.create(
        "reset-insecure",
        json!({"jobId": "insecure-job", "elasticsearch": {"tls": {"insecureSkipVerify": true}}}),
    )
    .await;
    w.completed("reset-insecure").await;
    w.assert_job_reset("insecure-job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_certificate_is_reported_while_retried() {
    let certs = pki();
    let w = World::new(
        "happy-untrusted",
        SimConfig {
            tls: Some(certs.server.clone()),
            ..Default::default()
        },
    )
    .await;
    w.job_with_data("untrusted-job", "closed");
    // No CA Secret: the system roots do not know the test CA.
    w.create(
        "reset-untrusted",
        json!({"jobId": "untrusted-job", "deadlineSeconds": 3}),
    )
    .await;
    let s = w.failed("reset-untrusted", "DeadlineExceeded").await;
    assert_eq!(w.ctl().count(Endpoint::JobReset), 0);
    // What went wrong was said while it was retried.
    let events = w.wait_event("reset-untrusted", "Retrying").await;
    let said = events
        .iter()
        .filter_map(|e| e.note.clone())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        said.to_lowercase().contains("certificate"),
        "{said}\n{s:#?}"
    );
}
