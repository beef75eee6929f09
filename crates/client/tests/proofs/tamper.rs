//! Tampering with any part of a bundle makes verification fail, with the error of the step that
//! catches it.

use super::{fixture, genesis_with_other_validators};
use commonware_codec::types::lazy::Lazy;
use commonware_codec::{Decode, Encode};
use commonware_cryptography::certificate::Signers;
use commonware_utils::Participant;
use trustmeter_chain::BlockFinalization;
use trustmeter_client::{ProofBundle, Step, VerifyError, verify};
use trustmeter_crypto::{SigningKey, sign_reading};
use trustmeter_state::StateKey;
use trustmeter_state::state::StateValue;
use trustmeter_types::{
    ChainId, DeviceId, DeviceStatus, Gateway, Genesis, Hash32, Meter, ReadingSigner, UnifiedSocialCreditCode, Unit,
};

/// Verifies a bundle that must fail; checks the message names the failed step.
fn fails(b: &ProofBundle, trusted: Option<&Genesis>) -> VerifyError {
    let e = verify(b, trusted).expect_err("a tampered bundle must not verify");
    let msg = e.to_string();
    assert!(msg.starts_with(&e.step().to_string()), "the message names the step: {msg}");
    e
}

/// Asserts that verifying `$bundle` against the fixture's genesis fails with `$pat`.
macro_rules! assert_fails {
    ($what:expr, $bundle:expr, $pat:pat) => {
        assert_fails_with!($what, $bundle, Some(&fixture().genesis), $pat)
    };
}

/// Asserts that verifying `$bundle` against `$trusted` fails with `$pat`.
macro_rules! assert_fails_with {
    ($what:expr, $bundle:expr, $trusted:expr, $pat:pat) => {{
        let e = fails(&$bundle, $trusted);
        assert!(matches!(e, $pat), "{}: wrong error: {e}", $what);
        e
    }};
}

fn flip(h: &mut Hash32) {
    h.0[7] ^= 0x20;
}

fn meter_mut(b: &mut ProofBundle) -> &mut Meter {
    match &mut b.meter_proof.entry.value {
        StateValue::Meter(m) => m,
        _ => unreachable!("meter proof holds a meter"),
    }
}

fn gateway_mut(b: &mut ProofBundle) -> &mut Gateway {
    match &mut b.gateway_proof.entry.value {
        StateValue::Gateway(g) => g,
        _ => unreachable!("gateway proof holds a gateway"),
    }
}

fn both() -> [ProofBundle; 2] {
    [fixture().meter_signed(), fixture().gateway_signed()]
}

fn decode_fin(b: &ProofBundle) -> BlockFinalization {
    BlockFinalization::decode_cfg(hex::decode(&b.finalization).unwrap(), &b.genesis.validators.len()).unwrap()
}

fn set_fin(b: &mut ProofBundle, f: &BlockFinalization) {
    b.finalization = hex::encode(f.encode());
}

#[test]
fn the_untampered_bundles_verify() {
    for b in both() {
        verify(&b, Some(&fixture().genesis)).unwrap();
    }
}

#[test]
fn header_fields_that_commit_to_the_proof_are_checked() {
    let base = fixture().meter_signed();
    let mut b = base.clone();
    flip(&mut b.header.state_root);
    assert_fails!("state_root", b, VerifyError::StateRootsMismatch { .. });
    let mut b = base.clone();
    flip(&mut b.header.readings_root);
    assert_fails!("readings_root", b, VerifyError::ReadingNotIncluded { .. });
    let mut b = base.clone();
    b.header.readings_accepted += 1;
    assert_fails!("readings_accepted", b, VerifyError::TreeSizeMismatch { .. });
    let mut b = base.clone();
    b.header.chain_id = ChainId::new("national-1").unwrap();
    assert_fails_with!("chain_id", b, None, VerifyError::ChainMismatch { .. });
}

