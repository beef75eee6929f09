//! Every admission rule of the state machine, exercised through `build_block` / `execute_block`
//! on a real genesis with real signatures. Each rejection is checked for its `RejectCode` and for
//! a message a person can act on; every block is re-executed independently (with and without
//! batch-verified signatures) by the fixture before the chain advances.

use crate::common::*;
use trustmeter_crypto::{merkle, reading_leaf};
use trustmeter_types::{
    Calibration, ChainId, DeviceId, DeviceStatus, Quantity, ReadingOrigin, ReadingOutcome, RejectCode, TxPayload,
    UnifiedSocialCreditCode, Unit,
};

// ---------------------------------------------------------------------------------------------
// Fixture sanity
// ---------------------------------------------------------------------------------------------

#[test]
fn fixture_codes_genesis_and_devices_are_valid() {
    for n in [1, 2, 3, 4, 12_345] {
        let c = uscc(n);
        assert_eq!(c.as_str().len(), 18);
        assert!(c.as_str().starts_with("91430100MA4L"));
        assert!(UnifiedSocialCreditCode::new(c.as_str()).is_ok());
        // Any other check character is refused.
        let wrong = if c.as_str().ends_with('0') { '1' } else { '0' };
        assert!(UnifiedSocialCreditCode::new(format!("{}{wrong}", &c.as_str()[..17])).is_err());
    }
    let fx = Fx::ready();
    assert_eq!(fx.state.height, 3);
    for (g, owner) in [(A_GW1, org_a()), (A_GW2, org_a()), (B_GW1, org_b())] {
        let g = fx.state.gateway(&dev(g)).expect("gateway registered");
        assert_eq!(g.status, DeviceStatus::Active);
        assert_eq!(g.owner, owner);
    }
    for (m, owner) in [(A_EM1, org_a()), (A_EM2, org_a()), (A_PW3, org_a()), (A_WM4, org_a()), (B_EM1, org_b())] {
        let m = fx.state.meter(&dev(m)).expect("meter registered");
        assert_eq!(m.status, DeviceStatus::Active);
        assert_eq!(m.owner, owner);
        assert!(m.calibration.is_some());
    }
    assert_eq!(fx.state.meter(&dev(A_EM2)).unwrap().public_key, Some(em_a2().public_key()));
    assert_eq!(fx.state.meter(&dev(A_EM1)).unwrap().public_key, None);
}

// ---------------------------------------------------------------------------------------------
// Transaction admission
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_sender_is_rejected_and_changes_nothing() {
    let mut fx = Fx::ready();
    let root = fx.empty_block_root();
    let t = fx.state.timestamp_ms;
    let s = stranger();
    let txs = vec![
        // A key that is no account sends a registry transaction.
        fx.tx(&s, TxPayload::RegisterGateway { id: dev("X-GW"), public_key: key(50).public_key() }),
        fx.tx(&s, fx.new_account(&s, &key(51))),
        // A reading batch for a real gateway signed with a key that is not the gateway's.
        fx.submit(&s, A_GW1, vec![by_gateway(&s, kwh(A_EM1, 1, t, 10))]),
        // Even the owning enterprise's account may not send its gateway's batches.
        fx.submit(&ent_a(), A_GW1, vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, t, 10))]),
        // Another gateway's key.
        fx.submit(&gw_b1(), A_GW1, vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, t, 10))]),
    ];
    let b = fx.exec(txs);
    for i in 0..5 {
        assert_tx_rejected(b.receipt(i), RejectCode::UnknownSender);
    }
    assert!(fx.state.gateway(&dev("X-GW")).is_none());
    assert!(fx.state.account_org(&key(51).public_key()).is_none());
    assert!(fx.state.progress(&dev(A_EM1)).is_none());
    assert_eq!(fx.state.nonce(&s.public_key()), 0, "an unknown sender has no nonce to consume");
    assert_eq!(b.block.header.readings_accepted, 0);
    assert_eq!(fx.state.root(), root, "rejections of unknown senders change nothing an empty block would not");
}

#[test]
fn an_enterprise_names_devices_only_under_its_own_credit_code() {
    let mut fx = Fx::ready();
    let raw = |s: String| DeviceId::new(s).unwrap();
    let (a, b) = (org_a().to_string(), org_b().to_string());
    // A valid code whose check character is wrong: the first 17 characters of A's and another last.
    let bad_check = format!("{}{}", &a[..17], if a.ends_with('0') { '1' } else { '0' });
    let attempts = [
        raw(format!("{b}-GW7")),                 // B's code
        raw(format!("{}-GW7", org_regulator())), // the regulator's code (tried from outside)
        raw(format!("{bad_check}-GW7")),         // a code with a wrong check character
        raw("GW7".into()),                       // no code at all
        raw(format!("{a}-")),                    // A's code with no local id
        raw(format!("{a}GW7")),                  // no separator
    ];
    let mut txs: Vec<_> = attempts
        .iter()
        .map(|id| fx.tx(&ent_a(), TxPayload::RegisterGateway { id: id.clone(), public_key: key(70).public_key() }))
        .collect();
    // A meter under B's code on A's own gateway, then the same under A's code (accepted).
    txs.push(fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter(&format!("{b}-EM7"), A_GW1) }));
    txs.push(
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: raw(format!("{a}-GW7")), public_key: key(70).public_key() }),
    );
    txs.push(fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter(&format!("{a}-EM7"), A_GW1) }));
    let b_block = fx.exec(txs);
    for (i, id) in attempts.iter().enumerate() {
        let msg = assert_tx_rejected(b_block.receipt(i), RejectCode::DeviceIdNotOwned);
        assert!(msg.contains(id.as_str()) && msg.contains(&format!("{a}-<local id>")), "{msg}");
        assert!(fx.state.gateway(id).is_none());
    }
    let msg = assert_tx_rejected(b_block.receipt(attempts.len()), RejectCode::DeviceIdNotOwned);
    assert!(msg.contains(&format!("named under {b}")), "{msg}");
    assert!(fx.state.meter(&raw(format!("{b}-EM7"))).is_none());
    assert_tx_accepted(b_block.receipt(attempts.len() + 1));
    assert_tx_accepted(b_block.receipt(attempts.len() + 2));
    assert_eq!(fx.state.meter(&raw(format!("{a}-EM7"))).unwrap().owner, org_a());
}

