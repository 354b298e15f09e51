// The devices needing attention, for the district: those flagged for
// false alarms and those gone offline, grouped by the street the device
// registry (设备台账) gives them, with their names, kinds, addresses and
// owners, and how long each has been offline; the longest first. From
// GET /api/devices (devices that took part in orders).

import { api } from "./api.js";
import { $, el } from "./dom.js";
import { duration, time } from "./format.js";
import { lang, t } from "./i18n.js";

// Offline longest first, then flagged by false-alarm rate.
function byUrgency(a, b) {
  const off = (d) => (d.online ? -1 : d.offline_for_ms ?? Number.MAX_SAFE_INTEGER);
  return off(b) - off(a) || b.false_alarm_rate - a.false_alarm_rate || a.device - b.device;
}

export async function loadDevices(streets) {
  const { body } = await api("/api/devices?limit=10000");
  const needing = body.devices.filter((d) => d.flagged || !d.online);
  const names = new Map((streets || []).map((s) => [s.code, lang() === "zh" ? s.name : s.name_en || s.name]));
  const groups = new Map();
  for (const d of needing) {
    const code = (d.registered && d.registered.street) || "";
    if (!groups.has(code)) groups.set(code, []);
    groups.get(code).push(d);
  }
  // Streets in map order, unregistered devices last.
  const order = [...(streets || []).map((s) => s.code), ""];
  const codes = [...groups.keys()].sort((a, b) => rank(order, a) - rank(order, b));
  $("devices-summary").textContent = t("dev.summary", {
    offline: needing.filter((d) => !d.online).length, flagged: needing.filter((d) => d.flagged).length,
    streets: codes.filter((c) => c).length,
  });
  $("device-groups").replaceChildren(...(codes.length ? codes.map((code) => {
    const list = groups.get(code).sort(byUrgency);
    const label = code ? `${names.get(code) || code} · ${code}` : t("dev.unregistered_street");
    const off = list.filter((d) => !d.online).length;
    const flagged = list.filter((d) => d.flagged).length;
    return el("section", { class: "device-group", "data-street": code || "none" },
      el("h3", {}, `${label} — ${t("dev.group_counts", { off, flagged })}`),
      el("table", { class: "list-table" },
        el("thead", {}, el("tr", {}, ...["dev.name", "dev.kind", "dev.address", "dev.owner", "dev.state", "dev.offline_for", "th.last_seen", "th.rate"]
          .map((k) => el("th", { scope: "col" }, t(k))))),
        el("tbody", {}, ...list.map(deviceRow))));
  }) : [el("p", { class: "empty" }, t("none"))]));
  return needing;
}

function rank(order, code) {
  const i = order.indexOf(code);
  return i < 0 ? order.length - 1 : i;
}

function deviceRow(d) {
  const r = d.registered;
  const state = [d.online ? null : t("offline"), d.flagged ? t("dev.flagged") : null].filter(Boolean).join(" · ");
  return el("tr", { "data-device": String(d.device), class: d.online ? "" : "is-offline" },
    el("td", {}, r ? `${r.name} (${d.device})` : `${d.device} · ${t("dev.unregistered")}`),
    el("td", {}, r ? r.kind : ""), el("td", {}, r ? r.address : ""), el("td", {}, r ? r.owner : ""),
    el("td", {}, state),
    el("td", { class: "offline-for" }, d.online ? "" : d.offline_for_ms !== undefined && d.offline_for_ms !== null ? duration(d.offline_for_ms) : t("never_seen")),
    el("td", {}, d.last_seen_ms ? time(d.last_seen_ms) : t("never_seen")),
    el("td", {}, `${(d.false_alarm_rate * 100).toFixed(0)}% (${d.false_alarms}/${d.orders})`));
}
