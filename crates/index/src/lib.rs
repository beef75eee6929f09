//! # trustmeter-index
//!
//! Indexes for queries, derived from finalized blocks and nothing else. The node feeds every
//! finalized block (including the ones it replays at start-up) to [`Index::apply`]; applying is
//! idempotent by height, so deleting the index file and restarting the node rebuilds it.
//!
//! Tables (redb, one file):
//! - `meta`: the indexed height and the schema version ([`SCHEMA_VERSION`]); an index of another
//!   version is emptied when opened and rebuilt from the chain the node replays at start-up.
//! - `blocks`: height → the block's canonical encoding with the readings of its
//!   `SubmitReadings` transactions cut out (a *shell*: the bytes around them and where each cut
//!   was), and `signed_readings`: (height, transaction, meter, timestamp, seq, slot) → the
//!   reading's position in the block's readings tree and the rest of its canonical bytes
//!   ([`signed`]). Every signed reading is stored once; [`Index::raw_block`] splices them back and
//!   gives the block byte for byte.
//! - `finalizations`: height → the finalization certificate (Commonware encoding).
//! - `receipts`: transaction hash → (height, position, receipt).
//! - readings by (meter, time) for time-range queries that need only the register values
//!   ([`Index::points`]) or the signed readings ([`Index::readings`]): found through a list per
//!   day of the transactions holding that day's readings (`txs/<day>`) and, once the day is over,
//!   in packs per meter-day (`packs`); `meter_gateways` and `packing` serve them. The layout, and
//!   why, is in [`by_meter`].
//! - `replacements`: (meter, time of the swap) → (old meter's final register value, new meter's
//!   initial value, height) of every accepted `ReplaceMeter`: all of them, where the chain's state
//!   keeps only those within its late-data window.
//!
//! State proofs come from the state store (`trustmeter-statedb`), which keeps the registry of
//! every height; a block's receipts are here, so a reading's proof never re-executes a block.
//!
//! A node that restored its state by state sync at height `H` indexes from `H + 1`: an empty
//! index accepts a first block above height 1; blocks and readings before it are served by the
//! nodes that have them.
//!
//! This crate must not decide anything consensus depends on.

use borsh::{BorshDeserialize, BorshSerialize};
use commonware_codec::Encode;
use futures::StreamExt;
use futures::channel::mpsc::UnboundedReceiver;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
use std::path::Path;
use std::sync::Arc;
use tracing::{debug, info, warn};
use trustmeter_chain::Finalized;
use trustmeter_statedb::{CountingFile, WriteCounters};
use trustmeter_types::{
    Block, BlockHeader, DeviceId, Genesis, Hash32, Quantity, ReadingOrigin, Receipt, SignedReading, TxOutcome,
    TxPayload,
};

/// The headers from a block's child to the first certified block after it, and that block's
/// finalization certificate (Commonware encoding) ([`Index::certified_descendant`]).
pub type CertifiedDescendant = (Vec<BlockHeader>, Vec<u8>);

/// A finalized block, its receipts in transaction order and the `(tx index, reading index)` of
/// every reading it recorded, in readings-tree order ([`Index::recorded_at`]).
pub type RecordedBlock = (Block, Vec<Receipt>, Vec<(u32, u32)>);
pub mod by_meter;
mod signed;

/// Most readings one range query returns.
pub const MAX_RANGE_RESULTS: usize = 100_000;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const FINALIZATIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("finalizations");
const RECEIPTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("receipts");
/// Written by schema 6 and earlier (the signed readings by (height, tx, slot)); deleted on open.
const OLD_BLOCK_READINGS: TableDefinition<(u64, u32, u32), &[u8]> = TableDefinition::new("block_readings");
/// Written by schema 4 and earlier; deleted on open.
const OLD_READINGS: TableDefinition<(&str, i64, u64), &[u8]> = TableDefinition::new("readings");
/// Written by schema 4 and earlier; deleted on open.
const OLD_READING_SEQ: TableDefinition<(&str, u64), (u64, i64)> = TableDefinition::new("reading_seq");
/// Written by schema 2 and earlier; deleted on open.
const SNAPSHOTS: TableDefinition<u64, &[u8]> = TableDefinition::new("snapshots");
const REPLACEMENTS: TableDefinition<(&str, i64), (i64, i64, u64)> = TableDefinition::new("replacements");

/// The layout version of the index file. Raise it when a table is added or changed: an index
/// written with another version is emptied on open and rebuilt from the replayed chain.
pub const SCHEMA_VERSION: u64 = 7;

