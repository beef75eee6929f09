//! `trustmeter bench ingest`: meter-signed readings per second through admission and execution on
//! one node, against Ed25519 batch verification alone, measured in the same run on the same core.

use anyhow::Result;
use clap::Subcommand;
use std::time::Instant;
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::mempool::precheck;
use trustmeter_crypto::BatchVerifier;
use trustmeter_plant::{Plant, PlantConfig, TxSigner};
use trustmeter_state::exec::BlockContext;
use trustmeter_state::{SignatureVerdicts, State, build_block};
use trustmeter_types::{ReadingSigner, Transaction, TxPayload};

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
    },
}

/// Runs a benchmark.
pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Ingest { meters, intervals, batch } => ingest(meters, intervals, batch),
    }
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

fn ingest(meters: usize, intervals: usize, batch: usize) -> Result<()> {
    println!("setting up: {meters} meters, {intervals} intervals, {batch} readings per transaction (single thread)");
    let start_ms = 1_767_542_400_000; // 2026-01-05 00:00 Asia/Shanghai
    let devnet = Devnet::new("bench-1", 4, 1, 1, start_ms - 86_400_000, 40_000);
    let ent = &devnet.enterprises[0];
    let mut plant = Plant::new(PlantConfig { meters, start_ms, ..PlantConfig::new(ent.org.id.clone(), 1) });
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

    // A: Ed25519 batch verification alone, same signatures, same grouping, same thread.
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
        "Ed25519 batch verification alone : {:>9.0} readings/s ({sigs} signatures in {:.3} s)",
        verify_rate, verify_s
    );
    println!("admission + execution            : {:>9.0} readings/s ({:.3} s)", rate, total);
    println!("  admission (verify + dry run)   : {:>9.3} s ({:.0}%)", admit_s, 100.0 * admit_s / total);
    println!("  execution (blocks, state root) : {:>9.3} s ({:.0}%)", exec_s, 100.0 * exec_s / total);
    println!("ratio (ingest / batch verify)    : {:>9.2}", rate / verify_rate);
    println!("state: {} entries, root {}", state.len(), state.root());
    Ok(())
}
