//! `trustmeter bench cluster`: a saturated cluster, measured.
//!
//! This process runs the validators (default 4) as the demo does — each with its own
//! authenticated Commonware p2p endpoint on loopback, its own storage partitions and index, its own
//! HTTP API — and starts the load generator as a **second process** (this binary's hidden
//! `bench cluster-load`, see [`load`]), so the load generator's CPU is not the validators' and the
//! readings travel over HTTP like a gateway's.
//!
//! The load generator onboards the meters through the API, pre-signs each step's readings before
//! the step starts, and offers them at a rate it raises step by step until the chain stops keeping
//! up. It learns when each of its transactions was finalized from a feed this process writes to
//! its stdin: one JSON line per block finalized at validator 0 ([`BlockEvent`]), stamped with the
//! wall-clock time the block was applied there — the instant the demo measures finality at.
//!
//! The load generator prints the report; this process relays it, then checks that every validator
//! holds the same state root, prints the disk each validator used per recorded reading, and prints
//! the load generator's final line last:
//! `cluster: <R> readings/s finalized, p99 finality <F> ms, <X> of the verification bound`.

pub mod load;
pub mod stats;

use crate::scratch::{DataDir, StopSignals};
use anyhow::{Context as _, Result, bail};
use clap::Args;
use commonware_runtime::{Runner, Supervisor};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::engine::Timeouts;
use trustmeter_node::{NodeSpec, RunningNode, start_node};
use trustmeter_types::limits::MAX_READINGS_PER_TX;

/// Most validators the benchmark starts.
pub const MAX_VALIDATORS: usize = 16;
/// Most gateways (each one enterprise in genesis, whose entries are limited).
pub const MAX_GATEWAYS: usize = 256;
/// Most meters.
pub const MAX_METERS: usize = 1_000_000;
/// Most readings pre-signed for one step (each held as its encoded transaction, ~120 bytes a
/// reading, so one step stays within a few hundred MiB).
pub const MAX_STEP_READINGS: f64 = 2_000_000.0;
/// Longest run the options may ask for.
pub const MAX_RUN_SECONDS: u64 = 3_600;
/// Prefix of the final line.
pub const FINAL_PREFIX: &str = "cluster: ";

/// What the load generator does: shared by `bench cluster` and the hidden `bench cluster-load`.
#[derive(Args, Clone, Debug)]
pub struct LoadPlan {
    /// Meters, spread evenly over the gateways (a third sign their own readings, the gateway signs
    /// for the rest).
    #[arg(long, default_value_t = 10_000)]
    pub meters: usize,
    /// Gateways, each of its own enterprise; each sends its transactions in nonce order through
    /// one node (gateway g through node g mod validators).
    #[arg(long, default_value_t = 10)]
    pub gateways: usize,
    /// Readings per transaction.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Offered rate of the first step, readings/s.
    #[arg(long, default_value_t = 2_000.0)]
    pub start_rate: f64,
    /// Each step offers this many times the previous one's rate.
    #[arg(long, default_value_t = 1.5)]
    pub factor: f64,
    /// How long each step offers its rate, in seconds.
    #[arg(long, default_value_t = 15)]
    pub step_seconds: u64,
    /// Most steps.
    #[arg(long, default_value_t = 12)]
    pub max_steps: usize,
    /// Highest offered rate, readings/s.
    #[arg(long, default_value_t = 100_000.0)]
    pub max_rate: f64,
    /// Time budget of the load generator, onboarding included, in seconds: a step starts only if
    /// it can end (signing, offering, draining) within it.
    #[arg(long, default_value_t = 240)]
    pub max_duration: u64,
    /// Seed of the consortium's keys and the plants.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl LoadPlan {
    /// Checks the options against the limits.
    pub fn validate(&self) -> Result<()> {
        anyhow::ensure!((1..=MAX_GATEWAYS).contains(&self.gateways), "--gateways must be 1..={MAX_GATEWAYS}");
        anyhow::ensure!(
            (self.gateways..=MAX_METERS).contains(&self.meters),
            "--meters must be at least --gateways and at most {MAX_METERS}"
        );
        anyhow::ensure!((1..=MAX_READINGS_PER_TX).contains(&self.batch), "--batch must be 1..={MAX_READINGS_PER_TX}");
        anyhow::ensure!(
            self.start_rate.is_finite() && self.start_rate >= 1.0,
            "--start-rate must be at least 1 reading/s"
        );
        anyhow::ensure!(self.factor.is_finite() && (1.05..=10.0).contains(&self.factor), "--factor must be 1.05..=10");
        anyhow::ensure!((2..=600).contains(&self.step_seconds), "--step-seconds must be 2..=600");
        anyhow::ensure!((1..=100).contains(&self.max_steps), "--max-steps must be 1..=100");
        anyhow::ensure!(
            self.max_rate.is_finite() && self.max_rate >= self.start_rate,
            "--max-rate must be at least --start-rate"
        );
        anyhow::ensure!(
            self.start_rate * self.step_seconds as f64 <= MAX_STEP_READINGS,
            "--start-rate × --step-seconds must be at most {MAX_STEP_READINGS} readings"
        );
        anyhow::ensure!(
            (10..=MAX_RUN_SECONDS).contains(&self.max_duration),
            "--max-duration must be 10..={MAX_RUN_SECONDS}"
        );
        Ok(())
    }

