//! Documented carbon entries (台账/证明材料): the activity data no meter on the chain measures,
//! each with the files that prove it, and an enterprise's monitoring plan (监测计划: which
//! methodology it accounts with).
//!
//! A [`CarbonEntry`] is one line of an enterprise's monthly activity data: a fuel burnt by
//! invoice, an SF6 filling ledger, a welding-gas ledger, production output, a lab's measured NCV
//! or carbon content, purchased green power, or a batch of green certificates (绿证). Each names
//! its evidence by content hash ([`Evidence`]); the files themselves live off chain, in the
//! evidence stores of the nodes and gateways (`trustmeter-evidence`), and anyone holding a file
//! checks it against the hash on chain.
//!
//! Amounts are [`Quantity`] (six decimals, fixed point) in the unit the enterprise's methodology
//! names for the item (a fuel's own unit, gases in tonnes, electricity in MWh, NCV in GJ per fuel
//! unit, carbon content in tC/GJ, volume fractions as fractions of 1).

use crate::codec::check_len;
use crate::energy::Quantity;
use crate::ids::Hash32;
use crate::limits::{MAX_MESSAGE_LEN, MAX_NAME_LEN};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Most entries of one enterprise and month (entry numbers run 1..=this).
pub const MAX_CARBON_ENTRIES_PER_MONTH: u32 = 256;
/// Most evidence files one entry names.
pub const MAX_EVIDENCE_PER_ENTRY: usize = 8;
/// Largest evidence file, bytes (a scanned invoice or a phone photo of a meter fits easily).
pub const MAX_EVIDENCE_BYTES: u64 = 16 << 20;
/// Longest id of a fuel, gas, product, contract or certificate batch.
pub const MAX_ITEM_ID_LEN: usize = 64;
/// Most green certificates in one batch entry (1 certificate = 1 MWh).
pub const MAX_CERTIFICATES_PER_ENTRY: u32 = 10_000_000;
/// How long a green certificate can be claimed after the month of the power it certifies
/// (发改能源〔2023〕1044号: valid two years, then cancelled), in months.
pub const CERTIFICATE_VALID_MONTHS: u32 = 24;

/// What an evidence file is.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    /// An invoice (发票).
    Invoice,
    /// A settlement voucher of a utility or supplier (结算凭证).
    SettlementVoucher,
    /// A laboratory report (检测报告), e.g. a measured NCV.
    LabReport,
    /// An inventory ledger (库存台账).
    InventoryLedger,
    /// A photo of a manually read meter (人工抄表照片).
    MeterPhoto,
    /// A certificate or its transfer record (绿证).
    Certificate,
    /// A contract (e.g. a green-power purchase, 绿电交易合同).
    Contract,
    /// Anything else; the entry's note says what.
    Other,
}

impl EvidenceKind {
    /// The snake_case name (as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Invoice => "invoice",
            EvidenceKind::SettlementVoucher => "settlement_voucher",
            EvidenceKind::LabReport => "lab_report",
            EvidenceKind::InventoryLedger => "inventory_ledger",
            EvidenceKind::MeterPhoto => "meter_photo",
            EvidenceKind::Certificate => "certificate",
            EvidenceKind::Contract => "contract",
            EvidenceKind::Other => "other",
        }
    }
}

/// A file that proves an entry, named by its content hash (the chain's hash algorithm over the
/// file's bytes: SHA-256, or SM3 on a 国密 chain).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Evidence {
    /// Hash of the file's bytes.
    pub hash: Hash32,
    /// Size in bytes.
    pub bytes: u64,
    /// What the file is.
    pub kind: EvidenceKind,
    /// The file's name as the enterprise keeps it (e.g. `2025-03-sf6-ledger.pdf`).
    pub name: String,
}

/// How an SF6/HFC/PFC filling was measured (GB/T 32151.29-2024).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum GasFilling {
    /// Container masses before and after the month's fills, t (无流量计).
    Containers {
        /// Σ container mass before filling.
        before_t: Quantity,
        /// Σ container mass after filling.
        after_t: Quantity,
    },
    /// A flow meter's total, t (有流量计).
    FlowMeter {
        /// Metered mass filled.
        metered_t: Quantity,
    },
}

