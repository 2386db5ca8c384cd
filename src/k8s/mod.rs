//! The Kubernetes side of the process runtime: the API client, the leader-election Lease,
//! the probes and metrics server, the status writer, Events. Never calls Elasticsearch.

pub mod client;
pub mod events;
pub mod leader;
pub mod metrics;
pub mod status;
