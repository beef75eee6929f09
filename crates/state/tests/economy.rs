//! The token and DPoS in consensus: transfers (and reward points that do not move), validator
//! registration, delegation, unbonding and claims, epoch ends (issuance, validator rewards,
//! elections two epochs ahead, a set carried over when too few qualify), and a property test
//! that the totals equal the sums of every entry after any sequence of operations.
//!
//! Hand values: the fixture's genesis supply is 1 000 000 + 100 000 + 10 000 + 10 000 tokens of
//! allocations plus the validator's 100 000 of self-stake = 1 220 000 tokens.

use crate::common::*;
use proptest::prelude::*;
use trustmeter_crypto::SigningKey;
use trustmeter_schema::{KeyRange, StateKey, StateValue};
use trustmeter_state::State;
use trustmeter_state::economy::{account, economy, validator, validator_set};
use trustmeter_types::economy::{Equivocation, SignedVote, StakingOp, TOKEN, VoteKind, validator_proof_payload};
use trustmeter_types::{Genesis, Hash32, OrgKind, PublicKey, RejectCode, TxPayload, UnifiedSocialCreditCode};

const SUPPLY: u64 = 1_220_000 * TOKEN;

/// The fixture's genesis with 10-block epochs, two seats, unbonding over one epoch.
fn short_epochs() -> Genesis {
    let mut g = genesis(CHAIN);
    let s = &mut g.params.economy.staking;
    s.epoch_length = 10;
    s.validators = 2;
    s.unbonding_epochs = 1;
    g
}

/// The metrology authority's validator key (consensus keys are Ed25519).
fn metrology_validator() -> SigningKey {
    key(201)
}

fn register(fx: &Fx, org: &UnifiedSocialCreditCode, k: &SigningKey, name: &str, commission: u8) -> TxPayload {
    let proof = k.sign(&validator_proof_payload(fx.state.chain_id.as_str(), org, &k.public_key()));
    TxPayload::Staking {
        op: StakingOp::RegisterValidator {
            consensus_key: k.public_key(),
            name: name.into(),
            p2p_address: "127.0.0.1:7100".into(),
            commission_percent: commission,
            proof,
        },
    }
}

fn delegate(validator: &PublicKey, tokens: u64) -> TxPayload {
    TxPayload::Staking { op: StakingOp::Delegate { validator: validator.clone(), amount: tokens * TOKEN } }
}

/// Empty blocks until the tip is at `height`.
fn run_to(fx: &mut Fx, height: u64) {
    while fx.state.height < height {
        fx.exec(vec![]);
    }
}

/// The genesis validator's key.
fn v1(fx: &Fx) -> PublicKey {
    let bytes = hex::decode(&fx.genesis.validators[0].consensus_key).unwrap();
    PublicKey::new(trustmeter_types::KeyScheme::Ed25519, bytes).unwrap()
}

#[test]
fn transfers_move_balances_and_reward_points_do_not_move() {
    let mut fx = Fx::genesis_only(CHAIN);
    assert_eq!(economy(&fx.state).supply, SUPPLY);
    let t = fx.tx(&regulator(), TxPayload::Transfer { to: org_a(), amount: 2_500_000, memo: "data licence".into() });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(account(&fx.state, &org_a()).balance, 10_000 * TOKEN + 2_500_000);
    assert_eq!(account(&fx.state, &org_regulator()).balance, 1_000_000 * TOKEN - 2_500_000);
    assert_eq!(economy(&fx.state).balances, 1_120_000 * TOKEN, "a transfer leaves the total of balances alone");

    let t = fx.tx(&ent_b(), TxPayload::Transfer { to: org_a(), amount: 10_001 * TOKEN, memo: String::new() });
    let msg = assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::InsufficientFunds);
    assert!(msg.contains("holds 10000 TMC and needs 10001 TMC"), "{msg}");
    let t = fx.tx(&ent_b(), TxPayload::Transfer { to: uscc(77), amount: 1, memo: String::new() });
    assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::UnknownSender);

    let mut g = genesis(CHAIN);
    g.params.economy.token.transferable = false;
    let mut points = Fx::from_genesis(g);
    let t = points.tx(&regulator(), TxPayload::Transfer { to: org_a(), amount: 1, memo: String::new() });
    let msg = assert_tx_rejected(points.exec(vec![t]).receipt(0), RejectCode::StakingRefused);
    assert!(msg.contains("reward points"), "{msg}");
}

