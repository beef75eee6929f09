//! The chain's token (通证) and its delegated proof of stake (DPoS): supply policy, transfers,
//! staking, delegation, elections by epoch, jailing and slashing.
//!
//! - **Token.** Balances belong to member organisations and are counted in micro-tokens
//!   ([`Amount`], six decimals). The supply policy ([`TokenParams`]: cap, issuance per epoch,
//!   whether members may transfer) is in genesis and changes only by a regulators' decision
//!   ([`crate::MembershipAction::SetTokenPolicy`], k of n of all active regulators).
//!   Tokens are created only by genesis allocations and by each epoch's issuance (into the reward
//!   pool, never above the cap) and are never destroyed: a slash moves stake to the reward pool.
//!   So at every height `Σ balances + Σ bonded stake + Σ unbonding + reward pool + unclaimed
//!   rewards = supply`, which the state machine checks (`state::economy`).
//! - **Staking.** An organisation of a kind allowed to run validators ([`StakingParams::eligible`])
//!   registers a validator (its consensus key, with a proof of possession, and its p2p address) and
//!   bonds its own stake; any member delegates to a validator; undelegated stake waits
//!   [`StakingParams::unbonding_epochs`] before it can be claimed back. A validator keeps a
//!   commission of its delegators' rewards, which it sets within
//!   [`StakingParams::max_commission_percent`].
//! - **Elections.** Epoch `e` is the heights `[e·L, (e+1)·L − 1]`, `L` =
//!   [`StakingParams::epoch_length`]. The last block of epoch `e` elects the set of epoch `e + 2`
//!   (one epoch of lead time, so an elected node has a whole epoch to connect and catch up): the
//!   top [`StakingParams::validators`] by bonded stake among validators that are not jailed, whose
//!   organisation is active and holds at least [`StakingParams::min_self_stake`] of its own, at
//!   most [`StakingParams::max_org_share_percent`] % of the seats to one organisation. Genesis
//!   fixes the sets of epochs 0 and 1.
//! - **Jailing and slashing.** Proven equivocation (two conflicting signed votes) slashes
//!   [`StakingParams::equivocation_slash_percent`] % of the validator's bonded and unbonding
//!   stake, its delegators' pro rata, and jails it; a jailed validator is not elected, and its
//!   organisation may unjail it after [`StakingParams::jail_epochs`] epochs.

use crate::codec::check_len;
use crate::ids::UnifiedSocialCreditCode;
use crate::keys::{KeyScheme, PublicKey, Signature};
use crate::limits::{MAX_MESSAGE_LEN, MAX_NAME_LEN};
use crate::registry::OrgKind;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// An amount of the chain's token in micro-tokens (10⁻⁶): fixed point, never fractional.
pub type Amount = u64;
/// Decimal places of [`Amount`].
pub const TOKEN_DECIMALS: u32 = 6;
/// One whole token in micro-tokens.
pub const TOKEN: Amount = 1_000_000;
/// Largest supply cap a genesis may set: 10¹² whole tokens (10¹⁸ µ, below `u64::MAX` with room
/// for every sum of balances the state forms).
pub const MAX_SUPPLY: Amount = 1_000_000_000_000 * TOKEN;
/// Most validators one epoch's set may hold (the committee every certificate counts).
pub const MAX_ELECTED: u32 = 100;
/// Most registered validators (candidates) a chain may hold: the election reads each of them at
/// every epoch boundary.
pub const MAX_CANDIDATES: usize = 1_024;
/// Most validators one organisation delegates to at once (its claim reads each of them).
pub const MAX_DELEGATIONS_PER_ORG: usize = 32;
/// Most unbonding entries one organisation holds at once (its claim reads each of them).
pub const MAX_UNBONDING_PER_ORG: usize = 16;
/// Most validators one organisation registers.
pub const MAX_VALIDATORS_PER_ORG: usize = 8;
/// Longest p2p address (`host:port`) of a validator, bytes.
pub const MAX_ADDRESS_LEN: usize = 128;
/// Shortest epoch a genesis may set, in blocks (Commonware's fixed epocher needs ≥ 2; an epoch
/// must also be long enough for the boundary block to be finalized and the next engine started).
pub const MIN_EPOCH_LENGTH: u64 = 10;