#[test]
fn every_other_header_field_changes_the_block_digest() {
    let base = fixture().meter_signed();
    type Edit = fn(&mut ProofBundle);
    let edits: [(&str, Edit); 9] = [
        ("height + 1", |b| b.header.height += 1),
        ("height - 1", |b| b.header.height -= 1),
        ("parent", |b| flip(&mut b.header.parent)),
        ("timestamp_ms", |b| b.header.timestamp_ms += 1),
        ("view", |b| b.header.view += 1),
        ("tx_root", |b| flip(&mut b.header.tx_root)),
        ("receipts_root", |b| flip(&mut b.header.receipts_root)),
        ("tx_count", |b| b.header.tx_count += 1),
        ("reading_count", |b| b.header.reading_count += 1),
    ];
    for (what, edit) in edits {
        let mut b = base.clone();
        edit(&mut b);
        assert_fails!(what, b, VerifyError::FinalizationForOtherBlock { .. });
    }
    // The epoch is also checked against the height (the epoch chain, docs/proof-format.md §7 f.1).
    let mut b = base.clone();
    b.header.epoch += 1;
    assert_fails!("epoch", b, VerifyError::HeaderEpochMismatch { .. });
}

#[test]
fn the_reading_and_its_signature_are_checked() {
    for base in both() {
        type Edit = fn(&mut ProofBundle);
        let edits: [(&str, Edit); 8] = [
            ("value", |b| b.reading.reading.value.0 += 1),
            ("seq", |b| b.reading.reading.seq += 1),
            ("timestamp_ms", |b| b.reading.reading.timestamp_ms -= 1),
            ("origin", |b| b.reading.reading.origin = trustmeter_types::ReadingOrigin::Manual),
            ("clock_suspect", |b| b.reading.reading.clock_suspect = !b.reading.reading.clock_suspect),
            ("unit", |b| b.reading.reading.unit = Unit::MegawattHour),
            ("signature first byte", |b| b.reading.signature.bytes[0] ^= 1),
            ("signature last byte", |b| *b.reading.signature.bytes.last_mut().unwrap() ^= 0x80),
        ];
        for (what, edit) in edits {
            let mut b = base.clone();
            edit(&mut b);
            let e = assert_fails!(what, b, VerifyError::BadReadingSignature { .. });
            assert_eq!(e.step(), Step::ReadingSignature);
        }
        let mut b = base.clone();
        b.reading.signer = match b.reading.signer {
            ReadingSigner::Meter => ReadingSigner::Gateway,
            ReadingSigner::Gateway => ReadingSigner::Meter,
        };
        assert_fails!("signer", b, VerifyError::WrongSigner(_));
    }
}

#[test]
fn a_reading_spliced_from_another_position_is_not_included() {
    let f = fixture();
    let a = f.meter_signed();
    let other = f.bundles.iter().find(|o| o.header == a.header && o.index != a.index).unwrap();
    // Another genuine reading of the same block, with its own genuine registry records, but
    // claimed at this bundle's position.
    let mut b = a.clone();
    b.reading = other.reading.clone();
    b.meter_proof = other.meter_proof.clone();
    assert_fails!("spliced reading", b, VerifyError::ReadingNotIncluded { .. });
}

#[test]
fn the_audit_path_and_position_are_checked() {
    let base = fixture().meter_signed();
    assert!(!base.audit_path.is_empty());
    for i in 0..base.audit_path.len() {
        let mut b = base.clone();
        flip(&mut b.audit_path[i]);
        assert_fails!(format!("path element {i}"), b, VerifyError::ReadingNotIncluded { .. });
    }
    let mut b = base.clone();
    b.audit_path.pop();
    assert_fails!("shortened path", b, VerifyError::ReadingNotIncluded { .. });
    let mut b = base.clone();
    b.audit_path.push(Hash32([3; 32]));
    assert_fails!("lengthened path", b, VerifyError::ReadingNotIncluded { .. });
    for index in [base.index + 1, base.index.wrapping_sub(1), base.tree_size, u64::MAX] {
        if index == base.index {
            continue;
        }
        let mut b = base.clone();
        b.index = index;
        assert_fails!(format!("index {index}"), b, VerifyError::ReadingNotIncluded { .. });
    }
    let mut b = base.clone();
    b.tree_size += 1;
    assert_fails!("tree_size", b, VerifyError::TreeSizeMismatch { .. });
}

