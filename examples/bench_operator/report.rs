//! The bench's figures as markdown: the bound, throughput, cost by call, lag. `write` (in
//! `plots.rs`) puts it in `docs/benchmarks.md` beside its plots. No I/O here.

use std::fmt::Write as _;

use crate::{
    probe::Capacity,
    scenario::{Figures, Mode},
};

pub struct Report {
    pub commit: String,
    pub machine: String,
    pub date: String,
    pub reset_ms: u64,
    pub probes: Vec<Capacity>,
    pub idle: Figures,
    /// The same, with `spec.ledger: Disabled`.
    pub unledgered: Figures,
    /// The same with the ledger, of opened jobs.
    pub opened: Figures,
    pub naive_ms: Vec<f64>,
    pub scenarios: Vec<Figures>,
    pub sweep: Vec<Figures>,
    /// The operator's default `--concurrency`.
    pub default_concurrency: u16,
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `call` count per reset, for each call.
pub(crate) fn by_call(f: &Figures, calls: &std::collections::BTreeMap<String, usize>) -> String {
    let list: Vec<String> = calls
        .iter()
        .map(|(k, n)| format!("`{k}` {:.2}", f.per_reset(*n)))
        .collect();
    list.join(", ")
}

fn mib(v: Option<f64>) -> String {
    v.map_or("–".into(), |m| format!("{m:.1}"))
}

impl Report {
    /// The bound: the probes' mean (one before the scenarios, one after).
    pub fn bound(&self) -> f64 {
        let n = self.probes.len().max(1) as f64;
        self.probes.iter().map(|p| p.per_second).sum::<f64>() / n
    }

    fn probe_cpu_ms(&self) -> f64 {
        let n = self.probes.len().max(1) as f64;
        self.probes.iter().map(|p| p.server_cpu_ms).sum::<f64>() / n
    }

    pub(crate) fn caption(&self) -> String {
        format!("commit {} · {}", self.commit, self.machine)
    }

    fn throughput_table(&self, out: &mut String, rows: &[Figures]) {
        let _ = writeln!(
            out,
            "| scenario | N | concurrency | all terminal | resets/s | bound | × bound | ES req/reset | K8s writes/reset | operator CPU ms/reset | server CPU ms/reset | operator ÷ server CPU | RSS idle / steady / peak MiB |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        );
        for f in rows {
            let es: usize = f.es_calls.values().sum();
            let writes: usize = f.writes.values().sum();
            let bound = f.bound.unwrap_or_else(|| self.bound());
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} s{} | {:.1} | {:.1} | {:.2} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {} / {} / {} |",
                f.mode.as_str(),
                f.n,
                f.concurrency,
                f.seconds,
                if f.completed < f.n {
                    format!(
                        " ({} of {} Completed, {} terminal)",
                        f.completed, f.n, f.terminal
                    )
                } else {
                    String::new()
                },
                f.rate(),
                bound,
                f.rate() / bound,
                f.per_reset(es),
                f.per_reset(writes),
                f.cpu_operator * 1000.0 / f.n.max(1) as f64,
                f.cpu.server * 1000.0 / f.n.max(1) as f64,
                f.cpu_operator / f.cpu.server.max(1e-9),
                mib(f.rss_idle),
                mib(f.rss_steady),
                mib(f.rss_peak),
            );
        }
    }

    /// Each setting's mean rate over its runs (there and back, so the server's drift as its
    /// store fills cancels), the mean ratio to the probes beside it, and the default's place.
    /// The verdict goes on the rates: a 500-write probe moves more than the drift it corrects.
    fn sweep_summary(&self) -> String {
        let mut by_c: std::collections::BTreeMap<u16, Vec<&Figures>> = Default::default();
        for f in &self.sweep {
            by_c.entry(f.concurrency).or_default().push(f);
        }
        // (concurrency, mean rate, mean ratio to the probe beside each run)
        let means: Vec<(u16, f64, f64)> = by_c
            .iter()
            .map(|(c, runs)| {
                let n = runs.len() as f64;
                let rate = runs.iter().map(|f| f.rate()).sum::<f64>() / n;
                let ratio = runs
                    .iter()
                    .map(|f| f.rate() / f.bound.unwrap_or_else(|| self.bound()).max(1e-9))
                    .sum::<f64>()
                    / n;
                (*c, rate, ratio)
            })
            .collect();
        let list: Vec<String> = means
            .iter()
            .map(|(c, rate, ratio)| format!("{c}: {rate:.1} resets/s (× bound {ratio:.2})"))
            .collect();
        let best = means.iter().max_by(|a, b| a.1.total_cmp(&b.1));
        let default = means.iter().find(|m| m.0 == self.default_concurrency);
        let verdict = match (best, default) {
            (Some(b), Some(_)) if b.0 == self.default_concurrency => {
                "the default is the fastest of them".to_string()
            }
            (Some(b), Some(d)) => format!(
                "the default reaches {:.0} % of the fastest ({})",
                100.0 * d.1 / b.1.max(1e-9),
                b.0
            ),
            _ => "the default was not among them".to_string(),
        };
        let probes = self.sweep.iter().filter_map(|f| f.bound);
        let spread = match (probes.clone().reduce(f64::min), probes.reduce(f64::max)) {
            (Some(lo), Some(hi)) => format!(" The probes beside them ranged {lo:.1}–{hi:.1}."),
            _ => String::new(),
        };
        format!(
            "Mean per setting over its runs: {}; {verdict}.{spread}",
            list.join(", ")
        )
    }

