//! Controller wiring: watches JobResets (and the Secrets and JobResetGrants they reference),
//! sizes the concurrency, runs `reconcile::reconcile` with `reconcile::error_policy`, and
//! stops gracefully on request. Does I/O (the watches; everything else through `reconcile`).

pub mod access;
pub mod clients;
pub mod connect;
pub mod events;
pub mod fanout;
pub mod fanout_plan;
mod fanout_resolve;
pub mod finish;
pub mod followers;
pub mod locks;
pub mod memory;
pub mod pace;
pub mod queue;
pub mod reconcile;
pub mod record;
pub mod secrets;
pub mod starts;
pub mod ttl;
pub mod watches;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::ListParams,
    core::PartialObjectMeta,
    runtime::{
        Controller, WatchStreamExt,
        controller::Config as ControllerConfig,
        reflector::{self, ObjectRef, reflector},
        scheduler, watcher,
    },
};
use tracing::{debug, info, warn};

use access::AllowedRef;
use followers::Followers;
use locks::ObjectLocks;
use memory::{Memory, RunKey};
use reconcile::{Context, error_policy, reconcile};
use watches::{referencing, slim, watch_grants};

use crate::{
    api::{JobReset, JobResetGrant, JobResetSchedule},
    controller::error::Error,
    controller::index::JobIndex,
    controller::schedule::{self, Clock, SystemClock},
    k8s::{
        events::{Recorder, Reporter},
        metrics::{Metrics, Readiness},
    },
    run::gate::ResetGate,
};

/// Default `--eck-url-template`: the in-cluster HTTPS Service of an ECK cluster.
pub const DEFAULT_ECK_URL_TEMPLATE: &str = "https://{service}.{namespace}.svc:9200";
/// The one field manager for status writes (and the Events' reporting controller).
pub const FIELD_MANAGER: &str = "jobreset-operator";

/// Controller settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Watch one namespace only; `None` watches all.
    pub namespace: Option<String>,
    /// JobResets reconciled at the same time (kube's default is unbounded). Runs whose
    /// background call answered are finished beside these, in a lane of the same size.
    pub concurrency: u16,
    /// Server-side wait of each `GET _tasks/<id>?wait_for_completion=true` long-poll.
    pub task_poll_timeout: Duration,
    /// First retry delay after a transient fault; doubles per retry.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// URL of ECK clusters named by `elasticsearchRef`; `{service}`, `{namespace}` and `{name}`
    /// are substituted. Override only for tests and out-of-cluster runs.
    pub eck_url_template: String,
    /// Field manager of status writes.
    pub field_manager: String,
    /// The runs' requests to the API server out at once (0: no limit); those of runs whose
    /// reset was sent go first.
    pub kube_requests: usize,
    /// Reset tasks followed (long-polled) at the same time, each on one connection to
    /// Elasticsearch. Following runs beside reconciles, so it does not hold up `concurrency`.
    pub max_task_follows: usize,
    /// Of those, how many the JobResets of one namespace may hold, so that no tenant's
    /// calls (closes its own server never answers) hold up everyone's.
    pub max_task_follows_per_namespace: usize,
    /// Cross-namespace references the cluster admin allows without a JobResetGrant.
    pub allowed_refs: Vec<AllowedRef>,
    /// The time schedules decide on (the system clock but in tests).
    pub clock: Arc<dyn Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: None,
            concurrency: 8,
            task_poll_timeout: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            eck_url_template: DEFAULT_ECK_URL_TEMPLATE.to_string(),
            field_manager: FIELD_MANAGER.to_string(),
            kube_requests: 4,
            max_task_follows: 1024,
            max_task_follows_per_namespace: 256,
            allowed_refs: Vec::new(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// What the process shares with the controller: the metrics and probes it serves from start,
/// and the gate a graceful stop closes.
#[derive(Clone, Default)]
pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub gate: Arc<ResetGate>,
}

/// Checks that the API server answers and the CRD is installed: fail fast with a hint
/// instead of crash-looping on watch errors.
pub async fn preflight(client: &Client, opts: &Options) -> Result<(), Error> {
    let api: Api<JobReset> = scoped(client, &opts.namespace);
    api.list(&ListParams::default().limit(1))
        .await
        .map_err(|source| Error::CrdNotInstalled { source })?;
    let grants: Api<JobResetGrant> = scoped(client, &opts.namespace);
    grants
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|source| Error::CrdNotInstalled { source })?;
    let schedules: Api<JobResetSchedule> = scoped(client, &opts.namespace);
    schedules
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|source| Error::CrdNotInstalled { source })?;
    Ok(())
}

