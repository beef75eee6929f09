//! Proof bundles: what a verifier needs to check one reading offline, and how a node makes them.

use crate::consensus::certified_payload;
use crate::epochs::EpochLink;
use commonware_codec::Encode;
use serde::{Deserialize, Serialize};
use trustmeter_crypto::{block_digest, merkle::Tree, reading_leaf};
use trustmeter_schema::{ProofSource, StateKey, StateProof, StateRoots};
use trustmeter_types::{Block, BlockHeader, ChainId, DeviceId, Genesis, Hash32, SignedReading, TxPayload};

/// The value of [`ProofBundle::version`] this crate writes and reads.
pub const PROOF_VERSION: &str = "trustmeter-proof/v4";

/// The previous version, still read: a v3 bundle has no `epochs` field and proves blocks of
/// epochs 0 and 1 only (whose set is the genesis set).
pub const PROOF_VERSION_V3: &str = "trustmeter-proof/v3";

/// The most block headers a bundle may carry between the recording block and the certified one
/// ([`ProofBundle::descendants`]); a verifier refuses more.
pub const MAX_DESCENDANTS: usize = 256;

/// Everything needed to check, offline, that one signed reading was recorded in a finalized block
/// of a Trustmeter chain. Serialized as JSON; see `docs/proof-format.md` for every field.
///
/// A bundle is not trusted because of where it came from: [`crate::verify()`] checks every part of
/// it, and the only things a verifier has to trust are the genesis (its chain id and validator
/// set) and the usual assumption that fewer than a third of those validators are faulty.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofBundle {
    /// Format version: [`PROOF_VERSION`] (`"trustmeter-proof/v4"`), or [`PROOF_VERSION_V3`] for a
    /// bundle read from a v3 document (then `epochs` is empty).
    pub version: String,
    /// The chain's genesis document. Its validator set is what the finalization certificate is
    /// checked against for blocks of epochs 0 and 1 (and where the epoch chain starts), and its `params.hash` is the hash algorithm of every hash in the bundle
    /// (absent: SHA-256); a verifier who holds the chain's genesis from elsewhere passes it to
    /// [`crate::verify()`], which then requires this copy to be identical.
    pub genesis: Genesis,
    /// Header of the finalized block that recorded the reading.
    pub header: BlockHeader,
    /// The signed reading, exactly as its gateway submitted it.
    pub reading: SignedReading,
    /// Position of the reading in the block's readings tree (0-based, in block order).
    pub index: u64,
    /// Number of leaves of the readings tree; equals `header.readings_accepted`.
    pub tree_size: u64,
    /// RFC 9162 §2.1.3 audit path of the reading's leaf, bottom-up.
    pub audit_path: Vec<Hash32>,
    /// The gateway that submitted the reading (the meter's registered gateway).
    pub gateway: DeviceId,
    /// The roots of the two state trees after the block; they hash to `header.state_root`.
    pub state_roots: StateRoots,
    /// Proof of the meter's registry record (`StateKey::Meter`) in the registry tree.
    pub meter_proof: StateProof,
    /// Proof of the gateway's registry record (`StateKey::Gateway`) in the registry tree.
    pub gateway_proof: StateProof,
    /// Headers of the blocks after `header`, in height order, up to the one `finalization`
    /// certifies; empty when it certifies `header` itself. A block whose own view never gathered a
    /// quorum of finalize votes is final because a later certified block descends from it: each
    /// header here names the previous one's digest as its parent (at most [`MAX_DESCENDANTS`]).
    pub descendants: Vec<BlockHeader>,
    /// The finalization certificate of the last of `descendants` (of `header` if there are none):
    /// lowercase hex of its Commonware codec encoding.
    pub finalization: String,
    /// The epoch chain from the genesis set to the set of the certified block's epoch `E`: one
    /// link per epoch `2 ..= E`, none for a block of epoch 0 or 1 (docs/proof-format.md §14).
    pub epochs: Vec<EpochLink>,
}

/// A `trustmeter-proof/v3` document: a v4 bundle without `epochs`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofBundleV3 {
    version: String,
    genesis: Genesis,
    header: BlockHeader,
    reading: SignedReading,
    index: u64,
    tree_size: u64,
    audit_path: Vec<Hash32>,
    gateway: DeviceId,
    state_roots: StateRoots,
    meter_proof: StateProof,
    gateway_proof: StateProof,
    descendants: Vec<BlockHeader>,
    finalization: String,
}

