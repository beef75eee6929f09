//! Energy figures (能耗数据查询): the consensus daily figures of the state machine and what is
//! summed or derived from them, over HTTP/JSON (and CSV where it makes sense).
//!
//! Two kinds of numbers, always said apart in the responses (`derived`):
//!
//! - **Consensus figures** (`derived: false`): an enterprise's daily figure per energy kind and
//!   unit (`StateKey::Daily`, computed by every validator), and sums of them — enterprise and
//!   region series per day, month or year, breakdowns by energy kind and tariff tier, rankings,
//!   comprehensive energy consumption (综合能耗), quality indices. Every daily figure links to
//!   `GET /v1/proofs/daily/{org}/{day}/{energy}/{unit}`, a [`FigureProof`] checkable offline
//!   (`trustmeter verify --figure`).
//! - **Derived figures** (`derived: true`): meter and location series and breakdowns, and the
//!   time-of-use reconciliation of tariff registers, computed on request from the readings in this
//!   node's index with the same interval rules as the chain (`trustmeter_energy::register`).
//!   Each reading is provable (`/v1/meters/{id}/readings/{seq}/proof`); the sums are not part of
//!   consensus. Meter replacements come from the index (every one the chain recorded) and the
//!   chain's late window (those the index has not reached yet).
//!
//! Days, months and years are Asia/Shanghai calendar periods; `from`/`to` are local dates
//! `YYYY-MM-DD`, both inclusive. Amounts are exact decimal strings of micro-units (6 decimals);
//! standard coal is in kgce. Every limit is a `const` below and every error is an [`ApiError`] that
//! says what to change.
//!
//! The query functions ([`daily`], [`series`], [`breakdown`], [`ranking`], [`enterprise_energy`],
//! [`quality`], [`tou`], [`policy`], [`figure_proof`]) are plain functions of a finalized state and
//! the index, so benchmarks and tests call exactly what the handlers call.

use crate::api::{ApiError, ApiState};
use crate::limits::RequestClass;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use commonware_codec::Decode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use trustmeter_chain::BlockFinalization;
use trustmeter_client::FigureProof;
use trustmeter_energy::calendar::{self, Period};
use trustmeter_energy::coal::{self, ElectricityBasis};
use trustmeter_energy::quality::{self, QualityCounts, QualityIndex};
use trustmeter_energy::reference::{Decimal, ReferenceSet, div_round_half_even};
use trustmeter_energy::register::{self, RegisterPoint, Replacement};
use trustmeter_energy::tou::{self, Tier};
use trustmeter_index::{Index, MAX_RANGE_RESULTS, ReadingPoint};
use trustmeter_state::State;
use trustmeter_state::accounting::{self, DailyKey, DailyTotal};
use trustmeter_types::{
    DeviceId, DeviceStatus, EnergyKind, Genesis, Meter, OrgKind, Organisation, Quantity, UnifiedSocialCreditCode, Unit,
};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// Most days a query over consensus daily figures may span (ten years).
pub const MAX_RANGE_DAYS: i32 = 3_660;
/// Most days a query derived from readings may span (a leap year): meter and location series,
/// the location breakdown, the time-of-use reconciliation.
pub const MAX_DERIVED_RANGE_DAYS: i32 = 366;
/// Default `max_points` of a series.
pub const DEFAULT_MAX_POINTS: usize = 2_000;
/// Largest `max_points` a series accepts (a year of 15-minute periods is 35 040).
pub const MAX_POINTS: usize = 50_000;
/// Most readings one derived query reads from the index, over all its meters.
pub const MAX_DERIVED_READINGS: usize = 2_000_000;
/// Most meters one derived query reads.
pub const MAX_DERIVED_METERS: usize = 1_000;
/// Default number of enterprises a ranking returns.
pub const DEFAULT_RANKING_LIMIT: usize = 100;
/// Most enterprises a ranking returns.
pub const MAX_RANKING_LIMIT: usize = 1_000;
/// Most proof links listed per ranking entry (the rest are reachable through its `daily_figures`).
pub const MAX_PROOF_LINKS: usize = 62;
/// A tariff register's own consumption may differ from the schedule's split of its total meter
/// by this many basis points of the total before the reconciliation flags a mismatch (2 %).
pub const TOU_TOLERANCE_BP: u32 = 200;
/// How long a proof request waits for the index to reach the finalized height.
pub const INDEX_WAIT: Duration = Duration::from_secs(5);
/// How many heights below the finalized one a figure proof may fall back to when the newest
/// block's finalization certificate is not stored (yet).
pub const PROOF_FALLBACK_HEIGHTS: u64 = 64;
/// Location depth of a breakdown by location when none is given (site/workshop).
pub const DEFAULT_LOCATION_DEPTH: usize = 2;

/// Micro-units per unit.
const MICRO: i128 = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Errors and parameters
// ---------------------------------------------------------------------------------------------

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn limit(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "limit_exceeded", message)
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
}

fn unavailable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

/// An inclusive range of Asia/Shanghai days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayRange {
    /// First day (days since 1970-01-01, local).
    pub from_day: i32,
    /// Last day, inclusive.
    pub to_day: i32,
}

impl DayRange {
    /// Parses `from`/`to` (`YYYY-MM-DD`; `to` defaults to `from`) and checks the span.
    pub fn parse(from: Option<&str>, to: Option<&str>, max_days: i32) -> Result<DayRange, ApiError> {
        let from = from.ok_or_else(|| bad("from=YYYY-MM-DD is required (a local Asia/Shanghai date)"))?;
        let from_day = parse_date(from, "from")?;
        let to_day = match to {
            Some(t) => parse_date(t, "to")?,
            None => from_day,
        };
        let r = DayRange { from_day, to_day };
        r.check(max_days)?;
        Ok(r)
    }

    /// A range of whole days; checks the span.
    pub fn new(from_day: i32, to_day: i32, max_days: i32) -> Result<DayRange, ApiError> {
        let r = DayRange { from_day, to_day };
        r.check(max_days)?;
        Ok(r)
    }

