//! The epoch chain (docs/proof-format.md §14): a chain whose validator set changes three times,
//! built without consensus (the state machine alone, certificates signed directly with the
//! validators' keys, as `example.rs` does), and a reading recorded after the third change proven
//! against the genesis alone — by the reference verifier and by the independent checker — while
//! every way of breaking the chain of sets is refused with its own error.
//!
//! Epochs are 10 blocks; the chain seats 4 validators, two per organisation. Three authorities
//! register a validator each (in epochs 0, 1 and 2) and bond more than a genesis validator's
//! stake, so the elections at heights 9, 19 and 29 give epochs 2, 3 and 4 three different sets.
//! Block 41 (epoch 4) records one reading.

use super::example::device_key;
use commonware_consensus::simplex::types::{Finalization, Finalize, Proposal};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::{Signer as _, ed25519, sha256};
use commonware_parallel::Sequential;
use commonware_utils::TryCollect;
use commonware_utils::iter::NonEmpty;
use commonware_utils::ordered::Set;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use trustmeter_chain::devnet::{Devnet, consensus_key_from_seed};
use trustmeter_chain::engine::consensus_namespace;
use trustmeter_chain::{BlockFinalization, Scheme};
use trustmeter_client::{EpochLink, ProofBundle, VerifyError};
use trustmeter_crypto::{SigningKey, block_digest, sign_reading, sign_tx};
use trustmeter_schema::{StateValue, ValidatorSet};
use trustmeter_state::economy::validator_set;
use trustmeter_state::exec::{BlockContext, BlockOutput, build_block, genesis_block};
use trustmeter_state::{SignatureVerdicts, State};
use trustmeter_types::economy::{StakingOp, TOKEN, validator_proof_payload};
use trustmeter_types::registry::{AccuracyClass, Calibration, LocationPath};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    Block, BlockHeader, DeviceId, EnergyKind, Genesis, KeyScheme, Quantity, Reading, ReadingOrigin, ReadingSigner,
    RegisterKind, Transaction, TxBody, TxOutcome, TxPayload, Unit,
};

const L: u64 = 10;
const GENESIS_MS: i64 = 1_767_225_600_000;
/// The height of the block that records the reading (epoch 4).
const READING_HEIGHT: u64 = 41;

/// The chain after block [`READING_HEIGHT`].
pub struct EpochChain {
    /// The consortium.
    pub devnet: Devnet,
    /// Every block's header, by height (0 is genesis).
    pub headers: Vec<BlockHeader>,
    /// The block that recorded the reading, and its output.
    pub block: Block,
    /// Its execution output.
    pub output: BlockOutput,
    /// Every consensus key's private key, by public key bytes.
    keys: BTreeMap<Vec<u8>, ed25519::PrivateKey>,
}

impl EpochChain {
    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.devnet.genesis
    }
    /// The final (committed) state.
    pub fn state(&self) -> &State {
        &self.output.state
    }
    /// The set of `epoch`, as the chain elected it.
    pub fn set(&self, epoch: u64) -> ValidatorSet {
        validator_set(self.state(), epoch).expect("elected")
    }
    /// A finalization of `header` by the set of `epoch`, signed by its first quorum of members.
    pub fn finalize_by(&self, header: &BlockHeader, epoch: u64) -> BlockFinalization {
        let set = self.set(epoch);
        let privates: Vec<ed25519::PrivateKey> =
            set.members.iter().map(|m| self.keys[&m.consensus_key.bytes].clone()).collect();
        finalize(self.genesis(), &privates, header)
    }
    /// The certificate of the boundary or block at `height`, by the set of its own epoch.
    pub fn certificate(&self, height: u64) -> Vec<u8> {
        let h = &self.headers[height as usize];
        commonware_codec::Encode::encode(&self.finalize_by(h, height / L)).to_vec()
    }
    /// The epoch chain to `epoch`, built as a node builds it.
    pub fn links(&self, epoch: u64) -> Vec<EpochLink> {
        EpochLink::chain(self.genesis(), self.state(), epoch, |h| {
            Some((self.headers.get(h as usize)?.clone(), self.certificate(h)))
        })
        .expect("an epoch chain")
    }
    /// The bundle of the reading of block [`READING_HEIGHT`].
    pub fn bundle(&self) -> ProofBundle {
        let fin = self.finalize_by(&self.block.header, READING_HEIGHT / L);
        ProofBundle::build_through(
            self.genesis(),
            &self.block,
            &self.output.recorded,
            self.state(),
            &[],
            &fin,
            self.links(READING_HEIGHT / L),
            0,
        )
        .expect("a bundle")
    }
}