/// Why a bundle could not be built from a node's data. These are errors of the caller's inputs
/// (wrong block, wrong output, unknown reading), never of the chain.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// The block header names another chain than the genesis.
    #[error("the block is for chain {block} but the genesis is for chain {genesis}")]
    ChainMismatch {
        /// Chain id in the header.
        block: ChainId,
        /// Chain id in the genesis.
        genesis: ChainId,
    },
    /// The state store has no tree roots for the block's height that match its header.
    #[error(
        "the state store has no roots for block {block} at height {block_height} that hash to its state root (another chain, or a height not committed)"
    )]
    RootsMismatch {
        /// Digest of the block.
        block: Hash32,
        /// Height of the block.
        block_height: u64,
    },
    /// The finalization certificate given finalizes another block.
    #[error("the finalization certificate is for block {certified}, not for block {block}")]
    FinalizationMismatch {
        /// Payload of the certificate.
        certified: Hash32,
        /// Digest of the block.
        block: Hash32,
    },
    /// The descendants given are not a chain of children from the block to the certified one.
    #[error("the descendants of block {height} are not a chain of children: {reason}")]
    BrokenDescendants {
        /// Height of the recording block.
        height: u64,
        /// What is wrong.
        reason: String,
    },
    /// The finalized event carries no finalization certificate (the node did not have it yet).
    #[error(
        "block {height} was delivered without its finalization certificate; ask again later or fetch it from another node"
    )]
    NoFinalization {
        /// Height of the block.
        height: u64,
    },
    /// No recorded reading at this position.
    #[error("block {height} recorded {recorded} readings; there is no reading at position {position}")]
    NoSuchPosition {
        /// Height of the block.
        height: u64,
        /// Requested position.
        position: usize,
        /// Number of recorded readings.
        recorded: usize,
    },
    /// The block did not record this reading.
    #[error("block {height} did not record reading {seq} of meter {meter}")]
    ReadingNotInBlock {
        /// Height of the block.
        height: u64,
        /// The meter.
        meter: DeviceId,
        /// The sequence number.
        seq: u64,
    },
    /// The output's recorded-reading list does not fit the block's transactions or header.
    #[error("the execution output does not match the block: {0}")]
    Inconsistent(String),
    /// The epoch chain given is not the one the certified block's epoch needs.
    #[error("the epoch chain given does not lead to the set of the certified block's epoch: {0}")]
    EpochChain(String),
    /// A registry record the proof needs is missing from the post-block state.
    #[error("the state after block {height} has no entry {key:?}")]
    MissingStateEntry {
        /// Height of the block.
        height: u64,
        /// The missing key.
        key: StateKey,
    },
}

impl ProofBundle {
    /// Builds the bundle for the reading at `position` in the readings tree of `block`
    /// (`0 ≤ position < block.header.readings_accepted`), a block of epoch 0 or 1 (later epochs
    /// need the epoch chain: [`ProofBundle::build_through`]).
    ///
    /// `recorded` are the `(tx index, reading index)` of the readings the block recorded, in tree
    /// order (from its receipts), `state` any state of the chain whose store holds the block's
    /// height (the registry of every height is kept: a node's finalized state serves proofs of any
    /// block), and `finalization` the block's finalization certificate. The state proofs are of
    /// the registry as of the block, against the roots its header commits to.
    pub fn build(
        genesis: &Genesis,
        block: &Block,
        recorded: &[(u32, u32)],
        state: &impl ProofSource,
        finalization: &impl Encode,
        position: usize,
    ) -> Result<ProofBundle, BuildError> {
        Self::build_through(genesis, block, recorded, state, &[], finalization, Vec::new(), position)
    }

