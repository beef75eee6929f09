//! 国密: SM2 device keys and SM3 chains. An SM2 gateway and SM2 meters register, get calibrated
//! and activated, and report readings exactly like Ed25519 ones, on a SHA-256 chain and on an SM3
//! chain; forged SM2 signatures are refused with `bad_reading_signature` / `bad_tx_signature`; an
//! SM3 chain hashes every commitment with SM3.

use crate::common::*;
use trustmeter_crypto::{HashAlg, SigningKey, block_digest, merkle, reading_leaf, sign_reading, tx_hash};
use trustmeter_state::exec::BlockContext;
use trustmeter_state::{SignatureVerdicts, StateKey, build_block};
use trustmeter_types::{
    EnergyKind, KeyScheme, ReadingOutcome, ReadingSigner, RejectCode, Signature, SignedReading, TxPayload, Unit,
};

const GM_GW: &str = "A-GM-GW1";
/// Meter with its own SM2 key.
const GM_EM_OWN: &str = "A-GM-EM1";
/// Meter without a key: its SM2 gateway signs for it.
const GM_EM_GW: &str = "A-GM-EM2";

fn sm2(seed: u8) -> SigningKey {
    SigningKey::from_seed(KeyScheme::Sm2, [seed; 32])
}
fn gm_gateway() -> SigningKey {
    sm2(31)
}
fn gm_meter() -> SigningKey {
    sm2(32)
}
/// An SM2 account of enterprise A.
fn gm_account() -> SigningKey {
    sm2(33)
}

fn chain(alg: HashAlg) -> Fx {
    let mut g = genesis(CHAIN);
    g.params.hash = alg;
    Fx::from_genesis(g)
}

/// Registers (through an SM2 account of enterprise A), calibrates and activates the SM2 gateway and
/// its two meters.
fn onboard(fx: &mut Fx) {
    let acct = gm_account();
    let tx = fx.tx(&ent_a(), fx.new_account(&ent_a(), &acct));
    let b = fx.exec(vec![tx]);
    assert_tx_accepted(b.receipt(0));
    let txs = vec![
        fx.tx(&acct, TxPayload::RegisterGateway { id: dev(GM_GW), public_key: gm_gateway().public_key() }),
        fx.tx(
            &acct,
            TxPayload::RegisterMeter {
                meter: meter_spec(GM_EM_OWN, GM_GW, EnergyKind::Electricity, Unit::KilowattHour, Some(&gm_meter())),
            },
        ),
        fx.tx(&acct, TxPayload::RegisterMeter { meter: kwh_meter(GM_EM_GW, GM_GW) }),
    ];
    let b = fx.exec(txs);
    for r in &b.output.receipts {
        assert_tx_accepted(r);
    }
    let txs = [GM_EM_OWN, GM_EM_GW]
        .iter()
        .map(|m| {
            fx.tx(
                &metrology(),
                TxPayload::RecordCalibration {
                    meter: dev(m),
                    calibration: calibration(&format!("JD-{m}"), CAL_FROM, CAL_UNTIL),
                },
            )
        })
        .collect();
    let b = fx.exec(txs);
    for r in &b.output.receipts {
        assert_tx_accepted(r);
    }
    let txs = [GM_GW, GM_EM_OWN, GM_EM_GW]
        .iter()
        .map(|d| fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev(d) }))
        .collect();
    let b = fx.exec(txs);
    for r in &b.output.receipts {
        assert_tx_accepted(r);
    }
}

#[test]
fn sm2_devices_onboard_and_report_on_sha256_and_sm3_chains() {
    for alg in [HashAlg::Sha256, HashAlg::Sm3] {
        let mut fx = chain(alg);
        assert_eq!(fx.state.hash_alg(), alg);
        onboard(&mut fx);
        let g = gm_gateway();
        assert_eq!(fx.state.gateway(&dev(GM_GW)).unwrap().public_key.scheme, KeyScheme::Sm2);
        let t = fx.state.timestamp_ms;
        let readings = vec![
            by_meter(&gm_meter(), kwh(GM_EM_OWN, 1, t, 10)),
            by_gateway(&g, kwh(GM_EM_GW, 1, t, 20)),
            by_meter(&gm_meter(), kwh(GM_EM_OWN, 2, t + 1, 11)),
        ];
        let tx = fx.submit(&g, GM_GW, readings.clone());
        let b = fx.exec(vec![tx]);
        assert_tx_accepted(b.receipt(0));
        assert_eq!(b.receipt(0).readings, vec![ReadingOutcome::Accepted; 3], "{alg}");
        let p = fx.state.progress(&dev(GM_EM_OWN)).unwrap();
        assert_eq!((p.last_seq, p.accepted), (2, 2));
        // A resubmission is a duplicate, as for Ed25519.
        let tx = fx.submit(&g, GM_GW, vec![readings[1].clone()]);
        let b = fx.exec(vec![tx]);
        assert_eq!(b.reading(0, 0), &ReadingOutcome::Duplicate);
    }
}

