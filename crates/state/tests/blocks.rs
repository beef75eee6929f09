//! Determinism of block building and execution, and block checking: every header commitment and
//! link is recomputed by `execute_block`, and signature pre-verification never changes an outcome.

use crate::common::*;
use trustmeter_crypto::{block_digest, merkle};
use trustmeter_state::exec::BlockContext;
use trustmeter_state::{BlockError, SignatureVerdicts, State, build_block, execute_block};
use trustmeter_types::{
    Block, ChainId, Hash32, KeyScheme, ReadingOutcome, RejectCode, SignedReading, Transaction, TxPayload, Unit,
};

/// A block's worth of varied transactions on a ready fixture: accepted and rejected registry
/// transactions, and reading batches with accepted, duplicate and rejected readings, signed by
/// gateways and by a meter.
fn varied_txs(fx: &mut Fx) -> Vec<Transaction> {
    let t = fx.state.timestamp_ms;
    let (g1, g2, m2) = (gw_a1(), gw_a2(), em_a2());
    let mut bad = by_gateway(&g1, kwh(A_EM1, 3, t, 3));
    bad.signature.bytes[3] ^= 1;
    vec![
        fx.tx(&ent_a(), TxPayload::RegisterGateway { id: dev("A-GW9"), public_key: key(90).public_key() }),
        fx.tx(&ent_b(), TxPayload::RevokeDevice { device: dev(A_EM1), reason: "not ours".into() }),
        fx.submit(
            &g1,
            A_GW1,
            vec![
                by_gateway(&g1, kwh(A_EM1, 1, t, 1)),
                by_gateway(&g1, kwh(A_EM1, 1, t, 1)),
                by_gateway(&g1, kwh(A_EM1, 2, t, 2)),
                bad,
                by_meter(&m2, kwh(A_EM2, 1, t, 5)),
                by_gateway(&g1, reading(A_PW3, 1, t, -3, Unit::Kilowatt)),
                by_gateway(&g1, kwh(B_EM1, 1, t, 1)),
            ],
        ),
        fx.submit(&g2, A_GW2, vec![by_gateway(&g2, reading(A_WM4, 1, t, 9, Unit::CubicMetre))]),
        fx.tx(
            &metrology(),
            TxPayload::RecordCalibration { meter: dev(B_EM1), calibration: calibration("JD-B2", T0, CAL_UNTIL) },
        ),
    ]
}

fn ctx(fx: &Fx) -> BlockContext {
    BlockContext { epoch: 3, view: 17, timestamp_ms: fx.next_ts() }
}

#[test]
fn same_parent_and_transactions_give_identical_blocks() {
    let mut one = Fx::ready();
    let mut two = Fx::ready();
    assert_eq!(one.blocks, two.blocks, "independent runs build the same setup blocks");
    assert_eq!(one.state.root(), two.state.root());
    assert_eq!(one.state.entries().collect::<Vec<_>>(), two.state.entries().collect::<Vec<_>>());

    let txs1 = varied_txs(&mut one);
    let txs2 = varied_txs(&mut two);
    assert_eq!(txs1, txs2);
    let (b1, o1) = build_block(&one.state, &ctx(&one), txs1.clone(), &SignatureVerdicts::none());
    let (b2, o2) = build_block(&two.state, &ctx(&two), txs2, &SignatureVerdicts::none());
    assert_eq!(b1, b2);
    assert_eq!(block_digest(SHA, &b1.header), block_digest(SHA, &b2.header));
    assert_eq!(o1.receipts, o2.receipts);
    assert_eq!(o1.recorded, o2.recorded);
    assert_eq!(o1.state.root(), o2.state.root());
    assert_eq!(o1.state.entries().collect::<Vec<_>>(), o2.state.entries().collect::<Vec<_>>());
    // The block is not trivial: something was accepted and something rejected.
    assert_eq!(b1.header.tx_count, 5);
    assert!(b1.header.readings_accepted > 0 && b1.header.readings_accepted < b1.header.reading_count);

    // Building again on the same parent gives the same block and leaves the parent untouched.
    let parent_root = one.state.root();
    let (b3, o3) = build_block(&one.state, &ctx(&one), txs1, &SignatureVerdicts::none());
    assert_eq!(b3, b1);
    assert_eq!(o3.state.root(), o1.state.root());
    assert_eq!(one.state.root(), parent_root);
    assert_eq!(one.state.height, 3);
}

