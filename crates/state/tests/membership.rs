//! Membership after genesis (成员管理): admissions by the right regulators, k-of-n approvals,
//! suspension and removal, account keys added, rotated and revoked (a regulator's only with the
//! other regulators' approval).

use crate::common::*;
use trustmeter_crypto::{SigningKey, tx_hash};
use trustmeter_types::limits::MAX_ACCOUNTS_PER_ORG;
use trustmeter_types::{
    Hash32, MembershipAction, NewAccount, OrgKind, OrgStatus, Organisation, ProposalStatus, RejectCode, Transaction,
    TxPayload, UnifiedSocialCreditCode, account_proof_payload,
};

fn new_account(org: &UnifiedSocialCreditCode, k: &SigningKey) -> NewAccount {
    let chain = trustmeter_types::ChainId::new(CHAIN).unwrap();
    let proof = k.sign(&account_proof_payload(&chain, org, &k.public_key()));
    NewAccount { public_key: k.public_key(), proof }
}

fn admit(n: u32, kind: OrgKind, region: u32, k: &SigningKey) -> MembershipAction {
    let organisation = Organisation { id: uscc(n), name: format!("member {n}"), kind, region };
    let accounts = vec![new_account(&uscc(n), k)];
    MembershipAction::Admit { organisation, accounts }
}

fn propose(fx: &mut Fx, by: &SigningKey, action: MembershipAction) -> (Transaction, Hash32) {
    let tx = fx.tx(by, TxPayload::Propose { action });
    let id = tx_hash(fx.state.hash_alg(), &tx);
    (tx, id)
}

fn approve(fx: &mut Fx, by: &SigningKey, id: Hash32) -> Transaction {
    fx.tx(by, TxPayload::Approve { proposal: id })
}

/// A gateway registration by `k` under organisation `n`'s code (any accepted transaction shows
/// that `k` acts for `n`).
fn register_gateway(fx: &mut Fx, k: &SigningKey, n: u32, gw: u8) -> Transaction {
    let id = trustmeter_types::DeviceId::new(format!("{}-GW{gw}", uscc(n))).unwrap();
    fx.tx(k, TxPayload::RegisterGateway { id, public_key: key(180 + gw).public_key() })
}

/// The fixture plus two more regulators (uscc 10 and 11, keys 110 and 111): three in all.
fn three_regulators() -> Fx {
    three_regulators_on(Fx::ready())
}

/// [`three_regulators`] on the given fixture.
fn three_regulators_on(mut fx: Fx) -> Fx {
    let (a, _) = propose(&mut fx, &regulator(), admit(10, OrgKind::Regulator, 430_000, &key(110)));
    let b = fx.exec(vec![a]);
    assert_tx_accepted(b.receipt(0)); // one regulator: 1 of 1
    // Two regulators now; admitting a third takes both (more than half of 2).
    let (t, id) = propose(&mut fx, &regulator(), admit(11, OrgKind::Regulator, 100_000, &key(111)));
    let b = fx.exec(vec![t]);
    assert_tx_accepted(b.receipt(0));
    assert!(fx.state.organisation(&uscc(11)).is_none(), "1 of 2 approvals is not enough");
    let t = approve(&mut fx, &key(110), id);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert!(fx.state.organisation(&uscc(11)).is_some());
    assert_eq!(fx.state.regulators(), vec![org_regulator(), uscc(10), uscc(11)]);
    fx
}

#[test]
fn an_enterprise_is_admitted_by_a_regulator_of_its_region_only() {
    let mut fx = three_regulators();
    // Changsha (430100) is the fixture regulator's own region; Shenzhen (440300) is not.
    let (here, id) = propose(&mut fx, &regulator(), admit(20, OrgKind::Enterprise, 430_121, &key(120)));
    let (there, _) = propose(&mut fx, &regulator(), admit(21, OrgKind::Enterprise, 440_300, &key(121)));
    // The national regulator (100000) covers every region.
    let (national, _) = propose(&mut fx, &key(111), admit(22, OrgKind::Enterprise, 440_300, &key(122)));
    // An enterprise admits nobody.
    let (by_enterprise, _) = propose(&mut fx, &ent_a(), admit(23, OrgKind::Enterprise, 430_100, &key(123)));
    let b = fx.exec(vec![here, there, national, by_enterprise]);
    assert_tx_accepted(b.receipt(0));
    let msg = assert_tx_rejected(b.receipt(1), RejectCode::NotAuthorised);
    assert!(msg.contains("jurisdiction covers region 440300"), "{msg}");
    assert_tx_accepted(b.receipt(2));
    assert_tx_rejected(b.receipt(3), RejectCode::NotAuthorised);
    // One approval sufficed: executed in the proposing block.
    let p = fx.state.proposal(&id).unwrap();
    assert_eq!((p.required, p.status), (1, ProposalStatus::Executed { height: fx.state.height }));
    assert_eq!(fx.state.membership(&uscc(20)).unwrap().status, OrgStatus::Active);
    // The new enterprise acts with its key, under its own code only.
    let own = register_gateway(&mut fx, &key(120), 20, 1);
    let other = register_gateway(&mut fx, &key(120), 21, 2);
    let b = fx.exec(vec![own, other]);
    assert_tx_accepted(b.receipt(0));
    assert_tx_rejected(b.receipt(1), RejectCode::DeviceIdNotOwned);
}

