//! The compliance cycle of an enterprise's carbon accounts (履约): reports, third-party
//! verification (核查) and quotas (配额).
//!
//! - **Reports.** The monthly evidence deposit (月度信息化存证) and the annual emission report
//!   (年度排放报告) are documents the chain's own data determine: a node generates one, the
//!   enterprise keeps its bytes in the evidence store and signs a [`crate::TxPayload::SubmitCarbonReport`]
//!   naming its hash; every validator generates the same document again and accepts the hash only
//!   if it is that document's.
//! - **Verification.** A regulator assigns an accredited verifier to an enterprise's annual report;
//!   the verifier records its statement (opinion, findings, verified emissions) against the
//!   report's hash; the enterprise accepts it or objects within [`OBJECTION_WORKING_DAYS`]
//!   working days; a regulator decides an objection; the verified emissions then are final.
//! - **Quotas.** A regulator allocates (pre-allocation, final allocation, adjustments); an
//!   enterprise may keep its own reference figure until then; it surrenders allowances and offsets
//!   (CCER ≤ [`OFFSET_CAP_PERCENT`] % of the obligation) against its final verified emissions and
//!   banks what is left to the next year.
//!
//! Amounts are tonnes CO2e as [`Quantity`] (micro-tonnes, fixed point).

use crate::carbon::Evidence;
use crate::codec::check_len;
use crate::energy::Quantity;
use crate::ids::{Hash32, UnifiedSocialCreditCode};
use crate::limits::MAX_MESSAGE_LEN;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Working days (Monday to Friday, Asia/Shanghai) an enterprise has to object to a verifier's
/// statement (《碳排放权交易管理办法（试行）》 Art. 27: seven working days). Public holidays
/// are not modelled: the window is never shorter than the rule's.
pub const OBJECTION_WORKING_DAYS: u32 = 7;
/// Working days a regulator has to decide an objection (Art. 27: ten working days); an alarm
/// raised by the nodes, not a rule of the state machine (the decision stays valid when late).
pub const DECISION_WORKING_DAYS: u32 = 10;
/// Offsets (CCER) may cover at most this share of a year's surrender obligation, in percent.
pub const OFFSET_CAP_PERCENT: i64 = 5;
/// Natural days after a month's end by which its evidence deposit is due (power sector practice:
/// 40 days; the compliance calendar's alarm, not a rule: a late deposit is recorded as late).
pub const DEPOSIT_DUE_DAYS: i32 = 40;
/// Most findings in one verification statement.
pub const MAX_FINDINGS: usize = 64;
/// Longest finding text, bytes.
pub const MAX_FINDING_LEN: usize = 1024;
/// Most adjustments of one year's allocation.
pub const MAX_QUOTA_ADJUSTMENTS: usize = 16;
/// Largest amount of any quota operation or verified figure, tonnes CO2e (10⁹ t: more than the
/// national ETS's annual cap for a single entity by far).
pub const MAX_TONNES: i64 = 1_000_000_000;

/// The period a carbon report covers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ReportPeriod {
    /// A month's evidence deposit (月度信息化存证), `YYYYMM`.
    Month(u32),
    /// A year's emission report (年度排放报告), `YYYY`.
    Year(u32),
}

