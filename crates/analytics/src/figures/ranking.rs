//! Comprehensive energy consumption (综合能耗) in standard coal: rankings of a region's enterprises and an enterprise's month with unit-product consumption (单位产品能耗).

use super::*;

/// Totals of one energy kind in one unit.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct KindTotal {
    /// Energy kind.
    pub energy: String,
    /// Unit.
    pub unit: String,
    /// Consumption.
    pub consumption: String,
    /// Standard coal, equivalent value, kgce (absent when not computable).
    pub kgce_equivalent: Option<String>,
    /// Standard coal, equal value, kgce.
    pub kgce_equal_value: Option<String>,
    /// Daily figures summed.
    pub figures: usize,
    /// Why standard coal is missing, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kgce_missing: Option<String>,
}

/// Sums of an enterprise's daily figures over a range, per kind and unit.
#[derive(Default)]
pub(crate) struct OrgTotals {
    pub(crate) kinds: BTreeMap<(EnergyKind, Unit), (Bucket, usize, Option<String>)>,
    pub(crate) links: Vec<String>,
    pub(crate) figures: usize,
}

impl OrgTotals {
    /// The sums of `org`'s daily figures over `range`, with the proof links of the first
    /// `keep_links` of them. Once the links are taken, every whole month inside the range is read
    /// from its month's sums (`State::month_totals`, kept by the chain with the daily figures)
    /// instead of its up to 31 × kinds daily figures: a year is twelve reads per enterprise.
    /// The result is the same either way ([`OrgTotals::of_days`] is the reference).
    pub(crate) fn of(state: &State, org: &UnifiedSocialCreditCode, range: DayRange, keep_links: usize) -> OrgTotals {
        let mut t = OrgTotals::default();
        let mut day = range.from_day;
        while day <= range.to_day {
            let (y, m) = calendar::month_of_day(day);
            let month = (y.max(0) as u32) * 100 + m;
            let Ok(whole) = month_days(month) else {
                // Outside the calendar's months: day by day.
                t.add_days(state, org, day, range.to_day, keep_links);
                break;
            };
            let end = whole.to_day.min(range.to_day);
            let covered = day == whole.from_day && whole.to_day <= range.to_day;
            match (covered && t.links.len() >= keep_links).then(|| state.month_totals(org, month)).flatten() {
                Some(rec) => t.add_month(&rec),
                None => t.add_days(state, org, day, end, keep_links),
            }
            day = end + 1;
        }
        t
    }

    /// [`OrgTotals::of`] from the daily figures alone (the reference it is tested against).
    #[cfg(test)]
    pub(crate) fn of_days(
        state: &State,
        org: &UnifiedSocialCreditCode,
        range: DayRange,
        keep_links: usize,
    ) -> OrgTotals {
        let mut t = OrgTotals::default();
        t.add_days(state, org, range.from_day, range.to_day, keep_links);
        t
    }

    fn add_month(&mut self, rec: &trustmeter_state::MonthTotalsRecord) {
        for k in &rec.kinds {
            let (b, n, why) = self.kinds.entry((k.energy, k.unit)).or_default();
            b.consumption += k.consumption;
            b.estimated += k.estimated;
            b.manual += k.manual;
            b.kgce_eq += k.kgce_equivalent;
            b.kgce_ev += k.kgce_equal_value;
            if let Some(m) = &k.kgce_missing {
                b.kgce_missing = true;
                why.get_or_insert_with(|| m.clone());
            }
            *n += k.figures as usize;
            self.figures += k.figures as usize;
        }
    }

    fn add_days(
        &mut self,
        state: &State,
        org: &UnifiedSocialCreditCode,
        from_day: i32,
        to_day: i32,
        keep_links: usize,
    ) {
        let t = self;
        for (k, d) in state.daily_range(org, from_day, to_day) {
            let (b, n, why) = t.kinds.entry((k.energy, k.unit)).or_default();
            b.consumption += i128::from(d.consumption.0);
            b.estimated += i128::from(d.estimated.0);
            b.manual += i128::from(d.manual.0);
            if let Some(m) = &d.kgce_missing {
                b.kgce_missing = true;
                why.get_or_insert_with(|| m.clone());
            } else {
                b.kgce_eq += i128::from(d.kgce_equivalent.0);
                b.kgce_ev += i128::from(d.kgce_equal_value.0);
            }
            *n += 1;
            t.figures += 1;
            if t.links.len() < keep_links {
                t.links.push(proof_link(&k));
            }
        }
    }

