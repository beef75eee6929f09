//! The founding document of a chain: its id, parameters, founding organisations, their accounts
//! and the validator set. Every node of the chain holds the same genesis; its hash names the chain's
//! history, and offline verifiers check finality certificates against its validator set.

use crate::codec::{Validate, check_len};
use crate::economy::{Amount, EconomyParams, GenesisAllocation};
use crate::ids::{ChainId, UnifiedSocialCreditCode};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::membership::GovernanceParams;
use crate::registry::{OrgKind, Organisation};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// The hash function a chain uses for its own data: transaction ids, Merkle trees (transactions,
/// readings, receipts, state), state leaves, meter history chains and block digests.
///
/// Fixed at genesis and never changed. It does not apply to Commonware's consensus machinery
/// (votes, certificates, leader election, p2p), which keeps its own Ed25519 and SHA-256.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum HashAlg {
    /// SHA-256 (FIPS 180-4). The default of `trustmeter node init`.
    #[default]
    Sha256 = 0,
    /// SM3 (GB/T 32905-2016, 国密), for deployments that require Chinese national algorithms.
    Sm3 = 1,
}

impl HashAlg {
    /// Lowercase name, as in genesis files and on the command line (`sha256`, `sm3`).
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha256 => "sha256",
            HashAlg::Sm3 => "sm3",
        }
    }
}

impl std::fmt::Display for HashAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for HashAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sha256" | "sha-256" => Ok(HashAlg::Sha256),
            "sm3" => Ok(HashAlg::Sm3),
            _ => Err(format!("unknown hash algorithm {s:?}; use sha256 or sm3")),
        }
    }
}

/// Consensus-relevant parameters. In JSON every field is required and no other is accepted.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainParams {
    /// How far a reading's timestamp may lie after its block's timestamp (clock skew allowance).
    pub max_future_skew_ms: i64,
    /// Most transactions a proposer puts in one block (≤ the protocol limit).
    pub max_block_txs: u32,
    /// Most readings a proposer puts in one block (≤ the protocol limit).
    pub max_block_readings: u32,
    /// How long before a meter's calibration certificate expires the chain raises a
    /// `calibration_expiring` alarm (检定到期预警), in milliseconds.
    pub calibration_warning_ms: i64,
    /// The hash function of the chain's data (`"sha256"` or `"sm3"`).
    pub hash: HashAlg,
    /// How readings become energy figures (reference data version, late-data window, collection
    /// interval).
    pub accounting: AccountingParams,
    /// How membership decisions are taken after genesis (k of n regulators, proposal lifetime).
    pub governance: GovernanceParams,
    /// The token's supply policy and the staking rules (epochs, elections, slashing).
    pub economy: EconomyParams,
}

/// Parameters of the on-chain energy accounting (能耗核算). In JSON every field is required.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountingParams {
    /// The built-in reference data set (coal coefficients, 等价值 per year, time-of-use schedules)
    /// every figure on this chain is computed with, e.g. `"cn-2026.1"`. Each figure records it.
    pub reference: String,
    /// How late a reading may arrive, behind the block time, and still be placed by its own
    /// timestamp (correcting the periods it falls in). Older readings are refused.
    pub late_window_ms: i64,
    /// The nominal collection interval (15 min): the grid for completeness, and gaps longer than
    /// twice this are marked estimated.
    pub nominal_interval_ms: i64,
    /// A reading recorded within this long after its timestamp counts as timely (及时性).
    pub timeliness_ms: i64,
}

impl Default for AccountingParams {
    fn default() -> Self {
        Self {
            reference: DEFAULT_REFERENCE_SET.to_string(),
            late_window_ms: 7 * 24 * 3_600_000,
            nominal_interval_ms: 15 * 60_000,
            timeliness_ms: 3_600_000,
        }
    }
}

/// The reference data set new chains use (`trustmeter_energy::reference::LATEST`).
pub const DEFAULT_REFERENCE_SET: &str = "cn-2026.1";

/// Default calibration warning window: 30 days.
pub const DEFAULT_CALIBRATION_WARNING_MS: i64 = 30 * 24 * 3_600_000;

impl Default for ChainParams {
    fn default() -> Self {
        Self {
            max_future_skew_ms: 120_000,
            max_block_txs: 1_024,
            max_block_readings: 16_384,
            calibration_warning_ms: DEFAULT_CALIBRATION_WARNING_MS,
            hash: HashAlg::Sha256,
            accounting: AccountingParams::default(),
            governance: GovernanceParams::default(),
            economy: EconomyParams::default(),
        }
    }
}

/// A founding organisation.
pub type GenesisOrganisation = Organisation;

/// A founding account: a key of a founding organisation.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAccount {
    /// The organisation.
    pub org: UnifiedSocialCreditCode,
    /// The account key.
    pub public_key: PublicKey,
}

/// A genesis validator.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// Short name (used for data directories and logs).
    pub name: String,
    /// The organisation that runs it.
    pub org: UnifiedSocialCreditCode,
    /// Consensus and p2p identity: Ed25519 public key, 64 hex characters.
    pub consensus_key: String,
    /// p2p listen address, `host:port`.
    pub p2p_address: String,
    /// Micro-tokens its organisation bonds to it at genesis (its self-stake; part of the supply).
    pub self_stake: Amount,
}

