// Public view (公开): no sign-in. What each region's disclosure makes public (rankings and
// regional figures), enterprises' published figures, the member register and the chain itself.

import { t } from "../i18n.js";
import { esc, fmt, periods, shanghaiTime, sumKgce, totals } from "../format.js";
import { all, get, getOr } from "../api.js";
import { kpi, panel, table, verifyButton, wireVerify } from "../ui.js";

/** Enterprises whose published figures the page shows (the rest are in the downloadable list). */
const MAX_PUBLISHED = 20;

/** Regions whose disclosure a public page asks about: those of the member regulators. */
function regionsOf(members) {
  return [...new Set(members.filter((m) => m.kind === "regulator").map((m) => m.region))].sort();
}

export async function render(main) {
  const p = periods();
  const [status, validators, members] = await Promise.all([get("/v1/status"), get("/v1/validators"), all("/v1/organisations?limit=1000", 5)]);
  const regions = regionsOf(members);
  // Ask only for what is disclosed (the node would refuse the rest).
  const disclosed = await Promise.all(regions.map((r) => get(`/v1/disclosures/${r}`)));
  const rankings = await Promise.all(
    regions.map((r, i) => (disclosed[i].rankings ? getOr(`/v1/figures/ranking?region=${r}&from=${p.yearStart}&to=${p.today}`, null) : null)),
  );
  // Enterprises that published their own figures (公开承诺): anyone may read them until the date.
  const published = await all("/v1/published?limit=1000", 5);
  const lastYearStart = `${Number(p.year) - 1}-01-01`;
  const lastYearEnd = `${Number(p.year) - 1}-12-31`;
  const pubFigures = await Promise.all(
    published.slice(0, MAX_PUBLISHED).map(async (e) => {
      const d = await getOr(`/v1/figures/daily?org=${e.org}&from=${lastYearStart}&to=${p.today}`, null);
      if (!d) return { ...e, figures: null };
      const year = totals(d.figures, p.yearStart, p.today);
      const last = totals(d.figures, lastYearStart, lastYearEnd);
      const latest = d.figures.filter((f) => f.label <= p.today).at(-1) ?? null;
      return { ...e, year: sumKgce(year), last: last.size ? sumKgce(last) : null, days: new Set(d.figures.filter((f) => f.label >= p.yearStart).map((f) => f.label)).size, latest };
    }),
  );
  main.innerHTML = `
    <h1>${t("nav_public")}</h1><p class="muted">${t("public_intro")}</p>
    <div class="kpis">
      ${kpi({ label: t("height"), value: String(status.finalized_height), testid: "public-height", exact: String(status.finalized_height) })}
      ${kpi({ label: t("epoch"), value: String(status.epoch) })}
      ${kpi({ label: t("validators"), value: String(status.validators.length), testid: "public-validators", exact: String(status.validators.length) })}
      ${kpi({ label: t("members"), value: String(members.length), testid: "public-members", exact: String(members.length) })}
    </div>
    <div class="grid">
      ${regions.map((r) => panel(`${t("ranking")} · ${r} · ${p.year}`, `<div data-region="${r}" data-testid="public-ranking-${r}"></div>`, { wide: true })).join("")}
      ${panel(`${t("published_figures")} · ${p.year}`, `<p class="muted small">${t("published_intro")}</p><div data-testid="public-published"></div>`, { wide: true })}
      ${panel(t("validators"), `<div data-testid="public-validator-table"></div>`, { wide: true })}
      ${panel(t("members"), `<div data-testid="public-member-table"></div>`, { wide: true })}
    </div>`;
  regions.forEach((r, i) => {
    const el = main.querySelector(`[data-region="${r}"]`);
    const rk = rankings[i];
    if (!rk) {
      el.innerHTML = `<p class="muted" data-testid="not-disclosed">${t("not_disclosed")}</p>`;
      return;
    }
    el.innerHTML = `<div class="kpis">${kpi({ label: `${t("regional_totals")} · ${t("kgce_eq")}`, value: fmt(rk.total_kgce_equivalent, 0), exact: rk.total_kgce_equivalent, testid: `public-total-${r}` })}</div><div data-role="t"></div>`;
    table(el.querySelector("[data-role=t]"), {
      filename: `ranking-${r}-${p.year}`,
      columns: [
        { label: t("rank"), value: (e) => e.rank, num: true },
        { label: t("enterprise"), value: (e) => e.name },
        { label: t("id"), value: (e) => e.org },
        { label: t("kgce_eq"), value: (e) => fmt(e.kgce_equivalent, 0), exact: (e) => e.kgce_equivalent, num: true },
        { label: t("kgce_ev"), value: (e) => fmt(e.kgce_equal_value, 0), exact: (e) => e.kgce_equal_value, num: true },
      ],
      rows: rk.entries,
    });
  });
  table(main.querySelector("[data-testid=public-published]"), {
    filename: `published-${p.year}`,
    testid: "published-table",
    empty: t("none_published"),
    columns: [
      { label: t("enterprise"), value: (e) => e.name, html: (e) => `<span data-org="${esc(e.org)}">${esc(e.name)}</span>` },
      { label: t("id"), value: (e) => e.org },
      { label: t("region"), value: (e) => e.region },
      { label: `${t("this_year")} · ${t("kgce_eq")}`, value: (e) => (e.year === undefined ? "—" : fmt(e.year, 0)), exact: (e) => e.year ?? "", num: true, html: (e) => `<span data-testid="published-year" data-value="${esc(e.year ?? "")}">${e.year === undefined ? "—" : fmt(e.year, 0)}</span>` },
      { label: t("days"), value: (e) => e.days ?? 0, num: true },
      { label: `${Number(p.year) - 1} · ${t("kgce_eq")}`, value: (e) => (e.last ? fmt(e.last, 0) : "—"), exact: (e) => e.last ?? "", num: true },
      { label: t("public_until"), value: (e) => shanghaiTime(e.until_ms) },
      { label: t("proof"), value: (e) => e.latest?.proof ?? "", html: (e) => (e.latest ? verifyButton("figure", e.latest.proof, `${t("verify")} ${esc(e.latest.label)}`) : "—") },
    ],
    rows: pubFigures,
  });
  table(main.querySelector("[data-testid=public-validator-table]"), {
    filename: "validators",
    columns: [
      { label: t("name"), value: (v) => v.name },
      { label: t("enterprise"), value: (v) => v.org },
      { label: "stake", value: (v) => v.bonded, num: true },
      { label: t("proposed"), value: (v) => v.proposed, num: true },
      { label: t("missed"), value: (v) => v.missed, num: true },
      { label: t("uptime"), value: (v) => (v.uptime_percent === null ? "—" : `${v.uptime_percent}%`), num: true },
      { label: t("status"), value: (v) => (v.jailed_until !== null ? `jailed → ${v.jailed_until}` : v.in_current_set ? "active" : "standby") },
    ],
    rows: validators,
  });
  table(main.querySelector("[data-testid=public-member-table]"), {
    filename: "members",
    columns: [
      { label: t("id"), value: (m) => m.id },
      { label: t("name"), value: (m) => m.name },
      { label: t("kind"), value: (m) => t("role_" + m.kind) },
      { label: t("region"), value: (m) => m.region },
    ],
    rows: members,
  });
  wireVerify(main);
}
