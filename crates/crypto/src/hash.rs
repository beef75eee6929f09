//! Domain-separated hashing with a chain's hash algorithm: SHA-256 or SM3.
//!
//! Every function that hashes chain data takes the [`HashAlg`] explicitly (it comes from the
//! chain's genesis parameters, `ChainParams::hash`); there is no default and no global, so a
//! caller cannot mix algorithms without naming the wrong one. Both algorithms give 32 bytes.
//!
//! [`sha256`] and [`sm3`] are the plain functions, for uses that are not chain data (e.g. deriving
//! test keys).

use sha2::{Digest, Sha256};
use sm3::Sm3;
use trustmeter_types::{BlockHeader, Hash32, SignedReading, Transaction, block::BLOCK_DIGEST_DOMAIN, encode};

pub use trustmeter_types::HashAlg;

/// Domain tag of transaction ids.
pub const TX_ID_DOMAIN: &[u8] = b"trustmeter/txid/v1";

/// An incremental hasher of the chosen algorithm.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256.
    Sha256(Sha256),
    /// SM3.
    Sm3(Sm3),
}

impl Hasher {
    /// A fresh hasher for `alg`.
    pub fn new(alg: HashAlg) -> Self {
        match alg {
            HashAlg::Sha256 => Hasher::Sha256(Sha256::new()),
            HashAlg::Sm3 => Hasher::Sm3(Sm3::new()),
        }
    }
    /// The algorithm.
    pub fn alg(&self) -> HashAlg {
        match self {
            Hasher::Sha256(_) => HashAlg::Sha256,
            Hasher::Sm3(_) => HashAlg::Sm3,
        }
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sm3(h) => h.update(data),
        }
    }
    /// The 32-byte digest.
    pub fn finalize(self) -> Hash32 {
        match self {
            Hasher::Sha256(h) => Hash32(h.finalize().into()),
            Hasher::Sm3(h) => Hash32(h.finalize().into()),
        }
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hasher({})", self.alg())
    }
}

/// The hash of `data` with `alg`.
pub fn hash(alg: HashAlg, data: &[u8]) -> Hash32 {
    let mut h = Hasher::new(alg);
    h.update(data);
    h.finalize()
}

/// Plain SHA-256.
pub fn sha256(data: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(data).into())
}

/// Plain SM3 (GB/T 32905).
pub fn sm3(data: &[u8]) -> Hash32 {
    Hash32(Sm3::digest(data).into())
}

/// `alg(domain ‖ data)`. Domain tags are distinct ASCII strings that never prefix one another.
pub fn tagged_hash(alg: HashAlg, domain: &[u8], data: &[u8]) -> Hash32 {
    let mut h = Hasher::new(alg);
    h.update(domain);
    h.update(data);
    h.finalize()
}

/// A transaction's id: the tagged hash of its full canonical encoding (body and signature).
pub fn tx_hash(alg: HashAlg, tx: &Transaction) -> Hash32 {
    tx_hash_of_encoding(alg, &encode(tx))
}

/// [`tx_hash`] of a transaction already encoded (`encoded` must be its canonical encoding): for
/// callers that need the bytes for something else too, so a large transaction is encoded once.
pub fn tx_hash_of_encoding(alg: HashAlg, encoded: &[u8]) -> Hash32 {
    tagged_hash(alg, TX_ID_DOMAIN, encoded)
}

/// Domain tag of a genesis document's hash.
pub const GENESIS_HASH_DOMAIN: &[u8] = b"trustmeter/genesis/v1";

/// A genesis document's hash, with the chain's own hash function: what every founding party
/// compares before starting a node (`trustmeter genesis check --expect-hash`).
pub fn genesis_hash(genesis: &trustmeter_types::Genesis) -> Hash32 {
    tagged_hash(genesis.params.hash, GENESIS_HASH_DOMAIN, &encode(genesis))
}

/// A block's digest: the tagged hash of its header's canonical encoding.
pub fn block_digest(alg: HashAlg, header: &BlockHeader) -> Hash32 {
    tagged_hash(alg, BLOCK_DIGEST_DOMAIN, &encode(header))
}

/// The Merkle leaf hash of a signed reading in a block's readings tree.
pub fn reading_leaf(alg: HashAlg, r: &SignedReading) -> Hash32 {
    crate::merkle::leaf_hash(alg, &encode(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm3_known_answers_gbt_32905() {
        // GB/T 32905-2016, Appendix A, example 1: "abc".
        assert_eq!(sm3(b"abc").to_hex(), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
        // Example 2: "abcd" repeated 16 times (512 bits).
        assert_eq!(
            sm3("abcd".repeat(16).as_bytes()).to_hex(),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
        assert_eq!(hash(HashAlg::Sm3, b"abc"), sm3(b"abc"));
    }

    #[test]
    fn sha256_known_answer_and_algorithms_differ() {
        // FIPS 180-2, Appendix B.1.
        assert_eq!(sha256(b"abc").to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hash(HashAlg::Sha256, b"abc"), sha256(b"abc"));
        assert_ne!(tagged_hash(HashAlg::Sha256, b"d", b"x"), tagged_hash(HashAlg::Sm3, b"d", b"x"));
    }

    #[test]
    fn incremental_equals_one_shot() {
        for alg in [HashAlg::Sha256, HashAlg::Sm3] {
            let mut h = Hasher::new(alg);
            h.update(b"trustmeter/");
            h.update(b"x");
            assert_eq!(h.alg(), alg);
            assert_eq!(h.finalize(), hash(alg, b"trustmeter/x"));
            assert_eq!(tagged_hash(alg, b"trustmeter/", b"x"), hash(alg, b"trustmeter/x"));
        }
    }
}
