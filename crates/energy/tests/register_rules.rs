//! The interval rules of `register`, one by one, with hand-computed numbers.

use trustmeter_energy::calendar::{DAY_MS, HOUR_MS, Period, QUARTER_MS, day_start_ms, parse_day};
use trustmeter_energy::register::*;
use trustmeter_types::{ReadingOrigin, RegisterKind};

const M: i64 = 1_000_000; // micro-units per unit
const MIN: i64 = 60_000;
/// 2026-11-21T00:00 Asia/Shanghai = 2026-11-20T16:00Z.
const T0: i64 = 1_795_190_400_000;

fn pt(ts_ms: i64, value: i64) -> RegisterPoint {
    RegisterPoint { ts_ms, value, origin: ReadingOrigin::Online }
}

fn with(origin: ReadingOrigin, ts_ms: i64, value: i64) -> RegisterPoint {
    RegisterPoint { ts_ms, value, origin }
}

/// A 99 999.9 kWh register (wraps at 100 000 kWh), rated 500 kWh per hour, 15-min interval.
fn kwh_register() -> RegisterSpec {
    RegisterSpec::cumulative(100_000 * M, 500 * M)
}

fn iv(prev: RegisterPoint, next: RegisterPoint, spec: &RegisterSpec, reps: &[Replacement]) -> Interval {
    interval_between(&prev, &next, spec, reps)
}

#[test]
fn t0_is_local_midnight() {
    assert_eq!(day_start_ms(parse_day("2026-11-21").unwrap()), T0);
}

#[test]
fn plain_increase() {
    let i = iv(pt(T0, 1_234_500_000), pt(T0 + 15 * MIN, 1_240_250_000), &kwh_register(), &[]);
    assert_eq!(
        i,
        Interval {
            start_ms: T0,
            end_ms: T0 + 15 * MIN,
            consumption: 5_750_000,
            export: 0,
            flags: IntervalFlags::default(),
            note: None
        }
    );
    assert!(!i.excluded());
    // No change is zero consumption, not an error.
    let i = iv(pt(T0, 7 * M), pt(T0 + 15 * MIN, 7 * M), &kwh_register(), &[]);
    assert_eq!((i.consumption, i.flags), (0, IntervalFlags::default()));
}

#[test]
fn rollover_of_a_99999_9_kwh_register() {
    // 99 998.5 → 1.3 kWh: 100 000 − 99 998.5 + 1.3 = 2.8 kWh.
    let i = iv(pt(T0, 99_998_500_000), pt(T0 + 15 * MIN, 1_300_000), &kwh_register(), &[]);
    assert_eq!(i.consumption, 2_800_000);
    assert!(i.flags.rollover && !i.flags.negative_delta && !i.excluded());
    assert_eq!(i.note, None);
    // From the last displayable value 99 999.9 to 0.0: 0.1 kWh.
    let i = iv(pt(T0, 99_999_900_000), pt(T0 + 15 * MIN, 0), &kwh_register(), &[]);
    assert_eq!((i.consumption, i.flags.rollover), (100_000, true));
}

#[test]
fn rollover_window_is_90_and_10_percent() {
    let spec = RegisterSpec::cumulative(100_000 * M, 0); // rated capacity unknown
    // Exactly 90 % → exactly 10 %: a wrap of 20 000 kWh.
    let i = iv(pt(T0, 90_000 * M), pt(T0 + 15 * MIN, 10_000 * M), &spec, &[]);
    assert_eq!((i.consumption, i.flags.rollover), (20_000 * M, true));
    // One micro-unit below 90 %: not a rollover.
    let i = iv(pt(T0, 90_000 * M - 1), pt(T0 + 15 * MIN, 10_000 * M), &spec, &[]);
    assert!(i.flags.negative_delta && !i.flags.rollover);
    assert_eq!(i.consumption, 0);
    assert!(i.note.as_deref().unwrap().contains("below 90 % of the register maximum 100000"), "{:?}", i.note);
    // One micro-unit above 10 %: not a rollover.
    let i = iv(pt(T0, 90_000 * M), pt(T0 + 15 * MIN, 10_000 * M + 1), &spec, &[]);
    assert!(i.flags.negative_delta);
    assert!(i.note.as_deref().unwrap().contains("10000.000001 is above 10 %"), "{:?}", i.note);
    // A value at or above the register maximum cannot wrap.
    let i = iv(pt(T0, 100_000 * M), pt(T0 + 15 * MIN, 1), &spec, &[]);
    assert!(i.flags.negative_delta);
    // Register maximum unknown: every decrease is a negative delta.
    let unknown = RegisterSpec::cumulative(0, 0);
    let i = iv(pt(T0, 99_999 * M), pt(T0 + 15 * MIN, 1), &unknown, &[]);
    assert!(i.flags.negative_delta);
    assert!(i.note.as_deref().unwrap().contains("register maximum unknown"));
}

