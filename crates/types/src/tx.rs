//! Transactions.
//!
//! A transaction is signed by its sender for exactly one chain (the chain id is inside the signed
//! body) and carries a nonce that must be strictly greater than the sender's last accepted nonce,
//! so replays on the same chain and on another chain are both rejected.

use crate::carbon::{CarbonEntry, check_month};
use crate::codec::{Validate, check_len, encode};
use crate::compliance::{QuotaOp, ReportPeriod, VerificationStep, check_year};
use crate::economy::{Amount, StakingOp, check_memo};
use crate::energy::{EnergyKind, Quantity, RegisterKind, Unit};
use crate::ids::{ChainId, DeviceId, Hash32, UnifiedSocialCreditCode};
use crate::keys::{PublicKey, Signature};
use crate::limits::*;
use crate::membership::{Disclosure, GrantScope, MembershipAction, NewAccount, check_reason};
use crate::reading::SignedReading;
use crate::registry::{AccuracyClass, Calibration, DeviceStatus, LocationPath, Meter, TariffRegister};
use crate::shifts::{ShiftCalendar, ShiftOutput};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Domain tag prefixed to a transaction body before it is signed.
pub const TX_SIGNING_DOMAIN: &[u8] = b"trustmeter/tx/v1";

/// What a new meter is, as its enterprise registers it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MeterSpec {
    /// Device id.
    pub id: DeviceId,
    /// The gateway (already registered to the same enterprise) that reads it.
    pub gateway: DeviceId,
    /// Human-readable name.
    pub name: String,
    /// What it measures.
    pub energy: EnergyKind,
    /// Unit of its register.
    pub unit: Unit,
    /// Cumulative or instantaneous.
    pub register: RegisterKind,
    /// Accuracy class in hundredths of a percent (50 = class 0.5).
    pub accuracy: AccuracyClass,
    /// Location in the plant.
    pub location: LocationPath,
    /// Register maximum (rollover point).
    pub register_max: Quantity,
    /// Rated capacity (额定容量): the most the meter can plausibly record per hour, in its unit
    /// (kWh per hour for an energy register); 0 = unknown. The audit policy's rate-of-change rule
    /// and the rollover test use it.
    #[serde(default)]
    pub rated_per_hour: Quantity,
    /// For a tariff register of a multi-rate meter (DL/T 645 费率1..4), which total register it
    /// belongs to and which tariff it counts; the accounting reconciles the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tariff: Option<TariffRegister>,
    /// Its master meter (上级表 / 总表), if any: a meter of the same enterprise, energy kind and
    /// unit, registered before this one, whose consumption includes this meter's (see
    /// [`Meter::master`]). Omitted or `null`: none.
    #[serde(default)]
    pub master: Option<DeviceId>,
    /// The meter's own key, if it signs its readings itself.
    pub public_key: Option<PublicKey>,
}

impl MeterSpec {
    /// The meter record this spec creates for `owner` at place `slot` among its gateway's meters
    /// ([`Meter::slot`]): registered, not yet calibrated.
    pub fn into_meter(self, owner: UnifiedSocialCreditCode, slot: u32) -> Meter {
        Meter {
            id: self.id,
            owner,
            gateway: self.gateway,
            slot,
            name: self.name,
            energy: self.energy,
            unit: self.unit,
            register: self.register,
            accuracy: self.accuracy,
            location: self.location,
            register_max: self.register_max,
            rated_per_hour: self.rated_per_hour,
            tariff: self.tariff,
            master: self.master,
            public_key: self.public_key,
            retired_keys: vec![],
            calibration: None,
            status: DeviceStatus::Registered,
        }
    }
}

