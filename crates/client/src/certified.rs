//! Proofs a client acts on without trusting the node that served them: a transaction's receipt
//! ([`ReceiptProof`]) and registry entries or their absence ([`StateProofs`]), each under a block
//! header that a quorum of the genesis validators finalized ([`CertifiedHeader`]).
//!
//! A gateway settles a batch of readings only on a [`ReceiptProof`] of its transaction that
//! [`verify_receipt`] accepts, and pre-applies only an audit policy and meter records that
//! [`verify_state`] accepts: a node that claims a block is final, tampers with a receipt or serves
//! a policy the chain never deployed is caught here, and the gateway keeps its readings.
//!
//! What a proof cannot show is *freshness*: a node may serve an older certified header than its
//! latest. [`VerifiedState::height`] says how old; callers compare it with the newest height they
//! have verified (a gateway refuses state older than its last verified receipt).

use crate::consensus::validator_set;
use crate::epochs::KnownSets;
use crate::verify::{VerifyError, check_descendants, check_roots, key_text};
use serde::{Deserialize, Serialize};
use trustmeter_crypto::merkle::{leaf_hash, verify_inclusion};
use trustmeter_crypto::{HashAlg, block_digest};
use trustmeter_schema::{AbsenceProof, StateEntry, StateProof, StateRoots};
pub use trustmeter_schema::{PolicyRecord, StateKey, StateValue};
use trustmeter_types::{BlockHeader, Genesis, Hash32, Receipt, encode};

/// The value of [`ReceiptProof::version`].
pub const RECEIPT_PROOF_VERSION: &str = "trustmeter-receipt-proof/v2";
/// The value of [`StateProofs::version`].
pub const STATE_PROOFS_VERSION: &str = "trustmeter-state-proofs/v2";
/// Most entries and absences one [`StateProofs`] document may carry; a verifier refuses more.
pub const MAX_STATE_PROOFS: usize = 64;

/// A block header and what makes it final: the headers of its descendants up to a certified one
/// (none when its own view was certified) and that block's finalization certificate.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertifiedHeader {
    /// The header proven final.
    pub header: BlockHeader,
    /// Headers of the blocks after it, in height order, up to the certified one (at most
    /// [`crate::MAX_DESCENDANTS`]); each names the previous one's digest as its parent.
    pub descendants: Vec<BlockHeader>,
    /// The finalization certificate of the last of `descendants` (of `header` if there are none):
    /// lowercase hex of its Commonware codec encoding.
    pub finalization: String,
    /// The validator sets from the genesis to the certified block's epoch, one finalized boundary
    /// per epoch from epoch 2 on (docs/proof-format.md §14); empty in epochs 0 and 1.
    pub epochs: Vec<crate::EpochLink>,
}

/// What a verified [`CertifiedHeader`] establishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalHeader {
    /// Height of the header.
    pub height: u64,
    /// Its digest.
    pub digest: Hash32,
    /// Its timestamp (Unix ms).
    pub timestamp_ms: i64,
    /// Height of the block the certificate is for (`height` or a descendant's).
    pub certified_height: u64,
    /// Signatures in the certificate.
    pub signatures: usize,
}

impl CertifiedHeader {
    /// Checks that a quorum of `genesis`'s validators finalized the header (directly or through
    /// its descendants) and that it is a header of `genesis`'s chain.
    pub fn verify(&self, genesis: &Genesis) -> Result<FinalHeader, VerifyError> {
        self.verify_with(genesis, None)
    }

    /// [`CertifiedHeader::verify`] with validator sets already followed: the proof's epoch links
    /// may start after the last set `known` holds (`crate::epochs::verify_epoch_chain_known`).
    pub fn verify_known(&self, genesis: &Genesis, known: &mut KnownSets) -> Result<FinalHeader, VerifyError> {
        self.verify_with(genesis, Some(known))
    }

