//! The `genesis_info` operation, and reading the genesis a user trusts.
//!
//! Input: `{"genesis": "<genesis.json text>"}`. Output (`ok` and `error` aside):
//!
//! ```json
//! {"hash": "<64 hex>", "fingerprint": "1a2b 3c4d … (8 groups)", "chain_id": "hunan-1",
//!  "hash_alg": "sha256", "validators": 4, "organisations": 5, "accounts": 5,
//!  "genesis_time_ms": 1767225600000, "genesis_time": "2026-01-01T00:00:00.000Z", "devnet_seed": null}
//! ```
//!
//! `hash` is the genesis hash exactly as a node's `GET /v1/status` reports it
//! (`trustmeter_crypto::genesis_hash`: the tagged hash of the canonical encoding, with the
//! chain's own hash algorithm), and as `trustmeter genesis check` prints it; `fingerprint` is its
//! first 128 bits in groups of four hex digits, for people to compare with a published one.
//! A document is read as a node reads its `--genesis` file: every field required, no other field
//! accepted, and the genesis rules checked (`Genesis::validate`).

use crate::{ErrorCode, OpError, OpResult};
use serde::Deserialize;
use serde_json::json;
use trustmeter_types::Genesis;
use trustmeter_types::codec::Validate as _;

/// Largest genesis document accepted, bytes.
pub const MAX_GENESIS_BYTES: usize = 16 * 1024 * 1024;

/// Input of `genesis_info`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoInput {
    /// The genesis document's text.
    pub genesis: String,
}

/// Parses and checks a genesis document's text as a node reads its genesis file.
pub fn parse(text: &str) -> Result<Genesis, OpError> {
    if text.len() > MAX_GENESIS_BYTES {
        return Err(OpError::new(
            ErrorCode::TooLarge,
            format!("the genesis is {} bytes; at most {MAX_GENESIS_BYTES} are accepted", text.len()),
        ));
    }
    let g: Genesis = serde_json::from_str(text)
        .map_err(|e| OpError::new(ErrorCode::BadGenesis, format!("the genesis is not a genesis document: {e}")))?;
    g.validate().map_err(|e| OpError::new(ErrorCode::BadGenesis, format!("the genesis is invalid: {e}")))?;
    Ok(g)
}

/// The genesis hash as `/v1/status` reports it (lowercase hex).
pub fn hash_hex(g: &Genesis) -> String {
    trustmeter_crypto::genesis_hash(g).to_hex()
}

/// The first 128 bits of a hex hash in groups of four digits (`1a2b 3c4d …`, 8 groups).
pub fn fingerprint(hash_hex: &str) -> String {
    let digits: Vec<char> = hash_hex.chars().take(32).collect();
    digits.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

/// What a genesis says about itself, as the `genesis` object of answers.
pub fn describe(g: &Genesis) -> serde_json::Value {
    let hash = hash_hex(g);
    json!({
        "hash": hash,
        "fingerprint": fingerprint(&hash),
        "chain_id": g.chain_id.as_str(),
        "hash_alg": g.params.hash.name(),
        "validators": g.validators.len(),
        "organisations": g.organisations.len(),
        "accounts": g.accounts.len(),
        "genesis_time_ms": g.genesis_time_ms,
        "genesis_time": crate::time::utc(g.genesis_time_ms),
        "devnet_seed": g.devnet_seed,
    })
}

/// The `genesis_info` operation.
pub fn info(input: InfoInput) -> OpResult {
    Ok(describe(&parse(&input.genesis)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_group_the_first_128_bits() {
        let h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(super::fingerprint(h), "0123 4567 89ab cdef 0123 4567 89ab cdef");
    }
}