#[test]
fn replayed_transactions_are_stale_nonces() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;

    // Accepted once, refused when replayed in a later block.
    let reg = fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("A-GW9"), public_key: key(60).public_key() });
    assert_tx_accepted(fx.exec(vec![reg.clone()]).receipt(0));
    let root = fx.state.root();
    let empty = fx.empty_block_root();
    assert_ne!(empty, root, "every block records its validator activity");
    let b = fx.exec(vec![reg.clone()]);
    let msg = assert_tx_rejected(b.receipt(0), RejectCode::StaleNonce);
    assert!(msg.contains("nonce"), "{msg}");
    assert_eq!(fx.state.root(), empty, "a replay changes nothing an empty block would not");

    // The same transaction twice in one block.
    let acc = fx.tx(&ent_a(), fx.new_account(&ent_a(), &key(61)));
    let b = fx.exec(vec![acc.clone(), acc.clone()]);
    assert_tx_accepted(b.receipt(0));
    assert_tx_rejected(b.receipt(1), RejectCode::StaleNonce);

    // A fresh body with an old nonce, and with the current nonce.
    let last = fx.state.nonce(&ent_a().public_key());
    assert!(last >= 2);
    let old = fx.tx_with_nonce(&ent_a(), 1, fx.new_account(&ent_a(), &key(62)));
    let same = fx.tx_with_nonce(&ent_a(), last, fx.new_account(&ent_a(), &key(63)));
    let b = fx.exec(vec![old, same]);
    assert_tx_rejected(b.receipt(0), RejectCode::StaleNonce);
    assert_tx_rejected(b.receipt(1), RejectCode::StaleNonce);
    assert!(fx.state.account_org(&key(62).public_key()).is_none());
    assert!(fx.state.account_org(&key(63).public_key()).is_none());

    // A rejected (unauthorised) transaction still consumes its nonce, so it cannot be replayed.
    let act = fx.tx(&ent_a(), TxPayload::ActivateDevice { device: dev("A-GW9") });
    assert_tx_rejected(fx.exec(vec![act.clone()]).receipt(0), RejectCode::NotAuthorised);
    assert_eq!(fx.state.nonce(&ent_a().public_key()), act.body.nonce);
    assert_tx_rejected(fx.exec(vec![act]).receipt(0), RejectCode::StaleNonce);

    // Gateways have nonces too: a replayed reading batch is refused as a whole.
    let batch = fx.submit(&gw_a1(), A_GW1, vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, t, 10))]);
    let b = fx.exec(vec![batch.clone()]);
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
    let b = fx.exec(vec![batch]);
    assert_tx_rejected(b.receipt(0), RejectCode::StaleNonce);
    assert_eq!(b.block.header.readings_accepted, 0);
}

#[test]
fn transaction_signed_for_another_chain_is_never_included() {
    let mut home = Fx::ready_on("hunan-1");
    let mut other = Fx::ready_on("national-1");
    // Same organisations and keys on both chains; a transaction accepted on one...
    let tx = home.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("A-GW9"), public_key: key(60).public_key() });
    assert_tx_accepted(home.exec(vec![tx.clone()]).receipt(0));
    // ...is refused on the other even though its nonce would be fresh there.
    assert_eq!(other.state.nonce(&ent_a().public_key()), home.state.nonce(&ent_a().public_key()) - 1);
    assert_never_included(&mut other, &tx, RejectCode::WrongChain);
    // Re-labelling the chain id breaks the signature.
    let mut relabelled = tx.clone();
    relabelled.body.chain_id = ChainId::new("national-1").unwrap();
    assert_never_included(&mut other, &relabelled, RejectCode::BadTxSignature);
    assert!(other.state.gateway(&dev("A-GW9")).is_none());
}

#[test]
fn bad_transaction_signature_is_never_included() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let tx = fx.tx(&ent_a(), fx.new_account(&ent_a(), &key(70)));

    let mut flipped = tx.clone();
    flipped.signature.bytes[7] ^= 0x01;
    assert_never_included(&mut fx, &flipped, RejectCode::BadTxSignature);

    let mut altered = tx.clone();
    altered.body.nonce += 1;
    assert_never_included(&mut fx, &altered, RejectCode::BadTxSignature);

    // Signed by B, claiming A as the sender.
    let mut impostor = fx.tx(&ent_b(), fx.new_account(&ent_b(), &key(71)));
    impostor.body.sender = ent_a().public_key();
    assert_never_included(&mut fx, &impostor, RejectCode::BadTxSignature);

    // A reading batch whose readings were changed after the gateway signed the transaction.
    let mut batch = fx.submit(&gw_a1(), A_GW1, vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, t, 10))]);
    if let TxPayload::SubmitReadings { readings, .. } = &mut batch.body.payload {
        readings.push(by_gateway(&gw_a1(), kwh(A_EM1, 2, t, 11)));
    }
    assert_never_included(&mut fx, &batch, RejectCode::BadTxSignature);

    // The untouched transaction is fine.
    assert_tx_accepted(fx.exec(vec![tx]).receipt(0));
}

// ---------------------------------------------------------------------------------------------
// Registry rules
// ---------------------------------------------------------------------------------------------

#[test]
fn roles_are_enforced() {
    let mut fx = Fx::ready();
    let before_cal = fx.state.meter(&dev(A_EM1)).unwrap().calibration.clone();
    let foreign_cal = |issuer| Calibration { issuer, ..calibration("X-1", CAL_FROM, CAL_UNTIL) };
    let txs = vec![
        // 0: an enterprise records a calibration (in the authority's name, and in its own).
        fx.tx(
            &ent_a(),
            TxPayload::RecordCalibration { meter: dev(A_EM1), calibration: calibration("X-1", CAL_FROM, CAL_UNTIL) },
        ),
        fx.tx(&ent_a(), TxPayload::RecordCalibration { meter: dev(A_EM1), calibration: foreign_cal(org_a()) }),
        // 2: the authority records a certificate in another issuer's name.
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration { meter: dev(A_EM1), calibration: foreign_cal(org_regulator()) },
        ),
        // 3: the metrology authority registers a gateway; the regulator a meter.
        fx.tx(&metrology(), TxPayload::RegisterGateway { id: dev("M-GW"), public_key: key(80).public_key() }),
        fx.tx(&regulator(), TxPayload::RegisterMeter { meter: kwh_meter("R-EM", A_GW1) }),
        // 5: A registers a gateway (accepted), then A and the authority try to activate it.
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("A-GW9"), public_key: key(81).public_key() }),
        fx.tx(&ent_a(), TxPayload::ActivateDevice { device: dev("A-GW9") }),
        fx.tx(&metrology(), TxPayload::ActivateDevice { device: dev("A-GW9") }),
        // 8: B revokes A's meter and gateway; the authority revokes A's meter.
        fx.tx(&ent_b(), TxPayload::RevokeDevice { device: dev(A_EM1), reason: "not ours but let's try".into() }),
        fx.tx(&ent_b(), TxPayload::RevokeDevice { device: dev(A_GW1), reason: "competitor".into() }),
        fx.tx(&metrology(), TxPayload::RevokeDevice { device: dev(A_EM1), reason: "overdue".into() }),
    ];
    let b = fx.exec(txs);
    for i in [0, 1, 2, 3, 4, 6, 7, 8, 9, 10] {
        assert_tx_rejected(b.receipt(i), RejectCode::NotAuthorised);
    }
    assert_tx_accepted(b.receipt(5));
    assert_eq!(fx.state.meter(&dev(A_EM1)).unwrap().calibration, before_cal);
    assert!(fx.state.gateway(&dev("M-GW")).is_none());
    assert!(fx.state.meter(&dev("R-EM")).is_none());
    assert_eq!(fx.state.gateway(&dev("A-GW9")).unwrap().status, DeviceStatus::Registered);
    assert_eq!(fx.state.meter(&dev(A_EM1)).unwrap().status, DeviceStatus::Active);
    assert_eq!(fx.state.gateway(&dev(A_GW1)).unwrap().status, DeviceStatus::Active);

    // The right roles succeed.
    let txs = vec![
        fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev("A-GW9") }),
        fx.tx(&ent_a(), TxPayload::RevokeDevice { device: dev(A_PW3), reason: "decommissioned".into() }),
        fx.tx(&regulator(), TxPayload::RevokeDevice { device: dev(B_EM1), reason: "tampering found".into() }),
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration { meter: dev(A_EM1), calibration: calibration("JD-NEW", T0, CAL_UNTIL) },
        ),
    ];
    let b = fx.exec(txs);
    for r in &b.output.receipts {
        assert_tx_accepted(r);
    }
    assert_eq!(fx.state.gateway(&dev("A-GW9")).unwrap().status, DeviceStatus::Active);
    assert_eq!(fx.state.meter(&dev(A_PW3)).unwrap().status, DeviceStatus::Revoked);
    assert_eq!(fx.state.meter(&dev(B_EM1)).unwrap().status, DeviceStatus::Revoked);
    assert_eq!(fx.state.meter(&dev(A_EM1)).unwrap().calibration.as_ref().unwrap().certificate_no, "JD-NEW");
}

