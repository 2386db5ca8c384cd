//! `TestBed`: the whole bed (etcd, apiserver, CRDs, front, optional ES simulator) started on a
//! dedicated thread with its own runtime, so it outlives the runtime of the test that asked
//! for it. Spawns processes, binds sockets, writes the state directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;

use crate::apiserver::{self, ControlPlane};
use crate::binaries::{self, Flavor};
use crate::error::BedError;
use crate::es::{self, EsHandle, SimConfig};
use crate::front::reqinfo::{RecordedRequest, Recorder};
use crate::front::{self, Ctx, core, forward::Upstream};
use crate::pki::Pki;
use crate::{attach, crds, exit_cleanup, kubeconfig, tls};

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
    owns_state_dir: bool,
    exit_cleanup: u64,
    recorder: Arc<Recorder>,
    /// Reaches the apiserver itself (admin client certificate).
    http: reqwest::Client,
    plane: ControlPlane,
    stop_tx: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

/// What `boot` hands back; the ES handle stays on the bed's thread.
struct Parts {
    bed: TestBed,
    es: Option<EsHandle>,
}

static SHARED: OnceLock<Result<TestBed, BedError>> = OnceLock::new();
static BED_COUNTER: AtomicU32 = AtomicU32::new(0);

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
            .map(|o| (o.plane.etcd.pid, o.plane.apiserver.pid))
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

/// Runs `boot` on a new thread with its own runtime; the answer goes to `tx`, then the thread
/// keeps the front and simulator running until `stop`.
fn launch(opts: Options, tx: std::sync::mpsc::SyncSender<Result<TestBed, BedError>>) {
    let fail_tx = tx.clone();
    let spawned = std::thread::Builder::new()
        .name("testbed".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("testbed-rt")
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(BedError::Runtime(e.to_string())));
                    return;
                }
            };
            // Children are spawned from inside this block_on, i.e. on this thread: their
            // parent-death signal fires when this thread ends.
            rt.block_on(async move {
                let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
                match boot(opts, stop_tx).await {
                    Ok(parts) => {
                        let _es = parts.es;
                        if tx.send(Ok(parts.bed)).is_ok() {
                            let _ = stop_rx.await;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        });
    if let Err(e) = spawned {
        let _ = fail_tx.send(Err(BedError::Runtime(format!(
            "spawning the test bed thread: {e}"
        ))));
    }
}

fn temp_state_dir() -> Result<PathBuf, BedError> {
    let tmp = std::env::temp_dir();
    // Shared beds are never dropped: clear what dead processes left behind.
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(pid) = name
                .strip_prefix("testbed-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let n = BED_COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = tmp.join(format!("testbed-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(dir)
}

async fn boot(opts: Options, stop_tx: tokio::sync::oneshot::Sender<()>) -> Result<Parts, BedError> {
    let bins = binaries::locate()?;
    let (state_dir, owns_state_dir) = match opts.state_dir {
        Some(d) => (d, false),
        None => (temp_state_dir()?, true),
    };
    std::fs::create_dir_all(&state_dir)
        .map_err(|e| BedError::io("creating the state directory", &state_dir, e))?;
    // etcd refuses to start on another cluster's data.
    let _ = std::fs::remove_dir_all(state_dir.join("etcd"));
    let pki = Pki::generate()?;
    let files = pki.write(&state_dir)?;
    let http = tls::apiserver_http(&pki)?;
    let plane = apiserver::start(&bins, &state_dir, &files, &http).await?;
    let translate = bins.flavor == Flavor::ApiExtensions;
    if translate {
        crds::install(&http, &plane.url, &crds::builtin()?).await?;
        for ns in ["default", "kube-system", "kube-public"] {
            create_private_namespace(&http, &plane.url, ns).await?;
        }
    }
    crds::install(&http, &plane.url, &crds::load_dir(&opts.crds_dir)?).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BedError::io("binding the front", "127.0.0.1:0", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BedError::io("binding the front", "127.0.0.1:0", e))?;
    let recorder = Arc::new(Recorder::default());
    let ctx = Arc::new(Ctx {
        up: Upstream {
            http: http.clone(),
            base: plane.url.clone(),
        },
        recorder: recorder.clone(),
        translate,
        addr,
    });
    tokio::spawn(front::serve(listener, tls::server_config(&pki)?, ctx));
    let front_url = format!("https://127.0.0.1:{}", addr.port());
    let kubeconfig_path = state_dir.join("kubeconfig");
    kubeconfig::write(&kubeconfig_path, &front_url, &pki)?;
    let es = match opts.with_es {
        Some(cfg) => Some(es::start(cfg).await?),
        None => None,
    };
    wait_front(&http, &front_url).await?;
    let exit_cleanup = exit_cleanup::register(
        vec![plane.etcd.pid, plane.apiserver.pid],
        owns_state_dir.then(|| state_dir.clone()),
    );
    Ok(Parts {
        bed: TestBed {
            state_dir,
            kubeconfig: kubeconfig_path,
            front_url,
            es_url: es.as_ref().map(|e| e.url.clone()),
            ca_pem: pki.ca.cert_pem.clone(),
            owned: Some(Owned {
                exit_cleanup,
                owns_state_dir,
                recorder,
                http,
                plane,
                stop_tx: Mutex::new(Some(stop_tx)),
            }),
            stopped: AtomicBool::new(false),
        },
        es,
    })
}

async fn create_private_namespace(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> Result<(), BedError> {
    let body = json!({"apiVersion": format!("{}/v1", core::GROUP), "kind": "Namespace", "metadata": {"name": name}});
    let resp = http
        .post(format!("{base}/apis/{}/v1/corenamespaces", core::GROUP))
        .json(&body)
        .send()
        .await
        .map_err(|source| BedError::Http {
            context: format!("creating namespace {name}"),
            source,
        })?;
    let code = resp.status().as_u16();
    if code == 201 || code == 409 {
        return Ok(());
    }
    Err(BedError::Api {
        context: format!("creating namespace {name}"),
        status: code,
        body: resp.text().await.unwrap_or_default(),
    })
}

/// One discovery request through the front, as a client would make it.
async fn wait_front(http: &reqwest::Client, url: &str) -> Result<(), BedError> {
    let resp = http
        .get(format!("{url}/api"))
        .send()
        .await
        .map_err(|source| BedError::Http {
            context: "asking the front for /api".into(),
            source,
        })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(BedError::NotReady {
            what: "front".into(),
            detail: format!("/api answered {}", resp.status()),
        })
    }
}
