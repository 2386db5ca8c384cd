use super::*;
use crate::api::{JobResetSpec, JobResetTemplate};

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn spec(schedule: &str, zone: Option<&str>) -> JobResetScheduleSpec {
    let template: JobResetSpec = serde_json::from_value(
        serde_json::json!({"jobId": "j", "elasticsearch": {"url": "http://es:9200"}}),
    )
    .unwrap();
    JobResetScheduleSpec {
        schedule: schedule.into(),
        time_zone: zone.map(String::from),
        concurrency_policy: ConcurrencyPolicy::Forbid,
        starting_deadline_seconds: None,
        suspend: false,
        job_reset_template: JobResetTemplate {
            metadata: None,
            spec: template,
        },
        successful_runs_history_limit: 3,
        failed_runs_history_limit: 1,
    }
}

fn run(name: &str, slot: &str, phase: Phase) -> Run {
    Run {
        name: name.into(),
        slot: t(slot),
        phase,
        finished: phase
            .is_terminal()
            .then(|| t(slot) + jiff::SignedDuration::from_secs(5)),
    }
}

fn fired_at(status: &str) -> JobResetScheduleStatus {
    JobResetScheduleStatus {
        last_schedule_time: Some(status.into()),
        ..Default::default()
    }
}

const CREATED: &str = "2026-01-01T00:00:00Z";

#[test]
fn fires_on_time_in_berlin_across_the_spring_gap() {
    let s = spec("30 2 * * *", Some("Europe/Berlin"));
    let st = fired_at("2026-03-28T01:30:00Z"); // 02:30 CET the day before
    // A second before the slot (03:00 CEST, the end of the gap): nothing yet, wake then.
    let d = decide(&s, &st, t(CREATED), &[], t("2026-03-29T00:59:59Z"));
    assert_eq!(d.fire, None);
    assert_eq!(d.next, Some(t("2026-03-29T01:00:00Z")));
    let d = decide(&s, &st, t(CREATED), &[], t("2026-03-29T01:00:00Z"));
    assert_eq!(d.fire, Some(t("2026-03-29T01:00:00Z")));
    assert_eq!((d.missed, d.skip), (None, None));
    assert_eq!(d.next, Some(t("2026-03-30T00:30:00Z")), "then 02:30 CEST");
}

#[test]
fn the_repeated_hour_fires_once() {
    let s = spec("30 2 * * *", Some("Europe/Berlin"));
    // Fired at the first 02:30 (CEST); the second 02:30 (CET) is no slot.
    let st = fired_at("2026-10-25T00:30:00Z");
    let d = decide(&s, &st, t(CREATED), &[], t("2026-10-25T01:30:00Z"));
    assert_eq!(d.fire, None);
    assert_eq!(d.next, Some(t("2026-10-26T01:30:00Z")));
}

#[test]
fn forbid_skips_while_a_run_is_going_and_allow_does_not() {
    let mut s = spec("0 * * * *", None);
    let going = [run("s-1", "2026-05-01T09:00:00Z", Phase::Resetting)];
    let st = fired_at("2026-05-01T09:00:00Z");
    let d = decide(&s, &st, t(CREATED), &going, t("2026-05-01T10:00:01Z"));
    assert_eq!(d.fire, None);
    assert_eq!(
        d.skip,
        Some((t("2026-05-01T10:00:00Z"), vec!["s-1".to_owned()]))
    );
    // The skipped slot is handled: it is not skipped again on the next look.
    let after = next_status(&st, &d, &going, None, |t| t.to_string());
    let d = decide(&s, &after, t(CREATED), &going, t("2026-05-01T10:20:00Z"));
    assert_eq!((d.fire, d.skip), (None, None));
    s.concurrency_policy = ConcurrencyPolicy::Allow;
    let d = decide(&s, &st, t(CREATED), &going, t("2026-05-01T10:00:01Z"));
    assert_eq!(d.fire, Some(t("2026-05-01T10:00:00Z")));
}

