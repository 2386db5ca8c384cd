//! Integration tests of the typed Elasticsearch client (`jobreset_operator::es`) against the
//! in-process ES ML simulator: every call, both long-poll timeout modes, auth, TLS, faults.
//! One file per theme (`calls`, `tasks`, `faults`, `security`); shared helpers here. Network I/O
//! on loopback only; no Kubernetes needed. Waits are conditions with deadlines.

mod calls;
#[path = "../common/mod.rs"]
mod common;
mod faults;
mod security;
mod tasks;

use std::time::Duration;

use common::{job_body, pki};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::es::{
    Auth, BlockReason, EsClient, EsConfig, EsError, JobState, TaskOutcome, TaskPoll,
};
use serde_json::json;

const RESET_ACTION: &str = "cluster:admin/xpack/ml/job/reset";
const DEADLINE: Duration = Duration::from_secs(20);

fn config(url: String) -> EsConfig {
    EsConfig {
        url,
        auth: None,
        ca_pem: None,
        insecure_skip_verify: false,
        opaque_id: Some("jobreset/test/es-client/uid-1".to_owned()),
        request_timeout: Duration::from_secs(10),
    }
}

async fn sim(version: &str) -> es_ml_sim::Sim {
    es_ml_sim::start(SimConfig {
        version: version.to_owned(),
        ..Default::default()
    })
    .await
    .expect("simulator starts")
}

fn client(sim: &es_ml_sim::Sim) -> EsClient {
    EsClient::new(config(sim.url())).expect("client builds")
}

/// Follows a task to its end with long-polls of `wait`, counting "still running" answers.
async fn follow(es: &EsClient, task: &str, wait: Duration) -> (TaskPoll, u32) {
    let mut still = 0;
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        assert!(
            tokio::time::Instant::now() < end,
            "task {task} did not finish in time"
        );
        match es.wait_task(task, wait).await.expect("task poll") {
            TaskPoll::StillRunning => still += 1,
            TaskPoll::Running(_) => {}
            done => return (done, still),
        }
    }
}
