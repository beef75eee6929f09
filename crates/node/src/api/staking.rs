//! The token and DPoS routes (通证与验证节点选举), from the finalized state:
//!
//! - `GET /v1/epoch`: the current epoch (its heights), its validator set, the next one, the one
//!   already elected after it, the token totals and the economy's parameters. Public.
//! - `GET /v1/validators`: every registered validator with its stake, self-stake, commission,
//!   standing (jailed, slashed) and its activity in the current epoch (blocks proposed, leader
//!   turns missed, finalize votes recorded, uptime). Public: who keeps the ledger is everyone's business.
//! - `GET /v1/token/{org}`: an organisation's account: balance, rewards earned and claimable,
//!   its stakes with their pending rewards, its unbonding entries and when each is released.
//!   Read by the organisation itself and the regulators of its region.
//!
//! Each walks at most [`MAX_CANDIDATES`] validators or an organisation's bounded delegations.

use super::{ApiError, ApiState};
use axum::extract::{Path, State as AxumState};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use trustmeter_state::State;
use trustmeter_state::economy::{
    account, delegations_of, economy, epoch_activity, epoch_rewards, pending_rewards, points_of, self_stake,
    token_policy, token_policy_record, unbondings_of, validator, validator_set, validators,
};
use trustmeter_types::UnifiedSocialCreditCode;
use trustmeter_types::economy::{EconomyParams, MAX_CANDIDATES, format_amount};
use utoipa::{OpenApi, ToSchema};

/// The routes of this module.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/epoch", get(epoch))
        .route("/v1/validators", get(list_validators))
        .route("/v1/token/{org}", get(token))
        .route("/v1/rewards/schedule", get(schedule))
}

/// The OpenAPI fragment of this module.
#[derive(OpenApi)]
#[openapi(paths(epoch, list_validators, token, schedule))]
pub struct StakingDoc;

/// One member of an epoch's validator set.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// Consensus key (hex).
    pub consensus_key: String,
    /// Name.
    pub name: String,
    /// Operating organisation.
    pub org: String,
    /// p2p address.
    pub p2p_address: String,
    /// Bonded stake when elected, tokens (decimal).
    pub stake: String,
}

/// An epoch's set.
#[derive(Debug, Serialize, ToSchema)]
pub struct SetView {
    /// The epoch.
    pub epoch: u64,
    /// Height of the block that elected it (0: genesis).
    pub elected_height: u64,
    /// Its members, by key.
    pub members: Vec<MemberView>,
}

/// The token totals, tokens (decimal).
#[derive(Debug, Serialize, ToSchema)]
pub struct TotalsView {
    /// Tokens in existence.
    pub supply: String,
    /// Σ balances.
    pub balances: String,
    /// Σ bonded stake.
    pub bonded: String,
    /// Σ unbonding stake.
    pub unbonding: String,
    /// The reward pool (issuance and slashes not yet paid).
    pub pool: String,
    /// Rewards credited and not yet claimed.
    pub unclaimed: String,
    /// Σ issued since genesis.
    pub issued: String,
    /// Σ slashed since genesis.
    pub slashed: String,
    /// Whether the totals add up to the supply (always, or the chain would have stopped).
    pub conserved: bool,
}

/// The current epoch.
#[derive(Debug, Serialize, ToSchema)]
pub struct EpochView {
    /// Finalized height.
    pub height: u64,
    /// Its epoch.
    pub epoch: u64,
    /// The epoch's first height.
    pub first_height: u64,
    /// The epoch's last height (its boundary block, which elects the set of epoch + 2).
    pub last_height: u64,
    /// Blocks per epoch.
    pub epoch_length: u64,
    /// The set keeping the ledger now.
    pub current: Option<SetView>,
    /// The set of the next epoch (fixed since the end of the previous epoch).
    pub next: Option<SetView>,
    /// The set after it, if already elected.
    pub elected: Option<SetView>,
    /// The token totals.
    pub totals: TotalsView,
    /// The token's supply policy in force (the genesis's until the regulators set one) and the
    /// staking rules (from genesis).
    pub params: EconomyParams,
    /// When the regulators last set the token policy, if they did.
    pub token_policy_set: Option<TokenPolicySet>,
}