#[test]
fn already_registered_ids_and_keys_are_refused() {
    let mut fx = Fx::ready();
    let em2 = em_a2();
    let txs = vec![
        // Device ids in use, by the same or another enterprise, gateway or meter.
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev(A_GW1), public_key: key(81).public_key() }),
        fx.tx(&ent_b(), TxPayload::RegisterMeter { meter: kwh_meter(B_GW1, B_GW1) }),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter(A_GW2, A_GW1) }),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter(A_EM1, A_GW1) }),
        // Keys in use: a gateway's, an account's, a meter's.
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("A-GW9"), public_key: gw_b1().public_key() }),
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("A-GW8"), public_key: regulator().public_key() }),
        fx.tx(
            &ent_a(),
            TxPayload::RegisterMeter {
                meter: meter_spec(
                    "A-EM9",
                    A_GW1,
                    trustmeter_types::EnergyKind::Electricity,
                    Unit::KilowattHour,
                    Some(&em2),
                ),
            },
        ),
        fx.tx(&ent_b(), fx.new_account(&ent_b(), &ent_a())),
        fx.tx(&ent_a(), fx.new_account(&ent_a(), &gw_a1())),
        fx.tx(&ent_a(), fx.new_account(&ent_a(), &em2)),
    ];
    let b = fx.exec(txs);
    for i in 0..10 {
        assert_tx_rejected(b.receipt(i), RejectCode::AlreadyRegistered);
    }
    assert_eq!(fx.state.gateway(&dev(A_GW1)).unwrap().public_key, gw_a1().public_key());
    assert!(fx.state.gateway(&dev(A_EM1)).is_none());
    assert!(fx.state.meter(&dev(A_GW2)).is_none());
    assert_eq!(fx.state.meter(&dev(A_EM1)).unwrap().calibration.as_ref().unwrap().certificate_no, "JD-A-EM1");
    assert!(fx.state.gateway(&dev("A-GW9")).is_none());
    assert!(fx.state.gateway(&dev("A-GW8")).is_none());
    assert!(fx.state.meter(&dev("A-EM9")).is_none());
    assert_eq!(fx.state.account_org(&ent_a().public_key()), Some(org_a()));
    assert!(fx.state.account_org(&gw_a1().public_key()).is_none());
}

#[test]
fn unknown_devices_are_refused() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let txs = vec![
        fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev("NOPE-1") }),
        fx.tx(&regulator(), TxPayload::RevokeDevice { device: dev("NOPE-1"), reason: "none".into() }),
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration {
                meter: dev("NOPE-1"),
                calibration: calibration("JD-9", CAL_FROM, CAL_UNTIL),
            },
        ),
        // Calibrating a gateway: it is not a meter.
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration { meter: dev(A_GW1), calibration: calibration("JD-9", CAL_FROM, CAL_UNTIL) },
        ),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter("A-EM9", "NOPE-GW") }),
        // A batch for a gateway that does not exist.
        fx.submit(&gw_a1(), "NOPE-GW", vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, t, 10))]),
        // A batch naming an unknown meter, next to a valid reading.
        fx.submit(
            &gw_a1(),
            A_GW1,
            vec![by_gateway(&gw_a1(), kwh("NOPE-M", 1, t, 10)), by_gateway(&gw_a1(), kwh(A_EM1, 1, t, 10))],
        ),
    ];
    let b = fx.exec(txs);
    for i in 0..6 {
        assert_tx_rejected(b.receipt(i), RejectCode::UnknownDevice);
    }
    assert_tx_accepted(b.receipt(6));
    assert_reading_rejected(b.reading(6, 0), RejectCode::UnknownDevice);
    assert_eq!(b.reading(6, 1), &ReadingOutcome::Accepted);
    assert!(fx.state.meter(&dev("A-EM9")).is_none());
    assert!(fx.state.meter(&dev("NOPE-1")).is_none());
    assert_eq!(b.block.header.readings_accepted, 1);
}

#[test]
fn devices_follow_their_lifecycle() {
    let mut fx = Fx::ready();
    let txs = vec![
        // Active -> Active.
        fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev(A_EM1) }),
        // Revoke, then revoke again, re-activate, re-calibrate.
        fx.tx(&ent_a(), TxPayload::RevokeDevice { device: dev(A_GW2), reason: "replaced".into() }),
        fx.tx(&ent_a(), TxPayload::RevokeDevice { device: dev(A_GW2), reason: "replaced".into() }),
        fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev(A_GW2) }),
        fx.tx(&regulator(), TxPayload::RevokeDevice { device: dev(A_WM4), reason: "broken".into() }),
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration { meter: dev(A_WM4), calibration: calibration("JD-9", CAL_FROM, CAL_UNTIL) },
        ),
        // A new meter on a revoked gateway.
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter("A-EM9", A_GW2) }),
    ];
    let b = fx.exec(txs);
    assert_tx_rejected(b.receipt(0), RejectCode::InvalidTransition);
    assert_tx_accepted(b.receipt(1));
    assert_tx_rejected(b.receipt(2), RejectCode::InvalidTransition);
    assert_tx_rejected(b.receipt(3), RejectCode::InvalidTransition);
    assert_tx_accepted(b.receipt(4));
    assert_tx_rejected(b.receipt(5), RejectCode::InvalidTransition);
    assert_tx_rejected(b.receipt(6), RejectCode::InvalidTransition);
    assert_eq!(fx.state.gateway(&dev(A_GW2)).unwrap().status, DeviceStatus::Revoked);
    assert_eq!(fx.state.meter(&dev(A_WM4)).unwrap().calibration.as_ref().unwrap().certificate_no, "JD-A-WM4");
    assert!(fx.state.meter(&dev("A-EM9")).is_none());
}

// ---------------------------------------------------------------------------------------------
// Reading rules
// ---------------------------------------------------------------------------------------------

