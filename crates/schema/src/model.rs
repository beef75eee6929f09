//! The state's keys and values, its two tree roots, and the proofs of entries and of absence.

use crate::keys::Tree;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use trustmeter_crypto::{HashAlg, smt};
use trustmeter_energy::register::{RegisterPoint, Replacement};
use trustmeter_types::carbon::CarbonEntry;
use trustmeter_types::compliance::{AllocationKind, ReportPeriod, VerificationStatement};
use trustmeter_types::shifts::ShiftCalendar;
use trustmeter_types::tx::{MeasuredHeatingValue, ProductOutput, ReportedConsumption};
use trustmeter_types::{
    Account, DeviceId, DisclosureRecord, EnergyKind, Gateway, Grant, GrantScope, Hash32, METERS_PER_PROGRESS_CHUNK,
    Membership, Meter, Organisation, Proposal, PublicKey, Quantity, Reading, ReadingOrigin, UnifiedSocialCreditCode,
    Unit, encode,
};

/// What the chain remembers of a meter's readings (committed in the activity tree, in its
/// gateway's [`ProgressChunk`]).
///
/// `history` is a hash chain over every accepted reading of the meter
/// (`history' = H("trustmeter/meter-history/v1" ‖ history ‖ seq_le ‖ reading_leaf)`, `H` the
/// chain's hash algorithm). The late-data window's register points are derived entries of their
/// own ([`StateKey::Point`]), read and written one at a time, so a meter costs the same small
/// record whatever its window holds. They also serve duplicate detection: a resubmitted reading is
/// found among them by its own time.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterProgress {
    /// Highest accepted sequence number.
    pub last_seq: u64,
    /// Timestamp of that reading.
    pub last_timestamp_ms: i64,
    /// Number of readings accepted.
    pub accepted: u64,
    /// Hash chain over all accepted readings, oldest first.
    pub history: Hash32,
    /// Meter replacements (换表) inside the late window, in time order.
    pub replacements: Vec<ReplacementRec>,
    /// Number of register points in the meter's late-data window (at most
    /// `MAX_WINDOW_POINTS` of the state machine's accounting).
    pub window_points: u32,
    /// Timestamp of the oldest point in the window (0 when it is empty).
    pub window_oldest_ms: i64,
}

impl MeterProgress {
    /// A meter with nothing recorded yet.
    pub fn new() -> Self {
        Self::default()
    }
}

impl MeterProgress {
    /// Extends the history chain with one accepted reading.
    pub fn chain(alg: HashAlg, history: &Hash32, seq: u64, leaf: &Hash32) -> Hash32 {
        let mut data = Vec::with_capacity(72);
        data.extend_from_slice(&history.0);
        data.extend_from_slice(&seq.to_le_bytes());
        data.extend_from_slice(&leaf.0);
        trustmeter_crypto::tagged_hash(alg, b"trustmeter/meter-history/v1", &data)
    }
}

/// The progress of up to [`METERS_PER_PROGRESS_CHUNK`] meters of one gateway, in slot order
/// ([`Meter::slot`]): one activity-tree entry, so that a gateway's batch of readings updates a few
/// tree leaves instead of one per meter (a leaf update costs ~log₁₆(n) node hashes and writes).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressChunk {
    /// One per slot assigned so far, slot `chunk × METERS_PER_PROGRESS_CHUNK + i` at index `i`.
    pub meters: Vec<MeterSlot>,
}

/// A meter's place in its gateway's [`ProgressChunk`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeterSlot {
    /// The meter holding the slot.
    pub meter: DeviceId,
    /// Its progress; `None` until it records or is replaced for the first time.
    #[serde(deserialize_with = "trustmeter_types::codec::required_option")]
    pub progress: Option<MeterProgress>,
}

impl ProgressChunk {
    /// The progress of `meter`, if its slot is in this chunk and it has any.
    pub fn progress_of(&self, meter: &Meter) -> Option<&MeterProgress> {
        let s = self.meters.get((meter.slot % METERS_PER_PROGRESS_CHUNK) as usize)?;
        (s.meter == meter.id).then_some(s.progress.as_ref()).flatten()
    }
}