/// A token policy decision of the regulators (`propose --action set-token-policy`).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPolicySet {
    /// The proposal (hash of the proposing transaction, hex).
    pub proposal: String,
    /// Why.
    pub reason: String,
    /// Height of the block that executed it.
    pub height: u64,
    /// That block's time (Unix ms).
    pub time_ms: i64,
}

/// A registered validator.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidatorRow {
    /// Consensus key (hex).
    pub consensus_key: String,
    /// Name.
    pub name: String,
    /// Operating organisation.
    pub org: String,
    /// p2p address.
    pub p2p_address: String,
    /// Commission, percent.
    pub commission_percent: u8,
    /// Bonded stake, tokens.
    pub bonded: String,
    /// Its organisation's own stake, tokens.
    pub self_stake: String,
    /// Stake unbonding from it, tokens.
    pub unbonding: String,
    /// Slashed from it in all, tokens.
    pub slashed: String,
    /// `Some(epoch)`: jailed, may be unjailed from that epoch on.
    pub jailed_until: Option<u64>,
    /// Why it was last jailed.
    pub jail_reason: String,
    /// In the current epoch's set.
    pub in_current_set: bool,
    /// In the next epoch's set.
    pub in_next_set: bool,
    /// Blocks it proposed in the current epoch (when in its set).
    pub proposed: Option<u64>,
    /// Leader turns it missed in the current epoch (when in its set).
    pub missed: Option<u64>,
    /// Finalize votes of it recorded in the current epoch (when in its set).
    pub votes_signed: Option<u64>,
    /// Finalizations recorded in the current epoch (when in its set): what `votes_signed` is
    /// out of.
    pub finalizations_recorded: Option<u64>,
    /// In percent: `votes_signed / finalizations_recorded` once a finalization is recorded in
    /// the epoch, before that `proposed / (proposed + missed)` when it had a leader turn.
    pub uptime_percent: Option<f64>,
}

/// One stake of an organisation.
#[derive(Debug, Serialize, ToSchema)]
pub struct StakeView {
    /// The validator (hex key).
    pub validator: String,
    /// Its name.
    pub name: String,
    /// The organisation's bonded tokens on it.
    pub bonded: String,
    /// Rewards earned on it since last settled, claimable, tokens.
    pub pending_rewards: String,
}

/// One unbonding entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnbondingView {
    /// The validator (hex key).
    pub validator: String,
    /// Claimable from this epoch on.
    pub release_epoch: u64,
    /// Tokens now (after any slash).
    pub amount: String,
    /// Tokens when it started.
    pub initial: String,
}

/// An organisation's token account.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// The organisation.
    pub org: String,
    /// The token's ticker.
    pub symbol: String,
    /// Spendable tokens.
    pub balance: String,
    /// Rewards credited to the account, not yet claimed.
    pub earned: String,
    /// Rewards earned in all.
    pub earned_total: String,
    /// `earned` plus every stake's pending rewards plus matured unbonding: what a claim moves
    /// to the balance now.
    pub claimable: String,
    /// Its stakes.
    pub stakes: Vec<StakeView>,
    /// Its unbonding entries.
    pub unbonding: Vec<UnbondingView>,
    /// Its points not yet claimed, by epoch: what it earned them for and, once the epoch has
    /// ended, what they are worth.
    pub points: Vec<PointsView>,
}

/// An organisation's points of one epoch.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointsView {
    /// The epoch.
    pub epoch: u64,
    /// Data points (the schedule's `data` formula over its reading batches).
    pub data_points: u64,
    /// Reading batches, readings recorded, timely, flagged and refused.
    pub batches: u64,
    /// Readings recorded.
    pub accepted: u64,
    /// Of which timely.
    pub timely: u64,
    /// Of which flagged.
    pub flagged: u64,
    /// Readings refused.
    pub rejected: u64,
    /// Verification points and verifications completed.
    pub verification_points: u64,
    /// Verifications completed.
    pub verifications: u64,
    /// Σ points of everyone in the epoch (data, verification).
    pub epoch_points: (u64, u64),
    /// What the points are worth, tokens, once the epoch has ended (`null` before).
    pub worth: Option<String>,
}