#[test]
fn batches_of_an_inactive_gateway_are_refused() {
    let mut fx = Fx::ready();
    let gw9 = key(90);
    // A gateway that is registered but not activated, with an active, calibrated meter.
    let txs = vec![
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("A-GW9"), public_key: gw9.public_key() }),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter("A-EM9", "A-GW9") }),
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration { meter: dev("A-EM9"), calibration: calibration("JD-9", CAL_FROM, CAL_UNTIL) },
        ),
        fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev("A-EM9") }),
    ];
    for r in &fx.exec(txs).output.receipts {
        assert_tx_accepted(r);
    }
    let t = fx.state.timestamp_ms;
    let batch = fx.submit(&gw9, "A-GW9", vec![by_gateway(&gw9, kwh("A-EM9", 1, t, 1))]);
    let b = fx.exec(vec![batch.clone()]);
    assert_tx_rejected(b.receipt(0), RejectCode::GatewayNotActive);
    assert!(fx.state.progress(&dev("A-EM9")).is_none());
    assert_eq!(fx.state.nonce(&gw9.public_key()), batch.body.nonce, "the gateway's nonce is consumed");

    // A revoked gateway.
    let revoke = fx.tx(&regulator(), TxPayload::RevokeDevice { device: dev(A_GW2), reason: "seal broken".into() });
    let t = fx.state.timestamp_ms;
    let batch = fx.submit(&gw_a2(), A_GW2, vec![by_gateway(&gw_a2(), reading(A_WM4, 1, t, 5, Unit::CubicMetre))]);
    let b = fx.exec(vec![revoke, batch]);
    assert_tx_accepted(b.receipt(0));
    assert_tx_rejected(b.receipt(1), RejectCode::GatewayNotActive);
    assert!(fx.state.progress(&dev(A_WM4)).is_none());
    assert_eq!(b.block.header.readings_accepted, 0);

    // Once activated, the first gateway's readings go through.
    let act = fx_activate(&mut fx, "A-GW9");
    assert_tx_accepted(fx.exec(vec![act]).receipt(0));
    let t = fx.state.timestamp_ms;
    let batch = fx.submit(&gw9, "A-GW9", vec![by_gateway(&gw9, kwh("A-EM9", 1, t, 1))]);
    assert_eq!(fx.exec(vec![batch]).reading(0, 0), &ReadingOutcome::Accepted);
}

fn fx_activate(fx: &mut Fx, device: &str) -> trustmeter_types::Transaction {
    fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev(device) })
}

#[test]
fn readings_of_an_inactive_meter_are_refused() {
    let mut fx = Fx::ready();
    let txs = vec![
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter("A-EM9", A_GW1) }),
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration { meter: dev("A-EM9"), calibration: calibration("JD-9", CAL_FROM, CAL_UNTIL) },
        ),
    ];
    fx.exec(txs);
    let t = fx.state.timestamp_ms;
    let batch = fx.submit(
        &gw_a1(),
        A_GW1,
        vec![by_gateway(&gw_a1(), kwh("A-EM9", 1, t, 1)), by_gateway(&gw_a1(), kwh(A_EM1, 1, t, 1))],
    );
    let b = fx.exec(vec![batch]);
    let msg = assert_reading_rejected(b.reading(0, 0), RejectCode::MeterNotActive);
    assert!(msg.contains("A-EM9"), "{msg}");
    assert_eq!(b.reading(0, 1), &ReadingOutcome::Accepted);
    assert!(fx.state.progress(&dev("A-EM9")).is_none());

    let act = fx_activate(&mut fx, "A-EM9");
    let t = fx.state.timestamp_ms;
    let batch = fx.submit(&gw_a1(), A_GW1, vec![by_gateway(&gw_a1(), kwh("A-EM9", 1, t, 1))]);
    let b = fx.exec(vec![act, batch]);
    assert_eq!(b.reading(1, 0), &ReadingOutcome::Accepted, "activation takes effect within the block");
}

#[test]
fn revoked_meter_readings_are_refused_from_the_revocation_on() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let first = fx.submit(&gw_a1(), A_GW1, vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, t, 10))]);
    let revoke = fx.tx(&ent_a(), TxPayload::RevokeDevice { device: dev(A_EM1), reason: "meter replaced".into() });
    let later = fx.submit(
        &gw_a1(),
        A_GW1,
        vec![by_gateway(&gw_a1(), kwh(A_EM1, 2, t, 11)), by_gateway(&gw_a1(), kwh(B_EM1, 1, t, 1))],
    );
    let b = fx.exec(vec![first, revoke, later]);
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted, "readings before the revocation stand");
    assert_tx_accepted(b.receipt(1));
    assert_reading_rejected(b.reading(2, 0), RejectCode::MeterNotActive);
    assert_eq!(fx.state.progress(&dev(A_EM1)).unwrap().accepted, 1);

    // In later blocks too, and the revocation is final.
    let t = fx.state.timestamp_ms;
    let batch = fx.submit(&gw_a1(), A_GW1, vec![by_gateway(&gw_a1(), kwh(A_EM1, 3, t, 12))]);
    let react = fx_activate(&mut fx, A_EM1);
    let b = fx.exec(vec![batch, react]);
    assert_reading_rejected(b.reading(0, 0), RejectCode::MeterNotActive);
    assert_tx_rejected(b.receipt(1), RejectCode::InvalidTransition);
    assert_eq!(fx.state.meter(&dev(A_EM1)).unwrap().status, DeviceStatus::Revoked);
}

#[test]
fn meter_of_another_gateway_or_enterprise_is_not_owned() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let batch = fx.submit(
        &g,
        A_GW1,
        vec![
            // B's meter, through A's gateway.
            by_gateway(&g, kwh(B_EM1, 1, t, 1)),
            // A's own meter, but attached to A's other gateway.
            by_gateway(&g, reading(A_WM4, 1, t, 1, Unit::CubicMetre)),
            // A's meter attached to this gateway.
            by_gateway(&g, kwh(A_EM1, 1, t, 1)),
        ],
    );
    // B registering a meter on A's gateway.
    let reg = fx.tx(&ent_b(), TxPayload::RegisterMeter { meter: kwh_meter("B-EM9", A_GW1) });
    let b = fx.exec(vec![batch, reg]);
    assert_reading_rejected(b.reading(0, 0), RejectCode::MeterNotOwned);
    assert_reading_rejected(b.reading(0, 1), RejectCode::MeterNotOwned);
    assert_eq!(b.reading(0, 2), &ReadingOutcome::Accepted);
    assert_tx_rejected(b.receipt(1), RejectCode::MeterNotOwned);
    assert!(fx.state.progress(&dev(B_EM1)).is_none());
    assert!(fx.state.progress(&dev(A_WM4)).is_none());
    assert!(fx.state.meter(&dev("B-EM9")).is_none());
}

#[test]
fn reading_without_calibration_is_refused() {
    let mut fx = Fx::ready();
    let txs = vec![
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter("A-EM9", A_GW1) }),
        fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev("A-EM9") }),
    ];
    fx.exec(txs);
    let t = fx.state.timestamp_ms;
    let batch = fx.submit(&gw_a1(), A_GW1, vec![by_gateway(&gw_a1(), kwh("A-EM9", 1, t, 1))]);
    let b = fx.exec(vec![batch]);
    let msg = assert_reading_rejected(b.reading(0, 0), RejectCode::CalibrationInvalid);
    assert!(msg.contains("calibration"), "{msg}");
    assert!(fx.state.progress(&dev("A-EM9")).is_none());
}

