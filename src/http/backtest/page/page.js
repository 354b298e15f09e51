// The backtest page (科学阈值): who is looking (the district's token, or
// the session cookie the console set, with its CSRF token on changes; a
// street is refused), the rules editor holding the rules in force, a
// time range of the recording, the run (POST, then GET every 500 ms
// while it runs: one job per hub, a 409 says so), the report, and
// "apply" (PUT /api/rules), enabled only while the editor holds exactly
// the text the shown report was made from.

import { Watermark } from "/console/watermark.js";
import { t, lang, setLang, applyStatic } from "/console/backtest/words.js";
import { drawReport } from "/console/backtest/report.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 500;
// Shanghai keeps no summer time: local time is UTC+8 all year.
const SHANGHAI_MS = 8 * 3600 * 1000;

const auth = { token: "", csrf: "" };
const state = { viewer: null, tried: null, inForce: "", revision: null, polling: null };
const watermark = new Watermark($("watermark"));

class HubError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(path, { method = "GET", body, type = "application/json" } = {}) {
  const headers = { "Content-Type": type };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  if (auth.csrf && method !== "GET") headers["X-CSRF-Token"] = auth.csrf;
  const res = await fetch(path, { method, body, headers, credentials: "same-origin" });
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new HubError(res.status, answer.error || `${res.status} ${res.statusText}`);
  return answer;
}

// ------------------------------------------------------------- sign in

async function signIn(token) {
  auth.token = token;
  const me = await call("/api/console/session");
  let person = null;
  try {
    person = await call("/api/session");
    auth.csrf = person.csrf_token || "";
  } catch (_) {
    person = null;
  }
  if (me.scope !== "district") {
    const scope = me.street ? `${me.street.name} ${me.street.code}` : me.scope;
    refuse(t("refused.street", { scope }));
    return;
  }
  if (token) sessionStorage.setItem("tongguan-token", token);
  const name = (person && (person.display_name || person.name)) || me.name;
  const scope = person && person.scope_name ? `${person.scope_name} ${person.role_zh || ""}`.trim() : t("desk");
  state.viewer = { name, scope };
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").textContent = `${scope} · ${name}`;
  watermark.show(state.viewer);
  await loadRules();
  await showJob(await call("/api/rules/backtest"));
}

function refuse(message) {
  $("login").hidden = true;
  $("app").hidden = true;
  $("refused").textContent = message;
  $("refused").hidden = false;
}

function askToken(message = "") {
  $("login").hidden = false;
  $("refused").hidden = !message;
  $("refused").textContent = message;
}

// ---------------------------------------------------------------- rules

async function loadRules() {
  const rules = await call("/api/rules");
  state.inForce = rules.source || "";
  // The cluster's revision of what was read (none on an embedded hub): the
  // change is made against it, so another desk's change made meanwhile is
  // refused (409) instead of being overwritten.
  state.revision = rules.revision ?? null;
  $("rules").value = state.inForce;
  updateApply();
}

// "Apply" is for the very text the shown report tried.
function updateApply() {
  const text = $("rules").value;
  let why = "apply.none";
  if (state.tried !== null) why = text === state.tried ? "apply.ready" : "apply.edited";
  $("apply").disabled = why !== "apply.ready";
  $("apply-why").textContent = t(why);
  $("apply-why").dataset.reason = why;
}

// ------------------------------------------------------------- backtest

// "2026-06-01T08:00" in Shanghai time, as Unix ms.
function shanghaiMs(value) {
  if (!value) return undefined;
  const [date, time] = value.split("T");
  const [y, m, d] = date.split("-").map(Number);
  const [hh, mm, ss = 0] = time.split(":").map(Number);
  return Date.UTC(y, m - 1, d, hh, mm, ss) - SHANGHAI_MS;
}

function showError(message) {
  $("error").textContent = message;
}

async function run() {
  showError("");
  const request = { rules: $("rules").value };
  const from = shanghaiMs($("from").value);
  const to = shanghaiMs($("to").value);
  if (from !== undefined) request.from_ms = from;
  if (to !== undefined) request.to_ms = to;
  try {
    await call("/api/rules/backtest", { method: "POST", body: JSON.stringify(request) });
  } catch (err) {
    if (err.status === 409 && /running/.test(err.message)) showError(t("status.busy", { why: err.message }));
    else showError(err.message);
    return;
  }
  $("run").disabled = true;
  poll();
}

function poll() {
  clearTimeout(state.polling);
  state.polling = setTimeout(async () => {
    try {
      await showJob(await call("/api/rules/backtest"));
    } catch (err) {
      showError(err.message);
      $("run").disabled = false;
    }
  }, POLL_MS);
}

async function showJob(job) {
  const progress = $("progress");
  if (job.state === "running") {
    $("run").disabled = true;
    progress.hidden = false;
    progress.max = Math.max(1, job.total_bytes);
    progress.value = job.done_bytes;
    $("status").textContent = t("status.running", { done: job.done_bytes, total: job.total_bytes });
    poll();
    return;
  }
  $("run").disabled = false;
  progress.hidden = true;
  if (job.state === "done") {
    state.tried = job.rules;
    state.job = job;
    $("status").textContent = t("status.done", { job: job.job, events: job.events, seconds: job.seconds.toFixed(2), mode: job.mode });
    drawReport($("report"), job.report);
  } else if (job.state === "failed") {
    $("status").textContent = t("status.failed", { why: job.error });
  }
  updateApply();
}

async function apply() {
  showError("");
  const text = $("rules").value;
  if (text !== state.tried) return updateApply();
  try {
    const at = state.revision === null ? "" : `?revision=${state.revision}`;
    const answer = await call(`/api/rules${at}`, { method: "PUT", body: text, type: "text/plain; charset=utf-8" });
    state.inForce = text;
    state.revision = answer.revision ?? null;
    $("status").textContent = t("apply.done", { n: answer.rules });
  } catch (err) {
    showError(err.message);
  }
}

// ------------------------------------------------------------- wiring

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  signIn($("token").value.trim()).catch((err) => askToken(t("refused.signin", { why: err.message })));
});
$("rules").addEventListener("input", updateApply);
$("run").addEventListener("click", run);
$("apply").addEventListener("click", apply);
$("reset").addEventListener("click", () => {
  $("rules").value = state.inForce;
  updateApply();
});
$("lang").addEventListener("click", () => {
  setLang(lang() === "zh" ? "en" : "zh");
  updateApply();
  if (state.job) showJob(state.job);
});

applyStatic();
// Signed in on the console before: this tab's token, else a person's
// session cookie, if the hub still takes it.
const saved = sessionStorage.getItem("tongguan-token");
signIn(saved || "").catch((err) => {
  if (saved) sessionStorage.removeItem("tongguan-token");
  askToken(saved && err.status !== 401 ? err.message : "");
});
