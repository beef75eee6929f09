//! Validator sets that change by epoch: the scheme provider marshal and every Simplex engine
//! share ([`EpochProvider`]), the sets as the finalized state holds them ([`set_of`]), the peer
//! sets p2p tracks ([`PeerSets`]) and the orchestrator that runs one Simplex engine per epoch
//! ([`Orchestrator`]).
//!
//! Epoch `e` is the heights `[e·L, (e+1)·L − 1]` (`L` = `genesis.params.economy.staking.epoch_length`,
//! Commonware's `FixedEpocher`). Its last block, `last(e)`, is re-proposed by the leaders of epoch
//! `e` until epoch `e`'s set finalizes it (marshal's `Inline` wrapper does this). The finalizer
//! applies it like any block; its post-state holds `set(e+1)` (and `set(e+2)`, the election with
//! one epoch of lead time). Then, before the block is acknowledged to marshal:
//!
//! 1. the finalizer registers `set(e+1)` and `set(e+2)` with the [`EpochProvider`] (a signing
//!    scheme when this node is a member, a verifier otherwise);
//! 2. it hands the boundary to the [`Orchestrator`], which opens epoch `e+1`'s vote, certificate
//!    and resolver subchannels (`commonware_p2p::utils::mux`, keyed by epoch), tracks the peer set
//!    `e+1` (primary: `set(e+1)`, secondary: `set(e+2)`), starts Simplex for `e+1` from the
//!    boundary block (`Floor::Genesis(digest of last(e))`, partition
//!    `{prefix}-simplex-epoch-{e+1}`), stops epoch `e`'s engine and removes the partition of
//!    epoch `e−1`;
//! 3. only then the finalizer acknowledges the block.
//!
//! **Catching up.** Votes and certificates of an epoch this node has not entered land on the
//! muxers' backup channels. Each is only a hint that its sender is ahead: the orchestrator asks
//! marshal for the finalization of its own epoch's last block from that sender
//! (`hint_finalized`), which marshal verifies with the current epoch's set, backfilling the blocks
//! below it; applying that block enters the next epoch. A node behind by several epochs so climbs
//! one epoch at a time, trusting only the genesis set and each boundary's finalization.
//!
//! **Restart.** Every set a node ever needs is in its finalized state (which keeps every
//! `ValidatorSet(e)` entry), and a boundary block changes the registry, so the state store commits
//! it before the block is acknowledged. At start the engine registers every set of the committed
//! state before marshal starts; blocks marshal processed above it are re-executed before any
//! engine or peer input needs a set (the finalizer registers each boundary's sets as it replays
//! it). So marshal never needs a set before it is registered, and no separate `epoch → set`
//! store is kept. The orchestrator starts once the replay is done, in the epoch of the next
//! height to finalize.

use crate::app::{App, MarshalMailbox, Scheme};
use crate::block::ChainBlock;
use crate::engine::Timeouts;
use crate::faults::{ConsensusReporter, FaultWatch};
use crate::rejoin::ViewWatch;
use commonware_consensus::marshal::standard::Inline;
use commonware_consensus::simplex::{self, ForwardPolicy, SkipPolicy, elector::RoundRobin};
use commonware_consensus::types::{Epoch, Epocher as _, FixedEpocher, Height, ViewDelta};
use commonware_cryptography::certificate::{Provider, Scoped};
use commonware_cryptography::{Sha256, Signer as _, ed25519, sha256};
use commonware_macros::select;
use commonware_p2p::utils::mux::{Builder as _, Muxer};
use commonware_p2p::{Blocker, Receiver, Sender, TrackedPeers};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, Supervisor};
use commonware_utils::ordered::Set;
use commonware_utils::vec::NonEmptyVec;
use commonware_utils::{NZDuration, NZU64};
use futures::StreamExt;
use futures::channel::{mpsc, oneshot};
use rand::CryptoRng;
use std::collections::BTreeMap;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, info, warn};
use trustmeter_state::State;
use trustmeter_types::Genesis;

/// Blocks per epoch of a chain (from its genesis; Commonware's epocher needs at least 2).
pub fn epoch_length(genesis: &Genesis) -> u64 {
    genesis.params.economy.staking.epoch_length.max(2)
}

/// The chain's epocher: epoch `e` is the heights `[e·L, (e+1)·L − 1]`.
pub fn epocher(genesis: &Genesis) -> FixedEpocher {
    FixedEpocher::new(NonZeroU64::new(epoch_length(genesis)).unwrap_or(NZU64!(2)))
}

/// The epoch of `height`.
pub fn epoch_of(genesis: &Genesis, height: u64) -> u64 {
    height / epoch_length(genesis)
}

/// The last height of `epoch` (its boundary block).
pub fn last_of(genesis: &Genesis, epoch: u64) -> u64 {
    epoch.saturating_add(1).saturating_mul(epoch_length(genesis)).saturating_sub(1)
}

/// One member of an epoch's validator set, as consensus and p2p use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Consensus and p2p key.
    pub key: ed25519::PublicKey,
    /// Where peers dial it (`host:port`).
    pub address: String,
}

/// An epoch's validator set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochSet {
    /// The epoch.
    pub epoch: u64,
    /// The members, sorted by key (Commonware's signer indices refer to this order).
    pub members: Vec<Member>,
}

impl EpochSet {
    /// The members' keys as the ordered set certificates are made over.
    pub fn keys(&self) -> Set<ed25519::PublicKey> {
        Set::from_iter_dedup(self.members.iter().map(|m| m.key.clone()))
    }

