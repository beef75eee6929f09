//! # trustmeter-state
//!
//! The state machine. [`execute_block`] is a pure function of (state, block): no clock, no
//! randomness, no I/O, no hash-map iteration. Every validator runs it on every block and must reach
//! the same [`State::root`]. Indexes for queries are derived from its outputs elsewhere.
//!
//! - [`state`]: the state (registry, nonces, per-meter progress) in persistent ordered maps, with
//!   an authenticated root and membership proofs.
//! - [`exec`]: transaction and reading rules, block building and block checking.
//! - [`sigs`]: signature pre-verification in batches, outside the pure core; execution trusts a
//!   verdict only for the exact key it was made with and verifies anything else itself.

pub mod accounting;
pub mod exec;
pub mod sigs;
pub mod state;

pub use accounting::{DailyKey, DailyTotal};
pub use exec::{BlockError, BlockOutput, build_block, execute_block, genesis_block};
pub use sigs::SignatureVerdicts;
pub use state::{MeterProgress, MonthlyReportRecord, PolicyRecord, State, StateEntry, StateKey, StateProof};