/// The reward schedule in force and every version.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    /// The current epoch.
    pub epoch: u64,
    /// The version in force now.
    pub in_force: u32,
    /// Every version: name, version, effective epoch, who deployed it, the document.
    pub versions: Vec<trustmeter_state::economy::RewardScheduleRecord>,
}

/// The reward schedule in force and every deployed version (public: how rewards are computed is
/// everyone's business).
#[utoipa::path(get, path = "/v1/rewards/schedule", responses((status = 200, body = ScheduleView)))]
async fn schedule(AxumState(s): AxumState<ApiState>) -> Json<ScheduleView> {
    let state = s.inner.app.finalized_state();
    let e = current_epoch(&state);
    Json(ScheduleView {
        epoch: e,
        in_force: trustmeter_state::economy::schedule_in_force(&state, e).0.version,
        versions: trustmeter_state::economy::reward_schedules(&state),
    })
}

fn set_view(s: trustmeter_state::economy::ValidatorSet) -> SetView {
    SetView {
        epoch: s.epoch,
        elected_height: s.elected_height,
        members: s
            .members
            .into_iter()
            .map(|m| MemberView {
                consensus_key: hex::encode(&m.consensus_key.bytes),
                name: m.name,
                org: m.org.to_string(),
                p2p_address: m.p2p_address,
                stake: format_amount(m.stake),
            })
            .collect(),
    }
}

fn current_epoch(state: &State) -> u64 {
    state.params.economy.staking.epoch_of(state.height)
}

/// The current epoch, its set, the next two and the token totals.
#[utoipa::path(get, path = "/v1/epoch", responses((status = 200, body = EpochView)))]
async fn epoch(AxumState(s): AxumState<ApiState>) -> Json<EpochView> {
    let state = s.inner.app.finalized_state();
    let p = &state.params.economy.staking;
    let e = current_epoch(&state);
    let t = economy(&state);
    Json(EpochView {
        height: state.height,
        epoch: e,
        first_height: e * p.epoch_length,
        last_height: p.last_of(e),
        epoch_length: p.epoch_length,
        current: validator_set(&state, e).map(set_view),
        next: validator_set(&state, e + 1).map(set_view),
        elected: validator_set(&state, e + 2).map(set_view),
        totals: TotalsView {
            supply: format_amount(t.supply),
            balances: format_amount(t.balances),
            bonded: format_amount(t.bonded),
            unbonding: format_amount(t.unbonding),
            pool: format_amount(t.pool),
            unclaimed: format_amount(t.unclaimed),
            issued: format_amount(t.issued),
            slashed: format_amount(t.slashed),
            conserved: t.conserved(),
        },
        params: EconomyParams { token: token_policy(&state), staking: state.params.economy.staking.clone() },
        token_policy_set: token_policy_record(&state).map(|r| TokenPolicySet {
            proposal: r.proposal.to_hex(),
            reason: r.reason,
            height: r.height,
            time_ms: r.time_ms,
        }),
    })
}