/// What a transaction does.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TxPayload {
    /// Adds a key to the sender's own organisation (not a regulator's: its keys change by
    /// proposal, see [`MembershipAction::AddAccount`]). `proof` is the new key's signature over
    /// [`crate::membership::account_proof_payload`], so nobody adds a key they do not hold.
    RegisterAccount {
        /// The new account's key.
        public_key: PublicKey,
        /// The new key's proof of possession.
        proof: Signature,
    },
    /// Registers a gateway to the sender's enterprise.
    RegisterGateway {
        /// Device id.
        id: DeviceId,
        /// The gateway's signing key (generated on the device).
        public_key: PublicKey,
    },
    /// Registers a meter to the sender's enterprise.
    RegisterMeter {
        /// The meter.
        meter: MeterSpec,
    },
    /// Records a calibration certificate for a meter. Only a metrology authority may send it, and
    /// only for certificates it issued.
    RecordCalibration {
        /// The meter.
        meter: DeviceId,
        /// The certificate.
        calibration: Calibration,
    },
    /// Activates a registered device. Only a regulator may send it.
    ActivateDevice {
        /// Gateway or meter id.
        device: DeviceId,
    },
    /// Revokes a device for good. A regulator, or the device's own enterprise, may send it.
    RevokeDevice {
        /// Gateway or meter id.
        device: DeviceId,
        /// Why (kept in the receipt).
        reason: String,
    },
    /// A batch of signed readings, sent by the gateway itself (the sender key is the gateway's).
    SubmitReadings {
        /// The gateway.
        gateway: DeviceId,
        /// The readings, each signed by its meter or by the gateway on its behalf.
        readings: Vec<SignedReading>,
    },
    /// Replaces a device's signing key (密钥轮换). The new key is generated on the device; `proof`
    /// is its signature over [`rotation_proof_payload`], so nobody can rotate a device to a key
    /// they do not hold. The device's own enterprise, or a gateway itself (signing with its
    /// current key), may send it. Readings stamped before the rotation still verify with the
    /// retired key, so a gateway's backlog survives a rotation.
    RotateKey {
        /// Gateway or meter id (a meter must already have its own key).
        device: DeviceId,
        /// The new key.
        new_public_key: PublicKey,
        /// The new key's signature over [`rotation_proof_payload`].
        proof: Signature,
    },
    /// Deploys a new version of the audit policy (审核规则), a CEL policy document. Only a regulator
    /// may send it. The document is parsed and checked against every evaluation limit when the
    /// transaction executes; a document that fails is refused here, so it can never fail at block
    /// execution later. It takes effect at `effective_height` (which must be above the current
    /// height) on every validator at once.
    DeployPolicy {
        /// The policy document (TOML with CEL expressions).
        text: String,
        /// First height whose readings it audits.
        effective_height: u64,
    },
    /// Records a meter replacement (换表) at `at_ms`: the old meter's final register value and
    /// the new meter's initial one, so the accounting bridges the register jump. Since it moves
    /// consumption between intervals, a metrology authority (计量检定机构) records it, attesting
    /// both values, as it records calibrations; at most 16 per meter inside the late window.
    ReplaceMeter {
        /// The meter (the id is kept; its register restarts).
        meter: DeviceId,
        /// When the new meter took over.
        at_ms: i64,
        /// The old meter's last register value.
        old_final: Quantity,
        /// The new meter's first register value.
        new_initial: Quantity,
    },
    /// An enterprise's monthly report (月报): consumption per energy kind as the enterprise
    /// reports it (checked against the sum of the daily figures, 5 % rule) and production output
    /// (entered by hand, for unit-product energy consumption, 单位产品能耗).
    MonthlyReport {
        /// The month, as `YYYYMM` in Asia/Shanghai.
        month: u32,
        /// Reported consumption per energy kind and unit.
        consumption: Vec<ReportedConsumption>,
        /// Production output per product.
        production: Vec<ProductOutput>,
        /// Measured heating values for the month (low heating value from a lab report, or for
        /// steam the enthalpy rise over feedwater), which override the reference coefficients in
        /// the month's standard-coal figures. Empty: the reference coefficients apply.
        #[serde(default)]
        heating_values: Vec<MeasuredHeatingValue>,
    },
    /// Revokes one of the sender's own organisation's account keys for good (not its last one;
    /// not a regulator's: see [`MembershipAction::RevokeAccount`]).
    RevokeAccount {
        /// The key.
        public_key: PublicKey,
        /// Why (kept in the record).
        reason: String,
    },
    /// Proposes a membership change (准入 / 暂停 / 恢复 / 移除, account keys). The proposer's own
    /// approval counts; the change executes as soon as enough approvals are in (at once when one
    /// approval suffices). Only an organisation that may approve the change may propose it.
    Propose {
        /// The change.
        action: MembershipAction,
    },
    /// Approves a pending proposal (its id is the hash of the proposing transaction).
    Approve {
        /// The proposal.
        proposal: Hash32,
    },
    /// Lets another member organisation read one scope of the sender's organisation's data until
    /// `expires_at_ms` (数据授权; replaces an earlier grant of the same scope to it).
    Grant {
        /// Who may read.
        grantee: UnifiedSocialCreditCode,
        /// What.
        scope: GrantScope,
        /// Until when (Unix ms; after the block time, at most 5 years ahead).
        expires_at_ms: i64,
    },
    /// Sets what the public may read of a region's enterprises (信息公开); only a regulator whose
    /// jurisdiction covers the region.
    SetDisclosure {
        /// The region (GB/T 2260); it applies to every region inside it.
        region: u32,
        /// What is public.
        disclosure: Disclosure,
    },
    /// Publishes the sender's organisation's energy figures (its `figures` scope) to everyone
    /// until `until_ms` (e.g. its annual figure, 公开承诺); `until_ms` at or before the block time
    /// withdraws them.
    PublishFigures {
        /// Until when (at most 5 years ahead).
        until_ms: i64,
    },
    /// Ends a grant of the sender's organisation at once.
    RevokeGrant {
        /// Who may no longer read.
        grantee: UnifiedSocialCreditCode,
        /// What.
        scope: GrantScope,
    },
    /// Deploys a carbon methodology document (核算方法学, `trustmeter-carbon`): an industry
    /// association or a regulator publishes a standard's parameters and formulas once, for every
    /// enterprise, gateway and validator to compute with. Checked when the transaction executes
    /// (limits, units of every formula, a dry run), refused there if broken. Its id and version
    /// come from the document: version 1 of a new id, or the next version of an existing one,
    /// which may not take effect before the day of the block that deploys it.
    DeployMethodology {
        /// The methodology document (TOML).
        text: String,
    },
    /// Records, corrects or withdraws one documented carbon entry of the sender's enterprise
    /// (台账, [`crate::carbon`]): activity data no meter on the chain measures, with its evidence
    /// by content hash. Checked against the enterprise's methodology for the month (its fuels and
    /// gases); a green-certificate entry claims its serials chain-wide.
    RecordCarbonEntry {
        /// The entry.
        entry: CarbonEntry,
    },
    /// Voids an enterprise's documented carbon entry (a regulator whose jurisdiction covers the
    /// enterprise): the entry is withdrawn in the regulator's name with the reason, and any
    /// green certificates it claimed are released, e.g. serials a member claimed that were not
    /// its own. The month's results are recomputed.
    VoidCarbonEntry {
        /// The enterprise.
        org: UnifiedSocialCreditCode,
        /// The entry's month, `YYYYMM`.
        month: u32,
        /// The entry's number.
        number: u32,
        /// Why (kept in the entry's note).
        reason: String,
    },
    /// Sets the sender's enterprise's monitoring plan (监测计划) from a month on: the methodology
    /// its carbon accounts use. Not before the current month: past months keep the plan they
    /// were accounted with.
    SetCarbonPlan {
        /// The methodology id (as deployed, e.g. `GB/T 32151.29-2024`).
        methodology: String,
        /// First month it applies to, `YYYYMM`.
        from_month: u32,
    },
    /// Files the sender's enterprise's monthly evidence deposit or annual emission report
    /// ([`crate::compliance`]), signed by the enterprise: `hash` is the chain's hash of the report
    /// document a node generates (`GET /v1/enterprises/{org}/carbon/report`), whose bytes the
    /// enterprise keeps in the evidence store. Every validator generates the document again from
    /// its own state and accepts only that document's hash. Filing again replaces the previous
    /// version (an annual report only until a verifier's statement on it).
    SubmitCarbonReport {
        /// The month or year.
        period: ReportPeriod,
        /// The report document's hash.
        hash: Hash32,
    },
    /// One step of the third-party verification (核查) of an enterprise's annual report.
    Verification {
        /// The enterprise.
        org: UnifiedSocialCreditCode,
        /// The reporting year.
        year: u32,
        /// The step.
        step: VerificationStep,
    },
    /// One operation on an enterprise's quota account (配额) of a year.
    Quota {
        /// The enterprise.
        org: UnifiedSocialCreditCode,
        /// The compliance year.
        year: u32,
        /// The operation.
        op: QuotaOp,
    },
    /// Moves `amount` of the sender's organisation's tokens to another member organisation
    /// ([`crate::economy`]); refused on a chain whose token is not transferable.
    Transfer {
        /// The receiving organisation.
        to: UnifiedSocialCreditCode,
        /// Micro-tokens.
        amount: Amount,
        /// A note kept in the receipt's transaction (e.g. the data-sharing agreement paid).
        memo: String,
    },
    /// A staking operation of the sender's organisation (validators, delegation, claims).
    Staking {
        /// The operation.
        op: StakingOp,
    },
    /// Deploys a new version of the reward schedule (奖励规则, `trustmeter_policy::reward`): how
    /// each epoch's reward pool is shared and how many points data and verifications earn. Only a
    /// regulator may send it; the document is checked when the transaction executes (refused
    /// there if broken) and takes effect from `effective_epoch`, after the current one.
    DeployRewardSchedule {
        /// The schedule document (TOML with CEL formulas).
        text: String,
        /// First epoch it applies to.
        effective_epoch: u64,
    },
    /// Sets a version of the sender's enterprise's shift calendar (排班表, [`crate::shifts`]):
    /// its shifts (班次), teams (班组) and rotation (倒班) from a day on. The enterprise's own
    /// account only. Every version is kept; a version never takes effect on or before a day that
    /// already has shift output recorded, nor more than 62 days back, and it follows the latest
    /// version (one from the same day replaces it).
    SetShiftCalendar {
        /// The calendar.
        calendar: ShiftCalendar,
    },
    /// Records, or corrects, production output of one shift instance (班次产量) of the sender's
    /// enterprise: per product, for a (day, shift) of the calendar in force that day; the team
    /// defaults to the rotation's. A product recorded again for the same (day, shift) is
    /// corrected and its revision goes up. The enterprise's own account only; days up to 62 back,
    /// shifts that have started.
    RecordShiftOutput {
        /// The output.
        output: ShiftOutput,
    },
}

