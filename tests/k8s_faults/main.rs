//! Faults end to end (real API server, in-process controller, ES ML simulator per test): the
//! reset's asynchronous error, task-id reuse after a node restart, long-poll timeouts in the
//! 8.x (500) and 9.x (429) modes, a vanished task before and from 8.13, adopting a reset already
//! running, Elasticsearch down (before and during the reset) then back, 429/503 bursts, wrong
//! credentials, a Secret created late, two JobResets for one job (also one mended while the
//! other starts), the deadline; also a job deleted mid-reset, a slow close, an unstoppable
//! datafeed, old versions, blocked jobs and a node restart that fails the reset task; a
//! finished reset recorded while a hanging call holds every slot. Waits are watches with deadlines, never sleeps.
//! One file per theme: `refusals`, `tasks`, `outages`, `credentials`, `jobs`, and `harness`
//! for the shared helpers' own faults; the helpers they share are here. Does I/O (Kubernetes,
//! loopback HTTP).

#[path = "../common/mod.rs"]
mod common;
mod credentials;
mod harness;
mod jobs;
mod outages;
mod refusals;
mod tasks;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{World, security, track_max_in_phase};
use es_ml_sim::{Endpoint, SimConfig};
use jobreset_operator::api::Phase;
use jobreset_operator::controller::Options;
use jobreset_operator::es::{EsClient, EsConfig};
use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::json;

fn version(v: &str) -> SimConfig {
    SimConfig {
        version: v.to_owned(),
        ..Default::default()
    }
}

/// A client of the simulator for the test's own calls (e.g. a reset someone else starts).
fn es(w: &World) -> EsClient {
    EsClient::new(EsConfig {
        url: w.sim.url(),
        auth: None,
        ca_pem: None,
        insecure_skip_verify: false,
        opaque_id: Some("someone-else".to_owned()),
        request_timeout: Duration::from_secs(10),
    })
    .expect("client")
}

/// The calls the simulator logged that change a job (close, reset, datafeed stop).
fn touching_calls(w: &World) -> Vec<String> {
    w.ctl()
        .requests()
        .iter()
        .filter(|r| {
            matches!(
                r.endpoint,
                Endpoint::JobClose | Endpoint::JobReset | Endpoint::DatafeedStop
            )
        })
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}
