// The console: sign in with a street or district token; the open orders
// most urgent first, with live countdowns, filters and search, on a map
// of the real streets; one order whole, to acknowledge; alarms that
// insist; a banner when the hub is away; for the district, how each
// street keeps up (with the efficiency plots), the history with its
// exports, the shift handover and the devices needing attention.
// Chinese first, English by a switch. Plain JavaScript
// modules without a build step or a library: the hub serves these files
// as they are, and the page must work on a closed network. This file
// holds the page's state and wires the parts together.

import { Alarms } from "./alarms.js";
import { api, headers, session, Stale, Unauthorized } from "./api.js";
import { Connection } from "./connection.js";
import { showDetail, tickCountdown } from "./detail.js";
import { loadDevices } from "./devices.js";
import { loadDistrict } from "./district.js";
import { loadEfficiency } from "./efficiency.js";
import { $, el } from "./dom.js";
import { time } from "./format.js";
import { applyStatic, codes, lang, name, setLang, t } from "./i18n.js";
import { MapView } from "./mapview.js";
import { errorText } from "./messages.js";
import { clearShift, exportList, exportPart, loadHandover, nextPage, prepareHistory, previousPage, saveList, searchHistory, setStreets } from "./shift.js";
import { follow } from "./stream.js";
import { byUrgency, isDone, knowledge, nextLimit, personOf, visible } from "./triage.js";
import { Watermark } from "./watermark.js";

const state = {
  session: null,
  viewer: null,
  orders: new Map(),
  selected: null,
  // The selected order as last read whole (with its history).
  detail: null,
  hidden: 0,
  streamAbort: null,
  districtTimer: null,
  sessionTimer: null,
  renderQueued: false,
  view: "all",
  // The orders the filters let through, most urgent first, and how many
  // of them the list has drawn.
  shown: [],
  drawn: 0,
};

const connection = new Connection();
const alarms = new Alarms((id) => select(id));
const watermark = new Watermark($("watermark"));
const map = new MapView($("map"), (id) => select(id));

// ---------------------------------------------------------------- sign in

// Signs in with a street or district token, or (token "") with the
// person's session cookie that POST /api/session set.
async function signIn(token) {
  session.token = token;
  const { body } = await api("/api/console/session");
  state.session = body;
  state.viewer = await viewer(body);
  if (token) sessionStorage.setItem("tongguan-token", token);
  $("login").hidden = true;
  $("app").hidden = false;
  showWho();
  watermark.show(state.viewer);
  $("mode").hidden = !body.emergency;
  for (const tab of DISTRICT_TABS) $(`tab-${tab}`).hidden = body.scope !== "district";
  // The mode (平急转换) can change while the console is open.
  clearInterval(state.sessionTimer);
  state.sessionTimer = setInterval(() => {
    api("/api/console/session")
      .then(({ body }) => { $("mode").hidden = !body.emergency; })
      .catch(failed);
  }, 30000);
  showTab("orders");
  await drawMap();
  alarms.refresh();
  // The list is loaded when the stream says hello, so nothing committed
  // between the two is missed.
  startStream();
}

// Who is looking, for the header and the watermark: the person's name
// (GET /api/session), else the token's name; and the CSRF token that a
// cookie session's changes must carry.
async function viewer(console_) {
  let person = null;
  try {
    const { body } = await api("/api/session");
    person = body;
    session.csrf = body.csrf_token || "";
  } catch (err) {
    if (err instanceof Stale) throw err;
  }
  const name = (person && (person.display_name || person.name)) || console_.name;
  return { name, scope: scopeLabel(console_, person), scopeCode: console_.scope, console: console_, person };
}

// The viewer's scope (and role, for a person) in the page's language.
function scopeLabel(console_, person) {
  if (person && person.role_zh && person.scope_name) {
    const role = person.role.replace(/_/g, " ");
    return lang() === "zh" ? `${person.scope_name} ${person.role_zh}` : `${role}, ${person.scope_name_en || person.scope_name}`;
  }
  return console_.scope === "district" ? t("district_desk") : `${console_.street.name} ${console_.street.code}`;
}

