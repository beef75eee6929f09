//! State commitments: membership proofs against the state root, and snapshots.

mod common;

use common::*;
use trustmeter_state::state::StateValue;
use trustmeter_state::{SignatureVerdicts, State, StateKey, build_block, execute_block};
use trustmeter_types::{DeviceStatus, Hash32, Quantity, ReadingOutcome, TxPayload};

/// A chain with some readings recorded, so that every kind of entry exists.
fn busy() -> Fx {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 1, t, 1)), by_meter(&em_a2(), kwh(A_EM2, 1, t, 2))]);
    let b = fx.exec(vec![tx]);
    assert_eq!(b.output.receipts[0].readings, vec![ReadingOutcome::Accepted, ReadingOutcome::Accepted]);
    fx
}

#[test]
fn meter_proof_verifies_against_the_root_only() {
    let fx = busy();
    let root = fx.state.root();
    let key = StateKey::Meter(dev(A_EM1));
    let proof = fx.state.prove(&key).expect("the meter is in the state");
    assert!(proof.verify(SHA, &root));
    assert_eq!(proof.entry.key, key);
    match &proof.entry.value {
        StateValue::Meter(m) => assert_eq!(m, fx.state.meter(&dev(A_EM1)).unwrap()),
        other => panic!("unexpected value {other:?}"),
    }
    assert_eq!(proof.size as usize, fx.state.len());

    // Another root: a flipped bit, the zero hash, the root of an earlier state.
    let mut other = root;
    other.0[31] ^= 1;
    assert!(!proof.verify(SHA, &other));
    assert!(!proof.verify(SHA, &Hash32::ZERO));
    let earlier = fx.blocks[fx.blocks.len() - 2].header.state_root;
    assert_ne!(earlier, root);
    assert!(!proof.verify(SHA, &earlier));

    // An altered entry.
    let mut p = proof.clone();
    if let StateValue::Meter(m) = &mut p.entry.value {
        m.status = DeviceStatus::Revoked;
    }
    assert!(!p.verify(SHA, &root));
    let mut p = proof.clone();
    if let StateValue::Meter(m) = &mut p.entry.value {
        m.register_max = Quantity::from_micros(m.register_max.micros() + 1);
    }
    assert!(!p.verify(SHA, &root));
    let mut p = proof.clone();
    if let StateValue::Meter(m) = &mut p.entry.value {
        m.calibration = None;
    }
    assert!(!p.verify(SHA, &root));
    // The same value under another key.
    let mut p = proof.clone();
    p.entry.key = StateKey::Meter(dev(A_EM2));
    assert!(!p.verify(SHA, &root));
    // Altered position or path.
    let mut p = proof.clone();
    p.index ^= 1;
    assert!(!p.verify(SHA, &root));
    // (The claimed `size` is not bound by the root on its own: under RFC 9162 some paths also
    // verify with a larger size, so it is deliberately not tested here.)
    let mut p = proof.clone();
    p.path[0].0[0] ^= 1;
    assert!(!p.verify(SHA, &root));
    let mut p = proof.clone();
    p.path.pop();
    assert!(!p.verify(SHA, &root));

    // Absent keys have no proof.
    assert!(fx.state.prove(&StateKey::Meter(dev("NOPE-1"))).is_none());
    assert!(fx.state.prove(&StateKey::Gateway(dev(A_EM1))).is_none());
}

#[test]
fn every_entry_has_a_proof() {
    let fx = busy();
    let root = fx.state.root();
    let tree = fx.state.tree();
    assert_eq!(tree.root(), root);
    let mut keys = vec![
        StateKey::Organisation(org_regulator()),
        StateKey::Organisation(org_b()),
        StateKey::Account(ent_a().public_key()),
        StateKey::Nonce(gw_a1().public_key()),
        StateKey::Nonce(regulator().public_key()),
        StateKey::Gateway(dev(B_GW1)),
        StateKey::Progress(dev(A_EM1)),
        StateKey::Progress(dev(A_EM2)),
    ];
    keys.extend([A_EM1, A_EM2, A_PW3, A_WM4, B_EM1].iter().map(|m| StateKey::Meter(dev(m))));
    let mut indices = std::collections::BTreeSet::new();
    for k in &keys {
        let p = fx.state.prove(k).unwrap_or_else(|| panic!("{k:?} should be in the state"));
        assert!(p.verify(SHA, &root), "{k:?}");
        assert_eq!(fx.state.prove_with(&tree, k).as_ref(), Some(&p));
        assert!(indices.insert(p.index), "distinct entries have distinct positions");
    }
    match fx.state.prove(&StateKey::Nonce(gw_a1().public_key())).unwrap().entry.value {
        StateValue::Nonce(n) => assert_eq!(n, fx.state.nonce(&gw_a1().public_key())),
        other => panic!("unexpected value {other:?}"),
    }
}

