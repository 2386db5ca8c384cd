//! Security: 401/403 bodies, API keys, tokens, async reset's 403 in the task, has_privileges; TLS.

mod common;
use std::collections::BTreeMap;

use base64::Engine;
use common::*;
use es_ml_sim::{ApiKey, Security, SimConfig, TlsPem, Token, User};
use serde_json::json;

fn security() -> Security {
    let mut roles = BTreeMap::new();
    roles.insert(
        "resetter".to_string(),
        vec![
            "manage_ml".to_string(),
            "cluster:monitor/task/get".to_string(),
        ],
    );
    Security {
        users: vec![
            User {
                username: "op".into(),
                password: "op-pw".into(),
                roles: vec!["resetter".into()],
            },
            User {
                username: "mladmin".into(),
                password: "ml-pw".into(),
                roles: vec!["machine_learning_admin".into()],
            },
            User {
                username: "viewer".into(),
                password: "v-pw".into(),
                roles: vec!["machine_learning_user".into()],
            },
            User {
                username: "elastic".into(),
                password: "e-pw".into(),
                roles: vec!["superuser".into()],
            },
        ],
        api_keys: vec![ApiKey {
            id: "key1".into(),
            key: "k-secret".into(),
            roles: vec!["resetter".into()],
        }],
        tokens: vec![Token {
            token: "tok-1".into(),
            username: "op".into(),
            roles: vec!["resetter".into()],
        }],
        roles,
    }
}

fn basic(u: &str, p: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
    )
}

async fn send(c: &reqwest::Client, m: &str, url: String, auth: Option<&str>) -> Answer {
    let mut rb = c.request(reqwest::Method::from_bytes(m.as_bytes()).unwrap(), url);
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        body,
        headers,
    }
}