/// Every registered validator, by key.
#[utoipa::path(get, path = "/v1/validators", responses((status = 200, body = [ValidatorRow])))]
async fn list_validators(AxumState(s): AxumState<ApiState>) -> Json<Vec<ValidatorRow>> {
    let state = s.inner.app.finalized_state();
    let e = current_epoch(&state);
    let current = validator_set(&state, e);
    let next = validator_set(&state, e + 1);
    let activity = epoch_activity(&state, e);
    let rows = validators(&state)
        .into_iter()
        .take(MAX_CANDIDATES)
        .map(|(k, v)| {
            let index = current.as_ref().and_then(|c| c.members.iter().position(|m| m.consensus_key == k));
            let counts = index.and_then(|i| activity.as_ref().map(|a| (a.proposed[i], a.missed[i])));
            let votes =
                index.and_then(|i| activity.as_ref().map(|a| (a.signed.get(i).copied().unwrap_or(0), a.finalized)));
            let percent = |part: u64, of: u64| (part as f64 * 1000.0 / of as f64).round() / 10.0;
            ValidatorRow {
                consensus_key: hex::encode(&k.bytes),
                name: v.name.clone(),
                org: v.org.to_string(),
                p2p_address: v.p2p_address.clone(),
                commission_percent: v.commission_percent,
                bonded: format_amount(v.bonded),
                self_stake: format_amount(self_stake(&state, &k, &v)),
                unbonding: format_amount(v.unbonding),
                slashed: format_amount(v.slashed),
                jailed_until: v.jailed_until,
                jail_reason: v.jail_reason.clone(),
                in_current_set: index.is_some(),
                in_next_set: next.as_ref().is_some_and(|n| n.members.iter().any(|m| m.consensus_key == k)),
                proposed: counts.map(|c| c.0),
                missed: counts.map(|c| c.1),
                votes_signed: votes.map(|v| v.0),
                finalizations_recorded: votes.map(|v| v.1),
                uptime_percent: match (votes, counts) {
                    (Some((signed, finalized)), _) if finalized > 0 => Some(percent(signed, finalized)),
                    (_, Some((p, m))) if p + m > 0 => Some(percent(p, p + m)),
                    _ => None,
                },
            }
        })
        .collect();
    Json(rows)
}

/// An organisation's token account, stakes and unbonding entries.
#[utoipa::path(get, path = "/v1/token/{org}", params(("org" = String, Path, description = "Credit code")), responses((status = 200, body = TokenView), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn token(AxumState(s): AxumState<ApiState>, Path(org): Path<String>) -> Result<Json<TokenView>, ApiError> {
    let org = UnifiedSocialCreditCode::new(org.trim()).map_err(|e| ApiError::bad_request(format!("org: {e}")))?;
    let state = s.inner.app.finalized_state();
    if state.organisation(&org).is_none() {
        return Err(ApiError::not_found(format!("organisation {org} is not a member")));
    }
    let a = account(&state, &org);
    let e = current_epoch(&state);
    let mut claimable = a.earned;
    let stakes = delegations_of(&state, &org)
        .into_iter()
        .filter_map(|(k, d)| {
            let v = validator(&state, &k)?;
            let pending = pending_rewards(&v, &d);
            claimable += pending;
            Some(StakeView {
                validator: hex::encode(&k.bytes),
                name: v.name.clone(),
                bonded: format_amount(v.tokens_of(d.shares)),
                pending_rewards: format_amount(pending),
            })
        })
        .collect();
    let unbonding = unbondings_of(&state, &org)
        .into_iter()
        .filter_map(|(k, release, u)| {
            let v = validator(&state, &k)?;
            let amount = v.unbonding_tokens_of(u.shares);
            if release <= e {
                claimable += amount;
            }
            Some(UnbondingView {
                validator: hex::encode(&k.bytes),
                release_epoch: release,
                amount: format_amount(amount),
                initial: format_amount(u.initial),
            })
        })
        .collect();
    let closed = economy(&state).closed_epoch;
    let points = points_of(&state, &org)
        .into_iter()
        .map(|(epoch, p)| {
            let r = epoch_rewards(&state, epoch);
            let ended = closed.is_some_and(|c| epoch <= c);
            let worth = ended.then(|| r.worth(p.data_points, p.verification_points));
            if let Some(w) = worth {
                claimable += w;
            }
            PointsView {
                epoch,
                data_points: p.data_points,
                batches: p.batches,
                accepted: p.accepted,
                timely: p.timely,
                flagged: p.flagged,
                rejected: p.rejected,
                verification_points: p.verification_points,
                verifications: p.verifications,
                epoch_points: (r.data_points, r.verification_points),
                worth: worth.map(format_amount),
            }
        })
        .collect();
    Ok(Json(TokenView {
        org: org.to_string(),
        symbol: state.params.economy.token.symbol.clone(),
        balance: format_amount(a.balance),
        earned: format_amount(a.earned),
        earned_total: format_amount(a.earned_total),
        claimable: format_amount(claimable),
        stakes,
        unbonding,
        points,
    }))
}
