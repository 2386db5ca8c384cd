//! The lane of runs whose background call answered (a reset task ended, a close returned):
//! each is reconciled here at once, beside the controller's queue, so that a finished reset
//! is recorded within milliseconds even while new runs fill the controller's slots (and
//! never starves in its queue). The object's lock (`locks`) keeps this lane and the
//! controller off the same JobReset at the same time; what comes after (a requeue, a retry
//! after a failure) goes back to the controller. Does I/O (through `reconcile`).

use std::sync::Arc;

use futures::{Stream, StreamExt, channel::mpsc::UnboundedSender};
use kube::runtime::{reflector::ObjectRef, scheduler::ScheduleRequest};
use tokio::time::Instant;

use super::{
    memory::RunKey,
    reconcile::{Context, reconcile_timed, retry_after},
};
use crate::{api::JobReset, run::steps::Next};

/// Asks the controller to reconcile an object at a given time (the earliest of several wins).
pub type Requeue = UnboundedSender<ScheduleRequest<ObjectRef<JobReset>>>;

/// Finishes the runs named by `answered`, `limit` at a time, until the stream ends (a stop
/// ends it); returns once those under way are done.
pub async fn run(answered: impl Stream<Item = RunKey>, ctx: Arc<Context>, limit: usize) {
    answered
        .for_each_concurrent(limit.max(1), |key| finish(key, Arc::clone(&ctx)))
        .await;
}

async fn finish(key: RunKey, ctx: Arc<Context>) {
    let _held = ctx.locks.lock(&key.obj).await;
    // A reconcile that held the lock took the answer (the run went on there), or the object
    // was deleted or its run ended (and forgotten): nothing left to do here.
    if !ctx.memory.followers.answered(&key) {
        return;
    }
    let Some(obj) = ctx.store.get(&key.obj) else {
        return;
    };
    let next = match reconcile_timed(Arc::clone(&obj), &ctx).await {
        Ok(next) => next,
        Err(e) => Next::Requeue(retry_after(&obj, &e, &ctx)),
    };
    if let Next::Requeue(after) = next {
        let _ = ctx.requeue.unbounded_send(ScheduleRequest {
            message: key.obj,
            run_at: Instant::now() + after,
        });
    }
}