/// Issue 10's last point: a suspended organisation's validator is no longer elected. It keeps
/// the seats of the two sets already fixed (one epoch of lead time), then loses them to a
/// candidate with less stake.
#[test]
fn a_suspended_organisations_validator_is_not_elected() {
    let mut g = short_epochs();
    g.params.economy.staking.max_org_share_percent = 100;
    let mut fx = Fx::from_genesis(g);
    let (v1, mv, r2) = (v1(&fx), metrology_validator(), key(203));
    let txs = vec![
        fx.tx(&metrology(), register(&fx, &org_metrology(), &mv, "metrology-1", 0)),
        fx.tx(&metrology(), delegate(&mv.public_key(), 20_000)),
        fx.tx(&regulator(), register(&fx, &org_regulator(), &r2, "regulator-2", 0)),
        fx.tx(&regulator(), delegate(&r2.public_key(), 15_000)),
    ];
    let b = fx.exec(txs);
    for i in 0..4 {
        assert_tx_accepted(b.receipt(i));
    }
    let keys = |fx: &Fx, e: u64| {
        let mut k: Vec<PublicKey> =
            validator_set(&fx.state, e).unwrap().members.into_iter().map(|m| m.consensus_key).collect();
        k.sort_by(|a, b| a.bytes.cmp(&b.bytes));
        k
    };
    let sorted = |mut k: Vec<PublicKey>| {
        k.sort_by(|a, b| a.bytes.cmp(&b.bytes));
        k
    };
    // Two seats by stake: v1 (100 000) and the metrology authority's (20 000), not regulator-2 (15 000).
    run_to(&mut fx, 9);
    assert_eq!(keys(&fx, 2), sorted(vec![v1.clone(), mv.public_key()]));
    // The regulators suspend the metrology authority (1 of 1: the chain's only other regulator).
    let suspend = TxPayload::Propose {
        action: trustmeter_types::MembershipAction::Suspend {
            org: org_metrology(),
            reason: "calibration records under investigation".into(),
        },
    };
    let t = fx.tx(&regulator(), suspend);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    // The next election passes over its validator, stake and all.
    run_to(&mut fx, 19);
    assert_eq!(keys(&fx, 3), sorted(vec![v1.clone(), r2.public_key()]));
    let rec = validator(&fx.state, &mv.public_key()).unwrap();
    assert_eq!((rec.bonded, rec.jailed_until), (20_000 * TOKEN, None), "not punished: not elected");
}

#[test]
fn a_registered_validator_with_stake_is_elected_two_epochs_ahead() {
    let mut fx = Fx::from_genesis(short_epochs());
    let v1 = v1(&fx);
    assert_eq!(validator_set(&fx.state, 0).unwrap().members.len(), 1);
    assert_eq!(
        validator_set(&fx.state, 1).unwrap(),
        validator_set(&fx.state, 0)
            .map(|mut s| {
                s.epoch = 1;
                s
            })
            .unwrap()
    );
    assert!(validator_set(&fx.state, 2).is_none());

    let mv = metrology_validator();
    // An enterprise may not run a validator; a bad proof of possession is refused.
    let t = fx.tx(&ent_a(), register(&fx, &org_a(), &key(202), "a", 0));
    assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::NotAuthorised);
    let t = fx.tx(&metrology(), register(&fx, &org_regulator(), &mv, "m", 0));
    assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::BadProof);
    let t = fx.tx(&metrology(), register(&fx, &org_metrology(), &mv, "m", 21));
    assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::StakingRefused); // above 20 %

    let txs = vec![
        fx.tx(&metrology(), register(&fx, &org_metrology(), &mv, "metrology-1", 10)),
        fx.tx(&metrology(), delegate(&mv.public_key(), 20_000)),
        // Any member delegates: enterprise A backs the metrology authority's validator.
        fx.tx(&ent_a(), delegate(&mv.public_key(), 5_000)),
    ];
    let b = fx.exec(txs);
    for i in 0..3 {
        assert_tx_accepted(b.receipt(i));
    }
    let rec = validator(&fx.state, &mv.public_key()).unwrap();
    assert_eq!(rec.bonded, 25_000 * TOKEN);
    assert_eq!(economy(&fx.state).bonded, 125_000 * TOKEN);
    assert!(fx.state.height < 9);

    // Height 9 closes epoch 0: issuance, rewards to epoch 0's set (v1 alone), the election of epoch 2.
    run_to(&mut fx, 9);
    let set = validator_set(&fx.state, 2).expect("elected at the end of epoch 0");
    let mut expected = vec![v1.clone(), mv.public_key()];
    expected.sort_by(|a, b| a.bytes.cmp(&b.bytes));
    assert_eq!(set.members.iter().map(|m| m.consensus_key.clone()).collect::<Vec<_>>(), expected);
    assert_eq!(set.elected_height, 9);
    let e = economy(&fx.state);
    assert_eq!(e.issued, 10_000 * TOKEN);
    assert_eq!(e.supply, SUPPLY + 10_000 * TOKEN);
    // The default schedule gives the validators half of the pool: all 5 000 to v1, epoch 0's only
    // member; nobody earned data or verification points, so the other half stays in the pool.
    assert_eq!(e.unclaimed, 5_000 * TOKEN);
    assert_eq!(e.pool, 5_000 * TOKEN);

    // The regulator, v1's only stakeholder (commission 0), claims the 5 000.
    let t = fx.tx(&regulator(), TxPayload::Staking { op: StakingOp::Claim });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(account(&fx.state, &org_regulator()).balance, 1_005_000 * TOKEN);
    assert_eq!(economy(&fx.state).unclaimed, 0);

    // Height 19 closes epoch 1 (v1 alone again: half of 15 000): epoch 3 is elected the same.
    run_to(&mut fx, 19);
    assert_eq!(validator_set(&fx.state, 3).unwrap().members, set.members);
    assert_eq!(economy(&fx.state).pool, 7_500 * TOKEN);
    // Epoch 2 (heights 20–29, views 20–29) has two members, leading every other view: 5 blocks
    // each. At height 29 the validators' half of 17 500 is 8 750, 4 375 each. The metrology
    // validator keeps 10 % (437.5); its 3 937.5 are shared 20 000 : 5 000 between metrology
    // (3 150) and enterprise A (787.5).
    run_to(&mut fx, 29);
    let t = fx.tx(&ent_a(), TxPayload::Staking { op: StakingOp::Claim });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(account(&fx.state, &org_a()).balance, 5_000 * TOKEN + 787_500_000);
    let t = fx.tx(&metrology(), TxPayload::Staking { op: StakingOp::Claim });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(account(&fx.state, &org_metrology()).balance, 80_000 * TOKEN + 3_587_500_000);
}

