//! Interval consumption from meter registers (表码差), and its exact allocation to periods.
//!
//! Readings are register values at payload timestamps (the collection time, not the arrival
//! time). Consumption between two readings of one meter is an [`Interval`]; the rules below are
//! exact integer arithmetic on micro-units and deterministic for any input order.
//!
//! # Cumulative registers (累计量, e.g. kWh)
//!
//! For two consecutive readings `prev` and `next` (`prev.ts_ms <= next.ts_ms`):
//!
//! - **Increase** (`next >= prev`, both `>= 0`): consumption = `next - prev` (a value at or above
//!   `register_max` is not rejected here, it can only never start a wrap).
//! - **Rollover** (翻转, the register wrapped past [`RegisterSpec::register_max`] to zero): when
//!   `next < prev`, the wrap delta `register_max - prev + next` is taken as the consumption if, and
//!   only if, the wrap is plausible:
//!   1. `register_max > 0` and both values lie in `[0, register_max)`;
//!   2. `prev >= 90 %` of `register_max` (`10 × prev >= 9 × register_max`);
//!   3. `next <= 10 %` of `register_max` (`10 × next <= register_max`);
//!   4. if the rated capacity is known (`rated_per_hour > 0`): the wrap delta is at most twice what
//!      the meter can record in the elapsed time plus 1 % of the register,
//!      `delta <= 2 × rated_per_hour × duration_ms / 3 600 000 + register_max / 100`, compared
//!      exactly (cross-multiplied in `i128`, saturating). The slack covers a rated capacity that is
//!      a little low and a short interval; a wrap that needs more is not a wrap.
//!
//!   [`IntervalFlags::rollover`] is set.
//! - **Negative delta** (负增量): any other decrease, or a negative register value, is not
//!   consumption. The interval gets consumption 0, [`IntervalFlags::negative_delta`] (the interval is
//!   *excluded*, see [`Interval::excluded`]) and a [`Interval::note`] saying what the register did and
//!   why it is not a rollover ("check the meter or record a replacement").
//!
//! # Meter replacement (换表)
//!
//! A [`Replacement`] at `at_ms` applies to the interval with `prev.ts_ms < at_ms <= next.ts_ms`
//! (so a reading taken exactly at `at_ms` is the new meter's). With replacements `r₁ … rₙ` in time
//! order (ties ordered by `(old_final, new_initial)`), the consumption is the sum of the parts
//! `(r₁.old_final − prev) + Σ (rᵢ₊₁.old_final − rᵢ.new_initial) + (next − rₙ.new_initial)`. Each
//! part is judged by the cumulative rules above over its own sub-duration (so an old meter that
//! wrapped just before its removal is a rollover, not a negative delta); a part that is a negative
//! delta makes the whole interval a negative delta (excluded, noted). [`IntervalFlags::replacement`]
//! is set. Old and new meters are assumed to share the [`RegisterSpec`].
//!
//! # Instantaneous registers (瞬时量, e.g. kW, t/h)
//!
//! The integral is the trapezoid `(prev + next) / 2 × duration_h`. A negative value is power
//! flowing the other way (export, 反向/上网), so consumption and export are kept apart: with both
//! ends ≥ 0 the whole trapezoid is consumption, with both ≤ 0 it is export, and with opposite signs
//! the line between them is split where it crosses zero — consumption `P² / (P + N) × duration_h
//! / 2` and export `N² / (P + N) × duration_h / 2` for magnitudes `P` (the positive end) and `N`
//! (the negative end). Each is computed exactly in `i128` and rounded to a micro-unit, half to
//! even (so the two may differ from the net trapezoid by a micro-unit). Replacements and rollover
//! do not apply. A result outside `i64` is excluded like a negative delta (noted).
//!
//! # Flags common to both modes
//!
//! - [`IntervalFlags::estimated`]: `duration > 2 × nominal_interval_ms` — a gap (缺测). The total
//!   is exact (from the registers); how it is placed in time inside the gap, by [`split`] and
//!   [`allocate`], is an estimate (evenly over time).
//! - [`IntervalFlags::manual`]: either end was entered by hand (手工填报).
//! - [`IntervalFlags::imported`]: either end was imported from a file.
//!
//! # Sequences
//!
//! [`intervals`] sorts its points by `(ts_ms, value, origin)` (origin ordered `Online < Manual <
//! Imported`), keeps the first point of each timestamp and ignores the others, then pairs
//! consecutive points. So the result does not depend on the input order, and late data are placed
//! by their payload timestamp. At most [`MAX_POINTS`] points and [`MAX_REPLACEMENTS`]
//! replacements per call (asserted).
//!
//! # Allocation
//!
//! [`split`] divides an interval's consumption over consecutive time segments in proportion to
//! their durations, exactly: the shares are floored and the remaining micro-units go one each to
//! the segments with the largest fractional remainders (ties to the earlier segment). The shares
//! always sum to the consumption, and each is within one micro-unit of its exact proportional
//! value. [`allocate`] does this for calendar periods.

