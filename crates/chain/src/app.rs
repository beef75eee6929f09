//! The application marshal drives: builds blocks, verifies blocks, applies finalized blocks.
//!
//! - **Propose**: execute mempool transactions on the parent's post-state (speculative states
//!   of unfinalized blocks are kept by digest) and return the block.
//! - **Verify**: batch-verify the block's signatures, re-execute it on its parent's post-state and
//!   compare every header commitment.
//! - **Finalize** (`Reporter<Activity = Update<ChainBlock>>`): marshal hands finalized blocks in
//!   height order, at least once; blocks at or below the applied height are acknowledged and
//!   skipped, so redelivery after a restart is harmless. Each applied block is announced to the
//!   [`FinalizedSink`]s (the indexer, tests) with its finalization certificate.
//!
//! **Durability and restart**: the finalizer executes each finalized block on the finalized state
//! and hands it to the durable hooks (the index) before it acknowledges the block to marshal. It
//! commits the state to the [`Store`] in groups (*group commit*): the blocks finalized since the
//! last commit are written together in one transaction once there are [`MAX_UNCOMMITTED_BLOCKS`]
//! of them, once they span [`MAX_UNCOMMITTED_MS`] of block time, or at a block that changed the
//! registry ([`State::commit_chain`]: every height keeps its own tree versions and roots). Marshal's
//! archive holds every finalized block, so nothing is lost in between: on start the state is the
//! store's committed state, and the blocks marshal processed after the last commit (at most
//! [`MAX_UNCOMMITTED_BLOCKS`] after a crash; every block from genesis for a wiped store) are
//! re-executed from the archive before the app proposes or verifies anything. The number is
//! reported by [`App::replayed_blocks`].

use crate::block::{ChainBlock, from_digest, to_digest};
use crate::mempool::Mempool;
use crate::metrics::{CertificateSource, ChainMetrics, Phase};
use commonware_consensus::marshal::{Update, ancestry::Ancestry, core::Mailbox, standard::Standard};
use commonware_consensus::simplex::types::Context;
use commonware_consensus::types::Height;
use commonware_consensus::{Application, Heightable, Reporter};
use commonware_cryptography::{Digested, Digestible, ed25519, sha256};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::Acknowledgement;
use commonware_utils::vec::NonEmptyVec;
use futures::StreamExt;
use futures::channel::mpsc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};
use tracing::{debug, info, warn};
use trustmeter_crypto::{HashAlg, tx_hash};
use trustmeter_state::exec::BlockContext;
use trustmeter_state::{BlockOutput, SignatureVerdicts, State, Store, build_block, execute_block};
use trustmeter_types::{Genesis, Hash32, Rejection, Transaction};

/// The consensus signing scheme: Ed25519 votes, attributable, one signature per quorum member in a
/// certificate — so offline verifiers check finality against the genesis validator keys.
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// A finalization certificate for a block digest (consensus's type; `trustmeter_client` reads the
/// same bytes as its own `consensus::Finalization`).
pub type BlockFinalization =
    commonware_consensus::simplex::types::Finalization<Scheme, commonware_cryptography::sha256::Digest>;
/// The consensus context handed to propose and verify.
pub type ConsensusContext = Context<sha256::Digest, ed25519::PublicKey>;
/// Marshal's mailbox for our block type.
pub type MarshalMailbox = Mailbox<Scheme, Standard<ChainBlock>>;

/// A finalized block, applied, announced to sinks.
#[derive(Clone)]
pub struct Finalized {
    /// The block.
    pub block: ChainBlock,
    /// Its execution output (post-state, receipts, recorded readings).
    pub output: Arc<BlockOutput>,
    /// Its finalization certificate, when marshal has it.
    pub finalization: Option<BlockFinalization>,
}

/// A receiver of finalized blocks, in height order.
pub type FinalizedSink = mpsc::UnboundedSender<Finalized>;

/// A durable consumer of finalized blocks (the index), called by the finalizer with every block
/// before the state is committed, so that after a crash it never lags behind the committed state.
/// The flag says whether the state commits right after this block (group commit): the hook must
/// then have made everything it holds up to this block durable; in between it may write without
/// syncing. It must skip heights it already holds (a block is offered again after a crash between
/// the hook and the commit). An error stops the node: the index could no longer follow the chain.
pub type DurableHook = Arc<dyn Fn(&Finalized, bool) -> Result<(), String> + Send + Sync>;

