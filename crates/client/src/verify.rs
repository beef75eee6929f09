//! Offline verification of a [`ProofBundle`].
//!
//! [`verify`] runs the steps below in order and stops at the first failure, returning a
//! [`VerifyError`] whose message names the step and what mismatched:
//!
//! 0. **format**: the bundle's version is [`PROOF_VERSION`].
//! 1. **(a) genesis**: the bundle's genesis equals the trusted genesis (if one is given), its
//!    validator set is usable, and the header's chain id is the genesis chain id. The genesis
//!    names the chain's hash algorithm `H` (`params.hash`: SHA-256, or SM3); every later step
//!    hashes with it.
//! 2. **(b) reading signature**: the reading's Ed25519 or SM2 signature verifies over
//!    `"trustmeter/reading/v1" ‖ borsh(Reading)` with the meter's registered key (signer `meter`)
//!    or its gateway's key (signer `gateway`, allowed only for meters without a key of their own),
//!    both read from the registry records in the bundle.
//! 3. **(c) registry**: the meter record is this meter's, it is attached to the bundle's gateway
//!    and owned by the same enterprise, it is active, its unit is the reading's unit, and its
//!    calibration certificate covers the reading's timestamp; the gateway record is active.
//! 4. **(d) state proofs**: the two tree roots hash to the header's state root, and both records
//!    are proven under `StateKey::Meter(meter)` and `StateKey::Gateway(gateway)` in the registry
//!    tree (the registry as of that block, however long ago).
//! 5. **(e) inclusion**: the reading's leaf is at `index` of a readings tree of `tree_size`
//!    leaves whose root is the header's readings root, and `tree_size` is the header's
//!    `readings_accepted`.
//! 6. **(f) finality**: the finalization certificate decodes, finalizes exactly this header's
//!    block digest, and carries valid signatures of a quorum of the genesis validators.
//!
//! Only step (f) ties the header to the chain; the earlier steps tie everything else to the
//! header. All steps are needed; the order only decides which error a broken bundle reports.

use crate::bundle::{PROOF_VERSION, PROOF_VERSION_V3, ProofBundle};
use crate::consensus::{Finalization, consensus_namespace, finalize_namespace, validator_set};
use crate::epochs::{Committee, verify_certified};
use commonware_codec::{Decode, Encode};
use commonware_cryptography::{Verifier as _, ed25519};
use commonware_utils::N3f1;
use commonware_utils::ordered::{Quorum, Set};
use serde::{Deserialize, Serialize};
use std::fmt;
use trustmeter_crypto::merkle::verify_inclusion;
use trustmeter_crypto::{HashAlg, block_digest, reading_leaf};
use trustmeter_schema::{StateKey, StateProof, StateRoots, StateValue};
use trustmeter_types::{
    BlockHeader, ChainId, DeviceId, DeviceStatus, EnergyKind, Gateway, Genesis, Hash32, Meter, Quantity, ReadingOrigin,
    ReadingSigner, UnifiedSocialCreditCode, Unit,
};

/// The verification steps, in the order [`verify`] runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Step 0: the bundle's format version.
    Format,
    /// Step (a): genesis and chain id.
    Genesis,
    /// Step (b): the reading's signature.
    ReadingSignature,
    /// Step (c): the meter's and the gateway's registry records.
    Registry,
    /// Step (d): the state proofs against the header's state root.
    StateProofs,
    /// Step (e): the reading's inclusion in the header's readings root.
    Inclusion,
    /// Step (f): the finalization certificate.
    Finality,
    /// Step (f), the validator set of the certified block's epoch: the epoch chain from the
    /// genesis (docs/proof-format.md §14).
    EpochChain,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Format => "step 0 (format)",
            Step::Genesis => "step a (genesis)",
            Step::ReadingSignature => "step b (reading signature)",
            Step::Registry => "step c (registry records)",
            Step::StateProofs => "step d (state proofs)",
            Step::Inclusion => "step e (reading inclusion)",
            Step::Finality => "step f (finality)",
            Step::EpochChain => "step f (epoch chain)",
        })
    }
}

