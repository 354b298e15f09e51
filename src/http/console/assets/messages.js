// What the hub writes in English, in the officer's language: an order's
// history lines (kept in the outbox in English, for the API and the
// logs) and the API's error messages. Each known form is matched and
// rewritten; an unknown one shows as the hub wrote it, after a word in
// the officer's language, so nothing is hidden.

import { lang, name, t } from "./i18n.js";

const STEP = {
  zh: {
    dispatched: "派遣", updated: "更新", escalated: "超时督办", acked: "反馈", urged: "督办",
    accepted: "签收", assigned: "派遣到人", feedback: "现场反馈", resolved: "办结", returned: "退回返工",
    verified: "核查", closed: "结案", transferred: "转派",
    accept: "签收", assign: "派遣到人", resolve: "办结", send_back: "退回返工", verify: "核查", close: "结案",
    transfer: "转派",
  },
  en: {
    dispatched: "dispatched", updated: "updated", escalated: "escalated", acked: "acknowledged",
    urged: "urged", accepted: "accepted", assigned: "assigned", feedback: "feedback", resolved: "resolved",
    returned: "sent back", verified: "verified", closed: "closed", transferred: "transferred",
    accept: "accepted", assign: "assigned", resolve: "resolved", send_back: "sent back", verify: "verified",
    close: "closed", transfer: "transferred",
  },
};

// [pattern, Chinese, English]: the details the dispatcher writes.
const DETAILS = [
  [/^revision (\d+), severity (\w+), sources (\d+)$/,
    (m) => `第 ${m[1]} 版，等级${name("severity", m[2])}，${m[3]} 个来源`,
    (m) => `revision ${m[1]}, severity ${name("severity", m[2])}, ${m[3]} sources`],
  [/^(\w+) by (\S+): ?(.*)$/s,
    (m) => `${name("outcome", m[1])}，由 ${m[2]}${m[3] ? "：" + m[3] : ""}`,
    (m) => `${name("outcome", m[1])} by ${m[2]}${m[3] ? ": " + m[3] : ""}`],
  [/^no acknowledgement by the deadline; escalation order (\S+)$/,
    (m) => `时限内未反馈，督办工单 ${m[1]}`,
    (m) => `no acknowledgement by the deadline; escalation order ${m[1]}`],
  [/^escalation of (\S+) to the district duty desk$/,
    (m) => `${m[1]} 超时，督办至区值班台`,
    (m) => `escalation of ${m[1]} to the district duty desk`],
  [/^closed with (\S+)$/, (m) => `随 ${m[1]} 一并办结`, (m) => `closed with ${m[1]}`],
  [/^督办 urged by (\S+) \((\w+)\): ?(.*)$/s,
    (m) => `督办：${m[1]}（${name("outcome", m[2])}）${m[3] ? "：" + m[3] : ""}`,
    (m) => `urged by ${m[1]} (${name("outcome", m[2])})${m[3] ? ": " + m[3] : ""}`],
];

export function historyStep(what) {
  return STEP[lang()][what] ?? what;
}

export function historyDetail(detail) {
  if (!detail) return "";
  for (const [pattern, zh, en] of DETAILS) {
    const m = detail.match(pattern);
    if (m) return lang() === "zh" ? zh(m) : en(m);
  }
  return detail;
}

// [pattern, Chinese, English]: the console API's errors that an officer
// can meet.
const ERRORS = [
  [/^order "(.+)" is already acknowledged$/, (m) => `工单 ${m[1]} 已反馈过`, (m) => `order ${m[1]} is already acknowledged`],
  [/^order "(.+)" was acknowledged first by (\S+) as (\w+)$/,
    (m) => `工单 ${m[1]} 已先由 ${m[2]} 反馈为${name("outcome", m[3])}`,
    (m) => `order ${m[1]} was acknowledged first by ${m[2]} as ${name("outcome", m[3])}`],
  [/^no order "(.+)"$/, (m) => `没有工单 ${m[1]}（或不属于本街镇）`, (m) => `no order ${m[1]} (or not yours)`],
  [/^the note is longer than (\d+) characters$/, (m) => `说明超过 ${m[1]} 字`, (m) => `the note is longer than ${m[1]} characters`],
  [/^too many acknowledgements wait/, () => "待写入的反馈过多，请稍后重试", () => "too many acknowledgements wait for the outbox; try again"],
  [/^the hub is shutting down$/, () => "通管中心正在停止", () => "the hub is shutting down"],
  [/^this token is not a street or district token/, () => "此令牌不是本中心的街镇或区值班台令牌", () => "this token is not a street or district token of this hub"],
  [/^sign in/, () => "请登录：需要街镇或区值班台令牌", () => "sign in with a street or district token"],
  [/^the district view is for/, () => "全区视图仅限区值班台", () => "the district view is for the district duty desk"],
  [/^(Failed to fetch|NetworkError|Load failed)/, () => t("err.network"), () => t("err.network")],
];

export function errorText(message) {
  const text = String(message || "");
  // The hub's newer errors come in both languages, "中文 / English".
  const both = text.match(/^(.*[\u4e00-\u9fff].*?) \/ (.+)$/s);
  if (both) return lang() === "zh" ? both[1] : both[2];
  for (const [pattern, zh, en] of ERRORS) {
    const m = text.match(pattern);
    if (m) return lang() === "zh" ? zh(m) : en(m);
  }
  return lang() === "zh" ? `出错：${text}` : text;
}