#[test]
fn unbonding_waits_and_a_set_too_small_carries_over() {
    let mut fx = Fx::from_genesis(short_epochs());
    let mv = metrology_validator();
    let txs = vec![
        fx.tx(&metrology(), register(&fx, &org_metrology(), &mv, "metrology-1", 0)),
        fx.tx(&metrology(), delegate(&mv.public_key(), 20_000)),
    ];
    fx.exec(txs);
    run_to(&mut fx, 9);
    let two = validator_set(&fx.state, 2).unwrap();
    assert_eq!(two.members.len(), 2);

    // Metrology takes all its stake out in epoch 1 (height 10+): claimable from epoch 2.
    run_to(&mut fx, 11);
    let out = TxPayload::Staking { op: StakingOp::Undelegate { validator: mv.public_key(), amount: 20_000 * TOKEN } };
    let t = fx.tx(&metrology(), out);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(economy(&fx.state).unbonding, 20_000 * TOKEN);
    let t = fx.tx(&metrology(), TxPayload::Staking { op: StakingOp::Claim });
    let msg = assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::InsufficientFunds);
    assert!(msg.contains("released in epoch 2"), "{msg}");

    // At height 19 only v1 qualifies: one is fewer than min(N, 4) = 2, so epoch 3 keeps epoch 2's set.
    run_to(&mut fx, 19);
    let three = validator_set(&fx.state, 3).unwrap();
    assert_eq!(three.members, two.members);
    assert_eq!(three.elected_height, 19);

    run_to(&mut fx, 20);
    let t = fx.tx(&metrology(), TxPayload::Staking { op: StakingOp::Claim });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(account(&fx.state, &org_metrology()).balance, 100_000 * TOKEN);
    let e = economy(&fx.state);
    assert_eq!(e.unbonding, 0);
    assert!(fx.state.get(&StateKey::Delegation(org_metrology(), mv.public_key())).is_none());
}

/// Every token the state holds, summed entry by entry (independently of the totals record).
fn summed(state: &State) -> u64 {
    let mut total = 0u64;
    for (_, v) in state.scan(&KeyRange::token_accounts(), false, usize::MAX) {
        if let StateValue::Token(a) = v {
            total += a.balance + a.earned;
        }
    }
    for (_, v) in state.scan(&KeyRange::validators(), false, usize::MAX) {
        if let StateValue::Validator(v) = v {
            total += v.bonded + v.unbonding + v.rewards_outstanding;
        }
    }
    for (_, v) in state.scan(&KeyRange::epoch_rewards(), false, usize::MAX) {
        if let StateValue::EpochRewards(r) = v {
            total += (r.data_pool - r.data_paid) + (r.verification_pool - r.verification_paid);
        }
    }
    total + economy(state).pool
}