/// `preflight`, then the controller until the process ends (for tests and embedding).
pub async fn run(client: Client, opts: Options) -> Result<(), Error> {
    preflight(&client, &opts).await?;
    run_until(client, opts, Shared::default(), std::future::pending()).await
}

/// Runs the controller until `stop` resolves; then no new reconcile starts and the call
/// returns once the running ones have finished (the caller bounds that wait).
pub async fn run_until(
    client: Client,
    opts: Options,
    shared: Shared,
    stop: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let api: Api<JobReset> = scoped(&client, &opts.namespace);
    let secrets: Api<PartialObjectMeta<Secret>> = scoped(&client, &opts.namespace);
    let Shared { metrics, gate } = shared;
    metrics.set_readiness(Readiness::Syncing);
    let stop = futures::FutureExt::shared(stop);
    // kube's graceful shutdown also ends the watch that would make the cache ready, and its
    // runner waits for a ready cache: a stop before the first list would wait forever. Nothing
    // has been reconciled by then, so there is nothing to wait for.
    let synced = Arc::new(AtomicBool::new(false));
    let stopped_before_sync = {
        let (stop, synced) = (stop.clone(), Arc::clone(&synced));
        async move {
            stop.await;
            if synced.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
        }
    };
    // Our own reflector, so that readiness can follow the initial list (kube's
    // `Store::wait_until_ready` keeps one waker only: a second waiter could take the
    // controller's own start-up wake-up).
    let (store, writer) = reflector::store::<JobReset>();
    let ready = Arc::clone(&metrics);
    // Wakes single JobResets: the run a waiter waits for ended, a grant or a child changed.
    let (wake, woken) = futures::channel::mpsc::unbounded();
    // A follower's answer arrived: for the finishing lane, not the controller's queue.
    let (answered, answers) = futures::channel::mpsc::unbounded();
    // What the finishing lane hands back to the controller, at a time.
    let (requeue, requeued) = futures::channel::mpsc::unbounded();
    let followers = Followers::new(
        opts.max_task_follows,
        opts.max_task_follows_per_namespace,
        answered,
        metrics.task_follows(),
    );
    let reporter = Reporter {
        controller: opts.field_manager.clone(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Arc::new(Recorder::new(client.clone(), reporter.clone()));
    let memory = Arc::new(Memory::new(followers, Arc::clone(&recorder)));
    let deleted = Arc::clone(&memory);
    let parents = wake.clone();
    let echoes = Arc::clone(&memory);
    let kept_secrets = Arc::clone(&memory);
    // Wakes schedules whose runs changed.
    let (wake_schedule, schedules_woken) = futures::channel::mpsc::unbounded();
    let jobs = JobIndex::default();
    let indexed = jobs.clone();
    let runs = reflector(
        writer,
        watcher(api, watcher::Config::default().any_semantic()).modify(slim),
    )
    .inspect(move |event| {
        if let Ok(event) = event {
            indexed.apply(event);
        }
        match event {
            Ok(watcher::Event::InitDone) => {
                synced.store(true, Ordering::SeqCst);
                ready.set_readiness(Readiness::Ready);
            }
            // Whatever was kept for a deleted object (its client holds credentials) goes now.
            Ok(watcher::Event::Delete(o)) => {
                deleted.forget(&RunKey::of(o));
            }
            // A child's change is its parent's to count.
            Ok(watcher::Event::Apply(o)) => {
                for parent in o.owner_references().iter().filter(|r| r.kind == "JobReset") {
                    let r = ObjectRef::new(&parent.name).within(&o.namespace().unwrap_or_default());
                    let _ = parents.unbounded_send(r);
                }
            }
            _ => {}
        }
        // A run's change (or its deletion) is its schedule's to record.
        if let Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) = event {
            for owner in o
                .owner_references()
                .iter()
                .filter(|r| r.kind == "JobResetSchedule")
            {
                let r = ObjectRef::new(&owner.name).within(&o.namespace().unwrap_or_default());
                let _ = wake_schedule.unbounded_send(r);
            }
        }
    })
    .applied_objects()
    // After the cache and the parents' and schedules' wakes have seen the change.
    .filter(move |o| std::future::ready(!o.as_ref().is_ok_and(|o| echoes.is_echo(o))));
    let controller = Controller::for_stream(runs, store.clone())
        .with_config(ControllerConfig::default().concurrency(opts.concurrency))
        .graceful_shutdown_on(stop.clone());
    let (grants, grant_writer) = reflector::store::<JobResetGrant>();
    let grants_synced = Arc::new(AtomicBool::new(false));
    let grant_watch = watch_grants(
        scoped(&client, &opts.namespace),
        grant_writer,
        Arc::clone(&grants_synced),
        store.clone(),
        wake.clone(),
    );
    let schedules = schedule::run(
        scoped(&client, &opts.namespace),
        Arc::new(schedule::Context {
            client: client.clone(),
            runs: store.clone(),
            jobs: jobs.clone(),
            recorder: Arc::new(Recorder::new(client.clone(), reporter)),
            clock: Arc::clone(&opts.clock),
            field_manager: opts.field_manager.clone(),
            metrics: Arc::clone(&metrics),
            retries: schedule::Retries::new(opts.backoff_base, opts.backoff_cap),
        }),
        schedules_woken,
        stop.clone(),
    );
    let ctx = Arc::new(Context {
        client: client.clone(),
        store: store.clone(),
        jobs,
        grants,
        grants_synced,
        recorder,
        opts: opts.clone(),
        starts: starts::Starts::new(wake.clone()),
        wake,
        memory,
        metrics,
        gate,
        locks: ObjectLocks::default(),
        requeue,
        pace: pace::Pace::new(opts.kube_requests),
    });
    let finishing = finish::run(
        answers,
        stop,
        Arc::clone(&ctx),
        usize::from(opts.concurrency),
    );
    let template = opts.eck_url_template.clone();
    // Unused connections go with their credentials within a minute or two, also when no run
    // starts or ends to drop them.
    let pruning = {
        let ctx = Arc::clone(&ctx);
        async move {
            let mut every = tokio::time::interval(crate::es::memo::KEEP_FOR);
            loop {
                every.tick().await;
                ctx.memory.clients.prune();
            }
        }
    };
    info!(namespace = ?opts.namespace, concurrency = opts.concurrency, "controller starting");
    let reconciling = controller
        // Metadata only: the operator must not receive the data of Secrets it does not use.
        .watches(
            secrets,
            watcher::Config::default().any_semantic(),
            move |secret: PartialObjectMeta<Secret>| {
                let id = connect::SecretId {
                    namespace: secret.metadata.namespace.clone().unwrap_or_default(),
                    name: secret.metadata.name.clone().unwrap_or_default(),
                };
                let version = secret
                    .metadata
                    .resource_version
                    .as_deref()
                    .unwrap_or_default();
                let gone = secret.metadata.deletion_timestamp.is_some();
                kept_secrets.secrets.seen(&id, version, gone);
                referencing(&store, &secret.metadata, &template)
            },
        )
        .reconcile_on(futures::stream::select(woken, scheduler(requeued)))
        .run(reconcile, error_policy, ctx)
        .for_each(|res| {
            match res {
                Ok((obj, _)) => debug!(object = %obj, "reconciled"),
                Err(e) => warn!(error = %e, "controller"),
            }
            std::future::ready(())
        });
    // The grant watch only ends with the process; the controller decides when this returns.
    let both = async {
        tokio::join!(reconciling, schedules, finishing);
    };
    tokio::select! {
        () = both => {}
        () = grant_watch => {}
        () = stopped_before_sync => {}
        () = pruning => {}
    }
    Ok(())
}

/// An Api for all namespaces, or the one the operator is limited to.
fn scoped<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_are_production_ready() {
        let o = Options::default();
        assert_eq!(o.concurrency, 8);
        assert_eq!(o.field_manager, "jobreset-operator");
        assert_eq!(o.eck_url_template, "https://{service}.{namespace}.svc:9200");
        assert!(o.namespace.is_none());
        assert!(o.backoff_base < o.backoff_cap);
    }
}
