//! One reconcile of a JobResetSchedule: observe (its runs from the JobReset cache, the
//! clock) → decide (`decide::decide`, pure) → act (delete runs past the history limits,
//! create the run of a due slot, Events) → record (a conditional status write). Wakes at
//! the next slot. Does I/O (Kubernetes).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, ObjectMeta, PostParams, Preconditions, PropagationPolicy},
    runtime::{controller::Action, reflector::Store},
};
use tracing::{info, warn};

use super::{
    clock::Clock,
    conditions,
    decide::{self, Decision, Run},
    redact::without_userinfo,
    retries::Retries,
    slots::Slots,
};
use crate::{
    api::{JobReset, JobResetSchedule},
    controller::error::Error,
    controller::index::JobIndex,
    k8s::{
        events::{EventType, Recorder},
        metrics::Metrics,
        status,
    },
    run::crash::{self, CrashPoint},
};

/// Label on every run: the schedule's name (when it fits a label value).
pub const SCHEDULE_LABEL: &str = "ml.jobreset.io/schedule";
/// Annotation on every run: its slot (RFC 3339, UTC).
pub const SLOT_ANNOTATION: &str = "ml.jobreset.io/scheduled-time";

/// The longest single wait: a wall clock that jumps (NTP) is caught up with by then.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

pub struct Context {
    pub client: kube::Client,
    pub runs: Store<JobReset>,
    /// The cache's JobResets by controller.
    pub jobs: JobIndex,
    pub recorder: Arc<Recorder>,
    pub clock: Arc<dyn Clock>,
    pub field_manager: String,
    pub metrics: Arc<Metrics>,
    pub retries: Retries,
}

/// The name of the run of `slot`: AlreadyExists then means "already fired".
pub fn run_name(schedule: &str, slot: Timestamp) -> String {
    let minutes = slot.as_second().div_euclid(60);
    let suffix = format!("-{minutes}");
    let keep = schedule.len().min(253 - suffix.len());
    // A cut name must still end in a letter or digit: `a.-1` is not a valid name.
    let stem = schedule[..keep].trim_end_matches(['-', '.']);
    format!("{stem}{suffix}")
}

pub async fn reconcile(obj: Arc<JobResetSchedule>, ctx: Arc<Context>) -> Result<Action, Error> {
    let done = reconcile_once(&obj, &ctx).await;
    if done.is_ok() {
        ctx.retries.succeeded(&obj.uid().unwrap_or_default());
    }
    done
}

