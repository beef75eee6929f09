//! # trustmeter-plant
//!
//! A deterministic simulated industrial plant — a vehicle factory of a key energy-consuming
//! enterprise (重点用能单位) — used by the Trustmeter demo and benchmarks as a source of realistic,
//! correctly signed meter readings.
//!
//! A [`Plant`] has one site with five workshops (冲压 stamping, 焊装 welding, 涂装 painting,
//! 总装 assembly, 动力站 utilities), their lines and equipment, one gateway and a few hundred
//! cumulative meters of electricity (the majority, kWh), water (m³), natural gas (Nm³), steam (t)
//! and compressed air (Nm³). Consumption follows three shifts, a lunch dip and lower weekends in
//! Asia/Shanghai time (see [`time`]), with seeded ChaCha noise; [`shifts`] gives the shift
//! calendar, teams and output per shift its enterprise records (班次产量). Some meters start just below their
//! register maximum so that rollover happens early. About a third of the meters sign their own
//! readings; the gateway signs for the rest.
//!
//! **Master meters (总表).** Of the meters of one workshop and energy kind, when there are at
//! least two, the first (in plant order) is the workshop's incoming meter (进线总表, location
//! `site-01/<workshop>`) and the master ([`MeterSpec::master`]) of the others: it records their
//! sum plus a loss — transformer and line losses for electricity, pipe losses (leaks, heat, traps)
//! for the media — of a seeded base rate per master drawn from [`loss_range`] for its kind, varied
//! by ±25 % each interval. So the master/sub-meter balance of a plant is meaningful and never
//! trivially zero. The meter count asked for includes the masters (19 of 300 with the demo's seed
//! 7, 18 with seed 42).
//!
//! Everything is a pure function of the [`PlantConfig`] and the sequence of [`Plant::tick`]
//! times: the same seed gives byte-identical readings, keys and specs. Keys are derived from the
//! seed *and* the enterprise code, so plants of different enterprises never share keys.
//!
//! What it must not do: no I/O, no network, no clock and no OS randomness. It never reads the
//! system time (callers pass `now_ms`) and never talks to a node; it only builds values that a
//! caller submits. Its keys are derived from a public seed, so they are for simulation only.

#![warn(missing_docs)]

pub mod shifts;
pub mod time;

mod layout;

use layout::{WORKSHOPS, evenly_selected, kind_params, pick};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::collections::BTreeMap;
use trustmeter_crypto::{HashAlg, SigningKey, sign_reading, sign_tx, tagged_hash};
use trustmeter_types::limits::MAX_READINGS_PER_TX;
use trustmeter_types::{
    AccuracyClass, Calibration, ChainId, DeviceId, EnergyKind, KeyScheme, LocationPath, PublicKey, Quantity, Reading,
    ReadingOrigin, ReadingSigner, RegisterKind, SignedReading, Transaction, TxBody, TxPayload, UnifiedSocialCreditCode,
    tx::MeterSpec,
};

/// Default number of meters in a plant.
pub const DEFAULT_METERS: usize = 300;
/// Default reading interval: 15 minutes.
pub const DEFAULT_INTERVAL_MS: i64 = 15 * 60_000;
/// Default start: Monday 2026-01-05 00:00 Asia/Shanghai (2026-01-04T16:00:00Z).
pub const DEFAULT_START_MS: i64 = 1_767_542_400_000;
/// Domain tag of every key and RNG seed derived from a plant seed.
const DERIVE_DOMAIN: &[u8] = b"trustmeter/plant/derive/v1";

/// How to build a [`Plant`]. Start from [`PlantConfig::new`] and override fields as needed.
#[derive(Clone, Debug, PartialEq)]
pub struct PlantConfig {
    /// The owning enterprise; prefixes every device id.
    pub enterprise: UnifiedSocialCreditCode,
    /// Seed of the layout, the keys and the noise.
    pub seed: u64,
    /// Number of meters.
    pub meters: usize,
    /// Simulation start, Unix milliseconds (UTC). Registers hold their initial values here.
    pub start_ms: i64,
    /// Reading interval used by [`Plant::advance`].
    pub interval_ms: i64,
    /// Fraction of meters with their own signing key (the gateway signs for the others).
    pub meter_key_share: f64,
    /// Fraction of meters that start a few rated hours below their register maximum.
    pub near_max_share: f64,
    /// Relative amplitude of the uniform per-interval noise (0.08 = ±8 %), clamped to `[0, 0.9]`.
    pub noise: f64,
    /// Scheme of the gateway's and the meters' keys (Ed25519 by default; SM2 for 国密 plants).
    pub key_scheme: KeyScheme,
}