/// A finalization of `header` signed by the first quorum of the set `privates`.
fn finalize(genesis: &Genesis, privates: &[ed25519::PrivateKey], header: &BlockHeader) -> BlockFinalization {
    finalize_in_view(genesis, privates, header, header.view)
}

/// Like [`finalize`], in round (`header.epoch`, `view`): a later view re-proposes the block.
fn finalize_in_view(
    genesis: &Genesis,
    privates: &[ed25519::PrivateKey],
    header: &BlockHeader,
    view: u64,
) -> BlockFinalization {
    let namespace = consensus_namespace(genesis);
    let participants: Set<ed25519::PublicKey> =
        privates.iter().map(|k| k.public_key()).try_collect().expect("distinct keys");
    let digest = block_digest(genesis.params.hash, header);
    let parent = if view == header.view { header.view - 1 } else { header.view };
    let proposal = Proposal::new(
        Round::new(Epoch::new(header.epoch), View::new(view)),
        View::new(parent),
        sha256::Digest(digest.0),
    );
    let n = privates.len();
    let quorum = n - (n - 1) / 3;
    let votes: Vec<Finalize<Scheme, sha256::Digest>> = privates
        .iter()
        .take(quorum)
        .map(|k| {
            let scheme = Scheme::signer(&namespace, participants.clone(), k.clone()).expect("a member");
            Finalize::sign(&scheme, proposal.clone()).expect("a signer signs")
        })
        .collect();
    let verifier = Scheme::verifier(&namespace, participants);
    Finalization::from_finalizes(&verifier, NonEmpty::try_new(votes.iter()).expect("votes"), &Sequential)
        .expect("a quorum of votes for one proposal")
}

