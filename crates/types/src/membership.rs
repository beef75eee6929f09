//! Membership after genesis (成员准入与退出): organisations admitted, suspended, reinstated and
//! removed, and account keys added and revoked, by proposals that the right regulators approve;
//! and the chain's token policy, changed the same way by the regulators together.
//!
//! Who decides (the rule lives in the state machine, `trustmeter_state`):
//! - an enterprise or a data consumer: one regulator whose jurisdiction covers its region (its
//!   provincial or national energy-saving authority);
//! - a regulator, metrology authority, statistics bureau, industry association or verifier: more
//!   than [`GovernanceParams::approval_percent`] of the chain's active regulators (k of n), the
//!   organisation concerned not counting;
//! - the token policy ([`MembershipAction::SetTokenPolicy`]): more than
//!   [`GovernanceParams::approval_percent`] of all the chain's active regulators.
//!
//! A proposal counts its proposer's approval; it executes in the block that brings the approvals
//! to the threshold, and expires unexecuted after [`GovernanceParams::proposal_lifetime_ms`].

use crate::codec::{check_len, encode};
use crate::ids::{ChainId, Hash32, UnifiedSocialCreditCode};
use crate::keys::{PublicKey, Signature};
use crate::limits::*;
use crate::registry::Organisation;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Domain tag of an account key's proof of possession.
pub const ACCOUNT_PROOF_DOMAIN: &[u8] = b"trustmeter/account-key/v1";

/// The bytes a new account key signs to prove its holder made it: the domain tag, the chain, the
/// organisation and the key. Nobody can add a key they do not hold, nor replay the proof on
/// another chain or for another organisation.
pub fn account_proof_payload(chain: &ChainId, org: &UnifiedSocialCreditCode, key: &PublicKey) -> Vec<u8> {
    let mut out = ACCOUNT_PROOF_DOMAIN.to_vec();
    out.extend_from_slice(&encode(&(chain, org, key)));
    out
}

/// An account key to add, with its holder's proof of possession (a signature by the key over
/// [`account_proof_payload`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// The key.
    pub public_key: PublicKey,
    /// Its signature over [`account_proof_payload`].
    pub proof: Signature,
}

impl NewAccount {
    /// Checks limits and formats.
    pub fn check(&self) -> Result<(), String> {
        self.public_key.check()?;
        self.proof.check()?;
        if self.proof.scheme != self.public_key.scheme {
            return Err("an account proof's scheme differs from its key's".into());
        }
        Ok(())
    }
}

/// A membership change, carried by a proposal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum MembershipAction {
    /// Admits a new organisation with its first account keys (1..=[`MAX_ACCOUNTS_PER_ORG`]).
    Admit {
        /// The organisation (unified social credit code, name, kind, region).
        organisation: Organisation,
        /// Its first account keys, each with its proof of possession.
        accounts: Vec<NewAccount>,
    },
    /// Suspends an organisation: its accounts and gateways are refused until it is reinstated.
    Suspend {
        /// The organisation.
        org: UnifiedSocialCreditCode,
        /// Why (kept in the record).
        reason: String,
    },
    /// Reinstates a suspended organisation.
    Reinstate {
        /// The organisation.
        org: UnifiedSocialCreditCode,
    },
    /// Removes an organisation for good (its history stays on chain and provable).
    Remove {
        /// The organisation.
        org: UnifiedSocialCreditCode,
        /// Why.
        reason: String,
    },
    /// Adds an account key to an organisation (a regulator's own keys change only this way).
    AddAccount {
        /// The organisation.
        org: UnifiedSocialCreditCode,
        /// The key and its proof of possession.
        account: NewAccount,
    },
    /// Revokes an account key of an organisation (e.g. a lost or stolen key); never reusable.
    RevokeAccount {
        /// The organisation.
        org: UnifiedSocialCreditCode,
        /// The key.
        public_key: PublicKey,
        /// Why.
        reason: String,
    },
    /// Changes the token's supply policy (通证发行政策) when it executes: what each epoch's end
    /// issues, the cap, and whether members may transfer. The only way the policy set at genesis
    /// changes: a decision of more than [`GovernanceParams::approval_percent`] of the chain's
    /// active regulators. The token's symbol never changes.
    SetTokenPolicy {
        /// Micro-tokens issued into the reward pool at the end of every epoch, until the cap.
        issuance_per_epoch: crate::economy::Amount,
        /// Largest supply ever, micro-tokens: at least the supply when it executes, at most
        /// [`crate::economy::MAX_SUPPLY`].
        cap: crate::economy::Amount,
        /// Whether members may transfer tokens to each other.
        transferable: bool,
        /// Why (kept in the record).
        reason: String,
    },
}

impl MembershipAction {
    /// The organisation the action concerns (none: a decision about the whole chain).
    pub fn org(&self) -> Option<&UnifiedSocialCreditCode> {
        match self {
            MembershipAction::Admit { organisation, .. } => Some(&organisation.id),
            MembershipAction::Suspend { org, .. }
            | MembershipAction::Reinstate { org }
            | MembershipAction::Remove { org, .. }
            | MembershipAction::AddAccount { org, .. }
            | MembershipAction::RevokeAccount { org, .. } => Some(org),
            MembershipAction::SetTokenPolicy { .. } => None,
        }
    }