    /// The offered rate of every step the plan allows (before the chain stops keeping up).
    pub fn rates(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let mut r = self.start_rate;
        while out.len() < self.max_steps && r <= self.max_rate && r * self.step_seconds as f64 <= MAX_STEP_READINGS {
            out.push(r);
            r *= self.factor;
        }
        out
    }

    /// The options as `bench cluster-load` arguments.
    fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        let mut put = |k: &str, v: String| {
            a.push(format!("--{k}"));
            a.push(v);
        };
        put("meters", self.meters.to_string());
        put("gateways", self.gateways.to_string());
        put("batch", self.batch.to_string());
        put("start-rate", self.start_rate.to_string());
        put("factor", self.factor.to_string());
        put("step-seconds", self.step_seconds.to_string());
        put("max-steps", self.max_steps.to_string());
        put("max-rate", self.max_rate.to_string());
        put("max-duration", self.max_duration.to_string());
        put("seed", self.seed.to_string());
        a
    }
}

/// Options of `bench cluster`.
#[derive(Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Validators.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Data directory, emptied at start and kept (default: a fresh directory under the system
    /// temp dir, removed at the end).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The load.
    #[command(flatten)]
    pub plan: LoadPlan,
}

/// One block finalized at validator 0, as the load generator receives it (one JSON line).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockEvent {
    /// Height.
    pub height: u64,
    /// When validator 0 applied it (Unix µs, wall clock).
    pub finalized_us: u64,
    /// The proposer's timestamp in the header (Unix ms).
    pub timestamp_ms: i64,
    /// Readings the block recorded.
    pub readings: u32,
    /// Its transactions.
    pub txs: Vec<TxEvent>,
}

/// One transaction of a finalized block.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TxEvent {
    /// Transaction hash (hex).
    pub hash: String,
    /// Readings recorded (accepted or flagged).
    pub recorded: u32,
    /// Readings acknowledged as duplicates.
    pub duplicate: u32,
    /// Readings rejected, or every reading when the transaction was rejected as a whole.
    pub rejected: u32,
}

impl BlockEvent {
    fn of(f: &trustmeter_chain::Finalized, finalized_us: u64) -> Self {
        let b = &f.block.block;
        let txs = f
            .output
            .receipts
            .iter()
            .zip(&b.txs)
            .map(|(r, tx)| {
                let count = |p: fn(&trustmeter_types::ReadingOutcome) -> bool| {
                    r.readings.iter().filter(|o| p(o)).count() as u32
                };
                let rejected = match r.outcome {
                    trustmeter_types::TxOutcome::Accepted => {
                        count(|o| matches!(o, trustmeter_types::ReadingOutcome::Rejected(_)))
                    }
                    trustmeter_types::TxOutcome::Rejected(_) => tx.body.payload.reading_count() as u32,
                };
                TxEvent {
                    hash: r.tx_hash.to_hex(),
                    recorded: count(trustmeter_types::ReadingOutcome::is_recorded),
                    duplicate: count(|o| *o == trustmeter_types::ReadingOutcome::Duplicate),
                    rejected,
                }
            })
            .collect();
        BlockEvent {
            height: b.header.height,
            finalized_us,
            timestamp_ms: b.header.timestamp_ms,
            readings: b.header.readings_accepted,
            txs,
        }
    }
}

/// Wall-clock time, Unix µs.
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// What validator 0 finalized, counted here independently of the load generator.
#[derive(Default)]
struct ChainTally {
    blocks: u64,
    readings: u64,
}

/// Runs `bench cluster`.
pub fn run(args: ClusterArgs) -> Result<()> {
    args.plan.validate()?;
    anyhow::ensure!((1..=MAX_VALIDATORS).contains(&args.validators), "--validators must be 1..={MAX_VALIDATORS}");
    let data = DataDir::new(args.data_dir.as_deref(), "trustmeter-bench-cluster")?;
    let dir = data.path().to_path_buf();
    println!(
        "bench cluster: {} validators in this process (pid {}), loopback p2p and HTTP; load generator in its own process; data in {} ({})",
        args.validators,
        std::process::id(),
        dir.display(),
        data.fate()
    );
    let runner = commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new().with_storage_directory(dir.join("consensus")),
    );
    let result = runner.start(|ctx| async move {
        let mut stop = StopSignals::new()?;
        tokio::select! {
            r = drive(&ctx, &dir, &args) => r.map(Some),
            sig = stop.recv() => {
                println!("{sig}: stopping");
                Ok(None)
            }
        }
    });
    drop(data);
    if let Some(line) = result? {
        println!("{line}");
    }
    Ok(())
}

