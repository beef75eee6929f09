//! Bounded fuzzing of what the offline verifier reads from people it does not trust: proof
//! bundles (`ProofBundle::from_json`, then `verify`) and figure proofs (`FigureProof::from_json`,
//! then `verify_figure`), as `trustmeter verify` reads them from a file (`docs/proof-format.md`).
//!
//! Inputs: arbitrary text, and valid documents from a small deterministic chain built here (one
//! gateway, a meter signing its own readings and one its gateway signs for, the block recording
//! them and its certificate signed by three of four validators: the chain of the worked example
//! in `tests/proofs/example.rs`, without the key rotation), edited at random: a field removed,
//! renamed or added, a value replaced (another type, edge and huge numbers, odd strings, hex),
//! arrays grown, values nested deeply, then text edits (numbers replaced by huge ones, duplicate
//! keys, bytes flipped, inserted or removed, whitespace added).
//!
//! Finalization certificates: the verifier reads them with its own decoder
//! (`trustmeter_client::consensus::Finalization`), not consensus's; certificates of every signer
//! set, edited byte by byte, must decode, re-encode and verify exactly as consensus's own type
//! does.
//!
//! Properties: parsing and verifying never panic; a document that still parses verifies against
//! the chain's genesis if and only if it means the same as the original (equal after parsing,
//! the certificate's hex compared case-insensitively), and then gives the same summary. Any other
//! change that survives parsing is caught by verification.
//!
//! Bounded for `cargo test` (several seconds in the debug build) with a fixed seed, so a failure
//! replays as it is; the README's long run multiplies the cases (`FUZZ_SCALE`) and varies the
//! seed (`FUZZ_SEED`; the same value replays its failures).

use commonware_consensus::simplex::types::{Finalization, Finalize, Proposal};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::sha256;
use commonware_parallel::Sequential;
use commonware_utils::iter::NonEmpty;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use std::sync::OnceLock;
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::engine::consensus_namespace;
use trustmeter_chain::{BlockFinalization, Scheme};
use trustmeter_client::{FigureProof, ProofBundle, VerifiedFigure, VerifiedReading};
use trustmeter_crypto::{SigningKey, block_digest, sign_reading, sign_tx};
use trustmeter_fuzzkit::{JsonEdit, TextEdit, apply_json_edit, apply_text_edit, byte_edits, edited};
use trustmeter_state::exec::{BlockContext, BlockOutput, build_block, genesis_block};
use trustmeter_state::{DailyKey, SignatureVerdicts, State};
use trustmeter_types::registry::{AccuracyClass, Calibration, LocationPath};
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    BlockHeader, DeviceId, EnergyKind, Genesis, KeyScheme, Quantity, Reading, ReadingOrigin, ReadingSigner,
    RegisterKind, Transaction, TxBody, TxOutcome, TxPayload, Unit,
};

/// The fixed seed of every property here (a failure in CI replays locally as it is).
const SEED: u64 = 0x636c_6965_6e74_2d31;

fn fuzz_config(cases: u32) -> ProptestConfig {
    trustmeter_fuzzkit::config(cases, SEED)
}

// ---------------------------------------------------------------------------------------------
// The chain, built once
// ---------------------------------------------------------------------------------------------

const GENESIS_MS: i64 = 1_767_225_600_000;

/// Valid documents and what verifying them says.
struct Documents {
    genesis: Genesis,
    bundles: Vec<(ProofBundle, String, VerifiedReading)>,
    figure: (FigureProof, String, VerifiedFigure),
}

