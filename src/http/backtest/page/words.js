// Chinese first, English by a switch: every word of the backtest page in
// both languages. The choice is kept under the console's own key
// (localStorage "tongguan-lang"), so the page and the console speak the
// same language. Static text names its key in data-t; the script asks
// t() for the rest.

const KEY = "tongguan-lang";

const WORDS = {
  zh: {
    title: "科学阈值 · 规则回测",
    back: "返回值班台",
    desk: "区值班台",
    lang: "English",
    "login.sub": "区值班台令牌，或先在值班台以账号登录",
    "login.token": "令牌",
    "login.button": "登录",
    "refused.street": "规则回测仅限区值班台使用：街镇账号（{scope}）不能试行或修改规则。",
    "refused.signin": "登录失败：{why}",
    rules: "规则（TOML，现行规则）",
    from: "录制起",
    to: "止",
    "range.hint": "北京时间；留空为全部录制",
    run: "运行回测",
    apply: "应用",
    reset: "恢复现行规则",
    "apply.none": "先运行回测：应用的是报告所试的规则。",
    "apply.edited": "规则在回测后已修改：须重新运行回测（或改回原文）才能应用。",
    "apply.ready": "报告所试的规则与编辑区一致，可以应用。",
    "apply.done": "已应用：{n} 条规则生效。",
    "status.running": "回测运行中…… 已读 {done} / {total}",
    "status.done": "回测完成：第 {job} 次，{events} 个事件，用时 {seconds} 秒（{mode} 模式）",
    "status.failed": "回测失败：{why}",
    "status.busy": "已有回测在运行（一次只能运行一个）：{why}",
    "report.totals": "总计",
    "report.orders": "工单",
    "report.multi": "多源预警",
    "report.p50": "时延中位数",
    "report.p90": "时延 P90",
    "report.baseline": "现行规则",
    "report.candidate": "候选规则",
    "report.by_rule": "按规则",
    "report.by_kind": "按事件类型",
    "report.by_street": "按街镇",
    "report.avoided": "避免的误报（{n}）",
    "report.kept": "仍会发出的误报：{n}；已研判的现行工单：{judged}",
    "report.missed": "漏报：已确认或已处置的事件（{n}）",
    "report.shifted": "时间变化的事件（{n}）",
    "report.later": "推迟 {s} 秒",
    "report.earlier": "提前 {s} 秒",
    "report.new": "新增工单，尚无人研判（{n}）",
    "report.differing": "不同的工单（{n}）",
    "report.only_baseline": "仅现行",
    "report.only_candidate": "仅候选",
    "report.none": "无",
    "report.delay": "时延 {s} 秒",
    "plot.rules": "各规则工单数：现行 vs 候选",
    "plot.timeline": "不同工单的时间线",
    "plot.delays": "时延分布（首个越限事件到工单）",
    "plot.empty": "无数据",
    "col.key": "项",
    "outcome.false_alarm": "误报",
    "outcome.confirmed": "属实",
    "outcome.resolved": "已处置",
  },
  en: {
    title: "Tuning thresholds · rules backtest",
    back: "Back to the console",
    desk: "district desk",
    lang: "中文",
    "login.sub": "The district desk's token, or sign in with an account on the console first",
    "login.token": "Token",
    "login.button": "Sign in",
    "refused.street": "The backtest is the district desk's: a street ({scope}) may not try or change rules.",
    "refused.signin": "Sign-in failed: {why}",
    rules: "Rules (TOML, the rules in force)",
    from: "Recording from",
    to: "to",
    "range.hint": "Beijing time; empty: the whole recording",
    run: "Run the backtest",
    apply: "Apply",
    reset: "Back to the rules in force",
    "apply.none": "Run the backtest first: what is applied is what the report tried.",
    "apply.edited": "The rules were edited after the run: run it again (or undo the edit) to apply.",
    "apply.ready": "The editor holds exactly the rules the report tried: they may be applied.",
    "apply.done": "Applied: {n} rules in force.",
    "status.running": "Backtest running… read {done} / {total}",
    "status.done": "Backtest done: job {job}, {events} events, {seconds} s ({mode} mode)",
    "status.failed": "Backtest failed: {why}",
    "status.busy": "A backtest is running (one at a time): {why}",
    "report.totals": "Totals",
    "report.orders": "orders",
    "report.multi": "multi-source",
    "report.p50": "median delay",
    "report.p90": "p90 delay",
    "report.baseline": "in force",
    "report.candidate": "proposed",
    "report.by_rule": "By rule",
    "report.by_kind": "By incident kind",
    "report.by_street": "By street",
    "report.avoided": "False alarms avoided ({n})",
    "report.kept": "False alarms still raised: {n}; baseline orders judged: {judged}",
    "report.missed": "Missed: confirmed or resolved incidents ({n})",
    "report.shifted": "Incidents raised at another time ({n})",
    "report.later": "{s} s later",
    "report.earlier": "{s} s earlier",
    "report.new": "New orders nobody judged ({n})",
    "report.differing": "Orders that differ ({n})",
    "report.only_baseline": "in force only",
    "report.only_candidate": "proposed only",
    "report.none": "none",
    "report.delay": "delay {s} s",
    "plot.rules": "Orders per rule: in force vs proposed",
    "plot.timeline": "Timeline of the orders that differ",
    "plot.delays": "Delay distribution (first breaching event to order)",
    "plot.empty": "no data",
    "col.key": "",
    "outcome.false_alarm": "false alarm",
    "outcome.confirmed": "confirmed",
    "outcome.resolved": "resolved",
  },
};

let current = localStorage.getItem(KEY) === "en" ? "en" : "zh";

export function lang() {
  return current;
}

export function setLang(next) {
  current = next === "en" ? "en" : "zh";
  localStorage.setItem(KEY, current);
  applyStatic();
}

// The word for `key`, with {name} placeholders filled from `params`.
export function t(key, params = {}) {
  const text = WORDS[current][key] ?? WORDS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in params ? String(params[k]) : `{${k}}`));
}

export function applyStatic() {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
}