/// The token's supply policy. In JSON every field is required.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenParams {
    /// Ticker shown beside amounts, e.g. `"TMC"` (1 to 8 ASCII letters).
    pub symbol: String,
    /// Largest supply ever, micro-tokens: genesis allocations plus all issuance stay at or below it.
    pub cap: Amount,
    /// Micro-tokens issued into the reward pool at the end of every epoch, until the cap.
    pub issuance_per_epoch: Amount,
    /// Whether members may transfer tokens to each other. `false` makes the token reward points
    /// (积分): earned, staked and spent on the chain's own services, never traded.
    pub transferable: bool,
}

impl Default for TokenParams {
    /// 10⁹ tokens at most, 10 000 per epoch, transferable.
    fn default() -> Self {
        Self {
            symbol: "TMC".into(),
            cap: 1_000_000_000 * TOKEN,
            issuance_per_epoch: 10_000 * TOKEN,
            transferable: true,
        }
    }
}

/// How validators are elected, and how they are held to account. In JSON every field is required.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StakingParams {
    /// Blocks per epoch (at the idle rate of ~5 blocks/s, 432 000 is a day). Fixed at genesis:
    /// changing it would move existing blocks into other epochs.
    pub epoch_length: u64,
    /// Seats in each epoch's validator set (N; 3f + 1 tolerates f faulty: 4, 7, 10 …).
    pub validators: u32,
    /// Stake a validator's own organisation must bond for it to be elected, micro-tokens.
    pub min_self_stake: Amount,
    /// Most seats one organisation may hold, in percent of N (at least one seat).
    pub max_org_share_percent: u8,
    /// Epochs undelegated stake waits before its owner can claim it back (longer than the time
    /// evidence of misbehaviour takes to reach the chain: stake still unbonding is slashed too).
    pub unbonding_epochs: u32,
    /// Highest commission a validator may keep of its delegators' rewards, percent.
    pub max_commission_percent: u8,
    /// Epochs a jailed validator stays out before its organisation may unjail it.
    pub jail_epochs: u32,
    /// A validator that signs fewer than `100 − this` percent of an epoch's finalizations is
    /// jailed (without a slash).
    pub max_missed_percent: u8,
    /// Share of a validator's bonded and unbonding stake a proven equivocation slashes, percent.
    pub equivocation_slash_percent: u8,
    /// The organisation kinds that may register validators.
    pub eligible: Vec<OrgKind>,
}

impl Default for StakingParams {
    /// Daily epochs at ~5 blocks/s, 4 seats, 10 000 tokens of self-stake, one seat in three to
    /// an organisation at most, unbonding over 7 epochs, commission up to 20 %, jail for 1 epoch,
    /// jail below 50 % of votes signed, 5 % slash for a double vote; regulators, statistics
    /// bureaus, metrology authorities and industry associations may run validators.
    fn default() -> Self {
        Self {
            epoch_length: 432_000,
            validators: 4,
            min_self_stake: 10_000 * TOKEN,
            max_org_share_percent: 34,
            unbonding_epochs: 7,
            max_commission_percent: 20,
            jail_epochs: 1,
            max_missed_percent: 50,
            equivocation_slash_percent: 5,
            eligible: vec![
                OrgKind::Regulator,
                OrgKind::StatisticsBureau,
                OrgKind::MetrologyAuthority,
                OrgKind::IndustryAssociation,
            ],
        }
    }
}

impl StakingParams {
    /// Seats one organisation may hold: `⌊N × p / 100⌋`, at least one.
    pub fn max_seats_per_org(&self) -> u32 {
        ((self.validators as u64 * self.max_org_share_percent as u64 / 100) as u32).max(1)
    }

    /// The epoch of a height.
    pub fn epoch_of(&self, height: u64) -> u64 {
        height / self.epoch_length
    }

    /// The last height of epoch `epoch` (its boundary block).
    pub fn last_of(&self, epoch: u64) -> u64 {
        epoch.saturating_add(1).saturating_mul(self.epoch_length).saturating_sub(1)
    }

    /// Whether `height` is the last block of its epoch.
    pub fn is_boundary(&self, height: u64) -> bool {
        (height % self.epoch_length) == self.epoch_length - 1
    }
}

/// The chain's economy: its token and its staking rules. In JSON every field is required.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EconomyParams {
    /// The token's supply policy.
    pub token: TokenParams,
    /// Elections, unbonding, commission bounds, jailing and slashing.
    pub staking: StakingParams,
}

