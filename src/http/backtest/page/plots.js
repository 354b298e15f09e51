// The report's three plots, drawn as SVG from the report's JSON (what
// `tongguan replay --report` draws with plotters, here in the page):
// orders per rule, baseline beside candidate; a timeline of the orders
// that differ (and of the incidents raised at another time); and the
// distribution of their delays from the first breaching event to the
// order. Baseline is blue (class b), candidate orange (class c).

import { t } from "/console/backtest/words.js";

const NS = "http://www.w3.org/2000/svg";
const W = 400;
const H = 230;
const PAD = { left: 40, right: 12, top: 12, bottom: 40 };

function el(name, attrs = {}, text = "") {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text) node.textContent = text;
  return node;
}

function frame(plot) {
  const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "data-plot": plot });
  svg.append(el("line", { class: "axis", x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom }));
  svg.append(el("line", { class: "axis", x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: H - PAD.bottom }));
  return svg;
}

function empty(svg) {
  svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, t("plot.empty")));
  return svg;
}

// A y axis from 0 to `max` with a few ticks; returns the scale.
function yAxis(svg, max) {
  const top = Math.max(1, max);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const step = Math.max(1, Math.ceil(top / 4));
  for (let v = 0; v <= top; v += step) {
    svg.append(el("text", { x: PAD.left - 4, y: y(v) + 4, "text-anchor": "end" }, String(v)));
  }
  return y;
}

// Orders per rule: one group of two bars per rule.
export function perRule(rows) {
  const svg = frame("rules");
  if (!rows.length) return empty(svg);
  const max = Math.max(...rows.map((r) => Math.max(r.baseline.orders, r.candidate.orders)));
  const y = yAxis(svg, max);
  const group = (W - PAD.left - PAD.right) / rows.length;
  const bar = Math.min(28, group / 3);
  rows.forEach((r, i) => {
    const x = PAD.left + i * group + group / 2;
    for (const [side, dx, cls] of [["baseline", -bar, "bar-b"], ["candidate", 0, "bar-c"]]) {
      const n = r[side].orders;
      svg.append(el("rect", { class: cls, x: x + dx, y: y(n), width: bar - 2, height: y(0) - y(n), "data-key": r.key, "data-side": side }));
    }
    svg.append(el("text", { x, y: H - PAD.bottom + 14, "text-anchor": "middle" }, r.key));
  });
  return svg;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
}

// The orders that differ on a time axis, one row per side; an incident
// raised at another time is a line from its baseline order to its
// candidate order.
export function timeline(report) {
  const svg = frame("timeline");
  const shifted = report.shifted.map((s) => [s.baseline.ordered_ms, s.baseline.ordered_ms + s.later_by_ms]);
  const times = report.differing.map((d) => d.order.ordered_ms).concat(shifted.flat());
  if (!times.length) return empty(svg);
  let lo = Math.min(...times);
  let hi = Math.max(...times);
  if (hi === lo) { lo -= 60000; hi += 60000; }
  const x = (ms) => PAD.left + 10 + ((ms - lo) / (hi - lo)) * (W - PAD.left - PAD.right - 20);
  const row = { baseline: PAD.top + 50, candidate: PAD.top + 120 };
  svg.append(el("text", { x: PAD.left + 4, y: row.baseline - 14, class: "b" }, t("report.baseline")));
  svg.append(el("text", { x: PAD.left + 4, y: row.candidate - 14, class: "c" }, t("report.candidate")));
  for (const [a, b] of shifted) {
    svg.append(el("line", { class: "axis", x1: x(a), y1: row.baseline, x2: x(b), y2: row.candidate }));
  }
  for (const d of report.differing) {
    const cls = d.only === "baseline" ? "dot-b" : "dot-c";
    const dot = el("circle", { class: cls, cx: x(d.order.ordered_ms), cy: row[d.only], r: 5, "data-order-id": d.order.id });
    dot.append(el("title", {}, `${d.order.id} ${d.order.rule} ${clock(d.order.ordered_ms)}`));
    svg.append(dot);
  }
  svg.append(el("text", { x: x(lo), y: H - PAD.bottom + 14, "text-anchor": "start" }, clock(lo)));
  svg.append(el("text", { x: x(hi), y: H - PAD.bottom + 14, "text-anchor": "end" }, clock(hi)));
  return svg;
}

// How many orders that differ took how long from the first breaching
// event, in bins of seconds, per side.
export function delays(report) {
  const svg = frame("delays");
  const values = { baseline: [], candidate: [] };
  for (const d of report.differing) values[d.only].push(d.order.delay_ms / 1000);
  const all = values.baseline.concat(values.candidate);
  if (!all.length) return empty(svg);
  const bins = 8;
  // Whole seconds a bin, at least one.
  const width = Math.max(1, Math.ceil(Math.max(...all) / bins));
  const count = (list) => {
    const n = new Array(bins).fill(0);
    for (const v of list) n[Math.min(bins - 1, Math.floor(v / width))] += 1;
    return n;
  };
  const counts = { baseline: count(values.baseline), candidate: count(values.candidate) };
  const y = yAxis(svg, Math.max(...counts.baseline, ...counts.candidate));
  const slot = (W - PAD.left - PAD.right) / bins;
  for (let i = 0; i < bins; i++) {
    const x = PAD.left + i * slot;
    for (const [side, dx, cls] of [["baseline", 2, "bar-b"], ["candidate", slot / 2, "bar-c"]]) {
      const n = counts[side][i];
      if (n) svg.append(el("rect", { class: cls, x: x + dx, y: y(n), width: slot / 2 - 3, height: y(0) - y(n) }));
    }
    svg.append(el("text", { x, y: H - PAD.bottom + 14, "text-anchor": "start" }, `${i * width}s`));
  }
  return svg;
}
