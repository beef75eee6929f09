//! # trustmeter-crypto
//!
//! Key schemes, signatures, domain-separated hashing and RFC 6962 Merkle trees.
//!
//! - [`hash`]: the chain's hash algorithm ([`HashAlg`]: SHA-256 or SM3, always passed explicitly)
//!   with a domain tag per kind of object (transaction id, block digest, …).
//! - [`merkle`]: RFC 6962 / RFC 9162 Merkle tree hashing (over either algorithm), inclusion proofs and their check, so
//!   that a third party can verify our proofs with any standard implementation.
//! - [`smt`]: verification of sparse Merkle tree proofs (Jellyfish Merkle tree layout) of the
//!   state commitment of `trustmeter-proof/v2`: inclusion, exclusion, the combined state root.
//!   Pure functions, no storage, for embedding in any verifier.
//! - [`keys`]: signing keys, single and batch verification, for two schemes. Ed25519 follows
//!   ZIP-215 rules (`ed25519-zebra`): a batch accepts exactly what single verification accepts, so
//!   validators cannot disagree on a signature. SM2 (GB/T 32918.2, `sm2`) signs `SM3(Z_A ‖ m)` with
//!   the default user id `"1234567812345678"`; it has no batch verification, so SM2 signatures in a
//!   batch are checked one by one.
//!
//! Reading and transaction signatures are plain signatures over a domain-tagged canonical
//! encoding (see `trustmeter_types::Reading::signing_payload`), checkable with any Ed25519 library
//! or any SM2 implementation that uses the default user id (e.g. OpenSSL 3 with
//! `-sigopt distid:1234567812345678`).

pub mod hash;
pub mod keys;
pub mod merkle;
pub mod smt;

pub use hash::{
    HashAlg, Hasher, block_digest, genesis_hash, hash, reading_leaf, sha256, sm3, tagged_hash, tx_hash,
    tx_hash_of_encoding,
};
pub use keys::{BatchVerifier, CryptoError, SM2_DEFAULT_ID, SigningKey, sign_reading, sign_tx, verify};
