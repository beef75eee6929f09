//! Data-quality indices (数据质量): completeness, timeliness, accuracy and the deviation of daily figures from monthly reports.

use super::*;

/// One month's daily sum against the monthly report.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeviationView {
    /// The month, `YYYYMM`.
    pub month: u32,
    /// Energy kind.
    pub energy: String,
    /// Unit.
    pub unit: String,
    /// Sum of the daily figures.
    pub daily_sum: String,
    /// The report's figure.
    pub reported: String,
    /// Deviation in basis points (rounded up).
    pub deviation_bp: Option<u32>,
    /// Within the 5 % rule.
    pub deviation_ok: Option<bool>,
}

/// Quality indices of an enterprise, or of a region's sum.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct QualityEntry {
    /// The enterprise (absent for the region total).
    pub org: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Its region code.
    pub region: Option<u32>,
    /// The counts (expected and received points, on-time points, meters, meters in calibration,
    /// and the daily sum vs monthly report in micro-kgce, equivalent value, over whole months).
    pub counts: QualityCounts,
    /// The indices in basis points, with the pass/fail flags.
    pub index: QualityIndex,
    /// Completeness as a percentage.
    pub completeness: String,
    /// Timeliness as a percentage.
    pub timeliness: String,
    /// Accuracy as a percentage.
    pub accuracy: String,
    /// Composite as a percentage.
    pub composite: String,
    /// Per-kind deviations from the monthly reports of whole months in the range.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deviations: Vec<DeviationView>,
    /// Rules broken, each with what to do.
    pub flags: Vec<String>,
}

/// Quality indices.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct QualityView {
    /// `org` or `region`.
    pub scope: String,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// The finalized height.
    pub height: u64,
    /// Points are expected up to here (the end of the range or the finalized block's time, the
    /// earlier); calibration is checked at this instant.
    pub evaluated_until_ms: i64,
    /// The nominal collection interval (ms): one expected point per active meter per interval.
    pub nominal_interval_ms: i64,
    /// Per enterprise.
    pub enterprises: Vec<QualityEntry>,
    /// The region's sum (region scope).
    pub total: Option<QualityEntry>,
}

fn quality_flags(c: &QualityCounts, qi: &QualityIndex) -> Vec<String> {
    let c = c.normalized();
    let mut flags = vec![];
    if !qi.completeness_ok {
        flags.push(format!(
            "completeness {} is below the 90 % rule: {} of {} expected points received; check the gateway's uplink and the meters' polling",
            pct(qi.completeness_bp),
            c.received_points,
            c.expected_points
        ));
    }
    if c.meters_in_calibration < c.meters {
        flags.push(format!(
            "{} of {} active meters have no calibration certificate covering the end of the range; have the metrology authority record new certificates",
            c.meters - c.meters_in_calibration,
            c.meters
        ));
    }
    if qi.deviation_ok == Some(false) {
        flags.push(format!(
            "the daily figures deviate from the monthly report by {} (more than 5 %); check the report or the meters",
            qi.deviation_bp.map(pct).unwrap_or_default()
        ));
    }
    flags
}

fn quality_entry(org: Option<&Organisation>, counts: QualityCounts, deviations: Vec<DeviationView>) -> QualityEntry {
    let qi = quality::index(&counts);
    QualityEntry {
        org: org.map(|o| o.id.to_string()),
        name: org.map(|o| o.name.clone()),
        region: org.map(|o| o.region),
        completeness: pct(qi.completeness_bp),
        timeliness: pct(qi.timeliness_bp),
        accuracy: pct(qi.accuracy_bp),
        composite: pct(qi.composite_bp),
        flags: quality_flags(&counts, &qi),
        counts,
        index: qi,
        deviations,
    }
}

