//! jobreset-operator: resets Elasticsearch ML anomaly detection jobs declaratively.
//!
//! The library holds everything the binary runs, so integration tests can drive the
//! controller in-process against the test bed.

pub mod es;
