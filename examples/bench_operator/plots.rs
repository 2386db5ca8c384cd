//! The bench's plots as SVG (`docs/bench/*.svg`): resets/s against N, memory against N, the
//! completion lag's distribution; each names the commit and the machine. Writes files.

use std::path::Path;

use plotters::prelude::*;

use crate::{report::Report, scenario::Figures};

impl Report {
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
        let colors = [BLUE, CYAN, MAGENTA, GREEN, RED, BLACK];
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
