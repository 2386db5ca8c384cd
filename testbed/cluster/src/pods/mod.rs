//! The pod runner: runs the Deployments of rendered manifests as local processes, as a
//! kubelet plus the Deployment controller would (no scheduler, no Services, no volumes). Each
//! replica is a pod, each container a process with the container's argv and env, probed over
//! loopback, restarted when it exits or fails its liveness probe, rolled by
//! `rollout_restart` within `maxSurge`/`maxUnavailable`. Every `containerPort` is remapped to a
//! free loopback port (pods share the host network), the one deliberate difference from a
//! kubelet. This module holds the handle (`PodRunner`); it starts threads and processes (via
//! `controller` and `kubelet`) and talks to the bed to create Namespaces.

mod container;
mod controller;
mod env;
mod error;
mod handle;
mod kubelet;
mod manifest;
mod pod_plan;
mod ports;
mod probe;
mod prober;
mod rollout;
mod spec;
#[cfg(test)]
mod spec_tests;
mod state;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;

use crate::bed::TestBed;
pub use container::ContainerExit;
pub use error::PodError;
pub use manifest::{Manifests, parse_manifests, render_kustomize};
pub use probe::ProbeKind;
use spec::DeploymentPlan;
pub use state::{ContainerView, PodEvent, PodView, TimelineEntry};
use state::{DeploymentEntry, Inner, PodCmd, Shared};

/// The pause before a container that exited (or was killed) is started again. Fixed, where
/// a kubelet backs off exponentially (10 s doubling up to 5 min) after the first restart.
pub const DEFAULT_RESTART_BACKOFF: Duration = Duration::from_secs(1);

/// What `PodRunner::start` runs.
#[derive(Clone, Debug)]
pub struct RunnerOptions {
    /// Multi-document YAML, e.g. from `render_kustomize`.
    pub manifests: String,
    /// Image (exactly as in the manifests, e.g. `jobreset-operator:0.1.0`) -> local binary,
    /// run as the image's entrypoint.
    pub images: HashMap<String, PathBuf>,
    /// Added to every container's environment last (they win over the manifest's `env`).
    pub extra_env: Vec<(String, String)>,
    /// Where the containers' logs go (`<pod>_<container>.log`); empty: a new directory under
    /// the system's temporary directory, removed when the runner is dropped (kept if that
    /// happens while panicking, e.g. in a failing test, for reading afterwards).
    pub log_dir: PathBuf,
    /// Moves every namespaced object into this namespace (see `Manifests::set_namespace`).
    pub namespace: Option<String>,
    /// See `DEFAULT_RESTART_BACKOFF`.
    pub restart_backoff: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            manifests: String::new(),
            images: HashMap::new(),
            extra_env: Vec::new(),
            log_dir: PathBuf::new(),
            namespace: None,
            restart_backoff: DEFAULT_RESTART_BACKOFF,
        }
    }
}

/// Running Deployments. Stopped (every pod terminated gracefully) by `stop` and on drop;
/// processes also die with the process that runs this (parent-death signal).
pub struct PodRunner {
    shared: Arc<Shared>,
    manifests: Manifests,
    log_dir: PathBuf,
    /// The log directory was made by `start` (removed on drop).
    own_log_dir: bool,
    controller: Mutex<Option<JoinHandle<()>>>,
    stopped: AtomicBool,
}

