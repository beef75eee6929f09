//! The token ledger and DPoS in consensus state ([`trustmeter_types::economy`]): transfers,
//! validators, delegation, unbonding, claims, epoch ends (issuance, validator rewards, the
//! election of the set two epochs ahead) and the conservation check.
//!
//! **Cost.** Every operation reads and writes a bounded number of entries: a transfer 3, a
//! delegation 4, a claim at most [`MAX_DELEGATIONS_PER_ORG`] + [`MAX_UNBONDING_PER_ORG`] + 2. A
//! slash or a reward touches one validator record whatever its delegators (pooled shares, see
//! [`ValidatorRecord`]). An epoch's end reads every registered validator once (at most
//! [`MAX_CANDIDATES`]) and writes the set's members.
//!
//! **Conservation.** Tokens come into being only at genesis and by issuance (into the pool, up to
//! the cap) and every other operation moves them between the five totals of [`EconomyRecord`].
//! [`check_conservation`] asserts `balances + bonded + unbonding + pool + unclaimed = supply ≤
//! cap` at the end of every block; the property tests also sum every entry independently.

use crate::state::State;
use trustmeter_crypto::verify;
use trustmeter_schema::model::{REWARD_INDEX_SCALE, SHARES_PER_MICRO};
use trustmeter_schema::{
    DelegationRecord, EconomyRecord, KeyRange, SetMember, StateKey, StateValue, TokenAccount, UnbondingRecord,
    ValidatorRecord, ValidatorSet,
};
use trustmeter_types::economy::{
    Amount, MAX_CANDIDATES, MAX_DELEGATIONS_PER_ORG, MAX_UNBONDING_PER_ORG, MAX_VALIDATORS_PER_ORG, StakingOp,
    format_amount, validator_proof_payload,
};
use trustmeter_types::{
    Genesis, KeyScheme, OrgKind, OrgStatus, PublicKey, RejectCode, Rejection, TxOutcome, UnifiedSocialCreditCode,
};

fn rejected(code: RejectCode, msg: String) -> TxOutcome {
    TxOutcome::Rejected(Rejection::new(code, msg))
}

/// Writes the genesis economy: allocations, the genesis validators with their self-stakes, the
/// sets of epochs 0 and 1, and the totals.
pub(crate) fn genesis(state: &mut State, genesis: &Genesis) {
    let mut econ = EconomyRecord::default();
    for a in &genesis.allocations {
        put_account(state, &a.org, &TokenAccount { balance: a.amount, ..TokenAccount::default() });
        econ.balances += a.amount;
    }
    let mut members = Vec::with_capacity(genesis.validators.len());
    for v in &genesis.validators {
        let bytes = hex::decode(&v.consensus_key).expect("genesis validated: 32 hex bytes");
        let key = PublicKey::new(KeyScheme::Ed25519, bytes).expect("genesis validated: 32 bytes");
        let shares = v.self_stake as u128 * SHARES_PER_MICRO;
        let rec = ValidatorRecord {
            org: v.org.clone(),
            name: v.name.clone(),
            p2p_address: v.p2p_address.clone(),
            commission_percent: 0,
            commission_epoch: 0,
            bonded: v.self_stake,
            shares,
            unbonding: 0,
            unbonding_shares: 0,
            reward_per_share: 0,
            rewards_outstanding: 0,
            jailed_until: None,
            jail_reason: String::new(),
            slashed: 0,
            registered_height: 0,
        };
        if shares > 0 {
            let d = DelegationRecord { shares, reward_index: 0 };
            state.put(StateKey::Delegation(v.org.clone(), key.clone()), StateValue::Delegation(d));
        }
        state.put(StateKey::Validator(key.clone()), StateValue::Validator(rec));
        econ.bonded += v.self_stake;
        members.push(SetMember {
            consensus_key: key,
            org: v.org.clone(),
            name: v.name.clone(),
            p2p_address: v.p2p_address.clone(),
            stake: v.self_stake,
        });
    }
    members.sort_by(|a, b| a.consensus_key.bytes.cmp(&b.consensus_key.bytes));
    for epoch in [0, 1] {
        let set = ValidatorSet { epoch, members: members.clone(), elected_height: 0 };
        state.put(StateKey::ValidatorSet(epoch), StateValue::ValidatorSet(set));
    }
    econ.supply = genesis.supply().expect("genesis validated: no overflow");
    put_economy(state, &econ);
    check_conservation(state);
}

