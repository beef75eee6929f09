//! The gateway's TOML configuration: identity, storage, destinations (one per chain), alarm
//! thresholds and the points it reads. See the README's "Configuring a gateway" section for a
//! commented example.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use trustmeter_meters::PointConfig;
use trustmeter_types::DeviceId;
use trustmeter_types::limits::MAX_READINGS_PER_TX;

use crate::store::DEFAULT_RETENTION_DAYS;

/// Most destinations (chains) one gateway sends to.
pub const MAX_DESTINATIONS: usize = 8;
/// Most points one gateway reads.
pub const MAX_POINTS: usize = 20_000;

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read gateway config {path}: {detail}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// The TOML does not parse or has wrong fields.
    #[error("gateway config {path}: {detail}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message (with line and column).
        detail: String,
    },
    /// The values are inconsistent.
    #[error("gateway config: {0}")]
    Invalid(String),
}

/// The whole file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Identity, storage and local API.
    pub gateway: GatewaySection,
    /// Alarm thresholds.
    #[serde(default)]
    pub alarms: AlarmConfig,
    /// The chains to send to (一端双发: the provincial and the national chain).
    #[serde(rename = "destination")]
    pub destinations: Vec<DestinationConfig>,
    /// The points to read.
    #[serde(rename = "point", default)]
    pub points: Vec<PointConfig>,
}

/// `[gateway]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    /// The gateway's registered device id.
    pub id: DeviceId,
    /// Data directory (store, key file); relative paths are relative to the config file.
    pub data_dir: PathBuf,
    /// The device key file, relative to `data_dir` unless absolute.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
    /// Environment variable holding the key file's passphrase, if it is encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_env: Option<String>,
    /// Local status and admin API (loopback only by default).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The local API's budgets (`[gateway.http]`: connections in all and per address, header
    /// and body read timeouts); an operator's API needs few connections.
    #[serde(default = "default_http_limits")]
    pub http: trustmeter_httpserve::ServerLimits,
    /// Let the local API listen on an address that is not loopback (default `false`: the
    /// gateway refuses to start with such a `listen`). Writes still need the operator token.
    #[serde(default)]
    pub api_remote: bool,
    /// Host names (`name` or `name:port`) the local API answers to besides loopback addresses,
    /// `localhost` and the `listen` address itself; any other `Host` is refused (no DNS
    /// rebinding).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_hosts: Vec<String>,
    /// Web origins (`http://host:port`) allowed to call the local API from a browser; a request
    /// carrying any other `Origin` is refused (no cross-site requests). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_origins: Vec<String>,
    /// Days readings are kept after every destination settled them.
    #[serde(default = "default_retention")]
    pub retention_days: u32,
    /// Largest step between the gateway clock and its monotonic clock before readings are
    /// flagged `clock_suspect` (a clock jump), in milliseconds.
    #[serde(default = "default_max_clock_step_ms")]
    pub max_clock_step_ms: i64,
    /// Largest difference between the gateway clock and a chain's latest block time before
    /// readings are flagged `clock_suspect` (drift), in milliseconds.
    #[serde(default = "default_max_chain_drift_ms")]
    pub max_chain_drift_ms: i64,
    /// Simulated time: run the clock this many times faster than real time, starting at
    /// `simulation_start_ms` (demo and tests only; a real gateway leaves it unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation_speed: Option<f64>,
    /// Start of simulated time, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation_start_ms: Option<i64>,
}

/// The gateway's local API: 64 connections, 16 from one address, the server's default timeouts.
pub fn default_http_limits() -> trustmeter_httpserve::ServerLimits {
    trustmeter_httpserve::ServerLimits {
        max_connections: 64,
        max_connections_per_ip: 16,
        ..trustmeter_httpserve::ServerLimits::default()
    }
}

fn default_key_file() -> PathBuf {
    PathBuf::from("gateway.key")
}
fn default_listen() -> SocketAddr {
    "127.0.0.1:7070".parse().expect("constant")
}
fn default_retention() -> u32 {
    DEFAULT_RETENTION_DAYS
}
fn default_max_clock_step_ms() -> i64 {
    2_000
}
fn default_max_chain_drift_ms() -> i64 {
    60_000
}

