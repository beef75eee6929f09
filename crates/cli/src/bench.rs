//! `trustmeter bench ingest`: meter-signed readings per second through admission and execution on
//! one node, against signature verification alone (Ed25519 batches, SM2 one by one), measured in
//! the same run on the same core. Admission and execution alternate block by block, as on a
//! validator (a transaction is executed about a second after its admission), so what admission
//! read is still in the state store's caches when the block is built.
//!
//! `trustmeter bench query`: a year of 15-minute data for one meter and a one-day region rollup of
//! 1 000 enterprises through the figures API's functions (see `bench/query.rs`).
//!
//! `trustmeter bench crypto`: sign/s and verify/s per signature scheme (Ed25519 single and batch,
//! SM2) and MB/s per hash algorithm (SHA-256, SM3), one thread.

use anyhow::{Context as _, Result};
use clap::Subcommand;
use std::time::Instant;
use trustmeter_chain::devnet::{Devnet, DevnetCrypto};
use trustmeter_chain::mempool::precheck;
use trustmeter_crypto::{BatchVerifier, HashAlg, Hasher, SigningKey, sign_tx, verify};
use trustmeter_plant::{Plant, PlantConfig};
use trustmeter_state::exec::BlockContext;
use trustmeter_state::{SignatureVerdicts, State, build_block};
use trustmeter_types::{KeyScheme, ReadingSigner, Transaction, TxBody, TxPayload};

mod cluster;
mod gateway;
mod query;
mod shifts;
pub mod state;

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Readings/s through admission (signature checks, dry run) and execution (block building,
    /// state root), compared with Ed25519 batch verification of the same signatures.
    Ingest {
        /// Meters in the plant.
        #[arg(long, default_value_t = 1_000)]
        meters: usize,
        /// Reading intervals to generate (readings = meters × intervals). Default: 40, fewer for
        /// large plants so that a run stays near 2 million readings (at least 2).
        #[arg(long)]
        intervals: Option<usize>,
        /// Readings per transaction.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// The chain's hash algorithm: `sha256` or `sm3`.
        #[arg(long = "hash", default_value = "sha256")]
        hash: HashAlg,
        /// Scheme of every key (members, gateway, meters): `ed25519` or `sm2`.
        #[arg(long, default_value = "ed25519")]
        key_scheme: KeyScheme,
        /// The state store's page cache, MiB (a validator's default: 256).
        #[arg(long, default_value_t = 256)]
        state_cache_mib: usize,
        /// Then time a state sync's restore of the final state: every entry exported page by page
        /// (as a peer serves them) and restored into a new store, checked against the root.
        #[arg(long)]
        restore: bool,
    },
    /// Sign/s and verify/s per signature scheme (Ed25519 single and batch, SM2) and MB/s per hash
    /// algorithm (SHA-256, SM3), single thread, with the ratios between them.
    Crypto {
        /// Signatures made and verified per scheme (each over a distinct reading payload).
        #[arg(long, default_value_t = 4_000)]
        signatures: usize,
        /// Ed25519 batch size.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// MiB hashed per algorithm (in 1 MiB buffers).
        #[arg(long, default_value_t = 256)]
        mib: usize,
    },
    /// Readings signed and persisted per second by one gateway's producer at batch sizes 1, 100,
    /// 1000 and 8192, against Ed25519 signing alone and durable redb commits alone; and the
    /// memory of a running gateway with 10 000 points whose chain is unreachable.
    Gateway {
        /// Meters the throughput readings are spread over.
        #[arg(long, default_value_t = 10_000)]
        meters: usize,
        /// Readings per meter offered at each batch size (readings = meters × rounds).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Time budget of each throughput measurement, in seconds (batch size 1 is fsync-bound).
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Points of the gateway whose memory is measured.
        #[arg(long, default_value_t = 10_000)]
        points: usize,
        /// How long that gateway runs, in seconds.
        #[arg(long, default_value_t = 20)]
        run_seconds: u64,
    },
    /// The figures API's heaviest reads on real state and index data: a year of 15-minute data
    /// for one meter (35 040 readings) and a one-day rollup of a region of 1 000 enterprises, each
    /// against the floor of reading the same data alone.
    Query {
        /// Days of 15-minute readings for the one meter.
        #[arg(long, default_value_t = 365)]
        days: i32,
        /// Enterprises in the region.
        #[arg(long, default_value_t = 1_000)]
        enterprises: usize,
    },
    /// The per-shift query (班次、班组单耗, `GET /v1/enterprises/{org}/shifts`) over the demo's
    /// plant: its meters' 15-minute readings for some days, recorded and indexed, three shifts a
    /// day with their output; against the floor of reading the same points from the index.
    Shifts {
        /// Meters of the plant (the demo's: 300).
        #[arg(long, default_value_t = 300)]
        meters: usize,
        /// Days of readings, the query's range (a month: 31).
        #[arg(long, default_value_t = 31)]
        days: i32,
    },
    /// The authenticated state stores on disk: jmt (versioned sparse Merkle tree) over redb
    /// against Commonware's QMDB (`current::ordered::variable`): load, per-block update time,
    /// bytes written, disk, RSS, proofs (current, historical, absence), pruning. See
    /// `docs/state-backend-evaluation.md`.
    State {
        /// Keys loaded (32-byte hashed keys, 100-byte values), in blocks of 100 000.
        #[arg(long, default_value_t = 1_000_000)]
        keys: u64,
        /// Writes per steady-state block (99 % random existing keys, 1 % new keys).
        #[arg(long, default_value_t = 10_000)]
        updates_per_block: usize,
        /// Steady-state blocks.
        #[arg(long, default_value_t = 50)]
        blocks: usize,
        /// Store(s) to measure.
        #[arg(long, value_enum, default_value = "both")]
        backend: state::Backend,
        /// Data directory (must be empty; kept). Default: a temp directory removed at exit.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Cache of each store (redb cache, QMDB page cache), MiB.
        #[arg(long, default_value_t = 512)]
        cache_mib: usize,
        /// Versions (blocks) kept when pruning at the end.
        #[arg(long, default_value_t = 10)]
        prune_keep: u64,
        /// Merkle structure under QMDB's log.
        #[arg(long, value_enum, default_value = "mmr")]
        qmdb_family: state::QmdbFamily,
        /// Also sync QMDB fully (Merkle nodes, not only the log) every this many blocks; 0: only
        /// at the end (each block is committed durably either way).
        #[arg(long, default_value_t = 0)]
        qmdb_sync_every: usize,
        /// Skip the disk probe (256 MiB sequential write + fsync).
        #[arg(long)]
        no_disk_probe: bool,
    },
    /// A saturated cluster: validators on loopback with real p2p and HTTP, and a load generator
    /// in another process offering pre-signed readings at a rate raised step by step until the
    /// chain stops keeping up; finalized readings/s, finality, CPU per component, and the ratio
    /// to the machine's signature-verification bound.
    Cluster(cluster::ClusterArgs),
    /// The load generator of `bench cluster` (started by it).
    #[command(hide = true)]
    ClusterLoad(cluster::load::LoadArgs),
}

