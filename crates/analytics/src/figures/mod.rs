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
//! - **Derived figures** (`derived: true`): meter and location series and breakdowns, the
//!   master/sub-meter balance ([`balance()`]), and the
//!   time-of-use reconciliation of tariff registers, computed on request from the readings in this
//!   node's index with the same interval rules as the chain (`trustmeter_energy::register`).
//!   Each reading is provable (`/v1/meters/{id}/readings/{seq}/proof`); the sums are not part of
//!   consensus. Meter replacements come from the index (every one the chain recorded) and the
//!   chain's late window (those the index has not reached yet).
//!
//! Days, months and years are Asia/Shanghai calendar periods; `from`/`to` are local dates
//! `YYYY-MM-DD`, both inclusive. Amounts are exact decimal strings of micro-units (6 decimals);
//! standard coal is in kgce. Every limit is a `const` below and every error is an [`Error`] that
//! says what to change.
//!
//! The query functions ([`daily`], [`series`], [`breakdown`], [`balance()`], [`ranking`], [`enterprise_energy`],
//! [`quality`], [`tou`], [`shifts()`], [`policy`], [`figure_proof`], [`carbon_month`]) are plain functions of a finalized state and
//! the index, so benchmarks and tests call exactly what the handlers call.

use crate::error::{Error, bad, internal, limit, not_found, unavailable};
use commonware_codec::Decode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use trustmeter_chain::BlockFinalization;
use trustmeter_client::{CertifiedHeader, FigureProof, ReceiptProof, StateProofs};
use trustmeter_energy::calendar::{self, Period};
use trustmeter_energy::coal::{self, ElectricityBasis};
use trustmeter_energy::quality::{self, QualityCounts, QualityIndex};
use trustmeter_energy::reference::{Decimal, ReferenceSet, div_round_half_even};
use trustmeter_energy::register::{self, RegisterPoint, Replacement};
use trustmeter_energy::tou::{self, Tier};
use trustmeter_index::{Index, MAX_RANGE_RESULTS, ReadingPoint};
use trustmeter_state::accounting::{self, DailyKey, DailyTotal};
use trustmeter_state::{State, StateKey};
use trustmeter_types::{
    DeviceId, DeviceStatus, EnergyKind, Genesis, Meter, OrgKind, Organisation, Quantity, UnifiedSocialCreditCode, Unit,
};
use utoipa::ToSchema;

mod balance;
mod breakdown;
mod carbon;
mod compliance;
mod daily;
mod data_quality;
mod policy;
mod proof;
mod ranking;
mod series;
mod shifts;
mod time_of_use;