impl PlantConfig {
    /// Defaults: [`DEFAULT_METERS`] meters, [`DEFAULT_START_MS`], [`DEFAULT_INTERVAL_MS`], a
    /// third of meters with own keys, 5 % near their register maximum, ±8 % noise.
    pub fn new(enterprise: UnifiedSocialCreditCode, seed: u64) -> Self {
        PlantConfig {
            enterprise,
            seed,
            meters: DEFAULT_METERS,
            start_ms: DEFAULT_START_MS,
            interval_ms: DEFAULT_INTERVAL_MS,
            meter_key_share: 1.0 / 3.0,
            near_max_share: 0.05,
            noise: 0.08,
            key_scheme: KeyScheme::Ed25519,
        }
    }
}

/// The range of the base loss rate of a master meter of `kind` (fractions of its sub-meters' sum):
/// each master draws its base rate uniformly from it, and each interval's loss is that rate
/// × (1 ± 0.25). Electricity: transformer and line losses, 1.5–3 %; water 1–3 %; natural gas
/// 0.5–1.5 %; steam 3–6 % (heat loss, traps); compressed air 5–10 % (leaks).
pub fn loss_range(kind: EnergyKind) -> (f64, f64) {
    match kind {
        EnergyKind::Electricity => (0.015, 0.03),
        EnergyKind::Water => (0.01, 0.03),
        EnergyKind::NaturalGas => (0.005, 0.015),
        EnergyKind::Steam => (0.03, 0.06),
        _ => (0.05, 0.10),
    }
}

/// Relative variation of a master's loss rate from one interval to the next (±25 %).
pub const LOSS_VARIATION: f64 = 0.25;

/// One simulated meter.
#[derive(Clone, Debug)]
struct SimMeter {
    spec: MeterSpec,
    /// For a master meter: its sub-meters (indices into the plant's meters) and its base loss rate.
    subs: Vec<usize>,
    loss_rate: f64,
    key: Option<SigningKey>,
    rated_per_hour: f64,
    base_load: f64,
    register: i64,
    consumed: i64,
    seq: u64,
}

/// A simulated plant: one site, one gateway, many meters. See the crate docs.
#[derive(Clone, Debug)]
pub struct Plant {
    cfg: PlantConfig,
    gateway_id: DeviceId,
    gateway_key: SigningKey,
    meters: Vec<SimMeter>,
    noise_rng: ChaCha20Rng,
    loss_rng: ChaCha20Rng,
    clock_ms: i64,
    read_once: bool,
    signing_threads: usize,
}

/// Most threads [`Plant::set_signing_threads`] accepts.
pub const MAX_SIGNING_THREADS: usize = 64;

/// Below this many readings a tick signs on the calling thread whatever the thread setting.
const PARALLEL_SIGNING_MIN: usize = 4_096;

/// A 32-byte value derived from the plant seed, the enterprise and a label.
fn derive(cfg: &PlantConfig, label: &str) -> [u8; 32] {
    let mut data = cfg.seed.to_le_bytes().to_vec();
    data.extend_from_slice(cfg.enterprise.as_str().as_bytes());
    data.push(0);
    data.extend_from_slice(label.as_bytes());
    // Key and RNG derivation, not chain data: always SHA-256, whatever the chain hashes with.
    tagged_hash(HashAlg::Sha256, DERIVE_DOMAIN, &data).0
}

/// Consumption between two readings of a cumulative register that counts modulo `register_max`
/// (values in `[0, register_max)`, wrapping to `0 + remainder`). A later value below the earlier
/// one means exactly one rollover.
pub fn register_delta(prev: Quantity, cur: Quantity, register_max: Quantity) -> Quantity {
    let d = cur.micros() - prev.micros();
    Quantity::from_micros(if d < 0 { d + register_max.micros() } else { d })
}

