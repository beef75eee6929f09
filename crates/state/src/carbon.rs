//! Carbon accounts in the state: monitoring plans (监测计划), documented entries (台账) and the
//! chain-wide claims on green certificates (绿证).
//!
//! - A plan says which methodology an enterprise accounts with from a month on. Enterprises
//!   without one use [`DEFAULT_METHODOLOGY`]. A plan never starts before the current month, so a
//!   month already begun keeps the plan it was accounted with.
//! - An entry is checked against the enterprise's methodology in force on the month's first day
//!   ([`trustmeter_carbon::entries::check_entry`]); an entry of a future month is refused. A
//!   correction replaces the entry and bumps its revision; a withdrawal keeps a record with no
//!   data (the registry tree keeps every version).
//! - A certificate entry claims serials `first .. first + count` of its batch. Claims are keyed
//!   by (batch, first serial) and never overlap, so a claim is refused if the claim with the
//!   greatest first serial not after the new range's last one reaches into it: one reverse
//!   read, whatever the number of claims. Correcting or withdrawing the entry releases its claim.
//!   A regulator covering the enterprise's region may void an entry (`void_entry`): withdrawn in
//!   its name, claim released.
//! - Results: every (enterprise, month) whose inputs a block changed is evaluated again at the end
//!   of the block (`close_months`, [`month_result`]) and kept as `CarbonResult(org, month)`;
//!   [`month_inputs`] is the one function the validators and the API build a month's activity
//!   data with.

use crate::state::State;
use std::collections::BTreeMap;
use trustmeter_schema::{
    CarbonEntryRecord, CarbonPlanRecord, CarbonResultLine, CarbonResultRecord, CarbonYearRecord,
    CertificateClaimRecord, KeyRange, StateKey, StateValue,
};
use trustmeter_types::carbon::{
    CERTIFICATE_VALID_MONTHS, CarbonEntry, CarbonEntryData, MAX_CARBON_ENTRIES_PER_MONTH, months_between,
};
use trustmeter_types::{OrgKind, PublicKey, RejectCode, Rejection, TxOutcome, UnifiedSocialCreditCode};

/// The methodology of an enterprise with no monitoring plan: the general frame.
pub const DEFAULT_METHODOLOGY: &str = "GB/T 32150-2015";

/// Most monitoring plans one enterprise may set (one a month for ten years).
pub const MAX_CARBON_PLANS: usize = 120;

/// The `YYYYMM` month of a timestamp (Asia/Shanghai).
pub fn month_of(ts_ms: i64) -> u32 {
    let (y, m) = trustmeter_energy::calendar::month_of_day(trustmeter_energy::calendar::day_number(ts_ms));
    (y.max(0) as u32) * 100 + m
}

/// The day number of a `YYYYMM` month's first day (the month was checked by the transaction).
pub fn first_day(month: u32) -> i32 {
    let label = format!("{:04}-{:02}-01", month / 100, month % 100);
    trustmeter_energy::calendar::parse_day(&label).unwrap_or(i32::MIN)
}

impl State {
    /// The methodology id an enterprise accounts month `month` with: its latest plan starting at
    /// or before the month, else [`DEFAULT_METHODOLOGY`].
    pub fn carbon_methodology_id(&self, org: &UnifiedSocialCreditCode, month: u32) -> String {
        match self.scan(&KeyRange::carbon_plans_until(org, month), true, 1).into_iter().next() {
            Some((_, StateValue::CarbonPlan(p))) => p.methodology,
            _ => DEFAULT_METHODOLOGY.to_string(),
        }
    }

    /// An enterprise's monitoring plans, by first month.
    pub fn carbon_plans(&self, org: &UnifiedSocialCreditCode) -> Vec<(u32, CarbonPlanRecord)> {
        self.scan(&KeyRange::carbon_plans_until(org, u32::MAX), false, MAX_CARBON_PLANS)
            .into_iter()
            .filter_map(|(k, v)| match (k, v) {
                (StateKey::CarbonPlan(_, m), StateValue::CarbonPlan(p)) => Some((m, p)),
                _ => None,
            })
            .collect()
    }