async fn reconcile_once(obj: &JobResetSchedule, ctx: &Context) -> Result<Action, Error> {
    let name = obj.name_any();
    let namespace = obj
        .namespace()
        .ok_or_else(|| Error::MissingNamespace(name.clone()))?;
    if obj.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let owned = runs_of(&ctx.runs, &ctx.jobs, obj);
    let runs: Vec<Run> = owned.iter().map(|(r, _)| r.clone()).collect();
    let now = ctx.clock.now();
    let created = obj
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now, |t| ctx.clock.created_at(t.0));
    let old = obj.status.clone().unwrap_or_default();
    let mut d = decide::decide(&obj.spec, &old, created, &runs, now);
    let jobresets: Api<JobReset> = Api::namespaced(ctx.client.clone(), &namespace);

    let mut fired = None;
    if let Some(slot) = d.fire {
        let child = run_name(&name, slot);
        let created = create_run(ctx, &jobresets, obj, &child, slot).await?;
        if created == Created::New {
            ctx.metrics.schedule_runs(&namespace, &name, "created", 1);
            crash::at(CrashPoint::AfterRunCreated);
        }
        if created != Created::Foreign {
            fired = Some(child);
        } else {
            // The name is held by an object this schedule does not own: skip the slot.
            d.skip = Some((slot, vec![child]));
            d.fire = None;
        }
    }
    // After the fire: a refused delete (a webhook, a policy) must not hold up a slot.
    for gone in &d.delete {
        let uid = owned
            .iter()
            .find(|(r, _)| &r.name == gone)
            .map(|(_, uid)| uid.clone());
        if let Err(e) = delete_run(&jobresets, &namespace, gone, uid).await {
            ctx.metrics.reconcile_error(e.reason());
            warn!(namespace = %namespace, schedule = %name, run = %gone, error = %e, "could not delete a run past the history limit");
        }
    }
    if let Some((slot, blocking)) = &d.skip {
        ctx.metrics.schedule_runs(&namespace, &name, "skipped", 1);
        let note = format!(
            "the run for {slot} was skipped: {} still running (concurrencyPolicy Forbid) or its name is taken",
            blocking.join(", ")
        );
        publish(&ctx.recorder, obj, "SkippedRun", EventType::Warning, note).await;
    }
    if let Some(m) = &d.missed {
        ctx.metrics
            .schedule_runs(&namespace, &name, "missed", m.count);
        let count = if m.capped {
            format!("at least {}", m.count)
        } else {
            m.count.to_string()
        };
        let deadline = obj
            .spec
            .starting_deadline_seconds
            .map_or("no startingDeadlineSeconds".to_owned(), |s| {
                format!("startingDeadlineSeconds {s}")
            });
        let note = format!(
            "{count} scheduled runs were missed (the latest at {}) and are not run ({deadline}); later slots run as usual",
            m.latest
        );
        publish(
            &ctx.recorder,
            obj,
            "MissedSchedule",
            EventType::Warning,
            note,
        )
        .await;
    }

    let local = |t: Timestamp| {
        Slots::new(&obj.spec.schedule, obj.spec.time_zone.as_deref())
            .map_or_else(|_| t.to_string(), |s| s.local(t))
    };
    let mut next = decide::next_status(&old, &d, &runs, fired.as_deref(), local);
    next.observed_generation = obj.metadata.generation;
    next.conditions = conditions::for_schedule(&old, &obj.spec, &d, obj.metadata.generation, now);
    if next != old {
        let version = obj.resource_version().unwrap_or_default();
        let schedules: Api<JobResetSchedule> = Api::namespaced(ctx.client.clone(), &namespace);
        status::apply(&schedules, &name, &ctx.field_manager, &next, &version)
            .await
            .map_err(|source| Error::status_write(&namespace, &name, source))?;
    }
    Ok(wake_at(&d, now, ctx.clock.as_ref()))
}

/// At the next slot; for a set clock, its jumps wake the schedule instead.
fn wake_at(d: &Decision, now: Timestamp, clock: &dyn Clock) -> Action {
    match d.next {
        Some(next) if clock.is_real() => {
            let wait = now.duration_until(next).unsigned_abs();
            Action::requeue(wait.min(LONGEST_WAIT))
        }
        _ => Action::await_change(),
    }
}