/// A key in the state.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum StateKey {
    /// An organisation.
    Organisation(UnifiedSocialCreditCode),
    /// An account key, mapped to its organisation.
    Account(PublicKey),
    /// The last accepted nonce of a sender key.
    Nonce(PublicKey),
    /// A gateway.
    Gateway(DeviceId),
    /// A meter.
    Meter(DeviceId),
    /// The reading progress of a gateway's meters, [`METERS_PER_PROGRESS_CHUNK`] to a chunk:
    /// (gateway, chunk number). A meter's is in chunk `slot / METERS_PER_PROGRESS_CHUNK` of its
    /// gateway ([`Meter::slot`]).
    Progress(DeviceId, u32),
    /// A version of the audit policy.
    Policy(u32),
    /// An enterprise's daily figure for one energy kind.
    Daily(DailyKey),
    /// An enterprise's monthly report (`YYYYMM`).
    MonthlyReport(UnifiedSocialCreditCode, u32),
    /// Derived: a register point of a meter's late-data window: (meter, timestamp, arrival
    /// ordinal — the meter's accepted count when it was recorded).
    Point(DeviceId, i64, u64),
    /// Derived: a public key that is, or was, a device's (never reusable).
    KeyUse(PublicKey),
    /// An organisation's standing (active, suspended, removed) and its count of active keys.
    Membership(UnifiedSocialCreditCode),
    /// A membership proposal, by the hash of the transaction that made it.
    Proposal(Hash32),
    /// The active regulators, in id order: the set every k-of-n decision counts.
    Regulators,
    /// A grant in force: (owner, grantee, scope).
    Grant(UnifiedSocialCreditCode, UnifiedSocialCreditCode, GrantScope),
    /// What the public may read of a region's enterprises.
    Disclosure(u32),
    /// An organisation's figures published to everyone (until a time).
    Published(UnifiedSocialCreditCode),
    /// The same grant as `Grant(owner, grantee, scope)`, under its grantee: (grantee, owner,
    /// scope), so that a member lists (and can prove) what was granted to it. Written and deleted
    /// with the grant, in the same tree.
    GrantReceived(UnifiedSocialCreditCode, UnifiedSocialCreditCode, GrantScope),
    /// A version of a carbon methodology: (methodology id, version). Every version is kept.
    Methodology(String, u32),
    /// An enterprise's monitoring plan (监测计划) from a month on: (enterprise, first month).
    CarbonPlan(UnifiedSocialCreditCode, u32),
    /// A documented carbon entry: (enterprise, month `YYYYMM`, entry number).
    CarbonEntry(UnifiedSocialCreditCode, u32, u32),
    /// A claim on green certificates: (batch, first serial). Claims of a batch never overlap.
    CertificateClaim(String, u64),
    /// An enterprise's carbon results for a month (`YYYYMM`), recomputed by every validator at
    /// the end of each block that changed the month's inputs.
    CarbonResult(UnifiedSocialCreditCode, u32),
    /// An enterprise's filed carbon report: (enterprise, period code: `YYYYMM` for a monthly
    /// deposit, `YYYY` for an annual report; see `ReportPeriod::code`).
    CarbonReport(UnifiedSocialCreditCode, u32),
    /// The verification (核查) of an enterprise's annual report: (enterprise, year).
    Verification(UnifiedSocialCreditCode, u32),
    /// An enterprise's quota account of a compliance year: (enterprise, year).
    Quota(UnifiedSocialCreditCode, u32),
    /// A verification statement whose objection window ends at a time: (deadline, enterprise,
    /// year). Read in deadline order at the end of every block: a statement nobody objected to
    /// becomes final when its window has passed. Deleted when the verification ends.
    VerificationDue(i64, UnifiedSocialCreditCode, u32),
    /// An enterprise's carbon results for a year (`YYYY`): the sums of its month results,
    /// recomputed whenever one of them is.
    CarbonYear(UnifiedSocialCreditCode, u32),
    /// A registered validator (candidate), by consensus key.
    Validator(PublicKey),
    /// The validator set of an epoch, elected at the end of epoch − 2 (genesis: epochs 0 and 1).
    ValidatorSet(u64),
    /// An organisation's token account.
    Token(UnifiedSocialCreditCode),
    /// The chain's token totals (supply, reward pool, bonded, unbonding, unclaimed).
    Economy,
    /// An organisation's stake on a validator: (organisation, validator).
    Delegation(UnifiedSocialCreditCode, PublicKey),
    /// Stake an organisation is unbonding from a validator, claimable from an epoch:
    /// (organisation, validator, release epoch).
    Unbonding(UnifiedSocialCreditCode, PublicKey, u64),
    /// What an epoch's validators did: blocks proposed and leader turns missed, per member.
    EpochActivity(u64),
    /// A version of the reward schedule.
    RewardSchedule(u32),
    /// The points an organisation earned in an epoch, until it claims them: (organisation, epoch).
    Points(UnifiedSocialCreditCode, u64),
    /// An epoch's reward pools and the points they are shared by.
    EpochRewards(u64),
    /// A version of an enterprise's shift calendar (排班表): (enterprise, first day `YYYYMMDD`).
    /// Every version is kept (registry tree).
    ShiftCalendar(UnifiedSocialCreditCode, u32),
    /// The production output of one shift instance (班次产量): (enterprise, production day
    /// `YYYYMMDD`, shift name).
    ShiftOutput(UnifiedSocialCreditCode, u32, String),
    /// Derived at the end of each block: the sums of an enterprise's daily figures of one month
    /// (`YYYYMM`), per energy kind, so that a year's figures read twelve entries, not 365.
    MonthTotals(UnifiedSocialCreditCode, u32),
    /// The token policy the regulators set after genesis (none until they do: the genesis's is
    /// in force). Every version is kept (registry tree).
    TokenPolicy,
}

/// A value in the state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum StateValue {
    /// An organisation record.
    Organisation(Organisation),
    /// An account key's organisation, and its revocation if revoked.
    Account(Account),
    /// A nonce.
    Nonce(u64),
    /// A gateway record.
    Gateway(Gateway),
    /// A meter record.
    Meter(Meter),
    /// A chunk of meters' progress.
    Progress(ProgressChunk),
    /// A deployed audit policy.
    Policy(PolicyRecord),
    /// A daily figure.
    Daily(DailyTotal),
    /// A monthly report.
    MonthlyReport(MonthlyReportRecord),
    /// A window point.
    Point(PointRec),
    /// The device that uses, or used, a key.
    KeyUse(DeviceId),
    /// An organisation's standing.
    Membership(Membership),
    /// A membership proposal.
    Proposal(Proposal),
    /// The active regulators.
    Regulators(Vec<UnifiedSocialCreditCode>),
    /// A grant in force.
    Grant(Grant),
    /// A region's disclosure.
    Disclosure(DisclosureRecord),
    /// A publication (its `expires_at_ms` ends it).
    Published(Grant),
    /// A deployed carbon methodology.
    Methodology(MethodologyRecord),
    /// A monitoring plan.
    CarbonPlan(CarbonPlanRecord),
    /// A documented carbon entry, as last recorded.
    CarbonEntry(CarbonEntryRecord),
    /// A claim on a range of green certificates.
    CertificateClaim(CertificateClaimRecord),
    /// A month's carbon results.
    CarbonResult(CarbonResultRecord),
    /// A filed carbon report.
    CarbonReport(CarbonReportRecord),
    /// A verification's course.
    Verification(VerificationRecord),
    /// A quota account.
    Quota(QuotaRecord),
    /// A pending objection window (no content: the key says it all).
    VerificationDue,
    /// A year's carbon results.
    CarbonYear(CarbonYearRecord),
    /// A registered validator.
    Validator(ValidatorRecord),
    /// An epoch's validator set.
    ValidatorSet(ValidatorSet),
    /// A token account.
    Token(TokenAccount),
    /// The token totals.
    Economy(EconomyRecord),
    /// A stake on a validator.
    Delegation(DelegationRecord),
    /// An unbonding entry.
    Unbonding(UnbondingRecord),
    /// An epoch's validator activity.
    EpochActivity(EpochActivity),
    /// A deployed reward schedule.
    RewardSchedule(RewardScheduleRecord),
    /// An organisation's points of an epoch.
    Points(PointsRecord),
    /// An epoch's reward pools.
    EpochRewards(EpochRewardsRecord),
    /// A shift calendar version.
    ShiftCalendar(ShiftCalendarRecord),
    /// A shift instance's output.
    ShiftOutput(ShiftOutputRecord),
    /// A month's sums of daily figures.
    MonthTotals(MonthTotalsRecord),
    /// The token policy in force since a regulators' decision.
    TokenPolicy(TokenPolicyRecord),
}

