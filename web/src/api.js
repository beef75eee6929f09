// The node's API, as the signed-in member (or anonymously). Errors keep the API's
// `{code, message}` so a page can say "not disclosed" for 403 and show the node's sentence.

import { signatureHeaders } from "./session.js";

/** An API error: HTTP status, the API's stable code and its sentence. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Requests in flight at once from this page: a node bounds expensive requests (503 beyond). */
const MAX_IN_FLIGHT = 4;
/** Retries of a request the node answered `503` with `Retry-After` (busy, or not yet indexed). */
const MAX_RETRIES = 4;
let inFlight = 0;
const waiting = [];

async function slot() {
  if (inFlight >= MAX_IN_FLIGHT) await new Promise((resolve) => waiting.push(resolve));
  inFlight++;
}

function release() {
  inFlight--;
  waiting.shift()?.();
}

async function send(path, accept) {
  const u = new URL(path, location.origin);
  for (let attempt = 0; ; attempt++) {
    await slot();
    let r;
    try {
      // Signed afresh each time: a signature's `created` must be within 300 s of the node's clock.
      const headers = { accept, ...(await signatureHeaders("GET", u.pathname, u.search.slice(1))) };
      r = await fetch(u, { headers });
    } finally {
      release();
    }
    if (r.ok) return r;
    const body = await r.json().catch(() => ({}));
    const retryAfter = Number(r.headers.get("retry-after"));
    if (r.status === 503 && attempt < MAX_RETRIES && retryAfter > 0 && retryAfter <= 10) {
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
      continue;
    }
    throw new ApiError(r.status, body.code ?? "http", body.message ?? `${r.status} ${r.statusText}`);
  }
}

/**
 * Requests of this page not yet answered in full (body read), shown as `data-pending` on the
 * root element: with `data-rendered` (main.js) it tells a test or a benchmark when a page has
 * loaded. Streams are not counted (they never end).
 */
let pending = 0;
async function tracked(f) {
  document.documentElement.dataset.pending = String(++pending);
  try {
    return await f();
  } finally {
    document.documentElement.dataset.pending = String(--pending);
  }
}

/** GET a JSON document. */
export async function get(path) {
  return tracked(async () => (await send(path, "application/json")).json());
}

/** GET a document as text (a proof kept byte for byte, CSV, HTML). */
export async function getText(path, accept = "*/*") {
  return tracked(async () => (await send(path, accept)).text());
}

/** GET a JSON document, or `fallback` when the API refuses it with 403/404 (what a role may not see). */
export async function getOr(path, fallback) {
  try {
    return await get(path);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 404 || e.status === 401)) return fallback;
    throw e;
  }
}

/** Every page of a paged list (`{items, next}`), at most `maxPages` pages. */
export async function all(path, maxPages = 20) {
  const items = [];
  let next = null;
  for (let i = 0; i < maxPages; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(next ? `${path}${sep}after=${encodeURIComponent(next)}` : path);
    items.push(...page.items);
    next = page.next;
    if (!next) break;
  }
  return items;
}

/**
 * Follows a server-sent-events route (signed: EventSource cannot sign, so this reads the stream
 * with fetch). Calls `onEvent(type, data, id)`; reconnects with Last-Event-ID after a drop, until
 * `signal` aborts.
 */
export async function stream(path, onEvent, signal) {
  let lastId = null;
  while (!signal.aborted) {
    try {
      const u = new URL(path, location.origin);
      const headers = { accept: "text/event-stream", ...(await signatureHeaders("GET", u.pathname, u.search.slice(1))) };
      if (lastId) headers["last-event-id"] = lastId;
      const r = await fetch(u, { headers, signal });
      if (!r.ok) throw new ApiError(r.status, "http", `${r.status}`);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let type = "message", data = "", id = null;
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data += line.slice(5).trim();
            else if (line.startsWith("id:")) id = line.slice(3).trim();
          }
          if (id) lastId = id;
          if (data) onEvent(type, JSON.parse(data), id);
        }
        if (buf.length > 1 << 22) throw new Error("event too large");
      }
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && (e.status === 403 || e.status === 401)) return;
    }
    await new Promise((res) => setTimeout(res, 2000));
  }
}
