//! `spec.ledger` and `spec.runKey`: the record of each reset kept on the job itself (in its
//! `custom_settings`), so a JobReset created again from the same manifest does not reset
//! the job again. Pure types, no I/O.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the run uses the job's ledger.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LedgerMode {
    /// Read it, and write a `started` entry before the reset and the outcome after; a failed
    /// write is a Warning Event, not a failed reset (the default).
    #[default]
    BestEffort,
    /// The same, but the reset is not sent unless the `started` entry was written.
    Required,
    /// Neither read nor write it.
    Disabled,
}