fn make(chain_id: &str, seed: u64) -> EpochChain {
    let mut devnet = Devnet::new(chain_id, 4, 1, seed, GENESIS_MS, 30_000);
    let staking = &mut devnet.genesis.params.economy.staking;
    staking.epoch_length = L;
    staking.validators = 4;
    staking.max_org_share_percent = 50;
    let genesis = devnet.genesis.clone();
    let mut keys: BTreeMap<Vec<u8>, ed25519::PrivateKey> =
        devnet.validator_keys.iter().map(|k| (k.public_key().as_ref().to_vec(), k.clone())).collect();
    let (_, mut state) = genesis_block(&genesis);
    let mut headers = vec![BlockHeader {
        chain_id: genesis.chain_id.clone(),
        parent: Default::default(),
        height: 0,
        epoch: 0,
        view: 0,
        timestamp_ms: GENESIS_MS,
        tx_root: Default::default(),
        readings_root: Default::default(),
        state_root: Default::default(),
        receipts_root: Default::default(),
        tx_count: 0,
        reading_count: 0,
        readings_accepted: 0,
    }];
    let mut nonces: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    let mut tx = |key: &SigningKey, payload: TxPayload| -> Transaction {
        let n = nonces.entry(key.public_key().bytes.clone()).or_insert(0);
        *n += 1;
        sign_tx(key, TxBody { chain_id: genesis.chain_id.clone(), sender: key.public_key(), nonce: *n, payload })
    };
    // A validator of `member` with `tokens` of its own stake: (height to register at, member).
    let authorities = [devnet.regulator.clone(), devnet.metrology.clone(), devnet.statistics.clone()];
    let enterprise = devnet.enterprises[0].clone();
    let gateway = DeviceId::new("91430100700001000N-GW01").unwrap();
    let meter = DeviceId::new("91430100700001000N-EM01").unwrap();
    let (gateway_key, meter_key) = (device_key(200), device_key(101));
    let mut last = None;
    for height in 1..=READING_HEIGHT {
        let mut txs = Vec::new();
        // Epochs 0, 1, 2: one authority registers a validator and bonds more than a genesis one.
        if height % L == 1 && height / L < 3 {
            let i = (height / L) as usize;
            let member = &authorities[i];
            let seed = [150 + i as u8; 32];
            let validator = SigningKey::from_seed(KeyScheme::Ed25519, seed);
            keys.insert(validator.public_key().bytes.clone(), consensus_key_from_seed(&seed));
            let proof = validator.sign(&validator_proof_payload(
                genesis.chain_id.as_str(),
                &member.org.id,
                &validator.public_key(),
            ));
            let op = StakingOp::RegisterValidator {
                consensus_key: validator.public_key(),
                name: format!("elected-{i}"),
                p2p_address: format!("127.0.0.1:{}", 31_000 + i),
                commission_percent: 5,
                proof,
            };
            txs.push(tx(&member.key, TxPayload::Staking { op }));
            let amount = (200_000 + 100_000 * i as u64) * TOKEN;
            let op = StakingOp::Delegate { validator: validator.public_key(), amount };
            txs.push(tx(&member.key, TxPayload::Staking { op }));
        }
        // Block 2: a gateway and a meter, calibrated and activated.
        if height == 2 {
            txs.push(tx(
                &enterprise.key,
                TxPayload::RegisterGateway { id: gateway.clone(), public_key: gateway_key.public_key() },
            ));
            let spec = MeterSpec {
                id: meter.clone(),
                gateway: gateway.clone(),
                name: "incoming feeder".into(),
                energy: EnergyKind::Electricity,
                unit: Unit::KilowattHour,
                register: RegisterKind::Cumulative,
                accuracy: AccuracyClass(50),
                location: LocationPath(vec!["site-1".into()]),
                register_max: Quantity::from_micros(99_999_999 * Quantity::SCALE),
                rated_per_hour: Quantity::from_micros(2_000 * Quantity::SCALE),
                tariff: None,
                master: None,
                public_key: Some(meter_key.public_key()),
            };
            txs.push(tx(&enterprise.key, TxPayload::RegisterMeter { meter: spec }));
            let calibration = Calibration {
                certificate_no: "HNJL-2025-00731".into(),
                issuer: devnet.metrology.org.id.clone(),
                valid_from_ms: GENESIS_MS - 86_400_000,
                valid_until_ms: GENESIS_MS + 365 * 86_400_000,
            };
            txs.push(tx(&devnet.metrology.key, TxPayload::RecordCalibration { meter: meter.clone(), calibration }));
            for device in [gateway.clone(), meter.clone()] {
                txs.push(tx(&devnet.regulator.key, TxPayload::ActivateDevice { device }));
            }
        }
        let ts = GENESIS_MS + height as i64 * 1_000;
        if height == READING_HEIGHT {
            let r = Reading {
                meter: meter.clone(),
                seq: 1,
                timestamp_ms: ts - 500,
                value: Quantity::from_micros(12_345_678_900),
                unit: Unit::KilowattHour,
                origin: ReadingOrigin::Online,
                clock_suspect: false,
            };
            let readings = vec![sign_reading(&meter_key, r, ReadingSigner::Meter)];
            txs.push(tx(&gateway_key, TxPayload::SubmitReadings { gateway: gateway.clone(), readings }));
        }
        // Views restart at 1 in every epoch (one engine per epoch), one block per view.
        let view = if height < L { height } else { height % L + 1 };
        let ctx = BlockContext { epoch: height / L, view, timestamp_ms: ts };
        let n = txs.len();
        let (block, output) = build_block(&state, &ctx, txs, &SignatureVerdicts::none());
        assert_eq!(block.txs.len(), n, "every transaction is included at height {height}");
        for (i, r) in output.receipts.iter().enumerate() {
            assert!(matches!(r.outcome, TxOutcome::Accepted), "height {height}, transaction {i}: {r:?}");
        }
        let output = BlockOutput { state: output.state.commit().expect("the block commits"), ..output };
        state = output.state.clone();
        headers.push(block.header.clone());
        last = Some((block, output));
    }
    let (block, output) = last.expect("blocks");
    assert_eq!(output.recorded.len(), 1, "the reading is recorded");
    EpochChain { devnet, headers, block, output, keys }
}

/// The chain, built once per test binary.
pub fn chain() -> &'static EpochChain {
    static CHAIN: OnceLock<EpochChain> = OnceLock::new();
    CHAIN.get_or_init(|| make("hunan-epochs", 2026))
}

