//! The API the operator serves (group `ml.jobreset.io`, version `v1alpha1`): the `JobReset`,
//! `JobResetSchedule` and `JobResetGrant` custom resources and the name rules their schemas enforce. Pure types
//! and functions, no I/O; every field's doc comment is what `kubectl explain` shows.

pub mod fanout;
pub mod grant;
mod jobreset;
pub mod ledger;
pub mod names;
pub mod restore;
pub mod schedule;
mod status;

pub use fanout::{DryRunJob, FailurePolicy, FanOutStatus, JobConditions, JobSelector, SkippedJob};
pub use grant::{GrantFrom, GrantTo, JobResetGrant, JobResetGrantSpec};
pub use jobreset::*;
pub use ledger::LedgerMode;
pub use restore::{RestoreSpec, RestoreState};
pub use schedule::{
    ConcurrencyPolicy, JobResetSchedule, JobResetScheduleSpec, JobResetScheduleStatus,
    JobResetTemplate, RunRef, TemplateMetadata,
};
pub use status::*;

/// For `skip_serializing_if`: a count of zero is left out.
fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}