/// The token policy set by the regulators after genesis ([`StateKey::TokenPolicy`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenPolicyRecord {
    /// The policy (its symbol is the genesis's, always).
    pub token: trustmeter_types::economy::TokenParams,
    /// The proposal that set it (the hash of the proposing transaction).
    pub proposal: trustmeter_types::Hash32,
    /// Why, as the proposal said.
    pub reason: String,
    /// Height of the block that executed it.
    pub height: u64,
    /// That block's time (Unix ms).
    pub time_ms: i64,
}

/// The sums of an enterprise's daily figures of one month (月能耗合计), per energy kind and
/// unit, recomputed from them at the end of every block that changed one: always equal to the
/// sum of the month's [`DailyTotal`]s (a state test checks it against them).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MonthTotalsRecord {
    /// One per (energy kind, unit) with a daily figure in the month, in that order.
    pub kinds: Vec<MonthKindTotal>,
}

/// One energy kind's sums in a [`MonthTotalsRecord`] (micro-units; i128 never overflows a
/// month of i64 figures).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MonthKindTotal {
    /// Energy kind.
    pub energy: EnergyKind,
    /// Unit of the amounts.
    pub unit: Unit,
    /// Daily figures summed.
    pub figures: u32,
    /// Sum of their consumption.
    pub consumption: i128,
    /// Sum of the estimated parts.
    pub estimated: i128,
    /// Sum of the manual parts.
    pub manual: i128,
    /// Sum of standard coal, equivalent value, over the days whose standard coal is known.
    pub kgce_equivalent: i128,
    /// Sum of standard coal, equal value, over the same days.
    pub kgce_equal_value: i128,
    /// Why standard coal is missing on some day, the first such day's reason.
    pub kgce_missing: Option<String>,
}

/// A version of an enterprise's shift calendar (排班表) as set.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftCalendarRecord {
    /// The calendar (its `effective_from` is the key's day).
    pub calendar: ShiftCalendar,
    /// The account key that set it.
    pub recorded_by: PublicKey,
    /// Height of the block that set it.
    pub height: u64,
    /// That block's time (Unix ms).
    pub time_ms: i64,
}

/// One product's output in a [`ShiftOutputRecord`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftProductRecord {
    /// Product name (as in the monthly report).
    pub product: String,
    /// Unit of output.
    pub unit: String,
    /// Amount, micro-units.
    pub quantity: Quantity,
    /// 1 when first recorded, +1 for each correction.
    pub revision: u32,
    /// Height of the block that recorded this revision.
    pub height: u64,
}

/// The production output of one shift instance (班次产量): what the enterprise recorded for a
/// (day, shift), merged product by product, with the team that worked it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftOutputRecord {
    /// The team (班组), as stated or from the calendar's rotation; `None` when neither names one.
    #[serde(deserialize_with = "trustmeter_types::codec::required_option")]
    pub team: Option<String>,
    /// Whether `team` came from the rotation (not stated in the record).
    pub team_from_rotation: bool,
    /// Output per product, in the order first recorded (at most 16).
    pub products: Vec<ShiftProductRecord>,
    /// The latest record's note.
    pub note: String,
    /// The account key of the latest record.
    pub recorded_by: PublicKey,
    /// Height of the latest record's block.
    pub height: u64,
    /// That block's time (Unix ms).
    pub time_ms: i64,
}

/// A deployed reward schedule (`trustmeter_policy::reward`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardScheduleRecord {
    /// Its name.
    pub name: String,
    /// Its version (1 is installed at genesis).
    pub version: u32,
    /// The document.
    pub text: String,
    /// First epoch it applies to.
    pub effective_epoch: u64,
    /// Height of the block that deployed it (0: genesis).
    pub deployed_height: u64,
    /// The regulator that deployed it (`None`: genesis).
    #[serde(deserialize_with = "trustmeter_types::codec::required_option")]
    pub deployed_by: Option<UnifiedSocialCreditCode>,
}

/// What an organisation earned points for in an epoch (its data and its verifications), kept
/// until it claims the rewards they are worth once the epoch has ended.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointsRecord {
    /// Points for data (the schedule's `data` formula, summed over its reading batches).
    pub data_points: u64,
    /// Reading batches counted.
    pub batches: u64,
    /// Readings recorded.
    pub accepted: u64,
    /// Of which timely.
    pub timely: u64,
    /// Of which flagged.
    pub flagged: u64,
    /// Readings refused.
    pub rejected: u64,
    /// Points for completed verifications.
    pub verification_points: u64,
    /// Verifications completed.
    pub verifications: u64,
}

/// An epoch's reward pools: what its end set aside for data and for verifications, shared by
/// points, and how much of it was claimed; and the validators' share. Rounding remainders stay
/// unclaimed for good (counted in the totals).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochRewardsRecord {
    /// The reward schedule version in force.
    pub schedule_version: u32,
    /// Σ data points of the epoch (grows during it).
    pub data_points: u64,
    /// Σ verification points of the epoch.
    pub verification_points: u64,
    /// Set aside for data at the epoch's end, micro-tokens.
    pub data_pool: u64,
    /// Set aside for verifications.
    pub verification_pool: u64,
    /// Claimed from `data_pool` so far.
    pub data_paid: u64,
    /// Claimed from `verification_pool` so far.
    pub verification_paid: u64,
    /// Paid to the epoch's validators at its end.
    pub validators_paid: u64,
    /// Whether the epoch has ended (its pools are set).
    pub closed: bool,
}

