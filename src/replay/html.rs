//! `--report FILE.html`: the replay as one self-contained page (no
//! script, no link, plots as inline SVG drawn by plotters): orders per
//! rule, baseline against candidate; a timeline of orders; the
//! distribution of the delay from the first breaching event to the
//! order; then the tables and lists the terminal shows.

use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::fmt::Write;
use tongguan_core::replay::compare::{Comparison, OrderRef, Row};
use tongguan_core::replay::ReplayedOrder;

const BASE: RGBColor = RGBColor(0x3b, 0x6e, 0xa8);
const CAND: RGBColor = RGBColor(0xd9, 0x7a, 0x1e);

/// What the page is about, besides the comparison.
pub struct Context<'a> {
    /// One line saying what was replayed (recording, range, rules).
    pub title: &'a str,
    /// The baseline's orders.
    pub baseline: &'a [ReplayedOrder],
    /// The candidate's orders.
    pub candidate: &'a [ReplayedOrder],
}

/// The page.
pub fn render(c: &Comparison, ctx: &Context<'_>) -> Result<String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"zh\"><head><meta charset=\"utf-8\"><title>回放报告 replay report</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:64em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
         .b{{color:#3b6ea8}}.c{{color:#d97a1e}}</style></head><body>\
         <h1>回放报告 replay report</h1><p>{}</p>\
         <p><span class=\"b\">■ baseline 现行规则</span> &nbsp; <span class=\"c\">■ candidate 候选规则</span></p>",
        esc(ctx.title)
    );
    h.push_str("<h2>按规则 orders per rule</h2>");
    h.push_str(&per_rule(&c.by_rule)?);
    h.push_str("<h2>时间线 timeline of orders</h2>");
    h.push_str(&timeline(ctx.baseline, ctx.candidate)?);
    h.push_str("<h2>时延分布 first breaching event to order</h2>");
    h.push_str(&delays(ctx.baseline, ctx.candidate)?);
    table(&mut h, "总计 total", std::slice::from_ref(&c.total));
    table(&mut h, "按规则 by rule", &c.by_rule);
    table(&mut h, "按事件类型 by incident kind", &c.by_kind);
    table(&mut h, "按街镇 by street", &c.by_street);
    let _ = write!(
        h,
        "<p>研判 judged: {} baseline orders; false alarms still raised: {}</p>",
        c.baseline_judged, c.false_alarms_kept
    );
    list(
        &mut h,
        "避免的误报 false alarms avoided",
        &c.false_alarms_avoided,
    );
    list(
        &mut h,
        "漏报 confirmed/resolved incidents missed",
        &c.missed,
    );
    if !c.shifted.is_empty() {
        let _ = write!(h, "<h2>时间变化 raised at another time ({})</h2><table><tr><th>baseline</th><th>candidate</th><th>kind</th><th>later by, s</th></tr>", c.shifted.len());
        for s in &c.shifted {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:+.1}</td></tr>",
                esc(&s.baseline.id),
                esc(&s.candidate_id),
                esc(&s.baseline.kind),
                s.later_by_ms as f64 / 1000.0
            );
        }
        h.push_str("</table>");
    }
    list(
        &mut h,
        "新增未研判 new orders nobody judged",
        &c.new_unjudged,
    );
    let differing: Vec<OrderRef> = c.differing.iter().map(|d| d.order.clone()).collect();
    list(&mut h, "不同的工单 orders that differ", &differing);
    h.push_str("</body></html>\n");
    Ok(h)
}

fn table(h: &mut String, title: &str, rows: &[Row]) {
    let _ = write!(
        h,
        "<h2>{}</h2><table><tr><th></th><th>orders base</th><th>orders cand</th><th>multi-source base</th>\
         <th>multi-source cand</th><th>p50 base, s</th><th>p50 cand, s</th><th>p90 base, s</th><th>p90 cand, s</th></tr>",
        esc(title)
    );
    let s = |v: Option<i64>| v.map_or("-".to_owned(), |v| format!("{:.1}", v as f64 / 1000.0));
    for r in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.key),
            r.baseline.orders,
            r.candidate.orders,
            r.baseline.multi_source,
            r.candidate.multi_source,
            s(r.baseline.delay_median_ms),
            s(r.candidate.delay_median_ms),
            s(r.baseline.delay_p90_ms),
            s(r.candidate.delay_p90_ms)
        );
    }
    h.push_str("</table>");
}

