//! Cursor pagination of the API's lists (`GET /v1/meters`, `/v1/gateways`, `/v1/organisations`,
//! `/v1/meters/{id}/readings`).
//!
//! A list answers `{ "items": [...], "next": "<cursor>" | null }`; the next page is
//! `?after=<cursor>` with the same other parameters. A cursor is opaque to clients (hex of a
//! version byte, the list it belongs to and the last key served) and names a *position in key
//! order*, not an offset: a page starts strictly after the key the previous page ended with, so
//! pages neither repeat nor skip items that existed when the walk started, whatever is written
//! meanwhile (new items after the cursor appear on later pages; items inserted before it — a late
//! reading with an older timestamp — belong to a walk started later).
//!
//! Each list goes through one helper: [`page_readings`] (a range read of the index) and, for the
//! state-backed lists, [`page_meters`], [`page_gateways`], [`page_organisations`]: today they use the state's ordered iterators (skipping to the cursor
//! walks the entries before it); the disk-backed state store will answer the same question with a
//! range read, behind the same signatures.

use crate::api::ApiError;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trustmeter_index::{Index, IndexError, IndexedReading};
use trustmeter_state::State;
use trustmeter_types::{DeviceId, Gateway, Grant, GrantScope, Meter, Organisation, UnifiedSocialCreditCode};
use utoipa::{IntoParams, ToSchema};

/// Page size of a registry list (meters, gateways, organisations) when `limit` is not given.
pub const DEFAULT_PAGE_LIMIT: usize = 100;
/// Largest page size of a registry list.
pub const MAX_PAGE_LIMIT: usize = 1_000;
/// Page size of a meter's readings when `limit` is not given.
pub const DEFAULT_READINGS_LIMIT: usize = 1_000;
/// Largest page size of a meter's readings.
pub const MAX_READINGS_LIMIT: usize = 10_000;

/// Version byte of every cursor (a format change makes old cursors fail cleanly).
const CURSOR_VERSION: u8 = 1;
/// Longest key a cursor carries (device ids are at most 64 bytes).
const MAX_CURSOR_KEY: usize = 128;

/// Which list a cursor belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ListKind {
    /// `GET /v1/meters`.
    Meters = 1,
    /// `GET /v1/gateways`.
    Gateways = 2,
    /// `GET /v1/organisations`.
    Organisations = 3,
    /// `GET /v1/meters/{id}/readings`.
    Readings = 4,
    /// `GET /v1/grants/received`.
    GrantsReceived = 5,
    /// `GET /v1/methodologies`.
    Methodologies = 6,
}

impl ListKind {
    fn name(self) -> &'static str {
        match self {
            ListKind::Meters => "/v1/meters",
            ListKind::Gateways => "/v1/gateways",
            ListKind::Organisations => "/v1/organisations",
            ListKind::Readings => "/v1/meters/{id}/readings",
            ListKind::GrantsReceived => "/v1/grants/received",
            ListKind::Methodologies => "/v1/methodologies",
        }
    }
}

/// Query parameters of a registry list.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct PageQuery {
    /// The `next` cursor of the previous page; absent for the first page.
    pub after: Option<String>,
    /// Items per page: default 100, at most 1 000.
    pub limit: Option<usize>,
}

/// Query parameters of a device list (`/v1/meters`, `/v1/gateways`).
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct DeviceListQuery {
    /// The `next` cursor of the previous page; absent for the first page.
    pub after: Option<String>,
    /// Items per page: default 100, at most 1 000.
    pub limit: Option<usize>,
    /// Only the devices of this enterprise (named under its credit code): what the enterprise,
    /// its regulators and members it granted `registry` may list; without it, the list of every
    /// device (national authorities and metrology authorities).
    pub org: Option<String>,
}

/// One page of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T, K> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// The key of the last item when more items follow it (the next page starts after it).
    pub next: Option<K>,
}

/// A page of registry records (meters, gateways or organisations, as `GET /v1/{kind}/{id}` serves
/// one): `items` and the cursor of the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordsPage<T: Serialize> {
    /// The records, in id order.
    pub items: Vec<T>,
    /// Cursor of the next page (`?after=`), `null` on the last page.
    pub next: Option<String>,
}

