// Enterprise view (能源管理): today / yesterday / this month / this year per energy kind, the daily
// trend, the load curve (days midnight to midnight Asia/Shanghai; energy summed, power averaged),
// time of use and cost, the energy flow by location, meters and gateways, alarms, carbon against
// the quota with the forecast, every table as CSV and Excel, and each daily figure verifiable.
// `#/enterprise/ORG/loc/site/workshop/…` drills into one location: its children and its meters.

import { t, energyName } from "../i18n.js";
import { decimal, esc, fmt, micros, periods, shanghaiTime, sumKgce, totals } from "../format.js";
import { all, get, getText } from "../api.js";
import { session } from "../session.js";
import { PALETTE, chart, download, kpi, panel, refusal, table, verifyButton, wireVerify } from "../ui.js";
import { liveAlarms } from "./common.js";
import { shiftEntry } from "./shifts-entry.js";

const MAX_METER_PAGES = 10; // 10 000 meters

/** Sums of daily figures per energy kind over days in [from, to]: Map energy -> {unit, consumption, kgce}. */

export async function render(main, [orgParam, locParam], scope) {
  const s = session.current;
  if (!s) {
    main.innerHTML = `<p data-testid="need-sign-in">${t("need_sign_in")}</p>`;
    return;
  }
  if (!orgParam && s.org.kind !== "enterprise") {
    location.hash = "#/regulator";
    return;
  }
  const org = orgParam ?? s.org.id;
  const own = s.org.kind === "enterprise" && s.org.id === org;
  if (locParam) return renderLocation(main, org, locParam.split("/").filter(Boolean));
  const p = periods();
  const [info, daily] = await Promise.all([get(`/v1/organisations/${org}`), get(`/v1/figures/daily?org=${org}&from=${p.yearStart}&to=${p.today}`)]);
  const figs = daily.figures;
  const periodsList = [
    ["today", p.today, p.today],
    ["yesterday", p.yesterday, p.yesterday],
    ["this_month", p.monthStart, p.today],
    ["this_year", p.yearStart, p.today],
  ];
  const sums = Object.fromEntries(periodsList.map(([k, a, b]) => [k, totals(figs, a, b)]));
  const energies = [...sums.this_year.keys()];
  const todayFig = new Map(figs.filter((f) => f.label === p.today).map((f) => [f.energy, f]));

  main.innerHTML = `
    <h1>${esc(info.name)} <span class="muted small">${esc(org)} · ${t("region")} ${info.region}</span></h1>
    <nav class="crumbs">${s.org.kind !== "enterprise" ? `<a href="#/regulator">${t("nav_regulator")}</a> › ` : ""}<span>${esc(info.name)}</span></nav>
    <div class="kpis" data-testid="enterprise-kpis">
      ${periodsList.map(([k]) => kpi({ label: `${t(k)} · ${t("kgce_eq")}`, value: fmt(sumKgce(sums[k]), 0), exact: sumKgce(sums[k]), testid: `kpi-${k}` })).join("")}
    </div>
    <div class="grid">
      ${panel(t("by_energy"), `<div data-role="kinds"></div>`, { wide: true, testid: "panel-kinds" })}
      ${panel(`${t("trend")} · ${t("this_year")}`, `<div class="chart" data-testid="chart-daily"></div>`, { wide: true })}
      ${panel(t("load_curve"), `<div class="chart" data-testid="chart-load"></div>`)}
      ${panel(`${t("tou")} · ${t("this_month")}`, `<div class="chart small-chart" data-testid="chart-tou"></div><div data-role="tou"></div>`)}
      ${panel(`${t("energy_flow")} · ${t("this_month")}`, `<div class="chart tall" data-testid="chart-flow"></div>`, { wide: true })}
      ${panel(`${t("shifts")} · ${t("last_7_days")}`, `<div class="chart" data-testid="chart-shifts"></div><div data-role="shift-best"></div><div data-role="shifts"></div>`, { wide: true, testid: "panel-shifts" })}
      ${own ? panel(t("shift_entry"), `<div data-role="shift-entry"></div>`, { wide: true, testid: "panel-shift-entry" }) : ""}
      ${panel(`${t("carbon")} · ${p.year}`, `<div data-role="carbon"></div>`)}
      ${panel(t("alarms"), `<div data-role="alarms"></div>`)}
      ${panel(`${t("day")} · ${t("this_month")}`, `<div data-role="days"></div>`, { wide: true, testid: "panel-days" })}
      ${panel(t("meters"), `<div data-role="meters"></div>`, { wide: true })}
      ${panel(t("gateways"), `<div data-role="gateways"></div>`)}
      ${panel(t("reports"), `<div data-role="reports"></div>`)}
    </div>`;
  const q = (r) => main.querySelector(`[data-role=${r}]`);

  table(q("kinds"), {
    filename: `${org}-${p.today}-by-energy`,
    testid: "kinds-table",
    columns: [
      { label: t("kind"), value: (e) => energyName(e) },
      { label: t("unit"), value: (e) => sums.this_year.get(e).unit },
      ...periodsList.map(([k]) => ({
        label: t(k),
        num: true,
        value: (e) => fmt(decimal(sums[k].get(e)?.c ?? 0n), 1),
        exact: (e) => decimal(sums[k].get(e)?.c ?? 0n),
        html: (e) =>
          `<span data-testid="cell-${k}-${esc(e)}" data-value="${decimal(sums[k].get(e)?.c ?? 0n)}">${fmt(decimal(sums[k].get(e)?.c ?? 0n), 1)}</span>${k === "today" && todayFig.get(e) ? " " + verifyButton("figure", todayFig.get(e).proof, "") : ""}`,
      })),
    ],
    rows: energies,
  });

  // Daily trend over the year: kgce per day, stacked by energy kind.
  const days = [...new Set(figs.map((f) => f.label))].sort();
  const byDay = new Map(figs.map((f) => [`${f.label}|${f.energy}`, Number(f.kgce_equivalent)]));
  chart(main.querySelector("[data-testid=chart-daily]"), {
    tooltip: { trigger: "axis" },
    legend: { data: energies.map(energyName) },
    grid: { left: 70, right: 20, top: 40, bottom: 60 },
    dataZoom: [{ type: "slider", startValue: Math.max(0, days.length - 31) }],
    xAxis: { type: "category", data: days },
    yAxis: { type: "value", name: "kgce" },
    series: energies.map((e) => ({ name: energyName(e), type: "bar", stack: "kgce", data: days.map((d) => byDay.get(`${d}|${e}`) ?? 0) })),
  });

  const monthFigs = figs.filter((f) => f.label >= p.monthStart).sort((a, b) => (a.label === b.label ? (a.energy < b.energy ? -1 : 1) : a.label < b.label ? 1 : -1));
  table(q("days"), {
    filename: `${org}-${p.month}-daily`,
    testid: "daily-table",
    columns: [
      { label: t("day"), value: (f) => f.label },
      { label: t("kind"), value: (f) => energyName(f.energy) },
      { label: t("consumption"), value: (f) => fmt(f.consumption, 1), exact: (f) => f.consumption, num: true },
      { label: t("unit"), value: (f) => f.unit },
      { label: t("kgce_eq"), value: (f) => fmt(f.kgce_equivalent, 1), exact: (f) => f.kgce_equivalent, num: true },
      { label: "points", value: (f) => f.points, num: true },
      { label: t("proof"), value: (f) => f.proof, html: (f) => verifyButton("figure", f.proof) },
    ],
    rows: monthFigs,
  });
  wireVerify(main);

  scope.onLeave(liveAlarms(q("alarms"), { org }));

  loadCurve(main.querySelector("[data-testid=chart-load]"), org, p).catch((e) => (main.querySelector("[data-testid=chart-load]").innerHTML = refusal(e)));
  tou(main, q("tou"), org, p).catch((e) => (q("tou").innerHTML = refusal(e)));
  flow(main.querySelector("[data-testid=chart-flow]"), org, info.name, p).catch((e) => (main.querySelector("[data-testid=chart-flow]").innerHTML = refusal(e)));
  shiftPanels(main, q, org, p, own);
  balancePanel(main, org, p);
  carbon(q("carbon"), org, p).catch((e) => (q("carbon").innerHTML = refusal(e)));
  devices(q("meters"), q("gateways"), org).catch((e) => (q("meters").innerHTML = refusal(e)));
  reports(q("reports"), org, p);
}

