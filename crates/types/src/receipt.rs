//! Execution outcomes. Every rejection carries a machine-readable code and a sentence a person
//! can act on.

use crate::ids::Hash32;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Why a transaction or a reading was refused.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum RejectCode {
    /// The bytes did not decode, or a limit was exceeded.
    Malformed = 0,
    /// The transaction names another chain.
    WrongChain = 1,
    /// The transaction signature does not verify.
    BadTxSignature = 2,
    /// The sender is not a registered account or gateway.
    UnknownSender = 3,
    /// The nonce is not above the sender's last accepted nonce (a replay).
    StaleNonce = 4,
    /// The sender's organisation may not send this kind of transaction.
    NotAuthorised = 5,
    /// The device id is already registered.
    AlreadyRegistered = 6,
    /// The device is not registered.
    UnknownDevice = 7,
    /// The gateway is not active.
    GatewayNotActive = 8,
    /// The meter is not active.
    MeterNotActive = 9,
    /// The meter belongs to another enterprise or gateway.
    MeterNotOwned = 10,
    /// The meter has no calibration covering the reading's timestamp.
    CalibrationInvalid = 11,
    /// The reading signature does not verify.
    BadReadingSignature = 12,
    /// The sequence number is not above the meter's last one and differs from what was recorded.
    SequenceConflict = 13,
    /// The reading's timestamp is too far in the future, or before the previous reading.
    BadTimestamp = 14,
    /// The reading's unit differs from the meter's registered unit.
    WrongUnit = 15,
    /// The value is out of the meter's range.
    ValueOutOfRange = 16,
    /// The device is in a state that does not allow the change (e.g. activating a revoked device).
    InvalidTransition = 17,
    /// The meter asked to sign itself but has no registered key, or the reverse.
    WrongSigner = 18,
    /// The mempool is full; retry later.
    MempoolFull = 19,
    /// The same transaction is already pending or included.
    DuplicateTx = 20,
    /// The sequence number is at or below the meter's last one and older than the duplicate
    /// window, so it cannot be told apart from a replay.
    StaleSequence = 21,
    /// The chain's audit policy rejected the reading; the message names the rule and its reason.
    PolicyRejected = 22,
    /// A policy document failed to parse or exceeds an evaluation limit; it was not deployed.
    InvalidPolicy = 23,
    /// A device id is not named under the registering organisation's own credit code
    /// (`<code>-<local id>`, see [`crate::DeviceId::owner_code`]).
    DeviceIdNotOwned = 24,
    /// A per-entity bound of the chain is reached (e.g. a meter's replacements inside the
    /// late-data window); the message names the bound and when room frees up.
    LimitReached = 25,
    /// The sender's organisation, or the gateway's owner, is suspended or removed; the message
    /// says since when and why.
    OrganisationNotActive = 26,
    /// No pending proposal has this id, or it expired or was already executed.
    ProposalNotPending = 27,
    /// A proof of possession (of a new account or device key) does not verify.
    BadProof = 28,
    /// A carbon methodology document failed its checks (parse, units, dry run) or its version
    /// does not follow the deployed ones; it was not deployed.
    InvalidMethodology = 29,
    /// A green certificate serial of the entry is already claimed by another entry.
    CertificateClaimed = 30,
    /// A documented carbon entry does not fit the enterprise's methodology for the month (an
    /// unknown fuel or gas), or its month is not open.
    InvalidCarbonEntry = 31,
    /// A carbon report's hash is not the hash of the report the chain's data give at this block
    /// (data arrived or entries were corrected since it was generated): generate it again.
    ReportMismatch = 32,
    /// A quota operation exceeds what the account holds or allows (allowances beyond holdings,
    /// offsets beyond the cap, a surrender beyond the obligation, banking before compliance).
    QuotaRefused = 33,
    /// The sender's organisation holds too few tokens (balance, stake or unbonding) for the
    /// transfer or staking operation; the message says how many it holds.
    InsufficientFunds = 34,
    /// A staking operation breaks a staking rule (an ineligible kind, a commission out of
    /// bounds, a validator still jailed, transfers disabled on this chain); the message names it.
    StakingRefused = 35,
    /// A shift calendar or shift output does not fit the enterprise's shift data (班次数据): no
    /// calendar in force on the day, an unknown shift or team, a day out of reach, a shift not
    /// started yet, or a calendar version that would change a day with output recorded.
    InvalidShiftData = 36,
    /// A meter names a master meter (上级表) the chain cannot accept: not registered, revoked,
    /// another enterprise's, another energy kind or unit, not a cumulative register, or a tariff
    /// register. The message names the reason.
    InvalidMaster = 37,
}

