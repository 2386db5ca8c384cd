//! `TestBed`: the handle on a whole bed (etcd, apiserver, CRDs, front, optional ES simulator)
//! that `boot` started on a dedicated thread with its own runtime, so it outlives the runtime
//! of the test that asked for it; or on one another process runs (`attach`). Stops processes,
//! does HTTP to the apiserver and removes the state directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::apiserver::ControlPlane;
use crate::boot::launch;
use crate::error::BedError;
use crate::es::SimConfig;
use crate::front::inject::Injector;
use crate::front::reqinfo::{RecordedRequest, Recorder};
use crate::{attach, crds, exit_cleanup, tls};

/// What to start.
pub struct Options {
    /// CRD manifests to install (every `CustomResourceDefinition` in `*.yaml|*.yml|*.json`);
    /// a missing or empty directory installs none.
    pub crds_dir: PathBuf,
    /// Where PKI, logs, etcd data and the kubeconfig go; `None`: a fresh temporary directory,
    /// removed on `stop`.
    pub state_dir: Option<PathBuf>,
    /// Also run an in-process Elasticsearch ML simulator.
    pub with_es: Option<SimConfig>,
}

/// A running test bed. Stopped by `stop`, on drop, and (through the children's parent-death
/// signal) when the process exits.
pub struct TestBed {
    pub(crate) state_dir: PathBuf,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) front_url: String,
    pub(crate) es_url: Option<String>,
    /// `None` when attached to a bed another process runs (`testbed up`).
    pub(crate) owned: Option<Owned>,
    /// PEM of the bed's CA (for reaching the front when attached).
    pub(crate) ca_pem: String,
    pub(crate) stopped: AtomicBool,
}

/// What a bed started by this process holds.
pub(crate) struct Owned {
    pub(crate) owns_state_dir: bool,
    pub(crate) exit_cleanup: u64,
    pub(crate) recorder: Arc<Recorder>,
    /// The front's fault rules, open watches and apiserver restarts.
    pub(crate) injector: Arc<Injector>,
    /// Reaches the apiserver itself (admin client certificate).
    pub(crate) http: reqwest::Client,
    pub(crate) plane: Arc<ControlPlane>,
    pub(crate) stop_tx: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

static SHARED: OnceLock<Result<TestBed, BedError>> = OnceLock::new();

impl TestBed {
    /// Starts a bed (on its own thread and runtime) and returns once everything answers.
    pub async fn start(opts: Options) -> Result<TestBed, BedError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        launch(opts, tx);
        match tokio::task::spawn_blocking(move || rx.recv()).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(BedError::Runtime(
                "the test bed thread ended without answering".into(),
            )),
            Err(e) => Err(BedError::Runtime(format!("waiting for the test bed: {e}"))),
        }
    }

    /// `start` for synchronous callers (e.g. a `OnceLock` in a test binary). Blocks.
    pub fn start_blocking(opts: Options) -> Result<TestBed, BedError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        launch(opts, tx);
        rx.recv().unwrap_or_else(|_| {
            Err(BedError::Runtime(
                "the test bed thread ended without answering".into(),
            ))
        })
    }

    /// Installs (server-side apply) the CRDs found in `dir` and waits until they are served.
    pub async fn install_crds(&self, dir: &Path) -> Result<(), BedError> {
        let crds = crds::load_dir(dir)?;
        match &self.owned {
            Some(o) => crds::install(&o.http, &o.plane.url, &crds).await,
            // Through the front, which forwards the apiextensions API.
            None => {
                let http = tls::ca_only_http(&self.ca_pem)?;
                crds::install(&http, &self.front_url, &crds).await
            }
        }
    }

    /// One per test binary: started on first use with the workspace's `crds/` directory and
    /// an ES ML simulator. Blocks while starting. With `TESTBED_STATE_DIR` set to the state
    /// directory of a running `testbed up`, attaches to that bed instead.
    pub fn shared() -> Result<&'static TestBed, BedError> {
        SHARED
            .get_or_init(|| {
                if let Some(dir) = std::env::var_os(attach::ENV).filter(|d| !d.is_empty()) {
                    return TestBed::attach(Path::new(&dir));
                }
                TestBed::start_blocking(Options {
                    crds_dir: workspace_crds_dir(),
                    state_dir: None,
                    with_es: Some(SimConfig::default()),
                })
            })
            .as_ref()
            .map_err(BedError::to_shared)
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// A new client from the kubeconfig on each call.
    pub async fn client(&self) -> Result<Client, BedError> {
        client_from(&self.kubeconfig).await
    }

    /// Creates a fresh namespace named `<prefix>-<random>` and returns its name.
    pub async fn namespace(&self, prefix: &str) -> Result<String, BedError> {
        let client = self.client().await?;
        let api: Api<Namespace> = Api::all(client);
        let ns = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-", dns_label_prefix(prefix))),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = api
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|source| BedError::Kube {
                context: format!("creating a namespace for {prefix}"),
                source,
            })?;
        created.metadata.name.ok_or_else(|| BedError::Api {
            context: "creating a namespace".into(),
            status: 201,
            body: "the created namespace has no name".into(),
        })
    }

    /// Every API request the front has seen so far.
    /// (Attached: fetched from the front's `/testbed/requests`; empty if that fails.)
    pub fn requests(&self) -> Vec<RecordedRequest> {
        match &self.owned {
            Some(o) => o.recorder.snapshot(),
            None => attach::fetch_requests(&self.front_url, &self.ca_pem),
        }
    }

    pub fn es_url(&self) -> Option<String> {
        self.es_url.clone()
    }

    /// Kills what the bed started (apiserver, etcd, front, simulator). Idempotent. An
    /// attached bed is left running (`testbed down` stops it).
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let Some(o) = &self.owned else {
            return;
        };
        if let Some(tx) = o.stop_tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(());
        }
        o.plane.stop();
        if o.owns_state_dir {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
        exit_cleanup::unregister(o.exit_cleanup);
    }

    /// Process ids of etcd and the apiserver (`None` when attached).
    pub fn child_pids(&self) -> Option<(u32, u32)> {
        self.owned
            .as_ref()
            .map(|o| (o.plane.etcd.pid, o.plane.apiserver_pid()))
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) async fn client_from(path: &Path) -> Result<Client, BedError> {
    let kc = Kubeconfig::read_from(path).map_err(|e| BedError::Manifest {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| BedError::Manifest {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    Client::try_from(cfg).map_err(|source| BedError::Kube {
        context: "building a client from the kubeconfig".into(),
        source,
    })
}

fn dns_label_prefix(prefix: &str) -> String {
    let mut s: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.truncate(40);
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "test".into() } else { s }
}

/// The workspace's `crds/` directory: from `CARGO_WORKSPACE_DIR`, `CARGO_MANIFEST_DIR` or the
/// current directory, walking up to the first ancestor holding `crds/`.
pub fn workspace_crds_dir() -> PathBuf {
    let starts = ["CARGO_WORKSPACE_DIR", "CARGO_MANIFEST_DIR"]
        .iter()
        .filter_map(|k| std::env::var_os(k).map(PathBuf::from))
        .chain(std::env::current_dir().ok());
    for start in starts {
        for dir in start.ancestors() {
            let candidate = dir.join("crds");
            if candidate.is_dir() {
                return candidate;
            }
        }
    }
    PathBuf::from("crds")
}
