//! Crash points for restart tests: when the environment variable `JOBRESET_CRASH_AT` names a
//! point, the process aborts there (no cleanup, like a SIGKILL), the first time a run reaches
//! it. The points:
//!
//! - `after-close`: the close request returned, nothing recorded yet;
//! - `after-reset-post`: the reset POST returned a task id, not yet written to status;
//! - `after-task-id-written`: `status.taskId` was just written;
//! - `mid-follow`: a `GET _tasks/<id>` long-poll returned, its answer not yet processed;
//! - `after-completion-before-status`: the run decided Completed, the status not yet written;
//! - `after-targets-frozen`: a fan-out's targets were written, no child created yet;
//! - `after-run-created`: a schedule created the run of a slot, the slot not yet recorded;
//! - `after-reopen`: a restore opened the job again, not yet recorded;
//! - `after-ledger-write`: a ledger write (the first: `started`) landed, not yet read back.
//!
//! Only in builds with the `crash-points` feature (`make test` turns it on; release builds
//! and the image do not): elsewhere `at` does nothing and the variable is ignored. Reads the
//! environment once; otherwise no I/O.

#[cfg(feature = "crash-points")]
use std::sync::OnceLock;

/// The environment variable naming the crash point.
pub const ENV: &str = "JOBRESET_CRASH_AT";

/// A place in a run where the process can be made to die.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    AfterClose,
    AfterResetPost,
    AfterTaskIdWritten,
    MidFollow,
    AfterCompletionBeforeStatus,
    AfterTargetsFrozen,
    AfterRunCreated,
    AfterReopen,
    AfterLedgerWrite,
}

impl CrashPoint {
    pub fn as_str(self) -> &'static str {
        match self {
            CrashPoint::AfterClose => "after-close",
            CrashPoint::AfterResetPost => "after-reset-post",
            CrashPoint::AfterTaskIdWritten => "after-task-id-written",
            CrashPoint::MidFollow => "mid-follow",
            CrashPoint::AfterCompletionBeforeStatus => "after-completion-before-status",
            CrashPoint::AfterTargetsFrozen => "after-targets-frozen",
            CrashPoint::AfterRunCreated => "after-run-created",
            CrashPoint::AfterReopen => "after-reopen",
            CrashPoint::AfterLedgerWrite => "after-ledger-write",
        }
    }
}

#[cfg(feature = "crash-points")]
fn configured() -> Option<&'static str> {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    AT.get_or_init(|| std::env::var(ENV).ok()).as_deref()
}

/// Without the `crash-points` feature: nothing.
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub fn at(_point: CrashPoint) {}

/// Aborts the process if `JOBRESET_CRASH_AT` names this point.
#[cfg(feature = "crash-points")]
pub fn at(point: CrashPoint) {
    if configured() == Some(point.as_str()) {
        eprintln!(
            "jobreset-operator: {ENV}={}: aborting on purpose",
            point.as_str()
        );
        std::process::abort();
    }
}
