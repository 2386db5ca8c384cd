//! The JobResetSchedule controller: creates a JobReset at each slot of a cron schedule in a
//! time zone and keeps a bounded history. Runs beside the JobReset controller in the same
//! process, under the same Lease, and reads runs from its cache. Does I/O (the watch;
//! everything else through `reconcile`).

pub mod clock;
pub mod conditions;
pub mod decide;
pub mod reconcile;
pub mod redact;
pub mod retries;
pub mod slots;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt};
use kube::{
    Api,
    runtime::{Controller, reflector::ObjectRef, watcher},
};
use tracing::{debug, warn};

use crate::api::JobResetSchedule;
pub use clock::{Clock, ManualClock, SystemClock};
pub use reconcile::{Context, SCHEDULE_LABEL, SLOT_ANNOTATION, run_name};
pub use retries::Retries;

/// How often, at most, the metric series of deleted schedules are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Runs until `stop`; `woken` carries schedules whose runs changed.
pub async fn run(
    api: Api<JobResetSchedule>,
    ctx: Arc<Context>,
    woken: impl Stream<Item = ObjectRef<JobResetSchedule>> + Send + 'static,
    stop: impl Future<Output = ()> + Clone + Send + Sync + 'static,
) {
    // Runs are read from the JobReset cache: deciding before it is filled would miss them.
    let ready = ctx.runs.clone();
    tokio::select! {
        r = ready.wait_until_ready() => if r.is_err() { return },
        () = stop.clone() => return,
    }
    let mut controller = Controller::new(api, watcher::Config::default().any_semantic())
        .graceful_shutdown_on(stop)
        .reconcile_on(woken);
    if let Some(jumps) = ctx.clock.jumps() {
        controller = controller.reconcile_all_on(jumps);
    }
    let (store, metrics) = (controller.store(), ctx.metrics.clone());
    let mut swept = Instant::now();
    controller
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| {
            match res {
                Ok((obj, _)) => debug!(object = %obj, "schedule reconciled"),
                Err(e) => warn!(error = %e, "schedule controller"),
            }
            // No reconcile follows a delete: a later one sweeps the gone schedules' series,
            // once a minute at most (a sweep looks at every schedule's).
            if swept.elapsed() >= SWEEP_EVERY {
                swept = Instant::now();
                metrics.retain_schedules(|ns, name| {
                    store.get(&ObjectRef::new(name).within(ns)).is_some()
                });
            }
            std::future::ready(())
        })
        .await;
}