/// A measured heating value in a [`TxPayload::MonthlyReport`] (实测低位发热量 / 蒸汽焓值).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MeasuredHeatingValue {
    /// Energy kind.
    pub energy: EnergyKind,
    /// The unit the value is per (kg, Nm³, t …).
    pub unit: Unit,
    /// Kilojoules per unit (for steam: enthalpy minus feedwater enthalpy, per tonne).
    pub kj_per_unit: Quantity,
}

/// One energy kind's consumption in a [`TxPayload::MonthlyReport`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ReportedConsumption {
    /// Energy kind.
    pub energy: EnergyKind,
    /// Unit.
    pub unit: Unit,
    /// Amount.
    pub quantity: Quantity,
}

/// One product's output in a [`TxPayload::MonthlyReport`] (manual data).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ProductOutput {
    /// Product name (e.g. "cement clinker").
    pub product: String,
    /// Unit of output (e.g. "t").
    pub unit: String,
    /// Amount.
    pub quantity: Quantity,
}

/// Domain tag of a key-rotation proof of possession.
pub const ROTATION_PROOF_DOMAIN: &[u8] = b"trustmeter/rotate/v1";

/// The bytes the new key signs to prove possession: the domain tag, the chain, the device and the
/// new key. Naming the chain keeps a proof for one chain from being replayed on another.
pub fn rotation_proof_payload(chain: &ChainId, device: &DeviceId, new_public_key: &PublicKey) -> Vec<u8> {
    let mut out = ROTATION_PROOF_DOMAIN.to_vec();
    out.extend_from_slice(&encode(&(chain, device, new_public_key)));
    out
}