    /// [`ProofBundle::build`] for any block: `descendants` are the headers of the blocks after it,
    /// in height order, when it has no certificate of its own, and `finalization` certifies the
    /// last of them (with no descendants, the block itself); `epochs` is the epoch chain to the
    /// certified block's epoch ([`EpochLink::chain`]; empty for epochs 0 and 1), checked here.
    #[allow(clippy::too_many_arguments)]
    pub fn build_through(
        genesis: &Genesis,
        block: &Block,
        recorded: &[(u32, u32)],
        state: &impl ProofSource,
        descendants: &[BlockHeader],
        finalization: &impl Encode,
        epochs: Vec<EpochLink>,
        position: usize,
    ) -> Result<ProofBundle, BuildError> {
        let header = &block.header;
        let alg = genesis.params.hash;
        let digest = block_digest(alg, header);
        let broken = |reason: String| BuildError::BrokenDescendants { height: header.height, reason };
        if descendants.len() > MAX_DESCENDANTS {
            return Err(broken(format!("{} headers, at most {MAX_DESCENDANTS}", descendants.len())));
        }
        let mut tip = (header.height, digest);
        for d in descendants {
            if d.height != tip.0 + 1 || d.parent != tip.1 || d.chain_id != header.chain_id {
                return Err(broken(format!("header {} is not the child of block {} ({})", d.height, tip.0, tip.1)));
            }
            tip = (d.height, block_digest(alg, d));
        }
        if header.chain_id != genesis.chain_id {
            return Err(BuildError::ChainMismatch {
                block: header.chain_id.clone(),
                genesis: genesis.chain_id.clone(),
            });
        }
        let state_roots = state
            .roots_at(header.height)
            .filter(|r| r.state_root(alg) == header.state_root)
            .ok_or(BuildError::RootsMismatch { block: digest, block_height: header.height })?;
        let finalization = finalization.encode();
        let certified = certified_payload(&finalization)
            .ok_or_else(|| BuildError::Inconsistent("the finalization certificate does not decode".into()))?;
        if certified != tip.1 {
            return Err(BuildError::FinalizationMismatch { certified, block: tip.1 });
        }
        let certified_height = tip.0;
        let epoch = crate::epochs::epoch_length(genesis).map(|l| certified_height / l);
        epoch
            .and_then(|e| crate::epochs::verify_epoch_chain(genesis, &epochs, e))
            .map_err(|e| BuildError::EpochChain(e.to_string()))?;
        let Some(&(t, r)) = recorded.get(position) else {
            return Err(BuildError::NoSuchPosition { height: header.height, position, recorded: recorded.len() });
        };
        let (gateway, reading) = recorded_reading(block, t, r)?;
        if recorded.len() != header.readings_accepted as usize {
            return Err(BuildError::Inconsistent(format!(
                "{} recorded readings but the header says {}",
                recorded.len(),
                header.readings_accepted
            )));
        }
        let mut leaves = Vec::with_capacity(recorded.len());
        for &(t, r) in recorded {
            leaves.push(reading_leaf(alg, recorded_reading(block, t, r)?.1));
        }
        let tree = Tree::new(alg, leaves);
        if tree.root() != header.readings_root {
            return Err(BuildError::Inconsistent(
                "the recorded readings do not hash to the header's readings root".into(),
            ));
        }
        let audit_path = tree.proof(position as u64).expect("position is below the tree size");

        let prove = |key: StateKey| {
            state.prove_at(header.height, &key).ok_or(BuildError::MissingStateEntry { height: header.height, key })
        };
        let meter_proof = prove(StateKey::Meter(reading.reading.meter.clone()))?;
        let gateway_proof = prove(StateKey::Gateway(gateway.clone()))?;

        Ok(ProofBundle {
            version: PROOF_VERSION.to_string(),
            genesis: genesis.clone(),
            header: header.clone(),
            reading: reading.clone(),
            index: position as u64,
            tree_size: recorded.len() as u64,
            audit_path,
            gateway: gateway.clone(),
            state_roots,
            meter_proof,
            gateway_proof,
            descendants: descendants.to_vec(),
            finalization: hex::encode(finalization),
            epochs,
        })
    }

