//! Turning values into signed, stored readings: sequence numbers, timestamps and their flags,
//! plausibility alarms, the device signature, and one durable write per batch.
//!
//! Everything a driver, a manual entry or a file import produces goes through
//! [`Producer::produce`]; a reading exists once `produce` returned its id, and from then on it is
//! on disk and will be sent to every destination.

use crate::alarms::{AlarmKind, Severity};
use crate::status::Shared;
use crate::store::{MeterCursor, NewReading, Store, StoreError};
use crate::time::grid_boundary;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use trustmeter_crypto::{SigningKey, sign_reading};
use trustmeter_types::{DeviceId, Quantity, Reading, ReadingOrigin, ReadingSigner, RegisterKind, Unit};

/// Most values one `produce` call takes.
pub const MAX_PRODUCE_BATCH: usize = 8_192;

/// A value to turn into a reading.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The meter.
    pub meter: DeviceId,
    /// The value.
    pub value: Quantity,
    /// Its unit (must be the meter's registered unit).
    pub unit: Unit,
    /// Collection time (Unix ms).
    pub timestamp_ms: i64,
    /// How the value reached the gateway.
    pub origin: ReadingOrigin,
    /// Whether the gateway clock stamped it (only then can a clock problem make it suspect).
    pub stamped_by_gateway: bool,
    /// Index of the configured point it came from, if any.
    pub point: Option<usize>,
    /// Cumulative or instantaneous (for the "register went backwards" check).
    pub kind: RegisterKind,
    /// Plausible range, if configured.
    pub range: (Option<Quantity>, Option<Quantity>),
}

/// A value that was not turned into a reading, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Refused {
    /// The meter.
    pub meter: String,
    /// The value's timestamp.
    pub timestamp_ms: i64,
    /// Why, in words a person can act on.
    pub reason: String,
}

/// What a `produce` call did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Produced {
    /// Ids of the stored readings, in order.
    pub ids: Vec<u64>,
    /// Values identical to the meter's last reading (same time and value), skipped.
    pub duplicates: usize,
    /// Values refused.
    pub refused: Vec<Refused>,
}

/// Signs and stores readings.
pub struct Producer {
    store: Arc<Store>,
    key: SigningKey,
    shared: Arc<Mutex<Shared>>,
    cursors: HashMap<DeviceId, MeterCursor>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("meters", &self.cursors.len()).finish_non_exhaustive()
    }
}

impl Producer {
    /// A producer signing with `key`, writing to `store`.
    pub fn new(store: Arc<Store>, key: SigningKey, shared: Arc<Mutex<Shared>>) -> Result<Self, StoreError> {
        let mut cursors = HashMap::new();
        for (m, c) in store.meter_cursors()? {
            if let Ok(id) = DeviceId::new(m) {
                cursors.insert(id, c);
            }
        }
        Ok(Self { store, key, shared, cursors })
    }

    /// The signing key's public half.
    pub fn public_key(&self) -> trustmeter_types::PublicKey {
        self.key.public_key()
    }

    /// Turns `items` into signed readings and stores them in one durable write. Items of one
    /// meter must come in time order; an item older than the meter's last reading is refused
    /// (the chains would reject it), an identical repeat of the last one is skipped. `now_ms` is
    /// the gateway clock; `clock_suspect` says whether it is currently trusted.
    pub fn produce(&mut self, items: Vec<Item>, now_ms: i64, clock_suspect: bool) -> Result<Produced, StoreError> {
        assert!(items.len() <= MAX_PRODUCE_BATCH, "produce batch of {} over {MAX_PRODUCE_BATCH}", items.len());
        let mut out = Produced::default();
        let mut batch = Vec::with_capacity(items.len());
        let mut next: HashMap<DeviceId, MeterCursor> = HashMap::new();
        let mut alarms = Vec::new();
        for it in items {
            let cursor = next.get(&it.meter).or_else(|| self.cursors.get(&it.meter)).cloned().unwrap_or_default();
            if cursor.last_seq > 0 {
                if it.timestamp_ms == cursor.last_timestamp_ms && it.value == cursor.last_value {
                    out.duplicates += 1;
                    continue;
                }
                if it.timestamp_ms < cursor.last_timestamp_ms {
                    // Delivered again (an MQTT redelivery, a re-import) and already a reading, stored
                    // or earlier in this batch.
                    let in_batch = batch.iter().any(|nr: &NewReading| {
                        let r = &nr.signed.reading;
                        r.meter == it.meter && r.timestamp_ms == it.timestamp_ms && r.value == it.value
                    });
                    if in_batch || self.store.holds_recent(&it.meter, it.timestamp_ms, it.value)? {
                        out.duplicates += 1;
                        continue;
                    }
                    out.refused.push(Refused {
                        meter: it.meter.to_string(),
                        timestamp_ms: it.timestamp_ms,
                        reason: format!(
                            "value at {} is before meter {}'s last reading at {}; readings of a meter must go forward in time (import history before going live)",
                            crate::time::local_text(it.timestamp_ms),
                            it.meter,
                            crate::time::local_text(cursor.last_timestamp_ms)
                        ),
                    });
                    continue;
                }
                if it.kind.is_cumulative() && it.value < cursor.last_value {
                    alarms.push((
                        AlarmKind::RegisterDecreased,
                        Severity::Warning,
                        it.meter.to_string(),
                        format!(
                            "cumulative register of meter {} fell from {} to {}: a rollover, a reset or a replaced meter; check the meter",
                            it.meter, cursor.last_value, it.value
                        ),
                    ));
                }
            }
            let (lo, hi) = it.range;
            if lo.is_some_and(|l| it.value < l) || hi.is_some_and(|h| it.value > h) {
                alarms.push((
                    AlarmKind::OutOfRange,
                    Severity::Warning,
                    it.meter.to_string(),
                    format!(
                        "meter {} read {} {}, outside its plausible range [{}, {}]; check the meter and the point's scale",
                        it.meter,
                        it.value,
                        it.unit.symbol(),
                        lo.map(|q| q.to_string()).unwrap_or_else(|| "-".into()),
                        hi.map(|q| q.to_string()).unwrap_or_else(|| "-".into())
                    ),
                ));
            }
            let reading = Reading {
                meter: it.meter.clone(),
                seq: cursor.last_seq + 1,
                timestamp_ms: it.timestamp_ms,
                value: it.value,
                unit: it.unit,
                origin: it.origin,
                clock_suspect: it.stamped_by_gateway && clock_suspect,
            };
            let signed = sign_reading(&self.key, reading, ReadingSigner::Gateway);
            next.insert(
                it.meter.clone(),
                MeterCursor { last_seq: cursor.last_seq + 1, last_timestamp_ms: it.timestamp_ms, last_value: it.value },
            );
            batch.push(NewReading { interval_start_ms: grid_boundary(it.timestamp_ms), signed, stored_at_ms: now_ms });
        }
        if !batch.is_empty() {
            out.ids = self.store.append(&batch)?;
        }
        self.cursors.extend(next);
        if !alarms.is_empty() {
            let mut s = self.shared.lock().expect("shared lock");
            for (kind, sev, subject, msg) in alarms {
                s.alarms.raise(kind, sev, &subject, msg, now_ms);
            }
        }
        Ok(out)
    }
}
