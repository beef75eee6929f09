// Pieces shared by the regulator, enterprise and big-screen pages.

import { t, energyName } from "../i18n.js";
import { esc, fmt, micros, decimal, shanghaiTime, lastYear } from "../format.js";
import { get, stream } from "../api.js";

/** Per-kind totals summed exactly over a ranking's entries: [{energy, unit, consumption, kgce_equivalent}]. */
export function kindsOf(ranking) {
  const by = new Map();
  for (const e of ranking?.entries ?? []) {
    for (const k of e.kinds) {
      const cur = by.get(k.energy) ?? { energy: k.energy, unit: k.unit, c: 0n, kg: 0n, kv: 0n };
      cur.c += micros(k.consumption);
      cur.kg += micros(k.kgce_equivalent);
      cur.kv += micros(k.kgce_equal_value);
      by.set(k.energy, cur);
    }
  }
  return [...by.values()].map((k) => ({ energy: k.energy, unit: k.unit, consumption: decimal(k.c), kgce_equivalent: decimal(k.kg), kgce_equal_value: decimal(k.kv) }));
}

/** A ranking of `region` over [from, to] and the same days a year earlier. */
export async function rankingWithLastYear(region, from, to) {
  const [now, before] = await Promise.all([
    get(`/v1/figures/ranking?region=${region}&from=${from}&to=${to}&limit=1000`),
    get(`/v1/figures/ranking?region=${region}&from=${lastYear(from)}&to=${lastYear(to)}&limit=1000`),
  ]);
  return { now, before };
}

/** Sums kgce per day over several series (one per energy kind) of the same days: [{label, kgce}]. */
export function dailyKgce(seriesList) {
  const by = new Map();
  for (const s of seriesList) {
    for (const p of s.points) by.set(p.label, (by.get(p.label) ?? 0n) + micros(p.kgce_equivalent));
  }
  return [...by.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([label, v]) => ({ label, kgce: decimal(v) }));
}

/** The pie of kgce by energy kind. */
export function structureOption(kinds, dark = false) {
  return {
    tooltip: { trigger: "item", formatter: (p) => `${p.name}: ${p.value.toLocaleString()} kgce (${p.percent}%)` },
    legend: { bottom: 0, textStyle: dark ? { color: "#dde6f0", fontSize: 18 } : {} },
    series: [
      {
        type: "pie",
        radius: ["40%", "68%"],
        label: { formatter: "{b}\n{d}%", color: dark ? "#dde6f0" : undefined, fontSize: dark ? 18 : 12 },
        data: kinds.map((k) => ({ name: energyName(k.energy), value: Number(k.kgce_equivalent), energy: k.energy })),
      },
    ],
  };
}

/** Bars of this period's days against the same days last year (red up, green down, as 大屏 do). */
export function trendOption(days, lastYearDays, dark = false) {
  const before = new Map(lastYearDays.map((d) => [d.label.slice(5), Number(d.kgce)]));
  const axis = dark ? { axisLabel: { color: "#dde6f0", fontSize: 16 } } : {};
  return {
    tooltip: { trigger: "axis" },
    legend: { top: 0, right: 10, data: [t("this_month"), t("same_period_last_year")], textStyle: dark ? { color: "#dde6f0", fontSize: 16 } : {} },
    grid: { left: 70, right: 20, top: 40, bottom: 30 },
    xAxis: { type: "category", data: days.map((d) => d.label.slice(5)), ...axis },
    yAxis: { type: "value", name: "kgce", ...axis },
    series: [
      { name: t("this_month"), type: "bar", data: days.map((d) => Number(d.kgce)) },
      { name: t("same_period_last_year"), type: "line", data: days.map((d) => before.get(d.label.slice(5)) ?? 0) },
    ],
  };
}

/**
 * The alarm list of an enterprise (`{ org }`) or of a region (`{ region }`: the node filters by
 * the enterprises' regions, one stream for a whole jurisdiction; a browser keeps at most six
 * connections to a node, so a stream per enterprise would starve the page's other requests),
 * kept live by the node's event stream. Answers a stop function.
 */
export function liveAlarms(el, { org, region }, { max = 50, big = false } = {}) {
  const active = new Map();
  const ctl = new AbortController();
  const draw = () => {
    const list = [...active.values()].sort((a, b) => (a.severity === b.severity ? b.raised_at_ms - a.raised_at_ms : a.severity === "critical" ? -1 : 1)).slice(0, max);
    el.innerHTML = list.length
      ? `<ul class="alarms${big ? " big" : ""}" data-testid="alarm-list">${list
          .map((a) => `<li class="sev-${esc(a.severity)}" data-kind="${esc(a.kind)}"><span class="sev">${esc(a.severity)}</span> <b>${esc(a.kind)}</b> ${esc(a.meter ?? a.owner ?? "")} <span class="muted small">${shanghaiTime(a.raised_at_ms)}</span><div class="small">${esc(a.message ?? a.what_to_do ?? "")}</div></li>`)
          .join("")}</ul>`
      : `<p class="muted" data-testid="alarm-list-empty">${t("none")}</p>`;
    el.dataset.count = String(active.size);
  };
  draw();
  const query = org ? `org=${encodeURIComponent(org)}` : `region=${encodeURIComponent(region)}`;
  stream(
    `/v1/alarms/stream?${query}`,
    (type, data) => {
      if (type === "snapshot") {
        active.clear();
        for (const a of data.alarms) active.set(a.key, a);
      } else if (type === "raised") active.set(data.alarm.key, data.alarm);
      else if (type === "cleared") active.delete(data.alarm.key);
      draw();
    },
    ctl.signal,
  );
  return () => ctl.abort();
}

/** The validators' table rows and the chain's health figures. */
export async function chainHealth() {
  const [status, validators] = await Promise.all([get("/v1/status"), get("/v1/validators")]);
  return { status, validators };
}

export { fmt };
