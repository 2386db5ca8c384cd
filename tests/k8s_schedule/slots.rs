//! Slots on the test's clock: a time zone across both DST changes, Forbid, catching up after an
//! outage, suspend and resume, history limits, an unknown time zone.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fires_on_time_in_berlin_across_both_dst_changes() {
    let b = bed("sched-dst", "2027-03-27T12:00:00Z").await;
    b.schedule(
        "nightly",
        json!({"schedule": "30 2 * * *", "timeZone": "Europe/Berlin"}),
    )
    .await;
    // 2027-03-28: 02:30 does not exist in Berlin; the run comes at 03:00 CEST.
    let s = b
        .wait("nightly", "next slot", |s| s.next_schedule_time.is_some())
        .await;
    assert_eq!(
        s.next_schedule_time.as_deref(),
        Some("2027-03-28T03:00:00+02:00")
    );
    let run = b
        .fires("nightly", "2027-03-28T01:00:00Z", "2027-03-28T01:00:00Z")
        .await;
    assert_eq!(run.status.map(|s| s.phase), Some(Phase::Completed));
    // Never the schedule's own labels (a GitOps tracking label would get the run pruned).
    let labels = run.metadata.labels.unwrap_or_default();
    assert!(
        !labels.contains_key("app.kubernetes.io/instance"),
        "{labels:?}"
    );
    assert_eq!(
        labels.get(SCHEDULE_LABEL).map(String::as_str),
        Some("nightly")
    );

    // 2027-10-31: 02:30 comes twice (CEST, then CET); the run comes once.
    b.fires("nightly", "2027-10-31T00:30:00Z", "2027-10-31T00:30:00Z")
        .await;
    b.clock.set(t("2027-10-31T01:30:00Z"));
    // The next day's run is the next one created: nothing at the second 02:30.
    b.fires("nightly", "2027-11-01T01:30:00Z", "2027-11-01T01:30:00Z")
        .await;
    let names: Vec<String> = b
        .runs("nightly")
        .await
        .into_iter()
        .filter_map(|r| r.metadata.name)
        .collect();
    assert!(
        !names.contains(&run_name("nightly", t("2027-10-31T01:30:00Z"))),
        "the repeated 02:30 ran twice: {names:?}"
    );
    let s = b
        .wait("nightly", "ready", |s| s.last_successful_time.is_some())
        .await;
    // The clock jumped over the nights of 2027-03-29 … 2027-10-30: those 216 slots are
    // missed, each counted once; no other slot is.
    assert_eq!(s.missed_runs, 216, "{s:#?}");
    assert_eq!(s.last_missed_time.as_deref(), Some("2027-10-30T00:30:00Z"));
    let ready = s
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("Ready");
    assert_eq!(ready.status, "True");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_skips_a_slot_while_a_run_is_going() {
    let b = bed("sched-forbid", "2027-05-01T09:59:00Z").await;
    b.w.ctl()
        .set_reset_duration(Some("job"), Duration::from_secs(3600));
    b.schedule("hourly", json!({"schedule": "0 * * * *"})).await;
    b.clock.set(t("2027-05-01T10:00:00Z"));
    let first = run_name("hourly", t("2027-05-01T10:00:00Z"));
    b.w.wait(&first, "the reset running", |s| s.phase == Phase::Resetting)
        .await;
    b.clock.set(t("2027-05-01T11:00:00Z"));
    let s = b
        .wait("hourly", "a skip", |s| s.last_skipped_time.is_some())
        .await;
    assert_eq!(s.last_skipped_time.as_deref(), Some("2027-05-01T11:00:00Z"));
    assert_eq!(s.active_count, 1);
    b.w.wait_event("hourly", "SkippedRun").await;
    assert_eq!(b.runs("hourly").await.len(), 1);
    // Once the run is over, the next slot runs.
    b.w.ctl()
        .set_reset_duration(Some("job"), Duration::from_millis(50));
    b.w.ctl().finish_reset("job");
    b.w.terminal(&first).await;
    b.fires("hourly", "2027-05-01T12:00:00Z", "2027-05-01T12:00:00Z")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_hour_outage_catches_up_once_within_the_deadline() {
    let mut b = bed("sched-outage", "2027-05-01T09:59:00Z").await;
    b.schedule(
        "lenient",
        json!({"schedule": "*/30 * * * *", "startingDeadlineSeconds": 600}),
    )
    .await;
    b.schedule(
        "strict",
        json!({"schedule": "*/30 * * * *", "startingDeadlineSeconds": 60}),
    )
    .await;
    b.fires("lenient", "2027-05-01T10:00:00Z", "2027-05-01T10:00:00Z")
        .await;
    b.w.terminal(&run_name("strict", t("2027-05-01T10:00:00Z")))
        .await;
    b.wait("strict", "the 10:00 run recorded", |s| {
        s.last_schedule_time.is_some()
    })
    .await;

    // The operator is down from 10:00 to 12:05.
    b.w.stop_controller();
    b.clock.set(t("2027-05-01T12:05:00Z"));
    let mut opts = options(&b.w.ns);
    opts.clock = Arc::new(b.clock.clone());
    b.w.start_controller(opts);

    // Within the deadline: the 12:00 slot runs once; 10:30, 11:00, 11:30 are missed.
    b.w.terminal(&run_name("lenient", t("2027-05-01T12:00:00Z")))
        .await;
    let s = b
        .wait("lenient", "the catch-up recorded", |s| s.missed_runs > 0)
        .await;
    assert_eq!(s.missed_runs, 3, "{s:#?}");
    assert_eq!(
        s.last_schedule_time.as_deref(),
        Some("2027-05-01T12:00:00Z")
    );
    assert_eq!(b.runs("lenient").await.len(), 2);
    // Past it: nothing runs, the four slots are missed, and an Event says so.
    let s = b
        .wait("strict", "missed slots", |s| s.missed_runs > 0)
        .await;
    assert_eq!(s.missed_runs, 4, "{s:#?}");
    assert_eq!(s.last_missed_time.as_deref(), Some("2027-05-01T12:00:00Z"));
    let note = b.event_note("strict", "MissedSchedule").await;
    assert!(note.contains("4 scheduled runs were missed"), "{note}");
    assert_eq!(b.runs("strict").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_then_resume_without_back_fill() {
    let b = bed("sched-suspend", "2027-05-01T09:59:00Z").await;
    b.schedule(
        "paused",
        json!({"schedule": "0 * * * *", "startingDeadlineSeconds": 300, "suspend": true}),
    )
    .await;
    let s = b
        .wait("paused", "Suspended", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Suspended" && c.status == "True")
        })
        .await;
    assert_eq!(s.next_schedule_time, None);
    b.clock.set(t("2027-05-01T10:30:00Z"));
    b.suspend("paused", false).await;
    // 10:00 is 30 minutes late: past the deadline, not back-filled.
    let s = b
        .wait("paused", "the missed slot", |s| s.missed_runs == 1)
        .await;
    assert_eq!(s.last_schedule_time, None);
    assert!(b.runs("paused").await.is_empty());
    b.fires("paused", "2027-05-01T11:00:00Z", "2027-05-01T11:00:00Z")
        .await;
    assert_eq!(b.runs("paused").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_limits_delete_the_oldest_runs() {
    let b = bed("sched-history", "2027-05-01T00:30:00Z").await;
    b.schedule(
        "kept",
        json!({"schedule": "0 * * * *", "successfulRunsHistoryLimit": 2, "failedRunsHistoryLimit": 1}),
    )
    .await;
    for h in 1..=4 {
        let slot = format!("2027-05-01T{h:02}:00:00Z");
        b.fires("kept", &slot, &slot).await;
    }
    // A failing run (the job is gone), twice: one failed run is kept.
    b.w.ctl().clear_faults();
    let gone = json!({"error": {"type": "resource_not_found_exception", "reason": "No known job with id 'job'"}, "status": 404});
    b.w.ctl()
        .fail_next(es_ml_sim::Endpoint::JobStats, 1000, 404, gone);
    for h in 5..=6 {
        let slot = format!("2027-05-01T{h:02}:00:00Z");
        let run = b.fires("kept", &slot, &slot).await;
        assert_eq!(run.status.map(|s| s.phase), Some(Phase::Failed));
    }
    let want: Vec<String> = ["03", "04", "06"]
        .iter()
        .map(|h| run_name("kept", t(&format!("2027-05-01T{h}:00:00Z"))))
        .collect();
    let left = names_become(&b.w.api, "kept", &want).await;
    assert_eq!(left, want, "runs left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_time_zone_stalls() {
    let b = bed("sched-tz", "2027-05-01T00:00:00Z").await;
    b.schedule(
        "lost",
        json!({"schedule": "@daily", "timeZone": "Europe/Atlantis"}),
    )
    .await;
    let s = b
        .wait("lost", "Stalled", |s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True")
        })
        .await;
    let stalled = s
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .expect("Stalled");
    assert_eq!(stalled.reason, "UnknownTimeZone");
    assert!(stalled.message.contains("Europe/Atlantis"), "{stalled:?}");
}