    fn check(&self, max_days: i32) -> Result<(), ApiError> {
        if self.to_day < self.from_day {
            return Err(bad(format!(
                "to={} is before from={}; give the earlier date as from",
                calendar::day_label(self.to_day),
                calendar::day_label(self.from_day)
            )));
        }
        if self.days() > i64::from(max_days) {
            return Err(limit(format!(
                "the range {}..{} spans {} days; this query allows at most {max_days}: split it into several requests",
                calendar::day_label(self.from_day),
                calendar::day_label(self.to_day),
                self.days()
            )));
        }
        Ok(())
    }

    /// Number of days.
    pub fn days(&self) -> i64 {
        i64::from(self.to_day) - i64::from(self.from_day) + 1
    }
    /// Start of the first day (Unix ms).
    pub fn from_ms(&self) -> i64 {
        calendar::day_start_ms(self.from_day)
    }
    /// End of the last day (Unix ms, exclusive).
    pub fn to_ms(&self) -> i64 {
        calendar::day_start_ms(self.to_day + 1)
    }
    fn first_label(&self) -> String {
        calendar::day_label(self.from_day)
    }
    fn last_label(&self) -> String {
        calendar::day_label(self.to_day)
    }
}

fn parse_date(s: &str, what: &str) -> Result<i32, ApiError> {
    calendar::parse_day(s.trim()).ok_or_else(|| {
        bad(format!("{what}={s:?} is not a date YYYY-MM-DD (a local Asia/Shanghai date such as 2026-11-21)"))
    })
}

fn parse_org(s: Option<&str>) -> Result<UnifiedSocialCreditCode, ApiError> {
    let s = s.ok_or_else(|| bad("org=<unified social credit code> is required"))?;
    UnifiedSocialCreditCode::new(s.trim())
        .map_err(|e| bad(format!("org={s:?} is not a unified social credit code (18 characters): {e}")))
}

fn member(state: &State, org: &UnifiedSocialCreditCode) -> Result<Organisation, ApiError> {
    state
        .organisation(org)
        .ok_or_else(|| not_found(format!("organisation {org} is not a member of this chain; check the credit code")))
}