#[test]
fn admitting_an_authority_takes_k_of_n_regulators_before_expiry() {
    let mut fx = three_regulators();
    let verifier = admit(30, OrgKind::Verifier, 430_000, &key(130));
    let (t, id) = propose(&mut fx, &regulator(), verifier.clone());
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    let p = fx.state.proposal(&id).unwrap();
    assert_eq!((p.required, p.approvals.len(), p.status.clone()), (2, 1, ProposalStatus::Pending), "2 of 3");
    // Not an approver, approving twice, an unknown proposal: refused with reasons.
    let by_enterprise = approve(&mut fx, &ent_a(), id);
    let twice = approve(&mut fx, &regulator(), id);
    let unknown = approve(&mut fx, &key(110), Hash32([7; 32]));
    let b = fx.exec(vec![by_enterprise, twice, unknown]);
    assert_tx_rejected(b.receipt(0), RejectCode::NotAuthorised);
    assert!(assert_tx_rejected(b.receipt(1), RejectCode::InvalidTransition).contains("already approved"));
    assert_tx_rejected(b.receipt(2), RejectCode::ProposalNotPending);
    assert!(fx.state.organisation(&uscc(30)).is_none());
    // The second regulator's approval executes it.
    let t = approve(&mut fx, &key(111), id);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert!(fx.state.organisation(&uscc(30)).is_some());
    assert_eq!(fx.state.proposal(&id).unwrap().approvals, vec![org_regulator(), uscc(11)]);
    // Approving an executed proposal is refused.
    let late = approve(&mut fx, &key(110), id);
    assert_tx_rejected(fx.exec(vec![late]).receipt(0), RejectCode::ProposalNotPending);

    // A proposal past its lifetime cannot be approved any more.
    let (t, id) = propose(&mut fx, &regulator(), admit(31, OrgKind::IndustryAssociation, 430_000, &key(131)));
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    let lifetime = fx.state.params.governance.proposal_lifetime_ms;
    let t = approve(&mut fx, &key(110), id);
    let b = fx.exec_at(fx.state.timestamp_ms + lifetime + 1_000, vec![t]);
    assert!(assert_tx_rejected(b.receipt(0), RejectCode::ProposalNotPending).contains("expired"));
    assert!(fx.state.organisation(&uscc(31)).is_none());
}

