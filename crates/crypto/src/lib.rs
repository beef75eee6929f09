//! # trustmeter-crypto
//!
//! Key schemes, signatures, domain-separated hashing and RFC 6962 Merkle trees.
//!
//! - [`hash`]: SHA-256 with a domain tag per kind of object (transaction id, block digest, …).
//! - [`merkle`]: RFC 6962 / RFC 9162 Merkle tree hashing, inclusion proofs and their check, so
//!   that a third party can verify our proofs with any standard implementation.
//! - [`keys`]: signing keys, single and batch verification. Ed25519 follows ZIP-215 rules
//!   (`ed25519-zebra`): a batch accepts exactly what single verification accepts, so validators
//!   cannot disagree on a signature.
//!
//! Reading and transaction signatures are plain signatures over a domain-tagged canonical
//! encoding (see `trustmeter_types::Reading::signing_payload`), checkable with any Ed25519 library.

pub mod hash;
pub mod keys;
pub mod merkle;

pub use hash::{block_digest, reading_leaf, sha256, tagged_hash, tx_hash};
pub use keys::{BatchVerifier, CryptoError, SigningKey, sign_reading, sign_tx, verify};