function showWho() {
  const s = state.session;
  if (!s) return;
  $("who").textContent = s.scope === "district"
    ? `${t("district_desk")} · ${state.viewer.name}`
    : `${s.street.name}${lang() === "en" ? " " + s.street.name_en : ""} · ${s.street.code} · ${state.viewer.name}`;
}

function signOut(message = "") {
  // A person's session ends at the hub too (a token has nothing to end).
  if (session.csrf) fetch("/api/session", { method: "DELETE", credentials: "same-origin", headers: headers() }).catch(() => {});
  session.epoch += 1;
  session.csrf = "";
  if (state.streamAbort) state.streamAbort.abort();
  clearInterval(state.sessionTimer);
  clearTimeout(state.districtTimer);
  sessionStorage.removeItem("tongguan-token");
  session.token = "";
  Object.assign(state, {
    session: null, viewer: null, selected: null, detail: null, streamAbort: null, districtTimer: null, sessionTimer: null,
  });
  state.orders.clear();
  alarms.clear();
  connection.reset();
  watermark.hide();
  $("order-list").replaceChildren();
  $("map").replaceChildren();
  // Nothing of this sign-in stays for the next one to see.
  for (const id of ["efficiency", "hand-parts", "device-groups"]) $(id).replaceChildren();
  $("hist-table").tBodies[0].replaceChildren();
  clearShift();
  for (const id of ["hist-page", "hist-message", "hand-summary", "hand-message", "devices-summary"]) $(id).textContent = "";
  emptyDetail();
  $("app").hidden = true;
  $("login").hidden = false;
  $("token").value = "";
  $("login-error").textContent = message;
}

function failed(err) {
  if (err instanceof Stale) return;
  if (err instanceof Unauthorized) signOut(errorText(err.message));
  else console.error(err);
}

// -------------------------------------------------------------------- map

async function drawMap() {
  const { body } = await api("/api/console/map");
  state.map = body;
  setStreets(body.streets);
  map.draw(body);
  // The embedded map is OpenStreetMap's: its licence asks for the credit
  // on the map (a hub that does not send one still shows it).
  $("attribution").textContent = body.attribution || "© OpenStreetMap contributors";
  mapNote();
}

function mapNote() {
  const drawn = (state.map ? state.map.streets : []).filter((s) => s.approximate).map((s) => s.name);
  $("map-note").textContent = drawn.length ? t("map.approximate", { names: drawn.join(lang() === "zh" ? "、" : ", ") }) : "";
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
  for (const o of fresh.values()) alarms.changed(o);
  render();
}

// Puts `o` in `orders` unless what is there is newer: a later revision,
// or the same revision already acknowledged (an ack never comes undone).
function merge(orders, o) {
  const known = orders.get(o.id);
  if (known && (known.revision > o.revision || (known.revision === o.revision && isDone(known) && !isDone(o)))) {
    return false;
  }
  orders.set(o.id, o);
  return true;
}

function filters() {
  return {
    severity: $("filter-severity").value,
    status: $("filter-status").value,
    category: $("filter-category").value,
    view: state.view,
    query: $("search").value,
  };
}

// Redraws once per frame however many updates arrive in it.
function render() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    renderNow();
  });
}

function renderNow() {
  const started = performance.now();
  const all = [...state.orders.values()];
  const known = knowledge(all);
  const f = filters();
  const shown = all.filter((o) => visible(o, f, state.viewer, known)).sort(byUrgency);
  $("count").textContent = t("count", { shown: shown.length, all: all.length }) +
    (state.hidden > 0 ? t("count.hidden", { n: state.hidden }) : "");
  viewNote(known);
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.orderId : null;
  const list = $("order-list");
  state.shown = shown;
  state.drawn = Math.min(shown.length, Math.max(PAGE, state.drawn));
  list.innerHTML = shown.slice(0, state.drawn).map(rowHtml).join("") + moreRow();
  const now = Date.now();
  for (const node of list.querySelectorAll(".countdown")) tickCountdown(node, now);
  const listed = performance.now();
  // A redraw must not take the keyboard's place away.
  if (focused) {
    const again = $("order-list").querySelector(`li[data-order-id="${CSS.escape(focused)}"]`);
    if (again) again.focus({ preventScroll: true });
  }
  watchMore();
  map.setOrders(shown.filter((o) => !isDone(o)), state.selected);
  list.dataset.listMs = (listed - started).toFixed(1);
  list.dataset.renderMs = (performance.now() - started).toFixed(1);
}

