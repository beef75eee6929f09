//! Energy accounting inside the state machine (能耗核算): from recorded register readings to daily
//! figures per enterprise, energy kind and unit — consumption, its estimated and manual parts,
//! time-of-use tiers, standard coal by both electricity methods — the figures that feed reports and
//! rankings, so every validator agrees on them and each is provable against a state root.
//!
//! **How a reading becomes figures.** The chain keeps, per meter, the register points of the last
//! [`AccountingParams::late_window_ms`](trustmeter_types::AccountingParams) (at most
//! [`MAX_WINDOW_POINTS`]) in time order. A new point at `t` lands between its neighbours `a < t < b`
//! by its *own timestamp*, whatever order it arrived in: the allocation of interval `(a, b)` is
//! taken back out of the daily figures and those of `(a, t)` and `(t, b)` go in. An interval's
//! consumption ([`trustmeter_energy::register::interval_between`]: rollover, replacement,
//! negative delta excluded, gap estimated, manual marked) is split over Asia/Shanghai days and, for
//! electricity, over the tariff tiers of the enterprise's province, exactly (the shares sum to the
//! interval). So late data correct the days they fall in and everything summed from those days,
//! and the order readings arrive in never changes the figures.
//!
//! **Rounding.** Interval shares are exact integers (largest remainder). Standard coal is converted
//! once per daily figure from its total (not per share), rounding half to even to a micro-kgce.
//!
//! The point window is derived from recorded readings (and finds duplicates): identical on
//! every validator, one derived entry per point ([`StateKey::Point`]) stored with the state but
//! committed in no tree, so a meter's progress record stays small. Replacements come from
//! transactions and are committed.

use crate::keys::{KeyRange, POINT_HOUR_MS, point_hour};
use crate::state::{MeterProgress, State, StateKey, StateValue};
use trustmeter_energy::calendar;
use trustmeter_energy::coal::{self, ElectricityBasis};
use trustmeter_energy::reference::{self, ReferenceSet};
use trustmeter_energy::register::{self, Interval, RegisterMode, RegisterSpec, Replacement};
use trustmeter_energy::tou::{self, Tier};
use trustmeter_types::limits::{MAX_FUTURE_SKEW_MS, MAX_LATE_WINDOW_MS};
use trustmeter_types::{AccountingParams, DeviceId, EnergyKind, Flag, Meter, Quantity, RegisterKind, Unit};

/// Most register points the chain keeps per meter for late data (a week of 15-minute readings is
/// 672). When full, the oldest go first, and a reading older than the oldest kept point is too late.
pub const MAX_WINDOW_POINTS: usize = 4_096;

/// Most meter replacements a meter may have inside its late-data window: a further one is
/// refused (`limit_reached`) until readings move the window past the oldest. So a meter's
/// progress record stays small, and any span of readings carries a bounded number of them.
pub const MAX_REPLACEMENTS: usize = 16;

pub use trustmeter_schema::model::{DailyKey, DailyTotal, PointRec, ReplacementRec};

/// The unit consumption adds up in for a meter's unit (a rate integrates to an amount).
pub fn amount_unit(unit: Unit) -> Unit {
    match unit {
        Unit::Kilowatt => Unit::KilowattHour,
        Unit::TonnePerHour => Unit::Tonne,
        u => u,
    }
}

/// The register behaviour of a meter, for the interval rules.
pub fn register_spec(meter: &Meter, params: &AccountingParams) -> RegisterSpec {
    RegisterSpec {
        mode: match meter.register {
            RegisterKind::Cumulative => RegisterMode::Cumulative,
            RegisterKind::Instantaneous => RegisterMode::Instantaneous,
            RegisterKind::CumulativeExport => RegisterMode::CumulativeExport,
        },
        register_max: meter.register_max.micros(),
        rated_per_hour: meter.rated_per_hour.micros(),
        nominal_interval_ms: params.nominal_interval_ms,
    }
}

/// The chain's reference data set. A genesis naming an unknown set is refused by `node init`; if
/// one slips through, figures are still counted and standard coal is reported missing.
pub fn reference_set(params: &AccountingParams) -> Option<&'static ReferenceSet> {
    reference::builtin(&params.reference)
}

/// Where a new point at `ts` lands in a meter's window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Neighbours {
    /// The latest point strictly before `ts`.
    pub before: Option<PointRec>,
    /// The first and the last point at exactly `ts`, if any (several only when readings arrived
    /// in order with equal timestamps).
    pub at: Option<(PointRec, PointRec)>,
    /// The earliest point strictly after `ts`.
    pub after: Option<PointRec>,
}

