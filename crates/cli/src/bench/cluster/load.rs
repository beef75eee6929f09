//! The load generator of `bench cluster`, run as its own process (`trustmeter bench
//! cluster-load`, hidden): onboarding through the API, pre-signed readings offered at a rate
//! raised step by step, and the report.
//!
//! - **Onboarding** as the demo does it, through the nodes' HTTP API: each enterprise registers
//!   its gateway and meters, the metrology authority records the calibrations, the regulator
//!   activates meters and then gateways; each sender's transactions go one after another through
//!   one node, and the load generator waits until the sender's nonce is finalized.
//! - **Readings** come from one simulated plant per gateway ([`Plant`]: meters on the 15-minute
//!   grid, a third signing with their own keys). Each step's readings are signed and encoded
//!   before the step starts (on every core), so signing is never on the measured path; every
//!   transaction's hash is known before it is sent.
//! - **Offering a rate**: transactions are due at the times that spread the step's readings
//!   evenly at its rate; a dispatcher hands each one, when due, to its gateway's sender task,
//!   which posts its gateway's transactions one after another (in nonce order) to the gateway's
//!   node, retrying while the node answers `mempool_full`. At most one request per gateway is in
//!   flight; nothing is sent after the step's end.
//! - **Measuring**: the window is the step minus a warm-up. Finalization times come from the feed
//!   of validator 0's blocks on stdin ([`super::BlockEvent`]). CPU comes from `/proc/<pid>/stat`
//!   of the validators' process and of this one, and from the nodes' `GET /metrics` counters
//!   (`n/a` where a node does not serve them).
//! - **Keeping up**: a step kept up when its finalized rate is at least 90 % of the offered
//!   rate, every transaction it submitted was finalized after the drain, and the latency did not
//!   grow through the window (median submit → finalized of its last third at most twice that of
//!   its first third, or under a second). The first step that does not keep up is the last.

use super::stats::{self, COMPONENTS};
use super::{BlockEvent, LoadPlan, MAX_VALIDATORS, now_us};
use anyhow::{Context as _, Result, bail};
use clap::Args;
use futures::StreamExt as _;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use trustmeter_chain::devnet::Devnet;
use trustmeter_crypto::{BatchVerifier, HashAlg, tx_hash};
use trustmeter_plant::{Plant, PlantConfig, TxSigner};
use trustmeter_types::{DeviceId, Hash32, PublicKey, ReadingSigner, Transaction, TxPayload, encode};

/// Share of the offered rate a step must finalize to count as kept up.
const KEEP_UP_SHARE: f64 = 0.9;
/// Longest wait for one onboarding phase, or for a node to answer at start.
const SETUP_PATIENCE: Duration = Duration::from_secs(300);
/// Longest wait for one HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause before resending a transaction a node refused with `mempool_full`.
const FULL_BACKOFF: Duration = Duration::from_millis(20);
/// Most readings of the first step used to measure the batch-verification rate.
const VERIFY_SAMPLE_READINGS: usize = 60_000;
/// The plants' reading interval.
const INTERVAL_MS: i64 = 900_000;

/// Options of the hidden `bench cluster-load`.
#[derive(Args, Clone, Debug)]
pub struct LoadArgs {
    /// The chain's genesis (written by `bench cluster`).
    #[arg(long)]
    pub genesis: PathBuf,
    /// API URL of each validator, in validator order.
    #[arg(long = "node", required = true)]
    pub nodes: Vec<String>,
    /// Process id of the validators' process (its CPU is measured).
    #[arg(long)]
    pub validators_pid: u32,
    /// The load.
    #[command(flatten)]
    pub plan: LoadPlan,
}

/// Runs the load generator.
pub fn run(args: LoadArgs) -> Result<()> {
    args.plan.validate()?;
    anyhow::ensure!((1..=MAX_VALIDATORS).contains(&args.nodes.len()), "give 1..={MAX_VALIDATORS} --node URLs");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move { Load::new(args)?.run().await })
}

/// One gateway of the load: its plant (meters, keys, readings) and its transaction signer.
struct Gateway {
    plant: Plant,
    signer: TxSigner,
    /// The node it sends through.
    node: usize,
}

/// A signed transaction ready to post.
struct Prepared {
    hash: Hash32,
    bytes: Vec<u8>,
    readings: u32,
}

/// What is known of one submitted transaction.
#[derive(Clone, Debug)]
struct TxRecord {
    step: usize,
    readings: u32,
    submit_us: u64,
    admitted: bool,
    fin_us: Option<u64>,
    recorded: u32,
    duplicate: u32,
    rejected: u32,
}

/// Submitted transactions and finalized blocks, as the feed reports them.
#[derive(Default)]
struct Tracker {
    txs: HashMap<Hash32, TxRecord>,
    /// `(finalized µs, header timestamp ms)` of every block finalized at validator 0.
    blocks: Vec<(u64, i64)>,
    /// Height of the last block fed.
    height: u64,
    /// Feed lines that did not parse.
    bad_lines: u64,
}

