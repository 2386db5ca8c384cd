//! The lane of runs whose background call answered (a reset task ended, a close returned):
//! each is reconciled here at once, beside the controller's queue, so that a finished reset
//! is recorded within milliseconds even while new runs fill the controller's slots (and
//! never starves in its queue). The object's lock (`locks`) keeps this lane and the
//! controller off the same JobReset at the same time; what comes after (a requeue, a retry
//! after a failure) goes back to the controller. Does I/O (through `reconcile`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures::{Stream, StreamExt, channel::mpsc::UnboundedSender};
use kube::{
    Api,
    runtime::{reflector::ObjectRef, scheduler::ScheduleRequest},
};
use tokio::{sync::Semaphore, time::Instant};
use tracing::warn;

use super::{
    memory::RunKey,
    reconcile::{Context, read_fresh, reconcile_timed, retry_after},
};
use crate::{api::JobReset, controller::error::Error, run::steps::Next};

/// Asks the controller to reconcile an object at a given time (the earliest of several wins).
pub type Requeue = UnboundedSender<ScheduleRequest<ObjectRef<JobReset>>>;

/// Finishes the runs named by `answered`, `limit` at a time, until `stop` resolves; returns
/// once those under way are done. After `stop`, none starts (a run left for whoever leads
/// next).
pub async fn run(
    answered: impl Stream<Item = RunKey>,
    stop: impl Future<Output = ()>,
    ctx: Arc<Context>,
    limit: usize,
) {
    let stopped = AtomicBool::new(false);
    let stop = async {
        stop.await;
        stopped.store(true, Ordering::SeqCst);
    };
    // Taken once the object's lock is held: a finish that waits for a reconcile of its
    // object (which may sit in a long Elasticsearch call) holds up no other finish.
    let slots = Semaphore::new(limit.max(1));
    answered
        .take_until(stop)
        .for_each_concurrent(None, |key| {
            super::pace::finishing(finish(key, &ctx, &stopped, &slots))
        })
        .await;
}

async fn finish(key: RunKey, ctx: &Arc<Context>, stopped: &AtomicBool, slots: &Semaphore) {
    let held = ctx.locks.lock(&key.obj).await;
    // A reconcile that held the lock took the answer (the run went on there), or the run
    // ended and was forgotten: nothing left to do here.
    if stopped.load(Ordering::SeqCst) || !ctx.memory.followers.answered(&key) {
        return;
    }
    let cached = ctx
        .store
        .get(&key.obj)
        .filter(|o| o.metadata.uid.as_deref() == Some(key.uid.as_str()));
    let obj = match cached {
        Some(obj) => obj,
        // The cache may lag behind a re-creation: the API server says whether the run is gone.
        None => match read(ctx, &key).await {
            Ok(Some(obj)) => Arc::new(obj),
            Ok(None) => {
                // Deleted (or re-created) before its call started: its delete found nothing
                // of this answer to forget.
                ctx.forget(&key);
                return;
            }
            Err(e) => {
                warn!(reason = e.reason(), error = %e, "cannot read a JobReset whose reset task answered");
                requeue(ctx, key.obj, ctx.opts.backoff_base);
                return;
            }
        },
    };
    // Never closed.
    let Ok(_slot) = slots.acquire().await else {
        return;
    };
    let next = match reconcile_timed(Arc::clone(&obj), ctx, &held).await {
        Ok(next) => next,
        Err(e) => Next::Requeue(retry_after(&obj, &e, ctx)),
    };
    if let Next::Requeue(after) = next {
        requeue(ctx, key.obj, after);
    }
}

fn requeue(ctx: &Context, obj: ObjectRef<JobReset>, after: Duration) {
    // Far enough for any TTL's wake (kube's scheduler clamps to about that anyway), and no
    // overflow of the instant.
    const LATEST: Duration = Duration::from_secs(180 * 24 * 3600);
    let _ = ctx.requeue.unbounded_send(ScheduleRequest {
        message: obj,
        run_at: Instant::now() + after.min(LATEST),
    });
}

/// The run's object as the API server has it; `None` once it is gone or is another object.
async fn read(ctx: &Context, key: &RunKey) -> Result<Option<JobReset>, Error> {
    let namespace = key.obj.namespace.as_deref().unwrap_or_default();
    let api: Api<JobReset> = Api::namespaced(ctx.client.clone(), namespace);
    let found = read_fresh(&api, namespace, &key.obj.name).await?;
    Ok(found.filter(|o| o.metadata.uid.as_deref() == Some(key.uid.as_str())))
}
