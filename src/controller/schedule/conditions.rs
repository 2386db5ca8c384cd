//! kstatus conditions of a JobResetSchedule: Ready (the schedule is in effect), Stalled (it
//! cannot be: an invalid schedule or an unknown time zone) and Suspended. Pure, no I/O.

use jiff::Timestamp;

use super::decide::{Decision, reason};
use crate::api::{Condition, JobResetScheduleSpec, JobResetScheduleStatus};

/// The conditions for this decision, keeping `lastTransitionTime` where a status held.
pub fn for_schedule(
    old: &JobResetScheduleStatus,
    spec: &JobResetScheduleSpec,
    d: &Decision,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let (ready, stalled, why, message) = match &d.stalled {
        Some((r, m)) => (false, true, *r, m.clone()),
        None if spec.suspend => (
            true,
            false,
            reason::SUSPENDED,
            "suspended: no new runs until spec.suspend is false".to_owned(),
        ),
        None => (true, false, reason::SCHEDULED, next_message(d)),
    };
    let suspended = spec.suspend;
    let suspended_why = if suspended {
        reason::SUSPENDED
    } else {
        reason::SCHEDULED
    };
    [
        ("Ready", ready, why, message.clone()),
        (
            "Stalled",
            stalled,
            why,
            if stalled { message } else { String::new() },
        ),
        ("Suspended", suspended, suspended_why, String::new()),
    ]
    .into_iter()
    .map(|(type_, on, r, m)| {
        let status = if on { "True" } else { "False" }.to_owned();
        let since = old
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        Condition {
            type_: type_.to_owned(),
            status,
            observed_generation: generation,
            last_transition_time: since,
            reason: r.to_owned(),
            message: m,
        }
    })
    .collect()
}

fn next_message(d: &Decision) -> String {
    match d.next {
        Some(t) => format!("next run at {t}"),
        None => "no further slot".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_suspended_and_ready() {
        let spec: JobResetScheduleSpec = serde_json::from_value(serde_json::json!({
            "schedule": "@daily",
            "jobResetTemplate": {"spec": {"jobId": "j", "elasticsearch": {"url": "http://es"}}}
        }))
        .unwrap();
        let now: Timestamp = "2026-05-01T00:00:00Z".parse().unwrap();
        let d = Decision {
            stalled: Some((reason::UNKNOWN_TIME_ZONE, "timeZone \"X\"".into())),
            ..Default::default()
        };
        let c = for_schedule(&Default::default(), &spec, &d, Some(2), now);
        let get = |t: &str| c.iter().find(|x| x.type_ == t).unwrap().clone();
        assert_eq!(
            (get("Ready").status.as_str(), get("Stalled").status.as_str()),
            ("False", "True")
        );
        assert_eq!(get("Stalled").reason, reason::UNKNOWN_TIME_ZONE);
        let mut suspended = spec.clone();
        suspended.suspend = true;
        let c2 = for_schedule(
            &Default::default(),
            &suspended,
            &Decision::default(),
            Some(2),
            now,
        );
        let s = c2.iter().find(|x| x.type_ == "Suspended").unwrap();
        assert_eq!(
            (s.status.as_str(), s.reason.as_str()),
            ("True", reason::SUSPENDED)
        );
        // A condition that holds keeps its transition time.
        let old = JobResetScheduleStatus {
            conditions: c2.clone(),
            ..Default::default()
        };
        let later: Timestamp = "2026-05-02T00:00:00Z".parse().unwrap();
        let c3 = for_schedule(&old, &suspended, &Decision::default(), Some(2), later);
        assert_eq!(c3, c2);
    }
}
