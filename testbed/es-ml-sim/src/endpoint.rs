//! The endpoints the simulator tells apart (for faults, latency and request counters) and the
//! classification of a request to one of them. Pure, no I/O.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    Info,
    MlInfo,
    JobPut,
    JobGet,
    JobDelete,
    JobStats,
    JobOpen,
    JobClose,
    JobUpdate,
    JobReset,
    DatafeedPut,
    DatafeedGet,
    DatafeedDelete,
    DatafeedStart,
    DatafeedStop,
    DatafeedStats,
    TaskGet,
    TaskCancel,
    Authenticate,
    HasPrivileges,
    Control,
    Other,
}

impl Endpoint {
    pub const ALL: [Endpoint; 22] = [
        Endpoint::Info,
        Endpoint::MlInfo,
        Endpoint::JobPut,
        Endpoint::JobGet,
        Endpoint::JobDelete,
        Endpoint::JobStats,
        Endpoint::JobOpen,
        Endpoint::JobClose,
        Endpoint::JobUpdate,
        Endpoint::JobReset,
        Endpoint::DatafeedPut,
        Endpoint::DatafeedGet,
        Endpoint::DatafeedDelete,
        Endpoint::DatafeedStart,
        Endpoint::DatafeedStop,
        Endpoint::DatafeedStats,
        Endpoint::TaskGet,
        Endpoint::TaskCancel,
        Endpoint::Authenticate,
        Endpoint::HasPrivileges,
        Endpoint::Control,
        Endpoint::Other,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Endpoint::Info => "info",
            Endpoint::MlInfo => "ml_info",
            Endpoint::JobPut => "job_put",
            Endpoint::JobGet => "job_get",
            Endpoint::JobDelete => "job_delete",
            Endpoint::JobStats => "job_stats",
            Endpoint::JobOpen => "job_open",
            Endpoint::JobClose => "job_close",
            Endpoint::JobUpdate => "job_update",
            Endpoint::JobReset => "job_reset",
            Endpoint::DatafeedPut => "datafeed_put",
            Endpoint::DatafeedGet => "datafeed_get",
            Endpoint::DatafeedDelete => "datafeed_delete",
            Endpoint::DatafeedStart => "datafeed_start",
            Endpoint::DatafeedStop => "datafeed_stop",
            Endpoint::DatafeedStats => "datafeed_stats",
            Endpoint::TaskGet => "task_get",
            Endpoint::TaskCancel => "task_cancel",
            Endpoint::Authenticate => "authenticate",
            Endpoint::HasPrivileges => "has_privileges",
            Endpoint::Control => "control",
            Endpoint::Other => "other",
        }
    }

    /// The cluster action a request to this endpoint needs (`None`: no privilege check).
    pub fn action(&self) -> Option<&'static str> {
        Some(match self {
            Endpoint::Info => "cluster:monitor/main",
            Endpoint::MlInfo => "cluster:monitor/xpack/ml/info/get",
            Endpoint::JobPut => "cluster:admin/xpack/ml/job/put",
            Endpoint::JobGet => "cluster:monitor/xpack/ml/job/get",
            Endpoint::JobDelete => "cluster:admin/xpack/ml/job/delete",
            Endpoint::JobStats => "cluster:monitor/xpack/ml/job/stats/get",
            Endpoint::JobOpen => "cluster:admin/xpack/ml/job/open",
            Endpoint::JobClose => "cluster:admin/xpack/ml/job/close",
            Endpoint::JobUpdate => "cluster:admin/xpack/ml/job/update",
            Endpoint::JobReset => "cluster:admin/xpack/ml/job/reset",
            Endpoint::DatafeedPut => "cluster:admin/xpack/ml/datafeeds/put",
            Endpoint::DatafeedGet => "cluster:monitor/xpack/ml/datafeeds/get",
            Endpoint::DatafeedDelete => "cluster:admin/xpack/ml/datafeeds/delete",
            Endpoint::DatafeedStart => "cluster:admin/xpack/ml/datafeed/start",
            Endpoint::DatafeedStop => "cluster:admin/xpack/ml/datafeed/stop",
            Endpoint::DatafeedStats => "cluster:monitor/xpack/ml/datafeeds/stats/get",
            Endpoint::TaskGet => "cluster:monitor/task/get",
            Endpoint::TaskCancel => "cluster:admin/tasks/cancel",
            Endpoint::Authenticate
            | Endpoint::HasPrivileges
            | Endpoint::Control
            | Endpoint::Other => {
                return None;
            }
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown endpoint {0:?}")]
pub struct UnknownEndpoint(pub String);

impl FromStr for Endpoint {
    type Err = UnknownEndpoint;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::ALL
            .iter()
            .copied()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| UnknownEndpoint(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for e in Endpoint::ALL {
            assert_eq!(e.as_str().parse::<Endpoint>().unwrap(), e);
        }
        assert!("nope".parse::<Endpoint>().is_err());
    }
}
