//! Receipt proofs and state proofs (`trustmeter_client::certified`), what a gateway settles on
//! and pre-audits with, built from the simulation's blocks and state and attacked part by part.

use super::{fixture, genesis_with_other_validators};
use trustmeter_client::certified::{CertifiedHeader, ReceiptProof, StateKey, StateProofs, StateValue};
use trustmeter_client::{VerifyError, verify_receipt, verify_state};
use trustmeter_crypto::tx_hash;
use trustmeter_types::{DeviceId, ReadingOutcome, RejectCode, Rejection};

/// A block with its own certificate and at least one transaction of readings: its certified
/// header, receipts and transaction hashes.
fn certified_block() -> (CertifiedHeader, Vec<trustmeter_types::Receipt>, Vec<trustmeter_types::Hash32>) {
    let f = fixture();
    let alg = f.genesis.params.hash;
    let e = f
        .events
        .iter()
        .filter(|e| e.finalization.is_some() && e.block.block.header.readings_accepted > 0)
        .max_by_key(|e| e.block.block.txs.len())
        .expect("a certified block with readings");
    let header = CertifiedHeader::new(e.block.block.header.clone(), vec![], e.finalization.as_ref().unwrap());
    let hashes = e.block.block.txs.iter().map(|t| tx_hash(alg, t)).collect();
    (header, e.output.receipts.clone(), hashes)
}

