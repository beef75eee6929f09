//! Time series per 15 minutes, hour, day, month or year: of a meter or a location (derived from readings) or of an enterprise or a region (sums of consensus daily figures).

use super::*;

/// What a series is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One meter (derived from its readings).
    Meter(DeviceId),
    /// Meters of an enterprise under a location path prefix (derived).
    Location {
        /// The enterprise.
        org: UnifiedSocialCreditCode,
        /// Path segments, e.g. `["site-01", "stamping"]`.
        prefix: Vec<String>,
    },
    /// An enterprise (sum of its consensus daily figures).
    Org(UnifiedSocialCreditCode),
    /// The enterprises of a region (sum of their consensus daily figures).
    Region(Region),
}

/// A series request.
#[derive(Clone, Debug)]
pub struct SeriesRequest {
    /// What to sum.
    pub scope: Scope,
    /// Energy kind (required except for a meter, whose kind is its own).
    pub energy: Option<EnergyKind>,
    /// Unit (needed only when the kind appears in several units).
    pub unit: Option<Unit>,
    /// Requested period.
    pub period: Period,
    /// Days covered.
    pub range: DayRange,
    /// Most points before the period is coarsened.
    pub max_points: usize,
}

/// A fixed-point amount that JSON and CSV show as its exact decimal text (`"12.345600"`), the
/// way every other amount of the API is shown; kept as a number until it is written, so a long
/// series allocates no text per value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecimalText(pub Quantity);

impl Serialize for DecimalText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.decimal(&mut [0; Quantity::DECIMAL_MAX]))
    }
}

impl std::fmt::Display for DecimalText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One point of a series.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SeriesPoint {
    /// Period start (Unix ms).
    pub start_ms: i64,
    /// Period label in local time (`2026-11-21T08:15`, `2026-11-21T08`, `2026-11-21`, `2026-11`, `2026`).
    pub label: String,
    /// Consumption in the period.
    #[schema(value_type = String)]
    pub consumption: DecimalText,
    /// Its estimated part (from gaps).
    #[schema(value_type = String)]
    pub estimated: DecimalText,
    /// Its manual/imported part.
    #[schema(value_type = String)]
    pub manual: DecimalText,
    /// Energy exported in the period (negative power, reverse registers), not in consumption or
    /// standard coal.
    #[schema(value_type = String)]
    pub exported: DecimalText,
    /// Standard coal, equivalent value, kgce (absent where it cannot be computed).
    #[schema(value_type = Option<String>)]
    pub kgce_equivalent: Option<DecimalText>,
    /// Standard coal, equal value, kgce.
    #[schema(value_type = Option<String>)]
    pub kgce_equal_value: Option<DecimalText>,
    /// Proofs of the daily figures summed into this point (enterprise series only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proofs: Vec<String>,
}

/// A time series.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SeriesView {
    /// `meter`, `location`, `org` or `region`.
    pub scope: String,
    /// The meter id, location path, credit code or region code.
    pub id: String,
    /// The enterprise (meter, location and org scopes).
    pub org: Option<String>,
    /// Energy kind.
    pub energy: String,
    /// Unit of the amounts.
    pub unit: String,
    /// The period of the points.
    pub period: String,
    /// The period asked for.
    pub requested_period: String,
    /// Whether the period was coarsened to respect `max_points`.
    pub coarsened: bool,
    /// What was done and why (coarsening, missing standard coal, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `true`: computed on request from indexed readings (each reading is provable, the sum is not
    /// consensus); `false`: sums of consensus daily figures (each provable).
    pub derived: bool,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// Start of the range (Unix ms).
    pub from_ms: i64,
    /// End of the range (Unix ms, exclusive).
    pub to_ms: i64,
    /// The finalized height the series was computed at.
    pub height: u64,
    /// Meters read (derived series).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meters: Vec<String>,
    /// Readings read from the index (derived series).
    pub readings: usize,
    /// Enterprises summed (region series).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enterprises: Vec<String>,
    /// Total consumption over the range.
    pub total: String,
    /// Total export over the range.
    pub total_exported: String,
    /// Total standard coal, equivalent value, kgce.
    pub total_kgce_equivalent: Option<String>,
    /// Total standard coal, equal value, kgce.
    pub total_kgce_equal_value: Option<String>,
    /// The points, one per period in the range, oldest first.
    pub points: Vec<SeriesPoint>,
}

