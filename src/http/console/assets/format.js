// Times and durations as a duty officer reads them: clock times in the
// district's time zone (Asia/Shanghai, whatever the browser's own zone),
// durations as 分/秒 in Chinese and min/s in English.

import { lang } from "./i18n.js";

// The district's time zone: a desk in another zone (or a browser set to
// UTC) still reads the times the streets speak of.
export const ZONE = "Asia/Shanghai";

const clock = new Intl.DateTimeFormat("en-CA", {
  timeZone: ZONE, month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
});

const minute = new Intl.DateTimeFormat("en-CA", {
  timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

function parts(format, ms) {
  const out = {};
  for (const p of format.formatToParts(new Date(ms))) out[p.type] = p.value;
  return out;
}

// "12-01 23:05:09": month-day and the time of day in the district.
export function time(ms) {
  const p = parts(clock, ms);
  return `${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

// "23:00": the hour of day in the district, for a plot's axis.
export function hourOfDay(ms) {
  const p = parts(clock, ms);
  return `${p.hour}:00`;
}

// "2026-12-01T23:05": to the minute in the district, as a
// datetime-local field holds it.
export function fieldTime(ms) {
  const p = parts(minute, ms);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

// A datetime-local field's value, read in the district's zone
// (UTC+8 all year: Shanghai keeps no summer time), as Unix ms; "" when
// empty or not a time.
export function fieldToMs(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value || "");
  if (!m) return "";
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v || 0));
  return String(Date.UTC(y, mo - 1, d, h, mi, s) - 8 * 3_600_000);
}

// "2026-12-01 23:05": to the minute, for the watermark.
export function timeToMinute(ms) {
  const p = parts(minute, ms);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

// "5分03秒" / "5 min 03 s"; hours past the first hour, seconds dropped.
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const zh = lang() === "zh";
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return zh ? `${s}秒` : `${s} s`;
  if (s < 3600) {
    const [m, r] = [Math.floor(s / 60), s % 60];
    return zh ? `${m}分${pad(r)}秒` : `${m} min ${pad(r)} s`;
  }
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  return zh ? `${h}小时${pad(m)}分` : `${h} h ${pad(m)} min`;
}