#[test]
fn a_receipt_proof_verifies_and_every_tampering_is_caught() {
    let f = fixture();
    let alg = f.genesis.params.hash;
    let (block, receipts, hashes) = certified_block();
    for (i, h) in hashes.iter().enumerate() {
        let p = ReceiptProof::build(alg, block.clone(), &receipts, i).expect("builds");
        let v = verify_receipt(&p, &f.genesis, h).expect("verifies");
        assert_eq!((v.index, &v.receipt, v.block.height), (i as u64, &receipts[i], block.header.height));
        // JSON round trip, strictly parsed.
        let back: ReceiptProof = trustmeter_client::strict::parse(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }
    let p = ReceiptProof::build(alg, block.clone(), &receipts, 0).unwrap();
    let ok = &hashes[0];

    // Asked about another transaction.
    let other_tx = trustmeter_types::Hash32([7; 32]);
    assert!(matches!(verify_receipt(&p, &f.genesis, &other_tx), Err(VerifyError::ReceiptForOtherTx { .. })));
    // The receipt altered: every reading turned into a rejection (the liar's favourite).
    let mut t = p.clone();
    t.receipt
        .readings
        .iter_mut()
        .for_each(|o| *o = ReadingOutcome::Rejected(Rejection::new(RejectCode::PolicyRejected, "no")));
    t.receipt.readings.push(ReadingOutcome::Accepted);
    assert!(matches!(verify_receipt(&t, &f.genesis, ok), Err(VerifyError::ReceiptNotIncluded { .. })));
    // Another position, another tree size, a path cut short.
    let mut t = p.clone();
    t.index = t.tree_size;
    assert!(matches!(verify_receipt(&t, &f.genesis, ok), Err(VerifyError::ReceiptNotIncluded { .. })));
    let mut t = p.clone();
    t.tree_size += 1;
    assert!(matches!(verify_receipt(&t, &f.genesis, ok), Err(VerifyError::ReceiptTreeSize { .. })));
    let mut t = p.clone();
    t.audit_path.push(trustmeter_types::Hash32([1; 32]));
    assert!(matches!(verify_receipt(&t, &f.genesis, ok), Err(VerifyError::ReceiptNotIncluded { .. })));
    // A header changed to match a forged receipt: the certificate no longer finalizes it.
    let mut t = p.clone();
    t.receipt.readings.clear();
    t.block.header.receipts_root = trustmeter_crypto::merkle::root(
        alg,
        &[trustmeter_crypto::merkle::leaf_hash(alg, &trustmeter_types::encode(&t.receipt))],
    );
    t.block.header.tx_count = 1;
    t.tree_size = 1;
    t.audit_path.clear();
    assert!(matches!(verify_receipt(&t, &f.genesis, ok), Err(VerifyError::FinalizationForOtherBlock { .. })));
    // Another validator set (another chain's genesis of the same name).
    let other = genesis_with_other_validators(&f.genesis);
    assert!(matches!(verify_receipt(&p, &other, ok), Err(VerifyError::FinalizationBadSignatures { .. })));
    // Another version.
    let mut t = p.clone();
    t.version = "trustmeter-receipt-proof/v0".into();
    assert!(matches!(verify_receipt(&t, &f.genesis, ok), Err(VerifyError::UnsupportedVersion { .. })));
}

#[test]
fn state_proofs_prove_records_and_absences_and_refuse_tampering() {
    let f = fixture();
    let alg = f.genesis.params.hash;
    let (block, _, _) = certified_block();
    let h = block.header.height;
    let meter = f.state.meters().next().expect("a meter").id;
    let unknown = DeviceId::new("NOT-REGISTERED-1").unwrap();
    let keys = [StateKey::Meter(meter.clone()), StateKey::Meter(unknown.clone())];
    let p = StateProofs::build(alg, &f.state, block.clone(), &keys).expect("builds");
    let v = verify_state(&p, &f.genesis).expect("verifies");
    assert_eq!(v.block.height, h);
    let Some(Some(StateValue::Meter(m))) = v.lookup(&keys[0]) else { panic!("meter proven present: {v:?}") };
    assert_eq!(
        m,
        &f.state.meter(&meter).unwrap(),
        "the record as of the block (meters never changed after onboarding)"
    );
    assert_eq!(v.lookup(&keys[1]), Some(None), "proven absent");
    assert_eq!(v.lookup(&StateKey::Meter(DeviceId::new("OTHER-1").unwrap())), None, "not covered");

    // The record altered (calibration removed): refused.
    let mut t = p.clone();
    if let StateValue::Meter(m) = &mut t.entries[0].entry.value {
        m.calibration = None;
    }
    assert!(matches!(verify_state(&t, &f.genesis), Err(VerifyError::StateProofInvalid { .. })));
    // A present key passed off as absent, with the absence proof of the unknown one.
    let mut t = p.clone();
    t.absent[0].key = keys[0].clone();
    t.entries.clear();
    assert!(matches!(verify_state(&t, &f.genesis), Err(VerifyError::AbsenceProofInvalid { .. })));
    // Roots that do not hash to the header's state root.
    let mut t = p.clone();
    t.state_roots.activity = t.state_roots.registry;
    assert!(matches!(verify_state(&t, &f.genesis), Err(VerifyError::StateRootsMismatch { .. })));
    // Too many proofs.
    let mut t = p.clone();
    t.absent = vec![t.absent[0].clone(); trustmeter_client::certified::MAX_STATE_PROOFS + 1];
    assert!(matches!(verify_state(&t, &f.genesis), Err(VerifyError::TooManyStateProofs { .. })));
    // Another validator set.
    let other = genesis_with_other_validators(&f.genesis);
    assert!(matches!(verify_state(&p, &other), Err(VerifyError::FinalizationBadSignatures { .. })));
}

#[test]
fn the_policy_set_must_be_proven_complete() {
    let f = fixture();
    let alg = f.genesis.params.hash;
    let (block, _, _) = certified_block();
    // The simulation's chain has the default policy only: version 1 in force, 2 absent.
    let full = StateProofs::build(alg, &f.state, block.clone(), &[StateKey::Policy(1), StateKey::Policy(2)]).unwrap();
    let v = verify_state(&full, &f.genesis).unwrap();
    let set = v.policies().expect("complete");
    assert_eq!(set.iter().map(|p| p.version).collect::<Vec<_>>(), vec![1]);
    // Without the next version's absence, later versions may be hidden.
    let partial = StateProofs::build(alg, &f.state, block.clone(), &[StateKey::Policy(1)]).unwrap();
    let v = verify_state(&partial, &f.genesis).unwrap();
    assert!(matches!(v.policies(), Err(VerifyError::PolicySetIncomplete { .. })));
    // Nothing proven at all.
    let none = StateProofs::build(alg, &f.state, block, &[StateKey::Policy(2)]).unwrap();
    let v = verify_state(&none, &f.genesis).unwrap();
    assert!(matches!(v.policies(), Err(VerifyError::PolicySetIncomplete { .. })));
}