/// Runs a benchmark.
pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Gateway { meters, rounds, seconds, points, run_seconds } => gateway::run(gateway::Options {
            meters,
            rounds,
            budget: std::time::Duration::from_secs(seconds),
            points,
            run: std::time::Duration::from_secs(run_seconds),
        }),
        BenchCommand::Ingest { meters, intervals, batch, hash, key_scheme, state_cache_mib, restore } => {
            let crypto = DevnetCrypto { hash, account_scheme: key_scheme };
            ingest(meters, intervals, batch, crypto, state_cache_mib, restore)
        }
        BenchCommand::Crypto { signatures, batch, mib } => crypto(signatures, batch, mib),
        BenchCommand::Query { days, enterprises } => query::run(query::Options { days, enterprises }),
        BenchCommand::Shifts { meters, days } => shifts::run(shifts::Options { meters, days }),
        BenchCommand::State {
            keys,
            updates_per_block,
            blocks,
            backend,
            dir,
            cache_mib,
            prune_keep,
            qmdb_family,
            qmdb_sync_every,
            no_disk_probe,
        } => state::run(state::Options {
            keys,
            updates_per_block,
            blocks,
            backend,
            dir,
            cache_mib,
            prune_keep,
            qmdb_family,
            qmdb_sync_every,
            load_block: state::LOAD_BLOCK,
            disk_probe: !no_disk_probe,
        }),
        BenchCommand::Cluster(args) => cluster::run(args),
        BenchCommand::ClusterLoad(args) => cluster::load::run(args),
    }
}

