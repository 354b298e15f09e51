// The console: sign in with a street or district token, draw the region
// map as SVG with the open orders on it, list and show orders, acknowledge
// them, and (for the district) show how each street keeps up. Plain
// JavaScript without a build step or a library: the hub serves this file
// as it is, and the page must work on a closed network.

const SVG = "http://www.w3.org/2000/svg";
const SEVERITY_RANK = { critical: 4, major: 3, moderate: 2, minor: 1 };
const SEVERITY_NAME = { critical: "特别重大", major: "重大", moderate: "较大", minor: "一般" };
const STATUS_NAME = { open: "待处置", escalated: "已督办", acked: "已反馈" };
const OUTCOME_NAME = { confirmed: "属实 confirmed", false_alarm: "误报 false alarm", resolved: "已处置 resolved" };
const SOURCE_NAME = { sensor: "物联感知", video: "视频分析", hotline: "12345热线", patrol: "网格巡查" };
const CATEGORY_NAME = {
  smoke: "烟感", fire: "视频烟火", water_level: "水位", waterlogging: "积水", gas: "燃气",
  manhole: "井盖", crowd_density: "人群密度", illegal_parking: "违停", garbage_overflow: "垃圾满溢",
  structural_strain: "结构应力", noise_complaint: "噪声投诉",
};

const state = {
  token: sessionStorage.getItem("tongguan-token") || "",
  session: null,
  orders: new Map(),
  selected: null,
  project: null,
  streamAbort: null,
  detailTimer: null,
  // Bumped at sign-out: an answer to a call of an earlier session is
  // dropped, so one officer's orders never show on the next one's screen.
  epoch: 0,
  districtTimer: null,
  sessionTimer: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

class Unauthorized extends Error {}

class Stale extends Error {}

async function api(path, options = {}) {
  const epoch = state.epoch;
  const res = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
  });
  const body = await res.json().catch(() => ({}));
  if (epoch !== state.epoch) throw new Stale("signed out meanwhile");
  if (res.status === 401) throw new Unauthorized(body.error || "signed out");
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return { status: res.status, body };
}

// ---------------------------------------------------------------- sign in

async function signIn(token) {
  state.token = token;
  const { body } = await api("/api/console/session");
  state.session = body;
  sessionStorage.setItem("tongguan-token", token);
  $("login").hidden = true;
  $("app").hidden = false;
  const district = body.scope === "district";
  $("who").textContent = district
    ? `区值班台 District duty desk · ${body.name}`
    : `${body.street.name} ${body.street.name_en} · ${body.street.code}`;
  $("mode").hidden = !body.emergency;
  $("tab-district").hidden = !district;
  // The mode (平急转换) can change while the console is open.
  clearInterval(state.sessionTimer);
  state.sessionTimer = setInterval(() => {
    api("/api/console/session")
      .then(({ body }) => { $("mode").hidden = !body.emergency; })
      .catch(failed);
  }, 30000);
  showTab("orders");
  await drawMap();
  // The list is loaded when the stream says hello, so nothing committed
  // between the two is missed.
  startStream();
}

function signOut(message = "") {
  state.epoch += 1;
  if (state.streamAbort) state.streamAbort.abort();
  clearInterval(state.detailTimer);
  clearInterval(state.sessionTimer);
  clearTimeout(state.districtTimer);
  sessionStorage.removeItem("tongguan-token");
  Object.assign(state, {
    token: "", session: null, selected: null, streamAbort: null, districtTimer: null, sessionTimer: null,
  });
  state.orders.clear();
  $("order-list").replaceChildren();
  $("map").replaceChildren();
  $("detail-pane").replaceChildren(el("p", { class: "empty" }, "选择一个工单 Select an order on the map or in the list."));
  $("app").hidden = true;
  $("login").hidden = false;
  $("token").value = "";
  $("login-error").textContent = message;
}

function failed(err) {
  if (err instanceof Stale) return;
  if (err instanceof Unauthorized) signOut(err.message);
  else console.error(err);
}

// -------------------------------------------------------------------- map