#[test]
fn built_block_executes_to_the_same_state() {
    let mut fx = Fx::ready();
    let txs = varied_txs(&mut fx);
    let (block, built) = build_block(&fx.state, &ctx(&fx), txs, &SignatureVerdicts::none());
    assert_eq!(block.header.state_root, built.state.root());
    let out = execute_block(&fx.state, &block, &SignatureVerdicts::none()).expect("a built block executes");
    assert_eq!(out.state.root(), block.header.state_root);
    assert_eq!(out.state.block_digest, block_digest(SHA, &block.header));
    assert_eq!(out.state.height, fx.state.height + 1);
    assert_eq!(out.state.timestamp_ms, block.header.timestamp_ms);
    assert_eq!(out.receipts, built.receipts);
    // The next block builds and executes on the executed state.
    fx.state = out.state;
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let next = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 5, t, 5))]);
    let b = fx.exec(vec![next]);
    assert_eq!(b.block.header.parent, block_digest(SHA, &block.header));
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
}

#[test]
fn build_block_never_goes_back_in_time() {
    let fx = Fx::ready();
    let stale = BlockContext { epoch: 1, view: 1, timestamp_ms: fx.state.timestamp_ms - 5_000 };
    let (block, _) = build_block(&fx.state, &stale, vec![], &SignatureVerdicts::none());
    assert_eq!(block.header.timestamp_ms, fx.state.timestamp_ms + 1);
    assert!(execute_block(&fx.state, &block, &SignatureVerdicts::none()).is_ok());
}

fn expect_mismatch(parent: &State, block: &Block, field: &str) {
    match execute_block(parent, block, &SignatureVerdicts::none()) {
        Err(BlockError::CommitmentMismatch { field: f, claimed, computed }) => {
            assert_eq!(f, field);
            assert_ne!(claimed, computed);
        }
        other => panic!("expected a {field} mismatch, got {other:?}"),
    }
}

fn expect_bad_link(parent: &State, block: &Block) {
    match execute_block(parent, block, &SignatureVerdicts::none()) {
        Err(BlockError::BadLink(msg)) => assert_sentence(&msg),
        other => panic!("expected a bad link, got {other:?}"),
    }
}

fn expect_bad_body(parent: &State, block: &Block) {
    match execute_block(parent, block, &SignatureVerdicts::none()) {
        Err(BlockError::BadBody(msg)) => assert!(!msg.is_empty()),
        other => panic!("expected a bad body, got {other:?}"),
    }
}

#[test]
fn tampered_header_commitments_are_refused() {
    let mut fx = Fx::ready();
    let txs = varied_txs(&mut fx);
    let (block, _) = build_block(&fx.state, &ctx(&fx), txs, &SignatureVerdicts::none());
    let parent = &fx.state;
    assert!(execute_block(parent, &block, &SignatureVerdicts::none()).is_ok());
    let flip = |h: &Hash32| {
        let mut x = *h;
        x.0[0] ^= 1;
        x
    };
    let tamper = |f: &dyn Fn(&mut Block)| {
        let mut b = block.clone();
        f(&mut b);
        b
    };

    expect_mismatch(parent, &tamper(&|b| b.header.state_root = flip(&b.header.state_root)), "state_root");
    expect_mismatch(parent, &tamper(&|b| b.header.readings_root = flip(&b.header.readings_root)), "readings_root");
    expect_mismatch(parent, &tamper(&|b| b.header.receipts_root = flip(&b.header.receipts_root)), "receipts_root");
    expect_mismatch(parent, &tamper(&|b| b.header.tx_root = flip(&b.header.tx_root)), "tx_root");
    expect_mismatch(parent, &tamper(&|b| b.header.readings_accepted += 1), "readings_accepted");
    expect_mismatch(parent, &tamper(&|b| b.header.readings_accepted -= 1), "readings_accepted");
    // Empty-tree roots where the block has content.
    expect_mismatch(parent, &tamper(&|b| b.header.readings_root = merkle::empty_root(SHA)), "readings_root");

    // Links.
    expect_bad_link(parent, &tamper(&|b| b.header.parent = flip(&b.header.parent)));
    expect_bad_link(parent, &tamper(&|b| b.header.parent = Hash32::ZERO));
    expect_bad_link(parent, &tamper(&|b| b.header.height += 1));
    expect_bad_link(parent, &tamper(&|b| b.header.height -= 1));
    expect_bad_link(parent, &tamper(&|b| b.header.timestamp_ms = parent.timestamp_ms));
    expect_bad_link(parent, &tamper(&|b| b.header.timestamp_ms = parent.timestamp_ms - 1));
    expect_bad_link(parent, &tamper(&|b| b.header.chain_id = ChainId::new("national-1").unwrap()));

    // Counts that disagree with the body.
    expect_bad_body(parent, &tamper(&|b| b.header.tx_count += 1));
    expect_bad_body(parent, &tamper(&|b| b.header.reading_count -= 1));
}