impl RejectCode {
    /// Stable snake_case code, as used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::Malformed => "malformed",
            RejectCode::WrongChain => "wrong_chain",
            RejectCode::BadTxSignature => "bad_tx_signature",
            RejectCode::UnknownSender => "unknown_sender",
            RejectCode::StaleNonce => "stale_nonce",
            RejectCode::NotAuthorised => "not_authorised",
            RejectCode::AlreadyRegistered => "already_registered",
            RejectCode::UnknownDevice => "unknown_device",
            RejectCode::GatewayNotActive => "gateway_not_active",
            RejectCode::MeterNotActive => "meter_not_active",
            RejectCode::MeterNotOwned => "meter_not_owned",
            RejectCode::CalibrationInvalid => "calibration_invalid",
            RejectCode::BadReadingSignature => "bad_reading_signature",
            RejectCode::SequenceConflict => "sequence_conflict",
            RejectCode::BadTimestamp => "bad_timestamp",
            RejectCode::WrongUnit => "wrong_unit",
            RejectCode::ValueOutOfRange => "value_out_of_range",
            RejectCode::InvalidTransition => "invalid_transition",
            RejectCode::WrongSigner => "wrong_signer",
            RejectCode::MempoolFull => "mempool_full",
            RejectCode::DuplicateTx => "duplicate_tx",
            RejectCode::StaleSequence => "stale_sequence",
            RejectCode::PolicyRejected => "policy_rejected",
            RejectCode::InvalidPolicy => "invalid_policy",
            RejectCode::DeviceIdNotOwned => "device_id_not_owned",
            RejectCode::LimitReached => "limit_reached",
            RejectCode::OrganisationNotActive => "organisation_not_active",
            RejectCode::ProposalNotPending => "proposal_not_pending",
            RejectCode::BadProof => "bad_proof",
            RejectCode::InvalidMethodology => "invalid_methodology",
            RejectCode::CertificateClaimed => "certificate_claimed",
            RejectCode::InvalidCarbonEntry => "invalid_carbon_entry",
            RejectCode::ReportMismatch => "report_mismatch",
            RejectCode::QuotaRefused => "quota_refused",
            RejectCode::InsufficientFunds => "insufficient_funds",
            RejectCode::StakingRefused => "staking_refused",
            RejectCode::InvalidShiftData => "invalid_shift_data",
            RejectCode::InvalidMaster => "invalid_master",
        }
    }

    /// Every code, in tag order.
    pub const ALL: [RejectCode; 38] = [
        RejectCode::Malformed,
        RejectCode::WrongChain,
        RejectCode::BadTxSignature,
        RejectCode::UnknownSender,
        RejectCode::StaleNonce,
        RejectCode::NotAuthorised,
        RejectCode::AlreadyRegistered,
        RejectCode::UnknownDevice,
        RejectCode::GatewayNotActive,
        RejectCode::MeterNotActive,
        RejectCode::MeterNotOwned,
        RejectCode::CalibrationInvalid,
        RejectCode::BadReadingSignature,
        RejectCode::SequenceConflict,
        RejectCode::BadTimestamp,
        RejectCode::WrongUnit,
        RejectCode::ValueOutOfRange,
        RejectCode::InvalidTransition,
        RejectCode::WrongSigner,
        RejectCode::MempoolFull,
        RejectCode::DuplicateTx,
        RejectCode::StaleSequence,
        RejectCode::PolicyRejected,
        RejectCode::InvalidPolicy,
        RejectCode::DeviceIdNotOwned,
        RejectCode::LimitReached,
        RejectCode::OrganisationNotActive,
        RejectCode::ProposalNotPending,
        RejectCode::BadProof,
        RejectCode::InvalidMethodology,
        RejectCode::CertificateClaimed,
        RejectCode::InvalidCarbonEntry,
        RejectCode::ReportMismatch,
        RejectCode::QuotaRefused,
        RejectCode::InsufficientFunds,
        RejectCode::StakingRefused,
        RejectCode::InvalidShiftData,
        RejectCode::InvalidMaster,
    ];

    /// The code named by [`RejectCode::as_str`], if any.
    pub fn from_str_code(s: &str) -> Option<RejectCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Whether retrying the same data later can succeed without anyone changing anything on
    /// chain (a full mempool); every other code needs the data or the registry to change.
    pub fn is_transient(self) -> bool {
        self == RejectCode::MempoolFull
    }
}

