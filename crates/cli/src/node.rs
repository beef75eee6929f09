//! `trustmeter node init` and `trustmeter node run`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use commonware_runtime::Runner;
use std::path::PathBuf;
use std::time::Duration;
use trustmeter_chain::devnet::{Devnet, DevnetCrypto};
use trustmeter_chain::engine::Timeouts;
use trustmeter_keystore::{KeyFile, KeyMeta};
use trustmeter_node::config::{NodeConfig, load_genesis, load_validator_key, write_validator_key};
use trustmeter_node::{NodeSpec, start_node};
use trustmeter_types::{HashAlg, KeyScheme};

/// Node commands.
#[derive(Subcommand)]
pub enum NodeCommand {
    /// DEVNET ONLY: write a local consortium whose every key derives from a public seed
    /// (genesis marked `devnet_seed`), with one config and key per validator and member account
    /// keys in the clear. A real consortium runs a genesis ceremony instead (`trustmeter org
    /// init`, `trustmeter genesis assemble`).
    Init(InitArgs),
    /// Run one validator from its config file until Ctrl-C; or, with `--follow`, a follower
    /// (non-voting) node that follows the finalized chain from validators' APIs, checks every
    /// block's finalization certificate against the genesis validators, keeps its own state and
    /// index, and serves the read API.
    Run {
        /// The validator's TOML config.
        #[arg(long, required_unless_present = "follow", conflicts_with = "follow")]
        config: Option<PathBuf>,
        /// Follower mode: a validator API to follow (`http://host:port`); repeat or separate with
        /// commas for several (tried in turn).
        #[arg(long, value_delimiter = ',', requires_all = ["genesis", "data_dir"])]
        follow: Vec<String>,
        /// Follower mode: the chain's genesis document (the only thing a follower trusts).
        #[arg(long)]
        genesis: Option<PathBuf>,
        /// Follower mode: directory for its state store and index.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Follower mode: where its API binds.
        #[arg(long, default_value = "127.0.0.1:8090")]
        api_listen: std::net::SocketAddr,
        /// Follower mode: a member account key file to sign block fetches with (validators that
        /// enforce access rules serve raw blocks to regulators, statistics bureaus and validator
        /// operators).
        #[arg(long, value_name = "KEYFILE", requires = "follow")]
        key: Option<PathBuf>,
        /// Follower mode: the environment variable holding that key file's passphrase.
        #[arg(long, value_name = "VAR", requires = "key")]
        passphrase_env: Option<String>,
    },
}

/// Options of `node init`.
#[derive(Args)]
pub struct InitArgs {
    /// Output directory.
    #[arg(long, default_value = "trustmeter-net")]
    pub dir: PathBuf,
    /// Chain id.
    #[arg(long, default_value = "hunan-1")]
    pub chain_id: String,
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Number of founding enterprises.
    #[arg(long, default_value_t = 1)]
    pub enterprises: usize,
    /// First p2p port; validator i listens on base + i.
    #[arg(long, default_value_t = 30_300)]
    pub p2p_port: u16,
    /// First API port; validator i serves on base + i.
    #[arg(long, default_value_t = 8_080)]
    pub api_port: u16,
    /// Seed of the local keys, 0–255 (local consortia only: anyone can derive these keys; a
    /// node refuses them on a genesis not marked devnet).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=255))]
    pub seed: u64,
    /// Hash algorithm of the chain's data (transaction ids, Merkle roots, block digests):
    /// `sha256` or `sm3` (国密). Fixed for the chain's life. Consensus keeps Ed25519/SHA-256.
    #[arg(long = "hash", default_value = "sha256")]
    pub hash: HashAlg,
    /// Scheme of the founding members' account keys: `ed25519` or `sm2` (国密).
    #[arg(long, default_value = "ed25519")]
    pub key_scheme: KeyScheme,
}