fn finalize(devnet: &Devnet, header: &BlockHeader, signers: &[usize]) -> BlockFinalization {
    let namespace = consensus_namespace(&devnet.genesis);
    let participants = devnet.participants();
    let digest = block_digest(devnet.genesis.params.hash, header);
    let proposal = Proposal::new(
        Round::new(Epoch::new(header.epoch), View::new(header.view)),
        View::new(header.view - 1),
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

fn execute(
    parent: &State,
    view: u64,
    timestamp_ms: i64,
    txs: Vec<Transaction>,
) -> (trustmeter_types::Block, BlockOutput) {
    let (block, output) =
        build_block(parent, &BlockContext { epoch: 0, view, timestamp_ms }, txs, &SignatureVerdicts::none());
    assert!(output.receipts.iter().all(|r| matches!(r.outcome, TxOutcome::Accepted)), "{:?}", output.receipts);
    let output = BlockOutput { state: output.state.commit().expect("the block commits"), ..output };
    (block, output)
}

fn documents() -> &'static Documents {
    static DOCUMENTS: OnceLock<Documents> = OnceLock::new();
    DOCUMENTS.get_or_init(|| {
        let devnet = Devnet::new("hunan-fuzz", 4, 1, 2026, GENESIS_MS, 30_000);
        let genesis = devnet.genesis.clone();
        let (_, state0) = genesis_block(&genesis);
        let tx = |key: &SigningKey, nonce: u64, payload: TxPayload| {
            sign_tx(key, TxBody { chain_id: genesis.chain_id.clone(), sender: key.public_key(), nonce, payload })
        };
        let enterprise = &devnet.enterprises[0];
        let gateway = DeviceId::new(format!("{}-GW01", enterprise.org.id)).expect("a device id");
        let gateway_key = SigningKey::from_seed(KeyScheme::Ed25519, [200; 32]);
        let meters: Vec<(DeviceId, Option<SigningKey>)> = vec![
            (
                DeviceId::new(format!("{}-EM01", enterprise.org.id)).expect("a device id"),
                Some(SigningKey::from_seed(KeyScheme::Ed25519, [101; 32])),
            ),
            (DeviceId::new(format!("{}-EM02", enterprise.org.id)).expect("a device id"), None),
        ];
        let mut txs = vec![tx(
            &enterprise.key,
            1,
            TxPayload::RegisterGateway { id: gateway.clone(), public_key: gateway_key.public_key() },
        )];
        for (i, (id, key)) in meters.iter().enumerate() {
            let meter = MeterSpec {
                id: id.clone(),
                gateway: gateway.clone(),
                name: format!("feeder {}", i + 1),
                energy: EnergyKind::Electricity,
                unit: Unit::KilowattHour,
                register: RegisterKind::Cumulative,
                accuracy: AccuracyClass(50),
                location: LocationPath(vec!["site-1".into()]),
                register_max: Quantity::from_micros(99_999_999 * Quantity::SCALE),
                rated_per_hour: Quantity::from_micros(2_000 * Quantity::SCALE),
                tariff: None,
                master: None,
                public_key: key.as_ref().map(|k| k.public_key()),
            };
            txs.push(tx(&enterprise.key, 2 + i as u64, TxPayload::RegisterMeter { meter }));
            let calibration = Calibration {
                certificate_no: format!("HNJL-2025-{i:05}"),
                issuer: devnet.metrology.org.id.clone(),
                valid_from_ms: GENESIS_MS - 30 * 86_400_000,
                valid_until_ms: GENESIS_MS + 335 * 86_400_000,
            };
            txs.push(tx(
                &devnet.metrology.key,
                1 + i as u64,
                TxPayload::RecordCalibration { meter: id.clone(), calibration },
            ));
        }
        let devices = std::iter::once(gateway.clone()).chain(meters.iter().map(|(id, _)| id.clone()));
        for (i, device) in devices.enumerate() {
            txs.push(tx(&devnet.regulator.key, 1 + i as u64, TxPayload::ActivateDevice { device }));
        }
        let (_, out1) = execute(&state0, 1, GENESIS_MS + 60_000, txs);
        let t = GENESIS_MS + 15 * 60_000;
        let readings = meters
            .iter()
            .enumerate()
            .map(|(i, (id, key))| {
                let r = Reading {
                    meter: id.clone(),
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
        let submit = tx(&gateway_key, 1, TxPayload::SubmitReadings { gateway, readings });
        let (block, output) = execute(&out1.state, 2, t + 2_000, vec![submit]);
        let finalization = finalize(&devnet, &block.header, &[0, 1, 3]);
        let bundles = (0..output.recorded.len())
            .map(|p| {
                let b = ProofBundle::build(&genesis, &block, &output.recorded, &output.state, &finalization, p)
                    .expect("a bundle");
                let summary = b.verify(Some(&genesis)).expect("the bundle verifies");
                let json = b.to_json();
                (b, json, summary)
            })
            .collect();
        let org = &enterprise.org.id;
        let (key, _) = output.state.daily_range(org, i32::MIN, i32::MAX).next().expect("a daily figure");
        let key: DailyKey = key.clone();
        let figure = FigureProof::build(&genesis, &block.header, &output.state, &key, &finalization).expect("a figure");
        let summary = figure.verify(Some(&genesis)).expect("the figure proof verifies");
        let json = figure.to_json();
        Documents { genesis, bundles, figure: (figure, json, summary) }
    })
}

// ---------------------------------------------------------------------------------------------
// JSON edits
// ---------------------------------------------------------------------------------------------

const EDGE_U64: [u64; 7] = [0, 1, 2, 255, i64::MAX as u64, u64::MAX - 1, u64::MAX];

/// Replacement values: other types, edge numbers, odd strings and hex.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let scalars = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(&EDGE_U64[..]).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0.5f64, -0.0, 1e308, -1e308]).prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "x",
            "sha256",
            "sm3",
            "trustmeter-proof/v3",
            "trustmeter-proof/v4",
            "trustmeter-figure-proof/v2",
            "trustmeter-figure-proof/v3",
            "meter",
            "gateway",
            "daily",
            "active",
            "revoked",
            "kilowatt_hour",
            "ed25519:00",
            "00",
            "0",
        ])
        .prop_map(|s| Value::String(s.into())),
        "[0-9a-f]{64}".prop_map(Value::String),
        "[0-9a-fA-F]{1,80}".prop_map(Value::String),
        ".{0,40}".prop_map(Value::String),
    ];
    scalars.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,10}", inner), 0..3)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

