//! The *epoch chain*: how an offline verifier who trusts only a chain's genesis learns the
//! validator set that finalized a block of a later epoch (docs/proof-format.md §14).
//!
//! The chain's validators change by epoch (DPoS, `ChainParams.economy.staking`): epoch `e` is the
//! heights `[e·L, (e+1)·L − 1]`, the genesis fixes the sets of epochs 0 and 1, and the last block
//! of epoch `e` (its *boundary block*, `last(e)`) writes the set of epoch `e + 2` into the registry
//! tree (`StateKey::ValidatorSet(e + 2)`). The boundary block `last(e)` is finalized by epoch `e`'s
//! set, and the registry tree keeps every entry it ever held, so `ValidatorSet(e + 1)` (written at
//! `last(e − 1)`) is provable against `last(e)`'s state root.
//!
//! An [`EpochLink`] for epoch `k ≥ 2` carries the boundary header `last(k − 1)`, its finalization
//! certificate (checked against the set of `k − 1`) and the state proof of `ValidatorSet(k)`
//! against that header's state root. [`verify_epoch_chain`] follows the links from the genesis set
//! to the set of the epoch asked for; [`EpochLink::chain`] builds them from a node's state and
//! finalized blocks.
//!
//! Epoch 1 needs no link: its set is the genesis set (the genesis writes sets 0 and 1), so a
//! block of epoch 0 or 1 is checked against the genesis validators directly and its chain is
//! empty. A chain for epoch `E ≥ 2` has exactly `E − 1` links, for epochs `2 ..= E` in order.

use crate::consensus::{Finalization, consensus_namespace};
use crate::verify::{VerifyError, check_certificate, key_text};
use commonware_cryptography::ed25519;
use commonware_utils::TryCollect;
use commonware_utils::ordered::Set;
use serde::{Deserialize, Serialize};
use trustmeter_crypto::{HashAlg, block_digest};
use trustmeter_schema::{ProofSource, StateKey, StateProof, StateRoots, StateValue, ValidatorSet};
use trustmeter_types::economy::MIN_EPOCH_LENGTH;
use trustmeter_types::{BlockHeader, Genesis, KeyScheme};

/// The most links a verifier follows (65 536 epochs: 179 years of daily epochs). A chain longer
/// than the certified block's epoch requires is refused before any of it is checked, whatever
/// this cap.
pub const MAX_EPOCH_LINKS: usize = 1 << 16;

/// One step of the epoch chain: the set of epoch `epoch`, proven in the state after the boundary
/// block `last(epoch − 1)`, which the set of `epoch − 1` finalized.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochLink {
    /// The epoch whose validator set this link proves (`k ≥ 2`).
    pub epoch: u64,
    /// The header of the boundary block `last(k − 1)`, at height `k·L − 1`.
    pub boundary: BlockHeader,
    /// The boundary block's own finalization certificate, by the set of epoch `k − 1`: lowercase
    /// hex of its Commonware codec encoding.
    pub finalization: String,
    /// The roots of the two state trees after the boundary block; they hash to its `state_root`.
    pub state_roots: StateRoots,
    /// The registry-tree entry `ValidatorSet(k)` and its siblings.
    pub set: StateProof,
}

/// A validator set a certificate is checked against: its epoch, its keys in signer order (sorted
/// by key bytes) and their names (for error messages).
#[derive(Clone, Debug)]
pub struct Committee {
    /// The epoch this set signs.
    pub epoch: u64,
    /// The consensus keys, in ascending byte order: signer index `i` is `keys[i]`.
    pub keys: Set<ed25519::PublicKey>,
    /// The validators' names, in the order of `keys`.
    pub names: Vec<String>,
}

impl Committee {
    /// The genesis validators: the set of epochs 0 and 1.
    pub fn genesis(genesis: &Genesis) -> Result<Committee, VerifyError> {
        let keys = crate::consensus::validator_set(genesis).map_err(VerifyError::BadValidatorSet)?;
        let names = keys
            .iter()
            .map(|k| {
                let hex_key = hex::encode(k.as_ref());
                genesis
                    .validators
                    .iter()
                    .find(|v| v.consensus_key.eq_ignore_ascii_case(&hex_key))
                    .map(|v| v.name.clone())
                    .unwrap_or_default()
            })
            .collect();
        Ok(Committee { epoch: 0, keys, names })
    }

