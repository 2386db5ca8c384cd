//! Where the machine's cores go in each scenario and in the probe before it: the API server
//! with etcd, the operator, the bench's own process (the simulator, the watch, the creates or
//! the probe's client) and the whole machine. Markdown only; no I/O.

use std::fmt::Write as _;

use crate::{
    procfs::Cpu,
    report::Report,
    scenario::{Figures, Mode},
};

/// One span of the run: what it did and what it used.
struct Span {
    what: String,
    n: usize,
    seconds: f64,
    cpu: Cpu,
    operator: Option<f64>,
}

impl Span {
    fn row(&self, out: &mut String) {
        let s = self.seconds.max(1e-9);
        let per = |cpu: f64| cpu * 1000.0 / self.n.max(1) as f64;
        let operator = self.operator.unwrap_or(0.0);
        let rest = self.cpu.machine - self.cpu.server - self.cpu.bench - operator;
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} |",
            self.what,
            self.n,
            self.n as f64 / s,
            self.cpu.server / s,
            self.operator
                .map_or("–".to_owned(), |o| format!("{:.2}", o / s)),
            self.cpu.bench / s,
            rest.max(0.0) / s,
            self.cpu.machine / s,
            per(self.cpu.server),
            per(self.cpu.machine),
        );
    }
}

impl Report {
    /// The spans of each scenario: the probe before it, the backlog's creates, the run.
    fn spans(f: &Figures) -> Vec<Span> {
        let mut spans = Vec::new();
        if let Some((before, _)) = f.probes {
            spans.push(Span {
                what: format!("probe before {} {}", f.mode.as_str(), f.n),
                n: before.resets,
                seconds: before.seconds,
                cpu: before.cpu,
                operator: None,
            });
        }
        if let Some(c) = f.creates {
            spans.push(Span {
                what: format!("creates of {} {} (no operator)", f.mode.as_str(), f.n),
                n: f.n,
                seconds: c.seconds,
                cpu: c.cpu,
                operator: None,
            });
        }
        let what = match f.mode {
            Mode::Live => format!("operator, {} {} (with its creates)", f.mode.as_str(), f.n),
            _ => format!("operator, {} {}", f.mode.as_str(), f.n),
        };
        spans.push(Span {
            what,
            n: f.n,
            seconds: f.seconds,
            cpu: f.cpu,
            operator: Some(f.cpu_operator),
        });
        spans
    }

    pub(crate) fn cores_section(&self, out: &mut String) {
        if self.scenarios.iter().all(|f| f.probes.is_none()) {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let _ = writeln!(out, "## Where the cores go\n");
        let _ = writeln!(
            out,
            "The machine has {cores} cores, shared by everything the run needs. For each \
             scenario: the probe just before it, the backlog's creates (made before the \
             operator starts), and the operator's run (a live run makes its creates inside \
             it). Cores are CPU seconds per second of the span: the API server with etcd, the \
             operator, the bench's own process (the Elasticsearch simulator, the watch and the \
             creates; in a probe, the probe's client), the rest of the machine, and the whole \
             machine busy (`/proc/stat`). The last two columns are CPU per reset (per create \
             for the creates): the server's, and the whole machine's. When the machine is \
             busy on every core, the rate is that machine's CPU per reset turned around: the \
             probe pays only for its writes, the operator's run also for the operator, the \
             simulator and the watch.\n"
        );
        let _ = writeln!(
            out,
            "| span | N | per second | API server + etcd cores | operator cores | bench process cores | rest cores | machine busy cores | server CPU ms each | machine CPU ms each |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for f in &self.scenarios {
            for span in Self::spans(f) {
                span.row(out);
            }
        }
        let _ = writeln!(out);
    }
}