/// The page size asked for, checked against `max` (`default` when absent).
pub fn page_limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default),
        Some(0) => Err(ApiError::bad_request("limit must be at least 1")),
        Some(n) if n > max => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "limit_exceeded",
            format!("limit={n} is above the largest page of {max}; page through with the `next` cursor"),
        )),
        Some(n) => Ok(n),
    }
}

/// The opaque cursor of `key` in list `kind`.
pub fn encode_cursor(kind: ListKind, key: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(key.len() + 2);
    bytes.push(CURSOR_VERSION);
    bytes.push(kind as u8);
    bytes.extend_from_slice(key);
    hex::encode(bytes)
}

/// The key in a cursor of list `kind`; a clear 400 for anything else.
pub fn decode_cursor(kind: ListKind, cursor: &str) -> Result<Vec<u8>, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(format!(
            "after={cursor:?} is not a cursor of {}: {why}; pass the `next` value of the previous page unchanged",
            kind.name()
        ))
    };
    if cursor.len() > 2 * (MAX_CURSOR_KEY + 2) {
        return Err(bad("too long"));
    }
    let bytes = hex::decode(cursor).map_err(|_| bad("not hex"))?;
    match bytes.as_slice() {
        [CURSOR_VERSION, k, key @ ..] if *k == kind as u8 => Ok(key.to_vec()),
        [CURSOR_VERSION, _, ..] => Err(bad("it belongs to another list")),
        _ => Err(bad("unknown version")),
    }
}

fn text_key(kind: ListKind, cursor: &str) -> Result<String, ApiError> {
    String::from_utf8(decode_cursor(kind, cursor)?).map_err(|_| ApiError::bad_request("the cursor's key is not UTF-8"))
}

/// The device id in a meters or gateways cursor.
pub fn device_cursor(kind: ListKind, cursor: &str) -> Result<DeviceId, ApiError> {
    DeviceId::new(text_key(kind, cursor)?).map_err(|e| ApiError::bad_request(format!("cursor: {e}")))
}

/// The credit code in an organisations cursor.
pub fn organisation_cursor(cursor: &str) -> Result<UnifiedSocialCreditCode, ApiError> {
    UnifiedSocialCreditCode::new(text_key(ListKind::Organisations, cursor)?)
        .map_err(|e| ApiError::bad_request(format!("cursor: {e}")))
}

/// The `(owner, scope)` position in a received-grants cursor (the owner's code, then the scope's
/// byte).
pub fn grants_received_cursor(cursor: &str) -> Result<(UnifiedSocialCreditCode, GrantScope), ApiError> {
    let key = decode_cursor(ListKind::GrantsReceived, cursor)?;
    let (scope, owner) = key.split_last().ok_or_else(|| ApiError::bad_request("grants cursor too short"))?;
    let scope = GrantScope::ALL
        .into_iter()
        .find(|s| *s as u8 == *scope)
        .ok_or_else(|| ApiError::bad_request("grants cursor: unknown scope"))?;
    let owner = std::str::from_utf8(owner).map_err(|_| ApiError::bad_request("the cursor's key is not UTF-8"))?;
    let owner = UnifiedSocialCreditCode::new(owner).map_err(|e| ApiError::bad_request(format!("cursor: {e}")))?;
    Ok((owner, scope))
}

/// The grants made to `grantee`, a page at a time (by owner, then scope).
pub fn page_grants_received(
    state: &State,
    grantee: &UnifiedSocialCreditCode,
    after: Option<&(UnifiedSocialCreditCode, GrantScope)>,
    limit: usize,
) -> Page<(UnifiedSocialCreditCode, GrantScope, Grant), String> {
    let mut items = state.grants_received(grantee, after.map(|(o, s)| (o, *s)), limit + 1);
    let more = items.len() > limit;
    items.truncate(limit);
    let next = match (more, items.last()) {
        (true, Some((owner, scope, _))) => {
            let mut key = owner.as_str().as_bytes().to_vec();
            key.push(*scope as u8);
            Some(encode_cursor(ListKind::GrantsReceived, &key))
        }
        _ => None,
    };
    Page { items, next }
}