    /// The committee of an elected set (`ValidatorSet` entry of epoch `set.epoch`), refused
    /// unless it has 1 to `max` members with distinct Ed25519 keys in ascending byte order.
    pub fn elected(set: &ValidatorSet, max: usize) -> Result<Committee, String> {
        if set.members.is_empty() || set.members.len() > max {
            return Err(format!("{} members, the chain seats 1 to {max}", set.members.len()));
        }
        if set.members.windows(2).any(|w| w[0].consensus_key.bytes >= w[1].consensus_key.bytes) {
            return Err("the members are not in ascending, distinct key order".into());
        }
        let keys: Vec<ed25519::PublicKey> = set
            .members
            .iter()
            .map(|m| {
                if m.consensus_key.scheme != KeyScheme::Ed25519 {
                    return Err(format!(
                        "member {} has a {:?} key; consensus keys are Ed25519",
                        m.name, m.consensus_key.scheme
                    ));
                }
                ed25519::PublicKey::try_from(m.consensus_key.bytes.as_slice())
                    .map_err(|e| format!("member {} key is not an Ed25519 key: {e:?}", m.name))
            })
            .collect::<Result<_, _>>()?;
        let keys: Set<ed25519::PublicKey> =
            keys.into_iter().try_collect().map_err(|_| "the members' keys are not distinct".to_string())?;
        // `Set` orders keys as the members are ordered (by bytes); the names follow.
        let names = set.members.iter().map(|m| m.name.clone()).collect();
        Ok(Committee { epoch: set.epoch, keys, names })
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty (never, for a usable committee).
    pub fn is_empty(&self) -> bool {
        self.keys.len() == 0
    }
}

/// The epoch length `L` of a genesis, refused if below the chain's minimum (an untrusted genesis
/// could name 0).
pub fn epoch_length(genesis: &Genesis) -> Result<u64, VerifyError> {
    let l = genesis.params.economy.staking.epoch_length;
    if l < MIN_EPOCH_LENGTH {
        return Err(VerifyError::BadValidatorSet(format!(
            "the genesis says epochs are {l} blocks long, at least {MIN_EPOCH_LENGTH} are required"
        )));
    }
    Ok(l)
}

/// The number of links a chain to `epoch` has: `epoch − 1` from epoch 2 on, none before.
pub fn links_needed(epoch: u64) -> u64 {
    epoch.saturating_sub(1)
}

/// The most members an elected set may have: the chain's seats, or the genesis set's size if
/// larger (a set too small to elect carries over the previous one).
fn max_members(genesis: &Genesis) -> usize {
    (genesis.params.economy.staking.validators as usize).max(genesis.validators.len())
}

/// Follows `links` from the genesis set to the set of `epoch`, checking each (docs/proof-format.md
/// §14): exactly `links_needed(epoch)` links, for epochs `2 ..= epoch` in order; each boundary
/// header is of the genesis's chain, at height `last(k − 1)` and in epoch `k − 1`, finalized by
/// the set of `k − 1`, and proves `ValidatorSet(k)` in its registry tree. Returns the set of
/// `epoch`. The genesis's validator set is assumed checked (`Committee::genesis`).
pub fn verify_epoch_chain(genesis: &Genesis, links: &[EpochLink], epoch: u64) -> Result<Committee, VerifyError> {
    let needed = links_needed(epoch);
    if links.len() as u64 != needed || links.len() > MAX_EPOCH_LINKS {
        return Err(VerifyError::EpochChainLength { links: links.len(), needed, epoch, max: MAX_EPOCH_LINKS });
    }
    let mut committee = Committee::genesis(genesis)?;
    committee.epoch = epoch.min(1);
    follow(genesis, committee, links, 2, None)
}

/// Validator sets a verifier has already followed from the genesis, by epoch: a gateway or a
/// client that checks many proofs of one chain keeps one, asks nodes only for the links after
/// [`KnownSets::highest`] (`?epochs_from=`) and checks only those
/// ([`verify_epoch_chain_known`]). It holds nothing a node said that was not checked link by link
/// from the genesis, so a node can only leave links out, which then fail. At most
/// [`MAX_KNOWN_SETS`] sets (the oldest are forgotten first; a proof of an epoch before them then
/// needs its full chain). Keep one per genesis.
#[derive(Clone, Debug, Default)]
pub struct KnownSets {
    sets: std::collections::BTreeMap<u64, Committee>,
}

/// Sets a [`KnownSets`] holds at most (a year of daily epochs, ~4 KB each with 100 members).
pub const MAX_KNOWN_SETS: usize = 4_096;

impl KnownSets {
    /// None known yet (the genesis sets, of epochs 0 and 1, are always known).
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest epoch whose set is known beyond the genesis's (none: ask for whole chains).
    pub fn highest(&self) -> Option<u64> {
        self.sets.keys().next_back().copied()
    }