#[test]
fn mixed_schemes_in_one_block_agree_with_and_without_batch_verdicts() {
    let mut fx = chain(HashAlg::Sm3);
    // The fixture's Ed25519 devices are not onboarded on this chain: onboard both kinds here.
    onboard(&mut fx);
    let txs = vec![
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev(A_GW1), public_key: gw_a1().public_key() }),
        fx.tx(&ent_a(), TxPayload::RegisterMeter { meter: kwh_meter(A_EM1, A_GW1) }),
    ];
    let b = fx.exec(txs);
    assert_tx_accepted(b.receipt(0));
    assert_tx_accepted(b.receipt(1));
    let cal = fx.tx(
        &metrology(),
        TxPayload::RecordCalibration { meter: dev(A_EM1), calibration: calibration("JD-A", CAL_FROM, CAL_UNTIL) },
    );
    fx.exec(vec![cal]);
    let act: Vec<_> =
        [A_GW1, A_EM1].iter().map(|d| fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev(d) })).collect();
    fx.exec(act);
    let t = fx.state.timestamp_ms;
    let mut forged = by_meter(&gm_meter(), kwh(GM_EM_OWN, 2, t, 3));
    forged.signature.bytes[5] ^= 1;
    let sm2_tx = fx.submit(
        &gm_gateway(),
        GM_GW,
        vec![by_meter(&gm_meter(), kwh(GM_EM_OWN, 1, t, 2)), forged, by_gateway(&gm_gateway(), kwh(GM_EM_GW, 1, t, 4))],
    );
    let ed_tx = fx.submit(&gw_a1(), A_GW1, vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, t, 5))]);
    // `exec` cross-checks execution with no verdicts and with batch verdicts (mixed batch).
    let b = fx.exec(vec![sm2_tx, ed_tx]);
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
    assert_reading_rejected(b.reading(0, 1), RejectCode::BadReadingSignature);
    assert_eq!(b.reading(0, 2), &ReadingOutcome::Accepted);
    assert_eq!(b.reading(1, 0), &ReadingOutcome::Accepted);
}

#[test]
fn forged_sm2_reading_signatures_are_refused() {
    for alg in [HashAlg::Sha256, HashAlg::Sm3] {
        let mut fx = chain(alg);
        onboard(&mut fx);
        let t = fx.state.timestamp_ms;
        let genuine = by_meter(&gm_meter(), kwh(GM_EM_OWN, 1, t, 10));
        let mut flipped = genuine.clone();
        flipped.signature.bytes[63] ^= 0x80;
        let mut zero_r = genuine.clone();
        zero_r.signature.bytes[..32].copy_from_slice(&[0; 32]);
        let mut s_too_big = genuine.clone();
        s_too_big.signature.bytes[32..].copy_from_slice(&[0xff; 32]);
        // Signed by another SM2 key, or by the gateway although the meter has its own key.
        let other_key = by_meter(&sm2(77), kwh(GM_EM_OWN, 1, t, 10));
        let by_gw = by_gateway(&gm_gateway(), kwh(GM_EM_OWN, 1, t, 10));
        // The meter's signature moved onto another reading.
        let moved = SignedReading {
            reading: kwh(GM_EM_OWN, 1, t, 11),
            signer: ReadingSigner::Meter,
            signature: genuine.signature.clone(),
        };
        // An SM2 signature relabelled as Ed25519 (scheme mismatch with the registered key).
        let mut relabelled = genuine.clone();
        relabelled.signature = Signature { scheme: KeyScheme::Ed25519, bytes: genuine.signature.bytes.clone() };
        let gw_forged = {
            let mut r = by_gateway(&gm_gateway(), kwh(GM_EM_GW, 1, t, 10));
            r.signature.bytes[0] ^= 1;
            r
        };
        let bad = vec![flipped, zero_r, s_too_big, other_key, moved, relabelled, gw_forged];
        let n = bad.len();
        let tx = fx.submit(&gm_gateway(), GM_GW, bad);
        let b = fx.exec(vec![tx]);
        assert_tx_accepted(b.receipt(0));
        for i in 0..n {
            assert_reading_rejected(b.reading(0, i), RejectCode::BadReadingSignature);
        }
        let tx = fx.submit(&gm_gateway(), GM_GW, vec![by_gw]);
        let b = fx.exec(vec![tx]);
        assert_reading_rejected(b.reading(0, 0), RejectCode::WrongSigner);
        // The genuine reading is still accepted afterwards.
        let tx = fx.submit(&gm_gateway(), GM_GW, vec![genuine]);
        let b = fx.exec(vec![tx]);
        assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted, "{alg}");
    }
}

