//! `trustmeter demo`: a whole local consortium with a simulated plant.
//!
//! Four validators run in this process, each with its own authenticated p2p endpoint on loopback,
//! its own Commonware storage partitions and index file under the data directory, and its own
//! HTTP API. A simulated plant (a few hundred meters across workshops) is onboarded through the
//! API — gateway and meters registered by the enterprise, calibrations recorded by the metrology
//! authority, devices activated by the regulator — and then replays its recent history and keeps
//! reporting signed readings, each batch posted to one of the validators' APIs.

use anyhow::{Context, Result, bail};
use clap::Args;
use commonware_runtime::{Runner, Supervisor};
use futures::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use trustmeter_chain::devnet::{Devnet, DevnetCrypto};
use trustmeter_chain::engine::Timeouts;
use trustmeter_crypto::tx_hash;
use trustmeter_node::{NodeSpec, RunningNode, start_node};
use trustmeter_plant::{Plant, PlantConfig, TxSigner};
use trustmeter_types::{Hash32, HashAlg, KeyScheme, Transaction, TxPayload, encode};

/// Options of `trustmeter demo`.
#[derive(Args, Clone)]
pub struct DemoArgs {
    /// Number of validators.
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    /// Number of simulated meters.
    #[arg(long, default_value_t = 300)]
    pub meters: usize,
    /// Stop after this many seconds (0 = run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub duration: u64,
    /// Data directory (default: a fresh directory under the system temp dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// First API port (validator i serves on port + i).
    #[arg(long, default_value_t = 8_080)]
    pub api_port: u16,
    /// First p2p port.
    #[arg(long, default_value_t = 30_300)]
    pub p2p_port: u16,
    /// Days of plant history to replay before reporting in real time.
    #[arg(long, default_value_t = 3)]
    pub history_days: i64,
    /// Reading intervals (15 min each) replayed per second while catching up.
    #[arg(long, default_value_t = 4)]
    pub speed: u32,
    /// Seed for keys and the plant.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Hash algorithm of the chain's data: `sha256` or `sm3` (国密).
    #[arg(long = "hash", default_value = "sha256")]
    pub hash: HashAlg,
    /// Scheme of the members', the gateway's and the meters' keys: `ed25519` or `sm2` (国密).
    #[arg(long, default_value = "ed25519")]
    pub key_scheme: KeyScheme,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

/// Posts transactions to the validators' APIs and tracks when they were sent.
///
/// Each sender's transactions go to one validator (chosen by its key), so they reach a block in
/// nonce order; different senders spread over all validators.
#[derive(Clone)]
struct Submitter {
    alg: HashAlg,
    http: reqwest::Client,
    apis: Vec<String>,
    sent: Arc<Mutex<HashMap<Hash32, Instant>>>,
}

impl Submitter {
    async fn submit(&self, tx: &Transaction) -> Result<Hash32> {
        let i = tx.body.sender.bytes.iter().fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(*b as usize))
            % self.apis.len();
        let h = tx_hash(self.alg, tx);
        self.sent.lock().expect("lock").insert(h, Instant::now());
        let resp = self
            .http
            .post(format!("{}/v1/transactions", self.apis[i]))
            .header("content-type", "application/octet-stream")
            .body(encode(tx))
            .send()
            .await
            .context("posting a transaction")?;
        if !resp.status().is_success() {
            let body = resp.text().await.unwrap_or_default();
            bail!("transaction {} refused: {body}", h);
        }
        Ok(h)
    }