#[derive(Clone, Debug)]
enum Op {
    Transfer { from: usize, to: usize, tokens: u64 },
    Delegate { from: usize, to_metrology: bool, tokens: u64 },
    Undelegate { from: usize, to_metrology: bool, tokens: u64 },
    Claim { from: usize },
    Blocks(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..4usize, 0..4usize, 0..30_000u64).prop_map(|(from, to, tokens)| Op::Transfer { from, to, tokens }),
        (0..4usize, any::<bool>(), 0..30_000u64).prop_map(|(from, m, tokens)| Op::Delegate {
            from,
            to_metrology: m,
            tokens
        }),
        (0..4usize, any::<bool>(), 0..30_000u64).prop_map(|(from, m, tokens)| Op::Undelegate {
            from,
            to_metrology: m,
            tokens
        }),
        (0..4usize).prop_map(|from| Op::Claim { from }),
        (1..8u8).prop_map(Op::Blocks),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// For any sequence of transfers, delegations, undelegations, claims and epoch ends (with
    /// their issuance and rewards): balances + stakes + unbonding + pool + unclaimed = supply,
    /// both as the totals record says and as every entry sums up, and the supply only grows by
    /// issuance.
    #[test]
    fn the_supply_is_conserved(ops in proptest::collection::vec(op(), 1..40)) {
        let mut fx = Fx::from_genesis(short_epochs());
        let mv = metrology_validator();
        let txs = vec![
            fx.tx(&metrology(), register(&fx, &org_metrology(), &mv, "metrology-1", 15)),
            fx.tx(&metrology(), delegate(&mv.public_key(), 15_000)),
        ];
        fx.exec(txs);
        let members = [(regulator(), org_regulator()), (metrology(), org_metrology()), (ent_a(), org_a()), (ent_b(), org_b())];
        let v1 = v1(&fx);
        for op in ops {
            let target = |m: bool| if m { mv.public_key() } else { v1.clone() };
            let payload = match &op {
                Op::Transfer { from, to, tokens } => Some((*from, TxPayload::Transfer { to: members[*to].1.clone(), amount: tokens * 1_000 + 1, memo: String::new() })),
                Op::Delegate { from, to_metrology, tokens } => Some((*from, TxPayload::Staking { op: StakingOp::Delegate { validator: target(*to_metrology), amount: tokens * TOKEN / 3 + 1 } })),
                Op::Undelegate { from, to_metrology, tokens } => Some((*from, TxPayload::Staking { op: StakingOp::Undelegate { validator: target(*to_metrology), amount: tokens * TOKEN / 7 + 1 } })),
                Op::Claim { from } => Some((*from, TxPayload::Staking { op: StakingOp::Claim })),
                Op::Blocks(n) => {
                    for _ in 0..*n {
                        fx.exec(vec![]);
                    }
                    None
                }
            };
            if let Some((from, payload)) = payload {
                let t = fx.tx(&members[from].0, payload);
                fx.exec(vec![t]);
            }
            let e = economy(&fx.state);
            prop_assert!(e.conserved(), "{e:?}");
            prop_assert_eq!(summed(&fx.state), e.supply);
            prop_assert_eq!(e.supply, SUPPLY + e.issued);
            let epochs_closed = e.closed_epoch.map_or(0, |c| c + 1);
            prop_assert_eq!(e.issued, epochs_closed * 10_000 * TOKEN);
        }
        let kinds: Vec<OrgKind> = fx.genesis.params.economy.staking.eligible.clone();
        prop_assert!(kinds.contains(&OrgKind::MetrologyAuthority));
    }
}

/// Commonware's simplex signs `varint(len(ns)) ‖ ns ‖ message` with `ns` = the chain's consensus
/// namespace and `_NOTARIZE`, `_NULLIFY` or `_FINALIZE`; a proposal's message is
/// `varint(epoch) ‖ varint(view) ‖ varint(parent view) ‖ payload`, a round's the first two.
/// Written here from that description, independently of the code under test.
fn vote(k: &SigningKey, kind: VoteKind, (epoch, view): (u64, u64), parent: u64, payload: Hash32) -> SignedVote {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let suffix = match kind {
        VoteKind::Notarize => "_NOTARIZE",
        VoteKind::Nullify => "_NULLIFY",
        VoteKind::Finalize => "_FINALIZE",
    };
    let ns = format!("trustmeter/consensus/{CHAIN}{suffix}").into_bytes();
    let mut signed = Vec::new();
    varint(ns.len() as u64, &mut signed);
    signed.extend_from_slice(&ns);
    varint(epoch, &mut signed);
    varint(view, &mut signed);
    if kind != VoteKind::Nullify {
        varint(parent, &mut signed);
        signed.extend_from_slice(&payload.0);
    }
    SignedVote { kind, parent_view: parent, payload, signature: k.sign(&signed) }
}

