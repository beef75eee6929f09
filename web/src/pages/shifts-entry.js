// The enterprise enters its shift calendar (排班表) and its shifts' output (班次产量) on its own
// page (issue 14). Each form builds a transaction payload, which the WebAssembly module signs
// with the signed-in key (only these two kinds: crates/webverify/src/transactions.rs) and
// `submitTx` submits and follows to its receipt; then the shift panel is reloaded.
//
// The page checks what the chain checks of the payload alone (crates/types/src/shifts.rs:
// `ShiftCalendar::check`, `ShiftOutput::check`, the same limits) and refuses to send what would
// fail them. What depends on the chain's state and its block time — the day within 62 days, a
// shift that has started, the calendar in force that day, a calendar after the last day with
// output — it shows as a warning beside the field but sends anyway: the chain is the authority
// and its refusal (code and sentence) is shown.

import { t, currentLang } from "../i18n.js";
import { esc, shanghaiDay } from "../format.js";
import { submitTx, TxRefused, TxNotFinalized } from "../api.js";

/** The chain's limits (crates/types/src/shifts.rs, limits.rs). */
export const LIMITS = {
  shifts: 8,
  teams: 32,
  rotationDays: 64,
  products: 16,
  nameBytes: 32, // shift and team names
  productBytes: 128, // product names and units (MAX_NAME_LEN)
  noteBytes: 256, // MAX_MESSAGE_LEN
  backdateDays: 62,
  aheadDays: 366,
};
const MINUTES_PER_DAY = 1440;
const DAY_MS = 86_400_000;
const SHANGHAI_MS = 8 * 3_600_000;

const bytes = (s) => new TextEncoder().encode(s).length;
const hasControl = (s) => /[\u0000-\u001f\u007f-\u009f]/.test(s);

/** `t(key)` with `{name}` placeholders filled. */
function tf(key, vars = {}) {
  return t(key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

/** `2026-11-21` → 20261121, or null when it is not a date of 1900–9999. */
export function dateCode(day) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day ?? "");
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const dt = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1900 || dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) return null;
  return y * 10000 + mo * 100 + d;
}

/** 20261121 → `2026-11-21`. */
export const dateLabel = (code) => `${String(code).slice(0, 4)}-${String(code).slice(4, 6)}-${String(code).slice(6, 8)}`;