/// Sums of one period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bucket {
    pub(crate) consumption: i128,
    pub(crate) estimated: i128,
    pub(crate) manual: i128,
    pub(crate) exported: i128,
    pub(crate) kgce_eq: i128,
    pub(crate) kgce_ev: i128,
    pub(crate) kgce_missing: bool,
}

/// The next coarser period.
fn coarser(p: Period) -> Option<Period> {
    match p {
        Period::Quarter => Some(Period::Hour),
        Period::Hour => Some(Period::Day),
        Period::Day => Some(Period::Month),
        Period::Month => Some(Period::Year),
        Period::Year => None,
    }
}

/// Number of periods `p` covering `[from_ms, to_ms)`, without enumerating fixed-length ones.
fn period_count(p: Period, from_ms: i64, to_ms: i64) -> usize {
    match p.fixed_len_ms() {
        Some(len) => {
            let first = calendar::period_start(p, from_ms);
            ((to_ms - first + len - 1) / len).max(0) as usize
        }
        None => calendar::periods_between(p, from_ms, to_ms).count(),
    }
}

/// The period to use: `requested`, coarsened until the range has at most `max_points` periods.
fn choose_period(
    requested: Period,
    range: DayRange,
    max_points: usize,
    notes: &mut Vec<String>,
) -> Result<Period, Error> {
    let (from, to) = (range.from_ms(), range.to_ms());
    let mut p = requested;
    loop {
        let n = period_count(p, from, to);
        if n <= max_points {
            if p != requested {
                notes.push(format!(
                    "{} {} periods exceed max_points={max_points}: coarsened to {} ({n} points); raise max_points (at most {MAX_POINTS}) or narrow the range for {} data",
                    period_count(requested, from, to),
                    requested.as_str(),
                    p.as_str(),
                    requested.as_str()
                ));
            }
            return Ok(p);
        }
        p = coarser(p).ok_or_else(|| {
            limit(format!("even yearly points exceed max_points={max_points}; raise max_points or narrow the range"))
        })?;
    }
}

/// Standard coal of `micros` of `kind`/`unit` in `year`, both bases; `None` where not computable.
pub(crate) fn kgce(
    refs: Option<&ReferenceSet>,
    kind: EnergyKind,
    unit: Unit,
    micros: i64,
    year: i32,
) -> Option<(i64, i64)> {
    let refs = refs?;
    let eq = coal::to_kgce(refs, kind, unit, micros, ElectricityBasis::Equivalent, year, None).ok()?;
    let ev = coal::to_kgce(refs, kind, unit, micros, ElectricityBasis::EqualValue, year, None).ok()?;
    Some((eq.kgce_micros, ev.kgce_micros))
}

/// The equivalent-value and equal-value coefficients (kgce per unit) of `kind` in `unit` in
/// `year`, for [`coal::apply_coefficient`]: what [`kgce`] converts with, looked up once.
fn kgce_coefficients(
    refs: Option<&ReferenceSet>,
    kind: EnergyKind,
    unit: Unit,
    year: i32,
) -> Option<(Decimal, Decimal)> {
    let refs = refs?;
    let eq = coal::to_kgce(refs, kind, unit, 0, ElectricityBasis::Equivalent, year, None).ok()?;
    let ev = coal::to_kgce(refs, kind, unit, 0, ElectricityBasis::EqualValue, year, None).ok()?;
    Some((eq.coefficient, ev.coefficient))
}

/// What a share of an interval is: consumption (with the interval's estimated and manual marks)
/// or export.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShareOf {
    /// Export (the negative part of power, a reverse register), not consumption.
    pub(crate) export: bool,
    /// From a gap (its placement in time is estimated).
    pub(crate) estimated: bool,
    /// From an interval with a manual or imported end.
    pub(crate) manual: bool,
}

impl Bucket {
    /// Adds one share of an interval.
    pub(crate) fn add(&mut self, share: i64, of: ShareOf) {
        let share = i128::from(share);
        if of.export {
            self.exported += share;
            return;
        }
        self.consumption += share;
        if of.estimated {
            self.estimated += share;
        }
        if of.manual {
            self.manual += share;
        }
    }
}