impl Plant {
    /// Builds the plant described by `cfg`: layout, specs, keys and initial register values.
    pub fn new(mut cfg: PlantConfig) -> Plant {
        cfg.noise = cfg.noise.clamp(0.0, 0.9);
        let code = cfg.enterprise.as_str().to_string();
        let gateway_id = DeviceId::new(format!("{code}-GW01")).expect("credit code plus suffix is a valid id");
        let gateway_key = SigningKey::from_seed(cfg.key_scheme, derive(&cfg, "gateway"));
        let mut rng = ChaCha20Rng::from_seed(derive(&cfg, "layout"));
        let workshop_weights: Vec<(usize, f64)> = WORKSHOPS.iter().enumerate().map(|(i, w)| (i, w.share)).collect();
        let mut meters = Vec::with_capacity(cfg.meters);
        let mut groups: BTreeMap<(usize, EnergyKind), Vec<usize>> = BTreeMap::new();
        for i in 0..cfg.meters {
            let ws_index = pick(&workshop_weights, rng.random());
            let ws = &WORKSHOPS[ws_index];
            let kind = pick(ws.kinds, rng.random());
            let p = kind_params(kind);
            let line = rng.random_range(1..=ws.lines);
            let equipment = p.branch.unwrap_or(ws.equipment[rng.random_range(0..ws.equipment.len())]);
            let unit_no: u32 = rng.random_range(1..=12);
            let u: f64 = rng.random();
            // Skewed towards small consumers: many sub-meters, few large feeders.
            let rated_per_hour = p.rated.0 + (p.rated.1 - p.rated.0) * u * u;
            let base_load = (ws.base_load * rng.random_range(0.6..1.4)).min(0.9);
            let max = p.register_max_micros;
            let register = if evenly_selected(i + 7, cfg.near_max_share) {
                // A few rated hours below the maximum: rolls over within a working day or two.
                let hours: f64 = rng.random_range(0.5..8.0);
                max - ((rated_per_hour * hours * Quantity::SCALE as f64) as i64).clamp(1, max - 1)
            } else {
                // Up to about five years of past consumption, always well below the maximum.
                let hours: f64 = rng.random_range(0.0..43_800.0);
                ((rated_per_hour * hours * 0.6 * Quantity::SCALE as f64) as i64).min(max / 2)
            };
            let id = DeviceId::new(format!("{code}-{}{:04}", p.tag, i + 1)).expect("valid id");
            let key = evenly_selected(i, cfg.meter_key_share)
                .then(|| SigningKey::from_seed(cfg.key_scheme, derive(&cfg, id.as_str())));
            let spec = MeterSpec {
                id,
                gateway: gateway_id.clone(),
                name: format!("{}{}线 {equipment}-{unit_no:02} {}表", ws.zh, line, kind.chinese_name()),
                energy: kind,
                unit: p.unit,
                register: RegisterKind::Cumulative,
                accuracy: AccuracyClass(p.accuracy),
                location: LocationPath(vec![
                    "site-01".into(),
                    ws.id.into(),
                    format!("line-{line:02}"),
                    format!("{equipment}-{unit_no:02}"),
                ]),
                register_max: Quantity::from_micros(max),
                // The rated capacity the chain's rate-of-change rule checks against.
                rated_per_hour: Quantity::from_f64_round(rated_per_hour).expect("finite rated capacity"),
                tariff: None,
                master: None,
                public_key: key.as_ref().map(SigningKey::public_key),
            };
            groups.entry((ws_index, kind)).or_default().push(i);
            meters.push(SimMeter {
                spec,
                subs: vec![],
                loss_rate: 0.0,
                key,
                rated_per_hour,
                base_load,
                register,
                consumed: 0,
                seq: 0,
            });
        }
        // The first meter of each workshop and kind with others becomes their master: the
        // workshop's incoming meter, rated for their sum, starting as many rated hours below its
        // maximum (or above zero) as it was drawn with.
        let mut loss_layout = ChaCha20Rng::from_seed(derive(&cfg, "masters"));
        for ((ws_index, kind), members) in &groups {
            let (&first, subs) = members.split_first().expect("groups are never empty");
            if subs.is_empty() {
                continue;
            }
            let ws = &WORKSHOPS[*ws_index];
            let rated: f64 = subs.iter().map(|&j| meters[j].rated_per_hour).sum();
            let (lo, hi) = loss_range(*kind);
            let m = &mut meters[first];
            let max = m.spec.register_max.micros();
            let hours = if m.register > max / 2 {
                (max - m.register) as f64 / (m.rated_per_hour * Quantity::SCALE as f64)
            } else {
                m.register as f64 / (m.rated_per_hour * Quantity::SCALE as f64)
            };
            m.register = if m.register > max / 2 {
                max - ((rated * hours * Quantity::SCALE as f64) as i64).clamp(1, max - 1)
            } else {
                ((rated * hours * Quantity::SCALE as f64) as i64).min(max / 2)
            };
            m.rated_per_hour = rated;
            m.spec.rated_per_hour = Quantity::from_f64_round(rated).expect("finite rated capacity");
            m.spec.name = format!("{}进线 {}总表", ws.zh, kind.chinese_name());
            m.spec.location = LocationPath(vec!["site-01".into(), ws.id.into()]);
            m.subs = subs.to_vec();
            m.loss_rate = loss_layout.random_range(lo..=hi);
            let master = m.spec.id.clone();
            for &j in subs {
                meters[j].spec.master = Some(master.clone());
            }
        }
        let noise_rng = ChaCha20Rng::from_seed(derive(&cfg, "noise"));
        let loss_rng = ChaCha20Rng::from_seed(derive(&cfg, "loss"));
        Plant {
            clock_ms: cfg.start_ms,
            cfg,
            gateway_id,
            gateway_key,
            meters,
            noise_rng,
            loss_rng,
            read_once: false,
            signing_threads: 1,
        }
    }