impl ReportPeriod {
    /// Checks the month or year.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            ReportPeriod::Month(m) => crate::carbon::check_month(m),
            ReportPeriod::Year(y) => check_year(y),
        }
    }

    /// The number a state key holds: `YYYYMM` for a month, `YYYY` for a year (never confused:
    /// a month is at least 190 001).
    pub fn code(&self) -> u32 {
        match *self {
            ReportPeriod::Month(m) | ReportPeriod::Year(m) => m,
        }
    }

    /// The period of a key's number (see [`ReportPeriod::code`]).
    pub fn from_code(code: u32) -> ReportPeriod {
        if code >= 10_000 { ReportPeriod::Month(code) } else { ReportPeriod::Year(code) }
    }

    /// `2026-03` or `2026`.
    pub fn label(&self) -> String {
        match *self {
            ReportPeriod::Month(m) => format!("{:04}-{:02}", m / 100, m % 100),
            ReportPeriod::Year(y) => format!("{y:04}"),
        }
    }

    /// Parses [`ReportPeriod::label`]'s form (`2026-03`, `202603` or `2026`).
    pub fn parse(text: &str) -> Result<ReportPeriod, String> {
        let digits: String = text.chars().filter(|c| *c != '-').collect();
        let bad = || format!("period '{text}' is neither a year (2026) nor a month (2026-03)");
        if digits.len() > 6 || !digits.chars().all(|c| c.is_ascii_digit()) || text.len() > 7 {
            return Err(bad());
        }
        let n: u32 = digits.parse().map_err(|_| bad())?;
        let p = match digits.len() {
            4 if !text.contains('-') => ReportPeriod::Year(n),
            6 => ReportPeriod::Month(n),
            _ => return Err(bad()),
        };
        p.check()?;
        Ok(p)
    }

    /// The months it covers, `YYYYMM`, in order.
    pub fn months(&self) -> Vec<u32> {
        match *self {
            ReportPeriod::Month(m) => vec![m],
            ReportPeriod::Year(y) => (1..=12).map(|m| y * 100 + m).collect(),
        }
    }

    /// The year it belongs to.
    pub fn year(&self) -> u32 {
        match *self {
            ReportPeriod::Month(m) => m / 100,
            ReportPeriod::Year(y) => y,
        }
    }

    /// `monthly_deposit` or `annual_report`.
    pub fn kind(&self) -> &'static str {
        match self {
            ReportPeriod::Month(_) => "monthly_deposit",
            ReportPeriod::Year(_) => "annual_report",
        }
    }
}

/// Checks a reporting year.
pub fn check_year(year: u32) -> Result<(), String> {
    if !(1900..=9999).contains(&year) {
        return Err(format!("year {year} is not YYYY"));
    }
    Ok(())
}

/// A verifier's opinion (核查结论).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Opinion {
    /// The report is fairly stated (无保留意见).
    Unqualified,
    /// Fairly stated except for the findings' misstatements, which the verified figure corrects
    /// (保留意见).
    Qualified,
    /// Not fairly stated; the verified figure is the verifier's conservative estimate (否定意见).
    Adverse,
}

/// How serious a finding is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FindingSeverity {
    /// An observation with no effect on the figure (观察项).
    Observation,
    /// A non-conformity with the monitoring plan or the methodology (不符合项).
    NonConformity,
    /// A misstatement of the emissions, corrected by the finding's adjustment (错报).
    Misstatement,
}

/// One finding of a verification (核查发现).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Its number in the statement, 1, 2, … in order.
    pub number: u32,
    /// How serious.
    pub severity: FindingSeverity,
    /// What it concerns: an emission source and item (`fuel_combustion/diesel`), a month, an
    /// entry; free text.
    pub subject: String,
    /// What was found.
    pub text: String,
    /// Its correction of the reported emissions, t CO2e (signed; 0 unless a misstatement).
    pub adjustment: Quantity,
}

/// A verifier's statement on an annual report (核查报告).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationStatement {
    /// Hash of the annual report verified (the report's current version on chain).
    pub report: Hash32,
    /// The opinion.
    pub opinion: Opinion,
    /// Findings, numbered from 1.
    pub findings: Vec<Finding>,
    /// Verified emissions, t CO2e (GB/T 32150 view): the reported total plus every finding's
    /// adjustment.
    pub verified: Quantity,
    /// The signed verification report document in the evidence store, if filed.
    pub document: Option<Evidence>,
}

/// One step of a verification (see the module documentation).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum VerificationStep {
    /// A regulator covering the enterprise assigns an accredited verifier (核查安排); before a
    /// statement, assigning again replaces the verifier.
    Assign {
        /// The verifier organisation.
        verifier: UnifiedSocialCreditCode,
    },
    /// The assigned verifier records its statement.
    Statement {
        /// The statement.
        statement: VerificationStatement,
    },
    /// The enterprise accepts the statement: its figure is final at once.
    Accept,
    /// The enterprise objects within the window (申请复核).
    Object {
        /// Why.
        reason: String,
    },
    /// A regulator covering the enterprise decides an objection (复核决定): the figure it sets
    /// is final.
    Decide {
        /// The final verified emissions, t CO2e.
        verified: Quantity,
        /// Why.
        reason: String,
    },
}