/// Accumulates derived consumption of one meter into the buckets of `starts` (period starts of
/// `period` covering the range). Returns the number of readings read.
#[allow(clippy::too_many_arguments)]
pub(crate) fn derive_meter(
    state: &State,
    index: &Index,
    meter: &Meter,
    range: DayRange,
    period: Period,
    starts: &[i64],
    buckets: &mut [Bucket],
    budget: &mut usize,
) -> Result<usize, Error> {
    let (from_ms, to_ms) = (range.from_ms(), range.to_ms());
    let segment = |t: i64| {
        if t < from_ms {
            (None, from_ms)
        } else if t >= to_ms {
            (None, i64::MAX)
        } else {
            (Some(calendar::period_start(period, t)), calendar::period_end(period, t).min(to_ms))
        }
    };
    // The bucket of the previous share: intervals come in time order, so the next share's bucket
    // is almost always this one or the next (a binary search otherwise).
    let mut hint = 0usize;
    let add = |start: i64, share: i64, of: ShareOf| {
        let i = if starts.get(hint) == Some(&start) {
            hint
        } else if starts.get(hint + 1) == Some(&start) {
            hint + 1
        } else {
            let Ok(i) = starts.binary_search(&start) else { return };
            i
        };
        hint = i;
        buckets[i].add(share, of);
    };
    derive_meter_shares(state, index, meter, (from_ms, to_ms), segment, add, budget)
}

/// Derives one meter's consumption over `[from_ms, to_ms)` from its indexed readings with the
/// chain's interval rules (rollover, replacements of any age, gaps estimated, negative deltas
/// excluded) and splits each interval over the segments `segment` gives: for an instant, the key
/// of the segment holding it (`None` outside every segment of interest) and where that segment
/// ends. Each share goes to `add` with its key. The one derivation behind meter and location
/// series, location breakdowns and shift windows. Returns the number of readings read, charged to
/// `budget`.
pub(crate) fn derive_meter_shares<K: Copy + Eq>(
    state: &State,
    index: &Index,
    meter: &Meter,
    (from_ms, to_ms): (i64, i64),
    segment: impl FnMut(i64) -> (Option<K>, i64),
    add: impl FnMut(K, i64, ShareOf),
    budget: &mut usize,
) -> Result<usize, Error> {
    let points = meter_points(index, &meter.id, from_ms, to_ms, budget)?;
    let n = points.len();
    shares_of_points(state, index, meter, &points, segment, add)?;
    Ok(n)
}

/// [`derive_meter_shares`] over register points already read (with [`meter_points`]).
pub(crate) fn shares_of_points<K: Copy + Eq>(
    state: &State,
    index: &Index,
    meter: &Meter,
    points: &[RegisterPoint],
    mut segment: impl FnMut(i64) -> (Option<K>, i64),
    mut add: impl FnMut(K, i64, ShareOf),
) -> Result<(), Error> {
    let reps = replacements(state, index, &meter.id, points)?;
    let spec = accounting::register_spec(meter, &state.params.accounting);
    for iv in register::intervals(points, &spec, &reps) {
        if iv.excluded() || (iv.consumption == 0 && iv.export == 0) {
            continue;
        }
        let mut split = |amount| {
            register::try_split_amount(&iv, amount, &mut segment)
                .map_err(|e| internal(format!("meter {}: {e}", meter.id)))
        };
        let shares = if iv.consumption != 0 { split(iv.consumption)? } else { vec![] };
        let exports = if iv.export != 0 { split(iv.export)? } else { vec![] };
        let consumption =
            ShareOf { export: false, estimated: iv.flags.estimated, manual: iv.flags.manual || iv.flags.imported };
        let export = ShareOf { export: true, ..consumption };
        for (key, share, of) in shares
            .into_iter()
            .map(|(k, share)| (k, share, consumption))
            .chain(exports.into_iter().map(|(k, share)| (k, share, export)))
        {
            if let Some(k) = key {
                add(k, share, of);
            }
        }
    }
    Ok(())
}

