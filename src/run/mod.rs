//! One reset of one job: the pure state machine (`decide`), the evidence a lost answer is
//! judged by, the kstatus conditions, and the driver (`steps`) that performs decide's actions
//! through the `es::Elasticsearch` trait and records through a `Sink`. Imports neither kube
//! nor reqwest: the controller and the standalone command give it their clients and sinks.

pub mod act;
pub mod conditions;
pub mod crash;
pub mod decide;
pub mod evidence;
pub mod follow;
pub mod gate;
pub mod ledger;
pub mod steps;