    /// Whether `key` is a member.
    pub fn contains(&self, key: &ed25519::PublicKey) -> bool {
        self.members.iter().any(|m| &m.key == key)
    }
}

/// Why a validator set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    /// A member's key is not an Ed25519 key.
    #[error("validator set of epoch {epoch}: member {name}'s key is not an Ed25519 key")]
    BadKey {
        /// The epoch.
        epoch: u64,
        /// The member.
        name: String,
    },
    /// The set is empty or holds a key twice.
    #[error("validator set of epoch {epoch} is empty or holds a key twice")]
    BadSet {
        /// The epoch.
        epoch: u64,
    },
    /// The finalized state does not hold the set of an epoch the chain enters.
    #[error("the state at height {height} holds no validator set for epoch {epoch}")]
    Missing {
        /// The epoch.
        epoch: u64,
        /// The state's height.
        height: u64,
    },
}

/// The genesis validators as epoch `epoch`'s set (sets 0 and 1 are the genesis validators).
pub fn genesis_set(genesis: &Genesis, epoch: u64) -> Result<EpochSet, EpochError> {
    let mut members = genesis
        .validators
        .iter()
        .map(|v| {
            let key = hex::decode(&v.consensus_key)
                .ok()
                .and_then(|b| ed25519::PublicKey::try_from(b.as_slice()).ok())
                .ok_or_else(|| EpochError::BadKey { epoch, name: v.name.clone() })?;
            Ok(Member { key, address: v.p2p_address.clone() })
        })
        .collect::<Result<Vec<_>, EpochError>>()?;
    members.sort_by(|a, b| a.key.cmp(&b.key));
    checked(EpochSet { epoch, members })
}

fn checked(set: EpochSet) -> Result<EpochSet, EpochError> {
    if set.members.is_empty() || set.keys().len() != set.members.len() {
        return Err(EpochError::BadSet { epoch: set.epoch });
    }
    Ok(set)
}

/// The validator set of `epoch` as the finalized `state` holds it, if it holds one (genesis
/// writes sets 0 and 1; the last block of epoch `e` elects set `e + 2`).
pub fn set_of(_genesis: &Genesis, state: &State, epoch: u64) -> Result<Option<EpochSet>, EpochError> {
    state.validator_set(epoch).as_ref().map(epoch_set).transpose()
}

/// A validator set record as consensus uses it.
pub fn epoch_set(set: &trustmeter_schema::ValidatorSet) -> Result<EpochSet, EpochError> {
    let epoch = set.epoch;
    let members = set
        .members
        .iter()
        .map(|m| {
            let key = ed25519::PublicKey::try_from(m.consensus_key.bytes.as_slice())
                .map_err(|_| EpochError::BadKey { epoch, name: m.name.clone() })?;
            Ok(Member { key, address: m.p2p_address.clone() })
        })
        .collect::<Result<Vec<_>, EpochError>>()?;
    checked(EpochSet { epoch, members })
}

/// The registered validators (candidates) of `state` that are not jailed, with their addresses:
/// the nodes that may be elected, tracked as secondary peers so they can follow and catch up.
pub fn candidates(state: &State) -> Vec<Member> {
    trustmeter_state::economy::validators(state)
        .into_iter()
        .filter(|(_, v)| v.jailed_until.is_none())
        .filter_map(|(k, v)| {
            let key = ed25519::PublicKey::try_from(k.bytes.as_slice()).ok()?;
            Some(Member { key, address: v.p2p_address })
        })
        .collect()
}

/// The sets of `epochs` from `state`; an epoch the state holds no set for is left out.
pub fn sets_of(
    genesis: &Genesis,
    state: &State,
    epochs: impl IntoIterator<Item = u64>,
) -> Result<Vec<EpochSet>, EpochError> {
    let mut out = Vec::new();
    for e in epochs {
        if let Some(set) = set_of(genesis, state, e)? {
            out.push(set);
        }
    }
    Ok(out)
}

struct Registered {
    set: EpochSet,
    verifier: Arc<Scheme>,
    /// This node's signing scheme, when it is a member.
    signer: Option<Arc<Scheme>>,
}

/// The consensus scheme of every epoch this node knows the set of: a signer when this node is a
/// member, a verifier otherwise (so a node outside the set still runs Simplex as an observer and
/// marshal still verifies the epoch's certificates). Shared by marshal, the orchestrator and the
/// finalizer; cheap to clone.
///
/// A node may be told not to sign before some epoch ([`EpochProvider::refrain_until`]): one
/// that lost its disk cannot know which votes it already cast in the epochs under way when it
/// restarted, and voting again there could contradict them (equivocation).
#[derive(Clone)]
pub struct EpochProvider {
    namespace: Arc<Vec<u8>>,
    signer: ed25519::PrivateKey,
    sets: Arc<Mutex<BTreeMap<u64, Registered>>>,
    signs_from: Arc<std::sync::atomic::AtomicU64>,
    /// The epoch this node only observes for now (`u64::MAX`: none; see `crate::rejoin`).
    observing: Arc<std::sync::atomic::AtomicU64>,
    /// Where this node last started voting again after observing: (epoch, view of its floor).
    rejoined: Arc<Mutex<Option<(u64, u64)>>>,
}