/// The register points of a meter in `[from_ms, to_ms)` plus its neighbours just outside (which
/// the intervals across the edges need), charging `budget`.
pub(crate) fn meter_points(
    index: &Index,
    meter: &DeviceId,
    from_ms: i64,
    to_ms: i64,
    budget: &mut usize,
) -> Result<Vec<RegisterPoint>, Error> {
    let rows = index.points(meter, from_ms, to_ms, MAX_RANGE_RESULTS).map_err(internal)?;
    if rows.len() >= MAX_RANGE_RESULTS {
        return Err(limit(format!(
            "meter {meter} has more than {MAX_RANGE_RESULTS} readings in the range; narrow the range"
        )));
    }
    if rows.len() > *budget {
        return Err(limit(format!(
            "the query reads more than {MAX_DERIVED_READINGS} readings; narrow the range or the location"
        )));
    }
    *budget -= rows.len();
    let (before, after) = index.points_around(meter, from_ms, to_ms).map_err(internal)?;
    let point = |r: &ReadingPoint| RegisterPoint { ts_ms: r.timestamp_ms, value: r.value.micros(), origin: r.origin };
    let mut points = Vec::with_capacity(rows.len() + 2);
    points.extend(before.as_ref().map(point));
    points.extend(rows.iter().map(point));
    points.extend(after.as_ref().map(point));
    Ok(points)
}

/// A meter's replacements for the register rules between readings at `after_ms` and `upto_ms`
/// (`after_ms < at_ms <= upto_ms`): those in `indexed` (the index keeps all the chain recorded)
/// and those in the chain's late window (which the index may not have reached yet); oldest
/// first, each swap time once.
pub(crate) fn merge_replacements(
    state: &State,
    meter: &DeviceId,
    indexed: &[trustmeter_index::IndexedReplacement],
    (after_ms, upto_ms): (i64, i64),
) -> Vec<Replacement> {
    let applies = |at_ms: i64| after_ms < at_ms && at_ms <= upto_ms;
    let mut by_time: BTreeMap<i64, Replacement> = indexed
        .iter()
        .filter(|r| applies(r.at_ms))
        .map(|r| {
            (
                r.at_ms,
                Replacement { at_ms: r.at_ms, old_final: r.old_final.micros(), new_initial: r.new_initial.micros() },
            )
        })
        .collect();
    for r in state.progress(meter).map(|p| p.replacements).unwrap_or_default().iter().filter(|r| applies(r.at_ms)) {
        by_time.entry(r.at_ms).or_insert(Replacement {
            at_ms: r.at_ms,
            old_final: r.old_final,
            new_initial: r.new_initial,
        });
    }
    by_time.into_values().collect()
}

/// The time span `(first, last]` over which replacements apply to `points` (time order).
pub(crate) fn replacement_span(points: &[RegisterPoint]) -> (i64, i64) {
    match (points.first(), points.last()) {
        (Some(a), Some(b)) => (a.ts_ms, b.ts_ms),
        _ => (0, 0),
    }
}

/// A meter's replacements that apply between `points` (the index's and the late window's, see
/// [`merge_replacements`]); refused when more than the register rules take at once.
pub(crate) fn replacements(
    state: &State,
    index: &Index,
    meter: &DeviceId,
    points: &[RegisterPoint],
) -> Result<Vec<Replacement>, Error> {
    let span = replacement_span(points);
    let indexed = index.replacements(meter, span.0, span.1, register::MAX_REPLACEMENTS + 1).map_err(internal)?;
    let reps = merge_replacements(state, meter, &indexed, span);
    if reps.len() > register::MAX_REPLACEMENTS {
        return Err(limit(format!(
            "meter {meter} has more than {} replacements in the range; narrow the range",
            register::MAX_REPLACEMENTS
        )));
    }
    Ok(reps)
}

/// The meters under a location prefix whose energy a sum over the location counts: tariff
/// registers excluded (their total meter counts), and sub-meters whose master meter is under the
/// prefix too (the master counts them, as in the chain's daily figures). So the whole enterprise
/// (an empty prefix) sums what its daily figures sum, and a line under a workshop's master meter
/// still sums its own meters.
pub(crate) fn location_meters(state: &State, org: &UnifiedSocialCreditCode, prefix: &[String]) -> Vec<Meter> {
    let under: Vec<Meter> =
        state.meters().filter(|m| &m.owner == org && m.tariff.is_none() && m.location.0.starts_with(prefix)).collect();
    let ids: BTreeSet<DeviceId> = under.iter().map(|m| m.id.clone()).collect();
    under.into_iter().filter(|m| m.master.as_ref().is_none_or(|master| !ids.contains(master))).collect()
}