    /// The set of `epoch`, if known.
    pub fn get(&self, epoch: u64) -> Option<&Committee> {
        self.sets.get(&epoch)
    }

    /// Sets known.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether none is known beyond the genesis's.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    fn insert(&mut self, c: Committee) {
        self.sets.insert(c.epoch, c);
        while self.sets.len() > MAX_KNOWN_SETS {
            self.sets.pop_first();
        }
    }
}

/// [`verify_epoch_chain`] with sets already followed: `links` may start at any epoch `f ≥ 2`
/// whose previous set, of `f − 1`, is the genesis's or in `known`, and must then run without a gap
/// to `epoch`; with no links, the set of `epoch` must be known. Every set a link proves is added
/// to `known`.
pub fn verify_epoch_chain_known(
    genesis: &Genesis,
    links: &[EpochLink],
    epoch: u64,
    known: &mut KnownSets,
) -> Result<Committee, VerifyError> {
    let mut genesis_set = Committee::genesis(genesis)?;
    let Some(first) = links.first().map(|l| l.epoch) else {
        if epoch <= 1 {
            genesis_set.epoch = epoch;
            return Ok(genesis_set);
        }
        return known.get(epoch).cloned().ok_or(VerifyError::EpochChainStart {
            first: None,
            epoch,
            known: known.highest(),
        });
    };
    let start = match first {
        2 => {
            genesis_set.epoch = 1; // epoch 1's set, the genesis's, signs the boundary of epoch 1
            Some(genesis_set)
        }
        f if f > 2 => known.get(f - 1).cloned(),
        _ => None,
    };
    let Some(start) = start else {
        return Err(VerifyError::EpochChainStart { first: Some(first), epoch, known: known.highest() });
    };
    if links.len() as u64 != epoch.saturating_add(1).saturating_sub(first) || links.len() > MAX_EPOCH_LINKS {
        return Err(VerifyError::EpochChainLength {
            links: links.len(),
            needed: epoch.saturating_add(1).saturating_sub(first),
            epoch,
            max: MAX_EPOCH_LINKS,
        });
    }
    follow(genesis, start, links, first, Some(known))
}