use crate::calendar::{self, Period};
use trustmeter_types::{ReadingOrigin, RegisterKind};

/// The most points [`intervals`] accepts per call (asserted).
pub const MAX_POINTS: usize = 1_000_000;
/// The most replacements [`intervals`] and [`interval_between`] accept per call (asserted).
pub const MAX_REPLACEMENTS: usize = 10_000;
/// The most segments [`split`] and [`allocate`] produce per interval, counted before adjacent equal
/// keys merge: 100 000 quarters of an hour is about 1 041 days. A longer interval at a finer
/// granularity is an error ([`SplitError::TooManySegments`] from [`try_split`]; [`split`] panics).
pub const MAX_SEGMENTS: usize = 100_000;

/// Milliseconds per hour.
const HOUR_MS: i128 = 3_600_000;

/// One register reading of one meter: a value at a payload timestamp.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegisterPoint {
    /// Collection time, Unix milliseconds (UTC).
    pub ts_ms: i64,
    /// The register value in micro-units (a cumulative total, or an instantaneous rate).
    pub value: i64,
    /// How the value was obtained: online (在线采集), manual (手工填报) or imported.
    pub origin: ReadingOrigin,
}

/// How consumption is obtained from a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterMode {
    /// A totalising register (累计量): consumption is the difference of readings.
    Cumulative,
    /// An instantaneous rate (瞬时量, power or flow per hour): consumption is its time integral.
    Instantaneous,
    /// A totalising register of energy sent out (反向): the rules of `Cumulative`, and the
    /// difference is export, not consumption.
    CumulativeExport,
}

impl From<RegisterKind> for RegisterMode {
    fn from(kind: RegisterKind) -> Self {
        match kind {
            RegisterKind::Cumulative => RegisterMode::Cumulative,
            RegisterKind::Instantaneous => RegisterMode::Instantaneous,
            RegisterKind::CumulativeExport => RegisterMode::CumulativeExport,
        }
    }
}

/// What is known about a meter's register, for the consumption rules.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RegisterSpec {
    /// Cumulative or instantaneous.
    pub mode: RegisterMode,
    /// The register wraps to zero when it reaches this value (values lie in `[0, register_max)`).
    /// `<= 0`: unknown, so no decrease is ever taken as a rollover.
    pub register_max: i64,
    /// Rated capacity: the most the meter can plausibly record per hour, in micro-units (0 = unknown;
    /// negative is treated as unknown).
    pub rated_per_hour: i64,
    /// The nominal collection interval (15 min = `900_000`). `<= 0`: unknown, so no interval is
    /// flagged estimated.
    pub nominal_interval_ms: i64,
}

/// A problem with a [`RegisterSpec`], from [`RegisterSpec::check`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A cumulative register needs a positive register maximum for rollover detection.
    #[error("register_max must be positive for a cumulative register, got {0}")]
    RegisterMax(i64),
    /// The rated capacity cannot be negative (0 means unknown).
    #[error("rated_per_hour must be >= 0 (0 = unknown), got {0}")]
    RatedPerHour(i64),
    /// The nominal interval must be positive.
    #[error("nominal_interval_ms must be positive, got {0}")]
    NominalInterval(i64),
}

impl RegisterSpec {
    /// The specification of a cumulative register with the standard 15-minute interval.
    pub fn cumulative(register_max: i64, rated_per_hour: i64) -> Self {
        RegisterSpec {
            mode: RegisterMode::Cumulative,
            register_max,
            rated_per_hour,
            nominal_interval_ms: calendar::QUARTER_MS,
        }
    }

    /// Checks the fields. The consumption rules are defined for any spec (see the field docs), but
    /// a registry should only accept specs that pass.
    ///
    /// # Errors
    ///
    /// The first field out of range, as a [`SpecError`].
    pub fn check(&self) -> Result<(), SpecError> {
        if self.mode != RegisterMode::Instantaneous && self.register_max <= 0 {
            return Err(SpecError::RegisterMax(self.register_max));
        }
        if self.rated_per_hour < 0 {
            return Err(SpecError::RatedPerHour(self.rated_per_hour));
        }
        if self.nominal_interval_ms <= 0 {
            return Err(SpecError::NominalInterval(self.nominal_interval_ms));
        }
        Ok(())
    }
}