/// Index errors.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database failed.
    #[error("index database error: {0}")]
    Db(String),
    /// Stored bytes do not decode (the file is damaged; delete it to rebuild).
    #[error("index entry does not decode: {0}; delete the index file to rebuild it from the chain")]
    Corrupt(String),
    /// A height is missing.
    #[error("height {0} is not indexed")]
    Missing(u64),
}

fn dberr<E: std::fmt::Display>(e: E) -> IndexError {
    IndexError::Db(e.to_string())
}

/// Where a transaction ended up.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct IndexedReceipt {
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// The receipt.
    pub receipt: Receipt,
}

/// A recorded reading with its location.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct IndexedReading {
    /// Block height.
    pub height: u64,
    /// Position in the block's readings tree.
    pub position: u32,
    /// The signed reading.
    pub reading: SignedReading,
}

/// A recorded reading's register point and location, without its signature: what queries that
/// sum or chart values need ([`Index::points`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadingPoint {
    /// Collection time, Unix ms.
    pub timestamp_ms: i64,
    /// The meter's sequence number.
    pub seq: u64,
    /// The register value.
    pub value: Quantity,
    /// How the value reached the gateway.
    pub origin: ReadingOrigin,
    /// The gateway's clock was suspect.
    pub clock_suspect: bool,
    /// Block height.
    pub height: u64,
    /// Position in the block's readings tree.
    pub position: u32,
}

/// Where each cut of a block shell was: (offset in the shell, transaction, readings cut).
type Cuts = Vec<(u64, u32, u32)>;

/// A meter replacement (换表) as the chain recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexedReplacement {
    /// When the new meter took over, Unix ms.
    pub at_ms: i64,
    /// The old meter's last register value.
    pub old_final: Quantity,
    /// The new meter's first register value.
    pub new_initial: Quantity,
    /// The height of the block that recorded it.
    pub height: u64,
}

/// The query indexes of one node.
#[derive(Clone)]
pub struct Index {
    db: Arc<Database>,
    genesis: Genesis,
    written: Arc<WriteCounters>,
}

impl Index {
    /// Opens (or creates) the index file.
    pub fn open(path: &Path, genesis: Genesis) -> Result<Self, IndexError> {
        let file = CountingFile::open(path).map_err(dberr)?;
        let written = file.counters();
        let database = Database::builder().create_with_backend(file).map_err(dberr)?;
        let w = database.begin_write().map_err(dberr)?;
        {
            let (height, schema) = {
                let meta = w.open_table(META).map_err(dberr)?;
                let get = |k: &str| meta.get(k).ok().flatten().map(|v| v.value());
                (get("height").unwrap_or(0), get("schema"))
            };
            if height > 0 && schema != Some(SCHEMA_VERSION) {
                warn!(
                    path = %path.display(),
                    found = schema.unwrap_or(1),
                    want = SCHEMA_VERSION,
                    "the index was written by another version; emptying it to rebuild it from the chain"
                );
                w.delete_table(META).map_err(dberr)?;
                w.delete_table(BLOCKS).map_err(dberr)?;
                w.delete_table(FINALIZATIONS).map_err(dberr)?;
                w.delete_table(RECEIPTS).map_err(dberr)?;
                w.delete_table(signed::SIGNED).map_err(dberr)?;
                w.delete_table(SNAPSHOTS).map_err(dberr)?;
                w.delete_table(REPLACEMENTS).map_err(dberr)?;
                w.delete_table(by_meter::PACKS).map_err(dberr)?;
                w.delete_table(by_meter::METER_GATEWAYS).map_err(dberr)?;
                w.delete_table(by_meter::PACKING).map_err(dberr)?;
                w.delete_table(by_meter::LATE_DAYS).map_err(dberr)?;
                let recent: Vec<String> = w
                    .list_tables()
                    .map_err(dberr)?
                    .map(|t| t.name().to_string())
                    .filter(|n| n.starts_with(by_meter::OLD_RECENT_PREFIX) || n.starts_with(by_meter::TXS_PREFIX))
                    .collect();
                for name in recent {
                    w.delete_table(TableDefinition::<u64, u64>::new(&name)).map_err(dberr)?;
                }
            }
            // Schema 4 and earlier kept `readings` and `reading_seq` by meter (a page written per
            // reading); deleting by name does not look at the rows' types.
            w.delete_table(OLD_READINGS).map_err(dberr)?;
            w.delete_table(OLD_READING_SEQ).map_err(dberr)?;
            w.delete_table(OLD_BLOCK_READINGS).map_err(dberr)?;
            w.open_table(META).map_err(dberr)?.insert("schema", SCHEMA_VERSION).map_err(dberr)?;
            w.open_table(BLOCKS).map_err(dberr)?;
            w.open_table(FINALIZATIONS).map_err(dberr)?;
            w.open_table(RECEIPTS).map_err(dberr)?;
            w.open_table(signed::SIGNED).map_err(dberr)?;
            w.delete_table(SNAPSHOTS).map_err(dberr)?;
            w.open_table(REPLACEMENTS).map_err(dberr)?;
        }
        w.commit().map_err(dberr)?;
        Ok(Self { db: Arc::new(database), genesis, written })
    }

