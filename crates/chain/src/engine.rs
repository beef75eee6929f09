//! Wiring of one validator: Simplex consensus, marshal (finalized block delivery, backfill,
//! archives), buffered broadcast, and our [`App`].
//!
//! This module is the one place that uses Commonware's ALPHA items (marshal's `Application` trait
//! and its `standard::Inline` wrapper); see ARCHITECTURE.md ("Stability"). Everything here is
//! generic over the runtime and the network, so the same code runs on tokio with authenticated
//! p2p and in the deterministic simulator with the simulated network.

use crate::app::{App, Behaviour, Finalizer, MarshalMailbox, Scheme};
use crate::block::ChainBlock;
use crate::epochs::{EngineSettings, EpochHooks, EpochProvider, Orchestrator, PeerSets};
use crate::faults::FaultWatch;
use crate::mempool::Mempool;
use commonware_broadcast::buffered;
use commonware_consensus::marshal::{
    self, Start,
    resolver::p2p as marshal_resolver,
    standard::{Inline, Standard},
};
use commonware_consensus::simplex;
use commonware_consensus::types::ViewDelta;
use commonware_cryptography::{Digestible, Signer, ed25519};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, Supervisor};
use commonware_storage::archive::immutable;
use commonware_utils::{NZDuration, NZU16, NZU64, NZUsize};
use rand::CryptoRng;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trustmeter_types::{Genesis, HashAlg};

const MAILBOX: NonZeroUsize = NZUsize!(1_024);
const IO_BUFFER: NonZeroUsize = NZUsize!(1 << 20);

/// p2p channel numbers.
pub mod channels {
    /// Consensus votes.
    pub const VOTES: u64 = 0;
    /// Consensus certificates.
    pub const CERTIFICATES: u64 = 1;
    /// Consensus resolver (missing certificates).
    pub const RESOLVER: u64 = 2;
    /// Marshal backfill (missing blocks).
    pub const BACKFILL: u64 = 3;
    /// Block broadcast.
    pub const BROADCAST: u64 = 4;
    /// Transaction gossip.
    pub const TXS: u64 = 5;
    /// State sync (`crate::statesync`).
    pub const STATE_SYNC: u64 = 6;
    /// Evidence replication: requests (the node's `evidence_sync`).
    pub const EVIDENCE_REQUESTS: u64 = 7;
    /// Evidence replication: answers.
    pub const EVIDENCE_ANSWERS: u64 = 8;
}

/// Consensus timeouts.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Wait for a leader's proposal.
    pub leader: Duration,
    /// Wait for certification.
    pub certification: Duration,
    /// Retry interval after a timeout.
    pub retry: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            leader: Duration::from_millis(1_000),
            certification: Duration::from_millis(2_000),
            retry: Duration::from_millis(500),
        }
    }
}

/// What one validator needs.
pub struct ValidatorConfig {
    /// This validator's consensus and p2p key (it votes in the epochs whose set holds it and
    /// follows the others).
    pub signer: ed25519::PrivateKey,
    /// The chain's genesis.
    pub genesis: Genesis,
    /// Storage partition prefix (unique per validator on a shared disk).
    pub partition_prefix: String,
    /// Consensus timeouts.
    pub timeouts: Timeouts,
    /// Misbehaviour for tests; `Honest` otherwise.
    pub behaviour: Behaviour,
    /// The mempool shared with the API.
    pub mempool: Arc<Mutex<Mempool>>,
    /// Receivers of finalized blocks from the first applied block on, including the blocks
    /// re-executed at start-up.
    pub sinks: Vec<crate::app::FinalizedSink>,
    /// Durable consumers of finalized blocks, called before each commit (the index).
    pub hooks: Vec<crate::app::DurableHook>,
    /// Where the state lives (a `trustmeter_statedb::DiskStore` on a node).
    pub store: Arc<dyn trustmeter_state::Store>,
    /// When the store is empty, first try to sync the state at a peer's latest certified
    /// height (`crate::statesync`) instead of executing every block from genesis.
    pub state_sync: bool,
    /// The p2p peer sets, tracked once per epoch (`crate::epochs::PeerSets`).
    pub peer_sets: Box<dyn PeerSets>,
}

/// The five network channels of a validator.
pub struct Channels<S, R> {
    /// Votes.
    pub votes: (S, R),
    /// Certificates.
    pub certificates: (S, R),
    /// Consensus resolver.
    pub resolver: (S, R),
    /// Marshal backfill.
    pub backfill: (S, R),
    /// Block broadcast.
    pub broadcast: (S, R),
    /// Transaction gossip.
    pub txs: (S, R),
    /// State sync.
    pub state_sync: (S, R),
}

/// A running validator.
pub struct Validator {
    /// The application (state, mempool, finalized-block subscriptions).
    pub app: App,
    /// Marshal's mailbox (blocks and finalizations by height).
    pub marshal: MarshalMailbox,
    /// The epoch orchestrator's task (it runs each epoch's Simplex engine); aborting it stops
    /// the validator.
    pub engine: Handle<()>,
    /// The validator sets this node knows, by epoch.
    pub epochs: EpochProvider,
}

