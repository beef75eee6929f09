// Benchmark: how long each dashboard page takes to load in Debian's Chromium against a running
// node, and the ratio to the floor of the same API requests sent without a browser.
//
//   BASE_URL=http://127.0.0.1:8080 KEYS_DIR=<data>/hunan-1-members node web/e2e/pageload.mjs
//
// A page has loaded when its route has rendered (`data-rendered` on the root element, set by
// main.js) and none of its requests is still unanswered (`data-pending`, api.js) for two frames
// in a row; the time runs from the hash change that opens it, in the page's own clock
// (`performance.now()`). Each page is opened RUNS times (default 5) after one warm-up; the
// median and the worst are printed. The floor is the same API requests (read from the page's
// resource timing: path and query) signed and sent by Node itself, four at a time as the page
// does, best of RUNS: what the node needs to answer them, with no rendering, no wasm signing and
// no dependency between requests. The cold load (a new browser context: the bundle, the wasm
// verifier, the public page) is timed apart.
//
// This prints figures; it asserts nothing about time (speed is a benchmark's output, not a test).

import { chromium } from "playwright-core";
import { join } from "node:path";
import assert from "node:assert/strict";
import { getJson, loadKey, signatureHeaders } from "./signed.mjs";

const BASE = process.env.BASE_URL ?? "http://127.0.0.1:8080";
const KEYS = process.env.KEYS_DIR;
const RUNS = Number(process.env.RUNS ?? 5);
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
assert.ok(KEYS, "KEYS_DIR: the demo's member keys (<data dir>/<chain>-members)");

const keys = { regulator: join(KEYS, "regulator.json"), enterprise: join(KEYS, "enterprise-0.json") };
const enterprise = loadKey(keys.enterprise);
const ORG = enterprise.organisation;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(0)} ms`;

/** Waits until the page at `hash` has rendered and is idle; answers ms since `window.__t0`. */
async function loaded(page, hash) {
  const h = await page.waitForFunction(
    (hash) => {
      const d = document.documentElement.dataset;
      const idle = d.rendered === hash && (d.pending ?? "0") === "0";
      window.__idleFrames = idle ? (window.__idleFrames ?? 0) + 1 : 0;
      return window.__idleFrames >= 2 && performance.now() - window.__t0;
    },
    hash,
    { polling: "raf", timeout: 60_000 },
  );
  return h.jsonValue();
}

/** Opens `hash` in the running app; answers the load time and the API requests it made. */
async function open(page, hash) {
  await page.evaluate((hash) => {
    performance.clearResourceTimings();
    window.__idleFrames = 0;
    window.__t0 = performance.now();
    location.hash = hash;
  }, hash);
  const t = await loaded(page, hash);
  const api = await page.evaluate(() =>
    performance
      .getEntriesByType("resource")
      .map((e) => ({ url: e.name, bytes: e.encodedBodySize, start: e.startTime - window.__t0 }))
      .filter((e) => new URL(e.url).pathname.startsWith("/v1/") && new URL(e.url).pathname !== "/v1/status" && e.start >= 0),
  );
  return { t, api };
}

/** The floor: the same requests signed and sent from Node, four at a time; best of RUNS, ms. */
async function floor(urls, k) {
  let best = Infinity;
  for (let run = 0; run < RUNS; run++) {
    const queue = [...urls];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let u; (u = queue.shift()); ) {
          const url = new URL(u);
          const r = await fetch(url, { headers: k ? signatureHeaders(k, "GET", url.pathname, url.search.slice(1)) : {} });
          await r.arrayBuffer();
        }
      }),
    );
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

async function signIn(page, file) {
  await page.goto(`${BASE}/app/#/verify`);
  if (await page.locator("[data-testid=sign-out]").count()) await page.click("[data-testid=sign-out]");
  await page.waitForSelector("[data-testid=sign-in]");
  await page.click("[data-testid=sign-in]");
  await page.setInputFiles("[data-testid=key-file]", file);
  const t0 = Date.now();
  await page.click("[data-testid=sign-in-submit]");
  await page.waitForSelector("[data-testid=signed-in]");
  return Date.now() - t0;
}

const rows = [];
async function measure(page, label, hash, k) {
  await page.evaluate(() => (location.hash = "#/verify"));
  await open(page, hash); // warm-up (the node's caches, the browser's 304s)
  const times = [];
  let api = [];
  for (let i = 0; i < RUNS; i++) {
    await page.evaluate(() => (location.hash = "#/verify"));
    await page.waitForFunction(() => document.documentElement.dataset.rendered === "#/verify");
    const r = await open(page, hash);
    times.push(r.t);
    api = r.api;
  }
  const f = await floor(
    api.map((a) => a.url),
    k,
  );
  const kb = api.reduce((s, a) => s + a.bytes, 0) / 1024;
  rows.push({ label, median: median(times), worst: Math.max(...times), requests: api.length, kb, floor: f });
  console.log(
    `${label.padEnd(34)} median ${ms(median(times)).padStart(8)}  worst ${ms(Math.max(...times)).padStart(8)}  ${String(api.length).padStart(3)} requests ${kb.toFixed(0).padStart(6)} KB  floor ${ms(f).padStart(7)}  ratio ${(median(times) / f).toFixed(1)}`,
  );
}

// What the chain holds: days of daily figures behind the enterprise's year view.
const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
const daily = await getJson(BASE, `/v1/figures/daily?org=${ORG}&from=${today.slice(0, 4)}-01-01&to=${today}`, enterprise);
const days = new Set(daily.figures.map((f) => f.label)).size;
const status = await getJson(BASE, "/v1/status");
console.log(`node ${BASE}: height ${status.finalized_height}; enterprise ${ORG}: ${days} days of daily figures this year; ${RUNS} runs per page`);

// Cold load: a new context (empty cache), the public page with the bundle and the verifier.
{
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const t0 = Date.now();
  await page.goto(`${BASE}/app/#/public`);
  await page.waitForFunction(() => document.documentElement.dataset.rendered === "#/public" && (document.documentElement.dataset.pending ?? "0") === "0", null, { polling: "raf" });
  const cold = Date.now() - t0;
  const wire = await page.evaluate(() =>
    performance
      .getEntriesByType("resource")
      .concat(performance.getEntriesByType("navigation"))
      .filter((e) => new URL(e.name).pathname.startsWith("/app"))
      .reduce((s, e) => s + e.transferSize, 0),
  );
  console.log(`cold load of the public page (new context, bundle over the wire: ${(wire / 1024).toFixed(0)} KB): ${ms(cold)}`);
  const signIn1 = await signIn(page, keys.enterprise);
  console.log(`sign-in with a key file (the wasm verifier compiled, the key opened): ${ms(signIn1)}`);
  await measure(page, "enterprise (a year of data)", `#/enterprise/${ORG}`, enterprise);
  const meters = await getJson(BASE, `/v1/meters?org=${ORG}&limit=1`, enterprise);
  const meter = (meters.items ?? [])[0]?.id;
  if (meter) await measure(page, "meter", `#/meter/${encodeURIComponent(meter)}`, enterprise);
  await signIn(page, keys.regulator);
  const regulator = loadKey(keys.regulator);
  await measure(page, "regulator (its region, a year)", "#/regulator", regulator);
  await measure(page, "big screen", "#/screen", regulator);
  await measure(page, "public", "#/public", undefined);
  await context.close();
}
await browser.close();
