//! Readings by meter and time: a list per day of the transactions that hold its readings, and
//! packs per meter-day.
//!
//! Why not one table keyed by (meter, time): every reading would be inserted at its meter's place,
//! and a commit rewrites each page it touches (4 KiB in redb), so with one reading per meter per
//! commit — what 15-minute meters and one commit a second give — each reading costs a page
//! (measured: 0.8–2.5 KB written per reading). Here a reading is found through rows written next
//! to rows written with it:
//!
//! 1. **Recent days.** A reading's signed bytes are in `signed_readings` ([`crate::signed`]),
//!    keyed by (height, transaction, meter, timestamp, seq, slot): keys only grow, pages fill in
//!    order. A table per UTC day of the readings' timestamps (`txs/<day>`: (gateway, height,
//!    transaction)) lists each gateway's transactions that hold readings of that day; a query for a
//!    meter's day seeks once per transaction of the meter's gateways that day.
//! 2. **Day packs**, `packs`: (meter, day) → that meter's rows of that day (value, origin, flags
//!    and where the signed reading is), sorted by (timestamp, seq). Once a day has ended and
//!    [`GRACE_MS`] of block time has passed, the day's transactions are read in list order, their
//!    rows of that day grouped by meter and merged into packs (one value per meter-day, ~45 B per
//!    reading), and the day's list is deleted. Packing goes gateway by gateway (a gateway's
//!    transactions hold all of its meters' rows, so each pack is written once) and is incremental:
//!    about [`PACK_BUDGET`] rows per indexed block, from a cursor (day, gateway, height,
//!    transaction) kept in the same transaction, so a national day (~10⁹ rows) is packed over many
//!    blocks without a pause.
//!
//! A reading whose day has no list and is past its grace (late data, e.g. a gateway back from a
//! long outage), or more than a day ahead of the block, is merged into its pack directly (read,
//! merge, write: one value per meter-day and block). `meter_gateways` records which gateways ever
//! submitted a meter's readings, so a query finds its recent rows; a query over packed days reads
//! one run of values ((meter, first day) ..= (meter, last day)).
//!
//! Every recorded reading is found in exactly one place: through its day's list, or in a pack. On
//! the day being packed, rows of transactions below the cursor (in (gateway, height, transaction)
//! order) are in packs, the others found through the list; a new row below the cursor (its gateway
//! already packed) is merged into its pack. The signed readings stay in `signed_readings` for
//! ever (blocks and proofs need them); packing only moves where queries look.

use borsh::{BorshDeserialize, BorshSerialize};
use redb::{ReadableTable, TableDefinition, TableHandle};
use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::signed::{self, SIGNED, SignedKey};
use crate::{IndexError, dberr};

/// Milliseconds in a day; days are UTC and internal to the index (queries take any range).
pub const DAY_MS: i64 = 86_400_000;
/// How long after a day's end (in block time) its recent rows are packed. Readings arriving later
/// for that day (a gateway back from a longer outage) are merged into their packs directly.
pub const GRACE_MS: i64 = 2 * 3_600_000;
/// Recent rows packed per indexed block, rounded up to whole gateways (a block holds at most
/// 32 768 readings, so packing outpaces any inflow).
pub const PACK_BUDGET: usize = 1 << 16;
/// A gateway whose day holds more than this many times [`PACK_BUDGET`] rows is packed in chunks
/// of whole transactions (its meters' packs are then merged more than once).
const GATEWAY_CHUNK: usize = 4;
/// Most packs a lookup by sequence number reads when the packs' sequence ranges are not in day
/// order (late data): ~22 years of days.
const MAX_SEQ_SCAN_PACKS: usize = 8_192;

/// Day packs: (meter, day) → [`Pack`].
pub(crate) const PACKS: TableDefinition<(&str, i64), &[u8]> = TableDefinition::new("packs");
/// (meter, gateway) → the first height at which that gateway submitted a reading of that meter.
pub(crate) const METER_GATEWAYS: TableDefinition<(&str, &str), u64> = TableDefinition::new("meter_gateways");
/// The packing cursor: "cursor" → borsh [`Cursor`], absent when no day is being packed.
pub(crate) const PACKING: TableDefinition<&str, &[u8]> = TableDefinition::new("packing");
/// How long (block time) a closed day's list, reopened by late data, collects rows before it is
/// packed: a gateway back from an outage sends its backlog over minutes, so each of its meter-days
/// is packed once, not rewritten with every block that brings it a few more rows.
pub const LATE_GRACE_MS: i64 = 3_600_000;
/// Days whose list was reopened by late data after the day closed: day → the block time of the
/// first late row.
pub(crate) const LATE_DAYS: TableDefinition<i64, i64> = TableDefinition::new("late_days");
/// A day's transaction list is named `txs/<day>`.
pub(crate) const TXS_PREFIX: &str = "txs/";
/// Schema 6 kept a table of rows per day under this prefix; deleted on open.
pub(crate) const OLD_RECENT_PREFIX: &str = "recent/";

/// (gateway, height, transaction) → ().
fn txs_def(name: &str) -> TableDefinition<'_, (&'static str, u64, u32), ()> {
    TableDefinition::new(name)
}

fn txs_name(day: i64) -> String {
    format!("{TXS_PREFIX}{day}")
}

/// The UTC day of a timestamp.
pub fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(DAY_MS)
}