impl EconomyParams {
    /// Checks the parameters.
    pub fn check(&self) -> Result<(), String> {
        self.token.check()?;
        let s = &self.staking;
        if s.epoch_length < MIN_EPOCH_LENGTH {
            return Err(format!("staking.epoch_length must be at least {MIN_EPOCH_LENGTH} blocks"));
        }
        if !(1..=MAX_ELECTED).contains(&s.validators) {
            return Err(format!("staking.validators must be between 1 and {MAX_ELECTED}"));
        }
        if !(1..=100).contains(&s.max_org_share_percent) {
            return Err("staking.max_org_share_percent must be between 1 and 100".into());
        }
        if s.max_commission_percent > 100 || s.max_missed_percent > 100 {
            return Err("staking percentages must be at most 100".into());
        }
        // A slash never empties a pool that still has shares (its holders keep a claim on it).
        if s.equivocation_slash_percent > 50 {
            return Err("staking.equivocation_slash_percent must be at most 50".into());
        }
        if s.unbonding_epochs > 1_000 || s.jail_epochs > 1_000 {
            return Err("staking.unbonding_epochs and jail_epochs must be at most 1000".into());
        }
        if s.min_self_stake > self.token.cap {
            return Err("staking.min_self_stake exceeds the token cap".into());
        }
        check_len("staking.eligible", s.eligible.len(), 7)?;
        Ok(())
    }
}

impl TokenParams {
    /// Checks the policy.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=8).contains(&self.symbol.len()) || !self.symbol.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err("token.symbol must be 1 to 8 capital letters".into());
        }
        if self.cap == 0 || self.cap > MAX_SUPPLY {
            return Err(format!("token.cap must be between 1 and {MAX_SUPPLY} micro-tokens"));
        }
        if self.issuance_per_epoch > self.cap {
            return Err("token.issuance_per_epoch exceeds the cap".into());
        }
        Ok(())
    }
}

/// A founding balance.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAllocation {
    /// The organisation.
    pub org: UnifiedSocialCreditCode,
    /// Its balance at genesis, micro-tokens.
    pub amount: Amount,
}

/// A staking operation ([`crate::TxPayload::Staking`]), sent by an account of the organisation it
/// acts for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StakingOp {
    /// Registers a validator of the sender's organisation (a kind in
    /// [`StakingParams::eligible`]). `proof` is the consensus key's signature over
    /// [`validator_proof_payload`], so nobody registers a key they do not hold.
    RegisterValidator {
        /// Consensus and p2p identity (Ed25519).
        consensus_key: PublicKey,
        /// Short name (logs, dashboards).
        name: String,
        /// Where peers dial it, `host:port`.
        p2p_address: String,
        /// Commission on its delegators' rewards, percent.
        commission_percent: u8,
        /// The consensus key's proof of possession.
        proof: Signature,
    },
    /// Changes a validator's address or commission (at most once per epoch for the commission).
    EditValidator {
        /// The validator.
        consensus_key: PublicKey,
        /// New address, if any.
        p2p_address: Option<String>,
        /// New commission, if any.
        commission_percent: Option<u8>,
    },
    /// Bonds `amount` of the sender's organisation's balance to a validator (its own stake when
    /// the validator is the organisation's own).
    Delegate {
        /// The validator.
        validator: PublicKey,
        /// Micro-tokens.
        amount: Amount,
    },
    /// Starts unbonding `amount` of the sender's organisation's stake on a validator; it can be
    /// claimed [`StakingParams::unbonding_epochs`] epochs later.
    Undelegate {
        /// The validator.
        validator: PublicKey,
        /// Micro-tokens.
        amount: Amount,
    },
    /// Moves the sender's organisation's earned rewards (data, verification, validation and
    /// delegation) and its matured unbonding stake to its balance.
    Claim,
    /// Lets a jailed validator of the sender's organisation be elected again (after
    /// [`StakingParams::jail_epochs`]).
    Unjail {
        /// The validator.
        validator: PublicKey,
    },
    /// Proves that a validator equivocated: two conflicting consensus votes it signed for one
    /// round. Anyone may send it (a member's account or a validator's consensus key, so a node
    /// reports what its consensus engine saw); the validator is slashed
    /// [`StakingParams::equivocation_slash_percent`] % and jailed.
    ReportEquivocation {
        /// The two votes.
        evidence: Equivocation,
    },
    /// Records who signed the finalization of an earlier block of the current epoch: the
    /// finalize votes its sender (a member of the epoch's set, in practice the block's proposer,
    /// which puts it first in its block) collected, at least a quorum. Each member whose vote is
    /// in it is credited one signed vote in the epoch's activity; validators' rewards and
    /// downtime are counted from them. Its nonce is the height of the block that carries it
    /// (the sender's nonce does not move), and it is never taken from the mempool.
    RecordVotes {
        /// The votes.
        votes: FinalizeVotes,
    },
}

