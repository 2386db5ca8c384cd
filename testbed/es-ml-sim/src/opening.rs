//! Opening a job and starting a datafeed as Elasticsearch does: both calls answer only once
//! the job is `opened` (the datafeed `started`), and until then `_stats` shows `opening`
//! (`starting`) to everyone else. How long that takes is set through the control API
//! (`open_duration`, `start_duration`; 0 by default). Uses tokio timers, no network I/O.

use std::sync::Arc;

use crate::engine::{Shared, lock};
use crate::errors::EsError;
use crate::state::DatafeedState;

impl Shared {
    /// `POST _ml/anomaly_detectors/<id>/_open`.
    pub async fn open_job(self: &Arc<Self>, id: &str) -> Result<(), EsError> {
        let wait = lock(&self.durations).open;
        let now = self.now();
        self.state().open_job(id, now, !wait.is_zero())?;
        self.bump();
        if wait.is_zero() {
            return Ok(());
        }
        tokio::time::sleep(wait).await;
        self.state().finish_open(id);
        self.bump();
        Ok(())
    }

    /// `POST _ml/datafeeds/<id>/_start`: `starting` for the configured time, then started.
    pub async fn start_datafeed_waiting(
        self: &Arc<Self>,
        id: &str,
        has_end: bool,
    ) -> Result<(), EsError> {
        let wait = lock(&self.durations).start;
        if wait.is_zero() {
            return self.start_datafeed(id, has_end);
        }
        self.state().start_datafeed(id, true)?;
        self.bump();
        tokio::time::sleep(wait).await;
        // Stopped (a close, a stop) while starting: nothing left to start.
        let starting = self
            .state()
            .datafeeds
            .get(id)
            .is_some_and(|d| d.state == DatafeedState::Starting);
        if !starting {
            return Ok(());
        }
        self.start_datafeed(id, has_end)
    }
}
