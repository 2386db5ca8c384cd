//! A JobReset over many jobs (`spec.jobs`), and any dry run: the expression is resolved
//! once (`GET _ml/anomaly_detectors/<expression>` and its stats, minus `exclude`, filtered by
//! the conditions), the targets are frozen into status before any job is touched, and each
//! target is reset by a child JobReset (deterministic name, owner reference, parent label)
//! that runs the single-job run unchanged, at most `parallelism` at a time. Does I/O: the
//! Elasticsearch reads, the children's creation, the parent's status writes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::{
    Api, Resource, ResourceExt,
    api::{ObjectMeta, PostParams},
};
use tracing::info;

use super::{
    events,
    fanout_plan::{self, PARENT_LABEL, reason as fan_reason},
    fanout_resolve::{Resolved, resolve},
    memory::RunKey,
    reconcile::{Context, observe},
};
use crate::{
    api::{FanOutStatus, JobReset, JobResetSpec, JobResetStatus, Phase},
    controller::error::Error,
    k8s::status,
    run::{
        conditions,
        crash::{self, CrashPoint},
        decide::{Observation, backoff_delay, deadline_left, reason},
        steps::Next,
    },
};

/// How often a parent looks again without a child's change to wake it.
const RECHECK: Duration = Duration::from_secs(60);

/// One reconcile of a fan-out (or dry-run) JobReset.
pub async fn reconcile(
    ctx: &Context,
    api: &Api<JobReset>,
    parent: &JobReset,
    key: &RunKey,
) -> Result<Next, Error> {
    let old = parent.status.clone().unwrap_or_default();
    let mut s = old.clone();
    // Until its jobs are frozen it has touched none: past its deadline it gives up, as a
    // single run that never started does (children have deadlines of their own).
    if s.fan_out.is_none()
        && deadline_left(&parent.spec, &s, jiff::Timestamp::now()).is_some_and(|left| left < 0)
    {
        let waiting = match (&s.reason, &s.message) {
            (Some(r), Some(m)) => format!(" (it was waiting: {r}: {m})"),
            _ => String::new(),
        };
        let msg = format!(
            "deadline of {}s exceeded before its jobs were resolved; no job was touched{waiting}",
            parent.spec.deadline_seconds
        );
        set(&mut s, Phase::Failed, reason::DEADLINE_EXCEEDED, msg);
        return write(ctx, api, parent, &old, s, Next::Done).await;
    }
    let (es, first) = observe(ctx, parent, key, &s).await?;
    let es = match (es, first) {
        (Some(es), Observation::Start) => es,
        (_, Observation::InvalidSpec { reason, message }) => {
            set(&mut s, Phase::Failed, &reason, message);
            return write(ctx, api, parent, &old, s, Next::Done).await;
        }
        (_, Observation::ConnectionUnavailable { reason, message }) => {
            let phase = s.phase;
            set(&mut s, phase, &reason, message);
            let again = Next::Requeue(ctx.opts.backoff_cap.min(Duration::from_secs(30)));
            return write(ctx, api, parent, &old, s, again).await;
        }
        _ => return Ok(Next::Requeue(RECHECK)),
    };
    let fan = match s.fan_out.clone() {
        Some(fan) => fan,
        None => match resolve(&es, &parent.spec, &mut s).await {
            Resolved::Frozen(fan) => {
                // Frozen before any child exists: never resolved again, even after a crash.
                s.fan_out = Some(fan.clone());
                let n = fan.targets.len();
                let msg = format!(
                    "resetting {n} jobs, {} at a time",
                    parallelism(&parent.spec)
                );
                set(&mut s, Phase::Resetting, fan_reason::RESETTING_JOBS, msg);
                let version = stamp_and_write(ctx, api, parent, &old, &mut s).await?;
                crash::at(CrashPoint::AfterTargetsFrozen);
                return children(ctx, api, parent, &s, fan, version).await;
            }
            Resolved::Over => {
                return write(ctx, api, parent, &old, s, Next::Done).await;
            }
            Resolved::Retry(attempts) => {
                let mut delay =
                    backoff_delay(ctx.opts.backoff_base, ctx.opts.backoff_cap, attempts);
                // Back by its deadline (a second past it), not a backoff later; a first
                // write starts the clock now.
                let left = deadline_left(&parent.spec, &s, jiff::Timestamp::now())
                    .unwrap_or(parent.spec.deadline_seconds);
                if let Ok(left) = u64::try_from(left) {
                    delay = delay.min(Duration::from_secs(left.saturating_add(1)));
                }
                return write(ctx, api, parent, &old, s, Next::Requeue(delay)).await;
            }
        },
    };
    let version = parent.resource_version().unwrap_or_default();
    children(ctx, api, parent, &s, fan, version).await
}

