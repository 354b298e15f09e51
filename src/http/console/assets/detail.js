// One order whole: its place, sources, events, plan, deadline with a live
// countdown, stage, who accepted and handles it, the field feedback with
// its photos, history (with who took each step) in the officer's
// language, the disposal steps this viewer may take (steps.js) and the
// form to acknowledge it (disabled, with the reason, while the hub is away).

import { api, imageUrl, Stale, Unauthorized } from "./api.js";
import { $, el } from "./dom.js";
import { duration as fmt, time } from "./format.js";
import { name, t } from "./i18n.js";
import { errorText, historyDetail, historyStep } from "./messages.js";
import { stepForms } from "./steps.js";
import { hasStage, isDone, nextLimit } from "./triage.js";

// A countdown to `limit_ms`; the page's ticker keeps every one current.
export function countdown(limitMs, id) {
  const node = el("span", { class: "countdown", "data-limit": String(limitMs) });
  if (id) node.id = id;
  tickCountdown(node, Date.now());
  return node;
}

export function tickCountdown(node, now) {
  const left = Number(node.dataset.limit) - now;
  const text = left >= 0 ? t("left", { d: fmt(left) }) : t("overdue_by", { d: fmt(-left) });
  if (node.textContent !== text) node.textContent = text;
  node.classList.toggle("overdue", left < 0);
  const row = node.closest("li.order");
  if (row) row.classList.toggle("is-overdue", left < 0);
}

// Draws `o` in the detail pane. `ctx`: connection, onAcked(order),
// onStep(id), failed(err), viewer ({role, scope, person}), streets (the
// map's), offline (the order comes from the list, not the hub: why).
export function showDetail(o, ctx) {
  const pane = $("detail-pane");
  const limit = nextLimit(o);
  const left = isDone(o) ? el("span", { id: "time-left" }, t("detail.acknowledged")) : countdown(limit, "time-left");
  const street = o.place.street;
  const parts = [
    ctx.offline ? el("p", { class: "offline-note", role: "status" }, ctx.offline) : null,
    el("h2", { id: "detail-title" }, `${name("severity", o.severity)} ${name("category", o.category)} · ${name("incident", o.incident_kind)}`),
    el("div", { class: "item-sub" }, `${o.id} · ${t("detail.revision", { n: o.revision })}`),
    el("dl", {},
      el("dt", {}, t("detail.status")), el("dd", { id: "detail-status" }, name("status", o.status)),
      el("dt", {}, t("detail.place")),
      el("dd", {}, `${street ? `${street.name} ${street.code}` : t("outside")} · ${o.place.lat.toFixed(5)}, ${o.place.lon.toFixed(5)} · H3 ${o.place.cell}`),
      el("dt", {}, t("detail.sources")),
      el("dd", {}, o.sources.map((s) => name("source", s)).join("、") + (o.multi_source ? t("detail.multi") : "")),
      el("dt", {}, t("detail.events")), el("dd", {}, `${o.event_count} (${time(o.first_seen_ms)} – ${time(o.last_seen_ms)})`),
      ...row("detail.stage", o.stage && name("status", o.stage), "detail-stage"),
      ...row("detail.accepted_by", o.accepted_by, "detail-accepted-by"),
      ...row("detail.assignee", o.assignee, "detail-assignee"),
      el("dt", {}, t(limit === o.deadline_ms || isDone(o) ? "detail.deadline" : "detail.next_limit")),
      el("dd", {}, `${time(isDone(o) ? o.deadline_ms : limit)} · `, left),
      el("dt", {}, t("detail.camera")), el("dd", { id: "detail-camera" }, o.camera || "—"),
      o.escalation_of ? el("dt", {}, t("detail.escalation_of")) : null,
      o.escalation_of ? el("dd", {}, o.escalation_of) : null,
      o.ack ? el("dt", {}, t("detail.ack")) : null,
      o.ack ? el("dd", { id: "detail-ack" }, `${name("outcome", o.ack.outcome)} · ${o.ack.by} · ${time(o.ack.at_ms)}${o.ack.note ? " · " + o.ack.note : ""}`) : null),
    el("h3", {}, t("detail.plan")),
    el("div", { class: "plan" }, o.plan),
    el("h3", {}, t("detail.events")),
    events(o),
    feedback(o),
    ctx.offline ? null : stepForms(o, ctx),
    isDone(o) || (ctx.viewer.person && hasStage(o)) ? null : ackForm(o, ctx),
    el("h3", {}, t("detail.history")),
    el("ul", { id: "history" }, ...(o.history || []).map((h) =>
      el("li", {}, `${time(h.at_ms)} ${historyStep(h.what)}${h.by ? " · " + h.by : ""}${h.detail ? "：" + historyDetail(h.detail) : ""}`))),
  ];
  pane.replaceChildren(...parts.filter(Boolean));
  ctx.connection.guard(pane);
}