pub(crate) fn json_edit() -> impl Strategy<Value = JsonEdit> {
    trustmeter_fuzzkit::json_edit(json_value().boxed())
}

/// Text inserted into documents or replacing numbers in them.
const TOKENS: [&str; 12] = [
    "1e400",
    "-1e400",
    "18446744073709551616",
    "-9223372036854775809",
    "99999999999999999999999999999999999999999",
    "0.5",
    "-0",
    " \n\t ",
    "null",
    ",",
    "\"",
    "\\u0000",
];

pub(crate) fn text_edit() -> impl Strategy<Value = TextEdit> {
    trustmeter_fuzzkit::text_edit(&TOKENS)
}

/// Edits that keep a document's shape, so it still parses, and change its meaning: a hex digit
/// of a hash, key or signature, a number off by one, a value copied from elsewhere.
pub(crate) fn meaning_edit() -> impl Strategy<Value = JsonEdit> {
    prop_oneof![
        4 => (any::<Index>(), any::<Index>(), prop::sample::select(vec!['0', '1', '9', 'a', 'f', 'A', 'F']))
            .prop_map(|(at, position, to)| JsonEdit::ChangeCharacter { at, position, to }),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(at, up)| JsonEdit::Nudge { at, up }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(at, from)| JsonEdit::CopyFrom { at, from }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(at, from)| JsonEdit::PushCopy { at, from }),
    ]
}

/// Structural and text edits: either a few edits of any kind, or one or two that keep the shape.
pub(crate) fn edits() -> impl Strategy<Value = (Vec<JsonEdit>, Vec<TextEdit>)> {
    prop_oneof![
        (prop::collection::vec(json_edit(), 0..3), prop::collection::vec(text_edit(), 0..3)),
        (prop::collection::vec(meaning_edit(), 1..3), prop::collection::vec(text_edit(), 0..2)),
    ]
}

