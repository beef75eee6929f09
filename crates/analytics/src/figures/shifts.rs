//! Per-shift and per-team unit consumption (班次单耗、班组单耗): each shift instance of an
//! enterprise's calendar over a range of days — its energy per kind in the shift's window, derived
//! from the enterprise's indexed readings with the chain's interval rules (the derivation of meter
//! and location series, [`derive_meter_shares`]: an enterprise-wide total is the sum over its
//! meters), standard coal on both bases, the output the enterprise recorded per product and the
//! unit consumption (kgce per unit of product, kWh per unit for electricity) — and a comparison
//! per shift and per team over the range with the best and worst.
//!
//! The shifts and the output are consensus state (`ShiftCalendar`, `ShiftOutput`, each provable);
//! the energy in a window is derived (`derived: true`): each reading is provable, the sums are not
//! consensus. An interval between two readings that crosses a shift boundary is shared between the
//! shifts by time, as intervals are shared between periods everywhere else.
//!
//! Unit consumption of an instance is its whole energy over each product's output (no allocation
//! between products, as for 单位产品能耗 of the month). Over a group of instances (a shift, a team,
//! the range) it is the energy of the instances that recorded the product over their summed output
//! (a weighted mean); instances without output are left out of it, not counted as zero. The
//! comparison counts complete instances only (ended at the finalized block's time).

use super::*;
use trustmeter_types::shifts::{ShiftCalendar, date_label, date_of_day};

/// A shifts request.
#[derive(Clone, Debug)]
pub struct ShiftsRequest {
    /// The enterprise.
    pub org: UnifiedSocialCreditCode,
    /// The production days whose shift instances are listed (a night shift of the last day ends
    /// on the day after it).
    pub range: DayRange,
    /// Only this energy kind (its standard coal is then the only standard coal).
    pub energy: Option<EnergyKind>,
}

/// Energy of one kind and unit in a shift window, or summed over instances.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftEnergy {
    /// Energy kind (`electricity`, `natural_gas`, …).
    pub energy: String,
    /// Unit of the amounts (`kWh`, `Nm3`, …).
    pub unit: String,
    /// Consumption (exact decimal).
    pub consumption: String,
    /// Its part from gaps, whose placement in time is estimated.
    pub estimated: String,
    /// Its part from manual or imported readings.
    pub manual: String,
    /// Energy exported the other way, not in consumption or standard coal.
    pub exported: String,
    /// Standard coal, equivalent value (当量值), kgce; `null` when the reference set has no
    /// coefficient for this kind and unit.
    pub kgce_equivalent: Option<String>,
    /// Standard coal, equal value (等价值), kgce.
    pub kgce_equal_value: Option<String>,
}

/// One product's output in a shift instance, with the instance's unit consumption.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftProductView {
    /// Product name, as recorded (the monthly report's names).
    pub product: String,
    /// Unit of output (`辆`, `t`, …).
    pub unit: String,
    /// Output (exact decimal).
    pub quantity: String,
    /// Revision of the record (1, then +1 per correction).
    pub revision: u32,
    /// Height of the block that recorded this revision.
    pub height: u64,
    /// kgce (equivalent value) per unit of output: the instance's whole standard coal over this
    /// product's output (单耗); `null` for zero output.
    pub kgce_per_unit_equivalent: Option<String>,
    /// kgce (equal value) per unit of output.
    pub kgce_per_unit_equal_value: Option<String>,
    /// kWh of electricity per unit of output; `null` for zero output or without electricity.
    pub kwh_per_unit: Option<String>,
}

/// One shift instance: a (day, shift) of the calendar in force that day.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftInstanceView {
    /// The production day the shift starts on, `YYYY-MM-DD` (Asia/Shanghai).
    pub day: String,
    /// The shift's name (班次).
    pub shift: String,
    /// The team that worked it (班组): as the output record says, else the calendar's rotation;
    /// `null` when neither names one.
    pub team: Option<String>,
    /// Where `team` comes from: `output` (stated when the output was recorded), `rotation`, or
    /// `null`.
    pub team_source: Option<String>,
    /// Start of the window (Unix ms).
    pub start_ms: i64,
    /// End of the window (Unix ms, exclusive).
    pub end_ms: i64,
    /// Start in local time, `2026-11-21T22:00`.
    pub start: String,
    /// End in local time, `2026-11-22T06:00`.
    pub end: String,
    /// Whether the shift had ended at the finalized block's time (a running shift's figures are
    /// partial, and it is left out of the comparison).
    pub complete: bool,
    /// First day of the calendar version it belongs to, `YYYY-MM-DD`.
    pub calendar_from: String,
    /// Energy per kind and unit in the window (derived from readings).
    pub energy: Vec<ShiftEnergy>,
    /// Standard coal of every kind with a coefficient, equivalent value, kgce.
    pub kgce_equivalent: String,
    /// Standard coal of every kind with a coefficient, equal value, kgce.
    pub kgce_equal_value: String,
    /// Electricity consumed in the window, kWh (`null` without electricity meters).
    pub electricity_kwh: Option<String>,
    /// Whether the enterprise recorded output for this instance.
    pub output_recorded: bool,
    /// Height of the block of the latest output record.
    pub output_height: Option<u64>,
    /// The latest output record's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Output per product with unit consumption (empty without a record).
    pub products: Vec<ShiftProductView>,
}

