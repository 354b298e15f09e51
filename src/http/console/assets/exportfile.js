// Any list the page shows (the live list as filtered, a part of the
// handover) saved as a file in the browser, with the columns and values
// of the hub's own export (GET /api/orders/export): CSV in UTF-8 with a
// BOM, or XLSX, a workbook of one sheet of inline strings in a zip whose
// entries are stored (no compression, so no library is needed).

// The hub's export columns, Chinese first.
const COLUMNS = [
  "工单号 id", "派单时间 created", "街镇 street", "类别 category", "等级 severity", "状态 status",
  "阶段 stage", "签收人 accepted_by", "处置人 assignee", "办结结果 outcome", "办结时间 resolved",
  "设备 devices", "处置方案 plan",
];

// The stages as the hub's export names them (Stage::label_zh).
const STAGES = {
  dispatched: "已派遣", accepted: "已签收", in_progress: "处置中", feedback: "已反馈",
  resolved: "已办结", sent_back: "退回返工", verified: "已核查", closed: "已结案",
};

// "2026-12-01 16:00:00" in the district's zone (UTC+8, no summer time).
function shanghai(ms) {
  return new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19).replace("T", " ");
}

// An order as a row of the export.
export function row(o) {
  const devices = [];
  for (const e of o.events || []) {
    const d = e.device_name || String(e.device);
    if (devices[devices.length - 1] !== d) devices.push(d);
  }
  const stage = o.stage || "dispatched";
  return [
    o.id, shanghai(o.created_ms), o.place && o.place.street ? o.place.street.name : "区级",
    o.category, o.severity, o.status, STAGES[stage] || stage, o.accepted_by || "", o.assignee || "",
    o.ack ? o.ack.outcome : "", o.ack ? shanghai(o.ack.at_ms) : "", devices.join(" "), o.plan || "",
  ];
}

function csvField(v) {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// The orders as CSV (UTF-8 with a BOM, lines ending in \n as the hub's).
export function csv(orders) {
  const lines = [COLUMNS, ...orders.map(row)].map((r) => r.map(csvField).join(","));
  return new Blob(["\uFEFF" + lines.join("\n") + "\n"], { type: "text/csv;charset=utf-8" });
}

// ------------------------------------------------------------------- XLSX

const OOXML = "http://schemas.openxmlformats.org/";

function xml(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c])
    // Characters XML 1.0 cannot hold at all.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, "");
}

function column(i) {
  let s = "";
  for (let n = i + 1; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

function sheet(rows) {
  const body = rows.map((r, i) => `<row r="${i + 1}">` + r.map((v, j) =>
    `<c r="${column(j)}${i + 1}" t="inlineStr"><is><t xml:space="preserve">${xml(v)}</t></is></c>`).join("") + "</row>").join("");
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
    `<worksheet xmlns="${OOXML}spreadsheetml/2006/main"><sheetData>${body}</sheetData></worksheet>`;
}

function parts(rows) {
  const rel = (type, target) =>
    `<Relationship Id="rId1" Type="${OOXML}officeDocument/2006/relationships/${type}" Target="${target}"/>`;
  const rels = (one) => `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
    `<Relationships xmlns="${OOXML}package/2006/relationships">${one}</Relationships>`;
  const ct = "application/vnd.openxmlformats-officedocument.spreadsheetml";
  return [
    ["[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
      `<Types xmlns="${OOXML}package/2006/content-types">` +
      `<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
      `<Default Extension="xml" ContentType="application/xml"/>` +
      `<Override PartName="/xl/workbook.xml" ContentType="${ct}.sheet.main+xml"/>` +
      `<Override PartName="/xl/worksheets/sheet1.xml" ContentType="${ct}.worksheet+xml"/></Types>`],
    ["_rels/.rels", rels(rel("officeDocument", "xl/workbook.xml"))],
    ["xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
      `<workbook xmlns="${OOXML}spreadsheetml/2006/main" xmlns:r="${OOXML}officeDocument/2006/relationships">` +
      `<sheets><sheet name="工单" sheetId="1" r:id="rId1"/></sheets></workbook>`],
    ["xl/_rels/workbook.xml.rels", rels(rel("worksheet", "worksheets/sheet1.xml"))],
    ["xl/worksheets/sheet1.xml", sheet(rows)],
  ];
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// A zip of `files` ([name, text]), every entry stored, names in UTF-8.
function zip(files) {
  const enc = new TextEncoder();
  const chunks = [];
  const central = [];
  let offset = 0;
  const header = (size) => new DataView(new ArrayBuffer(size));
  for (const [fileName, text] of files) {
    const nameBytes = enc.encode(fileName);
    const data = enc.encode(text);
    const crc = crc32(data);
    const local = header(30);
    // Signature, version 2.0, UTF-8 names, stored, 1980-01-01 00:00.
    [[0, 0x04034b50, 4], [4, 20, 2], [6, 0x0800, 2], [8, 0, 2], [10, 0, 2], [12, 0x21, 2],
      [14, crc, 4], [18, data.length, 4], [22, data.length, 4], [26, nameBytes.length, 2], [28, 0, 2]]
      .forEach(([at, v, n]) => (n === 4 ? local.setUint32(at, v, true) : local.setUint16(at, v, true)));
    const entry = header(46);
    [[0, 0x02014b50, 4], [4, 20, 2], [6, 20, 2], [8, 0x0800, 2], [10, 0, 2], [12, 0, 2], [14, 0x21, 2],
      [16, crc, 4], [20, data.length, 4], [24, data.length, 4], [28, nameBytes.length, 2], [30, 0, 2],
      [32, 0, 2], [34, 0, 2], [36, 0, 2], [38, 0, 4], [42, offset, 4]]
      .forEach(([at, v, n]) => (n === 4 ? entry.setUint32(at, v, true) : entry.setUint16(at, v, true)));
    chunks.push(local, nameBytes, data);
    central.push(entry, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const size = central.reduce((n, c) => n + c.byteLength, 0);
  const end = header(22);
  [[0, 0x06054b50, 4], [4, 0, 2], [6, 0, 2], [8, files.length, 2], [10, files.length, 2],
    [12, size, 4], [16, offset, 4], [20, 0, 2]]
    .forEach(([at, v, n]) => (n === 4 ? end.setUint32(at, v, true) : end.setUint16(at, v, true)));
  return new Blob([...chunks, ...central, end], { type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" });
}

// The orders as an XLSX workbook.
export function xlsx(orders) {
  return zip(parts([COLUMNS, ...orders.map(row)]));
}

// Hands `blob` to the browser as a download named `file`.
export function save(blob, file) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = file;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
