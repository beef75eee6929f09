//! An enterprise's consumption broken down by energy kind, tariff tier (consensus) or location (derived).

use super::*;

/// One row of a breakdown.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BreakdownRow {
    /// The energy kind, location path or tier the row is about.
    pub key: String,
    /// Energy kind.
    pub energy: String,
    /// Unit of the amounts.
    pub unit: String,
    /// Consumption.
    pub consumption: String,
    /// Estimated part (not for tiers).
    pub estimated: Option<String>,
    /// Manual/imported part (not for tiers).
    pub manual: Option<String>,
    /// Energy exported, apart from consumption (not for tiers).
    pub exported: Option<String>,
    /// Standard coal, equivalent value, kgce.
    pub kgce_equivalent: Option<String>,
    /// Standard coal, equal value, kgce.
    pub kgce_equal_value: Option<String>,
    /// Share of the total: standard coal (equivalent) for energy and location rows, kWh for tiers.
    pub share: Option<String>,
    /// Meters summed (location rows).
    pub meters: Option<usize>,
    /// Daily figures summed (energy and tier rows).
    pub figures: Option<usize>,
}

/// A breakdown of an enterprise's consumption.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BreakdownView {
    /// The enterprise.
    pub org: String,
    /// `energy`, `location` or `tier`.
    pub by: String,
    /// Location depth (location breakdowns).
    pub depth: Option<usize>,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The finalized height.
    pub height: u64,
    /// Whether the rows are derived from readings (location) or sums of consensus figures.
    pub derived: bool,
    /// The rows.
    pub rows: Vec<BreakdownRow>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The daily figures behind consensus rows, each with its proof link.
    pub daily_figures: String,
}

/// What a breakdown groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakdownBy {
    /// Energy kind and unit (consensus).
    Energy,
    /// Location path prefix of the meters (derived), at a depth.
    Location(usize),
    /// Tariff tier of electricity (consensus).
    Tier,
}

fn share(part: i128, total: i128) -> Option<String> {
    (total > 0).then(|| pct((part.max(0) * 10_000 / total) as u32))
}

