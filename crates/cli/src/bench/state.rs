//! `trustmeter bench state`: the two candidate on-disk authenticated state stores, side by side on
//! the same workload, durable after every block as a validator's would be:
//!
//! - **jmt**: the `jmt` crate's versioned sparse Merkle tree (Jellyfish, 16-ary, SHA-256) over
//!   redb (nodes, versioned values and the stale-node index in tables; one durable redb commit per
//!   block). A self-contained harness, not the production store.
//! - **qmdb**: Commonware's `qmdb::current::ordered::variable` (operation log + Merkle mountain
//!   range + grafted activity bitmap; `commit` per block), as `glue::stateful` uses it.
//!
//! Workload: `--keys` 32-byte hashed keys with ~100-byte values (a meter's progress record) loaded
//! in blocks of 100 000; then `--blocks` blocks of `--updates-per-block` writes, 99 % to random
//! existing keys and 1 % new keys, each block ending with its root and a durable commit. Printed:
//! load rate, per-block p50/p99, updates/s, bytes written per update (`/proc/self/io`), disk per
//! key, peak RSS, proof times and sizes (current, historical, absence), disk with and without
//! pruning, and the ratios to the hashing bound and to the disk's sequential write rate, both
//! measured in the same run.

use anyhow::{Context as _, Result, anyhow, ensure};
use commonware_codec::EncodeSize;
use commonware_cryptography::{Hasher as _, Sha256 as CwSha256, sha256::Digest};
use commonware_parallel::Sequential;
use commonware_runtime::buffer::paged::{CacheRef, page_size};
use commonware_runtime::{BLOB_PAGE_SIZE, Runner as _, Supervisor as _};
use commonware_storage::journal::contiguous::variable::Config as JournalConfig;
use commonware_storage::merkle::{Graftable, full::Config as MerkleConfig, mmb, mmr};
use commonware_storage::qmdb::any::value::VariableEncoding;
use commonware_storage::qmdb::current::ordered::proof::constant as proof;
use commonware_storage::qmdb::current::{VariableConfig, ordered::variable::Db as OrderedVariableDb};
use commonware_storage::qmdb::floor::Proportional;
use commonware_storage::translator::EightCap;
use jmt::storage::{Node, NodeBatch, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, RootHash, Version};
use redb::{Database, ReadableDatabase, TableDefinition};
use sha2::Digest as _;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Keys per block while loading.
pub const LOAD_BLOCK: u64 = 100_000;
/// Bytes of each value (about a meter's committed progress record).
pub const VALUE_LEN: usize = 100;
/// Random keys each proof timing averages over.
const PROOF_SAMPLES: usize = 200;
/// How many blocks back the historical proof looks (fewer if the run has fewer blocks).
const HISTORY_BLOCKS: u64 = 40;
/// Largest `--keys` accepted (10⁹: the harness keeps no per-key state in memory, but a bound
/// keeps a typo from filling the disk for days).
const MAX_KEYS: u64 = 1_000_000_000;
/// Largest `--updates-per-block` and `--blocks` accepted.
const MAX_UPDATES: usize = 10_000_000;
const MAX_BLOCKS: usize = 100_000;

/// Which store(s) to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// jmt 0.12 over redb.
    Jmt,
    /// Commonware `qmdb::current::ordered::variable`.
    Qmdb,
    /// Both, jmt first.
    Both,
}

/// The Merkle structure under QMDB's operation log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QmdbFamily {
    /// Merkle mountain range.
    Mmr,
    /// Merkle mountain belt (what Commonware's `constantinople` bench calls the production shape).
    Mmb,
}

/// Options of `bench state`.
#[derive(Clone, Debug)]
pub struct Options {
    /// Keys loaded before the steady state.
    pub keys: u64,
    /// Writes per steady-state block (1 % of them new keys).
    pub updates_per_block: usize,
    /// Steady-state blocks.
    pub blocks: usize,
    /// Store(s) to measure.
    pub backend: Backend,
    /// Data directory (kept); `None`: a fresh directory under the system temp dir, removed at exit.
    pub dir: Option<PathBuf>,
    /// Cache of each store (redb's cache; QMDB's page cache), MiB.
    pub cache_mib: usize,
    /// Versions kept when pruning at the end (blocks).
    pub prune_keep: u64,
    /// QMDB's Merkle family.
    pub qmdb_family: QmdbFamily,
    /// Full QMDB sync (Merkle nodes too) every this many blocks; 0: only at the end.
    pub qmdb_sync_every: usize,
    /// Keys per load block.
    pub load_block: u64,
    /// Measure the disk's sequential write rate and fsync latency (256 MiB written).
    pub disk_probe: bool,
}

impl Options {
    fn check(&self) -> Result<()> {
        ensure!(self.keys > 0 && self.keys <= MAX_KEYS, "--keys must be in 1..={MAX_KEYS}");
        ensure!(
            self.updates_per_block > 0 && self.updates_per_block <= MAX_UPDATES,
            "--updates-per-block must be in 1..={MAX_UPDATES}"
        );
        ensure!(self.blocks > 0 && self.blocks <= MAX_BLOCKS, "--blocks must be in 1..={MAX_BLOCKS}");
        ensure!(self.load_block > 0, "load block must be positive");
        ensure!(self.cache_mib > 0 && self.cache_mib <= 1 << 20, "--cache-mib must be in 1..=1048576");
        ensure!(self.prune_keep > 0, "--prune-keep must be positive");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Workload

/// Deterministic pseudo-random numbers (SplitMix64): the same sequence for both stores.
#[derive(Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The hashed key of key number `i`.
pub fn key_of(i: u64) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    h.update(b"trustmeter/bench/state/key/v1");
    h.update(i.to_be_bytes());
    h.finalize().into()
}

/// The value key `i` gets when written at `version`: `i` and `version` (big-endian), then
/// pseudo-random filler, `VALUE_LEN` bytes.
pub fn value_of(i: u64, version: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(VALUE_LEN);
    v.extend_from_slice(&i.to_be_bytes());
    v.extend_from_slice(&version.to_be_bytes());
    let mut r = SplitMix(i ^ version.rotate_left(32));
    while v.len() < VALUE_LEN {
        v.extend_from_slice(&r.next().to_le_bytes());
    }
    v.truncate(VALUE_LEN);
    v
}

/// One block of writes: `(key number, hashed key, value)`, and how many of them are new keys.
struct Block {
    writes: Vec<(u64, [u8; 32], Vec<u8>)>,
    new_keys: usize,
}

/// The shared workload: load blocks, then steady-state blocks (99 % updates of random existing
/// keys, 1 % inserts). `version` counts blocks from 0 (the first load block).
struct Workload {
    rng: SplitMix,
    /// Keys that exist (numbered `0..count`).
    count: u64,
    version: u64,
}

impl Workload {
    fn new() -> Self {
        Self { rng: SplitMix(0x7472_7573_746d_6574), count: 0, version: 0 }
    }

