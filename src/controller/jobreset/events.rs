//! Kubernetes Events (`events.k8s.io/v1`) for run transitions: which Event a status change
//! deserves is pure (`for_transition`); `publish` sends it through the operator's `Recorder` (I/O).

use kube::Resource;

use super::{access::CROSS_NAMESPACE_REF_DENIED, connect::UNAVAILABLE_REASONS};
use crate::{
    api::{JobReset, JobResetStatus, Phase},
    k8s::events::{EventType, Recorder},
    run::decide::reason,
};

/// The stable Event reasons this operator emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventReason {
    /// The run started (first status write).
    Accepted,
    /// Waiting for another JobReset of the same job and cluster.
    Waiting,
    /// Waiting for a Secret or key, or the connection settings are invalid.
    WaitingForConnection,
    /// `elasticsearchRef` names another namespace that grants this one no access.
    CrossNamespaceRefDenied,
    /// The reset intent is recorded; the reset request is being sent.
    Resetting,
    /// The reset is still running when the first long-poll ends, or was found running
    /// after its answer was lost. A reset that ends sooner is told by its outcome's Event
    /// alone (which names the task), so a cleanup over thousands of jobs writes one Event
    /// per job, not two.
    ResetRunning,
    /// A reset already under way was adopted instead of starting another.
    Adopted,
    /// A transient fault; the step will be retried.
    Retrying,
    /// The reset succeeded; the job is being opened, or its datafeed started, again.
    Restoring,
    /// The reset completed.
    Completed,
    /// The run failed.
    Failed,
    /// A fan-out child's name is held by an object the parent does not own.
    ChildNameTaken,
    /// A finished JobReset is deleted: `ttlSecondsAfterFinished` passed.
    Expired,
    /// Its TTL passed, but Argo CD or Flux manages it (and would create it again): kept.
    ExpiredButManaged,
    /// A write to the job's ledger failed; the run goes on without it (BestEffort).
    LedgerWriteFailed,
}

impl EventReason {
    /// Every reason, for documentation and tests.
    pub const ALL: [EventReason; 15] = [
        EventReason::Accepted,
        EventReason::Waiting,
        EventReason::WaitingForConnection,
        EventReason::CrossNamespaceRefDenied,
        EventReason::Resetting,
        EventReason::ResetRunning,
        EventReason::Adopted,
        EventReason::Retrying,
        EventReason::Restoring,
        EventReason::Completed,
        EventReason::Failed,
        EventReason::ChildNameTaken,
        EventReason::Expired,
        EventReason::ExpiredButManaged,
        EventReason::LedgerWriteFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::Accepted => "Accepted",
            EventReason::Waiting => "Waiting",
            EventReason::WaitingForConnection => "WaitingForConnection",
            EventReason::CrossNamespaceRefDenied => CROSS_NAMESPACE_REF_DENIED,
            EventReason::Resetting => "Resetting",
            EventReason::ResetRunning => "ResetRunning",
            EventReason::Adopted => "Adopted",
            EventReason::Retrying => "Retrying",
            EventReason::Restoring => "Restoring",
            EventReason::Completed => "Completed",
            EventReason::Failed => "Failed",
            EventReason::ChildNameTaken => "ChildNameTaken",
            EventReason::Expired => "Expired",
            EventReason::ExpiredButManaged => "ExpiredButManaged",
            EventReason::LedgerWriteFailed => "LedgerWriteFailed",
        }
    }

    fn is_warning(self) -> bool {
        matches!(
            self,
            EventReason::Failed
                | EventReason::ChildNameTaken
                | EventReason::ExpiredButManaged
                | EventReason::LedgerWriteFailed
                | EventReason::Retrying
                | EventReason::WaitingForConnection
                | EventReason::CrossNamespaceRefDenied
        )
    }
}

/// The Event (reason, note) a status change deserves, if any.
pub fn for_transition(old: &JobResetStatus, new: &JobResetStatus) -> Option<(EventReason, String)> {
    let note = new.message.clone().unwrap_or_default();
    let reason_changed = old.reason != new.reason;
    let r = match (old.phase, new.phase) {
        (_, Phase::Completed) if old.phase != Phase::Completed => EventReason::Completed,
        (_, Phase::Failed) if old.phase != Phase::Failed => EventReason::Failed,
        // The close is status only, like the intent: the outcome's Event says the job was
        // closed first.
        (p, Phase::Closing) if p != Phase::Closing => return None,
        (p, Phase::Resetting) if p != Phase::Resetting && new.adopted => EventReason::Adopted,
        // The request itself is told by its outcome (which names the task), by ResetRunning
        // if it lasts, or by Retrying: an Event for the intent would only add writes.
        (p, Phase::Resetting)
            if p != Phase::Resetting && new.reason.as_deref() != Some(reason::RESET_REQUESTED) =>
        {
            EventReason::Resetting
        }
        (_, Phase::Restoring) if reason_changed => EventReason::Restoring,
        _ if reason_changed && new.reason.as_deref() == Some(reason::LEDGER_WRITE_FAILED) => {
            EventReason::LedgerWriteFailed
        }
        // Once per task: not again when a long-poll answers after a fault was retried (nor
        // when the fault came before the first long-poll's end: Retrying told that one).
        _ if !new.adopted
            && new.reason.as_deref() == Some(reason::RESET_RUNNING)
            && (old.task_id != new.task_id
                || reason_changed
                    && matches!(
                        old.reason.as_deref(),
                        Some(reason::RESET_STARTED | reason::RESET_REQUESTED)
                    )) =>
        {
            EventReason::ResetRunning
        }
        _ if !old.adopted && new.adopted => EventReason::Adopted,
        _ if new.attempts > old.attempts => EventReason::Retrying,
        _ if reason_changed
            && new.reason.as_deref().is_some_and(|r| {
                r.starts_with(reason::WAITING_FOR_PREFIX)
                    || r == reason::WAITING_FOR_OTHER_NAMESPACE
            }) =>
        {
            EventReason::Waiting
        }
        _ if reason_changed && new.reason.as_deref() == Some(CROSS_NAMESPACE_REF_DENIED) => {
            EventReason::CrossNamespaceRefDenied
        }
        _ if reason_changed
            && new
                .reason
                .as_deref()
                .is_some_and(|r| UNAVAILABLE_REASONS.contains(&r)) =>
        {
            EventReason::WaitingForConnection
        }
        // A first write that is already the intent is told by the reset's outcome, as above.
        _ if old.start_time.is_none()
            && new.start_time.is_some()
            && new.reason.as_deref() != Some(reason::RESET_REQUESTED) =>
        {
            EventReason::Accepted
        }
        _ => return None,
    };
    Some((r, note))
}

