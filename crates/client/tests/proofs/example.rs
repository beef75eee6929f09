//! A small chain built deterministically, without consensus or a network: fixed seeds, fixed
//! timestamps, blocks built and executed by the state machine, and a finalization certificate
//! signed directly with three of the four validator keys. Everything in it is the same on every
//! run, so it gives the byte-exact worked example of `docs/proof-format.md` (see
//! [`super::worked_example`]) and reading and figure proofs for the strict-parsing tests.
//!
//! Block 1 registers a gateway and two meters (one with its own key, one whose gateway signs for
//! it), calibrates and activates them and rotates the gateway's key; block 2 records a reading of
//! each meter.

use commonware_consensus::simplex::types::{Finalization, Finalize, Proposal};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::sha256;
use commonware_parallel::Sequential;
use commonware_utils::iter::NonEmpty;
use std::sync::OnceLock;
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::engine::consensus_namespace;
use trustmeter_chain::{BlockFinalization, Scheme};
use trustmeter_client::{FigureProof, ProofBundle};
use trustmeter_crypto::{SigningKey, block_digest, sign_reading, sign_tx};
use trustmeter_state::exec::{BlockContext, BlockOutput, build_block, genesis_block};
use trustmeter_state::{DailyKey, SignatureVerdicts, State};
use trustmeter_types::registry::{AccuracyClass, Calibration, LocationPath};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    Block, BlockHeader, DeviceId, EnergyKind, Genesis, KeyScheme, Quantity, Reading, ReadingOrigin, ReadingSigner,
    RegisterKind, Transaction, TxBody, TxOutcome, TxPayload, Unit, rotation_proof_payload,
};

/// The example chain's id.
pub const CHAIN: &str = "hunan-example";
/// Genesis time: 2026-01-01T00:00:00Z (08:00 in Asia/Shanghai).
pub const GENESIS_MS: i64 = 1_767_225_600_000;
/// Genesis validators (in genesis order) whose finalize votes make the certificate.
pub const SIGNERS: [usize; 3] = [0, 1, 3];

/// The example chain after its second block.
pub struct Chain {
    /// The consortium (genesis, validator and member keys).
    pub devnet: Devnet,
    /// The block that recorded the readings (height 2).
    pub block: Block,
    /// Its execution output (post-state, receipts, recorded readings).
    pub output: BlockOutput,
    /// Its finalization certificate.
    pub finalization: BlockFinalization,
}

impl Chain {
    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.devnet.genesis
    }
    /// The post-state of block 2.
    pub fn state(&self) -> &State {
        &self.output.state
    }
    /// The `trustmeter-proof/v3` bundle of the reading at `position` of block 2.
    pub fn bundle(&self, position: usize) -> ProofBundle {
        ProofBundle::build(
            self.genesis(),
            &self.block,
            &self.output.recorded,
            &self.output.state,
            &self.finalization,
            position,
        )
        .expect("bundle")
    }
    /// A `trustmeter-figure-proof/v3` of one of the enterprise's daily figures after block 2.
    pub fn figure(&self) -> FigureProof {
        let org = &self.devnet.enterprises[0].org.id;
        let (key, _) = self.state().daily_range(org, i32::MIN, i32::MAX).next().expect("a daily figure");
        let key: DailyKey = key.clone();
        FigureProof::build(self.genesis(), &self.block.header, self.state(), &key, &self.finalization).expect("figure")
    }
}

/// A device key from a fixed seed.
pub fn device_key(n: u8) -> SigningKey {
    SigningKey::from_seed(KeyScheme::Ed25519, [n; 32])
}

/// The finalization certificate of `header` signed by the genesis validators `signers`.
pub fn finalize(devnet: &Devnet, header: &BlockHeader, signers: &[usize]) -> BlockFinalization {
    finalize_in_view(devnet, header, signers, header.view)
}