/// The snake_case name of an energy kind (`electricity`, `natural_gas`, ...).
pub fn energy_name(k: EnergyKind) -> String {
    serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn parse_energy(s: &str) -> Result<EnergyKind, ApiError> {
    let name = s.trim().to_ascii_lowercase().replace('-', "_");
    EnergyKind::ALL.into_iter().find(|k| energy_name(*k) == name || k.chinese_name() == s.trim()).ok_or_else(|| {
        let names: Vec<String> = EnergyKind::ALL.iter().map(|k| energy_name(*k)).collect();
        bad(format!("energy={s:?} is not an energy kind; use one of {}", names.join(", ")))
    })
}

fn parse_unit(s: &str) -> Result<Unit, ApiError> {
    let t = s.trim();
    Unit::ALL
        .into_iter()
        .find(|u| u.symbol() == t)
        .or_else(|| Unit::ALL.into_iter().find(|u| u.symbol().eq_ignore_ascii_case(t)))
        .or_else(|| {
            let name = t.to_ascii_lowercase().replace('-', "_");
            Unit::ALL
                .into_iter()
                .find(|u| serde_json::to_value(u).ok().and_then(|v| v.as_str().map(|n| n == name)) == Some(true))
        })
        .ok_or_else(|| {
            let symbols: Vec<&str> = Unit::ALL.iter().map(|u| u.symbol()).collect();
            bad(format!("unit={s:?} is not a unit; use one of {}", symbols.join(", ")))
        })
}

/// A region code: a province (`430000`) matches `43xxxx`, a city (`430100`) matches `4301xx`, a
/// county (`430102`) matches itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region(pub u32);

impl Region {
    /// Parses a six-digit GB/T 2260 code.
    pub fn parse(s: Option<&str>) -> Result<Region, ApiError> {
        let s = s.ok_or_else(|| bad("region=<six-digit GB/T 2260 code> is required, e.g. 430000 for Hunan"))?;
        match s.trim().parse::<u32>() {
            Ok(code) if (100_000..=999_999).contains(&code) => Ok(Region(code)),
            _ => Err(bad(format!(
                "region={s:?} is not a six-digit GB/T 2260 code such as 430000 (a province), 430100 (a city) or 430102 (a county)"
            ))),
        }
    }

    /// Whether an organisation's region code lies in this region.
    pub fn contains(&self, code: u32) -> bool {
        if self.0.is_multiple_of(10_000) {
            code / 10_000 == self.0 / 10_000
        } else if self.0.is_multiple_of(100) {
            code / 100 == self.0 / 100
        } else {
            code == self.0
        }
    }
}

/// The enterprises of a region, in id order.
fn enterprises_in(state: &State, region: Region) -> Vec<Organisation> {
    state.organisations().filter(|o| o.kind == OrgKind::Enterprise && region.contains(o.region)).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn parse_format(s: Option<&str>) -> Result<Format, ApiError> {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some(other) => Err(bad(format!("format={other:?} is not supported; use json (default) or csv"))),
    }
}

fn parse_basis(s: Option<&str>) -> Result<ElectricityBasis, ApiError> {
    match s.map(|s| s.trim().to_ascii_lowercase().replace('-', "_")).as_deref() {
        None | Some("equivalent") => Ok(ElectricityBasis::Equivalent),
        Some("equal_value") => Ok(ElectricityBasis::EqualValue),
        Some(other) => Err(bad(format!(
            "basis={other:?} is not a standard-coal basis; use equivalent (当量值, default) or equal_value (等价值)"
        ))),
    }
}

fn basis_name(b: ElectricityBasis) -> &'static str {
    match b {
        ElectricityBasis::Equivalent => "equivalent",
        ElectricityBasis::EqualValue => "equal_value",
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/// Exact decimal text of micro-units (6 decimals).
fn dec(micros: i128) -> String {
    decimal(micros).to_string()
}

/// Micro-units as a [`DecimalText`], saturating at the `i64` range.
fn decimal(micros: i128) -> DecimalText {
    DecimalText(Quantity(micros.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64))
}

/// Basis points as a percentage, e.g. `"4.16 %"`.
fn pct(bp: u32) -> String {
    format!("{}.{:02} %", bp / 100, bp % 100)
}

/// The proof link of a daily figure.
pub fn proof_link(key: &DailyKey) -> String {
    format!(
        "/v1/proofs/daily/{}/{}/{}/{}",
        key.org,
        calendar::day_label(key.day),
        energy_name(key.energy),
        key.unit.symbol()
    )
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// A CSV document: a header row, then one line per row, fields quoted where needed.
fn csv(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = header.join(",");
    out.push('\n');
    for row in rows {
        let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
        ],
        body,
    )
        .into_response()
}

/// A series as its JSON response body, written into a buffer sized for it up front (a year of
/// quarter hours is ~6.5 MB; growing the buffer by doubling costs more than writing it).
/// Byte for byte what `serde_json::to_vec(&v)` gives (tested), at several times its speed.
pub fn series_json(mut v: SeriesView) -> Vec<u8> {
    let points = std::mem::take(&mut v.points);
    series_json_parts(&v, &points)
}

/// [`series_json`] of `head` with `points` in place of its own (empty) points: the header
/// through serde, then each point written directly (the points are the last field, so the
/// header ends in `"points":[]}`). A point whose label would need escaping, or that carries
/// proof links, goes through serde too.
pub fn series_json_parts(head: &SeriesView, points: &[SeriesPoint]) -> Vec<u8> {
    /// Bytes of one point with every field present, rounded up.
    const POINT_BYTES: usize = 200;
    debug_assert!(head.points.is_empty(), "the points come separately");
    let mut out = Vec::with_capacity(4096 + points.len() * POINT_BYTES);
    serde_json::to_writer(&mut out, head).expect("a series serializes");
    assert!(out.ends_with(b"\"points\":[]}"), "the points are the series' last field");
    out.truncate(out.len() - 2);
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_point(&mut out, p);
    }
    out.extend_from_slice(b"]}");
    out
}

/// One [`SeriesPoint`] as serde_json writes it (fields in declaration order, `null` for an
/// absent standard coal figure, no `proofs` key when there are none).
fn write_point(out: &mut Vec<u8>, p: &SeriesPoint) {
    let plain = |s: &str| s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if !p.proofs.is_empty() || !plain(&p.label) {
        serde_json::to_writer(&mut *out, p).expect("a point serializes");
        return;
    }
    let mut buf = [0; Quantity::DECIMAL_MAX];
    let mut amount = |out: &mut Vec<u8>, key: &[u8], q: Option<DecimalText>| {
        out.extend_from_slice(key);
        match q {
            Some(q) => {
                out.push(b'"');
                out.extend_from_slice(q.0.decimal(&mut buf).as_bytes());
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
    };
    out.extend_from_slice(b"{\"start_ms\":");
    out.extend_from_slice(itoa::Buffer::new().format(p.start_ms).as_bytes());
    out.extend_from_slice(b",\"label\":\"");
    out.extend_from_slice(p.label.as_bytes());
    out.push(b'"');
    amount(out, b",\"consumption\":", Some(p.consumption));
    amount(out, b",\"estimated\":", Some(p.estimated));
    amount(out, b",\"manual\":", Some(p.manual));
    amount(out, b",\"kgce_equivalent\":", p.kgce_equivalent);
    amount(out, b",\"kgce_equal_value\":", p.kgce_equal_value);
    out.push(b'}');
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Daily figures
// ---------------------------------------------------------------------------------------------

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

fn tier_amounts(tiers: &[i128; 5]) -> Vec<TierAmount> {
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
    #[schema(value_type = Object)]
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

/// Daily figures query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct DailyQuery {
    /// The enterprise (unified social credit code).
    pub org: Option<String>,
    /// First day, `YYYY-MM-DD` (Asia/Shanghai).
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`); at most `MAX_RANGE_DAYS` (3 660) days.
    pub to: Option<String>,
    /// Only this energy kind (`electricity`, `water`, `natural_gas`, ...).
    pub energy: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// An enterprise's consensus daily figures in a range (of one energy kind, if given).
pub fn daily(
    state: &State,
    org: &UnifiedSocialCreditCode,
    range: DayRange,
    energy: Option<EnergyKind>,
) -> Result<DailyFiguresView, ApiError> {
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

const DAILY_CSV: [&str; 25] = [
    "org",
    "day",
    "energy",
    "unit",
    "consumption",
    "estimated",
    "manual",
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

fn daily_csv(v: &DailyFiguresView) -> String {
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

/// An enterprise's consensus daily figures (日能耗), each with its proof link.
#[utoipa::path(get, path = "/v1/figures/daily", params(DailyQuery), responses((status = 200, body = DailyFiguresView), (status = 200, description = "format=csv: text/csv with a header row", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn daily_handler(AxumState(s): AxumState<ApiState>, Query(q): Query<DailyQuery>) -> Result<Response, ApiError> {
    let org = parse_org(q.org.as_deref())?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_RANGE_DAYS)?;
    let energy = q.energy.as_deref().map(parse_energy).transpose()?;
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Rollups, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let v = blocking(move || daily(&state, &org, range, energy)).await?;
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("daily-{}-{}-{}", v.org, v.from, v.to), daily_csv(&v)),
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

// ---------------------------------------------------------------------------------------------
// Series
// ---------------------------------------------------------------------------------------------

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
    /// Total standard coal, equivalent value, kgce.
    pub total_kgce_equivalent: Option<String>,
    /// Total standard coal, equal value, kgce.
    pub total_kgce_equal_value: Option<String>,
    /// The points, one per period in the range, oldest first.
    pub points: Vec<SeriesPoint>,
}

/// Series query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct SeriesQuery {
    /// `meter`, `location`, `org` or `region`.
    pub scope: Option<String>,
    /// Meter id, location path prefix (`site-01/stamping`), credit code or region code.
    pub id: Option<String>,
    /// The enterprise of a location path (required for `scope=location`).
    pub org: Option<String>,
    /// Energy kind (required except for `scope=meter`).
    pub energy: Option<String>,
    /// Unit, when the kind appears in several (e.g. `Nm3`).
    pub unit: Option<String>,
    /// `15m`, `hour`, `day` (default), `month` or `year`; `org`/`region` series: day or coarser.
    pub period: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`). Derived series: at most 366 days; others 3 660.
    pub to: Option<String>,
    /// Most points (default 2 000, at most 50 000); more periods coarsen the period.
    pub max_points: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Sums of one period.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    consumption: i128,
    estimated: i128,
    manual: i128,
    kgce_eq: i128,
    kgce_ev: i128,
    kgce_missing: bool,
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
) -> Result<Period, ApiError> {
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
fn kgce(refs: Option<&ReferenceSet>, kind: EnergyKind, unit: Unit, micros: i64, year: i32) -> Option<(i64, i64)> {
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

/// Accumulates derived consumption of one meter into the buckets of `starts` (period starts of
/// `period` covering the range). Returns the number of readings read.
#[allow(clippy::too_many_arguments)]
fn derive_meter(
    state: &State,
    index: &Index,
    meter: &Meter,
    range: DayRange,
    period: Period,
    starts: &[i64],
    buckets: &mut [Bucket],
    budget: &mut usize,
) -> Result<usize, ApiError> {
    let (from_ms, to_ms) = (range.from_ms(), range.to_ms());
    let points = meter_points(index, &meter.id, from_ms, to_ms, budget)?;
    let n = points.len();
    let reps = replacements(state, index, &meter.id, &points)?;
    let spec = accounting::register_spec(meter, &state.params.accounting);
    // The bucket of the previous share: intervals come in time order, so the next share's bucket
    // is almost always this one or the next (a binary search otherwise).
    let mut hint = 0usize;
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
                (Some(calendar::period_start(period, t)), calendar::period_end(period, t).min(to_ms))
            }
        })
        .map_err(|e| internal(format!("meter {}: {e}", meter.id)))?;
        for (start, share) in shares {
            let Some(start) = start else { continue };
            let i = if starts.get(hint) == Some(&start) {
                hint
            } else if starts.get(hint + 1) == Some(&start) {
                hint + 1
            } else {
                let Ok(i) = starts.binary_search(&start) else { continue };
                i
            };
            hint = i;
            let b = &mut buckets[i];
            let share = i128::from(share);
            b.consumption += share;
            if iv.flags.estimated {
                b.estimated += share;
            }
            if iv.flags.manual || iv.flags.imported {
                b.manual += share;
            }
        }
    }
    Ok(n)
}

/// The register points of a meter in `[from_ms, to_ms)` plus its neighbours just outside (which
/// the intervals across the edges need), charging `budget`.
fn meter_points(
    index: &Index,
    meter: &DeviceId,
    from_ms: i64,
    to_ms: i64,
    budget: &mut usize,
) -> Result<Vec<RegisterPoint>, ApiError> {
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
fn replacements(
    state: &State,
    index: &Index,
    meter: &DeviceId,
    points: &[RegisterPoint],
) -> Result<Vec<Replacement>, ApiError> {
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

/// The meters under a location prefix (tariff registers excluded: their total meter counts).
fn location_meters(state: &State, org: &UnifiedSocialCreditCode, prefix: &[String]) -> Vec<Meter> {
    state.meters().filter(|m| &m.owner == org && m.tariff.is_none() && m.location.0.starts_with(prefix)).collect()
}

/// The one unit of `kind` among `units`, or `unit` if given; an error naming the choices otherwise.
fn pick_unit(
    kind: EnergyKind,
    unit: Option<Unit>,
    units: &BTreeSet<Unit>,
    what: &str,
) -> Result<Option<Unit>, ApiError> {
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
pub fn series(state: &State, index: &Index, req: &SeriesRequest) -> Result<SeriesView, ApiError> {
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
) -> Result<Unit, ApiError> {
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
        b.kgce_eq += i128::from(d.kgce_equivalent.0);
        b.kgce_ev += i128::from(d.kgce_equal_value.0);
        b.kgce_missing |= d.kgce_missing.is_some();
        if let Some(p) = proofs.as_deref_mut() {
            p[i].push(proof_link(&k));
        }
    }
}

fn series_csv(v: &SeriesView) -> String {
    csv(
        &[
            "start_ms",
            "label",
            "consumption",
            "estimated",
            "manual",
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
                p.kgce_equivalent.map_or_else(String::new, |v| v.to_string()),
                p.kgce_equal_value.map_or_else(String::new, |v| v.to_string()),
                v.unit.clone(),
                v.derived.to_string(),
            ]
        }),
    )
}

/// Parses a series query into a request.
pub fn series_request(q: &SeriesQuery) -> Result<SeriesRequest, ApiError> {
    let id = q.id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let need_id = |what: &str| id.ok_or_else(|| bad(format!("id=<{what}> is required for this scope")));
    let scope = match q.scope.as_deref().map(str::trim) {
        Some("meter") => {
            Scope::Meter(DeviceId::new(need_id("meter id")?).map_err(|e| bad(format!("id is not a meter id: {e}")))?)
        }
        Some("location") => {
            let org = parse_org(q.org.as_deref()).map_err(|e| {
                bad(format!(
                    "scope=location needs org=<credit code>: location paths are per enterprise ({})",
                    e.message
                ))
            })?;
            let prefix: Vec<String> = need_id("location path such as site-01/stamping")?
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            Scope::Location { org, prefix }
        }
        Some("org") => Scope::Org(parse_org(Some(need_id("credit code")?))?),
        Some("region") => Scope::Region(Region::parse(Some(need_id("region code")?))?),
        Some(other) => return Err(bad(format!("scope={other:?} is not one of meter, location, org, region"))),
        None => return Err(bad("scope= is required: meter, location, org or region")),
    };
    let derived = matches!(scope, Scope::Meter(_) | Scope::Location { .. });
    let period = match q.period.as_deref() {
        None => Period::Day,
        Some(p) => Period::parse(p.trim())
            .ok_or_else(|| bad(format!("period={p:?} is not one of 15m, hour, day, month, year")))?,
    };
    Ok(SeriesRequest {
        scope,
        energy: q.energy.as_deref().map(parse_energy).transpose()?,
        unit: q.unit.as_deref().map(parse_unit).transpose()?,
        period,
        range: DayRange::parse(
            q.from.as_deref(),
            q.to.as_deref(),
            if derived { MAX_DERIVED_RANGE_DAYS } else { MAX_RANGE_DAYS },
        )?,
        max_points: q.max_points.unwrap_or(DEFAULT_MAX_POINTS),
    })
}

/// A time series per 15 minutes, hour, day, month or year: of a meter or a location (derived from
/// readings) or of an enterprise or a region (sums of consensus daily figures, with proof links).
/// More periods than `max_points` coarsen the period, and the response says so.
#[utoipa::path(get, path = "/v1/figures/series", params(SeriesQuery), responses((status = 200, body = SeriesView), (status = 200, description = "format=csv", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn series_handler(AxumState(s): AxumState<ApiState>, Query(q): Query<SeriesQuery>) -> Result<Response, ApiError> {
    let req = series_request(&q)?;
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Series, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let index = s.index().clone();
    let v = blocking(move || series(&state, &index, &req)).await?;
    Ok(match format {
        Format::Json => ([(header::CONTENT_TYPE, "application/json")], series_json(v)).into_response(),
        Format::Csv => csv_response(&format!("series-{}-{}-{}", v.scope, v.period, v.from), series_csv(&v)),
    })
}

