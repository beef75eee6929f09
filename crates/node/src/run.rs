//! Starting a validator on the tokio runtime with authenticated p2p.

use crate::api::{self, ApiState};
use anyhow::{Context as _, Result};
use commonware_cryptography::{ChaCha20Poly1305, Signer, ed25519};
use commonware_p2p::authenticated::lookup;
use commonware_p2p::{AddressableManager, AddressableTrackedPeers};
use commonware_runtime::{Metrics as _, Quota, Supervisor, tokio as cw_tokio};
use commonware_stream::cups::{self, Cups};
use commonware_stream::sake::{self, Sake};
use commonware_utils::ordered::Map;
use commonware_utils::{NZU32, NZUsize};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::info;
use trustmeter_analytics::alarms::AlarmHub;
use trustmeter_chain::engine::{
    Channels, Timeouts, ValidatorConfig, channels, max_committee, max_message_size, start_validator,
};
use trustmeter_chain::epochs::{Member, PeerSets};
use trustmeter_chain::{App, Behaviour, Mempool, MempoolLimits};
use trustmeter_index::Index;
use trustmeter_types::Genesis;

/// Messages a peer may send on one p2p channel at once before it is paced at the channel's rate
/// (10 000/s), at most. Commonware allocates each channel's inbound queue up front for every peer
/// of every tracked peer set at this burst, so [`p2p_burst`] lowers it as the peer sets grow.
const P2P_BURST: u32 = 1_000;
/// Peer sets the p2p network tracks: the previous epoch's, the current one's and the next one's.
const TRACKED_PEER_SETS: usize = 3;
/// Queue slots per channel the burst is sized to: what 4 validators' single peer set (4 peers,
/// 4 sets tracked) took at [`P2P_BURST`] before peer sets changed by epoch.
const P2P_QUEUE_SLOTS: usize = 16_000;

/// The burst for peer sets of `max_peers` identities, `sets` of them tracked: [`P2P_QUEUE_SLOTS`]
/// shared out, between 250 and [`P2P_BURST`].
fn p2p_burst(max_peers: usize, sets: usize) -> u32 {
    (P2P_QUEUE_SLOTS / (max_peers * sets).max(1)).clamp(250, P2P_BURST as usize) as u32
}

/// Everything needed to start one validator.
pub struct NodeSpec {
    /// Validator name (storage prefix, logs).
    pub name: String,
    /// Genesis.
    pub genesis: Genesis,
    /// This validator's key.
    pub key: ed25519::PrivateKey,
    /// p2p listen address.
    pub p2p_listen: SocketAddr,
    /// API listen address (port 0 picks a free port).
    pub api_listen: SocketAddr,
    /// Index file.
    pub index_path: std::path::PathBuf,
    /// State store file (`trustmeter-statedb`).
    pub state_path: std::path::PathBuf,
    /// Accept private and loopback peers.
    pub allow_private_ips: bool,
    /// Consensus timeouts.
    pub timeouts: Timeouts,
    /// The alarm engine's configuration (`[alarms]` of the node config).
    pub alarms: trustmeter_analytics::alarms::AlarmConfig,
    /// The API's bounds on concurrent expensive requests (`[api]` of the node config).
    pub api: crate::api::limits::ApiConfig,
    /// With an empty state store, sync the state at a peer's latest certified height instead of
    /// executing every block from genesis (`state_sync` of the node config).
    pub state_sync: bool,
    /// The state store's page cache, MiB (`state_cache_mib` of the node config).
    pub state_cache_mib: usize,
}

/// A running validator.
#[derive(Clone)]
pub struct RunningNode {
    /// Name.
    pub name: String,
    /// The application (finalized state, mempool).
    pub app: App,
    /// The index.
    pub index: Index,
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// The alarm engine (what `/v1/alarms` serves).
    pub alarms: trustmeter_analytics::alarms::AlarmHub,
    /// The API's bounds on concurrent expensive requests (shared with the API).
    pub limits: crate::api::limits::RequestLimits,
}

