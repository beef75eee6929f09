//! Test fixtures shared by the unit tests of this crate and the node's (feature `testkit`): a one-enterprise chain built block by block
//! with the real state machine, optionally indexed as a node would index finalized blocks.

use std::sync::Arc;
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::{ChainBlock, Finalized};
use trustmeter_energy::calendar;
use trustmeter_index::Index;
use trustmeter_plant::TxSigner;
use trustmeter_state::exec::BlockContext;
use trustmeter_state::{SignatureVerdicts, State, build_block, genesis_block};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    AccuracyClass, Calibration, DeviceId, EnergyKind, LocationPath, Quantity, ReadingOrigin, RegisterKind, TxOutcome,
    TxPayload, UnifiedSocialCreditCode, Unit,
};

/// 2026-11-21 00:00 in Asia/Shanghai.
pub const T0: i64 = 1_795_190_400_000;

pub fn meter(owner: &UnifiedSocialCreditCode, n: u32) -> MeterSpec {
    MeterSpec {
        id: DeviceId::new(format!("{owner}-EM{n:04}")).unwrap(),
        gateway: DeviceId::new(format!("{owner}-GW01")).unwrap(),
        name: format!("meter {n}"),
        energy: EnergyKind::Electricity,
        unit: Unit::KilowattHour,
        register: RegisterKind::Cumulative,
        accuracy: AccuracyClass(50),
        location: LocationPath(vec!["site".into()]),
        register_max: Quantity::from_micros(1_000_000_000),
        rated_per_hour: Default::default(),
        tariff: None,
        master: None,
        public_key: None,
    }
}

/// Applies one block of `txs` at `t`; every transaction must be accepted.
pub fn block(state: &State, t: i64, txs: Vec<trustmeter_types::Transaction>) -> State {
    block_indexed(state, t, txs, None)
}

/// [`block`], also feeding the block to `index` as a finalized one.
pub fn block_indexed(state: &State, t: i64, txs: Vec<trustmeter_types::Transaction>, index: Option<&Index>) -> State {
    let n = txs.len();
    let ctx = BlockContext { epoch: 0, view: state.height + 1, timestamp_ms: t };
    let (b, out) = build_block(state, &ctx, txs, &SignatureVerdicts::none());
    assert_eq!(b.txs.len(), n, "a transaction was not includable");
    for r in &out.receipts {
        assert_eq!(r.outcome, TxOutcome::Accepted, "{r:?}");
    }
    let out = Arc::new(out);
    if let Some(index) = index {
        let f = Finalized { block: ChainBlock::new(state.params.hash, b), output: out.clone(), finalization: None };
        index.apply(&f).expect("indexed");
        // The index stores the block cut into a shell and its readings; spliced, it is the same.
        let raw = index.raw_block(f.block.block.header.height).expect("read").expect("indexed");
        assert!(raw == f.block.encoded(), "the index gives back the block byte for byte");
    }
    out.state.clone()
}

/// A chain with one enterprise whose gateway and meter 1 are registered, calibrated and
/// active, at `T0 - 1 s`.
pub struct Fixture {
    pub st: State,
    pub chain: trustmeter_types::ChainId,
    pub org: UnifiedSocialCreditCode,
    pub meter: MeterSpec,
    pub gw_key: trustmeter_crypto::SigningKey,
    pub gw: TxSigner,
    /// The enterprise's account.
    pub ent: TxSigner,
    /// The metrology authority's account.
    pub metro: TxSigner,
    /// The regulator's account.
    pub reg: TxSigner,
    pub seq: u64,
    /// Whether the next readings carry the gateway's clock-suspect mark (flagged by the
    /// default audit policy).
    pub clock_suspect: bool,
    /// Where blocks are indexed too, if anywhere.
    pub index: Option<Index>,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_index(None)
    }

    /// [`Fixture::new`], indexing every block (the setup too) in a new index at `index_path`.
    pub fn with_index(index_path: Option<&std::path::Path>) -> Self {
        let devnet = Devnet::new("alarms-rules", 1, 1, 9, T0 - 3_600_000, 0);
        let index = index_path.map(|p| Index::open(p, devnet.genesis.clone()).expect("a new index"));
        let (_, st) = genesis_block(&devnet.genesis);
        let chain = devnet.genesis.chain_id.clone();
        let e0 = &devnet.enterprises[0];
        let org = e0.org.id.clone();
        let mut ent = TxSigner::new(e0.key.clone(), chain.clone(), 1);
        let mut reg = TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1);
        let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
        let gw_key = trustmeter_crypto::SigningKey::ed25519_from_seed([7; 32]);
        let mut m = meter(&org, 1);
        m.register_max = Quantity::from_micros(1_000_000 * Quantity::SCALE);
        let gw_id = m.gateway.clone();
        let st = block_indexed(
            &st,
            T0 - 3_000,
            vec![
                ent.sign(TxPayload::RegisterGateway { id: gw_id.clone(), public_key: gw_key.public_key() }),
                ent.sign(TxPayload::RegisterMeter { meter: m.clone() }),
            ],
            index.as_ref(),
        );
        let cal = Calibration {
            certificate_no: "JD-1".into(),
            issuer: devnet.metrology.org.id.clone(),
            valid_from_ms: T0 - 365 * calendar::DAY_MS,
            valid_until_ms: T0 + 365 * calendar::DAY_MS,
        };
        let st = block_indexed(
            &st,
            T0 - 2_000,
            vec![metro.sign(TxPayload::RecordCalibration { meter: m.id.clone(), calibration: cal })],
            index.as_ref(),
        );
        let st = block_indexed(
            &st,
            T0 - 1_000,
            vec![
                reg.sign(TxPayload::ActivateDevice { device: m.id.clone() }),
                reg.sign(TxPayload::ActivateDevice { device: gw_id }),
            ],
            index.as_ref(),
        );
        let gw = TxSigner::new(gw_key.clone(), chain.clone(), 1);
        Fixture { st, chain, org, meter: m, gw_key, gw, seq: 0, clock_suspect: false, index, ent, metro, reg }
    }

    /// A block at `t` recording a reading of meter 1 at `ts` (kWh), or an empty block.
    pub fn at(&mut self, t: i64, reading: Option<(i64, f64)>) {
        let txs = match reading {
            None => vec![],
            Some((ts, v)) => {
                self.seq += 1;
                let r = trustmeter_types::Reading {
                    meter: self.meter.id.clone(),
                    seq: self.seq,
                    timestamp_ms: ts,
                    value: Quantity::from_f64_round(v).unwrap(),
                    unit: Unit::KilowattHour,
                    origin: ReadingOrigin::Online,
                    clock_suspect: self.clock_suspect,
                };
                let sr = trustmeter_crypto::sign_reading(&self.gw_key, r, trustmeter_types::ReadingSigner::Gateway);
                vec![
                    self.gw.sign(TxPayload::SubmitReadings { gateway: self.meter.gateway.clone(), readings: vec![sr] }),
                ]
            }
        };
        self.txs(t, txs);
    }

    /// A block at `t` with `txs` (each must be accepted), indexed if the fixture indexes.
    pub fn txs(&mut self, t: i64, txs: Vec<trustmeter_types::Transaction>) {
        let _ = &self.chain;
        self.st = block_indexed(&self.st, t, txs, self.index.as_ref());
    }
}