/// One product over a group of instances.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftGroupProduct {
    /// Product name.
    pub product: String,
    /// Unit of output.
    pub unit: String,
    /// Output summed over the group's instances that recorded it.
    pub quantity: String,
    /// How many instances recorded it.
    pub instances: usize,
    /// Standard coal of those instances, equivalent value, kgce.
    pub kgce_equivalent: String,
    /// Standard coal of those instances, equal value, kgce.
    pub kgce_equal_value: String,
    /// Mean unit consumption, kgce (equivalent) per unit: `kgce_equivalent / quantity`.
    pub kgce_per_unit_equivalent: Option<String>,
    /// Mean unit consumption, kgce (equal value) per unit.
    pub kgce_per_unit_equal_value: Option<String>,
    /// Electricity of those instances over their output, kWh per unit.
    pub kwh_per_unit: Option<String>,
}

/// A group of complete shift instances: one shift, one team, or all of them.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftGroupView {
    /// The shift's or team's name (`total` for all).
    pub name: String,
    /// Complete instances in the group.
    pub instances: usize,
    /// Of which with output recorded.
    pub with_output: usize,
    /// Energy per kind and unit, summed.
    pub energy: Vec<ShiftEnergy>,
    /// Standard coal, equivalent value, kgce.
    pub kgce_equivalent: String,
    /// Standard coal, equal value, kgce.
    pub kgce_equal_value: String,
    /// Electricity, kWh.
    pub electricity_kwh: Option<String>,
    /// Per product: output and mean unit consumption.
    pub products: Vec<ShiftGroupProduct>,
}

/// A group's mean unit consumption of a product.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftPick {
    /// The shift's or team's name.
    pub name: String,
    /// Its mean kgce (equivalent) per unit.
    pub kgce_per_unit_equivalent: String,
}

/// The best (lowest) and worst (highest) mean unit consumption of a product among shifts and
/// among teams.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftBestWorst {
    /// Product name.
    pub product: String,
    /// Unit of output.
    pub unit: String,
    /// The shift with the lowest kgce per unit.
    pub best_shift: Option<ShiftPick>,
    /// The shift with the highest.
    pub worst_shift: Option<ShiftPick>,
    /// The team with the lowest.
    pub best_team: Option<ShiftPick>,
    /// The team with the highest.
    pub worst_team: Option<ShiftPick>,
}

/// Shifts and teams compared over the range (complete instances only).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftComparisonView {
    /// Per shift, in the order the shifts first run in the range.
    pub by_shift: Vec<ShiftGroupView>,
    /// Per team, by name (instances without a team are in no team's group).
    pub by_team: Vec<ShiftGroupView>,
    /// Every complete instance.
    pub total: ShiftGroupView,
    /// Per product, the best and worst shift and team by mean kgce (equivalent) per unit.
    pub best_worst: Vec<ShiftBestWorst>,
}

/// One shift of a calendar, for display.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftDefView {
    /// Name (班次).
    pub name: String,
    /// Start, local `HH:MM`.
    pub start: String,
    /// End, local `HH:MM` (on the next day when `crosses_midnight`).
    pub end: String,
    /// Minutes after midnight of the start.
    pub start_minute: u16,
    /// Minutes after midnight of the end.
    pub end_minute: u16,
    /// Length in minutes.
    pub minutes: u32,
    /// Whether it ends on the next day.
    pub crosses_midnight: bool,
}

/// A calendar version in force during the range.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftCalendarView {
    /// First day it applies to, `YYYY-MM-DD`.
    pub effective_from: String,
    /// Its shifts, in order.
    pub shifts: Vec<ShiftDefView>,
    /// Its teams (班组).
    pub teams: Vec<String>,
    /// First day of the rotation's cycle, `YYYY-MM-DD` (`null` without a rotation).
    pub rotation_start: Option<String>,
    /// The rotation (倒班): per day of the cycle, per shift, the team working it (`null`: the
    /// shift does not run).
    pub rotation: Vec<Vec<Option<String>>>,
    /// Height of the block that set it (provable: `ShiftCalendar(org, first day)`).
    pub height: u64,
}

/// An enterprise's shift instances over a range, with energy, output and unit consumption, and
/// the comparison of shifts and teams (班次、班组单耗).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftsView {
    /// The enterprise.
    pub org: String,
    /// Its name.
    pub name: String,
    /// First production day, `YYYY-MM-DD`.
    pub from: String,
    /// Last production day, inclusive.
    pub to: String,
    /// The finalized height the figures were computed at.
    pub height: u64,
    /// Always `true`: the energy in shift windows is derived from indexed readings (each provable;
    /// the sums are not consensus). Shifts, teams and output are consensus state.
    pub derived: bool,
    /// The energy kind asked for, if only one.
    pub energy_filter: Option<String>,
    /// The reference data set standard coal was converted with.
    pub reference: String,
    /// Meters read.
    pub meters: usize,
    /// Readings read from the index.
    pub readings: usize,
    /// The calendar versions in force during the range, oldest first.
    pub calendars: Vec<ShiftCalendarView>,
    /// The shift instances that had started at the finalized block's time, in time order.
    pub instances: Vec<ShiftInstanceView>,
    /// Shifts and teams compared.
    pub comparison: ShiftComparisonView,
    /// What was left out and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// `2026-11-21T06:00` of an instant (Asia/Shanghai).
fn local_minute(ms: i64) -> String {
    let day = calendar::day_number(ms);
    let m = (ms - calendar::day_start_ms(day)) / 60_000;
    format!("{}T{:02}:{:02}", calendar::day_label(day), m / 60, m % 60)
}

fn hm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