#[test]
fn equivocation_is_slashed_pro_rata_and_jails_until_unjailed() {
    let mut fx = Fx::from_genesis(short_epochs());
    let v1 = v1(&fx);
    let consensus = key(200); // the fixture's genesis validator
    // Enterprise A delegates 4 000 to v1 first: it shares the slash pro rata.
    let t = fx.tx(&ent_a(), delegate(&v1, 4_000));
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));

    let a = vote(&consensus, VoteKind::Finalize, (0, 5), 4, Hash32([1; 32]));
    let b = vote(&consensus, VoteKind::Finalize, (0, 5), 4, Hash32([2; 32]));
    let evidence = |first: SignedVote, second: SignedVote| TxPayload::Staking {
        op: StakingOp::ReportEquivocation {
            evidence: Equivocation { validator: v1.clone(), epoch: 0, view: 5, first, second },
        },
    };
    // A forged second vote is refused; votes that do not conflict never reach a block.
    let mut forged = b.clone();
    forged.payload = Hash32([3; 32]);
    let t = fx.tx(&ent_b(), evidence(a.clone(), forged));
    let msg = assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::BadProof);
    assert!(msg.contains("Finalize vote does not carry"), "{msg}");
    let same = fx.tx(&ent_b(), evidence(a.clone(), a.clone()));
    let none = trustmeter_state::SignatureVerdicts::none();
    let rej = trustmeter_state::exec::check_includable(&fx.state, &same, &none).unwrap_err();
    assert_eq!(rej.code, RejectCode::Malformed, "{}", rej.message);

    // Reported by the validator's own consensus key (as a node reports what its engine saw): the
    // sender is no member account, and the report is accepted in its operator's name.
    let report = fx.tx(&consensus, evidence(a.clone(), b.clone()));
    assert_tx_accepted(fx.exec(vec![report]).receipt(0));
    let rec = validator(&fx.state, &v1).unwrap();
    // 5 % of 104 000: 5 200 to the pool; the regulator keeps 95 000, enterprise A 3 800.
    assert_eq!(rec.bonded, 98_800 * TOKEN);
    assert_eq!(rec.slashed, 5_200 * TOKEN);
    assert_eq!(rec.jailed_until, Some(1));
    assert!(rec.jail_reason.contains("equivocation at epoch 0 view 5"), "{}", rec.jail_reason);
    let a_stake = rec.tokens_of(match fx.state.get(&StateKey::Delegation(org_a(), v1.clone())) {
        Some(StateValue::Delegation(d)) => d.shares,
        _ => panic!("A's stake"),
    });
    assert_eq!(a_stake, 3_800 * TOKEN);
    let e = economy(&fx.state);
    assert_eq!((e.slashed, e.pool), (5_200 * TOKEN, 5_200 * TOKEN));
    // The same round again, or another round of the same epoch: not slashed twice.
    let again = fx.tx(&ent_b(), evidence(b.clone(), a.clone()));
    assert_tx_rejected(fx.exec(vec![again]).receipt(0), RejectCode::DuplicateTx);
    let (c, d) = (
        vote(&consensus, VoteKind::Notarize, (0, 9), 8, Hash32([4; 32])),
        vote(&consensus, VoteKind::Notarize, (0, 9), 8, Hash32([5; 32])),
    );
    let later = TxPayload::Staking {
        op: StakingOp::ReportEquivocation {
            evidence: Equivocation { validator: v1.clone(), epoch: 0, view: 9, first: c, second: d },
        },
    };
    let later = fx.tx(&ent_b(), later);
    let msg = assert_tx_rejected(fx.exec(vec![later]).receipt(0), RejectCode::DuplicateTx);
    assert!(msg.contains("at most once per epoch"), "{msg}");
    assert_eq!(validator(&fx.state, &v1).unwrap().slashed, 5_200 * TOKEN);

    // Jailed until epoch 1: unjail is refused before, accepted after.
    let unjail = TxPayload::Staking { op: StakingOp::Unjail { validator: v1.clone() } };
    let t = fx.tx(&regulator(), unjail.clone());
    let msg = assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::StakingRefused);
    assert!(msg.contains("jailed until epoch 1"), "{msg}");
    let t = fx.tx(&ent_a(), unjail.clone());
    assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::NotAuthorised);
    run_to(&mut fx, 10);
    let t = fx.tx(&regulator(), unjail);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(validator(&fx.state, &v1).unwrap().jailed_until, None);
}

