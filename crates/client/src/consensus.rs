//! The consensus certificate types a verifier needs, and how a genesis names them.
//!
//! A Trustmeter chain runs Commonware's simplex consensus with Ed25519 votes (attributable: a
//! certificate carries one signature per signer of the quorum), so anyone holding the genesis
//! checks a finalization offline. These definitions are the chain's own (`trustmeter-chain`
//! re-exports them), kept here so that verifying needs nothing of consensus's engine.

use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::{ed25519, sha256};
use commonware_utils::TryCollect;
use commonware_utils::ordered::Set;
use trustmeter_types::Genesis;

/// The consensus signing scheme: Ed25519 votes, attributable, one signature per quorum member in a
/// certificate — so offline verifiers check finality against the genesis validator keys.
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// A finalization certificate for a block digest.
pub type BlockFinalization = Finalization<Scheme, sha256::Digest>;

/// The namespace consensus signatures are made in: one per chain, so votes of one chain are
/// worthless on another.
pub fn consensus_namespace(genesis: &Genesis) -> Vec<u8> {
    format!("trustmeter/consensus/{}", genesis.chain_id).into_bytes()
}

/// The validator set named in a genesis document (its consensus keys, distinct, in key order).
pub fn validator_set(genesis: &Genesis) -> Result<Set<ed25519::PublicKey>, String> {
    genesis
        .validators
        .iter()
        .map(|v| {
            let bytes = hex::decode(&v.consensus_key).map_err(|_| format!("validator {} key is not hex", v.name))?;
            ed25519::PublicKey::try_from(bytes.as_slice())
                .map_err(|e| format!("validator {} key is invalid: {e:?}", v.name))
        })
        .collect::<Result<Vec<_>, String>>()?
        .into_iter()
        .try_collect()
        .map_err(|_| "validator keys must be distinct".to_string())
}
