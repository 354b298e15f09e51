//! `--plot FILE.svg`: the event-to-order latency distribution as a
//! percentile plot (plotters, SVG), x in "nines" so the tail is readable:
//! 0 = p0, 1 = p90, 2 = p99, 3 = p99.9.

use hdrhistogram::Histogram;
use plotters::prelude::*;
use std::path::Path;

/// Draws the distribution of `h` (microseconds) into an SVG file.
pub fn latency_svg(h: &Histogram<u64>, title: &str, path: &Path) -> anyhow::Result<()> {
    let points: Vec<(f64, f64)> = if h.is_empty() {
        Vec::new()
    } else {
        h.iter_quantiles(4)
            .map(|v| {
                let q = v.quantile_iterated_to().min(0.99999);
                (-(1.0 - q).log10(), v.value_iterated_to() as f64 / 1000.0)
            })
            .collect()
    };
    let max_x = points.iter().map(|p| p.0).fold(1.0f64, f64::max).ceil();
    let max_y = points.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.1;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..max_x, 0f64..max_y)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("event to order, ms")
        .x_label_formatter(&|x| match x.round() as i64 {
            0 => "p0".into(),
            n => format!("p{}", 100.0 - 100.0 / 10f64.powi(n as i32)),
        })
        .draw()?;
    chart.draw_series(LineSeries::new(points, &BLUE))?;
    root.present()?;
    Ok(())
}