    /// Signs the readings of one tick on up to `threads` threads (clamped to
    /// `1..=`[`MAX_SIGNING_THREADS`]; 1, the default, signs on the calling thread). Only ticks of
    /// at least a few thousand readings are split. The readings and signatures are the same
    /// whatever the setting: only the signing is spread, the values are computed in plant order.
    pub fn set_signing_threads(&mut self, threads: usize) {
        self.signing_threads = threads.clamp(1, MAX_SIGNING_THREADS);
    }

    /// The configuration (with `noise` clamped).
    pub fn config(&self) -> &PlantConfig {
        &self.cfg
    }

    /// The gateway's device id, `<enterprise code>-GW01`.
    pub fn gateway_id(&self) -> &DeviceId {
        &self.gateway_id
    }

    /// The gateway's signing key: it signs `SubmitReadings` transactions and the readings of
    /// meters without their own key.
    pub fn gateway_key(&self) -> &SigningKey {
        &self.gateway_key
    }

    /// The specs of every meter, in plant order, for `RegisterMeter` transactions.
    pub fn meter_specs(&self) -> Vec<MeterSpec> {
        self.meters.iter().map(|m| m.spec.clone()).collect()
    }

    /// The meters that sign their own readings, with their keys, in plant order.
    pub fn meter_keys(&self) -> Vec<(DeviceId, SigningKey)> {
        self.meters.iter().filter_map(|m| m.key.clone().map(|k| (m.spec.id.clone(), k))).collect()
    }

    /// Rated hourly consumption of every meter, in its register unit per hour.
    pub fn rated_per_hour(&self) -> BTreeMap<DeviceId, f64> {
        self.meters.iter().map(|m| (m.spec.id.clone(), m.rated_per_hour)).collect()
    }

    /// The key that must verify a reading of this plant: the meter's own key for
    /// [`ReadingSigner::Meter`], the gateway's for [`ReadingSigner::Gateway`]. `None` for a meter
    /// of another plant or a meter-signed reading of a meter without a key.
    pub fn verifying_key(&self, r: &SignedReading) -> Option<PublicKey> {
        let m = self.meters.iter().find(|m| m.spec.id == r.reading.meter)?;
        match r.signer {
            ReadingSigner::Meter => m.spec.public_key.clone(),
            ReadingSigner::Gateway => Some(self.gateway_key.public_key()),
        }
    }

    /// The instant the registers currently stand at (Unix ms).
    pub fn now_ms(&self) -> i64 {
        self.clock_ms
    }

    /// True consumption per meter since the start, in micro-units: exactly what the registers
    /// advanced by, counting every rollover.
    pub fn energy_totals(&self) -> BTreeMap<DeviceId, Quantity> {
        self.meters.iter().map(|m| (m.spec.id.clone(), Quantity::from_micros(m.consumed))).collect()
    }

