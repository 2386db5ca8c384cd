//! What a fan-out JobReset decides, without I/O: which of the jobs an expression matched are
//! targets (the rest skipped, each with why), the deterministic name of each target's child,
//! and, from the children's phases, which children to create next, the counts, and whether
//! the whole is over. Pure, table-tested.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;

use crate::{
    api::{FailurePolicy, FanOutStatus, JobConditions, Phase, SkippedJob},
    es::JobSummary,
};

/// Label every child carries: its parent's name (when it fits a label value).
pub const PARENT_LABEL: &str = "ml.jobreset.io/parent";

/// How many skipped jobs status lists, with why (it counts them all).
pub const MAX_SKIPPED_LISTED: usize = 100;

/// What an expression's matched jobs come to.
#[derive(Debug, Default, PartialEq)]
pub struct Selection {
    /// The jobs to reset, in the order matched.
    pub targets: Vec<String>,
    /// The first `MAX_SKIPPED_LISTED` jobs left alone, each with why.
    pub skipped: Vec<SkippedJob>,
    /// All jobs left alone.
    pub skipped_count: u32,
}

/// Splits the matched jobs into targets and skipped ones.
pub fn select(
    matched: &[JobSummary],
    excluded: &[String],
    conditions: Option<&JobConditions>,
    now: Timestamp,
) -> Selection {
    let excluded: HashSet<&str> = excluded.iter().map(String::as_str).collect();
    let mut out = Selection::default();
    for job in matched {
        let why = if excluded.contains(job.id.as_str()) {
            Some("named by jobs.exclude".to_owned())
        } else {
            conditions.and_then(|c| unmet(job, c, now))
        };
        match why {
            Some(reason) => {
                out.skipped_count = out.skipped_count.saturating_add(1);
                if out.skipped.len() < MAX_SKIPPED_LISTED {
                    out.skipped.push(SkippedJob {
                        job_id: job.id.clone(),
                        reason,
                    });
                }
            }
            None => out.targets.push(job.id.clone()),
        }
    }
    out
}

