//! State sync (状态同步): a new or wiped validator fetches the state at a peer's latest
//! certified height instead of re-executing every block since genesis.
//!
//! Every validator serves ([`serve`]) on its own p2p channel ([`crate::engine::channels::STATE_SYNC`]):
//! - a **target**: its latest finalized block that has its own finalization certificate, with
//!   that certificate; it pins its committed state at that height (at most [`MAX_PINS`] pins,
//!   each dropped after [`PIN_TTL`] without a request);
//! - **pages** of that pinned state's entries in key order ([`State::export_page`]), at most
//!   [`MAX_PAGE_ENTRIES`] entries and about [`MAX_PAGE_BYTES`] each.
//!
//! A syncing validator ([`sync`]) asks its peers in turn. It trusts nothing a peer says: the
//! target's certificate must finalize exactly that block with a quorum of the signatures of the
//! validator set of the block's epoch. A node knows the genesis sets (epochs 0 and 1); for a later
//! epoch it first asks for **epoch links** ([`EpochLink`]: each boundary block's header, its
//! finalization by its own epoch's set, and the state proof of the next set against that header),
//! and checks them one epoch after the other from the last set it knows, and the entries rebuilt into trees must give that block's state root
//! ([`State::restore`]) — or it asks the next peer. With a restored state at height `H` it starts
//! marshal and consensus from that certificate (`Start::Floor`, `Floor::Finalized`), so it fetches
//! and executes only the blocks after `H`. Replaying from genesis stays the default (a node that
//! keeps its consensus archive but lost its state store re-executes it).
//!
//! Limits, stated: each page is written to the store as it arrives, with both trees built page by
//! page ([`Restore`]), so memory does not grow with the state (beyond ~100 bytes of window tallies
//! per meter); nothing is trusted until the roots match at the end, so a lying peer costs up to
//! [`MAX_SYNC_BYTES`] of disk and the time to receive them before it is found out (the store is
//! then emptied and the next peer asked); derived entries (late-window points, key
//! uses) are in no tree: their shape is checked against the committed progress and registry,
//! their values are taken from the peer as given — a wrong one makes a later block
//! execute differently from its certified header, which stops the node instead of letting it
//! diverge; the synced node keeps registry history (historical proofs) from `H` on.

use crate::app::{App, BlockFinalization, MarshalMailbox, Scheme};
use crate::block::ChainBlock;
use crate::epochs::EpochProvider;
use borsh::{BorshDeserialize, BorshSerialize};
use commonware_codec::{Decode as _, Encode as _};
use commonware_consensus::types::Height;
use commonware_cryptography::{Digestible, ed25519};
use commonware_macros::select;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Spawner};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{debug, info, warn};
use trustmeter_state::{Restore, State, Store};
use trustmeter_types::limits::MAX_BLOCK_BYTES;
use trustmeter_types::{Block, Genesis, Hash32, decode};

/// Most entries in one page.
pub const MAX_PAGE_ENTRIES: usize = 4_096;
/// About the most bytes of entries in one page (a page holds at least one entry).
pub const MAX_PAGE_BYTES: usize = 1 << 20;
/// States pinned for syncing peers at once.
pub const MAX_PINS: usize = 2;
/// A pin unused this long is dropped.
pub const PIN_TTL: Duration = Duration::from_secs(120);
/// Most bytes of entries a sync accepts from one peer (written to disk as they arrive; a national
/// chain's state with full late windows is a few hundred GB).
pub const MAX_SYNC_BYTES: u64 = 1 << 40;
/// How long a syncing node waits for one answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Rounds over every peer before a syncing node gives up and starts from genesis.
const MAX_ROUNDS: usize = 3;

