//! A small chain built deterministically, like `trustmeter-client`'s example chain
//! (`crates/client/tests/proofs/example.rs`): fixed seeds and timestamps, blocks built and
//! executed by the state machine, a finalization certificate signed directly with three of the
//! four validator keys. Block 1 registers a gateway and two meters (one with its own key, one
//! whose gateway signs for it), calibrates and activates them; block 2 records a reading of each.
//! Its proofs are the ones a node serves, built by the same `trustmeter-client` builders.

use commonware_consensus::simplex::types::{Finalization, Finalize, Proposal};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::sha256;
use commonware_parallel::Sequential;
use commonware_utils::iter::NonEmpty;
use trustmeter_chain::devnet::{Devnet, DevnetCrypto};
use trustmeter_chain::engine::consensus_namespace;
use trustmeter_chain::{BlockFinalization, Scheme};
use trustmeter_client::{CertifiedHeader, FigureProof, ProofBundle, ReceiptProof, StateProofs};
use trustmeter_crypto::{HashAlg, SigningKey, block_digest, sign_reading, sign_tx};
use trustmeter_state::exec::{BlockContext, BlockOutput, build_block, genesis_block};
use trustmeter_state::{DailyKey, SignatureVerdicts, State, StateKey};
use trustmeter_types::registry::{AccuracyClass, Calibration, LocationPath};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    Block, BlockHeader, DeviceId, EnergyKind, Genesis, KeyScheme, Quantity, Reading, ReadingOrigin, ReadingSigner,
    RegisterKind, Transaction, TxBody, TxOutcome, TxPayload, Unit,
};

/// Genesis time: 2026-01-01T00:00:00Z.
pub const GENESIS_MS: i64 = 1_767_225_600_000;
/// Genesis validators whose finalize votes make the certificate.
pub const SIGNERS: [usize; 3] = [0, 1, 3];
/// The gateway.
pub const GATEWAY: &str = "91430100700001000N-GW01";
/// The meters: the first signs its own readings, the second's gateway signs for it.
pub const METERS: [&str; 2] = ["91430100700001000N-EM01", "91430100700001000N-EM02"];

/// The chain after its second block.
pub struct Chain {
    /// Genesis, validator and member keys.
    pub devnet: Devnet,
    /// Block 1 (registrations) and its output.
    pub block1: (Block, BlockOutput),
    /// Block 2 (the readings) and its output.
    pub block2: (Block, BlockOutput),
    /// Block 1's finalization certificate.
    pub fin1: BlockFinalization,
    /// Block 2's finalization certificate.
    pub fin2: BlockFinalization,
}

fn device_key(scheme: KeyScheme, n: u8) -> SigningKey {
    SigningKey::from_seed(scheme, [n; 32])
}

/// The finalization certificate of `header` signed by the genesis validators `signers`.
pub fn finalize(devnet: &Devnet, header: &BlockHeader, signers: &[usize]) -> BlockFinalization {
    let namespace = consensus_namespace(&devnet.genesis);
    let participants = devnet.participants();
    let digest = block_digest(devnet.genesis.params.hash, header);
    let view = header.view;
    let proposal = Proposal::new(
        Round::new(Epoch::new(header.epoch), View::new(view)),
        View::new(view - 1),
        sha256::Digest(digest.0),
    );
    let votes: Vec<Finalize<Scheme, sha256::Digest>> = signers
        .iter()
        .map(|&i| {
            let scheme = Scheme::signer(&namespace, participants.clone(), devnet.validator_keys[i].clone())
                .expect("a genesis validator");
            Finalize::sign(&scheme, proposal.clone()).expect("a signer signs")
        })
        .collect();
    let verifier = Scheme::verifier(&namespace, participants);
    Finalization::from_finalizes(&verifier, NonEmpty::try_new(votes.iter()).expect("votes"), &Sequential)
        .expect("a quorum of votes for one proposal")
}

/// Builds and executes a block of `txs` on `parent`; every transaction must be accepted.
pub fn build(parent: &State, view: u64, timestamp_ms: i64, txs: Vec<Transaction>) -> (Block, BlockOutput) {
    let ctx = BlockContext { epoch: 0, view, timestamp_ms };
    let n = txs.len();
    let (block, output) = build_block(parent, &ctx, txs, &SignatureVerdicts::none());
    assert_eq!(block.txs.len(), n, "every transaction is included");
    for (i, r) in output.receipts.iter().enumerate() {
        assert!(matches!(r.outcome, TxOutcome::Accepted), "transaction {i} failed: {r:?}");
    }
    let output = BlockOutput { state: output.state.commit().expect("the block commits"), ..output };
    (block, output)
}

