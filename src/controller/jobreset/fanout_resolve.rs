//! Resolves a fan-out's expression into the targets it freezes: the jobs Elasticsearch
//! matches (and their stats), minus `exclude`, filtered by the conditions, capped by
//! `maxJobs`; a fault is counted and retried or ends the run. Does I/O (Elasticsearch reads).

use std::collections::HashSet;

use super::{
    fanout::set,
    fanout_plan::{self, reason as fan_reason},
};
use crate::{
    api::{DryRunJob, FanOutStatus, JobResetSpec, JobResetStatus, Phase},
    es::{EsClient, EsError},
    run::decide::reason,
};

pub(super) enum Resolved {
    Frozen(FanOutStatus),
    /// Ended (dry run, nothing matched, too many): `s` says how.
    Over,
    /// A transient fault: `s` counts it.
    Retry(u32),
}

/// Resolves the expression (or, for a single-job dry run, the one id).
pub(super) async fn resolve(
    es: &EsClient,
    spec: &JobResetSpec,
    s: &mut JobResetStatus,
) -> Resolved {
    let (expression, exclude, conditions, max_jobs, allow_no_match) = match &spec.jobs {
        Some(j) => (
            j.expression.clone(),
            j.exclude.clone(),
            j.conditions.clone(),
            j.max_jobs,
            j.allow_no_match,
        ),
        None => (spec.job_id.clone(), None, None, 1, false),
    };
    let matched = match es.jobs(&expression).await {
        Ok(m) => m,
        Err(e) => return fault(s, e, &expression),
    };
    let excluded: Vec<String> = match exclude.as_deref() {
        Some(x) => match es.jobs(x).await {
            Ok(x) => x.into_iter().map(|j| j.id).collect(),
            Err(e) => return fault(s, e, x),
        },
        None => vec![],
    };
    let now = jiff::Timestamp::now();
    let fanout_plan::Selection {
        targets,
        skipped,
        skipped_count,
    } = fanout_plan::select(&matched, &excluded, conditions.as_ref(), now);
    let n = targets.len();
    if n > usize::try_from(max_jobs).unwrap_or(usize::MAX) {
        let msg = format!(
            "{expression} matched {n} jobs to reset, more than maxJobs ({max_jobs}): nothing was \
             reset; narrow the expression or raise maxJobs"
        );
        set(s, Phase::Failed, fan_reason::TOO_MANY_JOBS, msg);
        return Resolved::Over;
    }
    if n == 0 {
        let msg =
            format!("{expression} matched no job to reset ({skipped_count} matched, all skipped)");
        let phase = if allow_no_match {
            Phase::Completed
        } else {
            Phase::Failed
        };
        s.fan_out = Some(FanOutStatus {
            skipped,
            skipped_count,
            ..Default::default()
        });
        set(s, phase, fan_reason::NO_JOBS_MATCHED, msg);
        return Resolved::Over;
    }
    if spec.dry_run {
        let wanted: HashSet<&str> = targets.iter().map(String::as_str).collect();
        let chosen: Vec<_> = matched
            .iter()
            .filter(|j| wanted.contains(j.id.as_str()))
            .collect();
        let feeds: Vec<String> = chosen
            .iter()
            .filter_map(|j| j.datafeed_id.clone())
            .collect();
        let states = match es.datafeed_states(&feeds).await {
            Ok(st) => st,
            Err(e) => return fault(s, e, &expression),
        };
        s.would_reset = chosen
            .into_iter()
            .map(|j| DryRunJob {
                job_id: j.id.clone(),
                state: j.state.as_str().to_owned(),
                processed_record_count: j.processed_record_count,
                has_model_snapshot: j.has_model_snapshot,
                datafeed_state: j.datafeed_id.as_ref().and_then(|d| {
                    states
                        .iter()
                        .find(|(id, _)| id == d)
                        .map(|(_, st)| st.clone())
                }),
                datafeed: j.datafeed_id.clone(),
            })
            .collect();
        let msg = format!(
            "dry run: would reset {n} jobs ({}); nothing was touched",
            fanout_plan::listed(&targets)
        );
        s.fan_out = spec.jobs.as_ref().map(|_| FanOutStatus {
            targets,
            skipped,
            skipped_count,
            ..Default::default()
        });
        set(s, Phase::Completed, fan_reason::DRY_RUN, msg);
        return Resolved::Over;
    }
    Resolved::Frozen(FanOutStatus {
        waiting: u32::try_from(n).unwrap_or(u32::MAX),
        targets,
        skipped,
        skipped_count,
        ..Default::default()
    })
}

/// An Elasticsearch error while resolving: transient ones are retried, others end the run.
fn fault(s: &mut JobResetStatus, e: EsError, expression: &str) -> Resolved {
    if e.is_transient() {
        s.attempts = s.attempts.saturating_add(1);
        let phase = s.phase;
        set(
            s,
            phase,
            e.reason(),
            format!("resolving {expression} failed, will retry: {e}"),
        );
        return Resolved::Retry(s.attempts);
    }
    let r = match e.status_code() {
        Some(404) => reason::JOB_NOT_FOUND,
        Some(401) => reason::UNAUTHORIZED,
        Some(403) => reason::MISSING_PRIVILEGE,
        _ => e.reason(),
    };
    set(
        s,
        Phase::Failed,
        r,
        format!("resolving {expression} failed: {e}"),
    );
    Resolved::Over
}