/// Per-operation rates of one scheme.
struct SchemeRates {
    sign: f64,
    verify: f64,
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

/// Signs `msgs` with one key of `scheme`, verifies them one by one; returns the rates.
fn scheme_rates(scheme: KeyScheme, msgs: &[Vec<u8>]) -> (SchemeRates, SigningKey, Vec<trustmeter_types::Signature>) {
    let key = SigningKey::from_seed(scheme, [42; 32]);
    let pk = key.public_key();
    let (sigs, sign_s) = time(|| msgs.iter().map(|m| key.sign(m)).collect::<Vec<_>>());
    let (ok, verify_s) = time(|| msgs.iter().zip(&sigs).all(|(m, s)| verify(&pk, m, s).is_ok()));
    assert!(ok, "{} signatures must verify", scheme.name());
    let n = msgs.len() as f64;
    (SchemeRates { sign: n / sign_s, verify: n / verify_s }, key, sigs)
}

/// MB/s (10⁶ bytes) of `alg` over `mib` MiB in 1 MiB buffers, and hashes/s of 65-byte inputs
/// (the size of a Merkle interior node: tag byte and two hashes).
fn hash_rates(alg: HashAlg, mib: usize) -> (f64, f64) {
    let buf: Vec<u8> = (0..1 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let (_, s) = time(|| {
        let mut h = Hasher::new(alg);
        for _ in 0..mib {
            h.update(&buf);
        }
        std::hint::black_box(h.finalize())
    });
    let bulk = (mib << 20) as f64 / 1e6 / s;
    let n = 1_000_000;
    let node = [7u8; 65];
    let (_, s) = time(|| {
        let mut acc = trustmeter_types::Hash32::ZERO;
        for i in 0..n {
            let mut h = Hasher::new(alg);
            h.update(&node);
            h.update(&(i as u32).to_le_bytes());
            acc = h.finalize();
        }
        std::hint::black_box(acc)
    });
    (bulk, n as f64 / s)
}

fn crypto(signatures: usize, batch: usize, mib: usize) -> Result<()> {
    anyhow::ensure!(signatures > 0 && batch > 0 && mib > 0, "signatures, batch and mib must be positive");
    println!("crypto benchmark: one thread; {signatures} signatures per scheme over distinct reading payloads");
    let msgs: Vec<Vec<u8>> = (0..signatures)
        .map(|i| {
            trustmeter_types::Reading {
                meter: trustmeter_types::DeviceId::new(format!("91430100MA4L00001X-EM{i:04}")).expect("valid id"),
                seq: i as u64 + 1,
                timestamp_ms: 1_767_542_400_000 + i as i64 * 900_000,
                value: trustmeter_types::Quantity::from_micros(123_456_789 + i as i64),
                unit: trustmeter_types::Unit::KilowattHour,
                origin: trustmeter_types::ReadingOrigin::Online,
                clock_suspect: false,
            }
            .signing_payload()
        })
        .collect();
    let (ed, ed_key, ed_sigs) = scheme_rates(KeyScheme::Ed25519, &msgs);
    let (sm2, _, _) = scheme_rates(KeyScheme::Sm2, &msgs);
    // Ed25519 in batches of `batch`, each signature under a distinct key (the ingest worst case)
    // and under one key (a gateway signing for its meters).
    let keys: Vec<SigningKey> = (0..signatures.min(batch))
        .map(|i| trustmeter_chain::devnet::seed_key(1, &format!("bench-{i}"), KeyScheme::Ed25519))
        .collect();
    let distinct: Vec<_> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let k = &keys[i % keys.len()];
            (k.public_key(), k.sign(m))
        })
        .collect();
    let batch_rate = |items: &[(trustmeter_types::PublicKey, trustmeter_types::Signature)]| {
        let (ok, s) = time(|| {
            let mut rng = rand::rng();
            let mut all = true;
            for (chunk, msgs) in items.chunks(batch).zip(msgs.chunks(batch)) {
                let mut b = BatchVerifier::new();
                for ((pk, sig), m) in chunk.iter().zip(msgs) {
                    b.queue(pk, m, sig);
                }
                all &= b.verify(&mut rng).iter().all(|r| r.is_ok());
            }
            all
        });
        assert!(ok, "batch must verify");
        items.len() as f64 / s
    };
    let ed_pk = ed_key.public_key();
    let one_key: Vec<_> = ed_sigs.iter().map(|s| (ed_pk.clone(), s.clone())).collect();
    let ed_batch_distinct = batch_rate(&distinct);
    let ed_batch_one = batch_rate(&one_key);
    let (sha_bulk, sha_node) = hash_rates(HashAlg::Sha256, mib);
    let (sm3_bulk, sm3_node) = hash_rates(HashAlg::Sm3, mib);

    println!();
    println!("signatures                               sign/s     verify/s");
    println!("Ed25519 (ed25519-zebra), single     : {:>10.0} {:>12.0}", ed.sign, ed.verify);
    println!("Ed25519, batch of {batch:<5} distinct keys: {:>10} {:>12.0}", "-", ed_batch_distinct);
    println!("Ed25519, batch of {batch:<5} one key      : {:>10} {:>12.0}", "-", ed_batch_one);
    println!("SM2 (sm2, Z_A with default id)      : {:>10.0} {:>12.0}", sm2.sign, sm2.verify);
    println!(
        "SM2 / Ed25519 single               : {:>10.2} {:>12.2}   (SM2 / Ed25519 batch, distinct keys: {:.2})",
        sm2.sign / ed.sign,
        sm2.verify / ed.verify,
        sm2.verify / ed_batch_distinct
    );
    println!();
    println!("hashes                          MB/s (1 MiB buffers)   65-byte inputs/s");
    println!("SHA-256 (sha2)              : {:>12.0} {:>22.0}", sha_bulk, sha_node);
    println!("SM3 (sm3)                   : {:>12.0} {:>22.0}", sm3_bulk, sm3_node);
    println!("SM3 / SHA-256               : {:>12.2} {:>22.2}", sm3_bulk / sha_bulk, sm3_node / sha_node);
    Ok(())
}

/// Largest plant `bench ingest` builds: the target of a national chain (10⁷ meters).
const MAX_INGEST_METERS: usize = 10_000_000;
/// Most reading intervals one `bench ingest` run generates.
const MAX_INGEST_INTERVALS: usize = 10_000;
/// Readings a run aims at when `--intervals` is not given (at least 2 intervals, at most 40).
const DEFAULT_INGEST_READINGS: usize = 2_000_000;
/// Readings of the last interval on which the audit policy is timed on its own.
const POLICY_SAMPLE: usize = 100_000;