    /// The next load block: keys `count..count + n`.
    fn load_block(&mut self, n: u64) -> Block {
        let v = self.version;
        let writes = (self.count..self.count + n).map(|i| (i, key_of(i), value_of(i, v))).collect();
        self.count += n;
        self.version += 1;
        Block { writes, new_keys: n as usize }
    }

    /// The next steady-state block of `n` writes.
    fn update_block(&mut self, n: usize) -> Block {
        let v = self.version;
        let existing = self.count;
        let mut writes = Vec::with_capacity(n);
        let mut new_keys = 0;
        for _ in 0..n {
            let i = if self.rng.below(100) == 0 {
                new_keys += 1;
                self.count += 1;
                self.count - 1
            } else {
                self.rng.below(existing)
            };
            writes.push((i, key_of(i), value_of(i, v)));
        }
        self.version += 1;
        Block { writes, new_keys }
    }
}

// ---------------------------------------------------------------------------------------------
// Measurements of the process and the machine

use super::io_write_bytes;

/// (VmRSS, VmHWM) of this process in KiB.
fn rss_kib() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Resets the peak RSS to the current RSS (Linux ≥ 4.0); false if not possible.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes allocated on disk under `dir` (st_blocks × 512, like `du`).
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    let mut visited = 0usize;
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            visited += 1;
            if visited > 1_000_000 {
                return total; // bound on a pathological directory
            }
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.blocks() * 512;
            }
        }
    }
    total
}

/// The limits this run is compared with.
#[derive(Clone, Copy, Debug, Default)]
struct Limits {
    /// SHA-256 of 64-byte inputs per second, one core (`sha2`, what jmt uses).
    sha2_64: f64,
    /// The same with Commonware's SHA-256 (what QMDB uses).
    cw_64: f64,
    /// Sequential write rate with a final fsync, bytes/s (None: not measured).
    disk_seq: Option<f64>,
    /// Median latency of a 4 KiB write + fsync, seconds.
    fsync: Option<f64>,
}

fn measure_hashing() -> (f64, f64) {
    let n = 2_000_000u64;
    let mut node = [7u8; 64];
    let t = Instant::now();
    for i in 0..n {
        node[..8].copy_from_slice(&i.to_le_bytes());
        let d: [u8; 32] = sha2::Sha256::digest(node).into();
        node[32..].copy_from_slice(&d);
    }
    let sha2_rate = n as f64 / t.elapsed().as_secs_f64();
    std::hint::black_box(node);
    let t = Instant::now();
    for i in 0..n {
        node[..8].copy_from_slice(&i.to_le_bytes());
        let d = CwSha256::hash(&[&node]);
        node[32..].copy_from_slice(&d.0);
    }
    let cw_rate = n as f64 / t.elapsed().as_secs_f64();
    std::hint::black_box(node);
    (sha2_rate, cw_rate)
}

/// Writes 256 MiB in 1 MiB writes then fsyncs (like `dd bs=1M count=256 conv=fsync`), and times
/// 20 small durable writes.
fn measure_disk(dir: &Path) -> Result<(f64, f64)> {
    use std::io::Write;
    let path = dir.join("disk-probe");
    let buf = vec![0x5Au8; 1 << 20];
    let t = Instant::now();
    {
        let mut f = std::fs::File::create(&path)?;
        for _ in 0..256 {
            f.write_all(&buf)?;
        }
        f.sync_all()?;
    }
    let seq = (256u64 << 20) as f64 / t.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    {
        let mut f = std::fs::File::create(&path)?;
        for _ in 0..20 {
            let t = Instant::now();
            f.write_all(&buf[..4096])?;
            f.sync_data()?;
            lat.push(t.elapsed().as_secs_f64());
        }
    }
    std::fs::remove_file(&path)?;
    lat.sort_by(f64::total_cmp);
    Ok((seq, lat[lat.len() / 2]))
}

// ---------------------------------------------------------------------------------------------
// Results

/// A proof measurement: mean generation + verification time and encoded size.
#[derive(Clone, Copy, Debug, Default)]
struct ProofFigure {
    gen_s: f64,
    verify_s: f64,
    bytes: f64,
}

/// What one store did.
#[derive(Debug, Default)]
struct Report {
    name: String,
    keys: u64,
    load_s: f64,
    load_written: u64,
    block_s: Vec<f64>,
    updates: u64,
    steady_written: Option<u64>,
    disk_before_steady: u64,
    disk_after_steady: u64,
    disk_pruned: Option<u64>,
    prune_s: f64,
    prune_note: String,
    hwm_kib: u64,
    rss_end_kib: u64,
    hashes_per_update: Option<f64>,
    proof_current: ProofFigure,
    proof_historical: Option<ProofFigure>,
    proof_absent: ProofFigure,
    historical_note: String,
    root: String,
}

impl Report {
    fn percentile(&self, q: f64) -> f64 {
        let mut t = self.block_s.clone();
        t.sort_by(f64::total_cmp);
        t[((t.len() - 1) as f64 * q).round() as usize]
    }

    fn updates_per_s(&self) -> f64 {
        self.updates as f64 / self.block_s.iter().sum::<f64>()
    }

    fn written_per_update(&self) -> Option<f64> {
        self.steady_written.map(|w| w as f64 / self.updates as f64)
    }
}

/// Depth of a binary Merkle tree over `n` keys: ⌈log₂ n⌉.
fn binary_depth(n: u64) -> u32 {
    64 - n.saturating_sub(1).leading_zeros()
}

fn mib(b: f64) -> f64 {
    b / (1u64 << 20) as f64
}

fn print_report(r: &Report, lim: &Limits) {
    let ups = r.updates_per_s();
    let depth = binary_depth(r.keys);
    let sha = if r.name.starts_with("jmt") { lim.sha2_64 } else { lim.cw_64 };
    let hash_bound = sha / depth as f64;
    println!();
    println!("== {} ==", r.name);
    println!(
        "load      : {} keys in {:.1} s: {:.0} keys/s ({:.0} B written per key)",
        r.keys,
        r.load_s,
        r.keys as f64 / r.load_s,
        r.load_written as f64 / r.keys as f64
    );
    println!(
        "steady    : {} blocks: block p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {:.0} updates/s",
        r.block_s.len(),
        r.percentile(0.5) * 1e3,
        r.percentile(0.99) * 1e3,
        r.percentile(1.0) * 1e3,
        ups
    );
    match r.written_per_update() {
        Some(w) => println!(
            "written   : {:.0} B per update (/proc/self/io write_bytes); data dir grew {:.0} B per update",
            w,
            (r.disk_after_steady as f64 - r.disk_before_steady as f64) / r.updates as f64
        ),
        None => println!("written   : /proc/self/io unavailable"),
    }
    println!(
        "disk      : {:.1} MiB after steady state ({:.0} B per key){}",
        mib(r.disk_after_steady as f64),
        r.disk_after_steady as f64 / r.keys as f64,
        match r.disk_pruned {
            Some(p) => format!(
                "; {:.1} MiB ({:.0} B per key) after pruning ({}, {:.2} s)",
                mib(p as f64),
                p as f64 / r.keys as f64,
                r.prune_note,
                r.prune_s
            ),
            None => String::new(),
        }
    );
    println!(
        "memory    : peak RSS (VmHWM) {:.0} MiB, RSS at end {:.0} MiB",
        r.hwm_kib as f64 / 1024.0,
        r.rss_end_kib as f64 / 1024.0
    );
    let pf = |p: &ProofFigure| {
        format!("{:.0} µs to make, {:.0} µs to verify, {:.0} B", p.gen_s * 1e6, p.verify_s * 1e6, p.bytes)
    };
    println!("proof     : inclusion at the latest root: {}", pf(&r.proof_current));
    match &r.proof_historical {
        Some(p) => println!("proof     : inclusion at an old root ({}): {}", r.historical_note, pf(p)),
        None => println!("proof     : inclusion at an old root: {}", r.historical_note),
    }
    println!("proof     : absence at the latest root: {}", pf(&r.proof_absent));
    println!(
        "hash bound: {:.0} SHA-256/s of 64 B × depth {} = {:.0} updates/s; measured/bound {:.3}{}",
        sha,
        depth,
        hash_bound,
        ups / hash_bound,
        match r.hashes_per_update {
            Some(h) => format!(
                "; {h:.1} hashes per update counted ({:.0} % of block time if each hash cost a 64 B one)",
                100.0 * h * ups / sha
            ),
            None => String::new(),
        }
    );
    if let (Some(seq), Some(w)) = (lim.disk_seq, r.written_per_update()) {
        let bound = seq / w;
        println!(
            "disk bound: {:.0} MB/s sequential ÷ {:.0} B per update = {:.0} updates/s; measured/bound {:.3}",
            seq / 1e6,
            w,
            bound,
            ups / bound
        );
    }
    println!("root      : {}", r.root);
}