#[test]
fn proofs_follow_state_changes() {
    let mut fx = busy();
    let key = StateKey::Meter(dev(A_EM1));
    let before = fx.state.prove(&key).unwrap();
    let revoke = fx.tx(&regulator(), TxPayload::RevokeDevice { device: dev(A_EM1), reason: "audit".into() });
    fx.exec(vec![revoke]);
    let after = fx.state.prove(&key).unwrap();
    assert!(!before.verify(SHA, &fx.state.root()), "the old entry is not in the new state");
    assert!(after.verify(SHA, &fx.state.root()));
    assert_ne!(before.entry, after.entry);
}

#[test]
fn state_root_depends_on_content_not_history() {
    // Two chains reach the same content through different transaction orders.
    let mut one = Fx::genesis_only(CHAIN);
    let mut two = Fx::genesis_only(CHAIN);
    let xa = one.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("X-1"), public_key: key(40).public_key() });
    let yb = one.tx(&ent_b(), TxPayload::RegisterGateway { id: dev("Y-1"), public_key: key(41).public_key() });
    let xa2 = two.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("X-1"), public_key: key(40).public_key() });
    let yb2 = two.tx(&ent_b(), TxPayload::RegisterGateway { id: dev("Y-1"), public_key: key(41).public_key() });
    one.exec(vec![xa, yb]);
    two.exec(vec![yb2]);
    two.exec(vec![xa2]);
    assert_eq!(one.state.root(), two.state.root());
    assert_eq!(one.state.len(), two.state.len());
    // ...and differs as soon as the content differs.
    let z = two.tx(&ent_a(), TxPayload::RegisterAccount { public_key: key(42).public_key() });
    two.exec(vec![z]);
    assert_ne!(one.state.root(), two.state.root());
}

#[test]
fn snapshot_restore_round_trips() {
    let mut fx = busy();
    let bytes = fx.state.snapshot();
    let restored = State::restore(&bytes).expect("a snapshot restores");
    assert_eq!(restored.root(), fx.state.root());
    assert_eq!(restored.len(), fx.state.len());
    assert_eq!(restored.chain_id, fx.state.chain_id);
    assert_eq!(restored.params, fx.state.params);
    assert_eq!(restored.height, fx.state.height);
    assert_eq!(restored.block_digest, fx.state.block_digest);
    assert_eq!(restored.timestamp_ms, fx.state.timestamp_ms);
    assert_eq!(restored.snapshot(), bytes);
    assert_eq!(restored.progress(&dev(A_EM1)), fx.state.progress(&dev(A_EM1)));

    // The restored state executes the next block exactly like the original.
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    // The first reading recorded by `busy`, resubmitted: the restored duplicate window knows it.
    let recorded = match &fx.blocks.last().unwrap().txs[0].body.payload {
        TxPayload::SubmitReadings { readings, .. } => readings[0].clone(),
        _ => unreachable!(),
    };
    let tx =
        fx.submit(&g, A_GW1, vec![recorded, by_gateway(&g, kwh(A_EM1, 1, t, 9)), by_gateway(&g, kwh(A_EM1, 2, t, 2))]);
    let ctx = trustmeter_state::exec::BlockContext { epoch: 2, view: 9, timestamp_ms: fx.next_ts() };
    let (b1, o1) = build_block(&fx.state, &ctx, vec![tx.clone()], &SignatureVerdicts::none());
    let (b2, o2) = build_block(&restored, &ctx, vec![tx], &SignatureVerdicts::none());
    assert_eq!(b1, b2);
    assert_eq!(o1.receipts, o2.receipts);
    assert_eq!(
        o1.receipts[0].readings,
        vec![ReadingOutcome::Duplicate, o1.receipts[0].readings[1].clone(), ReadingOutcome::Accepted]
    );
    assert!(
        matches!(&o1.receipts[0].readings[1], ReadingOutcome::Rejected(r) if r.code == trustmeter_types::RejectCode::SequenceConflict)
    );
    assert!(execute_block(&restored, &b1, &SignatureVerdicts::none()).is_ok());

    // Corrupt snapshots are refused.
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(State::restore(&trailing).is_err());
    assert!(State::restore(&bytes[..bytes.len() - 1]).is_err());
    assert!(State::restore(&[]).is_err());
}

#[test]
fn genesis_state_snapshot_round_trips() {
    let fx = Fx::genesis_only(CHAIN);
    let restored = State::restore(&fx.state.snapshot()).unwrap();
    assert_eq!(restored.root(), fx.state.root());
    assert_eq!(restored.root(), fx.blocks[0].header.state_root);
    assert_eq!(restored.block_digest, fx.state.block_digest);
}