#[test]
fn leaders_of_skipped_views_miss_their_turns_and_are_jailed_without_a_slash() {
    // Four genesis validators, 20-block epochs. The leader of view v is member (epoch + v) mod 4
    // = v mod 4. Epoch 0's 19 blocks come in views 1–23 except 5, 9, 13 and 21: member 1 led
    // views 1, 5, 9, 13, 17 and 21, proposed 2 of them and missed 4 (67 % > 50 %).
    let (mut fx, _) = four_validators();
    let set = validator_set(&fx.state, 0).unwrap();
    let views: Vec<u64> = (1..=23).filter(|v| !(v % 4 == 1 && *v != 1 && *v != 17)).collect();
    assert_eq!(views.len(), 19);
    for (i, view) in views.iter().enumerate() {
        if i == 17 {
            // blocks of views 1–20 so far
            let act = trustmeter_state::economy::epoch_activity(&fx.state, 0).unwrap();
            assert_eq!(act.blocks, 17);
            assert_eq!((act.proposed[1], act.missed[1]), (2, 3), "views 1, 17 proposed; 5, 9, 13 missed");
            assert_eq!(act.missed.iter().sum::<u64>(), 3);
        }
        let ctx = trustmeter_state::exec::BlockContext { epoch: 0, view: *view, timestamp_ms: fx.next_ts() };
        let none = trustmeter_state::SignatureVerdicts::none();
        let (_, out) = trustmeter_state::build_block(&fx.state, &ctx, vec![], &none);
        fx.state = out.state.commit().unwrap();
    }
    // View 22's block charged view 21 to member 1; height 19 (view 23) closed epoch 0: 2 of 6.
    assert_eq!(fx.state.height, 19);
    let act = trustmeter_state::economy::epoch_activity(&fx.state, 0).unwrap();
    assert_eq!((act.proposed[1], act.missed[1]), (2, 4));
    let absent = validator(&fx.state, &set.members[1].consensus_key).unwrap();
    assert_eq!(absent.jailed_until, Some(2));
    assert_eq!(absent.slashed, 0);
    assert!(absent.jail_reason.contains("missed 4 of its 6 leader turns in epoch 0"), "{}", absent.jail_reason);
    for i in [0, 2, 3] {
        assert_eq!(validator(&fx.state, &set.members[i].consensus_key).unwrap().jailed_until, None, "member {i}");
    }
    // The validators' half of the epoch's 10 000 went by blocks proposed: member 1 proposed 2 of 19.
    let paid = validator(&fx.state, &set.members[1].consensus_key).unwrap().rewards_outstanding;
    assert_eq!(paid, 5_000 * TOKEN * 2 / 19);
}

/// Four genesis validators (keys 200, 210, 211, 212), 20-block epochs, all seats open to one
/// organisation; with each member's signing key, by set index.
fn four_validators() -> (Fx, Vec<SigningKey>) {
    let mut g = short_epochs();
    g.params.economy.staking.epoch_length = 20;
    g.params.economy.staking.validators = 4;
    g.params.economy.staking.max_org_share_percent = 100;
    for i in 0..3u8 {
        let k = key(210 + i);
        g.validators.push(trustmeter_types::GenesisValidator {
            name: format!("v{}", i + 2),
            org: org_regulator(),
            consensus_key: k.public_key().bytes.iter().map(|b| format!("{b:02x}")).collect(),
            p2p_address: format!("127.0.0.1:{}", 7001 + i as u16),
            self_stake: 100_000 * TOKEN,
        });
    }
    let fx = Fx::from_genesis(g);
    let set = validator_set(&fx.state, 0).unwrap();
    let keys = set
        .members
        .iter()
        .map(|m| {
            [key(200), key(210), key(211), key(212)]
                .into_iter()
                .find(|k| k.public_key() == m.consensus_key)
                .expect("a genesis validator's key")
        })
        .collect();
    (fx, keys)
}

fn record_votes(
    fx: &Fx,
    sender: &SigningKey,
    nonce: u64,
    (height, view, parent_view, payload): (u64, u64, u64, Hash32),
    voters: &[(u32, &SigningKey)],
) -> trustmeter_types::Transaction {
    use trustmeter_types::economy::{FinalizeVotes, MemberVote};
    let votes = voters
        .iter()
        .map(|(i, k)| MemberVote {
            signer: *i,
            signature: vote(k, VoteKind::Finalize, (0, view), parent_view, payload).signature,
        })
        .collect();
    let votes = FinalizeVotes { height, view, parent_view, payload, votes };
    fx.tx_with_nonce(sender, nonce, TxPayload::Staking { op: StakingOp::RecordVotes { votes } })
}