/// The default number of intervals: 40 (40 000 readings for the default 1 000 meters), fewer
/// for large plants so that a run stays near [`DEFAULT_INGEST_READINGS`], never fewer than 2
/// (the second interval is the first whose readings have a previous one to be audited against).
fn default_intervals(meters: usize) -> usize {
    (DEFAULT_INGEST_READINGS / meters.max(1)).clamp(2, 40)
}

/// Maps `f` over `items` on up to `threads` scoped threads, order preserved.
fn par_map<T: Send, U: Send>(items: Vec<T>, threads: usize, f: impl Fn(T) -> U + Sync) -> Vec<U> {
    if threads <= 1 || items.len() < 256 {
        return items.into_iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    let mut rest = items.into_iter();
    loop {
        let part: Vec<T> = rest.by_ref().take(per_thread).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            parts.into_iter().map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<U>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("a worker thread panicked")).collect()
    })
}

/// Signs setup transactions for one account with consecutive nonces, on several threads.
struct SetupSigner {
    key: SigningKey,
    chain: trustmeter_types::ChainId,
    next_nonce: u64,
}

impl SetupSigner {
    fn new(key: SigningKey, chain: trustmeter_types::ChainId) -> Self {
        SetupSigner { key, chain, next_nonce: 1 }
    }

    fn sign_all(&mut self, payloads: Vec<TxPayload>, threads: usize) -> Vec<Transaction> {
        let sender = self.key.public_key();
        let bodies: Vec<TxBody> = payloads
            .into_iter()
            .map(|payload| {
                let nonce = self.next_nonce;
                self.next_nonce += 1;
                TxBody { chain_id: self.chain.clone(), sender: sender.clone(), nonce, payload }
            })
            .collect();
        par_map(bodies, threads, |b| sign_tx(&self.key, b))
    }
}

/// Progress of long work, on stderr at most every [`Progress::EVERY`]: done, rate, time left. (At
/// 10⁷ meters the registry set-up — 3·10⁷ transactions — and each interval take many minutes.)
struct Progress {
    what: &'static str,
    total: usize,
    done: usize,
    started: Instant,
    last: Instant,
}

impl Progress {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(30);

    fn new(what: &'static str, total: usize) -> Self {
        Progress { what, total, done: 0, started: Instant::now(), last: Instant::now() }
    }

    fn add(&mut self, n: usize) {
        self.done += n;
        if self.last.elapsed() < Self::EVERY {
            return;
        }
        self.last = Instant::now();
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let left = self.total.saturating_sub(self.done) as f64 / rate.max(1e-9);
        eprintln!(
            "{}: {} of {} ({:.0} %), {rate:.0}/s, about {:.0} min left",
            self.what,
            self.done,
            self.total,
            100.0 * self.done as f64 / self.total.max(1) as f64,
            left / 60.0
        );
    }
}

/// Applies setup transactions through ordinary blocks of `per_block` transactions (within the
/// chain's limit; signatures trusted: they are our own, and setup is not measured); returns the
/// state and the number of blocks.
fn apply(
    mut state: State,
    txs: Vec<Transaction>,
    per_block: usize,
    ts: &mut i64,
    progress: &mut Progress,
) -> (State, usize) {
    assert!(per_block >= 1 && per_block <= state.params.max_block_txs as usize, "set-up blocks within the limit");
    let trusted = SignatureVerdicts::trust_finalized();
    let mut blocks = 0;
    let mut rest = txs.into_iter().peekable();
    while rest.peek().is_some() {
        let chunk: Vec<Transaction> = rest.by_ref().take(per_block).collect();
        let n = chunk.len();
        *ts += 1;
        let ctx = BlockContext { epoch: 0, view: state.height + 1, timestamp_ms: *ts };
        let (block, out) = build_block(&state, &ctx, chunk, &trusted);
        assert_eq!(block.txs.len(), n, "setup transactions must all fit");
        assert!(
            out.receipts.iter().all(|r| matches!(r.outcome, trustmeter_types::TxOutcome::Accepted)),
            "a setup transaction was refused: {:?}",
            out.receipts.iter().find(|r| !matches!(r.outcome, trustmeter_types::TxOutcome::Accepted))
        );
        state = out.state.commit().expect("the benchmark's state store takes a block");
        blocks += 1;
        progress.add(n);
    }
    (state, blocks)
}

/// Bytes this process caused to be written to storage (`write_bytes` of `/proc/self/io`).
pub(crate) fn io_write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|l| l.strip_prefix("write_bytes:")).and_then(|v| v.trim().parse().ok())
}

/// This process's memory from `/proc/self/status`: (current VmRSS, peak VmHWM) in MiB.
fn rss_mib() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux `clear_refs`); whether it worked.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn show_mib(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.0} MiB"))
}