#[test]
fn reading_after_calibration_expiry_is_refused() {
    let mut fx = Fx::ready();
    // Replace A-EM1's certificate by one ending (exclusively) at `until`, before the next block.
    let until = fx.state.timestamp_ms + 500;
    let rec = fx.tx(
        &metrology(),
        TxPayload::RecordCalibration { meter: dev(A_EM1), calibration: calibration("JD-OLD", CAL_FROM, until) },
    );
    assert_tx_accepted(fx.exec(vec![rec]).receipt(0));
    let g = gw_a1();
    let batch = fx.submit(
        &g,
        A_GW1,
        vec![
            by_gateway(&g, kwh(A_EM1, 1, until - 1, 1)), // last covered millisecond
            by_gateway(&g, kwh(A_EM1, 2, until, 2)),     // the end is exclusive
            by_gateway(&g, kwh(A_EM1, 3, until + 400, 3)),
        ],
    );
    let b = fx.exec(vec![batch]);
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
    let msg = assert_reading_rejected(b.reading(0, 1), RejectCode::CalibrationInvalid);
    assert!(msg.contains("JD-OLD"), "{msg}");
    assert_reading_rejected(b.reading(0, 2), RejectCode::CalibrationInvalid);

    // A renewed certificate lets readings in again.
    let rec = fx.tx(
        &metrology(),
        TxPayload::RecordCalibration { meter: dev(A_EM1), calibration: calibration("JD-NEW", until, CAL_UNTIL) },
    );
    let batch = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 2, until, 2))]);
    let b = fx.exec(vec![rec, batch]);
    assert_eq!(b.reading(1, 0), &ReadingOutcome::Accepted);
    assert_eq!(fx.state.progress(&dev(A_EM1)).unwrap().last_seq, 2);
}

#[test]
fn reading_before_calibration_validity_is_refused() {
    let mut fx = Fx::ready();
    let block_ts = fx.next_ts() + BLOCK_MS; // timestamp of the block carrying the readings
    let from = block_ts + 60_000; // within the future-skew allowance
    assert!(from - block_ts <= fx.state.params.max_future_skew_ms);
    let rec = fx.tx(
        &metrology(),
        TxPayload::RecordCalibration { meter: dev(A_EM1), calibration: calibration("JD-FUT", from, CAL_UNTIL) },
    );
    assert_tx_accepted(fx.exec(vec![rec]).receipt(0));
    let g = gw_a1();
    let batch = fx.submit(
        &g,
        A_GW1,
        vec![
            by_gateway(&g, kwh(A_EM1, 1, block_ts, 1)),
            by_gateway(&g, kwh(A_EM1, 1, from - 1, 1)),
            by_gateway(&g, kwh(A_EM1, 1, from, 1)), // the start is inclusive
        ],
    );
    let b = fx.exec_at(block_ts, vec![batch]);
    let msg = assert_reading_rejected(b.reading(0, 0), RejectCode::CalibrationInvalid);
    assert!(msg.contains("JD-FUT"), "{msg}");
    assert_reading_rejected(b.reading(0, 1), RejectCode::CalibrationInvalid);
    assert_eq!(b.reading(0, 2), &ReadingOutcome::Accepted);
}

#[test]
fn bad_reading_signatures_are_refused() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let mut tampered = by_gateway(&g, kwh(A_EM1, 1, t, 10));
    tampered.reading.value = Quantity::from_micros(11 * Quantity::SCALE);
    let mut flipped = by_gateway(&g, kwh(A_EM1, 1, t, 10));
    flipped.signature.bytes[0] ^= 0x80;
    let mut wrong_meter = by_gateway(&g, kwh(A_EM1, 1, t, 10));
    wrong_meter.reading.meter = dev(A_PW3);
    wrong_meter.reading.unit = Unit::Kilowatt;
    let batch = fx.submit(
        &g,
        A_GW1,
        vec![
            by_gateway(&gw_b1(), kwh(A_EM1, 1, t, 10)), // another gateway's key
            tampered,
            flipped,
            wrong_meter,
            by_meter(&g, kwh(A_EM2, 1, t, 10)), // claims the meter signed, but the gateway did
            by_meter(&key(77), kwh(A_EM2, 1, t, 10)), // some other key
            by_gateway(&g, kwh(A_EM1, 1, t, 10)), // the genuine reading
        ],
    );
    let b = fx.exec(vec![batch]);
    for j in 0..6 {
        assert_reading_rejected(b.reading(0, j), RejectCode::BadReadingSignature);
    }
    assert_eq!(b.reading(0, 6), &ReadingOutcome::Accepted);
    assert_eq!(b.block.header.readings_accepted, 1);
    assert!(fx.state.progress(&dev(A_EM2)).is_none());
    assert!(fx.state.progress(&dev(A_PW3)).is_none());
}

#[test]
fn meter_signing_with_its_own_key_is_accepted() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let signed = by_meter(&em_a2(), kwh(A_EM2, 1, t, 42));
    let batch = fx.submit(&gw_a1(), A_GW1, vec![signed.clone()]);
    let b = fx.exec(vec![batch]);
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
    assert_eq!(b.block.header.readings_accepted, 1);
    assert_eq!(b.block.header.readings_root, merkle::root(SHA, &[reading_leaf(SHA, &signed)]));
    let p = fx.state.progress(&dev(A_EM2)).unwrap();
    assert_eq!((p.last_seq, p.accepted), (1, 1));
    assert_eq!(window_seqs(&fx, A_EM2), vec![1]);
}

#[test]
fn wrong_signer_is_refused() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let batch = fx.submit(
        &g,
        A_GW1,
        vec![
            // Meter-signed readings for a meter without a key.
            by_meter(&em_a2(), kwh(A_EM1, 1, t, 1)),
            by_meter(&g, kwh(A_EM1, 1, t, 1)),
            // The reverse: the gateway signs for a meter that has its own key (RejectCode docs:
            // "the meter asked to sign itself but has no registered key, or the reverse").
            by_gateway(&g, kwh(A_EM2, 1, t, 1)),
        ],
    );
    let b = fx.exec(vec![batch]);
    let msg = assert_reading_rejected(b.reading(0, 0), RejectCode::WrongSigner);
    assert!(msg.contains(A_EM1), "{msg}");
    assert_reading_rejected(b.reading(0, 1), RejectCode::WrongSigner);
    assert_reading_rejected(b.reading(0, 2), RejectCode::WrongSigner);
    assert_eq!(b.block.header.readings_accepted, 0);
}

#[test]
fn wrong_unit_is_refused() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let (g1, g2) = (gw_a1(), gw_a2());
    // MWh is an electricity unit, but not the one A-EM1 is registered in.
    let b1 = fx.submit(
        &g1,
        A_GW1,
        vec![by_gateway(&g1, reading(A_EM1, 1, t, 1, Unit::MegawattHour)), by_gateway(&g1, kwh(A_EM1, 1, t, 1))],
    );
    let b2 = fx.submit(
        &g2,
        A_GW2,
        vec![
            by_gateway(&g2, reading(A_WM4, 1, t, 1, Unit::KilowattHour)),
            by_gateway(&g2, reading(A_WM4, 1, t, 1, Unit::Tonne)),
        ],
    );
    let b = fx.exec(vec![b1, b2]);
    let msg = assert_reading_rejected(b.reading(0, 0), RejectCode::WrongUnit);
    assert!(msg.contains("MWh") && msg.contains("kWh"), "{msg}");
    assert_eq!(b.reading(0, 1), &ReadingOutcome::Accepted);
    assert_reading_rejected(b.reading(1, 0), RejectCode::WrongUnit);
    assert_reading_rejected(b.reading(1, 1), RejectCode::WrongUnit);
    assert!(fx.state.progress(&dev(A_WM4)).is_none());
}