impl State {
    /// The validator set of `epoch`, once elected (genesis: epochs 0 and 1; the last block of
    /// epoch e elects epoch e + 2's).
    pub fn validator_set(&self, epoch: u64) -> Option<ValidatorSet> {
        validator_set(self, epoch)
    }
}

/// The chain's token totals.
pub fn economy(state: &State) -> EconomyRecord {
    match state.get(&StateKey::Economy) {
        Some(StateValue::Economy(e)) => e,
        _ => EconomyRecord::default(),
    }
}

/// An organisation's token account (empty if it never held tokens).
pub fn account(state: &State, org: &UnifiedSocialCreditCode) -> TokenAccount {
    match state.get(&StateKey::Token(org.clone())) {
        Some(StateValue::Token(a)) => a,
        _ => TokenAccount::default(),
    }
}

/// A registered validator.
pub fn validator(state: &State, key: &PublicKey) -> Option<ValidatorRecord> {
    match state.get(&StateKey::Validator(key.clone())) {
        Some(StateValue::Validator(v)) => Some(v),
        _ => None,
    }
}

/// Every registered validator, by key (at most [`MAX_CANDIDATES`]).
pub fn validators(state: &State) -> Vec<(PublicKey, ValidatorRecord)> {
    state
        .scan(&KeyRange::validators(), false, MAX_CANDIDATES)
        .into_iter()
        .filter_map(|(k, v)| match (k, v) {
            (StateKey::Validator(k), StateValue::Validator(v)) => Some((k, v)),
            _ => None,
        })
        .collect()
}

/// The validator set of `epoch`, once elected (genesis: epochs 0 and 1).
pub fn validator_set(state: &State, epoch: u64) -> Option<ValidatorSet> {
    match state.get(&StateKey::ValidatorSet(epoch)) {
        Some(StateValue::ValidatorSet(s)) => Some(s),
        _ => None,
    }
}

/// An organisation's stakes, by validator key.
pub fn delegations_of(state: &State, org: &UnifiedSocialCreditCode) -> Vec<(PublicKey, DelegationRecord)> {
    state
        .scan(&KeyRange::delegations_of(org), false, MAX_DELEGATIONS_PER_ORG)
        .into_iter()
        .filter_map(|(k, v)| match (k, v) {
            (StateKey::Delegation(_, key), StateValue::Delegation(d)) => Some((key, d)),
            _ => None,
        })
        .collect()
}

/// An organisation's unbonding entries: (validator, release epoch, entry).
pub fn unbondings_of(state: &State, org: &UnifiedSocialCreditCode) -> Vec<(PublicKey, u64, UnbondingRecord)> {
    state
        .scan(&KeyRange::unbondings_of(org), false, MAX_UNBONDING_PER_ORG)
        .into_iter()
        .filter_map(|(k, v)| match (k, v) {
            (StateKey::Unbonding(_, key, epoch), StateValue::Unbonding(u)) => Some((key, epoch, u)),
            _ => None,
        })
        .collect()
}

/// Rewards a delegation has earned since it was last settled, micro-tokens.
pub fn pending_rewards(v: &ValidatorRecord, d: &DelegationRecord) -> u64 {
    let delta = v.reward_per_share.saturating_sub(d.reward_index);
    (d.shares.saturating_mul(delta) / REWARD_INDEX_SCALE).min(u64::MAX as u128) as u64
}

/// Bonded micro-tokens an organisation holds on its own validator.
pub fn self_stake(state: &State, key: &PublicKey, v: &ValidatorRecord) -> u64 {
    match state.get(&StateKey::Delegation(v.org.clone(), key.clone())) {
        Some(StateValue::Delegation(d)) => v.tokens_of(d.shares),
        _ => 0,
    }
}