/// A meter replacement (换表): the old meter's final reading and the new meter's initial reading,
/// at a time.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Replacement {
    /// When the meters were swapped, Unix ms. A reading at exactly this time is the new meter's.
    pub at_ms: i64,
    /// The old meter's final register value (micro-units).
    pub old_final: i64,
    /// The new meter's initial register value (micro-units).
    pub new_initial: i64,
}

/// What happened in an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct IntervalFlags {
    /// The register wrapped to zero (翻转) and the wrap was plausible.
    pub rollover: bool,
    /// At least one meter replacement (换表) lies in the interval.
    pub replacement: bool,
    /// The register decreased without a plausible rollover (负增量), or a value was out of range:
    /// consumption is 0 and the interval is excluded (see [`Interval::note`]).
    pub negative_delta: bool,
    /// A gap (缺测): longer than twice the nominal interval. The total is exact; its placement in
    /// time inside the gap is estimated.
    pub estimated: bool,
    /// Either end was entered by hand (手工填报).
    pub manual: bool,
    /// Either end was imported from a file.
    pub imported: bool,
}

/// The consumption of one meter between two consecutive readings.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    /// The earlier reading's timestamp (Unix ms, inclusive).
    pub start_ms: i64,
    /// The later reading's timestamp (Unix ms, exclusive).
    pub end_ms: i64,
    /// Consumption in micro-units, ≥ 0 (0 when excluded).
    pub consumption: i64,
    /// Export in micro-units, ≥ 0: the negative part of an instantaneous register's integral
    /// (energy sent the other way). Always 0 for a cumulative register and when excluded.
    pub export: i64,
    /// What happened.
    pub flags: IntervalFlags,
    /// A human-readable reason when the interval is excluded (negative delta, overflow).
    pub note: Option<String>,
}

impl Interval {
    /// The interval is excluded from totals (its consumption is 0 and must be investigated).
    pub fn excluded(&self) -> bool {
        self.flags.negative_delta
    }
}

/// Formats micro-units as a decimal amount, trailing zeros trimmed (`99999900000` → `"99999.9"`).
fn units(micros: i128) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let (int, frac) = (abs / 1_000_000, abs % 1_000_000);
    if frac == 0 {
        format!("{sign}{int}")
    } else {
        let frac = format!("{frac:06}");
        format!("{sign}{int}.{}", frac.trim_end_matches('0'))
    }
}

/// The outcome of one cumulative part (a difference of two register values over a duration).
enum Part {
    /// Plain increase or a plausible wrap (`true`).
    Ok(i128, bool),
    /// Not consumption, with the reason.
    Bad(String),
}

/// Judges one cumulative part from `from` to `to` over `duration_ms` (see the module doc).
fn cumulative_part(from: i64, to: i64, duration_ms: i128, spec: &RegisterSpec) -> Part {
    let (from_w, to_w, max) = (i128::from(from), i128::from(to), i128::from(spec.register_max));
    if from < 0 || to < 0 {
        return Part::Bad(format!(
            "register went from {} to {} (a negative register value is not a reading); excluded, check the meter",
            units(from_w),
            units(to_w)
        ));
    }
    if to >= from {
        return Part::Ok(to_w - from_w, false);
    }
    let why = if spec.register_max <= 0 {
        "register maximum unknown".to_string()
    } else if from >= spec.register_max {
        format!("{} is not below the register maximum {}", units(from_w), units(max))
    } else if from_w * 10 < max * 9 {
        format!("{} is below 90 % of the register maximum {}", units(from_w), units(max))
    } else if to_w * 10 > max {
        format!("{} is above 10 % of the register maximum {}", units(to_w), units(max))
    } else {
        let delta = max - from_w + to_w;
        let rated = i128::from(spec.rated_per_hour);
        // delta <= 2 × rated × duration_ms / HOUR_MS + max / 100, times 100 × HOUR_MS.
        let budget = rated.saturating_mul(duration_ms).saturating_mul(200).saturating_add(max * HOUR_MS);
        if rated <= 0 || delta.saturating_mul(100 * HOUR_MS) <= budget {
            return Part::Ok(delta, true);
        }
        format!(
            "a wrap of {} exceeds twice the rated {} per hour over {} h plus 1 % of the register",
            units(delta),
            units(rated),
            units(duration_ms * 1_000_000 / HOUR_MS)
        )
    };
    Part::Bad(format!(
        "register went from {} to {} (no rollover: {why}); excluded, check the meter or record a replacement",
        units(from_w),
        units(to_w)
    ))
}

