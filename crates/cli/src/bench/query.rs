//! `trustmeter bench query`: the figures API's two heaviest reads, through the functions its
//! handlers call (`trustmeter_analytics::figures`), on data built with the real state machine and index:
//!
//! - **(a)** a year of 15-minute data for one meter: 35 040 readings recorded in blocks and
//!   indexed, then `figures::series` (scope meter, period 15m) and its JSON, against the floor of
//!   reading the same register points from the index alone;
//! - **(b)** a one-day rollup of a region of 1 000 enterprises from the consensus daily figures:
//!   `figures::ranking` and a region `figures::series`, against the floor of visiting the same
//!   daily figures in the state map alone;
//! - **(c)** the monthly carbon close of the same enterprises (`figures::carbon_month`, GB/T
//!   32150-2015 in force: the month's daily figures → activity data → emissions), against the floor
//!   of reading the month's daily figures alone, with the methodology's parse (and dry run) and
//!   the evaluation timed apart;
//! - **(d)** a report filing's regeneration (`compliance::build_report`, what every validator runs
//!   when a `SubmitCarbonReport` executes) of each of the same enterprises' year, against the floor
//!   of reading the year's daily figures alone;
//! - **(e)** the compliance alarms' walk over the same enterprises (deadlines, quota forecast).
//! - **(g)** a year's ranking of the (b) region (a reading a day for 365 more days): against
//!   reading the month sums it takes whole months from, and every daily figure of the year.
//! - **(f)** the economy: an epoch's end over 1 024 registered validators (the election of 100
//!   seats, rewards, jailing) against an ordinary block, and one reading batch's reward points
//!   (a CEL evaluation) against its signature checks.
//!
//! Each measurement is the best of several runs on one thread.

use anyhow::{Context, Result, ensure};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use trustmeter_analytics::figures::{self, DayRange, Region, Scope, SeriesRequest};
use trustmeter_chain::devnet::{Devnet, seed_key};
use trustmeter_chain::{ChainBlock, Finalized};
use trustmeter_crypto::{SigningKey, sign_reading};
use trustmeter_energy::calendar::{self, Period};
use trustmeter_energy::coal::ElectricityBasis;
use trustmeter_index::Index;
use trustmeter_plant::TxSigner;
use trustmeter_state::exec::BlockContext;
use trustmeter_state::{SignatureVerdicts, State, build_block};
use trustmeter_types::limits::MAX_READINGS_PER_TX;
use trustmeter_types::tx::MeterSpec;
use trustmeter_types::{
    AccuracyClass, Calibration, DeviceId, EnergyKind, KeyScheme, LocationPath, Quantity, Reading, ReadingOrigin,
    ReadingSigner, RegisterKind, SignedReading, Transaction, TxPayload, Unit,
};

/// Runs of each measurement (the best is reported).
const RUNS: usize = 5;
/// The first day of part (a) and the day of part (b) (Asia/Shanghai).
const YEAR_START: &str = "2025-01-01";

/// Options of `bench query`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Days of 15-minute readings for the one meter (365: 35 040 readings).
    pub days: i32,
    /// Enterprises of the region.
    pub enterprises: usize,
}