/** Today's and yesterday's 15-minute average electric power of the enterprise's sites. */
async function loadCurve(el, org, p) {
  const sites = await get(`/v1/figures/breakdown?org=${org}&from=${p.today}&to=${p.today}&by=location&depth=1`);
  const site = sites.rows.find((r) => r.energy === "electricity")?.key;
  if (!site) {
    el.innerHTML = `<p class="muted">${t("no_data")}</p>`;
    return;
  }
  const one = (day) => get(`/v1/figures/series?scope=location&org=${org}&id=${encodeURIComponent(site)}&energy=electricity&period=15m&from=${day}&to=${day}`);
  const [today, yesterday] = await Promise.all([one(p.today), one(p.yesterday)]);
  // kWh in 15 minutes × 4 = average kW over the interval.
  // Intervals not yet over have no consumption yet: drawn as a gap, not as zero.
  const now = Date.now();
  const kw = (s) => s.points.map((x) => [x.label.slice(-5), x.start_ms + 900_000 > now ? null : Number(x.consumption) * 4]);
  chart(el, {
    tooltip: { trigger: "axis" },
    legend: { data: [t("today"), t("yesterday")] },
    grid: { left: 70, right: 20, top: 40, bottom: 30 },
    xAxis: { type: "category", data: yesterday.points.map((x) => x.label.slice(-5)) },
    yAxis: { type: "value", name: "kW" },
    series: [
      { name: t("today"), type: "line", showSymbol: false, data: kw(today).map((x) => x[1]) },
      { name: t("yesterday"), type: "line", showSymbol: false, lineStyle: { type: "dashed" }, data: kw(yesterday).map((x) => x[1]) },
    ],
  });
}

