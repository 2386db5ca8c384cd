//! What a fan-out JobReset decides, without I/O: which of the jobs an expression matched are
//! targets (the rest skipped, each with why), the deterministic name of each target's child,
//! and, from the children's phases, which children to create next, the counts, and whether
//! the whole is over. Pure, table-tested.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::{
    api::{FailurePolicy, FanOutStatus, JobConditions, Phase, SkippedJob},
    es::JobSummary,
};

/// Label every child carries: its parent's name (when it fits a label value).
pub const PARENT_LABEL: &str = "ml.jobreset.io/parent";

/// Splits the matched jobs into targets and skipped ones.
pub fn select(
    matched: &[JobSummary],
    excluded: &[String],
    conditions: Option<&JobConditions>,
    now: Timestamp,
) -> (Vec<String>, Vec<SkippedJob>) {
    let mut targets = vec![];
    let mut skipped = vec![];
    for job in matched {
        let why = if excluded.contains(&job.id) {
            Some("named by jobs.exclude".to_owned())
        } else {
            conditions.and_then(|c| unmet(job, c, now))
        };
        match why {
            Some(reason) => skipped.push(SkippedJob {
                job_id: job.id.clone(),
                reason,
            }),
            None => targets.push(job.id.clone()),
        }
    }
    (targets, skipped)
}

