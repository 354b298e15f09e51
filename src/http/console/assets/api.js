// Calls to the console's JSON API with the signed-in token. An answer to
// a call made before the last sign-out is dropped (Stale), so one
// officer's orders never show on the next one's screen; a 401 is
// Unauthorized, which signs out.

export class Unauthorized extends Error {}

export class Stale extends Error {}

// The token in use and the sign-in it belongs to (bumped at sign-out).
export const session = { token: "", epoch: 0 };

export async function api(path, options = {}) {
  const epoch = session.epoch;
  const res = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${session.token}`, "Content-Type": "application/json" },
  });
  const body = await res.json().catch(() => ({}));
  if (epoch !== session.epoch) throw new Stale("signed out meanwhile");
  if (res.status === 401) throw new Unauthorized(body.error || "signed out");
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return { status: res.status, body };
}
