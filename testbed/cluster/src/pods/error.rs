//! The pod runner's error type. No I/O.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::BedError;

/// Everything the pod runner can refuse or fail at. Every variant names the object, file or
/// process it is about.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// `kubectl kustomize` could not be run or failed.
    #[error("kubectl kustomize {dir}: {detail}")]
    Kustomize { dir: PathBuf, detail: String },
    /// A YAML document of the manifests does not parse (documents are numbered from 1).
    #[error("manifest document {doc}: {detail}")]
    Yaml { doc: usize, detail: String },
    /// An object is invalid (`object` is `Kind namespace/name`).
    #[error("{object}: {detail}")]
    Invalid { object: String, detail: String },
    /// An object uses something the runner does not implement.
    #[error("{object}: {feature} is not supported by the test bed's pod runner")]
    Unsupported { object: String, feature: String },
    /// A container's image is not in the caller's image map.
    #[error(
        "{object}: container {container}: image {image:?} is not mapped to a local binary \
         (mapped: {known})"
    )]
    UnknownImage {
        object: String,
        container: String,
        image: String,
        known: String,
    },
    /// A mapped binary is missing or not a file.
    #[error("image {image:?} is mapped to {path}, which {detail}")]
    Binary {
        image: String,
        path: PathBuf,
        detail: String,
    },
    /// Talking to the test bed failed.
    #[error("{context}: {source}")]
    Bed {
        context: String,
        #[source]
        source: BedError,
    },
    #[error("{context}: {source}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("{context}: {path}: {source}")]
    Io {
        context: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No free loopback port could be found for a container port.
    #[error("pod {pod}: no free loopback port for containerPort {container_port}: {detail}")]
    Port {
        pod: String,
        container_port: u16,
        detail: String,
    },
    /// An OS thread could not be started.
    #[error("starting thread {name}: {source}")]
    Thread {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no pod {pod} (known: {known})")]
    NoSuchPod { pod: String, known: String },
    #[error("pod {pod} has no container {container}")]
    NoSuchContainer { pod: String, container: String },
    #[error("no deployment {deployment} (known: {known})")]
    NoSuchDeployment { deployment: String, known: String },
    #[error("deployment name {deployment} is in several namespaces ({namespaces}): use ns/name")]
    AmbiguousDeployment {
        deployment: String,
        namespaces: String,
    },
    /// A pod's container is not running, so it cannot be signalled.
    #[error("pod {pod}: container {container} is not running")]
    NotRunning { pod: String, container: String },
    #[error("pod {pod}: sending signal {signal} to pid {pid}: {source}")]
    Signal {
        pod: String,
        signal: i32,
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    /// Another `rollout_restart` replaced the template before this rollout completed.
    #[error(
        "the rollout of {deployment} (template {template_hash}) was superseded by template {by}"
    )]
    Superseded {
        deployment: String,
        template_hash: String,
        by: String,
    },
    /// A wait did not see its condition in time; `state` describes the pods at the end.
    #[error("waiting {deadline:?} for {what}: deadline passed; pods: {state}")]
    Deadline {
        what: String,
        deadline: Duration,
        state: String,
    },
    /// The runner was stopped (or its pod thread ended) while asked to do something.
    #[error("pod runner: {0}")]
    Stopped(String),
}

impl PodError {
    pub(crate) fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        e: std::io::Error,
    ) -> Self {
        PodError::Io {
            context: context.into(),
            path: path.into(),
            source: e,
        }
    }
}