/// The counts behind an enterprise's quality indices.
fn quality_counts(
    state: &State,
    org: &UnifiedSocialCreditCode,
    meters: &[Meter],
    range: DayRange,
    until: i64,
) -> (QualityCounts, Vec<DeviationView>) {
    let params = &state.params.accounting;
    let slots = quality::expected_points(params.nominal_interval_ms, range.from_ms(), until);
    let active: Vec<&Meter> = meters.iter().filter(|m| m.status == DeviceStatus::Active).collect();
    let calibrated =
        active.iter().filter(|m| m.calibration.as_ref().is_some_and(|c| c.covers(until.saturating_sub(1)))).count();
    let (mut received, mut on_time) = (0u64, 0u64);
    for (_, d) in state.daily_range(org, range.from_day, range.to_day) {
        received += u64::from(d.points);
        on_time += u64::from(d.on_time);
    }
    // Whole months of the range with a report: daily kgce vs reported kgce (equivalent value).
    let refs = accounting::reference_set(params);
    let (mut daily_kgce, mut report_kgce, mut any) = (0i64, 0i64, false);
    let mut deviations = vec![];
    let mut day = range.from_day;
    while day <= range.to_day {
        let (y, m) = calendar::month_of_day(day);
        let month = y as u32 * 100 + m;
        let Ok(mr) = month_days(month) else { break };
        if mr.from_day >= range.from_day
            && mr.to_day <= range.to_day
            && let Some(report) = state.monthly_report(org, month)
        {
            let t = OrgTotals::of(state, org, mr, 0);
            for c in &report.consumption {
                let unit = t
                    .kinds
                    .keys()
                    .find(|(e, u)| *e == c.energy && convert_unit(c.quantity.0, c.unit, *u).is_some())
                    .map(|(_, u)| *u)
                    .unwrap_or(c.unit);
                let rep = convert_unit(c.quantity.0, c.unit, unit).unwrap_or(c.quantity.0);
                let (sum, daily_eq, missing) = t
                    .kinds
                    .get(&(c.energy, unit))
                    .map(|(b, _, _)| (b.consumption as i64, b.kgce_eq as i64, b.kgce_missing))
                    .unwrap_or((0, 0, false));
                let qi = quality::index(&QualityCounts {
                    daily_sum: Some(sum),
                    monthly_report: Some(rep),
                    ..QualityCounts::default()
                });
                deviations.push(DeviationView {
                    month,
                    energy: energy_name(c.energy),
                    unit: unit.symbol().into(),
                    daily_sum: dec(i128::from(sum)),
                    reported: dec(i128::from(rep)),
                    deviation_bp: qi.deviation_bp,
                    deviation_ok: qi.deviation_ok,
                });
                if let (false, Some((rep_eq, _))) = (missing, kgce(refs, c.energy, unit, rep, y)) {
                    daily_kgce = daily_kgce.saturating_add(daily_eq);
                    report_kgce = report_kgce.saturating_add(rep_eq);
                    any = true;
                }
            }
        }
        day = mr.to_day + 1;
    }
    let counts = QualityCounts {
        expected_points: slots.saturating_mul(active.len() as u64),
        received_points: received,
        on_time_points: on_time,
        meters: active.len() as u32,
        meters_in_calibration: calibrated as u32,
        daily_sum: any.then_some(daily_kgce),
        monthly_report: any.then_some(report_kgce),
    };
    (counts, deviations)
}

/// What a quality query covers.
#[derive(Clone, Copy, Debug)]
pub enum QualityScope<'a> {
    /// One enterprise.
    Org(&'a UnifiedSocialCreditCode),
    /// A region's enterprises and their sum.
    Region(Region),
}

/// Data-quality indices (数据质量指标) of an enterprise or of a region's enterprises.
pub fn quality(state: &State, scope: QualityScope<'_>, range: DayRange) -> Result<QualityView, Error> {
    let orgs: Vec<Organisation> = match scope {
        QualityScope::Org(o) => vec![member(state, o)?],
        QualityScope::Region(r) => enterprises_in(state, r),
    };
    let until = range.to_ms().min(state.timestamp_ms).max(range.from_ms());
    let mut by_owner: BTreeMap<UnifiedSocialCreditCode, Vec<Meter>> = BTreeMap::new();
    for m in state.meters() {
        by_owner.entry(m.owner.clone()).or_default().push(m);
    }
    let mut all = vec![];
    let enterprises: Vec<QualityEntry> = orgs
        .iter()
        .map(|o| {
            let meters = by_owner.get(&o.id).map(Vec::as_slice).unwrap_or(&[]);
            let (c, dev) = quality_counts(state, &o.id, meters, range, until);
            all.push(c);
            quality_entry(Some(o), c, dev)
        })
        .collect();
    let total = matches!(scope, QualityScope::Region(_)).then(|| quality_entry(None, all.into_iter().sum(), vec![]));
    Ok(QualityView {
        scope: match scope {
            QualityScope::Org(_) => "org",
            QualityScope::Region(_) => "region",
        }
        .into(),
        from: range.first_label(),
        to: range.last_label(),
        height: state.height,
        evaluated_until_ms: until,
        nominal_interval_ms: state.params.accounting.nominal_interval_ms,
        enterprises,
        total,
    })
}

pub fn quality_csv(v: &QualityView) -> String {
    let row = |e: &QualityEntry| {
        vec![
            e.org.clone().unwrap_or_else(|| "total".into()),
            e.name.clone().unwrap_or_default(),
            e.counts.expected_points.to_string(),
            e.counts.received_points.to_string(),
            e.counts.on_time_points.to_string(),
            e.counts.meters.to_string(),
            e.counts.meters_in_calibration.to_string(),
            e.index.completeness_bp.to_string(),
            e.index.completeness_ok.to_string(),
            e.index.timeliness_bp.to_string(),
            e.index.accuracy_bp.to_string(),
            e.index.deviation_bp.map(|b| b.to_string()).unwrap_or_default(),
            e.index.deviation_ok.map(|b| b.to_string()).unwrap_or_default(),
            e.index.composite_bp.to_string(),
            e.flags.join("; "),
        ]
    };
    csv(
        &[
            "org",
            "name",
            "expected_points",
            "received_points",
            "on_time_points",
            "meters",
            "meters_in_calibration",
            "completeness_bp",
            "completeness_ok",
            "timeliness_bp",
            "accuracy_bp",
            "deviation_bp",
            "deviation_ok",
            "composite_bp",
            "flags",
        ],
        v.enterprises.iter().chain(v.total.iter()).map(row),
    )
}
