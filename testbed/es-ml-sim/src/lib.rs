//! Elasticsearch ML simulator: a faithful stand-in for the anomaly-detection job APIs (close,
//! reset, open, datafeeds) and the task API, with security, TLS and faults on demand.
//! See README.md for the binary, the control API and the file formats.

pub mod catalog;
pub mod config;
pub mod control;
pub mod endpoint;
pub mod engine;
pub mod errors;
pub mod faults;
pub mod http;
pub mod opening;
pub mod params;
pub mod security;
pub mod state;
pub mod tls;
pub mod versions;

pub use config::{ApiKey, Security, Seed, SimConfig, SimError, TlsPem, Token, User};
pub use control::{Control, JobView, Sim, start};
pub use endpoint::Endpoint;
pub use engine::LoggedRequest;
pub use errors::EsError;
pub use versions::Version;
