//! Plant-local time and the production load shape.
//!
//! The plant runs on China Standard Time (Asia/Shanghai). China has observed no daylight saving
//! time since 1991, so a fixed offset of UTC+8 is exact for every timestamp this simulator
//! produces; no time-zone database is needed.

/// Offset of Asia/Shanghai from UTC, in milliseconds (UTC+8, no DST).
pub const SHANGHAI_OFFSET_MS: i64 = 8 * 3_600_000;

const DAY_MS: i64 = 86_400_000;
/// Width of the integration sub-steps used by [`mean_production_factor`].
const STEP_MS: i64 = 5 * 60_000;

/// One of the plant's three eight-hour shifts (三班倒), in local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shift {
    /// 08:00–16:00, full production.
    Day,
    /// 16:00–24:00, reduced production.
    Evening,
    /// 00:00–08:00, skeleton production.
    Night,
}

/// Local calendar position of a UTC instant: `(weekday, minute of day)`, weekday 0 = Monday.
pub fn local_time(utc_ms: i64) -> (u32, u32) {
    let local = utc_ms + SHANGHAI_OFFSET_MS;
    let day = local.div_euclid(DAY_MS);
    // 1970-01-01 was a Thursday (weekday 3).
    let weekday = (day + 3).rem_euclid(7) as u32;
    let minute = (local.rem_euclid(DAY_MS) / 60_000) as u32;
    (weekday, minute)
}

/// Whether the instant falls on a Saturday or Sunday, local time.
pub fn is_weekend(utc_ms: i64) -> bool {
    local_time(utc_ms).0 >= 5
}

/// The shift working at a UTC instant.
pub fn shift_at(utc_ms: i64) -> Shift {
    match local_time(utc_ms).1 / 60 {
        8..=15 => Shift::Day,
        16..=23 => Shift::Evening,
        _ => Shift::Night,
    }
}

/// Production intensity in `[0, 1]` at a UTC instant: 1.0 for a weekday day shift, 0.75 in the
/// evening, 0.4 at night, times 0.6 during the 11:30–12:30 lunch break and times 0.3 on weekends.
pub fn production_factor(utc_ms: i64) -> f64 {
    let (weekday, minute) = local_time(utc_ms);
    let mut f = match shift_at(utc_ms) {
        Shift::Day => 1.0,
        Shift::Evening => 0.75,
        Shift::Night => 0.4,
    };
    if (690..750).contains(&minute) {
        f *= 0.6;
    }
    if weekday >= 5 {
        f *= 0.3;
    }
    f
}

/// Time-weighted mean of [`production_factor`] over `[from_ms, to_ms)`, integrated in steps of at
/// most five minutes evaluated at their midpoints. Returns 0 for an empty interval.
pub fn mean_production_factor(from_ms: i64, to_ms: i64) -> f64 {
    if to_ms <= from_ms {
        return 0.0;
    }
    let mut acc = 0.0;
    let mut t = from_ms;
    while t < to_ms {
        let next = (t + STEP_MS).min(to_ms);
        acc += production_factor(t + (next - t) / 2) * (next - t) as f64;
        t = next;
    }
    acc / (to_ms - from_ms) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_and_shifts_in_shanghai_time() {
        // 2026-01-05 00:00 +08:00 is a Monday; as UTC it is still Sunday 16:00.
        let monday = 1_767_542_400_000;
        assert_eq!(local_time(monday), (0, 0));
        assert_eq!(shift_at(monday), Shift::Night);
        assert_eq!(shift_at(monday + 9 * 3_600_000), Shift::Day);
        assert_eq!(shift_at(monday + 20 * 3_600_000), Shift::Evening);
        assert!(is_weekend(monday + 5 * DAY_MS) && !is_weekend(monday + 4 * DAY_MS));
        assert_eq!(production_factor(monday + 12 * 3_600_000), 0.6);
        let hour = 3_600_000;
        let m = mean_production_factor(monday + 11 * hour, monday + 13 * hour);
        assert!((m - 0.8).abs() < 1e-9, "{m}");
    }
}
