// What a duty shift needs besides the live list, for the district: the
// history (orders made in a date range, of a state and street, a page at
// a time through GET /api/orders/history), the shift handover (交接班:
// open at the start, came, done, left, from GET /api/orders/handover),
// and the export of the history's list as CSV or XLSX (GET
// /api/orders/export, downloaded with this sign-in's headers) and of
// each part of the handover as the page holds it (exportfile.js). Times are typed and shown in
// the district's zone.

import { api, download } from "./api.js";
import { $, el } from "./dom.js";
import { csv, save, xlsx } from "./exportfile.js";
import { fieldTime, fieldToMs, time } from "./format.js";
import { lang, name, t } from "./i18n.js";

// Orders per page: 50, or the table's data-page-size.
function pageSize() {
  return Number($("hist-table").dataset.pageSize) || 50;
}

// The history's filters as last applied, and the cursors of the pages
// before the one shown (the first page has none).
const history = { params: null, cursors: [], next: null, count: 0, before: null };

// The streets of the map, for the street menu and the names.
let streets = [];

export function setStreets(list) {
  streets = list || [];
}

// Forgets what this sign-in searched and read (at sign-out): the next one
// starts from the default ranges.
export function clearShift() {
  Object.assign(history, { params: null, cursors: [], next: null, count: 0, before: null });
  handed = null;
  for (const id of ["hist-from", "hist-to", "hand-from", "hand-to"]) $(id).value = "";
  $("hist-status").value = "";
  $("hist-street").value = "";
}

function streetName(o) {
  if (!o.place || !o.place.street) return t("outside");
  const s = o.place.street;
  return lang() === "zh" ? s.name : s.name_en || s.name;
}

// Fills the filters once (the range: the last day), and the menus in the
// page's language every time.
export function prepareHistory() {
  if (!$("hist-from").value) {
    $("hist-from").value = fieldTime(Date.now() - 86_400_000);
    $("hist-to").value = fieldTime(Date.now() + 60_000);
  }
  if (!$("hand-from").value) {
    $("hand-from").value = fieldTime(Date.now() - 8 * 3_600_000);
    $("hand-to").value = fieldTime(Date.now() + 60_000);
  }
  const status = $("hist-status");
  const chosen = status.value;
  status.replaceChildren(el("option", { value: "" }, t("filter.all_statuses")),
    ...["open", "escalated", "acked"].map((s) => el("option", { value: s }, name("status", s))));
  status.value = chosen;
  const street = $("hist-street");
  const picked = street.value;
  street.replaceChildren(el("option", { value: "" }, t("hist.all_streets")),
    ...streets.map((s) => el("option", { value: s.code }, lang() === "zh" ? s.name : s.name_en || s.name)),
    el("option", { value: "district" }, t("outside")));
  street.value = picked;
}

// The filters as query parameters (without paging).
function filterParams() {
  const p = new URLSearchParams();
  const from = fieldToMs($("hist-from").value);
  const to = fieldToMs($("hist-to").value);
  if (from) p.set("from", from);
  if (to) p.set("to", to);
  if ($("hist-status").value) p.set("status", $("hist-status").value);
  if ($("hist-street").value) p.set("street", $("hist-street").value);
  return p;
}

// Searches again from the first page with the filters as they stand.
export async function searchHistory() {
  history.params = filterParams();
  history.cursors = [];
  await showPage(null);
}

async function showPage(before) {
  const p = new URLSearchParams(history.params);
  p.set("limit", String(pageSize()));
  if (before) p.set("before", before);
  $("hist-message").textContent = "";
  let body;
  try {
    ({ body } = await api(`/api/orders/history?${p}`));
  } catch (err) {
    $("hist-message").textContent = err.message;
    throw err;
  }
  history.next = body.next;
  history.count = body.count;
  history.before = before;
  $("hist-table").tBodies[0].replaceChildren(...(body.orders.length ? body.orders.map(orderRow)
    : [el("tr", {}, el("td", { colSpan: 8, class: "empty" }, t("none")))]));
  const page = history.cursors.length + 1;
  const pages = Math.max(1, Math.ceil(body.count / pageSize()));
  $("hist-page").textContent = t("hist.page", { page, pages, n: body.count });
  $("hist-prev").disabled = history.cursors.length === 0;
  $("hist-next").disabled = !body.next;
  $("hist-table").dataset.count = String(body.count);
  $("hist-table").dataset.page = String(page);
}