impl EpochRewardsRecord {
    /// What `points` (data, verification) of this epoch are worth, micro-tokens.
    pub fn worth(&self, data: u64, verification: u64) -> u64 {
        let share = |pts: u64, total: u64, pool: u64| {
            (pts as u128 * pool as u128).checked_div(total as u128).unwrap_or(0) as u64
        };
        share(data, self.data_points, self.data_pool)
            + share(verification, self.verification_points, self.verification_pool)
    }
}

/// What the members of an epoch's validator set did, counted by every block of the epoch: the
/// leader of each view is known (Commonware's round robin: member `(epoch + view) mod n` of the
/// set sorted by key), so a block credits its view's leader with a proposal, and the views
/// skipped since the previous block (nullified: no block) charge their leaders with a missed
/// turn. Proposers record the finalize votes of the epoch's earlier blocks (`RecordVotes`), which
/// credits each signer. Rewards and jailing for downtime are computed from it at the epoch's end.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochActivity {
    /// View of the epoch's last block so far.
    pub last_view: u64,
    /// Blocks finalized in the epoch so far.
    pub blocks: u64,
    /// Blocks proposed, per member (the set's order).
    pub proposed: Vec<u64>,
    /// Leader turns missed (views skipped), per member.
    pub missed: Vec<u64>,
    /// Blocks of the epoch whose finalize votes were recorded (`RecordVotes`).
    pub finalized: u64,
    /// Finalize votes recorded, per member: of the `finalized` blocks, how many carry its vote.
    pub signed: Vec<u64>,
    /// Highest height whose votes were recorded (0: none yet); a record names a later one.
    pub recorded_height: u64,
    /// (height, digest) of the epoch's latest blocks before the current one, oldest first, at
    /// most [`RECENT_BLOCKS`]: the blocks a vote record may name.
    pub recent: Vec<(u64, trustmeter_types::Hash32)>,
}

/// Blocks of an epoch a vote record may name, counting back from the block that carries it (its
/// parent and the [`RECENT_BLOCKS`] before).
pub const RECENT_BLOCKS: usize = 16;

/// Shares minted per micro-token when a validator's pool is empty: fine enough that pro-rata
/// slashes and rewards lose at most one micro-token per holder to rounding.
pub const SHARES_PER_MICRO: u128 = 1_000_000;
/// Scale of [`ValidatorRecord::reward_per_share`] (10¹⁸).
pub const REWARD_INDEX_SCALE: u128 = 1_000_000_000_000_000_000;

/// A registered validator (验证节点候选): who runs it, where peers reach it, its stake and standing.
///
/// Stake is held in two pools, each as tokens and shares, so that a slash or a reward touches
/// one record whatever the number of delegators: a delegator's bonded stake is
/// `shares × bonded / shares_total`; an unbonding entry's is `shares × unbonding /
/// unbonding_shares`. Delegators' rewards accumulate in `reward_per_share` (×10¹⁸); a delegation
/// earns `shares × (reward_per_share − its index) / 10¹⁸`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorRecord {
    /// The organisation that runs it.
    pub org: UnifiedSocialCreditCode,
    /// Short name.
    pub name: String,
    /// Where peers dial it, `host:port`.
    pub p2p_address: String,
    /// Commission on its delegators' rewards, percent.
    pub commission_percent: u8,
    /// Epoch of the last commission change.
    pub commission_epoch: u64,
    /// Bonded micro-tokens (its own and its delegators').
    pub bonded: u64,
    /// Shares of the bonded pool outstanding.
    pub shares: u128,
    /// Micro-tokens unbonding from it (still slashable).
    pub unbonding: u64,
    /// Shares of the unbonding pool outstanding.
    pub unbonding_shares: u128,
    /// Rewards per bonded share paid to its delegators so far, ×10¹⁸.
    pub reward_per_share: u128,
    /// Micro-tokens of delegators' rewards credited to it and not yet claimed (rounding dust
    /// stays here).
    pub rewards_outstanding: u64,
    /// `Some(epoch)`: jailed, not elected, may be unjailed from that epoch on.
    #[serde(deserialize_with = "trustmeter_types::codec::required_option")]
    pub jailed_until: Option<u64>,
    /// Why it was last jailed (empty if never).
    pub jail_reason: String,
    /// Micro-tokens slashed from it in all.
    pub slashed: u64,
    /// The round (epoch, view) of the last equivocation it was slashed for: evidence of that round
    /// or an earlier one is not slashed again.
    #[serde(deserialize_with = "trustmeter_types::codec::required_option")]
    pub last_equivocation: Option<(u64, u64)>,
    /// Height of its registration.
    pub registered_height: u64,
}

impl ValidatorRecord {
    /// A validator registered at `height` in `epoch`, with nothing bonded yet.
    pub fn new(
        org: UnifiedSocialCreditCode,
        name: String,
        p2p_address: String,
        commission_percent: u8,
        (epoch, height): (u64, u64),
    ) -> Self {
        ValidatorRecord {
            org,
            name,
            p2p_address,
            commission_percent,
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
            last_equivocation: None,
            registered_height: height,
        }
    }

    /// Bonded micro-tokens of `shares`.
    pub fn tokens_of(&self, shares: u128) -> u64 {
        shares.saturating_mul(self.bonded as u128).checked_div(self.shares).unwrap_or(0) as u64
    }
    /// Unbonding micro-tokens of `shares` of the unbonding pool.
    pub fn unbonding_tokens_of(&self, shares: u128) -> u64 {
        shares.saturating_mul(self.unbonding as u128).checked_div(self.unbonding_shares).unwrap_or(0) as u64
    }
}