    /// The genesis this index belongs to.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// Highest indexed height (0 when empty).
    pub fn height(&self) -> u64 {
        let r = match self.db.begin_read() {
            Ok(r) => r,
            Err(_) => return 0,
        };
        r.open_table(META).ok().and_then(|t| t.get("height").ok().flatten().map(|v| v.value())).unwrap_or(0)
    }

    /// Indexes one finalized block. Blocks at or below the indexed height are ignored; a gap is
    /// an error (blocks arrive in order).
    pub fn apply(&self, f: &Finalized) -> Result<(), IndexError> {
        self.apply_with(f, true)
    }

    /// [`Index::apply`], durable (synced before it returns, with every block applied before it)
    /// or not: a node indexes every finalized block at once, so queries see it, but syncs only
    /// when its state store commits (group commit), the one moment the index must not be behind
    /// it after a crash. Blocks lost in a crash are indexed again when the node re-executes them.
    pub fn apply_with(&self, f: &Finalized, durable: bool) -> Result<(), IndexError> {
        let block = &f.block.block;
        let h = block.header.height;
        let current = self.height();
        if h <= current {
            return Ok(());
        }
        if h != current + 1 {
            // A node whose state was restored by state sync at `h - 1` indexes from there on:
            // only an index that holds nothing yet starts above height 1.
            if current != 0 || !self.is_empty()? {
                return Err(IndexError::Missing(current + 1));
            }
            info!(from = h, "the index starts above genesis (the node's state was synced at {})", h - 1);
        }
        let mut w = self.db.begin_write().map_err(dberr)?;
        if !durable {
            w.set_durability(redb::Durability::None).map_err(dberr)?;
        }
        {
            let encoded = f.block.encoded();
            let mut cut = Vec::new();
            let shell = cut_readings(h, block, encoded, |t, j, bytes| {
                cut.push((t, j, bytes));
                Ok(())
            })?;
            w.open_table(BLOCKS).map_err(dberr)?.insert(h, shell.as_slice()).map_err(dberr)?;
            if let Some(fin) = &f.finalization {
                w.open_table(FINALIZATIONS).map_err(dberr)?.insert(h, fin.encode().as_ref()).map_err(dberr)?;
            }
            let mut receipts = w.open_table(RECEIPTS).map_err(dberr)?;
            for (i, r) in f.output.receipts.iter().enumerate() {
                let v =
                    borsh::to_vec(&IndexedReceipt { height: h, index: i as u32, receipt: r.clone() }).expect("encode");
                receipts.insert(&r.tx_hash.0, v.as_slice()).map_err(dberr)?;
            }
            let positions: std::collections::HashMap<(u32, u32), u32> =
                f.output.recorded.iter().enumerate().map(|(pos, at)| (*at, pos as u32)).collect();
            let mut rows = Vec::with_capacity(cut.len());
            for (t, j, range) in cut {
                let TxPayload::SubmitReadings { gateway, readings } = &block.txs[t as usize].body.payload else {
                    return Err(IndexError::Corrupt(format!("block {h}: a cut outside a SubmitReadings transaction")));
                };
                let sr = &readings[j as usize];
                let rd = &sr.reading;
                let position = positions.get(&(t, j)).copied();
                rows.push(by_meter::NewRow {
                    gateway: gateway.as_str(),
                    meter: rd.meter.as_str(),
                    row: by_meter::Row {
                        ts: rd.timestamp_ms,
                        seq: rd.seq,
                        value: rd.value.micros(),
                        origin: rd.origin as u8,
                        suspect: rd.clock_suspect,
                        height: h,
                        position: position.unwrap_or(0),
                        tx: t,
                        slot: j,
                    },
                    recorded: position.is_some(),
                    tail: signed::tail(sr, &encoded[range])?,
                });
            }
            if positions.len() != rows.iter().filter(|r| r.recorded).count() {
                return Err(IndexError::Corrupt(format!("block {h}: a recorded reading is not in the block")));
            }
            by_meter::apply(&w, block.header.timestamp_ms, &rows)?;
            let mut replacements = w.open_table(REPLACEMENTS).map_err(dberr)?;
            for (tx, r) in block.txs.iter().zip(&f.output.receipts) {
                if let (TxPayload::ReplaceMeter { meter, at_ms, old_final, new_initial }, TxOutcome::Accepted) =
                    (&tx.body.payload, &r.outcome)
                {
                    replacements
                        .insert((meter.as_str(), *at_ms), (old_final.micros(), new_initial.micros(), h))
                        .map_err(dberr)?;
                }
            }
            w.open_table(META).map_err(dberr)?.insert("height", h).map_err(dberr)?;
        }
        let before = self.written.bytes();
        w.commit().map_err(dberr)?;
        // redb keeps a non-durable commit's pages in memory: they are written (and counted) by
        // the next durable one.
        debug!(
            height = h,
            durable,
            readings = f.output.recorded.len(),
            bytes = self.written.bytes() - before,
            "indexed"
        );
        Ok(())
    }

