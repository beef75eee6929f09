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
use std::sync::Arc;
use trustmeter_crypto::verify;
use trustmeter_policy::reward::{DataFacts, RewardSchedule, VerificationFacts};
use trustmeter_schema::model::{RECENT_BLOCKS, REWARD_INDEX_SCALE, SHARES_PER_MICRO};
pub use trustmeter_schema::{
    DelegationRecord, EconomyRecord, EpochActivity, EpochRewardsRecord, PointsRecord, RewardScheduleRecord, SetMember,
    TokenAccount, UnbondingRecord, ValidatorRecord, ValidatorSet,
};
use trustmeter_schema::{KeyRange, StateKey, StateValue};
use trustmeter_types::economy::{
    Amount, Equivocation, FinalizeVotes, MAX_CANDIDATES, MAX_DELEGATIONS_PER_ORG, MAX_UNBONDING_PER_ORG,
    MAX_VALIDATORS_PER_ORG, StakingOp, VoteKind, format_amount, validator_proof_payload,
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
        let mut rec = ValidatorRecord::new(v.org.clone(), v.name.clone(), v.p2p_address.clone(), 0, (0, 0));
        (rec.bonded, rec.shares) = (v.self_stake, shares);
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
    let default = RewardSchedule::default_schedule();
    let rec = RewardScheduleRecord {
        name: default.name().to_string(),
        version: default.version(),
        text: default.text().to_string(),
        effective_epoch: 0,
        deployed_height: 0,
        deployed_by: None,
    };
    state.put(StateKey::RewardSchedule(rec.version), StateValue::RewardSchedule(rec));
    check_conservation(state);
}

/// Every deployed reward schedule version, oldest first.
pub fn reward_schedules(state: &State) -> Vec<RewardScheduleRecord> {
    scan_as(state, KeyRange::reward_schedules(), MAX_SCHEDULE_VERSIONS, |_, v| match v {
        StateValue::RewardSchedule(r) => Some(r),
        _ => None,
    })
}

/// Most reward schedule versions a chain keeps deploying (a deployment beyond it is refused).
pub const MAX_SCHEDULE_VERSIONS: usize = 256;

/// The reward schedule in force in `epoch`: the highest version whose effective epoch has come.
pub fn schedule_in_force(state: &State, epoch: u64) -> (RewardScheduleRecord, Arc<RewardSchedule>) {
    let rec = reward_schedules(state)
        .into_iter()
        .filter(|r| r.effective_epoch <= epoch)
        .max_by_key(|r| r.version)
        .expect("the default schedule is installed at genesis, effective from epoch 0");
    let parsed = parsed_schedule(&rec.text).expect("a deployed schedule passed its checks when it was deployed");
    (rec, parsed)
}

/// A schedule's parsed form, from a small process-wide cache by text (parsing compiles and dry-runs
/// every formula).
fn parsed_schedule(text: &str) -> Result<Arc<RewardSchedule>, trustmeter_policy::reward::RewardError> {
    const MAX_CACHED: usize = 16;
    static CACHE: std::sync::LazyLock<std::sync::Mutex<std::collections::BTreeMap<String, Arc<RewardSchedule>>>> =
        std::sync::LazyLock::new(Default::default);
    if let Some(p) = CACHE.lock().expect("schedule cache").get(text) {
        return Ok(p.clone());
    }
    let parsed = Arc::new(RewardSchedule::parse(text)?);
    let mut cache = CACHE.lock().expect("schedule cache");
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(text.to_string(), parsed.clone());
    Ok(parsed)
}

