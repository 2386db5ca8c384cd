//! What a JobResetSchedule does now, from its spec, its status, its runs and the time: fire
//! a slot, skip it (Forbid), record missed slots, delete runs past the history limits, and
//! when to look again. Pure, table-tested; the clock is an input.

use jiff::Timestamp;

use super::slots::{COUNT_CAP, Slots, SlotsError};
use crate::api::{ConcurrencyPolicy, JobResetScheduleSpec, JobResetScheduleStatus, Phase, RunRef};

/// One run of the schedule, as the cache shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub name: String,
    pub slot: Timestamp,
    pub phase: Phase,
    /// `status.completionTime`, once terminal.
    pub finished: Option<Timestamp>,
}

/// Stable reasons of a schedule.
pub mod reason {
    pub const SCHEDULED: &str = "Scheduled";
    pub const SUSPENDED: &str = "Suspended";
    pub const INVALID_SCHEDULE: &str = "InvalidSchedule";
    pub const UNKNOWN_TIME_ZONE: &str = "UnknownTimeZone";
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Decision {
    /// Create the run of this slot.
    pub fire: Option<Timestamp>,
    /// This slot is skipped: these runs are still going (Forbid).
    pub skip: Option<(Timestamp, Vec<String>)>,
    /// Slots missed and not run now: how many (at least, when `COUNT_CAP`), the latest, and
    /// whether the latest was too late for the deadline (else only older ones were missed
    /// and the latest is caught up).
    pub missed: Option<Missed>,
    /// Finished runs past the history limits, oldest first.
    pub delete: Vec<String>,
    /// The schedule cannot be used: reason and message.
    pub stalled: Option<(&'static str, String)>,
    /// The next slot (none while suspended or stalled).
    pub next: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missed {
    pub count: u64,
    pub latest: Timestamp,
    pub capped: bool,
}

/// `created`: the schedule's creationTimestamp, before which no slot is due.
pub fn decide(
    spec: &JobResetScheduleSpec,
    status: &JobResetScheduleStatus,
    created: Timestamp,
    runs: &[Run],
    now: Timestamp,
) -> Decision {
    let since = watermark(status, created);
    let mut d = Decision {
        delete: history(spec, runs, since),
        ..Default::default()
    };
    let slots = match Slots::new(&spec.schedule, spec.time_zone.as_deref()) {
        Ok(s) => s,
        Err(SlotsError::InvalidSchedule(m)) => {
            d.stalled = Some((reason::INVALID_SCHEDULE, format!("schedule {m}")));
            return d;
        }
        Err(SlotsError::UnknownTimeZone(z)) => {
            let msg = format!(
                "timeZone {z:?} is not in the time-zone database: use an IANA name such as Europe/Berlin or America/New_York"
            );
            d.stalled = Some((reason::UNKNOWN_TIME_ZONE, msg));
            return d;
        }
    };
    if spec.suspend {
        return d;
    }
    d.next = slots.next_after(now);
    let due = slots.due(since, now);
    let Some(latest) = due.latest else {
        return d;
    };
    // Runs of due slots were created before their record was written (a crash, a conflict):
    // they count as fired, never as missed, and are recorded now.
    let ran = |slot: Timestamp| runs.iter().any(|r| r.slot == slot);
    let ran_older = runs
        .iter()
        .filter(|r| r.slot > since && r.slot < latest)
        .count() as u64;
    let late = now.duration_since(latest).as_secs();
    let in_time = ran(latest)
        || spec
            .starting_deadline_seconds
            .is_none_or(|limit| late <= limit);
    let older = if in_time { due.count - 1 } else { due.count }.saturating_sub(ran_older);
    if older > 0 {
        d.missed = Some(Missed {
            count: older,
            latest: if in_time {
                due.before_latest.unwrap_or(latest)
            } else {
                latest
            },
            capped: due.count >= COUNT_CAP,
        });
    }
    if !in_time {
        return d;
    }
    let active: Vec<String> = runs
        .iter()
        .filter(|r| !r.phase.is_terminal() && r.slot != latest)
        .map(|r| r.name.clone())
        .collect();
    if spec.concurrency_policy == ConcurrencyPolicy::Forbid && !active.is_empty() && !ran(latest) {
        d.skip = Some((latest, active));
    } else {
        d.fire = Some(latest);
    }
    d
}

/// Slots up to here are recorded (run, skipped, missed) or came before the schedule existed.
/// Only the status counts: it is written with a resourceVersion precondition, so a slot is
/// decided again until its record lands, and counted once.
fn watermark(status: &JobResetScheduleStatus, created: Timestamp) -> Timestamp {
    let parse = |s: &Option<String>| s.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
    [
        parse(&status.last_schedule_time),
        parse(&status.last_skipped_time),
        parse(&status.last_missed_time),
    ]
    .into_iter()
    .flatten()
    .fold(created, Timestamp::max)
}

/// Finished runs beyond the limits, oldest first (by slot). A run whose slot the status has
/// not recorded yet is kept whatever the limit: deleted, its slot would look unfired and run
/// again.
fn history(spec: &JobResetScheduleSpec, runs: &[Run], recorded: Timestamp) -> Vec<String> {
    let mut out = vec![];
    for (phase, keep) in [
        (Phase::Completed, spec.successful_runs_history_limit),
        (Phase::Failed, spec.failed_runs_history_limit),
    ] {
        let mut done: Vec<&Run> = runs
            .iter()
            .filter(|r| r.phase == phase && r.slot <= recorded)
            .collect();
        done.sort_by_key(|r| r.slot);
        let over = done
            .len()
            .saturating_sub(usize::try_from(keep).unwrap_or(usize::MAX));
        out.extend(done[..over].iter().map(|r| r.name.clone()));
    }
    out
}

/// The status the decision leaves (conditions are set by the caller).
pub fn next_status(
    old: &JobResetScheduleStatus,
    d: &Decision,
    runs: &[Run],
    fired_name: Option<&str>,
    slots_local: impl Fn(Timestamp) -> String,
) -> JobResetScheduleStatus {
    let mut s = old.clone();
    let utc = |t: Timestamp| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    if let Some(slot) = d.fire {
        s.last_schedule_time = Some(utc(slot));
    }
    if let Some((slot, _)) = &d.skip {
        s.last_skipped_time = Some(utc(*slot));
    }
    if let Some(m) = &d.missed {
        s.last_missed_time = Some(utc(m.latest));
        s.missed_runs = s.missed_runs.saturating_add(m.count);
    }
    let mut active: Vec<RunRef> = runs
        .iter()
        .filter(|r| !r.phase.is_terminal())
        .map(|r| RunRef {
            name: r.name.clone(),
            scheduled_time: utc(r.slot),
        })
        .collect();
    if let (Some(name), Some(slot)) = (fired_name, d.fire)
        && !active.iter().any(|a| a.name == name)
    {
        active.push(RunRef {
            name: name.to_owned(),
            scheduled_time: utc(slot),
        });
    }
    active.sort_by(|a, b| (&a.scheduled_time, &a.name).cmp(&(&b.scheduled_time, &b.name)));
    s.active_count = u32::try_from(active.len()).unwrap_or(u32::MAX);
    s.active = active;
    let last_ok = runs
        .iter()
        .filter(|r| r.phase == Phase::Completed)
        .filter_map(|r| r.finished)
        .max();
    let known = old
        .last_successful_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok());
    if let Some(t) = last_ok.into_iter().chain(known).max() {
        s.last_successful_time = Some(utc(t));
    }
    s.next_schedule_time = d.next.map(slots_local);
    s
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