fn members(s: &ValidatorSet) -> Vec<Vec<u8>> {
    s.members.iter().map(|m| m.consensus_key.bytes.clone()).collect()
}

fn independent(c: &EpochChain, b: &ProofBundle) -> Result<usize, String> {
    let v: serde_json::Value = serde_json::from_str(&b.to_json()).unwrap();
    super::independent::check(&v, &serde_json::to_value(c.genesis()).unwrap())
}

/// Refused by both verifiers; the reference verifier's error is returned.
fn refused(c: &EpochChain, b: &ProofBundle) -> VerifyError {
    let err = b.verify(Some(c.genesis())).expect_err("the reference verifier refuses it");
    let theirs = independent(c, b).expect_err("the independent checker refuses it too");
    // Both at the finality step: the epoch chain (g) or the block's certificate (f).
    assert!(theirs.starts_with("(g)") || theirs.starts_with("(f)"), "{theirs} ({err})");
    err
}

#[test]
fn a_reading_after_three_set_changes_verifies_against_the_genesis_alone() {
    let c = chain();
    let sets: Vec<ValidatorSet> = (0..=4).map(|e| c.set(e)).collect();
    assert_eq!(members(&sets[0]), members(&sets[1]), "the genesis set runs epochs 0 and 1");
    for e in 2..=4 {
        assert_ne!(members(&sets[e]), members(&sets[e - 1]), "the set of epoch {e} is a new one");
        assert_eq!(sets[e].members.len(), 4);
    }
    assert!(
        members(&sets[4]).iter().filter(|k| members(&sets[0]).contains(k)).count() == 1,
        "three of epoch 4's validators were not in the genesis"
    );

    let b = c.bundle();
    assert_eq!(b.version, "trustmeter-proof/v4");
    assert_eq!(b.epochs.iter().map(|l| l.epoch).collect::<Vec<_>>(), [2, 3, 4]);
    let v = b.verify(Some(c.genesis())).expect("it verifies against the genesis alone");
    assert_eq!((v.height, v.finalized_epoch, v.epoch_links, v.validators), (READING_HEIGHT, 4, 3, 4));
    assert_eq!(independent(c, &b), Ok(3), "the independent checker agrees");
    // The strict JSON form round-trips.
    assert_eq!(ProofBundle::from_json(&b.to_json()).unwrap(), b);

    // Size: one link is a header, a quorum of signatures and a set proof.
    let sizes: Vec<usize> = b.epochs.iter().map(|l| serde_json::to_string_pretty(l).unwrap().len()).collect();
    let without = ProofBundle { epochs: Vec::new(), ..b.clone() }.to_json().len();
    let compact: Vec<usize> = b.epochs.iter().map(|l| serde_json::to_string(l).unwrap().len()).collect();
    println!("bundle {without} bytes without links; links {sizes:?} bytes pretty, {compact:?} compact JSON");
    assert!(sizes.iter().all(|s| *s < 8_000), "{sizes:?}");

    // A follower that knows the set from its own state checks the certificate directly.
    let committee = trustmeter_client::Committee::elected(&sets[4], 4).expect("a usable set");
    let digest = block_digest(c.genesis().params.hash, &c.block.header);
    let fin = hex::decode(&b.finalization).unwrap();
    trustmeter_client::verify_finalization_by(&fin, c.genesis(), &committee, &c.block.header, &digest)
        .expect("the set of epoch 4 finalized the block");
    let three = trustmeter_client::Committee::elected(&sets[3], 4).unwrap();
    assert!(trustmeter_client::verify_finalization_by(&fin, c.genesis(), &three, &c.block.header, &digest).is_err());

    // A block of epoch 1 needs no link: the genesis set finalized it.
    assert!(c.links(1).is_empty() && c.links(0).is_empty());
}