/// One recorded reading, as a pack keeps it (no signature: the signed reading is in
/// `signed_readings` under [`Row::key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Row {
    pub ts: i64,
    pub seq: u64,
    pub value: i64,
    pub origin: u8,
    pub suspect: bool,
    pub height: u64,
    pub position: u32,
    pub tx: u32,
    pub slot: u32,
}

impl Row {
    /// The key of the signed reading in `signed_readings`.
    pub(crate) fn key<'a>(&self, meter: &'a str) -> SignedKey<'a> {
        (self.height, self.tx, meter, self.ts, self.seq, self.slot)
    }

    /// The row of a recorded reading in `signed_readings`.
    fn of(key: SignedKey<'_>, position: u32, tail: &[u8]) -> Result<Row, IndexError> {
        let (height, tx, _, ts, seq, slot) = key;
        let (value, origin, suspect) = signed::fields(key, tail)?;
        Ok(Row { ts, seq, value: value.micros(), origin: origin as u8, suspect, height, position, tx, slot })
    }
}

/// A meter-day's rows, encoded: `u64 min_seq ‖ u64 max_seq` (little-endian, so a lookup by
/// sequence reads 16 bytes of a pack that does not hold it), the row count, then each row as
/// varints of its differences from the row before (timestamp, seq, value, height: zigzag; the
/// origin and clock flag in one byte; position, transaction, slot as they are). ~15 B per row
/// where borsh took 46: a national index packs ~3·10¹¹ readings a year.
fn encode_pack(rows: Vec<Row>) -> Vec<u8> {
    use integer_encoding::VarInt;
    let min_seq = rows.iter().map(|r| r.seq).min().unwrap_or(0);
    let max_seq = rows.iter().map(|r| r.seq).max().unwrap_or(0);
    let mut out = Vec::with_capacity(20 + rows.len() * 16);
    out.extend_from_slice(&min_seq.to_le_bytes());
    out.extend_from_slice(&max_seq.to_le_bytes());
    fn put<T: VarInt>(out: &mut Vec<u8>, v: T) {
        let mut buf = [0u8; 10];
        let n = v.encode_var(&mut buf);
        out.extend_from_slice(&buf[..n]);
    }
    put(&mut out, rows.len() as u64);
    let mut prev = Row { ts: 0, seq: 0, value: 0, origin: 0, suspect: false, height: 0, position: 0, tx: 0, slot: 0 };
    for r in rows {
        put(&mut out, r.ts.wrapping_sub(prev.ts));
        put(&mut out, (r.seq as i64).wrapping_sub(prev.seq as i64));
        put(&mut out, r.value.wrapping_sub(prev.value));
        put(&mut out, (r.height as i64).wrapping_sub(prev.height as i64));
        out.push(r.origin | (u8::from(r.suspect) << 7));
        put(&mut out, r.position);
        put(&mut out, r.tx);
        put(&mut out, r.slot);
        prev = r;
    }
    out
}

fn decode_pack(meter: &str, day: i64, bytes: &[u8]) -> Result<Vec<Row>, IndexError> {
    use integer_encoding::VarInt;
    let bad = |what: &str| IndexError::Corrupt(format!("pack of meter {meter} day {day}: {what}"));
    let mut at = 16usize.min(bytes.len());
    fn next<T: VarInt>(bytes: &[u8], at: &mut usize) -> Option<T> {
        let (v, n) = T::decode_var(bytes.get(*at..)?)?;
        *at += n;
        Some(v)
    }
    let count: u64 = next(bytes, &mut at).ok_or_else(|| bad("no row count"))?;
    // Every row takes at least 8 bytes: a count beyond that is damage, not a reason to allocate.
    if count > (bytes.len() / 8) as u64 {
        return Err(bad("row count beyond its bytes"));
    }
    let mut rows = Vec::with_capacity(count as usize);
    let mut prev = Row { ts: 0, seq: 0, value: 0, origin: 0, suspect: false, height: 0, position: 0, tx: 0, slot: 0 };
    for _ in 0..count {
        let row = (|| {
            let ts = prev.ts.wrapping_add(next::<i64>(bytes, &mut at)?);
            let seq = (prev.seq as i64).wrapping_add(next::<i64>(bytes, &mut at)?) as u64;
            let value = prev.value.wrapping_add(next::<i64>(bytes, &mut at)?);
            let height = (prev.height as i64).wrapping_add(next::<i64>(bytes, &mut at)?) as u64;
            let flags = *bytes.get(at)?;
            at += 1;
            let position = next::<u32>(bytes, &mut at)?;
            let tx = next::<u32>(bytes, &mut at)?;
            let slot = next::<u32>(bytes, &mut at)?;
            Some(Row { ts, seq, value, origin: flags & 0x7f, suspect: flags & 0x80 != 0, height, position, tx, slot })
        })()
        .ok_or_else(|| bad("a row is cut short"))?;
        rows.push(row);
        prev = row;
    }
    if at != bytes.len() {
        return Err(bad("bytes after its last row"));
    }
    Ok(rows)
}

fn pack_seq_range(meter: &str, day: i64, bytes: &[u8]) -> Result<(u64, u64), IndexError> {
    let mut head = bytes.get(..16).ok_or_else(|| IndexError::Corrupt(format!("pack of meter {meter} day {day}")))?;
    <(u64, u64)>::deserialize(&mut head)
        .map_err(|e| IndexError::Corrupt(format!("pack of meter {meter} day {day}: {e}")))
}

