//! The plant's shift calendar (排班表) and production output per shift (班次产量): what its
//! enterprise records on the chain so that per-shift and per-team unit consumption (班次、班组单耗)
//! can be compared.
//!
//! The three shifts are the load shape's ([`crate::time::Shift`]): 夜班 00:00–08:00, 白班
//! 08:00–16:00, 中班 16:00–24:00, worked by four teams 甲乙丙丁 on the common 四班三运转 rotation
//! (an eight-day cycle: each team works two nights, two days and two evenings, then rests two
//! days). Output follows the same production model as the meters' consumption: vehicles (整车)
//! built at [`VEHICLES_PER_HOUR`] at full production, scaled by
//! [`crate::time::mean_production_factor`] over the shift, by the team's efficiency and by a
//! deterministic ±3 % of the shift's own; bodies in white (白车身) a few more. Everything is a pure
//! function of the seed and the time.

use crate::time::{SHANGHAI_OFFSET_MS, mean_production_factor};
use trustmeter_crypto::{HashAlg, tagged_hash};
use trustmeter_types::Quantity;
use trustmeter_types::shifts::{ShiftCalendar, ShiftDef, ShiftRotation, date_of_day};
use trustmeter_types::tx::ProductOutput;

const DAY_MS: i64 = 86_400_000;

/// The shifts, in the order a day runs them: (name, start, end) in minutes after local midnight.
pub const SHIFTS: [(&str, u16, u16); 3] = [("夜班", 0, 480), ("白班", 480, 960), ("中班", 960, 0)];
/// The teams (班组).
pub const TEAMS: [&str; 4] = ["甲", "乙", "丙", "丁"];
/// 四班三运转: per day of the eight-day cycle, the team (index in [`TEAMS`]) of each shift.
pub const ROTATION: [[u8; 3]; 8] =
    [[0, 1, 2], [0, 1, 2], [3, 0, 1], [3, 0, 1], [2, 3, 0], [2, 3, 0], [1, 2, 3], [1, 2, 3]];
/// Output relative to the plan per team: the same energy makes fewer vehicles on a slower team.
pub const TEAM_EFFICIENCY: [f64; 4] = [1.00, 0.97, 1.02, 0.95];
/// Vehicles built per hour at full production (production factor 1).
pub const VEHICLES_PER_HOUR: f64 = 40.0;

/// The plant's calendar from `effective_from` (a `YYYYMMDD` day), its rotation's cycle starting
/// that day.
pub fn calendar(effective_from: u32) -> ShiftCalendar {
    ShiftCalendar {
        effective_from,
        shifts: SHIFTS
            .iter()
            .map(|(name, start, end)| ShiftDef { name: (*name).into(), start_minute: *start, end_minute: *end })
            .collect(),
        teams: TEAMS.iter().map(|t| (*t).into()).collect(),
        rotation: Some(ShiftRotation {
            start: effective_from,
            days: ROTATION.iter().map(|d| d.iter().map(|t| Some(*t)).collect()).collect(),
        }),
    }
}

/// One worked shift.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftRun {
    /// The production day it starts on, `YYYYMMDD`.
    pub day: u32,
    /// Its position in [`SHIFTS`].
    pub shift: usize,
    /// Start (Unix ms).
    pub start_ms: i64,
    /// End (Unix ms, exclusive).
    pub end_ms: i64,
    /// Its team's position in [`TEAMS`], by the rotation started on `rotation_start`.
    pub team: usize,
}

impl ShiftRun {
    /// The shift's name.
    pub fn name(&self) -> &'static str {
        SHIFTS[self.shift].0
    }
}

/// Local day number (days since 1970-01-01 in Asia/Shanghai) of an instant.
fn local_day(ms: i64) -> i64 {
    (ms + SHANGHAI_OFFSET_MS).div_euclid(DAY_MS)
}

/// The shifts that end in `(after_ms, upto_ms]`, in time order, with the teams of a rotation whose
/// cycle starts on day number `rotation_start` (days since 1970-01-01).
pub fn runs_ending(after_ms: i64, upto_ms: i64, rotation_start: i32) -> Vec<ShiftRun> {
    let mut out = vec![];
    if upto_ms <= after_ms {
        return out;
    }
    for day in local_day(after_ms) - 1..=local_day(upto_ms) {
        let Some(date) = i32::try_from(day).ok().and_then(date_of_day) else { continue };
        let midnight = day * DAY_MS - SHANGHAI_OFFSET_MS;
        let cycle = ROTATION[(day - i64::from(rotation_start)).rem_euclid(ROTATION.len() as i64) as usize];
        for (i, (_, start, end)) in SHIFTS.iter().enumerate() {
            let len = (i64::from(*end) - i64::from(*start)).rem_euclid(1_440);
            let start_ms = midnight + i64::from(*start) * 60_000;
            let end_ms = start_ms + if len == 0 { 1_440 } else { len } * 60_000;
            if after_ms < end_ms && end_ms <= upto_ms {
                out.push(ShiftRun { day: date, shift: i, start_ms, end_ms, team: usize::from(cycle[i]) });
            }
        }
    }
    out.sort_by_key(|r| r.start_ms);
    out
}

