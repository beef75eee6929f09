//! Node configuration (TOML) and key files.

use anyhow::{Context, Result, bail};
use commonware_cryptography::{Signer, ed25519};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use trustmeter_crypto::SigningKey;
use trustmeter_keystore::{KeyFile, KeyMeta};
use trustmeter_types::{Genesis, KeyScheme, codec::Validate};

/// One validator node's configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Validator name as in genesis.
    pub name: String,
    /// Directory for consensus storage, the index and logs.
    pub data_dir: PathBuf,
    /// The chain's genesis document (JSON).
    pub genesis: PathBuf,
    /// The validator's key file (`trustmeter-keystore/v1`, Ed25519, mode 0600, optionally
    /// encrypted), as `trustmeter org init` or `node init` wrote it.
    pub key_file: PathBuf,
    /// The environment variable holding the key file's passphrase, if it is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_passphrase_env: Option<String>,
    /// Where the p2p listener binds.
    pub p2p_listen: SocketAddr,
    /// Where the HTTP API binds.
    pub api_listen: SocketAddr,
    /// Accept peers on private and loopback addresses (local consortia). Turn off on the
    /// government extranet or the internet.
    #[serde(default = "default_true")]
    pub allow_private_ips: bool,
    /// Consensus leader timeout, milliseconds.
    #[serde(default = "default_leader_timeout")]
    pub leader_timeout_ms: u64,
    /// The alarm engine (`[alarms]`: pass interval, `[[alarms.thresholds]]` over-use limits,
    /// `[alarms.anomaly]`); defaults to no thresholds and the default anomaly rule.
    #[serde(default)]
    pub alarms: trustmeter_analytics::alarms::AlarmConfig,
    /// The API (`[api]`): how many expensive requests (proofs, series, exports, figure rollups)
    /// run at once; beyond, `503 busy` with `Retry-After`.
    #[serde(default)]
    pub api: crate::api::limits::ApiConfig,
    /// With an empty data directory, sync the state at a peer's latest certified height instead
    /// of executing every block from genesis (a new validator, or one whose disk was lost). The
    /// synced node keeps blocks and proofs from that height on.
    #[serde(default)]
    pub state_sync: bool,
    /// The state store's page cache, MiB (16–65 536; default 256). Registry records and the
    /// current hours' window points are read for every reading: at 10⁶ meters, 1 024 MiB made
    /// `bench ingest` 8 % faster than 256 (README, Benchmark).
    #[serde(default = "default_state_cache_mib")]
    pub state_cache_mib: usize,
}

fn default_true() -> bool {
    true
}
/// The state store's page cache a node uses unless configured, MiB.
pub const DEFAULT_STATE_CACHE_MIB: usize = 256;
fn default_state_cache_mib() -> usize {
    DEFAULT_STATE_CACHE_MIB
}
fn default_leader_timeout() -> u64 {
    1_000
}

impl NodeConfig {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading node config {}", path.display()))?;
        let mut cfg: NodeConfig =
            toml::from_str(&text).with_context(|| format!("parsing node config {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut cfg.data_dir, &mut cfg.genesis, &mut cfg.key_file] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        for p in [cfg.api.tls_cert.as_mut(), cfg.api.tls_key.as_mut()].into_iter().flatten() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Err(e) = cfg.alarms.validate() {
            bail!("node config {}: {e}", path.display());
        }
        if let Err(e) = cfg.api.validate() {
            bail!("node config {}: {e}", path.display());
        }
        if !(16..=65_536).contains(&cfg.state_cache_mib) {
            bail!("node config {}: state_cache_mib must be between 16 and 65536", path.display());
        }
        Ok(cfg)
    }
}

/// Reads and validates a genesis document.
pub fn load_genesis(path: &Path) -> Result<Genesis> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading genesis {}", path.display()))?;
    let g: Genesis = serde_json::from_str(&text).with_context(|| format!("parsing genesis {}", path.display()))?;
    if let Err(e) = g.validate() {
        bail!("genesis {} is invalid: {e}", path.display());
    }
    Ok(g)
}

/// Loads a validator's consensus key from its key file (`trustmeter-keystore/v1`, Ed25519):
/// refuses files other users can read, and decrypts with `passphrase` if the file is encrypted.
pub fn load_validator_key(path: &Path, passphrase: Option<&str>) -> Result<ed25519::PrivateKey> {
    let (key, info) =
        KeyFile::load(path, passphrase).with_context(|| format!("loading validator key file {}", path.display()))?;
    if info.scheme != KeyScheme::Ed25519 {
        bail!("validator key file {} holds an {} key; consensus keys are Ed25519", path.display(), info.scheme.name());
    }
    let secret = zeroize::Zeroizing::new(key.secret_bytes());
    let seed: &[u8; 32] = secret.as_slice().try_into().context("an Ed25519 secret is 32 bytes")?;
    let consensus = trustmeter_chain::devnet::consensus_key_from_seed(seed);
    anyhow::ensure!(
        consensus.public_key().as_ref() == info.public_key.bytes.as_slice(),
        "validator key file {}: the consensus key differs from the file's public key",
        path.display()
    );
    Ok(consensus)
}

/// Writes a validator's consensus key to a key file (atomically, mode 0600; encrypted when
/// `passphrase` is given). `overwrite` replaces an existing file.
pub fn write_validator_key(
    path: &Path,
    key: &ed25519::PrivateKey,
    label: &str,
    meta: &KeyMeta,
    passphrase: Option<&str>,
    overwrite: bool,
) -> Result<()> {
    use commonware_codec::Encode;
    let seed: [u8; 32] = key.encode().as_ref().try_into().context("an Ed25519 consensus key is 32 bytes")?;
    let ours = SigningKey::ed25519_from_seed(seed);
    KeyFile::write(path, &ours, label, meta, passphrase, overwrite)
        .with_context(|| format!("writing validator key file {}", path.display()))?;
    Ok(())
}

/// Refuses a genesis that is not a devnet's but has keys from the devnet derivation, whose
/// secrets anyone can compute; warns loudly about a devnet genesis.
pub fn refuse_public_keys(genesis: &Genesis) -> Result<()> {
    match genesis.devnet_seed {
        Some(seed) => {
            tracing::warn!(
                chain = %genesis.chain_id,
                seed,
                "DEVNET: every key of this chain derives from a public seed; never use it for real data"
            );
            Ok(())
        }
        None => {
            let found = trustmeter_chain::devnet::devnet_keys_in(genesis);
            if found.is_empty() {
                Ok(())
            } else {
                bail!(
                    "genesis of {} is not marked devnet, but these keys come from the public devnet derivation (anyone can sign with them): {}; make the genesis by a ceremony (trustmeter org init, trustmeter genesis assemble)",
                    genesis.chain_id,
                    found.join(", ")
                )
            }
        }
    }
}

/// Hex of a validator public key, as genesis names it.
pub fn validator_public_hex(key: &ed25519::PrivateKey) -> String {
    hex::encode(key.public_key().as_ref())
}