fn list(h: &mut String, title: &str, orders: &[OrderRef]) {
    if orders.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<h2>{} ({})</h2><table><tr><th>order</th><th>rule</th><th>kind</th><th>severity</th><th>street</th><th>breach to order, s</th><th>outcome</th></tr>",
        esc(title),
        orders.len()
    );
    for o in orders {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            esc(&o.id),
            esc(&o.rule),
            esc(&o.kind),
            esc(&o.severity),
            esc(o.street.as_deref().unwrap_or("none")),
            o.delay_ms as f64 / 1000.0,
            o.outcome.map_or("", |x| x.name())
        );
    }
    h.push_str("</table>");
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fail(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing the report's plot: {e}")
}

/// Grouped bars: orders per rule, baseline and candidate side by side.
fn per_rule(rows: &[Row]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let n = rows.len().max(1);
        let top = rows
            .iter()
            .map(|r| r.baseline.orders.max(r.candidate.orders))
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..top * 1.1)
            .map_err(fail)?;
        let label = |x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                rows.get(i as usize)
                    .map(|r| r.key.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n + 1)
            .x_label_formatter(&label)
            .y_desc("orders")
            .draw()
            .map_err(fail)?;
        let bar = |i: usize, v: usize, left: bool, color: RGBColor| {
            let x = i as f64;
            let (a, b) = if left { (x - 0.4, x) } else { (x, x + 0.4) };
            Rectangle::new([(a, 0.0), (b, v as f64)], color.filled())
        };
        chart
            .draw_series(
                rows.iter()
                    .enumerate()
                    .map(|(i, r)| bar(i, r.baseline.orders, true, BASE)),
            )
            .map_err(fail)?;
        chart
            .draw_series(
                rows.iter()
                    .enumerate()
                    .map(|(i, r)| bar(i, r.candidate.orders, false, CAND)),
            )
            .map_err(fail)?;
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// Buckets `values` into `bins` counts over `lo..=hi`.
fn histogram(values: impl Iterator<Item = i64>, lo: i64, hi: i64, bins: usize) -> Vec<usize> {
    let mut out = vec![0; bins];
    let span = (hi - lo).max(1) as f64;
    for v in values {
        let i = (((v - lo) as f64 / span) * bins as f64) as usize;
        out[i.min(bins - 1)] += 1;
    }
    out
}

/// Two lines of counts over bins from `lo` to `hi`, x in `unit` ms.
fn lines(
    base: &[usize],
    cand: &[usize],
    lo: i64,
    hi: i64,
    unit: (f64, &str),
    y: &str,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(fail)?;
        let top = base.iter().chain(cand).copied().max().unwrap_or(0).max(1) as f64;
        let x_max = ((hi - lo).max(1) as f64 / unit.0).max(1e-3);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..x_max, 0f64..top * 1.1)
            .map_err(fail)?;
        chart
            .configure_mesh()
            .x_desc(unit.1)
            .y_desc(y)
            .draw()
            .map_err(fail)?;
        let step = x_max / base.len().max(1) as f64;
        for (counts, color) in [(base, BASE), (cand, CAND)] {
            let pts = counts
                .iter()
                .enumerate()
                .map(|(i, &c)| ((i as f64 + 0.5) * step, c as f64));
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(fail)?;
        }
        root.present().map_err(fail)?;
    }
    Ok(svg)
}

/// Orders per time bucket over the replayed range.
fn timeline(base: &[ReplayedOrder], cand: &[ReplayedOrder]) -> Result<String> {
    let all = || base.iter().chain(cand).map(|o| o.ordered_ms);
    let (lo, hi) = (all().min().unwrap_or(0), all().max().unwrap_or(0));
    let bins = 60;
    let b = histogram(base.iter().map(|o| o.ordered_ms), lo, hi, bins);
    let c = histogram(cand.iter().map(|o| o.ordered_ms), lo, hi, bins);
    let unit = if hi - lo > 3 * 3_600_000 {
        (3_600_000.0, "hours from the first order")
    } else {
        (60_000.0, "minutes from the first order")
    };
    lines(&b, &c, lo, hi, unit, "orders per bucket")
}

/// How many orders took how long from the first breaching event.
fn delays(base: &[ReplayedOrder], cand: &[ReplayedOrder]) -> Result<String> {
    let hi = base
        .iter()
        .chain(cand)
        .map(ReplayedOrder::delay_ms)
        .max()
        .unwrap_or(0)
        .max(1_000);
    let bins = 30;
    let b = histogram(base.iter().map(ReplayedOrder::delay_ms), 0, hi, bins);
    let c = histogram(cand.iter().map(ReplayedOrder::delay_ms), 0, hi, bins);
    lines(
        &b,
        &c,
        0,
        hi,
        (1_000.0, "seconds from the first breaching event"),
        "orders",
    )
}
