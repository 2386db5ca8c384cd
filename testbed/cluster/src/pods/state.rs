//! The runner's shared state (pods, their published status, the Deployments, the timeline)
//! behind one mutex, and the public views of it. No I/O.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use super::container::ContainerExit;
use super::pod_plan::PodPlan;
use super::probe::ProbeKind;
use super::rollout::PodSummary;
use super::spec::DeploymentPlan;

/// Something that happened to a pod or Deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodEvent {
    /// The Deployment controller created a pod.
    PodCreated {
        pod: String,
        deployment: String,
        template_hash: String,
    },
    /// A container's process started (`restart_count` 0 the first time).
    ContainerStarted {
        pod: String,
        container: String,
        pid: u32,
        restart_count: u32,
    },
    /// A container's process could not be started (retried after the back-off).
    ContainerFailed {
        pod: String,
        container: String,
        error: String,
    },
    /// A container's process ended (on its own, by a signal, or killed by the runner).
    ContainerExited {
        pod: String,
        container: String,
        pid: u32,
        exit: ContainerExit,
    },
    /// A container is started again in the same pod (recorded just before its
    /// `ContainerStarted`).
    Restarted {
        pod: String,
        container: String,
        restart_count: u32,
    },
    Ready {
        pod: String,
    },
    NotReady {
        pod: String,
    },
    /// One probe attempt failed.
    ProbeFailed {
        pod: String,
        container: String,
        probe: ProbeKind,
        detail: String,
    },
    /// A liveness (or startup) probe failed `failureThreshold` times in a row: the container
    /// is being killed, to be restarted.
    ProbeKill {
        pod: String,
        container: String,
        probe: ProbeKind,
    },
    /// The pod is being deleted (graceful termination started).
    Terminating {
        pod: String,
    },
    /// Every container of a deleted pod has exited.
    PodDeleted {
        pod: String,
    },
    /// A new template (`rollout_restart`).
    RolloutStarted {
        deployment: String,
        template_hash: String,
    },
    /// `replicas` available pods of the template, no other pod left.
    RolloutComplete {
        deployment: String,
        template_hash: String,
    },
    /// Something the runner could not do (it retries).
    Error {
        context: String,
    },
}

/// A timeline entry: monotonic time for measuring, wall time for matching logs.
#[derive(Clone, Debug)]
pub struct TimelineEntry {
    pub at: Instant,
    pub wall: SystemTime,
    pub event: PodEvent,
}

/// One container's status, as the pod's kubelet thread last published it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub running: bool,
    /// Its process, while running.
    pub pid: Option<u32>,
    /// The startup probe passed (true without one, once running).
    pub started: bool,
    pub ready: bool,
    pub restart_count: u32,
    pub last_exit: Option<ContainerExit>,
    pub log: PathBuf,
}

/// A pod, as `PodRunner::pods` shows it.
#[derive(Clone, Debug)]
pub struct PodView {
    pub name: String,
    pub namespace: String,
    pub deployment: String,
    pub template_hash: String,
    pub uid: String,
    /// Every container running and ready, and the pod not terminating.
    pub ready: bool,
    /// Ready for the Deployment's `minReadySeconds`.
    pub available: bool,
    /// Every container running.
    pub running: bool,
    pub terminating: bool,
    /// Sum of the containers' restart counts.
    pub restarts: u32,
    /// The first container's process, while running.
    pub pid: Option<u32>,
    /// containerPort -> the loopback port it was remapped to.
    pub ports: BTreeMap<u16, u16>,
    pub containers: Vec<ContainerView>,
    pub created: Instant,
}

/// A request to a pod's kubelet thread.
pub(crate) enum PodCmd {
    Terminate,
    Signal {
        container: usize,
        signal: i32,
        reply: mpsc::Sender<SignalReply>,
    },
}

/// What a pod thread answers to `PodCmd::Signal`.
pub(crate) enum SignalReply {
    Sent(u32),
    NotRunning,
    NoContainer,
    Failed(u32, std::io::Error),
}

pub(crate) struct PodEntry {
    pub plan: Arc<PodPlan>,
    pub created: Instant,
    pub containers: Vec<ContainerView>,
    pub ready: bool,
    pub ready_since: Option<Instant>,
    pub terminating: bool,
    pub min_ready: std::time::Duration,
    pub cmd: mpsc::Sender<PodCmd>,
}

impl PodEntry {
    pub fn available(&self, now: Instant) -> bool {
        self.ready
            && self
                .ready_since
                .is_some_and(|s| now.saturating_duration_since(s) >= self.min_ready)
    }

    pub fn view(&self, now: Instant) -> PodView {
        let p = &self.plan;
        PodView {
            name: p.name.clone(),
            namespace: p.namespace.clone(),
            deployment: p.deployment.clone(),
            template_hash: p.hash.clone(),
            uid: p.uid.clone(),
            ready: self.ready,
            available: self.available(now),
            running: self.containers.iter().all(|c| c.running),
            terminating: self.terminating,
            restarts: self.containers.iter().map(|c| c.restart_count).sum(),
            pid: self.containers.first().and_then(|c| c.pid),
            ports: p.ports.clone(),
            containers: self.containers.clone(),
            created: self.created,
        }
    }
}