fn put_account(state: &mut State, org: &UnifiedSocialCreditCode, a: &TokenAccount) {
    state.put(StateKey::Token(org.clone()), StateValue::Token(a.clone()));
}

fn put_economy(state: &mut State, e: &EconomyRecord) {
    state.put(StateKey::Economy, StateValue::Economy(e.clone()));
}

fn put_validator(state: &mut State, key: &PublicKey, v: &ValidatorRecord) {
    state.put(StateKey::Validator(key.clone()), StateValue::Validator(v.clone()));
}

/// Asserts the token totals add up (an invariant: a failure is a bug in this module, and every
/// validator would stop at the same block rather than go on with a wrong ledger).
pub(crate) fn check_conservation(state: &State) {
    let e = economy(state);
    assert!(e.conserved(), "token totals do not add up at height {}: {e:?}", state.height);
    assert!(e.supply <= state.params.economy.token.cap, "supply {} above the cap", e.supply);
}

/// [`trustmeter_types::TxPayload::Transfer`] from `from`'s balance.
pub(crate) fn transfer(
    state: &mut State,
    from: &UnifiedSocialCreditCode,
    to: &UnifiedSocialCreditCode,
    amount: Amount,
) -> TxOutcome {
    if !state.params.economy.token.transferable {
        return rejected(
            RejectCode::StakingRefused,
            format!(
                "{} on this chain are reward points: members earn, stake and spend them but cannot transfer them",
                state.params.economy.token.symbol
            ),
        );
    }
    if amount == 0 {
        return rejected(RejectCode::Malformed, "a transfer moves at least one micro-token".into());
    }
    if from == to {
        return rejected(RejectCode::Malformed, "a transfer to the sender's own organisation moves nothing".into());
    }
    match state.membership(to).map(|m| m.status) {
        None => {
            return rejected(RejectCode::UnknownSender, format!("{to} is not a member organisation of this chain"));
        }
        Some(OrgStatus::Removed) => {
            return rejected(RejectCode::OrganisationNotActive, format!("{to} was removed from this chain"));
        }
        Some(_) => {}
    }
    let mut a = account(state, from);
    if a.balance < amount {
        return insufficient(state, from, &a, amount);
    }
    // Both balances change; their total (`EconomyRecord::balances`) does not.
    a.balance -= amount;
    put_account(state, from, &a);
    let mut b = account(state, to);
    b.balance = b.balance.checked_add(amount).expect("bounded by the supply");
    put_account(state, to, &b);
    TxOutcome::Accepted
}

fn insufficient(state: &State, org: &UnifiedSocialCreditCode, a: &TokenAccount, amount: Amount) -> TxOutcome {
    let sym = &state.params.economy.token.symbol;
    rejected(
        RejectCode::InsufficientFunds,
        format!(
            "{org} holds {} {sym} and needs {} {sym}{}",
            format_amount(a.balance),
            format_amount(amount),
            if a.earned > 0 {
                format!(" ({} {sym} of rewards can be claimed first)", format_amount(a.earned))
            } else {
                String::new()
            }
        ),
    )
}