impl Tracker {
    fn on_block(&mut self, ev: BlockEvent) {
        self.height = ev.height;
        self.blocks.push((ev.finalized_us, ev.timestamp_ms));
        for t in ev.txs {
            let Ok(h) = Hash32::from_hex(&t.hash) else { continue };
            if let Some(r) = self.txs.get_mut(&h) {
                r.fin_us = Some(ev.finalized_us);
                r.recorded = t.recorded;
                r.duplicate = t.duplicate;
                r.rejected = t.rejected;
            }
        }
    }

    /// Readings admitted and not yet finalized, of `step` (all steps if `None`).
    fn backlog(&self, step: Option<usize>, at_us: u64) -> u64 {
        self.txs
            .values()
            .filter(|r| step.is_none_or(|s| r.step == s) && r.admitted && r.submit_us <= at_us)
            .filter(|r| r.fin_us.is_none_or(|f| f > at_us))
            .map(|r| u64::from(r.readings))
            .sum()
    }
}

/// CPU and counters at one instant.
struct Snapshot {
    at_us: u64,
    validators_cpu: Option<f64>,
    load_cpu: Option<f64>,
    metrics: BTreeMap<String, f64>,
}

/// What one gateway's sender task did in a step.
#[derive(Default)]
struct SenderStats {
    sent: u64,
    unsent: u64,
    full: u64,
    admission_ms: Vec<f64>,
    refused: Vec<String>,
}

/// The figures of one step.
#[derive(Clone, Debug, Default)]
struct StepResult {
    index: usize,
    offered: f64,
    window_s: f64,
    submitted_rate: f64,
    finalized_rate: f64,
    finality_ms: (Option<f64>, Option<f64>),
    submit_final_ms: (Option<f64>, Option<f64>),
    admission_ms: (Option<f64>, Option<f64>),
    full: u64,
    unsent: u64,
    not_finalized: u64,
    backlog_end: u64,
    latency_growing: bool,
    kept_up: bool,
    /// Seconds per 1 000 finalized readings, by component (`None`: not measured).
    cpu: Vec<(String, Option<f64>)>,
    /// `trustmeter_readings_finalized_total` per validator over the window, as a share of the
    /// readings the feed saw finalized (about 1 when the metrics are read right).
    metrics_check: Option<f64>,
    /// Bytes written to each store's file per finalized reading per validator over the window
    /// (`trustmeter_store_bytes_written_total`), by store.
    written: Vec<(String, Option<f64>)>,
    /// Alarm passes over the window: meters looked at per finalized reading per validator, and
    /// wall µs per meter looked at (`trustmeter_alarm_meters_evaluated_total`,
    /// `trustmeter_alarm_seconds_total`).
    alarm_meters: (Option<f64>, Option<f64>),
}

struct Load {
    args: LoadArgs,
    http: reqwest::Client,
    devnet: Devnet,
    alg: HashAlg,
    tracker: Arc<Mutex<Tracker>>,
    started: Instant,
    cores: usize,
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}")).unwrap_or_else(|| "n/a".into())
}

fn fmt_cpu(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into())
}