#[test]
fn tampered_block_bodies_are_refused() {
    let mut fx = Fx::ready();
    let txs = varied_txs(&mut fx);
    let (block, _) = build_block(&fx.state, &ctx(&fx), txs, &SignatureVerdicts::none());
    let parent = &fx.state;

    // Reordered transactions (all still valid in the new order).
    let mut b = block.clone();
    b.txs.swap(0, 4);
    expect_mismatch(parent, &b, "tx_root");

    // A transaction dropped, counts fixed up.
    let mut b = block.clone();
    let dropped = b.txs.remove(3);
    b.header.tx_count -= 1;
    b.header.reading_count -= dropped.body.payload.reading_count() as u32;
    expect_mismatch(parent, &b, "tx_root");

    // A transaction dropped, counts left alone.
    let mut b = block.clone();
    b.txs.remove(0);
    expect_bad_body(parent, &b);

    // A reading removed from a signed batch: its transaction signature breaks.
    let mut b = block.clone();
    if let TxPayload::SubmitReadings { readings, .. } = &mut b.txs[2].body.payload {
        readings.pop();
    }
    b.header.reading_count -= 1;
    match execute_block(parent, &b, &SignatureVerdicts::none()) {
        Err(BlockError::BadTransaction { index: 2, reason }) => {
            assert!(reason.contains(RejectCode::BadTxSignature.as_str()))
        }
        other => panic!("expected a bad transaction, got {other:?}"),
    }

    // A different, valid transaction in place of one with the same reading count.
    let mut b = block.clone();
    b.txs[0] = fx.tx(&ent_a(), fx.new_account(&ent_a(), &key(91)));
    expect_mismatch(&fx.state, &b, "tx_root");
}

#[test]
fn header_timestamp_is_the_clock_of_execution() {
    let mut fx = Fx::ready();
    let block_ts = fx.next_ts();
    let skew = fx.state.params.max_future_skew_ms;
    let g = gw_a1();
    // A reading exactly at the future allowance of this block's timestamp.
    let tx = fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 1, block_ts + skew, 1))]);
    let ctx = BlockContext { epoch: 1, view: 1, timestamp_ms: block_ts };
    let (block, out) = build_block(&fx.state, &ctx, vec![tx], &SignatureVerdicts::none());
    assert_eq!(out.receipts[0].readings, vec![ReadingOutcome::Accepted]);
    // Claiming an earlier time (still after the parent) makes the reading a future one, so the
    // header's commitments no longer match.
    let mut earlier = block.clone();
    earlier.header.timestamp_ms -= 1;
    expect_mismatch(&fx.state, &earlier, "readings_root");
}

#[test]
fn chain_block_limits_bound_building_and_execution() {
    let mut fx = Fx::ready();
    fx.state.params.max_block_txs = 2;
    fx.state.params.max_block_readings = 3;
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let big = fx.submit(&g, A_GW1, (1..=4).map(|s| by_gateway(&g, kwh(A_EM1, s, t, s as i64))).collect());
    let small = fx.submit(&g, A_GW1, (5..=7).map(|s| by_gateway(&g, kwh(A_EM1, s, t, s as i64))).collect());
    let a = fx.tx(&ent_a(), fx.new_account(&ent_a(), &key(92)));
    let b = fx.tx(&ent_a(), fx.new_account(&ent_a(), &key(93)));
    let (block, _) =
        build_block(&fx.state, &ctx(&fx), vec![big.clone(), small.clone(), a.clone(), b], &SignatureVerdicts::none());
    // The oversized batch is skipped, the next fits, and the block stops at two transactions.
    assert_eq!(block.txs, vec![small, a.clone()]);
    assert!(execute_block(&fx.state, &block, &SignatureVerdicts::none()).is_ok());

    // A block over the chain's limits is refused.
    let mut fx2 = Fx::ready();
    let (over, _) = build_block(&fx2.state, &ctx(&fx2), vec![big], &SignatureVerdicts::none());
    assert_eq!(over.header.reading_count, 4);
    fx2.state.params.max_block_readings = 3;
    expect_bad_body(&fx2.state, &over);
    fx2.state.params.max_block_readings = 100;
    fx2.state.params.max_block_txs = 0;
    expect_bad_body(&fx2.state, &over);
}

