//! One reconcile of one JobReset: observe (fresh object, other JobResets of the same job,
//! Secrets), then `steps::drive` (decide → act → record with server-side apply and Events).
//! Does I/O (Kubernetes reads and status writes; Elasticsearch through `steps`).
//!
//! No finalizer: a reset cannot be undone, so deleting a JobReset has nothing to clean up in
//! Elasticsearch (a reset already running there finishes on its own).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::channel::mpsc::UnboundedSender;
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        controller::Action,
        reflector::{ObjectRef, Store},
    },
};
use tracing::warn;

use super::{
    Options,
    access::{self, CROSS_NAMESPACE_REF_DENIED},
    connect::{self, ConnectError},
    fanout,
    finish::Requeue,
    locks::{Held, ObjectLocks},
    memory::{Memory, RunKey},
    pace,
    queue::{self, Blocker},
    record::KubeSink,
    starts::{self, Starts},
    ttl,
};
use crate::{
    api::{JobReset, JobResetGrant, JobResetStatus, Phase},
    controller::error::Error,
    controller::index::JobIndex,
    es::EsClient,
    k8s::{events::Recorder, metrics::Metrics},
    run::{
        decide::{Observation, backoff_delay},
        gate::ResetGate,
        steps::{self, Next, StepConfig},
    },
};

/// When a run that found its job's turn taken looks again, if no wake came first.
const TURN_RECHECK: Duration = Duration::from_secs(30);

/// Shared by all reconciles.
pub struct Context {
    pub client: Client,
    /// The controller's reflector store of JobResets.
    pub store: Store<JobReset>,
    /// The store's JobResets by job id.
    pub jobs: JobIndex,
    /// The JobResetGrants, for cross-namespace references.
    pub grants: Store<JobResetGrant>,
    /// Whether `grants` holds the first list yet.
    pub grants_synced: Arc<AtomicBool>,
    pub recorder: Arc<Recorder>,
    pub opts: Options,
    /// Asks the controller to reconcile one JobReset (a waiter, when the run it waits for ends).
    pub wake: UnboundedSender<ObjectRef<JobReset>>,
    /// Per run: background long-poll, Elasticsearch client, failure count.
    pub memory: Arc<Memory>,
    pub metrics: Arc<Metrics>,
    /// Closed on a graceful stop: no reset request starts after that.
    pub gate: Arc<ResetGate>,
    /// Held by whoever reconciles an object: the controller or the finishing lane.
    pub locks: ObjectLocks,
    /// Taken by a run reconciled from Pending, so that no two runs of one job start at once.
    pub starts: Starts,
    /// The controller's reconciles asked for by the finishing lane.
    pub requeue: Requeue,
    /// The runs' requests to the API server: how many at once, finishing runs first.
    pub pace: pace::Pace,
}

impl Context {
    /// Drops what is kept for a run that ended or an object that is gone.
    pub fn forget(&self, key: &RunKey) {
        self.memory.forget(key);
    }

    fn step_config(&self) -> StepConfig {
        StepConfig {
            task_poll_timeout: self.opts.task_poll_timeout,
            backoff_base: self.opts.backoff_base,
            backoff_cap: self.opts.backoff_cap,
            gate: Arc::clone(&self.gate),
            known_unsent: None,
        }
    }
}

/// The controller's reconcile function.
pub async fn reconcile(obj: Arc<JobReset>, ctx: Arc<Context>) -> Result<Action, Error> {
    Ok(match reconcile_held(obj, &ctx).await? {
        Next::Done => Action::await_change(),
        Next::Requeue(d) => Action::requeue(d),
    })
}

/// One reconcile under the object's lock (the finishing lane reconciles beside the
/// controller).
async fn reconcile_held(obj: Arc<JobReset>, ctx: &Arc<Context>) -> Result<Next, Error> {
    let held = ctx.locks.lock(&ObjectRef::from_obj(obj.as_ref())).await;
    reconcile_timed(obj, ctx, &held).await
}

/// One reconcile, timed for the metrics, while the caller holds the object's lock.
pub(super) async fn reconcile_timed(
    obj: Arc<JobReset>,
    ctx: &Arc<Context>,
    _held: &Held<'_>,
) -> Result<Next, Error> {
    let start = std::time::Instant::now();
    let result = reconcile_once(obj, ctx).await;
    ctx.metrics.reconciled(result.is_ok(), start.elapsed());
    result
}

