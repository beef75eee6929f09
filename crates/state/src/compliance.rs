//! The compliance cycle in the state (履约): filed carbon reports, verification (核查) and quota
//! accounts (配额). The rules are `trustmeter_types::compliance`'s; this module applies them.
//!
//! - **Reports.** [`build_report`] is the one function that makes a report document from a
//!   state: the API serves it for the enterprise to keep and sign, and every validator calls it
//!   again when the filing executes, accepting the filing only if the hash it signed is that of
//!   the document the validator's own state gives. At most [`MAX_REPORTS_PER_BLOCK`] filings
//!   fit in a block: a report evaluates up to twelve months again (≈ 0.3 ms each at 256 entries)
//!   and reads the enterprise's devices (≤ [`MAX_BOUNDARY_DEVICES`]).
//! - **Verification.** Assign → statement → accept / object → decide, in that order; a statement
//!   nobody objected to becomes final at the end of the first block after its window
//!   ([`close_verifications`], ≤ [`MAX_DUE_PER_BLOCK`] a block, in deadline order, through the
//!   `VerificationDue` index: one range read per block whatever the number of verifications).
//! - **Quotas.** Allocations (regulator), a reference figure (enterprise), surrender against the
//!   final verified emissions with offsets capped, banking to the next year.

use crate::carbon::{first_day, month_inputs, month_of};
use crate::state::State;
use std::collections::{BTreeMap, BTreeSet};
use trustmeter_carbon::report::{
    ActivityLine, Boundary, DataQuality, DeviceLine, Entity, EvidenceLine, FactorLine, MeterCount, MethodologyUsed,
    MonthLine, PlanLine, REPORT_FORMAT, ReportDocument, ReportTotals, SourceLine, tonnes,
};
use trustmeter_energy::calendar;
use trustmeter_schema::{
    Allocation, CarbonReportRecord, FinalBy, KeyRange, QuotaRecord, StateKey, StateValue, StatementRecord,
    VerificationAct, VerificationRecord, VerificationStatus,
};
use trustmeter_types::carbon::CarbonEntryData;
use trustmeter_types::compliance::{
    DEPOSIT_DUE_DAYS, MAX_QUOTA_ADJUSTMENTS, OBJECTION_WORKING_DAYS, OFFSET_CAP_PERCENT, QuotaOp, ReportPeriod,
    VerificationStep,
};
use trustmeter_types::membership::jurisdiction_covers;
use trustmeter_types::{Hash32, OrgKind, PublicKey, RejectCode, Rejection, TxOutcome, UnifiedSocialCreditCode};

/// Most report filings in one block (see the module documentation).
pub const MAX_REPORTS_PER_BLOCK: usize = 4;
/// Most gateways and meters a report's boundary lists or counts.
pub const MAX_BOUNDARY_DEVICES: usize = 65_536;
/// Most objection windows closed at the end of one block (the rest close in the next blocks).
pub const MAX_DUE_PER_BLOCK: usize = 64;

impl State {
    /// An enterprise's filed report of a period, as last filed.
    pub fn carbon_report(&self, org: &UnifiedSocialCreditCode, period: ReportPeriod) -> Option<CarbonReportRecord> {
        match self.get(&StateKey::CarbonReport(org.clone(), period.code())) {
            Some(StateValue::CarbonReport(r)) => Some(r),
            _ => None,
        }
    }

    /// An enterprise's filed reports of a year: the annual report, then the monthly deposits.
    pub fn carbon_reports_of_year(&self, org: &UnifiedSocialCreditCode, year: u32) -> Vec<CarbonReportRecord> {
        let mut out = Vec::new();
        for range in
            [KeyRange::carbon_reports(org, year, year), KeyRange::carbon_reports(org, year * 100 + 1, year * 100 + 12)]
        {
            out.extend(self.scan(&range, false, 13).into_iter().filter_map(|(_, v)| match v {
                StateValue::CarbonReport(r) => Some(r),
                _ => None,
            }));
        }
        out
    }

    /// The verification of an enterprise's annual report of `year`.
    pub fn verification(&self, org: &UnifiedSocialCreditCode, year: u32) -> Option<VerificationRecord> {
        match self.get(&StateKey::Verification(org.clone(), year)) {
            Some(StateValue::Verification(r)) => Some(r),
            _ => None,
        }
    }

    /// An enterprise's quota account of `year` (an empty one if nothing was recorded).
    pub fn quota(&self, org: &UnifiedSocialCreditCode, year: u32) -> QuotaRecord {
        match self.get(&StateKey::Quota(org.clone(), year)) {
            Some(StateValue::Quota(r)) => r,
            _ => QuotaRecord::default(),
        }
    }
}

