//! The signed readings of every `SubmitReadings` transaction, stored once, keyed so that they
//! serve both blocks and queries by meter.
//!
//! `signed_readings`: (height, transaction, meter, timestamp, seq, slot) → `u32 position ‖ tail`.
//!
//! - `position` is the reading's place in its block's readings tree, or [`NOT_RECORDED`] for a
//!   reading the block refused (it is kept: [`crate::Index::raw_block`] gives the block byte for
//!   byte, refused readings included).
//! - `tail` is the reading's canonical (borsh) encoding without its first three fields — meter,
//!   seq, timestamp — which the key already holds; [`rebuild`] puts them back byte for byte.
//!
//! Why this key: a block's rows are inserted under its own height, so keys only grow and pages fill
//! in order (a page written per reading would cost 4 KiB); within a transaction a meter's rows are
//! adjacent, so a query by meter seeks once per transaction of the meter's gateways
//! ([`crate::by_meter`]); and the table is the only copy of a signed reading in the index (schema 6
//! kept a second row per reading for queries: ~80 B more per reading).

use borsh::BorshDeserialize;
use redb::{ReadableTable, TableDefinition};
use trustmeter_types::{Quantity, ReadingOrigin, SignedReading, Unit};

use crate::{IndexError, dberr};

/// A signed reading's key: (height, transaction, meter, timestamp, seq, slot in the transaction).
pub(crate) type SignedKey<'a> = (u64, u32, &'a str, i64, u64, u32);

/// The table.
pub(crate) const SIGNED: TableDefinition<SignedKey<'static>, &[u8]> = TableDefinition::new("signed_readings");

/// The position of a reading its block did not record.
pub(crate) const NOT_RECORDED: u32 = u32::MAX;

/// The bytes of a signed reading's encoding that the key does not hold: its encoding starts with
/// `u32 len ‖ meter ‖ u64 seq ‖ i64 timestamp` (borsh, little-endian). Fails if `encoded` does not
/// start so (a layout change), rather than store wrong bytes.
pub(crate) fn tail<'a>(sr: &SignedReading, encoded: &'a [u8]) -> Result<&'a [u8], IndexError> {
    let mut head = Vec::with_capacity(24 + sr.reading.meter.as_str().len());
    head_of(sr.reading.meter.as_str(), sr.reading.seq, sr.reading.timestamp_ms, &mut head);
    match encoded.strip_prefix(head.as_slice()) {
        Some(rest) => Ok(rest),
        None => Err(IndexError::Corrupt(format!(
            "reading {} #{}: its encoding does not start with meter, seq, timestamp; the layout changed",
            sr.reading.meter, sr.reading.seq
        ))),
    }
}

fn head_of(meter: &str, seq: u64, ts: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&(meter.len() as u32).to_le_bytes());
    out.extend_from_slice(meter.as_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&ts.to_le_bytes());
}

/// The stored value: `u32 position ‖ tail`.
pub(crate) fn value(position: Option<u32>, tail: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + tail.len());
    v.extend_from_slice(&position.unwrap_or(NOT_RECORDED).to_le_bytes());
    v.extend_from_slice(tail);
    v
}

/// A stored value's position (`None`: not recorded) and tail.
pub(crate) fn split<'v>(key: SignedKey<'_>, stored: &'v [u8]) -> Result<(Option<u32>, &'v [u8]), IndexError> {
    let (h, tx, meter, _, seq, slot) = key;
    let (p, rest) = stored.split_first_chunk::<4>().ok_or_else(|| {
        IndexError::Corrupt(format!("block {h} transaction {tx} slot {slot} (meter {meter} #{seq}): value too short"))
    })?;
    let p = u32::from_le_bytes(*p);
    Ok(((p != NOT_RECORDED).then_some(p), rest))
}

/// Appends the signed reading's canonical encoding, rebuilt from its key and tail.
pub(crate) fn rebuild(key: SignedKey<'_>, tail: &[u8], out: &mut Vec<u8>) {
    let (_, _, meter, ts, seq, _) = key;
    head_of(meter, seq, ts, out);
    out.extend_from_slice(tail);
}

/// The fields of a reading that queries need, read from the front of its tail: the value, the
/// origin and the clock flag (the unit between them is the meter's, checked by the chain).
pub(crate) fn fields(key: SignedKey<'_>, tail: &[u8]) -> Result<(Quantity, ReadingOrigin, bool), IndexError> {
    let mut rest = tail;
    <(Quantity, Unit, ReadingOrigin, bool)>::deserialize(&mut rest).map(|(v, _, o, s)| (v, o, s)).map_err(|e| {
        let (h, tx, meter, _, seq, slot) = key;
        IndexError::Corrupt(format!("block {h} transaction {tx} slot {slot} (meter {meter} #{seq}): {e}"))
    })
}

/// The signed reading under `key`.
pub(crate) fn get(
    t: &impl ReadableTable<SignedKey<'static>, &'static [u8]>,
    key: SignedKey<'_>,
) -> Result<SignedReading, IndexError> {
    let (h, tx, meter, _, seq, slot) = key;
    let stored = t.get(key).map_err(dberr)?.ok_or_else(|| {
        IndexError::Corrupt(format!("block {h} lacks the reading in slot {tx}/{slot} (meter {meter} #{seq})"))
    })?;
    let (_, tail) = split(key, stored.value())?;
    let mut bytes = Vec::with_capacity(24 + meter.len() + tail.len());
    rebuild(key, tail, &mut bytes);
    borsh::from_slice(&bytes).map_err(|e| IndexError::Corrupt(format!("block {h} slot {tx}/{slot}: {e}")))
}

/// The canonical encodings of transaction `tx` of block `h`'s signed readings, in slot order;
/// exactly `count` of them, or an error.
pub(crate) fn of_transaction(
    t: &impl ReadableTable<SignedKey<'static>, &'static [u8]>,
    h: u64,
    tx: u32,
    count: u32,
) -> Result<Vec<Vec<u8>>, IndexError> {
    if count as usize > trustmeter_types::limits::MAX_READINGS_PER_TX {
        return Err(IndexError::Corrupt(format!("block {h} transaction {tx}: a shell claims {count} readings")));
    }
    let mut by_slot: Vec<Option<Vec<u8>>> = vec![None; count as usize];
    for item in t.range((h, tx, "", i64::MIN, 0u64, 0u32)..).map_err(dberr)? {
        let (k, v) = item.map_err(dberr)?;
        let key = k.value();
        if (key.0, key.1) != (h, tx) {
            break;
        }
        let (_, tail) = split(key, v.value())?;
        let mut bytes = Vec::new();
        rebuild(key, tail, &mut bytes);
        match by_slot.get_mut(key.5 as usize) {
            Some(place @ None) => *place = Some(bytes),
            _ => {
                return Err(IndexError::Corrupt(format!("block {h} transaction {tx}: slot {} is out of place", key.5)));
            }
        }
    }
    by_slot
        .into_iter()
        .enumerate()
        .map(|(slot, b)| {
            b.ok_or_else(|| IndexError::Corrupt(format!("block {h} transaction {tx} lacks the reading in slot {slot}")))
        })
        .collect()
}