async function tou(main, el, org, p) {
  const r = await get(`/v1/figures/tou?org=${org}&from=${p.monthStart}&to=${p.today}`);
  chart(main.querySelector("[data-testid=chart-tou]"), {
    tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["35%", "65%"], label: { formatter: "{b} {d}%" }, data: r.tiers.filter((x) => x.kwh !== "0.000000").map((x) => ({ name: x.name, value: Number(x.kwh) })) }],
  });
  table(el, {
    filename: `${org}-${p.month}-tou`,
    testid: "tou-table",
    columns: [
      { label: t("tier"), value: (x) => x.name },
      { label: "kWh", value: (x) => fmt(x.kwh, 1), exact: (x) => x.kwh, num: true },
      { label: `${t("cost")} (CNY)`, value: (x) => (x.cost_cny === null ? "—" : fmt(x.cost_cny, 2)), exact: (x) => x.cost_cny ?? "", num: true },
    ],
    rows: [...r.tiers, { name: t("total"), kwh: r.total_kwh, cost_cny: r.cost_cny }],
  });
  if (r.cost_note) el.insertAdjacentHTML("beforeend", `<p class="muted small">${esc(r.cost_note)}</p>`);
}

/** A Sankey from the enterprise to its sites, workshops and lines, in kgce (commensurable across kinds). */
async function flow(el, org, name, p) {
  const b = await get(`/v1/figures/breakdown?org=${org}&from=${p.monthStart}&to=${p.today}&by=location&depth=3`);
  const weight = new Map();
  for (const r of b.rows) {
    const parts = r.key.split("/");
    for (let d = 1; d <= parts.length; d++) {
      const k = parts.slice(0, d).join("/");
      weight.set(k, (weight.get(k) ?? 0n) + micros(r.kgce_equivalent));
    }
  }
  const nodes = [{ name }];
  const links = [];
  for (const [k, v] of weight) {
    nodes.push({ name: k });
    const parent = k.includes("/") ? k.slice(0, k.lastIndexOf("/")) : name;
    if (v > 0n) links.push({ source: parent, target: k, value: Number(decimal(v)) });
  }
  const c = chart(el, {
    tooltip: { trigger: "item" },
    series: [
      {
        type: "sankey",
        data: nodes.map((n, i) => ({ ...n, itemStyle: { color: PALETTE[(n.name.split("/").length - 1 + i) % 7] } })),
        links,
        emphasis: { focus: "adjacency" },
        nodeGap: 6,
        lineStyle: { color: "gradient", opacity: 0.35 },
        label: { formatter: (x) => x.name.split("/").pop() },
      },
    ],
  });
  c.off("click");
  c.on("click", (x) => {
    if (x.dataType === "node" && x.name !== name) location.hash = `#/enterprise/${org}/loc/${x.name}`;
  });
}

/**
 * Per-shift and per-team unit consumption (班次、班组单耗) over the last 7 days: kgce per unit of
 * the first product by shift and by team (bars), the best and the worst, and every shift.
 */
