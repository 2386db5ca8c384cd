//! Tests of `client` (no I/O).

use super::*;

fn cfg(url: &str) -> EsConfig {
    EsConfig {
        url: url.to_owned(),
        auth: None,
        ca_pem: None,
        insecure_skip_verify: false,
        opaque_id: Some("jobreset/ns/name/uid".to_owned()),
        request_timeout: Duration::from_secs(5),
    }
}

#[test]
fn paths_are_percent_encoded_under_a_base_path() {
    let c = EsClient::new(cfg("https://es.example:9200/prefix/")).unwrap();
    let call = c.call(
        Method::POST,
        &["_ml", "anomaly_detectors", "a/b?c", "_reset"],
        &[("wait_for_completion", "false")],
    );
    assert_eq!(
        call.url.as_str(),
        "https://es.example:9200/prefix/_ml/anomaly_detectors/a%2Fb%3Fc/_reset?wait_for_completion=false"
    );
    let task = c.call(Method::GET, &["_tasks", "oTUlt:39"], &[]);
    assert_eq!(task.url.path(), "/prefix/_tasks/oTUlt:39");
}

#[test]
fn credentials_in_url_are_refused_without_echoing_them() {
    let err = EsClient::new(cfg("https://elastic:hunter22@es.example:9200")).unwrap_err();
    assert_eq!(err.reason(), "InvalidConnection");
    assert!(!err.to_string().contains("hunter22"));
}

#[test]
fn bad_settings_are_config_errors() {
    assert!(matches!(
        EsClient::new(cfg("ftp://es")),
        Err(EsError::Config(_))
    ));
    assert!(matches!(
        EsClient::new(cfg("not a url")),
        Err(EsError::Config(_))
    ));
    let mut c = cfg("https://es:9200");
    c.ca_pem =
        Some(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".to_vec());
    assert!(matches!(EsClient::new(c), Err(EsError::Config(_))));
    let mut c = cfg("https://es:9200");
    c.ca_pem = Some(b"no pem here".to_vec());
    assert!(matches!(EsClient::new(c), Err(EsError::Config(_))));
    let mut c = cfg("https://es:9200");
    c.auth = Some(Auth::ApiKey("bad\nkey-secret".to_owned()));
    let err = EsClient::new(c).unwrap_err();
    assert!(!err.to_string().contains("key-secret"));
}

#[test]
fn scrub_removes_secrets() {
    let mut c = cfg("http://es:9200");
    c.auth = Some(Auth::Basic {
        username: "elastic".into(),
        password: "s3cret-pw".into(),
    });
    let client = EsClient::new(c).unwrap();
    assert_eq!(client.scrub("x s3cret-pw y".to_owned()), "x <redacted> y");
    assert!(!format!("{client:?}").contains("s3cret-pw"));
}
