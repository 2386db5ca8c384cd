//! JobResetSchedules end to end on the shared test bed: the controller runs in-process on a
//! clock the test sets (so slots come without waiting for them), creates JobResets that the
//! JobReset controller runs against a simulator; one case SIGKILLs the operator binary at
//! the moment of firing (real clock). The clock-driven slot cases are in `slots`, a refused
//! create in `refused`; names and the SIGKILL case here. Does I/O (Kubernetes, loopback
//! HTTP, processes).

#[path = "../common/mod.rs"]
mod common;
mod refused;
mod slots;

use std::{sync::Arc, time::Duration};

use common::{DEADLINE, Operator, World, options};
use es_ml_sim::SimConfig;
use jiff::Timestamp;
use jobreset_operator::api::{JobReset, JobResetSchedule, JobResetScheduleStatus, Phase};
use jobreset_operator::controller::schedule::{ManualClock, SCHEDULE_LABEL, run_name};
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams, PostParams},
    runtime::wait::await_condition,
};
use serde_json::{Value, json};

fn t(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

struct Bed {
    w: World,
    clock: ManualClock,
    schedules: Api<JobResetSchedule>,
}

/// A namespace, a simulator with job `job`, and the controller on a clock set to `start`.
async fn bed(prefix: &str, start: &str) -> Bed {
    let mut w = World::bare(prefix, SimConfig::default()).await;
    w.job_with_data("job", "closed");
    let clock = ManualClock::new(t(start));
    let mut opts = options(&w.ns);
    opts.clock = Arc::new(clock.clone());
    w.start_controller(opts);
    let schedules = Api::namespaced(w.client.clone(), &w.ns);
    Bed {
        w,
        clock,
        schedules,
    }
}

impl Bed {
    async fn schedule(&self, name: &str, mut spec: Value) -> JobResetSchedule {
        let template =
            json!({"spec": {"jobId": "job", "elasticsearch": {"url": self.w.sim.url()}}});
        let obj = spec.as_object_mut().expect("spec object");
        obj.entry("jobResetTemplate").or_insert(template);
        let s: JobResetSchedule = serde_json::from_value(json!({
            "apiVersion": "ml.jobreset.io/v1alpha1",
            "kind": "JobResetSchedule",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/instance": "argo-app"}},
            "spec": spec,
        }))
        .expect("schedule from JSON");
        self.schedules
            .create(&PostParams::default(), &s)
            .await
            .expect("create JobResetSchedule")
    }

    async fn wait(
        &self,
        name: &str,
        what: &str,
        cond: impl Fn(&JobResetScheduleStatus) -> bool,
    ) -> JobResetScheduleStatus {
        let ok = move |o: Option<&JobResetSchedule>| {
            o.and_then(|o| o.status.as_ref()).is_some_and(&cond)
        };
        match tokio::time::timeout(DEADLINE, await_condition(self.schedules.clone(), name, ok))
            .await
        {
            Ok(Ok(Some(o))) => o.status.unwrap_or_default(),
            other => {
                let now = self
                    .schedules
                    .get_opt(name)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|o| o.status);
                panic!("schedule {name}: no {what} ({other:?}); status now: {now:#?}")
            }
        }
    }

    async fn runs(&self, schedule: &str) -> Vec<JobReset> {
        let lp = ListParams::default().labels(&format!("{SCHEDULE_LABEL}={schedule}"));
        let mut runs = self.w.api.list(&lp).await.expect("list runs").items;
        runs.sort_by_key(|r| r.metadata.name.clone());
        runs
    }

    /// Sets the clock and waits until the schedule has created the run of `slot`; returns
    /// it once terminal.
    async fn fires(&self, schedule: &str, now: &str, slot: &str) -> JobReset {
        self.clock.set(t(now));
        let name = run_name(schedule, t(slot));
        self.w.terminal(&name).await;
        self.w.api.get(&name).await.expect("run")
    }

    /// The note of the first Event `reason` about the schedule `name`, once there is one.
    async fn event_note(&self, name: &str, reason: &str) -> String {
        let events = self.w.wait_event(name, reason).await;
        events
            .iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .find_map(|e| e.note.clone())
            .unwrap_or_default()
    }

    async fn suspend(&self, name: &str, on: bool) {
        let patch = json!({"spec": {"suspend": on}});
        self.schedules
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .expect("patch suspend");
    }
}