// ---------------------------------------------------------------------------------------------
// Breakdown
// ---------------------------------------------------------------------------------------------

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

/// Breakdown query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct BreakdownQuery {
    /// The enterprise.
    pub org: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`).
    pub to: Option<String>,
    /// `energy` (default), `location` or `tier`.
    pub by: Option<String>,
    /// Location depth 1–4 (site, workshop, line, equipment); default 2.
    pub depth: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
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
) -> Result<BreakdownView, ApiError> {
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

fn breakdown_csv(v: &BreakdownView) -> String {
    csv(
        &[
            "key",
            "energy",
            "unit",
            "consumption",
            "estimated",
            "manual",
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
                opt(&r.kgce_equivalent),
                opt(&r.kgce_equal_value),
                opt(&r.share),
                r.meters.map(|n| n.to_string()).unwrap_or_default(),
                r.figures.map(|n| n.to_string()).unwrap_or_default(),
            ]
        }),
    )
}

/// An enterprise's consumption by energy kind or tariff tier (sums of consensus daily figures), or
/// by location (derived from its meters' readings, grouped by location path at `depth`).
#[utoipa::path(get, path = "/v1/figures/breakdown", params(BreakdownQuery), responses((status = 200, body = BreakdownView), (status = 200, description = "format=csv", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn breakdown_handler(
    AxumState(s): AxumState<ApiState>,
    Query(q): Query<BreakdownQuery>,
) -> Result<Response, ApiError> {
    let org = parse_org(q.org.as_deref())?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_RANGE_DAYS)?;
    let by = match q.by.as_deref().map(str::trim) {
        None | Some("energy") => BreakdownBy::Energy,
        Some("tier") => BreakdownBy::Tier,
        Some("location") => {
            let d = q.depth.unwrap_or(DEFAULT_LOCATION_DEPTH);
            if !(1..=4).contains(&d) {
                return Err(bad(format!("depth={d} must be 1 (site) to 4 (equipment)")));
            }
            BreakdownBy::Location(d)
        }
        Some(other) => return Err(bad(format!("by={other:?} is not one of energy, location, tier"))),
    };
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Rollups, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let index = s.index().clone();
    let v = blocking(move || breakdown(&state, &index, &org, range, by)).await?;
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("breakdown-{}-{}-{}", v.org, v.by, v.from), breakdown_csv(&v)),
    })
}

// ---------------------------------------------------------------------------------------------
// Ranking and comprehensive consumption
// ---------------------------------------------------------------------------------------------

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
struct OrgTotals {
    kinds: BTreeMap<(EnergyKind, Unit), (Bucket, usize, Option<String>)>,
    links: Vec<String>,
    figures: usize,
}

impl OrgTotals {
    fn of(state: &State, org: &UnifiedSocialCreditCode, range: DayRange, keep_links: usize) -> OrgTotals {
        let mut t = OrgTotals::default();
        for (k, d) in state.daily_range(org, range.from_day, range.to_day) {
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
        t
    }

    /// Comprehensive energy consumption (综合能耗) on both bases, micro-kgce, over the kinds whose
    /// standard coal is known.
    fn comprehensive(&self) -> (i64, i64) {
        let parts = |f: fn(&Bucket) -> i128| -> Vec<(EnergyKind, i64)> {
            self.kinds
                .iter()
                .filter(|(_, (b, _, _))| !b.kgce_missing)
                .map(|((e, _), (b, _, _))| (*e, f(b).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64))
                .collect()
        };
        (coal::comprehensive(&parts(|b| b.kgce_eq), 0), coal::comprehensive(&parts(|b| b.kgce_ev), 0))
    }

    fn kind_totals(&self) -> Vec<KindTotal> {
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

    fn missing(&self) -> Vec<String> {
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

/// Ranking query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RankingQuery {
    /// Region code: `430000` (province, matches 43xxxx), `430100` (city, 4301xx) or a county.
    pub region: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`).
    pub to: Option<String>,
    /// `equivalent` (default) or `equal_value`.
    pub basis: Option<String>,
    /// Most entries (default 100, at most 1 000).
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// Ranks the enterprises of a region by comprehensive energy consumption in standard coal.
pub fn ranking(
    state: &State,
    region: Region,
    range: DayRange,
    basis: ElectricityBasis,
    limit_n: usize,
) -> Result<RankingView, ApiError> {
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

fn ranking_csv(v: &RankingView) -> String {
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

/// Enterprises of a region (province 430000 matches 43xxxx, city 430100 matches 4301xx) ranked by
/// comprehensive energy consumption in standard coal, from consensus daily figures.
#[utoipa::path(get, path = "/v1/figures/ranking", params(RankingQuery), responses((status = 200, body = RankingView), (status = 200, description = "format=csv", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn ranking_handler(
    AxumState(s): AxumState<ApiState>,
    Query(q): Query<RankingQuery>,
) -> Result<Response, ApiError> {
    let region = Region::parse(q.region.as_deref())?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_RANGE_DAYS)?;
    let basis = parse_basis(q.basis.as_deref())?;
    let n = q.limit.unwrap_or(DEFAULT_RANKING_LIMIT);
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Rollups, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let v = blocking(move || ranking(&state, region, range, basis, n)).await?;
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("ranking-{}-{}-{}", v.region, v.from, v.to), ranking_csv(&v)),
    })
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

