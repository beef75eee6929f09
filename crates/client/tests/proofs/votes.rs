//! `consensus::vote_is_signed` accepts exactly the votes Commonware's simplex signs: notarize,
//! finalize and nullify votes made by consensus's own `sign` functions with a devnet validator's
//! key, and nothing else (another round, proposal, kind, key or chain).

use commonware_codec::Encode;
use commonware_consensus::simplex::types::{Finalize, Notarize, Nullify, Proposal};
use commonware_consensus::types::{Epoch, Round, View};
use commonware_cryptography::{Signer as _, sha256};
use trustmeter_chain::Scheme;
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::engine::consensus_namespace;
use trustmeter_client::consensus::vote_is_signed;
use trustmeter_types::economy::VoteKind;
use trustmeter_types::{Hash32, KeyScheme, PublicKey, Signature};

fn sig<S: commonware_codec::Encode>(s: &S) -> Signature {
    Signature::new(KeyScheme::Ed25519, s.encode().to_vec()).unwrap()
}

#[test]
fn votes_signed_by_consensus_verify_and_nothing_else_does() {
    let devnet = Devnet::new("hunan-votes", 4, 0, 3, 0, 0);
    let namespace = consensus_namespace(&devnet.genesis);
    let signer = Scheme::signer(&namespace, devnet.participants(), devnet.validator_keys[1].clone()).unwrap();
    let key = PublicKey::new(KeyScheme::Ed25519, devnet.validator_keys[1].public_key().encode().to_vec()).unwrap();
    let other = PublicKey::new(KeyScheme::Ed25519, devnet.validator_keys[2].public_key().encode().to_vec()).unwrap();
    let payload = Hash32([7; 32]);
    let round = Round::new(Epoch::new(3), View::new(300));
    let proposal = Proposal::new(round, View::new(298), sha256::Digest(payload.0));

    let notarize = Notarize::sign(&signer, proposal.clone()).unwrap();
    let finalize = Finalize::sign(&signer, proposal).unwrap();
    let nullify = Nullify::<Scheme>::sign::<sha256::Digest>(&signer, round).unwrap();
    let n = sig(notarize.attestation.signature.get().unwrap());
    let f = sig(finalize.attestation.signature.get().unwrap());
    let x = sig(nullify.attestation.signature.get().unwrap());

    let ok = |kind, r: (u64, u64), p: (u64, Hash32), k: &PublicKey, s: &Signature| {
        vote_is_signed(&namespace, kind, r, p, k, s)
    };
    assert!(ok(VoteKind::Notarize, (3, 300), (298, payload), &key, &n));
    assert!(ok(VoteKind::Finalize, (3, 300), (298, payload), &key, &f));
    assert!(ok(VoteKind::Nullify, (3, 300), (0, Hash32::ZERO), &key, &x));
    // A nullify commits to the round alone: its proposal fields are ignored.
    assert!(ok(VoteKind::Nullify, (3, 300), (5, payload), &key, &x));

    assert!(!ok(VoteKind::Finalize, (3, 300), (298, payload), &key, &n), "a notarize is no finalize");
    assert!(!ok(VoteKind::Notarize, (3, 300), (298, payload), &key, &f), "a finalize is no notarize");
    assert!(!ok(VoteKind::Notarize, (3, 301), (298, payload), &key, &n), "another view");
    assert!(!ok(VoteKind::Notarize, (2, 300), (298, payload), &key, &n), "another epoch");
    assert!(!ok(VoteKind::Notarize, (3, 300), (297, payload), &key, &n), "another parent");
    assert!(!ok(VoteKind::Notarize, (3, 300), (298, Hash32([8; 32])), &key, &n), "another block");
    assert!(!ok(VoteKind::Notarize, (3, 300), (298, payload), &other, &n), "another validator");
    assert!(!ok(VoteKind::Nullify, (3, 299), (0, Hash32::ZERO), &key, &x), "another round");
    let other_chain = consensus_namespace(&Devnet::new("hunan-other", 4, 0, 3, 0, 0).genesis);
    assert!(!vote_is_signed(&other_chain, VoteKind::Notarize, (3, 300), (298, payload), &key, &n), "another chain");
    let garbage = Signature::new(KeyScheme::Ed25519, vec![0xFF; 64]).unwrap();
    assert!(!ok(VoteKind::Notarize, (3, 300), (298, payload), &key, &garbage));
}