impl Load {
    fn new(args: LoadArgs) -> Result<Self> {
        let genesis = trustmeter_node::config::load_genesis(&args.genesis)?;
        anyhow::ensure!(
            genesis.validators.len() == args.nodes.len(),
            "genesis names {} validators but {} --node URLs were given",
            genesis.validators.len(),
            args.nodes.len()
        );
        // The members' keys are derived from the seed, as `bench cluster` made the genesis.
        let devnet = Devnet::new(
            genesis.chain_id.as_str(),
            genesis.validators.len(),
            args.plan.gateways,
            args.plan.seed,
            genesis.genesis_time_ms,
            0,
        );
        anyhow::ensure!(
            devnet.genesis.accounts == genesis.accounts,
            "the genesis accounts are not those of seed {} with {} gateways",
            args.plan.seed,
            args.plan.gateways
        );
        let http = reqwest::Client::builder()
            .pool_idle_timeout(trustmeter_api_client::POOL_IDLE_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Ok(Load {
            alg: genesis.params.hash,
            args,
            http,
            devnet,
            tracker: Arc::new(Mutex::new(Tracker::default())),
            started: Instant::now(),
            cores,
        })
    }

    async fn run(self) -> Result<()> {
        let plan = self.args.plan.clone();
        self.start_feed();
        for n in &self.args.nodes {
            self.wait_answering(n).await?;
        }
        let rates = plan.rates();
        // Readings lie on the 15-minute grid, every meter's strictly later than its previous
        // one, ending no later than now: start early enough for every step the plan allows.
        let intervals: usize =
            rates.iter().map(|r| (r * plan.step_seconds as f64 / plan.meters as f64).ceil() as usize).sum::<usize>()
                + 2;
        let now_ms = (now_us() / 1_000) as i64;
        let start_ms = (now_ms - intervals as i64 * INTERVAL_MS) / INTERVAL_MS * INTERVAL_MS;
        let mut gateways: Vec<Gateway> = (0..plan.gateways)
            .map(|g| {
                let ent = &self.devnet.enterprises[g];
                let meters = plan.meters / plan.gateways + usize::from(g < plan.meters % plan.gateways);
                let plant =
                    Plant::new(PlantConfig { meters, start_ms, ..PlantConfig::new(ent.org.id.clone(), plan.seed) });
                let signer = plant.gateway_signer(self.devnet.genesis.chain_id.clone(), 1);
                Gateway { plant, signer, node: g % self.args.nodes.len() }
            })
            .collect();
        let t = Instant::now();
        self.onboard(&gateways, (start_ms - 86_400_000, now_ms + 365 * 86_400_000)).await?;
        println!(
            "onboarded {} gateways and {} meters through the API in {:.1} s ({} cores; readings from {} on the 15-minute grid)",
            plan.gateways,
            plan.meters,
            t.elapsed().as_secs_f64(),
            self.cores,
            fmt_day(start_ms)
        );

        let warm = warm_up(plan.step_seconds);
        println!(
            "steps of {} s from {:.0} readings/s (×{} per step); figures over the last {:.1} s of each step; CPU as seconds per 1 000 finalized readings",
            plan.step_seconds,
            plan.start_rate,
            plan.factor,
            plan.step_seconds as f64 - warm.as_secs_f64()
        );
        let mut results: Vec<StepResult> = Vec::new();
        let mut verify_rate: Option<f64> = None;
        let mut sign_rate = 5_000.0 * self.cores as f64; // readings/s, until measured
        for (k, &rate) in rates.iter().enumerate() {
            let readings = rate * plan.step_seconds as f64;
            let intervals = (readings / plan.meters as f64).ceil() as usize;
            let est = Duration::from_secs_f64(
                (intervals * plan.meters) as f64 / sign_rate + 1.5 * plan.step_seconds as f64 + 5.0,
            );
            if self.started.elapsed() + est > Duration::from_secs(plan.max_duration) {
                println!(
                    "stopping: step {} would not end within --max-duration {} s (it needs about {:.0} s more)",
                    k + 1,
                    plan.max_duration,
                    est.as_secs_f64()
                );
                break;
            }
            let t = Instant::now();
            let sample_wanted = verify_rate.is_none();
            let (queues, sample) = tokio::task::block_in_place(|| {
                presign(&mut gateways, intervals, plan.batch, self.alg, self.cores, sample_wanted)
            });
            let signed_s = t.elapsed().as_secs_f64();
            let n_txs: usize = queues.iter().map(Vec::len).sum();
            let n_readings: u64 = queues.iter().flatten().map(|p| u64::from(p.readings)).sum();
            sign_rate = n_readings as f64 / signed_s.max(1e-3);
            if sample_wanted {
                let keys: HashMap<DeviceId, PublicKey> =
                    gateways.iter().flat_map(|g| g.plant.meter_keys()).map(|(id, k)| (id, k.public_key())).collect();
                let (rate, n, secs) = tokio::task::block_in_place(|| verify_rate_of(&sample, &keys));
                drop(sample);
                println!(
                    "Ed25519 batch verification, one core, of {n} of these readings (and their transactions' signatures): {rate:.0} readings/s ({secs:.3} s)"
                );
                verify_rate = Some(rate);
            }
            println!(
                "step {}: offer {:.0} readings/s for {} s — {} readings in {} transactions of ≤ {} signed beforehand in {:.1} s",
                k + 1,
                rate,
                plan.step_seconds,
                n_readings,
                n_txs,
                plan.batch,
                signed_s
            );
            let result = self.run_step(k, rate, queues, &gateways).await?;
            print_step(&result);
            let kept_up = result.kept_up;
            results.push(result);
            if !kept_up {
                break;
            }
        }

        // Whatever is still pending: wait for it, so the totals are final.
        self.drain(None, Instant::now() + Duration::from_secs(60)).await;
        let totals = self.totals();
        println!(
            "readings: submitted {}, finalized {} (recorded {}, duplicate {}, rejected {}), not finalized {}",
            totals.0, totals.1, totals.2, totals.3, totals.4, totals.5
        );
        let end = self.snapshot().await;
        let certificates = |how: &str| end.metrics.get(&format!("certificates/{how}")).copied().unwrap_or(0.0);
        println!(
            "finalized blocks' certificates (all validators): {:.0} held, {:.0} fetched from peers, {:.0} none (final through a descendant)",
            certificates("local"),
            certificates("fetched"),
            certificates("missing")
        );
        let bad = self.tracker.lock().expect("tracker").bad_lines;
        anyhow::ensure!(bad == 0, "{bad} lines of the block feed did not parse");
        self.summary(&results, verify_rate)
    }

    /// Reads validator 0's finalized blocks from stdin.
    fn start_feed(&self) {
        let tracker = self.tracker.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut t = tracker.lock().expect("tracker");
                match serde_json::from_str::<BlockEvent>(&line) {
                    Ok(ev) => t.on_block(ev),
                    Err(_) => t.bad_lines += 1,
                }
            }
        });
    }

    async fn wait_answering(&self, node: &str) -> Result<()> {
        let deadline = Instant::now() + SETUP_PATIENCE;
        loop {
            if let Ok(r) = self.http.get(format!("{node}/v1/status")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "node {node} did not answer within {SETUP_PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Posts a transaction's canonical bytes; `Ok(true)` when admitted, `Ok(false)` when the
    /// node's mempool is full.
    async fn post(&self, node: &str, bytes: Vec<u8>) -> Result<bool> {
        post(&self.http, node, bytes).await
    }

    /// Sends `txs` one after another through `node` (so they are admitted in nonce order),
    /// waits until the last is finalized and checks that every one was accepted.
    async fn send_in_order(&self, node: &str, txs: Vec<Transaction>, what: &str) -> Result<()> {
        let Some(last) = txs.last() else { return Ok(()) };
        let (sender, nonce) = (last.body.sender.clone(), last.body.nonce);
        let deadline = Instant::now() + SETUP_PATIENCE;
        for tx in &txs {
            let bytes = encode(tx);
            while !self.post(node, bytes.clone()).await.with_context(|| format!("{what} through {node}"))? {
                anyhow::ensure!(Instant::now() < deadline, "{what}: the node stayed full");
                tokio::time::sleep(FULL_BACKOFF * 5).await;
            }
        }
        loop {
            let v: serde_json::Value =
                self.http.get(format!("{node}/v1/accounts/{}", sender.to_text())).send().await?.json().await?;
            if v["last_nonce"].as_u64().unwrap_or(0) >= nonce {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "{what}: not finalized within {SETUP_PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Every receipt, not only the last: nonces need only increase, so a lost transaction
        // would not stop the later ones.
        let receipts = futures::stream::iter(txs.iter().map(|tx| {
            let url = format!("{node}/v1/transactions/{}", tx_hash(self.alg, tx).to_hex());
            async move { anyhow::Ok(self.http.get(url).send().await?.json::<serde_json::Value>().await?) }
        }))
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
        for v in receipts {
            let v = v?;
            if v["status"] != "finalized" || v["receipt"]["outcome"]["status"] != "accepted" {
                bail!("{what}: a transaction was not accepted: {v}");
            }
        }
        Ok(())
    }

    /// Registers, calibrates and activates every gateway and meter, through the API.
    async fn onboard(&self, gateways: &[Gateway], calibration: (i64, i64)) -> Result<()> {
        let chain = self.devnet.genesis.chain_id.clone();
        let node = |i: usize| self.args.nodes[i % self.args.nodes.len()].as_str();
        // A meter names its gateway, which must be registered (finalized) first.
        let registrations = gateways.iter().enumerate().map(|(g, gw)| {
            let mut ent = TxSigner::new(self.devnet.enterprises[g].key.clone(), chain.clone(), 1);
            async move {
                let gateway = vec![ent.sign(gw.plant.register_gateway_payload())];
                self.send_in_order(node(gw.node), gateway, "registering a gateway").await?;
                // Master meters first (finalized before the meters naming them are admitted).
                for batch in gw.plant.register_meter_batches() {
                    let meters = ent.sign_all(batch);
                    self.send_in_order(node(gw.node), meters, "registering meters").await?;
                }
                Ok::<(), anyhow::Error>(())
            }
        });
        futures::future::try_join_all(registrations).await?;
        // Each node admits against its own finalized state: wait until every node has applied
        // the registrations before sending calibrations and activations through other nodes.
        self.wait_all_caught_up().await?;
        let mut metrology = TxSigner::new(self.devnet.metrology.key.clone(), chain.clone(), 1);
        let calibrations =
            metrology.sign_all(gateways.iter().flat_map(|g| {
                g.plant.calibration_payloads(&self.devnet.metrology.org.id, calibration.0, calibration.1)
            }));
        let mut regulator = TxSigner::new(self.devnet.regulator.key.clone(), chain.clone(), 1);
        // Meters first, gateways last (a gateway is active only once its meters are).
        let activations = regulator.sign_all(
            gateways
                .iter()
                .flat_map(|g| g.plant.meter_specs().into_iter().map(|s| s.id))
                .chain(gateways.iter().map(|g| g.plant.gateway_id().clone()))
                .map(|device| TxPayload::ActivateDevice { device }),
        );
        futures::future::try_join(
            self.send_in_order(node(1), calibrations, "recording calibrations"),
            self.send_in_order(node(2), activations, "activating devices"),
        )
        .await?;
        // Readings go through every node: each must see the devices active first.
        self.wait_all_caught_up().await
    }

    /// Waits until every node's finalized height reaches the highest any node reports now.
    async fn wait_all_caught_up(&self) -> Result<()> {
        let height = |n: &str| {
            let url = format!("{n}/v1/status");
            async move {
                let v: serde_json::Value = self.http.get(url).send().await?.json().await?;
                anyhow::Ok(v["finalized_height"].as_u64().unwrap_or(0))
            }
        };
        let mut target = 0;
        for n in &self.args.nodes {
            target = target.max(height(n).await?);
        }
        let deadline = Instant::now() + SETUP_PATIENCE;
        for n in &self.args.nodes {
            while height(n).await? < target {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "{n} did not reach height {target} within {SETUP_PATIENCE:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    async fn snapshot(&self) -> Snapshot {
        let scrapes = futures::future::join_all(self.args.nodes.iter().map(|n| async move {
            let r = self.http.get(format!("{n}/metrics")).timeout(Duration::from_secs(5)).send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            Some(stats::parse_prometheus(&r.text().await.ok()?))
        }))
        .await;
        Snapshot {
            at_us: now_us(),
            validators_cpu: stats::process_cpu_seconds(self.args.validators_pid),
            load_cpu: stats::process_cpu_seconds(std::process::id()),
            metrics: stats::totals(&scrapes, self.args.nodes.len()),
        }
    }

    /// Offers `queues` (per gateway, in nonce order) at `rate` for the step's duration, drains,
    /// and measures.
    async fn run_step(
        &self,
        step: usize,
        rate: f64,
        queues: Vec<Vec<Prepared>>,
        gateways: &[Gateway],
    ) -> Result<StepResult> {
        let plan = &self.args.plan;
        let duration = Duration::from_secs(plan.step_seconds);
        let warm = warm_up(plan.step_seconds);
        // Dispatch order: the gateways' transactions interleaved, one of each in turn.
        let longest = queues.iter().map(Vec::len).max().unwrap_or(0);
        let mut order = Vec::new();
        for j in 0..longest {
            for (g, q) in queues.iter().enumerate() {
                if j < q.len() {
                    order.push((g, q[j].readings));
                }
            }
        }
        let t0 = Instant::now();
        let t0_us = now_us();
        let end = t0 + duration;
        let mut senders = Vec::new();
        let mut workers = Vec::new();
        let mut held: Vec<std::collections::VecDeque<Prepared>> = Vec::new();
        for (g, q) in queues.into_iter().enumerate() {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Prepared>();
            senders.push(tx);
            held.push(q.into());
            let node = self.args.nodes[gateways[g].node].clone();
            workers.push(tokio::spawn(sender_task(self.http.clone(), node, rx, end, self.tracker.clone(), step)));
        }
        let dispatch = async move {
            let mut cumulative = 0.0;
            for (g, readings) in order {
                let due = t0 + Duration::from_secs_f64(cumulative / rate);
                cumulative += f64::from(readings);
                if due >= end {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                if let Some(item) = held[g].pop_front() {
                    let _ = senders[g].send(item);
                }
            }
            // Dropping the senders ends the sender tasks once they have posted what they hold.
        };
        let sample = async {
            tokio::time::sleep_until((t0 + warm).into()).await;
            let a = self.snapshot().await;
            tokio::time::sleep_until(end.into()).await;
            let b = self.snapshot().await;
            (a, b)
        };
        let ((), (a, b)) = tokio::join!(dispatch, sample);
        let mut sent = SenderStats::default();
        for w in workers {
            let s = w.await.context("a sender task failed")?;
            sent.sent += s.sent;
            sent.unsent += s.unsent;
            sent.full += s.full;
            sent.admission_ms.extend(s.admission_ms);
            sent.refused.extend(s.refused);
        }
        if let Some(first) = sent.refused.first() {
            eprintln!("{} transactions were refused at admission; the first: {first}", sent.refused.len());
        }
        let end_us = t0_us + duration.as_micros() as u64;
        let backlog_end = self.tracker.lock().expect("tracker").backlog(Some(step), end_us);
        self.drain(Some(step), end + Duration::from_secs(plan.step_seconds.max(10))).await;
        Ok(self.evaluate(step, rate, &a, &b, end_us, backlog_end, &mut sent))
    }

    /// Waits until every admitted transaction (of `step`, or of every step) is finalized, or
    /// `deadline`.
    async fn drain(&self, step: Option<usize>, deadline: Instant) {
        while Instant::now() < deadline {
            if self.tracker.lock().expect("tracker").backlog(step, u64::MAX) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        step: usize,
        rate: f64,
        a: &Snapshot,
        b: &Snapshot,
        end_us: u64,
        backlog_end: u64,
        sent: &mut SenderStats,
    ) -> StepResult {
        let t = self.tracker.lock().expect("tracker");
        let (w0, w1) = (a.at_us, end_us.max(a.at_us + 1));
        let window_s = (w1 - w0) as f64 / 1e6;
        let in_window = |us: u64| us >= w0 && us < w1;
        let mine: Vec<&TxRecord> = t.txs.values().filter(|r| r.step == step && r.admitted).collect();
        let submitted: u64 = mine.iter().filter(|r| in_window(r.submit_us)).map(|r| u64::from(r.readings)).sum();
        let finalized: u64 =
            t.txs.values().filter(|r| r.fin_us.is_some_and(in_window)).map(|r| u64::from(r.recorded)).sum();
        let mut finality: Vec<f64> = t
            .blocks
            .iter()
            .filter(|(f, _)| in_window(*f))
            .map(|(f, ts)| (*f as f64 / 1e3 - *ts as f64).max(0.0))
            .collect();
        let mut windowed: Vec<(u64, Option<u64>)> =
            mine.iter().filter(|r| in_window(r.submit_us)).map(|r| (r.submit_us, r.fin_us)).collect();
        windowed.sort_unstable();
        let not_finalized = mine.iter().filter(|r| r.fin_us.is_none()).count() as u64;
        let latency = |v: &[(u64, Option<u64>)]| -> Vec<f64> {
            v.iter().filter_map(|(s, f)| f.map(|f| f.saturating_sub(*s) as f64 / 1e3)).collect()
        };
        let mut s2f = latency(&windowed);
        let third = windowed.len() / 3;
        let first = stats::quantile(&mut latency(&windowed[..third]), 0.5);
        let last = stats::quantile(&mut latency(&windowed[windowed.len() - third..]), 0.5);
        let latency_growing = match (first, last) {
            (Some(f), Some(l)) => l > 2.0 * f && l > 1_000.0,
            _ => false,
        };
        let finalized_rate = finalized as f64 / window_s;
        let per_k = |secs: Option<f64>| secs.filter(|_| finalized > 0).map(|s| s / (finalized as f64 / 1_000.0));
        let delta = |x: Option<f64>, y: Option<f64>| Some(y? - x?);
        let mut cpu = vec![
            ("validators' process".to_string(), per_k(delta(a.validators_cpu, b.validators_cpu))),
            ("load generator".to_string(), per_k(delta(a.load_cpu, b.load_cpu))),
        ];
        for (label, _, split) in COMPONENTS {
            let keys: Vec<&String> = b
                .metrics
                .keys()
                .filter(|k| *k == label || (split.is_some() && k.starts_with(&format!("{label}/"))))
                .collect();
            if keys.is_empty() {
                cpu.push((label.to_string(), None));
            }
            for k in keys {
                cpu.push((k.clone(), per_k(delta(a.metrics.get(k).copied(), b.metrics.get(k).copied()))));
            }
        }
        // The nodes' own count of finalized readings, per validator, against the feed's.
        let metrics_check =
            delta(a.metrics.get("readings finalized").copied(), b.metrics.get("readings finalized").copied())
                .filter(|_| finalized > 0)
                .map(|m| m / self.args.nodes.len() as f64 / finalized as f64);
        let validators = self.args.nodes.len() as f64;
        let written = ["state", "index"]
            .iter()
            .map(|store| {
                let k = format!("written/{store}");
                let bytes = delta(a.metrics.get(&k).copied(), b.metrics.get(&k).copied());
                (store.to_string(), bytes.filter(|_| finalized > 0).map(|w| w / validators / finalized as f64))
            })
            .collect();
        let looked_at = delta(a.metrics.get("alarm meters").copied(), b.metrics.get("alarm meters").copied());
        let alarm_secs = delta(a.metrics.get("alarm passes").copied(), b.metrics.get("alarm passes").copied());
        let alarm_meters = (
            looked_at.filter(|_| finalized > 0).map(|m| m / validators / finalized as f64),
            looked_at.zip(alarm_secs).filter(|(m, _)| *m > 0.0).map(|(m, s)| s * 1e6 / m),
        );
        let kept_up = finalized_rate >= KEEP_UP_SHARE * rate && not_finalized == 0 && !latency_growing;
        StepResult {
            index: step,
            offered: rate,
            window_s,
            submitted_rate: submitted as f64 / window_s,
            finalized_rate,
            finality_ms: (stats::quantile(&mut finality, 0.5), stats::quantile(&mut finality, 0.99)),
            submit_final_ms: (stats::quantile(&mut s2f, 0.5), stats::quantile(&mut s2f, 0.99)),
            admission_ms: (stats::quantile(&mut sent.admission_ms, 0.5), stats::quantile(&mut sent.admission_ms, 0.99)),
            full: sent.full,
            unsent: sent.unsent,
            not_finalized,
            backlog_end,
            latency_growing,
            kept_up,
            cpu,
            metrics_check,
            written,
            alarm_meters,
        }
    }

    /// `(submitted, finalized, recorded, duplicate, rejected, not finalized)` readings over the
    /// whole run.
    fn totals(&self) -> (u64, u64, u64, u64, u64, u64) {
        let t = self.tracker.lock().expect("tracker");
        let mut out = (0, 0, 0, 0, 0, 0);
        for r in t.txs.values().filter(|r| r.admitted) {
            let n = u64::from(r.readings);
            out.0 += n;
            if r.fin_us.is_some() {
                out.1 += n;
                out.2 += u64::from(r.recorded);
                out.3 += u64::from(r.duplicate);
                out.4 += u64::from(r.rejected);
            } else {
                out.5 += n;
            }
        }
        out
    }

    fn summary(&self, results: &[StepResult], verify_rate: Option<f64>) -> Result<()> {
        let validators = self.args.nodes.len();
        let best = results.iter().rfind(|r| r.kept_up);
        let shown = match best {
            Some(r) => {
                println!("highest sustained rate: step {}, {:.0} readings/s offered", r.index + 1, r.offered);
                r
            }
            None => {
                let r = results
                    .iter()
                    .max_by(|a, b| a.finalized_rate.total_cmp(&b.finalized_rate))
                    .context("no step ran: raise --max-duration or lower --start-rate")?;
                println!(
                    "no step kept up; the figures of the step that finalized most (step {}, {:.0} readings/s offered):",
                    r.index + 1,
                    r.offered
                );
                r
            }
        };
        let bound = verify_rate.map(|v| self.cores as f64 * v / validators as f64);
        println!("  finalized                  : {:>8.0} readings/s", shown.finalized_rate);
        println!(
            "  finality p50 / p99         : {:>8} / {} ms (block proposal → applied at validator 0)",
            fmt_ms(shown.finality_ms.0),
            fmt_ms(shown.finality_ms.1)
        );
        println!(
            "  submit → finalized p50/p99 : {:>8} / {} ms",
            fmt_ms(shown.submit_final_ms.0),
            fmt_ms(shown.submit_final_ms.1)
        );
        let cpu: Vec<String> = shown.cpu.iter().map(|(k, v)| format!("{k} {}", fmt_cpu(*v))).collect();
        println!("  CPU s per 1 000 readings   : {}", cpu.join(", "));
        println!("  written per reading        : {} per validator (this step's window)", fmt_written(&shown.written));
        match (verify_rate, bound) {
            (Some(v), Some(b)) => {
                println!(
                    "  verification bound         : {} cores × {v:.0} readings/s (Ed25519 batches, one core, this run) ÷ {validators} validators = {b:.0} readings/s",
                    self.cores
                );
                println!("  finalized / bound          : {:>8.2}", shown.finalized_rate / b);
            }
            _ => println!("  verification bound         : not measured"),
        }
        println!(
            "{}{:.0} readings/s finalized, p99 finality {} ms, {} of the verification bound",
            super::FINAL_PREFIX,
            shown.finalized_rate,
            fmt_ms(shown.finality_ms.1),
            bound.map(|b| format!("{:.2}", shown.finalized_rate / b)).unwrap_or_else(|| "n/a".into())
        );
        Ok(())
    }
}

/// Posts a transaction's canonical bytes; `Ok(true)` when admitted (202), `Ok(false)` when the
/// node's mempool is full (503); an error for anything else.
async fn post(http: &reqwest::Client, node: &str, bytes: Vec<u8>) -> Result<bool> {
    let resp = http
        .post(format!("{node}/v1/transactions"))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await?;
    let status = resp.status();
    if status.is_success() {
        return Ok(true);
    }
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return Ok(false);
    }
    bail!("{status}: {}", resp.text().await.unwrap_or_default())
}

/// Posts one gateway's transactions, in order, as the dispatcher hands them over; stops at `end`.
async fn sender_task(
    http: reqwest::Client,
    node: String,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Prepared>,
    end: Instant,
    tracker: Arc<Mutex<Tracker>>,
    step: usize,
) -> SenderStats {
    let mut s = SenderStats::default();
    while let Some(item) = rx.recv().await {
        if Instant::now() >= end {
            s.unsent += 1;
            continue;
        }
        let submit_us = now_us();
        tracker.lock().expect("tracker").txs.insert(
            item.hash,
            TxRecord {
                step,
                readings: item.readings,
                submit_us,
                admitted: false,
                fin_us: None,
                recorded: 0,
                duplicate: 0,
                rejected: 0,
            },
        );
        let t = Instant::now();
        loop {
            match post(&http, &node, item.bytes.clone()).await {
                Ok(true) => {
                    s.sent += 1;
                    s.admission_ms.push(t.elapsed().as_secs_f64() * 1e3);
                    if let Some(r) = tracker.lock().expect("tracker").txs.get_mut(&item.hash) {
                        r.admitted = true;
                    }
                    break;
                }
                Ok(false) if Instant::now() < end => {
                    s.full += 1;
                    tokio::time::sleep(FULL_BACKOFF).await;
                }
                Ok(false) => {
                    s.unsent += 1;
                    break;
                }
                Err(e) => {
                    s.refused.push(format!("{node}: {e:#}"));
                    break;
                }
            }
        }
    }
    s
}

/// Signs `intervals` rounds of readings of every gateway's plant into transactions of at most
/// `batch` readings, on up to `threads` threads; returns them per gateway in nonce order, and
/// (if `sample`) up to [`VERIFY_SAMPLE_READINGS`] readings' worth of the transactions themselves.
fn presign(
    gateways: &mut [Gateway],
    intervals: usize,
    batch: usize,
    alg: HashAlg,
    threads: usize,
    sample: bool,
) -> (Vec<Vec<Prepared>>, Vec<Transaction>) {
    let per_thread = gateways.len().div_ceil(threads.max(1));
    let sample_per_gateway = VERIFY_SAMPLE_READINGS.div_ceil(gateways.len());
    let chunks: Vec<Vec<(Vec<Prepared>, Vec<Transaction>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = gateways
            .chunks_mut(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter_mut()
                        .map(|gw| {
                            let mut out = Vec::new();
                            let mut kept = Vec::new();
                            let mut kept_readings = 0;
                            for _ in 0..intervals {
                                let readings = gw.plant.advance();
                                for p in gw.plant.batches(readings, batch) {
                                    let tx = gw.signer.sign(p);
                                    let n = tx.body.payload.reading_count();
                                    out.push(Prepared {
                                        hash: tx_hash(alg, &tx),
                                        bytes: encode(&tx),
                                        readings: n as u32,
                                    });
                                    if sample && kept_readings < sample_per_gateway {
                                        kept_readings += n;
                                        kept.push(tx);
                                    }
                                }
                            }
                            (out, kept)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a signing thread panicked")).collect()
    });
    let mut queues = Vec::new();
    let mut kept = Vec::new();
    for (q, k) in chunks.into_iter().flatten() {
        queues.push(q);
        kept.extend(k);
    }
    (queues, kept)
}

/// Verifies the signatures of `txs` as a validator's admission does — per transaction, one
/// Ed25519 batch of the transaction's signature and its readings' — on this thread; returns
/// readings/s, readings, seconds.
fn verify_rate_of(txs: &[Transaction], meter_keys: &HashMap<DeviceId, PublicKey>) -> (f64, usize, f64) {
    /// A transaction's signing payload, and each reading's key and signing payload.
    type Payloads = (Vec<u8>, Vec<(PublicKey, Vec<u8>)>);
    let payloads: Vec<Payloads> = txs
        .iter()
        .map(|tx| {
            let readings = match &tx.body.payload {
                TxPayload::SubmitReadings { readings, .. } => readings
                    .iter()
                    .map(|sr| {
                        let key = match sr.signer {
                            ReadingSigner::Meter => meter_keys[&sr.reading.meter].clone(),
                            ReadingSigner::Gateway => tx.body.sender.clone(),
                        };
                        (key, sr.reading.signing_payload())
                    })
                    .collect(),
                _ => Vec::new(),
            };
            (tx.body.signing_payload(), readings)
        })
        .collect();
    let n: usize = txs.iter().map(|t| t.body.payload.reading_count()).sum();
    let t = Instant::now();
    let mut rng = rand::rng();
    for (tx, (payload, readings)) in txs.iter().zip(&payloads) {
        let mut b = BatchVerifier::new();
        b.queue(&tx.body.sender, payload, &tx.signature);
        if let TxPayload::SubmitReadings { readings: signed, .. } = &tx.body.payload {
            for ((key, msg), sr) in readings.iter().zip(signed) {
                b.queue(key, msg, &sr.signature);
            }
        }
        assert!(b.verify(&mut rng).iter().all(|r| r.is_ok()), "pre-signed readings must verify");
    }
    let secs = t.elapsed().as_secs_f64();
    (n as f64 / secs.max(1e-9), n, secs)
}

/// The warm-up at the start of a step that its figures leave out.
fn warm_up(step_seconds: u64) -> Duration {
    Duration::from_secs_f64((step_seconds as f64 / 5.0).min(3.0))
}

/// `state 812 B, index 431 B` (`n/a` where a node did not report it).
fn fmt_written(w: &[(String, Option<f64>)]) -> String {
    let parts: Vec<String> = w
        .iter()
        .map(|(store, b)| format!("{store} {}", b.map(|b| format!("{b:.0} B")).unwrap_or_else(|| "n/a".into())))
        .collect();
    parts.join(", ")
}

fn print_step(r: &StepResult) {
    println!(
        "  submitted {:.0}/s (admission p50 {} ms, p99 {} ms; {} × mempool full, {} not sent) | finalized {:.0}/s = {:.2} of offered | backlog at end {}",
        r.submitted_rate,
        fmt_ms(r.admission_ms.0),
        fmt_ms(r.admission_ms.1),
        r.full,
        r.unsent,
        r.finalized_rate,
        r.finalized_rate / r.offered,
        r.backlog_end
    );
    println!(
        "  finality p50 {} ms p99 {} ms | submit → finalized p50 {} ms p99 {} ms ({} not finalized{}) | {}",
        fmt_ms(r.finality_ms.0),
        fmt_ms(r.finality_ms.1),
        fmt_ms(r.submit_final_ms.0),
        fmt_ms(r.submit_final_ms.1),
        r.not_finalized,
        if r.latency_growing { "; latency growing" } else { "" },
        if r.kept_up { "kept up" } else { "did NOT keep up" }
    );
    let cpu: Vec<String> = r.cpu.iter().map(|(k, v)| format!("{k} {}", fmt_cpu(*v))).collect();
    println!("  CPU s / 1 000 readings ({:.1} s window): {}", r.window_s, cpu.join(", "));
    println!("  written per finalized reading per validator: {}", fmt_written(&r.written));
    if let (Some(per), Some(us)) = r.alarm_meters {
        // A pass is followed by a pause of 9× its duration (node/src/run.rs): the engine's budget.
        println!(
            "  alarm passes: {per:.2} meters looked at per finalized reading per validator, {us:.1} µs (wall) per meter"
        );
    }
    if let Some(m) = r.metrics_check {
        println!(
            "  (trustmeter_readings_finalized_total per validator = {m:.2} × the readings finalized in the window)"
        );
    }
}

/// `YYYY-MM-DD` (UTC) of a Unix ms instant.
fn fmt_day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}
