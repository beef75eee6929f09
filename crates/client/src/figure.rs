//! Figure proofs: an enterprise's consensus daily figure (日能耗, `StateKey::Daily`), proven against
//! the state root of a finalized block, checkable offline like a reading's [`ProofBundle`].
//!
//! A [`FigureProof`] carries the genesis, the header of a finalized block, the state proof of the
//! daily figure against that header's state root and the block's finalization certificate.
//! [`verify_figure`] runs these steps, stopping at the first failure:
//!
//! 0. **format**: the version is [`FIGURE_PROOF_VERSION`];
//! 1. **(a) genesis**: as for readings (equal to the trusted genesis if one is given, a usable
//!    validator set, the header's chain id); the genesis names the hash algorithm `H`;
//! 2. **(d) state proof**: the entry is a daily figure (`StateKey::Daily` with a `StateValue::Daily`)
//!    and hashes up to the header's state root;
//! 3. **(f) finality**: a quorum of the validators of the header's epoch finalized exactly this
//!    header — the genesis set for epochs 0 and 1, else the set the epoch chain `epochs` leads to
//!    from the genesis (one link per epoch `2 ..= E`, docs/proof-format.md §14).
//!
//! What it proves: *as of that block*, the chain's state held this figure under this key. Daily
//! figures change when late readings arrive (within the chain's late-data window), so a later
//! proof of the same key may show another value; each proof names its height.
//!
//! [`ProofBundle`]: crate::ProofBundle

use crate::consensus::certified_payload;
use crate::verify::{VerifyError, check_genesis, key_text};
use commonware_codec::Encode;
use serde::{Deserialize, Serialize};
use trustmeter_crypto::{HashAlg, block_digest};
use trustmeter_schema::{DailyKey, DailyTotal, ProofSource, StateKey, StateProof, StateRoots, StateValue};
use trustmeter_types::{BlockHeader, ChainId, EnergyKind, Genesis, Hash32, UnifiedSocialCreditCode, Unit};

/// The value of [`FigureProof::version`] this crate writes and reads.
pub const FIGURE_PROOF_VERSION: &str = "trustmeter-figure-proof/v3";
/// The previous version, still read: a v2 proof has no `epochs` field and proves figures of
/// blocks of epochs 0 and 1 only (whose set is the genesis set).
pub const FIGURE_PROOF_VERSION_V2: &str = "trustmeter-figure-proof/v2";

/// Everything needed to check, offline, that a daily figure was in the state of a finalized block.
/// Serialized as JSON; see `docs/proof-format.md` §10.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureProof {
    /// Format version, always [`FIGURE_PROOF_VERSION`].
    pub version: String,
    /// The chain's genesis document (validator set, hash algorithm); compare it with one you trust.
    pub genesis: Genesis,
    /// Header of the finalized block whose post-state holds the figure.
    pub header: BlockHeader,
    /// The roots of the two state trees after that block; they hash to `header.state_root`.
    pub state_roots: StateRoots,
    /// Proof of the `StateKey::Daily` entry in the activity tree.
    pub figure: StateProof,
    /// The block's finalization certificate: lowercase hex of its Commonware codec encoding.
    pub finalization: String,
    /// The epoch chain from the genesis set to the set of the block's epoch `E`: one link per
    /// epoch `2 ..= E`, none for a block of epoch 0 or 1 (docs/proof-format.md §14).
    pub epochs: Vec<crate::EpochLink>,
}

/// A `trustmeter-figure-proof/v2` document: a v3 proof without `epochs`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FigureProofV2 {
    version: String,
    genesis: Genesis,
    header: BlockHeader,
    state_roots: StateRoots,
    figure: StateProof,
    finalization: String,
}