async fn reconcile_once(obj: Arc<JobReset>, ctx: &Arc<Context>) -> Result<Next, Error> {
    // Terminal phases return before any I/O (but the TTL's delete); terminal never reverts,
    // so a stale cache is fine.
    if obj.status.as_ref().is_some_and(|s| s.phase.is_terminal()) {
        return match ttl::remaining(&obj, jiff::Timestamp::now()) {
            Some(wait) => ttl::expire(ctx, &obj, wait).await,
            None => Ok(Next::Done),
        };
    }
    let name = obj.name_any();
    let namespace = obj
        .namespace()
        .ok_or_else(|| Error::MissingNamespace(name.clone()))?;
    let api: Api<JobReset> = Api::namespaced(ctx.client.clone(), &namespace);
    // The cache can lag behind this operator's own last status write (e.g. the task id just
    // written); deciding on a stale status could send a second reset, so the object is read.
    // In the finishing lane the run goes on from a background call's answer, and its next
    // step only reads or writes status (conditional on the version): there the object as its
    // own last write (or read) left it serves, when the cache tells it exactly. Elsewhere (a
    // retry after a fault may act on the job with its status unchanged, and the object may
    // be gone meanwhile) it is read.
    let finishing = pace::is_finishing();
    // A run the cache shows waiting asks for its job's turn before it reads anything: while
    // another run of the job holds it, it costs nothing and is woken when it is given back
    // (the delay only covers a lost wake).
    // (Not in the finishing lane: it goes on from a run's own last write, past Pending.)
    let cached_pending = !finishing
        && obj
            .status
            .as_ref()
            .is_none_or(|s| s.phase == Phase::Pending);
    let turn = match cached_pending
        .then(|| starts::target_of(&obj, &namespace, &ctx.opts.eck_url_template))
        .flatten()
    {
        Some(target) => match ctx.starts.take(target, ObjectRef::from_obj(obj.as_ref())) {
            Some(t) => Some(t),
            None => return Ok(Next::Requeue(TURN_RECHECK)),
        },
        None => None,
    };
    let mine = finishing.then(|| ctx.memory.as_last_known(&obj)).flatten();
    let fresh = match mine {
        Some(o) => Some(o),
        None => {
            let first = finishing || obj.status.as_ref().is_some_and(|s| s.task_id.is_some());
            let read = read_fresh(&api, &namespace, &name);
            let read = ctx.pace.run(first, read).await?;
            if let Some(o) = &read {
                ctx.memory.read(&RunKey::of(o), o);
            }
            read.map(Arc::new)
        }
    };
    let Some(fresh) = fresh else {
        ctx.forget(&RunKey::of(&obj));
        return Ok(Next::Done);
    };
    // The fresh object may be a re-created one of the same name: it is its own run.
    let key = RunKey::of(&fresh);
    let mut status = fresh.status.clone().unwrap_or_default();
    if status.phase.is_terminal() {
        ctx.forget(&key);
        return Ok(Next::Done);
    }
    if fresh.spec.jobs.is_some() || fresh.spec.dry_run {
        // Re-created under this name as one: it touches no job.
        drop(turn);
        return fanout::reconcile(ctx, &api, &fresh, &key).await;
    }
    // Held to the end: by then the run is past Pending for every later queue check, or not
    // started. Taken again when the object read is not the one the cache showed.
    let wanted = (status.phase == Phase::Pending)
        .then(|| starts::target_of(&fresh, &namespace, &ctx.opts.eck_url_template))
        .flatten();
    let _turn = match (turn, wanted) {
        (Some(t), Some(w)) if t.target() == &w => Some(t),
        (_, Some(w)) => match ctx.starts.take(w, ObjectRef::from_obj(fresh.as_ref())) {
            Some(t) => Some(t),
            None => return Ok(Next::Requeue(TURN_RECHECK)),
        },
        (_, None) => None,
    };

    let (es, mut first) = observe(ctx, &fresh, &key, &status).await?;
    if let Some(task_id) = ctx.memory.unwritten_task(&key) {
        if status.task_id.is_some() {
            // The write landed after all (its answer was lost).
            ctx.memory.task_written(&key);
        } else if status.phase == Phase::Resetting
            && !status.adopted
            && matches!(first, Observation::Start)
        {
            // The reset request answered and its task id did not reach status: the run goes
            // on from that answer, as if it had just come.
            first = Observation::ResetPosted { task_id };
        }
    }
    let mut sink = KubeSink::new(&api, &fresh, ctx, key.clone());
    let mut cfg = ctx.step_config();
    cfg.known_unsent = ctx.memory.unsent_request(&key);
    let next = steps::drive(
        es.as_ref(),
        &fresh.spec,
        fresh.metadata.generation,
        &mut status,
        first,
        &cfg,
        &mut sink,
        &ctx.memory.followers.of(key.clone()),
    )
    .await?;
    ctx.memory.succeeded(&key);
    if status.phase.is_terminal() {
        ctx.forget(&key);
        // Nothing about the waiters changed in Kubernetes, so no watch event wakes them.
        for waiter in queue::same_target(&ctx.store, &ctx.jobs, &fresh, &ctx.opts.eck_url_template)
        {
            let _ = ctx
                .wake
                .unbounded_send(ObjectRef::from_obj(waiter.as_ref()));
        }
    }
    Ok(next)
}

