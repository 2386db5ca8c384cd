//! `jobreset-operator reset`: the close/reset/follow run without Kubernetes, driven as users
//! run it (the binary, a credentials file) against the simulator. Checks the exit codes, the
//! JSON result and that no credential reaches the output. Does I/O: a simulator on loopback,
//! temporary files, the operator binary.

mod common;

use std::process::Output;

use es_ml_sim::{Endpoint, SimConfig};
use serde_json::Value;

async fn reset(url: &str, job: &str, extra: &[&str]) -> (Output, Value) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobreset-operator"))
        .args([
            "reset",
            "--url",
            url,
            "--job",
            job,
            "--task-poll-timeout",
            "2s",
        ])
        .args(extra)
        .output()
        .await
        .expect("run jobreset-operator reset");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, json)
}

fn seeded(sim: &es_ml_sim::Sim, job: &str) {
    sim.control()
        .apply_seed(&common::seed(job, "opened", false))
        .expect("seed");
}

#[tokio::test]
async fn resets_an_opened_job_with_basic_auth() {
    let sim = es_ml_sim::start(SimConfig {
        security: Some(common::security()),
        ..Default::default()
    })
    .await
    .expect("simulator");
    seeded(&sim, "cli-job");
    let dir = std::env::temp_dir().join(format!("jobreset-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let creds = dir.join("creds");
    std::fs::write(
        &creds,
        "# the documented minimal role\nminimal:minimal-pw-1\n",
    )
    .expect("creds");

    let creds_arg = creds.to_string_lossy().into_owned();
    let (out, json) = reset(&sim.url(), "cli-job", &["--credentials-file", &creds_arg]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{json:#}\n{stderr}");
    assert_eq!(json["phase"], "Completed", "{json:#}");
    assert_eq!(json["jobId"], "cli-job");
    assert_eq!(json["jobStateBefore"], "opened");
    assert!(
        json["taskId"].as_str().is_some_and(|t| t.contains(':')),
        "{json:#}"
    );
    assert_eq!(sim.control().count(Endpoint::JobReset), 1);
    let view = sim.control().job("cli-job").expect("job");
    assert_eq!(
        (view.state.as_str(), view.processed_record_count),
        ("closed", 0)
    );
    let all = format!("{}{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains("minimal-pw-1"), "the password leaked: {all}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn unknown_job_fails_with_a_reason_and_exit_code_1() {
    let sim = es_ml_sim::start(SimConfig::default())
        .await
        .expect("simulator");
    let (out, json) = reset(&sim.url(), "no-such-job", &[]).await;
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    assert_eq!(json["phase"], "Failed");
    assert_eq!(json["reason"], "JobNotFound", "{json:#}");
    assert_eq!(sim.control().count(Endpoint::JobReset), 0);
}

#[tokio::test]
async fn invalid_input_exits_2_without_calling_elasticsearch() {
    let sim = es_ml_sim::start(SimConfig::default())
        .await
        .expect("simulator");
    let (out, _) = reset(&sim.url(), "Not_A_Valid_Id*", &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let (out, _) = reset(
        &sim.url(),
        "cli-job",
        &["--credentials-file", "/nonexistent/creds"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        sim.control().requests().is_empty(),
        "nothing may reach Elasticsearch"
    );
}
