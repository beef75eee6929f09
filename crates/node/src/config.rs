//! Node configuration (TOML) and key files.

use anyhow::{Context, Result, bail};
use commonware_cryptography::{Signer, ed25519};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use trustmeter_types::{Genesis, codec::Validate};

/// One validator node's configuration file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeConfig {
    /// Validator name as in genesis.
    pub name: String,
    /// Directory for consensus storage, the index and logs.
    pub data_dir: PathBuf,
    /// The chain's genesis document (JSON).
    pub genesis: PathBuf,
    /// The validator's private key file (hex, owner-only permissions).
    pub key_file: PathBuf,
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
    pub alarms: crate::alarms::AlarmConfig,
    /// The API (`[api]`): how many expensive requests (proofs, series, exports, figure rollups)
    /// run at once; beyond, `503 busy` with `Retry-After`.
    #[serde(default)]
    pub api: crate::limits::ApiConfig,
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

/// Writes a file readable by its owner only (keys).
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Reads a validator key file (hex of the 32-byte Ed25519 secret). Refuses files others can read.
pub fn load_validator_key(path: &Path) -> Result<ed25519::PrivateKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading key file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "key file {} is readable by other users (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            );
        }
    }
    let text = std::fs::read_to_string(path)?;
    let bytes = hex::decode(text.trim()).with_context(|| format!("key file {} is not hex", path.display()))?;
    let key = <ed25519::PrivateKey as commonware_codec::DecodeExt<()>>::decode(bytes)
        .map_err(|e| anyhow::anyhow!("key file {} does not hold an Ed25519 key: {e:?}", path.display()))?;
    Ok(key)
}

/// Hex of a validator private key, for its key file.
pub fn validator_key_hex(key: &ed25519::PrivateKey) -> String {
    use commonware_codec::Encode;
    hex::encode(key.encode())
}

/// Hex of a validator public key, as genesis names it.
pub fn validator_public_hex(key: &ed25519::PrivateKey) -> String {
    hex::encode(key.public_key().as_ref())
}