/// One staking operation of `org` (its kind `kind`) in the block at `height`.
pub(crate) fn staking(
    state: &mut State,
    height: u64,
    (org, kind): (&UnifiedSocialCreditCode, OrgKind),
    op: &StakingOp,
) -> TxOutcome {
    let epoch = state.params.economy.staking.epoch_of(height);
    match op {
        StakingOp::RegisterValidator { consensus_key, name, p2p_address, commission_percent, proof } => {
            let p = &state.params.economy.staking;
            if !p.eligible.contains(&kind) {
                return rejected(
                    RejectCode::NotAuthorised,
                    format!("a {kind:?} may not run a validator on this chain (eligible: {:?})", p.eligible),
                );
            }
            if *commission_percent > p.max_commission_percent {
                return rejected(
                    RejectCode::StakingRefused,
                    format!(
                        "commission {commission_percent} % is above the chain's maximum, {} %",
                        p.max_commission_percent
                    ),
                );
            }
            if validator(state, consensus_key).is_some() {
                return rejected(
                    RejectCode::AlreadyRegistered,
                    format!("consensus key {consensus_key} is already a registered validator's"),
                );
            }
            let all = validators(state);
            if all.len() >= MAX_CANDIDATES {
                return rejected(
                    RejectCode::LimitReached,
                    format!("this chain holds {MAX_CANDIDATES} registered validators, its limit"),
                );
            }
            if all.iter().filter(|(_, v)| &v.org == org).count() >= MAX_VALIDATORS_PER_ORG {
                return rejected(
                    RejectCode::LimitReached,
                    format!("{org} already runs {MAX_VALIDATORS_PER_ORG} validators, the limit per organisation"),
                );
            }
            let payload = validator_proof_payload(state.chain_id.as_str(), org, consensus_key);
            if verify(consensus_key, &payload, proof).is_err() {
                return rejected(
                    RejectCode::BadProof,
                    format!(
                        "the proof of possession of {consensus_key} does not verify: the consensus key must sign (chain {}, organisation {org}, key)",
                        state.chain_id
                    ),
                );
            }
            let rec = ValidatorRecord {
                org: org.clone(),
                name: name.clone(),
                p2p_address: p2p_address.clone(),
                commission_percent: *commission_percent,
                commission_epoch: epoch,
                bonded: 0,
                shares: 0,
                unbonding: 0,
                unbonding_shares: 0,
                reward_per_share: 0,
                rewards_outstanding: 0,
                jailed_until: None,
                jail_reason: String::new(),
                slashed: 0,
                registered_height: height,
            };
            put_validator(state, consensus_key, &rec);
            TxOutcome::Accepted
        }
        StakingOp::EditValidator { consensus_key, p2p_address, commission_percent } => {
            let mut v = match own_validator(state, org, consensus_key) {
                Ok(v) => v,
                Err(o) => return o,
            };
            if let Some(c) = commission_percent {
                let max = state.params.economy.staking.max_commission_percent;
                if *c > max {
                    return rejected(
                        RejectCode::StakingRefused,
                        format!("commission {c} % is above the chain's maximum, {max} %"),
                    );
                }
                if v.commission_epoch == epoch && *c != v.commission_percent {
                    return rejected(
                        RejectCode::StakingRefused,
                        format!("the commission of {consensus_key} already changed in epoch {epoch}; once per epoch"),
                    );
                }
                if *c != v.commission_percent {
                    v.commission_percent = *c;
                    v.commission_epoch = epoch;
                }
            }
            if let Some(a) = p2p_address {
                v.p2p_address = a.clone();
            }
            put_validator(state, consensus_key, &v);
            TxOutcome::Accepted
        }
        StakingOp::Delegate { validator: key, amount } => delegate(state, org, key, *amount),
        StakingOp::Undelegate { validator: key, amount } => undelegate(state, org, key, *amount, epoch),
        StakingOp::Claim => claim(state, org, epoch),
        StakingOp::Unjail { validator: key } => {
            let mut v = match own_validator(state, org, key) {
                Ok(v) => v,
                Err(o) => return o,
            };
            match v.jailed_until {
                None => rejected(RejectCode::InvalidTransition, format!("validator {key} is not jailed")),
                Some(until) if until > epoch => rejected(
                    RejectCode::StakingRefused,
                    format!("validator {key} is jailed until epoch {until} ({}); this is epoch {epoch}", v.jail_reason),
                ),
                Some(_) => {
                    v.jailed_until = None;
                    put_validator(state, key, &v);
                    TxOutcome::Accepted
                }
            }
        }
    }
}

fn own_validator(state: &State, org: &UnifiedSocialCreditCode, key: &PublicKey) -> Result<ValidatorRecord, TxOutcome> {
    match validator(state, key) {
        None => Err(rejected(RejectCode::UnknownDevice, format!("{key} is not a registered validator"))),
        Some(v) if &v.org != org => Err(rejected(
            RejectCode::NotAuthorised,
            format!("validator {key} is {}'s; only its own organisation changes it", v.org),
        )),
        Some(v) => Ok(v),
    }
}

