//! The genesis ceremony of a real consortium (创世仪式): each founding organisation generates its
//! keys on its own machine and publishes only an *organisation file* (its record, its account
//! keys and its validators, each key with a proof of possession for this chain); one party
//! assembles the genesis from every file and every party checks it.
//!
//! Nothing secret crosses machines. Every check is here, so the command that assembles
//! (`trustmeter genesis assemble`) and the one each party runs on what it received (`trustmeter
//! genesis check`) apply the same rules.

use crate::devnet::devnet_keys_in;
use serde::{Deserialize, Serialize};
use trustmeter_crypto::{SigningKey, verify};
use trustmeter_types::codec::Validate;
use trustmeter_types::{
    ChainId, ChainParams, Genesis, GenesisAccount, GenesisValidator, KeyScheme, NewAccount, OrgKind, Organisation,
    PublicKey, Signature, UnifiedSocialCreditCode, account_proof_payload, encode,
};

/// The `format` field of an organisation file.
pub const ORG_FILE_FORMAT: &str = "trustmeter-org/v1";
/// Domain tag of a validator key's proof of possession.
pub const VALIDATOR_PROOF_DOMAIN: &[u8] = b"trustmeter/validator-key/v1";
/// Fewest validators of a chain that survives one faulty validator (n ≥ 3f + 1 with f = 1).
pub const MIN_FAULT_TOLERANT_VALIDATORS: usize = 4;

/// A validator an organisation runs, as its organisation file names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorEntry {
    /// Short name (data directories, logs); unique in the genesis.
    pub name: String,
    /// Consensus key: Ed25519 public key, 64 hex characters.
    pub consensus_key: String,
    /// Where its peers reach it, `host:port`.
    pub p2p_address: String,
    /// The consensus key's signature over [`validator_proof_payload`].
    pub proof: Signature,
}

/// What a founding organisation publishes for the ceremony (JSON, `trustmeter-org/v1`). Every
/// field is required; no other field is accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgFile {
    /// Always [`ORG_FILE_FORMAT`].
    pub format: String,
    /// The chain the proofs are for.
    pub chain_id: ChainId,
    /// The organisation (unified social credit code with its check character, name, kind,
    /// GB/T 2260 region).
    pub organisation: Organisation,
    /// Its account keys, each with its proof of possession.
    pub accounts: Vec<NewAccount>,
    /// Its validators (none for an organisation that runs no node).
    pub validators: Vec<ValidatorEntry>,
}

/// The bytes a validator key signs to prove its holder made the entry: domain tag, chain,
/// organisation, name, key and address.
pub fn validator_proof_payload(
    chain: &ChainId,
    org: &UnifiedSocialCreditCode,
    name: &str,
    consensus_key: &str,
    p2p_address: &str,
) -> Vec<u8> {
    let mut out = VALIDATOR_PROOF_DOMAIN.to_vec();
    out.extend_from_slice(&encode(&(chain, org, name, consensus_key.to_ascii_lowercase(), p2p_address)));
    out
}

/// Why an organisation file or an assembled genesis was refused: every problem found, one per
/// line.
#[derive(Debug, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct CeremonyError {
    /// The problems, each a sentence naming the file or entry.
    pub problems: Vec<String>,
}

impl OrgFile {
    /// Builds an organisation's file from its keys: signs every proof of possession. The
    /// validator keys are Ed25519 [`SigningKey`]s (their RFC 8032 seed is the consensus key's,
    /// see [`crate::devnet::consensus_key_from_seed`]).
    pub fn build(
        chain_id: &ChainId,
        organisation: Organisation,
        accounts: &[SigningKey],
        validators: &[(String, SigningKey, String)],
    ) -> Self {
        let org = &organisation.id;
        let accounts = accounts
            .iter()
            .map(|k| NewAccount {
                public_key: k.public_key(),
                proof: k.sign(&account_proof_payload(chain_id, org, &k.public_key())),
            })
            .collect();
        let validators = validators
            .iter()
            .map(|(name, key, p2p)| {
                let consensus_key = hex::encode(&key.public_key().bytes);
                let proof = key.sign(&validator_proof_payload(chain_id, org, name, &consensus_key, p2p));
                ValidatorEntry { name: name.clone(), consensus_key, p2p_address: p2p.clone(), proof }
            })
            .collect();
        OrgFile { format: ORG_FILE_FORMAT.into(), chain_id: chain_id.clone(), organisation, accounts, validators }
    }

