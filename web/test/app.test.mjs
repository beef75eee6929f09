// Unit tests of the dashboards' pure modules (node --test web/test/): exact decimal sums, the
// Asia/Shanghai calendar, the Excel writer (a real ZIP whose CRCs an independent reader accepts)
// and the two dictionaries.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inflateRawSync } from "node:zlib";
import { micros, decimal, sum, fmt, change, shanghaiDay, previousDay, lastYear, periods } from "../src/format.js";
import { crc32, csv, workbook } from "../src/xlsx.js";
import { dictionaries } from "../src/i18n.js";

test("sums of decimal strings are exact to the millionth", () => {
  // 0.1 + 0.2 in binary floating point is 0.30000000000000004; here it is exact.
  assert.equal(sum(["0.1", "0.2"]), "0.300000");
  assert.equal(sum(["179516.681254", "24495.796083", "-0.000001"]), "204012.477336");
  assert.equal(decimal(micros("-12.5")), "-12.500000");
  assert.equal(micros("7"), 7_000_000n);
  assert.throws(() => micros("1e3"));
  assert.throws(() => micros("1.0000001"));
  // 10^7 meters' worth of a large figure stays exact (beyond 2^53 millionths).
  assert.equal(sum(["9007199254.740993", "0.000001"]), "9007199254.740994");
});

test("formatting rounds half away from zero and groups digits", () => {
  assert.equal(fmt("1234.55", 1), "1,234.6");
  assert.equal(fmt("-0.04", 1), "0.0");
  assert.equal(fmt("0.05", 1), "0.1");
  assert.equal(fmt(null), "—");
  assert.equal(change("110", "100"), "+10.0%");
  assert.equal(change("90", "100"), "-10.0%");
  assert.equal(change("5", "0"), null);
});

test("days are Asia/Shanghai days, midnight to midnight", () => {
  // 2026-12-06 16:00 UTC is midnight of the 7th in Shanghai; one ms earlier is still the 6th.
  const midnight = Date.UTC(2026, 11, 6, 16, 0, 0);
  assert.equal(shanghaiDay(midnight), "2026-12-07");
  assert.equal(shanghaiDay(midnight - 1), "2026-12-06");
  assert.equal(previousDay("2026-03-01"), "2026-02-28");
  assert.equal(previousDay("2028-03-01"), "2028-02-29");
  assert.equal(lastYear("2028-02-29"), "2027-02-28");
  const p = periods(midnight + 3_600_000);
  assert.deepEqual([p.today, p.yesterday, p.monthStart, p.yearStart, p.month], ["2026-12-07", "2026-12-06", "2026-12-01", "2026-01-01", "202612"]);
});

test("CRC-32 is ZIP's", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
});

test("a workbook is a ZIP of the five parts, each intact", async () => {
  const blob = workbook("日能耗", ["日期", "电力 kWh", "note"], [["2026-12-07", "179516.681254", 'a "quoted", text']]);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  // Walk the central directory like an independent reader would.
  const view = new DataView(bytes.buffer);
  const end = bytes.length - 22;
  assert.equal(view.getUint32(end, true), 0x06054b50);
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const names = [];
  for (let i = 0; i < count; i++) {
    assert.equal(view.getUint32(at, true), 0x02014b50);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    const size = view.getUint32(at + 20, true);
    const nameLen = view.getUint16(at + 28, true);
    const local = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLen));
    const localNameLen = view.getUint16(local + 26, true);
    const data = bytes.subarray(local + 30 + localNameLen, local + 30 + localNameLen + size);
    const content = method === 0 ? data : inflateRawSync(data);
    assert.equal(crc32(content), crc, name);
    names.push(name);
    if (name === "xl/worksheets/sheet1.xml") {
      const xml = new TextDecoder().decode(content);
      assert.match(xml, /<c r="B2"><v>179516.681254<\/v><\/c>/);
      assert.match(xml, /日期/);
      assert.match(xml, /a &quot;quoted&quot;, text/);
    }
    at += 46 + nameLen;
  }
  assert.deepEqual(names.sort(), ["[Content_Types].xml", "_rels/.rels", "xl/_rels/workbook.xml.rels", "xl/workbook.xml", "xl/worksheets/sheet1.xml"]);
});

test("CSV quotes what needs quoting and starts with a BOM for Excel", () => {
  assert.equal(csv(["a", "b"], [["x,y", 'say "hi"']]), '\ufeffa,b\r\n"x,y","say ""hi"""\r\n');
});