/// The state sync protocol's messages.
#[derive(Debug, BorshSerialize, BorshDeserialize)]
enum Message {
    /// Asks for the peer's sync target.
    TargetRequest { id: u64 },
    /// The target: the block (canonical encoding) and its certificate (Commonware encoding).
    Target { id: u64, block: Vec<u8>, finalization: Vec<u8> },
    /// Asks for the entries of the state at `height` after key `after`.
    PageRequest { id: u64, height: u64, after: Option<Vec<u8>> },
    /// A page of entries; `more` if others follow.
    Page { id: u64, entries: Vec<(Vec<u8>, Vec<u8>)>, more: bool },
    /// The request cannot be served (no certified tip yet, the pin expired, ...).
    Unavailable { id: u64, reason: String },
    /// Asks for the links of epochs `from`, `from + 1` … (at most [`MAX_LINKS`]).
    EpochsRequest { id: u64, from: u64 },
    /// Links of consecutive epochs from the one asked (fewer, or none, where the peer lacks one).
    Epochs { id: u64, links: Vec<EpochLink> },
}

/// What proves epoch `k + 1`'s validator set to a node that trusts epoch `k`'s: the header of
/// `last(k)` (borsh), its finalization by epoch `k`'s set (Commonware encoding), the tree roots
/// after it (JSON `StateRoots`, which hash to the header's state root) and the state proof of the
/// `ValidatorSet(k + 1)` entry against them (JSON `StateProof`).
#[derive(Debug, BorshSerialize, BorshDeserialize)]
pub struct EpochLink {
    header: Vec<u8>,
    finalization: Vec<u8>,
    roots: Vec<u8>,
    proof: Vec<u8>,
}

impl Message {
    fn id(&self) -> u64 {
        match self {
            Message::TargetRequest { id }
            | Message::Target { id, .. }
            | Message::PageRequest { id, .. }
            | Message::Page { id, .. }
            | Message::Unavailable { id, .. }
            | Message::EpochsRequest { id, .. }
            | Message::Epochs { id, .. } => *id,
        }
    }
}

/// Serves state sync to peers until the channel closes.
pub async fn serve<E, S, R>(context: E, app: App, marshal: MarshalMailbox, (mut sender, mut receiver): (S, R))
where
    E: Clock,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
{
    let mut pins: VecDeque<(SystemTime, State)> = VecDeque::new();
    while let Ok((peer, msg)) = receiver.recv().await {
        let Ok(request) = borsh::from_slice::<Message>(msg.as_ref()) else {
            debug!(?peer, "state sync message does not decode");
            continue;
        };
        let now = context.current();
        pins.retain(|(used, _)| now.duration_since(*used).unwrap_or_default() < PIN_TTL);
        let answer = match request {
            Message::TargetRequest { id } => {
                let state = app.committed_state();
                let height = state.height;
                let finalization = marshal.get_finalization(Height::new(height)).await;
                let block = marshal.get_block(Height::new(height)).await;
                match (height, finalization, block) {
                    (0, ..) => Message::Unavailable { id, reason: "nothing finalized yet".into() },
                    (_, Some(f), Some(b)) => {
                        if !pins.iter().any(|(_, s)| s.height == height) {
                            if pins.len() >= MAX_PINS {
                                pins.pop_front();
                            }
                            pins.push_back((now, state));
                        }
                        Message::Target { id, block: b.inner().encoded().to_vec(), finalization: f.encode().to_vec() }
                    }
                    _ => Message::Unavailable { id, reason: format!("no certificate stored for height {height}") },
                }
            }
            Message::PageRequest { id, height, after } => match pins.iter_mut().find(|(_, s)| s.height == height) {
                Some((used, state)) => {
                    *used = now;
                    match state.export_page(after.as_deref(), MAX_PAGE_ENTRIES, MAX_PAGE_BYTES) {
                        Ok((mut entries, more)) => {
                            if app.behaviour() == crate::app::Behaviour::LyingStateSync
                                && let Some((_, v)) = entries.first_mut()
                                && let Some(b) = v.last_mut()
                            {
                                *b ^= 1; // test-only: a peer that lies about its state
                            }
                            Message::Page { id, entries, more }
                        }
                        Err(e) => Message::Unavailable { id, reason: e.to_string() },
                    }
                }
                None => Message::Unavailable { id, reason: format!("the state at height {height} is not pinned here") },
            },
            Message::EpochsRequest { id, from } => {
                Message::Epochs { id, links: epoch_links(&app, &marshal, from).await }
            }
            _ => continue,
        };
        let bytes = borsh::to_vec(&answer).expect("encode");
        let _ = sender.send(Recipients::One(peer), bytes, false);
    }
}