/// Starts one validator inside a commonware tokio context.
pub async fn start_node(context: cw_tokio::Context, spec: NodeSpec) -> Result<RunningNode> {
    let genesis = spec.genesis.clone();
    crate::config::refuse_public_keys(&genesis)?;
    let participants = trustmeter_chain::devnet::participants(&genesis).map_err(anyhow::Error::msg)?;
    spec.alarms.validate().map_err(|e| anyhow::anyhow!("alarm configuration: {e}"))?;
    spec.api.validate().map_err(|e| anyhow::anyhow!("API configuration: {e}"))?;
    let me = spec.key.public_key();
    if participants.position(&me).is_none() {
        info!(chain = %genesis.chain_id, "this node's key is not a genesis validator: it follows the chain and votes in the epochs it is elected for");
    }

    // Authenticated p2p: the validators of the current epoch (primary) and of the next (secondary),
    // tracked epoch by epoch as the node enters them (`trustmeter_chain::epochs`); addresses come
    // from genesis and then from each elected set.
    let mut genesis_peers = Vec::new();
    for v in &genesis.validators {
        let key_bytes = hex::decode(&v.consensus_key)?;
        let key = ed25519::PublicKey::try_from(key_bytes.as_slice())
            .map_err(|e| anyhow::anyhow!("validator {} key: {e:?}", v.name))?;
        let _: SocketAddr =
            v.p2p_address.parse().with_context(|| format!("validator {} address {}", v.name, v.p2p_address))?;
        genesis_peers.push(key);
    }
    let namespace = format!("trustmeter/p2p/{}", genesis.chain_id).into_bytes();
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer: spec.key.clone(),
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    // One epoch's peer set: its validators, the next epoch's and a few candidates, this node too
    // (`trustmeter_chain::epochs::peer_set` cuts it to this).
    let committee = max_committee(&genesis);
    let max_peers = NonZeroUsize::new(trustmeter_chain::epochs::max_peer_set(&genesis)).expect("non-zero");
    let msg = max_message_size(committee as u32);
    let mut p2p_cfg = if spec.allow_private_ips {
        lookup::Config::local(handshake, &namespace, spec.p2p_listen, max_peers, msg, NZUsize!(4_096))
    } else {
        lookup::Config::recommended(handshake, &namespace, spec.p2p_listen, max_peers, msg, NZUsize!(4_096))
    };
    // The previous epoch's set (peers still finishing it), the current one and the next one.
    p2p_cfg.tracked_peer_sets = NonZeroUsize::new(TRACKED_PEER_SETS).expect("non-zero");
    // Commonware's listener panics when its address cannot be bound; a port another process holds
    // is an operator's mistake and gets an error instead. (Another process can still take the port
    // between this check and the bind; that remains a panic, within milliseconds of start.)
    std::net::TcpListener::bind(spec.p2p_listen)
        .with_context(|| format!("binding p2p on {} (is another process using the port?)", spec.p2p_listen))?;
    let (mut network, oracle) = lookup::Network::new(context.child("network"), p2p_cfg);
    // Per peer and channel: 10 000 messages/s, bursts of up to 1 000 (`p2p_burst`: 592 for 4
    // validators; a peer beyond it is made to wait, nothing is dropped). Commonware sizes each channel's inbound mailbox at peers × burst and
    // the router's at their sum, allocated whole at start: with the default burst (= the rate)
    // that was 4 × 10 000 × 7 channels of router messages, a 448 MiB allocation and ~580 MiB
    // resident in every idle 4-validator process (found with gdb on the mmap); it grows with the
    // number of validators.
    let burst = NonZeroU32::new(p2p_burst(max_peers.get(), TRACKED_PEER_SETS)).expect("at least 250");
    let quota = Quota::per_second(NZU32!(10_000)).allow_burst(burst);
    let mut reg = |ch: u64| network.register(ch, quota);
    let net = Channels {
        votes: reg(channels::VOTES),
        certificates: reg(channels::CERTIFICATES),
        resolver: reg(channels::RESOLVER),
        backfill: reg(channels::BACKFILL),
        broadcast: reg(channels::BROADCAST),
        txs: reg(channels::TXS),
        state_sync: reg(channels::STATE_SYNC),
    };
    let (requests, answers) = (reg(channels::EVIDENCE_REQUESTS), reg(channels::EVIDENCE_ANSWERS));
    network.start();

    let storage = open_storage(&spec.index_path, &spec.state_path, spec.state_cache_mib, &genesis)?;
    let mempool = Arc::new(Mutex::new(Mempool::new(genesis.params.hash, MempoolLimits::default())));
    let validator = start_validator(
        context.child("validator"),
        ValidatorConfig {
            signer: spec.key.clone(),
            genesis: genesis.clone(),
            partition_prefix: spec.name.clone(),
            timeouts: spec.timeouts,
            behaviour: Behaviour::Honest,
            mempool: mempool.clone(),
            sinks: vec![],
            hooks: vec![storage.hook.clone()],
            store: storage.store.clone(),
            state_sync: spec.state_sync,
            peer_sets: Box::new(LookupPeerSets(oracle.clone())),
        },
        oracle.clone(),
        oracle,
        net,
    )
    .await;

    // Evidence files the chain names are fetched from the validators that hold them.
    let evidence_dir = spec.index_path.with_extension("evidence");
    let evidence = Arc::new(open_evidence(&evidence_dir, &genesis)?);
    let others: Vec<_> = genesis_peers.into_iter().filter(|p| p != &me).collect();
    let queue = crate::evidence_sync::start(evidence.clone(), others, (answers.0, requests.1), (requests.0, answers.1));
    validator.app.add_durable_hook(Arc::new(move |f: &trustmeter_chain::Finalized, _| {
        queue.feed(f);
        Ok(())
    }));

    // `encode` on any context renders the runtime's whole registry (Commonware's metrics).
    let runtime = context.child("metrics");
    let node = serve(
        Serve {
            name: spec.name.clone(),
            genesis,
            app: validator.app.clone(),
            access_log: spec.index_path.with_extension("access.redb"),
            evidence: Some(evidence),
            evidence_dir,
            index: storage.index,
            marshal: Some(validator.marshal.clone()),
            upstream: None,
            alarms: spec.alarms.clone(),
            api: spec.api.clone(),
            metrics: storage.metrics,
            runtime_metrics: Some(Arc::new(move || runtime.encode())),
        },
        spec.api_listen,
    )
    .await?;
    info!(name = %spec.name, api = %node.api_addr, p2p = %spec.p2p_listen, "validator started");
    Ok(node)
}