/// The audit policy on its own, on readings the run just recorded: seconds per evaluation for
/// building the input as execution does, evaluating it (compiled), and evaluating it with the
/// CEL interpreter alone; checks both give the same verdicts.
struct PolicyCost {
    build: f64,
    compiled: f64,
    interpreter: f64,
    sample: usize,
    compiled_expressions: (usize, usize),
}

fn policy_cost(
    state: &State,
    last: &[trustmeter_types::SignedReading],
    before: &[trustmeter_types::SignedReading],
) -> Result<PolicyCost> {
    let (_, policy) = state.policy_at(state.height + 1);
    let previous: std::collections::HashMap<&trustmeter_types::DeviceId, (i64, i64)> =
        before.iter().map(|r| (&r.reading.meter, (r.reading.timestamp_ms, r.reading.value.micros()))).collect();
    let block_ts = state.timestamp_ms;
    let (inputs, build) = time(|| {
        last.iter()
            .filter_map(|sr| {
                let meter = state.meter(&sr.reading.meter)?;
                let prev = previous.get(&sr.reading.meter).copied();
                Some(trustmeter_state::exec::policy_facts(&meter, &sr.reading, prev, block_ts, &state.params))
            })
            .collect::<Vec<_>>()
    });
    anyhow::ensure!(!inputs.is_empty(), "no recorded reading to time the policy on");
    let (fast, compiled) = time(|| inputs.iter().map(|i| policy.evaluate(i)).collect::<Vec<_>>());
    let (reference, interpreter) = time(|| inputs.iter().map(|i| policy.evaluate_reference(i)).collect::<Vec<_>>());
    anyhow::ensure!(fast == reference, "the compiled policy and the interpreter disagree on a benchmark reading");
    let n = inputs.len() as f64;
    Ok(PolicyCost {
        build: build / n,
        compiled: compiled / n,
        interpreter: interpreter / n,
        sample: inputs.len(),
        compiled_expressions: policy.compiled_expressions(),
    })
}