#[test]
fn values_out_of_range_are_refused() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let kw = |seq, micros| by_gateway(&g, reading(A_PW3, seq, t, micros, Unit::Kilowatt));
    let em = |seq, micros| by_gateway(&g, reading(A_EM1, seq, t, micros, Unit::KilowattHour));
    let batch = fx.submit(
        &g,
        A_GW1,
        vec![
            em(1, KWH_MAX + 1),
            em(1, -1), // a cumulative register is never negative
            em(1, i64::MIN),
            em(1, KWH_MAX), // the maximum itself is where the register wraps: the audit policy refuses it
            kw(1, KW_MAX + 1),
            kw(1, -KW_MAX - 1),
            kw(1, -KW_MAX), // an instantaneous register may be negative (export)
            kw(2, KW_MAX),
        ],
    );
    let b = fx.exec(vec![batch]);
    for j in [0, 1, 2, 4, 5] {
        assert_reading_rejected(b.reading(0, j), RejectCode::ValueOutOfRange);
    }
    let msg = assert_reading_rejected(b.reading(0, 3), RejectCode::PolicyRejected);
    assert!(msg.contains("cumulative_range"), "{msg}");
    for j in [6, 7] {
        assert_eq!(b.reading(0, j), &ReadingOutcome::Accepted, "reading {j}");
    }
    assert_eq!(b.block.header.readings_accepted, 2);
}

#[test]
fn timestamps_too_far_in_the_future_are_refused() {
    let mut fx = Fx::ready();
    let block_ts = fx.next_ts();
    let skew = fx.state.params.max_future_skew_ms;
    assert!(skew > 0);
    let g = gw_a1();
    let batch = fx.submit(
        &g,
        A_GW1,
        vec![
            by_gateway(&g, kwh(A_EM1, 1, block_ts + skew + 1, 1)),
            by_gateway(&g, kwh(A_EM1, 1, i64::MAX, 1)),
            by_gateway(&g, kwh(A_EM1, 1, block_ts + skew, 1)), // exactly at the allowance
        ],
    );
    let b = fx.exec_at(block_ts, vec![batch]);
    let msg = assert_reading_rejected(b.reading(0, 0), RejectCode::BadTimestamp);
    assert!(msg.contains("clock"), "{msg}");
    assert_reading_rejected(b.reading(0, 1), RejectCode::BadTimestamp);
    assert_eq!(b.reading(0, 2), &ReadingOutcome::Accepted);
}

#[test]
fn timestamps_before_the_previous_reading_are_placed_late() {
    // Late data (inside the late window) is recorded by its own time and flagged; the window
    // itself is tested in accounting.rs.
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let batch = fx.submit(
        &g,
        A_GW1,
        vec![
            by_gateway(&g, kwh(A_EM1, 1, t, 1)),
            by_gateway(&g, kwh(A_EM1, 2, t - 1, 1)), // higher sequence, earlier time: late
            by_gateway(&g, kwh(A_EM1, 3, t - 1, 1)), // a second value at an occupied earlier instant
            by_gateway(&g, kwh(A_EM1, 3, t, 2)),     // same time as the latest is fine
            by_gateway(&g, kwh(A_EM1, 4, t + 1, 3)),
        ],
    );
    let b = fx.exec(vec![batch]);
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
    let ReadingOutcome::Flagged { flags } = b.reading(0, 1) else { panic!("{:?}", b.reading(0, 1)) };
    assert_eq!(flags.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(), ["late_reading"]);
    let msg = assert_reading_rejected(b.reading(0, 2), RejectCode::BadTimestamp);
    assert!(msg.contains("already has a reading"), "{msg}");
    assert_eq!(b.reading(0, 3), &ReadingOutcome::Accepted);
    assert_eq!(b.reading(0, 4), &ReadingOutcome::Accepted);
    let p = fx.state.progress(&dev(A_EM1)).unwrap();
    assert_eq!((p.last_seq, p.last_timestamp_ms, p.accepted), (4, t + 1, 4));
}

// ---------------------------------------------------------------------------------------------
// Sequence numbers
// ---------------------------------------------------------------------------------------------

#[test]
fn identical_resubmission_is_a_duplicate_and_not_recorded_again() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let r1 = by_gateway(&g, kwh(A_EM1, 1, t, 100));
    let tx = fx_submit(&mut fx, vec![r1.clone()]);
    let b = fx.exec(vec![tx]);
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
    assert_eq!(b.block.header.readings_accepted, 1);
    let progress = fx.state.progress(&dev(A_EM1)).unwrap();

    // Resubmitted in a later block (a new transaction, so no nonce problem).
    let tx = fx_submit(&mut fx, vec![r1.clone()]);
    let b = fx.exec(vec![tx]);
    assert_tx_accepted(b.receipt(0));
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Duplicate);
    assert_eq!(b.block.header.readings_accepted, 0);
    assert_eq!(b.block.header.reading_count, 1);
    assert_eq!(b.block.header.readings_root, merkle::empty_root(SHA));
    assert!(b.output.recorded.is_empty());
    assert_eq!(fx.state.progress(&dev(A_EM1)), Some(progress.clone()), "a duplicate leaves the progress alone");

    // Twice in one batch and once more in a second transaction of the same block.
    let r2 = by_gateway(&g, kwh(A_EM1, 2, t, 101));
    let tx1 = fx_submit(&mut fx, vec![r2.clone(), r2.clone()]);
    let tx2 = fx_submit(&mut fx, vec![r2.clone(), r1.clone()]);
    let b = fx.exec(vec![tx1, tx2]);
    assert_eq!(b.output.receipts[0].readings, vec![ReadingOutcome::Accepted, ReadingOutcome::Duplicate]);
    assert_eq!(b.output.receipts[1].readings, vec![ReadingOutcome::Duplicate, ReadingOutcome::Duplicate]);
    assert_eq!(b.block.header.readings_accepted, 1);
    assert_eq!(b.output.recorded, vec![(0, 0)]);
    assert_eq!(b.block.header.readings_root, merkle::root(SHA, &[reading_leaf(SHA, &r2)]));
    assert_eq!(fx.state.progress(&dev(A_EM1)).unwrap().accepted, 2);
}

fn fx_submit(fx: &mut Fx, readings: Vec<trustmeter_types::SignedReading>) -> trustmeter_types::Transaction {
    fx.submit(&gw_a1(), A_GW1, readings)
}

#[test]
fn conflicting_reading_with_the_same_sequence_is_refused() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let r1 = by_gateway(&g, kwh(A_EM1, 1, t, 100));
    let tx = fx_submit(&mut fx, vec![r1.clone()]);
    fx.exec(vec![tx]);
    let mut manual = kwh(A_EM1, 1, t, 100);
    manual.origin = ReadingOrigin::Manual;
    let batch = fx_submit(
        &mut fx,
        vec![
            by_gateway(&g, kwh(A_EM1, 1, t, 101)),     // another value
            by_gateway(&g, kwh(A_EM1, 1, t - 1, 100)), // another time
            by_gateway(&g, manual),                    // another flag
        ],
    );
    let b = fx.exec(vec![batch]);
    for j in 0..3 {
        let msg = assert_reading_rejected(b.reading(0, j), RejectCode::SequenceConflict);
        assert!(msg.contains("sequence 1"), "{msg}");
    }
    let p = fx.state.progress(&dev(A_EM1)).unwrap();
    let window = fx.state.window_points(&dev(A_EM1));
    assert_eq!(window, vec![trustmeter_state::accounting::PointRec::of(&r1.reading)], "the recorded reading is kept");
    assert_eq!(p.accepted, 1);
}

/// The sequence numbers of a meter's window points, in time order.
fn window_seqs(fx: &Fx, meter: &str) -> Vec<u64> {
    fx.state.window_points(&dev(meter)).iter().map(|p| p.seq).collect()
}

