//! Proof bundles from an SM3 chain with SM2 keys (国密): they verify offline, say which algorithm
//! they were checked with, fail when tampered with, and cannot lie about the algorithm.

use super::{check_summary, fixture, fixture_gm};
use trustmeter_client::{ProofBundle, Step, VerifyError, verify};
use trustmeter_crypto::{HashAlg, block_digest};
use trustmeter_types::{KeyScheme, ReadingSigner};

fn sm3_bundles() -> Vec<ProofBundle> {
    let f = fixture_gm();
    ["meter", "gateway"]
        .iter()
        .map(|who| {
            f.bundles
                .iter()
                .find(|b| b.tree_size >= 2 && (b.reading.signer == ReadingSigner::Meter) == (*who == "meter"))
                .expect("a bundle of each signer")
                .clone()
        })
        .collect()
}

#[test]
fn every_sm3_bundle_verifies_offline() {
    let f = fixture_gm();
    assert_eq!(f.genesis.params.hash, HashAlg::Sm3);
    assert_eq!(f.bundles.len(), super::BATCHES * 4);
    for b in &f.bundles {
        assert_eq!(b.reading.signature.scheme, KeyScheme::Sm2);
        let trusted = verify(b, Some(&f.genesis)).unwrap_or_else(|e| panic!("SM3 bundle does not verify: {e}"));
        assert_eq!(trusted, verify(b, None).unwrap());
        assert_eq!(trusted.hash, HashAlg::Sm3);
        assert_eq!(trusted.block_digest, block_digest(HashAlg::Sm3, &b.header));
        check_summary(b, &trusted);
        // JSON carries the algorithm in the genesis parameters and round-trips.
        let json = b.to_json();
        assert!(json.contains("\"hash\": \"sm3\""), "the bundle names its algorithm");
        assert_eq!(&ProofBundle::from_json(&json).unwrap(), b);
    }
    // A SHA-256 bundle names its algorithm too: no genesis field is optional.
    assert!(fixture().meter_signed().to_json().contains("\"hash\": \"sha256\""));
}

#[test]
fn tampered_sm3_bundles_fail_at_the_right_step() {
    for b in sm3_bundles() {
        let trusted = &fixture_gm().genesis;
        let step = |b: &ProofBundle| verify(b, Some(trusted)).expect_err("tampered bundle verifies").step();
        let mut t = b.clone();
        t.reading.reading.value = trustmeter_types::Quantity::from_micros(t.reading.reading.value.micros() + 1);
        assert_eq!(step(&t), Step::ReadingSignature);
        let mut t = b.clone();
        t.reading.signature.bytes[40] ^= 1;
        assert_eq!(step(&t), Step::ReadingSignature);
        let mut t = b.clone();
        t.reading.signature.bytes[32..].copy_from_slice(&[0; 32]);
        let e = verify(&t, Some(trusted)).unwrap_err();
        assert!(e.to_string().contains("not canonically encoded"), "{e}");
        let mut t = b.clone();
        t.header.state_root.0[3] ^= 1;
        assert_eq!(step(&t), Step::StateProofs);
        let mut t = b.clone();
        t.audit_path[0].0[0] ^= 1;
        assert_eq!(step(&t), Step::Inclusion);
        let mut t = b.clone();
        t.header.timestamp_ms += 1;
        assert_eq!(step(&t), Step::Finality);
        let mut t = b.clone();
        t.finalization = fixture_gm().other_finalization(&b);
        assert_eq!(step(&t), Step::Finality);
    }
}

#[test]
fn a_bundle_cannot_lie_about_its_hash_algorithm() {
    for (good, trusted, other) in [
        (sm3_bundles()[0].clone(), &fixture_gm().genesis, HashAlg::Sha256),
        (fixture().meter_signed(), &fixture().genesis, HashAlg::Sm3),
    ] {
        let mut lie = good.clone();
        lie.genesis.params.hash = other;
        // Against the genesis the verifier trusts: refused at once, naming both algorithms.
        let e = verify(&lie, Some(trusted)).unwrap_err();
        assert!(matches!(e, VerifyError::GenesisMismatch { .. }), "{e}");
        assert!(e.to_string().contains("sm3") && e.to_string().contains("sha256"), "{e}");
        // Trusting the bundle's own (edited) genesis: the hashes do not add up.
        let e = verify(&lie, None).unwrap_err();
        assert_eq!(e.step(), Step::StateProofs, "{e}");
        // Even with state proofs and audit path recomputed under the lie, the certificate signs
        // the digest the validators computed with the real algorithm.
        let mut forged = lie.clone();
        // The registry tree rebuilt under the lie as the meter's leaf alone.
        let entry = &forged.meter_proof.entry;
        let kh = entry.key.key_hash(other);
        let vh = trustmeter_crypto::hash(other, &trustmeter_types::encode(&entry.value));
        forged.meter_proof.siblings.clear();
        forged.state_roots.registry = trustmeter_crypto::smt::leaf_hash(other, &kh, &vh);
        forged.header.state_root = forged.state_roots.state_root(other);
        let e = verify(&forged, None).unwrap_err();
        assert!(matches!(e.step(), Step::StateProofs | Step::Inclusion | Step::Finality), "{e}");
    }
    // A genesis with the other algorithm is another chain: its block digests differ.
    let b = &sm3_bundles()[0];
    assert_ne!(block_digest(HashAlg::Sm3, &b.header), block_digest(HashAlg::Sha256, &b.header));
}