/// The schedule's runs as the cache shows them, with their uids: JobResets of its namespace
/// whose controller it is. The cache spans every namespace, and anyone may write an owner
/// reference: a JobReset elsewhere naming this schedule's uid is not its run.
fn runs_of(
    store: &Store<JobReset>,
    jobs: &JobIndex,
    schedule: &JobResetSchedule,
) -> Vec<(Run, String)> {
    let uid = schedule.uid().unwrap_or_default();
    let namespace = schedule.namespace();
    let name = schedule.name_any();
    let ours = |r: &OwnerReference| {
        r.uid == uid
            && r.controller == Some(true)
            && r.kind == "JobResetSchedule"
            && r.name == name
            && r.api_version == JobResetSchedule::api_version(&())
    };
    jobs.owned_by(&uid)
        .iter()
        .filter_map(|r| store.get(r))
        .filter(|o| o.namespace() == namespace && o.owner_references().iter().any(ours))
        .filter_map(|o| {
            let slot = o.annotations().get(SLOT_ANNOTATION)?.parse().ok()?;
            let s = o.status.clone().unwrap_or_default();
            let run = Run {
                name: o.name_any(),
                slot,
                phase: s.phase,
                finished: s.completion_time.and_then(|t| t.parse().ok()),
            };
            Some((run, o.uid().unwrap_or_default()))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Created {
    New,
    /// Created before, its record not yet written (a crash, a conflict, a lagging cache).
    Existing,
    /// The name is held by an object this schedule does not own.
    Foreign,
}

/// Creates the run of `slot`, or finds it made before.
async fn create_run(
    ctx: &Context,
    api: &Api<JobReset>,
    schedule: &JobResetSchedule,
    name: &str,
    slot: Timestamp,
) -> Result<Created, Error> {
    let namespace = schedule.namespace().unwrap_or_default();
    let uid = schedule.uid().unwrap_or_default();
    let template = &schedule.spec.job_reset_template;
    let meta = template.metadata.clone().unwrap_or_default();
    // Only the template's labels: the schedule's own (GitOps tracking) labels stay off runs.
    let mut labels: BTreeMap<String, String> = meta.labels;
    if schedule.name_any().len() <= 63 {
        labels.insert(SCHEDULE_LABEL.to_owned(), schedule.name_any());
    }
    let mut annotations = meta.annotations;
    annotations.insert(
        SLOT_ANNOTATION.to_owned(),
        slot.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    );
    let run = JobReset {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: JobResetSchedule::api_version(&()).into_owned(),
                kind: JobResetSchedule::kind(&()).into_owned(),
                name: schedule.name_any(),
                uid: uid.clone(),
                controller: Some(true),
                block_owner_deletion: Some(false),
            }]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    };
    let failed = |source| Error::CreateObject {
        kind: "JobReset",
        namespace: namespace.clone(),
        name: name.to_owned(),
        source,
    };
    match api.create(&PostParams::default(), &run).await {
        Ok(_) => {
            info!(namespace = %namespace, schedule = %schedule.name_any(), run = name, %slot, "created the scheduled JobReset");
            publish(
                &ctx.recorder,
                schedule,
                "RunCreated",
                EventType::Normal,
                format!("created JobReset {name} for {slot}"),
            )
            .await;
            Ok(Created::New)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            match api.get_opt(name).await.map_err(failed)? {
                Some(o) if o.owner_references().iter().any(|r| r.uid == uid) => {
                    Ok(Created::Existing)
                }
                Some(_) => {
                    warn!(namespace = %namespace, run = name, "the run's name is held by another JobReset");
                    Ok(Created::Foreign)
                }
                // Gone between the two calls: decide again.
                None => Err(Error::Conflict {
                    namespace: namespace.clone(),
                    name: name.to_owned(),
                }),
            }
        }
        Err(kube::Error::Api(e)) => {
            // Refused (an admission policy, a quota, validation) or failed at the server:
            // told on the schedule, where its owner looks, and tried again with backoff.
            let note = format!(
                "could not create JobReset {name} for {slot}: the API server answered {} {}: {}; trying again with backoff (a slot past startingDeadlineSeconds, or overtaken by the next one, is counted missed)",
                e.code,
                e.reason,
                without_userinfo(&e.message)
            );
            publish(
                &ctx.recorder,
                schedule,
                "RunCreateFailed",
                EventType::Warning,
                note,
            )
            .await;
            Err(failed(kube::Error::Api(e)))
        }
        Err(source) => Err(failed(source)),
    }
}

/// Deletes a finished run past the history limits (its own children with it, through the
/// garbage collector); one already gone is fine.
async fn delete_run(
    api: &Api<JobReset>,
    namespace: &str,
    name: &str,
    uid: Option<String>,
) -> Result<(), Error> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        // The run the cache showed, never another object that took its name since.
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => {
            info!(
                namespace,
                run = name,
                "deleted a run past the history limit"
            );
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(source) => Err(Error::DeleteObject {
            kind: "JobReset",
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            source,
        }),
    }
}

async fn publish(
    recorder: &Recorder,
    obj: &JobResetSchedule,
    reason: &str,
    type_: EventType,
    note: String,
) {
    recorder
        .publish(&obj.object_ref(&()), reason, type_, note)
        .await;
}

/// Retries with backoff per schedule (a refused create is tried again until its slot is
/// past `startingDeadlineSeconds`, then counted missed); a failed run or an API error never
/// stops later slots.
pub fn error_policy(obj: Arc<JobResetSchedule>, err: &Error, ctx: Arc<Context>) -> Action {
    let wait = ctx
        .retries
        .failed(&obj.uid().unwrap_or_default(), std::time::Instant::now());
    ctx.metrics.reconcile_error(err.reason());
    warn!(
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any(),
        reason = err.reason(),
        error = %err,
        retry_in_secs = wait.as_secs_f64(),
        "schedule reconcile failed"
    );
    Action::requeue(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_are_valid_names_at_any_length() {
        let slot: Timestamp = "2027-05-01T10:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run_name("weekly", slot), "weekly-30152760");
        // Cut to fit 253 characters, never ending the cut in '.' or '-'.
        let long = format!("{}.{}", "a".repeat(243), "b".repeat(9));
        let name = run_name(&long, slot);
        assert!(name.len() <= 253, "{}", name.len());
        assert!(name.ends_with("a-30152760"), "{name}");
    }
}
