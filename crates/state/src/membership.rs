//! Membership rules (成员管理): who may admit, suspend, reinstate and remove organisations and
//! change account keys, and how proposals collect approvals. See `trustmeter_types::membership`
//! for the transactions and the rule in one paragraph.

use crate::state::State;
use trustmeter_crypto::verify;
use trustmeter_types::limits::{MAX_ACCOUNTS_PER_ORG, MAX_GRANT_MS, MAX_GRANTS_PER_ORG, MAX_REGULATORS};
use trustmeter_types::membership::jurisdiction_covers;
use trustmeter_types::{
    Account, DisclosureRecord, Grant, GrantScope, Hash32, Membership, MembershipAction, NewAccount, OrgKind, OrgStatus,
    Organisation, Proposal, ProposalStatus, PublicKey, RejectCode, Rejection, TxOutcome, TxPayload,
    UnifiedSocialCreditCode, account_proof_payload,
};

type Refusal = (RejectCode, String);

fn refuse(code: RejectCode, msg: String) -> Refusal {
    (code, msg)
}

/// An organisation's standing; an organisation without a record (never the case for a state
/// built by this crate) counts as active with no known keys.
fn standing(state: &State, org: &UnifiedSocialCreditCode) -> Membership {
    state.membership(org).unwrap_or(Membership {
        status: OrgStatus::Active,
        since_ms: 0,
        reason: String::new(),
        active_accounts: 0,
    })
}

/// Refuses an organisation that is not active: its accounts' transactions and its gateways'
/// readings. The message says since when and why.
pub(crate) fn require_active(state: &State, org: &UnifiedSocialCreditCode) -> Result<(), Rejection> {
    let m = standing(state, org);
    match m.status {
        OrgStatus::Active => Ok(()),
        status => Err(Rejection::new(
            RejectCode::OrganisationNotActive,
            format!(
                "organisation {org} is {} since {} ({}): {}",
                if status == OrgStatus::Suspended { "suspended" } else { "removed" },
                trustmeter_energy::calendar::local_minute(m.since_ms),
                m.reason,
                if status == OrgStatus::Suspended {
                    "its accounts and gateways are refused until its regulator reinstates it"
                } else {
                    "removal is final"
                }
            ),
        )),
    }
}

/// Who decides on changes to an organisation.
enum Authority {
    /// One active regulator whose jurisdiction covers this region (enterprises, data consumers).
    Jurisdiction(u32),
    /// k of the active regulators other than the organisation concerned (authorities); the
    /// chain's only regulator alone when it is the organisation concerned. With no organisation
    /// concerned (the token policy), k of all the active regulators.
    Quorum { excluding: Option<UnifiedSocialCreditCode> },
}

fn authority(org: &Organisation) -> Authority {
    match org.kind {
        OrgKind::Enterprise | OrgKind::DataConsumer => Authority::Jurisdiction(org.region),
        _ => Authority::Quorum { excluding: Some(org.id.clone()) },
    }
}

/// Who decides `action`: for an organisation, by its kind ([`authority`]); for the whole chain,
/// the regulators together.
fn authority_of(state: &State, action: &MembershipAction) -> Result<(Authority, String), Refusal> {
    match action {
        MembershipAction::SetTokenPolicy { .. } => Ok((Authority::Quorum { excluding: None }, "the chain".into())),
        _ => {
            let target = target(state, action)?;
            Ok((authority(&target), target.id.to_string()))
        }
    }
}

impl Authority {
    /// The regulators that may approve now.
    fn eligible(&self, state: &State) -> Vec<UnifiedSocialCreditCode> {
        let regulators = state.regulators();
        match self {
            Authority::Jurisdiction(region) => regulators
                .into_iter()
                .filter(|r| state.organisation(r).is_some_and(|o| jurisdiction_covers(o.region, *region)))
                .collect(),
            Authority::Quorum { excluding } => {
                let others: Vec<_> = regulators.iter().filter(|r| Some(*r) != excluding.as_ref()).cloned().collect();
                // A chain's only regulator decides about itself (its keys): there is nobody else.
                if others.is_empty() { regulators } else { others }
            }
        }
    }

    /// Approvals needed out of the eligible regulators.
    fn required(&self, state: &State, eligible: usize) -> u32 {
        match self {
            Authority::Jurisdiction(_) => 1,
            Authority::Quorum { .. } => state.params.governance.required(eligible as u32),
        }
    }

