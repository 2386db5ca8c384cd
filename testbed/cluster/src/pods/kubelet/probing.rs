//! The kubelet's probing of one pod (no I/O of its own: the probe threads do it): starting
//! the probe workers of a container run (startup first, then liveness and readiness) and
//! acting on their results (readiness tracked, a container killed after `failureThreshold`
//! liveness or startup failures in a row).

use std::time::Instant;

use super::{Kubelet, Phase, key};
use crate::pods::probe::{ProbeKind, Tracker};
use crate::pods::prober::{self, Report};
use crate::pods::state::PodEvent;

impl Kubelet {
    pub(super) fn start_workers(&mut self, i: usize, kinds: &[ProbeKind]) {
        let c = &mut self.containers[i];
        let Phase::Running(r) = &mut c.phase else {
            return;
        };
        let now = Instant::now();
        for (kind, spec, target) in &c.probes {
            if !kinds.contains(kind) {
                continue;
            }
            r.trackers
                .insert(key(*kind), Tracker::new(spec, *kind == ProbeKind::Liveness));
            let first = (r.started + spec.initial_delay).max(now);
            match prober::spawn_worker(
                target.clone(),
                first,
                spec.period,
                (i, c.runs, *kind),
                self.probe_tx.clone(),
            ) {
                Ok(w) => r.workers.push(w),
                Err(e) => {
                    let context = format!(
                        "pod {} container {}: starting the {kind} probe: {e}",
                        self.plan.name, c.run.name
                    );
                    self.shared
                        .update(|s| s.record(PodEvent::Error { context }));
                }
            }
        }
    }

    pub(super) fn probe_result(&mut self, report: Report) {
        let i = report.container;
        let pod = self.plan.name.clone();
        let pod_grace = self.plan.grace;
        let Some(c) = self.containers.get_mut(i) else {
            return;
        };
        let Phase::Running(r) = &mut c.phase else {
            return;
        };
        if report.run != c.runs || r.kill_at.is_some() {
            return;
        }
        let Some(tracker) = r.trackers.get_mut(&key(report.kind)) else {
            return;
        };
        let result = tracker.observe(report.result.is_ok());
        let failed = tracker.failed();
        let container = c.run.name.clone();
        let has_readiness = c.probes.iter().any(|(k, ..)| *k == ProbeKind::Readiness);
        let grace = c
            .probes
            .iter()
            .find(|(k, ..)| *k == report.kind)
            .and_then(|(_, s, _)| s.grace)
            .unwrap_or(pod_grace);
        let mut start_others = false;
        let mut kill = false;
        match report.kind {
            ProbeKind::Readiness => r.ready = result,
            ProbeKind::Startup if result => {
                r.startup_done = true;
                r.workers.clear();
                r.ready = !has_readiness;
                start_others = true;
            }
            ProbeKind::Startup | ProbeKind::Liveness => kill = failed,
        }
        if let Err(detail) = report.result {
            self.event(PodEvent::ProbeFailed {
                pod: pod.clone(),
                container: container.clone(),
                probe: report.kind,
                detail,
            });
        }
        if start_others {
            self.start_workers(i, &[ProbeKind::Liveness, ProbeKind::Readiness]);
        }
        if kill {
            self.event(PodEvent::ProbeKill {
                pod,
                container,
                probe: report.kind,
            });
            self.kill(i, grace);
        }
    }
}