    async fn wait_finalized(&self, hashes: &[Hash32], what: &str) -> Result<()> {
        let start = Instant::now();
        for h in hashes {
            loop {
                let v: serde_json::Value =
                    self.http.get(format!("{}/v1/transactions/{}", self.apis[0], h)).send().await?.json().await?;
                match v["status"].as_str() {
                    Some("finalized") => {
                        if v["receipt"]["outcome"]["status"] != "accepted" {
                            bail!("{what}: transaction {h} was not accepted: {}", v["receipt"]["outcome"]);
                        }
                        break;
                    }
                    Some("rejected") => bail!("{what}: transaction {h} rejected: {}", v["rejection"]),
                    _ => {}
                }
                if start.elapsed() > Duration::from_secs(60) {
                    bail!("{what}: not finalized within 60 s");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Stats {
    readings: u64,
    blocks: u64,
    finality_ms: Vec<u64>,
    ack_ms: Vec<u64>,
}

fn p50(v: &mut [u64]) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    let dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("trustmeter-demo-{}", std::process::id())),
    };
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let genesis_ms = now_ms();
    let crypto = DevnetCrypto { hash: args.hash, account_scheme: args.key_scheme };
    let devnet = Devnet::with_crypto("hunan-1", args.validators, 1, args.seed, genesis_ms, args.p2p_port, crypto);
    let alg = args.hash;
    let genesis_path = dir.join("genesis.json");
    std::fs::write(&genesis_path, serde_json::to_string_pretty(&devnet.genesis)?)?;
    println!(
        "Trustmeter demo: chain {} with {} validators ({} hashing, {} keys); data in {}",
        devnet.genesis.chain_id,
        args.validators,
        args.hash,
        args.key_scheme.name(),
        dir.display()
    );

    let runner = commonware_runtime::tokio::Runner::new(
        commonware_runtime::tokio::Config::new().with_storage_directory(dir.join("consensus")),
    );
    runner.start(|ctx| async move {
        let mut nodes: Vec<RunningNode> = Vec::new();
        for (i, key) in devnet.validator_keys.iter().enumerate() {
            let spec = NodeSpec {
                name: format!("validator-{i}"),
                genesis: devnet.genesis.clone(),
                key: key.clone(),
                p2p_listen: format!("127.0.0.1:{}", args.p2p_port + i as u16).parse()?,
                api_listen: format!("127.0.0.1:{}", args.api_port + i as u16).parse()?,
                index_path: dir.join(format!("validator-{i}-index.redb")),
                allow_private_ips: true,
                timeouts: Timeouts::default(),
            };
            nodes.push(start_node(ctx.child("node").with_attribute("index", i), spec).await?);
        }
        let apis: Vec<String> = nodes.iter().map(|n| format!("http://{}", n.api_addr)).collect();
        println!("API: {}/v1/status  (OpenAPI: {}/openapi.json); all validators: {}", apis[0], apis[0], apis.join(" "));
        let submitter = Submitter { alg, http: reqwest::Client::new(), apis, sent: Arc::new(Mutex::new(HashMap::new())) };

        // Statistics from validator 0's finalized blocks.
        let stats = Arc::new(Mutex::new(Stats::default()));
        let (sink, mut rx) = futures::channel::mpsc::unbounded();
        nodes[0].app.subscribe(sink);
        {
            let stats = stats.clone();
            let sent = submitter.sent.clone();
            tokio::spawn(async move {
                while let Some(f) = rx.next().await {
                    let now = now_ms();
                    let mut s = stats.lock().expect("lock");
                    s.blocks += 1;
                    s.readings += f.block.block.header.readings_accepted as u64;
                    s.finality_ms.push((now - f.block.block.header.timestamp_ms).max(0) as u64);
                    let mut sent = sent.lock().expect("lock");
                    for tx in &f.block.block.txs {
                        if let Some(t) = sent.remove(&tx_hash(alg, tx)) {
                            s.ack_ms.push(t.elapsed().as_millis() as u64);
                        }
                    }
                }
            });
        }

        // Onboard the plant: registration, calibration, activation.
        let enterprise = &devnet.enterprises[0];
        let start_ms = (now_ms() - args.history_days * 86_400_000) / 900_000 * 900_000;
        let mut plant = Plant::new(PlantConfig {
            meters: args.meters,
            start_ms,
            key_scheme: args.key_scheme,
            ..PlantConfig::new(enterprise.org.id.clone(), args.seed)
        });
        let chain = devnet.genesis.chain_id.clone();
        let mut ent = TxSigner::new(enterprise.key.clone(), chain.clone(), 1);
        let t0 = Instant::now();
        let h = submitter.submit(&ent.sign(plant.register_gateway_payload())).await?;
        submitter.wait_finalized(&[h], "gateway registration").await?;
        let mut hs = Vec::new();
        for p in plant.register_meter_payloads() {
            hs.push(submitter.submit(&ent.sign(p)).await?);
        }
        submitter.wait_finalized(&hs, "meter registration").await?;
        let mut metrology = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
        let mut regulator = TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1);
        let mut hs = Vec::new();
        for p in plant.calibration_payloads(&devnet.metrology.org.id, start_ms - 30 * 86_400_000, now_ms() + 365 * 86_400_000) {
            hs.push(submitter.submit(&metrology.sign(p)).await?);
        }
        hs.push(submitter.submit(&regulator.sign(TxPayload::ActivateDevice { device: plant.gateway_id().clone() })).await?);
        for spec in plant.meter_specs() {
            hs.push(submitter.submit(&regulator.sign(TxPayload::ActivateDevice { device: spec.id })).await?);
        }
        submitter.wait_finalized(&hs, "calibration and activation").await?;
        println!(
            "onboarded gateway {} and {} meters (registered by the enterprise, calibrated by the metrology authority, activated by the regulator) in {:.1} s",
            plant.gateway_id(),
            args.meters,
            t0.elapsed().as_secs_f64()
        );

        // Report readings: replay history at `speed` intervals per second, then follow real time.
        let mut gateway = plant.gateway_signer(chain.clone(), 1);
        let deadline = (args.duration > 0).then(|| Instant::now() + Duration::from_secs(args.duration));
        let started = Instant::now();
        let mut last_print = Instant::now();
        let mut last_readings = 0u64;
        let mut last_height_time = Instant::now();
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut tick = tokio::time::interval(Duration::from_millis(1_000 / args.speed.max(1) as u64));
        loop {
            tokio::select! {
                _ = &mut ctrl_c => { println!("\nCtrl-C: stopping"); break; }
                _ = tick.tick() => {}
            }
            if deadline.map(|d| Instant::now() >= d).unwrap_or(false) {
                println!("\n--duration reached: stopping");
                break;
            }
            if plant.now_ms() + 900_000 <= now_ms() {
                let readings = plant.advance();
                for payload in plant.batches(readings, 1_000) {
                    let tx = gateway.sign(payload);
                    if let Err(e) = submitter.submit(&tx).await {
                        eprintln!("warning: {e}");
                    }
                }
            }
            if last_print.elapsed() >= Duration::from_secs(2) {
                let st = nodes[0].app.finalized_state();
                let mut s = stats.lock().expect("lock");
                let rate = (s.readings - last_readings) as f64 / last_height_time.elapsed().as_secs_f64();
                last_readings = s.readings;
                last_height_time = Instant::now();
                let fin = p50(&mut s.finality_ms);
                let ack = p50(&mut s.ack_ms);
                s.finality_ms.clear();
                s.ack_ms.clear();
                let backlog = submitter.sent.lock().expect("lock").len();
                println!(
                    "[{:>4}s] height {:>5}  readings {:>8} finalized ({:>6.0}/s)  finality p50 {:>4} ms  submit->final p50 {:>5} ms  unacknowledged {:>3} tx  plant time {}",
                    started.elapsed().as_secs(),
                    st.height,
                    s.readings,
                    rate,
                    fin,
                    ack,
                    backlog,
                    fmt_time(plant.now_ms())
                );
                last_print = Instant::now();
            }
        }

        // A proof for one recorded reading, checked offline.
        let meter = plant.meter_specs()[0].id.clone();
        let proof_path = dir.join("proof-example.json");
        let url = format!("http://{}/v1/meters/{}/readings/1/proof", nodes[0].api_addr, meter);
        match submitter.http.get(&url).send().await {
            Ok(r) if r.status().is_success() => {
                let text = r.text().await?;
                std::fs::write(&proof_path, &text)?;
                let bundle: trustmeter_client::ProofBundle = serde_json::from_str(&text)?;
                match trustmeter_client::verify(&bundle, Some(&devnet.genesis)) {
                    Ok(v) => println!("proof of {} seq {} (block {}) verifies offline; try: trustmeter verify {} --genesis {}", v.meter, v.seq, v.height, proof_path.display(), genesis_path.display()),
                    Err(e) => println!("proof did NOT verify: {e}"),
                }
            }
            Ok(r) => println!("no proof yet for {meter}: {}", r.status()),
            Err(e) => println!("could not fetch a proof: {e}"),
        }
        let st = nodes[0].app.finalized_state();
        println!("final: height {}, state root {}, {} readings finalized", st.height, st.root(), stats.lock().expect("lock").readings);
        Ok::<(), anyhow::Error>(())
    })
}

fn fmt_time(ms: i64) -> String {
    // Asia/Shanghai (UTC+8, no daylight saving).
    let local = ms + 8 * 3_600_000;
    let days = local.div_euclid(86_400_000);
    let rem = local.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}", rem / 3_600_000, (rem / 60_000) % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
