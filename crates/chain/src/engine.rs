//! Wiring of one validator: Simplex consensus, marshal (finalized block delivery, backfill,
//! archives), buffered broadcast, and our [`App`].
//!
//! This module is the one place that uses Commonware's ALPHA items (marshal's `Application` trait
//! and its `standard::Inline` wrapper); see ARCHITECTURE.md ("Stability"). Everything here is
//! generic over the runtime and the network, so the same code runs on tokio with authenticated
//! p2p and in the deterministic simulator with the simulated network.

use crate::app::{App, Behaviour, Finalizer, MarshalMailbox, Scheme};
use crate::block::ChainBlock;
use crate::mempool::Mempool;
use commonware_broadcast::buffered;
use commonware_consensus::marshal::{
    self, Start,
    resolver::p2p as marshal_resolver,
    standard::{Inline, Standard},
};
use commonware_consensus::simplex::{self, ForwardPolicy, SkipPolicy, elector::RoundRobin};
use commonware_consensus::types::{Epoch, FixedEpocher, ViewDelta};
use commonware_cryptography::certificate::ConstantProvider;
use commonware_cryptography::{Digestible, Sha256, Signer, ed25519};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, Supervisor};
use commonware_storage::archive::immutable;
use commonware_utils::ordered::Set;
use commonware_utils::{NZDuration, NZU16, NZU64, NZUsize};
use rand::CryptoRng;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trustmeter_types::{Genesis, HashAlg};

/// Epoch length in blocks. Validators are constant for the whole chain until DPoS elections land.
pub const EPOCH_LENGTH: u64 = u64::MAX / 2;
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
    /// This validator's consensus and p2p key.
    pub signer: ed25519::PrivateKey,
    /// The validator set (from genesis).
    pub participants: Set<ed25519::PublicKey>,
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
    /// The consensus engine task.
    pub engine: Handle<()>,
}

pub use trustmeter_client::consensus::consensus_namespace;

/// The largest p2p message a validator sends, for a committee of `participants`.
pub fn max_message_size(participants: u32) -> u32 {
    commonware_p2p::max_message_size(&[
        simplex::max_payload_size::<Scheme, commonware_cryptography::sha256::Digest>(participants),
        // The block codec's configuration (the hash algorithm) does not change a block's size.
        marshal::max_payload_size::<Standard<ChainBlock>, Scheme>(participants, &HashAlg::default()),
    ])
}

/// Starts one validator.
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
    B: Blocker<PublicKey = ed25519::PublicKey> + Clone,
    S: Sender<PublicKey = ed25519::PublicKey>,
    R: Receiver<PublicKey = ed25519::PublicKey>,
{
    let public_key = cfg.signer.public_key();
    let namespace = consensus_namespace(&cfg.genesis);
    let scheme = Scheme::signer(&namespace, cfg.participants.clone(), cfg.signer.clone())
        .expect("this validator's key must be in the validator set");
    let prefix = cfg.partition_prefix.clone();
    let page_cache = CacheRef::new(NZU16!(16_384), NZUsize!(4_096));

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
        archive_config(&prefix, "finalizations", &page_cache, cfg.participants.len()),
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
        crate::statesync::sync(
            &context,
            &cfg.genesis,
            &cfg.participants,
            &public_key,
            cfg.store.clone(),
            &mut sync_channel,
        )
        .await
    } else {
        None
    };
    let floor = synced.as_ref().map(|s| s.finalization.clone());

    let genesis_block = App::genesis_block(&cfg.genesis);
    let genesis_digest = genesis_block.digest();
    let provider = ConstantProvider::new(scheme.clone());
    let (marshal_actor, marshal_mailbox, _floor) =
        marshal::core::Actor::<_, Standard<ChainBlock>, _, _, _, _, _>::init(
            context.child("marshal"),
            finalizations,
            blocks,
            marshal::Config {
                provider,
                epocher: FixedEpocher::new(NZU64!(EPOCH_LENGTH)),
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

    let (app, finalizer): (App, Finalizer) = App::new(&cfg.genesis, cfg.mempool.clone(), cfg.behaviour, cfg.store)
        .expect("the state store holds this chain's state");
    if let Some(s) = &synced {
        app.set_synced_at(s.state.height, s.refused);
    }
    for sink in cfg.sinks {
        app.subscribe(sink);
    }
    for hook in cfg.hooks {
        app.add_durable_hook(hook);
    }
    marshal_actor.start(app.clone(), buffer, resolver);
    crate::gossip::start(context.child("gossip"), app.clone(), net.txs);
    {
        let (ctx, app, marshal) = (context.child("state_sync"), app.clone(), marshal_mailbox.clone());
        context.child("state_sync_server").spawn(move |_| crate::statesync::serve(ctx, app, marshal, sync_channel));
    }
    let marshal_for_finalizer = marshal_mailbox.clone();
    let peers: Vec<_> = cfg.participants.iter().filter(|k| **k != public_key).cloned().collect();
    context.child("finalizer").spawn(move |ctx| finalizer.run(ctx, marshal_for_finalizer, peers));

    let inline = Inline::new(
        context.child("inline"),
        app.clone(),
        marshal_mailbox.clone(),
        FixedEpocher::new(NZU64!(EPOCH_LENGTH)),
    );
    let t = cfg.timeouts;
    // The engine takes the validator's root context last, so aborting its handle stops every task
    // this validator spawned (how the simulator crashes a validator).
    let engine = simplex::Engine::new(
        context,
        simplex::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: inline.clone(),
            relay: inline.clone(),
            reporter: inline,
            strategy: Sequential,
            partition: format!("{prefix}-simplex-epoch-0"),
            mailbox_size: MAILBOX,
            epoch: Epoch::zero(),
            floor: match floor {
                Some(f) => simplex::Floor::Finalized(f),
                None => simplex::Floor::Genesis(genesis_digest),
            },
            replay_buffer: IO_BUFFER,
            write_buffer: IO_BUFFER,
            page_cache,
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
    let engine = engine.start(net.votes, net.certificates, net.resolver);
    Validator { app, marshal: marshal_mailbox, engine }
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