#[test]
fn a_missing_extra_or_reordered_link_is_refused() {
    let c = chain();
    let b = c.bundle();
    for i in 0..3 {
        let mut t = b.clone();
        t.epochs.remove(i);
        let err = refused(c, &t);
        assert!(
            matches!(err, VerifyError::EpochChainLength { links: 2, needed: 3, epoch: 4, .. }),
            "removing link {i}: {err}"
        );
    }
    let mut t = b.clone();
    t.epochs.swap(0, 1);
    let err = refused(c, &t);
    assert!(matches!(err, VerifyError::EpochLinkOutOfOrder { index: 0, found: 3, expected: 2 }), "{err}");
    // A link replaced by another epoch's, renamed: its boundary is at the wrong height.
    let mut t = b.clone();
    t.epochs[1] = EpochLink { epoch: 3, ..b.epochs[2].clone() };
    let err = refused(c, &t);
    assert!(matches!(err, VerifyError::EpochBoundaryWrong { epoch: 3, .. }), "{err}");
    // Many links are refused before anything is checked.
    let mut t = b.clone();
    t.epochs = vec![b.epochs[0].clone(); 5_000];
    let start = std::time::Instant::now();
    let err = t.verify(Some(c.genesis())).unwrap_err();
    assert!(matches!(err, VerifyError::EpochChainLength { links: 5_000, .. }), "{err}");
    assert!(start.elapsed() < std::time::Duration::from_millis(100), "refused cheaply");
    // A v3 bundle (no links) cannot prove a block of epoch 4.
    let t = ProofBundle { version: "trustmeter-proof/v3".into(), epochs: Vec::new(), ..b.clone() };
    let err = t.verify(Some(c.genesis())).unwrap_err();
    assert!(matches!(err, VerifyError::EpochChainLength { links: 0, needed: 3, .. }), "{err}");
}

#[test]
fn a_verifier_that_knows_sets_takes_only_the_links_after_them() {
    use trustmeter_client::{CertifiedHeader, KnownSets, verify_epoch_chain_known};
    let c = chain();
    let after = |from: u64, to: u64| {
        EpochLink::chain_after(c.genesis(), c.state(), from, to, |h| {
            Some((c.headers.get(h as usize)?.clone(), c.certificate(h)))
        })
        .expect("links")
    };
    let epochs = |links: &[EpochLink]| links.iter().map(|l| l.epoch).collect::<Vec<_>>();
    assert_eq!(epochs(&after(1, 4)), [2, 3, 4], "after epoch 1: the whole chain");
    assert_eq!(after(1, 4), c.links(4));
    assert_eq!(epochs(&after(2, 4)), [3, 4]);
    assert!(after(4, 4).is_empty());
    assert!(after(u64::MAX, 4).is_empty(), "a hostile ?epochs_from= is no links, not an overflow");

    // Knowing nothing, a chain that does not start at epoch 2 is refused.
    let mut known = KnownSets::new();
    let err = verify_epoch_chain_known(c.genesis(), &after(2, 4), 4, &mut known).unwrap_err();
    assert!(matches!(err, VerifyError::EpochChainStart { first: Some(3), epoch: 4, known: None }), "{err}");
    // The whole chain to epoch 3 teaches sets 2 and 3.
    verify_epoch_chain_known(c.genesis(), &c.links(3), 3, &mut known).expect("the whole chain");
    assert_eq!((known.highest(), known.len()), (Some(3), 2));
    // Then epoch 4's own link is all it needs, checked against the known set of 3.
    let only4 = after(3, 4);
    assert_eq!(epochs(&only4), [4]);
    let set4 = verify_epoch_chain_known(c.genesis(), &only4, 4, &mut known).expect("one link");
    let expected = trustmeter_client::Committee::elected(&c.set(4), 4).unwrap();
    assert_eq!(set4.keys, expected.keys);
    assert_eq!(known.highest(), Some(4));
    // A known epoch needs no link at all; a link altered after known sets is still refused.
    assert!(verify_epoch_chain_known(c.genesis(), &[], 4, &mut known).is_ok());
    let mut bad = only4.clone();
    bad[0].set.siblings[0].0[0] ^= 1;
    let err = verify_epoch_chain_known(c.genesis(), &bad, 4, &mut known).unwrap_err();
    assert!(matches!(err, VerifyError::EpochSetProofInvalid { epoch: 4, .. }), "{err}");
    // A gap between the known sets and the links is refused.
    let mut two = KnownSets::new();
    verify_epoch_chain_known(c.genesis(), &c.links(2), 2, &mut two).unwrap();
    let err = verify_epoch_chain_known(c.genesis(), &only4, 4, &mut two).unwrap_err();
    assert!(matches!(err, VerifyError::EpochChainStart { first: Some(4), epoch: 4, known: Some(2) }), "{err}");

    // A certified header carrying only epoch 4's link: final for a verifier that knows set 3, not
    // for one that knows only the genesis.
    let fin = commonware_codec::Encode::encode(&c.finalize_by(&c.block.header, 4)).to_vec();
    let certified = CertifiedHeader {
        header: c.block.header.clone(),
        descendants: vec![],
        finalization: hex::encode(fin),
        epochs: only4,
    };
    let v = certified.verify_known(c.genesis(), &mut known).expect("final");
    assert_eq!(v.height, READING_HEIGHT);
    assert!(matches!(certified.verify(c.genesis()), Err(VerifyError::EpochChainLength { links: 1, needed: 3, .. })));
}