/// Why a figure proof could not be built from a node's data (errors of the caller's inputs).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FigureBuildError {
    /// The header names another chain than the genesis.
    #[error("the block is for chain {block} but the genesis is for chain {genesis}")]
    ChainMismatch {
        /// Chain id in the header.
        block: ChainId,
        /// Chain id in the genesis.
        genesis: ChainId,
    },
    /// The state given is not the post-state of this header's block.
    #[error(
        "the state (at height {state_height}, block {state_digest}) has no roots for block {block} at height {block_height} that match its header: another chain, or a height not committed"
    )]
    StateMismatch {
        /// Height of the state.
        state_height: u64,
        /// Digest recorded in the state.
        state_digest: Hash32,
        /// Height of the header.
        block_height: u64,
        /// Digest of the header.
        block: Hash32,
    },
    /// The finalization certificate finalizes another block.
    #[error("the finalization certificate is for block {certified}, not for block {block}")]
    FinalizationMismatch {
        /// Payload of the certificate.
        certified: Hash32,
        /// Digest of the header.
        block: Hash32,
    },
    /// The state holds no figure under the key.
    #[error("the state at height {height} holds no daily figure {key}")]
    NoFigure {
        /// Height of the state.
        height: u64,
        /// The key, as text.
        key: String,
    },
}

impl FigureProof {
    /// Builds the proof of the daily figure `key` as of the block with `header`, from any state of
    /// the same chain whose store still keeps that height's activity tree (the finalized state:
    /// recent heights), and that block's `finalization`.
    pub fn build(
        genesis: &Genesis,
        header: &BlockHeader,
        state: &impl ProofSource,
        key: &DailyKey,
        finalization: &impl Encode,
    ) -> Result<FigureProof, FigureBuildError> {
        let alg = genesis.params.hash;
        if header.chain_id != genesis.chain_id {
            return Err(FigureBuildError::ChainMismatch {
                block: header.chain_id.clone(),
                genesis: genesis.chain_id.clone(),
            });
        }
        let digest = block_digest(alg, header);
        let roots = state.roots_at(header.height).filter(|r| r.state_root(alg) == header.state_root);
        let Some(state_roots) = roots else {
            let (state_height, state_digest) = state.tip();
            return Err(FigureBuildError::StateMismatch {
                state_height,
                state_digest,
                block_height: header.height,
                block: digest,
            });
        };
        let finalization = finalization.encode();
        let certified = certified_payload(&finalization).unwrap_or_default();
        if certified != digest {
            return Err(FigureBuildError::FinalizationMismatch { certified, block: digest });
        }
        let state_key = StateKey::Daily(key.clone());
        let figure = state
            .prove_at(header.height, &state_key)
            .ok_or_else(|| FigureBuildError::NoFigure { height: header.height, key: key_text(&state_key) })?;
        Ok(FigureProof {
            version: FIGURE_PROOF_VERSION.to_string(),
            genesis: genesis.clone(),
            header: header.clone(),
            state_roots,
            figure,
            finalization: hex::encode(finalization),
            epochs: Vec::new(),
        })
    }

    /// The proof as pretty-printed JSON (a proof read from a v2 document as a v2 document, which
    /// has no `epochs`).
    pub fn to_json(&self) -> String {
        if self.version == FIGURE_PROOF_VERSION_V2 && self.epochs.is_empty() {
            let v2 = FigureProofV2 {
                version: self.version.clone(),
                genesis: self.genesis.clone(),
                header: self.header.clone(),
                state_roots: self.state_roots,
                figure: self.figure.clone(),
                finalization: self.finalization.clone(),
            };
            return serde_json::to_string_pretty(&v2).expect("a figure proof always serializes");
        }
        serde_json::to_string_pretty(self).expect("a figure proof always serializes")
    }

    /// Parses a proof from JSON, strictly: an unknown, missing or duplicate field at any level is
    /// an error naming it and its path ([`crate::strict`]). Shape only; call [`verify_figure`] to
    /// check the proof.
    /// A v2 document (no `epochs`) is read as a proof of that version with no links.
    pub fn from_json(json: &str) -> Result<FigureProof, serde_json::Error> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: String,
        }
        let is_v2 = serde_json::from_str::<VersionOnly>(json).is_ok_and(|v| v.version == FIGURE_PROOF_VERSION_V2);
        if !is_v2 {
            return crate::strict::parse(json);
        }
        let p: FigureProofV2 = crate::strict::parse(json)?;
        Ok(FigureProof {
            version: p.version,
            genesis: p.genesis,
            header: p.header,
            state_roots: p.state_roots,
            figure: p.figure,
            finalization: p.finalization,
            epochs: Vec::new(),
        })
    }

    /// Checks this proof; see [`verify_figure`].
    pub fn verify(&self, trusted_genesis: Option<&Genesis>) -> Result<VerifiedFigure, VerifyError> {
        verify_figure(self, trusted_genesis)
    }
}

