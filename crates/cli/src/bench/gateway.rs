//! `trustmeter bench gateway`: readings signed and persisted per second by one gateway, and its
//! memory with 10 000 points.
//!
//! Throughput drives the gateway's [`Producer`] directly (sequence numbers, plausibility checks,
//! the Ed25519 device signature and one durable redb write per batch), on one thread, at several
//! batch sizes, and compares it with the two limits it sits between, measured in the same run:
//! Ed25519 signing of the same readings alone, and durable (fsync-bound) commits of an empty redb
//! transaction. Memory starts a real gateway (`trustmeter_gateway::start`) reading simulated
//! points once a second, with its only destination unreachable, so everything it produces queues
//! on disk as it would during an outage, and samples the process's resident memory.

use anyhow::{Context, Result, ensure};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trustmeter_crypto::{SigningKey, sign_reading};
use trustmeter_gateway::alarms::AlarmBoard;
use trustmeter_gateway::config::GatewayConfig;
use trustmeter_gateway::producer::{Item, MAX_PRODUCE_BATCH, Producer};
use trustmeter_gateway::status::Shared;
use trustmeter_gateway::store::Store;
use trustmeter_gateway::time::ClockGuard;
use trustmeter_types::{DeviceId, Quantity, Reading, ReadingOrigin, ReadingSigner, RegisterKind, Unit};

/// Batch sizes measured: one value per durable write (the worst case), and larger batches up to
/// the most one `produce` call takes.
pub const BATCH_SIZES: [usize; 4] = [1, 100, 1_000, MAX_PRODUCE_BATCH];
/// The unreachable destination of the memory run (the discard port on loopback).
pub const UNREACHABLE: &str = "http://127.0.0.1:9";

/// Options of `bench gateway`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Meters the throughput readings are spread over.
    pub meters: usize,
    /// Readings per meter offered at each batch size.
    pub rounds: usize,
    /// Time budget of each throughput measurement.
    pub budget: Duration,
    /// Points of the gateway whose memory is measured.
    pub points: usize,
    /// How long that gateway runs.
    pub run: Duration,
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
        let dir = std::env::temp_dir().join(format!("trustmeter-bench-gateway-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(dir = %self.0.display(), error = %e, "could not remove the benchmark's scratch directory");
        }
    }
}

/// Runs the benchmark: memory first (so the process's peak is the gateway's), then throughput.
pub fn run(opts: Options) -> Result<()> {
    let scratch = Scratch::new()?;
    let key = SigningKey::ed25519_from_seed([7; 32]);
    memory(&opts, &key, scratch.path())?;
    println!();
    throughput(&opts, &key, scratch.path())
}

/// Live state for a producer outside a running gateway (no points, no destinations, a clock
/// that is never suspect).
fn shared() -> Arc<Mutex<Shared>> {
    Arc::new(Mutex::new(Shared {
        alarms: AlarmBoard::default(),
        points: Vec::new(),
        destinations: BTreeMap::new(),
        clock: ClockGuard::new(1.0, i64::MAX / 4, i64::MAX / 4),
    }))
}

fn meter_id(i: usize) -> DeviceId {
    DeviceId::new(format!("BENCH-EM-{i:05}")).expect("a short ASCII id is valid")
}

/// `rounds` readings of each of `meters` cumulative kWh meters, one minute apart, round by round
/// (each meter's readings in time order, as a collector delivers them).
fn items(meters: usize, rounds: usize) -> Vec<Item> {
    let start_ms = 1_767_542_400_000; // 2026-01-05 00:00 Asia/Shanghai
    let ids: Vec<DeviceId> = (0..meters).map(meter_id).collect();
    let mut out = Vec::with_capacity(meters * rounds);
    for r in 0..rounds {
        for (m, id) in ids.iter().enumerate() {
            out.push(Item {
                meter: id.clone(),
                value: Quantity::from_micros(1_000_000 * (r as i64 + 1) + m as i64),
                unit: Unit::KilowattHour,
                timestamp_ms: start_ms + 60_000 * r as i64,
                origin: ReadingOrigin::Online,
                stamped_by_gateway: false,
                point: None,
                kind: RegisterKind::Cumulative,
                range: (None, None),
            });
        }
    }
    out
}