/// How far ahead of our clock a proposer's timestamp may be before we wait for our clock.
const MAX_PROPOSER_CLOCK_AHEAD: Duration = Duration::from_secs(5);
/// Least time between a block and its parent, unless a full block's transactions are waiting
/// (see `propose`).
const MIN_BLOCK_INTERVAL: Duration = Duration::from_millis(200);
/// Group commit: most finalized blocks whose state stays in memory only before the node writes
/// them to its store together (one durable write instead of one per block). A crash loses none
/// of them: marshal's archive keeps every finalized block, and start-up re-executes those above
/// the store's height ([`App::replayed_blocks`]), so at most this many. Far below
/// the state's layer limit, so each block's trees are still computed once.
pub const MAX_UNCOMMITTED_BLOCKS: usize = 16;
/// Group commit: a finalized block is committed at the latest once its timestamp is this far past
/// the committed block's (block time, so that every run of the same blocks commits alike).
pub const MAX_UNCOMMITTED_MS: i64 = 1_000;
/// Group commit: most changed entries held uncommitted (bounds the memory of the overlay).
pub const MAX_UNCOMMITTED_ENTRIES: usize = 1 << 18;
/// Post-states of recently finalized blocks kept for ancestry walks.
const RECENT_FINALIZED_KEPT: u64 = 32;
/// Speculative states kept for unfinalized blocks, at most.
const MAX_SPECULATIVE_STATES: usize = 1_024;

struct Inner {
    finalized: Arc<BlockOutput>,
    /// The last finalized block whose state the store holds (at or below `finalized`).
    committed: Arc<BlockOutput>,
    /// Finalized blocks above `committed`, ascending: committed together later (see
    /// [`MAX_UNCOMMITTED_BLOCKS`]).
    uncommitted: Vec<Arc<BlockOutput>>,
    speculative: HashMap<sha256::Digest, Arc<BlockOutput>>,
    ready: bool,
    sinks: Vec<FinalizedSink>,
    height_watchers: Vec<mpsc::UnboundedSender<u64>>,
    hooks: Vec<DurableHook>,
    replayed: u64,
    synced_at: Option<(u64, u32)>,
}

/// Test-only misbehaviour, to check that honest validators refuse it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Behaviour {
    /// Follow the protocol.
    #[default]
    Honest,
    /// Propose blocks whose state root is wrong.
    CorruptStateRoot,
    /// Serve state sync pages with their first entry altered.
    LyingStateSync,
    /// Double-vote: instead of running Simplex in the epochs it votes in, answer the first
    /// notarize of each round received from a peer with two notarizes of its own for the next
    /// view, of two random proposals, to everyone (after Commonware's simplex `conflicter` mock,
    /// voting ahead so that the pair always reaches peers as evidence). Honest validators block
    /// it and report the pair.
    Equivocate,
}

/// The application. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct App {
    hash: HashAlg,
    inner: Arc<Mutex<Inner>>,
    mempool: Arc<Mutex<Mempool>>,
    ready_tx: Arc<Mutex<Vec<futures::channel::oneshot::Sender<()>>>>,
    updates: mpsc::UnboundedSender<Update<ChainBlock>>,
    behaviour: Behaviour,
    refused: Arc<std::sync::atomic::AtomicU64>,
    gossip: Arc<Mutex<Option<mpsc::UnboundedSender<Vec<u8>>>>>,
    /// Prometheus metrics (chain/src/metrics.rs).
    metrics: ChainMetrics,
    /// The finalize votes this validator saw; its proposals record them (`crate::votes`).
    votes: Arc<Mutex<Option<crate::votes::VoteBook>>>,
}

/// The half of the application that applies finalized blocks; run it with [`Finalizer::run`].
pub struct Finalizer {
    app: App,
    updates: mpsc::UnboundedReceiver<Update<ChainBlock>>,
    /// Heights up to which a block marshal holds no certificate for is applied without waiting
    /// for one (set after a wait that found none; see [`CERTIFICATE_WAIT`]).
    impatient_until: u64,
    /// Epoch boundaries: the next sets registered, the orchestrator told (`crate::epochs`).
    epochs: Option<crate::epochs::EpochHooks>,
}

/// How long the finalizer waits, before applying a finalized block, for its finalization
/// certificate when marshal holds none (a block that reached this node through its parent links:
/// the ancestors of a block it verified after a state sync or an outage). The certificate is
/// asked of the other validators; the index stores it, so the block's own certificate proves its
/// readings. A block finalized only through a descendant has none anywhere, and every validator
/// then waits this long for nothing (in `bench cluster`, one such block in ~500 stalled the four
/// finalizers 2 s each under load), so the wait is short: a peer that has the certificate answers
/// within a round trip.
pub const CERTIFICATE_WAIT: Duration = Duration::from_millis(500);

