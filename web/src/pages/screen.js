// The big screen (大屏): a 1920×1080 control-room layout scaled to the window — energy and carbon
// totals with last year, the month's trend, structure by energy kind and emissions by source, the
// quota gauge, top enterprises, live alarms and a ticker of finalized blocks that follows the
// chain within a second of finalization. Dark, large type, readable from across a room.

import { t } from "../i18n.js";
import { change, decimal, esc, fmt, lastYear, micros, periods, shanghaiTime } from "../format.js";
import { get, getOr } from "../api.js";
import { session } from "../session.js";
import { chart } from "../ui.js";
import { dailyKgce, kindsOf, liveAlarms, rankingWithLastYear, structureOption, trendOption } from "./common.js";

const TICKER = 10;
const POLL_MS = 1000;
const REFRESH_MS = 15_000;

// Emission sources as the shipped methodologies name them (GB/T 32150-2015, GB/T 32151.29-2024).
const SOURCE = {
  zh: { combustion: "化石燃料燃烧", fgas_containers: "电气设备生产（无流量计）", fgas_flow_meter: "电气设备生产（有流量计）", welding: "二氧化碳气体保护焊", electricity_net: "净购入电力", heat_net: "净购入热力", process: "工业过程" },
  en: { combustion: "Fuel combustion", fgas_containers: "F-gases (no flow meter)", fgas_flow_meter: "F-gases (flow meter)", welding: "CO₂ shielded welding", electricity_net: "Net purchased electricity", heat_net: "Net purchased heat", process: "Industrial process" },
};

