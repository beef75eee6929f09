// The node's API, as the signed-in member (or anonymously). Errors keep the API's
// `{code, message}` so a page can say "not disclosed" for 403 and show the node's sentence.
// `submitTx` signs a transaction in the WebAssembly module, submits it and follows it to its
// receipt.

import { must, session, signatureHeaders, verifier } from "./session.js";

/** An API error: HTTP status, the API's stable code and its sentence. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * Requests in flight at once from this page: a node bounds expensive requests (503 beyond) and
 * gives one address all of a class's slots but one (3 of the 4 series or proofs by default).
 */
const MAX_IN_FLIGHT = 3;
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

/** The chain refused a transaction: at admission (`stage: "admission"`, the node's 422) or in its block. */
export class TxRefused extends Error {
  constructor(code, message, txHash, stage) {
    super(message);
    this.code = code;
    this.txHash = txHash;
    this.stage = stage;
  }
}

/** A transaction submitted but not finalized within the wait (it may still be). */
export class TxNotFinalized extends Error {
  constructor(txHash, waitedMs) {
    super(`transaction ${txHash} was not finalized within ${Math.round(waitedMs / 1000)} s; it may still be: GET /v1/transactions/${txHash}`);
    this.code = "not_finalized";
    this.txHash = txHash;
  }
}

/** How long `submitTx` follows a transaction by default, ms (blocks finalize in about a second). */
const TX_WAIT_MS = 60_000;
/** How often the receipt is asked for, ms. */
const TX_POLL_MS = 400;
/** The nonce after the last one this page had admitted, per sender key. */
const nextNonce = new Map();
/** Nonces are taken and transactions posted one at a time (concurrent submissions never share one). */
let submitting = Promise.resolve();

/** Runs `f` after every earlier `f` of this page has finished (a mutex over nonce → sign → post). */
function oneAtATime(f) {
  const run = submitting.then(f, f);
  submitting = run.catch(() => {});
  return run;
}

/**
 * Signs `payload` (a transaction payload as its JSON holds it, e.g. `{type: "record_shift_output",
 * output: {…}}`) with the signed-in key inside the WebAssembly module, submits it and waits (at
 * most `waitMs`) for its receipt. The nonce is the account's last finalized one + 1 (`GET
 * /v1/accounts/{key}`, as `trustmeter tx`), or above the last this page had admitted while that
 * one is still pending: submissions from one page are serialised up to the node's answer, so two
 * never share a nonce, and the receipts are awaited in parallel.
 * Resolves `{txHash, nonce, height, receipt, ms}`; throws `TxRefused` with the chain's code and
 * sentence when the node refuses it at admission or its block rejects it, `TxNotFinalized` after
 * the wait, `ApiError` when the node cannot be asked.
 */
export async function submitTx(payload, { waitMs = TX_WAIT_MS } = {}) {
  const s = session.current;
  if (!s) throw new ApiError(401, "not_signed_in", "sign in with the account key first");
  const t0 = performance.now();
  const v = await verifier();
  const { txHash, nonce, posted } = await oneAtATime(async () => {
    const [status, account] = await Promise.all([get("/v1/status"), get(`/v1/accounts/${encodeURIComponent(s.publicKey)}`)]);
    const nonce = Math.max(account.last_nonce + 1, nextNonce.get(s.publicKey) ?? 0);
    const signed = must(v.signTransaction(s.handle, { chainId: status.chain_id, nonce, payload, hashAlg: status.hash_alg }));
    const r = await fetch(new URL("/v1/transactions", location.origin), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: signed.transaction,
    });
    const body = await r.json().catch(() => ({}));
    if (r.status !== 202) throw new TxRefused(body.code ?? "http", body.message ?? `${r.status} ${r.statusText}`, body.tx_hash ?? signed.tx_hash, "admission");
    nextNonce.set(s.publicKey, nonce + 1);
    if (signed.tx_hash && body.tx_hash !== signed.tx_hash) throw new ApiError(r.status, "tx_hash", `the node names the transaction ${body.tx_hash}, not ${signed.tx_hash}`);
    return { txHash: body.tx_hash, nonce, posted: performance.now() };
  });
  const deadline = Date.now() + waitMs;
  let unknown = 0;
  for (;;) {
    let r = null;
    try {
      r = await get(`/v1/transactions/${txHash}`);
    } catch (e) {
      // Not known to this node (yet): it answered 202, so only a restart loses it; look again a few times.
      if (!(e instanceof ApiError && e.status === 404) || ++unknown > 3) throw e;
    }
    if (r?.status === "finalized") {
      const outcome = r.receipt.outcome;
      if (outcome.status !== "accepted") throw new TxRefused(outcome.code, outcome.message, txHash, "block");
      const ms = { signed_and_posted: Math.round(posted - t0), finalized: Math.round(performance.now() - t0) };
      return { txHash, nonce, height: r.height, receipt: r.receipt, ms };
    }
    if (r?.status === "rejected") throw new TxRefused(r.rejection.code, r.rejection.message, txHash, "admission");
    if (Date.now() >= deadline) throw new TxNotFinalized(txHash, waitMs);
    await new Promise((resolve) => setTimeout(resolve, TX_POLL_MS));
  }
}