/// Follows `links`, the first of epoch `first`, from `committee` (the set of `first − 1`); adds
/// each proven set to `known`.
fn follow(
    genesis: &Genesis,
    mut committee: Committee,
    links: &[EpochLink],
    first: u64,
    mut known: Option<&mut KnownSets>,
) -> Result<Committee, VerifyError> {
    let l = epoch_length(genesis)?;
    let alg: HashAlg = genesis.params.hash;
    let namespace = consensus_namespace(genesis);
    let max = max_members(genesis);
    for (index, link) in links.iter().enumerate() {
        let k = index as u64 + first;
        if link.epoch != k {
            return Err(VerifyError::EpochLinkOutOfOrder { index, found: link.epoch, expected: k });
        }
        let b = &link.boundary;
        let boundary_height = k.checked_mul(l).map(|h| h - 1);
        let wrong = |reason: String| VerifyError::EpochBoundaryWrong { epoch: k, reason };
        if b.chain_id != genesis.chain_id {
            return Err(wrong(format!(
                "its header is of chain {:?}, not {:?}",
                b.chain_id.as_str(),
                genesis.chain_id.as_str()
            )));
        }
        if Some(b.height) != boundary_height || b.epoch != k - 1 {
            return Err(wrong(format!(
                "its header is at height {} of epoch {}, but the boundary of epoch {} is height {} (epochs of {l} blocks)",
                b.height,
                b.epoch,
                k - 1,
                boundary_height.map_or("beyond u64".into(), |h| h.to_string())
            )));
        }
        let digest = block_digest(alg, b);
        let bytes = hex::decode(&link.finalization).map_err(|e| VerifyError::EpochBoundaryNotFinal {
            epoch: k,
            reason: Box::new(VerifyError::FinalizationNotHex(e.to_string())),
        })?;
        check_certificate(&bytes, &namespace, &committee, b, &digest, true)
            .map_err(|e| VerifyError::EpochBoundaryNotFinal { epoch: k, reason: Box::new(e) })?;
        // The set of epoch k, in the state after the boundary.
        let set_wrong = |reason: String| VerifyError::EpochSetProofInvalid { epoch: k, reason };
        let computed = link.state_roots.state_root(alg);
        if computed != b.state_root {
            return Err(set_wrong(format!(
                "the link's registry and activity roots hash to {computed}, not to the boundary header's state root {}",
                b.state_root
            )));
        }
        let key = StateKey::ValidatorSet(k);
        if link.set.entry.key != key {
            return Err(set_wrong(format!(
                "the proof is for key {}, not {}",
                key_text(&link.set.entry.key),
                key_text(&key)
            )));
        }
        let StateValue::ValidatorSet(set) = &link.set.entry.value else {
            return Err(set_wrong("the proven entry is not a validator set".into()));
        };
        if set.epoch != k {
            return Err(set_wrong(format!("the proven set says it is epoch {}'s", set.epoch)));
        }
        if !link.set.verify(alg, &link.state_roots) {
            return Err(set_wrong(format!(
                "the entry ({} siblings) does not hash up to the registry root {}; the set, its path or the root was altered",
                link.set.siblings.len(),
                link.state_roots.registry
            )));
        }
        committee =
            Committee::elected(set, max).map_err(|reason| VerifyError::EpochSetUnusable { epoch: k, reason })?;
        if let Some(known) = known.as_deref_mut() {
            known.insert(committee.clone());
        }
    }
    Ok(committee)
}

/// Why an epoch chain could not be built from a node's data.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum EpochChainBuildError {
    /// The node has no header or no certificate of a boundary block.
    #[error(
        "the boundary block of epoch {epoch} (height {height}) or its own finalization certificate is not available"
    )]
    MissingBoundary {
        /// The epoch the boundary ends.
        epoch: u64,
        /// Its height.
        height: u64,
    },
    /// The state store has no roots for the boundary's height that match its header, or no set.
    #[error("the state store cannot prove the validator set of epoch {epoch} after block {height}")]
    NotProvable {
        /// The epoch whose set is needed.
        epoch: u64,
        /// The boundary's height.
        height: u64,
    },
    /// The genesis's epoch length is unusable, or the epoch is beyond [`MAX_EPOCH_LINKS`].
    #[error("no epoch chain to epoch {epoch}: {reason}")]
    Unusable {
        /// The epoch asked for.
        epoch: u64,
        /// Why.
        reason: String,
    },
    /// What was built does not verify (the node's data is inconsistent).
    #[error("the epoch chain built does not verify: {0}")]
    DoesNotVerify(String),
}

impl EpochLink {
    /// The links from the genesis to `epoch` (none for epochs 0 and 1), from `state` (any state of
    /// the chain whose store keeps the registry tree's history: a node's committed state) and
    /// `boundary(height)`, which returns the finalized header at `height` and its own finalization
    /// certificate (Commonware encoding), as a node's index holds them. The chain built is
    /// verified before it is returned.
    pub fn chain(
        genesis: &Genesis,
        state: &impl ProofSource,
        epoch: u64,
        boundary: impl FnMut(u64) -> Option<(BlockHeader, Vec<u8>)>,
    ) -> Result<Vec<EpochLink>, EpochChainBuildError> {
        Self::chain_after(genesis, state, 1, epoch, boundary)
    }