/// What a documented entry records.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CarbonEntryData {
    /// A fuel burnt that no meter on the chain measures (diesel for forklifts, by invoice),
    /// in the fuel's unit in the methodology.
    Fuel {
        /// The methodology's fuel id.
        fuel: String,
        /// Amount burnt.
        amount: Quantity,
    },
    /// A fuel's measured net calorific value and/or carbon content for the month (实测值), which
    /// override the methodology's defaults for that fuel; the evidence must include a lab report.
    FuelAnalysis {
        /// The methodology's fuel id.
        fuel: String,
        /// Measured NCV, GJ per fuel unit.
        ncv: Option<Quantity>,
        /// Measured carbon content, tC/GJ.
        carbon_content: Option<Quantity>,
    },
    /// A fluorinated gas's ledger for the month: inventory, purchases, sales, fills.
    Fgas {
        /// The methodology's gas id (`SF6`, `HFC-134a`, …).
        gas: String,
        /// Opening inventory, t.
        opening_t: Quantity,
        /// Closing inventory, t.
        closing_t: Quantity,
        /// Purchased, t.
        purchased_t: Quantity,
        /// Sold or used off-site, t.
        sold_t: Quantity,
        /// Number of fillings.
        fills: u32,
        /// How the filling was measured.
        filling: GasFilling,
    },
    /// A welding shielding-gas ledger for the month, with the mixture's volume fractions.
    Welding {
        /// Opening inventory, t.
        opening_t: Quantity,
        /// Purchased, t.
        purchased_t: Quantity,
        /// Closing inventory, t.
        closing_t: Quantity,
        /// Sold or used off-site, t.
        sold_t: Quantity,
        /// Volume fraction of CO2.
        v_co2: Quantity,
        /// Volume fraction of argon.
        v_ar: Quantity,
        /// Volume fraction of oxygen.
        v_o2: Quantity,
    },
    /// Production output of the month (for unit-product carbon intensity).
    Output {
        /// Product name.
        product: String,
        /// Unit of output (`t`, `unit`, …).
        unit: String,
        /// Amount.
        amount: Quantity,
    },
    /// Green power bought under a contract for the month (绿电交易), MWh.
    GreenPower {
        /// The contract's number.
        contract: String,
        /// MWh delivered in the month.
        mwh: Quantity,
    },
    /// Green certificates (绿证) claimed for the month: serials `first .. first + count` of a
    /// batch, 1 MWh each. A serial can be claimed by one entry at a time on the whole chain.
    GreenCertificates {
        /// The batch's serial prefix as issued (e.g. `GEC-2025-HN-0042`).
        batch: String,
        /// First serial number.
        first: u64,
        /// Number of certificates.
        count: u32,
        /// The month of the power they certify, `YYYYMM` (a certificate is valid 24 months).
        vintage: u32,
    },
}

impl CarbonEntryData {
    /// Short machine name of the entry kind.
    pub fn kind(&self) -> &'static str {
        match self {
            CarbonEntryData::Fuel { .. } => "fuel",
            CarbonEntryData::FuelAnalysis { .. } => "fuel_analysis",
            CarbonEntryData::Fgas { .. } => "fgas",
            CarbonEntryData::Welding { .. } => "welding",
            CarbonEntryData::Output { .. } => "output",
            CarbonEntryData::GreenPower { .. } => "green_power",
            CarbonEntryData::GreenCertificates { .. } => "green_certificates",
        }
    }

    /// Checks what needs no state: lengths, signs, fractions, serial ranges.
    pub fn check(&self) -> Result<(), String> {
        let id = |what: &str, s: &str| -> Result<(), String> {
            check_len(what, s.len(), MAX_ITEM_ID_LEN)?;
            if s.is_empty() || s.chars().any(|c| c.is_control()) {
                return Err(format!("{what} must be non-empty text without control characters"));
            }
            Ok(())
        };
        let non_negative = |what: &str, q: &Quantity| -> Result<(), String> {
            if q.micros() < 0 { Err(format!("{what} is negative")) } else { Ok(()) }
        };
        match self {
            CarbonEntryData::Fuel { fuel, amount } => {
                id("fuel id", fuel)?;
                non_negative("fuel amount", amount)
            }
            CarbonEntryData::FuelAnalysis { fuel, ncv, carbon_content } => {
                id("fuel id", fuel)?;
                if ncv.is_none() && carbon_content.is_none() {
                    return Err("a fuel analysis gives an NCV, a carbon content or both".into());
                }
                for (what, q) in [("measured NCV", ncv), ("measured carbon content", carbon_content)] {
                    if q.is_some_and(|q| q.micros() <= 0) {
                        return Err(format!("{what} must be positive"));
                    }
                }
                Ok(())
            }
            CarbonEntryData::Fgas { gas, opening_t, closing_t, purchased_t, sold_t, filling, .. } => {
                id("gas id", gas)?;
                for (what, q) in
                    [("opening", opening_t), ("closing", closing_t), ("purchased", purchased_t), ("sold", sold_t)]
                {
                    non_negative(&format!("{gas} {what} inventory"), q)?;
                }
                match filling {
                    GasFilling::Containers { before_t, after_t } => {
                        non_negative("container mass after filling", after_t)?;
                        if before_t.micros() < after_t.micros() {
                            return Err("containers weigh less before filling than after".into());
                        }
                        Ok(())
                    }
                    GasFilling::FlowMeter { metered_t } => non_negative("metered filling", metered_t),
                }
            }
            CarbonEntryData::Welding { opening_t, purchased_t, closing_t, sold_t, v_co2, v_ar, v_o2 } => {
                for (what, q) in
                    [("opening", opening_t), ("purchased", purchased_t), ("closing", closing_t), ("sold", sold_t)]
                {
                    non_negative(&format!("welding gas {what}"), q)?;
                }
                for (what, q) in [("CO2", v_co2), ("Ar", v_ar), ("O2", v_o2)] {
                    if !(0..=Quantity::SCALE).contains(&q.micros()) {
                        return Err(format!("the volume fraction of {what} must be between 0 and 1"));
                    }
                }
                let sum = v_co2.micros() + v_ar.micros() + v_o2.micros();
                if (sum - Quantity::SCALE).abs() > Quantity::SCALE / 1000 {
                    return Err("the volume fractions of the mixture must sum to 1 (±0.001)".into());
                }
                Ok(())
            }
            CarbonEntryData::Output { product, unit, amount } => {
                id("product", product)?;
                id("unit of output", unit)?;
                non_negative("output", amount)
            }
            CarbonEntryData::GreenPower { contract, mwh } => {
                id("contract", contract)?;
                if mwh.micros() <= 0 { Err("green power must be positive".into()) } else { Ok(()) }
            }
            CarbonEntryData::GreenCertificates { batch, first, count, vintage } => {
                id("certificate batch", batch)?;
                if *count == 0 || *count > MAX_CERTIFICATES_PER_ENTRY {
                    return Err(format!("a certificate entry holds 1 to {MAX_CERTIFICATES_PER_ENTRY} certificates"));
                }
                if first.checked_add(u64::from(*count) - 1).is_none() {
                    return Err("the serial range runs past the largest serial".into());
                }
                check_month(*vintage).map_err(|e| format!("vintage: {e}"))
            }
        }
    }
}