/// Publishes the Event; a failure is logged, never fatal (the status is the record).
pub async fn publish(recorder: &Recorder, obj: &JobReset, reason: EventReason, note: String) {
    let type_ = if reason.is_warning() {
        EventType::Warning
    } else {
        EventType::Normal
    };
    recorder
        .publish(&obj.object_ref(&()), reason.as_str(), type_, note)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(phase: Phase, reason: &str) -> JobResetStatus {
        JobResetStatus {
            phase,
            reason: Some(reason.into()),
            start_time: Some("t".into()),
            ..Default::default()
        }
    }

    #[test]
    fn transitions() {
        let first =
            |new: &JobResetStatus| for_transition(&JobResetStatus::default(), new).map(|e| e.0);
        assert_eq!(
            first(&s(Phase::Pending, "Accepted")),
            Some(EventReason::Accepted)
        );
        let t = |a: &JobResetStatus, b: &JobResetStatus| for_transition(a, b).map(|e| e.0);
        let pending = s(Phase::Pending, "Accepted");
        let closing = s(Phase::Closing, "ClosingJob");
        let resetting = s(Phase::Resetting, "ResetRequested");
        let mut started = resetting.clone();
        started.task_id = Some("n:1".into());
        started.reason = Some("ResetStarted".into());
        let mut adopted = resetting.clone();
        adopted.adopted = true;
        assert_eq!(t(&pending, &closing), None, "the outcome tells the close");
        assert_eq!(first(&closing), None);
        assert_eq!(t(&closing, &resetting), None, "the outcome tells it");
        let mut found = resetting.clone();
        found.reason = Some("ResetRunning".into());
        assert_eq!(t(&closing, &found), Some(EventReason::Resetting));
        // A run whose first write is already the intent is told by its outcome.
        let fresh = JobResetStatus::default();
        assert_eq!(t(&fresh, &resetting), None);
        assert_eq!(t(&fresh, &pending), Some(EventReason::Accepted));
        assert_eq!(t(&closing, &adopted), Some(EventReason::Adopted));
        // The task id alone is no Event; a reset that lasts past the first long-poll is.
        assert_eq!(t(&resetting, &started), None);
        let mut running = started.clone();
        running.reason = Some("ResetRunning".into());
        assert_eq!(t(&started, &running), Some(EventReason::ResetRunning));
        assert_eq!(t(&running, &running), None);
        // A long-poll answering after a retried fault is not told again; another task is.
        let mut faulted = running.clone();
        faulted.reason = Some("ElasticsearchUnavailable".into());
        faulted.attempts = 1;
        assert_eq!(t(&faulted, &running), None);
        let mut other_task = running.clone();
        other_task.task_id = Some("n:2".into());
        assert_eq!(
            t(&running, &other_task),
            Some(EventReason::ResetRunning),
            "the task its job's block names"
        );
        let mut following = faulted.clone();
        following.reason = Some("ResetRunning".into());
        following.task_id = Some("n:2".into());
        assert_eq!(t(&faulted, &following), Some(EventReason::ResetRunning));
        let mut adopted_running = running.clone();
        adopted_running.adopted = true;
        assert_eq!(t(&adopted, &adopted_running), None);
        assert_eq!(
            t(&started, &s(Phase::Completed, "ResetCompleted")),
            Some(EventReason::Completed)
        );
        assert_eq!(
            t(&started, &s(Phase::Failed, "Cancelled")),
            Some(EventReason::Failed)
        );
        assert_eq!(
            t(&pending, &s(Phase::Pending, "WaitingFor/x")),
            Some(EventReason::Waiting)
        );
        assert_eq!(
            t(&pending, &s(Phase::Pending, "SecretNotFound")),
            Some(EventReason::WaitingForConnection)
        );
        assert_eq!(
            t(&pending, &s(Phase::Pending, "CrossNamespaceRefDenied")),
            Some(EventReason::CrossNamespaceRefDenied)
        );
        let mut retry = closing.clone();
        retry.attempts = 1;
        assert_eq!(t(&closing, &retry), Some(EventReason::Retrying));
        assert_eq!(t(&started, &started), None);
    }

    #[test]
    fn reasons_are_camel_case() {
        for r in EventReason::ALL {
            let s = r.as_str();
            assert!(
                s.chars().next().is_some_and(|c| c.is_ascii_uppercase()),
                "{s}"
            );
            assert!(s.chars().all(|c| c.is_ascii_alphanumeric()), "{s}");
        }
    }
}
