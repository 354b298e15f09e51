// The disposal loop's steps (PROTOCOL 16.2) that the person looking may
// take on this order now, one small form each: exactly those their role
// and the order's stage allow, nothing else. Each POSTs
// /api/orders/{id}/steps with the session's CSRF header, says what the
// hub answered (its reason, in the page's language, on refusal) and reads
// the order again. Every button needs the hub (disabled with the reason
// while the stream is down).

import { api, Stale, Unauthorized, upload } from "./api.js";
import { el } from "./dom.js";
import { name, t } from "./i18n.js";
import { errorText } from "./messages.js";

const WORKING = ["accepted", "in_progress", "feedback", "sent_back"];
const BEFORE_RESOLVED = ["dispatched", ...WORKING];

// step -> [stages it is taken from, who may take it].
const RULES = {
  accept: [["dispatched"], "street"],
  assign: [WORKING, "supervisor"],
  feedback: [WORKING, "street"],
  resolve: [BEFORE_RESOLVED, "street_or_district"],
  send_back: [["resolved"], "district"],
  verify: [["resolved"], "district"],
  close: [["resolved", "verified"], "district"],
  transfer: [BEFORE_RESOLVED, "supervisor_or_district"],
};

// The answer to the last step taken, kept across the redraw it causes
// (and drawn in the page's language then): {id, step, stage} or
// {id, error: the hub's message}.
let last = null;

function answerText(a) {
  if (a.error) return errorText(a.error);
  return t("step.applied", { step: t(`step.${a.step}`), stage: name("status", a.stage) });
}

// The steps `viewer` ({role, scope}) may take on `o` now, in loop order.
export function allowedSteps(o, viewer) {
  if (typeof o.stage !== "string" || o.escalation_of) return [];
  const district = viewer.scope === "district" && ["district_desk", "admin"].includes(viewer.role);
  const street = o.place.street;
  const own = !!street && street.code === viewer.scope && viewer.role.startsWith("street_");
  const supervisor = own && viewer.role === "street_supervisor";
  const who = { street: own, supervisor, district, street_or_district: own || district, supervisor_or_district: supervisor || district };
  return Object.entries(RULES).filter(([, [stages, by]]) => who[by] && stages.includes(o.stage)).map(([step]) => step);
}

// The steps' section for `o`, or null when there is none to take.
// `ctx`: viewer, streets (the map's), connection, onStep(id), failed(err).
export function stepForms(o, ctx) {
  const steps = allowedSteps(o, ctx.viewer);
  const shown = last && last.id === o.id ? last : null;
  const message = el("p", { id: "step-message", role: "status", class: shown && shown.error ? "error" : "" }, shown ? answerText(shown) : "");
  if (!steps.length && !shown) return null;
  return el("section", { id: "steps", "aria-label": t("step.heading") },
    el("h3", {}, t("step.heading")),
    ...steps.map((s) => form(o, s, ctx, message)),
    message);
}

function form(o, step, ctx, message) {
  const fields = FIELDS[step](o, ctx);
  const attrs = { id: step === "accept" ? "accept-button" : `step-${step}-button`, type: "submit", "data-needs-hub": "1" };
  if (step === "accept") attrs["aria-keyshortcuts"] = "a";
  const button = el("button", attrs, t(step === "accept" ? "accept.button" : `step.${step}`));
  const node = el("form", { id: `step-${step}`, class: "step-form" }, ...fields, button, el("span", { class: "needs-hub-reason error" }));
  node.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!ctx.connection.isUp()) return;
    button.dataset.busy = "1";
    button.disabled = true;
    message.className = "";
    message.textContent = t("ack.sending");
    try {
      const body = { step, ...(await values(node, step, message)) };
      const { body: answer } = await api(`/api/orders/${encodeURIComponent(o.id)}/steps`, { method: "POST", body: JSON.stringify(body) });
      last = { id: o.id, step, stage: answer.stage };
      ctx.onStep(o.id);
    } catch (err) {
      if (err instanceof Unauthorized || err instanceof Stale) return ctx.failed(err);
      last = { id: o.id, error: String(err.message || "?") };
      message.className = "error";
      message.textContent = answerText(last);
      button.dataset.busy = "0";
      ctx.connection.guard(node);
    }
  });
  return node;
}

const text = (step, field, key) => {
  const label = t(key);
  return el("textarea", { id: `step-${step}-${field}`, name: field, placeholder: label, "aria-label": label });
};
const note = (step) => text(step, "note", "step.note");
const reason = (step) => text(step, "reason", "step.reason");

// The inputs of each step's form.
const FIELDS = {
  accept: () => [],
  assign: () => [el("input", { id: "step-assign-to", name: "to", placeholder: t("step.to_person"), "aria-label": t("step.to_person") }), note("assign")],
  feedback: () => [note("feedback"),
    el("input", { id: "step-feedback-photo", name: "photo", type: "file", accept: "image/jpeg,image/png,image/webp", multiple: true, "aria-label": t("step.photo") })],
  resolve: () => [el("select", { id: "step-resolve-outcome", name: "outcome", "aria-label": t("ack.heading") },
    ...["confirmed", "false_alarm", "resolved"].map((v) => el("option", { value: v }, name("outcome", v)))), note("resolve")],
  send_back: () => [reason("send_back")],
  verify: () => [note("verify")],
  close: () => [note("close")],
  transfer: (o, ctx) => [transferTo(o, ctx), reason("transfer")],
};

// Where an order can go: another street, or (from a street) the district.
function transferTo(o, ctx) {
  const here = o.place.street && o.place.street.code;
  const streets = (ctx.streets || []).filter((s) => s.code !== here)
    .map((s) => el("option", { value: s.code }, `${s.name} ${s.code}`));
  const district = ctx.viewer.scope === "district" ? [] : [el("option", { value: "district" }, t("step.district"))];
  return el("select", { id: "step-transfer-to", name: "to", "aria-label": t("step.to_street") }, ...streets, ...district);
}

// The step's fields from its form; a feedback's photos are uploaded first.
async function values(node, step, message) {
  const out = {};
  for (const field of node.querySelectorAll("textarea, select, input:not([type=file])")) out[field.name] = field.value;
  const files = node.querySelector("input[type=file]");
  if (step === "feedback" && files && files.files.length) {
    message.textContent = t("step.uploading");
    out.photos = [];
    for (const file of files.files) out.photos.push((await upload("/api/photos", file)).body);
  }
  return out;
}
