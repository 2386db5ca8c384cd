//! Starting a bed: `launch` runs `boot` (PKI, etcd, apiserver, CRDs, front, simulator) on a
//! thread of its own with its own runtime, hands the `TestBed` back, then keeps that thread
//! serving until `stop`, restarting the apiserver when asked (the children's parent-death
//! signal is tied to that thread, so they are spawned there). Spawns processes, binds
//! sockets, writes the state directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::apiserver::{self, ControlPlane};
use crate::bed::{Options, Owned, TestBed};
use crate::binaries::{self, Flavor};
use crate::error::BedError;
use crate::es::{self, EsHandle};
use crate::front::inject::{Injector, RestartReply};
use crate::front::reqinfo::Recorder;
use crate::front::watches::WatchEnd;
use crate::front::{self, Ctx, core, forward::Upstream};
use crate::pki::Pki;
use crate::{crds, exit_cleanup, kubeconfig, tls};

static BED_COUNTER: AtomicU32 = AtomicU32::new(0);

/// What `boot` hands back; the ES handle and the keeper stay on the bed's thread.
struct Parts {
    bed: TestBed,
    es: Option<EsHandle>,
    keeper: Keeper,
}

/// What the bed's thread needs to restart the apiserver.
struct Keeper {
    plane: Arc<ControlPlane>,
    injector: Arc<Injector>,
    http: reqwest::Client,
    state_dir: PathBuf,
    exit_cleanup: u64,
}

impl Keeper {
    /// Serves restart requests until `stop` says so (or the `TestBed` is gone).
    async fn run(
        self,
        mut stop: oneshot::Receiver<()>,
        mut restarts: mpsc::Receiver<RestartReply>,
    ) {
        loop {
            tokio::select! {
                _ = &mut stop => return,
                Some(reply) = restarts.recv() => {
                    let _ = reply.send(self.restart().await);
                }
            }
        }
    }

    /// While the apiserver is down the front closes every API connection unanswered and
    /// its watches are aborted, as clients of a restarting apiserver would see it.
    async fn restart(&self) -> Result<u32, BedError> {
        let old = self.plane.apiserver_pid();
        self.injector.set_restarting(true);
        self.injector.watches.drop_matching(None, WatchEnd::Reset);
        let result = self.plane.restart_apiserver(&self.http).await;
        self.injector.set_restarting(false);
        let pid = self.plane.apiserver_pid();
        exit_cleanup::replace_pid(self.exit_cleanup, old, pid);
        // Written by `testbed serve`; `testbed down` reads it.
        let pid_file = self.state_dir.join("apiserver.pid");
        if pid_file.exists() {
            std::fs::write(&pid_file, format!("{pid}\n"))
                .map_err(|e| BedError::io("writing the apiserver pid", &pid_file, e))?;
        }
        tracing::info!(
            old,
            pid,
            ok = result.is_ok(),
            "test bed: apiserver restarted"
        );
        result
    }
}

/// Runs `boot` on a new thread with its own runtime; the answer goes to `tx`, then the thread
/// keeps the front and simulator running until `stop`.
pub(crate) fn launch(opts: Options, tx: std::sync::mpsc::SyncSender<Result<TestBed, BedError>>) {
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
                let (stop_tx, stop_rx) = oneshot::channel();
                let (restart_tx, restart_rx) = mpsc::channel(4);
                match boot(opts, stop_tx, restart_tx).await {
                    Ok(parts) => {
                        let _es = parts.es;
                        if tx.send(Ok(parts.bed)).is_ok() {
                            parts.keeper.run(stop_rx, restart_rx).await;
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

async fn boot(
    opts: Options,
    stop_tx: oneshot::Sender<()>,
    restart_tx: mpsc::Sender<RestartReply>,
) -> Result<Parts, BedError> {
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
    let plane = Arc::new(apiserver::start(&bins, &state_dir, &files, &http).await?);
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
    let injector = Arc::new(Injector::new(restart_tx));
    let ctx = Arc::new(Ctx {
        up: Upstream {
            http: http.clone(),
            base: plane.url.clone(),
        },
        recorder: recorder.clone(),
        translate,
        addr,
        injector: injector.clone(),
        namespaces: Default::default(),
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
        vec![plane.etcd.pid, plane.apiserver_pid()],
        owns_state_dir.then(|| state_dir.clone()),
    );
    let keeper = Keeper {
        plane: plane.clone(),
        injector: injector.clone(),
        http: http.clone(),
        state_dir: state_dir.clone(),
        exit_cleanup,
    };
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
                injector,
                http,
                plane,
                stop_tx: Mutex::new(Some(stop_tx)),
            }),
            stopped: AtomicBool::new(false),
        },
        es,
        keeper,
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