    fn describe(&self) -> String {
        match self {
            Authority::Jurisdiction(region) => format!("a regulator whose jurisdiction covers region {region}"),
            Authority::Quorum { excluding: Some(excluding) } => {
                format!("k of n active regulators other than {excluding}")
            }
            Authority::Quorum { excluding: None } => "k of n active regulators".into(),
        }
    }
}

/// The organisation an action concerns, as it is (or, for an admission, will be).
fn target(state: &State, action: &MembershipAction) -> Result<Organisation, Refusal> {
    match action {
        MembershipAction::Admit { organisation, .. } => Ok(organisation.clone()),
        MembershipAction::SetTokenPolicy { .. } => {
            Err(refuse(RejectCode::InvalidTransition, "the token policy concerns no organisation".into()))
        }
        other => {
            let org = other.org().expect("every other action concerns an organisation");
            state.organisation(org).ok_or_else(|| {
                refuse(RejectCode::InvalidTransition, format!("organisation {org} is not a member of this chain"))
            })
        }
    }
}

fn check_new_account(state: &State, org: &UnifiedSocialCreditCode, a: &NewAccount) -> Result<(), Refusal> {
    if state.key_in_use(&a.public_key) {
        return Err(refuse(
            RejectCode::AlreadyRegistered,
            format!("key {} is or was already registered; generate a new key", a.public_key),
        ));
    }
    let payload = account_proof_payload(&state.chain_id, org, &a.public_key);
    if verify(&a.public_key, &payload, &a.proof).is_err() {
        return Err(refuse(
            RejectCode::BadProof,
            format!(
                "the proof of possession of {} does not verify: the new key must sign (chain {}, organisation {org}, key)",
                a.public_key, state.chain_id
            ),
        ));
    }
    Ok(())
}

/// Whether the active regulators would stay within bounds and non-empty if `org` (a regulator)
/// stopped being one.
fn check_not_last_regulator(state: &State, org: &Organisation) -> Result<(), Refusal> {
    if org.kind == OrgKind::Regulator && state.regulators().iter().all(|r| r == &org.id) {
        return Err(refuse(
            RejectCode::InvalidTransition,
            format!("{} is the chain's only active regulator; admit another before it leaves", org.id),
        ));
    }
    Ok(())
}

/// Whether `action` can be carried out on `state` now.
fn check_action(state: &State, action: &MembershipAction) -> Result<(), Refusal> {
    if let MembershipAction::SetTokenPolicy { cap, .. } = action {
        let supply = crate::economy::economy(state).supply;
        if *cap < supply {
            return Err(refuse(
                RejectCode::InvalidTransition,
                format!(
                    "the cap ({}) is below the supply already issued ({}): tokens are never destroyed",
                    trustmeter_types::economy::format_amount(*cap),
                    trustmeter_types::economy::format_amount(supply)
                ),
            ));
        }
        return Ok(());
    }
    let org = action.org().expect("every other action concerns an organisation");
    let m = state.membership(org);
    let status = m.as_ref().map(|m| m.status);
    match action {
        MembershipAction::Admit { organisation, accounts } => {
            if state.organisation(org).is_some() {
                return Err(refuse(
                    RejectCode::AlreadyRegistered,
                    format!(
                        "organisation {org} is already a member (or was; a removed organisation is not re-admitted)"
                    ),
                ));
            }
            if organisation.kind == OrgKind::Regulator && state.regulators().len() >= MAX_REGULATORS {
                return Err(refuse(
                    RejectCode::LimitReached,
                    format!("a chain has at most {MAX_REGULATORS} regulators"),
                ));
            }
            for (i, a) in accounts.iter().enumerate() {
                if accounts[..i].iter().any(|b| b.public_key == a.public_key) {
                    return Err(refuse(RejectCode::AlreadyRegistered, format!("key {} is listed twice", a.public_key)));
                }
                check_new_account(state, org, a)?;
            }
            Ok(())
        }
        MembershipAction::Suspend { .. } => {
            if status != Some(OrgStatus::Active) {
                return Err(refuse(RejectCode::InvalidTransition, format!("organisation {org} is not active")));
            }
            check_not_last_regulator(state, &target(state, action)?)
        }
        MembershipAction::Reinstate { .. } => {
            if status != Some(OrgStatus::Suspended) {
                return Err(refuse(RejectCode::InvalidTransition, format!("organisation {org} is not suspended")));
            }
            let o = target(state, action)?;
            if o.kind == OrgKind::Regulator && state.regulators().len() >= MAX_REGULATORS {
                return Err(refuse(
                    RejectCode::LimitReached,
                    format!("a chain has at most {MAX_REGULATORS} regulators"),
                ));
            }
            Ok(())
        }
        MembershipAction::Remove { .. } => {
            if status == Some(OrgStatus::Removed) {
                return Err(refuse(RejectCode::InvalidTransition, format!("organisation {org} is already removed")));
            }
            check_not_last_regulator(state, &target(state, action)?)
        }
        MembershipAction::AddAccount { account, .. } => {
            if status == Some(OrgStatus::Removed) {
                return Err(refuse(RejectCode::InvalidTransition, format!("organisation {org} is removed")));
            }
            if m.as_ref().is_some_and(|m| m.active_accounts as usize >= MAX_ACCOUNTS_PER_ORG) {
                return Err(refuse(
                    RejectCode::LimitReached,
                    format!("organisation {org} has {MAX_ACCOUNTS_PER_ORG} active account keys; revoke one first"),
                ));
            }
            check_new_account(state, org, account)
        }
        MembershipAction::RevokeAccount { public_key, .. } => match state.account(public_key) {
            Some(a) if &a.org == org && a.revoked_at_ms.is_none() => Ok(()),
            Some(a) if &a.org == org => {
                Err(refuse(RejectCode::InvalidTransition, format!("key {public_key} is already revoked")))
            }
            _ => Err(refuse(RejectCode::InvalidTransition, format!("key {public_key} is not an account of {org}"))),
        },
        MembershipAction::SetTokenPolicy { .. } => Ok(()), // checked above
    }
}