/// Watches the runs of `schedule` until their names are `want` (sorted); returns the last
/// names seen.
async fn names_become(api: &Api<JobReset>, schedule: &str, want: &[String]) -> Vec<String> {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    use std::collections::BTreeSet;
    let cfg = watcher::Config::default().labels(&format!("{SCHEDULE_LABEL}={schedule}"));
    let mut names = BTreeSet::new();
    let mut listed = BTreeSet::new();
    let mut synced = false;
    let stream = watcher(api.clone(), cfg).default_backoff();
    let _ = tokio::time::timeout(DEADLINE, async {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Init) => listed.clear(),
                Ok(watcher::Event::InitApply(o)) => {
                    listed.insert(o.metadata.name.unwrap_or_default());
                }
                Ok(watcher::Event::InitDone) => {
                    names = std::mem::take(&mut listed);
                    synced = true;
                }
                Ok(watcher::Event::Apply(o)) => {
                    names.insert(o.metadata.name.unwrap_or_default());
                }
                Ok(watcher::Event::Delete(o)) => {
                    names.remove(&o.metadata.name.unwrap_or_default());
                }
                Err(_) => {}
            }
            if synced && names.iter().eq(want.iter()) {
                return;
            }
        }
    })
    .await;
    names.into_iter().collect()
}

/// The operator binary (real clock) dies right after creating the run of a slot, before
/// recording it; the next one must not create a second run of that slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_at_the_moment_of_firing_creates_one_run() {
    let w = World::bare("sched-crash", SimConfig::default()).await;
    w.job_with_data("job", "closed");
    let schedules: Api<JobResetSchedule> = Api::namespaced(w.client.clone(), &w.ns);
    let s: JobResetSchedule = serde_json::from_value(json!({
        "apiVersion": "ml.jobreset.io/v1alpha1",
        "kind": "JobResetSchedule",
        "metadata": {"name": "every-minute"},
        "spec": {"schedule": "* * * * *", "startingDeadlineSeconds": 3600,
                 "jobResetTemplate": {"spec": {"jobId": "job", "elasticsearch": {"url": w.sim.url()}}}},
    }))
    .expect("schedule");
    schedules
        .create(&PostParams::default(), &s)
        .await
        .expect("create");
    let mut first = Operator::spawn(w.bed, &w.ns, Some("after-run-created"), "first").await;
    let exit = tokio::time::timeout(Duration::from_secs(150), first.exited())
        .await
        .expect("the first slot came and the operator died at it");
    assert!(!exit.success(), "log:\n{}", first.log_text());
    let lp = ListParams::default().labels(&format!("{SCHEDULE_LABEL}=every-minute"));
    let created = w.api.list(&lp).await.expect("list").items;
    assert_eq!(created.len(), 1, "one run before the crash");
    let slot_run = created[0].metadata.name.clone().expect("name");
    let before = schedules
        .get("every-minute")
        .await
        .expect("schedule")
        .status
        .unwrap_or_default();
    assert_eq!(
        before.last_schedule_time, None,
        "the crash came before the record"
    );

    let mut second = Operator::spawn(w.bed, &w.ns, None, "second").await;
    w.terminal(&slot_run).await;
    let ok = move |o: Option<&JobResetSchedule>| {
        o.and_then(|o| o.status.as_ref())
            .is_some_and(|s| s.last_schedule_time.is_some())
    };
    let recorded = tokio::time::timeout(
        DEADLINE,
        await_condition(schedules.clone(), "every-minute", ok),
    )
    .await;
    second.kill().await;
    let status = recorded
        .ok()
        .and_then(|r| r.ok())
        .flatten()
        .and_then(|o| o.status)
        .unwrap_or_default();
    let runs = w.api.list(&lp).await.expect("list").items;
    let of_slot = runs
        .iter()
        .filter(|r| r.metadata.name.as_deref() == Some(slot_run.as_str()))
        .count();
    assert_eq!(of_slot, 1);
    // The slot it died at is the one recorded (or a later one, if a minute passed).
    assert!(status.last_schedule_time.is_some(), "{status:#?}");
    assert!(
        w.ctl().resets_started("job") as usize <= runs.len(),
        "one reset per run at most"
    );
}