/// Builds the chain: `gm` makes an SM3 chain whose members and devices have SM2 keys (国密).
pub fn make(chain_id: &str, gm: bool) -> Chain {
    let (crypto, scheme) = if gm {
        (DevnetCrypto { hash: HashAlg::Sm3, account_scheme: KeyScheme::Sm2 }, KeyScheme::Sm2)
    } else {
        (DevnetCrypto::default(), KeyScheme::Ed25519)
    };
    let devnet = Devnet::with_crypto(chain_id, 4, 1, 2026, GENESIS_MS, 30_000, crypto);
    let genesis = devnet.genesis.clone();
    let (_, state0) = genesis_block(&genesis);
    let tx = |key: &SigningKey, nonce: u64, payload: TxPayload| {
        sign_tx(key, TxBody { chain_id: genesis.chain_id.clone(), sender: key.public_key(), nonce, payload })
    };
    let enterprise = &devnet.enterprises[0];
    let gateway = DeviceId::new(GATEWAY).unwrap();
    let gateway_key = device_key(scheme, 200);
    let meters = [(METERS[0], Some(device_key(scheme, 101))), (METERS[1], None)];

    let mut txs = vec![tx(
        &enterprise.key,
        1,
        TxPayload::RegisterGateway { id: gateway.clone(), public_key: gateway_key.public_key() },
    )];
    for (i, (id, key)) in meters.iter().enumerate() {
        let spec = MeterSpec {
            id: DeviceId::new(*id).unwrap(),
            gateway: gateway.clone(),
            name: format!("incoming feeder {}", i + 1),
            energy: EnergyKind::Electricity,
            unit: Unit::KilowattHour,
            register: RegisterKind::Cumulative,
            accuracy: AccuracyClass(50),
            location: LocationPath(vec!["site-1".into(), "substation".into()]),
            register_max: Quantity::from_micros(99_999_999 * Quantity::SCALE),
            rated_per_hour: Quantity::from_micros(2_000 * Quantity::SCALE),
            tariff: None,
            master: None,
            public_key: key.as_ref().map(|k| k.public_key()),
        };
        txs.push(tx(&enterprise.key, 2 + i as u64, TxPayload::RegisterMeter { meter: spec }));
    }
    for (i, (id, _)) in meters.iter().enumerate() {
        let calibration = Calibration {
            certificate_no: format!("HNJL-2025-{:05}", 731 + i),
            issuer: devnet.metrology.org.id.clone(),
            valid_from_ms: GENESIS_MS - 30 * 86_400_000,
            valid_until_ms: GENESIS_MS + 335 * 86_400_000,
        };
        txs.push(tx(
            &devnet.metrology.key,
            1 + i as u64,
            TxPayload::RecordCalibration { meter: DeviceId::new(*id).unwrap(), calibration },
        ));
    }
    let devices = std::iter::once(gateway.clone()).chain(meters.iter().map(|(id, _)| DeviceId::new(*id).unwrap()));
    for (i, device) in devices.enumerate() {
        txs.push(tx(&devnet.regulator.key, 1 + i as u64, TxPayload::ActivateDevice { device }));
    }
    let block1 = build(&state0, 1, GENESIS_MS + 60_000, txs);

    let t = GENESIS_MS + 15 * 60_000;
    let readings = meters
        .iter()
        .enumerate()
        .map(|(i, (id, key))| {
            let r = Reading {
                meter: DeviceId::new(*id).unwrap(),
                seq: 1,
                timestamp_ms: t,
                value: Quantity::from_micros(12_345_678_900 + 1_000_000_000 * i as i64),
                unit: Unit::KilowattHour,
                origin: ReadingOrigin::Online,
                clock_suspect: false,
            };
            match key {
                Some(k) => sign_reading(k, r, ReadingSigner::Meter),
                None => sign_reading(&gateway_key, r, ReadingSigner::Gateway),
            }
        })
        .collect();
    let submit = tx(&gateway_key, 1, TxPayload::SubmitReadings { gateway: gateway.clone(), readings });
    let block2 = build(&block1.1.state, 2, t + 2_000, vec![submit]);
    assert_eq!(block2.1.recorded.len(), 2, "both readings are recorded");
    let fin1 = finalize(&devnet, &block1.0.header, &SIGNERS);
    let fin2 = finalize(&devnet, &block2.0.header, &SIGNERS);
    Chain { devnet, block1, block2, fin1, fin2 }
}

impl Chain {
    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.devnet.genesis
    }

    /// The proof bundle of the reading at `position` of block 2.
    pub fn reading(&self, position: usize) -> ProofBundle {
        let (block, out) = &self.block2;
        ProofBundle::build(self.genesis(), block, &out.recorded, &out.state, &self.fin2, position).expect("bundle")
    }

    /// The proof of the enterprise's first daily figure after block 2.
    pub fn figure(&self) -> FigureProof {
        let (block, out) = &self.block2;
        let org = &self.devnet.enterprises[0].org.id;
        let (key, _) = out.state.daily_range(org, i32::MIN, i32::MAX).next().expect("a daily figure");
        let key: DailyKey = key.clone();
        FigureProof::build(self.genesis(), &block.header, &out.state, &key, &self.fin2).expect("figure")
    }

    /// The receipt proof of the transaction at `index` of block 1.
    pub fn receipt(&self, index: usize) -> ReceiptProof {
        let (block, out) = &self.block1;
        let certified = CertifiedHeader::new(block.header.clone(), vec![], &self.fin1);
        ReceiptProof::build(self.genesis().params.hash, certified, &out.receipts, index).expect("receipt proof")
    }

    /// The hash of the transaction at `index` of block 1.
    pub fn tx_hash(&self, index: usize) -> trustmeter_types::Hash32 {
        self.block1.1.receipts[index].tx_hash
    }

    /// A meter's record after block 2, and a meter never registered, proven absent.
    pub fn meter_state(&self) -> StateProofs {
        let (block, out) = &self.block2;
        let certified = CertifiedHeader::new(block.header.clone(), vec![], &self.fin2);
        let keys = [
            StateKey::Meter(DeviceId::new(METERS[0]).unwrap()),
            StateKey::Meter(DeviceId::new("91430100700001000N-EM99").unwrap()),
        ];
        StateProofs::build(self.genesis().params.hash, &out.state, certified, &keys).expect("state proofs")
    }
}