    /// What the index file has written since it was opened (bytes, syncs).
    pub fn write_counters(&self) -> Arc<WriteCounters> {
        self.written.clone()
    }

    /// Applies finalized blocks from a channel until it closes.
    pub async fn run(self, mut rx: UnboundedReceiver<Finalized>) {
        let start = self.height();
        if start > 0 {
            info!(height = start, "index opened");
        }
        while let Some(f) = rx.next().await {
            if let Err(e) = self.apply(&f) {
                warn!(error = %e, "indexing failed; the index will be rebuilt from the chain on the next start if it was lost");
            }
        }
    }

    /// Whether no block is indexed.
    pub fn is_empty(&self) -> Result<bool, IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        let t = match r.open_table(BLOCKS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(true),
            Err(e) => return Err(dberr(e)),
        };
        Ok(t.first().map_err(dberr)?.is_none())
    }

    /// A block by height.
    pub fn block(&self, h: u64) -> Result<Option<Block>, IndexError> {
        match self.raw_block(h)? {
            None => Ok(None),
            Some(v) => borsh::from_slice(&v).map(Some).map_err(|e| IndexError::Corrupt(e.to_string())),
        }
    }

    /// A block's canonical encoding by height (what a follower node fetches), spliced from its
    /// shell and its readings.
    pub fn raw_block(&self, h: u64) -> Result<Option<Vec<u8>>, IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        let t = r.open_table(BLOCKS).map_err(dberr)?;
        let Some(stored) = t.get(h).map_err(dberr)? else { return Ok(None) };
        let (cuts, shell): (Cuts, Vec<u8>) =
            borsh::from_slice(stored.value()).map_err(|e| IndexError::Corrupt(format!("block {h}: {e}")))?;
        let slots = r.open_table(signed::SIGNED).map_err(dberr)?;
        let mut out = Vec::with_capacity(shell.len());
        let mut from = 0usize;
        for (at, tx, count) in cuts {
            let at = usize::try_from(at).ok().filter(|a| (from..=shell.len()).contains(a));
            let at = at.ok_or_else(|| IndexError::Corrupt(format!("block {h}: a cut lies outside its shell")))?;
            out.extend_from_slice(&shell[from..at]);
            for bytes in signed::of_transaction(&slots, h, tx, count)? {
                out.extend_from_slice(&bytes);
            }
            from = at;
        }
        out.extend_from_slice(&shell[from..]);
        Ok(Some(out))
    }

    /// A block's header by height, read from the front of its stored shell (no readings spliced).
    pub fn header(&self, h: u64) -> Result<Option<BlockHeader>, IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        let t = r.open_table(BLOCKS).map_err(dberr)?;
        let Some(stored) = t.get(h).map_err(dberr)? else { return Ok(None) };
        let (_, shell): (Cuts, Vec<u8>) =
            borsh::from_slice(stored.value()).map_err(|e| IndexError::Corrupt(format!("block {h}: {e}")))?;
        // A block's encoding starts with its header, and readings are cut from its transactions
        // only, so the shell starts with the whole header.
        BlockHeader::deserialize(&mut shell.as_slice())
            .map(Some)
            .map_err(|e| IndexError::Corrupt(format!("block {h}: header: {e}")))
    }

    /// The first block above `h`, at most `max` heights above it, that has a finalization
    /// certificate: the headers of the blocks `h + 1 ..=` it, in height order, and its
    /// certificate. A block without its own certificate is final through such a descendant
    /// (`ProofBundle::descendants`). `None` if no block in that range has one (yet).
    pub fn certified_descendant(&self, h: u64, max: u64) -> Result<Option<CertifiedDescendant>, IndexError> {
        let Some(first) = h.checked_add(1) else { return Ok(None) };
        let found = {
            let r = self.db.begin_read().map_err(dberr)?;
            let t = r.open_table(FINALIZATIONS).map_err(dberr)?;
            let mut range = t.range(first..=h.saturating_add(max)).map_err(dberr)?;
            match range.next() {
                Some(item) => {
                    let (k, v) = item.map_err(dberr)?;
                    Some((k.value(), v.value().to_vec()))
                }
                None => None,
            }
        };
        let Some((certified, fin)) = found else { return Ok(None) };
        let mut headers = Vec::with_capacity((certified - h) as usize);
        for d in first..=certified {
            let header = self.header(d)?.ok_or_else(|| IndexError::Corrupt(format!("block {d} is missing")))?;
            headers.push(header);
        }
        Ok(Some((headers, fin)))
    }

    /// The finalization certificate of a height (Commonware encoding).
    pub fn finalization(&self, h: u64) -> Result<Option<Vec<u8>>, IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        let t = r.open_table(FINALIZATIONS).map_err(dberr)?;
        Ok(t.get(h).map_err(dberr)?.map(|v| v.value().to_vec()))
    }

    /// Where a transaction was included, with its receipt.
    pub fn receipt(&self, tx: &Hash32) -> Result<Option<IndexedReceipt>, IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        let t = r.open_table(RECEIPTS).map_err(dberr)?;
        match t.get(&tx.0).map_err(dberr)? {
            None => Ok(None),
            Some(v) => borsh::from_slice(v.value()).map(Some).map_err(|e| IndexError::Corrupt(e.to_string())),
        }
    }

    /// Recorded readings of a meter with `from_ms <= timestamp < to_ms`, in time order, at most
    /// `limit` (capped at [`MAX_RANGE_RESULTS`]), with their signatures.
    pub fn readings(
        &self,
        meter: &DeviceId,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<IndexedReading>, IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        let rows = self.rows(&r, meter, from_ms, to_ms, limit)?;
        let t = r.open_table(signed::SIGNED).map_err(dberr)?;
        rows.into_iter().map(|row| indexed(&t, meter, row)).collect()
    }

    /// The register points of a meter's recorded readings with `from_ms <= timestamp < to_ms`,
    /// in time order, at most `limit` (capped at [`MAX_RANGE_RESULTS`]): [`Index::readings`]
    /// without the signatures.
    pub fn points(
        &self,
        meter: &DeviceId,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<ReadingPoint>, IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        self.rows(&r, meter, from_ms, to_ms, limit)?.into_iter().map(point).collect()
    }

    /// A meter's rows in a time range, in (timestamp, seq) order, at most `limit`.
    fn rows(
        &self,
        r: &redb::ReadTransaction,
        meter: &DeviceId,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<by_meter::Row>, IndexError> {
        let limit = limit.min(MAX_RANGE_RESULTS);
        let mut out = Vec::new();
        if from_ms >= to_ms || limit == 0 {
            return Ok(out);
        }
        let reader = by_meter::Reader::new(r)?;
        let (first, last) = (by_meter::day_of(from_ms), by_meter::day_of(to_ms - 1));
        reader.walk_days(meter.as_str(), first, last, false, |_, rows| {
            out.extend(rows.into_iter().filter(|row| (from_ms..to_ms).contains(&row.ts)).take(limit - out.len()));
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// The latest recorded reading of a meter with `timestamp < before_ms`, and the earliest with
    /// `timestamp >= after_ms`, as register points: the points just outside a range, which the
    /// intervals crossing its edges need.
    pub fn points_around(
        &self,
        meter: &DeviceId,
        before_ms: i64,
        after_ms: i64,
    ) -> Result<(Option<ReadingPoint>, Option<ReadingPoint>), IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        let reader = by_meter::Reader::new(&r)?;
        let m = meter.as_str();
        let mut before = None;
        if before_ms > i64::MIN {
            reader.walk_days(m, i64::MIN / by_meter::DAY_MS, by_meter::day_of(before_ms - 1), true, |_, rows| {
                before = rows.into_iter().rev().find(|row| row.ts < before_ms);
                Ok(before.is_none())
            })?;
        }
        let mut after = None;
        reader.walk_days(m, by_meter::day_of(after_ms), i64::MAX / by_meter::DAY_MS, false, |_, rows| {
            after = rows.into_iter().find(|row| row.ts >= after_ms);
            Ok(after.is_none())
        })?;
        Ok((before.map(point).transpose()?, after.map(point).transpose()?))
    }

    /// The replacements of `meter` the chain recorded with `after_ms < at_ms <= upto_ms` (the
    /// ones that apply to intervals between readings at `after_ms` and `upto_ms`), oldest first,
    /// at most `limit`. A meter's replacements over its whole life are not bounded (the chain
    /// bounds them per late-data window), so every caller names a range and a limit.
    pub fn replacements(
        &self,
        meter: &DeviceId,
        after_ms: i64,
        upto_ms: i64,
        limit: usize,
    ) -> Result<Vec<IndexedReplacement>, IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        let t = r.open_table(REPLACEMENTS).map_err(dberr)?;
        let m = meter.as_str();
        let mut out = Vec::new();
        if after_ms >= upto_ms {
            return Ok(out);
        }
        for item in t.range((m, after_ms.saturating_add(1))..=(m, upto_ms)).map_err(dberr)?.take(limit) {
            let (k, v) = item.map_err(dberr)?;
            let (old_final, new_initial, height) = v.value();
            out.push(IndexedReplacement {
                at_ms: k.value().1,
                old_final: Quantity::from_micros(old_final),
                new_initial: Quantity::from_micros(new_initial),
                height,
            });
        }
        Ok(out)
    }

    /// The recorded reading of a meter with sequence `seq`.
    pub fn reading(&self, meter: &DeviceId, seq: u64) -> Result<Option<IndexedReading>, IndexError> {
        let r = self.db.begin_read().map_err(dberr)?;
        let Some(row) = by_meter::Reader::new(&r)?.by_seq(meter.as_str(), seq)? else { return Ok(None) };
        indexed(&r.open_table(signed::SIGNED).map_err(dberr)?, meter, row).map(Some)
    }

    /// Block `h`, its receipts in transaction order and the `(tx index, reading index)` of every
    /// reading it recorded, in readings-tree order: what a proof of a reading in block `h` needs
    /// besides the state proofs.
    pub fn recorded_at(&self, h: u64) -> Result<RecordedBlock, IndexError> {
        let block = self.block(h)?.ok_or(IndexError::Missing(h))?;
        let alg = self.genesis.params.hash;
        let mut receipts = Vec::with_capacity(block.txs.len());
        for tx in &block.txs {
            let hash = trustmeter_crypto::tx_hash(alg, tx);
            let r = self
                .receipt(&hash)?
                .ok_or_else(|| IndexError::Corrupt(format!("block {h} is indexed without the receipt of {hash}")))?;
            receipts.push(r.receipt);
        }
        let recorded = receipts
            .iter()
            .enumerate()
            .flat_map(|(t, r)| {
                r.readings.iter().enumerate().filter(|(_, o)| o.is_recorded()).map(move |(j, _)| (t as u32, j as u32))
            })
            .collect();
        Ok((block, receipts, recorded))
    }

    /// Counts recorded readings of a block's receipts (for status displays).
    pub fn recorded_in(receipts: &[Receipt]) -> usize {
        receipts.iter().flat_map(|r| r.readings.iter()).filter(|o| o.is_recorded()).count()
    }
}

/// A by-meter row as a register point.
fn point(row: by_meter::Row) -> Result<ReadingPoint, IndexError> {
    let origin = borsh::from_slice::<ReadingOrigin>(&[row.origin])
        .map_err(|_| IndexError::Corrupt(format!("reading origin {} is not one the index writes", row.origin)))?;
    Ok(ReadingPoint {
        timestamp_ms: row.ts,
        seq: row.seq,
        value: Quantity::from_micros(row.value),
        origin,
        clock_suspect: row.suspect,
        height: row.height,
        position: row.position,
    })
}

/// The signed reading a by-meter row of `meter` points at.
fn indexed(
    t: &redb::ReadOnlyTable<signed::SignedKey<'static>, &'static [u8]>,
    meter: &DeviceId,
    row: by_meter::Row,
) -> Result<IndexedReading, IndexError> {
    let reading = signed::get(t, row.key(meter.as_str()))?;
    Ok(IndexedReading { height: row.height, position: row.position, reading })
}

/// Cuts the signed readings out of block `h`'s canonical encoding `encoded`: hands each one's
/// place (transaction, slot, byte range in `encoded`) to `slot` and returns the shell (borsh of
/// the cuts and the remaining bytes) that [`Index::raw_block`] splices them back into.
///
/// A block encodes as `header ‖ u32 count ‖ tx…` and a transaction as `body ‖ signature`, with
/// the readings the last field of the body: a `SubmitReadings` transaction's readings end where
/// its signature begins. Each reading's bytes are checked against its own encoding, so a layout
/// change fails here instead of storing wrong slices.
fn cut_readings(
    h: u64,
    block: &Block,
    encoded: &[u8],
    mut slot: impl FnMut(u32, u32, std::ops::Range<usize>) -> Result<(), IndexError>,
) -> Result<Vec<u8>, IndexError> {
    let layout = |what: &str| IndexError::Corrupt(format!("block {h}: {what}; the block layout changed"));
    let mut pos = borsh::object_length(&block.header).expect("encode") + 4;
    let mut shell = Vec::with_capacity(encoded.len() / 8);
    let mut cuts: Cuts = Vec::new();
    let mut kept_to = 0usize;
    let mut buf = Vec::new();
    for (t, tx) in block.txs.iter().enumerate() {
        let tx_len = borsh::object_length(tx).expect("encode");
        if let TxPayload::SubmitReadings { readings, .. } = &tx.body.payload
            && !readings.is_empty()
        {
            let sig_len = borsh::object_length(&tx.signature).expect("encode");
            let items_end = pos + tx_len - sig_len;
            let items_len: usize = readings.iter().map(|sr| borsh::object_length(sr).expect("encode")).sum();
            let mut at =
                items_end.checked_sub(items_len).filter(|a| *a >= kept_to).ok_or_else(|| layout("readings overlap"))?;
            shell.extend_from_slice(encoded.get(kept_to..at).ok_or_else(|| layout("a cut lies outside the block"))?);
            cuts.push((shell.len() as u64, t as u32, readings.len() as u32));
            for (j, sr) in readings.iter().enumerate() {
                buf.clear();
                BorshSerialize::serialize(sr, &mut buf).expect("encode");
                if encoded.get(at..at + buf.len()) != Some(buf.as_slice()) {
                    return Err(layout("a reading's bytes are not where the layout puts them"));
                }
                slot(t as u32, j as u32, at..at + buf.len())?;
                at += buf.len();
            }
            kept_to = items_end;
        }
        pos += tx_len;
    }
    if pos != encoded.len() {
        return Err(layout("the transactions do not end where the block does"));
    }
    shell.extend_from_slice(&encoded[kept_to..]);
    Ok(borsh::to_vec(&(cuts, shell)).expect("encode"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_meta(index: &Index, height: u64, schema: Option<u64>) {
        let w = index.db.begin_write().unwrap();
        {
            let mut meta = w.open_table(META).unwrap();
            meta.insert("height", height).unwrap();
            match schema {
                Some(v) => meta.insert("schema", v).map(|_| ()).unwrap(),
                None => meta.remove("schema").map(|_| ()).unwrap(),
            }
            let shell = borsh::to_vec(&(Cuts::new(), b"a block".to_vec())).unwrap();
            w.open_table(BLOCKS).unwrap().insert(height, shell.as_slice()).unwrap();
        }
        w.commit().unwrap();
    }

    fn has_block(index: &Index, height: u64) -> bool {
        index.db.begin_read().unwrap().open_table(BLOCKS).unwrap().get(height).unwrap().is_some()
    }

    /// Blocks `1..=5` stored as shells (header and no transactions), certificates at `certified`.
    fn chain_of_shells(index: &Index, certified: &[u64]) -> Vec<BlockHeader> {
        let chain_id = index.genesis().chain_id.clone();
        let headers: Vec<BlockHeader> = (1..=5u64)
            .map(|height| BlockHeader {
                chain_id: chain_id.clone(),
                parent: Hash32([height as u8; 32]),
                height,
                epoch: 0,
                view: height + 1,
                timestamp_ms: height as i64 * 1000,
                tx_root: Hash32::ZERO,
                readings_root: Hash32::ZERO,
                state_root: Hash32([9; 32]),
                receipts_root: Hash32::ZERO,
                tx_count: 0,
                reading_count: 0,
                readings_accepted: 0,
            })
            .collect();
        let w = index.db.begin_write().unwrap();
        {
            let mut blocks = w.open_table(BLOCKS).unwrap();
            for h in &headers {
                let block = Block { header: h.clone(), txs: Vec::new() };
                let encoded = borsh::to_vec(&block).unwrap();
                let stored = cut_readings(h.height, &block, &encoded, |_, _, _| Ok(())).unwrap();
                blocks.insert(h.height, stored.as_slice()).unwrap();
            }
            let mut fins = w.open_table(FINALIZATIONS).unwrap();
            for &c in certified {
                fins.insert(c, [c as u8; 3].as_slice()).unwrap();
            }
        }
        w.commit().unwrap();
        headers
    }

    #[test]
    fn replacements_are_read_by_range_and_limit_only() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = trustmeter_chain::devnet::Devnet::new("index-replacements", 1, 1, 1, 0, 0).genesis;
        let index = Index::open(&dir.path().join("index.redb"), genesis).unwrap();
        let (m, other) = (DeviceId::new("M-1").unwrap(), DeviceId::new("M-10").unwrap());
        let w = index.db.begin_write().unwrap();
        {
            let mut t = w.open_table(REPLACEMENTS).unwrap();
            for at in (0..20_000i64).map(|i| i * 1_000) {
                t.insert((m.as_str(), at), (at, 1, 7)).unwrap();
            }
            t.insert((other.as_str(), 5_500), (0, 0, 0)).unwrap();
        }
        w.commit().unwrap();
        let at = |v: Vec<IndexedReplacement>| v.into_iter().map(|r| r.at_ms).collect::<Vec<_>>();
        // (after, upto]: 5 000 excluded, 8 000 included; another meter's never.
        assert_eq!(at(index.replacements(&m, 5_000, 8_000, 100).unwrap()), [6_000, 7_000, 8_000]);
        assert_eq!(at(index.replacements(&m, 5_000, 8_000, 2).unwrap()), [6_000, 7_000]);
        assert!(index.replacements(&m, 8_000, 8_000, 100).unwrap().is_empty());
        assert!(index.replacements(&m, 9_000, 1_000, 100).unwrap().is_empty());
        // 20 000 recorded over the meter's life: a caller gets at most its limit.
        assert_eq!(index.replacements(&m, i64::MIN, i64::MAX, 10_001).unwrap().len(), 10_001);
        let r = index.replacements(&m, -1, 0, 5).unwrap();
        assert_eq!(
            r,
            [IndexedReplacement {
                at_ms: 0,
                old_final: Quantity::from_micros(0),
                new_initial: Quantity::from_micros(1),
                height: 7
            }]
        );
    }

    #[test]
    fn a_block_without_a_certificate_is_linked_to_the_next_certified_one() {
        let dir = tempfile::tempdir().unwrap();
        let genesis = trustmeter_chain::devnet::Devnet::new("index-descendants", 1, 1, 1, 0, 0).genesis;
        let index = Index::open(&dir.path().join("index.redb"), genesis).unwrap();
        let headers = chain_of_shells(&index, &[2, 5]);
        for h in &headers {
            assert_eq!(index.header(h.height).unwrap().as_ref(), Some(h), "header {} from its shell", h.height);
        }
        assert_eq!(index.header(6).unwrap(), None);
        // Block 3 is final through block 5: the headers of 4 and 5 and block 5's certificate.
        let (ds, fin) = index.certified_descendant(3, 256).unwrap().expect("block 5 is certified");
        assert_eq!(ds, headers[3..5].to_vec());
        assert_eq!(fin, vec![5; 3]);
        // From block 1, the nearest certified block is 2; from 2, it is 5 (its own is not a descendant).
        assert_eq!(index.certified_descendant(1, 256).unwrap().unwrap().0, headers[1..2].to_vec());
        assert_eq!(index.certified_descendant(2, 256).unwrap().unwrap().0, headers[2..5].to_vec());
        // Not within `max` heights, or nothing certified above: none.
        assert_eq!(index.certified_descendant(2, 2).unwrap(), None);
        assert_eq!(index.certified_descendant(5, 256).unwrap(), None);
        assert_eq!(index.certified_descendant(u64::MAX, 256).unwrap(), None);
    }

    #[test]
    fn an_index_of_another_layout_is_emptied_to_be_rebuilt_and_one_of_this_layout_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.redb");
        let genesis = trustmeter_chain::devnet::Devnet::new("index-schema", 1, 1, 1, 0, 0).genesis;
        // Written by version 1 (no schema entry): emptied.
        let index = Index::open(&path, genesis.clone()).unwrap();
        set_meta(&index, 7, None);
        drop(index);
        let index = Index::open(&path, genesis.clone()).unwrap();
        assert_eq!(index.height(), 0);
        assert!(!has_block(&index, 7));
        // Written by this version: kept as it is.
        set_meta(&index, 3, Some(SCHEMA_VERSION));
        drop(index);
        let index = Index::open(&path, genesis.clone()).unwrap();
        assert_eq!(index.height(), 3);
        assert!(has_block(&index, 3));
        // A newer layout (a downgrade): emptied too, never misread.
        set_meta(&index, 4, Some(SCHEMA_VERSION + 1));
        drop(index);
        let index = Index::open(&path, genesis).unwrap();
        assert_eq!(index.height(), 0);
    }
}
