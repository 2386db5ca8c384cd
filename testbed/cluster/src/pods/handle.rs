//! The `PodRunner` handle's queries, waits and actions (signal a container, delete a pod,
//! roll a Deployment, read logs). No I/O of its own besides reading log files: it changes
//! the shared state and talks to the pod threads over their channels.

use std::sync::{Arc, mpsc};
use std::time::Duration;

use super::state::{Inner, PodCmd, SignalReply};
use super::{PodError, PodEvent, PodRunner, PodView, TimelineEntry, find_deployment, known_pods};

/// How often waits look again without a change (for `minReadySeconds`).
const WAIT_POLL: Duration = Duration::from_millis(100);

impl PodRunner {
    /// Every live pod (terminating ones included until their containers have exited),
    /// oldest first.
    pub fn pods(&self) -> Vec<PodView> {
        let now = std::time::Instant::now();
        self.shared
            .lock()
            .pods
            .iter()
            .map(|p| p.view(now))
            .collect()
    }

    /// Everything recorded so far, in order.
    pub fn timeline(&self) -> Vec<TimelineEntry> {
        self.shared.lock().timeline.clone()
    }

    /// The current `pod-template-hash` of a Deployment (`name` or `namespace/name`).
    pub fn template_hash(&self, deployment: &str) -> Result<String, PodError> {
        let s = self.shared.lock();
        Ok(s.deployments[find_deployment(&s, deployment)?]
            .plan
            .hash
            .clone())
    }