/// What is known before any Elasticsearch call: another run going first, or connection
/// settings that cannot be built yet; else the client.
pub(super) async fn observe(
    ctx: &Context,
    obj: &JobReset,
    key: &RunKey,
    status: &JobResetStatus,
) -> Result<(Option<EsClient>, Observation), Error> {
    let namespace = key.obj.namespace.as_deref().unwrap_or_default();
    if status.phase == Phase::Pending
        && let Some(blocker) = queue::blocker(
            &ctx.client,
            &ctx.store,
            &ctx.jobs,
            obj,
            &ctx.opts.eck_url_template,
            &|o| ctx.memory.moved_past_pending(o),
        )
        .await?
    {
        let name = match blocker {
            Blocker::Named(name) => Some(name),
            Blocker::Elsewhere => None,
        };
        return Ok((None, Observation::WaitingFor { name }));
    }
    let plan = match connect::plan(
        &obj.spec.elasticsearch,
        namespace,
        &ctx.opts.eck_url_template,
    ) {
        Ok(p) => p,
        Err(e) => {
            return Ok((
                None,
                Observation::InvalidSpec {
                    reason: e.reason().to_owned(),
                    message: e.to_string(),
                },
            ));
        }
    };
    let elsewhere = plan
        .target
        .as_ref()
        .is_some_and(|t| t.namespace != namespace);
    if elsewhere && !ctx.grants_synced.load(Ordering::SeqCst) {
        // An empty cache is not a refusal: decide once the first list is in (it wakes us).
        return Err(Error::GrantsNotSynced);
    }
    if let Some(target) = &plan.target
        && let Err(denied) = access::check(
            namespace,
            target,
            &ctx.grants.state(),
            &ctx.opts.allowed_refs,
            ctx.opts.namespace.as_deref(),
        )
    {
        // Decided before any Secret of the other namespace is read. The grant watch wakes
        // the run when a grant appears.
        return Ok((None, unavailable(CROSS_NAMESPACE_REF_DENIED, &denied)));
    }
    if plan.insecure_skip_verify {
        warn!(namespace, name = %obj.name_any(), url = %plan.url, "TLS verification is disabled (tls.insecureSkipVerify)");
    }
    let opaque_id = format!(
        "jobreset/{namespace}/{}/{}",
        obj.name_any(),
        obj.uid().unwrap_or_default()
    );
    let cfg = match connect::resolve(&ctx.client, &ctx.memory.secrets, &key.uid, &plan, opaque_id)
        .await
    {
        Ok(cfg) => cfg,
        Err(e @ ConnectError::Kube { .. }) => {
            // The Secret could not be read (API error): retry with backoff, keep the status.
            warn!(namespace, name = %obj.name_any(), error = %e, "cannot read a referenced Secret");
            return Ok((None, unavailable(e.reason(), &e)));
        }
        Err(e) => return Ok((None, unavailable(e.reason(), &e))),
    };
    match ctx.memory.clients.get(key, cfg) {
        Ok(es) => Ok((Some(es), Observation::Start)),
        Err(e) => Ok((None, unavailable(e.reason(), &e))),
    }
}

fn unavailable(reason: &str, e: &dyn std::fmt::Display) -> Observation {
    Observation::ConnectionUnavailable {
        reason: reason.to_owned(),
        message: e.to_string(),
    }
}

/// Reads a JobReset from the API server, not the cache (`None` once it is deleted).
pub(super) async fn read_fresh(
    api: &Api<JobReset>,
    namespace: &str,
    name: &str,
) -> Result<Option<JobReset>, Error> {
    api.get_opt(name).await.map_err(|source| Error::ReadObject {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    })
}

/// The controller's error policy: Kubernetes-side failures retry with capped backoff.
pub fn error_policy(obj: Arc<JobReset>, err: &Error, ctx: Arc<Context>) -> Action {
    Action::requeue(retry_after(&obj, err, &ctx))
}

/// When a reconcile that failed with `err` is tried again (counted, logged).
pub(super) fn retry_after(obj: &JobReset, err: &Error, ctx: &Context) -> Duration {
    ctx.metrics.reconcile_error(err.reason());
    let n = ctx.memory.failed(&RunKey::of(obj));
    warn!(
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any(),
        reason = err.reason(),
        error = %err,
        failures = n,
        "reconcile failed"
    );
    if err.is_transient() {
        backoff_delay(ctx.opts.backoff_base, ctx.opts.backoff_cap, n)
    } else {
        Duration::from_secs(3600)
    }
}
