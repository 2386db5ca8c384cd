//! The controller layer's error enum: failures of Kubernetes calls around a run (Elasticsearch
//! faults are not errors here: `decide` turns them into status). Pure, no I/O.

/// An error that stops one reconcile (retried by the controller's error policy) or the
/// controller itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read JobReset {namespace}/{name}: {source}")]
    ReadObject {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot write the status of JobReset {namespace}/{name}: {source}")]
    WriteStatus {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot create {kind} {namespace}/{name}: {source}")]
    CreateObject {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("cannot delete {kind} {namespace}/{name}: {source}")]
    DeleteObject {
        kind: &'static str,
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("JobReset {namespace}/{name} changed since it was read (409); reading it again")]
    Conflict { namespace: String, name: String },
    #[error("the JobResetGrant cache has not synced yet")]
    GrantsNotSynced,
    #[error("JobReset {0} has no namespace")]
    MissingNamespace(String),
    #[error(
        "cannot list JobResets, JobResetSchedules or JobResetGrants (are the CRDs installed? kubectl apply -f crds/): {source}"
    )]
    CrdNotInstalled {
        #[source]
        source: kube::Error,
    },
    #[error("cannot serve metrics and probes on {addr} (--metrics-addr): {source}")]
    MetricsBind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A failed status write: a 409 (the object changed since it was read) is a Conflict,
    /// read again and decided again; anything else is WriteStatus.
    pub fn status_write(namespace: &str, name: &str, source: kube::Error) -> Error {
        match &source {
            kube::Error::Api(e) if e.code == 409 => Error::Conflict {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
            _ => Error::WriteStatus {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                source,
            },
        }
    }

    /// Stable reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::ReadObject { .. } => "ReadObjectFailed",
            Error::WriteStatus { .. } => "StatusWriteFailed",
            Error::CreateObject { .. } => "CreateFailed",
            Error::DeleteObject { .. } => "DeleteFailed",
            Error::GrantsNotSynced => "GrantsNotSynced",
            Error::Conflict { .. } => "Conflict",
            Error::MissingNamespace(_) => "MissingNamespace",
            Error::CrdNotInstalled { .. } => "CrdNotInstalled",
            Error::MetricsBind { .. } => "MetricsBindFailed",
        }
    }

    /// Whether a later attempt may succeed (decided once, here).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::ReadObject { .. }
            | Error::WriteStatus { .. }
            | Error::CreateObject { .. }
            | Error::DeleteObject { .. }
            | Error::GrantsNotSynced
            | Error::Conflict { .. } => true,
            Error::MissingNamespace(_)
            | Error::CrdNotInstalled { .. }
            | Error::MetricsBind { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let e = Error::MissingNamespace("x".into());
        assert_eq!(e.reason(), "MissingNamespace");
        assert!(!e.is_transient());
    }
}