/// A run's output: vehicles (整车, 辆) and bodies in white (白车身, 台), whole units, for a plant
/// of `meters` meters (output scales with the plant as its energy does: [`VEHICLES_PER_HOUR`]
/// is for [`crate::DEFAULT_METERS`]).
pub fn output(seed: u64, meters: usize, run: &ShiftRun) -> Vec<ProductOutput> {
    let mut data = seed.to_le_bytes().to_vec();
    data.extend_from_slice(&run.start_ms.to_le_bytes());
    let h = tagged_hash(HashAlg::Sha256, b"trustmeter/plant/shift-output/v1", &data).0;
    let u = f64::from(u16::from_le_bytes([h[0], h[1]])) / f64::from(u16::MAX);
    let hours = (run.end_ms - run.start_ms) as f64 / 3_600_000.0;
    let scale = meters as f64 / crate::DEFAULT_METERS as f64;
    let planned = VEHICLES_PER_HOUR * scale * hours * mean_production_factor(run.start_ms, run.end_ms);
    let vehicles = (planned * TEAM_EFFICIENCY[run.team] * (0.97 + 0.06 * u)).round().max(0.0) as i64;
    let bodies = (vehicles as f64 * 1.02).round() as i64;
    let units = |n: i64| Quantity::from_micros(n * Quantity::SCALE);
    vec![
        ProductOutput { product: "整车".into(), unit: "辆".into(), quantity: units(vehicles) },
        ProductOutput { product: "白车身".into(), unit: "台".into(), quantity: units(bodies) },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-05 00:00 Asia/Shanghai, a Monday.
    const MONDAY: i64 = crate::DEFAULT_START_MS;

    #[test]
    fn the_calendar_is_valid_and_matches_the_load_shape() {
        let c = calendar(20_260_105);
        c.check().expect("a valid calendar");
        assert_eq!(c.tail_minutes(), 0, "中班 ends at midnight");
        for (i, s) in c.shifts.iter().enumerate() {
            let mid = MONDAY + (i64::from(s.start_minute) + 60) * 60_000;
            let expected = [crate::time::Shift::Night, crate::time::Shift::Day, crate::time::Shift::Evening][i];
            assert_eq!(crate::time::shift_at(mid), expected, "{}", s.name);
        }
        // Each team works every shift twice per cycle.
        for t in 0..4u8 {
            for s in 0..3 {
                assert_eq!(ROTATION.iter().filter(|d| d[s] == t).count(), 2);
            }
        }
    }

    #[test]
    fn runs_and_outputs_are_deterministic() {
        let start = local_day(MONDAY) as i32;
        let runs = runs_ending(MONDAY, MONDAY + DAY_MS, start);
        let names: Vec<(&str, u32, usize)> = runs.iter().map(|r| (r.name(), r.day, r.team)).collect();
        assert_eq!(names, [("夜班", 20_260_105, 0), ("白班", 20_260_105, 1), ("中班", 20_260_105, 2)]);
        assert!(runs_ending(MONDAY, MONDAY + 8 * 3_600_000 - 1, start).is_empty());
        // The rotation's third day: 丁 at night; and the same rotation agrees with the chain's.
        let third = runs_ending(MONDAY + 2 * DAY_MS, MONDAY + 2 * DAY_MS + 8 * 3_600_000, start);
        assert_eq!((third[0].team, third[0].day), (3, 20_260_107));
        assert_eq!(calendar(20_260_105).rotation_team(20_260_107, 0), Some("丁"));
        let day = output(7, 300, &runs[1]);
        assert_eq!(day, output(7, 300, &runs[1]));
        assert_eq!(output(7, 60, &runs[1])[0].quantity.micros() / Quantity::SCALE, 58, "a fifth of the plant");
        let vehicles = day[0].quantity.micros() / Quantity::SCALE;
        // 8 h at ~0.95 of 40 vehicles an hour, team 乙 at 0.97, ±3 %.
        assert!((270..=310).contains(&vehicles), "{vehicles}");
        let night = output(7, 300, &runs[0])[0].quantity.micros() / Quantity::SCALE;
        assert!(night < vehicles / 2, "the night shift builds less: {night}");
    }
}
