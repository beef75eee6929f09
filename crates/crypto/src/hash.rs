//! Domain-separated SHA-256.

use sha2::{Digest, Sha256};
use trustmeter_types::{BlockHeader, Hash32, SignedReading, Transaction, block::BLOCK_DIGEST_DOMAIN, encode};

/// Domain tag of transaction ids.
pub const TX_ID_DOMAIN: &[u8] = b"trustmeter/txid/v1";

/// Plain SHA-256.
pub fn sha256(data: &[u8]) -> Hash32 {
    Hash32(Sha256::digest(data).into())
}

/// SHA-256 of `domain ‖ data`. Domain tags are distinct ASCII strings that never prefix one another.
pub fn tagged_hash(domain: &[u8], data: &[u8]) -> Hash32 {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(data);
    Hash32(h.finalize().into())
}

/// A transaction's id: the tagged hash of its full canonical encoding (body and signature).
pub fn tx_hash(tx: &Transaction) -> Hash32 {
    tagged_hash(TX_ID_DOMAIN, &encode(tx))
}

/// A block's digest: the tagged hash of its header's canonical encoding.
pub fn block_digest(header: &BlockHeader) -> Hash32 {
    tagged_hash(BLOCK_DIGEST_DOMAIN, &encode(header))
}

/// The Merkle leaf hash of a signed reading in a block's readings tree.
pub fn reading_leaf(r: &SignedReading) -> Hash32 {
    crate::merkle::leaf_hash(&encode(r))
}
