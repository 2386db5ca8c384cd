//! Records a run's status (server-side apply, conditional on the resourceVersion the
//! decision was made from) and the transition's Event, for `steps::drive`. Does I/O (one
//! PATCH per status change, one Event create).
//!
//! Every write carries the resourceVersion of the object last read or written, so a write
//! from a decision made on an object someone else has moved since (another replica, a
//! deleted and re-created JobReset of the same name) fails with 409 and the run is read and
//! decided again. A task id whose write failed is kept in memory for the object (by uid)
//! and written by the next reconcile. Writes and Events take their turn through `pace`.

use kube::{Api, ResourceExt};
use tracing::info;

use super::{events, memory::RunKey, pace, reconcile::Context};
use crate::{
    api::{JobReset, JobResetStatus},
    controller::error::Error,
    k8s::status,
    run::steps::Sink,
};

pub struct KubeSink<'a> {
    api: &'a Api<JobReset>,
    obj: &'a JobReset,
    ctx: &'a Context,
    key: RunKey,
    /// The resourceVersion the next write is conditional on.
    version: String,
}

impl<'a> KubeSink<'a> {
    pub fn new(api: &'a Api<JobReset>, obj: &'a JobReset, ctx: &'a Context, key: RunKey) -> Self {
        let version = obj.resource_version().unwrap_or_default();
        KubeSink {
            api,
            obj,
            ctx,
            key,
            version,
        }
    }
}

impl Sink for KubeSink<'_> {
    type Error = Error;

    async fn record(&mut self, old: &JobResetStatus, new: &JobResetStatus) -> Result<(), Error> {
        let name = self.obj.name_any();
        let namespace = self.obj.namespace().unwrap_or_default();
        // Before the write: its watch event can arrive before its answer. A terminal
        // status's echo is what schedules its TTL, and the run is forgotten right after.
        if !new.phase.is_terminal() {
            self.ctx.memory.writing(&self.key, new);
        }
        // A run whose reset was sent goes ahead of runs still starting: its end (and its
        // finishing lane, waiting for its lock) must not queue behind them.
        let first = pace::is_finishing() || old.task_id.is_some() || new.task_id.is_some();
        let written = self
            .ctx
            .pace
            .run(
                first,
                status::apply(
                    self.api,
                    &name,
                    &self.ctx.opts.field_manager,
                    new,
                    &self.version,
                ),
            )
            .await;
        let new_task = new
            .task_id
            .as_ref()
            .filter(|_| old.task_id.is_none() && !new.adopted);
        match written {
            Ok(obj) => {
                self.ctx.memory.wrote(&self.key, &self.version, &obj);
                self.version = obj.resource_version().unwrap_or_default();
                if new_task.is_some() {
                    self.ctx.memory.task_written(&self.key);
                }
            }
            Err(source) => {
                self.ctx.memory.write_unknown(&self.key);
                if let Some(task) = new_task {
                    // Never lost: the next reconcile writes it (and follows it meanwhile).
                    self.ctx.memory.task_unwritten(&self.key, task);
                }
                return Err(Error::status_write(&namespace, &name, source));
            }
        }
        info!(
            namespace = %namespace,
            name = %name,
            job = %self.obj.spec.job_id,
            phase = new.phase.as_str(),
            reason = new.reason.as_deref().unwrap_or(""),
            task = new.task_id.as_deref().unwrap_or(""),
            detail = new.message.as_deref().unwrap_or(""),
            "status"
        );
        if new.phase.is_terminal() && !old.phase.is_terminal() {
            let reason = new.reason.as_deref().unwrap_or("");
            self.ctx.metrics.run_finished(new.phase.as_str(), reason);
        }
        if let Some((reason, note)) = events::for_transition(old, new) {
            let publish = events::publish(&self.ctx.recorder, self.obj, reason, note);
            self.ctx.pace.run(first, publish).await;
        }
        Ok(())
    }

    fn request_intended(&mut self, attempt: u32) {
        self.ctx.memory.request_intended(&self.key, attempt);
    }

    fn request_sent(&mut self, attempt: u32) {
        self.ctx.memory.request_sent(&self.key, attempt);
    }
}
