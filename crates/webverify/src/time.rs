//! Timestamps as text, without a clock or a time-zone database (neither exists in the browser's
//! wasm sandbox): UTC, and Beijing time (UTC+8, China's one zone, no daylight saving since 1991).

/// Milliseconds of a day.
const DAY_MS: i64 = 86_400_000;

/// `YYYY-MM-DDTHH:MM:SS.sss` followed by `suffix`, of Unix milliseconds `ms` shifted by
/// `offset_ms`.
fn format(ms: i64, offset_ms: i64, suffix: &str) -> String {
    let t = ms.saturating_add(offset_ms);
    let (days, in_day) = (t.div_euclid(DAY_MS), t.rem_euclid(DAY_MS));
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}{suffix}")
}

/// Unix milliseconds as an RFC 3339 UTC time (`2026-01-01T00:15:00.000Z`).
pub fn utc(ms: i64) -> String {
    format(ms, 0, "Z")
}

/// Unix milliseconds as an RFC 3339 Beijing time (`2026-01-01T08:15:00.000+08:00`).
pub fn beijing(ms: i64) -> String {
    format(ms, 8 * 3_600_000, "+08:00")
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01); H. Hinnant's
/// `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_times() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(1_767_225_600_000 + 15 * 60_000), "2026-01-01T00:15:00.000Z");
        assert_eq!(beijing(1_767_225_600_000 + 15 * 60_000), "2026-01-01T08:15:00.000+08:00");
        assert_eq!(utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(-1), "1969-12-31T23:59:59.999Z");
        // Extreme values format without overflow.
        let _ = (utc(i64::MIN), utc(i64::MAX), beijing(i64::MAX));
    }
}