/// After a wait that found no certificate (a block finalized only through a descendant: its own
/// view's finalize votes never reached a quorum), the next this many heights are applied without
/// waiting, so that a run of such blocks costs one wait, not one each.
const IMPATIENT_HEIGHTS: u64 = 64;

/// How often the finalizer asks marshal again during [`CERTIFICATE_WAIT`].
const CERTIFICATE_POLL: Duration = Duration::from_millis(50);

impl App {
    /// Creates the application for `genesis` on the state committed in `store` (the genesis
    /// state if it is empty), sharing `mempool` with the API.
    ///
    /// # Panics
    ///
    /// If the mempool hashes with another algorithm than the genesis names (a wiring error).
    pub fn new(
        genesis: &Genesis,
        mempool: Arc<Mutex<Mempool>>,
        behaviour: Behaviour,
        store: Arc<dyn Store>,
    ) -> Result<(Self, Finalizer), trustmeter_state::StateError> {
        let hash = genesis.params.hash;
        assert_eq!(
            mempool.lock().expect("mempool lock").hash_alg(),
            hash,
            "the mempool must hash with the chain's algorithm (create it with Mempool::new(genesis.params.hash, ..))"
        );
        let state = State::open(genesis, store)?;
        if state.height > 0 {
            info!(height = state.height, root = %state.root(), "state opened from the store");
        }
        let out = Arc::new(BlockOutput { state, receipts: vec![], recorded: vec![] });
        let (tx, rx) = mpsc::unbounded();
        let app = App {
            inner: Arc::new(Mutex::new(Inner {
                finalized: out.clone(),
                committed: out,
                uncommitted: Vec::new(),
                speculative: HashMap::new(),
                ready: false,
                sinks: vec![],
                height_watchers: vec![],
                hooks: vec![],
                replayed: 0,
                synced_at: None,
            })),
            hash,
            mempool,
            ready_tx: Arc::new(Mutex::new(vec![])),
            updates: tx,
            behaviour,
            refused: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            gossip: Arc::new(Mutex::new(None)),
            metrics: ChainMetrics::new(),
            votes: Arc::default(),
        };
        Ok((app.clone(), Finalizer { app, updates: rx, impatient_until: 0, epochs: None }))
    }

    /// The genesis block as marshal wants it.
    pub fn genesis_block(genesis: &Genesis) -> ChainBlock {
        ChainBlock::new(genesis.params.hash, trustmeter_state::genesis_block(genesis).0)
    }

    /// Adds a receiver of finalized blocks (from the next applied block on).
    pub fn subscribe(&self, sink: FinalizedSink) {
        self.inner.lock().expect("app lock").sinks.push(sink);
    }

    /// Adds a receiver of the height of every finalized block applied to the state (from the
    /// next one on); lighter than [`App::subscribe`].
    pub fn watch_finalized_heights(&self, watcher: mpsc::UnboundedSender<u64>) {
        self.inner.lock().expect("app lock").height_watchers.push(watcher);
    }

    /// Adds a durable hook, called with every finalized block before the state commits (see
    /// [`DurableHook`]).
    pub fn add_durable_hook(&self, hook: DurableHook) {
        self.inner.lock().expect("app lock").hooks.push(hook);
    }

    /// How many finalized blocks the finalizer re-executed from marshal's archive at start-up
    /// (0 after a clean stop: the committed state was current).
    pub fn replayed_blocks(&self) -> u64 {
        self.inner.lock().expect("app lock").replayed
    }

    /// The height whose state this node restored by state sync at start-up, and how many peers'
    /// answers it refused on the way, if it synced.
    pub fn state_synced_at(&self) -> Option<(u64, u32)> {
        self.inner.lock().expect("app lock").synced_at
    }

    pub(crate) fn set_synced_at(&self, height: u64, refused: u32) {
        self.inner.lock().expect("app lock").synced_at = Some((height, refused));
    }

    /// Gives the application the vote book its proposals record votes from (a validator's).
    pub fn set_vote_book(&self, book: crate::votes::VoteBook) {
        *self.votes.lock().expect("vote book slot") = Some(book);
    }