/// Why a peer's sync answer was refused.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No answer in time (not connected yet, busy, or gone).
    #[error("peer {peer}: no answer within {ANSWER_TIMEOUT:?}")]
    NoAnswer {
        /// The peer.
        peer: String,
    },
    /// An unexpected answer, or the network closed.
    #[error("peer {peer}: {reason}")]
    Peer {
        /// The peer.
        peer: String,
        /// What happened.
        reason: String,
    },
    /// The target does not hold.
    #[error("peer {peer}: its sync target does not hold: {reason}")]
    BadTarget {
        /// The peer.
        peer: String,
        /// Why.
        reason: String,
    },
    /// The entries do not give the certified state.
    #[error("peer {peer}: its entries do not restore the certified state: {source}")]
    BadState {
        /// The peer.
        peer: String,
        /// Why.
        source: trustmeter_state::StateError,
    },
}

/// A state restored by sync, and the certificate consensus starts from.
pub struct Synced {
    /// The restored, committed state.
    pub state: State,
    /// The finalization of its block.
    pub finalization: BlockFinalization,
    /// Peers' answers refused on the way (a bad target, bad entries, an unexpected answer; a
    /// peer that does not answer is not counted).
    pub refused: u32,
}

/// Syncs the state into the empty `store` from the validators of the sets `sets` knows, each
/// tried in turn for [`MAX_ROUNDS`] rounds; `None` if none had a certified height above genesis
/// (a new chain: start from genesis) or none offered a target this node can verify. A target's
/// certificate is checked against the set of the target's epoch, which `sets` must hold (today
/// the genesis sets: epochs 0 and 1; a node joining later catches up epoch by epoch instead).
pub async fn sync<E, S, R>(
    context: &E,
    genesis: &Genesis,
    sets: &EpochProvider,
    me: &ed25519::PublicKey,
    store: Arc<dyn Store>,
    channel: &mut (S, R),
) -> Option<Synced>
where
    E: Clock + Spawner,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
{
    let peers: Vec<ed25519::PublicKey> = sets.known_keys().into_iter().filter(|p| p != me).collect();
    let mut client = Client { context, channel, next_id: 1 };
    let mut refused = 0u32;
    for round in 0..MAX_ROUNDS {
        for peer in &peers {
            match client.sync_from(genesis, sets, peer, store.clone()).await {
                Ok(Some(mut synced)) => {
                    info!(height = synced.state.height, root = %synced.state.root(), ?peer, refused, "state synced");
                    synced.refused = refused;
                    return Some(synced);
                }
                Ok(None) => debug!(?peer, round, "peer has nothing to sync from"),
                Err(e @ SyncError::NoAnswer { .. }) => debug!(error = %e, round, "trying the next peer"),
                Err(e) => {
                    refused += 1;
                    warn!(error = %e, round, "state sync from a peer failed; trying the next");
                }
            }
        }
        context.sleep(Duration::from_secs(1)).await;
    }
    info!("no peer offered a certified state: starting from genesis");
    None
}

struct Client<'a, E, S, R> {
    context: &'a E,
    channel: &'a mut (S, R),
    next_id: u64,
}