/// `[alarms]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmConfig {
    /// A point with no value for this many poll intervals raises `no_data`.
    #[serde(default = "default_no_data_polls")]
    pub no_data_polls: u32,
    /// An MQTT point with no message for this long raises `no_data`, in seconds.
    #[serde(default = "default_push_silence_s")]
    pub push_silence_s: u64,
    /// A destination with more unsettled readings than this raises `backlog`.
    #[serde(default = "default_backlog_readings")]
    pub backlog_readings: u64,
    /// A destination whose oldest unsettled reading is older than this raises `backlog`, in
    /// seconds (gateway clock).
    #[serde(default = "default_backlog_age_s")]
    pub backlog_age_s: u64,
    /// Days before a meter's calibration certificate expires that `calibration_expiring` is
    /// raised.
    #[serde(default = "default_calibration_warning_days")]
    pub calibration_warning_days: u32,
    /// How long `message_refused` stays raised after the last MQTT message refused for a point,
    /// in seconds (gateway clock; default 3 600). A good message does not clear it: the refused
    /// one's value is lost whatever comes after.
    #[serde(default = "default_refused_message_hold_s")]
    pub refused_message_hold_s: u64,
}

fn default_no_data_polls() -> u32 {
    3
}
fn default_push_silence_s() -> u64 {
    900
}
fn default_backlog_readings() -> u64 {
    50_000
}
fn default_backlog_age_s() -> u64 {
    3_600
}
fn default_calibration_warning_days() -> u32 {
    30
}
fn default_refused_message_hold_s() -> u64 {
    3_600
}

impl Default for AlarmConfig {
    fn default() -> Self {
        Self {
            no_data_polls: default_no_data_polls(),
            push_silence_s: default_push_silence_s(),
            backlog_readings: default_backlog_readings(),
            backlog_age_s: default_backlog_age_s(),
            calibration_warning_days: default_calibration_warning_days(),
            refused_message_hold_s: default_refused_message_hold_s(),
        }
    }
}

/// `[[destination]]`: one chain.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Short name (`provincial`, `national`); names the durable queue.
    pub name: String,
    /// API URLs of the chain's nodes; the sender fails over between them.
    pub nodes: Vec<String>,
    /// Most readings per transaction.
    #[serde(default = "default_max_batch")]
    pub max_batch_readings: usize,
    /// First retry delay after a failure, in milliseconds (doubles up to `max_backoff_ms`, with
    /// ±50 % jitter).
    #[serde(default = "default_min_backoff_ms")]
    pub min_backoff_ms: u64,
    /// Longest retry delay, in milliseconds.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// How often an unfinalized transaction is polled, in milliseconds.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    /// Per-request timeout, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// PEM file of the CA certificates that sign the chain's nodes' TLS certificates
    /// (`https://` nodes; relative to the config file). Default: `TRUSTMETER_CA_FILE`, else the
    /// platform's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// The chain's genesis file, as the consortium distributed it (relative to the config file):
    /// the validator set every receipt, policy and meter record is checked against before the
    /// gateway acts on it. Without it, the genesis is fetched from the nodes and checked against
    /// `genesis_hash`, or, without that either, pinned on first contact
    /// (`<data_dir>/genesis-<name>.json`, with a warning naming its hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis: Option<PathBuf>,
    /// The hash of the chain's genesis (hex, as `trustmeter node ceremony` prints it), when the
    /// genesis file is fetched from the nodes instead of configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_hash: Option<String>,
}