async function drawMap() {
  const { body } = await api("/api/console/map");
  // A loop, not Math.min(...points): a surveyed map has more points than
  // a call may take arguments.
  let [minLon, maxLon, minLat, maxLat] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const s of body.streets) {
    for (const polygon of s.outline) {
      for (const ring of polygon) {
        for (const [lon, lat] of ring) {
          minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
          minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
        }
      }
    }
  }
  // Equirectangular with the longitude shrunk by cos(latitude): true
  // enough over a district.
  const kx = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const scale = 1000 / Math.max((maxLon - minLon) * kx, maxLat - minLat);
  const pad = 20;
  state.project = (lon, lat) => [pad + (lon - minLon) * kx * scale, pad + (maxLat - lat) * scale];
  const width = (maxLon - minLon) * kx * scale + 2 * pad;
  const height = (maxLat - minLat) * scale + 2 * pad;
  const map = $("map");
  map.setAttribute("viewBox", `0 0 ${width.toFixed(0)} ${height.toFixed(0)}`);
  const streets = svg("g", { id: "streets" });
  const labels = svg("g", { id: "labels" });
  for (const s of body.streets) {
    const d = s.outline
      .flatMap((polygon) => polygon.map((ring) =>
        "M" + ring.map(([lon, lat]) => state.project(lon, lat).map((v) => v.toFixed(1)).join(",")).join("L") + "Z"))
      .join(" ");
    const path = svg("path", { d, class: `street ${s.mine ? "mine" : "other"}`, "data-street": s.code });
    const title = svg("title");
    title.textContent = `${s.name} ${s.name_en} (${s.code})`;
    path.append(title);
    streets.append(path);
    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const [lon, lat] of s.outline[0][0]) {
      const [x, y] = state.project(lon, lat);
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
    const label = svg("text", { x: ((x0 + x1) / 2).toFixed(0), y: ((y0 + y1) / 2).toFixed(0), class: "street-label" });
    label.textContent = s.name;
    labels.append(label);
  }
  map.replaceChildren(streets, labels, svg("g", { id: "pins" }));
  $("map-note").textContent = body.approximate
    ? "边界为示意（近似） Boundaries are approximate: the sample map, not a surveyed one."
    : "";
}

function drawPins() {
  const pins = $("map").querySelector("#pins");
  if (!pins || !state.project) return;
  pins.replaceChildren();
  const open = [...state.orders.values()]
    .filter((o) => o.status !== "acked" && visible(o))
    .sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]);
  for (const o of open) {
    const [x, y] = state.project(o.place.lon, o.place.lat);
    const g = svg("g", { class: "order-pin", "data-order-id": o.id });
    if (o.multi_source) {
      g.append(svg("circle", { cx: x, cy: y, r: 22 + 2 * SEVERITY_RANK[o.severity], class: `pin-ring ring-${o.severity}` }));
    }
    const dot = svg("circle", {
      cx: x, cy: y, r: 10 + 2 * SEVERITY_RANK[o.severity],
      class: `pin sev-${o.severity}${o.id === state.selected ? " selected" : ""}`,
    });
    const title = svg("title");
    title.textContent = `${SEVERITY_NAME[o.severity]} ${CATEGORY_NAME[o.category] || o.category} · ${o.id}`;
    dot.append(title);
    dot.addEventListener("click", () => select(o.id));
    g.append(dot);
    pins.append(g);
  }
}

// ------------------------------------------------------------------ orders

// Every order still to be handled, and the newest acknowledged ones.
const ACKED_SHOWN = 200;

async function reloadOrders() {
  const [open, escalated, acked] = await Promise.all(["open", "escalated", "acked"].map((status) =>
    api(`/api/console/orders?status=${status}&limit=${status === "acked" ? ACKED_SHOWN : 10000}`)));
  const fresh = new Map();
  for (const { body } of [open, escalated, acked]) for (const o of body.orders) fresh.set(o.id, o);
  // Keep what the stream brought meanwhile when it is newer.
  for (const o of state.orders.values()) if (fresh.has(o.id)) merge(fresh, o);
  state.orders = fresh;
  state.hidden = acked.body.count - acked.body.orders.length;
  render();
}

// Puts `o` in `orders` unless what is there is newer: a later revision,
// or the same revision already acknowledged (an ack never comes undone).
function merge(orders, o) {
  const known = orders.get(o.id);
  if (known && (known.revision > o.revision || (known.revision === o.revision && known.status === "acked" && o.status !== "acked"))) {
    return false;
  }
  orders.set(o.id, o);
  return true;
}

function visible(o) {
  const sev = $("filter-severity").value;
  const status = $("filter-status").value;
  return (!sev || o.severity === sev) && (!status || o.status === status);
}

