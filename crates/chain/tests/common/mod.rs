//! A simulated consortium: validators on Commonware's deterministic runtime and simulated network,
//! a small plant fixture, and checks that honest validators agree.

#![allow(dead_code)]

use commonware_cryptography::{Signer, ed25519};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock, Quota, Spawner, Supervisor, deterministic};
use commonware_utils::{NZU32, NZUsize, probability};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trustmeter_chain::app::Behaviour;
use trustmeter_chain::devnet::{Devnet, DevnetCrypto};
use trustmeter_chain::engine::{Channels, Timeouts, ValidatorConfig, channels, max_message_size, start_validator};
use trustmeter_chain::epochs::KeyPeerSets;
use trustmeter_chain::mempool::{Mempool, MempoolLimits};
use trustmeter_chain::{App, Validator};
use trustmeter_crypto::{SigningKey, sign_reading, sign_tx};
use trustmeter_types::registry::{AccuracyClass, Calibration, LocationPath};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    DeviceId, DeviceStatus, EnergyKind, Hash32, KeyScheme, Quantity, Reading, ReadingOrigin, ReadingSigner,
    RegisterKind, Transaction, TxBody, TxPayload, Unit,
};

/// What one validator saw finalized: height → (block hash, state root).
pub type History = Arc<Mutex<BTreeMap<u64, (Hash32, Hash32)>>>;

pub struct Cluster {
    pub ctx: deterministic::Context,
    pub oracle: Oracle<ed25519::PublicKey, deterministic::Context>,
    pub devnet: Devnet,
    pub keys: Vec<ed25519::PublicKey>,
    /// Each node's consensus key (genesis validators first).
    pub signers: Vec<ed25519::PrivateKey>,
    pub validators: Vec<Option<Validator>>,
    pub histories: Vec<History>,
    /// The heights each validator applied with their finalization certificate.
    pub certified: Vec<Arc<Mutex<std::collections::BTreeSet<u64>>>>,
    pub mempools: Vec<Arc<Mutex<Mempool>>>,
    /// Each validator's state store: kept across a crash and restart, like a disk.
    pub stores: Vec<Arc<trustmeter_state::MemStore>>,
    pub behaviours: Vec<Behaviour>,
    /// Each validator's consensus storage prefix (a new one is a new, empty disk).
    pub prefixes: Vec<String>,
    /// Whether each validator syncs its state from peers when its store is empty.
    pub state_sync: Vec<bool>,
    restarts: Vec<u32>,
    pub link: Link,
}

/// Genesis at the deterministic runtime's clock origin, so block times and reading times line up.
pub const GENESIS_MS: i64 = 0;

impl Cluster {
    /// A cluster of `n` validators on a chain whose epochs are `epoch_length` blocks long.
    pub async fn with_epochs(ctx: deterministic::Context, n: usize, epoch_length: u64) -> Self {
        Self::build(ctx, n, 0, vec![], DevnetCrypto::default(), |g| {
            g.params.economy.staking.epoch_length = epoch_length
        })
        .await
    }

    pub async fn new(ctx: deterministic::Context, n: usize, behaviours: Vec<Behaviour>) -> Self {
        Self::with_crypto(ctx, n, behaviours, DevnetCrypto::default()).await
    }

    /// A cluster whose chain hashes with `crypto.hash` and whose members hold `crypto.account_scheme` keys.
    pub async fn with_crypto(
        ctx: deterministic::Context,
        n: usize,
        behaviours: Vec<Behaviour>,
        crypto: DevnetCrypto,
    ) -> Self {
        Self::build(ctx, n, 0, behaviours, crypto, |_| {}).await
    }

