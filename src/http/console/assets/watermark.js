// The watermark (水印): every page of a signed-in console carries the
// viewer's name, scope and the time, tiled and faint across the whole
// screen above everything (it takes no clicks), redrawn each minute, so
// that a screenshot or a photo of the screen shows who looked and when.
// An SVG tile as the background of a fixed layer: no canvas to read back,
// nothing the page's own styles can cover.

import { timeToMinute } from "./format.js";
import { t } from "./i18n.js";

// The text's slant; a tile's width follows the text's length and its
// height the room the slanted text takes, as a tile clips what spills.
const SLANT = -22;

// About how wide the text is drawn at 15 px: CJK characters are square,
// others about half as wide.
function textWidth(text) {
  let w = 0;
  for (const ch of text) w += ch.codePointAt(0) > 0x2e80 ? 15 : 8;
  return w;
}

function escape(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The tile: the text slanted in its upper middle, and again across its
// lower left and right edges (halves that the next tile completes), so
// the rows interleave.
function tile(text) {
  const w = Math.max(300, Math.round(textWidth(text) * 0.95 + 60));
  const h = Math.round(w * 0.9);
  const line = (x, y) =>
    `<text x="${x}" y="${y}" transform="rotate(${SLANT} ${x} ${y})" text-anchor="middle">${escape(text)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">` +
    `<g font-family="sans-serif" font-size="15" fill="#b8c4d2" fill-opacity="0.16">` +
    `${line(w * 0.5, h * 0.25)}${line(w, h * 0.75)}${line(0, h * 0.75)}</g></svg>`;
}

export class Watermark {
  constructor(layer) {
    this.layer = layer;
    this.viewer = null;
    this.timer = null;
  }

  // Shows `viewer` ({name, scope}) from now on, redrawn every minute.
  show(viewer) {
    this.viewer = viewer;
    this.draw();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.draw(), 60000);
  }

  draw() {
    if (!this.viewer) return;
    const text = t("watermark", { name: this.viewer.name, scope: this.viewer.scope, time: timeToMinute(Date.now()) });
    this.layer.dataset.text = text;
    this.layer.style.backgroundImage = `url("data:image/svg+xml;charset=utf-8,${encodeURIComponent(tile(text))}")`;
    this.layer.hidden = false;
  }

  hide() {
    clearInterval(this.timer);
    this.viewer = null;
    this.layer.hidden = true;
    this.layer.style.backgroundImage = "";
    delete this.layer.dataset.text;
  }
}
