//! `trustmeter`: the one binary.
//!
//! - `demo`: a 4-validator consortium on loopback with a simulated plant feeding it.
//! - `node init` / `node run`: write a local consortium's files; run one validator.
//! - `verify`: check a reading's proof bundle offline.
//! - `keys` / `tx`: generate keys on this machine; sign and submit registry transactions.
//! - `bench ingest`: readings/s through admission and execution against the Ed25519 batch limit.

mod bench;
mod demo;
mod gateway;
mod keys;
mod node;
mod tx;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use trustmeter_types::ReadingOrigin;

#[derive(Parser)]
#[command(name = "trustmeter", version, about = "Trusted energy-consumption data on a consortium chain")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a whole local consortium (4 validators on loopback) with a simulated plant.
    Demo(demo::DemoArgs),
    /// Initialise or run validator nodes.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Verify a reading's proof bundle offline.
    Verify {
        /// The proof bundle (JSON), as served by `GET /v1/meters/{id}/readings/{seq}/proof`.
        proof: PathBuf,
        /// A genesis file you trust; by default the genesis inside the bundle is used and printed
        /// so you can compare its hash with the one you know.
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// The enterprise gateway (trusted terminal): init its key, run it, query it.
    #[command(subcommand)]
    Gateway(gateway::GatewayCommand),
    /// Generate a key on this machine, or show a key file's public part.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Sign a registry transaction with a key file, submit it and wait for finality.
    #[command(subcommand)]
    Tx(tx::TxCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let default_level = match &cli.command {
        Command::Demo(_) => "warn,trustmeter=info,trustmeter_node=info,trustmeter_meters=error",
        Command::Node(_) | Command::Gateway(gateway::GatewayCommand::Run { .. }) => {
            "warn,trustmeter=info,trustmeter_node=info,trustmeter_gateway=info"
        }
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Node(cmd) => node::run(cmd),
        Command::Verify { proof, genesis } => verify(proof, genesis),
        Command::Gateway(cmd) => gateway::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Tx(cmd) => tx::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
    }
}

fn verify(proof: PathBuf, genesis: Option<PathBuf>) -> Result<()> {
    let text = std::fs::read_to_string(&proof).with_context(|| format!("reading {}", proof.display()))?;
    let bundle: trustmeter_client::ProofBundle =
        serde_json::from_str(&text).with_context(|| format!("{} is not a proof bundle", proof.display()))?;
    let trusted = match genesis {
        Some(p) => Some(trustmeter_node::config::load_genesis(&p)?),
        None => None,
    };
    match trustmeter_client::verify(&bundle, trusted.as_ref()) {
        Ok(v) => {
            println!("VALID");
            println!("  chain        {}", v.chain_id);
            println!("  meter        {} ({}, {:?}) of {}", v.meter, v.meter_name, v.energy, v.owner);
            println!(
                "  reading      seq {} = {} {} at {} ms{}",
                v.seq,
                v.value,
                v.unit.symbol(),
                v.timestamp_ms,
                match (v.origin, v.clock_suspect) {
                    (ReadingOrigin::Online, false) => String::new(),
                    (o, suspect) => format!(" ({}{})", o.as_str(), if suspect { ", clock suspect" } else { "" }),
                }
            );
            println!("  signed by    {:?} key; calibration certificate {}", v.signer, v.calibration_certificate_no);
            println!("  recorded in  block {} ({}) at {} ms", v.height, v.block_digest, v.block_timestamp_ms);
            println!("  hashes       {} (the chain's hash algorithm, from its genesis)", v.hash);
            println!(
                "  finalized    by {} of {} validators (quorum {}), epoch {} view {}",
                v.validator_signatures, v.validators, v.quorum, v.finalized_epoch, v.finalized_view
            );
            if trusted.is_none() {
                println!(
                    "note: checked against the genesis inside the bundle (chain {}, {} validators); pass --genesis to check against one you trust",
                    bundle.genesis.chain_id,
                    bundle.genesis.validators.len()
                );
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("INVALID: {e}");
            std::process::exit(1);
        }
    }
}