/// Why a bundle does not prove its reading. Every message starts with the step that failed and
/// says what mismatched, so a person can tell a wrong input (another chain's genesis, a stale
/// bundle) from a forged or corrupted one.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// A carbon proof's documents do not agree (see `crate::carbon`).
    #[error("carbon proof: {reason}")]
    Carbon {
        /// What disagrees.
        reason: String,
    },
    /// The bundle has another format version.
    #[error(
        "{}: the bundle's version is {found:?} but this verifier reads {expected:?}; use a verifier for that version",
        Step::Format
    )]
    UnsupportedVersion {
        /// Version in the bundle.
        found: String,
        /// Version this verifier reads.
        expected: &'static str,
    },
    /// The bundle's genesis is not the trusted genesis.
    #[error(
        "{}: the bundle's genesis differs from the trusted genesis ({detail}); the proof is for another chain or another validator set",
        Step::Genesis
    )]
    GenesisMismatch {
        /// What differs.
        detail: String,
    },
    /// The header names another chain than the genesis.
    #[error("{}: the block header is for chain {header:?} but the genesis is for chain {genesis:?}", Step::Genesis)]
    ChainMismatch {
        /// Chain id in the header.
        header: ChainId,
        /// Chain id in the genesis.
        genesis: ChainId,
    },
    /// The genesis validator set cannot be used to check signatures.
    #[error("{}: the genesis validator set is unusable: {}", Step::Genesis, .0)]
    BadValidatorSet(String),
    /// The meter proof does not hold a meter record.
    #[error(
        "{}: the meter proof holds a {found} entry, not a meter record, so the meter's key and registration cannot be read",
        Step::ReadingSignature
    )]
    NotAMeterRecord {
        /// Kind of entry found.
        found: &'static str,
    },
    /// The gateway proof does not hold a gateway record.
    #[error(
        "{}: the gateway proof holds a {found} entry, not a gateway record, so the gateway's key and status cannot be read",
        Step::ReadingSignature
    )]
    NotAGatewayRecord {
        /// Kind of entry found.
        found: &'static str,
    },
    /// The reading names a signer the chain would not accept for this meter.
    #[error("{}: {}", Step::ReadingSignature, .0)]
    WrongSigner(String),
    /// The reading's signature does not verify.
    #[error(
        "{}: the signature of reading {seq} of meter {meter} does not verify with the {signer} key {key} ({reason}); the reading or its signature was altered, or it was signed by another key",
        Step::ReadingSignature
    )]
    BadReadingSignature {
        /// The meter.
        meter: DeviceId,
        /// The reading's sequence number.
        seq: u64,
        /// `meter` or `gateway`.
        signer: &'static str,
        /// The key tried, `scheme:hex`.
        key: String,
        /// What the signature library said.
        reason: String,
    },
    /// The meter record is another meter's.
    #[error("{}: the meter record is for meter {record}, but the reading is from meter {reading}", Step::Registry)]
    MeterRecordMismatch {
        /// Id in the record.
        record: DeviceId,
        /// Meter of the reading.
        reading: DeviceId,
    },
    /// The gateway record is another gateway's.
    #[error("{}: the gateway record is for gateway {record}, but the bundle names gateway {bundle}", Step::Registry)]
    GatewayRecordMismatch {
        /// Id in the record.
        record: DeviceId,
        /// Gateway named by the bundle.
        bundle: DeviceId,
    },
    /// The meter is attached to another gateway.
    #[error("{}: meter {meter} is attached to gateway {meter_gateway}, not to gateway {gateway}", Step::Registry)]
    MeterNotOnGateway {
        /// The meter.
        meter: DeviceId,
        /// The gateway in the meter's record.
        meter_gateway: DeviceId,
        /// The gateway named by the bundle.
        gateway: DeviceId,
    },
    /// Meter and gateway belong to different enterprises.
    #[error(
        "{}: meter {meter} belongs to {meter_owner} but gateway {gateway} belongs to {gateway_owner}",
        Step::Registry
    )]
    OwnerMismatch {
        /// The meter.
        meter: DeviceId,
        /// Owner in the meter's record.
        meter_owner: UnifiedSocialCreditCode,
        /// The gateway.
        gateway: DeviceId,
        /// Owner in the gateway's record.
        gateway_owner: UnifiedSocialCreditCode,
    },
    /// The meter is not active.
    #[error("{}: meter {meter} is {status:?} in the block's state; only active meters report", Step::Registry)]
    MeterNotActive {
        /// The meter.
        meter: DeviceId,
        /// Its status.
        status: DeviceStatus,
    },
    /// The gateway is not active.
    #[error(
        "{}: gateway {gateway} is {status:?} in the block's state; only active gateways submit readings",
        Step::Registry
    )]
    GatewayNotActive {
        /// The gateway.
        gateway: DeviceId,
        /// Its status.
        status: DeviceStatus,
    },
    /// The reading's unit is not the meter's.
    #[error("{}: the reading is in {reading_unit:?} but meter {meter} is registered in {meter_unit:?}", Step::Registry)]
    UnitMismatch {
        /// The meter.
        meter: DeviceId,
        /// Unit of the reading.
        reading_unit: Unit,
        /// Unit of the meter.
        meter_unit: Unit,
    },
    /// The meter has no calibration certificate.
    #[error("{}: meter {meter} has no calibration certificate on record", Step::Registry)]
    NoCalibration {
        /// The meter.
        meter: DeviceId,
    },
    /// The calibration certificate does not cover the reading's time.
    #[error(
        "{}: calibration certificate {certificate_no} of meter {meter} is valid from {valid_from_ms} to {valid_until_ms} ms (end exclusive), which does not cover the reading's timestamp {timestamp_ms} ms",
        Step::Registry
    )]
    CalibrationDoesNotCover {
        /// The meter.
        meter: DeviceId,
        /// Certificate number.
        certificate_no: String,
        /// Start of validity, Unix ms, inclusive.
        valid_from_ms: i64,
        /// End of validity, Unix ms, exclusive.
        valid_until_ms: i64,
        /// The reading's timestamp.
        timestamp_ms: i64,
    },
    /// A state proof is for another key than the one needed.
    #[error("{}: the {which} proof is for key {found} but must be for key {expected}", Step::StateProofs)]
    StateKeyMismatch {
        /// `meter` or `gateway`.
        which: &'static str,
        /// The key needed.
        expected: String,
        /// The key in the proof.
        found: String,
    },
    /// A state proof does not lead to the header's state root.
    #[error(
        "{}: the {which} record under key {key} ({siblings} siblings) does not hash up to the {tree} tree root {tree_root}; the record, its path or the root was altered",
        Step::StateProofs
    )]
    StateProofInvalid {
        /// `meter`, `gateway` or `figure`.
        which: &'static str,
        /// The proven key.
        key: String,
        /// Number of sibling hashes in the proof.
        siblings: usize,
        /// The tree the key belongs to.
        tree: &'static str,
        /// That tree's root in the bundle.
        tree_root: Hash32,
    },
    /// The bundle's tree roots do not hash to the header's state root.
    #[error(
        "{}: the bundle's registry and activity roots hash to {computed}, not to the header's state root {state_root}; a root or the header was altered",
        Step::StateProofs
    )]
    StateRootsMismatch {
        /// What the bundle's two tree roots hash to.
        computed: Hash32,
        /// The header's state root.
        state_root: Hash32,
    },
    /// A figure proof's entry is not a daily figure.
    #[error(
        "{}: the figure proof holds the entry {key}, not a daily figure (`daily` key with a `daily` value)",
        Step::StateProofs
    )]
    NotADailyFigure {
        /// The key found, as text.
        key: String,
    },
    /// The readings tree size is not the header's.
    #[error(
        "{}: the bundle says the readings tree has {tree_size} leaves but the header says the block recorded {readings_accepted} readings",
        Step::Inclusion
    )]
    TreeSizeMismatch {
        /// Tree size in the bundle.
        tree_size: u64,
        /// `readings_accepted` in the header.
        readings_accepted: u32,
    },
    /// The reading's leaf does not lead to the header's readings root.
    #[error(
        "{}: the reading's leaf {leaf} at index {index} of {tree_size} does not hash up to the header's readings root {readings_root} with the audit path given; the reading, its index, the path or the header's readings root was altered",
        Step::Inclusion
    )]
    ReadingNotIncluded {
        /// The reading's leaf hash.
        leaf: Hash32,
        /// Claimed index.
        index: u64,
        /// Tree size.
        tree_size: u64,
        /// The header's readings root.
        readings_root: Hash32,
    },
    /// The finalization field is not hex.
    #[error("{}: the finalization certificate is not hex: {}", Step::Finality, .0)]
    FinalizationNotHex(String),
    /// The finalization bytes do not decode.
    #[error(
        "{}: the finalization certificate does not decode as a simplex Ed25519 finalization for {validators} validators: {reason}",
        Step::Finality
    )]
    FinalizationMalformed {
        /// Number of genesis validators.
        validators: usize,
        /// Decoder message.
        reason: String,
    },
    /// The certificate finalizes another block.
    #[error(
        "{}: the finalization certificate finalizes block {certified}, but the header's block digest is {block}; the header was altered or the certificate belongs to another block",
        Step::Finality
    )]
    FinalizationForOtherBlock {
        /// Digest the certificate finalizes.
        certified: Hash32,
        /// `block_digest(header)` (of the last descendant, if there are any).
        block: Hash32,
    },
    /// The bundle carries more descendant headers than a verifier accepts.
    #[error("{}: the bundle carries {count} descendant headers, at most {max} are accepted", Step::Finality)]
    TooManyDescendants {
        /// Headers in the bundle.
        count: usize,
        /// [`crate::MAX_DESCENDANTS`].
        max: usize,
    },
    /// A descendant header is not the child of the block before it.
    #[error(
        "{}: descendant header {index} (height {height}, parent {parent}) is not the child of block {expected_height} ({expected_parent}) of chain {chain_id}; the chain of descendants is broken",
        Step::Finality
    )]
    DescendantNotChild {
        /// Position in `descendants`.
        index: usize,
        /// The header's height.
        height: u64,
        /// The header's parent digest.
        parent: Hash32,
        /// Height of the block before it.
        expected_height: u64,
        /// Digest of the block before it.
        expected_parent: Hash32,
        /// The chain the recording block is on.
        chain_id: ChainId,
    },
    /// The certificate's round is not the header's epoch and view.
    #[error(
        "{}: the finalization certificate is for epoch {certified_epoch} view {certified_view}, but the header says epoch {header_epoch} view {header_view}",
        Step::Finality
    )]
    FinalizationRoundMismatch {
        /// Epoch of the certified proposal.
        certified_epoch: u64,
        /// View of the certified proposal.
        certified_view: u64,
        /// `header.epoch`.
        header_epoch: u64,
        /// `header.view`.
        header_view: u64,
    },
    /// The certificate's signer bitmap is for another committee size.
    #[error(
        "{}: the certificate's signer bitmap covers {bitmap} validators but the epoch's set has {validators}",
        Step::Finality
    )]
    FinalizationCommitteeSize {
        /// Bitmap length.
        bitmap: usize,
        /// Number of genesis validators.
        validators: usize,
    },
    /// Too few signatures.
    #[error(
        "{}: the certificate has {signers} signatures but {quorum} of the epoch's {validators} validators are needed",
        Step::Finality
    )]
    FinalizationNoQuorum {
        /// Signatures in the certificate.
        signers: usize,
        /// Quorum.
        quorum: usize,
        /// Number of genesis validators.
        validators: usize,
    },
    /// Some validator signatures do not verify.
    #[error("{}: the finalize signatures of {} do not verify for this block under the keys of the block's validator set; the certificate was altered or was made by another validator set", Step::Finality, .validators.join(", "))]
    FinalizationBadSignatures {
        /// Names (from genesis) of the validators whose signatures fail.
        validators: Vec<String>,
    },
    /// The certified header's epoch is not the one its height is in.
    #[error(
        "{}: the certified header at height {height} says epoch {header_epoch}, but that height is in epoch {epoch} of the genesis's epoch length",
        Step::EpochChain
    )]
    HeaderEpochMismatch {
        /// Height of the certified header.
        height: u64,
        /// Its `epoch` field.
        header_epoch: u64,
        /// `height / L`.
        epoch: u64,
    },
    /// The certificate is checked against the set of another epoch than the header's.
    #[error(
        "{}: the certificate is for a block of epoch {header_epoch} but is checked against the set of epoch {set_epoch}",
        Step::EpochChain
    )]
    FinalizationWrongEpoch {
        /// The header's epoch.
        header_epoch: u64,
        /// The epoch of the set checked against.
        set_epoch: u64,
    },
    /// The epoch chain has not exactly one link per epoch from 2 to the certified block's.
    #[error(
        "{}: the bundle carries {links} epoch links, but a block of epoch {epoch} needs exactly {needed} (one per epoch 2 ..= {epoch}, at most {max}); a link was removed or added",
        Step::EpochChain
    )]
    EpochChainLength {
        /// Links in the bundle.
        links: usize,
        /// Links needed.
        needed: u64,
        /// The certified block's epoch.
        epoch: u64,
        /// [`crate::epochs::MAX_EPOCH_LINKS`].
        max: usize,
    },
    /// A partial epoch chain does not start where the verifier's known sets end.
    #[error(
        "{}: the links start at epoch {first:?} for a block of epoch {epoch}, but the sets known here end at epoch {known:?} (the genesis's: 1); ask for the links after the last known set, or the whole chain",
        Step::EpochChain
    )]
    EpochChainStart {
        /// The first link's epoch (none: no links).
        first: Option<u64>,
        /// The certified block's epoch.
        epoch: u64,
        /// The highest epoch whose set the verifier knows beyond the genesis's.
        known: Option<u64>,
    },
    /// A link is not the one expected at its position.
    #[error(
        "{}: epoch link {index} is for epoch {found}, but epoch {expected}'s is expected there; the links are out of order",
        Step::EpochChain
    )]
    EpochLinkOutOfOrder {
        /// Position in the chain.
        index: usize,
        /// Epoch the link names.
        found: u64,
        /// Epoch expected there.
        expected: u64,
    },
    /// A link's boundary header is not the boundary block of the previous epoch on this chain.
    #[error("{}: the link of epoch {epoch} is not the boundary of epoch {}: {reason}", Step::EpochChain, .epoch - 1)]
    EpochBoundaryWrong {
        /// The epoch the link proves.
        epoch: u64,
        /// What is wrong.
        reason: String,
    },
    /// A link's boundary certificate does not verify against the previous epoch's set.
    #[error("{}: the boundary block that proves the set of epoch {epoch} is not finalized by the set of epoch {}: {reason}", Step::EpochChain, .epoch - 1)]
    EpochBoundaryNotFinal {
        /// The epoch the link proves.
        epoch: u64,
        /// Why the certificate fails.
        reason: Box<VerifyError>,
    },
    /// A link's set proof does not hold.
    #[error("{}: the validator set of epoch {epoch} is not proven by its boundary block: {reason}", Step::EpochChain)]
    EpochSetProofInvalid {
        /// The epoch the link proves.
        epoch: u64,
        /// What is wrong.
        reason: String,
    },
    /// A proven set cannot check certificates.
    #[error("{}: the validator set of epoch {epoch} is unusable: {reason}", Step::EpochChain)]
    EpochSetUnusable {
        /// The epoch.
        epoch: u64,
        /// Why.
        reason: String,
    },
    /// A receipt proof's receipt is for another transaction.
    #[error("{}: the receipt is for transaction {found}, not for {expected}", Step::Inclusion)]
    ReceiptForOtherTx {
        /// The transaction asked about.
        expected: Hash32,
        /// The one the receipt names.
        found: Hash32,
    },
    /// A receipt proof's tree size is not the header's transaction count.
    #[error(
        "{}: the proof says the receipts tree has {tree_size} leaves but the header counts {tx_count} transactions",
        Step::Inclusion
    )]
    ReceiptTreeSize {
        /// Tree size in the proof.
        tree_size: u64,
        /// `header.tx_count`.
        tx_count: u32,
    },
    /// The receipt's audit path does not lead to the header's receipts root.
    #[error(
        "{}: the receipt at position {index} of {tree_size} does not hash to the header's receipts root {receipts_root}; the receipt was altered",
        Step::Inclusion
    )]
    ReceiptNotIncluded {
        /// Position claimed.
        index: u64,
        /// Tree size claimed.
        tree_size: u64,
        /// `header.receipts_root`.
        receipts_root: Hash32,
    },
    /// A state proofs document carries more proofs than a verifier accepts.
    #[error("{}: the document carries {count} proofs, at most {max} are accepted", Step::StateProofs)]
    TooManyStateProofs {
        /// Proofs in the document.
        count: usize,
        /// [`crate::certified::MAX_STATE_PROOFS`].
        max: usize,
    },
    /// An absence proof does not hold.
    #[error("{}: the proof that {key} has no entry does not lead to the state roots", Step::StateProofs)]
    AbsenceProofInvalid {
        /// The key, as text.
        key: String,
    },
    /// The audit policy versions proven do not make a complete set.
    #[error("{}: the audit policy versions proven are incomplete: {reason}", Step::StateProofs)]
    PolicySetIncomplete {
        /// What is missing.
        reason: String,
    },
}