/// Writes a local consortium's files.
pub fn init(args: &InitArgs, genesis_time_ms: i64) -> Result<Devnet> {
    anyhow::ensure!(args.validators >= 1, "a chain needs at least one validator");
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let crypto = DevnetCrypto { hash: args.hash, account_scheme: args.key_scheme };
    let devnet = Devnet::with_crypto(
        &args.chain_id,
        args.validators,
        args.enterprises,
        args.seed,
        genesis_time_ms,
        args.p2p_port,
        crypto,
    );
    let genesis_path = args.dir.join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&devnet.genesis)?)?;
    for (i, key) in devnet.validator_keys.iter().enumerate() {
        let name = format!("validator-{i}");
        let dir = args.dir.join(&name);
        std::fs::create_dir_all(&dir)?;
        let meta = KeyMeta { organisation: Some(devnet.genesis.validators[i].org.clone()), device: None };
        write_validator_key(&dir.join("validator.key"), key, &format!("devnet {name}"), &meta, None, true)?;
        let cfg = NodeConfig {
            name: name.clone(),
            data_dir: PathBuf::from("data"),
            genesis: PathBuf::from("../genesis.json"),
            key_file: PathBuf::from("validator.key"),
            key_passphrase_env: None,
            p2p_listen: format!("127.0.0.1:{}", args.p2p_port + i as u16).parse()?,
            api_listen: format!("127.0.0.1:{}", args.api_port + i as u16).parse()?,
            allow_private_ips: true,
            leader_timeout_ms: 1_000,
            alarms: Default::default(),
            api: Default::default(),
            state_sync: false,
            state_cache_mib: trustmeter_node::config::DEFAULT_STATE_CACHE_MIB,
        };
        std::fs::write(dir.join("node.toml"), toml::to_string_pretty(&cfg)?)?;
    }
    write_member_keys(&args.dir.join("members"), &devnet)?;
    Ok(devnet)
}

/// Writes a devnet's member account keys to `dir` (`regulator.json`, `metrology.json`,
/// `statistics.json`, `enterprise-<i>.json`), in the clear: a devnet's keys derive from a public
/// seed anyway; existing files are replaced. Returns (label, path, organisation) per member.
pub fn write_member_keys(dir: &std::path::Path, devnet: &Devnet) -> Result<Vec<(String, PathBuf, String)>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut all = vec![
        ("regulator".to_string(), &devnet.regulator),
        ("metrology".to_string(), &devnet.metrology),
        ("statistics".to_string(), &devnet.statistics),
    ];
    for (i, e) in devnet.enterprises.iter().enumerate() {
        all.push((format!("enterprise-{i}"), e));
    }
    let mut out = vec![];
    for (label, m) in all {
        let path = dir.join(format!("{label}.json"));
        let meta = KeyMeta { organisation: Some(m.org.id.clone()), device: None };
        KeyFile::write(&path, &m.key, &format!("{label} account"), &meta, None, true)
            .with_context(|| format!("writing member key file {}", path.display()))?;
        out.push((label, path, m.org.id.to_string()));
    }
    Ok(out)
}

/// Runs a node command.
pub fn run(cmd: NodeCommand) -> Result<()> {
    match cmd {
        NodeCommand::Init(args) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
            let devnet = init(&args, now)?;
            println!(
                "wrote a DEVNET {}-validator consortium for chain {} ({} chain hashing, {} member keys) to {}; its keys derive from public seed {}: never use it for real data",
                devnet.validator_keys.len(),
                args.chain_id,
                args.hash,
                args.key_scheme.name(),
                args.dir.display(),
                args.seed
            );
            println!("  genesis:  {}", args.dir.join("genesis.json").display());
            for i in 0..devnet.validator_keys.len() {
                println!(
                    "  start:    trustmeter node run --config {}",
                    args.dir.join(format!("validator-{i}/node.toml")).display()
                );
            }
            println!(
                "  follower: trustmeter node run --follow http://127.0.0.1:{} --genesis {} --data-dir {}",
                args.api_port,
                args.dir.join("genesis.json").display(),
                args.dir.join("follower").display()
            );
            println!(
                "  accounts: {} (key files in the clear, for a local devnet only; use them with `trustmeter tx --key`)",
                args.dir.join("members").display()
            );
            Ok(())
        }
        NodeCommand::Run { config: None, follow, genesis, data_dir, api_listen, key, passphrase_env } => {
            let (Some(genesis), Some(data_dir)) = (genesis, data_dir) else {
                anyhow::bail!("a follower needs --genesis and --data-dir");
            };
            let genesis = load_genesis(&genesis)?;
            std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
            let spec = trustmeter_node::follow::FollowerSpec {
                name: format!("follower-{}", api_listen.port()),
                genesis,
                upstream: follow,
                api_listen,
                index_path: data_dir.join("index.redb"),
                state_path: data_dir.join("state.redb"),
                alarms: Default::default(),
                api: Default::default(),
                key: match key {
                    Some(path) => {
                        let pass =
                            passphrase_env.as_deref().map(trustmeter_keystore::passphrase_from_env).transpose()?;
                        Some(KeyFile::load(&path, pass.as_deref().map(String::as_str))?.0)
                    }
                    None => None,
                },
            };
            let files = trustmeter_httpserve::fd_budget(spec.api.max_connections, trustmeter_node::FD_RESERVE)
                .map_err(anyhow::Error::msg)?;
            tracing::info!(open_files = files, "file descriptor budget");
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(async move {
                let node = trustmeter_node::follow::start_follower(spec).await?;
                until_stopped(&node, "following").await
            })
        }
        NodeCommand::Run { config: Some(config), .. } => {
            let cfg = NodeConfig::load(&config)?;
            let files = trustmeter_httpserve::fd_budget(cfg.api.max_connections, trustmeter_node::FD_RESERVE)
                .map_err(anyhow::Error::msg)?;
            tracing::info!(open_files = files, "file descriptor budget");
            let genesis = load_genesis(&cfg.genesis)?;
            let pass = cfg.key_passphrase_env.as_deref().map(trustmeter_keystore::passphrase_from_env).transpose()?;
            let key = load_validator_key(&cfg.key_file, pass.as_deref().map(String::as_str))?;
            std::fs::create_dir_all(&cfg.data_dir)?;
            let storage = cfg.data_dir.join("consensus");
            let index_path = cfg.data_dir.join("index.redb");
            let runner = commonware_runtime::tokio::Runner::new(
                commonware_runtime::tokio::Config::new().with_storage_directory(storage),
            );
            let spec = NodeSpec {
                name: cfg.name.clone(),
                genesis,
                key,
                p2p_listen: cfg.p2p_listen,
                api_listen: cfg.api_listen,
                index_path,
                state_path: cfg.data_dir.join("state.redb"),
                allow_private_ips: cfg.allow_private_ips,
                timeouts: Timeouts {
                    leader: Duration::from_millis(cfg.leader_timeout_ms),
                    certification: Duration::from_millis(cfg.leader_timeout_ms * 2),
                    ..Timeouts::default()
                },
                alarms: cfg.alarms.clone(),
                api: cfg.api.clone(),
                state_sync: cfg.state_sync,
                state_cache_mib: cfg.state_cache_mib,
            };
            runner.start(|ctx| async move {
                let node = start_node(ctx, spec).await?;
                until_stopped(&node, "running").await
            })
        }
    }
}

