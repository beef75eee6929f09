//! Calendar periods in Asia/Shanghai local time (北京时间, UTC+8).
//!
//! Reporting periods of the online-monitoring system (重点用能单位能耗在线监测系统) are local:
//! real-time data every 15 minutes (实时指标), daily data from 00:00 (每日指标), monthly data from
//! the 1st at 00:00 (月报). This module maps Unix-millisecond timestamps (UTC) to those periods.
//!
//! # Fixed offset
//!
//! China has observed no daylight-saving time since 1991 (the last DST period ended on
//! 1991-09-15), so Asia/Shanghai is a fixed UTC+8 ([`SHANGHAI_OFFSET_MS`]) for every timestamp the
//! system handles. We use the fixed offset, not the tz database, on purpose: the result cannot
//! change with a tz-database update, and arithmetic is total over `i64`. Before 1991-09-15 the
//! results are in UTC+8 regardless of the historical DST (1986–1991) and local mean time; a test
//! cross-checks the fixed offset against `chrono-tz` Asia/Shanghai over 2000–2040.
//!
//! # Range
//!
//! All functions except [`local_datetime`] are total over `i64` timestamps: calendar arithmetic is
//! integer (proleptic Gregorian, Howard Hinnant's `days_from_civil` / `civil_from_days`), and
//! period bounds that would fall outside `i64` saturate to `i64::MIN` / `i64::MAX`. Labels of years
//! outside `0..=9999` are printed with as many digits as needed (and a `-` sign before year 0).

use std::fmt::Write as _;

/// Asia/Shanghai's offset from UTC in milliseconds (UTC+8; no DST since 1991).
pub const SHANGHAI_OFFSET_MS: i64 = 8 * 3_600_000;

/// Milliseconds in a local day.
pub const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a quarter of an hour (the standard real-time interval, 15 min).
pub const QUARTER_MS: i64 = 900_000;

/// A calendar period of Asia/Shanghai local time.
///
/// Serialised as `"15m"`, `"hour"`, `"day"`, `"month"`, `"year"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Period {
    /// A quarter of an hour on the local :00/:15/:30/:45 grid (实时数据, 15 min).
    #[serde(rename = "15m")]
    Quarter,
    /// A local clock hour.
    #[serde(rename = "hour")]
    Hour,
    /// A local day, 00:00 to 00:00 (日数据).
    #[serde(rename = "day")]
    Day,
    /// A local calendar month, the 1st 00:00 to the next 1st 00:00 (月数据).
    #[serde(rename = "month")]
    Month,
    /// A local calendar year, 1 January 00:00 to the next 1 January 00:00 (年数据).
    #[serde(rename = "year")]
    Year,
}

impl Period {
    /// Every period, shortest first.
    pub const ALL: [Period; 5] = [Period::Quarter, Period::Hour, Period::Day, Period::Month, Period::Year];

