//! Asia/Shanghai calendar periods: fixed offset vs the tz database, boundaries, labels.

use chrono::{Datelike, NaiveDate, Offset, TimeZone, Timelike};
use chrono_tz::Asia::Shanghai;
use proptest::prelude::*;
use trustmeter_energy::calendar::*;

/// Unix ms of a local Asia/Shanghai date-time (via chrono-tz).
fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    Shanghai.with_ymd_and_hms(y, mo, d, h, mi, s).single().unwrap().timestamp_millis()
}

#[test]
fn fixed_offset_matches_tz_database_2000_to_2040() {
    let from = local(2000, 1, 1, 0, 0, 0);
    let to = local(2040, 12, 31, 23, 59, 59);
    // An odd step (7 h 13 min 17.123 s) visits every hour of the day and every day of the month.
    let step = ((7 * 60 + 13) * 60 + 17) * 1000 + 123;
    let mut ts = from;
    let mut n = 0;
    while ts < to {
        let utc = chrono::DateTime::from_timestamp_millis(ts).unwrap();
        let tz = utc.with_timezone(&Shanghai);
        assert_eq!(i64::from(tz.offset().fix().local_minus_utc()) * 1000, SHANGHAI_OFFSET_MS, "{ts}");
        assert_eq!(local_datetime(ts), tz.naive_local(), "{ts}");
        let date = tz.date_naive();
        let day = day_number(ts);
        assert_eq!(i64::from(day), date.signed_duration_since(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days());
        assert_eq!(day_label(day), date.format("%Y-%m-%d").to_string());
        assert_eq!(month_of_day(day), (date.year(), date.month()));
        assert_eq!(period_start(Period::Day, ts), local(date.year(), date.month(), date.day(), 0, 0, 0));
        assert_eq!(period_start(Period::Month, ts), local(date.year(), date.month(), 1, 0, 0, 0));
        assert_eq!(period_start(Period::Year, ts), local(date.year(), 1, 1, 0, 0, 0));
        let (next_y, next_m) = if date.month() == 12 { (date.year() + 1, 1) } else { (date.year(), date.month() + 1) };
        assert_eq!(period_end(Period::Month, ts), local(next_y, next_m, 1, 0, 0, 0));
        assert_eq!(period_end(Period::Year, ts), local(date.year() + 1, 1, 1, 0, 0, 0));
        let t = tz.naive_local();
        assert_eq!(period_start(Period::Hour, ts), local(date.year(), date.month(), date.day(), t.hour(), 0, 0));
        let q = t.minute() / 15 * 15;
        assert_eq!(period_start(Period::Quarter, ts), local(date.year(), date.month(), date.day(), t.hour(), q, 0));
        assert_eq!(label(Period::Quarter, ts), format!("{}:{q:02}", t.format("%Y-%m-%dT%H")));
        ts += step;
        n += 1;
    }
    assert!(n > 49_000, "{n}");
}

#[test]
fn local_midnight_is_16_utc() {
    // 2026-11-21T00:00 Asia/Shanghai = 2026-11-20T16:00Z.
    let midnight = chrono::DateTime::parse_from_rfc3339("2026-11-20T16:00:00Z").unwrap().timestamp_millis();
    let day = parse_day("2026-11-21").unwrap();
    assert_eq!(day_start_ms(day), midnight);
    assert_eq!(day_number(midnight), day);
    assert_eq!(day_number(midnight - 1), day - 1);
    assert_eq!(period_start(Period::Day, midnight - 1), midnight - DAY_MS);
    assert_eq!(period_end(Period::Day, midnight - 1), midnight);
    assert_eq!(period_start(Period::Day, midnight), midnight);
    assert_eq!(label(Period::Day, midnight), "2026-11-21");
    assert_eq!(label(Period::Day, midnight - 1), "2026-11-20");
    // The epoch: 1970-01-01T00:00 local is 1969-12-31T16:00Z.
    assert_eq!(day_start_ms(0), -SHANGHAI_OFFSET_MS);
    assert_eq!(day_number(-SHANGHAI_OFFSET_MS), 0);
    assert_eq!(day_number(-SHANGHAI_OFFSET_MS - 1), -1);
    assert_eq!(day_number(0), 0);
    assert_eq!(day_label(-1), "1969-12-31");
}

#[test]
fn labels_of_every_period() {
    let t = local(2026, 11, 21, 8, 17, 33) + 456;
    assert_eq!(label(Period::Quarter, t), "2026-11-21T08:15");
    assert_eq!(label(Period::Hour, t), "2026-11-21T08");
    assert_eq!(label(Period::Day, t), "2026-11-21");
    assert_eq!(label(Period::Month, t), "2026-11");
    assert_eq!(label(Period::Year, t), "2026");
    assert_eq!(period_start(Period::Quarter, t), local(2026, 11, 21, 8, 15, 0));
    assert_eq!(period_end(Period::Quarter, t), local(2026, 11, 21, 8, 30, 0));
    assert_eq!(period_end(Period::Hour, t), local(2026, 11, 21, 9, 0, 0));
    assert_eq!(period_end(Period::Day, t), local(2026, 11, 22, 0, 0, 0));
    assert_eq!(period_start(Period::Month, t), local(2026, 11, 1, 0, 0, 0));
    assert_eq!(period_end(Period::Month, t), local(2026, 12, 1, 0, 0, 0));
    assert_eq!(period_start(Period::Year, t), local(2026, 1, 1, 0, 0, 0));
    assert_eq!(period_end(Period::Year, t), local(2027, 1, 1, 0, 0, 0));
    assert_eq!(label(Period::Year, 0), "1970");
    assert_eq!(label(Period::Quarter, -1), "1970-01-01T07:45");
    assert_eq!(local_datetime(0), NaiveDate::from_ymd_opt(1970, 1, 1).unwrap().and_hms_opt(8, 0, 0).unwrap());
}

#[test]
fn month_and_year_boundaries() {
    // Leap February.
    let feb = local(2024, 2, 29, 23, 59, 59);
    assert_eq!(period_start(Period::Month, feb), local(2024, 2, 1, 0, 0, 0));
    assert_eq!(period_end(Period::Month, feb), local(2024, 3, 1, 0, 0, 0));
    assert_eq!(periods_between(Period::Day, local(2024, 2, 1, 0, 0, 0), local(2024, 3, 1, 0, 0, 0)).count(), 29);
    assert_eq!(periods_between(Period::Day, local(2100, 2, 1, 0, 0, 0), local(2100, 3, 1, 0, 0, 0)).count(), 28);
    // New Year's Eve: 2026-12-31T16:00Z is 2027-01-01T00:00 local.
    let ny = chrono::DateTime::parse_from_rfc3339("2026-12-31T16:00:00Z").unwrap().timestamp_millis();
    assert_eq!(period_start(Period::Year, ny), ny);
    assert_eq!(period_start(Period::Month, ny - 1), local(2026, 12, 1, 0, 0, 0));
    assert_eq!(period_end(Period::Month, ny - 1), ny);
    assert_eq!(label(Period::Month, ny - 1), "2026-12");
    assert_eq!(label(Period::Month, ny), "2027-01");
    let day = day_number(ny);
    assert_eq!(month_of_day(day), (2027, 1));
    assert_eq!(month_of_day(day - 1), (2026, 12));
}

#[test]
fn periods_between_covers_the_range() {
    let d0 = local(2026, 11, 21, 0, 0, 0);
    let q: Vec<i64> = periods_between(Period::Quarter, d0, d0 + DAY_MS).collect();
    assert_eq!(q.len(), 96);
    assert_eq!(q[0], d0);
    assert!(q.windows(2).all(|w| w[1] - w[0] == QUARTER_MS));
    assert_eq!(periods_between(Period::Hour, d0, d0 + DAY_MS).count(), 24);
    // Unaligned ends: the periods containing from and to - 1.
    let h: Vec<i64> = periods_between(Period::Hour, d0 + 1_800_000, d0 + 2 * HOUR_MS + 1).collect();
    assert_eq!(h, vec![d0, d0 + HOUR_MS, d0 + 2 * HOUR_MS]);
    assert_eq!(periods_between(Period::Day, d0, d0).count(), 0);
    assert_eq!(periods_between(Period::Day, d0 + 1, d0).count(), 0);
    let months: Vec<String> = periods_between(Period::Month, local(2026, 11, 15, 0, 0, 0), local(2027, 2, 1, 0, 0, 0))
        .map(|m| label(Period::Month, m))
        .collect();
    assert_eq!(months, ["2026-11", "2026-12", "2027-01"]);
    // Near the end of the i64 range the iterator still terminates (period ends saturate).
    let year_ms = 366 * DAY_MS;
    let n = periods_between(Period::Year, i64::MAX - 10 * year_ms, i64::MAX).count();
    assert!((10..=12).contains(&n), "{n}");
    let n = periods_between(Period::Quarter, i64::MAX - 2 * QUARTER_MS, i64::MAX).count();
    assert!((2..=3).contains(&n), "{n}");
}

#[test]
fn day_labels_round_trip() {
    let first = parse_day("0000-01-01").unwrap();
    let last = parse_day("9999-12-31").unwrap();
    assert_eq!(first, -719_528);
    assert_eq!(last, 2_932_896);
    let mut day = first;
    while day <= last {
        assert_eq!(parse_day(&day_label(day)), Some(day), "{day}");
        day += 7;
    }
    assert_eq!(day_label(last), "9999-12-31");
    assert_eq!(day_label(last + 1), "10000-01-01");
    assert_eq!(day_label(first - 1), "-0001-12-31");
    for bad in ["2026-02-29", "2100-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-01-00", "2026-1-01"] {
        assert_eq!(parse_day(bad), None, "{bad}");
    }
    for bad in ["+026-01-01", "2026/01/01", "2026-01-01T00", "", "20260101", "２026-01-01"] {
        assert_eq!(parse_day(bad), None, "{bad}");
    }
    assert_eq!(parse_day("2024-02-29"), Some(day_number(local(2024, 2, 29, 12, 0, 0))));
    assert_eq!(parse_day("2000-02-29").map(day_label).as_deref(), Some("2000-02-29"));
}

#[test]
fn period_names() {
    for p in Period::ALL {
        assert_eq!(Period::parse(p.as_str()), Some(p));
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct W {
            p: Period,
        }
        let text = toml::to_string(&W { p }).unwrap();
        assert_eq!(text.trim(), format!("p = \"{}\"", p.as_str()));
        assert_eq!(toml::from_str::<W>(&text).unwrap(), W { p });
    }
    let names = [("quarter", Period::Quarter), ("1h", Period::Hour), ("1d", Period::Day)];
    for (s, p) in names {
        assert_eq!(Period::parse(s), Some(p));
    }
    for bad in ["", "15M", "Day", "week", "30m", "1y"] {
        assert_eq!(Period::parse(bad), None, "{bad}");
    }
    assert_eq!(Period::ALL.map(Period::as_str), ["15m", "hour", "day", "month", "year"]);
}

#[test]
fn total_at_the_extremes() {
    for p in Period::ALL {
        for ts in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
            let (s, e) = (period_start(p, ts), period_end(p, ts));
            assert!(s <= ts, "{p:?} {ts}");
            assert!(e > ts || (ts == i64::MAX && e == i64::MAX), "{p:?} {ts}");
            let _ = label(p, ts);
        }
    }
    let _ = day_label(day_number(i64::MIN));
    let _ = day_label(day_number(i64::MAX));
    let _ = day_start_ms(i32::MIN);
    let _ = day_start_ms(i32::MAX);
}

proptest! {
    #[test]
    fn periods_nest_and_tile(ts in -4_000_000_000_000i64..7_000_000_000_000i64) {
        let mut prev: Option<(i64, i64)> = None;
        for p in Period::ALL {
            let (s, e) = (period_start(p, ts), period_end(p, ts));
            prop_assert!(s <= ts && ts < e);
            prop_assert_eq!(period_start(p, s), s);
            prop_assert_eq!(period_end(p, s), e);
            prop_assert_eq!(period_start(p, e), e);
            prop_assert_eq!(period_end(p, e - 1), e);
            prop_assert_eq!(label(p, s), label(p, e - 1));
            prop_assert_ne!(label(p, s), label(p, e));
            // Each period is a union of the shorter ones.
            if let Some((ps, pe)) = prev {
                prop_assert!(s <= ps && pe <= e);
            }
            prev = Some((s, e));
        }
        let day = day_number(ts);
        prop_assert_eq!(day_start_ms(day), period_start(Period::Day, ts));
        prop_assert_eq!(parse_day(&day_label(day)), Some(day));
        prop_assert_eq!(label(Period::Day, ts), day_label(day));
    }
}