    fn verify_with(&self, genesis: &Genesis, known: Option<&mut KnownSets>) -> Result<FinalHeader, VerifyError> {
        validator_set(genesis).map_err(VerifyError::BadValidatorSet)?;
        if self.header.chain_id != genesis.chain_id {
            return Err(VerifyError::ChainMismatch {
                header: self.header.chain_id.clone(),
                genesis: genesis.chain_id.clone(),
            });
        }
        let alg = genesis.params.hash;
        let digest = block_digest(alg, &self.header);
        let (certified, certified_digest) = check_descendants(alg, &self.header, digest, &self.descendants)?;
        let (fin, _) = match known {
            Some(known) => crate::epochs::verify_certified_known(
                genesis,
                &self.epochs,
                certified,
                &certified_digest,
                &self.finalization,
                known,
            )?,
            None => crate::epochs::verify_certified(
                genesis,
                &self.epochs,
                certified,
                &certified_digest,
                &self.finalization,
            )?,
        };
        Ok(FinalHeader {
            height: self.header.height,
            digest,
            timestamp_ms: self.header.timestamp_ms,
            certified_height: certified.height,
            signatures: fin.certificate.signers.count(),
        })
    }
}

/// The receipt of one transaction, in the receipts tree of a finalized block.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptProof {
    /// Always [`RECEIPT_PROOF_VERSION`].
    pub version: String,
    /// The block that included the transaction, proven final.
    pub block: CertifiedHeader,
    /// The transaction's receipt, as execution made it.
    pub receipt: Receipt,
    /// Position of the transaction in the block (and of its receipt in the receipts tree).
    pub index: u64,
    /// Leaves of the receipts tree: the block's `tx_count`.
    pub tree_size: u64,
    /// RFC 9162 audit path of the receipt's leaf (`leaf_hash(borsh(receipt))`), bottom-up.
    pub audit_path: Vec<Hash32>,
}

/// A verified receipt: what the chain did with a transaction, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// The finalized block that included the transaction.
    pub block: FinalHeader,
    /// Position of the transaction in that block.
    pub index: u64,
    /// The receipt.
    pub receipt: Receipt,
}

/// Checks a receipt proof for transaction `tx_hash` against a trusted `genesis`: the receipt names
/// that transaction, is in the receipts tree the header commits to, and the header is final.
pub fn verify_receipt(
    proof: &ReceiptProof,
    genesis: &Genesis,
    tx_hash: &Hash32,
) -> Result<VerifiedReceipt, VerifyError> {
    receipt_with(proof, genesis, tx_hash, None)
}

/// [`verify_receipt`] with validator sets already followed ([`CertifiedHeader::verify_known`]).
pub fn verify_receipt_known(
    proof: &ReceiptProof,
    genesis: &Genesis,
    tx_hash: &Hash32,
    known: &mut KnownSets,
) -> Result<VerifiedReceipt, VerifyError> {
    receipt_with(proof, genesis, tx_hash, Some(known))
}

fn receipt_with(
    proof: &ReceiptProof,
    genesis: &Genesis,
    tx_hash: &Hash32,
    known: Option<&mut KnownSets>,
) -> Result<VerifiedReceipt, VerifyError> {
    if proof.version != RECEIPT_PROOF_VERSION {
        return Err(VerifyError::UnsupportedVersion { found: proof.version.clone(), expected: RECEIPT_PROOF_VERSION });
    }
    if &proof.receipt.tx_hash != tx_hash {
        return Err(VerifyError::ReceiptForOtherTx { expected: *tx_hash, found: proof.receipt.tx_hash });
    }
    let header = &proof.block.header;
    if proof.tree_size != u64::from(header.tx_count) {
        return Err(VerifyError::ReceiptTreeSize { tree_size: proof.tree_size, tx_count: header.tx_count });
    }
    let alg = genesis.params.hash;
    let leaf = leaf_hash(alg, &encode(&proof.receipt));
    if !verify_inclusion(alg, &leaf, proof.index, proof.tree_size, &proof.audit_path, &header.receipts_root) {
        return Err(VerifyError::ReceiptNotIncluded {
            index: proof.index,
            tree_size: proof.tree_size,
            receipts_root: header.receipts_root,
        });
    }
    let block = proof.block.verify_with(genesis, known)?;
    Ok(VerifiedReceipt { block, index: proof.index, receipt: proof.receipt.clone() })
}

/// Registry entries and absences under one finalized header: proofs against the state roots the
/// header commits to.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateProofs {
    /// Always [`STATE_PROOFS_VERSION`].
    pub version: String,
    /// The block whose post-state is proven, proven final.
    pub block: CertifiedHeader,
    /// The roots of the two state trees after the block; they hash to its `state_root`.
    pub state_roots: StateRoots,
    /// Entries proven present.
    pub entries: Vec<StateProof>,
    /// Keys proven absent.
    pub absent: Vec<AbsenceProof>,
}

