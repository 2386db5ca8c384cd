//! The library API (`start`, `Sim`, `Control`) and the same operations as JSON routes under
//! `/_sim/`. Starting binds a socket; the rest only touches shared state.
//!
//! `actions` sets up jobs and injects faults, `readings` reads state back for tests, `routes`
//! serves the same under `/_sim/`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Method;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::{Seed, SimConfig, SimError};
use crate::endpoint::Endpoint;
use crate::engine::{Durations, LoggedRequest, RequestLog, Shared, lock, random_node_id};
use crate::errors::EsError;
use crate::errors::string_error;
use crate::faults::{Fault, Faults};
use crate::state::{Blocked, JobState, Signal, State, default_job_body};
use crate::versions::Version;

mod actions;
mod readings;
mod routes;

pub use routes::handle_http;

/// What tests see of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub state: String,
    pub blocked_reason: Option<String>,
    pub blocked_task_id: Option<String>,
    pub model_snapshot_id: Option<String>,
    pub processed_record_count: u64,
    pub latest_record_timestamp: Option<i64>,
    pub user_annotations: usize,
    pub auto_annotations: usize,
}

impl JobView {
    pub fn to_json(&self) -> Value {
        json!({
            "state": self.state,
            "blocked_reason": self.blocked_reason,
            "blocked_task_id": self.blocked_task_id,
            "model_snapshot_id": self.model_snapshot_id,
            "processed_record_count": self.processed_record_count,
            "latest_record_timestamp": self.latest_record_timestamp,
            "user_annotations": self.user_annotations,
            "auto_annotations": self.auto_annotations,
        })
    }
}

/// Handle on a running simulator's state and faults. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

struct Listening {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A running simulator.
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    listening: tokio::sync::Mutex<Option<Listening>>,
}

fn valid_node_id(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// Start a simulator: bind, serve, return the handle.
pub async fn start(cfg: SimConfig) -> Result<Sim, SimError> {
    let version =
        Version::parse(&cfg.version).ok_or_else(|| SimError::Version(cfg.version.clone()))?;
    let node_id = match cfg.node_id {
        Some(n) if valid_node_id(&n) => n,
        Some(n) => return Err(SimError::NodeId(n)),
        None => random_node_id(),
    };
    let tls = match &cfg.tls {
        Some(pem) => Some(crate::tls::acceptor(pem)?),
        None => None,
    };
    let (changes, _) = watch::channel(0u64);
    let cluster_uuid = random_node_id();
    let shared = Arc::new(Shared {
        state: Mutex::new(State::new(version, node_id)),
        changes,
        faults: Mutex::new(Faults::default()),
        log: Mutex::new(RequestLog::default()),
        durations: Mutex::new(Durations {
            reset: cfg.reset_duration,
            reset_per_job: HashMap::new(),
            close: Duration::ZERO,
            open: Duration::ZERO,
            start: Duration::ZERO,
        }),
        rt: tokio::runtime::Handle::current(),
        base: Instant::now(),
        version,
        security: cfg.security,
        enable_control: cfg.enable_control,
        cluster_uuid,
    });
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: cfg.listen,
        source,
    })?;
    let sim = Sim {
        shared,
        addr,
        tls,
        listening: tokio::sync::Mutex::new(None),
    };
    sim.spawn_listener(listener).await;
    Ok(sim)
}

impl Sim {
    async fn spawn_listener(&self, listener: TcpListener) {
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(crate::http::serve(
            self.shared.clone(),
            listener,
            self.tls.clone(),
            rx,
        ));
        *self.listening.lock().await = Some(Listening { stop, task });
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.addr.port())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn node_id(&self) -> String {
        self.shared.state().node_id.clone()
    }

    pub fn control(&self) -> Control {
        Control {
            shared: self.shared.clone(),
        }
    }

    /// Elasticsearch "down": close the listener and every open connection; keep all state.
    pub async fn stop_listening(&self) {
        if let Some(l) = self.listening.lock().await.take() {
            let _ = l.stop.send(true);
            let _ = l.task.await;
        }
    }

    /// Listen again on the same port.
    pub async fn resume_listening(&self) -> Result<(), SimError> {
        if self.listening.lock().await.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| SimError::Bind {
                addr: self.addr,
                source,
            })?;
        self.spawn_listener(listener).await;
        Ok(())
    }

    pub async fn shutdown(self) {
        self.stop_listening().await;
        let mut st = self.shared.state();
        for df in st.datafeeds.values_mut() {
            df.state = crate::state::DatafeedState::Stopped;
        }
    }
}
