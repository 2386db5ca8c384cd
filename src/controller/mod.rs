//! The controllers: the only code that joins the run (`run/`), the Elasticsearch client
//! (`es/`) and Kubernetes (`k8s/`). `jobreset` reconciles JobResets (and starts the
//! schedule controller beside it, on the same cache); `schedule` creates JobResets from
//! JobResetSchedules and never calls Elasticsearch; `index` is the cache's index both use. Does
//! I/O.

pub mod error;
pub mod index;
pub mod jobreset;
pub mod schedule;

pub use jobreset::{
    DEFAULT_ECK_URL_TEMPLATE, FIELD_MANAGER, Options, Shared, preflight, run, run_until,
};
