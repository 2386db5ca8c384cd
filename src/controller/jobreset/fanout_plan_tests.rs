//! Tests of `fanout_plan` (pure: no I/O).

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
    let Selection {
        targets, skipped, ..
    } = select(&jobs, &["d".into()], Some(&cond), now);
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
    let targets = select(&jobs[..1], &[], Some(&cond), recent).targets;
    assert!(targets.is_empty(), "its latest record is a day old only");
    let states = JobConditions {
        job_state: vec!["closed".into()],
        ..Default::default()
    };
    assert_eq!(select(&jobs, &[], Some(&states), now).targets, ["c"]);
}

/// A broad expression over a large cluster: the status keeps a bounded part of what it
/// skipped (10,000 long ids each with a reason came to ~1.9 MB, which etcd refuses, and
/// the parent retried that write forever), and no reason repeats the user's lists.
#[test]
fn what_status_keeps_of_the_skipped_jobs_is_bounded() {
    let now = Timestamp::from_second(1_700_000_000).unwrap();
    let long = "x".repeat(58);
    let mut jobs: Vec<_> = (0..10_000)
        .map(|i| job(&format!("{long}-{i:05}"), JobState::Closed, 1000, "ok"))
        .collect();
    jobs.push(job("target", JobState::Opened, 1000, "ok"));
    let cond = JobConditions {
        job_state: vec!["opened".into(); 500],
        memory_status: vec!["ok".into(); 500],
        ..Default::default()
    };
    let picked = select(&jobs, &[], Some(&cond), now);
    assert_eq!(picked.targets, ["target"]);
    assert_eq!(picked.skipped_count, 10_000);
    assert_eq!(picked.skipped.len(), MAX_SKIPPED_LISTED);
    assert_eq!(
        picked.skipped[0].job_id, jobs[0].id,
        "the first ones, in order"
    );
    let status = FanOutStatus {
        targets: picked.targets,
        skipped: picked.skipped,
        skipped_count: picked.skipped_count,
        ..Default::default()
    };
    let size = serde_json::to_vec(&status).unwrap().len();
    assert!(size < 64 * 1024, "{size} bytes");
    // A value the user wrote is quoted short.
    let cond = JobConditions {
        created_before: Some("9".repeat(100_000)),
        ..Default::default()
    };
    let picked = select(&jobs[..1], &[], Some(&cond), now);
    assert!(
        picked.skipped[0].reason.len() < 200,
        "{:?}",
        picked.skipped[0]
    );
    assert!(picked.skipped[0].reason.starts_with("createdBefore \"999"));
}

#[test]
fn a_status_from_before_the_bound_is_bounded_as_it_goes_on() {
    let old = FanOutStatus {
        targets: vec!["a".into()],
        skipped: (0..500)
            .map(|i| SkippedJob {
                job_id: format!("s{i}"),
                reason: "named by jobs.exclude".into(),
            })
            .collect(),
        ..Default::default()
    };
    let p = progress(&old, &BTreeMap::new(), 1, FailurePolicy::Continue);
    assert_eq!(p.counts.skipped.len(), MAX_SKIPPED_LISTED);
    assert_eq!(p.counts.skipped_count, 500);
}

#[test]
fn messages_name_a_few_ids_and_count_the_rest() {
    let ids: Vec<String> = (0..25).map(|i| format!("j{i}")).collect();
    assert_eq!(listed(&ids[..2]), "j0, j1");
    assert_eq!(
        listed(&ids),
        "j0, j1, j2, j3, j4, j5, j6, j7, j8, j9 and 15 more"
    );
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
        let Selection {
            targets, skipped, ..
        } = select(&recent, &[], Some(&cond), now);
        assert!(targets.is_empty(), "{age}: a day-old record is not older");
        assert!(
            skipped[0].reason.contains(age),
            "{age}: {:?}",
            skipped[0].reason
        );
        // The next condition still holds it back: created in 2020, not before 2000.
        let Selection {
            targets, skipped, ..
        } = select(std::slice::from_ref(&no_records), &[], Some(&cond), now);
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
