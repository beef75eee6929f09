//! Key rotation (密钥轮换): who may rotate, the proof of possession, and that readings stamped
//! before a rotation still verify with the retired key while later ones need the new key.

use crate::common::*;
use trustmeter_crypto::SigningKey;
use trustmeter_types::limits::MAX_RETIRED_KEYS;
use trustmeter_types::{ChainId, ReadingOutcome, RejectCode, TxPayload, rotation_proof_payload};

/// A rotation payload for `device` to `new`, with a proof of possession for `chain`.
fn rotation(chain: &str, device: &str, new: &SigningKey) -> TxPayload {
    let chain = ChainId::new(chain).unwrap();
    let device = dev(device);
    let proof = new.sign(&rotation_proof_payload(&chain, &device, &new.public_key()));
    TxPayload::RotateKey { device, new_public_key: new.public_key(), proof }
}

#[test]
fn a_gateway_rotates_its_own_key_and_its_backlog_still_verifies() {
    let mut fx = Fx::ready();
    let old = gw_a1();
    let new = key(201);
    // Readings collected (and signed with the old key) before the rotation, still unsent.
    let t_before = fx.next_ts() - 10;
    let backlog = vec![by_gateway(&old, kwh(A_EM1, 1, t_before, 10))];

    // The gateway rotates with its current key as sender.
    let rotate = fx.tx(&old, rotation(CHAIN, A_GW1, &new));
    let b = fx.exec(vec![rotate]);
    assert_tx_accepted(b.receipt(0));
    let rotated_at = b.block.header.timestamp_ms;
    let gw = fx.state.gateway(&dev(A_GW1)).unwrap().clone();
    assert_eq!(gw.public_key, new.public_key());
    assert_eq!(gw.retired_keys.len(), 1);
    assert_eq!(gw.retired_keys[0].public_key, old.public_key());
    assert_eq!(gw.retired_keys[0].retired_at_ms, rotated_at);
    let before = gw.keys_at(rotated_at - 1);
    assert_eq!(before.iter().collect::<Vec<_>>(), vec![&old.public_key(), &new.public_key()]);
    assert_eq!(gw.keys_at(rotated_at).iter().collect::<Vec<_>>(), vec![&new.public_key()]);

    // A batch sent with the old key is refused as a whole: the sender must be the current key.
    let stale_sender = fx.submit(&old, A_GW1, backlog.clone());
    let b = fx.exec(vec![stale_sender]);
    let msg = assert_tx_rejected(b.receipt(0), RejectCode::UnknownSender);
    assert!(msg.contains("registered key"), "{msg}");

    // The backlog, sent with the new key, is accepted: the readings predate the rotation.
    let t_after = fx.next_ts();
    let batch = vec![
        backlog[0].clone(),
        // Stamped before the rotation but signed with the new key: a gateway sending to two chains
        // switches keys before both have recorded the rotation.
        by_gateway(&new, kwh(A_EM1, 2, t_before + 1, 11)),
        // Stamped after the rotation but signed with the retired key: forged or stale.
        by_gateway(&old, kwh(A_EM1, 3, t_after, 12)),
        by_gateway(&new, kwh(A_EM1, 4, t_after, 13)),
    ];
    let tx = fx.submit(&new, A_GW1, batch);
    let b = fx.exec(vec![tx]);
    assert_tx_accepted(b.receipt(0));
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
    assert_eq!(b.reading(0, 1), &ReadingOutcome::Accepted);
    let msg = assert_reading_rejected(b.reading(0, 2), RejectCode::BadReadingSignature);
    assert!(msg.contains("does not verify"), "{msg}");
    assert_eq!(b.reading(0, 3), &ReadingOutcome::Accepted);
    // A key that was never this gateway's signs nothing, whatever the time.
    let t = fx.next_ts();
    let tx = fx.submit(&new, A_GW1, vec![by_gateway(&key(205), kwh(A_EM1, 5, t, 14))]);
    assert_reading_rejected(fx.exec(vec![tx]).reading(0, 0), RejectCode::BadReadingSignature);
}

