//! Typed Elasticsearch client for the calls the operator makes (cluster info, job config and
//! stats, close, async reset, task follow). Does network I/O; nothing outside this module
//! builds a URL or parses an Elasticsearch body.
//!
//! INTERFACE STUB written by the lead: the signatures and types here are the contract the
//! controller codes against; the bodies are filled in by the ES-client engineer.

mod client;
mod error;
mod types;

pub use client::{Auth, EsClient, EsConfig};
pub use error::EsError;
pub use types::{
    BlockReason, Blocked, ClusterInfo, ErrorCause, Job, JobState, TaskInfo, TaskOutcome, TaskPoll,
};
