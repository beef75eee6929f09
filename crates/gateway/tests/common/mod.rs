//! Test harness: real chains (validators started in-process on loopback with `start_node`,
//! authenticated p2p, HTTP API), onboarding through the API, and gateway configs.

#![allow(dead_code)]

use commonware_runtime::Supervisor as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use trustmeter_api_client::{NodeClient, TxStatus};
use trustmeter_chain::devnet::{Devnet, Member};
use trustmeter_chain::engine::Timeouts;
use trustmeter_crypto::{SigningKey, sign_tx};
use trustmeter_node::{NodeSpec, start_node};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    AccuracyClass, Calibration, ChainId, DeviceId, EnergyKind, LocationPath, Quantity, RegisterKind, TxBody, TxOutcome,
    TxPayload, Unit,
};

/// Longest wait for anything a chain or the gateway should do.
pub const PATIENCE: Duration = Duration::from_secs(90);
pub const DAY_MS: i64 = 86_400_000;

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
}

/// Free loopback addresses below the ephemeral range (see [`trustmeter_node::ports`]).
pub fn free_addrs(n: usize) -> Vec<SocketAddr> {
    trustmeter_node::ports::loopback_addrs(n)
}

/// One chain: its devnet (keys of the regulator, metrology authority, enterprise) and API URLs.
pub struct TestChain {
    pub devnet: Devnet,
    pub urls: Vec<String>,
    pub client: NodeClient,
    nonces: std::collections::HashMap<Vec<u8>, u64>,
}

impl TestChain {
    /// Starts `validators` validators of chain `chain_id` in `ctx`, storage under `dir`.
    pub async fn start(
        ctx: &commonware_runtime::tokio::Context,
        dir: &std::path::Path,
        chain_id: &str,
        validators: usize,
        seed: u64,
    ) -> TestChain {
        let addrs = free_addrs(2 * validators);
        let (p2p, api) = addrs.split_at(validators);
        let mut devnet = Devnet::new(chain_id, validators, 1, seed, now_ms(), 0);
        for (v, a) in devnet.genesis.validators.iter_mut().zip(p2p) {
            v.p2p_address = a.to_string();
        }
        let mut urls = Vec::new();
        for (i, key) in devnet.validator_keys.iter().enumerate() {
            let spec = NodeSpec {
                name: format!("{chain_id}-v{i}"),
                genesis: devnet.genesis.clone(),
                key: key.clone(),
                p2p_listen: p2p[i],
                api_listen: api[i],
                index_path: dir.join(format!("{chain_id}-{i}-index.redb")),
                state_path: dir.join(format!("{chain_id}-{i}-state.redb")),
                allow_private_ips: true,
                timeouts: Timeouts::default(),
                alarms: Default::default(),
                api: Default::default(),
                state_sync: false,
                state_cache_mib: trustmeter_node::config::DEFAULT_STATE_CACHE_MIB,
            };
            let node = start_node(ctx.child("node").with_attribute("chain", chain_id).with_attribute("index", i), spec)
                .await
                .expect("start validator");
            urls.push(format!("http://{}", node.api_addr));
        }
        let client = NodeClient::new(urls.clone(), Duration::from_secs(10)).expect("client");
        TestChain { devnet, urls, client, nonces: Default::default() }
    }

    pub fn chain_id(&self) -> ChainId {
        self.devnet.genesis.chain_id.clone()
    }

    pub fn enterprise(&self) -> &Member {
        &self.devnet.enterprises[0]
    }

    /// Sends `payload` from `key` and waits until it is finalized; returns its outcome.
    pub async fn send(&mut self, key: &SigningKey, payload: TxPayload) -> TxOutcome {
        let chain_id = self.chain_id();
        let n = self.nonces.entry(key.public_key().bytes.clone()).or_insert(0);
        *n += 1;
        let tx = sign_tx(key, TxBody { chain_id, sender: key.public_key(), nonce: *n, payload });
        match self.client.submit_and_wait(&tx, Duration::from_millis(50), PATIENCE).await.expect("reach the chain") {
            TxStatus::Finalized { receipt, .. } => receipt.outcome,
            other => panic!("transaction not finalized: {other:?}"),
        }
    }