impl Neighbours {
    /// The point a new point at `ts` follows in time: the last one at `ts`, else the one before.
    pub fn previous(&self) -> Option<PointRec> {
        self.at.map(|(_, last)| last).or(self.before)
    }
}

/// Most time segments a meter's window points are looked for in: the oldest point's, and the
/// hours of the late window plus the future skew (7 days + 2 minutes: 170 by default; a genesis
/// allows at most 31 days + 1 hour) with a partial hour at each end.
const MAX_POINT_SEGMENTS: usize = 3 + ((MAX_LATE_WINDOW_MS + MAX_FUTURE_SKEW_MS) / POINT_HOUR_MS) as usize;

/// The time segments, oldest first and each inside one hour ([`point_hour`]), that hold every
/// point of a meter's window: points are stored hour by hour (see `keys`), so a meter's points
/// are read hour by hour.
///
/// Why these are enough: whenever a point is added, the window drops every point older than the
/// block's time minus the late window except the newest of them ([`prune`]), and no point is
/// later than its block's time plus the future skew. So every point but the oldest is at or after
/// `last_timestamp − late window − skew`; the oldest point (kept as its successor's predecessor)
/// can be any age and is looked for at its own time.
fn point_segments(state: &State, progress: &MeterProgress) -> Vec<(i64, i64)> {
    point_segments_with(state, progress, None)
}

/// [`point_segments`] of a window that has gained a point at `added` since `progress` last
/// described it (the window's latest time and the span it implies are the ones before).
fn point_segments_with(state: &State, progress: &MeterProgress, added: Option<i64>) -> Vec<(i64, i64)> {
    let mut segments = if progress.window_points == 0 { vec![] } else { window_segments(state, progress) };
    if let Some(t) = added {
        let at = segments.partition_point(|&(_, to)| to <= t);
        if segments.get(at).is_none_or(|&(from, _)| from > t) {
            segments.insert(at, (t, t.saturating_add(1)));
        }
    }
    segments
}

fn window_segments(state: &State, progress: &MeterProgress) -> Vec<(i64, i64)> {
    let span = state.params.accounting.late_window_ms.saturating_add(state.params.max_future_skew_ms);
    let oldest = progress.window_oldest_ms;
    let end = progress.last_timestamp_ms.saturating_add(1);
    let recent = progress.last_timestamp_ms.saturating_sub(span).max(oldest);
    let mut segments = Vec::with_capacity(2 + (span / POINT_HOUR_MS) as usize + 2);
    if oldest < recent {
        segments.push((oldest, oldest + 1));
    }
    let mut from = recent;
    while from < end {
        let to = point_hour(from).saturating_add(1).saturating_mul(POINT_HOUR_MS).min(end);
        segments.push((from, to));
        from = to;
    }
    debug_assert!(segments.len() <= MAX_POINT_SEGMENTS, "the genesis bounds the late window and the skew");
    segments
}

/// A meter's window points with times in `[from, to)`: the first `limit` in time then arrival
/// order, or the last `limit` in reverse order. One range read per hour visited, stopping as soon
/// as `limit` are found.
fn scan_points(
    state: &State,
    meter: &DeviceId,
    progress: &MeterProgress,
    (from, to): (i64, i64),
    reverse: bool,
    limit: usize,
) -> Vec<(StateKey, PointRec)> {
    scan_segments(state, meter, point_segments(state, progress), (from, to), reverse, limit)
}

/// [`scan_points`] over the given segments.
fn scan_segments(
    state: &State,
    meter: &DeviceId,
    segments: Vec<(i64, i64)>,
    (from, to): (i64, i64),
    reverse: bool,
    limit: usize,
) -> Vec<(StateKey, PointRec)> {
    let clipped = segments.into_iter().filter_map(|(a, b)| {
        let (a, b) = (a.max(from), b.min(to));
        (a < b).then_some((a, b))
    });
    let clipped: Vec<(i64, i64)> = if reverse { clipped.rev().collect() } else { clipped.collect() };
    let mut found = Vec::new();
    for (a, b) in clipped {
        if found.len() >= limit {
            break;
        }
        for (k, v) in state.scan(&KeyRange::points(meter, a, b), reverse, limit - found.len()) {
            if let StateValue::Point(p) = v {
                found.push((k, p));
            }
        }
    }
    found
}

/// The one point of a meter's window at the start (`reverse` false) or end of `[from, to)`.
fn edge(
    state: &State,
    meter: &DeviceId,
    progress: &MeterProgress,
    range: (i64, i64),
    reverse: bool,
) -> Option<PointRec> {
    scan_points(state, meter, progress, range, reverse, 1).pop().map(|(_, p)| p)
}

