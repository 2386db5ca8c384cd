//! Prints the bench's figures and writes `docs/benchmarks.md` with its plots as SVG
//! (`docs/bench/*.svg`), each naming the commit and the machine. Writes files.

use std::{fmt::Write as _, path::Path};

use plotters::prelude::*;

use crate::{probe::Capacity, scenario::Figures};

pub struct Report {
    pub commit: String,
    pub machine: String,
    pub date: String,
    pub reset_ms: u64,
    pub probes: Vec<Capacity>,
    pub idle: Figures,
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

    fn caption(&self) -> String {
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
                f.cpu_server * 1000.0 / f.n.max(1) as f64,
                f.cpu_operator / f.cpu_server.max(1e-9),
                mib(f.rss_idle),
                mib(f.rss_steady),
                mib(f.rss_peak),
            );
        }
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
            "The same probe, run again right after each scenario among its own JobResets (its \
             N objects and their Events still stored, its operator stopped), gives the API \
             server's capacity at the scenario's size. Server CPU is the API server's and \
             etcd's (etcd's share in brackets). The API server's CPU profiles of each backlog \
             and of the probes are summarised in [bench/apiserver-profile.md](bench/apiserver-profile.md).\n"
        );
        let _ = writeln!(
            out,
            "| scenario | N | probe before: resets/s | its server CPU ms | probe after, among the N: resets/s | its server CPU ms | operator: resets/s | its server CPU ms per reset | × probe after |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let cpu = |total: f64, etcd: f64| format!("{total:.1} ({etcd:.1})");
        for (f, before, after) in rows {
            let n = f.n.max(1) as f64;
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {} | {:.1} | {} | {:.1} | {} | {:.2} |",
                f.mode.as_str(),
                f.n,
                before.per_second,
                cpu(before.server_cpu_ms, before.etcd_cpu_ms),
                after.per_second,
                cpu(after.server_cpu_ms, after.etcd_cpu_ms),
                f.rate(),
                cpu(f.cpu_server * 1000.0 / n, f.cpu_etcd * 1000.0 / n),
                f.rate() / after.per_second.max(1e-9),
            );
        }
        let _ = writeln!(out);
    }

    fn lag_rows(&self) -> Vec<(String, &[f64])> {
        let mut rows = vec![(
            "operator, idle (one reset at a time)".to_owned(),
            &self.idle.lags_ms[..],
        )];
        for f in self
            .scenarios
            .iter()
            .filter(|f| f.mode == crate::scenario::Mode::Backlog)
        {
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
             process ({} ms per reset, closed jobs with data), the release operator as a \
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
             Each scenario's ratio is to the probe just before it; the concurrency sweep's to \
             their mean.\n",
            self.probes
                .iter()
                .map(|p| format!("{:.1}", p.per_second))
                .collect::<Vec<_>>()
                .join(", "),
            self.probe_cpu_ms()
        );
        self.size_table(&mut out);
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
                let list: Vec<String> = calls
                    .iter()
                    .map(|(k, n)| format!("`{k}` {:.2}", f.per_reset(*n)))
                    .collect();
                let _ = writeln!(out, "- {what}: {}", list.join(", "));
            }
            let _ = writeln!(out);
        }
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
        for f in self
            .scenarios
            .iter()
            .filter(|f| f.mode == crate::scenario::Mode::Backlog)
        {
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
                "The same backlog at several `--concurrency` settings (the default is {}).\n",
                self.default_concurrency
            );
            self.throughput_table(&mut out, &self.sweep);
            let _ = writeln!(out);
        }
        out
    }

    /// Prints the markdown and writes it and the plots under `docs/`.
    pub fn write(&self, docs: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let md = self.markdown();
        println!("{md}");
        std::fs::create_dir_all(docs.join("bench"))?;
        std::fs::write(docs.join("benchmarks.md"), md)?;
        self.plot_throughput(&docs.join("bench/throughput.svg"))?;
        self.plot_memory(&docs.join("bench/memory.svg"))?;
        self.plot_lag(&docs.join("bench/lag.svg"))?;
        Ok(())
    }

    fn plot_throughput(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let max_n = self.scenarios.iter().map(|f| f.n).max().unwrap_or(1) as f64;
        let top = self
            .scenarios
            .iter()
            .flat_map(|f| [f.rate(), f.bound.unwrap_or_default()])
            .fold(self.bound(), f64::max)
            * 1.2;
        let root = SVGBackend::new(path, (760, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = titled(
            &root,
            format!("resets/s against N JobResets — {}", self.caption()),
        )
        .build_cartesian_2d((100f64..max_n * 2.0).log_scale(), 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("JobResets (log scale)")
            .y_desc("resets per second")
            .draw()?;
        let bounds: Vec<(f64, f64)> = self
            .scenarios
            .iter()
            .filter_map(|f| f.bound.map(|b| (f.n as f64, b)))
            .collect();
        chart
            .draw_series(
                bounds
                    .iter()
                    .map(|p| Cross::new(*p, 5, BLACK.stroke_width(2))),
            )?
            .label("bound: the API server's capacity, probed before each run")
            .legend(|(x, y)| Cross::new((x + 10, y), 5, BLACK.stroke_width(2)));
        for (mode, color) in [
            (crate::scenario::Mode::Backlog, BLUE),
            (crate::scenario::Mode::Live, RED),
        ] {
            let pts: Vec<(f64, f64)> = self
                .scenarios
                .iter()
                .filter(|f| f.mode == mode)
                .map(|f| (f.n as f64, f.rate()))
                .collect();
            line(
                &mut chart,
                &pts,
                color,
                format!("operator, {}", mode.as_str()),
                true,
            )?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present()?;
        Ok(())
    }

    fn plot_memory(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let max_n = self.scenarios.iter().map(|f| f.n).max().unwrap_or(1) as f64;
        let top = self
            .scenarios
            .iter()
            .filter_map(|f| f.rss_peak)
            .fold(16.0, f64::max)
            * 1.2;
        let root = SVGBackend::new(path, (760, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = titled(
            &root,
            format!("operator resident memory — {}", self.caption()),
        )
        .build_cartesian_2d(0f64..max_n * 1.05, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("JobResets held (backlog scenarios; 0 = idle)")
            .y_desc("MiB")
            .draw()?;
        let backlog: Vec<&Figures> = self
            .scenarios
            .iter()
            .filter(|f| f.mode == crate::scenario::Mode::Backlog)
            .collect();
        let idle = self.idle.rss_idle.unwrap_or(0.0);
        for (label, color, pick) in [("steady (all done)", BLUE, 0usize), ("peak", RED, 1usize)] {
            let mut pts = vec![(0.0, idle)];
            pts.extend(backlog.iter().filter_map(|f| {
                let v = if pick == 0 { f.rss_steady } else { f.rss_peak };
                v.map(|v| (f.n as f64, v))
            }));
            line(&mut chart, &pts, color, label, true)?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present()?;
        Ok(())
    }

    fn plot_lag(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (760, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = titled(
            &root,
            format!("completion lag, cumulative — {}", self.caption()),
        )
        .build_cartesian_2d((0.1f64..20_000f64).log_scale(), 0f64..1f64)?;
        chart
            .configure_mesh()
            .x_desc("task finished → terminal status seen, ms (log scale)")
            .y_desc("fraction of resets")
            .draw()?;
        let colors = [BLUE, MAGENTA, GREEN, RED, BLACK];
        for (i, (name, lags)) in self.lag_rows().into_iter().enumerate() {
            let color = colors[i % colors.len()];
            let n = lags.len().max(1) as f64;
            let pts: Vec<(f64, f64)> = lags
                .iter()
                .enumerate()
                .map(|(k, l)| (l.max(0.1), (k + 1) as f64 / n))
                .collect();
            line(&mut chart, &pts, color, name, false)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present()?;
        Ok(())
    }
}

type Plot<'a, 'b, X, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<X, Y>>;

/// A chart on `root` with the bench's caption style and label areas.
fn titled<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: String,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut b = ChartBuilder::on(root);
    b.caption(title, ("sans-serif", 13))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50);
    b
}

/// One labelled series, as a line and, with `dots`, its points.
fn line<X, Y>(
    chart: &mut Plot<'_, '_, X, Y>,
    pts: &[(f64, f64)],
    color: RGBColor,
    label: impl Into<String>,
    dots: bool,
) -> Result<(), Box<dyn std::error::Error>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .draw_series(LineSeries::new(pts.to_vec(), color.stroke_width(2)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    if dots {
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))?;
    }
    Ok(())
}

fn legend<'a, 'b: 'a, X, Y>(
    chart: &mut Plot<'a, 'b, X, Y>,
    position: SeriesLabelPosition,
) -> Result<(), Box<dyn std::error::Error>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(position)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    Ok(())
}