/// [`PeerSets`] over the authenticated `lookup` network: each epoch's members with the addresses
/// their set records (a member whose address does not parse is left out, with a warning).
struct LookupPeerSets<O>(O);

impl<O> PeerSets for LookupPeerSets<O>
where
    O: AddressableManager<PublicKey = ed25519::PublicKey> + Sync,
{
    fn track(&mut self, epoch: u64, primary: &[Member], secondary: &[Member]) {
        let map = |members: &[Member]| -> Map<ed25519::PublicKey, commonware_p2p::Address> {
            let entries: Vec<_> = members
                .iter()
                .filter_map(|m| match m.address.parse::<SocketAddr>() {
                    Ok(a) => Some((m.key.clone(), commonware_p2p::Address::from(a))),
                    Err(e) => {
                        tracing::warn!(epoch, key = %m.key, address = %m.address, error = %e, "validator address does not parse");
                        None
                    }
                })
                .collect();
            Map::from_iter_dedup(entries)
        };
        let _ = self.0.track(epoch, AddressableTrackedPeers::new(map(primary), map(secondary)));
    }
}

/// A node's query index and state store, and the durable hook that indexes each finalized block
/// before the state commits it (so that the index is never behind the committed state after a
/// crash).
pub(crate) struct Storage {
    pub(crate) index: Index,
    pub(crate) store: Arc<dyn trustmeter_state::Store>,
    pub(crate) hook: trustmeter_chain::app::DurableHook,
    pub(crate) metrics: crate::metrics::NodeMetrics,
}