#[test]
fn a_regulators_key_rotates_only_with_the_other_regulators_approval() {
    let mut fx = three_regulators();
    let new = key(140);
    // Self-service is refused for a regulator.
    let own = fx.tx(&regulator(), fx.new_account(&regulator(), &new));
    let b = fx.exec(vec![own]);
    assert!(assert_tx_rejected(b.receipt(0), RejectCode::NotAuthorised).contains("by proposal"));
    // Another regulator proposes the new key; the regulator concerned does not count: the other
    // two (k = 2 of 2) must approve.
    let add = MembershipAction::AddAccount { org: org_regulator(), account: new_account(&org_regulator(), &new) };
    let (t, add_id) = propose(&mut fx, &key(110), add);
    let by_itself = approve(&mut fx, &regulator(), add_id);
    let b = fx.exec(vec![t, by_itself]);
    assert_tx_accepted(b.receipt(0));
    assert_tx_rejected(b.receipt(1), RejectCode::NotAuthorised);
    let t = approve(&mut fx, &key(111), add_id);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(fx.state.account_org(&new.public_key()), Some(org_regulator()));
    // Then the old key is revoked the same way; it can sign nothing afterwards.
    let revoke = MembershipAction::RevokeAccount {
        org: org_regulator(),
        public_key: regulator().public_key(),
        reason: "rotated after the 2026 key ceremony".into(),
    };
    let (t, id) = propose(&mut fx, &key(111), revoke);
    let t2 = approve(&mut fx, &key(110), id);
    let b = fx.exec(vec![t, t2]);
    assert_tx_accepted(b.receipt(0));
    assert_tx_accepted(b.receipt(1));
    let account = fx.state.account(&regulator().public_key()).unwrap();
    assert_eq!(account.revoked_at_ms, Some(fx.state.timestamp_ms));
    let old = fx.tx(&regulator(), TxPayload::ActivateDevice { device: dev("A-GW1") });
    assert_tx_rejected(fx.exec(vec![old]).receipt(0), RejectCode::UnknownSender);
    // The new key acts for the regulator; a revoked key is never reusable.
    let (t, _) = propose(&mut fx, &new, admit(41, OrgKind::Enterprise, 430_100, &regulator()));
    let b = fx.exec(vec![t]);
    assert_tx_rejected(b.receipt(0), RejectCode::AlreadyRegistered);
}

#[test]
fn a_suspended_enterprise_is_refused_with_the_reason_until_reinstated_and_removal_is_final() {
    let mut fx = Fx::ready();
    let t0 = fx.next_ts();
    let suspend = MembershipAction::Suspend { org: org_a(), reason: "energy audit fraud under investigation".into() };
    let (t, _) = propose(&mut fx, &regulator(), suspend);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    let m = fx.state.membership(&org_a()).unwrap();
    assert_eq!((m.status, m.since_ms), (OrgStatus::Suspended, t0));
    // Its accounts and its gateways are refused, with the reason.
    let by_account = fx.tx(&ent_a(), TxPayload::RevokeDevice { device: dev("A-EM1"), reason: "x".into() });
    let ts = fx.next_ts();
    let from_gateway = fx.submit(&gw_a1(), A_GW1, vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, ts - 1_000, 5))]);
    let b = fx.exec(vec![by_account, from_gateway]);
    for i in 0..2 {
        let msg = assert_tx_rejected(b.receipt(i), RejectCode::OrganisationNotActive);
        assert!(msg.contains("suspended since") && msg.contains("energy audit fraud"), "{msg}");
    }
    // Its registry history stays: the gateway and meter are still there, and provable.
    assert!(fx.state.gateway(&dev(A_GW1)).is_some());
    assert!(fx.state.prove(&trustmeter_state::StateKey::Gateway(dev(A_GW1))).is_some());
    // Another enterprise is unaffected; the regulator reinstates A and its readings flow again.
    let (t, _) = propose(&mut fx, &regulator(), MembershipAction::Reinstate { org: org_a() });
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    let ts = fx.next_ts();
    let batch = fx.submit(&gw_a1(), A_GW1, vec![by_gateway(&gw_a1(), kwh(A_EM1, 1, ts - 1_000, 5))]);
    let b = fx.exec(vec![batch]);
    assert_tx_accepted(b.receipt(0));
    assert!(b.reading(0, 0).is_recorded(), "{:?}", b.reading(0, 0));
    // Removal is final.
    let remove = MembershipAction::Remove { org: org_a(), reason: "closed down".into() };
    let (t, _) = propose(&mut fx, &regulator(), remove);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    let (t, _) = propose(&mut fx, &regulator(), MembershipAction::Reinstate { org: org_a() });
    assert!(assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::InvalidTransition).contains("not suspended"));
    // The chain's only regulator cannot be suspended (nobody could admit anyone any more), but
    // it does change its own keys: there is no other regulator to ask.
    let (t, _) =
        propose(&mut fx, &regulator(), MembershipAction::Suspend { org: org_regulator(), reason: "test".into() });
    let msg = assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::InvalidTransition);
    assert!(msg.contains("only active regulator"), "{msg}");
    let add = MembershipAction::AddAccount { org: org_regulator(), account: new_account(&org_regulator(), &key(160)) };
    let (t, _) = propose(&mut fx, &regulator(), add);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(fx.state.account_org(&key(160).public_key()), Some(org_regulator()));
}

