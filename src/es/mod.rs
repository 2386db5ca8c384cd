//! Typed Elasticsearch client for the calls the operator makes: the cluster version
//! (`_ml/info`), job config and stats, close, async reset, task follow. Does network I/O;
//! nothing outside this module builds a URL or parses an Elasticsearch body.
//!
//! `client` does the I/O; `wire` (pure) decodes bodies and error answers; `error` classifies.

mod client;
mod error;
mod types;
mod wire;

pub(crate) use client::base_url;
pub use client::{Auth, EsClient, EsConfig, attempt_opaque_id};
pub use error::{EsError, INVALID_CONNECTION, TIMEOUT, TRANSIENT_REASONS, UNREACHABLE};
pub use types::{
    BlockReason, Blocked, ClusterInfo, ErrorCause, Job, JobState, RESET_ACTION, TaskInfo,
    TaskOutcome, TaskPoll, UNKNOWN_VERSION,
};
pub use wire::{es_time, parse_es_time};