/// An index file under the system temp dir, removed on drop.
pub(super) struct Scratch(pub(super) PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The best of `RUNS` timings of `f`, in seconds, with the last result.
fn best<T>(mut f: impl FnMut() -> Result<T>) -> Result<(T, f64)> {
    let mut out = None;
    let mut best = f64::INFINITY;
    for _ in 0..RUNS {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    Ok((out.expect("RUNS > 0"), best))
}

/// Applies transactions in blocks (as many as the chain's limits need), feeding each finalized
/// block to the index when one is given.
fn apply(state: State, txs: Vec<Transaction>, ts: &mut i64, index: Option<&Index>) -> Result<State> {
    let mut state = state;
    let max_txs = state.params.max_block_txs as usize;
    let max_readings = state.params.max_block_readings as usize;
    let mut pending = txs.into_iter().peekable();
    while pending.peek().is_some() {
        let (mut block_txs, mut n) = (vec![], 0);
        while let Some(tx) = pending.peek() {
            let r = tx.body.payload.reading_count();
            if block_txs.len() == max_txs || (n > 0 && n + r > max_readings) {
                break;
            }
            n += r;
            block_txs.push(pending.next().expect("peeked"));
        }
        state = apply_block(state, block_txs, ts, index)?;
    }
    Ok(state)
}

/// Applies one block of transactions (none: an empty block), feeding it to the index when one is
/// given.
fn apply_block(state: State, block_txs: Vec<Transaction>, ts: &mut i64, index: Option<&Index>) -> Result<State> {
    {
        let count = block_txs.len();
        let verdicts = SignatureVerdicts::batch_verify(&state, &block_txs.iter().collect::<Vec<_>>(), &mut rand::rng());
        let ctx = BlockContext { epoch: 0, view: state.height + 1, timestamp_ms: *ts };
        *ts += 1_000;
        let (block, out) = build_block(&state, &ctx, block_txs, &verdicts);
        ensure!(block.txs.len() == count, "a setup transaction did not fit its block");
        for r in &out.receipts {
            ensure!(r.outcome == trustmeter_types::TxOutcome::Accepted, "setup transaction rejected: {r:?}");
            ensure!(
                r.readings.iter().all(|o| o.is_recorded()),
                "a setup reading was not recorded: {:?}",
                r.readings.iter().find(|o| !o.is_recorded())
            );
        }
        let out = Arc::new(out);
        if let Some(index) = index {
            let alg = state.params.hash;
            index.apply(&Finalized { block: ChainBlock::new(alg, block), output: out.clone(), finalization: None })?;
        }
        Ok(out.state.clone())
    }
}

/// Per enterprise: the gateway's key, the gateway's id and the meter's id.
type Devices = Vec<(SigningKey, DeviceId, DeviceId)>;

fn meter_spec(org: &trustmeter_types::UnifiedSocialCreditCode, gateway: &DeviceId) -> MeterSpec {
    MeterSpec {
        id: DeviceId::new(format!("{org}-EM0001")).expect("valid id"),
        gateway: gateway.clone(),
        name: "main feeder".into(),
        energy: EnergyKind::Electricity,
        unit: Unit::KilowattHour,
        register: RegisterKind::Cumulative,
        accuracy: AccuracyClass(50),
        location: LocationPath(vec!["site-01".into(), "main".into()]),
        register_max: Quantity::from_micros(999_999_999_000_000),
        rated_per_hour: Default::default(),
        tariff: None,
        master: None,
        public_key: None,
    }
}

/// Onboards one gateway and one meter per enterprise of `devnet` (registered, calibrated over
/// `[from, until)`, activated); returns the state, the gateway keys and ids, and the meter ids.
fn onboard(
    devnet: &Devnet,
    mut state: State,
    ts: &mut i64,
    index: Option<&Index>,
    from: i64,
    until: i64,
) -> Result<(State, Devices)> {
    let chain = devnet.genesis.chain_id.clone();
    let mut ents: Vec<TxSigner> =
        devnet.enterprises.iter().map(|e| TxSigner::new(e.key.clone(), chain.clone(), 1)).collect();
    let devices: Devices = devnet
        .enterprises
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let gw = DeviceId::new(format!("{}-GW01", e.org.id)).expect("valid id");
            let m = meter_spec(&e.org.id, &gw).id;
            (seed_key(7, &format!("bench-query-gw-{i}"), KeyScheme::Ed25519), gw, m)
        })
        .collect();
    let txs = ents
        .iter_mut()
        .zip(&devices)
        .map(|(s, (k, gw, _))| s.sign(TxPayload::RegisterGateway { id: gw.clone(), public_key: k.public_key() }))
        .collect();
    state = apply(state, txs, ts, index)?;
    let txs = ents
        .iter_mut()
        .zip(devnet.enterprises.iter().zip(&devices))
        .map(|(s, (e, (_, gw, _)))| s.sign(TxPayload::RegisterMeter { meter: meter_spec(&e.org.id, gw) }))
        .collect();
    state = apply(state, txs, ts, index)?;
    let mut metro = TxSigner::new(devnet.metrology.key.clone(), chain.clone(), 1);
    let mut reg = TxSigner::new(devnet.regulator.key.clone(), chain, 1);
    let mut txs = vec![];
    for (_, gw, m) in &devices {
        txs.push(metro.sign(TxPayload::RecordCalibration {
            meter: m.clone(),
            calibration: Calibration {
                certificate_no: format!("JD-{m}"),
                issuer: devnet.metrology.org.id.clone(),
                valid_from_ms: from,
                valid_until_ms: until,
            },
        }));
        txs.push(reg.sign(TxPayload::ActivateDevice { device: gw.clone() }));
        txs.push(reg.sign(TxPayload::ActivateDevice { device: m.clone() }));
    }
    state = apply(state, txs, ts, index)?;
    Ok((state, devices))
}

