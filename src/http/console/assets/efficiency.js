// The district's efficiency in plots (一网评效), in the district view:
// per street, orders per hour over the last day (small multiples on one
// scale); the distributions of the time to accept and to resolve; the
// false-alarm share hour by hour; overdue counts per street. Drawn in
// plain SVG (charts.js) from GET /api/orders/efficiency.

import { api } from "./api.js";
import { bars, shareLine, stackedBars } from "./charts.js";
import { $, el } from "./dom.js";
import { duration, hourOfDay } from "./format.js";
import { lang, t } from "./i18n.js";

// The bins' names from their upper edges (seconds), each by where it
// starts: "<30秒", "30秒起", "1分起", ... ("<30 s", "30 s+", ...).
function binLabels(edges) {
  const zh = lang() === "zh";
  const d = (s) => s < 60 ? (zh ? `${s}秒` : `${s} s`) : s < 3600 ? (zh ? `${s / 60}分` : `${s / 60} min`) : (zh ? `${s / 3600}小时` : `${s / 3600} h`);
  return [`<${d(edges[0])}`, ...edges.map((e) => (zh ? `${d(e)}起` : `${d(e)}+`))];
}

function streetName(s) {
  return lang() === "zh" ? s.name : s.name_en || s.name;
}

function figure(id, caption, chart, note = null) {
  return el("figure", { id, class: "plot" }, el("figcaption", {}, caption), chart, note ? el("p", { class: "plot-note" }, note) : null);
}

export async function loadEfficiency() {
  const { body } = await api("/api/orders/efficiency?hours=24");
  const hours = body.hours.map((ms) => hourOfDay(ms));
  const box = $("efficiency");
  const busy = body.streets.filter((s) => s.orders > 0);
  const shown = busy.length ? busy : body.streets.slice(0, 1);
  const top = Math.max(1, ...shown.flatMap((s) => s.per_hour));

  // Orders per hour, one small chart per street with orders, one scale.
  const perHour = el("div", { class: "multiples" }, ...shown.map((s) =>
    el("div", { class: "multiple", "data-street": s.code },
      el("h3", {}, `${streetName(s)} · ${t("eff.orders_n", { n: s.orders })}`),
      bars(s.per_hour, {
        labels: hours, tick: 6, top: ceilingOf(top), width: 300, height: 100,
        label: t("eff.per_hour_of", { street: streetName(s) }),
        summary: t("eff.per_hour_summary", { n: s.orders, max: Math.max(...s.per_hour) }),
        name: (i, v) => t("eff.hour_bar", { hour: hours[i], n: v }),
      }))));
  const quiet = body.streets.length - busy.length;

  const accept = histogram(body.accept, "accept");
  const resolve = histogram(body.resolve, "resolve");

  // The false-alarm share, where there were acknowledgements that hour.
  const fa = body.false_alarms;
  const shares = fa.acked.map((n, i) => (n > 0 ? fa.false_alarms[i] / n : null));
  const acked = fa.acked.reduce((a, b) => a + b, 0);
  const falseN = fa.false_alarms.reduce((a, b) => a + b, 0);
  const share = shareLine(shares, {
    labels: hours, tick: 3,
    label: t("eff.false_share"),
    summary: t("eff.false_summary", { acked, n: falseN }),
    name: (i, s) => t("eff.false_point", { hour: hours[i], pct: (s * 100).toFixed(0), n: fa.false_alarms[i], of: fa.acked[i] }),
  });

  // Overdue counts per street (every street, so a quiet one shows as 0).
  const series = [
    { name: t("eff.overdue_open"), cls: "bar-overdue" },
    { name: t("eff.resolved_late"), cls: "bar-late" },
    { name: t("eff.escalated"), cls: "bar-escalated" },
  ];
  const rows = body.streets.map((s) => ({ label: streetName(s), values: [s.overdue_open, s.resolved_late, s.escalated] }));
  const overdueN = rows.reduce((n, r) => n + r.values[0], 0);
  const overdue = stackedBars(rows, series, {
    label: t("eff.overdue"), summary: t("eff.overdue_summary", { n: overdueN }),
  });
  const legend = el("p", { class: "plot-legend" }, ...series.flatMap((s) => [el("span", { class: `swatch ${s.cls}` }), s.name + " "]),
    t("eff.overdue_order"));

  // Per street, the same figures as numbers (the streets with orders).
  const pct = (n, of) => (of ? `${((n / of) * 100).toFixed(0)}% (${n}/${of})` : "—");
  const perStreet = el("table", { class: "list-table", id: "eff-streets" },
    el("thead", {}, el("tr", {}, ...["th.street", "th.orders", "eff.th_accept", "eff.th_resolve", "eff.th_false", "eff.th_overdue"]
      .map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, ...shown.map((s) => el("tr", { "data-street": s.code },
      el("td", {}, streetName(s)), el("td", {}, String(s.orders)),
      el("td", {}, `${secs(s.accept.p50_s)} / ${secs(s.accept.p90_s)}`),
      el("td", {}, `${secs(s.resolve.p50_s)} / ${secs(s.resolve.p90_s)}`),
      el("td", {}, pct(s.false_alarms, s.acked)), el("td", {}, String(s.overdue_open))))));

  box.replaceChildren(...[
    el("h2", {}, t("eff.heading", { n: body.orders })),
    body.truncated ? el("p", { class: "plot-note" }, t("eff.truncated")) : null,
    figure("plot-per-hour", t("eff.per_hour"), perHour, quiet > 0 ? t("eff.quiet", { n: quiet }) : null),
    el("div", { class: "plot-row" },
      figure("plot-accept", t("eff.accept", { p50: secs(body.accept.p50_s), p90: secs(body.accept.p90_s), n: body.accept.n }), accept),
      figure("plot-resolve", t("eff.resolve", { p50: secs(body.resolve.p50_s), p90: secs(body.resolve.p90_s), n: body.resolve.n }), resolve)),
    figure("plot-streets", t("eff.streets"), perStreet),
    el("div", { class: "plot-row" },
      figure("plot-false", t("eff.false_share"), share, acked ? null : t("eff.no_acks")),
      el("figure", { id: "plot-overdue", class: "plot" }, el("figcaption", {}, t("eff.overdue")), overdue, legend)),
  ].filter(Boolean));
  box.dataset.orders = String(body.orders);
  return body;
}

function ceilingOf(max) {
  const step = 10 ** Math.floor(Math.log10(Math.max(1, max)));
  for (const m of [1, 2, 5, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

function secs(v) {
  return v === null || v === undefined ? "—" : duration(v * 1000);
}

function histogram(h, kind) {
  const labels = binLabels(h.edges_s);
  return bars(h.counts, {
    labels, width: 460, height: 130, cls: `bar bar-${kind}`,
    label: t(`eff.${kind}_dist`),
    summary: t("eff.dist_summary", { n: h.n, p50: secs(h.p50_s), p90: secs(h.p90_s) }),
    name: (i, v) => t("eff.bin_bar", { bin: labels[i], n: v }),
  });
}