    /// `n` genesis validators and `extra` nodes outside genesis (indices `n..n + extra`, devnet
    /// validator keys of the same seed; they follow until elected), on the devnet genesis as
    /// `tweak` edits it. Every node is started.
    pub async fn build(
        ctx: deterministic::Context,
        n: usize,
        extra: usize,
        behaviours: Vec<Behaviour>,
        crypto: DevnetCrypto,
        tweak: impl FnOnce(&mut trustmeter_types::Genesis),
    ) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut devnet = Devnet::with_crypto("hunan-test", n, 1, 7, GENESIS_MS, 30_000, crypto);
        tweak(&mut devnet.genesis);
        let alg = devnet.genesis.params.hash;
        let signers: Vec<ed25519::PrivateKey> = devnet
            .validator_keys
            .iter()
            .cloned()
            .chain((n..n + extra).map(|i| trustmeter_chain::devnet::devnet_validator_key(7, "hunan-test", i)))
            .collect();
        let keys: Vec<ed25519::PublicKey> = signers.iter().map(|k| k.public_key()).collect();
        let n = n + extra;
        let (network, oracle) = Network::new_with_peers(
            ctx.child("network"),
            simulated::Config {
                max_size: max_message_size(n as u32),
                max_peers_per_set: std::num::NonZeroUsize::new(
                    trustmeter_chain::epochs::max_peer_set(&devnet.genesis).max(n + 1),
                )
                .unwrap(),
                disconnect_on_block: true,
                // The current epoch's set, the previous one's and the next one's (see `crate::epochs`).
                tracked_peer_sets: NZUsize!(3),
            },
            keys.clone(),
        )
        .await;
        network.start();
        let link = Link {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(5),
            success_rate: probability!(1.0),
        };
        let mut c = Cluster {
            ctx,
            oracle,
            devnet,
            keys,
            signers,
            validators: (0..n).map(|_| None).collect(),
            histories: (0..n).map(|_| Arc::new(Mutex::new(BTreeMap::new()))).collect(),
            certified: (0..n).map(|_| Arc::default()).collect(),
            mempools: (0..n).map(|_| Arc::new(Mutex::new(Mempool::new(alg, MempoolLimits::default())))).collect(),
            stores: (0..n).map(|_| Arc::new(trustmeter_state::MemStore::new())).collect(),
            behaviours: (0..n).map(|i| behaviours.get(i).copied().unwrap_or_default()).collect(),
            prefixes: (0..n).map(|i| format!("validator-{i}")).collect(),
            state_sync: vec![false; n],
            restarts: vec![0; n],
            link,
        };
        for i in 0..n {
            c.start(i).await;
        }
        c.link_all().await;
        c
    }

    pub async fn start(&mut self, i: usize) {
        let control = self.oracle.control(self.keys[i].clone());
        let quota = Quota::per_second(NZU32!(100_000));
        let mut reg = Vec::new();
        for ch in [
            channels::VOTES,
            channels::CERTIFICATES,
            channels::RESOLVER,
            channels::BACKFILL,
            channels::BROADCAST,
            channels::TXS,
            channels::STATE_SYNC,
        ] {
            reg.push(control.register(ch, quota).await.expect("register channel"));
        }
        let mut reg = reg.into_iter();
        let net = Channels {
            votes: reg.next().unwrap(),
            certificates: reg.next().unwrap(),
            resolver: reg.next().unwrap(),
            backfill: reg.next().unwrap(),
            broadcast: reg.next().unwrap(),
            txs: reg.next().unwrap(),
            state_sync: reg.next().unwrap(),
        };
        let (tx, mut rx) = futures::channel::mpsc::unbounded();
        // A restarted validator gets a fresh mempool (in-memory, like a real process restart).
        let alg = self.devnet.genesis.params.hash;
        self.mempools[i] = Arc::new(Mutex::new(Mempool::new(alg, MempoolLimits::default())));
        let cfg = ValidatorConfig {
            signer: self.signers[i].clone(),
            genesis: self.devnet.genesis.clone(),
            partition_prefix: self.prefixes[i].clone(),
            timeouts: Timeouts::default(),
            behaviour: self.behaviours[i],
            mempool: self.mempools[i].clone(),
            sinks: vec![tx],
            hooks: vec![],
            store: self.stores[i].clone(),
            state_sync: self.state_sync[i],
            peer_sets: Box::new(KeyPeerSets(self.oracle.manager())),
        };
        let vctx = self.ctx.child("validator").with_attribute("index", i).with_attribute("restart", self.restarts[i]);
        self.restarts[i] += 1;
        let v = start_validator(vctx, cfg, self.oracle.manager(), self.oracle.control(self.keys[i].clone()), net).await;
        let (history, certified) = (self.histories[i].clone(), self.certified[i].clone());
        self.ctx.child("observer").spawn(move |_| async move {
            while let Some(f) = rx.next().await {
                let b = &f.block.block.header;
                if f.finalization.is_some() {
                    certified.lock().unwrap().insert(b.height);
                }
                let prev = history.lock().unwrap().insert(b.height, (f.block.hash(), f.output.state.root()));
                assert!(
                    prev.is_none() || prev == Some((f.block.hash(), f.output.state.root())),
                    "a validator changed its mind about height {}",
                    b.height
                );
            }
        });
        self.validators[i] = Some(v);
    }

    /// Empties validator `i`'s state store (its disk lost the state file but kept the consensus
    /// archive): the next start re-executes every finalized block from genesis.
    pub fn wipe_state(&mut self, i: usize) {
        self.stores[i] = Arc::new(trustmeter_state::MemStore::new());
    }

    /// Replaces validator `i`'s whole disk (consensus storage and state store) with an empty one
    /// and starts it without state sync: it fetches and executes the chain from genesis, epoch
    /// by epoch.
    pub async fn rejoin_from_empty_disk(&mut self, i: usize) {
        self.crash(i);
        self.histories[i].lock().unwrap().clear();
        self.stores[i] = Arc::new(trustmeter_state::MemStore::new());
        self.prefixes[i] = format!("validator-{i}-disk-{}", self.restarts[i]);
        self.state_sync[i] = false;
        self.start(i).await;
    }

    /// Replaces validator `i`'s whole disk (consensus storage and state store) with an empty one
    /// and starts it with state sync: it restores a peer's certified state instead of executing
    /// the chain from genesis.
    pub async fn rejoin_by_state_sync(&mut self, i: usize) {
        self.crash(i);
        self.stores[i] = Arc::new(trustmeter_state::MemStore::new());
        self.prefixes[i] = format!("validator-{i}-disk-{}", self.restarts[i]);
        self.state_sync[i] = true;
        self.start(i).await;
    }

    pub fn crash(&mut self, i: usize) {
        if let Some(v) = self.validators[i].take() {
            v.engine.abort();
        }
    }

    async fn set_links(&mut self, f: impl Fn(usize, usize) -> bool) {
        let n = self.keys.len();
        for a in 0..n {
            for b in 0..n {
                if a == b {
                    continue;
                }
                let _ = self.oracle.remove_link(self.keys[a].clone(), self.keys[b].clone()).await;
                if f(a, b) {
                    self.oracle.add_link(self.keys[a].clone(), self.keys[b].clone(), self.link.clone()).await.unwrap();
                }
            }
        }
    }

    pub async fn link_all(&mut self) {
        self.set_links(|_, _| true).await;
    }

    /// Cuts validator `i` off from everyone.
    pub async fn isolate(&mut self, i: usize) {
        self.set_links(move |a, b| a != i && b != i).await;
    }

    pub fn app(&self, i: usize) -> &App {
        &self.validators[i].as_ref().expect("validator running").app
    }

    /// The validators running and following the protocol (an equivocator's own state is not
    /// waited on: it runs no consensus engine and its peers block it).
    pub fn running(&self) -> Vec<usize> {
        (0..self.validators.len())
            .filter(|i| self.validators[*i].is_some() && self.behaviours[*i] != Behaviour::Equivocate)
            .collect()
    }

    pub fn height(&self, i: usize) -> u64 {
        self.histories[i].lock().unwrap().keys().next_back().copied().unwrap_or(0)
    }

    /// Admits a transaction into every running validator's mempool (each checks it itself).
    pub fn submit(&self, tx: &Transaction) {
        for i in self.running() {
            if let Err(e) = self.app(i).admit(tx.clone(), false) {
                tracing::warn!(validator = i, error = %e, "transaction not admitted");
            }
        }
    }

    /// Admits a transaction at one validator, which gossips it to the others.
    pub fn submit_to(&self, i: usize, tx: &Transaction) -> Result<Hash32, trustmeter_types::Rejection> {
        self.app(i).admit(tx.clone(), true)
    }

    /// Waits until every validator in `who` has finalized at least `height`.
    pub async fn wait_height(&self, who: &[usize], height: u64, limit: Duration) {
        let start = self.ctx.current();
        loop {
            if who.iter().all(|i| self.height(*i) >= height) {
                return;
            }
            if self.ctx.current().duration_since(start).unwrap() > limit {
                panic!(
                    "validators {who:?} did not reach height {height} within {limit:?}: heights {:?}",
                    who.iter().map(|i| self.height(*i)).collect::<Vec<_>>()
                );
            }
            self.ctx.sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `pred` holds on validator `i`'s finalized state.
    pub async fn wait_state(
        &self,
        i: usize,
        what: &str,
        limit: Duration,
        pred: impl Fn(&trustmeter_state::State) -> bool,
    ) {
        let start = self.ctx.current();
        while !pred(&self.app(i).finalized_state()) {
            if self.ctx.current().duration_since(start).unwrap() > limit {
                panic!(
                    "validator {i}: {what} did not happen within {limit:?} (heights {:?})",
                    self.running().iter().map(|i| self.height(*i)).collect::<Vec<_>>()
                );
            }
            self.ctx.sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `pred` holds on every running validator's finalized state (so a transaction
    /// that depends on it is admitted everywhere).
    pub async fn wait_all(&self, what: &str, limit: Duration, pred: impl Fn(&trustmeter_state::State) -> bool) {
        for i in self.running() {
            self.wait_state(i, what, limit, &pred).await;
        }
    }

    /// Every pair of validators agrees at every height both finalized; returns the common height.
    pub fn assert_agreement(&self, who: &[usize]) -> u64 {
        let hs: Vec<BTreeMap<u64, (Hash32, Hash32)>> =
            who.iter().map(|i| self.histories[*i].lock().unwrap().clone()).collect();
        for (a, ha) in hs.iter().enumerate() {
            for hb in hs.iter().skip(a + 1) {
                for (h, va) in ha {
                    if let Some(vb) = hb.get(h) {
                        assert_eq!(va, vb, "validators disagree at height {h}");
                    }
                }
            }
        }
        hs.iter().map(|h| h.keys().next_back().copied().unwrap_or(0)).min().unwrap_or(0)
    }
}

/// A small plant: one gateway and four meters, two of which sign their own readings.
pub struct Plant {
    pub gateway_id: DeviceId,
    pub gateway_key: SigningKey,
    pub meters: Vec<(DeviceId, Option<SigningKey>)>,
    pub seqs: Vec<u64>,
    pub registers: Vec<i64>,
    pub nonce: u64,
}

impl Plant {
    pub fn new() -> Self {
        Self::with_scheme(KeyScheme::Ed25519)
    }

    /// The same plant with device keys of `scheme`.
    pub fn with_scheme(scheme: KeyScheme) -> Self {
        let k = |i: u8| SigningKey::from_seed(scheme, [i; 32]);
        Plant {
            gateway_id: DeviceId::new("91430100700001000N-GW01").unwrap(),
            gateway_key: k(200),
            meters: (0..4)
                .map(|i| {
                    (
                        DeviceId::new(format!("91430100700001000N-EM{i:02}")).unwrap(),
                        if i % 2 == 0 { Some(k(100 + i)) } else { None },
                    )
                })
                .collect(),
            seqs: vec![0; 4],
            registers: vec![1_000_000; 4],
            nonce: 0,
        }
    }

    fn sign(key: &SigningKey, chain: &Devnet, nonce: u64, payload: TxPayload) -> Transaction {
        sign_tx(key, TxBody { chain_id: chain.genesis.chain_id.clone(), sender: key.public_key(), nonce, payload })
    }

    /// The enterprise's registration of the gateway (its nonce 1).
    pub fn gateway_registration(&self, dn: &Devnet) -> Transaction {
        let payload =
            TxPayload::RegisterGateway { id: self.gateway_id.clone(), public_key: self.gateway_key.public_key() };
        Self::sign(&dn.enterprises[0].key, dn, 1, payload)
    }

    /// The enterprise's registration of meter `i` (its nonce `2 + i`), behind the gateway.
    pub fn meter_registration(&self, dn: &Devnet, i: usize) -> Transaction {
        let (id, key) = &self.meters[i];
        let spec = MeterSpec {
            id: id.clone(),
            gateway: self.gateway_id.clone(),
            name: format!("meter {id}"),
            energy: EnergyKind::Electricity,
            unit: Unit::KilowattHour,
            register: RegisterKind::Cumulative,
            accuracy: AccuracyClass(50),
            location: LocationPath(vec!["site-1".into(), "workshop-a".into()]),
            register_max: Quantity::from_micros(99_999_999 * Quantity::SCALE),
            rated_per_hour: Default::default(),
            tariff: None,
            master: None,
            public_key: key.as_ref().map(|k| k.public_key()),
        };
        Self::sign(&dn.enterprises[0].key, dn, 2 + i as u64, TxPayload::RegisterMeter { meter: spec })
    }

    /// Registration, calibration and activation, finalized step by step.
    pub async fn onboard(&self, c: &Cluster) {
        let dn = &c.devnet;
        c.submit(&self.gateway_registration(dn));
        c.wait_all("gateway registered", Duration::from_secs(30), |s| s.gateway(&self.gateway_id).is_some()).await;
        for i in 0..self.meters.len() {
            c.submit(&self.meter_registration(dn, i));
        }
        c.wait_all("meters registered", Duration::from_secs(30), |s| {
            self.meters.iter().all(|(id, _)| s.meter(id).is_some())
        })
        .await;
        for (i, (id, _)) in self.meters.iter().enumerate() {
            let cal = Calibration {
                certificate_no: format!("HN-2026-{i:04}"),
                issuer: dn.metrology.org.id.clone(),
                valid_from_ms: GENESIS_MS - 86_400_000,
                valid_until_ms: GENESIS_MS + 365 * 86_400_000,
            };
            c.submit(&Self::sign(
                &dn.metrology.key,
                dn,
                1 + i as u64,
                TxPayload::RecordCalibration { meter: id.clone(), calibration: cal },
            ));
        }
        let mut rn = 1;
        c.submit(&Self::sign(&dn.regulator.key, dn, rn, TxPayload::ActivateDevice { device: self.gateway_id.clone() }));
        for (id, _) in &self.meters {
            rn += 1;
            c.submit(&Self::sign(&dn.regulator.key, dn, rn, TxPayload::ActivateDevice { device: id.clone() }));
        }
        c.wait_all("devices active and calibrated", Duration::from_secs(30), |s| {
            s.gateway(&self.gateway_id).map(|g| g.status == DeviceStatus::Active).unwrap_or(false)
                && self.meters.iter().all(|(id, _)| {
                    s.meter(id).map(|m| m.status == DeviceStatus::Active && m.calibration.is_some()).unwrap_or(false)
                })
        })
        .await;
    }

    /// One signed batch with a reading per meter at `t_ms`.
    pub fn batch(&mut self, chain: &Devnet, t_ms: i64) -> Transaction {
        let mut readings = Vec::new();
        for (i, (id, key)) in self.meters.iter().enumerate() {
            self.seqs[i] += 1;
            self.registers[i] += 1_500_000 + (i as i64) * 10_000;
            let r = Reading {
                meter: id.clone(),
                seq: self.seqs[i],
                timestamp_ms: t_ms,
                value: Quantity::from_micros(self.registers[i]),
                unit: Unit::KilowattHour,
                origin: ReadingOrigin::Online,
                clock_suspect: false,
            };
            readings.push(match key {
                Some(k) => sign_reading(k, r, ReadingSigner::Meter),
                None => sign_reading(&self.gateway_key, r, ReadingSigner::Gateway),
            });
        }
        self.nonce += 1;
        Self::sign(
            &self.gateway_key,
            chain,
            self.nonce,
            TxPayload::SubmitReadings { gateway: self.gateway_id.clone(), readings },
        )
    }

    /// Readings accepted on chain, per meter, as validator `i` sees it.
    pub fn accepted(&self, c: &Cluster, i: usize) -> u64 {
        let s = c.app(i).finalized_state();
        self.meters.iter().map(|(id, _)| s.progress(id).map(|p| p.accepted).unwrap_or(0)).sum()
    }
}
