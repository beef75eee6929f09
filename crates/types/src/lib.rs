//! # trustmeter-types
//!
//! The domain model of Trustmeter and its one canonical binary encoding.
//!
//! Everything that is signed or hashed anywhere in the system is a type from this crate, encoded
//! with [`codec::encode`] (borsh: fixed field order, little-endian fixed-width integers, `u32`
//! length prefixes, strict tags) and decoded with [`codec::decode`], which rejects trailing bytes
//! and then checks every length limit in [`limits`]. `encode(decode(b)) == b` holds for every byte
//! string that decodes.
//!
//! This crate does no I/O, reads no clock and draws no randomness. Hash functions and signature
//! schemes live in `trustmeter-crypto`; this crate only carries their bytes with a scheme tag.
//!
//! Layout:
//! - [`ids`]: identifiers (chain, organisation by unified social credit code, device ids, hashes).
//! - [`keys`]: public keys and signatures tagged with their scheme.
//! - [`energy`]: energy kinds, units, fixed-point quantities.
//! - [`registry`]: organisations, accounts, gateways, meters, calibration certificates.
//! - [`reading`]: meter readings and their signatures.
//! - [`membership`]: organisations and account keys after genesis: proposals and approvals.
//! - [`tx`]: transactions and their payloads.
//! - [`carbon`]: documented carbon entries with their evidence, and monitoring plans.
//! - [`economy`]: the token, staking, delegation and elections (DPoS).
//! - [`shifts`]: shift calendars (班次、班组、倒班) and production output per shift (班次产量).
//! - [`block`]: block headers and blocks.
//! - [`receipt`]: execution outcomes with machine-readable codes.
//! - [`genesis`]: the founding document of a chain.

pub mod block;
pub mod carbon;
pub mod codec;
pub mod compliance;
pub mod economy;
pub mod energy;
pub mod genesis;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod membership;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod reading;
pub mod receipt;
pub mod registry;
pub mod shifts;
pub mod tx;

pub use block::{Block, BlockHeader};
pub use carbon::{CarbonEntry, CarbonEntryData, Evidence, EvidenceKind, GasFilling};
pub use codec::{DecodeError, decode, encode};
pub use energy::{EnergyKind, Quantity, RegisterKind, Unit};
pub use genesis::{
    AccountingParams, ChainParams, Genesis, GenesisAccount, GenesisOrganisation, GenesisValidator, HashAlg,
};
pub use ids::{ChainId, DeviceId, Hash32, IdError, UnifiedSocialCreditCode};
pub use keys::{KeyScheme, PublicKey, Signature};
pub use membership::{
    Account, Disclosure, DisclosureRecord, GovernanceParams, Grant, GrantScope, Membership, MembershipAction,
    NewAccount, OrgStatus, Proposal, ProposalStatus, account_proof_payload,
};
pub use reading::{Reading, ReadingOrigin, ReadingSigner, SignedReading};
pub use receipt::{Flag, ReadingOutcome, Receipt, RejectCode, Rejection, TxOutcome};
pub use registry::{
    AccuracyClass, Calibration, DeviceStatus, Gateway, LocationPath, METERS_PER_PROGRESS_CHUNK, Meter, OrgKind,
    Organisation, RetiredKey, SigningKeys, TariffRegister,
};
pub use shifts::{ShiftCalendar, ShiftDef, ShiftOutput, ShiftRotation};
pub use tx::{Transaction, TxBody, TxPayload, rotation_proof_payload};