/// One member of an epoch's validator set.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetMember {
    /// Consensus key (Ed25519).
    pub consensus_key: PublicKey,
    /// The organisation that runs it.
    pub org: UnifiedSocialCreditCode,
    /// Short name.
    pub name: String,
    /// Where peers dial it.
    pub p2p_address: String,
    /// Its bonded stake when elected, micro-tokens.
    pub stake: u64,
}

/// An epoch's validator set: the committee whose certificates finalize the epoch's blocks.
/// Members are sorted by consensus key bytes (Commonware's signer indices refer to that order).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSet {
    /// The epoch.
    pub epoch: u64,
    /// The members, by key.
    pub members: Vec<SetMember>,
    /// Height of the block that elected it (0: genesis).
    pub elected_height: u64,
}

/// An organisation's token account.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenAccount {
    /// Spendable micro-tokens.
    pub balance: u64,
    /// Rewards earned (data, verification, validation, commission) and not yet claimed.
    pub earned: u64,
    /// Micro-tokens earned in all, claimed or not.
    pub earned_total: u64,
}

/// The chain's token totals, kept by every operation that moves tokens, and checked at the end of
/// every block: `balances + bonded + unbonding + pool + unclaimed = supply ≤ cap`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EconomyRecord {
    /// Tokens in existence: genesis plus issuance.
    pub supply: u64,
    /// Σ account balances.
    pub balances: u64,
    /// Σ validators' bonded stake.
    pub bonded: u64,
    /// Σ validators' unbonding stake.
    pub unbonding: u64,
    /// The reward pool: issuance and slashes not yet distributed.
    pub pool: u64,
    /// Rewards credited (to accounts' `earned` and validators' `rewards_outstanding`) not yet
    /// claimed.
    pub unclaimed: u64,
    /// Σ issued since genesis.
    pub issued: u64,
    /// Σ slashed since genesis.
    pub slashed: u64,
    /// The last epoch whose end was processed (issuance, rewards, election); `None` before the
    /// first boundary.
    #[serde(deserialize_with = "trustmeter_types::codec::required_option")]
    pub closed_epoch: Option<u64>,
}

impl EconomyRecord {
    /// Whether the totals add up: `balances + bonded + unbonding + pool + unclaimed = supply`.
    pub fn conserved(&self) -> bool {
        [self.balances, self.bonded, self.unbonding, self.pool, self.unclaimed]
            .iter()
            .try_fold(0u64, |t, x| t.checked_add(*x))
            == Some(self.supply)
    }
}

/// An organisation's stake on a validator.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationRecord {
    /// Shares of the validator's bonded pool.
    pub shares: u128,
    /// The validator's `reward_per_share` when this delegation's rewards were last settled.
    pub reward_index: u128,
}

/// Stake on its way out of a validator.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnbondingRecord {
    /// Shares of the validator's unbonding pool.
    pub shares: u128,
    /// Micro-tokens it was worth when it started (before any slash).
    pub initial: u64,
}

/// An enterprise's carbon results for one year (碳排放年度核算结果), in consensus: the sums of its
/// twelve month records (`CarbonResult`), written at the end of every block that wrote one of them,
/// so a year's total is one provable entry rather than twelve.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonYearRecord {
    /// Σ GB/T 32150 totals, µt CO2e.
    pub standard_ut: i64,
    /// Σ biomass CO2, µt.
    pub biogenic_ut: i64,
    /// Σ Scope 1, µt CO2e.
    pub scope1_ut: i64,
    /// Σ Scope 2 location-based, µt CO2e.
    pub scope2_location_ut: i64,
    /// Σ Scope 2 market-based, µt CO2e.
    pub scope2_market_ut: i64,
    /// Σ production output, micro-units, of the months that have one.
    pub output_micro: i64,
    /// Months with results (a bit per month, January = bit 0).
    pub months: u16,
    /// Months whose evaluation failed (a bit per month).
    pub failed: u16,
    /// The methodology versions of the months, distinct, in order.
    pub methodologies: Vec<(String, u32)>,
    /// Height of the block that computed it.
    pub height: u64,
}

/// A filed carbon report (月度信息化存证 or 年度排放报告): the hash of the document every validator
/// generated from its state when the filing executed, and what it said.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonReportRecord {
    /// The period.
    pub period: ReportPeriod,
    /// Hash of the report document (the chain's hash over its JSON bytes).
    pub hash: Hash32,
    /// 1 for the first filing, then +1 for each filing again.
    pub revision: u32,
    /// The enterprise account that signed the filing.
    pub signed_by: PublicKey,
    /// Height of the block that recorded it.
    pub height: u64,
    /// That block's time, ms.
    pub time_ms: i64,
    /// Whether it was filed by its deadline (a monthly deposit within 40 days of the month's
    /// end, an annual report by 31 March of the next year).
    pub on_time: bool,
    /// The report's totals, µt CO2e: GB/T 32150 view.
    pub standard_ut: i64,
    /// Scope 1.
    pub scope1_ut: i64,
    /// Scope 2 location-based.
    pub scope2_location_ut: i64,
    /// Scope 2 market-based.
    pub scope2_market_ut: i64,
    /// Biomass CO2, apart.
    pub biogenic_ut: i64,
    /// For each month covered: the height of the month's results the report used (a month
    /// recomputed later makes the report stale).
    pub result_heights: Vec<(u32, u64)>,
}

/// Where a verification stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// A verifier is assigned; no statement yet.
    Assigned,
    /// The verifier's statement is recorded; the objection window is open.
    Stated,
    /// The enterprise objected; a regulator decides.
    Objected,
    /// The verified emissions are final.
    Final,
}

/// How a verified figure became final.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalBy {
    /// The enterprise accepted the statement.
    Accepted,
    /// The objection window passed with no objection.
    WindowClosed,
    /// A regulator decided an objection.
    Decided,
}

/// A verifier's recorded statement.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementRecord {
    /// The statement.
    pub statement: VerificationStatement,
    /// The verifier's account that signed it.
    pub signed_by: PublicKey,
    /// Height recorded.
    pub height: u64,
    /// Block time, ms.
    pub time_ms: i64,
    /// The reported total it started from (the report's GB/T 32150 view), µt.
    pub reported_ut: i64,
    /// End of the enterprise's objection window, ms (the end of the seventh working day after).
    pub objection_deadline_ms: i64,
}