    /// The stable name, as serialised: `"15m"`, `"hour"`, `"day"`, `"month"`, `"year"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Quarter => "15m",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Month => "month",
            Period::Year => "year",
        }
    }

    /// Parses a period name: `"15m"` or `"quarter"`, `"hour"` or `"1h"`, `"day"` or `"1d"`, `"month"`,
    /// `"year"` (exact, lower case).
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "15m" | "quarter" => Some(Period::Quarter),
            "hour" | "1h" => Some(Period::Hour),
            "day" | "1d" => Some(Period::Day),
            "month" => Some(Period::Month),
            "year" => Some(Period::Year),
            _ => None,
        }
    }

    /// The fixed length in milliseconds of a quarter, hour or day; `None` for months and years.
    pub fn fixed_len_ms(self) -> Option<i64> {
        match self {
            Period::Quarter => Some(QUARTER_MS),
            Period::Hour => Some(HOUR_MS),
            Period::Day => Some(DAY_MS),
            Period::Month | Period::Year => None,
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Clamps an `i128` to the `i64` range.
fn sat(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Local milliseconds since 1970-01-01T00:00 local (exact, in `i128`).
fn local_ms(ts_ms: i64) -> i128 {
    i128::from(ts_ms) + i128::from(SHANGHAI_OFFSET_MS)
}

/// Local day number and milliseconds into that local day. In `i64` arithmetic unless adding the
/// offset overflows (only within 8 h of `i64::MAX`), as `i128` division is a library call and this
/// runs per point of a series; both paths give the same result (tested).
fn local_day_and_ms(ts_ms: i64) -> (i64, i64) {
    match ts_ms.checked_add(SHANGHAI_OFFSET_MS) {
        Some(local) => (local.div_euclid(DAY_MS), local.rem_euclid(DAY_MS)),
        None => local_day_and_ms_wide(ts_ms),
    }
}

fn local_day_and_ms_wide(ts_ms: i64) -> (i64, i64) {
    let local = local_ms(ts_ms);
    (local.div_euclid(i128::from(DAY_MS)) as i64, local.rem_euclid(i128::from(DAY_MS)) as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day number (Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Start (Unix ms, saturating) of the local day with this (i64) day number.
fn day_start_sat(day: i64) -> i64 {
    sat(i128::from(day) * i128::from(DAY_MS) - i128::from(SHANGHAI_OFFSET_MS))
}

/// Local day number of a timestamp as `i64`.
fn day_number_i64(ts_ms: i64) -> i64 {
    local_day_and_ms(ts_ms).0
}

/// Start of the period `p` containing `ts_ms` (Unix ms, inclusive), in Asia/Shanghai local time.
///
/// Quarters, hours and days are aligned to local midnight; months and years follow the local
/// calendar. Saturates to `i64::MIN` if the start is before the `i64` range.
pub fn period_start(p: Period, ts_ms: i64) -> i64 {
    match p.fixed_len_ms() {
        Some(len) => fixed_bound(ts_ms, len, 0),
        None => {
            let (y, m, _) = civil_from_days(day_number_i64(ts_ms));
            let first = if p == Period::Month { days_from_civil(y, m, 1) } else { days_from_civil(y, 1, 1) };
            day_start_sat(first)
        }
    }
}

/// Start (`next = 0`) or exclusive end (`next = 1`) of the fixed-length local period of `len` ms
/// containing `ts_ms`, saturating at the `i64` range. In `i64` arithmetic when nothing overflows
/// (every real timestamp: a year of quarter hours calls this ~70 000 times, and `i128` division
/// is a library call), else in `i128`; both give the same result (tested).
fn fixed_bound(ts_ms: i64, len: i64, next: i64) -> i64 {
    fixed_bound_narrow(ts_ms, len, next).unwrap_or_else(|| fixed_bound_wide(ts_ms, len, next))
}

fn fixed_bound_narrow(ts_ms: i64, len: i64, next: i64) -> Option<i64> {
    let local = ts_ms.checked_add(SHANGHAI_OFFSET_MS)?;
    local.div_euclid(len).checked_add(next)?.checked_mul(len)?.checked_sub(SHANGHAI_OFFSET_MS)
}

fn fixed_bound_wide(ts_ms: i64, len: i64, next: i64) -> i64 {
    let len = i128::from(len);
    sat((local_ms(ts_ms).div_euclid(len) + i128::from(next)) * len - i128::from(SHANGHAI_OFFSET_MS))
}

/// Exclusive end of the period `p` containing `ts_ms`: the start of the next period (Unix ms).
///
/// Always `> ts_ms`, except that it saturates to `i64::MAX` when the next period starts beyond
/// the `i64` range (so `period_end(p, i64::MAX) == i64::MAX`).
pub fn period_end(p: Period, ts_ms: i64) -> i64 {
    match p.fixed_len_ms() {
        Some(len) => fixed_bound(ts_ms, len, 1),
        None => {
            let (y, m, _) = civil_from_days(day_number_i64(ts_ms));
            let next = match p {
                Period::Month if m == 12 => days_from_civil(y + 1, 1, 1),
                Period::Month => days_from_civil(y, m + 1, 1),
                _ => days_from_civil(y + 1, 1, 1),
            };
            day_start_sat(next)
        }
    }
}

/// Local day number of a timestamp: days since 1970-01-01 in Asia/Shanghai (negative before).
///
/// Total: every `i64` timestamp maps into `i32` (±1.07 × 10⁸ days).
pub fn day_number(ts_ms: i64) -> i32 {
    day_number_i64(ts_ms) as i32
}

/// The start (Unix ms) of local day `day` (00:00 Asia/Shanghai = 16:00 UTC the day before).
///
/// Exact for every `i32` (no overflow: |day × 86 400 000| < 2 × 10¹⁷).
pub fn day_start_ms(day: i32) -> i64 {
    i64::from(day) * DAY_MS - SHANGHAI_OFFSET_MS
}

/// Day of the week of local day `day`: 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(day: i32) -> u32 {
    (i64::from(day) + 3).rem_euclid(7) as u32
}

/// The `n`-th working day (Monday to Friday) after local day `day`: `day` itself does not count.
/// Public holidays are not known here, so a window of `n` working days ends no earlier than the
/// regulation's. Bounded: at most `n / 5 + 1` weeks are stepped, a day at a time only at the ends.
pub fn add_working_days(day: i32, n: u32) -> i32 {
    let mut d = i64::from(day);
    let mut left = i64::from(n);
    // Whole weeks first: five working days are seven days.
    d += (left / 5) * 7;
    left %= 5;
    while left > 0 {
        d += 1;
        if (d + 3).rem_euclid(7) < 5 {
            left -= 1;
        }
    }
    // A whole-week step from a weekend lands on a weekend: move back to the Friday before, which
    // is the fifth working day of that week.
    if n > 0 && n.is_multiple_of(5) {
        while (d + 3).rem_euclid(7) >= 5 {
            d -= 1;
        }
    }
    d.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Writes a year with at least four digits (a `-` sign for years before 0).
fn write_year(out: &mut String, y: i64) {
    if (1000..=9999).contains(&y) {
        for d in [1000, 100, 10, 1] {
            out.push(char::from(b'0' + (y / d % 10) as u8));
        }
    } else if y < 0 {
        let _ = write!(out, "-{:04}", -y);
    } else {
        let _ = write!(out, "{y:04}");
    }
}

/// The ISO date of a local day, e.g. `"2026-11-21"`.
pub fn day_label(day: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(day));
    let mut s = String::with_capacity(10);
    write_year(&mut s, y);
    let _ = write!(s, "-{m:02}-{d:02}");
    s
}

/// Parses a local date `YYYY-MM-DD` (exactly four-digit year `0000`–`9999`, two-digit month and
/// day, a valid Gregorian date) to its day number. The inverse of [`day_label`] on that range.
pub fn parse_day(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(i64::from(y), m) {
        return None;
    }
    Some(days_from_civil(i64::from(y), m, d) as i32)
}

/// Number of days in a month of the proleptic Gregorian calendar.
fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if y.rem_euclid(4) == 0 && (y.rem_euclid(100) != 0 || y.rem_euclid(400) == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The local `(year, month)` (month 1–12) that contains day `day`.
pub fn month_of_day(day: i32) -> (i32, u32) {
    let (y, m, _) = civil_from_days(i64::from(day));
    (y as i32, m)
}

/// The local date and time (Asia/Shanghai) of a timestamp.
///
/// # Panics
///
/// If the timestamp is outside chrono's range (about ±262 000 years); every other function of
/// this module is total.
pub fn local_datetime(ts_ms: i64) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(ts_ms)
        .and_then(|t| t.naive_utc().checked_add_signed(chrono::TimeDelta::milliseconds(SHANGHAI_OFFSET_MS)))
        .expect("timestamp outside chrono's range")
}

/// A moment in local time to the minute, for messages: `"2026-11-21 08:17 (UTC+8)"`. Total.
pub fn local_minute(ts_ms: i64) -> String {
    let (day, ms_of_day) = local_day_and_ms(ts_ms);
    let (y, m, d) = civil_from_days(day);
    let minutes = ms_of_day / 60_000;
    let mut s = String::with_capacity(26);
    write_year(&mut s, y);
    let _ = write!(s, "-{m:02}-{d:02} {:02}:{:02} (UTC+8)", minutes / 60, minutes % 60);
    s
}

/// The label of the period `p` containing `start_ms` (normally its start), in local time:
/// `"2026-11-21T08:15"` (15 min), `"2026-11-21T08"` (hour), `"2026-11-21"` (day), `"2026-11"`
/// (month), `"2026"` (year).
pub fn label(p: Period, start_ms: i64) -> String {
    let (day, ms_of_day) = local_day_and_ms(start_ms);
    let (y, m, d) = civil_from_days(day);
    // Written digit by digit: a year of quarter hours is 35 040 labels.
    let two = |s: &mut String, n: i64| {
        s.push(char::from(b'0' + (n / 10 % 10) as u8));
        s.push(char::from(b'0' + (n % 10) as u8));
    };
    let mut s = String::with_capacity(16);
    write_year(&mut s, y);
    if p == Period::Year {
        return s;
    }
    s.push('-');
    two(&mut s, m.into());
    if p == Period::Month {
        return s;
    }
    s.push('-');
    two(&mut s, d.into());
    if p == Period::Day {
        return s;
    }
    s.push('T');
    two(&mut s, ms_of_day / HOUR_MS);
    if p == Period::Quarter {
        s.push(':');
        two(&mut s, (ms_of_day % HOUR_MS) / QUARTER_MS * 15);
    }
    s
}

/// The starts of the periods `p` that cover `[from_ms, to_ms)`, in order: the first is
/// `period_start(p, from_ms)` (which may be before `from_ms`), the last is the start of the period
/// containing `to_ms - 1`. Empty if `from_ms >= to_ms`.
///
/// The iterator is lazy; it yields about `(to_ms - from_ms) / length` items, so bound the range
/// before collecting a fine period over a long span.
pub fn periods_between(p: Period, from_ms: i64, to_ms: i64) -> impl Iterator<Item = i64> {
    let first = (from_ms < to_ms).then(|| period_start(p, from_ms));
    std::iter::successors(first, move |&cur| {
        let next = period_end(p, cur);
        (next > cur && next < to_ms).then_some(next)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(ts: i64, len: i64) {
        for next in [0, 1] {
            if let Some(narrow) = fixed_bound_narrow(ts, len, next) {
                assert_eq!(narrow, fixed_bound_wide(ts, len, next), "ts {ts}, len {len}, next {next}");
            }
            assert_eq!(fixed_bound(ts, len, next), fixed_bound_wide(ts, len, next), "ts {ts}, len {len}, next {next}");
        }
    }

    #[test]
    fn working_days_match_counting_one_by_one() {
        // 2026-12-04 is a Friday.
        assert_eq!(weekday(parse_day("2026-12-04").unwrap()), 4);
        assert_eq!(weekday(parse_day("1970-01-01").unwrap()), 3);
        // Seven working days after Friday 2026-12-04: Mon 7 … Fri 11, Mon 14, Tue 15.
        assert_eq!(day_label(add_working_days(parse_day("2026-12-04").unwrap(), 7)), "2026-12-15");
        for day in -20..400 {
            for n in 0..25u32 {
                let (mut d, mut left) = (day, n);
                while left > 0 {
                    d += 1;
                    if weekday(d) < 5 {
                        left -= 1;
                    }
                }
                assert_eq!(add_working_days(day, n), d, "day {day} n {n}");
            }
        }
    }

    const LENS: [i64; 3] = [QUARTER_MS, HOUR_MS, DAY_MS];

    #[test]
    fn fixed_bounds_agree_at_the_edges_of_the_range() {
        let edges = [
            i64::MIN,
            i64::MIN + 1,
            i64::MIN + SHANGHAI_OFFSET_MS,
            -1,
            0,
            1,
            i64::MAX - SHANGHAI_OFFSET_MS,
            i64::MAX - 1,
            i64::MAX,
        ];
        for len in LENS {
            for e in edges {
                for d in [-DAY_MS, -len, -1, 0, 1, len, DAY_MS] {
                    check(e.saturating_add(d), len);
                }
            }
        }
        // Near i64::MAX the narrow path gives up and the wide one saturates.
        assert_eq!(fixed_bound_narrow(i64::MAX, QUARTER_MS, 1), None);
        assert_eq!(period_end(Period::Quarter, i64::MAX), i64::MAX);
        // A hand-checked value: 2026-01-01T00:07 Shanghai is 2025-12-31T16:07Z.
        let ts = 1_767_196_800_000 + 7 * 60_000;
        assert_eq!(period_start(Period::Quarter, ts), 1_767_196_800_000);
        assert_eq!(period_end(Period::Quarter, ts), 1_767_196_800_000 + QUARTER_MS);
    }

    #[test]
    fn local_days_agree_at_the_edges_of_the_range() {
        for ts in [
            i64::MIN,
            i64::MIN + 1,
            -DAY_MS - 1,
            -1,
            0,
            1,
            i64::MAX - SHANGHAI_OFFSET_MS,
            i64::MAX - SHANGHAI_OFFSET_MS + 1,
            i64::MAX,
        ] {
            assert_eq!(local_day_and_ms(ts), local_day_and_ms_wide(ts), "ts {ts}");
        }
        // 1970-01-01T00:00 Shanghai is 8 h before the epoch: day 0, 0 ms; one ms earlier is day -1.
        assert_eq!(local_day_and_ms(-SHANGHAI_OFFSET_MS), (0, 0));
        assert_eq!(local_day_and_ms(-SHANGHAI_OFFSET_MS - 1), (-1, DAY_MS - 1));
    }

    proptest! {
        #[test]
        fn fixed_bounds_agree_everywhere(ts in any::<i64>(), l in 0usize..3) {
            check(ts, LENS[l]);
        }

        #[test]
        fn local_days_agree_everywhere(ts in any::<i64>()) {
            prop_assert_eq!(local_day_and_ms(ts), local_day_and_ms_wide(ts));
        }
    }
}