#[test]
fn the_meter_record_is_checked() {
    let base = fixture().meter_signed();
    let ts = base.reading.reading.timestamp_ms;

    for status in [DeviceStatus::Registered, DeviceStatus::Revoked] {
        let mut b = base.clone();
        meter_mut(&mut b).status = status;
        assert_fails!(format!("status {status:?}"), b, VerifyError::MeterNotActive { .. });
    }
    let mut b = base.clone();
    meter_mut(&mut b).calibration.as_mut().unwrap().valid_until_ms = ts;
    assert_fails!("calibration expired at the reading", b, VerifyError::CalibrationDoesNotCover { .. });
    let mut b = base.clone();
    meter_mut(&mut b).calibration.as_mut().unwrap().valid_from_ms = ts + 1;
    assert_fails!("calibration starts after the reading", b, VerifyError::CalibrationDoesNotCover { .. });
    let mut b = base.clone();
    meter_mut(&mut b).calibration = None;
    assert_fails!("no calibration", b, VerifyError::NoCalibration { .. });
    // Edits that keep the record plausible are caught by the state proof.
    let mut b = base.clone();
    meter_mut(&mut b).calibration.as_mut().unwrap().valid_from_ms -= 1;
    assert_fails!(
        "calibration start moved but still covering",
        b,
        VerifyError::StateProofInvalid { which: "meter", .. }
    );
    let mut b = base.clone();
    meter_mut(&mut b).calibration.as_mut().unwrap().valid_until_ms += 86_400_000;
    assert_fails!("calibration extended", b, VerifyError::StateProofInvalid { which: "meter", .. });
    let mut b = base.clone();
    meter_mut(&mut b).calibration.as_mut().unwrap().certificate_no = "HN-2026-9999".into();
    assert_fails!("certificate number", b, VerifyError::StateProofInvalid { which: "meter", .. });
    let mut b = base.clone();
    meter_mut(&mut b).name = "a nicer name".into();
    assert_fails!("meter name", b, VerifyError::StateProofInvalid { which: "meter", .. });

    let mut b = base.clone();
    meter_mut(&mut b).unit = Unit::MegawattHour;
    assert_fails!("unit", b, VerifyError::UnitMismatch { .. });
    let mut b = base.clone();
    meter_mut(&mut b).gateway = DeviceId::new("91430100700001000N-GW99").unwrap();
    assert_fails!("meter's gateway", b, VerifyError::MeterNotOnGateway { .. });
    let mut b = base.clone();
    meter_mut(&mut b).owner = UnifiedSocialCreditCode::new("91350100M000100Y43").unwrap();
    assert_fails!("meter's owner", b, VerifyError::OwnerMismatch { .. });
    let mut b = base.clone();
    meter_mut(&mut b).id = DeviceId::new("91430100700001000N-EM99").unwrap();
    assert_fails!("meter record id", b, VerifyError::MeterRecordMismatch { .. });
    let mut b = base.clone();
    meter_mut(&mut b).public_key = None;
    assert_fails!("meter key removed", b, VerifyError::WrongSigner(_));
}

#[test]
fn a_forged_meter_key_with_a_forged_signature_fails_at_the_state_proof() {
    let base = fixture().meter_signed();
    let forger = SigningKey::ed25519_from_seed([9; 32]);
    let mut b = base.clone();
    b.reading.reading.value.0 *= 2;
    b.reading = sign_reading(&forger, b.reading.reading.clone(), ReadingSigner::Meter);
    meter_mut(&mut b).public_key = Some(forger.public_key());
    assert_fails!("forged key", b, VerifyError::StateProofInvalid { which: "meter", .. });
    // Same for a gateway-signed reading with a forged gateway key.
    let base = fixture().gateway_signed();
    let mut b = base.clone();
    b.reading.reading.value.0 += 1;
    b.reading = sign_reading(&forger, b.reading.reading.clone(), ReadingSigner::Gateway);
    gateway_mut(&mut b).public_key = forger.public_key();
    assert_fails!("forged gateway key", b, VerifyError::StateProofInvalid { which: "gateway", .. });
}