pub(crate) fn edited_json(original: &str, structural: &[JsonEdit], textual: &[TextEdit]) -> Vec<u8> {
    let mut text = if structural.is_empty() {
        original.as_bytes().to_vec()
    } else {
        let mut doc: Value = serde_json::from_str(original).expect("the documents are JSON");
        for e in structural {
            apply_json_edit(&mut doc, e);
        }
        serde_json::to_vec_pretty(&doc).expect("a value prints")
    };
    for e in textual {
        apply_text_edit(&mut text, e);
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// Equal after parsing, the certificate's hex compared without regard to case (hex decoding
/// accepts both).
fn same_bundle(a: &ProofBundle, b: &ProofBundle) -> bool {
    let lower = |x: &ProofBundle| ProofBundle { finalization: x.finalization.to_ascii_lowercase(), ..x.clone() };
    lower(a) == lower(b)
}

fn same_figure(a: &FigureProof, b: &FigureProof) -> bool {
    let lower = |x: &FigureProof| FigureProof { finalization: x.finalization.to_ascii_lowercase(), ..x.clone() };
    lower(a) == lower(b)
}

/// A bundle read from `text` verifies exactly when it means what `original` means.
fn bundle_is_checked(text: &[u8], original: &ProofBundle, summary: &VerifiedReading) -> Result<(), TestCaseError> {
    let Ok(text) = std::str::from_utf8(text) else { return Ok(()) };
    let Ok(bundle) = ProofBundle::from_json(text) else { return Ok(()) };
    let genesis = &documents().genesis;
    let trusted = bundle.verify(Some(genesis));
    let untrusted = bundle.verify(None);
    if same_bundle(&bundle, original) {
        prop_assert_eq!(trusted, Ok(summary.clone()));
        prop_assert_eq!(untrusted, Ok(summary.clone()));
    } else {
        prop_assert!(trusted.is_err(), "a changed bundle verified:\n{}", bundle.to_json());
        // Without a trusted genesis, only a change to the bundle's own genesis may pass (the
        // verifier then trusts that genesis, as documented).
        if untrusted.is_ok() {
            prop_assert!(
                bundle.genesis != *genesis,
                "a changed bundle verified on its own genesis:\n{}",
                bundle.to_json()
            );
        }
    }
    Ok(())
}

fn figure_is_checked(text: &[u8], original: &FigureProof, summary: &VerifiedFigure) -> Result<(), TestCaseError> {
    let Ok(text) = std::str::from_utf8(text) else { return Ok(()) };
    let Ok(figure) = FigureProof::from_json(text) else { return Ok(()) };
    let genesis = &documents().genesis;
    let trusted = figure.verify(Some(genesis));
    let untrusted = figure.verify(None);
    if same_figure(&figure, original) {
        prop_assert_eq!(trusted, Ok(summary.clone()));
        prop_assert_eq!(untrusted, Ok(summary.clone()));
    } else {
        prop_assert!(trusted.is_err(), "a changed figure proof verified:\n{}", figure.to_json());
        if untrusted.is_ok() {
            prop_assert!(
                figure.genesis != *genesis,
                "a changed figure proof verified on its own genesis:\n{}",
                figure.to_json()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz_config(3_000))]

    #[test]
    fn edited_bundles_verify_only_if_unchanged(
        which in any::<Index>(),
        (structural, textual) in edits(),
    ) {
        let d = documents();
        let (bundle, json, summary) = &d.bundles[which.index(d.bundles.len())];
        bundle_is_checked(&edited_json(json, &structural, &textual), bundle, summary)?;
    }
}

proptest! {
    #![proptest_config(fuzz_config(2_000))]

    #[test]
    fn edited_figure_proofs_verify_only_if_unchanged(
        (structural, textual) in edits(),
    ) {
        let (figure, json, summary) = &documents().figure;
        figure_is_checked(&edited_json(json, &structural, &textual), figure, summary)?;
    }
}

proptest! {
    #![proptest_config(fuzz_config(3_000))]

    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1_024),
        "[\\[\\]{}\":,0-9a-z_ -]{0,400}".prop_map(String::into_bytes),
        (1usize..2_000).prop_map(|depth| format!("{{\"version\":{}1{}}}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
    ]) {
        let (bundle, _, summary) = &documents().bundles[0];
        bundle_is_checked(&text, bundle, summary)?;
        let (figure, _, summary) = &documents().figure;
        figure_is_checked(&text, figure, summary)?;
    }
}

/// The two documents built here differ in signer (meter, gateway) and verify unedited.
#[test]
fn the_documents_are_the_ones_described() {
    let d = documents();
    let signers: Vec<ReadingSigner> = d.bundles.iter().map(|(b, _, _)| b.reading.signer).collect();
    assert_eq!(signers, [ReadingSigner::Meter, ReadingSigner::Gateway]);
    for (b, json, summary) in &d.bundles {
        assert_eq!(&ProofBundle::from_json(json).expect("parses").verify(Some(&d.genesis)).expect("verifies"), summary);
        assert_eq!(b.verify(None).as_ref(), Ok(summary));
    }
}

// ---------------------------------------------------------------------------------------------
// Finalization certificates: our decoder against consensus's
// ---------------------------------------------------------------------------------------------

/// A devnet's validators and a certificate of each of the 15 non-empty sets of its 4 signers,
/// for a proposal at view 7 of epoch 0, encoded.
struct Certificates {
    namespace: Vec<u8>,
    validators: commonware_utils::ordered::Set<commonware_cryptography::ed25519::PublicKey>,
    encoded: Vec<Vec<u8>>,
}

fn certificates() -> &'static Certificates {
    use commonware_codec::Encode;
    static CERTIFICATES: OnceLock<Certificates> = OnceLock::new();
    CERTIFICATES.get_or_init(|| {
        let devnet = Devnet::new("hunan-fuzz", 4, 1, 2026, GENESIS_MS, 30_000);
        let namespace = consensus_namespace(&devnet.genesis);
        let validators = devnet.participants();
        let proposal = Proposal::new(Round::new(Epoch::new(0), View::new(7)), View::new(6), sha256::Digest([0x5a; 32]));
        let encoded = (1u8..16)
            .map(|mask| {
                let mut votes: Vec<Finalize<Scheme, sha256::Digest>> = (0..4)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| {
                        let scheme = Scheme::signer(&namespace, validators.clone(), devnet.validator_keys[i].clone())
                            .expect("a genesis validator");
                        Finalize::sign(&scheme, proposal.clone()).expect("a signer signs")
                    })
                    .collect();
                votes.sort_by_key(|v| v.attestation.signer);
                // Assembled without the quorum check, so that short certificates exist too.
                let certificate = commonware_cryptography::certificate::ed25519::Certificate {
                    signers: commonware_cryptography::certificate::Signers::new(
                        4,
                        votes.iter().map(|v| v.attestation.signer),
                    )
                    .expect("distinct signers"),
                    signatures: votes.iter().map(|v| v.attestation.signature.clone()).collect(),
                };
                BlockFinalization { proposal: proposal.clone(), certificate }.encode().to_vec()
            })
            .collect();
        Certificates { namespace, validators, encoded }
    })
}