/// A rejection: code plus explanation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Rejection {
    /// Machine-readable code.
    pub code: RejectCode,
    /// What happened and what to do about it.
    pub message: String,
}

impl Rejection {
    /// Builds a rejection.
    /// Messages longer than [`MAX_MESSAGE_LEN`](crate::limits::MAX_MESSAGE_LEN) bytes are cut at a
    /// character boundary and end in `…`, so a receipt stays bounded whatever produced the text.
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Self { code, message: bounded_message(message.into()) }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

/// The outcome of one reading in an accepted batch.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReadingOutcome {
    /// Newly recorded.
    Accepted,
    /// Newly recorded, with findings of the audit policy (or of the accounting) that the figures
    /// built on it carry: e.g. a manual entry, a late reading, a rate above the meter's capacity.
    Flagged {
        /// What was found, in policy order.
        flags: Vec<Flag>,
    },
    /// Identical to a reading already recorded (same meter, sequence and content): acknowledged,
    /// not stored twice.
    Duplicate,
    /// Refused.
    Rejected(Rejection),
}

impl ReadingOutcome {
    /// Whether the reading is now on chain because of this outcome (accepted or flagged).
    pub fn is_recorded(&self) -> bool {
        matches!(self, ReadingOutcome::Accepted | ReadingOutcome::Flagged { .. })
    }
    /// Whether the chain holds the reading (recorded now or before).
    pub fn is_settled_ok(&self) -> bool {
        self.is_recorded() || *self == ReadingOutcome::Duplicate
    }
}

/// `text` cut to at most [`MAX_MESSAGE_LEN`](crate::limits::MAX_MESSAGE_LEN) bytes at a character
/// boundary, ending in `…` when cut.
pub fn bounded_message(mut text: String) -> String {
    let max = crate::limits::MAX_MESSAGE_LEN;
    if text.len() <= max {
        return text;
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}

/// One finding on a recorded reading.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Flag {
    /// Stable snake_case code, e.g. `late_reading`, `manual_entry`, `rate_exceeds_capacity`.
    pub code: String,
    /// The rule that raised it (policy rule id, or `accounting`).
    pub rule: String,
    /// What was found, for a person.
    pub reason: String,
}

/// The outcome of a transaction.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxOutcome {
    /// Executed. For a reading batch, see the per-reading outcomes.
    Accepted,
    /// Refused as a whole; nothing in it changed state.
    Rejected(Rejection),
}

/// What happened to one transaction in a block.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: Hash32,
    /// Outcome of the transaction.
    pub outcome: TxOutcome,
    /// Per-reading outcomes, in batch order (empty for other payloads).
    pub readings: Vec<ReadingOutcome>,
}

#[cfg(test)]
mod tests {
    use super::RejectCode;

    #[test]
    fn every_code_is_listed_once_in_tag_order_and_round_trips_through_its_name() {
        for (i, c) in RejectCode::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, i, "{c:?} out of tag order");
            assert_eq!(RejectCode::from_str_code(c.as_str()), Some(c));
        }
        // The tag after the last listed one does not decode: ALL is complete.
        let next = [RejectCode::ALL.len() as u8];
        assert!(<RejectCode as borsh::BorshDeserialize>::try_from_slice(&next).is_err());
        assert_eq!(RejectCode::from_str_code("no_such_code"), None);
    }
}