// Rows drawn at once: the most urgent first, the rest as the officer
// scrolls down to them (or opens "more"), so a list of thousands draws
// as fast as one of a few hundred. Filters and search cover every order.
const PAGE = 200;

function moreRow() {
  const left = state.shown.length - state.drawn;
  return left > 0 ? `<li id="list-more" class="more" tabindex="0" role="button">${escapeHtml(t("list.more", { n: left }))}</li>` : "";
}

// Draws the next rows below those drawn.
function drawMore() {
  const list = $("order-list");
  const more = $("list-more");
  if (!more) return;
  const next = state.shown.slice(state.drawn, state.drawn + PAGE);
  state.drawn += next.length;
  more.insertAdjacentHTML("beforebegin", next.map(rowHtml).join(""));
  const now = Date.now();
  for (const node of list.querySelectorAll(".countdown:empty")) tickCountdown(node, now);
  more.outerHTML = moreRow();
  watchMore();
}

// "More" draws itself away when it scrolls into view.
const moreSeen = new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting)) drawMore();
}, { root: document.getElementById("list-pane"), rootMargin: "400px" });

function watchMore() {
  moreSeen.disconnect();
  const more = $("list-more");
  if (more) moreSeen.observe(more);
}

function viewNote(known) {
  const note = $("view-note");
  let key = null;
  if (state.view === "mine" && !known.people) {
    key = state.viewer && state.viewer.scopeCode === "district" ? "view.mine_fallback_district" : "view.mine_fallback_street";
  }
  if (state.view === "unaccepted" && !known.stages) key = "view.unaccepted_fallback";
  note.hidden = !key;
  note.textContent = key ? t(key) : "";
}

// One row of the list as HTML: thousands of rows are built as one string
// and parsed at once, many times faster than element by element. Every
// value is escaped. A row's HTML is kept until the order, the language or
// the selection changes (its countdown is kept current by the ticker).
const rows = new Map();

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function rowHtml(o) {
  const key = `${o.revision}|${o.status}|${o.stage}|${o.accepted_by}|${o.assignee}|${lang()}|${o.id === state.selected}`;
  const kept = rows.get(o.id);
  if (kept && kept.key === key) return kept.html;
  const done = isDone(o);
  const street = o.place.street ? o.place.street.name : t("outside");
  const devices = [...new Set((o.events || []).map((e) => e.device))].slice(0, 2).join(", ");
  const person = personOf(o);
  const selected = o.id === state.selected;
  const sev = name("severity", o.severity);
  const cat = name("category", o.category);
  const label = `${sev} ${cat} · ${name("status", o.status)} · ${street} · ${o.id}`;
  const badge = (cls, text) => `<span class="badge ${cls}">${escapeHtml(text)}</span>`;
  const limit = nextLimit(o);
  const html = `<li class="order border-${escapeHtml(o.severity)} ${escapeHtml(o.status)}${selected ? " selected" : ""}" ` +
    `data-order-id="${escapeHtml(o.id)}" tabindex="0" aria-label="${escapeHtml(label)}" aria-current="${selected}">` +
    `<div class="item-top"><strong>${escapeHtml(`${sev} · ${cat}`)}</strong>` +
    (o.multi_source ? badge("multi", t("legend.multi")) : "") +
    (o.escalation_of ? badge("escalation", "督办") : "") +
    badge(`status-${o.status}`, name("status", o.status)) +
    (o.stage && o.stage !== "dispatched" ? badge("stage", name("status", o.stage)) : "") +
    (done ? "" : `<span class="countdown" data-limit="${limit}"></span>`) +
    `</div><div class="item-sub">${escapeHtml(`${street} · ${time(o.created_ms)} · ${o.id}` +
      (devices ? ` · ${t("col.device")} ${devices}` : "") + (person ? ` · ${person}` : "") +
      (o.revision > 1 ? ` · r${o.revision}` : ""))}</div></li>`;
  rows.set(o.id, { key, html });
  return html;
}