impl EpochProvider {
    /// A provider with no set yet, for the node holding `signer`, on a chain whose consensus
    /// namespace is `namespace`.
    pub fn new(namespace: Vec<u8>, signer: ed25519::PrivateKey) -> Self {
        Self {
            namespace: Arc::new(namespace),
            signer,
            sets: Arc::default(),
            signs_from: Arc::default(),
            observing: Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX)),
            rejoined: Arc::default(),
        }
    }

    /// Registers `set` for its epoch (again: no change; sets are final once elected).
    pub fn register(&self, set: EpochSet) {
        let mut sets = self.sets.lock().expect("provider lock");
        if sets.contains_key(&set.epoch) {
            return;
        }
        let keys = set.keys();
        let signer = Scheme::signer(&self.namespace, keys.clone(), self.signer.clone()).map(Arc::new);
        let verifier = Arc::new(Scheme::verifier(&self.namespace, keys));
        debug!(epoch = set.epoch, members = set.members.len(), member = signer.is_some(), "validator set registered");
        sets.insert(set.epoch, Registered { set, verifier, signer });
    }

    /// From now on this node signs in no epoch before `epoch` (it only verifies there).
    pub fn refrain_until(&self, epoch: u64) {
        self.signs_from.fetch_max(epoch, std::sync::atomic::Ordering::SeqCst);
    }

    /// Until [`EpochProvider::sign_again`], this node only verifies in `epoch` (a node that
    /// state-synced into it; see `crate::rejoin`).
    pub fn observe_only(&self, epoch: u64) {
        self.observing.store(epoch, std::sync::atomic::Ordering::SeqCst);
    }

    /// Ends [`EpochProvider::observe_only`]; `from` is where the node votes again, (epoch, view
    /// of its engine's floor), when it does within the epoch it observed.
    pub fn sign_again(&self, from: Option<(u64, u64)>) {
        self.observing.store(u64::MAX, std::sync::atomic::Ordering::SeqCst);
        if from.is_some() {
            *self.rejoined.lock().expect("provider lock") = from;
        }
    }

    /// The epoch this node only observes for now, if any (see `crate::rejoin`).
    pub fn observing(&self) -> Option<u64> {
        Some(self.observing.load(std::sync::atomic::Ordering::SeqCst)).filter(|e| *e != u64::MAX)
    }

    /// Where this node last voted again after observing an epoch it state-synced into: (epoch,
    /// view of the finalization its signing engine started from).
    pub fn rejoined(&self) -> Option<(u64, u64)> {
        *self.rejoined.lock().expect("provider lock")
    }

    /// The first epoch this node may sign in (0 unless [`EpochProvider::refrain_until`]).
    pub fn signs_from(&self) -> u64 {
        self.signs_from.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Epoch `epoch`'s set, if registered.
    pub fn set(&self, epoch: u64) -> Option<EpochSet> {
        self.sets.lock().expect("provider lock").get(&epoch).map(|r| r.set.clone())
    }

    /// Whether this node votes in `epoch` (`None`: the set is not registered).
    pub fn is_signer(&self, epoch: u64) -> Option<bool> {
        self.scoped_scheme(epoch).map(|(_, signs)| signs)
    }

    /// The highest epoch registered.
    pub fn latest(&self) -> Option<u64> {
        self.sets.lock().expect("provider lock").keys().next_back().copied()
    }

    /// Every key of every registered set (the peers a node may ask for state or certificates).
    pub fn known_keys(&self) -> Vec<ed25519::PublicKey> {
        let sets = self.sets.lock().expect("provider lock");
        let all: Set<ed25519::PublicKey> =
            Set::from_iter_dedup(sets.values().flat_map(|r| r.set.members.iter().map(|m| m.key.clone())));
        all.into_iter().collect()
    }

    /// This node's key.
    pub fn me(&self) -> ed25519::PublicKey {
        self.signer.public_key()
    }

    /// The scheme this node runs `epoch` with, and whether it signs.
    fn scoped_scheme(&self, epoch: u64) -> Option<(Arc<Scheme>, bool)> {
        let sets = self.sets.lock().expect("provider lock");
        let r = sets.get(&epoch)?;
        Some(match &r.signer {
            Some(s)
                if epoch >= self.signs_from() && epoch != self.observing.load(std::sync::atomic::Ordering::SeqCst) =>
            {
                (s.clone(), true)
            }
            _ => (r.verifier.clone(), false),
        })
    }
}

impl Provider for EpochProvider {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        let (scheme, signs) = self.scoped_scheme(epoch.get())?;
        Some(if signs { Scoped::scheme(scheme) } else { Scoped::verifier(scheme) })
    }

    /// The scheme of `epoch` even when this node only verifies in it, so that Simplex runs as an
    /// observer there.
    fn scheme(&self, epoch: Epoch) -> Option<Arc<Scheme>> {
        self.scoped_scheme(epoch.get()).map(|(s, _)| s)
    }
}

/// Seats in an epoch's set at most: the genesis's or the elections' (`staking.validators`).
pub fn seats(genesis: &Genesis) -> usize {
    genesis.validators.len().max(genesis.params.economy.staking.validators as usize)
}

/// Most identities in one epoch's p2p peer set (this node included): the set and the next one;
/// candidates fill what the next set leaves (when it is the same set, as in most epochs). p2p
/// allocates each channel's inbound queue for this many peers of every tracked set up front
/// (`lookup`: peers × sets × burst messages), so it is kept to what the sets need: with room for
/// five more candidates a 4-validator node's queues grew 3.25 times and the API's accept loop
/// fell behind in `node/tests/hostile.rs`.
pub fn max_peer_set(genesis: &Genesis) -> usize {
    2 * seats(genesis) + 1
}