export async function nextPage() {
  if (!history.next) return;
  history.cursors.push(history.before);
  await showPage(history.next);
}

export async function previousPage() {
  if (!history.cursors.length) return;
  await showPage(history.cursors.pop());
}

function orderRow(o) {
  return el("tr", { "data-order-id": o.id },
    el("td", {}, el("button", { type: "button", class: "link", "data-open-order": o.id, title: t("hist.open") }, o.id)),
    el("td", {}, time(o.created_ms)), el("td", {}, streetName(o)),
    el("td", {}, name("category", o.category)), el("td", {}, name("severity", o.severity)),
    el("td", {}, name("status", o.status)), el("td", {}, o.stage ? name("status", o.stage) : ""),
    el("td", {}, o.ack ? name("outcome", o.ack.outcome) : ""));
}

// ---------------------------------------------------------------- handover

const PARTS = ["open_at_start", "came", "done", "left"];

// The handover as last read, for the exports of its parts.
let handed = null;

export async function loadHandover() {
  const p = new URLSearchParams();
  const from = fieldToMs($("hand-from").value);
  const to = fieldToMs($("hand-to").value);
  if (from) p.set("from", from);
  if (to) p.set("to", to);
  $("hand-message").textContent = "";
  let body;
  try {
    ({ body } = await api(`/api/orders/handover?${p}`));
  } catch (err) {
    $("hand-message").textContent = err.message;
    throw err;
  }
  handed = body;
  $("hand-summary").textContent = t("hand.summary", {
    from: time(body.from_ms), to: time(body.to_ms), ...body.counts,
  });
  $("hand-parts").replaceChildren(...PARTS.map((part) =>
    el("section", { class: "hand-part", id: `hand-${part}`, "data-count": String(body.counts[part]) },
      el("div", { class: "part-head" },
        el("h3", {}, `${t(`hand.${part}`)} (${body.counts[part]})`),
        ...["csv", "xlsx"].map((format) => el("button", {
          type: "button", class: "small", "data-export-part": part, "data-format": format,
          "aria-label": `${t(`export.${format}`)}: ${t(`hand.${part}`)}`,
        }, t(`export.${format}`)))),
      body[part].length ? handoverTable(body[part]) : el("p", { class: "empty" }, t("none")))));
  return body;
}

function handoverTable(orders) {
  return el("table", { class: "list-table" },
    el("thead", {}, el("tr", {}, ...["hist.id", "hist.created", "th.street", "filter.category", "filter.severity", "filter.status", "detail.stage", "hist.outcome"]
      .map((k) => el("th", { scope: "col" }, t(k))))),
    el("tbody", {}, ...orders.map(orderRow)));
}

// ------------------------------------------------------------------ export

// Saves `orders` (a list as the page shows it) as `format`, named after
// `which` and the time; says so in `message`.
export function saveList(orders, which, format, message) {
  const stamp = fieldTime(Date.now()).replace(/[-:T]/g, "");
  const file = `tongguan-${which}-${stamp}.${format}`;
  const blob = format === "xlsx" ? xlsx(orders) : csv(orders);
  save(blob, file);
  if (message) message.textContent = t("export.done", { file, kb: (blob.size / 1024).toFixed(1) });
}

// Saves a part of the handover as read last.
export function exportPart(part, format) {
  if (handed) saveList(handed[part], `handover-${part.replace(/_/g, "-")}`, format, $("hand-message"));
}

// Downloads the history's list (its filters, up to 10,000 orders) or the
// orders that came during the handover's shift, as `format`.
export async function exportList(which, format) {
  const p = which === "history" ? filterParams() : new URLSearchParams();
  if (which === "handover") {
    const from = fieldToMs($("hand-from").value);
    const to = fieldToMs($("hand-to").value);
    if (from) p.set("from", from);
    if (to) p.set("to", to);
  }
  p.set("format", format);
  p.set("limit", "10000");
  const stamp = fieldTime(Date.now()).replace(/[-:T]/g, "");
  const file = `tongguan-${which}-${stamp}.${format}`;
  const message = $(which === "history" ? "hist-message" : "hand-message");
  message.textContent = t("export.preparing");
  try {
    const bytes = await download(`/api/orders/export?${p}`, file);
    message.textContent = t("export.done", { file, kb: (bytes / 1024).toFixed(1) });
  } catch (err) {
    message.textContent = t("export.failed", { why: err.message });
    throw err;
  }
}