// Clicks and keys on rows, for the whole list at once: Enter or Space
// opens the row, the arrows move between rows.
function wireList(list) {
  const rowOf = (ev) => ev.target.closest("li[data-order-id]");
  list.addEventListener("click", (ev) => {
    if (ev.target.closest("#list-more")) return drawMore();
    const li = rowOf(ev);
    if (li) select(li.dataset.orderId);
  });
  list.addEventListener("keydown", (ev) => {
    if (ev.target.closest("#list-more") && (ev.key === "Enter" || ev.key === " ")) {
      ev.preventDefault();
      return drawMore();
    }
    const li = rowOf(ev);
    if (!li) return;
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      select(li.dataset.orderId);
    } else if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const next = ev.key === "ArrowDown" ? li.nextElementSibling : li.previousElementSibling;
      if (next) next.focus();
    }
  });
}

// Marks the chosen row without rebuilding the list.
function markSelected(id) {
  for (const li of $("order-list").querySelectorAll("li.selected")) {
    li.classList.remove("selected");
    li.setAttribute("aria-current", "false");
  }
  const li = $("order-list").querySelector(`li[data-order-id="${CSS.escape(id)}"]`);
  if (li) {
    li.classList.add("selected");
    li.setAttribute("aria-current", "true");
  }
}

async function select(id) {
  const started = performance.now();
  state.selected = id;
  markSelected(id);
  const known = state.orders.get(id);
  map.selected = id;
  if (known) map.centre(known);
  if (!connection.isUp()) return known && detail(known, t("detail.offline"));
  try {
    const { body } = await api(`/api/console/orders/${encodeURIComponent(id)}`);
    const read = performance.now();
    if (state.selected !== id) return;
    detail(body);
    const pane = $("detail-pane");
    pane.dataset.readMs = (read - started).toFixed(1);
    pane.dataset.openMs = (performance.now() - started).toFixed(1);
  } catch (err) {
    if (err instanceof Unauthorized || err instanceof Stale) return failed(err);
    // The list's copy, and why the whole order could not be read.
    if (known && state.selected === id) detail(known, t("detail.load_failed", { why: errorText(err.message) }));
  }
}

function detail(o, offline = null) {
  state.detail = { order: o, offline };
  const streets = state.map ? state.map.streets : [];
  showDetail(o, { connection, offline, failed, onAcked, viewer: stepper(), streets, onStep: (id) => state.selected === id && select(id) });
}

// Who takes the disposal steps: the person signed in, else what the
// token acts as (PROTOCOL 15.1: a street's token its supervisor, the
// district's the desk).
function stepper() {
  const v = state.viewer;
  if (!v) return { role: "", scope: "", person: false };
  const p = v.person && v.person.role ? v.person : null;
  const role = p ? p.role : v.scopeCode === "district" ? "district_desk" : "street_supervisor";
  return { role, scope: p ? p.scope : v.scopeCode, person: !!p && p.via !== "subscriber_token" && p.via !== "admin_token" };
}

function onAcked(body) {
  merge(state.orders, { ...body, history: undefined });
  alarms.changed(body);
  render();
  if (state.selected === body.id) detail(body);
}

function emptyDetail() {
  state.detail = null;
  $("detail-pane").replaceChildren(el("p", { class: "empty" }, t("detail.empty")));
}

function closeDetail() {
  state.selected = null;
  markSelected("");
  emptyDetail();
  render();
}

// ------------------------------------------------------------ live stream

function startStream() {
  const controller = new AbortController();
  state.streamAbort = controller;
  follow(controller.signal, {
    headers,
    onEvent,
    onLive: (up) => connection.set(up),
    onUnauthorized: () => signOut(t("err.token")),
  });
}