/// A shift instance being computed.
struct Instance {
    date: u32,
    shift: String,
    start_ms: i64,
    end_ms: i64,
    calendar_from: u32,
    team: Option<(String, &'static str)>,
    output: Option<trustmeter_state::shifts::ShiftOutputRecord>,
}

/// Sums of a group of instances.
#[derive(Default)]
struct Group {
    instances: usize,
    with_output: usize,
    energy: BTreeMap<(EnergyKind, Unit), Bucket>,
    kgce_eq: i128,
    kgce_ev: i128,
    kwh: Option<i128>,
    /// Per (product, unit).
    products: BTreeMap<(String, String), ProductSums>,
    /// Products in the order first met.
    order: Vec<(String, String)>,
}

/// A product's sums over the instances of a group that recorded it.
#[derive(Clone, Copy, Default)]
struct ProductSums {
    quantity: i128,
    instances: usize,
    kgce_eq: i128,
    kgce_ev: i128,
    kwh: Option<i128>,
}

/// What one instance contributes to its groups.
struct Figures<'a> {
    energy: &'a [((EnergyKind, Unit), Bucket)],
    kgce_eq: i128,
    kgce_ev: i128,
    kwh: Option<i128>,
    products: Vec<(String, String, i128)>,
}

impl Group {
    fn add(&mut self, f: &Figures<'_>) {
        self.instances += 1;
        self.with_output += usize::from(!f.products.is_empty());
        for ((k, u), b) in f.energy {
            let g = self.energy.entry((*k, *u)).or_default();
            g.consumption += b.consumption;
            g.estimated += b.estimated;
            g.manual += b.manual;
            g.exported += b.exported;
            g.kgce_eq += b.kgce_eq;
            g.kgce_ev += b.kgce_ev;
            g.kgce_missing |= b.kgce_missing;
        }
        self.kgce_eq += f.kgce_eq;
        self.kgce_ev += f.kgce_ev;
        if let Some(k) = f.kwh {
            *self.kwh.get_or_insert(0) += k;
        }
        for (product, unit, q) in &f.products {
            let key = (product.clone(), unit.clone());
            if !self.products.contains_key(&key) {
                self.order.push(key.clone());
            }
            let e = self.products.entry(key).or_default();
            e.quantity += q;
            e.instances += 1;
            e.kgce_eq += f.kgce_eq;
            e.kgce_ev += f.kgce_ev;
            if let Some(k) = f.kwh {
                *e.kwh.get_or_insert(0) += k;
            }
        }
    }

    fn view(&self, name: &str) -> ShiftGroupView {
        ShiftGroupView {
            name: name.to_string(),
            instances: self.instances,
            with_output: self.with_output,
            energy: self.energy.iter().map(|((k, u), b)| energy_view(*k, *u, b)).collect(),
            kgce_equivalent: dec(self.kgce_eq),
            kgce_equal_value: dec(self.kgce_ev),
            electricity_kwh: self.kwh.map(dec),
            products: self
                .order
                .iter()
                .map(|key| {
                    let ProductSums { quantity: q, instances: n, kgce_eq: eq, kgce_ev: ev, kwh } = self.products[key];
                    ShiftGroupProduct {
                        product: key.0.clone(),
                        unit: key.1.clone(),
                        quantity: dec(q),
                        instances: n,
                        kgce_equivalent: dec(eq),
                        kgce_equal_value: dec(ev),
                        kgce_per_unit_equivalent: per_unit(eq, q),
                        kgce_per_unit_equal_value: per_unit(ev, q),
                        kwh_per_unit: kwh.and_then(|k| per_unit(k, q)),
                    }
                })
                .collect(),
        }
    }

    /// Mean kgce (equivalent) per unit of a product, micro-kgce, if it has output.
    fn unit_consumption(&self, key: &(String, String)) -> Option<i64> {
        let p = self.products.get(key)?;
        coal::unit_product(clamp64(p.kgce_eq), clamp64(p.quantity))
    }
}

fn clamp64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// `amount / output` per unit of output (micro-units of the amount per unit), rounded half to
/// even; `None` for zero output.
fn per_unit(amount: i128, output: i128) -> Option<String> {
    coal::unit_product(clamp64(amount), clamp64(output)).map(|v| dec(i128::from(v)))
}

fn energy_view(kind: EnergyKind, unit: Unit, b: &Bucket) -> ShiftEnergy {
    ShiftEnergy {
        energy: energy_name(kind),
        unit: unit.symbol().into(),
        consumption: dec(b.consumption),
        estimated: dec(b.estimated),
        manual: dec(b.manual),
        exported: dec(b.exported),
        kgce_equivalent: (!b.kgce_missing).then(|| dec(b.kgce_eq)),
        kgce_equal_value: (!b.kgce_missing).then(|| dec(b.kgce_ev)),
    }
}

fn calendar_view(c: &ShiftCalendar, height: u64) -> ShiftCalendarView {
    ShiftCalendarView {
        effective_from: date_label(c.effective_from),
        shifts: c
            .shifts
            .iter()
            .map(|s| ShiftDefView {
                name: s.name.clone(),
                start: hm(u32::from(s.start_minute)),
                end: hm(u32::from(s.end_minute)),
                start_minute: s.start_minute,
                end_minute: s.end_minute,
                minutes: s.minutes(),
                crosses_midnight: u32::from(s.start_minute) + s.minutes() >= 1_440,
            })
            .collect(),
        teams: c.teams.clone(),
        rotation_start: c.rotation.as_ref().map(|r| date_label(r.start)),
        rotation: c
            .rotation
            .as_ref()
            .map(|r| {
                r.days
                    .iter()
                    .map(|d| d.iter().map(|t| t.and_then(|t| c.teams.get(usize::from(t)).cloned())).collect())
                    .collect()
            })
            .unwrap_or_default(),
        height,
    }
}