fn print_table(reports: &[Report], lim: &Limits) {
    if reports.is_empty() {
        return;
    }
    println!();
    let head: Vec<&str> = reports.iter().map(|r| r.name.as_str()).collect();
    println!("| figure | {} |", head.join(" | "));
    println!("|---|{}", "---|".repeat(reports.len()));
    let row = |label: &str, f: &dyn Fn(&Report) -> String| {
        let cells: Vec<String> = reports.iter().map(f).collect();
        println!("| {label} | {} |", cells.join(" | "));
    };
    row("keys", &|r| r.keys.to_string());
    row("load, keys/s", &|r| format!("{:.0}", r.keys as f64 / r.load_s));
    row("block p50 / p99, ms", &|r| format!("{:.1} / {:.1}", r.percentile(0.5) * 1e3, r.percentile(0.99) * 1e3));
    row("updates/s", &|r| format!("{:.0}", r.updates_per_s()));
    row("written per update, B", &|r| r.written_per_update().map_or("-".into(), |w| format!("{w:.0}")));
    row("disk per key, B (unpruned)", &|r| format!("{:.0}", r.disk_after_steady as f64 / r.keys as f64));
    row("disk per key, B (pruned)", &|r| {
        r.disk_pruned.map_or("-".into(), |p| format!("{:.0}", p as f64 / r.keys as f64))
    });
    row("peak RSS, MiB", &|r| format!("{:.0}", r.hwm_kib as f64 / 1024.0));
    row("inclusion proof, µs / B", &|r| format!("{:.0} / {:.0}", r.proof_current.gen_s * 1e6, r.proof_current.bytes));
    row("historical proof, µs / B", &|r| {
        r.proof_historical.map_or("not possible".into(), |p| format!("{:.0} / {:.0}", p.gen_s * 1e6, p.bytes))
    });
    row("absence proof, µs / B", &|r| format!("{:.0} / {:.0}", r.proof_absent.gen_s * 1e6, r.proof_absent.bytes));
    row("updates/s ÷ hashing bound", &|r| {
        let sha = if r.name.starts_with("jmt") { lim.sha2_64 } else { lim.cw_64 };
        format!("{:.3}", r.updates_per_s() / (sha / binary_depth(r.keys) as f64))
    });
    row("updates/s ÷ disk bound", &|r| match (lim.disk_seq, r.written_per_update()) {
        (Some(seq), Some(w)) => format!("{:.3}", r.updates_per_s() / (seq / w)),
        _ => "-".into(),
    });
}

// ---------------------------------------------------------------------------------------------
// jmt over redb

/// SHA-256 for jmt that counts its digests (to report hashes per update).
pub struct CountingSha256(sha2::Sha256);

static JMT_HASHES: AtomicU64 = AtomicU64::new(0);

impl jmt::SimpleHasher for CountingSha256 {
    fn new() -> Self {
        Self(sha2::Sha256::new())
    }

    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }

    fn finalize(self) -> [u8; 32] {
        JMT_HASHES.fetch_add(1, Ordering::Relaxed);
        self.0.finalize().into()
    }
}

/// Tree nodes: `version (BE) ‖ borsh(nibble path)` → `borsh(node)`. Version first, so each
/// block's new nodes append at the end of the B-tree.
const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nodes");
/// Values: `key hash ‖ version (BE)` → `0x01 ‖ value`, or `0x00` for a deletion.
const VALUES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("values");
/// Stale nodes: `stale since version (BE) ‖ node key` → ().
const STALE_NODES: TableDefinition<&[u8], ()> = TableDefinition::new("stale_nodes");
/// Superseded values: `version (BE) ‖ key hash` → (): the key's values older than `version`
/// are not needed by any version ≥ `version`.
const STALE_VALUES: TableDefinition<&[u8], ()> = TableDefinition::new("stale_values");

fn node_key_bytes(k: &NodeKey) -> Vec<u8> {
    let mut b = k.version().to_be_bytes().to_vec();
    borsh::to_writer(&mut b, k.nibble_path()).expect("writing to a Vec cannot fail");
    b
}

fn value_key(kh: &KeyHash, version: Version) -> [u8; 40] {
    let mut b = [0u8; 40];
    b[..32].copy_from_slice(&kh.0);
    b[32..].copy_from_slice(&version.to_be_bytes());
    b
}