fn set_regulator(state: &mut State, org: &UnifiedSocialCreditCode, active: bool) {
    let mut list = state.regulators();
    match list.binary_search(org) {
        Ok(i) if !active => {
            list.remove(i);
        }
        Err(i) if active => list.insert(i, org.clone()),
        _ => return,
    }
    state.set_regulators(list);
}

/// Where an action is carried out: the block's height and time, the hash of the transaction that
/// proposed it.
#[derive(Clone, Copy)]
struct At<'a> {
    height: u64,
    ts: i64,
    proposal: &'a Hash32,
}

/// Carries out a checked action.
fn execute(state: &mut State, at: At<'_>, action: &MembershipAction) {
    let ts = at.ts;
    if let MembershipAction::SetTokenPolicy { issuance_per_epoch, cap, transferable, reason } = action {
        let token = trustmeter_types::economy::TokenParams {
            symbol: state.params.economy.token.symbol.clone(),
            cap: *cap,
            issuance_per_epoch: *issuance_per_epoch,
            transferable: *transferable,
        };
        let record = trustmeter_schema::TokenPolicyRecord {
            token,
            proposal: *at.proposal,
            reason: reason.clone(),
            height: at.height,
            time_ms: ts,
        };
        state.put(trustmeter_schema::StateKey::TokenPolicy, trustmeter_schema::StateValue::TokenPolicy(record));
        return;
    }
    let org = action.org().expect("every other action concerns an organisation").clone();
    let mut m = standing(state, &org);
    let kind = state.organisation(&org).map(|o| o.kind);
    match action {
        MembershipAction::Admit { organisation, accounts } => {
            state.set_organisation(organisation.clone());
            for a in accounts {
                state.set_account(&a.public_key, Account { org: org.clone(), revoked_at_ms: None });
            }
            let m = Membership {
                status: OrgStatus::Active,
                since_ms: ts,
                reason: String::new(),
                active_accounts: accounts.len() as u32,
            };
            state.set_membership(&org, m);
            if organisation.kind == OrgKind::Regulator {
                set_regulator(state, &org, true);
            }
            return;
        }
        MembershipAction::Suspend { reason, .. } | MembershipAction::Remove { reason, .. } => {
            m.status = if matches!(action, MembershipAction::Suspend { .. }) {
                OrgStatus::Suspended
            } else {
                OrgStatus::Removed
            };
            m.since_ms = ts;
            m.reason = reason.clone();
            if kind == Some(OrgKind::Regulator) {
                set_regulator(state, &org, false);
            }
        }
        MembershipAction::Reinstate { .. } => {
            m.status = OrgStatus::Active;
            m.since_ms = ts;
            m.reason = String::new();
            if kind == Some(OrgKind::Regulator) {
                set_regulator(state, &org, true);
            }
        }
        MembershipAction::AddAccount { account, .. } => {
            state.set_account(&account.public_key, Account { org: org.clone(), revoked_at_ms: None });
            m.active_accounts += 1;
        }
        MembershipAction::RevokeAccount { public_key, .. } => {
            state.set_account(public_key, Account { org: org.clone(), revoked_at_ms: Some(ts) });
            m.active_accounts = m.active_accounts.saturating_sub(1);
        }
        MembershipAction::SetTokenPolicy { .. } => {} // carried out above
    }
    state.set_membership(&org, m);
}