#[test]
fn an_altered_set_proof_is_refused() {
    let c = chain();
    let b = c.bundle();
    let set_of = |t: &mut ProofBundle, i: usize| -> ValidatorSet {
        match &t.epochs[i].set.entry.value {
            StateValue::ValidatorSet(s) => s.clone(),
            _ => unreachable!(),
        }
    };
    // A member replaced by the attacker's key (kept in key order).
    let mut t = b.clone();
    let mut set = set_of(&mut t, 1);
    set.members[0].consensus_key.bytes = vec![0; 32];
    t.epochs[1].set.entry.value = StateValue::ValidatorSet(set);
    let err = refused(c, &t);
    assert!(matches!(err, VerifyError::EpochSetProofInvalid { epoch: 3, .. }), "{err}");
    // A stake changed, a sibling changed, the set of another epoch under this key.
    let mut t = b.clone();
    let mut set = set_of(&mut t, 2);
    set.members[1].stake += 1;
    t.epochs[2].set.entry.value = StateValue::ValidatorSet(set);
    assert!(matches!(refused(c, &t), VerifyError::EpochSetProofInvalid { epoch: 4, .. }));
    let mut t = b.clone();
    t.epochs[0].set.siblings[0].0[0] ^= 1;
    assert!(matches!(refused(c, &t), VerifyError::EpochSetProofInvalid { epoch: 2, .. }));
    let mut t = b.clone();
    t.epochs[0].set = b.epochs[1].set.clone();
    assert!(matches!(refused(c, &t), VerifyError::EpochSetProofInvalid { epoch: 2, .. }));
    // The state roots of another block.
    let mut t = b.clone();
    t.epochs[0].state_roots = b.epochs[1].state_roots;
    assert!(matches!(refused(c, &t), VerifyError::EpochSetProofInvalid { epoch: 2, .. }));
    // A boundary header altered (its state root: the certificate no longer signs it).
    let mut t = b.clone();
    t.epochs[1].boundary.state_root = b.epochs[0].boundary.state_root;
    let err = refused(c, &t);
    assert!(
        matches!(&err, VerifyError::EpochBoundaryNotFinal { epoch: 3, reason } if matches!(**reason, VerifyError::FinalizationForOtherBlock { .. })),
        "{err}"
    );
}

#[test]
fn a_certificate_by_the_wrong_set_is_refused() {
    let c = chain();
    let b = c.bundle();
    let hex_of = |f: &BlockFinalization| hex::encode(commonware_codec::Encode::encode(f));
    // The block's certificate by the set of epoch 3 (same size, other keys).
    let mut t = b.clone();
    t.finalization = hex_of(&c.finalize_by(&c.block.header, 3));
    let err = refused(c, &t);
    assert!(matches!(err, VerifyError::FinalizationBadSignatures { .. }), "{err}");
    // The boundary of epoch 3 (height 29) certified by the genesis set instead of epoch 2's.
    let mut t = b.clone();
    t.epochs[1].finalization = hex_of(&c.finalize_by(&c.headers[29], 0));
    let err = refused(c, &t);
    assert!(
        matches!(&err, VerifyError::EpochBoundaryNotFinal { epoch: 3, reason } if matches!(**reason, VerifyError::FinalizationBadSignatures { .. })),
        "{err}"
    );
    // A boundary certificate of another block.
    let mut t = b.clone();
    t.epochs[2].finalization = b.epochs[1].finalization.clone();
    let err = refused(c, &t);
    assert!(matches!(err, VerifyError::EpochBoundaryNotFinal { epoch: 4, .. }), "{err}");
}