#[test]
fn rollover_limited_by_rated_capacity() {
    // Rated 1 000 kWh/h over 1 h: at most 2 × 1 000 + 1 % × 100 000 = 3 000 kWh.
    let spec = RegisterSpec::cumulative(100_000 * M, 1_000 * M);
    let i = iv(pt(T0, 98_000 * M), pt(T0 + HOUR_MS, 1_000 * M), &spec, &[]);
    assert_eq!((i.consumption, i.flags.rollover), (3_000 * M, true));
    let i = iv(pt(T0, 98_000 * M), pt(T0 + HOUR_MS, 1_000 * M + 1), &spec, &[]);
    assert!(i.flags.negative_delta && !i.flags.rollover);
    assert_eq!(i.consumption, 0);
    let note = i.note.unwrap();
    assert!(note.contains("a wrap of 3000.000001 exceeds twice the rated 1000 per hour over 1 h"), "{note}");
    // A 10 kWh/h meter cannot record a 10 000 kWh wrap in 15 min (limit 2 × 10 × 0.25 + 1 000 = 1 005)...
    let small = RegisterSpec::cumulative(100_000 * M, 10 * M);
    let i = iv(pt(T0, 99_000 * M), pt(T0 + 15 * MIN, 9_000 * M), &small, &[]);
    assert!(i.flags.negative_delta);
    // ...but a 1 005 kWh wrap is allowed, and with the rating unknown so is the 10 000 kWh one.
    let i = iv(pt(T0, 99_000 * M), pt(T0 + 15 * MIN, 5 * M), &small, &[]);
    assert_eq!((i.consumption, i.flags.rollover), (1_005 * M, true));
    let i = iv(pt(T0, 99_000 * M), pt(T0 + 15 * MIN, 9_000 * M), &RegisterSpec::cumulative(100_000 * M, 0), &[]);
    assert_eq!((i.consumption, i.flags.rollover), (10_000 * M, true));
}

#[test]
fn negative_delta_is_excluded_with_a_note() {
    let i = iv(pt(T0, 500 * M), pt(T0 + 15 * MIN, 499_900_000), &kwh_register(), &[]);
    assert_eq!(i.consumption, 0);
    assert!(i.flags.negative_delta && i.excluded() && !i.flags.rollover);
    assert_eq!(
        i.note.as_deref(),
        Some(
            "register went from 500 to 499.9 (no rollover: 500 is below 90 % of the register maximum 100000); \
             excluded, check the meter or record a replacement"
        )
    );
    // A negative register value is never a reading of a cumulative register.
    let i = iv(pt(T0, -5), pt(T0 + 15 * MIN, 10), &kwh_register(), &[]);
    assert!(i.flags.negative_delta);
    assert!(i.note.unwrap().contains("negative register value"));
}

