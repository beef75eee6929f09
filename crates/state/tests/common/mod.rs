//! Shared fixtures for the state-machine integration tests: a genesis with a regulator, a
//! metrology authority and two enterprises, deterministic keys, and helpers that build a block,
//! re-execute it independently (with and without batch-verified signatures) and check that every
//! path agrees before advancing the chain.
//!
//! Nothing here is mocked: every block goes through `build_block` and `execute_block`, every
//! signature is a real Ed25519 (or, in `gm.rs`, SM2) signature.

#![allow(dead_code)]

use std::collections::BTreeMap;

use trustmeter_crypto::{SigningKey, sign_reading, sign_tx};
use trustmeter_state::exec::{BlockContext, check_includable};
use trustmeter_state::{BlockError, BlockOutput, SignatureVerdicts, State, build_block, execute_block, genesis_block};
use trustmeter_types::codec::Validate;
use trustmeter_types::economy::{GenesisAllocation, TOKEN};
use trustmeter_types::limits::MAX_MESSAGE_LEN;
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    AccuracyClass, Block, Calibration, ChainId, ChainParams, DeviceId, EnergyKind, Genesis, GenesisAccount,
    GenesisValidator, LocationPath, OrgKind, Organisation, Quantity, Reading, ReadingOrigin, ReadingOutcome,
    ReadingSigner, Receipt, RegisterKind, RejectCode, SignedReading, Transaction, TxBody, TxOutcome, TxPayload,
    UnifiedSocialCreditCode, Unit,
};

/// The hash algorithm of the default fixture chain.
pub const SHA: trustmeter_crypto::HashAlg = trustmeter_crypto::HashAlg::Sha256;

/// Genesis time: 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;
/// One day in milliseconds.
pub const DAY: i64 = 86_400_000;
/// Block interval used by the fixture.
pub const BLOCK_MS: i64 = 1_000;
/// The fixture's chain.
pub const CHAIN: &str = "hunan-1";
/// Calibration window given to every meter at setup: [CAL_FROM, CAL_UNTIL).
pub const CAL_FROM: i64 = T0 - 180 * DAY;
/// End (exclusive) of the setup calibration window.
pub const CAL_UNTIL: i64 = T0 + 365 * DAY;
/// Register maximum of the kWh meters: 1 000 000 kWh.
pub const KWH_MAX: i64 = 1_000_000 * Quantity::SCALE;
/// Register maximum of the instantaneous kW meter: 10 000 kW.
pub const KW_MAX: i64 = 10_000 * Quantity::SCALE;

// Device ids.
/// Gateway 1 of enterprise A.
pub const A_GW1: &str = "A-GW1";
/// Gateway 2 of enterprise A.
pub const A_GW2: &str = "A-GW2";
/// Gateway of enterprise B.
pub const B_GW1: &str = "B-GW1";
/// kWh meter of A on A-GW1, no key of its own (the gateway signs).
pub const A_EM1: &str = "A-EM1";
/// kWh meter of A on A-GW1 with its own key.
pub const A_EM2: &str = "A-EM2";
/// Instantaneous kW meter of A on A-GW1, no key.
pub const A_PW3: &str = "A-PW3";
/// Water meter (m³) of A on A-GW2.
pub const A_WM4: &str = "A-WM4";
/// kWh meter of B on B-GW1.
pub const B_EM1: &str = "B-EM1";