export async function render(main, _params, scope) {
  const s = session.current;
  if (!s || !["regulator", "statistics_bureau"].includes(s.org.kind)) {
    main.innerHTML = `<p data-testid="need-sign-in">${t("only_regulators")}</p>`;
    return;
  }
  const region = s.org.region;
  main.innerHTML = `
  <div class="screen-frame"><div class="screen" data-testid="big-screen">
    <div class="s-top"><div class="s-title" title="${esc(s.org.name)}">${t("screen_title")} · ${t("region")} ${region}</div><div class="s-clock" data-role="clock"></div><div class="s-chain" data-role="chain" data-testid="screen-height"></div><a class="s-exit" href="#/regulator" title="${t("close")}">✕</a></div>
    <div class="s-left">
      <div class="s-kpi" data-testid="screen-kpi-today"></div>
      <div class="s-kpi" data-testid="screen-kpi-month"></div>
      <div class="s-kpi" data-testid="screen-kpi-year"></div>
      <div class="s-kpi" data-testid="screen-kpi-carbon"></div>
      <div class="s-box"><h4>${t("top_enterprises")}</h4><div class="s-chart" data-testid="screen-top"></div></div>
    </div>
    <div class="s-center">
      <div class="s-box"><h4>${t("trend")} · ${t("this_month")}</h4><div class="s-chart" data-testid="screen-trend"></div></div>
      <div class="s-row">
        <div class="s-box"><h4>${t("structure")}</h4><div class="s-chart" data-testid="screen-structure"></div></div>
        <div class="s-box"><h4>${t("carbon_by_source")} · ${t("this_month")}</h4><div class="s-chart" data-testid="screen-sources"></div></div>
      </div>
    </div>
    <div class="s-right">
      <div class="s-box"><h4>${t("quota_used")}</h4><div class="s-chart" data-testid="screen-quota"></div></div>
      <div class="s-box grow"><h4>${t("alarms")}</h4><div data-role="alarms" class="s-alarms"></div></div>
    </div>
    <div class="s-bottom"><h4>${t("blocks_ticker")}</h4><ol class="ticker" data-testid="ticker"></ol></div>
  </div></div>`;
  const frame = main.querySelector(".screen-frame");
  const scr = main.querySelector(".screen");
  const fit = () => {
    const k = Math.min(frame.clientWidth / 1920, window.innerHeight / 1080);
    scr.style.transform = `scale(${k})`;
    frame.style.height = `${1080 * k}px`;
  };
  window.addEventListener("resize", fit);
  scope.onLeave(() => window.removeEventListener("resize", fit));
  fit();
  const q = (r) => main.querySelector(`[data-role=${r}]`);
  const timers = [];
  let left = false;
  scope.onLeave(() => {
    left = true;
    timers.forEach(clearInterval);
  });

  const clock = () => (q("clock").textContent = shanghaiTime(Date.now()));
  clock();
  timers.push(setInterval(clock, 1000));

  const tile = (el, label, value, sub, exact) => {
    el.innerHTML = `<div class="s-kpi-label">${esc(label)}</div><div class="s-kpi-value">${esc(value)}</div><div class="s-kpi-sub">${sub}</div>`;
    el.dataset.value = exact;
  };
  const yoyHtml = (r) => {
    const c = change(r.now.total_kgce_equivalent, r.before.total_kgce_equivalent);
    if (c === null) return `${t("yoy")} —`;
    return `${t("yoy")} <span class="${c.startsWith("+") ? "up" : "down"}">${c}</span>`;
  };

  async function refresh() {
    const p = periods();
    const [day, month, year] = await Promise.all([
      rankingWithLastYear(region, p.today, p.today),
      rankingWithLastYear(region, p.monthStart, p.today),
      rankingWithLastYear(region, p.yearStart, p.today),
    ]);
    if (left) return [];
    tile(main.querySelector("[data-testid=screen-kpi-today]"), `${t("today")} · tce`, fmt(decimal(micros(day.now.total_kgce_equivalent) / 1000n), 1), yoyHtml(day), day.now.total_kgce_equivalent);
    tile(main.querySelector("[data-testid=screen-kpi-month]"), `${t("this_month")} · tce`, fmt(decimal(micros(month.now.total_kgce_equivalent) / 1000n), 1), yoyHtml(month), month.now.total_kgce_equivalent);
    tile(main.querySelector("[data-testid=screen-kpi-year]"), `${t("this_year")} · tce`, fmt(decimal(micros(year.now.total_kgce_equivalent) / 1000n), 1), yoyHtml(year), year.now.total_kgce_equivalent);
    const entries = year.now.entries;
    const top = entries.slice(0, 8).reverse();
    chart(main.querySelector("[data-testid=screen-top]"), {
      grid: { left: 160, right: 30, top: 10, bottom: 20 },
      xAxis: { type: "value", axisLabel: { color: "#9fb3c8" } },
      yAxis: { type: "category", data: top.map((e) => e.name.slice(0, 12)), axisLabel: { color: "#dde6f0", fontSize: 16 } },
      series: [{ type: "bar", data: top.map((e) => Number(e.kgce_equivalent) / 1000), label: { show: true, position: "right", color: "#dde6f0", formatter: (x) => x.value.toFixed(1) } }],
    });
    chart(main.querySelector("[data-testid=screen-structure]"), structureOption(kindsOf(year.now), true));
    const kinds = kindsOf(month.now);
    const [mDays, lDays] = await Promise.all([
      Promise.all(kinds.map((k) => getOr(`/v1/figures/series?scope=region&id=${region}&energy=${k.energy}&period=day&from=${p.monthStart}&to=${p.today}`, null))),
      Promise.all(kinds.map((k) => getOr(`/v1/figures/series?scope=region&id=${region}&energy=${k.energy}&period=day&from=${lastYear(p.monthStart)}&to=${lastYear(p.today)}`, null))),
    ]);
    if (left) return [];
    chart(main.querySelector("[data-testid=screen-trend]"), trendOption(dailyKgce(mDays.filter(Boolean)), dailyKgce(lDays.filter(Boolean)), true));
    // Carbon: the year's and the month's by source, over the top enterprises.
    const orgs = entries.slice(0, 10).map((e) => e.org);
    const [compl, carbonMonth] = await Promise.all([
      orgs.length ? getOr(`/v1/carbon/compliance?year=${p.year}&${orgs.map((o) => `org=${o}`).join("&")}`, null).then((b) => b?.items ?? []) : [],
      Promise.all(orgs.map((o) => getOr(`/v1/enterprises/${o}/carbon?month=${p.month}`, null))),
    ]);
    if (left) return [];
    let ytd = 0n, quota = 0n, forecast = 0n;
    for (const c of compl.filter(Boolean)) {
      ytd += micros(c.quota.year_to_date_t);
      quota += micros(c.quota.quota_t ?? "0");
      forecast += micros(c.quota.forecast_t ?? "0");
    }
    tile(main.querySelector("[data-testid=screen-kpi-carbon]"), `${t("carbon")} · ${t("ytd")} · tCO₂e`, fmt(decimal(ytd), 1), `${t("forecast")} ${fmt(decimal(forecast), 0)} / ${t("quota")} ${fmt(decimal(quota), 0)}`, decimal(ytd));
    const q2 = Number(decimal(quota)) || 1;
    chart(main.querySelector("[data-testid=screen-quota]"), {
      series: [
        {
          type: "gauge",
          min: 0,
          max: 100,
          progress: { show: true, width: 18 },
          axisLine: { lineStyle: { width: 18 } },
          splitNumber: 5,
          axisLabel: { color: "#9fb3c8", fontSize: 14, distance: 26 },
          detail: { formatter: "{value}%", color: "#f5f7fa", fontSize: 40, offsetCenter: [0, "35%"] },
          title: { show: false },
          data: [{ value: Math.round((Number(decimal(ytd)) / q2) * 1000) / 10, name: t("quota_used") }],
        },
      ],
    });
    const bySource = new Map();
    // The standard view (GB/T 32150) only: Scope 2's location and market views are alternatives,
    // not additions.
    for (const c of carbonMonth.filter(Boolean)) {
      for (const l of c.lines ?? []) {
        if (l.views?.includes("standard")) bySource.set(l.source, (bySource.get(l.source) ?? 0n) + micros(l.co2e_t));
      }
    }
    const lang = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
    chart(main.querySelector("[data-testid=screen-sources]"), {
      tooltip: { trigger: "item" },
      legend: { orient: "vertical", right: 0, top: "middle", textStyle: { color: "#dde6f0", fontSize: 16 } },
      series: [{ type: "pie", center: ["25%", "50%"], radius: ["35%", "60%"], label: { show: false }, data: [...bySource].map(([k, v]) => ({ name: SOURCE[lang][k] ?? k, value: Number(decimal(v)) })) }],
    });
  }

  // The ticker: every finalized block, newest first, within a poll of its finalization.
  let seen = 0;
  let polling = false;
  const ticker = main.querySelector("[data-testid=ticker]");
  async function poll() {
    const st = await get("/v1/status");
    if (left) return;
    q("chain").textContent = `${st.chain_id} · ${t("height")} ${st.finalized_height} · ${t("epoch")} ${st.epoch}`;
    q("chain").dataset.height = st.finalized_height;
    if (!seen) seen = Math.max(0, st.finalized_height - TICKER);
    const from = Math.max(seen + 1, st.finalized_height - TICKER + 1);
    for (let h = from; h <= st.finalized_height; h++) {
      const b = await getOr(`/v1/blocks/${h}`, null);
      if (left) return;
      const hd = b?.header;
      const li = document.createElement("li");
      li.dataset.height = String(h);
      li.innerHTML = hd
        ? `<div><b>#${h}</b> ${shanghaiTime(hd.timestamp_ms).slice(11)}</div><div>${hd.tx_count} tx · ${hd.reading_count} ${t("readings_per_block")} <code>${esc(b.digest.slice(0, 8))}</code></div>`
        : `<b>#${h}</b>`;
      ticker.prepend(li);
      while (ticker.children.length > TICKER) ticker.lastElementChild.remove();
    }
    seen = Math.max(seen, st.finalized_height);
  }

  await refresh();
  scope.onLeave(liveAlarms(q("alarms"), { region }, { max: 12, big: true }));
  await poll();
  timers.push(
    setInterval(() => {
      if (polling) return; // one poll at a time: a slow node is not asked twice
      polling = true;
      poll()
        .catch(() => {})
        .finally(() => (polling = false));
    }, POLL_MS),
  );
  timers.push(setInterval(() => refresh().catch(() => {}), REFRESH_MS));
}

