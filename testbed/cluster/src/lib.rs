//! Test bed: a real Kubernetes API server (`apiextensions-apiserver` + etcd, or a full
//! `kube-apiserver` from `KUBEBUILDER_ASSETS`) with a core/v1 front on loopback, plus the ES ML
//! simulator. See README.md for what it needs from the machine.

mod apiserver;
mod attach;
pub mod bed;
pub mod binaries;
mod boot;
mod crds;
mod error;
mod es;
mod exit_cleanup;
pub mod faults;
pub mod front;
mod kubeconfig;
mod pki;
pub mod pods;
mod procs;
mod tls;

pub use attach::ENV as ATTACH_ENV;
pub use bed::{Options, TestBed, workspace_crds_dir};
pub use error::BedError;
pub use es::SimConfig;
pub use faults::{
    FaultAction, FaultRule, Faults, OpenWatch, RequestMatch, RuleState, ScopedRule, WatchEnd,
};
pub use front::reqinfo::RecordedRequest;
pub use pods::{PodError, PodRunner, RunnerOptions};
