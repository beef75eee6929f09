// Regulator view (监管): a region's consumption and standard coal by day, month and year with the
// same period last year, by energy kind, the trend, enterprise rankings, data quality against the
// 90 % rule, live alarms, calibration expiring, carbon and quota positions, chain health; each
// enterprise drills down to its sites, workshops, lines and meters. Only the signed-in
// authority's jurisdiction: the node refuses anything else (the page only asks for its region).

import { t, energyName } from "../i18n.js";
import { change, esc, fmt, periods, lastYear } from "../format.js";
import { get, getOr } from "../api.js";
import { session } from "../session.js";
import { chart, kpi, panel, refusal, table } from "../ui.js";
import { chainHealth, dailyKgce, kindsOf, liveAlarms, rankingWithLastYear, structureOption, trendOption } from "./common.js";

const AUTHORITIES = ["regulator", "statistics_bureau"];

export async function render(main, [regionParam], scope) {
  const s = session.current;
  if (!s) {
    main.innerHTML = `<p data-testid="need-sign-in">${t("need_sign_in")}</p>`;
    return;
  }
  if (!AUTHORITIES.includes(s.org.kind)) {
    main.innerHTML = `<p data-testid="not-authority">${t("only_regulators")}</p>`;
    return;
  }
  const region = Number(regionParam ?? s.org.region);
  const p = periods();
  const [day, month, year] = await Promise.all([
    rankingWithLastYear(region, p.today, p.today),
    rankingWithLastYear(region, p.monthStart, p.today),
    rankingWithLastYear(region, p.yearStart, p.today),
  ]);
  const kinds = kindsOf(year.now);
  const yoy = (r) => {
    const c = change(r.now.total_kgce_equivalent, r.before.total_kgce_equivalent);
    return `${t("yoy")} ${c ?? "—"} · ${t("same_period_last_year")} ${fmt(r.before.total_kgce_equivalent, 0)}`;
  };
  main.innerHTML = `
    <h1>${t("nav_regulator")} · ${esc(s.org.name)} · ${t("region")} ${region}</h1>
    <p class="muted small">${t("drill_hint")}</p>
    <div class="kpis" data-testid="regulator-kpis">
      ${kpi({ label: `${t("today")} · ${t("kgce_eq")}`, value: fmt(day.now.total_kgce_equivalent, 0), exact: day.now.total_kgce_equivalent, sub: yoy(day), testid: "kpi-today" })}
      ${kpi({ label: `${t("this_month")} · ${t("kgce_eq")}`, value: fmt(month.now.total_kgce_equivalent, 0), exact: month.now.total_kgce_equivalent, sub: yoy(month), testid: "kpi-month" })}
      ${kpi({ label: `${t("this_year")} · ${t("kgce_eq")}`, value: fmt(year.now.total_kgce_equivalent, 0), exact: year.now.total_kgce_equivalent, sub: yoy(year), testid: "kpi-year" })}
      ${kpi({ label: t("enterprises"), value: String(year.now.enterprises), exact: String(year.now.enterprises), testid: "kpi-enterprises" })}
    </div>
    <div class="grid">
      ${panel(`${t("trend")} · ${t("this_month")}`, `<div class="chart" data-testid="chart-trend"></div>`)}
      ${panel(`${t("by_energy")} · ${t("this_year")}`, `<div class="chart" data-testid="chart-structure"></div><div data-role="kinds"></div>`)}
      ${panel(`${t("ranking")} · ${t("this_year")}`, `<div data-role="ranking"></div>`, { wide: true })}
      ${panel(`${t("quality")} · ${t("this_month")}`, `<div data-role="quality"></div>`, { wide: true })}
      ${panel(t("alarms"), `<div data-role="alarms" data-testid="regulator-alarms"></div>`)}
      ${panel(`${t("carbon")} · ${p.year}`, `<div data-role="carbon"></div>`)}
      ${panel(t("chain_health"), `<div data-role="chain"></div>`, { wide: true })}
    </div>`;
  const q = (r) => main.querySelector(`[data-role=${r}]`);

  table(q("kinds"), {
    filename: `region-${region}-${p.year}-by-energy`,
    testid: "kinds-table",
    columns: [
      { label: t("kind"), value: (k) => energyName(k.energy) },
      { label: t("consumption"), value: (k) => fmt(k.consumption, 0), exact: (k) => k.consumption, num: true },
      { label: t("unit"), value: (k) => k.unit },
      { label: t("kgce_eq"), value: (k) => fmt(k.kgce_equivalent, 0), exact: (k) => k.kgce_equivalent, num: true },
    ],
    rows: kinds,
  });
  chart(main.querySelector("[data-testid=chart-structure]"), structureOption(kinds));

  table(q("ranking"), {
    filename: `region-${region}-${p.year}-ranking`,
    testid: "ranking-table",
    columns: [
      { label: t("rank"), value: (e) => e.rank, num: true },
      { label: t("enterprise"), value: (e) => e.name, html: (e) => `<a href="#/enterprise/${esc(e.org)}" data-testid="drill-enterprise">${esc(e.name)}</a>` },
      { label: t("id"), value: (e) => e.org },
      { label: t("kgce_eq"), value: (e) => fmt(e.kgce_equivalent, 0), exact: (e) => e.kgce_equivalent, num: true },
      { label: t("kgce_ev"), value: (e) => fmt(e.kgce_equal_value, 0), exact: (e) => e.kgce_equal_value, num: true },
      { label: t("tce"), value: (e) => e.tce, num: true },
    ],
    rows: year.now.entries,
    onRow: (e) => (location.hash = `#/enterprise/${e.org}`),
  });

  scope.onLeave(liveAlarms(q("alarms"), { region }));

  // The rest loads after the first paint.
  (async () => {
    const monthDays = await Promise.all(kinds.map((k) => getOr(`/v1/figures/series?scope=region&id=${region}&energy=${k.energy}&period=day&from=${p.monthStart}&to=${p.today}`, null)));
    const lastDays = await Promise.all(kinds.map((k) => getOr(`/v1/figures/series?scope=region&id=${region}&energy=${k.energy}&period=day&from=${lastYear(p.monthStart)}&to=${lastYear(p.today)}`, null)));
    chart(main.querySelector("[data-testid=chart-trend]"), trendOption(dailyKgce(monthDays.filter(Boolean)), dailyKgce(lastDays.filter(Boolean))));
  })().catch((e) => (main.querySelector("[data-testid=chart-trend]").innerHTML = refusal(e)));

  (async () => {
    const qual = await get(`/v1/quality?region=${region}&from=${p.monthStart}&to=${p.today}`);
    table(q("quality"), {
      filename: `region-${region}-${p.month}-quality`,
      testid: "quality-table",
      columns: [
        { label: t("enterprise"), value: (e) => e.name ?? t("total"), html: (e) => (e.org ? `<a href="#/enterprise/${esc(e.org)}">${esc(e.name)}</a>` : `<b>${t("total")}</b>`) },
        { label: t("completeness"), value: (e) => e.completeness, html: (e) => `<span class="${e.index.completeness_ok ? "good" : "bad"}">${esc(e.completeness)}</span>`, num: true },
        { label: t("timeliness"), value: (e) => e.timeliness, num: true },
        { label: t("accuracy"), value: (e) => e.accuracy, num: true },
        { label: t("composite"), value: (e) => e.composite, num: true },
        { label: t("flags"), value: (e) => (e.flags ?? []).join("; "), html: (e) => `<span class="small">${esc((e.flags ?? []).join("; "))}</span>` },
      ],
      rows: [...qual.enterprises, { ...qual.total, flags: [] }],
    });
  })().catch((e) => (q("quality").innerHTML = refusal(e)));

  (async () => {
    // The top 50 enterprises' compliance years in one request (GET /v1/carbon/compliance).
    const top = year.now.entries.slice(0, 50);
    const batch = top.length ? await getOr(`/v1/carbon/compliance?year=${p.year}&${top.map((e) => `org=${e.org}`).join("&")}`, null) : null;
    const byOrg = new Map((batch?.items ?? []).map((c) => [c.org, c]));
    const rows = top.map((e) => ({ e, c: byOrg.get(e.org) ?? null }));
    table(q("carbon"), {
      filename: `region-${region}-${p.year}-carbon`,
      testid: "carbon-table",
      columns: [
        { label: t("enterprise"), value: (r) => r.e.name },
        { label: `${t("ytd")} (tCO₂e)`, value: (r) => fmt(r.c?.quota?.year_to_date_t, 1), exact: (r) => r.c?.quota?.year_to_date_t ?? "", num: true },
        { label: `${t("forecast")} (t)`, value: (r) => fmt(r.c?.quota?.forecast_t, 1), num: true },
        { label: `${t("quota")} (t)`, value: (r) => fmt(r.c?.quota?.quota_t, 0), num: true },
        { label: t("verification"), value: (r) => (r.c?.verification ? r.c.verification.status ?? "✓" : "—") },
      ],
      rows,
    });
  })().catch((e) => (q("carbon").innerHTML = refusal(e)));

  (async () => {
    const { status, validators } = await chainHealth();
    q("chain").innerHTML = `<div class="kpis">${kpi({ label: t("height"), value: String(status.finalized_height), testid: "chain-height" })}${kpi({ label: t("epoch"), value: String(status.epoch) })}${kpi({ label: t("validators"), value: String(status.validators.length) })}</div><div data-role="vals"></div>`;
    table(q("vals"), {
      filename: "validators",
      columns: [
        { label: t("name"), value: (v) => v.name },
        { label: t("enterprise"), value: (v) => v.org },
        { label: t("proposed"), value: (v) => v.proposed, num: true },
        { label: t("missed"), value: (v) => v.missed, num: true },
        { label: t("uptime"), value: (v) => (v.uptime_percent === null ? "—" : `${v.uptime_percent}%`), num: true },
        { label: t("status"), value: (v) => (v.jailed_until !== null ? `jailed → ${v.jailed_until}` : v.in_current_set ? "active" : "standby") },
      ],
      rows: validators,
    });
  })().catch((e) => (q("chain").innerHTML = refusal(e)));

}