/// A consistent read view of the jmt tables (one redb read transaction).
pub struct JmtReader {
    nodes: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    values: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl TreeReader for JmtReader {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        match self.nodes.get(node_key_bytes(node_key).as_slice())? {
            Some(v) => Ok(Some(borsh::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        let lo = value_key(&key_hash, 0);
        let hi = value_key(&key_hash, max_version);
        let mut range = self.values.range(lo.as_slice()..=hi.as_slice())?;
        match range.next_back() {
            Some(entry) => {
                let (_, v) = entry?;
                let v = v.value();
                Ok(if v.first() == Some(&1) { Some(v[1..].to_vec()) } else { None })
            }
            None => Ok(None),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, jmt::storage::LeafNode)>> {
        Err(anyhow!("not needed by this harness (used only by jmt's restore)"))
    }
}

/// The jmt harness: a redb file and the latest version.
pub struct JmtStore {
    db: Database,
    /// The next version to write.
    pub next_version: Version,
}

type Jmt<'a> = JellyfishMerkleTree<'a, JmtReader, CountingSha256>;

impl JmtStore {
    /// Creates the store at `path` (a new file) with a redb cache of `cache_bytes`.
    pub fn create(path: &Path, cache_bytes: usize) -> Result<Self> {
        let db = redb::Builder::new().set_cache_size(cache_bytes).create(path)?;
        let w = db.begin_write()?;
        w.open_table(NODES)?;
        w.open_table(VALUES)?;
        w.open_table(STALE_NODES)?;
        w.open_table(STALE_VALUES)?;
        w.commit()?;
        Ok(Self { db, next_version: 0 })
    }

    /// A read view of the latest commit.
    pub fn reader(&self) -> Result<JmtReader> {
        let r = self.db.begin_read()?;
        Ok(JmtReader { nodes: r.open_table(NODES)?, values: r.open_table(VALUES)? })
    }

    /// Writes one block (the next version), durably; returns its root. `updated` are the keys of
    /// `writes` that existed before (their older values become stale at this version).
    pub fn apply(&mut self, writes: &[(KeyHash, Vec<u8>)], updated: &[KeyHash]) -> Result<RootHash> {
        let version = self.next_version;
        let reader = self.reader()?;
        let (root, batch) = Jmt::new(&reader)
            .put_value_set(writes.iter().map(|(k, v)| (*k, Some(v.clone()))), version)
            .map_err(|e| anyhow!("jmt put_value_set: {e}"))?;
        drop(reader);
        let w = self.db.begin_write()?;
        {
            write_node_batch(&w, &batch.node_batch)?;
            let mut stale = w.open_table(STALE_NODES)?;
            for s in &batch.stale_node_index_batch {
                let mut k = s.stale_since_version.to_be_bytes().to_vec();
                k.extend(node_key_bytes(&s.node_key));
                stale.insert(k.as_slice(), ())?;
            }
            let mut stale_values = w.open_table(STALE_VALUES)?;
            for kh in updated {
                let mut k = version.to_be_bytes().to_vec();
                k.extend_from_slice(&kh.0);
                stale_values.insert(k.as_slice(), ())?;
            }
        }
        w.commit()?; // redb's default durability: fsync before returning
        self.next_version += 1;
        Ok(root)
    }

    /// The value of `key` at `version`.
    pub fn get(&self, key: KeyHash, version: Version) -> Result<Option<OwnedValue>> {
        let reader = self.reader()?;
        Jmt::new(&reader).get(key, version).map_err(|e| anyhow!("jmt get: {e}"))
    }

    /// The root at `version`.
    pub fn root(&self, version: Version) -> Result<RootHash> {
        let reader = self.reader()?;
        Jmt::new(&reader).get_root_hash(version).map_err(|e| anyhow!("jmt root: {e}"))
    }

    /// The value of `key` at `version` with its proof (inclusion, or absence when `None`).
    pub fn prove(
        &self,
        key: KeyHash,
        version: Version,
    ) -> Result<(Option<OwnedValue>, jmt::proof::SparseMerkleProof<CountingSha256>)> {
        let reader = self.reader()?;
        Jmt::new(&reader).get_with_proof(key, version).map_err(|e| anyhow!("jmt proof: {e}"))
    }

    /// Deletes what no version ≥ `horizon` needs (stale nodes and superseded values), in one
    /// durable commit; returns (nodes, values) deleted.
    pub fn prune(&mut self, horizon: Version) -> Result<(u64, u64)> {
        let end = horizon.saturating_add(1).to_be_bytes();
        let (mut n_nodes, mut n_values) = (0u64, 0u64);
        let w = self.db.begin_write()?;
        {
            let mut nodes = w.open_table(NODES)?;
            let mut stale = w.open_table(STALE_NODES)?;
            for entry in stale.extract_from_if(..end.as_slice(), |_, _| true)? {
                let (k, _) = entry?;
                nodes.remove(&k.value()[8..])?;
                n_nodes += 1;
            }
            let mut values = w.open_table(VALUES)?;
            let mut stale_values = w.open_table(STALE_VALUES)?;
            for entry in stale_values.extract_from_if(..end.as_slice(), |_, _| true)? {
                let (k, _) = entry?;
                let k = k.value();
                let since = u64::from_be_bytes(k[..8].try_into().expect("8 bytes"));
                let kh = KeyHash(k[8..40].try_into().expect("32 bytes"));
                let (lo, hi) = (value_key(&kh, 0), value_key(&kh, since));
                for e in values.extract_from_if(lo.as_slice()..hi.as_slice(), |_, _| true)? {
                    e?;
                    n_values += 1;
                }
            }
        }
        w.commit()?;
        Ok((n_nodes, n_values))
    }

    /// Rewrites the file without free pages (redb keeps freed pages for reuse otherwise).
    pub fn compact(&mut self) -> Result<()> {
        self.db.compact()?;
        Ok(())
    }
}

fn write_node_batch(w: &redb::WriteTransaction, batch: &NodeBatch) -> Result<()> {
    let mut nodes = w.open_table(NODES)?;
    for (k, n) in batch.nodes() {
        nodes.insert(node_key_bytes(k).as_slice(), borsh::to_vec(n)?.as_slice())?;
    }
    let mut values = w.open_table(VALUES)?;
    for ((version, kh), v) in batch.values() {
        let mut b = Vec::with_capacity(1 + v.as_ref().map_or(0, Vec::len));
        match v {
            Some(v) => {
                b.push(1);
                b.extend_from_slice(v);
            }
            None => b.push(0),
        }
        values.insert(value_key(kh, *version).as_slice(), b.as_slice())?;
    }
    Ok(())
}

fn mean_time<T>(n: usize, mut f: impl FnMut(usize) -> Result<T>) -> Result<(f64, Vec<T>)> {
    let mut out = Vec::with_capacity(n);
    let t = Instant::now();
    for i in 0..n {
        out.push(f(i)?);
    }
    Ok((t.elapsed().as_secs_f64() / n as f64, out))
}

fn run_jmt(opts: &Options, dir: &Path) -> Result<Report> {
    std::fs::create_dir_all(dir)?;
    let mut report = Report { name: "jmt 0.12 / redb 4".into(), ..Report::default() };
    let mut store = JmtStore::create(&dir.join("state.redb"), opts.cache_mib << 20)?;
    let mut work = Workload::new();
    let hwm_reset = reset_hwm();
    println!("jmt: loading {} keys in blocks of {} into {}", opts.keys, opts.load_block, dir.display());
    let io0 = io_write_bytes();
    let t = Instant::now();
    let load_blocks = opts.keys.div_ceil(opts.load_block);
    let every = (load_blocks / 20).max(1);
    for b in 0..load_blocks {
        let n = opts.load_block.min(opts.keys - work.count);
        let block = work.load_block(n);
        let writes: Vec<_> = block.writes.into_iter().map(|(_, k, v)| (KeyHash(k), v)).collect();
        store.apply(&writes, &[])?;
        if (b + 1) % every == 0 || b + 1 == load_blocks {
            let s = t.elapsed().as_secs_f64();
            println!(
                "  {:>11} keys  {:>7.1} s  {:>8.0} keys/s  disk {:>8.1} MiB  RSS {:>6.0} MiB",
                work.count,
                s,
                work.count as f64 / s,
                mib(disk_bytes(dir) as f64),
                rss_kib().0 as f64 / 1024.0
            );
        }
    }
    report.load_s = t.elapsed().as_secs_f64();
    report.load_written = io_write_bytes().zip(io0).map_or(0, |(a, b)| a - b);

    report.disk_before_steady = disk_bytes(dir);
    let io0 = io_write_bytes();
    let h0 = JMT_HASHES.load(Ordering::Relaxed);
    let steady_first = store.next_version;
    println!("jmt: {} blocks of {} writes", opts.blocks, opts.updates_per_block);
    let mut last_root = RootHash([0; 32]);
    for b in 0..opts.blocks {
        let block = work.update_block(opts.updates_per_block);
        let existing = work.count - block.new_keys as u64;
        let updated: Vec<KeyHash> =
            block.writes.iter().filter(|(i, _, _)| *i < existing).map(|(_, k, _)| KeyHash(*k)).collect();
        let writes: Vec<_> = block.writes.into_iter().map(|(_, k, v)| (KeyHash(k), v)).collect();
        let t = Instant::now();
        last_root = store.apply(&writes, &updated)?;
        report.block_s.push(t.elapsed().as_secs_f64());
        report.updates += writes.len() as u64;
        if (b + 1) % 10 == 0 || b + 1 == opts.blocks {
            println!("  block {:>4}: {:>7.1} ms", b + 1, report.block_s[b] * 1e3);
        }
    }
    report.hashes_per_update = Some((JMT_HASHES.load(Ordering::Relaxed) - h0) as f64 / report.updates as f64);
    report.steady_written = io_write_bytes().zip(io0).map(|(a, b)| a - b);
    report.disk_after_steady = disk_bytes(dir);
    report.keys = work.count;
    let latest = store.next_version - 1;
    ensure!(store.root(latest)? == last_root, "jmt: the stored root differs from the computed one");
    report.root = hex::encode(last_root.0);

    // Proofs, on random existing keys (current and historical) and never-written keys (absence).
    let mut rng = SplitMix(99);
    let sample: Vec<u64> = (0..PROOF_SAMPLES).map(|_| rng.below(work.count)).collect();
    let (gen_s, proofs) = mean_time(PROOF_SAMPLES, |i| store.prove(KeyHash(key_of(sample[i])), latest))?;
    let (verify_s, _) = mean_time(PROOF_SAMPLES, |i| {
        let (v, p) = &proofs[i];
        let v = v.as_ref().ok_or_else(|| anyhow!("jmt: key {} missing", sample[i]))?;
        p.verify_existence(last_root, KeyHash(key_of(sample[i])), v).map_err(|e| anyhow!("jmt proof: {e}"))
    })?;
    for (i, (v, _)) in sample.iter().zip(&proofs).take(10) {
        ensure!(store.get(KeyHash(key_of(*i)), latest)? == *v, "jmt: get and get_with_proof disagree");
    }
    let bytes = proofs.iter().map(|(_, p)| borsh::to_vec(p).map_or(0, |b| b.len())).sum::<usize>();
    report.proof_current = ProofFigure { gen_s, verify_s, bytes: bytes as f64 / PROOF_SAMPLES as f64 };

    let back = HISTORY_BLOCKS.min(latest - steady_first + 1);
    let old = latest - back;
    let old_root = store.root(old)?;
    let (gen_s, proofs) = mean_time(PROOF_SAMPLES, |i| store.prove(KeyHash(key_of(sample[i])), old))?;
    let (verify_s, _) = mean_time(PROOF_SAMPLES, |i| {
        let (v, p) = &proofs[i];
        let kh = KeyHash(key_of(sample[i]));
        match v {
            // The value as of `old` must have been written at or before `old`.
            Some(v) => {
                let written = u64::from_be_bytes(v[8..16].try_into().expect("value layout"));
                ensure!(written <= old, "jmt: a value from version {written} seen at version {old}");
                p.verify_existence(old_root, kh, v).map_err(|e| anyhow!("jmt historical proof: {e}"))
            }
            // A key inserted after `old` is absent there.
            None => p.verify_nonexistence(old_root, kh).map_err(|e| anyhow!("jmt historical proof: {e}")),
        }
    })?;
    let bytes = proofs.iter().map(|(_, p)| borsh::to_vec(p).map_or(0, |b| b.len())).sum::<usize>();
    report.proof_historical = Some(ProofFigure { gen_s, verify_s, bytes: bytes as f64 / PROOF_SAMPLES as f64 });
    report.historical_note = format!("{back} blocks back");

    let absent: Vec<u64> = (0..PROOF_SAMPLES as u64).map(|i| u64::MAX - i).collect();
    let (gen_s, proofs) = mean_time(PROOF_SAMPLES, |i| store.prove(KeyHash(key_of(absent[i])), latest))?;
    let (verify_s, _) = mean_time(PROOF_SAMPLES, |i| {
        let (v, p) = &proofs[i];
        ensure!(v.is_none(), "jmt: a never-written key has a value");
        p.verify_nonexistence(last_root, KeyHash(key_of(absent[i]))).map_err(|e| anyhow!("jmt absence proof: {e}"))
    })?;
    let bytes = proofs.iter().map(|(_, p)| borsh::to_vec(p).map_or(0, |b| b.len())).sum::<usize>();
    report.proof_absent = ProofFigure { gen_s, verify_s, bytes: bytes as f64 / PROOF_SAMPLES as f64 };

    // Pruning: keep the last `prune_keep` versions, then compact the file.
    let horizon = (latest + 1).saturating_sub(opts.prune_keep);
    let t = Instant::now();
    let (n_nodes, n_values) = store.prune(horizon)?;
    store.compact()?;
    report.prune_s = t.elapsed().as_secs_f64();
    report.disk_pruned = Some(disk_bytes(dir));
    // What pruning keeps and drops: a proof at the horizon still verifies, the version before is gone.
    let k = KeyHash(key_of(sample[0]));
    let (v, p) = store.prove(k, horizon)?;
    p.verify(store.root(horizon)?, k, v.as_ref()).map_err(|e| anyhow!("jmt proof after pruning: {e}"))?;
    let gone = horizon > 0 && store.prove(k, horizon - 1).is_err();
    report.prune_note = format!(
        "versions < {horizon} dropped: {n_nodes} nodes, {n_values} values; compacted; proof at {horizon} verifies{}",
        if gone { format!(", at {} refused", horizon - 1) } else { String::new() }
    );

    let (rss, hwm) = rss_kib();
    report.rss_end_kib = rss;
    report.hwm_kib = hwm;
    if !hwm_reset {
        report.prune_note.push_str(" (VmHWM not reset: includes earlier peaks)");
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// QMDB

type QmdbDb<F, E> = OrderedVariableDb<F, E, Digest, Vec<u8>, CwSha256, EightCap, 32, Sequential>;
type QmdbValue = VariableEncoding<Vec<u8>>;
type QmdbKeyValueProof<F> = proof::KeyValueProof<F, Digest, Digest, 32>;
type QmdbExclusionProof<F> = proof::ExclusionProof<F, Digest, QmdbValue, Digest, 32>;

/// Items per journal section / Merkle blob (pruning granularity).
const QMDB_ITEMS_PER_SECTION: u64 = 100_000;

/// The QMDB harness (the database is moved through each consuming call).
pub struct QmdbStore<F: Graftable, E: commonware_storage::Context + commonware_runtime::Spawner> {
    db: Option<QmdbDb<F, E>>,
}

impl<F: Graftable, E: commonware_storage::Context + commonware_runtime::Spawner> QmdbStore<F, E> {
    /// Creates (or opens) the database in `ctx`'s storage with a page cache of `cache_bytes`.
    pub async fn open(ctx: E, cache_bytes: usize) -> Result<Self> {
        let pages = NonZeroUsize::new((cache_bytes / BLOB_PAGE_SIZE as usize).max(16)).expect("positive");
        let page_cache = CacheRef::new(page_size(BLOB_PAGE_SIZE), pages);
        let items = NonZeroU64::new(QMDB_ITEMS_PER_SECTION).expect("positive");
        let buffer = NonZeroUsize::new(2 << 20).expect("positive");
        let cfg = VariableConfig {
            merkle_config: MerkleConfig {
                journal_partition: "journal-state".into(),
                metadata_partition: "metadata-state".into(),
                items_per_blob: items,
                write_buffer: buffer,
                replay_buffer: buffer,
                strategy: Sequential,
                page_cache: page_cache.clone(),
            },
            journal_config: JournalConfig {
                partition: "log-journal-state".into(),
                items_per_section: items,
                compression: None,
                codec_config: ((), ((0..=(VALUE_LEN * 4)).into(), ())),
                page_cache,
                write_buffer: buffer,
                replay_buffer: buffer,
            },
            grafted_metadata_partition: "grafted-metadata-state".into(),
            translator: EightCap,
            init_cache: None,
            init_buffer: buffer,
            init_concurrency: (),
        };
        let db = QmdbDb::<F, E>::init(ctx, cfg, None).await.map_err(|e| anyhow!("qmdb init: {e}"))?;
        Ok(Self { db: Some(db) })
    }

    fn db(&self) -> Result<&QmdbDb<F, E>> {
        self.db.as_ref().ok_or_else(|| anyhow!("qmdb handle lost after an earlier error"))
    }

    /// Writes one block and commits it durably; returns the new root.
    pub async fn apply(&mut self, writes: &[([u8; 32], Vec<u8>)]) -> Result<Digest> {
        let db = self.db.take().ok_or_else(|| anyhow!("qmdb handle lost after an earlier error"))?;
        let mut batch = db.new_batch();
        for (k, v) in writes {
            batch = batch.write(Digest(*k), Some(v.clone()));
        }
        let merkleized =
            batch.merkleize(&db, None, &mut Proportional).await.map_err(|e| anyhow!("qmdb merkleize: {e}"))?;
        let root = merkleized.root();
        let db = db.apply_batch(merkleized).await.map_err(|e| anyhow!("qmdb apply: {e}"))?;
        let db = db.commit().await.map_err(|e| anyhow!("qmdb commit: {e}"))?;
        ensure!(db.root() == root, "qmdb: the applied root differs from the merkleized one");
        self.db = Some(db);
        Ok(root)
    }

    /// The current value of `key`.
    pub async fn get(&self, key: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        self.db()?.get(&Digest(*key)).await.map_err(|e| anyhow!("qmdb get: {e}"))
    }

    /// The current root.
    pub fn root(&self) -> Result<Digest> {
        Ok(self.db()?.root())
    }

    /// `key`'s current value and its proof against the current root.
    pub async fn prove_current(&self, key: &[u8; 32]) -> Result<(Vec<u8>, QmdbKeyValueProof<F>)> {
        let db = self.db()?;
        let value = self.get(key).await?.ok_or_else(|| anyhow!("qmdb: key missing"))?;
        let proof = db.key_value_proof(Digest(*key)).await.map_err(|e| anyhow!("qmdb proof: {e}"))?;
        Ok((value, proof))
    }

    /// A proof that `key` has no current value (ordered QMDB: the active span around it).
    pub async fn prove_absent(&self, key: &[u8; 32]) -> Result<QmdbExclusionProof<F>> {
        let db = self.db()?;
        db.exclusion_proof(&Digest(*key)).await.map_err(|e| anyhow!("qmdb exclusion proof: {e}"))
    }

    /// Syncs everything to disk, the Merkle nodes included (a commit makes the log durable; the
    /// nodes added since the last sync stay in memory until this).
    pub async fn sync(&mut self) -> Result<()> {
        let db = self.db.take().ok_or_else(|| anyhow!("qmdb handle lost after an earlier error"))?;
        self.db = Some(db.sync().await.map_err(|e| anyhow!("qmdb sync: {e}"))?);
        Ok(())
    }

    /// Prunes the operation log below its sync boundary (everything below the inactivity floor),
    /// then syncs.
    pub async fn prune(&mut self) -> Result<()> {
        let db = self.db.take().ok_or_else(|| anyhow!("qmdb handle lost after an earlier error"))?;
        let boundary = db.sync_boundary();
        let db = db.prune(boundary).await.map_err(|e| anyhow!("qmdb prune: {e}"))?;
        let db = db.sync().await.map_err(|e| anyhow!("qmdb sync: {e}"))?;
        self.db = Some(db);
        Ok(())
    }
}

async fn run_qmdb<F: Graftable>(ctx: commonware_runtime::tokio::Context, opts: &Options, dir: &Path) -> Result<Report> {
    let family = match opts.qmdb_family {
        QmdbFamily::Mmr => "mmr",
        QmdbFamily::Mmb => "mmb",
    };
    let mut report = Report { name: format!("qmdb current::ordered::variable ({family})"), ..Report::default() };
    let hwm_reset = reset_hwm();
    let mut store = QmdbStore::<F, _>::open(ctx.child("state"), opts.cache_mib << 20).await?;
    let mut work = Workload::new();
    println!("qmdb: loading {} keys in blocks of {} into {}", opts.keys, opts.load_block, dir.display());
    let io0 = io_write_bytes();
    let t = Instant::now();
    let load_blocks = opts.keys.div_ceil(opts.load_block);
    let every = (load_blocks / 20).max(1);
    for b in 0..load_blocks {
        let n = opts.load_block.min(opts.keys - work.count);
        let block = work.load_block(n);
        let writes: Vec<_> = block.writes.into_iter().map(|(_, k, v)| (k, v)).collect();
        store.apply(&writes).await?;
        if opts.qmdb_sync_every > 0 && (b + 1) % opts.qmdb_sync_every as u64 == 0 {
            store.sync().await?;
        }
        if (b + 1) % every == 0 || b + 1 == load_blocks {
            let s = t.elapsed().as_secs_f64();
            println!(
                "  {:>11} keys  {:>7.1} s  {:>8.0} keys/s  disk {:>8.1} MiB  RSS {:>6.0} MiB",
                work.count,
                s,
                work.count as f64 / s,
                mib(disk_bytes(dir) as f64),
                rss_kib().0 as f64 / 1024.0
            );
        }
    }
    report.load_s = t.elapsed().as_secs_f64();
    report.load_written = io_write_bytes().zip(io0).map_or(0, |(a, b)| a - b);

    report.disk_before_steady = disk_bytes(dir);
    let io0 = io_write_bytes();
    println!("qmdb: {} blocks of {} writes", opts.blocks, opts.updates_per_block);
    let mut last_root = store.root()?;
    for b in 0..opts.blocks {
        let block = work.update_block(opts.updates_per_block);
        let writes: Vec<_> = block.writes.into_iter().map(|(_, k, v)| (k, v)).collect();
        let t = Instant::now();
        last_root = store.apply(&writes).await?;
        if opts.qmdb_sync_every > 0 && (b + 1) % opts.qmdb_sync_every == 0 {
            store.sync().await?;
        }
        report.block_s.push(t.elapsed().as_secs_f64());
        report.updates += writes.len() as u64;
        if (b + 1) % 10 == 0 || b + 1 == opts.blocks {
            println!("  block {:>4}: {:>7.1} ms", b + 1, report.block_s[b] * 1e3);
        }
    }
    report.steady_written = io_write_bytes().zip(io0).map(|(a, b)| a - b);
    report.disk_after_steady = disk_bytes(dir);
    report.keys = work.count;
    report.root = hex::encode(last_root.0);

    let mut rng = SplitMix(99);
    let sample: Vec<u64> = (0..PROOF_SAMPLES).map(|_| rng.below(work.count)).collect();
    let t = Instant::now();
    let mut proofs = Vec::with_capacity(PROOF_SAMPLES);
    for i in &sample {
        proofs.push(store.prove_current(&key_of(*i)).await?);
    }
    let gen_s = t.elapsed().as_secs_f64() / PROOF_SAMPLES as f64;
    let t = Instant::now();
    for (i, (v, p)) in sample.iter().zip(&proofs) {
        let k = Digest(key_of(*i));
        ensure!(p.verify::<CwSha256, QmdbValue>(k, v.clone(), &last_root), "qmdb: an inclusion proof failed");
    }
    let verify_s = t.elapsed().as_secs_f64() / PROOF_SAMPLES as f64;
    let bytes = proofs.iter().map(|(_, p)| p.encode_size()).sum::<usize>();
    report.proof_current = ProofFigure { gen_s, verify_s, bytes: bytes as f64 / PROOF_SAMPLES as f64 };
    report.historical_note = "not possible: key_value_proof proves against the current root only \
        (ops_historical_proof shows an operation was in the log at an old size, not that it was the key's latest value)"
        .into();

    let absent: Vec<[u8; 32]> = (0..PROOF_SAMPLES as u64).map(|i| key_of(u64::MAX - i)).collect();
    let t = Instant::now();
    let mut proofs = Vec::with_capacity(PROOF_SAMPLES);
    for k in &absent {
        proofs.push(store.prove_absent(k).await?);
    }
    let gen_s = t.elapsed().as_secs_f64() / PROOF_SAMPLES as f64;
    let t = Instant::now();
    for (k, p) in absent.iter().zip(&proofs) {
        ensure!(p.verify::<CwSha256>(&Digest(*k), &last_root), "qmdb: an exclusion proof failed");
    }
    let verify_s = t.elapsed().as_secs_f64() / PROOF_SAMPLES as f64;
    let bytes = proofs.iter().map(|p| p.encode_size()).sum::<usize>();
    report.proof_absent = ProofFigure { gen_s, verify_s, bytes: bytes as f64 / PROOF_SAMPLES as f64 };

    let t = Instant::now();
    store.prune().await?;
    report.prune_s = t.elapsed().as_secs_f64();
    report.disk_pruned = Some(disk_bytes(dir));
    report.prune_note = "log pruned to the sync boundary (below the inactivity floor)".into();
    let (rss, hwm) = rss_kib();
    report.rss_end_kib = rss;
    report.hwm_kib = hwm;
    if !hwm_reset {
        report.prune_note.push_str(" (VmHWM not reset: includes earlier peaks)");
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Driver

/// A directory removed on drop (unless kept).
struct Scratch {
    path: PathBuf,
    remove: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.remove {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Runs `bench state`.
pub fn run(opts: Options) -> Result<()> {
    opts.check()?;
    let scratch = match &opts.dir {
        Some(d) => {
            ensure!(
                !d.exists() || std::fs::read_dir(d)?.next().is_none(),
                "--dir {} must be empty or absent",
                d.display()
            );
            Scratch { path: d.clone(), remove: false }
        }
        None => Scratch {
            path: std::env::temp_dir().join(format!("trustmeter-bench-state-{}", std::process::id())),
            remove: true,
        },
    };
    std::fs::create_dir_all(&scratch.path).with_context(|| format!("creating {}", scratch.path.display()))?;
    println!(
        "state benchmark: {} keys, {} blocks of {} writes (1 % new keys), {}-byte values, cache {} MiB per store; \
         one thread per store, durable commit per block; data in {}",
        opts.keys,
        opts.blocks,
        opts.updates_per_block,
        VALUE_LEN,
        opts.cache_mib,
        scratch.path.display()
    );
    println!("(other processes share this machine: figures are noisy; run twice)");

    let (sha2_64, cw_64) = measure_hashing();
    let mut limits = Limits { sha2_64, cw_64, ..Limits::default() };
    if opts.disk_probe {
        let (seq, fsync) = measure_disk(&scratch.path)?;
        limits.disk_seq = Some(seq);
        limits.fsync = Some(fsync);
    }
    println!(
        "limits: SHA-256 of 64-byte inputs, one core: {:.0}/s (sha2), {:.0}/s (commonware){}",
        limits.sha2_64,
        limits.cw_64,
        match (limits.disk_seq, limits.fsync) {
            (Some(s), Some(f)) => format!(
                "; disk: {:.0} MB/s sequential (256 MiB + fsync), 4 KiB write + fsync {:.2} ms",
                s / 1e6,
                f * 1e3
            ),
            _ => String::new(),
        }
    );

    let mut reports = Vec::new();
    if matches!(opts.backend, Backend::Jmt | Backend::Both) {
        reports.push(run_jmt(&opts, &scratch.path.join("jmt"))?);
        print_report(reports.last().expect("pushed"), &limits);
    }
    if matches!(opts.backend, Backend::Qmdb | Backend::Both) {
        let dir = scratch.path.join("qmdb");
        let runner = commonware_runtime::tokio::Runner::new(
            commonware_runtime::tokio::Config::new().with_storage_directory(dir.clone()),
        );
        let o = opts.clone();
        let report = runner.start(|ctx| async move {
            match o.qmdb_family {
                QmdbFamily::Mmr => run_qmdb::<mmr::Family>(ctx, &o, &dir).await,
                QmdbFamily::Mmb => run_qmdb::<mmb::Family>(ctx, &o, &dir).await,
            }
        })?;
        print_report(&report, &limits);
        reports.push(report);
    }
    print_table(&reports, &limits);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both stores fed the same blocks hold the same values for existing keys, neither holds a
    /// never-written key, and their proofs verify (and fail on a wrong value or root). The jmt
    /// root computed with the counting hasher equals jmt's own SHA-256 instantiation.
    #[test]
    fn stores_agree_and_proofs_verify() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut jmt = JmtStore::create(&dir.path().join("jmt.redb"), 16 << 20).expect("jmt");
        let mut work = Workload::new();
        let mut blocks = vec![work.load_block(300), work.load_block(300)];
        let mut existing_before = vec![0u64, 300];
        for _ in 0..4 {
            existing_before.push(work.count);
            blocks.push(work.update_block(200));
        }
        let mut roots = Vec::new();
        for (b, before) in blocks.iter().zip(&existing_before) {
            let writes: Vec<_> = b.writes.iter().map(|(_, k, v)| (KeyHash(*k), v.clone())).collect();
            let updated: Vec<_> = b.writes.iter().filter(|(i, _, _)| i < before).map(|(_, k, _)| KeyHash(*k)).collect();
            roots.push(jmt.apply(&writes, &updated).expect("jmt apply"));
        }
        assert!(work.count > 600, "the update blocks must insert new keys");
        let latest = jmt.next_version - 1;

        // Expected values, computed independently of both stores: the last write of each key.
        let mut expected = std::collections::BTreeMap::new();
        for (version, b) in blocks.iter().enumerate() {
            for (i, _, _) in &b.writes {
                expected.insert(*i, value_of(*i, version as u64));
            }
        }
        let probes: Vec<u64> = vec![0, 1, 299, 300, 599, work.count - 1, work.count, work.count + 5, u64::MAX];

        // jmt: values, proofs at the latest and an old version, absence, tampering.
        let reader = jmt.reader().expect("reader");
        let plain = jmt::Sha256Jmt::new(&reader);
        assert_eq!(plain.get_root_hash(latest).expect("root"), roots[latest as usize]);
        drop(reader);
        for &i in &probes {
            let k = KeyHash(key_of(i));
            let got = jmt.get(k, latest).expect("get");
            assert_eq!(got.as_ref(), expected.get(&i), "jmt value of key {i}");
            let (v, p) = jmt.prove(k, latest).expect("prove");
            assert_eq!(v, got);
            p.verify(roots[latest as usize], k, v.as_ref()).expect("jmt proof verifies");
            match &v {
                Some(v) => {
                    let mut bad = v.clone();
                    bad[20] ^= 1;
                    assert!(p.verify_existence(roots[latest as usize], k, &bad).is_err(), "a wrong value must fail");
                    assert!(p.verify_existence(roots[1], k, v).is_err(), "a wrong root must fail");
                    assert!(p.verify_nonexistence(roots[latest as usize], k).is_err(), "present is not absent");
                }
                None => assert!(p.verify_existence(roots[latest as usize], k, [0u8; 4]).is_err()),
            }
        }
        // Historical: at version 1 (after loading) key 0 has its load value and key 600+ is absent.
        let (v, p) = jmt.prove(KeyHash(key_of(0)), 1).expect("historical");
        assert_eq!(v, Some(value_of(0, 0)));
        p.verify(roots[1], KeyHash(key_of(0)), v.as_ref()).expect("historical proof verifies");
        let (v, p) = jmt.prove(KeyHash(key_of(work.count - 1)), 1).expect("historical absence");
        assert_eq!(v, None);
        p.verify_nonexistence(roots[1], KeyHash(key_of(work.count - 1))).expect("historical absence verifies");

        // Pruning below version 3 keeps version 3 provable and drops version 2.
        let (nodes, _values) = jmt.prune(3).expect("prune");
        assert!(nodes > 0, "stale nodes must be pruned");
        let k = KeyHash(key_of(0));
        let (v, p) = jmt.prove(k, 3).expect("proof at the horizon");
        p.verify(roots[3], k, v.as_ref()).expect("proof at the horizon verifies");
        assert!(jmt.prove(k, 2).is_err(), "version 2 is pruned");
        for &i in &probes {
            assert_eq!(jmt.get(KeyHash(key_of(i)), latest).expect("get").as_ref(), expected.get(&i));
        }

        // QMDB: same blocks, same values, proofs verify.
        let qdir = dir.path().join("qmdb");
        let runner = commonware_runtime::tokio::Runner::new(
            commonware_runtime::tokio::Config::new().with_storage_directory(qdir),
        );
        runner.start(|ctx| async move {
            let mut q = QmdbStore::<mmr::Family, _>::open(ctx.child("t"), 4 << 20).await.expect("qmdb");
            for b in &blocks {
                let writes: Vec<_> = b.writes.iter().map(|(_, k, v)| (*k, v.clone())).collect();
                q.apply(&writes).await.expect("qmdb apply");
            }
            for &i in &probes {
                let k = key_of(i);
                let got = q.get(&k).await.expect("get");
                assert_eq!(got.as_ref(), expected.get(&i), "qmdb value of key {i}");
                let root = q.root().expect("root");
                match got {
                    Some(got) => {
                        let (v, p) = q.prove_current(&k).await.expect("proof");
                        assert_eq!(v, got);
                        assert!(p.verify::<CwSha256, QmdbValue>(Digest(k), v.clone(), &root), "qmdb proof of key {i}");
                        let mut bad = v.clone();
                        bad[20] ^= 1;
                        assert!(!p.verify::<CwSha256, QmdbValue>(Digest(k), bad, &root), "a wrong value must fail");
                        assert!(q.prove_absent(&k).await.is_err(), "a present key has no exclusion proof");
                    }
                    None => {
                        let p = q.prove_absent(&k).await.expect("exclusion proof");
                        assert!(p.verify::<CwSha256>(&Digest(k), &root), "qmdb exclusion proof of key {i}");
                        assert!(!p.verify::<CwSha256>(&Digest(key_of(0)), &root), "key 0 exists");
                    }
                }
            }
            q.prune().await.expect("prune");
            assert_eq!(q.get(&key_of(0)).await.expect("get").as_ref(), expected.get(&0));
        });
    }

    #[test]
    fn binary_depth_is_ceil_log2() {
        assert_eq!(binary_depth(1), 0);
        assert_eq!(binary_depth(2), 1);
        assert_eq!(binary_depth(1_000_000), 20);
        assert_eq!(binary_depth(1 << 20), 20);
        assert_eq!(binary_depth((1 << 20) + 1), 21);
        assert_eq!(binary_depth(10_000_000), 24);
    }

    #[test]
    fn workload_inserts_about_one_percent() {
        let mut w = Workload::new();
        w.load_block(10_000);
        let b = w.update_block(100_000);
        assert!((800..1200).contains(&b.new_keys), "{} new keys", b.new_keys);
        assert_eq!(w.count, 10_000 + b.new_keys as u64);
        assert!(b.writes.iter().all(|(i, k, v)| *k == key_of(*i) && v.len() == VALUE_LEN));
    }
}