async function shifts(main, el, org, p) {
  const from = new Date(Date.parse(`${p.today}T12:00:00Z`) - 6 * 86_400_000).toISOString().slice(0, 10);
  const r = await get(`/v1/enterprises/${org}/shifts?from=${from}&to=${p.today}`);
  const product = r.comparison.total.products[0];
  const per = (rows) => rows.map((x) => x.products.find((y) => y.product === product?.product)?.kgce_per_unit_equivalent ?? null);
  if (!r.calendars?.length) {
    el.innerHTML = `<p class="muted">${t("no_shift_calendar")}</p>`;
    return r;
  }
  const label = product ? `kgce / ${product.unit}（${product.product}）` : "kgce";
  chart(main.querySelector("[data-testid=chart-shifts]"), {
    tooltip: { trigger: "axis" },
    legend: { top: 0, data: [t("by_shift"), t("by_team")] },
    grid: [
      { left: 60, right: "54%", top: 40, bottom: 30 },
      { left: "54%", right: 20, top: 40, bottom: 30 },
    ],
    xAxis: [
      { type: "category", gridIndex: 0, data: r.comparison.by_shift.map((x) => x.name) },
      { type: "category", gridIndex: 1, data: r.comparison.by_team.map((x) => x.name) },
    ],
    yAxis: [
      { type: "value", gridIndex: 0, name: label },
      { type: "value", gridIndex: 1, name: label },
    ],
    series: [
      { name: t("by_shift"), type: "bar", xAxisIndex: 0, yAxisIndex: 0, data: per(r.comparison.by_shift).map((v) => (v === null ? null : Number(v))) },
      { name: t("by_team"), type: "bar", xAxisIndex: 1, yAxisIndex: 1, data: per(r.comparison.by_team).map((v) => (v === null ? null : Number(v))) },
    ],
  });
  const bw = r.comparison.best_worst.find((x) => x.product === product?.product);
  main.querySelector("[data-role=shift-best]").innerHTML = bw
    ? `<p class="small" data-testid="shift-best-worst">${t("best")}: ${esc(bw.best_shift?.name ?? "—")} ${fmt(bw.best_shift?.kgce_per_unit_equivalent, 1)} · ${esc(bw.best_team?.name ?? "—")} ${fmt(bw.best_team?.kgce_per_unit_equivalent, 1)}；${t("worst")}: ${esc(bw.worst_shift?.name ?? "—")} ${fmt(bw.worst_shift?.kgce_per_unit_equivalent, 1)} · ${esc(bw.worst_team?.name ?? "—")} ${fmt(bw.worst_team?.kgce_per_unit_equivalent, 1)} (${esc(label)})</p>`
    : "";
  const rows = r.instances.filter((x) => x.complete).reverse();
  const first = (x) => x.products.find((y) => y.product === product?.product);
  table(el, {
    filename: `${org}-${from}-${p.today}-shifts`,
    testid: "shifts-table",
    columns: [
      { label: t("day"), value: (x) => x.day },
      { label: t("shift"), value: (x) => x.shift },
      { label: t("team"), value: (x) => x.team ?? "—" },
      { label: t("kgce_eq"), value: (x) => fmt(x.kgce_equivalent, 1), exact: (x) => x.kgce_equivalent, num: true },
      { label: "kWh", value: (x) => fmt(x.electricity_kwh, 1), exact: (x) => x.electricity_kwh, num: true },
      { label: `${t("output")}${product ? ` (${product.unit})` : ""}`, value: (x) => (first(x) ? fmt(first(x).quantity, 1) : "—"), exact: (x) => first(x)?.quantity ?? "", num: true },
      { label: label, value: (x) => fmt(first(x)?.kgce_per_unit_equivalent, 1), exact: (x) => first(x)?.kgce_per_unit_equivalent ?? "", num: true },
      { label: `kWh / ${product?.unit ?? ""}`, value: (x) => fmt(first(x)?.kwh_per_unit, 1), exact: (x) => first(x)?.kwh_per_unit ?? "", num: true },
    ],
    rows,
  });
  return r;
}

/** The shift panel and, on the enterprise's own page, the forms that enter its shift data (reloading the panel after each receipt). */
function shiftPanels(main, q, org, p, own) {
  const load = () =>
    shifts(main, q("shifts"), org, p).catch((e) => {
      q("shifts").innerHTML = refusal(e);
      return null;
    });
  load().then((r) => own && shiftEntry(q("shift-entry"), org, r, load));
}

/**
 * Loss-rate limits (percent) above which a master meter's balance is flagged, per energy kind:
 * electricity 5 % (transformer and line losses of a plant's own network are 1–4 %; above 5 % a
 * meter, a CT or a connection is wrong, or energy leaves unmetered), natural gas 3 % (a leak is
 * a hazard long before it is an energy figure), water 10 % (the leakage limit of water networks),
 * steam 10 % (heat losses and traps), compressed air 15 % (leaks are common; above this they cost
 * more than their repair). A negative loss (sub-meters above their master) is always flagged:
 * some meter is wrong. The enterprise can set its own limits in the panel (kept in this browser).
 */
