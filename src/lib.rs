//! jobreset-operator: resets Elasticsearch ML anomaly detection jobs declaratively.
//!
//! The library holds everything the binary runs, so integration tests can drive the
//! controller in-process against the test bed. Layout (the import rules are checked by
//! `tests/layout.rs`):
//! - `api/`: the CRD types and the name rules of their schemas (pure);
//! - `run/`: one reset of one job: the pure state machine `decide`, the evidence a lost answer
//!   is judged by, the driver `steps` (through the `es::Elasticsearch` trait and a `Sink`);
//!   neither kube nor reqwest;
//! - `es/`: the Elasticsearch client (never imports kube);
//! - `k8s/`: the Kubernetes side of the process: API client, Lease, probes and metrics,
//!   status writer (never calls Elasticsearch);
//! - `controller/`: the only place that joins them (`controller::jobreset`);
//! - `standalone`: the `reset` command (the run and `es/`, without Kubernetes); `cli`.

pub mod api;
pub mod cli;
pub mod controller;
pub mod es;
pub mod k8s;
pub mod run;
pub mod standalone;

/// The CRDs this operator serves, as one multi-document YAML string (what `jobreset-operator
/// crd` prints and `crds/jobreset.yaml` holds). Pure.
pub fn crds_yaml() -> Result<String, serde_yaml_ng::Error> {
    use kube::CustomResourceExt;
    let mut out = String::new();
    for crd in [
        api::JobReset::crd(),
        api::JobResetSchedule::crd(),
        api::JobResetGrant::crd(),
    ] {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}