#[test]
fn an_enterprise_rotates_a_meter_key() {
    let mut fx = Fx::ready();
    let old = em_a2();
    let new = key(202);
    let t_before = fx.next_ts() - 10;
    let early = by_meter(&old, kwh(A_EM2, 1, t_before, 5));
    let tx = fx.tx(&ent_a(), rotation(CHAIN, A_EM2, &new));
    let b = fx.exec(vec![tx]);
    assert_tx_accepted(b.receipt(0));
    let m = fx.state.meter(&dev(A_EM2)).unwrap().clone();
    assert_eq!(m.public_key, Some(new.public_key()));
    assert_eq!(m.retired_keys[0].public_key, old.public_key());

    let t = fx.next_ts();
    let tx = fx.submit(
        &gw_a1(),
        A_GW1,
        vec![early, by_meter(&old, kwh(A_EM2, 2, t, 6)), by_meter(&new, kwh(A_EM2, 3, t, 7))],
    );
    let b = fx.exec(vec![tx]);
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
    assert_reading_rejected(b.reading(0, 1), RejectCode::BadReadingSignature);
    assert_eq!(b.reading(0, 2), &ReadingOutcome::Accepted);
    // The retired key can never be registered again, for any device.
    let reuse = fx.tx(&ent_a(), rotation(CHAIN, A_GW2, &old));
    let b = fx.exec(vec![reuse]);
    assert_tx_rejected(b.receipt(0), RejectCode::AlreadyRegistered);
}

#[test]
fn rotations_are_refused_with_reasons() {
    let mut fx = Fx::ready();
    let new = key(203);
    let chain = ChainId::new(CHAIN).unwrap();

    // A proof made by another key than the one being installed.
    let forged = {
        let device = dev(A_GW1);
        let proof = key(204).sign(&rotation_proof_payload(&chain, &device, &new.public_key()));
        TxPayload::RotateKey { device, new_public_key: new.public_key(), proof }
    };
    // A proof made for another chain (replay of a national-chain rotation on this one).
    let other_chain = rotation("national-1", A_GW1, &new);
    let cases: Vec<(SigningKey, TxPayload, RejectCode, &str)> = vec![
        (gw_a1(), forged, RejectCode::BadTxSignature, "proof of possession"),
        (gw_a1(), other_chain, RejectCode::BadTxSignature, "proof of possession"),
        // Another enterprise may not rotate A's devices; nor may one gateway rotate another.
        (ent_b(), rotation(CHAIN, A_GW1, &new), RejectCode::NotAuthorised, "may rotate"),
        (regulator(), rotation(CHAIN, A_EM1, &new), RejectCode::NotAuthorised, "may rotate"),
        // A meter signed for by its gateway has no key to rotate.
        (ent_a(), rotation(CHAIN, A_EM1, &new), RejectCode::WrongSigner, "no key of its own"),
        // A key already registered elsewhere.
        (ent_a(), rotation(CHAIN, A_GW1, &gw_b1()), RejectCode::AlreadyRegistered, "already registered"),
        (ent_a(), rotation(CHAIN, "A-NOPE", &new), RejectCode::UnknownDevice, "not registered"),
    ];
    for (sender, payload, code, words) in cases {
        let tx = fx.tx(&sender, payload);
        let b = fx.exec(vec![tx]);
        let msg = assert_tx_rejected(b.receipt(0), code);
        assert!(msg.contains(words), "{code:?}: {msg}");
    }
    // A gateway may not rotate another gateway's key (it is no account, so it is an unknown sender).
    let tx = fx.tx(&gw_a2(), rotation(CHAIN, A_GW1, &new));
    let b = fx.exec(vec![tx]);
    assert_tx_rejected(b.receipt(0), RejectCode::UnknownSender);
    // A revoked device stays revoked.
    let tx = fx.tx(&regulator(), TxPayload::RevokeDevice { device: dev(A_GW2), reason: "stolen".into() });
    assert_tx_accepted(fx.exec(vec![tx]).receipt(0));
    let tx = fx.tx(&ent_a(), rotation(CHAIN, A_GW2, &new));
    let b = fx.exec(vec![tx]);
    assert_tx_rejected(b.receipt(0), RejectCode::InvalidTransition);
    // Nothing changed.
    assert_eq!(fx.state.gateway(&dev(A_GW1)).unwrap().public_key, gw_a1().public_key());
}

#[test]
fn retired_keys_are_bounded() {
    let mut fx = Fx::ready();
    let mut current = gw_a1();
    for i in 0..(MAX_RETIRED_KEYS + 3) {
        let next = key(150 + i as u8);
        let tx = fx.tx(&current, rotation(CHAIN, A_GW1, &next));
        assert_tx_accepted(fx.exec(vec![tx]).receipt(0));
        current = next;
    }
    let gw = fx.state.gateway(&dev(A_GW1)).unwrap();
    assert_eq!(gw.retired_keys.len(), MAX_RETIRED_KEYS);
    assert!(gw.retired_keys.windows(2).all(|w| w[0].retired_at_ms <= w[1].retired_at_ms));
    // The oldest retired keys are forgotten; the latest retired key is the previous current one.
    assert_eq!(gw.retired_keys.last().unwrap().public_key, key(150 + MAX_RETIRED_KEYS as u8 + 1).public_key());
    assert_eq!(gw.public_key, current.public_key());
}