/// Epoch `epoch`'s peers as `provider` and `candidates` know them: primary the set, secondary the
/// next set then the candidates, without duplicates and cut so that with this node they number
/// at most `limit`.
pub fn peer_set(
    provider: &EpochProvider,
    epoch: u64,
    candidates: Vec<Member>,
    limit: usize,
) -> (Vec<Member>, Vec<Member>) {
    let mut primary = provider.set(epoch).map(|s| s.members).unwrap_or_default();
    primary.truncate(limit.saturating_sub(1));
    let mut seen: std::collections::BTreeSet<ed25519::PublicKey> = primary.iter().map(|m| m.key.clone()).collect();
    seen.insert(provider.me());
    let mut secondary = Vec::new();
    let next = provider.set(epoch + 1).map(|s| s.members).unwrap_or_default();
    for m in next.into_iter().chain(candidates) {
        if seen.len() >= limit {
            break;
        }
        if seen.insert(m.key.clone()) {
            secondary.push(m);
        }
    }
    (primary, secondary)
}

/// The p2p peer sets, one per epoch: what a node dials and accepts.
pub trait PeerSets: Send + Sync + 'static {
    /// Tracks epoch `epoch`'s peers: `primary` (the set that votes) and `secondary` (nodes that
    /// follow: the next set, candidates). Called once per epoch, in increasing order.
    fn track(&mut self, epoch: u64, primary: &[Member], secondary: &[Member]);
}

/// [`PeerSets`] over a p2p manager that knows peers by key only (the simulated network).
pub struct KeyPeerSets<M>(pub M);

impl<M> PeerSets for KeyPeerSets<M>
where
    M: commonware_p2p::Manager<PublicKey = ed25519::PublicKey> + Sync,
{
    fn track(&mut self, epoch: u64, primary: &[Member], secondary: &[Member]) {
        let keys = |ms: &[Member]| Set::from_iter_dedup(ms.iter().map(|m| m.key.clone()));
        let _ = self.0.track(epoch, TrackedPeers::new(keys(primary), keys(secondary)));
    }
}

/// A finalized boundary block handed from the finalizer to the orchestrator.
pub(crate) struct Boundary {
    /// The epoch the block opens (the block is the last of the epoch before).
    pub(crate) epoch: u64,
    /// The block's digest: the new epoch's Simplex floor.
    pub(crate) digest: sha256::Digest,
    /// Answered once the new epoch's engine runs; the finalizer acknowledges the block then.
    pub(crate) entered: oneshot::Sender<()>,
}

/// What the finalizer does at epoch boundaries.
pub(crate) struct EpochHooks {
    pub(crate) genesis: Genesis,
    pub(crate) provider: EpochProvider,
    /// Where live boundaries go (the orchestrator starts after the start-up replay, which only
    /// registers sets).
    pub(crate) boundaries: mpsc::Sender<Boundary>,
}

impl EpochHooks {
    /// The other members of the set of `height`'s epoch (asked for a certificate marshal lacks).
    pub(crate) fn peers_at(&self, height: u64) -> Option<NonEmptyVec<ed25519::PublicKey>> {
        let me = self.provider.me();
        let set = self.provider.set(epoch_of(&self.genesis, height))?;
        NonEmptyVec::try_from(set.members.into_iter().map(|m| m.key).filter(|k| *k != me).collect::<Vec<_>>()).ok()
    }

    /// After the finalized block at `height` was applied: at a boundary, registers the next sets
    /// and, when `live`, waits until the orchestrator entered the next epoch.
    pub(crate) async fn after_block(&mut self, app: &App, height: u64, digest: sha256::Digest, live: bool) {
        let epoch = epoch_of(&self.genesis, height);
        if last_of(&self.genesis, epoch) != height {
            return;
        }
        let state = app.finalized_state();
        match sets_of(&self.genesis, &state, [epoch + 1, epoch + 2]) {
            Ok(sets) if sets.first().is_some_and(|s| s.epoch == epoch + 1) => {
                for s in sets {
                    self.provider.register(s);
                }
            }
            Ok(_) => panic!("{}", EpochError::Missing { epoch: epoch + 1, height }),
            Err(e) => panic!("{e}; the node cannot enter epoch {}", epoch + 1),
        }
        if !live {
            return;
        }
        let (entered, wait) = oneshot::channel();
        debug!(height, me = %self.provider.me(), "boundary finalized: entering the next epoch");
        if futures::SinkExt::send(&mut self.boundaries, Boundary { epoch: epoch + 1, digest, entered }).await.is_ok() {
            let _ = wait.await;
        }
        debug!(height, me = %self.provider.me(), "next epoch entered: acknowledging the boundary");
    }
}

/// How long after its start a node that started from an empty disk takes traffic of a later
/// epoch as the chain's progress before it started (see [`Orchestrator`]'s `hint`).
pub const FRESH_WINDOW: Duration = Duration::from_secs(10);

/// Simplex settings of every epoch's engine.
#[derive(Clone)]
pub(crate) struct EngineSettings {
    pub(crate) prefix: String,
    pub(crate) timeouts: Timeouts,
    pub(crate) page_cache: CacheRef,
    pub(crate) mailbox: NonZeroUsize,
    pub(crate) io_buffer: NonZeroUsize,
}

/// Where an epoch's engine starts.
pub(crate) type EpochFloor = simplex::Floor<Scheme, sha256::Digest>;

