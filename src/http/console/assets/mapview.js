// The region map: street outlines as SVG (dashed where the map marks a
// boundary approximate), the open orders as pins gathered into clusters
// with counts that split as one zooms in, zoom and pan by wheel, drag,
// buttons and keys, and the chosen order centred. Pins and clusters take
// the keyboard's focus (Enter opens). No map library: the district is
// ten polygons, and the page must work on a closed network.

import { name, t } from "./i18n.js";
import { SEVERITY_RANK } from "./triage.js";

const SVG = "http://www.w3.org/2000/svg";

// Drawn sizes in screen pixels, whatever the zoom.
const PIN_PX = 7;
const CLUSTER_PX = 30;
const LABEL_PX = 13;
const MAX_ZOOM = 64;

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

export class MapView {
  constructor(root, onSelect) {
    this.root = root;
    this.onSelect = onSelect;
    this.project = null;
    this.orders = [];
    this.selected = null;
    this.size = [1000, 1000];
    this.view = { cx: 500, cy: 500, zoom: 1 };
    this.wire();
  }

  // Draws the streets of `body` (GET /api/console/map) and fits the view.
  draw(body) {
    let [minLon, maxLon, minLat, maxLat] = [Infinity, -Infinity, Infinity, -Infinity];
    // A loop, not Math.min(...points): a surveyed map has more points than
    // a call may take arguments.
    for (const s of body.streets) for (const polygon of s.outline) for (const ring of polygon) {
      for (const [lon, lat] of ring) {
        minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
        minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
      }
    }
    // Equirectangular with the longitude shrunk by cos(latitude): true
    // enough over a district.
    const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
    const scale = 1000 / Math.max((maxLon - minLon) * kx, maxLat - minLat);
    const pad = 20;
    this.project = (lon, lat) => [pad + (lon - minLon) * kx * scale, pad + (maxLat - lat) * scale];
    this.size = [(maxLon - minLon) * kx * scale + 2 * pad, (maxLat - minLat) * scale + 2 * pad];
    const streets = svg("g", { id: "streets" });
    const labels = svg("g", { id: "labels" });
    for (const s of body.streets) {
      const d = s.outline
        .flatMap((polygon) => polygon.map((ring) =>
          "M" + ring.map(([lon, lat]) => this.project(lon, lat).map((v) => v.toFixed(1)).join(",")).join("L") + "Z"))
        .join(" ");
      const cls = `street ${s.mine ? "mine" : "other"}${s.approximate ? " approximate" : ""}`;
      const path = svg("path", { d, class: cls, "data-street": s.code });
      const title = svg("title");
      title.textContent = `${s.name} ${s.name_en} (${s.code})`;
      path.append(title);
      streets.append(path);
      const [x, y] = this.centroid(s.outline[0][0]);
      const label = svg("text", { x: x.toFixed(0), y: y.toFixed(0), class: "street-label", "data-street": s.code });
      label.textContent = s.name;
      labels.append(label);
    }
    this.root.replaceChildren(streets, labels, svg("g", { id: "pins" }));
    this.reset();
  }

  // The area-weighted centre of a ring, where its label goes.
  centroid(ring) {
    let [a, cx, cy] = [0, 0, 0];
    const pts = ring.map(([lon, lat]) => this.project(lon, lat));
    for (let i = 0; i < pts.length - 1; i++) {
      const [x0, y0] = pts[i];
      const [x1, y1] = pts[i + 1];
      const f = x0 * y1 - x1 * y0;
      a += f; cx += (x0 + x1) * f; cy += (y0 + y1) * f;
    }
    return a === 0 ? pts[0] : [cx / (3 * a), cy / (3 * a)];
  }

  // Screen pixels per map unit at the current zoom. The map's size on
  // screen is kept by a ResizeObserver: reading it here would make the
  // browser lay out the whole page (a list of thousands) on every redraw.
  pixelsPerUnit() {
    const box = this.box || (this.box = this.root.getBoundingClientRect());
    const [w, h] = this.viewSize();
    return Math.min(box.width / w, box.height / h) || 1;
  }