    /// Comprehensive energy consumption (综合能耗) on both bases, micro-kgce, over the kinds whose
    /// standard coal is known.
    pub(crate) fn comprehensive(&self) -> (i64, i64) {
        let parts = |f: fn(&Bucket) -> i128| -> Vec<(EnergyKind, i64)> {
            self.kinds
                .iter()
                .filter(|(_, (b, _, _))| !b.kgce_missing)
                .map(|((e, _), (b, _, _))| (*e, f(b).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64))
                .collect()
        };
        (coal::comprehensive(&parts(|b| b.kgce_eq), 0), coal::comprehensive(&parts(|b| b.kgce_ev), 0))
    }

    pub(crate) fn kind_totals(&self) -> Vec<KindTotal> {
        self.kinds
            .iter()
            .map(|((e, u), (b, n, why))| KindTotal {
                energy: energy_name(*e),
                unit: u.symbol().into(),
                consumption: dec(b.consumption),
                kgce_equivalent: (!b.kgce_missing).then(|| dec(b.kgce_eq)),
                kgce_equal_value: (!b.kgce_missing).then(|| dec(b.kgce_ev)),
                figures: *n,
                kgce_missing: why.clone(),
            })
            .collect()
    }

    pub(crate) fn missing(&self) -> Vec<String> {
        self.kinds
            .iter()
            .filter(|(_, (b, _, _))| b.kgce_missing)
            .map(|((e, u), (_, _, why))| {
                format!("{} in {}: {}", energy_name(*e), u.symbol(), why.clone().unwrap_or_default())
            })
            .collect()
    }
}

/// One enterprise in a ranking.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RankingEntry {
    /// 1 = largest consumer.
    pub rank: usize,
    /// The enterprise.
    pub org: String,
    /// Its name.
    pub name: String,
    /// Its region code.
    pub region: u32,
    /// Comprehensive energy consumption (综合能耗), equivalent value, kgce.
    pub kgce_equivalent: String,
    /// Comprehensive energy consumption, equal value, kgce.
    pub kgce_equal_value: String,
    /// The ranked figure (per `basis`) in tonnes of standard coal (tce).
    pub tce: String,
    /// Per energy kind.
    pub kinds: Vec<KindTotal>,
    /// Daily figures summed.
    pub figures: usize,
    /// Kinds whose standard coal could not be computed (not in the totals).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    /// The enterprise's daily figures in the range, each with its proof link.
    pub daily_figures: String,
    /// Proof links of the daily figures summed (the first `MAX_PROOF_LINKS`).
    pub proofs: Vec<String>,
    /// Whether `proofs` lists only some of them (see `daily_figures` for all).
    pub proofs_truncated: bool,
}

/// Enterprises of a region ranked by standard coal.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RankingView {
    /// The region code.
    pub region: u32,
    /// First day.
    pub from: String,
    /// Last day (inclusive).
    pub to: String,
    /// `equivalent` (当量值) or `equal_value` (等价值).
    pub basis: String,
    /// The finalized height.
    pub height: u64,
    /// Enterprises in the region.
    pub enterprises: usize,
    /// The region's comprehensive consumption, equivalent value, kgce.
    pub total_kgce_equivalent: String,
    /// The region's comprehensive consumption, equal value, kgce.
    pub total_kgce_equal_value: String,
    /// The ranked enterprises (at most `limit`), largest first; ties by credit code.
    pub entries: Vec<RankingEntry>,
}