/// A row label, padded so the values line up.
fn label(s: &str) -> String {
    format!("{s:<38}")
}

/// Rate of `n` events in `s` seconds.
fn rate(n: usize, s: f64) -> f64 {
    n as f64 / s.max(1e-9)
}

fn throughput(opts: &Options, key: &SigningKey, dir: &Path) -> Result<()> {
    let offered = opts.meters * opts.rounds;
    println!(
        "gateway producer: {} meters × {} rounds = {offered} readings offered per batch size, {:.0} s budget each (one thread, durable writes)",
        opts.meters,
        opts.rounds,
        opts.budget.as_secs_f64()
    );
    let all = items(opts.meters, opts.rounds);

    // A: Ed25519 signing alone, the same readings, one core.
    let readings: Vec<Reading> = all
        .iter()
        .enumerate()
        .map(|(i, it)| Reading {
            meter: it.meter.clone(),
            seq: (i / opts.meters) as u64 + 1,
            timestamp_ms: it.timestamp_ms,
            value: it.value,
            unit: it.unit,
            origin: it.origin,
            clock_suspect: false,
        })
        .collect();
    let t = Instant::now();
    let mut signed = 0usize;
    for r in &readings {
        std::hint::black_box(sign_reading(key, r.clone(), ReadingSigner::Gateway));
        signed += 1;
        if t.elapsed() >= opts.budget {
            break;
        }
    }
    let sign_s = t.elapsed().as_secs_f64();
    let sign_rate = rate(signed, sign_s);

    // B: durable commits of an empty redb transaction (the fsync bound of one write per batch).
    let db = redb::Database::create(dir.join("commits.redb")).context("creating the commit benchmark's redb file")?;
    let t = Instant::now();
    let mut commits = 0usize;
    while t.elapsed() < opts.budget.min(Duration::from_secs(3)) {
        let mut w = db.begin_write()?;
        w.set_durability(redb::Durability::Immediate)?;
        w.commit()?;
        commits += 1;
    }
    let commit_s = t.elapsed().as_secs_f64();
    let commit_rate = rate(commits, commit_s);
    drop(db);

    println!();
    println!(
        "{}: {sign_rate:>9.0} readings/s ({signed} signatures in {sign_s:.3} s)",
        label("Ed25519 signing alone (one core)")
    );
    println!(
        "{}: {commit_rate:>9.0} commits/s ({commits} in {commit_s:.3} s; fsync bound)",
        label("redb durable commit, empty txn")
    );

    // C: the producer at each batch size, each on a fresh store.
    for size in BATCH_SIZES {
        let store = Arc::new(Store::open(&dir.join(format!("producer-{size}.redb")))?);
        let mut producer = Producer::new(store.clone(), key.clone(), shared())?;
        let batches: Vec<Vec<Item>> = all.chunks(size).map(<[Item]>::to_vec).collect();
        let now_ms = all.last().map(|i| i.timestamp_ms).unwrap_or_default();
        let t = Instant::now();
        let mut done = 0usize;
        for batch in batches {
            let n = batch.len();
            let out = producer.produce(batch, now_ms, false)?;
            ensure!(
                out.ids.len() == n,
                "the producer stored {} of {n} readings: {:?}",
                out.ids.len(),
                out.refused.first()
            );
            done += n;
            if t.elapsed() >= opts.budget {
                break;
            }
        }
        let s = t.elapsed().as_secs_f64();
        let r = rate(done, s);
        ensure!(store.len()? == done as u64, "the store holds {} readings, {done} were produced", store.len()?);
        let vs_commit = if size == 1 { format!("; {:.2} of the commit rate", r / commit_rate) } else { String::new() };
        println!(
            "{}: {r:>9.0} readings/s ({done} in {s:.3} s; {:.2} of signing alone{vs_commit})",
            label(&format!("signed + persisted, batch {size:>5}")),
            r / sign_rate
        );
    }
    Ok(())
}