/// The genesis document. In JSON every field, at every level, is required and no other field is
/// accepted. Two genesis documents are the same chain's when their canonical (borsh) encodings
/// are equal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain.
    pub chain_id: ChainId,
    /// Genesis time, Unix milliseconds: the timestamp of block 0.
    pub genesis_time_ms: i64,
    /// Parameters.
    pub params: ChainParams,
    /// Founding organisations.
    pub organisations: Vec<GenesisOrganisation>,
    /// Founding accounts.
    pub accounts: Vec<GenesisAccount>,
    /// The validator set of epochs 0 and 1 (later sets are elected: [`crate::economy`]).
    pub validators: Vec<GenesisValidator>,
    /// Founding token balances ([`crate::economy`]); with the validators' self-stakes, the supply
    /// at genesis, at most the cap.
    pub allocations: Vec<GenesisAllocation>,
    /// `Some(seed)` for a local devnet (`trustmeter node init`), whose every key derives from that
    /// public seed: never for real data. `None` for a real chain, made by a genesis ceremony from
    /// keys generated on their owners' machines; a node refuses to run a real chain whose keys
    /// come from the devnet derivation.
    pub devnet_seed: Option<u64>,
}

impl Validate for Genesis {
    fn validate(&self) -> Result<(), String> {
        self.chain_id.check()?;
        check_len("genesis organisations", self.organisations.len(), MAX_GENESIS_ENTRIES)?;
        check_len("genesis accounts", self.accounts.len(), MAX_GENESIS_ENTRIES)?;
        check_len("genesis validators", self.validators.len(), MAX_GENESIS_ENTRIES)?;
        if self.validators.is_empty() {
            return Err("genesis has no validators".into());
        }
        if self.params.max_block_txs as usize > MAX_TXS_PER_BLOCK
            || self.params.max_block_readings as usize > MAX_READINGS_PER_BLOCK
        {
            return Err("block limits in params exceed the protocol limits".into());
        }
        if !(0..=MAX_FUTURE_SKEW_MS).contains(&self.params.max_future_skew_ms) {
            return Err(format!("max_future_skew_ms must be between 0 and {MAX_FUTURE_SKEW_MS}"));
        }
        if !(0..=MAX_LATE_WINDOW_MS).contains(&self.params.accounting.late_window_ms) {
            return Err(format!("accounting.late_window_ms must be between 0 and {MAX_LATE_WINDOW_MS} (31 days)"));
        }
        if self.params.calibration_warning_ms < 0 {
            return Err("calibration_warning_ms must not be negative".into());
        }
        self.params.governance.check()?;
        self.params.economy.check()?;
        check_len("genesis allocations", self.allocations.len(), MAX_GENESIS_ENTRIES)?;
        if self.validators.len() > crate::economy::MAX_ELECTED as usize {
            return Err(format!("genesis has more than {} validators", crate::economy::MAX_ELECTED));
        }
        let supply = self.supply().ok_or("genesis allocations overflow")?;
        if supply > self.params.economy.token.cap {
            return Err(format!(
                "genesis allocations and self-stakes ({supply} µ) exceed the token cap ({} µ)",
                self.params.economy.token.cap
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        for o in &self.organisations {
            o.check().map_err(|e| format!("organisation {}: {e}", o.id))?;
            if !ids.insert(&o.id) {
                return Err(format!("organisation {} is listed twice", o.id));
            }
        }
        let regulators = self.organisations.iter().filter(|o| o.kind == OrgKind::Regulator).count();
        check_len("genesis regulators", regulators, MAX_REGULATORS)?;
        let mut keys = std::collections::BTreeSet::new();
        for a in &self.accounts {
            if !keys.insert(&a.public_key) {
                return Err(format!("account key {} is listed twice", a.public_key));
            }
            let n = self.accounts.iter().filter(|b| b.org == a.org).count();
            if n > MAX_ACCOUNTS_PER_ORG {
                return Err(format!("organisation {} has {n} accounts; at most {MAX_ACCOUNTS_PER_ORG}", a.org));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        let mut consensus_keys = std::collections::BTreeSet::new();
        for v in &self.validators {
            if !names.insert(&v.name) {
                return Err(format!("validator name {} is used twice", v.name));
            }
            if !consensus_keys.insert(v.consensus_key.to_ascii_lowercase()) {
                return Err(format!("validator key {} is listed twice", v.consensus_key));
            }
        }
        let known = |org: &UnifiedSocialCreditCode| self.organisations.iter().any(|o| &o.id == org);
        for a in &self.accounts {
            a.public_key.check()?;
            if !known(&a.org) {
                return Err(format!("account {} names unknown organisation {}", a.public_key, a.org));
            }
        }
        for v in &self.validators {
            check_len("validator name", v.name.len(), MAX_NAME_LEN)?;
            if !known(&v.org) {
                return Err(format!("validator {} names unknown organisation {}", v.name, v.org));
            }
            crate::economy::check_address(&v.p2p_address).map_err(|e| format!("validator {}: {e}", v.name))?;
            let key = hex::decode(&v.consensus_key).map_err(|_| format!("validator {} key is not hex", v.name))?;
            if key.len() != 32 {
                return Err(format!("validator {} key must be 32 bytes", v.name));
            }
        }
        let mut allocated = std::collections::BTreeSet::new();
        for a in &self.allocations {
            if !known(&a.org) {
                return Err(format!("allocation names unknown organisation {}", a.org));
            }
            if !allocated.insert(&a.org) {
                return Err(format!("organisation {} has two allocations", a.org));
            }
        }
        Ok(())
    }
}

impl Genesis {
    /// The supply at genesis: the allocations plus the validators' self-stakes (`None` on
    /// overflow).
    pub fn supply(&self) -> Option<Amount> {
        let a = self.allocations.iter().try_fold(0u64, |t, a| t.checked_add(a.amount))?;
        self.validators.iter().try_fold(a, |t, v| t.checked_add(v.self_stake))
    }
}