    /// The vote book, if this application has one.
    pub fn vote_book(&self) -> Option<crate::votes::VoteBook> {
        self.votes.lock().expect("vote book slot").clone()
    }

    /// The test-only misbehaviour this application was started with.
    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
    }

    /// Whether the finalizer has caught up with marshal's processed height after start-up.
    pub fn is_ready(&self) -> bool {
        self.inner.lock().expect("app lock").ready
    }

    /// The latest finalized state.
    pub fn finalized_state(&self) -> State {
        self.inner.lock().expect("app lock").finalized.state.clone()
    }

    /// The latest finalized state the store holds: what proofs and state sync are made from
    /// (its height trails [`App::finalized_height`] by at most [`MAX_UNCOMMITTED_BLOCKS`]).
    pub fn committed_state(&self) -> State {
        self.inner.lock().expect("app lock").committed.state.clone()
    }

    /// The height of the latest finalized state.
    pub fn finalized_height(&self) -> u64 {
        self.inner.lock().expect("app lock").finalized.state.height
    }

    /// Connects the outbound side of transaction gossip.
    pub fn set_gossip(&self, tx: mpsc::UnboundedSender<Vec<u8>>) {
        *self.gossip.lock().expect("gossip lock") = Some(tx);
    }

    /// This application's Prometheus metrics.
    pub fn metrics(&self) -> &ChainMetrics {
        &self.metrics
    }

    /// Admits a transaction into this node's mempool after every admission check against the
    /// finalized state (signatures in one batch, sender, nonce, roles, registry rules), and with
    /// `gossip` sends it on to the other validators. Idempotent; CPU-bound (signature checks).
    pub fn admit(&self, tx: Transaction, gossip: bool) -> Result<Hash32, Rejection> {
        // Metrics: time and outcome of every admission (chain/src/metrics.rs).
        let (started, readings) = (std::time::Instant::now(), tx.body.payload.reading_count());
        let result = self.admit_checked(tx, gossip);
        self.metrics.admitted(started.elapsed(), readings, result.as_ref().err());
        result
    }

    fn admit_checked(&self, tx: Transaction, gossip: bool) -> Result<Hash32, Rejection> {
        let h = tx_hash(self.hash, &tx);
        {
            let m = self.mempool.lock().expect("mempool lock");
            if m.contains(&h) {
                return Ok(h);
            }
            m.check_capacity(&tx.body.sender, tx.body.payload.reading_count())?;
        }
        let state = self.finalized_state();
        let finalized_nonce = state.nonce(&tx.body.sender);
        if !gossip && tx.body.nonce <= finalized_nonce {
            // A gossiped copy of a transaction already finalized here: nothing to check again.
            return Err(Rejection::new(trustmeter_types::RejectCode::StaleNonce, "already superseded on this node"));
        }
        match crate::mempool::precheck_hashed(&state, &tx, Some(h)) {
            Ok(v) => {
                let bytes = {
                    let mut m = self.mempool.lock().expect("mempool lock");
                    // The frame names the height admitted at (a peer behind it holds the
                    // transaction) and the sender's previous nonce here (a peer that never got
                    // that one must not let this one go first).
                    let bytes = gossip.then(|| {
                        let prev_nonce = m.nonce_below(&tx.body.sender, tx.body.nonce).unwrap_or(finalized_nonce);
                        crate::gossip::encode_frame(state.height, prev_nonce, &tx)
                    });
                    m.insert_hashed(tx, h, v)?;
                    bytes
                };
                if let (Some(bytes), Some(g)) = (bytes, self.gossip.lock().expect("gossip lock").as_ref()) {
                    let _ = g.unbounded_send(bytes);
                }
                Ok(h)
            }
            Err(r) => {
                self.mempool.lock().expect("mempool lock").remember_rejection(h, r.clone());
                Err(r)
            }
        }
    }

    /// Signature verdicts for `txs`: the mempool's for the transactions it holds, one batch for
    /// the rest.
    fn verdicts_for(&self, state: &State, txs: &[Transaction]) -> SignatureVerdicts {
        let (mut verdicts, missing) = self.mempool.lock().expect("mempool lock").verdicts_for(txs);
        if !missing.is_empty() {
            verdicts.extend(
                self.metrics.signature_verify(|| SignatureVerdicts::batch_verify(state, &missing, &mut rand::rng())),
            );
        }
        verdicts
    }

    /// How many proposed blocks this node refused as invalid.
    pub fn refused_blocks(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The chain's hash algorithm (from genesis).
    pub fn hash_alg(&self) -> HashAlg {
        self.hash
    }

    /// The shared mempool.
    pub fn mempool(&self) -> Arc<Mutex<Mempool>> {
        self.mempool.clone()
    }

    /// Waits until the finalizer has replayed what marshal processed before this start.
    pub async fn ready(&self) {
        self.wait_ready().await
    }

    async fn wait_ready(&self) {
        let rx = {
            let inner = self.inner.lock().expect("app lock");
            if inner.ready {
                return;
            }
            let (tx, rx) = futures::channel::oneshot::channel();
            self.ready_tx.lock().expect("ready lock").push(tx);
            rx
        };
        let _ = rx.await;
    }

    /// The post-state of `digest` if known (finalized tip, genesis or a speculative block).
    fn known_output(&self, digest: &sha256::Digest) -> Option<Arc<BlockOutput>> {
        let inner = self.inner.lock().expect("app lock");
        if to_digest(&inner.finalized.state.block_digest) == *digest {
            return Some(inner.finalized.clone());
        }
        inner.speculative.get(digest).cloned()
    }

    fn remember(&self, digest: sha256::Digest, out: Arc<BlockOutput>) {
        let mut inner = self.inner.lock().expect("app lock");
        if inner.speculative.len() >= MAX_SPECULATIVE_STATES {
            let floor = inner.finalized.state.height;
            inner.speculative.retain(|_, o| o.state.height + RECENT_FINALIZED_KEPT > floor);
        }
        inner.speculative.insert(digest, out);
    }

    /// The post-state of the first block `ancestry` yields, executing unknown ancestors on the way.
    /// Returns `None` when the ancestry does not reach a known state above the finalized tip.
    async fn state_of(&self, mut ancestry: impl Ancestry<ChainBlock>) -> Option<Arc<BlockOutput>> {
        let finalized_height = self.inner.lock().expect("app lock").finalized.state.height;
        let mut unknown: Vec<Digested<ChainBlock>> = Vec::new();
        let base = loop {
            let block = ancestry.next().await?;
            if let Some(out) = self.known_output(&block.digest()) {
                break out;
            }
            if block.height().get() <= finalized_height {
                debug!(height = block.height().get(), "ancestry leaves the finalized chain");
                return None;
            }
            unknown.push(block);
        };
        let mut out = base;
        for block in unknown.into_iter().rev() {
            let b = block.inner();
            let verdicts = self.metrics.signature_verify(|| {
                SignatureVerdicts::batch_verify(&out.state, &b.block.txs.iter().collect::<Vec<_>>(), &mut rand::rng())
            });
            match self.metrics.execution(Phase::Verify, || execute_block(&out.state, &b.block, &verdicts)) {
                Ok(o) => {
                    let o = Arc::new(o);
                    self.remember(block.digest(), o.clone());
                    out = o;
                }
                Err(e) => {
                    warn!(error = %e, "ancestor does not execute");
                    return None;
                }
            }
        }
        Some(out)
    }
}