/// The first condition `job` does not meet, as a sentence.
fn unmet(job: &JobSummary, c: &JobConditions, now: Timestamp) -> Option<String> {
    let state = job.state.as_str();
    if !c.job_state.is_empty() && !c.job_state.iter().any(|s| s == state) {
        return Some(format!("state {state} is not one of {:?}", c.job_state));
    }
    let memory = job.memory_status.as_deref().unwrap_or("ok");
    if !c.memory_status.is_empty() && !c.memory_status.iter().any(|s| s == memory) {
        return Some(format!(
            "memory status {memory} is not one of {:?}",
            c.memory_status
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
                "latestRecordOlderThan {age:?} is not an age like 7d, 12h, 30m or 45s"
            ));
        };
        if let Some(latest) = job.latest_record_time_ms {
            let since = now.as_millisecond().saturating_sub(latest);
            if since <= limit_ms {
                return Some(format!("its latest record is not older than {age}"));
            }
        }
    }
    if let Some(before) = c.created_before.as_deref() {
        let Ok(t) = before.parse::<Timestamp>() else {
            return Some(format!("createdBefore {before:?} is not an RFC 3339 time"));
        };
        match job.create_time_ms {
            Some(created) if created < t.as_millisecond() => {}
            _ => return Some(format!("it was not created before {before}")),
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
        skipped: fan.skipped.clone(),
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
            failed_jobs.join(", "),
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
mod tests {
    use super::*;
    use crate::es::JobState;

    fn job(id: &str, state: JobState, records: u64, memory: &str) -> JobSummary {
        JobSummary {
            id: id.into(),
            state,
            memory_status: Some(memory.into()),
            processed_record_count: records,
            latest_record_time_ms: Some(1_700_000_000_000),
            create_time_ms: Some(1_600_000_000_000),
            has_model_snapshot: true,
            datafeed_id: None,
        }
    }

    #[test]
    fn conditions_and_exclusions() {
        let now = Timestamp::from_second(1_700_000_000 + 8 * 86_400).unwrap();
        let jobs = [
            job("a", JobState::Opened, 1000, "hard_limit"),
            job("b", JobState::Opened, 1000, "ok"),
            job("c", JobState::Closed, 5, "hard_limit"),
            job("d", JobState::Opened, 1000, "hard_limit"),
        ];
        let cond = JobConditions {
            memory_status: vec!["hard_limit".into()],
            min_processed_records: Some(100),
            latest_record_older_than: Some("7d".into()),
            created_before: Some("2021-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        let (targets, skipped) = select(&jobs, &["d".into()], Some(&cond), now);
        assert_eq!(targets, ["a"]);
        let why: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.job_id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(why.len(), 3);
        assert!(why[0].1.contains("memory status ok"), "{why:?}");
        assert!(why[1].1.contains("fewer than 100"), "{why:?}");
        assert_eq!(why[2], ("d", "named by jobs.exclude"));
        let recent = Timestamp::from_second(1_700_000_000 + 86_400).unwrap();
        let (targets, _) = select(&jobs[..1], &[], Some(&cond), recent);
        assert!(targets.is_empty(), "its latest record is a day old only");
        let states = JobConditions {
            job_state: vec!["closed".into()],
            ..Default::default()
        };
        assert_eq!(select(&jobs, &[], Some(&states), now).0, ["c"]);
    }

    #[test]
    fn ages_are_read_or_refused_never_a_panic() {
        assert_eq!(age_ms("7d"), Some(7 * 86_400_000));
        assert_eq!(age_ms("45s"), Some(45_000));
        for bad in ["", "d", "7", "7w", "7é", "é", "-1d", "+1d"] {
            assert_eq!(age_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_age_too_large_for_any_clock_fails_closed() {
        // A day-old record: no age of more than a day is met by it.
        let now = Timestamp::from_second(1_700_000_000 + 86_400).unwrap();
        let recent = [job("a", JobState::Closed, 1000, "ok")];
        let mut no_records = job("b", JobState::Closed, 0, "ok");
        no_records.latest_record_time_ms = None;
        for age in [
            "99999999999999999999d",
            "100000000000000d",
            "9223372036854775807s",
            "106751991167301d",
        ] {
            let cond = JobConditions {
                latest_record_older_than: Some(age.into()),
                created_before: Some("2000-01-01T00:00:00Z".into()),
                ..Default::default()
            };
            let (targets, skipped) = select(&recent, &[], Some(&cond), now);
            assert!(targets.is_empty(), "{age}: a day-old record is not older");
            assert!(
                skipped[0].reason.contains(age),
                "{age}: {:?}",
                skipped[0].reason
            );
            // The next condition still holds it back: created in 2020, not before 2000.
            let (targets, skipped) =
                select(std::slice::from_ref(&no_records), &[], Some(&cond), now);
            assert!(targets.is_empty(), "{age}: createdBefore still applies");
            assert!(
                skipped[0].reason.contains("not created before"),
                "{skipped:?}"
            );
        }
    }

    #[test]
    fn child_names_are_stable_and_valid() {
        let a = child_name("weekly", "web_anomalies-1");
        assert_eq!(a, child_name("weekly", "web_anomalies-1"));
        assert_ne!(a, child_name("weekly", "web_anomalies-2"));
        assert!(
            a.starts_with("weekly-") && a.len() == "weekly-".len() + 16,
            "{a}"
        );
        let long = child_name(&"p".repeat(253), "j");
        assert_eq!(long.len(), 253);
    }

    fn fan(targets: &[&str]) -> FanOutStatus {
        FanOutStatus {
            targets: targets.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    fn phases(p: &[(&str, Phase)]) -> BTreeMap<String, Phase> {
        p.iter().map(|(j, ph)| (j.to_string(), *ph)).collect()
    }

    #[test]
    fn parallelism_and_failure_policies() {
        use FailurePolicy::*;
        let f = fan(&["a", "b", "c", "d"]);
        let p = progress(&f, &phases(&[]), 2, Continue);
        assert_eq!(
            (p.create, p.counts.running, p.counts.waiting),
            (vec!["a".into(), "b".into()], 2, 2)
        );
        let p = progress(
            &f,
            &phases(&[("a", Phase::Completed), ("b", Phase::Resetting)]),
            2,
            Continue,
        );
        assert_eq!(p.create, ["c"], "one slot free");
        let p = progress(
            &f,
            &phases(&[("a", Phase::Failed), ("b", Phase::Resetting)]),
            2,
            Stop,
        );
        assert!(p.create.is_empty(), "Stop: nothing new after a failure");
        assert_eq!(p.end, None, "b still runs");
        let p = progress(
            &f,
            &phases(&[("a", Phase::Failed), ("b", Phase::Completed)]),
            2,
            Stop,
        );
        let (phase, r, msg) = p.end.unwrap();
        assert_eq!((phase, r), (Phase::Failed, reason::SOME_RESETS_FAILED));
        assert!(msg.contains("left 2 jobs unreset"), "{msg}");
        let all = phases(&[
            ("a", Phase::Completed),
            ("b", Phase::Completed),
            ("c", Phase::Completed),
            ("d", Phase::Completed),
        ]);
        let p = progress(&f, &all, 2, Continue);
        assert_eq!(p.end.map(|e| e.0), Some(Phase::Completed));
        assert_eq!(p.counts.succeeded, 4);
        let mixed = phases(&[
            ("a", Phase::Completed),
            ("b", Phase::Failed),
            ("c", Phase::Completed),
            ("d", Phase::Completed),
        ]);
        let p = progress(&f, &mixed, 2, Continue);
        assert_eq!(p.end.map(|e| e.1), Some(reason::SOME_RESETS_FAILED));
    }

    #[test]
    fn a_recorded_outcome_is_never_run_again() {
        let mut f = fan(&["a", "b"]);
        f.succeeded_jobs = vec!["a".into()];
        // a's child was deleted after it completed: it is not created again.
        let p = progress(&f, &phases(&[]), 2, FailurePolicy::Continue);
        assert_eq!(p.create, ["b"]);
        assert_eq!((p.counts.succeeded, p.counts.running), (1, 1));
        let p = progress(
            &f,
            &phases(&[("b", Phase::Failed)]),
            2,
            FailurePolicy::Continue,
        );
        assert_eq!(p.counts.failed_jobs, ["b"]);
        assert_eq!(p.end.map(|e| e.0), Some(Phase::Failed));
    }
}