/// Why a report cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportBuildError {
    /// Not a member.
    #[error("{0} is not a member organisation")]
    NotAMember(UnifiedSocialCreditCode),
    /// Larger than a report may be.
    #[error("the report would be {0} bytes, more than {max}", max = trustmeter_carbon::report::MAX_REPORT_BYTES)]
    TooLarge(usize),
}

/// A generated report: the document, its canonical bytes and hash, and what a filing records.
#[derive(Debug, Clone)]
pub struct BuiltReport {
    /// The document.
    pub document: ReportDocument,
    /// Its canonical bytes.
    pub bytes: Vec<u8>,
    /// The chain's hash over them.
    pub hash: Hash32,
    /// Totals, µt CO2e: standard, scope 1, scope 2 location, scope 2 market, biogenic.
    pub totals_ut: [i64; 5],
    /// Each month's result height (months with a stored result).
    pub result_heights: Vec<(u32, u64)>,
}

/// A report's source line: (source, item, gas, scope, views, biogenic).
type SourceKey = (String, String, String, u8, String, bool);

fn month_label(month: u32) -> String {
    format!("{:04}-{:02}", month / 100, month % 100)
}

fn views_text(views: &BTreeSet<trustmeter_carbon::View>) -> String {
    views.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(" ")
}

/// What an entry records, for a report line: (what, amount, unit, detail).
fn describe(m: &trustmeter_carbon::Methodology, data: &CarbonEntryData) -> (String, String, String, String) {
    let q = |v: trustmeter_types::Quantity| tonnes(v.micros());
    match data {
        CarbonEntryData::Fuel { fuel, amount } => {
            let unit = m.fuels.get(fuel).map(|f| f.unit.to_string()).unwrap_or_default();
            (format!("fuel {fuel}"), q(*amount), unit, String::new())
        }
        CarbonEntryData::FuelAnalysis { fuel, ncv, carbon_content } => {
            let mut detail = Vec::new();
            if let Some(v) = ncv {
                detail.push(format!("NCV {} GJ per unit", q(*v)));
            }
            if let Some(v) = carbon_content {
                detail.push(format!("carbon content {} tC/GJ", q(*v)));
            }
            (format!("measured factors of {fuel}"), String::new(), String::new(), detail.join("; "))
        }
        CarbonEntryData::Fgas { gas, opening_t, closing_t, purchased_t, sold_t, fills, filling } => {
            let method = match filling {
                trustmeter_types::GasFilling::Containers { before_t, after_t } => {
                    format!("containers {} t before, {} t after filling", q(*before_t), q(*after_t))
                }
                trustmeter_types::GasFilling::FlowMeter { metered_t } => format!("flow meter {} t", q(*metered_t)),
            };
            (
                format!("{gas} ledger"),
                q(*purchased_t),
                "t purchased".into(),
                format!(
                    "opening {} t, closing {} t, sold {} t, {fills} fills, {method}",
                    q(*opening_t),
                    q(*closing_t),
                    q(*sold_t)
                ),
            )
        }
        CarbonEntryData::Welding { opening_t, purchased_t, closing_t, sold_t, v_co2, v_ar, v_o2 } => (
            "welding gas ledger".into(),
            q(*purchased_t),
            "t purchased".into(),
            format!(
                "opening {} t, closing {} t, sold {} t; CO2 {}, Ar {}, O2 {} by volume",
                q(*opening_t),
                q(*closing_t),
                q(*sold_t),
                q(*v_co2),
                q(*v_ar),
                q(*v_o2)
            ),
        ),
        CarbonEntryData::Output { product, unit, amount } => {
            (format!("output {product}"), q(*amount), unit.clone(), String::new())
        }
        CarbonEntryData::GreenPower { contract, mwh } => {
            (format!("green power contract {contract}"), q(*mwh), "MWh".into(), String::new())
        }
        CarbonEntryData::GreenCertificates { batch, first, count, vintage } => (
            format!("green certificates {batch}"),
            count.to_string(),
            "MWh".into(),
            format!(
                "serials {first}..={}, vintage {}",
                first.saturating_add(u64::from(*count).saturating_sub(1)),
                month_label(*vintage)
            ),
        ),
    }
}