#[test]
fn a_link_of_another_chain_is_refused() {
    let c = chain();
    let b = c.bundle();
    // Another chain (other id, other keys) with the same history.
    let other = make("hunan-epochs-other", 7);
    let o = other.bundle();
    o.verify(Some(other.genesis())).expect("the other chain's bundle verifies against its genesis");
    let mut t = b.clone();
    t.epochs[1] = o.epochs[1].clone();
    let err = refused(c, &t);
    assert!(matches!(err, VerifyError::EpochBoundaryWrong { epoch: 3, .. }), "{err}");
    // The same chain id, other validators (a chain forked from another genesis).
    let twin = make("hunan-epochs", 8);
    let mut t = b.clone();
    t.epochs[0] = twin.bundle().epochs[0].clone();
    let err = refused(c, &t);
    assert!(
        matches!(&err, VerifyError::EpochBoundaryNotFinal { epoch: 2, reason } if matches!(**reason, VerifyError::FinalizationBadSignatures { .. })),
        "{err}"
    );
}

/// A boundary block is re-proposed in later views of its epoch until it is finalized, so its
/// certificate may be of a later view than its header (§7 f.3.3); any other block's may not.
#[test]
fn only_a_boundary_may_be_certified_in_a_later_view() {
    let c = chain();
    let b = c.bundle();
    let later = |header: &BlockHeader, epoch: u64| {
        let set = c.set(epoch);
        let privates: Vec<ed25519::PrivateKey> =
            set.members.iter().map(|m| c.keys[&m.consensus_key.bytes].clone()).collect();
        // The same block (same digest), proposed again three views later.
        hex::encode(commonware_codec::Encode::encode(&finalize_in_view(
            c.genesis(),
            &privates,
            header,
            header.view + 3,
        )))
    };
    let mut t = b.clone();
    t.epochs[1].finalization = later(&c.headers[29], 2);
    t.verify(Some(c.genesis())).expect("a boundary finalized in a later view of its epoch");
    assert_eq!(independent(c, &t), Ok(3));
    let mut t = b.clone();
    t.finalization = later(&c.block.header, 4);
    let err = refused(c, &t);
    assert!(matches!(err, VerifyError::FinalizationRoundMismatch { .. }), "{err}");
}

/// The builder says which boundary it lacks.
#[test]
fn a_missing_boundary_is_named_by_the_builder() {
    let c = chain();
    let err = EpochLink::chain(c.genesis(), c.state(), 4, |h| {
        (h != 29).then(|| (c.headers[h as usize].clone(), c.certificate(h)))
    })
    .unwrap_err();
    assert_eq!(err, trustmeter_client::EpochChainBuildError::MissingBoundary { epoch: 2, height: 29 });
    // A chain to the wrong epoch does not build a bundle.
    let fin = c.finalize_by(&c.block.header, 4);
    let err =
        ProofBundle::build_through(c.genesis(), &c.block, &c.output.recorded, c.state(), &[], &fin, c.links(3), 0)
            .unwrap_err();
    assert!(matches!(err, trustmeter_client::BuildError::EpochChain(_)), "{err}");
}

/// The chain's genesis and bundle are published as a test vector for other implementations
/// (`crates/client/tests/vectors/epoch-chain/`: a reading of epoch 4, three links), and the CLI's
/// test checks `trustmeter verify` on it. The chain is deterministic, so the files must be what
/// this test makes; regenerate with `TRUSTMETER_REGENERATE=1 cargo test -p trustmeter-client
/// --test proofs epoch_chain_vector`.
#[test]
fn the_epoch_chain_vector_is_generated_and_verifies() {
    let c = chain();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/epoch-chain");
    let genesis = serde_json::to_string_pretty(c.genesis()).unwrap() + "\n";
    let bundle = c.bundle().to_json() + "\n";
    assert_eq!(make("hunan-epochs", 2026).bundle().to_json() + "\n", bundle, "the same bundle on every run");
    if std::env::var("TRUSTMETER_REGENERATE").is_ok() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("genesis.json"), &genesis).unwrap();
        std::fs::write(dir.join("bundle.json"), &bundle).unwrap();
    }
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    assert!(
        read("genesis.json") == genesis && read("bundle.json") == bundle,
        "{} is not the generated vector; regenerate it with TRUSTMETER_REGENERATE=1 cargo test -p trustmeter-client --test proofs epoch_chain_vector",
        dir.display()
    );
    let g: Genesis = serde_json::from_str(&genesis).unwrap();
    ProofBundle::from_json(&bundle).unwrap().verify(Some(&g)).expect("the vector verifies");
}