impl<E, S, R> Client<'_, E, S, R>
where
    E: Clock + Spawner,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
{
    /// Sends `request` to `peer` and waits for its answer with the same id.
    async fn ask(&mut self, peer: &ed25519::PublicKey, request: Message) -> Result<Message, SyncError> {
        let id = request.id();
        let bytes = borsh::to_vec(&request).expect("encode");
        let failed = |reason: String| SyncError::Peer { peer: format!("{peer}"), reason };
        let _ = self.channel.0.send(Recipients::One(peer.clone()), bytes, false);
        let deadline = self.context.current() + ANSWER_TIMEOUT;
        loop {
            let wait = deadline.duration_since(self.context.current()).unwrap_or_default();
            select! {
                msg = self.channel.1.recv() => {
                    let (from, msg) = msg.map_err(|e| failed(format!("network closed: {e}")))?;
                    if &from != peer {
                        continue; // another peer's request or a late answer: not served while syncing
                    }
                    match borsh::from_slice::<Message>(msg.as_ref()) {
                        Ok(m) if m.id() == id => return Ok(m),
                        _ => continue,
                    }
                },
                _ = self.context.sleep(wait) => return Err(SyncError::NoAnswer { peer: format!("{peer}") }),
            }
        }
    }

    async fn sync_from(
        &mut self,
        genesis: &Genesis,
        sets: &EpochProvider,
        peer: &ed25519::PublicKey,
        store: Arc<dyn Store>,
    ) -> Result<Option<Synced>, SyncError> {
        let name = format!("{peer}");
        self.next_id += 1;
        let (block, finalization) = match self.ask(peer, Message::TargetRequest { id: self.next_id }).await? {
            Message::Target { block, finalization, .. } => (block, finalization),
            Message::Unavailable { .. } => return Ok(None),
            other => return Err(SyncError::Peer { peer: name, reason: format!("answered {other:?}") }),
        };
        // The set of the target's epoch: known, or proven epoch by epoch from the last known one.
        let target_epoch = decode::<Block>(&block, MAX_BLOCK_BYTES)
            .map(|b| crate::epochs::epoch_of(genesis, b.header.height))
            .map_err(|e| SyncError::BadTarget { peer: name.clone(), reason: format!("block: {e}") })?;
        while sets.set(target_epoch).is_none() {
            let from = sets.latest().unwrap_or(0);
            self.next_id += 1;
            let links = match self.ask(peer, Message::EpochsRequest { id: self.next_id, from }).await? {
                Message::Epochs { links, .. } if !links.is_empty() => links,
                Message::Epochs { .. } | Message::Unavailable { .. } => return Ok(None),
                other => return Err(SyncError::Peer { peer: name, reason: format!("answered {other:?}") }),
            };
            for (i, link) in links.iter().enumerate() {
                let set = check_link(genesis, sets, from + i as u64, link)
                    .map_err(|reason| SyncError::BadTarget { peer: name.clone(), reason })?;
                sets.register(set);
            }
        }
        let (block, finalization) = check_target(genesis, sets, &block, &finalization)
            .map_err(|reason| SyncError::BadTarget { peer: name.clone(), reason })?;
        let header = block.block.header.clone();
        let bad_state = |source| SyncError::BadState { peer: name.clone(), source };
        let mut restore = Restore::begin(genesis, store, &header, block.hash()).map_err(bad_state)?;
        let mut after: Option<Vec<u8>> = None;
        let (mut bytes, mut entries) = (0u64, 0u64);
        loop {
            self.next_id += 1;
            let request = Message::PageRequest { id: self.next_id, height: header.height, after: after.clone() };
            match self.ask(peer, request).await? {
                Message::Page { entries: page, more, .. } => {
                    if page.is_empty() && more {
                        return Err(SyncError::Peer { peer: name, reason: "an empty page with more to come".into() });
                    }
                    bytes += page.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum::<u64>();
                    if bytes > MAX_SYNC_BYTES {
                        return Err(SyncError::Peer {
                            peer: name,
                            reason: format!("more than {MAX_SYNC_BYTES} bytes"),
                        });
                    }
                    entries += page.len() as u64;
                    after = page.last().map(|(k, _)| k.clone()).or(after);
                    restore.add_page(page).map_err(bad_state)?;
                    if !more {
                        break;
                    }
                }
                other => return Err(SyncError::Peer { peer: name, reason: format!("answered {other:?}") }),
            }
        }
        debug!(height = header.height, entries, bytes, "state entries received");
        let state = restore.finish().map_err(bad_state)?;
        Ok(Some(Synced { state, finalization, refused: 0 }))
    }
}