#[test]
fn batch_verdicts_never_change_the_outcome() {
    let mut fx = Fx::ready();
    let txs = varied_txs(&mut fx);
    let (block, built) = build_block(&fx.state, &ctx(&fx), txs, &SignatureVerdicts::none());
    let refs: Vec<&Transaction> = block.txs.iter().collect();
    let batch = SignatureVerdicts::batch_verify(&fx.state, &refs, &mut rand::rng());
    // One verdict per transaction and per reading position whose key is known (8 readings,
    // 5 txs); two identical readings at different positions each get their own.
    assert_eq!(batch.len(), 5 + 8);
    let with_none = execute_block(&fx.state, &block, &SignatureVerdicts::none()).unwrap();
    let with_batch = execute_block(&fx.state, &block, &batch).unwrap();
    assert_eq!(with_none.receipts, with_batch.receipts);
    assert_eq!(with_none.receipts, built.receipts);
    assert_eq!(with_none.state.root(), with_batch.state.root());
    assert_eq!(with_none.recorded, with_batch.recorded);

    // Verdicts made against another state (here: genesis, where no gateway or meter key is known)
    // only cover transaction signatures; everything else is verified on the spot.
    let genesis_state = State::from_genesis(&fx.genesis);
    let partial = SignatureVerdicts::batch_verify(&genesis_state, &refs, &mut rand::rng());
    assert_eq!(partial.len(), 5);
    let with_partial = execute_block(&fx.state, &block, &partial).unwrap();
    assert_eq!(with_partial.receipts, built.receipts);

    // Building with batch verdicts gives the same block.
    let (block2, _) = build_block(&fx.state, &ctx(&fx), block.txs.clone(), &batch);
    assert_eq!(block2, block);
}

/// A reading signature whose bytes are valid for the key but whose scheme tag is wrong must be
/// refused whether or not signatures were batch-verified. (Before the fix, the verdict cache key
/// ignored the scheme tag, so the verdict of the genuine signature and of the re-tagged copy
/// overwrote each other, and batch-verifying validators diverged from the others.)
#[test]
fn retagged_signature_does_not_share_a_verdict_with_the_genuine_one() {
    for retagged_first in [false, true] {
        let mut fx = Fx::ready();
        let t = fx.state.timestamp_ms;
        let g = gw_a1();
        let genuine = by_gateway(&g, kwh(A_EM1, 1, t, 1));
        let mut retagged: SignedReading = genuine.clone();
        retagged.signature.scheme = KeyScheme::Sm2;
        let readings = if retagged_first { vec![retagged, genuine] } else { vec![genuine, retagged] };
        let (gi, ri) = if retagged_first { (1, 0) } else { (0, 1) };
        let tx = fx.submit(&g, A_GW1, readings);
        let (block, built) = build_block(&fx.state, &ctx(&fx), vec![tx], &SignatureVerdicts::none());
        assert_eq!(built.receipts[0].readings[gi], ReadingOutcome::Accepted);
        assert_reading_rejected(&built.receipts[0].readings[ri], RejectCode::BadReadingSignature);

        let refs: Vec<&Transaction> = block.txs.iter().collect();
        let batch = SignatureVerdicts::batch_verify(&fx.state, &refs, &mut rand::rng());
        let out = execute_block(&fx.state, &block, &batch).expect("batch-verified execution agrees with the block");
        assert_eq!(out.receipts, built.receipts);
        assert_eq!(out.recorded, vec![(0, gi as u32)]);
        let point = trustmeter_state::accounting::PointRec::of(&genuine_copy(&block, gi).reading);
        assert_eq!(out.state.window_points(&dev(A_EM1)), vec![point]);
    }
}

fn genuine_copy(block: &Block, index: usize) -> SignedReading {
    match &block.txs[0].body.payload {
        TxPayload::SubmitReadings { readings, .. } => readings[index].clone(),
        _ => unreachable!(),
    }
}

/// A proposer may put any timestamp after the parent's in its header; execution must not
/// overflow when measuring "the future" against it.
#[test]
fn extreme_block_timestamp_does_not_overflow() {
    let mut fx = Fx::ready();
    let t = fx.state.timestamp_ms;
    let g = gw_a1();
    let tx =
        fx.submit(&g, A_GW1, vec![by_gateway(&g, kwh(A_EM1, 1, t, 1)), by_gateway(&g, kwh(A_EM1, 2, i64::MAX, 2))]);
    let b = fx.exec_at(i64::MAX - 1, vec![tx]);
    assert_eq!(b.reading(0, 0), &ReadingOutcome::Accepted);
    assert_reading_rejected(b.reading(0, 1), RejectCode::CalibrationInvalid);
}