/// Starts the validators and the load generator, relays its report, checks the validators agree;
/// returns the final line.
async fn drive(ctx: &commonware_runtime::tokio::Context, dir: &Path, args: &ClusterArgs) -> Result<String> {
    let v = args.validators;
    let p2p = trustmeter_node::ports::loopback_addrs(v);
    let mut devnet = Devnet::new("bench-cluster", v, args.plan.gateways, args.plan.seed, now_ms(), 0);
    for (g, addr) in devnet.genesis.validators.iter_mut().zip(&p2p) {
        g.p2p_address = addr.to_string();
    }
    let genesis_path = dir.join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&devnet.genesis)?)?;
    let written_at_start = super::io_write_bytes();
    let mut nodes: Vec<RunningNode> = Vec::new();
    for (i, key) in devnet.validator_keys.iter().enumerate() {
        let spec = NodeSpec {
            name: format!("validator-{i}"),
            genesis: devnet.genesis.clone(),
            key: key.clone(),
            p2p_listen: p2p[i],
            api_listen: "127.0.0.1:0".parse()?,
            index_path: dir.join(format!("validator-{i}-index.redb")),
            state_path: dir.join(format!("validator-{i}-state.redb")),
            allow_private_ips: true,
            timeouts: Timeouts::default(),
            alarms: Default::default(),
            // One load generator on loopback speaks for every gateway and for onboarding (real
            // gateways each have their own address): no per-address request rate here.
            api: trustmeter_node::api::limits::ApiConfig { max_requests_per_s_per_ip: 1_000_000, ..Default::default() },
            state_sync: false,
            state_cache_mib: trustmeter_node::config::DEFAULT_STATE_CACHE_MIB,
        };
        let node = start_node(ctx.child("node").with_attribute("index", i), spec)
            .await
            .with_context(|| format!("starting validator {i}"))?;
        nodes.push(node);
    }
    let apis: Vec<String> = nodes.iter().map(|n| format!("http://{}", n.api_addr)).collect();
    println!("validators' APIs: {}", apis.join(" "));

    // The load generator, fed with validator 0's finalized blocks (from before it starts).
    let tally = Arc::new(Mutex::new(ChainTally::default()));
    let (sink, mut rx) = futures::channel::mpsc::unbounded();
    nodes[0].app.subscribe(sink);
    let mut cmd = tokio::process::Command::new(std::env::current_exe().context("locating this binary")?);
    cmd.args(["bench", "cluster-load", "--genesis"])
        .arg(&genesis_path)
        .args(["--validators-pid", &std::process::id().to_string()])
        .args(args.plan.to_args());
    for a in &apis {
        cmd.args(["--node", a]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the load generator")?;
    let mut feed = child.stdin.take().context("load generator stdin")?;
    let report = child.stdout.take().context("load generator stdout")?;
    let feeder = {
        let tally = tally.clone();
        tokio::spawn(async move {
            while let Some(f) = rx.next().await {
                let ev = BlockEvent::of(&f, now_us());
                {
                    let mut t = tally.lock().expect("tally lock");
                    t.blocks += 1;
                    t.readings += u64::from(ev.readings);
                }
                let mut line = serde_json::to_vec(&ev).expect("a block event serializes");
                line.push(b'\n');
                if feed.write_all(&line).await.is_err() {
                    break; // the load generator is gone
                }
            }
        })
    };

    // Relay the report; hold back the final line, printed last by `run`.
    let mut lines = BufReader::new(report).lines();
    let mut final_line = None;
    let budget = Duration::from_secs(args.plan.max_duration + 180);
    let started = Instant::now();
    loop {
        let left = budget.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, lines.next_line()).await {
            Err(_) => bail!("the load generator did not finish within {} s", budget.as_secs()),
            Ok(Ok(Some(line))) if line.starts_with(FINAL_PREFIX) => final_line = Some(line),
            Ok(Ok(Some(line))) => println!("{line}"),
            Ok(Ok(None)) => break,
            Ok(Err(e)) => bail!("reading the load generator's report: {e}"),
        }
    }
    let status = child.wait().await.context("waiting for the load generator")?;
    feeder.abort();
    anyhow::ensure!(status.success(), "the load generator failed ({status}); its errors are above");
    let final_line = final_line.context("the load generator printed no final line")?;

    let (blocks, readings) = {
        let t = tally.lock().expect("tally lock");
        (t.blocks, t.readings)
    };
    let (height, root) = agreed_root(&nodes).await?;
    println!(
        "chain: validator 0 finalized {blocks} blocks recording {readings} readings; all {v} validators hold state root {root} at height {height}"
    );
    disk_report(dir, v, readings);
    if let (Some(end), Some(start)) = (super::io_write_bytes(), written_at_start) {
        println!(
            "written by the validators' process: {:.1} MiB, {:.0} B per recorded reading per validator (archives, journals, index, state store; onboarding included)",
            end.saturating_sub(start) as f64 / (1 << 20) as f64,
            end.saturating_sub(start) as f64 / v as f64 / readings.max(1) as f64
        );
    }
    Ok(final_line)
}