/// Decodes a sync target and checks that the certificate finalizes exactly this block (digest,
/// epoch and view) with a quorum of the signatures of the set of the block's epoch.
fn check_target(
    genesis: &Genesis,
    sets: &EpochProvider,
    block: &[u8],
    finalization: &[u8],
) -> Result<(ChainBlock, BlockFinalization), String> {
    let block: Block = decode(block, MAX_BLOCK_BYTES).map_err(|e| format!("block: {e}"))?;
    if block.header.chain_id != genesis.chain_id {
        return Err(format!("block of chain {}", block.header.chain_id));
    }
    let block = ChainBlock::new(genesis.params.hash, block);
    let epoch = crate::epochs::epoch_of(genesis, block.block.header.height);
    let Some(set) = sets.set(epoch) else {
        return Err(format!("the validator set of epoch {epoch} is not known here"));
    };
    let participants = set.keys();
    let f = BlockFinalization::decode_cfg(finalization.to_vec(), &participants.len())
        .map_err(|e| format!("certificate: {e}"))?;
    if f.proposal.payload != block.digest() {
        return Err(format!(
            "the certificate finalizes {} but the block is {}",
            Hash32(f.proposal.payload.0),
            block.hash()
        ));
    }
    let round = f.proposal.round;
    let h = &block.block.header;
    if (round.epoch().get(), round.view().get()) != (h.epoch, h.view) || h.epoch != epoch {
        return Err("the certificate's round is not the block's".into());
    }
    let scheme = Scheme::verifier(&crate::engine::consensus_namespace(genesis), participants);
    if !f.verify(&mut rand::rng(), &scheme, &Sequential) {
        return Err(format!("the certificate's signatures do not verify for epoch {epoch}'s validators"));
    }
    Ok((block, f))
}

/// Most epoch links in one answer.
pub const MAX_LINKS: usize = 32;
/// Most bytes of one link's header, roots and proof each (a header is a few hundred bytes; a
/// proof at most 256 siblings).
const MAX_LINK_PART: usize = 64 * 1024;

/// The links of epochs `from..` this node can prove from its archive and its state's history
/// (a node that synced its own state keeps no history before its sync height).
async fn epoch_links(app: &App, marshal: &MarshalMailbox, from: u64) -> Vec<EpochLink> {
    let state = app.committed_state();
    let mut links = Vec::new();
    for k in from..from.saturating_add(MAX_LINKS as u64) {
        let Some(len) = state.params.economy.staking.epoch_length.checked_mul(k + 1) else { break };
        let last = len - 1;
        if last > state.height {
            break;
        }
        let (Some(block), Some(f)) =
            (marshal.get_block(Height::new(last)).await, marshal.get_finalization(Height::new(last)).await)
        else {
            break;
        };
        let (Some(roots), Ok(Some(proof))) =
            (state.roots_at(last), state.prove_at(last, &trustmeter_state::StateKey::ValidatorSet(k + 1)))
        else {
            break;
        };
        let (Ok(roots), Ok(proof)) = (serde_json::to_vec(&roots), serde_json::to_vec(&proof)) else { break };
        let header = borsh::to_vec(&block.inner().block.header).expect("encode");
        links.push(EpochLink { header, finalization: f.encode().to_vec(), roots, proof });
    }
    links
}