/// The one unit of `kind` among `units`, or `unit` if given; an error naming the choices otherwise.
fn pick_unit(kind: EnergyKind, unit: Option<Unit>, units: &BTreeSet<Unit>, what: &str) -> Result<Option<Unit>, Error> {
    if let Some(u) = unit {
        return Ok(Some(accounting::amount_unit(u)));
    }
    match units.len() {
        0 => Ok(None),
        1 => Ok(units.iter().next().copied()),
        _ => {
            let symbols: Vec<&str> = units.iter().map(|u| u.symbol()).collect();
            Err(bad(format!(
                "{what} has {} in several units ({}); add unit=<one of them>",
                energy_name(kind),
                symbols.join(", ")
            )))
        }
    }
}

/// A time series (see the module documentation for derived and consensus series).
pub fn series(state: &State, index: &Index, req: &SeriesRequest) -> Result<SeriesView, Error> {
    if req.max_points == 0 || req.max_points > MAX_POINTS {
        return Err(limit(format!("max_points={} must be between 1 and {MAX_POINTS}", req.max_points)));
    }
    let refs = accounting::reference_set(&state.params.accounting);
    let mut notes = vec![];
    let derived = matches!(req.scope, Scope::Meter(_) | Scope::Location { .. });
    if derived && req.range.days() > i64::from(MAX_DERIVED_RANGE_DAYS) {
        return Err(limit(format!(
            "meter and location series are derived from readings and span at most {MAX_DERIVED_RANGE_DAYS} days; narrow the range or use scope=org"
        )));
    }
    if !derived && req.period < Period::Day {
        return Err(bad(format!(
            "org and region series sum consensus daily figures, so their finest period is day (asked {}); for 15-minute or hourly data use scope=meter or scope=location",
            req.period.as_str()
        )));
    }
    let period = choose_period(req.period, req.range, req.max_points, &mut notes)?;
    let (from_ms, to_ms) = (req.range.from_ms(), req.range.to_ms());
    let starts: Vec<i64> = calendar::periods_between(period, from_ms, to_ms).collect();
    let mut buckets = vec![Bucket::default(); starts.len()];
    let mut proofs: Vec<Vec<String>> = vec![vec![]; starts.len()];
    let (scope_name, id, org, energy, unit);
    let mut meters_read = vec![];
    let mut readings = 0usize;
    let mut enterprises = vec![];
    match &req.scope {
        Scope::Meter(meter_id) => {
            let m = state
                .meter(meter_id)
                .ok_or_else(|| not_found(format!("meter {meter_id} is not registered; check the id")))?;
            if let Some(e) = req.energy
                && e != m.energy
            {
                return Err(bad(format!(
                    "meter {meter_id} measures {}, not {}; drop energy= or ask for another meter",
                    energy_name(m.energy),
                    energy_name(e)
                )));
            }
            let mut budget = MAX_DERIVED_READINGS;
            readings = derive_meter(state, index, &m, req.range, period, &starts, &mut buckets, &mut budget)?;
            meters_read.push(m.id.to_string());
            (scope_name, id, org, energy, unit) =
                ("meter", meter_id.to_string(), Some(m.owner.clone()), m.energy, accounting::amount_unit(m.unit));
        }
        Scope::Location { org: o, prefix } => {
            member(state, o)?;
            let kind = req.energy.ok_or_else(|| {
                bad("energy= is required for a location series (a location holds meters of several kinds)")
            })?;
            let all = location_meters(state, o, prefix);
            if all.is_empty() {
                return Err(not_found(format!(
                    "enterprise {o} has no meters under location {:?}; check the path (site/workshop/line/equipment)",
                    prefix.join("/")
                )));
            }
            let units: BTreeSet<Unit> =
                all.iter().filter(|m| m.energy == kind).map(|m| accounting::amount_unit(m.unit)).collect();
            let chosen = pick_unit(kind, req.unit, &units, &format!("location {}", prefix.join("/")))?;
            let chosen = chosen.ok_or_else(|| {
                not_found(format!("no {} meters under location {:?} of {o}", energy_name(kind), prefix.join("/")))
            })?;
            let ms: Vec<Meter> =
                all.into_iter().filter(|m| m.energy == kind && accounting::amount_unit(m.unit) == chosen).collect();
            if ms.len() > MAX_DERIVED_METERS {
                return Err(limit(format!(
                    "location {} has {} meters; a derived series reads at most {MAX_DERIVED_METERS}: give a deeper path",
                    prefix.join("/"),
                    ms.len()
                )));
            }
            let mut budget = MAX_DERIVED_READINGS;
            for m in ms {
                readings += derive_meter(state, index, &m, req.range, period, &starts, &mut buckets, &mut budget)?;
                meters_read.push(m.id.to_string());
            }
            (scope_name, id, org, energy, unit) = ("location", prefix.join("/"), Some(o.clone()), kind, chosen);
        }
        Scope::Org(o) => {
            member(state, o)?;
            let kind = req.energy.ok_or_else(|| bad("energy= is required for an enterprise series"))?;
            let chosen = consensus_unit(state, std::slice::from_ref(o), req, kind)?;
            sum_daily(state, o, req.range, kind, chosen, period, &starts, &mut buckets, Some(&mut proofs));
            (scope_name, id, org, energy, unit) = ("org", o.to_string(), Some(o.clone()), kind, chosen);
        }
        Scope::Region(r) => {
            let kind = req.energy.ok_or_else(|| bad("energy= is required for a region series"))?;
            let orgs: Vec<UnifiedSocialCreditCode> =
                enterprises_in(state, *r).into_iter().map(|o| o.id.clone()).collect();
            let chosen = consensus_unit(state, &orgs, req, kind)?;
            for o in &orgs {
                sum_daily(state, o, req.range, kind, chosen, period, &starts, &mut buckets, None);
            }
            enterprises = orgs.iter().map(|o| o.to_string()).collect();
            notes.push(
                "each enterprise's daily figures are provable: /v1/figures/daily?org=<credit code>&from=&to= lists them with their proof links"
                    .into(),
            );
            (scope_name, id, org, energy, unit) = ("region", r.0.to_string(), None, kind, chosen);
        }
    }
    // Standard coal of derived points, from each point's consumption, with each year's two
    // coefficients looked up once (a year of quarter hours is 35 040 points).
    if derived {
        let mut year_coefficients: Option<(i32, Option<(Decimal, Decimal)>)> = None;
        for (b, start) in buckets.iter_mut().zip(&starts) {
            if b.consumption == 0 {
                continue; // no standard coal to convert (and the conversion of zero is zero)
            }
            let year = calendar::month_of_day(calendar::day_number(*start)).0;
            let coefficients = match year_coefficients {
                Some((y, c)) if y == year => c,
                _ => {
                    let c = kgce_coefficients(refs, energy, unit, year);
                    year_coefficients = Some((year, c));
                    c
                }
            };
            let amount = b.consumption.clamp(0, i128::from(i64::MAX)) as i64;
            let converted = coefficients.and_then(|(eq, ev)| {
                Some((coal::apply_coefficient(amount, eq).ok()?, coal::apply_coefficient(amount, ev).ok()?))
            });
            match converted {
                Some((eq, ev)) => (b.kgce_eq, b.kgce_ev) = (i128::from(eq), i128::from(ev)),
                None => b.kgce_missing = true,
            }
        }
    }
    if buckets.iter().any(|b| b.kgce_missing) {
        notes.push(format!(
            "standard coal of {} in {} is not computable with reference set {} at some points; those points show none",
            energy_name(energy),
            unit.symbol(),
            state.params.accounting.reference
        ));
    }
    let missing = buckets.iter().any(|b| b.kgce_missing);
    let points: Vec<SeriesPoint> = starts
        .iter()
        .zip(buckets.iter())
        .zip(proofs)
        .map(|((start, b), proofs)| SeriesPoint {
            start_ms: *start,
            label: calendar::label(period, *start),
            consumption: decimal(b.consumption),
            estimated: decimal(b.estimated),
            manual: decimal(b.manual),
            exported: decimal(b.exported),
            kgce_equivalent: (!b.kgce_missing).then(|| decimal(b.kgce_eq)),
            kgce_equal_value: (!b.kgce_missing).then(|| decimal(b.kgce_ev)),
            proofs,
        })
        .collect();
    let total = |f: fn(&Bucket) -> i128| buckets.iter().map(f).sum::<i128>();
    Ok(SeriesView {
        scope: scope_name.into(),
        id,
        org: org.map(|o| o.to_string()),
        energy: energy_name(energy),
        unit: unit.symbol().into(),
        period: period.as_str().into(),
        requested_period: req.period.as_str().into(),
        coarsened: period != req.period,
        notes,
        derived,
        from: req.range.first_label(),
        to: req.range.last_label(),
        from_ms,
        to_ms,
        height: state.height,
        meters: meters_read,
        readings,
        enterprises,
        total: dec(total(|b| b.consumption)),
        total_exported: dec(total(|b| b.exported)),
        total_kgce_equivalent: (!missing).then(|| dec(total(|b| b.kgce_eq))),
        total_kgce_equal_value: (!missing).then(|| dec(total(|b| b.kgce_ev))),
        points,
    })
}