/// Whether consensus's own type accepts `bytes` as a valid certificate of a quorum, and what our
/// decoder and verifier say about the same bytes; they must agree.
fn decoders_agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    use commonware_codec::{Decode, Encode};
    let c = certificates();
    let ours = trustmeter_client::consensus::Finalization::decode_cfg(bytes.to_vec(), &4);
    let theirs = BlockFinalization::decode_cfg(bytes.to_vec(), &4);
    prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "decoding disagrees: ours {:?}, consensus {:?}", ours, theirs);
    if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
        prop_assert_eq!(ours.encode(), theirs.encode());
        prop_assert_eq!(ours.proposal.payload.0, theirs.proposal.payload.0);
        let quorum = ours.certificate.signers.count() >= 3;
        let verifier = Scheme::verifier(&c.namespace, c.validators.clone());
        prop_assert_eq!(
            ours.verify(&c.namespace, &c.validators) && quorum,
            theirs.verify(&mut rand::rng(), &verifier, &Sequential)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(fuzz_config(3_000))]

    #[test]
    fn certificates_read_and_verify_as_consensus_reads_them(which in any::<Index>(), edits in byte_edits()) {
        let c = certificates();
        decoders_agree(&edited(&c.encoded[which.index(c.encoded.len())], &edits))?;
    }
}

/// Unedited: every signer set decodes; its signatures all verify, under this chain's namespace
/// only; a quorum (3 of 4) is what consensus's type requires on top.
#[test]
fn every_signer_set_verifies_as_consensus_verifies_it() {
    use commonware_codec::Decode;
    let c = certificates();
    for bytes in &c.encoded {
        decoders_agree(bytes).unwrap();
        let ours = trustmeter_client::consensus::Finalization::decode_cfg(bytes.clone(), &4).unwrap();
        assert!(ours.verify(&c.namespace, &c.validators));
        assert!(!ours.verify(b"trustmeter/consensus/another-chain", &c.validators));
        assert_eq!(trustmeter_client::consensus::certified_payload(bytes), Some(trustmeter_types::Hash32([0x5a; 32])));
    }
    assert_eq!(c.encoded.iter().filter(|b| b.len() > 200).count(), 5, "four 3-signer sets and the 4-signer one");
}