fn ingest(
    meters: usize,
    intervals: Option<usize>,
    batch: usize,
    crypto: DevnetCrypto,
    state_cache_mib: usize,
    restore: bool,
) -> Result<()> {
    anyhow::ensure!((1..=MAX_INGEST_METERS).contains(&meters), "--meters must be in 1..={MAX_INGEST_METERS}");
    let intervals = intervals.unwrap_or_else(|| default_intervals(meters));
    anyhow::ensure!(
        (1..=MAX_INGEST_INTERVALS).contains(&intervals),
        "--intervals must be in 1..={MAX_INGEST_INTERVALS}"
    );
    anyhow::ensure!(batch > 0, "--batch must be positive");
    anyhow::ensure!((16..=65_536).contains(&state_cache_mib), "--state-cache-mib must be in 16..=65536");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "bench ingest: {meters} meters × {intervals} intervals = {} readings, {batch} per transaction; {} chain, {} keys",
        meters * intervals,
        crypto.hash,
        crypto.account_scheme.name()
    );
    println!("measured phases on one thread; set-up and reading generation (signing) on {threads}");
    let rss_start = rss_mib();
    let start_ms = 1_767_542_400_000; // 2026-01-05 00:00 Asia/Shanghai
    let devnet = Devnet::with_crypto("bench-1", 4, 1, 1, start_ms - 86_400_000, 40_000, crypto);
    let ent = &devnet.enterprises[0];
    let (mut plant, plant_s) = time(|| {
        let mut plant = Plant::new(PlantConfig {
            meters,
            start_ms,
            key_scheme: crypto.account_scheme,
            ..PlantConfig::new(ent.org.id.clone(), 1)
        });
        plant.set_signing_threads(threads);
        plant
    });
    let rss_plant = rss_mib();
    let chain = devnet.genesis.chain_id.clone();
    let t = Instant::now();
    // The state lives in a state store on disk, committed (durably) after every block, as on a
    // validator; the directory is removed at the end.
    let store_dir = crate::scratch::DataDir::new(None, "trustmeter-bench-ingest")?;
    let store_path = store_dir.path().join("state.redb");
    let store = std::sync::Arc::new(
        trustmeter_statedb::DiskStore::open(
            &store_path,
            trustmeter_statedb::DiskStoreConfig {
                cache_bytes: state_cache_mib << 20,
                ..trustmeter_statedb::DiskStoreConfig::default()
            },
        )
        .context("opening the benchmark's state store")?,
    );
    let (_, mut state) = trustmeter_state::exec::genesis_block_in(&devnet.genesis, store.clone())?;
    let mut ts = start_ms - 3_600_000;
    let mut setup_blocks = 0;
    let mut setup_txs = 0;
    let mut e = SetupSigner::new(ent.key.clone(), chain.clone());
    let mut m = SetupSigner::new(devnet.metrology.key.clone(), chain.clone());
    let mut r = SetupSigner::new(devnet.regulator.key.clone(), chain.clone());
    // The gateway's registration and activation, then each meter's onboarding — registration
    // (enterprise), calibration (metrology authority), activation (regulator) — in one block, as
    // when the three parties act on the same day: one registry version per meter, not three.
    let activate_gateway = TxPayload::ActivateDevice { device: plant.gateway_id().clone() };
    let specs = plant.meter_specs();
    let calibrations =
        plant.calibration_payloads(&devnet.metrology.org.id, start_ms - 86_400_000, start_ms + 400 * 86_400_000);
    let per_block =
        3 * ((state.params.max_block_txs as usize).clamp(3, trustmeter_types::limits::MAX_TXS_PER_BLOCK) / 3);
    let mut progress = Progress::new("set-up: registry transactions", 3 * specs.len() + 2);
    let mut txs = e.sign_all(vec![plant.register_gateway_payload()], 1);
    txs.extend(r.sign_all(vec![activate_gateway], 1));
    setup_txs += txs.len();
    let (s, b) = apply(state, txs, 2, &mut ts, &mut progress);
    (state, setup_blocks) = (s, setup_blocks + b);
    // signed 64 blocks at a time (on every thread), applied block by block
    for (specs, calibrations) in specs.chunks(64 * per_block / 3).zip(calibrations.chunks(64 * per_block / 3)) {
        let registrations =
            e.sign_all(specs.iter().map(|spec| TxPayload::RegisterMeter { meter: spec.clone() }).collect(), threads);
        let calibrations = m.sign_all(calibrations.to_vec(), threads);
        let activations =
            r.sign_all(specs.iter().map(|s| TxPayload::ActivateDevice { device: s.id.clone() }).collect(), threads);
        let txs: Vec<Transaction> = registrations
            .into_iter()
            .zip(calibrations)
            .zip(activations)
            .flat_map(|((reg, cal), act)| [reg, cal, act])
            .collect();
        setup_txs += txs.len();
        let (s, b) = apply(state, txs, per_block, &mut ts, &mut progress);
        (state, setup_blocks) = (s, setup_blocks + b);
    }
    drop((specs, calibrations));
    let setup_s = t.elapsed().as_secs_f64();
    let rss_setup = rss_mib();
    let peak_reset = reset_peak_rss();
    let entries_after_setup = state.len();
    println!(
        "set-up: plant {plant_s:.1} s; {setup_txs} registry transactions in {setup_blocks} blocks {setup_s:.1} s \
         (signatures trusted); state {entries_after_setup} entries"
    );
    print_table_usage(&store, "after set-up", "registry transaction", setup_txs);

    // Each interval: generate and sign its readings (not measured), then
    // A: signature verification alone (Ed25519 in batches, SM2 one by one), same signatures, same grouping;
    // B: admission (batch signature check + dry run per transaction);
    // C: execution (blocks of up to the chain's reading limit, with the admission verdicts).
    let keys: std::collections::HashMap<_, _> =
        plant.meter_keys().into_iter().map(|(id, k)| (id, k.public_key())).collect();
    let gateway_key = plant.gateway_key().public_key();
    let mut gw = plant.gateway_signer(chain, 1);
    let per_block = state.params.max_block_readings as usize;
    let (mut generate_s, mut verify_s, mut admit_s, mut exec_s, mut commit_s) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let written_before = io_write_bytes();
    let (mut n_readings, mut n_txs, mut sigs, mut own_key, mut blocks, mut recorded) = (0, 0, 0, 0, 0, 0);
    let mut rejections = std::collections::BTreeMap::new();
    let mut block_ts = plant.now_ms() + 1;
    let (mut last, mut before) = (Vec::new(), Vec::new());
    let mut last_header = None;
    // (wall time of the whole measured part, signing and verification included)
    let mut progress = Progress::new("readings through admission and execution", meters * intervals);
    for _ in 0..intervals {
        let t = Instant::now();
        let readings = plant.advance();
        // the blocks of this interval are made just after its readings were taken
        block_ts = block_ts.max(plant.now_ms() + 1);
        before = std::mem::replace(&mut last, readings[..readings.len().min(POLICY_SAMPLE)].to_vec());
        let txs: Vec<Transaction> = plant.batches(readings, batch).into_iter().map(|p| gw.sign(p)).collect();
        generate_s += t.elapsed().as_secs_f64();
        n_txs += txs.len();
        for tx in &txs {
            if let TxPayload::SubmitReadings { readings, .. } = &tx.body.payload {
                n_readings += readings.len();
                own_key += readings.iter().filter(|r| r.signer == ReadingSigner::Meter).count();
            }
        }

        let t = Instant::now();
        for tx in &txs {
            let mut b = BatchVerifier::new();
            b.queue(&tx.body.sender, &tx.body.signing_payload(), &tx.signature);
            if let TxPayload::SubmitReadings { readings, .. } = &tx.body.payload {
                for sr in readings {
                    let key = if sr.signer == ReadingSigner::Meter { &keys[&sr.reading.meter] } else { &gateway_key };
                    b.queue(key, &sr.reading.signing_payload(), &sr.signature);
                }
            }
            sigs += b.len();
            anyhow::ensure!(b.verify(&mut rand::rng()).iter().all(|r| r.is_ok()), "a benchmark signature failed");
        }
        verify_s += t.elapsed().as_secs_f64();

        // Block by block, as a validator works: the transactions of a block are admitted, then
        // the block is built from them (on a validator, a transaction is executed within about a
        // second of its admission).
        let mut pending = txs.into_iter().peekable();
        while pending.peek().is_some() {
            let mut block_txs = Vec::new();
            let mut n = 0;
            while let Some(tx) = pending.peek() {
                if n + tx.body.payload.reading_count() > per_block {
                    break;
                }
                n += tx.body.payload.reading_count();
                block_txs.push(pending.next().expect("peeked"));
            }
            let t = Instant::now();
            let mut verdicts = SignatureVerdicts::none();
            for tx in &block_txs {
                let v = precheck(&state, tx)
                    .map_err(|e| anyhow::anyhow!("admission refused a benchmark transaction: {e}"))?;
                verdicts.extend(v);
            }
            admit_s += t.elapsed().as_secs_f64();

            let t = Instant::now();
            let ctx = BlockContext { epoch: 0, view: state.height + 1, timestamp_ms: block_ts };
            block_ts += 1;
            let (block, out) = build_block(&state, &ctx, block_txs, &verdicts);
            last_header = Some(block.header.clone());
            blocks += 1;
            recorded += block.header.readings_accepted as usize;
            progress.add(block.header.readings_accepted as usize);
            for r in out.receipts.iter().flat_map(|r| r.readings.iter()) {
                if let trustmeter_types::ReadingOutcome::Rejected(rej) = r {
                    if rejections.is_empty() {
                        eprintln!("first rejection: {rej}");
                    }
                    *rejections.entry(rej.code.as_str().to_owned()).or_insert(0usize) += 1;
                }
            }
            let c = Instant::now();
            state = out.state.commit().context("committing a block to the state store")?;
            commit_s += c.elapsed().as_secs_f64();
            exec_s += t.elapsed().as_secs_f64();
        }
    }
    exec_s -= commit_s;
    let written = io_write_bytes().zip(written_before).map(|(a, b)| a.saturating_sub(b));
    let disk = std::fs::metadata(&store_path).map(|m| m.len()).ok();
    anyhow::ensure!(
        recorded == n_readings,
        "only {recorded} of {n_readings} readings were recorded; rejections: {rejections:?}"
    );
    let rss_end = rss_mib();
    let (root, root_s) = time(|| state.root());
    let policy = policy_cost(&state, &last, &before)?;

    let total = admit_s + exec_s;
    let rate = n_readings as f64 / total;
    let verify_rate = n_readings as f64 / verify_s;
    // execution evaluates the policy once per reading; admission at least once per transaction
    // (until a reading the policy does not reject)
    let evaluations = (n_readings + n_txs) as f64;
    let policy_s = evaluations * (policy.build + policy.compiled);
    let interpreted_s = evaluations * (policy.build + policy.interpreter);
    println!(
        "generated {n_readings} signed readings in {n_txs} transactions ({own_key} signed by the meters' own keys) \
         in {generate_s:.1} s"
    );
    println!();
    println!(
        "{:<33}: {:>9.0} readings/s ({sigs} signatures in {:.3} s)",
        match crypto.account_scheme {
            KeyScheme::Ed25519 => "Ed25519 batch verification alone",
            KeyScheme::Sm2 => "SM2 verification alone",
        },
        verify_rate,
        verify_s
    );
    println!("admission + execution            : {:>9.0} readings/s ({:.3} s)", rate, total);
    println!("  admission (verify + dry run)   : {:>9.3} s ({:.0}%)", admit_s, 100.0 * admit_s / total);
    println!("  execution (blocks, state root) : {:>9.3} s ({:.0}%), {blocks} blocks", exec_s, 100.0 * exec_s / total);
    println!(
        "  audit policy (timed apart)     : {:>9.3} s (~{:.0}%): {:.2} µs per evaluation ({:.2} building the input, \
         {:.2} evaluating; {}/{} expressions compiled)",
        policy_s,
        100.0 * policy_s / total,
        1e6 * (policy.build + policy.compiled),
        1e6 * policy.build,
        1e6 * policy.compiled,
        policy.compiled_expressions.0,
        policy.compiled_expressions.1,
    );
    println!(
        "    with the CEL interpreter     : {:>9.3} s (~{:.0}% of an ingest that used it): {:.2} µs per evaluation",
        interpreted_s,
        100.0 * interpreted_s / (total - policy_s + interpreted_s),
        1e6 * (policy.build + policy.interpreter)
    );
    println!("ratio (ingest / batch verify)    : {:>9.2}", rate / verify_rate);
    println!(
        "state store commits (durable)    : {:>9.3} s, {:.2} ms per block; with them: {:.0} readings/s, ratio {:.2}",
        commit_s,
        1e3 * commit_s / blocks.max(1) as f64,
        n_readings as f64 / (total + commit_s),
        n_readings as f64 / (total + commit_s) / verify_rate
    );
    println!(
        "state store on disk: {} written during the measured phases ({} per reading), file {}",
        written.map_or("?".into(), |b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64)),
        written.map_or("?".into(), |b| format!("{:.0} B", b as f64 / n_readings.max(1) as f64)),
        disk.map_or("?".into(), |b| format!("{:.1} MiB", b as f64 / (1 << 20) as f64)),
    );
    println!(
        "state: {} entries ({} after set-up); root {root} (State::root() alone: {:.1} ms)",
        state.len(),
        entries_after_setup,
        1e3 * root_s
    );
    println!(
        "memory: peak RSS {} {}; RSS {} at the start, {} with the plant built, {} after set-up, {} at the end",
        show_mib(rss_end.map(|r| r.1)),
        if peak_reset { "during the measured phases" } else { "(whole run: the peak could not be reset)" },
        show_mib(rss_start.map(|r| r.0)),
        show_mib(rss_plant.map(|r| r.0)),
        show_mib(rss_setup.map(|r| r.0)),
        show_mib(rss_end.map(|r| r.0)),
    );
    print_table_usage(&store, "at the end", "reading", n_readings);
    println!("  (policy timed on {} readings of the last interval)", policy.sample);
    if restore {
        let header = last_header.context("no block was built")?;
        restore_copy(&devnet.genesis, &state, &header, state_cache_mib)?;
    }
    Ok(())
}