#[test]
fn replacement() {
    // Old meter 1 234.5 → final 1 240.0, new meter from 0.3 → 2.1: 5.5 + 1.8 = 7.3 kWh.
    let r = Replacement { at_ms: T0 + 5 * MIN, old_final: 1_240 * M, new_initial: 300_000 };
    let i = iv(pt(T0, 1_234_500_000), pt(T0 + 15 * MIN, 2_100_000), &kwh_register(), std::slice::from_ref(&r));
    assert_eq!(i.consumption, 7_300_000);
    assert!(i.flags.replacement && !i.flags.rollover && !i.flags.negative_delta);
    // A reading at the replacement time is the new meter's: the replacement belongs to the
    // interval ending there, not to the one starting there.
    let at = r.at_ms;
    let i = iv(pt(T0, 1_234_500_000), pt(at, 300_000), &kwh_register(), std::slice::from_ref(&r));
    assert_eq!((i.consumption, i.flags.replacement), (5_500_000, true));
    let i = iv(pt(at, 300_000), pt(T0 + 15 * MIN, 2_100_000), &kwh_register(), std::slice::from_ref(&r));
    assert_eq!((i.consumption, i.flags.replacement), (1_800_000, false));
    // Replacements outside the interval do not apply.
    let later = Replacement { at_ms: T0 + 20 * MIN, ..r };
    let i = iv(pt(T0, 1_234_500_000), pt(T0 + 15 * MIN, 1_240 * M), &kwh_register(), &[later]);
    assert_eq!((i.consumption, i.flags.replacement), (5_500_000, false));
}

#[test]
fn two_replacements_in_any_order() {
    // 100 → (110 | 5) → (8 | 0) → 4: 10 + 3 + 4 = 17.
    let r1 = Replacement { at_ms: T0 + 5 * MIN, old_final: 110 * M, new_initial: 5 * M };
    let r2 = Replacement { at_ms: T0 + 10 * MIN, old_final: 8 * M, new_initial: 0 };
    let spec = kwh_register();
    let a = iv(pt(T0, 100 * M), pt(T0 + 15 * MIN, 4 * M), &spec, &[r1.clone(), r2.clone()]);
    let b = iv(pt(T0, 100 * M), pt(T0 + 15 * MIN, 4 * M), &spec, &[r2, r1]);
    assert_eq!(a, b);
    assert_eq!((a.consumption, a.flags.replacement), (17 * M, true));
}

#[test]
fn replacement_with_a_negative_part_is_excluded() {
    // The old meter's final reading (1 230) is below the previous reading (1 234.5).
    let r = Replacement { at_ms: T0 + 5 * MIN, old_final: 1_230 * M, new_initial: 0 };
    let i = iv(pt(T0, 1_234_500_000), pt(T0 + 15 * MIN, 2 * M), &kwh_register(), &[r]);
    assert_eq!(i.consumption, 0);
    assert!(i.flags.negative_delta && i.flags.replacement && i.excluded());
    let note = i.note.unwrap();
    assert!(note.starts_with("with 1 replacement(s) in the interval, register went from 1234.5 to 1230"), "{note}");
    // The new meter's part is negative.
    let r = Replacement { at_ms: T0 + 5 * MIN, old_final: 1_240 * M, new_initial: 3 * M };
    let i = iv(pt(T0, 1_234_500_000), pt(T0 + 15 * MIN, 2 * M), &kwh_register(), &[r]);
    assert!(i.flags.negative_delta);
}

#[test]
fn old_meter_wrapped_before_its_replacement() {
    // 99 999 → old final 0.5 (wrapped: 1.5), new meter 0 → 1: 2.5 kWh.
    let r = Replacement { at_ms: T0 + 5 * MIN, old_final: 500_000, new_initial: 0 };
    let i = iv(pt(T0, 99_999 * M), pt(T0 + 15 * MIN, M), &kwh_register(), &[r]);
    assert_eq!(i.consumption, 2_500_000);
    assert!(i.flags.rollover && i.flags.replacement && !i.flags.negative_delta);
}

