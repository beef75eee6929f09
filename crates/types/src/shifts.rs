//! Shift calendars and production output per shift (班次、班组与班次产量), the enterprise's own data
//! behind per-shift and per-team unit consumption (班次单耗、班组单耗).
//!
//! - A [`ShiftCalendar`] (排班表) names the enterprise's shifts (班次, e.g. 早班 06:00–14:00,
//!   中班 14:00–22:00, 夜班 22:00–06:00) in Asia/Shanghai local time as minutes of the day, its
//!   teams (班组, e.g. 甲乙丙丁) and optionally a rotation (倒班: which team works which shift on
//!   which day of a cycle of N days starting at a date). It takes effect from a day; the chain
//!   keeps every version, and a version never changes a day that already has output recorded.
//! - Shifts of one calendar never overlap; gaps between them are allowed (a plant that runs two
//!   shifts, or stops between shifts): energy used in a gap belongs to no shift. A shift whose end
//!   is at or before its start crosses midnight and ends on the next day (22:00–06:00; 16:00–00:00
//!   ends at midnight); one shift from 00:00 to 00:00 covers the whole day.
//! - A shift *instance* is (day, shift): it starts on that day at the shift's start and lasts the
//!   shift's length, so the night shift of 21 November runs from 21 November 22:00 to 22 November
//!   06:00 (the production day it belongs to is the day it starts).
//! - A [`ShiftOutput`] records production output (产量) of one instance per product, as the
//!   monthly report's products are recorded ([`ProductOutput`]: name, unit, fixed-point quantity),
//!   so a month's shift outputs and its monthly report speak of the same products. Recording a
//!   product again for the same (day, shift) corrects it (its revision goes up).
//!
//! Days are `YYYYMMDD` numbers (Asia/Shanghai dates, e.g. `20261121`), like months (`YYYYMM`)
//! elsewhere: they read as dates in JSON and sort as dates in the state's keys.

use crate::codec::check_len;
use crate::limits::{MAX_MESSAGE_LEN, MAX_NAME_LEN};
use crate::tx::ProductOutput;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Most shifts in one calendar.
pub const MAX_SHIFTS: usize = 8;
/// Most teams (班组) in one calendar.
pub const MAX_TEAMS: usize = 32;
/// Most days in a rotation's cycle.
pub const MAX_ROTATION_DAYS: usize = 64;
/// Most products in one shift's output (per record, and per (day, shift) after merging).
pub const MAX_SHIFT_PRODUCTS: usize = 16;
/// Longest shift or team name, bytes of UTF-8 (ten Chinese characters).
pub const MAX_SHIFT_NAME_LEN: usize = 32;
/// Minutes in a day.
pub const MINUTES_PER_DAY: u16 = 1_440;
/// How many days back a calendar may take effect, or output may be recorded (two months: last
/// month's shifts can be entered and corrected while its report is prepared).
pub const SHIFT_BACKDATE_DAYS: i32 = 62;
/// How many days ahead a calendar may take effect.
pub const MAX_CALENDAR_AHEAD_DAYS: i32 = 366;
/// Most calendar versions one enterprise keeps (a version a month for ten years).
pub const MAX_SHIFT_CALENDARS: usize = 120;

/// One shift (班次) of a calendar, in Asia/Shanghai local time.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ShiftDef {
    /// Its name, unique in the calendar (e.g. `早班`, `中班`, `夜班`); at most 32 bytes.
    pub name: String,
    /// Start, minutes after local midnight (0–1439; 06:00 = 360).
    pub start_minute: u16,
    /// End, minutes after local midnight (0–1439). At or before `start_minute`: the shift crosses
    /// midnight and ends on the next day (22:00–06:00 is 1320 → 360; 16:00–24:00 is 960 → 0);
    /// equal to it: a 24-hour shift (the calendar's only one).
    pub end_minute: u16,
}

impl ShiftDef {
    /// Length in minutes (1–1440).
    pub fn minutes(&self) -> u32 {
        let d = (i32::from(self.end_minute) - i32::from(self.start_minute)).rem_euclid(i32::from(MINUTES_PER_DAY));
        if d == 0 { u32::from(MINUTES_PER_DAY) } else { d as u32 }
    }