import { previousDay } from "../format.js";

const LOSS_LIMITS = { electricity: "5", natural_gas: "3", water: "10", steam: "10", compressed_air: "15" };
const DEFAULT_LOSS_LIMIT = "10";

function lossLimit(energy) {
  const saved = typeof localStorage !== "undefined" ? localStorage.getItem(`tm.balance.limit.${energy}`) : null;
  return saved && /^\d{1,3}(\.\d{1,4})?$/.test(saved) ? saved : (LOSS_LIMITS[energy] ?? DEFAULT_LOSS_LIMIT);
}

/** Why a balance row is flagged ("" when it is not): a negative loss, or one above the kind's limit. */
function lossFlag(row, energy) {
  if (row.loss_rate_percent === null) return "";
  const loss = micros(row.loss_rate_percent);
  if (loss < 0n) return t("balance_negative");
  if (loss > micros(lossLimit(energy))) return `${t("balance_above")} ${lossLimit(energy)} %`;
  return "";
}

/**
 * Master/sub-meter balance (总分表平衡) over the last 7 days: one row per master meter (its
 * consumption, the sum of its sub-meters', the difference and the loss rate, flagged outside the
 * limits above or when the data behind it are incomplete), every sub-meter with its figure, and
 * the loss rate per day per master. The figures are derived from readings
 * (`GET /v1/enterprises/{org}/balance`); each meter links to its page, where every reading behind
 * them verifies.
 */
async function balancePanel(main, org, p) {
  const grid = main.querySelector(".grid");
  const shiftsPanel = main.querySelector("[data-testid=panel-shifts]");
  const html = panel(`${t("balance_title")} · ${t("last_7_days")}`, `<div class="chart" data-testid="chart-balance"></div><div data-role="balance-limits" class="small"></div><div data-role="balance"></div><h4 class="small">${t("balance_subs")}</h4><div data-role="balance-subs"></div>`, { wide: true, testid: "panel-balance" });
  if (shiftsPanel) shiftsPanel.insertAdjacentHTML("afterend", html);
  else grid.insertAdjacentHTML("beforeend", html);
  const el = main.querySelector("[data-role=balance]");
  try {
    let from = p.today;
    for (let i = 0; i < 6; i++) from = previousDay(from);
    const r = await get(`/v1/enterprises/${org}/balance?from=${from}&to=${p.today}`);
    renderBalance(main, org, r);
  } catch (e) {
    el.innerHTML = refusal(e);
  }
}