/// A deterministic key from a one-byte seed.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::ed25519_from_seed([seed; 32])
}
/// Account of the regulator (节能主管部门).
pub fn regulator() -> SigningKey {
    key(1)
}
/// Account of the metrology authority.
pub fn metrology() -> SigningKey {
    key(2)
}
/// Account of enterprise A.
pub fn ent_a() -> SigningKey {
    key(3)
}
/// Account of enterprise B.
pub fn ent_b() -> SigningKey {
    key(4)
}
/// Key of gateway A-GW1.
pub fn gw_a1() -> SigningKey {
    key(11)
}
/// Key of gateway A-GW2.
pub fn gw_a2() -> SigningKey {
    key(12)
}
/// Key of gateway B-GW1.
pub fn gw_b1() -> SigningKey {
    key(13)
}
/// Own key of meter A-EM2.
pub fn em_a2() -> SigningKey {
    key(21)
}
/// Account of the third-party verifier (核查机构) of [`genesis_with_verifier`].
pub fn verifier() -> SigningKey {
    key(5)
}
/// A key nobody registered.
pub fn stranger() -> SigningKey {
    key(99)
}

/// A valid unified social credit code: `91430100MA4L` + five digits + the GB 32100 check character.
pub fn uscc(n: u32) -> UnifiedSocialCreditCode {
    let first17 = format!("91430100MA4L{n:05}");
    let check = UnifiedSocialCreditCode::check_char(&first17).expect("alphabet");
    UnifiedSocialCreditCode::new(format!("{first17}{check}")).expect("valid code")
}
/// The regulator's code.
pub fn org_regulator() -> UnifiedSocialCreditCode {
    uscc(1)
}
/// The metrology authority's code.
pub fn org_metrology() -> UnifiedSocialCreditCode {
    uscc(2)
}
/// Enterprise A's code.
pub fn org_a() -> UnifiedSocialCreditCode {
    uscc(3)
}
/// Enterprise B's code.
pub fn org_b() -> UnifiedSocialCreditCode {
    uscc(4)
}
/// The verifier's code (only in [`genesis_with_verifier`]).
pub fn org_verifier() -> UnifiedSocialCreditCode {
    uscc(5)
}

/// A device id. The tests name devices by a short owner letter (`A-GW1`: enterprise A's, `B-…`,
/// `M-…` the metrology authority's, `R-…` the regulator's); on chain a device is named under its
/// owner's credit code, so those become `<code>-A-GW1`. Any other text is taken as it is.
pub fn dev(s: &str) -> DeviceId {
    let owner = match s.split_once('-').map(|(o, _)| o) {
        Some("A") => Some(org_a()),
        Some("B") => Some(org_b()),
        Some("M") => Some(org_metrology()),
        Some("R") => Some(org_regulator()),
        _ => None,
    };
    let full = match owner {
        Some(code) => format!("{code}-{s}"),
        None => s.to_string(),
    };
    DeviceId::new(full).expect("valid device id")
}

/// The genesis of a chain with the four founding organisations and one account each.
pub fn genesis(chain: &str) -> Genesis {
    let org = |id: UnifiedSocialCreditCode, name: &str, kind: OrgKind| Organisation {
        id,
        name: name.into(),
        kind,
        region: 430_100,
    };
    let account = |org: UnifiedSocialCreditCode, k: SigningKey| GenesisAccount { org, public_key: k.public_key() };
    Genesis {
        chain_id: ChainId::new(chain).expect("chain id"),
        genesis_time_ms: T0,
        params: ChainParams::default(),
        organisations: vec![
            org(org_regulator(), "长沙市节能监察中心", OrgKind::Regulator),
            org(org_metrology(), "长沙市计量检定测试所", OrgKind::MetrologyAuthority),
            org(org_a(), "Enterprise A Steel Co.", OrgKind::Enterprise),
            org(org_b(), "Enterprise B Cement Co.", OrgKind::Enterprise),
        ],
        accounts: vec![
            account(org_regulator(), regulator()),
            account(org_metrology(), metrology()),
            account(org_a(), ent_a()),
            account(org_b(), ent_b()),
        ],
        validators: vec![GenesisValidator {
            name: "v1".into(),
            org: org_regulator(),
            consensus_key: hex_key(&key(200)),
            p2p_address: "127.0.0.1:7000".into(),
            self_stake: 100_000 * TOKEN,
        }],
        allocations: vec![
            GenesisAllocation { org: org_regulator(), amount: 1_000_000 * TOKEN },
            GenesisAllocation { org: org_metrology(), amount: 100_000 * TOKEN },
            GenesisAllocation { org: org_a(), amount: 10_000 * TOKEN },
            GenesisAllocation { org: org_b(), amount: 10_000 * TOKEN },
        ],
        devnet_seed: None,
    }
}