    /// Whether it ends on the next day (a 24-hour shift starting after midnight does too).
    pub fn crosses_midnight(&self) -> bool {
        u32::from(self.start_minute) + self.minutes() > u32::from(MINUTES_PER_DAY)
    }

    /// Where it ends on the next day, in minutes after midnight (0 when it ends on its own day or
    /// exactly at midnight).
    pub fn tail_minutes(&self) -> u32 {
        (u32::from(self.start_minute) + self.minutes()).saturating_sub(u32::from(MINUTES_PER_DAY))
    }

    /// `06:00–14:00`; a shift crossing midnight ends with `(+1)`: `22:00–06:00(+1)`.
    pub fn label(&self) -> String {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        let next =
            if u32::from(self.start_minute) + self.minutes() >= u32::from(MINUTES_PER_DAY) { "(+1)" } else { "" };
        format!("{}–{}{next}", hm(self.start_minute), hm(self.end_minute))
    }

    /// The parts of the day it covers, as half-open minute ranges `[a, b)` within `0..1440` (two
    /// when it crosses midnight: its start to midnight and midnight to its end).
    fn parts(&self) -> Vec<(u32, u32)> {
        let (s, len, day) = (u32::from(self.start_minute), self.minutes(), u32::from(MINUTES_PER_DAY));
        if s + len <= day { vec![(s, s + len)] } else { vec![(s, day), (0, s + len - day)] }
    }
}

/// A rotation (倒班): which team works which shift on each day of a cycle.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ShiftRotation {
    /// The cycle's first day, `YYYYMMDD`; the cycle repeats before and after it.
    pub start: u32,
    /// One entry per day of the cycle (1–64 days): per shift, in the calendar's shift order, the
    /// index of the team working it in `teams`, or `null` when the shift does not run that day.
    pub days: Vec<Vec<Option<u8>>>,
}

/// An enterprise's shift calendar (排班表) from a day on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ShiftCalendar {
    /// First day it applies to, `YYYYMMDD` (Asia/Shanghai); it applies until a later version's.
    pub effective_from: u32,
    /// The shifts (1–8), in the order a day runs them; they may leave gaps but never overlap.
    pub shifts: Vec<ShiftDef>,
    /// The teams (班组, 0–32), each at most 32 bytes, unique.
    pub teams: Vec<String>,
    /// Which team works which shift on which day, if the enterprise rotates teams.
    pub rotation: Option<ShiftRotation>,
}

/// Checks a shift or team name: non-empty, at most [`MAX_SHIFT_NAME_LEN`] bytes, no control
/// characters, no surrounding blanks.
pub fn check_shift_name(what: &str, s: &str) -> Result<(), String> {
    check_len(what, s.len(), MAX_SHIFT_NAME_LEN)?;
    if s.trim().is_empty() || s.trim() != s || s.chars().any(char::is_control) {
        return Err(format!("{what} {s:?} must be non-empty text without control characters or surrounding blanks"));
    }
    Ok(())
}

