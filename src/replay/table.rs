//! The replay's answer on the terminal: totals, per rule and per street,
//! then what the judgements say (false alarms avoided, incidents missed
//! or raised at another time, new orders nobody judged) and the orders
//! that differ, a line each. Chinese first where duty officers read it.

use std::fmt::Write;
use tongguan_core::replay::compare::{Comparison, OrderRef, Row, Side};

/// Orders of a list printed before "... and N more".
const LIST_MAX: usize = 30;

/// The whole table.
pub fn render(c: &Comparison, street_name: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    rows(
        &mut out,
        "按规则 by rule",
        std::slice::from_ref(&c.total),
        &|k| k.to_owned(),
    );
    rows(&mut out, "", &c.by_rule, &|k| k.to_owned());
    rows(
        &mut out,
        "按事件类型 by incident kind",
        &c.by_kind,
        &|k| k.to_owned(),
    );
    rows(&mut out, "按街镇 by street", &c.by_street, street_name);
    let _ = writeln!(
        out,
        "\n研判 judged in the outbox: {} baseline orders; false alarms still raised: {}",
        c.baseline_judged, c.false_alarms_kept
    );
    list(
        &mut out,
        "避免的误报 false alarms avoided",
        &c.false_alarms_avoided,
    );
    list(
        &mut out,
        "漏报 confirmed/resolved incidents missed",
        &c.missed,
    );
    if !c.shifted.is_empty() {
        let _ = writeln!(
            out,
            "\n时间变化 confirmed/resolved raised at another time: {}",
            c.shifted.len()
        );
        for s in c.shifted.iter().take(LIST_MAX) {
            let _ = writeln!(
                out,
                "  {} -> {}  {}  {:+.1} s",
                s.baseline.id,
                s.candidate_id,
                s.baseline.kind,
                s.later_by_ms as f64 / 1000.0
            );
        }
    }
    list(
        &mut out,
        "新增未研判 new orders nobody judged",
        &c.new_unjudged,
    );
    let _ = writeln!(
        out,
        "\n不同的工单 orders that differ: {}",
        c.differing.len()
    );
    out
}

fn rows(out: &mut String, title: &str, rows: &[Row], name: &dyn Fn(&str) -> String) {
    if !title.is_empty() {
        let _ = writeln!(
            out,
            "\n{title}\n  {:<28} {:>9} {:>9} {:>7} {:>7} {:>18} {:>18}",
            "", "orders", "", "multi", "", "delay p50/p90 s", ""
        );
        let _ = writeln!(
            out,
            "  {:<28} {:>9} {:>9} {:>7} {:>7} {:>18} {:>18}",
            "", "baseline", "candidate", "base", "cand", "baseline", "candidate"
        );
    }
    for r in rows {
        let _ = writeln!(
            out,
            "  {:<28} {:>9} {:>9} {:>7} {:>7} {:>18} {:>18}",
            name(&r.key),
            r.baseline.orders,
            r.candidate.orders,
            r.baseline.multi_source,
            r.candidate.multi_source,
            delays(&r.baseline),
            delays(&r.candidate)
        );
    }
}

fn delays(s: &Side) -> String {
    match (s.delay_median_ms, s.delay_p90_ms) {
        (Some(m), Some(p)) => format!("{:.1} / {:.1}", m as f64 / 1000.0, p as f64 / 1000.0),
        _ => "-".into(),
    }
}

fn list(out: &mut String, title: &str, orders: &[OrderRef]) {
    if orders.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{title}: {}", orders.len());
    for o in orders.iter().take(LIST_MAX) {
        let _ = writeln!(
            out,
            "  {}  {} {} {}  street {}  breach to order {:.1} s{}",
            o.id,
            o.rule,
            o.kind,
            o.severity,
            o.street.as_deref().unwrap_or("none"),
            o.delay_ms as f64 / 1000.0,
            o.outcome
                .map_or(String::new(), |x| format!("  ({})", x.name()))
        );
    }
    if orders.len() > LIST_MAX {
        let _ = writeln!(
            out,
            "  ... and {} more (--json lists them all)",
            orders.len() - LIST_MAX
        );
    }
}