/// Rounds `num / den` (den > 0) to the nearest integer, half to even.
fn div_round_half_even(num: i128, den: i128) -> i128 {
    let q = num.div_euclid(den);
    let r = num.rem_euclid(den);
    match (2 * r).cmp(&den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// The replacements that apply to `(prev_ts, next_ts]`, from a slice sorted by
/// `(at_ms, old_final, new_initial)`.
fn applicable(sorted: &[Replacement], prev_ts: i64, next_ts: i64) -> &[Replacement] {
    let lo = sorted.partition_point(|r| r.at_ms <= prev_ts);
    let hi = sorted.partition_point(|r| r.at_ms <= next_ts);
    &sorted[lo..hi.max(lo)]
}

/// Sorts replacements by `(at_ms, old_final, new_initial)`.
fn sorted_replacements(replacements: &[Replacement]) -> Vec<Replacement> {
    assert!(
        replacements.len() <= MAX_REPLACEMENTS,
        "at most {MAX_REPLACEMENTS} replacements per call, got {}",
        replacements.len()
    );
    let mut v = replacements.to_vec();
    v.sort_by_key(|r| (r.at_ms, r.old_final, r.new_initial));
    v
}

/// The interval between two readings of a meter, with the replacements (any order; only those
/// with `prev.ts_ms < at_ms <= next.ts_ms` apply). See the module doc for the rules.
///
/// # Panics
///
/// If `next.ts_ms < prev.ts_ms`, or more than [`MAX_REPLACEMENTS`] replacements are given.
pub fn interval_between(
    prev: &RegisterPoint,
    next: &RegisterPoint,
    spec: &RegisterSpec,
    replacements: &[Replacement],
) -> Interval {
    assert!(prev.ts_ms <= next.ts_ms, "interval_between: prev.ts_ms {} > next.ts_ms {}", prev.ts_ms, next.ts_ms);
    let sorted = sorted_replacements(replacements);
    between_sorted(prev, next, spec, applicable(&sorted, prev.ts_ms, next.ts_ms))
}

/// [`interval_between`] with exactly the applicable replacements, in order.
fn between_sorted(prev: &RegisterPoint, next: &RegisterPoint, spec: &RegisterSpec, reps: &[Replacement]) -> Interval {
    let duration = i128::from(next.ts_ms) - i128::from(prev.ts_ms);
    let either = |o: ReadingOrigin| prev.origin == o || next.origin == o;
    let mut flags = IntervalFlags {
        estimated: spec.nominal_interval_ms > 0 && duration > 2 * i128::from(spec.nominal_interval_ms),
        manual: either(ReadingOrigin::Manual),
        imported: either(ReadingOrigin::Imported),
        ..IntervalFlags::default()
    };
    let mut note = None;
    let mut export: Result<i128, String> = Ok(0);
    let total: Result<i128, String> = match spec.mode {
        RegisterMode::Instantaneous => {
            let (consumed, exported) = instantaneous_parts(i128::from(prev.value), i128::from(next.value), duration);
            export = exported;
            consumed
        }
        RegisterMode::Cumulative | RegisterMode::CumulativeExport => {
            flags.replacement = !reps.is_empty();
            // Parts: (prev → r1.old_final), (r1.new_initial → r2.old_final), …, (rn.new_initial → next).
            let mut total = 0i128;
            let mut bad = None;
            let (mut from, mut from_ts) = (prev.value, prev.ts_ms);
            let ends = reps
                .iter()
                .map(|r| (r.old_final, r.at_ms, Some(r.new_initial)))
                .chain([(next.value, next.ts_ms, None)]);
            for (to, to_ts, restart) in ends {
                match cumulative_part(from, to, i128::from(to_ts) - i128::from(from_ts), spec) {
                    Part::Ok(d, wrapped) => {
                        total += d;
                        flags.rollover |= wrapped;
                    }
                    Part::Bad(why) => {
                        let why = if reps.is_empty() {
                            why
                        } else {
                            format!("with {} replacement(s) in the interval, {why}", reps.len())
                        };
                        bad = Some(why);
                        break;
                    }
                }
                if let Some(initial) = restart {
                    from = initial;
                    from_ts = to_ts;
                }
            }
            bad.map_or(Ok(total), Err)
        }
    };
    // A reverse register's difference is what was sent out.
    let (total, export) = match spec.mode {
        RegisterMode::CumulativeExport => (Ok(0), total),
        _ => (total, export),
    };
    let both = total.and_then(|t| export.map(|e| (t, e)));
    let (consumption, export) = match both {
        Ok((t, e)) => match (i64::try_from(t), i64::try_from(e)) {
            (Ok(c), Ok(e)) => (c, e),
            _ => {
                note = Some(format!(
                    "consumption {} or export {} overflows a 64-bit amount; excluded",
                    units(t),
                    units(e)
                ));
                flags.negative_delta = true;
                (0, 0)
            }
        },
        Err(why) => {
            flags.negative_delta = true;
            flags.rollover = false;
            note = Some(why);
            (0, 0)
        }
    };
    Interval { start_ms: prev.ts_ms, end_ms: next.ts_ms, consumption, export, flags, note }
}

/// The consumption and export (both ≥ 0, micro-units) of an instantaneous register going linearly
/// from `prev` to `next` over `duration` ms (see the module documentation); an error when a
/// product overflows `i128` (the result would be far outside `i64` anyway).
fn instantaneous_parts(prev: i128, next: i128, duration: i128) -> (Result<i128, String>, Result<i128, String>) {
    let overflow = || Err("the integral overflows a 64-bit amount; excluded".to_string());
    let area = |sum: i128| match sum.checked_mul(duration) {
        Some(p) => Ok(div_round_half_even(p, 2 * HOUR_MS)),
        None => overflow(),
    };
    if prev >= 0 && next >= 0 {
        return (area(prev + next), Ok(0));
    }
    if prev <= 0 && next <= 0 {
        return (Ok(0), area(-(prev + next)));
    }
    // Opposite signs: the part on each side of the zero crossing is a triangle.
    let (pos, neg) = if prev > 0 { (prev, -next) } else { (next, -prev) };
    let triangle = |side: i128| match side.checked_mul(side).and_then(|s| s.checked_mul(duration)) {
        Some(p) => Ok(div_round_half_even(p, 2 * HOUR_MS * (pos + neg))),
        None => overflow(),
    };
    (triangle(pos), triangle(neg))
}

/// The intervals between consecutive readings of one meter, in time order.
///
/// The points may come in any order: they are sorted by `(ts_ms, value, origin)` first. Of points
/// with equal timestamps only the first in that order (the lowest value, then `Online` before
/// `Manual` before `Imported`) is used; the others are ignored. Fewer than two distinct timestamps
/// give no interval.
///
/// # Panics
///
/// With more than [`MAX_POINTS`] points or [`MAX_REPLACEMENTS`] replacements.
pub fn intervals(points: &[RegisterPoint], spec: &RegisterSpec, replacements: &[Replacement]) -> Vec<Interval> {
    assert!(points.len() <= MAX_POINTS, "at most {MAX_POINTS} points per call, got {}", points.len());
    let reps = sorted_replacements(replacements);
    let mut pts: Vec<&RegisterPoint> = points.iter().collect();
    pts.sort_by_key(|p| (p.ts_ms, p.value, p.origin as u8));
    pts.dedup_by_key(|p| p.ts_ms);
    pts.windows(2).map(|w| between_sorted(w[0], w[1], spec, applicable(&reps, w[0].ts_ms, w[1].ts_ms))).collect()
}

/// Why [`try_split`] failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The interval spans more than [`MAX_SEGMENTS`] segments.
    #[error("interval {start_ms}..{end_ms} spans more than {limit} segments")]
    TooManySegments {
        /// Interval start (Unix ms).
        start_ms: i64,
        /// Interval end (Unix ms).
        end_ms: i64,
        /// The limit, [`MAX_SEGMENTS`].
        limit: usize,
    },
    /// The segment function returned an end not after the time it was asked about.
    #[error("segment function returned end {end_ms} for time {at_ms}; the end must be later")]
    SegmentEnd {
        /// The time asked about.
        at_ms: i64,
        /// The end returned.
        end_ms: i64,
    },
}

/// Splits an interval's consumption over consecutive time segments, in proportion to duration.
///
/// `segment(t)` returns the key of the segment containing `t` and that segment's exclusive end
/// (`> t`). Segments are visited from `start_ms` to `end_ms`; adjacent segments with equal keys
/// merge (before sharing). Shares are exact: floored, then the remaining micro-units one each to the
/// segments with the largest fractional remainders (ties to the earlier). They sum to the
/// consumption (also a negative one) and each is within one micro-unit of proportional. A
/// zero-length interval (or an inverted one, `end_ms < start_ms`) gives everything to the segment
/// at `start_ms`.
///
/// # Errors
///
/// [`SplitError::TooManySegments`] past [`MAX_SEGMENTS`] calls of `segment`;
/// [`SplitError::SegmentEnd`] if `segment` returns an end `<= t`.
pub fn try_split<K: Copy + Eq>(
    iv: &Interval,
    segment: impl FnMut(i64) -> (K, i64),
) -> Result<Vec<(K, i64)>, SplitError> {
    try_split_amount(iv, iv.consumption, segment)
}

/// [`try_split`] for another amount of the same interval (its export).
///
/// # Errors
///
/// As [`try_split`].
pub fn try_split_amount<K: Copy + Eq>(
    iv: &Interval,
    amount: i64,
    mut segment: impl FnMut(i64) -> (K, i64),
) -> Result<Vec<(K, i64)>, SplitError> {
    let (start, end) = (iv.start_ms, iv.end_ms);
    if end <= start {
        return Ok(vec![(segment(start).0, amount)]);
    }
    // (key, length in ms) of merged segments.
    let mut segs: Vec<(K, i128)> = Vec::new();
    let (mut t, mut calls) = (start, 0usize);
    while t < end {
        calls += 1;
        if calls > MAX_SEGMENTS {
            return Err(SplitError::TooManySegments { start_ms: start, end_ms: end, limit: MAX_SEGMENTS });
        }
        let (key, seg_end) = segment(t);
        if seg_end <= t {
            return Err(SplitError::SegmentEnd { at_ms: t, end_ms: seg_end });
        }
        let seg_end = seg_end.min(end);
        let len = i128::from(seg_end) - i128::from(t);
        match segs.last_mut() {
            Some((k, l)) if *k == key => *l += len,
            _ => segs.push((key, len)),
        }
        t = seg_end;
    }
    // One segment (the common case: an interval inside one period) takes the whole consumption,
    // which is what the sharing below gives it, without its divisions and allocations.
    if let [(key, _)] = segs[..] {
        return Ok(vec![(key, amount)]);
    }
    // |amount| <= 2^63 and total <= 2^64 - 1: every product fits in i128.
    let total = i128::from(end) - i128::from(start);
    let c = i128::from(amount);
    let mut shares: Vec<(K, i128, i128)> = segs
        .iter()
        .map(|&(k, len)| {
            let p = c * len;
            (k, p.div_euclid(total), p.rem_euclid(total))
        })
        .collect();
    let left = c - shares.iter().map(|s| s.1).sum::<i128>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(shares[i].2), i));
    for &i in order.iter().take(left as usize) {
        shares[i].1 += 1;
    }
    // Every share lies between 0 and the consumption (or the reverse), so it fits in i64.
    Ok(shares.into_iter().map(|(k, s, _)| (k, s as i64)).collect())
}

/// [`try_split`], panicking on error.
///
/// # Panics
///
/// Past [`MAX_SEGMENTS`] segments or if `segment` returns an end `<= t`.
pub fn split<K: Copy + Eq>(iv: &Interval, segment: impl FnMut(i64) -> (K, i64)) -> Vec<(K, i64)> {
    try_split(iv, segment).unwrap_or_else(|e| panic!("split: {e}"))
}

/// Splits an interval's consumption by calendar periods (Asia/Shanghai): `(period start, share)`
/// in time order, exactly as [`try_split`].
///
/// # Errors
///
/// [`SplitError::TooManySegments`] past [`MAX_SEGMENTS`] periods (e.g. more than about 1 041 days
/// by 15 minutes).
pub fn try_allocate(iv: &Interval, p: Period) -> Result<Vec<(i64, i64)>, SplitError> {
    try_split(iv, |t| (calendar::period_start(p, t), calendar::period_end(p, t)))
}

/// [`try_allocate`], panicking on error.
///
/// # Panics
///
/// Past [`MAX_SEGMENTS`] periods.
pub fn allocate(iv: &Interval, p: Period) -> Vec<(i64, i64)> {
    try_allocate(iv, p).unwrap_or_else(|e| panic!("allocate: {e}"))
}