fn now_ms(clock: &impl Clock) -> i64 {
    clock.current().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

impl<E> Application<E> for App
where
    E: Clock + Spawner + Metrics,
{
    type SigningScheme = Scheme;
    type Context = ConsensusContext;
    type Block = ChainBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, context): (E, ConsensusContext),
        ancestry: impl Ancestry<ChainBlock>,
        _input: (),
    ) -> Option<Digested<ChainBlock>> {
        self.wait_ready().await;
        let parent = self.state_of(ancestry).await?;
        let parent_state = &parent.state;
        let max_txs = parent_state.params.max_block_txs as usize;
        let max_readings = parent_state.params.max_block_readings as usize;
        // Pacing: a block waits until MIN_BLOCK_INTERVAL after its parent unless a full block is
        // already waiting. Every block costs every validator a commit, an index write, archive
        // entries and a round of votes whatever it carries, so a chain under load makes fewer,
        // fuller blocks instead of finalizing a few readings as fast as the network allows.
        let full = {
            let m = self.mempool.lock().expect("mempool lock");
            m.len() >= max_txs || m.readings() >= max_readings
        };
        let wait = parent_state.timestamp_ms + MIN_BLOCK_INTERVAL.as_millis() as i64 - now_ms(&runtime);
        if !full && wait > 0 {
            runtime.sleep(Duration::from_millis(wait as u64)).await;
        }
        let candidates = self.mempool.lock().expect("mempool lock").candidates(max_txs * 2, max_readings);
        let mut verdicts = SignatureVerdicts::none();
        let mut txs = Vec::with_capacity(candidates.len());
        for (tx, v) in candidates {
            if tx.body.nonce <= parent_state.nonce(&tx.body.sender) {
                continue; // already included in an unfinalized ancestor, or superseded
            }
            verdicts.extend((*v).clone());
            txs.push((*tx).clone());
        }
        // The finalize votes of an earlier block, first (`crate::votes`).
        if let Some(record) = self.vote_book().and_then(|b| b.record(parent_state, parent_state.height + 1)) {
            txs.insert(0, record);
        }
        let ctx = BlockContext {
            epoch: context.round.epoch().get(),
            view: context.round.view().get(),
            timestamp_ms: now_ms(&runtime),
        };
        let (mut block, out) =
            self.metrics.execution(Phase::Propose, || build_block(parent_state, &ctx, txs, &verdicts));
        if self.behaviour == Behaviour::CorruptStateRoot {
            block.header.state_root.0[0] ^= 0xff;
        }
        let chain_block = ChainBlock::new(self.hash, block);
        let digest = chain_block.digest();
        debug!(
            height = chain_block.block.header.height,
            txs = chain_block.block.txs.len(),
            readings = chain_block.block.header.readings_accepted,
            "proposed"
        );
        self.remember(digest, Arc::new(out));
        Some(Digested::precomputed(chain_block, digest))
    }

    async fn verify(
        &mut self,
        (runtime, _context): (E, ConsensusContext),
        mut ancestry: impl Ancestry<ChainBlock>,
    ) -> bool {
        self.wait_ready().await;
        let Some(block) = ancestry.next().await else { return false };
        if self.known_output(&block.digest()).is_some() {
            return true; // we proposed or already verified it
        }
        let Some(parent) = self.state_of(ancestry).await else {
            return false;
        };
        let b = block.inner();
        // A proposer far ahead of our clock: wait for our clock rather than vote against it.
        let ahead = b.block.header.timestamp_ms - now_ms(&runtime);
        if ahead > MAX_PROPOSER_CLOCK_AHEAD.as_millis() as i64 {
            runtime.sleep(Duration::from_millis(ahead as u64) - MAX_PROPOSER_CLOCK_AHEAD).await;
        }
        let verdicts = self.verdicts_for(&parent.state, &b.block.txs);
        match self.metrics.execution(Phase::Verify, || execute_block(&parent.state, &b.block, &verdicts)) {
            Ok(out) => {
                self.remember(block.digest(), Arc::new(out));
                true
            }
            Err(e) => {
                warn!(height = b.block.header.height, error = %e, "refusing invalid block");
                self.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                false
            }
        }
    }
}