fn default_max_batch() -> usize {
    2_000
}
fn default_min_backoff_ms() -> u64 {
    200
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_poll_ms() -> u64 {
    100
}
fn default_request_timeout_ms() -> u64 {
    5_000
}

impl GatewayConfig {
    /// Reads and validates a config file; relative paths are resolved against its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.display().to_string(), detail: e.to_string() })?;
        let mut cfg = Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { detail, .. } => ConfigError::Parse { path: path.display().to_string(), detail },
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if cfg.gateway.data_dir.is_relative() {
            cfg.gateway.data_dir = base.join(&cfg.gateway.data_dir);
        }
        for d in &mut cfg.destinations {
            if let Some(ca) = d.ca_file.as_mut().filter(|c| c.is_relative()) {
                *ca = base.join(&*ca);
            }
            if let Some(g) = d.genesis.as_mut().filter(|g| g.is_relative()) {
                *g = base.join(&*g);
            }
        }
        Ok(cfg)
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let cfg: GatewayConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: "<text>".into(), detail: e.to_string() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks consistency: destinations, points, limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if let Err(e) = self.gateway.http.validate() {
            return bad(format!("[gateway.http] {e}"));
        }
        if !self.gateway.listen.ip().is_loopback() && !self.gateway.api_remote {
            return bad(format!(
                "[gateway] listen = {} is not a loopback address: the local API is the operator's; set api_remote = true to expose it (writes still need the operator token) and list the names it is reached by in api_hosts",
                self.gateway.listen
            ));
        }
        if self.gateway.api_hosts.len() > 64 || self.gateway.api_origins.len() > 64 {
            return bad("[gateway] api_hosts and api_origins list at most 64 entries each".into());
        }
        if self.destinations.is_empty() {
            return bad("give at least one [[destination]] (the provincial chain, and the national one)".into());
        }
        if self.destinations.len() > MAX_DESTINATIONS {
            return bad(format!("at most {MAX_DESTINATIONS} destinations"));
        }
        let mut names = BTreeSet::new();
        for d in &self.destinations {
            if d.name.is_empty() || !d.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return bad(format!("destination name {:?} must be non-empty ASCII letters, digits, - or _", d.name));
            }
            if !names.insert(&d.name) {
                return bad(format!("destination {:?} is configured twice", d.name));
            }
            if d.nodes.is_empty() {
                return bad(format!("destination {:?} lists no nodes", d.name));
            }
            if let Some(h) = &d.genesis_hash
                && trustmeter_types::Hash32::from_hex(h).is_err()
            {
                return bad(format!("destination {:?}: genesis_hash {h:?} is not 64 hex digits", d.name));
            }
            if d.max_batch_readings == 0 || d.max_batch_readings > MAX_READINGS_PER_TX {
                return bad(format!(
                    "destination {:?}: max_batch_readings must be between 1 and {MAX_READINGS_PER_TX}",
                    d.name
                ));
            }
            if d.min_backoff_ms == 0 || d.min_backoff_ms > d.max_backoff_ms {
                return bad(format!("destination {:?}: need 0 < min_backoff_ms <= max_backoff_ms", d.name));
            }
        }
        if self.points.len() > MAX_POINTS {
            return bad(format!("{} points configured; at most {MAX_POINTS}", self.points.len()));
        }
        let mut meters = BTreeSet::new();
        for p in &self.points {
            if !meters.insert(p.meter.as_str()) {
                return bad(format!("meter {} is read by two points; give each meter one point", p.meter));
            }
            if p.poll_interval_s == 0 {
                return bad(format!("point of meter {}: poll_interval_s must be positive", p.meter));
            }
        }
        if self.gateway.retention_days == 0 {
            return bad("retention_days must be positive".into());
        }
        if let Some(s) = self.gateway.simulation_speed
            && !(s.is_finite() && s > 0.0)
        {
            return bad("simulation_speed must be a positive number".into());
        }
        Ok(())
    }

    /// The key file's path.
    pub fn key_path(&self) -> PathBuf {
        if self.gateway.key_file.is_absolute() {
            self.gateway.key_file.clone()
        } else {
            self.gateway.data_dir.join(&self.gateway.key_file)
        }
    }

    /// The store's path.
    pub fn store_path(&self) -> PathBuf {
        self.gateway.data_dir.join("gateway.redb")
    }

    /// The operator token's path (`operator.token` in the data directory, created at the first
    /// start; `trustmeter gateway manual|import` read it).
    pub fn token_path(&self) -> PathBuf {
        self.gateway.data_dir.join("operator.token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_listen(listen: &str, extra: &str) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::parse(&format!(
            "[gateway]\nid = \"91350100M000100Y43-GW-01\"\ndata_dir = \"d\"\nlisten = \"{listen}\"\n{extra}\n[[destination]]\nname = \"provincial\"\nnodes = [\"http://127.0.0.1:8080\"]\n"
        ))
    }

    #[test]
    fn the_local_api_listens_on_loopback_unless_told_otherwise() {
        for listen in ["127.0.0.1:7070", "127.0.0.2:7070", "[::1]:7070"] {
            with_listen(listen, "").unwrap_or_else(|e| panic!("{listen}: {e}"));
        }
        for listen in ["0.0.0.0:7070", "192.168.1.20:7070", "[::]:7070"] {
            let e = with_listen(listen, "").unwrap_err().to_string();
            assert!(e.contains("is not a loopback address") && e.contains("api_remote = true"), "{listen}: {e}");
            let cfg = with_listen(listen, "api_remote = true").unwrap_or_else(|e| panic!("{listen}: {e}"));
            assert!(cfg.gateway.api_remote);
        }
        // The default is loopback.
        let cfg = GatewayConfig::parse(
            "[gateway]\nid = \"91350100M000100Y43-GW-01\"\ndata_dir = \"d\"\n\n[[destination]]\nname = \"p\"\nnodes = [\"http://127.0.0.1:8080\"]\n",
        )
        .unwrap();
        assert!(cfg.gateway.listen.ip().is_loopback());
        assert_eq!(cfg.alarms.refused_message_hold_s, 3_600);
    }
}
