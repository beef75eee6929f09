//! The gateway's local store (本地存储): every reading it produced, and each destination's
//! progress through them, in one embedded redb file.
//!
//! Readings get a gateway-wide, gap-free **id** in the order they were produced. Each destination
//! sends them in id order and keeps a durable cursor: every id at or below `settled_through` has
//! a finalized outcome on that chain (recorded, acknowledged as a duplicate, or rejected with a
//! reason). The transaction in flight (its bytes and id range) is written *before* it is sent, so
//! after a crash the same transaction is followed up or resent: resubmission is idempotent.
//!
//! Tables:
//! - `meta`: `next_id`, schema version.
//! - `readings`: id → [`StoredReading`].
//! - `by_meter`: (meter, seq) → id.
//! - `meters`: meter → [`MeterCursor`] (last sequence number, time and value; survives restarts,
//!   so sequence numbers never repeat).
//! - `destinations`: name → [`DestinationCursor`].
//! - `rejected`: (destination, id) → the chain's rejection.
//! - `verified`: destination → the genesis hash and the highest finalized height of that chain
//!   this gateway has verified a proof at ([`VerifiedMark`]; survives restarts, so a node cannot
//!   serve state proven at an older block after one).
//!
//! Nothing is deleted before every destination has settled it *and* it is older than the
//! retention period (default [`DEFAULT_RETENTION_DAYS`] days).

use borsh::{BorshDeserialize, BorshSerialize};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;
use trustmeter_types::{DeviceId, Hash32, Quantity, Rejection, SignedReading};

/// Default retention of readings on the gateway: 183 days (six months).
pub const DEFAULT_RETENTION_DAYS: u32 = 183;
/// Most readings one store query returns (the local API asks for pages of at most
/// [`MAX_PAGE_LIMIT`](crate::api::MAX_PAGE_LIMIT)).
pub const MAX_QUERY_ROWS: usize = 1_000_000;
/// Most stored readings one query examines (a page with a time filter that matches few of them
/// ends early, with a cursor to go on from).
pub const MAX_QUERY_SCAN: usize = 100_000;
/// Page cache of the store (redb's default is 1 GiB, too much for an edge device).
pub const STORE_CACHE_BYTES: usize = 32 << 20;
/// Most readings deleted per pruning pass (keeps write transactions short).
pub const MAX_PRUNE_PER_PASS: usize = 100_000;
/// Most readings [`Store::previous_sent`] looks back over (rejected ones are skipped).
pub const MAX_PREVIOUS_SCAN: usize = 128;

const SCHEMA_VERSION: u64 = 1;
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const READINGS: TableDefinition<u64, &[u8]> = TableDefinition::new("readings");
const BY_METER: TableDefinition<(&str, u64), u64> = TableDefinition::new("by_meter");
const METERS: TableDefinition<&str, &[u8]> = TableDefinition::new("meters");
const DESTINATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("destinations");
const REJECTED: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("rejected");
const VERIFIED: TableDefinition<&str, &[u8]> = TableDefinition::new("verified");

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (disk full, permissions, another process holds the file).
    #[error("gateway store {path}: {detail}")]
    Db {
        /// The file.
        path: String,
        /// What failed.
        detail: String,
    },
    /// Stored bytes do not decode: the file is damaged or from an incompatible version.
    #[error("gateway store: a stored {what} does not decode; the file is damaged or from another version")]
    Corrupt {
        /// What did not decode.
        what: &'static str,
    },
    /// The file was written by another schema version.
    #[error("gateway store schema {found} is not the supported {SCHEMA_VERSION}")]
    Schema {
        /// The version found.
        found: u64,
    },
}

/// A reading as the gateway keeps it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredReading {
    /// The signed reading, exactly as sent to every chain.
    pub signed: SignedReading,
    /// When the gateway stored it (gateway clock, Unix ms).
    pub stored_at_ms: i64,
    /// Start of the 15-minute period this reading closes, when its timestamp lies within ±1
    /// minute of a period boundary (Asia/Shanghai grid); otherwise `None` (an off-grid reading).
    pub interval_start_ms: Option<i64>,
}