#[test]
fn a_failed_run_never_stops_later_slots() {
    let s = spec("0 * * * *", None);
    let failed = [run("s-1", "2026-05-01T09:00:00Z", Phase::Failed)];
    let d = decide(
        &s,
        &fired_at("2026-05-01T09:00:00Z"),
        t(CREATED),
        &failed,
        t("2026-05-01T10:00:00Z"),
    );
    assert_eq!(d.fire, Some(t("2026-05-01T10:00:00Z")));
}

#[test]
fn a_two_hour_outage_gives_one_catch_up_within_the_deadline() {
    let mut s = spec("*/30 * * * *", None);
    let st = fired_at("2026-05-01T10:00:00Z");
    let back = t("2026-05-01T12:05:00Z");
    s.starting_deadline_seconds = Some(600);
    let d = decide(&s, &st, t(CREATED), &[], back);
    assert_eq!(
        d.fire,
        Some(t("2026-05-01T12:00:00Z")),
        "the latest, 5 minutes late"
    );
    let m = d.missed.clone().expect("the three before it are missed");
    assert_eq!(
        (m.count, m.latest, m.capped),
        (3, t("2026-05-01T11:30:00Z"), false)
    );
    // Past the deadline: nothing runs, all four are missed.
    s.starting_deadline_seconds = Some(60);
    let d = decide(&s, &st, t(CREATED), &[], back);
    assert_eq!(d.fire, None);
    let m = d.missed.clone().expect("missed");
    assert_eq!((m.count, m.latest), (4, t("2026-05-01T12:00:00Z")));
    // Recorded once: the next look finds nothing more to miss.
    let after = next_status(&st, &d, &[], None, |t| t.to_string());
    assert_eq!(after.missed_runs, 4);
    let d = decide(&s, &after, t(CREATED), &[], back);
    assert_eq!((d.fire, d.missed), (None, None));
    // No deadline: the latest runs however late.
    s.starting_deadline_seconds = None;
    let d = decide(&s, &st, t(CREATED), &[], t("2026-05-03T12:05:00Z"));
    assert_eq!(d.fire, Some(t("2026-05-03T12:00:00Z")));
    assert_eq!(d.missed.map(|m| m.count), Some(99));
}

#[test]
fn suspend_and_resume() {
    let mut s = spec("*/30 * * * *", None);
    s.suspend = true;
    s.starting_deadline_seconds = Some(300);
    let st = fired_at("2026-05-01T10:00:00Z");
    let d = decide(&s, &st, t(CREATED), &[], t("2026-05-01T13:10:00Z"));
    assert_eq!((d.fire, d.next, d.missed.clone()), (None, None, None));
    // Resumed 10 minutes after the last slot: past the 5-minute deadline, no back-fill.
    s.suspend = false;
    let d = decide(&s, &st, t(CREATED), &[], t("2026-05-01T13:10:00Z"));
    assert_eq!(d.fire, None);
    assert_eq!(d.missed.map(|m| m.count), Some(6));
    assert_eq!(d.next, Some(t("2026-05-01T13:30:00Z")));
}

#[test]
fn a_run_created_before_a_crash_counts_as_fired() {
    let s = spec("0 * * * *", None);
    // The run exists; the status write that would say so never happened.
    let runs = [run("s-1", "2026-05-01T10:00:00Z", Phase::Pending)];
    let st = fired_at("2026-05-01T09:00:00Z");
    let d = decide(&s, &st, t(CREATED), &runs, t("2026-05-01T10:00:03Z"));
    // Recorded as fired (creating it again finds it), never skipped as "still running".
    assert_eq!(
        (d.fire, d.skip, d.missed),
        (Some(t("2026-05-01T10:00:00Z")), None, None)
    );
    // Even past the deadline, and with Forbid: it did run.
    let mut strict = spec("0 * * * *", None);
    strict.starting_deadline_seconds = Some(60);
    strict.concurrency_policy = ConcurrencyPolicy::Forbid;
    let d = decide(&strict, &st, t(CREATED), &runs, t("2026-05-01T10:30:00Z"));
    assert_eq!(
        (d.fire, d.skip, d.missed),
        (Some(t("2026-05-01T10:00:00Z")), None, None)
    );
}

