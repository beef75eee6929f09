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
use trustmeter_types::economy::{StakingOp, TOKEN, validator_proof_payload};
use trustmeter_types::{Genesis, OrgKind, PublicKey, RejectCode, TxPayload, UnifiedSocialCreditCode};

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
    assert_eq!(e.unclaimed, 10_000 * TOKEN, "epoch 0's whole pool went to v1, its only member");
    assert_eq!(e.pool, 0);

    // The regulator, v1's only stakeholder (commission 0), claims the 10 000.
    let t = fx.tx(&regulator(), TxPayload::Staking { op: StakingOp::Claim });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(account(&fx.state, &org_regulator()).balance, 1_010_000 * TOKEN);
    assert_eq!(economy(&fx.state).unclaimed, 0);

    // Height 19 closes epoch 1 (v1 alone again): epoch 3 is elected the same.
    run_to(&mut fx, 19);
    assert_eq!(validator_set(&fx.state, 3).unwrap().members, set.members);
    // Epoch 2 has two members: at height 29 each gets 5 000. The metrology validator keeps 10 %
    // (500); its 4 500 are shared 20 000 : 5 000 between metrology (3 600) and enterprise A (900).
    run_to(&mut fx, 29);
    let t = fx.tx(&ent_a(), TxPayload::Staking { op: StakingOp::Claim });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(account(&fx.state, &org_a()).balance, 5_000 * TOKEN + 900 * TOKEN);
    let t = fx.tx(&metrology(), TxPayload::Staking { op: StakingOp::Claim });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(account(&fx.state, &org_metrology()).balance, 80_000 * TOKEN + 4_100 * TOKEN);
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