/// Generates `org`'s report of `period` from `state`: a pure function of the state (see the
/// module documentation). Months not yet begun are evaluated like any other (they hold nothing).
pub fn build_report(
    state: &State,
    org: &UnifiedSocialCreditCode,
    period: ReportPeriod,
) -> Result<BuiltReport, ReportBuildError> {
    let o = state.organisation(org).ok_or_else(|| ReportBuildError::NotAMember(org.clone()))?;
    let alg = state.hash_alg();
    let status = |s: trustmeter_types::DeviceStatus| format!("{s:?}").to_lowercase();

    // Boundary: the enterprise's devices (named under its code).
    let mut gateways = Vec::new();
    for (_, v) in state.scan(&KeyRange::gateways_of(org), false, MAX_BOUNDARY_DEVICES) {
        if let StateValue::Gateway(g) = v
            && &g.owner == org
        {
            gateways.push(DeviceLine { id: g.id.to_string(), status: status(g.status) });
        }
    }
    let mut meters: BTreeMap<(String, String), u32> = BTreeMap::new();
    for m in state.iter_range(KeyRange::meters_of(org)).take(MAX_BOUNDARY_DEVICES).filter_map(|(_, v)| match v {
        StateValue::Meter(m) => Some(m),
        _ => None,
    }) {
        if &m.owner == org {
            *meters.entry((m.energy.name().to_string(), status(m.status))).or_default() += 1;
        }
    }

    let months = period.months();
    let (first, last) = (months[0], months[months.len() - 1]);
    let plans = state.carbon_plans(org);
    let start = plans.iter().rposition(|(from, _)| *from <= first).unwrap_or(0);
    let monitoring_plan: Vec<PlanLine> = plans[start.min(plans.len())..]
        .iter()
        .filter(|(from, _)| *from <= last)
        .map(|(from, p)| PlanLine { from: month_label(*from), methodology: p.methodology.clone() })
        .collect();

    let mut month_lines = Vec::new();
    let mut sources: BTreeMap<SourceKey, (i64, i64)> = BTreeMap::new();
    let mut factors: BTreeMap<(String, String, String, String, String), Vec<String>> = BTreeMap::new();
    let mut methodologies: BTreeMap<(String, u32), MethodologyUsed> = BTreeMap::new();
    let mut activity = Vec::new();
    let mut totals = [0i64; 5];
    let (mut output_sum, mut output_months, mut evaluated) = (0i64, 0u32, 0u32);
    let mut metered_days = 0u32;
    let mut unconverted = Vec::new();
    let mut notes = Vec::new();
    let mut result_heights = Vec::new();
    for &month in &months {
        let label = month_label(month);
        let stored = state.carbon_result(org, month);
        if let Some(r) = &stored {
            result_heights.push((month, r.height));
        }
        let failed = |methodology: String, error: String| MonthLine {
            month: label.clone(),
            methodology,
            standard: tonnes(0),
            scope1: tonnes(0),
            scope2_location: tonnes(0),
            scope2_market: tonnes(0),
            biogenic: tonnes(0),
            output: None,
            entries: 0,
            metered_days: 0,
            result_height: stored.as_ref().map(|r| r.height),
            error: Some(error),
        };
        let inputs = match month_inputs(state, org, month, None) {
            Ok(i) => i,
            Err(e) => {
                month_lines.push(failed(state.carbon_methodology_id(org, month), e.to_string()));
                continue;
            }
        };
        let name = format!("{} v{}", inputs.record.id, inputs.record.version);
        methodologies.entry((inputs.record.id.clone(), inputs.record.version)).or_insert_with(|| MethodologyUsed {
            id: inputs.record.id.clone(),
            version: inputs.record.version,
            title: inputs.record.title.clone(),
            gwp_set: inputs.methodology.gwp_set.clone(),
            text_hash: trustmeter_crypto::hash(alg, inputs.record.text.as_bytes()).to_hex(),
            deployed_height: inputs.record.deployed_height,
        });
        metered_days += inputs.metered_days;
        for x in &inputs.metered {
            let (energy, unit) = (x.energy.name(), x.unit.symbol());
            let detail = format!("sum of the chain's daily figures ({} days with figures)", inputs.metered_days);
            for (what, amount) in [("consumed", x.consumed), ("exported", x.exported)] {
                if what == "exported" && amount == 0 {
                    continue;
                }
                activity.push(ActivityLine {
                    month: label.clone(),
                    origin: "metered".into(),
                    what: format!("{energy} {what}"),
                    amount: tonnes(amount),
                    unit: unit.to_string(),
                    detail: detail.clone(),
                    evidence: vec![],
                });
            }
        }
        for e in &inputs.entries {
            let Some(data) = &e.entry.data else { continue };
            let (what, amount, unit, detail) = describe(&inputs.methodology, data);
            let detail = match (detail.is_empty(), e.entry.note.is_empty()) {
                (_, true) => detail,
                (true, false) => e.entry.note.clone(),
                (false, false) => format!("{detail}; {}", e.entry.note),
            };
            activity.push(ActivityLine {
                month: label.clone(),
                origin: format!("entry {} rev {}", e.entry.number, e.revision),
                what,
                amount,
                unit,
                detail,
                evidence: e
                    .entry
                    .evidence
                    .iter()
                    .map(|v| EvidenceLine {
                        hash: v.hash.to_hex(),
                        kind: v.kind.as_str().to_string(),
                        name: v.name.clone(),
                        bytes: v.bytes,
                    })
                    .collect(),
            });
        }
        unconverted.extend(
            inputs.unconverted.iter().map(|u| {
                format!("{label}: {} {} {}: {}", u.energy.name(), tonnes(u.consumed), u.unit.symbol(), u.reason)
            }),
        );
        notes.extend(inputs.notes.iter().map(|n| format!("{label}: {n}")));
        let r = match trustmeter_carbon::compute(&inputs.methodology, &inputs.activity) {
            Ok(r) => r,
            Err(e) => {
                month_lines.push(failed(name, e.to_string()));
                continue;
            }
        };
        evaluated += 1;
        for l in &r.lines {
            let key = (l.source.clone(), l.item.clone(), l.gas.clone(), l.scope, views_text(&l.views), l.biogenic);
            let e = sources.entry(key).or_default();
            e.0 = e.0.saturating_add(l.mass_ut);
            e.1 = e.1.saturating_add(l.co2e_ut);
        }
        for f in &r.factors {
            factors
                .entry((f.name.clone(), f.value.to_string(), f.unit.clone(), f.source.clone(), f.confidence.clone()))
                .or_default()
                .push(label.clone());
        }
        let t = r.totals;
        for (acc, v) in totals.iter_mut().zip([t.standard, t.scope1, t.scope2_location, t.scope2_market, t.biogenic]) {
            *acc = acc.saturating_add(v);
        }
        let output = inputs.activity.output.and_then(trustmeter_carbon::compute::to_micro);
        if let Some(o) = output {
            output_sum = output_sum.saturating_add(o);
            output_months += 1;
        }
        month_lines.push(MonthLine {
            month: label,
            methodology: name,
            standard: tonnes(t.standard),
            scope1: tonnes(t.scope1),
            scope2_location: tonnes(t.scope2_location),
            scope2_market: tonnes(t.scope2_market),
            biogenic: tonnes(t.biogenic),
            output: output.map(tonnes),
            entries: inputs.entries.iter().filter(|e| e.entry.data.is_some()).count() as u32,
            metered_days: inputs.metered_days,
            result_height: stored.as_ref().map(|r| r.height),
            error: None,
        });
    }
    let all_months = months.len() as u32;
    let (output, intensity) = if output_months > 0 && output_months == evaluated {
        let intensity = (output_sum > 0)
            .then(|| {
                let q = trustmeter_carbon::Decimal::new(totals[0], 6) / trustmeter_carbon::Decimal::new(output_sum, 6);
                trustmeter_carbon::compute::to_micro(q).map(tonnes)
            })
            .flatten();
        (Some(tonnes(output_sum)), intensity)
    } else {
        if output_months > 0 {
            notes.push(format!(
                "production output was entered for {output_months} of {evaluated} evaluated months: no intensity"
            ));
        }
        (None, None)
    };
    let days = (first_day(next_month(last)) - first_day(first)).max(0) as u32;
    let document = ReportDocument {
        format: REPORT_FORMAT.into(),
        kind: period.kind().into(),
        period: period.label(),
        chain_id: state.chain_id.to_string(),
        entity: Entity { id: org.to_string(), name: o.name.clone(), region: o.region },
        boundary: Boundary {
            gateways,
            meters: meters.into_iter().map(|((energy, status), count)| MeterCount { energy, status, count }).collect(),
        },
        monitoring_plan,
        methodologies: methodologies.into_values().collect(),
        months: month_lines,
        sources: sources
            .into_iter()
            .map(|((source, item, gas, scope, views, biogenic), (mass, co2e))| SourceLine {
                source,
                item,
                gas,
                scope,
                views,
                biogenic,
                mass: tonnes(mass),
                co2e: tonnes(co2e),
            })
            .collect(),
        activity,
        factors: factors
            .into_iter()
            .map(|((name, value, unit, source, confidence), used)| FactorLine {
                name,
                value,
                unit,
                source,
                confidence,
                months: if used.len() as u32 == all_months && all_months > 1 { "all".into() } else { used.join(" ") },
            })
            .collect(),
        totals: ReportTotals {
            standard: tonnes(totals[0]),
            scope1: tonnes(totals[1]),
            scope2_location: tonnes(totals[2]),
            scope2_market: tonnes(totals[3]),
            location: tonnes(totals[1].saturating_add(totals[2])),
            market: tonnes(totals[1].saturating_add(totals[3])),
            biogenic: tonnes(totals[4]),
            output,
            intensity,
        },
        data_quality: DataQuality { days, metered_days, months_evaluated: evaluated, unconverted, notes },
    };
    let bytes = document.to_bytes();
    if bytes.len() > trustmeter_carbon::report::MAX_REPORT_BYTES {
        return Err(ReportBuildError::TooLarge(bytes.len()));
    }
    let hash = trustmeter_crypto::hash(alg, &bytes);
    Ok(BuiltReport { document, bytes, hash, totals_ut: totals, result_heights })
}