    /// Every problem with this file for chain `chain`: format, chain, the organisation record
    /// (credit code check character, region), and every proof of possession.
    pub fn problems(&self, chain: &ChainId) -> Vec<String> {
        let who = format!("organisation file of {}", self.organisation.id);
        let mut out = vec![];
        if self.format != ORG_FILE_FORMAT {
            out.push(format!("{who}: format is {:?}, expected {ORG_FILE_FORMAT:?}", self.format));
        }
        if &self.chain_id != chain {
            out.push(format!("{who}: made for chain {}, not {chain}", self.chain_id));
        }
        if let Err(e) = self.organisation.check() {
            out.push(format!("{who}: {e}"));
        }
        if self.accounts.is_empty() {
            out.push(format!("{who}: no account key (an organisation needs one to act on chain)"));
        }
        let org = &self.organisation.id;
        for a in &self.accounts {
            let ok = a.check().is_ok()
                && verify(&a.public_key, &account_proof_payload(chain, org, &a.public_key), &a.proof).is_ok();
            if !ok {
                out.push(format!("{who}: the proof of possession of account {} does not verify", a.public_key));
            }
        }
        for v in &self.validators {
            let key = hex::decode(&v.consensus_key).ok().filter(|b| b.len() == 32);
            let Some(bytes) = key else {
                out.push(format!("{who}: validator {}'s key is not 64 hex characters", v.name));
                continue;
            };
            let public = PublicKey { scheme: KeyScheme::Ed25519, bytes };
            let payload = validator_proof_payload(chain, org, &v.name, &v.consensus_key, &v.p2p_address);
            if verify(&public, &payload, &v.proof).is_err() {
                out.push(format!("{who}: the proof of possession of validator {}'s key does not verify", v.name));
            }
            if v.p2p_address.parse::<std::net::SocketAddr>().is_err() {
                out.push(format!("{who}: validator {}'s p2p address {:?} is not host:port", v.name, v.p2p_address));
            }
        }
        out
    }
}

/// Assembles the genesis of chain `chain_id` from the founding organisations' files, in the order
/// given, and checks it ([`check_genesis`]). `min_validators` is the smallest validator set
/// accepted ([`MIN_FAULT_TOLERANT_VALIDATORS`] for a chain that survives a faulty validator).
pub fn assemble(
    chain_id: &ChainId,
    genesis_time_ms: i64,
    params: ChainParams,
    files: &[OrgFile],
    min_validators: usize,
) -> Result<Genesis, CeremonyError> {
    let mut problems: Vec<String> = files.iter().flat_map(|f| f.problems(chain_id)).collect();
    let genesis = Genesis {
        chain_id: chain_id.clone(),
        genesis_time_ms,
        organisations: files.iter().map(|f| f.organisation.clone()).collect(),
        accounts: files
            .iter()
            .flat_map(|f| {
                f.accounts
                    .iter()
                    .map(|a| GenesisAccount { org: f.organisation.id.clone(), public_key: a.public_key.clone() })
            })
            .collect(),
        validators: files
            .iter()
            .flat_map(|f| {
                f.validators.iter().map(|v| GenesisValidator {
                    name: v.name.clone(),
                    org: f.organisation.id.clone(),
                    consensus_key: v.consensus_key.to_ascii_lowercase(),
                    p2p_address: v.p2p_address.clone(),
                    self_stake: params.economy.staking.min_self_stake,
                })
            })
            .collect(),
        allocations: vec![],
        params,
        devnet_seed: None,
    };
    if let Err(e) = check_genesis(&genesis, min_validators) {
        problems.extend(e.problems);
    }
    if problems.is_empty() { Ok(genesis) } else { Err(CeremonyError { problems }) }
}