/// Where packing stands: rows of `day` in transactions below (`gateway`, `height`, `tx`), in the
/// order of the day's transaction list, are in packs.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Cursor {
    pub day: i64,
    pub gateway: String,
    pub height: u64,
    pub tx: u32,
}

impl Cursor {
    /// Whether the rows of `day` in `gateway`'s transaction (`height`, `tx`) are found through the
    /// day's list (not passed by the cursor).
    fn keeps_recent(cursor: Option<&Cursor>, day: i64, gateway: &str, height: u64, tx: u32) -> bool {
        match cursor {
            Some(c) if c.day == day => (gateway, height, tx) >= (c.gateway.as_str(), c.height, c.tx),
            _ => true,
        }
    }
}

/// A signed reading to index: its gateway, meter, row (`position` unused when it was not
/// recorded), whether its block recorded it, and its tail ([`signed::tail`]).
pub(crate) struct NewRow<'a> {
    pub gateway: &'a str,
    pub meter: &'a str,
    pub row: Row,
    pub recorded: bool,
    pub tail: &'a [u8],
}

fn read_cursor(t: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Option<Cursor>, IndexError> {
    match t.get("cursor").map_err(dberr)? {
        None => Ok(None),
        Some(v) => {
            borsh::from_slice(v.value()).map(Some).map_err(|e| IndexError::Corrupt(format!("packing cursor: {e}")))
        }
    }
}

fn recent_days_of(names: impl Iterator<Item = String>) -> BTreeSet<i64> {
    names.filter_map(|n| n.strip_prefix(TXS_PREFIX).and_then(|d| d.parse().ok())).collect()
}

/// Merges `rows` into the pack of (`meter`, `day`).
fn merge_into_pack(
    packs: &mut redb::Table<(&'static str, i64), &'static [u8]>,
    meter: &str,
    day: i64,
    mut rows: Vec<Row>,
) -> Result<(), IndexError> {
    if let Some(old) = packs.get((meter, day)).map_err(dberr)? {
        rows.extend(decode_pack(meter, day, old.value())?);
    }
    rows.sort_by_key(|r| (r.ts, r.seq));
    packs.insert((meter, day), encode_pack(rows).as_slice()).map_err(dberr)?;
    Ok(())
}

/// Indexes one block's recorded readings and packs what is due, in the block's write transaction.
pub(crate) fn apply(w: &redb::WriteTransaction, block_ts: i64, rows: &[NewRow<'_>]) -> Result<(), IndexError> {
    apply_with_budget(w, block_ts, rows, PACK_BUDGET)
}

/// [`apply`] with another packing budget (tests use small ones to stop mid-day).
fn apply_with_budget(
    w: &redb::WriteTransaction,
    block_ts: i64,
    rows: &[NewRow<'_>],
    budget: usize,
) -> Result<(), IndexError> {
    let mut cursor = read_cursor(&w.open_table(PACKING).map_err(dberr)?)?;
    let mut recent_days = recent_days_of(w.list_tables().map_err(dberr)?.map(|t| t.name().to_string()));
    let block_day = day_of(block_ts);
    let open = |day: i64| day <= block_day + 1 && (day + 1).saturating_mul(DAY_MS).saturating_add(GRACE_MS) > block_ts;
    let mut late_days: BTreeMap<i64, i64> = BTreeMap::new();
    for item in w.open_table(LATE_DAYS).map_err(dberr)?.iter().map_err(dberr)? {
        let (k, v) = item.map_err(dberr)?;
        late_days.insert(k.value(), v.value());
    }
    let late_days_before = late_days.clone();
    let mut late: BTreeMap<(&str, i64), Vec<Row>> = BTreeMap::new();
    {
        let mut entries: Vec<(SignedKey<'_>, Vec<u8>)> = rows
            .iter()
            .map(|n| (n.row.key(n.meter), signed::value(n.recorded.then_some(n.row.position), n.tail)))
            .collect();
        // In key order: every key is above the table's last (the block's height is), so each
        // insert lands at the end, where redb fills a page before starting the next; out of order
        // (a transaction's readings are in the gateway's order, not the meters'), pages are split
        // in half and every byte is written about twice (measured: 338 B written per 125-byte
        // reading, 238 B in order, packing included).
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut all = w.open_table(SIGNED).map_err(dberr)?;
        for (k, v) in &entries {
            all.insert(*k, v.as_slice()).map_err(dberr)?;
        }
        let mut gateways = w.open_table(METER_GATEWAYS).map_err(dberr)?;
        let mut seen = HashSet::new();
        let mut by_day: BTreeMap<i64, Vec<&NewRow<'_>>> = BTreeMap::new();
        for n in rows.iter().filter(|n| n.recorded) {
            if seen.insert((n.meter, n.gateway)) && gateways.get((n.meter, n.gateway)).map_err(dberr)?.is_none() {
                gateways.insert((n.meter, n.gateway), n.row.height).map_err(dberr)?;
            }
            let day = day_of(n.row.ts);
            // A row goes to its day's list, new or existing, unless packing has passed its
            // gateway's place on that day (then into its pack at once: only while that day is
            // being packed). A closed day's list, reopened by late data, is packed
            // `LATE_GRACE_MS` after its first late row.
            let recent = if recent_days.contains(&day) {
                Cursor::keeps_recent(cursor.as_ref(), day, n.gateway, n.row.height, n.row.tx)
            } else {
                if !open(day) {
                    late_days.entry(day).or_insert(block_ts);
                }
                true
            };
            if recent {
                by_day.entry(day).or_default().push(n);
            } else {
                late.entry((n.meter, day)).or_default().push(n.row);
            }
        }
        for (day, day_rows) in by_day {
            let names = txs_name(day);
            let mut txs = w.open_table(txs_def(&names)).map_err(dberr)?;
            recent_days.insert(day);
            let mut last_tx = None;
            for n in day_rows {
                let r = n.row;
                if last_tx != Some((r.height, r.tx)) {
                    txs.insert((n.gateway, r.height, r.tx), ()).map_err(dberr)?;
                    last_tx = Some((r.height, r.tx));
                }
            }
        }
    }
    {
        let mut packs = w.open_table(PACKS).map_err(dberr)?;
        for ((meter, day), rows) in late {
            merge_into_pack(&mut packs, meter, day, rows)?;
        }
    }
    // Pack what is due, oldest day first, a gateway's transactions at a time (so each meter's
    // pack is written once), within the budget.
    let due = |day: i64, late_days: &BTreeMap<i64, i64>| {
        !open(day) && late_days.get(&day).is_none_or(|first| block_ts >= first.saturating_add(LATE_GRACE_MS))
    };
    let mut budget = budget;
    while budget > 0 {
        let (day, from) = match cursor.take() {
            Some(c) => (c.day, (c.gateway, c.height, c.tx)),
            None => match recent_days.iter().copied().find(|d| due(*d, &late_days)) {
                Some(d) => (d, (String::new(), 0, 0)),
                None => break,
            },
        };
        let names = txs_name(day);
        let (taken, next) = {
            let t = w.open_table(SIGNED).map_err(dberr)?;
            let txs = w.open_table(txs_def(&names)).map_err(dberr)?;
            take_rows(&txs, &t, day, (from.0.as_str(), from.1, from.2), budget)?
        };
        budget = budget.saturating_sub(taken.len().max(1));
        let mut grouped: BTreeMap<String, Vec<Row>> = BTreeMap::new();
        for (meter, row) in taken {
            grouped.entry(meter).or_default().push(row);
        }
        {
            let mut packs = w.open_table(PACKS).map_err(dberr)?;
            for (meter, rows) in grouped {
                merge_into_pack(&mut packs, &meter, day, rows)?;
            }
        }
        match next {
            Some((gateway, height, tx)) => {
                cursor = Some(Cursor { day, gateway, height, tx });
                break;
            }
            None => {
                w.delete_table(txs_def(&names)).map_err(dberr)?;
                recent_days.remove(&day);
                late_days.remove(&day);
            }
        }
    }
    if late_days != late_days_before {
        let mut t = w.open_table(LATE_DAYS).map_err(dberr)?;
        for day in late_days_before.keys().filter(|d| !late_days.contains_key(d)) {
            t.remove(day).map_err(dberr)?;
        }
        for (day, first) in late_days.iter().filter(|(d, f)| late_days_before.get(d) != Some(f)) {
            t.insert(day, first).map_err(dberr)?;
        }
    }
    let mut t = w.open_table(PACKING).map_err(dberr)?;
    match cursor {
        Some(c) => t.insert("cursor", borsh::to_vec(&c).expect("encode").as_slice()).map(|_| ()).map_err(dberr)?,
        None => t.remove("cursor").map(|_| ()).map_err(dberr)?,
    }
    Ok(())
}

/// Rows of a day taken for packing (with their meters), and the transaction to go on from.
type Taken = (Vec<(String, Row)>, Option<(String, u64, u32)>);

/// The recorded rows of `day` in the transactions of its list from (gateway, height, tx) on: whole gateways
/// until `budget` rows are reached, or, within a gateway whose day holds more than
/// [`GATEWAY_CHUNK`] × `budget` rows, whole transactions; and the transaction to go on from, if
/// any.
fn take_rows(
    txs: &impl ReadableTable<(&'static str, u64, u32), ()>,
    t: &impl ReadableTable<SignedKey<'static>, &'static [u8]>,
    day: i64,
    from: (&str, u64, u32),
    budget: usize,
) -> Result<Taken, IndexError> {
    let mut out = Vec::new();
    let mut gateway: Option<String> = None;
    for item in txs.range(from..).map_err(dberr)? {
        let (k, _) = item.map_err(dberr)?;
        let (g, height, tx) = k.value();
        let new_gateway = gateway.as_deref() != Some(g);
        if (new_gateway && out.len() >= budget) || out.len() >= budget.saturating_mul(GATEWAY_CHUNK) {
            return Ok((out, Some((g.to_string(), height, tx))));
        }
        if new_gateway {
            gateway = Some(g.to_string());
        }
        for item in t.range((height, tx, "", i64::MIN, 0u64, 0u32)..).map_err(dberr)? {
            let (k, v) = item.map_err(dberr)?;
            let key = k.value();
            if (key.0, key.1) != (height, tx) {
                break;
            }
            if day_of(key.3) != day {
                continue;
            }
            if let (Some(position), tail) = signed::split(key, v.value())? {
                out.push((key.2.to_string(), Row::of(key, position, tail)?));
            }
        }
    }
    Ok((out, None))
}

/// Read access to the by-meter tables in one read transaction.
pub(crate) struct Reader<'r> {
    r: &'r redb::ReadTransaction,
    cursor: Option<Cursor>,
    recent_days: BTreeSet<i64>,
}

/// Opens a table that may not exist yet (an index that has indexed nothing).
fn open_opt<K: redb::Key + 'static, V: redb::Value + 'static>(
    r: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, IndexError> {
    match r.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(dberr(e)),
    }
}

impl<'r> Reader<'r> {
    pub(crate) fn new(r: &'r redb::ReadTransaction) -> Result<Self, IndexError> {
        let cursor = match open_opt(r, PACKING)? {
            Some(t) => read_cursor(&t)?,
            None => None,
        };
        let recent_days = recent_days_of(r.list_tables().map_err(dberr)?.map(|t| t.name().to_string()));
        Ok(Self { r, cursor, recent_days })
    }

    fn gateways(&self, meter: &str) -> Result<Vec<String>, IndexError> {
        let Some(t) = open_opt(self.r, METER_GATEWAYS)? else { return Ok(vec![]) };
        let mut out = Vec::new();
        for item in t.range((meter, "")..).map_err(dberr)? {
            let (k, _) = item.map_err(dberr)?;
            let (m, g) = k.value();
            if m != meter {
                break;
            }
            out.push(g.to_string());
        }
        Ok(out)
    }

    /// The meter's rows of `day` found through the day's list (none if the day has none),
    /// unsorted.
    fn recent_rows(&self, meter: &str, gateways: &[String], day: i64, out: &mut Vec<Row>) -> Result<(), IndexError> {
        if !self.recent_days.contains(&day) {
            return Ok(());
        }
        let names = txs_name(day);
        let (Some(t), Some(txs)) = (open_opt(self.r, SIGNED)?, open_opt(self.r, txs_def(&names))?) else {
            return Ok(());
        };
        for g in gateways {
            // Each transaction of the gateway that day: one seek for the meter's rows in it.
            for item in txs.range((g.as_str(), 0u64, 0u32)..=(g.as_str(), u64::MAX, u32::MAX)).map_err(dberr)? {
                let (k, _) = item.map_err(dberr)?;
                let (_, height, tx) = k.value();
                if !Cursor::keeps_recent(self.cursor.as_ref(), day, g, height, tx) {
                    continue;
                }
                for item in t
                    .range(
                        (height, tx, meter, day.saturating_mul(DAY_MS), 0u64, 0u32)
                            ..=(
                                height,
                                tx,
                                meter,
                                day.saturating_mul(DAY_MS).saturating_add(DAY_MS - 1),
                                u64::MAX,
                                u32::MAX,
                            ),
                    )
                    .map_err(dberr)?
                {
                    let (k, v) = item.map_err(dberr)?;
                    let key = k.value();
                    if let (Some(position), tail) = signed::split(key, v.value())? {
                        out.push(Row::of(key, position, tail)?);
                    }
                }
            }
        }
        Ok(())
    }

    /// Every row of `meter` with a day in `first..=last`, day by day in the given direction, each
    /// day's rows sorted by (timestamp, seq); `f` returns false to stop.
    pub(crate) fn walk_days(
        &self,
        meter: &str,
        first: i64,
        last: i64,
        descending: bool,
        mut f: impl FnMut(i64, Vec<Row>) -> Result<bool, IndexError>,
    ) -> Result<(), IndexError> {
        if first > last {
            return Ok(());
        }
        let gateways = self.gateways(meter)?;
        let recent: Vec<i64> = if descending {
            self.recent_days.range(first..=last).rev().copied().collect()
        } else {
            self.recent_days.range(first..=last).copied().collect()
        };
        let packs = open_opt(self.r, PACKS)?;
        let mut pack_iter = match &packs {
            Some(t) => Some(t.range((meter, first)..=(meter, last)).map_err(dberr)?),
            None => None,
        };
        let mut next_pack = || -> Result<Option<(i64, Vec<Row>)>, IndexError> {
            let Some(it) = pack_iter.as_mut() else { return Ok(None) };
            let item = if descending { it.next_back() } else { it.next() };
            match item {
                None => Ok(None),
                Some(item) => {
                    let (k, v) = item.map_err(dberr)?;
                    let day = k.value().1;
                    Ok(Some((day, decode_pack(meter, day, v.value())?)))
                }
            }
        };
        let before = |a: i64, b: i64| if descending { a > b } else { a < b };
        let mut recent = recent.into_iter().peekable();
        let mut pack = next_pack()?;
        loop {
            let day = match (&pack, recent.peek()) {
                (None, None) => return Ok(()),
                (Some((p, _)), None) => *p,
                (None, Some(r)) => *r,
                (Some((p, _)), Some(r)) => {
                    if before(*r, *p) {
                        *r
                    } else {
                        *p
                    }
                }
            };
            let mut rows = match &pack {
                Some((p, _)) if *p == day => pack.take().map(|(_, rows)| rows).unwrap_or_default(),
                _ => Vec::new(),
            };
            if pack.is_none() {
                pack = next_pack()?;
            }
            if recent.peek() == Some(&day) {
                recent.next();
                let had = rows.len();
                self.recent_rows(meter, &gateways, day, &mut rows)?;
                if rows.len() > had {
                    rows.sort_by_key(|r| (r.ts, r.seq));
                }
            }
            if !rows.is_empty() && !f(day, rows)? {
                return Ok(());
            }
        }
    }

    /// The row of `meter` with sequence `seq`.
    pub(crate) fn by_seq(&self, meter: &str, seq: u64) -> Result<Option<Row>, IndexError> {
        // Recent days first (few), then the packs: a binary search by day on the packs' sequence
        // ranges, which follow the days except for late data; a bounded scan otherwise.
        let gateways = self.gateways(meter)?;
        for &day in self.recent_days.iter().rev() {
            let mut rows = Vec::new();
            self.recent_rows(meter, &gateways, day, &mut rows)?;
            if let Some(r) = rows.into_iter().find(|r| r.seq == seq) {
                return Ok(Some(r));
            }
        }
        let Some(t) = open_opt(self.r, PACKS)? else { return Ok(None) };
        let all = || t.range((meter, i64::MIN)..=(meter, i64::MAX)).map_err(dberr);
        let (Some(first), Some(last)) = (all()?.next(), all()?.next_back()) else { return Ok(None) };
        let (mut lo, mut hi) = (first.map_err(dberr)?.0.value().1, last.map_err(dberr)?.0.value().1);
        let find = |day: i64, bytes: &[u8]| -> Result<Option<Row>, IndexError> {
            let (min, max) = pack_seq_range(meter, day, bytes)?;
            if seq < min || seq > max {
                return Ok(None);
            }
            Ok(decode_pack(meter, day, bytes)?.into_iter().find(|r| r.seq == seq))
        };
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            let Some(item) = t.range((meter, mid)..=(meter, hi)).map_err(dberr)?.next() else {
                hi = mid - 1;
                continue;
            };
            let (k, v) = item.map_err(dberr)?;
            let day = k.value().1;
            let (min, max) = pack_seq_range(meter, day, v.value())?;
            if seq < min {
                hi = mid - 1;
            } else if seq > max {
                lo = day + 1;
            } else {
                if let Some(r) = find(day, v.value())? {
                    return Ok(Some(r));
                }
                break;
            }
        }
        for item in all()?.rev().take(MAX_SEQ_SCAN_PACKS) {
            let (k, v) = item.map_err(dberr)?;
            if let Some(r) = find(k.value().1, v.value())? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{Database, ReadableDatabase};

    /// Row counts for tests and tools: (recorded rows found through days' lists, packs).
    pub(super) fn counts(r: &redb::ReadTransaction) -> (u64, u64) {
        use redb::ReadableTableMetadata;
        let reader = Reader::new(r).unwrap();
        let t = r.open_table(SIGNED).unwrap();
        let mut recent = 0;
        for &day in &reader.recent_days {
            let txs = r.open_table(txs_def(&txs_name(day))).unwrap();
            for item in txs.iter().unwrap() {
                let (k, _) = item.unwrap();
                let (g, height, tx) = k.value();
                if !Cursor::keeps_recent(reader.cursor.as_ref(), day, g, height, tx) {
                    continue;
                }
                let taken = take_rows(&txs, &t, day, (g, height, tx), 0).unwrap();
                assert_eq!(taken.1, Some((g.to_string(), height, tx)), "a budget of 0 takes nothing");
                for item in t.range((height, tx, "", i64::MIN, 0u64, 0u32)..).unwrap() {
                    let (k, v) = item.unwrap();
                    let key = k.value();
                    if (key.0, key.1) != (height, tx) {
                        break;
                    }
                    let recorded = signed::split(key, v.value()).unwrap().0.is_some();
                    recent += u64::from(recorded && day_of(key.3) == day);
                }
            }
        }
        let packs = open_opt(r, PACKS).unwrap().map(|t| t.len().unwrap()).unwrap_or(0);
        (recent, packs)
    }

    /// A tail ([`signed::tail`]) holding a row's value, origin and flag, and a signature's worth
    /// of bytes.
    pub(super) fn tail_of(row: &Row) -> Vec<u8> {
        use trustmeter_types::{Quantity, ReadingOrigin, Unit};
        let origin = borsh::from_slice::<ReadingOrigin>(&[row.origin]).unwrap();
        let mut v =
            borsh::to_vec(&(Quantity::from_micros(row.value), Unit::KilowattHour, origin, row.suspect)).unwrap();
        v.extend_from_slice(&[1u8; 66]);
        v
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const METERS: [&str; 5] = ["M-a", "M-b", "M-c", "M-d", "M-e"];
    const GATEWAYS: [&str; 3] = ["G-1", "G-2", "G-3"];

    /// Rows of a meter in a range, from the model, in (timestamp, seq) order.
    fn expected(model: &[(String, Row)], meter: &str, from: i64, to: i64) -> Vec<Row> {
        let mut v: Vec<Row> =
            model.iter().filter(|(m, r)| m == meter && (from..to).contains(&r.ts)).map(|(_, r)| *r).collect();
        v.sort_by_key(|r| (r.ts, r.seq));
        v
    }

    fn query(db: &Database, meter: &str, from: i64, to: i64) -> Vec<Row> {
        let r = db.begin_read().unwrap();
        let reader = Reader::new(&r).unwrap();
        let mut out = Vec::new();
        reader
            .walk_days(meter, day_of(from), day_of(to - 1), false, |_, rows| {
                out.extend(rows.into_iter().filter(|x| (from..to).contains(&x.ts)));
                Ok(true)
            })
            .unwrap();
        out
    }

    /// Blocks every 10 minutes for 9 days: each of 1–3 gateways sends a transaction of its meters'
    /// readings, most a few minutes old, some late by up to 3 days (after their day was packed),
    /// some stamped days ahead; packed with a budget of `budget` rows per block. After every
    /// block, every meter's whole history, random ranges, lookups by sequence and the points
    /// around random instants agree with a plain list of what was indexed.
    fn run(seed: u64, budget: usize) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("t.redb")).unwrap();
        let mut rng = Rng(seed | 1);
        let mut model: Vec<(String, Row)> = Vec::new();
        let mut seqs = [0u64; METERS.len()];
        let start = 20_000 * DAY_MS + 3_600_000;
        let mut packed_once = false;
        for height in 1..=9 * 144u64 {
            let block_ts = start + height as i64 * 600_000;
            let mut new: Vec<(String, String, Row, bool)> = Vec::new();
            let mut position = 0u32;
            for (t, gateway) in GATEWAYS.iter().enumerate() {
                if rng.below(3) == 0 {
                    continue;
                }
                let members: Vec<usize> =
                    (0..METERS.len()).filter(|m| m % GATEWAYS.len() == t || rng.below(7) == 0).collect();
                for (slot, m) in members.into_iter().enumerate() {
                    // One in 15 is refused by its block: kept for the block's bytes, never
                    // found by a query (it repeats the meter's last sequence, as a duplicate
                    // would).
                    let recorded = rng.below(15) != 0;
                    if recorded {
                        seqs[m] += 1 + rng.below(2);
                    }
                    let ts = match rng.below(40) {
                        0 => block_ts - (rng.below(3 * DAY_MS as u64) as i64),
                        1 => block_ts + DAY_MS + rng.below(3 * DAY_MS as u64) as i64,
                        _ => block_ts - rng.below(300_000) as i64,
                    };
                    let row = Row {
                        ts,
                        seq: seqs[m],
                        value: rng.below(1 << 40) as i64,
                        origin: (rng.below(3)) as u8,
                        suspect: rng.below(10) == 0,
                        height,
                        position,
                        tx: t as u32,
                        slot: slot as u32,
                    };
                    position += u32::from(recorded);
                    new.push((gateway.to_string(), METERS[m].to_string(), row, recorded));
                }
            }
            let tails: Vec<Vec<u8>> = new.iter().map(|(_, _, row, _)| tail_of(row)).collect();
            let rows: Vec<NewRow<'_>> = new
                .iter()
                .zip(&tails)
                .map(|((g, m, row, recorded), tail)| NewRow {
                    gateway: g,
                    meter: m,
                    row: *row,
                    recorded: *recorded,
                    tail,
                })
                .collect();
            let w = db.begin_write().unwrap();
            apply_with_budget(&w, block_ts, &rows, budget).unwrap();
            w.commit().unwrap();
            model.extend(new.into_iter().filter(|n| n.3).map(|(_, m, r, _)| (m, r)));
            let (recent, packs) = counts(&db.begin_read().unwrap());
            packed_once |= packs > 0;
            assert!(recent + packs <= model.len() as u64, "every row is in one place");
            if height % 61 != 0 && height < 9 * 144 - 1 {
                continue;
            }
            for m in METERS {
                assert_eq!(
                    query(&db, m, i64::MIN / 2, i64::MAX / 2),
                    expected(&model, m, i64::MIN / 2, i64::MAX / 2),
                    "meter {m} at {height}"
                );
                let a = block_ts - rng.below(4 * DAY_MS as u64) as i64;
                let b = a + rng.below(2 * DAY_MS as u64) as i64 + 1;
                assert_eq!(query(&db, m, a, b), expected(&model, m, a, b), "meter {m} in {a}..{b} at {height}");
                let r = db.begin_read().unwrap();
                let reader = Reader::new(&r).unwrap();
                for want in expected(&model, m, i64::MIN, i64::MAX).iter().step_by(23) {
                    assert_eq!(reader.by_seq(m, want.seq).unwrap(), Some(*want), "meter {m} seq {}", want.seq);
                }
                assert_eq!(reader.by_seq(m, u64::MAX).unwrap(), None);
            }
        }
        assert!(packed_once, "days were packed");
        let r = db.begin_read().unwrap();
        let (recent, packs) = counts(&r);
        // A budget below the inflow (one group per block here) falls behind, by design of the test.
        assert!(
            budget < 7 || recent < model.len() as u64 / 4,
            "seed {seed} budget {budget}: most rows are packed: {recent} recent of {}",
            model.len()
        );
        assert!(packs > 0);
    }

    #[test]
    fn packs_round_trip_any_values_and_refuse_damage() {
        let row = |ts, seq, value, height, position, suspect| Row {
            ts,
            seq,
            value,
            origin: 2,
            suspect,
            height,
            position,
            tx: u32::MAX,
            slot: 7,
        };
        let rows = vec![
            row(i64::MIN, u64::MAX, i64::MAX, u64::MAX, u32::MAX, true),
            row(i64::MAX, 0, i64::MIN, 0, 0, false),
            row(-1, 1, 0, 1, 1, true),
            row(-1, u64::MAX - 1, -5, 2, 3, false),
        ];
        let bytes = encode_pack(rows.clone());
        assert_eq!(pack_seq_range("m", 1, &bytes).unwrap(), (0, u64::MAX));
        assert_eq!(decode_pack("m", 1, &bytes).unwrap(), rows);
        assert_eq!(decode_pack("m", 1, &encode_pack(vec![])).unwrap(), vec![]);
        // Cut short anywhere, or with bytes after the last row: refused, never a wrong pack.
        for cut in 0..bytes.len() {
            assert!(decode_pack("m", 1, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_pack("m", 1, &longer).is_err());
        // A count far beyond the bytes is refused before anything is allocated for it.
        let mut huge = bytes[..16].to_vec();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        let e = decode_pack("m", 1, &huge).unwrap_err().to_string();
        assert!(e.contains("row count beyond its bytes"), "{e}");
    }

    #[test]
    fn rows_are_found_wherever_packing_left_them() {
        for (seed, budget) in [(1, PACK_BUDGET), (2, 7), (3, 1), (4, 40)] {
            run(seed, budget);
        }
    }
}

#[cfg(test)]
mod write_cost {
    use super::*;
    use redb::{Database, ReadableDatabase};
    use trustmeter_statedb::CountingFile;

    /// 800 meters on 4 gateways, one transaction of 200 readings per gateway per block, 5 minutes
    /// of readings apart, for 2.5 days, blocks non-durable but every fifth as a node writes them;
    /// then 30 empty blocks over 5 hours. In real time a block comes 20 s after its readings'
    /// time, so two days are packed and the third is still open; as a backlog (gateways back
    /// from an outage, 4 days behind) a block comes every 5 s and every day is late, packed an
    /// hour after its first late row. Returns the bytes redb writes per reading — the signed
    /// reading, the days' lists and packing — and the signed reading's own bytes.
    fn bytes_per_reading(backlog: bool) -> (u64, u64) {
        let dir = tempfile::tempdir().unwrap();
        let file = CountingFile::open(&dir.path().join("p.redb")).unwrap();
        let c = file.counters();
        let db = Database::builder().create_with_backend(file).unwrap();
        let meters: Vec<String> = (0..800).map(|i| format!("91430000MA4L000{:05}-EM{i:05}", i % 4)).collect();
        let gws: Vec<String> = (0..4).map(|g| format!("91430000MA4L0000{g}X-GW01")).collect();
        let t0 = 20_000 * DAY_MS;
        let block_time = |h: u64, ts: i64| if backlog { t0 + 4 * DAY_MS + h as i64 * 5_000 } else { ts + 20_000 };
        let (mut n, mut signed_bytes, mut last_block) = (0u64, 0u64, 0i64);
        for (seq, h) in (1..=720u64).enumerate() {
            let ts = t0 + h as i64 * 300_000 - 20_000;
            let mut rows = Vec::new();
            for (g, gateway) in gws.iter().enumerate() {
                for s in 0..200u32 {
                    let row = Row {
                        ts,
                        seq: seq as u64 + 1,
                        value: 5,
                        origin: 0,
                        suspect: false,
                        height: h,
                        position: g as u32 * 200 + s,
                        tx: g as u32,
                        slot: s,
                    };
                    rows.push((gateway, &meters[g * 200 + s as usize], row));
                }
            }
            let mut w = db.begin_write().unwrap();
            if h % 5 != 0 {
                w.set_durability(redb::Durability::None).unwrap();
            }
            let tails: Vec<Vec<u8>> = rows.iter().map(|(_, _, row)| tests::tail_of(row)).collect();
            let new: Vec<NewRow<'_>> = rows
                .iter()
                .zip(&tails)
                .map(|((gateway, meter, row), tail)| NewRow { gateway, meter, row: *row, recorded: true, tail })
                .collect();
            last_block = block_time(h, ts);
            apply(&w, last_block, &new).unwrap();
            w.commit().unwrap();
            n += rows.len() as u64;
            signed_bytes +=
                rows.iter().zip(&tails).map(|((_, m, _), t)| (4 + m.len() + 16 + t.len()) as u64).sum::<u64>();
        }
        for k in 1..=30 {
            let w = db.begin_write().unwrap();
            apply(&w, last_block + k * 600_000, &[]).unwrap();
            w.commit().unwrap();
        }
        let (recent, packs) = tests::counts(&db.begin_read().unwrap());
        if backlog {
            assert_eq!((recent, packs), (0, 3 * 800), "three late days packed, one pack per meter-day");
        } else {
            assert_eq!(packs, 2 * 800, "two days packed, one pack per meter-day");
            assert_eq!(recent + 2 * 288 * 800, n, "the rest is recent");
        }
        let (per_reading, own) = (c.bytes() / n, signed_bytes / n);
        println!(
            "{}: signed readings and by-meter tables: {per_reading} B written per reading of {own} B \
             ({:.2}×; {n} readings, {packs} packs)",
            if backlog { "backlog" } else { "real time" },
            per_reading as f64 / own as f64
        );
        (per_reading, own)
    }

    /// Derived data must stay within 2× the block archive's bytes per reading, which hold at least
    /// the signed reading itself. One random page per reading per table, schema 4's layout, wrote
    /// 0.8–2.5 KB; schema 6 (a second row per reading for queries) ~190 B for the by-meter tables
    /// alone, and a backlog's rows were merged into their packs block by block (each pack
    /// rewritten with every row it gained).
    #[test]
    fn a_reading_costs_at_most_twice_its_own_bytes_in_real_time_and_as_a_backlog() {
        for backlog in [false, true] {
            let (per_reading, own) = bytes_per_reading(backlog);
            assert!(per_reading <= 2 * own, "backlog {backlog}: {per_reading} B written per reading of {own} B");
        }
    }
}