    /// Sends and asserts acceptance.
    pub async fn ok(&mut self, key: &SigningKey, payload: TxPayload) {
        let what = payload.kind();
        let out = self.send(key, payload).await;
        assert_eq!(out, TxOutcome::Accepted, "{what} should be accepted");
    }

    /// Registers gateway `gw` (key `pk`) and the meters, records calibrations valid from
    /// `cal_from` to `cal_until` and activates everything. `skip_calibration` / `skip_activation`
    /// leave chosen meters uncalibrated / unactivated.
    pub async fn onboard(
        &mut self,
        gw: &DeviceId,
        gw_key: &SigningKey,
        meters: &[(DeviceId, Unit)],
        cal: (i64, i64),
        skip_calibration: &[DeviceId],
        skip_activation: &[DeviceId],
    ) {
        let ent = self.enterprise().key.clone();
        let reg = self.devnet.regulator.key.clone();
        let met = self.devnet.metrology.clone();
        self.ok(&ent, TxPayload::RegisterGateway { id: gw.clone(), public_key: gw_key.public_key() }).await;
        for (m, unit) in meters {
            self.ok(&ent, TxPayload::RegisterMeter { meter: meter_spec(m, gw, *unit) }).await;
            if !skip_calibration.contains(m) {
                let calibration = Calibration {
                    certificate_no: format!("JD-{m}"),
                    issuer: met.org.id.clone(),
                    valid_from_ms: cal.0,
                    valid_until_ms: cal.1,
                };
                self.ok(&met.key, TxPayload::RecordCalibration { meter: m.clone(), calibration }).await;
            }
        }
        // Meters first, the gateway last: until the gateway is active, a chain refuses its
        // batches as a whole and the gateway keeps them, so no reading meets an inactive meter.
        for d in meters.iter().map(|(m, _)| m).chain(std::iter::once(gw)) {
            if !skip_activation.contains(d) {
                self.ok(&reg, TxPayload::ActivateDevice { device: d.clone() }).await;
            }
        }
    }

    /// A meter's recorded readings on this chain: (seq, timestamp, value micros, origin).
    pub async fn readings(&self, meter: &DeviceId) -> Vec<(u64, i64, i64, String)> {
        // Every page, through the API client (the node serves a meter's readings a page at a time).
        let client = trustmeter_api_client::NodeClient::new(vec![self.urls[0].clone()], Duration::from_secs(30))
            .expect("client");
        client
            .readings_all(meter, None, None, 1_000_000)
            .await
            .expect("readings")
            .into_iter()
            .map(|r| (r.seq, r.timestamp_ms, r.value_micros, r.origin))
            .collect()
    }
}

pub fn meter_spec(id: &DeviceId, gw: &DeviceId, unit: Unit) -> MeterSpec {
    let (energy, register) = match unit {
        Unit::Kilowatt => (EnergyKind::Electricity, RegisterKind::Instantaneous),
        Unit::CubicMetre => (EnergyKind::Water, RegisterKind::Cumulative),
        Unit::NormalCubicMetre => (EnergyKind::NaturalGas, RegisterKind::Cumulative),
        _ => (EnergyKind::Electricity, RegisterKind::Cumulative),
    };
    MeterSpec {
        id: id.clone(),
        gateway: gw.clone(),
        name: format!("meter {id}"),
        energy,
        unit,
        register,
        accuracy: AccuracyClass(50),
        location: LocationPath(vec!["site".into(), "workshop".into()]),
        register_max: Quantity::from_micros(99_999_999 * Quantity::SCALE),
        rated_per_hour: Default::default(),
        tariff: None,
        master: None,
        public_key: None,
    }
}

/// Polls `f` until it returns `Some`, at most [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A device id under the fixture enterprise's code.
pub fn dev(chain: &TestChain, suffix: &str) -> DeviceId {
    DeviceId::new(format!("{}-{suffix}", chain.enterprise().org.id)).expect("device id")
}

/// A tokio runtime for one test, Commonware's storage under `dir/consensus`.
pub fn runner(dir: &std::path::Path) -> commonware_runtime::tokio::Runner {
    commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new().with_storage_directory(dir.join("consensus")),
    )
}

/// The gateway's `/status` report.
#[allow(dead_code)]
pub async fn status(api: &str) -> trustmeter_gateway::status::StatusReport {
    reqwest::get(format!("{api}/status")).await.expect("status").json().await.expect("status json")
}