/// A meter's last produced reading (for sequence numbers and plausibility checks).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MeterCursor {
    /// Last sequence number used (0: none yet).
    pub last_seq: u64,
    /// Timestamp of the last reading.
    pub last_timestamp_ms: i64,
    /// Value of the last reading.
    pub last_value: Quantity,
}

/// A transaction sent to a destination and not yet settled.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct InFlight {
    /// First reading id in the batch.
    pub first_id: u64,
    /// Last reading id in the batch (the batch is the contiguous range).
    pub last_id: u64,
    /// The transaction's hash.
    pub tx_hash: Hash32,
    /// The transaction's nonce.
    pub nonce: u64,
    /// The signed transaction's canonical bytes, resent as they are after a crash.
    pub tx_bytes: Vec<u8>,
    /// When it was first submitted (gateway clock).
    pub submitted_at_ms: i64,
}

/// One destination's durable progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DestinationCursor {
    /// Every id at or below this has a finalized outcome on the destination.
    pub settled_through: u64,
    /// The transaction in flight, if any.
    pub in_flight: Option<InFlight>,
    /// Readings the destination recorded (or acknowledged as duplicates).
    pub acknowledged: u64,
    /// Readings the destination rejected (see the `rejected` table).
    pub rejected: u64,
    /// Height of the last finalized block that settled a batch.
    pub last_height: u64,
}

/// The newest finalized block of a destination's chain this gateway verified a proof at.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct VerifiedMark {
    /// The chain's genesis hash (another genesis for the same destination name starts over at 0).
    pub genesis: Hash32,
    /// The block's height.
    pub height: u64,
}

/// One page of a query: the rows and, when more may follow, the key to continue after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryPage {
    /// `(id, reading)`, in id order (for one meter: in sequence order, which is the same).
    pub rows: Vec<(u64, StoredReading)>,
    /// The id (for one meter: the sequence number) the next page starts after; `None` when the
    /// walk is complete.
    pub next: Option<u64>,
}

/// How one reading fared on a destination, when a batch settles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Recorded or acknowledged as a duplicate.
    Acknowledged,
    /// Rejected, with the chain's reason.
    Rejected(Rejection),
}

/// A reading to store: the signed reading and its meter's new cursor.
#[derive(Clone, Debug)]
pub struct NewReading {
    /// The signed reading (its `seq` must be the meter's next).
    pub signed: SignedReading,
    /// Storage time.
    pub stored_at_ms: i64,
    /// See [`StoredReading::interval_start_ms`].
    pub interval_start_ms: Option<i64>,
}

/// The embedded store.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: String,
}

fn enc<T: BorshSerialize>(v: &T) -> Vec<u8> {
    borsh::to_vec(v).expect("borsh encoding into a Vec cannot fail")
}

fn dec<T: BorshDeserialize>(b: &[u8], what: &'static str) -> Result<T, StoreError> {
    T::try_from_slice(b).map_err(|_| StoreError::Corrupt { what })
}