/// One member's finalize vote, by its index in the epoch's set (the set's key order).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberVote {
    /// The member's index in the epoch's set.
    pub signer: u32,
    /// Its Ed25519 finalize signature.
    pub signature: Signature,
}

/// The finalize votes of one block of the current epoch, as [`StakingOp::RecordVotes`] carries
/// them: the block's height, the proposal the votes sign (the round's view, its parent's view,
/// the block's digest; the epoch is the block's) and the votes, signers in increasing order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalizeVotes {
    /// Height of the finalized block.
    pub height: u64,
    /// The view it was proposed in.
    pub view: u64,
    /// Its parent's view.
    pub parent_view: u64,
    /// Its digest.
    pub payload: crate::Hash32,
    /// The votes, by signer index, strictly increasing.
    pub votes: Vec<MemberVote>,
}

/// A consensus vote's kind (Commonware simplex: notarize, nullify, finalize).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum VoteKind {
    /// A vote for a proposal (its block may be built on).
    Notarize = 0,
    /// A vote to skip the round.
    Nullify = 1,
    /// A vote to finalize a notarized proposal.
    Finalize = 2,
}

/// One signed consensus vote of a round, as Commonware's simplex signs it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedVote {
    /// Notarize, nullify or finalize.
    pub kind: VoteKind,
    /// The proposal's parent view (0 for a nullify).
    pub parent_view: u64,
    /// The proposal's payload, the block digest (zero for a nullify).
    pub payload: crate::Hash32,
    /// The validator's Ed25519 signature.
    pub signature: Signature,
}

/// Two votes one validator signed for one round that an honest validator never signs together:
/// two notarizes or two finalizes of different proposals, or a nullify and a finalize.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Equivocation {
    /// The validator's consensus key.
    pub validator: PublicKey,
    /// The round's epoch.
    pub epoch: u64,
    /// The round's view.
    pub view: u64,
    /// One vote.
    pub first: SignedVote,
    /// The other.
    pub second: SignedVote,
}

impl Equivocation {
    /// Whether the two votes conflict (see the type's documentation); signatures not checked.
    pub fn conflicts(&self) -> bool {
        let (a, b) = (&self.first, &self.second);
        let proposal = |v: &SignedVote| (v.parent_view, v.payload);
        match (a.kind, b.kind) {
            (VoteKind::Notarize, VoteKind::Notarize) | (VoteKind::Finalize, VoteKind::Finalize) => {
                proposal(a) != proposal(b)
            }
            (VoteKind::Nullify, VoteKind::Finalize) | (VoteKind::Finalize, VoteKind::Nullify) => true,
            _ => false,
        }
    }
}

impl StakingOp {
    /// Short machine name.
    pub fn kind(&self) -> &'static str {
        match self {
            StakingOp::RegisterValidator { .. } => "register_validator",
            StakingOp::EditValidator { .. } => "edit_validator",
            StakingOp::Delegate { .. } => "delegate",
            StakingOp::Undelegate { .. } => "undelegate",
            StakingOp::Claim => "claim",
            StakingOp::Unjail { .. } => "unjail",
            StakingOp::ReportEquivocation { .. } => "report_equivocation",
            StakingOp::RecordVotes { .. } => "record_votes",
        }
    }

    /// Checks lengths and formats.
    pub fn check(&self) -> Result<(), String> {
        match self {
            StakingOp::RegisterValidator { consensus_key, name, p2p_address, .. } => {
                check_consensus_key(consensus_key)?;
                check_len("validator name", name.len(), MAX_NAME_LEN)?;
                if name.trim().is_empty() {
                    return Err("validator name is empty".into());
                }
                check_address(p2p_address)
            }
            StakingOp::EditValidator { consensus_key, p2p_address, .. } => {
                check_consensus_key(consensus_key)?;
                p2p_address.as_deref().map_or(Ok(()), check_address)
            }
            StakingOp::Delegate { validator, .. } | StakingOp::Undelegate { validator, .. } => {
                check_consensus_key(validator)
            }
            StakingOp::Unjail { validator } => check_consensus_key(validator),
            StakingOp::Claim => Ok(()),
            StakingOp::ReportEquivocation { evidence } => {
                check_consensus_key(&evidence.validator)?;
                for v in [&evidence.first, &evidence.second] {
                    v.signature.check()?;
                    if v.signature.scheme != KeyScheme::Ed25519 {
                        return Err("consensus votes are Ed25519 signatures".into());
                    }
                }
                if !evidence.conflicts() {
                    return Err("the two votes do not conflict (two notarizes or two finalizes of different proposals, or a nullify and a finalize)".into());
                }
                Ok(())
            }
            StakingOp::RecordVotes { votes } => {
                check_len("finalize votes", votes.votes.len(), MAX_ELECTED as usize)?;
                if votes.votes.is_empty() {
                    return Err("a record of finalize votes holds at least one vote".into());
                }
                if votes.votes.windows(2).any(|w| w[0].signer >= w[1].signer) {
                    return Err("finalize votes are listed by signer index, strictly increasing".into());
                }
                for v in &votes.votes {
                    v.signature.check()?;
                    if v.signature.scheme != KeyScheme::Ed25519 {
                        return Err("consensus votes are Ed25519 signatures".into());
                    }
                }
                Ok(())
            }
        }
    }
}

