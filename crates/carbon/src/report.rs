//! The carbon report document (碳排放报告): the monthly evidence deposit (月度信息化存证) and the
//! annual emission report (年度排放报告) as one data structure, and its canonical bytes.
//!
//! A report is a pure function of the chain's state (`trustmeter-state` builds it): entity,
//! boundary, monitoring plan, the methodology versions used, results per month, per source and
//! gas, activity data with their sources and evidence, factors with their sources, totals in both
//! views and data quality. Its bytes are [`ReportDocument::to_bytes`] (pretty JSON, fields in
//! declaration order, lists in a canonical order, amounts as decimal strings of tonnes with six
//! decimals), and its identity is the chain's hash over them: what an enterprise signs (in its
//! filing transaction), what every validator regenerates and compares, and what a verifier checks
//! a copy against. People read the same document rendered as HTML or CSV (`trustmeter-analytics`).
//!
//! Nothing in it depends on when or where it is generated (no height, no clock, no node): two
//! nodes at the same state produce the same bytes.

use serde::{Deserialize, Serialize};

/// The format tag of [`ReportDocument::format`].
pub const REPORT_FORMAT: &str = "trustmeter/carbon-report/v1";

/// Largest report document, bytes (a year of 256 entries a month with eight evidence files each
/// is ≈ 3 MB; the evidence store's file limit is 16 MiB).
pub const MAX_REPORT_BYTES: usize = 8 << 20;

/// A report document. Field order is the order of the JSON and of the rendered sections.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportDocument {
    /// [`REPORT_FORMAT`].
    pub format: String,
    /// `monthly_deposit` or `annual_report`.
    pub kind: String,
    /// `2026-03` or `2026`.
    pub period: String,
    /// The chain the data are on.
    pub chain_id: String,
    /// The reporting entity (报告主体).
    pub entity: Entity,
    /// The boundary (核算边界): the devices whose readings the figures rest on.
    pub boundary: Boundary,
    /// Monitoring plans (监测计划) in force during the period.
    pub monitoring_plan: Vec<PlanLine>,
    /// Methodology versions used, with the hash of each document.
    pub methodologies: Vec<MethodologyUsed>,
    /// Results of each month.
    pub months: Vec<MonthLine>,
    /// Results per source, item and gas over the period.
    pub sources: Vec<SourceLine>,
    /// Activity data (活动数据) with their sources.
    pub activity: Vec<ActivityLine>,
    /// Emission factors (排放因子) used, with their sources.
    pub factors: Vec<FactorLine>,
    /// Totals of the period.
    pub totals: ReportTotals,
    /// Data quality (数据质量).
    pub data_quality: DataQuality,
}

/// The reporting entity.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    /// Unified social credit code (统一社会信用代码).
    pub id: String,
    /// Registered name.
    pub name: String,
    /// Region, GB/T 2260.
    pub region: u32,
}

/// The devices in the boundary.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Boundary {
    /// The enterprise's gateways (trusted terminals), by id, with their status.
    pub gateways: Vec<DeviceLine>,
    /// Its meters, counted by energy kind and status.
    pub meters: Vec<MeterCount>,
}

/// A device and its status.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceLine {
    /// Device id.
    pub id: String,
    /// `registered`, `active` or `revoked`.
    pub status: String,
}

/// Meters of one energy kind and status.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterCount {
    /// Energy kind.
    pub energy: String,
    /// Status.
    pub status: String,
    /// How many.
    pub count: u32,
}

/// A monitoring plan line.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLine {
    /// First month, `2026-01`.
    pub from: String,
    /// Methodology id.
    pub methodology: String,
}

/// A methodology version used.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodologyUsed {
    /// Id.
    pub id: String,
    /// Version.
    pub version: u32,
    /// Title.
    pub title: String,
    /// GWP set.
    pub gwp_set: String,
    /// Hash of the document's text (hex).
    pub text_hash: String,
    /// Height that deployed it (0: shipped with genesis).
    pub deployed_height: u64,
}

/// One month's results.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonthLine {
    /// `2026-03`.
    pub month: String,
    /// Methodology id and version, `GB/T 32151.29-2024 v1`.
    pub methodology: String,
    /// GB/T 32150 total, t CO2e.
    pub standard: String,
    /// Scope 1, t CO2e.
    pub scope1: String,
    /// Scope 2 location-based, t CO2e.
    pub scope2_location: String,
    /// Scope 2 market-based, t CO2e.
    pub scope2_market: String,
    /// Biomass CO2, t.
    pub biogenic: String,
    /// Production output, if entered.
    pub output: Option<String>,
    /// Documented entries used.
    pub entries: u32,
    /// Days with metered figures.
    pub metered_days: u32,
    /// Height of the chain's month results this agrees with (none: never computed).
    pub result_height: Option<u64>,
    /// Why the month could not be evaluated, if it could not.
    pub error: Option<String>,
}