type ChainInline<E> = Inline<E, Scheme, App, ChainBlock, FixedEpocher>;

/// Runs one Simplex engine per epoch (see the module documentation).
pub(crate) struct Orchestrator<E, B>
where
    E: Spawner + Clock + Storage + Metrics + Supervisor + CryptoRng,
    B: Blocker<PublicKey = ed25519::PublicKey> + Clone + Sync,
{
    pub(crate) genesis: Genesis,
    pub(crate) app: App,
    pub(crate) provider: EpochProvider,
    pub(crate) marshal: MarshalMailbox,
    pub(crate) inline: ChainInline<E>,
    pub(crate) blocker: B,
    pub(crate) settings: EngineSettings,
    pub(crate) peers: Box<dyn PeerSets>,
    /// The highest epoch whose peers were tracked.
    pub(crate) tracked: Option<u64>,
    pub(crate) boundaries: mpsc::Receiver<Boundary>,
    /// The finalization a state sync started from (the epoch's floor when the node starts in it).
    pub(crate) synced: Option<crate::app::BlockFinalization>,
    /// Whether this node started from an empty consensus disk (marshal had processed nothing):
    /// until it learns how far ahead the chain is, it may have voted before in any epoch under
    /// way (see [`Orchestrator::hint`]).
    pub(crate) fresh: bool,
    /// While fresh: the latest epoch each peer's traffic named.
    pub(crate) claims: BTreeMap<ed25519::PublicKey, u64>,
    /// Turns the faults each engine reports into evidence for the chain (`crate::faults`).
    pub(crate) faults: Option<FaultWatch>,
}

struct Active {
    epoch: u64,
    engine: Handle<()>,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.engine.abort();
    }
}

