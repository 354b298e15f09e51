// The live stream (GET /api/console/stream, server-sent events) read with
// fetch, so the token travels in the Authorization header, never in a
// URL; reconnected with a growing pause when it drops, and declared dead
// when silent past the hub's keep-alive. The page learns of each change
// of the connection through `onLive`, to say so and disable actions.

// The hub sends a keep-alive every 15 s: a stream silent for longer is
// dead even if the connection does not say so.
const STREAM_SILENCE_MS = 35000;

// Runs until `signal` aborts. `handlers`: headers() those of the current
// sign-in, onEvent(type, data), onLive(up), onUnauthorized().
export async function follow(signal, handlers) {
  let delay = 500;
  while (!signal.aborted) {
    try {
      const res = await fetch("/api/console/stream", {
        headers: handlers.headers({ Accept: "text/event-stream" }),
        credentials: "same-origin",
        signal,
      });
      if (res.status === 401) return handlers.onUnauthorized();
      if (!res.ok) throw new Error(`stream: ${res.status}`);
      handlers.onLive(true);
      delay = 500;
      await readEvents(res.body, handlers.onEvent, signal);
    } catch (err) {
      if (signal.aborted) return;
      console.warn("live updates interrupted", err);
    }
    if (signal.aborted) return;
    handlers.onLive(false);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
    // Whatever changed while disconnected comes with the next hello.
  }
}

// Server-sent events framing: "event:" and "data:" lines, a blank line
// ends one event, ":" starts a comment (the keep-alive).
async function readEvents(body, handle, signal) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { type: "message", data: [] };
  let watchdog;
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => reader.cancel("silent").catch(() => {}), STREAM_SILENCE_MS);
  };
  signal.addEventListener("abort", () => clearTimeout(watchdog), { once: true });
  for (;;) {
    arm();
    const { value, done } = await reader.read().catch(() => ({ done: true }));
    if (done) {
      clearTimeout(watchdog);
      return;
    }
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (event.data.length) handle(event.type, event.data.join("\n"));
        event = { type: "message", data: [] };
      } else if (line.startsWith("event:")) {
        event.type = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        event.data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
}