/// [`genesis`] with a fifth founding organisation: a third-party verifier with one account.
pub fn genesis_with_verifier(chain: &str) -> Genesis {
    let mut g = genesis(chain);
    g.organisations.push(Organisation {
        id: org_verifier(),
        name: "湖南某碳核查技术服务有限公司".into(),
        kind: OrgKind::Verifier,
        region: 430_100,
    });
    g.accounts.push(GenesisAccount { org: org_verifier(), public_key: verifier().public_key() });
    g
}

fn hex_key(k: &SigningKey) -> String {
    k.public_key().bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A meter spec with sensible defaults.
pub fn meter_spec(id: &str, gateway: &str, energy: EnergyKind, unit: Unit, own_key: Option<&SigningKey>) -> MeterSpec {
    let (register, max) =
        if unit.is_rate() { (RegisterKind::Instantaneous, KW_MAX) } else { (RegisterKind::Cumulative, KWH_MAX) };
    MeterSpec {
        id: dev(id),
        gateway: dev(gateway),
        name: format!("meter {id}"),
        energy,
        unit,
        register,
        accuracy: AccuracyClass(50),
        location: LocationPath(vec!["site-1".into(), "workshop-2".into()]),
        register_max: Quantity::from_micros(max),
        rated_per_hour: Default::default(),
        tariff: None,
        master: None,
        public_key: own_key.map(|k| k.public_key()),
    }
}

/// A kWh meter spec without a key.
pub fn kwh_meter(id: &str, gateway: &str) -> MeterSpec {
    meter_spec(id, gateway, EnergyKind::Electricity, Unit::KilowattHour, None)
}

/// A calibration certificate issued by the fixture's metrology authority.
pub fn calibration(no: &str, from: i64, until: i64) -> Calibration {
    Calibration { certificate_no: no.into(), issuer: org_metrology(), valid_from_ms: from, valid_until_ms: until }
}

/// A reading.
pub fn reading(meter: &str, seq: u64, ts: i64, micros: i64, unit: Unit) -> Reading {
    Reading {
        meter: dev(meter),
        seq,
        timestamp_ms: ts,
        value: Quantity::from_micros(micros),
        unit,
        origin: ReadingOrigin::Online,
        clock_suspect: false,
    }
}
/// A kWh reading of `kwh` whole kilowatt-hours.
pub fn kwh(meter: &str, seq: u64, ts: i64, kwh: i64) -> Reading {
    reading(meter, seq, ts, kwh * Quantity::SCALE, Unit::KilowattHour)
}
/// A reading signed by a gateway on its meter's behalf.
pub fn by_gateway(k: &SigningKey, r: Reading) -> SignedReading {
    sign_reading(k, r, ReadingSigner::Gateway)
}
/// A reading signed by the meter's own key.
pub fn by_meter(k: &SigningKey, r: Reading) -> SignedReading {
    sign_reading(k, r, ReadingSigner::Meter)
}

/// Asserts that `msg` is a sentence a person can act on: non-empty, several words, within the
/// protocol's message limit.
pub fn assert_sentence(msg: &str) {
    assert!(!msg.trim().is_empty(), "rejection message is empty");
    assert!(msg.split_whitespace().count() >= 4, "rejection message {msg:?} is not a sentence");
    assert!(msg.len() <= MAX_MESSAGE_LEN, "rejection message is {} bytes, over {MAX_MESSAGE_LEN}: {msg}", msg.len());
}

/// Asserts the transaction was accepted.
pub fn assert_tx_accepted(r: &Receipt) {
    assert_eq!(r.outcome, TxOutcome::Accepted, "transaction should be accepted");
}

/// Asserts the transaction was rejected with `code` and a proper message; returns the message.
pub fn assert_tx_rejected(r: &Receipt, code: RejectCode) -> String {
    match &r.outcome {
        TxOutcome::Rejected(rej) => {
            assert_eq!(rej.code, code, "wrong code; message: {}", rej.message);
            assert_sentence(&rej.message);
            assert!(r.readings.is_empty(), "a rejected transaction has no reading outcomes");
            rej.message.clone()
        }
        TxOutcome::Accepted => panic!("transaction accepted, expected rejection {code:?}"),
    }
}

/// Asserts a reading was rejected with `code` and a proper message; returns the message.
pub fn assert_reading_rejected(o: &ReadingOutcome, code: RejectCode) -> String {
    match o {
        ReadingOutcome::Rejected(rej) => {
            assert_eq!(rej.code, code, "wrong code; message: {}", rej.message);
            assert_sentence(&rej.message);
            rej.message.clone()
        }
        other => panic!("reading outcome {other:?}, expected rejection {code:?}"),
    }
}

/// A block that went through building and independent re-execution.
pub struct Executed {
    /// The block.
    pub block: Block,
    /// The output of `build_block`.
    pub output: BlockOutput,
}

impl Executed {
    /// Receipt of transaction `i`.
    pub fn receipt(&self, i: usize) -> &Receipt {
        &self.output.receipts[i]
    }
    /// Outcome of reading `j` of transaction `i`.
    pub fn reading(&self, i: usize, j: usize) -> &ReadingOutcome {
        &self.output.receipts[i].readings[j]
    }
}

/// A chain under test: its genesis, its current state and a nonce counter per sender.
pub struct Fx {
    /// The genesis.
    pub genesis: Genesis,
    /// The state at the tip.
    pub state: State,
    /// Every block applied so far (genesis first).
    pub blocks: Vec<Block>,
    nonces: BTreeMap<Vec<u8>, u64>,
}

impl Fx {
    /// Only the genesis block.
    pub fn genesis_only(chain: &str) -> Self {
        Self::from_genesis(genesis(chain))
    }

    /// Only the genesis block of the given genesis (e.g. one with other parameters).
    pub fn from_genesis(g: Genesis) -> Self {
        g.validate().expect("fixture genesis is valid");
        let (block, state) = genesis_block(&g);
        Fx { genesis: g, state, blocks: vec![block], nonces: BTreeMap::new() }
    }

    /// A twin of this chain continuing from `state` (e.g. one restored from a snapshot), with the
    /// same nonces.
    pub fn clone_with_state(&self, state: State) -> Self {
        Fx { genesis: self.genesis.clone(), state, blocks: self.blocks.clone(), nonces: self.nonces.clone() }
    }

    /// A chain on which both enterprises have registered, calibrated and activated gateways and
    /// meters (see the device constants).
    pub fn ready() -> Self {
        Self::ready_on(CHAIN)
    }

    /// [`Fx::ready`] on a chain of the given id.
    pub fn ready_on(chain: &str) -> Self {
        Self::ready_from(genesis(chain))
    }

    /// [`Fx::ready`] from the given genesis (one of [`genesis`]'s with more members).
    pub fn ready_from(g: Genesis) -> Self {
        let mut fx = Self::from_genesis(g);
        let em2 = em_a2();
        let txs = vec![
            fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev(A_GW1), public_key: gw_a1().public_key() }),
            fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev(A_GW2), public_key: gw_a2().public_key() }),
            fx.tx(&ent_b(), TxPayload::RegisterGateway { id: dev(B_GW1), public_key: gw_b1().public_key() }),
            fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter(A_EM1, A_GW1) }),
            fx.tx(
                &ent_a(),
                TxPayload::RegisterMeter {
                    meter: meter_spec(A_EM2, A_GW1, EnergyKind::Electricity, Unit::KilowattHour, Some(&em2)),
                },
            ),
            fx.tx(
                &ent_a(),
                TxPayload::RegisterMeter {
                    meter: meter_spec(A_PW3, A_GW1, EnergyKind::Electricity, Unit::Kilowatt, None),
                },
            ),
            fx.tx(
                &ent_a(),
                TxPayload::RegisterMeter { meter: meter_spec(A_WM4, A_GW2, EnergyKind::Water, Unit::CubicMetre, None) },
            ),
            fx.tx(&ent_b(), TxPayload::RegisterMeter { meter: kwh_meter(B_EM1, B_GW1) }),
        ];
        let b = fx.exec(txs);
        for r in &b.output.receipts {
            assert_tx_accepted(r);
        }
        let meters = [A_EM1, A_EM2, A_PW3, A_WM4, B_EM1];
        let txs: Vec<_> = meters
            .iter()
            .map(|m| {
                fx.tx(
                    &metrology(),
                    TxPayload::RecordCalibration {
                        meter: dev(m),
                        calibration: calibration(&format!("JD-{m}"), CAL_FROM, CAL_UNTIL),
                    },
                )
            })
            .collect();
        let b = fx.exec(txs);
        for r in &b.output.receipts {
            assert_tx_accepted(r);
        }
        let txs: Vec<_> = [A_GW1, A_GW2, B_GW1]
            .iter()
            .chain(meters.iter())
            .map(|d| fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev(d) }))
            .collect();
        let b = fx.exec(txs);
        for r in &b.output.receipts {
            assert_tx_accepted(r);
        }
        fx
    }

    /// The next nonce of `k` according to this fixture's counter (strictly increasing).
    pub fn next_nonce(&mut self, k: &SigningKey) -> u64 {
        let n = self.nonces.entry(k.public_key().bytes).or_insert(0);
        *n += 1;
        *n
    }

    /// A transaction from `k` for this chain with the next nonce.
    pub fn tx(&mut self, k: &SigningKey, payload: TxPayload) -> Transaction {
        let nonce = self.next_nonce(k);
        self.tx_with_nonce(k, nonce, payload)
    }

    /// A transaction from `k` for this chain with an explicit nonce.
    pub fn tx_with_nonce(&self, k: &SigningKey, nonce: u64, payload: TxPayload) -> Transaction {
        sign_tx(k, TxBody { chain_id: self.state.chain_id.clone(), sender: k.public_key(), nonce, payload })
    }

    /// A `RegisterAccount` payload adding `new` to `sender`'s organisation, with the new key's
    /// proof of possession.
    pub fn new_account(&self, sender: &SigningKey, new: &SigningKey) -> TxPayload {
        let org = self.state.account_org(&sender.public_key()).unwrap_or_else(|| uscc(999));
        let proof = new.sign(&trustmeter_types::account_proof_payload(&self.state.chain_id, &org, &new.public_key()));
        TxPayload::RegisterAccount { public_key: new.public_key(), proof }
    }

    /// A reading batch sent by a gateway.
    pub fn submit(&mut self, gw: &SigningKey, gateway: &str, readings: Vec<SignedReading>) -> Transaction {
        self.tx(gw, TxPayload::SubmitReadings { gateway: dev(gateway), readings })
    }

    /// Timestamp the next fixture block gets.
    pub fn next_ts(&self) -> i64 {
        self.state.timestamp_ms + BLOCK_MS
    }

    /// The state root an empty block at the next timestamp would give: what a block whose
    /// transactions are all rejected must give too (every block records its validator activity).
    pub fn empty_block_root(&self) -> trustmeter_types::Hash32 {
        let ctx = BlockContext { epoch: 1, view: self.state.height + 1, timestamp_ms: self.next_ts() };
        build_block(&self.state, &ctx, vec![], &SignatureVerdicts::none()).1.state.root()
    }

    /// Builds, cross-checks and applies a block at the next timestamp. Every candidate must be
    /// included.
    pub fn exec(&mut self, txs: Vec<Transaction>) -> Executed {
        let ts = self.next_ts();
        self.exec_at(ts, txs)
    }

    /// Like [`Fx::exec`] at an explicit block timestamp.
    pub fn exec_at(&mut self, ts: i64, txs: Vec<Transaction>) -> Executed {
        let ctx = BlockContext { epoch: 1, view: self.state.height + 1, timestamp_ms: ts };
        let (block, output) = build_block(&self.state, &ctx, txs.clone(), &SignatureVerdicts::none());
        assert_eq!(block.txs, txs, "build_block left out a candidate");
        assert_eq!(block.header.timestamp_ms, ts);
        cross_check(&self.state, &block, &output);
        // As a validator's finalizer does: the next block executes on the committed state.
        self.state = output.state.commit().expect("the block commits on its parent's store");
        self.blocks.push(block.clone());
        Executed { block, output }
    }
}