impl Reporter for App {
    type Activity = Update<ChainBlock>;

    fn report(&mut self, activity: Self::Activity) -> commonware_actor::Feedback {
        match self.updates.unbounded_send(activity) {
            Ok(()) => commonware_actor::Feedback::Ok,
            Err(_) => commonware_actor::Feedback::Closed,
        }
    }
}

impl Finalizer {
    /// Replays finalized blocks `1..=processed` from marshal, then applies updates until the
    /// channel closes. `peers` are the validators asked for a certificate marshal lacks.
    /// With epochs ([`Finalizer::set_epochs`]) the peers asked are the other members of the
    /// block's epoch's set instead.
    pub async fn run<C: Clock>(mut self, clock: C, marshal: MarshalMailbox, peers: Vec<ed25519::PublicKey>) {
        self.replay::<C>(&marshal).await;
        let fixed = NonEmptyVec::try_from(peers).ok();
        while let Some(update) = self.updates.next().await {
            match update {
                Update::Tip(..) => {}
                Update::Block(block, ack) => {
                    let height = block.height().get();
                    let peers = match &self.epochs {
                        Some(hooks) => hooks.peers_at(height),
                        None => fixed.clone(),
                    };
                    let fetch = peers.as_ref().map(|p| (&clock, p));
                    self.apply(block.inner().clone(), &marshal, fetch).await;
                    debug!(height, "finalized");
                    if let Some(hooks) = &mut self.epochs {
                        hooks.after_block(&self.app, height, block.digest(), true).await;
                    }
                    ack.acknowledge();
                }
            }
        }
    }