/// Opens the index and the state store of a node (validator or follower).
pub(crate) fn open_storage(
    index_path: &std::path::Path,
    state_path: &std::path::Path,
    state_cache_mib: usize,
    genesis: &Genesis,
) -> Result<Storage> {
    let index =
        Index::open(index_path, genesis.clone()).with_context(|| format!("opening index {}", index_path.display()))?;
    let (store, state_written) = open_state_store(state_path, state_cache_mib, index.height())?;
    let idx = index.clone();
    let metrics = crate::metrics::NodeMetrics::new();
    metrics.watch_store("state", state_written);
    metrics.watch_store("index", index.write_counters());
    let m = metrics.clone();
    let hook: trustmeter_chain::app::DurableHook = Arc::new(move |f, durable| {
        let started = std::time::Instant::now();
        let result = idx.apply_with(f, durable).map_err(|e| e.to_string());
        m.indexed(started.elapsed().as_secs_f64());
        result
    });
    Ok(Storage { index, store, hook, metrics })
}

/// What the API of a node (validator or follower) is built from.
pub(crate) struct Serve {
    pub(crate) name: String,
    pub(crate) genesis: Genesis,
    pub(crate) app: App,
    pub(crate) index: Index,
    pub(crate) marshal: Option<trustmeter_chain::app::MarshalMailbox>,
    pub(crate) upstream: Option<Vec<String>>,
    pub(crate) alarms: trustmeter_analytics::alarms::AlarmConfig,
    pub(crate) api: crate::api::limits::ApiConfig,
    pub(crate) metrics: crate::metrics::NodeMetrics,
    pub(crate) runtime_metrics: Option<crate::metrics::RuntimeEncoder>,
    /// Where the access log is kept when `[api] access = "enforced"`.
    pub(crate) access_log: std::path::PathBuf,
    /// Where the evidence store keeps its files.
    pub(crate) evidence_dir: std::path::PathBuf,
    /// The evidence store, if the caller opened it (a validator, which replicates into it).
    pub(crate) evidence: Option<Arc<trustmeter_evidence::EvidenceStore>>,
}

/// Opens a node's evidence store.
pub(crate) fn open_evidence(dir: &std::path::Path, genesis: &Genesis) -> Result<trustmeter_evidence::EvidenceStore> {
    trustmeter_evidence::EvidenceStore::open(dir, genesis.params.hash, trustmeter_evidence::StoreLimits::default())
        .with_context(|| format!("opening the evidence store {}", dir.display()))
}