function onEvent(type, data) {
  if (type === "order") {
    const o = JSON.parse(data);
    const isNew = !state.orders.has(o.id);
    if (!merge(state.orders, o)) return;
    if (isNew) alarms.arrived(o);
    else alarms.changed(o);
    render();
    if (state.selected === o.id && !typing()) select(o.id);
    if (!$("district-view").hidden) refreshDistrictSoon();
  } else if (type === "hello" || type === "resync") {
    reloadOrders().catch(failed);
  }
}

// The district figures scan the outbox: at most one refresh every few
// seconds however many orders move.
function refreshDistrictSoon() {
  if (state.districtTimer) return;
  state.districtTimer = setTimeout(() => {
    state.districtTimer = null;
    if (!$("district-view").hidden) loadDistrictView().catch(failed);
  }, 3000);
}

// Whether the duty officer is filling in the ack form: an update of the
// order then must not wipe what they typed (the list and map still move).
function typing() {
  for (const form of document.querySelectorAll("#ack-form, #steps form")) {
    if (form.contains(document.activeElement) && document.activeElement.tagName !== "BUTTON") return true;
    for (const f of form.querySelectorAll("textarea, input")) if (f.value !== "") return true;
  }
  return false;
}

// The district's own tabs besides the orders.
const DISTRICT_TABS = ["district", "history", "handover", "devices"];

function currentTab() {
  return ["orders", ...DISTRICT_TABS].find((tab) => !$(`${tab}-view`).hidden) || "orders";
}

// The street table, then the plots (each draws as soon as it is read).
function loadDistrictView() {
  return Promise.all([loadDistrict(), loadEfficiency()]);
}

// Draws a tab's content anew (after a sign-in, a switch or a language
// change).
function loadTab(name) {
  if (!state.session) return;
  if (name === "district") loadDistrictView().catch(failed);
  else if (name === "history") {
    prepareHistory();
    searchHistory().catch(failed);
  } else if (name === "handover") {
    prepareHistory();
    loadHandover().catch(failed);
  } else if (name === "devices") loadDevices(state.map ? state.map.streets : []).catch(failed);
}

function showTab(name) {
  for (const tab of ["orders", ...DISTRICT_TABS]) {
    $(`${tab}-view`).hidden = name !== tab;
    $(`tab-${tab}`).classList.toggle("active", name === tab);
    $(`tab-${tab}`).setAttribute("aria-pressed", String(name === tab));
  }
  loadTab(name);
}

// ---------------------------------------------------------------- language

// The filter menus, drawn from the codes so both languages list the same.
function fillMenus() {
  const menu = (id, all, kind, values) => {
    const select = $(id);
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, t(all)), ...values.map((v) => el("option", { value: v }, name(kind, v))));
    select.value = chosen;
  };
  menu("filter-severity", "filter.all_severities", "severity", ["critical", "major", "moderate", "minor"]);
  menu("filter-status", "filter.all_statuses", "status",
    ["open", "escalated", "acked", "dispatched", "accepted", "in_progress", "feedback", "resolved", "sent_back", "verified", "closed"]);
  menu("filter-category", "filter.all_categories", "category", codes("category"));
}

function relabel() {
  applyStatic(document);
  // The switch names the other language in that language.
  $("lang").lang = lang() === "zh" ? "en" : "zh-CN";
  for (const node of document.querySelectorAll("[data-sev]")) node.textContent = name("severity", node.dataset.sev);
  fillMenus();
  showWho();
  mapNote();
  if (state.viewer) {
    state.viewer.scope = scopeLabel(state.viewer.console, state.viewer.person);
    watermark.show(state.viewer);
  }
  alarms.refresh();
  if (state.session) connection.show();
  if (state.detail) detail(state.detail.order, state.detail.offline && t("detail.offline"));
  else emptyDetail();
  render();
  const tab = currentTab();
  if (tab !== "orders") loadTab(tab);
}

// --------------------------------------------------------------- keyboard