/// A meter's whole window, in time then arrival order.
pub fn window(state: &State, meter: &DeviceId, progress: &MeterProgress) -> Vec<PointRec> {
    scan_points(state, meter, progress, (i64::MIN, i64::MAX), false, MAX_WINDOW_POINTS + 1)
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// The points of a meter's window at exactly `ts`, in arrival order (several only when readings
/// arrived in order with equal timestamps; at most the window's size). One range read.
pub fn points_at(state: &State, meter: &DeviceId, ts: i64) -> Vec<PointRec> {
    let here = KeyRange::points(meter, ts, ts.saturating_add(1));
    state
        .scan(&here, false, MAX_WINDOW_POINTS + 1)
        .into_iter()
        .filter_map(|(_, v)| match v {
            StateValue::Point(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// Finds the neighbours of `ts` in a meter's window: for a point after every other (the usual
/// case) one range read; otherwise a few, one per hour walked to the nearest point on each side.
pub fn neighbours(state: &State, meter: &DeviceId, progress: &MeterProgress, ts: i64) -> Neighbours {
    if progress.window_points == 0 {
        return Neighbours::default();
    }
    let everything = (i64::MIN, i64::MAX);
    if ts > progress.last_timestamp_ms {
        // After the meter's latest reading, which is the newest point of the window.
        return Neighbours { before: edge(state, meter, progress, everything, true), ..Default::default() };
    }
    let before = edge(state, meter, progress, (i64::MIN, ts), true);
    let here = (ts, ts.saturating_add(1));
    let at = edge(state, meter, progress, here, false).zip(edge(state, meter, progress, here, true));
    let after = if ts == i64::MAX { None } else { edge(state, meter, progress, (ts + 1, i64::MAX), false) };
    Neighbours { before, at, after }
}

/// The interval between two points of a meter, with the meter's replacements.
pub fn interval(
    meter: &Meter,
    params: &AccountingParams,
    reps: &[ReplacementRec],
    a: &PointRec,
    b: &PointRec,
) -> Interval {
    let reps: Vec<Replacement> = reps.iter().map(ReplacementRec::replacement).collect();
    register::interval_between(&a.point(), &b.point(), &register_spec(meter, params), &reps)
}

/// Records a new register point of `meter` in `progress` (not yet written back) and moves the
/// daily figures accordingly. Returns the accounting's own findings (an excluded negative delta).
/// `n` is [`neighbours`] of the point's time, taken by the caller before this reading changed
/// anything (it has checked with them that no point has the same timestamp; finding them again
/// here would cost four more range reads per reading).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_point(
    state: &mut State,
    meter: &Meter,
    region: u32,
    progress: &mut MeterProgress,
    p: PointRec,
    n: Neighbours,
    block_ts: i64,
    flagged: bool,
) -> Vec<Flag> {
    let params = state.params.accounting.clone();
    debug_assert!(n == neighbours(state, &meter.id, progress, p.ts_ms), "the caller's neighbours are current");
    debug_assert!(n.at.is_none() || n.after.is_none(), "caller refuses a late point at an occupied instant");
    let prev = n.previous();
    let mut flags = vec![];
    if let (Some(a), Some(b)) = (&prev, &n.after) {
        let old = interval(meter, &params, &progress.replacements, a, b);
        apply_interval(state, meter, region, &old, -1);
    }
    let late = n.after.is_some();
    if let Some(b) = &n.after {
        flags.push(Flag {
            code: "late_reading".into(),
            rule: "accounting".into(),
            reason: format!(
                "reading time {} ms is before the meter's reading at {} ms: placed by its own time, and the figures of the days it falls in were revised",
                p.ts_ms, b.ts_ms
            ),
        });
    }
    if let Some(a) = &prev {
        let iv = interval(meter, &params, &progress.replacements, a, &p);
        if iv.flags.negative_delta {
            flags.push(Flag {
                code: "negative_delta_excluded".into(),
                rule: "accounting".into(),
                reason: trustmeter_types::receipt::bounded_message(
                    iv.note.clone().unwrap_or_else(|| "register decreased; interval excluded".into()),
                ),
            });
        }
        apply_interval(state, meter, region, &iv, 1);
    }
    if let Some(b) = &n.after {
        let iv = interval(meter, &params, &progress.replacements, &p, b);
        apply_interval(state, meter, region, &iv, 1);
    }
    // The arrival ordinal orders points at equal times; `accepted` counts this reading already.
    let before = progress.clone();
    state.put(StateKey::Point(meter.id.clone(), p.ts_ms, progress.accepted), StateValue::Point(p));
    if progress.window_points == 0 || p.ts_ms < progress.window_oldest_ms {
        progress.window_oldest_ms = p.ts_ms;
    }
    progress.window_points += 1;
    // Count the point in its day.
    let key = daily_key(meter, calendar::day_number(p.ts_ms));
    let mut d = daily(state, &key, &params);
    d.points += 1;
    if block_ts.saturating_sub(p.ts_ms) <= params.timeliness_ms {
        d.on_time += 1;
    }
    if late {
        d.late += 1;
    }
    if flagged || !flags.is_empty() {
        d.flagged += 1;
    }
    put_daily(state, key, d);
    let segments = point_segments_with(state, &before, Some(p.ts_ms));
    prune(state, &meter.id, progress, segments, block_ts - params.late_window_ms);
    if p.ts_ms > progress.last_timestamp_ms || progress.accepted == 1 {
        progress.last_timestamp_ms = p.ts_ms;
    }
    flags
}

/// Records a meter replacement and re-allocates the interval it falls in.
pub(crate) fn record_replacement(
    state: &mut State,
    meter: &Meter,
    progress: &mut MeterProgress,
    rep: ReplacementRec,
    block_ts: i64,
) {
    let params = state.params.accounting.clone();
    let region = state.organisation(&meter.owner).map_or(0, |o| o.region);
    let n = neighbours(state, &meter.id, progress, rep.at_ms);
    // A replacement at exactly a point's time belongs to the interval ending there.
    let (a, b) = match n.at {
        Some((first, _)) => (n.before, Some(first)),
        None => (n.before, n.after),
    };
    if let (Some(a), Some(b)) = (&a, &b) {
        let old = interval(meter, &params, &progress.replacements, a, b);
        apply_interval(state, meter, region, &old, -1);
    }
    let at = progress.replacements.partition_point(|r| r.at_ms <= rep.at_ms);
    progress.replacements.insert(at, rep);
    if let (Some(a), Some(b)) = (&a, &b) {
        let new = interval(meter, &params, &progress.replacements, a, b);
        apply_interval(state, meter, region, &new, 1);
    }
    let segments = point_segments(state, progress);
    prune(state, &meter.id, progress, segments, block_ts - params.late_window_ms);
}

/// Drops points older than `cutoff` (keeping the last one before it, which a late point right
/// after the cutoff needs as its predecessor) and beyond [`MAX_WINDOW_POINTS`]; drops replacements
/// older than the oldest kept point. `segments` hold every point of the window
/// ([`point_segments`]); deleted points are simply gone from them.
fn prune(state: &mut State, meter: &DeviceId, progress: &mut MeterProgress, segments: Vec<(i64, i64)>, cutoff: i64) {
    if progress.window_points == 0 {
        return;
    }
    let mut removed = 0u32;
    if progress.window_oldest_ms < cutoff {
        // The window never holds more than MAX_WINDOW_POINTS + 1 points (one added per call).
        let old = scan_segments(state, meter, segments.clone(), (i64::MIN, cutoff), false, MAX_WINDOW_POINTS + 1);
        for (k, _) in old.iter().take(old.len().saturating_sub(1)) {
            state.delete(k);
            removed += 1;
        }
    }
    progress.window_points -= removed;
    let excess = (progress.window_points as usize).saturating_sub(MAX_WINDOW_POINTS);
    if excess > 0 {
        for (k, _) in scan_segments(state, meter, segments.clone(), (i64::MIN, i64::MAX), false, excess) {
            state.delete(&k);
            progress.window_points -= 1;
        }
    }
    if removed > 0 || excess > 0 {
        let first = scan_segments(state, meter, segments, (i64::MIN, i64::MAX), false, 1);
        progress.window_oldest_ms = first.first().map_or(0, |(_, p)| p.ts_ms);
    }
    let oldest = if progress.window_points > 0 { progress.window_oldest_ms } else { i64::MIN };
    progress.replacements.retain(|r| r.at_ms > oldest);
    // Execution refuses a replacement beyond the bound, so none is ever dropped here.
    debug_assert!(progress.replacements.len() <= MAX_REPLACEMENTS, "replacements beyond the bound");
    debug_assert!(progress.window_points as usize <= MAX_WINDOW_POINTS);
}

/// The earliest timestamp an *out-of-order* point of this meter may have (one older than the
/// meter's latest): inside the late window, and after the oldest point the chain still holds once
/// older ones have been pruned (before it, the new point's predecessor is unknown). In-order
/// points are never too old: a gateway back from a long outage sends its backlog in order.
pub fn earliest_admissible(progress: &MeterProgress, block_ts: i64, params: &AccountingParams) -> i64 {
    let window = block_ts.saturating_sub(params.late_window_ms);
    let pruned = u64::from(progress.window_points) < progress.accepted;
    if pruned && progress.window_points > 0 { window.max(progress.window_oldest_ms.saturating_add(1)) } else { window }
}

fn daily_key(meter: &Meter, day: i32) -> DailyKey {
    DailyKey { org: meter.owner.clone(), day, energy: meter.energy, unit: amount_unit(meter.unit) }
}

fn daily(state: &State, key: &DailyKey, params: &AccountingParams) -> DailyTotal {
    state.daily(key).unwrap_or_else(|| DailyTotal::empty(&params.reference))
}

fn put_daily(state: &mut State, key: DailyKey, d: DailyTotal) {
    state.put(StateKey::Daily(key), StateValue::Daily(d));
}

/// Adds (`sign` = 1) or takes back (`sign` = -1) an interval's allocation to the daily figures.
/// `region` is the meter owner's (its time-of-use schedule).
fn apply_interval(state: &mut State, meter: &Meter, region: u32, iv: &Interval, sign: i64) {
    // A tariff register (费率寄存器) counts part of its total register's energy: adding it too
    // would count that electricity twice. It is kept for reconciliation, not summed. Likewise a
    // sub-meter (分表): its master meter's consumption includes it, so the enterprise's figures
    // count it once, through the master; the master/sub-meter balance compares the two. The rule
    // reads only the meter's own record (its master never changes), so an interval taken back
    // later is taken back exactly as it was added.
    if meter.tariff.is_some() || meter.master.is_some() {
        return;
    }
    let params = state.params.accounting.clone();
    let refs = reference_set(&params);
    let schedule = match (meter.energy, refs) {
        (EnergyKind::Electricity, Some(r)) => tou::schedule_for(r, region, iv.start_ms),
        _ => None,
    };
    let segment = |t: i64| {
        let day = calendar::day_number(t);
        let day_end = calendar::day_start_ms(day + 1);
        match schedule {
            Some(s) => ((day, Some(s.tier_at(t))), day_end.min(s.next_change_after(t))),
            None => ((day, None::<Tier>), day_end),
        }
    };
    // An interval too long to split (years between two readings) goes whole to the day it ends
    // in, untiered: a deterministic answer instead of a panic, and it is estimated anyway.
    let shares = register::try_split(iv, segment).unwrap_or_else(|_| {
        let end_day = calendar::day_number(iv.end_ms);
        vec![((end_day, None), iv.consumption)]
    });
    if iv.export != 0 {
        let exported = register::try_split_amount(iv, iv.export, segment).unwrap_or_else(|_| {
            let end_day = calendar::day_number(iv.end_ms);
            vec![((end_day, None), iv.export)]
        });
        for ((day, _), share) in exported {
            let key = daily_key(meter, day);
            let mut d = daily(state, &key, &params);
            d.exported.0 += sign * share;
            put_daily(state, key, d);
        }
    }
    for ((day, tier), share) in shares {
        let key = daily_key(meter, day);
        let mut d = daily(state, &key, &params);
        let amount = sign * share;
        d.consumption.0 += amount;
        if iv.flags.estimated {
            d.estimated.0 += amount;
        }
        if iv.flags.manual || iv.flags.imported {
            d.manual.0 += amount;
        }
        if iv.flags.negative_delta {
            d.excluded_intervals += sign as i32;
        }
        if let Some(t) = tier {
            d.tiers[t as usize].0 += amount;
            d.tou_schedule = schedule.map(|s| s.id.clone());
        }
        convert(&mut d, &key, refs);
        put_daily(state, key, d);
    }
}

/// Recomputes a daily figure's standard coal from its total.
fn convert(d: &mut DailyTotal, key: &DailyKey, refs: Option<&ReferenceSet>) {
    let Some(refs) = refs else {
        d.kgce_missing = Some(format!("reference data set {} is not built in", d.reference));
        return;
    };
    let (year, _) = calendar::month_of_day(key.day);
    let eq = coal::to_kgce(refs, key.energy, key.unit, d.consumption.0, ElectricityBasis::Equivalent, year, None);
    let ev = coal::to_kgce(refs, key.energy, key.unit, d.consumption.0, ElectricityBasis::EqualValue, year, None);
    match (eq, ev) {
        (Ok(a), Ok(b)) => {
            d.kgce_equivalent = Quantity(a.kgce_micros);
            d.kgce_equal_value = Quantity(b.kgce_micros);
            d.kgce_missing = None;
        }
        (Err(e), _) | (_, Err(e)) => {
            d.kgce_missing = Some(e.to_string());
        }
    }
}