pub use balance::*;
pub use breakdown::*;
pub use carbon::*;
pub use compliance::*;
pub use daily::*;
pub use data_quality::*;
pub use policy::*;
pub use proof::*;
pub use ranking::*;
pub use series::*;
pub use shifts::*;
pub use time_of_use::*;

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
    pub fn parse(from: Option<&str>, to: Option<&str>, max_days: i32) -> Result<DayRange, Error> {
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
    pub fn new(from_day: i32, to_day: i32, max_days: i32) -> Result<DayRange, Error> {
        let r = DayRange { from_day, to_day };
        r.check(max_days)?;
        Ok(r)
    }

    fn check(&self, max_days: i32) -> Result<(), Error> {
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

pub fn parse_date(s: &str, what: &str) -> Result<i32, Error> {
    calendar::parse_day(s.trim()).ok_or_else(|| {
        bad(format!("{what}={s:?} is not a date YYYY-MM-DD (a local Asia/Shanghai date such as 2026-11-21)"))
    })
}

pub fn parse_org(s: Option<&str>) -> Result<UnifiedSocialCreditCode, Error> {
    let s = s.ok_or_else(|| bad("org=<unified social credit code> is required"))?;
    UnifiedSocialCreditCode::new(s.trim())
        .map_err(|e| bad(format!("org={s:?} is not a unified social credit code (18 characters): {e}")))
}

fn member(state: &State, org: &UnifiedSocialCreditCode) -> Result<Organisation, Error> {
    state
        .organisation(org)
        .ok_or_else(|| not_found(format!("organisation {org} is not a member of this chain; check the credit code")))
}

/// The snake_case name of an energy kind (`electricity`, `natural_gas`, ...).
pub fn energy_name(k: EnergyKind) -> String {
    k.name().to_string()
}

pub fn parse_energy(s: &str) -> Result<EnergyKind, Error> {
    let name = s.trim().to_ascii_lowercase().replace('-', "_");
    EnergyKind::ALL.into_iter().find(|k| energy_name(*k) == name || k.chinese_name() == s.trim()).ok_or_else(|| {
        let names: Vec<String> = EnergyKind::ALL.iter().map(|k| energy_name(*k)).collect();
        bad(format!("energy={s:?} is not an energy kind; use one of {}", names.join(", ")))
    })
}

pub fn parse_unit(s: &str) -> Result<Unit, Error> {
    let t = s.trim();
    Unit::parse(t).ok_or_else(|| {
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
    pub fn parse(s: Option<&str>) -> Result<Region, Error> {
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

pub fn parse_basis(s: Option<&str>) -> Result<ElectricityBasis, Error> {
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

/// One CSV field: quoted where needed, and defused where a spreadsheet would read it as a formula
/// (a cell beginning with `=`, `+`, `@`, a tab or a carriage return, or `-` not followed by a
/// digit, gets a leading `'`): enterprises write entry notes and names that regulators open in
/// Excel (OWASP "CSV injection").
fn csv_field(s: &str) -> String {
    let mut chars = s.chars();
    let formula = match chars.next() {
        Some('=' | '+' | '@' | '\t' | '\r') => true,
        Some('-') => !chars.next().is_some_and(|c| c.is_ascii_digit() || c == '.'),
        _ => false,
    };
    let s = if formula { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
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
    amount(out, b",\"exported\":", Some(p.exported));
    amount(out, b",\"kgce_equivalent\":", p.kgce_equivalent);
    amount(out, b",\"kgce_equal_value\":", p.kgce_equal_value);
    out.push(b'}');
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{Fixture, T0};
    use trustmeter_types::TxPayload;

    const H: i64 = calendar::HOUR_MS;

    #[test]
    fn a_ranges_totals_from_month_sums_equal_the_daily_figures_summed() {
        // A meter read every 5 h from 2026-11-21 to 2027-01-31: three month boundaries, a year's.
        let mut f = Fixture::new();
        let mut v = 100.0;
        let end = T0 + 72 * calendar::DAY_MS;
        let mut t = T0 + 1_000;
        while t < end {
            v += 12.5 + (t / H % 7) as f64;
            f.at(t, Some((t, v)));
            t += 5 * H;
        }
        let st = &f.st;
        let day = |s: &str| calendar::parse_day(s).unwrap();
        // The chain's month sums are the month's daily figures summed.
        for month in [202611u32, 202612, 202701] {
            let rec = st.month_totals(&f.org, month).expect("a month with daily figures has its sums");
            assert_eq!(Some(rec), trustmeter_state::carbon::month_totals(st, &f.org, month), "{month}");
        }
        assert!(st.month_totals(&f.org, 202610).is_none() && st.month_totals(&f.org, 202702).is_none());
        let dec = rec_kwh(st.month_totals(&f.org, 202612).unwrap());
        let by_hand: i128 = st
            .daily_range(&f.org, day("2026-12-01"), day("2026-12-31"))
            .map(|(_, d)| i128::from(d.consumption.0))
            .sum();
        assert!(by_hand > 0 && dec == by_hand, "December: {dec} vs {by_hand}");
        // Any range, with or without proof links, sums the same either way.
        for (from, to) in [
            ("2026-11-21", "2027-01-31"),
            ("2026-11-01", "2027-12-31"),
            ("2026-12-01", "2026-12-31"),
            ("2026-12-02", "2026-12-30"),
            ("2026-11-30", "2027-01-01"),
            ("2027-01-01", "2027-01-01"),
        ] {
            let range = DayRange::new(day(from), day(to), 800).unwrap();
            for links in [0, 3, MAX_PROOF_LINKS + 1] {
                let (a, b) = (OrgTotals::of(st, &f.org, range, links), OrgTotals::of_days(st, &f.org, range, links));
                assert_eq!(
                    (a.figures, a.comprehensive(), &a.links),
                    (b.figures, b.comprehensive(), &b.links),
                    "{from}..{to}"
                );
                assert_eq!(
                    serde_json::to_value(a.kind_totals()).unwrap(),
                    serde_json::to_value(b.kind_totals()).unwrap(),
                    "{from}..{to}"
                );
            }
        }
    }

    fn rec_kwh(r: trustmeter_state::MonthTotalsRecord) -> i128 {
        r.kinds.iter().map(|k| k.consumption).sum()
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("-12.5"), "-12.5", "a negative amount stays a number");
        assert_eq!(csv_field("-.5"), "-.5");
        assert_eq!(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(csv_field("+1+cmd|' /C calc'!A0"), "'+1+cmd|' /C calc'!A0");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("-cmd"), "'-cmd");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("forklifts"), "forklifts");
        assert_eq!(csv_field(""), "");
    }

    #[test]
    fn the_hand_written_series_json_is_what_serde_writes() {
        let point = |start_ms: i64, label: &str, micros: i64, coal: bool, proofs: Vec<String>| SeriesPoint {
            start_ms,
            label: label.into(),
            consumption: DecimalText(Quantity(micros)),
            estimated: DecimalText(Quantity(micros / 3)),
            manual: DecimalText(Quantity(micros / -7)),
            exported: DecimalText(Quantity(micros / 5)),
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
                total_exported: "0.500000".into(),
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

    /// A reverse register's differences are export: in the meter's derived series, in the
    /// enterprise's series summed from the daily figures, and never in consumption.
    #[test]
    fn a_month_of_metered_electricity_gives_emissions_by_hand() {
        let mut f = Fixture::new();
        // 1 000 → 3 000 kWh on 2026-11-21 (Hunan, region 430000): 2 MWh purchased.
        f.at(T0 + H + 60_000, Some((T0 + H, 1_000.0)));
        f.at(T0 + 13 * H + 60_000, Some((T0 + 13 * H, 3_000.0)));
        let v = carbon_month(&f.st, &f.org, 202_611, None).expect("a result");
        assert_eq!((v.methodology.as_str(), v.version, v.province.as_str()), ("GB/T 32150-2015", 1, "43"));
        assert_eq!(v.electricity_purchased_mwh, "2.000000");
        // 2026 uses the latest published factors, 2023's: standard (national) 2 × 0.5306 = 1.0612 t,
        // location (central grid) 2 × 0.5271 = 1.0542 t, market (excluding market non-fossil)
        // 2 × 0.6096 = 1.2192 t; no fuel, so Scope 1 is 0.
        assert_eq!(
            (v.standard_t.as_str(), v.scope1_t.as_str(), v.scope2_location_t.as_str(), v.scope2_market_t.as_str()),
            ("1.061200", "0.000000", "1.054200", "1.219200")
        );
        assert!(!v.derived && !v.complete, "the chain's results, and November 2026 has not ended at the chain's time");
        assert_eq!(v.consensus_height, f.st.carbon_result(&f.org, 202_611).map(|r| r.height));
        assert!(v.factors.iter().any(|x| x.name == "grid location (mee_average central 2023)" && x.value == "0.5271"));
        // A methodology not in force that month, or not deployed, is a clear 404.
        let e = carbon_month(&f.st, &f.org, 202_503, Some("GB/T 32151.29-2024")).unwrap_err();
        assert!(matches!(e, Error::NotFound(ref m) if m.contains("2025-03-01")), "{e:?}");
        assert!(matches!(carbon_month(&f.st, &f.org, 202_611, Some("ISO 14064")), Err(Error::NotFound(_))));
        assert!(matches!(carbon_month(&f.st, &f.org, 202_613, None), Err(Error::Invalid(_))));
        // The year: the chain's month records and their sums; months without results read 0.
        let y = carbon_year(&f.st, &f.org, 2026).expect("a year");
        assert_eq!(y.months.len(), 12);
        assert_eq!((y.months[10].standard_t.as_str(), y.months[10].height), ("1.061200", v.consensus_height));
        assert_eq!((y.months[9].standard_t.as_str(), y.months[9].height), ("0.000000", None));
        assert_eq!((y.standard_t.as_str(), y.scope2_market_t.as_str()), ("1.061200", "1.219200"));
        let csv = carbon_year_csv(&y);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 14, "header, twelve months, total: {csv}");
        assert!(lines[11].contains(",2026-11,GB/T 32150-2015,1,1.061200,0.000000,1.054200,1.219200,"), "{}", lines[11]);
        assert!(lines[13].contains(",total,,,1.061200,"), "{}", lines[13]);
        assert!(matches!(carbon_year(&f.st, &f.org, 20_260), Err(Error::Invalid(_))));
    }

    #[test]
    fn a_reverse_register_shows_as_export_in_derived_and_consensus_series() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut f = Fixture::with_index(Some(&dir.path().join("index.redb")));
        let mut rev = crate::testkit::meter(&f.org, 2);
        rev.register = trustmeter_types::RegisterKind::CumulativeExport;
        let register = f.ent.sign(TxPayload::RegisterMeter { meter: rev.clone() });
        f.txs(T0 + 1_000, vec![register]);
        let cal = trustmeter_types::registry::Calibration {
            certificate_no: "JD-2".into(),
            issuer: f.st.organisations().find(|o| o.kind == trustmeter_types::OrgKind::MetrologyAuthority).unwrap().id,
            valid_from_ms: T0 - calendar::DAY_MS,
            valid_until_ms: T0 + 30 * calendar::DAY_MS,
        };
        let calibrate = f.metro.sign(TxPayload::RecordCalibration { meter: rev.id.clone(), calibration: cal });
        f.txs(T0 + 2_000, vec![calibrate]);
        let activate = f.reg.sign(TxPayload::ActivateDevice { device: rev.id.clone() });
        f.txs(T0 + 3_000, vec![activate]);
        // 100 → 112.5 kWh sent out between 01:00 and 13:00.
        for (seq, ts, v) in [(1, T0 + H, 100.0), (2, T0 + 13 * H, 112.5)] {
            let r = trustmeter_types::Reading {
                meter: rev.id.clone(),
                seq,
                timestamp_ms: ts,
                value: Quantity::from_f64_round(v).unwrap(),
                unit: trustmeter_types::Unit::KilowattHour,
                origin: trustmeter_types::ReadingOrigin::Online,
                clock_suspect: false,
            };
            let sr = trustmeter_crypto::sign_reading(&f.gw_key, r, trustmeter_types::ReadingSigner::Gateway);
            let tx = f.gw.sign(TxPayload::SubmitReadings { gateway: rev.gateway.clone(), readings: vec![sr] });
            f.txs(ts + 60_000, vec![tx]);
        }
        let day = calendar::day_number(T0);
        let series_of = |scope| {
            let req = SeriesRequest {
                scope,
                energy: Some(trustmeter_types::EnergyKind::Electricity),
                unit: None,
                period: Period::Day,
                range: DayRange::new(day, day, MAX_DERIVED_RANGE_DAYS).expect("a range"),
                max_points: MAX_POINTS,
            };
            let v = series(&f.st, f.index.as_ref().expect("indexed"), &req).expect("a series");
            (v.total, v.total_exported, v.derived)
        };
        let expect = |derived| ("0.000000".to_string(), "12.500000".to_string(), derived);
        assert_eq!(series_of(Scope::Meter(rev.id.clone())), expect(true));
        assert_eq!(series_of(Scope::Org(f.org.clone())), expect(false));
        // Breakdowns by energy (consensus) and by location (derived) show it as export too.
        let range = DayRange::new(day, day, MAX_DERIVED_RANGE_DAYS).expect("a range");
        for by in [BreakdownBy::Energy, BreakdownBy::Location(1)] {
            let v = breakdown(&f.st, f.index.as_ref().expect("indexed"), &f.org, range, by).expect("a breakdown");
            let rows: Vec<_> = v.rows.iter().map(|r| (r.consumption.as_str(), r.exported.as_deref())).collect();
            assert_eq!(rows, [("0.000000", Some("12.500000"))], "{by:?}");
        }
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
