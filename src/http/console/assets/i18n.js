// Chinese first, English by a switch: every word the console shows, in
// both languages, and the choice kept per browser (localStorage), so a
// desk's screen stays in the language its officers chose. Static text in
// the page names its key in data-i18n (text), data-i18n-placeholder,
// data-i18n-label (aria-label) or data-i18n-title; everything drawn by
// the script asks t() for its words.

const KEY = "tongguan-lang";

const WORDS = {
  zh: {
    title: "通管 · 值班台",
    "login.sub": "街镇平台与区值班台",
    "login.token": "令牌",
    "login.placeholder": "街镇或区值班台令牌",
    "login.button": "登录",
    "lang.switch": "English",
    "lang.label": "切换到英文",
    logout: "退出",
    "tab.orders": "工单",
    "tab.district": "全区",
    emergency: "应急模式",
    district_desk: "区值班台",
    "live.on": "● 实时",
    "live.off": "○ 离线",
    "live.retry": "○ 重连中",
    "legend.multi": "多源",
    "map.label": "区域地图：街镇边界与待处置工单",
    "map.zoom_in": "放大",
    "map.zoom_out": "缩小",
    "map.reset": "全区",
    "map.keys": "地图：方向键平移，+/- 缩放，0 复位",
    "map.approximate": "虚线边界为示意（近似）：{names}之间的分界线系绘制，非测绘。",
    "map.cluster": "{n} 个工单，点击放大",
    "map.pin": "{severity} {category} · {street} · 设备 {devices} · {id}",
    "filter.severity": "等级",
    "filter.status": "状态",
    "filter.category": "类别",
    "filter.all_severities": "全部等级",
    "filter.all_statuses": "全部状态",
    "filter.all_categories": "全部类别",
    "filter.search": "搜索：工单号、地点、设备、类别、内容",
    "view.all": "全部",
    "view.mine": "我的",
    "view.unaccepted": "待签收",
    "view.label": "视图",
    "view.mine_fallback_street": "工单尚未记录签收人或处置人：“我的”暂按本街镇的全部工单显示。",
    "view.mine_fallback_district": "工单尚未记录签收人或处置人：“我的”暂显示督办给区值班台的工单。",
    "view.unaccepted_fallback": "工单尚无签收步骤：“待签收”暂显示尚未反馈的工单。",
    "detail.stage": "处置环节",
    "detail.accepted_by": "签收人",
    "detail.assignee": "处置人",
    "detail.next_limit": "下一时限",
    count: "{shown} / {all}",
    "count.hidden": "（另有 {n} 条更早的已反馈工单未显示）",
    outside: "区外",
    overdue: "超时",
    "left": "剩余 {d}",
    "overdue_by": "已超时 {d}",
    "detail.empty": "在地图或列表中选择一个工单。",
    "detail.revision": "第 {n} 版",
    "detail.status": "状态",
    "detail.place": "地点",
    "detail.sources": "来源",
    "detail.multi": "（多源预警）",
    "detail.events": "事件",
    "detail.deadline": "时限",
    "detail.camera": "视频调阅",
    "detail.escalation_of": "督办原工单",
    "detail.ack": "反馈",
    "detail.plan": "处置方案",
    "detail.history": "经过",
    "detail.acknowledged": "已反馈",
    "detail.offline": "与中心的连接已断开：这里是断开前收到的内容，经过记录暂不可读。",
    "detail.load_failed": "读取工单失败：{why}",
    "col.device": "设备",
    "col.source": "来源",
    "col.category": "类别",
    "col.value": "值",
    "col.time": "时间",
    "col.camera": "摄像头",
    "ack.heading": "反馈处置结果",
    "ack.note": "处置说明（个人信息将被脱敏）",
    "ack.button": "反馈",
    "ack.sending": "提交中…",
    "ack.queued": "已排队，记录后显示",
    "alarm.on": "🔔 警报声：开",
    "alarm.muted": "🔕 已静音",
    "alarm.label": "警报声（本次登录内有效）",
    "alarm.sounding": "{n} 条重大以上工单待处置，警报持续至有人处置",
    "alarm.title": "({n}) 待处置 · ",
    "notify.title": "{severity}工单 · {category}",
    "notify.body": "{street} · {id}",
    "banner.down": "与通管中心的实时连接已断开，自 {since} 起（{ago}）。",
    "banner.works": "仍可查看已加载的工单、地图和筛选搜索；反馈等操作暂不可用，新工单暂无提醒。正在自动重连…",
    "banner.reason": "连接已断开，重连后可操作",
    "district.streets": "各街镇",
    "district.flagged": "误报设备",
    "district.offline": "离线设备",
    "district.summary": "督办待处置：{esc} · 离线设备总数（全部在管）：{off}",
    "th.street": "街镇",
    "th.open": "待处置",
    "th.escalated": "已督办",
    "th.acked": "近7日已反馈",
    "th.p50": "反馈用时中位（7日）",
    "th.p90": "反馈用时 p90（7日）",
    "th.false": "误报率（7日）",
    "th.orders": "工单",
    "th.false_alarms": "误报",
    "th.rate": "误报率",
    "th.online": "在线",
    "th.last_seen": "最后上报",
    online: "在线",
    offline: "离线",
    none: "无",
    never_seen: "自启动未上报",
    "watermark": "{name} · {scope} · {time}",
    "err.token": "令牌已失效",
    "err.network": "无法连接通管中心",
  },
  en: {
    title: "tongguan · duty console",
    "login.sub": "Street platforms and the district duty desk",
    "login.token": "Token",
    "login.placeholder": "street or district token",
    "login.button": "Sign in",
    "lang.switch": "中文",
    "lang.label": "Switch to Chinese",
    logout: "Sign out",
    "tab.orders": "Orders",
    "tab.district": "District",
    emergency: "emergency mode",
    district_desk: "District duty desk",
    "live.on": "● live",
    "live.off": "○ offline",
    "live.retry": "○ reconnecting",
    "legend.multi": "multi-source",
    "map.label": "District map: street boundaries and open orders",
    "map.zoom_in": "Zoom in",
    "map.zoom_out": "Zoom out",
    "map.reset": "Whole district",
    "map.keys": "Map: arrow keys pan, +/- zoom, 0 resets",
    "map.approximate": "Dashed boundaries are approximate: the line between {names} is drawn, not surveyed.",
    "map.cluster": "{n} orders, click to zoom in",
    "map.pin": "{severity} {category} · {street} · device {devices} · {id}",
    "filter.severity": "Severity",
    "filter.status": "Status",
    "filter.category": "Category",
    "filter.all_severities": "All severities",
    "filter.all_statuses": "All statuses",
    "filter.all_categories": "All categories",
    "filter.search": "Search: order id, place, device, category, text",
    "view.all": "All",
    "view.mine": "Mine",
    "view.unaccepted": "Unaccepted",
    "view.label": "View",
    "view.mine_fallback_street": "Orders do not record who accepted or handles them yet: \"mine\" shows all of this street's orders.",
    "view.mine_fallback_district": "Orders do not record who accepted or handles them yet: \"mine\" shows the escalations to the district desk.",
    "view.unaccepted_fallback": "Orders have no accept step yet: \"unaccepted\" shows the orders not yet acknowledged.",
    "detail.stage": "Stage",
    "detail.accepted_by": "Accepted by",
    "detail.assignee": "Handled by",
    "detail.next_limit": "Next limit",
    count: "{shown} / {all}",
    "count.hidden": " (+{n} older acknowledged not shown)",
    outside: "outside the streets",
    overdue: "overdue",
    "left": "{d} left",
    "overdue_by": "{d} overdue",
    "detail.empty": "Select an order on the map or in the list.",
    "detail.revision": "revision {n}",
    "detail.status": "Status",
    "detail.place": "Place",
    "detail.sources": "Sources",
    "detail.multi": " (multi-source)",
    "detail.events": "Events",
    "detail.deadline": "Deadline",
    "detail.camera": "Camera",
    "detail.escalation_of": "Escalation of",
    "detail.ack": "Acknowledgement",
    "detail.plan": "Disposal plan",
    "detail.history": "History",
    "detail.acknowledged": "acknowledged",
    "detail.offline": "The connection to the hub is down: this is what came before it dropped; the history cannot be read now.",
    "detail.load_failed": "The order could not be read: {why}",
    "col.device": "Device",
    "col.source": "Source",
    "col.category": "Category",
    "col.value": "Value",
    "col.time": "Time",
    "col.camera": "Camera",
    "ack.heading": "Acknowledge",
    "ack.note": "Note (personal data is masked)",
    "ack.button": "Acknowledge",
    "ack.sending": "Sending…",
    "ack.queued": "Queued: it shows once recorded",
    "alarm.on": "🔔 Alarm sound on",
    "alarm.muted": "🔕 Muted",
    "alarm.label": "Alarm sound (for this sign-in)",
    "alarm.sounding": "{n} major or critical orders wait; the alarm sounds until someone acts",
    "alarm.title": "({n}) waiting · ",
    "notify.title": "{severity} order · {category}",
    "notify.body": "{street} · {id}",
    "banner.down": "The live connection to the hub is down since {since} ({ago}).",
    "banner.works": "Loaded orders, the map, filters and search still work; acknowledging is disabled and new orders do not alarm. Reconnecting…",
    "banner.reason": "The connection is down; act once it is back",
    "district.streets": "Streets and towns",
    "district.flagged": "Flagged devices",
    "district.offline": "Offline devices",
    "district.summary": "Open escalations: {esc} · offline devices (all tracked): {off}",
    "th.street": "Street",
    "th.open": "Open",
    "th.escalated": "Escalated",
    "th.acked": "Acked (7 d)",
    "th.p50": "Ack p50 (7 d)",
    "th.p90": "Ack p90 (7 d)",
    "th.false": "False alarms (7 d)",
    "th.orders": "Orders",
    "th.false_alarms": "False alarms",
    "th.rate": "Rate",
    "th.online": "Online",
    "th.last_seen": "Last seen",
    online: "online",
    offline: "offline",
    none: "none",
    never_seen: "not since the hub started",
    "watermark": "{name} · {scope} · {time}",
    "err.token": "The token is no longer accepted",
    "err.network": "The hub cannot be reached",
  },
};