function renderBalance(main, org, r) {
  const el = main.querySelector("[data-role=balance]");
  const masters = r.masters;
  const energies = [...new Set(masters.map((m) => m.energy))];
  const limits = main.querySelector("[data-role=balance-limits]");
  limits.innerHTML = energies.length
    ? `${t("balance_limits")}: ${energies
        .map((e) => `<label>${esc(energyName(e))} <input type="number" min="0" max="100" step="0.5" value="${esc(lossLimit(e))}" data-energy="${esc(e)}" data-testid="balance-limit-${esc(e)}" style="width:4.5em"> %</label>`)
        .join(" · ")}`
    : "";
  limits.querySelectorAll("input[data-energy]").forEach((input) => {
    input.onchange = () => {
      if (/^\d{1,3}(\.\d{1,4})?$/.test(input.value)) localStorage.setItem(`tm.balance.limit.${input.dataset.energy}`, input.value);
      renderBalance(main, org, r);
    };
  });
  const flagOf = (m) => [lossFlag(m.total, m.energy), m.total.complete ? "" : `${t("balance_incomplete")} (${m.total.complete_days}/${m.total.days})`].filter(Boolean).join("；");
  const cell = (m, key, value, digits = 1) => `<span data-testid="balance-${key}-${esc(m.meter.id)}" data-value="${esc(value ?? "")}">${value === null ? "—" : fmt(value, digits)}</span>`;
  table(el, {
    filename: `${org}-${r.from}-${r.to}-balance`,
    testid: "balance-table",
    empty: t("balance_none"),
    columns: [
      { label: t("balance_master"), value: (m) => m.meter.id, html: (m) => `<a href="#/meter/${esc(m.meter.id)}" data-testid="balance-meter">${esc(m.meter.id.split("-").pop())}</a> <span class="small">${esc(m.meter.name)}</span>` },
      { label: t("kind"), value: (m) => energyName(m.energy) },
      { label: t("unit"), value: (m) => m.unit },
      { label: t("balance_master_amount"), value: (m) => fmt(m.total.master, 1), exact: (m) => m.total.master, num: true, html: (m) => cell(m, "master", m.total.master) },
      { label: t("balance_subs_sum"), value: (m) => fmt(m.total.subs, 1), exact: (m) => m.total.subs, num: true, html: (m) => cell(m, "subs", m.total.subs) },
      { label: t("balance_difference"), value: (m) => fmt(m.total.difference, 1), exact: (m) => m.total.difference, num: true, html: (m) => cell(m, "difference", m.total.difference) },
      { label: t("balance_loss"), value: (m) => (m.total.loss_rate_percent === null ? "—" : fmt(m.total.loss_rate_percent, 2)), exact: (m) => m.total.loss_rate_percent ?? "", num: true, html: (m) => cell(m, "loss", m.total.loss_rate_percent, 2) },
      { label: t("balance_sub_count"), value: (m) => m.subs.length, num: true },
      { label: t("flags"), value: (m) => flagOf(m), html: (m) => `<span class="${lossFlag(m.total, m.energy) ? "bad" : m.total.complete ? "" : "warn"}" data-testid="balance-flag-${esc(m.meter.id)}" data-flagged="${lossFlag(m.total, m.energy) ? "true" : "false"}">${esc(flagOf(m) || "✓")}</span>` },
    ],
    rows: masters,
    onRow: (m) => (location.hash = `#/meter/${m.meter.id}`),
  });
  const subs = masters.flatMap((m) => m.subs.map((s) => ({ master: m, s })));
  table(main.querySelector("[data-role=balance-subs]"), {
    filename: `${org}-${r.from}-${r.to}-balance-sub-meters`,
    testid: "balance-subs-table",
    empty: t("balance_none"),
    columns: [
      { label: t("balance_master"), value: (x) => x.master.meter.id, html: (x) => esc(x.master.meter.id.split("-").pop()) },
      { label: t("balance_sub"), value: (x) => x.s.meter.id, html: (x) => `<a href="#/meter/${esc(x.s.meter.id)}">${esc(x.s.meter.id.split("-").pop())}</a> <span class="small">${esc(x.s.meter.name)}</span>` },
      { label: t("site"), value: (x) => x.s.meter.location.join("/") },
      { label: t("consumption"), value: (x) => fmt(x.s.total.consumption, 1), exact: (x) => x.s.total.consumption, num: true },
      { label: t("unit"), value: (x) => x.master.unit },
      { label: t("completeness"), value: (x) => `${x.s.total.points}/${x.s.total.expected_points}`, html: (x) => `<span class="${x.s.total.complete ? "" : "warn"}">${x.s.total.points}/${x.s.total.expected_points}</span>` },
    ],
    rows: subs,
    onRow: (x) => (location.hash = `#/meter/${x.s.meter.id}`),
  });
  // Loss rate per day and master; a day whose data are incomplete is drawn hollow.
  const days = masters[0]?.days.map((d) => d.label) ?? [];
  chart(main.querySelector("[data-testid=chart-balance]"), {
    tooltip: { trigger: "axis" },
    legend: { type: "scroll", top: 0, data: masters.map((m) => `${m.meter.id.split("-").pop()} ${energyName(m.energy)}`) },
    grid: { left: 60, right: 20, top: 40, bottom: 30 },
    xAxis: { type: "category", data: days },
    yAxis: { type: "value", name: `${t("balance_loss")}` },
    series: masters.map((m) => ({
      name: `${m.meter.id.split("-").pop()} ${energyName(m.energy)}`,
      type: "line",
      data: m.days.map((d) => ({ value: d.loss_rate_percent === null ? null : Number(d.loss_rate_percent), symbol: d.complete ? "circle" : "emptyCircle", symbolSize: d.complete ? 6 : 8 })),
    })),
  });
}

