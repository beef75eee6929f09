// Building blocks every page uses: KPI tiles, tables that download as CSV and Excel, charts
// (ECharts, only the chart types used), the dialog and the "verify" action.

import * as echarts from "echarts/core";
import { BarChart, GaugeChart, LineChart, PieChart, SankeyChart } from "echarts/charts";
import { DataZoomComponent, GridComponent, LegendComponent, MarkLineComponent, TitleComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import { t, currentLang } from "./i18n.js";
import { esc } from "./format.js";
import { csv, workbook } from "./xlsx.js";
import { getText } from "./api.js";
import { verifier } from "./session.js";
import { pinned, pinPanel } from "./genesis.js";

echarts.use([BarChart, GaugeChart, LineChart, PieChart, SankeyChart, DataZoomComponent, GridComponent, LegendComponent, MarkLineComponent, TitleComponent, TooltipComponent, CanvasRenderer]);
// The end-to-end tests read the charts' options (their numbers) through this.
window.__tm = { echarts };

/** Colours that stay apart for colour-blind readers (Okabe–Ito, its black as grey), in series order. */
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#8C8C8C"];

/** An element from an HTML string (one root). */
export function h(html) {
  const d = document.createElement("div");
  d.innerHTML = html.trim();
  return d.firstElementChild;
}

/** A KPI tile. `value` is already formatted; `exact` (the API's string) goes to data-value. */
export function kpi({ label, value, unit = "", exact = null, sub = "", testid = "", extra = "" }) {
  return `<div class="kpi" ${testid ? `data-testid="${esc(testid)}"` : ""} ${exact !== null ? `data-value="${esc(exact)}"` : ""}>
    <div class="kpi-label">${esc(label)}</div>
    <div class="kpi-value">${esc(value)} <span class="kpi-unit">${esc(unit)}</span></div>
    <div class="kpi-sub">${sub}</div>${extra}</div>`;
}

/** A panel with a title; `body` is HTML. */
export function panel(title, body, { testid = "", wide = false, actions = "" } = {}) {
  return `<section class="panel${wide ? " wide" : ""}" ${testid ? `data-testid="${esc(testid)}"` : ""}>
    <header><h3>${esc(title)}</h3><div class="actions">${actions}</div></header><div class="panel-body">${body}</div></section>`;
}

/**
 * A table with CSV and Excel downloads. `columns`: [{label, value: row => string|number,
 * html?: row => HTML, num?: bool}]. Rows are given as data; what is downloaded is exactly what
 * is shown (the exact strings, not the formatted ones, for numbers with `exact`).
 */
export function table(el, { columns, rows, testid, filename, empty = t("no_data"), onRow = null }) {
  const head = columns.map((c) => `<th${c.num ? ' class="num"' : ""}>${esc(c.label)}</th>`).join("");
  const body = rows.length
    ? rows
        .map((r, i) => `<tr data-i="${i}"${onRow ? ' class="clickable" tabindex="0"' : ""}>${columns.map((c) => `<td${c.num ? ' class="num"' : ""}>${c.html ? c.html(r) : esc(c.value(r))}</td>`).join("")}</tr>`)
        .join("")
    : `<tr><td colspan="${columns.length}" class="muted">${esc(empty)}</td></tr>`;
  el.innerHTML = `<div class="table-tools"><button type="button" class="link" data-dl="csv">${t("download_csv")}</button><button type="button" class="link" data-dl="xlsx">${t("download_xlsx")}</button></div>
    <div class="table-wrap"><table ${testid ? `data-testid="${esc(testid)}"` : ""}><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
  const header = columns.map((c) => c.label);
  const data = rows.map((r) => columns.map((c) => (c.exact ? c.exact(r) : c.value(r))));
  el.querySelector('[data-dl="csv"]').onclick = () => download(new Blob([csv(header, data)], { type: "text/csv;charset=utf-8" }), `${filename}.csv`);
  el.querySelector('[data-dl="xlsx"]').onclick = () => download(workbook(filename, header, data), `${filename}.xlsx`);
  if (onRow) {
    el.querySelectorAll("tbody tr.clickable").forEach((tr) => {
      const go = (ev) => {
        if (ev.target.closest("button,a")) return;
        onRow(rows[Number(tr.dataset.i)]);
      };
      tr.onclick = go;
      tr.onkeydown = (ev) => ev.key === "Enter" && go(ev);
    });
  }
  return el;
}

/** Saves a blob as a file. */
export function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

const charts = new Set();
/** Options drawn into an element while it had no size, waiting for it to be laid out. */
const waiting = new WeakMap();
/** Whether `el` is in the document and laid out in some space (a chart drawn in none fails). */
const laidOut = (el) => el.isConnected && el.clientWidth > 0 && el.clientHeight > 0;
// Follows each chart's element: a chart is redrawn at its new size, never at none (an element
// hidden or being removed; ECharts' Sankey fails there), and an option that came while its
// element had no size is drawn once it has one.
const resizer = new ResizeObserver((entries) => {
  for (const e of entries) {
    const c = echarts.getInstanceByDom(e.target);
    if (!c || c.isDisposed() || !laidOut(e.target)) continue;
    c.resize();
    const option = waiting.get(e.target);
    if (option) {
      waiting.delete(e.target);
      c.setOption(option, true);
    }
  }
});

/** What `chart` answers for an element no longer in the document: nothing is drawn. */
const DETACHED = { on() {}, off() {}, setOption() {}, resize() {}, isDisposed: () => true };

/**
 * Draws (or redraws) an ECharts option into `el`. A panel that finishes loading after its page
 * was left draws nothing (its element is detached: a chart laid out in no space fails); an element
 * in the page without a size yet (hidden) gets its chart when it is laid out.
 */
export function chart(el, option, theme = null) {
  if (!el?.isConnected) return DETACHED;
  let c = echarts.getInstanceByDom(el);
  if (!c) {
    c = echarts.init(el, theme, { renderer: "canvas" });
    charts.add(c);
    resizer.observe(el);
  }
  const full = { color: PALETTE, animation: false, ...option };
  if (laidOut(el)) {
    waiting.delete(el);
    c.setOption(full, true);
  } else {
    waiting.set(el, full);
  }
  return c;
}

/** Disposes every chart (before a page is replaced). */
export function disposeCharts() {
  for (const c of charts) {
    if (!c.isDisposed()) {
      resizer.unobserve(c.getDom());
      c.dispose();
    }
  }
  charts.clear();
}

/** Opens the dialog with `html`; answers its body element. */
export function dialog(html) {
  const d = document.getElementById("dialog");
  const body = document.getElementById("dialog-body");
  body.innerHTML = html;
  if (!d.open) d.showModal();
  return body;
}

/** A "verify" button for a proof at `path` of `kind` (reading, figure, carbon, receipt). */
export function verifyButton(kind, path, label = t("verify")) {
  return `<button type="button" class="verify" data-verify-kind="${esc(kind)}" data-verify-path="${esc(path)}">✓ ${esc(label)}</button>`;
}

/** Wires every verify button inside `root` (call after rendering). */
export function wireVerify(root) {
  root.querySelectorAll("button[data-verify-path]").forEach((b) => {
    b.onclick = (ev) => {
      ev.stopPropagation();
      verifyProof(b.dataset.verifyKind, b.dataset.verifyPath);
    };
  });
}

/** The chain's status, as loaded at start (main.js sets it). */
export const chainInfo = { status: null };

/**
 * Fetches the proof at `path` and verifies it in this browser against the pinned genesis,
 * showing each step. Asks to pin a genesis first when none is.
 */
export async function verifyProof(kind, path) {
  const body = dialog(`<h2>${t("verifying")}</h2><p class="muted small">${esc(path)}</p>`);
  try {
    const status = chainInfo.status;
    let g = await pinned(status.chain_id);
    if (!g) {
      await new Promise((resolve) => pinPanel(body, status, resolve));
      g = await pinned(status.chain_id);
    }
    body.innerHTML = `<h2>${t("verifying")}</h2><p class="muted small">${esc(path)}</p>`;
    const proofText = await getText(path, "application/json");
    const result = await verifyText(kind, proofText, g);
    body.innerHTML = renderResult(result, g.info, path);
  } catch (e) {
    body.innerHTML = `<h2 class="bad">${t("error")}</h2><p>${esc(e.message)}</p>`;
  }
}

/** Verifies a proof's text with the WebAssembly verifier against a pinned genesis. */
export async function verifyText(kind, proofText, g) {
  const v = await verifier();
  return v.verify(kind, proofText, g.text);
}

/** The result of a verification as HTML: each step, its outcome and what it established. */
export function renderResult(r, genesisInfo, source = "") {
  const zh = currentLang() === "zh";
  const rows = (r.steps ?? [])
    .map((s) => `<tr class="step-${esc(s.status)}" data-step="${esc(s.id)}"><td>${s.status === "passed" ? "✓" : s.status === "failed" ? "✗" : "·"}</td><td>${esc(zh ? s.name_zh || s.name : s.name)}</td><td>${esc(t(s.status))}</td><td class="small">${esc(s.detail ?? "")}</td></tr>`)
    .join("");
  const facts = Object.entries(r.summary ?? {})
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td><code>${esc(typeof v === "object" ? JSON.stringify(v) : v)}</code></td></tr>`)
    .join("");
  return `<div data-testid="verify-result" data-ok="${r.ok ? "true" : "false"}">
    <h2 class="${r.ok ? "good" : "bad"}">${r.ok ? "✓ " + t("verified") : "✗ " + t("verify_failed")}</h2>
    <p class="small">${t("against_genesis")} <code>${esc(genesisInfo.fingerprint)}</code> (${esc(genesisInfo.chain_id)})${source ? ` · <span class="muted">${esc(source)}</span>` : ""}</p>
    ${r.error ? `<p class="bad">${esc(r.error.message)}</p>` : ""}
    <table class="steps"><thead><tr><th></th><th>${t("step")}</th><th>${t("result")}</th><th>${t("detail")}</th></tr></thead><tbody>${rows}</tbody></table>
    ${facts ? `<table class="facts">${facts}</table>` : ""}</div>`;
}

/** A message in place of a panel the member may not see (403) or that has no data. */
export function refusal(e) {
  if (e?.status === 403 || e?.status === 401) return `<p class="muted">${t("forbidden")}: ${esc(e.message)}</p>`;
  return `<p class="bad">${t("error")}: ${esc(e?.message ?? e)}</p>`;
}
