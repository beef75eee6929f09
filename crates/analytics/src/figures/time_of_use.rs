//! Time-of-use split (分时电量) of an enterprise's electricity by tariff tier, with cost, and the reconciliation of multi-rate meters' tariff registers.

use super::*;

/// kWh and cost of one tier.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TouTier {
    /// `critical_peak`, `peak`, `flat`, `valley`, `deep_valley`.
    pub tier: String,
    /// Chinese name.
    pub name: String,
    /// kWh.
    pub kwh: String,
    /// Cost in CNY, when every day's schedule gives this tier a price.
    pub cost_cny: Option<String>,
}

/// A multi-rate meter's tariff registers against the schedule's split of its total register.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TouReconciliationView {
    /// The total register's meter.
    pub total_meter: String,
    /// Its tariff registers as `meter:tariff`.
    pub registers: Vec<String>,
    /// The total meter's consumption split by the schedule, per tier (kWh).
    pub computed: Vec<TierAmount>,
    /// The tariff registers' own consumption, per tier (kWh).
    pub reported: Vec<TierAmount>,
    /// (computed − reported) per tier in basis points of the larger total.
    pub diff_bp: Vec<i64>,
    /// Whether a tier differs by more than `tolerance_bp`.
    pub mismatch: bool,
    /// On mismatch, which tiers and by how much.
    pub reason: Option<String>,
    /// The tolerance (basis points of the total).
    pub tolerance_bp: u32,
}