fn next_month(month: u32) -> u32 {
    if month % 100 == 12 { (month / 100 + 1) * 100 + 1 } else { month + 1 }
}

/// The last local day a report of `period` is on time: 40 days after a month's end, 31 March
/// after a year.
pub fn report_due_day(period: ReportPeriod) -> i32 {
    match period {
        ReportPeriod::Month(m) => first_day(next_month(m)) + calendar_days(DEPOSIT_DUE_DAYS) - 1,
        ReportPeriod::Year(y) => first_day((y + 1) * 100 + 3) + 30,
    }
}

fn calendar_days(n: i32) -> i32 {
    n
}

fn rejected(code: RejectCode, msg: String) -> TxOutcome {
    TxOutcome::Rejected(Rejection::new(code, msg))
}

/// Applies [`trustmeter_types::TxPayload::SubmitCarbonReport`].
pub(crate) fn submit_report(
    state: &mut State,
    (height, timestamp_ms): (u64, i64),
    (org, kind): (&UnifiedSocialCreditCode, OrgKind),
    sender: &PublicKey,
    period: ReportPeriod,
    hash: &Hash32,
) -> TxOutcome {
    if kind != OrgKind::Enterprise {
        return rejected(
            RejectCode::NotAuthorised,
            format!("only an enterprise files carbon reports; {org} is a {kind:?}"),
        );
    }
    let now = month_of(timestamp_ms);
    let ended = match period {
        ReportPeriod::Month(m) => m < now,
        ReportPeriod::Year(y) => y < now / 100,
    };
    if !ended {
        return rejected(
            RejectCode::InvalidTransition,
            format!("{} has not ended (this block is in {}); file it after its end", period.label(), month_label(now)),
        );
    }
    if let ReportPeriod::Year(y) = period
        && let Some(v) = state.verification(org, y)
        && v.status != VerificationStatus::Assigned
    {
        return rejected(
            RejectCode::InvalidTransition,
            format!(
                "the {y} report has a verifier's statement ({:?}); it changes only through the verification",
                v.status
            ),
        );
    }
    let built = match build_report(state, org, period) {
        Ok(b) => b,
        Err(e) => return rejected(RejectCode::ReportMismatch, e.to_string()),
    };
    if &built.hash != hash {
        return rejected(
            RejectCode::ReportMismatch,
            format!(
                "{org}'s {} report at this block hashes to {}, not to the filed hash: data or entries changed since it was generated; generate it again",
                period.label(),
                built.hash
            ),
        );
    }
    let previous = state.carbon_report(org, period);
    let [standard_ut, scope1_ut, scope2_location_ut, scope2_market_ut, biogenic_ut] = built.totals_ut;
    state.put(
        StateKey::CarbonReport(org.clone(), period.code()),
        StateValue::CarbonReport(CarbonReportRecord {
            period,
            hash: built.hash,
            revision: previous.map_or(1, |p| p.revision.saturating_add(1)),
            signed_by: sender.clone(),
            height,
            time_ms: timestamp_ms,
            on_time: calendar::day_number(timestamp_ms) <= report_due_day(period),
            standard_ut,
            scope1_ut,
            scope2_location_ut,
            scope2_market_ut,
            biogenic_ut,
            result_heights: built.result_heights,
        }),
    );
    TxOutcome::Accepted
}