/// The `(timestamp, sequence)` position in a readings cursor.
pub fn readings_cursor(cursor: &str) -> Result<(i64, u64), ApiError> {
    let key = decode_cursor(ListKind::Readings, cursor)?;
    let (ts, seq) = key.split_at_checked(8).ok_or_else(|| ApiError::bad_request("readings cursor too short"))?;
    let ts = i64::from_be_bytes(ts.try_into().map_err(|_| ApiError::bad_request("readings cursor"))?);
    let seq = u64::from_be_bytes(seq.try_into().map_err(|_| ApiError::bad_request("readings cursor length"))?);
    Ok((ts, seq))
}

/// The cursor of a reading at `(timestamp, sequence)`.
pub fn readings_cursor_of(ts: i64, seq: u64) -> String {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&ts.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    encode_cursor(ListKind::Readings, &key)
}

/// A page from `limit + 1` records read in key order after the cursor: the first `limit`, and
/// the key to continue from if there were more. Reading is a range scan of the state store from
/// the cursor's key (O(limit · log n)), never a walk from the start.
fn page_of<T, K: Clone>(mut items: Vec<T>, key: impl Fn(&T) -> &K, limit: usize) -> Page<T, K> {
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|t| key(t).clone())
    } else {
        None
    };
    Page { items, next }
}

/// Registered meters after `after`, in id order, at most `limit`.
pub fn page_meters(
    state: &State,
    owner: Option<&UnifiedSocialCreditCode>,
    after: Option<&DeviceId>,
    limit: usize,
) -> Page<Meter, DeviceId> {
    page_of(state.meters_after(owner, after, limit.saturating_add(1)), |m: &Meter| &m.id, limit)
}

/// Registered gateways after `after`, in id order, at most `limit`.
pub fn page_gateways(
    state: &State,
    owner: Option<&UnifiedSocialCreditCode>,
    after: Option<&DeviceId>,
    limit: usize,
) -> Page<Gateway, DeviceId> {
    page_of(state.gateways_after(owner, after, limit.saturating_add(1)), |g: &Gateway| &g.id, limit)
}

/// Member organisations after `after`, in credit-code order, at most `limit`.
pub fn page_organisations(
    state: &State,
    after: Option<&UnifiedSocialCreditCode>,
    limit: usize,
) -> Page<Organisation, UnifiedSocialCreditCode> {
    page_of(state.organisations_after(after, limit.saturating_add(1)), |o: &Organisation| &o.id, limit)
}

