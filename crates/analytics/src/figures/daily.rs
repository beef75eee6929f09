//! The daily figures of an enterprise (日能耗): consensus figures with their proof links.

use super::*;

/// An amount per tariff tier.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TierAmount {
    /// `critical_peak`, `peak`, `flat`, `valley` or `deep_valley`.
    pub tier: String,
    /// Chinese name (尖峰, 高峰, 平, 低谷, 深谷).
    pub name: String,
    /// Amount, decimal text.
    pub amount: String,
}

pub(crate) fn tier_amounts(tiers: &[i128; 5]) -> Vec<TierAmount> {
    Tier::ALL
        .iter()
        .map(|t| TierAmount { tier: t.as_str().into(), name: t.chinese_name().into(), amount: dec(tiers[t.index()]) })
        .collect()
}

/// One consensus daily figure, readable, with its proof link.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DailyFigureView {
    /// The enterprise.
    pub org: String,
    /// The day as days since 1970-01-01 (Asia/Shanghai).
    pub day: i32,
    /// The day, `YYYY-MM-DD`.
    pub label: String,
    /// Start of the day (Unix ms).
    pub day_start_ms: i64,
    /// Energy kind (`electricity`, `natural_gas`, ...).
    pub energy: String,
    /// Its Chinese name.
    pub energy_name: String,
    /// Unit of the amounts.
    pub unit: String,
    /// Consumption allocated to the day.
    pub consumption: String,
    /// The part of it from gaps (estimated placement).
    pub estimated: String,
    /// The part of it from manual or imported readings.
    pub manual: String,
    /// Energy exported the other way (negative power of instantaneous meters), not in
    /// consumption or standard coal.
    pub exported: String,
    /// Intervals excluded as negative deltas.
    pub excluded_intervals: i32,
    /// Readings with a timestamp in the day.
    pub points: u32,
    /// Of which recorded on time.
    pub on_time: u32,
    /// Of which arrived late (after a later reading of the meter).
    pub late: u32,
    /// Of which carry audit findings.
    pub flagged: u32,
    /// Electricity per tariff tier (absent for other kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Vec<TierAmount>>,
    /// Standard coal, equivalent value (当量值), kgce; absent when it could not be computed.
    pub kgce_equivalent: Option<String>,
    /// Standard coal, equal value (等价值), kgce; absent when it could not be computed.
    pub kgce_equal_value: Option<String>,
    /// Why standard coal is missing, if it is.
    pub kgce_missing: Option<String>,
    /// The reference data set.
    pub reference: String,
    /// The time-of-use schedule the tiers follow, if any.
    pub tou_schedule: Option<String>,
    /// Where to get this figure's proof (a `FigureProof`, `trustmeter verify --figure`).
    pub proof: String,
    /// The figure exactly as the state holds it (micro-units).
    pub figure: DailyTotal,
}

impl DailyFigureView {
    /// The readable view of a figure.
    pub fn new(key: &DailyKey, d: &DailyTotal) -> Self {
        let missing = d.kgce_missing.is_some();
        DailyFigureView {
            org: key.org.to_string(),
            day: key.day,
            label: calendar::day_label(key.day),
            day_start_ms: calendar::day_start_ms(key.day),
            energy: energy_name(key.energy),
            energy_name: key.energy.chinese_name().into(),
            unit: key.unit.symbol().into(),
            consumption: d.consumption.to_string(),
            estimated: d.estimated.to_string(),
            manual: d.manual.to_string(),
            exported: d.exported.to_string(),
            excluded_intervals: d.excluded_intervals,
            points: d.points,
            on_time: d.on_time,
            late: d.late,
            flagged: d.flagged,
            tiers: (key.energy == EnergyKind::Electricity).then(|| tier_amounts(&d.tiers.map(|q| i128::from(q.0)))),
            kgce_equivalent: (!missing).then(|| d.kgce_equivalent.to_string()),
            kgce_equal_value: (!missing).then(|| d.kgce_equal_value.to_string()),
            kgce_missing: d.kgce_missing.clone(),
            reference: d.reference.clone(),
            tou_schedule: d.tou_schedule.clone(),
            proof: proof_link(key),
            figure: d.clone(),
        }
    }
}

/// An enterprise's consensus daily figures.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DailyFiguresView {
    /// The enterprise.
    pub org: String,
    /// Its name.
    pub org_name: String,
    /// Its region code.
    pub region: u32,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The finalized height the figures were read at.
    pub height: u64,
    /// That block's timestamp (Unix ms).
    pub block_time_ms: i64,
    /// The figures in (day, energy, unit) order.
    pub figures: Vec<DailyFigureView>,
}

/// An enterprise's consensus daily figures in a range (of one energy kind, if given).
pub fn daily(
    state: &State,
    org: &UnifiedSocialCreditCode,
    range: DayRange,
    energy: Option<EnergyKind>,
) -> Result<DailyFiguresView, Error> {
    let o = member(state, org)?;
    let figures = state
        .daily_range(org, range.from_day, range.to_day)
        .filter(|(k, _)| energy.is_none_or(|e| k.energy == e))
        .map(|(k, d)| DailyFigureView::new(&k, &d))
        .collect();
    Ok(DailyFiguresView {
        org: org.to_string(),
        org_name: o.name.clone(),
        region: o.region,
        from: range.first_label(),
        to: range.last_label(),
        height: state.height,
        block_time_ms: state.timestamp_ms,
        figures,
    })
}

const DAILY_CSV: [&str; 26] = [
    "org",
    "day",
    "energy",
    "unit",
    "consumption",
    "estimated",
    "manual",
    "exported",
    "excluded_intervals",
    "points",
    "on_time",
    "late",
    "flagged",
    "critical_peak",
    "peak",
    "flat",
    "valley",
    "deep_valley",
    "kgce_equivalent",
    "kgce_equal_value",
    "kgce_missing",
    "reference",
    "tou_schedule",
    "height",
    "proof",
    "day_start_ms",
];

pub fn daily_csv(v: &DailyFiguresView) -> String {
    csv(
        &DAILY_CSV,
        v.figures.iter().map(|f| {
            let tier = |i: usize| f.tiers.as_ref().map(|t| t[i].amount.clone()).unwrap_or_default();
            vec![
                f.org.clone(),
                f.label.clone(),
                f.energy.clone(),
                f.unit.clone(),
                f.consumption.clone(),
                f.estimated.clone(),
                f.manual.clone(),
                f.exported.clone(),
                f.excluded_intervals.to_string(),
                f.points.to_string(),
                f.on_time.to_string(),
                f.late.to_string(),
                f.flagged.to_string(),
                tier(0),
                tier(1),
                tier(2),
                tier(3),
                tier(4),
                opt(&f.kgce_equivalent),
                opt(&f.kgce_equal_value),
                opt(&f.kgce_missing),
                f.reference.clone(),
                opt(&f.tou_schedule),
                v.height.to_string(),
                f.proof.clone(),
                f.day_start_ms.to_string(),
            ]
        }),
    )
}