fn existing_validator(state: &State, key: &PublicKey) -> Result<ValidatorRecord, TxOutcome> {
    validator(state, key)
        .ok_or_else(|| rejected(RejectCode::UnknownDevice, format!("{key} is not a registered validator")))
}

/// Moves a delegation's earned rewards to its organisation's account (`earned`), from the
/// validator's outstanding rewards. Both are "unclaimed": the totals do not change.
fn settle(state: &mut State, org: &UnifiedSocialCreditCode, v: &mut ValidatorRecord, d: &mut DelegationRecord) {
    let pending = pending_rewards(v, d);
    d.reward_index = v.reward_per_share;
    if pending == 0 {
        return;
    }
    debug_assert!(pending <= v.rewards_outstanding, "a delegation earns more than its validator was credited");
    let pending = pending.min(v.rewards_outstanding);
    v.rewards_outstanding -= pending;
    let mut a = account(state, org);
    a.earned += pending;
    a.earned_total += pending;
    put_account(state, org, &a);
}

fn delegate(state: &mut State, org: &UnifiedSocialCreditCode, key: &PublicKey, amount: Amount) -> TxOutcome {
    if amount == 0 {
        return rejected(RejectCode::Malformed, "a delegation bonds at least one micro-token".into());
    }
    let mut v = match existing_validator(state, key) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let a = account(state, org);
    if a.balance < amount {
        return insufficient(state, org, &a, amount);
    }
    let dkey = StateKey::Delegation(org.clone(), key.clone());
    let mut d = match state.get(&dkey) {
        Some(StateValue::Delegation(d)) => d,
        _ => {
            if delegations_of(state, org).len() >= MAX_DELEGATIONS_PER_ORG {
                return rejected(
                    RejectCode::LimitReached,
                    format!("{org} already delegates to {MAX_DELEGATIONS_PER_ORG} validators, the limit"),
                );
            }
            DelegationRecord { shares: 0, reward_index: v.reward_per_share }
        }
    };
    let new_shares = if v.shares == 0 {
        amount as u128 * SHARES_PER_MICRO
    } else {
        assert!(v.bonded > 0, "validator {key} has shares and no bonded stake");
        amount as u128 * v.shares / v.bonded as u128
    };
    if new_shares == 0 {
        return rejected(RejectCode::Malformed, format!("{amount} µ is too small to buy a share of {key}'s pool"));
    }
    settle(state, org, &mut v, &mut d);
    let mut a = account(state, org); // after the settlement's credit
    a.balance -= amount;
    put_account(state, org, &a);
    d.shares += new_shares;
    v.shares += new_shares;
    v.bonded += amount;
    put_validator(state, key, &v);
    state.put(dkey, StateValue::Delegation(d));
    let mut e = economy(state);
    e.balances -= amount;
    e.bonded += amount;
    put_economy(state, &e);
    TxOutcome::Accepted
}