/// Ranks the enterprises of a region by comprehensive energy consumption in standard coal.
pub fn ranking(
    state: &State,
    region: Region,
    range: DayRange,
    basis: ElectricityBasis,
    limit_n: usize,
) -> Result<RankingView, Error> {
    if limit_n == 0 || limit_n > MAX_RANKING_LIMIT {
        return Err(limit(format!("limit={limit_n} must be between 1 and {MAX_RANKING_LIMIT}")));
    }
    let orgs = enterprises_in(state, region);
    let mut scored: Vec<(i64, i64, &Organisation, OrgTotals)> = orgs
        .iter()
        .map(|o| {
            let t = OrgTotals::of(state, &o.id, range, MAX_PROOF_LINKS + 1);
            let (eq, ev) = t.comprehensive();
            (eq, ev, o, t)
        })
        .collect();
    let key = |s: &(i64, i64, &Organisation, OrgTotals)| match basis {
        ElectricityBasis::Equivalent => s.0,
        ElectricityBasis::EqualValue => s.1,
    };
    scored.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| a.2.id.cmp(&b.2.id)));
    let total_eq: i128 = scored.iter().map(|s| i128::from(s.0)).sum();
    let total_ev: i128 = scored.iter().map(|s| i128::from(s.1)).sum();
    let entries = scored
        .iter()
        .take(limit_n)
        .enumerate()
        .map(|(i, s)| {
            let (eq, ev, o, t) = s;
            let mut proofs = t.links.clone();
            let truncated = proofs.len() > MAX_PROOF_LINKS;
            proofs.truncate(MAX_PROOF_LINKS);
            RankingEntry {
                rank: i + 1,
                org: o.id.to_string(),
                name: o.name.clone(),
                region: o.region,
                kgce_equivalent: dec(i128::from(*eq)),
                kgce_equal_value: dec(i128::from(*ev)),
                tce: dec(i128::from(key(s)) / 1_000),
                kinds: t.kind_totals(),
                figures: t.figures,
                excluded: t.missing(),
                daily_figures: format!(
                    "/v1/figures/daily?org={}&from={}&to={}",
                    o.id,
                    range.first_label(),
                    range.last_label()
                ),
                proofs,
                proofs_truncated: truncated,
            }
        })
        .collect();
    Ok(RankingView {
        region: region.0,
        from: range.first_label(),
        to: range.last_label(),
        basis: basis_name(basis).into(),
        height: state.height,
        enterprises: orgs.len(),
        total_kgce_equivalent: dec(total_eq),
        total_kgce_equal_value: dec(total_ev),
        entries,
    })
}

pub fn ranking_csv(v: &RankingView) -> String {
    csv(
        &[
            "rank",
            "org",
            "name",
            "region",
            "kgce_equivalent",
            "kgce_equal_value",
            "tce",
            "basis",
            "figures",
            "daily_figures",
        ],
        v.entries.iter().map(|e| {
            vec![
                e.rank.to_string(),
                e.org.clone(),
                e.name.clone(),
                e.region.to_string(),
                e.kgce_equivalent.clone(),
                e.kgce_equal_value.clone(),
                e.tce.clone(),
                v.basis.clone(),
                e.figures.to_string(),
                e.daily_figures.clone(),
            ]
        }),
    )
}

/// One energy kind of an enterprise's month, with the monthly report's deviation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MonthKind {
    /// Totals of the daily figures.
    #[serde(flatten)]
    pub total: KindTotal,
    /// The monthly report's figure for this kind, converted to this unit, if filed.
    pub reported: Option<String>,
    /// |daily sum − report| / report in basis points (rounded up), if reported.
    pub deviation_bp: Option<u32>,
    /// The deviation as a percentage.
    pub deviation: Option<String>,
    /// Whether the deviation is within the 5 % rule.
    pub deviation_ok: Option<bool>,
}

/// Unit-product energy consumption (单位产品能耗) of one product.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct UnitProductView {
    /// The product.
    pub product: String,
    /// Its unit of output.
    pub unit: String,
    /// Output in the month (manual data from the monthly report).
    pub output: String,
    /// kgce per unit of output, equivalent value (absent for zero output).
    pub kgce_per_unit_equivalent: Option<String>,
    /// kgce per unit of output, equal value.
    pub kgce_per_unit_equal_value: Option<String>,
}