    /// Short machine name.
    pub fn kind(&self) -> &'static str {
        match self {
            MembershipAction::Admit { .. } => "admit",
            MembershipAction::Suspend { .. } => "suspend",
            MembershipAction::Reinstate { .. } => "reinstate",
            MembershipAction::Remove { .. } => "remove",
            MembershipAction::AddAccount { .. } => "add_account",
            MembershipAction::RevokeAccount { .. } => "revoke_account",
            MembershipAction::SetTokenPolicy { .. } => "set_token_policy",
        }
    }

    /// Checks limits and formats.
    pub fn check(&self) -> Result<(), String> {
        if let Some(org) = self.org() {
            org.check()?;
        }
        match self {
            MembershipAction::Admit { organisation, accounts } => {
                organisation.check()?;
                check_len("accounts of an admitted organisation", accounts.len(), MAX_ACCOUNTS_PER_ORG)?;
                if accounts.is_empty() {
                    return Err("an admitted organisation needs at least one account key".into());
                }
                for a in accounts {
                    a.check()?;
                }
                Ok(())
            }
            MembershipAction::Suspend { reason, .. } | MembershipAction::Remove { reason, .. } => check_reason(reason),
            MembershipAction::RevokeAccount { public_key, reason, .. } => {
                public_key.check()?;
                check_reason(reason)
            }
            MembershipAction::AddAccount { account, .. } => account.check(),
            MembershipAction::Reinstate { .. } => Ok(()),
            MembershipAction::SetTokenPolicy { cap, issuance_per_epoch, reason, .. } => {
                if *cap == 0 || *cap > crate::economy::MAX_SUPPLY || issuance_per_epoch > cap {
                    return Err(format!(
                        "a token policy's cap is between 1 and {} micro-tokens, and its issuance per epoch at most the cap",
                        crate::economy::MAX_SUPPLY
                    ));
                }
                check_reason(reason)
            }
        }
    }
}

/// Checks a reason text: bounded and not blank.
pub fn check_reason(reason: &str) -> Result<(), String> {
    check_len("reason", reason.len(), MAX_MESSAGE_LEN)?;
    if reason.trim().is_empty() {
        return Err("a reason is required".into());
    }
    Ok(())
}

/// Whether an organisation may act on chain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum OrgStatus {
    /// A member in good standing.
    Active = 0,
    /// Suspended: its accounts' transactions and its gateways' readings are refused.
    Suspended = 1,
    /// Removed for good.
    Removed = 2,
}

/// An organisation's standing (registry state, kept in every version).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    /// Active, suspended or removed.
    pub status: OrgStatus,
    /// Block time of the last change of status (genesis or admission time for an active one).
    pub since_ms: i64,
    /// Why the status last changed (empty for an admission).
    pub reason: String,
    /// Its active (not revoked) account keys, at most [`MAX_ACCOUNTS_PER_ORG`].
    pub active_accounts: u32,
}

/// An account key's record: its organisation and whether it was revoked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The organisation.
    pub org: UnifiedSocialCreditCode,
    /// Block time of the revocation, if revoked (a revoked key never signs again and is never
    /// reusable).
    pub revoked_at_ms: Option<i64>,
}

/// Where a proposal stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProposalStatus {
    /// Waiting for approvals (until it expires).
    Pending,
    /// Approved and carried out in the block at this height.
    Executed {
        /// The block.
        height: u64,
    },
}

/// A membership proposal (registry state). Its id is the hash of the transaction that made it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The id (hash of the proposing transaction).
    pub id: Hash32,
    /// What it does.
    pub action: MembershipAction,
    /// The organisation that proposed it.
    pub proposed_by: UnifiedSocialCreditCode,
    /// Block time it was made.
    pub proposed_at_ms: i64,
    /// Block time after which it can no longer be approved.
    pub expires_at_ms: i64,
    /// Approvals it needs (k), fixed when it was made.
    pub required: u32,
    /// The organisations that approved it, in order (the proposer first).
    pub approvals: Vec<UnifiedSocialCreditCode>,
    /// Pending or executed.
    pub status: ProposalStatus,
}

/// The chain's governance parameters (genesis).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernanceParams {
    /// A decision of the regulators (k of n) needs approvals from *more than* this percentage of
    /// the active regulators: k = ⌊n × p / 100⌋ + 1, at most n. 50 is a simple majority; 66 is
    /// more than two thirds.
    pub approval_percent: u8,
    /// How long a proposal may collect approvals, in milliseconds of block time.
    pub proposal_lifetime_ms: i64,
}

impl Default for GovernanceParams {
    /// More than half of the regulators; proposals live 7 days.
    fn default() -> Self {
        Self { approval_percent: 50, proposal_lifetime_ms: 7 * 24 * 3_600_000 }
    }
}