#[test]
fn an_enterprise_manages_its_own_keys_with_proofs_and_bounds() {
    let mut fx = Fx::ready();
    // A proof made for another organisation does not verify.
    let wrong = new_account(&org_b(), &key(150));
    let bad = fx.tx(&ent_a(), TxPayload::RegisterAccount { public_key: wrong.public_key, proof: wrong.proof });
    let b = fx.exec(vec![bad]);
    assert!(assert_tx_rejected(b.receipt(0), RejectCode::BadProof).contains("proof of possession"));
    // Up to the bound, then limit_reached.
    let txs: Vec<_> =
        (0..MAX_ACCOUNTS_PER_ORG as u8).map(|i| fx.tx(&ent_a(), fx.new_account(&ent_a(), &key(151 + i)))).collect();
    let b = fx.exec(txs);
    for i in 0..MAX_ACCOUNTS_PER_ORG - 1 {
        assert_tx_accepted(b.receipt(i));
    }
    assert_tx_rejected(b.receipt(MAX_ACCOUNTS_PER_ORG - 1), RejectCode::LimitReached);
    assert_eq!(fx.state.membership(&org_a()).unwrap().active_accounts as usize, MAX_ACCOUNTS_PER_ORG);
    // It revokes a key; the key signs nothing more and is never registered again.
    let revoke = fx.tx(&ent_a(), TxPayload::RevokeAccount { public_key: key(151).public_key(), reason: "lost".into() });
    assert_tx_accepted(fx.exec(vec![revoke]).receipt(0));
    let by_revoked = register_gateway(&mut fx, &key(151), 3, 9);
    let again = fx.tx(&ent_a(), fx.new_account(&ent_a(), &key(151)));
    let b = fx.exec(vec![by_revoked, again]);
    assert_tx_rejected(b.receipt(0), RejectCode::UnknownSender);
    assert_tx_rejected(b.receipt(1), RejectCode::AlreadyRegistered);
    // Another organisation's key is not its to revoke.
    let foreign = fx.tx(&ent_a(), TxPayload::RevokeAccount { public_key: ent_b().public_key(), reason: "x".into() });
    assert_tx_rejected(fx.exec(vec![foreign]).receipt(0), RejectCode::InvalidTransition);
    // Enterprise B cannot revoke its last key.
    let last = fx.tx(&ent_b(), TxPayload::RevokeAccount { public_key: ent_b().public_key(), reason: "x".into() });
    let msg = assert_tx_rejected(fx.exec(vec![last]).receipt(0), RejectCode::InvalidTransition);
    assert!(msg.contains("last active account key"), "{msg}");
}

