//! The API the operator serves (group `ml.jobreset.io`, version `v1alpha1`): the custom
//! resources and the rules their schemas enforce. Pure types and functions, no I/O; every
//! field's doc comment is what `kubectl explain` shows.

mod jobreset;

pub use jobreset::*;
