//! `trustmeter bench ingest`: meter-signed readings per second through admission and execution on
//! one node, against signature verification alone (Ed25519 batches, SM2 one by one), measured in
//! the same run on the same core.
//!
//! `trustmeter bench query`: a year of 15-minute data for one meter and a one-day region rollup of
//! 1 000 enterprises through the figures API's functions (see `bench/query.rs`).
//!
//! `trustmeter bench crypto`: sign/s and verify/s per signature scheme (Ed25519 single and batch,
//! SM2) and MB/s per hash algorithm (SHA-256, SM3), one thread.

use anyhow::Result;
use clap::Subcommand;
use std::time::Instant;
use trustmeter_chain::devnet::{Devnet, DevnetCrypto};
use trustmeter_chain::mempool::precheck;
use trustmeter_crypto::{BatchVerifier, HashAlg, Hasher, SigningKey, verify};
use trustmeter_plant::{Plant, PlantConfig, TxSigner};
use trustmeter_state::exec::BlockContext;
use trustmeter_state::{SignatureVerdicts, State, build_block};
use trustmeter_types::{KeyScheme, ReadingSigner, Transaction, TxPayload};

mod cluster;
mod gateway;
mod query;
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
        /// Reading intervals to generate (readings = meters × intervals).
        #[arg(long, default_value_t = 40)]
        intervals: usize,
        /// Readings per transaction.
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        /// The chain's hash algorithm: `sha256` or `sm3`.
        #[arg(long = "hash", default_value = "sha256")]
        hash: HashAlg,
        /// Scheme of every key (members, gateway, meters): `ed25519` or `sm2`.
        #[arg(long, default_value = "ed25519")]
        key_scheme: KeyScheme,
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
        BenchCommand::Ingest { meters, intervals, batch, hash, key_scheme } => {
            ingest(meters, intervals, batch, DevnetCrypto { hash, account_scheme: key_scheme })
        }
        BenchCommand::Crypto { signatures, batch, mib } => crypto(signatures, batch, mib),
        BenchCommand::Query { days, enterprises } => query::run(query::Options { days, enterprises }),
        BenchCommand::State {
            keys,
            updates_per_block,
            blocks,
            backend,
            dir,
            cache_mib,
            prune_keep,
            qmdb_family,
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

/// Applies setup transactions in as many blocks as the block limits need.
fn apply(state: &State, txs: Vec<Transaction>, ts: i64) -> State {
    let mut state = state.clone();
    for (i, chunk) in txs.chunks(state.params.max_block_txs as usize).enumerate() {
        let ctx = BlockContext { epoch: 0, view: state.height + 1, timestamp_ms: ts + i as i64 };
        let v = SignatureVerdicts::batch_verify(&state, &chunk.iter().collect::<Vec<_>>(), &mut rand::rng());
        let (block, out) = build_block(&state, &ctx, chunk.to_vec(), &v);
        assert_eq!(block.txs.len(), chunk.len(), "setup transactions must all fit");
        state = out.state;
    }
    state
}

fn ingest(meters: usize, intervals: usize, batch: usize, crypto: DevnetCrypto) -> Result<()> {
    println!(
        "setting up: {meters} meters, {intervals} intervals, {batch} readings per transaction (single thread); {} chain, {} keys",
        crypto.hash,
        crypto.account_scheme.name()
    );
    let start_ms = 1_767_542_400_000; // 2026-01-05 00:00 Asia/Shanghai
    let devnet = Devnet::with_crypto("bench-1", 4, 1, 1, start_ms - 86_400_000, 40_000, crypto);
    let ent = &devnet.enterprises[0];
    let mut plant = Plant::new(PlantConfig {
        meters,
        start_ms,
        key_scheme: crypto.account_scheme,
        ..PlantConfig::new(ent.org.id.clone(), 1)
    });
    let chain = devnet.genesis.chain_id.clone();
    let (_, mut state) = trustmeter_state::genesis_block(&devnet.genesis);
    let mut e = TxSigner::new(ent.key.clone(), chain.clone(), 1);
    state = apply(&state, vec![e.sign(plant.register_gateway_payload())], start_ms - 3_600_000);
    state = apply(&state, e.sign_all(plant.register_meter_payloads()), start_ms - 3_500_000);
    let mut m = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
    let mut r = TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1);
    let mut setup = m.sign_all(plant.calibration_payloads(
        &devnet.metrology.org.id,
        start_ms - 86_400_000,
        start_ms + 400 * 86_400_000,
    ));
    setup.push(r.sign(TxPayload::ActivateDevice { device: plant.gateway_id().clone() }));
    setup.extend(plant.meter_specs().into_iter().map(|s| r.sign(TxPayload::ActivateDevice { device: s.id })));
    state = apply(&state, setup, start_ms - 3_400_000);

    let mut gw = plant.gateway_signer(chain, 1);
    let mut txs = Vec::new();
    for _ in 0..intervals {
        let readings = plant.advance();
        for p in plant.batches(readings, batch) {
            txs.push(gw.sign(p));
        }
    }
    let n_readings: usize = txs.iter().map(|t| t.body.payload.reading_count()).sum();
    let own_key = txs
        .iter()
        .map(|t| match &t.body.payload {
            TxPayload::SubmitReadings { readings, .. } => {
                readings.iter().filter(|r| r.signer == ReadingSigner::Meter).count()
            }
            _ => 0,
        })
        .sum::<usize>();
    println!(
        "generated {n_readings} signed readings in {} transactions ({own_key} signed by the meters' own keys)",
        txs.len()
    );

    // A: signature verification alone (Ed25519 in batches, SM2 one by one), same signatures, same
    // grouping, same thread.
    let keys: std::collections::HashMap<_, _> =
        plant.meter_keys().into_iter().map(|(id, k)| (id, k.public_key())).collect();
    let gateway_key = plant.gateway_key().public_key();
    let t = Instant::now();
    let mut sigs = 0usize;
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
        assert!(b.verify(&mut rand::rng()).iter().all(|r| r.is_ok()));
    }
    let verify_s = t.elapsed().as_secs_f64();
    let verify_rate = n_readings as f64 / verify_s;

    // B: admission (batch signature check + dry run per transaction) then execution (blocks of
    // up to the chain's reading limit, with the admission verdicts).
    let t = Instant::now();
    let mut admitted = Vec::new();
    for tx in &txs {
        let v = precheck(&state, tx).map_err(|e| anyhow::anyhow!("admission refused a benchmark transaction: {e}"))?;
        admitted.push((tx.clone(), v));
    }
    let admit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let per_block = state.params.max_block_readings as usize;
    let mut recorded = 0usize;
    let mut rejections = std::collections::BTreeMap::new();
    let mut ts = plant.now_ms() + 1;
    let mut pending = admitted.into_iter().peekable();
    while pending.peek().is_some() {
        let mut verdicts = SignatureVerdicts::none();
        let mut block_txs = Vec::new();
        let mut n = 0;
        while let Some((tx, _)) = pending.peek() {
            if n + tx.body.payload.reading_count() > per_block {
                break;
            }
            let (tx, v) = pending.next().expect("peeked");
            n += tx.body.payload.reading_count();
            verdicts.extend(v);
            block_txs.push(tx);
        }
        let ctx = BlockContext { epoch: 0, view: state.height + 1, timestamp_ms: ts };
        ts += 1;
        let (block, out) = build_block(&state, &ctx, block_txs, &verdicts);
        recorded += block.header.readings_accepted as usize;
        for r in out.receipts.iter().flat_map(|r| r.readings.iter()) {
            if let trustmeter_types::ReadingOutcome::Rejected(rej) = r {
                *rejections.entry(rej.code.as_str()).or_insert(0usize) += 1;
                if rejections.len() == 1 && rejections.values().sum::<usize>() == 1 {
                    eprintln!("first rejection: {rej}");
                }
            }
        }
        state = out.state;
    }
    let exec_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        recorded == n_readings,
        "only {recorded} of {n_readings} readings were recorded; rejections: {rejections:?}"
    );
    let total = admit_s + exec_s;
    let rate = n_readings as f64 / total;
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
    println!("  execution (blocks, state root) : {:>9.3} s ({:.0}%)", exec_s, 100.0 * exec_s / total);
    println!("ratio (ingest / batch verify)    : {:>9.2}", rate / verify_rate);
    println!("state: {} entries, root {}", state.len(), state.root());
    Ok(())
}