#[test]
fn the_state_proofs_themselves_are_checked() {
    let base = fixture().meter_signed();
    let mut b = base.clone();
    b.meter_proof.siblings.pop();
    assert_fails!("meter proof one sibling short", b, VerifyError::StateProofInvalid { which: "meter", .. });
    let mut b = base.clone();
    b.meter_proof.siblings.push(Hash32::ZERO);
    assert_fails!("meter proof one sibling more", b, VerifyError::StateProofInvalid { which: "meter", .. });
    let mut b = base.clone();
    b.meter_proof.siblings.swap(0, 1);
    if b.meter_proof.siblings != base.meter_proof.siblings {
        assert_fails!("meter proof siblings swapped", b, VerifyError::StateProofInvalid { which: "meter", .. });
    }
    let mut b = base.clone();
    b.meter_proof.siblings = vec![Hash32::ZERO; 257];
    assert_fails!("a path longer than a key hash", b, VerifyError::StateProofInvalid { which: "meter", .. });
    let mut b = base.clone();
    flip(&mut b.meter_proof.siblings[0]);
    assert_fails!("meter proof sibling", b, VerifyError::StateProofInvalid { which: "meter", .. });
    let mut b = base.clone();
    flip(b.gateway_proof.siblings.last_mut().unwrap());
    assert_fails!("gateway proof sibling", b, VerifyError::StateProofInvalid { which: "gateway", .. });
    // The two tree roots: either changed (header no longer matches) or swapped.
    let mut b = base.clone();
    flip(&mut b.state_roots.activity);
    assert_fails!("activity root", b, VerifyError::StateRootsMismatch { .. });
    let mut b = base.clone();
    std::mem::swap(&mut b.state_roots.registry, &mut b.state_roots.activity);
    assert_fails!("tree roots swapped", b, VerifyError::StateRootsMismatch { .. });
    let mut b = base.clone();
    b.meter_proof.entry.key = StateKey::Meter(DeviceId::new("91430100700001000N-EM03").unwrap());
    assert_fails!("meter proof key", b, VerifyError::StateKeyMismatch { which: "meter", .. });
    let mut b = base.clone();
    b.meter_proof.entry.key = StateKey::Progress(base.reading.reading.meter.clone(), 0);
    assert_fails!("meter proof key kind", b, VerifyError::StateKeyMismatch { which: "meter", .. });
    let mut b = base.clone();
    b.gateway_proof.entry.key = StateKey::Gateway(DeviceId::new("91430100700001000N-GW02").unwrap());
    assert_fails!("gateway proof key", b, VerifyError::StateKeyMismatch { which: "gateway", .. });
    let mut b = base.clone();
    b.meter_proof = base.gateway_proof.clone();
    assert_fails!("gateway proof as meter proof", b, VerifyError::NotAMeterRecord { found: "gateway" });
    let mut b = base.clone();
    b.gateway_proof = base.meter_proof.clone();
    assert_fails!("meter proof as gateway proof", b, VerifyError::NotAGatewayRecord { found: "meter" });
}

#[test]
fn the_gateway_record_is_checked() {
    let [meter_signed, gateway_signed] = both();
    let other_key = SigningKey::ed25519_from_seed([8; 32]).public_key();
    // The gateway's key signs gateway-signed readings: changing it breaks the signature…
    let mut b = gateway_signed.clone();
    gateway_mut(&mut b).public_key = other_key.clone();
    assert_fails!("gateway key (gateway-signed)", b, VerifyError::BadReadingSignature { signer: "gateway", .. });
    // …and for meter-signed readings, the gateway record's proof.
    let mut b = meter_signed.clone();
    gateway_mut(&mut b).public_key = other_key;
    assert_fails!("gateway key (meter-signed)", b, VerifyError::StateProofInvalid { which: "gateway", .. });
    for base in [meter_signed, gateway_signed] {
        let mut b = base.clone();
        gateway_mut(&mut b).status = DeviceStatus::Revoked;
        assert_fails!("gateway status", b, VerifyError::GatewayNotActive { .. });
        let mut b = base.clone();
        gateway_mut(&mut b).owner = UnifiedSocialCreditCode::new("91350100M000100Y43").unwrap();
        assert_fails!("gateway owner", b, VerifyError::OwnerMismatch { .. });
        let mut b = base.clone();
        b.gateway = DeviceId::new("91430100700001000N-GW02").unwrap();
        assert_fails!("bundle gateway id", b, VerifyError::GatewayRecordMismatch { .. });
        let mut b = base.clone();
        gateway_mut(&mut b).id = DeviceId::new("91430100700001000N-GW02").unwrap();
        b.gateway = DeviceId::new("91430100700001000N-GW02").unwrap();
        assert_fails!("gateway id in record and bundle", b, VerifyError::MeterNotOnGateway { .. });
    }
}