function render() {
  const all = [...state.orders.values()].sort((a, b) => b.created_ms - a.created_ms || (a.id < b.id ? 1 : -1));
  const shown = all.filter(visible);
  $("count").textContent = `${shown.length} / ${all.length}` +
    (state.hidden > 0 ? ` (+${state.hidden} 更早已反馈 older acked not shown)` : "");
  $("order-list").replaceChildren(...shown.map(listItem));
  drawPins();
}

function listItem(o) {
  const li = el("li", {
    class: `order border-${o.severity} ${o.status}${o.id === state.selected ? " selected" : ""}`,
    "data-order-id": o.id,
  },
  el("div", { class: "item-top" },
    el("strong", {}, `${SEVERITY_NAME[o.severity]} · ${CATEGORY_NAME[o.category] || o.category}`),
    o.multi_source ? el("span", { class: "badge multi" }, "多源 multi-source") : null,
    el("span", { class: `badge status-${o.status}` }, `${STATUS_NAME[o.status]} ${o.status}`),
    o.status !== "acked" && o.deadline_ms < Date.now() ? el("span", { class: "badge overdue" }, "超时 overdue") : null),
  el("div", { class: "item-sub" },
    `${o.place.street ? o.place.street.name : "区外 outside streets"} · ${time(o.created_ms)} · ${o.id}` +
    (o.revision > 1 ? ` · r${o.revision}` : "")));
  li.addEventListener("click", () => select(o.id));
  return li;
}

async function select(id) {
  state.selected = id;
  render();
  try {
    const { body } = await api(`/api/console/orders/${encodeURIComponent(id)}`);
    if (state.selected === id) showDetail(body);
  } catch (err) {
    failed(err);
  }
}

function showDetail(o) {
  clearInterval(state.detailTimer);
  const left = el("span", { id: "time-left" });
  const tick = () => {
    if (o.status === "acked") {
      left.textContent = "已反馈 acknowledged";
      left.className = "";
      return;
    }
    const ms = o.deadline_ms - Date.now();
    left.textContent = ms >= 0 ? `剩余 ${duration(ms)} left` : `已超时 ${duration(-ms)} overdue`;
    left.className = ms >= 0 ? "" : "overdue";
  };
  tick();
  state.detailTimer = setInterval(tick, 1000);

  const events = el("table", {},
    el("thead", {}, el("tr", {}, ...["设备 device", "来源 source", "类别 category", "值 value", "时间 time", "摄像头 camera"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...o.events.flatMap((e) => [
      el("tr", {},
        el("td", {}, String(e.device)), el("td", {}, SOURCE_NAME[e.source] || e.source),
        el("td", {}, CATEGORY_NAME[e.category] || e.category), el("td", {}, String(e.value)),
        el("td", {}, time(e.time_ms)), el("td", {}, e.camera || "")),
      e.report ? el("tr", {}, el("td", { colSpan: 6, class: "item-sub" }, e.report)) : null,
    ].filter(Boolean))));

  const history = el("ul", { id: "history" }, ...(o.history || []).map((h) =>
    el("li", {}, `${time(h.at_ms)} ${h.what}${h.detail ? ": " + h.detail : ""}`)));

  const pane = $("detail-pane");
  const parts = [
    el("h2", { id: "detail-title" }, `${SEVERITY_NAME[o.severity]} ${CATEGORY_NAME[o.category] || o.category} · ${o.incident_kind}`),
    el("div", { class: "item-sub" }, `${o.id} · 第 ${o.revision} 版 revision ${o.revision}`),
    el("dl", {},
      el("dt", {}, "状态 Status"), el("dd", { id: "detail-status" }, `${STATUS_NAME[o.status]} ${o.status}`),
      el("dt", {}, "地点 Place"), el("dd", {}, `${o.place.street ? `${o.place.street.name} ${o.place.street.code}` : "区外"} · ${o.place.lat.toFixed(5)}, ${o.place.lon.toFixed(5)} · H3 ${o.place.cell}`),
      el("dt", {}, "来源 Sources"), el("dd", {}, o.sources.map((s) => SOURCE_NAME[s] || s).join("、") + (o.multi_source ? " （多源预警 multi-source）" : "")),
      el("dt", {}, "事件 Events"), el("dd", {}, `${o.event_count} (${time(o.first_seen_ms)} – ${time(o.last_seen_ms)})`),
      el("dt", {}, "时限 Deadline"), el("dd", {}, `${time(o.deadline_ms)} · `, left),
      el("dt", {}, "视频调阅 Camera"), el("dd", { id: "detail-camera" }, o.camera || "—"),
      o.escalation_of ? el("dt", {}, "督办 Escalation of") : null,
      o.escalation_of ? el("dd", {}, o.escalation_of) : null,
      o.ack ? el("dt", {}, "反馈 Ack") : null,
      o.ack ? el("dd", { id: "detail-ack" }, `${OUTCOME_NAME[o.ack.outcome]} · ${o.ack.by} · ${time(o.ack.at_ms)}${o.ack.note ? " · " + o.ack.note : ""}`) : null),
    el("h3", {}, "处置方案 Disposal plan"),
    el("div", { class: "plan" }, o.plan),
    el("h3", {}, "事件 Events"),
    events,
    o.status === "acked" ? null : ackForm(o),
    el("h3", {}, "经过 History"),
    history];
  pane.replaceChildren(...parts.filter(Boolean));
}

function ackForm(o) {
  const outcome = el("select", { id: "ack-outcome", name: "outcome" },
    ...Object.entries(OUTCOME_NAME).map(([v, label]) => el("option", { value: v }, label)));
  const note = el("textarea", { id: "ack-note", name: "note", placeholder: "处置说明 note (personal data is masked)" });
  const message = el("p", { id: "ack-message" });
  const button = el("button", { id: "ack-button", type: "submit" }, "反馈 Acknowledge");
  const form = el("form", { id: "ack-form" },
    el("strong", {}, "反馈处置结果 Acknowledge"), outcome, note, button, message);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    message.className = "";
    message.textContent = "提交中 sending…";
    try {
      const { status, body } = await api(`/api/console/orders/${encodeURIComponent(o.id)}/ack`, {
        method: "POST",
        body: JSON.stringify({ outcome: outcome.value, note: note.value }),
      });
      if (status === 202) {
        // The form goes: the order redraws when the stream brings the ack.
        form.replaceWith(el("p", { id: "ack-message" }, "已排队，稍后生效 queued: it shows once recorded"));
        return;
      }
      merge(state.orders, { ...body, history: undefined });
      render();
      if (state.selected === body.id) showDetail(body);
    } catch (err) {
      if (err instanceof Unauthorized || err instanceof Stale) return failed(err);
      message.className = "error";
      message.textContent = err.message;
      button.disabled = false;
    }
  });
  return form;
}