    async fn wait_state<T>(
        &self,
        what: &str,
        deadline: Duration,
        mut f: impl FnMut(&Inner) -> Option<Result<T, PodError>>,
    ) -> Result<T, PodError> {
        let end = tokio::time::Instant::now() + deadline;
        let mut rx = self.shared.version.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let s = self.shared.lock();
                if let Some(done) = f(&s) {
                    return done;
                }
                if s.stopping {
                    return Err(PodError::Stopped(format!(
                        "stopped while waiting for {what}"
                    )));
                }
                if tokio::time::Instant::now() >= end {
                    return Err(PodError::Deadline {
                        what: what.to_string(),
                        deadline,
                        state: s.describe(),
                    });
                }
            }
            let left = end.saturating_duration_since(tokio::time::Instant::now());
            let _ = tokio::time::timeout(left.min(WAIT_POLL), rx.changed()).await;
        }
    }

    /// Waits until `f` returns `Some` for the live pods, at most `deadline`.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        deadline: Duration,
        mut f: impl FnMut(&[PodView]) -> Option<T>,
    ) -> Result<T, PodError> {
        self.wait_state(what, deadline, |s| {
            let now = std::time::Instant::now();
            let pods: Vec<PodView> = s.pods.iter().map(|p| p.view(now)).collect();
            f(&pods).map(Ok)
        })
        .await
    }

    /// Waits until the timeline (from its start) holds an event `f` accepts; returns it.
    pub async fn wait_for_event(
        &self,
        what: &str,
        deadline: Duration,
        mut f: impl FnMut(&PodEvent) -> bool,
    ) -> Result<TimelineEntry, PodError> {
        self.wait_state(what, deadline, |s| {
            s.timeline.iter().find(|e| f(&e.event)).cloned().map(Ok)
        })
        .await
    }

    /// Waits until at least `n` pods of the Deployment (`name` or `namespace/name`) are Ready
    /// (and not terminating); returns the Ready ones.
    pub async fn wait_ready(
        &self,
        deployment: &str,
        n: usize,
        deadline: Duration,
    ) -> Result<Vec<PodView>, PodError> {
        let (ns, name) = {
            let s = self.shared.lock();
            let p = &s.deployments[find_deployment(&s, deployment)?].plan;
            (p.namespace.clone(), p.name.clone())
        };
        let what = format!("{n} Ready pods of {ns}/{name}");
        self.wait_for(&what, deadline, |pods| {
            let ready: Vec<PodView> = pods
                .iter()
                .filter(|p| p.namespace == ns && p.deployment == name && p.ready)
                .cloned()
                .collect();
            (ready.len() >= n).then_some(ready)
        })
        .await
    }

    /// Sends `signal` to the first container's process of `pod` (e.g. `libc::SIGKILL`: the
    /// container exits and is restarted in the same pod). Returns the pid signalled.
    pub fn kill_container(&self, pod: &str, signal: i32) -> Result<u32, PodError> {
        self.signal(pod, None, signal)
    }

    /// `kill_container` for a container by name.
    pub fn signal_container(
        &self,
        pod: &str,
        container: &str,
        signal: i32,
    ) -> Result<u32, PodError> {
        self.signal(pod, Some(container), signal)
    }

    fn signal(&self, pod: &str, container: Option<&str>, signal: i32) -> Result<u32, PodError> {
        let (cmd, idx, cname) = {
            let mut s = self.shared.lock();
            let known = known_pods(&s);
            let p = s.pod_mut(pod).ok_or_else(|| PodError::NoSuchPod {
                pod: pod.into(),
                known,
            })?;
            let idx = match container {
                None => 0,
                Some(c) => p
                    .plan
                    .containers
                    .iter()
                    .position(|x| x.name == c)
                    .ok_or_else(|| PodError::NoSuchContainer {
                        pod: pod.into(),
                        container: c.into(),
                    })?,
            };
            let cname = p
                .plan
                .containers
                .get(idx)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            (p.cmd.clone(), idx, cname)
        };
        let (tx, rx) = mpsc::channel();
        let gone = || PodError::Stopped(format!("the thread of pod {pod} has ended"));
        cmd.send(PodCmd::Signal {
            container: idx,
            signal,
            reply: tx,
        })
        .map_err(|_| gone())?;
        match rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| gone())?
        {
            SignalReply::Sent(pid) => Ok(pid),
            SignalReply::NotRunning => Err(PodError::NotRunning {
                pod: pod.into(),
                container: cname,
            }),
            SignalReply::NoContainer => Err(PodError::NoSuchContainer {
                pod: pod.into(),
                container: cname,
            }),
            SignalReply::Failed(pid, source) => Err(PodError::Signal {
                pod: pod.into(),
                signal,
                pid,
                source,
            }),
        }
    }

    /// Deletes a pod: graceful termination (SIGTERM, SIGKILL after its grace period); the
    /// Deployment creates a replacement at once. Returns when its containers have exited.
    pub async fn delete_pod(&self, pod: &str) -> Result<(), PodError> {
        let (cmd, grace) = self.shared.update(|s| {
            let known = known_pods(s);
            let grace = s
                .pod_mut(pod)
                .ok_or_else(|| PodError::NoSuchPod {
                    pod: pod.into(),
                    known,
                })?
                .plan
                .grace;
            Ok::<_, PodError>((s.mark_terminating(pod), grace))
        })?;
        if let Some(cmd) = cmd {
            let _ = cmd.send(PodCmd::Terminate);
        }
        let what = format!("pod {pod} to be deleted");
        self.wait_for(&what, grace + Duration::from_secs(10), |pods| {
            (!pods.iter().any(|p| p.name == pod)).then_some(())
        })
        .await
    }

    /// `kubectl rollout restart`: a new template (annotated with the time), rolled out under
    /// the Deployment's strategy. Returns the new template hash once the rollout is complete
    /// (`replicas` available new pods, every old pod gone), or errors at `deadline`.
    pub async fn rollout_restart(
        &self,
        deployment: &str,
        deadline: Duration,
    ) -> Result<String, PodError> {
        let (key, hash) = self.shared.update(|s| {
            let i = find_deployment(s, deployment)?;
            let at = k8s_openapi::jiff::Timestamp::now().to_string();
            let next = Arc::new(s.deployments[i].plan.restarted(&at));
            let (key, name, hash) = (next.key(), next.name.clone(), next.hash.clone());
            s.deployments[i].plan = next;
            s.record(PodEvent::RolloutStarted {
                deployment: name,
                template_hash: hash.clone(),
            });
            Ok::<_, PodError>((key, hash))
        })?;
        let what = format!("the rollout of {key} (template {hash})");
        self.wait_state(&what, deadline, |s| {
            let d = s.deployments.iter().find(|d| d.plan.key() == key)?;
            if d.completed.as_deref() == Some(hash.as_str()) {
                Some(Ok(hash.clone()))
            } else if d.plan.hash != hash {
                Some(Err(PodError::Superseded {
                    deployment: key.clone(),
                    template_hash: hash.clone(),
                    by: d.plan.hash.clone(),
                }))
            } else {
                None
            }
        })
        .await
    }

    /// The log of the pod's first container: every run of it, between separator lines
    /// (also for a deleted pod).
    pub fn log(&self, pod: &str) -> Result<String, PodError> {
        self.read_log(pod, None)
    }

    /// The log of one container of a pod.
    pub fn container_log(&self, pod: &str, container: &str) -> Result<String, PodError> {
        self.read_log(pod, Some(container))
    }

    fn read_log(&self, pod: &str, container: Option<&str>) -> Result<String, PodError> {
        let path = {
            let s = self.shared.lock();
            let logs = s.logs.get(pod).ok_or_else(|| PodError::NoSuchPod {
                pod: pod.into(),
                known: s.logs.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
            let found = match container {
                None => logs.first(),
                Some(c) => logs.iter().find(|(n, _)| n == c),
            };
            found
                .map(|(_, p)| p.clone())
                .ok_or_else(|| PodError::NoSuchContainer {
                    pod: pod.into(),
                    container: container.unwrap_or("").into(),
                })?
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            // Not started yet.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(PodError::io("reading a container log", path, e)),
        }
    }
}