// A term and its value, or nothing when there is no value.
function row(key, value, id) {
  return value ? [el("dt", {}, t(key)), el("dd", { id }, value)] : [];
}

function events(o) {
  const heads = ["col.device", "col.source", "col.category", "col.value", "col.time", "col.camera"];
  return el("table", {},
    el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", { scope: "col" }, t(h))))),
    el("tbody", {}, ...o.events.flatMap((e) => [
      el("tr", {},
        el("td", {}, String(e.device)), el("td", {}, name("source", e.source)),
        el("td", {}, name("category", e.category)), el("td", {}, String(e.value)),
        el("td", {}, time(e.time_ms)), el("td", {}, e.camera || "")),
      e.report ? el("tr", {}, el("td", { colSpan: 6, class: "item-sub" }, e.report)) : null,
    ].filter(Boolean))));
}

// 现场反馈: each report's time, who, note and photos as thumbnails.
function feedback(o) {
  if (!o.feedback || !o.feedback.length) return null;
  return el("section", {},
    el("h3", {}, t("detail.feedback")),
    el("ul", { id: "feedback" }, ...o.feedback.map((f) =>
      el("li", {}, `${time(f.at_ms)} · ${f.by}${f.note ? "：" + f.note : ""}`,
        ...(f.photos || []).map(thumbnail)))));
}

function thumbnail(p) {
  const img = el("img", { class: "thumb", alt: `${t("step.photo")} ${p.sha256.slice(0, 8)}`, "data-sha256": p.sha256 });
  const link = el("a", { href: `/api/photos/${p.sha256}`, target: "_blank", rel: "noopener" }, img);
  imageUrl(`/api/photos/${encodeURIComponent(p.sha256)}`).then((url) => { img.src = url; }).catch(() => img.classList.add("missing"));
  return link;
}

function ackForm(o, ctx) {
  const outcome = el("select", { id: "ack-outcome", name: "outcome", "aria-label": t("ack.heading") },
    ...["confirmed", "false_alarm", "resolved"].map((v) => el("option", { value: v }, name("outcome", v))));
  const note = el("textarea", { id: "ack-note", name: "note", placeholder: t("ack.note"), "aria-label": t("ack.note") });
  const message = el("p", { id: "ack-message", role: "status" });
  const button = el("button", { id: "ack-button", type: "submit", "data-needs-hub": "1" }, t("ack.button"));
  const form = el("form", { id: "ack-form" },
    el("strong", {}, t("ack.heading")), outcome, note, button, el("span", { class: "needs-hub-reason error" }), message);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!ctx.connection.isUp()) return;
    button.dataset.busy = "1";
    button.disabled = true;
    message.className = "";
    message.textContent = t("ack.sending");
    try {
      const { status, body } = await api(`/api/console/orders/${encodeURIComponent(o.id)}/ack`, {
        method: "POST",
        body: JSON.stringify({ outcome: outcome.value, note: note.value }),
      });
      // Queued: the form goes, the order redraws when the stream brings the ack.
      if (status === 202) return form.replaceWith(el("p", { id: "ack-message" }, t("ack.queued")));
      ctx.onAcked(body);
    } catch (err) {
      if (err instanceof Unauthorized || err instanceof Stale) return ctx.failed(err);
      message.className = "error";
      message.textContent = errorText(err.message);
      button.dataset.busy = "0";
      ctx.connection.guard(form);
    }
  });
  return form;
}
