//! # trustmeter-schema
//!
//! The schema of Trustmeter's consensus state: what a key and a value are ([`StateKey`],
//! [`StateValue`] and the records they hold), which of the two authenticated trees a key is
//! committed in ([`keys::Tree`]), the order-preserving encoding keys are stored under, and the
//! proofs of an entry ([`StateProof`]) and of an absence ([`AbsenceProof`]) against the trees'
//! roots ([`StateRoots`]).
//!
//! It is its own crate so that a verifier (`trustmeter-client`, gateways, browsers) reads and
//! checks state proofs with nothing of the state machine, its store or the policy engine:
//! it depends only on the domain types, the hashing, and the energy crate's record types.
//!
//! Must not: execute blocks, store anything, or do I/O.

#![deny(missing_docs)]

pub mod keys;
pub mod model;
/// The hand-written OpenAPI schema of [`StateKey`] (feature `openapi`).
#[cfg(feature = "openapi")]
pub mod openapi;

pub use keys::{KeyClass, KeyRange, Tree};
pub use model::{
    AbsenceProof, Allocation, CarbonEntryRecord, CarbonPlanRecord, CarbonReportRecord, CarbonResultLine,
    CarbonResultRecord, CarbonYearRecord, CertificateClaimRecord, DailyKey, DailyTotal, FinalBy, MeterProgress,
    MeterSlot, MethodologyRecord, MonthlyReportRecord, PointRec, PolicyRecord, ProgressChunk, ProofSource, QuotaRecord,
    ReplacementRec, StateEntry, StateKey, StateProof, StateRoots, StateValue, StatementRecord, VerificationAct,
    VerificationRecord, VerificationStatus,
};
pub use model::{
    DelegationRecord, EconomyRecord, EpochActivity, EpochRewardsRecord, PointsRecord, RewardScheduleRecord, SetMember,
    TokenAccount, TokenPolicyRecord, UnbondingRecord, ValidatorRecord, ValidatorSet,
};
pub use model::{ShiftCalendarRecord, ShiftOutputRecord, ShiftProductRecord};