#[test]
fn an_enterprise_grants_and_revokes_reads_of_its_data() {
    use trustmeter_types::GrantScope;
    let mut fx = three_regulators();
    // A verifier to grant to (admitted by two of the three regulators).
    let (t, id) = propose(&mut fx, &regulator(), admit(50, OrgKind::Verifier, 430_000, &key(170)));
    let t2 = approve(&mut fx, &key(110), id);
    let b = fx.exec(vec![t, t2]);
    assert_tx_accepted(b.receipt(1));
    let verifier = uscc(50);
    let ts = fx.next_ts();
    let year = 366 * 86_400_000;
    let grant = |grantee: &UnifiedSocialCreditCode, scope, until| TxPayload::Grant {
        grantee: grantee.clone(),
        scope,
        expires_at_ms: until,
    };
    let txs = vec![
        fx.tx(&ent_a(), grant(&verifier, GrantScope::Readings, ts + year)),
        fx.tx(&ent_a(), grant(&verifier, GrantScope::Figures, ts - 1)), // already over
        fx.tx(&ent_a(), grant(&verifier, GrantScope::Figures, ts + 6 * year)), // beyond 5 years
        fx.tx(&ent_a(), grant(&uscc(77), GrantScope::Figures, ts + year)), // not a member
        fx.tx(&ent_a(), grant(&org_a(), GrantScope::Figures, ts + year)), // itself
    ];
    let b = fx.exec_at(ts, txs);
    assert_tx_accepted(b.receipt(0));
    for i in 1..5 {
        let msg = assert_tx_rejected(b.receipt(i), RejectCode::InvalidTransition);
        assert!(msg.len() > 30, "{msg}");
    }
    let g = fx.state.grant(&org_a(), &verifier, GrantScope::Readings).unwrap();
    assert_eq!((g.granted_at_ms, g.expires_at_ms), (ts, ts + year));
    assert_eq!(fx.state.grants_of(&org_a()).len(), 1);
    assert!(fx.state.grant(&org_b(), &verifier, GrantScope::Readings).is_none(), "B granted nothing");
    // The verifier sees what it was granted, by owner then scope, a page at a time: B grants it
    // two scopes too.
    let txs = vec![
        fx.tx(&ent_b(), grant(&verifier, GrantScope::Alarms, ts + year)),
        fx.tx(&ent_b(), grant(&verifier, GrantScope::Registry, ts + year)),
    ];
    let b = fx.exec(txs);
    assert_tx_accepted(b.receipt(0));
    assert_tx_accepted(b.receipt(1));
    let received = |after: Option<(&UnifiedSocialCreditCode, GrantScope)>, limit| {
        fx.state.grants_received(&verifier, after, limit).into_iter().map(|(o, s, _)| (o, s)).collect::<Vec<_>>()
    };
    let mut expected =
        vec![(org_a(), GrantScope::Readings), (org_b(), GrantScope::Registry), (org_b(), GrantScope::Alarms)];
    expected.sort();
    assert_eq!(received(None, 10), expected);
    assert_eq!(received(None, 2), expected[..2]);
    assert_eq!(received(Some((&expected[1].0, expected[1].1)), 2), expected[2..]);
    assert_eq!(received(Some((&expected[2].0, expected[2].1)), 2), vec![]);
    assert!(fx.state.grants_received(&org_a(), None, 10).is_empty(), "A was granted nothing");
    // Each received entry carries the same grant as its owner's entry, and is in the registry
    // tree: provable like the grant.
    for (owner, scope, g) in fx.state.grants_received(&verifier, None, 10) {
        assert_eq!(fx.state.grant(&owner, &verifier, scope), Some(g));
        let key = trustmeter_state::StateKey::GrantReceived(verifier.clone(), owner.clone(), scope);
        let proof = fx.state.prove(&key).expect("provable");
        assert!(proof.verify(fx.state.params.hash, &fx.state.roots()), "{key:?}");
    }
    // Revoked: gone; revoking again is refused.
    let revoke = TxPayload::RevokeGrant { grantee: verifier.clone(), scope: GrantScope::Readings };
    let r1 = fx.tx(&ent_a(), revoke.clone());
    let r2 = fx.tx(&ent_a(), revoke);
    let b = fx.exec(vec![r1, r2]);
    assert_tx_accepted(b.receipt(0));
    assert_tx_rejected(b.receipt(1), RejectCode::InvalidTransition);
    assert!(fx.state.grant(&org_a(), &verifier, GrantScope::Readings).is_none());
    let left: Vec<_> = fx.state.grants_received(&verifier, None, 10).into_iter().map(|(o, ..)| o).collect();
    assert_eq!(left, vec![org_b(), org_b()], "the revoked grant left the grantee's list too");
}

#[test]
fn a_covering_regulator_sets_disclosure_and_an_enterprise_publishes_its_figures() {
    use trustmeter_types::Disclosure;
    let mut fx = Fx::ready(); // the fixture's organisations are in Changsha (430100)
    let rankings = Disclosure { regional_figures: false, rankings: true };
    let set = |region| TxPayload::SetDisclosure { region, disclosure: rankings.clone() };
    let txs = vec![
        fx.tx(&regulator(), set(430_100)),
        fx.tx(&regulator(), set(430_000)), // a city's regulator does not cover its province
        fx.tx(&ent_a(), set(430_100)),     // an enterprise discloses nothing for others
    ];
    let b = fx.exec(txs);
    assert_tx_accepted(b.receipt(0));
    assert_tx_rejected(b.receipt(1), RejectCode::NotAuthorised);
    assert_tx_rejected(b.receipt(2), RejectCode::NotAuthorised);
    let d = fx.state.disclosure(430_100).unwrap();
    assert_eq!((d.disclosure, d.set_by), (rankings, org_regulator()));
    assert!(fx.state.disclosure(430_000).is_none());
    assert_eq!(trustmeter_types::membership::enclosing_regions(430_121), vec![430_121, 430_100, 430_000, 100_000]);

    let ts = fx.next_ts();
    let year = 366 * 86_400_000;
    let txs = vec![
        fx.tx(&ent_a(), TxPayload::PublishFigures { until_ms: ts + year }),
        fx.tx(&ent_b(), TxPayload::PublishFigures { until_ms: ts + 6 * year }),
    ];
    let b = fx.exec_at(ts, txs);
    assert_tx_accepted(b.receipt(0));
    assert_tx_rejected(b.receipt(1), RejectCode::InvalidTransition);
    assert_eq!(fx.state.published(&org_a()).unwrap().expires_at_ms, ts + year);
    let withdraw = fx.tx(&ent_a(), TxPayload::PublishFigures { until_ms: 0 });
    assert_tx_accepted(fx.exec(vec![withdraw]).receipt(0));
    assert!(fx.state.published(&org_a()).is_none());
}

