//! `trustmeter`: the one binary.
//!
//! - `demo`: a 4-validator consortium on loopback with a simulated plant feeding it.
//! - `node init` / `node run`: write a local consortium's files; run one validator.
//! - `verify`: check a reading's proof bundle (or, with `--figure`, a daily figure's proof) offline.
//! - `query`: energy figures from a node (daily, series, ranking, quality, enterprise, tou).
//! - `keys` / `tx`: generate keys on this machine; sign and submit registry transactions.
//! - `bench ingest`: readings/s through admission and execution against the Ed25519 batch limit.
//! - `alarms`: a node's active alarms, and with `--follow` its alarm feed (server-sent events).

/// jemalloc instead of the system allocator: under the storage's many threads glibc's malloc kept
/// about three times the live heap as resident memory (README, `bench state`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod alarms;
mod bench;
mod ceremony;
mod demo;
mod demo_figures;
mod gateway;
mod keys;
mod node;
mod query;
mod scratch;
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
    /// Verify a reading's proof bundle, or a daily figure's proof (`--figure`), offline.
    Verify {
        /// The proof bundle (JSON), as served by `GET /v1/meters/{id}/readings/{seq}/proof`.
        #[arg(required_unless_present_any = ["figure", "carbon"], conflicts_with_all = ["figure", "carbon"])]
        proof: Option<PathBuf>,
        /// A daily figure's proof (JSON), as served by
        /// `GET /v1/proofs/daily/{org}/{day}/{energy}/{unit}`.
        #[arg(long, value_name = "FILE", conflicts_with = "carbon")]
        figure: Option<PathBuf>,
        /// A verified carbon figure's proof (JSON), as served by
        /// `GET /v1/enterprises/{org}/carbon/proof` (`trustmeter query carbon-proof`).
        #[arg(long, value_name = "FILE")]
        carbon: Option<PathBuf>,
        /// With --carbon: a directory holding the evidence files the report names (by file name),
        /// each checked against its hash.
        #[arg(long, value_name = "DIR", requires = "carbon")]
        evidence_dir: Option<PathBuf>,
        /// A genesis file you trust; by default the genesis inside the bundle is used and printed
        /// so you can compare its hash with the one you know.
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// The enterprise gateway (trusted terminal): init its key, run it, query it.
    #[command(subcommand)]
    Gateway(gateway::GatewayCommand),
    /// A founding or joining organisation: generate its keys here and write its public
    /// organisation file (genesis ceremony, admission).
    #[command(subcommand)]
    Org(ceremony::OrgCommand),
    /// The genesis ceremony: assemble a genesis from organisation files; check one received.
    #[command(subcommand)]
    Genesis(ceremony::GenesisCommand),
    /// Generate a key on this machine, or show a key file's public part.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Sign a registry transaction with a key file, submit it and wait for finality.
    #[command(subcommand)]
    Tx(tx::TxCommand),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Energy figures from a node: daily figures, series, rankings, quality, an enterprise's
    /// month, time of use.
    #[command(subcommand)]
    Query(query::QueryCommand),
    /// A node's active alarms (over-use, missing data, calibration, anomalies); `--follow` streams
    /// raised and cleared alarms until Ctrl-C.
    Alarms(alarms::AlarmsArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let default_level = match &cli.command {
        Command::Demo(_) => {
            "warn,trustmeter=info,trustmeter_node=info,trustmeter_node::config=error,trustmeter_meters=error"
        }
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
        // plain text when not a terminal (a log file, CI)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Node(cmd) => node::run(cmd),
        Command::Verify { figure: Some(figure), genesis, .. } => verify_figure(figure, genesis),
        Command::Verify { carbon: Some(carbon), evidence_dir, genesis, .. } => {
            verify_carbon(carbon, evidence_dir, genesis)
        }
        Command::Verify { proof: Some(proof), genesis, .. } => verify(proof, genesis),
        Command::Verify { .. } => anyhow::bail!("give a proof bundle file, --figure FILE or --carbon FILE"),
        Command::Gateway(cmd) => gateway::run(cmd),
        Command::Keys(cmd) => keys::run(cmd),
        Command::Org(cmd) => ceremony::run_org(cmd),
        Command::Genesis(cmd) => ceremony::run_genesis(cmd),
        Command::Tx(cmd) => tx::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Query(cmd) => query::run(cmd),
        Command::Alarms(args) => alarms::run(args),
    }
}

fn verify_figure(path: PathBuf, genesis: Option<PathBuf>) -> Result<()> {
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let proof = trustmeter_client::FigureProof::from_json(&text)
        .with_context(|| format!("{} is not a figure proof (trustmeter-figure-proof/v1)", path.display()))?;
    let trusted = match genesis {
        Some(p) => Some(trustmeter_node::config::load_genesis(&p)?),
        None => None,
    };
    match trustmeter_client::verify_figure(&proof, trusted.as_ref()) {
        Ok(v) => {
            let f = &v.figure;
            println!("VALID");
            println!("  chain        {}", v.chain_id);
            println!(
                "  figure       {} on {} ({}): {} {:?} in {}",
                v.org,
                v.day_label,
                v.day,
                f.consumption,
                v.energy,
                v.unit.symbol()
            );
            println!(
                "  parts        estimated {}, manual {}; {} readings ({} on time, {} late, {} flagged)",
                f.estimated, f.manual, f.points, f.on_time, f.late, f.flagged
            );
            match &f.kgce_missing {
                None => println!(
                    "  coal         {} kgce equivalent, {} kgce equal value (reference {})",
                    f.kgce_equivalent, f.kgce_equal_value, f.reference
                ),
                Some(why) => println!("  coal         not computed: {why}"),
            }
            if f.tiers.iter().any(|t| t.0 != 0) {
                let names = ["critical_peak", "peak", "flat", "valley", "deep_valley"];
                let tiers: Vec<String> =
                    names.iter().zip(f.tiers).filter(|(_, q)| q.0 != 0).map(|(n, q)| format!("{n} {q}")).collect();
                println!(
                    "  tiers        {} ({})",
                    tiers.join(", "),
                    f.tou_schedule.as_deref().unwrap_or("no schedule")
                );
            }
            println!("  in state of  block {} ({}) at {} ms", v.height, v.block_digest, v.block_timestamp_ms);
            println!("  hashes       {} (the chain's hash algorithm, from its genesis)", v.hash);
            println!(
                "  finalized    by {} of {} validators (quorum {}), epoch {} view {}",
                v.validator_signatures, v.validators, v.quorum, v.finalized_epoch, v.finalized_view
            );
            if trusted.is_none() {
                println!(
                    "note: checked against the genesis inside the proof (chain {}, {} validators, hash {}); pass --genesis to check against one you trust",
                    proof.genesis.chain_id,
                    proof.genesis.validators.len(),
                    trustmeter_crypto::genesis_hash(&proof.genesis)
                );
            }
            warn_devnet(&proof.genesis);
            Ok(())
        }
        Err(e) => {
            eprintln!("INVALID: {e}");
            std::process::exit(1);
        }
    }
}

fn verify_carbon(path: PathBuf, evidence_dir: Option<PathBuf>, genesis: Option<PathBuf>) -> Result<()> {
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let proof: trustmeter_client::CarbonProof = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a carbon proof (trustmeter-carbon-proof/v1)", path.display()))?;
    let trusted = match genesis {
        Some(p) => Some(trustmeter_node::config::load_genesis(&p)?),
        None => None,
    };
    let v = match trustmeter_client::verify_carbon(&proof, trusted.as_ref()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("INVALID: {e}");
            std::process::exit(1);
        }
    };
    println!("VALID");
    println!(
        "  figure       {} t CO2e final ({}) for {}'s {} report; verifier {}",
        v.final_t, v.final_by, proof.org, proof.year, v.verifier
    );
    println!("  report       {} reported {} t; the chain recorded this document's hash", v.report_hash, v.reported_t);
    println!("  results      {} month(s) agree with the report", v.months_agreeing.len());
    for m in &v.months_recomputed {
        println!("               recomputed since the report: {m}");
    }
    println!("  entries      {} entr(ies) proven as listed", v.entries_agreeing);
    for e in &v.entries_changed {
        println!("               changed since the report: {e}");
    }
    println!("  methodology  {}", v.methodologies.join(", "));
    for f in &v.figures {
        println!("  daily figure {f}");
    }
    for r in &v.readings {
        println!("  reading      {r} (signature, registry, inclusion and finality checked)");
    }
    println!("  in state of  block {}", v.height);
    let mut bad = 0;
    if let Some(dir) = evidence_dir {
        let alg = proof.genesis.params.hash;
        for (hash, name) in &v.evidence {
            let file = dir.join(name);
            match std::fs::read(&file) {
                Ok(bytes) if &trustmeter_crypto::hash(alg, &bytes) == hash => {
                    println!("  evidence     {name}: matches {hash}")
                }
                Ok(_) => {
                    bad += 1;
                    println!("  evidence     {name}: DOES NOT MATCH {hash}");
                }
                Err(e) => println!("  evidence     {name}: not checked ({e})"),
            }
        }
    } else if !v.evidence.is_empty() {
        println!("  evidence     {} file(s) named; pass --evidence-dir to check them", v.evidence.len());
    }
    warn_devnet(&proof.genesis);
    if bad > 0 {
        eprintln!("INVALID: {bad} evidence file(s) do not match the hashes on chain");
        std::process::exit(1);
    }
    Ok(())
}