// Names of the codes orders carry. Statuses past "acked" are the steps of
// the disposal loop (签收 ... 结案), named here before the hub sends them.
const NAMES = {
  severity: {
    zh: { critical: "特别重大", major: "重大", moderate: "较大", minor: "一般" },
    en: { critical: "critical", major: "major", moderate: "moderate", minor: "minor" },
  },
  status: {
    zh: {
      open: "待处置", escalated: "已督办", acked: "已反馈", dispatched: "已派遣", accepted: "已签收",
      assigned: "已派遣到人", in_progress: "处置中", feedback: "已现场反馈", resolved: "已办结",
      returned: "退回返工", sent_back: "退回返工", verified: "已核查", closed: "已结案", transferred: "已转派",
    },
    en: {
      open: "open", escalated: "escalated", acked: "acknowledged", dispatched: "dispatched",
      accepted: "accepted", assigned: "assigned", in_progress: "in progress", feedback: "feedback given",
      resolved: "resolved", returned: "sent back", sent_back: "sent back", verified: "verified", closed: "closed",
      transferred: "transferred",
    },
  },
  outcome: {
    zh: { confirmed: "属实", false_alarm: "误报", resolved: "已处置" },
    en: { confirmed: "confirmed", false_alarm: "false alarm", resolved: "resolved" },
  },
  source: {
    zh: { sensor: "物联感知", video: "视频分析", hotline: "12345热线", patrol: "网格巡查" },
    en: { sensor: "IoT sensor", video: "video analytics", hotline: "12345 hotline", patrol: "grid patrol" },
  },
  category: {
    zh: {
      smoke: "烟感", fire: "视频烟火", water_level: "水位", waterlogging: "积水", gas: "燃气",
      manhole: "井盖", crowd_density: "人群密度", illegal_parking: "违停", garbage_overflow: "垃圾满溢",
      structural_strain: "结构应力", noise_complaint: "噪声投诉",
    },
    en: {
      smoke: "smoke", fire: "fire (video)", water_level: "water level", waterlogging: "waterlogging",
      gas: "gas", manhole: "manhole cover", crowd_density: "crowd density", illegal_parking: "illegal parking",
      garbage_overflow: "garbage overflow", structural_strain: "structural strain", noise_complaint: "noise complaint",
    },
  },
  incident: {
    zh: {
      fire: "火情", flood: "汛情", gas: "燃气泄漏", manhole: "井盖缺失", crowd: "人群聚集", noise: "噪声扰民",
      parking: "违法停车", sanitation: "市容环卫", structure: "结构安全",
    },
    en: {
      fire: "fire", flood: "flood", gas: "gas leak", manhole: "manhole", crowd: "crowd", noise: "noise",
      parking: "parking", sanitation: "sanitation", structure: "structural safety",
    },
  },
};

let current = localStorage.getItem(KEY) === "en" ? "en" : "zh";

export function lang() {
  return current;
}

export function setLang(next) {
  current = next === "en" ? "en" : "zh";
  localStorage.setItem(KEY, current);
  applyStatic(document);
}

// The word for `key`, with {name} placeholders filled from `params`.
export function t(key, params = {}) {
  const text = WORDS[current][key] ?? WORDS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (k in params ? String(params[k]) : `{${k}}`));
}

// The name of a code (`kind` is severity, status, outcome, source,
// category or incident); an unknown code shows as it is.
export function name(kind, code) {
  return NAMES[kind][current][code] ?? code;
}

export function codes(kind) {
  return Object.keys(NAMES[kind].zh);
}

export function applyStatic(root) {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) node.placeholder = t(node.dataset.i18nPlaceholder);
  for (const node of root.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
}
