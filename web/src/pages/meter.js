// One meter (计量器具): its registry record and calibration, its latest reading, today's
// 15-minute consumption (derived from its readings by the chain's interval rules) and its
// readings, each verifiable in the browser down to the meter's or gateway's signature and the
// validators' finality certificate.

import { t, energyName } from "../i18n.js";
import { esc, fmt, periods, shanghaiTime } from "../format.js";
import { get } from "../api.js";
import { session } from "../session.js";
import { chart, kpi, panel, table, verifyButton, wireVerify } from "../ui.js";

export async function render(main, [id]) {
  if (!session.current) {
    main.innerHTML = `<p data-testid="need-sign-in">${t("need_sign_in")}</p>`;
    return;
  }
  const p = periods();
  const view = await get(`/v1/meters/${encodeURIComponent(id)}`);
  const m = view.meter;
  const from = Date.parse(`${p.yesterday}T00:00:00+08:00`);
  const [readings, series] = await Promise.all([
    get(`/v1/meters/${encodeURIComponent(id)}/readings?from=${from}&to=${Date.now() + 3_600_000}&limit=1000`),
    get(`/v1/figures/series?scope=meter&id=${encodeURIComponent(id)}&energy=${m.energy}&period=15m&from=${p.yesterday}&to=${p.today}`),
  ]);
  const rows = readings.items.slice().reverse();
  const last = rows[0];
  const cal = m.calibration;
  main.innerHTML = `
    <h1>${esc(m.name)} <span class="muted small">${esc(m.id)}</span></h1>
    <nav class="crumbs" data-testid="crumbs"><a href="#/enterprise/${esc(m.owner)}">${esc(m.owner)}</a>${m.location
      .map((x, i) => ` › <a href="#/enterprise/${esc(m.owner)}/loc/${esc(m.location.slice(0, i + 1).join("/"))}">${esc(x)}</a>`)
      .join("")}</nav>
    <div class="kpis">
      ${kpi({ label: t("last_value"), value: last ? fmt(last.value, 2) : "—", unit: m.unit, exact: last?.value ?? "", sub: last ? shanghaiTime(last.timestamp_ms) : "", testid: "meter-last" })}
      ${kpi({ label: t("kind"), value: energyName(m.energy), sub: `${m.register} · ${t("accuracy")} ${m.accuracy / 100}` })}
      ${kpi({ label: t("status"), value: m.status, sub: `${t("gateways")} ${esc(m.gateway)}` })}
      ${kpi({ label: t("calibration_until"), value: cal ? shanghaiTime(cal.valid_until_ms).slice(0, 10) : "—", sub: cal ? `${esc(cal.certificate_no)} · ${esc(cal.issuer)}` : "", testid: "meter-calibration" })}
      ${kpi({ label: t("readings"), value: String(view.progress?.accepted ?? 0), exact: String(view.progress?.accepted ?? 0), sub: `${t("seq")} ${view.progress?.last_seq ?? "—"}` })}
    </div>
    <div class="grid">
      ${panel(`${t("consumption")} · 15 min · ${t("yesterday")}–${t("today")}`, `<div class="chart" data-testid="chart-meter"></div>`, { wide: true })}
      ${panel(t("readings"), `<div data-role="readings"></div>`, { wide: true })}
    </div>`;
  chart(main.querySelector("[data-testid=chart-meter]"), {
    tooltip: { trigger: "axis" },
    grid: { left: 70, right: 20, top: 30, bottom: 60 },
    dataZoom: [{ type: "slider" }],
    xAxis: { type: "category", data: series.points.map((x) => x.label.replace("T", " ").slice(5)) },
    yAxis: { type: "value", name: m.unit },
    series: [{ type: "bar", name: t("consumption"), data: series.points.map((x) => Number(x.consumption)) }],
  });
  table(main.querySelector("[data-role=readings]"), {
    filename: `${m.id}-readings`,
    testid: "readings-table",
    columns: [
      { label: t("seq"), value: (r) => r.seq, num: true },
      { label: t("time"), value: (r) => shanghaiTime(r.timestamp_ms) },
      { label: t("value"), value: (r) => r.value, num: true },
      { label: t("unit"), value: (r) => r.unit },
      { label: t("origin"), value: (r) => r.origin },
      { label: t("height"), value: (r) => r.height, num: true },
      { label: t("proof"), value: (r) => r.proof, html: (r) => verifyButton("reading", r.proof) },
    ],
    rows: rows.slice(0, 200),
  });
  wireVerify(main);
}