#[tokio::test]
async fn authentication_and_privileges() {
    let cfg = SimConfig {
        security: Some(security()),
        ..SimConfig::default()
    };
    let sim = es_ml_sim::start(cfg).await.unwrap();
    let c = client();
    let u = sim.url();
    sim.control().put_job("j", job_body()).unwrap();
    let a = send(&c, "GET", format!("{u}/_ml/anomaly_detectors/j"), None).await;
    assert_error(&a, 401, "security_exception");
    assert_eq!(
        a.reason(),
        "missing authentication credentials for REST request [/_ml/anomaly_detectors/j]"
    );
    assert!(
        a.headers
            .get_all("www-authenticate")
            .iter()
            .any(|v| v.to_str().unwrap().starts_with("Basic realm=\"security\""))
    );
    assert!(a.body["error"]["header"]["WWW-Authenticate"].is_array());
    let a = send(
        &c,
        "GET",
        format!("{u}/_ml/anomaly_detectors/j"),
        Some(&basic("op", "wrong")),
    )
    .await;
    assert_error(&a, 401, "security_exception");
    assert_eq!(
        a.reason(),
        "unable to authenticate user [op] for REST request [/_ml/anomaly_detectors/j]"
    );
    let a = send(
        &c,
        "GET",
        format!("{u}/_ml/anomaly_detectors/j"),
        Some("Bearer nope"),
    )
    .await;
    assert_error(&a, 401, "security_exception");

    let op = basic("op", "op-pw");
    let key = format!(
        "ApiKey {}",
        ApiKey {
            id: "key1".into(),
            key: "k-secret".into(),
            roles: vec![]
        }
        .encoded()
    );
    for auth in [op.as_str(), key.as_str(), "Bearer tok-1"] {
        let a = send(
            &c,
            "GET",
            format!("{u}/_ml/anomaly_detectors/j/_stats"),
            Some(auth),
        )
        .await;
        assert_eq!(a.status, 200, "{auth}: {}", a.body);
        let me = send(
            &c,
            "GET",
            format!("{u}/_security/_authenticate"),
            Some(auth),
        )
        .await;
        assert_eq!(me.status, 200);
    }
    // machine_learning_admin may reset but cannot read tasks.
    let ml = basic("mladmin", "ml-pw");
    let a = send(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/j/_reset?wait_for_completion=false"),
        Some(&ml),
    )
    .await;
    let task = a.body["task"].as_str().unwrap().to_string();
    let t = send(
        &c,
        "GET",
        format!("{u}/_tasks/{task}?wait_for_completion=true"),
        Some(&ml),
    )
    .await;
    assert_error(&t, 403, "security_exception");
    assert_eq!(
        t.reason(),
        "action [cluster:monitor/task/get] is unauthorized for user [mladmin] with effective roles [machine_learning_admin], this action is granted by the cluster privileges [monitor,manage,all]"
    );
    let t = send(
        &c,
        "GET",
        format!("{u}/_tasks/{task}?wait_for_completion=true"),
        Some(&op),
    )
    .await;
    assert_eq!(t.body["response"]["acknowledged"], true);

    // monitor_ml may read jobs but not reset; async reset's 403 lands in the task error.
    let viewer = basic("viewer", "v-pw");
    assert_eq!(
        send(
            &c,
            "GET",
            format!("{u}/_ml/anomaly_detectors/j"),
            Some(&viewer)
        )
        .await
        .status,
        200
    );
    let a = send(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/j/_close"),
        Some(&viewer),
    )
    .await;
    assert_error(&a, 403, "security_exception");
    let a = send(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/j/_reset"),
        Some(&viewer),
    )
    .await;
    assert_error(&a, 403, "security_exception");
    let a = send(
        &c,
        "POST",
        format!("{u}/_ml/anomaly_detectors/j/_reset?wait_for_completion=false"),
        Some(&viewer),
    )
    .await;
    assert_eq!(a.status, 200);
    let task = a.body["task"].as_str().unwrap().to_string();
    let t = send(
        &c,
        "GET",
        format!("{u}/_tasks/{task}?wait_for_completion=true"),
        Some(&op),
    )
    .await;
    assert_eq!(t.body["error"]["type"], "security_exception");
    assert!(t.body["error"]["reason"].as_str().unwrap().starts_with(
        "action [cluster:admin/xpack/ml/job/reset] is unauthorized for user [viewer]"
    ));

    let hp = c
        .post(format!("{u}/_security/user/_has_privileges"))
        .header("authorization", &ml)
        .json(&json!({"cluster": ["manage_ml", "monitor", "cluster:monitor/task/get"]}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(
        hp["cluster"],
        json!({"manage_ml": true, "monitor": false, "cluster:monitor/task/get": false})
    );
    assert_eq!(hp["has_all_requested"], false);
}

#[tokio::test]
async fn tls_serves_https() {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert_pem = ck.cert.pem();
    let cfg = SimConfig {
        tls: Some(TlsPem {
            cert_pem: cert_pem.clone(),
            key_pem: ck.signing_key.serialize_pem(),
        }),
        ..SimConfig::default()
    };
    let sim = es_ml_sim::start(cfg).await.unwrap();
    assert!(sim.url().starts_with("https://"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let a = call(&c, "GET", format!("{}/", sim.url()), None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.headers["x-elastic-product"], "Elasticsearch");
    let bad = es_ml_sim::start(SimConfig {
        tls: Some(TlsPem {
            cert_pem: "junk".into(),
            key_pem: "junk".into(),
        }),
        ..SimConfig::default()
    })
    .await;
    assert!(matches!(bad, Err(es_ml_sim::SimError::Tls(_))));
}

#[tokio::test]
async fn security_off_answers_security_apis_as_elasticsearch_does() {
    let (sim, c) = sim().await;
    let u = sim.url();
    // ElasticsearchException from the security action filter: type `exception`, 500.
    let hp = c
        .post(format!("{u}/_security/user/_has_privileges"))
        .json(&json!({"cluster": ["manage_ml"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(hp.status().as_u16(), 500);
    let body = hp.json::<serde_json::Value>().await.unwrap();
    assert_eq!(body["error"]["type"], "exception", "{body}");
    // The structured answer to "is security on?".
    let x = send(&c, "GET", format!("{u}/_xpack?categories=features"), None).await;
    assert_eq!(x.status, 200);
    assert_eq!(
        x.body["features"]["security"]["enabled"], false,
        "{}",
        x.body
    );

    let cfg = SimConfig {
        security: Some(security()),
        ..Default::default()
    };
    let on = es_ml_sim::start(cfg).await.unwrap();
    let x = send(
        &c,
        "GET",
        format!("{}/_xpack?categories=features", on.url()),
        Some(&basic("op", "op-pw")),
    )
    .await;
    assert_eq!(
        x.body["features"]["security"]["enabled"], true,
        "{}",
        x.body
    );
}