    /// Advances every meter to `now_ms` and returns one signed reading per meter, in plant order,
    /// timestamped `now_ms`, with the next per-meter sequence number (starting at 1).
    ///
    /// The first call may be at the start time and then reports the initial registers. Any later
    /// call must move time forward: a `now_ms` at or before the last reading (or before the start)
    /// returns no readings and changes nothing. Each meter consumes
    /// `rated × hours × (base + (1 − base) × mean production factor) × (1 ± noise)` over the
    /// interval, rounded to a micro-unit; a register passing its maximum wraps to `0 + remainder`.
    pub fn tick(&mut self, now_ms: i64) -> Vec<SignedReading> {
        if now_ms < self.clock_ms || (self.read_once && now_ms == self.clock_ms) {
            return Vec::new();
        }
        let hours = (now_ms - self.clock_ms) as f64 / 3_600_000.0;
        let shape = time::mean_production_factor(self.clock_ms, now_ms);
        let mut readings = Vec::with_capacity(self.meters.len());
        if hours > 0.0 {
            // Sub-meters and meters without sub-meters first, then each master: the sum of its
            // sub-meters plus this interval's loss.
            let mut delta = vec![0i64; self.meters.len()];
            for (d, m) in delta.iter_mut().zip(&self.meters) {
                if !m.subs.is_empty() {
                    continue;
                }
                let noise = 1.0 + self.noise_rng.random_range(-self.cfg.noise..=self.cfg.noise);
                let amount = m.rated_per_hour * hours * (m.base_load + (1.0 - m.base_load) * shape) * noise;
                *d = Quantity::from_f64_round(amount.max(0.0)).expect("consumption is finite and in range").micros();
            }
            for i in 0..self.meters.len() {
                let m = &self.meters[i];
                if m.subs.is_empty() {
                    continue;
                }
                let subs: i64 = m.subs.iter().map(|&j| delta[j]).sum();
                let variation = 1.0 + self.loss_rng.random_range(-LOSS_VARIATION..=LOSS_VARIATION);
                let amount = subs as f64 * (1.0 + m.loss_rate * variation);
                delta[i] = (amount.round() as i64).max(subs);
            }
            for (m, d) in self.meters.iter_mut().zip(delta) {
                m.consumed += d;
                m.register = (m.register + d) % m.spec.register_max.micros();
            }
        }
        for m in &mut self.meters {
            m.seq += 1;
            readings.push(Reading {
                meter: m.spec.id.clone(),
                seq: m.seq,
                timestamp_ms: now_ms,
                value: Quantity::from_micros(m.register),
                unit: m.spec.unit,
                origin: ReadingOrigin::Online,
                clock_suspect: false,
            });
        }
        self.clock_ms = now_ms;
        self.read_once = true;
        self.sign(readings)
    }

    /// Signs one reading per meter, in plant order (`readings[i]` is meter `i`'s).
    fn sign(&self, readings: Vec<Reading>) -> Vec<SignedReading> {
        let one = |m: &SimMeter, r: Reading| match &m.key {
            Some(k) => sign_reading(k, r, ReadingSigner::Meter),
            None => sign_reading(&self.gateway_key, r, ReadingSigner::Gateway),
        };
        if self.signing_threads <= 1 || readings.len() < PARALLEL_SIGNING_MIN {
            return self.meters.iter().zip(readings).map(|(m, r)| one(m, r)).collect();
        }
        let per_thread = readings.len().div_ceil(self.signing_threads);
        let mut parts: Vec<Vec<Reading>> = Vec::with_capacity(self.signing_threads);
        let mut rest = readings.into_iter();
        loop {
            let part: Vec<Reading> = rest.by_ref().take(per_thread).collect();
            if part.is_empty() {
                break;
            }
            parts.push(part);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .into_iter()
                .zip(self.meters.chunks(per_thread))
                .map(|(part, meters)| {
                    scope.spawn(move || meters.iter().zip(part).map(|(m, r)| one(m, r)).collect::<Vec<_>>())
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().expect("a signing thread panicked")).collect()
        })
    }

    /// [`Plant::tick`] one `interval_ms` after the current time (or at the start, the first time).
    pub fn advance(&mut self) -> Vec<SignedReading> {
        let next = if self.read_once { self.clock_ms + self.cfg.interval_ms.max(1) } else { self.clock_ms };
        self.tick(next)
    }

    /// Splits readings into `SubmitReadings` payloads for this plant's gateway, at most
    /// `max_per_tx` readings each (clamped to `1..=MAX_READINGS_PER_TX`), order preserved.
    pub fn batches(&self, readings: Vec<SignedReading>, max_per_tx: usize) -> Vec<TxPayload> {
        let n = max_per_tx.clamp(1, MAX_READINGS_PER_TX);
        readings
            .chunks(n)
            .map(|c| TxPayload::SubmitReadings { gateway: self.gateway_id.clone(), readings: c.to_vec() })
            .collect()
    }

