// Alarms that insist: a new major or critical order sounds (WebAudio, a
// sound per severity) again and again until someone acts on it (accepts
// or acknowledges it), unless the officer muted the sound for this
// sign-in; the mute is shown, never silent. A desktop notification (asked
// for once per browser) and the tab's title count what waits, so an
// officer in another window still sees it.

import { name, t } from "./i18n.js";
import { isAccepted, isDone, SEVERITY_RANK } from "./triage.js";

const MUTED = "tongguan-muted";
const ASKED = "tongguan-notifications-asked";

// The sound of each severity that insists: tones (Hz), each tone's length
// and the pause before the pattern repeats (ms). Critical is faster and
// two-toned, so an officer tells the two apart without looking.
export const SOUNDS = {
  critical: { tones: [880, 660, 880, 660], tone_ms: 180, repeat_ms: 2000, gain: 0.18 },
  major: { tones: [520, 520], tone_ms: 220, repeat_ms: 4000, gain: 0.14 },
};

export class Alarms {
  constructor(onOpen) {
    this.onOpen = onOpen;
    this.waiting = new Map();
    this.unseen = 0;
    this.audio = null;
    this.timer = null;
    this.baseTitle = document.title;
    this.muted = sessionStorage.getItem(MUTED) === "1";
    this.plays = 0;
  }

  // Called from the sign-in click: a page may start sound and ask for
  // notifications only after a gesture of the user.
  unlock() {
    try {
      this.audio = this.audio || new AudioContext();
      this.audio.resume().catch(() => {});
    } catch (err) {
      console.warn("no sound", err);
    }
    if ("Notification" in window && Notification.permission === "default" && !localStorage.getItem(ASKED)) {
      localStorage.setItem(ASKED, "1");
      Notification.requestPermission().catch(() => {});
    }
  }

  // A new order arrived live.
  arrived(o) {
    if (!(document.hasFocus() && document.visibilityState === "visible")) this.unseen += 1;
    if (SOUNDS[o.severity] && !isAccepted(o) && !isDone(o)) {
      this.waiting.set(o.id, o);
      this.notify(o);
    }
    this.refresh();
  }

  // An order changed: once someone acted on it, it stops sounding.
  changed(o) {
    if (!this.waiting.has(o.id)) return;
    if (isAccepted(o) || isDone(o)) this.waiting.delete(o.id);
    else this.waiting.set(o.id, o);
    this.refresh();
  }

  seen() {
    this.unseen = 0;
    this.refresh();
  }

  toggleMute() {
    this.muted = !this.muted;
    sessionStorage.setItem(MUTED, this.muted ? "1" : "0");
    this.refresh();
  }

  clear() {
    this.waiting.clear();
    this.unseen = 0;
    clearTimeout(this.timer);
    this.timer = null;
    sessionStorage.removeItem(MUTED);
    this.muted = false;
    document.title = this.baseTitle;
  }

  // The most severe order waiting, whose sound plays.
  loudest() {
    let top = null;
    for (const o of this.waiting.values()) if (!top || SEVERITY_RANK[o.severity] > SEVERITY_RANK[top.severity]) top = o;
    return top;
  }

  // Shows the state (button, count, title) and keeps the sound going
  // while anything waits and the sound is on.
  refresh() {
    const n = this.waiting.size;
    const state = this.muted ? "muted" : n > 0 ? "sounding" : "quiet";
    const box = document.getElementById("alarm");
    box.dataset.state = state;
    box.dataset.waiting = String(n);
    const button = document.getElementById("alarm-toggle");
    button.textContent = t(this.muted ? "alarm.muted" : "alarm.on");
    button.setAttribute("aria-pressed", String(this.muted));
    const count = document.getElementById("alarm-count");
    count.hidden = n === 0;
    count.textContent = t("alarm.sounding", { n });
    const base = t("title");
    document.title = n > 0 ? t("alarm.title", { n }) + base : this.unseen > 0 ? `(${this.unseen}) ${base}` : base;
    if (state === "sounding" && !this.timer) this.loop();
  }

  loop() {
    const top = this.loudest();
    if (!top || this.muted) {
      this.timer = null;
      return;
    }
    const sound = SOUNDS[top.severity];
    this.play(sound);
    this.timer = setTimeout(() => this.loop(), sound.repeat_ms);
  }

  play(sound) {
    this.plays += 1;
    document.getElementById("alarm").dataset.plays = String(this.plays);
    const ctx = this.audio;
    if (!ctx) return;
    sound.tones.forEach((hz, i) => {
      const at = ctx.currentTime + (i * sound.tone_ms) / 1000;
      const tone = ctx.createOscillator();
      const gain = ctx.createGain();
      tone.frequency.value = hz;
      gain.gain.value = sound.gain;
      tone.connect(gain).connect(ctx.destination);
      tone.start(at);
      tone.stop(at + (sound.tone_ms * 0.85) / 1000);
    });
  }

  notify(o) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const street = o.place.street ? o.place.street.name : t("outside");
      const n = new Notification(t("notify.title", { severity: name("severity", o.severity), category: name("category", o.category) }), {
        body: t("notify.body", { street, id: o.id }), tag: o.id, requireInteraction: o.severity === "critical",
      });
      n.onclick = () => {
        window.focus();
        this.onOpen(o.id);
        n.close();
      };
    } catch (err) {
      console.warn("no notification", err);
    }
  }
}