// Single keys, when not typing: "/" the search box, "a" accepts the open
// order (签收), Esc closes it.
function pageKey(ev) {
  const field = ev.target.closest && ev.target.closest("input, textarea, select");
  if (ev.key === "Escape") {
    if (field && field.id === "search" && field.value) return;
    if (state.selected) closeDetail();
    return;
  }
  if (field || ev.ctrlKey || ev.metaKey || ev.altKey || $("app").hidden) return;
  if (ev.key === "/") {
    ev.preventDefault();
    $("search").focus();
  } else if (ev.key === "a" && $("accept-button") && !$("accept-button").disabled) {
    ev.preventDefault();
    $("accept-button").click();
  }
}

// ------------------------------------------------------------------- wire

function setView(view) {
  state.view = view;
  for (const b of document.querySelectorAll("#views button")) b.setAttribute("aria-pressed", String(b.dataset.view === view));
  refilter();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  alarms.unlock();
  try {
    await signIn($("token").value.trim());
  } catch (err) {
    signOut(errorText(err.message));
  }
});
$("person-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  alarms.unlock();
  try {
    session.token = "";
    await api("/api/session", {
      method: "POST",
      body: JSON.stringify({ name: $("person-name").value.trim(), password: $("person-password").value }),
    });
    $("person-password").value = "";
    await signIn("");
  } catch (err) {
    signOut(errorText(err.message));
  }
});
$("logout").addEventListener("click", () => signOut());
$("lang").addEventListener("click", () => {
  setLang(lang() === "zh" ? "en" : "zh");
  relabel();
});
$("alarm-toggle").addEventListener("click", () => alarms.toggleMute());
$("tab-orders").addEventListener("click", () => showTab("orders"));
for (const tab of DISTRICT_TABS) $(`tab-${tab}`).addEventListener("click", () => showTab(tab));
$("hist-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  searchHistory().catch(failed);
});
// An order's id in the history or the handover opens it in the orders tab.
for (const id of ["hist-table", "hand-parts"]) {
  $(id).addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-open-order]");
    if (!button) return;
    showTab("orders");
    select(button.dataset.openOrder);
  });
}
$("hist-next").addEventListener("click", () => nextPage().catch(failed));
$("hist-prev").addEventListener("click", () => previousPage().catch(failed));
$("hist-csv").addEventListener("click", () => exportList("history", "csv").catch(failed));
$("hist-xlsx").addEventListener("click", () => exportList("history", "xlsx").catch(failed));
$("hand-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadHandover().catch(failed);
});
$("hand-parts").addEventListener("click", (ev) => {
  const button = ev.target.closest("[data-export-part]");
  if (button) exportPart(button.dataset.exportPart, button.dataset.format);
});
// The live list as filtered, every order of it (not only the rows drawn).
for (const format of ["csv", "xlsx"]) {
  $(`list-${format}`).addEventListener("click", () => saveList(state.shown, "orders", format, null));
}
$("hand-csv").addEventListener("click", () => exportList("handover", "csv").catch(failed));
$("hand-xlsx").addEventListener("click", () => exportList("handover", "xlsx").catch(failed));
// A new filter starts the list again at its top rows.
function refilter() {
  state.drawn = 0;
  render();
}

for (const id of ["filter-severity", "filter-status", "filter-category"]) $(id).addEventListener("change", refilter);
$("search").addEventListener("input", refilter);
wireList($("order-list"));
for (const b of document.querySelectorAll("#views button")) b.addEventListener("click", () => setView(b.dataset.view));
$("zoom-in").addEventListener("click", () => map.zoomBy(1.5));
$("zoom-out").addEventListener("click", () => map.zoomBy(1 / 1.5));
$("zoom-reset").addEventListener("click", () => map.reset());
document.addEventListener("keydown", pageKey);
window.addEventListener("focus", () => alarms.seen());
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") alarms.seen(); });
// One ticker for every countdown on the page.
setInterval(() => {
  const now = Date.now();
  for (const node of document.querySelectorAll(".countdown")) tickCountdown(node, now);
}, 1000);

relabel();
// Signed in before this page loaded: the tab's token, else a person's
// session cookie, if the hub still takes it.
const saved = sessionStorage.getItem("tongguan-token");
if (saved) signIn(saved).catch((err) => signOut(errorText(err.message)));
else signIn("").catch(() => signOut());