impl VerifyError {
    /// The step that failed.
    pub fn step(&self) -> Step {
        use VerifyError::*;
        match self {
            UnsupportedVersion { .. } => Step::Format,
            GenesisMismatch { .. } | ChainMismatch { .. } | BadValidatorSet(_) => Step::Genesis,
            NotAMeterRecord { .. } | NotAGatewayRecord { .. } | WrongSigner(_) | BadReadingSignature { .. } => {
                Step::ReadingSignature
            }
            MeterRecordMismatch { .. }
            | GatewayRecordMismatch { .. }
            | MeterNotOnGateway { .. }
            | OwnerMismatch { .. }
            | MeterNotActive { .. }
            | GatewayNotActive { .. }
            | UnitMismatch { .. }
            | NoCalibration { .. }
            | CalibrationDoesNotCover { .. } => Step::Registry,
            StateKeyMismatch { .. }
            | StateProofInvalid { .. }
            | StateRootsMismatch { .. }
            | NotADailyFigure { .. }
            | TooManyStateProofs { .. }
            | AbsenceProofInvalid { .. }
            | PolicySetIncomplete { .. }
            | Carbon { .. } => Step::StateProofs,
            TreeSizeMismatch { .. }
            | ReadingNotIncluded { .. }
            | ReceiptForOtherTx { .. }
            | ReceiptTreeSize { .. }
            | ReceiptNotIncluded { .. } => Step::Inclusion,
            FinalizationNotHex(_)
            | FinalizationMalformed { .. }
            | FinalizationForOtherBlock { .. }
            | TooManyDescendants { .. }
            | DescendantNotChild { .. }
            | FinalizationRoundMismatch { .. }
            | FinalizationCommitteeSize { .. }
            | FinalizationNoQuorum { .. }
            | FinalizationBadSignatures { .. } => Step::Finality,
            HeaderEpochMismatch { .. }
            | FinalizationWrongEpoch { .. }
            | EpochChainLength { .. }
            | EpochChainStart { .. }
            | EpochLinkOutOfOrder { .. }
            | EpochBoundaryWrong { .. }
            | EpochBoundaryNotFinal { .. }
            | EpochSetProofInvalid { .. }
            | EpochSetUnusable { .. } => Step::EpochChain,
        }
    }
}