async function carbon(el, org, p) {
  const c = await get(`/v1/enterprises/${org}/carbon/compliance?year=${p.year}`);
  const qt = c.quota;
  el.innerHTML = `<div class="kpis">
      ${kpi({ label: `${t("mtd")} (tCO₂e)`, value: fmt(qt.month_to_date_t, 1), exact: qt.month_to_date_t, testid: "carbon-mtd" })}
      ${kpi({ label: `${t("ytd")} (tCO₂e)`, value: fmt(qt.year_to_date_t, 1), exact: qt.year_to_date_t, testid: "carbon-ytd" })}
      ${kpi({ label: `${t("forecast")} (t)`, value: fmt(qt.forecast_t, 1), exact: qt.forecast_t, sub: esc(qt.forecast_basis ?? "") })}
      ${kpi({ label: `${t("quota")} (t)`, value: fmt(qt.quota_t, 0), exact: qt.quota_t ?? "" })}
    </div><div class="chart small-chart" data-testid="chart-quota"></div>
    <p class="small">${t("verification")}: ${c.verification ? esc(JSON.stringify(c.verification.status ?? c.verification)) : "—"}</p>`;
  const quota = Number(qt.quota_t ?? 0);
  chart(el.querySelector("[data-testid=chart-quota]"), {
    series: [
      {
        type: "gauge",
        min: 0,
        max: Math.max(quota, Number(qt.forecast_t ?? 0)) || 1,
        progress: { show: true },
        splitNumber: 4,
        axisLabel: { distance: 18, fontSize: 10 },
        detail: { formatter: (v) => `${v.toFixed(0)} t`, fontSize: 16, offsetCenter: [0, "70%"] },
        axisLine: { lineStyle: { width: 12, color: [[quota ? Math.min(1, quota / Math.max(quota, Number(qt.forecast_t))) : 1, "#009E73"], [1, "#D55E00"]] } },
        data: [{ value: Number(qt.year_to_date_t), name: t("ytd") }],
      },
    ],
  });
}

async function devices(metersEl, gatewaysEl, org) {
  const [meters, gateways] = await Promise.all([all(`/v1/meters?org=${org}&limit=1000`, MAX_METER_PAGES), all(`/v1/gateways?org=${org}&limit=1000`, 2)]);
  const now = Date.now();
  table(metersEl, {
    filename: `${org}-meters`,
    testid: "meters-table",
    columns: [
      { label: t("id"), value: (m) => m.id, html: (m) => `<a href="#/meter/${esc(m.id)}" data-testid="drill-meter">${esc(m.id.split("-").pop())}</a>` },
      { label: t("name"), value: (m) => m.name },
      { label: t("kind"), value: (m) => energyName(m.energy) },
      { label: t("site"), value: (m) => m.location.join("/"), html: (m) => `<a href="#/enterprise/${esc(org)}/loc/${esc(m.location.slice(0, 2).join("/"))}">${esc(m.location.join("/"))}</a>` },
      { label: t("status"), value: (m) => m.status },
      {
        label: t("calibration_until"),
        value: (m) => (m.calibration ? shanghaiTime(m.calibration.valid_until_ms).slice(0, 10) : "—"),
        html: (m) => {
          const until = m.calibration?.valid_until_ms;
          const cls = !until || until < now ? "bad" : until - now < 30 * 86_400_000 ? "warn" : "";
          return `<span class="${cls}">${until ? shanghaiTime(until).slice(0, 10) : "—"}</span>`;
        },
      },
    ],
    rows: meters,
    onRow: (m) => (location.hash = `#/meter/${m.id}`),
  });
  table(gatewaysEl, {
    filename: `${org}-gateways`,
    testid: "gateways-table",
    columns: [
      { label: t("id"), value: (g) => g.id },
      { label: t("status"), value: (g) => g.status },
      { label: "key", value: (g) => g.public_key, html: (g) => `<code class="small">${esc(g.public_key.slice(0, 24))}…</code>` },
    ],
    rows: gateways,
  });
}

function reports(el, org, p) {
  const items = [
    [`${t("day")} · ${t("this_year")} (CSV)`, `/v1/figures/daily?org=${org}&from=${p.yearStart}&to=${p.today}&format=csv`, `${org}-${p.year}-daily.csv`],
    [`${t("quality")} · ${t("this_month")} (CSV)`, `/v1/quality?org=${org}&from=${p.monthStart}&to=${p.today}&format=csv`, `${org}-${p.month}-quality.csv`],
    [`${t("carbon")} · ${p.year} (CSV)`, `/v1/enterprises/${org}/carbon/year?year=${p.year}&format=csv`, `${org}-${p.year}-carbon.csv`],
    [`${t("carbon_report")} · ${p.year} (HTML)`, `/v1/enterprises/${org}/carbon/report?period=${p.year}&format=html`, `${org}-${p.year}-carbon-report.html`],
    [`${t("carbon_report")} · ${p.today.slice(0, 7)} (HTML)`, `/v1/enterprises/${org}/carbon/report?period=${p.today.slice(0, 7)}&format=html`, `${org}-${p.month}-carbon-deposit.html`],
  ];
  el.innerHTML = `<ul class="downloads">${items.map(([label, , name], i) => `<li><button type="button" class="link" data-i="${i}" data-testid="report-${i}">${esc(label)}</button> <span class="muted small">${esc(name)}</span></li>`).join("")}</ul><p class="bad small" data-role="err"></p>`;
  el.querySelectorAll("button[data-i]").forEach((b) => {
    b.onclick = async () => {
      const [, path, name] = items[Number(b.dataset.i)];
      try {
        download(new Blob([await getText(path)]), name);
      } catch (e) {
        el.querySelector("[data-role=err]").textContent = e.message;
      }
    };
  });
}

