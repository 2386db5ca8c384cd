//! jobreset-operator: resets Elasticsearch ML anomaly detection jobs declaratively.
//!
//! The library holds everything the binary runs, so integration tests can drive the
//! controller in-process against the test bed. Layout: `api` (the CRD types), `decide` (the pure
//! state machine), `steps` (act/record driver), `reconcile` + `controller` (Kubernetes side),
//! `connect` (connection settings from Secrets), `status`, `events`, `standalone` (the
//! `reset` command), `cli`, `crash` (crash points for restart tests), `es` (the client).

pub mod access;
pub mod api;
pub mod cli;
pub mod clients;
pub mod connect;
pub mod controller;
pub mod crash;
pub mod decide;
pub mod error;
pub mod es;
pub mod events;
pub mod evidence;
pub mod follow;
pub mod gate;
pub mod k8s;
pub mod leader;
pub mod memory;
pub mod metrics;
pub mod queue;
pub mod reconcile;
pub mod record;
pub mod standalone;
pub mod status;
pub mod steps;

/// The CRDs this operator serves, as one multi-document YAML string (what `jobreset-operator
/// crd` prints and `crds/jobreset.yaml` holds). Pure.
pub fn crds_yaml() -> Result<String, serde_yaml_ng::Error> {
    use kube::CustomResourceExt;
    let mut out = String::new();
    for crd in [api::JobReset::crd(), api::JobResetGrant::crd()] {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}