impl<E, B> Orchestrator<E, B>
where
    E: Spawner + Clock + Storage + Metrics + Supervisor + CryptoRng,
    B: Blocker<PublicKey = ed25519::PublicKey> + Clone + Sync,
{
    /// Runs until the engine of the current epoch stops or the node's channels close.
    pub(crate) async fn run<S, R>(mut self, context: E, votes: (S, R), certificates: (S, R), resolver: (S, R))
    where
        S: Sender<PublicKey = ed25519::PublicKey>,
        R: Receiver<PublicKey = ed25519::PublicKey>,
    {
        let (mux, votes_mux, mut votes_backup) =
            Muxer::builder(context.child("votes_mux"), votes.0, votes.1).with_backup().build();
        mux.start();
        let (mux, certs_mux, mut certs_backup) =
            Muxer::builder(context.child("certificates_mux"), certificates.0, certificates.1).with_backup().build();
        mux.start();
        let (mux, resolver_mux) = Muxer::new(context.child("resolver_mux"), resolver.0, resolver.1);
        mux.start();
        let mut muxes = Muxes { votes: votes_mux, certificates: certs_mux, resolver: resolver_mux };

        // The epoch of the next height to finalize, once the finalizer has replayed what marshal
        // processed.
        self.app.ready().await;
        let height = self.app.finalized_height();
        let epoch = epoch_of(&self.genesis, height + 1);
        let Some(floor) = self.start_floor(epoch, height).await else {
            warn!(epoch, height, "no floor to start this epoch's consensus from; not voting");
            return;
        };
        // A node that starts inside an epoch from a finalization (it restored its state by state
        // sync there) first observes: it may have voted in views after that finalization before
        // its disk was lost (`crate::rejoin`).
        let mut rejoin = None;
        if let simplex::Floor::Finalized(f) = &floor
            && self.provider.is_signer(epoch) == Some(true)
        {
            self.provider.observe_only(epoch);
            let t = self.settings.timeouts;
            let until = context.current() + crate::rejoin::observe_window(t.leader, t.certification, t.retry);
            info!(
                epoch,
                view = f.proposal.round.view().get(),
                "started inside the epoch from a finalization: observing until one past the views under way"
            );
            rejoin = Some(Rejoin { watch: ViewWatch::new(epoch), until, threshold: None });
        }
        let views = rejoin.as_ref().map(|r| r.watch.clone());
        let mut active = match self.enter(&context, epoch, floor, views, &mut muxes).await {
            Some(a) => a,
            None => return,
        };
        let epocher = epocher(&self.genesis);
        let started = context.current();
        loop {
            select! {
                _ = rejoin_tick(&context, rejoin.as_ref()) => {
                    let Some(r) = rejoin.as_mut() else { continue };
                    if r.watch.epoch() != active.epoch {
                        // The epoch ended while observing: the next one's engine signs as usual.
                        self.provider.sign_again(None);
                        rejoin = None;
                        continue;
                    }
                    let threshold = match r.threshold {
                        Some(t) => t,
                        None if context.current() < r.until => continue,
                        None => {
                            let n = self.provider.set(active.epoch).map(|s| s.members.len()).unwrap_or(1);
                            let live = r.watch.live_view(n.saturating_sub(1) / 3);
                            let t = live + crate::rejoin::MARGIN;
                            info!(epoch = active.epoch, live, signs_from_view = t, "views under way observed");
                            r.threshold = Some(t);
                            t
                        }
                    };
                    let Some(floor) = r.watch.finalized_from(threshold) else { continue };
                    let view = floor.proposal.round.view().get();
                    let epoch = active.epoch;
                    self.provider.sign_again(Some((epoch, view)));
                    rejoin = None;
                    drop(active); // stops the observing engine
                    let Some(next) = self
                        .enter(&context, epoch, simplex::Floor::Finalized(floor), None, &mut muxes)
                        .await
                    else {
                        break;
                    };
                    active = next;
                    self.remove_observer_partition(&context, epoch).await;
                    info!(epoch, view, "voting again from a finalization past the views under way");
                },
                hint = votes_backup.recv() => {
                    let Some((their, (from, _))) = hint else { break };
                    let since_start = context.current().duration_since(started).unwrap_or_default();
                    self.hint(&epocher, active.epoch, their, from, since_start);
                },
                hint = certs_backup.recv() => {
                    let Some((their, (from, _))) = hint else { break };
                    let since_start = context.current().duration_since(started).unwrap_or_default();
                    self.hint(&epocher, active.epoch, their, from, since_start);
                },
                boundary = self.boundaries.next() => {
                    let Some(b) = boundary else { break };
                    if b.epoch > active.epoch {
                        let floor = simplex::Floor::Genesis(b.digest);
                        if rejoin.take().is_some() {
                            self.provider.sign_again(None);
                        }
                        let Some(next) = self
                            .enter(&context, b.epoch, floor, None, &mut muxes)
                            .await
                        else {
                            break;
                        };
                        let old = std::mem::replace(&mut active, next);
                        drop(old); // stops the previous epoch's engine
                        self.remove_observer_partition(&context, b.epoch - 1).await;
                        if let Some(stale) = b.epoch.checked_sub(2) {
                            self.remove_partition(&context, stale).await;
                        }
                    }
                    let _ = b.entered.send(());
                },
                result = &mut active.engine => {
                    match result {
                        Ok(()) => debug!(epoch = active.epoch, "consensus engine stopped"),
                        Err(e) => warn!(epoch = active.epoch, error = %e, "consensus engine failed"),
                    }
                    break;
                },
            }
        }
    }

    /// Where epoch `epoch`'s engine starts when the node starts in it at finalized `height`.
    async fn start_floor(&self, epoch: u64, height: u64) -> Option<EpochFloor> {
        if let Some(f) = &self.synced {
            let synced_height = self.app.state_synced_at().map(|(h, _)| h);
            if f.proposal.round.epoch().get() == epoch {
                return Some(simplex::Floor::Finalized(f.clone()));
            }
            if synced_height.is_some_and(|h| h == last_of(&self.genesis, epoch.wrapping_sub(1))) {
                return Some(simplex::Floor::Genesis(f.proposal.payload));
            }
        }
        if epoch == 0 {
            return Some(simplex::Floor::Genesis(commonware_cryptography::Digestible::digest(&App::genesis_block(
                &self.genesis,
            ))));
        }
        let boundary = last_of(&self.genesis, epoch - 1);
        if let Some(block) = self.marshal.get_block(Height::new(boundary)).await {
            return Some(simplex::Floor::Genesis(commonware_cryptography::Digestible::digest(&block)));
        }
        // A node that state-synced into this epoch has no block below its sync height: start from
        // the latest certificate of the epoch it holds.
        let mut h = height;
        while h > boundary {
            if let Some(f) = self.marshal.get_finalization(Height::new(h)).await
                && f.proposal.round.epoch().get() == epoch
            {
                return Some(simplex::Floor::Finalized(f));
            }
            h -= 1;
        }
        None
    }

    /// Tracks `epoch`'s peers, opens its subchannels and starts its engine.
    async fn enter<S: Sender<PublicKey = ed25519::PublicKey>>(
        &mut self,
        context: &E,
        epoch: u64,
        floor: EpochFloor,
        views: Option<ViewWatch>,
        muxes: &mut Muxes<S>,
    ) -> Option<Active> {
        let Some(scheme) = self.provider.scheme(Epoch::new(epoch)) else {
            panic!("no validator set registered for epoch {epoch}, which this node enters");
        };
        self.track(epoch);
        let s = &self.settings;
        let t = s.timeouts;
        let engine = simplex::Engine::new(
            context.child("simplex").with_attribute("epoch", epoch),
            simplex::Config {
                scheme: scheme.as_ref().clone(),
                elector: RoundRobin::<Sha256>::default(),
                blocker: self.blocker.clone(),
                automaton: self.inline.clone(),
                relay: self.inline.clone(),
                reporter: ConsensusReporter {
                    inner: self.inline.clone(),
                    faults: self.faults.clone(),
                    votes: self.app.vote_book(),
                    views: views.clone(),
                },
                strategy: Sequential,
                partition: match views {
                    Some(_) => observer_partition(&s.prefix, epoch),
                    None => partition(&s.prefix, epoch),
                },
                mailbox_size: s.mailbox,
                epoch: Epoch::new(epoch),
                floor,
                replay_buffer: s.io_buffer,
                write_buffer: s.io_buffer,
                page_cache: s.page_cache.clone(),
                leader_timeout: t.leader,
                certification_timeout: t.certification,
                timeout_retry: t.retry,
                view_retention: ViewDelta::new(32),
                skip: SkipPolicy::Enabled { timeout: t.certification * 3, budget: simplex::SkipBudget::Participants },
                fetch_timeout: NZDuration!(Duration::from_secs(2)),
                fetch_retry_delay: Duration::from_millis(250),
                forward: ForwardPolicy::Disabled,
                track_historical_votes: false,
            },
        );
        let (Some(v), Some(c), Some(r)) = (
            register(context, &mut muxes.votes, epoch).await,
            register(context, &mut muxes.certificates, epoch).await,
            register(context, &mut muxes.resolver, epoch).await,
        ) else {
            warn!(epoch, "consensus channels closed");
            return None;
        };
        let signer = self.provider.is_signer(epoch).unwrap_or(false);
        let engine = if signer && self.app.behaviour() == crate::app::Behaviour::Equivocate {
            drop(engine);
            let scheme = scheme.as_ref().clone();
            context.child("equivocator").with_attribute("epoch", epoch).spawn(move |ctx| equivocate(ctx, scheme, v))
        } else {
            engine.start(v, c, r)
        };
        info!(epoch, signer, me = %self.provider.me(), "entered epoch");
        Some(Active { epoch, engine })
    }

    /// Tracks the peers of `epoch` (once; ids only grow).
    fn track(&mut self, epoch: u64) {
        if self.tracked.is_some_and(|t| t >= epoch) {
            return;
        }
        let limit = max_peer_set(&self.genesis);
        let (primary, secondary) = peer_set(&self.provider, epoch, candidates(&self.app.finalized_state()), limit);
        self.peers.track(epoch, &primary, &secondary);
        self.tracked = Some(epoch);
    }

    /// Traffic of a later epoch: ask its sender for the finalization of our epoch's last block.
    ///
    /// A node that started from an empty disk and, within [`FRESH_WINDOW`] of starting, finds
    /// the chain ahead (two epochs or more, or a later epoch while its own is far from its end:
    /// not the race of the peers entering the next epoch first) does not sign before the epoch
    /// after the one it hears: it may have voted in that one, or in any before, before its disk
    /// was lost. The epoch heard is the `f + 1`-th highest that distinct peers named (`f` the
    /// faults the current set tolerates), so that faulty peers cannot silence it by naming a far
    /// epoch. Decided once. (Later hints say nothing of the time before this process started: a
    /// node cut off since the chain's start must not stop voting when it reconnects.)
    fn hint(
        &mut self,
        epocher: &FixedEpocher,
        ours: u64,
        theirs: u64,
        from: ed25519::PublicKey,
        since_start: Duration,
    ) {
        if theirs <= ours {
            return;
        }
        let Some(last) = epocher.last(Epoch::new(ours)) else { return };
        if self.fresh && since_start > FRESH_WINDOW {
            self.fresh = false;
            self.claims.clear();
        }
        if self.fresh {
            let claim = self.claims.entry(from.clone()).or_insert(theirs);
            *claim = (*claim).max(theirs);
            let n = self.provider.set(ours).map(|s| s.members.len()).unwrap_or(1);
            let f = n.saturating_sub(1) / 3;
            if self.claims.len() > f {
                let mut named: Vec<u64> = self.claims.values().copied().collect();
                named.sort_unstable_by(|a, b| b.cmp(a));
                let heard = named[f];
                let margin = (epoch_length(&self.genesis) / 4).max(2);
                if heard >= ours + 2 || (heard > ours && self.app.finalized_height() + margin < last.get()) {
                    self.provider.refrain_until(heard + 1);
                    info!(
                        ours,
                        heard,
                        signs_from = heard + 1,
                        "started from an empty disk behind the chain: not voting in the epochs it may have voted in before"
                    );
                }
                self.fresh = false;
                self.claims.clear();
            }
        }
        debug!(ours, theirs, ?from, me = %self.provider.me(), "a peer is in a later epoch: fetching our epoch's last block");
        self.marshal.hint_finalized(last, NonEmptyVec::new(from));
    }

    /// Removes the journal of an engine that observed `epoch` (none if it did not).
    async fn remove_observer_partition(&self, context: &E, epoch: u64) {
        let _ = context.remove(&observer_partition(&self.settings.prefix, epoch), None).await;
    }

    async fn remove_partition(&self, context: &E, epoch: u64) {
        match context.remove(&partition(&self.settings.prefix, epoch), None).await {
            Ok(()) => debug!(epoch, "removed an old epoch's consensus journal"),
            Err(e) => debug!(epoch, error = %e, "no old consensus journal removed"),
        }
    }
}