#[test]
fn the_token_policy_changes_only_by_k_of_n_of_all_regulators() {
    use trustmeter_state::economy::{economy, token_policy, token_policy_record};
    use trustmeter_types::economy::TOKEN;
    let mut g = genesis(CHAIN);
    g.params.economy.staking.epoch_length = 10;
    let mut fx = three_regulators_on(Fx::ready_from(g));
    let genesis_policy = fx.genesis.params.economy.token.clone();
    assert_eq!(token_policy(&fx.state), genesis_policy);
    assert!(token_policy_record(&fx.state).is_none());
    let supply = economy(&fx.state).supply;
    let policy = |issuance: u64, cap: u64, transferable: bool| MembershipAction::SetTokenPolicy {
        issuance_per_epoch: issuance,
        cap,
        transferable,
        reason: "reward points only, smaller issuance (2026 consortium meeting)".into(),
    };
    let transfer = |fx: &mut Fx| {
        fx.tx(&regulator(), TxPayload::Transfer { to: org_a(), amount: TOKEN, memo: "data licence".into() })
    };

    // Not a regulator's: refused. Below the supply: refused at the proposal.
    let (t, _) = propose(&mut fx, &ent_a(), policy(2_000 * TOKEN, supply + 1_000_000 * TOKEN, false));
    assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::NotAuthorised);
    let (t, _) = propose(&mut fx, &regulator(), policy(2_000 * TOKEN, supply - 1, false));
    let msg = assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::InvalidTransition);
    assert!(msg.contains("below the supply already issued"), "{msg}");

    // 1 of 3 regulators: pending; the genesis policy holds (a transfer goes through).
    let (t, id) = propose(&mut fx, &regulator(), policy(2_000 * TOKEN, supply + 1_000_000 * TOKEN, false));
    let t2 = transfer(&mut fx);
    let b = fx.exec(vec![t, t2]);
    assert_tx_accepted(b.receipt(0));
    assert_tx_accepted(b.receipt(1));
    assert_eq!(token_policy(&fx.state), genesis_policy);
    // The second regulator's approval (2 of 3: more than half of all regulators) executes it.
    let t = approve(&mut fx, &key(110), id);
    let height = fx.state.height + 1;
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    let p = token_policy(&fx.state);
    assert_eq!((p.issuance_per_epoch, p.cap, p.transferable), (2_000 * TOKEN, supply + 1_000_000 * TOKEN, false));
    assert_eq!(p.symbol, genesis_policy.symbol, "the symbol never changes");
    let rec = token_policy_record(&fx.state).unwrap();
    assert_eq!((rec.proposal, rec.height), (id, height));
    assert_eq!(fx.state.proposal(&id).unwrap().status, ProposalStatus::Executed { height });
    // Reward points now: a transfer is refused.
    let t = transfer(&mut fx);
    let msg = assert_tx_rejected(fx.exec(vec![t]).receipt(0), RejectCode::StakingRefused);
    assert!(msg.contains("reward points"), "{msg}");

    // The next epoch end issues the new amount.
    let issued = |fx: &mut Fx| {
        let before = economy(&fx.state).supply;
        let boundary = (fx.state.height / 10 + 1) * 10 - 1;
        while fx.state.height < boundary {
            fx.exec(vec![]);
        }
        economy(&fx.state).supply - before
    };
    assert_eq!(issued(&mut fx), 2_000 * TOKEN);
    // A cap 500 tokens above the supply: the next end issues 500, never above the cap.
    let supply = economy(&fx.state).supply;
    let (t, id) = propose(&mut fx, &key(111), policy(2_000 * TOKEN, supply + 500 * TOKEN, false));
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    let t = approve(&mut fx, &regulator(), id);
    assert_tx_accepted(fx.exec(vec![t]).receipt(0));
    assert_eq!(issued(&mut fx), 500 * TOKEN);
    assert_eq!(issued(&mut fx), 0);
    assert_eq!(economy(&fx.state).supply, token_policy(&fx.state).cap);
}