    /// An enterprise's documented entries of a month (withdrawn ones included), by number.
    pub fn carbon_entries(&self, org: &UnifiedSocialCreditCode, month: u32) -> Vec<CarbonEntryRecord> {
        self.scan(&KeyRange::carbon_entries(org, month), false, MAX_CARBON_ENTRIES_PER_MONTH as usize)
            .into_iter()
            .filter_map(|(_, v)| match v {
                StateValue::CarbonEntry(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// One documented entry.
    pub fn carbon_entry(&self, org: &UnifiedSocialCreditCode, month: u32, number: u32) -> Option<CarbonEntryRecord> {
        match self.get(&StateKey::CarbonEntry(org.clone(), month, number)) {
            Some(StateValue::CarbonEntry(r)) => Some(r),
            _ => None,
        }
    }

    /// The claim that holds certificate `serial` of `batch`, with its first serial, if any.
    pub fn certificate_claim(&self, batch: &str, serial: u64) -> Option<(u64, CertificateClaimRecord)> {
        match self.scan(&KeyRange::certificate_claims_until(batch, serial), true, 1).into_iter().next() {
            Some((StateKey::CertificateClaim(_, first), StateValue::CertificateClaim(c)))
                if c.last(first) >= serial =>
            {
                Some((first, c))
            }
            _ => None,
        }
    }
}

fn rejected(code: RejectCode, msg: String) -> TxOutcome {
    TxOutcome::Rejected(Rejection::new(code, msg))
}

/// Applies [`trustmeter_types::TxPayload::SetCarbonPlan`].
pub(crate) fn set_plan(
    state: &mut State,
    height: u64,
    timestamp_ms: i64,
    org: &UnifiedSocialCreditCode,
    kind: OrgKind,
    methodology: &str,
    from_month: u32,
) -> TxOutcome {
    if kind != OrgKind::Enterprise {
        return rejected(
            RejectCode::NotAuthorised,
            format!("only an enterprise sets its monitoring plan; {org} is a {kind:?}"),
        );
    }
    let now = month_of(timestamp_ms);
    if from_month < now {
        return rejected(
            RejectCode::InvalidCarbonEntry,
            format!(
                "a plan starts at the current month ({now}) or later, not {from_month}: a month begun keeps its plan"
            ),
        );
    }
    if state.latest_methodology_version(methodology) == 0 {
        return rejected(
            RejectCode::InvalidCarbonEntry,
            format!("no methodology {methodology} is deployed; GET /v1/methodologies lists them"),
        );
    }
    let plans = state.carbon_plans(org);
    if plans.len() >= MAX_CARBON_PLANS && !plans.iter().any(|(m, _)| *m == from_month) {
        return rejected(
            RejectCode::LimitReached,
            format!("{org} has {MAX_CARBON_PLANS} monitoring plans, the most kept"),
        );
    }
    state.put(
        StateKey::CarbonPlan(org.clone(), from_month),
        StateValue::CarbonPlan(CarbonPlanRecord { methodology: methodology.to_string(), height }),
    );
    TxOutcome::Accepted
}

/// Applies [`trustmeter_types::TxPayload::VoidCarbonEntry`]: a regulator covering the
/// enterprise's region withdraws its entry in its own name and releases the entry's certificates.
pub(crate) fn void_entry(
    state: &mut State,
    height: u64,
    timestamp_ms: i64,
    (regulator, kind): (&UnifiedSocialCreditCode, OrgKind),
    sender: &PublicKey,
    (org, month, number): (&UnifiedSocialCreditCode, u32, u32),
    reason: &str,
) -> TxOutcome {
    let own_region = state.organisation(regulator).map_or(0, |o| o.region);
    let Some(target) = state.organisation(org) else {
        return rejected(RejectCode::InvalidCarbonEntry, format!("{org} is not a member organisation"));
    };
    if kind != OrgKind::Regulator || !trustmeter_types::membership::jurisdiction_covers(own_region, target.region) {
        return rejected(
            RejectCode::NotAuthorised,
            format!("only a regulator whose jurisdiction covers region {} voids {org}'s entries", target.region),
        );
    }
    let Some(previous) = state.carbon_entry(org, month, number).filter(|p| p.entry.data.is_some()) else {
        return rejected(
            RejectCode::InvalidCarbonEntry,
            format!("{org} has no entry {number} of {month} in force; nothing to void"),
        );
    };
    if let Some(CarbonEntryData::GreenCertificates { batch, first, .. }) = &previous.entry.data {
        state.delete(&StateKey::CertificateClaim(batch.clone(), *first));
    }
    let mut note = format!("voided by {regulator}: {reason}");
    note.truncate(note.floor_char_boundary(trustmeter_types::limits::MAX_MESSAGE_LEN));
    let entry = CarbonEntry { month, number, data: None, evidence: previous.entry.evidence.clone(), note };
    state.put(
        StateKey::CarbonEntry(org.clone(), month, number),
        StateValue::CarbonEntry(CarbonEntryRecord {
            entry,
            revision: previous.revision.saturating_add(1),
            recorded_by: sender.clone(),
            height,
            time_ms: timestamp_ms,
        }),
    );
    TxOutcome::Accepted
}

/// Applies [`trustmeter_types::TxPayload::RecordCarbonEntry`].
pub(crate) fn record_entry(
    state: &mut State,
    height: u64,
    timestamp_ms: i64,
    (org, kind): (&UnifiedSocialCreditCode, OrgKind),
    sender: &PublicKey,
    entry: &CarbonEntry,
) -> TxOutcome {
    if kind != OrgKind::Enterprise {
        return rejected(
            RejectCode::NotAuthorised,
            format!("only an enterprise records carbon entries; {org} is a {kind:?}"),
        );
    }
    let now = month_of(timestamp_ms);
    if entry.month > now {
        return rejected(
            RejectCode::InvalidCarbonEntry,
            format!("month {} has not begun (this block is in {now})", entry.month),
        );
    }
    let previous = state.carbon_entry(org, entry.month, entry.number);
    if previous.is_none() && entry.data.is_none() {
        return rejected(
            RejectCode::InvalidCarbonEntry,
            format!("entry {} of {} does not exist; nothing to withdraw", entry.number, entry.month),
        );
    }
    if let Some(data) = &entry.data {
        let id = state.carbon_methodology_id(org, entry.month);
        let Some(rec) = state.methodology_on(&id, first_day(entry.month)) else {
            return rejected(
                RejectCode::InvalidCarbonEntry,
                format!("no version of {id} (the plan of {org}) is in force in {}", entry.month),
            );
        };
        let m = match trustmeter_carbon::parsed(&rec.text) {
            Ok(m) => m,
            Err(e) => {
                return rejected(RejectCode::InvalidCarbonEntry, format!("{id} v{} does not parse: {e}", rec.version));
            }
        };
        if let Err(e) = trustmeter_carbon::entries::check_entry(&m, data) {
            return rejected(RejectCode::InvalidCarbonEntry, format!("entry {}: {e}", entry.number));
        }
        if let CarbonEntryData::GreenCertificates { vintage, .. } = data {
            let age = months_between(*vintage, entry.month);
            if !(0..i64::from(CERTIFICATE_VALID_MONTHS)).contains(&age) {
                return rejected(
                    RejectCode::InvalidCarbonEntry,
                    format!(
                        "certificates of {vintage} cannot be claimed for {}: a certificate covers power of its own month or later, for {CERTIFICATE_VALID_MONTHS} months",
                        entry.month
                    ),
                );
            }
        }
    }
    // The claim of the version being replaced is released; the new range may overlap it (a
    // corrected count of the same batch) but no other claim.
    let own = previous.as_ref().and_then(|p| match &p.entry.data {
        Some(CarbonEntryData::GreenCertificates { batch, first, .. }) => {
            Some(StateKey::CertificateClaim(batch.clone(), *first))
        }
        _ => None,
    });
    if let Some(CarbonEntryData::GreenCertificates { batch, first, count, .. }) = &entry.data {
        let last = first + u64::from(*count) - 1; // checked by the transaction's validation
        // Claims never overlap, so besides the entry's own claim only the nearest one starting
        // at or before `last` can reach into the range.
        let held = state
            .scan(&KeyRange::certificate_claims_until(batch, last), true, 2)
            .into_iter()
            .find(|(k, _)| Some(k) != own.as_ref());
        if let Some((StateKey::CertificateClaim(_, held_first), StateValue::CertificateClaim(held))) = held
            && held.last(held_first) >= *first
        {
            let from = held_first.max(*first);
            let to = held.last(held_first).min(last);
            return rejected(
                RejectCode::CertificateClaimed,
                format!(
                    "certificates {batch} {from}..={to} are already claimed (by an entry for {}); a certificate is claimed once on the chain",
                    held.month
                ),
            );
        }
    }
    if let Some(k) = &own {
        state.delete(k);
    }
    if let Some(CarbonEntryData::GreenCertificates { batch, first, count, .. }) = &entry.data {
        state.put(
            StateKey::CertificateClaim(batch.clone(), *first),
            StateValue::CertificateClaim(CertificateClaimRecord {
                count: *count,
                org: org.clone(),
                month: entry.month,
                number: entry.number,
            }),
        );
    }
    let revision = previous.map_or(1, |p| p.revision.saturating_add(1));
    state.put(
        StateKey::CarbonEntry(org.clone(), entry.month, entry.number),
        StateValue::CarbonEntry(CarbonEntryRecord {
            entry: entry.clone(),
            revision,
            recorded_by: sender.clone(),
            height,
            time_ms: timestamp_ms,
        }),
    );
    TxOutcome::Accepted
}

/// What a month's carbon evaluation starts from: the methodology version, the activity data
/// (metered energy plus documented entries) and what was left out, with why.
pub struct MonthInputs {
    /// The methodology version in force on the month's first day.
    pub record: trustmeter_schema::MethodologyRecord,
    /// Its parsed form.
    pub methodology: std::sync::Arc<trustmeter_carbon::Methodology>,
    /// The enterprise's province (two-digit GB/T 2260 code).
    pub province: String,
    /// Activity data.
    pub activity: trustmeter_carbon::Activity,
    /// Metered energy that could not become activity data.
    pub unconverted: Vec<trustmeter_carbon::metered::Unconverted>,
    /// Entries set aside, and other notes.
    pub notes: Vec<String>,
    /// The month's entries as recorded (withdrawn ones included).
    pub entries: Vec<CarbonEntryRecord>,
    /// The month's metered energy: its daily figures summed per energy kind and unit.
    pub metered: Vec<trustmeter_carbon::metered::Metered>,
    /// Days with at least one daily figure.
    pub metered_days: u32,
}

/// Why a month cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MonthError {
    /// The enterprise is not a member.
    #[error("{0} is not a member organisation")]
    NotAMember(UnifiedSocialCreditCode),
    /// Its region is not a GB/T 2260 code.
    #[error("organisation {0} has region {1}, which is not a six-digit GB/T 2260 code")]
    BadRegion(UnifiedSocialCreditCode, u32),
    /// No version of the methodology is in force.
    #[error("no version of methodology {0} is in force on {1}; GET /v1/methodologies lists what is deployed")]
    NoMethodology(String, String),
    /// A deployed document no longer parses (a newer build refuses it).
    #[error("deployed methodology {0} v{1} does not parse: {2}")]
    Unparsable(String, u32, String),
}

/// The inputs of `org`'s carbon evaluation for `month` (`YYYYMM`, checked by the caller) with
/// `methodology` (default: the enterprise's monitoring plan for the month). Reads ≤ 31 days of
/// the enterprise's daily figures, ≤ 256 entries and one methodology record.
pub fn month_inputs(
    state: &State,
    org: &UnifiedSocialCreditCode,
    month: u32,
    methodology: Option<&str>,
) -> Result<MonthInputs, MonthError> {
    use trustmeter_carbon::entries::{RecordedEntry, add_entries};
    use trustmeter_carbon::metered::{Metered, activity_from_metered};
    let o = state.organisation(org).ok_or_else(|| MonthError::NotAMember(org.clone()))?;
    if !(100_000..=999_999).contains(&o.region) {
        return Err(MonthError::BadRegion(org.clone(), o.region));
    }
    let province = format!("{:02}", o.region / 10_000);
    let from_day = first_day(month);
    let next = if month % 100 == 12 { (month / 100 + 1) * 100 + 1 } else { month + 1 };
    let to_day = first_day(next) - 1;
    let planned = state.carbon_methodology_id(org, month);
    let id = methodology.unwrap_or(&planned);
    let record = state
        .methodology_on(id, from_day)
        .ok_or_else(|| MonthError::NoMethodology(id.to_string(), trustmeter_energy::calendar::day_label(from_day)))?;
    let m = trustmeter_carbon::parsed(&record.text)
        .map_err(|e| MonthError::Unparsable(record.id.clone(), record.version, e.to_string()))?;
    let mut sums: BTreeMap<(trustmeter_types::EnergyKind, trustmeter_types::Unit), (i64, i64)> = BTreeMap::new();
    let mut days = std::collections::BTreeSet::new();
    for (k, d) in state.daily_range(org, from_day, to_day) {
        days.insert(k.day);
        let e = sums.entry((k.energy, k.unit)).or_default();
        e.0 = e.0.saturating_add(d.consumption.micros());
        e.1 = e.1.saturating_add(d.exported.micros());
    }
    let metered: Vec<Metered> = sums
        .into_iter()
        .map(|((energy, unit), (consumed, exported))| Metered { energy, unit, consumed, exported })
        .collect();
    let (mut activity, unconverted) = activity_from_metered(&m, (month / 100) as i32, &province, &metered);
    let entries = state.carbon_entries(org, month);
    let recorded: Vec<RecordedEntry<'_>> = entries
        .iter()
        .filter_map(|r| {
            r.entry.data.as_ref().map(|data| RecordedEntry {
                number: r.entry.number,
                data,
                evidence: &r.entry.evidence,
            })
        })
        .collect();
    let notes = add_entries(&m, &mut activity, &recorded);
    Ok(MonthInputs {
        record,
        methodology: m,
        province,
        activity,
        unconverted,
        notes,
        entries,
        metered,
        metered_days: days.len() as u32,
    })
}

/// The consensus record of a month's results (see [`CarbonResultRecord`]); a month that cannot be
/// evaluated gets a record that says why, with every amount 0.
pub fn month_result(state: &State, org: &UnifiedSocialCreditCode, month: u32, height: u64) -> CarbonResultRecord {
    let failed = |methodology: String, version: u32, error: String| CarbonResultRecord {
        methodology,
        version,
        lines: vec![],
        standard_ut: 0,
        biogenic_ut: 0,
        scope1_ut: 0,
        scope2_location_ut: 0,
        scope2_market_ut: 0,
        output_micro: None,
        entries: 0,
        error: Some(error),
        height,
    };
    let inputs = match month_inputs(state, org, month, None) {
        Ok(i) => i,
        Err(e) => return failed(state.carbon_methodology_id(org, month), 0, e.to_string()),
    };
    let r = match trustmeter_carbon::compute(&inputs.methodology, &inputs.activity) {
        Ok(r) => r,
        Err(e) => return failed(inputs.record.id, inputs.record.version, e.to_string()),
    };
    let view_bits = |views: &std::collections::BTreeSet<trustmeter_carbon::View>| {
        views.iter().fold(0u8, |b, v| {
            b | match v {
                trustmeter_carbon::View::Standard => 1,
                trustmeter_carbon::View::Location => 2,
                trustmeter_carbon::View::Market => 4,
            }
        })
    };
    CarbonResultRecord {
        methodology: r.methodology,
        version: r.version,
        lines: r
            .lines
            .iter()
            .map(|l| CarbonResultLine {
                source: l.source.clone(),
                item: l.item.clone(),
                gas: l.gas.clone(),
                scope: l.scope,
                views: view_bits(&l.views),
                biogenic: l.biogenic,
                mass_ut: l.mass_ut,
                co2e_ut: l.co2e_ut,
            })
            .collect(),
        standard_ut: r.totals.standard,
        biogenic_ut: r.totals.biogenic,
        scope1_ut: r.totals.scope1,
        scope2_location_ut: r.totals.scope2_location,
        scope2_market_ut: r.totals.scope2_market,
        output_micro: inputs.activity.output.and_then(trustmeter_carbon::compute::to_micro),
        entries: inputs.entries.iter().filter(|e| e.entry.data.is_some()).count() as u32,
        error: None,
        height,
    }
}

/// Recomputes the carbon results of every (enterprise, month) whose inputs the block changed, up
/// to the block's own month (a plan set for a later month changes nothing yet). Called at the end
/// of every block, by the proposer and by every validator alike; costs one month evaluation per
/// enterprise and month touched (≈ 11 µs each, `bench query` (c)), whatever the number of
/// readings.
pub(crate) fn close_months(state: &mut State, height: u64, timestamp_ms: i64) {
    let dirty = std::mem::take(&mut state.carbon_dirty);
    let now = month_of(timestamp_ms);
    for (org, months) in dirty {
        // The month's sums of daily figures, for every month whose figures changed.
        for &month in &months {
            if let Some(rec) = month_totals(state, &org, month) {
                state.put(StateKey::MonthTotals(org.clone(), month), StateValue::MonthTotals(rec));
            }
        }
        let mut years = std::collections::BTreeSet::new();
        for month in months.into_iter().filter(|m| *m <= now && trustmeter_types::carbon::check_month(*m).is_ok()) {
            let rec = month_result(state, &org, month, height);
            state.put(StateKey::CarbonResult(org.clone(), month), StateValue::CarbonResult(rec));
            years.insert(month / 100);
        }
        for year in years {
            let rec = year_result(state, &org, year, height);
            state.put(StateKey::CarbonYear(org.clone(), year), StateValue::CarbonYear(rec));
        }
    }
    // Writing results marks nothing: they are not inputs.
    state.carbon_dirty.clear();
}

/// The sums of `org`'s daily figures of `month` (`YYYYMM`) per energy kind and unit, read from
/// them (at most 31 days × the kinds it reports); `None` for a month number that is not one.
pub fn month_totals(
    state: &State,
    org: &UnifiedSocialCreditCode,
    month: u32,
) -> Option<crate::state::MonthTotalsRecord> {
    use crate::state::{MonthKindTotal, MonthTotalsRecord};
    trustmeter_types::carbon::check_month(month).ok()?;
    let first = first_day(month);
    let next = if month % 100 == 12 { (month / 100 + 1) * 100 + 1 } else { month + 1 };
    let last = first_day(next) - 1;
    let mut kinds: Vec<MonthKindTotal> = Vec::new();
    for (k, d) in state.daily_range(org, first, last) {
        let i = match kinds.iter().position(|t| t.energy == k.energy && t.unit == k.unit) {
            Some(i) => i,
            None => {
                kinds.push(MonthKindTotal {
                    energy: k.energy,
                    unit: k.unit,
                    figures: 0,
                    consumption: 0,
                    estimated: 0,
                    manual: 0,
                    kgce_equivalent: 0,
                    kgce_equal_value: 0,
                    kgce_missing: None,
                });
                kinds.len() - 1
            }
        };
        let t = &mut kinds[i];
        t.figures += 1;
        t.consumption += i128::from(d.consumption.0);
        t.estimated += i128::from(d.estimated.0);
        t.manual += i128::from(d.manual.0);
        match &d.kgce_missing {
            Some(why) => {
                t.kgce_missing.get_or_insert_with(|| why.clone());
            }
            None => {
                t.kgce_equivalent += i128::from(d.kgce_equivalent.0);
                t.kgce_equal_value += i128::from(d.kgce_equal_value.0);
            }
        }
    }
    kinds.sort_by_key(|t| (t.energy, t.unit));
    Some(MonthTotalsRecord { kinds })
}

/// The year record of `org`'s `year`: the sums of its month records (twelve reads).
pub fn year_result(state: &State, org: &UnifiedSocialCreditCode, year: u32, height: u64) -> CarbonYearRecord {
    let mut r = CarbonYearRecord {
        standard_ut: 0,
        biogenic_ut: 0,
        scope1_ut: 0,
        scope2_location_ut: 0,
        scope2_market_ut: 0,
        output_micro: 0,
        months: 0,
        failed: 0,
        methodologies: vec![],
        height,
    };
    for m in 1..=12u32 {
        let Some(c) = state.carbon_result(org, year * 100 + m) else { continue };
        r.months |= 1 << (m - 1);
        if c.error.is_some() {
            r.failed |= 1 << (m - 1);
        }
        for (acc, v) in [
            (&mut r.standard_ut, c.standard_ut),
            (&mut r.biogenic_ut, c.biogenic_ut),
            (&mut r.scope1_ut, c.scope1_ut),
            (&mut r.scope2_location_ut, c.scope2_location_ut),
            (&mut r.scope2_market_ut, c.scope2_market_ut),
            (&mut r.output_micro, c.output_micro.unwrap_or(0)),
        ] {
            *acc = acc.saturating_add(v);
        }
        let used = (c.methodology, c.version);
        if !used.0.is_empty() && !r.methodologies.contains(&used) {
            r.methodologies.push(used);
        }
    }
    r
}

impl State {
    /// An enterprise's carbon results for a year (the sums of its month records).
    pub fn carbon_year(&self, org: &UnifiedSocialCreditCode, year: u32) -> Option<CarbonYearRecord> {
        match self.get(&StateKey::CarbonYear(org.clone(), year)) {
            Some(StateValue::CarbonYear(r)) => Some(r),
            _ => None,
        }
    }

    /// An enterprise's carbon results for a month, as the chain computed them.
    pub fn carbon_result(&self, org: &UnifiedSocialCreditCode, month: u32) -> Option<CarbonResultRecord> {
        match self.get(&StateKey::CarbonResult(org.clone(), month)) {
            Some(StateValue::CarbonResult(r)) => Some(r),
            _ => None,
        }
    }
}