  viewSize() {
    return [this.size[0] / this.view.zoom, this.size[1] / this.view.zoom];
  }

  applyView() {
    const [w, h] = this.viewSize();
    const v = this.view;
    this.root.setAttribute("viewBox", `${(v.cx - w / 2).toFixed(2)} ${(v.cy - h / 2).toFixed(2)} ${w.toFixed(2)} ${h.toFixed(2)}`);
    this.root.dataset.zoom = v.zoom.toFixed(2);
    const unit = 1 / this.pixelsPerUnit();
    for (const label of this.root.querySelectorAll(".street-label")) label.setAttribute("font-size", (LABEL_PX * unit).toFixed(2));
    this.drawPins();
  }

  reset() {
    this.view = { cx: this.size[0] / 2, cy: this.size[1] / 2, zoom: 1 };
    this.applyView();
  }

  // Zooms by `factor` keeping the map point (x, y) where it is on screen.
  zoomBy(factor, x = this.view.cx, y = this.view.cy) {
    const v = this.view;
    const zoom = Math.min(MAX_ZOOM, Math.max(1, v.zoom * factor));
    const k = v.zoom / zoom;
    this.view = { cx: x + (v.cx - x) * k, cy: y + (v.cy - y) * k, zoom };
    this.applyView();
  }

  panBy(dx, dy) {
    this.view.cx += dx;
    this.view.cy += dy;
    this.applyView();
  }

  // The open orders to draw, and the chosen one (drawn apart from any
  // cluster, so it is always visible).
  setOrders(orders, selected) {
    this.orders = orders;
    this.selected = selected;
    this.drawPins();
  }

  // Centres the map on an order, zoomed in at least enough that it is
  // drawn on its own.
  centre(o) {
    if (!this.project) return;
    const [x, y] = this.project(o.place.lon, o.place.lat);
    this.view = { cx: x, cy: y, zoom: Math.max(this.view.zoom, 2) };
    this.applyView();
  }

  // Orders closer on screen than a cluster's size join the cluster they
  // are near (greedy, the most severe first, so a cluster sits where its
  // worst order is); the counts split as one zooms in. The chosen order
  // always stands alone.
  clusters(unit) {
    const reach = CLUSTER_PX * unit;
    const groups = [];
    const sorted = [...this.orders].sort((a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]);
    for (const o of sorted) {
      const [x, y] = this.project(o.place.lon, o.place.lat);
      const near = o.id === this.selected ? null
        : groups.find((g) => !g.alone && Math.abs(g.x - x) < reach && Math.abs(g.y - y) < reach && Math.hypot(g.x - x, g.y - y) < reach);
      if (near) near.orders.push(o);
      else groups.push({ orders: [o], x, y, alone: o.id === this.selected });
    }
    return groups;
  }

  drawPins() {
    const pins = this.root.querySelector("#pins");
    if (!pins || !this.project) return;
    const unit = 1 / this.pixelsPerUnit();
    const nodes = this.clusters(unit).map((g) => (g.orders.length === 1 ? this.pin(g.orders[0], g, unit) : this.cluster(g, unit)));
    // The most severe on top.
    pins.replaceChildren(...nodes.sort((a, b) => a.dataset.rank - b.dataset.rank));
  }