/// Says so when a proof comes from a devnet: its keys derive from a public seed, so anyone could
/// have made it.
fn warn_devnet(genesis: &trustmeter_types::Genesis) {
    if let Some(seed) = genesis.devnet_seed {
        println!(
            "WARNING: chain {} is a devnet (devnet_seed {seed}): every key derives from a public seed, so this proof shows the format, not that real parties signed it",
            genesis.chain_id
        );
    }
}

fn verify(proof: PathBuf, genesis: Option<PathBuf>) -> Result<()> {
    let text = std::fs::read_to_string(&proof).with_context(|| format!("reading {}", proof.display()))?;
    let bundle = trustmeter_client::ProofBundle::from_json(&text)
        .with_context(|| format!("{} is not a proof bundle (trustmeter-proof/v1)", proof.display()))?;
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
            if v.epoch_links > 0 {
                println!(
                    "  validators   of epoch {}, followed from the genesis set through {} finalized epoch boundaries",
                    v.finalized_epoch, v.epoch_links
                );
            }
            if v.certified_height != v.height {
                println!(
                    "  through      block {}, which descends from it ({} headers linked by parent digests)",
                    v.certified_height,
                    v.certified_height - v.height
                );
            }
            if trusted.is_none() {
                println!(
                    "note: checked against the genesis inside the bundle (chain {}, {} validators, hash {}); pass --genesis to check against one you trust",
                    bundle.genesis.chain_id,
                    bundle.genesis.validators.len(),
                    trustmeter_crypto::genesis_hash(&bundle.genesis)
                );
            }
            warn_devnet(&bundle.genesis);
            Ok(())
        }
        Err(e) => {
            eprintln!("INVALID: {e}");
            std::process::exit(1);
        }
    }
}