/** One location: its children (the next level) with their consumption this month, and its meters. */
async function renderLocation(main, org, path) {
  const p = periods();
  const prefix = path.join("/");
  const depth = Math.min(4, path.length + 1);
  const [info, b, meters] = await Promise.all([
    get(`/v1/organisations/${org}`),
    get(`/v1/figures/breakdown?org=${org}&from=${p.monthStart}&to=${p.today}&by=location&depth=${depth}`),
    all(`/v1/meters?org=${org}&limit=1000`, MAX_METER_PAGES),
  ]);
  const children = b.rows.filter((r) => r.key.startsWith(prefix + "/") || (depth === path.length && r.key === prefix));
  const here = meters.filter((m) => m.location.slice(0, path.length).join("/") === prefix);
  const levels = [t("site"), t("workshop"), t("line"), t("meter")];
  main.innerHTML = `
    <h1>${esc(info.name)} › ${esc(prefix)}</h1>
    <nav class="crumbs" data-testid="crumbs"><a href="#/enterprise/${esc(org)}">${esc(info.name)}</a>${path
      .map((x, i) => ` › <a href="#/enterprise/${esc(org)}/loc/${esc(path.slice(0, i + 1).join("/"))}">${esc(x)}</a>`)
      .join("")}</nav>
    <div class="grid">
      ${panel(`${levels[Math.min(path.length, 3)]} · ${t("this_month")}`, `<div class="chart" data-testid="chart-children"></div><div data-role="children"></div>`, { wide: true })}
      ${panel(t("meters"), `<div data-role="meters"></div>`, { wide: true })}
    </div>`;
  table(main.querySelector("[data-role=children]"), {
    filename: `${org}-${prefix.replaceAll("/", "_")}-${p.month}`,
    testid: "children-table",
    columns: [
      { label: t("site"), value: (r) => r.key, html: (r) => `<a href="#/enterprise/${esc(org)}/loc/${esc(r.key)}" data-testid="drill-location">${esc(r.key.slice(prefix.length + 1) || r.key)}</a>` },
      { label: t("kind"), value: (r) => energyName(r.energy) },
      { label: t("consumption"), value: (r) => fmt(r.consumption, 1), exact: (r) => r.consumption, num: true },
      { label: t("unit"), value: (r) => r.unit },
      { label: t("kgce_eq"), value: (r) => fmt(r.kgce_equivalent, 1), exact: (r) => r.kgce_equivalent, num: true },
      { label: t("meters"), value: (r) => r.meters, num: true },
    ],
    rows: children,
    onRow: (r) => (location.hash = `#/enterprise/${org}/loc/${r.key}`),
  });
  chart(main.querySelector("[data-testid=chart-children]"), {
    tooltip: { trigger: "axis" },
    grid: { left: 70, right: 20, top: 20, bottom: 80 },
    xAxis: { type: "category", data: children.map((r) => `${r.key.slice(prefix.length + 1)} ${energyName(r.energy)}`), axisLabel: { rotate: 30 } },
    yAxis: { type: "value", name: "kgce" },
    series: [{ type: "bar", data: children.map((r) => Number(r.kgce_equivalent)) }],
  });
  table(main.querySelector("[data-role=meters]"), {
    filename: `${org}-${prefix.replaceAll("/", "_")}-meters`,
    testid: "location-meters-table",
    columns: [
      { label: t("id"), value: (m) => m.id, html: (m) => `<a href="#/meter/${esc(m.id)}" data-testid="drill-meter">${esc(m.id)}</a>` },
      { label: t("name"), value: (m) => m.name },
      { label: t("kind"), value: (m) => energyName(m.energy) },
      { label: t("site"), value: (m) => m.location.join("/") },
      { label: t("status"), value: (m) => m.status },
    ],
    rows: here,
    onRow: (m) => (location.hash = `#/meter/${m.id}`),
  });
}