/// [`trustmeter_types::TxPayload::DeployRewardSchedule`]: a regulator deploys the next version.
pub(crate) fn deploy_schedule(
    state: &mut State,
    height: u64,
    (org, kind): (&UnifiedSocialCreditCode, OrgKind),
    text: &str,
    effective_epoch: u64,
) -> TxOutcome {
    if kind != OrgKind::Regulator {
        return rejected(
            RejectCode::NotAuthorised,
            format!("only a regulator deploys a reward schedule; {org} is a {kind:?}"),
        );
    }
    let epoch = state.params.economy.staking.epoch_of(height);
    if effective_epoch <= epoch {
        return rejected(
            RejectCode::InvalidPolicy,
            format!(
                "a reward schedule takes effect from a later epoch than the current one ({epoch}); got {effective_epoch}"
            ),
        );
    }
    let parsed = match parsed_schedule(text) {
        Ok(p) => p,
        Err(e) => return rejected(RejectCode::InvalidPolicy, format!("the reward schedule was not deployed: {e}")),
    };
    let all = reward_schedules(state);
    let latest = all.last().map_or(0, |r| r.version);
    if parsed.version() != latest + 1 {
        return rejected(
            RejectCode::InvalidPolicy,
            format!("the schedule's version is {}; the next version is {}", parsed.version(), latest + 1),
        );
    }
    if all.len() >= MAX_SCHEDULE_VERSIONS {
        return rejected(
            RejectCode::LimitReached,
            format!("this chain holds {MAX_SCHEDULE_VERSIONS} reward schedule versions"),
        );
    }
    let rec = RewardScheduleRecord {
        name: parsed.name().to_string(),
        version: parsed.version(),
        text: text.to_string(),
        effective_epoch,
        deployed_height: height,
        deployed_by: Some(org.clone()),
    };
    state.put(StateKey::RewardSchedule(rec.version), StateValue::RewardSchedule(rec));
    TxOutcome::Accepted
}

/// An epoch's reward pools (an empty record before anything was earned in it).
pub fn epoch_rewards(state: &State, epoch: u64) -> EpochRewardsRecord {
    match state.get(&StateKey::EpochRewards(epoch)) {
        Some(StateValue::EpochRewards(r)) => r,
        _ => EpochRewardsRecord::default(),
    }
}

/// An organisation's unclaimed points, by epoch (at most [`MAX_POINT_EPOCHS_PER_CLAIM`]).
pub fn points_of(state: &State, org: &UnifiedSocialCreditCode) -> Vec<(u64, PointsRecord)> {
    scan_as(state, KeyRange::points_of(org), MAX_POINT_EPOCHS_PER_CLAIM, |k, v| match (k, v) {
        (StateKey::Points(_, e), StateValue::Points(p)) => Some((e, p)),
        _ => None,
    })
}

/// Most epochs of points one claim pays (a claim again pays the next ones).
pub const MAX_POINT_EPOCHS_PER_CLAIM: usize = 64;

fn add_points(
    state: &mut State,
    height: u64,
    org: &UnifiedSocialCreditCode,
    f: impl FnOnce(&mut PointsRecord, &mut EpochRewardsRecord),
) {
    let epoch = state.params.economy.staking.epoch_of(height);
    let key = StateKey::Points(org.clone(), epoch);
    let mut p = match state.get(&key) {
        Some(StateValue::Points(p)) => p,
        _ => PointsRecord::default(),
    };
    let mut r = epoch_rewards(state, epoch);
    f(&mut p, &mut r);
    state.put(key, StateValue::Points(p));
    state.put(StateKey::EpochRewards(epoch), StateValue::EpochRewards(r));
}

/// Credits an enterprise with the points one of its reading batches earned under the schedule in
/// force (nothing for a batch worth no points).
pub(crate) fn credit_data(state: &mut State, height: u64, org: &UnifiedSocialCreditCode, facts: DataFacts) {
    let epoch = state.params.economy.staking.epoch_of(height);
    let (_, schedule) = schedule_in_force(state, epoch);
    let points = schedule.data_points(&facts);
    add_points(state, height, org, |p, r| {
        p.data_points = p.data_points.saturating_add(points);
        p.batches += 1;
        p.accepted += facts.accepted;
        p.timely += facts.timely;
        p.flagged += facts.flagged;
        p.rejected += facts.rejected;
        r.data_points = r.data_points.saturating_add(points);
    });
}

