// The district view: per street, open and escalated orders and how fast
// and how truly the street acknowledges; the devices flagged for false
// alarms and those gone quiet (named as the registry names them; the
// devices tab groups them by street).

import { api } from "./api.js";
import { $, el } from "./dom.js";
import { duration, time } from "./format.js";
import { t } from "./i18n.js";

// A device by its registry name, when it has one, and its id.
function deviceName(d) {
  return d.registered ? `${d.registered.name} (${d.device})` : String(d.device);
}

export async function loadDistrict() {
  const { body } = await api("/api/console/district");
  const pct = (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(0)}%`);
  const secs = (v) => (v === null || v === undefined ? "—" : duration(v * 1000));
  const none = (cols) => [el("tr", {}, el("td", { colSpan: cols, class: "empty" }, t("none")))];
  $("street-table").tBodies[0].replaceChildren(...body.streets.map((s) =>
    el("tr", { "data-street": s.code },
      el("td", {}, `${s.name} ${s.name_en}`), el("td", {}, String(s.open)), el("td", {}, String(s.escalated)),
      el("td", {}, String(s.acked)), el("td", {}, secs(s.ack_p50_s)), el("td", {}, secs(s.ack_p90_s)),
      el("td", {}, pct(s.false_alarm_share)))));
  $("district-summary").textContent = t("district.summary", { esc: body.escalations_open, off: body.offline_devices_total });
  $("flagged-table").tBodies[0].replaceChildren(...(body.flagged_devices.length ? body.flagged_devices.map((d) =>
    el("tr", {}, el("td", {}, deviceName(d)), el("td", {}, String(d.orders)), el("td", {}, String(d.false_alarms)),
      el("td", {}, pct(d.false_alarm_rate)), el("td", {}, t(d.online ? "online" : "offline"))))
    : none(5)));
  $("offline-table").tBodies[0].replaceChildren(...(body.offline_devices.length ? body.offline_devices.map((d) =>
    el("tr", {}, el("td", {}, deviceName(d)), el("td", {}, String(d.orders)),
      el("td", {}, d.last_seen_ms ? time(d.last_seen_ms) : t("never_seen"))))
    : none(3)));
}