/// Enterprise energy query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct EnterpriseEnergyQuery {
    /// The month, `YYYYMM` (Asia/Shanghai).
    pub month: Option<String>,
}

/// The first and last day of month `YYYYMM`.
pub fn month_days(month: u32) -> Result<DayRange, ApiError> {
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
fn convert_unit(micros: i64, from: Unit, to: Unit) -> Option<i64> {
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
) -> Result<EnterpriseEnergyView, ApiError> {
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

/// An enterprise's comprehensive energy consumption (综合能耗) in a month on both bases, per kind,
/// unit-product consumption (单位产品能耗) per product of its monthly report, and the deviation of
/// the daily figures from that report per kind (5 % rule).
#[utoipa::path(get, path = "/v1/enterprises/{org}/energy", params(("org" = String, Path, description = "Unified social credit code"), EnterpriseEnergyQuery), responses((status = 200, body = EnterpriseEnergyView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn enterprise_energy_handler(
    AxumState(s): AxumState<ApiState>,
    Path(org): Path<String>,
    Query(q): Query<EnterpriseEnergyQuery>,
) -> Result<Json<EnterpriseEnergyView>, ApiError> {
    let org = parse_org(Some(&org))?;
    let text = q.month.ok_or_else(|| bad("month=YYYYMM is required, e.g. month=202611"))?;
    let month: u32 = text.trim().parse().map_err(|_| bad(format!("month={text:?} is not YYYYMM (e.g. 202611)")))?;
    let _permit = s.limits().acquire(RequestClass::Rollups)?;
    let state = s.app().finalized_state();
    blocking(move || enterprise_energy(&state, &org, month)).await.map(Json)
}

// ---------------------------------------------------------------------------------------------
// Quality
// ---------------------------------------------------------------------------------------------

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
    #[schema(value_type = Object)]
    pub counts: QualityCounts,
    /// The indices in basis points, with the pass/fail flags.
    #[schema(value_type = Object)]
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

/// Quality query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct QualityQuery {
    /// One enterprise (give `org` or `region`).
    pub org: Option<String>,
    /// All enterprises of a region.
    pub region: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`).
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
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
pub fn quality(state: &State, scope: QualityScope<'_>, range: DayRange) -> Result<QualityView, ApiError> {
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

fn quality_csv(v: &QualityView) -> String {
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

/// Data-quality indices per enterprise and summed for a region: completeness against the 90 % rule
/// (points in daily figures vs active meters × nominal slots, as of the finalized state),
/// timeliness, accuracy (meters calibrated at the end of the range) and the deviation of daily
/// figures from monthly reports of whole months in the range (5 % rule).
#[utoipa::path(get, path = "/v1/quality", params(QualityQuery), responses((status = 200, body = QualityView), (status = 200, description = "format=csv", content_type = "text/csv", body = String), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn quality_handler(
    AxumState(s): AxumState<ApiState>,
    Query(q): Query<QualityQuery>,
) -> Result<Response, ApiError> {
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_RANGE_DAYS)?;
    let format = parse_format(q.format.as_deref())?;
    let _permit = s.limits().acquire_for(RequestClass::Rollups, format == Format::Csv)?;
    let state = s.app().finalized_state();
    let v = match (q.org.as_deref(), q.region.as_deref()) {
        (Some(o), None) => {
            let org = parse_org(Some(o))?;
            blocking(move || quality(&state, QualityScope::Org(&org), range)).await?
        }
        (None, Some(r)) => {
            let region = Region::parse(Some(r))?;
            blocking(move || quality(&state, QualityScope::Region(region), range)).await?
        }
        _ => return Err(bad("give either org=<credit code> or region=<region code>, not both")),
    };
    Ok(match format {
        Format::Json => Json(v).into_response(),
        Format::Csv => csv_response(&format!("quality-{}-{}", v.from, v.to), quality_csv(&v)),
    })
}

// ---------------------------------------------------------------------------------------------
// Time of use
// ---------------------------------------------------------------------------------------------

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

/// TOU query.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TouQuery {
    /// The enterprise.
    pub org: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day, inclusive (default: `from`); at most 366 days.
    pub to: Option<String>,
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
) -> Result<BTreeMap<K, i128>, ApiError> {
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
pub fn tou(state: &State, index: &Index, org: &UnifiedSocialCreditCode, range: DayRange) -> Result<TouView, ApiError> {
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

/// Time-of-use (分时) electricity of an enterprise: kWh and cost per tier from consensus daily
/// figures (cost when the schedule gives prices, else `null` with a note), and for multi-rate
/// meters the reconciliation of their tariff registers against the schedule's split of the total
/// register (derived from readings), flagging a mismatch.
#[utoipa::path(get, path = "/v1/figures/tou", params(TouQuery), responses((status = 200, body = TouView), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, description = "busy: too many such requests at once; retry after `Retry-After` seconds", body = ApiError)))]
async fn tou_handler(AxumState(s): AxumState<ApiState>, Query(q): Query<TouQuery>) -> Result<Json<TouView>, ApiError> {
    let org = parse_org(q.org.as_deref())?;
    let range = DayRange::parse(q.from.as_deref(), q.to.as_deref(), MAX_DERIVED_RANGE_DAYS)?;
    let _permit = s.limits().acquire(RequestClass::Rollups)?;
    let state = s.app().finalized_state();
    let index = s.index().clone();
    blocking(move || tou(&state, &index, &org, range)).await.map(Json)
}

// ---------------------------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------------------------

/// A deployed version of the audit policy.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyVersionView {
    /// Name from the document.
    pub name: String,
    /// Version.
    pub version: u32,
    /// First height whose readings it audits.
    pub effective_height: u64,
    /// Height of the block that deployed it (0 = the default shipped with genesis).
    pub deployed_height: u64,
    /// The regulator that deployed it.
    pub deployed_by: Option<String>,
    /// `in_force`, `superseded` or `pending` (effective at a later height).
    pub status: String,
    /// The document (TOML with CEL expressions).
    pub text: String,
}

/// The audit policy in force and every version.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// The finalized height.
    pub height: u64,
    /// The version auditing the next block's readings.
    pub in_force: PolicyVersionView,
    /// Every version, oldest first.
    pub versions: Vec<PolicyVersionView>,
}

/// The audit policy in force (for the next block) and every deployed version.
pub fn policy(state: &State) -> PolicyView {
    let next = state.height + 1;
    let (current, _) = state.policy_at(next);
    let view = |p: &trustmeter_state::PolicyRecord| PolicyVersionView {
        name: p.name.clone(),
        version: p.version,
        effective_height: p.effective_height,
        deployed_height: p.deployed_height,
        deployed_by: p.deployed_by.as_ref().map(|o| o.to_string()),
        status: if p.version == current.version {
            "in_force"
        } else if p.effective_height > next {
            "pending"
        } else {
            "superseded"
        }
        .into(),
        text: p.text.clone(),
    };
    PolicyView {
        height: state.height,
        in_force: view(&current),
        versions: state.policies().map(|p| view(&p)).collect(),
    }
}

/// The audit policy (审核规则) in force and all deployed versions.
#[utoipa::path(get, path = "/v1/policy", responses((status = 200, body = PolicyView)))]
async fn policy_handler(AxumState(s): AxumState<ApiState>) -> Json<PolicyView> {
    Json(policy(&s.app().finalized_state()))
}

// ---------------------------------------------------------------------------------------------
// Figure proofs
// ---------------------------------------------------------------------------------------------

/// The proof of daily figure `key`: from `state` (the finalized state) and, from the index, the
/// header and finalization certificate of the same height. When that height's certificate is not
/// stored, an earlier height (at most [`PROOF_FALLBACK_HEIGHTS`] below) is re-executed from the
/// index and proven instead.
pub fn figure_proof(genesis: &Genesis, index: &Index, state: &State, key: &DailyKey) -> Result<FigureProof, ApiError> {
    let h = state.height;
    if index.height() < h {
        return Err(unavailable(format!(
            "the index has reached height {} but the figure is at height {h}; retry in a moment",
            index.height()
        )));
    }
    let participants = genesis.validators.len();
    let decode_fin = |bytes: Vec<u8>| {
        BlockFinalization::decode_cfg(bytes, &participants)
            .map_err(|e| internal(format!("stored finalization does not decode: {e:?}")))
    };
    if let Some(fin) = index.finalization(h).map_err(internal)? {
        let block = index.block(h).map_err(internal)?.ok_or_else(|| internal(format!("block {h} is not indexed")))?;
        return FigureProof::build(genesis, &block.header, state, key, &decode_fin(fin)?).map_err(internal);
    }
    for back in (h.saturating_sub(PROOF_FALLBACK_HEIGHTS).max(1)..h).rev() {
        let Some(fin) = index.finalization(back).map_err(internal)? else { continue };
        let Some(block) = index.block(back).map_err(internal)? else { continue };
        // The figure as of `back`, from the activity tree versions the state store keeps.
        match FigureProof::build(genesis, &block.header, state, key, &decode_fin(fin)?) {
            Ok(p) => return Ok(p),
            Err(trustmeter_client::FigureBuildError::NoFigure { .. }) => break,
            Err(e) => return Err(internal(e)),
        }
    }
    Err(unavailable(format!(
        "no finalization certificate is stored for height {h} or the heights just below it that hold the figure; retry in a moment or ask another node"
    )))
}

/// A daily figure's proof: the state proof of `StateKey::Daily` against the state root of a
/// finalized block, with that block's header and finalization certificate. Check it offline with
/// `trustmeter verify --figure FILE`.
#[utoipa::path(get, path = "/v1/proofs/daily/{org}/{day}/{energy}/{unit}", params(("org" = String, Path, description = "Unified social credit code"), ("day" = String, Path, description = "Local date YYYY-MM-DD"), ("energy" = String, Path, description = "Energy kind, e.g. electricity"), ("unit" = String, Path, description = "Unit symbol, e.g. kWh")), responses((status = 200, description = "A FigureProof (JSON)", body = Object), (status = 400, body = ApiError), (status = 404, body = ApiError), (status = 503, body = ApiError)))]
async fn proof_handler(
    AxumState(s): AxumState<ApiState>,
    Path((org, day, energy, unit)): Path<(String, String, String, String)>,
) -> Result<Json<FigureProof>, ApiError> {
    let key = DailyKey {
        org: parse_org(Some(&org))?,
        day: parse_date(&day, "day")?,
        energy: parse_energy(&energy)?,
        unit: parse_unit(&unit)?,
    };
    let _permit = s.limits().acquire(RequestClass::Proofs)?;
    // Proven from the state the store holds (group commit: it trails the finalized state by at
    // most a second of blocks; a figure first finalized since is proven once the store has it).
    let mut state = s.app().committed_state();
    if state.daily(&key).is_none() {
        let finalized = s.app().finalized_state();
        if finalized.daily(&key).is_some() {
            if !crate::api::wait_for_commit(&s, finalized.height).await {
                return Err(unavailable(
                    "the figure was finalized a moment ago and is not in this node's state store yet; retry in a second",
                )
                .with_retry_after(1));
            }
            state = s.app().committed_state();
        }
    }
    if state.daily(&key).is_none() {
        return Err(not_found(format!(
            "the chain has no {} figure in {} for {} on {day}; list the enterprise's figures with /v1/figures/daily?org={}&from={day}",
            energy_name(key.energy),
            key.unit.symbol(),
            key.org,
            key.org
        )));
    }
    let deadline = tokio::time::Instant::now() + INDEX_WAIT;
    while s.index().height() < state.height && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let index = s.index().clone();
    let genesis = s.genesis().clone();
    blocking(move || figure_proof(&genesis, &index, &state, &key)).await.map(Json)
}

// ---------------------------------------------------------------------------------------------
// Router and OpenAPI
// ---------------------------------------------------------------------------------------------

/// The figures routes (merged into the API router).
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/figures/daily", get(daily_handler))
        .route("/v1/figures/series", get(series_handler))
        .route("/v1/figures/breakdown", get(breakdown_handler))
        .route("/v1/figures/ranking", get(ranking_handler))
        .route("/v1/figures/tou", get(tou_handler))
        .route("/v1/enterprises/{org}/energy", get(enterprise_energy_handler))
        .route("/v1/quality", get(quality_handler))
        .route("/v1/policy", get(policy_handler))
        .route("/v1/proofs/daily/{org}/{day}/{energy}/{unit}", get(proof_handler))
}

/// The figures part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        daily_handler,
        series_handler,
        breakdown_handler,
        ranking_handler,
        tou_handler,
        enterprise_energy_handler,
        quality_handler,
        policy_handler,
        proof_handler
    ),
    components(schemas(
        TierAmount,
        DailyFigureView,
        DailyFiguresView,
        SeriesPoint,
        SeriesView,
        BreakdownRow,
        BreakdownView,
        KindTotal,
        RankingEntry,
        RankingView,
        MonthKind,
        UnitProductView,
        EnterpriseEnergyView,
        DeviationView,
        QualityEntry,
        QualityView,
        TouTier,
        TouReconciliationView,
        TouView,
        PolicyVersionView,
        PolicyView
    ))
)]
pub struct FiguresDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Fixture, T0};
    use trustmeter_types::TxPayload;

    const H: i64 = calendar::HOUR_MS;

    #[test]
    fn the_hand_written_series_json_is_what_serde_writes() {
        let point = |start_ms: i64, label: &str, micros: i64, coal: bool, proofs: Vec<String>| SeriesPoint {
            start_ms,
            label: label.into(),
            consumption: DecimalText(Quantity(micros)),
            estimated: DecimalText(Quantity(micros / 3)),
            manual: DecimalText(Quantity(micros / -7)),
            kgce_equivalent: coal.then_some(DecimalText(Quantity(micros.saturating_mul(3)))),
            kgce_equal_value: coal.then_some(DecimalText(Quantity(i64::MIN))),
            proofs,
        };
        let points = vec![
            point(1_767_196_800_000, "2026-01-01T00:00", 1_234_567, true, vec![]),
            point(-1, "1969", 0, false, vec![]),
            point(i64::MIN, "with \"quotes\" and \\ and \u{1}", i64::MAX, true, vec![]),
            point(i64::MAX, "二〇二六", -1, true, vec!["/v1/proofs/daily/x?day=2026-01-01".into(), "b\"".into()]),
            point(0, "", i64::MIN, false, vec![]),
        ];
        for (notes, points) in [(vec![], vec![]), (vec!["coarsened: \"x\"".to_string()], points)] {
            let v = SeriesView {
                scope: "meter".into(),
                id: "GW-01/M\"1".into(),
                org: None,
                energy: "electricity".into(),
                unit: "kWh".into(),
                period: "quarter".into(),
                requested_period: "quarter".into(),
                coarsened: !notes.is_empty(),
                notes,
                derived: true,
                from: "2026-01-01".into(),
                to: "2026-12-31".into(),
                from_ms: 1,
                to_ms: 2,
                height: 7,
                meters: vec!["m".into()],
                readings: 3,
                enterprises: vec![],
                total: "1.000000".into(),
                total_kgce_equivalent: Some("0.123000".into()),
                total_kgce_equal_value: None,
                points,
            };
            let expected = serde_json::to_vec(&v).expect("serde");
            let written = series_json(v);
            assert_eq!(String::from_utf8(written).expect("UTF-8"), String::from_utf8(expected).expect("UTF-8"));
        }
    }

    /// The meter's derived daily series over `day` (days after T0's day).
    fn day_total(f: &Fixture, day: i32) -> String {
        let first = calendar::day_number(T0) + day;
        let req = SeriesRequest {
            scope: Scope::Meter(f.meter.id.clone()),
            energy: None,
            unit: None,
            period: Period::Day,
            range: DayRange::new(first, first, MAX_DERIVED_RANGE_DAYS).expect("a range"),
            max_points: MAX_POINTS,
        };
        series(&f.st, f.index.as_ref().expect("indexed"), &req).expect("a series").total
    }

    #[test]
    fn a_replacement_older_than_the_late_window_still_counts_in_derived_series() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut f = Fixture::with_index(Some(&dir.path().join("index.redb")));
        // Day 0: 100 kWh at 00:00, 150 at 12:00; the meter is replaced at 12:30 (old one's last
        // value 155, new one's first 5); 10 at 13:00, 40 at 24:00. The day used
        // 50 + (155 − 150) + (10 − 5) + 30 = 90 kWh.
        f.at(T0 + 60_000, Some((T0, 100.0)));
        f.at(T0 + 12 * H + 60_000, Some((T0 + 12 * H, 150.0)));
        let replace = f.metro.sign(TxPayload::ReplaceMeter {
            meter: f.meter.id.clone(),
            at_ms: T0 + 12 * H + 30 * 60_000,
            old_final: Quantity::from_micros(155 * Quantity::SCALE),
            new_initial: Quantity::from_micros(5 * Quantity::SCALE),
        });
        f.txs(T0 + 12 * H + 31 * 60_000, vec![replace]);
        f.at(T0 + 13 * H + 60_000, Some((T0 + 13 * H, 10.0)));
        f.at(T0 + 24 * H + 60_000, Some((T0 + 24 * H, 40.0)));
        assert_eq!(day_total(&f, 0), "90.000000", "while the chain still holds the replacement");
        // Ten more days, one reading each: the chain's 7-day window forgets the replacement.
        for d in 2..=11 {
            f.at(T0 + d * 24 * H + 60_000, Some((T0 + d * 24 * H, 40.0 + 24.0 * (d - 1) as f64)));
        }
        let progress = f.st.progress(&f.meter.id).expect("progress");
        assert!(progress.replacements.is_empty(), "the window still holds it: {:?}", progress.replacements);
        assert_eq!(day_total(&f, 0), "90.000000", "from the index's record of the replacement");
        assert_eq!(day_total(&f, 5), "24.000000");
    }
}