/// A step by the enterprise or a regulator after the statement: an objection or a decision.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationAct {
    /// The organisation that acted.
    pub by: UnifiedSocialCreditCode,
    /// Its account that signed.
    pub signed_by: PublicKey,
    /// Why.
    pub reason: String,
    /// Height.
    pub height: u64,
    /// Block time, ms.
    pub time_ms: i64,
}

/// The verification (核查) of an enterprise's annual report, in state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationRecord {
    /// Where it stands.
    pub status: VerificationStatus,
    /// The assigned verifier.
    pub verifier: UnifiedSocialCreditCode,
    /// The regulator that assigned it.
    pub assigned_by: UnifiedSocialCreditCode,
    /// Height of the assignment.
    pub assigned_height: u64,
    /// The statement, once recorded.
    pub statement: Option<StatementRecord>,
    /// The enterprise's objection, if any.
    pub objection: Option<VerificationAct>,
    /// A regulator's decision on it, with the figure it set (µt).
    pub decision: Option<(VerificationAct, i64)>,
    /// The final verified emissions, µt CO2e (GB/T 32150 view), once final.
    pub final_ut: Option<i64>,
    /// How and at which height they became final.
    pub finalised: Option<(FinalBy, u64)>,
}

/// One allocation on a quota account.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// Pre, final or adjustment.
    pub kind: AllocationKind,
    /// µt CO2e (an adjustment may be negative).
    pub amount_ut: i64,
    /// How it was computed.
    pub basis: String,
    /// The regulator.
    pub by: UnifiedSocialCreditCode,
    /// Height.
    pub height: u64,
}

/// An enterprise's quota account of one compliance year (配额账户), µt CO2e throughout.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaRecord {
    /// Government allocations, in order (pre-allocations, final allocations, adjustments).
    pub allocations: Vec<Allocation>,
    /// The enterprise's own reference figure and its basis, if entered.
    pub reference: Option<(i64, String)>,
    /// Banked in from the previous year.
    pub banked_in_ut: i64,
    /// Allowances surrendered.
    pub surrendered_ut: i64,
    /// Offsets (CCER) surrendered.
    pub offsets_ut: i64,
    /// Banked out to the next year.
    pub banked_out_ut: i64,
}

impl QuotaRecord {
    /// The government's allocation of the year: the last final allocation, else the last
    /// pre-allocation, plus every adjustment; `None` before any allocation.
    pub fn allocated_ut(&self) -> Option<i64> {
        let last = |k: AllocationKind| self.allocations.iter().rev().find(|a| a.kind == k).map(|a| a.amount_ut);
        let base = last(AllocationKind::Final).or_else(|| last(AllocationKind::Pre));
        let adjustments: i64 = self
            .allocations
            .iter()
            .filter(|a| a.kind == AllocationKind::Adjustment)
            .fold(0i64, |s, a| s.saturating_add(a.amount_ut));
        match (base, self.allocations.iter().any(|a| a.kind == AllocationKind::Adjustment)) {
            (None, false) => None,
            (b, _) => Some(b.unwrap_or(0).saturating_add(adjustments)),
        }
    }

    /// The quota the position is measured against: the government's allocation, else the
    /// enterprise's reference; with whether it is the reference.
    pub fn quota_ut(&self) -> Option<(i64, bool)> {
        match self.allocated_ut() {
            Some(a) => Some((a, false)),
            None => self.reference.as_ref().map(|(r, _)| (*r, true)),
        }
    }

    /// Allowances held and not yet surrendered or banked out: allocation + banked in −
    /// surrendered − banked out.
    pub fn available_ut(&self) -> i64 {
        self.allocated_ut()
            .unwrap_or(0)
            .saturating_add(self.banked_in_ut)
            .saturating_sub(self.surrendered_ut)
            .saturating_sub(self.banked_out_ut)
    }
}

/// A deployed version of a carbon methodology (核算方法学), see `trustmeter-carbon`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodologyRecord {
    /// Methodology id from the document (`GB/T 32151.29-2024`).
    pub id: String,
    /// Version from the document.
    pub version: u32,
    /// Title from the document.
    pub title: String,
    /// The document, verbatim.
    pub text: String,
    /// First day it applies to (Asia/Shanghai day number).
    pub effective_from: i32,
    /// Last day it applies to, if it ends.
    #[serde(deserialize_with = "trustmeter_types::codec::required_option")]
    pub effective_to: Option<i32>,
    /// Height of the block that deployed it (0 = shipped with genesis).
    pub deployed_height: u64,
    /// The organisation that deployed it (none for those shipped with genesis).
    #[serde(deserialize_with = "trustmeter_types::codec::required_option")]
    pub deployed_by: Option<UnifiedSocialCreditCode>,
}

/// An enterprise's monitoring plan from a month on (监测计划): the methodology its carbon
/// accounts use until a later plan takes over.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonPlanRecord {
    /// The methodology id.
    pub methodology: String,
    /// Height of the block that set it.
    pub height: u64,
}

/// A documented carbon entry as recorded (see `trustmeter_types::carbon`). A correction
/// replaces it and bumps `revision`; the registry tree keeps every version, so what a report
/// or a verifier saw stays provable.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonEntryRecord {
    /// The entry (its `data` is `None` once withdrawn).
    pub entry: CarbonEntry,
    /// 1 for the first recording, +1 for each correction or withdrawal.
    pub revision: u32,
    /// The account key that recorded this revision.
    pub recorded_by: PublicKey,
    /// Height of the block that recorded it.
    pub height: u64,
    /// That block's time (Unix ms).
    pub time_ms: i64,
}

/// A claim on green certificates `first .. first + count` of a batch, by one entry.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateClaimRecord {
    /// Number of certificates.
    pub count: u32,
    /// The claiming enterprise.
    pub org: UnifiedSocialCreditCode,
    /// The month they are claimed for.
    pub month: u32,
    /// The claiming entry's number.
    pub number: u32,
}

