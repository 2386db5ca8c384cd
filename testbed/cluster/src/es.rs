//! The in-process Elasticsearch ML simulator a bed can carry (runs on the bed's runtime).

use crate::error::BedError;

pub use es_ml_sim::SimConfig;

pub struct EsHandle {
    pub url: String,
    _sim: es_ml_sim::Sim,
}

pub async fn start(cfg: SimConfig) -> Result<EsHandle, BedError> {
    let sim = es_ml_sim::start(cfg)
        .await
        .map_err(|e| BedError::Sim(e.to_string()))?;
    Ok(EsHandle {
        url: sim.url(),
        _sim: sim,
    })
}