impl TxPayload {
    /// Short machine name of the payload kind.
    pub fn kind(&self) -> &'static str {
        match self {
            TxPayload::RegisterAccount { .. } => "register_account",
            TxPayload::RevokeAccount { .. } => "revoke_account",
            TxPayload::Propose { .. } => "propose",
            TxPayload::Approve { .. } => "approve",
            TxPayload::Grant { .. } => "grant",
            TxPayload::RevokeGrant { .. } => "revoke_grant",
            TxPayload::SetDisclosure { .. } => "set_disclosure",
            TxPayload::PublishFigures { .. } => "publish_figures",
            TxPayload::RegisterGateway { .. } => "register_gateway",
            TxPayload::RegisterMeter { .. } => "register_meter",
            TxPayload::RecordCalibration { .. } => "record_calibration",
            TxPayload::ActivateDevice { .. } => "activate_device",
            TxPayload::RevokeDevice { .. } => "revoke_device",
            TxPayload::SubmitReadings { .. } => "submit_readings",
            TxPayload::RotateKey { .. } => "rotate_key",
            TxPayload::DeployPolicy { .. } => "deploy_policy",
            TxPayload::ReplaceMeter { .. } => "replace_meter",
            TxPayload::MonthlyReport { .. } => "monthly_report",
            TxPayload::DeployMethodology { .. } => "deploy_methodology",
            TxPayload::RecordCarbonEntry { .. } => "record_carbon_entry",
            TxPayload::SetCarbonPlan { .. } => "set_carbon_plan",
            TxPayload::VoidCarbonEntry { .. } => "void_carbon_entry",
            TxPayload::SubmitCarbonReport { .. } => "submit_carbon_report",
            TxPayload::Verification { .. } => "verification",
            TxPayload::Quota { .. } => "quota",
            TxPayload::Transfer { .. } => "transfer",
            TxPayload::Staking { .. } => "staking",
            TxPayload::DeployRewardSchedule { .. } => "deploy_reward_schedule",
            TxPayload::SetShiftCalendar { .. } => "set_shift_calendar",
            TxPayload::RecordShiftOutput { .. } => "record_shift_output",
        }
    }

    /// Number of readings carried.
    pub fn reading_count(&self) -> usize {
        match self {
            TxPayload::SubmitReadings { readings, .. } => readings.len(),
            _ => 0,
        }
    }
}