pub use trustmeter_client::consensus::consensus_namespace;

/// The largest p2p message a validator sends, for committees of at most `participants` (Simplex
/// messages travel on their epoch's subchannel, behind a varint prefix).
pub fn max_message_size(participants: u32) -> u32 {
    commonware_p2p::max_message_size(&[
        commonware_p2p::utils::mux::prefixed(simplex::max_payload_size::<
            Scheme,
            commonware_cryptography::sha256::Digest,
        >(participants)),
        // The block codec's configuration (the hash algorithm) does not change a block's size.
        marshal::max_payload_size::<Standard<ChainBlock>, Scheme>(participants, &HashAlg::default()),
    ])
}

/// The most members an epoch's set may have (the bound certificates are decoded with).
pub fn max_committee(genesis: &Genesis) -> usize {
    (trustmeter_types::economy::MAX_ELECTED as usize).max(genesis.validators.len())
}

/// Starts one validator: marshal, broadcast, gossip, state sync, the finalizer and the epoch
/// orchestrator, which runs one Simplex engine per epoch (`crate::epochs`).
pub async fn start_validator<E, P, B, S, R>(
    context: E,
    cfg: ValidatorConfig,
    peer_provider: P,
    blocker: B,
    net: Channels<S, R>,
) -> Validator
where
    E: Spawner + Clock + Storage + Metrics + Supervisor + CryptoRng,
    P: Provider<PublicKey = ed25519::PublicKey> + Clone,
    B: Blocker<PublicKey = ed25519::PublicKey> + Clone + Sync,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
{
    let public_key = cfg.signer.public_key();
    let namespace = consensus_namespace(&cfg.genesis);
    let prefix = cfg.partition_prefix.clone();
    let page_cache = CacheRef::new(NZU16!(16_384), NZUsize!(4_096));
    let epocher = || crate::epochs::epocher(&cfg.genesis);
    let provider = EpochProvider::new(namespace, cfg.signer.clone());
    let mut peer_sets = cfg.peer_sets;

    // The genesis sets (epochs 0 and 1) verify a state sync's target; an empty disk tracks the
    // genesis validators as its first peers.
    for epoch in [0, 1] {
        provider.register(crate::epochs::genesis_set(&cfg.genesis, epoch).expect("genesis validators are valid"));
    }
    let track = |peer_sets: &mut Box<dyn PeerSets>, epoch: u64, candidates: Vec<crate::epochs::Member>| {
        let limit = crate::epochs::max_peer_set(&cfg.genesis);
        let (primary, secondary) = crate::epochs::peer_set(&provider, epoch, candidates, limit);
        peer_sets.track(epoch, &primary, &secondary);
    };
    let mut tracked = None;
    if cfg.store.snapshot().head().is_none() {
        track(&mut peer_sets, 0, vec![]);
        tracked = Some(0);
    }

    // Marshal resolver (backfill of missing blocks and finalizations).
    let resolver = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peer_provider.clone(),
            blocker: blocker.clone(),
            mailbox_size: MAILBOX,
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        net.backfill,
    );

    // Block dissemination.
    let (broadcast_engine, buffer) = buffered::Engine::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: public_key.clone(),
            mailbox_size: MAILBOX,
            deque_size: 16,
            priority: false,
            codec_config: cfg.genesis.params.hash,
            peer_provider: peer_provider.clone(),
            strategy: Sequential,
        },
    );
    broadcast_engine.start(net.broadcast);

    let finalizations = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(&prefix, "finalizations", &page_cache, max_committee(&cfg.genesis)),
    )
    .await
    .expect("finalizations archive must open");
    let blocks = immutable::Archive::init(
        context.child("blocks"),
        archive_config(&prefix, "blocks", &page_cache, cfg.genesis.params.hash),
    )
    .await
    .expect("blocks archive must open");

    // State sync: an empty store starts from a peer's certified state when asked to.
    let mut sync_channel = net.state_sync;
    let synced = if cfg.state_sync && cfg.store.snapshot().head().is_none() {
        crate::statesync::sync(&context, &cfg.genesis, &provider, &public_key, cfg.store.clone(), &mut sync_channel)
            .await
    } else {
        None
    };
    let floor = synced.as_ref().map(|s| s.finalization.clone());
    let (app, mut finalizer): (App, Finalizer) = App::new(&cfg.genesis, cfg.mempool.clone(), cfg.behaviour, cfg.store)
        .expect("the state store holds this chain's state");
    if let Some(s) = &synced {
        app.set_synced_at(s.state.height, s.refused);
    }
    // Every set the committed (or synced) state holds, registered before marshal starts (see
    // `crate::epochs`, "Restart"); the peers of the epoch of the next height are tracked.
    let state = app.finalized_state();
    let epoch = crate::epochs::epoch_of(&cfg.genesis, state.height + 1);
    for set in crate::epochs::sets_of(&cfg.genesis, &state, 0..=epoch + 1)
        .expect("the finalized state holds well-formed validator sets")
    {
        provider.register(set);
    }
    if tracked.is_none_or(|t| epoch > t) {
        track(&mut peer_sets, epoch, crate::epochs::candidates(&state));
        tracked = Some(epoch);
    }
    drop(state);

    let genesis_block = App::genesis_block(&cfg.genesis);
    let genesis_digest = genesis_block.digest();
    let (marshal_actor, marshal_mailbox, marshal_floor) =
        marshal::core::Actor::<_, Standard<ChainBlock>, _, _, _, _, _>::init(
            context.child("marshal"),
            finalizations,
            blocks,
            marshal::Config {
                provider: provider.clone(),
                epocher: epocher(),
                start: match &floor {
                    Some(f) => Start::Floor(f.clone()),
                    None => {
                        Start::Genesis(commonware_cryptography::Digested::precomputed(genesis_block, genesis_digest))
                    }
                },
                partition_prefix: format!("{prefix}-marshal"),
                mailbox_size: MAILBOX,
                view_retention: ViewDelta::new(32),
                prunable_items_per_section: NZU64!(64),
                page_cache: page_cache.clone(),
                replay_buffer: IO_BUFFER,
                key_write_buffer: IO_BUFFER,
                value_write_buffer: IO_BUFFER,
                block_codec_config: cfg.genesis.params.hash,
                max_repair: NZUsize!(64),
                max_pending_acks: NZUsize!(16),
                strategy: Sequential,
            },
        )
        .await;

    // An empty consensus disk (a new node, or one whose disk was lost): see `Orchestrator::hint`.
    let fresh = marshal_floor.processed().is_none_or(|p| p.height().get() == 0);
    for sink in cfg.sinks {
        app.subscribe(sink);
    }
    for hook in cfg.hooks {
        app.add_durable_hook(hook);
    }
    let (boundaries_tx, boundaries_rx) = futures::channel::mpsc::channel(1);
    finalizer.set_epochs(EpochHooks {
        genesis: cfg.genesis.clone(),
        provider: provider.clone(),
        boundaries: boundaries_tx,
    });
    marshal_actor.start(app.clone(), buffer, resolver);
    crate::gossip::start(context.child("gossip"), app.clone(), net.txs);
    {
        let (ctx, app, marshal) = (context.child("state_sync"), app.clone(), marshal_mailbox.clone());
        context.child("state_sync_server").spawn(move |_| crate::statesync::serve(ctx, app, marshal, sync_channel));
    }
    let marshal_for_finalizer = marshal_mailbox.clone();
    context.child("finalizer").spawn(move |ctx| finalizer.run(ctx, marshal_for_finalizer, vec![]));

    // Equivocation the engines see is reported to the chain by this node (`crate::faults`).
    let (faults, reports) = FaultWatch::new(provider.clone(), consensus_namespace(&cfg.genesis));
    {
        let (app, key, chain) = (app.clone(), crate::faults::account_key(&cfg.signer), cfg.genesis.chain_id.clone());
        context.child("fault_reports").spawn(move |_| crate::faults::submit_reports(app, key, chain, reports));
    }
    // Finalize votes the engines see are recorded on chain by this node's proposals (`crate::votes`).
    app.set_vote_book(crate::votes::VoteBook::new(
        consensus_namespace(&cfg.genesis),
        crate::faults::account_key(&cfg.signer),
    ));
    let inline = Inline::new(context.child("inline"), app.clone(), marshal_mailbox.clone(), epocher());
    let orchestrator = Orchestrator {
        genesis: cfg.genesis.clone(),
        app: app.clone(),
        provider: provider.clone(),
        marshal: marshal_mailbox.clone(),
        inline,
        blocker,
        settings: EngineSettings { prefix, timeouts: cfg.timeouts, page_cache, mailbox: MAILBOX, io_buffer: IO_BUFFER },
        peers: peer_sets,
        tracked,
        boundaries: boundaries_rx,
        synced: floor,
        fresh,
        claims: Default::default(),
        faults: Some(faults),
    };
    // The orchestrator takes the validator's root context last, so aborting its handle stops
    // every task this validator spawned (how the simulator crashes a validator).
    let engine = context.spawn(move |ctx| orchestrator.run(ctx, net.votes, net.certificates, net.resolver));
    Validator { app, marshal: marshal_mailbox, engine, epochs: provider }
}

fn archive_config<C>(prefix: &str, name: &str, page_cache: &CacheRef, codec_config: C) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: 1_024,
        freezer_table_resize_frequency: 10,
        freezer_table_resize_chunk_size: 128,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: page_cache.clone(),
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_target_size: 64 << 20,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        items_per_section: NZU64!(4_096),
        codec_config,
        replay_buffer: IO_BUFFER,
        freezer_key_write_buffer: IO_BUFFER,
        freezer_value_write_buffer: IO_BUFFER,
        ordinal_write_buffer: IO_BUFFER,
    }
}
