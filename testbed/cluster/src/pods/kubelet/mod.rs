//! One pod's kubelet loop, on the pod's own thread (I/O: it spawns, signals and reaps the
//! container processes and starts their probe threads): starts every container, restarts
//! one that exits (restartPolicy Always, after a fixed back-off), runs the startup, liveness
//! and readiness probes, kills a container whose liveness (or startup) probe fails
//! `failureThreshold` times in a row, publishes the containers' status, and on deletion
//! terminates them (SIGTERM, SIGKILL after the grace period).

use std::collections::BTreeMap;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

mod probing;

use super::container::{self, ContainerExit, Process};
use super::pod_plan::{ContainerRun, PodPlan};
use super::probe::{ProbeKind, ProbeSpec, Target, Tracker};
use super::prober::{Report, Worker};
use super::state::{ContainerView, PodCmd, PodEvent, Shared, SignalReply};

/// How often the loop looks at its processes (and at probe results).
const TICK: Duration = Duration::from_millis(20);

struct Running {
    proc: Process,
    started: Instant,
    startup_done: bool,
    trackers: BTreeMap<u8, Tracker>,
    workers: Vec<Worker>,
    ready: bool,
    /// Being killed: SIGKILL at this instant.
    kill_at: Option<Instant>,
}

enum Phase {
    /// Not running; started at `until` (unless the pod is terminating).
    Waiting {
        until: Instant,
    },
    Running(Box<Running>),
    /// Exited while the pod terminates: never started again.
    Done,
}

struct Container {
    run: ContainerRun,
    probes: Vec<(ProbeKind, ProbeSpec, Target)>,
    phase: Phase,
    restart_count: u32,
    /// Starts so far (tags probe results with the run they belong to).
    runs: u32,
    last_exit: Option<ContainerExit>,
}

fn key(kind: ProbeKind) -> u8 {
    kind as u8
}

struct Kubelet {
    plan: Arc<PodPlan>,
    shared: Arc<Shared>,
    backoff: Duration,
    containers: Vec<Container>,
    probe_tx: mpsc::Sender<Report>,
    terminating: bool,
    published: Vec<ContainerView>,
}

/// Runs the pod until it is deleted and all its containers have exited.
pub(crate) fn run(
    plan: Arc<PodPlan>,
    shared: Arc<Shared>,
    cmds: mpsc::Receiver<PodCmd>,
    backoff: Duration,
) {
    let (probe_tx, probe_rx) = mpsc::channel();
    let now = Instant::now();
    let mut k = Kubelet {
        containers: Vec::new(),
        plan: plan.clone(),
        shared,
        backoff,
        probe_tx,
        terminating: false,
        published: Vec::new(),
    };
    for c in &plan.containers {
        let mut probes = Vec::new();
        for (kind, spec) in &c.probes {
            match Target::resolve(spec, &c.named_ports, &plan.ports) {
                Ok(t) => probes.push((*kind, spec.clone(), t)),
                // Validated when the Deployment was accepted; report rather than panic.
                Err(e) => k.event(PodEvent::Error {
                    context: format!("pod {} container {}: {kind} probe: {e}", plan.name, c.name),
                }),
            }
        }
        k.containers.push(Container {
            run: c.clone(),
            probes,
            phase: Phase::Waiting { until: now },
            restart_count: 0,
            runs: 0,
            last_exit: None,
        });
    }
    loop {
        loop {
            match cmds.try_recv() {
                Ok(cmd) => k.command(cmd),
                Err(mpsc::TryRecvError::Empty) => break,
                // The runner is gone: terminate.
                Err(mpsc::TryRecvError::Disconnected) => {
                    k.terminate();
                    break;
                }
            }
        }
        while let Ok(report) = probe_rx.try_recv() {
            k.probe_result(report);
        }
        for i in 0..k.containers.len() {
            k.step(i);
        }
        k.publish();
        if k.terminating && k.containers.iter().all(|c| matches!(c.phase, Phase::Done)) {
            let name = plan.name.clone();
            k.shared.update(|s| s.remove(&name));
            return;
        }
        match cmds.recv_timeout(TICK) {
            Ok(cmd) => k.command(cmd),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => k.terminate(),
        }
    }
}

impl Kubelet {
    fn event(&self, e: PodEvent) {
        self.shared.update(|s| s.record(e));
    }

    fn command(&mut self, cmd: PodCmd) {
        match cmd {
            PodCmd::Terminate => self.terminate(),
            PodCmd::Signal {
                container,
                signal,
                reply,
            } => {
                let answer = match self.containers.get(container).map(|c| &c.phase) {
                    Some(Phase::Running(r)) => match r.proc.signal(signal) {
                        Ok(()) => SignalReply::Sent(r.proc.pid),
                        Err(e) => SignalReply::Failed(r.proc.pid, e),
                    },
                    Some(_) => SignalReply::NotRunning,
                    None => SignalReply::NoContainer,
                };
                let _ = reply.send(answer);
            }
        }
    }