/// The signed part of a transaction.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TxBody {
    /// The chain this transaction is for.
    pub chain_id: ChainId,
    /// The sender's key: an account of a member organisation, or a gateway for `SubmitReadings`.
    pub sender: PublicKey,
    /// Strictly greater than the sender's last accepted nonce.
    pub nonce: u64,
    /// What it does.
    pub payload: TxPayload,
}

impl TxBody {
    /// The exact bytes that are signed: domain tag, then the canonical encoding of the body.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut out = TX_SIGNING_DOMAIN.to_vec();
        out.extend_from_slice(&encode(self));
        out
    }
}

/// A signed transaction.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Transaction {
    /// The signed body.
    pub body: TxBody,
    /// The sender's signature over [`TxBody::signing_payload`].
    pub signature: Signature,
}

impl Validate for Transaction {
    fn validate(&self) -> Result<(), String> {
        self.body.chain_id.check()?;
        self.body.sender.check()?;
        self.signature.check()?;
        if self.signature.scheme != self.body.sender.scheme {
            return Err("signature scheme differs from the sender key's scheme".into());
        }
        match &self.body.payload {
            TxPayload::RegisterAccount { public_key, proof } => {
                NewAccount { public_key: public_key.clone(), proof: proof.clone() }.check()
            }
            TxPayload::RevokeAccount { public_key, reason } => {
                public_key.check()?;
                check_reason(reason)
            }
            TxPayload::Propose { action } => action.check(),
            TxPayload::Approve { .. } => Ok(()),
            TxPayload::Grant { grantee, .. } | TxPayload::RevokeGrant { grantee, .. } => grantee.check(),
            TxPayload::SetDisclosure { region, .. } => {
                if (100_000..=999_999).contains(region) {
                    Ok(())
                } else {
                    Err(format!("region code {region} is not a six-digit GB/T 2260 code"))
                }
            }
            TxPayload::PublishFigures { .. } => Ok(()),
            TxPayload::RegisterGateway { id, public_key } => {
                id.check()?;
                public_key.check()
            }
            TxPayload::RegisterMeter { meter } => meter.clone().into_meter(placeholder_owner(), 0).check(),
            TxPayload::RecordCalibration { meter, calibration } => {
                meter.check()?;
                calibration.check()
            }
            TxPayload::ActivateDevice { device } => device.check(),
            TxPayload::RevokeDevice { device, reason } => {
                device.check()?;
                check_len("revocation reason", reason.len(), MAX_MESSAGE_LEN)
            }
            TxPayload::SubmitReadings { gateway, readings } => {
                gateway.check()?;
                if readings.is_empty() {
                    return Err("a reading batch must carry at least one reading".into());
                }
                check_len("reading batch", readings.len(), MAX_READINGS_PER_TX)?;
                for (i, r) in readings.iter().enumerate() {
                    r.check().map_err(|e| format!("reading {i}: {e}"))?;
                }
                Ok(())
            }
            TxPayload::RotateKey { device, new_public_key, proof } => {
                device.check()?;
                new_public_key.check()?;
                proof.check()
            }
            TxPayload::DeployPolicy { text, .. } => check_len("policy document", text.len(), MAX_POLICY_BYTES),
            TxPayload::DeployMethodology { text } => {
                check_len("methodology document", text.len(), crate::limits::MAX_METHODOLOGY_BYTES)
            }
            TxPayload::RecordCarbonEntry { entry } => entry.check(),
            TxPayload::VoidCarbonEntry { org, month, reason, .. } => {
                org.check()?;
                check_month(*month)?;
                check_reason(reason)
            }
            TxPayload::SetCarbonPlan { methodology, from_month } => {
                check_len("methodology id", methodology.len(), crate::carbon::MAX_ITEM_ID_LEN)?;
                check_month(*from_month)
            }
            TxPayload::SubmitCarbonReport { period, .. } => period.check(),
            TxPayload::Verification { org, year, step } => {
                org.check()?;
                check_year(*year)?;
                step.check()
            }
            TxPayload::Quota { org, year, op } => {
                org.check()?;
                check_year(*year)?;
                op.check()
            }
            TxPayload::Transfer { to, memo, .. } => {
                to.check()?;
                check_memo(memo)
            }
            TxPayload::Staking { op } => op.check(),
            TxPayload::DeployRewardSchedule { text, .. } => {
                check_len("reward schedule", text.len(), crate::limits::MAX_REWARD_SCHEDULE_BYTES)
            }
            TxPayload::SetShiftCalendar { calendar } => calendar.check(),
            TxPayload::RecordShiftOutput { output } => output.check(),
            TxPayload::ReplaceMeter { meter, old_final, new_initial, .. } => {
                meter.check()?;
                if old_final.micros() < 0 || new_initial.micros() < 0 {
                    return Err("register values of a replacement must not be negative".into());
                }
                Ok(())
            }
            TxPayload::MonthlyReport { month, consumption, production, heating_values } => {
                check_len("heating values", heating_values.len(), MAX_REPORT_LINES)?;
                if let Some(h) = heating_values.iter().find(|h| h.kj_per_unit.micros() <= 0) {
                    return Err(format!("the measured heating value of {:?} must be positive", h.energy));
                }
                check_month(*month)?;
                check_len("reported consumption lines", consumption.len(), MAX_REPORT_LINES)?;
                check_len("production lines", production.len(), MAX_REPORT_LINES)?;
                for c in consumption {
                    if c.quantity.micros() < 0 {
                        return Err(format!("reported {:?} consumption is negative", c.energy));
                    }
                }
                for p in production {
                    check_len("product name", p.product.len(), MAX_NAME_LEN)?;
                    check_len("product unit", p.unit.len(), MAX_NAME_LEN)?;
                    if p.product.is_empty() || p.quantity.micros() < 0 {
                        return Err(format!("product '{}' needs a name and a non-negative output", p.product));
                    }
                }
                Ok(())
            }
        }
    }
}

fn placeholder_owner() -> UnifiedSocialCreditCode {
    UnifiedSocialCreditCode::new("91350100M000100Y43").expect("valid constant")
}