/// A daily figure of a block of epoch 4 (`trustmeter-figure-proof/v3`): verified through the same
/// epoch chain as the reading's bundle, against the genesis alone; without the chain, with a
/// link short, or certified by the genesis set, it is refused at the epoch step; a v2 document
/// (no `epochs`) reads but cannot prove a block beyond epoch 1.
#[test]
fn a_daily_figure_after_three_set_changes_verifies_through_the_epoch_chain() {
    use trustmeter_client::{FIGURE_PROOF_VERSION, FIGURE_PROOF_VERSION_V2, FigureProof};
    let c = chain();
    let org = c.devnet.enterprises[0].org.id.clone();
    let day = trustmeter_energy::calendar::day_number(c.block.header.timestamp_ms);
    let key = trustmeter_schema::DailyKey { org, day, energy: EnergyKind::Electricity, unit: Unit::KilowattHour };
    assert!(c.state().daily(&key).is_some(), "the reading made a daily figure");
    let epoch = READING_HEIGHT / L;
    let fin = c.finalize_by(&c.block.header, epoch);
    let mut proof = FigureProof::build(c.genesis(), &c.block.header, c.state(), &key, &fin).expect("a figure proof");
    proof.epochs = c.links(epoch);
    assert_eq!(proof.version, FIGURE_PROOF_VERSION);
    assert_eq!(proof.epochs.len() as u64, epoch - 1, "one link per epoch 2 ..= 4");
    // Through JSON, as a verifier receives it.
    let read = FigureProof::from_json(&proof.to_json()).expect("parses strictly");
    let v = read.verify(Some(c.genesis())).expect("verifies against the genesis alone");
    assert_eq!((v.height, v.finalized_epoch, v.validators), (READING_HEIGHT, epoch, 4));

    let without = FigureProof { epochs: vec![], ..proof.clone() };
    assert!(
        matches!(without.verify(Some(c.genesis())), Err(VerifyError::EpochChainLength { .. })),
        "no links: {:?}",
        without.verify(Some(c.genesis()))
    );
    let short = FigureProof { epochs: proof.epochs[1..].to_vec(), ..proof.clone() };
    assert!(short.verify(Some(c.genesis())).is_err(), "a link short");
    // Signed by the genesis set instead of the set of epoch 4 (which differs from it).
    assert_ne!(members(&c.set(0)), members(&c.set(epoch)));
    let by_genesis_set = FigureProof {
        finalization: hex::encode(commonware_codec::Encode::encode(&c.finalize_by(&c.block.header, 0))),
        ..proof.clone()
    };
    assert!(by_genesis_set.verify(Some(c.genesis())).is_err(), "a certificate by the wrong set");
    // A v2 document has no `epochs`: it parses, but proves blocks of epochs 0 and 1 only.
    let mut v2: serde_json::Value = serde_json::from_str(&proof.to_json()).unwrap();
    v2.as_object_mut().unwrap().remove("epochs");
    v2["version"] = FIGURE_PROOF_VERSION_V2.into();
    let v2 = FigureProof::from_json(&v2.to_string()).expect("a v2 document parses");
    assert!(v2.epochs.is_empty());
    assert_eq!(FigureProof::from_json(&v2.to_json()).expect("written back as v2"), v2, "a v2 proof round-trips");
    assert!(matches!(v2.verify(Some(c.genesis())), Err(VerifyError::EpochChainLength { .. })));
    // A v3 document must carry the field.
    let mut missing: serde_json::Value = serde_json::from_str(&proof.to_json()).unwrap();
    missing.as_object_mut().unwrap().remove("epochs");
    assert!(FigureProof::from_json(&missing.to_string()).is_err(), "v3 without epochs is malformed");
}