#[test]
fn runs_of_older_unrecorded_slots_are_not_counted_as_missed() {
    let s = spec("0 * * * *", None);
    let runs = [run("s-10", "2026-05-01T10:00:00Z", Phase::Completed)];
    let st = fired_at("2026-05-01T09:00:00Z");
    let d = decide(&s, &st, t(CREATED), &runs, t("2026-05-01T12:00:10Z"));
    assert_eq!(d.fire, Some(t("2026-05-01T12:00:00Z")));
    let missed = d.missed.expect("11:00 missed");
    assert_eq!(
        (missed.count, missed.latest),
        (1, t("2026-05-01T11:00:00Z"))
    );
}

#[test]
fn nothing_is_due_before_the_schedule_existed() {
    let s = spec("0 * * * *", None);
    let created = t("2026-05-01T10:30:00Z");
    let d = decide(
        &s,
        &Default::default(),
        created,
        &[],
        t("2026-05-01T10:59:00Z"),
    );
    assert_eq!((d.fire, d.missed), (None, None));
    let d = decide(
        &s,
        &Default::default(),
        created,
        &[],
        t("2026-05-01T11:00:00Z"),
    );
    assert_eq!(d.fire, Some(t("2026-05-01T11:00:00Z")));
}

#[test]
fn history_limits_delete_the_oldest() {
    let s = spec("0 * * * *", None);
    let runs = [
        run("ok-1", "2026-05-01T01:00:00Z", Phase::Completed),
        run("ok-2", "2026-05-01T02:00:00Z", Phase::Completed),
        run("bad-1", "2026-05-01T03:00:00Z", Phase::Failed),
        run("ok-3", "2026-05-01T04:00:00Z", Phase::Completed),
        run("bad-2", "2026-05-01T05:00:00Z", Phase::Failed),
        run("ok-4", "2026-05-01T06:00:00Z", Phase::Completed),
        run("going", "2026-05-01T07:00:00Z", Phase::Resetting),
    ];
    let d = decide(
        &s,
        &fired_at("2026-05-01T07:00:00Z"),
        t(CREATED),
        &runs,
        t("2026-05-01T07:30:00Z"),
    );
    assert_eq!(d.delete, ["ok-1", "bad-1"]);
    let st = next_status(&Default::default(), &d, &runs, None, |t| t.to_string());
    assert_eq!(st.active_count, 1);
    assert_eq!(st.active[0].name, "going");
    assert_eq!(
        st.last_successful_time.as_deref(),
        Some("2026-05-01T06:00:05Z")
    );
}

#[test]
fn an_unknown_zone_or_a_bad_schedule_stalls() {
    let d = decide(
        &spec("0 3 * * *", Some("Europe/Atlantis")),
        &Default::default(),
        t(CREATED),
        &[],
        t(CREATED),
    );
    let (r, msg) = d.stalled.expect("stalled");
    assert_eq!(r, reason::UNKNOWN_TIME_ZONE);
    assert!(
        msg.contains("Europe/Atlantis") && msg.contains("IANA"),
        "{msg}"
    );
    assert_eq!((d.fire, d.next), (None, None));
    let d = decide(
        &spec("0 25 * * *", None),
        &Default::default(),
        t(CREATED),
        &[],
        t(CREATED),
    );
    assert_eq!(d.stalled.map(|s| s.0), Some(reason::INVALID_SCHEDULE));
}

#[test]
fn a_run_not_yet_recorded_is_never_deleted_even_at_limit_zero() {
    let mut s = spec("0 * * * *", None);
    s.successful_runs_history_limit = 0;
    // The 10:00 run finished at once, but the status write that records it was lost.
    let runs = [
        run("s-9", "2026-05-01T09:00:00Z", Phase::Completed),
        run("s-10", "2026-05-01T10:00:00Z", Phase::Completed),
    ];
    let st = fired_at("2026-05-01T09:00:00Z");
    let d = decide(&s, &st, t(CREATED), &runs, t("2026-05-01T10:00:30Z"));
    assert_eq!(d.delete, vec!["s-9".to_owned()]);
    // Recorded as fired now, not fired again under a new name.
    assert_eq!(d.fire, Some(t("2026-05-01T10:00:00Z")));
}
