//! `trustmeter bench shifts`: the per-shift query (`figures::shifts`, 班次、班组单耗) over the
//! demo's plant — 300 meters of five energy kinds, three shifts, four teams on a rotation — for a
//! month of 15-minute readings recorded in blocks by the real state machine and indexed, with
//! every shift's output recorded; timed against the floor of reading the same register points
//! from the index alone, and its JSON. The best of several runs on one thread.

use anyhow::{Context, Result, ensure};
use std::sync::Arc;
use std::time::Instant;
use trustmeter_analytics::figures::{self, DayRange, ShiftsRequest};
use trustmeter_chain::devnet::Devnet;
use trustmeter_chain::{ChainBlock, Finalized};
use trustmeter_energy::calendar;
use trustmeter_index::Index;
use trustmeter_plant::shifts::{output, runs_ending};
use trustmeter_plant::{Plant, PlantConfig, TxSigner};
use trustmeter_state::exec::BlockContext;
use trustmeter_state::{SignatureVerdicts, State, build_block};
use trustmeter_types::{Transaction, TxOutcome, TxPayload};

/// Runs of each measurement (the best is reported).
const RUNS: usize = 5;

/// Options of `bench shifts`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Meters of the plant.
    pub meters: usize,
    /// Days of readings (the query's range).
    pub days: i32,
}

