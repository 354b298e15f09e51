// Plain SVG charts for the district's efficiency plots: bars (a row of
// values over labelled slots, e.g. hours or time bins), a line of shares
// with its points, and horizontal stacked bars per street. No library:
// each chart is an <svg role="img"> with a title and a description the
// screen reader reads, and every mark carries its value in data-n (and a
// <title> for the pointer), so the page's test reads what is drawn.

const NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function title(text) {
  return svgEl("title", {}, text);
}

// An <svg> of `width` × `height` named `label` (its accessible name) and
// described by `summary`.
function frame(width, height, label, summary) {
  const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label, class: "chart" });
  svg.append(title(label), svgEl("desc", {}, summary));
  return svg;
}

// A round upper bound for an axis whose largest value is `max`.
function ceiling(max) {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * step >= max) return m * step;
  return 10 * step;
}

// Bars of `values` over slots named `labels` (every `tick`-th label is
// written under the axis). `top` fixes the axis (shared by small
// multiples), else it fits the values. `name(i, v)` is each bar's title.
export function bars(values, { labels, label, summary, width = 360, height = 120, top = null, tick = 1, name, cls = "bar" }) {
  const pad = { l: 30, r: 6, t: 8, b: 20 };
  const svg = frame(width, height, label, summary);
  const max = top ?? ceiling(Math.max(0, ...values));
  const w = (width - pad.l - pad.r) / Math.max(1, values.length);
  const h = height - pad.t - pad.b;
  svg.append(
    svgEl("line", { x1: pad.l, y1: pad.t + h, x2: width - pad.r, y2: pad.t + h, class: "axis" }),
    svgEl("text", { x: pad.l - 4, y: pad.t + 8, class: "tick end" }, String(max)),
    svgEl("text", { x: pad.l - 4, y: pad.t + h, class: "tick end" }, "0"),
  );
  values.forEach((v, i) => {
    const bh = max > 0 ? (v / max) * h : 0;
    const bar = svgEl("rect", {
      x: (pad.l + i * w + 1).toFixed(1), y: (pad.t + h - bh).toFixed(1),
      width: Math.max(1, w - 2).toFixed(1), height: bh.toFixed(1), class: cls, "data-n": v, "data-slot": i,
    }, title(name ? name(i, v) : `${labels[i]}: ${v}`));
    svg.append(bar);
    if (i % tick === 0 && labels[i] !== undefined) {
      svg.append(svgEl("text", { x: (pad.l + i * w + w / 2).toFixed(1), y: height - 6, class: "tick mid" }, labels[i]));
    }
  });
  return svg;
}

// A line through the shares (0..1) that are known (null: no value in
// that slot), a point on each, over slots named `labels`.
export function shareLine(shares, { labels, label, summary, width = 520, height = 150, tick = 3, name }) {
  const pad = { l: 40, r: 8, t: 10, b: 20 };
  const svg = frame(width, height, label, summary);
  const w = (width - pad.l - pad.r) / Math.max(1, shares.length);
  const h = height - pad.t - pad.b;
  const x = (i) => pad.l + i * w + w / 2;
  const y = (s) => pad.t + h - s * h;
  for (const s of [0, 0.5, 1]) {
    svg.append(
      svgEl("line", { x1: pad.l, y1: y(s), x2: width - pad.r, y2: y(s), class: s === 0 ? "axis" : "grid" }),
      svgEl("text", { x: pad.l - 4, y: y(s) + 4, class: "tick end" }, `${s * 100}%`),
    );
  }
  const known = shares.map((s, i) => [s, i]).filter(([s]) => s !== null);
  if (known.length > 1) {
    const d = known.map(([s, i], k) => `${k ? "L" : "M"}${x(i).toFixed(1)},${y(s).toFixed(1)}`).join(" ");
    svg.append(svgEl("path", { d, class: "share-line" }));
  }
  for (const [s, i] of known) {
    svg.append(svgEl("circle", { cx: x(i).toFixed(1), cy: y(s).toFixed(1), r: 3.5, class: "share-point", "data-n": s.toFixed(4), "data-slot": i },
      title(name ? name(i, s) : `${labels[i]}: ${(s * 100).toFixed(0)}%`)));
  }
  shares.forEach((_, i) => {
    if (i % tick === 0) svg.append(svgEl("text", { x: x(i).toFixed(1), y: height - 6, class: "tick mid" }, labels[i]));
  });
  return svg;
}

// Horizontal stacked bars, one per row (a street), a segment per series:
// `rows` are {label, values: [..]}, `series` are {name, cls}; the values
// are written after the bar, "a / b / c" in the series' order.
export function stackedBars(rows, series, { label, summary, barWidth = 320 }) {
  // Room for the longest label: a CJK character is about as wide as the
  // font is high, a Latin one about half of it (10 px text).
  const textWidth = (s) => [...s].reduce((w, ch) => w + (ch.charCodeAt(0) > 0x2e80 ? 10.5 : 5.8), 0);
  const pad = { l: Math.ceil(12 + Math.max(0, ...rows.map((r) => textWidth(r.label)))), r: 70, t: 4, b: 4 };
  const width = pad.l + barWidth + pad.r;
  const rowH = 18;
  const height = pad.t + pad.b + rows.length * rowH;
  const svg = frame(width, height, label, summary);
  const max = ceiling(Math.max(1, ...rows.map((r) => r.values.reduce((a, b) => a + b, 0))));
  const w = width - pad.l - pad.r;
  rows.forEach((r, k) => {
    const y = pad.t + k * rowH;
    svg.append(svgEl("text", { x: pad.l - 6, y: y + 13, class: "tick end" }, r.label));
    let x = pad.l;
    r.values.forEach((v, j) => {
      const bw = (v / max) * w;
      svg.append(svgEl("rect", { x: x.toFixed(1), y: y + 3, width: bw.toFixed(1), height: 12, class: series[j].cls, "data-n": v, "data-row": k },
        title(`${r.label} · ${series[j].name}: ${v}`)));
      x += bw;
    });
    const total = r.values.reduce((a, b) => a + b, 0);
    svg.append(svgEl("text", { x: (x + 6).toFixed(1), y: y + 13, class: total ? "tick value" : "tick" }, r.values.join(" / ")));
  });
  return svg;
}