impl PodRunner {
    /// Parses and validates the manifests (every image mapped, only supported features),
    /// creates their Namespaces in the bed (an existing one is fine), checks every
    /// Deployment's namespace exists, and starts the Deployments' pods. Returns without
    /// waiting for them (see `wait_ready`).
    pub async fn start(bed: &TestBed, opts: RunnerOptions) -> Result<PodRunner, PodError> {
        let mut manifests = parse_manifests(&opts.manifests)?;
        if let Some(ns) = &opts.namespace {
            manifests.set_namespace(ns);
        }
        let mut plans: Vec<DeploymentPlan> = Vec::new();
        for d in &manifests.deployments {
            let plan = DeploymentPlan::new(d, &opts.images)?;
            if plans.iter().any(|p| p.key() == plan.key()) {
                return Err(PodError::Invalid {
                    object: manifest::describe_deployment(d),
                    detail: "given twice".into(),
                });
            }
            plans.push(plan);
        }
        let client = bed.client().await.map_err(|source| PodError::Bed {
            context: "a client for the test bed".into(),
            source,
        })?;
        let api: Api<Namespace> = Api::all(client);
        for ns in &manifests.namespaces {
            let name = ns.metadata.name.clone().unwrap_or_default();
            match api.create(&PostParams::default(), ns).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(source) => {
                    return Err(PodError::Kube {
                        context: format!("creating namespace {name}"),
                        source,
                    });
                }
            }
        }
        for p in &plans {
            if let Err(source) = api.get(&p.namespace).await {
                let detail = match &source {
                    kube::Error::Api(s) if s.code == 404 => {
                        format!("namespace {} not found", p.namespace)
                    }
                    _ => format!("reading namespace {}: {source}", p.namespace),
                };
                return Err(PodError::Invalid {
                    object: format!("Deployment {}", p.key()),
                    detail,
                });
            }
        }
        let own_log_dir = opts.log_dir.as_os_str().is_empty();
        let log_dir = if own_log_dir {
            static N: AtomicU32 = AtomicU32::new(0);
            std::env::temp_dir().join(format!(
                "testbed-pods-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ))
        } else {
            opts.log_dir.clone()
        };
        std::fs::create_dir_all(&log_dir)
            .map_err(|e| PodError::io("creating the log directory", &log_dir, e))?;
        let inner = Inner {
            deployments: plans
                .into_iter()
                .map(|p| DeploymentEntry {
                    plan: Arc::new(p),
                    completed: None,
                })
                .collect(),
            ..Default::default()
        };
        let shared = Arc::new(Shared::new(inner));
        let controller = controller::spawn(
            shared.clone(),
            controller::Config {
                kubeconfig: bed.kubeconfig_path().to_path_buf(),
                extra_env: opts.extra_env,
                log_dir: log_dir.clone(),
                restart_backoff: opts.restart_backoff,
            },
        )?;
        Ok(PodRunner {
            shared,
            manifests,
            log_dir,
            own_log_dir,
            controller: Mutex::new(Some(controller)),
            stopped: AtomicBool::new(false),
        })
    }

    /// The parsed manifests (after the namespace override), other kinds included.
    pub fn manifests(&self) -> &Manifests {
        &self.manifests
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Terminates every pod gracefully (in parallel) and waits for them; no pod is created
    /// any more. Idempotent; also run on drop. Blocks (up to the longest grace period).
    pub fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let cmds = self.shared.update(|s| {
            s.stopping = true;
            let names: Vec<String> = s.pods.iter().map(|p| p.plan.name.clone()).collect();
            let mut cmds: Vec<_> = names.iter().filter_map(|n| s.mark_terminating(n)).collect();
            // Already terminating: tell them again (harmless) so none is missed.
            cmds.extend(s.pods.iter().map(|p| p.cmd.clone()));
            cmds
        });
        for cmd in cmds {
            let _ = cmd.send(PodCmd::Terminate);
        }
        let controller = self
            .controller
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(c) = controller {
            let _ = c.join();
        }
        // The controller is gone: no thread is added any more. A pod created just before
        // `stopping` was set has its entry, so it was told to terminate above.
        for cmd in self.shared.lock().pods.iter().map(|p| p.cmd.clone()) {
            let _ = cmd.send(PodCmd::Terminate);
        }
        let threads = std::mem::take(
            &mut *self
                .shared
                .threads
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for PodRunner {
    fn drop(&mut self) {
        self.stop();
        if self.own_log_dir && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        }
    }
}

fn known_pods(s: &Inner) -> String {
    let names: Vec<&str> = s.pods.iter().map(|p| p.plan.name.as_str()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// A Deployment by `name` or `namespace/name`.
fn find_deployment(s: &Inner, wanted: &str) -> Result<usize, PodError> {
    let matches: Vec<usize> = s
        .deployments
        .iter()
        .enumerate()
        .filter(|(_, d)| match wanted.split_once('/') {
            Some((ns, name)) => d.plan.namespace == ns && d.plan.name == name,
            None => d.plan.name == wanted,
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [i] => Ok(*i),
        [] => Err(PodError::NoSuchDeployment {
            deployment: wanted.into(),
            known: s
                .deployments
                .iter()
                .map(|d| d.plan.key())
                .collect::<Vec<_>>()
                .join(", "),
        }),
        _ => Err(PodError::AmbiguousDeployment {
            deployment: wanted.into(),
            namespaces: matches
                .iter()
                .map(|i| s.deployments[*i].plan.namespace.clone())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
