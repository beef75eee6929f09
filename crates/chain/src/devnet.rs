//! A local consortium: founding organisations, their keys and a validator set, derived from a seed.
//!
//! Used by `trustmeter node init`, the demo and the tests. Keys derived from a seed are for local
//! networks only; a real deployment generates every key on its own machine.

use commonware_cryptography::{Signer, ed25519};
use commonware_utils::ordered::Set;
use trustmeter_crypto::{HashAlg, SigningKey};
use trustmeter_types::economy::{GenesisAllocation, TOKEN};
use trustmeter_types::{
    ChainId, ChainParams, Genesis, GenesisAccount, GenesisValidator, KeyScheme, OrgKind, Organisation,
    UnifiedSocialCreditCode,
};

/// Each devnet validator's self-stake at genesis: 100 000 tokens.
pub const DEVNET_SELF_STAKE: u64 = 100_000 * TOKEN;
/// Each devnet authority's (regulator, metrology, statistics) balance at genesis: 1 000 000 tokens.
pub const DEVNET_AUTHORITY_BALANCE: u64 = 1_000_000 * TOKEN;
/// Each devnet enterprise's balance at genesis: 10 000 tokens.
pub const DEVNET_ENTERPRISE_BALANCE: u64 = 10_000 * TOKEN;

/// Makes a valid unified social credit code from a 17-character body.
pub fn credit_code(first17: &str) -> UnifiedSocialCreditCode {
    let check = UnifiedSocialCreditCode::check_char(first17).expect("17 characters of the credit-code alphabet");
    UnifiedSocialCreditCode::new(format!("{first17}{check}")).expect("valid by construction")
}

/// One founding organisation with its account key.
#[derive(Clone, Debug)]
pub struct Member {
    /// The organisation.
    pub org: Organisation,
    /// Its account key.
    pub key: SigningKey,
}

/// A local consortium.
#[derive(Clone, Debug)]
pub struct Devnet {
    /// The genesis document.
    pub genesis: Genesis,
    /// Validator keys, in genesis order.
    pub validator_keys: Vec<ed25519::PrivateKey>,
    /// The provincial energy-saving authority (regulator).
    pub regulator: Member,
    /// The metrology authority.
    pub metrology: Member,
    /// The statistics bureau.
    pub statistics: Member,
    /// Enterprises (key energy-consuming units).
    pub enterprises: Vec<Member>,
}

/// The cryptography of a local consortium's chain data and member accounts. Consensus keys are
/// Ed25519 whatever is chosen here (Commonware's attributable Ed25519 scheme).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevnetCrypto {
    /// The chain's hash algorithm (`ChainParams::hash`).
    pub hash: HashAlg,
    /// The scheme of the founding members' account keys.
    pub account_scheme: KeyScheme,
}

impl Default for DevnetCrypto {
    /// SHA-256 and Ed25519.
    fn default() -> Self {
        Self { hash: HashAlg::Sha256, account_scheme: KeyScheme::Ed25519 }
    }
}

/// A key of `scheme` derived from the devnet seed and a label (local networks only).
pub fn seed_key(seed: u64, label: &str, scheme: KeyScheme) -> SigningKey {
    // Key derivation is not chain data: always SHA-256, so Ed25519 devnet keys stay the same.
    let h = trustmeter_crypto::tagged_hash(
        HashAlg::Sha256,
        b"trustmeter/devnet-key/v1",
        format!("{seed}/{label}").as_bytes(),
    );
    SigningKey::from_seed(scheme, h.0)
}

impl Devnet {
    /// A consortium of `validators` validators (one per founding authority, cycling) and
    /// `enterprises` enterprises, with p2p ports from `base_port`; SHA-256 and Ed25519 accounts.
    pub fn new(
        chain_id: &str,
        validators: usize,
        enterprises: usize,
        seed: u64,
        genesis_time_ms: i64,
        base_port: u16,
    ) -> Self {
        Self::with_crypto(chain_id, validators, enterprises, seed, genesis_time_ms, base_port, DevnetCrypto::default())
    }