/// Resident memory of this process, from `/proc/self/status`: (VmRSS, VmHWM) in KiB.
fn resident_kib() -> Result<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status (Linux only)")?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .with_context(|| format!("no {name} in /proc/self/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The gateway config of the memory run: `points` simulator points read every second, one
/// unreachable destination.
fn memory_config(points: usize, data_dir: &Path) -> Result<GatewayConfig> {
    let mut text = format!(
        r#"[gateway]
id = "BENCH-GW"
data_dir = "{}"
listen = "127.0.0.1:0"

[[destination]]
name = "unreachable"
nodes = ["{UNREACHABLE}"]
max_backoff_ms = 1000
request_timeout_ms = 500
"#,
        data_dir.display()
    );
    for i in 0..points {
        text.push_str(&format!(
            "\n[[point]]\nmeter = \"{}\"\ndriver = \"simulator\"\nseed = {i}\nrated_per_hour = 120\nstart = \"{}\"\nunit = \"kWh\"\npoll_interval_s = 1\n",
            meter_id(i),
            1_000 + i
        ));
    }
    Ok(GatewayConfig::parse(&text)?)
}

fn memory(opts: &Options, key: &SigningKey, dir: &Path) -> Result<()> {
    println!(
        "gateway with {} simulator points read every second, its one destination unreachable ({UNREACHABLE}): readings queue on disk, as in an outage; running {:.0} s",
        opts.points,
        opts.run.as_secs_f64()
    );
    let cfg = memory_config(opts.points, &dir.join("gateway"))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Reset the peak (VmHWM) to the current size, so it reflects this run (Linux ≥ 4.0).
    let hwm_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = resident_kib()?;
    let store_path = cfg.store_path();
    let (after_start, end, stored, elapsed, backlog) = rt.block_on(async {
        let handle = trustmeter_gateway::start(cfg, key.clone(), Arc::new(trustmeter_meters::SystemClock)).await?;
        let after_start = resident_kib()?;
        let store = handle.runtime.store.clone();
        // Count from the first stored reading (the first poll waits for the next whole second).
        let first = loop {
            let n = store.next_id()?;
            if n > 1 {
                break (Instant::now(), n);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        tokio::time::sleep(opts.run).await;
        let last = store.next_id()?;
        let elapsed = first.0.elapsed().as_secs_f64();
        let end = resident_kib()?;
        let backlog = last - 1 - store.destination("unreachable")?.settled_through;
        handle.stop().await;
        anyhow::Ok((after_start, end, (last - first.1) as usize, elapsed, backlog))
    })?;
    let file = std::fs::metadata(&store_path).map(|m| m.len()).unwrap_or(0);
    let per_point = (after_start.0.saturating_sub(before.0) * 1024) as f64 / opts.points.max(1) as f64;
    println!();
    println!("resident memory (the whole benchmark process: tokio runtime, allocator, redb cache, drivers, API)");
    let row = |what: &str, (rss, hwm): (u64, u64)| {
        println!("{}: VmRSS {:>7.1} MiB   VmHWM {:>7.1} MiB", label(&format!("  {what}")), mib(rss), mib(hwm));
    };
    row("before start", before);
    row("after start", after_start);
    row(&format!("after {:.0} s", opts.run.as_secs_f64()), end);
    println!("{}: {per_point:>9.0} bytes per point (VmRSS after start over before start)", label("  per point"));
    println!(
        "{}: {:>9.1} MiB while running (the store file grew to {:.1} MiB; redb caches the pages it writes)",
        label("  growth"),
        mib(end.0.saturating_sub(after_start.0)),
        file as f64 / (1024.0 * 1024.0)
    );
    if !hwm_reset {
        println!("  (VmHWM could not be reset; it includes the process's earlier peak)");
    }
    println!(
        "{}: {:>9.0} readings/s sustained ({stored} in {elapsed:.1} s; {} offered per second)",
        label("readings stored (signed, durable)"),
        rate(stored, elapsed),
        opts.points
    );
    println!("{}: {backlog:>9} readings, all on disk", label("backlog for the unreachable chain"));
    Ok(())
}