impl GovernanceParams {
    /// Approvals needed out of `n` eligible regulators (at least 1 when n ≥ 1).
    pub fn required(&self, n: u32) -> u32 {
        ((n as u64 * self.approval_percent as u64 / 100) as u32 + 1).min(n.max(1))
    }

    /// Checks the parameters.
    pub fn check(&self) -> Result<(), String> {
        if self.approval_percent > 99 {
            return Err("governance.approval_percent must be below 100 (more than p % of regulators approve)".into());
        }
        if !(3_600_000..=MAX_PROPOSAL_LIFETIME_MS).contains(&self.proposal_lifetime_ms) {
            return Err(format!(
                "governance.proposal_lifetime_ms must be between one hour and {MAX_PROPOSAL_LIFETIME_MS} ms (90 days)"
            ));
        }
        Ok(())
    }
}

/// Whether a regulator whose region is `regulator` has jurisdiction over an organisation in
/// region `target` (GB/T 2260 codes): the national authority (100000) over every region, a
/// province (XX0000) over its cities and counties, a city (XXXX00) over its counties, any
/// region over itself.
pub fn jurisdiction_covers(regulator: u32, target: u32) -> bool {
    regulator == NATIONAL_REGION
        || regulator == target
        || (regulator.is_multiple_of(10_000) && regulator / 10_000 == target / 10_000)
        || (regulator.is_multiple_of(100) && regulator / 100 == target / 100)
}

/// What an organisation lets another read of its data (数据授权): one scope per grant.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum GrantScope {
    /// Its gateway and meter records.
    Registry = 0,
    /// Its meters' readings and their proof bundles.
    Readings = 1,
    /// Its energy figures: daily figures, series, breakdowns, time of use, quality, its month,
    /// figure proofs.
    Figures = 2,
    /// Its alarms.
    Alarms = 3,
}

impl GrantScope {
    /// Every scope.
    pub const ALL: [GrantScope; 4] =
        [GrantScope::Registry, GrantScope::Readings, GrantScope::Figures, GrantScope::Alarms];

    /// The scope's name, as in the API and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            GrantScope::Registry => "registry",
            GrantScope::Readings => "readings",
            GrantScope::Figures => "figures",
            GrantScope::Alarms => "alarms",
        }
    }
}

/// A grant in force (registry state, every version kept): the owner lets the grantee read one
/// scope of its data until `expires_at_ms`. Checked at every read, not only when issued.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Block time it was issued.
    pub granted_at_ms: i64,
    /// When it ends (Unix ms): reads after it are refused.
    pub expires_at_ms: i64,
}

/// What the public (anyone, unsigned) may read of a region's enterprises (信息公开), set on chain
/// by a regulator whose jurisdiction covers the region. An enterprise's own figures become public
/// only when it publishes them (`TxPayload::PublishFigures`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disclosure {
    /// The region's aggregate figures (regional series, the region's data quality).
    pub regional_figures: bool,
    /// Rankings of the region's enterprises by consumption.
    pub rankings: bool,
}

/// A region's disclosure in force (registry state): what, by whom, since when.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisclosureRecord {
    /// What is public.
    pub disclosure: Disclosure,
    /// The regulator that set it.
    pub set_by: UnifiedSocialCreditCode,
    /// Block time it was set.
    pub set_at_ms: i64,
}

/// The region codes whose disclosure applies to `region`, nearest first: the county itself, its
/// city, its province, the nation (GB/T 2260; duplicates removed).
pub fn enclosing_regions(region: u32) -> Vec<u32> {
    let mut out = vec![region];
    for r in [region / 100 * 100, region / 10_000 * 10_000, NATIONAL_REGION] {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The region code of a national authority (全国).
pub const NATIONAL_REGION: u32 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_of_n_is_more_than_the_percentage() {
        let majority = GovernanceParams::default();
        let expected = [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)];
        for (n, k) in expected {
            assert_eq!(majority.required(n), k, "majority of {n}");
        }
        let two_thirds = GovernanceParams { approval_percent: 66, ..majority.clone() };
        for (n, k) in [(1, 1), (2, 2), (3, 2), (4, 3), (6, 4), (7, 5)] {
            assert_eq!(two_thirds.required(n), k, "two thirds of {n}");
        }
        assert!(GovernanceParams { approval_percent: 100, ..majority.clone() }.check().is_err());
        assert!(GovernanceParams { proposal_lifetime_ms: 0, ..majority }.check().is_err());
    }

    #[test]
    fn jurisdiction_follows_the_region_code_hierarchy() {
        assert!(jurisdiction_covers(100_000, 430_121));
        assert!(jurisdiction_covers(430_000, 430_121));
        assert!(jurisdiction_covers(430_100, 430_121));
        assert!(jurisdiction_covers(430_121, 430_121));
        assert!(!jurisdiction_covers(430_000, 440_300), "Hunan does not cover Shenzhen");
        assert!(!jurisdiction_covers(430_100, 430_200), "Changsha does not cover Zhuzhou");
        assert!(!jurisdiction_covers(430_121, 430_000), "a county does not cover its province");
    }
}