/// `ids` for a message: the first few, then how many more.
pub fn listed<S: AsRef<str>>(ids: &[S]) -> String {
    const SHOWN: usize = 10;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

/// A value the user wrote, as a reason quotes it: never longer than a short sentence.
fn quoted(value: &str) -> String {
    const MAX_CHARS: usize = 40;
    if value.chars().count() <= MAX_CHARS {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(MAX_CHARS).collect();
    format!("{head:?}...")
}

/// The first condition `job` does not meet, as a sentence.
fn unmet(job: &JobSummary, c: &JobConditions, now: Timestamp) -> Option<String> {
    let state = job.state.as_str();
    if !c.job_state.is_empty() && !c.job_state.iter().any(|s| s == state) {
        return Some(format!("state {state} is not one of conditions.jobState"));
    }
    let memory = job.memory_status.as_deref().unwrap_or("ok");
    if !c.memory_status.is_empty() && !c.memory_status.iter().any(|s| s == memory) {
        return Some(format!(
            "memory status {memory} is not one of conditions.memoryStatus"
        ));
    }
    if let Some(min) = c.min_processed_records
        && job.processed_record_count < min
    {
        return Some(format!(
            "{} processed records, fewer than {min}",
            job.processed_record_count
        ));
    }
    if let Some(age) = c.latest_record_older_than.as_deref() {
        // Fails closed: a condition the operator cannot read holds the job back.
        let Some(limit_ms) = age_ms(age) else {
            return Some(format!(
                "latestRecordOlderThan {} is not an age like 7d, 12h, 30m or 45s",
                quoted(age)
            ));
        };
        if let Some(latest) = job.latest_record_time_ms {
            let since = now.as_millisecond().saturating_sub(latest);
            if since <= limit_ms {
                return Some(format!(
                    "its latest record is not older than {}",
                    quoted(age)
                ));
            }
        }
    }
    if let Some(before) = c.created_before.as_deref() {
        let Ok(t) = before.parse::<Timestamp>() else {
            return Some(format!(
                "createdBefore {} is not an RFC 3339 time",
                quoted(before)
            ));
        };
        match job.create_time_ms {
            Some(created) if created < t.as_millisecond() => {}
            _ => return Some(format!("it was not created before {}", quoted(before))),
        }
    }
    None
}

/// `7d`, `12h`, `30m`, `45s` (the schema's pattern) in milliseconds; an age past what a
/// clock can count saturates (no record is that old), it never wraps.
fn age_ms(s: &str) -> Option<i64> {
    let unit = s.chars().last()?;
    let num = &s[..s.len() - unit.len_utf8()];
    let unit_ms: i64 = match unit {
        'd' => 86_400_000,
        'h' => 3_600_000,
        'm' => 60_000,
        's' => 1_000,
        _ => return None,
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // More digits than an i64 holds: as large as can be.
    let n: i64 = num.parse().unwrap_or(i64::MAX);
    Some(n.saturating_mul(unit_ms))
}

/// The child of `parent` for `job_id`: the same name every time, so a crash between deciding
/// and creating cannot create two.
pub fn child_name(parent: &str, job_id: &str) -> String {
    // FNV-1a, 64 bits: stable across versions (std's hasher is not promised to be).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in job_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let keep = parent.len().min(253 - 17);
    format!("{}-{h:016x}", parent[..keep].trim_end_matches(['-', '.']))
}

/// The parent's next step.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub counts: FanOutStatus,
    /// Targets whose child is to be created now, in order.
    pub create: Vec<String>,
    /// Over: the phase, reason and message to end with.
    pub end: Option<(Phase, &'static str, String)>,
}

/// Stable reasons of a fan-out parent.
pub mod reason {
    pub const RESETTING_JOBS: &str = "ResettingJobs";
    pub const SOME_RESETS_FAILED: &str = "SomeResetsFailed";
    pub const NO_JOBS_MATCHED: &str = "NoJobsMatched";
    pub const TOO_MANY_JOBS: &str = "TooManyJobs";
    pub const DRY_RUN: &str = "DryRun";
}

/// From the targets, the outcomes recorded so far and the children's phases (absent: not
/// created, or gone), what to do. A recorded outcome wins over a missing child.
pub fn progress(
    fan: &FanOutStatus,
    children: &BTreeMap<String, Phase>,
    parallelism: u32,
    policy: FailurePolicy,
) -> Progress {
    let mut counts = FanOutStatus {
        targets: fan.targets.clone(),
        // A status written before the list was bounded keeps it whole: bounded from here.
        skipped: fan
            .skipped
            .iter()
            .take(MAX_SKIPPED_LISTED)
            .cloned()
            .collect(),
        skipped_count: fan
            .skipped_count
            .max(u32::try_from(fan.skipped.len()).unwrap_or(u32::MAX)),
        ..Default::default()
    };
    let mut not_created = vec![];
    for job in &fan.targets {
        let recorded = if fan.succeeded_jobs.contains(job) {
            Some(Phase::Completed)
        } else if fan.failed_jobs.contains(job) {
            Some(Phase::Failed)
        } else {
            None
        };
        match recorded.or_else(|| children.get(job).copied()) {
            Some(Phase::Completed) => counts.succeeded_jobs.push(job.clone()),
            Some(Phase::Failed) => counts.failed_jobs.push(job.clone()),
            Some(_) => counts.running += 1,
            None => not_created.push(job.clone()),
        }
    }
    counts.succeeded = u32::try_from(counts.succeeded_jobs.len()).unwrap_or(u32::MAX);
    counts.failed = u32::try_from(counts.failed_jobs.len()).unwrap_or(u32::MAX);
    let failed_jobs: Vec<&str> = counts.failed_jobs.iter().map(String::as_str).collect();
    let stopping = policy == FailurePolicy::Stop && counts.failed > 0;
    let room = usize::try_from(parallelism.saturating_sub(counts.running)).unwrap_or(0);
    let create: Vec<String> = if stopping {
        vec![]
    } else {
        not_created.iter().take(room).cloned().collect()
    };
    counts.running += u32::try_from(create.len()).unwrap_or(u32::MAX);
    counts.waiting = u32::try_from(not_created.len() - create.len()).unwrap_or(u32::MAX);
    let total = fan.targets.len();
    let end = if counts.running > 0 || (counts.waiting > 0 && !stopping) {
        None
    } else if counts.failed == 0 {
        Some((
            Phase::Completed,
            crate::run::decide::reason::RESET_COMPLETED,
            format!("all {total} jobs were reset"),
        ))
    } else {
        let mut msg = format!(
            "{} of {total} resets failed ({}); {} succeeded",
            counts.failed,
            listed(&failed_jobs),
            counts.succeeded
        );
        if counts.waiting > 0 {
            msg.push_str(&format!(
                "; failurePolicy Stop left {} jobs unreset",
                counts.waiting
            ));
        }
        Some((Phase::Failed, reason::SOME_RESETS_FAILED, msg))
    };
    Progress {
        counts,
        create,
        end,
    }
}

#[cfg(test)]
#[path = "fanout_plan_tests.rs"]
mod tests;
