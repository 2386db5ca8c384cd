//! Status bookkeeping: the kstatus conditions (Ready, Reconciling, Stalled) derived from a
//! status, and the time format status uses. Pure, no I/O.

use crate::api::{Condition, JobResetStatus, Phase};

/// Condition type: the reset completed.
pub const READY: &str = "Ready";
/// Condition type: the operator is still working on the run.
pub const RECONCILING: &str = "Reconciling";
/// Condition type: the run failed and will not progress without a new JobReset.
pub const STALLED: &str = "Stalled";
/// Whether the job's ledger holds this run (only while the ledger is in use).
pub const RECORDED: &str = "Recorded";

/// A timestamp as written in status: RFC 3339, whole seconds, UTC.
pub fn format_time(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// A `metav1.Condition` reason must be CamelCase-ish (`^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`);
/// `status.reason` may hold `WaitingFor/<name>`, which does not fit.
pub fn condition_reason(reason: &str) -> String {
    if reason.starts_with(crate::run::decide::reason::WAITING_FOR_PREFIX) {
        return "WaitingForOtherReset".to_string();
    }
    let cleaned: String = reason
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    match cleaned.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => cleaned,
        _ => "Unknown".to_string(),
    }
}

/// Sets what every status write carries: observedGeneration, the start time (first write),
/// the completion time (first terminal write) and the conditions.
pub fn stamp(
    old: &JobResetStatus,
    s: &mut JobResetStatus,
    generation: Option<i64>,
    now: jiff::Timestamp,
) {
    let now = format_time(now);
    s.observed_generation = generation;
    if s.start_time.is_none() {
        s.start_time = Some(now.clone());
    }
    if s.phase.is_terminal() && s.completion_time.is_none() {
        s.completion_time = Some(now.clone());
    }
    s.conditions = conditions(old, s, generation, &now);
}

/// The conditions for `new`, keeping `lastTransitionTime` from `old` where a condition's
/// status did not flip.
pub fn conditions(
    old: &JobResetStatus,
    new: &JobResetStatus,
    generation: Option<i64>,
    now: &str,
) -> Vec<Condition> {
    let reason = condition_reason(new.reason.as_deref().unwrap_or(new.phase.as_str()));
    let message = new.message.clone().unwrap_or_default();
    let (ready, reconciling, stalled) = match new.phase {
        Phase::Completed => ("True", "False", "False"),
        Phase::Failed => ("False", "False", "True"),
        Phase::Pending | Phase::Closing | Phase::Resetting | Phase::Restoring => {
            ("False", "True", "False")
        }
    };
    let since = |type_: &str, status: &str| match old.condition(type_) {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => now.to_string(),
    };
    let mut out: Vec<Condition> = [
        (READY, ready),
        (RECONCILING, reconciling),
        (STALLED, stalled),
    ]
    .into_iter()
    .map(|(type_, status)| Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        observed_generation: generation,
        last_transition_time: since(type_, status),
        reason: reason.clone(),
        message: message.clone(),
    })
    .collect();
    // Only while the job's ledger is in use: whether it holds this run.
    if let Some(state) = new.ledger_state.as_deref() {
        let (status, why, msg) = match state {
            "started" | "succeeded" => (
                "True",
                "Recorded",
                format!("the job's ledger records this run as {state}"),
            ),
            "unrecorded" => (
                "False",
                "LedgerWriteFailed",
                "a write to the job's ledger failed (see the Events): a JobReset created again under this key could reset the job again".to_owned(),
            ),
            _ => ("Unknown", "Recording", "writing the job's ledger".to_owned()),
        };
        out.push(Condition {
            type_: RECORDED.to_string(),
            status: status.to_string(),
            observed_generation: generation,
            last_transition_time: since(RECORDED, status),
            reason: why.to_string(),
            message: msg,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(phase: Phase, reason: &str) -> JobResetStatus {
        JobResetStatus {
            phase,
            reason: Some(reason.into()),
            ..Default::default()
        }
    }

    #[test]
    fn reasons_fit_metav1_condition() {
        assert_eq!(condition_reason("WaitingFor/other"), "WaitingForOtherReset");
        assert_eq!(condition_reason("ResetCompleted"), "ResetCompleted");
        assert_eq!(condition_reason("9lives"), "Unknown");
        assert_eq!(condition_reason(""), "Unknown");
    }

    #[test]
    fn kstatus_shape_per_phase() {
        let old = JobResetStatus::default();
        let get = |s: &JobResetStatus, t: &str| {
            conditions(&old, s, Some(1), "t0")
                .into_iter()
                .find(|c| c.type_ == t)
                .map(|c| c.status)
        };
        let pending = status(Phase::Pending, "Accepted");
        assert_eq!(get(&pending, READY).as_deref(), Some("False"));
        assert_eq!(get(&pending, RECONCILING).as_deref(), Some("True"));
        assert_eq!(get(&pending, STALLED).as_deref(), Some("False"));
        let done = status(Phase::Completed, "ResetCompleted");
        assert_eq!(get(&done, READY).as_deref(), Some("True"));
        assert_eq!(get(&done, RECONCILING).as_deref(), Some("False"));
        let failed = status(Phase::Failed, "JobNotFound");
        assert_eq!(get(&failed, STALLED).as_deref(), Some("True"));
        assert_eq!(get(&failed, READY).as_deref(), Some("False"));
    }

    #[test]
    fn transition_time_kept_until_status_flips() {
        let first = status(Phase::Closing, "ClosingJob");
        let mut old = first.clone();
        old.conditions = conditions(&JobResetStatus::default(), &first, Some(1), "t0");
        let next = status(Phase::Resetting, "ResetStarted");
        let conds = conditions(&old, &next, Some(1), "t1");
        assert!(conds.iter().all(|c| c.last_transition_time == "t0"));
        let done = status(Phase::Completed, "ResetCompleted");
        let conds = conditions(&old, &done, Some(1), "t2");
        let ready = conds
            .iter()
            .find(|c| c.type_ == READY)
            .map(|c| c.last_transition_time.as_str());
        assert_eq!(ready, Some("t2"));
        let stalled = conds
            .iter()
            .find(|c| c.type_ == STALLED)
            .map(|c| c.last_transition_time.as_str());
        assert_eq!(stalled, Some("t0"));
    }
}
