// Calls to the hub's JSON API as whoever signed in: with the street's or
// district's token as a bearer, or with the person's session cookie (the
// browser sends it) and, for changes, the session's CSRF token. An answer
// to a call made before the last sign-out is dropped (Stale), so one
// officer's orders never show on the next one's screen; a 401 is
// Unauthorized, which signs out. Files (exports) come down the same way.

import { save } from "./exportfile.js";

export class Unauthorized extends Error {}

export class Stale extends Error {}

// How this sign-in reaches the hub (a token, or a cookie session and its
// CSRF token) and which sign-in it is (bumped at sign-out).
export const session = { token: "", csrf: "", epoch: 0 };

// The headers every call carries.
export function headers(extra = {}) {
  const h = { ...extra };
  if (session.token) h.Authorization = `Bearer ${session.token}`;
  if (session.csrf) h["X-CSRF-Token"] = session.csrf;
  return h;
}

export async function api(path, options = {}) {
  const epoch = session.epoch;
  const res = await fetch(path, {
    ...options,
    credentials: "same-origin",
    headers: headers({ "Content-Type": "application/json" }),
  });
  const body = await res.json().catch(() => ({}));
  if (epoch !== session.epoch) throw new Stale("signed out meanwhile");
  if (res.status === 401) throw new Unauthorized(body.error || "signed out");
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return { status: res.status, body };
}

// Sends a file as the body (POST /api/photos), with its own Content-Type.
export async function upload(path, file) {
  const epoch = session.epoch;
  const res = await fetch(path, {
    method: "POST",
    body: file,
    credentials: "same-origin",
    headers: headers({ "Content-Type": file.type || "application/octet-stream" }),
  });
  const body = await res.json().catch(() => ({}));
  if (epoch !== session.epoch) throw new Stale("signed out meanwhile");
  if (res.status === 401) throw new Unauthorized(body.error || "signed out");
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return { status: res.status, body };
}

// An image the hub keeps (GET /api/photos/{sha256}) as a data: URL, read
// with this sign-in's headers (an <img> alone could not send a token).
export async function imageUrl(path) {
  const res = await fetch(path, { credentials: "same-origin", headers: headers() });
  if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
  const blob = await res.blob();
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

// Fetches a file with this sign-in's headers and hands it to the browser
// as a download named `file` (a plain link could not send a token).
// Resolves with its size in bytes.
export async function download(path, file) {
  const epoch = session.epoch;
  const res = await fetch(path, { credentials: "same-origin", headers: headers() });
  if (epoch !== session.epoch) throw new Stale("signed out meanwhile");
  if (res.status === 401) throw new Unauthorized("signed out");
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    throw new Error(body.error || `${res.status} ${res.statusText}`);
  }
  const blob = await res.blob();
  save(blob, file);
  return blob.size;
}