/// The end (last ms) of the objection window of a statement recorded at `timestamp_ms`.
pub fn objection_deadline_ms(timestamp_ms: i64) -> i64 {
    let last = calendar::add_working_days(calendar::day_number(timestamp_ms), OBJECTION_WORKING_DAYS);
    calendar::day_start_ms(last.saturating_add(1)) - 1
}

/// Refuses a sender that is not a regulator whose jurisdiction covers `region`; `what` says what
/// such a regulator does ("assigns verifiers").
fn require_regulator(
    state: &State,
    org: &UnifiedSocialCreditCode,
    kind: OrgKind,
    region: u32,
    what: &str,
) -> Result<(), TxOutcome> {
    let covers =
        kind == OrgKind::Regulator && state.organisation(org).is_some_and(|o| jurisdiction_covers(o.region, region));
    if covers {
        return Ok(());
    }
    Err(rejected(
        RejectCode::NotAuthorised,
        format!("only a regulator whose jurisdiction covers region {region} {what}"),
    ))
}

/// Applies [`trustmeter_types::TxPayload::Verification`].
pub(crate) fn verification_step(
    state: &mut State,
    (height, timestamp_ms): (u64, i64),
    (org, kind): (&UnifiedSocialCreditCode, OrgKind),
    sender: &PublicKey,
    (target, year): (&UnifiedSocialCreditCode, u32),
    step: &VerificationStep,
) -> TxOutcome {
    let Some(enterprise) = state.organisation(target).filter(|o| o.kind == OrgKind::Enterprise) else {
        return rejected(RejectCode::NotAuthorised, format!("{target} is not an enterprise of this chain"));
    };
    let key = StateKey::Verification(target.clone(), year);
    let current = state.verification(target, year);
    let act = |reason: &str| VerificationAct {
        by: org.clone(),
        signed_by: sender.clone(),
        reason: reason.to_string(),
        height,
        time_ms: timestamp_ms,
    };
    let wrong_step = |v: &Option<VerificationRecord>| {
        let at = v.as_ref().map_or("not assigned".to_string(), |v| format!("{:?}", v.status).to_lowercase());
        rejected(
            RejectCode::InvalidTransition,
            format!("the verification of {target}'s {year} report is {at}; '{}' does not apply", step.name()),
        )
    };
    let record = match step {
        VerificationStep::Assign { verifier } => {
            if let Err(r) = require_regulator(state, org, kind, enterprise.region, "assigns verifiers") {
                return r;
            }
            if state.organisation(verifier).is_none_or(|v| v.kind != OrgKind::Verifier) {
                return rejected(RejectCode::NotAuthorised, format!("{verifier} is not a verifier organisation"));
            }
            if let Err(r) = crate::membership::require_active(state, verifier) {
                return TxOutcome::Rejected(r);
            }
            if state.carbon_report(target, ReportPeriod::Year(year)).is_none() {
                return rejected(
                    RejectCode::InvalidTransition,
                    format!("{target} has filed no {year} annual report to verify"),
                );
            }
            if current.as_ref().is_some_and(|v| v.status != VerificationStatus::Assigned) {
                return wrong_step(&current);
            }
            VerificationRecord {
                status: VerificationStatus::Assigned,
                verifier: verifier.clone(),
                assigned_by: org.clone(),
                assigned_height: height,
                statement: None,
                objection: None,
                decision: None,
                final_ut: None,
                finalised: None,
            }
        }
        VerificationStep::Statement { statement } => {
            let Some(mut v) = current.clone().filter(|v| v.status == VerificationStatus::Assigned) else {
                return wrong_step(&current);
            };
            if &v.verifier != org {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("{org} is not the verifier assigned to {target}'s {year} report ({})", v.verifier),
                );
            }
            let Some(report) = state.carbon_report(target, ReportPeriod::Year(year)) else {
                return wrong_step(&current);
            };
            if statement.report != report.hash {
                return rejected(
                    RejectCode::InvalidTransition,
                    format!(
                        "the statement is on report {} but {target}'s {year} report on chain is {} (revision {})",
                        statement.report, report.hash, report.revision
                    ),
                );
            }
            let adjustments = statement.findings.iter().fold(0i64, |s, f| s.saturating_add(f.adjustment.micros()));
            let expected = report.standard_ut.saturating_add(adjustments);
            if statement.verified.micros() != expected {
                return rejected(
                    RejectCode::InvalidTransition,
                    format!(
                        "verified emissions {} t are not the reported {} t plus the findings' adjustments {} t = {} t",
                        tonnes(statement.verified.micros()),
                        tonnes(report.standard_ut),
                        tonnes(adjustments),
                        tonnes(expected)
                    ),
                );
            }
            let deadline = objection_deadline_ms(timestamp_ms);
            v.status = VerificationStatus::Stated;
            v.statement = Some(StatementRecord {
                statement: statement.clone(),
                signed_by: sender.clone(),
                height,
                time_ms: timestamp_ms,
                reported_ut: report.standard_ut,
                objection_deadline_ms: deadline,
            });
            state.put(StateKey::VerificationDue(deadline, target.clone(), year), StateValue::VerificationDue);
            v
        }
        VerificationStep::Accept | VerificationStep::Object { .. } => {
            if org != target {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("only {target} accepts or objects to the verification of its report"),
                );
            }
            let Some(mut v) = current.clone().filter(|v| v.status == VerificationStatus::Stated) else {
                return wrong_step(&current);
            };
            let s = v.statement.as_ref().expect("a stated verification has its statement");
            let (deadline, verified) = (s.objection_deadline_ms, s.statement.verified.micros());
            if timestamp_ms > deadline {
                return rejected(
                    RejectCode::InvalidTransition,
                    format!(
                        "the objection window closed on {}; the verified figure is final",
                        calendar::day_label(calendar::day_number(deadline))
                    ),
                );
            }
            state.delete(&StateKey::VerificationDue(deadline, target.clone(), year));
            match step {
                VerificationStep::Object { reason } => {
                    v.status = VerificationStatus::Objected;
                    v.objection = Some(act(reason));
                }
                _ => {
                    v.status = VerificationStatus::Final;
                    v.final_ut = Some(verified);
                    v.finalised = Some((FinalBy::Accepted, height));
                }
            }
            v
        }
        VerificationStep::Decide { verified, reason } => {
            if let Err(r) = require_regulator(state, org, kind, enterprise.region, "decides objections") {
                return r;
            }
            let Some(mut v) = current.clone().filter(|v| v.status == VerificationStatus::Objected) else {
                return wrong_step(&current);
            };
            v.status = VerificationStatus::Final;
            v.decision = Some((act(reason), verified.micros()));
            v.final_ut = Some(verified.micros());
            v.finalised = Some((FinalBy::Decided, height));
            v
        }
    };
    credit_if_final(state, height, year, &record);
    state.put(key, StateValue::Verification(record));
    TxOutcome::Accepted
}