impl CertificateClaimRecord {
    /// The last serial claimed (`first + count - 1`; `count` ≥ 1 and the sum was checked when
    /// the entry was recorded).
    pub fn last(&self, first: u64) -> u64 {
        first.saturating_add(u64::from(self.count).saturating_sub(1))
    }
}

/// One line of a month's carbon results: a source, an item it applies to (a fuel, a gas, or none)
/// and the gas emitted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonResultLine {
    /// Source id in the methodology.
    pub source: String,
    /// Item (fuel id, `gas/kind`, `welding/n`) or empty.
    pub item: String,
    /// Gas.
    pub gas: String,
    /// GHG Protocol scope (1 or 2).
    pub scope: u8,
    /// The views it counts in: bit 0 the standard's, bit 1 location-based, bit 2 market-based.
    pub views: u8,
    /// Biomass CO2 (in no total).
    pub biogenic: bool,
    /// Mass of the gas, micro-tonnes.
    pub mass_ut: i64,
    /// CO2 equivalent, micro-tonnes.
    pub co2e_ut: i64,
}

/// An enterprise's carbon results for one month (碳排放月度核算结果), in consensus: metered energy
/// (the month's daily figures) plus its documented entries, evaluated with the methodology of its
/// monitoring plan in the version in force on the month's first day. Recomputed at the end of
/// every block that changed a daily figure or an entry of the month, so late data and corrected
/// entries are always reflected.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarbonResultRecord {
    /// Methodology id.
    pub methodology: String,
    /// Its version.
    pub version: u32,
    /// Lines in canonical order (sources in document order, items sorted).
    pub lines: Vec<CarbonResultLine>,
    /// The standard's total (GB/T 32150: exports netted, biomass apart), µt CO2e.
    pub standard_ut: i64,
    /// Biomass CO2, µt.
    pub biogenic_ut: i64,
    /// Scope 1, µt CO2e.
    pub scope1_ut: i64,
    /// Scope 2 location-based, µt CO2e.
    pub scope2_location_ut: i64,
    /// Scope 2 market-based, µt CO2e.
    pub scope2_market_ut: i64,
    /// Production output of the month in micro-units, if one product was entered.
    pub output_micro: Option<i64>,
    /// Documented entries used (not withdrawn).
    pub entries: u32,
    /// Why the month could not be evaluated (then every amount is 0), if it could not.
    pub error: Option<String>,
    /// Height of the block that computed it.
    pub height: u64,
}

/// A deployed version of the audit policy (审核规则).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// Policy name from the document.
    pub name: String,
    /// Version from the document (strictly increasing across deployments).
    pub version: u32,
    /// The document, verbatim.
    pub text: String,
    /// First height whose readings it audits.
    pub effective_height: u64,
    /// Height of the block that deployed it (0 = the default shipped with genesis).
    pub deployed_height: u64,
    /// The regulator that deployed it (none for the default).
    pub deployed_by: Option<UnifiedSocialCreditCode>,
}

/// An enterprise's monthly report (月报), as last submitted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct MonthlyReportRecord {
    /// Reported consumption per energy kind.
    pub consumption: Vec<ReportedConsumption>,
    /// Production output per product (manual data).
    pub production: Vec<ProductOutput>,
    /// Measured heating values for the month (override the reference coefficients).
    pub heating_values: Vec<MeasuredHeatingValue>,
    /// Height of the block that recorded it (a later report of the same month replaces it).
    pub height: u64,
}

/// One committed `(key, value)` pair: the data of one leaf of the state tree.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct StateEntry {
    /// The key.
    pub key: StateKey,
    /// The value.
    pub value: StateValue,
}

/// A state proof: an entry and the sibling hashes of its leaf's path in its tree, deepest first.
/// The tree is the one the entry's key belongs to ([`StateKey::tree`]); a proof of a derived key
/// cannot be made.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateProof {
    /// The entry proven.
    pub entry: StateEntry,
    /// Sibling hashes from the leaf's level up to the root's children (at most 256).
    pub siblings: Vec<Hash32>,
}

impl StateProof {
    /// Checks the proof against the tree roots of a chain hashing with `alg`.
    pub fn verify(&self, alg: HashAlg, roots: &StateRoots) -> bool {
        let Some(tree) = self.entry.key.tree() else { return false };
        let kh = self.entry.key.key_hash(alg);
        let vh = trustmeter_crypto::hash(alg, &encode(&self.entry.value));
        let leaf = smt::leaf_hash(alg, &kh, &vh);
        smt::root_from_path(alg, &kh, leaf, &self.siblings) == Some(roots.get(tree))
    }
}

/// A proof that a key has no entry: the leaf met on the key's path (another key's, or none: an
/// empty subtree) and the sibling hashes, deepest first.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbsenceProof {
    /// The key proven absent.
    pub key: StateKey,
    /// `(key hash, value hash)` of the other leaf at the end of the path, if the path ends in one.
    pub leaf: Option<(Hash32, Hash32)>,
    /// Sibling hashes, deepest first.
    pub siblings: Vec<Hash32>,
}

impl AbsenceProof {
    /// Checks the proof against the tree roots of a chain hashing with `alg`.
    pub fn verify(&self, alg: HashAlg, roots: &StateRoots) -> bool {
        let Some(tree) = self.key.tree() else { return false };
        let kh = self.key.key_hash(alg);
        let start = match &self.leaf {
            None => smt::PLACEHOLDER,
            Some((other, vh)) => {
                if *other == kh || smt::common_prefix_bits(other, &kh) < self.siblings.len() {
                    return false;
                }
                smt::leaf_hash(alg, other, vh)
            }
        };
        smt::root_from_path(alg, &kh, start, &self.siblings) == Some(roots.get(tree))
    }
}

/// The roots of the two trees; the state root commits to both ([`trustmeter_crypto::smt::state_root`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRoots {
    /// Root of the registry tree.
    pub registry: Hash32,
    /// Root of the activity tree.
    pub activity: Hash32,
}