/// The readings of `meter` with `from <= timestamp < to` after the `(timestamp, sequence)`
/// position `after`, in time order, at most `limit`, and the position to continue from. One
/// meter has at most one reading per instant, so the position is exact.
pub fn page_readings(
    index: &Index,
    meter: &DeviceId,
    from: i64,
    to: i64,
    after: Option<(i64, u64)>,
    limit: usize,
) -> Result<Page<IndexedReading, (i64, u64)>, IndexError> {
    let start = after.map_or(from, |(ts, _)| ts.max(from));
    let key = |r: &IndexedReading| (r.reading.reading.timestamp_ms, r.reading.reading.seq);
    // One more than a page (to know whether another follows) and one for the reading at the
    // cursor's own instant, which is skipped.
    let mut rows = index.readings(meter, start, to, limit.saturating_add(2))?;
    if let Some(a) = after {
        rows.retain(|r| key(r) > a);
    }
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(key)
    } else {
        None
    };
    Ok(Page { items: rows, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustmeter_types::{Quantity, ReadingOrigin, TxPayload};

    #[test]
    fn cursors_round_trip_and_refuse_other_lists() {
        let c = encode_cursor(ListKind::Meters, b"ABC-EM01");
        assert_eq!(decode_cursor(ListKind::Meters, &c).unwrap(), b"ABC-EM01");
        let e = decode_cursor(ListKind::Gateways, &c).unwrap_err();
        assert_eq!(e.code, "bad_request");
        assert!(e.message.contains("another list"), "{}", e.message);
        assert!(decode_cursor(ListKind::Meters, "zz").is_err());
        assert!(decode_cursor(ListKind::Meters, "").is_err());
        assert!(decode_cursor(ListKind::Meters, &"ab".repeat(200)).is_err());
        let r = readings_cursor_of(-5, u64::MAX - 1);
        assert_eq!(readings_cursor(&r).unwrap(), (-5, u64::MAX - 1));
        assert!(readings_cursor(&encode_cursor(ListKind::Readings, &[1, 2, 3])).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(page_limit(None, 100, 1_000).unwrap(), 100);
        assert_eq!(page_limit(Some(1_000), 100, 1_000).unwrap(), 1_000);
        assert_eq!(page_limit(Some(1_001), 100, 1_000).unwrap_err().code, "limit_exceeded");
        assert_eq!(page_limit(Some(0), 100, 1_000).unwrap_err().code, "bad_request");
    }

    /// What the state's range scans do: up to `n` keys after `after`, in order.
    fn scan(items: &[u32], after: Option<&u32>, n: usize) -> Vec<u32> {
        items.iter().copied().filter(|x| after.is_none_or(|a| x > a)).take(n).collect()
    }

    #[test]
    fn pages_cover_every_item_once_in_order() {
        let items: Vec<u32> = (0..23).map(|i| i * 3).collect();
        for limit in [1, 2, 5, 22, 23, 24, 100] {
            let mut seen = vec![];
            let mut after = None;
            let mut pages = 0;
            loop {
                let p = page_of(scan(&items, after.as_ref(), limit + 1), |x: &u32| x, limit);
                assert!(p.items.len() <= limit);
                seen.extend(p.items.iter().copied());
                pages += 1;
                match p.next {
                    Some(k) => {
                        assert_eq!(Some(&k), p.items.last(), "next is the last key served");
                        after = Some(k)
                    }
                    None => break,
                }
            }
            assert_eq!(seen, items, "limit {limit}");
            assert_eq!(pages, items.len().div_ceil(limit).max(1), "limit {limit}: no empty trailing page");
        }
        // A cursor between keys (an item deleted meanwhile) resumes at the next key.
        let p = page_of(scan(&items, Some(&4), 3), |x: &u32| x, 2);
        assert_eq!(p.items, vec![6, 9]);
    }

    #[test]
    fn state_pages_follow_the_registry() {
        let mut f = trustmeter_analytics::testkit::Fixture::new();
        let more = (2..=5)
            .map(|n| {
                f.ent.sign(trustmeter_types::TxPayload::RegisterMeter {
                    meter: trustmeter_analytics::testkit::meter(&f.org, n),
                })
            })
            .collect();
        f.txs(trustmeter_analytics::testkit::T0, more);
        let state = &f.st;
        let all: Vec<DeviceId> = state.meters().map(|m| m.id.clone()).collect();
        assert_eq!(all.len(), 5);
        let p1 = page_meters(state, None, None, 2);
        assert_eq!(p1.items.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), all[..2]);
        assert_eq!(p1.next.as_ref(), Some(&all[1]));
        let p2 = page_meters(state, None, p1.next.as_ref(), 3);
        assert_eq!(p2.items.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), all[2..]);
        assert_eq!(p2.next, None);
        let g = page_gateways(state, None, None, 10);
        assert_eq!(g.items.len(), state.gateways().count());
        assert_eq!(g.next, None);
        let o = page_organisations(state, None, 1);
        assert_eq!(o.items.len(), 1);
        assert_eq!(o.next.as_ref(), Some(&o.items[0].id));
        let rest = page_organisations(state, o.next.as_ref(), MAX_PAGE_LIMIT);
        assert_eq!(rest.items.len() + 1, state.organisations().count());
    }

    #[test]
    fn readings_pages_are_stable_under_concurrent_writes() {
        const Q: i64 = 15 * 60_000;
        let dir = tempfile::tempdir().unwrap();
        let mut f = trustmeter_analytics::testkit::Fixture::with_index(Some(&dir.path().join("index.redb")));
        let t0 = trustmeter_analytics::testkit::T0;
        // Readings at 0, 15, 30, 45 minutes (seq 1..=4), then a late one at 20 minutes (seq 5).
        for (i, minutes) in [0, 15, 30, 45, 20].into_iter().enumerate() {
            f.at(t0 + 3_600_000 + i as i64 * 1_000, Some((t0 + minutes * 60_000, 100.0 + i as f64)));
        }
        let index = f.index.clone().unwrap();
        let meter = f.meter.id.clone();
        let seqs =
            |p: &Page<IndexedReading, (i64, u64)>| p.items.iter().map(|r| r.reading.reading.seq).collect::<Vec<_>>();
        let all = page_readings(&index, &meter, 0, i64::MAX, None, 100).unwrap();
        assert_eq!(seqs(&all), vec![1, 2, 5, 3, 4], "time order");
        assert_eq!(all.next, None);

        let p1 = page_readings(&index, &meter, 0, i64::MAX, None, 2).unwrap();
        assert_eq!(seqs(&p1), vec![1, 2]);
        assert_eq!(p1.next, Some((t0 + Q, 2)));
        // Meanwhile: a late reading before the cursor (10 min, seq 6) and one after it (60 min, seq 7).
        f.at(t0 + 3_700_000, Some((t0 + 10 * 60_000, 200.0)));
        f.at(t0 + 3_701_000, Some((t0 + 60 * 60_000, 300.0)));
        let p2 = page_readings(&index, &meter, 0, i64::MAX, p1.next, 2).unwrap();
        assert_eq!(seqs(&p2), vec![5, 3], "the page starts strictly after the cursor");
        let p3 = page_readings(&index, &meter, 0, i64::MAX, p2.next, 2).unwrap();
        assert_eq!(seqs(&p3), vec![4, 7], "nothing repeated or skipped; the later write appears");
        assert_eq!(p3.next, None, "no empty trailing page");

        // The range bounds hold with a cursor too: [15 min, 45 min) after (15 min, seq 2).
        let r = page_readings(&index, &meter, t0 + Q, t0 + 3 * Q, Some((t0 + Q, 2)), 10).unwrap();
        assert_eq!(seqs(&r), vec![5, 3]);
        assert_eq!(r.next, None);
        // A cursor before `from` starts at `from`.
        let r = page_readings(&index, &meter, t0 + 2 * Q, i64::MAX, Some((t0, 1)), 1).unwrap();
        assert_eq!(seqs(&r), vec![3]);
        assert_eq!(r.next, Some((t0 + 2 * Q, 3)));
    }

    /// The index keeps each signed reading once, cut out of its block: the block comes back byte
    /// for byte (checked by `testkit::block_indexed` for every block), readings refused inside an
    /// accepted transaction included, and rows, points and signed readings agree.
    #[test]
    fn the_index_splices_blocks_back_from_their_shells_and_readings() {
        use trustmeter_types::{Reading, ReadingSigner, Unit};
        let dir = tempfile::tempdir().unwrap();
        let mut f = trustmeter_analytics::testkit::Fixture::with_index(Some(&dir.path().join("index.redb")));
        let t0 = trustmeter_analytics::testkit::T0;
        let index = f.index.clone().unwrap();
        let meter = f.meter.id.clone();
        let signed = |seq: u64, minutes: i64, v: i64, origin: ReadingOrigin| {
            let r = Reading {
                meter: meter.clone(),
                seq,
                timestamp_ms: t0 + minutes * 60_000,
                value: Quantity::from_micros(v),
                unit: Unit::KilowattHour,
                origin,
                clock_suspect: seq == 2,
            };
            trustmeter_crypto::sign_reading(&f.gw_key, r, ReadingSigner::Gateway)
        };
        let first = vec![
            signed(1, 0, 1_000_000, ReadingOrigin::Online),
            signed(2, 15, 2_500_000, ReadingOrigin::Manual),
            signed(2, 16, 2_600_000, ReadingOrigin::Online), // the same seq again: refused
        ];
        let second = vec![signed(3, 30, 4_000_000, ReadingOrigin::Imported)];
        let gw = f.meter.gateway.clone();
        let txs = vec![
            f.gw.sign(TxPayload::SubmitReadings { gateway: gw.clone(), readings: first.clone() }),
            f.ent.sign(TxPayload::RegisterMeter { meter: trustmeter_analytics::testkit::meter(&f.org, 2) }),
            f.gw.sign(TxPayload::SubmitReadings { gateway: gw, readings: second.clone() }),
        ];
        f.txs(t0 + 3_600_000, txs);
        let h = f.st.height;
        let (block, receipts, recorded) = index.recorded_at(h).unwrap();
        assert_eq!(block.txs.len(), 3);
        assert!(!receipts[0].readings[2].is_recorded(), "the repeated seq is refused");
        assert_eq!(recorded, vec![(0, 0), (0, 1), (2, 0)]);

        let rows = index.readings(&meter, 0, i64::MAX, 100).unwrap();
        let want = [&first[0], &first[1], &second[0]];
        assert_eq!(rows.len(), 3);
        for (i, (row, sr)) in rows.iter().zip(want).enumerate() {
            assert_eq!(&row.reading, sr, "row {i}: the signed reading, signature included");
            assert_eq!((row.height, row.position), (h, i as u32));
        }
        let points = index.points(&meter, 0, i64::MAX, 100).unwrap();
        let got: Vec<_> =
            points.iter().map(|p| (p.seq, p.timestamp_ms, p.value.micros(), p.origin, p.clock_suspect)).collect();
        assert_eq!(
            got,
            vec![
                (1, t0, 1_000_000, ReadingOrigin::Online, false),
                (2, t0 + 15 * 60_000, 2_500_000, ReadingOrigin::Manual, true),
                (3, t0 + 30 * 60_000, 4_000_000, ReadingOrigin::Imported, false),
            ]
        );
        assert_eq!(index.reading(&meter, 3).unwrap().unwrap().reading, second[0]);
        let (before, after) = index.points_around(&meter, t0 + 10 * 60_000, t0 + 20 * 60_000).unwrap();
        assert_eq!((before.unwrap().seq, after.unwrap().seq), (1, 3));
        assert!(index.points(&meter, 5, 5, 100).unwrap().is_empty());
    }

    /// A node that synced its state at some height indexes from the next one: an empty index
    /// takes a first block above height 1, and then only the next ones.
    #[test]
    fn an_empty_index_starts_at_the_first_block_it_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let mut fx = trustmeter_analytics::testkit::Fixture::new();
        let start = fx.st.height;
        let index = Index::open(
            &dir.path().join("index.redb"),
            trustmeter_chain::devnet::Devnet::new(
                "alarms-rules",
                1,
                1,
                9,
                trustmeter_analytics::testkit::T0 - 3_600_000,
                0,
            )
            .genesis,
        )
        .unwrap();
        assert!(index.is_empty().unwrap());
        fx.index = Some(index.clone());
        fx.at(trustmeter_analytics::testkit::T0, Some((trustmeter_analytics::testkit::T0 - 500, 1.0)));
        fx.at(trustmeter_analytics::testkit::T0 + 1_000, Some((trustmeter_analytics::testkit::T0 + 500, 2.0)));
        assert_eq!(index.height(), start + 2);
        assert!(index.block(start).unwrap().is_none(), "nothing before the first block given");
        assert!(index.block(start + 1).unwrap().is_some());
        assert_eq!(index.reading(&fx.meter.id, 2).unwrap().map(|r| r.height), Some(start + 2));
        // Once it holds blocks, a gap is refused.
        fx.index = None;
        fx.at(trustmeter_analytics::testkit::T0 + 2_000, None);
        fx.index = Some(index.clone());
        let before = index.height();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fx.at(trustmeter_analytics::testkit::T0 + 3_000, None)
        }));
        assert!(result.is_err(), "a gap after the first block must be refused");
        assert_eq!(index.height(), before);
    }
}