    /// Like [`Devnet::new`], with the chain's hash algorithm and the members' key scheme chosen
    /// (e.g. SM3 and SM2 for a 国密 deployment).
    pub fn with_crypto(
        chain_id: &str,
        validators: usize,
        enterprises: usize,
        seed: u64,
        genesis_time_ms: i64,
        base_port: u16,
        crypto: DevnetCrypto,
    ) -> Self {
        let region = 430_000; // Hunan
        // Every key is derived from the seed *and the chain id*: two devnets from one seed (the
        // demo's provincial and national chains) share no validator or account key.
        let member = |body: &str, name: &str, kind, label: &str| Member {
            org: Organisation { id: credit_code(body), name: name.into(), kind, region },
            key: devnet_account_key(seed, chain_id, label, crypto.account_scheme),
        };
        let regulator = member(
            "11430000MB1234567",
            "Hunan Provincial Energy Conservation Supervision Center",
            OrgKind::Regulator,
            "regulator",
        );
        let metrology = member(
            "12430000MB7654321",
            "Hunan Institute of Metrology and Test",
            OrgKind::MetrologyAuthority,
            "metrology",
        );
        let statistics = member(
            "11430000MB0000001",
            "Hunan Provincial Bureau of Statistics",
            OrgKind::StatisticsBureau,
            "statistics",
        );
        let enterprises: Vec<Member> = (0..enterprises)
            .map(|i| {
                member(
                    &format!("914301007{:08}", 1000 + i),
                    &format!("Changsha Machinery Works No. {}", i + 1),
                    OrgKind::Enterprise,
                    &format!("enterprise-{i}"),
                )
            })
            .collect();
        let authorities = [&regulator, &metrology, &statistics];
        let validator_keys: Vec<ed25519::PrivateKey> =
            (0..validators).map(|i| devnet_validator_key(seed, chain_id, i)).collect();
        let validators_g = validator_keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                name: format!("validator-{i}"),
                org: authorities[i % authorities.len()].org.id.clone(),
                consensus_key: hex::encode(k.public_key().as_ref()),
                p2p_address: format!("127.0.0.1:{}", base_port + i as u16),
                self_stake: DEVNET_SELF_STAKE,
            })
            .collect();
        let mut organisations: Vec<Organisation> = authorities.iter().map(|m| m.org.clone()).collect();
        organisations.extend(enterprises.iter().map(|m| m.org.clone()));
        let mut accounts: Vec<GenesisAccount> = authorities
            .iter()
            .map(|m| GenesisAccount { org: m.org.id.clone(), public_key: m.key.public_key() })
            .collect();
        accounts.extend(
            enterprises.iter().map(|m| GenesisAccount { org: m.org.id.clone(), public_key: m.key.public_key() }),
        );
        let allocations = authorities
            .iter()
            .map(|m| GenesisAllocation { org: m.org.id.clone(), amount: DEVNET_AUTHORITY_BALANCE })
            .chain(
                enterprises
                    .iter()
                    .map(|m| GenesisAllocation { org: m.org.id.clone(), amount: DEVNET_ENTERPRISE_BALANCE }),
            )
            .collect();
        let mut params = ChainParams { hash: crypto.hash, ..ChainParams::default() };
        // The regulator runs two of a four-validator devnet's validators.
        params.economy.staking.max_org_share_percent = 50;
        let genesis = Genesis {
            chain_id: ChainId::new(chain_id).expect("valid chain id"),
            genesis_time_ms,
            params,
            organisations,
            accounts,
            validators: validators_g,
            allocations,
            devnet_seed: Some(seed),
        };
        Devnet { genesis, validator_keys, regulator, metrology, statistics, enterprises }
    }

    /// The validator set as consensus wants it.
    pub fn participants(&self) -> Set<ed25519::PublicKey> {
        participants(&self.genesis).expect("devnet genesis is valid")
    }
}

/// Labels of a devnet's founding accounts, in genesis order: the three authorities, then
/// `enterprise-0`, `enterprise-1` …
fn devnet_account_label(i: usize) -> String {
    match i {
        0 => "regulator".into(),
        1 => "metrology".into(),
        2 => "statistics".into(),
        _ => format!("enterprise-{}", i - 3),
    }
}

/// A devnet founding account's key: derived from the seed, the chain id and the member's label
/// (local networks only).
pub fn devnet_account_key(seed: u64, chain_id: &str, label: &str, scheme: KeyScheme) -> SigningKey {
    seed_key(seed, &format!("{chain_id}/{label}"), scheme)
}