#[test]
fn lower_sequence_within_the_window_is_a_conflict() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let tx = fx_submit(&mut fx, vec![by_gateway(&g, kwh(A_EM1, 1, t, 1)), by_gateway(&g, kwh(A_EM1, 5, t, 5))]);
    let b = fx.exec(vec![tx]);
    assert_eq!(
        b.output.receipts[0].readings,
        vec![ReadingOutcome::Accepted, ReadingOutcome::Accepted],
        "gaps are allowed"
    );
    let batch = fx_submit(
        &mut fx,
        vec![
            by_gateway(&g, kwh(A_EM1, 3, t, 3)), // in a gap, below the last
            by_gateway(&g, kwh(A_EM1, 4, t, 4)),
            by_gateway(&g, kwh(A_EM1, 6, t, 6)),
            by_gateway(&g, kwh(A_EM1, 10, t, 10)),
            by_gateway(&g, kwh(A_EM1, 8, t, 8)), // out of order inside one batch
        ],
    );
    let b = fx.exec(vec![batch]);
    for j in [0, 1, 4] {
        let msg = assert_reading_rejected(b.reading(0, j), RejectCode::SequenceConflict);
        assert!(msg.contains("sequences must increase"), "{msg}");
    }
    assert_eq!(b.reading(0, 2), &ReadingOutcome::Accepted);
    assert_eq!(b.reading(0, 3), &ReadingOutcome::Accepted);
    let p = fx.state.progress(&dev(A_EM1)).unwrap();
    assert_eq!((p.last_seq, p.accepted), (10, 4));
    assert_eq!(window_seqs(&fx, A_EM1), vec![1, 5, 6, 10]);
}

#[test]
fn sequence_older_than_the_remembered_readings_is_stale() {
    // A backlog of ten daily readings, the oldest nine days before the block: the late window
    // (7 days) keeps the points from the last one before its start on, so the two oldest go.
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let n = 10u64;
    let ts = |s: u64| t - (n - s) as i64 * DAY;
    let all: Vec<_> = (1..=n).map(|s| by_gateway(&g, kwh(A_EM1, s, ts(s), s as i64))).collect();
    let tx = fx_submit(&mut fx, all.clone());
    let b = fx.exec(vec![tx]);
    assert!(b.output.receipts[0].readings.iter().all(|o| o.is_recorded()), "{:?}", b.output.receipts[0]);
    assert_eq!(b.block.header.readings_accepted as u64, n);
    let p = fx.state.progress(&dev(A_EM1)).unwrap();
    assert_eq!(window_seqs(&fx, A_EM1), (3..=n).collect::<Vec<_>>(), "the two oldest fell out of the window");
    assert_eq!((p.last_seq, p.accepted, p.window_oldest_ms), (n, n, ts(3)));

    let at = |s: u64| all[(s - 1) as usize].clone();
    let batch = fx_submit(
        &mut fx,
        vec![
            at(1), // identical to an accepted reading, but too old to tell
            at(2),
            by_gateway(&g, kwh(A_EM1, 2, ts(2), 999)), // different content, too old
            at(3),                                     // oldest remembered: a duplicate
            by_gateway(&g, kwh(A_EM1, 3, ts(3), 999)), // oldest remembered, different: a conflict
            at(n),
            by_gateway(&g, kwh(A_EM1, 4, ts(4) + 1, 4)), // a sequence never recorded, inside the window
            by_gateway(&g, kwh(A_EM1, n + 1, ts(n) + 1, 1)),
        ],
    );
    let b = fx.exec(vec![batch]);
    for j in 0..3 {
        let msg = assert_reading_rejected(b.reading(0, j), RejectCode::StaleSequence);
        assert!(msg.contains("nothing is lost"), "{msg}");
    }
    assert_eq!(b.reading(0, 3), &ReadingOutcome::Duplicate);
    let msg = assert_reading_rejected(b.reading(0, 4), RejectCode::SequenceConflict);
    assert!(msg.contains("different reading"), "{msg}");
    assert_eq!(b.reading(0, 5), &ReadingOutcome::Duplicate);
    let msg = assert_reading_rejected(b.reading(0, 6), RejectCode::SequenceConflict);
    assert!(msg.contains("sequences must increase"), "{msg}");
    // Recorded; its register value fell (10 → 1), so the audit policy and the accounting flag it.
    assert!(b.reading(0, 7).is_recorded(), "{:?}", b.reading(0, 7));
    assert_eq!(b.block.header.readings_accepted, 1);
    let p = fx.state.progress(&dev(A_EM1)).unwrap();
    assert_eq!(window_seqs(&fx, A_EM1), (3..=n + 1).collect::<Vec<_>>());
    assert_eq!((p.last_seq, p.accepted), (n + 1, n + 1));
}

// ---------------------------------------------------------------------------------------------
// Mixed batches
// ---------------------------------------------------------------------------------------------

