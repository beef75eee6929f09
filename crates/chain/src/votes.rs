//! Finalize votes, recorded on chain by proposers (`StakingOp::RecordVotes`): the measure of
//! each validator's participation that its rewards and its jailing for downtime are counted
//! from (`trustmeter_state::economy`).
//!
//! **What a node collects.** Every finalize vote its consensus engine accepts (peers' and its
//! own) and the signatures of every finalization certificate it sees, by block digest, for the
//! last [`MAX_BLOCKS`] blocks. A certificate holds only the quorum that formed it; votes that
//! arrive after it still count, so a validator a little slower than the others is not
//! recorded as absent.
//!
//! **What a proposer records.** When it builds the block at height `h`, the oldest block of the
//! current epoch not yet recorded, at most `h − 2` (a block's late votes have a block's time to
//! arrive) and among the ones the state lets a record name (`RECENT_BLOCKS`), for which it holds
//! a quorum of valid votes: every valid vote it holds of that block, signed with its consensus
//! key, first in its block, its nonce the block's height. In steady state each block records
//! its grandparent, so every block of an epoch but the last two is recorded.
//!
//! **Trust.** The state machine checks every vote; a proposer can leave votes out (as a Cosmos
//! proposer chooses its last commit), never add one. Proposers rotate every view, so a validator
//! left out by one is recorded by the next.
//!
//! **Cost.** Checking a record: one Ed25519 verification per vote, ≤ the set size, at the
//! proposer and at every validator executing the block. Memory: [`MAX_BLOCKS`] blocks × the set
//! size × 64 B.

use crate::app::Scheme;
use commonware_codec::Encode;
use commonware_consensus::simplex::types::{Activity, Proposal};
use commonware_cryptography::sha256;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use trustmeter_crypto::{SigningKey, sign_tx};
use trustmeter_state::State;
use trustmeter_types::economy::{FinalizeVotes, MemberVote, StakingOp, VoteKind};
use trustmeter_types::{Hash32, KeyScheme, Signature, Transaction, TxBody, TxPayload};

/// Blocks whose votes are kept at most (the oldest are forgotten first).
pub const MAX_BLOCKS: usize = 64;

/// Votes of one block.
struct Seen {
    epoch: u64,
    view: u64,
    parent_view: u64,
    votes: BTreeMap<u32, Signature>,
}

#[derive(Default)]
struct Book {
    blocks: BTreeMap<[u8; 32], Seen>,
    order: VecDeque<[u8; 32]>,
}

/// The finalize votes this node saw, and the vote record it proposes (see the module
/// documentation). Cheap to clone; clones share the votes.
#[derive(Clone)]
pub struct VoteBook {
    namespace: Arc<Vec<u8>>,
    key: SigningKey,
    book: Arc<Mutex<Book>>,
}

impl VoteBook {
    /// A book for the node whose consensus key (as an account-style key) is `key`, on the chain
    /// whose consensus namespace is `namespace`.
    pub fn new(namespace: Vec<u8>, key: SigningKey) -> Self {
        Self { namespace: Arc::new(namespace), key, book: Arc::default() }
    }

    /// Looks at one activity of the engine: keeps finalize votes and certificates' signatures.
    pub fn observe(&self, activity: &Activity<Scheme, sha256::Digest>) {
        match activity {
            Activity::Finalize(f) => {
                if let Some(sig) = f.attestation.signature.get() {
                    self.add(&f.proposal, [(f.attestation.signer.get(), sig.encode().to_vec())]);
                }
            }
            Activity::Finalization(f) => {
                let c = &f.certificate;
                let votes: Vec<(u32, Vec<u8>)> = c
                    .signers
                    .iter()
                    .zip(&c.signatures)
                    .filter_map(|(s, sig)| Some((s.get(), sig.get()?.encode().to_vec())))
                    .collect();
                self.add(&f.proposal, votes);
            }
            _ => {}
        }
    }

    fn add(&self, p: &Proposal<sha256::Digest>, votes: impl IntoIterator<Item = (u32, Vec<u8>)>) {
        let mut book = self.book.lock().expect("vote book lock");
        let digest = p.payload.0;
        if !book.blocks.contains_key(&digest) {
            book.order.push_back(digest);
            book.blocks.insert(
                digest,
                Seen {
                    epoch: p.round.epoch().get(),
                    view: p.round.view().get(),
                    parent_view: p.parent.get(),
                    votes: BTreeMap::new(),
                },
            );
            while book.order.len() > MAX_BLOCKS {
                if let Some(old) = book.order.pop_front() {
                    book.blocks.remove(&old);
                }
            }
        }
        let seen = book.blocks.get_mut(&digest).expect("just inserted");
        if (seen.epoch, seen.view, seen.parent_view) != (p.round.epoch().get(), p.round.view().get(), p.parent.get()) {
            return; // another proposal with the same payload: never the case for our blocks
        }
        for (signer, bytes) in votes {
            if let Ok(sig) = Signature::new(KeyScheme::Ed25519, bytes) {
                seen.votes.entry(signer).or_insert(sig);
            }
        }
    }

    /// The vote record the proposer of the block at `height`, built on `parent`, puts first in
    /// it, if this node is a member of the epoch's set and holds a quorum of valid votes of a
    /// block it may record.
    pub fn record(&self, parent: &State, height: u64) -> Option<Transaction> {
        let staking = &parent.params.economy.staking;
        let epoch = staking.epoch_of(height);
        let set = parent.validator_set(epoch)?;
        let me = self.key.public_key();
        if !set.members.iter().any(|m| m.consensus_key == me) {
            return None;
        }
        let activity = trustmeter_state::economy::epoch_activity(parent, epoch);
        let recorded = activity.as_ref().map_or(0, |a| a.recorded_height);
        let mut candidates: Vec<(u64, Hash32)> = activity.map(|a| a.recent).unwrap_or_default();
        if height > 0 && staking.epoch_of(height - 1) == epoch {
            candidates.push((height - 1, parent.block_digest));
        }
        let n = set.members.len();
        let quorum = n - (n - 1) / 3;
        let book = self.book.lock().expect("vote book lock");
        for (h, digest) in candidates.into_iter().filter(|(h, _)| *h > recorded && *h + 2 <= height) {
            let Some(seen) = book.blocks.get(&digest.0) else { continue };
            if seen.epoch != epoch {
                continue;
            }
            let votes: Vec<MemberVote> = seen
                .votes
                .iter()
                .filter(|(signer, sig)| {
                    set.members.get(**signer as usize).is_some_and(|m| {
                        trustmeter_client::consensus::vote_is_signed(
                            &self.namespace,
                            VoteKind::Finalize,
                            (epoch, seen.view),
                            (seen.parent_view, digest),
                            &m.consensus_key,
                            sig,
                        )
                    })
                })
                .map(|(signer, sig)| MemberVote { signer: *signer, signature: sig.clone() })
                .collect();
            if votes.len() < quorum {
                continue;
            }
            let votes =
                FinalizeVotes { height: h, view: seen.view, parent_view: seen.parent_view, payload: digest, votes };
            let body = TxBody {
                chain_id: parent.chain_id.clone(),
                sender: me,
                nonce: height,
                payload: TxPayload::Staking { op: StakingOp::RecordVotes { votes } },
            };
            return Some(sign_tx(&self.key, body));
        }
        None
    }
}