#[test]
fn gap_is_estimated() {
    let spec = kwh_register(); // nominal 15 min
    let i = iv(pt(T0, 0), pt(T0 + 30 * MIN, 8 * M), &spec, &[]);
    assert!(!i.flags.estimated);
    let i = iv(pt(T0, 0), pt(T0 + 30 * MIN + 1, 8 * M), &spec, &[]);
    assert!(i.flags.estimated);
    assert_eq!(i.consumption, 8 * M); // the total is exact
    // A 6-hour gap across local midnight: the placement in time is even.
    let i = iv(pt(T0 - 3 * HOUR_MS, 0), pt(T0 + 3 * HOUR_MS, 60 * M), &spec, &[]);
    assert!(i.flags.estimated);
    assert_eq!(allocate(&i, Period::Day), vec![(T0 - DAY_MS, 30 * M), (T0, 30 * M)]);
    // Unknown nominal interval: never flagged.
    let none = RegisterSpec { nominal_interval_ms: 0, ..spec };
    assert!(!iv(pt(T0, 0), pt(T0 + DAY_MS, 1), &none, &[]).flags.estimated);
}

#[test]
fn manual_and_imported_ends() {
    use ReadingOrigin::*;
    let spec = kwh_register();
    let f = |a, b| iv(with(a, T0, 0), with(b, T0 + 15 * MIN, M), &spec, &[]).flags;
    assert_eq!(f(Online, Online), IntervalFlags::default());
    assert!(f(Manual, Online).manual && !f(Manual, Online).imported);
    assert!(f(Online, Manual).manual);
    assert!(f(Imported, Online).imported && !f(Imported, Online).manual);
    let both = f(Manual, Imported);
    assert!(both.manual && both.imported);
}

#[test]
fn instantaneous_trapezoid() {
    let spec = RegisterSpec {
        mode: RegisterKind::Instantaneous.into(),
        register_max: 0,
        rated_per_hour: 0,
        nominal_interval_ms: QUARTER_MS,
    };
    assert_eq!(spec.mode, RegisterMode::Instantaneous);
    // 100 kW → 200 kW over 15 min: 150 × 0.25 = 37.5 kWh.
    let i = iv(pt(T0, 100 * M), pt(T0 + 15 * MIN, 200 * M), &spec, &[]);
    assert_eq!(i.consumption, 37_500_000);
    assert_eq!(i.flags, IntervalFlags::default());
    // 12.3 t/h → 12.9 t/h over 7 min: 12.6 × 7/60 = 1.47 t.
    let i = iv(pt(T0, 12_300_000), pt(T0 + 7 * MIN, 12_900_000), &spec, &[]);
    assert_eq!(i.consumption, 1_470_000);
    // Rounding to a micro-unit, half to even: (1 + 0)/2 × 1 h = 0.5 → 0; (3 + 0)/2 = 1.5 → 2; 2.5 → 2.
    let one_hour = |a, b| iv(pt(T0, a), pt(T0 + HOUR_MS, b), &spec, &[]).consumption;
    assert_eq!(one_hour(1, 0), 0);
    assert_eq!(one_hour(3, 0), 2);
    assert_eq!(one_hour(5, 0), 2);
    assert_eq!(one_hour(2, 1), 2); // 1.5
    // Negative values are export, kept apart from consumption.
    let parts = |a, b| {
        let i = iv(pt(T0, a), pt(T0 + HOUR_MS, b), &spec, &[]);
        (i.consumption, i.export)
    };
    assert_eq!(parts(-1, 0), (0, 0));
    assert_eq!(parts(-3, 0), (0, 2));
    assert_eq!(parts(-3 * M, -5 * M), (0, 4 * M));
    // 1 micro-unit per hour for 1 s: 1/3600 → 0; 1 800 s → 0.5 → 0; 1 801 s → 1.
    assert_eq!(iv(pt(T0, 1), pt(T0 + 1_800_000, 1), &spec, &[]).consumption, 0);
    assert_eq!(iv(pt(T0, 1), pt(T0 + 1_801_000, 1), &spec, &[]).consumption, 1);
    // Crossing zero, split where the line crosses it (hand computation, one hour):
    // +10 kW → −10 kW crosses at 30 min: 10 × 0.5 / 2 = 2.5 kWh each way (the net trapezoid is 0).
    assert_eq!(parts(10 * M, -10 * M), (2_500_000, 2_500_000));
    // +30 kW → −10 kW crosses at 45 min: consumption 30 × 0.75 / 2 = 11.25 kWh, export
    // 10 × 0.25 / 2 = 1.25 kWh (net 10 kWh, the trapezoid's 20 × 1 / 2).
    assert_eq!(parts(30 * M, -10 * M), (11_250_000, 1_250_000));
    // −10 kW → +30 kW over 15 min: export 10 × 0.25 × 0.25 / 2 = 0.3125 kWh, consumption
    // 30 × 0.75 × 0.25 / 2 = 2.8125 kWh.
    let i = iv(pt(T0, -10 * M), pt(T0 + 15 * MIN, 30 * M), &spec, &[]);
    assert_eq!((i.consumption, i.export), (2_812_500, 312_500));
    // 1 → −2 micro-units over one hour: 1² / 3 / 2 = 1/6 → 0 and 2² / 3 / 2 = 2/3 → 1.
    assert_eq!(parts(1, -2), (0, 1));
    // Rollover and replacements do not apply.
    let r = Replacement { at_ms: T0 + MIN, old_final: 5, new_initial: 0 };
    let i = iv(pt(T0, 100 * M), pt(T0 + 15 * MIN, 0), &spec, &[r]);
    assert_eq!(i.consumption, 12_500_000);
    assert_eq!(i.flags, IntervalFlags::default());
    // Far outside i64: excluded, not wrapped.
    let i = iv(pt(i64::MIN / 2, i64::MAX), pt(i64::MAX / 2, i64::MAX), &spec, &[]);
    assert!(i.excluded() && i.note.unwrap().contains("overflows"));
}