impl ShiftCalendar {
    /// Checks what needs no state: sizes, names, minutes, that no two shifts overlap, the
    /// rotation's shape and team indices.
    pub fn check(&self) -> Result<(), String> {
        check_date(self.effective_from).map_err(|e| format!("effective_from: {e}"))?;
        if self.shifts.is_empty() || self.shifts.len() > MAX_SHIFTS {
            return Err(format!("a calendar has 1 to {MAX_SHIFTS} shifts, not {}", self.shifts.len()));
        }
        check_len("team list", self.teams.len(), MAX_TEAMS)?;
        for (i, s) in self.shifts.iter().enumerate() {
            check_shift_name("shift name", &s.name)?;
            if s.start_minute >= MINUTES_PER_DAY || s.end_minute >= MINUTES_PER_DAY {
                return Err(format!(
                    "shift {}: start and end are minutes after midnight, 0 to 1439 (24:00 is 0)",
                    s.name
                ));
            }
            if self.shifts[..i].iter().any(|o| o.name == s.name) {
                return Err(format!("shift {} is named twice", s.name));
            }
            if s.minutes() == u32::from(MINUTES_PER_DAY) && self.shifts.len() > 1 {
                return Err(format!("shift {} lasts 24 hours, so it must be the calendar's only shift", s.name));
            }
        }
        for (i, a) in self.shifts.iter().enumerate() {
            for b in &self.shifts[i + 1..] {
                let overlap = a.parts().iter().any(|&(a0, a1)| b.parts().iter().any(|&(b0, b1)| a0 < b1 && b0 < a1));
                if overlap {
                    return Err(format!(
                        "shifts {} {} and {} {} overlap; a calendar's shifts may leave gaps but never overlap",
                        a.name,
                        a.label(),
                        b.name,
                        b.label()
                    ));
                }
            }
        }
        for (i, t) in self.teams.iter().enumerate() {
            check_shift_name("team name", t)?;
            if self.teams[..i].contains(t) {
                return Err(format!("team {t} is named twice"));
            }
        }
        if let Some(r) = &self.rotation {
            check_date(r.start).map_err(|e| format!("rotation start: {e}"))?;
            if r.days.is_empty() || r.days.len() > MAX_ROTATION_DAYS {
                return Err(format!("a rotation's cycle has 1 to {MAX_ROTATION_DAYS} days, not {}", r.days.len()));
            }
            if self.teams.is_empty() {
                return Err("a rotation assigns teams: name them in `teams`".into());
            }
            for (d, day) in r.days.iter().enumerate() {
                if day.len() != self.shifts.len() {
                    return Err(format!(
                        "rotation day {}: one entry per shift ({}), not {}",
                        d + 1,
                        self.shifts.len(),
                        day.len()
                    ));
                }
                if let Some(t) = day.iter().flatten().find(|t| usize::from(**t) >= self.teams.len()) {
                    return Err(format!(
                        "rotation day {}: team {t} is not one of the {} teams",
                        d + 1,
                        self.teams.len()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The shift named `name`, with its position.
    pub fn shift(&self, name: &str) -> Option<(usize, &ShiftDef)> {
        self.shifts.iter().enumerate().find(|(_, s)| s.name == name)
    }

    /// The team the rotation puts on shift `shift` (its position) on `day` (`YYYYMMDD`), if any.
    pub fn rotation_team(&self, day: u32, shift: usize) -> Option<&str> {
        let r = self.rotation.as_ref()?;
        let offset = i64::from(day_number(day)?) - i64::from(day_number(r.start)?);
        let cycle = r.days.get(offset.rem_euclid(r.days.len() as i64) as usize)?;
        let team = (*cycle.get(shift)?)?;
        self.teams.get(usize::from(team)).map(String::as_str)
    }

    /// How far into the next day its shifts reach, in minutes after midnight (0 if none crosses).
    pub fn tail_minutes(&self) -> u32 {
        self.shifts.iter().map(ShiftDef::tail_minutes).max().unwrap_or(0)
    }
}

/// Production output of one shift instance (班次产量), recorded by the enterprise.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ShiftOutput {
    /// The production day the shift starts on, `YYYYMMDD` (a night shift 22:00–06:00 belongs to
    /// the day it starts).
    pub day: u32,
    /// The shift's name in the calendar in force on that day.
    pub shift: String,
    /// The team that worked it; `null` takes the calendar's rotation (or none, without one).
    pub team: Option<String>,
    /// Output per product (1–16, distinct names): name and unit as in the monthly report, a
    /// non-negative fixed-point quantity. A product recorded before for the same (day, shift) is
    /// corrected; the others are kept.
    pub products: Vec<ProductOutput>,
    /// A note (what was counted, why a correction), at most 256 bytes.
    pub note: String,
}

impl ShiftOutput {
    /// Checks what needs no state.
    pub fn check(&self) -> Result<(), String> {
        check_date(self.day).map_err(|e| format!("day: {e}"))?;
        check_shift_name("shift name", &self.shift)?;
        if let Some(t) = &self.team {
            check_shift_name("team name", t)?;
        }
        if self.products.is_empty() || self.products.len() > MAX_SHIFT_PRODUCTS {
            return Err(format!(
                "a shift's output names 1 to {MAX_SHIFT_PRODUCTS} products, not {}",
                self.products.len()
            ));
        }
        for (i, p) in self.products.iter().enumerate() {
            check_len("product name", p.product.len(), MAX_NAME_LEN)?;
            check_len("product unit", p.unit.len(), MAX_NAME_LEN)?;
            let text = |s: &str| !s.trim().is_empty() && !s.chars().any(char::is_control);
            if !text(&p.product) || !text(&p.unit) {
                return Err(format!(
                    "product {:?} needs a name and a unit (text without control characters)",
                    p.product
                ));
            }
            if p.quantity.micros() < 0 {
                return Err(format!("the output of {} is negative", p.product));
            }
            if self.products[..i].iter().any(|o| o.product == p.product) {
                return Err(format!("product {} is listed twice", p.product));
            }
        }
        check_len("note", self.note.len(), MAX_MESSAGE_LEN)
    }
}

/// Checks a `YYYYMMDD` date (years 1900–9999).
pub fn check_date(date: u32) -> Result<(), String> {
    day_number(date).map(|_| ()).ok_or_else(|| format!("{date} is not a date YYYYMMDD (e.g. 20261121)"))
}

/// Days since 1970-01-01 of a `YYYYMMDD` date (the day numbers of Asia/Shanghai days elsewhere),
/// or `None` if it is not a date of the years 1900–9999.
pub fn day_number(date: u32) -> Option<i32> {
    let (y, m, d) = (date / 10_000, (date / 100) % 100, date % 100);
    if !(1900..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).ok()
}

/// The `YYYYMMDD` date of a day number (days since 1970-01-01), or `None` outside 1900–9999.
pub fn date_of_day(day: i32) -> Option<u32> {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if !(1900..=9999).contains(&y) {
        return None;
    }
    Some((y * 10_000 + m * 100 + d) as u32)
}

/// `2026-11-21` of `20261121`.
pub fn date_label(date: u32) -> String {
    format!("{:04}-{:02}-{:02}", date / 10_000, (date / 100) % 100, date % 100)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quantity;

    fn shift(name: &str, start: u16, end: u16) -> ShiftDef {
        ShiftDef { name: name.into(), start_minute: start, end_minute: end }
    }

    fn three() -> ShiftCalendar {
        ShiftCalendar {
            effective_from: 20_261_101,
            shifts: vec![shift("早班", 360, 840), shift("中班", 840, 1320), shift("夜班", 1320, 360)],
            teams: vec!["甲".into(), "乙".into(), "丙".into(), "丁".into()],
            rotation: Some(ShiftRotation {
                start: 20_261_101,
                days: vec![vec![Some(0), Some(1), Some(2)], vec![Some(3), Some(0), Some(1)]],
            }),
        }
    }

    #[test]
    fn dates_round_trip_and_match_the_calendar() {
        assert_eq!(day_number(19_700_101), Some(0));
        assert_eq!(day_number(20_261_121), Some(20_778));
        assert_eq!(day_number(20_000_229), Some(11_016));
        assert_eq!(day_number(19_000_229), None, "1900 is not a leap year");
        assert_eq!(day_number(20_261_131), None);
        assert_eq!(day_number(20_261_300), None);
        assert_eq!(day_number(18_991_231), None);
        for day in (-25_567..=2_932_896).step_by(997) {
            let date = date_of_day(day).expect("in range");
            assert_eq!(day_number(date), Some(day), "{date}");
        }
        assert_eq!(date_of_day(day_number(99_991_231).unwrap() + 1), None);
        assert_eq!(date_label(20_260_105), "2026-01-05");
    }

    #[test]
    fn shifts_cross_midnight_and_may_not_overlap() {
        let c = three();
        c.check().expect("a valid calendar");
        assert_eq!(c.shifts[2].minutes(), 480);
        assert!(c.shifts[2].crosses_midnight() && !c.shifts[0].crosses_midnight());
        assert_eq!(c.shifts[2].label(), "22:00–06:00(+1)");
        assert_eq!(c.tail_minutes(), 360);
        assert_eq!(shift("中班", 960, 0).label(), "16:00–00:00(+1)");
        assert_eq!(shift("中班", 960, 0).minutes(), 480);
        assert_eq!(shift("中班", 960, 0).tail_minutes(), 0);
        assert_eq!(shift("全天", 0, 0).minutes(), 1_440);
        // Overlaps, including across midnight.
        let mut o = three();
        o.shifts[1].end_minute = 1_330;
        let e = o.check().unwrap_err();
        assert!(e.contains("中班 14:00–22:10 and 夜班 22:00–06:00(+1) overlap"), "{e}");
        let mut o = three();
        o.shifts[2].end_minute = 370;
        assert!(o.check().unwrap_err().contains("overlap"));
        // Gaps are allowed.
        let mut g = three();
        g.shifts[1].end_minute = 1_300;
        g.check().expect("a gap of 20 minutes");
        // A 24-hour shift only alone.
        let mut w = three();
        w.shifts = vec![shift("全天", 480, 480)];
        w.rotation = None;
        w.check().expect("one 24-hour shift");
        w.shifts.push(shift("x", 0, 60));
        assert!(w.check().is_err());
    }

    #[test]
    fn limits_and_names_are_checked() {
        let mut c = three();
        c.shifts = (0..9).map(|i| shift(&format!("s{i}"), i * 60, i * 60 + 30)).collect();
        c.rotation = None;
        assert!(c.check().unwrap_err().contains("1 to 8 shifts"));
        let mut c = three();
        c.teams = (0..33).map(|i| format!("t{i}")).collect();
        assert!(c.check().unwrap_err().contains("team list"));
        let mut c = three();
        c.shifts[0].name = "中班".into();
        assert!(c.check().unwrap_err().contains("named twice"));
        let mut c = three();
        c.shifts[0].start_minute = 1_440;
        assert!(c.check().is_err());
        let mut c = three();
        c.shifts[0].name = "早\0班".into();
        assert!(c.check().is_err());
        let mut c = three();
        c.teams[0] = "一二三四五六七八九十一".into();
        assert!(c.check().unwrap_err().contains("team name"));
        let mut c = three();
        c.rotation.as_mut().unwrap().days[1].pop();
        assert!(c.check().unwrap_err().contains("one entry per shift"));
        let mut c = three();
        c.rotation.as_mut().unwrap().days[1][0] = Some(4);
        assert!(c.check().unwrap_err().contains("not one of the 4 teams"));
        let mut c = three();
        c.rotation.as_mut().unwrap().days = vec![vec![None, None, None]; 65];
        assert!(c.check().unwrap_err().contains("1 to 64 days"));
        let mut c = three();
        c.effective_from = 20_261_131;
        assert!(c.check().unwrap_err().contains("effective_from"));
    }

    #[test]
    fn the_rotation_names_the_team_of_a_day() {
        let c = three();
        assert_eq!(c.rotation_team(20_261_101, 0), Some("甲"));
        assert_eq!(c.rotation_team(20_261_102, 0), Some("丁"));
        assert_eq!(c.rotation_team(20_261_103, 2), Some("丙"));
        // Before the cycle's start it repeats backwards.
        assert_eq!(c.rotation_team(20_261_031, 1), Some("甲"));
        let mut off = three();
        off.rotation.as_mut().unwrap().days[0][2] = None;
        assert_eq!(off.rotation_team(20_261_101, 2), None);
        assert_eq!(off.rotation_team(20_261_101, 9), None);
    }

    #[test]
    fn outputs_are_checked() {
        let p = |name: &str, q: i64| ProductOutput { product: name.into(), unit: "辆".into(), quantity: Quantity(q) };
        let mut o = ShiftOutput {
            day: 20_261_121,
            shift: "早班".into(),
            team: None,
            products: vec![p("整车", 50_000_000)],
            note: String::new(),
        };
        o.check().expect("valid");
        o.products.push(p("整车", 1));
        assert!(o.check().unwrap_err().contains("listed twice"));
        o.products = vec![p("整车", -1)];
        assert!(o.check().unwrap_err().contains("negative"));
        o.products = (0..17).map(|i| p(&format!("p{i}"), 1)).collect();
        assert!(o.check().unwrap_err().contains("1 to 16 products"));
        o.products = vec![];
        assert!(o.check().is_err());
        o.products = vec![p(" ", 1)];
        assert!(o.check().is_err());
    }
}