/// Starts the alarm engine and the HTTP API of a node on `listen`.
pub(crate) async fn serve(s: Serve, listen: SocketAddr) -> Result<RunningNode> {
    let listener = std::net::TcpListener::bind(listen).with_context(|| format!("binding the API on {listen}"))?;
    listener.set_nonblocking(true).context("the API listener")?;
    let api_addr = listener.local_addr()?;
    let runtime = ApiRuntime::build(&s.api)?;
    // Alarms: derived from the finalized state and the index, never consensus.
    let hub = trustmeter_analytics::alarms::AlarmHub::new(s.alarms.clone());
    // Its feed of touched meters: every finalized block, before its state is published (the
    // first pass, and any after a gap, walks every meter instead).
    let feed = hub.clone();
    s.app.add_durable_hook(std::sync::Arc::new(move |f: &trustmeter_chain::Finalized, _| {
        feed.feed(&f.block.block);
        Ok(())
    }));
    let alarms = run_alarms(hub.clone(), s.app.clone(), s.index.clone(), s.metrics.clone());
    let limits = crate::api::limits::RequestLimits::new(&s.api);
    let mode = s.api.access.unwrap_or(match s.genesis.devnet_seed {
        Some(_) => crate::api::access::AccessMode::Open,
        None => crate::api::access::AccessMode::Enforced,
    });
    tracing::info!(?mode, "API access rules");
    let access = crate::api::access::Access {
        mode,
        log: match mode {
            crate::api::access::AccessMode::Open => None,
            crate::api::access::AccessMode::Enforced => Some(
                crate::api::access::AccessLog::open(&s.access_log, s.api.access_log_days)
                    .with_context(|| format!("opening the access log {}", s.access_log.display()))?,
            ),
        },
    };
    let evidence = match s.evidence {
        Some(e) => e,
        None => Arc::new(open_evidence(&s.evidence_dir, &s.genesis)?),
    };
    let server_stats = s.metrics.server_stats();
    let state = ApiState::with_options(
        s.name.clone(),
        s.genesis,
        s.app.clone(),
        s.index.clone(),
        s.marshal,
        hub.clone(),
        api::ApiOptions {
            limits: limits.clone(),
            metrics: s.metrics,
            runtime_metrics: s.runtime_metrics,
            upstream: s.upstream,
            access,
            evidence: Some(evidence),
        },
    );
    let router = api::router(state);
    let tls = s.api.tls().map_err(anyhow::Error::msg)?;
    if tls.is_some() {
        tracing::info!(%api_addr, "API serves HTTPS");
    }
    // Within the budgets of `[api]`: no number of clients holds more than `max_connections`
    // sockets, and slow or silent ones are cut off (trustmeter-httpserve); on threads of its own.
    let limits_http = s.api.server_limits();
    let api = runtime.start(move |stop| async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "the API cannot use its listener; no API is served");
                return;
            }
        };
        tokio::spawn(alarms);
        trustmeter_httpserve::serve(listener, router, limits_http, tls, server_stats, stop).await;
    })?;
    // The API lives as long as the node's runtime: this task holds it, and when the runtime ends
    // (the process stops, or a test's node is stopped) dropping it stops the API and waits for it,
    // so the node's files and ports are free again when the runtime is gone.
    tokio::spawn(async move {
        let _api = api;
        std::future::pending::<()>().await;
    });
    Ok(RunningNode { name: s.name, app: s.app, index: s.index, api_addr, alarms: hub, limits })
}

/// Opens the state store. The index is written before the state commits each block, so it is
/// never behind the store; if it is (the index file was deleted or replaced), the store is
/// emptied so that both are rebuilt by re-executing the chain from genesis (marshal keeps every
/// block).
fn open_state_store(
    path: &std::path::Path,
    cache_mib: usize,
    index_height: u64,
) -> Result<(Arc<dyn trustmeter_state::Store>, Arc<trustmeter_statedb::WriteCounters>)> {
    use trustmeter_statedb::{DiskStore, DiskStoreConfig};
    let open = || {
        DiskStore::open(path, DiskStoreConfig { cache_bytes: cache_mib << 20, ..DiskStoreConfig::default() })
            .with_context(|| format!("opening state store {}", path.display()))
    };
    let store = open()?;
    let committed = store.height().unwrap_or(0);
    if committed > index_height {
        tracing::warn!(
            committed,
            index_height,
            path = %path.display(),
            "the index is behind the state store (index lost?); emptying the state store to rebuild both from genesis"
        );
        drop(store);
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        let store = open()?;
        let written = store.write_counters();
        return Ok((Arc::new(store), written));
    }
    let written = store.write_counters();
    Ok((Arc::new(store), written))
}

/// The API's own tokio runtime (`[api] worker_threads`, `blocking_threads`): requests, their
/// blocking reads and the alarm engine run on these threads, never on the ones consensus, p2p
/// and storage run on, so no number of clients or expensive requests can take a thread from
/// them (issue 11). The operating system still shares the cores between both.
struct ApiRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for ApiRuntime {
    /// A runtime built but never started (the node failed to start): let it go without blocking,
    /// which dropping it in an async context would.
    fn drop(&mut self) {
        if let Some(r) = self.runtime.take() {
            r.shutdown_background();
        }
    }
}