    /// Graceful termination of every container (SIGTERM now, SIGKILL after the pod's grace
    /// period); waiting containers are never started.
    fn terminate(&mut self) {
        if self.terminating {
            return;
        }
        self.terminating = true;
        let grace = self.plan.grace;
        for i in 0..self.containers.len() {
            match &self.containers[i].phase {
                Phase::Waiting { .. } => self.containers[i].phase = Phase::Done,
                Phase::Running(_) => self.kill(i, grace),
                Phase::Done => {}
            }
        }
    }

    /// SIGTERM, SIGKILL after `grace` (an earlier deadline is kept); probes stop.
    fn kill(&mut self, i: usize, grace: Duration) {
        let Phase::Running(r) = &mut self.containers[i].phase else {
            return;
        };
        r.workers.clear();
        r.ready = false;
        let at = Instant::now() + grace;
        if r.kill_at.is_some_and(|k| k <= at) {
            return;
        }
        let first = r.kill_at.is_none();
        r.kill_at = Some(at);
        if grace.is_zero() {
            let _ = r.proc.signal(libc::SIGKILL);
        } else if first {
            let _ = r.proc.signal(libc::SIGTERM);
        }
    }

    fn step(&mut self, i: usize) {
        let now = Instant::now();
        let c = &mut self.containers[i];
        match &mut c.phase {
            Phase::Done => {}
            Phase::Waiting { until } => {
                if !self.terminating && now >= *until {
                    self.start(i);
                }
            }
            Phase::Running(r) => {
                if let Some(exit) = r.proc.poll() {
                    let pid = r.proc.pid;
                    c.last_exit = Some(exit);
                    container::log_line(
                        &c.run,
                        &format!("container {} (pid {pid}) ended: {exit}", c.run.name),
                    );
                    c.phase = if self.terminating {
                        Phase::Done
                    } else {
                        Phase::Waiting {
                            until: now + self.backoff,
                        }
                    };
                    let e = PodEvent::ContainerExited {
                        pod: self.plan.name.clone(),
                        container: c.run.name.clone(),
                        pid,
                        exit,
                    };
                    self.event(e);
                } else if r.kill_at.is_some_and(|k| now >= k) {
                    let _ = r.proc.signal(libc::SIGKILL);
                }
            }
        }
    }

    fn start(&mut self, i: usize) {
        let pod = self.plan.name.clone();
        let c = &mut self.containers[i];
        let restart_count = if c.runs == 0 { 0 } else { c.restart_count + 1 };
        match container::spawn(&c.run, restart_count) {
            Err(e) => {
                c.phase = Phase::Waiting {
                    until: Instant::now() + self.backoff,
                };
                let error = format!("{}: {e}", c.run.program.display());
                container::log_line(&c.run, &format!("starting failed: {error}"));
                let e = PodEvent::ContainerFailed {
                    pod,
                    container: c.run.name.clone(),
                    error,
                };
                self.event(e);
            }
            Ok(proc) => {
                let pid = proc.pid;
                c.runs += 1;
                c.restart_count = restart_count;
                let has = |kind| c.probes.iter().any(|(k, ..)| *k == kind);
                let startup = has(ProbeKind::Startup);
                let ready = !startup && !has(ProbeKind::Readiness);
                c.phase = Phase::Running(Box::new(Running {
                    proc,
                    started: Instant::now(),
                    startup_done: !startup,
                    trackers: BTreeMap::new(),
                    workers: Vec::new(),
                    ready,
                    kill_at: None,
                }));
                let container = c.run.name.clone();
                self.shared.update(|s| {
                    if restart_count > 0 {
                        s.record(PodEvent::Restarted {
                            pod: pod.clone(),
                            container: container.clone(),
                            restart_count,
                        });
                    }
                    s.record(PodEvent::ContainerStarted {
                        pod,
                        container,
                        pid,
                        restart_count,
                    });
                });
                if startup {
                    self.start_workers(i, &[ProbeKind::Startup]);
                } else {
                    self.start_workers(i, &[ProbeKind::Liveness, ProbeKind::Readiness]);
                }
            }
        }
    }

    fn publish(&mut self) {
        let views: Vec<ContainerView> = self
            .containers
            .iter()
            .map(|c| {
                let running = match &c.phase {
                    Phase::Running(r) => Some(r),
                    _ => None,
                };
                ContainerView {
                    name: c.run.name.clone(),
                    image: c.run.image.clone(),
                    running: running.is_some(),
                    pid: running.map(|r| r.proc.pid),
                    started: running.is_some_and(|r| r.startup_done),
                    ready: running.is_some_and(|r| r.ready && r.kill_at.is_none()),
                    restart_count: c.restart_count,
                    last_exit: c.last_exit,
                    log: c.run.log.clone(),
                }
            })
            .collect();
        if views != self.published {
            self.published = views.clone();
            let name = self.plan.name.clone();
            self.shared.update(|s| s.set_containers(&name, views));
        }
    }
}