#[test]
fn a_flipped_signature_byte_in_the_certificate_names_the_validator() {
    let base = fixture().meter_signed();
    let bytes = hex::decode(&base.finalization).unwrap();
    let fin = decode_fin(&base);
    let signers = fin.certificate.signers.count();
    // The certificate ends with the signatures, 64 bytes each, in signer order.
    for k in 0..signers {
        let mut tampered = bytes.clone();
        let at = bytes.len() - 64 * (signers - k) + 10;
        tampered[at] ^= 0x01;
        let mut b = base.clone();
        b.finalization = hex::encode(&tampered);
        let e = assert_fails!(format!("signature {k}"), b, VerifyError::FinalizationBadSignatures { .. });
        let VerifyError::FinalizationBadSignatures { validators } = &e else { unreachable!() };
        assert_eq!(validators.len(), 1, "exactly one validator is blamed: {e}");
        let index = fin.certificate.signers.iter().nth(k).unwrap().get();
        assert!(validators[0].contains(&format!("signer #{index}")), "{e}");
        assert!(validators[0].starts_with("validator-"), "named from genesis: {e}");
    }
}

#[test]
fn malformed_certificates_are_refused() {
    let base = fixture().meter_signed();
    let bytes = hex::decode(&base.finalization).unwrap();
    let mut b = base.clone();
    b.finalization = hex::encode(&bytes[..bytes.len() - 1]);
    assert_fails!("truncated", b, VerifyError::FinalizationMalformed { .. });
    let mut b = base.clone();
    b.finalization = hex::encode([bytes.as_slice(), &[0]].concat());
    assert_fails!("trailing byte", b, VerifyError::FinalizationMalformed { .. });
    let mut b = base.clone();
    b.finalization = String::new();
    assert_fails!("empty", b, VerifyError::FinalizationMalformed { .. });
    let mut b = base.clone();
    b.finalization.push('z');
    assert_fails!("not hex", b, VerifyError::FinalizationNotHex(_));
}