impl VerificationStep {
    /// Checks what needs no state.
    pub fn check(&self) -> Result<(), String> {
        match self {
            VerificationStep::Assign { verifier } => verifier.check(),
            VerificationStep::Accept => Ok(()),
            VerificationStep::Object { reason } => check_text("reason", reason, MAX_MESSAGE_LEN),
            VerificationStep::Decide { verified, reason } => {
                check_tonnes("verified emissions", *verified, false)?;
                check_text("reason", reason, MAX_MESSAGE_LEN)
            }
            VerificationStep::Statement { statement: s } => {
                check_tonnes("verified emissions", s.verified, false)?;
                check_len("findings", s.findings.len(), MAX_FINDINGS)?;
                for (i, f) in s.findings.iter().enumerate() {
                    if f.number as usize != i + 1 {
                        return Err(format!(
                            "findings are numbered 1, 2, … in order; finding {} is number {}",
                            i + 1,
                            f.number
                        ));
                    }
                    check_text("finding subject", &f.subject, MAX_MESSAGE_LEN)?;
                    check_text("finding text", &f.text, MAX_FINDING_LEN)?;
                    if f.text.trim().is_empty() {
                        return Err(format!("finding {} says nothing", f.number));
                    }
                    check_tonnes("a finding's adjustment", f.adjustment, true)?;
                    if f.severity != FindingSeverity::Misstatement && f.adjustment != Quantity(0) {
                        return Err(format!("finding {}: only a misstatement adjusts the figure", f.number));
                    }
                }
                if let Some(d) = &s.document {
                    check_len("document name", d.name.len(), crate::limits::MAX_NAME_LEN)?;
                    if d.bytes == 0 || d.bytes > crate::carbon::MAX_EVIDENCE_BYTES {
                        return Err("the statement's document must be 1 byte to 16 MiB".into());
                    }
                }
                if s.opinion == Opinion::Unqualified
                    && s.findings.iter().any(|f| f.severity == FindingSeverity::Misstatement)
                {
                    return Err("an unqualified opinion has no misstatements; qualify it".into());
                }
                Ok(())
            }
        }
    }

    /// `assign`, `statement`, `accept`, `object` or `decide`.
    pub fn name(&self) -> &'static str {
        match self {
            VerificationStep::Assign { .. } => "assign",
            VerificationStep::Statement { .. } => "statement",
            VerificationStep::Accept => "accept",
            VerificationStep::Object { .. } => "object",
            VerificationStep::Decide { .. } => "decide",
        }
    }
}

/// What an allocation records.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AllocationKind {
    /// Pre-allocation (预分配), e.g. 70 % of the previous year's verified emissions.
    Pre,
    /// Final allocation (核定), e.g. an intensity benchmark × output; replaces the pre-allocation
    /// as the year's allocation.
    Final,
    /// An adjustment of either (signed).
    Adjustment,
}

/// One operation on an enterprise's quota account of a year.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum QuotaOp {
    /// A regulator covering the enterprise allocates allowances.
    Allocate {
        /// Pre, final or adjustment.
        kind: AllocationKind,
        /// Tonnes CO2e (an adjustment may be negative).
        amount: Quantity,
        /// How it was computed (`70 % × 2025 verified 12 345.6 t`, `benchmark 0.8 t/unit × 15 000`).
        basis: String,
    },
    /// The enterprise's own reference figure (内部参考配额), used until a regulator allocates.
    Reference {
        /// Tonnes CO2e.
        amount: Quantity,
        /// How the enterprise arrived at it.
        basis: String,
    },
    /// The enterprise surrenders (清缴) allowances and offsets against the year's final
    /// verified emissions.
    Surrender {
        /// Allowances, t CO2e.
        allowances: Quantity,
        /// Offsets (CCER), t CO2e.
        offsets: Quantity,
    },
    /// The enterprise banks (结转) unused allowances to the next year, once it has surrendered its
    /// whole obligation.
    Bank {
        /// Tonnes CO2e.
        amount: Quantity,
    },
}