#[test]
fn recorded_finalize_votes_credit_their_signers_pay_them_and_jail_the_absent() {
    // Epoch 0's blocks come in views 1–19 (no view skipped: nobody misses a leader turn). From
    // height 3 on, each block records the finalize votes of its grandparent, signed by members
    // 0, 2 and 3: member 1 never votes. Heights 1–17 are recorded (17 finalizations).
    let (mut fx, keys) = four_validators();
    let none = trustmeter_state::SignatureVerdicts::none();
    let mut blocks: Vec<(u64, u64, u64, Hash32)> = vec![]; // (height, view, parent view, digest)
    let voters = [(0u32, &keys[0]), (2, &keys[2]), (3, &keys[3])];
    for view in 1..=19u64 {
        let height = fx.state.height + 1;
        let mut txs = vec![];
        if height >= 3 {
            let b = blocks[(height - 3) as usize];
            txs.push(record_votes(&fx, &keys[2], height, b, &voters));
        }
        if height == 10 {
            // Refused, each for its own reason (the block's own record above is accepted first).
            let b = blocks[7]; // height 8: recorded by this block's own record, just above
            txs.push(record_votes(&fx, &keys[0], height, b, &voters)); // again
            let b8 = blocks[8]; // height 9, the parent: not recorded yet
            txs.push(record_votes(&fx, &keys[0], height + 1, b8, &voters)); // not the block's height
            txs.push(record_votes(&fx, &keys[0], height, b8, &voters[..2])); // below a quorum
            let mut forged = voters.to_vec();
            forged[1] = (1, &keys[2]); // member 1's vote signed by member 2
            txs.push(record_votes(&fx, &keys[0], height, b8, &forged));
            txs.push(record_votes(&fx, &ent_a(), height, b8, &voters)); // not a validator
            let wrong = (b8.0, b8.1, b8.2, Hash32([9; 32]));
            txs.push(record_votes(&fx, &keys[0], height, wrong, &voters)); // not this chain's block
        }
        let ctx = trustmeter_state::exec::BlockContext { epoch: 0, view, timestamp_ms: fx.next_ts() };
        let (block, out) = trustmeter_state::build_block(&fx.state, &ctx, txs, &none);
        if height >= 3 {
            assert_tx_accepted(&out.receipts[0]);
        }
        if height == 10 {
            let codes: Vec<RejectCode> = out.receipts[1..]
                .iter()
                .map(|r| match &r.outcome {
                    trustmeter_types::TxOutcome::Rejected(r) => r.code,
                    o => panic!("accepted: {o:?}"),
                })
                .collect();
            use RejectCode::*;
            assert_eq!(codes, [DuplicateTx, StaleNonce, BadProof, BadProof, NotAuthorised, BadProof]);
        }
        let parent_view = blocks.last().map_or(0, |b| b.1);
        fx.state = out.state.commit().unwrap();
        blocks.push((height, view, parent_view, fx.state.block_digest));
        assert_eq!(block.header.height, height);
        if height == 18 {
            let act = trustmeter_state::economy::epoch_activity(&fx.state, 0).unwrap();
            assert_eq!((act.finalized, act.recorded_height), (16, 16));
            assert_eq!(act.signed, [16, 0, 16, 16]);
            assert_eq!(act.missed, [0, 0, 0, 0]);
            assert!(act.recent.len() <= 16 && act.recent.last().unwrap().0 == 17, "{:?}", act.recent);
        }
    }
    assert_eq!(fx.state.height, 19, "the epoch's last block");
    // Members' senders keep their nonces: a record does not move them.
    assert_eq!(fx.state.nonce(&keys[2].public_key()), 0);
    let act = trustmeter_state::economy::epoch_activity(&fx.state, 0).unwrap();
    assert_eq!((act.finalized, act.signed.clone()), (17, vec![17, 0, 17, 17]));
    let set = validator_set(&fx.state, 0).unwrap();
    let absent = validator(&fx.state, &set.members[1].consensus_key).unwrap();
    assert_eq!((absent.jailed_until, absent.slashed), (Some(2), 0));
    assert!(
        absent.jail_reason.contains("its vote is missing from 17 of the 17 finalizations recorded in epoch 0"),
        "{}",
        absent.jail_reason
    );
    for i in [0, 2, 3] {
        assert_eq!(validator(&fx.state, &set.members[i].consensus_key).unwrap().jailed_until, None, "member {i}");
    }
    // Weights: blocks proposed (leader of view v is member v mod 4: 4, 5, 5, 5) plus votes
    // recorded (17, 0, 17, 17): 21, 5, 22, 22 of 70. The validators' half of the 10 000 issued.
    let pool = 5_000 * TOKEN;
    for (i, w) in [21u64, 5, 22, 22].into_iter().enumerate() {
        let v = validator(&fx.state, &set.members[i].consensus_key).unwrap();
        assert_eq!(v.rewards_outstanding, pool * w / 70, "member {i}");
    }
    // A record never enters the mempool.
    let b = blocks[18];
    let t = record_votes(&fx, &keys[0], 20, b, &voters);
    let rej = trustmeter_state::exec::admission_check(&fx.state, &t, &none).unwrap_err();
    assert_eq!(rej.code, RejectCode::NotAuthorised);
}

