//! The Deployment (and ReplicaSet) controller, on its own thread: every Deployment's pods are
//! compared with its template and strategy (`rollout::decide`), pods are created (a name, a
//! port map, a kubelet thread) and terminated. I/O: binds ports and starts threads.

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::error::PodError;
use super::kubelet;
use super::pod_plan::{HostEnv, PodPlan};
use super::ports;
use super::rollout;
use super::spec::{DeploymentPlan, random_suffix};
use super::state::{ContainerView, Inner, PodCmd, PodEntry, PodEvent, Shared};

/// How often the controller looks again without being woken (availability after
/// `minReadySeconds` changes with time alone).
const RESYNC: Duration = Duration::from_millis(50);
/// After a failure to create a pod, the controller waits this long before trying again.
const FAILURE_BACKOFF: Duration = Duration::from_millis(500);

/// What the controller needs besides the shared state.
pub(crate) struct Config {
    pub kubeconfig: std::path::PathBuf,
    pub extra_env: Vec<(String, String)>,
    pub log_dir: std::path::PathBuf,
    pub restart_backoff: Duration,
}

/// A pod whose entry exists and whose thread is to be started.
struct NewPod {
    plan: Arc<PodPlan>,
    cmds: mpsc::Receiver<PodCmd>,
}

pub(crate) fn spawn(
    shared: Arc<Shared>,
    cfg: Config,
) -> Result<std::thread::JoinHandle<()>, PodError> {
    std::thread::Builder::new()
        .name("pods-controller".into())
        .spawn(move || run(&shared, &cfg))
        .map_err(|source| PodError::Thread {
            name: "pods-controller".into(),
            source,
        })
}

fn run(shared: &Arc<Shared>, cfg: &Config) {
    let mut guard = shared.lock();
    loop {
        if guard.stopping {
            return;
        }
        let (terminate, created, failed) = sync(&mut guard, cfg);
        drop(guard);
        if !terminate.is_empty() || !created.is_empty() || failed {
            shared.notify();
        }
        for cmd in terminate {
            let _ = cmd.send(PodCmd::Terminate);
        }
        let mut failed = failed;
        for pod in created {
            failed |= start_thread(shared, cfg, pod);
        }
        guard = shared.lock();
        let wait = if failed { FAILURE_BACKOFF } else { RESYNC };
        let deadline = Instant::now() + wait;
        // Wait for a change (or the resync period); on failure, the whole back-off.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || guard.stopping {
                break;
            }
            let (g, timeout) = shared
                .wake
                .wait_timeout(guard, left)
                .unwrap_or_else(|p| p.into_inner());
            guard = g;
            if !failed || timeout.timed_out() {
                break;
            }
        }
    }
}

/// Starts a pod's kubelet thread; `true` if that failed (the pod is then forgotten).
fn start_thread(shared: &Arc<Shared>, cfg: &Config, pod: NewPod) -> bool {
    let name = pod.plan.name.clone();
    let plan = pod.plan.clone();
    let s = shared.clone();
    let backoff = cfg.restart_backoff;
    let spawned = std::thread::Builder::new()
        .name(format!("pod-{name}"))
        .spawn(move || kubelet::run(plan, s, pod.cmds, backoff));
    match spawned {
        Ok(handle) => {
            shared
                .threads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(handle);
            false
        }
        Err(e) => {
            shared.update(|s| {
                s.record(PodEvent::Error {
                    context: format!("starting the thread of pod {name}: {e}"),
                });
                if let Some(p) = s.pod_mut(&name) {
                    // No thread will ever report it: drop it at once.
                    p.terminating = true;
                }
                s.remove(&name);
            });
            true
        }
    }
}

type Synced = (Vec<mpsc::Sender<PodCmd>>, Vec<NewPod>, bool);

/// One pass over every Deployment, under the lock: pods to terminate are marked so at once
/// (they stop counting as Ready in the same critical section), new pods get their entries.
fn sync(s: &mut Inner, cfg: &Config) -> Synced {
    let now = Instant::now();
    let mut terminate = Vec::new();
    let mut created = Vec::new();
    let mut failed = false;
    let plans: Vec<Arc<DeploymentPlan>> = s.deployments.iter().map(|d| d.plan.clone()).collect();
    for dep in plans {
        let pods = s.summaries(&dep, now);
        let decision = rollout::decide(dep.strategy, dep.replicas, &pods);
        for name in &decision.terminate {
            terminate.extend(s.mark_terminating(name));
        }
        for _ in 0..decision.create {
            match create(s, cfg, &dep) {
                Ok(p) => created.push(p),
                Err(e) => {
                    s.record(PodEvent::Error {
                        context: format!("creating a pod of {}: {e}", dep.key()),
                    });
                    failed = true;
                    break;
                }
            }
        }
        let pods = s.summaries(&dep, now);
        if rollout::complete(dep.replicas, &pods)
            && let Some(d) = s
                .deployments
                .iter_mut()
                .find(|d| Arc::ptr_eq(&d.plan, &dep))
            && d.completed.as_deref() != Some(dep.hash.as_str())
        {
            d.completed = Some(dep.hash.clone());
            s.record(PodEvent::RolloutComplete {
                deployment: dep.name.clone(),
                template_hash: dep.hash.clone(),
            });
        }
    }
    (terminate, created, failed)
}

fn create(s: &mut Inner, cfg: &Config, dep: &DeploymentPlan) -> Result<NewPod, PodError> {
    let name = loop {
        let n = format!("{}-{}-{}", dep.name, dep.hash, random_suffix(5));
        if !s.logs.contains_key(&n) {
            break n;
        }
    };
    let container_ports: Vec<u16> = dep
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().copied())
        .collect();
    let port_map = ports::allocate(&name, &container_ports, &mut s.ports_taken)?;
    let host = HostEnv {
        kubeconfig: &cfg.kubeconfig,
        extra: &cfg.extra_env,
        log_dir: &cfg.log_dir,
    };
    let plan = Arc::new(PodPlan::new(dep, name.clone(), port_map, &host));
    let (tx, rx) = mpsc::channel();
    s.logs.insert(
        name.clone(),
        plan.containers
            .iter()
            .map(|c| (c.name.clone(), c.log.clone()))
            .collect(),
    );
    s.pods.push(PodEntry {
        plan: plan.clone(),
        created: Instant::now(),
        containers: plan
            .containers
            .iter()
            .map(|c| ContainerView {
                name: c.name.clone(),
                image: c.image.clone(),
                running: false,
                pid: None,
                started: false,
                ready: false,
                restart_count: 0,
                last_exit: None,
                log: c.log.clone(),
            })
            .collect(),
        ready: false,
        ready_since: None,
        terminating: false,
        min_ready: dep.min_ready,
        cmd: tx,
    });
    s.record(PodEvent::PodCreated {
        pod: name,
        deployment: dep.name.clone(),
        template_hash: dep.hash.clone(),
    });
    Ok(NewPod { plan, cmds: rx })
}