#[test]
fn zero_length_interval() {
    let i = iv(pt(T0, 5 * M), pt(T0, 6 * M), &kwh_register(), &[]);
    assert_eq!((i.start_ms, i.end_ms, i.consumption), (T0, T0, M));
    assert_eq!(allocate(&i, Period::Day), vec![(T0, M)]);
}

#[test]
#[should_panic(expected = "prev.ts_ms")]
fn interval_between_requires_time_order() {
    iv(pt(T0 + 1, 0), pt(T0, 0), &kwh_register(), &[]);
}

#[test]
fn intervals_sort_and_deduplicate() {
    let spec = kwh_register();
    let pts = vec![
        pt(T0 + 30 * MIN, 12 * M),
        pt(T0, 10 * M),
        with(ReadingOrigin::Manual, T0 + 15 * MIN, 11 * M),
        pt(T0 + 15 * MIN, 11_500_000), // same timestamp, higher value: ignored
        pt(T0 + 15 * MIN, 11 * M),     // same timestamp and value, Online sorts first: kept
    ];
    let ivs = intervals(&pts, &spec, &[]);
    assert_eq!(ivs.len(), 2);
    assert_eq!((ivs[0].start_ms, ivs[0].end_ms, ivs[0].consumption), (T0, T0 + 15 * MIN, M));
    assert_eq!((ivs[1].start_ms, ivs[1].end_ms, ivs[1].consumption), (T0 + 15 * MIN, T0 + 30 * MIN, M));
    assert!(!ivs[0].flags.manual && !ivs[1].flags.manual);
    assert!(intervals(&[], &spec, &[]).is_empty());
    assert!(intervals(&[pt(T0, 1)], &spec, &[]).is_empty());
    assert!(intervals(&[pt(T0, 1), pt(T0, 2)], &spec, &[]).is_empty());
    // A late point is placed by its payload timestamp.
    let mut late = pts.clone();
    late.push(pt(T0 + 20 * MIN, 11_200_000));
    let ivs = intervals(&late, &spec, &[]);
    let sums: Vec<i64> = ivs.iter().map(|i| i.consumption).collect();
    assert_eq!(sums, [M, 200_000, 800_000]);
}

