//! `spec.restore`: what the run puts back after a successful reset (the job opened again,
//! its datafeed started again), and from when the datafeed starts. Pure types, no I/O.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// After a successful reset, put the job back as it was.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// `None` (the default, as Elasticsearch and Kibana do): the job stays closed and its
    /// datafeed stopped. `Previous`: a job that was `opened` (or `opening`) is opened again,
    /// and a datafeed that was `started` (or `starting`) is started again. A job that was
    /// `failed` is never reopened; nothing is restored after a failed reset.
    #[serde(default)]
    pub state: RestoreState,

    /// Where a restarted datafeed begins: `Earliest` (the default: a reset job is like a new
    /// one and analyses the data again from its start), `Now`, or an RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("self == 'Earliest' || self == 'Now' || timestamp(self) > timestamp('1970-01-01T00:00:00Z')").message(
        "datafeedStart is Earliest, Now or an RFC 3339 time"
    ))]
    pub datafeed_start: Option<String>,

    /// An RFC 3339 time at which the restarted datafeed stops; it runs in real time when
    /// left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(validation = Rule::new("timestamp(self) > timestamp('1970-01-01T00:00:00Z')").message(
        "datafeedEnd is an RFC 3339 time"
    ))]
    pub datafeed_end: Option<String>,
}

/// Whether the job is put back after the reset.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RestoreState {
    /// Leave the job closed and its datafeed stopped.
    #[default]
    None,
    /// Reopen the job and restart its datafeed if they ran before.
    Previous,
}

impl RestoreSpec {
    /// The datafeed `start` parameter Elasticsearch takes: `0` for the earliest data, `now`,
    /// or the given time.
    pub fn start_param(&self) -> String {
        match self.datafeed_start.as_deref() {
            None | Some("Earliest") => "0".to_owned(),
            Some("Now") => "now".to_owned(),
            Some(t) => t.to_owned(),
        }
    }
}