/// Results of one source, item and gas over the period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceLine {
    /// Source id.
    pub source: String,
    /// Item (fuel, `gas/method`, `welding/n`) or empty.
    pub item: String,
    /// Gas.
    pub gas: String,
    /// Scope.
    pub scope: u8,
    /// Views it counts in (`standard location market`).
    pub views: String,
    /// Biomass (in no total).
    pub biogenic: bool,
    /// Mass of the gas, t.
    pub mass: String,
    /// CO2e, t.
    pub co2e: String,
}

/// One line of activity data.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityLine {
    /// `2026-03`.
    pub month: String,
    /// `metered` (the chain's daily figures) or `entry <n> rev <r>` (a documented entry).
    pub origin: String,
    /// What: `electricity consumed`, `fuel diesel`, `SF6 ledger` …
    pub what: String,
    /// Amount (decimal).
    pub amount: String,
    /// Unit.
    pub unit: String,
    /// Detail (a ledger's lines, a certificate range, the days a metered sum covers).
    pub detail: String,
    /// Evidence files.
    pub evidence: Vec<EvidenceLine>,
}

/// An evidence file named in a report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceLine {
    /// Content hash (hex).
    pub hash: String,
    /// Kind.
    pub kind: String,
    /// File name.
    pub name: String,
    /// Bytes.
    pub bytes: u64,
}

/// A factor used.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorLine {
    /// What it is.
    pub name: String,
    /// Value.
    pub value: String,
    /// Unit.
    pub unit: String,
    /// Source.
    pub source: String,
    /// Confidence or `measured`.
    pub confidence: String,
    /// Months it was used in (`2026-01 2026-02`, or `all`).
    pub months: String,
}

/// Totals of the period, t CO2e.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportTotals {
    /// GB/T 32150 view.
    pub standard: String,
    /// Scope 1.
    pub scope1: String,
    /// Scope 2 location-based.
    pub scope2_location: String,
    /// Scope 2 market-based.
    pub scope2_market: String,
    /// Scope 1 + 2, location-based.
    pub location: String,
    /// Scope 1 + 2, market-based.
    pub market: String,
    /// Biomass CO2, apart.
    pub biogenic: String,
    /// Production output, if every evaluated month had one.
    pub output: Option<String>,
    /// t CO2e per unit of output (GB/T 32150 view), if output is known.
    pub intensity: Option<String>,
}

/// Data quality of the period.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataQuality {
    /// Days in the period.
    pub days: u32,
    /// Days with at least one metered daily figure.
    pub metered_days: u32,
    /// Months evaluated without error.
    pub months_evaluated: u32,
    /// Metered energy that could not become activity data, with why.
    pub unconverted: Vec<String>,
    /// Entries set aside and other notes.
    pub notes: Vec<String>,
}

/// Why report bytes are refused.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Not a report document.
    #[error("not a {REPORT_FORMAT} document: {0}")]
    Format(String),
    /// Larger than [`MAX_REPORT_BYTES`].
    #[error("report of {0} bytes is larger than {MAX_REPORT_BYTES}")]
    TooLarge(usize),
}

impl ReportDocument {
    /// The canonical bytes: pretty JSON (two-space indent) and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a report is plain data");
        out.push(b'\n');
        out
    }

    /// Reads a document back (to render a stored one), refusing anything that is not one or is
    /// not in canonical form.
    pub fn from_bytes(bytes: &[u8]) -> Result<ReportDocument, ReportError> {
        if bytes.len() > MAX_REPORT_BYTES {
            return Err(ReportError::TooLarge(bytes.len()));
        }
        let doc: ReportDocument = serde_json::from_slice(bytes).map_err(|e| ReportError::Format(e.to_string()))?;
        if doc.format != REPORT_FORMAT {
            return Err(ReportError::Format(format!("format is '{}'", doc.format)));
        }
        if doc.to_bytes() != bytes {
            return Err(ReportError::Format("not in canonical form (re-encoding changes its bytes)".into()));
        }
        Ok(doc)
    }
}

/// Tonnes with six decimals from micro-tonnes (`-1234.500000`).
pub fn tonnes(ut: i64) -> String {
    let sign = if ut < 0 { "-" } else { "" };
    let a = ut.unsigned_abs();
    format!("{sign}{}.{:06}", a / 1_000_000, a % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonnes_are_exact() {
        assert_eq!(tonnes(0), "0.000000");
        assert_eq!(tonnes(9_435_367), "9.435367");
        assert_eq!(tonnes(-1), "-0.000001");
        assert_eq!(tonnes(i64::MIN), "-9223372036854.775808");
    }
}