/// Credits the verifier of a verification that just became final with its points (奖励).
fn credit_if_final(state: &mut State, height: u64, year: u32, v: &VerificationRecord) {
    if v.status != VerificationStatus::Final {
        return;
    }
    // Provincial verification is due by 30 June of the year after the reported one.
    let deadline = calendar::day_start_ms(calendar::parse_day(&format!("{}-07-01", year + 1)).expect("a valid date"));
    let facts = trustmeter_policy::reward::VerificationFacts {
        on_time: v.statement.as_ref().is_some_and(|s| s.time_ms < deadline),
        findings: v.statement.as_ref().map_or(0, |s| s.statement.findings.len() as u64),
        objected: v.objection.is_some(),
    };
    crate::economy::credit_verification(state, height, &v.verifier.clone(), facts);
}

/// Makes final every stated verification whose objection window ended before this block's
/// time (≤ [`MAX_DUE_PER_BLOCK`], oldest deadline first). Called at the end of every block.
pub(crate) fn close_verifications(state: &mut State, height: u64, timestamp_ms: i64) {
    let due = state.scan(&KeyRange::verifications_due(timestamp_ms.saturating_sub(1)), false, MAX_DUE_PER_BLOCK);
    for (key, _) in due {
        let StateKey::VerificationDue(_, org, year) = &key else { continue };
        state.delete(&key);
        let Some(mut v) = state.verification(org, *year) else { continue };
        if v.status != VerificationStatus::Stated {
            continue;
        }
        v.final_ut = v.statement.as_ref().map(|s| s.statement.verified.micros());
        v.status = VerificationStatus::Final;
        v.finalised = Some((FinalBy::WindowClosed, height));
        credit_if_final(state, height, *year, &v);
        state.put(StateKey::Verification(org.clone(), *year), StateValue::Verification(v));
    }
}

