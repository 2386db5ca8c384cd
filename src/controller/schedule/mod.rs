//! The JobResetSchedule controller.

pub mod decide;
pub mod slots;