/// Signed cumulative readings of `meter` at `times`, a plausible load (80–120 kWh per quarter).
fn readings(key: &SigningKey, meter: &DeviceId, times: &[i64], first_seq: u64) -> Vec<SignedReading> {
    let mut value = 1_000_000 * 1_000_000i64;
    times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            value += (80 + (i as i64 * 7919) % 41) * 1_000_000;
            let r = Reading {
                meter: meter.clone(),
                seq: first_seq + i as u64,
                timestamp_ms: *t,
                value: Quantity::from_micros(value),
                unit: Unit::KilowattHour,
                origin: ReadingOrigin::Online,
                clock_suspect: false,
            };
            sign_reading(key, r, ReadingSigner::Gateway)
        })
        .collect()
}

/// Region 430000's ranking over `range` (at most `n` entries) with its JSON, as the API serves
/// it: the number of entries and the total.
fn ranked(state: &State, range: DayRange, n: usize) -> Result<(usize, String)> {
    let v = figures::ranking(
        state,
        Region(430_000),
        range,
        ElectricityBasis::Equivalent,
        n.min(figures::MAX_RANKING_LIMIT),
    )
    .map_err(anyhow::Error::from)?;
    let _ = serde_json::to_vec(&v)?;
    Ok((v.entries.len(), v.total_kgce_equivalent))
}