/// What a verified figure proof shows: this daily figure was in the state after this finalized
/// block of this chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedFigure {
    /// The chain.
    pub chain_id: ChainId,
    /// The enterprise.
    pub org: UnifiedSocialCreditCode,
    /// The day (days since 1970-01-01, Asia/Shanghai).
    pub day: i32,
    /// The day as `YYYY-MM-DD`.
    pub day_label: String,
    /// The energy kind.
    pub energy: EnergyKind,
    /// The unit of the amounts.
    pub unit: Unit,
    /// The figure as the state holds it (micro-units).
    pub figure: DailyTotal,
    /// Height of the block whose post-state holds it.
    pub height: u64,
    /// Digest of that block.
    pub block_digest: Hash32,
    /// The block's timestamp, Unix ms.
    pub block_timestamp_ms: i64,
    /// The chain's hash algorithm (from the genesis).
    pub hash: HashAlg,
    /// Consensus epoch of the finalization.
    pub finalized_epoch: u64,
    /// Consensus view of the finalization.
    pub finalized_view: u64,
    /// Number of validator signatures in the finalization certificate.
    pub validator_signatures: usize,
    /// Number of validators in the genesis.
    pub validators: usize,
    /// Signatures a certificate needs.
    pub quorum: usize,
}

/// Checks a figure proof offline (steps in the [module documentation](self)). With
/// `trusted_genesis`, the proof's genesis must equal it; without, the proof's own genesis is
/// trusted, which a verifier should compare with one obtained independently.
pub fn verify_figure(proof: &FigureProof, trusted_genesis: Option<&Genesis>) -> Result<VerifiedFigure, VerifyError> {
    // A v2 proof is a v3 proof without epoch links: blocks of epochs 0 and 1 only (checked in
    // step f).
    if proof.version != FIGURE_PROOF_VERSION && !(proof.version == FIGURE_PROOF_VERSION_V2 && proof.epochs.is_empty()) {
        return Err(VerifyError::UnsupportedVersion { found: proof.version.clone(), expected: FIGURE_PROOF_VERSION });
    }
    let header = &proof.header;
    let (genesis, _) = check_genesis(&proof.genesis, header, trusted_genesis)?;
    let alg = genesis.params.hash;

    // Step (d): the entry is a daily figure, in the state the header commits to.
    let (key, figure) = match (&proof.figure.entry.key, &proof.figure.entry.value) {
        (StateKey::Daily(k), StateValue::Daily(d)) => (k, d),
        (k, _) => return Err(VerifyError::NotADailyFigure { key: key_text(k) }),
    };
    crate::verify::check_roots(alg, &proof.state_roots, &header.state_root)?;
    let state_key = proof.figure.entry.key.clone();
    crate::verify::check_state_proof(alg, "daily figure", &proof.figure, &state_key, &proof.state_roots)?;

    // Step (f): a quorum of the validators of the header's epoch (reached through the epoch chain
    // from the genesis) finalized exactly this header.
    let digest = block_digest(alg, header);
    let (finalization, committee) =
        crate::epochs::verify_certified(genesis, &proof.epochs, header, &digest, &proof.finalization)?;
    let validators = committee.keys;
    Ok(VerifiedFigure {
        chain_id: header.chain_id.clone(),
        org: key.org.clone(),
        day: key.day,
        day_label: trustmeter_energy::calendar::day_label(key.day),
        energy: key.energy,
        unit: key.unit,
        figure: figure.clone(),
        height: header.height,
        block_digest: digest,
        block_timestamp_ms: header.timestamp_ms,
        hash: alg,
        finalized_epoch: finalization.proposal.epoch,
        finalized_view: finalization.proposal.view,
        validator_signatures: finalization.certificate.signers.count(),
        validators: validators.len(),
        quorum: {
            use commonware_utils::ordered::Quorum as _;
            validators.quorum::<commonware_utils::N3f1>() as usize
        },
    })
}