    /// The `RegisterGateway` payload for this plant's gateway (sent by an enterprise account).
    pub fn register_gateway_payload(&self) -> TxPayload {
        TxPayload::RegisterGateway { id: self.gateway_id.clone(), public_key: self.gateway_key.public_key() }
    }

    /// One `RegisterMeter` payload per meter (sent by an enterprise account): the master meters
    /// first, then the others, each group in plant order. In one block, or executed in this order,
    /// that is enough; a node admits a transaction against its *finalized* state, so a caller that
    /// submits through a node sends [`Plant::register_meter_batches`] one after the other instead.
    pub fn register_meter_payloads(&self) -> Vec<TxPayload> {
        self.register_meter_batches().into_iter().flatten().collect()
    }

    /// The `RegisterMeter` payloads in the batches a node admits: the master meters, then (once
    /// they are finalized) every other meter, each in plant order; an empty batch is left out.
    pub fn register_meter_batches(&self) -> Vec<Vec<TxPayload>> {
        let (mut masters, mut others) = (vec![], vec![]);
        for m in &self.meters {
            let batch = if m.subs.is_empty() { &mut others } else { &mut masters };
            batch.push(TxPayload::RegisterMeter { meter: m.spec.clone() });
        }
        [masters, others].into_iter().filter(|b| !b.is_empty()).collect()
    }

    /// The master meters (总表) with their sub-meters, in plant order.
    pub fn masters(&self) -> BTreeMap<DeviceId, Vec<DeviceId>> {
        self.meters
            .iter()
            .filter(|m| !m.subs.is_empty())
            .map(|m| (m.spec.id.clone(), m.subs.iter().map(|&j| self.meters[j].spec.id.clone()).collect()))
            .collect()
    }

    /// Each master meter's base loss rate (a fraction of its sub-meters' sum; see [`loss_range`]).
    pub fn loss_rates(&self) -> BTreeMap<DeviceId, f64> {
        self.meters.iter().filter(|m| !m.subs.is_empty()).map(|m| (m.spec.id.clone(), m.loss_rate)).collect()
    }

    /// One `RecordCalibration` payload per meter with a certificate from `issuer` (a metrology
    /// authority, which must send them) valid over `[valid_from_ms, valid_until_ms)`.
    pub fn calibration_payloads(
        &self,
        issuer: &UnifiedSocialCreditCode,
        valid_from_ms: i64,
        valid_until_ms: i64,
    ) -> Vec<TxPayload> {
        self.meters
            .iter()
            .map(|m| TxPayload::RecordCalibration {
                meter: m.spec.id.clone(),
                calibration: Calibration {
                    certificate_no: format!("JL{}-{}", &issuer.as_str()[8..17], m.spec.id),
                    issuer: issuer.clone(),
                    valid_from_ms,
                    valid_until_ms,
                },
            })
            .collect()
    }

    /// A [`TxSigner`] for the gateway key on `chain_id`, starting at nonce `first_nonce`.
    pub fn gateway_signer(&self, chain_id: ChainId, first_nonce: u64) -> TxSigner {
        TxSigner::new(self.gateway_key.clone(), chain_id, first_nonce)
    }
}

/// Signs transactions for one key on one chain with strictly increasing nonces.
#[derive(Clone, Debug)]
pub struct TxSigner {
    key: SigningKey,
    chain_id: ChainId,
    next_nonce: u64,
}

impl TxSigner {
    /// A signer whose first transaction gets `first_nonce` (at least 1; pass the sender's last
    /// accepted nonce + 1, i.e. 1 for a fresh key).
    pub fn new(key: SigningKey, chain_id: ChainId, first_nonce: u64) -> Self {
        TxSigner { key, chain_id, next_nonce: first_nonce.max(1) }
    }

    /// Signs `payload` with the next nonce.
    pub fn sign(&mut self, payload: TxPayload) -> Transaction {
        let body =
            TxBody { chain_id: self.chain_id.clone(), sender: self.key.public_key(), nonce: self.next_nonce, payload };
        self.next_nonce += 1;
        sign_tx(&self.key, body)
    }

    /// Signs every payload in order, with consecutive nonces.
    pub fn sign_all(&mut self, payloads: impl IntoIterator<Item = TxPayload>) -> Vec<Transaction> {
        payloads.into_iter().map(|p| self.sign(p)).collect()
    }

    /// The nonce the next transaction will carry.
    pub fn next_nonce(&self) -> u64 {
        self.next_nonce
    }

    /// The sender key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The chain the transactions are signed for.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
}