/// An enterprise's energy in one month: comprehensive consumption, unit-product consumption and
/// the check against its monthly report.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnterpriseEnergyView {
    /// The enterprise.
    pub org: String,
    /// Its name.
    pub name: String,
    /// Its region code.
    pub region: u32,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Whether the month had ended at the finalized block's time.
    pub complete: bool,
    /// The finalized height.
    pub height: u64,
    /// Comprehensive energy consumption (综合能耗), equivalent value (当量值), kgce.
    pub comprehensive_kgce_equivalent: String,
    /// Comprehensive energy consumption, equal value (等价值), kgce.
    pub comprehensive_kgce_equal_value: String,
    /// The same in tonnes of standard coal, equivalent value.
    pub comprehensive_tce_equivalent: String,
    /// Per energy kind and unit.
    pub kinds: Vec<MonthKind>,
    /// Unit-product energy consumption per product of the monthly report.
    pub unit_product: Vec<UnitProductView>,
    /// Whether a monthly report is filed.
    pub report_filed: bool,
    /// Height of the block that recorded the report.
    pub report_height: Option<u64>,
    /// Kinds excluded from the comprehensive figure (no standard-coal factor), and other notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The daily figures of the month, each with its proof link.
    pub daily_figures: String,
}

/// The first and last day of month `YYYYMM`.
pub fn month_days(month: u32) -> Result<DayRange, Error> {
    let (y, m) = (month / 100, month % 100);
    let bad_month = || bad(format!("month={month} is not YYYYMM (e.g. 202611)"));
    if !(1..=12).contains(&m) || !(1900..=9999).contains(&y) {
        return Err(bad_month());
    }
    let first = calendar::parse_day(&format!("{y:04}-{m:02}-01")).ok_or_else(bad_month)?;
    let next = if m == 12 { format!("{:04}-01-01", y + 1) } else { format!("{y:04}-{:02}-01", m + 1) };
    let next = calendar::parse_day(&next).ok_or_else(bad_month)?;
    DayRange::new(first, next - 1, 31)
}

/// Converts `micros` of `from` into `to` when they differ only by a factor of 1 000.
pub(crate) fn convert_unit(micros: i64, from: Unit, to: Unit) -> Option<i64> {
    use Unit::*;
    match (from, to) {
        _ if from == to => Some(micros),
        (MegawattHour, KilowattHour) | (Tonne, Kilogram) | (Gigajoule, Megajoule) => micros.checked_mul(1_000),
        (KilowattHour, MegawattHour) | (Kilogram, Tonne) | (Megajoule, Gigajoule) => Some(micros / 1_000),
        _ => None,
    }
}