impl StateRoots {
    /// Root of `tree`.
    pub fn get(&self, tree: Tree) -> Hash32 {
        match tree {
            Tree::Registry => self.registry,
            Tree::Activity => self.activity,
        }
    }
    /// The state root over both.
    pub fn state_root(&self, alg: HashAlg) -> Hash32 {
        trustmeter_crypto::smt::state_root(alg, &self.registry, &self.activity)
    }
}

/// One register point the chain remembers: a recorded reading's facts (its meter is the key's;
/// its unit is the meter's).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct PointRec {
    /// The reading's own timestamp (Unix ms).
    pub ts_ms: i64,
    /// Register value, micro-units.
    pub value: i64,
    /// Online, manual or imported.
    pub origin: ReadingOrigin,
    /// The reading's sequence number.
    pub seq: u64,
    /// The reading's clock flag.
    pub clock_suspect: bool,
}

impl PointRec {
    /// The point a recorded reading makes.
    pub fn of(r: &Reading) -> Self {
        PointRec {
            ts_ms: r.timestamp_ms,
            value: r.value.micros(),
            origin: r.origin,
            seq: r.seq,
            clock_suspect: r.clock_suspect,
        }
    }

    /// Whether `r` is the reading this point recorded (a resubmission of it: the same sequence,
    /// time, value, origin and clock flag; the meter and unit were checked before).
    pub fn records(&self, r: &Reading) -> bool {
        *self == PointRec::of(r)
    }

    /// The register point of the accounting (`trustmeter_energy::register`).
    pub fn point(&self) -> RegisterPoint {
        RegisterPoint { ts_ms: self.ts_ms, value: self.value, origin: self.origin }
    }
}

/// A recorded meter replacement (换表).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ReplacementRec {
    /// When the new meter took over (Unix ms).
    pub at_ms: i64,
    /// The old meter's last register value, micro-units.
    pub old_final: i64,
    /// The new meter's first register value, micro-units.
    pub new_initial: i64,
}

impl ReplacementRec {
    /// The replacement of the accounting (`trustmeter_energy::register`).
    pub fn replacement(&self) -> Replacement {
        Replacement { at_ms: self.at_ms, old_final: self.old_final, new_initial: self.new_initial }
    }
}

/// Key of a daily figure: one enterprise, one Asia/Shanghai day, one energy kind in one unit.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct DailyKey {
    /// The enterprise (用能单位).
    pub org: UnifiedSocialCreditCode,
    /// Days since 1970-01-01 in Asia/Shanghai.
    pub day: i32,
    /// Energy kind.
    pub energy: EnergyKind,
    /// Unit of the amounts (an amount unit: kW meters add up in kWh).
    pub unit: Unit,
}

/// An enterprise's daily figure for one energy kind (日能耗), part of consensus state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct DailyTotal {
    /// Consumption allocated to the day, micro-units of the key's unit.
    pub consumption: Quantity,
    /// The part of it from gaps (whose placement in time is estimated).
    pub estimated: Quantity,
    /// The part of it from intervals with a manual or imported end.
    pub manual: Quantity,
    /// Energy exported the other way (反向, e.g. to the grid), micro-units of the key's unit: the
    /// negative part of instantaneous registers' integrals. Never in `consumption`, the tiers or
    /// standard coal; netting it is a methodology's choice, not the daily figure's.
    pub exported: Quantity,
    /// Intervals excluded as negative deltas (register fell without a rollover or replacement).
    pub excluded_intervals: i32,
    /// Readings recorded with a timestamp in this day.
    pub points: u32,
    /// Of which recorded within the chain's timeliness limit of their timestamp (及时性).
    pub on_time: u32,
    /// Of which arrived after a later reading of the same meter (placed by their own time).
    pub late: u32,
    /// Of which carry findings of the audit policy.
    pub flagged: u32,
    /// Electricity per tariff tier (尖峰, 高峰, 平, 低谷, 深谷); zeros for other kinds.
    pub tiers: [Quantity; 5],
    /// Standard coal by the equivalent value (当量值), micro-kgce.
    pub kgce_equivalent: Quantity,
    /// Standard coal by the equal value (等价值) for electricity; the same as equivalent for the rest.
    pub kgce_equal_value: Quantity,
    /// Why standard coal could not be computed, if it could not (no factor for this unit).
    pub kgce_missing: Option<String>,
    /// The reference data set the figures were computed with.
    pub reference: String,
    /// The time-of-use schedule the tiers were split by, if any.
    pub tou_schedule: Option<String>,
}

impl DailyTotal {
    /// A day with nothing recorded yet, computed with reference data set `reference`.
    pub fn empty(reference: &str) -> Self {
        Self {
            consumption: Quantity(0),
            estimated: Quantity(0),
            manual: Quantity(0),
            exported: Quantity(0),
            excluded_intervals: 0,
            points: 0,
            on_time: 0,
            late: 0,
            flagged: 0,
            tiers: [Quantity(0); 5],
            kgce_equivalent: Quantity(0),
            kgce_equal_value: Quantity(0),
            kgce_missing: None,
            reference: reference.to_string(),
            tou_schedule: None,
        }
    }
}

/// What a proof builder reads of a chain's state: the tree roots and entry proofs as of a past
/// height. The state machine's `State` implements it; a builder (`trustmeter-client`'s
/// bundles) needs nothing else of the state.
pub trait ProofSource {
    /// The height and block digest the state is at (for error messages).
    fn tip(&self) -> (u64, Hash32);
    /// The roots of the two trees after block `height`, if the store still keeps that height.
    fn roots_at(&self, height: u64) -> Option<StateRoots>;
    /// The proof of `key`'s entry after block `height`: `None` if it had none then, the key is
    /// derived, or the store no longer keeps that height's tree.
    fn prove_at(&self, height: u64, key: &StateKey) -> Option<StateProof>;
    /// The proof that `key` had no entry after block `height`: `None` if it had one, the key is
    /// derived, or the store no longer keeps that height's tree.
    fn prove_absent_at(&self, height: u64, key: &StateKey) -> Option<AbsenceProof>;
}