impl QuotaOp {
    /// Checks what needs no state.
    pub fn check(&self) -> Result<(), String> {
        match self {
            QuotaOp::Allocate { kind, amount, basis } => {
                check_tonnes("allocation", *amount, *kind == AllocationKind::Adjustment)?;
                check_text("basis", basis, MAX_MESSAGE_LEN)
            }
            QuotaOp::Reference { amount, basis } => {
                check_tonnes("reference quota", *amount, false)?;
                check_text("basis", basis, MAX_MESSAGE_LEN)
            }
            QuotaOp::Surrender { allowances, offsets } => {
                check_tonnes("allowances", *allowances, false)?;
                check_tonnes("offsets", *offsets, false)?;
                if *allowances == Quantity(0) && *offsets == Quantity(0) {
                    return Err("a surrender surrenders something".into());
                }
                Ok(())
            }
            QuotaOp::Bank { amount } => {
                check_tonnes("banked amount", *amount, false)?;
                if *amount == Quantity(0) {
                    return Err("bank a positive amount".into());
                }
                Ok(())
            }
        }
    }

    /// `allocate`, `reference`, `surrender` or `bank`.
    pub fn name(&self) -> &'static str {
        match self {
            QuotaOp::Allocate { .. } => "allocate",
            QuotaOp::Reference { .. } => "reference",
            QuotaOp::Surrender { .. } => "surrender",
            QuotaOp::Bank { .. } => "bank",
        }
    }
}

fn check_text(what: &str, text: &str, max: usize) -> Result<(), String> {
    check_len(what, text.len(), max)?;
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

/// Checks a tonnage: within ±[`MAX_TONNES`], and not negative unless `signed`.
pub fn check_tonnes(what: &str, q: Quantity, signed: bool) -> Result<(), String> {
    let limit = MAX_TONNES * 1_000_000;
    if q.micros() > limit || q.micros() < -limit {
        return Err(format!("{what} is beyond {MAX_TONNES} t"));
    }
    if !signed && q.micros() < 0 {
        return Err(format!("{what} is negative"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_round_trip_and_refuse_nonsense() {
        assert_eq!(ReportPeriod::parse("2026").unwrap(), ReportPeriod::Year(2026));
        assert_eq!(ReportPeriod::parse("2026-03").unwrap(), ReportPeriod::Month(202_603));
        assert_eq!(ReportPeriod::parse("202603").unwrap(), ReportPeriod::Month(202_603));
        for bad in ["2026-13", "26", "20261", "2026-03-01", "x", "", "-2026", "2026-"] {
            assert!(ReportPeriod::parse(bad).is_err(), "{bad}");
        }
        for p in [ReportPeriod::Year(2026), ReportPeriod::Month(202_612)] {
            assert_eq!(ReportPeriod::from_code(p.code()), p);
            assert_eq!(ReportPeriod::parse(&p.label()).unwrap(), p);
        }
        assert_eq!(ReportPeriod::Year(2026).months().len(), 12);
    }

    #[test]
    fn statements_are_checked() {
        let q = |t: i64| Quantity::from_micros(t * 1_000_000);
        let finding = |n, severity, adj| Finding {
            number: n,
            severity,
            subject: "fuel_combustion/diesel".into(),
            text: "invoice 4711 not in the ledger".into(),
            adjustment: q(adj),
        };
        let statement = |opinion, findings| VerificationStep::Statement {
            statement: VerificationStatement {
                report: Hash32([1; 32]),
                opinion,
                findings,
                verified: q(100),
                document: None,
            },
        };
        assert!(statement(Opinion::Qualified, vec![finding(1, FindingSeverity::Misstatement, 3)]).check().is_ok());
        assert!(statement(Opinion::Unqualified, vec![finding(1, FindingSeverity::Misstatement, 3)]).check().is_err());
        assert!(statement(Opinion::Qualified, vec![finding(2, FindingSeverity::Misstatement, 3)]).check().is_err());
        assert!(statement(Opinion::Qualified, vec![finding(1, FindingSeverity::Observation, 3)]).check().is_err());
        assert!(QuotaOp::Allocate { kind: AllocationKind::Pre, amount: q(-1), basis: String::new() }.check().is_err());
        assert!(
            QuotaOp::Allocate { kind: AllocationKind::Adjustment, amount: q(-1), basis: String::new() }.check().is_ok()
        );
        assert!(QuotaOp::Surrender { allowances: q(0), offsets: q(0) }.check().is_err());
        assert!(QuotaOp::Bank { amount: q(MAX_TONNES + 1) }.check().is_err());
    }
}