/// [`crate::app::Behaviour::Equivocate`]: on the first notarize of each round it receives from
/// a peer, signs two notarizes of two random proposals for the *next* view and sends both to
/// everyone. Sent before that view's leader proposes, the pair reaches each peer as two
/// conflicting votes of an open round (evidence: Commonware reports it); a double vote in the
/// round under way arrives too late when the peer already holds the round's proposal or its
/// certificate, and is then refused on its own with nothing to report. Remembers the last 1 024
/// rounds answered.
async fn equivocate<E: CryptoRng, S: Sender, R: Receiver>(
    mut context: E,
    scheme: Scheme,
    (mut sender, mut receiver): (S, R),
) {
    use commonware_codec::{DecodeExt as _, Encode as _};
    use commonware_consensus::simplex::types::{Notarize, Proposal, Vote};
    use commonware_consensus::types::Round;
    use commonware_p2p::Recipients;
    let mut answered = std::collections::BTreeSet::new();
    while let Ok((_, message)) = receiver.recv().await {
        let Ok(Vote::Notarize(n)) = Vote::<Scheme, sha256::Digest>::decode(message) else { continue };
        let round = n.proposal.round;
        if !answered.insert(round) {
            continue;
        }
        if answered.len() > 1_024 {
            answered.pop_first();
        }
        let next = Round::new(round.epoch(), round.view().next());
        for _ in 0..2 {
            let mut random = [0u8; 32];
            context.fill_bytes(&mut random);
            let proposal = Proposal::new(next, round.view(), sha256::Digest::from(random));
            if let Some(vote) = Notarize::<Scheme, sha256::Digest>::sign(&scheme, proposal) {
                sender.send(Recipients::All, Vote::Notarize(vote).encode(), true);
            }
        }
    }
}