/// What a verified [`StateProofs`] establishes: these entries, and no entry under these keys,
/// after the block at `block.height`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedState {
    /// The finalized block whose post-state was proven.
    pub block: FinalHeader,
    /// The entries.
    pub entries: Vec<StateEntry>,
    /// The keys with no entry.
    pub absent: Vec<StateKey>,
}

impl VerifiedState {
    /// `Some(Some(value))` if `key` was proven present, `Some(None)` if proven absent, `None` if
    /// the document says nothing of it.
    pub fn lookup(&self, key: &StateKey) -> Option<Option<&StateValue>> {
        if let Some(e) = self.entries.iter().find(|e| &e.key == key) {
            return Some(Some(&e.value));
        }
        self.absent.iter().any(|k| k == key).then_some(None)
    }

    /// The audit policy versions this proves complete: the version in force for the block after
    /// the proven one, and every later (pending) version, in version order. The document must
    /// prove versions `a ..= b` contiguously with `a` in force (its effective height has come) and
    /// `b + 1` absent; anything else is refused, so a node cannot hide a version or pass off a
    /// superseded one as in force.
    pub fn policies(&self) -> Result<Vec<PolicyRecord>, VerifyError> {
        let mut records: Vec<PolicyRecord> = self
            .entries
            .iter()
            .filter_map(|e| match (&e.key, &e.value) {
                (StateKey::Policy(v), StateValue::Policy(p)) if *v == p.version => Some(p.clone()),
                _ => None,
            })
            .collect();
        records.sort_by_key(|p| p.version);
        let incomplete = |reason: String| VerifyError::PolicySetIncomplete { reason };
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Err(incomplete("no policy version is proven".into()));
        };
        if records.windows(2).any(|w| w[1].version != w[0].version + 1) {
            return Err(incomplete("the versions proven are not contiguous".into()));
        }
        let next = last.version.checked_add(1).ok_or_else(|| incomplete("version overflow".into()))?;
        if !self.absent.contains(&StateKey::Policy(next)) {
            return Err(incomplete(format!("version {next} is not proven absent, so later versions may be hidden")));
        }
        let upcoming = self.block.height.saturating_add(1);
        if first.effective_height > upcoming {
            return Err(incomplete(format!(
                "the oldest version proven ({}) is not in force at height {upcoming}, so the one in force is hidden",
                first.version
            )));
        }
        // The one in force is the highest whose effective height has come; drop older ones.
        let in_force = records.iter().rposition(|p| p.effective_height <= upcoming).unwrap_or(0);
        Ok(records.split_off(in_force))
    }
}

/// Checks state proofs against a trusted `genesis`: the roots hash to the header's state root,
/// every entry and absence holds against them, and the header is final.
pub fn verify_state(proofs: &StateProofs, genesis: &Genesis) -> Result<VerifiedState, VerifyError> {
    state_with(proofs, genesis, None)
}

/// [`verify_state`] with validator sets already followed ([`CertifiedHeader::verify_known`]).
pub fn verify_state_known(
    proofs: &StateProofs,
    genesis: &Genesis,
    known: &mut KnownSets,
) -> Result<VerifiedState, VerifyError> {
    state_with(proofs, genesis, Some(known))
}

fn state_with(
    proofs: &StateProofs,
    genesis: &Genesis,
    known: Option<&mut KnownSets>,
) -> Result<VerifiedState, VerifyError> {
    if proofs.version != STATE_PROOFS_VERSION {
        return Err(VerifyError::UnsupportedVersion { found: proofs.version.clone(), expected: STATE_PROOFS_VERSION });
    }
    let count = proofs.entries.len() + proofs.absent.len();
    if count > MAX_STATE_PROOFS {
        return Err(VerifyError::TooManyStateProofs { count, max: MAX_STATE_PROOFS });
    }
    let alg: HashAlg = genesis.params.hash;
    check_roots(alg, &proofs.state_roots, &proofs.block.header.state_root)?;
    for p in &proofs.entries {
        crate::verify::check_state_proof(alg, "entry", p, &p.entry.key, &proofs.state_roots)?;
    }
    for a in &proofs.absent {
        if !a.verify(alg, &proofs.state_roots) {
            return Err(VerifyError::AbsenceProofInvalid { key: key_text(&a.key) });
        }
    }
    let block = proofs.block.verify_with(genesis, known)?;
    Ok(VerifiedState {
        block,
        entries: proofs.entries.iter().map(|p| p.entry.clone()).collect(),
        absent: proofs.absent.iter().map(|a| a.key.clone()).collect(),
    })
}

