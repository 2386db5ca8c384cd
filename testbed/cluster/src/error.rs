//! The test bed's error type. No I/O.

use std::path::PathBuf;

/// Everything that can go wrong while starting, using or stopping a test bed.
#[derive(Debug, thiserror::Error)]
pub enum BedError {
    /// The apiserver/etcd binaries are missing or provisioning failed: tests should skip.
    #[error("kubernetes test bed unavailable: {cause}")]
    Unavailable { cause: String },
    #[error("{context}: {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("generating certificates: {0}")]
    Pki(String),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("starting {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} did not become ready: {detail}")]
    NotReady { what: String, detail: String },
    #[error("{context}: {source}")]
    Http {
        context: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{context}: HTTP {status}: {body}")]
    Api {
        context: String,
        status: u16,
        body: String,
    },
    #[error("{context}: {source}")]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
    #[error("reading {path}: {detail}")]
    Manifest { path: PathBuf, detail: String },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        what: String,
        after: std::time::Duration,
    },
    #[error("test bed runtime: {0}")]
    Runtime(String),
    #[error("starting the ES ML simulator: {0}")]
    Sim(String),
    /// The shared bed failed to start earlier in this process (the first error, as text).
    #[error("shared test bed failed to start: {0}")]
    Shared(String),
}

impl BedError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        BedError::Io {
            context,
            path: path.into(),
            source,
        }
    }

    /// A copy of this error for handing out again (the shared bed keeps the first one).
    pub(crate) fn to_shared(&self) -> BedError {
        match self {
            BedError::Unavailable { cause } => BedError::Unavailable {
                cause: cause.clone(),
            },
            other => BedError::Shared(other.to_string()),
        }
    }
}