/** `day` (YYYY-MM-DD) moved by `n` days. */
export function addDays(day, n) {
  return new Date(Date.parse(`${day}T12:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
}

/** `HH:MM` → minutes after midnight (0–1439), or null. */
export function minuteOf(hm) {
  const m = /^(\d{2}):(\d{2})$/.exec(hm ?? "");
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) return null;
  return Number(m[1]) * 60 + Number(m[2]);
}

const hm = (m) => `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;

/** A shift's length in minutes (1–1440): at or before its start, it ends the next day. */
export function shiftMinutes(s) {
  const d = (((s.end_minute - s.start_minute) % MINUTES_PER_DAY) + MINUTES_PER_DAY) % MINUTES_PER_DAY;
  return d === 0 ? MINUTES_PER_DAY : d;
}

/** The half-open minute ranges of the day a shift covers (two when it crosses midnight). */
function parts(s) {
  const len = shiftMinutes(s);
  return s.start_minute + len <= MINUTES_PER_DAY ? [[s.start_minute, s.start_minute + len]] : [[s.start_minute, MINUTES_PER_DAY], [0, s.start_minute + len - MINUTES_PER_DAY]];
}

/** `06:00–14:00`, `22:00–06:00(+1)`. */
export function shiftLabel(s) {
  return `${hm(s.start_minute)}–${hm(s.end_minute)}${s.start_minute + shiftMinutes(s) >= MINUTES_PER_DAY ? "(+1)" : ""}`;
}

/** A decimal quantity (≥ 0, at most 6 decimals) as integer millionths (a JS number, exact), or an error. */
export function parseQuantity(text) {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(String(text ?? "").trim());
  if (!m) return { error: t("err_quantity") };
  const v = BigInt(m[1]) * 1_000_000n + BigInt((m[2] ?? "").padEnd(6, "0"));
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return { error: t("err_quantity_large") };
  return { micros: Number(v) };
}

/** Null, or why `s` is not a shift or team name (`check_shift_name`). */
export function nameError(what, s) {
  if (bytes(s) > LIMITS.nameBytes) return tf("err_name_long", { what, name: s, max: LIMITS.nameBytes });
  if (s.trim() === "" || s.trim() !== s || hasControl(s)) return tf("err_name", { what, name: s });
  return null;
}

/** Every error of a calendar the chain's `ShiftCalendar::check` would give (empty: none). */
export function calendarErrors(c) {
  const e = [];
  if (c.effective_from === null) e.push(t("err_effective_from"));
  if (c.shifts.length < 1 || c.shifts.length > LIMITS.shifts) e.push(tf("err_shift_count", { max: LIMITS.shifts }));
  if (c.teams.length > LIMITS.teams) e.push(tf("err_team_count", { max: LIMITS.teams }));
  c.shifts.forEach((s, i) => {
    const n = nameError(t("shift"), s.name);
    if (n) e.push(n);
    if (s.start_minute === null || s.end_minute === null) e.push(tf("err_shift_time", { name: s.name }));
    else if (shiftMinutes(s) === MINUTES_PER_DAY && c.shifts.length > 1) e.push(tf("err_shift_24h", { name: s.name }));
    if (c.shifts.slice(0, i).some((o) => o.name === s.name)) e.push(tf("err_twice", { name: s.name }));
  });
  const timed = c.shifts.filter((s) => s.start_minute !== null && s.end_minute !== null);
  timed.forEach((a, i) => {
    for (const b of timed.slice(i + 1)) {
      if (parts(a).some(([a0, a1]) => parts(b).some(([b0, b1]) => a0 < b1 && b0 < a1))) {
        e.push(tf("err_overlap", { a: `${a.name} ${shiftLabel(a)}`, b: `${b.name} ${shiftLabel(b)}` }));
      }
    }
  });
  c.teams.forEach((tm, i) => {
    const n = nameError(t("team"), tm);
    if (n) e.push(n);
    if (c.teams.slice(0, i).includes(tm)) e.push(tf("err_twice", { name: tm }));
  });
  if (c.rotation) {
    if (c.rotation.start === null) e.push(t("err_rotation_start"));
    if (c.rotation.days.length < 1 || c.rotation.days.length > LIMITS.rotationDays) e.push(tf("err_rotation_days", { max: LIMITS.rotationDays }));
    if (c.teams.length === 0) e.push(t("err_rotation_teams"));
    c.rotation.days.forEach((d, i) => {
      if (d.length !== c.shifts.length || d.some((x) => x !== null && !(Number.isInteger(x) && x >= 0 && x < c.teams.length))) e.push(tf("err_rotation_day", { day: i + 1 }));
    });
  }
  return e;
}

/** Every error of an output the chain's `ShiftOutput::check` would give (empty: none). */
export function outputErrors(o) {
  const e = [];
  if (o.day === null) e.push(t("err_day"));
  const n = nameError(t("shift"), o.shift);
  if (n) e.push(n);
  if (o.team !== null) {
    const tn = nameError(t("team"), o.team);
    if (tn) e.push(tn);
  }
  if (o.products.length < 1 || o.products.length > LIMITS.products) e.push(tf("err_product_count", { max: LIMITS.products }));
  o.products.forEach((p, i) => {
    if (bytes(p.product) > LIMITS.productBytes || bytes(p.unit) > LIMITS.productBytes) e.push(tf("err_product_long", { max: LIMITS.productBytes }));
    if (p.product.trim() === "" || p.unit.trim() === "" || hasControl(p.product) || hasControl(p.unit)) e.push(tf("err_product", { name: p.product }));
    if (p.error) e.push(`${p.product}: ${p.error}`);
    if (o.products.slice(0, i).some((q) => q.product === p.product)) e.push(tf("err_twice", { name: p.product }));
  });
  if (bytes(o.note) > LIMITS.noteBytes) e.push(tf("err_note", { max: LIMITS.noteBytes }));
  return e;
}

/** The current Asia/Shanghai day and minute of the day. */
function shanghaiNow(now = Date.now()) {
  return { day: shanghaiDay(now), minute: Math.floor(((now + SHANGHAI_MS) % DAY_MS) / 60_000) };
}

/** The calendar (as the shifts API shows it) in force on `day`, from the versions the page knows. */
function calendarOn(calendars, day) {
  return [...calendars].reverse().find((c) => c.effective_from <= day) ?? null;
}

/** What the chain's state may refuse about an output, as far as this page can tell: warnings, not errors. */
export function outputWarnings(o, calendars, now = Date.now()) {
  const w = [];
  if (o.day === null) return w;
  const { day: today, minute } = shanghaiNow(now);
  const day = dateLabel(o.day);
  const earliest = addDays(today, -LIMITS.backdateDays);
  if (day < earliest) w.push(tf("warn_backdate", { from: earliest, days: LIMITS.backdateDays }));
  const c = calendarOn(calendars, day);
  const s = c?.shifts.find((x) => x.name === o.shift);
  if (c && !s) w.push(tf("warn_no_shift", { day, shifts: c.shifts.map((x) => x.name).join("、") }));
  if (day > today || (s && day === today && s.start_minute > minute)) w.push(t("warn_not_started"));
  if (c && o.team !== null && !c.teams.includes(o.team)) w.push(tf("warn_team", { team: o.team }));
  return w;
}

/**
 * The two forms, for the enterprise's own account: `shifts` is the shift panel's API answer (null
 * when there is none: no calendar yet), `refresh` reloads the panel and resolves its new answer.
 */
export function shiftEntry(el, org, shifts, refresh) {
  const state = { shifts };
  el.innerHTML = `<div class="entry-grid">
    <form data-testid="shift-output-form" aria-labelledby="so-title" novalidate></form>
    <form data-testid="shift-calendar-form" aria-labelledby="sc-title" novalidate></form>
  </div>`;
  const [outForm, calForm] = el.querySelectorAll("form");
  const again = async () => {
    state.shifts = await refresh();
    return state.shifts;
  };
  outputForm(outForm, state, again);
  calendarForm(calForm, state, again);
}

/** Runs a submission: disables the button, shows progress, the receipt or the chain's refusal. */
/** Shows a form's client-side errors in its status line; true when there are any (nothing is sent). */
function refused(form, errors) {
  if (!errors.length) return false;
  const status = form.querySelector("[role=status]");
  status.className = "bad small";
  status.dataset.state = "invalid";
  status.textContent = errors.join("；");
  return true;
}

async function submit(form, payload, onDone) {
  const status = form.querySelector("[role=status]");
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  status.className = "small";
  status.textContent = t("tx_submitting");
  status.dataset.state = "pending";
  try {
    const r = await submitTx(payload);
    status.className = "small good";
    status.dataset.state = "finalized";
    status.dataset.txHash = r.txHash;
    status.textContent = tf("tx_finalized", { height: r.height, hash: `${r.txHash.slice(0, 16)}…`, ms: r.ms.finalized });
    await onDone(r);
  } catch (e) {
    status.className = "bad small";
    status.dataset.state = e instanceof TxRefused ? "refused" : "error";
    status.dataset.code = e.code ?? "";
    const what = e instanceof TxRefused ? t(e.stage === "block" ? "tx_refused_block" : "tx_refused") : e instanceof TxNotFinalized ? t("tx_not_finalized") : t("error");
    status.textContent = `${what}: ${e.code ? `${e.code}: ` : ""}${e.message}`;
  } finally {
    button.disabled = false;
  }
}

/** The instance (day YYYY-MM-DD, shift) the output form starts with: the latest finished one without output, else the latest finished. */
function defaultInstance(shifts) {
  const done = (shifts?.instances ?? []).filter((x) => x.complete);
  return done.filter((x) => !x.output_recorded).at(-1) ?? done.at(-1) ?? null;
}

function outputForm(form, state, refresh) {
  const { day: today } = shanghaiNow();
  const earliest = addDays(today, -LIMITS.backdateDays);
  const start = defaultInstance(state.shifts);
  const firstProduct = state.shifts?.comparison?.total?.products?.[0];
  form.innerHTML = `
    <h4 id="so-title">${t("shift_output_title")}</h4>
    <p class="muted small">${tf("hint_output", { from: earliest, days: LIMITS.backdateDays })}</p>
    <div class="field-row">
      <label>${t("day")} <input type="date" name="day" required min="${earliest}" max="${today}" value="${esc(start?.day ?? today)}" data-testid="so-day"></label>
      <label>${t("shift")} <select name="shift" required data-testid="so-shift"></select></label>
      <label>${t("team")} <select name="team" data-testid="so-team"></select></label>
    </div>
    <fieldset><legend>${t("products")}</legend><div data-role="products"></div>
      <button type="button" class="link" data-role="add-product">${t("add_product")}</button></fieldset>
    <label class="block">${t("note")} <input type="text" name="note" maxlength="256" data-testid="so-note"></label>
    <ul class="warn small" data-role="warnings" aria-live="polite"></ul>
    <button type="submit" class="primary" data-testid="so-submit">${t("submit_tx")}</button>
    <p role="status" aria-live="polite" class="small" data-testid="shift-output-status"></p>`;
  const products = form.querySelector("[data-role=products]");
  const addProduct = (p = {}) => {
    if (products.children.length >= LIMITS.products) return;
    const i = products.children.length;
    const row = document.createElement("div");
    row.className = "field-row product";
    row.innerHTML = `<label>${t("product")} <input type="text" name="product" required value="${esc(p.product ?? "")}" data-testid="so-product-${i}"></label>
      <label>${t("quantity")} <input type="text" name="quantity" inputmode="decimal" required value="${esc(p.quantity ?? "")}" data-testid="so-quantity-${i}"></label>
      <label>${t("unit")} <input type="text" name="unit" required value="${esc(p.unit ?? "")}" data-testid="so-unit-${i}"></label>
      <button type="button" class="link" data-role="remove" aria-label="${t("remove")} ${i + 1}">${t("remove")}</button>`;
    row.querySelector("[data-role=remove]").onclick = () => {
      if (products.children.length > 1) row.remove();
    };
    products.append(row);
  };
  form.querySelector("[data-role=add-product]").onclick = () => addProduct({ product: "", unit: firstProduct?.unit ?? "" });
  const day = form.querySelector("[name=day]");
  const shift = form.querySelector("[name=shift]");
  const team = form.querySelector("[name=team]");
  const fill = () => {
    // The version in force that day as far as the page knows (the shift panel's range); before
    // it, the earliest known: the chain checks the day against its own versions.
    const known = state.shifts?.calendars ?? [];
    const c = calendarOn(known, day.value) ?? known[0] ?? null;
    const keep = shift.value || start?.shift;
    shift.innerHTML = (c?.shifts ?? []).map((s) => `<option value="${esc(s.name)}">${esc(s.name)} ${esc(shiftLabel(s))}</option>`).join("");
    if ([...shift.options].some((o) => o.value === keep)) shift.value = keep;
    const keepTeam = team.value;
    team.innerHTML = `<option value="">${t("team_by_rotation")}</option>` + (c?.teams ?? []).map((x) => `<option value="${esc(x)}">${esc(x)}</option>`).join("");
    if ([...team.options].some((o) => o.value === keepTeam)) team.value = keepTeam;
    // The instance's recorded output, to correct it; else the products it would have.
    const inst = (state.shifts?.instances ?? []).find((x) => x.day === day.value && x.shift === shift.value);
    products.innerHTML = "";
    const recorded = inst?.products?.filter((x) => x.quantity !== null) ?? [];
    const plain = (q) => (q.includes(".") ? q.replace(/0+$/, "").replace(/\.$/, "") : q);
    if (recorded.length) recorded.forEach((x) => addProduct({ product: x.product, unit: x.unit, quantity: plain(x.quantity) }));
    else addProduct({ product: firstProduct?.product ?? "", unit: firstProduct?.unit ?? "" });
    warn();
  };
  const read = () => ({
    day: dateCode(day.value),
    shift: shift.value,
    team: team.value === "" ? null : team.value,
    products: [...products.children].map((row) => {
      const q = parseQuantity(row.querySelector("[name=quantity]").value);
      return { product: row.querySelector("[name=product]").value, unit: row.querySelector("[name=unit]").value, quantity: q.micros, error: q.error };
    }),
    note: form.querySelector("[name=note]").value,
  });
  const warnings = form.querySelector("[data-role=warnings]");
  const warn = () => {
    warnings.innerHTML = outputWarnings(read(), state.shifts?.calendars ?? []).map((w) => `<li>${esc(w)}</li>`).join("");
  };
  day.onchange = fill;
  shift.onchange = () => {
    const keep = shift.value;
    fill();
    shift.value = keep;
  };
  form.oninput = warn;
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const o = read();
    if (refused(form, outputErrors(o))) return;
    const output = { day: o.day, shift: o.shift, team: o.team, products: o.products.map(({ product, unit, quantity }) => ({ product, unit, quantity })), note: o.note };
    return submit(form, { type: "record_shift_output", output }, async () => {
      await refresh();
      warn();
    });
  };
  fill();
}

function calendarForm(form, state, refresh) {
  const { day: today } = shanghaiNow();
  const latest = state.shifts?.calendars?.at(-1) ?? null;
  const tomorrow = addDays(today, 1);
  form.innerHTML = `
    <h4 id="sc-title">${t("shift_calendar_title")}</h4>
    <p class="muted small">${tf("hint_calendar", { back: LIMITS.backdateDays, ahead: LIMITS.aheadDays })}${latest ? ` ${tf("hint_calendar_current", { from: latest.effective_from })}` : ""}</p>
    <label>${t("effective_from")} <input type="date" name="effective_from" required min="${addDays(today, -LIMITS.backdateDays)}" max="${addDays(today, LIMITS.aheadDays)}" value="${tomorrow}" data-testid="sc-from"></label>
    <fieldset><legend>${t("shifts_legend")}</legend>
      <table class="entry"><thead><tr><th scope="col">${t("shift")}</th><th scope="col">${t("start")}</th><th scope="col">${t("end")}</th><th scope="col">${t("crosses_midnight")}</th><th></th></tr></thead><tbody data-role="shift-rows"></tbody></table>
      <button type="button" class="link" data-role="add-shift">${t("add_shift")}</button></fieldset>
    <label class="block">${t("teams_input")} <input type="text" name="teams" value="${esc((latest?.teams ?? []).join(", "))}" data-testid="sc-teams"></label>
    <fieldset><legend><label><input type="checkbox" name="rotate" ${latest?.rotation?.length ? "checked" : ""} data-testid="sc-rotate"> ${t("rotation")}</label></legend>
      <div data-role="rotation">
        <div class="field-row">
          <label>${t("rotation_start")} <input type="date" name="rotation_start" value="${esc(latest?.rotation_start ?? tomorrow)}"></label>
          <label>${t("rotation_days")} <input type="number" name="rotation_days" min="1" max="${LIMITS.rotationDays}" value="${latest?.rotation?.length || 1}"></label>
        </div>
        <div class="table-wrap"><table class="entry"><thead data-role="rotation-head"></thead><tbody data-role="rotation-rows"></tbody></table></div>
      </div></fieldset>
    <ul class="warn small" data-role="warnings" aria-live="polite"></ul>
    <button type="submit" class="primary" data-testid="sc-submit">${t("submit_tx")}</button>
    <p role="status" aria-live="polite" class="small" data-testid="shift-calendar-status"></p>`;
  const rows = form.querySelector("[data-role=shift-rows]");
  const addShift = (s = { name: "", start: "", end: "" }) => {
    if (rows.children.length >= LIMITS.shifts) return;
    const i = rows.children.length;
    const tr = document.createElement("tr");
    tr.innerHTML = `<td><input type="text" name="shift-name" required aria-label="${t("shift")} ${i + 1}" value="${esc(s.name)}" data-testid="sc-shift-${i}"></td>
      <td><input type="time" name="shift-start" required aria-label="${t("start")} ${i + 1}" value="${esc(s.start)}"></td>
      <td><input type="time" name="shift-end" required aria-label="${t("end")} ${i + 1}" value="${esc(s.end)}"></td>
      <td data-role="crosses" class="small"></td>
      <td><button type="button" class="link" data-role="remove" aria-label="${t("remove")} ${t("shift")} ${i + 1}">${t("remove")}</button></td>`;
    tr.querySelector("[data-role=remove]").onclick = () => {
      if (rows.children.length > 1) {
        tr.remove();
        rotationGrid();
      }
    };
    rows.append(tr);
  };
  (latest?.shifts ?? [{ name: "", start: "08:00", end: "16:00" }]).forEach((s) => addShift({ name: s.name, start: s.start ?? hm(s.start_minute), end: s.end ?? hm(s.end_minute) }));
  form.querySelector("[data-role=add-shift]").onclick = () => {
    addShift();
    rotationGrid();
  };
  const teamsOf = () =>
    form
      .querySelector("[name=teams]")
      .value.split(/[,，、;；]/)
      .map((x) => x.trim())
      .filter((x) => x !== "");
  const shiftsOf = () =>
    [...rows.children].map((tr) => ({
      name: tr.querySelector("[name=shift-name]").value,
      start_minute: minuteOf(tr.querySelector("[name=shift-start]").value),
      end_minute: minuteOf(tr.querySelector("[name=shift-end]").value),
    }));
  // The rotation grid: one row per day of the cycle, one select (a team, or the shift does not run) per shift.
  let grid = (latest?.rotation ?? []).map((d) => d.slice());
  const rotationGrid = () => {
    const shifts = shiftsOf();
    const teams = teamsOf();
    const n = Math.max(1, Math.min(LIMITS.rotationDays, Number(form.querySelector("[name=rotation_days]").value) || 1));
    const body = form.querySelector("[data-role=rotation-rows]");
    // Keep what was chosen so far.
    grid = [...body.querySelectorAll("tr")].map((tr) => [...tr.querySelectorAll("select")].map((s) => (s.value === "" ? null : s.value))).concat(grid.slice(body.children.length));
    form.querySelector("[data-role=rotation-head]").innerHTML = `<tr><th scope="col">${t("cycle_day")}</th>${shifts.map((s, i) => `<th scope="col">${esc(s.name || `${t("shift")} ${i + 1}`)}</th>`).join("")}</tr>`;
    body.innerHTML = Array.from({ length: n }, (_, d) => {
      const cells = shifts
        .map((s, i) => {
          const chosen = grid[d]?.[i] ?? null;
          const options = [`<option value="">${t("rotation_off")}</option>`, ...teams.map((tm) => `<option value="${esc(tm)}"${tm === chosen ? " selected" : ""}>${esc(tm)}</option>`)];
          return `<td><select aria-label="${esc(tf("rotation_cell", { day: d + 1, shift: s.name || i + 1 }))}">${options.join("")}</select></td>`;
        })
        .join("");
      return `<tr><th scope="row">${d + 1}</th>${cells}</tr>`;
    }).join("");
  };
  const crosses = () => {
    for (const tr of rows.children) {
      const s = { start_minute: minuteOf(tr.querySelector("[name=shift-start]").value), end_minute: minuteOf(tr.querySelector("[name=shift-end]").value) };
      tr.querySelector("[data-role=crosses]").textContent = s.start_minute === null || s.end_minute === null ? "" : s.start_minute + shiftMinutes(s) >= MINUTES_PER_DAY ? t("next_day") : "—";
    }
  };
  const rotate = form.querySelector("[name=rotate]");
  const showRotation = () => (form.querySelector("[data-role=rotation]").hidden = !rotate.checked);
  rotate.onchange = showRotation;
  form.querySelector("[name=rotation_days]").onchange = rotationGrid;
  form.querySelector("[name=teams]").onchange = rotationGrid;
  rows.onchange = () => {
    crosses();
    rotationGrid();
  };
  const read = () => {
    const shifts = shiftsOf();
    const teams = teamsOf();
    const rotation = rotate.checked
      ? {
          start: dateCode(form.querySelector("[name=rotation_start]").value),
          days: [...form.querySelectorAll("[data-role=rotation-rows] tr")].map((tr) => [...tr.querySelectorAll("select")].map((s) => (s.value === "" ? null : teams.indexOf(s.value)))),
        }
      : null;
    return { effective_from: dateCode(form.querySelector("[name=effective_from]").value), shifts, teams, rotation };
  };
  const warnings = form.querySelector("[data-role=warnings]");
  const warn = () => {
    const c = read();
    const w = [];
    if (c.effective_from !== null) {
      const from = dateLabel(c.effective_from);
      if (from < addDays(today, -LIMITS.backdateDays) || from > addDays(today, LIMITS.aheadDays)) w.push(tf("warn_calendar_window", { back: LIMITS.backdateDays, ahead: LIMITS.aheadDays }));
      if (latest && from < latest.effective_from) w.push(tf("warn_calendar_before", { from: latest.effective_from }));
      const recorded = (state.shifts?.instances ?? []).filter((x) => x.output_recorded).at(-1);
      if (recorded && from <= recorded.day) w.push(tf("warn_calendar_output", { day: recorded.day }));
    }
    warnings.innerHTML = w.map((x) => `<li>${esc(x)}</li>`).join("");
  };
  form.oninput = warn;
  form.onsubmit = (ev) => {
    ev.preventDefault();
    rotationGrid();
    const c = read();
    if (refused(form, calendarErrors(c))) return;
    return submit(form, { type: "set_shift_calendar", calendar: c }, refresh);
  };
  crosses();
  rotationGrid();
  showRotation();
  warn();
  // Re-rendered in the language chosen (the texts above are read once).
  form.lang = currentLang() === "zh" ? "zh-CN" : "en";
}