/// An enterprise's shift instances over a range with their energy, output and unit consumption,
/// and the comparison of its shifts and teams (see the module documentation).
pub fn shifts(state: &State, index: &Index, req: &ShiftsRequest) -> Result<ShiftsView, Error> {
    let org = &req.org;
    let o = member(state, org)?;
    if req.range.days() > i64::from(MAX_DERIVED_RANGE_DAYS) {
        return Err(limit(format!(
            "shift figures are derived from readings and span at most {MAX_DERIVED_RANGE_DAYS} days; narrow the range"
        )));
    }
    let versions = state.shift_calendars(org);
    if versions.is_empty() {
        return Err(not_found(format!(
            "enterprise {org} has no shift calendar on this chain; it sets one with trustmeter tx shift-calendar"
        )));
    }
    let mut notes = vec![];
    let date = |day: i32| date_of_day(day).ok_or_else(|| bad(format!("day {day} is outside the years 1900–9999")));
    let (from_date, to_date) = (date(req.range.from_day)?, date(req.range.to_day)?);
    let outputs: BTreeMap<(u32, String), trustmeter_state::shifts::ShiftOutputRecord> = state
        .shift_outputs(org, from_date, to_date, (req.range.days() as usize) * trustmeter_types::shifts::MAX_SHIFTS)
        .into_iter()
        .map(|(d, s, r)| ((d, s), r))
        .collect();
    // The instances of each day under the calendar in force, if they had started.
    let now = state.timestamp_ms;
    let mut instances: Vec<Instance> = vec![];
    let mut used: Vec<usize> = vec![];
    let mut before_first = 0usize;
    for day in req.range.from_day..=req.range.to_day {
        let d = date(day)?;
        let Some(vi) = versions.iter().rposition(|v| v.calendar.effective_from <= d) else {
            before_first += 1;
            continue;
        };
        if used.last() != Some(&vi) {
            used.push(vi);
        }
        let c = &versions[vi].calendar;
        for (si, s) in c.shifts.iter().enumerate() {
            let start_ms = calendar::day_start_ms(day) + i64::from(s.start_minute) * 60_000;
            if start_ms > now {
                continue;
            }
            let output = outputs.get(&(d, s.name.clone())).cloned();
            let team = match output.as_ref().and_then(|r| r.team.clone().map(|t| (t, r.team_from_rotation))) {
                Some((t, from_rotation)) => Some((t, if from_rotation { "rotation" } else { "output" })),
                None => c.rotation_team(d, si).map(|t| (t.to_string(), "rotation")),
            };
            instances.push(Instance {
                date: d,
                shift: s.name.clone(),
                start_ms,
                end_ms: start_ms + i64::from(s.minutes()) * 60_000,
                calendar_from: c.effective_from,
                team,
                output,
            });
        }
    }
    if before_first > 0 {
        notes.push(format!(
            "{before_first} day(s) of the range come before the enterprise's first calendar ({}): they have no shifts",
            date_label(versions[0].calendar.effective_from)
        ));
    }
    instances.sort_by_key(|i| i.start_ms);
    // No two instances overlap (the chain refuses calendars that would); should two anyway, the
    // later one starts where the earlier ends, so no energy is counted twice.
    let mut windows: Vec<(i64, i64, usize)> = Vec::with_capacity(instances.len());
    let mut last_end = i64::MIN;
    for (i, inst) in instances.iter().enumerate() {
        let start = inst.start_ms.max(last_end);
        if start > inst.start_ms {
            notes.push(format!(
                "{} {} starts before the previous shift ends: its window starts at {}",
                date_label(inst.date),
                inst.shift,
                local_minute(start)
            ));
        }
        if start < inst.end_ms {
            windows.push((start, inst.end_ms, i));
            last_end = inst.end_ms;
        }
    }

    // Energy per (kind, unit) and instance, from every meter of the enterprise.
    let meters: Vec<Meter> =
        location_meters(state, org, &[]).into_iter().filter(|m| req.energy.is_none_or(|e| m.energy == e)).collect();
    if meters.len() > MAX_DERIVED_METERS {
        return Err(limit(format!(
            "enterprise {org} has {} meters; a derived query reads at most {MAX_DERIVED_METERS}: ask for one energy kind (energy=)",
            meters.len()
        )));
    }
    let mut groups: BTreeMap<(EnergyKind, Unit), Vec<Bucket>> = BTreeMap::new();
    let (mut readings, mut budget) = (0usize, MAX_DERIVED_READINGS);
    if let (Some(first), Some(last)) = (windows.first(), windows.iter().map(|w| w.1).max()) {
        let span = (first.0, last);
        for m in &meters {
            let buckets = groups
                .entry((m.energy, accounting::amount_unit(m.unit)))
                .or_insert_with(|| vec![Bucket::default(); instances.len()]);
            let segment = |t: i64| {
                let j = windows.partition_point(|w| w.0 <= t);
                match j.checked_sub(1).map(|p| windows[p]) {
                    Some((_, end, i)) if t < end => (Some(i), end),
                    _ => (None, windows.get(j).map_or(i64::MAX, |w| w.0)),
                }
            };
            let add = |i: usize, share: i64, of: ShareOf| buckets[i].add(share, of);
            readings += derive_meter_shares(state, index, m, span, segment, add, &mut budget)?;
        }
    }
    // Standard coal per instance and kind, with the coefficients of the instance's year.
    let refs = accounting::reference_set(&state.params.accounting);
    let mut missing: BTreeSet<(EnergyKind, Unit)> = BTreeSet::new();
    for ((kind, unit), buckets) in groups.iter_mut() {
        for (b, inst) in buckets.iter_mut().zip(&instances) {
            if b.consumption == 0 {
                continue;
            }
            let year = calendar::month_of_day(calendar::day_number(inst.start_ms)).0;
            let amount = b.consumption.clamp(0, i128::from(i64::MAX)) as i64;
            match kgce(refs, *kind, *unit, amount, year) {
                Some((eq, ev)) => (b.kgce_eq, b.kgce_ev) = (i128::from(eq), i128::from(ev)),
                None => {
                    b.kgce_missing = true;
                    missing.insert((*kind, *unit));
                }
            }
        }
    }
    for (kind, unit) in &missing {
        notes.push(format!(
            "{} in {} has no standard-coal coefficient in reference set {}: it is in no kgce figure or unit consumption",
            energy_name(*kind),
            unit.symbol(),
            state.params.accounting.reference
        ));
    }
    if let Some(e) = req.energy {
        notes.push(format!(
            "energy={}: standard coal and unit consumption count {} only",
            energy_name(e),
            energy_name(e)
        ));
    }

    // The instances' views, and their figures into the comparison's groups.
    let mut by_shift: Vec<(String, Group)> = vec![];
    let mut by_team: BTreeMap<String, Group> = BTreeMap::new();
    let mut total = Group::default();
    let (mut running, mut teamless) = (0usize, 0usize);
    let mut views = Vec::with_capacity(instances.len());
    for (i, inst) in instances.iter().enumerate() {
        let energy: Vec<((EnergyKind, Unit), Bucket)> =
            groups.iter().map(|(k, buckets)| (*k, buckets[i])).filter(|(_, b)| *b != Bucket::default()).collect();
        let kgce_eq: i128 = energy.iter().filter(|(_, b)| !b.kgce_missing).map(|(_, b)| b.kgce_eq).sum();
        let kgce_ev: i128 = energy.iter().filter(|(_, b)| !b.kgce_missing).map(|(_, b)| b.kgce_ev).sum();
        let has_electricity = groups.keys().any(|(k, _)| *k == EnergyKind::Electricity);
        let kwh = has_electricity.then(|| {
            energy
                .iter()
                .filter(|((k, _), _)| *k == EnergyKind::Electricity)
                .filter_map(|((_, u), b)| convert_unit(clamp64(b.consumption), *u, Unit::KilowattHour))
                .map(i128::from)
                .sum::<i128>()
        });
        let products: Vec<ShiftProductView> = inst
            .output
            .iter()
            .flat_map(|r| &r.products)
            .map(|p| ShiftProductView {
                product: p.product.clone(),
                unit: p.unit.clone(),
                quantity: p.quantity.to_string(),
                revision: p.revision,
                height: p.height,
                kgce_per_unit_equivalent: per_unit(kgce_eq, i128::from(p.quantity.0)),
                kgce_per_unit_equal_value: per_unit(kgce_ev, i128::from(p.quantity.0)),
                kwh_per_unit: kwh.and_then(|k| per_unit(k, i128::from(p.quantity.0))),
            })
            .collect();
        let complete = inst.end_ms <= now;
        if complete {
            let figures = Figures {
                energy: &energy,
                kgce_eq,
                kgce_ev,
                kwh,
                products: inst
                    .output
                    .iter()
                    .flat_map(|r| &r.products)
                    .map(|p| (p.product.clone(), p.unit.clone(), i128::from(p.quantity.0)))
                    .collect(),
            };
            match by_shift.iter_mut().find(|(n, _)| *n == inst.shift) {
                Some((_, g)) => g.add(&figures),
                None => {
                    let mut g = Group::default();
                    g.add(&figures);
                    by_shift.push((inst.shift.clone(), g));
                }
            }
            match &inst.team {
                Some((t, _)) => by_team.entry(t.clone()).or_default().add(&figures),
                None => teamless += 1,
            }
            total.add(&figures);
        } else {
            running += 1;
        }
        views.push(ShiftInstanceView {
            day: date_label(inst.date),
            shift: inst.shift.clone(),
            team: inst.team.as_ref().map(|(t, _)| t.clone()),
            team_source: inst.team.as_ref().map(|(_, s)| s.to_string()),
            start_ms: inst.start_ms,
            end_ms: inst.end_ms,
            start: local_minute(inst.start_ms),
            end: local_minute(inst.end_ms),
            complete,
            calendar_from: date_label(inst.calendar_from),
            energy: energy.iter().map(|((k, u), b)| energy_view(*k, *u, b)).collect(),
            kgce_equivalent: dec(kgce_eq),
            kgce_equal_value: dec(kgce_ev),
            electricity_kwh: kwh.map(dec),
            output_recorded: inst.output.is_some(),
            output_height: inst.output.as_ref().map(|r| r.height),
            note: inst.output.as_ref().map(|r| r.note.clone()).filter(|n| !n.is_empty()),
            products,
        });
    }
    if running > 0 {
        notes.push(format!(
            "{running} shift(s) still running at the finalized block's time: listed with partial figures, not compared"
        ));
    }
    if teamless > 0 {
        notes.push(format!(
            "{teamless} complete shift(s) have no team (no rotation, none recorded): in no team's figures"
        ));
    }
    let without_output = total.instances - total.with_output;
    if without_output > 0 {
        notes.push(format!(
            "{without_output} complete shift(s) have no output recorded: left out of unit consumption (trustmeter tx shift-output)"
        ));
    }
    let pick = |groups: &mut dyn Iterator<Item = (&String, &Group)>, key: &(String, String), worst: bool| {
        let mut best: Option<(i64, &String)> = None;
        for (name, g) in groups {
            let Some(v) = g.unit_consumption(key) else { continue };
            let better = match best {
                None => true,
                Some((b, _)) if worst => v > b,
                Some((b, _)) => v < b,
            };
            if better {
                best = Some((v, name));
            }
        }
        best.map(|(v, name)| ShiftPick { name: name.clone(), kgce_per_unit_equivalent: dec(i128::from(v)) })
    };
    let best_worst = total
        .order
        .iter()
        .map(|key| ShiftBestWorst {
            product: key.0.clone(),
            unit: key.1.clone(),
            best_shift: pick(&mut by_shift.iter().map(|(n, g)| (n, g)), key, false),
            worst_shift: pick(&mut by_shift.iter().map(|(n, g)| (n, g)), key, true),
            best_team: pick(&mut by_team.iter(), key, false),
            worst_team: pick(&mut by_team.iter(), key, true),
        })
        .collect();
    let comparison = ShiftComparisonView {
        by_shift: by_shift.iter().map(|(n, g)| g.view(n)).collect(),
        by_team: by_team.iter().map(|(n, g)| g.view(n)).collect(),
        total: total.view("total"),
        best_worst,
    };
    Ok(ShiftsView {
        org: org.to_string(),
        name: o.name,
        from: req.range.first_label(),
        to: req.range.last_label(),
        height: state.height,
        derived: true,
        energy_filter: req.energy.map(energy_name),
        reference: state.params.accounting.reference.clone(),
        meters: meters.len(),
        readings,
        calendars: used.iter().map(|&vi| calendar_view(&versions[vi].calendar, versions[vi].height)).collect(),
        instances: views,
        comparison,
        notes,
    })
}