/// What a verified bundle proves: this reading, from this meter, was recorded in this finalized
/// block of this chain, and the registry (as of that block) shows an active, calibrated meter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedReading {
    /// The chain.
    pub chain_id: ChainId,
    /// The meter.
    pub meter: DeviceId,
    /// The meter's display name from its registry record.
    pub meter_name: String,
    /// What it measures.
    pub energy: EnergyKind,
    /// The enterprise owning meter and gateway.
    pub owner: UnifiedSocialCreditCode,
    /// The gateway that submitted the reading.
    pub gateway: DeviceId,
    /// Per-meter sequence number.
    pub seq: u64,
    /// The register value (millionths of `unit`).
    pub value: Quantity,
    /// Unit of `value`.
    pub unit: Unit,
    /// Collection time, Unix ms.
    pub timestamp_ms: i64,
    /// How the value reached the gateway (online, manual entry, file import).
    pub origin: ReadingOrigin,
    /// The gateway's clock was suspect when the reading was collected.
    pub clock_suspect: bool,
    /// Which key signed the reading.
    pub signer: ReadingSigner,
    /// Number of the meter's calibration certificate covering the reading.
    pub calibration_certificate_no: String,
    /// Height of the block that recorded the reading.
    pub height: u64,
    /// Digest of that block.
    pub block_digest: Hash32,
    /// Height of the block the finalization certificate is for: `height`, or a descendant's
    /// when the recording block is final through it (`ProofBundle::descendants`).
    pub certified_height: u64,
    /// The chain's hash algorithm (from the genesis), used for every hash checked.
    pub hash: HashAlg,
    /// The block's timestamp, Unix ms.
    pub block_timestamp_ms: i64,
    /// Consensus epoch of the finalization.
    pub finalized_epoch: u64,
    /// Consensus view of the finalization.
    pub finalized_view: u64,
    /// Number of validator signatures in the finalization certificate.
    pub validator_signatures: usize,
    /// Number of validators in the set of the certified block's epoch (the genesis set for
    /// epochs 0 and 1).
    pub validators: usize,
    /// Signatures a certificate needs (the quorum `n - ⌊(n-1)/3⌋`).
    pub quorum: usize,
    /// Links of the epoch chain followed from the genesis set to that epoch's set (§14).
    pub epoch_links: usize,
}