/// The rules every real genesis meets: the document's own limits (distinct organisations, keys,
/// validator names; credit codes with their check characters), at least one regulator (someone
/// must admit the next members), at least `min_validators` validators, p2p addresses distinct,
/// and no key from the devnet derivation (their secrets are public). A devnet genesis
/// (`devnet_seed` set) is refused: it is not a ceremony's.
pub fn check_genesis(genesis: &Genesis, min_validators: usize) -> Result<(), CeremonyError> {
    let mut problems = vec![];
    if genesis.devnet_seed.is_some() {
        problems.push("the genesis is a devnet's (devnet_seed is set): its keys are public".to_string());
    }
    if let Err(e) = genesis.validate() {
        problems.push(e);
    }
    if !genesis.organisations.iter().any(|o| o.kind == OrgKind::Regulator) {
        problems.push("no founding organisation is a regulator: nobody could admit new members".into());
    }
    if genesis.validators.len() < min_validators {
        problems.push(format!(
            "{} validators; a chain that survives one faulty validator needs at least {min_validators} (n ≥ 3f + 1)",
            genesis.validators.len()
        ));
    }
    let mut addresses = std::collections::BTreeSet::new();
    for v in &genesis.validators {
        if !addresses.insert(v.p2p_address.as_str()) {
            problems.push(format!("p2p address {} is used by two validators", v.p2p_address));
        }
    }
    for key in devnet_keys_in(genesis) {
        problems.push(format!("{key} comes from the public devnet derivation; generate it with `trustmeter org init`"));
    }
    if problems.is_empty() { Ok(()) } else { Err(CeremonyError { problems }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::credit_code;

    fn key(b: u8) -> SigningKey {
        SigningKey::ed25519_from_seed([b; 32])
    }

    fn org(body: &str, kind: OrgKind, n: u8) -> OrgFile {
        let chain = ChainId::new("hunan-1").unwrap();
        let organisation = Organisation { id: credit_code(body), name: format!("org {n}"), kind, region: 430_000 };
        OrgFile::build(&chain, organisation, &[key(n)], &[(format!("v{n}"), key(100 + n), format!("10.0.0.{n}:30300"))])
    }

    fn four() -> Vec<OrgFile> {
        vec![
            org("11430000MB1234567", OrgKind::Regulator, 1),
            org("12430000MB7654321", OrgKind::MetrologyAuthority, 2),
            org("11430000MB0000001", OrgKind::StatisticsBureau, 3),
            org("91430100700001000", OrgKind::Enterprise, 4),
        ]
    }

    #[test]
    fn a_key_file_seed_and_the_consensus_key_are_one_key_pair() {
        use commonware_cryptography::Signer;
        for b in [0u8, 1, 77, 255] {
            let ours = key(b).public_key();
            let consensus = crate::devnet::consensus_key_from_seed(&[b; 32]).public_key();
            assert_eq!(ours.bytes.as_slice(), consensus.as_ref());
        }
    }

    #[test]
    fn four_parties_assemble_a_genesis_that_checks() {
        let chain = ChainId::new("hunan-1").unwrap();
        let g = assemble(&chain, 1_767_225_600_000, ChainParams::default(), &four(), 4).unwrap();
        assert_eq!((g.organisations.len(), g.accounts.len(), g.validators.len()), (4, 4, 4));
        check_genesis(&g, 4).unwrap();
    }

    #[test]
    fn every_broken_rule_is_reported() {
        let chain = ChainId::new("hunan-1").unwrap();
        let mut files = four();
        files[1].accounts[0].proof = files[2].accounts[0].proof.clone(); // someone else's proof
        files[2].chain_id = ChainId::new("hunan-2").unwrap(); // proofs for another chain
        files[3].validators[0].p2p_address = files[0].validators[0].p2p_address.clone();
        files[0].organisation.kind = OrgKind::Enterprise; // no regulator left
        let dup = files[3].clone(); // the same organisation twice
        files.push(dup);
        let e = assemble(&chain, 0, ChainParams::default(), &files, 4).unwrap_err().to_string();
        for needle in [
            "proof of possession of account",
            "made for chain hunan-2",
            "is used by two validators",
            "no founding organisation is a regulator",
            "is listed twice",
        ] {
            assert!(e.contains(needle), "{needle:?} missing from:\n{e}");
        }
    }

    #[test]
    fn too_few_validators_and_devnet_keys_are_refused() {
        let chain = ChainId::new("hunan-1").unwrap();
        let e = assemble(&chain, 0, ChainParams::default(), &four()[..3], 4).unwrap_err().to_string();
        assert!(e.contains("3 validators"), "{e}");
        // A devnet genesis with its marker removed still carries devnet keys.
        let mut devnet = crate::devnet::Devnet::new("hunan-1", 4, 1, 7, 0, 30_300).genesis;
        devnet.devnet_seed = None;
        let e = check_genesis(&devnet, 4).unwrap_err().to_string();
        assert!(e.contains("validator validator-0 (devnet seed 7)"), "{e}");
        assert!(e.contains("devnet seed 7)"), "{e}");
        assert_eq!(e.matches("devnet derivation").count(), 4 + 4, "4 validators and 4 accounts: {e}");
    }
}