/// Runs the benchmark.
pub fn run(opts: Options) -> Result<()> {
    ensure!((1..=figures::MAX_DERIVED_RANGE_DAYS).contains(&opts.days), "--days must be 1 to 366");
    ensure!(opts.enterprises >= 1, "--enterprises must be at least 1");
    let first_day = calendar::parse_day(YEAR_START).expect("valid date");
    let last_day = first_day + opts.days - 1;
    let start = calendar::day_start_ms(first_day);
    let end = calendar::day_start_ms(last_day + 1);
    let n_readings = ((end - start) / calendar::QUARTER_MS) as usize;

    // (a) One meter, a year of 15-minute readings, recorded and indexed.
    println!(
        "setting up (a): one meter, {n_readings} readings every 15 minutes from {YEAR_START}, recorded in blocks and indexed"
    );
    let t_setup = Instant::now();
    let devnet = Devnet::new("bench-query-a", 1, 1, 11, start - 86_400_000, 0);
    let scratch =
        Scratch(std::env::temp_dir().join(format!("trustmeter-bench-query-{}-{}.redb", std::process::id(), start)));
    let index = Index::open(&scratch.0, devnet.genesis.clone()).context("opening a scratch index")?;
    let (_, state) = trustmeter_state::genesis_block(&devnet.genesis);
    let mut ts = start - 3_600_000;
    let (state, devices) = onboard(&devnet, state, &mut ts, Some(&index), start - 86_400_000, end + 366 * 86_400_000)?;
    let (key, gw, meter) = devices[0].clone();
    // One reading per quarter start, and the one at the end closing the last quarter.
    let times: Vec<i64> = (0..=n_readings as i64).map(|i| start + i * calendar::QUARTER_MS).collect();
    let signed = readings(&key, &meter, &times, 1);
    let mut gw_signer = TxSigner::new(key.clone(), devnet.genesis.chain_id.clone(), 1);
    let txs: Vec<Transaction> = signed
        .chunks(MAX_READINGS_PER_TX)
        .map(|c| gw_signer.sign(TxPayload::SubmitReadings { gateway: gw.clone(), readings: c.to_vec() }))
        .collect();
    let mut ts = end + 60_000;
    let state = apply(state, txs, &mut ts, Some(&index))?;
    // The year arrived late (its days were over), so the index packs it an hour of block time
    // later: the chain goes on, and queries read what they read in steady state.
    ts += trustmeter_index::by_meter::LATE_GRACE_MS + 60_000;
    let state = apply_block(state, vec![], &mut ts, Some(&index))?;
    println!("  setup {:.1} s; index height {}", t_setup.elapsed().as_secs_f64(), index.height());

    let range = DayRange::new(first_day, last_day, figures::MAX_DERIVED_RANGE_DAYS).map_err(anyhow::Error::from)?;
    // The floor: the register points the series reads, from the index alone.
    let (rows, raw_s) = best(|| Ok(index.points(&meter, start, end, trustmeter_index::MAX_RANGE_RESULTS)?.len()))?;
    let req = SeriesRequest {
        scope: Scope::Meter(meter.clone()),
        energy: None,
        unit: None,
        period: Period::Quarter,
        range,
        max_points: figures::MAX_POINTS,
    };
    let ((points, bytes, total), series_s) = best(|| {
        let v = figures::series(&state, &index, &req).map_err(anyhow::Error::from)?;
        let (points, total) = (v.points.len(), v.total.clone());
        Ok((points, figures::series_json(v).len(), total))
    })?;
    // The same split in two: computing the series, and encoding it.
    let (mut view, compute_s) = best(|| figures::series(&state, &index, &req).map_err(anyhow::Error::from))?;
    let view_points = std::mem::take(&mut view.points);
    let (_, json_s) = best(|| Ok(figures::series_json_parts(&view, &view_points).len()))?;
    ensure!(points == n_readings, "expected {n_readings} quarter points, got {points}");
    ensure!(rows == n_readings, "expected {n_readings} indexed readings in the range, got {rows}");

    // (b) A region of enterprises with one day of hourly readings each.
    let n = opts.enterprises;
    println!();
    println!("setting up (b): {n} enterprises in region 430000, one meter each, 25 hourly readings on {YEAR_START}");
    let t_setup = Instant::now();
    let devnet = Devnet::new("bench-query-b", 1, n, 12, start - 86_400_000, 0);
    let (_, state) = trustmeter_state::genesis_block(&devnet.genesis);
    let mut ts = start - 3_600_000;
    let day_end = calendar::day_start_ms(first_day + 1);
    let (state, devices) = onboard(&devnet, state, &mut ts, None, start - 86_400_000, day_end + 366 * 86_400_000)?;
    let hours: Vec<i64> = (0..=24).map(|h| start + h * 3_600_000).collect();
    let txs: Vec<Transaction> = devices
        .iter()
        .map(|(k, gw, m)| {
            TxSigner::new(k.clone(), devnet.genesis.chain_id.clone(), 1)
                .sign(TxPayload::SubmitReadings { gateway: gw.clone(), readings: readings(k, m, &hours, 1) })
        })
        .collect();
    let mut ts = day_end + 60_000;
    let state = apply(state, txs, &mut ts, None)?;
    println!("  setup {:.1} s; state {} entries", t_setup.elapsed().as_secs_f64(), state.len());
    let day = DayRange::new(first_day, first_day, 1).map_err(anyhow::Error::from)?;
    let orgs: Vec<_> = devnet.enterprises.iter().map(|e| e.org.id.clone()).collect();
    let (figs, floor_s) = best(|| {
        Ok(orgs
            .iter()
            .map(|o| state.daily_range(o, first_day, first_day).map(|(_, d)| d.consumption.0).sum::<i64>())
            .filter(|c| *c > 0)
            .count())
    })?;
    ensure!(figs == n, "expected a daily figure for each of the {n} enterprises, found {figs}");
    let ((entries, total_kgce), rank_s) = best(|| ranked(&state, day, n))?;
    let region_req = SeriesRequest {
        scope: Scope::Region(Region(430_000)),
        energy: Some(EnergyKind::Electricity),
        unit: None,
        period: Period::Day,
        range: day,
        max_points: figures::DEFAULT_MAX_POINTS,
    };
    // A region series reads no readings; the function takes an index all the same.
    let empty = Scratch(std::env::temp_dir().join(format!("trustmeter-bench-query-empty-{}.redb", std::process::id())));
    let empty_index = Index::open(&empty.0, devnet.genesis.clone()).context("opening a scratch index")?;
    let (region_total, region_s) = best(|| {
        let v = figures::series(&state, &empty_index, &region_req).map_err(anyhow::Error::from)?;
        Ok(v.total)
    })?;

    // (g) A year's ranking of the same region: one cumulative reading a day for a year after
    // (b)'s day, so each enterprise has 366 daily figures; the ranking reads whole months from the
    // chain's month sums (MonthTotals) against reading every daily figure of the year.
    println!();
    println!("setting up (g): the same {n} enterprises, one reading a day for 365 more days");
    let t_setup = Instant::now();
    let days: Vec<i64> = (1..=365).map(|d| start + d * 86_400_000 + 1_800_000).collect();
    let txs: Vec<Transaction> = devices
        .iter()
        .map(|(k, gw, m)| {
            TxSigner::new(k.clone(), devnet.genesis.chain_id.clone(), 2)
                .sign(TxPayload::SubmitReadings { gateway: gw.clone(), readings: readings(k, m, &days, 26) })
        })
        .collect();
    let mut ts_y = days[days.len() - 1] + 60_000;
    let state_y = apply(state.clone(), txs, &mut ts_y, None)?;
    println!("  setup {:.1} s; state {} entries", t_setup.elapsed().as_secs_f64(), state_y.len());
    let year_range = DayRange::new(first_day, first_day + 365, 366).map_err(anyhow::Error::from)?;
    let (year_figs, year_floor_s) = best(|| {
        Ok(orgs.iter().map(|o| state_y.daily_range(o, year_range.from_day, year_range.to_day).count()).sum::<usize>())
    })?;
    ensure!(year_figs >= n * 365, "expected a year of daily figures for each enterprise, found {year_figs}");
    let (months_read, months_s) = best(|| {
        let mut k = 0usize;
        for o in &orgs {
            let mut day = year_range.from_day;
            while day <= year_range.to_day {
                let (y, m) = calendar::month_of_day(day);
                k += usize::from(state_y.month_totals(o, y as u32 * 100 + m).is_some());
                day = figures::month_days(y as u32 * 100 + m).map_err(anyhow::Error::from)?.to_day + 1;
            }
        }
        Ok(k)
    })?;
    let ((year_entries, year_total), year_rank_s) = best(|| ranked(&state_y, year_range, n))?;
    let year_sum: i64 = orgs
        .iter()
        .flat_map(|o| {
            state_y
                .daily_range(o, year_range.from_day, year_range.to_day)
                .map(|(_, d)| d.kgce_equivalent.0)
                .collect::<Vec<_>>()
        })
        .sum();
    ensure!(
        trustmeter_types::Quantity::from_micros(year_sum).to_string() == year_total,
        "the year's ranking total {year_total} is not the sum of its daily figures {}",
        trustmeter_types::Quantity::from_micros(year_sum)
    );
    println!(
        "(g) region 430000, {n} enterprises, a year ({year_figs} daily figures, {months_read} month sums); total {year_total} kgce"
    );
    let per = |s: f64| format!("{:.2} µs per enterprise", s * 1e6 / n as f64);
    let line = |label: String, s: f64, per: String| println!("  {label:<34}: {:>9.3} ms  ({per})", s * 1e3);
    line("every daily figure read (before)".into(), year_floor_s, per(year_floor_s));
    line("the month sums read (floor)".into(), months_s, per(months_s));
    line(format!("ranking + JSON ({year_entries} entries)"), year_rank_s, per(year_rank_s));
    println!("  {:<34}: {:>9.2}", "ratio (ranking / month sums)", year_rank_s / months_s);
    println!("  {:<34}: {:>9.2}", "ratio (ranking / daily figures)", year_rank_s / year_floor_s);

    // (c) The monthly carbon close of the same enterprises.
    let (year, month) = calendar::month_of_day(first_day);
    let month_code = year as u32 * 100 + month;
    let month_range = figures::month_days(month_code).map_err(anyhow::Error::from)?;
    let (_, month_floor_s) = best(|| {
        Ok(orgs
            .iter()
            .map(|o| {
                state
                    .daily_range(o, month_range.from_day, month_range.to_day)
                    .map(|(_, d)| d.consumption.0)
                    .sum::<i64>()
            })
            .sum::<i64>())
    })?;
    let (closed_t, close_s) = best(|| {
        let mut micro_t = 0i64;
        for o in &orgs {
            let v = figures::carbon_month(&state, o, month_code, None).map_err(anyhow::Error::from)?;
            micro_t += v.standard_t.replace('.', "").parse::<i64>()?;
        }
        Ok(micro_t)
    })?;
    let methodology = state
        .methodology_on(figures::DEFAULT_METHODOLOGY, month_range.from_day)
        .context("the general methodology is in force")?;
    let (parsed, parse_s) =
        best(|| trustmeter_carbon::Methodology::parse(&methodology.text).map_err(anyhow::Error::from))?;
    let (_, machinery_parse_s) = best(|| {
        trustmeter_carbon::Methodology::parse(trustmeter_carbon::shipped::MACHINERY_V1).map_err(anyhow::Error::from)
    })?;
    let mut activity = trustmeter_carbon::Activity::new(year, "43");
    activity.electricity.purchased = trustmeter_carbon::Decimal::new(123_456_789, 3);
    let (_, eval_s) = best(|| {
        let mut n_lines = 0;
        for _ in 0..1_000 {
            n_lines += trustmeter_carbon::compute(&parsed, &activity).map_err(anyhow::Error::from)?.lines.len();
        }
        Ok(n_lines)
    })?;

    // One month at the most documented entries an enterprise may record (256: diesel invoices,
    // SF6 ledgers, welding-gas ledgers and certificate batches in turn), machinery methodology:
    // added to the metered activity and evaluated, as the close of a block does.
    let machinery = trustmeter_carbon::parsed(trustmeter_carbon::shipped::MACHINERY_V1).map_err(anyhow::Error::from)?;
    let entry_data: Vec<trustmeter_types::CarbonEntryData> = (0
        ..trustmeter_types::carbon::MAX_CARBON_ENTRIES_PER_MONTH)
        .map(|i| {
            use trustmeter_types::carbon::{CarbonEntryData as D, GasFilling};
            let q = Quantity::from_micros;
            match i % 4 {
                0 => D::Fuel { fuel: "diesel".into(), amount: q(1_000_000 + i64::from(i)) },
                1 => D::Fgas {
                    gas: "SF6".into(),
                    opening_t: q(50_000),
                    closing_t: q(30_000),
                    purchased_t: q(100_000),
                    sold_t: q(0),
                    fills: 10 + i,
                    filling: GasFilling::Containers { before_t: q(12_000_000), after_t: q(11_920_000) },
                },
                2 => D::Welding {
                    opening_t: q(200_000),
                    purchased_t: q(1_500_000),
                    closing_t: q(300_000),
                    sold_t: q(0),
                    v_co2: q(200_000),
                    v_ar: q(800_000),
                    v_o2: q(0),
                },
                _ => D::GreenCertificates { batch: format!("GEC-{i}"), first: 1, count: 10, vintage: month_code },
            }
        })
        .collect();
    let recorded: Vec<trustmeter_carbon::entries::RecordedEntry<'_>> = entry_data
        .iter()
        .enumerate()
        .map(|(i, data)| trustmeter_carbon::entries::RecordedEntry { number: i as u32 + 1, data, evidence: &[] })
        .collect();
    let (entry_lines, entries_s) = best(|| {
        let mut a = activity.clone();
        let notes = trustmeter_carbon::entries::add_entries(&machinery, &mut a, &recorded);
        ensure!(notes.is_empty(), "{notes:?}");
        Ok(trustmeter_carbon::compute(&machinery, &a).map_err(anyhow::Error::from)?.lines.len())
    })?;

    // (d) A filing's regeneration: each enterprise's annual report, as every validator builds it
    // when the filing executes (twelve months evaluated, the devices listed, the JSON encoded).
    let year_from = calendar::parse_day(&format!("{year:04}-01-01")).context("1 January")?;
    let year_to = calendar::parse_day(&format!("{year:04}-12-31")).context("31 December")?;
    let (_, year_floor_s) = best(|| {
        Ok(orgs
            .iter()
            .map(|o| state.daily_range(o, year_from, year_to).map(|(_, d)| d.consumption.0).sum::<i64>())
            .sum::<i64>())
    })?;
    let (report_bytes, report_s) = best(|| {
        let mut bytes = 0usize;
        for o in &orgs {
            let r = trustmeter_state::compliance::build_report(
                &state,
                o,
                trustmeter_types::compliance::ReportPeriod::Year(year as u32),
            )
            .map_err(anyhow::Error::from)?;
            bytes += r.bytes.len();
        }
        Ok(bytes)
    })?;

    // (e) The compliance alarms' walk over the same enterprises (at most once a minute of chain
    // time on every node): deadlines and the quota forecast.
    let cfg = trustmeter_analytics::alarms::ComplianceConfig::default();
    let (n_alarms, alarms_s) = best(|| Ok(trustmeter_analytics::alarms::compliance_alarms(&state, &cfg).len()))?;

    let line = |label: String, s: f64, per: String| println!("  {label:<34}: {:>9.3} ms  ({per})", s * 1e3);
    println!();
    println!(
        "(a) one meter, {n_readings} quarter hours ({YEAR_START} .. {}), total {total} kWh",
        calendar::day_label(last_day)
    );
    line("index read alone (floor)".into(), raw_s, format!("{:.2} µs per reading", raw_s * 1e6 / rows as f64));
    line(
        format!("series 15m + JSON ({:.1} MB)", bytes as f64 / 1e6),
        series_s,
        format!("{:.2} µs per point", series_s * 1e6 / points as f64),
    );
    line("  of which the series".into(), compute_s, format!("{:.2} µs per point", compute_s * 1e6 / points as f64));
    line("  of which the JSON".into(), json_s, format!("{:.0} MB/s", bytes as f64 / 1e6 / json_s));
    println!("  {:<34}: {:>9.2}", "ratio (series / index floor)", series_s / raw_s);
    println!("(b) region 430000, {n} enterprises, one day ({YEAR_START}); total {total_kgce} kgce, {region_total} kWh");
    let per = |s: f64| format!("{:.2} µs per enterprise", s * 1e6 / n as f64);
    line("state scan alone (floor)".into(), floor_s, per(floor_s));
    line(format!("ranking + JSON ({entries} entries)"), rank_s, per(rank_s));
    line("region series (day)".into(), region_s, per(region_s));
    println!("  {:<34}: {:>9.2}", "ratio (ranking / state floor)", rank_s / floor_s);
    println!(
        "(c) monthly carbon close, {n} enterprises, {year:04}-{month:02} ({} v{}); GB/T 32150 total {} t CO2e",
        methodology.id,
        methodology.version,
        Quantity::from_micros(closed_t)
    );
    line("month's daily figures alone (floor)".into(), month_floor_s, per(month_floor_s));
    line("carbon_month, every enterprise".into(), close_s, per(close_s));
    line("  methodology parse + dry run".into(), parse_s, format!("machinery: {:.3} ms", machinery_parse_s * 1e3));
    line("  one evaluation (of 1 000)".into(), eval_s / 1_000.0, "activity → lines and totals".into());
    println!("  {:<34}: {:>9.2}", "ratio (close / daily-figure floor)", close_s / month_floor_s);
    line(
        "  256 entries added + evaluated".to_string(),
        entries_s,
        format!(
            "machinery, {entry_lines} lines; {:.1}× one evaluation without entries",
            entries_s / (eval_s / 1_000.0)
        ),
    );
    println!(
        "(d) annual report regenerated at filing, {n} enterprises, {year:04} ({:.1} KB each)",
        report_bytes as f64 / n as f64 / 1e3
    );
    line("year's daily figures alone (floor)".into(), year_floor_s, per(year_floor_s));
    line("build_report, every enterprise".into(), report_s, per(report_s));
    println!("  {:<34}: {:>9.2}", "ratio (report / daily-figure floor)", report_s / year_floor_s);
    line(
        "a block's 4 filings, worst case".into(),
        4.0 * (report_s / n as f64 + 12.0 * entries_s),
        format!("each with 256 entries in every month: + 12 × {:.3} ms", entries_s * 1e3),
    );
    println!("(e) compliance alarms, {n} enterprises ({n_alarms} alarms)");
    line("compliance_alarms".into(), alarms_s, per(alarms_s));
    println!("  {:<34}: {:>9.2}", "ratio (alarms / year's daily figures)", alarms_s / year_floor_s);
    drop((scratch, empty));
    economy(start)
}