#[test]
fn the_certificate_must_finalize_this_block_with_a_quorum() {
    let f = fixture();
    let base = f.meter_signed();
    let fin = decode_fin(&base);

    // A genuine certificate of another block.
    let mut b = base.clone();
    b.finalization = f.other_finalization(&base);
    assert_fails!("other block's certificate", b, VerifyError::FinalizationForOtherBlock { .. });

    // This certificate's signatures, claimed for another payload or round.
    let mut other = fin.clone();
    other.proposal.payload.0[0] ^= 1;
    let mut b = base.clone();
    set_fin(&mut b, &other);
    assert_fails!("payload changed", b, VerifyError::FinalizationForOtherBlock { .. });
    let mut other = fin.clone();
    other.proposal.parent = commonware_consensus::types::View::new(other.proposal.parent.get() + 1);
    let mut b = base.clone();
    set_fin(&mut b, &other);
    let e = assert_fails!("parent view changed", b, VerifyError::FinalizationBadSignatures { .. });
    let VerifyError::FinalizationBadSignatures { validators } = e else { unreachable!() };
    assert_eq!(validators.len(), fin.certificate.signers.count(), "every signature fails");

    // Exactly a quorum still verifies; one less does not.
    let signed: Vec<Participant> = fin.certificate.signers.iter().collect();
    let with = |n: usize| {
        let mut c = fin.clone();
        c.certificate.signers = Signers::new(4, signed[..n].iter().copied()).unwrap();
        c.certificate.signatures = fin.certificate.signatures[..n].to_vec();
        let mut b = base.clone();
        set_fin(&mut b, &c);
        b
    };
    let v = verify(&with(3), Some(&f.genesis)).unwrap();
    assert_eq!(v.validator_signatures, 3);
    assert_fails!(
        "two signatures",
        with(2),
        VerifyError::FinalizationNoQuorum { signers: 2, quorum: 3, validators: 4 }
    );

    // A bitmap for a smaller committee.
    let mut c = fin.clone();
    c.certificate.signers = Signers::new(3, [0, 1, 2].map(Participant::new)).unwrap();
    c.certificate.signatures = fin.certificate.signatures[..3].to_vec();
    let mut b = base.clone();
    set_fin(&mut b, &c);
    assert_fails!("smaller committee", b, VerifyError::FinalizationCommitteeSize { bitmap: 3, validators: 4 });

    // One validator's signature presented as another's.
    let mut c = fin.clone();
    let first: Lazy<_> = fin.certificate.signatures[0].clone();
    c.certificate.signatures[1] = first;
    let mut b = base.clone();
    set_fin(&mut b, &c);
    let e = assert_fails!("duplicated signature", b, VerifyError::FinalizationBadSignatures { .. });
    let VerifyError::FinalizationBadSignatures { validators } = e else { unreachable!() };
    assert_eq!(validators.len(), 1);
    assert!(validators[0].contains(&format!("signer #{}", signed[1].get())));
}

#[test]
fn another_validator_set_is_refused() {
    let f = fixture();
    let other = genesis_with_other_validators(&f.genesis);
    for base in both() {
        // Trusting another genesis: refused at step (a).
        let e = assert_fails_with!("other trusted genesis", base, Some(&other), VerifyError::GenesisMismatch { .. });
        assert!(e.to_string().contains("validator keys differ"), "{e}");
        // A bundle carrying another validator set: the certificate does not verify under it.
        let mut b = base.clone();
        b.genesis = other.clone();
        assert_fails_with!(
            "bundle genesis swapped, nothing trusted",
            b,
            None,
            VerifyError::FinalizationBadSignatures { .. }
        );
        assert_fails_with!(
            "bundle genesis swapped, original trusted",
            b,
            Some(&f.genesis),
            VerifyError::GenesisMismatch { .. }
        );
    }
    let base = f.meter_signed();
    let mut g = f.genesis.clone();
    g.chain_id = ChainId::new("national-1").unwrap();
    assert_fails_with!("trusted genesis of another chain", base, Some(&g), VerifyError::GenesisMismatch { .. });
    let mut g = f.genesis.clone();
    g.genesis_time_ms += 1;
    assert_fails_with!("trusted genesis with another time", base, Some(&g), VerifyError::GenesisMismatch { .. });
    let mut b = base.clone();
    b.genesis.validators[0].consensus_key = "not hex".into();
    assert_fails_with!("unusable validator key", b, None, VerifyError::BadValidatorSet(_));
    // Earlier formats (v1: RFC 9162 state proofs over every entry; v2: no descendants) and an
    // unknown future one.
    for version in ["trustmeter-proof/v1", "trustmeter-proof/v2", "trustmeter-proof/v5"] {
        let mut b = base.clone();
        b.version = version.into();
        assert_fails!(version, b, VerifyError::UnsupportedVersion { .. });
    }
}