/// Checks a proof bundle offline (see the [module documentation](self) for the steps).
///
/// With `trusted_genesis`, the bundle's genesis must equal it; without, the bundle's own genesis
/// is trusted, which proves only that *some* validator set with that genesis finalized the block —
/// a verifier should compare the genesis (or its hash) with one obtained independently.
///
/// The hash algorithm is the genesis's (`params.hash`), never guessed: with a trusted genesis a
/// bundle cannot choose it, and without one a bundle that names another algorithm than its chain
/// used fails at the state proofs (and at the finality check, whose certificate signs the digest
/// the validators computed).
pub fn verify(bundle: &ProofBundle, trusted_genesis: Option<&Genesis>) -> Result<VerifiedReading, VerifyError> {
    // Step 0: format. A v3 bundle is a v4 bundle without epoch links: it can prove blocks of
    // epochs 0 and 1 only (checked in step f).
    if bundle.version != PROOF_VERSION && !(bundle.version == PROOF_VERSION_V3 && bundle.epochs.is_empty()) {
        return Err(VerifyError::UnsupportedVersion { found: bundle.version.clone(), expected: PROOF_VERSION });
    }

    // Step (a): genesis.
    let header = &bundle.header;
    let (genesis, _) = check_genesis(&bundle.genesis, header, trusted_genesis)?;
    let alg = genesis.params.hash;

    // Step (b): the reading's signature, with the key from the registry records.
    let sr = &bundle.reading;
    let r = &sr.reading;
    let meter = meter_record(&bundle.meter_proof)?;
    let gateway = gateway_record(&bundle.gateway_proof)?;
    // The key that signed at the reading's time: a rotation retires a key for later readings only.
    let (signer_name, keys) = match (sr.signer, meter.keys_at(r.timestamp_ms)) {
        (ReadingSigner::Meter, Some(k)) => ("meter", k),
        (ReadingSigner::Meter, None) => {
            return Err(VerifyError::WrongSigner(format!(
                "the reading says meter {} signed it, but the meter record has no key; such readings are signed by the gateway",
                r.meter
            )));
        }
        (ReadingSigner::Gateway, None) => ("gateway", gateway.keys_at(r.timestamp_ms)),
        (ReadingSigner::Gateway, Some(_)) => {
            return Err(VerifyError::WrongSigner(format!(
                "the reading says gateway {} signed it, but meter {} has its own registered key and the chain accepts only the meter's own signatures",
                gateway.id, r.meter
            )));
        }
    };
    // The key current at the reading's time, or the current key (see `SigningKeys`).
    let payload = r.signing_payload();
    let mut first_error = None;
    for key in keys.iter() {
        match trustmeter_crypto::verify(key, &payload, &sr.signature) {
            Ok(()) => {
                first_error = None;
                break;
            }
            Err(e) => {
                first_error.get_or_insert(VerifyError::BadReadingSignature {
                    meter: r.meter.clone(),
                    seq: r.seq,
                    signer: signer_name,
                    key: key.to_text(),
                    reason: e.to_string(),
                });
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }

    // Step (c): registry records.
    if meter.id != r.meter {
        return Err(VerifyError::MeterRecordMismatch { record: meter.id.clone(), reading: r.meter.clone() });
    }
    if gateway.id != bundle.gateway {
        return Err(VerifyError::GatewayRecordMismatch { record: gateway.id.clone(), bundle: bundle.gateway.clone() });
    }
    if meter.gateway != gateway.id {
        return Err(VerifyError::MeterNotOnGateway {
            meter: meter.id.clone(),
            meter_gateway: meter.gateway.clone(),
            gateway: gateway.id.clone(),
        });
    }
    if meter.owner != gateway.owner {
        return Err(VerifyError::OwnerMismatch {
            meter: meter.id.clone(),
            meter_owner: meter.owner.clone(),
            gateway: gateway.id.clone(),
            gateway_owner: gateway.owner.clone(),
        });
    }
    if meter.status != DeviceStatus::Active {
        return Err(VerifyError::MeterNotActive { meter: meter.id.clone(), status: meter.status });
    }
    if r.unit != meter.unit {
        return Err(VerifyError::UnitMismatch {
            meter: meter.id.clone(),
            reading_unit: r.unit,
            meter_unit: meter.unit,
        });
    }
    let calibration =
        meter.calibration.as_ref().ok_or_else(|| VerifyError::NoCalibration { meter: meter.id.clone() })?;
    if !calibration.covers(r.timestamp_ms) {
        return Err(VerifyError::CalibrationDoesNotCover {
            meter: meter.id.clone(),
            certificate_no: calibration.certificate_no.clone(),
            valid_from_ms: calibration.valid_from_ms,
            valid_until_ms: calibration.valid_until_ms,
            timestamp_ms: r.timestamp_ms,
        });
    }
    if gateway.status != DeviceStatus::Active {
        return Err(VerifyError::GatewayNotActive { gateway: gateway.id.clone(), status: gateway.status });
    }

    // Step (d): both records are in the state the header commits to.
    check_roots(alg, &bundle.state_roots, &header.state_root)?;
    check_state_proof(alg, "meter", &bundle.meter_proof, &StateKey::Meter(r.meter.clone()), &bundle.state_roots)?;
    check_state_proof(
        alg,
        "gateway",
        &bundle.gateway_proof,
        &StateKey::Gateway(bundle.gateway.clone()),
        &bundle.state_roots,
    )?;

    // Step (e): the reading is in the block's readings tree.
    if bundle.tree_size != u64::from(header.readings_accepted) {
        return Err(VerifyError::TreeSizeMismatch {
            tree_size: bundle.tree_size,
            readings_accepted: header.readings_accepted,
        });
    }
    let leaf = reading_leaf(alg, sr);
    if !verify_inclusion(alg, &leaf, bundle.index, bundle.tree_size, &bundle.audit_path, &header.readings_root) {
        return Err(VerifyError::ReadingNotIncluded {
            leaf,
            index: bundle.index,
            tree_size: bundle.tree_size,
            readings_root: header.readings_root,
        });
    }

    // Step (f): a quorum of the validator set of its epoch finalized exactly this header, or a
    // block descending from it through the bundle's chain of child headers; the set of a later
    // epoch than 1 is learnt from the genesis through the epoch chain.
    let digest = block_digest(alg, header);
    let (certified_header, certified_digest) = check_descendants(alg, header, digest, &bundle.descendants)?;
    let (finalization, committee) =
        verify_certified(genesis, &bundle.epochs, certified_header, &certified_digest, &bundle.finalization)?;
    let validators = committee.keys;

    Ok(VerifiedReading {
        chain_id: header.chain_id.clone(),
        meter: r.meter.clone(),
        meter_name: meter.name.clone(),
        energy: meter.energy,
        owner: meter.owner.clone(),
        gateway: gateway.id.clone(),
        seq: r.seq,
        value: r.value,
        unit: r.unit,
        timestamp_ms: r.timestamp_ms,
        origin: r.origin,
        clock_suspect: r.clock_suspect,
        signer: sr.signer,
        calibration_certificate_no: calibration.certificate_no.clone(),
        height: header.height,
        block_digest: digest,
        certified_height: certified_header.height,
        hash: alg,
        block_timestamp_ms: header.timestamp_ms,
        finalized_epoch: finalization.proposal.epoch,
        finalized_view: finalization.proposal.view,
        validator_signatures: finalization.certificate.signers.count(),
        validators: validators.len(),
        quorum: validators.quorum::<N3f1>() as usize,
        epoch_links: bundle.epochs.len(),
    })
}

/// Step (a), shared by reading and figure proofs: the bundle's genesis equals the trusted one
/// (if given), its validator set is usable, and the header names its chain.
pub(crate) fn check_genesis<'a>(
    genesis: &'a Genesis,
    header: &BlockHeader,
    trusted_genesis: Option<&Genesis>,
) -> Result<(&'a Genesis, Set<ed25519::PublicKey>), VerifyError> {
    // Genesis documents are compared by their canonical encodings (docs/proof-format.md §7, a.1),
    // which is equality of every parsed field, arrays in order.
    if let Some(trusted) = trusted_genesis
        && trustmeter_types::encode(trusted) != trustmeter_types::encode(genesis)
    {
        return Err(VerifyError::GenesisMismatch { detail: genesis_difference(trusted, genesis) });
    }
    let validators = validator_set(genesis).map_err(VerifyError::BadValidatorSet)?;
    if header.chain_id != genesis.chain_id {
        return Err(VerifyError::ChainMismatch { header: header.chain_id.clone(), genesis: genesis.chain_id.clone() });
    }
    Ok((genesis, validators))
}

/// A short description of how two genesis documents differ.
fn genesis_difference(trusted: &Genesis, bundle: &Genesis) -> String {
    if trusted.chain_id != bundle.chain_id {
        return format!(
            "chain id {:?} in the bundle, {:?} trusted",
            bundle.chain_id.as_str(),
            trusted.chain_id.as_str()
        );
    }
    if trusted.validators != bundle.validators {
        let keys = |g: &Genesis| g.validators.iter().map(|v| v.consensus_key.clone()).collect::<Vec<_>>();
        if keys(trusted) != keys(bundle) {
            return format!(
                "the validator keys differ: the bundle names {} validators, {} of which are not in the trusted set",
                bundle.validators.len(),
                bundle
                    .validators
                    .iter()
                    .filter(|v| !trusted.validators.iter().any(|t| t.consensus_key == v.consensus_key))
                    .count()
            );
        }
        return "the validator entries differ (names, organisations or addresses)".into();
    }
    if trusted.genesis_time_ms != bundle.genesis_time_ms {
        return format!(
            "genesis time {} ms in the bundle, {} ms trusted",
            bundle.genesis_time_ms, trusted.genesis_time_ms
        );
    }
    if trusted.params.hash != bundle.params.hash {
        return format!(
            "the bundle's genesis says the chain hashes with {} but the trusted genesis says {}",
            bundle.params.hash, trusted.params.hash
        );
    }
    if trusted.params != bundle.params {
        return "the chain parameters differ".into();
    }
    "the founding organisations or accounts differ".into()
}

fn value_kind(v: &StateValue) -> &'static str {
    match v {
        StateValue::Organisation(_) => "organisation",
        StateValue::Account(_) => "account",
        StateValue::Nonce(_) => "nonce",
        StateValue::Gateway(_) => "gateway",
        StateValue::Meter(_) => "meter",
        StateValue::Progress(_) => "progress of a gateway's meters",
        StateValue::Policy(_) => "audit policy",
        StateValue::Daily(_) => "daily figure",
        StateValue::MonthlyReport(_) => "monthly report",
        StateValue::Point(_) => "window point",
        StateValue::KeyUse(_) => "key use",
        StateValue::Membership(_) => "membership",
        StateValue::Proposal(_) => "membership proposal",
        StateValue::Regulators(_) => "regulator list",
        StateValue::Grant(_) => "grant",
        StateValue::Disclosure(_) => "disclosure",
        StateValue::Published(_) => "publication",
        StateValue::Methodology(_) => "carbon methodology",
        StateValue::CarbonPlan(_) => "monitoring plan",
        StateValue::CarbonEntry(_) => "carbon entry",
        StateValue::CertificateClaim(_) => "certificate claim",
        StateValue::CarbonResult(_) => "carbon results of a month",
        StateValue::CarbonReport(_) => "filed carbon report",
        StateValue::Verification(_) => "verification of an annual report",
        StateValue::Quota(_) => "quota account",
        StateValue::VerificationDue => "pending objection window",
        StateValue::CarbonYear(_) => "carbon results of a year",
        StateValue::Validator(_) => "registered validator",
        StateValue::ValidatorSet(_) => "validator set of an epoch",
        StateValue::Token(_) => "token account",
        StateValue::Economy(_) => "token totals",
        StateValue::Delegation(_) => "stake on a validator",
        StateValue::Unbonding(_) => "unbonding stake",
        StateValue::EpochActivity(_) => "validator activity of an epoch",
        StateValue::RewardSchedule(_) => "reward schedule",
        StateValue::Points(_) => "reward points of an epoch",
        StateValue::EpochRewards(_) => "reward pools of an epoch",
        StateValue::ShiftCalendar(_) => "shift calendar",
        StateValue::ShiftOutput(_) => "output of a shift",
        StateValue::MonthTotals(_) => "month's sums of daily figures",
        StateValue::TokenPolicy(_) => "token policy",
    }
}