/// Checks the link of epoch `k` against the known set of `k` and returns the set of `k + 1` it
/// proves.
fn check_link(
    genesis: &Genesis,
    sets: &EpochProvider,
    k: u64,
    link: &EpochLink,
) -> Result<crate::epochs::EpochSet, String> {
    let set = sets.set(k).ok_or_else(|| format!("epoch {k}'s set is not known here"))?;
    if [&link.header, &link.roots, &link.proof].iter().any(|p| p.len() > MAX_LINK_PART) {
        return Err(format!("epoch {k}'s link is oversized"));
    }
    let header: trustmeter_types::BlockHeader =
        borsh::from_slice(&link.header).map_err(|e| format!("epoch {k}'s boundary header: {e}"))?;
    let last = crate::epochs::last_of(genesis, k);
    if header.chain_id != genesis.chain_id || header.height != last || header.epoch != k {
        return Err(format!("epoch {k}'s link is not the header of block {last} of this chain"));
    }
    let alg = genesis.params.hash;
    let digest = crate::block::to_digest(&trustmeter_crypto::block_digest(alg, &header));
    let keys = set.keys();
    let f = BlockFinalization::decode_cfg(link.finalization.to_vec(), &keys.len())
        .map_err(|e| format!("epoch {k}'s boundary certificate: {e}"))?;
    if f.proposal.payload != digest || f.proposal.round.epoch().get() != k {
        return Err(format!("epoch {k}'s boundary certificate finalizes another block"));
    }
    let scheme = Scheme::verifier(&crate::engine::consensus_namespace(genesis), keys);
    if !f.verify(&mut rand::rng(), &scheme, &Sequential) {
        return Err(format!("epoch {k}'s boundary certificate does not verify for epoch {k}'s validators"));
    }
    let roots: trustmeter_state::StateRoots =
        serde_json::from_slice(&link.roots).map_err(|e| format!("epoch {k}'s roots: {e}"))?;
    if roots.state_root(alg) != header.state_root {
        return Err(format!("epoch {k}'s roots are not the boundary's state root"));
    }
    let proof: trustmeter_state::StateProof =
        serde_json::from_slice(&link.proof).map_err(|e| format!("epoch {k}'s set proof: {e}"))?;
    let next = match (&proof.entry.key, &proof.entry.value) {
        (trustmeter_state::StateKey::ValidatorSet(e), trustmeter_state::StateValue::ValidatorSet(v))
            if *e == k + 1 && v.epoch == k + 1 =>
        {
            v.clone()
        }
        _ => return Err(format!("epoch {k}'s proof is not of epoch {}'s validator set", k + 1)),
    };
    if !proof.verify(alg, &roots) {
        return Err(format!("epoch {}'s validator set is not proven by the boundary's state", k + 1));
    }
    crate::epochs::epoch_set(&next).map_err(|e| e.to_string())
}

#[cfg(test)]
mod fuzz {
    //! Bounded fuzzing of the state sync messages a peer sends (`borsh` over p2p): decoding never
    //! panics or allocates past the message, and what decodes re-encodes to the bytes read.
    use super::Message;
    use proptest::prelude::*;
    use trustmeter_fuzzkit::{byte_edits, edited};

    fn valid() -> Vec<Vec<u8>> {
        [
            Message::TargetRequest { id: 1 },
            Message::Target { id: 2, block: vec![1; 300], finalization: vec![2; 200] },
            Message::PageRequest { id: 3, height: 77, after: Some(vec![4; 40]) },
            Message::PageRequest { id: 3, height: 77, after: None },
            Message::Page { id: 4, entries: (0..20).map(|i| (vec![i; 30], vec![i; 90])).collect(), more: true },
            Message::Unavailable { id: 5, reason: "the pin expired".into() },
            Message::EpochsRequest { id: 6, from: 3 },
            Message::Epochs {
                id: 7,
                links: (0..3)
                    .map(|i| super::EpochLink {
                        header: vec![i; 200],
                        finalization: vec![i; 150],
                        roots: vec![i; 60],
                        proof: vec![i; 300],
                    })
                    .collect(),
            },
        ]
        .iter()
        .map(|m| borsh::to_vec(m).expect("encodes"))
        .collect()
    }

    fn round_trip(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Ok(m) = borsh::from_slice::<Message>(bytes) {
            prop_assert_eq!(borsh::to_vec(&m).expect("encodes"), bytes.to_vec(), "{:?}", m);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(trustmeter_fuzzkit::config(20_000, 0x7374_6174_6573_796e))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            round_trip(&bytes)?;
        }

        #[test]
        fn edited_messages_decode_canonically_or_not_at_all(i in any::<prop::sample::Index>(), edits in byte_edits()) {
            let valid = valid();
            let m: &Vec<u8> = i.get(valid.as_slice());
            round_trip(&edited(m, &edits))?;
        }
    }
}