impl ApiRuntime {
    fn build(config: &crate::api::limits::ApiConfig) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .max_blocking_threads(config.blocking_threads)
            .thread_name("api")
            .enable_all()
            .build()
            .context("starting the API's runtime")?;
        Ok(Self { runtime: Some(runtime) })
    }

    /// Runs `main` on a thread of its own inside the runtime until `main` ends or the returned
    /// handle is dropped (then `main`'s stop future completes, and the drop waits for the thread).
    fn start<F, Fut>(mut self, main: F) -> Result<ApiHandle>
    where
        F: FnOnce(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let stop = Box::pin(async move {
            let _ = stop_rx.await;
        });
        // Should the thread not start, the closure (and this runtime) is dropped here without
        // blocking ([`ApiRuntime`]'s drop).
        let mut holder = ApiRuntime { runtime: self.runtime.take() };
        let thread = std::thread::Builder::new()
            .name("api-main".into())
            .spawn(move || {
                if let Some(runtime) = holder.runtime.take() {
                    runtime.block_on(main(stop));
                    // Dropping the runtime here (not in an async context) cancels the API's
                    // tasks and waits for its blocking work to finish.
                    drop(runtime);
                }
            })
            .context("starting the API's thread")?;
        Ok(ApiHandle { stop: Some(stop_tx), thread: Some(thread) })
    }
}

/// Stops the API's runtime when dropped, and waits for it.
struct ApiHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ApiHandle {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the API's thread panicked");
        }
    }
}

/// A pass is followed by a pause of at least this many times its own duration, so that the
/// alarm engine uses at most a tenth of one core however many meters the chain holds (a pass
/// that walks every meter, the first one or one after a gap in the feed, takes time in proportion
/// to the chain; the rest take time in proportion to what changed).
const PAUSE_PER_PASS_TIME: u32 = 9;

/// Runs the engine until the process ends: a pass every [`interval_ms`](trustmeter_analytics::alarms::AlarmConfig::interval_ms) when the
/// finalized height moved, or less often when passes are long ([`PAUSE_PER_PASS_TIME`]).
async fn run_alarms(hub: AlarmHub, app: App, index: Index, metrics: crate::metrics::NodeMetrics) {
    let interval = Duration::from_millis(hub.config().interval_ms);
    let mut last: Option<u64> = None;
    loop {
        let state = app.finalized_state();
        let height = state.height;
        let mut pause = interval;
        if last != Some(height) {
            let (h, idx) = (hub.clone(), index.clone());
            let started = std::time::Instant::now();
            match tokio::task::spawn_blocking(move || h.evaluate(&state, &idx)).await {
                Ok(r) => {
                    last = Some(height);
                    metrics.alarm_pass(r.walked_all, r.meters_evaluated, started.elapsed().as_secs_f64());
                }
                Err(e) => tracing::error!(error = %e, "alarm pass failed"),
            }
            pause = pause.max(started.elapsed() * PAUSE_PER_PASS_TIME);
        }
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The API's work runs on the threads of its own runtime, within its budget, and dropping
    /// its handle from inside another runtime (as a node's runtime does when it ends) stops it
    /// and waits for it: its listener is closed once the drop returns.
    #[test]
    fn the_api_runs_on_threads_of_its_own_and_stops_with_its_handle() {
        let config = crate::api::limits::ApiConfig { worker_threads: 1, blocking_threads: 2, ..Default::default() };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let (s1, s2) = (seen.clone(), seen.clone());
        let name = || std::thread::current().name().unwrap_or("").to_string();
        let handle = ApiRuntime::build(&config)
            .unwrap()
            .start(move |stop| async move {
                let _listener = tokio::net::TcpListener::from_std(listener).unwrap();
                s1.lock().unwrap().push(name());
                // Four blocking tasks on a budget of two threads: all run, two at a time.
                let tasks: Vec<_> = (0..4)
                    .map(|_| {
                        let s = s2.clone();
                        tokio::task::spawn_blocking(move || s.lock().unwrap().push(name()))
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                stop.await;
            })
            .unwrap();
        // The node's runtime: the handle is dropped inside it, as when it ends.
        let node = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        node.block_on(async {
            for _ in 0..100 {
                if seen.lock().unwrap().len() == 5 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(std::net::TcpStream::connect(addr).is_ok(), "the API listens while it runs");
            drop(handle);
        });
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert!(seen.iter().all(|n| n == "api" || n == "api-main"), "work ran outside the API's threads: {seen:?}");
        assert!(std::net::TcpStream::connect(addr).is_err(), "the API's listener is closed once its handle is dropped");
    }
}