#[test]
fn valid_readings_survive_invalid_neighbours() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let block_ts = fx.next_ts();
    let (g, g2, m2) = (gw_a1(), gw_a2(), em_a2());
    let mut bad_sig = by_gateway(&g, kwh(A_EM1, 2, t, 2));
    bad_sig.signature.bytes[31] ^= 4;
    let readings = vec![
        by_gateway(&g, kwh(A_EM1, 1, t, 1)),                              // 0 accepted
        by_gateway(&g, reading(A_EM1, 2, t, 2, Unit::MegawattHour)),      // 1 wrong unit
        by_gateway(&g, kwh(B_EM1, 1, t, 1)),                              // 2 not owned
        bad_sig,                                                          // 3 bad signature
        by_meter(&m2, kwh(A_EM2, 1, t, 7)),                               // 4 accepted
        by_gateway(&g, reading(A_PW3, 1, t, KW_MAX + 1, Unit::Kilowatt)), // 5 out of range
        by_gateway(&g, kwh("NOPE-M", 1, t, 1)),                           // 6 unknown meter
        by_gateway(&g, kwh(A_EM1, 1, t, 9)),                              // 7 conflict
        by_gateway(&g, kwh(A_EM1, 1, t, 1)),                              // 8 duplicate
        by_gateway(&g, kwh(A_EM1, 2, block_ts + 10 * DAY, 2)),            // 9 future
        by_meter(&m2, kwh(A_EM1, 2, t, 2)),                               // 10 wrong signer
        by_gateway(&g, kwh(A_EM1, 2, t, 2)),                              // 11 accepted
        by_gateway(&g, reading(A_PW3, 1, t, 5, Unit::Kilowatt)),          // 12 accepted
    ];
    let tx1 = fx_submit(&mut fx, readings.clone());
    let water = by_gateway(&g2, reading(A_WM4, 1, t, 3, Unit::CubicMetre));
    let tx2 = fx.submit(&g2, A_GW2, vec![water.clone()]);
    let b = fx.exec_at(block_ts, vec![tx1, tx2]);
    let expect = [
        (1, RejectCode::WrongUnit),
        (2, RejectCode::MeterNotOwned),
        (3, RejectCode::BadReadingSignature),
        (5, RejectCode::ValueOutOfRange),
        (6, RejectCode::UnknownDevice),
        (7, RejectCode::SequenceConflict),
        (9, RejectCode::BadTimestamp),
        (10, RejectCode::WrongSigner),
    ];
    for (j, code) in expect {
        assert_reading_rejected(b.reading(0, j), code);
    }
    assert_eq!(b.reading(0, 8), &ReadingOutcome::Duplicate);
    for j in [0, 4, 11, 12] {
        assert_eq!(b.reading(0, j), &ReadingOutcome::Accepted, "reading {j}");
    }
    assert_eq!(b.reading(1, 0), &ReadingOutcome::Accepted);
    assert_eq!(b.block.header.reading_count, 14);
    assert_eq!(b.block.header.readings_accepted, 5);
    assert_eq!(b.output.recorded, vec![(0, 0), (0, 4), (0, 11), (0, 12), (1, 0)]);
    let leaves: Vec<_> = [&readings[0], &readings[4], &readings[11], &readings[12], &water]
        .iter()
        .map(|r| reading_leaf(SHA, r))
        .collect();
    assert_eq!(b.block.header.readings_root, merkle::root(SHA, &leaves));
    assert_eq!(fx.state.progress(&dev(A_EM1)).unwrap().accepted, 2);
    assert_eq!(fx.state.progress(&dev(A_EM2)).unwrap().accepted, 1);
    assert_eq!(fx.state.progress(&dev(A_PW3)).unwrap().accepted, 1);
    assert_eq!(fx.state.progress(&dev(A_WM4)).unwrap().accepted, 1);
    assert!(fx.state.progress(&dev(B_EM1)).is_none());
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/// Rejection messages quote identifiers; with the longest ids and extreme numbers they must still
/// fit `MAX_MESSAGE_LEN` (checked by `assert_sentence` inside every assertion helper).
#[test]
fn messages_fit_the_limit_with_the_longest_identifiers() {
    let mut fx = Fx::ready();
    // `<A's code>-` and a local id up to the limit.
    let long = |c: &str| format!("{}-{}", org_a(), c.repeat(trustmeter_types::limits::MAX_DEVICE_ID_LEN - 19));
    let (gx, gy, m1, m2) = (long("X"), long("Y"), long("M"), long("N"));
    assert_eq!(m1.len(), trustmeter_types::limits::MAX_DEVICE_ID_LEN);
    let cert = "C".repeat(trustmeter_types::limits::MAX_CERTIFICATE_NO_LEN);
    let (kx, ky) = (key(95), key(96));
    let expired_at = fx.state.timestamp_ms;
    let txs = vec![
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev(&gx), public_key: kx.public_key() }),
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev(&gy), public_key: ky.public_key() }),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter(&m1, &gx) }),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter(&m2, &gy) }),
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration { meter: dev(&m1), calibration: calibration(&cert, i64::MIN, expired_at) },
        ),
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration { meter: dev(&m2), calibration: calibration(&cert, i64::MIN, i64::MAX) },
        ),
    ];
    let b = fx.exec(txs);
    b.output.receipts.iter().for_each(assert_tx_accepted);
    let txs = [gx.as_str(), gy.as_str(), m1.as_str(), m2.as_str()].map(|d| fx_activate(&mut fx, d)).to_vec();
    fx.exec(txs).output.receipts.iter().for_each(assert_tx_accepted);

    let t = fx.state.timestamp_ms;
    let txs = vec![
        fx.submit(
            &kx,
            &gx,
            vec![
                by_gateway(&kx, kwh(&m2, u64::MAX, t, 1)),                         // not owned
                by_gateway(&kx, kwh(&m1, u64::MAX, t, 1)),                         // expired
                by_gateway(&kx, reading(&m1, 1, t, i64::MIN, Unit::KilowattHour)), // range
                by_gateway(&kx, kwh(&m1, 1, i64::MAX, 1)),                         // future
                by_meter(&kx, kwh(&m1, 1, t, 1)),                                  // wrong signer
                by_gateway(&kx, kwh(&long("Z"), 1, t, 1)),                         // unknown
            ],
        ),
        fx.submit(
            &ky,
            &gy,
            vec![
                by_gateway(&ky, kwh(&m2, u64::MAX - 1, t, 1)),
                by_gateway(&ky, kwh(&m2, u64::MAX, i64::MIN, 1)), // back in time
                by_gateway(&ky, kwh(&m2, u64::MAX - 1, t, 2)),    // conflict
                by_gateway(&ky, kwh(&m2, u64::MAX - 2, t, 2)),    // never recorded, out of order
                by_gateway(&kx, kwh(&m2, u64::MAX, t, 2)),        // bad signature
            ],
        ),
        fx.tx(&ent_b(), TxPayload::RevokeDevice { device: dev(&m1), reason: "x".repeat(256) }),
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev(&gx), public_key: key(97).public_key() }),
        fx.submit(&kx, &long("Q"), vec![by_gateway(&kx, kwh(&m1, 1, t, 1))]),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter(&long("P"), &long("Q")) }),
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration {
                meter: dev(&m1),
                calibration: Calibration { issuer: uscc(99_999), ..calibration(&cert, i64::MIN, i64::MAX) },
            },
        ),
    ];
    let b = fx.exec(txs);
    let codes = [
        RejectCode::MeterNotOwned,
        RejectCode::CalibrationInvalid,
        RejectCode::ValueOutOfRange,
        RejectCode::BadTimestamp,
        RejectCode::WrongSigner,
        RejectCode::UnknownDevice,
    ];
    for (j, code) in codes.into_iter().enumerate() {
        assert_reading_rejected(b.reading(0, j), code);
    }
    assert_eq!(b.reading(1, 0), &ReadingOutcome::Accepted);
    let codes = [
        RejectCode::BadTimestamp,
        RejectCode::SequenceConflict,
        // The window is not full, so a lower sequence it lacks was never recorded.
        RejectCode::SequenceConflict,
        RejectCode::BadReadingSignature,
    ];
    for (j, code) in codes.into_iter().enumerate() {
        assert_reading_rejected(b.reading(1, j + 1), code);
    }
    assert_tx_rejected(b.receipt(2), RejectCode::NotAuthorised);
    assert_tx_rejected(b.receipt(3), RejectCode::AlreadyRegistered);
    assert_tx_rejected(b.receipt(4), RejectCode::UnknownDevice);
    assert_tx_rejected(b.receipt(5), RejectCode::UnknownDevice);
    assert_tx_rejected(b.receipt(6), RejectCode::NotAuthorised);
}

#[test]
fn malformed_transaction_is_never_included() {
    let mut fx = Fx::ready();
    // An empty reading batch breaks a limit that decoding enforces; a proposer must check it too.
    let empty = fx.submit(&gw_a1(), A_GW1, vec![]);
    let rej = trustmeter_state::exec::check_includable(&fx.state, &empty, &trustmeter_state::SignatureVerdicts::none())
        .expect_err("an empty batch is not includable");
    assert_eq!(rej.code, RejectCode::Malformed);
    assert!(!rej.message.is_empty());
    let good = fx.tx(&ent_a(), fx.new_account(&ent_a(), &key(64)));
    let ctx = trustmeter_state::exec::BlockContext { epoch: 1, view: 1, timestamp_ms: fx.next_ts() };
    let none = trustmeter_state::SignatureVerdicts::none();
    let (block, _) = trustmeter_state::build_block(&fx.state, &ctx, vec![empty.clone(), good.clone()], &none);
    assert_eq!(block.txs, vec![good]);
    // A block carrying it fails the body check before anything executes.
    let mut forged = block.clone();
    forged.txs.insert(0, empty);
    forged.header.tx_count += 1;
    assert!(matches!(
        trustmeter_state::execute_block(&fx.state, &forged, &none),
        Err(trustmeter_state::BlockError::BadBody(m)) if m.contains("transaction 0")
    ));
}