fn parallelism(spec: &JobResetSpec) -> u32 {
    spec.jobs.as_ref().map_or(1, |j| j.parallelism.max(1))
}

/// Creates the children the plan asks for and records the counts (and the end).
async fn children(
    ctx: &Context,
    api: &Api<JobReset>,
    parent: &JobReset,
    s: &JobResetStatus,
    fan: FanOutStatus,
    version: String,
) -> Result<Next, Error> {
    let uid = parent.uid().unwrap_or_default();
    // Children live in the parent's namespace with the parent as controller: anyone may
    // write an owner reference elsewhere, and the cache spans every namespace.
    let mine: Vec<_> = ctx
        .jobs
        .owned_by(&uid)
        .iter()
        .filter_map(|r| ctx.store.get(r))
        .filter(|o| {
            o.namespace() == parent.namespace()
                && o.owner_references()
                    .iter()
                    .any(|r| r.uid == uid && r.controller == Some(true))
        })
        .collect();
    let mut phases: BTreeMap<String, Phase> = mine
        .iter()
        .map(|c| {
            let phase = c.status.as_ref().map(|s| s.phase).unwrap_or_default();
            (c.spec.job_id.clone(), phase)
        })
        .collect();
    let policy = parent
        .spec
        .jobs
        .as_ref()
        .map(|j| j.failure_policy)
        .unwrap_or_default();
    let width = parallelism(&parent.spec);
    let mut plan = fanout_plan::progress(&fan, &phases, width, policy);
    // A name held by an object this parent does not own fails that target (and frees its
    // slot); bounded, as each round fails at least one more target.
    loop {
        let mut taken = false;
        for job in plan.create.iter().collect::<BTreeSet<_>>() {
            if create_child(ctx, api, parent, job).await? == Created::Taken {
                phases.insert(job.clone(), Phase::Failed);
                taken = true;
            } else {
                phases.entry(job.clone()).or_insert(Phase::Pending);
            }
        }
        if !taken {
            break;
        }
        plan = fanout_plan::progress(&fan, &phases, width, policy);
    }
    let mut next = s.clone();
    next.fan_out = Some(plan.counts.clone());
    match &plan.end {
        Some((phase, r, msg)) => set(&mut next, *phase, r, msg.clone()),
        None => {
            let c = &plan.counts;
            let msg = format!(
                "{} of {} jobs reset, {} failed, {} running, {} waiting",
                c.succeeded,
                c.targets.len(),
                c.failed,
                c.running,
                c.waiting
            );
            set(&mut next, Phase::Resetting, fan_reason::RESETTING_JOBS, msg);
        }
    }
    if plan.end.is_some() && !s.phase.is_terminal() {
        let c = &plan.counts;
        for (outcome, n) in [
            ("succeeded", c.succeeded),
            ("failed", c.failed),
            ("skipped", c.skipped_count),
        ] {
            ctx.metrics.fanout_targets(outcome, u64::from(n));
        }
    }
    let after = if plan.end.is_some() {
        Next::Done
    } else {
        Next::Requeue(RECHECK)
    };
    conditions::stamp(
        s,
        &mut next,
        parent.metadata.generation,
        jiff::Timestamp::now(),
    );
    if next != *s {
        record(ctx, api, parent, s, &next, &version).await?;
    }
    Ok(after)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Created {
    /// Created now, or found created before (a crash, or a cache that did not show it yet).
    Ours,
    /// The name is held by an object this parent does not own.
    Taken,
}

async fn create_child(
    ctx: &Context,
    api: &Api<JobReset>,
    parent: &JobReset,
    job: &str,
) -> Result<Created, Error> {
    let name = fanout_plan::child_name(&parent.name_any(), job);
    let namespace = parent.namespace().unwrap_or_default();
    let failed = |source| Error::CreateObject {
        kind: "JobReset",
        namespace: namespace.clone(),
        name: name.clone(),
        source,
    };
    let mut labels = BTreeMap::new();
    if parent.name_any().len() <= 63 {
        labels.insert(PARENT_LABEL.to_owned(), parent.name_any());
    }
    let uid = parent.uid().unwrap_or_default();
    let owner = OwnerReference {
        api_version: JobReset::api_version(&()).into_owned(),
        kind: JobReset::kind(&()).into_owned(),
        name: parent.name_any(),
        uid: uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(false),
    };
    let spec = JobResetSpec {
        job_id: job.to_owned(),
        jobs: None,
        dry_run: false,
        ttl_seconds_after_finished: None,
        ..parent.spec.clone()
    };
    let child = JobReset {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: parent.namespace(),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec,
        status: None,
    };
    match api.create(&PostParams::default(), &child).await {
        Ok(_) => {
            info!(parent = %parent.name_any(), child = %name, job, "created the child JobReset");
            Ok(Created::Ours)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let held = api.get_opt(&name).await.map_err(failed)?;
            let ours = held.as_ref().is_none_or(|o| {
                o.owner_references().iter().any(|r| r.uid == uid) && o.spec.job_id == job
            });
            if ours {
                return Ok(Created::Ours);
            }
            let note = format!(
                "JobReset {name} exists and is not this JobReset's child: job {job} is not reset; \
                 delete or rename {name}"
            );
            events::publish(
                &ctx.recorder,
                parent,
                events::EventReason::ChildNameTaken,
                note,
            )
            .await;
            Ok(Created::Taken)
        }
        Err(source) => Err(failed(source)),
    }
}

pub(super) fn set(s: &mut JobResetStatus, phase: Phase, r: &str, msg: String) {
    s.phase = phase;
    s.reason = Some(r.to_owned());
    s.message = Some(msg);
}

/// Stamps `s` and writes it if it changed.
async fn write(
    ctx: &Context,
    api: &Api<JobReset>,
    parent: &JobReset,
    old: &JobResetStatus,
    mut s: JobResetStatus,
    then: Next,
) -> Result<Next, Error> {
    stamp_and_write(ctx, api, parent, old, &mut s).await?;
    Ok(then)
}

/// Stamps and writes `s`; returns the resourceVersion written.
async fn stamp_and_write(
    ctx: &Context,
    api: &Api<JobReset>,
    parent: &JobReset,
    old: &JobResetStatus,
    s: &mut JobResetStatus,
) -> Result<String, Error> {
    conditions::stamp(old, s, parent.metadata.generation, jiff::Timestamp::now());
    let version = parent.resource_version().unwrap_or_default();
    if s == old {
        return Ok(version);
    }
    record(ctx, api, parent, old, s, &version).await
}

/// One conditional status write and its Event.
async fn record(
    ctx: &Context,
    api: &Api<JobReset>,
    parent: &JobReset,
    old: &JobResetStatus,
    new: &JobResetStatus,
    version: &str,
) -> Result<String, Error> {
    let name = parent.name_any();
    let namespace = parent.namespace().unwrap_or_default();
    // Its watch event wakes nothing: this reconcile decided what comes next (a retry's
    // backoff, a child's change). A terminal status's echo is what schedules its TTL.
    if !new.phase.is_terminal() {
        ctx.memory.writing(&RunKey::of(parent), new);
    }
    let written = status::apply(api, &name, &ctx.opts.field_manager, new, version)
        .await
        .map_err(|source| Error::status_write(&namespace, &name, source))?;
    info!(namespace = %namespace, name = %name, phase = new.phase.as_str(),
          reason = new.reason.as_deref().unwrap_or(""), detail = new.message.as_deref().unwrap_or(""), "status");
    if new.phase.is_terminal() && !old.phase.is_terminal() {
        ctx.metrics
            .run_finished(new.phase.as_str(), new.reason.as_deref().unwrap_or(""));
    }
    if let Some((r, note)) = events::for_transition(old, new) {
        events::publish(&ctx.recorder, parent, r, note).await;
    }
    Ok(written.resource_version().unwrap_or_default())
}