/// Re-executes `block` on `parent` with no verdicts and with batch-verified verdicts, and checks
/// that both agree with what `build_block` produced.
pub fn cross_check(parent: &State, block: &Block, built: &BlockOutput) {
    let refs: Vec<&Transaction> = block.txs.iter().collect();
    let batch = SignatureVerdicts::batch_verify(parent, &refs, &mut rand::rng());
    for (what, verdicts) in [("no verdicts", SignatureVerdicts::none()), ("batch verdicts", batch)] {
        let out = execute_block(parent, block, &verdicts).unwrap_or_else(|e| panic!("execute_block with {what}: {e}"));
        assert_eq!(out.state.root(), built.state.root(), "{what}: state root");
        assert_eq!(out.state.root(), block.header.state_root, "{what}: header state root");
        assert_eq!(out.receipts, built.receipts, "{what}: receipts");
        assert_eq!(out.recorded, built.recorded, "{what}: recorded readings");
        assert_eq!(out.state.block_digest, built.state.block_digest, "{what}: block digest");
        assert_eq!(out.state.height, built.state.height);
        assert_eq!(out.state.timestamp_ms, built.state.timestamp_ms);
    }
}

/// Asserts that `bad` is refused by `check_includable` with `code` (with and without batch
/// verdicts), that `build_block` leaves it out while keeping a valid neighbour, and that a block
/// carrying it anyway is refused by `execute_block` with [`BlockError::BadTransaction`].
pub fn assert_never_included(fx: &mut Fx, bad: &Transaction, code: RejectCode) {
    let none = SignatureVerdicts::none();
    let batch = SignatureVerdicts::batch_verify(&fx.state, &[bad], &mut rand::rng());
    for v in [&none, &batch] {
        let rej = check_includable(&fx.state, bad, v).expect_err("the transaction must not be includable");
        assert_eq!(rej.code, code, "{}", rej.message);
        assert_sentence(&rej.message);
    }
    // An includable neighbour (its own outcome does not matter here).
    let good = fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev("ANY-DEVICE") });
    let ctx = BlockContext { epoch: 1, view: fx.state.height + 1, timestamp_ms: fx.next_ts() };
    for v in [&none, &batch] {
        let (block, out) = build_block(&fx.state, &ctx, vec![bad.clone(), good.clone(), bad.clone()], v);
        assert_eq!(block.txs, vec![good.clone()], "build_block must leave the transaction out");
        assert_eq!(out.receipts.len(), 1);
        for pos in [0, 1] {
            let mut forged = block.clone();
            forged.txs.insert(pos, bad.clone());
            forged.header.tx_count += 1;
            forged.header.reading_count += bad.body.payload.reading_count() as u32;
            match execute_block(&fx.state, &forged, v) {
                Err(BlockError::BadTransaction { index, reason }) => {
                    assert_eq!(index, pos);
                    assert!(reason.contains(code.as_str()), "{reason}");
                }
                other => panic!("a block carrying the transaction must be refused, got {other:?}"),
            }
        }
    }
}