#[test]
fn forged_sm2_transaction_signatures_are_never_included() {
    let mut fx = chain(HashAlg::Sm3);
    onboard(&mut fx);
    let t = fx.state.timestamp_ms;
    let mut tx = fx.submit(&gm_gateway(), GM_GW, vec![by_meter(&gm_meter(), kwh(GM_EM_OWN, 1, t, 1))]);
    tx.signature.bytes[7] ^= 1;
    assert_never_included(&mut fx, &tx, RejectCode::BadTxSignature);
    // An SM2 account's registry transaction with s = 0 (not canonical).
    let mut tx = fx.tx(&gm_account(), TxPayload::RegisterMeter { meter: kwh_meter("A-GM-EM3", GM_GW) });
    tx.signature.bytes[32..].copy_from_slice(&[0; 32]);
    assert_never_included(&mut fx, &tx, RejectCode::BadTxSignature);
}

#[test]
fn an_sm3_chain_hashes_every_commitment_with_sm3() {
    let mut sha = chain(HashAlg::Sha256);
    let mut sm3 = chain(HashAlg::Sm3);
    assert_ne!(sha.state.block_digest, sm3.state.block_digest, "genesis blocks differ");
    assert_eq!(sm3.blocks[0].header.tx_root, merkle::empty_root(HashAlg::Sm3));
    assert_eq!(sm3.state.block_digest, block_digest(HashAlg::Sm3, &sm3.blocks[0].header));
    onboard(&mut sha);
    onboard(&mut sm3);
    assert_ne!(sha.state.root(), sm3.state.root());
    let t = sm3.state.timestamp_ms;
    let r = by_meter(&gm_meter(), kwh(GM_EM_OWN, 1, t, 10));
    let tx_sha = sha.submit(&gm_gateway(), GM_GW, vec![r.clone()]);
    let tx_sm3 = sm3.submit(&gm_gateway(), GM_GW, vec![r.clone()]);
    assert_eq!(tx_sha, tx_sm3, "the same signed transaction");
    let b = sm3.exec(vec![tx_sm3.clone()]);
    sha.exec(vec![tx_sha]);
    let h = &b.block.header;
    let alg = HashAlg::Sm3;
    assert_eq!(b.receipt(0).tx_hash, tx_hash(alg, &tx_sm3));
    assert_ne!(b.receipt(0).tx_hash, tx_hash(HashAlg::Sha256, &tx_sm3));
    assert_eq!(h.readings_root, merkle::root(alg, &[reading_leaf(alg, &r)]));
    assert_eq!(h.tx_root, merkle::root(alg, &[merkle::leaf_hash(alg, &trustmeter_types::encode(&tx_sm3))]));
    assert_eq!(
        h.receipts_root,
        merkle::root(alg, &[merkle::leaf_hash(alg, &trustmeter_types::encode(&b.output.receipts[0]))])
    );
    assert_eq!(sm3.state.block_digest, block_digest(alg, h));
    assert_eq!(h.parent, block_digest(alg, &sm3.blocks[sm3.blocks.len() - 2].header));
    // The meter's history chain and the state proofs use SM3.
    let p = sm3.state.progress(&dev(GM_EM_OWN)).unwrap();
    assert_eq!(
        p.history,
        trustmeter_state::MeterProgress::chain(alg, &trustmeter_types::Hash32::ZERO, 1, &reading_leaf(alg, &r))
    );
    let proof = sm3.state.prove(&StateKey::Meter(dev(GM_EM_OWN))).unwrap();
    let roots = sm3.state.roots();
    assert_eq!(roots.state_root(alg), h.state_root);
    assert!(proof.verify(alg, &roots));
    assert!(!proof.verify(HashAlg::Sha256, &roots));
    assert_ne!(roots.state_root(HashAlg::Sha256), h.state_root);
    assert_ne!(sha.state.root(), sm3.state.root());
    // A reopened state keeps the algorithm.
    let reopened = trustmeter_state::State::open(&sm3.genesis, sm3.state.store().clone()).unwrap();
    assert_eq!(reopened.hash_alg(), alg);
    assert_eq!(reopened.root(), sm3.state.root());
}

#[test]
fn build_block_on_an_sm3_chain_matches_execution() {
    let mut fx = chain(HashAlg::Sm3);
    onboard(&mut fx);
    let t = fx.state.timestamp_ms;
    let tx =
        fx.submit(&gm_gateway(), GM_GW, vec![sign_reading(&gm_meter(), kwh(GM_EM_OWN, 1, t, 1), ReadingSigner::Meter)]);
    let ctx = BlockContext { epoch: 1, view: 99, timestamp_ms: t + 1_000 };
    let (block, built) = build_block(&fx.state, &ctx, vec![tx], &SignatureVerdicts::none());
    cross_check(&fx.state, &block, &built);
    assert_eq!(built.receipts[0].readings, vec![ReadingOutcome::Accepted]);
}