impl Store {
    /// Opens (or creates) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let p = path.display().to_string();
        // redb's default page cache is 1 GiB; a gateway is an edge device whose backlog can grow
        // for days during an outage, so the cache is bounded explicitly.
        let db = redb::Builder::new()
            .set_cache_size(STORE_CACHE_BYTES)
            .create(path)
            .map_err(|e| StoreError::Db { path: p.clone(), detail: e.to_string() })?;
        let store = Store { db, path: p };
        let w = store.write()?;
        {
            let mut meta = w.open_table(META).map_err(|e| store.err(e))?;
            let found = meta.get("schema").map_err(|e| store.err(e))?.map(|v| v.value());
            match found {
                None => {
                    meta.insert("schema", SCHEMA_VERSION).map_err(|e| store.err(e))?;
                    meta.insert("next_id", 1).map_err(|e| store.err(e))?;
                }
                Some(v) if v != SCHEMA_VERSION => return Err(StoreError::Schema { found: v }),
                Some(_) => {}
            }
            w.open_table(READINGS).map_err(|e| store.err(e))?;
            w.open_table(BY_METER).map_err(|e| store.err(e))?;
            w.open_table(METERS).map_err(|e| store.err(e))?;
            w.open_table(DESTINATIONS).map_err(|e| store.err(e))?;
            w.open_table(REJECTED).map_err(|e| store.err(e))?;
            // Added without a schema change: a store from before gets the table here.
            w.open_table(VERIFIED).map_err(|e| store.err(e))?;
        }
        w.commit().map_err(|e| store.err(e))?;
        Ok(store)
    }

    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Db { path: self.path.clone(), detail: e.to_string() }
    }

    fn write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let mut w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.set_durability(Durability::Immediate).map_err(|e| self.err(e))?;
        Ok(w)
    }

    /// The id the next stored reading gets.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let meta = r.open_table(META).map_err(|e| self.err(e))?;
        Ok(meta.get("next_id").map_err(|e| self.err(e))?.map(|v| v.value()).unwrap_or(1))
    }

    /// A meter's cursor (default if it never produced a reading).
    pub fn meter_cursor(&self, meter: &DeviceId) -> Result<MeterCursor, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(METERS).map_err(|e| self.err(e))?;
        match t.get(meter.as_str()).map_err(|e| self.err(e))? {
            Some(v) => dec(v.value(), "meter cursor"),
            None => Ok(MeterCursor::default()),
        }
    }

    /// Every meter's cursor.
    pub fn meter_cursors(&self) -> Result<Vec<(String, MeterCursor)>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(METERS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            out.push((k.value().to_string(), dec(v.value(), "meter cursor")?));
        }
        Ok(out)
    }

    /// Stores readings in one durable transaction, assigning consecutive ids, and returns the
    /// ids. Each reading's `seq` must be above its meter's last one and its timestamp not before
    /// it (the caller assigns them; this is checked, and a violation is a bug).
    pub fn append(&self, readings: &[NewReading]) -> Result<Vec<u64>, StoreError> {
        let w = self.write()?;
        let mut ids = Vec::with_capacity(readings.len());
        {
            let mut meta = w.open_table(META).map_err(|e| self.err(e))?;
            let mut table = w.open_table(READINGS).map_err(|e| self.err(e))?;
            let mut by_meter = w.open_table(BY_METER).map_err(|e| self.err(e))?;
            let mut meters = w.open_table(METERS).map_err(|e| self.err(e))?;
            let mut next = meta.get("next_id").map_err(|e| self.err(e))?.map(|v| v.value()).unwrap_or(1);
            for nr in readings {
                let r = &nr.signed.reading;
                let cursor: MeterCursor = match meters.get(r.meter.as_str()).map_err(|e| self.err(e))? {
                    Some(v) => dec(v.value(), "meter cursor")?,
                    None => MeterCursor::default(),
                };
                assert!(
                    r.seq > cursor.last_seq && (cursor.last_seq == 0 || r.timestamp_ms >= cursor.last_timestamp_ms),
                    "store append out of order for meter {}: seq {} after {}",
                    r.meter,
                    r.seq,
                    cursor.last_seq
                );
                let stored = StoredReading {
                    signed: nr.signed.clone(),
                    stored_at_ms: nr.stored_at_ms,
                    interval_start_ms: nr.interval_start_ms,
                };
                table.insert(next, enc(&stored).as_slice()).map_err(|e| self.err(e))?;
                by_meter.insert((r.meter.as_str(), r.seq), next).map_err(|e| self.err(e))?;
                let c = MeterCursor { last_seq: r.seq, last_timestamp_ms: r.timestamp_ms, last_value: r.value };
                meters.insert(r.meter.as_str(), enc(&c).as_slice()).map_err(|e| self.err(e))?;
                ids.push(next);
                next += 1;
            }
            meta.insert("next_id", next).map_err(|e| self.err(e))?;
        }
        w.commit().map_err(|e| self.err(e))?;
        Ok(ids)
    }

    /// The reading with `id`, if still stored.
    pub fn get(&self, id: u64) -> Result<Option<StoredReading>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(READINGS).map_err(|e| self.err(e))?;
        match t.get(id).map_err(|e| self.err(e))? {
            Some(v) => Ok(Some(dec(v.value(), "reading")?)),
            None => Ok(None),
        }
    }

    /// Up to `max` readings with ids above `after`, in id order.
    pub fn after(&self, after: u64, max: usize) -> Result<Vec<(u64, StoredReading)>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(READINGS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in t.range(after.saturating_add(1)..).map_err(|e| self.err(e))?.take(max) {
            let (k, v) = row.map_err(|e| self.err(e))?;
            out.push((k.value(), dec(v.value(), "reading")?));
        }
        Ok(out)
    }

    /// One page of readings with timestamps in `[from_ms, to_ms)`: of one meter in sequence
    /// order, after sequence number `after` (0: from the start), or of every meter in id order,
    /// after id `after`. At most `limit` rows (capped at [`MAX_QUERY_ROWS`]), examining at most
    /// [`MAX_QUERY_SCAN`] stored readings; [`QueryPage::next`] is set when the walk stopped
    /// before the end.
    pub fn query(
        &self,
        meter: Option<&DeviceId>,
        from_ms: i64,
        to_ms: i64,
        after: u64,
        limit: usize,
    ) -> Result<QueryPage, StoreError> {
        let limit = limit.clamp(1, MAX_QUERY_ROWS);
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(READINGS).map_err(|e| self.err(e))?;
        let mut rows = Vec::new();
        let mut scanned = 0usize;
        // The key of the last row examined: the next page starts after it.
        let mut last = None;
        match meter {
            Some(m) => {
                let by = r.open_table(BY_METER).map_err(|e| self.err(e))?;
                let start = after.saturating_add(1);
                for row in by.range((m.as_str(), start)..=(m.as_str(), u64::MAX)).map_err(|e| self.err(e))? {
                    if rows.len() >= limit || scanned >= MAX_QUERY_SCAN {
                        return Ok(QueryPage { rows, next: last });
                    }
                    scanned += 1;
                    let (k, id) = row.map_err(|e| self.err(e))?;
                    let (seq, id) = (k.value().1, id.value());
                    last = Some(seq);
                    if let Some(v) = t.get(id).map_err(|e| self.err(e))? {
                        let s: StoredReading = dec(v.value(), "reading")?;
                        let ts = s.signed.reading.timestamp_ms;
                        if ts >= to_ms {
                            // A meter's readings go forward in time: nothing later matches.
                            break;
                        }
                        if ts >= from_ms {
                            rows.push((id, s));
                        }
                    }
                }
            }
            None => {
                for row in t.range(after.saturating_add(1)..).map_err(|e| self.err(e))? {
                    if rows.len() >= limit || scanned >= MAX_QUERY_SCAN {
                        return Ok(QueryPage { rows, next: last });
                    }
                    scanned += 1;
                    let (k, v) = row.map_err(|e| self.err(e))?;
                    last = Some(k.value());
                    let s: StoredReading = dec(v.value(), "reading")?;
                    let ts = s.signed.reading.timestamp_ms;
                    if ts >= from_ms && ts < to_ms {
                        rows.push((k.value(), s));
                    }
                }
            }
        }
        Ok(QueryPage { rows, next: None })
    }

    /// Whether one of the last [`MAX_PREVIOUS_SCAN`] stored readings of `meter` has exactly this
    /// timestamp and value: a value delivered again (an MQTT message redelivered after a crash, a
    /// file imported twice) that is already a reading.
    pub fn holds_recent(&self, meter: &DeviceId, timestamp_ms: i64, value: Quantity) -> Result<bool, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let by = r.open_table(BY_METER).map_err(|e| self.err(e))?;
        let readings = r.open_table(READINGS).map_err(|e| self.err(e))?;
        let range = by.range((meter.as_str(), 0)..=(meter.as_str(), u64::MAX)).map_err(|e| self.err(e))?;
        for row in range.rev().take(MAX_PREVIOUS_SCAN) {
            let (_, id) = row.map_err(|e| self.err(e))?;
            if let Some(v) = readings.get(id.value()).map_err(|e| self.err(e))? {
                let s: StoredReading = dec(v.value(), "reading")?;
                let r = &s.signed.reading;
                if r.timestamp_ms == timestamp_ms && r.value == value {
                    return Ok(true);
                }
                if r.timestamp_ms < timestamp_ms {
                    // Readings of a meter go forward in time: nothing older can match.
                    return Ok(false);
                }
            }
        }
        Ok(false)
    }

    /// Number of readings held.
    pub fn len(&self) -> Result<u64, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(READINGS).map_err(|e| self.err(e))?;
        t.len().map_err(|e| self.err(e))
    }

    /// Whether no readings are held.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// The oldest reading still held.
    pub fn oldest(&self) -> Result<Option<(u64, StoredReading)>, StoreError> {
        Ok(self.after(0, 1)?.pop())
    }

    /// A destination's cursor (default for a new destination).
    pub fn destination(&self, name: &str) -> Result<DestinationCursor, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(DESTINATIONS).map_err(|e| self.err(e))?;
        match t.get(name).map_err(|e| self.err(e))? {
            Some(v) => dec(v.value(), "destination cursor"),
            None => Ok(DestinationCursor::default()),
        }
    }

    /// Records the transaction a destination is about to send (durably, before sending).
    pub fn set_in_flight(&self, name: &str, in_flight: Option<InFlight>) -> Result<(), StoreError> {
        let w = self.write()?;
        {
            let mut t = w.open_table(DESTINATIONS).map_err(|e| self.err(e))?;
            let mut c: DestinationCursor = match t.get(name).map_err(|e| self.err(e))? {
                Some(v) => dec(v.value(), "destination cursor")?,
                None => DestinationCursor::default(),
            };
            c.in_flight = in_flight;
            t.insert(name, enc(&c).as_slice()).map_err(|e| self.err(e))?;
        }
        w.commit().map_err(|e| self.err(e))
    }

    /// Settles the in-flight batch of a destination with its finalized outcomes (one per id, in
    /// order) at `height`, in one durable transaction: rejections are kept with their reasons,
    /// the cursor moves past the batch and the in-flight record is cleared.
    pub fn settle(&self, name: &str, outcomes: &[(u64, Settlement)], height: u64) -> Result<(), StoreError> {
        let w = self.write()?;
        {
            let mut t = w.open_table(DESTINATIONS).map_err(|e| self.err(e))?;
            let mut rejected = w.open_table(REJECTED).map_err(|e| self.err(e))?;
            let mut c: DestinationCursor = match t.get(name).map_err(|e| self.err(e))? {
                Some(v) => dec(v.value(), "destination cursor")?,
                None => DestinationCursor::default(),
            };
            for (id, s) in outcomes {
                assert!(*id > c.settled_through, "settling id {id} at or below the cursor {}", c.settled_through);
                match s {
                    Settlement::Acknowledged => c.acknowledged += 1,
                    Settlement::Rejected(r) => {
                        c.rejected += 1;
                        rejected.insert((name, *id), enc(r).as_slice()).map_err(|e| self.err(e))?;
                    }
                }
                c.settled_through = *id;
            }
            c.in_flight = None;
            c.last_height = c.last_height.max(height);
            t.insert(name, enc(&c).as_slice()).map_err(|e| self.err(e))?;
        }
        w.commit().map_err(|e| self.err(e))
    }

    /// The latest reading of `meter` before sequence `before_seq` that `destination` has not
    /// rejected (ids in `skip` count as rejected too): `(timestamp, value)`, what the chain sees as
    /// the meter's previous reading when the next one arrives. Looks at most
    /// [`MAX_PREVIOUS_SCAN`] readings back; `None` if there is none (or all were pruned).
    pub fn previous_sent(
        &self,
        destination: &str,
        meter: &DeviceId,
        before_seq: u64,
        skip: &[u64],
    ) -> Result<Option<(i64, Quantity)>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let by = r.open_table(BY_METER).map_err(|e| self.err(e))?;
        let readings = r.open_table(READINGS).map_err(|e| self.err(e))?;
        let rejected = r.open_table(REJECTED).map_err(|e| self.err(e))?;
        let range = by.range((meter.as_str(), 0)..(meter.as_str(), before_seq)).map_err(|e| self.err(e))?;
        for row in range.rev().take(MAX_PREVIOUS_SCAN) {
            let (_, id) = row.map_err(|e| self.err(e))?;
            let id = id.value();
            if skip.contains(&id) || rejected.get((destination, id)).map_err(|e| self.err(e))?.is_some() {
                continue;
            }
            if let Some(v) = readings.get(id).map_err(|e| self.err(e))? {
                let s: StoredReading = dec(v.value(), "reading")?;
                return Ok(Some((s.signed.reading.timestamp_ms, s.signed.reading.value)));
            }
        }
        Ok(None)
    }

    /// A destination's rejected readings (id, rejection), oldest first, at most `limit`.
    pub fn rejected(&self, name: &str, limit: usize) -> Result<Vec<(u64, Rejection)>, StoreError> {
        self.rejected_after(name, 0, limit)
    }

    /// A destination's rejected readings (id, rejection) with ids above `after`, oldest first, at
    /// most `limit`.
    pub fn rejected_after(&self, name: &str, after: u64, limit: usize) -> Result<Vec<(u64, Rejection)>, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(REJECTED).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        let start = after.saturating_add(1);
        for row in t.range((name, start)..=(name, u64::MAX)).map_err(|e| self.err(e))?.take(limit) {
            let (k, v) = row.map_err(|e| self.err(e))?;
            out.push((k.value().1, dec(v.value(), "rejection")?));
        }
        Ok(out)
    }

    /// The highest finalized height of `name`'s chain (genesis `genesis`) a proof was verified
    /// at (0: none yet, or the destination's chain changed).
    pub fn verified_height(&self, name: &str, genesis: &Hash32) -> Result<u64, StoreError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let t = r.open_table(VERIFIED).map_err(|e| self.err(e))?;
        match t.get(name).map_err(|e| self.err(e))? {
            Some(v) => {
                let m: VerifiedMark = dec(v.value(), "verified height")?;
                Ok(if &m.genesis == genesis { m.height } else { 0 })
            }
            None => Ok(0),
        }
    }

    /// Records (durably) that a proof of `name`'s chain was verified at `height`, if that is
    /// above what is recorded; returns the highest recorded height.
    pub fn raise_verified_height(&self, name: &str, genesis: &Hash32, height: u64) -> Result<u64, StoreError> {
        let w = self.write()?;
        let highest;
        {
            let mut t = w.open_table(VERIFIED).map_err(|e| self.err(e))?;
            let old: Option<VerifiedMark> = match t.get(name).map_err(|e| self.err(e))? {
                Some(v) => Some(dec(v.value(), "verified height")?),
                None => None,
            };
            let old = old.filter(|m| &m.genesis == genesis).map_or(0, |m| m.height);
            if height <= old {
                return Ok(old);
            }
            highest = height;
            let mark = VerifiedMark { genesis: *genesis, height };
            t.insert(name, enc(&mark).as_slice()).map_err(|e| self.err(e))?;
        }
        w.commit().map_err(|e| self.err(e))?;
        Ok(highest)
    }

    /// Deletes readings that every destination in `destinations` has settled and that were
    /// stored before `older_than_ms`; at most [`MAX_PRUNE_PER_PASS`] per call. Returns how many
    /// were deleted. Rejection records of deleted readings go too.
    pub fn prune(&self, destinations: &[String], older_than_ms: i64) -> Result<usize, StoreError> {
        let mut settled = u64::MAX;
        for d in destinations {
            settled = settled.min(self.destination(d)?.settled_through);
        }
        if destinations.is_empty() {
            settled = 0;
        }
        let victims: Vec<(u64, StoredReading)> = self
            .after(0, MAX_PRUNE_PER_PASS)?
            .into_iter()
            .take_while(|(id, s)| *id <= settled && s.stored_at_ms < older_than_ms)
            .collect();
        if victims.is_empty() {
            return Ok(0);
        }
        let w = self.write()?;
        {
            let mut t = w.open_table(READINGS).map_err(|e| self.err(e))?;
            let mut by = w.open_table(BY_METER).map_err(|e| self.err(e))?;
            let mut rejected = w.open_table(REJECTED).map_err(|e| self.err(e))?;
            for (id, s) in &victims {
                t.remove(*id).map_err(|e| self.err(e))?;
                let r = &s.signed.reading;
                by.remove((r.meter.as_str(), r.seq)).map_err(|e| self.err(e))?;
                for d in destinations {
                    rejected.remove((d.as_str(), *id)).map_err(|e| self.err(e))?;
                }
            }
        }
        w.commit().map_err(|e| self.err(e))?;
        Ok(victims.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustmeter_crypto::SigningKey;
    use trustmeter_types::{Reading, ReadingOrigin, Unit};

    fn new_reading(key: &SigningKey, meter: &str, seq: u64, ts: i64) -> NewReading {
        let reading = Reading {
            meter: DeviceId::new(meter).unwrap(),
            seq,
            timestamp_ms: ts,
            value: Quantity::from_micros(seq as i64),
            unit: Unit::KilowattHour,
            origin: ReadingOrigin::Online,
            clock_suspect: false,
        };
        NewReading {
            signed: trustmeter_crypto::sign_reading(key, reading, trustmeter_types::ReadingSigner::Gateway),
            stored_at_ms: ts,
            interval_start_ms: None,
        }
    }

    #[test]
    fn the_verified_height_survives_a_restart_for_the_same_genesis_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.redb");
        let (g1, g2) = (Hash32([1; 32]), Hash32([2; 32]));
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.verified_height("prov", &g1).unwrap(), 0);
            assert_eq!(s.raise_verified_height("prov", &g1, 40).unwrap(), 40);
            assert_eq!(s.raise_verified_height("prov", &g1, 30).unwrap(), 40, "never lowered");
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.verified_height("prov", &g1).unwrap(), 40);
        assert_eq!(s.verified_height("nat", &g1).unwrap(), 0);
        // Another chain under the same destination name starts over.
        assert_eq!(s.verified_height("prov", &g2).unwrap(), 0);
        assert_eq!(s.raise_verified_height("prov", &g2, 5).unwrap(), 5);
        assert_eq!(s.verified_height("prov", &g2).unwrap(), 5);
    }

    #[test]
    fn queries_page_without_repeating_or_skipping() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("gw.redb")).unwrap();
        let key = SigningKey::ed25519_from_seed([5; 32]);
        let mut batch = Vec::new();
        for i in 1..=5u64 {
            batch.push(new_reading(&key, "M-A", i, 1_000 * i as i64));
            batch.push(new_reading(&key, "M-B", i, 1_000 * i as i64));
        }
        s.append(&batch).unwrap();
        // Every meter, in id order, two at a time.
        let (mut ids, mut after) = (Vec::new(), 0);
        loop {
            let p = s.query(None, i64::MIN, i64::MAX, after, 2).unwrap();
            assert!(p.rows.len() <= 2);
            ids.extend(p.rows.iter().map(|(id, _)| *id));
            match p.next {
                Some(n) => after = n,
                None => break,
            }
        }
        assert_eq!(ids, (1..=10).collect::<Vec<u64>>());
        // One meter, by sequence number, within a time window.
        let m = DeviceId::new("M-B").unwrap();
        let p = s.query(Some(&m), 2_000, 5_000, 0, 2).unwrap();
        let seqs = |p: &QueryPage| p.rows.iter().map(|(_, r)| r.signed.reading.seq).collect::<Vec<_>>();
        assert_eq!((seqs(&p), p.next), (vec![2, 3], Some(3)));
        let p = s.query(Some(&m), 2_000, 5_000, 3, 2).unwrap();
        assert_eq!((seqs(&p), p.next), (vec![4], None), "the walk ends at the window's end");
        // The page size is bounded whatever is asked.
        assert_eq!(s.query(None, i64::MIN, i64::MAX, 0, usize::MAX).unwrap().rows.len(), 10);
        // Rejections page by id too.
        let rej = |id| (id, Settlement::Rejected(Rejection::new(trustmeter_types::RejectCode::PolicyRejected, "no")));
        s.settle("prov", &[(1, Settlement::Acknowledged), rej(2), rej(3), rej(4)], 7).unwrap();
        let first = s.rejected("prov", 2).unwrap();
        assert_eq!(first.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 3]);
        let rest = s.rejected_after("prov", 3, 2).unwrap();
        assert_eq!(rest.iter().map(|r| r.0).collect::<Vec<_>>(), vec![4]);
    }
}