fn best<T>(mut f: impl FnMut() -> Result<T>) -> Result<(T, f64)> {
    let (mut out, mut best) = (None, f64::INFINITY);
    for _ in 0..RUNS {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    Ok((out.expect("RUNS > 0"), best))
}

/// One block at `ts` with `txs` (all accepted), indexed.
fn block(state: &State, ts: i64, txs: Vec<Transaction>, index: &Index) -> Result<State> {
    let n = txs.len();
    let verdicts = SignatureVerdicts::batch_verify(state, &txs.iter().collect::<Vec<_>>(), &mut rand::rng());
    let ctx = BlockContext { epoch: 0, view: state.height + 1, timestamp_ms: ts };
    let (b, out) = build_block(state, &ctx, txs, &verdicts);
    ensure!(b.txs.len() == n, "a setup transaction did not fit its block");
    for r in &out.receipts {
        ensure!(r.outcome == TxOutcome::Accepted, "setup transaction rejected: {r:?}");
        ensure!(r.readings.iter().all(|o| o.is_recorded()), "a setup reading was not recorded");
    }
    let out = Arc::new(out);
    index.apply(&Finalized {
        block: ChainBlock::new(state.params.hash, b),
        output: out.clone(),
        finalization: None,
    })?;
    Ok(out.state.clone())
}

/// Runs the benchmark.
pub fn run(opts: Options) -> Result<()> {
    ensure!((1..=figures::MAX_DERIVED_RANGE_DAYS).contains(&opts.days), "--days must be 1 to 366");
    let start = trustmeter_plant::DEFAULT_START_MS; // Monday 2026-01-05 00:00, Asia/Shanghai
    let first_day = calendar::day_number(start);
    let end = calendar::day_start_ms(first_day + opts.days);
    println!(
        "setting up: the demo's plant ({} meters), {} days of 15-minute readings from {} recorded in blocks and indexed, three shifts a day with their output",
        opts.meters,
        opts.days,
        calendar::day_label(first_day)
    );
    let t_setup = Instant::now();
    let devnet = Devnet::new("bench-shifts", 1, 1, 13, start - 86_400_000, 0);
    let scratch = super::query::Scratch(
        std::env::temp_dir().join(format!("trustmeter-bench-shifts-{}-{start}.redb", std::process::id())),
    );
    let index = Index::open(&scratch.0, devnet.genesis.clone()).context("opening a scratch index")?;
    let (_, mut state) = trustmeter_state::genesis_block(&devnet.genesis);
    let chain = devnet.genesis.chain_id.clone();
    let e = &devnet.enterprises[0];
    let mut plant = Plant::new(PlantConfig {
        meters: opts.meters,
        start_ms: start,
        meter_key_share: 0.0,
        ..PlantConfig::new(e.org.id.clone(), 7)
    });
    plant.set_signing_threads(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut ent = TxSigner::new(e.key.clone(), chain.clone(), 1);
    let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
    let mut reg = TxSigner::new(devnet.regulator.key.clone(), chain.clone(), 1);
    let mut gw = plant.gateway_signer(chain, 1);
    let mut ts = start - 3_600_000;
    let mut setup = vec![ent.sign(plant.register_gateway_payload())];
    setup.extend(plant.register_meter_payloads().into_iter().map(|p| ent.sign(p)));
    let calibrations = plant.calibration_payloads(&devnet.metrology.org.id, start - 86_400_000, end + 86_400_000);
    setup.extend(calibrations.into_iter().map(|p| metro.sign(p)));
    setup.extend(plant.meter_specs().into_iter().map(|m| reg.sign(TxPayload::ActivateDevice { device: m.id })));
    setup.push(reg.sign(TxPayload::ActivateDevice { device: plant.gateway_id().clone() }));
    let from_date = trustmeter_types::shifts::date_of_day(first_day).context("a date")?;
    setup.push(ent.sign(TxPayload::SetShiftCalendar { calendar: trustmeter_plant::shifts::calendar(from_date) }));
    for chunk in setup.chunks(1_000) {
        state = block(&state, ts, chunk.to_vec(), &index)?;
        ts += 1_000;
    }
    // A block an interval after each reading tick (the chain's pace), with the output of every
    // shift that ended.
    let mut done = start;
    let mut readings = 0usize;
    loop {
        let batch = plant.advance();
        let now = plant.now_ms();
        if now > end {
            break;
        }
        readings += batch.len();
        let mut txs: Vec<Transaction> = plant.batches(batch, 4_096).into_iter().map(|p| gw.sign(p)).collect();
        for run in runs_ending(done, now, first_day) {
            txs.push(ent.sign(TxPayload::RecordShiftOutput {
                output: trustmeter_types::ShiftOutput {
                    day: run.day,
                    shift: run.name().into(),
                    team: None,
                    products: output(7, opts.meters, &run),
                    note: String::new(),
                },
            }));
        }
        done = now;
        state = block(&state, now + 60_000, txs, &index)?;
    }
    // The last day arrived an hour of block time before it is packed: a later block packs it.
    ts = end + trustmeter_index::by_meter::LATE_GRACE_MS + 120_000;
    state = block(&state, ts, vec![], &index)?;
    println!(
        "  setup {:.1} s: {readings} readings, height {}, index height {}",
        t_setup.elapsed().as_secs_f64(),
        state.height,
        index.height()
    );

    let range = DayRange::new(first_day, first_day + opts.days - 1, figures::MAX_DERIVED_RANGE_DAYS)
        .map_err(anyhow::Error::from)?;
    let meters = plant.meter_specs();
    // The floor: the register points of every meter over the range, from the index alone.
    let (rows, floor_s) = best(|| {
        let mut n = 0;
        for m in &meters {
            n += index.points(&m.id, start, end, trustmeter_index::MAX_RANGE_RESULTS)?.len();
        }
        Ok(n)
    })?;
    let req = ShiftsRequest { org: e.org.id.clone(), range, energy: None };
    let (v, query_s) = best(|| figures::shifts(&state, &index, &req).map_err(anyhow::Error::from))?;
    let (bytes, json_s) = best(|| Ok(serde_json::to_vec(&v)?.len()))?;
    let (csv, csv_s) = best(|| Ok(figures::shifts_csv(&v).len()))?;
    let electricity = trustmeter_types::EnergyKind::Electricity;
    let one_kind = ShiftsRequest { energy: Some(electricity), ..req.clone() };
    let (ve, electricity_s) = best(|| figures::shifts(&state, &index, &one_kind).map_err(anyhow::Error::from))?;
    ensure!(v.instances.len() == 3 * opts.days as usize, "{} instances", v.instances.len());
    let ms = |s: f64| s * 1e3;
    let t = &v.comparison.total;
    println!(
        "shifts of {} days ({} instances, {} with output), {} meters, {} readings read ({rows} in the range)",
        opts.days,
        v.instances.len(),
        t.with_output,
        v.meters,
        v.readings
    );
    println!("  index read alone (floor)          : {:>9.3} ms", ms(floor_s));
    println!(
        "  figures::shifts                   : {:>9.3} ms  ({:.2} µs per reading)",
        ms(query_s),
        query_s * 1e6 / v.readings as f64
    );
    println!("  JSON ({:.1} KB)                    : {:>9.3} ms", bytes as f64 / 1024.0, ms(json_s));
    println!("  CSV ({:.1} KB)                     : {:>9.3} ms", csv as f64 / 1024.0, ms(csv_s));
    println!("  energy=electricity ({} meters)   : {:>9.3} ms", ve.meters, ms(electricity_s));
    println!("  ratio (query / index floor)       : {:>9.2}", query_s / floor_s);
    for p in &t.products {
        println!(
            "  total {}: {} {}, {} kgce, {} kgce/{} (当量), {} kWh/{}",
            p.product,
            p.quantity,
            p.unit,
            p.kgce_equivalent,
            p.kgce_per_unit_equivalent.as_deref().unwrap_or("-"),
            p.unit,
            p.kwh_per_unit.as_deref().unwrap_or("-"),
            p.unit
        );
    }
    for b in &v.comparison.best_worst {
        let name = |p: &Option<figures::ShiftPick>| {
            p.as_ref().map_or("-".to_string(), |p| format!("{} {}", p.name, p.kgce_per_unit_equivalent))
        };
        println!(
            "  {}: best shift {}, worst shift {}; best team {}, worst team {}",
            b.product,
            name(&b.best_shift),
            name(&b.worst_shift),
            name(&b.best_team),
            name(&b.worst_team)
        );
    }
    Ok(())
}