/// One documented entry of an enterprise's monthly activity data.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct CarbonEntry {
    /// The month, `YYYYMM` in Asia/Shanghai.
    pub month: u32,
    /// The entry's number in the month, 1..=[`MAX_CARBON_ENTRIES_PER_MONTH`]. Recording the same
    /// number again corrects the entry (the chain keeps every version).
    pub number: u32,
    /// What it records; `None` withdraws the entry (and releases any certificates it claimed).
    pub data: Option<CarbonEntryData>,
    /// The files that prove it (at least one unless withdrawn).
    pub evidence: Vec<Evidence>,
    /// A note for the verifier (what the entry covers, why it was corrected).
    pub note: String,
}

impl CarbonEntry {
    /// Checks what needs no state.
    pub fn check(&self) -> Result<(), String> {
        check_month(self.month)?;
        if !(1..=MAX_CARBON_ENTRIES_PER_MONTH).contains(&self.number) {
            return Err(format!("entry numbers run from 1 to {MAX_CARBON_ENTRIES_PER_MONTH}"));
        }
        check_len("note", self.note.len(), MAX_MESSAGE_LEN)?;
        check_len("evidence list", self.evidence.len(), MAX_EVIDENCE_PER_ENTRY)?;
        for e in &self.evidence {
            check_len("evidence file name", e.name.len(), MAX_NAME_LEN)?;
            if e.name.is_empty() || e.name.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
                return Err("an evidence file name is a plain non-empty name (no path)".into());
            }
            if e.bytes == 0 || e.bytes > MAX_EVIDENCE_BYTES {
                return Err(format!("evidence '{}' must be 1 byte to {MAX_EVIDENCE_BYTES} bytes", e.name));
            }
        }
        match &self.data {
            None => Ok(()),
            Some(d) => {
                d.check()?;
                if self.evidence.is_empty() {
                    return Err(format!("a {} entry needs at least one evidence file", d.kind()));
                }
                if matches!(d, CarbonEntryData::FuelAnalysis { .. })
                    && !self.evidence.iter().any(|e| e.kind == EvidenceKind::LabReport)
                {
                    return Err("a measured factor overrides a default only with its lab report linked".into());
                }
                Ok(())
            }
        }
    }
}

/// Checks a `YYYYMM` month.
pub fn check_month(month: u32) -> Result<(), String> {
    if !(190_001..=999_912).contains(&month) || !(1..=12).contains(&(month % 100)) {
        return Err(format!("month {month} is not YYYYMM"));
    }
    Ok(())
}

/// Months from `a` to `b` (both `YYYYMM`): `b - a` in months, negative if `b` is earlier.
pub fn months_between(a: u32, b: u32) -> i64 {
    let index = |m: u32| i64::from(m / 100) * 12 + i64::from(m % 100) - 1;
    index(b) - index(a)
}