#[test]
fn readings_earn_points_and_the_epoch_pays_them_by_the_deployed_schedule() {
    let mut fx = Fx::ready_from(short_epochs());
    let base = fx.state.height; // 3: the set-up blocks
    let t = fx.next_ts() - 60_000;
    // A: two timely readings (2 × 2 = 4 points). B: one timely, one refused (a timestamp far in
    // the future): 2 − 1 = 1 point.
    let a = fx.submit(
        &gw_a1(),
        A_GW1,
        vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, t - 900_000, 10)), by_gateway(&gw_a1(), kwh(A_EM1, 2, t, 12))],
    );
    let b = fx.submit(
        &gw_b1(),
        B_GW1,
        vec![by_gateway(&gw_b1(), kwh(B_EM1, 1, t, 5)), by_gateway(&gw_b1(), kwh(B_EM1, 2, t + 10 * 3_600_000, 6))],
    );
    let out = fx.exec(vec![a, b]);
    assert!(out.reading(1, 1) != &trustmeter_types::ReadingOutcome::Accepted);
    let pa = trustmeter_state::economy::points_of(&fx.state, &org_a());
    assert_eq!(pa.len(), 1);
    assert_eq!((pa[0].1.data_points, pa[0].1.accepted, pa[0].1.timely), (4, 2, 2));
    let pb = trustmeter_state::economy::points_of(&fx.state, &org_b());
    assert_eq!((pb[0].1.data_points, pb[0].1.rejected), (1, 1));
    // Before the epoch ends there is nothing to claim.
    let t = fx.tx(&ent_a(), TxPayload::Staking { op: StakingOp::Claim });
    let msg = assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::InsufficientFunds);
    assert!(msg.contains("paid once it ends"), "{msg}");
    assert!(base < 9);

    // A regulator deploys version 2 from epoch 2; a broken one and one for the current epoch are refused.
    let v2 = trustmeter_policy::reward::DEFAULT_REWARD_TOML
        .replace("version = 1", "version = 2")
        .replace("enterprises = 40", "enterprises = 45")
        .replace("verifiers = 10", "verifiers = 5");
    let deploy = |text: &str, e: u64| TxPayload::DeployRewardSchedule { text: text.into(), effective_epoch: e };
    let t = fx.tx(&regulator(), deploy(&v2.replace("data.timely *", "data.on_time *"), 2));
    assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::InvalidPolicy);
    let t = fx.tx(&regulator(), deploy(&v2, 0));
    assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::InvalidPolicy);
    let t = fx.tx(&ent_a(), deploy(&v2, 2));
    assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::NotAuthorised);
    let t = fx.tx(&regulator(), deploy(&v2, 2));
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));

    // Height 9 ends epoch 0: 10 000 issued; 50 % (5 000) to the validators, 40 % (4 000) set aside
    // for the 5 data points, the verifiers' 10 % stays in the pool (nobody earned any).
    run_to(&mut fx, 9);
    let r = trustmeter_state::economy::epoch_rewards(&fx.state, 0);
    assert_eq!((r.data_pool, r.verification_pool, r.validators_paid), (4_000 * TOKEN, 0, 5_000 * TOKEN));
    assert_eq!(economy(&fx.state).pool, 1_000 * TOKEN);
    let t = fx.tx(&ent_a(), TxPayload::Staking { op: StakingOp::Claim });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    // A: 4 of 5 points of 4 000 = 3 200.
    assert_eq!(account(&fx.state, &org_a()).balance, 10_000 * TOKEN + 3_200 * TOKEN);
    assert!(trustmeter_state::economy::points_of(&fx.state, &org_a()).is_empty());
    assert_eq!(trustmeter_state::economy::schedule_in_force(&fx.state, 2).0.version, 2);
    assert_eq!(trustmeter_state::economy::schedule_in_force(&fx.state, 1).0.version, 1);
    let e = economy(&fx.state);
    assert!(e.conserved());
    assert_eq!(summed(&fx.state), e.supply);
}