fn meter_record(p: &StateProof) -> Result<&Meter, VerifyError> {
    match &p.entry.value {
        StateValue::Meter(m) => Ok(m),
        other => Err(VerifyError::NotAMeterRecord { found: value_kind(other) }),
    }
}

fn gateway_record(p: &StateProof) -> Result<&Gateway, VerifyError> {
    match &p.entry.value {
        StateValue::Gateway(g) => Ok(g),
        other => Err(VerifyError::NotAGatewayRecord { found: value_kind(other) }),
    }
}

pub(crate) fn key_text(k: &StateKey) -> String {
    match k {
        StateKey::Organisation(id) => format!("organisation/{id}"),
        StateKey::Account(pk) => format!("account/{pk}"),
        StateKey::Nonce(pk) => format!("nonce/{pk}"),
        StateKey::Gateway(id) => format!("gateway/{id}"),
        StateKey::Meter(id) => format!("meter/{id}"),
        StateKey::Progress(g, n) => format!("progress/{g}/{n}"),
        StateKey::Policy(v) => format!("policy/{v}"),
        StateKey::Daily(k) => format!(
            "daily/{}/{}/{}/{}",
            k.org,
            trustmeter_energy::calendar::day_label(k.day),
            serde_json::to_value(k.energy).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            k.unit.symbol()
        ),
        StateKey::MonthlyReport(org, month) => format!("monthly-report/{org}/{month}"),
        StateKey::Point(id, ts, ord) => format!("point/{id}/{ts}/{ord}"),
        StateKey::KeyUse(pk) => format!("key-use/{pk}"),
        StateKey::Membership(id) => format!("membership/{id}"),
        StateKey::Proposal(h) => format!("proposal/{h}"),
        StateKey::Regulators => "regulators".into(),
        StateKey::Grant(o, g, s) => format!("grant/{o}/{g}/{}", s.name()),
        StateKey::Disclosure(r) => format!("disclosure/{r}"),
        StateKey::Published(o) => format!("published/{o}"),
        StateKey::GrantReceived(g, o, s) => format!("grant-received/{g}/{o}/{}", s.name()),
        StateKey::Methodology(id, v) => format!("methodology/{id}/{v}"),
        StateKey::CarbonPlan(o, m) => format!("carbon-plan/{o}/{m}"),
        StateKey::CarbonEntry(o, m, n) => format!("carbon-entry/{o}/{m}/{n}"),
        StateKey::CertificateClaim(b, first) => format!("certificate-claim/{b}/{first}"),
        StateKey::CarbonResult(o, m) => format!("carbon-result/{o}/{m}"),
        StateKey::CarbonReport(o, p) => format!("carbon-report/{o}/{p}"),
        StateKey::Verification(o, y) => format!("verification/{o}/{y}"),
        StateKey::Quota(o, y) => format!("quota/{o}/{y}"),
        StateKey::VerificationDue(t, o, y) => format!("verification-due/{t}/{o}/{y}"),
        StateKey::CarbonYear(o, y) => format!("carbon-year/{o}/{y}"),
        StateKey::Validator(k) => format!("validator/{k}"),
        StateKey::ValidatorSet(e) => format!("validator-set/{e}"),
        StateKey::Token(o) => format!("token/{o}"),
        StateKey::Economy => "economy".into(),
        StateKey::Delegation(o, k) => format!("delegation/{o}/{k}"),
        StateKey::Unbonding(o, k, e) => format!("unbonding/{o}/{k}/{e}"),
        StateKey::EpochActivity(e) => format!("epoch-activity/{e}"),
        StateKey::RewardSchedule(v) => format!("reward-schedule/{v}"),
        StateKey::Points(o, e) => format!("points/{o}/{e}"),
        StateKey::EpochRewards(e) => format!("epoch-rewards/{e}"),
        StateKey::ShiftCalendar(o, d) => format!("shift-calendar/{o}/{d}"),
        StateKey::ShiftOutput(o, d, s) => format!("shift-output/{o}/{d}/{s}"),
        StateKey::MonthTotals(o, m) => format!("month-totals/{o}/{m}"),
        StateKey::TokenPolicy => "token-policy".into(),
    }
}