/// The unit a consensus series of `kind` sums: the one requested, or the only one present.
fn consensus_unit(
    state: &State,
    orgs: &[UnifiedSocialCreditCode],
    req: &SeriesRequest,
    kind: EnergyKind,
) -> Result<Unit, Error> {
    let mut units = BTreeSet::new();
    if req.unit.is_none() {
        for o in orgs {
            units.extend(
                state
                    .daily_range(o, req.range.from_day, req.range.to_day)
                    .filter(|(k, _)| k.energy == kind)
                    .map(|(k, _)| k.unit),
            );
        }
    }
    let default = kind.allowed_units().iter().copied().find(|u| !u.is_rate()).unwrap_or(Unit::KilowattHour);
    Ok(pick_unit(kind, req.unit, &units, "the range")?.unwrap_or(default))
}

/// Adds an enterprise's daily figures of `kind`/`unit` into the period buckets.
#[allow(clippy::too_many_arguments)]
fn sum_daily(
    state: &State,
    org: &UnifiedSocialCreditCode,
    range: DayRange,
    kind: EnergyKind,
    unit: Unit,
    period: Period,
    starts: &[i64],
    buckets: &mut [Bucket],
    mut proofs: Option<&mut Vec<Vec<String>>>,
) {
    for (k, d) in state.daily_range(org, range.from_day, range.to_day) {
        if k.energy != kind || k.unit != unit {
            continue;
        }
        let start = calendar::period_start(period, calendar::day_start_ms(k.day));
        let Ok(i) = starts.binary_search(&start) else { continue };
        let b = &mut buckets[i];
        b.consumption += i128::from(d.consumption.0);
        b.estimated += i128::from(d.estimated.0);
        b.manual += i128::from(d.manual.0);
        b.exported += i128::from(d.exported.0);
        b.kgce_eq += i128::from(d.kgce_equivalent.0);
        b.kgce_ev += i128::from(d.kgce_equal_value.0);
        b.kgce_missing |= d.kgce_missing.is_some();
        if let Some(p) = proofs.as_deref_mut() {
            p[i].push(proof_link(&k));
        }
    }
}

pub fn series_csv(v: &SeriesView) -> String {
    csv(
        &[
            "start_ms",
            "label",
            "consumption",
            "estimated",
            "manual",
            "exported",
            "kgce_equivalent",
            "kgce_equal_value",
            "unit",
            "derived",
        ],
        v.points.iter().map(|p| {
            vec![
                p.start_ms.to_string(),
                p.label.clone(),
                p.consumption.to_string(),
                p.estimated.to_string(),
                p.manual.to_string(),
                p.exported.to_string(),
                p.kgce_equivalent.map_or_else(String::new, |v| v.to_string()),
                p.kgce_equal_value.map_or_else(String::new, |v| v.to_string()),
                v.unit.clone(),
                v.derived.to_string(),
            ]
        }),
    )
}
