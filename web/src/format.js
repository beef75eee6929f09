// Numbers and dates, one way everywhere. The API sends amounts as exact decimal strings with six
// decimals; sums shown on a page are made exactly, in integer millionths (BigInt), so a page's
// total equals the API's to the last digit. Days are Asia/Shanghai days (midnight to midnight),
// whatever the browser's own time zone.

import { currentLang } from "./i18n.js";

const SCALE = 1_000_000n;

/** A decimal string ("-12.345678", "7") as integer millionths. Throws on anything else. */
export function micros(s) {
  if (s === null || s === undefined) return 0n;
  const m = /^(-)?(\d+)(?:\.(\d{1,6}))?$/.exec(String(s).trim());
  if (!m) throw new Error(`not a decimal amount: ${s}`);
  const v = BigInt(m[2]) * SCALE + BigInt((m[3] ?? "").padEnd(6, "0"));
  return m[1] ? -v : v;
}

/**
 * Daily figures (`/v1/figures/daily`'s `figures`) of days `from`..`to` (labels, inclusive) summed
 * exactly per energy kind: `Map(energy → {unit, c: consumption, kg: kgce 当量})` in millionths.
 */
export function totals(figures, from, to) {
  const by = new Map();
  for (const f of figures) {
    if (f.label < from || f.label > to) continue;
    const cur = by.get(f.energy) ?? { unit: f.unit, c: 0n, kg: 0n };
    cur.c += micros(f.consumption);
    cur.kg += micros(f.kgce_equivalent);
    by.set(f.energy, cur);
  }
  return by;
}

/** The kgce (当量) of a [`totals`] map, as a decimal string. */
export function sumKgce(map) {
  let v = 0n;
  for (const x of map.values()) v += x.kg;
  return decimal(v);
}

/** Integer millionths as the API's decimal string (six decimals). */
export function decimal(v) {
  const neg = v < 0n;
  const a = neg ? -v : v;
  return `${neg ? "-" : ""}${a / SCALE}.${String(a % SCALE).padStart(6, "0")}`;
}

/** The exact sum of decimal strings, as a decimal string. */
export function sum(values) {
  return decimal(values.reduce((acc, s) => acc + micros(s), 0n));
}

/** A decimal string for reading: grouped digits, `digits` decimals (rounded half away from zero). */
export function fmt(s, digits = 1) {
  if (s === null || s === undefined || s === "") return "—";
  const v = micros(s);
  const unit = 10n ** BigInt(6 - digits);
  const neg = v < 0n;
  let q = (neg ? -v : v) + unit / 2n;
  q = q / unit;
  const p = 10n ** BigInt(digits);
  const int = (q / p).toLocaleString(currentLang() === "zh" ? "zh-CN" : "en-US");
  const frac = digits > 0 ? "." + String(q % p).padStart(digits, "0") : "";
  return `${neg && q !== 0n ? "-" : ""}${int}${frac}`;
}

/** A decimal string as a JS number, for charts only (never for sums shown as figures). */
export const num = (s) => (s === null || s === undefined ? 0 : Number(s));

/** `a / b - 1` as a percentage string with one decimal, or null when `b` is zero. */
export function change(a, b) {
  const x = micros(a);
  const y = micros(b);
  if (y === 0n) return null;
  const bp = ((x - y) * 10000n) / y; // basis points, truncated
  const s = Number(bp) / 100;
  return `${s > 0 ? "+" : ""}${s.toFixed(1)}%`;
}

const DAY_FMT = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" });
const TIME_FMT = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});

/** The Asia/Shanghai day (YYYY-MM-DD) of a Unix ms instant. */
export const shanghaiDay = (ms) => DAY_FMT.format(new Date(ms));

/** A Unix ms instant as Asia/Shanghai wall time. */
export const shanghaiTime = (ms) => (ms === null || ms === undefined ? "—" : TIME_FMT.format(new Date(ms)).replaceAll("/", "-"));

/** The day before `day` (YYYY-MM-DD). */
export function previousDay(day) {
  const d = new Date(`${day}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}

/** The same calendar day a year earlier (29 February becomes the 28th). */
export function lastYear(day) {
  const [y, m, d] = day.split("-");
  const prev = `${Number(y) - 1}-${m}-${d}`;
  return m === "02" && d === "29" ? `${Number(y) - 1}-02-28` : prev;
}

/** The periods every dashboard shows, from the current Shanghai day. */
export function periods(now = Date.now()) {
  const today = shanghaiDay(now);
  return {
    today,
    yesterday: previousDay(today),
    monthStart: `${today.slice(0, 8)}01`,
    yearStart: `${today.slice(0, 4)}-01-01`,
    year: Number(today.slice(0, 4)),
    month: today.slice(0, 7).replace("-", ""),
  };
}

/** Escapes text for HTML. */
export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