/// (f) The economy's costs: an epoch's end with [`MAX_CANDIDATES`] registered validators (issuance,
/// validator rewards, jailing, the election of 100 seats) against an ordinary empty block, and the
/// reward points of one reading batch (one CEL evaluation) against the batch's signature checks.
fn economy(start: i64) -> Result<()> {
    use trustmeter_types::economy::{MAX_CANDIDATES, StakingOp, TOKEN, validator_proof_payload};
    let n = MAX_CANDIDATES;
    println!();
    println!(
        "setting up (f): {n} enterprises allowed to run validators, each registering one and bonding its own stake"
    );
    let t_setup = Instant::now();
    // The genesis validator is one of the n candidates.
    let mut devnet = Devnet::new("bench-query-f", 1, n - 1, 13, start - 86_400_000, 0);
    let staking = &mut devnet.genesis.params.economy.staking;
    staking.eligible.push(trustmeter_types::OrgKind::Enterprise);
    staking.validators = trustmeter_types::economy::MAX_ELECTED;
    staking.max_org_share_percent = 100;
    staking.min_self_stake = 1_000 * TOKEN;
    staking.epoch_length = 100;
    let chain = devnet.genesis.chain_id.clone();
    let (_, mut state) = trustmeter_state::genesis_block(&devnet.genesis);
    let mut ts = start;
    let txs: Vec<Transaction> = devnet
        .enterprises
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            let consensus = seed_key(13, &format!("validator-{i}"), trustmeter_types::KeyScheme::Ed25519);
            let proof = consensus.sign(&validator_proof_payload(chain.as_str(), &m.org.id, &consensus.public_key()));
            let mut signer = TxSigner::new(m.key.clone(), chain.clone(), 1);
            let register = StakingOp::RegisterValidator {
                consensus_key: consensus.public_key(),
                name: format!("v{i}"),
                p2p_address: format!("10.0.{}.{}:30300", i / 250, i % 250 + 1),
                commission_percent: (i % 20) as u8,
                proof,
            };
            let bond = StakingOp::Delegate { validator: consensus.public_key(), amount: 1_000 * TOKEN + i as u64 };
            [signer.sign(TxPayload::Staking { op: register }), signer.sign(TxPayload::Staking { op: bond })]
        })
        .collect();
    state = apply(state, txs, &mut ts, None)?;
    let boundary = state.params.economy.staking.last_of(0);
    ensure!(state.height + 1 < boundary, "the set-up took {} blocks, past the first boundary", state.height);
    while state.height + 2 < boundary {
        state = apply_block(state, vec![], &mut ts, None)?;
    }
    println!(
        "  setup {:.1} s; {} validators registered",
        t_setup.elapsed().as_secs_f64(),
        trustmeter_state::economy::validators(&state).len()
    );
    let block_at = |parent: &State, t: i64| {
        let ctx = BlockContext { epoch: 0, view: parent.height + 1, timestamp_ms: t };
        build_block(parent, &ctx, vec![], &SignatureVerdicts::none()).1.state
    };
    // An ordinary block (height boundary − 1), then the boundary itself.
    let (_, plain_s) = best(|| Ok(block_at(&state, ts)))?;
    let before = block_at(&state, ts);
    let (after, boundary_s) = best(|| Ok(block_at(&before, ts + 1_000)))?;
    let elected = after.validator_set(2).map_or(0, |s| s.members.len());
    ensure!(elected == 100, "the boundary elected {elected} of 100 seats");

    // Reward points of one 96-reading batch against its 96 signature checks.
    let schedule = trustmeter_policy::reward::RewardSchedule::default_schedule();
    let facts = trustmeter_policy::reward::DataFacts { accepted: 96, timely: 90, flagged: 3, rejected: 0 };
    let (points, points_s) = best(|| {
        let mut p = 0;
        for _ in 0..1_000 {
            p = schedule.data_points(&facts);
        }
        Ok(p)
    })?;
    let key = SigningKey::ed25519_from_seed([7; 32]);
    let msg = [0u8; 120];
    let sig = key.sign(&msg);
    let (_, verify_s) = best(|| {
        for _ in 0..1_000 {
            trustmeter_crypto::verify(&key.public_key(), &msg, &sig).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    })?;
    let (one_points, one_verify) = (points_s / 1_000.0, verify_s / 1_000.0);
    let line = |label: &str, s: f64, per: String| println!("  {label:<34}: {:>9.3} ms  ({per})", s * 1e3);
    println!("(f) economy: epoch end over {n} candidates, 100 seats; reward points per reading batch");
    line("an ordinary empty block", plain_s, "its validator activity and the totals' check".into());
    line(
        "the epoch's boundary block",
        boundary_s,
        format!("{:.2} µs per candidate", (boundary_s - plain_s) * 1e6 / n as f64),
    );
    println!("  {:<34}: {:>9.2}", "ratio (boundary / ordinary block)", boundary_s / plain_s);
    line("points of a 96-reading batch", one_points, format!("{points} points, one CEL evaluation"));
    line("its 96 Ed25519 verifications", 96.0 * one_verify, format!("{:.1} µs each", one_verify * 1e6));
    println!("  {:<34}: {:>9.4}", "ratio (points / signature checks)", one_points / (96.0 * one_verify));
    Ok(())
}
