// Whether the page is connected to the hub, and what it says when not: a
// banner across the page with the time the stream dropped and how long
// ago, what still works and what does not; actions that need the hub are
// disabled with the reason in their title. It goes away on reconnect.

import { duration, time } from "./format.js";
import { t } from "./i18n.js";
import { $ } from "./dom.js";

export class Connection {
  constructor() {
    this.up = false;
    this.since = null;
    this.timer = null;
  }

  isUp() {
    return this.up;
  }

  // The stream is up (true) or has dropped (false).
  set(up) {
    const was = this.up;
    this.up = up;
    if (!up && (was || this.since === null)) this.since = Date.now();
    if (up) this.since = null;
    this.show();
    clearInterval(this.timer);
    if (!up) this.timer = setInterval(() => this.show(), 1000);
  }

  // Before the first connection: no banner, the live mark says offline.
  reset() {
    clearInterval(this.timer);
    this.up = false;
    this.since = null;
    $("banner").hidden = true;
  }

  show() {
    const live = $("live");
    live.className = this.up ? "live-on" : "live-off";
    live.textContent = t(this.up ? "live.on" : "live.retry");
    const banner = $("banner");
    banner.hidden = this.up;
    if (!this.up) {
      $("banner-since").textContent = t("banner.down", { since: time(this.since), ago: duration(Date.now() - this.since) });
      $("banner-works").textContent = t("banner.works");
    }
    this.guard(document);
  }

  // Disables (or enables again) every control that needs the hub: those
  // marked data-needs-hub.
  guard(root) {
    for (const node of root.querySelectorAll("[data-needs-hub]")) {
      node.disabled = !this.up || node.dataset.busy === "1";
      node.title = this.up ? "" : t("banner.reason");
    }
    for (const node of root.querySelectorAll(".needs-hub-reason")) {
      node.hidden = this.up;
      node.textContent = t("banner.reason");
    }
  }
}