fn undelegate(
    state: &mut State,
    org: &UnifiedSocialCreditCode,
    key: &PublicKey,
    amount: Amount,
    epoch: u64,
) -> TxOutcome {
    if amount == 0 {
        return rejected(RejectCode::Malformed, "an undelegation unbonds at least one micro-token".into());
    }
    let mut v = match existing_validator(state, key) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let dkey = StateKey::Delegation(org.clone(), key.clone());
    let Some(StateValue::Delegation(mut d)) = state.get(&dkey) else {
        return rejected(RejectCode::InsufficientFunds, format!("{org} has no stake on validator {key}"));
    };
    let owned = v.tokens_of(d.shares);
    if amount > owned {
        let sym = &state.params.economy.token.symbol;
        return rejected(
            RejectCode::InsufficientFunds,
            format!("{org} has {} {sym} bonded on {key}, less than {}", format_amount(owned), format_amount(amount)),
        );
    }
    // Shares to give up: enough for `amount` (rounded up), never more than held.
    let shares_out =
        if amount == owned { d.shares } else { (amount as u128 * v.shares).div_ceil(v.bonded as u128).min(d.shares) };
    let tokens_out = v.tokens_of(shares_out);
    if tokens_out == 0 {
        return rejected(RejectCode::Malformed, format!("{amount} µ is less than one share of {key}'s pool is worth"));
    }
    let release = epoch.saturating_add(state.params.economy.staking.unbonding_epochs as u64);
    let ukey = StateKey::Unbonding(org.clone(), key.clone(), release);
    let mut u = match state.get(&ukey) {
        Some(StateValue::Unbonding(u)) => u,
        _ => {
            if unbondings_of(state, org).len() >= MAX_UNBONDING_PER_ORG {
                return rejected(
                    RejectCode::LimitReached,
                    format!(
                        "{org} has {MAX_UNBONDING_PER_ORG} unbonding entries, the limit; claim the matured ones first"
                    ),
                );
            }
            UnbondingRecord::default()
        }
    };
    settle(state, org, &mut v, &mut d);
    let ushares = if v.unbonding_shares == 0 {
        tokens_out as u128 * SHARES_PER_MICRO
    } else {
        assert!(v.unbonding > 0, "validator {key} has unbonding shares and no unbonding stake");
        tokens_out as u128 * v.unbonding_shares / v.unbonding as u128
    };
    v.bonded -= tokens_out;
    v.shares -= shares_out;
    v.unbonding += tokens_out;
    v.unbonding_shares += ushares;
    d.shares -= shares_out;
    u.shares += ushares;
    u.initial += tokens_out;
    put_validator(state, key, &v);
    if d.shares == 0 {
        state.delete(&dkey);
    } else {
        state.put(dkey, StateValue::Delegation(d));
    }
    state.put(ukey, StateValue::Unbonding(u));
    let mut e = economy(state);
    e.bonded -= tokens_out;
    e.unbonding += tokens_out;
    put_economy(state, &e);
    TxOutcome::Accepted
}

fn claim(state: &mut State, org: &UnifiedSocialCreditCode, epoch: u64) -> TxOutcome {
    let mut released = 0u64;
    for (key, mut d) in delegations_of(state, org) {
        let Some(mut v) = validator(state, &key) else { continue };
        if pending_rewards(&v, &d) > 0 {
            settle(state, org, &mut v, &mut d);
            put_validator(state, &key, &v);
            state.put(StateKey::Delegation(org.clone(), key), StateValue::Delegation(d));
        }
    }
    let mut waiting = None;
    for (key, release, u) in unbondings_of(state, org) {
        if release > epoch {
            waiting = Some(waiting.map_or(release, |w: u64| w.min(release)));
            continue;
        }
        let Some(mut v) = validator(state, &key) else { continue };
        let tokens = v.unbonding_tokens_of(u.shares);
        v.unbonding -= tokens;
        v.unbonding_shares -= u.shares;
        put_validator(state, &key, &v);
        state.delete(&StateKey::Unbonding(org.clone(), key, release));
        released += tokens;
    }
    let mut a = account(state, org);
    let earned = a.earned;
    if earned == 0 && released == 0 {
        let msg = match waiting {
            Some(w) => format!("{org} has nothing to claim yet: its unbonding stake is released in epoch {w}"),
            None => format!("{org} has no rewards or unbonding stake to claim"),
        };
        return rejected(RejectCode::InsufficientFunds, msg);
    }
    a.balance += earned + released;
    a.earned = 0;
    put_account(state, org, &a);
    let mut e = economy(state);
    e.unclaimed -= earned;
    e.unbonding -= released;
    e.balances += earned + released;
    put_economy(state, &e);
    TxOutcome::Accepted
}