    /// The links of [`EpochLink::chain`] after epoch `after` only (for a verifier that knows the
    /// sets up to `after`: [`KnownSets`]); the whole chain when `after ≤ 1`, none when
    /// `after ≥ epoch`. Checked before they are returned, from the set of `after` as `state`
    /// holds it.
    pub fn chain_after(
        genesis: &Genesis,
        state: &impl ProofSource,
        after: u64,
        epoch: u64,
        mut boundary: impl FnMut(u64) -> Option<(BlockHeader, Vec<u8>)>,
    ) -> Result<Vec<EpochLink>, EpochChainBuildError> {
        let unusable = |reason: String| EpochChainBuildError::Unusable { epoch, reason };
        let l = epoch_length(genesis).map_err(|e| unusable(e.to_string()))?;
        let first = after.max(1).saturating_add(1);
        let needed = (epoch + 1).saturating_sub(first);
        if needed > MAX_EPOCH_LINKS as u64 {
            return Err(unusable(format!("{needed} links, a verifier follows at most {MAX_EPOCH_LINKS}")));
        }
        let alg = genesis.params.hash;
        let mut links = Vec::with_capacity(needed as usize);
        for k in first..=epoch {
            let height = k.checked_mul(l).ok_or_else(|| unusable("heights beyond u64".into()))? - 1;
            let (header, fin) =
                boundary(height).ok_or(EpochChainBuildError::MissingBoundary { epoch: k - 1, height })?;
            let not_provable = EpochChainBuildError::NotProvable { epoch: k, height };
            let state_roots = state
                .roots_at(height)
                .filter(|r| r.state_root(alg) == header.state_root)
                .ok_or(not_provable.clone())?;
            let set = state.prove_at(height, &StateKey::ValidatorSet(k)).ok_or(not_provable)?;
            links.push(EpochLink { epoch: k, boundary: header, finalization: hex::encode(fin), state_roots, set });
        }
        let does_not_verify = |e: VerifyError| EpochChainBuildError::DoesNotVerify(e.to_string());
        if first == 2 {
            verify_epoch_chain(genesis, &links, epoch).map_err(does_not_verify)?;
        } else if !links.is_empty() {
            // The set of `after`, as the state after its boundary holds it.
            let height = after.checked_mul(l).ok_or_else(|| unusable("heights beyond u64".into()))? - 1;
            let not_provable = EpochChainBuildError::NotProvable { epoch: after, height };
            let p = state.prove_at(height, &StateKey::ValidatorSet(after)).ok_or(not_provable)?;
            let StateValue::ValidatorSet(set) = &p.entry.value else {
                return Err(unusable(format!("the state holds no validator set of epoch {after}")));
            };
            let start = Committee::elected(set, max_members(genesis)).map_err(unusable)?;
            follow(genesis, start, &links, first, None).map_err(does_not_verify)?;
        }
        Ok(links)
    }
}

/// Decodes and checks a finalization certificate of `header` (digest `digest`) against the set of
/// its epoch, following `links` from `genesis` (the shared last step of every proof's finality
/// check). `header` must be in the epoch its height says (`header.epoch = height / L`).
pub fn verify_certified(
    genesis: &Genesis,
    links: &[EpochLink],
    header: &BlockHeader,
    digest: &trustmeter_types::Hash32,
    finalization_hex: &str,
) -> Result<(Finalization, Committee), VerifyError> {
    certified_with(genesis, links, header, digest, finalization_hex, None)
}

/// [`verify_certified`] with sets already followed ([`verify_epoch_chain_known`]).
pub fn verify_certified_known(
    genesis: &Genesis,
    links: &[EpochLink],
    header: &BlockHeader,
    digest: &trustmeter_types::Hash32,
    finalization_hex: &str,
    known: &mut KnownSets,
) -> Result<(Finalization, Committee), VerifyError> {
    certified_with(genesis, links, header, digest, finalization_hex, Some(known))
}

fn certified_with(
    genesis: &Genesis,
    links: &[EpochLink],
    header: &BlockHeader,
    digest: &trustmeter_types::Hash32,
    finalization_hex: &str,
    known: Option<&mut KnownSets>,
) -> Result<(Finalization, Committee), VerifyError> {
    let l = epoch_length(genesis)?;
    let epoch = header.height / l;
    if header.epoch != epoch {
        return Err(VerifyError::HeaderEpochMismatch { height: header.height, header_epoch: header.epoch, epoch });
    }
    let committee = match known {
        Some(known) => verify_epoch_chain_known(genesis, links, epoch, known)?,
        None => verify_epoch_chain(genesis, links, epoch)?,
    };
    let bytes = hex::decode(finalization_hex).map_err(|e| VerifyError::FinalizationNotHex(e.to_string()))?;
    let fin = check_certificate(
        &bytes,
        &consensus_namespace(genesis),
        &committee,
        header,
        digest,
        header.height % l == l - 1,
    )?;
    Ok((fin, committee))
}