/// Says where `node` serves, then waits for Ctrl-C or SIGTERM.
async fn until_stopped(node: &trustmeter_node::RunningNode, doing: &str) -> Result<()> {
    println!(
        "{} {doing}; API on http://{}/v1/status (OpenAPI at /openapi.json). Ctrl-C or SIGTERM to stop.",
        node.name, node.api_addr
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    println!("stopping {}", node.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use trustmeter_types::PublicKey;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        node: NodeCommand,
    }

    fn init_args(extra: &[&str], dir: &std::path::Path) -> InitArgs {
        let mut argv = vec!["trustmeter", "init", "--dir", dir.to_str().unwrap(), "--validators", "2"];
        argv.extend_from_slice(extra);
        match Cli::parse_from(argv).node {
            NodeCommand::Init(a) => a,
            NodeCommand::Run { .. } => unreachable!(),
        }
    }

    #[test]
    fn node_init_writes_an_sm3_chain_with_sm2_members() {
        let dir = tempfile::tempdir().unwrap();
        let args = init_args(&["--hash", "sm3", "--key-scheme", "sm2"], dir.path());
        init(&args, 1_767_225_600_000).unwrap();
        let text = std::fs::read_to_string(dir.path().join("genesis.json")).unwrap();
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(raw["params"]["hash"], "sm3");
        let genesis = trustmeter_node::config::load_genesis(&dir.path().join("genesis.json")).unwrap();
        assert_eq!(genesis.params.hash, HashAlg::Sm3);
        assert!(genesis.accounts.iter().all(|a| a.public_key.scheme == KeyScheme::Sm2));
        // Member key files restore to the keys genesis names.
        let (key, info) = KeyFile::load(&dir.path().join("members/regulator.json"), None).unwrap();
        assert_eq!(info.scheme, KeyScheme::Sm2);
        let public: PublicKey = info.public_key.clone();
        assert_eq!(key.public_key(), public);
        assert!(genesis.accounts.iter().any(|a| a.public_key == public));
    }

    #[test]
    fn node_init_defaults_to_sha256_and_ed25519_and_writes_every_field() {
        let dir = tempfile::tempdir().unwrap();
        init(&init_args(&[], dir.path()), 1_767_225_600_000).unwrap();
        let text = std::fs::read_to_string(dir.path().join("genesis.json")).unwrap();
        let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(raw["params"]["hash"], "sha256", "no genesis field is optional: {text}");
        for field in ["calibration_warning_ms", "accounting"] {
            assert!(raw["params"].get(field).is_some(), "{field} is written: {text}");
        }
        let genesis = trustmeter_node::config::load_genesis(&dir.path().join("genesis.json")).unwrap();
        assert_eq!(genesis.params.hash, HashAlg::Sha256);
        assert!(genesis.accounts.iter().all(|a| a.public_key.scheme == KeyScheme::Ed25519));
        assert!(Cli::try_parse_from(["trustmeter", "init", "--hash", "md5"]).is_err());
    }
}