/// The instances as CSV (one row per instance and product; an instance without output has one
/// row with no product), with a column per energy kind and unit present.
pub fn shifts_csv(v: &ShiftsView) -> String {
    let mut kinds: Vec<(String, String)> = vec![];
    for e in v.instances.iter().flat_map(|i| &i.energy) {
        if !kinds.iter().any(|(k, u)| *k == e.energy && *u == e.unit) {
            kinds.push((e.energy.clone(), e.unit.clone()));
        }
    }
    let kind_columns: Vec<String> = kinds.iter().map(|(k, u)| format!("{k} ({u})")).collect();
    let mut header: Vec<&str> = vec!["day", "shift", "team", "start", "end", "complete"];
    header.extend(kind_columns.iter().map(String::as_str));
    header.extend([
        "kgce_equivalent",
        "kgce_equal_value",
        "electricity_kwh",
        "product",
        "unit",
        "quantity",
        "kgce_per_unit_equivalent",
        "kgce_per_unit_equal_value",
        "kwh_per_unit",
        "revision",
    ]);
    let rows = v.instances.iter().flat_map(|i| {
        let mut head =
            vec![i.day.clone(), i.shift.clone(), opt(&i.team), i.start.clone(), i.end.clone(), i.complete.to_string()];
        head.extend(kinds.iter().map(|(k, u)| {
            i.energy
                .iter()
                .find(|e| e.energy == *k && e.unit == *u)
                .map_or_else(|| "0.000000".into(), |e| e.consumption.clone())
        }));
        head.extend([i.kgce_equivalent.clone(), i.kgce_equal_value.clone(), opt(&i.electricity_kwh)]);
        let products: Vec<Vec<String>> = if i.products.is_empty() {
            vec![vec![String::new(); 7]]
        } else {
            i.products
                .iter()
                .map(|p| {
                    vec![
                        p.product.clone(),
                        p.unit.clone(),
                        p.quantity.clone(),
                        opt(&p.kgce_per_unit_equivalent),
                        opt(&p.kgce_per_unit_equal_value),
                        opt(&p.kwh_per_unit),
                        p.revision.to_string(),
                    ]
                })
                .collect()
        };
        products.into_iter().map(move |p| head.iter().cloned().chain(p).collect::<Vec<String>>())
    });
    csv(&header, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Fixture, T0};
    use trustmeter_types::shifts::{ShiftCalendar, ShiftDef, ShiftOutput, ShiftRotation};
    use trustmeter_types::tx::ProductOutput;
    use trustmeter_types::{Reading, ReadingOrigin, ReadingSigner, TxPayload};

    const H: i64 = calendar::HOUR_MS;
    /// 2026-11-21, T0's day.
    const DAY: u32 = 20_261_121;

    fn calendar_21() -> ShiftCalendar {
        let s = |name: &str, start: u16, end: u16| ShiftDef { name: name.into(), start_minute: start, end_minute: end };
        ShiftCalendar {
            effective_from: DAY,
            shifts: vec![s("早班", 360, 840), s("中班", 840, 1_320), s("夜班", 1_320, 360)],
            teams: vec!["甲".into(), "乙".into(), "丙".into()],
            rotation: Some(ShiftRotation { start: DAY, days: vec![vec![Some(0), Some(1), Some(2)]] }),
        }
    }

    fn pieces(n: i64) -> Vec<ProductOutput> {
        vec![ProductOutput {
            product: "零件".into(),
            unit: "件".into(),
            quantity: Quantity::from_micros(n * 1_000_000),
        }]
    }

    /// A chain with two kWh meters of one enterprise, read at known times, and a three-shift
    /// calendar with output recorded for each shift of 2026-11-21.
    fn two_meters() -> Fixture {
        let dir = Box::leak(Box::new(tempfile::tempdir().expect("a temporary directory")));
        let mut f = Fixture::with_index(Some(&dir.path().join("index.redb")));
        let m2 = crate::testkit::meter(&f.org, 2);
        let register = f.ent.sign(TxPayload::RegisterMeter { meter: m2.clone() });
        f.txs(T0 + 1_000, vec![register]);
        let cal = trustmeter_types::registry::Calibration {
            certificate_no: "JD-2".into(),
            issuer: f.st.organisations().find(|o| o.kind == OrgKind::MetrologyAuthority).unwrap().id,
            valid_from_ms: T0 - calendar::DAY_MS,
            valid_until_ms: T0 + 30 * calendar::DAY_MS,
        };
        let calibrate = f.metro.sign(TxPayload::RecordCalibration { meter: m2.id.clone(), calibration: cal });
        f.txs(T0 + 2_000, vec![calibrate]);
        let activate = f.reg.sign(TxPayload::ActivateDevice { device: m2.id.clone() });
        let set = f.ent.sign(TxPayload::SetShiftCalendar { calendar: calendar_21() });
        f.txs(T0 + 3_000, vec![activate, set]);
        // Meter 1: 1 000 kWh at 06:00, 1 060 at 14:00, 1 090 at 22:00, 1 100 at 06:00 next day.
        // Meter 2: 500 at 06:00, 535 at 13:00, 545 at 15:00, 560 at 22:00, 570 at 06:00: its
        // 13:00–15:00 interval (10 kWh) is shared by time, 5 to each shift.
        // Morning: 60 + 35 + 5 = 100 kWh; evening: 30 + 5 + 15 = 50; night: 10 + 10 = 20.
        let mut seq2 = 0;
        let mut m2_reading = |f: &mut Fixture, ts: i64, kwh: f64| {
            seq2 += 1;
            let r = Reading {
                meter: m2.id.clone(),
                seq: seq2,
                timestamp_ms: ts,
                value: Quantity::from_f64_round(kwh).unwrap(),
                unit: Unit::KilowattHour,
                origin: ReadingOrigin::Online,
                clock_suspect: false,
            };
            let sr = trustmeter_crypto::sign_reading(&f.gw_key, r, ReadingSigner::Gateway);
            f.gw.sign(TxPayload::SubmitReadings { gateway: m2.gateway.clone(), readings: vec![sr] })
        };
        f.at(T0 + 6 * H + 60_000, Some((T0 + 6 * H, 1_000.0)));
        let t = m2_reading(&mut f, T0 + 6 * H, 500.0);
        f.txs(T0 + 6 * H + 61_000, vec![t]);
        let t = m2_reading(&mut f, T0 + 13 * H, 535.0);
        f.txs(T0 + 13 * H + 60_000, vec![t]);
        f.at(T0 + 14 * H + 60_000, Some((T0 + 14 * H, 1_060.0)));
        let morning = f.ent.sign(TxPayload::RecordShiftOutput {
            output: ShiftOutput {
                day: DAY,
                shift: "早班".into(),
                team: None,
                products: pieces(50),
                note: String::new(),
            },
        });
        f.txs(T0 + 14 * H + 61_000, vec![morning]);
        let t = m2_reading(&mut f, T0 + 15 * H, 545.0);
        f.txs(T0 + 15 * H + 60_000, vec![t]);
        f.at(T0 + 22 * H + 60_000, Some((T0 + 22 * H, 1_090.0)));
        let t = m2_reading(&mut f, T0 + 22 * H, 560.0);
        let evening = f.ent.sign(TxPayload::RecordShiftOutput {
            output: ShiftOutput {
                day: DAY,
                shift: "中班".into(),
                team: None,
                products: pieces(20),
                note: String::new(),
            },
        });
        f.txs(T0 + 22 * H + 61_000, vec![t, evening]);
        f.at(T0 + 30 * H + 60_000, Some((T0 + 30 * H, 1_100.0)));
        let t = m2_reading(&mut f, T0 + 30 * H, 570.0);
        let night = f.ent.sign(TxPayload::RecordShiftOutput {
            output: ShiftOutput {
                day: DAY,
                shift: "夜班".into(),
                team: None,
                products: pieces(16),
                note: "counted at handover".into(),
            },
        });
        f.txs(T0 + 30 * H + 61_000, vec![t, night]);
        f
    }

    fn request(f: &Fixture, energy: Option<EnergyKind>) -> ShiftsRequest {
        let day = calendar::day_number(T0);
        ShiftsRequest { org: f.org.clone(), range: DayRange::new(day, day, MAX_DERIVED_RANGE_DAYS).unwrap(), energy }
    }

    #[test]
    fn shift_unit_consumption_matches_a_hand_computation() {
        let f = two_meters();
        let v = shifts(&f.st, f.index.as_ref().unwrap(), &request(&f, None)).expect("shift figures");
        assert!(v.derived);
        assert_eq!((v.meters, v.readings), (2, 9));
        let rows: Vec<(&str, Option<&str>, &str, &str, &str)> = v
            .instances
            .iter()
            .map(|i| {
                (i.shift.as_str(), i.team.as_deref(), i.start.as_str(), i.end.as_str(), i.kgce_equivalent.as_str())
            })
            .collect();
        // kgce (equivalent) = kWh × 0.1229 (GB/T 2589-2020).
        assert_eq!(
            rows,
            [
                ("早班", Some("甲"), "2026-11-21T06:00", "2026-11-21T14:00", "12.290000"),
                ("中班", Some("乙"), "2026-11-21T14:00", "2026-11-21T22:00", "6.145000"),
                ("夜班", Some("丙"), "2026-11-21T22:00", "2026-11-22T06:00", "2.458000"),
            ]
        );
        let morning = &v.instances[0];
        assert_eq!(morning.electricity_kwh.as_deref(), Some("100.000000"));
        assert_eq!(morning.energy.len(), 1);
        assert_eq!(morning.energy[0].consumption, "100.000000");
        assert_eq!(morning.team_source.as_deref(), Some("rotation"));
        assert!(morning.complete && morning.output_recorded);
        // 50 pieces: 2 kWh and 12.29 / 50 = 0.2458 kgce per piece.
        let p = &morning.products[0];
        assert_eq!((p.quantity.as_str(), p.revision), ("50.000000", 1));
        assert_eq!(p.kwh_per_unit.as_deref(), Some("2.000000"));
        assert_eq!(p.kgce_per_unit_equivalent.as_deref(), Some("0.245800"));
        let ev: f64 = morning.kgce_equal_value.parse().unwrap();
        assert!(ev > 12.29, "equal value is above equivalent value for electricity: {ev}");
        // Evening: 50 kWh for 20 pieces (2.5 kWh, 0.30725 kgce); night: 20 kWh for 16 (1.25 kWh,
        // 2.458 / 16 = 0.153625 kgce).
        assert_eq!(v.instances[1].products[0].kwh_per_unit.as_deref(), Some("2.500000"));
        assert_eq!(v.instances[1].products[0].kgce_per_unit_equivalent.as_deref(), Some("0.307250"));
        assert_eq!(v.instances[2].products[0].kgce_per_unit_equivalent.as_deref(), Some("0.153625"));
        assert_eq!(v.instances[2].note.as_deref(), Some("counted at handover"));

        // The comparison: 170 kWh, 20.893 kgce for 86 pieces; night best, evening worst.
        let c = &v.comparison;
        assert_eq!((c.total.instances, c.total.with_output), (3, 3));
        assert_eq!(c.total.kgce_equivalent, "20.893000");
        assert_eq!(c.total.electricity_kwh.as_deref(), Some("170.000000"));
        let total = &c.total.products[0];
        assert_eq!((total.quantity.as_str(), total.instances), ("86.000000", 3));
        // 20.893 / 86 = 0.24294186… and 170 / 86 = 1.97674418…
        assert_eq!(total.kgce_per_unit_equivalent.as_deref(), Some("0.242942"));
        assert_eq!(total.kwh_per_unit.as_deref(), Some("1.976744"));
        let names: Vec<&str> = c.by_shift.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["早班", "中班", "夜班"]);
        let teams: Vec<&str> = c.by_team.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(teams, ["丙", "乙", "甲"]);
        let bw = &c.best_worst[0];
        assert_eq!((bw.product.as_str(), bw.unit.as_str()), ("零件", "件"));
        let pick = |p: &Option<ShiftPick>| p.as_ref().map(|p| (p.name.clone(), p.kgce_per_unit_equivalent.clone()));
        assert_eq!(pick(&bw.best_shift), Some(("夜班".into(), "0.153625".into())));
        assert_eq!(pick(&bw.worst_shift), Some(("中班".into(), "0.307250".into())));
        assert_eq!(pick(&bw.best_team), Some(("丙".into(), "0.153625".into())));
        assert_eq!(pick(&bw.worst_team), Some(("乙".into(), "0.307250".into())));
        assert_eq!(v.calendars.len(), 1);
        assert_eq!(v.calendars[0].rotation, vec![vec![Some("甲".to_string()), Some("乙".into()), Some("丙".into())]]);
        assert!(v.notes.is_empty(), "{:?}", v.notes);

        // CSV: a header and one row per instance and product.
        let csv = shifts_csv(&v);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{csv}");
        assert!(
            lines[0].starts_with("day,shift,team,start,end,complete,electricity (kWh),kgce_equivalent"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("2026-11-21,早班,甲,2026-11-21T06:00,2026-11-21T14:00,true,100.000000,12.290000,")
        );
        assert!(lines[1].contains(",零件,件,50.000000,0.245800,"), "{}", lines[1]);
    }

    #[test]
    fn a_range_before_the_calendar_or_with_one_kind_only_says_so() {
        let f = two_meters();
        // Water only: no meters of it, no energy, no unit consumption; the output is still listed.
        let v = shifts(&f.st, f.index.as_ref().unwrap(), &request(&f, Some(EnergyKind::Water))).expect("figures");
        assert_eq!((v.meters, v.readings), (0, 0));
        assert!(v.instances.iter().all(|i| i.energy.is_empty() && i.kgce_equivalent == "0.000000"));
        assert_eq!(v.instances[0].products[0].kgce_per_unit_equivalent.as_deref(), Some("0.000000"));
        assert!(v.notes.iter().any(|n| n.contains("energy=water")), "{:?}", v.notes);
        // The day before the calendar has no shifts.
        let day = calendar::day_number(T0);
        let req = ShiftsRequest {
            org: f.org.clone(),
            range: DayRange::new(day - 1, day, MAX_DERIVED_RANGE_DAYS).unwrap(),
            energy: None,
        };
        let v = shifts(&f.st, f.index.as_ref().unwrap(), &req).expect("figures");
        assert_eq!(v.instances.len(), 3);
        assert!(
            v.notes.iter().any(|n| n.contains("before the enterprise's first calendar (2026-11-21)")),
            "{:?}",
            v.notes
        );
        // The next day's shifts had not started (or are running) at the chain's time.
        let req = ShiftsRequest {
            org: f.org.clone(),
            range: DayRange::new(day + 1, day + 1, MAX_DERIVED_RANGE_DAYS).unwrap(),
            energy: None,
        };
        let v = shifts(&f.st, f.index.as_ref().unwrap(), &req).expect("figures");
        let listed: Vec<(&str, bool)> = v.instances.iter().map(|i| (i.shift.as_str(), i.complete)).collect();
        assert_eq!(listed, [("早班", false)], "the 22nd's morning shift runs at 06:01");
        assert_eq!(v.comparison.total.instances, 0);
        // An enterprise without a calendar, and too long a range.
        let mut other = request(&f, None);
        other.org = f.st.organisations().find(|o| o.kind == OrgKind::Regulator).unwrap().id;
        assert!(matches!(shifts(&f.st, f.index.as_ref().unwrap(), &other), Err(Error::NotFound(_))));
        let long = ShiftsRequest { range: DayRange { from_day: day - 400, to_day: day }, ..request(&f, None) };
        assert!(matches!(shifts(&f.st, f.index.as_ref().unwrap(), &long), Err(Error::Limit(_))));
    }
}