/// Times a state sync's restore of `state` (the state after block `header`): its entries exported
/// in pages as a peer serves them ([`trustmeter_chain::statesync`]'s page limits), restored page
/// by page into a new store on disk, and the result checked against the block's state root.
fn restore_copy(
    genesis: &trustmeter_types::Genesis,
    state: &State,
    header: &trustmeter_types::BlockHeader,
    state_cache_mib: usize,
) -> Result<()> {
    use trustmeter_chain::statesync::{MAX_PAGE_BYTES, MAX_PAGE_ENTRIES};
    let dir = crate::scratch::DataDir::new(None, "trustmeter-bench-restore")?;
    let store = std::sync::Arc::new(
        trustmeter_statedb::DiskStore::open(
            &dir.path().join("state.redb"),
            trustmeter_statedb::DiskStoreConfig {
                cache_bytes: state_cache_mib << 20,
                ..trustmeter_statedb::DiskStoreConfig::default()
            },
        )
        .context("opening the restore's state store")?,
    );
    let rss_before = rss_mib();
    let peak_reset = reset_peak_rss();
    let t = Instant::now();
    let mut restore = trustmeter_state::Restore::begin(genesis, store.clone(), header, state.block_digest)?;
    let (mut after, mut entries, mut bytes, mut pages) = (None::<Vec<u8>>, 0u64, 0u64, 0u64);
    let mut progress = Progress::new(
        "restore: entries (against the trees' count; derived entries come on top)",
        usize::try_from(state.len()).unwrap_or(usize::MAX),
    );
    loop {
        let (page, more) = state.export_page(after.as_deref(), MAX_PAGE_ENTRIES, MAX_PAGE_BYTES)?;
        entries += page.len() as u64;
        bytes += page.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum::<u64>();
        pages += 1;
        progress.add(page.len());
        after = page.last().map(|(k, _)| k.clone()).or(after);
        restore.add_page(page)?;
        if !more {
            break;
        }
    }
    let restored = restore.finish()?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(restored.root() == header.state_root, "the restored state's root differs from the block's");
    let rss = rss_mib();
    let file = std::fs::metadata(dir.path().join("state.redb")).map(|m| m.len()).unwrap_or(0);
    println!(
        "state sync restore: {entries} entries ({:.1} MiB in {pages} pages) exported and restored page by page in \
         {secs:.1} s: {:.0} entries/s, {:.1} MiB/s; root checked; store file {:.1} MiB; peak RSS {} {} (RSS {} before)",
        bytes as f64 / (1 << 20) as f64,
        entries as f64 / secs,
        bytes as f64 / (1 << 20) as f64 / secs,
        file as f64 / (1 << 20) as f64,
        show_mib(rss.map(|r| r.1)),
        if peak_reset { "during the restore" } else { "(whole run)" },
        show_mib(rss_before.map(|r| r.0)),
    );
    Ok(())
}

/// The state store's tables: rows and bytes, in all and per `unit` (of which there were `count`).
fn print_table_usage(store: &trustmeter_statedb::DiskStore, when: &str, unit: &str, count: usize) {
    let usage = match store.table_usage() {
        Ok(u) => u,
        Err(e) => {
            println!("state store tables {when}: unreadable ({e})");
            return;
        }
    };
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!("state store tables {when} (MiB: keys and values / redb metadata / fragmentation; B per {unit}):");
    for t in usage.iter().filter(|t| t.entries > 0) {
        let all = t.stored_bytes + t.metadata_bytes + t.fragmented_bytes;
        println!(
            "  {:<16} {:>11} rows {:>9.1} / {:>7.1} / {:>7.1} MiB, {:>6.0} B per row, {:>6.0} B per {unit}",
            t.name,
            t.entries,
            mib(t.stored_bytes),
            mib(t.metadata_bytes),
            mib(t.fragmented_bytes),
            all as f64 / t.entries as f64,
            all as f64 / count.max(1) as f64,
        );
    }
}