/// The storage partition of epoch `epoch`'s Simplex journal.
pub fn partition(prefix: &str, epoch: u64) -> String {
    format!("{prefix}-simplex-epoch-{epoch}")
}

/// The journal partition of an engine that only observes `epoch` (`crate::rejoin`): apart from
/// the signing engine's, which starts empty of anything the observer saw.
fn observer_partition(prefix: &str, epoch: u64) -> String {
    format!("{prefix}-simplex-observe-{epoch}")
}

/// The consensus channels' muxers, whose subchannels are epochs.
struct Muxes<S: Sender> {
    votes: commonware_p2p::utils::mux::MuxHandle<S>,
    certificates: commonware_p2p::utils::mux::MuxHandle<S>,
    resolver: commonware_p2p::utils::mux::MuxHandle<S>,
}

/// A node observing the epoch it state-synced into (see `crate::rejoin`).
struct Rejoin {
    watch: ViewWatch,
    /// When the live view is fixed.
    until: std::time::SystemTime,
    /// The view the signing engine's floor must reach, once fixed.
    threshold: Option<u64>,
}

/// Resolves every [`REJOIN_TICK`] while `rejoin` is under way; never otherwise.
async fn rejoin_tick<E: Clock>(context: &E, rejoin: Option<&Rejoin>) {
    match rejoin {
        Some(_) => context.sleep(REJOIN_TICK).await,
        None => futures::future::pending().await,
    }
}

/// How often an observing node looks at what it saw.
const REJOIN_TICK: Duration = Duration::from_millis(200);

/// Registers `epoch`'s subchannel with `mux`, waiting (up to 40 × 50 ms) for an engine of the
/// same epoch just stopped to release it.
async fn register<E: Clock, S: Sender<PublicKey = ed25519::PublicKey>>(
    context: &E,
    mux: &mut commonware_p2p::utils::mux::MuxHandle<S>,
    epoch: u64,
) -> Option<(commonware_p2p::utils::mux::SubSender<S>, commonware_p2p::utils::mux::SubReceiver<ed25519::PublicKey>)> {
    for _ in 0..40 {
        match mux.register(epoch).await {
            Ok(channel) => return Some(channel),
            Err(commonware_p2p::utils::mux::Error::AlreadyRegistered(_)) => {
                context.sleep(Duration::from_millis(50)).await
            }
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> ed25519::PrivateKey {
        crate::devnet::consensus_key_from_seed(&[i; 32])
    }

    fn set(epoch: u64, members: &[u8]) -> EpochSet {
        let mut members: Vec<Member> =
            members.iter().map(|i| Member { key: key(*i).public_key(), address: format!("10.0.0.{i}:1") }).collect();
        members.sort_by(|a, b| a.key.cmp(&b.key));
        EpochSet { epoch, members }
    }

    #[test]
    fn signs_where_a_member_verifies_elsewhere_and_refrains_when_told() {
        let p = EpochProvider::new(b"ns".to_vec(), key(1));
        p.register(set(0, &[1, 2, 3, 4]));
        p.register(set(1, &[2, 3, 4, 5]));
        p.register(set(2, &[1, 3, 4, 5]));
        assert_eq!(p.is_signer(0), Some(true));
        assert_eq!(p.is_signer(1), Some(false), "not in epoch 1's set: an observer");
        assert!(p.scheme(Epoch::new(1)).is_some(), "an observer still runs the engine");
        assert!(p.scoped(Epoch::new(1)).and_then(Scoped::into_scheme).is_none());
        assert_eq!(p.is_signer(3), None);
        p.register(set(0, &[5, 6, 7, 8])); // a set is final once registered
        assert_eq!(p.is_signer(0), Some(true));
        p.refrain_until(2);
        p.refrain_until(1); // never lowered
        assert_eq!((p.is_signer(0), p.is_signer(2)), (Some(false), Some(true)));
        assert_eq!(p.latest(), Some(2));
        assert_eq!(p.known_keys().len(), 5);
    }

    #[test]
    fn a_peer_set_holds_the_set_then_the_next_then_candidates_within_its_limit() {
        let p = EpochProvider::new(b"ns".to_vec(), key(9));
        p.register(set(3, &[1, 2, 3, 4]));
        p.register(set(4, &[3, 4, 5, 6]));
        let candidates: Vec<Member> = set(0, &[1, 7, 8, 9, 10]).members;
        let (primary, secondary) = peer_set(&p, 3, candidates.clone(), 100);
        assert_eq!(primary.len(), 4);
        let keys: Vec<_> = secondary.iter().map(|m| m.key.clone()).collect();
        // 5 and 6 from the next set, then candidates not yet listed (not 1, not this node: 9).
        assert_eq!(keys.len(), 2 + 3);
        assert!(!keys.contains(&key(1).public_key()) && !keys.contains(&key(9).public_key()));
        let (primary, secondary) = peer_set(&p, 3, candidates, 7);
        assert_eq!(primary.len() + secondary.len() + 1, 7, "cut to the limit, this node counted");
        assert!(secondary.iter().any(|m| m.key == key(5).public_key()), "the next set comes first");
    }
}