/// Applies a membership transaction (`RegisterAccount`, `RevokeAccount`, `Propose`, `Approve`)
/// sent by an account of `org` (active), in the block at `height` and time `ts`, whose hash is `h`.
pub(crate) fn apply(
    state: &mut State,
    height: u64,
    ts: i64,
    h: &Hash32,
    org: &UnifiedSocialCreditCode,
    kind: OrgKind,
    payload: &TxPayload,
) -> TxOutcome {
    let result = match payload {
        TxPayload::RegisterAccount { public_key, proof } => {
            let action = MembershipAction::AddAccount {
                org: org.clone(),
                account: NewAccount { public_key: public_key.clone(), proof: proof.clone() },
            };
            self_service(state, At { height, ts, proposal: h }, kind, &action)
        }
        TxPayload::RevokeAccount { public_key, reason } => {
            revoke_own(state, At { height, ts, proposal: h }, org, kind, public_key, reason)
        }
        TxPayload::Propose { action } => propose(state, height, ts, h, org, action),
        TxPayload::Grant { grantee, scope, expires_at_ms } => grant(state, ts, org, grantee, *scope, *expires_at_ms),
        TxPayload::SetDisclosure { region, disclosure } => {
            let own = state.organisation(org).map_or(0, |o| o.region);
            if kind != OrgKind::Regulator || !jurisdiction_covers(own, *region) {
                Err(refuse(
                    RejectCode::NotAuthorised,
                    format!(
                        "only a regulator whose jurisdiction covers region {region} sets its disclosure; {org} is a {kind:?} of region {own}"
                    ),
                ))
            } else {
                let record = DisclosureRecord { disclosure: disclosure.clone(), set_by: org.clone(), set_at_ms: ts };
                state.set_disclosure(*region, record);
                Ok(())
            }
        }
        TxPayload::PublishFigures { until_ms } => {
            if *until_ms <= ts {
                state.set_published(org, None);
                Ok(())
            } else if *until_ms - ts > MAX_GRANT_MS {
                Err(refuse(RejectCode::InvalidTransition, "a publication runs at most 5 years".into()))
            } else {
                state.set_published(org, Some(Grant { granted_at_ms: ts, expires_at_ms: *until_ms }));
                Ok(())
            }
        }
        TxPayload::RevokeGrant { grantee, scope } => match state.grant(org, grantee, *scope) {
            Some(_) => {
                state.set_grant(org, grantee, *scope, None);
                Ok(())
            }
            None => Err(refuse(
                RejectCode::InvalidTransition,
                format!("{org} has no {} grant to {grantee} in force", scope.name()),
            )),
        },
        TxPayload::Approve { proposal } => approve(state, height, ts, org, proposal),
        _ => unreachable!("only membership transactions come here"),
    };
    match result {
        Ok(()) => TxOutcome::Accepted,
        Err((code, msg)) => TxOutcome::Rejected(Rejection::new(code, msg)),
    }
}

/// A grant of `scope` of `owner`'s data to `grantee` until `expires_at_ms`, at block time `ts`.
fn grant(
    state: &mut State,
    ts: i64,
    owner: &UnifiedSocialCreditCode,
    grantee: &UnifiedSocialCreditCode,
    scope: GrantScope,
    expires_at_ms: i64,
) -> Result<(), Refusal> {
    if grantee == owner {
        return Err(refuse(RejectCode::InvalidTransition, "an organisation reads its own data without a grant".into()));
    }
    if state.organisation(grantee).is_none()
        || state.membership(grantee).is_some_and(|m| m.status == OrgStatus::Removed)
    {
        return Err(refuse(
            RejectCode::InvalidTransition,
            format!("{grantee} is not a member of this chain; data is granted to members only"),
        ));
    }
    if expires_at_ms <= ts || expires_at_ms - ts > MAX_GRANT_MS {
        return Err(refuse(
            RejectCode::InvalidTransition,
            format!(
                "a grant ends after the block time ({}) and at most 5 years later; {} is outside",
                trustmeter_energy::calendar::local_minute(ts),
                trustmeter_energy::calendar::local_minute(expires_at_ms)
            ),
        ));
    }
    let replacing = state.grant(owner, grantee, scope).is_some();
    if !replacing && state.grants_of(owner).len() >= MAX_GRANTS_PER_ORG {
        return Err(refuse(
            RejectCode::LimitReached,
            format!("{owner} has {MAX_GRANTS_PER_ORG} grants in force; revoke one first"),
        ));
    }
    state.set_grant(owner, grantee, scope, Some(Grant { granted_at_ms: ts, expires_at_ms }));
    Ok(())
}