/// A block is proven final through a later certified block when its own certificate is not at
/// hand (a view that gathered no quorum of finalize votes): the bundle carries the headers from
/// the block's child to the certified block. Every link is checked, by the verifier and by the
/// independent checker; a broken, shifted, emptied or overlong chain is refused.
#[test]
fn finality_through_descendant_headers_is_checked_link_by_link() {
    let f = fixture();
    let base = f.meter_signed();
    let h = base.header.height;
    let event = f.events.iter().find(|e| e.block.block.header.height == h).expect("the block's event");
    // Every block after it up to the last certified one that validator 0 finalized.
    let last = f
        .events
        .iter()
        .rev()
        .find(|e| e.block.block.header.height > h && e.finalization.is_some())
        .expect("a certified block after the reading's");
    let descendants: Vec<_> = f
        .events
        .iter()
        .map(|e| e.block.block.header.clone())
        .filter(|d| d.height > h && d.height <= last.block.block.header.height)
        .collect();
    assert_eq!(descendants.len() as u64, last.block.block.header.height - h, "consecutive heights");
    let fin = last.finalization.as_ref().unwrap();
    let build = |ds: &[trustmeter_types::BlockHeader]| {
        ProofBundle::build_through(
            &f.genesis,
            &event.block.block,
            &event.output.recorded,
            &f.state,
            ds,
            fin,
            Vec::new(),
            base.index as usize,
        )
    };
    let b = build(&descendants).expect("a bundle through descendants");
    let v = b.verify(Some(&f.genesis)).expect("it verifies");
    assert_eq!((v.height, v.certified_height), (h, last.block.block.header.height));
    assert_eq!((v.meter, v.seq), (base.reading.reading.meter.clone(), base.reading.reading.seq));
    // The strict JSON form round-trips, and the checker written from the document agrees.
    let json = b.to_json();
    assert_eq!(ProofBundle::from_json(&json).unwrap(), b);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let trusted = serde_json::to_value(&f.genesis).unwrap();
    assert_eq!(super::independent::check(&doc, &trusted), Ok(v.validator_signatures));

    // The builder refuses what the verifier would.
    let mut broken = descendants.clone();
    broken[0].parent = Hash32([7; 32]);
    assert!(matches!(build(&broken), Err(trustmeter_client::BuildError::BrokenDescendants { .. })));
    assert!(matches!(build(&[]), Err(trustmeter_client::BuildError::FinalizationMismatch { .. })));

    let tampered = |what: &str, change: &dyn Fn(&mut ProofBundle)| {
        let mut t = b.clone();
        change(&mut t);
        let e = fails(&t, Some(&f.genesis));
        let doc = serde_json::to_value(&t).unwrap();
        assert!(super::independent::check(&doc, &trusted).is_err(), "{what}: the independent checker accepts it");
        e
    };
    let e = tampered("a link to another parent", &|t| t.descendants[0].parent = Hash32([7; 32]));
    assert!(matches!(e, VerifyError::DescendantNotChild { index: 0, .. }), "{e}");
    let e = tampered("a skipped height", &|t| t.descendants[0].height += 1);
    assert!(matches!(e, VerifyError::DescendantNotChild { index: 0, .. }), "{e}");
    let e = tampered("another chain's header", &|t| {
        t.descendants[0].chain_id = ChainId::new("national-1").unwrap();
    });
    assert!(matches!(e, VerifyError::DescendantNotChild { index: 0, .. }), "{e}");
    let e = tampered("the descendants dropped", &|t| t.descendants.clear());
    assert!(matches!(e, VerifyError::FinalizationForOtherBlock { .. }), "{e}");
    let e = tampered("the certified header altered", &|t| t.descendants.last_mut().unwrap().timestamp_ms += 1);
    assert!(matches!(e, VerifyError::FinalizationForOtherBlock { .. } | VerifyError::DescendantNotChild { .. }), "{e}");
    let e = tampered("a header appended after the certified one", &|t| {
        let mut extra = t.descendants.last().unwrap().clone();
        extra.parent = trustmeter_crypto::block_digest(f.genesis.params.hash, &extra);
        extra.height += 1;
        t.descendants.push(extra);
    });
    assert!(matches!(e, VerifyError::FinalizationForOtherBlock { .. }), "{e}");
    let e = tampered("too many headers", &|t| {
        let d = t.descendants[0].clone();
        t.descendants = vec![d; trustmeter_client::MAX_DESCENDANTS + 1];
    });
    assert!(matches!(e, VerifyError::TooManyDescendants { count: 257, max: 256 }), "{e}");
}