/// A devnet validator's consensus key: the Ed25519 key whose RFC 8032 seed is
/// `SHA-256("trustmeter/devnet-validator-key/v1" ‖ "<seed>/<chain id>/<index>")` (local networks
/// only).
pub fn devnet_validator_key(seed: u64, chain_id: &str, index: usize) -> ed25519::PrivateKey {
    let h = trustmeter_crypto::tagged_hash(
        HashAlg::Sha256,
        b"trustmeter/devnet-validator-key/v1",
        format!("{seed}/{chain_id}/{index}").as_bytes(),
    );
    consensus_key_from_seed(&h.0)
}

/// The consensus (Commonware) Ed25519 key with this RFC 8032 seed: the same key pair as
/// `trustmeter_crypto::SigningKey` of scheme Ed25519 with the same secret bytes, so a validator
/// key lives in an ordinary key file (`trustmeter-keystore`).
pub fn consensus_key_from_seed(seed: &[u8; 32]) -> ed25519::PrivateKey {
    <ed25519::PrivateKey as commonware_codec::DecodeExt<()>>::decode(seed.to_vec())
        .expect("any 32 bytes are an Ed25519 seed")
}

/// Seeds `trustmeter node init` accepts (`--seed`), all of which [`devnet_keys_in`] checks.
pub const DEVNET_SEEDS: std::ops::RangeInclusive<u64> = 0..=255;

/// The genesis keys of a chain that come from the devnet derivation with any seed in
/// [`DEVNET_SEEDS`] and the genesis's chain id, described ("validator validator-0 (devnet seed
/// 1)"). A real chain (`devnet_seed: None`) must have none: those keys' secrets are public.
///
/// Cost: |seeds| × (validators + accounts) key derivations, ~30 ms for a four-party genesis.
pub fn devnet_keys_in(genesis: &Genesis) -> Vec<String> {
    let chain = genesis.chain_id.as_str();
    let validators: std::collections::HashMap<String, &str> =
        genesis.validators.iter().map(|v| (v.consensus_key.to_ascii_lowercase(), v.name.as_str())).collect();
    let accounts: std::collections::HashMap<&trustmeter_types::PublicKey, &UnifiedSocialCreditCode> =
        genesis.accounts.iter().map(|a| (&a.public_key, &a.org)).collect();
    let schemes: std::collections::BTreeSet<KeyScheme> = genesis.accounts.iter().map(|a| a.public_key.scheme).collect();
    let mut found = vec![];
    for seed in DEVNET_SEEDS {
        for i in 0..genesis.validators.len() {
            let public = hex::encode(devnet_validator_key(seed, chain, i).public_key().as_ref());
            if let Some(name) = validators.get(&public) {
                found.push(format!("validator {name} (devnet seed {seed})"));
            }
        }
        for i in 0..genesis.accounts.len() {
            for scheme in &schemes {
                let public = devnet_account_key(seed, chain, &devnet_account_label(i), *scheme).public_key();
                if let Some(org) = accounts.get(&public) {
                    found.push(format!("account {public} of {org} (devnet seed {seed})"));
                }
            }
        }
    }
    found
}

/// The validator set named in a genesis document.
pub fn participants(genesis: &Genesis) -> Result<Set<ed25519::PublicKey>, String> {
    trustmeter_client::consensus::validator_set(genesis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(d: &Devnet) -> Vec<String> {
        let mut out: Vec<String> = d.validator_keys.iter().map(|k| hex::encode(k.public_key().as_ref())).collect();
        out.extend(d.genesis.accounts.iter().map(|a| a.public_key.to_string()));
        out
    }

    #[test]
    fn two_chains_from_one_seed_share_no_key_and_each_is_reproducible() {
        let provincial = Devnet::new("hunan-1", 4, 2, 1, 0, 0);
        let national = Devnet::new("national-1", 4, 2, 1, 0, 0);
        let (p, n) = (keys(&provincial), keys(&national));
        assert_eq!(p.len(), 4 + 5);
        let all: std::collections::BTreeSet<&String> = p.iter().chain(&n).collect();
        assert_eq!(all.len(), p.len() + n.len(), "a key is shared between the chains or within one");
        assert_eq!(keys(&Devnet::new("hunan-1", 4, 2, 1, 0, 0)), p, "the same seed and chain give the same keys");
        assert_ne!(keys(&Devnet::new("hunan-1", 4, 2, 2, 0, 0)), p, "another seed gives other keys");
    }
}