// ------------------------------------------------------------ live stream

async function startStream() {
  const controller = new AbortController();
  state.streamAbort = controller;
  let delay = 500;
  while (!controller.signal.aborted) {
    try {
      const res = await fetch("/api/console/stream", {
        headers: { Authorization: `Bearer ${state.token}`, Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (res.status === 401) return signOut("令牌已失效 the token is no longer accepted");
      if (!res.ok) throw new Error(`stream: ${res.status}`);
      setLive(true);
      delay = 500;
      await readEvents(res.body, onEvent, controller.signal);
    } catch (err) {
      if (controller.signal.aborted) return;
      console.warn("live updates interrupted", err);
    }
    setLive(false);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10000);
    // Whatever changed while disconnected comes with the next hello.
  }
}

// The hub sends a keep-alive every 15 s: a stream silent for longer is
// dead even if the connection does not say so.
const STREAM_SILENCE_MS = 35000;

// Server-sent events framing: "event:" and "data:" lines, a blank line
// ends one event, ":" starts a comment (the keep-alive).
async function readEvents(body, handle, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { type: "message", data: [] };
  let watchdog;
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => reader.cancel("silent").catch(() => {}), STREAM_SILENCE_MS);
  };
  signal.addEventListener("abort", () => clearTimeout(watchdog), { once: true });
  for (;;) {
    arm();
    const { value, done } = await reader.read().catch(() => ({ done: true }));
    if (done) {
      clearTimeout(watchdog);
      return;
    }
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (event.data.length) handle(event.type, event.data.join("\n"));
        event = { type: "message", data: [] };
      } else if (line.startsWith("event:")) {
        event.type = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        event.data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
}

function onEvent(type, data) {
  if (type === "order") {
    const o = JSON.parse(data);
    const isNew = !state.orders.has(o.id);
    if (!merge(state.orders, o)) return;
    if (isNew && o.status !== "acked") announce(o);
    render();
    if (state.selected === o.id && !typing()) select(o.id);
    if (!$("district-view").hidden) refreshDistrictSoon();
  } else if (type === "hello" || type === "resync") {
    reloadOrders().catch(failed);
  }
}

// A new order while the officer looks elsewhere: the tab's title counts
// them until the page is looked at again, and a critical one beeps (the
// sign-in click has allowed the page to play sound).
let unseen = 0;
const TITLE = document.title;
function announce(o) {
  if (document.hasFocus() && document.visibilityState === "visible") return beep(o);
  unseen += 1;
  document.title = `(${unseen}) 新工单 new orders · ${TITLE}`;
  beep(o);
}
function seen() {
  unseen = 0;
  document.title = TITLE;
}
let audio = null;
function beep(o) {
  if (o.severity !== "critical") return;
  try {
    audio = audio || new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.15;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  } catch (err) {
    console.warn("no sound", err);
  }
}
window.addEventListener("focus", seen);
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") seen(); });

// The district figures scan the outbox: at most one refresh every few
// seconds however many orders move.
function refreshDistrictSoon() {
  if (state.districtTimer) return;
  state.districtTimer = setTimeout(() => {
    state.districtTimer = null;
    if (!$("district-view").hidden) loadDistrict().catch(failed);
  }, 3000);
}

// Whether the duty officer is filling in the ack form: an update of the
// order then must not wipe what they typed (the list and map still move).
function typing() {
  const form = $("ack-form");
  return !!form && (form.contains(document.activeElement) || $("ack-note").value !== "");
}

function setLive(on) {
  $("live").className = on ? "live-on" : "live-off";
  $("live").textContent = on ? "● 实时 live" : "○ 重连中 reconnecting";
}

// --------------------------------------------------------------- district

async function loadDistrict() {
  const { body } = await api("/api/console/district");
  const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(0)}%`);
  const secs = (v) => (v === null || v === undefined ? "—" : duration(v * 1000));
  $("street-table").tBodies[0].replaceChildren(...body.streets.map((s) =>
    el("tr", { "data-street": s.code },
      el("td", {}, `${s.name} ${s.name_en}`), el("td", {}, String(s.open)), el("td", {}, String(s.escalated)),
      el("td", {}, String(s.acked)), el("td", {}, secs(s.ack_p50_s)), el("td", {}, secs(s.ack_p90_s)),
      el("td", {}, pct(s.false_alarm_share)))));
  $("district-summary").textContent =
    `督办待处置 open escalations: ${body.escalations_open} · 离线设备总数 offline devices (all tracked): ${body.offline_devices_total}`;
  $("flagged-table").tBodies[0].replaceChildren(...(body.flagged_devices.length ? body.flagged_devices.map((d) =>
    el("tr", {}, el("td", {}, String(d.device)), el("td", {}, String(d.orders)), el("td", {}, String(d.false_alarms)),
      el("td", {}, pct(d.false_alarm_rate)), el("td", {}, d.online ? "在线 online" : "离线 offline")))
    : [el("tr", {}, el("td", { colSpan: 5, class: "empty" }, "无 none"))]));
  $("offline-table").tBodies[0].replaceChildren(...(body.offline_devices.length ? body.offline_devices.map((d) =>
    el("tr", {}, el("td", {}, String(d.device)), el("td", {}, String(d.orders)),
      el("td", {}, d.last_seen_ms ? time(d.last_seen_ms) : "自启动未上报 not since the hub started")))
    : [el("tr", {}, el("td", { colSpan: 3, class: "empty" }, "无 none"))]));
}

function showTab(name) {
  $("orders-view").hidden = name !== "orders";
  $("district-view").hidden = name !== "district";
  $("tab-orders").classList.toggle("active", name === "orders");
  $("tab-district").classList.toggle("active", name === "district");
  if (name === "district") loadDistrict().catch(failed);
}

// ---------------------------------------------------------------- helpers

function time(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getMonth() + 1}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

// ------------------------------------------------------------------- wire

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    await signIn($("token").value.trim());
  } catch (err) {
    signOut(err.message);
  }
});
$("logout").addEventListener("click", () => signOut());
$("tab-orders").addEventListener("click", () => showTab("orders"));
$("tab-district").addEventListener("click", () => showTab("district"));
$("filter-severity").addEventListener("change", render);
$("filter-status").addEventListener("change", render);
if (state.token) signIn(state.token).catch((err) => signOut(err.message));