/// What the end of epoch `epoch` (the block at its last height) does: issue into the pool,
/// reward the epoch's validators from the pool, and elect the set of epoch + 2.
pub(crate) fn close_epoch(state: &mut State, height: u64) {
    let params = state.params.economy.clone();
    let epoch = params.staking.epoch_of(height);
    let mut e = economy(state);
    // Issuance, up to the cap.
    let room = params.token.cap.saturating_sub(e.supply);
    let issue = params.token.issuance_per_epoch.min(room);
    e.supply += issue;
    e.issued += issue;
    e.pool += issue;
    e.closed_epoch = Some(epoch);
    put_economy(state, &e);
    reward_validators(state, epoch);
    elect(state, epoch + 2, height);
}

/// Pays the epoch's pool to the members of its validator set, in equal parts (the remainder stays
/// in the pool): each member's operator keeps its commission, the rest is shared by the
/// member's stakeholders pro rata (its operator included, as a self-delegator).
fn reward_validators(state: &mut State, epoch: u64) {
    let Some(set) = validator_set(state, epoch) else { return };
    let mut e = economy(state);
    let n = set.members.len() as u64;
    if n == 0 || e.pool < n {
        return;
    }
    let each = e.pool / n;
    let mut paid = 0u64;
    for m in &set.members {
        let Some(mut v) = validator(state, &m.consensus_key) else { continue };
        if v.shares == 0 {
            continue; // nobody to pay: it stays in the pool
        }
        let commission = each * v.commission_percent as u64 / 100;
        let shared = each - commission;
        v.reward_per_share += shared as u128 * REWARD_INDEX_SCALE / v.shares;
        v.rewards_outstanding += shared;
        put_validator(state, &m.consensus_key, &v);
        if commission > 0 {
            let mut a = account(state, &v.org);
            a.earned += commission;
            a.earned_total += commission;
            put_account(state, &v.org, &a);
        }
        paid += each;
    }
    e.pool -= paid;
    e.unclaimed += paid;
    put_economy(state, &e);
}

/// Elects the set of `epoch` (see [`trustmeter_types::economy`]); when fewer than `min(N, 4)`
/// validators qualify, the previous epoch's set carries over unchanged (a set too small to
/// tolerate a fault is never elected).
fn elect(state: &mut State, epoch: u64, height: u64) {
    let p = state.params.economy.staking.clone();
    let mut candidates: Vec<(PublicKey, ValidatorRecord, u64)> = validators(state)
        .into_iter()
        .filter(|(_, v)| v.jailed_until.is_none() && v.bonded > 0)
        .filter(|(_, v)| {
            state.membership(&v.org).is_some_and(|m| m.status == OrgStatus::Active)
                && state.organisation(&v.org).is_some_and(|o| p.eligible.contains(&o.kind))
        })
        .filter_map(|(k, v)| {
            let own = self_stake(state, &k, &v);
            (own >= p.min_self_stake).then_some((k, v, own))
        })
        .collect();
    // Highest stake first; ties by key bytes (deterministic).
    candidates.sort_by(|a, b| b.1.bonded.cmp(&a.1.bonded).then_with(|| a.0.bytes.cmp(&b.0.bytes)));
    let per_org = p.max_seats_per_org();
    let mut seats: std::collections::BTreeMap<&UnifiedSocialCreditCode, u32> = Default::default();
    let mut members = Vec::new();
    for (k, v, _) in &candidates {
        if members.len() as u32 >= p.validators {
            break;
        }
        let s = seats.entry(&v.org).or_insert(0);
        if *s >= per_org {
            continue;
        }
        *s += 1;
        members.push(SetMember {
            consensus_key: k.clone(),
            org: v.org.clone(),
            name: v.name.clone(),
            p2p_address: v.p2p_address.clone(),
            stake: v.bonded,
        });
    }
    let set = if members.len() as u32 >= p.validators.min(4) {
        members.sort_by(|a, b| a.consensus_key.bytes.cmp(&b.consensus_key.bytes));
        ValidatorSet { epoch, members, elected_height: height }
    } else {
        let previous = validator_set(state, epoch - 1).expect("every epoch's set is elected before it starts");
        ValidatorSet { epoch, members: previous.members, elected_height: height }
    };
    state.put(StateKey::ValidatorSet(epoch), StateValue::ValidatorSet(set));
}