  pin(o, at, unit) {
    const rank = SEVERITY_RANK[o.severity];
    const street = o.place.street ? o.place.street.name : t("outside");
    const devices = [...new Set((o.events || []).map((e) => e.device))].slice(0, 3).join(", ") || "—";
    const label = t("map.pin", { severity: name("severity", o.severity), category: name("category", o.category), street, devices, id: o.id });
    const g = svg("g", {
      // The chosen order is drawn above everything.
      class: `order-pin${o.id === this.selected ? " selected" : ""}`, "data-order-id": o.id,
      "data-rank": o.id === this.selected ? 10 : rank,
      tabindex: "0", role: "button", "aria-label": label,
    });
    const r = (PIN_PX + rank) * unit;
    if (o.multi_source) {
      g.append(svg("circle", { cx: at.x, cy: at.y, r: r * 1.9, class: `pin-ring ring-${o.severity}` }));
    }
    const dot = svg("circle", { cx: at.x, cy: at.y, r, class: `pin sev-${o.severity}${o.id === this.selected ? " selected" : ""}` });
    const title = svg("title");
    title.textContent = label;
    g.append(dot, title);
    const open = () => this.onSelect(o.id);
    g.addEventListener("click", open);
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); ev.stopPropagation(); open(); } });
    return g;
  }

  cluster(group, unit) {
    const top = group.orders.reduce((m, o) => (SEVERITY_RANK[o.severity] > SEVERITY_RANK[m.severity] ? o : m));
    const n = group.orders.length;
    const label = t("map.cluster", { n });
    const g = svg("g", {
      class: "cluster", "data-count": n, "data-rank": SEVERITY_RANK[top.severity] + 0.5,
      tabindex: "0", role: "button", "aria-label": label,
    });
    const r = (CLUSTER_PX / 2 + Math.min(8, Math.log2(n) * 2)) * unit;
    const text = svg("text", { x: group.x, y: group.y, "font-size": (12 * unit).toFixed(2), class: "cluster-count", dy: "0.35em" });
    text.textContent = String(n);
    const title = svg("title");
    title.textContent = label;
    g.append(svg("circle", { cx: group.x, cy: group.y, r, class: `cluster-dot sev-${top.severity}` }), text, title);
    const open = () => {
      this.view.zoom = Math.min(MAX_ZOOM, this.view.zoom * 2.5);
      this.panTo(group.x, group.y);
    };
    g.addEventListener("click", open);
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); ev.stopPropagation(); open(); } });
    return g;
  }

  panTo(x, y) {
    this.view.cx = x;
    this.view.cy = y;
    this.applyView();
  }

  // The map point under a mouse event.
  pointAt(ev) {
    const box = this.root.getBoundingClientRect();
    const ppu = this.pixelsPerUnit();
    return [this.view.cx + (ev.clientX - box.left - box.width / 2) / ppu, this.view.cy + (ev.clientY - box.top - box.height / 2) / ppu];
  }

  wire() {
    this.root.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const [x, y] = this.pointAt(ev);
      this.zoomBy(ev.deltaY < 0 ? 1.25 : 0.8, x, y);
    }, { passive: false });
    let drag = null;
    this.root.addEventListener("pointerdown", (ev) => {
      if (ev.target.closest(".order-pin, .cluster")) return;
      drag = { x: ev.clientX, y: ev.clientY };
      this.root.setPointerCapture(ev.pointerId);
    });
    this.root.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const ppu = this.pixelsPerUnit();
      this.view.cx -= (ev.clientX - drag.x) / ppu;
      this.view.cy -= (ev.clientY - drag.y) / ppu;
      drag = { x: ev.clientX, y: ev.clientY };
      this.applyView();
    });
    this.root.addEventListener("pointerup", () => { drag = null; });
    this.root.addEventListener("keydown", (ev) => {
      const step = this.viewSize()[0] / 8;
      const keys = {
        ArrowLeft: () => this.panBy(-step, 0), ArrowRight: () => this.panBy(step, 0),
        ArrowUp: () => this.panBy(0, -step), ArrowDown: () => this.panBy(0, step),
        "+": () => this.zoomBy(1.5), "=": () => this.zoomBy(1.5), "-": () => this.zoomBy(1 / 1.5), 0: () => this.reset(),
      };
      if (keys[ev.key] && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        keys[ev.key]();
      }
    });
    new ResizeObserver(([entry]) => {
      this.box = entry.contentRect;
      if (this.project && this.box.width > 0) this.applyView();
    }).observe(this.root);
  }
}