/// Credits a verifier with the points a verification that became final earned.
pub(crate) fn credit_verification(
    state: &mut State,
    height: u64,
    verifier: &UnifiedSocialCreditCode,
    facts: VerificationFacts,
) {
    let epoch = state.params.economy.staking.epoch_of(height);
    let (_, schedule) = schedule_in_force(state, epoch);
    let points = schedule.verification_points(&facts);
    add_points(state, height, verifier, |p, r| {
        p.verification_points = p.verification_points.saturating_add(points);
        p.verifications += 1;
        r.verification_points = r.verification_points.saturating_add(points);
    });
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
    scan_as(state, KeyRange::validators(), MAX_CANDIDATES, |k, v| match (k, v) {
        (StateKey::Validator(k), StateValue::Validator(v)) => Some((k, v)),
        _ => None,
    })
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
    scan_as(state, KeyRange::delegations_of(org), MAX_DELEGATIONS_PER_ORG, |k, v| match (k, v) {
        (StateKey::Delegation(_, key), StateValue::Delegation(d)) => Some((key, d)),
        _ => None,
    })
}

/// An organisation's unbonding entries: (validator, release epoch, entry).
pub fn unbondings_of(state: &State, org: &UnifiedSocialCreditCode) -> Vec<(PublicKey, u64, UnbondingRecord)> {
    scan_as(state, KeyRange::unbondings_of(org), MAX_UNBONDING_PER_ORG, |k, v| match (k, v) {
        (StateKey::Unbonding(_, key, epoch), StateValue::Unbonding(u)) => Some((key, epoch, u)),
        _ => None,
    })
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

/// The entries of `range` (at most `limit`) that `f` keeps, in key order.
fn scan_as<T>(state: &State, range: KeyRange, limit: usize, f: impl Fn(StateKey, StateValue) -> Option<T>) -> Vec<T> {
    state.scan(&range, false, limit).into_iter().filter_map(|(k, v)| f(k, v)).collect()
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

/// The token policy in force: the last one the regulators set (`MembershipAction::SetTokenPolicy`),
/// else the genesis's.
pub fn token_policy(state: &State) -> trustmeter_types::economy::TokenParams {
    match state.get(&StateKey::TokenPolicy) {
        Some(StateValue::TokenPolicy(p)) => p.token,
        _ => state.params.economy.token.clone(),
    }
}

/// The token policy record the regulators last set, if they ever did.
pub fn token_policy_record(state: &State) -> Option<trustmeter_schema::TokenPolicyRecord> {
    match state.get(&StateKey::TokenPolicy) {
        Some(StateValue::TokenPolicy(p)) => Some(p),
        _ => None,
    }
}

/// Asserts the token totals add up (an invariant: a failure is a bug in this module, and every
/// validator would stop at the same block rather than go on with a wrong ledger).
pub(crate) fn check_conservation(state: &State) {
    let e = economy(state);
    assert!(e.conserved(), "token totals do not add up at height {}: {e:?}", state.height);
    assert!(e.supply <= token_policy(state).cap, "supply {} above the cap", e.supply);
}

/// [`trustmeter_types::TxPayload::Transfer`] from `from`'s balance.
pub(crate) fn transfer(
    state: &mut State,
    from: &UnifiedSocialCreditCode,
    to: &UnifiedSocialCreditCode,
    amount: Amount,
) -> TxOutcome {
    if !token_policy(state).transferable {
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
            let rec = ValidatorRecord::new(
                org.clone(),
                name.clone(),
                p2p_address.clone(),
                *commission_percent,
                (epoch, height),
            );
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
        StakingOp::ReportEquivocation { evidence } => report_equivocation(state, epoch, evidence),
        // Executed before the sender's nonce is looked at (`exec::apply_tx`).
        StakingOp::RecordVotes { .. } => rejected(RejectCode::Malformed, "a vote record is executed apart".into()),
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

/// Slashes and jails a validator for proven equivocation (see [`StakingOp::ReportEquivocation`]).
/// The votes must be of a round of an epoch whose set holds the validator, no older than the
/// unbonding period (so its stake, bonded or unbonding, is still there to slash), and of a later
/// epoch than the validator's last slash (at most one slash per epoch).
fn report_equivocation(state: &mut State, epoch: u64, ev: &Equivocation) -> TxOutcome {
    let key = &ev.validator;
    let mut v = match existing_validator(state, key) {
        Ok(v) => v,
        Err(o) => return o,
    };
    let p = state.params.economy.staking.clone();
    if ev.epoch > epoch || ev.epoch + (p.unbonding_epochs as u64) < epoch {
        return rejected(
            RejectCode::StakingRefused,
            format!(
                "evidence of epoch {} is outside the window this chain slashes (epochs {} to {epoch})",
                ev.epoch,
                epoch.saturating_sub(p.unbonding_epochs as u64)
            ),
        );
    }
    if !validator_set(state, ev.epoch).is_some_and(|s| s.members.iter().any(|m| &m.consensus_key == key)) {
        return rejected(
            RejectCode::StakingRefused,
            format!("validator {key} was not in epoch {}'s set: its votes there count for nothing", ev.epoch),
        );
    }
    // One slash per validator per epoch: a burst of double votes is one fault (every honest
    // validator reports what it saw, each naming a round of its own), and evidence older than a
    // slash already made is not used either.
    if let Some((e, view)) = v.last_equivocation
        && e >= ev.epoch
    {
        return rejected(
            RejectCode::DuplicateTx,
            format!(
                "validator {key} was already slashed for equivocation in epoch {e} (view {view}); a validator is slashed at most once per epoch"
            ),
        );
    }
    let namespace = format!("trustmeter/consensus/{}", state.chain_id).into_bytes();
    for vote in [&ev.first, &ev.second] {
        let signed = trustmeter_client::consensus::vote_is_signed(
            &namespace,
            vote.kind,
            (ev.epoch, ev.view),
            (vote.parent_view, vote.payload),
            key,
            &vote.signature,
        );
        if !signed {
            return rejected(
                RejectCode::BadProof,
                format!(
                    "the {:?} vote does not carry {key}'s signature for epoch {} view {}",
                    vote.kind, ev.epoch, ev.view
                ),
            );
        }
    }
    let pct = p.equivocation_slash_percent as u128;
    let from_bonded = (v.bonded as u128 * pct / 100) as u64;
    let from_unbonding = (v.unbonding as u128 * pct / 100) as u64;
    v.bonded -= from_bonded;
    v.unbonding -= from_unbonding;
    v.slashed += from_bonded + from_unbonding;
    v.last_equivocation = Some((ev.epoch, ev.view));
    let until = epoch + (p.jail_epochs as u64).max(1);
    v.jailed_until = Some(v.jailed_until.map_or(until, |j| j.max(until)));
    v.jail_reason =
        format!("equivocation at epoch {} view {} ({:?} and {:?})", ev.epoch, ev.view, ev.first.kind, ev.second.kind);
    put_validator(state, key, &v);
    let mut e = economy(state);
    e.bonded -= from_bonded;
    e.unbonding -= from_unbonding;
    e.pool += from_bonded + from_unbonding;
    e.slashed += from_bonded + from_unbonding;
    put_economy(state, &e);
    TxOutcome::Accepted
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
    let mut waiting_points = false;
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
    // Points of ended epochs: what they are worth moves from the epoch's pools to the account.
    let closed = economy(state).closed_epoch;
    for (epoch, p) in points_of(state, org) {
        if closed.is_none_or(|c| epoch > c) {
            waiting_points = true;
            continue;
        }
        let mut r = epoch_rewards(state, epoch);
        let data = (p.data_points as u128 * r.data_pool as u128).checked_div(r.data_points as u128).unwrap_or(0) as u64;
        let verif = (p.verification_points as u128 * r.verification_pool as u128)
            .checked_div(r.verification_points as u128)
            .unwrap_or(0) as u64;
        let (data, verif) = (data.min(r.data_pool - r.data_paid), verif.min(r.verification_pool - r.verification_paid));
        r.data_paid += data;
        r.verification_paid += verif;
        state.put(StateKey::EpochRewards(epoch), StateValue::EpochRewards(r));
        state.delete(&StateKey::Points(org.clone(), epoch));
        let mut a = account(state, org);
        a.earned += data + verif;
        a.earned_total += data + verif;
        put_account(state, org, &a);
    }
    let mut a = account(state, org);
    let earned = a.earned;
    if earned == 0 && released == 0 {
        let msg = match (waiting, waiting_points) {
            (Some(w), _) => format!("{org} has nothing to claim yet: its unbonding stake is released in epoch {w}"),
            (None, true) => format!("{org} has nothing to claim yet: its points of this epoch are paid once it ends"),
            (None, false) => format!("{org} has no rewards or unbonding stake to claim"),
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

/// A member's leader turns before it counts as down: fewer turns say too little.
pub const MIN_TURNS_FOR_JAIL: u64 = 3;

/// An epoch's validator activity so far.
pub fn epoch_activity(state: &State, epoch: u64) -> Option<EpochActivity> {
    match state.get(&StateKey::EpochActivity(epoch)) {
        Some(StateValue::EpochActivity(a)) => Some(a),
        _ => None,
    }
}

/// Counts the block at `height`, of consensus round (`round_epoch`, `view`), in its epoch's
/// [`EpochActivity`]: its view's leader proposed it, and the leaders of the views skipped since
/// the epoch's previous block missed their turns. O(set size), whatever the gap.
pub(crate) fn record_block(state: &mut State, height: u64, (round_epoch, view): (u64, u64)) {
    let epoch = state.params.economy.staking.epoch_of(height);
    let Some(set) = validator_set(state, epoch) else { return };
    let n = set.members.len() as u64;
    if n == 0 {
        return;
    }
    let leader = |v: u64| (round_epoch.wrapping_add(v) % n) as usize;
    let mut a = match epoch_activity(state, epoch) {
        Some(a) => a,
        // The epoch's first block: the views before it are not charged to anyone (an engine
        // that started the epoch late, or views that carried over from the previous epoch).
        None => EpochActivity {
            last_view: view.saturating_sub(1),
            proposed: vec![0; n as usize],
            missed: vec![0; n as usize],
            signed: vec![0; n as usize],
            ..EpochActivity::default()
        },
    };
    // The parent, when of this epoch, becomes a block a later vote record may name.
    if height > 0 && state.params.economy.staking.epoch_of(height - 1) == epoch {
        a.recent.push((height - 1, state.block_digest));
        if a.recent.len() > RECENT_BLOCKS {
            a.recent.remove(0);
        }
    }
    if view > a.last_view.saturating_add(1) {
        let first = a.last_view + 1;
        let gap = view - first;
        for m in a.missed.iter_mut() {
            *m += gap / n;
        }
        for i in 0..gap % n {
            a.missed[leader(first + i)] += 1;
        }
    }
    a.proposed[leader(view)] += 1;
    a.last_view = a.last_view.max(view);
    a.blocks += 1;
    state.put(StateKey::EpochActivity(epoch), StateValue::EpochActivity(a));
}

/// [`StakingOp::RecordVotes`] in the block at `height`, sent by `sender`: credits each member
/// whose finalize vote of an earlier block of the epoch it carries. The block must be one of the
/// epoch's [`RECENT_BLOCKS`] before `height` (or its parent), above the last one recorded; the
/// votes must be at least a quorum of the epoch's set, each a valid finalize signature of its
/// member on that block's proposal. Cost: one Ed25519 verification per vote (≤ the set size).
pub(crate) fn record_votes(state: &mut State, height: u64, sender: &PublicKey, v: &FinalizeVotes) -> TxOutcome {
    let epoch = state.params.economy.staking.epoch_of(height);
    let Some(set) = validator_set(state, epoch) else {
        return rejected(RejectCode::StakingRefused, format!("epoch {epoch} has no validator set"));
    };
    if !set.members.iter().any(|m| &m.consensus_key == sender) {
        return rejected(
            RejectCode::NotAuthorised,
            format!("{sender} is not a member of epoch {epoch}'s set: only its members record votes"),
        );
    }
    let mut a = epoch_activity(state, epoch).unwrap_or_else(|| EpochActivity {
        proposed: vec![0; set.members.len()],
        missed: vec![0; set.members.len()],
        signed: vec![0; set.members.len()],
        ..EpochActivity::default()
    });
    if v.height <= a.recorded_height {
        return rejected(
            RejectCode::DuplicateTx,
            format!("the votes of height {} are recorded already (up to {})", v.height, a.recorded_height),
        );
    }
    // The block's digest: the parent's is the state's own, the others are in the ring.
    let known = if v.height + 1 == height && state.params.economy.staking.epoch_of(v.height) == epoch {
        Some(state.block_digest)
    } else {
        a.recent.iter().find(|(h, _)| *h == v.height).map(|(_, d)| *d)
    };
    match known {
        None => {
            return rejected(
                RejectCode::StakingRefused,
                format!(
                    "height {} is not one of epoch {epoch}'s last {RECENT_BLOCKS} blocks before {height}: its votes can no longer be recorded",
                    v.height
                ),
            );
        }
        Some(d) if d != v.payload => {
            return rejected(
                RejectCode::BadProof,
                format!("the votes name block {} at height {}, which is not this chain's", v.payload, v.height),
            );
        }
        Some(_) => {}
    }
    let n = set.members.len();
    let quorum = n - (n - 1) / 3;
    if v.votes.len() < quorum || v.votes.last().is_some_and(|l| l.signer as usize >= n) {
        return rejected(
            RejectCode::BadProof,
            format!("a vote record holds at least a quorum ({quorum} of {n}) of the set's members, by index below {n}"),
        );
    }
    let namespace = format!("trustmeter/consensus/{}", state.chain_id).into_bytes();
    for vote in &v.votes {
        let key = &set.members[vote.signer as usize].consensus_key;
        if !trustmeter_client::consensus::vote_is_signed(
            &namespace,
            VoteKind::Finalize,
            (epoch, v.view),
            (v.parent_view, v.payload),
            key,
            &vote.signature,
        ) {
            return rejected(
                RejectCode::BadProof,
                format!("member {} ({key})'s finalize vote of height {} does not verify", vote.signer, v.height),
            );
        }
    }
    a.signed.resize(n, 0);
    for vote in &v.votes {
        a.signed[vote.signer as usize] += 1;
    }
    a.finalized += 1;
    a.recorded_height = v.height;
    state.put(StateKey::EpochActivity(epoch), StateValue::EpochActivity(a));
    TxOutcome::Accepted
}

/// What the end of epoch `epoch` (the block at its last height) does: issue into the pool,
/// reward the epoch's validators from the pool, and elect the set of epoch + 2.
pub(crate) fn close_epoch(state: &mut State, height: u64) {
    let params = state.params.economy.clone();
    let epoch = params.staking.epoch_of(height);
    let mut e = economy(state);
    // Issuance, up to the cap.
    let token = token_policy(state);
    let room = token.cap.saturating_sub(e.supply);
    let issue = token.issuance_per_epoch.min(room);
    e.supply += issue;
    e.issued += issue;
    e.pool += issue;
    e.closed_epoch = Some(epoch);
    // The schedule in force shares the pool: the validators' part is paid now; the data and
    // verification parts are set aside for the epoch's points (claimed lazily, so an epoch's end
    // costs the same whatever the number of enterprises); a part nobody earned stays in the pool.
    let (rec, schedule) = schedule_in_force(state, epoch);
    let shares = schedule.shares();
    let part = |pct: u8| (e.pool as u128 * pct as u128 / 100) as u64;
    let mut r = epoch_rewards(state, epoch);
    r.schedule_version = rec.version;
    r.closed = true;
    r.data_pool = if r.data_points > 0 { part(shares.enterprises) } else { 0 };
    r.verification_pool = if r.verification_points > 0 { part(shares.verifiers) } else { 0 };
    let validators = part(shares.validators);
    e.pool -= r.data_pool + r.verification_pool;
    e.unclaimed += r.data_pool + r.verification_pool;
    put_economy(state, &e);
    r.validators_paid = reward_validators(state, epoch, validators);
    state.put(StateKey::EpochRewards(epoch), StateValue::EpochRewards(r));
    jail_absent(state, epoch);
    elect(state, epoch + 2, height);
}

/// Recorded finalizations an epoch needs before a member's missing votes count: fewer say too
/// little.
pub const MIN_FINALIZED_FOR_JAIL: u64 = 10;

/// Jails (without a slash) the members of the epoch's set that missed more than
/// `max_missed_percent` % of their leader turns (at least [`MIN_TURNS_FOR_JAIL`] turns), or whose
/// votes are missing from more than `max_missed_percent` % of the epoch's recorded finalizations
/// (at least [`MIN_FINALIZED_FOR_JAIL`]).
fn jail_absent(state: &mut State, epoch: u64) {
    let (Some(set), Some(a)) = (validator_set(state, epoch), epoch_activity(state, epoch)) else { return };
    let p = state.params.economy.staking.clone();
    let over = |missed: u64, of: u64| missed * 100 > of * p.max_missed_percent as u64;
    for (i, m) in set.members.iter().enumerate() {
        let (proposed, missed) = (a.proposed[i], a.missed[i]);
        let turns = proposed + missed;
        let unsigned = a.finalized.saturating_sub(a.signed.get(i).copied().unwrap_or(0));
        let reason = if turns >= MIN_TURNS_FOR_JAIL && over(missed, turns) {
            format!("missed {missed} of its {turns} leader turns in epoch {epoch}")
        } else if a.finalized >= MIN_FINALIZED_FOR_JAIL && over(unsigned, a.finalized) {
            format!(
                "its vote is missing from {unsigned} of the {} finalizations recorded in epoch {epoch}",
                a.finalized
            )
        } else {
            continue;
        };
        let Some(mut v) = validator(state, &m.consensus_key) else { continue };
        let until = epoch + 1 + (p.jail_epochs as u64).max(1);
        v.jailed_until = Some(v.jailed_until.map_or(until, |j| j.max(until)));
        v.jail_reason = reason;
        put_validator(state, &m.consensus_key, &v);
    }
}

/// Pays `pool` (the validators' share of the epoch's pool) to the members of its validator set in
/// proportion to the blocks each proposed plus the finalize votes recorded for it (in equal parts
/// if the epoch has no activity record; rounding remainders stay in the pool): each member's operator keeps its commission, the rest is shared by the member's
/// stakeholders pro rata (its operator included, as a self-delegator).
fn reward_validators(state: &mut State, epoch: u64, pool: u64) -> u64 {
    let Some(set) = validator_set(state, epoch) else { return 0 };
    let mut e = economy(state);
    let n = set.members.len();
    if n == 0 {
        return 0;
    }
    // One unit per block proposed and one per recorded finalize vote.
    let weights: Vec<u64> = match epoch_activity(state, epoch) {
        Some(a) if a.proposed.iter().chain(&a.signed).sum::<u64>() > 0 => {
            (0..n).map(|i| a.proposed.get(i).copied().unwrap_or(0) + a.signed.get(i).copied().unwrap_or(0)).collect()
        }
        _ => vec![1; n],
    };
    let total: u64 = weights.iter().sum();
    debug_assert!(pool <= e.pool);
    let mut paid = 0u64;
    for (m, w) in set.members.iter().zip(&weights) {
        let each = (pool as u128 * *w as u128 / total as u128) as u64;
        if each == 0 {
            continue;
        }
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
    paid
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