    /// The probe before each scenario (its own namespace, few objects) against the same
    /// probe right after it among the scenario's own JobResets, and the operator's run
    /// between them: whether what changes with N is the server's or the operator's.
    fn size_table(&self, out: &mut String) {
        let rows: Vec<_> = self
            .scenarios
            .iter()
            .filter_map(|f| f.probes.map(|(b, a)| (f, b, a)))
            .collect();
        if rows.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "The same probe, run again right after each scenario over its own JobResets (its \
             N objects and their Events still stored, its operator stopped; `probe after` \
             writes the resets' worth shown in brackets, by default one for each of the N, the \
             run's own number of writes), gives the API server's capacity at the scenario's \
             size. Server CPU is the API server's and etcd's (etcd's share in brackets). The \
             API server's CPU profiles of each backlog and of the probes are summarised in \
             [bench/apiserver-profile.md](bench/apiserver-profile.md).\n"
        );
        let _ = writeln!(
            out,
            "| scenario | N | probe before: resets/s | its server CPU ms | probe after, over the N: resets/s | its server CPU ms | operator: resets/s | its server CPU ms per reset | × probe after |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let cpu = |total: f64, etcd: f64| format!("{total:.1} ({etcd:.1})");
        for (f, before, after) in rows {
            let n = f.n.max(1) as f64;
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {} | {:.1} ({}) | {} | {:.1} | {} | {:.2} |",
                f.mode.as_str(),
                f.n,
                before.per_second,
                cpu(before.server_cpu_ms, before.etcd_cpu_ms),
                after.per_second,
                after.resets,
                cpu(after.server_cpu_ms, after.etcd_cpu_ms),
                f.rate(),
                cpu(f.cpu.server * 1000.0 / n, f.cpu.etcd * 1000.0 / n),
                f.rate() / after.per_second.max(1e-9),
            );
        }
        let _ = writeln!(out);
        self.linearity(out);
    }

    /// The largest N's rate over the smallest's, for the operator and for the probe after
    /// each (over the same N): whether what falls with N is the operator or the server.
    fn linearity(&self, out: &mut String) {
        for mode in [Mode::Backlog, Mode::Live] {
            let of_mode: Vec<_> = self
                .scenarios
                .iter()
                .filter(|f| f.mode == mode)
                .filter_map(|f| f.probes.map(|(_, after)| (f, after)))
                .collect();
            let small = of_mode.iter().min_by_key(|(f, _)| f.n);
            let large = of_mode.iter().max_by_key(|(f, _)| f.n);
            let (Some((fs, ps)), Some((fl, pl))) = (small, large) else {
                continue;
            };
            if fs.n == fl.n {
                continue;
            }
            let _ = writeln!(
                out,
                "{}: from {} to {} JobResets the operator's rate goes ×{:.2}, the probe's over \
                 the same objects ×{:.2}.\n",
                mode.as_str(),
                fs.n,
                fl.n,
                fl.rate() / fs.rate().max(1e-9),
                pl.per_second / ps.per_second.max(1e-9),
            );
        }
    }

    pub(crate) fn lag_rows(&self) -> Vec<(String, &[f64])> {
        let mut rows = vec![
            (
                "operator, idle (one reset at a time)".to_owned(),
                &self.idle.lags_ms[..],
            ),
            (
                "operator, idle, no ledger".to_owned(),
                &self.unledgered.lags_ms[..],
            ),
            (
                "operator, idle, opened jobs".to_owned(),
                &self.opened.lags_ms[..],
            ),
        ];
        for f in self.scenarios.iter().filter(|f| f.mode == Mode::Backlog) {
            rows.push((
                format!("operator, during a {} backlog", f.n),
                &f.lags_ms[..],
            ));
        }
        rows.push(("naive 5 s poller".to_owned(), &self.naive_ms[..]));
        rows
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Generated by `make bench` on {}: commit `{}`, {}. Nothing here is asserted; the \
             figures move with the machine's load. Every figure comes from one run: the test \
             bed's real API server and etcd, the Elasticsearch ML simulator in the bench's \
             process ({} ms per reset, closed jobs with data but where opened ones are named), the release operator as a \
             separate process scoped to one namespace per scenario.\n",
            self.date, self.commit, self.machine, self.reset_ms
        );
        let _ = writeln!(out, "## The bound\n");
        let _ = writeln!(
            out,
            "The API server's capacity for the operator's own minimal writes per reset (three \
             JobReset status applies by the operator's field manager, shaped like its own: the \
             intent, the task id, Completed; and the outcome's Event), with no operator \
             running. It is probed before each scenario, since the API server slows as etcd fills with the run's objects and Events: {} resets/s \
             in order, costing the API server and etcd {:.1} ms CPU per reset on average. \
             Each scenario's ratio is to the probe just before it, and so is each run of the \
             concurrency sweep.\n",
            self.probes
                .iter()
                .map(|p| format!("{:.1}", p.per_second))
                .collect::<Vec<_>>()
                .join(", "),
            self.probe_cpu_ms()
        );
        self.size_table(&mut out);
        self.cores_section(&mut out);
        let _ = writeln!(out, "## Throughput, cost and memory\n");
        self.throughput_table(&mut out, &self.scenarios);
        let _ = writeln!(out, "\n![resets per second](bench/throughput.svg)\n");
        let _ = writeln!(out, "![memory](bench/memory.svg)\n");
        if let Some(f) = self.scenarios.first() {
            let _ = writeln!(out, "Per reset by call ({} {}):\n", f.mode.as_str(), f.n);
            for (what, calls) in [
                ("Elasticsearch", &f.es_calls),
                ("Kubernetes writes", &f.writes),
                ("Kubernetes reads, lists and watches", &f.reads),
            ] {
                let _ = writeln!(out, "- {what}: {}", by_call(f, calls));
            }
            let _ = writeln!(out);
        }
        self.one_at_a_time(&mut out);
        let _ = writeln!(out, "## Completion lag\n");
        let _ = writeln!(
            out,
            "From the moment the simulator finished the reset task to the moment a watch \
             showed the JobReset terminal.\n"
        );
        let _ = writeln!(out, "| | resets | p50 ms | p90 ms | p99 ms | max ms |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for (name, l) in self.lag_rows() {
            let _ = writeln!(
                out,
                "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                l.len(),
                percentile(l, 0.5),
                percentile(l, 0.9),
                percentile(l, 0.99),
                percentile(l, 1.0)
            );
        }
        if let Some([read, write, done]) = self.idle.lag_parts {
            let _ = writeln!(
                out,
                "\nWhere the idle operator's lag goes (medians): {read:.1} ms from the task's end \
                 to the answer to the confirming job read (the long-poll's answer, the finishing \
                 lane taking it up, the read itself); {write:.1} ms to the answer \
                 to the outcome's ledger write (the write itself: no status write announces \
                 a success); {done:.1} ms until a watch shows Completed (the last status write and its \
                 watch event). One GET of a JobReset took {:.1} ms at the API server meanwhile \
                 (median).",
                percentile(&self.idle.api_get_ms, 0.5)
            );
        }
        for f in self.scenarios.iter().filter(|f| f.mode == Mode::Backlog) {
            let Some([read, write, done]) = f.lag_parts else {
                continue;
            };
            let _ = writeln!(
                out,
                "\nDuring the {} backlog the same three steps took {read:.1}, {write:.1} and \
                 {done:.1} ms (medians), each one or two requests to an API server that the \
                 backlog keeps busy: one GET of a JobReset took {:.1} ms there (median; p99 \
                 {:.1} ms).",
                f.n,
                percentile(&f.api_get_ms, 0.5),
                percentile(&f.api_get_ms, 0.99)
            );
        }
        let _ = writeln!(out, "\n![completion lag](bench/lag.svg)\n");
        if !self.sweep.is_empty() {
            let _ = writeln!(out, "## Concurrency\n");
            let _ = writeln!(
                out,
                "The same backlog at several `--concurrency` settings (the default is {}), \
                 there and back so that each setting runs once early and once late, each \
                 against a probe just before it.\n",
                self.default_concurrency
            );
            self.throughput_table(&mut out, &self.sweep);
            let _ = writeln!(out, "\n{}\n", self.sweep_summary());
        }
        out
    }
}