    /// Makes this finalizer register each epoch's sets at its boundary and hand the boundary to
    /// the orchestrator before acknowledging it (`crate::epochs`).
    pub(crate) fn set_epochs(&mut self, hooks: crate::epochs::EpochHooks) {
        self.epochs = Some(hooks);
    }

    async fn replay<C: Clock>(&mut self, marshal: &MarshalMailbox) {
        let processed = marshal.get_processed().await.map(|p| p.height().get()).unwrap_or(0);
        let committed = self.app.inner.lock().expect("app lock").finalized.state.height;
        if processed > committed {
            info!(committed, processed, "re-executing finalized blocks the state store has not committed");
        }
        for h in committed + 1..=processed {
            let Some(block) = marshal.get_block(Height::new(h)).await else {
                warn!(height = h, "finalized block missing from marshal's archive; stopping replay");
                break;
            };
            // Already processed by marshal: a certificate it lacks can no longer be fetched.
            self.apply(block.inner().clone(), marshal, None::<(&C, _)>).await;
            self.app.inner.lock().expect("app lock").replayed += 1;
            if let Some(hooks) = &mut self.epochs {
                hooks.after_block(&self.app, h, block.digest(), false).await;
            }
        }
        let mut inner = self.app.inner.lock().expect("app lock");
        inner.ready = true;
        for tx in self.app.ready_tx.lock().expect("ready lock").drain(..) {
            let _ = tx.send(());
        }
        info!(height = inner.finalized.state.height, root = %inner.finalized.state.root(), "state ready");
    }

    /// Applies a finalized block with its certificate. When marshal holds none and `fetch` names
    /// a clock and peers, the certificate is asked of the peers first and awaited for at most
    /// [`CERTIFICATE_WAIT`] (marshal only fetches for heights it has not processed, so this must
    /// happen before the block is acknowledged).
    async fn apply(
        &mut self,
        block: ChainBlock,
        marshal: &MarshalMailbox,
        fetch: Option<(&impl Clock, &NonEmptyVec<ed25519::PublicKey>)>,
    ) {
        let height = block.block.header.height;
        if height <= self.app.finalized_height() {
            return; // genesis, or a block redelivered after a restart: already applied
        }
        let mut finalization = marshal.get_finalization(Height::new(height)).await;
        let mut source = CertificateSource::Local;
        if let (None, Some((clock, peers))) = (&finalization, fetch)
            && height > self.impatient_until
        {
            marshal.hint_finalized(Height::new(height), peers.clone());
            let deadline = clock.current() + CERTIFICATE_WAIT;
            while finalization.is_none() && clock.current() < deadline {
                clock.sleep(CERTIFICATE_POLL).await;
                finalization = marshal.get_finalization(Height::new(height)).await;
            }
            if finalization.is_none() {
                self.impatient_until = height + IMPATIENT_HEIGHTS;
                warn!(height, "no finalization certificate for a finalized block (finalized through a descendant)");
            } else {
                source = CertificateSource::Fetched;
                debug!(height, "fetched the finalization certificate of a block that arrived without one");
            }
        }
        if finalization.is_none() {
            source = CertificateSource::Missing;
        }
        self.app.metrics.block_certificate(source);
        if let Err(e) = self.app.apply_finalized(block, finalization) {
            panic!("{e}; the node's state is corrupt");
        }
    }
}

/// Why a finalized block could not be applied ([`App::apply_finalized`]).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The block is not the next one after the finalized state.
    #[error("block {got} does not follow the finalized height {finalized}")]
    OutOfOrder {
        /// The finalized height.
        finalized: u64,
        /// The block's height.
        got: u64,
    },
    /// The block does not execute on the finalized state (or its header's results differ).
    #[error("finalized block {height} does not execute on the finalized state: {source}")]
    Execution {
        /// The block's height.
        height: u64,
        /// Why.
        source: trustmeter_state::BlockError,
    },
    /// A durable hook (the index) failed.
    #[error("a durable consumer of finalized blocks failed at height {height}: {reason}")]
    Hook {
        /// The block's height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// The state store failed.
    #[error("committing the state of finalized block {height} failed: {reason}")]
    Commit {
        /// The block's height.
        height: u64,
        /// Why.
        reason: String,
    },
}