/// Checks that the two tree roots hash to the header's state root.
pub(crate) fn check_roots(alg: HashAlg, roots: &StateRoots, state_root: &Hash32) -> Result<(), VerifyError> {
    let computed = roots.state_root(alg);
    if &computed != state_root {
        return Err(VerifyError::StateRootsMismatch { computed, state_root: *state_root });
    }
    Ok(())
}

pub(crate) fn check_state_proof(
    alg: HashAlg,
    which: &'static str,
    proof: &StateProof,
    expected: &StateKey,
    roots: &StateRoots,
) -> Result<(), VerifyError> {
    if &proof.entry.key != expected {
        return Err(VerifyError::StateKeyMismatch {
            which,
            expected: key_text(expected),
            found: key_text(&proof.entry.key),
        });
    }
    if !proof.verify(alg, roots) {
        let tree = expected.tree().unwrap_or(trustmeter_schema::Tree::Registry);
        return Err(VerifyError::StateProofInvalid {
            which,
            key: key_text(expected),
            siblings: proof.siblings.len(),
            tree: tree.name(),
            tree_root: roots.get(tree),
        });
    }
    Ok(())
}

/// Step (f.1): `descendants` is a chain of children of `header` (digest `digest`), each naming
/// the previous block's digest as its parent at the next height on the same chain, at most
/// [`crate::MAX_DESCENDANTS`] long. Returns the last block's header and digest (`header`'s own
/// without descendants): the one the certificate must finalize.
pub(crate) fn check_descendants<'a>(
    alg: HashAlg,
    header: &'a BlockHeader,
    digest: Hash32,
    descendants: &'a [BlockHeader],
) -> Result<(&'a BlockHeader, Hash32), VerifyError> {
    if descendants.len() > crate::MAX_DESCENDANTS {
        return Err(VerifyError::TooManyDescendants { count: descendants.len(), max: crate::MAX_DESCENDANTS });
    }
    let mut tip = (header, digest);
    for (index, d) in descendants.iter().enumerate() {
        if d.height != tip.0.height.saturating_add(1) || d.parent != tip.1 || d.chain_id != header.chain_id {
            return Err(VerifyError::DescendantNotChild {
                index,
                height: d.height,
                parent: d.parent,
                expected_height: tip.0.height,
                expected_parent: tip.1,
                chain_id: header.chain_id.clone(),
            });
        }
        tip = (d, block_digest(alg, d));
    }
    Ok(tip)
}