fn now_ms() -> i64 {
    (now_us() / 1_000) as i64
}

/// Waits until every validator has indexed a common height and returns it with the state root
/// all of them committed to there; fails if two differ.
async fn agreed_root(nodes: &[RunningNode]) -> Result<(u64, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let top = nodes.iter().map(|n| n.app.finalized_state().height).max().unwrap_or(0);
    loop {
        let h = nodes.iter().map(|n| n.index.height()).min().unwrap_or(0);
        if h >= top || Instant::now() > deadline {
            let mut roots = Vec::new();
            for n in nodes {
                let b = n.index.block(h)?.with_context(|| format!("{} has not indexed block {h}", n.name))?;
                roots.push(b.header.state_root);
            }
            if roots.windows(2).any(|w| w[0] != w[1]) {
                bail!("validators disagree at height {h}: state roots {roots:?}");
            }
            return Ok((h, roots[0].to_hex()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Bytes under `path` (files, recursively).
fn bytes_under(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    std::fs::read_dir(path).map(|rd| rd.flatten().map(|e| bytes_under(&e.path())).sum()).unwrap_or(0)
}

/// Prints what each validator keeps on disk after the run, per reading it recorded: its
/// Commonware partitions (block and finalization archives, marshal's and consensus's journals),
/// its index and its state store.
fn disk_report(dir: &Path, validators: usize, readings: u64) {
    let mut archive = 0u64;
    let mut other = 0u64;
    let mut index = 0u64;
    let mut state = 0u64;
    if let Ok(rd) = std::fs::read_dir(dir.join("consensus")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = bytes_under(&e.path());
            if name.contains("-blocks-") || name.contains("-finalizations-") {
                archive += bytes;
            } else {
                other += bytes;
            }
        }
    }
    for i in 0..validators {
        index += bytes_under(&dir.join(format!("validator-{i}-index.redb")));
        state += bytes_under(&dir.join(format!("validator-{i}-state.redb")));
    }
    let per = |b: u64| b as f64 / validators as f64;
    let per_reading = |b: u64| if readings == 0 { f64::NAN } else { per(b) / readings as f64 };
    println!(
        "disk per validator (file sizes at the end, onboarding included): {:.1} MiB archives (blocks, finalizations; {:.0} B per reading), {:.1} MiB journals, {:.1} MiB index ({:.0} B per reading), {:.1} MiB state store ({:.0} B per reading); index / archive {:.2}, (index + state) / archive {:.2}",
        per(archive) / (1 << 20) as f64,
        per_reading(archive),
        per(other) / (1 << 20) as f64,
        per(index) / (1 << 20) as f64,
        per_reading(index),
        per(state) / (1 << 20) as f64,
        per_reading(state),
        index as f64 / archive.max(1) as f64,
        (index + state) as f64 / archive.max(1) as f64
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        plan: LoadPlan,
    }

    #[test]
    fn the_plan_round_trips_through_the_load_generators_arguments() {
        let plan =
            Cli::parse_from(["x", "--meters", "40", "--start-rate", "250.5", "--factor", "2", "--seed", "9"]).plan;
        let mut argv = vec!["x".to_string()];
        argv.extend(plan.to_args());
        let back = Cli::parse_from(argv).plan;
        assert_eq!(format!("{plan:?}"), format!("{back:?}"));
        assert_eq!(back.meters, 40);
        assert_eq!(back.start_rate, 250.5);
    }

    #[test]
    fn rates_grow_by_the_factor_within_the_limits() {
        let mut plan = Cli::parse_from(["x", "--start-rate", "1000", "--factor", "2", "--max-rate", "9000"]).plan;
        assert_eq!(plan.rates(), vec![1000.0, 2000.0, 4000.0, 8000.0]);
        plan.max_steps = 2;
        assert_eq!(plan.rates(), vec![1000.0, 2000.0]);
        plan.max_steps = 100;
        plan.max_rate = 1e9;
        plan.step_seconds = 100;
        // 1000 × 2^k × 100 s ≤ 2 000 000 readings: k ≤ 4.
        assert_eq!(plan.rates().len(), 5);
        assert!(plan.validate().is_ok());
        plan.gateways = 0;
        assert!(plan.validate().is_err());
    }
}