#[test]
fn intervals_with_replacement_and_rollover() {
    let spec = kwh_register();
    let reps = [Replacement { at_ms: T0 + 40 * MIN, old_final: 99_999_500_000, new_initial: 99_999 * M }];
    let pts = [
        pt(T0, 99_998 * M),
        pt(T0 + 15 * MIN, 99_999 * M),
        pt(T0 + 30 * MIN, 99_999_400_000),
        pt(T0 + 45 * MIN, 200_000),
        pt(T0 + 60 * MIN, 700_000),
    ];
    let ivs = intervals(&pts, &spec, &reps);
    let got: Vec<(i64, bool, bool)> =
        ivs.iter().map(|i| (i.consumption, i.flags.rollover, i.flags.replacement)).collect();
    // 1; 0.4; 0.1 (old) + 1.2 (new meter wraps); 0.5.
    assert_eq!(got, [(M, false, false), (400_000, false, false), (1_300_000, true, true), (500_000, false, false)]);
}

#[test]
fn register_kind_maps_to_mode() {
    assert_eq!(RegisterMode::from(RegisterKind::Cumulative), RegisterMode::Cumulative);
    assert_eq!(RegisterMode::from(RegisterKind::Instantaneous), RegisterMode::Instantaneous);
}

#[test]
fn spec_check() {
    assert_eq!(kwh_register().check(), Ok(()));
    assert_eq!(RegisterSpec::cumulative(0, 0).check(), Err(SpecError::RegisterMax(0)));
    assert_eq!(RegisterSpec::cumulative(10, -1).check(), Err(SpecError::RatedPerHour(-1)));
    let s = RegisterSpec { nominal_interval_ms: 0, ..kwh_register() };
    assert_eq!(s.check(), Err(SpecError::NominalInterval(0)));
    let inst = RegisterSpec { mode: RegisterMode::Instantaneous, register_max: 0, ..kwh_register() };
    assert_eq!(inst.check(), Ok(()));
}

#[test]
fn a_reverse_register_counts_export_by_the_cumulative_rules() {
    let reverse = RegisterSpec { mode: RegisterKind::CumulativeExport.into(), ..kwh_register() };
    assert_eq!(reverse.check(), Ok(()));
    // 1 234.5 → 1 240.25 kWh sent out over 15 min: 5.75 kWh of export, no consumption.
    let i = iv(pt(T0, 1_234_500_000), pt(T0 + 15 * MIN, 1_240_250_000), &reverse, &[]);
    assert_eq!((i.consumption, i.export), (0, 5_750_000));
    // Rollover as for a forward register: 99 998.5 → 1.3 kWh is 2.8 kWh.
    let i = iv(pt(T0, 99_998_500_000), pt(T0 + 15 * MIN, 1_300_000), &reverse, &[]);
    assert_eq!((i.consumption, i.export), (0, 2_800_000));
    assert!(i.flags.rollover);
    // A fall without rollover is a negative delta: excluded, nothing counted either way.
    let i = iv(pt(T0, 50 * M), pt(T0 + 15 * MIN, 40 * M), &reverse, &[]);
    assert!(i.excluded());
    assert_eq!((i.consumption, i.export), (0, 0));
}

#[test]
fn day_boundary_at_local_midnight() {
    // 23:45 → 00:15 Asia/Shanghai (15:45Z → 16:15Z), 10 kWh: 5 each side of midnight.
    let i = iv(pt(T0 - 15 * MIN, 0), pt(T0 + 15 * MIN, 10 * M), &kwh_register(), &[]);
    assert_eq!(allocate(&i, Period::Day), vec![(T0 - DAY_MS, 5 * M), (T0, 5 * M)]);
    assert_eq!(allocate(&i, Period::Hour), vec![(T0 - HOUR_MS, 5 * M), (T0, 5 * M)]);
    assert_eq!(allocate(&i, Period::Quarter), vec![(T0 - 15 * MIN, 5 * M), (T0, 5 * M)]);
    assert_eq!(allocate(&i, Period::Month), vec![(day_start_ms(parse_day("2026-11-01").unwrap()), 10 * M)]);
    // 23:30 → 00:15 and 10 micro-units: 6.67 | 3.33 → floors 6 | 3, the left-over micro-unit to
    // the larger remainder.
    let i = iv(pt(T0 - 30 * MIN, 0), pt(T0 + 15 * MIN, 10), &kwh_register(), &[]);
    assert_eq!(allocate(&i, Period::Day), vec![(T0 - DAY_MS, 7), (T0, 3)]);
    assert_eq!(allocate(&i, Period::Quarter), vec![(T0 - 30 * MIN, 4), (T0 - 15 * MIN, 3), (T0, 3)]);
}