/// Decodes a finalization certificate (Commonware encoding) and checks that it finalizes the
/// block `digest` with `header`'s epoch and view, signed by a quorum of `validators` (the genesis
/// validator set) — proof step (f), for any holder of raw certificate bytes (a follower node).
/// Blocks of epochs after 1 are signed by elected sets: see [`crate::epochs::verify_certified`].
pub fn verify_finalization(
    bytes: &[u8],
    genesis: &Genesis,
    validators: &Set<ed25519::PublicKey>,
    header: &BlockHeader,
    digest: &Hash32,
) -> Result<Finalization, VerifyError> {
    let names = validators.iter().enumerate().map(|(i, k)| validator_name(genesis, Some(k), i)).collect();
    let committee = Committee { epoch: header.epoch, keys: validators.clone(), names };
    let l = genesis.params.economy.staking.epoch_length.max(1);
    check_certificate(bytes, &consensus_namespace(genesis), &committee, header, digest, header.height % l == l - 1)
}

/// [`verify_finalization`] against the set of the header's epoch, however the caller learnt it
/// (a follower node reads it from its own state: `trustmeter_state::economy::validator_set`, then
/// [`Committee::elected`]; an offline verifier follows the epoch chain, [`verify_certified`]).
pub fn verify_finalization_by(
    bytes: &[u8],
    genesis: &Genesis,
    committee: &Committee,
    header: &BlockHeader,
    digest: &Hash32,
) -> Result<Finalization, VerifyError> {
    let l = crate::epochs::epoch_length(genesis)?;
    check_certificate(bytes, &consensus_namespace(genesis), committee, header, digest, header.height % l == l - 1)
}

/// Decodes a finalization certificate and checks it against `committee` (the set of the header's
/// epoch): it finalizes `digest`, in `header`'s epoch and view (a later view of the same epoch is
/// accepted when `boundary`: the last block of an epoch is re-proposed until it is finalized), with
/// a quorum of valid signatures in the chain's `namespace`.
pub(crate) fn check_certificate(
    bytes: &[u8],
    namespace: &[u8],
    committee: &Committee,
    header: &BlockHeader,
    digest: &Hash32,
    boundary: bool,
) -> Result<Finalization, VerifyError> {
    let validators = &committee.keys;
    if header.epoch != committee.epoch {
        return Err(VerifyError::FinalizationWrongEpoch { header_epoch: header.epoch, set_epoch: committee.epoch });
    }
    let finalization = Finalization::decode_cfg(bytes.to_vec(), &validators.len())
        .map_err(|e| VerifyError::FinalizationMalformed { validators: validators.len(), reason: e.to_string() })?;
    let certified = finalization.proposal.payload;
    if &certified != digest {
        return Err(VerifyError::FinalizationForOtherBlock { certified, block: *digest });
    }
    let proposal = &finalization.proposal;
    let view_ok = proposal.view == header.view || (boundary && proposal.view > header.view);
    if proposal.epoch != header.epoch || !view_ok {
        return Err(VerifyError::FinalizationRoundMismatch {
            certified_epoch: proposal.epoch,
            certified_view: proposal.view,
            header_epoch: header.epoch,
            header_view: header.view,
        });
    }
    let certificate = &finalization.certificate;
    if certificate.signers.len() != validators.len() {
        return Err(VerifyError::FinalizationCommitteeSize {
            bitmap: certificate.signers.len(),
            validators: validators.len(),
        });
    }
    let quorum = validators.quorum::<N3f1>() as usize;
    if certificate.signers.count() < quorum {
        return Err(VerifyError::FinalizationNoQuorum {
            signers: certificate.signers.count(),
            quorum,
            validators: validators.len(),
        });
    }
    if finalization.verify(namespace, validators) {
        return Ok(finalization);
    }
    // Find out whose signatures fail, one by one, to say so.
    let finalize_namespace = finalize_namespace(namespace);
    let message = finalization.proposal.encode();
    let mut bad = Vec::new();
    for (signer, signature) in certificate.signers.iter().zip(&certificate.signatures) {
        let index = signer.get() as usize;
        let key = validators.get(index);
        let ok = match (key, signature.get()) {
            (Some(k), Some(s)) => k.verify(&finalize_namespace, &message, s),
            _ => false,
        };
        if !ok {
            bad.push(match (key, committee.names.get(index)) {
                (Some(k), Some(name)) if !name.is_empty() => {
                    format!("{name} (signer #{index}, key {})", hex::encode(k.as_ref()))
                }
                (Some(k), _) => format!("signer #{index} (key {})", hex::encode(k.as_ref())),
                (None, _) => format!("signer #{index} (no such validator)"),
            });
        }
    }
    if bad.is_empty() {
        bad.push("the certificate as a whole (no single signature could be blamed)".into());
    }
    Err(VerifyError::FinalizationBadSignatures { validators: bad })
}

/// The genesis name of the validator at `index` of the sorted validator set (empty if none).
fn validator_name(genesis: &Genesis, key: Option<&ed25519::PublicKey>, index: usize) -> String {
    let Some(key) = key else {
        return format!("signer #{index} (no such validator)");
    };
    let hex_key = hex::encode(key.as_ref());
    genesis
        .validators
        .iter()
        .find(|v| v.consensus_key.eq_ignore_ascii_case(&hex_key))
        .map(|v| v.name.clone())
        .unwrap_or_default()
}