/// Like [`finalize`], but the certified proposal says it was made in `view` (a certificate whose
/// round is not the header's).
pub fn finalize_in_view(devnet: &Devnet, header: &BlockHeader, signers: &[usize], view: u64) -> BlockFinalization {
    let namespace = consensus_namespace(&devnet.genesis);
    let participants = devnet.participants();
    let digest = block_digest(devnet.genesis.params.hash, header);
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

fn build(parent: &State, view: u64, timestamp_ms: i64, txs: Vec<Transaction>) -> (Block, BlockOutput) {
    let n = txs.len();
    let ctx = BlockContext { epoch: 0, view, timestamp_ms };
    let (block, output) = build_block(parent, &ctx, txs, &SignatureVerdicts::none());
    assert_eq!(block.txs.len(), n, "every transaction is included");
    for (i, r) in output.receipts.iter().enumerate() {
        assert!(
            matches!(r.outcome, TxOutcome::Accepted),
            "transaction {i} ({}) failed: {r:?}",
            block.txs[i].body.payload.kind()
        );
    }
    // Finalized blocks' states are committed to the store (proofs are read from it).
    let output = BlockOutput { state: output.state.commit().expect("the block commits"), ..output };
    (block, output)
}

fn make() -> Chain {
    let devnet = Devnet::new(CHAIN, 4, 1, 2026, GENESIS_MS, 30_000);
    let genesis = devnet.genesis.clone();
    let (_, state0) = genesis_block(&genesis);
    let tx = |key: &SigningKey, nonce: u64, payload: TxPayload| {
        sign_tx(key, TxBody { chain_id: genesis.chain_id.clone(), sender: key.public_key(), nonce, payload })
    };
    let enterprise = &devnet.enterprises[0];
    let gateway = DeviceId::new("91430100700001000N-GW01").unwrap();
    let (gateway_key, gateway_key_2) = (device_key(200), device_key(201));
    let meters = [("91430100700001000N-EM01", Some(device_key(101))), ("91430100700001000N-EM02", None)];

    // Block 1: registrations, calibrations, activations and a gateway key rotation.
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
    let new_key = gateway_key_2.public_key();
    let proof = gateway_key_2.sign(&rotation_proof_payload(&genesis.chain_id, &gateway, &new_key));
    txs.push(tx(&enterprise.key, 4, TxPayload::RotateKey { device: gateway.clone(), new_public_key: new_key, proof }));
    let (_, out1) = build(&state0, 1, GENESIS_MS + 60_000, txs);

    // Block 2: one reading per meter, stamped 00:15 UTC, recorded two seconds later.
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
                None => sign_reading(&gateway_key_2, r, ReadingSigner::Gateway),
            }
        })
        .collect();
    let submit = tx(&gateway_key_2, 1, TxPayload::SubmitReadings { gateway: gateway.clone(), readings });
    let (block, output) = build(&out1.state, 2, t + 2_000, vec![submit]);
    assert_eq!(output.recorded.len(), 2, "both readings are recorded");
    let finalization = finalize(&devnet, &block.header, &SIGNERS);
    Chain { devnet, block, output, finalization }
}

/// The example chain, built once per test binary.
pub fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(make)
}

#[test]
fn the_example_chain_is_deterministic_and_its_proofs_verify() {
    let c = chain();
    let again = make();
    assert_eq!(again.block, c.block, "same blocks on every run");
    assert_eq!(again.bundle(0), c.bundle(0), "same bundle on every run");
    for p in 0..2 {
        let b = c.bundle(p);
        let v = b.verify(Some(c.genesis())).unwrap();
        assert_eq!(v.validator_signatures, 3);
        assert_eq!(v.signer, if p == 0 { ReadingSigner::Meter } else { ReadingSigner::Gateway });
    }
    let gw = c.state().gateway(&DeviceId::new("91430100700001000N-GW01").unwrap()).unwrap();
    assert_eq!(gw.retired_keys.len(), 1, "the gateway's first key is retired");
    c.figure().verify(Some(c.genesis())).unwrap();
}

/// A certificate signed by a quorum for the header's digest, but in another view than the
/// header's, is refused by the reference verifier and by the independent checker (§7 f.3).
#[test]
fn a_certificate_of_another_round_is_refused() {
    let c = chain();
    let mut b = c.bundle(0);
    let other = finalize_in_view(&c.devnet, &c.block.header, &SIGNERS, c.block.header.view + 5);
    b.finalization = hex::encode(commonware_codec::Encode::encode(&other));
    let err = b.verify(Some(c.genesis())).unwrap_err();
    assert!(matches!(err, trustmeter_client::VerifyError::FinalizationRoundMismatch { .. }), "{err}");
    let v: serde_json::Value = serde_json::from_str(&b.to_json()).unwrap();
    let trusted = serde_json::to_value(c.genesis()).unwrap();
    let err = super::independent::check(&v, &trusted).unwrap_err();
    assert!(err.contains("round"), "{err}");
}