fn check_consensus_key(key: &PublicKey) -> Result<(), String> {
    key.check()?;
    if key.scheme != KeyScheme::Ed25519 {
        return Err("a validator's consensus key is Ed25519 (Commonware's consensus signs with it)".into());
    }
    Ok(())
}

/// Checks a p2p address: `host:port`, ASCII, bounded.
pub fn check_address(a: &str) -> Result<(), String> {
    check_len("p2p address", a.len(), MAX_ADDRESS_LEN)?;
    let (host, port) = a.rsplit_once(':').ok_or("a p2p address is host:port")?;
    if host.is_empty() || port.parse::<u16>().is_err() || !a.is_ascii() {
        return Err(format!("p2p address {a:?} is not host:port"));
    }
    Ok(())
}

/// What a validator's consensus key signs to prove possession when it is registered:
/// `"trustmeter/validator/v1" ‖ chain id ‖ 0 ‖ organisation ‖ 0 ‖ key bytes`.
pub fn validator_proof_payload(chain_id: &str, org: &UnifiedSocialCreditCode, key: &PublicKey) -> Vec<u8> {
    let mut out = b"trustmeter/validator/v1".to_vec();
    out.extend_from_slice(chain_id.as_bytes());
    out.push(0);
    out.extend_from_slice(org.as_str().as_bytes());
    out.push(0);
    out.extend_from_slice(&key.bytes);
    out
}

/// Checks a transfer's memo.
pub fn check_memo(memo: &str) -> Result<(), String> {
    check_len("transfer memo", memo.len(), MAX_MESSAGE_LEN)
}

/// Formats micro-tokens as a decimal (`12.5` for 12 500 000).
pub fn format_amount(a: Amount) -> String {
    let whole = a / TOKEN;
    let frac = a % TOKEN;
    if frac == 0 {
        return whole.to_string();
    }
    let f = format!("{frac:06}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// Parses a decimal amount of tokens (at most six decimals) into micro-tokens.
pub fn parse_amount(s: &str) -> Result<Amount, String> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{s:?} is not an amount of tokens (e.g. 12.5)"));
    }
    if frac.len() > TOKEN_DECIMALS as usize {
        return Err(format!("{s:?} has more than {TOKEN_DECIMALS} decimals"));
    }
    let w: u64 = whole.parse().map_err(|_| format!("{s:?} is too large"))?;
    let f: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().expect("six digits") };
    w.checked_mul(TOKEN).and_then(|x| x.checked_add(f)).ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_through_text() {
        for (text, micro) in [("0", 0), ("1", TOKEN), ("12.5", 12_500_000), ("0.000001", 1), ("3.14", 3_140_000)] {
            assert_eq!(parse_amount(text).unwrap(), micro, "{text}");
            assert_eq!(format_amount(micro), text);
        }
        for bad in ["", ".5", "1.0000001", "-1", "1e3", "18446744073709551616"] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seats_and_epochs() {
        let mut s = StakingParams { epoch_length: 20, validators: 4, ..StakingParams::default() };
        assert_eq!(s.max_seats_per_org(), 1); // 4 × 34 % = 1.36
        s.validators = 7;
        assert_eq!(s.max_seats_per_org(), 2);
        assert_eq!((s.epoch_of(0), s.epoch_of(19), s.epoch_of(20)), (0, 0, 1));
        assert_eq!((s.last_of(0), s.last_of(1)), (19, 39));
        assert!(s.is_boundary(19) && s.is_boundary(39) && !s.is_boundary(20));
    }
}