/// Time-of-use figures of an enterprise.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TouView {
    /// The enterprise.
    pub org: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The finalized height.
    pub height: u64,
    /// Electricity per tier (consensus daily figures, kWh).
    pub tiers: Vec<TouTier>,
    /// Electricity the schedule did not split (no schedule for the province on those days).
    pub untiered_kwh: String,
    /// All electricity (kWh).
    pub total_kwh: String,
    /// Total cost in CNY, when known.
    pub cost_cny: Option<String>,
    /// Why the cost is not known, if it is not.
    pub cost_note: Option<String>,
    /// The schedules the figures follow.
    pub schedules: Vec<String>,
    /// Reconciliations of multi-rate meters (derived from readings).
    pub reconciliations: Vec<TouReconciliationView>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Derived consumption of a meter in the range, split by `key` (`None` outside the range or
/// untiered).
fn derived_split<K: Copy + Eq + Ord>(
    state: &State,
    index: &Index,
    meter: &Meter,
    range: DayRange,
    budget: &mut usize,
    key: impl Fn(&register::Interval, i64) -> (Option<K>, i64),
) -> Result<BTreeMap<K, i128>, Error> {
    let (from_ms, to_ms) = (range.from_ms(), range.to_ms());
    let points = meter_points(index, &meter.id, from_ms, to_ms, budget)?;
    let reps = replacements(state, index, &meter.id, &points)?;
    let spec = accounting::register_spec(meter, &state.params.accounting);
    let mut out = BTreeMap::new();
    for iv in register::intervals(&points, &spec, &reps) {
        if iv.excluded() || iv.consumption == 0 {
            continue;
        }
        let shares = register::try_split(&iv, |t| {
            if t < from_ms {
                (None, from_ms)
            } else if t >= to_ms {
                (None, i64::MAX)
            } else {
                let (k, end) = key(&iv, t);
                (k, end.min(to_ms))
            }
        })
        .map_err(|e| internal(format!("meter {}: {e}", meter.id)))?;
        for (k, share) in shares {
            if let Some(k) = k {
                *out.entry(k).or_insert(0) += i128::from(share);
            }
        }
    }
    Ok(out)
}

/// Time-of-use figures: kWh and cost per tier, and the reconciliation of multi-rate meters.
pub fn tou(state: &State, index: &Index, org: &UnifiedSocialCreditCode, range: DayRange) -> Result<TouView, Error> {
    let o = member(state, org)?;
    if range.days() > i64::from(MAX_DERIVED_RANGE_DAYS) {
        return Err(limit(format!(
            "time-of-use figures span at most {MAX_DERIVED_RANGE_DAYS} days (the reconciliation reads readings); narrow the range"
        )));
    }
    let refs = accounting::reference_set(&state.params.accounting);
    let mut notes = vec![];
    let mut tiers = [0i128; 5];
    let (mut total, mut cost) = (0i128, Some(0i128));
    let mut tier_cost: [Option<i128>; 5] = [Some(0); 5];
    let mut schedules = BTreeSet::new();
    let mut cost_note = None;
    for (k, d) in state.daily_range(org, range.from_day, range.to_day) {
        if k.energy != EnergyKind::Electricity {
            continue;
        }
        let scale: i64 = match k.unit {
            Unit::KilowattHour => 1,
            Unit::MegawattHour => 1_000,
            _ => continue,
        };
        let day_tiers: [i64; 5] = d.tiers.map(|q| q.0.saturating_mul(scale));
        for (t, q) in tiers.iter_mut().zip(day_tiers) {
            *t += i128::from(q);
        }
        total += i128::from(d.consumption.0) * i128::from(scale);
        let schedule = d.tou_schedule.as_ref().and_then(|id| refs.and_then(|r| r.tou.iter().find(|s| &s.id == id)));
        if let Some(id) = &d.tou_schedule {
            schedules.insert(id.clone());
        }
        match schedule {
            Some(s) => {
                match s.cost_micros(&day_tiers) {
                    Some(c) => cost = cost.map(|x| x + i128::from(c)),
                    None => {
                        cost = None;
                        cost_note.get_or_insert_with(|| {
                            format!(
                                "time-of-use schedule {} carries no price for some tier used (its source gives none), so no cost is computed",
                                s.id
                            )
                        });
                    }
                }
                for t in Tier::ALL {
                    let q = day_tiers[t.index()];
                    tier_cost[t.index()] = match (tier_cost[t.index()], s.price_micros(t)) {
                        (_, _) if q == 0 => tier_cost[t.index()],
                        (Some(acc), Some(p)) => Some(acc + div_round_half_even(i128::from(q) * i128::from(p), MICRO)),
                        _ => None,
                    };
                }
            }
            None if d.consumption.0 != 0 => {
                cost = None;
                cost_note.get_or_insert_with(|| {
                    "some days have no time-of-use schedule (the province has none in the reference set), so no cost is computed".into()
                });
            }
            None => {}
        }
    }
    let untiered = total - tiers.iter().sum::<i128>();
    if untiered != 0 {
        notes.push(format!("{} kWh fall on days without a time-of-use schedule and have no tier", dec(untiered)));
    }
    // Multi-rate meters: tariff registers grouped by their total meter.
    let mut groups: BTreeMap<DeviceId, Vec<Meter>> = BTreeMap::new();
    for m in state.meters().filter(|m| &m.owner == org) {
        if let Some(t) = &m.tariff {
            groups.entry(t.total.clone()).or_default().push(m);
        }
    }
    let mut reconciliations = vec![];
    let mut budget = MAX_DERIVED_READINGS;
    for (total_id, registers) in &groups {
        let Some(total_meter) = state.meter(total_id) else {
            notes.push(format!("tariff registers name total meter {total_id}, which is not registered"));
            continue;
        };
        let Some(refs) = refs else {
            notes.push("the chain's reference data set is not built in; no reconciliation".into());
            break;
        };
        let region = o.region;
        let computed =
            derived_split(state, index, &total_meter, range, &mut budget, |iv, t| {
                match tou::schedule_for(refs, region, iv.start_ms) {
                    Some(s) => (Some(s.tier_at(t)), s.next_change_after(t)),
                    None => (None, calendar::day_start_ms(calendar::day_number(t) + 1)),
                }
            })?;
        let mut reported = [0i64; 5];
        for r in registers {
            let Some(tier) = r.tariff.as_ref().and_then(|t| Tier::from_dlt645_rate(t.tariff)) else { continue };
            let sums = derived_split(state, index, r, range, &mut budget, |_, t| {
                (Some(()), calendar::day_start_ms(calendar::day_number(t) + 1))
            })?;
            reported[tier.index()] += sums.values().sum::<i128>() as i64;
        }
        let mut c = [0i64; 5];
        for (t, v) in computed {
            c[t.index()] = v as i64;
        }
        let rec = tou::reconcile(&c, &reported, TOU_TOLERANCE_BP);
        reconciliations.push(TouReconciliationView {
            total_meter: total_id.to_string(),
            registers: registers
                .iter()
                .map(|r| format!("{}:{}", r.id, r.tariff.as_ref().map(|t| t.tariff).unwrap_or(0)))
                .collect(),
            computed: tier_amounts(&c.map(i128::from)),
            reported: tier_amounts(&reported.map(i128::from)),
            diff_bp: rec.diff_bp.to_vec(),
            mismatch: rec.mismatch,
            reason: rec.reason,
            tolerance_bp: TOU_TOLERANCE_BP,
        });
    }
    Ok(TouView {
        org: org.to_string(),
        from: range.first_label(),
        to: range.last_label(),
        height: state.height,
        tiers: Tier::ALL
            .iter()
            .map(|t| TouTier {
                tier: t.as_str().into(),
                name: t.chinese_name().into(),
                kwh: dec(tiers[t.index()]),
                cost_cny: tier_cost[t.index()].map(dec),
            })
            .collect(),
        untiered_kwh: dec(untiered),
        total_kwh: dec(total),
        cost_cny: cost.map(dec),
        cost_note: if cost.is_none() { cost_note } else { None },
        schedules: schedules.into_iter().collect(),
        reconciliations,
        notes,
    })
}