/// Why a certified proof could not be built from a node's data (errors of the node's inputs,
/// never of the chain).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertifiedBuildError {
    /// The receipts given do not hash to the header's receipts root.
    #[error("the {count} receipts of block {height} do not hash to its receipts root")]
    ReceiptsMismatch {
        /// Height of the block.
        height: u64,
        /// Receipts given.
        count: usize,
    },
    /// No receipt at this position.
    #[error("block {height} has {count} transactions; there is none at position {index}")]
    NoSuchTransaction {
        /// Height of the block.
        height: u64,
        /// Position asked for.
        index: usize,
        /// Transactions in the block.
        count: usize,
    },
    /// The state store has no roots for the header's height that hash to its state root.
    #[error("the state store has no roots for height {height} that match its header")]
    RootsMismatch {
        /// Height of the block.
        height: u64,
    },
    /// A key could be proven neither present nor absent at the height (derived, or not kept).
    #[error("{key} cannot be proven present or absent after block {height}")]
    NotProvable {
        /// Height of the block.
        height: u64,
        /// The key, as text.
        key: String,
    },
    /// More keys than a verifier accepts.
    #[error("{count} keys asked for, at most {MAX_STATE_PROOFS} per document")]
    TooManyKeys {
        /// Keys asked for.
        count: usize,
    },
}

impl CertifiedHeader {
    /// A header with the descendants and the certificate that make it final.
    pub fn new(
        header: BlockHeader,
        descendants: Vec<BlockHeader>,
        finalization: &impl commonware_codec::Encode,
    ) -> Self {
        CertifiedHeader { header, descendants, finalization: hex::encode(finalization.encode()), epochs: vec![] }
    }

    /// Height of the block the certificate is for (the last descendant's, or the header's).
    pub fn certified_height(&self) -> u64 {
        self.descendants.last().map_or(self.header.height, |d| d.height)
    }
}

impl ReceiptProof {
    /// The proof of the receipt at `index` among `receipts`, all of the block's receipts in
    /// transaction order.
    pub fn build(
        alg: HashAlg,
        block: CertifiedHeader,
        receipts: &[Receipt],
        index: usize,
    ) -> Result<ReceiptProof, CertifiedBuildError> {
        let height = block.header.height;
        let leaves: Vec<Hash32> = receipts.iter().map(|r| leaf_hash(alg, &encode(r))).collect();
        let tree = trustmeter_crypto::merkle::Tree::new(alg, leaves);
        if tree.root() != block.header.receipts_root || receipts.len() != block.header.tx_count as usize {
            return Err(CertifiedBuildError::ReceiptsMismatch { height, count: receipts.len() });
        }
        let receipt = receipts.get(index).cloned().ok_or(CertifiedBuildError::NoSuchTransaction {
            height,
            index,
            count: receipts.len(),
        })?;
        let audit_path = tree.proof(index as u64).expect("index is below the tree size");
        Ok(ReceiptProof {
            version: RECEIPT_PROOF_VERSION.into(),
            block,
            receipt,
            index: index as u64,
            tree_size: receipts.len() as u64,
            audit_path,
        })
    }
}

impl StateProofs {
    /// Proves each of `keys` present or absent after the block of `block.header`, from `state`
    /// (any state of the chain whose store keeps that height's trees).
    pub fn build(
        alg: HashAlg,
        state: &impl trustmeter_schema::ProofSource,
        block: CertifiedHeader,
        keys: &[StateKey],
    ) -> Result<StateProofs, CertifiedBuildError> {
        if keys.len() > MAX_STATE_PROOFS {
            return Err(CertifiedBuildError::TooManyKeys { count: keys.len() });
        }
        let height = block.header.height;
        let state_roots = state
            .roots_at(height)
            .filter(|r| r.state_root(alg) == block.header.state_root)
            .ok_or(CertifiedBuildError::RootsMismatch { height })?;
        let (mut entries, mut absent) = (Vec::new(), Vec::new());
        for key in keys {
            if let Some(p) = state.prove_at(height, key) {
                entries.push(p);
            } else if let Some(a) = state.prove_absent_at(height, key) {
                absent.push(a);
            } else {
                return Err(CertifiedBuildError::NotProvable { height, key: key_text(key) });
            }
        }
        Ok(StateProofs { version: STATE_PROOFS_VERSION.into(), block, state_roots, entries, absent })
    }
}