/// Applies [`trustmeter_types::TxPayload::Quota`].
pub(crate) fn quota_op(
    state: &mut State,
    height: u64,
    (org, kind): (&UnifiedSocialCreditCode, OrgKind),
    (target, year): (&UnifiedSocialCreditCode, u32),
    op: &QuotaOp,
) -> TxOutcome {
    let Some(enterprise) = state.organisation(target).filter(|o| o.kind == OrgKind::Enterprise) else {
        return rejected(RejectCode::NotAuthorised, format!("{target} is not an enterprise of this chain"));
    };
    let refused = |msg: String| rejected(RejectCode::QuotaRefused, msg);
    let mut q = state.quota(target, year);
    let own = || {
        (org != target).then(|| {
            rejected(
                RejectCode::NotAuthorised,
                format!("only {target} itself does '{}' on its quota account", op.name()),
            )
        })
    };
    let obligation = || state.verification(target, year).and_then(|v| v.final_ut);
    match op {
        QuotaOp::Allocate { kind: k, amount, basis } => {
            if let Err(r) = require_regulator(state, org, kind, enterprise.region, "allocates allowances") {
                return r;
            }
            if q.allocations.len() >= 2 * MAX_QUOTA_ADJUSTMENTS {
                return rejected(
                    RejectCode::LimitReached,
                    format!("{target}'s {year} account holds {} allocations, the most it may", q.allocations.len()),
                );
            }
            q.allocations.push(Allocation {
                kind: *k,
                amount_ut: amount.micros(),
                basis: basis.clone(),
                by: org.clone(),
                height,
            });
            let allocated = q.allocated_ut().unwrap_or(0);
            if allocated < 0 {
                return refused(format!("the allocation would be {} t, below zero", tonnes(allocated)));
            }
            if q.available_ut() < 0 {
                return refused(format!(
                    "the allocation would leave {} t, less than was already surrendered and banked",
                    tonnes(q.available_ut())
                ));
            }
        }
        QuotaOp::Reference { amount, basis } => {
            if let Some(r) = own() {
                return r;
            }
            q.reference = Some((amount.micros(), basis.clone()));
        }
        QuotaOp::Surrender { allowances, offsets } => {
            if let Some(r) = own() {
                return r;
            }
            let Some(obligation) = obligation() else {
                return refused(format!(
                    "{target}'s {year} emissions are not verified and final yet: nothing to surrender against"
                ));
            };
            if allowances.micros() > q.available_ut() {
                return refused(format!(
                    "{} t of allowances asked, {} t available",
                    tonnes(allowances.micros()),
                    tonnes(q.available_ut())
                ));
            }
            let offsets_total = q.offsets_ut.saturating_add(offsets.micros());
            if i128::from(offsets_total) * 100 > i128::from(obligation) * i128::from(OFFSET_CAP_PERCENT) {
                return refused(format!(
                    "offsets would reach {} t, more than {OFFSET_CAP_PERCENT} % of the {} t obligation",
                    tonnes(offsets_total),
                    tonnes(obligation)
                ));
            }
            let remaining = obligation.saturating_sub(q.surrendered_ut).saturating_sub(q.offsets_ut);
            if allowances.micros().saturating_add(offsets.micros()) > remaining {
                return refused(format!("surrender at most the remaining obligation, {} t", tonnes(remaining)));
            }
            q.surrendered_ut = q.surrendered_ut.saturating_add(allowances.micros());
            q.offsets_ut = offsets_total;
        }
        QuotaOp::Bank { amount } => {
            if let Some(r) = own() {
                return r;
            }
            let Some(obligation) = obligation() else {
                return refused(format!("{target}'s {year} emissions are not final: bank after surrendering them"));
            };
            if q.surrendered_ut.saturating_add(q.offsets_ut) < obligation {
                return refused(format!(
                    "surrender the whole {} t obligation before banking ({} t surrendered)",
                    tonnes(obligation),
                    tonnes(q.surrendered_ut.saturating_add(q.offsets_ut))
                ));
            }
            if amount.micros() > q.available_ut() {
                return refused(format!(
                    "{} t asked, {} t left to bank",
                    tonnes(amount.micros()),
                    tonnes(q.available_ut())
                ));
            }
            if year >= 9999 {
                return refused("there is no next year to bank into".into());
            }
            q.banked_out_ut = q.banked_out_ut.saturating_add(amount.micros());
            let mut next = state.quota(target, year + 1);
            next.banked_in_ut = next.banked_in_ut.saturating_add(amount.micros());
            state.put(StateKey::Quota(target.clone(), year + 1), StateValue::Quota(next));
        }
    }
    state.put(StateKey::Quota(target.clone(), year), StateValue::Quota(q));
    TxOutcome::Accepted
}