/// Breaks an enterprise's consumption down by energy kind, location or tier.
pub fn breakdown(
    state: &State,
    index: &Index,
    org: &UnifiedSocialCreditCode,
    range: DayRange,
    by: BreakdownBy,
) -> Result<BreakdownView, Error> {
    member(state, org)?;
    let mut notes = vec![];
    let daily_figures = format!("/v1/figures/daily?org={org}&from={}&to={}", range.first_label(), range.last_label());
    let rows = match by {
        BreakdownBy::Energy => {
            let mut sums: BTreeMap<(EnergyKind, Unit), (Bucket, usize)> = BTreeMap::new();
            for (k, d) in state.daily_range(org, range.from_day, range.to_day) {
                let (b, n) = sums.entry((k.energy, k.unit)).or_default();
                b.consumption += i128::from(d.consumption.0);
                b.estimated += i128::from(d.estimated.0);
                b.manual += i128::from(d.manual.0);
                b.exported += i128::from(d.exported.0);
                b.kgce_eq += i128::from(d.kgce_equivalent.0);
                b.kgce_ev += i128::from(d.kgce_equal_value.0);
                b.kgce_missing |= d.kgce_missing.is_some();
                *n += 1;
            }
            let total: i128 = sums.values().filter(|(b, _)| !b.kgce_missing).map(|(b, _)| b.kgce_eq).sum();
            sums.iter()
                .map(|((e, u), (b, n))| BreakdownRow {
                    key: energy_name(*e),
                    energy: energy_name(*e),
                    unit: u.symbol().into(),
                    consumption: dec(b.consumption),
                    estimated: Some(dec(b.estimated)),
                    manual: Some(dec(b.manual)),
                    exported: Some(dec(b.exported)),
                    kgce_equivalent: (!b.kgce_missing).then(|| dec(b.kgce_eq)),
                    kgce_equal_value: (!b.kgce_missing).then(|| dec(b.kgce_ev)),
                    share: if b.kgce_missing { None } else { share(b.kgce_eq, total) },
                    meters: None,
                    figures: Some(*n),
                })
                .collect()
        }
        BreakdownBy::Tier => {
            let mut tiers = [0i128; 5];
            let (mut total, mut n) = (0i128, 0usize);
            let mut units = BTreeSet::new();
            for (k, d) in state.daily_range(org, range.from_day, range.to_day) {
                if k.energy != EnergyKind::Electricity {
                    continue;
                }
                let scale = if k.unit == Unit::MegawattHour { 1_000 } else { 1 };
                units.insert(k.unit);
                for (t, q) in tiers.iter_mut().zip(d.tiers) {
                    *t += i128::from(q.0) * scale;
                }
                total += i128::from(d.consumption.0) * scale;
                n += 1;
            }
            if units.contains(&Unit::MegawattHour) {
                notes.push("MWh figures are converted to kWh".into());
            }
            let untiered = total - tiers.iter().sum::<i128>();
            let mut rows: Vec<BreakdownRow> = Tier::ALL
                .iter()
                .map(|t| BreakdownRow {
                    key: t.as_str().into(),
                    energy: "electricity".into(),
                    unit: "kWh".into(),
                    consumption: dec(tiers[t.index()]),
                    estimated: None,
                    manual: None,
                    exported: None,
                    kgce_equivalent: None,
                    kgce_equal_value: None,
                    share: share(tiers[t.index()], total),
                    meters: None,
                    figures: Some(n),
                })
                .collect();
            if untiered != 0 {
                notes.push(format!(
                    "{} kWh have no tier: the enterprise's province has no time-of-use schedule in reference set {} for those days",
                    dec(untiered),
                    state.params.accounting.reference
                ));
                rows.push(BreakdownRow {
                    key: "untiered".into(),
                    energy: "electricity".into(),
                    unit: "kWh".into(),
                    consumption: dec(untiered),
                    estimated: None,
                    manual: None,
                    exported: None,
                    kgce_equivalent: None,
                    kgce_equal_value: None,
                    share: share(untiered, total),
                    meters: None,
                    figures: Some(n),
                });
            }
            rows
        }
        BreakdownBy::Location(depth) => {
            if range.days() > i64::from(MAX_DERIVED_RANGE_DAYS) {
                return Err(limit(format!(
                    "a breakdown by location is derived from readings and spans at most {MAX_DERIVED_RANGE_DAYS} days; narrow the range"
                )));
            }
            let meters = location_meters(state, org, &[]);
            if meters.len() > MAX_DERIVED_METERS {
                return Err(limit(format!(
                    "enterprise {org} has {} meters; a derived breakdown reads at most {MAX_DERIVED_METERS}",
                    meters.len()
                )));
            }
            let refs = accounting::reference_set(&state.params.accounting);
            let mut groups: BTreeMap<(String, EnergyKind, Unit), (Bucket, usize)> = BTreeMap::new();
            let mut budget = MAX_DERIVED_READINGS;
            for m in meters {
                // Per day, so standard coal uses each day's year.
                let mut days = vec![Bucket::default(); range.days() as usize];
                let day_starts: Vec<i64> = (range.from_day..=range.to_day).map(calendar::day_start_ms).collect();
                derive_meter(state, index, &m, range, Period::Day, &day_starts, &mut days, &mut budget)?;
                let path = m.location.0.iter().take(depth).cloned().collect::<Vec<_>>().join("/");
                let unit = accounting::amount_unit(m.unit);
                let (g, n) = groups.entry((path, m.energy, unit)).or_default();
                *n += 1;
                for (b, start) in days.iter().zip(&day_starts) {
                    let year = calendar::month_of_day(calendar::day_number(*start)).0;
                    g.consumption += b.consumption;
                    g.estimated += b.estimated;
                    g.manual += b.manual;
                    g.exported += b.exported;
                    match kgce(refs, m.energy, unit, b.consumption as i64, year) {
                        Some((eq, ev)) => {
                            g.kgce_eq += i128::from(eq);
                            g.kgce_ev += i128::from(ev);
                        }
                        None => g.kgce_missing |= b.consumption != 0,
                    }
                }
            }
            let total: i128 = groups.values().filter(|(b, _)| !b.kgce_missing).map(|(b, _)| b.kgce_eq).sum();
            notes.push(
                "derived from the indexed readings of each meter (tariff registers excluded); every reading is provable".into(),
            );
            groups
                .iter()
                .map(|((path, e, u), (b, n))| BreakdownRow {
                    key: path.clone(),
                    energy: energy_name(*e),
                    unit: u.symbol().into(),
                    consumption: dec(b.consumption),
                    estimated: Some(dec(b.estimated)),
                    manual: Some(dec(b.manual)),
                    exported: Some(dec(b.exported)),
                    kgce_equivalent: (!b.kgce_missing).then(|| dec(b.kgce_eq)),
                    kgce_equal_value: (!b.kgce_missing).then(|| dec(b.kgce_ev)),
                    share: if b.kgce_missing { None } else { share(b.kgce_eq, total) },
                    meters: Some(*n),
                    figures: None,
                })
                .collect()
        }
    };
    Ok(BreakdownView {
        org: org.to_string(),
        by: match by {
            BreakdownBy::Energy => "energy",
            BreakdownBy::Location(_) => "location",
            BreakdownBy::Tier => "tier",
        }
        .into(),
        depth: match by {
            BreakdownBy::Location(d) => Some(d),
            _ => None,
        },
        from: range.first_label(),
        to: range.last_label(),
        height: state.height,
        derived: matches!(by, BreakdownBy::Location(_)),
        rows,
        notes,
        daily_figures,
    })
}

pub fn breakdown_csv(v: &BreakdownView) -> String {
    csv(
        &[
            "key",
            "energy",
            "unit",
            "consumption",
            "estimated",
            "manual",
            "exported",
            "kgce_equivalent",
            "kgce_equal_value",
            "share",
            "meters",
            "figures",
        ],
        v.rows.iter().map(|r| {
            vec![
                r.key.clone(),
                r.energy.clone(),
                r.unit.clone(),
                r.consumption.clone(),
                opt(&r.estimated),
                opt(&r.manual),
                opt(&r.exported),
                opt(&r.kgce_equivalent),
                opt(&r.kgce_equal_value),
                opt(&r.share),
                r.meters.map(|n| n.to_string()).unwrap_or_default(),
                r.figures.map(|n| n.to_string()).unwrap_or_default(),
            ]
        }),
    )
}
