// The backtest's report drawn in the page from the job's JSON (the
// core's comparison): totals, baseline against candidate; the rows per
// rule, incident kind and street; the false alarms avoided, the
// incidents missed or raised at another time (with the delay), the new
// orders nobody judged, every order that differs; and the three plots.

import { t } from "/console/backtest/words.js";
import { perRule, timeline, delays } from "/console/backtest/plots.js";

function node(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  for (const c of children) n.append(c);
  return n;
}

const seconds = (ms) => (ms == null ? "-" : (ms / 1000).toFixed(1));

function clock(ms) {
  return new Date(ms).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
}

function totals(total) {
  const box = node("div", { class: "totals", id: "totals" });
  for (const side of ["baseline", "candidate"]) {
    const s = total[side];
    const cls = side === "baseline" ? "b" : "c";
    box.append(node("div", { "data-side": side },
      node("span", { class: cls }, t(`report.${side}`)),
      node("b", { class: cls, "data-orders": String(s.orders) }, String(s.orders)),
      `${t("report.orders")} · ${t("report.multi")} ${s.multi_source} · ${t("report.p50")} ${seconds(s.delay_median_ms)} s · ${t("report.p90")} ${seconds(s.delay_p90_ms)} s`));
  }
  return box;
}

function table(id, rows) {
  const head = node("tr", {}, node("th", {}, t("col.key")));
  for (const [label, cls] of [["report.orders", ""], ["report.multi", ""], ["report.p50", ""], ["report.p90", ""]]) {
    head.append(node("th", { class: "b" }, `${t(label)} ${t("report.baseline")}`));
    head.append(node("th", { class: "c" }, `${t(label)} ${t("report.candidate")}${cls}`));
  }
  const body = rows.map((r) => {
    const tr = node("tr", { "data-key": r.key }, node("td", {}, r.key));
    const cells = [
      [r.baseline.orders, r.candidate.orders],
      [r.baseline.multi_source, r.candidate.multi_source],
      [seconds(r.baseline.delay_median_ms), seconds(r.candidate.delay_median_ms)],
      [seconds(r.baseline.delay_p90_ms), seconds(r.candidate.delay_p90_ms)],
    ];
    for (const [b, c] of cells) tr.append(node("td", { class: "b" }, String(b)), node("td", { class: "c" }, String(c)));
    return tr;
  });
  return node("table", { id }, head, ...body);
}

function order(o, extra = "") {
  const street = o.street ?? "-";
  const outcome = o.outcome ? ` · ${t(`outcome.${o.outcome}`)}` : "";
  return node("li", { "data-order-id": o.id },
    `${o.id} · ${o.rule} · ${o.kind} · ${o.severity} · ${street} · ${clock(o.ordered_ms)} · ${t("report.delay", { s: seconds(o.delay_ms) })}${outcome}${extra}`);
}

function list(id, title, items, cls = "") {
  const section = node("section", { id });
  section.append(node("h2", { class: cls }, title));
  section.append(items.length ? node("ul", {}, ...items) : node("p", { class: "hint" }, t("report.none")));
  return section;
}

function figure(title, svg) {
  return node("figure", {}, node("figcaption", {}, title), svg);
}

// Draws `report` into `root`, replacing what was there.
export function drawReport(root, report) {
  root.replaceChildren();
  root.append(node("h2", {}, t("report.totals")), totals(report.total));
  root.append(node("div", { class: "plots", id: "plots" },
    figure(t("plot.rules"), perRule(report.by_rule)),
    figure(t("plot.timeline"), timeline(report)),
    figure(t("plot.delays"), delays(report))));
  const avoided = report.false_alarms_avoided;
  root.append(list("avoided", t("report.avoided", { n: avoided.length }), avoided.map((o) => order(o)), "avoided"));
  root.append(node("p", { class: "hint", id: "kept" }, t("report.kept", { n: report.false_alarms_kept, judged: report.baseline_judged })));
  root.append(list("missed", t("report.missed", { n: report.missed.length }), report.missed.map((o) => order(o)), "missed"));
  const shifted = report.shifted.map((s) => {
    const by = Math.abs(s.later_by_ms / 1000).toFixed(1);
    const when = s.later_by_ms >= 0 ? t("report.later", { s: by }) : t("report.earlier", { s: by });
    return order(s.baseline, ` → ${s.candidate_id} · ${when}`);
  });
  root.append(list("shifted", t("report.shifted", { n: shifted.length }), shifted));
  root.append(list("new", t("report.new", { n: report.new_unjudged.length }), report.new_unjudged.map((o) => order(o))));
  root.append(node("h2", {}, t("report.by_rule")), table("by-rule", report.by_rule));
  root.append(node("h2", {}, t("report.by_kind")), table("by-kind", report.by_kind));
  root.append(node("h2", {}, t("report.by_street")), table("by-street", report.by_street));
  const differing = report.differing.map((d) => order(d.order, ` · ${t(`report.only_${d.only}`)}`));
  root.append(list("differing", t("report.differing", { n: differing.length }), differing));
  root.hidden = false;
}