#[test]
fn split_remainders_and_ties() {
    let three = Interval {
        start_ms: 0,
        end_ms: 3 * HOUR_MS,
        consumption: 2,
        export: 0,
        flags: IntervalFlags::default(),
        note: None,
    };
    let by_hour = |t: i64| (t / HOUR_MS, (t / HOUR_MS + 1) * HOUR_MS);
    // 2/3 each: ties go to the earlier segments.
    assert_eq!(split(&three, by_hour), vec![(0, 1), (1, 1), (2, 0)]);
    // Negative consumption: −10/3 = −3.33 → floors −4, remainders 2/3 → [−3, −3, −4].
    let neg = Interval { consumption: -10, ..three.clone() };
    assert_eq!(split(&neg, by_hour), vec![(0, -3), (1, -3), (2, -4)]);
    // Adjacent equal keys merge before sharing: two-hour key 0 gets 2/3 of 2 → 1.33 → 1; key 1: 0.67 → 1.
    let pairs = |t: i64| (t / (2 * HOUR_MS), (t / HOUR_MS + 1) * HOUR_MS);
    assert_eq!(split(&three, pairs), vec![(0, 1), (1, 1)]);
    let c5 = Interval { consumption: 5, ..three.clone() };
    assert_eq!(split(&c5, pairs), vec![(0, 3), (1, 2)]); // 3.33 | 1.67 → 3 | 1, +1 to the larger remainder
    // Unequal segments: 1 ms and 9 ms of 10 ms, 7 micro-units: 0.7 | 6.3 → 1 | 6.
    let ten = Interval { start_ms: 0, end_ms: 10, consumption: 7, ..three.clone() };
    assert_eq!(split(&ten, |t| if t < 1 { ('a', 1) } else { ('b', 100) }), vec![('a', 1), ('b', 6)]);
    // i64 extremes stay exact.
    let big = Interval { start_ms: i64::MIN, end_ms: i64::MAX, consumption: i64::MAX, ..three.clone() };
    let s = split(&big, |t| (t >= 0, if t < 0 { 0 } else { i64::MAX }));
    assert_eq!(s.iter().map(|x| i128::from(x.1)).sum::<i128>(), i128::from(i64::MAX));
    assert_eq!(s, vec![(false, i64::MAX / 2 + 1), (true, i64::MAX / 2)]);
}

#[test]
fn split_limits() {
    let long = Interval {
        start_ms: T0,
        end_ms: T0 + 2_000 * DAY_MS,
        consumption: M,
        export: 0,
        flags: IntervalFlags::default(),
        note: None,
    };
    assert!(
        matches!(try_allocate(&long, Period::Quarter), Err(SplitError::TooManySegments { limit, .. }) if limit == MAX_SEGMENTS)
    );
    assert_eq!(try_allocate(&long, Period::Day).unwrap().len(), 2_000);
    assert_eq!(try_allocate(&long, Period::Day).unwrap().iter().map(|s| s.1).sum::<i64>(), M);
    assert_eq!(try_split(&long, |t| ((), t)), Err(SplitError::SegmentEnd { at_ms: T0, end_ms: T0 }));
}

#[test]
#[should_panic(expected = "spans more than 100000 segments")]
fn allocate_panics_past_the_limit() {
    let long = Interval {
        start_ms: 0,
        end_ms: 1_100 * DAY_MS,
        consumption: 1,
        export: 0,
        flags: IntervalFlags::default(),
        note: None,
    };
    allocate(&long, Period::Quarter);
}