fn regulators_by_proposal(what: &str) -> Refusal {
    refuse(
        RejectCode::NotAuthorised,
        format!("a regulator's {what} by proposal, approved by k of n regulators (`trustmeter tx propose`)"),
    )
}

fn self_service(state: &mut State, at: At<'_>, kind: OrgKind, action: &MembershipAction) -> Result<(), Refusal> {
    if kind == OrgKind::Regulator {
        return Err(regulators_by_proposal("keys are added"));
    }
    check_action(state, action)?;
    execute(state, at, action);
    Ok(())
}

fn revoke_own(
    state: &mut State,
    at: At<'_>,
    org: &UnifiedSocialCreditCode,
    kind: OrgKind,
    key: &PublicKey,
    reason: &str,
) -> Result<(), Refusal> {
    if kind == OrgKind::Regulator {
        return Err(regulators_by_proposal("keys are revoked"));
    }
    let action = MembershipAction::RevokeAccount { org: org.clone(), public_key: key.clone(), reason: reason.into() };
    check_action(state, &action)?;
    if standing(state, org).active_accounts <= 1 {
        return Err(refuse(
            RejectCode::InvalidTransition,
            format!("{key} is {org}'s last active account key; add another before revoking it"),
        ));
    }
    execute(state, at, &action);
    Ok(())
}

fn propose(
    state: &mut State,
    height: u64,
    ts: i64,
    h: &Hash32,
    org: &UnifiedSocialCreditCode,
    action: &MembershipAction,
) -> Result<(), Refusal> {
    let (authority, concerned) = authority_of(state, action)?;
    let eligible = authority.eligible(state);
    if !eligible.contains(org) {
        return Err(refuse(
            RejectCode::NotAuthorised,
            format!("{org} may not propose to {} {concerned}: that takes {}", action.kind(), authority.describe()),
        ));
    }
    check_action(state, action)?;
    let required = authority.required(state, eligible.len());
    let mut proposal = Proposal {
        id: *h,
        action: action.clone(),
        proposed_by: org.clone(),
        proposed_at_ms: ts,
        expires_at_ms: ts.saturating_add(state.params.governance.proposal_lifetime_ms),
        required,
        approvals: vec![org.clone()],
        status: ProposalStatus::Pending,
    };
    if required <= 1 {
        execute(state, At { height, ts, proposal: h }, action);
        proposal.status = ProposalStatus::Executed { height };
    }
    state.set_proposal(proposal);
    Ok(())
}

fn approve(state: &mut State, height: u64, ts: i64, org: &UnifiedSocialCreditCode, id: &Hash32) -> Result<(), Refusal> {
    let not_pending = |why: &str| refuse(RejectCode::ProposalNotPending, format!("proposal {id} {why}"));
    let Some(mut proposal) = state.proposal(id) else { return Err(not_pending("does not exist")) };
    if proposal.status != ProposalStatus::Pending {
        return Err(not_pending("was already executed"));
    }
    if ts > proposal.expires_at_ms {
        return Err(not_pending(&format!(
            "expired at {}; propose it again",
            trustmeter_energy::calendar::local_minute(proposal.expires_at_ms)
        )));
    }
    let (authority, _) = authority_of(state, &proposal.action)?;
    let eligible = authority.eligible(state);
    if !eligible.contains(org) {
        return Err(refuse(
            RejectCode::NotAuthorised,
            format!("{org} may not approve proposal {id}: it takes {}", authority.describe()),
        ));
    }
    if proposal.approvals.contains(org) {
        return Err(refuse(RejectCode::InvalidTransition, format!("{org} already approved proposal {id}")));
    }
    proposal.approvals.push(org.clone());
    // Only approvals from organisations that are still eligible count (one suspended since does
    // not), against the number fixed when the proposal was made.
    let counted = proposal.approvals.iter().filter(|a| eligible.contains(a)).count() as u32;
    if counted >= proposal.required {
        check_action(state, &proposal.action)?;
        execute(state, At { height, ts, proposal: id }, &proposal.action);
        proposal.status = ProposalStatus::Executed { height };
    }
    state.set_proposal(proposal);
    Ok(())
}
