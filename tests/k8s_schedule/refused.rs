//! A run the API server refuses to create (an admission policy, as Kyverno or a webhook
//! answers): told on the schedule and tried again until the create goes through.

use super::*;
use testbed::{FaultAction, FaultRule, RequestMatch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_run_is_told_on_the_schedule_and_created_once_allowed() {
    let b = bed("sched-refused", "2027-05-01T09:59:00Z").await;
    b.schedule(
        "frozen",
        json!({"schedule": "0 * * * *", "startingDeadlineSeconds": 3600}),
    )
    .await;
    b.wait("frozen", "next slot", |s| s.next_schedule_time.is_some())
        .await;
    let denial = "admission webhook \"freeze.example.com\" denied the request: resets are frozen";
    let refuse = FaultRule {
        matching: RequestMatch::any()
            .verb("create")
            .group("ml.jobreset.io")
            .resource("jobresets")
            .namespace(b.w.ns.clone()),
        action: FaultAction::Respond {
            status: 403,
            reason: Some("Forbidden".into()),
            message: Some(denial.into()),
            retry_after_secs: None,
        },
        nth: 1,
        times: Some(3),
    };
    let _rule = b.w.bed.faults().scoped(refuse).expect("fault rule");
    b.clock.set(t("2027-05-01T10:00:30Z"));

    let note = b.event_note("frozen", "RunCreateFailed").await;
    let slot = t("2027-05-01T10:00:00Z");
    let name = run_name("frozen", slot);
    assert!(note.contains(&name), "{note}");
    assert!(note.contains("403") && note.contains(denial), "{note}");
    // The refusal ends after three answers: the retries create the run, for its own slot.
    b.w.terminal(&name).await;
    let s = b
        .wait("frozen", "the slot recorded", |s| {
            s.last_schedule_time.as_deref() == Some("2027-05-01T10:00:00Z")
        })
        .await;
    assert_eq!(s.missed_runs, 0, "{s:#?}");
    assert_eq!(b.runs("frozen").await.len(), 1);
}
