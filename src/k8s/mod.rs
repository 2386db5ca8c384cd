//! The Kubernetes side of the process runtime: building the API client. Never calls
//! Elasticsearch.

pub mod client;