impl App {
    /// Applies the finalized block after the finalized state: executes it (unless this node
    /// already did, as a proposal), runs the durable hooks, commits the state when the group
    /// commit says so (see the module documentation), and tells the subscribers. A block at or
    /// below the finalized height is ignored. The finalizer calls it for every block marshal
    /// delivers; a follower node calls it for every block it has checked against a finalization
    /// certificate.
    pub fn apply_finalized(
        &self,
        block: ChainBlock,
        finalization: Option<BlockFinalization>,
    ) -> Result<(), ApplyError> {
        let digest = block.digest();
        let (finalized, cached) = {
            let inner = self.inner.lock().expect("app lock");
            (inner.finalized.clone(), inner.speculative.get(&digest).cloned())
        };
        let height = block.block.header.height;
        if height <= finalized.state.height {
            return Ok(()); // redelivery
        }
        if height != finalized.state.height + 1 {
            return Err(ApplyError::OutOfOrder { finalized: finalized.state.height, got: height });
        }
        let out = match cached {
            Some(o) if o.state.block_digest == from_digest(&digest) => o,
            _ => {
                let verdicts = self.metrics.signature_verify(|| {
                    SignatureVerdicts::batch_verify(
                        &finalized.state,
                        &block.block.txs.iter().collect::<Vec<_>>(),
                        &mut rand::rng(),
                    )
                });
                let out = self
                    .metrics
                    .execution(Phase::Finalize, || execute_block(&finalized.state, &block.block, &verdicts))
                    .map_err(|source| ApplyError::Execution { height, source })?;
                Arc::new(out)
            }
        };
        let (hooks, committed, uncommitted) = {
            let inner = self.inner.lock().expect("app lock");
            (inner.hooks.clone(), inner.committed.clone(), inner.uncommitted.clone())
        };
        let mut event = Finalized { block, output: out, finalization };
        // Group commit: the blocks since the last commit are written together, once there are
        // enough of them, once they span enough time, or at a block that changed the registry (so
        // that the registry's versions, kept for ever, are written at the heights that made them).
        let state = &event.output.state;
        let commit_now = uncommitted.len() + 1 >= MAX_UNCOMMITTED_BLOCKS
            || state.timestamp_ms.saturating_sub(committed.state.timestamp_ms) >= MAX_UNCOMMITTED_MS
            || state.uncommitted_entries() >= MAX_UNCOMMITTED_ENTRIES
            || state.changed_registry_at(height);
        self.metrics.execution(Phase::Hooks, || {
            hooks
                .iter()
                .try_for_each(|hook| hook(&event, commit_now).map_err(|reason| ApplyError::Hook { height, reason }))
        })?;
        let state = &event.output.state;
        let out = if commit_now {
            let chain: Vec<State> =
                uncommitted.iter().map(|o| o.state.clone()).chain(std::iter::once(state.clone())).collect();
            let committed = self
                .metrics
                .execution(Phase::Commit, || State::commit_chain(&chain))
                .map_err(|e| ApplyError::Commit { height, reason: e.to_string() })?;
            Arc::new(BlockOutput {
                state: committed,
                receipts: event.output.receipts.clone(),
                recorded: event.output.recorded.clone(),
            })
        } else {
            event.output.clone()
        };
        event.output = out.clone();
        let sinks = {
            let mut inner = self.inner.lock().expect("app lock");
            inner.finalized = out.clone();
            if commit_now {
                inner.committed = out.clone();
                inner.uncommitted.clear();
            } else {
                inner.uncommitted.push(out.clone());
            }
            // Keep the post-states of the last few finalized blocks too: a proposal being verified
            // concurrently may still walk its ancestry down to one of them.
            inner.speculative.insert(digest, out.clone());
            inner.speculative.retain(|_, o| o.state.height + RECENT_FINALIZED_KEPT > height);
            inner.sinks.retain(|s| !s.is_closed());
            inner.height_watchers.retain(|w| w.unbounded_send(height).is_ok());
            inner.sinks.clone()
        };
        self.metrics.finalized(&event.block.block.header); // metrics (chain/src/metrics.rs)
        {
            let mut mempool = self.mempool.lock().expect("mempool lock");
            mempool.remove(event.block.block.txs.iter().map(|t| tx_hash(self.hash, t)));
            mempool.prune_stale(&out.state);
        }
        for s in sinks {
            let _ = s.unbounded_send(event.clone());
        }
        Ok(())
    }

    /// Marks the application ready without a finalizer (a follower node, which applies finalized
    /// blocks itself with [`App::apply_finalized`]).
    pub fn set_ready(&self) {
        let mut inner = self.inner.lock().expect("app lock");
        inner.ready = true;
        for tx in self.ready_tx.lock().expect("ready lock").drain(..) {
            let _ = tx.send(());
        }
    }
}
