//! # trustmeter-state
//!
//! The state machine. [`execute_block`] is a pure function of (state, block): no clock, no
//! randomness, no I/O, no hash-map iteration. Every validator runs it on every block and must reach
//! the same [`State::root`]. Indexes for queries are derived from its outputs elsewhere.
//!
//! - [`state`]: the state (registry, nonces, per-meter progress, figures): a snapshot of a
//!   [`Store`] plus an overlay of changes, with an authenticated root and proofs (current and
//!   historical, membership and absence).
//! - [`keys`]: key classes (registry, activity, derived) and the store's key order.
//! - [`commit`]: the two Jellyfish Merkle trees and their hashing.
//! - [`store`]: the [`Store`] boundary (a disk implementation lives in `trustmeter-statedb`) and
//!   the in-memory [`MemStore`].
//! - [`shifts`]: shift calendars and production output per shift (班次、班组).
//! - [`economy`]: the token ledger, staking, delegation, epoch ends and elections (DPoS).
//! - [`exec`]: transaction and reading rules, block building and block checking.
//! - [`sigs`]: signature pre-verification in batches, outside the pure core; execution trusts a
//!   verdict only for the exact key it was made with and verifies anything else itself.

pub mod accounting;
pub mod carbon;
pub mod commit;
pub mod compliance;
pub mod economy;
pub mod exec;
pub mod keys;
mod membership;
pub mod restore;
pub mod shifts;
pub mod sigs;
pub mod state;
pub mod store;

pub use accounting::{DailyKey, DailyTotal};
pub use exec::{BlockError, BlockOutput, build_block, execute_block, genesis_block, genesis_block_in};
pub use keys::{KeyClass, KeyRange, Tree, state_root};
pub use restore::Restore;
pub use sigs::SignatureVerdicts;
pub use state::{
    AbsenceProof, CarbonEntryRecord, CarbonPlanRecord, CarbonReportRecord, CertificateClaimRecord, MeterProgress,
    MeterSlot, MethodologyRecord, MonthKindTotal, MonthTotalsRecord, MonthlyReportRecord, PolicyRecord, ProgressChunk,
    ProgressReader, QuotaRecord, RawEntry, State, StateEntry, StateError, StateKey, StateProof, StateRoots, StateValue,
    VerificationRecord, VerificationStatus,
};
pub use store::{MemStore, Snapshot, Store, StoreError};