test("every string has both languages", () => {
  const zh = Object.keys(dictionaries.ZH).sort();
  const en = Object.keys(dictionaries.EN).sort();
  assert.deepEqual(zh, en);
  for (const k of zh) assert.ok(dictionaries.ZH[k] && dictionaries.EN[k], k);
});

test("the shift forms check what the chain checks of a calendar and an output (crates/types/src/shifts.rs)", async () => {
  const { calendarErrors, outputErrors, outputWarnings, parseQuantity, dateCode, shiftLabel, shiftMinutes, LIMITS } = await import("../src/pages/shifts-entry.js");
  const shift = (name, start, end) => ({ name, start_minute: start, end_minute: end });
  const three = () => ({
    effective_from: 20261101,
    shifts: [shift("早班", 360, 840), shift("中班", 840, 1320), shift("夜班", 1320, 360)],
    teams: ["甲", "乙", "丙", "丁"],
    rotation: { start: 20261101, days: [[0, 1, 2], [3, 0, 1]] },
  });
  assert.deepEqual(calendarErrors(three()), []);
  assert.equal(shiftLabel(three().shifts[2]), "22:00–06:00(+1)");
  assert.equal(shiftLabel(shift("中班", 960, 0)), "16:00–00:00(+1)");
  assert.equal(shiftMinutes(shift("全天", 0, 0)), 1440);
  // Overlaps, across midnight too; gaps are allowed.
  const o = three();
  o.shifts[1].end_minute = 1330;
  assert.equal(calendarErrors(o).length, 1);
  const o2 = three();
  o2.shifts[2].end_minute = 370;
  assert.equal(calendarErrors(o2).length, 1);
  const g = three();
  g.shifts[1].end_minute = 1300;
  assert.deepEqual(calendarErrors(g), []);
  // A 24-hour shift only alone; names, counts, rotation shape.
  assert.deepEqual(calendarErrors({ effective_from: 20261101, shifts: [shift("全天", 480, 480)], teams: [], rotation: null }), []);
  assert.equal(calendarErrors({ effective_from: 20261101, shifts: [shift("全天", 480, 480), shift("x", 0, 60)], teams: [], rotation: null }).length > 0, true);
  const n = three();
  n.shifts[0].name = "中班";
  assert.ok(calendarErrors(n).length > 0);
  const long = three();
  long.teams[0] = "一二三四五六七八九十一"; // 33 bytes
  assert.ok(calendarErrors(long).length > 0);
  const r = three();
  r.rotation.days[1] = [4, 0, 1];
  assert.ok(calendarErrors(r).length > 0);
  const many = three();
  many.shifts = Array.from({ length: LIMITS.shifts + 1 }, (_, i) => shift(`s${i}`, i * 60, i * 60 + 30));
  many.rotation = null;
  assert.ok(calendarErrors(many).length > 0);
  // Quantities are exact millionths; negative, over six decimals or beyond 2^53 are refused.
  assert.deepEqual(parseQuantity("311"), { micros: 311_000_000 });
  assert.deepEqual(parseQuantity("0.000001"), { micros: 1 });
  assert.deepEqual(parseQuantity(" 12.5 "), { micros: 12_500_000 });
  for (const bad of ["-1", "1.0000001", "1e3", "", "abc", "9007199255"]) assert.ok(parseQuantity(bad).error, bad);
  assert.equal(dateCode("2026-11-21"), 20261121);
  assert.equal(dateCode("2026-02-30"), null);
  const out = { day: 20261121, shift: "早班", team: null, products: [{ product: "整车", unit: "辆", quantity: 1 }], note: "" };
  assert.deepEqual(outputErrors(out), []);
  assert.ok(outputErrors({ ...out, products: [] }).length > 0);
  assert.ok(outputErrors({ ...out, products: [out.products[0], out.products[0]] }).length > 0);
  assert.ok(outputErrors({ ...out, note: "x".repeat(257) }).length > 0);
  assert.ok(outputErrors({ ...out, products: [{ product: " ", unit: "辆", quantity: 1 }] }).length > 0);
  // What the chain's state decides is a warning: too far back, not started yet.
  const now = Date.parse("2026-11-21T10:00:00+08:00");
  const cal = [{ effective_from: "2026-11-01", shifts: three().shifts, teams: three().teams }];
  assert.deepEqual(outputWarnings(out, cal, now), []);
  assert.equal(outputWarnings({ ...out, day: 20260901 }, cal, now).length, 1);
  assert.equal(outputWarnings({ ...out, shift: "中班" }, cal, now).length, 1);
  assert.equal(outputWarnings({ ...out, shift: "白班" }, cal, now).length, 1);
});