/// An enterprise's energy in month `YYYYMM`.
pub fn enterprise_energy(
    state: &State,
    org: &UnifiedSocialCreditCode,
    month: u32,
) -> Result<EnterpriseEnergyView, Error> {
    let o = member(state, org)?;
    let range = month_days(month)?;
    let mut t = OrgTotals::of(state, org, range, 0);
    let report = state.monthly_report(org, month);
    let mut notes: Vec<String> = vec![];
    // Measured heating values of the month (实测低位发热量, steam enthalpy) replace the reference
    // coefficients for the month's total of that kind: one conversion of the total, same rounding.
    if let (Some(r), Some(refs)) = (&report, trustmeter_energy::reference::builtin(&state.params.accounting.reference))
    {
        for h in &r.heating_values {
            let Some((b, _, _)) = t.kinds.get_mut(&(h.energy, h.unit)) else {
                notes.push(format!(
                    "measured heating value of {} per {} not applied: no daily figure in that unit this month",
                    energy_name(h.energy),
                    h.unit.symbol()
                ));
                continue;
            };
            let measured = coal::MeasuredHeatingValue {
                kj_per_unit: trustmeter_energy::reference::Decimal { mantissa: i128::from(h.kj_per_unit.0), scale: 6 },
            };
            let amount = b.consumption.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            let year = (month / 100) as i32;
            let eq = coal::to_kgce(refs, h.energy, h.unit, amount, ElectricityBasis::Equivalent, year, Some(&measured));
            let ev = coal::to_kgce(refs, h.energy, h.unit, amount, ElectricityBasis::EqualValue, year, Some(&measured));
            match (eq, ev) {
                (Ok(a), Ok(v)) => {
                    b.kgce_eq = i128::from(a.kgce_micros);
                    b.kgce_ev = i128::from(v.kgce_micros);
                    b.kgce_missing = false;
                    notes.push(format!(
                        "{}: measured heating value {} kJ/{} from the monthly report applied ({}, {} kgce per {})",
                        energy_name(h.energy),
                        h.kj_per_unit,
                        h.unit.symbol(),
                        a.method,
                        a.coefficient,
                        h.unit.symbol()
                    ));
                }
                (Err(e), _) | (_, Err(e)) => {
                    notes.push(format!("measured heating value of {} not applied: {e}", energy_name(h.energy)))
                }
            }
        }
    }
    let (eq, ev) = t.comprehensive();
    notes.extend(t.missing().into_iter().map(|m| format!("not in the comprehensive figure: {m}")));
    let mut kinds: Vec<MonthKind> = t
        .kind_totals()
        .into_iter()
        .zip(t.kinds.iter())
        .map(|(total, ((e, u), (b, _, _)))| {
            let reported = report.as_ref().and_then(|r| {
                r.consumption.iter().filter(|c| c.energy == *e).find_map(|c| convert_unit(c.quantity.0, c.unit, *u))
            });
            let (bp, ok) = match reported {
                Some(rep) => {
                    let qi = quality::index(&QualityCounts {
                        daily_sum: Some(b.consumption.clamp(0, i128::from(i64::MAX)) as i64),
                        monthly_report: Some(rep),
                        ..QualityCounts::default()
                    });
                    (qi.deviation_bp, qi.deviation_ok)
                }
                None => (None, None),
            };
            MonthKind {
                total,
                reported: reported.map(|r| dec(i128::from(r))),
                deviation_bp: bp,
                deviation: bp.map(|b| if b == u32::MAX { "n/a (report is zero)".into() } else { pct(b) }),
                deviation_ok: ok,
            }
        })
        .collect();
    // Reported kinds without any daily figure deviate by 100 %.
    if let Some(r) = &report {
        for c in &r.consumption {
            let covered =
                t.kinds.keys().any(|(e, u)| *e == c.energy && convert_unit(c.quantity.0, c.unit, *u).is_some());
            if !covered {
                let qi = quality::index(&QualityCounts {
                    daily_sum: Some(0),
                    monthly_report: Some(c.quantity.0),
                    ..QualityCounts::default()
                });
                kinds.push(MonthKind {
                    total: KindTotal {
                        energy: energy_name(c.energy),
                        unit: c.unit.symbol().into(),
                        consumption: dec(0),
                        kgce_equivalent: None,
                        kgce_equal_value: None,
                        figures: 0,
                        kgce_missing: None,
                    },
                    reported: Some(c.quantity.to_string()),
                    deviation_bp: qi.deviation_bp,
                    deviation: qi.deviation_bp.map(pct),
                    deviation_ok: qi.deviation_ok,
                });
                notes.push(format!(
                    "the monthly report names {} in {} but the chain has no daily figure of it in this month",
                    energy_name(c.energy),
                    c.unit.symbol()
                ));
            }
        }
    } else {
        notes.push(format!(
            "no monthly report is filed for {month}: the 5 % check and unit-product consumption need one (trustmeter tx monthly-report)"
        ));
    }
    let unit_product = report
        .as_ref()
        .map(|r| {
            r.production
                .iter()
                .map(|p| UnitProductView {
                    product: p.product.clone(),
                    unit: p.unit.clone(),
                    output: p.quantity.to_string(),
                    kgce_per_unit_equivalent: coal::unit_product(eq, p.quantity.0).map(|v| dec(i128::from(v))),
                    kgce_per_unit_equal_value: coal::unit_product(ev, p.quantity.0).map(|v| dec(i128::from(v))),
                })
                .collect()
        })
        .unwrap_or_default();
    let complete = state.timestamp_ms >= range.to_ms();
    if !complete {
        notes.push("the month has not ended at the finalized block's time: the figures are partial".into());
    }
    Ok(EnterpriseEnergyView {
        org: org.to_string(),
        name: o.name.clone(),
        region: o.region,
        month: format!("{:04}-{:02}", month / 100, month % 100),
        from: range.first_label(),
        to: range.last_label(),
        complete,
        height: state.height,
        comprehensive_kgce_equivalent: dec(i128::from(eq)),
        comprehensive_kgce_equal_value: dec(i128::from(ev)),
        comprehensive_tce_equivalent: dec(i128::from(eq) / 1_000),
        kinds,
        unit_product,
        report_filed: report.is_some(),
        report_height: report.map(|r| r.height),
        notes,
        daily_figures: format!("/v1/figures/daily?org={org}&from={}&to={}", range.first_label(), range.last_label()),
    })
}