    /// Builds the bundle for reading `seq` of `meter` from a finalized block, as a node's indexer
    /// or API receives it (the block, the recorded readings of its execution output, and its
    /// certificate if the node has it), proving the registry records from `state`: a state whose
    /// store holds the block's height (a node's committed state, `App::committed_state`; the
    /// event's own state may not be committed yet, the finalizer commits in groups). For a block
    /// of epoch 0 or 1 only (no epoch chain): later blocks need [`ProofBundle::build_through`].
    pub fn find(
        genesis: &Genesis,
        block: &Block,
        recorded: &[(u32, u32)],
        finalization: Option<&impl Encode>,
        state: &impl ProofSource,
        meter: &DeviceId,
        seq: u64,
    ) -> Result<ProofBundle, BuildError> {
        let height = block.header.height;
        let finalization = finalization.ok_or(BuildError::NoFinalization { height })?;
        let mut position = None;
        for (p, &(t, r)) in recorded.iter().enumerate() {
            let (_, sr) = recorded_reading(block, t, r)?;
            if &sr.reading.meter == meter && sr.reading.seq == seq {
                position = Some(p);
                break;
            }
        }
        let position = position.ok_or_else(|| BuildError::ReadingNotInBlock { height, meter: meter.clone(), seq })?;
        Self::build(genesis, block, recorded, state, finalization, position)
    }

    /// The bundle as pretty-printed JSON (a bundle read from a v3 document as a v3 document).
    pub fn to_json(&self) -> String {
        if self.version == PROOF_VERSION_V3 && self.epochs.is_empty() {
            let b = self.clone();
            let v3 = ProofBundleV3 {
                version: b.version,
                genesis: b.genesis,
                header: b.header,
                reading: b.reading,
                index: b.index,
                tree_size: b.tree_size,
                audit_path: b.audit_path,
                gateway: b.gateway,
                state_roots: b.state_roots,
                meter_proof: b.meter_proof,
                gateway_proof: b.gateway_proof,
                descendants: b.descendants,
                finalization: b.finalization,
            };
            return serde_json::to_string_pretty(&v3).expect("a proof bundle always serializes");
        }
        serde_json::to_string_pretty(self).expect("a proof bundle always serializes")
    }

    /// Parses a bundle from JSON, strictly: an unknown, missing or duplicate field at any level is
    /// an error naming it and its path ([`crate::strict`]). Parsing checks the shape only; call
    /// [`crate::verify()`] to check the proof.
    /// A `trustmeter-proof/v3` document (no `epochs`) is read as a bundle of that version with no
    /// links.
    pub fn from_json(json: &str) -> Result<ProofBundle, serde_json::Error> {
        let is_v3 = serde_json::from_str::<VersionOnly>(json).is_ok_and(|v| v.version == PROOF_VERSION_V3);
        if !is_v3 {
            return crate::strict::parse(json);
        }
        let b: ProofBundleV3 = crate::strict::parse(json)?;
        Ok(ProofBundle {
            version: b.version,
            genesis: b.genesis,
            header: b.header,
            reading: b.reading,
            index: b.index,
            tree_size: b.tree_size,
            audit_path: b.audit_path,
            gateway: b.gateway,
            state_roots: b.state_roots,
            meter_proof: b.meter_proof,
            gateway_proof: b.gateway_proof,
            descendants: b.descendants,
            finalization: b.finalization,
            epochs: Vec::new(),
        })
    }

    /// Checks this bundle; see [`crate::verify()`].
    pub fn verify(&self, trusted_genesis: Option<&Genesis>) -> Result<crate::VerifiedReading, crate::VerifyError> {
        crate::verify(self, trusted_genesis)
    }
}

/// The `version` field of a document, whatever else it holds.
#[derive(Deserialize)]
struct VersionOnly {
    version: String,
}

/// The gateway and the signed reading at `(tx index, reading index)` of a block.
fn recorded_reading(block: &Block, t: u32, r: u32) -> Result<(&DeviceId, &SignedReading), BuildError> {
    let tx = block.txs.get(t as usize).ok_or_else(|| {
        BuildError::Inconsistent(format!(
            "recorded reading names transaction {t}, but the block has {}",
            block.txs.len()
        ))
    })?;
    match &tx.body.payload {
        TxPayload::SubmitReadings { gateway, readings } => readings
            .get(r as usize)
            .map(|sr| (gateway, sr))
            .ok_or_else(|| BuildError::Inconsistent(format!("transaction {t} has no reading {r}"))),
        other => Err(BuildError::Inconsistent(format!(
            "recorded reading names transaction {t}, which is a {} transaction",
            other.kind()
        ))),
    }
}