pub(crate) struct DeploymentEntry {
    pub plan: Arc<DeploymentPlan>,
    /// The template hash of the last rollout seen complete.
    pub completed: Option<String>,
}

#[derive(Default)]
pub(crate) struct Inner {
    /// Live pods (until every container has exited), oldest first.
    pub pods: Vec<PodEntry>,
    /// Every pod ever: its containers' log files.
    pub logs: BTreeMap<String, Vec<(String, PathBuf)>>,
    pub timeline: Vec<TimelineEntry>,
    pub deployments: Vec<DeploymentEntry>,
    pub ports_taken: HashSet<u16>,
    pub stopping: bool,
}

impl Inner {
    pub fn record(&mut self, event: PodEvent) {
        self.timeline.push(TimelineEntry {
            at: Instant::now(),
            wall: SystemTime::now(),
            event,
        });
    }

    pub fn pod_mut(&mut self, name: &str) -> Option<&mut PodEntry> {
        self.pods.iter_mut().find(|p| p.plan.name == name)
    }

    /// Publishes a pod's container statuses and recomputes its readiness.
    pub fn set_containers(&mut self, name: &str, containers: Vec<ContainerView>) {
        let Some(p) = self.pod_mut(name) else {
            return;
        };
        let ready = !p.terminating && containers.iter().all(|c| c.running && c.ready);
        p.containers = containers;
        self.set_ready(name, ready);
    }

    fn set_ready(&mut self, name: &str, ready: bool) {
        let Some(p) = self.pod_mut(name) else {
            return;
        };
        if p.ready == ready {
            return;
        }
        p.ready = ready;
        p.ready_since = ready.then(Instant::now);
        let pod = name.to_string();
        self.record(if ready {
            PodEvent::Ready { pod }
        } else {
            PodEvent::NotReady { pod }
        });
    }

    /// Marks a pod terminating (not Ready from now on); `None` if it is unknown or was
    /// already terminating, else the channel to tell its thread.
    pub fn mark_terminating(&mut self, name: &str) -> Option<mpsc::Sender<PodCmd>> {
        let p = self.pod_mut(name)?;
        if p.terminating {
            return None;
        }
        p.terminating = true;
        let cmd = p.cmd.clone();
        self.set_ready(name, false);
        self.record(PodEvent::Terminating { pod: name.into() });
        Some(cmd)
    }

    /// Forgets a pod whose containers have all exited.
    pub fn remove(&mut self, name: &str) {
        if let Some(i) = self.pods.iter().position(|p| p.plan.name == name) {
            let p = self.pods.remove(i);
            for port in p.plan.ports.values() {
                self.ports_taken.remove(port);
            }
            self.record(PodEvent::PodDeleted { pod: name.into() });
        }
    }

    pub fn summaries(&self, dep: &DeploymentPlan, now: Instant) -> Vec<PodSummary> {
        self.pods
            .iter()
            .filter(|p| p.plan.namespace == dep.namespace && p.plan.deployment == dep.name)
            .map(|p| PodSummary {
                name: p.plan.name.clone(),
                current: p.plan.hash == dep.hash,
                available: p.available(now),
                terminating: p.terminating,
            })
            .collect()
    }

    /// One line per pod, for error messages.
    pub fn describe(&self) -> String {
        if self.pods.is_empty() {
            return "none".into();
        }
        let now = Instant::now();
        let lines: Vec<String> = self
            .pods
            .iter()
            .map(|p| {
                let v = p.view(now);
                let exits: Vec<String> = v
                    .containers
                    .iter()
                    .filter_map(|c| c.last_exit.map(|e| format!("{}: last {e}", c.name)))
                    .collect();
                format!(
                    "{} (hash {}): running={} ready={} terminating={} restarts={}{}",
                    v.name,
                    v.template_hash,
                    v.running,
                    v.ready,
                    v.terminating,
                    v.restarts,
                    if exits.is_empty() {
                        String::new()
                    } else {
                        format!(" [{}]", exits.join(", "))
                    }
                )
            })
            .collect();
        lines.join("; ")
    }
}

/// What the runner handle, the controller thread and the pod threads share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Wakes the controller.
    pub wake: Condvar,
    /// Bumped on every change, for async waiters.
    pub version: tokio::sync::watch::Sender<u64>,
    /// Every pod thread (joined by `stop`).
    pub threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    pub fn new(inner: Inner) -> Shared {
        Shared {
            inner: Mutex::new(inner),
            wake: Condvar::new(),
            version: tokio::sync::watch::Sender::new(0),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// The state, for reading (a poisoned lock is recovered: the state stays consistent
    /// because every change is made in one critical section).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the state, then wakes the controller and the waiters.
    pub fn update<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let out = f(&mut self.lock());
        self.notify();
        out
    }

    pub fn notify(&self) {
        self.wake.notify_all();
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }
}
